//! Arista EOS `show running-config`: the hostname, interfaces with `ip address A/LEN`, VRRP
//! (`vrrp N ipv4|priority-level|preempt|advertisement interval`, and the older `ip`,
//! `priority` and `timers advertise` spellings), VARP (`ip virtual-router address`, modelled
//! as the nearest thing the lab has: a VRRP group), `ip helper-address`, `ip dhcp relay
//! information option` and `ip route`. Every other line becomes a note; a line of these
//! commands that cannot be read is an error.

use std::sync::Arc;

use crate::blocks::{self, Block, Line, cidr, ipv4};
use crate::ios::{
    ONE_VIRTUAL_IP, OTHER_RELAY_COMMAND, TRACKING_NOTE, VRF, VRRP_PREEMPT_DELAY, add_helper,
    file_stem, interface_reason, set_virtual_ip, set_vrrp_priority, top_reason,
};
use crate::model::{Address, Group, Interface, Platform, Protocol, Route, Router};
use crate::report::{Findings, Loc, shown};

/// Reads one EOS configuration into a router.
pub fn parse(file: &Arc<str>, text: &str, findings: &mut Findings) -> Router {
    let mut eos = Eos {
        router: Router::new(file_stem(file), Loc::new(file, 0), Platform::Eos),
        findings,
        option82: None,
    };
    for block in blocks::blocks(text) {
        eos.top(&block);
    }
    eos.finish()
}

struct Eos<'f> {
    findings: &'f mut Findings,
    router: Router,
    option82: Option<usize>,
}

impl Eos<'_> {
    fn top(&mut self, block: &Block<'_>) {
        let line = &block.head;
        let n = line.number;
        match line.words.as_slice() {
            ["interface", name] => return self.interface(block, name),
            ["hostname", name] => {
                self.router.name = name.to_string();
                self.router.name_at = self.findings.at(n);
            }
            ["ip", "route", rest @ ..] => self.route(line, rest),
            ["ip", "dhcp", "relay", "information", "option"] => self.option82 = Some(n),
            ["ip", "routing"] => {}
            ["ip", "virtual-router", "mac-address", ..] => self.findings.note(
                n,
                shown(line.text),
                "not modelled: VARP is modelled as VRRP, which answers at the VRRP virtual MAC",
            ),
            ["ip", "dhcp", ..] => return block.note(self.findings, OTHER_RELAY_COMMAND),
            ["no", "ip", "routing"] => self.findings.note(
                n,
                shown(line.text),
                "not modelled: the lab's routers always route (EOS relays only with `ip routing`)",
            ),
            words => return block.note(self.findings, top_reason(words)),
        }
        block.note_children(self.findings);
    }

    fn interface(&mut self, block: &Block<'_>, name: &str) {
        let at = self.findings.at(block.head.number);
        let mut interface = Interface::new(name, at);
        let mut varp: Option<(std::net::Ipv4Addr, usize)> = None;
        for line in &block.children {
            let n = line.number;
            match line.words.as_slice() {
                ["ip", "address", "virtual", ..] => self.findings.note(
                    n,
                    shown(line.text),
                    "not modelled: an interface with only a virtual address has none of its own, so it is left out",
                ),
                ["ip", "address", address] => self.address(&mut interface, line, address),
                ["ip", "address", address, "secondary"] if cidr(address).is_some() => {
                    self.findings.note(
                        n,
                        shown(line.text),
                        "not modelled: an interface has one address in the lab (the primary)",
                    )
                }
                ["ip", "address", address, ..] => self.address(&mut interface, line, address),
                ["ip", "helper-address", rest @ ..] => self.helper(&mut interface, line, rest),
                ["ip", "virtual-router", "address", address] => {
                    match ipv4(address).or_else(|| cidr(address).map(|(ip, _)| ip)) {
                        Some(ip) => varp = Some((ip, n)),
                        None => self.findings.error(
                            n,
                            format!("`{address}` is not an IPv4 address"),
                            "write `ip virtual-router address 10.1.0.1`",
                        ),
                    }
                }
                ["vrrp", rest @ ..] => self.vrrp(&mut interface, line, rest),
                ["no", "vrrp", group, "preempt"] => {
                    if let Some(group) = vrrp_group(self.findings, n, group) {
                        let at = self.findings.at(n);
                        interface.group(Protocol::Vrrp, group, &at).preempt = Some(false);
                    }
                }
                ["shutdown"] => interface.shutdown = Some(self.findings.at(n)),
                ["no", "shutdown"] | ["no", "switchport"] | ["description", ..] => {}
                words => self
                    .findings
                    .note(n, shown(line.text), interface_reason(words)),
            }
        }
        if let Some((ip, n)) = varp {
            self.varp(&mut interface, ip, n);
        }
        self.router.interfaces.push(interface);
    }

    fn address(&mut self, interface: &mut Interface, line: &Line<'_>, text: &str) {
        let n = line.number;
        let Some((ip, prefix_len)) = cidr(text) else {
            return self.findings.error(
                n,
                format!("`{text}` is not an address with its prefix length"),
                "EOS writes `ip address 10.1.0.2/24`",
            );
        };
        interface.address = Some(Address {
            ip,
            prefix_len,
            at: self.findings.at(n),
        });
    }

    /// VARP: every router answers for the virtual IP at once. The lab has no active-active
    /// gateway; the nearest is a VRRP group of the same members (one answers, the others
    /// stand by). The relays are not affected: each router relays with its own helpers.
    fn varp(&mut self, interface: &mut Interface, ip: std::net::Ipv4Addr, n: usize) {
        if !interface.groups.is_empty() {
            return self.findings.note(
                n,
                format!("ip virtual-router address {ip}"),
                "not modelled: the interface already has a VRRP group, and the lab gives an interface one group",
            );
        }
        let number = interface
            .name
            .strip_prefix("Vlan")
            .and_then(|vlan| vlan.parse::<u16>().ok())
            .filter(|vlan| (1..=255).contains(vlan))
            .unwrap_or(1);
        let mut group = Group::new(Protocol::Vrrp, number, self.findings.at(n));
        group.virtual_ip = Some(ip);
        interface.groups.push(group);
        self.findings.note(
            n,
            format!("ip virtual-router address {ip}"),
            format!(
                "VARP makes every router an active gateway for {ip} at once, which the lab cannot model; \
                 modelled as the nearest thing, VRRP group {number} (one master, the highest address \
                 at equal priority, the others back it up, and adverts on the wire that VARP does not \
                 send). The relays are as with VARP: each router relays with its own helpers"
            ),
        );
    }

    /// `vrrp N ...`, in EOS's newer (`ipv4`, `priority-level`, `advertisement interval`) and
    /// older (`ip`, `priority`, `timers advertise`) spellings.
    fn vrrp(&mut self, interface: &mut Interface, line: &Line<'_>, rest: &[&str]) {
        let n = line.number;
        let [number, rest @ ..] = rest else {
            return self
                .findings
                .error(n, "`vrrp` needs a group", "e.g. `vrrp 10 ipv4 10.1.0.1`");
        };
        let Some(number) = vrrp_group(self.findings, n, number) else {
            return;
        };
        let at = self.findings.at(n);
        let group = interface.group(Protocol::Vrrp, number, &at);
        let note = |findings: &mut Findings, why: &str| findings.note(n, shown(line.text), why);
        match rest {
            ["ipv4" | "ip", "version", version] | ["version", version] => match *version {
                "2" => group.version = Some(2),
                "3" => group.version = Some(3),
                other => self.findings.error(
                    n,
                    format!("VRRP has no version {other}"),
                    "write `vrrp 10 ipv4 version 2` or `... version 3`",
                ),
            },
            ["ipv4" | "ip", address] => {
                set_virtual_ip(self.findings, n, group, address, "write `vrrp 10 ipv4 10.1.0.1`")
            }
            ["ipv4" | "ip", _, "secondary"] => note(self.findings, ONE_VIRTUAL_IP),
            ["priority-level" | "priority", priority] => set_vrrp_priority(
                self.findings,
                n,
                group,
                priority,
                "write `vrrp 10 priority-level 110`",
            ),
            ["preempt"] => group.preempt = Some(true),
            ["preempt", "delay", ..] => {
                group.preempt = Some(true);
                note(self.findings, VRRP_PREEMPT_DELAY);
            }
            ["advertisement", "interval", seconds] | ["timers", "advertise", seconds] => {
                match seconds.parse::<u64>() {
                    Ok(seconds @ 1..=255) => {
                        group.hello_ms = Some(seconds * 1000);
                        group.timers_at = Some(at.clone());
                    }
                    _ => self.findings.error(
                        n,
                        format!("`{seconds}` is not an advertisement interval (1..255 s)"),
                        "write `vrrp 10 advertisement interval 1`",
                    ),
                }
            }
            ["session", "description", ..] | ["description", ..] => {}
            ["tracked-object", ..] | ["track", ..] => note(self.findings, TRACKING_NOTE),
            ["peer", "authentication", ..] | ["authentication", ..] => note(
                self.findings,
                "VRRP authentication is not modelled: the lab checks none",
            ),
            ["mac-address", ..] | ["timers", "delay", ..] | ["bfd", ..] => {
                note(self.findings, "not modelled: no bearing on the relay")
            }
            ["disabled"] | ["shutdown"] => {
                interface
                    .groups
                    .retain(|g| !(g.protocol == Protocol::Vrrp && g.number == number));
                note(self.findings, "the group is disabled, so it is left out");
            }
            [command, ..] => self.findings.error(
                n,
                format!("unknown vrrp command `{command}`"),
                "pxelab reads vrrp N ipv4|priority-level|preempt|advertisement interval|version (and ip|priority|timers advertise)",
            ),
            [] => self
                .findings
                .error(n, "`vrrp N` says nothing", "e.g. `vrrp 10 ipv4 10.1.0.1`"),
        }
    }

    /// `ip helper-address A [vrf NAME] [source-interface IF | source-address A]`.
    fn helper(&mut self, interface: &mut Interface, line: &Line<'_>, rest: &[&str]) {
        let n = line.number;
        let [address, options @ ..] = rest else {
            return self.findings.error(
                n,
                "`ip helper-address` needs an address",
                "write `ip helper-address 10.2.0.10`",
            );
        };
        let Some(address) = ipv4(address) else {
            return self.findings.error(
                n,
                format!("`{address}` is not an IPv4 address"),
                "write `ip helper-address 10.2.0.10`",
            );
        };
        for pair in options.chunks(2) {
            match pair {
                ["vrf", name] => self.findings.note(
                    n,
                    shown(line.text),
                    format!("`vrf {name}` is modelled as a plain helper: {VRF}"),
                ),
                ["source-interface" | "source-address", _] => self.findings.note(
                    n,
                    shown(line.text),
                    "the source is not modelled: the lab's relays send from the interface toward the server",
                ),
                _ => {
                    return self.findings.error(
                        n,
                        format!("cannot read `{}`", line.text),
                        "write `ip helper-address A.B.C.D [vrf NAME] [source-interface IF]`",
                    );
                }
            }
        }
        add_helper(self.findings, interface, line, address, None);
    }

    /// `ip route [vrf V] A/LEN NEXT-HOP [DISTANCE] [tag N] [name X]`.
    fn route(&mut self, line: &Line<'_>, rest: &[&str]) {
        let n = line.number;
        if rest.first() == Some(&"vrf") {
            return self.findings.note(n, shown(line.text), VRF);
        }
        let [prefix, via, more @ ..] = rest else {
            return self.findings.error(
                n,
                format!("cannot read `{}`", line.text),
                "write `ip route 10.9.0.0/16 10.2.0.254`",
            );
        };
        let Some((network, prefix_len)) = cidr(prefix) else {
            return self.findings.error(
                n,
                format!("`{prefix}` is not a prefix"),
                "write `ip route 10.9.0.0/16 10.2.0.254`",
            );
        };
        let Some(next_hop) = ipv4(via).or_else(|| more.first().and_then(|word| ipv4(word))) else {
            return self.findings.note(
                n,
                shown(line.text),
                "not modelled: a route out of an interface without a next-hop address",
            );
        };
        self.router.routes.push(Route {
            network: engine::subnet::network(network, prefix_len),
            prefix_len,
            next_hop,
            at: self.findings.at(n),
        });
    }

    fn finish(mut self) -> Router {
        if let Some(line) = self.option82 {
            for interface in &mut self.router.interfaces {
                if !interface.helpers.is_empty() {
                    interface.option82 = Some(self.findings.at(line));
                }
            }
            self.findings.note(
                line,
                "ip dhcp relay information option",
                "modelled as option 82 with the interface name as circuit ID and the router name as remote ID",
            );
        }
        self.router
    }
}

fn vrrp_group(findings: &mut Findings, n: usize, text: &str) -> Option<u16> {
    match text.parse::<u16>() {
        Ok(group @ 1..=255) => Some(group),
        _ => {
            findings.error(
                n,
                format!("`{text}` is not a VRRP group (1..255)"),
                "write `vrrp 10 ipv4 10.1.0.1`",
            );
            None
        }
    }
}

/// Whether a text reads as an EOS configuration: its `! device:` header names EOS, or an
/// interface has an `ip address A/LEN`, a `vrrp N ipv4` or an `ip virtual-router`.
pub(crate) fn looks_like(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        (line.starts_with("! device:") && line.contains("EOS"))
            || matches!(words.as_slice(), ["ip", "address", address] if cidr(address).is_some())
            || matches!(
                words.as_slice(),
                ["vrrp", _, "ipv4" | "priority-level", ..] | ["ip", "virtual-router", ..]
            )
    })
}

#[cfg(test)]
mod tests;
