//! `pxelab`: run a topology under a seed, or sweep many seeds, from the command line.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use pxelab::{Services, render_report, report_json};

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
    /// Compile plugins afresh instead of using the on-disk compile cache ($PXELAB_CACHE_DIR,
    /// else $XDG_CACHE_HOME/pxelab or ~/.cache/pxelab; PXELAB_CACHE=off also disables it).
    #[arg(long, global = true)]
    no_cache: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one seed and report what happened.
    Run {
        /// Topology file (YAML).
        file: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// One JSON object instead of the human report.
        #[arg(long)]
        json: bool,
        /// Also write every frame of the run as pcapng (one interface per LAN), for Wireshark.
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
        /// Run server NODE with another plugin (a built-in name or a .wasm path), e.g.
        /// `--plugin wds=wds-fixed`. Repeatable.
        #[arg(long = "plugin", value_name = "NODE=PLUGIN", value_parser = parse_override)]
        plugins: Vec<(String, String)>,
    },
    /// Validate topologies without running them: the file, every plugin, every server's config.
    Check {
        /// Topology files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Combine the `sweep --shard K/N --json` outputs of all N shards into the whole sweep's JSON.
    Merge {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a range of seeds and report crash rate and failing seeds.
    Sweep {
        file: PathBuf,
        /// Seeds as A..B (B excluded), e.g. 0..1000.
        #[arg(long, value_parser = parse_seeds)]
        seeds: std::ops::Range<u64>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long)]
        json: bool,
        /// Run only shard K of N (every N-th seed from the K-th), e.g. `--shard 2/4` on the
        /// second of four machines; `pxelab merge` combines the shards' `--json` output.
        #[arg(long, value_name = "K/N", value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        /// Run server NODE with another plugin (a built-in name or a .wasm path), e.g.
        /// `--plugin wds=wds-fixed`. Repeatable.
        #[arg(long = "plugin", value_name = "NODE=PLUGIN", value_parser = parse_override)]
        plugins: Vec<(String, String)>,
    },
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("write the shard as K/N with 1 <= K <= N, e.g. 2/4 (got `{text}`)");
    let (index, count) = text.split_once('/').ok_or_else(bad)?;
    let index: u64 = index.trim().parse().map_err(|_| bad())?;
    let count: u64 = count.trim().parse().map_err(|_| bad())?;
    if index == 0 || count == 0 || index > count {
        return Err(bad());
    }
    Ok((index, count))
}

/// One sweep keeps a result per seed in memory; past this, split the range.
const SWEEP_SEEDS_MAX: u64 = 10_000_000;

fn parse_seeds(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or("write seeds as A..B, e.g. 0..1000")?;
    let start: u64 = start
        .trim()
        .parse()
        .map_err(|_| format!("`{start}` is not a seed number"))?;
    let end: u64 = end
        .trim()
        .parse()
        .map_err(|_| format!("`{end}` is not a seed number"))?;
    if end <= start {
        return Err(format!(
            "the range {start}..{end} is empty; B must be greater than A"
        ));
    }
    if end - start > SWEEP_SEEDS_MAX {
        return Err(format!(
            "{start}..{end} is {} seeds; one sweep runs at most {SWEEP_SEEDS_MAX} (split it into several ranges)",
            end - start
        ));
    }
    Ok(start..end)
}

/// `NODE=PLUGIN` of `--plugin`. A plugin that is not a built-in name is a path relative to the
/// current directory (a topology's own `plugin:` paths are relative to the topology file), so
/// it is made absolute here.
fn parse_override(text: &str) -> Result<(String, String), String> {
    let (node, plugin) = text
        .split_once('=')
        .ok_or("write NODE=PLUGIN, e.g. wds=wds-fixed")?;
    let (node, plugin) = (node.trim(), plugin.trim());
    if node.is_empty() || plugin.is_empty() {
        return Err("write NODE=PLUGIN, e.g. wds=wds-fixed".to_string());
    }
    if artifacts::builtin(plugin).is_some() {
        return Ok((node.to_string(), plugin.to_string()));
    }
    if !plugin.ends_with(".wasm") {
        let names: Vec<&str> = artifacts::ALL.iter().map(|a| a.name).collect();
        return Err(format!(
            "unknown plugin `{plugin}`; built-in plugins are {}, or give a path to a .wasm component",
            names.join(", ")
        ));
    }
    let path = std::path::absolute(plugin)
        .map_err(|e| format!("cannot resolve the path {plugin}: {e}"))?;
    Ok((node.to_string(), path.display().to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.verbose {
        0 => "warn",
        1 => "warn,pxelab=info,host=info",
        _ => "warn,pxelab=debug,host=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, not in logs and pipes.
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    match execute(cli.command, cli.no_cache) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Internal(message)) => {
            eprintln!("internal error: {message}");
            ExitCode::from(3)
        }
    }
}

enum Failure {
    BadInput(String),
    Internal(String),
}

/// Loads the topology and applies `--plugin` overrides, checking each plugin loads.
fn plan(
    file: &Path,
    overrides: &[(String, String)],
    services: &Services,
) -> Result<topology::Plan, Failure> {
    let mut plan = topology::load(file).map_err(|e| Failure::BadInput(e.to_string()))?;
    for (node, plugin) in overrides {
        let bad =
            |message: String| Failure::BadInput(format!("--plugin {node}={plugin}: {message}"));
        plan.override_plugin(node, plugin)
            .map_err(|e| bad(e.to_string()))?;
        services.load(plugin, Path::new(".")).map_err(bad)?;
    }
    Ok(plan)
}

fn execute(command: Command, no_cache: bool) -> Result<(), Failure> {
    let cache_dir = if no_cache {
        None
    } else {
        host::cache::default_dir()
    };
    let services = Services::with_cache_dir(cache_dir).map_err(Failure::Internal)?;
    let mut output = String::new();
    match command {
        Command::Run {
            file,
            seed,
            json,
            pcap,
            plugins,
        } => {
            let plan = plan(&file, &plugins, &services)?;
            tracing::info!(topology = %plan.name, seed, "running");
            let (world, report) = pxelab::run(&plan, seed, &services)
                .map_err(|e| Failure::BadInput(e.to_string()))?;
            if tracing::enabled!(tracing::Level::DEBUG) {
                let log = world.log().expect("the world has run");
                for record in log.records() {
                    let node = log.node_name(record.node);
                    let text = pxelab::describe_record(&record.kind);
                    tracing::debug!(time_ns = record.time_ns, node, "{text}");
                }
            }
            if let Some(path) = &pcap {
                let bytes = capture::pcapng(world.log().expect("the world has run"));
                pxelab::write_atomically(path, &bytes).map_err(|e| {
                    Failure::BadInput(format!("cannot write {}: {e}", path.display()))
                })?;
                tracing::info!(path = %path.display(), bytes = bytes.len(), "pcapng written");
            }
            if json {
                output = format!("{}\n", report_json(&plan, &report));
            } else {
                output = render_report(&plan, &world, &report);
            }
        }
        Command::Check { files } => {
            let mut failed = 0;
            for file in &files {
                let checked = topology::load(file).and_then(|plan| {
                    pxelab::check(&plan, &services)?;
                    Ok(plan)
                });
                match checked {
                    Ok(plan) => {
                        let _ = writeln!(output, "ok     {} ({})", file.display(), plan.name);
                    }
                    Err(error) => {
                        failed += 1;
                        let _ = writeln!(output, "error  {error}");
                    }
                }
            }
            if failed > 0 {
                write_stdout(&output)?;
                return Err(Failure::BadInput(format!(
                    "{failed} of {} topologies have errors",
                    files.len()
                )));
            }
        }
        Command::Merge { files } => {
            let mut shards = Vec::new();
            for file in &files {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    Failure::BadInput(format!("cannot read {}: {e}", file.display()))
                })?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| Failure::BadInput(format!("{}: not JSON: {e}", file.display())))?;
                shards.push(value);
            }
            let merged = pxelab::merge(&shards).map_err(Failure::BadInput)?;
            output = format!("{merged}\n");
        }
        Command::Sweep {
            file,
            seeds,
            jobs,
            json,
            shard,
            plugins,
        } => {
            let plan = plan(&file, &plugins, &services)?;
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let started = Instant::now();
            let selected = match shard {
                Some((index, count)) => pxelab::shard_seeds(seeds.clone(), index, count),
                None => seeds.clone().collect(),
            };
            let result = pxelab::sweep_seeds(&plan, selected, jobs, &services)
                .map_err(|e| Failure::BadInput(e.to_string()))?;
            let elapsed_s = started.elapsed().as_secs_f64();
            let seeds_per_s = result.runs as f64 / elapsed_s.max(1e-9);
            if json {
                let value =
                    pxelab::sweep_json(&plan, &file.display().to_string(), &seeds, shard, &result);
                output = format!("{value}\n");
            } else {
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
                    "crash rate     {:.1}% (95% CI {:.1}% to {:.1}%)",
                    result.crash_rate() * 100.0,
                    low * 100.0,
                    high * 100.0
                );
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
                        pxelab::replay_command(&plan, result.failing_seeds[0])
                    );
                }
                let _ = writeln!(
                    output,
                    "speed          {seeds_per_s:.0} seeds/s on {jobs} thread(s), {elapsed_s:.2} s wall"
                );
            }
        }
    }
    write_stdout(&output)
}

/// Writes the whole result at once. A reader that went away (`pxelab run ... | head`) is not an
/// error worth a message; any other write failure is.
fn write_stdout(output: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(Failure::Internal(format!(
            "cannot write the result: {error}"
        ))),
    }
}
