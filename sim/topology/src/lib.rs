//! Loads a YAML topology into a plan, and a plan plus a seed into a simulation world. Every
//! mistake in the file comes back as `file:line:col: what` with a hint, never as a panic.

mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use engine::client::{Arch, ClientConfig, PxeClient};
use engine::router::{
    Redundancy, RedundancyProtocol, Route, Router, RouterConfig, RouterInterface,
};
use engine::server::{ServerConfig, ServerNode, same_subnet};
use engine::world::{Attachment, Limits, Node, World};
use engine::{App, Stream};
use smoltcp::wire::EthernetAddress;
use timing::Distribution;

pub use model::Topology;
use model::{ArchSpec, ProtocolSpec, RoleSpec};

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
    latency: Distribution,
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

/// A validated topology: everything parsed and cross-checked, ready to build for any seed.
pub struct Plan {
    pub name: String,
    pub file: PathBuf,
    source: String,
    limits: Limits,
    lans: Vec<LanPlan>,
    routers: Vec<RouterPlan>,
    servers: Vec<ServerPlan>,
    clients: Vec<ClientPlan>,
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
    let topology: Topology = serde_yaml::from_str(text).map_err(|e| yaml_error(path, &e))?;
    Planner {
        file: path.display().to_string(),
        text,
    }
    .plan(path, text, topology)
}

fn yaml_error(path: &Path, error: &serde_yaml::Error) -> Error {
    let (line, column) = error
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let mut message = error.to_string();
    if let Some(index) = message.find(" at line ") {
        message.truncate(index);
    }
    let hint = if message.contains("unknown field") {
        "remove the key or fix its spelling; the accepted keys are listed above"
    } else if message.contains("missing field") {
        "add the key; README.md (Topology format) shows a complete file"
    } else if message.contains("unknown variant") {
        "use one of the values listed above"
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
        for anchor in anchors {
            if let Some(position) = find_token(&self.text[offset..], anchor) {
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
                "",
            )
        })
    }

    fn duration_ns(&self, anchors: &[&str], text: &str) -> Result<u64, Error> {
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
        if let Some(events) = topology.limits.events {
            limits.events_max = events;
        }

        let mut lans = Vec::new();
        let mut lan_index = BTreeMap::new();
        let mut subnets = Vec::new();
        for (name, lan) in &topology.lans {
            let anchors = ["lans:", &format!("{name}:")];
            let latency = self.distribution(&[anchors[0], anchors[1], "latency:"], &lan.latency)?;
            let (network, prefix_len) =
                self.cidr(&[anchors[0], anchors[1], "subnet:"], &lan.subnet)?;
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
                latency,
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
            if same_subnet(ip, *network, *prefix_len) {
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
            let mut interfaces = Vec::new();
            let mut router_lans = Vec::new();
            for interface in &router.interfaces {
                let at = [
                    base[0],
                    base[1],
                    "interfaces:",
                    &format!("name: {}", interface.name),
                ];
                let with = |key: &'static str| [at[0], at[1], at[2], at[3], key];
                let lan = find_lan(&with("lan:"), &interface.lan)?;
                let (ip, prefix_len) = self.cidr(&with("ip:"), &interface.ip)?;
                check_in_lan(&with("ip:"), lan, ip)?;
                claim(&with("ip:"), ip, format!("{name} {}", interface.name))?;
                let mac = match &interface.mac {
                    Some(text) => self.mac(&with("mac:"), text)?,
                    None => next_mac(0x01),
                };
                let helpers = interface
                    .helpers
                    .iter()
                    .map(|helper| self.ipv4(&with("helpers:"), helper))
                    .collect::<Result<Vec<_>, _>>()?;
                let redundancy = match &interface.redundancy {
                    None => None,
                    Some(spec) => {
                        let virtual_ip = self.ipv4(&with("virtual_ip:"), &spec.virtual_ip)?;
                        check_in_lan(&with("virtual_ip:"), lan, virtual_ip)?;
                        let protocol = match spec.protocol {
                            ProtocolSpec::Hsrp => RedundancyProtocol::Hsrp,
                            ProtocolSpec::Vrrp => RedundancyProtocol::Vrrp,
                        };
                        let (limit, range) = match protocol {
                            RedundancyProtocol::Hsrp => (255, "0..255 (HSRP v1)"),
                            RedundancyProtocol::Vrrp => (255, "1..255 (VRRP)"),
                        };
                        if spec.group > limit
                            || (protocol == RedundancyProtocol::Vrrp && spec.group == 0)
                        {
                            return Err(self.at(
                                &with("group:"),
                                format!("group {} is out of range", spec.group),
                                format!("use {range}"),
                            ));
                        }
                        let active = matches!(spec.role, RoleSpec::Active | RoleSpec::Master);
                        Some(Redundancy {
                            protocol,
                            group: spec.group,
                            virtual_ip,
                            active,
                        })
                    }
                };
                router_lans.push(lan);
                interfaces.push(RouterInterface {
                    name: interface.name.clone(),
                    mac,
                    ip,
                    prefix_len,
                    helpers,
                    redundancy,
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
                },
                lans: router_lans,
            });
        }
        // Every redundancy group needs exactly one active member per LAN.
        // (LAN, group) -> members as (router, active, virtual IP)
        let mut groups: BTreeMap<(usize, u16), Vec<Member>> = BTreeMap::new();
        for router in &routers {
            for (interface, lan) in router.config.interfaces.iter().zip(&router.lans) {
                if let Some(group) = &interface.redundancy {
                    groups.entry((*lan, group.group)).or_default().push((
                        router.config.name.clone(),
                        group.active,
                        group.virtual_ip,
                    ));
                }
            }
        }
        for ((lan, group), members) in &groups {
            let actives = members.iter().filter(|(_, active, _)| *active).count();
            let vips: BTreeSet<_> = members.iter().map(|(_, _, vip)| *vip).collect();
            if actives != 1 || vips.len() != 1 {
                let router = &members[0].0;
                return Err(self.at(
                    &["routers:", &format!("{router}:"), "redundancy:"],
                    format!("redundancy group {group} on LAN `{}` has {actives} active routers and {} virtual IPs", lans[*lan].name, vips.len()),
                    "give each group exactly one `role: active` (or `master`) and the same virtual_ip on every member",
                ));
            }
        }

        let mut servers = Vec::new();
        for (name, server) in &topology.servers {
            let base = ["servers:", &format!("{name}:")];
            let with = |key: &'static str| [base[0], base[1], key];
            unique(&base, name)?;
            let lan = find_lan(&with("lan:"), &server.lan)?;
            let (ip, prefix_len) = self.cidr(&with("ip:"), &server.ip)?;
            check_in_lan(&with("ip:"), lan, ip)?;
            claim(&with("ip:"), ip, name.clone())?;
            let gateway = server
                .gateway
                .as_deref()
                .map(|g| self.ipv4(&with("gateway:"), g))
                .transpose()?;
            if let Some(gateway) = gateway {
                check_in_lan(&with("gateway:"), lan, gateway)?;
            }
            let mac = match &server.mac {
                Some(text) => self.mac(&with("mac:"), text)?,
                None => next_mac(0x02),
            };
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
            servers.push(ServerPlan {
                config: ServerConfig {
                    name: name.clone(),
                    mac,
                    ip,
                    prefix_len,
                    gateway,
                    service_name: server.service.name.clone().unwrap_or_else(|| name.clone()),
                    restart_after_ns,
                },
                lan,
                plugin: server.plugin.clone(),
                plugin_config,
            });
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
            for index in 1..=count {
                let name = if spec.count.is_some() {
                    format!("{}{index}", spec.name)
                } else {
                    spec.name.clone()
                };
                unique(&base, &name)?;
                let mac = match &spec.mac {
                    Some(text) => self.mac(&with("mac:"), text)?,
                    None => next_mac(0x03),
                };
                let guid = guid_for(&name);
                clients.push(ClientPlan {
                    config: ClientConfig {
                        name,
                        mac,
                        arch,
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

        Ok(Plan {
            name: topology.name,
            file: path.to_path_buf(),
            source: text.to_string(),
            limits,
            lans,
            routers,
            servers,
            clients,
        })
    }
}

/// A redundancy group member: (router, active, virtual IP).
type Member = (String, bool, Ipv4Addr);

/// A stable SMBIOS UUID per client name.
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

    /// Builds the world for `seed`. Only service creation can fail here (a plugin that does not
    /// load); the error points at the server's `plugin:` line.
    pub fn build(&self, seed: u64, services: &dyn ServiceFactory) -> Result<World, Error> {
        let mut world = World::new(seed, self.limits);
        for lan in &self.lans {
            world.add_lan(&lan.name, lan.latency.clone());
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
                        .filter(|group| group.active)
                        .map(|group| (group.virtual_mac(), vec![group.virtual_ip]))
                        .collect(),
                })
                .collect();
            let stream = world.stream(&format!("router/{}", router.config.name), "relay-delay");
            let node = Node::Router(Router::new(router.config.clone(), stream));
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
                    "use a built-in plugin name, or a path to a .wasm component relative to the topology file",
                )
            })?;
            let attachment = Attachment {
                lan: server.lan,
                mac: server.config.mac,
                addresses: vec![server.config.ip],
                virtual_macs: vec![],
            };
            let node = Node::Server(ServerNode::new(server.config.clone(), app));
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
        Ok(world)
    }
}
