//! The network topologies end to end: an HSRP failover mid-boot, three VRRP routers relaying,
//! option 82 on relayed requests, and relays that follow HSRP.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::common::{plan, run, services};
use dhcproto::v4::relay::{RelayCode, RelayInfo};
use dhcproto::v4::{DhcpOption, Message, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder};
use engine::Finished;
use engine::client::Outcome;
use engine::log::Kind;

const S: u64 = 1_000_000_000;

/// `(time, node, from, to)` of each redundancy state change on the client VLAN.
fn vlan10_transitions(world: &Finished) -> Vec<(u64, String, String, String)> {
    let log = world.log();
    log.records()
        .iter()
        .filter_map(|record| match &record.kind {
            Kind::Redundancy(change) if change.interface == "Vlan10" => Some((
                record.time_ns,
                log.node_name(record.node).to_string(),
                change.from.to_string(),
                change.to.to_string(),
            )),
            _ => None,
        })
        .collect()
}

/// DHCP messages a node received, decoded: `(time, message)`.
fn dhcp_received(world: &Finished, node: &str) -> Vec<(u64, Message)> {
    let log = world.log();
    log.records()
        .iter()
        .filter(|r| log.node_name(r.node) == node)
        .filter_map(|record| {
            let Kind::Receive { frame, .. } = &record.kind else {
                return None;
            };
            let bytes = frame.bytes();
            let parsed = engine::frame::parse(&bytes).ok()?;
            let (udp, payload) = parsed.udp?;
            matches!(udp.dst_port, 67 | 68).then_some(())?;
            Some((
                record.time_ns,
                Message::decode(&mut Decoder::new(payload)).ok()?,
            ))
        })
        .collect()
}

#[test]
fn hsrp_failover_the_standby_takes_over_and_every_client_still_boots() {
    let plan = plan("hsrp-failover.yaml");
    let (crash, recover, hello, hold) = (2_500_000_000, 40 * S, S, 3 * S);
    for seed in 0..30 {
        let world = run(&plan, seed);
        let report = world.report();
        for client in &report.clients {
            assert!(
                matches!(client.outcome, Outcome::Booted { .. }),
                "seed {seed}: {} {:?}",
                client.name,
                client.outcome
            );
        }
        let changes = vlan10_transitions(&world);
        let takeover = changes
            .iter()
            .find(|(_, node, from, to)| node == "r2" && from == "Standby" && to == "Active")
            .unwrap_or_else(|| panic!("seed {seed}: r2 never took over: {changes:#?}"))
            .0;
        assert!(
            (crash + hold - hello..=crash + hold + 1_000_000).contains(&takeover),
            "seed {seed}: takeover {} ms after the crash",
            (takeover - crash) / 1_000_000
        );
        // r1 boots cold at 40 s, hears r2 active with a lower priority, and preempts it.
        let preempt = changes
            .iter()
            .find(|(time, node, _, to)| *time >= recover && node == "r1" && to == "Active")
            .unwrap_or_else(|| panic!("seed {seed}: r1 did not preempt: {changes:#?}"));
        assert!(preempt.0 < recover + hold + hello);
        assert!(
            changes
                .iter()
                .any(|(time, node, from, _)| *time >= recover && node == "r2" && from == "Active")
        );
    }
}

#[test]
fn option_82_is_on_every_relayed_request_and_never_reaches_a_client() {
    let plan = plan("hsrp-failover.yaml");
    let world = run(&plan, 0);
    let giaddr_router = BTreeMap::from([
        (Ipv4Addr::new(10, 1, 0, 2), "r1"),
        (Ipv4Addr::new(10, 1, 0, 3), "r2"),
    ]);
    let mut relayed = 0;
    for (_, message) in dhcp_received(&world, "dhcp") {
        assert_eq!(message.opcode(), Opcode::BootRequest);
        let Some(DhcpOption::RelayAgentInformation(info)) =
            message.opts().get(OptionCode::RelayAgentInformation)
        else {
            panic!("relayed request without option 82: {message:?}");
        };
        let router = giaddr_router[&message.giaddr()];
        assert_eq!(
            info.get(RelayCode::AgentCircuitId),
            Some(&RelayInfo::AgentCircuitId(b"Vlan10".to_vec()))
        );
        assert_eq!(
            info.get(RelayCode::AgentRemoteId),
            Some(&RelayInfo::AgentRemoteId(router.as_bytes().to_vec()))
        );
        relayed += 1;
    }
    assert!(relayed > 10);
    // Clients see the relayed replies, stripped of option 82 (RFC 3046 2.2).
    let replies = dhcp_received(&world, "pc1");
    assert!(!replies.is_empty());
    for (_, message) in replies {
        assert!(
            message
                .opts()
                .get(OptionCode::RelayAgentInformation)
                .is_none()
        );
    }
}

#[test]
fn three_vrrp_routers_send_wds_three_copies_of_each_discover() {
    let plan = plan("vrrp-three-routers.yaml");
    let world = run(&plan, 1);
    let mut copies: BTreeMap<u32, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    for (_, message) in dhcp_received(&world, "wds") {
        copies
            .entry(message.xid())
            .or_default()
            .insert(message.giaddr());
    }
    assert!(!copies.is_empty());
    for (xid, giaddrs) in &copies {
        assert_eq!(giaddrs.len(), 3, "xid {xid:#x} arrived via {giaddrs:?}");
    }
    let result = lab::sweep(&plan, 0..200, 2, services()).unwrap();
    let baseline = lab::sweep(
        &crate::common::plan("kb2510665.yaml"),
        0..200,
        2,
        services(),
    )
    .unwrap();
    assert!(
        result.crashed_runs >= baseline.crashed_runs,
        "two duplicates per request crash no less often than one: {} vs {}",
        result.crashed_runs,
        baseline.crashed_runs
    );
}

#[test]
fn hsrp_aware_relays_send_wds_each_discover_once() {
    let plan = plan("kb2510665-hsrp-aware.yaml");
    for seed in 0..20 {
        let world = run(&plan, seed);
        let mut copies: BTreeMap<u32, BTreeSet<Ipv4Addr>> = BTreeMap::new();
        for (_, message) in dhcp_received(&world, "wds") {
            if !message.giaddr().is_unspecified() {
                copies
                    .entry(message.xid())
                    .or_default()
                    .insert(message.giaddr());
            }
        }
        for giaddrs in copies.values() {
            assert_eq!(
                giaddrs.iter().copied().collect::<Vec<_>>(),
                [Ipv4Addr::new(10, 1, 0, 2)],
                "seed {seed}: only the active router relays"
            );
        }
    }
}
