//! Every frame of a run decodes with smoltcp and dhcproto, with valid checksums, and the relay
//! fields say exactly what RFC 1542/2131 say they should.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::common::{plan, run};
use dhcproto::v4::{Message, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder};
use engine::log::Kind;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, UdpPacket,
};

#[test]
fn every_frame_decodes_and_relay_fields_are_right() {
    let plan = plan("kb2510665.yaml");
    // Client-facing address of each router: what it must put in giaddr.
    let giaddr_of: BTreeMap<&str, Ipv4Addr> = [
        ("r1", "10.1.0.2".parse().unwrap()),
        ("r2", "10.1.0.3".parse().unwrap()),
    ]
    .into();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for seed in 0..20 {
        let world = run(&plan, seed);
        let log = world.log();
        for record in log.records() {
            let Kind::Send { frame, .. } = &record.kind else {
                continue;
            };
            let sender = log.node_name(record.node);
            let bytes = frame.bytes();
            let ethernet = EthernetFrame::new_checked(&bytes[..]).expect("Ethernet header");
            if ethernet.ethertype() == EthernetProtocol::Arp {
                // Resolution on the wire: requests broadcast, replies to the asker.
                let arp = engine::arp::parse(&bytes).expect("ARP decodes");
                let smoltcp::wire::ArpRepr::EthernetIpv4 {
                    operation,
                    source_hardware_addr,
                    target_hardware_addr,
                    ..
                } = arp
                else {
                    unreachable!("parse takes Ethernet/IPv4 ARP only")
                };
                assert_eq!(ethernet.src_addr(), source_hardware_addr, "from {sender}");
                match operation {
                    smoltcp::wire::ArpOperation::Request => {
                        assert_eq!(ethernet.dst_addr(), EthernetAddress::BROADCAST)
                    }
                    _ => assert_eq!(ethernet.dst_addr(), target_hardware_addr),
                }
                *seen.entry("arp").or_default() += 1;
                continue;
            }
            assert_eq!(ethernet.ethertype(), EthernetProtocol::Ipv4);
            let ip = Ipv4Packet::new_checked(ethernet.payload()).expect("IPv4 packet");
            assert!(ip.verify_checksum(), "IPv4 checksum from {sender}");
            assert_eq!(ip.next_header(), IpProtocol::Udp);
            let udp = UdpPacket::new_checked(ip.payload()).expect("UDP datagram");
            assert!(
                udp.verify_checksum(
                    &IpAddress::Ipv4(ip.src_addr()),
                    &IpAddress::Ipv4(ip.dst_addr())
                ),
                "UDP checksum from {sender}"
            );
            let (src_port, dst_port) = (udp.src_port(), udp.dst_port());
            let payload = udp.payload();
            if dst_port == wire::hsrp::UDP_PORT {
                let packet = wire::hsrp::Packet::new_checked(payload).expect("HSRP packet");
                let hello = wire::hsrp::Repr::parse(&packet).expect("HSRP decodes");
                *seen.entry("hsrp hello").or_default() += 1;
                assert_eq!(ip.dst_addr(), wire::hsrp::GROUP_ADDR_V1);
                assert_eq!(ip.hop_limit(), 1, "HSRP is link-local");
                if hello.state == wire::hsrp::State::Active {
                    // The active router speaks from the virtual MAC so switches learn it.
                    assert_eq!(
                        ethernet.src_addr().0,
                        wire::hsrp::virtual_mac(hello.version, hello.group)
                    );
                }
                continue;
            }
            if [src_port, dst_port]
                .iter()
                .any(|p| matches!(p, 67 | 68 | 4011))
            {
                let message = Message::decode(&mut Decoder::new(payload)).expect("DHCP decodes");
                match (sender, dst_port) {
                    (client, 67) if client.starts_with("pc") => {
                        *seen.entry("client broadcast").or_default() += 1;
                        assert_eq!(ip.dst_addr(), Ipv4Addr::BROADCAST);
                        assert_eq!(ethernet.dst_addr(), EthernetAddress::BROADCAST);
                        assert!(message.giaddr().is_unspecified() && message.hops() == 0);
                        assert!(message.flags().broadcast());
                        for option in [
                            OptionCode::ClassIdentifier,
                            OptionCode::ClientSystemArchitecture,
                            OptionCode::ClientNetworkInterface,
                            OptionCode::ClientMachineIdentifier,
                            OptionCode::ParameterRequestList,
                        ] {
                            assert!(
                                message.opts().get(option).is_some(),
                                "client message without {option:?}"
                            );
                        }
                    }
                    (router @ ("r1" | "r2"), 67)
                        if message.opcode() == dhcproto::v4::Opcode::BootReply =>
                    {
                        // A server's reply to the other router's giaddr, routed through this one.
                        *seen.entry("forwarded reply").or_default() += 1;
                        assert_eq!(ip.dst_addr(), message.giaddr());
                        assert_ne!(message.giaddr(), giaddr_of[router]);
                        assert!(ip.hop_limit() < 128, "forwarding decremented the TTL");
                    }
                    (router @ ("r1" | "r2"), 67) => {
                        *seen.entry("relayed request").or_default() += 1;
                        assert_eq!(
                            message.giaddr(),
                            giaddr_of[router],
                            "giaddr is the receiving interface's own address"
                        );
                        assert_eq!(message.hops(), 1);
                        assert_eq!(src_port, 67);
                        assert!(
                            [Ipv4Addr::new(10, 2, 0, 10), Ipv4Addr::new(10, 2, 0, 20)]
                                .contains(&ip.dst_addr()),
                            "one unicast copy per helper"
                        );
                    }
                    (server @ ("dhcp" | "wds"), 67) => {
                        *seen.entry("server reply to relay").or_default() += 1;
                        assert!(
                            giaddr_of.values().any(|g| *g == message.giaddr()),
                            "{server} replied with giaddr {}",
                            message.giaddr()
                        );
                        assert_eq!(
                            ip.dst_addr(),
                            message.giaddr(),
                            "{server} replies to giaddr"
                        );
                    }
                    // EDK2 asks from port 4011 and hears the answer there.
                    ("r1" | "r2", 68 | 4011)
                        if src_port == 4011 && message.opcode() == Opcode::BootReply =>
                    {
                        *seen.entry("forwarded boot server reply").or_default() += 1;
                        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 2, 0, 20));
                    }
                    (router @ ("r1" | "r2"), 68) => {
                        *seen.entry("relayed reply").or_default() += 1;
                        assert_eq!(ip.src_addr(), giaddr_of[router]);
                        assert!(
                            message.flags().broadcast(),
                            "PXE clients set the broadcast flag"
                        );
                        assert_eq!(ip.dst_addr(), Ipv4Addr::BROADCAST);
                        assert_eq!(ethernet.dst_addr(), EthernetAddress::BROADCAST);
                    }
                    ("wds", _) if src_port == 4011 => {
                        *seen.entry("boot server reply").or_default() += 1
                    }
                    (_, 4011) => *seen.entry("boot server request").or_default() += 1,
                    (sender, port) => panic!("unexpected DHCP from {sender} to port {port}"),
                }
            } else {
                let packet = wire::tftp::Packet::new_checked(payload).expect("TFTP packet");
                wire::tftp::Repr::parse(&packet).expect("TFTP decodes");
                *seen.entry("tftp").or_default() += 1;
            }
        }
    }
    for kind in [
        "client broadcast",
        "relayed request",
        "forwarded reply",
        "server reply to relay",
        "relayed reply",
        "boot server request",
        "boot server reply",
        "tftp",
        "hsrp hello",
    ] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} frame in 20 runs: {seen:?}"
        );
    }
}
