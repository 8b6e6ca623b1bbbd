//! The world with several nodes at once: LANs (`lan`), HSRP and VRRP groups on the wire
//! (`redundancy`) and the DHCP relay (`relay`), driven by scripted `tap` hosts.

mod lan;
mod redundancy;
mod relay;

use std::net::Ipv4Addr;

use smoltcp::wire::EthernetAddress;

use crate::frame::UdpFrame;
use crate::log::LanId;
use crate::router::{RouterConfig, RouterInterface};
use crate::world::{Attachment, Builder};

/// An interface on `lan` answering for one address, with no virtual MACs.
fn attachment(lan: LanId, mac: EthernetAddress, address: Ipv4Addr) -> Attachment {
    Attachment {
        lan,
        mac,
        addresses: vec![address],
        virtual_macs: vec![],
    }
}

/// Adds router `name` as the planner does: the builder names its streams.
fn add_router(world: &mut Builder, name: &str, config: RouterConfig, attachments: Vec<Attachment>) {
    world.add_router(name, config, attachments);
}

/// A DHCP client's broadcast from `mac`: 0.0.0.0:68 to 255.255.255.255:67.
fn client_broadcast(mac: EthernetAddress, payload: &[u8]) -> Vec<u8> {
    UdpFrame {
        src_mac: mac,
        dst_mac: EthernetAddress::BROADCAST,
        src_ip: Ipv4Addr::UNSPECIFIED,
        dst_ip: Ipv4Addr::BROADCAST,
        src_port: 68,
        dst_port: 67,
        ttl: 64,
        payload,
    }
    .to_bytes()
    .unwrap()
}

/// A router's plain interface on the server LAN (`Vlan20`, a /24): no helpers, no redundancy.
fn server_side(mac: EthernetAddress, ip: Ipv4Addr) -> RouterInterface {
    RouterInterface {
        name: "Vlan20".into(),
        mac,
        ip,
        prefix_len: 24,
        helpers: vec![],
        redundancy: None,
        helpers_follow_redundancy: false,
        option82: None,
        secondary_ips: Vec::new(),
        relay_each_address: false,
    }
}
