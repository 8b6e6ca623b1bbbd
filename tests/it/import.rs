//! `pxelab import` end to end: the shipped router configurations become topologies that load
//! and run, the KB2510665 pair crashes as `topologies/kb2510665.yaml` does, its
//! `redundancy` variant never crashes, the keepalived pair boots, and bad input writes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The seeds each sweep runs.
const SEEDS: std::ops::Range<u64> = 0..300;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn services() -> &'static lab::Services {
    static SERVICES: OnceLock<lab::Services> = OnceLock::new();
    SERVICES.get_or_init(|| lab::Services::new().expect("the plugin host starts"))
}

/// A fresh folder of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pxelab-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `pxelab import ARGS`, run in the repository so that notes name `topologies/configs/...`.
fn import(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .arg("import")
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .env("PXELAB_CACHE", "off")
        .output()
        .expect("pxelab runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Imports `args` into `out`, which must then load as a topology.
fn imported(args: &[&str], out: &Path) -> topology::Plan {
    let mut all: Vec<&str> = args.to_vec();
    let out_text = out.display().to_string();
    all.extend(["-o", &out_text]);
    let output = import(&all);
    assert!(
        output.status.success(),
        "pxelab import {args:?}: {}",
        text(&output.stderr)
    );
    assert!(
        output.stdout.is_empty(),
        "with -o the topology goes to the file"
    );
    topology::load(out).unwrap_or_else(|e| panic!("{}", e.render()))
}

fn sweep(plan: &topology::Plan) -> lab::SweepResult {
    lab::sweep(plan, SEEDS, 2, services()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_kb2510665_pair_imports_and_crashes_as_the_shipped_topology_does() {
    let dir = scratch("kb2510665");
    let out = dir.join("kb2510665-imported.yaml");
    let args = [
        "topologies/configs/kb2510665",
        "--server",
        "10.2.0.20=wds-sccm2007",
    ];
    let plan = imported(&args, &out);
    let stderr = text(&import(&args).stderr);
    // Every line not modelled, with its file and lines, and the servers' plugins.
    assert!(
        stderr.contains("topologies/configs/kb2510665/r1.cfg:79: route to 0.0.0.0/0 via 10.2.0.254: not modelled"),
        "{stderr}"
    );
    assert!(
        stderr.contains("server 10.2.0.10: node dhcp, plugin dhcp-server (default"),
        "{stderr}"
    );
    assert!(
        stderr.contains("server 10.2.0.20: node wds, plugin wds-sccm2007 (given with --server)"),
        "{stderr}"
    );
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert!(yaml.starts_with(
        "# Imported by `pxelab import` from:\n#   topologies/configs/kb2510665/r1.cfg"
    ));
    assert!(yaml.contains("`pxelab calibrate` fits"));

    let shipped = topology::load(&repo().join("topologies/kb2510665.yaml")).unwrap();
    let (ours, theirs) = (sweep(&plan), sweep(&shipped));
    let (ours_ci, theirs_ci) = (ours.crash_rate_ci95(), theirs.crash_rate_ci95());
    eprintln!(
        "imported: {} of {} crashed, 95% CI {:.3}..{:.3}; kb2510665.yaml: {} of {}, 95% CI {:.3}..{:.3}",
        ours.crashed_runs,
        ours.runs,
        ours_ci.0,
        ours_ci.1,
        theirs.crashed_runs,
        theirs.runs,
        theirs_ci.0,
        theirs_ci.1
    );
    assert!(ours.crashed_runs > 0, "the imported pair never crashed");
    assert!(
        ours_ci.0 <= theirs_ci.1 && theirs_ci.0 <= ours_ci.1,
        "the intervals {ours_ci:?} and {theirs_ci:?} do not overlap"
    );
    // More than alike: the same network, so every seed is the same run.
    assert_eq!(
        ours.digests, theirs.digests,
        "the imported pair is kb2510665.yaml, seed for seed"
    );
}

#[test]
fn the_redundancy_variant_relays_from_the_active_router_only_and_never_crashes() {
    let dir = scratch("redundancy");
    let out = dir.join("redundancy.yaml");
    let plan = imported(
        &[
            "topologies/configs/kb2510665-redundancy/r1.cfg",
            "topologies/configs/kb2510665-redundancy/r2.cfg",
            "--server",
            "10.2.0.20=wds-sccm2007",
        ],
        &out,
    );
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        yaml.matches("helpers_follow_redundancy: true").count(),
        2,
        "{yaml}"
    );
    let result = sweep(&plan);
    assert_eq!(result.runs, SEEDS.end - SEEDS.start);
    assert_eq!(
        result.crashed_runs, 0,
        "crashed for seeds {:?}",
        result.failing_seeds
    );
    assert_eq!(
        result.unbooted_runs, 0,
        "clients did not boot for seeds {:?}",
        result.failing_seeds
    );
}

#[test]
fn the_keepalived_pair_imports_and_boots_its_clients() {
    let dir = scratch("keepalived");
    let out = dir.join("keepalived.yaml");
    let plan = imported(
        &[
            "topologies/configs/keepalived-pair/lb1",
            "topologies/configs/keepalived-pair/lb2",
        ],
        &out,
    );
    let yaml = std::fs::read_to_string(&out).unwrap();
    assert_eq!(yaml.matches("platform: keepalived").count(), 2, "{yaml}");
    // Both relays forward every DISCOVER (dhcrelay ignores VRRP), and the default boot
    // server, a stateless proxyDHCP, answers each copy: everyone boots.
    let result = lab::sweep(&plan, 0..40, 2, services()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(result.crashed_runs, 0);
    assert_eq!(result.unbooted_runs, 0, "seeds {:?}", result.failing_seeds);
}

#[test]
fn bad_input_is_reported_at_its_line_and_nothing_is_written() {
    let dir = scratch("bad");
    let config = dir.join("r1.cfg");
    std::fs::write(
        &config,
        "hostname r1\ninterface Vlan10\n ip address 10.1.0.2 255.255.255.0\n standby 10 iip 10.1.0.1\n",
    )
    .unwrap();
    let out = dir.join("out.yaml");
    std::fs::write(&out, "# kept\n").unwrap();
    let output = import(&[config.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error: {}:4: unknown standby command `iip`",
            config.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "# kept\n",
        "the output file was touched"
    );

    // A helper that points nowhere, and a plugin for an address that is no helper.
    std::fs::write(
        &config,
        "hostname r1\ninterface Vlan10\n ip address 10.1.0.2 255.255.255.0\n ip helper-address 10.9.9.9\n",
    )
    .unwrap();
    let fresh = dir.join("fresh.yaml");
    let output = import(&[config.to_str().unwrap(), "-o", fresh.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains(":4: helper 10.9.9.9 points nowhere"),
        "{}",
        text(&output.stderr)
    );
    assert!(!fresh.exists());

    let output = import(&[
        "topologies/configs/kb2510665",
        "--server",
        "10.2.0.99=wds-fixed",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("10.2.0.99 is none of the helper addresses"));
    let output = import(&[
        "topologies/configs/kb2510665",
        "--server",
        "10.2.0.20=no-such-plugin",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("unknown plugin `no-such-plugin`"),
        "{}",
        text(&output.stderr)
    );
}
