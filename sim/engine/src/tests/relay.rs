//! The router's DHCP relay and forwarding, bytes in and bytes out: taps put exact frames on
//! each LAN and record what the router sends back (RFC 1542 section 4, RFC 2131 section 4.1).

use std::net::Ipv4Addr;
use std::rc::Rc;

use crate::frame::{self, UdpFrame};
use crate::log::Kind;
use crate::router::{DEFAULT_FORWARD_UDP_PORTS, Option82, RouterConfig, RouterInterface};
use crate::scripted::Scripted;
use crate::world::{Builder, Finished, LanConfig, Limits, Node};
use dhcproto::v4::relay::{RelayCode, RelayInfo};
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use smoltcp::wire::EthernetAddress;

const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x11]);
const CLIENT_TAP_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x12]);
const SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x21]);
const ROUTER_CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 1, 1]);
const ROUTER_SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 1, 2]);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 20);
const GIADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const RELAY_DELAY_NS: u64 = 1_000_000;

type Frames = Vec<Rc<[u8]>>;

fn dhcp(opcode: Opcode, giaddr: Ipv4Addr, hops: u8, broadcast: bool, yiaddr: Ipv4Addr) -> Vec<u8> {
    let mut message = Message::new_with_id(
        0x1234_5678,
        Ipv4Addr::UNSPECIFIED,
        yiaddr,
        Ipv4Addr::UNSPECIFIED,
        giaddr,
        &CLIENT_MAC.0,
    );
    message.set_opcode(opcode).set_hops(hops);
    if broadcast {
        message.set_flags(Flags::default().set_broadcast());
    }
    let kind = if opcode == Opcode::BootRequest {
        MessageType::Discover
    } else {
        MessageType::Offer
    };
    message.opts_mut().insert(DhcpOption::MessageType(kind));
    message.to_vec().unwrap()
}

fn client_broadcast(payload: &[u8]) -> Vec<u8> {
    super::client_broadcast(CLIENT_TAP_MAC, payload)
}

fn from_server(dst_ip: Ipv4Addr, dst_port: u16, ttl: u8, payload: &[u8]) -> Vec<u8> {
    UdpFrame {
        src_mac: SERVER_MAC,
        dst_mac: ROUTER_SERVER_MAC,
        src_ip: SERVER_IP,
        dst_ip,
        src_port: 67,
        dst_port,
        ttl,
        payload,
    }
    .to_bytes()
    .unwrap()
}

/// Two LANs, one router relaying to `SERVER_IP`, a tap on each side. Returns (client side,
/// server side) frames received by the taps, and the world for its log.
fn run(
    client_script: Vec<(u64, Vec<u8>)>,
    server_script: Vec<(u64, Vec<u8>)>,
) -> (Frames, Frames, Finished) {
    run_with(None, client_script, server_script)
}

fn run_with(
    option82: Option<Option82>,
    client_script: Vec<(u64, Vec<u8>)>,
    server_script: Vec<(u64, Vec<u8>)>,
) -> (Frames, Frames, Finished) {
    run_configured(
        |config| config.interfaces[0].option82 = option82,
        client_script,
        server_script,
    )
}

/// `run` with the router's configuration changed by `configure` first.
fn run_configured(
    configure: impl FnOnce(&mut RouterConfig),
    client_script: Vec<(u64, Vec<u8>)>,
    server_script: Vec<(u64, Vec<u8>)>,
) -> (Frames, Frames, Finished) {
    let mut world = Builder::new(1, Limits::default());
    let lan = || LanConfig::with_latency("10us".parse().unwrap());
    let clients = world.add_lan("clients", lan());
    let servers = world.add_lan("servers", lan());
    let mut config = RouterConfig {
        name: "r1".into(),
        interfaces: vec![
            RouterInterface {
                name: "Vlan10".into(),
                mac: ROUTER_CLIENT_MAC,
                ip: GIADDR,
                prefix_len: 24,
                helpers: vec![SERVER_IP],
                redundancy: None,
                helpers_follow_redundancy: false,
                option82: None,
                secondary_ips: Vec::new(),
                relay_each_address: false,
            },
            super::server_side(ROUTER_SERVER_MAC, Ipv4Addr::new(10, 2, 0, 2)),
        ],
        routes: vec![],
        relay_delay: timing::Distribution::constant(RELAY_DELAY_NS),
        relay_hops_max: 10,
        relay_secs_min: 0,
        forward_udp_ports: DEFAULT_FORWARD_UDP_PORTS.to_vec(),
        ttl: 255,
        relay_source: Default::default(),
    };
    configure(&mut config);
    let attach = super::attachment;
    let router_sides = vec![
        attach(clients, ROUTER_CLIENT_MAC, GIADDR),
        attach(servers, ROUTER_SERVER_MAC, Ipv4Addr::new(10, 2, 0, 2)),
    ];
    super::add_router(&mut world, "r1", config, router_sides);
    world.add_node(
        "client-tap",
        Node::Scripted(Scripted::new(client_script)),
        vec![attach(clients, CLIENT_TAP_MAC, Ipv4Addr::new(10, 1, 0, 9))],
        0,
    );
    world.add_node(
        "server-tap",
        Node::Scripted(Scripted::new(server_script)),
        vec![attach(servers, SERVER_MAC, SERVER_IP)],
        0,
    );
    let world = world.build().run();
    let received = |name: &str| -> Vec<Rc<[u8]>> {
        world
            .nodes()
            .find_map(|(n, node)| match node {
                Node::Scripted(tap) if n == name => {
                    // The world's ARP (which answers for the taps) is not what these test.
                    Some(
                        tap.received
                            .iter()
                            .map(|(_, f)| f.clone())
                            .filter(|f| !crate::arp::is_arp(f))
                            .collect(),
                    )
                }
                _ => None,
            })
            .unwrap()
    };
    let (client_side, server_side) = (received("client-tap"), received("server-tap"));
    (client_side, server_side, world)
}

fn decode(frame: &[u8]) -> (frame::Parsed<'_>, Message) {
    let parsed = frame::parse(frame).unwrap();
    let (_, payload) = parsed.udp.unwrap();
    let message = Message::decode(&mut Decoder::new(payload)).unwrap();
    (parsed, message)
}

fn drops(world: &Finished) -> Vec<String> {
    world
        .log()
        .records()
        .iter()
        .filter_map(|r| match &r.kind {
            Kind::Drop { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_client_broadcast_is_relayed_once_per_helper_with_giaddr_and_hops() {
    let discover = dhcp(
        Opcode::BootRequest,
        Ipv4Addr::UNSPECIFIED,
        0,
        true,
        Ipv4Addr::UNSPECIFIED,
    );
    let (_, server_side, world) = run(vec![(0, client_broadcast(&discover))], vec![]);
    assert_eq!(server_side.len(), 1);
    let (parsed, message) = decode(&server_side[0]);
    let ip = parsed.ipv4.unwrap();
    assert_eq!(
        (ip.src_addr, ip.dst_addr),
        (Ipv4Addr::new(10, 2, 0, 2), SERVER_IP)
    );
    assert_eq!(parsed.ethernet.dst_addr, SERVER_MAC);
    assert_eq!(parsed.udp.unwrap().0.src_port, 67);
    assert_eq!(message.giaddr(), GIADDR);
    assert_eq!(message.hops(), 1);
    assert_eq!(message.xid(), 0x1234_5678);
    // Sent after the control-plane delay and the router's ARP for the server (request and
    // reply): receive time = client send + LAN + relay + 2 LAN + LAN.
    let log = world.log();
    let arrival = log
        .records()
        .iter()
        .rev()
        .find(|r| matches!(r.kind, Kind::Receive { .. }))
        .unwrap();
    assert_eq!(arrival.time_ns, 10_000 + RELAY_DELAY_NS + 3 * 10_000);
}

#[test]
fn an_already_relayed_message_keeps_its_giaddr_and_counts_the_hop() {
    let upstream = Ipv4Addr::new(10, 9, 9, 9);
    let discover = dhcp(
        Opcode::BootRequest,
        upstream,
        3,
        true,
        Ipv4Addr::UNSPECIFIED,
    );
    let (_, server_side, _) = run(vec![(0, client_broadcast(&discover))], vec![]);
    let (_, message) = decode(&server_side[0]);
    assert_eq!(message.giaddr(), upstream);
    assert_eq!(message.hops(), 4);
}

#[test]
fn a_message_at_the_hop_limit_is_dropped() {
    let discover = dhcp(
        Opcode::BootRequest,
        Ipv4Addr::UNSPECIFIED,
        10,
        true,
        Ipv4Addr::UNSPECIFIED,
    );
    let (_, server_side, world) = run(vec![(0, client_broadcast(&discover))], vec![]);
    assert!(server_side.is_empty());
    assert!(
        drops(&world).iter().any(|r| r.contains("hops 10")),
        "{:?}",
        drops(&world)
    );
}

#[test]
fn replies_go_back_by_broadcast_or_unicast_as_the_flag_says() {
    let yiaddr = Ipv4Addr::new(10, 1, 0, 50);
    let broadcast = dhcp(Opcode::BootReply, GIADDR, 1, true, yiaddr);
    let unicast = dhcp(Opcode::BootReply, GIADDR, 1, false, yiaddr);
    let script = vec![
        (0, from_server(GIADDR, 67, 64, &broadcast)),
        (5_000_000, from_server(GIADDR, 67, 64, &unicast)),
    ];
    let (client_side, _, _) = run(vec![], script);
    assert_eq!(client_side.len(), 2, "both replies reach the client LAN");
    let (first, _) = decode(&client_side[0]);
    assert_eq!(first.ethernet.dst_addr, EthernetAddress::BROADCAST);
    assert_eq!(first.ipv4.unwrap().dst_addr, Ipv4Addr::BROADCAST);
    let (second, _) = decode(&client_side[1]);
    assert_eq!(second.ethernet.dst_addr, CLIENT_MAC, "unicast to chaddr");
    assert_eq!(second.ipv4.unwrap().dst_addr, yiaddr, "unicast to yiaddr");
    for (parsed, _) in [decode(&client_side[0]), decode(&client_side[1])] {
        let (udp, _) = parsed.udp.unwrap();
        assert_eq!((udp.src_port, udp.dst_port), (67, 68));
        assert_eq!(parsed.ipv4.unwrap().src_addr, GIADDR);
    }
}

#[test]
fn garbage_and_expired_packets_are_dropped_not_fatal() {
    let garbage = client_broadcast(&[0xff; 7]);
    let mut bad_hlen = dhcp(
        Opcode::BootRequest,
        Ipv4Addr::UNSPECIFIED,
        0,
        true,
        Ipv4Addr::UNSPECIFIED,
    );
    bad_hlen[2] = 200;
    let mut truncated = client_broadcast(&bad_hlen);
    let bad_hlen_frame = truncated.clone();
    truncated.truncate(20);
    let expired = from_server(Ipv4Addr::new(10, 1, 0, 9), 5000, 1, b"late");
    let (_, server_side, world) = run(
        vec![(0, garbage), (1_000, bad_hlen_frame), (2_000, truncated)],
        vec![(0, expired)],
    );
    assert!(server_side.is_empty());
    let reasons = drops(&world);
    for reason in [
        "malformed DHCP",
        "hlen 200",
        "malformed frame",
        "TTL exceeded",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(reason)),
            "{reason}: {reasons:?}"
        );
    }
}

fn option82_of(message: &Message) -> Option<(Vec<u8>, Vec<u8>)> {
    let Some(DhcpOption::RelayAgentInformation(info)) =
        message.opts().get(OptionCode::RelayAgentInformation)
    else {
        return None;
    };
    let get = |code| match info.get(code) {
        Some(RelayInfo::AgentCircuitId(bytes) | RelayInfo::AgentRemoteId(bytes)) => bytes.clone(),
        _ => vec![],
    };
    Some((
        get(RelayCode::AgentCircuitId),
        get(RelayCode::AgentRemoteId),
    ))
}

#[test]
fn option_82_is_added_exactly_when_this_relay_sets_giaddr_and_stripped_from_replies() {
    let option82 = Some(Option82 {
        circuit_id: b"Vlan10".to_vec(),
        remote_id: b"r1".to_vec(),
    });
    let first_hop = client_broadcast(&dhcp(
        Opcode::BootRequest,
        Ipv4Addr::UNSPECIFIED,
        0,
        true,
        Ipv4Addr::UNSPECIFIED,
    ));
    let second_hop = client_broadcast(&dhcp(
        Opcode::BootRequest,
        Ipv4Addr::new(10, 9, 0, 1),
        1,
        true,
        Ipv4Addr::UNSPECIFIED,
    ));
    let (_, to_servers, _) = run_with(
        option82.clone(),
        vec![(0, first_hop), (10_000_000, second_hop)],
        vec![],
    );
    assert_eq!(to_servers.len(), 2);
    let (_, first) = decode(&to_servers[0]);
    assert_eq!(first.giaddr(), GIADDR);
    assert_eq!(
        option82_of(&first),
        Some((b"Vlan10".to_vec(), b"r1".to_vec()))
    );
    let (_, second) = decode(&to_servers[1]);
    assert_eq!(second.giaddr(), Ipv4Addr::new(10, 9, 0, 1));
    assert_eq!(
        option82_of(&second),
        None,
        "giaddr was set by another relay"
    );

    // The server echoes option 82 (RFC 3046 2.2); the client never sees it.
    let mut reply = Message::new_with_id(
        0x1234_5678,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        GIADDR,
        &CLIENT_MAC.0,
    );
    reply
        .set_opcode(Opcode::BootReply)
        .set_flags(Flags::default().set_broadcast());
    reply
        .opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Offer));
    reply.opts_mut().insert(
        first
            .opts()
            .get(OptionCode::RelayAgentInformation)
            .unwrap()
            .clone(),
    );
    let reply = from_server(GIADDR, 67, 64, &reply.to_vec().unwrap());
    let (to_clients, _, _) = run_with(option82, vec![], vec![(0, reply)]);
    assert_eq!(to_clients.len(), 1);
    let (_, delivered) = decode(&to_clients[0]);
    assert_eq!(option82_of(&delivered), None);
    assert_eq!(delivered.giaddr(), GIADDR);
}

#[test]
fn broadcasts_to_forwarded_udp_ports_are_readdressed_to_the_helpers() {
    let broadcast = |port| {
        UdpFrame {
            src_mac: CLIENT_TAP_MAC,
            dst_mac: EthernetAddress::BROADCAST,
            src_ip: Ipv4Addr::new(10, 1, 0, 9),
            dst_ip: Ipv4Addr::BROADCAST,
            src_port: 5000,
            dst_port: port,
            ttl: 64,
            payload: b"who is there",
        }
        .to_bytes()
        .unwrap()
    };
    let (_, to_servers, world) = run(vec![(0, broadcast(69)), (1_000, broadcast(9999))], vec![]);
    assert_eq!(to_servers.len(), 1, "TFTP is forwarded, port 9999 is not");
    let (parsed, _) = (frame::parse(&to_servers[0]).unwrap(), ());
    let ip = parsed.ipv4.unwrap();
    let (udp, payload) = parsed.udp.unwrap();
    assert_eq!(
        (ip.src_addr, ip.dst_addr, ip.hop_limit),
        (Ipv4Addr::new(10, 1, 0, 9), SERVER_IP, 63)
    );
    assert_eq!(
        (udp.src_port, udp.dst_port, payload),
        (5000, 69, &b"who is there"[..])
    );
    assert!(
        drops(&world)
            .iter()
            .any(|reason| reason == "broadcast not relayed")
    );
}

fn discover_with_secs(secs: u16) -> Vec<u8> {
    let mut message = Message::decode(&mut Decoder::new(&dhcp(
        Opcode::BootRequest,
        Ipv4Addr::UNSPECIFIED,
        0,
        true,
        Ipv4Addr::UNSPECIFIED,
    )))
    .unwrap();
    message.set_secs(secs);
    message.to_vec().unwrap()
}

#[test]
fn a_relay_with_a_secs_minimum_drops_requests_below_it_and_relays_the_rest() {
    let script = vec![
        (0, client_broadcast(&discover_with_secs(0))),
        (1_000_000_000, client_broadcast(&discover_with_secs(2))),
        (2_000_000_000, client_broadcast(&discover_with_secs(3))),
    ];
    let (_, server_side, world) =
        run_configured(|config| config.relay_secs_min = 3, script, vec![]);
    assert_eq!(server_side.len(), 1);
    assert_eq!(decode(&server_side[0]).1.secs(), 3);
    let drops = drops(&world);
    assert!(
        drops.contains(&"secs 0 below the relay's minimum of 3".to_string()),
        "{drops:?}"
    );
    assert!(
        drops.contains(&"secs 2 below the relay's minimum of 3".to_string()),
        "{drops:?}"
    );
}

#[test]
fn an_interface_relaying_from_each_address_sends_one_copy_per_address_and_takes_replies_to_each() {
    let secondary = Ipv4Addr::new(10, 1, 1, 1);
    let discover = dhcp(
        Opcode::BootRequest,
        Ipv4Addr::UNSPECIFIED,
        0,
        true,
        Ipv4Addr::UNSPECIFIED,
    );
    let offer = dhcp(
        Opcode::BootReply,
        secondary,
        0,
        true,
        Ipv4Addr::new(10, 1, 0, 100),
    );
    let (client_side, server_side, _) = run_configured(
        |config| {
            config.interfaces[0].secondary_ips = vec![(secondary, 24)];
            config.interfaces[0].relay_each_address = true;
        },
        vec![(0, client_broadcast(&discover))],
        vec![(50_000_000, from_server(secondary, 67, 64, &offer))],
    );
    let giaddrs: Vec<Ipv4Addr> = server_side.iter().map(|f| decode(f).1.giaddr()).collect();
    assert_eq!(giaddrs, vec![GIADDR, secondary]);
    // The reply to the secondary address is the router's to relay, from the interface.
    assert_eq!(client_side.len(), 1);
    let (parsed, message) = decode(&client_side[0]);
    assert_eq!(parsed.ipv4.unwrap().src_addr, GIADDR);
    assert_eq!(message.opcode(), Opcode::BootReply);
}
