//! A Linux router's interface addresses, from either of the two places people have them: an
//! ifupdown `/etc/network/interfaces` file (`iface IF inet static` with `address`, `netmask`,
//! `gateway` and `up ip route add` lines), or what `ip -o addr` (or plain `ip addr`) prints.
//! Other lines become notes; a line of these that cannot be read is an error.

use std::net::Ipv4Addr;

use crate::blocks::{cidr, ipv4, mask_prefix};
use crate::model::Route;
use crate::report::{Findings, Loc, shown};

/// One address of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddress {
    pub interface: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// `ip addr`'s `secondary` flag, or a further `iface` stanza of an ifupdown interface.
    pub secondary: bool,
    pub at: Loc,
}

/// What one addresses file says.
#[derive(Debug, Default)]
pub struct Addresses {
    pub addresses: Vec<IfAddress>,
    pub routes: Vec<Route>,
}

/// Reads an ifupdown file or `ip addr` output, whichever the text is.
pub fn parse(text: &str, findings: &mut Findings) -> Addresses {
    if is_ip_addr(text) {
        ip_addr(text, findings)
    } else {
        ifupdown(text, findings)
    }
}

/// `ip addr` output: its lines start with `N: IF` (and, without `-o`, address lines follow
/// indented).
fn is_ip_addr(text: &str) -> bool {
    text.lines()
        .find(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .and_then(|line| line.split_once(':'))
        .is_some_and(|(index, _)| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

fn ip_addr(text: &str, findings: &mut Findings) -> Addresses {
    let mut found = Addresses::default();
    let mut interface = String::new();
    for (index, raw) in text.lines().enumerate() {
        let n = index + 1;
        let mut words: Vec<&str> = raw.split_whitespace().collect();
        if words.is_empty() || words[0].starts_with('#') {
            continue;
        }
        // `2: eth1    inet ...` (-o) or `2: eth1: <BROADCAST,...> mtu 1500 ...` (a header).
        if let Some(number) = words[0].strip_suffix(':')
            && number.bytes().all(|b| b.is_ascii_digit())
            && words.len() > 1
        {
            let name = words[1].trim_end_matches(':');
            interface = name.split('@').next().unwrap_or(name).to_string();
            words.drain(..2);
            if words.first().is_some_and(|w| w.starts_with('<')) {
                continue;
            }
        }
        match words.as_slice() {
            ["inet", address, flags @ ..] => {
                let Some((ip, prefix_len)) = cidr(address) else {
                    findings.error(
                        n,
                        format!("`{address}` is not an address with its prefix length"),
                        "paste the output of `ip -o addr` (or `ip addr`) as it is",
                    );
                    continue;
                };
                if interface == "lo" || ip.is_loopback() {
                    findings.note(n, format!("{interface} {address}"), LOOPBACK);
                    continue;
                }
                found.addresses.push(IfAddress {
                    interface: interface.clone(),
                    ip,
                    prefix_len,
                    secondary: flags.contains(&"secondary"),
                    at: findings.at(n),
                });
            }
            // Link-local addresses are on every interface; they are not configuration.
            ["inet6", address, ..] if address.starts_with("fe80:") => {}
            ["inet6", ..] => findings.note(n, shown(raw), "not modelled: the lab is IPv4 only"),
            ["link/" | "valid_lft", ..] => {}
            [first, ..] if first.starts_with("link/") || first.starts_with("altname") => {}
            _ => findings.note(
                n,
                shown(raw),
                "not understood; nothing in the lab comes from it",
            ),
        }
    }
    found
}

const LOOPBACK: &str = "a loopback address: not on any LAN, so not part of the lab";

/// An ifupdown stanza being read: its interface, its line, and what it has so far.
struct Stanza {
    interface: String,
    line: usize,
    address: Option<(Ipv4Addr, Option<u8>, usize)>,
    netmask: Option<u8>,
    secondary: bool,
    /// A line of the stanza could not be read (reported): what is missing is not reported
    /// again.
    unreadable: bool,
}

fn ifupdown(text: &str, findings: &mut Findings) -> Addresses {
    let mut found = Addresses::default();
    let mut stanza: Option<Stanza> = None;
    for (index, raw) in text.lines().enumerate() {
        let n = index + 1;
        let code = raw.split('#').next().unwrap_or("");
        let words: Vec<&str> = code.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["auto" | "allow-hotplug" | "allow-auto", ..] => {}
            ["iface", name, "inet", method, ..] => {
                finish(stanza.take(), &mut found, findings);
                if *method == "static" {
                    let secondary =
                        found.addresses.iter().any(|a| a.interface == *name) || name.contains(':');
                    stanza = Some(Stanza {
                        interface: name.split(':').next().unwrap_or(name).to_string(),
                        line: n,
                        address: None,
                        netmask: None,
                        secondary,
                        unreadable: false,
                    });
                } else if *method == "loopback" {
                    findings.note(n, shown(code), LOOPBACK);
                } else {
                    findings.note(
                        n,
                        shown(code),
                        "no static address (the interface is left out unless `ip addr` output gives its address)",
                    );
                }
            }
            ["iface", _, "inet6", ..] => {
                finish(stanza.take(), &mut found, findings);
                findings.note(n, shown(code), "not modelled: the lab is IPv4 only");
            }
            ["iface", ..] => findings.error(
                n,
                format!("cannot read `{}`", code.trim()),
                "write `iface eth1 inet static`",
            ),
            ["source" | "source-directory" | "mapping", ..] => {
                finish(stanza.take(), &mut found, findings);
                findings.note(
                    n,
                    shown(code),
                    "not followed: give the addresses of those interfaces in this file or in `ip -o addr` output",
                );
            }
            words if stanza.is_some() => {
                let current = stanza.as_mut().expect("checked");
                option(current, words, n, code, &mut found, findings);
            }
            _ => findings.note(
                n,
                shown(code),
                "not understood; nothing in the lab comes from it",
            ),
        }
    }
    finish(stanza.take(), &mut found, findings);
    found
}

/// A line inside an `iface ... inet static` stanza.
fn option(
    stanza: &mut Stanza,
    words: &[&str],
    n: usize,
    code: &str,
    found: &mut Addresses,
    findings: &mut Findings,
) {
    match words {
        ["address", text] => {
            let parsed = cidr(text)
                .map(|(ip, len)| (ip, Some(len)))
                .or_else(|| ipv4(text).map(|ip| (ip, None)));
            match parsed {
                Some((ip, len)) => stanza.address = Some((ip, len, n)),
                None => {
                    stanza.unreadable = true;
                    findings.error(
                        n,
                        format!("`{text}` is not an IPv4 address"),
                        "write `address 10.1.0.2/24`",
                    )
                }
            }
        }
        ["netmask", text] => {
            let prefix_len =
                mask_prefix(text).or_else(|| text.parse::<u8>().ok().filter(|l| *l <= 32));
            match prefix_len {
                Some(len) => stanza.netmask = Some(len),
                None => {
                    stanza.unreadable = true;
                    findings.error(
                        n,
                        format!("`{text}` is not a netmask"),
                        "write `netmask 255.255.255.0` (or give the prefix with the address)",
                    )
                }
            }
        }
        ["gateway", text] => match ipv4(text) {
            Some(next_hop) => found.routes.push(Route {
                network: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
                next_hop,
                at: findings.at(n),
            }),
            None => findings.error(
                n,
                format!("`{text}` is not an IPv4 address"),
                "write `gateway 10.2.0.254`",
            ),
        },
        [
            "up" | "post-up",
            "ip",
            "route",
            "add",
            prefix,
            "via",
            via,
            ..,
        ]
        | [
            "up" | "post-up",
            "route",
            "add",
            "-net",
            prefix,
            "gw",
            via,
            ..,
        ] => {
            let network = cidr(prefix)
                .or_else(|| (*prefix == "default").then_some((Ipv4Addr::UNSPECIFIED, 0)));
            match (network, ipv4(via)) {
                (Some((network, prefix_len)), Some(next_hop)) => found.routes.push(Route {
                    network: engine::subnet::network(network, prefix_len),
                    prefix_len,
                    next_hop,
                    at: findings.at(n),
                }),
                _ => findings.note(
                    n,
                    shown(code),
                    "not understood; nothing in the lab comes from it",
                ),
            }
        }
        [
            "up" | "down" | "pre-up" | "post-up" | "pre-down" | "post-down",
            ..,
        ] => findings.note(
            n,
            shown(code),
            "not modelled: the lab runs no interface scripts",
        ),
        [
            "mtu" | "hwaddress" | "dns-nameservers" | "dns-search" | "dns-domain" | "broadcast"
            | "metric" | "scope" | "pointopoint" | "media" | "bridge_ports" | "bridge_stp"
            | "bond-slaves" | "bond-mode" | "vlan-raw-device",
            ..,
        ] => findings.note(
            n,
            shown(code),
            "not modelled: no bearing on addressing, redundancy or relay",
        ),
        _ => findings.note(
            n,
            shown(code),
            "not understood; nothing in the lab comes from it",
        ),
    }
}

fn finish(stanza: Option<Stanza>, found: &mut Addresses, findings: &mut Findings) {
    let Some(stanza) = stanza else { return };
    if stanza.unreadable {
        return;
    }
    let Some((ip, len, line)) = stanza.address else {
        findings.error(
            stanza.line,
            format!("`iface {} inet static` has no address", stanza.interface),
            "add `address 10.1.0.2/24` under it",
        );
        return;
    };
    let Some(prefix_len) = len.or(stanza.netmask) else {
        findings.error(
            line,
            format!(
                "the address of {} has no prefix length or netmask",
                stanza.interface
            ),
            "write `address 10.1.0.2/24`, or add `netmask 255.255.255.0`",
        );
        return;
    };
    found.addresses.push(IfAddress {
        interface: stanza.interface,
        ip,
        prefix_len,
        secondary: stanza.secondary,
        at: findings.at(line),
    });
}

/// Whether a text reads as an ifupdown file or `ip addr` output.
pub(crate) fn looks_like(text: &str) -> bool {
    is_ip_addr(text)
        || text.lines().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            matches!(words.as_slice(), ["iface", _, "inet" | "inet6", ..])
        })
}

#[cfg(test)]
mod tests;
