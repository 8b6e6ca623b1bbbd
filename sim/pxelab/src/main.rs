//! `pxelab`: run a topology under a seed, or sweep many seeds, from the command line.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use pxelab::{Services, render_report, report_json, sweep};

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
    },
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
        .init();

    match execute(cli.command) {
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

fn execute(command: Command) -> Result<(), Failure> {
    let services = Services::new().map_err(Failure::Internal)?;
    let mut output = String::new();
    match command {
        Command::Run {
            file,
            seed,
            json,
            pcap,
        } => {
            let plan = topology::load(&file).map_err(|e| Failure::BadInput(e.to_string()))?;
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
        Command::Sweep {
            file,
            seeds,
            jobs,
            json,
        } => {
            let plan = topology::load(&file).map_err(|e| Failure::BadInput(e.to_string()))?;
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let started = Instant::now();
            let result = sweep(&plan, seeds.clone(), jobs, &services)
                .map_err(|e| Failure::BadInput(e.to_string()))?;
            let elapsed_s = started.elapsed().as_secs_f64();
            let seeds_per_s = result.runs as f64 / elapsed_s.max(1e-9);
            if json {
                let value = serde_json::json!({
                    "topology": plan.name,
                    "seeds": format!("{}..{}", seeds.start, seeds.end),
                    "runs": result.runs,
                    "crashed_runs": result.crashed_runs,
                    "crash_rate": result.crash_rate(),
                    "unbooted_runs": result.unbooted_runs,
                    "failing_seeds": result.failing_seeds,
                    "seeds_per_second": seeds_per_s,
                    "jobs": jobs,
                });
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
                let _ = writeln!(output, "crash rate     {:.1}%", result.crash_rate() * 100.0);
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
                        "replay one     pxelab run {} --seed {}",
                        file.display(),
                        result.failing_seeds[0]
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
