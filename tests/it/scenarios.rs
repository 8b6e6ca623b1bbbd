//! The scenario library (`topologies/scenarios/`): each documented failure shows its symptom
//! because of the modelled mechanism (seen in the typed records: the relay's drops, the offers a
//! client got, the copies a server received), and the fix variant it names removes it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::ops::Range;

use crate::common::{edited_plan, plan, run, services};
use engine::Finished;
use engine::event::{ClientEvent, DropReason};
use engine::log::Kind;
use topology::Plan;

const SEEDS: Range<u64> = 0..40;

fn scenario(name: &str) -> Plan {
    plan(&format!("scenarios/{name}"))
}

fn sweep(plan: &Plan) -> lab::SweepResult {
    lab::sweep(plan, SEEDS, 2, services()).unwrap_or_else(|e| panic!("{e}"))
}

/// The scenario's failure rate and its fix's, over `SEEDS`.
fn rates(name: &str) -> (f64, f64) {
    let plan = scenario(name);
    let fix = plan.scenario.as_ref().expect("a scenario").fix_file.clone();
    let failing = sweep(&plan).failure_rate();
    let fixed = sweep(&scenario(&fix)).failure_rate();
    (failing, fixed)
}

/// Every client event of a run, by client name, in order.
fn client_events(run: &Finished) -> BTreeMap<String, Vec<ClientEvent>> {
    let log = run.log();
    let mut events: BTreeMap<String, Vec<ClientEvent>> = BTreeMap::new();
    for record in log.records() {
        if let Kind::Client(event) = &record.kind {
            let node = log.node_name(record.node).to_string();
            events.entry(node).or_default().push((**event).clone());
        }
    }
    events
}

/// Every drop of a run with the node that dropped.
fn drops(run: &Finished) -> Vec<(String, DropReason)> {
    let log = run.log();
    log.records()
        .iter()
        .filter_map(|record| match &record.kind {
            Kind::Drop { reason, .. } => {
                Some((log.node_name(record.node).to_string(), (**reason).clone()))
            }
            _ => None,
        })
        .collect()
}

/// The servers whose offers each client received.
fn offer_servers(run: &Finished) -> BTreeMap<String, Vec<Ipv4Addr>> {
    client_events(run)
        .into_iter()
        .map(|(client, events)| {
            let servers = events
                .iter()
                .filter_map(|event| match event {
                    ClientEvent::Offer { server, .. } => Some(*server),
                    _ => None,
                })
                .collect();
            (client, servers)
        })
        .collect()
}

const PEER_A: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 10);
const PEER_B: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 11);

#[test]
fn every_scenario_names_a_fix_that_loads() {
    let dir = crate::common::topology_path("scenarios");
    let files = lab::scenarios::scenario_files(&dir).unwrap();
    let scenarios: Vec<Plan> = files
        .iter()
        .map(|file| topology::load(file).unwrap_or_else(|e| panic!("{e}")))
        .filter(|plan| plan.scenario.is_some())
        .collect();
    assert!(scenarios.len() >= 6, "{} scenarios", scenarios.len());
    for plan in &scenarios {
        let fix = lab::scenarios::fix_path(plan).unwrap();
        let fixed = topology::load(&fix).unwrap_or_else(|e| panic!("{}: {e}", plan.name));
        assert!(
            fixed.scenario.is_none(),
            "{}: a fix is no scenario",
            fixed.name
        );
        let text = plan.source();
        assert!(
            text.starts_with("# Scenario:") && text.contains("# Source:"),
            "{}: the header cites the source",
            plan.name
        );
    }
}

#[test]
fn a_relay_forward_delay_drops_edk2s_first_discover_and_defeats_load_balancing() {
    let (failing, fixed) = rates("relay-forward-delay.yaml");
    assert_eq!((failing, fixed), (1.0, 0.0));

    let gated = run(&scenario("relay-forward-delay.yaml"), 3);
    let first_discovers = drops(&gated)
        .into_iter()
        .filter(|(node, reason)| {
            node == "omniswitch" && *reason == DropReason::SecsBelowMin { secs: 0, min: 3 }
        })
        .count();
    assert_eq!(
        first_discovers, 4,
        "one secs-0 DISCOVER of each of 4 clients"
    );
    for (client, servers) in offer_servers(&gated) {
        assert!(
            servers.contains(&PEER_A) && servers.contains(&PEER_B),
            "{client}: secs 4 is above 3, both peers answer: {servers:?}"
        );
    }

    let ungated = run(&scenario("relay-forward-delay-fix.yaml"), 3);
    assert!(
        drops(&ungated)
            .iter()
            .all(|(_, reason)| !matches!(reason, DropReason::SecsBelowMin { .. }))
    );
    for (client, servers) in offer_servers(&ungated) {
        let peers: Vec<_> = servers
            .iter()
            .filter(|s| **s != Ipv4Addr::new(10, 2, 0, 30))
            .collect();
        assert!(
            !peers.is_empty() && peers.iter().all(|s| *s == peers[0]),
            "{client}: one peer balances each EDK2 client: {servers:?}"
        );
    }

    // iPXE's `secs` is 4 on its first DISCOVER: above the threshold, so both peers answer it
    // even behind the ungated relay.
    let ipxe = edited_plan(
        "scenarios/relay-forward-delay-fix.yaml",
        "scenarios/relay-forward-delay-fix.yaml",
        |text| text.replace("arch: efi-x64", "arch: bios\n    firmware: ipxe"),
    );
    for (client, servers) in offer_servers(&run(&ipxe, 3)) {
        assert!(
            servers.contains(&PEER_A) && servers.contains(&PEER_B),
            "{client}: {servers:?}"
        );
    }
}

#[test]
fn a_relay_that_relays_from_every_address_sends_three_copies_that_crash_wds() {
    let plan = scenario("relay-every-address.yaml");
    let result = sweep(&plan);
    assert!(
        result.crash_rate() > 0.3,
        "crash rate {} over {SEEDS:?}",
        result.crash_rate()
    );
    let fix = sweep(&scenario("relay-every-address-fix.yaml"));
    assert_eq!((fix.crashed_runs, fix.failing_seeds.len()), (0, 0));
    assert!(fix.per_seed.iter().all(|seed| seed.duplicates == 0));

    // Each DISCOVER reaches WDS from the three addresses of the one switch.
    let world = run(&plan, 1);
    let log = world.log();
    let mut giaddrs: BTreeMap<(u32, Vec<u8>), Vec<Ipv4Addr>> = BTreeMap::new();
    for record in log.records() {
        let Kind::Receive { frame, .. } = &record.kind else {
            continue;
        };
        if log.node_name(record.node) != "wds" {
            continue;
        }
        if let Some(request) = engine::decode::relayed_request(&frame.bytes())
            && request.key.message_type == 1
        {
            giaddrs
                .entry((request.key.xid, request.key.chaddr.clone()))
                .or_default()
                .push(request.giaddr);
        }
    }
    assert!(!giaddrs.is_empty());
    let expected = [
        Ipv4Addr::new(10, 1, 0, 1),
        Ipv4Addr::new(10, 1, 1, 1),
        Ipv4Addr::new(10, 1, 2, 1),
    ];
    for (key, mut seen) in giaddrs {
        seen.sort();
        seen.dedup();
        assert_eq!(seen, expected, "{key:?}");
    }
}

#[test]
fn option_60_on_the_dhcp_server_sends_uefi_clients_to_its_port_4011() {
    let plan = scenario("option60-on-dhcp-server.yaml");
    let result = sweep(&plan);
    assert_eq!(result.failure_rate(), 1.0);
    let fix = sweep(&scenario("option60-on-dhcp-server-fix.yaml"));
    assert_eq!(fix.failure_rate(), 0.0);

    let dhcp = Ipv4Addr::new(10, 2, 0, 10);
    let mut bios_failed = 0;
    let mut bios_booted = 0;
    for seed in SEEDS {
        for (client, events) in client_events(&run(&plan, seed)) {
            let asked: Vec<Ipv4Addr> = events
                .iter()
                .filter_map(|event| match event {
                    ClientEvent::BootServerRequest { server, .. } => Some(*server),
                    _ => None,
                })
                .collect();
            let failed = events
                .iter()
                .any(|event| matches!(event, ClientEvent::Failed { .. }));
            if client.starts_with("efi") {
                // EDK2 ranks the DHCP server's PXEClient offer (DhcpBinl) first, every time.
                assert!(
                    asked.iter().all(|s| *s == dhcp) && !asked.is_empty(),
                    "{client}"
                );
                assert!(failed, "seed {seed} {client}");
            } else {
                // A PXE 2.1 client asks whoever sent the first PXE offer.
                assert_eq!(failed, asked.first() == Some(&dhcp), "seed {seed} {client}");
                if failed {
                    bios_failed += 1;
                } else {
                    bios_booted += 1;
                }
            }
        }
    }
    assert!(
        bios_failed > 0 && bios_booted > 0,
        "BIOS clients fail some of the time: {bios_failed} failed, {bios_booted} booted"
    );
}

#[test]
fn a_proxy_offer_broadcast_on_the_server_lan_never_reaches_the_clients() {
    let (failing, fixed) = rates("proxydhcp-broadcast-offer.yaml");
    assert_eq!((failing, fixed), (1.0, 0.0));
    let world = run(&scenario("proxydhcp-broadcast-offer.yaml"), 0);
    assert!(
        drops(&world)
            .iter()
            .any(|(node, reason)| node == "r1" && *reason == DropReason::NoHelpers),
        "the router drops the broadcast proxy offer on its server side"
    );
    let proxy = Ipv4Addr::new(10, 2, 0, 30);
    for (client, servers) in offer_servers(&world) {
        assert!(!servers.contains(&proxy), "{client}: {servers:?}");
    }
}

#[test]
fn ipxe_keeps_the_later_of_two_offers_and_edk2_the_one_with_a_boot_file() {
    let plan = scenario("two-dhcp-servers-ipxe.yaml");
    let result = sweep(&plan);
    let rate = result.failure_rate();
    assert!(rate > 0.2 && rate < 1.0, "failure rate {rate}");
    let fix = sweep(&scenario("two-dhcp-servers-ipxe-fix.yaml"));
    assert_eq!(fix.failure_rate(), 0.0);
    for seed in 0..10 {
        let world = run(&plan, seed);
        for client in &world.report().clients {
            let booted = matches!(client.outcome, engine::client::Outcome::Booted { .. });
            if client.name.starts_with("efi") {
                assert!(booted, "seed {seed}: {} {:?}", client.name, client.outcome);
            }
        }
    }
}

#[test]
fn a_server_that_gives_each_copy_an_address_makes_edk2_decline() {
    let plan = scenario("address-per-copy.yaml");
    let result = sweep(&plan);
    let rate = result.failure_rate();
    assert!(rate > 0.2, "failure rate {rate}");
    let fix = sweep(&scenario("address-per-copy-fix.yaml"));
    assert_eq!(fix.failure_rate(), 0.0);
    let mut declines = 0;
    for seed in SEEDS {
        for (client, events) in client_events(&run(&plan, seed)) {
            let offered: Vec<Ipv4Addr> = events
                .iter()
                .filter_map(|event| match event {
                    ClientEvent::Offer { yiaddr, .. } => *yiaddr,
                    _ => None,
                })
                .collect();
            assert!(
                offered.len() >= 2 && offered[0] != offered[1],
                "seed {seed} {client}: two copies, two addresses: {offered:?}"
            );
            if events
                .iter()
                .any(|event| matches!(event, ClientEvent::Decline { .. }))
            {
                assert!(client.starts_with("efi"), "only EDK2 declines");
                declines += 1;
            }
        }
    }
    assert!(declines > 0);
}

/// For each (xid, chaddr) of a DISCOVER or REQUEST: the relayed copies `server` received and
/// the replies it sent.
fn copies_and_replies(run: &Finished, server: &str) -> BTreeMap<(u32, Vec<u8>, u8), (u32, u32)> {
    let log = run.log();
    let mut counts: BTreeMap<(u32, Vec<u8>, u8), (u32, u32)> = BTreeMap::new();
    for record in log.records() {
        if log.node_name(record.node) != server {
            continue;
        }
        match &record.kind {
            Kind::Receive { frame, .. } => {
                if let Some(request) = engine::decode::relayed_request(&frame.bytes())
                    && matches!(request.key.message_type, 1 | 3)
                {
                    let key = (
                        request.key.xid,
                        request.key.chaddr,
                        request.key.message_type,
                    );
                    counts.entry(key).or_default().0 += 1;
                }
            }
            Kind::Send { frame, .. } => {
                // An OFFER answers a DISCOVER (1), an ACK or NAK a REQUEST (3).
                if let Some(reply) = engine::decode::reply(&frame.bytes()) {
                    let asked = if reply.message_type == 2 { 1 } else { 3 };
                    counts
                        .entry((reply.xid, reply.chaddr, asked))
                        .or_default()
                        .1 += 1;
                }
            }
            _ => {}
        }
    }
    counts
}

#[test]
fn kea_multi_threaded_drops_a_third_copy_and_every_client_still_binds() {
    let (failing, fixed) = rates("kea-multi-threaded.yaml");
    assert_eq!((failing, fixed), (0.0, 0.0), "the clients still bind");
    let plan = scenario("kea-multi-threaded.yaml");
    let mut dropped = 0;
    let mut answered_each = 0;
    for seed in SEEDS {
        for (key, (copies, replies)) in copies_and_replies(&run(&plan, seed), "kea") {
            assert_eq!(copies, 3, "seed {seed} {key:?}: three routers relay");
            assert!((2..=3).contains(&replies), "seed {seed} {key:?}: {replies}");
            if replies == 2 {
                dropped += 1;
            } else {
                answered_each += 1;
            }
        }
    }
    assert!(
        dropped > 0 && answered_each > 0,
        "some third copies dropped ({dropped}), some answered ({answered_each})"
    );
    let fix = run(&scenario("kea-multi-threaded-fix.yaml"), 0);
    for (key, counts) in copies_and_replies(&fix, "kea") {
        assert_eq!(counts, (1, 1), "{key:?}");
    }
}

#[test]
fn firmware_that_skips_the_4011_request_fails_where_edk2_boots() {
    let (failing, fixed) = rates("firmware-no-4011.yaml");
    assert_eq!((failing, fixed), (1.0, 0.0));
    let wds = Ipv4Addr::new(10, 2, 0, 20);
    for seed in 0..10 {
        for (client, events) in client_events(&run(&scenario("firmware-no-4011.yaml"), seed)) {
            let acked = events
                .iter()
                .any(|event| matches!(event, ClientEvent::Ack { .. }));
            let asked_4011 = events.iter().any(|event| {
                matches!(event, ClientEvent::BootServerRequest { server, port: 4011, .. } if *server == wds)
            });
            let failed = events.iter().any(|event| {
                matches!(
                    event,
                    ClientEvent::Failed {
                        code: "PXE-E16",
                        ..
                    }
                )
            });
            assert!(
                acked,
                "seed {seed} {client}: every machine gets its address"
            );
            if client.starts_with("vendor") {
                assert!(!asked_4011 && failed, "seed {seed} {client}: {events:?}");
            } else {
                assert!(asked_4011 && !failed, "seed {seed} {client}: {events:?}");
            }
        }
    }
    // With options 66/67 the vendor machines read the file from WDS without asking port 4011.
    for (client, events) in client_events(&run(&scenario("firmware-no-4011-fix.yaml"), 0)) {
        let from_wds = events.iter().any(
            |event| matches!(event, ClientEvent::TftpRequest { server, .. } if *server == wds),
        );
        assert!(from_wds, "{client}: {events:?}");
    }
}

#[test]
fn tftp_blocks_larger_than_the_tunnel_mtu_are_dropped_at_the_hub() {
    let (failing, fixed) = rates("tftp-blksize-over-mtu.yaml");
    assert_eq!((failing, fixed), (1.0, 0.0));
    let world = run(&scenario("tftp-blksize-over-mtu.yaml"), 0);
    let too_big: Vec<u16> = drops(&world)
        .into_iter()
        .filter_map(|(node, reason)| match reason {
            DropReason::ExceedsMtu { size, mtu: 1400 } if node == "hub" => Some(size),
            _ => None,
        })
        .collect();
    // EDK2 asks 1468 (1500 bytes of IPv4), the BIOS clients 1456 (1488).
    assert!(
        too_big.contains(&1500) && too_big.contains(&1488),
        "{too_big:?}"
    );
    for (client, events) in client_events(&world) {
        let oack = events
            .iter()
            .any(|event| matches!(event, ClientEvent::TftpOptionAck { .. }));
        assert!(oack, "{client}: the small OACK crosses the tunnel");
    }
    let fixed = run(&scenario("tftp-blksize-over-mtu-fix.yaml"), 0);
    assert!(
        drops(&fixed)
            .iter()
            .all(|(_, reason)| !matches!(reason, DropReason::ExceedsMtu { .. }))
    );
    for (client, events) in client_events(&fixed) {
        assert!(
            events
                .iter()
                .any(|event| matches!(event, ClientEvent::TftpOptionAck { blksize: 1024, .. })),
            "{client}: MaximumBlockSize caps the block"
        );
    }
}

#[test]
fn a_relay_sourcing_from_the_server_side_gets_only_all_zero_offers_from_a_ris_box() {
    let (failing, fixed) = rates("relay-source-address.yaml");
    assert_eq!((failing, fixed), (1.0, 0.0));
    let ris = Ipv4Addr::new(10, 2, 0, 10);
    let world = run(&scenario("relay-source-address.yaml"), 0);
    for (client, servers) in offer_servers(&world) {
        assert!(
            !servers.is_empty() && servers.iter().all(|s| *s == ris),
            "{client}"
        );
    }
    for (client, events) in client_events(&world) {
        let addressed = events.iter().any(|event| {
            matches!(
                event,
                ClientEvent::Offer {
                    yiaddr: Some(_),
                    ..
                }
            )
        });
        assert!(
            !addressed,
            "{client}: RIS's offers carry no address: {events:?}"
        );
    }
    // The box received every copy from the router's server-side address.
    let log = world.log();
    let sources: Vec<Ipv4Addr> = log
        .records()
        .iter()
        .filter(|record| log.node_name(record.node) == "ris")
        .filter_map(|record| match &record.kind {
            Kind::Receive { frame, .. } => {
                let bytes = frame.bytes();
                engine::decode::relayed_request(&bytes)
                    .and_then(|_| engine::frame::parse(&bytes).ok())
                    .and_then(|parsed| parsed.ipv4.map(|ip| ip.src_addr))
            }
            _ => None,
        })
        .collect();
    assert!(!sources.is_empty());
    assert!(
        sources.iter().all(|s| *s == Ipv4Addr::new(10, 2, 0, 1)),
        "{sources:?}"
    );
}

#[test]
fn the_readme_table_lists_every_scenario_and_its_fix() {
    let readme = std::fs::read_to_string(crate::common::repo_path("README.md")).unwrap();
    let dir = crate::common::topology_path("scenarios");
    for file in lab::scenarios::scenario_files(&dir).unwrap() {
        let plan = topology::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let Some(scenario) = &plan.scenario else {
            continue;
        };
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let row = readme
            .lines()
            .find(|line| line.starts_with("| ") && line.contains(&format!("(`{name}`)")))
            .unwrap_or_else(|| panic!("README's scenario table has no row for {name}"));
        assert!(
            row.contains(&format!("(`{}`)", scenario.fix_file)),
            "{name}: the row names its fix"
        );
    }
}

/// The F5 GTM's monitor datagrams that reached WDS: `(time, UDP length, destination port)`.
fn monitor_datagrams(run: &Finished) -> Vec<(u64, u16, u16)> {
    let log = run.log();
    let monitor = Ipv4Addr::new(10, 3, 0, 5);
    log.records()
        .iter()
        .filter_map(|record| {
            let Kind::Receive { frame, .. } = &record.kind else {
                return None;
            };
            if log.node_name(record.node) != "wds" {
                return None;
            }
            let bytes = frame.bytes();
            let parsed = engine::frame::parse(&bytes).ok()?;
            let (udp, payload) = parsed.udp?;
            (parsed.ipv4?.src_addr == monitor).then(|| {
                assert_eq!(payload, b"default send string");
                (record.time_ns, 8 + payload.len() as u16, udp.dst_port)
            })
        })
        .collect()
}

/// WDS's crashes: `(time, wasm trap code)`.
fn wds_traps(run: &Finished) -> Vec<(u64, String)> {
    let log = run.log();
    log.records()
        .iter()
        .filter(|record| log.node_name(record.node) == "wds")
        .filter_map(|record| match &record.kind {
            Kind::Crash(crash) => match &**crash {
                engine::event::Crash::Failed(engine::Failure::Crashed(
                    engine::app::CrashCause::Trap { code },
                )) => Some((record.time_ns, code.clone())),
                engine::event::Crash::Failed(engine::Failure::Crashed(other)) => {
                    panic!("WDS crashed otherwise: {other}")
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn a_udp_monitor_probing_ports_67_and_4011_crashes_wds_at_each_probe() {
    let plan = scenario("wds-udp-monitor.yaml");
    let result = sweep(&plan);
    assert_eq!(result.crash_rate(), 1.0, "a probe comes in every run");
    // Intermittent for the machines: some boot between the probes, some do not.
    assert!(
        result.unbooted_runs > 0 && result.unbooted_runs < result.runs,
        "{} of {} runs with a client that did not boot",
        result.unbooted_runs,
        result.runs
    );
    let fix = sweep(&scenario("wds-udp-monitor-fix.yaml"));
    assert_eq!(
        (fix.crashed_runs, fix.unbooted_runs, fix.failing_seeds.len()),
        (0, 0, 0)
    );

    let mut later_failed = 0;
    for seed in SEEDS {
        let world = run(&plan, seed);
        let probes = monitor_datagrams(&world);
        let traps = wds_traps(&world);
        assert!(!traps.is_empty(), "seed {seed}");
        for (at_ns, code) in &traps {
            // Each crash is WDS's handling of a 27-byte monitor datagram on 67 or 4011 (just
            // received, or waiting for the CPU behind another request): an access beyond the
            // guest's memory.
            assert_eq!(code, "MemoryOutOfBounds", "seed {seed}");
            assert!(
                probes.iter().any(|(t, length, port)| {
                    *t <= *at_ns
                        && at_ns - t < 10_000_000
                        && *length == 27
                        && [67, 4011].contains(port)
                }),
                "seed {seed}: crash at {at_ns} ns without a probe: {probes:?}"
            );
        }
        // A machine switched on after the first crash, while WDS is down, does not boot.
        let first_crash_ns = traps[0].0;
        let restart_ns = first_crash_ns + 120_000_000_000;
        for (client, events) in client_events(&world) {
            let powered_on_ns = world
                .log()
                .records()
                .iter()
                .find(|r| {
                    world.log().node_name(r.node) == client
                        && matches!(&r.kind, Kind::Client(event) if matches!(**event, ClientEvent::PoweredOn { .. }))
                })
                .map(|r| r.time_ns)
                .unwrap();
            let booted = events
                .iter()
                .any(|event| matches!(event, ClientEvent::Booted { .. }));
            if powered_on_ns > first_crash_ns && powered_on_ns + 10_000_000_000 < restart_ns {
                assert!(!booted, "seed {seed} {client}");
                later_failed += 1;
            }
        }
    }
    assert!(later_failed > 0);

    // The fix's monitor still probes, only not the DHCP ports.
    let fixed = run(&scenario("wds-udp-monitor-fix.yaml"), 1);
    let probes = monitor_datagrams(&fixed);
    assert!(!probes.is_empty() && probes.iter().all(|(_, _, port)| *port == 161));
    assert!(wds_traps(&fixed).is_empty());

    // A parser that checks the header (the default, and WDS with the fix) ignores the probe.
    let checked = edited_plan(
        "scenarios/wds-udp-monitor.yaml",
        "scenarios/wds-udp-monitor.yaml",
        |text| text.replace("request_parser: unchecked", "request_parser: checked"),
    );
    let world = run(&checked, 1);
    assert!(
        monitor_datagrams(&world)
            .iter()
            .any(|(_, _, port)| *port == 67)
    );
    assert!(wds_traps(&world).is_empty());
    assert!(world.report().crashes.is_empty());
}
