//! `pxelab calibrate`: the capture shipped in `topologies/calibration/` was made by a network
//! whose relays' timing is known, and calibrating from it must give that timing back; a capture
//! of the server side alone gives a gap-only fit; bad captures are refused with the file and
//! the frame, and nothing is written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use lab::calibrate::{self, CalibrateOptions, Method};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, TsResolution};

use crate::common::{plan, scratch_dir, topology_path};

/// The relays of `known-relays.yaml`: (router, median ns, sigma).
const TRUTH: [(&str, f64, f64); 2] = [("r1", 200_000.0, 0.7), ("r2", 350_000.0, 0.6)];

fn shipped_capture() -> PathBuf {
    topology_path("calibration/known-relays.pcapng")
}

fn pxelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("pxelab runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every packet of the shipped capture: its interface's name, timestamp and bytes.
fn shipped_packets() -> Vec<(String, Duration, Vec<u8>)> {
    let bytes = std::fs::read(shipped_capture()).unwrap();
    let (mut rest, mut parser) = PcapNgParser::new(&bytes).unwrap();
    let mut packets = Vec::new();
    while !rest.is_empty() {
        let (remainder, block) = parser.next_block(rest).unwrap();
        rest = remainder;
        if let Block::EnhancedPacket(packet) = block {
            let interface = &parser.interfaces()[packet.interface_id as usize];
            let name = interface
                .options
                .iter()
                .find_map(|option| match option {
                    InterfaceDescriptionOption::IfName(name) => Some(name.to_string()),
                    _ => None,
                })
                .unwrap();
            // pxelab writes nanosecond timestamps, which pcap-file hands over as they are.
            packets.push((name, packet.timestamp, packet.data.into_owned()));
        }
    }
    packets
}

/// A classic pcap file, as tcpdump writes it (microsecond timestamps).
fn write_pcap<'a>(
    path: &Path,
    datalink: DataLink,
    packets: impl Iterator<Item = &'a (String, Duration, Vec<u8>)>,
) {
    let header = PcapHeader {
        datalink,
        ts_resolution: TsResolution::MicroSecond,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (_, timestamp, data) in packets {
        let timestamp = Duration::from_micros(timestamp.as_micros() as u64);
        writer
            .write_packet(&PcapPacket::new(timestamp, data.len() as u32, data))
            .unwrap();
    }
    std::fs::write(path, writer.into_writer()).unwrap();
}

#[test]
fn calibrating_from_the_shipped_capture_gives_back_each_relays_timing() {
    let capture = calibrate::read_capture(&shipped_capture()).unwrap();
    let plan = plan("calibration/known-relays.yaml");
    let calibration = calibrate::calibrate(&capture, &plan, CalibrateOptions { jobs: 2 }).unwrap();
    assert_eq!(calibration.method, Method::ClientSide);
    assert!(calibration.duplicated_requests >= 200, "{calibration:?}");
    assert_eq!(
        calibration.client_side_requests,
        calibration.relayed_requests
    );
    assert!(calibration.unseen_routers.is_empty());
    for (router, median_ns, sigma) in TRUTH {
        let fit = calibration
            .routers
            .iter()
            .find(|fit| fit.router == router)
            .unwrap();
        let latency = fit.latency.as_ref().unwrap();
        assert!(
            (latency.fit.median_ns / median_ns - 1.0).abs() < 0.10,
            "{router}: median {} against {median_ns}",
            latency.fit.median_ns
        );
        assert!(
            (latency.fit.sigma - sigma).abs() < 0.15,
            "{router}: sigma {} against {sigma}",
            latency.fit.sigma
        );
        assert!(latency.ks < latency.ks_bound, "{router}: {latency:?}");
        assert_eq!(latency.qq.len(), 9);
    }
    // Both servers answer every copy they get; the DHCP server's reply times are its CPU's.
    let dhcp: Vec<_> = calibration
        .responses
        .iter()
        .filter(|response| response.server == "dhcp")
        .map(|response| (response.request.as_str(), response.reply.as_str()))
        .collect();
    assert_eq!(dhcp, [("DISCOVER", "OFFER"), ("REQUEST", "ACK")]);

    let header = calibrate::header_comment(&calibration);
    let (yaml, calibrated) = calibrate::calibrated_topology(&plan, &calibration, &header).unwrap();
    assert_eq!(calibrated.name, "known-relays-calibrated");
    assert!(yaml.contains("# The KB2510665 network with relays whose timing is known"));
    for fit in &calibration.routers {
        let router = calibrated.routers().find(|r| r.name == fit.router).unwrap();
        assert_eq!(
            router.relay_delay,
            fit.relay_delay.parse::<timing::Distribution>().unwrap()
        );
        assert!(calibrate::paste_text(&calibration).contains(&fit.relay_delay));
    }
}

#[test]
fn calibrate_writes_a_calibrated_copy_and_predicts_its_crash_rate() {
    let dir = scratch_dir("calibrate-write");
    let out = dir.join("kb-calibrated.yaml");
    let kb = topology_path("kb2510665.yaml");
    let output = pxelab(&[
        "calibrate",
        shipped_capture().to_str().unwrap(),
        "--topology",
        kb.to_str().unwrap(),
        "--write",
        out.to_str().unwrap(),
        "--seeds",
        "0..12",
    ]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(stdout.contains("method    client side"), "{stdout}");
    assert!(stdout.contains("predicted crash rate with the calibrated relays: "));
    assert!(stdout.contains("| kb2510665-calibrated "), "{stdout}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.starts_with("# Relay timing calibrated by `pxelab calibrate`"));
    // The file's own comments stay.
    assert!(written.contains("# KB2510665: PXE clients behind an HSRP pair"));
    let calibrated = topology::parse(&out, &written).unwrap();
    for router in calibrated.routers() {
        assert!(
            router
                .relay_delay
                .to_string()
                .starts_with("lognormal(median="),
            "{}",
            router.relay_delay
        );
        assert!(written.contains(&format!(
            "#   {}: relay_delay was lognormal(median=2.000ms, sigma=0.9, max=200.000ms)",
            router.name
        )));
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["kb-calibrated.yaml"]);
}

#[test]
fn a_server_side_capture_gives_a_gap_only_fit_and_its_predicted_crash_rate() {
    let dir = scratch_dir("calibrate-gaps");
    let servers = dir.join("server-side.pcap");
    let packets = shipped_packets();
    write_pcap(
        &servers,
        DataLink::ETHERNET,
        packets.iter().filter(|(lan, _, _)| lan == "servers"),
    );
    let output = pxelab(&[
        "calibrate",
        servers.to_str().unwrap(),
        "--topology",
        topology_path("calibration/known-relays.yaml")
            .to_str()
            .unwrap(),
        "--seeds",
        "0..3",
    ]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(stdout.contains("GAP-ONLY FIT (less certain)"), "{stdout}");
    assert!(stdout.contains(", 0 seen from the client too"), "{stdout}");
    assert!(
        stdout.contains("predicted crash rate with the calibrated relays: 0.0% (95% CI "),
        "{stdout}"
    );
    assert!(stdout.contains("| known-relays-calibrated "), "{stdout}");
    let pasted: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("    relay_delay: "))
        .collect();
    assert_eq!(pasted.len(), TRUTH.len(), "{stdout}");
    for ((router, median_ns, _), text) in TRUTH.iter().zip(pasted) {
        let Ok(timing::Distribution {
            shape: timing::Shape::LogNormal {
                median_ns: found, ..
            },
            ..
        }) = text.parse()
        else {
            panic!("{router}: {text}");
        };
        // Gaps alone pin the difference of the two relays more than each: a loose check.
        let ratio = found / median_ns;
        assert!((0.5..2.0).contains(&ratio), "{router}: {text}\n{stdout}");
    }
}

/// The first frame (numbered from 1) of `packets` that a relay with `giaddr` carried.
fn first_relayed_by(packets: &[(String, Duration, Vec<u8>)], giaddr: [u8; 4]) -> usize {
    packets
        .iter()
        .position(|(_, _, bytes)| {
            engine::decode::relayed_request(bytes)
                .is_some_and(|request| request.giaddr.octets() == giaddr)
        })
        .unwrap()
        + 1
}

#[test]
fn bad_captures_are_refused_with_the_file_and_the_frame_and_nothing_is_written() {
    let dir = scratch_dir("calibrate-bad");
    let packets = shipped_packets();
    let shipped = std::fs::read(shipped_capture()).unwrap();
    let known = topology_path("calibration/known-relays.yaml");

    let truncated = dir.join("truncated.pcapng");
    std::fs::write(&truncated, &shipped[..shipped.len() / 2]).unwrap();
    let sll = dir.join("any.pcap");
    write_pcap(&sll, DataLink::LINUX_SLL, packets.iter().take(5));
    let no_dhcp = dir.join("no-dhcp.pcap");
    write_pcap(
        &no_dhcp,
        DataLink::ETHERNET,
        packets
            .iter()
            .filter(|(_, _, bytes)| !engine::decode::class(bytes).is_dhcp()),
    );
    let clients = dir.join("clients.pcap");
    write_pcap(
        &clients,
        DataLink::ETHERNET,
        packets.iter().filter(|(lan, _, _)| lan == "clients"),
    );
    let one_relay = dir.join("one-relay.pcap");
    let without_r2: Vec<_> = packets
        .iter()
        .filter(|(_, _, bytes)| {
            engine::decode::relayed_request(bytes)
                .is_none_or(|request| request.giaddr.octets() != [10, 1, 0, 3])
        })
        .cloned()
        .collect();
    write_pcap(&one_relay, DataLink::ETHERNET, without_r2.iter());
    let text_file = dir.join("notes.pcap");
    std::fs::write(&text_file, "these are notes about a capture, not one\n").unwrap();
    // The topology with r2 at another address: the capture's giaddr 10.1.0.3 names no router.
    let moved = dir.join("moved-r2.yaml");
    let moved_text = std::fs::read_to_string(&known)
        .unwrap()
        .replace("ip: 10.1.0.3/24", "ip: 10.1.0.4/24");
    std::fs::write(&moved, moved_text).unwrap();
    let first_r2 = first_relayed_by(&packets, [10, 1, 0, 3]);

    let shipped_path = shipped_capture();
    let shipped_name = shipped_path.display().to_string();
    let cases: Vec<(&Path, &Path, String)> = vec![
        (
            &truncated,
            &known,
            format!("{}: cut short after frame ", truncated.display()),
        ),
        (
            &sll,
            &known,
            format!(
                "{}: frame 1 has link type LINUX_SLL, not Ethernet",
                sll.display()
            ),
        ),
        (
            &no_dhcp,
            &known,
            format!(
                "{}: none of its {} frames is a DHCP request a relay carried",
                no_dhcp.display(),
                packets
                    .iter()
                    .filter(|(_, _, b)| !engine::decode::class(b).is_dhcp())
                    .count()
            ),
        ),
        (
            &clients,
            &known,
            "DHCP frames were sent by the clients themselves".to_string(),
        ),
        (
            &one_relay,
            &known,
            format!(
                "{}: each of its 250 relayed requests (the first at frame ",
                one_relay.display()
            ),
        ),
        (
            &text_file,
            &known,
            format!("{} is not a pcap or pcapng capture", text_file.display()),
        ),
        (
            &shipped_path,
            &moved,
            format!(
                "{shipped_name}: frame {first_r2}: giaddr 10.1.0.3 is the address of no router interface in {} (r1 10.1.0.2 10.2.0.2; r2 10.1.0.4 10.2.0.3)",
                moved.display()
            ),
        ),
    ];
    for (capture, topology, expected) in cases {
        let out = dir.join("calibrated.yaml");
        let output = pxelab(&[
            "calibrate",
            capture.to_str().unwrap(),
            "--topology",
            topology.to_str().unwrap(),
            "--write",
            out.to_str().unwrap(),
            "--seeds",
            "0..2",
        ]);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: {stderr}",
            capture.display()
        );
        assert!(
            stderr.contains(&expected),
            "expected `{expected}` in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{} was written", out.display());
    }
}
