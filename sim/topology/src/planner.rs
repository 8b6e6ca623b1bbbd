//! The planner: checks a parsed topology section by section (limits, LANs, routers and their
//! redundancy groups and routes, servers, clients, faults, expectations) and turns it into a
//! `Plan`. Each section reads its part of the file and what the sections before it planned; the
//! first mistake ends planning with an error located in the file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use engine::Stream;
use engine::client::{Arch, ClientConfig};
use engine::firmware::Firmware;
use engine::frame;
use engine::rng::StreamName;
use engine::router::RouterConfig;
use engine::server::ServerConfig;
use engine::subnet::{self, Role};
use engine::world::{LanChange, LanConfig, Limits, ServiceAction};
use smoltcp::wire::EthernetAddress;
use timing::Distribution;

use crate::error::{Error, ErrorKind};
use crate::files::ServedFile;
use crate::model::{self, ArchSpec, ClientSpec, LanSpec, LimitsSpec, ServerSpec, Topology};
use crate::source::Source;
use crate::{Expectations, Plan};

/// The smallest MTU a LAN may have: every IPv4 host takes 576-byte packets (RFC 791).
const MTU_MIN: u16 = 576;

pub(crate) struct LanPlan {
    pub name: String,
    pub config: LanConfig,
    pub network: Ipv4Addr,
    pub prefix_len: u8,
    /// The TAP device the LAN is bridged to (`bridge: { tap: ... }`).
    pub bridge: Option<String>,
}

/// The keys of a host with one interface of its own on a LAN, as `Planner::host` reads them.
pub(crate) struct HostKeys<'a> {
    pub lan: &'a str,
    pub ip: &'a str,
    pub gateway: Option<&'a str>,
    pub mac: Option<&'a str>,
}

/// A host's interface: its LAN (an index into the planned LANs), address, gateway and MAC.
pub(crate) struct HostInterface {
    pub lan: usize,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: EthernetAddress,
}

pub(crate) struct RouterPlan {
    pub config: RouterConfig,
    /// The LAN of each interface, in the order of `config.interfaces`.
    pub lans: Vec<usize>,
}

pub(crate) struct ServerPlan {
    pub config: ServerConfig,
    pub lan: usize,
    pub plugin: String,
    pub plugin_config: Vec<(String, String)>,
    /// `files:`, read.
    pub files: Vec<ServedFile>,
    /// The service a fault restarts as `server/<id>`.
    pub service_id: String,
}

pub(crate) struct ClientPlan {
    pub config: ClientConfig,
    pub lan: usize,
    pub power_on: Distribution,
}

pub(crate) struct InjectorPlan {
    pub name: String,
    pub config: engine::scripted::InjectorConfig,
    pub lan: usize,
    /// When the first round goes out.
    pub start: Distribution,
}

/// A fault with its target named; node ids are only known once the world is built.
pub(crate) enum FaultPlan {
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

/// Simulated CPU time per unit of wasm fuel: wasmtime charges about one unit per wasm operator,
/// and a server core runs a few of them per nanosecond.
const CPU_NS_PER_FUEL_DEFAULT: f64 = 0.5;

/// What has been planned so far, and what the file has claimed: names, addresses and MACs
/// must each be used once.
pub(crate) struct Planner<'a> {
    pub source: &'a Source,
    pub lans: Vec<LanPlan>,
    lan_index: BTreeMap<String, usize>,
    pub routers: Vec<RouterPlan>,
    pub servers: Vec<ServerPlan>,
    pub clients: Vec<ClientPlan>,
    names: BTreeSet<String>,
    addresses: BTreeMap<Ipv4Addr, String>,
    macs: BTreeMap<EthernetAddress, String>,
    /// MACs made for interfaces without `mac:`, numbered in file order.
    macs_made: u32,
    /// The topology file's folder: relative `files:` paths start there.
    base_dir: PathBuf,
}

/// Checks `topology` (read from `source`, at `path`) and plans it.
pub(crate) fn plan(source: &Source, path: &Path, topology: Topology) -> Result<Plan, Error> {
    let mut planner = Planner::new(source);
    planner.base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let (limits, hold_until_ns) = planner.limits(&topology.limits)?;
    planner.plan_lans(&topology.lans)?;
    planner.plan_routers(&topology.routers)?;
    planner.elect()?;
    planner.check_routes(&topology.routers)?;
    planner.plan_servers(&topology.servers)?;
    planner.check_helpers(&topology.routers)?;
    planner.plan_clients(&topology.clients)?;
    // After every other node, so the MACs made for them do not change.
    let injectors = planner.plan_injectors(&topology.injectors)?;
    let faults = planner.plan_faults(&topology.faults)?;
    let expect = planner.expectations(&topology.expect)?;
    let scenario = match &topology.scenario {
        Some(spec) => Some(planner.scenario(spec)?),
        None => None,
    };
    Ok(Plan {
        name: topology.name,
        file: path.to_path_buf(),
        source: source.text().clone(),
        limits,
        hold_until_ns,
        lans: planner.lans,
        routers: planner.routers,
        servers: planner.servers,
        clients: planner.clients,
        injectors,
        faults,
        plugin_overrides: Vec::new(),
        expect,
        scenario,
    })
}

impl<'a> Planner<'a> {
    fn new(source: &'a Source) -> Planner<'a> {
        Planner {
            source,
            lans: Vec::new(),
            lan_index: BTreeMap::new(),
            routers: Vec::new(),
            servers: Vec::new(),
            clients: Vec::new(),
            names: BTreeSet::new(),
            addresses: BTreeMap::new(),
            macs: BTreeMap::new(),
            macs_made: 0,
            base_dir: PathBuf::new(),
        }
    }

    /// The run's limits and its `min_sim_time`.
    fn limits(&self, spec: &LimitsSpec) -> Result<(Limits, u64), Error> {
        let source = self.source;
        let mut limits = Limits::default();
        if let Some(sim_time) = &spec.sim_time {
            limits.sim_time_max_ns = source.duration_ns(&["limits:", "sim_time:"], sim_time)?;
        }
        if limits.sim_time_max_ns == 0 {
            return Err(source.value(
                &["limits:", "sim_time:"],
                "sim_time is zero, so nothing would run",
                "give the run time to boot, like `600s`",
            ));
        }
        if let Some(events) = spec.events {
            if events == 0 {
                return Err(source.value(
                    &["limits:", "events:"],
                    "an events limit of zero stops every run before it starts",
                    "drop the key for the default, or allow some millions of events",
                ));
            }
            limits.events_max = events;
        }
        let hold_until_ns = match &spec.min_sim_time {
            Some(text) => source.duration_ns(&["limits:", "min_sim_time:"], text)?,
            None => 0,
        };
        if hold_until_ns > limits.sim_time_max_ns {
            return Err(source.value(
                &["limits:", "min_sim_time:"],
                "min_sim_time is longer than sim_time",
                "the run stops at sim_time; make min_sim_time shorter",
            ));
        }
        Ok((limits, hold_until_ns))
    }

    fn plan_lans(&mut self, specs: &BTreeMap<String, LanSpec>) -> Result<(), Error> {
        for (name, spec) in specs {
            let lan = self.lan(name, spec)?;
            self.lan_index.insert(name.clone(), self.lans.len());
            self.lans.push(lan);
        }
        Ok(())
    }

    /// One LAN: its impairments, and a subnet of its own.
    fn lan(&self, name: &str, spec: &LanSpec) -> Result<LanPlan, Error> {
        let source = self.source;
        let anchors = ["lans:", &format!("{name}:")];
        let config = self.lan_config(&anchors, spec)?;
        let at = [anchors[0], anchors[1], "subnet:"];
        let (network, prefix_len) = source.cidr(&at, &spec.subnet)?;
        if subnet::has_host_bits(network, prefix_len) {
            let base = subnet::network(network, prefix_len);
            return Err(source.value(
                &at,
                format!("subnet {} of LAN `{name}` has host bits set", spec.subnet),
                format!("write the network address: {base}/{prefix_len}"),
            ));
        }
        for other in &self.lans {
            let shorter = prefix_len.min(other.prefix_len);
            if subnet::same_subnet(network, other.network, shorter) {
                return Err(source.conflict(
                    &at,
                    format!(
                        "subnet {} of LAN `{name}` overlaps LAN `{}`",
                        spec.subnet, other.name
                    ),
                    "give every LAN its own subnet",
                ));
            }
        }
        let bridge = match &spec.bridge {
            Some(bridge) if !is_interface_name(&bridge.tap) => {
                return Err(source.value(
                    &[anchors[0], anchors[1], "bridge:", "tap:"],
                    format!("`{}` is not a Linux interface name", bridge.tap),
                    INTERFACE_NAME_HINT,
                ));
            }
            Some(bridge) => Some(bridge.tap.clone()),
            None => None,
        };
        Ok(LanPlan {
            name: name.to_string(),
            config,
            network,
            prefix_len,
            bridge,
        })
    }

    fn lan_config(&self, anchors: &[&str; 2], lan: &LanSpec) -> Result<LanConfig, Error> {
        let source = self.source;
        let with = |key: &'static str| [anchors[0], anchors[1], key];
        let mut config =
            LanConfig::with_latency(source.distribution(&with("latency:"), &lan.latency)?);
        if let Some(loss) = lan.loss {
            config.loss = source.probability(&with("loss:"), loss)?;
        }
        if let Some(duplicate) = lan.duplicate {
            config.duplicate = source.probability(&with("duplicate:"), duplicate)?;
        }
        if let Some(reorder) = lan.reorder {
            config.reorder = source.probability(&with("reorder:"), reorder)?;
        }
        if let Some(delay) = &lan.reorder_delay {
            config.reorder_delay = source.distribution(&with("reorder_delay:"), delay)?;
        }
        if let Some(aging) = &lan.mac_aging {
            config.mac_aging_ns = source.duration_ns(&with("mac_aging:"), aging)?;
        }
        if let Some(mtu) = lan.mtu {
            if !(MTU_MIN..=frame::MTU as u16).contains(&mtu) {
                return Err(source.value(
                    &with("mtu:"),
                    format!("MTU {mtu} is outside {MTU_MIN}..{}", frame::MTU),
                    "IPv4 needs 576 (RFC 791); Ethernet carries 1500, a GRE tunnel 1476",
                ));
            }
            config.mtu = usize::from(mtu);
        }
        Ok(config)
    }

    /// The index of the LAN named `name`.
    pub fn find_lan(&self, anchors: &[&str], name: &str) -> Result<usize, Error> {
        self.lan_index.get(name).copied().ok_or_else(|| {
            let known: Vec<&str> = self.lan_index.keys().map(String::as_str).collect();
            self.source.unknown(
                anchors,
                format!("unknown LAN `{name}`"),
                format!("the LANs are: {}", known.join(", ")),
            )
        })
    }

    /// `ip` is a host address of LAN `lan`.
    pub fn check_in_lan(&self, anchors: &[&str], lan: usize, ip: Ipv4Addr) -> Result<(), Error> {
        let LanPlan {
            name,
            network,
            prefix_len,
            ..
        } = &self.lans[lan];
        if !subnet::contains(*network, *prefix_len, ip) {
            return Err(self.source.conflict(
                anchors,
                format!("{ip} is not in LAN `{name}` ({network}/{prefix_len})"),
                "pick an address inside the LAN's subnet",
            ));
        }
        match subnet::role(ip, *prefix_len) {
            Role::Host => Ok(()),
            role => Err(self.source.value(
                anchors,
                format!("{ip} is the {} address of LAN `{name}`", role.as_str()),
                "pick a host address inside the LAN's subnet",
            )),
        }
    }

    /// An interface's prefix length is its LAN's.
    pub fn check_prefix(&self, anchors: &[&str], lan: usize, prefix_len: u8) -> Result<(), Error> {
        let lan = &self.lans[lan];
        if prefix_len == lan.prefix_len {
            return Ok(());
        }
        let (network, lan_prefix_len) = (lan.network, lan.prefix_len);
        Err(self.source.conflict(
            anchors,
            format!(
                "prefix /{prefix_len} differs from LAN `{}` ({network}/{lan_prefix_len})",
                lan.name
            ),
            format!("write the LAN's prefix length, /{lan_prefix_len}"),
        ))
    }

    /// Claims the name of a router, server, client or injector.
    pub fn claim_name(&mut self, anchors: &[&str], name: &str) -> Result<(), Error> {
        if !self.names.insert(name.to_string()) {
            return Err(self.source.conflict(
                anchors,
                format!("the name `{name}` is used twice"),
                "routers, servers, clients and injectors need distinct names",
            ));
        }
        Ok(())
    }

    /// Claims an interface's address for `owner`.
    pub fn claim_address(
        &mut self,
        anchors: &[&str],
        ip: Ipv4Addr,
        owner: String,
    ) -> Result<(), Error> {
        if let Some(previous) = self.addresses.insert(ip, owner.clone()) {
            return Err(self.source.conflict(
                anchors,
                format!("{ip} is used by both {previous} and {owner}"),
                "give every interface its own address",
            ));
        }
        Ok(())
    }

    /// The MAC of `owner`'s interface: `spec` read at `with_mac`, or else one made up (`kind`
    /// 1 routers, 2 servers, 3 clients, 5 injectors) and reported at `anchors` if it clashes.
    pub fn claim_mac(
        &mut self,
        anchors: &[&str],
        with_mac: &[&str],
        spec: Option<&str>,
        kind: u8,
        owner: String,
    ) -> Result<EthernetAddress, Error> {
        let (mac, at) = match spec {
            Some(text) => (self.source.mac(with_mac, text)?, with_mac),
            None => {
                self.macs_made += 1;
                let [_, a, b, c] = self.macs_made.to_be_bytes();
                (EthernetAddress([0x02, 0x50, kind, a, b, c]), anchors)
            }
        };
        if let Some(previous) = self.macs.insert(mac, owner.clone()) {
            return Err(self.source.conflict(
                at,
                format!("MAC address {mac} is used by both {previous} and {owner}"),
                "give every interface its own MAC address, or drop `mac:` to get one",
            ));
        }
        Ok(mac)
    }

    /// Claims `name` and reads the one interface of the host at `base` (a server, an injector):
    /// `ip:`, a host address of the LAN `lan:` names with that LAN's prefix, that no one else
    /// has; the `gateway:` if any; and `mac:`, or else a MAC made up of `mac_kind`.
    pub(crate) fn host(
        &mut self,
        base: &[&str; 2],
        name: &str,
        keys: HostKeys<'_>,
        mac_kind: u8,
    ) -> Result<HostInterface, Error> {
        let with = |key: &'static str| [base[0], base[1], key];
        self.claim_name(base, name)?;
        let lan = self.find_lan(&with("lan:"), keys.lan)?;
        let (ip, prefix_len) = self.source.cidr(&with("ip:"), keys.ip)?;
        self.check_in_lan(&with("ip:"), lan, ip)?;
        self.check_prefix(&with("ip:"), lan, prefix_len)?;
        self.claim_address(&with("ip:"), ip, name.to_string())?;
        let gateway = match keys.gateway {
            Some(text) => Some(self.gateway(&with("gateway:"), lan, text)?),
            None => None,
        };
        let mac = self.claim_mac(base, &with("mac:"), keys.mac, mac_kind, name.into())?;
        Ok(HostInterface {
            lan,
            ip,
            prefix_len,
            gateway,
            mac,
        })
    }

    fn plan_servers(&mut self, specs: &BTreeMap<String, ServerSpec>) -> Result<(), Error> {
        for (name, spec) in specs {
            let server = self.server(name, spec)?;
            self.servers.push(server);
        }
        Ok(())
    }

    /// One server: its interface, gateway, CPU, service and plugin configuration.
    fn server(&mut self, name: &str, spec: &ServerSpec) -> Result<ServerPlan, Error> {
        let source = self.source;
        let base = ["servers:", &format!("{name}:")];
        let with = |key: &'static str| [base[0], base[1], key];
        let keys = HostKeys {
            lan: &spec.lan,
            ip: &spec.ip,
            gateway: spec.gateway.as_deref(),
            mac: spec.mac.as_deref(),
        };
        let HostInterface {
            lan,
            ip,
            prefix_len,
            gateway,
            mac,
        } = self.host(&base, name, keys, 0x02)?;
        let cpu_ns_per_fuel = spec.cpu_ns_per_fuel.unwrap_or(CPU_NS_PER_FUEL_DEFAULT);
        if !(0.0..=1_000.0).contains(&cpu_ns_per_fuel) {
            return Err(source.value(
                &with("cpu_ns_per_fuel:"),
                format!("cpu_ns_per_fuel {cpu_ns_per_fuel} is outside 0..1000"),
                "about 0.3 to 1 ns per unit of wasm work is a real server; 0 makes plugin work free",
            ));
        }
        let restart_after_ns = spec
            .service
            .restart_after
            .as_deref()
            .map(|text| source.duration_ns(&with("restart_after:"), text))
            .transpose()?;
        Ok(ServerPlan {
            config: ServerConfig {
                name: name.to_string(),
                mac,
                ip,
                prefix_len,
                gateway,
                service_name: spec.service.name.clone().unwrap_or_else(|| name.into()),
                restart_after_ns,
                cpu_ps_per_unit: (cpu_ns_per_fuel * 1000.0).round() as u64,
                blocked_udp_ports: spec.firewall_blocks_udp.clone(),
            },
            lan,
            plugin: spec.plugin.clone(),
            plugin_config: self.plugin_config(&base, spec)?,
            files: crate::files::read(source, name, &self.base_dir, &spec.files)?,
            service_id: spec.service.id.clone().unwrap_or_else(|| name.into()),
        })
    }

    /// A server's gateway: an address on its LAN that a router has.
    pub(crate) fn gateway(
        &self,
        anchors: &[&str],
        lan: usize,
        text: &str,
    ) -> Result<Ipv4Addr, Error> {
        let gateway = self.source.ipv4(anchors, text)?;
        self.check_in_lan(anchors, lan, gateway)?;
        let routed = self.routers.iter().any(|router| {
            router.config.interfaces.iter().any(|i| {
                i.ip == gateway
                    || i.redundancy
                        .as_ref()
                        .is_some_and(|g| g.virtual_ip == gateway)
            })
        });
        if !routed {
            return Err(self.source.unknown(
                anchors,
                format!("no router has the gateway address {gateway}"),
                "use a router interface's address or its redundancy group's virtual_ip",
            ));
        }
        Ok(gateway)
    }

    /// A server's `config:` as the key/value strings plugins receive.
    fn plugin_config(
        &self,
        base: &[&str; 2],
        spec: &ServerSpec,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut plugin_config = Vec::new();
        for (key, value) in &spec.config {
            let text = match value {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(self.source.value(
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
        Ok(plugin_config)
    }

    fn plan_clients(&mut self, specs: &[ClientSpec]) -> Result<(), Error> {
        for spec in specs {
            self.client(spec)?;
        }
        if self.clients.is_empty() && self.lans.iter().all(|lan| lan.bridge.is_none()) {
            return Err(self.source.error(
                ErrorKind::Syntax,
                &["clients:"],
                "the topology has no clients",
                "add at least one entry under `clients:`, or bridge a LAN to real machines (`bridge: { tap: pxe0 }`)",
            ));
        }
        Ok(())
    }

    /// One `clients:` entry: one client, or `count` of them named `<name>1`, `<name>2`...
    fn client(&mut self, spec: &ClientSpec) -> Result<(), Error> {
        let source = self.source;
        let base = ["clients:", &format!("name: {}", spec.name)];
        let with = |key: &'static str| [base[0], base[1], key];
        let lan = self.find_lan(&with("lan:"), &spec.lan)?;
        let power_on = source.distribution(&with("power_on:"), &spec.power_on)?;
        let count = spec.count.unwrap_or(1);
        if count == 0 || count > 100_000 {
            return Err(source.value(
                &with("count:"),
                format!("count {count} is out of range"),
                "use 1..100000",
            ));
        }
        if count > 1 && spec.mac.is_some() {
            return Err(source.conflict(
                &with("mac:"),
                "a fixed MAC address with count > 1",
                "drop `mac:` so each client gets its own",
            ));
        }
        let tftp_blksize = spec.tftp_blksize.unwrap_or(1456);
        if !(8..=65464).contains(&tftp_blksize) {
            return Err(source.value(
                &with("tftp_blksize:"),
                format!("TFTP block size {tftp_blksize} is outside 8..65464 (RFC 2348)"),
                "firmware commonly asks for 1456 or 1468",
            ));
        }
        let (arch, firmware) = self.firmware(&with("firmware:"), spec)?;
        for index in 1..=count {
            let name = if spec.count.is_some() {
                format!("{}{index}", spec.name)
            } else {
                spec.name.clone()
            };
            self.claim_name(&base, &name)?;
            let mac = self.claim_mac(
                &base,
                &with("mac:"),
                spec.mac.as_deref(),
                0x03,
                name.clone(),
            )?;
            let guid = smbios_uuid(&name);
            self.clients.push(ClientPlan {
                config: ClientConfig {
                    name,
                    mac,
                    arch,
                    firmware,
                    guid,
                    tftp_blksize,
                },
                lan,
                power_on: power_on.clone(),
            });
        }
        Ok(())
    }

    /// A client's architecture, and the firmware profile it runs (`firmware:` is at
    /// `anchors`).
    fn firmware(&self, anchors: &[&str], spec: &ClientSpec) -> Result<(Arch, Firmware), Error> {
        let arch = match spec.arch {
            ArchSpec::Bios => Arch::Bios,
            ArchSpec::EfiIa32 => Arch::EfiIa32,
            ArchSpec::EfiBc => Arch::EfiBc,
            ArchSpec::EfiX64 => Arch::EfiX64,
        };
        let firmware = match &spec.firmware {
            None => arch.default_firmware(),
            Some(name) => name.trim().parse::<Firmware>().map_err(|unknown| {
                self.source.value(
                    anchors,
                    unknown.to_string(),
                    "edk2 behaves like OVMF and UEFI PCs, ipxe like the iPXE ROM of QEMU and many NICs, pxe-spec like the PXE 2.1 text",
                )
            })?,
        };
        Ok((arch, firmware))
    }

    fn scenario(&self, spec: &model::ScenarioSpec) -> Result<crate::Scenario, Error> {
        let file = spec.fix.file.trim();
        let is_yaml = file.ends_with(".yaml") || file.ends_with(".yml");
        if !is_yaml || file.contains('/') || file.contains('\\') {
            return Err(self.source.value(
                &["scenario:", "fix:", "file:"],
                format!("`{file}` is not a topology file name beside this one"),
                "name the fix variant's file in the same folder, e.g. `relay-forward-delay-fix.yaml`",
            ));
        }
        for (key, text) in [
            ("title:", &spec.title),
            ("source:", &spec.source),
            ("symptom:", &spec.symptom),
        ] {
            if text.trim().is_empty() {
                return Err(self.source.value(
                    &["scenario:", key],
                    format!("the scenario's `{key}` is empty"),
                    "say it in a sentence: the table of `pxelab scenarios` shows it",
                ));
            }
        }
        Ok(crate::Scenario {
            title: spec.title.trim().to_string(),
            source: spec.source.trim().to_string(),
            symptom: spec.symptom.trim().to_string(),
            fix_file: file.to_string(),
            fix_change: spec.fix.change.trim().to_string(),
        })
    }

    fn expectations(&self, spec: &model::ExpectSpec) -> Result<Expectations, Error> {
        let rate = |key: &str, value: Option<f64>| -> Result<Option<f64>, Error> {
            match value {
                Some(rate) if !(rate > 0.0 && rate <= 1.0) => Err(self.source.value(
                    &["expect:", &format!("{key}:")],
                    format!("`{key}: {rate}` is not a rate between 0 (excluded) and 1"),
                    "write a fraction: 0.05 is 5%",
                )),
                other => Ok(other),
            }
        };
        let boot_within_ns = match &spec.boot_within {
            Some(text) => Some(
                self.source
                    .duration_ns(&["expect:", "boot_within:"], text)?,
            ),
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
}

/// A stable SMBIOS UUID per client name.
fn smbios_uuid(name: &str) -> [u8; 16] {
    let mut stream = Stream::named(0, StreamName::SmbiosUuid { client: name }, None);
    let mut guid = [0u8; 16];
    for chunk in guid.chunks_mut(8) {
        chunk.copy_from_slice(&stream.next_u64().to_le_bytes());
    }
    guid
}

/// A Linux interface name: 1 to 15 bytes (IFNAMSIZ less the NUL), no `/`, `:` or white space.
pub(crate) fn is_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c == ':')
}

pub(crate) const INTERFACE_NAME_HINT: &str =
    "1 to 15 characters without `/`, `:` or spaces, e.g. `pxe0`";
