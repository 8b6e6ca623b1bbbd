//! The topology file format, as serde reads it. Unknown keys are errors, so a typo never
//! silently falls back to a default.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub limits: LimitsSpec,
    pub lans: BTreeMap<String, LanSpec>,
    #[serde(default)]
    pub routers: BTreeMap<String, RouterSpec>,
    #[serde(default)]
    pub servers: BTreeMap<String, ServerSpec>,
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Simulated time after which the run stops (a duration such as `600s`).
    pub sim_time: Option<String>,
    /// Events after which the run stops.
    pub events: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanSpec {
    /// `10.1.0.0/24`
    pub subnet: String,
    /// One-way latency of each delivered frame, a distribution (`uniform(20us, 80us)`).
    pub latency: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    /// Control-plane time to relay one DHCP message, a distribution.
    pub relay_delay: String,
    /// Relayed requests whose `hops` reached this are dropped (ISC dhcrelay's default is 10).
    #[serde(default)]
    pub relay_hops_max: Option<u8>,
    pub interfaces: Vec<InterfaceSpec>,
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSpec {
    pub name: String,
    pub lan: String,
    /// The interface's own address with its prefix: `10.1.0.2/24`.
    pub ip: String,
    #[serde(default)]
    pub mac: Option<String>,
    /// DHCP relay targets ("ip helper-address").
    #[serde(default)]
    pub helpers: Vec<String>,
    #[serde(default)]
    pub redundancy: Option<RedundancySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedundancySpec {
    pub protocol: ProtocolSpec,
    pub group: u16,
    /// The virtual IP clients use as their gateway.
    pub virtual_ip: String,
    /// `active` (HSRP) / `master` (VRRP), or `standby` / `backup`.
    pub role: RoleSpec,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolSpec {
    Hsrp,
    Vrrp,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RoleSpec {
    Active,
    Master,
    Standby,
    Backup,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// `10.9.0.0/16`, or `0.0.0.0/0` for the default route.
    pub to: String,
    pub via: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub lan: String,
    pub ip: String,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    /// A built-in plugin name (`dhcp-server`, `wds-sccm2007`, `wds-fixed`) or a path to a
    /// `.wasm` component, relative to the topology file.
    pub plugin: String,
    #[serde(default)]
    pub service: ServiceSpec,
    /// Passed to the plugin's `init` as key/value strings.
    #[serde(default)]
    pub config: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Display name in Service Control Manager messages.
    pub name: Option<String>,
    /// Recovery action: restart this long after a crash (Windows' default for WDS: 120000ms).
    /// Absent: the service stays down.
    pub restart_after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub name: String,
    /// Several identical clients `name1..nameN`.
    #[serde(default)]
    pub count: Option<u32>,
    pub lan: String,
    #[serde(default)]
    pub arch: ArchSpec,
    /// When the machine is switched on, a distribution.
    pub power_on: String,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub tftp_blksize: Option<u16>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ArchSpec {
    #[default]
    Bios,
    EfiIa32,
    EfiBc,
    EfiX64,
}
