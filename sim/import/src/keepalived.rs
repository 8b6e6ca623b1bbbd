//! keepalived.conf: `global_defs` (`router_id`, `vrrp_version`) and each `vrrp_instance`
//! (interface, state, virtual_router_id, priority, advert_int, virtual_ipaddress, nopreempt,
//! version, use_vmac). keepalived's other blocks and keywords become notes; a keyword that is
//! no keepalived keyword, or a value that cannot be read, is an error.

use crate::blocks::{cidr, ipv4};
use crate::ios::{ONE_VIRTUAL_IP, TRACKING_NOTE, VRRP_PREEMPT_DELAY};
use crate::model::{Group, Protocol};
use crate::report::{Findings, Loc};

/// What one keepalived.conf says.
#[derive(Debug, Default)]
pub struct Keepalived {
    /// `global_defs { router_id NAME }`.
    pub router_id: Option<(String, Loc)>,
    pub instances: Vec<Instance>,
}

/// One `vrrp_instance`: its group, and the interface it runs on.
#[derive(Debug)]
pub struct Instance {
    pub name: String,
    pub interface: (String, Loc),
    pub group: Group,
}

/// A statement: its words, its line, and the block it opens, if any.
#[derive(Debug)]
struct Item {
    words: Vec<String>,
    line: usize,
    children: Option<Vec<Item>>,
}

impl Item {
    fn text(&self) -> String {
        let mut text = self.words.join(" ");
        if self.children.is_some() {
            text.push_str(" { ... }");
        }
        crate::report::shown(&text)
    }
}

/// Reads one keepalived.conf.
pub fn parse(text: &str, findings: &mut Findings) -> Keepalived {
    let items = items(text, findings);
    let mut conf = Keepalived::default();
    let mut version: Option<u8> = None;
    for item in &items {
        match (item.words.first().map(String::as_str), &item.children) {
            (Some("global_defs"), Some(children)) => {
                global_defs(children, &mut conf, &mut version, findings)
            }
            (Some("vrrp_instance"), Some(children)) => {
                if let Some(instance) = instance(item, children, findings) {
                    conf.instances.push(instance);
                }
            }
            (Some(keyword), _) if block_reason(keyword).is_some() => findings.note(
                item.line,
                item.text(),
                block_reason(keyword).expect("checked"),
            ),
            (Some("include"), _) => findings.note(
                item.line,
                item.text(),
                "not followed: give the included files to pxelab import as well",
            ),
            (Some(keyword), _) => findings.error(
                item.line,
                format!("unknown keepalived block `{keyword}`"),
                "keepalived.conf holds global_defs, vrrp_instance, vrrp_script, vrrp_sync_group, virtual_server, ...",
            ),
            (None, _) => {}
        }
    }
    for instance in &mut conf.instances {
        if instance.group.version.is_none() {
            instance.group.version = version;
        }
    }
    conf
}

fn global_defs(
    children: &[Item],
    conf: &mut Keepalived,
    version: &mut Option<u8>,
    findings: &mut Findings,
) {
    for item in children {
        let words: Vec<&str> = item.words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["router_id", name] => {
                conf.router_id = Some((name.to_string(), findings.at(item.line)))
            }
            ["vrrp_version", text] => match *text {
                "2" => *version = Some(2),
                "3" => *version = Some(3),
                other => findings.error(
                    item.line,
                    format!("VRRP has no version {other}"),
                    "write `vrrp_version 2` or `vrrp_version 3`",
                ),
            },
            _ => findings.note(
                item.line,
                item.text(),
                "not modelled: no bearing on VRRP elections or the relay",
            ),
        }
    }
}

/// One `vrrp_instance NAME { ... }`.
fn instance(item: &Item, children: &[Item], findings: &mut Findings) -> Option<Instance> {
    let name = item.words.get(1).cloned().unwrap_or_default();
    let at = findings.at(item.line);
    let mut group = Group::new(Protocol::Vrrp, 0, at.clone());
    group.preempt = Some(true);
    let mut interface: Option<(String, Loc)> = None;
    let mut number: Option<u16> = None;
    let errors_before = findings.errors.len();
    for child in children {
        let line = child.line;
        let words: Vec<&str> = child.words.iter().map(String::as_str).collect();
        let bad = |findings: &mut Findings, what: &str, hint: &str| {
            findings.error(
                line,
                format!("cannot read `{}`: {what}", child.text()),
                hint,
            )
        };
        match (words.as_slice(), &child.children) {
            (["state", state], None) => match *state {
                "MASTER" => group.initial_master = Some((true, findings.at(line))),
                "BACKUP" => group.initial_master = Some((false, findings.at(line))),
                _ => bad(findings, "the state is MASTER or BACKUP", "write `state BACKUP`"),
            },
            (["interface", name], None) => interface = Some((name.to_string(), findings.at(line))),
            (["virtual_router_id", id], None) => match id.parse::<u16>() {
                Ok(id @ 1..=255) => number = Some(id),
                _ => bad(findings, "a VRID is 1..255", "write `virtual_router_id 10`"),
            },
            (["priority", priority], None) => match priority.parse::<u8>() {
                Ok(priority @ 1..=255) => group.priority = Some(priority),
                _ => bad(findings, "a priority is 1..255", "write `priority 110`"),
            },
            (["advert_int", seconds], None) => match advert_ms(seconds) {
                Some(ms) => {
                    group.hello_ms = Some(ms);
                    group.timers_at = Some(findings.at(line));
                }
                None => bad(
                    findings,
                    "the interval is in seconds (0.01 to 40.95 with version 3)",
                    "write `advert_int 1`",
                ),
            },
            (["nopreempt"], None) => group.preempt = Some(false),
            (["preempt"], None) => group.preempt = Some(true),
            (["version", version], None) => match *version {
                "2" => group.version = Some(2),
                "3" => group.version = Some(3),
                _ => bad(findings, "VRRP is version 2 or 3", "write `version 3`"),
            },
            (["use_vmac", ..], None) => group.use_vmac = Some(true),
            (["virtual_ipaddress"], Some(addresses)) => {
                virtual_ipaddress(addresses, &mut group, findings)
            }
            ([keyword, ..], _) if NOT_MODELLED.iter().any(|(k, _)| k == keyword) => {
                let why = NOT_MODELLED
                    .iter()
                    .find(|(k, _)| k == keyword)
                    .map_or("", |(_, why)| why);
                findings.note(line, child.text(), why);
            }
            ([keyword, ..], _) => findings.error(
                line,
                format!("unknown vrrp_instance keyword `{keyword}`"),
                "pxelab reads interface, state, virtual_router_id, priority, advert_int, virtual_ipaddress, nopreempt, version, use_vmac (and notes keepalived's other keywords)",
            ),
            ([], _) => {}
        }
    }
    if findings.errors.len() > errors_before {
        // What is missing may be what could not be read: one error is enough.
        return None;
    }
    let Some(interface) = interface else {
        findings.error(
            item.line,
            format!("vrrp_instance {name} has no `interface`"),
            "add `interface eth1` (the interface the group runs on)",
        );
        return None;
    };
    let Some(number) = number else {
        findings.error(
            item.line,
            format!("vrrp_instance {name} has no `virtual_router_id`"),
            "add `virtual_router_id 10`",
        );
        return None;
    };
    if group.virtual_ip.is_none() {
        findings.error(
            item.line,
            format!("vrrp_instance {name} has no virtual_ipaddress"),
            "add `virtual_ipaddress { 10.1.0.1/24 }`",
        );
        return None;
    }
    group.number = number;
    Some(Instance {
        name,
        interface,
        group,
    })
}

/// Why a top-level keepalived block the lab does not model is left out; `None` for a block
/// that is no keepalived block.
fn block_reason(keyword: &str) -> Option<&'static str> {
    let why = match keyword {
        "vrrp_sync_group" => {
            "not modelled: each group of the lab fails over on its own (a sync group moves its members together)"
        }
        "vrrp_script" | "vrrp_track_process" | "track_file" | "track_process" | "bfd_instance" => {
            "not modelled: the lab runs no checks, so no priority changes with one"
        }
        "virtual_server" | "virtual_server_group" => "not modelled: the lab runs no load balancing",
        "static_ipaddress" | "static_routes" | "static_rules" => {
            "not modelled: keepalived's static addresses and routes are not part of the lab"
        }
        "linkbeat_interfaces" => {
            "not modelled: the lab's links are up unless a fault takes them down"
        }
        _ => return None,
    };
    Some(why)
}

/// keepalived keywords of a `vrrp_instance` that the lab does not model, and why.
const NOT_MODELLED: &[(&str, &str)] = &[
    (
        "authentication",
        "VRRP authentication is not modelled: the lab checks none",
    ),
    ("track_interface", TRACKING_NOTE),
    ("track_script", TRACKING_NOTE),
    ("track_file", TRACKING_NOTE),
    ("track_process", TRACKING_NOTE),
    ("track_bfd", TRACKING_NOTE),
    ("dont_track_primary", TRACKING_NOTE),
    ("preempt_delay", VRRP_PREEMPT_DELAY),
    ("virtual_ipaddress_excluded", ONE_VIRTUAL_IP),
    (
        "virtual_routes",
        "not modelled: the lab's routes are the routers' static routes",
    ),
    (
        "virtual_rules",
        "not modelled: the lab's routes are the routers' static routes",
    ),
    ("notify", "not modelled: the lab runs no scripts"),
    ("notify_master", "not modelled: the lab runs no scripts"),
    ("notify_backup", "not modelled: the lab runs no scripts"),
    ("notify_fault", "not modelled: the lab runs no scripts"),
    ("notify_stop", "not modelled: the lab runs no scripts"),
    ("smtp_alert", "not modelled: the lab sends no mail"),
    (
        "unicast_src_ip",
        "not modelled: the lab's VRRP adverts are multicast",
    ),
    (
        "unicast_peer",
        "not modelled: the lab's VRRP adverts are multicast",
    ),
    (
        "mcast_src_ip",
        "not modelled: adverts are sent from the interface's address",
    ),
    (
        "garp_master_delay",
        "not modelled from the file: the lab's keepalived platform sends keepalived's default 5 + 5 gratuitous ARPs",
    ),
    (
        "garp_master_repeat",
        "not modelled from the file: the lab's keepalived platform sends keepalived's default 5 + 5 gratuitous ARPs",
    ),
    (
        "garp_master_refresh",
        "not modelled: the lab sends gratuitous ARPs on takeover only",
    ),
    (
        "garp_master_refresh_repeat",
        "not modelled: the lab sends gratuitous ARPs on takeover only",
    ),
    (
        "garp_lower_prio_delay",
        "not modelled: the lab sends gratuitous ARPs on takeover only",
    ),
    (
        "garp_lower_prio_repeat",
        "not modelled: the lab sends gratuitous ARPs on takeover only",
    ),
    (
        "vmac_xmit_base",
        "not modelled: adverts go out of the virtual MAC when use_vmac is on",
    ),
    ("native_ipv6", "not modelled: the lab is IPv4 only"),
    (
        "strict_mode",
        "not modelled: the lab's VRRP follows the RFC already",
    ),
    (
        "accept",
        "not modelled: the lab's master accepts nothing addressed to the virtual IP but ARP",
    ),
    (
        "no_accept",
        "not modelled: the lab's master accepts nothing addressed to the virtual IP but ARP",
    ),
    (
        "skip_check_adv_addr",
        "not modelled: no bearing on the election",
    ),
    ("debug", "not modelled: no bearing on the election"),
    (
        "lvs_sync_daemon_interface",
        "not modelled: the lab runs no load balancing",
    ),
    (
        "kernel_rx_buf_size",
        "not modelled: no bearing on the election",
    ),
];

/// `virtual_ipaddress { A[/LEN] [dev IF] [label L] ... }`: the lab's group has the first.
fn virtual_ipaddress(addresses: &[Item], group: &mut Group, findings: &mut Findings) {
    for item in addresses {
        let Some(first) = item.words.first() else {
            continue;
        };
        let Some(ip) = ipv4(first).or_else(|| cidr(first).map(|(ip, _)| ip)) else {
            findings.error(
                item.line,
                format!("`{first}` is not an IPv4 address"),
                "write `10.1.0.1/24` or `10.1.0.1/24 dev eth1`",
            );
            continue;
        };
        if group.virtual_ip.is_some() {
            findings.note(
                item.line,
                item.text(),
                "not modelled: a group has one virtual IP in the lab (the first)",
            );
            continue;
        }
        group.virtual_ip = Some(ip);
    }
}

/// keepalived's `advert_int` in seconds, possibly fractional (VRRP v3): in milliseconds.
fn advert_ms(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let fraction_ms: u64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<3}").parse().ok()?
    };
    let ms = whole * 1000 + fraction_ms;
    (10..=255_000).contains(&ms).then_some(ms)
}

/// The statements of the file, with their blocks. Comments start at `#` or `!`.
fn items(text: &str, findings: &mut Findings) -> Vec<Item> {
    let mut tokens: Vec<(String, usize)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let code = line.find(['#', '!']).map_or(line, |at| &line[..at]);
        let spaced = code.replace('{', " { ").replace('}', " } ");
        for word in spaced.split_whitespace() {
            tokens.push((word.to_string(), index + 1));
        }
        tokens.push(("\n".to_string(), index + 1));
    }
    let mut position = 0;
    let items = block(&tokens, &mut position, 0, findings);
    if position < tokens.len() {
        findings.error(
            tokens[position].1,
            "a `}` that closes no block",
            "remove it, or open its block with `{`",
        );
    }
    items
}

fn block(
    tokens: &[(String, usize)],
    position: &mut usize,
    depth: usize,
    findings: &mut Findings,
) -> Vec<Item> {
    let mut items = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut line = 0;
    let flush = |words: &mut Vec<String>, line: usize, items: &mut Vec<Item>| {
        if !words.is_empty() {
            items.push(Item {
                words: std::mem::take(words),
                line,
                children: None,
            });
        }
    };
    while let Some((token, token_line)) = tokens.get(*position) {
        match token.as_str() {
            "\n" => {
                flush(&mut words, line, &mut items);
                *position += 1;
            }
            "{" => {
                *position += 1;
                let opened_at = if words.is_empty() { *token_line } else { line };
                let children = block(tokens, position, depth + 1, findings);
                items.push(Item {
                    words: std::mem::take(&mut words),
                    line: opened_at,
                    children: Some(children),
                });
            }
            "}" => {
                flush(&mut words, line, &mut items);
                if depth == 0 {
                    return items;
                }
                *position += 1;
                return items;
            }
            word => {
                if words.is_empty() {
                    line = *token_line;
                }
                words.push(word.to_string());
                *position += 1;
            }
        }
    }
    flush(&mut words, line, &mut items);
    if depth > 0 {
        let line = tokens.last().map_or(0, |(_, line)| *line);
        findings.error(
            line,
            "a block is not closed: a `}` is missing",
            "close every `{` with a `}`",
        );
    }
    items
}

/// Whether a text reads as a keepalived.conf.
pub(crate) fn looks_like(text: &str) -> bool {
    text.lines().any(|line| {
        let first = line.split_whitespace().next().unwrap_or("");
        matches!(
            first,
            "vrrp_instance" | "global_defs" | "vrrp_sync_group" | "vrrp_script" | "virtual_server"
        )
    })
}

#[cfg(test)]
mod tests;
