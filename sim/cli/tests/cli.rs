//! The command line as a user meets it: `--plugin` overrides, their errors and exit codes, and
//! the on-disk compile cache with its switches.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn topology(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../topologies")
        .join(name)
}

/// `pxelab ARGS` with the compile cache in `cache_dir` (or switched off).
fn pxelab(args: &[&str], cache_dir: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pxelab"));
    command.args(args).env_remove("RUST_LOG");
    match cache_dir {
        Some(dir) => command
            .env("PXELAB_CACHE_DIR", dir)
            .env_remove("PXELAB_CACHE"),
        None => command.env("PXELAB_CACHE", "off"),
    };
    command.output().expect("pxelab runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pxelab-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn plugin_overrides_swap_a_servers_plugin_for_run_and_sweep() {
    let kb = topology("kb2510665.yaml");
    let kb = kb.to_str().unwrap();
    let plain = pxelab(&["run", kb, "--seed", "0", "--json"], None);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    assert!(text(&plain.stdout).contains("\"crashes\":[{"));

    let fixed = pxelab(
        &[
            "run",
            kb,
            "--seed",
            "0",
            "--json",
            "--plugin",
            "wds=wds-fixed",
        ],
        None,
    );
    assert!(fixed.status.success(), "{}", text(&fixed.stderr));
    let stdout = text(&fixed.stdout);
    assert!(stdout.contains("\"crashes\":[]"), "{stdout}");
    assert!(stdout.contains("--plugin wds=wds-fixed"), "{stdout}");

    let sweep = pxelab(
        &[
            "sweep",
            kb,
            "--seeds",
            "0..20",
            "--plugin",
            "wds=wds-fixed",
            "--json",
        ],
        None,
    );
    assert!(sweep.status.success(), "{}", text(&sweep.stderr));
    assert!(text(&sweep.stdout).contains("\"crashed_runs\":0"));
}

#[test]
fn a_bad_plugin_override_is_bad_input() {
    let kb = topology("kb2510665.yaml");
    let kb = kb.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["run", kb, "--plugin", "wsd=wds-fixed"],
            "server nodes: dhcp, wds",
        ),
        (
            vec!["sweep", kb, "--seeds", "0..2", "--plugin", "r1=wds-fixed"],
            "there is no server node `r1`",
        ),
        (
            vec!["run", kb, "--plugin", "wds=wds-fxed"],
            "unknown plugin `wds-fxed`",
        ),
        (vec!["run", kb, "--plugin", "wds"], "NODE=PLUGIN"),
        (
            vec!["run", kb, "--plugin", "wds=no/such/plugin.wasm"],
            "cannot read plugin",
        ),
    ] {
        let output = pxelab(&args, None);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_compile_cache_is_written_once_and_can_be_switched_off() {
    let kb = topology("kb2510665.yaml");
    let kb = kb.to_str().unwrap();
    let dir = scratch("cache");
    let entries = || {
        std::fs::read_dir(&dir)
            .map(|entries| entries.count())
            .unwrap_or(0)
    };
    let args = ["run", kb, "--seed", "3", "--json"];

    let cold = pxelab(&args, Some(&dir));
    assert!(cold.status.success(), "{}", text(&cold.stderr));
    // kb2510665 runs two plugins: dhcp-server and wds-sccm2007.
    assert_eq!(entries(), 2);
    let warm = pxelab(&["-v", "run", kb, "--seed", "3", "--json"], Some(&dir));
    assert!(warm.status.success(), "{}", text(&warm.stderr));
    assert_eq!(entries(), 2);
    assert_eq!(warm.stdout, cold.stdout, "a cached plugin runs the same");
    assert_eq!(
        text(&warm.stderr).matches("loaded_from_cache=true").count(),
        2,
        "{}",
        text(&warm.stderr)
    );

    let other = scratch("no-cache");
    let mut args = vec!["--no-cache"];
    args.extend(["run", kb, "--seed", "3", "--json"]);
    let off = pxelab(&args, Some(&other));
    assert!(off.status.success(), "{}", text(&off.stderr));
    assert_eq!(off.stdout, cold.stdout);
    assert!(!other.exists(), "--no-cache writes nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_validates_topologies_without_running_them() {
    let good = topology("kb2510665.yaml");
    let out = pxelab(&["check", good.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ok "),
        "{}",
        text(&out.stdout)
    );

    // A value only the plugin can judge is caught too, located on its line.
    let dir = scratch("check");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    let source = std::fs::read_to_string(&good).unwrap();
    std::fs::write(&bad, source.replace("threads: 4 ", "threads: lots ")).unwrap();
    let out = pxelab(
        &["check", good.to_str().unwrap(), bad.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ok "), "{stdout}");
    assert!(
        stdout.contains("bad.yaml:") && stdout.contains("config `threads`"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("1 of 2 topologies have errors"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_reports_the_crash_rate_with_its_confidence_interval() {
    let file = topology("kb2510665.yaml");
    let out = pxelab(
        &[
            "sweep",
            file.to_str().unwrap(),
            "--seeds",
            "0..40",
            "--jobs",
            "2",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(95% CI "), "{stdout}");
    let out = pxelab(
        &[
            "sweep",
            file.to_str().unwrap(),
            "--seeds",
            "0..40",
            "--json",
            "--jobs",
            "1",
        ],
        None,
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rate = value["crash_rate"].as_f64().unwrap();
    let ci = value["crash_rate_ci95"].as_array().unwrap();
    let (low, high) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(low <= rate && rate <= high && 0.0 <= low && high <= 1.0);
}

#[test]
fn sweep_json_is_the_same_for_any_jobs_and_shards_merge_into_the_whole_sweep() {
    let file = topology("kb2510665.yaml");
    let file = file.to_str().unwrap();
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", file, "--seeds", "0..24", "--json"];
        args.extend_from_slice(extra);
        let out = pxelab(&args, None);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let whole = sweep(&["--jobs", "1"]);
    assert_eq!(
        sweep(&["--jobs", "2"]),
        whole,
        "the thread count changes nothing"
    );

    let dir = scratch("shards");
    std::fs::create_dir_all(&dir).unwrap();
    let mut shard_files = Vec::new();
    for k in 1..=3 {
        let path = dir.join(format!("shard-{k}.json"));
        std::fs::write(&path, sweep(&["--shard", &format!("{k}/3"), "--jobs", "2"])).unwrap();
        shard_files.push(path.to_str().unwrap().to_string());
    }
    let mut args = vec!["merge"];
    args.extend(shard_files.iter().map(String::as_str).rev());
    let out = pxelab(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        whole,
        "merged shards equal the whole sweep"
    );

    let out = pxelab(&["merge", &shard_files[0], &shard_files[2]], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing shard(s): 2/3"),
        "{}",
        text(&out.stderr)
    );
    let out = pxelab(&["merge", &shard_files[0], &shard_files[0]], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("given twice"));
    let out = pxelab(&["sweep", file, "--seeds", "0..9", "--shard", "4/3"], None);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
