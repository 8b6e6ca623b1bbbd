//! LAN behaviour: latency, loss, duplication and reordering drawn from their own streams, FIFO
//! order between a pair of ports otherwise, links that go down and up, and impairments changed
//! by the fault timeline.

use std::net::Ipv4Addr;

use crate::bridge::Bridge;
use crate::event::DropReason;
use crate::frame::UdpFrame;
use crate::log::{Kind, LanId, NodeId};
use crate::scripted::Scripted;
use crate::world::{
    Attachment, Builder, Fault, Finished, LanChange, LanConfig, Limits, Node, World,
};
use smoltcp::wire::EthernetAddress;

const A: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xa]);
const B: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xb]);
const FRAMES: u64 = 2000;
const GAP_NS: u64 = 10_000;

fn numbered(n: u64) -> Vec<u8> {
    UdpFrame {
        src_mac: A,
        dst_mac: B,
        src_ip: Ipv4Addr::new(10, 0, 0, 1),
        dst_ip: Ipv4Addr::new(10, 0, 0, 2),
        src_port: 9,
        dst_port: 9,
        ttl: 64,
        payload: &n.to_be_bytes(),
    }
    .to_bytes()
    .unwrap()
}

/// Sends `FRAMES` numbered frames from A to B, one every 10 us; returns the numbers B got, in
/// arrival order, and the world.
fn run(seed: u64, config: LanConfig, faults: Vec<(u64, Fault)>) -> (Vec<u64>, Finished) {
    let mut world = Builder::new(seed, Limits::default());
    let lan = world.add_lan("lan", config);
    let attach = |mac| Attachment {
        lan,
        mac,
        addresses: vec![],
        virtual_macs: vec![],
    };
    let script = (0..FRAMES).map(|n| (n * GAP_NS, numbered(n))).collect();
    world.add_node(
        "a",
        Node::Scripted(Scripted::new(script)),
        vec![attach(A)],
        0,
    );
    world.add_node(
        "b",
        Node::Scripted(Scripted::new(vec![])),
        vec![attach(B)],
        0,
    );
    for (at_ns, fault) in faults {
        world.add_fault(at_ns, fault);
    }
    let world = world.build().run();
    let got = world
        .nodes()
        .find_map(|(name, node)| match node {
            Node::Scripted(tap) if name == "b" => Some(
                tap.received
                    .iter()
                    .map(|(_, frame)| {
                        let payload = &frame[frame.len() - 8..];
                        u64::from_be_bytes(payload.try_into().unwrap())
                    })
                    .collect(),
            ),
            _ => None,
        })
        .unwrap();
    (got, world)
}

fn config(latency: &str) -> LanConfig {
    LanConfig::with_latency(latency.parse().unwrap())
}

fn inversions(got: &[u64]) -> usize {
    got.windows(2).filter(|pair| pair[1] < pair[0]).count()
}

#[test]
fn jitter_alone_never_reorders_frames_between_two_ports() {
    let (got, _) = run(1, config("uniform(1us, 500us)"), vec![]);
    assert_eq!(got, (0..FRAMES).collect::<Vec<_>>());
}

#[test]
fn loss_duplication_and_reordering_happen_at_their_rates() {
    let mut lossy = config("20us");
    lossy.loss = 0.1;
    let (got, world) = run(1, lossy, vec![]);
    let lost = FRAMES as usize - got.len();
    assert!(
        (120..=280).contains(&lost),
        "lost {lost} of {FRAMES} at 10%"
    );
    let logged = world
        .log()
        .records()
        .iter()
        .filter(|r| matches!(&r.kind, Kind::Drop { reason, .. } if matches!(&**reason, DropReason::Lost { lan } if lan == "lan")))
        .count();
    assert_eq!(logged, lost, "every loss is in the event log");

    let mut doubled = config("20us");
    doubled.duplicate = 0.1;
    let (got, _) = run(1, doubled, vec![]);
    let extra = got.len() - FRAMES as usize;
    assert!((120..=280).contains(&extra), "{extra} duplicates at 10%");

    let mut shuffled = config("20us");
    shuffled.reorder = 0.1;
    shuffled.reorder_delay = "50us".parse().unwrap();
    let (got, _) = run(1, shuffled, vec![]);
    assert_eq!(got.len(), FRAMES as usize);
    let out_of_order = inversions(&got);
    assert!(
        (120..=280).contains(&out_of_order),
        "{out_of_order} inversions"
    );
}

#[test]
fn impairments_do_not_shift_each_others_draws() {
    // Loss draws come from their own stream: turning duplication on keeps the same losses.
    let mut lossy = config("uniform(10us, 30us)");
    lossy.loss = 0.2;
    let (lost_only, _) = run(9, lossy.clone(), vec![]);
    lossy.duplicate = 0.3;
    let (lost_and_doubled, _) = run(9, lossy, vec![]);
    let mut distinct = lost_and_doubled.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, lost_only);
}

#[test]
fn a_link_down_drops_frames_until_it_comes_back() {
    let faults = vec![
        (
            5_000_000,
            Fault::Link {
                node: NodeId::from_index(1),
                interface: 0,
                up: false,
            },
        ),
        (
            10_000_000,
            Fault::Link {
                node: NodeId::from_index(1),
                interface: 0,
                up: true,
            },
        ),
    ];
    let (got, world) = run(1, config("20us"), faults);
    // Frames sent from 5 ms (minus latency) to 10 ms (minus latency) are lost: about 500.
    assert!(got.len() < FRAMES as usize - 490 && got.len() > FRAMES as usize - 510);
    assert!(got.contains(&0) && got.contains(&(FRAMES - 1)));
    assert!(world.log().records().iter().any(|r| matches!(
        &r.kind,
        Kind::Drop { reason, .. } if **reason == DropReason::LinkDown
    )));
}

#[test]
fn the_fault_timeline_changes_a_lan_mid_run() {
    let change = LanChange {
        loss: Some(1.0),
        ..LanChange::default()
    };
    let (got, world) = run(
        1,
        config("20us"),
        vec![(
            10_000_000,
            Fault::Lan {
                lan: LanId::from_index(0),
                change,
            },
        )],
    );
    // Everything sent before 10 ms arrives, nothing after.
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
    let log = world.log();
    assert!(log.records().iter().any(|r| matches!(&r.kind,
        Kind::Network(change) if change.lan == "lan" && log.node_name(r.node) == "network")));
}

/// A world with a bridge `outside` and a tap `inside` on one LAN; the tap sends `script`.
fn bridged(script: Vec<(u64, Vec<u8>)>) -> (World, NodeId) {
    let mut world = Builder::new(1, Limits::default());
    let lan = world.add_lan(
        "lan",
        LanConfig::with_latency(timing::Distribution::constant(5_000)),
    );
    let attach = |mac| Attachment {
        lan,
        mac,
        addresses: vec![],
        virtual_macs: vec![],
    };
    let outside = world.add_node("outside", Node::Bridge(Bridge::new()), vec![attach(A)], 0);
    world.add_node(
        "inside",
        Node::Scripted(Scripted::new(script)),
        vec![attach(B)],
        0,
    );
    (world.build(), outside)
}

fn tap_received(run: &Finished, name: &str) -> Vec<(u64, Vec<u8>)> {
    run.nodes()
        .find_map(|(node, kind)| match kind {
            Node::Scripted(tap) if node == name => Some(
                tap.received
                    .iter()
                    .map(|(at, frame)| (*at, frame.to_vec()))
                    .collect(),
            ),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_bridge_puts_injected_frames_on_the_lan_unaltered_and_keeps_what_the_lan_delivers() {
    let reply = numbered(7);
    let (mut world, outside) = bridged(vec![(50_000, reply.clone())]);
    // Nothing is due before 20 us: time passes anyway, and the frame enters at 20 us.
    world.step_until(20_000).unwrap();
    assert_eq!(world.now_ns(), 20_000);
    let mut injected = numbered(1);
    // An IPv4 identification the engine would renumber on a node's own send.
    injected[18..20].copy_from_slice(&[0xbe, 0xef]);
    world.inject(outside, injected.clone());
    world.step_until(100_000).unwrap();
    let drained = world.drain(outside);
    assert_eq!(drained.len(), 1);
    assert_eq!(drained[0].0, 55_000, "sent at 50 us, 5 us of LAN");
    // The tap's frame as the LAN carried it (the tap's host numbered its IPv4 identification).
    assert_eq!(drained[0].1.len(), reply.len());
    assert_eq!(drained[0].1[34..], reply[34..], "UDP header and payload");
    assert!(world.drain(outside).is_empty(), "drained once");
    // Idle, but a stepped world is not over: the outside may still send.
    world.step_until(1_000_000).unwrap();
    assert_eq!(world.now_ns(), 1_000_000);
    let run = world.finish(crate::world::StopReason::Stopped);
    assert_eq!(tap_received(&run, "inside"), [(25_000, injected)]);
    assert_eq!(run.stop(), crate::world::StopReason::Stopped);
}

#[test]
fn the_same_injections_at_the_same_times_make_the_same_run() {
    let drive = |times: &[u64]| {
        let (mut world, outside) = bridged(vec![(30_000, numbered(9))]);
        for (n, &at) in times.iter().enumerate() {
            world.step_until(at).unwrap();
            world.inject(outside, numbered(n as u64));
        }
        world.step_until(200_000).unwrap();
        world
            .finish(crate::world::StopReason::Stopped)
            .log()
            .digest()
    };
    let a = drive(&[10_000, 30_000, 30_000, 70_000]);
    assert_eq!(a, drive(&[10_000, 30_000, 30_000, 70_000]));
    assert_ne!(a, drive(&[10_000, 30_001, 30_001, 70_000]));
}

#[test]
fn stepping_past_the_time_limit_ends_the_run_there() {
    let (mut world, _) = bridged(vec![]);
    world.set_limits(Limits {
        sim_time_max_ns: 1_000_000,
        ..Limits::default()
    });
    world.step_until(900_000).unwrap();
    assert_eq!(
        world.step_until(2_000_000),
        Err(crate::world::StopReason::SimTimeLimit)
    );
}
