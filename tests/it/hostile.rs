//! Hostile plugins cannot take a run down. Each fixture of `artifacts::FIXTURES` stands in for
//! the `wds` node of the KB2510665 topology, loaded from a `.wasm` file as a user's plugin would
//! be: that node crashes (or refuses to start) with a reason naming what it did, the rest of the
//! network goes on (the DHCP server still leases addresses and never crashes), and the run is
//! as deterministic as any other.

use std::path::{Path, PathBuf};

use engine::{Finished, Kind, Node};
use topology::Plan;

/// What the fixture's node must end with.
enum Expected {
    /// A crash whose reason contains the text.
    Crash(&'static str),
    /// A refusal to start whose reason contains the text.
    Refusal(&'static str),
}

/// A folder of its own under the system's temporary folder, emptied first.
fn scratch(name: &str) -> PathBuf {
    crate::common::scratch_dir(&format!("hostile-{name}"))
}

/// The KB2510665 topology text with the `wds` node's plugin and config changed by `edit`. Its
/// clients run the PXE 2.1 profile here: without a PXE offer from `wds` they still request the
/// DHCP server's offer, which shows it keeps leasing (EDK2 would never take an address-only
/// offer).
fn kb2510665_with(edit: impl Fn(&str) -> String) -> String {
    let text = crate::common::topology_text("kb2510665.yaml")
        .replace("    arch: efi-x64\n", "    arch: bios\n");
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit applies to kb2510665.yaml");
    edited
}

fn write_plan(dir: &Path, text: &str) -> Plan {
    let path = dir.join("topology.yaml");
    std::fs::write(&path, text).unwrap();
    topology::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The topology with the fixture `name`, written beside it as a `.wasm` file, as `wds`.
fn plan_with_fixture(name: &str) -> Plan {
    let dir = scratch(name);
    let wasm = dir.join(format!("{name}.wasm"));
    std::fs::write(&wasm, artifacts::fixture(name).expect("fixture")).unwrap();
    let text = kb2510665_with(|text| {
        text.replace(
            "    plugin: wds-sccm2007\n",
            &format!("    plugin: {}\n", wasm.display()),
        )
    });
    write_plan(&dir, &text)
}

/// Runs `seed` the way the CLI does, except that a refused start is looked at here rather than
/// turned into an input error.
fn run(plan: &Plan, seed: u64) -> Finished {
    plan.build(seed, crate::common::services())
        .unwrap_or_else(|e| panic!("{e}"))
        .run()
}

/// Checks one run of `plan` against `expected` and returns its digest.
fn check(label: &str, plan: &Plan, seed: u64, expected: &Expected) -> String {
    let world = run(plan, seed);
    let report = world.report();
    let context = format!("{label}, seed {seed}");
    assert!(
        report.crashes.iter().all(|crash| crash.node == "wds"),
        "{context}: only wds may fail: {:?}",
        report.crashes
    );
    let first = report
        .crashes
        .first()
        .unwrap_or_else(|| panic!("{context}: wds did not fail"));
    let refusal = world.nodes().find_map(|(name, node)| match node {
        Node::Server(server) if name == "wds" => server.refusal().map(str::to_string),
        _ => None,
    });
    match expected {
        Expected::Crash(text) => {
            assert!(first.reason.contains(text), "{context}: {}", first.reason);
            assert_eq!(refusal, None, "{context}");
        }
        Expected::Refusal(text) => {
            let refusal = refusal.unwrap_or_else(|| panic!("{context}: no refusal"));
            assert!(refusal.contains(text), "{context}: {refusal}");
            assert!(first.reason.starts_with("refused to start: "), "{context}");
        }
    }
    // The DHCP server keeps leasing: every client gets its DHCPACK.
    let log = world.log();
    for client in &report.clients {
        let acked = log.records().iter().any(|record| {
            log.node_name(record.node) == client.name
                && matches!(&record.kind, Kind::Client(event) if matches!(**event, engine::ClientEvent::Ack { .. }))
        });
        assert!(acked, "{context}: {} got no DHCPACK", client.name);
    }
    report.digest.clone()
}

fn contained(label: &str, plan: &Plan, expected: Expected) {
    for seed in [0, 7] {
        let digest = check(label, plan, seed, &expected);
        assert_eq!(
            check(label, plan, seed, &expected),
            digest,
            "{label}, seed {seed}: the same run twice gives the same digest"
        );
    }
}

/// The fixture `name` in the `wds` seat is contained as `expected` (`contained`); its scratch
/// folder is removed after.
fn fixture_contained(name: &str, expected: Expected) {
    let plan = plan_with_fixture(name);
    contained(name, &plan, expected);
    clean_up(&plan);
}

/// Removes the folder `scratch` made for `plan`.
fn clean_up(plan: &Plan) {
    let dir = plan
        .file
        .parent()
        .expect("the topology is in its scratch folder");
    let _ = std::fs::remove_dir_all(dir);
}

/// One test per misbehaving fixture: the test's name, the fixture in the `wds` seat, and the
/// crash it must be contained as.
macro_rules! crash_tests {
    ($($test:ident: $fixture:literal => $crash:literal;)*) => {
        $(
            #[test]
            fn $test() {
                fixture_contained($fixture, Expected::Crash($crash));
            }
        )*
    };
}

crash_tests! {
    an_endless_loop_runs_out_of_fuel: "endless-loop"
        => "used up its fuel budget of 100000000 units in one call";
    a_memory_bomb_hits_the_memory_limit: "memory-bomb"
        => "went over its memory limit of 64 MiB";
    a_panic_is_a_crash_with_the_panic_message: "panic"
        => "panic: fixture panic on a datagram from 10.2.0.";
    a_send_storm_is_stopped_at_the_send_limit: "send-storm"
        => "sent more than 256 datagrams in one call";
    a_timer_storm_is_stopped_at_the_timer_limit: "timer-storm"
        => "set more than 256 timers in one call";
    an_oversized_datagram_is_a_crash: "oversized-datagram"
        => "sent a datagram larger than one Ethernet frame allows (1472)";
    a_log_storm_is_stopped_at_the_log_limit: "log-storm"
        => "wrote more than 1024 log records in one call";
}

#[test]
fn a_plugin_that_refuses_every_configuration_never_starts() {
    let plan = plan_with_fixture("garbage-config");
    contained(
        "garbage-config",
        &plan,
        Expected::Refusal("garbage-config refuses every configuration (threads = 4)"),
    );
    // The CLI's path reports it as a mistake in the topology, at the server's config.
    let error = lab::run(&plan, 0, crate::common::services())
        .err()
        .expect("a refused start is an input error");
    assert!(
        error.message.contains("server `wds` refused to start"),
        "{error}"
    );
    clean_up(&plan);
}

#[test]
fn a_real_plugin_refuses_a_value_it_cannot_read() {
    let text = kb2510665_with(|text| text.replace("      threads: 4 ", "      threads: lots "));
    let plan = write_plan(&scratch("threads-lots"), &text);
    contained("wds threads: lots", &plan, Expected::Refusal("lots"));
    clean_up(&plan);
}
