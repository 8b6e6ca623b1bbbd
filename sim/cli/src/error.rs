//! The command line's errors: every way a command can fail, rendered once by `main` with its
//! exit code (2 for what the user can fix, 3 for what is pxelab's fault).

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;

/// A bad command-line value, as clap shows it.
#[derive(Debug)]
pub enum ArgError {
    Shard(String),
    SeedsNotARange,
    NotASeed(String),
    EmptySeeds { start: u64, end: u64 },
    TooManySeeds { start: u64, end: u64 },
    NotAnOverride,
    NotABridge,
    NotAServer,
    NotAnAddress(String),
    UnknownPlugin(String),
    Unresolvable { path: String, error: std::io::Error },
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgError::Shard(text) => write!(
                f,
                "write the shard as K/N with 1 <= K <= N, e.g. 2/4 (got `{text}`)"
            ),
            ArgError::SeedsNotARange => write!(f, "write seeds as A..B, e.g. 0..1000"),
            ArgError::NotASeed(text) => write!(f, "`{text}` is not a seed number"),
            ArgError::EmptySeeds { start, end } => write!(
                f,
                "the range {start}..{end} is empty; B must be greater than A"
            ),
            ArgError::TooManySeeds { start, end } => write!(
                f,
                "{start}..{end} is {} seeds; one sweep runs at most {} (split it into several ranges)",
                end - start,
                lab::SWEEP_SEEDS_MAX
            ),
            ArgError::NotAnOverride => write!(f, "write NODE=PLUGIN, e.g. wds=wds-fixed"),
            ArgError::NotABridge => write!(f, "write LAN=TAP, e.g. clients=pxe0"),
            ArgError::NotAServer => write!(f, "write ADDR=PLUGIN, e.g. 10.2.0.20=wds-sccm2007"),
            ArgError::NotAnAddress(text) => {
                write!(
                    f,
                    "`{text}` is not an IPv4 address; write ADDR=PLUGIN, e.g. 10.2.0.20=wds-sccm2007"
                )
            }
            ArgError::UnknownPlugin(plugin) => {
                let names: Vec<&str> = artifacts::ALL.iter().map(|a| a.name).collect();
                write!(
                    f,
                    "unknown plugin `{plugin}`; built-in plugins are {}, or give a path to a .wasm component",
                    names.join(", ")
                )
            }
            ArgError::Unresolvable { path, error } => {
                write!(f, "cannot resolve the path {path}: {error}")
            }
        }
    }
}

impl std::error::Error for ArgError {}

/// Why a command did not run to its verdict.
#[derive(Debug)]
pub enum CliError {
    /// A topology that does not load, or a run it cannot make.
    Topology(topology::Error),
    /// Configurations `pxelab import` cannot turn into a topology.
    Import(import::Errors),
    /// `--plugin NODE=PLUGIN` that does not apply or does not load.
    Override {
        node: String,
        plugin: String,
        error: String,
    },
    Record(lab::record::RecordError),
    Merge(lab::MergeError),
    Bench(lab::bench::BenchError),
    Shrink(lab::shrink::ShrinkError),
    /// `pxelab live` on a topology with no bridge.
    NoBridge(PathBuf),
    Tap(live::TapError),
    Live(live::LiveError),
    /// Internal: a fix `advise` derived does not validate.
    Advise(lab::advise::AdviseError),
    Checkpoint(CheckpointError),
    Calibrate(lab::calibrate::CalibrateError),
    Serve(web::ServeError),
    NotTopologies(PathBuf),
    TopologiesWithErrors {
        failed: usize,
        total: usize,
    },
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    NotJson {
        path: PathBuf,
        error: serde_json::Error,
    },
    NotASweep {
        path: PathBuf,
        error: serde_json::Error,
    },
    /// Internal: the plugin host does not start.
    Services(lab::PluginError),
    /// Internal: a report that does not serialise.
    Json(serde_json::Error),
    /// Internal: stdout refused the result.
    Stdout(std::io::Error),
}

impl CliError {
    /// pxelab's fault (exit 3), not the user's (exit 2).
    pub fn is_internal(&self) -> bool {
        match self {
            CliError::Calibrate(error) => error.is_internal(),
            _ => matches!(
                self,
                CliError::Services(_)
                    | CliError::Advise(_)
                    | CliError::Json(_)
                    | CliError::Stdout(_)
            ),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Topology(error) => f.write_str(&error.render()),
            // One `error: ` per error: `main` writes the first.
            CliError::Import(errors) => {
                let lines: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
                write!(f, "{}", lines.join("\nerror: "))
            }
            CliError::Override {
                node,
                plugin,
                error,
            } => write!(f, "--plugin {node}={plugin}: {error}"),
            CliError::Record(error) => write!(f, "{error}"),
            CliError::Merge(error) => write!(f, "{error}"),
            CliError::Bench(error) => write!(f, "{error}"),
            CliError::Shrink(error) => write!(f, "{error}"),
            CliError::NoBridge(file) => write!(
                f,
                "{}: no LAN is bridged to a real interface; add `bridge: {{ tap: pxe0 }}` to a LAN or give --bridge LAN=TAP",
                file.display()
            ),
            CliError::Tap(error) => write!(f, "{error}"),
            CliError::Live(error) => write!(f, "{error}"),
            CliError::Advise(error) => write!(f, "{error}"),
            CliError::Checkpoint(error) => write!(f, "{error}"),
            CliError::Calibrate(error) => write!(f, "{error}"),
            CliError::Serve(error) => write!(f, "{error}"),
            CliError::NotTopologies(dir) => write!(
                f,
                "{} is not a folder of topologies (give one with --topologies DIR)",
                dir.display()
            ),
            CliError::TopologiesWithErrors { failed, total } => {
                write!(f, "{failed} of {total} topologies have errors")
            }
            CliError::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            CliError::Write { path, error } => {
                write!(f, "cannot write {}: {error}", path.display())
            }
            CliError::NotJson { path, error } => write!(f, "{}: not JSON: {error}", path.display()),
            CliError::NotASweep { path, error } => {
                write!(f, "{}: not a pxelab sweep result: {error}", path.display())
            }
            CliError::Services(error) => write!(f, "{error}"),
            CliError::Json(error) => write!(f, "cannot write the report as JSON: {error}"),
            CliError::Stdout(error) => write!(f, "cannot write the result: {error}"),
        }
    }
}

impl std::error::Error for CliError {}

macro_rules! from {
    ($($variant:ident($error:ty)),* $(,)?) => {
        $(impl From<$error> for CliError {
            fn from(error: $error) -> CliError {
                CliError::$variant(error)
            }
        })*
    };
}

from!(
    Topology(topology::Error),
    Import(import::Errors),
    Record(lab::record::RecordError),
    Merge(lab::MergeError),
    Bench(lab::bench::BenchError),
    Advise(lab::advise::AdviseError),
    Tap(live::TapError),
    Live(live::LiveError),
    Checkpoint(CheckpointError),
    Calibrate(lab::calibrate::CalibrateError),
    Serve(web::ServeError),
);
