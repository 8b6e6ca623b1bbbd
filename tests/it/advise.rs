//! `pxelab advise`: the fixes are derived from the user's topology, they are the same networks
//! as the hand-written variants shipped in `topologies/`, and fixes that do not apply say why.

use std::process::Command;

use lab::advise::{Fix, variants};

use crate::common::{plan, run, scratch_dir, topology_path};

/// The shipped hand-written file each fix of `kb2510665.yaml` should reproduce.
const SHIPPED: [(Fix, &str); 4] = [
    (Fix::NoPxeHelperOnBackup, "kb2510665-wa1.yaml"),
    (Fix::OneProviderThread, "kb2510665-wa2.yaml"),
    (Fix::HelpersFollowRedundancy, "kb2510665-hsrp-aware.yaml"),
    (Fix::RaceAvoidingServer, "kb2510665-fixed.yaml"),
];

#[test]
fn the_derived_fixes_of_the_kb_topology_run_as_the_hand_written_variants_seed_for_seed() {
    let kb = plan("kb2510665.yaml");
    let (derived, skipped) = variants(&kb).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let fixes: Vec<Fix> = derived.iter().map(|variant| variant.fix).collect();
    assert_eq!(fixes, Fix::ALL);
    for (fix, file) in SHIPPED {
        let variant = derived.iter().find(|variant| variant.fix == fix).unwrap();
        let shipped = plan(file);
        for seed in 0..12 {
            assert_eq!(
                run(&variant.plan, seed).report().digest,
                run(&shipped, seed).report().digest,
                "{fix} against {file}, seed {seed}:\n{}",
                variant.yaml
            );
        }
    }
    let changes = |fix: Fix| {
        derived
            .iter()
            .find(|variant| variant.fix == fix)
            .unwrap()
            .changes
            .clone()
    };
    assert_eq!(
        changes(Fix::NoPxeHelperOnBackup),
        ["r2 Vlan10: helper to 10.2.0.20 (wds) removed"]
    );
    assert_eq!(changes(Fix::OneProviderThread), ["wds: threads 4 -> 1"]);
    assert_eq!(
        changes(Fix::HelpersFollowRedundancy),
        [
            "r1 Vlan10: helpers follow HSRP group 10",
            "r2 Vlan10: helpers follow HSRP group 10"
        ]
    );
    assert_eq!(
        changes(Fix::RaceAvoidingServer),
        ["wds: plugin wds-sccm2007 -> wds-fixed"]
    );
}

#[test]
fn with_three_vrrp_routers_both_backups_lose_their_pxe_helper() {
    let (derived, _) = variants(&plan("vrrp-three-routers.yaml")).unwrap();
    let wa1 = derived
        .iter()
        .find(|variant| variant.fix == Fix::NoPxeHelperOnBackup)
        .unwrap();
    // r1 has priority 150 (master), r3 120 and r2 100 are backups.
    assert_eq!(
        wa1.changes,
        [
            "r2 Vlan10: helper to 10.2.0.20 (wds) removed",
            "r3 Vlan10: helper to 10.2.0.20 (wds) removed"
        ]
    );
    for seed in 0..8 {
        let report = run(&wa1.plan, seed).into_report();
        assert!(
            report.crashes.is_empty(),
            "seed {seed}: {:?}",
            report.crashes
        );
    }
}

#[test]
fn fixes_that_do_not_apply_say_why_instead_of_running() {
    // One LAN, no router: nothing is relayed, no provider races.
    let (derived, skipped) = variants(&plan("flat-lan.yaml")).unwrap();
    assert_eq!(
        derived.iter().map(|v| v.fix).collect::<Vec<_>>(),
        [Fix::AsIs]
    );
    let reasons: Vec<(Fix, &str)> = skipped.iter().map(|s| (s.fix, s.reason.as_str())).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for (fix, reason) in reasons {
        assert!(!reason.is_empty(), "{fix}");
    }
    // Helpers that already follow redundancy are not a fix to try again.
    let (_, skipped) = variants(&plan("kb2510665-hsrp-aware.yaml")).unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s.fix == Fix::HelpersFollowRedundancy),
        "{skipped:?}"
    );
}

#[test]
fn the_command_prints_the_table_with_a_cost_per_fix_and_writes_the_variants() {
    let dir = scratch_dir("advise");
    let kb = topology_path("kb2510665.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args([
            "advise",
            kb.to_str().unwrap(),
            "--seeds",
            "0..40",
            "--json",
            "--write",
        ])
        .arg(&dir)
        .env("PXELAB_CACHE", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["seeds"], "0..40");
    let variants = json["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 5);
    assert_eq!(variants[0]["fix"], "as-is");
    assert!(variants[0]["crashed_runs"].as_u64().unwrap() > 0, "{json}");
    for variant in &variants[1..] {
        assert_eq!(variant["crashed_runs"], 0, "{variant}");
        assert!(!variant["cost"].as_str().unwrap().is_empty());
    }
    // The written variants load and are the networks that ran.
    for name in [
        "kb2510665-wa1",
        "kb2510665-wa2",
        "kb2510665-helpers-follow-redundancy",
        "kb2510665-race-avoiding",
    ] {
        let path = dir.join(format!("{name}.yaml"));
        let written = topology::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(written.name, name);
    }
    let _ = std::fs::remove_dir_all(&dir);

    let text = Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(["advise", kb.to_str().unwrap(), "--seeds", "0..10"])
        .env("PXELAB_CACHE", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(
        text.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(
        stdout.contains("| WA1: no PXE helper on the backup"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("  cost:   ").count(), 5, "{stdout}");
}
