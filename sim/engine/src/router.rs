//! A router: interfaces on LANs, connected and static routes, IPv4 forwarding, first-hop
//! redundancy (HSRP/VRRP, in `redundancy`), and per-interface DHCP relay ("ip helper-address")
//! as RFC 1542, RFC 2131 and RFC 3046 describe it. By default every router relays whatever its
//! redundancy state, which is exactly the KB2510665 setting; `helpers_follow_redundancy` makes an
//! interface relay only while it is HSRP Active / VRRP Master (Cisco's `ip helper-address ...
//! redundancy`).

use std::net::Ipv4Addr;

use dhcproto::Encodable;
use dhcproto::v4::relay::{RelayAgentInformation, RelayInfo};
use dhcproto::v4::{DhcpOption, Opcode, OptionCode};
use smoltcp::wire::{EthernetAddress, IpProtocol};
use timing::Distribution;
use wire::{hsrp, vrrp};

use crate::event::{DropReason, Layer};
use crate::frame::{self, UdpFrame};
use crate::log::Level;
use crate::redundancy::{self, Group, GroupConfig, Protocol};
use crate::rng::Stream;
use crate::subnet::{self, same_subnet};
use crate::world::Cx;

pub const DHCP_SERVER_PORT: u16 = 67;
pub const DHCP_CLIENT_PORT: u16 = 68;
/// UDP ports whose broadcasts `ip helper-address` forwards by default on Cisco IOS: time 37,
/// TACACS 49, DNS 53, BOOTP/DHCP 67 and 68, TFTP 69, NetBIOS name 137 and datagram 138.
pub const DEFAULT_FORWARD_UDP_PORTS: [u16; 8] = [37, 49, 53, 67, 68, 69, 137, 138];

/// The relay agent information (option 82, RFC 3046) an interface adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Option82 {
    pub circuit_id: Vec<u8>,
    pub remote_id: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct RouterInterface {
    pub name: String,
    pub mac: EthernetAddress,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// DHCP relay targets ("ip helper-address"), in configuration order.
    pub helpers: Vec<Ipv4Addr>,
    pub redundancy: Option<GroupConfig>,
    /// Relay only while this interface's group is HSRP Active / VRRP Master.
    pub helpers_follow_redundancy: bool,
    /// Add option 82 to requests this interface relays first (giaddr was 0).
    pub option82: Option<Option82>,
    /// Further addresses of the interface (`ip address ... secondary`), with their prefixes.
    /// The router owns them: a server's reply to one is relayed to the client like a reply
    /// to the primary address.
    pub secondary_ips: Vec<(Ipv4Addr, u8)>,
    /// Relay each request once per address of the interface, primary and secondaries, each
    /// copy with that address as giaddr (a relay that serves every subnet of a VLAN at once);
    /// otherwise once, with the primary address, as RFC 1542 says.
    pub relay_each_address: bool,
}

impl RouterInterface {
    /// Whether `address` is one of the interface's own (primary or secondary).
    fn has_address(&self, address: Ipv4Addr) -> bool {
        self.ip == address || self.secondary_ips.iter().any(|(ip, _)| *ip == address)
    }

    /// The giaddrs of the copies this interface relays of a request that had none.
    fn relay_giaddrs(&self) -> Vec<Ipv4Addr> {
        let mut giaddrs = vec![self.ip];
        if self.relay_each_address {
            giaddrs.extend(self.secondary_ips.iter().map(|(ip, _)| *ip));
        }
        giaddrs
    }
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
    /// Client requests whose `secs` is below this are not relayed (Alcatel-Lucent OmniSwitch
    /// `ip helper forward delay`, default 3 there; Dell and HPE relays count them as "secs
    /// below min"). 0 relays every request, as Cisco IOS and ISC dhcrelay do.
    pub relay_secs_min: u16,
    /// Broadcast UDP to these ports is forwarded to the helpers (`ip forward-protocol udp`);
    /// port 67 gets the full BOOTP relay treatment, the others are re-addressed as they are.
    pub forward_udp_ports: Vec<u16>,
    /// TTL of the packets the router sends itself, relayed DHCP included: Cisco IOS 255,
    /// Linux (ISC dhcrelay) 64.
    pub ttl: u8,
    /// The IP source of relayed requests.
    pub relay_source: RelaySource,
}

/// Which of its addresses a router puts in the IP source of a request it relays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RelaySource {
    /// The interface the copy leaves by, toward the server (what the kernel picks for ISC
    /// dhcrelay; the setting Microsoft KB300034 warns about).
    #[default]
    Outgoing,
    /// The interface the client's broadcast came in on, the giaddr side (Cisco's
    /// `ip dhcp relay source-interface` pointed at the client VLAN).
    Receiving,
}

pub struct Router {
    pub config: RouterConfig,
    relay_stream: Stream,
    /// Draws the hello phase of each redundancy group at boot.
    phase_stream: Stream,
    /// One per interface with a redundancy group.
    groups: Vec<Group>,
    /// Set once the router has booted: a later boot (after a crash) starts its groups cold.
    booted: bool,
}

/// Where a packet for some address leaves the router.
struct NextHop {
    interface: usize,
    address: Ipv4Addr,
}

impl Router {
    pub fn new(config: RouterConfig, relay_stream: Stream, phase_stream: Stream) -> Router {
        let groups = config
            .interfaces
            .iter()
            .enumerate()
            .filter_map(|(index, interface)| {
                let group = interface.redundancy.clone()?;
                Some((index, interface, group))
            })
            .enumerate()
            .map(|(slot, (index, interface, group))| {
                Group::new(
                    group,
                    slot as u32,
                    index as u32,
                    &interface.name,
                    interface.ip,
                    interface.mac,
                )
            })
            .collect();
        Router {
            config,
            relay_stream,
            phase_stream,
            groups,
            booted: false,
        }
    }

    /// The redundancy groups, one per interface that has one.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    pub(crate) fn start(&mut self, cx: &mut Cx) {
        let cold = self.booted;
        self.booted = true;
        for group in &mut self.groups {
            group.start(cx, &mut self.phase_stream, cold);
        }
    }

    /// A clean shutdown: each group we forward for tells the others (VRRP priority 0, HSRP
    /// Resign), so they take over without waiting out their timers.
    pub(crate) fn resign(&mut self, cx: &mut Cx) {
        for group in &mut self.groups {
            group.resign(cx);
        }
    }

    /// Power lost: every table and timer is gone (the world voids pending timers and sends).
    pub(crate) fn power_off(&mut self) {
        for group in &mut self.groups {
            group.stop(None);
        }
    }

    pub(crate) fn on_link(&mut self, cx: &mut Cx, interface: u32, up: bool) {
        for group in &mut self.groups {
            if group.interface != interface {
                continue;
            }
            if up {
                group.start(cx, &mut self.phase_stream, true);
            } else {
                group.stop(Some(cx));
            }
        }
    }

    pub(crate) fn on_timer(&mut self, cx: &mut Cx, token: u64) {
        let Some((slot, timer, epoch)) = redundancy::decode_token(token) else {
            return;
        };
        if let Some(group) = self.groups.get_mut(slot as usize) {
            group.on_timer(cx, timer, epoch);
        }
    }

    fn group_on(&self, interface: usize) -> Option<&Group> {
        self.groups
            .iter()
            .find(|group| group.interface as usize == interface)
    }

    fn owns(&self, address: Ipv4Addr) -> bool {
        self.config
            .interfaces
            .iter()
            .any(|interface| interface.has_address(address))
            || self
                .groups
                .iter()
                .any(|group| group.is_forwarding() && group.config.virtual_ip == address)
    }

    /// Whether frames to `mac` on `interface` are for this router.
    fn accepts_mac(&self, interface: usize, mac: EthernetAddress) -> bool {
        self.config.interfaces[interface].mac == mac
            || self
                .group_on(interface)
                .is_some_and(|group| group.is_forwarding() && group.mac() == mac)
    }

    /// An HSRP or VRRP packet: handed to the group it names on this interface.
    fn on_redundancy(
        &mut self,
        cx: &mut Cx,
        index: usize,
        src_ip: Ipv4Addr,
        parsed: &frame::Parsed,
        bytes: &[u8],
    ) {
        let Some(ip) = parsed.ipv4 else { return };
        let slot = self
            .groups
            .iter()
            .position(|group| group.interface as usize == index);
        if ip.next_header == IpProtocol::Unknown(vrrp::IP_PROTOCOL) {
            let advert = vrrp::Packet::new_checked(parsed.ipv4_payload)
                .and_then(|packet| vrrp::Repr::parse(&packet, src_ip));
            let advert = match advert {
                Ok(advert) => advert,
                Err(error) => {
                    return cx.drop_frame(DropReason::malformed(Layer::Vrrp, error), bytes);
                }
            };
            match slot.map(|slot| &mut self.groups[slot]) {
                Some(group)
                    if group.config.protocol == Protocol::Vrrp
                        && group.config.group == u16::from(advert.vrid) =>
                {
                    group.on_vrrp(cx, src_ip, &advert)
                }
                _ => cx.drop_frame(DropReason::NoVrrpGroup { vrid: advert.vrid }, bytes),
            }
            return;
        }
        let Some((_, payload)) = parsed.udp else {
            return;
        };
        let message =
            hsrp::Packet::new_checked(payload).and_then(|packet| hsrp::Repr::parse(&packet));
        let message = match message {
            Ok(message) => message,
            Err(error) => return cx.drop_frame(DropReason::malformed(Layer::Hsrp, error), bytes),
        };
        match slot.map(|slot| &mut self.groups[slot]) {
            Some(group)
                if group.config.protocol == Protocol::Hsrp
                    && group.config.group == message.group =>
            {
                group.on_hsrp(cx, src_ip, &message)
            }
            _ => cx.drop_frame(
                DropReason::NoHsrpGroup {
                    group: message.group,
                },
                bytes,
            ),
        }
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

    fn next_hop_connected(&self, address: Ipv4Addr) -> Option<usize> {
        self.config
            .interfaces
            .iter()
            .position(|interface| same_subnet(address, interface.ip, interface.prefix_len))
    }

    pub(crate) fn on_frame(&mut self, cx: &mut Cx, interface: u32, bytes: &[u8]) {
        let parsed = match frame::parse(bytes) {
            Ok(parsed) => parsed,
            Err(error) => return cx.drop_frame(DropReason::malformed(Layer::Frame, error), bytes),
        };
        let Some(ip) = parsed.ipv4 else {
            return cx.drop_frame(DropReason::NotIpv4, bytes);
        };
        let index = interface as usize;
        let receiving = &self.config.interfaces[index];
        let to_me = self.accepts_mac(index, parsed.ethernet.dst_addr);
        let limited_broadcast = ip.dst_addr == frame::BROADCAST_IP
            || ip.dst_addr == subnet::broadcast(receiving.ip, receiving.prefix_len);

        let vrrp = ip.next_header == IpProtocol::Unknown(vrrp::IP_PROTOCOL)
            && ip.dst_addr == vrrp::GROUP_ADDR;
        let hsrp = parsed
            .udp
            .is_some_and(|(udp, _)| udp.dst_port == hsrp::UDP_PORT)
            && (ip.dst_addr == hsrp::GROUP_ADDR_V1 || ip.dst_addr == hsrp::GROUP_ADDR_V2);
        if vrrp || hsrp {
            return self.on_redundancy(cx, index, ip.src_addr, &parsed, bytes);
        }
        if let Some((udp, payload)) = parsed.udp {
            let forwarded = self.config.forward_udp_ports.contains(&udp.dst_port);
            // BOOTP ports get the relay agent's treatment (a broadcast BOOTREPLY from another
            // relay stays on its LAN); other forwarded ports are re-addressed as they are.
            let bootp = matches!(udp.dst_port, DHCP_SERVER_PORT | DHCP_CLIENT_PORT);
            if limited_broadcast && forwarded && bootp {
                return self.relay_request(cx, index, payload, bytes);
            }
            if limited_broadcast && forwarded {
                return self.forward_broadcast(cx, index, &parsed, bytes);
            }
            if self.owns(ip.dst_addr) && udp.dst_port == DHCP_SERVER_PORT {
                return self.relay_reply(cx, payload, bytes);
            }
        }
        if limited_broadcast || frame::is_group(parsed.ethernet.dst_addr) {
            return cx.drop_frame(DropReason::BroadcastNotRelayed, bytes);
        }
        if !to_me {
            return cx.drop_frame(DropReason::NotForRouter, bytes);
        }
        if self.owns(ip.dst_addr) {
            return cx.drop_frame(DropReason::NoRouterService, bytes);
        }
        if ip.hop_limit <= 1 {
            return cx.drop_frame(DropReason::TtlExceeded, bytes);
        }
        let Some(hop) = self.next_hop(ip.dst_addr) else {
            return cx.drop_frame(DropReason::NoRoute { to: ip.dst_addr }, bytes);
        };
        let out = frame::forward(
            parsed.ipv4_packet,
            self.config.interfaces[hop.interface].mac,
            frame::UNRESOLVED_MAC,
        );
        cx.forward_to(hop.interface as u32, hop.address, out);
    }

    /// Why this interface does not relay now, if it does not (Cisco's `redundancy` keyword).
    fn relay_blocked(&self, index: usize) -> Option<DropReason> {
        let receiving = &self.config.interfaces[index];
        if receiving.helpers.is_empty() {
            return Some(DropReason::NoHelpers);
        }
        if !receiving.helpers_follow_redundancy {
            return None;
        }
        let group = self.group_on(index)?;
        (!group.is_forwarding()).then(|| DropReason::HelpersFollowRedundancy {
            interface: receiving.name.clone(),
            protocol: group.config.protocol,
            group: group.config.group,
            state: group.state(),
        })
    }

    /// A broadcast to a forwarded UDP port other than BOOTP: re-addressed to each helper and
    /// routed, the way `ip forward-protocol udp` does (TTL decremented, source kept).
    fn forward_broadcast(
        &mut self,
        cx: &mut Cx,
        index: usize,
        parsed: &frame::Parsed,
        bytes: &[u8],
    ) {
        if let Some(reason) = self.relay_blocked(index) {
            return cx.drop_frame(reason, bytes);
        }
        let (Some(ip), Some((udp, payload))) = (parsed.ipv4, parsed.udp) else {
            return;
        };
        if ip.hop_limit <= 1 {
            return cx.drop_frame(DropReason::TtlExceeded, bytes);
        }
        for helper in self.config.interfaces[index].helpers.clone() {
            let Some(hop) = self.route_to(cx, helper) else {
                continue;
            };
            let udp_frame = UdpFrame {
                src_mac: self.config.interfaces[hop.interface].mac,
                dst_mac: frame::UNRESOLVED_MAC,
                src_ip: ip.src_addr,
                dst_ip: helper,
                src_port: udp.src_port,
                dst_port: udp.dst_port,
                ttl: ip.hop_limit - 1,
                payload,
            };
            match udp_frame.to_bytes() {
                Ok(frame) => cx.send_to(hop.interface as u32, hop.address, frame),
                Err(error) => cx.log(
                    Level::Warning,
                    format!("forward to {helper} failed: {error}"),
                ),
            }
        }
    }

    /// The interface and next hop toward `address`, logging why when there is none.
    fn route_to(&self, cx: &mut Cx, address: Ipv4Addr) -> Option<NextHop> {
        let hop = self.next_hop(address);
        if hop.is_none() {
            cx.log(Level::Warning, format!("no route to helper {address}"));
        }
        hop
    }

    /// A client's broadcast DHCP message on an interface with helpers: RFC 1542 section 4.1.
    fn relay_request(&mut self, cx: &mut Cx, index: usize, payload: &[u8], bytes: &[u8]) {
        if let Some(reason) = self.relay_blocked(index) {
            return cx.drop_frame(reason, bytes);
        }
        let receiving = &self.config.interfaces[index];
        let mut message = match crate::dhcp::decode(payload) {
            Ok(message) => message,
            Err(error) => return cx.drop_frame(DropReason::malformed(Layer::Dhcp, error), bytes),
        };
        if message.opcode() != Opcode::BootRequest {
            return cx.drop_frame(DropReason::ReplyOnClientInterface, bytes);
        }
        if message.hops() >= self.config.relay_hops_max {
            return cx.drop_frame(
                DropReason::HopsLimit {
                    hops: message.hops(),
                },
                bytes,
            );
        }
        if message.secs() < self.config.relay_secs_min {
            return cx.drop_frame(
                DropReason::SecsBelowMin {
                    secs: message.secs(),
                    min: self.config.relay_secs_min,
                },
                bytes,
            );
        }
        message.set_hops(message.hops() + 1);
        // RFC 3046 2.1: only the relay that sets giaddr adds option 82, and not twice.
        let giaddrs = if message.giaddr().is_unspecified() {
            if let Some(option82) = &receiving.option82
                && !message.opts().contains(OptionCode::RelayAgentInformation)
            {
                let mut info = RelayAgentInformation::default();
                info.insert(RelayInfo::AgentCircuitId(option82.circuit_id.clone()));
                info.insert(RelayInfo::AgentRemoteId(option82.remote_id.clone()));
                message
                    .opts_mut()
                    .insert(DhcpOption::RelayAgentInformation(info));
            }
            receiving.relay_giaddrs()
        } else {
            vec![message.giaddr()]
        };
        let delay_ns = self.relay_stream.sample(&self.config.relay_delay);
        for giaddr in giaddrs {
            message.set_giaddr(giaddr);
            let Ok(relayed) = message.to_vec() else {
                return cx.drop_frame(DropReason::NotReencoded, bytes);
            };
            self.relay_copy(cx, index, &message, &relayed, delay_ns);
        }
    }

    /// One relayed copy of a request, to every helper of interface `index`.
    fn relay_copy(
        &mut self,
        cx: &mut Cx,
        index: usize,
        message: &dhcproto::v4::Message,
        relayed: &[u8],
        delay_ns: u64,
    ) {
        let receiving = &self.config.interfaces[index];
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
            let Some(hop) = self.route_to(cx, helper) else {
                continue;
            };
            let out = &self.config.interfaces[hop.interface];
            let src_ip = match self.config.relay_source {
                RelaySource::Outgoing => out.ip,
                RelaySource::Receiving => receiving.ip,
            };
            let udp = UdpFrame {
                src_mac: out.mac,
                dst_mac: frame::UNRESOLVED_MAC,
                src_ip,
                dst_ip: helper,
                src_port: DHCP_SERVER_PORT,
                dst_port: DHCP_SERVER_PORT,
                ttl: self.config.ttl,
                payload: relayed,
            };
            match udp.to_bytes() {
                Ok(frame) => cx.send_to_after(delay_ns, hop.interface as u32, hop.address, frame),
                Err(error) => cx.log(Level::Warning, format!("relay to {helper} failed: {error}")),
            }
        }
    }

    /// A server's reply to one of our giaddrs: RFC 2131 section 4.1, delivered to the client by
    /// broadcast when it set the broadcast flag, else by unicast to yiaddr/chaddr.
    fn relay_reply(&mut self, cx: &mut Cx, payload: &[u8], bytes: &[u8]) {
        let mut message = match crate::dhcp::decode(payload) {
            Ok(message) => message,
            Err(error) => return cx.drop_frame(DropReason::malformed(Layer::Dhcp, error), bytes),
        };
        if message.opcode() != Opcode::BootReply {
            return cx.drop_frame(DropReason::RequestToRouter, bytes);
        }
        let giaddr = message.giaddr();
        let Some(index) = self
            .config
            .interfaces
            .iter()
            .position(|interface| interface.has_address(giaddr))
        else {
            return cx.drop_frame(DropReason::ForeignGiaddr { giaddr }, bytes);
        };
        let interface = &self.config.interfaces[index];
        // RFC 3046 2.2: the relay removes option 82 before the reply reaches the client.
        let stripped;
        let payload = if message.opts().contains(OptionCode::RelayAgentInformation) {
            message.opts_mut().remove(OptionCode::RelayAgentInformation);
            stripped = match message.to_vec() {
                Ok(bytes) => bytes,
                Err(_) => return cx.drop_frame(DropReason::ReplyNotReencoded, bytes),
            };
            &stripped[..]
        } else {
            payload
        };
        let broadcast = message.flags().broadcast() || message.yiaddr().is_unspecified();
        let (dst_ip, dst_mac) = if broadcast {
            (frame::BROADCAST_IP, EthernetAddress::BROADCAST)
        } else {
            let chaddr = message.chaddr();
            if chaddr.len() < 6 {
                return cx.drop_frame(DropReason::ShortChaddr, bytes);
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
            ttl: self.config.ttl,
            payload,
        };
        let delay_ns = self.relay_stream.sample(&self.config.relay_delay);
        match udp.to_bytes() {
            Ok(frame) => cx.send_after(delay_ns, index as u32, frame),
            Err(error) => cx.log(Level::Warning, format!("reply relay failed: {error}")),
        }
    }
}
