//! Each firmware profile as the wire shows it: the options of its DISCOVER in order and their
//! values, flags, `secs`, the gaps between DISCOVERs when nobody answers and the error it ends
//! with, what it does with an offer that carries no PXE information, its boot-server request
//! and its TFTP options. Topologies are small flat LANs written here; frames are read back from
//! the event log with the same parsers a capture reader would use.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::common::run;
use dhcproto::Decodable;
use dhcproto::v4::{Decoder, DhcpOption, Message, MessageType, OptionCode};
use engine::Finished;
use engine::client::Outcome;
use engine::log::Kind;

const S: u64 = 1_000_000_000;

/// A flat LAN with one client of `firmware` and the servers given (YAML entries under
/// `servers:`, none for an empty LAN).
fn lab(firmware: &str, arch: &str, servers: &str) -> topology::Plan {
    let servers = if servers.is_empty() {
        "servers: {}\n".to_string()
    } else {
        format!("servers:\n{servers}")
    };
    let text = format!(
        "name: firmware-{firmware}
limits: {{ sim_time: 200s, events: 200000 }}
lans:
  lab: {{ subnet: 10.1.0.0/24, latency: \"uniform(10us, 60us)\" }}
{servers}clients:
  - {{ name: pc, lan: lab, arch: {arch}, firmware: {firmware}, power_on: 1s }}
"
    );
    topology::parse(Path::new("firmware.yaml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Nobody at all: a LAN with the client alone.
const SILENCE: &str = "";

const DHCP_ONLY: &str = "  dhcp:
    lan: lab
    ip: 10.1.0.10/24
    plugin: dhcp-server
    service: { name: DHCP Server }
    config: { pool: 10.1.0.100-10.1.0.199, subnet_mask: 255.255.255.0, lease_secs: 86400 }
";

const PROXY: &str = "  proxy:
    lan: lab
    ip: 10.1.0.30/24
    plugin: proxydhcp
    service: { name: dnsmasq }
    config: { boot_file_bios: pxelinux.0, boot_file_efi: bootx64.efi, nbp_size: 26000 }
";

/// A DHCP message the client sent, with when and from which UDP port.
struct Sent {
    time_ns: u64,
    src_port: u16,
    dst_port: u16,
    broadcast_ip: bool,
    message: Message,
    /// Option codes in wire order.
    order: Vec<u8>,
}

/// Option codes in the order they are on the wire (dhcproto sorts them when it decodes).
fn wire_order(payload: &[u8]) -> Vec<u8> {
    let mut codes = Vec::new();
    let mut at = 240;
    while let Some(&code) = payload.get(at) {
        match code {
            0 => at += 1,
            255 => break,
            _ => {
                codes.push(code);
                at += 2 + usize::from(*payload.get(at + 1).unwrap_or(&0));
            }
        }
    }
    codes
}

fn client_dhcp(world: &Finished) -> Vec<Sent> {
    let log = world.log();
    let client = log.node_id("pc").unwrap();
    log.records()
        .iter()
        .filter(|r| r.node == client)
        .filter_map(|r| match &r.kind {
            Kind::Send { frame, .. } => {
                let bytes = frame.bytes();
                let parsed = engine::frame::parse(&bytes).ok()?;
                let ip = parsed.ipv4?;
                let (udp, payload) = parsed.udp?;
                if ![67, 4011].contains(&udp.dst_port) {
                    return None;
                }
                let message = Message::decode(&mut Decoder::new(payload)).ok()?;
                Some(Sent {
                    time_ns: r.time_ns,
                    src_port: udp.src_port,
                    dst_port: udp.dst_port,
                    broadcast_ip: ip.dst_addr == Ipv4Addr::BROADCAST,
                    order: wire_order(payload),
                    message,
                })
            }
            _ => None,
        })
        .collect()
}

fn of_type(sent: &[Sent], kind: MessageType) -> Vec<&Sent> {
    sent.iter()
        .filter(|s| s.message.opts().msg_type() == Some(kind) && s.dst_port == 67)
        .collect()
}

fn gaps_ns(sent: &[&Sent]) -> Vec<u64> {
    sent.windows(2)
        .map(|w| w[1].time_ns - w[0].time_ns)
        .collect()
}

fn failure(world: &Finished, report: &engine::Report) -> (&'static str, u64) {
    let _ = world;
    match &report.clients[0].outcome {
        Outcome::Failed { code, time_ns, .. } => (code, *time_ns),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// What a client of `firmware` on `arch` sends when nobody answers, and the failure it shows
/// (its code and when).
fn unanswered(firmware: &str, arch: &str) -> (Vec<Sent>, (&'static str, u64)) {
    let world = run(&lab(firmware, arch, SILENCE), 5);
    let failure = failure(&world, world.report());
    (client_dhcp(&world), failure)
}

fn class_id(message: &Message) -> String {
    match message.opts().get(OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(id)) => String::from_utf8_lossy(id).into_owned(),
        other => panic!("option 60: {other:?}"),
    }
}

fn max_size(message: &Message) -> u16 {
    match message.opts().get(OptionCode::MaxMessageSize) {
        Some(DhcpOption::MaxMessageSize(size)) => *size,
        other => panic!("option 57: {other:?}"),
    }
}

#[test]
fn nobody_answering_edk2_waits_about_four_then_8_16_32_seconds_and_shows_pxe_e18() {
    let (sent, (code, time_ns)) = unanswered("edk2", "efi-x64");
    let discovers = of_type(&sent, MessageType::Discover);
    assert_eq!(discovers.len(), 4);
    let gaps = gaps_ns(&discovers);
    assert!(
        (3_500_000_000..3_900_000_000).contains(&gaps[0]),
        "{gaps:?}"
    );
    assert_eq!(gaps[1..], [8 * S, 16 * S]);
    assert_eq!(code, "PXE-E18");
    assert_eq!(time_ns - discovers[3].time_ns, 32 * S);
    let first = &discovers[0];
    assert_eq!(first.order, [53, 57, 55, 97, 94, 93, 60]);
    assert_eq!(max_size(&first.message), 1472);
    assert_eq!(class_id(&first.message), "PXEClient:Arch:00007:UNDI:003000");
    assert!(matches!(
        first.message.opts().get(OptionCode::ClientNetworkInterface),
        Some(DhcpOption::ClientNetworkInterface(1, 3, 0))
    ));
    match first.message.opts().get(OptionCode::ParameterRequestList) {
        Some(DhcpOption::ParameterRequestList(list)) => assert_eq!(list.len(), 35),
        other => panic!("{other:?}"),
    }
    assert!(discovers.iter().all(|d| d.message.flags().broadcast()));
    // secs: the DHCP driver's one-second ticks, 4 of them before the first timeout.
    let secs: Vec<u16> = discovers.iter().map(|d| d.message.secs()).collect();
    assert_eq!(secs, [0, 4, 12, 28]);
    assert!(
        discovers
            .iter()
            .all(|d| d.message.xid() == first.message.xid())
    );
}

#[test]
fn nobody_answering_ipxe_retries_after_1_2_4_8_seconds_with_its_secs_counter() {
    let (sent, (code, time_ns)) = unanswered("ipxe", "bios");
    let discovers = of_type(&sent, MessageType::Discover);
    assert_eq!(gaps_ns(&discovers), [S, 2 * S, 4 * S]);
    assert_eq!(code, "iPXE-040ee186");
    assert_eq!(time_ns - discovers[0].time_ns, 15 * S);
    // (attempt << 2), no offer, no proxy offer.
    let secs: Vec<u16> = discovers.iter().map(|d| d.message.secs()).collect();
    // ++transmissions << 2: no offer, no proxy offer.
    assert_eq!(secs, [4, 8, 12, 16]);
    let first = &discovers[0];
    assert_eq!(first.order, [53, 57, 93, 94, 60, 77, 55, 175, 61, 97]);
    assert_eq!(max_size(&first.message), 1472);
    assert_eq!(class_id(&first.message), "PXEClient:Arch:00000:UNDI:002001");
    assert!(!first.message.flags().broadcast());
    match first.message.opts().get(OptionCode::ClientIdentifier) {
        Some(DhcpOption::ClientIdentifier(id)) => {
            assert_eq!(id[0], 1);
            assert_eq!(&id[1..], first.message.chaddr());
        }
        other => panic!("option 61: {other:?}"),
    }
}

#[test]
fn nobody_answering_the_pxe_spec_client_waits_4_8_16_32_seconds_and_shows_pxe_e51() {
    let (sent, (code, time_ns)) = unanswered("pxe-spec", "bios");
    let discovers = of_type(&sent, MessageType::Discover);
    assert_eq!(gaps_ns(&discovers), [4 * S, 8 * S, 16 * S]);
    assert_eq!(code, "PXE-E51");
    assert_eq!(time_ns - discovers[0].time_ns, 60 * S);
    assert_eq!(discovers[0].order, [53, 55, 57, 60, 93, 94, 97]);
}

#[test]
fn an_offer_without_pxe_information_is_taken_by_ipxe_after_three_seconds_never_by_edk2() {
    // iPXE: DISCOVERs at 0, 1, 3 s; at the 3 s timeout it has waited out its proxy timeout.
    let world = run(&lab("ipxe", "bios", DHCP_ONLY), 5);
    let report = world.report();
    let sent = client_dhcp(&world);
    let discover = of_type(&sent, MessageType::Discover)[0].time_ns;
    let request = of_type(&sent, MessageType::Request)[0];
    assert_eq!(request.time_ns - discover, 3 * S);
    let discover_secs: Vec<u16> = of_type(&sent, MessageType::Discover)
        .iter()
        .map(|d| d.message.secs())
        .collect();
    assert_eq!(discover_secs, [4, 10], "the second DISCOVER holds an offer");
    // The third transmission, an offer, no proxy, and one more count for the proxy wait.
    assert_eq!(request.message.secs(), 18);
    assert_eq!(
        request.order,
        [53, 57, 93, 94, 60, 77, 55, 175, 61, 97, 54, 50]
    );
    // No boot file anywhere: iPXE has nothing to boot.
    assert_eq!(failure(&world, &report).0, "iPXE-3d0c6135");

    // EDK2 keeps asking and ends PXE-E16 about 60 s after its first DISCOVER.
    let world = run(&lab("edk2", "efi-x64", DHCP_ONLY), 5);
    let report = world.report();
    let sent = client_dhcp(&world);
    assert!(of_type(&sent, MessageType::Request).is_empty());
    let discovers = of_type(&sent, MessageType::Discover);
    assert_eq!(discovers.len(), 4);
    let (code, time_ns) = failure(&world, &report);
    assert_eq!(code, "PXE-E16");
    let waited = time_ns - discovers[0].time_ns;
    assert!((59 * S..60 * S).contains(&waited), "{waited}");

    // PXE 2.1: after the 4 and 8 s timeouts.
    let world = run(&lab("pxe-spec", "bios", DHCP_ONLY), 5);
    let sent = client_dhcp(&world);
    let discover = of_type(&sent, MessageType::Discover)[0].time_ns;
    assert_eq!(
        of_type(&sent, MessageType::Request)[0].time_ns - discover,
        12 * S
    );
}

#[test]
fn edk2_waits_out_its_offer_window_then_requests_repeating_the_discover_secs() {
    let servers = format!("{DHCP_ONLY}{PROXY}");
    let world = run(&lab("edk2", "efi-x64", &servers), 5);
    let report = world.report();
    assert!(
        matches!(report.clients[0].outcome, Outcome::Booted { .. }),
        "{:?}",
        report.clients[0]
    );
    let sent = client_dhcp(&world);
    let discover = of_type(&sent, MessageType::Discover)[0];
    let request = of_type(&sent, MessageType::Request)[0];
    let waited = request.time_ns - discover.time_ns;
    assert!((3_500_000_000..3_900_000_000).contains(&waited), "{waited}");
    assert_eq!(request.message.secs(), discover.message.secs());
    assert_eq!(request.order, [53, 54, 50, 57, 55, 97, 94, 93, 60]);
    assert_eq!(
        max_size(&request.message),
        65280,
        "EDK2's REQUEST says 0xff00"
    );
    assert!(request.message.flags().broadcast());
}

#[test]
fn edk2_sends_its_tftp_size_probe_then_reads_with_blksize_and_windowsize_from_a_new_port() {
    let servers = format!("{DHCP_ONLY}{PROXY}");
    let world = run(&lab("edk2", "efi-x64", &servers), 5);
    let log = world.log();
    let client = log.node_id("pc").unwrap();
    let mut tftp = Vec::new();
    for record in log.records().iter().filter(|r| r.node == client) {
        let Kind::Send { frame, .. } = &record.kind else {
            continue;
        };
        let bytes = frame.bytes();
        let Ok(parsed) = engine::frame::parse(&bytes) else {
            continue;
        };
        let Some((udp, payload)) = parsed.udp else {
            continue;
        };
        if let Ok(repr) =
            wire::tftp::Packet::new_checked(payload).and_then(|p| wire::tftp::Repr::parse(&p))
        {
            match repr {
                wire::tftp::Repr::ReadRequest { options, .. } => {
                    let options: Vec<String> =
                        options.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    tftp.push((udp.src_port, format!("RRQ {}", options.join(" "))));
                }
                wire::tftp::Repr::Error { code, .. } => {
                    tftp.push((udp.src_port, format!("ERROR {code}")))
                }
                _ => {}
            }
        }
    }
    assert_eq!(tftp.len(), 3, "{tftp:?}");
    assert_eq!(tftp[0].1, "RRQ tsize=0 blksize=1468 windowsize=4");
    assert_eq!(tftp[1], (tftp[0].0, "ERROR 8".to_string()));
    assert_eq!(tftp[2].1, "RRQ blksize=1468 windowsize=4");
    assert_eq!(
        tftp[2].0,
        tftp[0].0 + 1,
        "the read leaves from the next port"
    );
}

#[test]
fn a_boot_server_that_never_answers_4011_ends_each_firmware_its_own_way() {
    // WDS's proxy offer names no boot file, so the client asks it on port 4011, which the
    // host's firewall drops (the classic PXE-E55).
    let servers = format!(
        "{DHCP_ONLY}  wds:
    lan: lab
    ip: 10.1.0.20/24
    plugin: wds-fixed
    service: {{ name: Windows Deployment Services Server }}
    firewall_blocks_udp: [4011]
    config: {{ threads: 1, lookup: 1ms }}
"
    );
    for (firmware, arch, code, tries, from_port, xid_rule) in [
        ("edk2", "efi-x64", "PXE-E18", 4, 4011, "fresh"),
        ("ipxe", "bios", "iPXE-4c0a6035", 2, 68, "zero"),
        ("pxe-spec", "bios", "PXE-E55", 4, 68, "same"),
    ] {
        let world = run(&lab(firmware, arch, &servers), 5);
        let report = world.report();
        let sent = client_dhcp(&world);
        let dhcp_xid = of_type(&sent, MessageType::Discover)[0].message.xid();
        let boot: Vec<&Sent> = sent.iter().filter(|s| s.dst_port == 4011).collect();
        assert_eq!(boot.len(), tries, "{firmware}");
        for request in &boot {
            assert_eq!(request.src_port, from_port, "{firmware}");
            assert!(
                !request.broadcast_ip,
                "{firmware}: a unicast to the boot server"
            );
            let xid = request.message.xid();
            match xid_rule {
                "fresh" => assert_ne!(xid, dhcp_xid, "{firmware}"),
                "zero" => assert_eq!(xid, 0, "{firmware}"),
                _ => assert_eq!(xid, dhcp_xid, "{firmware}"),
            }
        }
        assert_eq!(
            boot[0].message.flags().broadcast(),
            firmware == "ipxe",
            "{firmware}"
        );
        // iPXE asks for boot item 0x8000 and sends the bare class `PXEClient`.
        let has_item = boot[0].order.contains(&43);
        assert_eq!(
            has_item,
            firmware == "ipxe",
            "{firmware}: option 43 boot item"
        );
        let secs: Vec<u16> = boot.iter().map(|b| b.message.secs()).collect();
        if firmware == "ipxe" {
            assert_eq!(class_id(&boot[0].message), "PXEClient");
            assert_eq!(secs, [4, 8], "a DHCP session of its own");
        }
        if firmware == "edk2" {
            assert_eq!(secs, [0, 0x100, 0x200, 0x300], "the attempt, little-endian");
        }
        assert_eq!(failure(&world, &report).0, code, "{firmware}");
    }
}

#[test]
fn the_flat_lan_boots_every_client_over_a_thousand_seeds() {
    let plan = crate::common::plan("flat-lan.yaml");
    let result =
        lab::sweep(&plan, 0..1000, 2, crate::common::services()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(result.runs, 1000);
    assert_eq!(result.unbooted_runs, 0, "seeds {:?}", result.failing_seeds);
    assert!(result.failing_seeds.is_empty());
}
