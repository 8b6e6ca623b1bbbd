//! The capture at its boundary: an event log with real DHCP frames in, pcapng bytes out, read
//! back by pcap-file's reader and, where it is installed, by tshark itself.

// The one rule for external programs, shared with the integration tests.
#[path = "../../../tests/it/tools.rs"]
mod tools;

use std::net::Ipv4Addr;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use dhcproto::Encodable;
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType};
use engine::frame::UdpFrame;
use engine::log::{LanId, NodeId};
use engine::{EventLog, Frame, Kind, Record};
use pcap_file::DataLink;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::{Block, PcapNgReader};
use smoltcp::wire::EthernetAddress;

const SEED: u64 = 7;
const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x11]);
const ROUTER_SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 1, 2]);
const SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x21]);
const ROUTER_SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 20);
const GIADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// Past 2^32 ns (about 4.3 s), so the high half of the timestamp is not zero.
const DISCOVER_NS: u64 = 5_000_000_123;
const RELAYED_NS: u64 = 5_001_250_456;

fn discover(giaddr: Ipv4Addr, hops: u8) -> Vec<u8> {
    let mut message = Message::new_with_id(
        0x1234_5678,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        giaddr,
        &CLIENT_MAC.0,
    );
    message
        .set_hops(hops)
        .set_flags(Flags::default().set_broadcast());
    message
        .opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Discover));
    message.to_vec().unwrap()
}

/// The client's broadcast DISCOVER on LAN 0, and the router's relayed copy (giaddr set, one
/// hop) unicast to the server on LAN 1, around a record of every other kind that must not
/// become a packet.
fn relay_log() -> (EventLog, Vec<u8>, Vec<u8>) {
    let broadcast = UdpFrame {
        src_mac: CLIENT_MAC,
        dst_mac: EthernetAddress::BROADCAST,
        src_ip: Ipv4Addr::UNSPECIFIED,
        dst_ip: Ipv4Addr::BROADCAST,
        src_port: 68,
        dst_port: 67,
        ttl: 64,
        payload: &discover(Ipv4Addr::UNSPECIFIED, 0),
    }
    .to_bytes()
    .unwrap();
    let relayed = UdpFrame {
        src_mac: ROUTER_SERVER_MAC,
        dst_mac: SERVER_MAC,
        src_ip: ROUTER_SERVER_IP,
        dst_ip: SERVER_IP,
        src_port: 67,
        dst_port: 67,
        ttl: 64,
        payload: &discover(GIADDR, 1),
    }
    .to_bytes()
    .unwrap();

    let mut log = EventLog::new(
        SEED,
        vec!["client".into(), "r1".into(), "server".into()],
        vec!["clients".into(), "servers".into()],
    );
    let records = [
        (
            0,
            0,
            Kind::Log {
                level: engine::Level::Info,
                text: "booting".into(),
            },
        ),
        (
            DISCOVER_NS,
            0,
            Kind::Send {
                lan: LanId::from_index(0),
                interface: 0,
                frame: Frame::from(broadcast.as_slice()),
            },
        ),
        (
            5_000_500_000,
            1,
            Kind::Receive {
                lan: LanId::from_index(0),
                interface: 0,
                frame: Frame::from(broadcast.as_slice()),
            },
        ),
        (
            RELAYED_NS,
            1,
            Kind::Send {
                lan: LanId::from_index(1),
                interface: 1,
                frame: Frame::from(relayed.as_slice()),
            },
        ),
        (
            5_002_000_000,
            2,
            Kind::Drop {
                reason: Box::new(engine::DropReason::NoRouterService),
                frame: Frame::from(relayed.as_slice()),
            },
        ),
    ];
    for (time_ns, node, kind) in records {
        log.push(Record {
            time_ns,
            node: NodeId::from_index(node),
            kind,
        });
    }
    (log, broadcast, relayed)
}

/// The section header (which the reader takes in on opening) and every block after it.
fn read(bytes: &[u8]) -> (SectionHeaderBlock<'static>, Vec<Block<'static>>) {
    let mut reader = PcapNgReader::new(bytes).unwrap();
    let mut blocks = Vec::new();
    while let Some(block) = reader.next_block() {
        blocks.push(block.unwrap().into_owned());
    }
    (reader.section().clone(), blocks)
}

#[test]
fn one_interface_per_lan_and_one_packet_per_send() {
    let (log, broadcast, relayed) = relay_log();
    let bytes = crate::pcapng(&log);

    // Section header block type, then the byte-order magic written little-endian on every host.
    assert_eq!(bytes[..4], [0x0a, 0x0d, 0x0d, 0x0a]);
    assert_eq!(bytes[8..12], [0x4d, 0x3c, 0x2b, 0x1a]);

    let (section, blocks) = read(&bytes);
    assert_eq!(blocks.len(), 2 + 2, "{blocks:#?}");

    assert_eq!(
        section.options[0],
        SectionHeaderOption::UserApplication(concat!("pxelab ", env!("CARGO_PKG_VERSION")).into())
    );
    assert_eq!(
        section.options[1],
        SectionHeaderOption::Comment(format!("seed 7, event log digest {}", log.digest()).into())
    );

    for (block, name) in blocks[..2].iter().zip(["clients", "servers"]) {
        let Block::InterfaceDescription(interface) = block else {
            panic!("expected an interface, got {block:?}");
        };
        assert_eq!(interface.linktype, DataLink::ETHERNET);
        assert_eq!(interface.snaplen, 65_535);
        assert_eq!(
            interface.options,
            [
                InterfaceDescriptionOption::IfName(name.into()),
                InterfaceDescriptionOption::IfTsResol(9),
            ]
        );
    }

    let expected = [
        (
            0,
            DISCOVER_NS,
            &broadcast,
            "event 1 seed 7 from client if 0",
        ),
        (1, RELAYED_NS, &relayed, "event 3 seed 7 from r1 if 1"),
    ];
    for (block, (interface_id, time_ns, frame, comment)) in blocks[2..].iter().zip(expected) {
        let Block::EnhancedPacket(packet) = block else {
            panic!("expected a packet, got {block:?}");
        };
        assert_eq!(packet.interface_id, interface_id);
        assert_eq!(packet.timestamp, Duration::from_nanos(time_ns));
        assert_eq!(packet.original_len as usize, frame.len());
        assert_eq!(&packet.data[..], &frame[..]);
        assert_eq!(
            packet.options,
            [EnhancedPacketOption::Comment(comment.into())]
        );
    }

    // The first packet's timestamp words, straight from the bytes: high then low 32 bits.
    let first_packet = bytes_of_block(&bytes, 3);
    assert_eq!(
        first_packet[12..16],
        ((DISCOVER_NS >> 32) as u32).to_le_bytes()
    );
    assert_eq!(first_packet[16..20], (DISCOVER_NS as u32).to_le_bytes());
}

/// The `index`th block of a little-endian pcapng file, found by walking total lengths.
fn bytes_of_block(bytes: &[u8], index: usize) -> &[u8] {
    let mut rest = bytes;
    for _ in 0..index {
        let length = u32::from_le_bytes(rest[4..8].try_into().unwrap()) as usize;
        rest = &rest[length..];
    }
    let length = u32::from_le_bytes(rest[4..8].try_into().unwrap()) as usize;
    &rest[..length]
}

#[test]
fn frames_longer_than_the_snaplen_are_cut_with_their_length_kept() {
    let mut log = EventLog::new(SEED, vec!["tap".into()], vec!["lan".into()]);
    let frame: Rc<[u8]> = vec![0xab; 70_000].into();
    log.push(Record {
        time_ns: 1,
        node: NodeId::from_index(0),
        kind: Kind::Send {
            lan: LanId::from_index(0),
            interface: 0,
            frame: frame.into(),
        },
    });
    let (_, blocks) = read(&crate::pcapng(&log));
    let Block::EnhancedPacket(packet) = &blocks[1] else {
        panic!("expected a packet, got {:?}", blocks[1]);
    };
    assert_eq!(packet.data.len(), crate::SNAPLEN_BYTES);
    assert_eq!(packet.original_len, 70_000);
}

#[test]
fn a_log_without_lans_is_a_bare_section() {
    let log = EventLog::new(SEED, vec!["a".into()], vec![]);
    let (section, blocks) = read(&crate::pcapng(&log));
    assert_eq!(section.options.len(), 2);
    assert!(blocks.is_empty(), "{blocks:#?}");
}

/// tshark reads what we write: each packet on its LAN's interface with its comment, both DHCP
/// messages dissected as DISCOVERs, the relayed one with its giaddr, and no malformed packet or
/// expert error (checksums checked too).
#[test]
fn tshark_reads_the_capture_cleanly() {
    if tools::find("tshark", "tshark", "reading the capture back with tshark").is_none() {
        return;
    }
    let (log, _, _) = relay_log();
    let path = std::env::temp_dir().join(format!("pxelab-capture-{}.pcapng", std::process::id()));
    std::fs::write(&path, crate::pcapng(&log)).unwrap();
    let tshark = |extra: &[&str]| {
        let output = Command::new("tshark")
            .args([
                "-n",
                "-o",
                "ip.check_checksum:TRUE",
                "-o",
                "udp.check_checksum:TRUE",
            ])
            .arg("-r")
            .arg(&path)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        // tshark run as root says so on stderr; anything else there is a complaint about the file.
        let complaints: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.starts_with("Running as user \"root\""))
            .collect();
        assert!(
            output.status.success() && complaints.is_empty(),
            "tshark {extra:?} failed ({}):\n{stderr}",
            output.status
        );
        stdout
    };

    let fields = tshark(&[
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.interface_name",
        "-e",
        "frame.comment",
        "-e",
        "dhcp.option.dhcp",
        "-e",
        "dhcp.ip.relay",
    ]);
    assert_eq!(
        fields.lines().collect::<Vec<_>>(),
        [
            "clients|event 1 seed 7 from client if 0|1|0.0.0.0",
            "servers|event 3 seed 7 from r1 if 1|1|10.1.0.1",
        ],
        "tshark fields:\n{fields}"
    );

    let expert = tshark(&["-q", "-z", "expert"]);
    println!("tshark -z expert:\n{expert}");
    assert!(!expert.contains("Malformed"), "{expert}");
    assert!(!expert.contains("Errors ("), "{expert}");
    // The only expert entries are the two packet comments.
    assert!(!expert.contains("Warnings ("), "{expert}");

    std::fs::remove_file(&path).unwrap();
}
