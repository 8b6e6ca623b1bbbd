//! Structured decoding of one frame for the packet inspector, layer by layer, with the parsers
//! the simulator itself uses (`engine::frame` on smoltcp, `engine::dhcp` on dhcproto, `wire`),
//! so what the browser shows is what the nodes read. Never panics on any bytes.

use dhcproto::Encodable;
use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use serde_json::{Value, json};
use smoltcp::wire::{EthernetFrame, IpProtocol, Ipv4Packet};
use wire::{hsrp, tftp, vrrp};

/// BOOTP/DHCP server, client and PXE boot server ports.
const DHCP_PORTS: [u16; 3] = [67, 68, 4011];

/// The colour class of a frame in the timeline: what a reader of a boot race tells apart.
pub fn class(frame: &[u8]) -> &'static str {
    let Ok(parsed) = engine::frame::parse(frame) else {
        return "malformed";
    };
    if engine::arp::is_arp(frame) {
        return if engine::arp::parse(frame).is_some() {
            "arp"
        } else {
            "malformed"
        };
    }
    let Some(ip) = parsed.ipv4 else {
        return "other";
    };
    if ip.next_header == IpProtocol::Unknown(vrrp::IP_PROTOCOL) {
        return "vrrp";
    }
    let Some((udp, payload)) = parsed.udp else {
        return "other";
    };
    if udp.dst_port == hsrp::UDP_PORT {
        return "hsrp";
    }
    if DHCP_PORTS.contains(&udp.src_port) || DHCP_PORTS.contains(&udp.dst_port) {
        let Ok(message) = engine::dhcp::decode(payload) else {
            return "malformed";
        };
        if udp.src_port == 4011 || udp.dst_port == 4011 || is_proxy_reply(&message) {
            return "proxy";
        }
        return match message.opts().msg_type() {
            Some(MessageType::Discover) => "discover",
            Some(MessageType::Offer) => "offer",
            Some(MessageType::Request) => "request",
            Some(MessageType::Ack) => "ack",
            Some(MessageType::Nak) => "nak",
            _ => "dhcp-other",
        };
    }
    if tftp::Packet::new_checked(payload)
        .and_then(|packet| tftp::Repr::parse(&packet))
        .is_ok()
    {
        return "tftp";
    }
    "other"
}

/// A reply that offers no address but carries the PXEClient class: a proxy DHCP offer (WDS).
fn is_proxy_reply(message: &Message) -> bool {
    let pxe = matches!(
        message.opts().get(OptionCode::ClassIdentifier),
        Some(DhcpOption::ClassIdentifier(id)) if id.starts_with(b"PXEClient")
    );
    let reply = matches!(
        message.opts().msg_type(),
        Some(MessageType::Offer | MessageType::Ack)
    );
    pxe && reply && message.yiaddr().is_unspecified()
}

/// What identifies the copies of one client request relayed by several routers: the same
/// message type, xid and client hardware address (giaddr is what differs between copies).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestKey {
    pub message: String,
    pub xid: u32,
    pub chaddr: Vec<u8>,
}

/// The request key and giaddr of a relayed DHCP request (giaddr set), else `None`.
pub fn relayed_request(frame: &[u8]) -> Option<(RequestKey, std::net::Ipv4Addr)> {
    let parsed = engine::frame::parse(frame).ok()?;
    let (udp, payload) = parsed.udp?;
    if !DHCP_PORTS.contains(&udp.dst_port) {
        return None;
    }
    let message = engine::dhcp::decode(payload).ok()?;
    if message.opcode() != dhcproto::v4::Opcode::BootRequest || message.giaddr().is_unspecified() {
        return None;
    }
    let kind = message
        .opts()
        .msg_type()
        .map_or_else(|| "BOOTP".to_string(), |t| format!("{t:?}").to_uppercase());
    Some((
        RequestKey {
            message: kind,
            xid: message.xid(),
            chaddr: message.chaddr().to_vec(),
        },
        message.giaddr(),
    ))
}

fn field(name: &str, value: impl ToString) -> Value {
    json!([name, value.to_string()])
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn mac(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Bytes as text when they are printable ASCII, else as hex.
fn text_or_hex(bytes: &[u8]) -> String {
    if !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        hex(bytes)
    }
}

/// Every layer of `frame` as `{summary, bytes, hex, layers: [{name, fields: [[k, v]],
/// options?}]}`; a layer that does not parse ends the list with an `error` layer.
pub fn packet(frame: &[u8]) -> Value {
    let mut layers = Vec::new();
    decode_layers(frame, &mut layers);
    json!({
        "summary": engine::decode::describe(frame),
        "class": class(frame),
        "bytes": frame.len(),
        "hex": hex(frame),
        "layers": layers,
    })
}

fn arp_layer(frame: &[u8]) -> Value {
    let Some(smoltcp::wire::ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_hardware_addr,
        target_protocol_addr,
    }) = engine::arp::parse(frame)
    else {
        return error_layer("ARP", "not an Ethernet/IPv4 ARP packet");
    };
    let operation = match operation {
        smoltcp::wire::ArpOperation::Request => "request (1)".to_string(),
        smoltcp::wire::ArpOperation::Reply => "reply (2)".to_string(),
        other => format!("{other:?}"),
    };
    json!({"name": "ARP", "fields": [
        field("Operation", operation),
        field("Sender MAC", source_hardware_addr),
        field("Sender IP", source_protocol_addr),
        field("Target MAC", target_hardware_addr),
        field("Target IP", target_protocol_addr),
    ]})
}

fn error_layer(name: &str, error: impl ToString) -> Value {
    json!({"name": name, "error": error.to_string(), "fields": []})
}

fn decode_layers(frame: &[u8], layers: &mut Vec<Value>) {
    let ethernet = match EthernetFrame::new_checked(frame) {
        Ok(ethernet) => ethernet,
        Err(error) => return layers.push(error_layer("Ethernet", error)),
    };
    layers.push(json!({"name": "Ethernet II", "fields": [
        field("Destination", ethernet.dst_addr()),
        field("Source", ethernet.src_addr()),
        field("EtherType", ethernet.ethertype()),
    ]}));
    if engine::arp::is_arp(frame) {
        return layers.push(arp_layer(frame));
    }
    let parsed = match engine::frame::parse(frame) {
        Ok(parsed) => parsed,
        Err(error) => return layers.push(error_layer("IPv4", error)),
    };
    let Some(ip) = parsed.ipv4 else {
        return;
    };
    if let Ok(packet) = Ipv4Packet::new_checked(ethernet.payload()) {
        layers.push(json!({"name": "IPv4", "fields": [
            field("Source", ip.src_addr),
            field("Destination", ip.dst_addr),
            field("Protocol", ip.next_header),
            field("TTL", ip.hop_limit),
            field("Header length", format!("{} bytes", packet.header_len())),
            field("Total length", format!("{} bytes", packet.total_len())),
            field("Identification", format!("{:#06x}", packet.ident())),
            field("Header checksum", format!("{:#06x} (valid)", packet.checksum())),
        ]}));
    }
    if ip.next_header == IpProtocol::Unknown(vrrp::IP_PROTOCOL) {
        let layer = match vrrp::Packet::new_checked(parsed.ipv4_payload)
            .and_then(|packet| vrrp::Repr::parse(&packet, ip.src_addr))
        {
            Ok(advert) => json!({"name": "VRRP", "fields": [
                field("Version", match advert.version { vrrp::Version::V3 => 3, _ => 2 }),
                field("Virtual router id", advert.vrid),
                field("Priority", advert.priority),
                field("Advertisement interval", format!("{} cs", advert.advertisement_interval_cs)),
                field("Addresses", advert.addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
            ]}),
            Err(_) => error_layer("VRRP", "malformed VRRP advertisement"),
        };
        return layers.push(layer);
    }
    let Some((udp, payload)) = parsed.udp else {
        return;
    };
    layers.push(json!({"name": "UDP", "fields": [
        field("Source port", udp.src_port),
        field("Destination port", udp.dst_port),
        field("Payload length", format!("{} bytes", payload.len())),
        field("Checksum", "valid"),
    ]}));
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

fn hsrp_layer(payload: &[u8]) -> Value {
    let Ok(message) = hsrp::Packet::new_checked(payload).and_then(|p| hsrp::Repr::parse(&p)) else {
        return error_layer("HSRP", "malformed HSRP message");
    };
    let mut fields = vec![
        field(
            "Version",
            if message.version == hsrp::Version::V2 {
                2
            } else {
                1
            },
        ),
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
    json!({"name": "HSRP", "fields": fields})
}

fn tftp_layer(repr: &tftp::Repr) -> Value {
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
    json!({"name": "TFTP", "fields": fields})
}

fn dhcp_layer(payload: &[u8]) -> Value {
    let message = match engine::dhcp::decode(payload) {
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
    let options: Vec<Value> = message
        .opts()
        .iter()
        .map(|(code, option)| dhcp_option(*code, option))
        .collect();
    json!({"name": format!("DHCP {kind}"), "fields": fields, "options": options})
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

fn dhcp_option(code: OptionCode, option: &DhcpOption) -> Value {
    let number = u8::from(code);
    let raw = option.to_vec().unwrap_or_default();
    let (name, value, suboptions) = match option {
        DhcpOption::MessageType(kind) => (
            "DHCP message type".to_string(),
            format!("{kind:?}").to_uppercase(),
            Vec::new(),
        ),
        DhcpOption::ParameterRequestList(codes) => (
            "Parameter request list".to_string(),
            codes
                .iter()
                .map(|code| u8::from(*code).to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Vec::new(),
        ),
        DhcpOption::ClassIdentifier(id) => (
            "Vendor class identifier".to_string(),
            text_or_hex(id),
            Vec::new(),
        ),
        DhcpOption::VendorExtensions(bytes) => (
            "Vendor-specific information (PXE)".to_string(),
            format!("{} bytes", bytes.len()),
            pxe_suboptions(bytes),
        ),
        DhcpOption::ClientSystemArchitecture(arch) => {
            let code = u16::from(*arch);
            (
                "Client system architecture".to_string(),
                format!("{code} ({})", architecture_name(code)),
                Vec::new(),
            )
        }
        DhcpOption::ClientNetworkInterface(kind, major, minor) => (
            "Client network interface identifier".to_string(),
            format!("type {kind} (UNDI) version {major}.{minor}"),
            Vec::new(),
        ),
        DhcpOption::ClientMachineIdentifier(bytes) => (
            "Client machine identifier (UUID/GUID)".to_string(),
            guid(bytes),
            Vec::new(),
        ),
        DhcpOption::Unknown(unknown) => (
            format!("Unknown option {number}"),
            hex(unknown.data()),
            Vec::new(),
        ),
        other => {
            let debug = format!("{other:?}");
            let value = debug
                .split_once('(')
                .map_or(debug.as_str(), |(_, rest)| {
                    rest.strip_suffix(')').unwrap_or(rest)
                })
                .to_string();
            (words(&format!("{code:?}")), value, Vec::new())
        }
    };
    json!({
        "code": number,
        "name": name,
        "value": value,
        "hex": hex(&raw),
        "suboptions": suboptions,
    })
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
fn pxe_suboptions(bytes: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some((&code, tail)) = rest.split_first() {
        if code == 255 {
            out.push(json!({"code": 255, "name": "End", "value": "", "hex": "ff"}));
            break;
        }
        if code == 0 {
            rest = tail;
            continue;
        }
        let Some((&len, tail)) = tail.split_first() else {
            out.push(
                json!({"code": code, "name": "truncated suboption", "value": "", "hex": hex(rest)}),
            );
            break;
        };
        let Some(data) = tail.get(..usize::from(len)) else {
            out.push(
                json!({"code": code, "name": "truncated suboption", "value": "", "hex": hex(rest)}),
            );
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
        out.push(json!({"code": code, "name": name, "value": value, "hex": hex(data)}));
        rest = &tail[usize::from(len)..];
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
            let _ = packet(&bytes[..length]);
            let _ = class(&bytes[..length]);
            let _ = relayed_request(&bytes[..length]);
        }
        bytes[12] = 0x08; // IPv4 ethertype with a zero header: an IPv4 error layer
        let value = packet(&bytes);
        assert_eq!(value["layers"][1]["name"], "IPv4");
        assert!(value["layers"][1]["error"].is_string());
    }

    #[test]
    fn pxe_suboptions_parse_and_stop_at_truncation() {
        let parsed = pxe_suboptions(&[6, 1, 8, 10, 4, 0, 5, b'h', b'i', 255]);
        assert_eq!(parsed[0]["name"], "PXE discovery control");
        assert_eq!(parsed[1]["value"], "timeout 0 s: \u{5}hi");
        assert_eq!(parsed[2]["name"], "End");
        let truncated = pxe_suboptions(&[9, 40, 1]);
        assert_eq!(truncated[0]["name"], "truncated suboption");
    }
}
