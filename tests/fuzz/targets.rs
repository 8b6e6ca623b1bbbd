//! The bodies of the fuzz targets: what each input is fed to, and what must hold. Shared by the
//! stable smoke runs (`tests/it/fuzz_smoke.rs`, part of `cargo test`) and the coverage-guided
//! cargo-fuzz targets (`tests/fuzz/fuzz_targets/`), so both check the same things. Nothing here
//! may panic on any input; what a parser accepts must survive a round trip.

use std::net::Ipv4Addr;
use std::path::Path;

use wire::{hsrp, tftp, vrrp};

/// Every parser a frame meets in the simulator, then `also` (the web UI's decoder, where the
/// caller links it).
pub fn frame(bytes: &[u8], also: &dyn Fn(&[u8])) {
    let _ = engine::decode::describe(bytes);
    also(bytes);
    let Ok(parsed) = engine::frame::parse(bytes) else {
        return;
    };
    if let Some(ip) = parsed.ipv4 {
        vrrp_payload(parsed.ipv4_payload, ip.src_addr);
    }
    if let Some((_, payload)) = parsed.udp {
        dhcp_payload(payload);
        tftp_payload(payload);
        hsrp_payload(payload);
    }
}

pub fn dhcp_payload(bytes: &[u8]) {
    let _ = engine::decode::describe_dhcp(bytes);
    if let Ok(message) = engine::dhcp::decode(bytes) {
        let _ = format!("{message:?}");
        // The relay and the plugins re-encode what they decoded.
        let _ = dhcproto::Encodable::to_vec(&message);
    }
}

pub fn tftp_payload(bytes: &[u8]) {
    if let Ok(packet) = tftp::Packet::new_checked(bytes) {
        let _ = (
            packet.opcode(),
            packet.block(),
            packet.error_code(),
            packet.data(),
        );
        if let Ok(repr) = tftp::Repr::parse(&packet) {
            // What was accepted survives a round trip: emit, parse again, the same packet.
            let emitted = repr.to_bytes();
            assert_eq!(emitted.len(), repr.buffer_len());
            let again = tftp::Packet::new_checked(&emitted[..]).expect("emitted TFTP checks");
            assert_eq!(
                tftp::Repr::parse(&again).expect("emitted TFTP parses"),
                repr
            );
        }
    }
}

pub fn hsrp_payload(bytes: &[u8]) {
    if let Ok(packet) = hsrp::Packet::new_checked(bytes) {
        let _ = (packet.version(), packet.op_code(), packet.state());
        let _ = (
            packet.hello_time_ms(),
            packet.hold_time_ms(),
            packet.priority(),
        );
        let _ = (packet.group(), packet.virtual_ip(), packet.identifier());
        let _ = packet.authentication();
        if let Ok(repr) = hsrp::Repr::parse(&packet) {
            let emitted = repr.to_bytes();
            assert_eq!(emitted.len(), repr.buffer_len());
            let again = hsrp::Packet::new_checked(&emitted[..]).expect("emitted HSRP checks");
            assert_eq!(
                hsrp::Repr::parse(&again).expect("emitted HSRP parses"),
                repr
            );
        }
    }
}

pub fn vrrp_payload(bytes: &[u8], src: Ipv4Addr) {
    if let Ok(packet) = vrrp::Packet::new_checked(bytes) {
        let _ = (packet.version(), packet.message_type(), packet.vrid());
        let _ = (
            packet.priority(),
            packet.address_count(),
            packet.auth_type(),
        );
        let _ = (packet.advertisement_interval_cs(), packet.checksum());
        let _ = (packet.message_len(), packet.verify_checksum(src));
        let _ = packet.addresses().count();
        if let Ok(repr) = vrrp::Repr::parse(&packet, src) {
            let emitted = repr.to_bytes(src);
            assert_eq!(emitted.len(), repr.buffer_len());
            let again = vrrp::Packet::new_checked(&emitted[..]).expect("emitted VRRP checks");
            assert_eq!(
                vrrp::Repr::parse(&again, src).expect("emitted VRRP parses"),
                repr
            );
        }
    }
}

/// The topology loader: any text loads or fails with an error located in the text.
pub fn topology(text: &str) -> Option<topology::Plan> {
    match topology::parse(Path::new("fuzz.yaml"), text) {
        Ok(plan) => Some(plan),
        Err(error) => {
            // Lines as YAML and editors count them: a lone CR, NEL, LS and PS break lines too.
            let lines = text
                .replace("\r\n", "\n")
                .split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
                .count();
            assert!(
                error.line >= 1 && error.line <= lines + 1 && error.column >= 1,
                "unlocated error {error}:\n{text}"
            );
            assert!(!error.message.is_empty(), "{error}");
            None
        }
    }
}
