//! The topology file format, as serde reads it. Unknown keys are errors, so a typo never
//! silently falls back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub limits: LimitsSpec,
    #[serde(deserialize_with = "unique_keys")]
    #[schemars(with = "BTreeMap<String, LanSpec>")]
    pub lans: BTreeMap<String, LanSpec>,
    #[serde(default, deserialize_with = "unique_keys")]
    #[schemars(with = "BTreeMap<String, RouterSpec>")]
    pub routers: BTreeMap<String, RouterSpec>,
    #[serde(default, deserialize_with = "unique_keys")]
    #[schemars(with = "BTreeMap<String, ServerSpec>")]
    pub servers: BTreeMap<String, ServerSpec>,
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
    /// Hosts that send UDP datagrams of their own at a period (a load balancer's health
    /// monitor, a scanner): traffic nothing in the boot process asked for.
    #[serde(default, deserialize_with = "unique_keys")]
    #[schemars(with = "BTreeMap<String, InjectorSpec>")]
    pub injectors: BTreeMap<String, InjectorSpec>,
    /// Things that happen to the network at given simulated times.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// What a good run looks like; `run` and `sweep` exit with 1 when it does not hold.
    #[serde(default)]
    pub expect: ExpectSpec,
    /// The documented failure this topology reproduces (`pxelab scenarios` lists them).
    #[serde(default)]
    pub scenario: Option<ScenarioSpec>,
}

/// A documented boot-infrastructure failure: where it is described, what people saw, and the
/// variant of this network with the documented fix.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// A short title for the table.
    pub title: String,
    /// Where the failure is documented (a KB article, an issue, a manual).
    pub source: String,
    /// What the documented symptom is.
    pub symptom: String,
    pub fix: FixSpec,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixSpec {
    /// The topology with the fix, relative to this file.
    pub file: String,
    /// What the fix changes, in a few words.
    pub change: String,
}

/// Expectations: per run (checked for every seed) and per sweep (checked on the rates).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Every client boots (default true).
    pub every_client_boots: Option<bool>,
    /// Every client has booted by this simulated time, e.g. `60s`.
    pub boot_within: Option<String>,
    /// No service crashes (default true).
    pub no_crashes: Option<bool>,
    /// Sweeps: the fraction of runs with a crash stays below this (0..1).
    pub crash_rate_below: Option<f64>,
    /// Sweeps: the fraction of runs that fail a per-run expectation stays below this (0..1);
    /// without it, a sweep fails on the first such run.
    pub failure_rate_below: Option<f64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Simulated time after which the run stops (a duration such as `600s`).
    pub sim_time: Option<String>,
    /// Events after which the run stops.
    pub events: Option<u64>,
    /// Keep running at least this long, even when nothing but protocol keepalives is left (to
    /// watch a failover or a preemption settle after the clients are done).
    pub min_sim_time: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LanSpec {
    /// `10.1.0.0/24`
    pub subnet: String,
    /// One-way latency of each delivered frame, a distribution (`uniform(20us, 80us)`).
    pub latency: String,
    /// Probability (0..1) that a delivery is lost.
    #[serde(default)]
    pub loss: Option<f64>,
    /// Probability (0..1) that a delivery arrives twice.
    #[serde(default)]
    pub duplicate: Option<f64>,
    /// Probability (0..1) that a delivery is held back by `reorder_delay`, out of FIFO order.
    #[serde(default)]
    pub reorder: Option<f64>,
    /// Extra delay of a reordered delivery, a distribution (default `1ms`).
    #[serde(default)]
    pub reorder_delay: Option<String>,
    /// How long the switch remembers the port of a MAC it learned (default `300s`, Cisco's
    /// `mac address-table aging-time`).
    #[serde(default)]
    pub mac_aging: Option<String>,
    /// The largest IPv4 packet the LAN carries, in bytes (default 1500, Ethernet's): a WAN
    /// link or tunnel has less (`ip mtu 1400` on a GRE tunnel, say). A larger packet is
    /// dropped where it would enter the LAN: pxelab never fragments, and every packet it
    /// builds has DF set, so a router drops it as RFC 1191 says.
    #[serde(default)]
    pub mtu: Option<u16>,
    /// Attach the LAN to a real interface of this machine (`pxelab live`): frames the LAN
    /// carries go out on it, frames from it enter the LAN. Other commands run the LAN without.
    #[serde(default)]
    pub bridge: Option<BridgeSpec>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeSpec {
    /// The TAP device (`ip tuntap add pxe0 mode tap`), at most 15 characters.
    pub tap: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    /// Control-plane time to relay one DHCP message, a distribution.
    pub relay_delay: String,
    /// Relayed requests whose `hops` reached this are dropped (ISC dhcrelay's default is 10).
    #[serde(default)]
    pub relay_hops_max: Option<u8>,
    /// Client requests whose `secs` is below this are not relayed (Alcatel-Lucent OmniSwitch
    /// `ip helper forward delay`); default 0, every request is relayed.
    #[serde(default)]
    pub relay_secs_min: Option<u16>,
    pub interfaces: Vec<InterfaceSpec>,
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// UDP ports whose broadcasts go to the helpers (`ip forward-protocol udp`); Cisco's
    /// default list when absent: 37, 49, 53, 67, 68, 69, 137, 138.
    #[serde(default)]
    pub forward_udp_ports: Option<Vec<u16>>,
    /// What the router runs, which sets the details real gear differs in: `ios` (default;
    /// Cisco IOS/IOS-XE: TTL 255, the virtual MAC, one gratuitous ARP), `keepalived` (Linux with
    /// keepalived and ISC dhcrelay: TTL 64, VRRP at the interface's own MAC, 5 + 5 gratuitous
    /// ARPs, adverts numbered per instance without DF), `frr` (Linux with FRR's vrrpd: TTL 64,
    /// the virtual MAC, one gratuitous ARP).
    #[serde(default)]
    pub platform: Option<String>,
    /// The IP source of relayed requests: `outgoing` (default: the interface toward the
    /// server, as the kernel picks it for ISC dhcrelay) or `receiving` (the client-side
    /// interface, the giaddr's; Cisco's `ip dhcp relay source-interface` set to it).
    #[serde(default)]
    pub relay_source: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
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
    /// Relay only while this interface's group is HSRP Active / VRRP Master (Cisco's
    /// `ip helper-address ... redundancy`).
    #[serde(default)]
    pub helpers_follow_redundancy: bool,
    /// Add relay agent information (option 82) to the requests this interface relays first.
    #[serde(default)]
    pub option82: Option<Option82Spec>,
    /// Further addresses of the interface with their prefixes (`ip address ... secondary`):
    /// `[10.1.1.1/24]`.
    #[serde(default)]
    pub secondary_ips: Vec<String>,
    /// Relay each request once per address of the interface, primary and secondaries, each
    /// copy with that address as giaddr (default: once, from the primary address).
    #[serde(default)]
    pub relay_each_address: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Option82Spec {
    /// Sub-option 1; default: the interface name.
    pub circuit_id: Option<String>,
    /// Sub-option 2; default: the router name.
    pub remote_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedundancySpec {
    pub protocol: ProtocolSpec,
    /// HSRP 1 (default) or 2; VRRP 2 (default) or 3.
    #[serde(default)]
    pub version: Option<u8>,
    pub group: u16,
    /// The virtual IP clients use as their gateway.
    pub virtual_ip: String,
    /// 0..255, default 100 (VRRP: 255 for the address owner).
    #[serde(default)]
    pub priority: Option<u8>,
    /// Take over from a lower-priority active router. Default: HSRP no, VRRP yes.
    #[serde(default)]
    pub preempt: Option<bool>,
    /// HSRP: wait this long before preempting.
    #[serde(default)]
    pub preempt_delay: Option<String>,
    /// HSRP hello time (default 3s) / VRRP advertisement interval (default 1s).
    #[serde(default)]
    pub hello: Option<String>,
    /// HSRP hold time (default 10s).
    #[serde(default)]
    pub hold: Option<String>,
    /// Gratuitous ARPs sent on becoming HSRP Active / VRRP Master (the router's platform's
    /// habit by default: one for `ios` and `frr`, `{ count: 5, repeat: 5, repeat_after: 5s }`
    /// for `keepalived`).
    #[serde(default)]
    pub gratuitous_arp: Option<GratuitousArpSpec>,
    /// VRRP: the virtual IP at the virtual MAC 00-00-5E-00-01-{VRID} (default, except on
    /// `keepalived`, whose default is the interface's own MAC, as without its `use_vmac`).
    #[serde(default)]
    pub use_vmac: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GratuitousArpSpec {
    /// Sent at once (default 1; 0 sends none).
    #[serde(default)]
    pub count: Option<u32>,
    /// Sent again after `repeat_after` (default 0).
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Default `5s` (keepalived's `vrrp_garp_master_delay`).
    #[serde(default)]
    pub repeat_after: Option<String>,
}

/// One entry of the fault timeline: `at` plus exactly one action.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Simulated time, a duration (`12s`).
    pub at: String,
    /// A router or server that loses power.
    #[serde(default)]
    pub crash: Option<String>,
    /// A router or server shut down cleanly: a VRRP master first advertises priority 0 and an
    /// HSRP active router sends Resign, so the backup takes over at once (VRRP: after
    /// Skew_Time), then it is off as after a crash.
    #[serde(default)]
    pub shutdown: Option<String>,
    /// A crashed router or server that boots again.
    #[serde(default)]
    pub recover: Option<String>,
    /// `server` (reboot), `server/WMI` (restart WMI) or `server/<service id>` (restart it).
    #[serde(default)]
    pub restart: Option<String>,
    /// `router/interface`, or a server or client name: the link goes down.
    #[serde(default)]
    pub link_down: Option<String>,
    #[serde(default)]
    pub link_up: Option<String>,
    /// A LAN whose behaviour changes; the keys below give the new values.
    #[serde(default)]
    pub lan: Option<String>,
    #[serde(default)]
    pub latency: Option<String>,
    #[serde(default)]
    pub loss: Option<f64>,
    #[serde(default)]
    pub duplicate: Option<f64>,
    #[serde(default)]
    pub reorder: Option<f64>,
    #[serde(default)]
    pub reorder_delay: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolSpec {
    Hsrp,
    Vrrp,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// `10.9.0.0/16`, or `0.0.0.0/0` for the default route.
    pub to: String,
    pub via: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
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
    /// Simulated CPU time per unit of plugin work (wasm fuel), in nanoseconds (default 0.5, a
    /// few wasm instructions per nanosecond); 0 makes plugin work free.
    #[serde(default)]
    pub cpu_ns_per_fuel: Option<f64>,
    /// UDP ports the host's firewall drops before the service sees them (Windows Firewall
    /// blocking 4011 is the classic cause of PXE-E55).
    #[serde(default)]
    pub firewall_blocks_udp: Vec<u16>,
    /// Passed to the plugin's `init` as key/value strings.
    #[serde(default, deserialize_with = "unique_keys")]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub config: BTreeMap<String, serde_yaml::Value>,
    /// Files of yours the server serves over TFTP, by the name a client asks for
    /// (`pxelinux.0: /usr/lib/PXELINUX/pxelinux.0`); paths are relative to the topology file
    /// unless absolute. A given file takes the place of the plugin's synthetic one of that name.
    #[serde(default, deserialize_with = "unique_keys")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub files: BTreeMap<String, String>,
}

/// A host that sends the same UDP datagram to each of its targets every `period`, from the
/// moment `start` draws (an F5 BIG-IP's UDP monitor sends its "send string" to each pool member
/// every interval).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InjectorSpec {
    pub lan: String,
    /// The host's own address with its prefix: `10.3.0.5/24`.
    pub ip: String,
    #[serde(default)]
    pub mac: Option<String>,
    /// Where datagrams to other subnets go: a router's address on the LAN.
    #[serde(default)]
    pub gateway: Option<String>,
    /// `address:port` each round sends the payload to, in order: `[10.2.0.20:67]`.
    pub targets: Vec<String>,
    /// The datagram's payload as text (sent as its UTF-8 bytes, without a terminator).
    #[serde(default)]
    pub payload: Option<String>,
    /// The payload as hexadecimal bytes instead (`64 65 66`); spaces are ignored.
    #[serde(default)]
    pub payload_hex: Option<String>,
    /// The time from one round to the next, a distribution drawn for each round (`30s`).
    pub period: String,
    /// When the first round goes out, a distribution (default `0s`).
    #[serde(default)]
    pub start: Option<String>,
    /// Rounds to send (default: until the run ends).
    #[serde(default)]
    pub rounds: Option<u64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Display name in Service Control Manager messages.
    pub name: Option<String>,
    /// Short service name (`WDSServer`) the fault timeline uses in `restart: node/id`.
    pub id: Option<String>,
    /// Recovery action: restart this long after a crash (Windows' default for WDS: 120000ms).
    /// Absent: the service stays down.
    pub restart_after: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
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
    /// The PXE firmware's behaviour: `edk2` (UEFI machines' default), `ipxe`, `edk2-no-4011`
    /// or `pxe-spec` (the PXE 2.1 specification, BIOS machines' default).
    #[serde(default)]
    pub firmware: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ArchSpec {
    #[default]
    Bios,
    EfiIa32,
    EfiBc,
    EfiX64,
}

/// A map whose keys must be distinct. YAML parsers differ on a repeated key and serde's own map
/// keeps the last value, which would silently drop a LAN, router, server or config value.
fn unique_keys<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct UniqueKeys<V>(PhantomData<V>);

    impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueKeys<V> {
        type Value = BTreeMap<String, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some(key) = access.next_key::<String>()? {
                if map.contains_key(&key) {
                    return Err(A::Error::custom(format!("duplicate key `{key}`")));
                }
                let value = access.next_value()?;
                map.insert(key, value);
            }
            Ok(map)
        }
    }

    deserializer.deserialize_map(UniqueKeys(PhantomData))
}
