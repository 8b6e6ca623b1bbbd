//! A router: interfaces on LANs, connected and static routes, IPv4 forwarding, and per-interface
//! DHCP relay ("ip helper-address") as RFC 1542 and RFC 2131 describe it. Redundancy here is a
//! static role per group: the active router owns the virtual MAC, but every router relays, which
//! is exactly the KB2510665 setting.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use dhcproto::Encodable;
use dhcproto::v4::Opcode;
use smoltcp::wire::EthernetAddress;
use timing::Distribution;

use crate::frame::{self, UdpFrame};
use crate::log::Level;
use crate::rng::Stream;
use crate::server::{prefix_mask, same_subnet};
use crate::world::Cx;

pub const DHCP_SERVER_PORT: u16 = 67;
pub const DHCP_CLIENT_PORT: u16 = 68;
/// TTL of packets the router originates (Cisco IOS default).
const TTL: u8 = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedundancyProtocol {
    Hsrp,
    Vrrp,
}

#[derive(Clone, Debug)]
pub struct Redundancy {
    pub protocol: RedundancyProtocol,
    pub group: u16,
    pub virtual_ip: Ipv4Addr,
    /// Static role: the active (HSRP) / master (VRRP) router owns the virtual MAC.
    pub active: bool,
}

impl Redundancy {
    /// HSRP v1: 0000.0c07.acXX; VRRP: 00-00-5e-00-01-{VRID}.
    pub fn virtual_mac(&self) -> EthernetAddress {
        let low = (self.group & 0xff) as u8;
        match self.protocol {
            RedundancyProtocol::Hsrp => EthernetAddress([0x00, 0x00, 0x0c, 0x07, 0xac, low]),
            RedundancyProtocol::Vrrp => EthernetAddress([0x00, 0x00, 0x5e, 0x00, 0x01, low]),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RouterInterface {
    pub name: String,
    pub mac: EthernetAddress,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// DHCP relay targets ("ip helper-address"), in configuration order.
    pub helpers: Vec<Ipv4Addr>,
    pub redundancy: Option<Redundancy>,
}

#[derive(Clone, Debug)]
pub struct Route {
    pub network: Ipv4Addr,
    pub prefix_len: u8,
    pub next_hop: Ipv4Addr,
}

#[derive(Clone, Debug)]
pub struct RouterConfig {
    pub name: String,
    pub interfaces: Vec<RouterInterface>,
    pub routes: Vec<Route>,
    /// Time the control plane takes to relay one DHCP message (punt, process, send).
    pub relay_delay: Distribution,
    /// Relayed requests whose `hops` already reached this are dropped.
    pub relay_hops_max: u8,
}

pub struct Router {
    pub config: RouterConfig,
    relay_stream: Stream,
    /// Neighbors learned from frames received (interface, address -> MAC). ARP is not on the
    /// wire in this model; this stands in for ARP's rule of merging the sender of a request
    /// into the cache, which is how a router learns a DHCP client's new address.
    learned: BTreeMap<(usize, Ipv4Addr), EthernetAddress>,
}

/// Where a packet for some address leaves the router.
struct NextHop {
    interface: usize,
    address: Ipv4Addr,
}

impl Router {
    pub fn new(config: RouterConfig, relay_stream: Stream) -> Router {
        Router {
            config,
            relay_stream,
            learned: BTreeMap::new(),
        }
    }

    pub(crate) fn start(&mut self, cx: &mut Cx) {
        for interface in &self.config.interfaces {
            if let Some(group) = &interface.redundancy {
                let role = match (group.protocol, group.active) {
                    (RedundancyProtocol::Hsrp, true) => "Active",
                    (RedundancyProtocol::Hsrp, false) => "Standby",
                    (RedundancyProtocol::Vrrp, true) => "Master",
                    (RedundancyProtocol::Vrrp, false) => "Backup",
                };
                cx.state(format!(
                    "{} {:?} group {} {role} for {}",
                    interface.name, group.protocol, group.group, group.virtual_ip
                ));
            }
        }
    }

    pub(crate) fn on_timer(&mut self, _cx: &mut Cx, _token: u64) {}

    fn owns(&self, address: Ipv4Addr) -> bool {
        self.config.interfaces.iter().any(|interface| {
            interface.ip == address
                || interface
                    .redundancy
                    .as_ref()
                    .is_some_and(|group| group.active && group.virtual_ip == address)
        })
    }

    /// Longest-prefix match over connected networks, then static routes; ties go to the first
    /// configured, so the choice never depends on anything but the topology.
    fn next_hop(&self, destination: Ipv4Addr) -> Option<NextHop> {
        let connected =
            self.config
                .interfaces
                .iter()
                .enumerate()
                .filter_map(|(index, interface)| {
                    same_subnet(destination, interface.ip, interface.prefix_len).then_some((
                        interface.prefix_len,
                        NextHop {
                            interface: index,
                            address: destination,
                        },
                    ))
                });
        let best_connected =
            connected.max_by_key(|(len, hop)| (*len, std::cmp::Reverse(hop.interface)));
        let best_static = self
            .config
            .routes
            .iter()
            .filter(|route| same_subnet(destination, route.network, route.prefix_len))
            .max_by_key(|route| route.prefix_len)
            .and_then(|route| {
                let via = self.next_hop_connected(route.next_hop)?;
                Some((
                    route.prefix_len,
                    NextHop {
                        interface: via,
                        address: route.next_hop,
                    },
                ))
            });
        match (best_connected, best_static) {
            (Some(c), Some(s)) => Some(if s.0 > c.0 { s.1 } else { c.1 }),
            (Some(c), None) => Some(c.1),
            (None, Some(s)) => Some(s.1),
            (None, None) => None,
        }
    }

    fn resolve(&self, cx: &Cx, interface: usize, address: Ipv4Addr) -> Option<EthernetAddress> {
        cx.resolve(interface as u32, address)
            .or_else(|| self.learned.get(&(interface, address)).copied())
    }

    fn next_hop_connected(&self, address: Ipv4Addr) -> Option<usize> {
        self.config
            .interfaces
            .iter()
            .position(|interface| same_subnet(address, interface.ip, interface.prefix_len))
    }

    pub(crate) fn on_frame(&mut self, cx: &mut Cx, interface: u32, bytes: &[u8]) {
        let parsed = match frame::parse(bytes) {
            Ok(parsed) => parsed,
            Err(error) => return cx.drop_frame(format!("malformed frame: {error}"), bytes),
        };
        let Some(ip) = parsed.ipv4 else {
            return cx.drop_frame("not IPv4", bytes);
        };
        let index = interface as usize;
        let receiving = &self.config.interfaces[index];
        if !ip.src_addr.is_unspecified()
            && same_subnet(ip.src_addr, receiving.ip, receiving.prefix_len)
        {
            self.learned
                .insert((index, ip.src_addr), parsed.ethernet.src_addr);
        }
        let to_me = parsed.ethernet.dst_addr == receiving.mac
            || receiving
                .redundancy
                .as_ref()
                .is_some_and(|g| g.active && g.virtual_mac() == parsed.ethernet.dst_addr);
        let limited_broadcast = ip.dst_addr == frame::BROADCAST_IP
            || u32::from(ip.dst_addr)
                == u32::from(receiving.ip) | !prefix_mask(receiving.prefix_len);

        if let Some((udp, payload)) = parsed.udp {
            if limited_broadcast && udp.dst_port == DHCP_SERVER_PORT {
                return self.relay_request(cx, index, payload, bytes);
            }
            if self.owns(ip.dst_addr) && udp.dst_port == DHCP_SERVER_PORT {
                return self.relay_reply(cx, payload, bytes);
            }
        }
        if limited_broadcast || frame::is_group(parsed.ethernet.dst_addr) {
            return cx.drop_frame("broadcast not relayed", bytes);
        }
        if !to_me {
            return cx.drop_frame("not addressed to this router", bytes);
        }
        if self.owns(ip.dst_addr) {
            return cx.drop_frame("no service on this router for the packet", bytes);
        }
        if ip.hop_limit <= 1 {
            return cx.drop_frame("TTL exceeded", bytes);
        }
        let Some(hop) = self.next_hop(ip.dst_addr) else {
            return cx.drop_frame(format!("no route to {}", ip.dst_addr), bytes);
        };
        let Some(dst_mac) = self.resolve(cx, hop.interface, hop.address) else {
            return cx.drop_frame(
                format!("no neighbor entry for next hop {}", hop.address),
                bytes,
            );
        };
        let out = frame::forward(
            parsed.ipv4_packet,
            self.config.interfaces[hop.interface].mac,
            dst_mac,
        );
        cx.send(hop.interface as u32, out);
    }

    /// A client's broadcast DHCP message on an interface with helpers: RFC 1542 section 4.1.
    fn relay_request(&mut self, cx: &mut Cx, index: usize, payload: &[u8], bytes: &[u8]) {
        let receiving = &self.config.interfaces[index];
        if receiving.helpers.is_empty() {
            return cx.drop_frame("DHCP broadcast on an interface without helpers", bytes);
        }
        let mut message = match crate::dhcp::decode(payload) {
            Ok(message) => message,
            Err(error) => return cx.drop_frame(format!("malformed DHCP message: {error}"), bytes),
        };
        if message.opcode() != Opcode::BootRequest {
            return cx.drop_frame("BOOTREPLY broadcast on a client interface", bytes);
        }
        if message.hops() >= self.config.relay_hops_max {
            return cx.drop_frame(
                format!("hops {} reached the relay limit", message.hops()),
                bytes,
            );
        }
        message.set_hops(message.hops() + 1);
        if message.giaddr().is_unspecified() {
            message.set_giaddr(receiving.ip);
        }
        let Ok(relayed) = message.to_vec() else {
            return cx.drop_frame("DHCP message could not be re-encoded", bytes);
        };
        let delay_ns = self.relay_stream.sample(&self.config.relay_delay);
        cx.log(
            Level::Debug,
            format!(
                "relaying DHCP xid {:#010x} from {} (giaddr {}, hops {}) to {} helper(s) in {}",
                message.xid(),
                receiving.name,
                message.giaddr(),
                message.hops(),
                receiving.helpers.len(),
                timing::format_ns(delay_ns)
            ),
        );
        for helper in receiving.helpers.clone() {
            let Some(hop) = self.next_hop(helper) else {
                cx.log(Level::Warning, format!("no route to helper {helper}"));
                continue;
            };
            let Some(dst_mac) = self.resolve(cx, hop.interface, hop.address) else {
                cx.log(
                    Level::Warning,
                    format!(
                        "no neighbor entry for {} toward helper {helper}",
                        hop.address
                    ),
                );
                continue;
            };
            let out = &self.config.interfaces[hop.interface];
            let udp = UdpFrame {
                src_mac: out.mac,
                dst_mac,
                src_ip: out.ip,
                dst_ip: helper,
                src_port: DHCP_SERVER_PORT,
                dst_port: DHCP_SERVER_PORT,
                ttl: TTL,
                payload: &relayed,
            };
            match udp.to_bytes() {
                Ok(frame) => cx.send_after(delay_ns, hop.interface as u32, frame),
                Err(error) => cx.log(Level::Warning, format!("relay to {helper} failed: {error}")),
            }
        }
    }

    /// A server's reply to one of our giaddrs: RFC 2131 section 4.1, delivered to the client by
    /// broadcast when it set the broadcast flag, else by unicast to yiaddr/chaddr.
    fn relay_reply(&mut self, cx: &mut Cx, payload: &[u8], bytes: &[u8]) {
        let message = match crate::dhcp::decode(payload) {
            Ok(message) => message,
            Err(error) => return cx.drop_frame(format!("malformed DHCP message: {error}"), bytes),
        };
        if message.opcode() != Opcode::BootReply {
            return cx.drop_frame("BOOTREQUEST addressed to the router", bytes);
        }
        let giaddr = message.giaddr();
        let Some(index) = self
            .config
            .interfaces
            .iter()
            .position(|interface| interface.ip == giaddr)
        else {
            return cx.drop_frame(
                format!("BOOTREPLY for giaddr {giaddr}, not one of ours"),
                bytes,
            );
        };
        let interface = &self.config.interfaces[index];
        let broadcast = message.flags().broadcast() || message.yiaddr().is_unspecified();
        let (dst_ip, dst_mac) = if broadcast {
            (frame::BROADCAST_IP, EthernetAddress::BROADCAST)
        } else {
            let chaddr = message.chaddr();
            if chaddr.len() < 6 {
                return cx.drop_frame("BOOTREPLY with a short chaddr", bytes);
            }
            (message.yiaddr(), EthernetAddress::from_bytes(&chaddr[..6]))
        };
        let udp = UdpFrame {
            src_mac: interface.mac,
            dst_mac,
            src_ip: interface.ip,
            dst_ip,
            src_port: DHCP_SERVER_PORT,
            dst_port: DHCP_CLIENT_PORT,
            ttl: TTL,
            payload,
        };
        let delay_ns = self.relay_stream.sample(&self.config.relay_delay);
        match udp.to_bytes() {
            Ok(frame) => cx.send_after(delay_ns, index as u32, frame),
            Err(error) => cx.log(Level::Warning, format!("reply relay failed: {error}")),
        }
    }
}
