//! Run records (`pxelab run --out DIR`, `pxelab shrink`) and their replay (`pxelab replay DIR`).
//!
//! A record is a folder: `manifest.json` (pxelab version, topology and plugin hashes, seed,
//! digest), `topology.yaml` (the topology as it was run), `events.jsonl` (one line per event
//! of the log, with its fingerprint) and `capture.pcapng`, plus `schedule.json` for a shrunk run. It is written to a temporary
//! folder and renamed into place, so a record is complete or absent.

use std::path::{Path, PathBuf};

use engine::Finished;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use topology::Plan;

use crate::sweep::hex;
use crate::{FileHash, Services, TraceLine, first_divergence, served_files, sha256_hex, trace};

pub const MANIFEST: &str = "manifest.json";
pub const TOPOLOGY: &str = "topology.yaml";
pub const EVENTS: &str = "events.jsonl";
pub const CAPTURE: &str = "capture.pcapng";
/// Present in the records `pxelab shrink` writes: the timing draws that keep their values.
pub const SCHEDULE: &str = "schedule.json";
/// Present in the records `pxelab live` writes: what entered through the bridges, and when.
pub const LIVE: &str = "live.json";

/// `live.json`: all the replay of a live run needs beyond the topology and the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveRecord {
    /// `(lan, tap)` of every bridge, `--bridge` included (a bridge is a node of the world).
    pub bridges: Vec<(String, String)>,
    /// The virtual time the run ended at.
    pub end_ns: u64,
    /// How it ended, as the run report says it (`simtimelimit`, `stopped`, ...).
    pub stop: String,
    pub injected: Vec<InjectedFrame>,
}

/// A frame that entered the world through a bridge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InjectedFrame {
    pub time_ns: u64,
    /// The bridge node (`real@LAN`).
    pub bridge: String,
    /// The frame's bytes, hex.
    pub frame: String,
}

impl LiveRecord {
    pub fn of(plan: &Plan, live: &live::LiveRun) -> LiveRecord {
        LiveRecord {
            bridges: plan
                .bridges()
                .into_iter()
                .map(|bridge| (bridge.lan, bridge.tap))
                .collect(),
            end_ns: live.end_ns,
            stop: stop_name(live::stop_reason(live.ended)),
            injected: live
                .injected
                .iter()
                .map(|crossing| InjectedFrame {
                    time_ns: crossing.time_ns,
                    bridge: crossing.bridge.clone(),
                    frame: hex(&crossing.frame),
                })
                .collect(),
        }
    }
}

/// A stop reason as the run report writes it.
pub fn stop_name(stop: engine::StopReason) -> String {
    format!("{stop:?}").to_lowercase()
}

fn stop_of(name: &str) -> Option<engine::StopReason> {
    use engine::StopReason::*;
    [Quiescent, EventLimit, SimTimeLimit, Stopped]
        .into_iter()
        .find(|stop| stop_name(*stop) == name)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// `manifest.json`: what a record is of. The edge writes it through `serde_json::Value`, so
/// its keys come out sorted as they always have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The record format, 1.
    pub pxelab_record: u64,
    pub pxelab_version: String,
    pub topology: String,
    pub topology_file: String,
    pub topology_sha256: String,
    /// `(node, plugin)` of `--plugin`, in order.
    pub plugin_overrides: Vec<(String, String)>,
    pub plugins: Vec<PluginHash>,
    /// The files the servers served (`files:`), with their size and SHA-256; absent when none,
    /// so the records of runs without files are what they always were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileHash>,
    pub seed: u64,
    pub digest: String,
    pub events: u64,
    pub sim_time_ns: u64,
}

/// A server's plugin and the SHA-256 of its bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginHash {
    pub node: String,
    pub plugin: String,
    pub sha256: String,
}

/// One line of `events.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// The event's index in the log.
    pub i: u64,
    pub time_ns: u64,
    pub node: String,
    pub text: String,
    /// `Record::fingerprint`, hex.
    pub fingerprint: String,
}

/// Why a record cannot be written or replayed.
#[derive(Debug)]
pub enum RecordError {
    CannotReadPlugin {
        path: PathBuf,
        error: std::io::Error,
    },
    CannotWrite {
        dir: PathBuf,
        error: std::io::Error,
    },
    /// A file of the record is missing or unreadable.
    CannotRead {
        dir: PathBuf,
        file: &'static str,
        error: std::io::Error,
    },
    /// `file` (at `line`, for JSON lines) is not JSON.
    NotJson {
        path: PathBuf,
        line: Option<usize>,
        error: serde_json::Error,
    },
    /// `file` is JSON but not what a record holds.
    Damaged {
        path: PathBuf,
        detail: String,
    },
    /// The recorded topology no longer loads.
    Topology(topology::Error),
    /// Files the record's servers served are not the bytes they were: (recorded, now; `None`
    /// when the topology no longer gives the file).
    FilesChanged(Vec<(FileHash, Option<FileHash>)>),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::CannotReadPlugin { path, error } => {
                write!(f, "cannot read plugin {}: {error}", path.display())
            }
            RecordError::CannotWrite { dir, error } => {
                write!(f, "cannot write {}: {error}", dir.display())
            }
            RecordError::CannotRead { dir, file, error } => write!(
                f,
                "{}: cannot read {file}: {error} (is this a folder written by `pxelab run --out`?)",
                dir.display()
            ),
            RecordError::NotJson { path, line, error } => match line {
                Some(line) => write!(f, "{}:{line}: not JSON: {error}", path.display()),
                None => write!(f, "{}: not JSON: {error}", path.display()),
            },
            RecordError::Damaged { path, detail } => write!(f, "{}: {detail}", path.display()),
            RecordError::Topology(error) => write!(f, "{error}"),
            RecordError::FilesChanged(changes) => {
                write!(
                    f,
                    "the files the record's servers served have changed, so the run cannot be replayed:"
                )?;
                for (then, now) in changes {
                    match now {
                        Some(now) => write!(
                            f,
                            "\n  {} {}: {} was {} bytes, sha256 {}; now {} bytes, sha256 {}",
                            then.node,
                            then.name,
                            now.path,
                            then.bytes,
                            then.sha256,
                            now.bytes,
                            now.sha256
                        )?,
                        None => write!(
                            f,
                            "\n  {} {}: ({}, {} bytes, sha256 {}) is no longer given",
                            then.node, then.name, then.path, then.bytes, then.sha256
                        )?,
                    }
                }
                write!(
                    f,
                    "\nput the recorded files back (the SHA-256 says which), or record the run again"
                )
            }
        }
    }
}

impl std::error::Error for RecordError {}

impl From<topology::Error> for RecordError {
    fn from(error: topology::Error) -> RecordError {
        RecordError::Topology(error)
    }
}

/// The plugins a plan runs, with the SHA-256 of their bytes.
fn plugin_hashes(plan: &Plan) -> Result<Vec<PluginHash>, RecordError> {
    plan.server_plugins()
        .into_iter()
        .map(|(node, plugin)| {
            let bytes = match artifacts::builtin(&plugin) {
                Some(bytes) => bytes.to_vec(),
                None => {
                    let path = plan.base_dir().join(&plugin);
                    std::fs::read(&path)
                        .map_err(|error| RecordError::CannotReadPlugin { path, error })?
                }
            };
            Ok(PluginHash {
                node,
                plugin,
                sha256: sha256_hex(&bytes),
            })
        })
        .collect()
}

/// JSON as the record files hold it: through `Value`, keys sorted; `pretty` for the files
/// people read.
fn json_text(value: &impl Serialize, pretty: bool) -> String {
    let value = serde_json::to_value(value).expect("record types serialise to JSON");
    if pretty {
        format!("{value:#}")
    } else {
        value.to_string()
    }
}

/// Writes the record of a finished run to `dir` (replacing an earlier record there); with
/// `schedule`, the run was made under that shrink schedule and replays under it.
pub fn write_record(
    dir: &Path,
    plan: &Plan,
    run: &Finished,
    schedule: Option<&Value>,
    live: Option<&LiveRecord>,
) -> Result<(), RecordError> {
    let log = run.log();
    let report = run.report();
    let manifest = Manifest {
        pxelab_record: 1,
        pxelab_version: env!("CARGO_PKG_VERSION").to_string(),
        topology: plan.name.clone(),
        topology_file: plan.file.display().to_string(),
        topology_sha256: sha256_hex(plan.source().as_bytes()),
        plugin_overrides: plan.plugin_overrides.clone(),
        plugins: plugin_hashes(plan)?,
        files: served_files(plan),
        seed: report.seed,
        digest: report.digest.clone(),
        events: log.records().len() as u64,
        sim_time_ns: report.sim_time_ns,
    };
    let mut events = String::new();
    for (index, line) in trace(run).into_iter().enumerate() {
        let line = EventLine {
            i: index as u64,
            time_ns: line.time_ns,
            node: line.node,
            text: line.text,
            fingerprint: line.fingerprint,
        };
        events.push_str(&json_text(&line, false));
        events.push('\n');
    }
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        (
            MANIFEST,
            format!("{}\n", json_text(&manifest, true)).into_bytes(),
        ),
        (TOPOLOGY, plan.source().as_bytes().to_vec()),
        (EVENTS, events.into_bytes()),
        (CAPTURE, capture::pcapng(log)),
    ];
    if let Some(schedule) = schedule {
        files.push((SCHEDULE, format!("{schedule:#}\n").into_bytes()));
    }
    if let Some(live) = live {
        files.push((LIVE, format!("{}\n", json_text(live, true)).into_bytes()));
    }
    write_folder_atomically(dir, &files).map_err(|error| RecordError::CannotWrite {
        dir: dir.to_path_buf(),
        error,
    })
}

fn write_folder_atomically(dir: &Path, files: &[(&str, Vec<u8>)]) -> std::io::Result<()> {
    use std::io::Write as _;
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} names no folder", dir.display())))?
        .to_string_lossy()
        .into_owned();
    if dir.exists() && !dir.join(MANIFEST).is_file() {
        return Err(std::io::Error::other(
            "it exists and is not a run record; choose a new folder",
        ));
    }
    let staging = parent.join(format!(".{name}.{}.partial", std::process::id()));
    let old = parent.join(format!(".{name}.{}.old", std::process::id()));
    let result = (|| {
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)?;
        for (file, bytes) in files {
            let mut handle = std::fs::File::create(staging.join(file))?;
            handle.write_all(bytes)?;
            handle.sync_all()?;
        }
        if dir.exists() {
            std::fs::rename(dir, &old)?;
        }
        std::fs::rename(&staging, dir)?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// What replaying a record found.
pub struct Replay {
    pub seed: u64,
    pub recorded_digest: String,
    pub digest: String,
    pub events: usize,
    /// Plugins whose bytes differ from the recorded ones: (node, recorded, now).
    pub changed_plugins: Vec<(String, String, String)>,
    /// Where the replayed run first differs from the recorded events, if it does.
    pub divergence: Option<String>,
    /// The replayed run's expectations, checked.
    pub checks: Vec<crate::Check>,
    /// The record is a shrunk run (it has a schedule).
    pub scheduled: bool,
    /// The record is of a live run (it has the frames that entered through its bridges).
    pub live: bool,
}

impl Replay {
    pub fn matches(&self) -> bool {
        self.digest == self.recorded_digest && self.divergence.is_none()
    }
}

/// Re-runs the record in `dir` from its own copy of the topology and compares the run with
/// the recorded digest and events.
pub fn replay(dir: &Path, services: &Services) -> Result<Replay, RecordError> {
    replay_run(dir, services).map(|replayed| replayed.replay)
}

/// A record replayed, with the plan it was replayed from and the run itself (what the web UI
/// shows of a record).
pub struct Replayed {
    pub replay: Replay,
    pub plan: Plan,
    pub run: Finished,
}

/// The manifest of the record in `dir`, read and checked (the web UI lists records by it).
pub fn manifest(dir: &Path) -> Result<Manifest, RecordError> {
    let text =
        std::fs::read_to_string(dir.join(MANIFEST)).map_err(|error| RecordError::CannotRead {
            dir: dir.to_path_buf(),
            file: MANIFEST,
            error,
        })?;
    read_manifest(dir, &text)
}

/// `replay`, keeping the replayed run.
pub fn replay_run(dir: &Path, services: &Services) -> Result<Replayed, RecordError> {
    let read = |file: &'static str| {
        std::fs::read_to_string(dir.join(file)).map_err(|error| RecordError::CannotRead {
            dir: dir.to_path_buf(),
            file,
            error,
        })
    };
    let manifest = read_manifest(dir, &read(MANIFEST)?)?;
    let source = read(TOPOLOGY)?;
    // Parsed under its original path, so plugin paths relative to it still resolve.
    let mut plan = topology::parse(Path::new(&manifest.topology_file), &source)?;
    for (node, plugin) in &manifest.plugin_overrides {
        plan.override_plugin(node, plugin)?;
    }
    check_files(&manifest.files, &served_files(&plan))?;
    let changed_plugins = changed_plugins(&manifest.plugins, &plugin_hashes(&plan)?);
    let recorded = read_events(dir, &read(EVENTS)?)?;
    let scheduled = dir.join(SCHEDULE).exists();
    let run = if dir.join(LIVE).exists() {
        replay_live(dir, &mut plan, manifest.seed, services, &read(LIVE)?)?
    } else if scheduled {
        let path = dir.join(SCHEDULE);
        let schedule: Value =
            serde_json::from_str(&read(SCHEDULE)?).map_err(|error| RecordError::NotJson {
                path: path.clone(),
                line: None,
                error,
            })?;
        let keep =
            crate::shrink::schedule_sites(&schedule).map_err(|error| RecordError::Damaged {
                path,
                detail: error.to_string(),
            })?;
        crate::shrink::run_schedule(&plan, manifest.seed, services, keep)?
    } else {
        crate::run(&plan, manifest.seed, services)?
    };
    let checks = crate::run_checks(&plan.expect, run.report());
    let replayed = trace(&run);
    let replay = Replay {
        seed: manifest.seed,
        recorded_digest: manifest.digest,
        digest: run.report().digest.clone(),
        events: replayed.len(),
        changed_plugins,
        divergence: first_divergence(&recorded, &replayed, ("recorded", "replayed")),
        checks,
        scheduled,
        live: dir.join(LIVE).exists(),
    };
    Ok(Replayed { replay, plan, run })
}

/// A live run again: its bridges in place, the recorded frames injected at their times.
fn replay_live(
    dir: &Path,
    plan: &mut Plan,
    seed: u64,
    services: &Services,
    text: &str,
) -> Result<Finished, RecordError> {
    let path = dir.join(LIVE);
    let damaged = |detail: String| RecordError::Damaged {
        path: path.clone(),
        detail,
    };
    let record: LiveRecord = serde_json::from_str(text).map_err(|error| RecordError::NotJson {
        path: path.clone(),
        line: None,
        error,
    })?;
    for (lan, tap) in &record.bridges {
        plan.set_bridge(lan, tap)?;
    }
    let stop =
        stop_of(&record.stop).ok_or_else(|| damaged(format!("unknown stop `{}`", record.stop)))?;
    let mut injected = Vec::with_capacity(record.injected.len());
    for (index, frame) in record.injected.iter().enumerate() {
        injected.push(live::Crossing {
            time_ns: frame.time_ns,
            bridge: frame.bridge.clone(),
            frame: unhex(&frame.frame)
                .ok_or_else(|| damaged(format!("injected frame {index} is not hex")))?,
        });
    }
    crate::check(plan, services)?;
    let world = plan.build(seed, services)?;
    let nodes: Vec<(String, engine::log::NodeId)> = plan
        .bridges()
        .into_iter()
        .filter_map(|bridge| Some((bridge.node.clone(), world.node_id(&bridge.node)?)))
        .collect();
    Ok(live::replay(
        world,
        &injected,
        record.end_ns,
        stop,
        |name| {
            nodes
                .iter()
                .find(|(node, _)| node == name)
                .map(|(_, id)| *id)
        },
    ))
}

fn read_manifest(dir: &Path, text: &str) -> Result<Manifest, RecordError> {
    let path = dir.join(MANIFEST);
    let value: Value = serde_json::from_str(text).map_err(|error| RecordError::NotJson {
        path: path.clone(),
        line: None,
        error,
    })?;
    serde_json::from_value(value).map_err(|e| RecordError::Damaged {
        path,
        detail: e.to_string(),
    })
}

/// Refuses a replay whose served files are not the recorded bytes: the run would differ, and
/// for a reason the replay could not show.
fn check_files(recorded: &[FileHash], now: &[FileHash]) -> Result<(), RecordError> {
    let changes: Vec<(FileHash, Option<FileHash>)> = recorded
        .iter()
        .filter_map(|then| {
            let current = now
                .iter()
                .find(|file| file.node == then.node && file.name == then.name);
            match current {
                Some(file) if file.sha256 == then.sha256 => None,
                _ => Some((then.clone(), current.cloned())),
            }
        })
        .collect();
    if changes.is_empty() {
        Ok(())
    } else {
        Err(RecordError::FilesChanged(changes))
    }
}

/// Plugins whose bytes differ from the recorded ones: (node, recorded, now).
fn changed_plugins(recorded: &[PluginHash], now: &[PluginHash]) -> Vec<(String, String, String)> {
    recorded
        .iter()
        .filter_map(|then| {
            let current = now
                .iter()
                .find(|p| p.node == then.node)
                .map_or("(no such server now)", |p| p.sha256.as_str());
            (then.sha256 != current)
                .then(|| (then.node.clone(), then.sha256.clone(), current.to_string()))
        })
        .collect()
}

fn read_events(dir: &Path, text: &str) -> Result<Vec<TraceLine>, RecordError> {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            let line: EventLine =
                serde_json::from_str(line).map_err(|error| RecordError::NotJson {
                    path: dir.join(EVENTS),
                    line: Some(index + 1),
                    error,
                })?;
            Ok(TraceLine {
                time_ns: line.time_ns,
                node: line.node,
                text: line.text,
                fingerprint: line.fingerprint,
            })
        })
        .collect()
}
