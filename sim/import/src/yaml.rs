//! The lab as topology YAML, in the shipped topologies' layout: a header that says what the
//! file came from, which plugin each helper got and why, and every line not modelled; then
//! the sections, with the values no configuration holds marked where they stand.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::lab::{Choice, Lab, LabInterface, Role};
use crate::model::{Group, Platform, Protocol};
use crate::report::Note;

/// One input file as the header lists it.
pub struct Source {
    pub file: String,
    pub what: String,
}

pub fn write(name: &str, lab: &Lab, sources: &[Source], notes: &[Note]) -> String {
    let mut out = String::new();
    header(&mut out, lab, sources, notes);
    let routers: Vec<&str> = lab.routers.iter().map(|r| r.name.as_str()).collect();
    let _ = writeln!(out, "name: {}", scalar(name));
    let _ = writeln!(
        out,
        "description: {}",
        quoted(&format!(
            "Imported from the configurations of {}",
            routers.join(", ")
        ))
    );
    out.push_str("\nlimits:\n  sim_time: 600s\n  events: 2000000\n");
    lans(&mut out, lab);
    routers_section(&mut out, lab);
    servers(&mut out, lab);
    clients(&mut out, lab);
    out
}

fn header(out: &mut String, lab: &Lab, sources: &[Source], notes: &[Note]) {
    out.push_str("# Imported by `pxelab import` from:\n");
    for source in sources {
        let _ = writeln!(out, "#   {}  ({})", source.file, source.what);
    }
    out.push_str(
        "#\n\
         # A configuration says what the routers are; it does not say how fast they are or who\n\
         # boots behind them. Marked below where they are used:\n\
         # - timing: the LAN latencies and relay delays are the shipped topologies' values\n\
         #   (topologies/kb2510665.yaml; for Linux relays, the keepalived and ISC dhcrelay pair of\n\
         #   tests/it/real_relay), not measurements of this network. `pxelab calibrate` fits them\n\
         #   to a capture of yours.\n\
         # - servers: one per helper address; pick each one's plugin with --server ADDR=PLUGIN.\n\
         # - clients: placeholders.\n#\n",
    );
    out.push_str("# Servers (helper address, node, plugin, why):\n");
    let width = lab
        .servers
        .iter()
        .map(|s| s.plugin.len())
        .max()
        .unwrap_or(0);
    for server in &lab.servers {
        let why = match &server.choice {
            Choice::Given => format!("--server {}={}", server.ip, server.plugin),
            Choice::Default(why) => format!("default: {why}"),
        };
        let _ = writeln!(
            out,
            "#   {:<15} {:<8} {:<width$}  {why}",
            server.ip.to_string(),
            server.name,
            server.plugin
        );
    }
    out.push_str("#\n");
    if notes.is_empty() {
        out.push_str("# Every line of the configurations is modelled.\n");
    } else {
        let _ = writeln!(
            out,
            "# Not modelled, or modelled otherwise ({} line(s); file:lines: what: why):",
            notes.len()
        );
        for line in crate::report::condensed(notes) {
            for (index, part) in wrapped(&one_line(&line), 96).into_iter().enumerate() {
                let indent = if index == 0 { "#   " } else { "#       " };
                let _ = writeln!(out, "{indent}{part}");
            }
        }
    }
}

fn lans(out: &mut String, lab: &Lab) {
    out.push_str("\nlans:\n");
    for lan in &lab.lans {
        let role = match lan.role {
            Role::Clients => "the routers relay DHCP from it",
            Role::Servers => "helper addresses are on it",
            Role::Transit => "shared by the routers",
        };
        let _ = writeln!(out, "  {}:    # {role}", scalar(&lan.name));
        let _ = writeln!(out, "    subnet: {}/{}", lan.network, lan.prefix_len);
        let _ = writeln!(
            out,
            "    latency: {}    # not in any configuration (kb2510665.yaml's)",
            lan.latency()
        );
    }
}

fn routers_section(out: &mut String, lab: &Lab) {
    out.push_str("\nrouters:\n");
    for router in lab.routers.iter().filter(|r| !r.interfaces.is_empty()) {
        let _ = writeln!(out, "  {}:", scalar(&router.name));
        let _ = writeln!(
            out,
            "    # {}: {}",
            router.platform.label(),
            router.files.join(", ")
        );
        let from = match router.platform {
            Platform::Ios | Platform::Eos => "kb2510665.yaml's",
            Platform::Linux => "the dhcrelay of tests/it/real_relay",
        };
        let _ = writeln!(
            out,
            "    relay_delay: {}    # not in the configuration ({from}); `pxelab calibrate` fits it",
            router.relay_delay()
        );
        match router.platform {
            Platform::Ios => {}
            Platform::Eos => out.push_str(
                "    # Arista EOS runs as the `ios` platform: TTL 255, the virtual MAC, one gratuitous ARP.\n",
            ),
            Platform::Linux => out.push_str("    platform: keepalived\n"),
        }
        if let Some(hops) = router.relay_hops_max {
            let _ = writeln!(out, "    relay_hops_max: {hops}");
        }
        if let Some(ports) = &router.forward_udp_ports {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            let _ = writeln!(out, "    forward_udp_ports: [{}]", ports.join(", "));
        }
        out.push_str("    interfaces:\n");
        for interface in &router.interfaces {
            write_interface(out, lab, interface);
        }
        if !router.routes.is_empty() {
            out.push_str("    routes:\n");
            for (network, prefix_len, via) in &router.routes {
                let _ = writeln!(out, "      - {{ to: {network}/{prefix_len}, via: {via} }}");
            }
        }
    }
}

fn write_interface(out: &mut String, lab: &Lab, interface: &LabInterface) {
    let _ = writeln!(out, "      - name: {}", scalar(&interface.name));
    let _ = writeln!(
        out,
        "        lan: {}",
        scalar(&lab.lans[interface.lan].name)
    );
    let _ = writeln!(out, "        ip: {}/{}", interface.ip, interface.prefix_len);
    if let Some(group) = &interface.group {
        let _ = writeln!(out, "        redundancy: {}", redundancy(group));
    }
    if !interface.helpers.is_empty() {
        let helpers: Vec<String> = interface.helpers.iter().map(Ipv4Addr::to_string).collect();
        let _ = writeln!(out, "        helpers: [{}]", helpers.join(", "));
    }
    if interface.follow {
        out.push_str("        helpers_follow_redundancy: true\n");
    }
    if interface.option82 {
        out.push_str("        option82: {}\n");
    }
}

/// A group as a flow mapping, with the keys the configuration gave.
fn redundancy(group: &Group) -> String {
    let mut parts = vec![format!(
        "protocol: {}",
        match group.protocol {
            Protocol::Hsrp => "hsrp",
            Protocol::Vrrp => "vrrp",
        }
    )];
    if let Some(version) = group.version {
        parts.push(format!("version: {version}"));
    }
    parts.push(format!("group: {}", group.number));
    if let Some(ip) = group.virtual_ip {
        parts.push(format!("virtual_ip: {ip}"));
    }
    if let Some(priority) = group.priority {
        parts.push(format!("priority: {priority}"));
    }
    if let Some(preempt) = group.preempt {
        parts.push(format!("preempt: {preempt}"));
    }
    if let Some(delay) = group.preempt_delay_ms.filter(|ms| *ms > 0) {
        parts.push(format!("preempt_delay: {}", duration(delay)));
    }
    if let Some(hello) = group.hello_ms {
        parts.push(format!("hello: {}", duration(hello)));
    }
    if let Some(hold) = group.hold_ms {
        parts.push(format!("hold: {}", duration(hold)));
    }
    if let Some(use_vmac) = group.use_vmac {
        parts.push(format!("use_vmac: {use_vmac}"));
    }
    format!("{{ {} }}", parts.join(", "))
}

fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn servers(out: &mut String, lab: &Lab) {
    out.push_str("\nservers:\n");
    for server in &lab.servers {
        let _ = writeln!(out, "  {}:", scalar(&server.name));
        let _ = writeln!(out, "    lan: {}", scalar(&lab.lans[server.lan].name));
        let _ = writeln!(out, "    ip: {}/{}", server.ip, server.prefix_len);
        if let Some(gateway) = server.gateway {
            let _ = writeln!(out, "    gateway: {gateway}");
        }
        let why = match &server.choice {
            Choice::Given => "given with --server".to_string(),
            Choice::Default(_) => format!("default; --server {}=PLUGIN picks another", server.ip),
        };
        let _ = writeln!(out, "    plugin: {}    # {why}", scalar(&server.plugin));
        if let Some((name, restart)) = server.service {
            let _ = writeln!(
                out,
                "    service: {{ name: {name}, restart_after: {restart} }}"
            );
        }
        if !server.config.is_empty() {
            if server.plugin.starts_with("wds") {
                out.push_str(
                    "    # Not in any configuration: the provider's threads and device lookup of kb2510665.yaml.\n",
                );
            }
            out.push_str("    config:\n");
            for (key, text) in &server.config {
                let _ = writeln!(out, "      {key}: {}", value(text));
            }
        } else if !is_builtin(&server.plugin) {
            out.push_str("    # Give the plugin's settings under `config:`.\n");
        }
    }
}

fn is_builtin(plugin: &str) -> bool {
    matches!(
        plugin,
        "dhcp-server" | "wds-sccm2007" | "wds-fixed" | "proxydhcp" | "proxydhcp-c" | "tinypxe"
    )
}

fn clients(out: &mut String, lab: &Lab) {
    out.push_str("\nclients:\n");
    out.push_str(
        "  # Placeholders: no configuration says which machines boot here. These are\n\
         \x20 # kb2510665.yaml's three UEFI machines (EDK2) switched on within two seconds of each\n\
         \x20 # other; describe your own.\n",
    );
    for clients in &lab.clients {
        let _ = writeln!(out, "  - name: {}", scalar(&clients.name));
        let _ = writeln!(out, "    count: {}", crate::lab::CLIENT_COUNT);
        let _ = writeln!(out, "    lan: {}", scalar(&lab.lans[clients.lan].name));
        out.push_str("    arch: efi-x64\n");
        let _ = writeln!(out, "    power_on: {}", crate::lab::CLIENT_POWER_ON);
    }
}

/// A name as a YAML string: plain where YAML reads it back as the same string, else quoted.
fn scalar(text: &str) -> String {
    if plain(text) && text.parse::<f64>().is_err() {
        text.to_string()
    } else {
        quoted(text)
    }
}

/// A configuration value: plain where YAML reads it back as that text (numbers included: the
/// plugin gets them as text), else quoted.
fn value(text: &str) -> String {
    if plain(text) {
        text.to_string()
    } else {
        quoted(text)
    }
}

/// Whether `text` is a plain scalar in block context that YAML reads as this very text.
fn plain(text: &str) -> bool {
    let special = matches!(
        text.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    );
    !special
        && text.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.contains(['{', '}', '[', ']', '"', '\'', '\\'])
        && !text.chars().any(char::is_control)
}

fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` in lines of at most `width` characters, broken at spaces (a longer word stays whole).
fn wrapped(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A note on one comment line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_stay_plain_only_where_yaml_reads_them_back_as_strings() {
        assert_eq!(scalar("Vlan10"), "Vlan10");
        assert_eq!(scalar("GigabitEthernet0/1"), "GigabitEthernet0/1");
        assert_eq!(
            scalar("lognormal(median=600us, sigma=0.8, max=5s)"),
            "lognormal(median=600us, sigma=0.8, max=5s)"
        );
        assert_eq!(scalar("10.1.0.100-10.1.0.199"), "10.1.0.100-10.1.0.199");
        assert_eq!(scalar("255.255.255.0"), "255.255.255.0");
        assert_eq!(scalar("4"), "\"4\"");
        assert_eq!(value("4"), "4");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("say \"hi\""), "\"say \\\"hi\\\"\"");
    }

    #[test]
    fn durations_are_whole_seconds_or_milliseconds() {
        assert_eq!(duration(3000), "3s");
        assert_eq!(duration(250), "250ms");
    }
}
