//! Turns a run's event log into pcapng bytes, so a simulated run can be opened in Wireshark or
//! tshark like a capture taken on real switches.
//!
//! The capture has one interface per LAN (in `EventLog::lan_names` order, named after the LAN)
//! and one packet per `Kind::Send` record: a frame put on a LAN is what a tap on that LAN sees.
//! Timestamps are the run's virtual nanoseconds (`if_tsresol` 9), counted from the Unix epoch
//! because a run has no wall-clock start. Each packet carries a comment naming the record's
//! index in `EventLog::records`, the seed and the sending node, so a packet seen in Wireshark
//! leads straight back to the event log and to the command that replays it.
//!
//! This crate only encodes: it returns bytes and never touches files; writing them out is the
//! caller's business. The bytes are a pure function of the log (little-endian whatever the host),
//! so the same run gives the same capture on every machine.

use std::borrow::Cow;
use std::time::Duration;

use engine::{EventLog, Kind};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::{DataLink, Endianness};

/// Bytes of each frame kept in the capture. Longer frames (only a scripted tap can send them)
/// are cut here, with their full length kept in the packet's `original_len`, as a real capture
/// does; Wireshark refuses whole files whose packets exceed its own limit, so we never write one.
pub const SNAPLEN_BYTES: usize = 65_535;

/// pcapng option lengths are 16-bit: longer texts (a LAN or node name from a topology file can
/// be any length) are cut at a character boundary below this.
const OPTION_TEXT_BYTES_MAX: usize = u16::MAX as usize;

/// `if_tsresol` value for 10^-9 s: timestamps are the engine's nanoseconds, unscaled.
const NANOSECONDS: u8 = 9;

const VEC_WRITE: &str = "pcapng blocks written to a Vec cannot fail";

/// Encodes `log` as a pcapng capture: a section header, one interface per LAN and one enhanced
/// packet block per frame sent on a LAN.
pub fn pcapng(log: &EventLog) -> Vec<u8> {
    let seed = log.seed();
    let section = SectionHeaderBlock {
        endianness: Endianness::Little,
        options: vec![
            SectionHeaderOption::UserApplication(Cow::Borrowed(concat!(
                "pxelab ",
                env!("CARGO_PKG_VERSION")
            ))),
            SectionHeaderOption::Comment(option_text(format!(
                "seed {seed}, event log digest {}",
                log.digest()
            ))),
        ],
        ..SectionHeaderBlock::default()
    };
    let mut writer = PcapNgWriter::with_section_header(Vec::new(), section).expect(VEC_WRITE);

    for name in &log.lan_names {
        let interface = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: SNAPLEN_BYTES as u32,
            options: vec![
                InterfaceDescriptionOption::IfName(option_text(name.clone())),
                InterfaceDescriptionOption::IfTsResol(NANOSECONDS),
            ],
        };
        writer.write_pcapng_block(interface).expect(VEC_WRITE);
    }

    for (event, record) in log.records().iter().enumerate() {
        let Kind::Send {
            lan,
            interface,
            frame,
        } = &record.kind
        else {
            continue;
        };
        assert!(
            lan.index() < log.lan_names.len(),
            "event {event}: send on LAN {}, but the log names only {} LANs",
            lan.index(),
            log.lan_names.len()
        );
        let comment = format!(
            "event {event} seed {seed} from {} if {interface}",
            log.node_name(record.node)
        );
        let bytes = frame.bytes();
        let packet = EnhancedPacketBlock {
            interface_id: u32::try_from(lan.index())
                .expect("LAN index fits pcapng's u32 interface id"),
            // pcap-file writes the timestamp in nanoseconds, split into high and low 32 bits,
            // which is what `if_tsresol` 9 declares.
            timestamp: Duration::from_nanos(record.time_ns),
            original_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
            data: Cow::Borrowed(&bytes[..bytes.len().min(SNAPLEN_BYTES)]),
            options: vec![EnhancedPacketOption::Comment(option_text(comment))],
        };
        writer.write_pcapng_block(packet).expect(VEC_WRITE);
    }

    writer.into_inner()
}

fn option_text(mut text: String) -> Cow<'static, str> {
    text.truncate(text.floor_char_boundary(OPTION_TEXT_BYTES_MAX));
    Cow::Owned(text)
}

#[cfg(test)]
mod pcapng_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_text_is_cut_at_a_character_boundary() {
        // 'é' is two bytes, so the limit falls inside the last one and it must go whole.
        let long = "é".repeat(OPTION_TEXT_BYTES_MAX / 2 + 1);
        let cut = option_text(long);
        assert_eq!(cut.len(), OPTION_TEXT_BYTES_MAX - 1);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(option_text("lan-a".into()), "lan-a");
    }
}
