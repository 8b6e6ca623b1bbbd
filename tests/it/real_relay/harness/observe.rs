//! What a VRRP pair and its two DHCP relays put on the wire, read from frames with timestamps:
//! a tcpdump capture of a real lab or the simulator's event log, turned into the same values so
//! the two can be compared field by field.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use dhcproto::v4::{Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder};
use pcap_file::pcap::PcapReader;
use smoltcp::wire::{
    ArpOperation, ArpPacket, EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, UdpPacket,
};

/// IP protocol number of VRRP (RFC 5798 section 5.1.1.3).
pub const VRRP_PROTOCOL: u8 = 112;

/// One frame seen on a LAN: when (nanoseconds, any origin) and its bytes.
#[derive(Clone, Debug)]
pub struct Frame {
    pub time_ns: u64,
    pub bytes: Vec<u8>,
}

/// The frames of a tcpdump capture (pcap, micro- or nanosecond timestamps). A capture cut short
/// while tcpdump is still writing yields the packets before the cut.
pub fn frames_from_pcap(bytes: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    let Ok(mut reader) = PcapReader::new(bytes) else {
        return frames;
    };
    while let Some(Ok(packet)) = reader.next_packet() {
        frames.push(Frame {
            time_ns: packet.timestamp.as_nanos() as u64,
            bytes: packet.data.into_owned(),
        });
    }
    frames
}

/// `02:00:00:00:00:42`, the form `ip link` and the topology files use.
pub fn mac(bytes: [u8; 6]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// A VRRP advertisement with the IPv4 and Ethernet fields around it.
#[derive(Clone, Debug)]
pub struct Advert {
    pub time_ns: u64,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub ttl: u8,
    pub dscp: u8,
    pub ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub version: u8,
    pub kind: u8,
    pub vrid: u8,
    pub priority: u8,
    /// VRRP v2: seconds; v3: centiseconds.
    pub adver_int: u16,
    pub auth_type: u8,
    pub addresses: Vec<Ipv4Addr>,
    /// Length of the VRRP message (IPv4 payload).
    pub vrrp_len: usize,
    pub checksum_ok: bool,
}

/// An ARP packet whose sender and target protocol addresses are the same (a gratuitous ARP).
#[derive(Clone, Debug)]
pub struct Garp {
    pub time_ns: u64,
    pub eth_src: [u8; 6],
    pub eth_dst: [u8; 6],
    pub operation: String,
    pub sender_mac: [u8; 6],
    pub address: Ipv4Addr,
    pub target_mac: [u8; 6],
}

/// A DHCP message in a UDP datagram, with the IPv4 fields around it.
#[derive(Clone, Debug)]
pub struct Dhcp {
    pub time_ns: u64,
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub ttl: u8,
    pub dscp: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub src_port: u16,
    pub dst_port: u16,
    pub message_type: Option<MessageType>,
    pub xid: u32,
    pub hops: u8,
    pub giaddr: Ipv4Addr,
    pub option82: bool,
    /// The DHCP message's bytes (the UDP payload).
    pub payload: Vec<u8>,
}

/// Everything of interest on one LAN, in time order.
#[derive(Clone, Debug, Default)]
pub struct Lan {
    pub adverts: Vec<Advert>,
    pub garps: Vec<Garp>,
    pub dhcp: Vec<Dhcp>,
}

/// Sorts `frames` out into adverts, gratuitous ARPs and DHCP messages; anything else (IGMP,
/// other ARP, ICMP) is ignored.
pub fn lan(frames: &[Frame]) -> Lan {
    let mut lan = Lan::default();
    for frame in frames {
        let Ok(ethernet) = EthernetFrame::new_checked(&frame.bytes[..]) else {
            continue;
        };
        let src_mac = ethernet.src_addr().0;
        let dst_mac = ethernet.dst_addr().0;
        match ethernet.ethertype() {
            EthernetProtocol::Arp => {
                let Ok(arp) = ArpPacket::new_checked(ethernet.payload()) else {
                    continue;
                };
                if arp.hardware_len() != 6 || arp.protocol_len() != 4 {
                    continue;
                }
                let sender = ipv4(arp.source_protocol_addr());
                let target = ipv4(arp.target_protocol_addr());
                if sender != target {
                    continue;
                }
                let operation = match arp.operation() {
                    ArpOperation::Request => "request".to_string(),
                    ArpOperation::Reply => "reply".to_string(),
                    ArpOperation::Unknown(code) => format!("operation {code}"),
                };
                lan.garps.push(Garp {
                    time_ns: frame.time_ns,
                    eth_src: src_mac,
                    eth_dst: dst_mac,
                    operation,
                    sender_mac: six(arp.source_hardware_addr()),
                    address: sender,
                    target_mac: six(arp.target_hardware_addr()),
                });
            }
            EthernetProtocol::Ipv4 => {
                let Ok(ip) = Ipv4Packet::new_checked(ethernet.payload()) else {
                    continue;
                };
                let header = IpFields {
                    src_ip: ip.src_addr(),
                    dst_ip: ip.dst_addr(),
                    ttl: ip.hop_limit(),
                    dscp: ip.dscp(),
                    ecn: ip.ecn(),
                    ident: ip.ident(),
                    dont_frag: ip.dont_frag(),
                };
                match ip.next_header() {
                    IpProtocol::Unknown(VRRP_PROTOCOL) => {
                        if let Some(advert) =
                            advert(frame.time_ns, src_mac, dst_mac, &header, ip.payload())
                        {
                            lan.adverts.push(advert);
                        }
                    }
                    IpProtocol::Udp => {
                        let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
                            continue;
                        };
                        if !matches!(udp.dst_port(), 67 | 68) {
                            continue;
                        }
                        let payload = udp.payload();
                        let Ok(message) = Message::decode(&mut Decoder::new(payload)) else {
                            continue;
                        };
                        lan.dhcp.push(Dhcp {
                            time_ns: frame.time_ns,
                            src_mac,
                            src_ip: header.src_ip,
                            dst_ip: header.dst_ip,
                            ttl: header.ttl,
                            dscp: header.dscp,
                            ident: header.ident,
                            dont_frag: header.dont_frag,
                            src_port: udp.src_port(),
                            dst_port: udp.dst_port(),
                            message_type: message.opts().msg_type(),
                            xid: message.xid(),
                            hops: message.hops(),
                            giaddr: message.giaddr(),
                            option82: message
                                .opts()
                                .get(OptionCode::RelayAgentInformation)
                                .is_some(),
                            payload: payload.to_vec(),
                        });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    lan.adverts.sort_by_key(|a| a.time_ns);
    lan.garps.sort_by_key(|g| g.time_ns);
    lan.dhcp.sort_by_key(|d| d.time_ns);
    lan
}

struct IpFields {
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    ttl: u8,
    dscp: u8,
    ecn: u8,
    ident: u16,
    dont_frag: bool,
}

fn ipv4(bytes: &[u8]) -> Ipv4Addr {
    <[u8; 4]>::try_from(bytes).map_or(Ipv4Addr::UNSPECIFIED, Ipv4Addr::from)
}

fn six(bytes: &[u8]) -> [u8; 6] {
    <[u8; 6]>::try_from(bytes).unwrap_or_default()
}

fn advert(
    time_ns: u64,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    ip: &IpFields,
    payload: &[u8],
) -> Option<Advert> {
    if payload.len() < 8 {
        return None;
    }
    let version = payload[0] >> 4;
    let count = usize::from(payload[3]);
    let (auth_type, adver_int) = if version == 3 {
        (0, u16::from_be_bytes([payload[4], payload[5]]) & 0x0fff)
    } else {
        (payload[4], u16::from(payload[5]))
    };
    let addresses = payload[8..]
        .chunks_exact(4)
        .take(count)
        .map(ipv4)
        .collect::<Vec<_>>();
    // RFC 3768 5.3.8: the one's complement sum over the VRRP message (v2); v3 adds the IPv4
    // pseudo-header (RFC 5798 5.2.8).
    let mut sum: u32 = 0;
    if version == 3 {
        for part in [ip.src_ip.octets(), ip.dst_ip.octets()] {
            sum += u32::from(u16::from_be_bytes([part[0], part[1]]));
            sum += u32::from(u16::from_be_bytes([part[2], part[3]]));
        }
        sum += u32::from(VRRP_PROTOCOL) + payload.len() as u32;
    }
    for chunk in payload.chunks(2) {
        sum += u32::from(u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    Some(Advert {
        time_ns,
        src_mac,
        dst_mac,
        src_ip: ip.src_ip,
        dst_ip: ip.dst_ip,
        ttl: ip.ttl,
        dscp: ip.dscp,
        ecn: ip.ecn,
        ident: ip.ident,
        dont_frag: ip.dont_frag,
        version,
        kind: payload[0] & 0x0f,
        vrid: payload[1],
        priority: payload[2],
        adver_int,
        auth_type,
        addresses,
        vrrp_len: payload.len(),
        checksum_ok: sum == 0xffff,
    })
}

/// One observed value: a text compared exactly, or a duration in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Ns(i64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(text) => f.write_str(text),
            Value::Ns(ns) => write!(f, "{:.6} s", *ns as f64 / 1e9),
        }
    }
}

/// Named observations of one side (real or simulated).
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub values: BTreeMap<String, Value>,
    /// What could not be observed (a missing advert, no takeover), by name.
    pub missing: Vec<String>,
}

impl Observed {
    pub fn text(&mut self, name: &str, value: impl ToString) {
        self.values
            .insert(name.to_string(), Value::Text(value.to_string()));
    }

    pub fn ns(&mut self, name: &str, value: i64) {
        self.values.insert(name.to_string(), Value::Ns(value));
    }

    pub fn missing(&mut self, what: impl Into<String>) {
        self.missing.push(what.into());
    }
}

/// The addresses a lab uses, the same on both sides.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub vip: Ipv4Addr,
    pub vrid: u8,
    /// (client-side address, client-side MAC, server-side address) of r1 and r2.
    pub routers: [(Ipv4Addr, [u8; 6], Ipv4Addr); 2],
    pub server: Ipv4Addr,
}

impl Shape {
    pub fn vmac(&self) -> [u8; 6] {
        [0x00, 0x00, 0x5e, 0x00, 0x01, self.vrid]
    }

    /// A MAC in words: which router's own MAC, the VRRP virtual MAC, or the bytes.
    fn mac_kind(&self, bytes: [u8; 6]) -> String {
        if bytes == self.vmac() {
            return format!("virtual MAC {}", mac(bytes));
        }
        for (index, (_, own, _)) in self.routers.iter().enumerate() {
            if *own == bytes {
                return format!("r{}'s own MAC {}", index + 1, mac(bytes));
            }
        }
        mac(bytes)
    }
}

/// How the IPv4 identification moves from one advert of a router to its next.
fn ident_step(adverts: &[&Advert]) -> String {
    let steps: Vec<i32> = adverts
        .windows(2)
        .map(|pair| i32::from(pair[1].ident.wrapping_sub(pair[0].ident)))
        .collect();
    if steps.is_empty() {
        return "unknown (one advert)".to_string();
    }
    if adverts.iter().all(|a| a.ident == 0) {
        return "always 0".to_string();
    }
    if steps.iter().all(|&s| s == 1) {
        return "+1 per advert".to_string();
    }
    let shown: Vec<String> = steps.iter().take(8).map(|s| s.to_string()).collect();
    format!("irregular (steps {})", shown.join(", "))
}

/// The advert's fields under `prefix`.
fn advert_fields(observed: &mut Observed, shape: &Shape, prefix: &str, advert: &Advert) {
    let key = |name: &str| format!("{prefix} {name}");
    observed.text(&key("VRRP version"), advert.version);
    observed.text(&key("VRRP type"), advert.kind);
    observed.text(&key("VRID"), advert.vrid);
    observed.text(&key("priority"), advert.priority);
    observed.text(&key("advert interval field"), advert.adver_int);
    observed.text(&key("auth type"), advert.auth_type);
    let addresses: Vec<String> = advert.addresses.iter().map(|a| a.to_string()).collect();
    observed.text(&key("addresses"), addresses.join(" "));
    observed.text(&key("VRRP length"), advert.vrrp_len);
    observed.text(&key("VRRP checksum valid"), advert.checksum_ok);
    observed.text(&key("IP TTL"), advert.ttl);
    observed.text(&key("IP DSCP"), advert.dscp);
    observed.text(&key("IP ECN"), advert.ecn);
    observed.text(&key("IP DF"), advert.dont_frag);
    observed.text(&key("IP source"), advert.src_ip);
    observed.text(&key("IP destination"), advert.dst_ip);
    observed.text(&key("Ethernet source"), shape.mac_kind(advert.src_mac));
    observed.text(&key("Ethernet destination"), mac(advert.dst_mac));
}

/// The steady state before any fault: the master's adverts and the backup's silence.
pub fn steady(observed: &mut Observed, shape: &Shape, lan: &Lan, until_ns: u64) {
    let r1 = shape.routers[0].0;
    let r2 = shape.routers[1].0;
    let before: Vec<&Advert> = lan
        .adverts
        .iter()
        .filter(|a| a.time_ns < until_ns)
        .collect();
    let master: Vec<&Advert> = before.iter().copied().filter(|a| a.src_ip == r1).collect();
    let Some(last) = master.last() else {
        observed.missing("steady: no advert from r1");
        return;
    };
    advert_fields(observed, shape, "steady r1 advert", last);
    // The run of adverts of r1's current daemon: after the last advert of r2 (none once r1 is
    // master from the start).
    let since = before
        .iter()
        .filter(|a| a.src_ip == r2)
        .map(|a| a.time_ns)
        .max()
        .unwrap_or(0);
    let run: Vec<&Advert> = master
        .iter()
        .copied()
        .filter(|a| a.time_ns > since)
        .collect();
    let Some(first) = run.first() else {
        observed.missing("steady: r2 advertised after r1's last advert");
        return;
    };
    observed.text("steady r1 advert IP id step", ident_step(&run));
    observed.text("steady r1 first advert IP id", first.ident);
    let gaps: Vec<u64> = run
        .windows(2)
        .map(|p| p[1].time_ns - p[0].time_ns)
        .collect();
    if let Some(median) = median(&gaps) {
        observed.ns("steady r1 advert period (median gap)", median as i64);
    } else {
        observed.missing("steady: fewer than two adverts from r1");
    }
    let r2_adverts = before
        .iter()
        .filter(|a| a.src_ip == r2 && a.time_ns > first.time_ns)
        .count();
    observed.text("steady r2 adverts while r1 is master", r2_adverts);
}

fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// A takeover after a fault of r1 at `fault_ns`: the last advert of the old master, the first of
/// the new one, and the gratuitous ARPs the new master sends until `end_ns`.
pub fn takeover(
    observed: &mut Observed,
    shape: &Shape,
    lan: &Lan,
    name: &str,
    fault_ns: u64,
    end_ns: u64,
) {
    let r1 = shape.routers[0].0;
    let r2 = shape.routers[1].0;
    let key = |what: &str| format!("{name} {what}");
    let Some(first_new) = lan
        .adverts
        .iter()
        .find(|a| a.src_ip == r2 && a.time_ns >= fault_ns && a.time_ns < end_ns)
    else {
        observed.missing(format!("{name}: r2 sent no advert after the fault"));
        return;
    };
    let Some(last_old) = lan
        .adverts
        .iter()
        .rfind(|a| a.src_ip == r1 && a.time_ns < first_new.time_ns)
    else {
        observed.missing(format!("{name}: no advert of r1 before r2's"));
        return;
    };
    let resigned: Vec<&Advert> = lan
        .adverts
        .iter()
        .filter(|a| {
            a.src_ip == r1 && a.priority == 0 && a.time_ns >= fault_ns.saturating_sub(1_000_000_000)
        })
        .filter(|a| a.time_ns < end_ns)
        .collect();
    observed.text(&key("priority-0 adverts from r1"), resigned.len());
    if let Some(zero) = resigned.first() {
        advert_fields(observed, shape, &key("r1 priority-0 advert"), zero);
    }
    observed.text(&key("last r1 advert priority"), last_old.priority);
    observed.ns(
        &key("takeover (last r1 advert -> first r2 advert)"),
        (first_new.time_ns - last_old.time_ns) as i64,
    );
    advert_fields(observed, shape, &key("r2 advert"), first_new);
    let new_run: Vec<&Advert> = lan
        .adverts
        .iter()
        .filter(|a| a.src_ip == r2 && a.time_ns >= first_new.time_ns && a.time_ns < end_ns)
        .collect();
    observed.text(&key("r2 advert IP id step"), ident_step(&new_run));
    observed.text(&key("r2 first advert IP id"), first_new.ident);
    observed.text(&key("r1 adverts after r2's first"), {
        lan.adverts
            .iter()
            .filter(|a| a.src_ip == r1 && a.time_ns > first_new.time_ns && a.time_ns < end_ns)
            .count()
    });

    // Gratuitous ARPs for the virtual IP from the new master, in bursts (a pause of a second
    // or more starts a new one).
    let garps: Vec<&Garp> = lan
        .garps
        .iter()
        .filter(|g| g.address == shape.vip)
        .filter(|g| g.time_ns + 1_000_000_000 >= first_new.time_ns && g.time_ns < end_ns)
        .collect();
    let mut bursts: Vec<Vec<&Garp>> = Vec::new();
    for garp in garps {
        match bursts.last_mut() {
            Some(burst) if garp.time_ns - burst.last().unwrap().time_ns < 1_000_000_000 => {
                burst.push(garp)
            }
            _ => bursts.push(vec![garp]),
        }
    }
    observed.text(&key("GARP bursts"), bursts.len());
    let counts: Vec<String> = bursts.iter().map(|b| b.len().to_string()).collect();
    observed.text(&key("GARPs per burst"), counts.join(" + "));
    if let Some(first) = bursts.first() {
        let garp = first[0];
        observed.ns(
            &key("first GARP after r2's first advert"),
            garp.time_ns as i64 - first_new.time_ns as i64,
        );
        observed.ns(
            &key("first burst spread"),
            (first.last().unwrap().time_ns - garp.time_ns) as i64,
        );
        observed.text(&key("GARP Ethernet source"), shape.mac_kind(garp.eth_src));
        observed.text(&key("GARP Ethernet destination"), mac(garp.eth_dst));
        observed.text(&key("GARP operation"), &garp.operation);
        observed.text(&key("GARP sender MAC"), shape.mac_kind(garp.sender_mac));
        observed.text(&key("GARP target MAC"), mac(garp.target_mac));
    } else {
        observed.missing(format!("{name}: no gratuitous ARP from r2"));
    }
    if let [first, second, ..] = &bursts[..] {
        observed.ns(
            &key("second burst after the first"),
            (second[0].time_ns - first[0].time_ns) as i64,
        );
    }
}

/// The relayed copies of each client DISCOVER reaching the server in `server_lan`, matched to
/// the client's broadcast in `client_lan`.
pub fn relays(observed: &mut Observed, shape: &Shape, client_lan: &Lan, server_lan: &Lan) {
    let copies: Vec<&Dhcp> = server_lan
        .dhcp
        .iter()
        .filter(|d| d.message_type == Some(MessageType::Discover) && d.dst_ip == shape.server)
        .collect();
    // One DISCOVER's copies: same xid, within half a second of the first.
    let mut groups: Vec<Vec<&Dhcp>> = Vec::new();
    for copy in copies {
        match groups
            .iter_mut()
            .find(|g| g[0].xid == copy.xid && copy.time_ns - g[0].time_ns < 500_000_000)
        {
            Some(group) => group.push(copy),
            None => groups.push(vec![copy]),
        }
    }
    let Some(first) = groups.first() else {
        observed.missing("relay: no relayed DISCOVER reached the server");
        return;
    };
    // The two sides' clients send different numbers of DISCOVERs; each must arrive twice.
    let mut sizes: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let sizes: Vec<String> = sizes.iter().map(|n| n.to_string()).collect();
    observed.text("relay copies of each DISCOVER", sizes.join(" or "));
    for (index, (own, _, upstream)) in shape.routers.iter().enumerate() {
        let name = format!("relay copy via r{}", index + 1);
        let key = |what: &str| format!("{name} {what}");
        let Some(copy) = first.iter().find(|c| c.src_ip == *upstream) else {
            observed.missing(format!("{name}: not seen"));
            continue;
        };
        let giaddr = if copy.giaddr == shape.vip {
            format!("{} (the virtual IP)", copy.giaddr)
        } else if copy.giaddr == *own {
            format!("{} (r{}'s own client-side address)", copy.giaddr, index + 1)
        } else {
            copy.giaddr.to_string()
        };
        observed.text(&key("giaddr"), giaddr);
        observed.text(&key("hops"), copy.hops);
        observed.text(&key("IP source"), copy.src_ip);
        observed.text(&key("IP destination"), copy.dst_ip);
        observed.text(&key("IP TTL"), copy.ttl);
        observed.text(&key("IP DSCP"), copy.dscp);
        observed.text(&key("IP DF"), copy.dont_frag);
        observed.text(&key("IP id"), copy.ident);
        observed.text(
            &key("UDP ports"),
            format!("{} -> {}", copy.src_port, copy.dst_port),
        );
        observed.text(&key("option 82"), copy.option82);
        // The relay changes hops and giaddr only; everything else is the client's bytes.
        let original = client_lan
            .dhcp
            .iter()
            .rfind(|d| {
                d.xid == copy.xid
                    && d.message_type == Some(MessageType::Discover)
                    && d.time_ns <= copy.time_ns
                    && d.giaddr.is_unspecified()
            })
            .map(|d| d.payload.clone());
        let same = match original {
            None => "client DISCOVER not seen".to_string(),
            Some(original) => {
                let mut relayed = copy.payload.clone();
                if relayed.len() >= 28 && original.len() >= 28 {
                    relayed[3] = original[3];
                    relayed[24..28].copy_from_slice(&original[24..28]);
                }
                if relayed == original {
                    "yes".to_string()
                } else {
                    format!(
                        "no ({} bytes relayed, {} sent by the client)",
                        relayed.len(),
                        original.len()
                    )
                }
            }
        };
        observed.text(&key("is the client's message but hops and giaddr"), same);
    }
    let gaps: Vec<String> = groups
        .iter()
        .filter(|g| g.len() >= 2)
        .map(|g| format!("{} us", (g[1].time_ns - g[0].time_ns) / 1000))
        .collect();
    observed.text("relay gaps between the two copies", gaps.join(", "));
    if let Some(max) = groups
        .iter()
        .filter(|g| g.len() >= 2)
        .map(|g| g[1].time_ns - g[0].time_ns)
        .max()
    {
        observed.ns("relay largest gap between the two copies", max as i64);
    }
}
