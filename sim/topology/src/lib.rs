//! Loads a YAML topology into a plan, and a plan plus a seed into a simulation world. Every
//! mistake in the file comes back as `file:line:col: what` with a hint, never as a panic.

mod model;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use engine::client::{Arch, ClientConfig, PxeClient};
use engine::firmware::Firmware;
use engine::redundancy::{GratuitousArp, GroupConfig, Initial, Protocol};
use engine::router::{
    DEFAULT_FORWARD_UDP_PORTS, Option82, Route, Router, RouterConfig, RouterInterface,
};
use engine::server::{ServerConfig, ServerNode, same_subnet};
use engine::world::{Attachment, Fault, LanChange, LanConfig, Limits, Node, ServiceAction, World};
use engine::{App, Stream};
use smoltcp::wire::EthernetAddress;
use timing::Distribution;

pub use model::Topology;
use model::{ArchSpec, FaultSpec, GratuitousArpSpec, LanSpec, ProtocolSpec, RedundancySpec};

/// A located error in a topology file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)?;
        } else {
            let (file, line, column) = (&self.file, self.line, self.column);
            write!(f, "{file}:{line}:{column}: {}", self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Creates the service behind a server node: the plugin host implements this.
pub trait ServiceFactory {
    /// `plugin` is the topology's `plugin:` value, `base_dir` the topology file's folder (for
    /// relative paths), `stream` the node's seeded stream for the plugin's random draws.
    fn create(
        &self,
        node: &str,
        plugin: &str,
        base_dir: &Path,
        config: &[(String, String)],
        stream: Stream,
    ) -> Result<Box<dyn App>, String>;
}

struct LanPlan {
    name: String,
    config: LanConfig,
}

/// A fault with its target named; node ids are only known once the world is built.
/// What a router runs (`platform:`): the details real gear differs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Platform {
    Ios,
    Keepalived,
    Frr,
}

impl Platform {
    /// TTL of what the router sends itself: IOS 255, Linux 64.
    fn ttl(self) -> u8 {
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

enum FaultPlan {
    Crash(String),
    Shutdown(String),
    Recover(String),
    Service(String, ServiceAction),
    Link {
        node: String,
        interface: u32,
        up: bool,
    },
    Lan {
        lan: usize,
        change: LanChange,
    },
}

struct RouterPlan {
    config: RouterConfig,
    lans: Vec<usize>,
}

struct ServerPlan {
    config: ServerConfig,
    lan: usize,
    plugin: String,
    plugin_config: Vec<(String, String)>,
}

struct ClientPlan {
    config: ClientConfig,
    lan: usize,
    power_on: Distribution,
}

/// What a good run and a good sweep look like (the topology's `expect:`).
#[derive(Clone, Debug, PartialEq)]
pub struct Expectations {
    /// Every client boots.
    pub every_client_boots: bool,
    /// Every client has booted by this simulated time.
    pub boot_within_ns: Option<u64>,
    /// No service crashes.
    pub no_crashes: bool,
    /// Sweeps: the crash rate stays below this fraction.
    pub crash_rate_below: Option<f64>,
    /// Sweeps: the fraction of runs failing a per-run expectation stays below this; `None`:
    /// every run must pass.
    pub failure_rate_below: Option<f64>,
}

impl Default for Expectations {
    fn default() -> Expectations {
        Expectations {
            every_client_boots: true,
            boot_within_ns: None,
            no_crashes: true,
            crash_rate_below: None,
            failure_rate_below: None,
        }
    }
}

/// A validated topology: everything parsed and cross-checked, ready to build for any seed.
pub struct Plan {
    pub name: String,
    pub file: PathBuf,
    source: String,
    limits: Limits,
    min_sim_time_ns: u64,
    lans: Vec<LanPlan>,
    routers: Vec<RouterPlan>,
    servers: Vec<ServerPlan>,
    clients: Vec<ClientPlan>,
    faults: Vec<(u64, FaultPlan)>,
    /// `(node, plugin)` given to `override_plugin`, in order: part of what replays a run.
    pub plugin_overrides: Vec<(String, String)>,
    pub expect: Expectations,
}

/// The JSON Schema (draft 2020-12) of the topology format, for editors: point the YAML
/// language server at it and topologies complete and validate as they are typed.
pub fn schema() -> serde_json::Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(Topology)).expect("a schema is plain JSON");
    schema["title"] = "pxelab topology".into();
    schema["description"] = "A pxelab network: LANs, routers with DHCP relays and HSRP/VRRP \
        redundancy, boot servers (WebAssembly plugins), PXE clients, faults and expectations."
        .into();
    schema
}

/// Reads and validates a topology file.
pub fn load(path: &Path) -> Result<Plan, Error> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error {
        file: file.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read the topology: {e}"),
        hint: Some("check the path; topologies ship in topologies/".to_string()),
    })?;
    parse(path, &text)
}

/// Validates topology text; `path` names it in errors and anchors relative plugin paths.
pub fn parse(path: &Path, text: &str) -> Result<Plan, Error> {
    let text = &*line_feeds(text);
    let content = text.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#') && line != "---"
    });
    if !content {
        return Err(Error {
            file: path.display().to_string(),
            line: 1,
            column: 1,
            message: "the topology file is empty".to_string(),
            hint: Some("README.md (Topology format) shows a complete file".to_string()),
        });
    }
    let topology: Topology = serde_yaml::from_str(text).map_err(|e| yaml_error(path, text, &e))?;
    Planner {
        file: path.display().to_string(),
        text,
    }
    .plan(path, text, topology)
}

/// The text with every line break a LF. YAML also breaks lines at a lone CR (old Mac files) and
/// at NEL, LS and PS, and so do editors; the loader finds keys line by line, so without this a
/// mistake in such a file would be reported on the wrong line.
fn line_feeds(text: &str) -> Cow<'_, str> {
    const BREAKS: [char; 4] = ['\r', '\u{85}', '\u{2028}', '\u{2029}'];
    if !text.contains(BREAKS) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace(BREAKS, "\n"))
}

fn yaml_error(path: &Path, text: &str, error: &serde_yaml::Error) -> Error {
    let (mut line, mut column) = error
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let mut message = error.to_string();
    if let Some(index) = message.find(" at line ") {
        message.truncate(index);
    }
    // serde reports a repeated key at the start of its map; point at the repetition instead.
    let repeated = ["duplicate key `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.split_once(prefix))
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(key, _)| key.to_string());
    if let Some(key) = repeated
        && let Some(at) = second_key(text, line, column, &key)
    {
        (line, column) = at;
    }
    let hint = if message.contains("unknown field") {
        "remove the key or fix its spelling; the accepted keys are listed above"
    } else if message.contains("missing field") {
        "add the key; README.md (Topology format) shows a complete file"
    } else if message.contains("unknown variant") {
        "use one of the values listed above"
    } else if message.contains("duplicate") {
        "each name may appear once in a map: rename one of the two or merge them"
    } else {
        "README.md (Topology format) shows a complete file"
    };
    Error {
        file: path.display().to_string(),
        line,
        column,
        message,
        hint: Some(hint.to_string()),
    }
}

/// The line and column of the second `key:` at `column` from `line` on (1-based): where a map
/// starting there repeats the key.
fn second_key(text: &str, line: usize, column: usize, key: &str) -> Option<(usize, usize)> {
    let with_colon = format!("{key}:");
    text.lines()
        .enumerate()
        .skip(line.saturating_sub(1))
        .filter(|(_, content)| {
            let before = content.get(..column.saturating_sub(1));
            let after = content.get(column.saturating_sub(1)..);
            before.is_some_and(|b| b.chars().all(|c| c == ' ' || c == '-'))
                && after.is_some_and(|a| a.starts_with(&with_colon))
        })
        .nth(1)
        .map(|(index, _)| (index + 1, column))
}

struct Planner<'a> {
    file: String,
    text: &'a str,
}

impl Planner<'_> {
    /// Finds where `anchors` point in the text: each anchor (`key:` or a value) is searched
    /// after the previous one, so `["routers", "r1", "interfaces", "lan"]` lands on the right
    /// line in any ordinary block- or flow-style file.
    fn at(&self, anchors: &[&str], message: impl Into<String>, hint: impl Into<String>) -> Error {
        let mut offset = 0;
        let mut found = 0;
        for (index, anchor) in anchors.iter().enumerate() {
            // A section (`servers:`) starts a line; a LAN may carry the same name further in.
            let section = (index == 0)
                .then(|| {
                    self.text
                        .match_indices(anchor)
                        .find(|(at, _)| *at == 0 || self.text.as_bytes()[at - 1] == b'\n')
                })
                .flatten()
                .map(|(at, _)| at);
            if let Some(position) = section.or_else(|| find_token(&self.text[offset..], anchor)) {
                found = offset + position;
                offset = found + anchor.len();
            }
        }
        let before = &self.text[..found];
        let line = before.matches('\n').count() + 1;
        let column = found - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        let hint = hint.into();
        Error {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        }
    }

    fn distribution(&self, anchors: &[&str], text: &str) -> Result<Distribution, Error> {
        text.parse().map_err(|e: timing::ParseError| {
            self.at(
                anchors,
                format!("`{text}` is not a timing distribution: {e}"),
                "write a duration (`2ms`) or a distribution; README.md (Topology format) lists them",
            )
        })
    }

    fn duration_ns(&self, anchors: &[&str], text: &str) -> Result<u64, Error> {
        if text.trim_start().starts_with('-') {
            return Err(self.at(
                anchors,
                format!("`{text}` is negative; durations count forward from the start"),
                "write a duration of zero or more, like `120000ms` or `2s`",
            ));
        }
        timing::parse_duration_ns(text).map_err(|e| {
            self.at(
                anchors,
                e.message,
                "write durations like `120000ms` or `2s`",
            )
        })
    }

    fn ipv4(&self, anchors: &[&str], text: &str) -> Result<Ipv4Addr, Error> {
        text.trim().parse().map_err(|_| {
            self.at(
                anchors,
                format!("`{text}` is not an IPv4 address"),
                "write it like 10.2.0.10",
            )
        })
    }

    fn cidr(&self, anchors: &[&str], text: &str) -> Result<(Ipv4Addr, u8), Error> {
        let bad = || {
            self.at(
                anchors,
                format!("`{text}` is not an address with a prefix length"),
                "write it like 10.1.0.2/24",
            )
        };
        let (address, prefix) = text.trim().split_once('/').ok_or_else(bad)?;
        let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix_len: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix_len > 32 {
            return Err(bad());
        }
        Ok((address, prefix_len))
    }

    fn mac(&self, anchors: &[&str], text: &str) -> Result<EthernetAddress, Error> {
        let bytes: Vec<u8> = text
            .split([':', '-'])
            .map(|part| u8::from_str_radix(part, 16))
            .collect::<Result<_, _>>()
            .map_err(|_| {
                self.at(
                    anchors,
                    format!("`{text}` is not a MAC address"),
                    "write it like 02:00:00:00:00:01",
                )
            })?;
        if bytes.len() != 6 || bytes[0] & 1 == 1 {
            return Err(self.at(
                anchors,
                format!("`{text}` is not a unicast MAC address"),
                "write it like 02:00:00:00:00:01",
            ));
        }
        Ok(EthernetAddress::from_bytes(&bytes))
    }

    fn plan(&self, path: &Path, text: &str, topology: Topology) -> Result<Plan, Error> {
        let mut limits = Limits::default();
        if let Some(sim_time) = &topology.limits.sim_time {
            limits.sim_time_max_ns = self.duration_ns(&["limits:", "sim_time:"], sim_time)?;
        }
        if limits.sim_time_max_ns == 0 {
            return Err(self.at(
                &["limits:", "sim_time:"],
                "sim_time is zero, so nothing would run",
                "give the run time to boot, like `600s`",
            ));
        }
        if let Some(events) = topology.limits.events {
            if events == 0 {
                return Err(self.at(
                    &["limits:", "events:"],
                    "an events limit of zero stops every run before it starts",
                    "drop the key for the default, or allow some millions of events",
                ));
            }
            limits.events_max = events;
        }
        let min_sim_time_ns = match &topology.limits.min_sim_time {
            Some(text) => self.duration_ns(&["limits:", "min_sim_time:"], text)?,
            None => 0,
        };
        if min_sim_time_ns > limits.sim_time_max_ns {
            return Err(self.at(
                &["limits:", "min_sim_time:"],
                "min_sim_time is longer than sim_time",
                "the run stops at sim_time; make min_sim_time shorter",
            ));
        }

        let mut lans = Vec::new();
        let mut lan_index = BTreeMap::new();
        let mut subnets = Vec::new();
        for (name, lan) in &topology.lans {
            let anchors = ["lans:", &format!("{name}:")];
            let config = self.lan_config(&anchors, lan)?;
            let (network, prefix_len) =
                self.cidr(&[anchors[0], anchors[1], "subnet:"], &lan.subnet)?;
            if u32::from(network) & !prefix_mask(prefix_len) != 0 {
                let base = Ipv4Addr::from(u32::from(network) & prefix_mask(prefix_len));
                return Err(self.at(
                    &[anchors[0], anchors[1], "subnet:"],
                    format!("subnet {} of LAN `{name}` has host bits set", lan.subnet),
                    format!("write the network address: {base}/{prefix_len}"),
                ));
            }
            for (other, other_network, other_len) in &subnets {
                let shorter = prefix_len.min(*other_len);
                if same_subnet(network, *other_network, shorter) {
                    return Err(self.at(
                        &[anchors[0], anchors[1], "subnet:"],
                        format!(
                            "subnet {} of LAN `{name}` overlaps LAN `{other}`",
                            lan.subnet
                        ),
                        "give every LAN its own subnet",
                    ));
                }
            }
            subnets.push((name.clone(), network, prefix_len));
            lan_index.insert(name.clone(), lans.len());
            lans.push(LanPlan {
                name: name.clone(),
                config,
            });
        }
        let known_lans = topology.lans.keys().cloned().collect::<Vec<_>>().join(", ");
        let find_lan = |anchors: &[&str], name: &str| -> Result<usize, Error> {
            lan_index.get(name).copied().ok_or_else(|| {
                self.at(
                    anchors,
                    format!("unknown LAN `{name}`"),
                    format!("the LANs are: {known_lans}"),
                )
            })
        };
        let check_in_lan = |anchors: &[&str], lan: usize, ip: Ipv4Addr| -> Result<(), Error> {
            let (_, network, prefix_len) = &subnets[lan];
            let host_bits = !prefix_mask(*prefix_len);
            if same_subnet(ip, *network, *prefix_len) {
                let host = u32::from(ip) & host_bits;
                if *prefix_len <= 30 && (host == 0 || host == host_bits) {
                    let what = if host == 0 { "network" } else { "broadcast" };
                    return Err(self.at(
                        anchors,
                        format!("{ip} is the {what} address of LAN `{}`", lans[lan].name),
                        "pick a host address inside the LAN's subnet",
                    ));
                }
                Ok(())
            } else {
                Err(self.at(
                    anchors,
                    format!(
                        "{ip} is not in LAN `{}` ({network}/{prefix_len})",
                        lans[lan].name
                    ),
                    "pick an address inside the LAN's subnet",
                ))
            }
        };

        let check_prefix = |anchors: &[&str], lan: usize, prefix_len: u8| -> Result<(), Error> {
            let (_, network, lan_prefix_len) = &subnets[lan];
            if prefix_len == *lan_prefix_len {
                return Ok(());
            }
            Err(self.at(
                anchors,
                format!(
                    "prefix /{prefix_len} differs from LAN `{}` ({network}/{lan_prefix_len})",
                    lans[lan].name
                ),
                format!("write the LAN's prefix length, /{lan_prefix_len}"),
            ))
        };
        let mut macs: BTreeMap<EthernetAddress, String> = BTreeMap::new();
        let mut claim_mac = |anchors: &[&str], mac: EthernetAddress, owner: String| match macs
            .insert(mac, owner.clone())
        {
            Some(previous) => Err(self.at(
                anchors,
                format!("MAC address {mac} is used by both {previous} and {owner}"),
                "give every interface its own MAC address, or drop `mac:` to get one",
            )),
            None => Ok(()),
        };
        let mut names = BTreeSet::new();
        let mut addresses: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
        let mut claim = |anchors: &[&str], ip: Ipv4Addr, owner: String| -> Result<(), Error> {
            if let Some(previous) = addresses.insert(ip, owner.clone()) {
                return Err(self.at(
                    anchors,
                    format!("{ip} is used by both {previous} and {owner}"),
                    "give every interface its own address",
                ));
            }
            Ok(())
        };
        let mut unique = |anchors: &[&str], name: &str| -> Result<(), Error> {
            if !names.insert(name.to_string()) {
                return Err(self.at(
                    anchors,
                    format!("the name `{name}` is used twice"),
                    "routers, servers and clients need distinct names",
                ));
            }
            Ok(())
        };
        let mut mac_counter: u32 = 0;
        let mut next_mac = |kind: u8| {
            mac_counter += 1;
            let [_, a, b, c] = mac_counter.to_be_bytes();
            EthernetAddress([0x02, 0x50, kind, a, b, c])
        };

        let mut routers = Vec::new();
        for (name, router) in &topology.routers {
            let base = ["routers:", &format!("{name}:")];
            unique(&base, name)?;
            let relay_delay =
                self.distribution(&[base[0], base[1], "relay_delay:"], &router.relay_delay)?;
            let platform = match router.platform.as_deref().map(str::trim) {
                None | Some("ios") => Platform::Ios,
                Some("keepalived") => Platform::Keepalived,
                Some("frr") => Platform::Frr,
                Some(other) => {
                    return Err(self.at(
                        &[base[0], base[1], "platform:"],
                        format!("unknown platform `{other}`"),
                        "the platforms are ios (Cisco IOS/IOS-XE), keepalived (Linux: keepalived + ISC dhcrelay), frr (Linux: FRR)",
                    ));
                }
            };
            let mut interfaces: Vec<RouterInterface> = Vec::new();
            let mut router_lans = Vec::new();
            for interface in &router.interfaces {
                let at = [
                    base[0],
                    base[1],
                    "interfaces:",
                    &format!("name: {}", interface.name),
                ];
                let with = |key: &'static str| [at[0], at[1], at[2], at[3], key];
                if interfaces.iter().any(|i| i.name == interface.name) {
                    // The second one: the first `name:` is found first, so search past it.
                    let second = [at[0], at[1], at[2], at[3], at[3]];
                    return Err(self.at(
                        &second,
                        format!(
                            "router `{name}` has two interfaces named `{}`",
                            interface.name
                        ),
                        "give each interface its own name (Vlan10, Vlan20, ...)",
                    ));
                }
                let lan = find_lan(&with("lan:"), &interface.lan)?;
                let (ip, prefix_len) = self.cidr(&with("ip:"), &interface.ip)?;
                check_in_lan(&with("ip:"), lan, ip)?;
                check_prefix(&with("ip:"), lan, prefix_len)?;
                claim(&with("ip:"), ip, format!("{name} {}", interface.name))?;
                let owner = format!("{name} {}", interface.name);
                let mac = match &interface.mac {
                    Some(text) => {
                        let mac = self.mac(&with("mac:"), text)?;
                        claim_mac(&with("mac:"), mac, owner)?;
                        mac
                    }
                    None => {
                        let mac = next_mac(0x01);
                        claim_mac(&at, mac, owner)?;
                        mac
                    }
                };
                let mut helpers: Vec<Ipv4Addr> = Vec::new();
                for helper in &interface.helpers {
                    let anchors = [at[0], at[1], at[2], at[3], "helpers:", helper.as_str()];
                    let address = self.ipv4(&anchors[..5], helper)?;
                    if helpers.contains(&address) {
                        let second = [
                            anchors[0], anchors[1], anchors[2], anchors[3], "helpers:", helper,
                            helper,
                        ];
                        return Err(self.at(
                            &second,
                            format!("helper {address} is listed twice"),
                            "list each helper once; two entries would relay every request twice",
                        ));
                    }
                    helpers.push(address);
                }
                let redundancy = match &interface.redundancy {
                    None => None,
                    Some(spec) => {
                        let virtual_ip = self.ipv4(&with("virtual_ip:"), &spec.virtual_ip)?;
                        check_in_lan(&with("virtual_ip:"), lan, virtual_ip)?;
                        Some(self.redundancy(&at, spec, ip, virtual_ip, platform)?)
                    }
                };
                if interface.helpers_follow_redundancy && redundancy.is_none() {
                    return Err(self.at(
                        &with("helpers_follow_redundancy:"),
                        "helpers follow redundancy, but the interface has no redundancy group",
                        "add `redundancy:` to the interface, or drop this key",
                    ));
                }
                let option82 = interface.option82.as_ref().map(|spec| Option82 {
                    circuit_id: spec
                        .circuit_id
                        .clone()
                        .unwrap_or_else(|| interface.name.clone())
                        .into_bytes(),
                    remote_id: spec
                        .remote_id
                        .clone()
                        .unwrap_or_else(|| name.clone())
                        .into_bytes(),
                });
                router_lans.push(lan);
                interfaces.push(RouterInterface {
                    name: interface.name.clone(),
                    mac,
                    ip,
                    prefix_len,
                    helpers,
                    redundancy,
                    helpers_follow_redundancy: interface.helpers_follow_redundancy,
                    option82,
                });
            }
            let mut routes = Vec::new();
            for route in &router.routes {
                let at = [base[0], base[1], "routes:", &format!("to: {}", route.to)];
                let (network, prefix_len) = self.cidr(&at, &route.to)?;
                let next_hop = self.ipv4(&[at[0], at[1], at[2], at[3], "via:"], &route.via)?;
                if !interfaces
                    .iter()
                    .any(|i| same_subnet(next_hop, i.ip, i.prefix_len))
                {
                    return Err(self.at(
                        &[at[0], at[1], at[2], at[3], "via:"],
                        format!("next hop {next_hop} is not on any of {name}'s LANs"),
                        "a static route's next hop must be directly connected",
                    ));
                }
                routes.push(Route {
                    network,
                    prefix_len,
                    next_hop,
                });
            }
            routers.push(RouterPlan {
                config: RouterConfig {
                    name: name.clone(),
                    interfaces,
                    routes,
                    relay_delay,
                    relay_hops_max: router.relay_hops_max.unwrap_or(10),
                    forward_udp_ports: router
                        .forward_udp_ports
                        .clone()
                        .unwrap_or_else(|| DEFAULT_FORWARD_UDP_PORTS.to_vec()),
                    ttl: platform.ttl(),
                },
                lans: router_lans,
            });
        }
        self.elect(&mut routers, &lans)?;
        self.routes(&topology, &routers)?;

        let mut servers = Vec::new();
        let mut service_ids = Vec::new();
        for (name, server) in &topology.servers {
            let base = ["servers:", &format!("{name}:")];
            let with = |key: &'static str| [base[0], base[1], key];
            unique(&base, name)?;
            let lan = find_lan(&with("lan:"), &server.lan)?;
            let (ip, prefix_len) = self.cidr(&with("ip:"), &server.ip)?;
            check_in_lan(&with("ip:"), lan, ip)?;
            check_prefix(&with("ip:"), lan, prefix_len)?;
            claim(&with("ip:"), ip, name.clone())?;
            let gateway = server
                .gateway
                .as_deref()
                .map(|g| self.ipv4(&with("gateway:"), g))
                .transpose()?;
            if let Some(gateway) = gateway {
                check_in_lan(&with("gateway:"), lan, gateway)?;
                let routed = routers.iter().any(|router| {
                    router.config.interfaces.iter().any(|i| {
                        i.ip == gateway
                            || i.redundancy
                                .as_ref()
                                .is_some_and(|g| g.virtual_ip == gateway)
                    })
                });
                if !routed {
                    return Err(self.at(
                        &with("gateway:"),
                        format!("no router has the gateway address {gateway}"),
                        "use a router interface's address or its redundancy group's virtual_ip",
                    ));
                }
            }
            let mac = match &server.mac {
                Some(text) => {
                    let mac = self.mac(&with("mac:"), text)?;
                    claim_mac(&with("mac:"), mac, name.clone())?;
                    mac
                }
                None => {
                    let mac = next_mac(0x02);
                    claim_mac(&base, mac, name.clone())?;
                    mac
                }
            };
            let cpu_ns_per_fuel = server.cpu_ns_per_fuel.unwrap_or(CPU_NS_PER_FUEL_DEFAULT);
            if !(0.0..=1_000.0).contains(&cpu_ns_per_fuel) {
                return Err(self.at(
                    &with("cpu_ns_per_fuel:"),
                    format!("cpu_ns_per_fuel {cpu_ns_per_fuel} is outside 0..1000"),
                    "about 0.3 to 1 ns per unit of wasm work is a real server; 0 makes plugin work free",
                ));
            }
            let cpu_ps_per_unit = (cpu_ns_per_fuel * 1000.0).round() as u64;
            let restart_after_ns = server
                .service
                .restart_after
                .as_deref()
                .map(|text| self.duration_ns(&[base[0], base[1], "restart_after:"], text))
                .transpose()?;
            let mut plugin_config = Vec::new();
            for (key, value) in &server.config {
                let text = match value {
                    serde_yaml::Value::String(s) => s.clone(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(self.at(
                            &[base[0], base[1], "config:", &format!("{key}:")],
                            format!(
                                "config `{key}` must be a single value (text, number or true/false)"
                            ),
                            "plugins receive their configuration as key/value strings",
                        ));
                    }
                };
                plugin_config.push((key.clone(), text));
            }
            service_ids.push((
                name.clone(),
                server.service.id.clone().unwrap_or_else(|| name.clone()),
            ));
            servers.push(ServerPlan {
                config: ServerConfig {
                    name: name.clone(),
                    mac,
                    ip,
                    prefix_len,
                    gateway,
                    service_name: server.service.name.clone().unwrap_or_else(|| name.clone()),
                    restart_after_ns,
                    cpu_ps_per_unit,
                    blocked_udp_ports: server.firewall_blocks_udp.clone(),
                },
                lan,
                plugin: server.plugin.clone(),
                plugin_config,
            });
        }

        for (router, spec) in routers.iter().zip(topology.routers.iter()) {
            for (interface, interface_spec) in
                router.config.interfaces.iter().zip(&spec.1.interfaces)
            {
                for (helper, text) in interface.helpers.iter().zip(&interface_spec.helpers) {
                    // A helper on a LAN but without a server models a server that is not there
                    // (clients end in PXE-E51); one on no LAN at all is a mistake.
                    let on_a_lan = subnets.iter().any(|(_, network, prefix_len)| {
                        same_subnet(*helper, *network, *prefix_len)
                    });
                    if on_a_lan || servers.iter().any(|server| server.config.ip == *helper) {
                        continue;
                    }
                    let known: Vec<String> = servers
                        .iter()
                        .map(|server| format!("{} {}", server.config.name, server.config.ip))
                        .collect();
                    return Err(self.at(
                        &[
                            "routers:",
                            &format!("{}:", spec.0),
                            "interfaces:",
                            &format!("name: {}", interface.name),
                            "helpers:",
                            text,
                        ],
                        format!("helper {helper} is on none of the LANs, so nothing can answer it"),
                        if known.is_empty() {
                            "add a server with that address under `servers:`".to_string()
                        } else {
                            format!("the servers are: {}", known.join(", "))
                        },
                    ));
                }
            }
        }

        let mut clients = Vec::new();
        for spec in &topology.clients {
            let base = ["clients:", &format!("name: {}", spec.name)];
            let with = |key: &'static str| [base[0], base[1], key];
            let lan = find_lan(&with("lan:"), &spec.lan)?;
            let power_on = self.distribution(&with("power_on:"), &spec.power_on)?;
            let count = spec.count.unwrap_or(1);
            if count == 0 || count > 100_000 {
                return Err(self.at(
                    &with("count:"),
                    format!("count {count} is out of range"),
                    "use 1..100000",
                ));
            }
            if count > 1 && spec.mac.is_some() {
                return Err(self.at(
                    &with("mac:"),
                    "a fixed MAC address with count > 1",
                    "drop `mac:` so each client gets its own",
                ));
            }
            let blksize = spec.tftp_blksize.unwrap_or(1456);
            if !(8..=65464).contains(&blksize) {
                return Err(self.at(
                    &with("tftp_blksize:"),
                    format!("TFTP block size {blksize} is outside 8..65464 (RFC 2348)"),
                    "firmware commonly asks for 1456 or 1468",
                ));
            }
            let arch = match spec.arch {
                ArchSpec::Bios => Arch::Bios,
                ArchSpec::EfiIa32 => Arch::EfiIa32,
                ArchSpec::EfiBc => Arch::EfiBc,
                ArchSpec::EfiX64 => Arch::EfiX64,
            };
            let firmware = match &spec.firmware {
                None => arch.default_firmware(),
                Some(name) => name.trim().parse::<Firmware>().map_err(|message| {
                    self.at(
                        &with("firmware:"),
                        message,
                        "edk2 behaves like OVMF and UEFI PCs, ipxe like the iPXE ROM of QEMU and many NICs, pxe-spec like the PXE 2.1 text",
                    )
                })?,
            };
            for index in 1..=count {
                let name = if spec.count.is_some() {
                    format!("{}{index}", spec.name)
                } else {
                    spec.name.clone()
                };
                unique(&base, &name)?;
                let mac = match &spec.mac {
                    Some(text) => {
                        let mac = self.mac(&with("mac:"), text)?;
                        claim_mac(&with("mac:"), mac, name.clone())?;
                        mac
                    }
                    None => {
                        let mac = next_mac(0x03);
                        claim_mac(&base, mac, name.clone())?;
                        mac
                    }
                };
                let guid = guid_for(&name);
                clients.push(ClientPlan {
                    config: ClientConfig {
                        name,
                        mac,
                        arch,
                        firmware,
                        guid,
                        tftp_blksize: blksize,
                    },
                    lan,
                    power_on: power_on.clone(),
                });
            }
        }
        if clients.is_empty() {
            return Err(self.at(
                &["clients:"],
                "the topology has no clients",
                "add at least one entry under `clients:`",
            ));
        }

        let faults = self.faults(&topology.faults, &lans, &routers, &service_ids, &clients)?;
        let expect = self.expectations(&topology.expect)?;

        Ok(Plan {
            name: topology.name,
            file: path.to_path_buf(),
            source: text.to_string(),
            limits,
            min_sim_time_ns,
            lans,
            routers,
            servers,
            clients,
            faults,
            plugin_overrides: Vec::new(),
            expect,
        })
    }

    fn expectations(&self, spec: &model::ExpectSpec) -> Result<Expectations, Error> {
        let rate = |key: &str, value: Option<f64>| -> Result<Option<f64>, Error> {
            match value {
                Some(rate) if !(rate > 0.0 && rate <= 1.0) => Err(self.at(
                    &["expect:", &format!("{key}:")],
                    format!("`{key}: {rate}` is not a rate between 0 (excluded) and 1"),
                    "write a fraction: 0.05 is 5%",
                )),
                other => Ok(other),
            }
        };
        let boot_within_ns = match &spec.boot_within {
            Some(text) => Some(self.duration_ns(&["expect:", "boot_within:"], text)?),
            None => None,
        };
        Ok(Expectations {
            every_client_boots: spec.every_client_boots.unwrap_or(true),
            boot_within_ns,
            no_crashes: spec.no_crashes.unwrap_or(true),
            crash_rate_below: rate("crash_rate_below", spec.crash_rate_below)?,
            failure_rate_below: rate("failure_rate_below", spec.failure_rate_below)?,
        })
    }

    fn probability(&self, anchors: &[&str], value: f64) -> Result<f64, Error> {
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err(self.at(
                anchors,
                format!("probability {value} is outside 0..1"),
                "write it as a fraction: 0.01 is one percent",
            ))
        }
    }

    fn lan_config(&self, anchors: &[&str; 2], lan: &LanSpec) -> Result<LanConfig, Error> {
        let with = |key: &'static str| [anchors[0], anchors[1], key];
        let mut config =
            LanConfig::with_latency(self.distribution(&with("latency:"), &lan.latency)?);
        if let Some(loss) = lan.loss {
            config.loss = self.probability(&with("loss:"), loss)?;
        }
        if let Some(duplicate) = lan.duplicate {
            config.duplicate = self.probability(&with("duplicate:"), duplicate)?;
        }
        if let Some(reorder) = lan.reorder {
            config.reorder = self.probability(&with("reorder:"), reorder)?;
        }
        if let Some(delay) = &lan.reorder_delay {
            config.reorder_delay = self.distribution(&with("reorder_delay:"), delay)?;
        }
        if let Some(aging) = &lan.mac_aging {
            config.mac_aging_ns = self.duration_ns(&with("mac_aging:"), aging)?;
        }
        Ok(config)
    }

    /// One interface's redundancy group, with the defaults and ranges of the protocol version.
    fn redundancy(
        &self,
        at: &[&str; 4],
        spec: &RedundancySpec,
        own_ip: Ipv4Addr,
        virtual_ip: Ipv4Addr,
        platform: Platform,
    ) -> Result<GroupConfig, Error> {
        let with = |key: &'static str| [at[0], at[1], at[2], at[3], key];
        let protocol = match spec.protocol {
            ProtocolSpec::Hsrp => Protocol::Hsrp,
            ProtocolSpec::Vrrp => Protocol::Vrrp,
        };
        let version = match (protocol, spec.version) {
            (Protocol::Hsrp, None | Some(1)) => 1,
            (Protocol::Hsrp, Some(2)) => 2,
            (Protocol::Vrrp, None | Some(2)) => 2,
            (Protocol::Vrrp, Some(3)) => 3,
            (_, Some(other)) => {
                return Err(self.at(
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
            return Err(self.at(
                &with("group:"),
                format!("group {} is out of range", spec.group),
                format!("use {range}"),
            ));
        }
        let owner = virtual_ip == own_ip;
        let priority = match (protocol, spec.priority, owner) {
            (Protocol::Hsrp, _, true) => {
                return Err(self.at(
                    &with("virtual_ip:"),
                    format!("HSRP virtual IP {virtual_ip} is the interface's own address"),
                    "HSRP needs a virtual IP of its own; VRRP allows an address owner",
                ));
            }
            (Protocol::Vrrp, Some(priority), true) if priority != 255 => {
                return Err(self.at(
                    &with("priority:"),
                    format!("the address owner must have priority 255, not {priority}"),
                    "RFC 5798: the router that owns the virtual IP always has priority 255",
                ));
            }
            (Protocol::Vrrp, _, true) => 255,
            (Protocol::Vrrp, Some(0 | 255), false) => {
                return Err(self.at(
                    &with("priority:"),
                    "VRRP priorities 0 and 255 are reserved",
                    "use 1..254; 255 belongs to the owner of the virtual IP",
                ));
            }
            (_, priority, _) => priority.unwrap_or(100),
        };
        let duration = |key: &'static str, text: &Option<String>, default: &str| {
            self.duration_ns(&with(key), text.as_deref().unwrap_or(default))
        };
        let (hello_ns, hold_ns) = match protocol {
            Protocol::Hsrp => (
                duration("hello:", &spec.hello, "3s")?,
                duration("hold:", &spec.hold, "10s")?,
            ),
            Protocol::Vrrp => {
                if spec.hold.is_some() {
                    return Err(self.at(
                        &with("hold:"),
                        "VRRP has no hold time",
                        "VRRP derives Master_Down_Interval from `hello` (the advertisement interval)",
                    ));
                }
                (duration("hello:", &spec.hello, "1s")?, 0)
            }
        };
        let (unit, max_ns, unit_text) = match (protocol, version) {
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
        for (key, value) in [("hello:", hello_ns), ("hold:", hold_ns)] {
            if key == "hold:" && protocol == Protocol::Vrrp {
                continue;
            }
            if value == 0 || value % unit != 0 || value > max_ns {
                return Err(self.at(
                    &with(key),
                    format!("{} cannot be carried on the wire", timing::format_ns(value)),
                    format!("use {unit_text}"),
                ));
            }
        }
        if protocol == Protocol::Hsrp && hold_ns <= hello_ns {
            return Err(self.at(
                &with("hold:"),
                "the hold time must be longer than the hello time",
                "RFC 2281: at least three times the hello time (3s hello, 10s hold by default)",
            ));
        }
        let preempt_delay_ns = match (&spec.preempt_delay, protocol) {
            (None, _) => 0,
            (Some(text), Protocol::Hsrp) => self.duration_ns(&with("preempt_delay:"), text)?,
            (Some(_), Protocol::Vrrp) => {
                return Err(self.at(
                    &with("preempt_delay:"),
                    "preempt_delay is an HSRP setting",
                    "a VRRP backup preempts after Master_Down_Interval",
                ));
            }
        };
        if protocol == Protocol::Hsrp && platform != Platform::Ios {
            return Err(self.at(
                &with("protocol:"),
                "HSRP is Cisco's: keepalived and FRR speak VRRP",
                "use `protocol: vrrp`, or `platform: ios` on the router",
            ));
        }
        let use_vmac = match (protocol, spec.use_vmac) {
            (Protocol::Hsrp, Some(false)) => {
                return Err(self.at(
                    &with("use_vmac:"),
                    "HSRP always uses its virtual MAC",
                    "drop `use_vmac`; it is a VRRP setting",
                ));
            }
            (_, Some(use_vmac)) => use_vmac,
            (_, None) => platform != Platform::Keepalived,
        };
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
            gratuitous_arp: self.gratuitous_arp(
                &with("gratuitous_arp:"),
                &spec.gratuitous_arp,
                platform,
            )?,
            use_vmac,
            advert_ident_per_group: platform == Platform::Keepalived,
            advert_dont_fragment: platform != Platform::Keepalived,
        })
    }

    fn gratuitous_arp(
        &self,
        at: &[&str; 5],
        spec: &Option<GratuitousArpSpec>,
        platform: Platform,
    ) -> Result<GratuitousArp, Error> {
        let mut arp = platform.gratuitous_arp();
        let Some(spec) = spec else { return Ok(arp) };
        arp.count = spec.count.unwrap_or(arp.count);
        arp.repeat = spec.repeat.unwrap_or(arp.repeat);
        if let Some(after) = &spec.repeat_after {
            let with = [at[0], at[1], at[2], at[3], at[4], "repeat_after:"];
            arp.repeat_after_ns = self.duration_ns(&with, after)?;
        }
        for (key, value) in [("count:", arp.count), ("repeat:", arp.repeat)] {
            if value > 100 {
                let with = [at[0], at[1], at[2], at[3], at[4], key];
                return Err(self.at(
                    &with,
                    format!("{value} gratuitous ARPs is more than any router sends"),
                    "keepalived sends 5 (and 5 more after 5 s), FRR and Cisco IOS one; at most 100",
                ));
            }
        }
        Ok(arp)
    }

    /// Checks each redundancy group's members agree, and sets each member's state at time zero
    /// to the election's result: the highest (priority, address) is HSRP Active / VRRP Master,
    /// the next HSRP Standby, the rest Listen (HSRP) or Backup (VRRP).
    /// Static routes lead somewhere: each next hop is another router's address (an interface's
    /// or a redundancy group's virtual IP), and following the routes for a prefix never comes
    /// back to a router it already passed (a loop would bounce packets until their TTL ends).
    fn routes(&self, topology: &Topology, routers: &[RouterPlan]) -> Result<(), Error> {
        let owners = |address: Ipv4Addr| -> Vec<usize> {
            (0..routers.len())
                .filter(|&index| {
                    routers[index].config.interfaces.iter().any(|i| {
                        i.ip == address
                            || i.redundancy
                                .as_ref()
                                .is_some_and(|g| g.virtual_ip == address)
                    })
                })
                .collect()
        };
        for (index, (name, spec)) in topology.routers.iter().enumerate() {
            let config = &routers[index].config;
            for (route, route_spec) in config.routes.iter().zip(&spec.routes) {
                let to = format!("to: {}", route_spec.to);
                let via = ["routers:", &format!("{name}:"), "routes:", &to, "via:"];
                let next = owners(route.next_hop);
                if next.contains(&index) {
                    return Err(self.at(
                        &via,
                        format!("next hop {} is {name}'s own address", route.next_hop),
                        "the next hop is the neighbouring router's address on a shared LAN",
                    ));
                }
                if next.is_empty() {
                    return Err(self.at(
                        &via,
                        format!("no router has the next hop address {}", route.next_hop),
                        "the next hop is the neighbouring router's address on a shared LAN",
                    ));
                }
                // Follow the prefix hop by hop; a path never needs to pass a router twice.
                let mut path = vec![index];
                let looped = next
                    .iter()
                    .any(|&hop| route_loop(routers, &owners, route, hop, &mut path));
                if looped {
                    let names: Vec<&str> = path
                        .iter()
                        .map(|&i| routers[i].config.name.as_str())
                        .collect();
                    return Err(self.at(
                        &via[..4],
                        format!(
                            "routes to {}/{} form a loop: {}",
                            route.network,
                            route.prefix_len,
                            names.join(" -> ")
                        ),
                        "one of these routers must reach the prefix directly or route it elsewhere",
                    ));
                }
            }
        }
        Ok(())
    }

    fn elect(&self, routers: &mut [RouterPlan], lans: &[LanPlan]) -> Result<(), Error> {
        // (LAN, protocol, group) -> (router, interface) indices
        let mut groups: BTreeMap<(usize, bool, u16), Vec<(usize, usize)>> = BTreeMap::new();
        for (r, router) in routers.iter().enumerate() {
            for (i, (interface, lan)) in router
                .config
                .interfaces
                .iter()
                .zip(&router.lans)
                .enumerate()
            {
                if let Some(group) = &interface.redundancy {
                    let key = (*lan, group.protocol == Protocol::Vrrp, group.group);
                    groups.entry(key).or_default().push((r, i));
                }
            }
        }
        for ((lan, _, group), mut members) in groups {
            let config = |(r, i): (usize, usize)| {
                let interface = &routers[r].config.interfaces[i];
                (interface, interface.redundancy.as_ref().expect("grouped"))
            };
            let (_, first) = config(members[0]);
            for &member in &members[1..] {
                let (interface, other) = config(member);
                let same = other.virtual_ip == first.virtual_ip
                    && other.version == first.version
                    && other.hello_ns == first.hello_ns
                    && other.hold_ns == first.hold_ns;
                if !same {
                    let router = &routers[member.0].config.name;
                    return Err(self.at(
                        &[
                            "routers:",
                            &format!("{router}:"),
                            &format!("name: {}", interface.name),
                            "redundancy:",
                        ],
                        format!(
                            "{} group {group} on LAN `{}` is configured differently on its members",
                            first.protocol, lans[lan].name
                        ),
                        "every member needs the same virtual_ip, version, hello and hold",
                    ));
                }
            }
            let owners = members
                .iter()
                .filter(|&&m| config(m).1.priority == 255 && config(m).0.ip == first.virtual_ip)
                .count();
            if owners > 1 {
                let router = &routers[members[0].0].config.name;
                return Err(self.at(
                    &["routers:", &format!("{router}:"), "redundancy:"],
                    format!("VRRP group {group} has {owners} address owners"),
                    "only one router can own the virtual IP",
                ));
            }
            members.sort_by_key(|&m| {
                let (interface, group) = config(m);
                std::cmp::Reverse((group.priority, interface.ip))
            });
            for (rank, (r, i)) in members.into_iter().enumerate() {
                let group = routers[r].config.interfaces[i]
                    .redundancy
                    .as_mut()
                    .expect("grouped");
                group.initial = match (rank, group.protocol) {
                    (0, _) => Initial::Active,
                    (1, Protocol::Hsrp) => Initial::Standby,
                    (_, Protocol::Hsrp) => Initial::Listen,
                    (_, Protocol::Vrrp) => Initial::Standby,
                };
            }
        }
        Ok(())
    }

    fn faults(
        &self,
        specs: &[FaultSpec],
        lans: &[LanPlan],
        routers: &[RouterPlan],
        servers: &[(String, String)],
        clients: &[ClientPlan],
    ) -> Result<Vec<(u64, FaultPlan)>, Error> {
        let mut faults = Vec::new();
        for spec in specs {
            let base = ["faults:", &format!("at: {}", spec.at)];
            let with = |key: &'static str| [base[0], base[1], key];
            let at_ns = self.duration_ns(&with("at:"), &spec.at)?;
            let actions = [
                spec.crash.is_some(),
                spec.shutdown.is_some(),
                spec.recover.is_some(),
                spec.restart.is_some(),
                spec.link_down.is_some(),
                spec.link_up.is_some(),
                spec.lan.is_some(),
            ];
            let lan_keys = spec.latency.is_some()
                || spec.loss.is_some()
                || spec.duplicate.is_some()
                || spec.reorder.is_some()
                || spec.reorder_delay.is_some();
            if lan_keys && spec.lan.is_none() {
                return Err(self.at(
                    &with("at:"),
                    "latency, loss, duplicate and reorder change a LAN",
                    "add `lan: <name>` to say which",
                ));
            }
            let hint = "give each entry `at:` and one of: crash, shutdown, recover, restart, link_down, link_up, lan";
            if actions.iter().filter(|&&a| a).count() != 1 {
                return Err(self.at(&with("at:"), "a fault needs exactly one action", hint));
            }
            let machine_named = |key: &'static str, name: &str| -> Result<String, Error> {
                if routers.iter().any(|r| r.config.name == name)
                    || servers.iter().any(|(server, _)| server == name)
                {
                    return Ok(name.to_string());
                }
                let known: Vec<_> = routers
                    .iter()
                    .map(|r| r.config.name.as_str())
                    .chain(servers.iter().map(|(server, _)| server.as_str()))
                    .collect();
                Err(self.at(
                    &[base[0], base[1], key],
                    format!("unknown router or server `{name}`"),
                    format!("routers and servers can crash: {}", known.join(", ")),
                ))
            };
            let plan = if let Some(name) = &spec.crash {
                FaultPlan::Crash(machine_named("crash:", name)?)
            } else if let Some(name) = &spec.shutdown {
                FaultPlan::Shutdown(machine_named("shutdown:", name)?)
            } else if let Some(name) = &spec.recover {
                FaultPlan::Recover(machine_named("recover:", name)?)
            } else if let Some(target) = &spec.restart {
                let (server, service) = match target.split_once('/') {
                    Some((server, service)) => (server, Some(service)),
                    None => (target.as_str(), None),
                };
                let Some((_, id)) = servers.iter().find(|(name, _)| name == server) else {
                    let known: Vec<_> = servers.iter().map(|(name, _)| name.as_str()).collect();
                    return Err(self.at(
                        &with("restart:"),
                        format!("unknown server `{server}`"),
                        format!("the servers are: {}", known.join(", ")),
                    ));
                };
                let action = match service {
                    None => ServiceAction::Reboot,
                    Some(s)
                        if s.eq_ignore_ascii_case("wmi") || s.eq_ignore_ascii_case("winmgmt") =>
                    {
                        ServiceAction::RestartWmi
                    }
                    Some(s) if s == id => ServiceAction::Restart,
                    Some(other) => {
                        return Err(self.at(
                            &with("restart:"),
                            format!("server `{server}` has no service `{other}`"),
                            format!(
                                "restart `{server}` (reboot), `{server}/WMI` or `{server}/{id}`"
                            ),
                        ));
                    }
                };
                FaultPlan::Service(server.to_string(), action)
            } else if let Some(lan_name) = &spec.lan {
                let Some(lan) = lans.iter().position(|l| &l.name == lan_name) else {
                    let known: Vec<_> = lans.iter().map(|l| l.name.as_str()).collect();
                    return Err(self.at(
                        &with("lan:"),
                        format!("unknown LAN `{lan_name}`"),
                        format!("the LANs are: {}", known.join(", ")),
                    ));
                };
                let probability = |key: &'static str, value: Option<f64>| {
                    value.map(|v| self.probability(&with(key), v)).transpose()
                };
                let distribution = |key: &'static str, value: &Option<String>| {
                    value
                        .as_deref()
                        .map(|v| self.distribution(&with(key), v))
                        .transpose()
                };
                FaultPlan::Lan {
                    lan,
                    change: LanChange {
                        latency: distribution("latency:", &spec.latency)?,
                        loss: probability("loss:", spec.loss)?,
                        duplicate: probability("duplicate:", spec.duplicate)?,
                        reorder: probability("reorder:", spec.reorder)?,
                        reorder_delay: distribution("reorder_delay:", &spec.reorder_delay)?,
                    },
                }
            } else {
                let (key, target, up) = match (&spec.link_down, &spec.link_up) {
                    (Some(target), _) => ("link_down:", target, false),
                    (_, Some(target)) => ("link_up:", target, true),
                    _ => unreachable!("exactly one action"),
                };
                let (node, interface) =
                    self.link_target(&[base[0], base[1], key], target, routers, servers, clients)?;
                FaultPlan::Link {
                    node,
                    interface,
                    up,
                }
            };
            faults.push((at_ns, plan));
        }
        Ok(faults)
    }

    /// `router/interface`, or the name of a server or client (they have one interface).
    fn link_target(
        &self,
        anchors: &[&str],
        target: &str,
        routers: &[RouterPlan],
        servers: &[(String, String)],
        clients: &[ClientPlan],
    ) -> Result<(String, u32), Error> {
        if let Some((router, interface)) = target.split_once('/') {
            let Some(plan) = routers.iter().find(|r| r.config.name == router) else {
                return Err(self.at(
                    anchors,
                    format!("unknown router `{router}`"),
                    "write `router/interface`, e.g. `r1/Vlan10`",
                ));
            };
            let Some(index) = plan
                .config
                .interfaces
                .iter()
                .position(|i| i.name == interface)
            else {
                let known: Vec<_> = plan
                    .config
                    .interfaces
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect();
                return Err(self.at(
                    anchors,
                    format!("router `{router}` has no interface `{interface}`"),
                    format!("its interfaces are: {}", known.join(", ")),
                ));
            };
            return Ok((router.to_string(), index as u32));
        }
        let single = servers.iter().any(|(name, _)| name == target)
            || clients.iter().any(|c| c.config.name == target);
        if single {
            return Ok((target.to_string(), 0));
        }
        Err(self.at(
            anchors,
            format!("`{target}` is not a server, a client or `router/interface`"),
            "name a server or client, or write `router/interface`, e.g. `r1/Vlan10`",
        ))
    }
}

/// Simulated CPU time per unit of wasm fuel: wasmtime charges about one unit per wasm operator,
/// and a server core runs a few of them per nanosecond.
const CPU_NS_PER_FUEL_DEFAULT: f64 = 0.5;

/// A stable SMBIOS UUID per client name.
/// Whether following `route`'s prefix from router `hop` comes back to a router on `path`; on
/// `true`, `path` holds the loop, ending with the router met again.
fn route_loop(
    routers: &[RouterPlan],
    owners: &dyn Fn(Ipv4Addr) -> Vec<usize>,
    route: &Route,
    hop: usize,
    path: &mut Vec<usize>,
) -> bool {
    let seen = path.contains(&hop);
    path.push(hop);
    if seen {
        return true;
    }
    let config = &routers[hop].config;
    let connected = config.interfaces.iter().any(|i| {
        i.prefix_len <= route.prefix_len && same_subnet(route.network, i.ip, i.prefix_len)
    });
    let onward = config
        .routes
        .iter()
        .filter(|r| {
            r.prefix_len <= route.prefix_len && same_subnet(route.network, r.network, r.prefix_len)
        })
        .max_by_key(|r| r.prefix_len);
    if !connected
        && let Some(onward) = onward
        && owners(onward.next_hop)
            .into_iter()
            .any(|next| route_loop(routers, owners, route, next, path))
    {
        return true;
    }
    path.pop();
    false
}

/// The netmask of a prefix length (0..=32) as a number.
fn prefix_mask(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

fn guid_for(name: &str) -> [u8; 16] {
    let mut stream = Stream::new(0, name, "smbios-uuid");
    let mut guid = [0u8; 16];
    for chunk in guid.chunks_mut(8) {
        chunk.copy_from_slice(&stream.next_u64().to_le_bytes());
    }
    guid
}

/// Finds `token` where it starts a key or value (after a line start, whitespace, `{`, `,`, `-`).
fn find_token(text: &str, token: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(position) = text[from..].find(token) {
        let at = from + position;
        let boundary = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || matches!(c, '{' | ',' | '-' | '['));
        if boundary {
            return Some(at);
        }
        from = at + token.len();
    }
    None
}

impl Plan {
    /// The topology file's text, as loaded.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// An error located by `anchors` (`["servers:", "wds:", "config:"]`) in this plan's file.
    pub fn error_at(
        &self,
        anchors: &[&str],
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        Planner {
            file: self.file.display().to_string(),
            text: &self.source,
        }
        .at(anchors, message, hint)
    }

    /// `(server node, plugin)` of every server, after overrides: what a run record hashes.
    pub fn server_plugins(&self) -> Vec<(String, String)> {
        self.servers
            .iter()
            .map(|server| (server.config.name.clone(), server.plugin.clone()))
            .collect()
    }

    /// The folder relative `plugin:` paths are read from.
    pub fn base_dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// Runs server `node` with `plugin` instead of its `plugin:` value, so one topology can be
    /// compared across implementations (the CLI's `--plugin NODE=PLUGIN`). `plugin` is read like
    /// `plugin:`: a built-in name, or a `.wasm` path relative to the topology file (the CLI
    /// passes absolute paths). An unknown node is an error listing the server nodes.
    pub fn override_plugin(&mut self, node: &str, plugin: &str) -> Result<(), Error> {
        if let Some(server) = self.servers.iter_mut().find(|s| s.config.name == node) {
            server.plugin = plugin.to_string();
            self.plugin_overrides
                .push((node.to_string(), plugin.to_string()));
            return Ok(());
        }
        let names: Vec<&str> = self
            .servers
            .iter()
            .map(|s| s.config.name.as_str())
            .collect();
        Err(Error {
            file: self.file.display().to_string(),
            line: 0,
            column: 0,
            message: format!("there is no server node `{node}` to run `{plugin}` on"),
            hint: Some(if names.is_empty() {
                "this topology has no server nodes".to_string()
            } else {
                format!("server nodes: {}", names.join(", "))
            }),
        })
    }

    /// Builds the world for `seed`. Only service creation can fail here (a plugin that does not
    /// load); the error points at the server's `plugin:` line.
    pub fn build(&self, seed: u64, services: &dyn ServiceFactory) -> Result<World, Error> {
        self.build_with_draws(seed, services, None)
    }

    /// `build`, with every timing draw reported to `draws` (which may pin draws to their
    /// nominal values; see `engine::rng::Draws`).
    pub fn build_with_draws(
        &self,
        seed: u64,
        services: &dyn ServiceFactory,
        draws: Option<std::sync::Arc<engine::rng::Draws>>,
    ) -> Result<World, Error> {
        let mut world = World::new(seed, self.limits);
        if let Some(draws) = draws {
            world.set_draws(draws);
        }
        if self.min_sim_time_ns > 0 {
            world.hold_until(self.min_sim_time_ns);
        }
        for lan in &self.lans {
            world.add_lan(&lan.name, lan.config.clone());
        }
        for router in &self.routers {
            let attachments = router
                .config
                .interfaces
                .iter()
                .zip(&router.lans)
                .map(|(interface, &lan)| Attachment {
                    lan,
                    mac: interface.mac,
                    addresses: vec![interface.ip],
                    virtual_macs: interface
                        .redundancy
                        .iter()
                        .map(|group| {
                            let mac = if group.use_vmac {
                                group.virtual_mac()
                            } else {
                                interface.mac
                            };
                            (mac, vec![group.virtual_ip])
                        })
                        .collect(),
                })
                .collect();
            let entity = format!("router/{}", router.config.name);
            let relay = world.stream(&entity, "relay-delay");
            let phase = world.stream(&entity, "redundancy-phase");
            let node = Node::Router(Box::new(Router::new(router.config.clone(), relay, phase)));
            world.add_node(&router.config.name, node, attachments, 0);
        }
        let base_dir = self.file.parent().unwrap_or(Path::new("."));
        for server in &self.servers {
            let name = &server.config.name;
            let stream = world.stream(&format!("server/{name}"), "plugin");
            let app = services.create(name, &server.plugin, base_dir, &server.plugin_config, stream).map_err(|message| {
                self.error_at(
                    &["servers:", &format!("{name}:"), "plugin:"],
                    message,
                    "use a built-in plugin name, or a path (relative to the topology file) to a .wasm plugin: a component, or the core module cargo builds with the pxelab SDK",
                )
            })?;
            let attachment = Attachment {
                lan: server.lan,
                mac: server.config.mac,
                addresses: vec![server.config.ip],
                virtual_macs: vec![],
            };
            let node = Node::Server(Box::new(ServerNode::new(server.config.clone(), app)));
            world.add_node(name, node, vec![attachment], 0);
        }
        for client in &self.clients {
            let name = &client.config.name;
            let start_ns = world
                .stream(&format!("client/{name}"), "power-on")
                .sample(&client.power_on);
            let stream = world.stream(&format!("client/{name}"), "firmware");
            let attachment = Attachment {
                lan: client.lan,
                mac: client.config.mac,
                addresses: vec![],
                virtual_macs: vec![],
            };
            world.add_node(
                name,
                Node::Client(PxeClient::new(client.config.clone(), stream)),
                vec![attachment],
                start_ns,
            );
        }
        for (at_ns, fault) in &self.faults {
            let node = |name: &str| world.node_id(name).expect("validated by the planner");
            let fault = match fault {
                FaultPlan::Crash(name) => Fault::Crash { node: node(name) },
                FaultPlan::Shutdown(name) => Fault::Shutdown { node: node(name) },
                FaultPlan::Recover(name) => Fault::Recover { node: node(name) },
                FaultPlan::Service(name, action) => Fault::Service {
                    node: node(name),
                    action: *action,
                },
                FaultPlan::Link {
                    node: name,
                    interface,
                    up,
                } => Fault::Link {
                    node: node(name),
                    interface: *interface,
                    up: *up,
                },
                FaultPlan::Lan { lan, change } => Fault::Lan {
                    lan: *lan,
                    change: change.clone(),
                },
            };
            world.add_fault(*at_ns, fault);
        }
        Ok(world)
    }
}
