//! `pxelab advise`: a topology and the known fixes for its duplicate-request race, each derived
//! from the user's own file, swept over the same seeds, with what each fix costs.
//!
//! The fixes are the ones KB2510665 and its neighbours know (`DOMAIN`): Microsoft's two
//! workarounds (KB3046055: no PXE helper on the backup router; a single-threaded provider), the
//! network-side one (helpers that follow HSRP/VRRP state, IOS's `ip helper-address ...
//! redundancy`), and a server that avoids the race itself (ISC Kea's client race avoidance, as
//! `wds-fixed`). A fix that does not apply to the topology (no redundancy group, no multi-threaded
//! provider) says why instead of running.

use std::fmt;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use engine::redundancy::{GroupConfig, Initial, Protocol};
use engine::router::{RouterConfig, RouterInterface};
use serde::Serialize;
use serde_yaml::{Mapping, Value};
use timing::format_ns;
use topology::Plan;

use crate::{CompareRow, percent};

/// The plugin whose provider races (KB2510665), and the one that avoids the race.
const RACING_PLUGIN: &str = "wds-sccm2007";
const RACE_AVOIDING_PLUGIN: &str = "wds-fixed";
/// Plugins that only hand out addresses: a helper to them is not a PXE helper.
const DHCP_ONLY_PLUGINS: &[&str] = &["dhcp-server"];

/// The variants `advise` sweeps, in the order it prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fix {
    /// The topology as the user wrote it.
    AsIs,
    /// KB3046055 workaround 1: the helpers to PXE servers removed from the backup routers.
    NoPxeHelperOnBackup,
    /// KB3046055 workaround 2: `NumberOfThreads` = 1.
    OneProviderThread,
    /// Relays that forward only while their interface is HSRP Active / VRRP Master.
    HelpersFollowRedundancy,
    /// A PXE server keyed by client (Kea's client race avoidance).
    RaceAvoidingServer,
}

impl Fix {
    pub const ALL: [Fix; 5] = [
        Fix::AsIs,
        Fix::NoPxeHelperOnBackup,
        Fix::OneProviderThread,
        Fix::HelpersFollowRedundancy,
        Fix::RaceAvoidingServer,
    ];

    /// The variant's name in the table, and the suffix of its topology's name.
    pub fn label(self) -> &'static str {
        match self {
            Fix::AsIs => "as written",
            Fix::NoPxeHelperOnBackup => "WA1: no PXE helper on the backup",
            Fix::OneProviderThread => "WA2: one provider thread",
            Fix::HelpersFollowRedundancy => "helpers follow redundancy",
            Fix::RaceAvoidingServer => "race-avoiding server",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Fix::AsIs => "",
            Fix::NoPxeHelperOnBackup => "-wa1",
            Fix::OneProviderThread => "-wa2",
            Fix::HelpersFollowRedundancy => "-helpers-follow-redundancy",
            Fix::RaceAvoidingServer => "-race-avoiding",
        }
    }
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A fix applied to the topology: what changed, and the plan to sweep.
pub struct Variant {
    pub fix: Fix,
    /// One line per edit, naming the node and what it had before (`r2 Vlan10: helpers ...`).
    pub changes: Vec<String>,
    /// The edited topology as YAML (comments of the original are not kept).
    pub yaml: String,
    pub plan: Plan,
    /// Facts the cost sentence needs, taken from the plan.
    facts: Facts,
}

/// A fix that does not apply, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NotApplicable {
    pub fix: Fix,
    pub reason: String,
}

/// What goes into a cost sentence besides the measured rows.
#[derive(Clone, Debug, Default)]
struct Facts {
    /// Routers left relaying to the PXE servers, and the ones that stopped.
    relaying: Vec<String>,
    silenced: Vec<String>,
    /// Servers changed, with their thread count before.
    servers: Vec<(String, String)>,
    /// The longest hold time (HSRP) or master-down interval (VRRP) of the groups involved.
    takeover_ns: u64,
    /// Some group involved is VRRP (IOS's helper `redundancy` follows HSRP only).
    vrrp: bool,
}

#[derive(Debug)]
pub enum AdviseError {
    /// The plan's own source does not read back as YAML (cannot happen for a loaded plan).
    Source(serde_yaml::Error),
    /// A derived variant did not validate: a bug in the derivation, reported with the YAML.
    Variant { fix: Fix, error: topology::Error },
}

impl fmt::Display for AdviseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdviseError::Source(error) => write!(f, "the topology does not read back: {error}"),
            AdviseError::Variant { fix, error } => {
                write!(f, "the variant `{fix}` is not a valid topology: {error}")
            }
        }
    }
}

impl std::error::Error for AdviseError {}

/// Every fix, applied to `plan` where it applies.
pub fn variants(plan: &Plan) -> Result<(Vec<Variant>, Vec<NotApplicable>), AdviseError> {
    let mut made = Vec::new();
    let mut skipped = Vec::new();
    for fix in Fix::ALL {
        let mut yaml: Value = serde_yaml::from_str(plan.source()).map_err(AdviseError::Source)?;
        let edit = match fix {
            Fix::AsIs => Ok((Vec::new(), Facts::default())),
            Fix::NoPxeHelperOnBackup => no_pxe_helper_on_backup(plan, &mut yaml),
            Fix::OneProviderThread => one_provider_thread(plan, &mut yaml),
            Fix::HelpersFollowRedundancy => helpers_follow_redundancy(plan, &mut yaml),
            Fix::RaceAvoidingServer => race_avoiding_server(plan, &mut yaml),
        };
        match edit {
            Ok((changes, facts)) => {
                let name = format!("{}{}", plan.name, fix.suffix());
                set(&mut yaml, &["name"], Value::String(name));
                let text = serde_yaml::to_string(&yaml).map_err(AdviseError::Source)?;
                // Parsed under the original path, so relative plugin paths still resolve.
                let variant = topology::parse(&plan.file, &text)
                    .map_err(|error| AdviseError::Variant { fix, error })?;
                made.push(Variant {
                    fix,
                    changes,
                    yaml: text,
                    plan: variant,
                    facts,
                });
            }
            Err(reason) => skipped.push(NotApplicable { fix, reason }),
        }
    }
    Ok((made, skipped))
}

type Edit = Result<(Vec<String>, Facts), String>;

/// The addresses of servers that answer PXE (every plugin but a plain DHCP server).
fn pxe_servers(plan: &Plan) -> Vec<(Ipv4Addr, String)> {
    plan.servers()
        .filter(|server| !DHCP_ONLY_PLUGINS.contains(&server.plugin))
        .map(|server| (server.config.ip, server.config.name.clone()))
        .collect()
}

/// The servers that run the racing provider.
fn racing_servers(plan: &Plan) -> impl Iterator<Item = topology::ServerView<'_>> {
    plan.servers()
        .filter(|server| server.plugin == RACING_PLUGIN)
}

/// The time a backup waits before it takes over a group.
fn takeover_ns(group: &GroupConfig) -> u64 {
    match group.protocol {
        Protocol::Hsrp => group.hold_ns,
        // RFC 5798: Master_Down_Interval = 3 x advertisement interval + skew.
        Protocol::Vrrp => 3 * group.hello_ns + (256 - group.priority as u64) * group.hello_ns / 256,
    }
}

/// Every router interface in a redundancy group: its router, its index among the router's
/// interfaces (as `interface_value` finds it in the file) and its group.
fn grouped_interfaces(
    plan: &Plan,
) -> impl Iterator<Item = (&RouterConfig, usize, &RouterInterface, &GroupConfig)> {
    plan.routers().flat_map(|router| {
        let interfaces = router.interfaces.iter().enumerate();
        interfaces.filter_map(move |(index, interface)| {
            let group = interface.redundancy.as_ref()?;
            Some((router, index, interface, group))
        })
    })
}

fn no_pxe_helper_on_backup(plan: &Plan, yaml: &mut Value) -> Edit {
    let pxe = pxe_servers(plan);
    if pxe.is_empty() {
        return Err("no server answers PXE: every helper points at a DHCP-only server".into());
    }
    let mut changes = Vec::new();
    let mut facts = Facts::default();
    for (router, index, interface, group) in grouped_interfaces(plan) {
        let removed: Vec<&(Ipv4Addr, String)> = pxe
            .iter()
            .filter(|(ip, _)| interface.helpers.contains(ip))
            .collect();
        if removed.is_empty() {
            continue;
        }
        if group.initial == Initial::Active {
            facts.relaying.push(router.name.clone());
            continue;
        }
        facts.takeover_ns = facts.takeover_ns.max(takeover_ns(group));
        facts.silenced.push(router.name.clone());
        let helpers = interface_value(yaml, &router.name, index)
            .and_then(|interface| interface.get_mut("helpers"))
            .and_then(Value::as_sequence_mut)
            .ok_or_else(|| format!("{} {}: helpers not found", router.name, interface.name))?;
        helpers.retain(|helper| {
            let address = helper
                .as_str()
                .and_then(|text| text.parse::<Ipv4Addr>().ok());
            !removed.iter().any(|(ip, _)| Some(*ip) == address)
        });
        let names: Vec<String> = removed
            .iter()
            .map(|(ip, name)| format!("{ip} ({name})"))
            .collect();
        changes.push(format!(
            "{} {}: helper to {} removed",
            router.name,
            interface.name,
            names.join(", ")
        ));
    }
    if changes.is_empty() {
        return Err(
            "no backup router relays to a PXE server: no interface in a redundancy group that is not active has a helper to one".into(),
        );
    }
    facts.relaying.dedup();
    facts.silenced.dedup();
    Ok((changes, facts))
}

fn one_provider_thread(plan: &Plan, yaml: &mut Value) -> Edit {
    let mut changes = Vec::new();
    let mut facts = Facts::default();
    for server in racing_servers(plan) {
        let threads = server
            .plugin_config
            .iter()
            .find(|(key, _)| key == "threads")
            .and_then(|(_, value)| value.parse::<u32>().ok());
        if threads == Some(1) {
            continue;
        }
        let before = threads.map_or("(the plugin's default)".to_string(), |n| n.to_string());
        let name = &server.config.name;
        set(
            yaml,
            &["servers", name, "config", "threads"],
            Value::Number(1.into()),
        );
        changes.push(format!("{name}: threads {before} -> 1"));
        facts.servers.push((name.clone(), before));
    }
    if changes.is_empty() {
        return Err(format!(
            "no server runs the multi-threaded provider ({RACING_PLUGIN} with threads above 1)"
        ));
    }
    Ok((changes, facts))
}

fn helpers_follow_redundancy(plan: &Plan, yaml: &mut Value) -> Edit {
    let mut changes = Vec::new();
    let mut facts = Facts::default();
    for (router, index, interface, group) in grouped_interfaces(plan) {
        if interface.helpers.is_empty() || interface.helpers_follow_redundancy {
            continue;
        }
        facts.takeover_ns = facts.takeover_ns.max(takeover_ns(group));
        facts.vrrp |= group.protocol == Protocol::Vrrp;
        let value = interface_value(yaml, &router.name, index)
            .and_then(Value::as_mapping_mut)
            .ok_or_else(|| format!("{} {}: not found", router.name, interface.name))?;
        value.insert(
            Value::String("helpers_follow_redundancy".into()),
            Value::Bool(true),
        );
        changes.push(format!(
            "{} {}: helpers follow {} group {}",
            router.name, interface.name, group.protocol, group.group
        ));
    }
    if changes.is_empty() {
        return Err(
            "no interface both relays and is in a redundancy group (or its helpers already follow it)".into(),
        );
    }
    Ok((changes, facts))
}

fn race_avoiding_server(plan: &Plan, yaml: &mut Value) -> Edit {
    let mut changes = Vec::new();
    let mut facts = Facts::default();
    for server in racing_servers(plan) {
        let name = &server.config.name;
        set(
            yaml,
            &["servers", name, "plugin"],
            Value::String(RACE_AVOIDING_PLUGIN.into()),
        );
        changes.push(format!(
            "{name}: plugin {RACING_PLUGIN} -> {RACE_AVOIDING_PLUGIN}"
        ));
        facts.servers.push((name.clone(), String::new()));
    }
    if changes.is_empty() {
        return Err(format!(
            "no server runs the racing provider ({RACING_PLUGIN}); a plugin of your own would have to avoid the race itself"
        ));
    }
    Ok((changes, facts))
}

/// `routers.<router>.interfaces[index]` of the YAML.
fn interface_value<'a>(yaml: &'a mut Value, router: &str, index: usize) -> Option<&'a mut Value> {
    yaml.get_mut("routers")?
        .get_mut(router)?
        .get_mut("interfaces")?
        .get_mut(index)
}

/// Sets the value at `path`, making the mappings on the way.
fn set(yaml: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = yaml;
    for key in parents {
        let Value::Mapping(mapping) = at else {
            return;
        };
        at = mapping
            .entry(Value::String((*key).into()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if at.is_null() {
            *at = Value::Mapping(Mapping::new());
        }
    }
    if let Value::Mapping(mapping) = at {
        mapping.insert(Value::String((*last).into()), value);
    }
}

/// One line of the advice: the variant's sweep and what it costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advice {
    pub fix: Fix,
    pub changes: Vec<String>,
    #[serde(flatten)]
    pub row: CompareRow,
    pub cost: String,
}

/// The advice for `rows` (the swept variants, `Fix::AsIs` first).
///
/// Boot times are compared with the race-avoiding server's when it ran: that is the network
/// as written without the crash. The topology as written is a biased baseline, since a run
/// that crashes boots fewer clients, and the ones it boots are the early ones.
pub fn advise(variants: &[Variant], rows: &[CompareRow]) -> Vec<Advice> {
    let base = variants
        .iter()
        .position(|variant| variant.fix == Fix::RaceAvoidingServer)
        .and_then(|index| rows.get(index))
        .or(rows.first());
    variants
        .iter()
        .zip(rows)
        .map(|(variant, row)| Advice {
            fix: variant.fix,
            changes: variant.changes.clone(),
            row: row.clone(),
            cost: cost(variant, row, base),
        })
        .collect()
}

/// "p50 1.2 s -> 1.3 s (+80 ms)".
fn boot_change(
    row: &CompareRow,
    base: Option<&CompareRow>,
    pick: fn(&crate::Spread) -> u64,
) -> String {
    let now = row.boot.map(|spread| pick(&spread));
    let before = base.and_then(|base| base.boot).map(|spread| pick(&spread));
    match (before, now) {
        (Some(before), Some(now)) => {
            let delta = now as i128 - before as i128;
            let sign = if delta < 0 { "-" } else { "+" };
            format!(
                "{} -> {} ({sign}{})",
                format_ns(before),
                format_ns(now),
                format_ns(delta.unsigned_abs() as u64)
            )
        }
        (_, Some(now)) => format_ns(now),
        _ => "none booted".into(),
    }
}

fn cost(variant: &Variant, row: &CompareRow, base: Option<&CompareRow>) -> String {
    let p50 = boot_change(row, base, |s| s.median_ns);
    let p90 = boot_change(row, base, |s| s.p90_ns);
    let facts = &variant.facts;
    match variant.fix {
        Fix::AsIs => {
            let (_, high) = row.crash_rate_ci95;
            if row.crashed_runs == 0 {
                format!(
                    "No crash in {} runs (at most {} of runs crash, 95% upper bound).",
                    row.runs,
                    percent(high)
                )
            } else {
                format!(
                    "{} duplicate DHCP messages reach the servers per run; the provider crashes in {} of runs.",
                    format_args!("{:.1}", row.duplicates_per_run),
                    percent(row.crash_rate)
                )
            }
        }
        Fix::NoPxeHelperOnBackup => format!(
            "Each PXE request now takes {}'s relay alone instead of the faster of two (boot p50 {p50}); while {} stands in for a failed {}, clients get addresses but no boot offer: PXE is down until someone puts the helper back (or the primary returns).",
            facts.relaying.join(" and "),
            facts.silenced.join(" and "),
            facts.relaying.join(" and "),
        ),
        Fix::OneProviderThread => {
            let servers: Vec<String> = facts
                .servers
                .iter()
                .map(|(name, threads)| format!("{name} ({threads} -> 1)"))
                .collect();
            format!(
                "One PXE request at a time on {}: every request queues behind the device lookups before it (boot p50 {p50}, p90 {p90}); fine unless PXE load is high and steady, a boot storm waits in line.",
                servers.join(", ")
            )
        }
        Fix::HelpersFollowRedundancy => {
            let needs = if facts.vrrp {
                "needs relays that follow VRRP state (IOS's `ip helper-address ... redundancy` follows HSRP only; keepalived and ISC dhcrelay have no such switch)"
            } else {
                "needs IOS 12.2(15)T or later (`ip helper-address A redundancy NAME`) on both routers"
            };
            format!(
                "Only the active router relays (boot p50 {p50}); after a failover relaying resumes when the backup takes over, up to {} later; {needs}.",
                format_ns(facts.takeover_ns)
            )
        }
        Fix::RaceAvoidingServer => format!(
            "No network change: the duplicates still arrive ({:.1} per run) and are dropped or parked by client MAC (boot p50 {}, the baseline of the boot times above); it needs a PXE server that keys in-flight requests by client, which ConfigMgr 2007's provider is not.",
            row.duplicates_per_run,
            row.boot
                .map_or("-".to_string(), |spread| format_ns(spread.median_ns)),
        ),
    }
}

/// The advice as text: the comparison table, then per variant its changes and cost.
pub fn advice_text(
    advice: &[Advice],
    skipped: &[NotApplicable],
    seeds: &std::ops::Range<u64>,
) -> String {
    let rows: Vec<CompareRow> = advice
        .iter()
        .map(|line| CompareRow {
            name: line.fix.label().to_string(),
            ..line.row.clone()
        })
        .collect();
    let mut out = crate::compare_table(&rows, seeds);
    if advice
        .iter()
        .any(|line| line.fix == Fix::RaceAvoidingServer)
    {
        out.push_str(
            "\nBoot-time changes are against the race-avoiding server: the network as written without the crash (runs that crash boot fewer clients, and the early ones).\n",
        );
    }
    for line in advice {
        let _ = writeln!(out, "\n{}", line.fix);
        for change in &line.changes {
            let _ = writeln!(out, "  change: {change}");
        }
        let _ = writeln!(out, "  cost:   {}", line.cost);
    }
    for not in skipped {
        let _ = writeln!(out, "\n{} (not run)\n  {}", not.fix, not.reason);
    }
    out
}

/// What `pxelab advise --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdviceReport {
    #[serde(serialize_with = "crate::compare::seed_range")]
    pub seeds: std::ops::Range<u64>,
    pub variants: Vec<Advice>,
    pub not_applicable: Vec<NotApplicable>,
}

pub fn report(
    advice: &[Advice],
    skipped: &[NotApplicable],
    seeds: &std::ops::Range<u64>,
) -> AdviceReport {
    AdviceReport {
        seeds: seeds.clone(),
        variants: advice.to_vec(),
        not_applicable: skipped.to_vec(),
    }
}
