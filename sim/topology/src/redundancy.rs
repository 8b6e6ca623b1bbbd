//! The planner's redundancy groups: each interface's group read with the defaults and ranges
//! of its protocol version and its router's platform, then each group's members checked
//! against each other and started in the roles the engine's election gives them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use engine::redundancy::{self, GratuitousArp, GroupConfig, Initial, Protocol, Rank};

use crate::error::Error;
use crate::model::{GratuitousArpSpec, ProtocolSpec, RedundancySpec};
use crate::planner::Planner;
use crate::source::Source;

/// What a router runs (`platform:`): the details real gear differs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Platform {
    Ios,
    Keepalived,
    Frr,
}

impl Platform {
    /// The router's `platform:` (`base` locates the router).
    pub(crate) fn of(
        source: &Source,
        base: &[&str; 2],
        text: Option<&str>,
    ) -> Result<Platform, Error> {
        match text.map(str::trim) {
            None | Some("ios") => Ok(Platform::Ios),
            Some("keepalived") => Ok(Platform::Keepalived),
            Some("frr") => Ok(Platform::Frr),
            Some(other) => Err(source.value(
                &[base[0], base[1], "platform:"],
                format!("unknown platform `{other}`"),
                "the platforms are ios (Cisco IOS/IOS-XE), keepalived (Linux: keepalived + ISC dhcrelay), frr (Linux: FRR)",
            )),
        }
    }

    /// TTL of what the router sends itself: IOS 255, Linux 64.
    pub(crate) fn ttl(self) -> u8 {
        match self {
            Platform::Ios => 255,
            Platform::Keepalived | Platform::Frr => 64,
        }
    }

    /// Gratuitous ARPs on takeover: keepalived's `vrrp_garp_master_repeat 5` and
    /// `vrrp_garp_master_delay 5` (target MAC ff:ff:ff:ff:ff:ff), one elsewhere.
    fn gratuitous_arp(self) -> GratuitousArp {
        match self {
            Platform::Keepalived => GratuitousArp {
                count: 5,
                repeat: 5,
                repeat_after_ns: 5_000_000_000,
                target_broadcast: true,
            },
            Platform::Ios | Platform::Frr => GratuitousArp::default(),
        }
    }
}

/// How a protocol version carries its timers: the unit, the largest value and their wording.
struct TimerUnit {
    unit_ns: u64,
    max_ns: u64,
    text: &'static str,
}

impl TimerUnit {
    fn of(protocol: Protocol, version: u8) -> TimerUnit {
        let (unit_ns, max_ns, text) = match (protocol, version) {
            (Protocol::Hsrp, 1) => (
                1_000_000_000,
                255_000_000_000,
                "whole seconds up to 255s (HSRP v1)",
            ),
            (Protocol::Hsrp, _) => (1_000_000, 3_600_000_000_000, "whole milliseconds (HSRP v2)"),
            (Protocol::Vrrp, 2) => (
                1_000_000_000,
                255_000_000_000,
                "whole seconds up to 255s (VRRP v2)",
            ),
            (Protocol::Vrrp, _) => (
                10_000_000,
                40_950_000_000,
                "centiseconds up to 40.95s (VRRP v3)",
            ),
        };
        TimerUnit {
            unit_ns,
            max_ns,
            text,
        }
    }

    fn carries(&self, value_ns: u64) -> bool {
        value_ns != 0 && value_ns.is_multiple_of(self.unit_ns) && value_ns <= self.max_ns
    }
}

impl Planner<'_> {
    /// One interface's redundancy group (the interface is at `at`), with the defaults and
    /// ranges of the protocol version.
    pub(crate) fn redundancy(
        &self,
        at: &[&str; 4],
        spec: &RedundancySpec,
        own_ip: Ipv4Addr,
        virtual_ip: Ipv4Addr,
        platform: Platform,
    ) -> Result<GroupConfig, Error> {
        let source = self.source;
        let with = |key: &'static str| [at[0], at[1], at[2], at[3], key];
        let protocol = match spec.protocol {
            ProtocolSpec::Hsrp => Protocol::Hsrp,
            ProtocolSpec::Vrrp => Protocol::Vrrp,
        };
        let version = self.group_version(at, spec, protocol)?;
        let priority = self.priority(at, spec, protocol, own_ip == virtual_ip, virtual_ip)?;
        let (hello_ns, hold_ns) = self.group_timers(at, spec, protocol, version)?;
        let preempt_delay_ns = match (&spec.preempt_delay, protocol) {
            (None, _) => 0,
            (Some(text), Protocol::Hsrp) => source.duration_ns(&with("preempt_delay:"), text)?,
            (Some(_), Protocol::Vrrp) => {
                return Err(source.value(
                    &with("preempt_delay:"),
                    "preempt_delay is an HSRP setting",
                    "a VRRP backup preempts after Master_Down_Interval",
                ));
            }
        };
        if protocol == Protocol::Hsrp && platform != Platform::Ios {
            return Err(source.conflict(
                &with("protocol:"),
                "HSRP is Cisco's: keepalived and FRR speak VRRP",
                "use `protocol: vrrp`, or `platform: ios` on the router",
            ));
        }
        let use_vmac = match (protocol, spec.use_vmac) {
            (Protocol::Hsrp, Some(false)) => {
                return Err(source.value(
                    &with("use_vmac:"),
                    "HSRP always uses its virtual MAC",
                    "drop `use_vmac`; it is a VRRP setting",
                ));
            }
            (_, Some(use_vmac)) => use_vmac,
            (_, None) => platform != Platform::Keepalived,
        };
        let gratuitous_arp =
            self.gratuitous_arp(&with("gratuitous_arp:"), &spec.gratuitous_arp, platform)?;
        Ok(GroupConfig {
            protocol,
            version,
            group: spec.group,
            virtual_ip,
            priority,
            preempt: spec.preempt.unwrap_or(protocol == Protocol::Vrrp),
            preempt_delay_ns,
            hello_ns,
            hold_ns,
            initial: Initial::Cold,
            gratuitous_arp,
            use_vmac,
            advert_ident_per_group: platform == Platform::Keepalived,
            advert_dont_fragment: platform != Platform::Keepalived,
        })
    }

    /// The protocol version, and the group number in its range.
    fn group_version(
        &self,
        at: &[&str; 4],
        spec: &RedundancySpec,
        protocol: Protocol,
    ) -> Result<u8, Error> {
        let with = |key: &'static str| [at[0], at[1], at[2], at[3], key];
        let version = match (protocol, spec.version) {
            (Protocol::Hsrp, None | Some(1)) => 1,
            (Protocol::Hsrp, Some(2)) => 2,
            (Protocol::Vrrp, None | Some(2)) => 2,
            (Protocol::Vrrp, Some(3)) => 3,
            (_, Some(other)) => {
                return Err(self.source.value(
                    &with("version:"),
                    format!("{protocol} has no version {other}"),
                    "HSRP: 1 or 2; VRRP: 2 or 3",
                ));
            }
        };
        let (low, high, range) = match (protocol, version) {
            (Protocol::Hsrp, 1) => (0, 255, "0..255 for HSRP v1"),
            (Protocol::Hsrp, _) => (0, 4095, "0..4095 for HSRP v2"),
            (Protocol::Vrrp, _) => (1, 255, "1..255 for a VRRP VRID"),
        };
        if !(low..=high).contains(&spec.group) {
            return Err(self.source.value(
                &with("group:"),
                format!("group {} is out of range", spec.group),
                format!("use {range}"),
            ));
        }
        Ok(version)
    }

    /// The priority: 100 by default, 255 for a VRRP address owner (`owner`).
    fn priority(
        &self,
        at: &[&str; 4],
        spec: &RedundancySpec,
        protocol: Protocol,
        owner: bool,
        virtual_ip: Ipv4Addr,
    ) -> Result<u8, Error> {
        let with = |key: &'static str| [at[0], at[1], at[2], at[3], key];
        match (protocol, spec.priority, owner) {
            (Protocol::Hsrp, _, true) => Err(self.source.conflict(
                &with("virtual_ip:"),
                format!("HSRP virtual IP {virtual_ip} is the interface's own address"),
                "HSRP needs a virtual IP of its own; VRRP allows an address owner",
            )),
            (Protocol::Vrrp, Some(priority), true) if priority != 255 => Err(self.source.value(
                &with("priority:"),
                format!("the address owner must have priority 255, not {priority}"),
                "RFC 5798: the router that owns the virtual IP always has priority 255",
            )),
            (Protocol::Vrrp, _, true) => Ok(255),
            (Protocol::Vrrp, Some(0 | 255), false) => Err(self.source.value(
                &with("priority:"),
                "VRRP priorities 0 and 255 are reserved",
                "use 1..254; 255 belongs to the owner of the virtual IP",
            )),
            (_, priority, _) => Ok(priority.unwrap_or(100)),
        }
    }

    /// `(hello_ns, hold_ns)`, each one the protocol version can carry; VRRP has no hold time.
    fn group_timers(
        &self,
        at: &[&str; 4],
        spec: &RedundancySpec,
        protocol: Protocol,
        version: u8,
    ) -> Result<(u64, u64), Error> {
        let source = self.source;
        let with = |key: &'static str| [at[0], at[1], at[2], at[3], key];
        let duration = |key: &'static str, text: &Option<String>, default: &str| {
            source.duration_ns(&with(key), text.as_deref().unwrap_or(default))
        };
        let (hello_ns, hold_ns) = match protocol {
            Protocol::Hsrp => (
                duration("hello:", &spec.hello, "3s")?,
                duration("hold:", &spec.hold, "10s")?,
            ),
            Protocol::Vrrp => {
                if spec.hold.is_some() {
                    return Err(source.value(
                        &with("hold:"),
                        "VRRP has no hold time",
                        "VRRP derives Master_Down_Interval from `hello` (the advertisement interval)",
                    ));
                }
                (duration("hello:", &spec.hello, "1s")?, 0)
            }
        };
        let unit = TimerUnit::of(protocol, version);
        let carried = match protocol {
            Protocol::Hsrp => &[("hello:", hello_ns), ("hold:", hold_ns)][..],
            Protocol::Vrrp => &[("hello:", hello_ns)][..],
        };
        for &(key, value) in carried {
            if !unit.carries(value) {
                return Err(source.value(
                    &with(key),
                    format!("{} cannot be carried on the wire", timing::format_ns(value)),
                    format!("use {}", unit.text),
                ));
            }
        }
        if protocol == Protocol::Hsrp && hold_ns <= hello_ns {
            return Err(source.value(
                &with("hold:"),
                "the hold time must be longer than the hello time",
                "RFC 2281: at least three times the hello time (3s hello, 10s hold by default)",
            ));
        }
        Ok((hello_ns, hold_ns))
    }

    fn gratuitous_arp(
        &self,
        at: &[&str; 5],
        spec: &Option<GratuitousArpSpec>,
        platform: Platform,
    ) -> Result<GratuitousArp, Error> {
        let mut arp = platform.gratuitous_arp();
        let Some(spec) = spec else { return Ok(arp) };
        let with = |key: &'static str| [at[0], at[1], at[2], at[3], at[4], key];
        arp.count = spec.count.unwrap_or(arp.count);
        arp.repeat = spec.repeat.unwrap_or(arp.repeat);
        if let Some(after) = &spec.repeat_after {
            arp.repeat_after_ns = self.source.duration_ns(&with("repeat_after:"), after)?;
        }
        for (key, value) in [("count:", arp.count), ("repeat:", arp.repeat)] {
            if value > 100 {
                return Err(self.source.value(
                    &with(key),
                    format!("{value} gratuitous ARPs is more than any router sends"),
                    "keepalived sends 5 (and 5 more after 5 s), FRR and Cisco IOS one; at most 100",
                ));
            }
        }
        Ok(arp)
    }

    /// Checks each redundancy group's members agree, and starts each member in the role the
    /// election converges to (`engine::redundancy::converged`).
    pub(crate) fn elect(&mut self) -> Result<(), Error> {
        // (LAN, protocol, group) -> (router, interface) indices
        let mut groups: BTreeMap<(usize, bool, u16), Vec<(usize, usize)>> = BTreeMap::new();
        for (r, router) in self.routers.iter().enumerate() {
            let interfaces = router.config.interfaces.iter().zip(&router.lans);
            for (i, (interface, lan)) in interfaces.enumerate() {
                if let Some(group) = &interface.redundancy {
                    let key = (*lan, group.protocol == Protocol::Vrrp, group.group);
                    groups.entry(key).or_default().push((r, i));
                }
            }
        }
        for ((lan, _, group), members) in groups {
            self.check_group(lan, group, &members)?;
            let ranks: Vec<Rank> = members
                .iter()
                .map(|&member| {
                    let (interface, config) = self.member(member);
                    Rank {
                        priority: config.priority,
                        ip: interface.ip,
                    }
                })
                .collect();
            let protocol = self.member(members[0]).1.protocol;
            let roles = redundancy::converged(protocol, &ranks);
            for ((r, i), role) in members.into_iter().zip(roles) {
                if let Some(config) = &mut self.routers[r].config.interfaces[i].redundancy {
                    config.initial = role;
                }
            }
        }
        Ok(())
    }

    /// A group member's interface and group, by (router, interface) index.
    fn member(&self, (r, i): (usize, usize)) -> (&engine::router::RouterInterface, &GroupConfig) {
        let interface = &self.routers[r].config.interfaces[i];
        (
            interface,
            interface.redundancy.as_ref().expect("a member has a group"),
        )
    }

    /// The members of group `group` on LAN `lan` agree on what the group is, and at most one
    /// owns its virtual IP.
    fn check_group(&self, lan: usize, group: u16, members: &[(usize, usize)]) -> Result<(), Error> {
        let (_, first) = self.member(members[0]);
        for &member in &members[1..] {
            let (interface, other) = self.member(member);
            let same = other.virtual_ip == first.virtual_ip
                && other.version == first.version
                && other.hello_ns == first.hello_ns
                && other.hold_ns == first.hold_ns;
            if !same {
                let router = &self.routers[member.0].config.name;
                return Err(self.source.conflict(
                    &[
                        "routers:",
                        &format!("{router}:"),
                        &format!("name: {}", interface.name),
                        "redundancy:",
                    ],
                    format!(
                        "{} group {group} on LAN `{}` is configured differently on its members",
                        first.protocol, self.lans[lan].name
                    ),
                    "every member needs the same virtual_ip, version, hello and hold",
                ));
            }
        }
        let owners = members
            .iter()
            .filter(|&&m| {
                let (interface, config) = self.member(m);
                config.priority == 255 && interface.ip == first.virtual_ip
            })
            .count();
        if owners > 1 {
            let router = &self.routers[members[0].0].config.name;
            return Err(self.source.conflict(
                &["routers:", &format!("{router}:"), "redundancy:"],
                format!("VRRP group {group} has {owners} address owners"),
                "only one router can own the virtual IP",
            ));
        }
        Ok(())
    }
}
