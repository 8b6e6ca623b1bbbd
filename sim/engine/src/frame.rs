//! Ethernet/IPv4/UDP frames as real bytes, built and parsed with `smoltcp::wire`. Every frame
//! in a run goes through here, so what the event log and a pcap show is what was on the wire.

use std::fmt;
use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol,
    Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

pub const ETHERNET_HEADER_LEN: usize = 14;
pub const IPV4_HEADER_LEN: usize = 20;
pub const UDP_HEADER_LEN: usize = 8;
/// Ethernet MTU: the largest IPv4 packet a frame carries.
pub const MTU: usize = 1500;
/// The largest UDP payload that fits one frame without fragmentation (we never fragment).
pub const UDP_PAYLOAD_MAX: usize = MTU - IPV4_HEADER_LEN - UDP_HEADER_LEN;

pub const BROADCAST_IP: Ipv4Addr = Ipv4Addr::BROADCAST;

/// The destination MAC of a frame handed to `Cx::send_to`, which writes the resolved one.
pub const UNRESOLVED_MAC: EthernetAddress = EthernetAddress([0; 6]);

/// A UDP datagram with its link and network addressing: what a node asks to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpFrame<'a> {
    pub src_mac: EthernetAddress,
    pub dst_mac: EthernetAddress,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ttl: u8,
    pub payload: &'a [u8],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    pub reason: &'static str,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for FrameError {}

fn checksums() -> ChecksumCapabilities {
    ChecksumCapabilities::default()
}

impl UdpFrame<'_> {
    /// Encodes the frame with valid IPv4 and UDP checksums.
    /// Fails only when the payload does not fit one frame.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FrameError> {
        if self.payload.len() > UDP_PAYLOAD_MAX {
            return Err(FrameError {
                reason: "UDP payload larger than one Ethernet frame",
            });
        }
        let udp = UdpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
        };
        let ip = Ipv4Repr {
            src_addr: self.src_ip,
            dst_addr: self.dst_ip,
            next_header: IpProtocol::Udp,
            payload_len: UDP_HEADER_LEN + self.payload.len(),
            hop_limit: self.ttl,
        };
        let ethernet = EthernetRepr {
            src_addr: self.src_mac,
            dst_addr: self.dst_mac,
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut bytes = vec![0u8; ETHERNET_HEADER_LEN + ip.buffer_len() + ip.payload_len];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        ethernet.emit(&mut frame);
        let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet, &checksums());
        let mut datagram = UdpPacket::new_unchecked(packet.payload_mut());
        udp.emit(
            &mut datagram,
            &IpAddress::Ipv4(self.src_ip),
            &IpAddress::Ipv4(self.dst_ip),
            self.payload.len(),
            |buffer| buffer.copy_from_slice(self.payload),
            &checksums(),
        );
        Ok(bytes)
    }
}

/// An IPv4 packet of any protocol (VRRP, say) with its link addressing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpFrame<'a> {
    pub src_mac: EthernetAddress,
    pub dst_mac: EthernetAddress,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub protocol: IpProtocol,
    pub ttl: u8,
    /// Differentiated services code point (VRRP adverts: 48, CS6, as keepalived and FRR send).
    pub dscp: u8,
    /// The identification field, kept as given if the node sends it with
    /// `Cx::send_keeping_ident` (else the world numbers it).
    pub ident: u16,
    pub dont_fragment: bool,
    pub payload: &'a [u8],
}

impl IpFrame<'_> {
    /// Encodes the frame with a valid IPv4 header checksum; the payload is copied as is.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FrameError> {
        if self.payload.len() > MTU - IPV4_HEADER_LEN {
            return Err(FrameError {
                reason: "IPv4 payload larger than one Ethernet frame",
            });
        }
        let ip = Ipv4Repr {
            src_addr: self.src_ip,
            dst_addr: self.dst_ip,
            next_header: self.protocol,
            payload_len: self.payload.len(),
            hop_limit: self.ttl,
        };
        let mut bytes = vec![0u8; ETHERNET_HEADER_LEN + ip.buffer_len() + ip.payload_len];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        EthernetRepr {
            src_addr: self.src_mac,
            dst_addr: self.dst_mac,
            ethertype: EthernetProtocol::Ipv4,
        }
        .emit(&mut frame);
        let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet, &checksums());
        packet.set_dscp(self.dscp);
        packet.set_ident(self.ident);
        packet.set_dont_frag(self.dont_fragment);
        packet.fill_checksum();
        packet.payload_mut().copy_from_slice(self.payload);
        Ok(bytes)
    }
}

/// The Ethernet address an IPv4 multicast group maps to (RFC 1112 section 6.4).
pub fn multicast_mac(group: Ipv4Addr) -> EthernetAddress {
    let [_, b, c, d] = group.octets();
    EthernetAddress([0x01, 0x00, 0x5e, b & 0x7f, c, d])
}

/// A parsed frame: Ethernet always, IPv4 and UDP when present and valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub ethernet: EthernetRepr,
    pub ipv4: Option<Ipv4Repr>,
    /// The whole IPv4 packet (header and payload), for forwarding.
    pub ipv4_packet: &'a [u8],
    /// The IPv4 payload (what follows the header, up to the total length).
    pub ipv4_payload: &'a [u8],
    pub udp: Option<(UdpRepr, &'a [u8])>,
}

/// Parses and validates a frame (lengths, IPv4 header checksum, UDP checksum).
/// Anything a node could choke on is an `Err`; nothing here panics on any input.
pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, FrameError> {
    let frame = EthernetFrame::new_checked(bytes).map_err(|_| FrameError {
        reason: "truncated Ethernet header",
    })?;
    let ethernet = EthernetRepr::parse(&frame).map_err(|_| FrameError {
        reason: "malformed Ethernet header",
    })?;
    let mut parsed = Parsed {
        ethernet,
        ipv4: None,
        ipv4_packet: &[],
        ipv4_payload: &[],
        udp: None,
    };
    if ethernet.ethertype != EthernetProtocol::Ipv4 {
        return Ok(parsed);
    }
    let payload = &bytes[ETHERNET_HEADER_LEN..];
    let packet = Ipv4Packet::new_checked(payload).map_err(|_| FrameError {
        reason: "truncated IPv4 packet",
    })?;
    let ip = Ipv4Repr::parse(&packet, &checksums()).map_err(|_| FrameError {
        reason: "bad IPv4 header or checksum",
    })?;
    let total_len = usize::from(packet.total_len());
    parsed.ipv4 = Some(ip);
    let header_len = usize::from(packet.header_len());
    parsed.ipv4_packet = &payload[..total_len];
    parsed.ipv4_payload = &payload[header_len..total_len];
    if ip.next_header != IpProtocol::Udp {
        return Ok(parsed);
    }
    let udp_bytes = &payload[header_len..total_len];
    let datagram = UdpPacket::new_checked(udp_bytes).map_err(|_| FrameError {
        reason: "truncated UDP datagram",
    })?;
    let udp = UdpRepr::parse(
        &datagram,
        &IpAddress::Ipv4(ip.src_addr),
        &IpAddress::Ipv4(ip.dst_addr),
        &checksums(),
    )
    .map_err(|_| FrameError {
        reason: "bad UDP header or checksum",
    })?;
    let udp_len = usize::from(datagram.len());
    parsed.udp = Some((udp, &udp_bytes[UDP_HEADER_LEN..udp_len]));
    Ok(parsed)
}

/// Re-frames an IPv4 packet for the next hop: new MAC addresses, TTL one lower, header checksum
/// recomputed. The caller has checked that the TTL allows forwarding.
pub fn forward(ipv4_packet: &[u8], src_mac: EthernetAddress, dst_mac: EthernetAddress) -> Vec<u8> {
    let mut bytes = vec![0u8; ETHERNET_HEADER_LEN + ipv4_packet.len()];
    let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut frame);
    frame.payload_mut().copy_from_slice(ipv4_packet);
    let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
    let ttl = packet.hop_limit();
    assert!(ttl > 1, "forward() called with TTL {ttl}");
    packet.set_hop_limit(ttl - 1);
    packet.fill_checksum();
    bytes
}

/// Writes `ident` into an IPv4 frame's identification field (and the header checksum); false,
/// leaving it as it was, for a frame that is not IPv4.
pub fn set_ipv4_ident(frame: &mut [u8], ident: u16) -> bool {
    let Ok(mut ethernet) = EthernetFrame::new_checked(&mut frame[..]) else {
        return false;
    };
    if ethernet.ethertype() != EthernetProtocol::Ipv4 {
        return false;
    }
    let Ok(mut packet) = Ipv4Packet::new_checked(ethernet.payload_mut()) else {
        return false;
    };
    packet.set_ident(ident);
    packet.fill_checksum();
    true
}

/// True for broadcast and multicast destinations (the I/G bit).
pub fn is_group(mac: EthernetAddress) -> bool {
    mac.0[0] & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        UdpFrame {
            src_mac: EthernetAddress([0x02, 0, 0, 0, 0, 1]),
            dst_mac: EthernetAddress::BROADCAST,
            src_ip: Ipv4Addr::UNSPECIFIED,
            dst_ip: BROADCAST_IP,
            src_port: 68,
            dst_port: 67,
            ttl: 64,
            payload: b"hello",
        }
        .to_bytes()
        .unwrap()
    }

    #[test]
    fn udp_frames_round_trip() {
        let bytes = sample();
        let parsed = parse(&bytes).unwrap();
        let (udp, payload) = parsed.udp.unwrap();
        assert_eq!(
            (udp.src_port, udp.dst_port, payload),
            (68, 67, &b"hello"[..])
        );
        assert_eq!(parsed.ipv4.unwrap().hop_limit, 64);
        assert_eq!(bytes.len(), 14 + 20 + 8 + 5);
    }

    #[test]
    fn corrupted_frames_are_errors_not_panics() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut]);
        }
        let mut flipped = bytes.clone();
        flipped[14 + 20 + 8] ^= 0xff; // payload byte: UDP checksum no longer matches
        assert_eq!(
            parse(&flipped).unwrap_err().reason,
            "bad UDP header or checksum"
        );
        let mut bad_ip = bytes.clone();
        bad_ip[14 + 8] ^= 0x01; // TTL byte: IPv4 header checksum no longer matches
        assert!(parse(&bad_ip).is_err());
    }

    #[test]
    fn forwarding_decrements_ttl_and_keeps_the_packet_valid() {
        let bytes = sample();
        let parsed = parse(&bytes).unwrap();
        let next = forward(
            parsed.ipv4_packet,
            EthernetAddress([2, 0, 0, 0, 0, 9]),
            EthernetAddress([2, 0, 0, 0, 0, 8]),
        );
        let again = parse(&next).unwrap();
        assert_eq!(again.ipv4.unwrap().hop_limit, 63);
        assert_eq!(again.udp.unwrap().1, b"hello");
    }
}
