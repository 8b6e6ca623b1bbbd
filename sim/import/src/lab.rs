//! From routers to a lab: the subnets the routers share (or relay from, or hold a helper in)
//! become LANs, each redundancy group is checked across its members and completed with what a
//! member learns from the others, static routes are kept where they lead to another imported
//! router, every helper address becomes a server whose plugin the user picks, and placeholder
//! clients stand on the LANs that relay. What a configuration cannot say (timing) comes from
//! the shipped topologies and is marked so in the output.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use engine::subnet;

use crate::model::{Group, Interface, Platform, Protocol, Router};
use crate::report::{Error, Loc, Note};

/// The relay delay of a Cisco route processor (and an EOS switch's CPU), as
/// `topologies/kb2510665.yaml` has it: a configuration has no latency.
pub const RELAY_DELAY_IOS: &str = "lognormal(median=2ms, sigma=0.9, max=200ms)";
/// The relay delay of ISC dhcrelay on Linux, as the keepalived and dhcrelay lab of
/// `tests/it/real_relay` has it.
pub const RELAY_DELAY_LINUX: &str = "lognormal(median=200us, sigma=0.7, max=4ms)";
/// LAN latencies of `topologies/kb2510665.yaml`: the clients' access switch, and the others.
pub const LATENCY_CLIENTS: &str = "uniform(10us, 60us)";
pub const LATENCY_OTHER: &str = "uniform(10us, 50us)";
/// The placeholder clients: kb2510665.yaml's three UEFI machines.
pub const CLIENT_COUNT: u32 = 3;
pub const CLIENT_POWER_ON: &str = "uniform(0s, 2s)";

#[derive(Debug)]
pub struct Lab {
    pub lans: Vec<Lan>,
    pub routers: Vec<LabRouter>,
    pub servers: Vec<Server>,
    pub clients: Vec<Clients>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An interface on it relays DHCP: the clients are here.
    Clients,
    /// A helper address is on it.
    Servers,
    /// Shared by routers, nothing relayed from it or to it.
    Transit,
}

#[derive(Debug)]
pub struct Lan {
    pub name: String,
    pub network: Ipv4Addr,
    pub prefix_len: u8,
    pub role: Role,
}

impl Lan {
    pub fn latency(&self) -> &'static str {
        match self.role {
            Role::Clients => LATENCY_CLIENTS,
            Role::Servers | Role::Transit => LATENCY_OTHER,
        }
    }
}

#[derive(Debug)]
pub struct LabRouter {
    pub name: String,
    pub platform: Platform,
    pub files: Vec<String>,
    pub relay_hops_max: Option<u8>,
    /// Written only when it differs from the platform's default.
    pub forward_udp_ports: Option<Vec<u16>>,
    pub interfaces: Vec<LabInterface>,
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
}

impl LabRouter {
    pub fn relay_delay(&self) -> &'static str {
        match self.platform {
            Platform::Ios | Platform::Eos => RELAY_DELAY_IOS,
            Platform::Linux => RELAY_DELAY_LINUX,
        }
    }
}

#[derive(Debug)]
pub struct LabInterface {
    pub name: String,
    pub lan: usize,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub group: Option<Group>,
    pub helpers: Vec<Ipv4Addr>,
    pub follow: bool,
    pub option82: bool,
}

/// How a server's plugin was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// `--server ADDR=PLUGIN`.
    Given,
    /// Not given: the default, and why it is the default.
    Default(&'static str),
}

#[derive(Debug)]
pub struct Server {
    pub name: String,
    pub lan: usize,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub plugin: String,
    pub choice: Choice,
    /// The helper line that first names it.
    pub at: Loc,
    /// The LANs whose interfaces relay to it, in order.
    pub serves: Vec<usize>,
    /// The service's display name and restart delay.
    pub service: Option<(&'static str, &'static str)>,
    pub config: Vec<(&'static str, String)>,
}

#[derive(Debug)]
pub struct Clients {
    pub name: String,
    pub lan: usize,
}

/// The plugin a helper gets when the user names none: the first helper address is the DHCP
/// server, every further one a PXE boot server.
pub const DEFAULT_DHCP: &str = "dhcp-server";
pub const DEFAULT_BOOT: &str = "proxydhcp";

/// Builds the lab; `choices` are the `--server ADDR=PLUGIN` pairs.
pub fn build(
    routers: Vec<Router>,
    choices: &[(Ipv4Addr, String)],
    notes: &mut Vec<Note>,
) -> Result<Lab, Vec<Error>> {
    let mut builder = Builder {
        routers,
        notes,
        errors: Vec::new(),
    };
    builder.unique_names();
    let live = builder.live_interfaces();
    builder.check_subnets(&live);
    builder.stop()?;
    let (lans, members) = builder.lans(&live);
    builder.stop()?;
    let mut lab_routers = builder.lab_routers(&members);
    builder.groups(&lans, &mut lab_routers);
    builder.follow_redundancy(&mut lab_routers, &members);
    builder.stop()?;
    builder.routes(&mut lab_routers, &lans);
    let mut servers = builder.servers(&lans, &lab_routers, choices);
    builder.stop()?;
    builder.settings(&lans, &lab_routers, &mut servers);
    builder.stop()?;
    let clients = clients(&lans);
    Ok(Lab {
        lans,
        routers: lab_routers,
        servers,
        clients,
    })
}

struct Builder<'n> {
    routers: Vec<Router>,
    notes: &'n mut Vec<Note>,
    errors: Vec<Error>,
}

/// An interface of the routers by (router, interface) index.
type Member = (usize, usize);

impl Builder<'_> {
    fn stop(&mut self) -> Result<(), Vec<Error>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            let mut errors = std::mem::take(&mut self.errors);
            errors.sort_by(|a, b| a.at.cmp(&b.at));
            Err(errors)
        }
    }

    fn note(&mut self, at: &Loc, what: impl Into<String>, why: impl Into<String>) {
        self.notes
            .push(Note::new(at.clone(), what.into(), why.into()));
    }

    fn interface(&self, (r, i): Member) -> &Interface {
        &self.routers[r].interfaces[i]
    }

    fn unique_names(&mut self) {
        for index in 1..self.routers.len() {
            let name = &self.routers[index].name;
            if let Some(first) = self.routers[..index].iter().find(|r| &r.name == name) {
                let error = Error::new(
                    self.routers[index].name_at.clone(),
                    format!(
                        "two routers are named `{name}` (the other is from {})",
                        first.name_at
                    ),
                    "give each router its own hostname (or, for Linux routers, its own folder)",
                );
                self.errors.push(error);
            }
        }
    }

    /// The interfaces that are up and have an address; the others are noted.
    fn live_interfaces(&mut self) -> Vec<Member> {
        let mut live = Vec::new();
        for r in 0..self.routers.len() {
            for i in 0..self.routers[r].interfaces.len() {
                let interface = &self.routers[r].interfaces[i];
                let router = &self.routers[r].name;
                let what = format!("{router} interface {}", interface.name);
                if let Some(at) = interface.shutdown.clone() {
                    let why = "shut down, so it is left out (with its groups and helpers)";
                    self.note(&at, what, why);
                } else if interface.address.is_none() {
                    let at = interface.at.clone();
                    let why = if interface.helpers.is_empty() && interface.groups.is_empty() {
                        "no IPv4 address, so it is on no LAN of the lab"
                    } else {
                        "no IPv4 address, so it is left out (with its groups and helpers)"
                    };
                    self.note(&at, what, why);
                } else {
                    live.push((r, i));
                }
            }
        }
        live
    }

    /// No address is used twice, and subnets are equal or apart.
    fn check_subnets(&mut self, live: &[Member]) {
        for (index, &b) in live.iter().enumerate() {
            for &a in &live[..index] {
                let (x, y) = (self.interface(a), self.interface(b));
                let (Some(first), Some(second)) = (&x.address, &y.address) else {
                    continue;
                };
                let owner =
                    |m: Member| format!("{} {}", self.routers[m.0].name, self.interface(m).name);
                if first.ip == second.ip {
                    let error = Error::new(
                        second.at.clone(),
                        format!(
                            "{} is also the address of {} ({})",
                            second.ip,
                            owner(a),
                            first.at
                        ),
                        "every interface needs its own address",
                    );
                    self.errors.push(error);
                    continue;
                }
                let shorter = first.prefix_len.min(second.prefix_len);
                let overlap = subnet::same_subnet(first.ip, second.ip, shorter);
                let equal = overlap && first.prefix_len == second.prefix_len;
                if overlap && (!equal || a.0 == b.0) {
                    let error = Error::new(
                        second.at.clone(),
                        format!(
                            "subnet {}/{} of {} overlaps {}/{} of {} ({})",
                            subnet::network(second.ip, second.prefix_len),
                            second.prefix_len,
                            owner(b),
                            subnet::network(first.ip, first.prefix_len),
                            first.prefix_len,
                            owner(a),
                            first.at
                        ),
                        if a.0 == b.0 {
                            "one router has each subnet on one interface"
                        } else {
                            "routers that share a LAN have the same prefix length on it"
                        },
                    );
                    self.errors.push(error);
                }
            }
        }
    }

    /// The LANs, and the members of each. A subnet is a LAN when two routers share it, when
    /// an interface on it relays, or when a helper address is on it.
    fn lans(&mut self, live: &[Member]) -> (Vec<Lan>, Vec<Vec<Member>>) {
        let mut subnets: BTreeMap<(u32, u8), Vec<Member>> = BTreeMap::new();
        for &member in live {
            let address = self.interface(member).address.as_ref().expect("live");
            let network = subnet::network(address.ip, address.prefix_len);
            subnets
                .entry((u32::from(network), address.prefix_len))
                .or_default()
                .push(member);
        }
        let helper_in = |(network, prefix_len): (u32, u8), routers: &[Router]| {
            live.iter().any(|&(r, i)| {
                routers[r].interfaces[i]
                    .helpers
                    .iter()
                    .any(|h| subnet::contains(Ipv4Addr::from(network), prefix_len, h.address))
            })
        };
        self.check_helpers(live, &subnets);
        let mut kept: Vec<((u32, u8), Vec<Member>, Role)> = Vec::new();
        for (key, members) in subnets {
            let relays = members
                .iter()
                .any(|&m| !self.interface(m).helpers.is_empty());
            let shared = members.iter().any(|m| m.0 != members[0].0);
            let holds_helper = helper_in(key, &self.routers);
            let role = if relays {
                Role::Clients
            } else if holds_helper {
                Role::Servers
            } else {
                Role::Transit
            };
            if relays || shared || holds_helper {
                kept.push((key, members, role));
                continue;
            }
            for m in members {
                let interface = self.interface(m);
                let at = interface.address.as_ref().expect("live").at.clone();
                let what = format!(
                    "{} {} {}/{}",
                    self.routers[m.0].name,
                    interface.name,
                    Ipv4Addr::from(key.0),
                    key.1
                );
                let why = "a subnet of this router alone, with no relay and no helper on it: no LAN of the lab";
                self.note(&at, what, why);
            }
        }
        let names = self.lan_names(&kept);
        let mut lans = Vec::new();
        let mut members = Vec::new();
        for (((network, prefix_len), lan_members, role), name) in kept.into_iter().zip(names) {
            lans.push(Lan {
                name,
                network: Ipv4Addr::from(network),
                prefix_len,
                role,
            });
            members.push(lan_members);
        }
        if !lans.iter().any(|lan| lan.role == Role::Clients) {
            let at = self
                .routers
                .first()
                .map(|r| r.name_at.clone())
                .expect("an import has a router");
            self.errors.push(Error::new(
                at,
                "none of the imported interfaces relays DHCP, so there is nothing to boot through",
                "give the configuration of a router with `ip helper-address` (or a dhcrelay defaults file)",
            ));
        }
        (lans, members)
    }

    /// Every helper is on one of the subnets (where a server can stand) and is no router's
    /// own address.
    fn check_helpers(&mut self, live: &[Member], subnets: &BTreeMap<(u32, u8), Vec<Member>>) {
        let mut errors = Vec::new();
        for &member in live {
            for helper in &self.interface(member).helpers {
                let target = subnets.iter().find(|((network, prefix_len), _)| {
                    subnet::contains(Ipv4Addr::from(*network), *prefix_len, helper.address)
                });
                let Some((_, on)) = target else {
                    let subnets: Vec<String> = subnets
                        .keys()
                        .map(|(network, len)| format!("{}/{len}", Ipv4Addr::from(*network)))
                        .collect();
                    errors.push(Error::new(
                        helper.at.clone(),
                        format!(
                            "helper {} points nowhere: it is on none of the imported routers' subnets ({})",
                            helper.address,
                            subnets.join(", ")
                        ),
                        "import the router whose subnet holds the server too, or correct the address",
                    ));
                    continue;
                };
                let owner = on.iter().find(|&&m| {
                    let i = self.interface(m);
                    i.address.as_ref().is_some_and(|a| a.ip == helper.address)
                        || i.groups
                            .iter()
                            .any(|g| g.virtual_ip == Some(helper.address))
                });
                if let Some(&owner) = owner {
                    errors.push(Error::new(
                        helper.at.clone(),
                        format!(
                            "helper {} is an address of router {} ({}), not of a server",
                            helper.address,
                            self.routers[owner.0].name,
                            self.interface(owner).name
                        ),
                        "a helper address is the DHCP or PXE server's",
                    ));
                }
            }
        }
        self.errors.extend(errors);
    }

    /// `clients` and `servers` where one LAN has the role, else the VLAN (`vlan10`) or the
    /// subnet (`net-10-3-0-0-24`).
    fn lan_names(&self, kept: &[((u32, u8), Vec<Member>, Role)]) -> Vec<String> {
        let count = |role: Role| kept.iter().filter(|(_, _, r)| *r == role).count();
        let mut names: Vec<String> = Vec::new();
        for ((network, prefix_len), members, role) in kept {
            let vlans: Vec<String> = members
                .iter()
                .map(|&m| self.interface(m).name.to_ascii_lowercase())
                .collect();
            let by_subnet = format!(
                "net-{}-{prefix_len}",
                Ipv4Addr::from(*network).to_string().replace('.', "-")
            );
            let vlan = vlans[0].strip_prefix("vlan").filter(|n| {
                !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && vlans.iter().all(|v| *v == vlans[0])
            });
            let mut name = match (role, vlan) {
                (Role::Clients, _) if count(Role::Clients) == 1 => "clients".to_string(),
                (Role::Servers, _) if count(Role::Servers) == 1 => "servers".to_string(),
                (_, Some(number)) => format!("vlan{number}"),
                (_, None) => by_subnet.clone(),
            };
            if names.contains(&name) {
                name = by_subnet;
            }
            names.push(name);
        }
        names
    }

    fn lab_routers(&mut self, members: &[Vec<Member>]) -> Vec<LabRouter> {
        let lan_of = |member: Member| members.iter().position(|m| m.contains(&member));
        let mut lab = Vec::new();
        for r in 0..self.routers.len() {
            let router = &self.routers[r];
            let mut interfaces = Vec::new();
            let mut extra_groups = Vec::new();
            for (i, interface) in router.interfaces.iter().enumerate() {
                let Some(lan) = lan_of((r, i)) else { continue };
                let address = interface.address.as_ref().expect("on a LAN");
                extra_groups.extend(
                    interface
                        .groups
                        .iter()
                        .skip(1)
                        .map(|g| (g.at.clone(), g.protocol, g.number)),
                );
                interfaces.push(LabInterface {
                    name: interface.name.clone(),
                    lan,
                    ip: address.ip,
                    prefix_len: address.prefix_len,
                    group: interface.groups.first().cloned(),
                    helpers: interface.helpers.iter().map(|h| h.address).collect(),
                    follow: false,
                    option82: interface.option82.is_some(),
                });
            }
            let default_ports: Vec<u16> = match router.platform {
                Platform::Linux => vec![67],
                Platform::Ios | Platform::Eos => engine::router::DEFAULT_FORWARD_UDP_PORTS.to_vec(),
            };
            let forward_udp_ports = router
                .forward_udp_ports
                .clone()
                .filter(|ports| *ports != engine::router::DEFAULT_FORWARD_UDP_PORTS);
            let relays = interfaces.iter().any(|i| !i.helpers.is_empty());
            let lonely = interfaces.is_empty();
            let effective = forward_udp_ports.clone().unwrap_or(default_ports);
            let name_at = router.name_at.clone();
            let name = router.name.clone();
            lab.push(LabRouter {
                name: router.name.clone(),
                platform: router.platform,
                files: router.files.iter().map(|f| f.to_string()).collect(),
                relay_hops_max: router.relay_hops_max,
                forward_udp_ports,
                interfaces,
                routes: Vec::new(),
            });
            if lonely {
                let what = format!("router {name}");
                self.note(
                    &name_at,
                    what,
                    "none of its interfaces is on a LAN of the lab, so it is left out",
                );
            }
            for (at, protocol, number) in extra_groups {
                let what = format!("{} group {number}", protocol.label());
                self.note(&at, what, "not modelled: the lab gives an interface one redundancy group (the first configured)");
            }
            if relays && !effective.contains(&67) {
                let what = format!("router {name}");
                self.note(&name_at, what, "UDP 67 is not in its `ip forward-protocol udp` ports, so it relays no DHCP, as configured");
            }
        }
        lab
    }

    /// Each group checked across its members (same virtual IP, version and timers), with
    /// what a member would learn from the others filled in.
    fn groups(&mut self, lans: &[Lan], routers: &mut [LabRouter]) {
        let mut groups: BTreeMap<(usize, Protocol, u16), Vec<Member>> = BTreeMap::new();
        for (r, router) in routers.iter().enumerate() {
            for (i, interface) in router.interfaces.iter().enumerate() {
                if let Some(group) = &interface.group {
                    groups
                        .entry((interface.lan, group.protocol, group.number))
                        .or_default()
                        .push((r, i));
                }
            }
        }
        let mut virtual_ips: BTreeMap<Ipv4Addr, (Protocol, u16, Loc)> = BTreeMap::new();
        for ((lan, protocol, number), members) in groups {
            let what = format!(
                "{} group {number} on LAN {}",
                protocol.label(),
                lans[lan].name
            );
            let Some(virtual_ip) = self.virtual_ip(routers, &members, &what) else {
                continue;
            };
            let at = routers[members[0].0].interfaces[members[0].1]
                .group
                .as_ref()
                .expect("a member")
                .at
                .clone();
            if let Some((other_protocol, other, other_at)) =
                virtual_ips.insert(virtual_ip, (protocol, number, at.clone()))
            {
                self.errors.push(Error::new(
                    at.clone(),
                    format!(
                        "{what} has virtual IP {virtual_ip}, which {} group {other} has too ({other_at})",
                        other_protocol.label()
                    ),
                    "each group has a virtual IP of its own",
                ));
            }
            let lan = &lans[lan];
            if !subnet::contains(lan.network, lan.prefix_len, virtual_ip) {
                self.errors.push(Error::new(
                    at,
                    format!(
                        "{what}: virtual IP {virtual_ip} is not in the LAN's subnet {}/{}",
                        lan.network, lan.prefix_len
                    ),
                    "the virtual IP is an address of the subnet the group runs on",
                ));
                continue;
            }
            self.agree(routers, &members, &what, protocol);
            self.priorities(routers, &members, protocol, virtual_ip);
        }
    }

    /// The group's virtual IP: every member that configures it says the same, and the others
    /// learn it (HSRP `standby N ip` without an address).
    fn virtual_ip(
        &mut self,
        routers: &mut [LabRouter],
        members: &[Member],
        what: &str,
    ) -> Option<Ipv4Addr> {
        let mut found: Option<(Ipv4Addr, Loc)> = None;
        for &(r, i) in members {
            let group = routers[r].interfaces[i].group.as_ref().expect("a member");
            let Some(ip) = group.virtual_ip else { continue };
            match &found {
                None => found = Some((ip, group.at.clone())),
                Some((first, at)) if *first != ip => {
                    self.errors.push(Error::new(
                        group.at.clone(),
                        format!("{what}: virtual IP {ip} here, {first} on another member ({at})"),
                        "every member of a group has the same virtual IP",
                    ));
                    return None;
                }
                Some(_) => {}
            }
        }
        let Some((ip, at)) = found else {
            let (r, i) = members[0];
            let at = routers[r].interfaces[i]
                .group
                .as_ref()
                .expect("a member")
                .at
                .clone();
            self.errors.push(Error::new(
                at,
                format!("{what}: no member configures the virtual IP"),
                "give it on one member at least, e.g. `standby 10 ip 10.1.0.1`",
            ));
            return None;
        };
        for &(r, i) in members {
            let router = routers[r].name.clone();
            let group = routers[r].interfaces[i].group.as_mut().expect("a member");
            if group.virtual_ip.is_none() {
                group.virtual_ip = Some(ip);
                let note_at = group.at.clone();
                self.note(
                    &note_at,
                    format!("{what} on {router}: virtual IP not configured"),
                    format!("learned from the Active router, as HSRP does: {ip} ({at})"),
                );
            }
        }
        Some(ip)
    }

    /// Members agree on the version and the timers; one that configures no timers learns
    /// the others' (HSRP), or has the default (VRRP, which must then be what the others say).
    fn agree(
        &mut self,
        routers: &mut [LabRouter],
        members: &[Member],
        what: &str,
        protocol: Protocol,
    ) {
        let default_version = match protocol {
            Protocol::Hsrp => 1,
            Protocol::Vrrp => 2,
        };
        let group = |m: Member, routers: &[LabRouter]| {
            routers[m.0].interfaces[m.1]
                .group
                .clone()
                .expect("a member")
        };
        let first = group(members[0], routers);
        let configured = members
            .iter()
            .map(|&m| group(m, routers))
            .find(|g| g.timers_at.is_some());
        for &m in &members[1..] {
            let other = group(m, routers);
            let (a, b) = (
                first.version.unwrap_or(default_version),
                other.version.unwrap_or(default_version),
            );
            if a != b {
                self.errors.push(Error::new(
                    other.at.clone(),
                    format!(
                        "{what}: version {b} here, version {a} on another member ({})",
                        first.at
                    ),
                    "every member of a group speaks the same version",
                ));
            }
        }
        let Some(configured) = configured else { return };
        let timers = |g: &Group| match protocol {
            Protocol::Hsrp => (g.hello_ms, g.hold_ms),
            Protocol::Vrrp => (Some(g.hello_ms.unwrap_or(1000)), None),
        };
        for &(r, i) in members {
            let router = routers[r].name.clone();
            let group = routers[r].interfaces[i].group.as_mut().expect("a member");
            let at = configured.timers_at.clone().expect("configured");
            if group.timers_at.is_none() && protocol == Protocol::Hsrp {
                group.hello_ms = configured.hello_ms;
                group.hold_ms = configured.hold_ms;
                let note_at = group.at.clone();
                self.note(
                    &note_at,
                    format!("{what} on {router}: timers not configured"),
                    format!("learned from the Active router, as HSRP does: those at {at}"),
                );
            } else if timers(group) != timers(&configured) {
                let shown = |(hello, hold): (Option<u64>, Option<u64>)| match hold {
                    Some(hold) => format!("hello {} ms, hold {hold} ms", hello.unwrap_or(0)),
                    None => format!("an advertisement interval of {} ms", hello.unwrap_or(0)),
                };
                let here = group.timers_at.clone().unwrap_or_else(|| group.at.clone());
                self.errors.push(Error::new(
                    here,
                    format!(
                        "{what}: {} here, {} on another member ({at})",
                        shown(timers(group)),
                        shown(timers(&configured))
                    ),
                    "every member of a group uses the same timers",
                ));
            }
        }
    }

    /// VRRP's address owner has priority 255; a non-owner cannot (keepalived allows it, the
    /// RFC does not): it becomes 254. keepalived's `state` is noted where the election starts
    /// the group otherwise.
    fn priorities(
        &mut self,
        routers: &mut [LabRouter],
        members: &[Member],
        protocol: Protocol,
        virtual_ip: Ipv4Addr,
    ) {
        let mut ranks = Vec::new();
        for &(r, i) in members {
            let interface = &mut routers[r].interfaces[i];
            let owner = interface.ip == virtual_ip;
            let group = interface.group.as_mut().expect("a member");
            let at = group.at.clone();
            if protocol == Protocol::Vrrp && owner && group.priority.is_some_and(|p| p != 255) {
                let configured = group.priority.take().unwrap_or_default();
                self.note(
                    &at,
                    format!("VRRP group {} priority {configured}", group.number),
                    "the router owns the virtual IP, so its priority is 255 (RFC 5798)",
                );
            } else if protocol == Protocol::Vrrp && !owner && group.priority == Some(255) {
                group.priority = Some(254);
                self.note(&at, format!("VRRP group {} priority 255", group.number), "255 belongs to the router that owns the virtual IP (RFC 5798); modelled as 254, the highest a backup can have");
            }
            let priority = if owner && protocol == Protocol::Vrrp {
                255
            } else {
                group.priority.unwrap_or(100)
            };
            ranks.push((priority, interface.ip));
        }
        let winner = ranks.iter().max().copied();
        for (&(r, i), rank) in members.iter().zip(&ranks) {
            let router = routers[r].name.clone();
            let group = routers[r].interfaces[i].group.as_ref().expect("a member");
            if let Some((master, at)) = &group.initial_master
                && *master != (Some(*rank) == winner)
            {
                let state = if *master { "MASTER" } else { "BACKUP" };
                let at = at.clone();
                self.note(
                    &at,
                    format!("state {state} on {router}"),
                    "not modelled: the lab starts each group as its election converges (the highest priority, then the highest address, is master)",
                );
            }
        }
    }

    /// `ip helper-address ... redundancy NAME`: the interface's helpers relay only while its
    /// HSRP group named NAME is Active. The lab decides this per interface, so it applies
    /// when every helper of the interface follows the group.
    fn follow_redundancy(&mut self, routers: &mut [LabRouter], members: &[Vec<Member>]) {
        for &(r, i) in members.iter().flatten() {
            let interface = &self.routers[r].interfaces[i];
            let following: Vec<_> = interface
                .helpers
                .iter()
                .filter(|h| h.follows.is_some())
                .collect();
            if following.is_empty() {
                continue;
            }
            let group = interface.groups.first();
            let mut ok = true;
            let mut errors = Vec::new();
            for helper in &following {
                let name = helper.follows.as_deref().expect("following");
                let named = group.is_some_and(|g| {
                    g.protocol == Protocol::Hsrp && g.name.as_deref() == Some(name)
                });
                if !named {
                    ok = false;
                    let names: Vec<String> = interface
                        .groups
                        .iter()
                        .filter_map(|g| {
                            g.name
                                .as_ref()
                                .map(|n| format!("{} (group {})", n, g.number))
                        })
                        .collect();
                    errors.push(Error::new(
                        helper.at.clone(),
                        format!(
                            "`redundancy {name}` names no HSRP group of {}",
                            interface.name
                        ),
                        if names.is_empty() {
                            format!(
                                "name the interface's group: `standby {} name {name}`",
                                group.map_or(0, |g| g.number)
                            )
                        } else {
                            format!("the interface's groups are named {}", names.join(", "))
                        },
                    ));
                }
            }
            self.errors.extend(errors);
            if !ok {
                continue;
            }
            if following.len() < interface.helpers.len() {
                let at = following[0].at.clone();
                self.note(
                    &at,
                    format!("{} helpers with and without `redundancy`", interface.name),
                    "the lab's relays follow redundancy per interface, not per helper: modelled as relaying always, as the helpers without it do",
                );
                continue;
            }
            let lab_interface = routers[r]
                .interfaces
                .iter_mut()
                .find(|li| li.name == interface.name)
                .expect("on a LAN");
            lab_interface.follow = true;
        }
    }

    /// Static routes whose next hop is another imported router on one of this router's LANs.
    fn routes(&mut self, routers: &mut [LabRouter], lans: &[Lan]) {
        let mut owners: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
        for (r, router) in routers.iter().enumerate() {
            for interface in &router.interfaces {
                owners.insert(interface.ip, r);
                if let Some(ip) = interface.group.as_ref().and_then(|g| g.virtual_ip) {
                    owners.insert(ip, r);
                }
            }
        }
        for (r, router) in routers.iter_mut().enumerate() {
            let mut kept: Vec<(Ipv4Addr, u8, Ipv4Addr)> = Vec::new();
            let routes = self.routers[r].routes.clone();
            for route in routes {
                let what = format!(
                    "route to {}/{} via {}",
                    route.network, route.prefix_len, route.next_hop
                );
                let on_lan = router.interfaces.iter().any(|i| {
                    let lan = &lans[i.lan];
                    subnet::contains(lan.network, lan.prefix_len, route.next_hop)
                });
                let why = match owners.get(&route.next_hop) {
                    _ if !on_lan => Some(
                        "not modelled: the next hop is on none of this router's LANs in the lab",
                    ),
                    None => Some(
                        "not modelled: the next hop is none of the imported routers, so the lab has nothing behind it",
                    ),
                    Some(&owner) if owner == r => {
                        Some("not modelled: the next hop is this router's own address")
                    }
                    Some(_)
                        if kept
                            .iter()
                            .any(|k| (k.0, k.1) == (route.network, route.prefix_len)) =>
                    {
                        Some("not modelled: the lab keeps one route per prefix (the first)")
                    }
                    Some(_) => None,
                };
                match why {
                    Some(why) => self.note(&route.at, what, why),
                    None => kept.push((route.network, route.prefix_len, route.next_hop)),
                }
            }
            router.routes = kept;
        }
    }

    /// One server per helper address, on the LAN that holds it.
    fn servers(
        &mut self,
        lans: &[Lan],
        routers: &[LabRouter],
        choices: &[(Ipv4Addr, String)],
    ) -> Vec<Server> {
        // (address, first line, the LANs relaying to it)
        let mut helpers: Vec<(Ipv4Addr, Loc, Vec<usize>)> = Vec::new();
        for (r, router) in self.routers.iter().enumerate() {
            for interface in &router.interfaces {
                let Some(lab_interface) = routers[r]
                    .interfaces
                    .iter()
                    .find(|li| li.name == interface.name)
                else {
                    continue;
                };
                for helper in &interface.helpers {
                    match helpers.iter_mut().find(|(ip, _, _)| *ip == helper.address) {
                        Some((_, _, lans)) => {
                            if !lans.contains(&lab_interface.lan) {
                                lans.push(lab_interface.lan);
                            }
                        }
                        None => helpers.push((
                            helper.address,
                            helper.at.clone(),
                            vec![lab_interface.lan],
                        )),
                    }
                }
            }
        }
        for (ip, plugin) in choices {
            if !helpers.iter().any(|(helper, _, _)| helper == ip) {
                let known: Vec<String> = helpers.iter().map(|(ip, _, _)| ip.to_string()).collect();
                self.errors.push(Error::new(
                    Loc::new(&"--server".into(), 0),
                    format!("{ip}={plugin}: {ip} is none of the helper addresses"),
                    format!("the helper addresses are {}", known.join(", ")),
                ));
            }
        }
        let mut taken: Vec<String> = routers.iter().map(|r| r.name.clone()).collect();
        let mut servers = Vec::new();
        for (index, (ip, at, serves)) in helpers.into_iter().enumerate() {
            let Some(lan) = lans
                .iter()
                .position(|lan| subnet::contains(lan.network, lan.prefix_len, ip))
            else {
                self.errors.push(Error::new(
                    at,
                    format!("helper {ip} points nowhere: it is on none of the lab's LANs"),
                    "import the router whose subnet holds the server too, or correct the address",
                ));
                continue;
            };
            let (plugin, choice) = match choices.iter().rev().find(|(c, _)| *c == ip) {
                Some((_, plugin)) => (plugin.clone(), Choice::Given),
                None if index == 0 => (
                    DEFAULT_DHCP.to_string(),
                    Choice::Default("the first helper address is taken for the DHCP server"),
                ),
                None => (
                    DEFAULT_BOOT.to_string(),
                    Choice::Default("a further helper address is taken for a PXE boot server"),
                ),
            };
            let name = unique(server_name(&plugin), &mut taken);
            servers.push(Server {
                name,
                lan,
                ip,
                prefix_len: lans[lan].prefix_len,
                gateway: gateway(lans, routers, lan),
                plugin,
                choice,
                at,
                serves,
                service: None,
                config: Vec::new(),
            });
        }
        servers
    }

    /// What each server's plugin needs to run: its service's name and restart, and its
    /// configuration (a DHCP server's pool on the LAN it serves).
    fn settings(&mut self, lans: &[Lan], routers: &[LabRouter], servers: &mut [Server]) {
        let server_ips: Vec<Ipv4Addr> = servers.iter().map(|s| s.ip).collect();
        for server in servers.iter_mut() {
            match server.plugin.as_str() {
                "dhcp-server" => {
                    server.service = Some(("DHCP Server", "60s"));
                    let lan = server.serves[0];
                    let mut used: Vec<Ipv4Addr> = server_ips.clone();
                    for interface in routers
                        .iter()
                        .flat_map(|r| &r.interfaces)
                        .filter(|i| i.lan == lan)
                    {
                        used.push(interface.ip);
                        used.extend(interface.group.as_ref().and_then(|g| g.virtual_ip));
                    }
                    let Some((first, last)) = pool(&lans[lan], &used) else {
                        self.errors.push(Error::new(
                            server.at.clone(),
                            format!("LAN {} has no room for a DHCP pool", lans[lan].name),
                            "pick another plugin for this helper with --server ADDR=PLUGIN",
                        ));
                        continue;
                    };
                    server.config = vec![
                        ("pool", format!("{first}-{last}")),
                        (
                            "subnet_mask",
                            subnet::netmask(lans[lan].prefix_len).to_string(),
                        ),
                    ];
                    if let Some(router) = gateway(lans, routers, lan) {
                        server.config.push(("router", router.to_string()));
                    }
                    server.config.push(("lease_secs", "86400".to_string()));
                    if server.serves.len() > 1 {
                        let others: Vec<&str> = server.serves[1..]
                            .iter()
                            .map(|&l| lans[l].name.as_str())
                            .collect();
                        let at = server.at.clone();
                        self.note(
                            &at,
                            format!("DHCP server {}", server.ip),
                            format!(
                                "dhcp-server has one pool: it serves LAN {}; the clients of {} get no address from it",
                                lans[lan].name,
                                others.join(", ")
                            ),
                        );
                    }
                }
                "wds-sccm2007" | "wds-fixed" => {
                    server.service = Some(("Windows Deployment Services Server", "120000ms"));
                    server.config = vec![
                        ("threads", "4".to_string()),
                        ("lookup", WDS_LOOKUP.to_string()),
                    ];
                }
                "proxydhcp" | "proxydhcp-c" => server.service = Some(("dnsmasq", "100ms")),
                _ => {}
            }
        }
    }
}

/// The ConfigMgr device lookup of `topologies/kb2510665.yaml`: a site database round trip.
pub const WDS_LOOKUP: &str = "lognormal(median=600us, sigma=0.8, max=5s)";

/// A LAN's gateway for the hosts on it: the first redundancy group's virtual IP, else the
/// lowest router address.
pub fn gateway(lans: &[Lan], routers: &[LabRouter], lan: usize) -> Option<Ipv4Addr> {
    let on_lan = || {
        routers
            .iter()
            .flat_map(|r| &r.interfaces)
            .filter(|i| i.lan == lan)
    };
    on_lan()
        .find_map(|i| i.group.as_ref().and_then(|g| g.virtual_ip))
        .or_else(|| on_lan().map(|i| i.ip).min())
        .filter(|ip| subnet::contains(lans[lan].network, lans[lan].prefix_len, *ip))
}

/// A node name for a server by what its plugin is.
fn server_name(plugin: &str) -> &'static str {
    match plugin {
        "dhcp-server" => "dhcp",
        "wds-sccm2007" | "wds-fixed" => "wds",
        "proxydhcp" | "proxydhcp-c" => "proxy",
        "tinypxe" => "pxe",
        _ => "server",
    }
}

/// `base`, or `base2`, `base3`... if taken; the name is taken then.
fn unique(base: &str, taken: &mut Vec<String>) -> String {
    let mut name = base.to_string();
    let mut number = 2;
    while taken.contains(&name) {
        name = format!("{base}{number}");
        number += 1;
    }
    taken.push(name.clone());
    name
}

fn clients(lans: &[Lan]) -> Vec<Clients> {
    let client_lans: Vec<usize> = (0..lans.len())
        .filter(|&lan| lans[lan].role == Role::Clients)
        .collect();
    client_lans
        .iter()
        .map(|&lan| Clients {
            name: if client_lans.len() == 1 {
                "pc".to_string()
            } else {
                format!("pc-{}", lans[lan].name)
            },
            lan,
        })
        .collect()
}

/// A DHCP pool on `lan` that misses every router and server address on it: for a /24 and
/// larger, hosts .100 to .199 (as the shipped topologies have it); on a smaller LAN, its upper
/// half.
pub fn pool(lan: &Lan, used: &[Ipv4Addr]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let base = u32::from(lan.network);
    let size = 1u64 << (32 - u32::from(lan.prefix_len));
    if size < 4 {
        return None;
    }
    let last_host = base + (size - 2) as u32;
    let (mut first, mut last) = if size >= 256 {
        (base + 100, base + 199)
    } else {
        (base + (size / 2) as u32, last_host)
    };
    let used: Vec<u32> = used.iter().map(|ip| u32::from(*ip)).collect();
    if let Some(&highest) = used.iter().filter(|&&ip| ip >= first && ip <= last).max() {
        first = highest + 1;
        last = last.max(first.saturating_add(99)).min(last_host);
    }
    (first <= last && first > base).then(|| (Ipv4Addr::from(first), Ipv4Addr::from(last)))
}

#[cfg(test)]
mod tests;
