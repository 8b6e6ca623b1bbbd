//! Cisco IOS / IOS-XE `show running-config`: the hostname, interfaces (VLAN interfaces and
//! routed ports) with their addresses, HSRP (`standby`) and VRRP (`vrrp`, and IOS-XE's VRRPv3
//! `address-family` blocks) groups and `ip helper-address`es, `ip forward-protocol udp`, `ip
//! dhcp relay information option`, `no service dhcp` and `ip route`. Every other line becomes a
//! note; a line of these commands that cannot be read is an error.

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::blocks::{self, Block, Line, ipv4, mask_prefix};
use crate::model::{Address, Group, Helper, Interface, Platform, Protocol, Route, Router};
use crate::report::{Findings, Loc, shown};

pub(crate) const MANAGEMENT: &str = "device management: no bearing on DHCP relay or redundancy";
pub(crate) const ROUTING: &str =
    "dynamic routing is not modelled: the lab forwards between its LANs and along static routes";
pub(crate) const SWITCHING: &str =
    "switching is not modelled: each LAN is one broadcast domain (no VLAN tags, no spanning tree)";
pub(crate) const FILTERS: &str =
    "filters and policies are not modelled: nothing is dropped or shaped";
pub(crate) const VRF: &str = "VRFs are not modelled: the lab has one routing table";
pub(crate) const UNKNOWN: &str = "not understood; nothing in the lab comes from it";
/// An `ip dhcp ...` command other than the option 82 switch (IOS and EOS).
pub(crate) const OTHER_RELAY_COMMAND: &str = "not modelled: the lab's relays add option 82 (with `ip dhcp relay information option`) and otherwise relay as they are";
const HSRP_AUTHENTICATION: &str =
    "HSRP authentication is not modelled: the lab sends the default text and checks none";
pub(crate) const TRACKING_NOTE: &str =
    "object tracking is not modelled: the group keeps its configured priority";
/// A group's second virtual address (IOS, EOS, keepalived).
pub(crate) const ONE_VIRTUAL_IP: &str = "not modelled: a group has one virtual IP in the lab";
/// A VRRP preemption delay (IOS, EOS, keepalived).
pub(crate) const VRRP_PREEMPT_DELAY: &str = "preemption is modelled, its delay is not: a VRRP backup in the lab preempts after Master_Down_Interval";

/// Reads one IOS configuration into a router.
pub fn parse(file: &Arc<str>, text: &str, findings: &mut Findings) -> Router {
    let mut ios = Ios::new(file, findings);
    for block in blocks::blocks(text) {
        ios.top(&block);
    }
    ios.finish()
}

/// The router's name before `hostname`: the file's name without its extension.
pub(crate) fn file_stem(file: &str) -> String {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let stem = name.split('.').next().unwrap_or(name);
    if stem.is_empty() {
        "router".to_string()
    } else {
        stem.to_string()
    }
}

struct Ios<'f> {
    findings: &'f mut Findings,
    router: Router,
    /// `no service dhcp`: the router relays nothing.
    relay_off: Option<usize>,
    /// `ip dhcp relay information option`.
    option82: Option<usize>,
}

impl<'f> Ios<'f> {
    fn new(file: &Arc<str>, findings: &'f mut Findings) -> Ios<'f> {
        let router = Router::new(file_stem(file), Loc::new(file, 0), Platform::Ios);
        Ios {
            findings,
            router,
            relay_off: None,
            option82: None,
        }
    }

    fn top(&mut self, block: &Block<'_>) {
        let line = &block.head;
        let n = line.number;
        match line.words.as_slice() {
            ["interface", name @ ..] if !name.is_empty() => {
                return self.interface(block, &name.join(""));
            }
            ["ip", "dhcp", "pool", ..] => {
                return block.note(
                    self.findings,
                    "the router's own DHCP server is not modelled; the lab's clients are served through the helpers",
                );
            }
            ["hostname", name] => {
                self.router.name = name.to_string();
                self.router.name_at = self.findings.at(n);
            }
            ["hostname", ..] => {
                self.findings
                    .error(n, "`hostname` takes one name", "write `hostname r1`")
            }
            ["ip", "route", rest @ ..] => self.route(line, rest),
            ["ip", "forward-protocol", rest @ ..] => self.forward_protocol(line, rest, true),
            ["no", "ip", "forward-protocol", rest @ ..] => self.forward_protocol(line, rest, false),
            ["ip", "dhcp", "relay", "information", "option"] => self.option82 = Some(n),
            ["no", "service", "dhcp"] => self.relay_off = Some(n),
            ["service", "dhcp"] | ["ip", "routing"] | ["version", _] => {}
            ["fhrp", "version", "vrrp", "v3"] => {}
            ["ip", "dhcp", ..] => return block.note(self.findings, OTHER_RELAY_COMMAND),
            ["no", "ip", "routing"] => self.findings.note(
                n,
                shown(line.text),
                "not modelled: the lab's routers always route",
            ),
            words => return block.note(self.findings, top_reason(words)),
        }
        block.note_children(self.findings);
    }

    fn interface(&mut self, block: &Block<'_>, name: &str) {
        let at = self.findings.at(block.head.number);
        let mut interface = Interface::new(name, at);
        let mut hsrp_version: Option<(u8, usize)> = None;
        // The VRRPv3 `address-family` block being read: the group and its line's indentation.
        let mut family: Option<(u16, usize)> = None;
        for line in &block.children {
            if let Some((group, indent)) = family {
                if line.indent > indent {
                    self.vrrp3_line(&mut interface, group, line);
                    continue;
                }
                family = None;
            }
            if let Some(group) = self.interface_line(&mut interface, line, &mut hsrp_version) {
                family = Some((group, line.indent));
            }
        }
        for group in &mut interface.groups {
            if group.protocol == Protocol::Hsrp && group.version.is_none() {
                group.version = hsrp_version.map(|(version, _)| version);
            }
        }
        self.hsrp_millisecond_timers(&mut interface);
        self.router.interfaces.push(interface);
    }

    /// One line under `interface`; `Some(group)` when it opens a VRRPv3 `address-family` block.
    fn interface_line(
        &mut self,
        interface: &mut Interface,
        line: &Line<'_>,
        hsrp_version: &mut Option<(u8, usize)>,
    ) -> Option<u16> {
        let n = line.number;
        match line.words.as_slice() {
            ["ip", "address", rest @ ..] => self.address(interface, line, rest),
            ["no", "ip", "address"] => {}
            ["standby", "version", version] => match *version {
                "1" => *hsrp_version = Some((1, n)),
                "2" => *hsrp_version = Some((2, n)),
                other => self.findings.error(
                    n,
                    format!("HSRP has no version {other}"),
                    "write `standby version 1` or `standby version 2`",
                ),
            },
            ["standby", rest @ ..] => self.standby(interface, line, rest),
            ["vrrp", rest @ ..] => return self.vrrp(interface, line, rest),
            ["no", "vrrp", group, "preempt"] => {
                if let Some(group) = self.vrrp_group(n, group) {
                    let at = self.findings.at(n);
                    interface.group(Protocol::Vrrp, group, &at).preempt = Some(false);
                }
            }
            ["ip", "helper-address", rest @ ..] => self.helper(interface, line, rest),
            ["shutdown"] => interface.shutdown = Some(self.findings.at(n)),
            ["no", "shutdown"] | ["no", "switchport"] | ["description", ..] => {}
            words => {
                let why = interface_reason(words);
                self.findings.note(n, shown(line.text), why);
            }
        }
        None
    }

    fn address(&mut self, interface: &mut Interface, line: &Line<'_>, rest: &[&str]) {
        let n = line.number;
        let (ip, mask, secondary) = match rest {
            [ip, mask] => (ip, mask, false),
            [ip, mask, "secondary"] => (ip, mask, true),
            ["dhcp", ..] | ["negotiated", ..] | ["pool", ..] => {
                self.findings.note(
                    n,
                    shown(line.text),
                    "not modelled: the interface has no static address, so it is left out",
                );
                return;
            }
            _ => {
                self.findings.error(
                    n,
                    format!("cannot read `{}`", line.text),
                    "write `ip address A.B.C.D MASK [secondary]`, e.g. `ip address 10.1.0.2 255.255.255.0`",
                );
                return;
            }
        };
        let Some(ip) = ipv4(ip) else {
            self.findings.error(
                n,
                format!("`{ip}` is not an IPv4 address"),
                "write it as A.B.C.D",
            );
            return;
        };
        let Some(prefix_len) = mask_prefix(mask) else {
            self.findings.error(
                n,
                format!("`{mask}` is not a netmask"),
                "write a contiguous mask such as 255.255.255.0",
            );
            return;
        };
        if secondary {
            self.findings.note(
                n,
                shown(line.text),
                "not modelled: an interface has one address in the lab (the primary); nothing on the secondary subnet is part of it",
            );
            return;
        }
        if let Some(previous) = &interface.address {
            self.findings.error(
                n,
                format!(
                    "a second primary address on {} (the first is at line {})",
                    interface.name, previous.at.line
                ),
                "keep one `ip address`; mark the others `secondary`",
            );
            return;
        }
        interface.address = Some(Address {
            ip,
            prefix_len,
            at: self.findings.at(n),
        });
    }

    /// `standby [group] ...`.
    fn standby(&mut self, interface: &mut Interface, line: &Line<'_>, rest: &[&str]) {
        let n = line.number;
        let not_modelled = |findings: &mut Findings, why: &str| {
            findings.note(n, shown(line.text), why);
        };
        match rest {
            ["use-bia", ..] => {
                return not_modelled(
                    self.findings,
                    "not modelled: the Active router answers at the HSRP virtual MAC",
                );
            }
            ["delay", ..] | ["mac-refresh", ..] | ["bfd", ..] | ["redirect", ..] => {
                return not_modelled(self.findings, "not modelled: no bearing on the relay");
            }
            _ => {}
        }
        let (number, rest) = match rest.first().map(|word| word.parse::<u16>()) {
            Some(Ok(number)) => (number, &rest[1..]),
            _ => (0, rest),
        };
        if number > 4095 {
            return self.findings.error(
                n,
                format!("HSRP group {number} is out of range"),
                "HSRP groups are 0..255 (version 1) or 0..4095 (version 2)",
            );
        }
        let at = self.findings.at(n);
        let group = interface.group(Protocol::Hsrp, number, &at);
        match rest {
            ["ip"] => {}
            ["ip", address] => {
                set_virtual_ip(self.findings, n, group, address, "write `standby 10 ip 10.1.0.1`")
            }
            ["ip", _, "secondary"] => not_modelled(self.findings, ONE_VIRTUAL_IP),
            ["priority", priority] => match priority.parse::<u8>() {
                Ok(priority) => group.priority = Some(priority),
                Err(_) => self.findings.error(
                    n,
                    format!("HSRP priority `{priority}` is not 0..255"),
                    "write `standby 10 priority 110`",
                ),
            },
            ["preempt"] => group.preempt = Some(true),
            ["preempt", "delay", delays @ ..] => {
                group.preempt = Some(true);
                match preempt_delays(delays) {
                    Some((minimum_s, others)) => {
                        group.preempt_delay_ms = Some(minimum_s * 1000);
                        if others {
                            not_modelled(
                                self.findings,
                                "the `minimum` delay is modelled; `reload` and `sync` are not (the lab's routers do not reload mid-run)",
                            );
                        }
                    }
                    None => self.findings.error(
                        n,
                        format!("cannot read `{}`", line.text),
                        "write `standby 10 preempt delay minimum 30 [reload 60] [sync 10]`",
                    ),
                }
            }
            ["timers", values @ ..] => match hsrp_timers(values) {
                Some((hello_ms, hold_ms)) if hold_ms > hello_ms => {
                    group.hello_ms = Some(hello_ms);
                    group.hold_ms = Some(hold_ms);
                    group.timers_at = Some(at.clone());
                }
                Some(_) => self.findings.error(
                    n,
                    "the HSRP hold time must be longer than the hello time",
                    "e.g. `standby 10 timers 1 3`",
                ),
                None => self.findings.error(
                    n,
                    format!("cannot read `{}`", line.text),
                    "write `standby 10 timers HELLO HOLD` in seconds, or `standby 10 timers msec 250 msec 750`",
                ),
            },
            ["authentication", ..] => not_modelled(self.findings, HSRP_AUTHENTICATION),
            ["name", name] => group.name = Some(name.to_string()),
            ["track", ..] => not_modelled(self.findings, TRACKING_NOTE),
            ["mac-address", ..] => not_modelled(
                self.findings,
                "not modelled: the group uses the standard HSRP virtual MAC",
            ),
            ["follow", ..] => not_modelled(
                self.findings,
                "not modelled: the group runs its own election",
            ),
            [command, ..] => self.findings.error(
                n,
                format!("unknown standby command `{command}`"),
                "pxelab reads standby [group] ip|priority|preempt|timers|authentication|name|track, and standby version",
            ),
            [] => self.findings.error(
                n,
                "`standby` says nothing",
                "e.g. `standby 10 ip 10.1.0.1`",
            ),
        }
    }

    /// HSRP version 1 carries whole seconds; millisecond timers need version 2's packets.
    fn hsrp_millisecond_timers(&mut self, interface: &mut Interface) {
        for group in &mut interface.groups {
            let whole = |ms: Option<u64>| ms.is_none_or(|ms| ms % 1000 == 0);
            if group.protocol == Protocol::Hsrp
                && group.version.unwrap_or(1) == 1
                && !(whole(group.hello_ms) && whole(group.hold_ms))
                && let Some(at) = &group.timers_at
            {
                group.version = Some(2);
                self.findings.notes.push(crate::report::Note::new(at.clone(), format!("HSRP group {} millisecond timers", group.number), "HSRP version 1 carries whole seconds; modelled as version 2, whose packets carry milliseconds".to_string()));
            }
        }
    }

    fn vrrp_group(&mut self, n: usize, text: &str) -> Option<u16> {
        match text.parse::<u16>() {
            Ok(group @ 1..=255) => Some(group),
            _ => {
                self.findings.error(
                    n,
                    format!("`{text}` is not a VRRP group (1..255)"),
                    "write `vrrp 10 ip 10.1.0.1`",
                );
                None
            }
        }
    }

    /// `vrrp N ...`; `Some(N)` when it opens an IOS-XE `address-family ipv4` block.
    fn vrrp(&mut self, interface: &mut Interface, line: &Line<'_>, rest: &[&str]) -> Option<u16> {
        let n = line.number;
        let [number, rest @ ..] = rest else {
            self.findings
                .error(n, "`vrrp` needs a group", "e.g. `vrrp 10 ip 10.1.0.1`");
            return None;
        };
        let number = self.vrrp_group(n, number)?;
        let at = self.findings.at(n);
        if let ["address-family", family] = rest {
            if *family == "ipv4" {
                let group = interface.group(Protocol::Vrrp, number, &at);
                group.version = Some(3);
                return Some(number);
            }
            self.findings
                .note(n, shown(line.text), "not modelled: the lab is IPv4 only");
            return None;
        }
        let group = interface.group(Protocol::Vrrp, number, &at);
        let note = |findings: &mut Findings, why: &str| findings.note(n, shown(line.text), why);
        match rest {
            ["ip", address] => {
                set_virtual_ip(self.findings, n, group, address, "write `vrrp 10 ip 10.1.0.1`")
            }
            ["ip", _, "secondary"] => note(self.findings, ONE_VIRTUAL_IP),
            ["priority", priority] => {
                set_vrrp_priority(self.findings, n, group, priority, "write `vrrp 10 priority 110`")
            }
            ["preempt"] => group.preempt = Some(true),
            ["preempt", "delay", ..] => {
                group.preempt = Some(true);
                note(self.findings, VRRP_PREEMPT_DELAY);
            }
            ["timers", "advertise", value @ ..] => match advertise_ms(value) {
                Some(ms) => {
                    group.hello_ms = Some(ms);
                    group.timers_at = Some(at.clone());
                    if ms % 1000 != 0 && group.version.unwrap_or(2) == 2 {
                        group.version = Some(3);
                        note(
                            self.findings,
                            "VRRP version 2 carries whole seconds; modelled as version 3, whose adverts carry centiseconds",
                        );
                    }
                }
                None => self.findings.error(
                    n,
                    format!("cannot read `{}`", line.text),
                    "write `vrrp 10 timers advertise 1` (seconds) or `vrrp 10 timers advertise msec 500`",
                ),
            },
            ["timers", "learn"] => note(
                self.findings,
                "not modelled: every member of a group in the lab uses its own configured interval",
            ),
            ["description", ..] => {}
            ["authentication", ..] => note(
                self.findings,
                "VRRP authentication is not modelled: the lab checks none",
            ),
            ["track", ..] => note(self.findings, TRACKING_NOTE),
            ["shutdown"] => {
                interface.groups.retain(|g| !(g.protocol == Protocol::Vrrp && g.number == number));
                note(
                    self.findings,
                    "the group is shut down, so it is left out",
                );
            }
            [command, ..] => self.findings.error(
                n,
                format!("unknown vrrp command `{command}`"),
                "pxelab reads vrrp N ip|priority|preempt|timers advertise|authentication|track|shutdown|address-family",
            ),
            [] => self.findings.error(n, "`vrrp N` says nothing", "e.g. `vrrp 10 ip 10.1.0.1`"),
        }
        None
    }

    /// A line of an IOS-XE VRRPv3 `vrrp N address-family ipv4` block.
    fn vrrp3_line(&mut self, interface: &mut Interface, number: u16, line: &Line<'_>) {
        let n = line.number;
        let at = self.findings.at(n);
        let group = interface.group(Protocol::Vrrp, number, &at);
        let note = |findings: &mut Findings, why: &str| findings.note(n, shown(line.text), why);
        match line.words.as_slice() {
            ["address", address] | ["address", address, "primary"] => set_virtual_ip(
                self.findings,
                n,
                group,
                address,
                "write `address 10.1.0.1 primary`",
            ),
            ["address", _, "secondary"] => note(self.findings, ONE_VIRTUAL_IP),
            ["priority", priority] => {
                set_vrrp_priority(self.findings, n, group, priority, "write `priority 110`")
            }
            ["preempt"] => group.preempt = Some(true),
            ["no", "preempt"] => group.preempt = Some(false),
            ["preempt", "delay", ..] => {
                group.preempt = Some(true);
                note(self.findings, VRRP_PREEMPT_DELAY);
            }
            ["timers", "advertise", ms] => match ms.parse::<u64>() {
                Ok(ms) if ms > 0 => {
                    group.hello_ms = Some(ms);
                    group.timers_at = Some(at.clone());
                }
                _ => self.findings.error(
                    n,
                    format!("`{ms}` is not an advertisement interval in milliseconds"),
                    "write `timers advertise 1000`",
                ),
            },
            ["vrrpv2"] => group.version = Some(2),
            ["description", ..] => {}
            ["track", ..] => note(self.findings, TRACKING_NOTE),
            ["shutdown"] => {
                interface
                    .groups
                    .retain(|g| !(g.protocol == Protocol::Vrrp && g.number == number));
                note(self.findings, "the group is shut down, so it is left out");
            }
            _ => note(self.findings, UNKNOWN),
        }
    }

    /// `ip helper-address [global | vrf NAME] A [redundancy NAME]`.
    fn helper(&mut self, interface: &mut Interface, line: &Line<'_>, rest: &[&str]) {
        let n = line.number;
        let rest = match rest {
            ["global", rest @ ..] => {
                self.findings.note(
                    n,
                    shown(line.text),
                    "`global` is modelled as a plain helper: the lab has one routing table",
                );
                rest
            }
            ["vrf", name, rest @ ..] => {
                self.findings.note(
                    n,
                    shown(line.text),
                    format!("`vrf {name}` is modelled as a plain helper: {VRF}"),
                );
                rest
            }
            rest => rest,
        };
        let (address, follows) = match rest {
            [address] => (address, None),
            [address, "redundancy", name] => (address, Some(name.to_string())),
            _ => {
                return self.findings.error(
                    n,
                    format!("cannot read `{}`", line.text),
                    "write `ip helper-address A.B.C.D [redundancy NAME]`, optionally after `global` or `vrf NAME`",
                );
            }
        };
        let Some(address) = ipv4(address) else {
            return self.findings.error(
                n,
                format!("`{address}` is not an IPv4 address"),
                "write `ip helper-address 10.2.0.10`",
            );
        };
        add_helper(self.findings, interface, line, address, follows);
    }

    /// `ip route NETWORK MASK {NEXT-HOP | INTERFACE [NEXT-HOP]} [DISTANCE] [name X] [permanent]
    /// [tag N] [track N]`.
    fn route(&mut self, line: &Line<'_>, rest: &[&str]) {
        let n = line.number;
        if rest.first() == Some(&"vrf") {
            return self.findings.note(n, shown(line.text), VRF);
        }
        let hint = "write `ip route 10.9.0.0 255.255.0.0 10.2.0.254`";
        let [network, mask, via, more @ ..] = rest else {
            return self
                .findings
                .error(n, format!("cannot read `{}`", line.text), hint);
        };
        let (Some(network), Some(prefix_len)) = (ipv4(network), mask_prefix(mask)) else {
            return self.findings.error(
                n,
                format!("cannot read the prefix `{network} {mask}`"),
                hint,
            );
        };
        let next_hop = match (ipv4(via), more.first().and_then(|word| ipv4(word))) {
            (Some(next_hop), _) | (None, Some(next_hop)) => next_hop,
            (None, None) => {
                return self.findings.note(
                    n,
                    shown(line.text),
                    "not modelled: a route out of an interface without a next-hop address (the lab's routes go via a neighbour's address)",
                );
            }
        };
        self.router.routes.push(Route {
            network: engine::subnet::network(network, prefix_len),
            prefix_len,
            next_hop,
            at: self.findings.at(n),
        });
    }

    /// `[no] ip forward-protocol udp [PORT]` (and the forms the lab has no use for).
    fn forward_protocol(&mut self, line: &Line<'_>, rest: &[&str], on: bool) {
        let n = line.number;
        let ports = self
            .router
            .forward_udp_ports
            .get_or_insert_with(|| engine::router::DEFAULT_FORWARD_UDP_PORTS.to_vec());
        match rest {
            ["udp"] if on => {}
            ["udp"] => ports.clear(),
            ["udp", port] => match udp_port(port) {
                Some(port) if on => {
                    if !ports.contains(&port) {
                        ports.push(port);
                        ports.sort_unstable();
                    }
                }
                Some(port) => ports.retain(|&p| p != port),
                None => self.findings.error(
                    n,
                    format!("unknown UDP port `{port}`"),
                    "give a number or one of IOS's names (bootps, bootpc, tftp, domain, time, tacacs, netbios-ns, netbios-dgm, ...)",
                ),
            },
            _ => self.findings.note(
                n,
                shown(line.text),
                "not modelled: only `ip forward-protocol udp` decides what the lab's routers relay",
            ),
        }
    }

    fn finish(mut self) -> Router {
        if let Some(off) = self.relay_off {
            let helpers: usize = self.router.interfaces.iter().map(|i| i.helpers.len()).sum();
            for interface in &mut self.router.interfaces {
                interface.helpers.clear();
            }
            self.findings.note(
                off,
                "no service dhcp",
                format!("the DHCP relay is off, so this router's {helpers} helper address(es) are left out"),
            );
        }
        if let Some(line) = self.option82 {
            for interface in &mut self.router.interfaces {
                if !interface.helpers.is_empty() {
                    interface.option82 = Some(self.findings.at(line));
                }
            }
            self.findings.note(
                line,
                "ip dhcp relay information option",
                "modelled as option 82 with the interface name as circuit ID and the router name as remote ID (IOS sends its VLAN/module/port and MAC forms)",
            );
        }
        self.router
    }
}

/// `minimum S [reload S] [sync S]` (or a bare `S`, IOS's older form): the minimum delay in
/// seconds, and whether `reload` or `sync` was given.
fn preempt_delays(words: &[&str]) -> Option<(u64, bool)> {
    if let [seconds] = words {
        return Some((seconds.parse().ok()?, false));
    }
    let mut minimum = None;
    let mut others = false;
    for pair in words.chunks(2) {
        let [key, value] = pair else { return None };
        let value: u64 = value.parse().ok()?;
        match *key {
            "minimum" => minimum = Some(value),
            "reload" | "sync" => others = true,
            _ => return None,
        }
    }
    Some((minimum.unwrap_or(0), others))
}

/// `HELLO HOLD` with either value optionally after `msec`: both in milliseconds.
fn hsrp_timers(words: &[&str]) -> Option<(u64, u64)> {
    let mut values = Vec::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let (unit_ms, number) = if *word == "msec" {
            (1, words.next()?)
        } else {
            (1000, word)
        };
        let value: u64 = number.parse().ok()?;
        if value == 0 {
            return None;
        }
        values.push(value * unit_ms);
    }
    match values.as_slice() {
        [hello, hold] => Some((*hello, *hold)),
        _ => None,
    }
}

/// `S` or `msec MS`.
fn advertise_ms(words: &[&str]) -> Option<u64> {
    let ms = match words {
        [seconds] => seconds.parse::<u64>().ok()? * 1000,
        ["msec", ms] => ms.parse::<u64>().ok()?,
        _ => return None,
    };
    (ms > 0).then_some(ms)
}

/// A UDP port by number or by IOS's name for it.
fn udp_port(text: &str) -> Option<u16> {
    const NAMES: &[(&str, u16)] = &[
        ("biff", 512),
        ("bootpc", 68),
        ("bootps", 67),
        ("discard", 9),
        ("dnsix", 195),
        ("domain", 53),
        ("echo", 7),
        ("isakmp", 500),
        ("mobile-ip", 434),
        ("nameserver", 42),
        ("netbios-dgm", 138),
        ("netbios-ns", 137),
        ("netbios-ss", 139),
        ("non500-isakmp", 4500),
        ("ntp", 123),
        ("pim-auto-rp", 496),
        ("rip", 520),
        ("snmp", 161),
        ("snmptrap", 162),
        ("sunrpc", 111),
        ("syslog", 514),
        ("tacacs", 49),
        ("talk", 517),
        ("tftp", 69),
        ("time", 37),
        ("who", 513),
        ("xdmcp", 177),
    ];
    if let Ok(port) = text.parse::<u16>() {
        return (port != 0).then_some(port);
    }
    NAMES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|&(_, port)| port)
}

/// An `ip helper-address` read: the interface's helper, unless it has it already.
pub(crate) fn add_helper(
    findings: &mut Findings,
    interface: &mut Interface,
    line: &Line<'_>,
    address: Ipv4Addr,
    follows: Option<String>,
) {
    if interface.helpers.iter().any(|h| h.address == address) {
        return findings.note(
            line.number,
            shown(line.text),
            "listed twice: modelled once (one helper sends one copy)",
        );
    }
    interface.helpers.push(Helper {
        address,
        at: findings.at(line.number),
        follows,
    });
}

/// A group's virtual IP (IOS `standby N ip`, `vrrp N ip` and VRRPv3 `address`, EOS `vrrp N
/// ipv4`), or an error whose hint writes the command as the dialect does.
pub(crate) fn set_virtual_ip(
    findings: &mut Findings,
    n: usize,
    group: &mut Group,
    address: &str,
    hint: &str,
) {
    match ipv4(address) {
        Some(ip) => group.virtual_ip = Some(ip),
        None => findings.error(n, format!("`{address}` is not an IPv4 address"), hint),
    }
}

/// A VRRP priority: 1..254, since 255 is the address owner's and 0 a resigning master's.
pub(crate) fn set_vrrp_priority(
    findings: &mut Findings,
    n: usize,
    group: &mut Group,
    priority: &str,
    hint: &str,
) {
    match priority.parse::<u8>() {
        Ok(priority @ 1..=254) => group.priority = Some(priority),
        _ => findings.error(n, format!("VRRP priority `{priority}` is not 1..254"), hint),
    }
}

/// Why a top-level command the lab does not read is left out.
pub(crate) fn top_reason(words: &[&str]) -> &'static str {
    let words: Vec<&str> = words
        .iter()
        .copied()
        .skip_while(|word| *word == "no")
        .collect();
    match words.as_slice() {
        ["router", ..]
        | [
            "ip",
            "ospf" | "bgp-community" | "as-path" | "community-list",
            ..,
        ] => ROUTING,
        ["route-map", ..] | ["ip", "prefix-list", ..] => ROUTING,
        ["access-list", ..]
        | ["ip", "access-list", ..]
        | ["class-map", ..]
        | ["policy-map", ..]
        | ["qos", ..]
        | ["mls", ..] => FILTERS,
        ["vlan", ..]
        | ["vtp", ..]
        | ["spanning-tree", ..]
        | ["mac", ..]
        | ["mac-address-table", ..]
        | ["port-channel", ..]
        | ["errdisable", ..]
        | ["udld", ..]
        | ["lldp", ..]
        | ["cdp", ..]
        | ["vlan-internal", ..] => SWITCHING,
        ["vrf", ..] | ["ip", "vrf", ..] => VRF,
        ["service", ..]
        | ["boot", ..]
        | ["boot-start-marker", ..]
        | ["boot-end-marker", ..]
        | ["logging", ..]
        | ["ntp", ..]
        | ["snmp-server", ..]
        | ["snmp", ..]
        | ["aaa", ..]
        | ["username", ..]
        | ["enable", ..]
        | ["clock", ..]
        | ["line", ..]
        | ["banner", ..]
        | ["license", ..]
        | ["archive", ..]
        | ["crypto", ..]
        | ["memory-size", ..]
        | ["diagnostic", ..]
        | ["platform", ..]
        | ["control-plane", ..]
        | ["call-home", ..]
        | ["redundancy", ..]
        | ["transceiver", ..]
        | ["hw-module", ..]
        | ["system", ..]
        | ["alias", ..]
        | ["privilege", ..]
        | ["tacacs", ..]
        | ["tacacs-server", ..]
        | ["radius", ..]
        | ["radius-server", ..]
        | ["monitor", ..]
        | ["power", ..]
        | ["multilink", ..]
        | ["subscriber", ..]
        | ["management", ..]
        | ["daemon", ..]
        | ["event", ..]
        | ["schedule", ..]
        | ["terminal", ..]
        | ["login", ..]
        | ["key", ..]
        | ["security", ..]
        | ["track", ..]
        | ["file", ..]
        | ["ipv6", ..]
        | ["wsma", ..]
        | ["netconf-yang", ..]
        | ["restconf", ..]
        | ["spanning", ..]
        | [
            "ip",
            "domain" | "domain-name" | "domain-lookup" | "name-server" | "ssh" | "http" | "scp"
            | "ftp" | "tftp" | "finger" | "bootp" | "source-route" | "cef" | "icmp"
            | "multicast-routing" | "igmp" | "sla" | "flow-export" | "nat" | "arp" | "classless"
            | "subnet-zero" | "host" | "name" | "radius" | "tacacs",
            ..,
        ] => MANAGEMENT,
        _ => UNKNOWN,
    }
}

/// Why an interface command the lab does not read is left out.
pub(crate) fn interface_reason(words: &[&str]) -> &'static str {
    let words: Vec<&str> = words
        .iter()
        .copied()
        .skip_while(|word| *word == "no")
        .collect();
    match words.as_slice() {
        ["switchport", ..]
        | ["spanning-tree", ..]
        | ["channel-group", ..]
        | ["encapsulation", ..]
        | ["storm-control", ..]
        | ["udld", ..]
        | ["lldp", ..]
        | ["cdp", ..]
        | ["mls", ..] => SWITCHING,
        ["vrf", ..] | ["ip", "vrf", ..] => VRF,
        [
            "ip",
            "ospf" | "pim" | "igmp" | "eigrp" | "rip" | "router" | "summary-address",
            ..,
        ]
        | ["bfd", ..] => ROUTING,
        ["ip", "access-group" | "verify" | "policy", ..] | ["service-policy", ..] => FILTERS,
        ["ip", "dhcp", ..] => {
            "not modelled: the lab's relay adds option 82 only with `ip dhcp relay information option`"
        }
        ["duplex", ..]
        | ["speed", ..]
        | ["negotiation", ..]
        | ["mtu", ..]
        | ["load-interval", ..]
        | ["media-type", ..]
        | ["logging", ..]
        | ["snmp", ..]
        | ["carrier-delay", ..]
        | ["keepalive", ..]
        | ["power", ..]
        | ["ipv6", ..]
        | ["arp", ..]
        | ["mac-address", ..]
        | [
            "ip",
            "mtu" | "redirects" | "unreachables" | "proxy-arp" | "mroute-cache" | "route-cache"
            | "flow" | "nbar" | "tcp" | "directed-broadcast" | "nat" | "virtual-reassembly"
            | "local-proxy-arp" | "arp",
            ..,
        ] => "not modelled: no bearing on addressing, redundancy or relay",
        _ => UNKNOWN,
    }
}

/// Whether a text reads as an IOS configuration (an `ip address` with a netmask, or a
/// `standby` line, under an `interface`).
pub(crate) fn looks_like(text: &str) -> bool {
    let mut in_interface = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if !line.starts_with([' ', '\t']) {
            in_interface = trimmed.starts_with("interface ");
            if trimmed.starts_with("hostname ") || trimmed.starts_with("Building configuration") {
                return true;
            }
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let ios = match words.as_slice() {
            ["ip", "address", _, mask, ..] => mask_prefix(mask).is_some(),
            ["standby", ..] => true,
            _ => false,
        };
        if in_interface && ios {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
