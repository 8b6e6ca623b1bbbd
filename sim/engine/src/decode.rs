//! The one decoder and printer of frames: what a frame is (`class`), one line about it
//! (`describe`), every layer of it for the packet inspector (`layers`), the DHCP request it
//! carries, as far as telling relayed copies apart goes (`request`, `relayed_request`,
//! `Copies`), and the reply that answers one (`reply`). All of it on the parsers the nodes use
//! (smoltcp for the headers, `dhcp` on dhcproto, `wire` for TFTP, HSRP and VRRP), so what a
//! report or the browser shows is what the nodes read. Nothing here panics on any bytes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

use dhcproto::Encodable;
use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use smoltcp::wire::{EthernetFrame, IpProtocol, Ipv4Packet, Ipv4Repr};
use wire::{hsrp, tftp, vrrp};

use crate::client::PXE_BOOT_SERVER_PORT;
use crate::frame;
use crate::log::NodeId;
use crate::router::{DHCP_CLIENT_PORT, DHCP_SERVER_PORT};
/// BOOTP/DHCP server, client and PXE boot server ports.
const DHCP_PORTS: [u16; 3] = [DHCP_SERVER_PORT, DHCP_CLIENT_PORT, PXE_BOOT_SERVER_PORT];

/// What a frame is, as a reader of a boot race tells frames apart (the timeline's colours).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Malformed,
    Arp,
    Vrrp,
    Hsrp,
    Discover,
    Offer,
    Request,
    Ack,
    Nak,
    /// A DHCP message of another type (RELEASE, INFORM, ...) or BOOTP.
    DhcpOther,
    /// A proxyDHCP reply or anything on the PXE boot server port.
    Proxy,
    Tftp,
    Other,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Malformed => "malformed",
            Class::Arp => "arp",
            Class::Vrrp => "vrrp",
            Class::Hsrp => "hsrp",
            Class::Discover => "discover",
            Class::Offer => "offer",
            Class::Request => "request",
            Class::Ack => "ack",
            Class::Nak => "nak",
            Class::DhcpOther => "dhcp-other",
            Class::Proxy => "proxy",
            Class::Tftp => "tftp",
            Class::Other => "other",
        }
    }

    /// DHCP or BOOTP of any kind (proxyDHCP and port 4011 included).
    pub fn is_dhcp(self) -> bool {
        matches!(
            self,
            Class::Discover
                | Class::Offer
                | Class::Request
                | Class::Ack
                | Class::Nak
                | Class::DhcpOther
                | Class::Proxy
        )
    }
}

/// What a frame is.
pub fn class(frame: &[u8]) -> Class {
    let Ok(parsed) = frame::parse(frame) else {
        return Class::Malformed;
    };
    if crate::arp::is_arp(frame) {
        return if crate::arp::parse(frame).is_some() {
            Class::Arp
        } else {
            Class::Malformed
        };
    }
    let Some(ip) = parsed.ipv4 else {
        return Class::Other;
    };
    if ip.next_header == IpProtocol::Unknown(vrrp::IP_PROTOCOL) {
        return Class::Vrrp;
    }
    let Some((udp, payload)) = parsed.udp else {
        return Class::Other;
    };
    if udp.dst_port == hsrp::UDP_PORT {
        return Class::Hsrp;
    }
    if DHCP_PORTS.contains(&udp.src_port) || DHCP_PORTS.contains(&udp.dst_port) {
        let Ok(message) = crate::dhcp::decode(payload) else {
            return Class::Malformed;
        };
        if udp.src_port == PXE_BOOT_SERVER_PORT
            || udp.dst_port == PXE_BOOT_SERVER_PORT
            || is_proxy_reply(&message)
        {
            return Class::Proxy;
        }
        return match message.opts().msg_type() {
            Some(MessageType::Discover) => Class::Discover,
            Some(MessageType::Offer) => Class::Offer,
            Some(MessageType::Request) => Class::Request,
            Some(MessageType::Ack) => Class::Ack,
            Some(MessageType::Nak) => Class::Nak,
            _ => Class::DhcpOther,
        };
    }
    if tftp::Packet::new_checked(payload)
        .and_then(|packet| tftp::Repr::parse(&packet))
        .is_ok()
    {
        return Class::Tftp;
    }
    Class::Other
}

/// A reply that offers no address but carries the PXEClient class: a proxy DHCP offer (WDS).
fn is_proxy_reply(message: &Message) -> bool {
    let reply = matches!(
        message.opts().msg_type(),
        Some(MessageType::Offer | MessageType::Ack)
    );
    is_pxe(message) && reply && message.yiaddr().is_unspecified()
}

fn is_pxe(message: &Message) -> bool {
    matches!(
        message.opts().get(OptionCode::ClassIdentifier),
        Some(DhcpOption::ClassIdentifier(id)) if id.starts_with(b"PXEClient")
    )
}

/// `DISCOVER`, `OFFER`, ...; `BOOTP` for a message without a type.
pub fn message_kind(message_type: Option<MessageType>) -> String {
    message_type.map_or_else(|| "BOOTP".to_string(), |t| format!("{t:?}").to_uppercase())
}

// ---- requests and their relayed copies ----

/// What identifies one client request however many relays carried it: the server port, the
/// message type, xid, client hardware address and `secs` (a relay changes giaddr and hops, and
/// nothing of these). A client's retransmission is another request: its `secs` differs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestKey {
    pub port: u16,
    /// The option 53 value (0 for BOOTP).
    pub message_type: u8,
    pub xid: u32,
    pub chaddr: Vec<u8>,
    pub secs: u16,
}

impl RequestKey {
    pub fn kind(&self) -> String {
        message_kind((self.message_type != 0).then(|| MessageType::from(self.message_type)))
    }
}

/// A BOOTREQUEST sent to a server port (67 or 4011).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub key: RequestKey,
    /// The relay that carried it (unspecified when it came straight from the client).
    pub giaddr: Ipv4Addr,
    /// The IPv4 source and destination of the packet that carries it.
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// The request a frame carries to a server port, if it carries one.
pub fn request(frame: &[u8]) -> Option<Request> {
    let (ip, port, message) = server_port_message(frame, Opcode::BootRequest)?;
    Some(Request {
        key: RequestKey {
            port,
            message_type: message.opts().msg_type().map_or(0, u8::from),
            xid: message.xid(),
            chaddr: message.chaddr().to_vec(),
            secs: message.secs(),
        },
        giaddr: message.giaddr(),
        src: ip.src_addr,
        dst: ip.dst_addr,
    })
}

/// A BOOTREPLY sent from a server port (67 or 4011): what pairs it with the request it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The option 53 value (0 for BOOTP).
    pub message_type: u8,
    pub xid: u32,
    pub chaddr: Vec<u8>,
    /// The server that sent it, and where it goes: the relay's giaddr or the client.
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// The reply a frame carries from a server port, if it carries one.
pub fn reply(frame: &[u8]) -> Option<Reply> {
    let (ip, _, message) = server_port_message(frame, Opcode::BootReply)?;
    Some(Reply {
        message_type: message.opts().msg_type().map_or(0, u8::from),
        xid: message.xid(),
        chaddr: message.chaddr().to_vec(),
        src: ip.src_addr,
        dst: ip.dst_addr,
    })
}

/// The BOOTREQUEST a frame carries to a server port (67 or 4011), or the BOOTREPLY it carries
/// from one, as `opcode` says: its IPv4 header, that server port and the message.
fn server_port_message(frame: &[u8], opcode: Opcode) -> Option<(Ipv4Repr, u16, Message)> {
    let parsed = frame::parse(frame).ok()?;
    let ip = parsed.ipv4?;
    let (udp, payload) = parsed.udp?;
    let port = match opcode {
        Opcode::BootRequest => udp.dst_port,
        _ => udp.src_port,
    };
    if !matches!(port, DHCP_SERVER_PORT | PXE_BOOT_SERVER_PORT) {
        return None;
    }
    let message = crate::dhcp::decode(payload).ok()?;
    if message.opcode() != opcode {
        return None;
    }
    Some((ip, port, message))
}

/// The request of a frame that a relay carried (giaddr set).
pub fn relayed_request(frame: &[u8]) -> Option<Request> {
    request(frame).filter(|request| !request.giaddr.is_unspecified())
}

/// A relayed copy: a request that reached a node again through another relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    pub key: RequestKey,
    /// When the first copy reached the node, and through which relay.
    pub first_ns: u64,
    pub first_giaddr: Ipv4Addr,
    /// How many copies reached the node so far, this one included.
    pub count: u32,
}

/// Finds the relayed copies of requests among the frames nodes receive: the one definition of
/// "the same request twice" that sweeps, shrink's race story and the web UI share.
#[derive(Default)]
pub struct Copies {
    seen: BTreeMap<(NodeId, RequestKey), (u64, Ipv4Addr, Vec<Ipv4Addr>)>,
}

impl Copies {
    /// Takes a frame `node` received at `time_ns`; a relayed copy of a request the node already
    /// had through another relay comes back as `Some`.
    pub fn receive(&mut self, node: NodeId, time_ns: u64, frame: &[u8]) -> Option<Copy> {
        let request = relayed_request(frame)?;
        let slot = (node, request.key);
        match self.seen.get_mut(&slot) {
            None => {
                self.seen
                    .insert(slot, (time_ns, request.giaddr, vec![request.giaddr]));
                None
            }
            Some((first_ns, first_giaddr, relays)) => {
                if relays.contains(&request.giaddr) {
                    // The same relay again (a LAN duplicate): not another relay's copy.
                    return None;
                }
                relays.push(request.giaddr);
                Some(Copy {
                    key: slot.1,
                    first_ns: *first_ns,
                    first_giaddr: *first_giaddr,
                    count: relays.len() as u32,
                })
            }
        }
    }
}

/// `10.1.0.2:67 -> 10.2.0.20:67 DHCP DISCOVER xid 0x1a2b3c4d chaddr 02:50:03:00:00:07 giaddr 10.1.0.2 hops 1`
pub fn describe(bytes: &[u8]) -> String {
    let parsed = match frame::parse(bytes) {
        Ok(parsed) => parsed,
        Err(error) => return format!("malformed frame ({error}, {} bytes)", bytes.len()),
    };
    if crate::arp::is_arp(bytes) {
        return describe_arp(bytes);
    }
    if let Some(ip) = parsed.ipv4
        && ip.next_header == smoltcp::wire::IpProtocol::Unknown(vrrp::IP_PROTOCOL)
    {
        let text = vrrp::Packet::new_checked(parsed.ipv4_payload)
            .and_then(|packet| vrrp::Repr::parse(&packet, ip.src_addr))
            .map_or_else(
                |_| "malformed VRRP".to_string(),
                |advert| {
                    format!(
                        "VRRP v{} advertisement vrid {} priority {} interval {}cs {:?}",
                        advert.version.number(),
                        advert.vrid,
                        advert.priority,
                        advert.advertisement_interval_cs,
                        advert.addresses
                    )
                },
            );
        return format!("{} -> {} {text}", ip.src_addr, ip.dst_addr);
    }
    let (Some(ip), Some((udp, payload))) = (parsed.ipv4, parsed.udp) else {
        return format!(
            "{} -> {} ethertype {}",
            parsed.ethernet.src_addr, parsed.ethernet.dst_addr, parsed.ethernet.ethertype
        );
    };
    let mut text = format!(
        "{}:{} -> {}:{} ",
        ip.src_addr, udp.src_port, ip.dst_addr, udp.dst_port
    );
    let ports = [udp.src_port, udp.dst_port];
    if udp.dst_port == hsrp::UDP_PORT {
        text.push_str(&describe_hsrp(payload));
    } else if ports.iter().any(|p| DHCP_PORTS.contains(p)) {
        text.push_str(&describe_dhcp(payload));
    } else if let Ok(repr) =
        tftp::Packet::new_checked(payload).and_then(|packet| tftp::Repr::parse(&packet))
    {
        text.push_str(&describe_tftp(&repr));
    } else {
        let _ = write!(text, "UDP {} bytes", payload.len());
    }
    text
}

/// `ARP who-has 10.1.0.1 tell 10.1.0.100`, `ARP 10.1.0.1 is-at 00:00:0c:07:ac:0a`, as tcpdump
/// prints them; a gratuitous ARP (sender = target) is named so.
fn describe_arp(bytes: &[u8]) -> String {
    use smoltcp::wire::{ArpOperation, ArpRepr};
    let Some(ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    }) = crate::arp::parse(bytes)
    else {
        return format!("malformed ARP ({} bytes)", bytes.len());
    };
    match operation {
        ArpOperation::Request if source_protocol_addr == target_protocol_addr => {
            format!("ARP gratuitous {source_protocol_addr} is-at {source_hardware_addr}")
        }
        ArpOperation::Request => {
            format!("ARP who-has {target_protocol_addr} tell {source_protocol_addr}")
        }
        ArpOperation::Reply => format!("ARP {source_protocol_addr} is-at {source_hardware_addr}"),
        other => format!("ARP {other:?} from {source_protocol_addr}"),
    }
}

fn describe_hsrp(payload: &[u8]) -> String {
    let Ok(message) = hsrp::Packet::new_checked(payload).and_then(|p| hsrp::Repr::parse(&p)) else {
        return "malformed HSRP".to_string();
    };
    format!(
        "HSRP v{} {:?} group {} {:?} priority {} vip {}",
        message.version.number(),
        message.op_code,
        message.group,
        message.state,
        message.priority,
        message.virtual_ip
    )
}

pub fn describe_dhcp(payload: &[u8]) -> String {
    let message = match crate::dhcp::decode(payload) {
        Ok(message) => message,
        Err(error) => return format!("malformed DHCP ({error})"),
    };
    let kind = message_kind(message.opts().msg_type());
    let pxe = is_pxe(&message);
    let chaddr = message.chaddr();
    let mut text = format!(
        "DHCP {kind} xid {:#010x} chaddr {}",
        message.xid(),
        mac(&chaddr[..chaddr.len().min(6)])
    );
    if !message.giaddr().is_unspecified() {
        let _ = write!(text, " giaddr {}", message.giaddr());
    }
    if message.hops() > 0 {
        let _ = write!(text, " hops {}", message.hops());
    }
    if !message.yiaddr().is_unspecified() {
        let _ = write!(text, " yiaddr {}", message.yiaddr());
    }
    if let Some(Ok(file)) = message
        .fname_str()
        .map(|f| f.map(|f| f.trim_end_matches('\0')))
        && !file.is_empty()
    {
        let _ = write!(text, " file {file}");
    }
    if pxe {
        text.push_str(" [PXEClient]");
    }
    text
}

fn describe_tftp(repr: &tftp::Repr) -> String {
    match repr {
        tftp::Repr::ReadRequest {
            filename, options, ..
        } => format!("TFTP RRQ {filename} {options:?}"),
        tftp::Repr::WriteRequest { filename, .. } => format!("TFTP WRQ {filename}"),
        tftp::Repr::Data { block, data } => {
            format!("TFTP DATA block {block} ({} bytes)", data.len())
        }
        tftp::Repr::Ack { block } => format!("TFTP ACK block {block}"),
        tftp::Repr::Error { code, message } => format!("TFTP ERROR {code} {message}"),
        tftp::Repr::OptionAck { options } => format!("TFTP OACK {options:?}"),
    }
}

// ---- every layer, for the packet inspector ----

/// One `name: value` line of a layer.
pub type Field = (&'static str, String);

/// One protocol layer of a frame; a layer that does not parse ends the list with `error` set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub fields: Vec<Field>,
    /// A DHCP layer's options, in wire order.
    pub options: Vec<DhcpOptionView>,
    pub error: Option<String>,
}

impl Layer {
    fn new(name: &str, fields: Vec<Field>) -> Layer {
        Layer {
            name: name.to_string(),
            fields,
            options: Vec::new(),
            error: None,
        }
    }
}

/// One DHCP option as the inspector shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpOptionView {
    pub code: u8,
    pub name: String,
    pub value: String,
    pub hex: String,
    /// Option 43's PXE suboptions.
    pub suboptions: Vec<Suboption>,
}

/// One PXE suboption of option 43 (PXE specification 2.1, table 2-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suboption {
    pub code: u8,
    pub name: &'static str,
    pub value: String,
    pub hex: String,
}

impl Suboption {
    fn new(code: u8, name: &'static str, value: String, hex: String) -> Suboption {
        Suboption {
            code,
            name,
            value,
            hex,
        }
    }
}

/// Every layer of `frame`, outermost first.
pub fn layers(frame: &[u8]) -> Vec<Layer> {
    let mut layers = Vec::new();
    decode_layers(frame, &mut layers);
    layers
}

fn field(name: &'static str, value: impl ToString) -> Field {
    (name, value.to_string())
}

/// The bytes as the inspector shows them: `0a 01 00 02`.
pub fn hex(bytes: &[u8]) -> String {
    hex_joined(bytes, " ")
}

/// A hardware address: `02:50:03:00:00:07`.
fn mac(bytes: &[u8]) -> String {
    hex_joined(bytes, ":")
}

fn hex_joined(bytes: &[u8], separator: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// Bytes as text when they are printable ASCII, else as hex.
fn text_or_hex(bytes: &[u8]) -> String {
    if !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        hex(bytes)
    }
}

fn arp_layer(frame: &[u8]) -> Layer {
    let Some(smoltcp::wire::ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_hardware_addr,
        target_protocol_addr,
    }) = crate::arp::parse(frame)
    else {
        return error_layer("ARP", "not an Ethernet/IPv4 ARP packet");
    };
    let operation = match operation {
        smoltcp::wire::ArpOperation::Request => "request (1)".to_string(),
        smoltcp::wire::ArpOperation::Reply => "reply (2)".to_string(),
        other => format!("{other:?}"),
    };
    Layer::new(
        "ARP",
        vec![
            field("Operation", operation),
            field("Sender MAC", source_hardware_addr),
            field("Sender IP", source_protocol_addr),
            field("Target MAC", target_hardware_addr),
            field("Target IP", target_protocol_addr),
        ],
    )
}

fn error_layer(name: &str, error: impl ToString) -> Layer {
    Layer {
        name: name.to_string(),
        fields: Vec::new(),
        options: Vec::new(),
        error: Some(error.to_string()),
    }
}

fn decode_layers(frame: &[u8], layers: &mut Vec<Layer>) {
    let ethernet = match EthernetFrame::new_checked(frame) {
        Ok(ethernet) => ethernet,
        Err(error) => return layers.push(error_layer("Ethernet", error)),
    };
    layers.push(Layer::new(
        "Ethernet II",
        vec![
            field("Destination", ethernet.dst_addr()),
            field("Source", ethernet.src_addr()),
            field("EtherType", ethernet.ethertype()),
        ],
    ));
    if crate::arp::is_arp(frame) {
        return layers.push(arp_layer(frame));
    }
    let parsed = match frame::parse(frame) {
        Ok(parsed) => parsed,
        Err(error) => return layers.push(error_layer("IPv4", error)),
    };
    let Some(ip) = parsed.ipv4 else {
        return;
    };
    if let Ok(packet) = Ipv4Packet::new_checked(ethernet.payload()) {
        layers.push(Layer::new(
            "IPv4",
            vec![
                field("Source", ip.src_addr),
                field("Destination", ip.dst_addr),
                field("Protocol", ip.next_header),
                field("TTL", ip.hop_limit),
                field("Header length", format!("{} bytes", packet.header_len())),
                field("Total length", format!("{} bytes", packet.total_len())),
                field("Identification", format!("{:#06x}", packet.ident())),
                field(
                    "Header checksum",
                    format!("{:#06x} (valid)", packet.checksum()),
                ),
            ],
        ));
    }
    if ip.next_header == IpProtocol::Unknown(vrrp::IP_PROTOCOL) {
        let layer = match vrrp::Packet::new_checked(parsed.ipv4_payload)
            .and_then(|packet| vrrp::Repr::parse(&packet, ip.src_addr))
        {
            Ok(advert) => Layer::new(
                "VRRP",
                vec![
                    field(
                        "Version",
                        match advert.version {
                            vrrp::Version::V3 => 3,
                            _ => 2,
                        },
                    ),
                    field("Virtual router id", advert.vrid),
                    field("Priority", advert.priority),
                    field(
                        "Advertisement interval",
                        format!("{} cs", advert.advertisement_interval_cs),
                    ),
                    field(
                        "Addresses",
                        advert
                            .addresses
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ],
            ),
            Err(_) => error_layer("VRRP", "malformed VRRP advertisement"),
        };
        return layers.push(layer);
    }
    let Some((udp, payload)) = parsed.udp else {
        return;
    };
    layers.push(Layer::new(
        "UDP",
        vec![
            field("Source port", udp.src_port),
            field("Destination port", udp.dst_port),
            field("Payload length", format!("{} bytes", payload.len())),
            field("Checksum", "valid"),
        ],
    ));
    if udp.dst_port == hsrp::UDP_PORT {
        return layers.push(hsrp_layer(payload));
    }
    if DHCP_PORTS.contains(&udp.src_port) || DHCP_PORTS.contains(&udp.dst_port) {
        return layers.push(dhcp_layer(payload));
    }
    if let Ok(repr) = tftp::Packet::new_checked(payload).and_then(|p| tftp::Repr::parse(&p)) {
        layers.push(tftp_layer(&repr));
    }
}

fn hsrp_layer(payload: &[u8]) -> Layer {
    let Ok(message) = hsrp::Packet::new_checked(payload).and_then(|p| hsrp::Repr::parse(&p)) else {
        return error_layer("HSRP", "malformed HSRP message");
    };
    let mut fields = vec![
        field("Version", message.version.number()),
        field("Op code", format!("{:?}", message.op_code)),
        field("State", format!("{:?}", message.state)),
        field("Group", message.group),
        field("Priority", message.priority),
        field("Hello time", format!("{} ms", message.hello_time_ms)),
        field("Hold time", format!("{} ms", message.hold_time_ms)),
        field("Virtual IP", message.virtual_ip),
    ];
    if let Some(identifier) = message.identifier {
        fields.push(field("Identifier", mac(&identifier)));
    }
    if let Some(authentication) = message.authentication {
        fields.push(field("Authentication", text_or_hex(&authentication)));
    }
    Layer::new("HSRP", fields)
}

fn tftp_layer(repr: &tftp::Repr) -> Layer {
    let options = |options: &[(&str, &str)]| {
        options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let fields = match repr {
        tftp::Repr::ReadRequest {
            filename,
            mode,
            options: o,
        } => vec![
            field("Opcode", "RRQ (read request)"),
            field("File", filename),
            field("Mode", mode),
            field("Options", options(o)),
        ],
        tftp::Repr::WriteRequest {
            filename,
            mode,
            options: o,
        } => vec![
            field("Opcode", "WRQ (write request)"),
            field("File", filename),
            field("Mode", mode),
            field("Options", options(o)),
        ],
        tftp::Repr::Data { block, data } => vec![
            field("Opcode", "DATA"),
            field("Block", block),
            field("Data length", format!("{} bytes", data.len())),
        ],
        tftp::Repr::Ack { block } => vec![field("Opcode", "ACK"), field("Block", block)],
        tftp::Repr::Error { code, message } => vec![
            field("Opcode", "ERROR"),
            field("Error code", code),
            field("Message", message),
        ],
        tftp::Repr::OptionAck { options: o } => {
            vec![field("Opcode", "OACK"), field("Options", options(o))]
        }
    };
    Layer::new("TFTP", fields)
}

fn dhcp_layer(payload: &[u8]) -> Layer {
    let message = match crate::dhcp::decode(payload) {
        Ok(message) => message,
        Err(error) => return error_layer("DHCP", format!("malformed DHCP message: {error}")),
    };
    let kind = message
        .opts()
        .msg_type()
        .map_or_else(|| "BOOTP".to_string(), |t| format!("{t:?}").to_uppercase());
    let name = |bytes: Option<&[u8]>| {
        let bytes = bytes.unwrap_or_default();
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    };
    let fields = vec![
        field("Message type", &kind),
        field("Op", format!("{:?}", message.opcode())),
        field("Hardware type", format!("{:?}", message.htype())),
        field("Hops", message.hops()),
        field("Transaction id (xid)", format!("{:#010x}", message.xid())),
        field("Seconds", message.secs()),
        field(
            "Flags",
            if message.flags().broadcast() {
                "broadcast"
            } else {
                "unicast"
            },
        ),
        field("Client IP (ciaddr)", message.ciaddr()),
        field("Your IP (yiaddr)", message.yiaddr()),
        field("Next server (siaddr)", message.siaddr()),
        field("Relay agent (giaddr)", message.giaddr()),
        field("Client MAC (chaddr)", mac(message.chaddr())),
        field("Server name (sname)", name(message.sname())),
        field("Boot file (file)", name(message.fname())),
    ];
    let options: Vec<DhcpOptionView> = message
        .opts()
        .iter()
        .map(|(code, option)| dhcp_option(*code, option))
        .collect();
    Layer {
        name: format!("DHCP {kind}"),
        fields,
        options,
        error: None,
    }
}

/// `ClientSystemArchitecture` -> `Client system architecture`.
fn words(name: &str) -> String {
    let mut out = String::new();
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn dhcp_option(code: OptionCode, option: &DhcpOption) -> DhcpOptionView {
    let number = u8::from(code);
    let raw = option.to_vec().unwrap_or_default();
    let suboptions = match option {
        DhcpOption::VendorExtensions(bytes) => pxe_suboptions(bytes),
        _ => Vec::new(),
    };
    let (name, value) = match option {
        DhcpOption::MessageType(kind) => (
            "DHCP message type".to_string(),
            format!("{kind:?}").to_uppercase(),
        ),
        DhcpOption::ParameterRequestList(codes) => (
            "Parameter request list".to_string(),
            codes
                .iter()
                .map(|code| u8::from(*code).to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        DhcpOption::ClassIdentifier(id) => ("Vendor class identifier".to_string(), text_or_hex(id)),
        DhcpOption::VendorExtensions(bytes) => (
            "Vendor-specific information (PXE)".to_string(),
            format!("{} bytes", bytes.len()),
        ),
        DhcpOption::ClientSystemArchitecture(arch) => {
            let code = u16::from(*arch);
            (
                "Client system architecture".to_string(),
                format!("{code} ({})", architecture_name(code)),
            )
        }
        DhcpOption::ClientNetworkInterface(kind, major, minor) => (
            "Client network interface identifier".to_string(),
            format!("type {kind} (UNDI) version {major}.{minor}"),
        ),
        DhcpOption::ClientMachineIdentifier(bytes) => (
            "Client machine identifier (UUID/GUID)".to_string(),
            guid(bytes),
        ),
        DhcpOption::Unknown(unknown) => (format!("Unknown option {number}"), hex(unknown.data())),
        other => {
            let debug = format!("{other:?}");
            let value = debug
                .split_once('(')
                .map_or(debug.as_str(), |(_, rest)| {
                    rest.strip_suffix(')').unwrap_or(rest)
                })
                .to_string();
            (words(&format!("{code:?}")), value)
        }
    };
    DhcpOptionView {
        code: number,
        name,
        value,
        hex: hex(&raw),
        suboptions,
    }
}

fn architecture_name(code: u16) -> &'static str {
    match code {
        0 => "Intel x86PC (BIOS)",
        6 => "EFI IA32",
        7 => "EFI BC (x64)",
        9 => "EFI x86-64",
        10 => "ARM 32-bit UEFI",
        11 => "ARM 64-bit UEFI",
        _ => "other",
    }
}

/// Option 97: a type byte (0) then a 16-byte GUID, shown in the usual dashed form.
fn guid(bytes: &[u8]) -> String {
    match bytes.split_first() {
        Some((0, id)) if id.len() == 16 => {
            let h = |range: std::ops::Range<usize>| hex(&id[range]).replace(' ', "");
            format!(
                "type 0 GUID {}-{}-{}-{}-{}",
                h(0..4),
                h(4..6),
                h(6..8),
                h(8..10),
                h(10..16)
            )
        }
        _ => hex(bytes),
    }
}

/// The PXE suboptions inside option 43 (PXE specification 2.1, table 2-1): a TLV list that
/// ends at 255; a truncated entry ends the list with an error entry.
fn pxe_suboptions(bytes: &[u8]) -> Vec<Suboption> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some((&code, tail)) = rest.split_first() {
        if code == 255 {
            out.push(Suboption::new(255, "End", String::new(), "ff".to_string()));
            break;
        }
        if code == 0 {
            rest = tail;
            continue;
        }
        let Some((data, after)) = tail
            .split_first()
            .and_then(|(&len, tail)| tail.split_at_checked(usize::from(len)))
        else {
            out.push(Suboption::new(
                code,
                "truncated suboption",
                String::new(),
                hex(rest),
            ));
            break;
        };
        let (name, value) = match code {
            6 => ("PXE discovery control", discovery_control(data)),
            8 => ("PXE boot servers", hex(data)),
            9 => ("PXE boot menu", boot_menu(data)),
            10 => ("PXE menu prompt", menu_prompt(data)),
            71 => ("PXE boot item", boot_item(data)),
            _ => ("PXE suboption", text_or_hex(data)),
        };
        out.push(Suboption::new(code, name, value, hex(data)));
        rest = after;
    }
    out
}

fn discovery_control(data: &[u8]) -> String {
    let Some(&bits) = data.first() else {
        return "empty".to_string();
    };
    let mut flags = Vec::new();
    for (bit, meaning) in [
        (1, "no broadcast discovery"),
        (2, "no multicast discovery"),
        (4, "only servers in the boot server list"),
        (8, "boot file name is given: no boot server discovery"),
    ] {
        if bits & bit != 0 {
            flags.push(meaning);
        }
    }
    format!("{bits:#04x} {}", flags.join(", "))
}

/// Entries of type (2 bytes), length, description.
fn boot_menu(data: &[u8]) -> String {
    let mut items = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let item = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(rest[2]);
        let Some(text) = rest.get(3..3 + len) else {
            items.push("truncated entry".to_string());
            break;
        };
        items.push(format!("{item}: {}", String::from_utf8_lossy(text)));
        rest = &rest[3 + len..];
    }
    items.join("; ")
}

fn menu_prompt(data: &[u8]) -> String {
    match data.split_first() {
        Some((timeout, text)) => {
            format!("timeout {timeout} s: {}", String::from_utf8_lossy(text))
        }
        None => "empty".to_string(),
    }
}

fn boot_item(data: &[u8]) -> String {
    match data {
        [a, b, c, d] => format!(
            "type {} layer {}",
            u16::from_be_bytes([*a, *b]),
            u16::from_be_bytes([*c, *d])
        ),
        _ => hex(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_decodes_to_error_layers_without_panicking() {
        let mut bytes = vec![0u8; 64];
        for length in 0..bytes.len() {
            let _ = layers(&bytes[..length]);
            let _ = class(&bytes[..length]);
            let _ = describe(&bytes[..length]);
            let _ = relayed_request(&bytes[..length]);
            let _ = reply(&bytes[..length]);
        }
        bytes[12] = 0x08; // IPv4 ethertype with a zero header: an IPv4 error layer
        let layers = layers(&bytes);
        assert_eq!(layers[1].name, "IPv4");
        assert!(layers[1].error.is_some());
    }

    #[test]
    fn pxe_suboptions_parse_and_stop_at_truncation() {
        let parsed = pxe_suboptions(&[6, 1, 8, 10, 4, 0, 5, b'h', b'i', 255]);
        assert_eq!(parsed[0].name, "PXE discovery control");
        assert_eq!(parsed[1].value, "timeout 0 s: \u{5}hi");
        assert_eq!(parsed[2].name, "End");
        let truncated = pxe_suboptions(&[9, 40, 1]);
        assert_eq!(truncated[0].name, "truncated suboption");
    }
}
