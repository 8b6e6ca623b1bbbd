//! Same topology and seed, same run, byte for byte: within a process, across thread counts,
//! and across builds (the golden digest is the same value for debug and release test runs).

use crate::common::{plan, run, services};

#[test]
fn the_same_seed_gives_the_same_digest() {
    let plan = plan("kb2510665.yaml");
    for seed in [0, 7, 12345] {
        let world_a = run(&plan, seed);
        let world_b = run(&plan, seed);
        let (a, b) = (world_a.report(), world_b.report());
        assert_eq!(a.digest, b.digest, "seed {seed}");
        assert_eq!(world_a.log().records(), world_b.log().records());
        assert_eq!(a, b);
    }
    assert_ne!(run(&plan, 1).report().digest, run(&plan, 2).report().digest);
}

#[test]
fn sweeps_do_not_depend_on_the_thread_count() {
    let plan = plan("kb2510665.yaml");
    let one = lab::sweep(&plan, 0..60, 1, services()).unwrap();
    let two = lab::sweep(&plan, 0..60, 2, services()).unwrap();
    assert_eq!(one, two);
}

/// The digest of seed 7 is pinned in `golden/`, with the run's trace beside it
/// (`kb2510665-seed7.trace`: one line per record, its time, node, fingerprint and text), so a
/// changed digest shows the first record that changed. Debug and release builds both check
/// against the same files, so a passing `cargo test` and `cargo test --release` prove the builds
/// agree. Refresh after an intended change with `UPDATE_EXPECT=1 cargo test --test it
/// determinism` and review the diff of both files.
#[test]
fn the_digest_of_seed_7_matches_the_golden_file() {
    let golden = crate::common::repo_path("tests/golden/kb2510665-seed7.digest");
    let golden_trace = crate::common::repo_path("tests/golden/kb2510665-seed7.trace");
    let plan = plan("kb2510665.yaml");
    let world = run(&plan, 7);
    let report = world.report();
    let trace: Vec<String> = lab::trace(&world)
        .iter()
        .map(|line| {
            format!(
                "{} {} {} {}",
                line.time_ns,
                line.node,
                &line.fingerprint[..12],
                line.text.replace('\n', " | ")
            )
        })
        .collect();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&golden, format!("{}\n", report.digest)).unwrap();
        std::fs::write(&golden_trace, trace.join("\n") + "\n").unwrap();
    }
    let expected =
        std::fs::read_to_string(&golden).expect("golden digest (UPDATE_EXPECT=1 writes it)");
    if report.digest == expected.trim() {
        return;
    }
    let expected_trace = std::fs::read_to_string(&golden_trace).unwrap_or_default();
    let fingerprint = |line: &str| line.split(' ').nth(2).map(str::to_string);
    let first = expected_trace
        .lines()
        .zip(&trace)
        .position(|(expected, actual)| fingerprint(expected) != fingerprint(actual))
        .unwrap_or(expected_trace.lines().count().min(trace.len()));
    let around = |lines: Vec<&str>| {
        lines[first.saturating_sub(2)..(first + 3).min(lines.len())].join("\n  ")
    };
    panic!(
        "seed 7 no longer gives the pinned run (digest {} instead of {}); the first record that \
         differs is number {first}:\nexpected\n  {}\nnow\n  {}\nif intended, refresh with UPDATE_EXPECT=1",
        report.digest,
        expected.trim(),
        around(expected_trace.lines().collect()),
        around(trace.iter().map(String::as_str).collect()),
    );
}

/// Limits turn a long run into a reported outcome: the run stops, unfinished clients are
/// `pending`, and the stop reason says which limit.
#[test]
fn limits_stop_a_run_and_say_so() {
    let limited = |from: &str, to: &str| {
        crate::common::edited_plan("kb2510665.yaml", "kb2510665.yaml", |text| {
            text.replace(from, to)
        })
    };
    let plan = limited("events: 2000000", "events: 50");
    let world = run(&plan, 7);
    let report = world.report();
    assert_eq!(report.stop, engine::StopReason::EventLimit);
    assert_eq!(report.events, 50);
    assert!(
        report
            .clients
            .iter()
            .any(|c| c.outcome == engine::client::Outcome::Pending)
    );
    assert!(world.log().records().len() >= 50);

    let plan = limited("sim_time: 600s", "sim_time: 1ms");
    let report = run(&plan, 7).into_report();
    assert_eq!(report.stop, engine::StopReason::SimTimeLimit);
    assert!(report.sim_time_ns <= 1_000_000);
}

/// Clients are not handed frames they would drop whatever their state (another client's DHCP
/// reply, a multicast). The shortcut must change nothing but the log: same outcomes, same
/// crashes, same times, for every shipped topology that has several clients.
#[test]
fn skipping_frames_clients_ignore_changes_no_outcome() {
    for (name, seeds) in [
        ("kb2510665.yaml", 0..12),
        ("vrrp-three-routers.yaml", 0..6),
        ("hsrp-failover.yaml", 0..4),
        ("kb2510665-recovery.yaml", 0..4),
        ("proxydhcp.yaml", 0..4),
    ] {
        let plan = plan(name);
        for seed in seeds {
            let short = run(&plan, seed);
            let short_report = short.report();
            let mut world = plan.builder(seed, services(), None).unwrap();
            world.set_deliver_all(true);
            let world = world.build().run();
            let full_report = world.report();
            let context = format!("{name} seed {seed}");
            assert_eq!(short_report.clients, full_report.clients, "{context}");
            assert_eq!(short_report.crashes, full_report.crashes, "{context}");
            // (The time of the last event may differ: it can be a delivery the shortcut skips.)
            // Every record of the short log is in the full one, in order: only drops and
            // receives at clients were left out.
            let full = world.log().records();
            let mut rest = full.iter();
            for record in short.log().records() {
                assert!(rest.any(|r| r == record), "{context}: {record:?} missing");
            }
            assert!(
                full.len() > short.log().records().len(),
                "{context}: the shortcut skipped nothing"
            );
        }
    }
}

/// A sweep keeps only what its results need (`Retention::Summary`); the digest, the report and
/// the seed's result are those of the run that keeps every record.
#[test]
fn a_summary_log_gives_the_same_digest_report_and_result() {
    use engine::log::Retention;
    for name in ["kb2510665.yaml", "scenarios/tftp-blksize-over-mtu.yaml"] {
        let plan = plan(name);
        for seed in 0..4 {
            let all = lab::run_retaining(&plan, seed, services(), Retention::All).unwrap();
            let summary = lab::run_retaining(&plan, seed, services(), Retention::Summary).unwrap();
            assert_eq!(all.report(), summary.report(), "{name} seed {seed}");
            assert_eq!(
                lab::SeedResult::of(&plan, &all),
                lab::SeedResult::of(&plan, &summary),
                "{name} seed {seed}"
            );
            assert!(summary.log().records().len() < all.log().records().len());
        }
    }
}
