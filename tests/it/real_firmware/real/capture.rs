//! The observation layer: what a PXE client put on the wire, read from a pcap (tcpdump) or a
//! pcapng (the simulator's `sim/capture`) file, so real firmware and a simulated client profile
//! can be described by the same values and compared field by field.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use smoltcp::wire::{
    ArpOperation, ArpPacket, EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol,
    Ipv4Packet, UdpPacket,
};

/// One packet of interest: sent by the client, or a DHCP reply addressed to it (kept only so
/// that gaps such as "ACK to first TFTP request" can be measured).
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Time since the first packet of the capture (any packet, not only the client's).
    pub at: Duration,
    pub what: Seen,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// A BOOTREQUEST from the client (to port 67 or 4011).
    Dhcp(ClientDhcp),
    /// A BOOTREPLY to the client from a server.
    Reply(ServerDhcp),
    /// A TFTP request or error the client sent.
    Tftp(ClientTftp),
    /// An ARP packet the client sent.
    Arp(ClientArp),
}

/// DHCP message types by number (RFC 2132 option 53).
pub const DISCOVER: u8 = 1;
pub const OFFER: u8 = 2;
pub const REQUEST: u8 = 3;
pub const ACK: u8 = 5;

#[derive(Clone, Debug, PartialEq)]
pub struct ClientDhcp {
    /// Option 53; `None` for BOOTP.
    pub message_type: Option<u8>,
    pub xid: u32,
    /// The `secs` field as sent, read big-endian (as RFC 2131 says it is). EDK2's request to
    /// port 4011 writes it little-endian: see [`ClientDhcp::secs_swapped`].
    pub secs: u16,
    /// Bit 15 of `flags`.
    pub broadcast: bool,
    pub ciaddr: Ipv4Addr,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// Every option in the order it appears, with its value (pad and end left out).
    pub options: Vec<(u8, Vec<u8>)>,
}

impl ClientDhcp {
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    pub fn codes(&self) -> Vec<u8> {
        self.options.iter().map(|(c, _)| *c).collect()
    }

    /// Option 57 (maximum DHCP message size).
    pub fn max_size(&self) -> Option<u16> {
        self.option(57)
            .filter(|v| v.len() == 2)
            .map(|v| u16::from_be_bytes([v[0], v[1]]))
    }

    /// Option 60 as text.
    pub fn vendor_class(&self) -> Option<String> {
        self.option(60)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Option 93 (client system architectures).
    pub fn arch(&self) -> Option<Vec<u16>> {
        self.option(93).map(|v| {
            v.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect()
        })
    }

    /// Option 77 as text.
    pub fn user_class(&self) -> Option<String> {
        self.option(77)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Option 55, the parameter request list.
    pub fn requested(&self) -> Option<&[u8]> {
        self.option(55)
    }

    /// `secs` read little-endian.
    pub fn secs_swapped(&self) -> u16 {
        self.secs.swap_bytes()
    }

    pub fn is(&self, message_type: u8) -> bool {
        self.message_type == Some(message_type)
    }

    /// A request to a boot server or proxyDHCP service (UDP 4011) rather than to port 67.
    pub fn to_4011(&self) -> bool {
        self.dst.port() == 4011
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServerDhcp {
    pub message_type: Option<u8>,
    pub xid: u32,
    pub src: SocketAddrV4,
    pub yiaddr: Ipv4Addr,
    /// Option 60 "PXEClient" present: a proxy offer or a PXE-aware DHCP offer.
    pub pxe_client: bool,
    /// A boot file name (BOOTP `file` or option 67) is present.
    pub has_file: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TftpOp {
    /// RRQ: file name, mode, options in order (name lower-cased, value as sent).
    Read {
        file: String,
        mode: String,
        options: Vec<(String, String)>,
    },
    /// ERROR sent by the client (code and message).
    Error { code: u16, message: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClientTftp {
    pub op: TftpOp,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
}

impl ClientTftp {
    pub fn option(&self, name: &str) -> Option<&str> {
        match &self.op {
            TftpOp::Read { options, .. } => options
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str()),
            TftpOp::Error { .. } => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClientArp {
    /// ARP request (true) or reply (false).
    pub request: bool,
    pub sender: Ipv4Addr,
    pub target: Ipv4Addr,
    /// An announcement: sender and target address equal (RFC 5227 gratuitous ARP).
    pub gratuitous: bool,
}

/// Every frame of a pcap or pcapng capture (told apart by the magic number), with its time
/// stamp. A capture cut short (tcpdump still writing) yields the frames before the cut.
fn frames(bytes: &[u8]) -> Vec<(Duration, Vec<u8>)> {
    let mut frames = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        if let Ok(mut reader) = PcapNgReader::new(bytes) {
            while let Some(Ok(block)) = reader.next_block() {
                if let Block::EnhancedPacket(packet) = block {
                    frames.push((packet.timestamp, packet.data.into_owned()));
                }
            }
        }
    } else if let Ok(mut reader) = PcapReader::new(bytes) {
        while let Some(Ok(packet)) = reader.next_packet() {
            frames.push((packet.timestamp, packet.data.into_owned()));
        }
    }
    frames
}

/// Reads a capture into the observations of the client whose MAC address is `client`.
pub fn observations_from_pcap(bytes: &[u8], client: [u8; 6]) -> Vec<Observation> {
    let client = EthernetAddress(client);
    let frames = frames(bytes);
    let Some(start) = frames.first().map(|(at, _)| *at) else {
        return Vec::new();
    };
    let mut tftp_ports: Vec<u16> = Vec::new();
    frames
        .iter()
        .filter_map(|(at, frame)| {
            let what = decode(frame, client, &mut tftp_ports)?;
            Some(Observation {
                at: at.saturating_sub(start),
                what,
            })
        })
        .collect()
}

/// The MAC addresses of the DHCP clients in a capture (senders of a BOOTREQUEST from port 68
/// whose `chaddr` is their own address), in order of first appearance: how the simulated side
/// finds its client.
pub fn client_macs(bytes: &[u8]) -> Vec<[u8; 6]> {
    let mut macs = Vec::new();
    for (_, frame) in frames(bytes) {
        let Ok(eth) = EthernetFrame::new_checked(frame.as_slice()) else {
            continue;
        };
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            continue;
        };
        let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
            continue;
        };
        let payload = udp.payload();
        if eth.ethertype() == EthernetProtocol::Ipv4
            && ip.next_header() == IpProtocol::Udp
            && udp.src_port() == 68
            && payload.len() > 34
            && payload[0] == 1
            && payload[28..34] == eth.src_addr().0
            && !macs.contains(&eth.src_addr().0)
        {
            macs.push(eth.src_addr().0);
        }
    }
    macs
}

fn decode(frame: &[u8], client: EthernetAddress, tftp_ports: &mut Vec<u16>) -> Option<Seen> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let from_client = eth.src_addr() == client;
    match eth.ethertype() {
        EthernetProtocol::Arp if from_client => {
            let arp = ArpPacket::new_checked(eth.payload()).ok()?;
            let sender = ipv4(arp.source_protocol_addr())?;
            let target = ipv4(arp.target_protocol_addr())?;
            Some(Seen::Arp(ClientArp {
                request: arp.operation() == ArpOperation::Request,
                sender,
                target,
                gratuitous: sender == target,
            }))
        }
        EthernetProtocol::Ipv4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
            if ip.next_header() != IpProtocol::Udp {
                return None;
            }
            let udp = UdpPacket::new_checked(ip.payload()).ok()?;
            let src = SocketAddrV4::new(ip.src_addr(), udp.src_port());
            let dst = SocketAddrV4::new(ip.dst_addr(), udp.dst_port());
            let payload = udp.payload();
            if from_client {
                if matches!(dst.port(), 67 | 4011) {
                    return client_dhcp(payload, src, dst).map(Seen::Dhcp);
                }
                if dst.port() == 69 {
                    tftp_ports.push(src.port());
                    return client_tftp(payload, src, dst).map(Seen::Tftp);
                }
                if tftp_ports.contains(&src.port()) && opcode(payload) == Some(5) {
                    return client_tftp(payload, src, dst).map(Seen::Tftp);
                }
                None
            } else if matches!(src.port(), 67 | 4011) && payload.len() > 236 {
                // A reply concerns the client if it is sent to the client's MAC (or broadcast
                // on its LAN) and its chaddr is the client's: a server's reply to a relay, on
                // the servers' LAN, is not seen by the client.
                let to_client = eth.dst_addr() == client || eth.dst_addr().is_broadcast();
                (to_client && payload[0] == 2 && payload[28..34] == client.0)
                    .then(|| server_dhcp(payload, src))
                    .flatten()
                    .map(Seen::Reply)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn ipv4(bytes: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(bytes).ok().map(Ipv4Addr::from)
}

fn opcode(payload: &[u8]) -> Option<u16> {
    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

/// The options of a BOOTP message after the magic cookie, in order; `None` if malformed.
fn dhcp_options(message: &[u8]) -> Option<Vec<(u8, Vec<u8>)>> {
    if message.len() < 240 || message[236..240] != [99, 130, 83, 99] {
        return None;
    }
    let mut options = Vec::new();
    let mut rest = &message[240..];
    while let Some((&code, tail)) = rest.split_first() {
        match code {
            0 => rest = tail,
            255 => break,
            _ => {
                let (&len, tail) = tail.split_first()?;
                let value = tail.get(..len as usize)?;
                options.push((code, value.to_vec()));
                rest = &tail[len as usize..];
            }
        }
    }
    Some(options)
}

fn client_dhcp(message: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> Option<ClientDhcp> {
    if message.first() != Some(&1) {
        return None;
    }
    let options = dhcp_options(message)?;
    Some(ClientDhcp {
        message_type: options
            .iter()
            .find(|(c, v)| *c == 53 && v.len() == 1)
            .map(|(_, v)| v[0]),
        xid: u32::from_be_bytes(message[4..8].try_into().ok()?),
        secs: u16::from_be_bytes([message[8], message[9]]),
        broadcast: message[10] & 0x80 != 0,
        ciaddr: ipv4(&message[12..16])?,
        src,
        dst,
        options,
    })
}

fn server_dhcp(message: &[u8], src: SocketAddrV4) -> Option<ServerDhcp> {
    let options = dhcp_options(message)?;
    let value = |code: u8| options.iter().find(|(c, _)| *c == code).map(|(_, v)| v);
    Some(ServerDhcp {
        message_type: value(53).filter(|v| v.len() == 1).map(|v| v[0]),
        xid: u32::from_be_bytes(message[4..8].try_into().ok()?),
        src,
        yiaddr: ipv4(&message[16..20])?,
        pxe_client: value(60).is_some_and(|v| v.starts_with(b"PXEClient")),
        has_file: message[108] != 0 || value(67).is_some(),
    })
}

fn client_tftp(payload: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> Option<ClientTftp> {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let op = match opcode(payload)? {
        1 => {
            let mut fields = payload[2..].split(|b| *b == 0);
            let file = text(fields.next()?);
            let mode = text(fields.next()?);
            let mut options = Vec::new();
            while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                if name.is_empty() {
                    break;
                }
                options.push((text(name).to_ascii_lowercase(), text(value)));
            }
            TftpOp::Read {
                file,
                mode,
                options,
            }
        }
        5 if payload.len() >= 4 => TftpOp::Error {
            code: u16::from_be_bytes([payload[2], payload[3]]),
            message: text(payload[4..].split(|b| *b == 0).next().unwrap_or_default()),
        },
        _ => return None,
    };
    Some(ClientTftp { op, src, dst })
}

/// The client's DHCP messages, in order.
pub fn dhcp(observations: &[Observation]) -> impl Iterator<Item = (Duration, &ClientDhcp)> {
    observations.iter().filter_map(|o| match &o.what {
        Seen::Dhcp(d) => Some((o.at, d)),
        _ => None,
    })
}

/// The client's TFTP packets, in order.
pub fn tftp(observations: &[Observation]) -> impl Iterator<Item = (Duration, &ClientTftp)> {
    observations.iter().filter_map(|o| match &o.what {
        Seen::Tftp(t) => Some((o.at, t)),
        _ => None,
    })
}

/// The timing gaps a scenario is judged on; `None`/empty where the capture has no such pair.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gaps {
    /// Between successive DISCOVERs (whatever their xid).
    pub discovers: Vec<Duration>,
    /// From the last DISCOVER before the first REQUEST to port 67, to that REQUEST.
    pub discover_to_request: Option<Duration>,
    /// From the first ACK to the client to its first request on port 4011.
    pub ack_to_4011: Option<Duration>,
    /// Between successive requests to port 4011.
    pub retries_4011: Vec<Duration>,
    /// From the last DHCP ACK before the first TFTP request to that request.
    pub ack_to_tftp: Option<Duration>,
}

pub fn gaps(observations: &[Observation]) -> Gaps {
    let between = |times: &[Duration]| times.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>();
    let discovers: Vec<Duration> = dhcp(observations)
        .filter(|(_, d)| d.is(DISCOVER))
        .map(|(at, _)| at)
        .collect();
    let first_request = dhcp(observations)
        .find(|(_, d)| d.is(REQUEST) && !d.to_4011())
        .map(|(at, _)| at);
    let discover_to_request = first_request.and_then(|request| {
        let last = discovers.iter().rev().find(|at| **at <= request)?;
        Some(request - *last)
    });
    let acks: Vec<Duration> = observations
        .iter()
        .filter_map(|o| match &o.what {
            Seen::Reply(r) if r.message_type == Some(ACK) => Some(o.at),
            _ => None,
        })
        .collect();
    let to_4011: Vec<Duration> = dhcp(observations)
        .filter(|(_, d)| d.to_4011())
        .map(|(at, _)| at)
        .collect();
    let ack_to_4011 = to_4011.first().and_then(|first| {
        let ack = acks.iter().rev().find(|at| *at <= first)?;
        Some(*first - *ack)
    });
    let first_tftp = tftp(observations).next().map(|(at, _)| at);
    let ack_to_tftp = first_tftp.and_then(|first| {
        let ack = acks.iter().rev().find(|at| **at <= first)?;
        Some(first - *ack)
    });
    Gaps {
        discovers: between(&discovers),
        discover_to_request,
        ack_to_4011,
        retries_4011: between(&to_4011),
        ack_to_tftp,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn name(message_type: Option<u8>) -> &'static str {
    match message_type {
        Some(1) => "DISCOVER",
        Some(2) => "OFFER",
        Some(3) => "REQUEST",
        Some(4) => "DECLINE",
        Some(5) => "ACK",
        Some(6) => "NAK",
        Some(7) => "RELEASE",
        Some(8) => "INFORM",
        Some(_) => "DHCP?",
        None => "BOOTP",
    }
}

/// A value shown in the table: printable text as is, anything else in hex.
fn shown(code: u8, value: &[u8]) -> String {
    match code {
        53 => name(value.first().copied()).to_string(),
        57 if value.len() == 2 => u16::from_be_bytes([value[0], value[1]]).to_string(),
        55 => value
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(","),
        93 => value
            .chunks(2)
            .map(|c| hex(c).trim_start_matches('0').to_string())
            .map(|s| if s.is_empty() { "0".into() } else { s })
            .collect::<Vec<_>>()
            .join(","),
        94 => value
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join("."),
        _ if !value.is_empty() && value.iter().all(|b| b.is_ascii_graphic() || *b == b' ') => {
            format!("\"{}\"", String::from_utf8_lossy(value))
        }
        _ => format!("0x{} ({} B)", hex(value), value.len()),
    }
}

/// A human-readable table of the observations: one line per packet, then every option of each
/// client DHCP message, then the gaps.
pub fn table(observations: &[Observation]) -> String {
    let mut out = String::new();
    let mut previous: Option<Duration> = None;
    for o in observations {
        let delta = previous.map_or(0.0, |p| (o.at - p).as_secs_f64());
        previous = Some(o.at);
        let _ = write!(out, "{:>9.3} s (+{:>6.3})  ", o.at.as_secs_f64(), delta);
        match &o.what {
            Seen::Dhcp(d) => {
                let _ = writeln!(
                    out,
                    "client {} xid {:#010x} secs {} (le {}) flags {} ciaddr {} {} -> {}",
                    name(d.message_type),
                    d.xid,
                    d.secs,
                    d.secs_swapped(),
                    if d.broadcast { "broadcast" } else { "unicast" },
                    d.ciaddr,
                    d.src,
                    d.dst
                );
                let codes: Vec<String> = d.codes().iter().map(u8::to_string).collect();
                let _ = writeln!(out, "{:>22}options in order: {}", "", codes.join(","));
                for (code, value) in &d.options {
                    let _ = writeln!(out, "{:>24}{code:>3}: {}", "", shown(*code, value));
                }
            }
            Seen::Reply(r) => {
                let _ = writeln!(
                    out,
                    "server {} xid {:#010x} from {} yiaddr {}{}{}",
                    name(r.message_type),
                    r.xid,
                    r.src,
                    r.yiaddr,
                    if r.pxe_client { " [PXEClient]" } else { "" },
                    if r.has_file { " [file]" } else { "" }
                );
            }
            Seen::Tftp(t) => match &t.op {
                TftpOp::Read {
                    file,
                    mode,
                    options,
                } => {
                    let options: Vec<String> =
                        options.iter().map(|(n, v)| format!("{n}={v}")).collect();
                    let _ = writeln!(
                        out,
                        "client TFTP RRQ {file:?} {mode} [{}] {} -> {}",
                        options.join(" "),
                        t.src,
                        t.dst
                    );
                }
                TftpOp::Error { code, message } => {
                    let _ = writeln!(
                        out,
                        "client TFTP ERROR {code} {message:?} {} -> {}",
                        t.src, t.dst
                    );
                }
            },
            Seen::Arp(a) => {
                let _ = writeln!(
                    out,
                    "client ARP {} {} -> {}{}",
                    if a.request { "request" } else { "reply" },
                    a.sender,
                    a.target,
                    if a.gratuitous { " (gratuitous)" } else { "" }
                );
            }
        }
    }
    let g = gaps(observations);
    let secs = |d: &[Duration]| {
        d.iter()
            .map(|d| format!("{:.3}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let one =
        |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.3}", d.as_secs_f64()));
    let _ = writeln!(out, "gaps (s): DISCOVER->DISCOVER [{}]", secs(&g.discovers));
    let _ = writeln!(
        out,
        "          DISCOVER->REQUEST {}  ACK->4011 {}  4011 retries [{}]  ACK->TFTP {}",
        one(g.discover_to_request),
        one(g.ack_to_4011),
        secs(&g.retries_4011),
        one(g.ack_to_tftp)
    );
    out
}
