//! Server nodes as Windows runs them: the KB2510665 event-log story in order (crash, failed
//! restarts while WMI holds the corrupt provider state, recovery after WMI + WDS restarts),
//! reboots and power loss on the fault timeline, and the CPU cost of plugin work.

use crate::common::{plan, run, services};
use engine::client::Outcome;
use engine::log::Kind;
use engine::{Finished, Node};

/// `(source, event id, text)` of every Windows-style record of a node, in order.
fn windows_events(world: &Finished, node: &str) -> Vec<(String, u32, String)> {
    let log = world.log();
    log.records()
        .iter()
        .filter(|r| log.node_name(r.node) == node)
        .filter_map(|r| match &r.kind {
            Kind::WindowsEvent(event) => {
                Some((event.source.clone(), event.event_id, event.text.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The run of topology `name` at its first seed in 0..100 where a service crashes.
fn first_crashing_run(name: &str) -> Finished {
    let plan = plan(name);
    let seed = (0..100)
        .find(|&seed| !run(&plan, seed).report().crashes.is_empty())
        .expect("a crashing seed in 0..100");
    run(&plan, seed)
}

#[test]
fn the_kb_story_crash_failed_restarts_then_recovery_after_wmi_and_wds_restarts() {
    let world = first_crashing_run("kb2510665-recovery.yaml");
    let report = world.report();
    let events = windows_events(&world, "wds");
    let ids: Vec<(&str, u32)> = events.iter().map(|(s, id, _)| (s.as_str(), *id)).collect();
    let expected_prefix = [
        ("WDSServer", 257),
        ("WDSIMGSRV", 265),
        ("Application Error", 1000),
        ("Service Control Manager", 7031),
        // The SCM restart 120000 ms later: the provider cannot initialize.
        ("WDSIMGSRV", 513),
        ("WDSServer", 258),
        ("Service Control Manager", 7024),
        ("Service Control Manager", 7031),
    ];
    assert_eq!(
        &ids[..expected_prefix.len()],
        expected_prefix,
        "{events:#?}"
    );
    let text = |source: &str, id: u32| {
        events
            .iter()
            .find(|(s, i, _)| s == source && *i == id)
            .map(|(_, _, t)| t.as_str())
            .unwrap()
    };
    assert!(text("Application Error", 1000).contains("svchost.exe_WDSServer"));
    assert!(text("Application Error", 1000).contains("ntdll.dll"));
    assert!(text("Application Error", 1000).contains("0xc0000374"));
    assert!(text("Service Control Manager", 7031).contains(
        "It has done this 1 time(s). The following corrective action will be taken in 120000 milliseconds: Restart the service."
    ));
    assert!(text("WDSIMGSRV", 513).contains("0xC1030136"));
    assert!(
        text("Service Control Manager", 7024).contains("service-specific error 16389 (0x4005)")
    );

    // The administrator restarts WMI at 300 s, then WDS at 310 s: WDS runs again.
    let wmi = events
        .iter()
        .position(|(s, id, t)| {
            s == "Service Control Manager"
                && *id == 7036
                && t.contains("Windows Management Instrumentation service entered the running")
        })
        .expect("WMI restarted");
    let after: Vec<(&str, u32)> = ids[wmi + 1..].to_vec();
    assert_eq!(
        after[..2],
        [("WDSServer", 257), ("Service Control Manager", 7036)],
        "{:#?}",
        &events[wmi..]
    );
    assert!(
        events[wmi + 2]
            .2
            .contains("Windows Deployment Services Server service entered the running state")
    );
    // ... and nothing fails after that, so the machine switched on at 330 s boots.
    assert!(!after.iter().any(|(_, id)| *id == 7024 || *id == 7031));
    let retry = report.clients.iter().find(|c| c.name == "retry").unwrap();
    assert!(
        matches!(retry.outcome, Outcome::Booted { .. }),
        "{:?}",
        retry.outcome
    );
}

#[test]
fn without_the_wmi_restart_wds_keeps_failing_to_start() {
    let world = first_crashing_run("kb2510665.yaml");
    let events = windows_events(&world, "wds");
    let failed_starts = events.iter().filter(|(_, id, _)| *id == 7024).count();
    assert!(failed_starts >= 3, "{events:#?}");
    assert!(!events.iter().any(|(_, id, _)| *id == 7036));
}

fn with_faults(faults: &str) -> topology::Plan {
    crate::common::edited_plan("kb2510665-fixed.yaml", "faults.yaml", |text| {
        format!("{text}\nfaults:\n{faults}")
    })
}

#[test]
fn a_server_that_loses_power_is_silent_until_it_boots_again() {
    // WDS is down from before the first client until 3 s: the clients' first DISCOVERs get no
    // proxy offer; PXE firmware discovers again after 4 s and boots once WDS is back.
    let plan = with_faults("  - { at: 0s, crash: wds }\n  - { at: 3s, recover: wds }");
    let world = run(&plan, 3);
    let report = world.report();
    for client in &report.clients {
        let Outcome::Booted { time_ns, .. } = client.outcome else {
            panic!("{} {:?}", client.name, client.outcome);
        };
        assert!(
            time_ns > 3_000_000_000,
            "{} booted while WDS was off",
            client.name
        );
    }
    let log = world.log();
    assert!(log.records().iter().any(|r| log.node_name(r.node) == "wds"
        && matches!(
            &r.kind,
            Kind::Drop { reason, .. } if **reason == engine::DropReason::NodeDown
        )));
}

#[test]
fn a_reboot_clears_wmi_and_restarts_the_service() {
    let plan = with_faults("  - { at: 30s, restart: wds }");
    let world = run(&plan, 3);
    let log = world.log();
    let rebooted = log.records().iter().position(|r| {
        log.node_name(r.node) == "wds"
            && matches!(&r.kind, Kind::Service(engine::ServiceEvent::Rebooted))
    });
    let rebooted = rebooted.expect("the reboot is logged");
    assert!(
        log.records()[rebooted..]
            .iter()
            .any(|r| log.node_name(r.node) == "wds"
                && matches!(&r.kind, Kind::WindowsEvent(event) if event.event_id == 257))
    );
}

/// The boot time of every client with WDS's plugin work costing `ns_per_fuel`.
fn boot_times(ns_per_fuel: &str) -> (Vec<u64>, u64, String) {
    let plan = crate::common::edited_plan("kb2510665-fixed.yaml", "cost.yaml", |text| {
        text.replace(
            "    plugin: wds-fixed",
            &format!("    cpu_ns_per_fuel: {ns_per_fuel}\n    plugin: wds-fixed"),
        )
    });
    let world = lab::run(&plan, 11, services()).unwrap();
    let report = world.report();
    let cpu_ns = world
        .nodes()
        .find_map(|(name, node)| match node {
            Node::Server(server) if name == "wds" => Some(server.cpu_ns),
            _ => None,
        })
        .unwrap();
    let times = report
        .clients
        .iter()
        .map(|c| match c.outcome {
            Outcome::Booted { time_ns, .. } => time_ns,
            ref other => panic!("{other:?}"),
        })
        .collect();
    (times, cpu_ns, report.digest.clone())
}

#[test]
fn plugin_work_costs_simulated_cpu_time_deterministically() {
    let (free, free_cpu, _) = boot_times("0");
    let (normal, normal_cpu, digest) = boot_times("0.5");
    let (slow, slow_cpu, _) = boot_times("50");
    assert_eq!(free_cpu, 0);
    assert!(normal_cpu > 0);
    // The same work costs 100 times more at 100 times the rate (the runs differ a little: the
    // slower server's clients retransmit, so it does a little more work).
    assert!(slow_cpu > normal_cpu * 90, "{slow_cpu} vs {normal_cpu}");
    for ((f, n), s) in free.iter().zip(&normal).zip(&slow) {
        assert!(f < n && n < s, "heavier work answers later: {f} {n} {s}");
    }
    // Same topology, same seed, same plugin bytes: the same fuel, the same run.
    assert_eq!(boot_times("0.5").2, digest);
}
