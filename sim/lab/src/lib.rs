//! The pxelab library behind the command line: plugin resolution, running one seed, sweeping
//! many, and rendering reports for people (text). Reports for machines are typed (serde
//! derives); the CLI and the web server turn them into JSON.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use engine::client::Outcome;
use engine::log::{Kind, Level};
use engine::report::Report;
use engine::{App, Finished, Stream};
use plugin_host::{PluginHost, SandboxLimits};
use serde::{Deserialize, Serialize};
use timing::format_ns;
use topology::{Plan, ServiceFactory};

pub mod advise;
pub mod bench;
pub mod calibrate;
mod compare;
pub mod record;
pub mod scenarios;
pub mod shrink;
mod sweep;
pub use compare::{
    CompareReport, CompareRow, CompareSpread, compare_report, compare_row, compare_table,
};
pub use sweep::{
    Check, Divergence, ExpectReport, MergeError, SeedResult, Shard, Spread, SweepOptions,
    SweepOutcome, SweepReport, SweepResult, TraceLine, first_divergence, merge, percent,
    run_checks, sweep_checks, sweep_observed, sweep_report, trace,
};

/// The most seeds one sweep runs, from the command line or the web UI: a sweep keeps a result
/// per seed in memory; past this, split the range.
pub const SWEEP_SEEDS_MAX: u64 = 10_000_000;

/// Why a `plugin:` value gives no plugin.
#[derive(Clone, Debug, PartialEq)]
pub enum PluginError {
    /// The plugin host refused to start, or refused the component (its own message).
    Host(plugin_host::HostError),
    /// A `.wasm` path that cannot be read.
    CannotRead { path: String, error: String },
    /// Neither a built-in name nor a `.wasm` path.
    Unknown { plugin: String },
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginError::Host(message) => write!(f, "{message}"),
            PluginError::CannotRead { path, error } => {
                write!(f, "cannot read plugin {path}: {error}")
            }
            PluginError::Unknown { plugin } => {
                let names: Vec<&str> = artifacts::ALL.iter().map(|a| a.name).collect();
                write!(
                    f,
                    "unknown plugin `{plugin}`; built-in plugins are {}",
                    names.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for PluginError {}

/// Turns `plugin:` values into running services: built-in names first, then paths relative to
/// the topology file.
pub struct Services {
    host: PluginHost,
    /// Plugins by built-in name or file path (see `plugin`).
    resolved: Mutex<BTreeMap<String, Arc<plugin_host::Plugin>>>,
}

impl Services {
    /// Services that compile plugins in memory and touch no files (tests, embedding).
    pub fn new() -> Result<Services, PluginError> {
        Services::with_cache_dir(None)
    }

    /// Services that keep precompiled plugins in `cache_dir` across processes, so a second
    /// start does not compile again (`None`: no disk cache). The CLI passes
    /// `plugin_host::cache::default_dir()` unless told `--no-cache`.
    pub fn with_cache_dir(cache_dir: Option<PathBuf>) -> Result<Services, PluginError> {
        Ok(Services {
            host: PluginHost::with_cache(SandboxLimits::default(), cache_dir)
                .map_err(PluginError::Host)?,
            resolved: Mutex::new(BTreeMap::new()),
        })
    }

    /// The plugin host (its limits and compile cache).
    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// The plugin a `plugin:` value names, loaded once per process (for checks and tests).
    pub fn load(
        &self,
        plugin: &str,
        base_dir: &Path,
    ) -> Result<Arc<plugin_host::Plugin>, PluginError> {
        self.plugin(plugin, base_dir)
    }

    /// Resolves a `plugin:` value once per process: a sweep neither re-reads a file nor
    /// re-hashes a component per seed. The host's own cache dedups identical bytes by hash.
    fn plugin(
        &self,
        plugin: &str,
        base_dir: &Path,
    ) -> Result<Arc<plugin_host::Plugin>, PluginError> {
        let key = match artifacts::builtin(plugin) {
            Some(_) => plugin.to_string(),
            None => base_dir.join(plugin).display().to_string(),
        };
        let mut resolved = self
            .resolved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(loaded) = resolved.get(&key) {
            return Ok(loaded.clone());
        }
        let loaded = match artifacts::builtin(plugin) {
            Some(bytes) => self.host.load(plugin, bytes).map_err(PluginError::Host)?,
            None if plugin.ends_with(".wasm") => {
                let bytes = std::fs::read(&key).map_err(|e| PluginError::CannotRead {
                    path: key.clone(),
                    error: e.to_string(),
                })?;
                self.host.load(&key, &bytes).map_err(PluginError::Host)?
            }
            None => {
                return Err(PluginError::Unknown {
                    plugin: plugin.to_string(),
                });
            }
        };
        resolved.insert(key, loaded.clone());
        Ok(loaded)
    }
}

impl ServiceFactory for Services {
    fn create(
        &self,
        _node: &str,
        plugin: &str,
        base_dir: &Path,
        config: &[(String, String)],
        files: &[topology::ServedFile],
        stream: Stream,
    ) -> Result<Box<dyn App>, topology::ServiceError> {
        let plugin = self.plugin(plugin, base_dir)?;
        let files = files
            .iter()
            .map(|file| (file.name.clone(), file.bytes.clone()))
            .collect();
        Ok(Box::new(self.host.instantiate_with_files(
            &plugin,
            config.to_vec(),
            Arc::new(files),
            stream,
        )?))
    }
}

/// Builds and runs one seed. A service that refuses its configuration at start is bad input,
/// reported at the server's `config:` in the topology, not a crash of the run.
pub fn run(plan: &Plan, seed: u64, services: &Services) -> Result<Finished, topology::Error> {
    run_with_draws(plan, seed, services, None)
}

/// `run`, keeping only the records `retention` says (`Retention::Summary` for a sweep: the
/// report, the outcomes and the digest are the same as `run`'s).
pub fn run_retaining(
    plan: &Plan,
    seed: u64,
    services: &Services,
    retention: engine::log::Retention,
) -> Result<Finished, topology::Error> {
    let mut builder = plan.builder(seed, services, None)?;
    builder.retain(retention);
    let finished = builder.build().run();
    refusal_error(plan, &finished)?;
    Ok(finished)
}

/// `run`, with the timing draws reported to (and maybe pinned by) `draws`.
pub fn run_with_draws(
    plan: &Plan,
    seed: u64,
    services: &Services,
    draws: Option<Arc<engine::rng::Draws>>,
) -> Result<Finished, topology::Error> {
    let finished = plan.build_with_draws(seed, services, draws)?.run();
    refusal_error(plan, &finished)?;
    Ok(finished)
}

/// Writes `bytes` to `path` completely or not at all: a temporary file in the same folder,
/// flushed to disk, then renamed over the target.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} names no file", path.display())))?;
    let temporary = folder.join(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// The command that replays `seed`, with the `--plugin` overrides the plan was run with; for a
/// plan with bridges, the replay of its live record.
pub fn replay_command(plan: &Plan, seed: u64) -> String {
    if !plan.bridges().is_empty() {
        // Real machines took part: running the file again is another run; the record is
        // what reproduces this one.
        return "pxelab replay DIR (of the record `pxelab live --out DIR` writes)".to_string();
    }
    let mut command = format!("pxelab run {} --seed {seed}", plan.file.display());
    for (node, plugin) in &plan.plugin_overrides {
        let _ = write!(
            command,
            " --plugin {}",
            shell_word(&format!("{node}={plugin}"))
        );
    }
    command
}

/// `word` as one shell word: as is when that is safe, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain && !word.is_empty() {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// What `pxelab run --json` prints: one run's outcome per client and its crashes, with the
/// command that replays it; `passed` and `checks` are the topology's expectations, when the
/// caller checked them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub topology: String,
    pub seed: u64,
    pub digest: String,
    pub sim_time_ns: u64,
    pub events: u64,
    /// Why the run stopped (`idle`, `events`, `time`), lowercase.
    pub stop: String,
    pub clients: Vec<ClientReport>,
    pub crashes: Vec<CrashReport>,
    pub replay: String,
    /// The files the servers served (`files:`), with their SHA-256; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<Check>>,
}

/// One client's outcome: `booted` (with the file and its size), `pending`, or the failure
/// code (with its message).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientReport {
    pub name: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrashReport {
    pub node: String,
    pub time_ns: u64,
    pub reason: String,
}

impl RunReport {
    /// `report` of a run of `plan`, without the expectations' verdicts.
    pub fn of(plan: &Plan, report: &Report) -> RunReport {
        let clients = report
            .clients
            .iter()
            .map(|client| {
                let mut entry = ClientReport {
                    name: client.name.clone(),
                    outcome: String::new(),
                    time_ns: None,
                    file: None,
                    bytes: None,
                    message: None,
                };
                match &client.outcome {
                    Outcome::Booted {
                        time_ns,
                        file,
                        bytes,
                    } => {
                        entry.outcome = "booted".to_string();
                        entry.time_ns = Some(*time_ns);
                        entry.file = Some(file.clone());
                        entry.bytes = Some(*bytes);
                    }
                    Outcome::Failed {
                        time_ns,
                        code,
                        message,
                    } => {
                        entry.outcome = code.to_string();
                        entry.time_ns = Some(*time_ns);
                        entry.message = Some(message.clone());
                    }
                    Outcome::Pending => entry.outcome = "pending".to_string(),
                }
                entry
            })
            .collect();
        let crashes = report
            .crashes
            .iter()
            .map(|crash| CrashReport {
                node: crash.node.clone(),
                time_ns: crash.time_ns,
                reason: crash.reason.clone(),
            })
            .collect();
        RunReport {
            topology: plan.name.clone(),
            seed: report.seed,
            digest: report.digest.clone(),
            sim_time_ns: report.sim_time_ns,
            events: report.events,
            stop: format!("{:?}", report.stop).to_lowercase(),
            clients,
            crashes,
            replay: replay_command(plan, report.seed),
            files: served_files(plan),
            passed: None,
            checks: None,
        }
    }

    /// The report with the expectations' verdicts.
    pub fn with_checks(mut self, checks: Vec<Check>) -> RunReport {
        self.passed = Some(checks.iter().all(|check| check.passed));
        self.checks = Some(checks);
        self
    }
}

/// `RunReport::of` (the web UI's run summary).
pub fn report_json(plan: &Plan, report: &Report) -> RunReport {
    RunReport::of(plan, report)
}

/// One line for any log record (`RUST_LOG=debug` prints them all).
pub fn describe_record(kind: &Kind) -> String {
    kind.to_string()
}

/// Which log records make the human timeline: what a deployment engineer would look for.
/// `servers[node]` says whether a node is a server (whose received DHCP is worth showing).
fn key_event(servers: &[bool], record: &engine::Record) -> Option<String> {
    match &record.kind {
        Kind::Client(_)
        | Kind::Redundancy(_)
        | Kind::Service(_)
        | Kind::Fault(_)
        | Kind::Network(_)
        | Kind::Crash(_)
        | Kind::WindowsEvent { .. } => Some(record.kind.to_string()),
        Kind::Log {
            level: Level::Error | Level::Warning,
            text,
        } => Some(text.clone()),
        Kind::Receive { frame, .. }
            if servers[record.node.index()] && engine::decode::class(&frame.bytes()).is_dhcp() =>
        {
            Some(format!(
                "received {}",
                engine::decode::describe(&frame.bytes())
            ))
        }
        _ => None,
    }
}

pub const TIMELINE_LINES_MAX: usize = 400;

/// The human report of one run.
pub fn render_report(plan: &Plan, run: &Finished) -> String {
    let mut out = String::new();
    let log = run.log();
    let report = run.report();
    let servers: Vec<bool> = run
        .nodes()
        .map(|(_, node)| matches!(node, engine::Node::Server(_)))
        .collect();
    let _ = writeln!(out, "topology  {} ({})", plan.name, plan.file.display());
    let _ = writeln!(out, "seed      {}", report.seed);
    let _ = writeln!(out, "\ntimeline (key events; `-vv` prints every event)");
    let width = log.node_names.iter().map(String::len).max().unwrap_or(4);
    let mut shown = 0;
    let mut hidden = 0;
    for record in log.records() {
        let Some(text) = key_event(&servers, record) else {
            continue;
        };
        if shown == TIMELINE_LINES_MAX {
            hidden += 1;
            continue;
        }
        shown += 1;
        let seconds = record.time_ns as f64 / 1e9;
        let indent = " ".repeat(2 + 12 + 4 + width + 2);
        let text = text.replace('\n', &format!("\n{indent}"));
        let _ = writeln!(
            out,
            "  {seconds:>12.6} s  {:<width$}  {text}",
            log.node_name(record.node)
        );
    }
    if hidden > 0 {
        let _ = writeln!(out, "  ... {hidden} more key events not shown");
    }
    let _ = writeln!(out, "\nclients");
    for client in &report.clients {
        let line = match &client.outcome {
            Outcome::Booted {
                time_ns,
                file,
                bytes,
            } => format!(
                "booted   at {:>12}  {file} ({bytes} bytes)",
                format_ns(*time_ns)
            ),
            Outcome::Failed {
                time_ns,
                code,
                message,
            } => format!("{code:<8} at {:>12}  {message}", format_ns(*time_ns)),
            Outcome::Pending => {
                "pending  (the run stopped before this client finished)".to_string()
            }
        };
        let _ = writeln!(out, "  {:<width$}  {line}", client.name);
    }
    let _ = writeln!(out, "\ncrashes");
    if report.crashes.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for crash in &report.crashes {
        let _ = writeln!(
            out,
            "  {} at {}: {}",
            crash.node,
            format_ns(crash.time_ns),
            crash.reason
        );
    }
    let files = served_files(plan);
    if !files.is_empty() {
        let _ = writeln!(
            out,
            "\nfiles (served as given; a run record keeps their SHA-256)"
        );
    }
    for file in &files {
        let _ = writeln!(
            out,
            "  {:<width$}  {}  {} bytes  sha256 {}  ({})",
            file.node, file.name, file.bytes, file.sha256, file.path
        );
    }
    let booted = report
        .clients
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Booted { .. }))
        .count();
    let _ = writeln!(
        out,
        "\nsummary   {booted}/{} clients booted, {} crash(es); {} events, {} simulated, stopped: {:?}",
        report.clients.len(),
        report.crashes.len(),
        report.events,
        format_ns(report.sim_time_ns),
        report.stop
    );
    let _ = writeln!(out, "digest    {}", report.digest);
    let _ = writeln!(out, "replay    {}", replay_command(plan, report.seed));
    out
}

/// The Wilson score interval for `successes` out of `trials` at `z` standard deviations: unlike
/// the normal approximation it stays inside 0..1 and is honest at 0 or `trials` successes.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    ((center - margin).max(0.0), (center + margin).min(1.0))
}

/// Checks a topology as far as can be done without simulated time passing: the file (already
/// loaded into `plan`), every plugin loads and speaks the contract, and every server accepts
/// its configuration when it starts.
pub fn check(plan: &Plan, services: &Services) -> Result<(), topology::Error> {
    let mut world = plan.build(0, services)?;
    world.set_limits(engine::Limits {
        sim_time_max_ns: 0,
        ..engine::Limits::default()
    });
    refusal_error(plan, &world.run())
}

/// The located error for a server that refused its configuration at its first start.
fn refusal_error(plan: &Plan, run: &Finished) -> Result<(), topology::Error> {
    let refused = run.nodes().find_map(|(name, node)| match node {
        engine::Node::Server(server) => server.refusal().map(|reason| (name, reason)),
        _ => None,
    });
    let Some((name, reason)) = refused else {
        return Ok(());
    };
    // The SDK names the key it refuses (config `key`: ...): point at that key's line.
    let key = reason
        .strip_prefix("config `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(key, _)| format!("{key}:"));
    let server = format!("{name}:");
    let mut anchors = vec!["servers:", server.as_str(), "config:"];
    anchors.extend(key.as_deref());
    Err(plan.error_at(
        &anchors,
        format!("server `{name}` refused to start: {reason}"),
        "fix the plugin's configuration; the message above is the plugin's own",
    ))
}

/// Runs every seed in `seeds` on `jobs` threads.
pub fn sweep(
    plan: &Plan,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    services: &Services,
) -> Result<SweepResult, topology::Error> {
    sweep_seeds(plan, seeds.collect(), jobs, services)
}

/// The seeds of `range` that shard `index` of `count` (1-based) runs: every `count`-th seed,
/// so shards take equal shares of slow and fast seeds.
pub fn shard_seeds(range: std::ops::Range<u64>, index: u64, count: u64) -> Vec<u64> {
    let start = range.start;
    range
        .filter(|seed| (seed - start) % count == index - 1)
        .collect()
}

/// Runs every seed in `seeds` on `jobs` threads.
pub fn sweep_seeds(
    plan: &Plan,
    seeds: Vec<u64>,
    jobs: usize,
    services: &Services,
) -> Result<SweepResult, topology::Error> {
    let options = SweepOptions {
        jobs,
        check_determinism: false,
        stop: None,
    };
    Ok(sweep_observed(plan, &seeds, options, services, &mut |_| {})?.result)
}

/// A file a server served (its `files:`): the name clients ask for, where it was read from,
/// its size and SHA-256, as reports and run records give it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub node: String,
    pub name: String,
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Every file the servers of `plan` serve, servers in file order, names in order.
pub fn served_files(plan: &Plan) -> Vec<FileHash> {
    plan.served_files()
        .into_iter()
        .map(|(node, file)| FileHash {
            node: node.to_string(),
            name: file.name.clone(),
            path: file.path.display().to_string(),
            bytes: file.bytes.len() as u64,
            sha256: sha256_hex(&file.bytes),
        })
        .collect()
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sweep::hex(&sha2::Sha256::digest(bytes))
}

/// JUnit XML (the dialect CI dashboards read) for `checks`: one testcase per check, in a
/// suite named `suite`, with `class` as every testcase's classname.
pub fn junit_xml(suite: &str, class: &str, checks: &[Check]) -> String {
    let failures = checks.iter().filter(|check| !check.passed).count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites tests=\"{}\" failures=\"{failures}\">",
        checks.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
        xml_escape(suite),
        checks.len()
    );
    for check in checks {
        let _ = write!(
            xml,
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(class),
            xml_escape(&check.name)
        );
        if check.passed {
            let _ = writeln!(xml, "/>");
        } else {
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                xml_escape(&check.detail),
                xml_escape(&check.detail)
            );
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no way to carry most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run --json` as it was built by hand, to hold `RunReport` to the same bytes.
    fn run_json_by_hand(plan: &Plan, report: &Report, checks: &[Check]) -> serde_json::Value {
        use serde_json::json;
        let clients: Vec<_> = report
            .clients
            .iter()
            .map(|client| match &client.outcome {
                Outcome::Booted { time_ns, file, bytes } => {
                    json!({"name": client.name, "outcome": "booted", "time_ns": time_ns, "file": file, "bytes": bytes})
                }
                Outcome::Failed { time_ns, code, message } => {
                    json!({"name": client.name, "outcome": code, "time_ns": time_ns, "message": message})
                }
                Outcome::Pending => json!({"name": client.name, "outcome": "pending"}),
            })
            .collect();
        let crashes: Vec<_> = report
            .crashes
            .iter()
            .map(|crash| json!({"node": crash.node, "time_ns": crash.time_ns, "reason": crash.reason}))
            .collect();
        json!({
            "topology": plan.name,
            "seed": report.seed,
            "digest": report.digest,
            "sim_time_ns": report.sim_time_ns,
            "events": report.events,
            "stop": format!("{:?}", report.stop).to_lowercase(),
            "clients": clients,
            "crashes": crashes,
            "replay": replay_command(plan, report.seed),
            "passed": checks.iter().all(|check| check.passed),
            "checks": checks
                .iter()
                .map(|c| json!({"name": c.name, "passed": c.passed, "detail": c.detail}))
                .collect::<Vec<_>>(),
        })
    }

    #[test]
    fn the_typed_run_report_writes_the_json_that_was_written_by_hand() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies/kb2510665.yaml");
        let plan = topology::load(&path).unwrap();
        let services = Services::new().unwrap();
        // Seed 0 crashes WDS and leaves clients unbooted; seed 7 boots them all.
        for seed in [0, 7] {
            let report = run(&plan, seed, &services).unwrap().into_report();
            let checks = run_checks(&plan.expect, &report);
            let typed = RunReport::of(&plan, &report).with_checks(checks.clone());
            assert_eq!(
                serde_json::to_value(&typed).unwrap().to_string(),
                run_json_by_hand(&plan, &report, &checks).to_string()
            );
        }
    }

    const Z95: f64 = 1.959_963_984_540_054;

    #[test]
    fn wilson_intervals_match_the_formula() {
        // Reference values computed independently from the Wilson score formula.
        let cases = [
            (
                (590, 1000),
                (0.559_228_441_118_670_9, 0.620_082_742_353_929_1),
            ),
            ((0, 1000), (0.0, 0.003_826_758_485_555_123)),
            ((10, 10), (0.722_467_200_137_110_7, 1.0)),
            ((1, 2), (0.094_531_205_734_230_74, 0.905_468_794_265_769_3)),
        ];
        for ((k, n), (low, high)) in cases {
            let (l, h) = wilson_interval(k, n, Z95);
            assert!(
                (l - low).abs() < 1e-12 && (h - high).abs() < 1e-12,
                "{k}/{n}: {l} {h}"
            );
        }
        assert_eq!(wilson_interval(0, 0, Z95), (0.0, 1.0));
    }
}
