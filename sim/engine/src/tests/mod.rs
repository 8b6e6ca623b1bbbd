//! The world with several nodes at once: LANs (`lan`), HSRP and VRRP groups on the wire
//! (`redundancy`) and the DHCP relay (`relay`), driven by scripted `tap` hosts.

mod lan;
mod redundancy;
mod relay;

use std::net::Ipv4Addr;

use smoltcp::wire::EthernetAddress;

use crate::router::RouterInterface;

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
    }
}
