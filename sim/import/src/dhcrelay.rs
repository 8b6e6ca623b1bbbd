//! Debian's `/etc/default/isc-dhcp-relay`: the shell variables its init script hands ISC
//! dhcrelay (`SERVERS`, `INTERFACES`, `OPTIONS`). Of the options, `-a` (add option 82), `-c`
//! (hop limit), `-i`/`-iu`/`-id` (interfaces) are modelled; dhcrelay's other options become
//! notes; an unknown variable or option is an error.

use std::net::Ipv4Addr;

use crate::blocks::ipv4;
use crate::report::{Findings, Loc};

/// What one defaults file says.
#[derive(Debug, Default)]
pub struct Relay {
    /// The servers requests are relayed to, each with its line.
    pub servers: Vec<(Ipv4Addr, Loc)>,
    /// The interfaces dhcrelay listens on (`INTERFACES` and `-i`); empty: all of them.
    pub interfaces: Vec<(String, Loc)>,
    /// `-iu`: interfaces toward the servers only.
    pub upstream: Vec<(String, Loc)>,
    /// `-id`: interfaces toward the clients only.
    pub downstream: Vec<(String, Loc)>,
    /// `-a`.
    pub option82: Option<Loc>,
    /// `-c N`.
    pub hops_max: Option<u8>,
    /// The line of `SERVERS` (or of the file's start), where a missing server is reported.
    pub at: Option<Loc>,
}

/// Reads one defaults file.
pub fn parse(text: &str, findings: &mut Findings) -> Relay {
    let mut relay = Relay::default();
    for (index, raw) in text.lines().enumerate() {
        let n = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim();
        let Some((name, value)) = line.split_once('=') else {
            findings.error(
                n,
                format!("cannot read `{line}`"),
                "the file sets shell variables: SERVERS=\"10.2.0.10\", INTERFACES=\"eth1\", OPTIONS=\"-a\"",
            );
            continue;
        };
        let Some(value) = unquote(value) else {
            findings.error(
                n,
                format!("the value of {name} is not closed by its quote"),
                "write NAME=\"value\"",
            );
            continue;
        };
        let words: Vec<&str> = value.split_whitespace().collect();
        match name.trim() {
            "SERVERS" => servers(&words, n, &mut relay, findings),
            "INTERFACES" => {
                for word in &words {
                    relay.interfaces.push((word.to_string(), findings.at(n)));
                }
            }
            "OPTIONS" => options(&words, n, &mut relay, findings),
            other => findings.error(
                n,
                format!("unknown setting `{other}`"),
                "/etc/default/isc-dhcp-relay sets SERVERS, INTERFACES and OPTIONS",
            ),
        }
    }
    relay
}

/// `"a b"`, `'a b'` or a bare word; `None` when a quote is not closed.
fn unquote(value: &str) -> Option<&str> {
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote) {
            return inner.strip_suffix(quote);
        }
    }
    Some(value)
}

fn servers(words: &[&str], n: usize, relay: &mut Relay, findings: &mut Findings) {
    relay.at = Some(findings.at(n));
    for word in words {
        match ipv4(word) {
            Some(ip) if !relay.servers.iter().any(|(s, _)| *s == ip) => {
                relay.servers.push((ip, findings.at(n)))
            }
            Some(ip) => findings.note(
                n,
                format!("SERVERS {ip}"),
                "listed twice: modelled once (one server gets one copy)",
            ),
            None => findings.error(
                n,
                format!("`{word}` is not an IPv4 address"),
                "give the servers as addresses; the lab resolves no names",
            ),
        }
    }
}

fn options(words: &[&str], n: usize, relay: &mut Relay, findings: &mut Findings) {
    let mut words = words.iter();
    while let Some(option) = words.next() {
        let mut value = |findings: &mut Findings| {
            let value = words.next().map(|word| word.to_string());
            if value.is_none() {
                findings.error(
                    n,
                    format!("dhcrelay option {option} needs a value"),
                    "e.g. OPTIONS=\"-a -c 10\"",
                );
            }
            value
        };
        match *option {
            "-a" => relay.option82 = Some(findings.at(n)),
            "-c" => {
                if let Some(count) = value(findings) {
                    match count.parse::<u8>() {
                        Ok(count @ 1..=255) => relay.hops_max = Some(count),
                        _ => findings.error(
                            n,
                            format!("`-c {count}` is not a hop count (1..255)"),
                            "dhcrelay's default is -c 10",
                        ),
                    }
                }
            }
            "-i" | "-iu" | "-id" => {
                if let Some(name) = value(findings) {
                    let list = match *option {
                        "-i" => &mut relay.interfaces,
                        "-iu" => &mut relay.upstream,
                        _ => &mut relay.downstream,
                    };
                    list.push((name, findings.at(n)));
                }
            }
            "-4" => {}
            "-d" | "-q" | "-nc" | "-n" => findings.note(
                n,
                format!("OPTIONS {option}"),
                "not modelled: how dhcrelay runs, not what it relays",
            ),
            "-D" => findings.note(
                n,
                "OPTIONS -D",
                "not modelled: the lab's servers send no relay agent information of their own",
            ),
            "-m" | "-A" | "-p" | "-pf" | "-U" | "-g" | "-l" | "-rp" => {
                let shown = value(findings).unwrap_or_default();
                findings.note(
                    n,
                    format!("OPTIONS {option} {shown}"),
                    "not modelled: the lab's relay uses dhcrelay's defaults for it",
                );
            }
            "-6" => findings.error(
                n,
                "OPTIONS -6: a DHCPv6 relay",
                "the lab relays DHCPv4; drop -6 (or import the v4 relay's file)",
            ),
            other if other.starts_with('-') => findings.error(
                n,
                format!("unknown dhcrelay option `{other}`"),
                "pxelab reads -a, -c N, -i IF, -iu IF, -id IF (and notes -d -q -D -m -A -p)",
            ),
            server => servers(&[server], n, relay, findings),
        }
    }
}

/// Whether a text reads as an isc-dhcp-relay defaults file.
pub(crate) fn looks_like(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        line.starts_with("SERVERS=") || line.starts_with("INTERFACES=")
    })
}

#[cfg(test)]
mod tests;
