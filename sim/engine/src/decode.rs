//! One-line descriptions of frames for reports and logs, decoded with the same code paths the
//! simulator uses (smoltcp for the headers, dhcproto for DHCP, `wire` for TFTP).

use std::fmt::Write;

use dhcproto::v4::{DhcpOption, OptionCode};
use wire::{hsrp, tftp, vrrp};

use crate::frame;

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
                        if advert.version == vrrp::Version::V3 {
                            3
                        } else {
                            2
                        },
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
    } else if ports.iter().any(|p| matches!(p, 67 | 68 | 4011)) {
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
        if message.version == hsrp::Version::V2 {
            2
        } else {
            1
        },
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
    let kind = message
        .opts()
        .msg_type()
        .map(|t| format!("{t:?}").to_uppercase())
        .unwrap_or_else(|| "BOOTP".into());
    let pxe = matches!(message.opts().get(OptionCode::ClassIdentifier), Some(DhcpOption::ClassIdentifier(id)) if id.starts_with(b"PXEClient"));
    let chaddr: Vec<String> = message
        .chaddr()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut text = format!(
        "DHCP {kind} xid {:#010x} chaddr {}",
        message.xid(),
        chaddr.join(":")
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
