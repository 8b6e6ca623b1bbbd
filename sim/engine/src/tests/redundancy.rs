//! HSRP and VRRP on the wire: elections, preemption, failover times, and relays that follow the
//! redundancy state. Routers share a client LAN and a server LAN; taps stand in for hosts.

use std::net::Ipv4Addr;

use crate::frame;
use crate::log::{Kind, NodeId};
use crate::redundancy::{GratuitousArp, GroupConfig, Initial, Protocol};
use crate::router::{DEFAULT_FORWARD_UDP_PORTS, RouterConfig, RouterInterface};
use crate::scripted::Scripted;
use crate::world::{Attachment, Builder, Fault, Finished, LanConfig, Limits, Node};
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType};
use dhcproto::{Decodable, Decoder, Encodable};
use smoltcp::wire::EthernetAddress;

const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const VIP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 20);
const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x11]);

struct Member {
    priority: u8,
    initial: Initial,
}

struct Setup {
    protocol: Protocol,
    version: u8,
    hello_ns: u64,
    hold_ns: u64,
    preempt: bool,
    follow: bool,
    members: Vec<Member>,
    client_script: Vec<(u64, Vec<u8>)>,
    faults: Vec<(u64, Fault)>,
    until_ns: u64,
    gratuitous_arp: GratuitousArp,
}

impl Setup {
    fn new(protocol: Protocol, version: u8, members: Vec<Member>) -> Setup {
        let (hello_ns, hold_ns) = match protocol {
            Protocol::Hsrp => (3 * S, 10 * S),
            Protocol::Vrrp => (S, 0),
        };
        Setup {
            protocol,
            version,
            hello_ns,
            hold_ns,
            preempt: protocol == Protocol::Vrrp,
            follow: false,
            members,
            client_script: vec![],
            faults: vec![],
            until_ns: 60 * S,
            gratuitous_arp: GratuitousArp::default(),
        }
    }

    fn run(self) -> Finished {
        let limits = Limits {
            events_max: 1_000_000,
            sim_time_max_ns: self.until_ns,
        };
        let mut world = Builder::new(3, limits);
        let lan = || LanConfig::with_latency("uniform(10us, 50us)".parse().unwrap());
        let clients = world.add_lan("clients", lan());
        let servers = world.add_lan("servers", lan());
        for (index, member) in self.members.iter().enumerate() {
            let n = index as u8 + 1;
            let name = format!("r{n}");
            let client_ip = Ipv4Addr::new(10, 1, 0, 1 + n);
            let server_ip = Ipv4Addr::new(10, 2, 0, 1 + n);
            let client_mac = EthernetAddress([0x02, 0, 0, 1, n, 1]);
            let server_mac = EthernetAddress([0x02, 0, 0, 1, n, 2]);
            let group = GroupConfig {
                protocol: self.protocol,
                version: self.version,
                group: 10,
                virtual_ip: VIP,
                priority: member.priority,
                preempt: self.preempt,
                preempt_delay_ns: 0,
                hello_ns: self.hello_ns,
                hold_ns: self.hold_ns,
                initial: member.initial,
                gratuitous_arp: self.gratuitous_arp,
                use_vmac: true,
                advert_ident_per_group: false,
                advert_dont_fragment: true,
            };
            let vmac = group.virtual_mac();
            let config = RouterConfig {
                name: name.clone(),
                interfaces: vec![
                    RouterInterface {
                        name: "Vlan10".into(),
                        mac: client_mac,
                        ip: client_ip,
                        prefix_len: 24,
                        helpers: vec![SERVER_IP],
                        redundancy: Some(group),
                        helpers_follow_redundancy: self.follow,
                        option82: None,
                        secondary_ips: Vec::new(),
                        relay_each_address: false,
                    },
                    super::server_side(server_mac, server_ip),
                ],
                routes: vec![],
                relay_delay: timing::Distribution::constant(MS),
                relay_hops_max: 10,
                relay_secs_min: 0,
                forward_udp_ports: DEFAULT_FORWARD_UDP_PORTS.to_vec(),
                ttl: 255,
                relay_source: Default::default(),
            };
            let client_side = Attachment {
                virtual_macs: vec![(vmac, vec![VIP])],
                ..super::attachment(clients, client_mac, client_ip)
            };
            let server_side = super::attachment(servers, server_mac, server_ip);
            super::add_router(&mut world, &name, config, vec![client_side, server_side]);
        }
        let tap = super::attachment;
        world.add_node(
            "client",
            Node::Scripted(Scripted::new(self.client_script)),
            vec![tap(clients, CLIENT_MAC, Ipv4Addr::new(10, 1, 0, 50))],
            0,
        );
        world.add_node(
            "server",
            Node::Scripted(Scripted::new(vec![])),
            vec![tap(
                servers,
                EthernetAddress([0x02, 0, 0, 0, 0, 0x21]),
                SERVER_IP,
            )],
            0,
        );
        for (at_ns, fault) in self.faults {
            world.add_fault(at_ns, fault);
        }
        world.hold_until(self.until_ns);
        world.build().run()
    }
}

/// `(time, router, from, to)` for every redundancy state change in the run.
fn transitions(world: &Finished) -> Vec<(u64, String, String, String)> {
    let log = world.log();
    log.records()
        .iter()
        .filter_map(|record| {
            let Kind::Redundancy(change) = &record.kind else {
                return None;
            };
            Some((
                record.time_ns,
                log.node_name(record.node).to_string(),
                change.from.to_string(),
                change.to.to_string(),
            ))
        })
        .collect()
}

fn final_states(world: &Finished) -> Vec<String> {
    world
        .nodes()
        .filter_map(|(_, node)| match node {
            Node::Router(router) => Some(router.groups()[0].state().to_string()),
            _ => None,
        })
        .collect()
}

fn first_entry(world: &Finished, router: &str, state: &str, after_ns: u64) -> Option<u64> {
    transitions(world)
        .into_iter()
        .find(|(time, name, _, to)| *time >= after_ns && name == router && to == state)
        .map(|(time, ..)| time)
}

fn member(priority: u8, initial: Initial) -> Member {
    Member { priority, initial }
}

/// How long after the active router (of `priority`) crashes the backup (of priority 100) enters
/// `state`.
fn takeover_ns(protocol: Protocol, version: u8, priority: u8, state: &str) -> u64 {
    let mut setup = Setup::new(
        protocol,
        version,
        vec![
            member(priority, Initial::Active),
            member(100, Initial::Standby),
        ],
    );
    let crash_ns = 30 * S;
    setup.faults = vec![(
        crash_ns,
        Fault::Crash {
            node: NodeId::from_index(0),
        },
    )];
    let world = setup.run();
    first_entry(&world, "r2", state, 0).unwrap() - crash_ns
}

#[test]
fn hsrp_cold_start_elects_the_highest_priority_active_and_the_next_standby() {
    for version in [1, 2] {
        let mut setup = Setup::new(
            Protocol::Hsrp,
            version,
            vec![
                member(100, Initial::Cold),
                member(120, Initial::Cold),
                member(110, Initial::Cold),
            ],
        );
        setup.until_ns = 90 * S;
        let world = setup.run();
        assert_eq!(
            final_states(&world),
            ["Listen", "Active", "Standby"],
            "HSRP v{version}: {:#?}",
            transitions(&world)
        );
        // A cold start takes about two hold times: Listen, then Speak, then Standby/Active.
        let active_at = first_entry(&world, "r2", "Active", 0).unwrap();
        assert!((10 * S..=40 * S).contains(&active_at), "{active_at}");
    }
}

#[test]
fn hsrp_standby_takes_over_within_one_hello_of_the_hold_time() {
    for version in [1, 2] {
        let takeover = takeover_ns(Protocol::Hsrp, version, 110, "Active");
        let (hello, hold) = (3 * S, 10 * S);
        assert!(
            (hold - hello..=hold + MS).contains(&takeover),
            "v{version}: takeover {takeover} ns after the crash"
        );
    }
}

#[test]
fn hsrp_preemption_takes_back_the_active_role_only_when_configured() {
    for preempt in [true, false] {
        let mut setup = Setup::new(
            Protocol::Hsrp,
            2,
            vec![member(110, Initial::Active), member(100, Initial::Standby)],
        );
        setup.preempt = preempt;
        setup.until_ns = 120 * S;
        setup.faults = vec![
            (
                20 * S,
                Fault::Crash {
                    node: NodeId::from_index(0),
                },
            ),
            (
                50 * S,
                Fault::Recover {
                    node: NodeId::from_index(0),
                },
            ),
        ];
        let world = setup.run();
        let expected = if preempt {
            ["Active", "Standby"]
        } else {
            ["Standby", "Active"]
        };
        assert_eq!(
            final_states(&world),
            expected,
            "preempt {preempt}: {:#?}",
            transitions(&world)
        );
        let coups = world
            .log()
            .records()
            .iter()
            .filter(|record| match &record.kind {
                Kind::Send { frame, .. } => frame::parse(&frame.bytes())
                    .ok()
                    .and_then(|parsed| parsed.udp.map(|(_, payload)| payload.to_vec()))
                    .and_then(|payload| {
                        wire::hsrp::Repr::parse(
                            &wire::hsrp::Packet::new_checked(&payload[..]).ok()?,
                        )
                        .ok()
                    })
                    .is_some_and(|message| message.op_code == wire::hsrp::OpCode::Coup),
                _ => false,
            })
            .count();
        assert_eq!(coups > 0, preempt, "a coup is sent exactly when preempting");
    }
}

#[test]
fn vrrp_backup_takes_over_after_master_down_interval() {
    for version in [2, 3] {
        let takeover = takeover_ns(Protocol::Vrrp, version, 200, "Master");
        // Master_Down_Interval = 3 * 1 s + (256 - 100) / 256 s = 3.609375 s.
        let master_down = 3 * S + 156 * S / 256;
        assert!(
            (master_down - S..=master_down + MS).contains(&takeover),
            "v{version}: takeover {takeover} ns after the crash"
        );
    }
}

#[test]
fn vrrp_three_routers_the_next_highest_priority_becomes_master() {
    let mut setup = Setup::new(
        Protocol::Vrrp,
        3,
        vec![
            member(150, Initial::Active),
            member(100, Initial::Standby),
            member(120, Initial::Standby),
        ],
    );
    setup.faults = vec![
        (
            20 * S,
            Fault::Crash {
                node: NodeId::from_index(0),
            },
        ),
        (
            40 * S,
            Fault::Recover {
                node: NodeId::from_index(0),
            },
        ),
    ];
    let world = setup.run();
    let t = transitions(&world);
    let r3 = first_entry(&world, "r3", "Master", 20 * S).unwrap();
    assert!(first_entry(&world, "r2", "Master", 0).is_none(), "{t:#?}");
    assert!(r3 < 25 * S);
    // Preemption is VRRP's default: r1 is master again after it boots.
    assert_eq!(
        final_states(&world),
        ["Master", "Backup", "Backup"],
        "{t:#?}"
    );
}

fn discover(xid: u32) -> Vec<u8> {
    let mut message = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &CLIENT_MAC.0,
    );
    message.set_flags(Flags::default().set_broadcast());
    message
        .opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Discover));
    super::client_broadcast(CLIENT_MAC, &message.to_vec().unwrap())
}

/// `(time, giaddr)` of every relayed DHCP message the server received.
fn relayed(world: &Finished) -> Vec<(u64, Ipv4Addr)> {
    world
        .nodes()
        .find_map(|(name, node)| match node {
            Node::Scripted(tap) if name == "server" => Some(&tap.received),
            _ => None,
        })
        .unwrap()
        .iter()
        .filter_map(|(time, bytes)| {
            let parsed = frame::parse(bytes).ok()?;
            let (udp, payload) = parsed.udp?;
            (udp.dst_port == 67).then_some(())?;
            let message = Message::decode(&mut Decoder::new(payload)).ok()?;
            Some((*time, message.giaddr()))
        })
        .collect()
}

#[test]
fn relays_that_follow_redundancy_are_silent_while_standby_and_relay_after_takeover() {
    let r1 = Ipv4Addr::new(10, 1, 0, 2);
    let r2 = Ipv4Addr::new(10, 1, 0, 3);
    for follow in [true, false] {
        let mut setup = Setup::new(
            Protocol::Hsrp,
            1,
            vec![member(110, Initial::Active), member(100, Initial::Standby)],
        );
        setup.follow = follow;
        setup.client_script = (0..40)
            .map(|i| (i * S + S / 2, discover(i as u32)))
            .collect();
        let crash_ns = 10 * S;
        setup.faults = vec![(
            crash_ns,
            Fault::Crash {
                node: NodeId::from_index(0),
            },
        )];
        let world = setup.run();
        let takeover = first_entry(&world, "r2", "Active", 0).unwrap();
        let copies = relayed(&world);
        let before: Vec<_> = copies.iter().filter(|(t, _)| *t < crash_ns).collect();
        let during: Vec<_> = copies
            .iter()
            .filter(|(t, _)| (crash_ns..takeover).contains(t))
            .collect();
        let after: Vec<_> = copies.iter().filter(|(t, _)| *t > takeover).collect();
        if follow {
            assert!(before.iter().all(|(_, giaddr)| *giaddr == r1), "{before:?}");
            assert_eq!(before.len(), 10);
            assert!(
                during.is_empty(),
                "nobody relays between crash and takeover"
            );
            assert!(after.iter().all(|(_, giaddr)| *giaddr == r2));
            let sent_after = (0..40u64).filter(|i| i * S + S / 2 > takeover).count();
            assert_eq!(after.len(), sent_after);
        } else {
            // Both routers relay every DISCOVER: the KB2510665 duplicates.
            assert_eq!(before.len(), 20);
            assert!(before.iter().any(|(_, giaddr)| *giaddr == r2));
            assert!(
                !during.is_empty(),
                "the standby relays even before it takes over"
            );
        }
    }
}

/// `(time, sender MAC)` of every gratuitous ARP for the virtual IP sent by `router`.
fn announcements(world: &Finished, router: &str) -> Vec<(u64, EthernetAddress)> {
    let log = world.log();
    log.records()
        .iter()
        .filter(|r| log.node_name(r.node) == router)
        .filter_map(|r| match &r.kind {
            Kind::Send { frame, .. } => match crate::arp::parse(&frame.bytes())? {
                smoltcp::wire::ArpRepr::EthernetIpv4 {
                    source_hardware_addr,
                    source_protocol_addr,
                    target_protocol_addr,
                    ..
                } if source_protocol_addr == VIP && target_protocol_addr == VIP => {
                    Some((r.time_ns, source_hardware_addr))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_master_announces_the_virtual_ip_as_often_as_configured() {
    let crash_ns = 10 * S;
    for (garp, expected) in [
        (GratuitousArp::default(), vec![0]),
        // keepalived: 5 at once, 5 more after vrrp_garp_master_delay (5 s).
        (
            GratuitousArp {
                count: 5,
                repeat: 5,
                repeat_after_ns: 5 * S,
                target_broadcast: true,
            },
            vec![0, 0, 0, 0, 0, 5 * S, 5 * S, 5 * S, 5 * S, 5 * S],
        ),
    ] {
        let mut setup = Setup::new(
            Protocol::Vrrp,
            2,
            vec![member(110, Initial::Active), member(100, Initial::Standby)],
        );
        setup.gratuitous_arp = garp;
        setup.faults = vec![(
            crash_ns,
            Fault::Crash {
                node: NodeId::from_index(0),
            },
        )];
        let world = setup.run();
        // A network converged before the run announced nothing at time zero.
        assert!(announcements(&world, "r1").is_empty());
        let sent = announcements(&world, "r2");
        let master = first_entry(&world, "r2", "Master", crash_ns).unwrap();
        let offsets: Vec<u64> = sent.iter().map(|(t, _)| t - master).collect();
        assert_eq!(offsets, expected);
        let vmac = EthernetAddress([0, 0, 0x5e, 0, 1, 10]);
        assert!(sent.iter().all(|(_, mac)| *mac == vmac));
    }
}

#[test]
fn a_clean_shutdown_hands_over_after_skew_time_not_master_down_interval() {
    let shutdown_ns = 10 * S;
    let mut setup = Setup::new(
        Protocol::Vrrp,
        2,
        vec![member(110, Initial::Active), member(100, Initial::Standby)],
    );
    setup.faults = vec![(
        shutdown_ns,
        Fault::Shutdown {
            node: NodeId::from_index(0),
        },
    )];
    let world = setup.run();
    let takeover = first_entry(&world, "r2", "Master", shutdown_ns).unwrap() - shutdown_ns;
    // Skew_Time = (256 - 100) / 256 * 1 s, after a LAN hop for the priority-0 advert.
    let skew = 156 * S / 256;
    assert!((skew..skew + MS).contains(&takeover), "{takeover} ns");
}

#[test]
fn vrrp_advertisements_carry_dscp_48_and_counting_ip_ids() {
    let setup = Setup::new(
        Protocol::Vrrp,
        3,
        vec![member(110, Initial::Active), member(100, Initial::Standby)],
    );
    let world = setup.run();
    let log = world.log();
    let adverts: Vec<(u8, u16)> = log
        .records()
        .iter()
        .filter(|r| log.node_name(r.node) == "r1")
        .filter_map(|r| match &r.kind {
            Kind::Send { frame, .. } => {
                let bytes = frame.bytes();
                let parsed = crate::frame::parse(&bytes).ok()?;
                let ip = parsed.ipv4?;
                (ip.dst_addr == wire::vrrp::GROUP_ADDR).then(|| {
                    let packet =
                        smoltcp::wire::Ipv4Packet::new_checked(parsed.ipv4_packet).unwrap();
                    (packet.dscp(), packet.ident())
                })
            }
            _ => None,
        })
        .collect();
    assert!(adverts.len() > 10);
    assert!(adverts.iter().all(|(dscp, _)| *dscp == 48));
    for pair in adverts.windows(2) {
        assert!(pair[1].1 > pair[0].1, "IP ids count up: {adverts:?}");
    }
}
