//! The command line as a user meets it: `--plugin` overrides, their errors and exit codes, and
//! the on-disk compile cache with its switches.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn topology(name: &str) -> PathBuf {
    crate::common::topology_path(name)
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

/// Asserts that `out` exited with `code` and said `expected` on stderr.
#[track_caller]
fn assert_exit(out: &Output, code: i32, expected: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pxelab-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn plugin_overrides_swap_a_servers_plugin_for_run_and_sweep() {
    let kb = topology("kb2510665.yaml");
    let kb = kb.to_str().unwrap();
    let plain = pxelab(&["run", kb, "--seed", "0", "--json"], None);
    // Seed 0 crashes WDS: the default expectations fail, so the exit code is 1.
    assert_eq!(plain.status.code(), Some(1), "{}", text(&plain.stderr));
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
    let args = ["run", kb, "--seed", "7", "--json"];

    let cold = pxelab(&args, Some(&dir));
    assert!(cold.status.success(), "{}", text(&cold.stderr));
    // kb2510665 runs two plugins: dhcp-server and wds-sccm2007.
    assert_eq!(entries(), 2);
    let warm = pxelab(&["-v", "run", kb, "--seed", "7", "--json"], Some(&dir));
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
    args.extend(["run", kb, "--seed", "7", "--json"]);
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
    // The baseline crashes in about half the seeds: the default expectations fail.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(95% CI "), "{stdout}");
    assert!(stdout.contains("first crash    median "), "{stdout}");
    assert!(stdout.contains("expect    FAILED every run"), "{stdout}");
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
        // A whole sweep of the baseline fails its expectations (1); a shard leaves the verdict
        // to `merge` (0).
        let expected = if extra.contains(&"--shard") { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(expected), "{}", text(&out.stderr));
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
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        whole,
        "merged shards equal the whole sweep"
    );

    let out = pxelab(&["merge", &shard_files[0], &shard_files[2]], None);
    assert_exit(&out, 2, "missing shard(s): 2/3");
    let out = pxelab(&["merge", &shard_files[0], &shard_files[0]], None);
    assert_exit(&out, 2, "given twice");
    let out = pxelab(&["sweep", file, "--seeds", "0..9", "--shard", "4/3"], None);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A copy of a shipped topology in `dir` with `expect` appended (plugin paths in shipped
/// topologies are built-in names, so the copy runs anywhere).
fn with_expect(dir: &Path, name: &str, expect: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let source = std::fs::read_to_string(topology(name)).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{source}\nexpect:\n{expect}")).unwrap();
    path
}

#[test]
fn exit_codes_follow_the_expectations_and_junit_and_json_files_report_them() {
    let kb = topology("kb2510665.yaml");
    let kb = kb.to_str().unwrap();
    let dir = scratch("expect");
    std::fs::create_dir_all(&dir).unwrap();

    // Seed 7 boots every client; seed 0 crashes WDS.
    let good = pxelab(&["run", kb, "--seed", "7"], None);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stderr));
    assert!(text(&good.stdout).contains("expect    ok     no service crashes"));
    let junit = dir.join("run.xml");
    let json = dir.join("run.json");
    let bad = pxelab(
        &[
            "run",
            kb,
            "--seed",
            "0",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    // With `--json FILE` the person still gets the human report.
    assert!(text(&bad.stdout).contains("expect    FAILED no service crashes"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites tests=\"2\" failures=\"2\">"),
        "{xml}"
    );
    assert!(xml.contains("name=\"no service crashes\""), "{xml}");
    assert!(
        xml.contains("<failure message=\"5 crash(es), the first of wds at 466.960 ms\">"),
        "{xml}"
    );
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(value["passed"], false);
    assert_eq!(value["seed"], 0);

    // A rate expectation turns the same sweep green or red.
    let lenient = with_expect(
        &dir.join("lenient"),
        "kb2510665.yaml",
        "  every_client_boots: false\n  no_crashes: false\n  crash_rate_below: 0.9\n",
    );
    let strict = with_expect(
        &dir.join("strict"),
        "kb2510665.yaml",
        "  boot_within: 30s\n  failure_rate_below: 0.05\n",
    );
    let sweep_junit = dir.join("sweep.xml");
    let out = pxelab(
        &[
            "sweep",
            lenient.to_str().unwrap(),
            "--seeds",
            "0..12",
            "--junit",
            sweep_junit.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("expect    ok     crash rate below 90.0%"));
    let xml = std::fs::read_to_string(&sweep_junit).unwrap();
    assert!(
        xml.contains("failures=\"0\"") && xml.contains("crash rate below 90.0%"),
        "{xml}"
    );
    let out = pxelab(
        &[
            "sweep",
            strict.to_str().unwrap(),
            "--seeds",
            "0..12",
            "--json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["passed"], false);
    let check = &value["checks"][0];
    assert_eq!(
        check["name"],
        "failure rate below 5.0% (every client boots, every client boots within 30.000 s, no service crashes)"
    );

    // A bad expectation is bad input, located.
    let wrong = with_expect(
        &dir.join("wrong"),
        "kb2510665.yaml",
        "  crash_rate_below: 5\n",
    );
    let out = pxelab(&["check", wrong.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("kb2510665.yaml:") && stdout.contains("0.05 is 5%"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_record_replays_and_a_tampered_one_is_caught() {
    let kb = topology("kb2510665.yaml");
    let kb = kb.to_str().unwrap();
    let dir = scratch("record");
    let record = dir.join("seed-0");
    let out = pxelab(
        &["run", kb, "--seed", "0", "--out", record.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    for file in [
        "manifest.json",
        "topology.yaml",
        "events.jsonl",
        "capture.pcapng",
    ] {
        assert!(record.join(file).is_file(), "{file} missing");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["seed"], 0);
    assert_eq!(manifest["plugins"].as_array().unwrap().len(), 2);
    assert_eq!(manifest["plugins"][0]["sha256"].as_str().unwrap().len(), 64);

    let replay = |dir: &Path| pxelab(&["replay", dir.to_str().unwrap()], None);
    let out = replay(&record);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("replay    ok"));

    // Another seed in the manifest: a different run, and where it parts ways.
    let other_seed = dir.join("other-seed");
    copy_folder(&record, &other_seed);
    let manifest_text = std::fs::read_to_string(other_seed.join("manifest.json")).unwrap();
    std::fs::write(
        other_seed.join("manifest.json"),
        manifest_text.replace("\"seed\": 0", "\"seed\": 1"),
    )
    .unwrap();
    let out = replay(&other_seed);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("DIFFERENT RUN") && stdout.contains("first divergent event #"),
        "{stdout}"
    );

    // An edited event: the run is the same, the record is not.
    let edited = dir.join("edited");
    copy_folder(&record, &edited);
    let events = std::fs::read_to_string(edited.join("events.jsonl")).unwrap();
    let mut lines: Vec<String> = events.lines().map(str::to_string).collect();
    let mut value: serde_json::Value = serde_json::from_str(&lines[40]).unwrap();
    value["fingerprint"] = serde_json::json!("0".repeat(64));
    lines[40] = value.to_string();
    std::fs::write(edited.join("events.jsonl"), lines.join("\n")).unwrap();
    let out = replay(&edited);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("events were altered") && stdout.contains("first divergent event #40:"),
        "{stdout}"
    );

    // Not a record at all.
    let out = replay(&dir);
    assert_exit(&out, 2, "pxelab run --out");
    let _ = std::fs::remove_dir_all(&dir);
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn an_interrupted_sweep_resumes_from_its_checkpoint_to_the_same_result() {
    let kb = topology("kb2510665.yaml");
    let kb = kb.to_str().unwrap();
    let dir = scratch("resume");
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("sweep.checkpoint");
    let checkpoint = checkpoint.to_str().unwrap();
    let whole = pxelab(&["sweep", kb, "--seeds", "0..40", "--json"], None);
    assert_eq!(whole.status.code(), Some(1));

    // Ctrl-C part-way: exit 130, a partial report, no result file, a checkpoint.
    let json = dir.join("sweep.json");
    let child = Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args([
            "sweep",
            kb,
            "--seeds",
            "0..40",
            "--jobs",
            "1",
            "--checkpoint",
            checkpoint,
        ])
        .args(["--json", json.to_str().unwrap()])
        .env("PXELAB_CACHE", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = || {
        std::fs::read_to_string(checkpoint)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    };
    let waited = std::time::Instant::now();
    while lines() < 4 && waited.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("interrupted after") && stdout.contains("--resume"),
        "{stdout}"
    );
    assert!(!json.exists(), "an interrupted sweep writes no result file");
    let done = lines() - 1;
    assert!((3..40).contains(&done), "{done} seeds in the checkpoint");

    // A kill can cut the last line short: it is redone, not trusted.
    let mut text_now = std::fs::read_to_string(checkpoint).unwrap();
    text_now.push_str("{\"seed\": 39, \"dig");
    std::fs::write(checkpoint, text_now).unwrap();
    let resumed = pxelab(
        &[
            "sweep",
            kb,
            "--seeds",
            "0..40",
            "--json",
            "--checkpoint",
            checkpoint,
            "--resume",
        ],
        None,
    );
    assert_eq!(resumed.status.code(), Some(1), "{}", text(&resumed.stderr));
    assert_eq!(
        text(&resumed.stdout),
        text(&whole.stdout),
        "resumed = uninterrupted"
    );

    // The checkpoint of another sweep is refused.
    let other = pxelab(
        &[
            "sweep",
            kb,
            "--seeds",
            "0..41",
            "--checkpoint",
            checkpoint,
            "--resume",
        ],
        None,
    );
    assert_exit(&other, 2, "differs in: seeds");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_determinism_runs_every_seed_twice_and_finds_no_divergence() {
    let kb = topology("kb2510665.yaml");
    let kb = kb.to_str().unwrap();
    let plain = pxelab(&["sweep", kb, "--seeds", "0..10", "--json"], None);
    let checked = pxelab(
        &[
            "sweep",
            kb,
            "--seeds",
            "0..10",
            "--json",
            "--check-determinism",
            "--jobs",
            "2",
        ],
        None,
    );
    assert_eq!(checked.status.code(), plain.status.code());
    let stdout = text(&checked.stdout);
    assert!(!stdout.contains("nondeterministic"), "{stdout}");
    assert_eq!(stdout, text(&plain.stdout));
}

#[test]
fn compare_puts_variants_side_by_side() {
    let baseline = topology("kb2510665.yaml");
    let fixed = topology("kb2510665-fixed.yaml");
    let out = pxelab(
        &[
            "compare",
            baseline.to_str().unwrap(),
            fixed.to_str().unwrap(),
            "--seeds",
            "0..16",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("| kb"))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(
        rows[0].starts_with("| kb2510665 ") && !rows[0].contains("| 0.0% ("),
        "{stdout}"
    );
    assert!(
        rows[1].starts_with("| kb2510665-fixed ") && rows[1].contains("| 0.0% ("),
        "{stdout}"
    );

    let out = pxelab(
        &[
            "compare",
            baseline.to_str().unwrap(),
            "--seeds",
            "0..8",
            "--json",
        ],
        None,
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let variant = &value["variants"][0];
    // Both routers relay every DISCOVER and REQUEST: the server sees duplicates in every run.
    assert!(
        variant["duplicates_per_run"].as_f64().unwrap() >= 2.0,
        "{value}"
    );
    assert_eq!(variant["runs"], 8);
}

#[test]
fn schema_describes_every_key_the_shipped_topologies_use() {
    let out = pxelab(&["schema"], None);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        schema["$schema"]
            .as_str()
            .unwrap()
            .contains("json-schema.org")
    );
    let properties = schema["properties"].as_object().unwrap();
    for key in [
        "name", "lans", "routers", "servers", "clients", "faults", "expect", "limits",
    ] {
        assert!(properties.contains_key(key), "{key}");
    }
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown keys are errors"
    );
    let defs = schema["$defs"].as_object().unwrap();
    let interface = defs["InterfaceSpec"]["properties"].as_object().unwrap();
    assert!(interface.contains_key("helpers_follow_redundancy"));
    assert!(
        defs["RouterSpec"]["properties"]["relay_delay"]["description"]
            .as_str()
            .unwrap()
            .contains("distribution")
    );
}

#[test]
fn shrink_keeps_only_the_timing_deviations_a_failure_needs() {
    let slow = topology("kb2510665-slow-standby.yaml");
    let slow = slow.to_str().unwrap();
    let dir = scratch("shrink");
    let record = dir.join("seed-18");
    let out = pxelab(
        &[
            "shrink",
            slow,
            "--seed",
            "18",
            "--out",
            record.to_str().unwrap(),
        ],
        None,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    // "shrunk    1836 timing deviations from nominal down to 1 in 16 runs"
    let line = stdout.lines().find(|l| l.starts_with("shrunk ")).unwrap();
    let numbers: Vec<usize> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let (before, after) = (numbers[0], numbers[1]);
    assert!(after >= 1 && after < before, "{line}");
    assert!(stdout.contains("the duplicate DISCOVER"), "{stdout}");
    let schedule: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record.join("schedule.json")).unwrap())
            .unwrap();
    assert_eq!(schedule["keep"].as_array().unwrap().len(), after);

    // The shrunk run replays exactly, and still fails.
    let replay = pxelab(&["replay", record.to_str().unwrap()], None);
    let replayed = text(&replay.stdout);
    assert_eq!(replay.status.code(), Some(0), "{replayed}");
    assert!(replayed.contains("replay    ok"), "{replayed}");
    assert!(
        replayed.contains("expect    FAILED no service crashes"),
        "{replayed}"
    );

    // Without the kept deviations (every draw nominal) it is another run.
    let mut emptied = schedule.clone();
    emptied["keep"] = serde_json::json!([]);
    std::fs::write(record.join("schedule.json"), emptied.to_string()).unwrap();
    let replay = pxelab(&["replay", record.to_str().unwrap()], None);
    assert_eq!(replay.status.code(), Some(1));
    assert!(text(&replay.stdout).contains("DIFFERENT RUN"));

    // A seed that does not fail has nothing to shrink.
    let fixed = topology("kb2510665-fixed.yaml");
    let out = pxelab(&["shrink", fixed.to_str().unwrap(), "--seed", "0"], None);
    assert_exit(&out, 2, "does not fail");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_answers_on_loopback_and_run_writes_a_chrome_trace() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let topologies = crate::common::topology_path("");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(["serve", "--addr", "127.0.0.1:0", "--topologies"])
        .arg(&topologies)
        .env("PXELAB_CACHE", "off")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let url = first_line
        .trim()
        .strip_prefix("pxelab serving on http://")
        .unwrap_or_else(|| panic!("{first_line}"));
    let addr = url.trim_end_matches('/');
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /api/topologies HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"kb2510665.yaml\""), "{response}");

    let dir = scratch("trace");
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("trace.json");
    let kb = topology("kb2510665.yaml");
    let out = pxelab(
        &[
            "run",
            kb.to_str().unwrap(),
            "--seed",
            "7",
            "--trace-json",
            trace.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let events = value["traceEvents"].as_array().unwrap();
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    for node in ["r1", "r2", "dhcp", "wds", "pc1"] {
        assert!(
            names.iter().any(|name| name.contains(node)),
            "{node}: {names:?}"
        );
    }
    assert!(events.iter().any(|e| e["ph"] == "s") && events.iter().any(|e| e["ph"] == "f"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_quick_measures_every_figure_against_its_baseline() {
    let dir = scratch("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    let topologies = crate::common::topology_path("");
    let out = pxelab(
        &[
            "bench",
            "--quick",
            "--storm",
            "40",
            "--topologies",
            topologies.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        None,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let figures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = figures
        .as_array()
        .unwrap()
        .iter()
        .map(|figure| figure["name"].as_str().unwrap())
        .collect();
    for expected in [
        "bare event loop",
        "per-seed fixed cost",
        "KB2510665 sweep, 1 job(s)",
        "KB2510665 sweep, 2 job(s)",
        "2 jobs / 1 job",
        "plugin call, host share",
        "plugin-handled datagram",
        "native event, 20 clients",
        "boot storm, 20 clients",
        "boot storm, 20 clients, streaming",
        "clients booted, 40 clients, streaming",
        "peak memory, 40 clients, streaming",
        "wall, 40 / 20 clients, streaming",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    for figure in figures.as_array().unwrap() {
        let value = figure["value"].as_f64().unwrap();
        assert!(value.is_finite() && value >= 0.0, "{figure}");
        assert_eq!(
            figure["met"].is_null(),
            figure["target"].is_null(),
            "{figure}"
        );
    }
    // The storm really ran: its clients booted and made events.
    let storm = figures
        .as_array()
        .unwrap()
        .iter()
        .find(|figure| figure["name"] == "boot storm, 20 clients")
        .unwrap();
    assert!(storm["value"].as_f64().unwrap() > 0.0, "{storm}");
    assert!(
        storm["detail"]
            .as_str()
            .unwrap()
            .starts_with("20 of 20 clients booted"),
        "{storm}"
    );
    assert!(stdout.contains("target <= 5.00"), "{stdout}");
    let booted = figures
        .as_array()
        .unwrap()
        .iter()
        .find(|figure| figure["name"] == "clients booted, 40 clients, streaming")
        .unwrap();
    assert_eq!(booted["value"].as_f64(), Some(40.0), "{booted}");
    assert_eq!(booted["met"].as_bool(), Some(true), "{booted}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scenarios_sweeps_each_scenario_and_its_fix_into_one_table() {
    let dir = topology("scenarios");
    let dir = dir.to_str().unwrap();
    let out = pxelab(&["scenarios", dir, "--seeds", "0..3", "--json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["seeds"], "0..3");
    let rows = value["scenarios"].as_array().unwrap();
    let scenario_files = std::fs::read_dir(topology("scenarios"))
        .unwrap()
        .filter(|entry| {
            let text = std::fs::read_to_string(entry.as_ref().unwrap().path()).unwrap();
            text.lines().any(|line| line == "scenario:")
        })
        .count();
    assert_eq!(rows.len(), scenario_files, "{value}");
    let gated = rows
        .iter()
        .find(|row| row["file"] == "relay-forward-delay.yaml")
        .unwrap();
    assert_eq!(gated["runs"], 3);
    assert_eq!(gated["failure_rate"], 1.0);
    assert_eq!(gated["fix_failure_rate"], 0.0);
    assert_eq!(gated["fix_file"], "relay-forward-delay-fix.yaml");

    let table = pxelab(&["scenarios", dir, "--seeds", "0..1"], None);
    let table = text(&table.stdout);
    assert!(
        table.contains("| scenario | source | symptom | failure rate | fix | rate with the fix |"),
        "{table}"
    );

    // A scenario whose fix variant is missing is refused at its `fix:` line.
    let lonely = scratch("scenarios");
    std::fs::create_dir_all(&lonely).unwrap();
    let source = topology("scenarios/relay-forward-delay.yaml");
    let copy = lonely.join("relay-forward-delay.yaml");
    std::fs::copy(&source, &copy).unwrap();
    let out = pxelab(
        &["scenarios", lonely.to_str().unwrap(), "--seeds", "0..1"],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let fix_line = std::fs::read_to_string(&copy)
        .unwrap()
        .lines()
        .position(|line| {
            line.trim_start()
                .starts_with("file: relay-forward-delay-fix.yaml")
        })
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!("relay-forward-delay.yaml:{fix_line}:"))
            && stderr.contains("does not exist"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&lonely);
}
