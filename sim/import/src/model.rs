//! The neutral model every dialect reads into: routers with their interfaces, addresses,
//! redundancy groups, DHCP helpers and static routes, each element with the line it came from.
//! It says what the configurations say, with defaults left open (`None`) so that the lab can
//! tell a value a router was given from one it would learn or default.

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::report::Loc;

/// What a router runs: the dialect it was read from, and the topology `platform:` it maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Cisco IOS / IOS-XE.
    Ios,
    /// Arista EOS: modelled with the `ios` platform's details (TTL 255, the virtual MAC, one
    /// gratuitous ARP), which EOS shares.
    Eos,
    /// Linux with keepalived and ISC dhcrelay.
    Linux,
}

impl Platform {
    /// The dialect as people name it.
    pub fn label(self) -> &'static str {
        match self {
            Platform::Ios => "Cisco IOS",
            Platform::Eos => "Arista EOS",
            Platform::Linux => "Linux (keepalived, ISC dhcrelay)",
        }
    }

    /// The topology's `platform:` value.
    pub fn topology_platform(self) -> &'static str {
        match self {
            Platform::Ios | Platform::Eos => "ios",
            Platform::Linux => "keepalived",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Router {
    pub name: String,
    /// Where the name comes from (`hostname`, keepalived's `router_id`, or the file or folder).
    pub name_at: Loc,
    pub platform: Platform,
    /// The files the router was read from, in the order given.
    pub files: Vec<Arc<str>>,
    pub interfaces: Vec<Interface>,
    pub routes: Vec<Route>,
    /// UDP ports whose broadcasts go to the helpers; `None`: the platform's default.
    pub forward_udp_ports: Option<Vec<u16>>,
    /// Relayed requests whose hop count reached this are dropped; `None`: the default (10).
    pub relay_hops_max: Option<u8>,
}

impl Router {
    pub fn new(name: String, name_at: Loc, platform: Platform) -> Router {
        Router {
            name,
            files: vec![name_at.file.clone()],
            name_at,
            platform,
            interfaces: Vec::new(),
            routes: Vec::new(),
            forward_udp_ports: None,
            relay_hops_max: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Interface {
    pub name: String,
    /// The `interface` line (or the line that first names it).
    pub at: Loc,
    /// The primary IPv4 address; `None`: none configured (the interface is left out).
    pub address: Option<Address>,
    /// Redundancy groups, in the order configured; the topology models the first.
    pub groups: Vec<Group>,
    pub helpers: Vec<Helper>,
    /// Add relay agent information (option 82) to what this interface relays.
    pub option82: Option<Loc>,
    /// `shutdown`: administratively down (the interface is left out).
    pub shutdown: Option<Loc>,
}

impl Interface {
    pub fn new(name: impl Into<String>, at: Loc) -> Interface {
        Interface {
            name: name.into(),
            at,
            address: None,
            groups: Vec::new(),
            helpers: Vec::new(),
            option82: None,
            shutdown: None,
        }
    }

    /// The group `number` of `protocol`, made on first mention at `at`.
    pub fn group(&mut self, protocol: Protocol, number: u16, at: &Loc) -> &mut Group {
        let index = match self
            .groups
            .iter()
            .position(|g| g.protocol == protocol && g.number == number)
        {
            Some(index) => index,
            None => {
                self.groups.push(Group::new(protocol, number, at.clone()));
                self.groups.len() - 1
            }
        };
        &mut self.groups[index]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub at: Loc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Hsrp,
    Vrrp,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Hsrp => "HSRP",
            Protocol::Vrrp => "VRRP",
        }
    }
}

/// A redundancy group as one router configures it.
#[derive(Clone, Debug)]
pub struct Group {
    pub protocol: Protocol,
    pub number: u16,
    /// HSRP 1 or 2, VRRP 2 or 3; `None`: the protocol's default (HSRP 1, VRRP 2).
    pub version: Option<u8>,
    /// `None`: not configured here (an HSRP router learns it from the active one).
    pub virtual_ip: Option<Ipv4Addr>,
    pub priority: Option<u8>,
    pub preempt: Option<bool>,
    pub preempt_delay_ms: Option<u64>,
    /// HSRP hello / VRRP advertisement interval.
    pub hello_ms: Option<u64>,
    /// HSRP hold time.
    pub hold_ms: Option<u64>,
    /// Where the timers were configured.
    pub timers_at: Option<Loc>,
    /// HSRP `standby N name NAME`: what `ip helper-address ... redundancy NAME` refers to.
    pub name: Option<String>,
    /// VRRP at the virtual MAC (keepalived's `use_vmac`); `None`: the platform's habit.
    pub use_vmac: Option<bool>,
    /// keepalived's `state MASTER|BACKUP`: the role it starts in, which the election decides
    /// in the lab.
    pub initial_master: Option<(bool, Loc)>,
    /// The first line that configures the group.
    pub at: Loc,
}

impl Group {
    pub fn new(protocol: Protocol, number: u16, at: Loc) -> Group {
        Group {
            protocol,
            number,
            version: None,
            virtual_ip: None,
            priority: None,
            preempt: None,
            preempt_delay_ms: None,
            hello_ms: None,
            hold_ms: None,
            timers_at: None,
            name: None,
            use_vmac: None,
            initial_master: None,
            at,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Helper {
    pub address: Ipv4Addr,
    pub at: Loc,
    /// Cisco's `redundancy NAME`: relay only while the named HSRP group is Active.
    pub follows: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub network: Ipv4Addr,
    pub prefix_len: u8,
    pub next_hop: Ipv4Addr,
    pub at: Loc,
}
