//! `pxelab`: run a topology under a seed, or sweep many seeds, from the command line.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use lab::{Services, Shard, render_report};
use timing::format_ns;

mod error;

use error::{ArgError, CliError};

#[derive(Parser)]
#[command(
    name = "pxelab",
    version,
    about = "Deterministic network lab for PXE boot races"
)]
struct Cli {
    /// More diagnostics on stderr (-v info, -vv every event of the run); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(flatten)]
    cache: CacheFlags,
    #[command(subcommand)]
    command: Command,
}

/// Where plugins' machine code is kept between processes.
#[derive(Args)]
struct CacheFlags {
    /// Compile plugins afresh instead of using the on-disk compile cache ($PXELAB_CACHE_DIR,
    /// else $XDG_CACHE_HOME/pxelab or ~/.cache/pxelab; PXELAB_CACHE=off also disables it).
    #[arg(long, global = true)]
    no_cache: bool,
}

impl CacheFlags {
    fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            plugin_host::cache::default_dir()
        }
    }
}

/// `--plugin NODE=PLUGIN`, repeatable.
#[derive(Args)]
struct PluginOverrides {
    /// Run server NODE with another plugin (a built-in name or a .wasm path), e.g.
    /// `--plugin wds=wds-fixed`. Repeatable.
    #[arg(long = "plugin", value_name = "NODE=PLUGIN", value_parser = parse_override)]
    plugins: Vec<(String, String)>,
}

/// The machine-readable outputs of `run` and `sweep`.
#[derive(Args)]
struct ReportFiles {
    /// JSON instead of the human report; `--json FILE` writes it to FILE and keeps the
    /// human report on stdout.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
    /// Write the expectations' verdicts as JUnit XML, for CI dashboards.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

impl ReportFiles {
    /// `--json` with no value (`-`) means stdout.
    fn json_to_stdout(&self) -> bool {
        json_to_stdout(&self.json)
    }
}

/// The seeds of a sweep and the threads that run them.
#[derive(Args)]
struct SeedFlags {
    /// Seeds as A..B (B excluded), e.g. 0..1000.
    #[arg(long, value_parser = parse_seeds)]
    seeds: Range<u64>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
}

impl SeedFlags {
    fn jobs(&self) -> usize {
        self.jobs.unwrap_or_else(default_jobs)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run one seed and report what happened; exit 1 when the topology's `expect:` fails.
    Run(RunArgs),
    /// Re-run a run record written by `run --out DIR`; exit 1, showing the first divergent
    /// event, when the run is not the recorded one.
    Replay {
        /// The record folder.
        dir: PathBuf,
    },
    /// Validate topologies without running them: the file, every plugin, every server's config.
    Check {
        /// Topology files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Combine the `sweep --shard K/N --json` outputs of all N shards into the whole sweep's
    /// JSON; exit 1 when the whole sweep fails the topology's `expect:`.
    Merge {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the merged sweep as JUnit XML too.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Run a range of seeds and report crash rate and failing seeds; exit 1 when the
    /// topology's `expect:` fails, 130 when interrupted.
    Sweep(SweepArgs),
    /// Sweep several topologies over the same seeds and print one table: crash rate with its
    /// 95% interval, failing runs, boot-time percentiles, duplicates seen at servers.
    Compare(CompareArgs),
    /// Sweep the scenario library (every topology of DIR with a `scenario:`, default
    /// topologies/scenarios) and the fix variant each names, over the same seeds, and print
    /// one table: scenario, source, symptom, failure rate, fix, rate with the fix.
    Scenarios(ScenariosArgs),
    /// Sweep a topology and the known fixes of its duplicate-request race, each derived from
    /// the file (no PXE helper on the backup router, one provider thread, helpers that follow
    /// redundancy, a race-avoiding server): crash rates, boot times and what each fix costs.
    Advise(AdviseArgs),
    /// Fit each relay's `relay_delay` to a capture (pcap or pcapng) of the relayed requests, and
    /// predict the crash rate with it: the YAML to paste, or `--write` a calibrated copy.
    Calibrate(CalibrateArgs),
    /// Run a topology in real time with its bridged LANs attached to TAP devices, so real
    /// machines (a VM's firmware, a real DHCP server) meet the simulated network; Ctrl-C or
    /// the topology's sim_time ends it. `--out DIR` records it for `pxelab replay`.
    Live(LiveArgs),
    /// Reduce a failing seed to the fewest timing deviations from nominal that still fail, and
    /// save the shrunk run as a record that `pxelab replay` accepts.
    Shrink(ShrinkArgs),
    /// Serve the browser UI: timelines of runs, packet inspector, sweeps, run diffs.
    Serve(ServeArgs),
    /// Measure pxelab's speed against baselines taken in the same run: the bare event loop,
    /// the KB sweep with 1 and 2 jobs, a plugin call, boot storms of 100 to 10,000 clients.
    Bench(BenchArgs),
    /// Print the JSON Schema of the topology format (for editors and the YAML language server).
    Schema,
    /// Read router and relay configurations (Cisco IOS/IOS-XE and Arista EOS running-configs,
    /// keepalived.conf, /etc/default/isc-dhcp-relay, /etc/network/interfaces or `ip -o addr`)
    /// and write a topology; every line not modelled is reported as `file:line: what: why`.
    Import(ImportArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Topology file (YAML).
    file: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    report: ReportFiles,
    /// Also write every frame of the run as pcapng (one interface per LAN), for Wireshark.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Save a run record in DIR (manifest, topology, event log, pcapng) for `pxelab replay`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write the run in the Chrome trace event format (nodes as processes, packets as
    /// flows), for Perfetto UI or chrome://tracing.
    #[arg(long, value_name = "FILE")]
    trace_json: Option<PathBuf>,
    #[command(flatten)]
    overrides: PluginOverrides,
}

#[derive(Args)]
struct SweepArgs {
    file: PathBuf,
    #[command(flatten)]
    seeds: SeedFlags,
    #[command(flatten)]
    report: ReportFiles,
    /// Run only shard K of N (every N-th seed from the K-th), e.g. `--shard 2/4` on the
    /// second of four machines; `pxelab merge` combines the shards' `--json` output.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Run every seed twice, on different worker threads with fresh plugin instances, and
    /// report the first divergent event of any seed whose two runs differ.
    #[arg(long)]
    check_determinism: bool,
    /// Record every finished seed in FILE, so an interrupted sweep can `--resume`.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Continue the sweep recorded in `--checkpoint FILE`, without redoing its seeds.
    #[arg(long, requires = "checkpoint")]
    resume: bool,
    #[command(flatten)]
    overrides: PluginOverrides,
}

#[derive(Args)]
struct CompareArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    seeds: SeedFlags,
    /// JSON instead of the table; `--json FILE` writes it to FILE.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct ScenariosArgs {
    /// The folder of scenario topologies.
    #[arg(default_value = "topologies/scenarios")]
    dir: PathBuf,
    /// Seeds as A..B (B excluded).
    #[arg(long, value_parser = parse_seeds, default_value = "0..100")]
    seeds: Range<u64>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// JSON instead of the table; `--json FILE` writes it to FILE.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct LiveArgs {
    file: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Bridge LAN to TAP device TAP (in place of its `bridge:`), e.g. `--bridge clients=pxe0`.
    /// Repeatable.
    #[arg(long = "bridge", value_name = "LAN=TAP", value_parser = parse_bridge)]
    bridges: Vec<(String, String)>,
    /// Save a run record in DIR, with every frame that entered through a bridge, for
    /// `pxelab replay` (which needs no TAP and no real machine).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Give up when the simulation falls this far behind real time.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    lag_max: u64,
    /// Also write the run's report as JSON to FILE, as `pxelab run --json` gives it (each
    /// client's outcome, the crashes, the checks), with the live figures under `live`.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    overrides: PluginOverrides,
}

#[derive(Args)]
struct AdviseArgs {
    file: PathBuf,
    /// Seeds as A..B (B excluded); every variant runs the same seeds.
    #[arg(long, value_parser = parse_seeds, default_value = "0..500")]
    seeds: Range<u64>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// JSON instead of the table; `--json FILE` writes it to FILE.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
    /// Write each derived variant's topology to DIR/<name>.yaml, to keep the one you choose.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,
}

#[derive(Args)]
struct CalibrateArgs {
    /// A capture (pcap or pcapng) taken where the relayed requests arrive, e.g. `tcpdump -i
    /// eth0 -w boot.pcap 'udp port 67 or udp port 68 or udp port 4011'` on the boot server; with
    /// the client LAN captured too, each relay's latency is measured directly.
    capture: PathBuf,
    /// The topology of the captured network: a relayed copy's giaddr names the router with an
    /// interface at that address.
    #[arg(long, value_name = "FILE")]
    topology: PathBuf,
    /// Write a copy of the topology with the calibrated `relay_delay` lines to OUT (comments
    /// kept), instead of printing the lines to paste.
    #[arg(long, value_name = "OUT")]
    write: Option<PathBuf>,
    /// Seeds as A..B (B excluded) over which the topology and its calibrated copy are compared.
    #[arg(long, value_parser = parse_seeds, default_value = "0..200")]
    seeds: Range<u64>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
}

#[derive(Args)]
struct ShrinkArgs {
    file: PathBuf,
    #[arg(long)]
    seed: u64,
    /// Where to save the shrunk run (default: shrink-<topology>-seed-<N>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Give up minimizing after this many runs (the result still fails, but may keep a few
    /// deviations it does not need).
    #[arg(long, default_value_t = 3000)]
    budget: usize,
    #[command(flatten)]
    overrides: PluginOverrides,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; loopback by default (the UI runs simulations on request).
    #[arg(long, default_value = "127.0.0.1:7878")]
    addr: std::net::SocketAddr,
    /// The topologies the UI offers.
    #[arg(long, default_value = "topologies")]
    topologies: PathBuf,
    /// Keep the runs made in the UI in DIR, so their links survive a restart.
    #[arg(long, value_name = "DIR")]
    runs: Option<PathBuf>,
    /// Open the run record in DIR (`pxelab run --out`, `pxelab live --out`) in the UI: it is
    /// replayed, with no real machine, and shown like any run. Repeatable.
    #[arg(long = "record", value_name = "DIR")]
    records: Vec<PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    /// A few seconds instead of a few minutes (checks the benchmark, not the speed).
    #[arg(long)]
    quick: bool,
    /// The folder with kb2510665.yaml and boot-storm.yaml.
    #[arg(long, default_value = "topologies")]
    topologies: PathBuf,
    /// Also write the figures as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also run a storm of CLIENTS clients in streaming mode only (its log keeps what the
    /// report needs), against the largest smaller storm: `--storm 100000`. Repeatable.
    #[arg(long, value_name = "CLIENTS")]
    storm: Vec<u32>,
}

#[derive(Args)]
struct ImportArgs {
    /// Configuration files, or folders of them. A Linux router is the files of one folder:
    /// its addresses, and its keepalived.conf and isc-dhcp-relay defaults if it runs them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write the topology to FILE, whole or not at all (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// The topology's `name:` (default: the output file's name, else `imported`).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    servers: ServerChoices,
}

/// `--server ADDR=PLUGIN`, repeatable.
#[derive(Args)]
struct ServerChoices {
    /// Run the server at helper address ADDR with PLUGIN (a built-in name or a .wasm path),
    /// e.g. `--server 10.2.0.20=wds-sccm2007`. Repeatable. Without it, the first helper
    /// address is a `dhcp-server` and every other one a `proxydhcp` boot server.
    #[arg(long = "server", value_name = "ADDR=PLUGIN", value_parser = parse_server)]
    servers: Vec<(std::net::Ipv4Addr, String)>,
}

fn parse_shard(text: &str) -> Result<Shard, ArgError> {
    let bad = || ArgError::Shard(text.to_string());
    let (index, count) = text.split_once('/').ok_or_else(bad)?;
    let index: u64 = index.trim().parse().map_err(|_| bad())?;
    let count: u64 = count.trim().parse().map_err(|_| bad())?;
    if index == 0 || count == 0 || index > count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

fn parse_seeds(text: &str) -> Result<Range<u64>, ArgError> {
    let (start, end) = text.split_once("..").ok_or(ArgError::SeedsNotARange)?;
    let number = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| ArgError::NotASeed(part.to_string()))
    };
    let (start, end) = (number(start)?, number(end)?);
    if end <= start {
        return Err(ArgError::EmptySeeds { start, end });
    }
    if end - start > lab::SWEEP_SEEDS_MAX {
        return Err(ArgError::TooManySeeds { start, end });
    }
    Ok(start..end)
}

/// `NODE=PLUGIN` of `--plugin`. A plugin that is not a built-in name is a path relative to the
/// current directory (a topology's own `plugin:` paths are relative to the topology file), so
/// it is made absolute here.
fn parse_bridge(text: &str) -> Result<(String, String), ArgError> {
    let (lan, tap) = text.split_once('=').ok_or(ArgError::NotABridge)?;
    let (lan, tap) = (lan.trim(), tap.trim());
    if lan.is_empty() || tap.is_empty() {
        return Err(ArgError::NotABridge);
    }
    Ok((lan.to_string(), tap.to_string()))
}

fn parse_duration(text: &str) -> Result<u64, String> {
    timing::parse_duration_ns(text).map_err(|error| error.to_string())
}

fn parse_override(text: &str) -> Result<(String, String), ArgError> {
    let (node, plugin) = text.split_once('=').ok_or(ArgError::NotAnOverride)?;
    let (node, plugin) = (node.trim(), plugin.trim());
    if node.is_empty() || plugin.is_empty() {
        return Err(ArgError::NotAnOverride);
    }
    if artifacts::builtin(plugin).is_some() {
        return Ok((node.to_string(), plugin.to_string()));
    }
    if !plugin.ends_with(".wasm") {
        return Err(ArgError::UnknownPlugin(plugin.to_string()));
    }
    let path = std::path::absolute(plugin).map_err(|error| ArgError::Unresolvable {
        path: plugin.to_string(),
        error,
    })?;
    Ok((node.to_string(), path.display().to_string()))
}

/// `ADDR=PLUGIN` of `--server`: a helper address and a plugin, read as `--plugin` reads one.
fn parse_server(text: &str) -> Result<(std::net::Ipv4Addr, String), ArgError> {
    let (address, _) = text.split_once('=').ok_or(ArgError::NotAServer)?;
    let address = address
        .trim()
        .parse()
        .map_err(|_| ArgError::NotAnAddress(address.trim().to_string()))?;
    let (_, plugin) = parse_override(text).map_err(|error| match error {
        ArgError::NotAnOverride => ArgError::NotAServer,
        other => other,
    })?;
    Ok((address, plugin))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.verbose {
        0 => "warn",
        1 => "warn,pxelab=info,lab=info,plugin_host=info",
        _ => "warn,pxelab=debug,lab=debug,plugin_host=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, not in logs and pipes.
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    match execute(cli.command, &cli.cache) {
        Ok(Verdict::Passed) => ExitCode::SUCCESS,
        Ok(Verdict::Failed) => ExitCode::from(1),
        Ok(Verdict::Interrupted) => ExitCode::from(130),
        Err(error) if error.is_internal() => {
            eprintln!("internal error: {error}");
            ExitCode::from(3)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// How a command ended, when it ran: the exit code's meaning.
enum Verdict {
    /// Exit 0: done, and every expectation held.
    Passed,
    /// Exit 1: done, and an expectation failed (or a replay differed).
    Failed,
    /// Exit 130: stopped by Ctrl-C.
    Interrupted,
}

impl Verdict {
    fn of(checks: &[lab::Check]) -> Verdict {
        if checks.iter().all(|check| check.passed) {
            Verdict::Passed
        } else {
            Verdict::Failed
        }
    }
}

/// Loads the topology and applies `--plugin` overrides, checking each plugin loads.
fn plan(
    file: &Path,
    overrides: &[(String, String)],
    services: &Services,
) -> Result<topology::Plan, CliError> {
    let mut plan = topology::load(file)?;
    for (node, plugin) in overrides {
        let bad = |error: String| CliError::Override {
            node: node.clone(),
            plugin: plugin.clone(),
            error,
        };
        plan.override_plugin(node, plugin)
            .map_err(|e| bad(e.to_string()))?;
        services
            .load(plugin, Path::new("."))
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(plan)
}

/// Writes `bytes` to `path` atomically.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    lab::write_atomically(path, bytes).map_err(|error| CliError::Write {
        path: path.to_path_buf(),
        error,
    })
}

/// `--json` with no value (`-`) means stdout.
fn json_to_stdout(json: &Option<PathBuf>) -> bool {
    json.as_deref() == Some(Path::new("-"))
}

/// One line of JSON for a report. Through `Value`, whose objects keep their keys sorted: the
/// JSON users keep (sweeps, merges, journals) is the same whatever the field order in Rust.
fn json_line(report: &impl serde::Serialize) -> Result<String, CliError> {
    let value = serde_json::to_value(report).map_err(CliError::Json)?;
    Ok(format!("{value}\n"))
}

/// `json_line`, indented, for the files people read.
fn json_pretty(report: &impl serde::Serialize) -> Result<String, CliError> {
    let value = serde_json::to_value(report).map_err(CliError::Json)?;
    Ok(format!("{value:#}\n"))
}

fn execute(command: Command, cache: &CacheFlags) -> Result<Verdict, CliError> {
    let services = || Services::with_cache_dir(cache.dir()).map_err(CliError::Services);
    match command {
        Command::Schema => schema(),
        Command::Serve(args) => serve(args, cache.dir()),
        Command::Run(args) => run(args, &services()?),
        Command::Replay { dir } => replay(&dir, &services()?),
        Command::Check { files } => check(&files, &services()?),
        Command::Merge { files, junit } => merge(&files, junit.as_deref()),
        Command::Sweep(args) => sweep(args, &services()?),
        Command::Compare(args) => compare(args, &services()?),
        Command::Scenarios(args) => scenarios(args, &services()?),
        Command::Advise(args) => advise(args, &services()?),
        Command::Calibrate(args) => calibrate(args, &services()?),
        Command::Live(args) => live(args, &services()?),
        Command::Shrink(args) => shrink(args, &services()?),
        Command::Bench(args) => bench(args, &services()?),
        Command::Import(args) => import(args, &services()?),
    }
}

/// Reads the configurations, reports every line not modelled on stderr, checks the topology
/// loads and its plugins start, and only then writes it.
fn import(args: ImportArgs, services: &Services) -> Result<Verdict, CliError> {
    let inputs = import::read(&args.files)?;
    let name = args.name.clone().or_else(|| {
        let stem = args.output.as_ref()?.file_stem()?;
        Some(stem.to_string_lossy().into_owned())
    });
    let options = import::Options {
        name,
        servers: args.servers.servers,
        output: args.output.clone(),
    };
    let imported = import::import(&inputs, &options)?;
    let mut report = String::new();
    for line in import::report::condensed(&imported.notes) {
        let _ = writeln!(report, "{line}");
    }
    for (address, node, plugin, choice) in &imported.servers {
        let why = match choice {
            import::Choice::Given => "given with --server".to_string(),
            import::Choice::Default(why) => {
                format!("default: {why}; --server {address}=PLUGIN picks another")
            }
        };
        let _ = writeln!(
            report,
            "server {address}: node {node}, plugin {plugin} ({why})"
        );
    }
    let file = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("imported.yaml"));
    let plan = topology::parse(&file, &imported.yaml)?;
    lab::check(&plan, services)?;
    let into = args
        .output
        .as_ref()
        .map_or("stdout".to_string(), |p| p.display().to_string());
    let files = imported.files.len();
    let _ = match imported.notes.len() {
        0 => write!(
            report,
            "imported {files} file(s) into {into}; every line is modelled"
        ),
        notes => write!(
            report,
            "imported {files} file(s) into {into}; {notes} line(s) not modelled, listed above and in its header"
        ),
    };
    eprintln!("{report}");
    match &args.output {
        Some(path) => write_file(path, imported.yaml.as_bytes())?,
        None => write_stdout(&imported.yaml)?,
    }
    Ok(Verdict::Passed)
}

fn schema() -> Result<Verdict, CliError> {
    let schema = topology::schema();
    write_stdout(&format!("{schema:#}\n"))?;
    Ok(Verdict::Passed)
}

fn serve(args: ServeArgs, cache_dir: Option<PathBuf>) -> Result<Verdict, CliError> {
    if !args.topologies.is_dir() {
        return Err(CliError::NotTopologies(args.topologies));
    }
    let options = web::Options {
        addr: args.addr,
        topologies_dir: args.topologies,
        runs_dir: args.runs,
        cache_dir,
        records: args.records,
    };
    web::serve(options)?;
    Ok(Verdict::Passed)
}

fn run(args: RunArgs, services: &Services) -> Result<Verdict, CliError> {
    let plan = plan(&args.file, &args.overrides.plugins, services)?;
    let seed = args.seed;
    tracing::info!(topology = %plan.name, seed, "running");
    let world = lab::run(&plan, seed, services)?;
    let log = world.log();
    let report = world.report();
    if tracing::enabled!(tracing::Level::DEBUG) {
        for record in log.records() {
            let node = log.node_name(record.node);
            let text = lab::describe_record(&record.kind);
            tracing::debug!(time_ns = record.time_ns, node, "{text}");
        }
    }
    if let Some(path) = &args.pcap {
        let bytes = capture::pcapng(log);
        write_file(path, &bytes)?;
        tracing::info!(path = %path.display(), bytes = bytes.len(), "pcapng written");
    }
    if let Some(path) = &args.trace_json {
        let trace = web::trace_json(&plan, &world);
        write_file(path, format!("{trace}\n").as_bytes())?;
    }
    if let Some(dir) = &args.out {
        lab::record::write_record(dir, &plan, &world, None, None)?;
    }
    let checks = lab::run_checks(&plan.expect, report);
    if let Some(path) = &args.report.junit {
        let suite = format!("pxelab run {} seed {seed}", plan.name);
        write_file(path, lab::junit_xml(&suite, &plan.name, &checks).as_bytes())?;
    }
    let json = json_line(&lab::RunReport::of(&plan, report).with_checks(checks.clone()))?;
    let output = if args.report.json_to_stdout() {
        json
    } else {
        if let Some(path) = &args.report.json {
            write_file(path, json.as_bytes())?;
        }
        let mut output = render_report(&plan, &world);
        render_checks(&mut output, &checks);
        if let Some(dir) = &args.out {
            let _ = writeln!(
                output,
                "record    {} (check it with `pxelab replay {}`)",
                dir.display(),
                dir.display()
            );
        }
        output
    };
    write_stdout(&output)?;
    Ok(Verdict::of(&checks))
}

fn replay(dir: &Path, services: &Services) -> Result<Verdict, CliError> {
    let replay = lab::record::replay(dir, services)?;
    let mut output = String::new();
    for (node, then, now) in &replay.changed_plugins {
        let _ = writeln!(
            output,
            "warning   plugin of {node} changed since the record: sha256 {then} then, {now} now"
        );
    }
    let _ = writeln!(output, "seed      {}", replay.seed);
    if replay.scheduled {
        let _ = writeln!(
            output,
            "schedule  shrunk: timing draws pinned as in schedule.json"
        );
    }
    let _ = writeln!(output, "recorded  {}", replay.recorded_digest);
    let _ = writeln!(
        output,
        "replayed  {} ({} events)",
        replay.digest, replay.events
    );
    if replay.matches() {
        let _ = writeln!(output, "replay    ok: the same run, event for event");
        render_checks(&mut output, &replay.checks);
        write_stdout(&output)?;
        return Ok(Verdict::Passed);
    }
    let what = if replay.digest == replay.recorded_digest {
        "the record's events were altered: they are not what this run logs"
    } else {
        "DIFFERENT RUN: the digests differ"
    };
    let _ = writeln!(output, "replay    {what}");
    if let Some(divergence) = &replay.divergence {
        let _ = writeln!(output, "{divergence}");
    }
    write_stdout(&output)?;
    Ok(Verdict::Failed)
}

fn check(files: &[PathBuf], services: &Services) -> Result<Verdict, CliError> {
    let mut output = String::new();
    let mut failed = 0;
    for file in files {
        let checked = topology::load(file).and_then(|plan| {
            lab::check(&plan, services)?;
            Ok(plan)
        });
        match checked {
            Ok(plan) => {
                let _ = writeln!(output, "ok     {} ({})", file.display(), plan.name);
            }
            Err(error) => {
                failed += 1;
                let _ = writeln!(output, "error  {}", error.render());
            }
        }
    }
    write_stdout(&output)?;
    if failed > 0 {
        return Err(CliError::TopologiesWithErrors {
            failed,
            total: files.len(),
        });
    }
    Ok(Verdict::Passed)
}

/// A sweep report a shard wrote.
fn read_sweep_report(file: &Path) -> Result<lab::SweepReport, CliError> {
    let text = std::fs::read_to_string(file).map_err(|error| CliError::Read {
        path: file.to_path_buf(),
        error,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| CliError::NotJson {
            path: file.to_path_buf(),
            error,
        })?;
    serde_json::from_value(value).map_err(|error| CliError::NotASweep {
        path: file.to_path_buf(),
        error,
    })
}

fn merge(files: &[PathBuf], junit: Option<&Path>) -> Result<Verdict, CliError> {
    let shards = files
        .iter()
        .map(|file| read_sweep_report(file))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = lab::merge(&shards)?;
    let checks = merged.checks.clone().unwrap_or_default();
    if let Some(path) = junit {
        let name = &merged.topology;
        let suite = format!(
            "pxelab sweep {name} seeds {}..{}",
            merged.seeds.start, merged.seeds.end
        );
        write_file(path, lab::junit_xml(&suite, name, &checks).as_bytes())?;
    }
    write_stdout(&json_line(&merged)?)?;
    Ok(Verdict::of(&checks))
}

/// A sweep's seeds with what an earlier, interrupted run of it already did.
struct SweepPlan {
    /// Every seed of this sweep (or shard).
    selected: Vec<u64>,
    /// The seeds still to run.
    todo: Vec<u64>,
    done: Vec<lab::SeedResult>,
    diverged: Vec<(u64, String)>,
    journal: Option<checkpoint::Journal>,
}

fn plan_sweep(args: &SweepArgs, plan: &topology::Plan) -> Result<SweepPlan, CliError> {
    let seeds = &args.seeds.seeds;
    let selected = match args.shard {
        Some(shard) => lab::shard_seeds(seeds.clone(), shard.index, shard.count),
        None => seeds.clone().collect(),
    };
    let header = checkpoint::Header::of(plan, seeds, args.shard, args.check_determinism);
    let (mut done, mut diverged) = (Vec::new(), Vec::new());
    let journal = match &args.checkpoint {
        Some(path) if args.resume => {
            (done, diverged) = checkpoint::read(path, &header)?;
            Some(checkpoint::Journal::append(path)?)
        }
        Some(path) => Some(checkpoint::Journal::create(path, &header)?),
        None => None,
    };
    let finished: std::collections::BTreeSet<u64> = done
        .iter()
        .map(|result: &lab::SeedResult| result.seed)
        .collect();
    let todo = selected
        .iter()
        .copied()
        .filter(|seed| !finished.contains(seed))
        .collect();
    Ok(SweepPlan {
        selected,
        todo,
        done,
        diverged,
        journal,
    })
}

fn sweep(args: SweepArgs, services: &Services) -> Result<Verdict, CliError> {
    let plan = plan(&args.file, &args.overrides.plugins, services)?;
    let jobs = args.seeds.jobs();
    let SweepPlan {
        selected,
        todo,
        mut done,
        mut diverged,
        mut journal,
    } = plan_sweep(&args, &plan)?;
    let mut progress = Progress::new(selected.len() as u64, done.len() as u64);
    let started = Instant::now();
    let options = lab::SweepOptions {
        jobs,
        check_determinism: args.check_determinism,
        stop: Some(interrupted()),
    };
    let mut journal_error = None;
    let outcome = lab::sweep_observed(&plan, &todo, options, services, &mut |result| {
        progress.seed(result);
        if let Some(journal) = journal.as_mut()
            && let Err(error) = journal.record(result)
        {
            journal_error.get_or_insert(error);
        }
    })?;
    progress.finish();
    if let Some(error) = journal_error {
        return Err(error.into());
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let ran = outcome.result.runs;
    if let Some(journal) = journal.as_mut() {
        for (seed, divergence) in &outcome.result.nondeterministic {
            journal.diverged(*seed, divergence)?;
        }
    }
    done.extend(outcome.result.per_seed);
    diverged.extend(outcome.result.nondeterministic);
    let result = lab::SweepResult::from_seeds(done, diverged);
    if !outcome.complete {
        return sweep_interrupted(&args, &plan, &result, selected.len());
    }
    sweep_finished(&args, &plan, &result, (ran, elapsed_s, jobs))
}

/// What an interrupted sweep prints: what finished, and how to go on.
fn sweep_interrupted(
    args: &SweepArgs,
    plan: &topology::Plan,
    result: &lab::SweepResult,
    selected: usize,
) -> Result<Verdict, CliError> {
    let mut output = String::new();
    render_sweep(
        &mut output,
        plan,
        &args.file,
        &args.seeds.seeds,
        result,
        None,
    );
    let _ = writeln!(
        output,
        "interrupted after {} of {selected} seeds; no result files were written",
        result.runs,
    );
    match &args.checkpoint {
        Some(path) => {
            let _ = writeln!(
                output,
                "resume with the same command and --resume (checkpoint {})",
                path.display()
            );
        }
        None => {
            let _ = writeln!(
                output,
                "to be able to resume, run sweeps with --checkpoint FILE"
            );
        }
    }
    write_stdout(&output)?;
    Ok(Verdict::Interrupted)
}

/// A finished sweep's report, files and verdict; `speed` is (seeds run, seconds, jobs).
fn sweep_finished(
    args: &SweepArgs,
    plan: &topology::Plan,
    result: &lab::SweepResult,
    speed: (u64, f64, usize),
) -> Result<Verdict, CliError> {
    let seeds = &args.seeds.seeds;
    let file = args.file.display().to_string();
    let report = lab::sweep_report(plan, &file, seeds, args.shard, result);
    let checks = match args.shard {
        // A shard's verdict is the merged sweep's, made by `pxelab merge`.
        Some(_) => lab::sweep_checks(&no_expectations(), result),
        None => lab::sweep_checks(&plan.expect, result),
    };
    if let Some(path) = &args.report.junit {
        let suite = format!(
            "pxelab sweep {} seeds {}..{}",
            plan.name, seeds.start, seeds.end
        );
        write_file(path, lab::junit_xml(&suite, &plan.name, &checks).as_bytes())?;
    }
    let json = json_line(&report)?;
    let output = if args.report.json_to_stdout() {
        json
    } else {
        if let Some(path) = &args.report.json {
            write_file(path, json.as_bytes())?;
        }
        let mut output = String::new();
        render_sweep(&mut output, plan, &args.file, seeds, result, Some(speed));
        render_checks(&mut output, &checks);
        output
    };
    write_stdout(&output)?;
    Ok(Verdict::of(&checks))
}

fn compare(args: CompareArgs, services: &Services) -> Result<Verdict, CliError> {
    let jobs = args.seeds.jobs();
    let seeds = &args.seeds.seeds;
    let mut rows = Vec::new();
    for file in &args.files {
        let plan = plan(file, &[], services)?;
        let Some(result) = sweep_with_progress(&plan, seeds, jobs, services)? else {
            eprintln!("interrupted during {}", file.display());
            return Ok(Verdict::Interrupted);
        };
        rows.push(lab::compare_row(
            &plan,
            &file.display().to_string(),
            &result,
        ));
    }
    let json = json_line(&lab::compare_report(&rows, seeds))?;
    if json_to_stdout(&args.json) {
        write_stdout(&json)?;
    } else {
        if let Some(path) = &args.json {
            write_file(path, json.as_bytes())?;
        }
        write_stdout(&lab::compare_table(&rows, seeds))?;
    }
    Ok(Verdict::Passed)
}

/// One topology swept over `seeds` with a progress bar named after it; `None` when interrupted.
fn sweep_with_progress(
    plan: &topology::Plan,
    seeds: &Range<u64>,
    jobs: usize,
    services: &Services,
) -> Result<Option<lab::SweepResult>, CliError> {
    sweep_with_progress_as(plan, &plan.name, seeds, jobs, services)
}

/// One topology swept over `seeds` with a progress bar named `label`; `None` when interrupted.
fn sweep_with_progress_as(
    plan: &topology::Plan,
    label: &str,
    seeds: &Range<u64>,
    jobs: usize,
    services: &Services,
) -> Result<Option<lab::SweepResult>, CliError> {
    let selected: Vec<u64> = seeds.clone().collect();
    let mut progress = Progress::new(selected.len() as u64, 0);
    progress.label = label.to_string();
    let options = lab::SweepOptions {
        jobs,
        check_determinism: false,
        stop: Some(interrupted()),
    };
    let outcome = lab::sweep_observed(plan, &selected, options, services, &mut |result| {
        progress.seed(result)
    })?;
    progress.finish();
    Ok(outcome.complete.then_some(outcome.result))
}

fn scenarios(args: ScenariosArgs, services: &Services) -> Result<Verdict, CliError> {
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let files = lab::scenarios::scenario_files(&args.dir)
        .map_err(|_| CliError::NotTopologies(args.dir.clone()))?;
    let mut rows = Vec::new();
    for file in &files {
        let scenario = plan(file, &[], services)?;
        let Some(fix) = lab::scenarios::fix_path(&scenario) else {
            continue;
        };
        if !fix.is_file() {
            return Err(CliError::Topology(scenario.error_at(
                &["scenario:", "fix:", "file:"],
                format!("the fix variant {} does not exist", fix.display()),
                "name a topology file in the scenario's folder",
            )));
        }
        let fixed = plan(&fix, &[], services)?;
        let Some(result) = sweep_with_progress(&scenario, &args.seeds, jobs, services)? else {
            return Ok(Verdict::Interrupted);
        };
        let Some(fix_result) = sweep_with_progress(&fixed, &args.seeds, jobs, services)? else {
            return Ok(Verdict::Interrupted);
        };
        let name = file
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
        rows.extend(lab::scenarios::scenario_row(
            &scenario,
            &name,
            &result,
            &fix_result,
        ));
    }
    if rows.is_empty() {
        return Err(CliError::NotTopologies(args.dir.clone()));
    }
    let report = lab::scenarios::ScenariosReport {
        seeds: args.seeds.clone(),
        scenarios: rows,
    };
    let json = json_line(&report)?;
    if json_to_stdout(&args.json) {
        write_stdout(&json)?;
    } else {
        if let Some(path) = &args.json {
            write_file(path, json.as_bytes())?;
        }
        write_stdout(&lab::scenarios::scenarios_table(
            &report.scenarios,
            &args.seeds,
        ))?;
    }
    Ok(Verdict::Passed)
}

fn live(args: LiveArgs, services: &Services) -> Result<Verdict, CliError> {
    let mut plan = plan(&args.file, &args.overrides.plugins, services)?;
    for (lan, tap) in &args.bridges {
        plan.set_bridge(lan, tap)?;
    }
    let bridges = plan.bridges();
    if bridges.is_empty() {
        return Err(CliError::NoBridge(args.file.clone()));
    }
    // Bad configuration is found before any TAP is touched.
    lab::check(&plan, services)?;
    let world = plan.build(args.seed, services)?;
    let mut bridged = Vec::new();
    for bridge in &bridges {
        let node = world
            .node_id(&bridge.node)
            .expect("the plan adds a node per bridge");
        let tap = live::Tap::open(&bridge.tap).map_err(CliError::Tap)?;
        eprintln!("bridged LAN `{}` to TAP `{}`", bridge.lan, tap.name);
        bridged.push(live::Bridged {
            node,
            name: bridge.node.clone(),
            tap,
        });
    }
    let options = live::Options {
        stop: Some(interrupted()),
        lag_max_ns: args.lag_max,
        ..live::Options::default()
    };
    let ran = live::run(world, &bridged, &options).map_err(CliError::Live)?;
    if let Some(dir) = &args.out {
        let record = lab::record::LiveRecord::of(&plan, &ran);
        lab::record::write_record(dir, &plan, &ran.run, None, Some(&record))?;
    }
    let checks = lab::run_checks(&plan.expect, ran.run.report());
    if let Some(path) = &args.json {
        let report = lab::RunReport::of(&plan, ran.run.report()).with_checks(checks.clone());
        let mut json = serde_json::to_value(report).map_err(CliError::Json)?;
        json["live"] = serde_json::json!({
            "frames_in": ran.injected.len(),
            "frames_out": ran.emitted,
            "dropped_oversize": ran.dropped_oversize,
            "dropped_flood": ran.dropped_flood,
            "lag_p99_ns": ran.lag.p99_ns,
            "lag_max_ns": ran.lag.max_ns,
            "lag_steps": ran.lag.steps,
        });
        write_file(path, format!("{json}\n").as_bytes())?;
    }
    let mut output = render_report(&plan, &ran.run);
    render_checks(&mut output, &checks);
    let _ = writeln!(
        output,
        "live      {} frames in, {} out; dropped {} oversize, {} over the rate limit",
        ran.injected.len(),
        ran.emitted,
        ran.dropped_oversize,
        ran.dropped_flood
    );
    let _ = writeln!(
        output,
        "lag       p99 {}, max {} behind real time over {} steps",
        timing::format_ns(ran.lag.p99_ns),
        timing::format_ns(ran.lag.max_ns),
        ran.lag.steps
    );
    if let Some(dir) = &args.out {
        let _ = writeln!(
            output,
            "record    {} (replay it without the real machines: `pxelab replay {}`)",
            dir.display(),
            dir.display()
        );
    }
    write_stdout(&output)?;
    Ok(match ran.ended {
        live::Ended::Interrupted => Verdict::Interrupted,
        live::Ended::FellBehind { lag_ns, at_ns } => {
            eprintln!(
                "error: the simulation fell {} behind real time at {}; the run stopped there (a smaller topology, or --lag-max)",
                timing::format_ns(lag_ns),
                timing::format_ns(at_ns)
            );
            Verdict::Failed
        }
        live::Ended::Limit(_) => Verdict::of(&checks),
    })
}

fn advise(args: AdviseArgs, services: &Services) -> Result<Verdict, CliError> {
    let plan = plan(&args.file, &[], services)?;
    let (variants, skipped) = lab::advise::variants(&plan)?;
    if let Some(dir) = &args.write {
        std::fs::create_dir_all(dir).map_err(|error| CliError::Write {
            path: dir.clone(),
            error,
        })?;
        for variant in variants.iter().skip(1) {
            let path = dir.join(format!("{}.yaml", variant.plan.name));
            let header = format!(
                "# {} of {}, written by `pxelab advise`:\n{}",
                variant.fix,
                args.file.display(),
                variant
                    .changes
                    .iter()
                    .map(|change| format!("#   {change}\n"))
                    .collect::<String>()
            );
            write_file(&path, format!("{header}{}", variant.yaml).as_bytes())?;
        }
    }
    let seeds = &args.seeds;
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let mut rows = Vec::new();
    for variant in &variants {
        let label = variant.fix.label();
        let Some(result) = sweep_with_progress_as(&variant.plan, label, seeds, jobs, services)?
        else {
            eprintln!("interrupted during {}", variant.fix);
            return Ok(Verdict::Interrupted);
        };
        rows.push(lab::compare_row(
            &variant.plan,
            &args.file.display().to_string(),
            &result,
        ));
    }
    let advice = lab::advise::advise(&variants, &rows);
    if json_to_stdout(&args.json) {
        write_stdout(&json_line(&lab::advise::report(&advice, &skipped, seeds))?)?;
    } else {
        if let Some(path) = &args.json {
            let json = json_line(&lab::advise::report(&advice, &skipped, seeds))?;
            write_file(path, json.as_bytes())?;
        }
        write_stdout(&lab::advise::advice_text(&advice, &skipped, seeds))?;
    }
    Ok(Verdict::Passed)
}

fn calibrate(args: CalibrateArgs, services: &Services) -> Result<Verdict, CliError> {
    use lab::calibrate;
    let plan = plan(&args.topology, &[], services)?;
    let capture = calibrate::read_capture(&args.capture)?;
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    let calibration = calibrate::calibrate(&capture, &plan, calibrate::CalibrateOptions { jobs })?;
    let header = calibrate::header_comment(&calibration);
    let (text, calibrated) = calibrate::calibrated_topology(&plan, &calibration, &header)?;
    let mut output = calibrate::render(&calibration);
    let calibrated_file = match &args.write {
        Some(out) => {
            write_file(out, text.as_bytes())?;
            let _ = writeln!(
                output,
                "\nwrote     {} ({} with the relay_delay lines above)",
                out.display(),
                args.topology.display()
            );
            out.display().to_string()
        }
        None => {
            let _ = write!(
                output,
                "\npaste into {}:\n{}",
                args.topology.display(),
                calibrate::paste_text(&calibration)
            );
            "(calibrated)".to_string()
        }
    };
    write_stdout(&output)?;

    let seeds = &args.seeds;
    let mut rows = Vec::new();
    let variants = [
        (&plan, args.topology.display().to_string()),
        (&calibrated, calibrated_file),
    ];
    for (variant, file) in variants {
        let Some(result) = sweep_with_progress(variant, seeds, jobs, services)? else {
            eprintln!("interrupted during {}", variant.name);
            return Ok(Verdict::Interrupted);
        };
        rows.push(lab::compare_row(variant, &file, &result));
    }
    let predicted = &rows[1];
    let (low, high) = predicted.crash_rate_ci95;
    write_stdout(&format!(
        "\npredicted crash rate with the calibrated relays: {} (95% CI {} to {}), over seeds \
         {}..{}\n{}",
        lab::percent(predicted.crash_rate),
        lab::percent(low),
        lab::percent(high),
        seeds.start,
        seeds.end,
        lab::compare_table(&rows, seeds)
    ))?;
    Ok(Verdict::Passed)
}

fn shrink(args: ShrinkArgs, services: &Services) -> Result<Verdict, CliError> {
    let plan = plan(&args.file, &args.overrides.plugins, services)?;
    let seed = args.seed;
    let dir = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("shrink-{}-seed-{seed}", plan.name)));
    let terminal = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let shrunk = lab::shrink::shrink(&plan, seed, services, args.budget, &mut |runs, size| {
        if terminal && last.elapsed().as_millis() >= 500 {
            last = Instant::now();
            eprint!("\rshrinking: {runs} runs, {size} deviations left   ");
        }
    })
    .map_err(CliError::Shrink)?;
    if terminal {
        eprint!("\r{:60}\r", "");
    }
    let schedule = lab::shrink::schedule_json(&shrunk.kept);
    lab::record::write_record(&dir, &plan, &shrunk.run, Some(&schedule), None)?;
    let mut output = String::new();
    let _ = writeln!(output, "topology  {} ({})", plan.name, args.file.display());
    let _ = writeln!(
        output,
        "seed      {seed}, failing: {}",
        shrunk.failed_checks.join(", ")
    );
    let _ = writeln!(
        output,
        "shrunk    {} timing deviations from nominal down to {} in {} runs{}",
        shrunk.original_deviations,
        shrunk.kept.len(),
        shrunk.runs,
        if shrunk.minimal {
            ""
        } else {
            " (budget reached: may not be minimal)"
        }
    );
    let _ = writeln!(output, "\n{}", shrunk.explanation.trim_end());
    let _ = writeln!(
        output,
        "\nrecord    {} (schedule.json lists the kept draws)",
        dir.display()
    );
    let _ = writeln!(output, "replay    pxelab replay {}", dir.display());
    write_stdout(&output)?;
    Ok(Verdict::Passed)
}

fn bench(args: BenchArgs, services: &Services) -> Result<Verdict, CliError> {
    let mut options = if args.quick {
        lab::bench::BenchOptions::quick()
    } else {
        lab::bench::BenchOptions::full()
    };
    options.streaming_storm_clients = args.storm.clone();
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; run `cargo run --release -- bench` for real figures");
    }
    let heap = lab::bench::HeapProbe {
        counting: heap::counting,
        live_bytes: heap::live_bytes,
    };
    let figures = lab::bench::bench(
        &args.topologies,
        services,
        &options,
        Some(heap),
        &mut |what| {
            eprintln!("measuring {what} ...");
        },
    )?;
    let mut output = String::new();
    let width = figures.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for figure in &figures {
        let verdict = match (figure.met(), figure.target) {
            (Some(true), Some(target)) => format!("  target {} met", target_text(target)),
            (Some(false), Some(target)) => {
                format!("  target {} MISSED", target_text(target))
            }
            _ => String::new(),
        };
        let _ = writeln!(
            output,
            "{:<width$}  {:>14} {:<12}{verdict}\n{:<width$}  {}",
            figure.name,
            format_figure(figure.value),
            figure.unit,
            "",
            figure.detail
        );
    }
    if let Some(path) = &args.json {
        write_file(path, json_pretty(&figures)?.as_bytes())?;
    }
    write_stdout(&output)?;
    Ok(Verdict::Passed)
}

fn target_text(target: lab::bench::Target) -> String {
    match target {
        lab::bench::Target::AtLeast(limit) => format!(">= {}", format_figure(limit)),
        lab::bench::Target::AtMost(limit) => format!("<= {}", format_figure(limit)),
    }
}

/// A figure with as many digits as it deserves, thousands grouped.
fn format_figure(value: f64) -> String {
    if value >= 1000.0 {
        let digits = format!("{value:.0}");
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        grouped
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Raised by the first Ctrl-C, so sweeps stop taking seeds and report what finished; a second
/// Ctrl-C exits at once. The handler is installed on first use.
fn interrupted() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    });
    &STOP
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Expectations that ask nothing: what a shard checks on its own (only determinism).
fn no_expectations() -> topology::Expectations {
    topology::Expectations {
        every_client_boots: false,
        boot_within_ns: None,
        no_crashes: false,
        crash_rate_below: None,
        failure_rate_below: None,
    }
}

fn render_checks(output: &mut String, checks: &[lab::Check]) {
    if checks.is_empty() {
        let _ = writeln!(
            output,
            "expect    nothing (the topology's `expect:` asks for nothing)"
        );
        return;
    }
    for check in checks {
        let verdict = if check.passed { "ok    " } else { "FAILED" };
        let _ = writeln!(
            output,
            "expect    {verdict} {}: {}",
            check.name, check.detail
        );
    }
}

fn render_sweep(
    output: &mut String,
    plan: &topology::Plan,
    file: &Path,
    seeds: &std::ops::Range<u64>,
    result: &lab::SweepResult,
    speed: Option<(u64, f64, usize)>,
) {
    let shown: Vec<String> = result
        .failing_seeds
        .iter()
        .take(20)
        .map(u64::to_string)
        .collect();
    let more = result.failing_seeds.len().saturating_sub(shown.len());
    let _ = writeln!(output, "topology       {} ({})", plan.name, file.display());
    let _ = writeln!(output, "seeds          {}..{}", seeds.start, seeds.end);
    let _ = writeln!(output, "runs           {}", result.runs);
    let _ = writeln!(output, "crashed runs   {}", result.crashed_runs);
    let (low, high) = result.crash_rate_ci95();
    let _ = writeln!(
        output,
        "crash rate     {} (95% CI {} to {})",
        lab::percent(result.crash_rate()),
        lab::percent(low),
        lab::percent(high)
    );
    if let Some(spread) = result.time_to_first_crash() {
        let _ = writeln!(
            output,
            "first crash    median {}, p90 {}, min {}, max {} (simulated, over crashed runs)",
            format_ns(spread.median_ns),
            format_ns(spread.p90_ns),
            format_ns(spread.min_ns),
            format_ns(spread.max_ns)
        );
    }
    let _ = writeln!(
        output,
        "unbooted runs  {} (a client did not boot)",
        result.unbooted_runs
    );
    if shown.is_empty() {
        let _ = writeln!(output, "failing seeds  none");
    } else {
        let tail = if more > 0 {
            format!(" ... and {more} more (--json lists all)")
        } else {
            String::new()
        };
        let _ = writeln!(output, "failing seeds  {}{tail}", shown.join(" "));
        let _ = writeln!(
            output,
            "replay one     {}",
            lab::replay_command(plan, result.failing_seeds[0])
        );
    }
    for (seed, divergence) in result.nondeterministic.iter().take(3) {
        let _ = writeln!(output, "NONDETERMINISTIC seed {seed}: {divergence}");
    }
    if let Some((ran, elapsed_s, jobs)) = speed {
        let seeds_per_s = ran as f64 / elapsed_s.max(1e-9);
        let _ = writeln!(
            output,
            "speed          {seeds_per_s:.0} seeds/s on {jobs} thread(s), {elapsed_s:.2} s wall"
        );
    }
}

/// Sweep progress on stderr: a bar with rate and ETA at a terminal, a plain line every tenth
/// of the sweep otherwise (logs, CI).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    done: u64,
    crashed: u64,
    next_line: u64,
    started: Instant,
    label: String,
}

impl Progress {
    fn new(total: u64, done: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix}{bar:30} {pos}/{len} seeds  {per_sec}  ETA {eta}  {msg}",
                )
                .expect("a valid template"),
            );
            bar.set_position(done);
            bar
        });
        Progress {
            bar,
            total,
            done,
            crashed: 0,
            next_line: done + total.div_ceil(10).max(1),
            started: Instant::now(),
            label: String::new(),
        }
    }

    fn seed(&mut self, result: &lab::SeedResult) {
        self.done += 1;
        self.crashed += u64::from(result.crashes > 0);
        match &self.bar {
            Some(bar) => {
                if bar.prefix().is_empty() && !self.label.is_empty() {
                    bar.set_prefix(format!("{} ", self.label));
                }
                bar.set_message(format!("{} crashed", self.crashed));
                bar.inc(1);
            }
            None if self.done >= self.next_line && self.done < self.total => {
                self.next_line += self.total.div_ceil(10).max(1);
                let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
                eprintln!(
                    "{}{}/{} seeds, {rate:.0} seeds/s, {} crashed",
                    if self.label.is_empty() {
                        String::new()
                    } else {
                        format!("{}: ", self.label)
                    },
                    self.done,
                    self.total,
                    self.crashed
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The checkpoint of a sweep: a JSON-lines file, a header line naming the sweep, then one
/// line per finished seed, appended and flushed as seeds finish. A line cut short by a kill
/// is ignored on `--resume`.
mod checkpoint {
    use std::io::Write as _;
    use std::ops::Range;
    use std::path::{Path, PathBuf};

    use lab::{SeedResult, Shard};
    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    /// The first line: what the sweep is, so `--resume` refuses another sweep's checkpoint.
    #[derive(Serialize, Deserialize)]
    pub struct Header {
        /// The journal format, 1.
        pxelab_checkpoint: u64,
        topology_sha256: String,
        /// `A..B`.
        seeds: String,
        shard: Option<Shard>,
        plugin_overrides: Vec<(String, String)>,
        check_determinism: bool,
    }

    impl Header {
        pub fn of(
            plan: &topology::Plan,
            seeds: &Range<u64>,
            shard: Option<Shard>,
            check_determinism: bool,
        ) -> Header {
            Header {
                pxelab_checkpoint: 1,
                topology_sha256: lab::sha256_hex(plan.source().as_bytes()),
                seeds: format!("{}..{}", seeds.start, seeds.end),
                shard,
                plugin_overrides: plan.plugin_overrides.clone(),
                check_determinism,
            }
        }
    }

    /// A seed whose two runs differed.
    #[derive(Serialize, Deserialize)]
    struct Diverged {
        diverged: u64,
        #[serde(default)]
        divergence: String,
    }

    #[derive(Debug)]
    pub enum CheckpointError {
        Io {
            path: PathBuf,
            error: std::io::Error,
        },
        CannotResume {
            path: PathBuf,
            error: std::io::Error,
        },
        NotACheckpoint(PathBuf),
        /// The checkpoint of another sweep; `differs` names the header fields that differ.
        OtherSweep {
            path: PathBuf,
            differs: Vec<&'static str>,
        },
    }

    impl std::fmt::Display for CheckpointError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                CheckpointError::Io { path, error } => {
                    write!(f, "checkpoint {}: {error}", path.display())
                }
                CheckpointError::CannotResume { path, error } => write!(
                    f,
                    "cannot resume from {}: {error} (start the sweep with --checkpoint {} and without --resume)",
                    path.display(),
                    path.display()
                ),
                CheckpointError::NotACheckpoint(path) => {
                    write!(f, "{} is not a pxelab sweep checkpoint", path.display())
                }
                CheckpointError::OtherSweep { path, differs } => write!(
                    f,
                    "{} is the checkpoint of another sweep (it differs in: {}); run this sweep without --resume, or with the options it was started with",
                    path.display(),
                    if differs.is_empty() {
                        "its format".to_string()
                    } else {
                        differs.join(", ")
                    }
                ),
            }
        }
    }

    impl std::error::Error for CheckpointError {}

    /// Lines as the journal has always had them: through `Value`, keys sorted.
    fn line_of(value: &impl Serialize) -> Value {
        serde_json::to_value(value).unwrap_or(Value::Null)
    }

    pub struct Journal {
        file: std::fs::File,
        path: PathBuf,
    }

    impl Journal {
        pub fn create(path: &Path, header: &Header) -> Result<Journal, CheckpointError> {
            let mut journal = Journal {
                file: std::fs::File::create(path).map_err(|e| cannot(path, e))?,
                path: path.to_path_buf(),
            };
            journal.line(&line_of(header))?;
            Ok(journal)
        }

        pub fn append(path: &Path) -> Result<Journal, CheckpointError> {
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| cannot(path, e))?;
            Ok(Journal {
                file,
                path: path.to_path_buf(),
            })
        }

        pub fn record(&mut self, result: &SeedResult) -> Result<(), CheckpointError> {
            self.line(&line_of(result))
        }

        pub fn diverged(&mut self, seed: u64, divergence: &str) -> Result<(), CheckpointError> {
            self.line(&line_of(&Diverged {
                diverged: seed,
                divergence: divergence.to_string(),
            }))
        }

        fn line(&mut self, value: &Value) -> Result<(), CheckpointError> {
            let mut text = value.to_string();
            text.push('\n');
            self.file
                .write_all(text.as_bytes())
                .map_err(|e| cannot(&self.path, e))
        }
    }

    fn cannot(path: &Path, error: std::io::Error) -> CheckpointError {
        CheckpointError::Io {
            path: path.to_path_buf(),
            error,
        }
    }

    /// The seeds a checkpoint says are done, after checking it belongs to this sweep.
    #[allow(clippy::type_complexity)]
    pub fn read(
        path: &Path,
        header: &Header,
    ) -> Result<(Vec<SeedResult>, Vec<(u64, String)>), CheckpointError> {
        let text =
            std::fs::read_to_string(path).map_err(|error| CheckpointError::CannotResume {
                path: path.to_path_buf(),
                error,
            })?;
        let mut lines = text.lines();
        let first: Value = lines
            .next()
            .and_then(|line| serde_json::from_str(line).ok())
            .ok_or_else(|| CheckpointError::NotACheckpoint(path.to_path_buf()))?;
        let header = line_of(header);
        if first != header {
            let differs: Vec<&'static str> = [
                "topology_sha256",
                "seeds",
                "shard",
                "plugin_overrides",
                "check_determinism",
            ]
            .into_iter()
            .filter(|key| first[*key] != header[*key])
            .collect();
            return Err(CheckpointError::OtherSweep {
                path: path.to_path_buf(),
                differs,
            });
        }
        let mut done = Vec::new();
        let mut diverged = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for line in lines {
            // The last line may be cut short by a kill: everything unreadable is redone.
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Ok(entry) = serde_json::from_value::<Diverged>(value.clone()) {
                diverged.push((entry.diverged, entry.divergence));
            } else if let Ok(result) = serde_json::from_value::<SeedResult>(value)
                && seen.insert(result.seed)
            {
                done.push(result);
            }
        }
        Ok((done, diverged))
    }
}

/// Writes the whole result at once. A reader that went away (`pxelab run ... | head`) is not an
/// error worth a message; any other write failure is.
fn write_stdout(output: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(CliError::Stdout(error)),
    }
}

/// The process's allocator: the system's, counting live heap bytes while `pxelab bench` asks
/// (one relaxed load per allocation otherwise).
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

    static COUNTING: AtomicBool = AtomicBool::new(false);
    /// Bytes allocated minus bytes freed since counting began (frees of older blocks can make it
    /// negative).
    static LIVE: AtomicI64 = AtomicI64::new(0);

    struct Counting;

    // SAFETY: every call is forwarded to the system allocator unchanged; the counters are only
    // bookkeeping.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if COUNTING.load(Ordering::Relaxed) {
                LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
            }
            // SAFETY: the caller's layout contract is passed on as is.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if COUNTING.load(Ordering::Relaxed) {
                LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
            }
            // SAFETY: `ptr` came from `alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if COUNTING.load(Ordering::Relaxed) {
                LIVE.fetch_add(new_size as i64, Ordering::Relaxed);
                LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
            }
            // SAFETY: `ptr` came from `alloc` with `layout`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    pub fn counting(on: bool) {
        LIVE.store(0, Ordering::Relaxed);
        COUNTING.store(on, Ordering::Relaxed);
    }

    pub fn live_bytes() -> u64 {
        LIVE.load(Ordering::Relaxed).max(0) as u64
    }
}
