//! Run records (`pxelab run --out DIR`, `pxelab shrink`) and their replay (`pxelab replay DIR`).
//!
//! A record is a folder: `manifest.json` (pxelab version, topology and plugin hashes, seed,
//! digest), `topology.yaml` (the topology as it was run), `events.jsonl` (one line per event
//! of the log, with its fingerprint) and `capture.pcapng`, plus `schedule.json` for a shrunk run. It is written to a temporary
//! folder and renamed into place, so a record is complete or absent.

use std::path::{Path, PathBuf};

use engine::World;
use engine::report::Report;
use serde_json::{Value, json};
use topology::Plan;

use crate::{Services, TraceLine, first_divergence, sha256_hex, trace};

pub const MANIFEST: &str = "manifest.json";
pub const TOPOLOGY: &str = "topology.yaml";
pub const EVENTS: &str = "events.jsonl";
pub const CAPTURE: &str = "capture.pcapng";
/// Present in the records `pxelab shrink` writes: the timing draws that keep their values.
pub const SCHEDULE: &str = "schedule.json";

/// The plugins a plan runs, with the SHA-256 of their bytes.
fn plugin_hashes(plan: &Plan) -> Result<Vec<Value>, String> {
    plan.server_plugins()
        .into_iter()
        .map(|(node, plugin)| {
            let bytes = match artifacts::builtin(&plugin) {
                Some(bytes) => bytes.to_vec(),
                None => {
                    let path = plan.base_dir().join(&plugin);
                    std::fs::read(&path)
                        .map_err(|e| format!("cannot read plugin {}: {e}", path.display()))?
                }
            };
            Ok(json!({"node": node, "plugin": plugin, "sha256": sha256_hex(&bytes)}))
        })
        .collect()
}

/// Writes the record of a finished run to `dir` (replacing an earlier record there); with
/// `schedule`, the run was made under that shrink schedule and replays under it.
pub fn write_record(
    dir: &Path,
    plan: &Plan,
    world: &World,
    report: &Report,
    schedule: Option<&Value>,
) -> Result<(), String> {
    let log = world.log().ok_or("the run has not run")?;
    let manifest = json!({
        "pxelab_record": 1,
        "pxelab_version": env!("CARGO_PKG_VERSION"),
        "topology": plan.name,
        "topology_file": plan.file.display().to_string(),
        "topology_sha256": sha256_hex(plan.source().as_bytes()),
        "plugin_overrides": plan.plugin_overrides.iter().map(|(n, p)| json!([n, p])).collect::<Vec<_>>(),
        "plugins": plugin_hashes(plan)?,
        "seed": report.seed,
        "digest": report.digest,
        "events": log.records().len(),
        "sim_time_ns": report.sim_time_ns,
    });
    let mut events = String::new();
    for (index, line) in trace(world).iter().enumerate() {
        let value = json!({
            "i": index,
            "time_ns": line.time_ns,
            "node": line.node,
            "text": line.text,
            "fingerprint": line.fingerprint,
        });
        events.push_str(&value.to_string());
        events.push('\n');
    }
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        (MANIFEST, format!("{manifest:#}\n").into_bytes()),
        (TOPOLOGY, plan.source().as_bytes().to_vec()),
        (EVENTS, events.into_bytes()),
        (CAPTURE, capture::pcapng(log)),
    ];
    if let Some(schedule) = schedule {
        files.push((SCHEDULE, format!("{schedule:#}\n").into_bytes()));
    }
    write_folder_atomically(dir, &files).map_err(|e| format!("cannot write {}: {e}", dir.display()))
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
}

impl Replay {
    pub fn matches(&self) -> bool {
        self.digest == self.recorded_digest && self.divergence.is_none()
    }
}

/// Re-runs the record in `dir` from its own copy of the topology and compares the run with
/// the recorded digest and events.
pub fn replay(dir: &Path, services: &Services) -> Result<Replay, String> {
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file)).map_err(|e| {
            format!(
                "{}: cannot read {file}: {e} (is this a folder written by `pxelab run --out`?)",
                dir.display()
            )
        })
    };
    let manifest: Value = serde_json::from_str(&read(MANIFEST)?)
        .map_err(|e| format!("{}/{MANIFEST}: not JSON: {e}", dir.display()))?;
    let field = |key: &str| -> Result<&Value, String> {
        match &manifest[key] {
            Value::Null => Err(format!("{}/{MANIFEST}: no `{key}`", dir.display())),
            value => Ok(value),
        }
    };
    let seed = field("seed")?
        .as_u64()
        .ok_or_else(|| format!("{}/{MANIFEST}: `seed` is not a number", dir.display()))?;
    let recorded_digest = field("digest")?.as_str().unwrap_or_default().to_string();
    let topology_file = PathBuf::from(field("topology_file")?.as_str().unwrap_or_default());
    let source = read(TOPOLOGY)?;
    // Parsed under its original path, so plugin paths relative to it still resolve.
    let mut plan = topology::parse(&topology_file, &source).map_err(|e| e.to_string())?;
    for pair in field("plugin_overrides")?.as_array().into_iter().flatten() {
        let (Some(node), Some(plugin)) = (pair[0].as_str(), pair[1].as_str()) else {
            return Err(format!(
                "{}/{MANIFEST}: bad `plugin_overrides`",
                dir.display()
            ));
        };
        plan.override_plugin(node, plugin)
            .map_err(|e| e.to_string())?;
    }
    let now: Vec<Value> = plugin_hashes(&plan)?;
    let mut changed_plugins = Vec::new();
    for recorded in field("plugins")?.as_array().into_iter().flatten() {
        let node = recorded["node"].as_str().unwrap_or_default();
        let then = recorded["sha256"].as_str().unwrap_or_default();
        let current = now
            .iter()
            .find(|p| p["node"] == recorded["node"])
            .and_then(|p| p["sha256"].as_str())
            .unwrap_or("(no such server now)");
        if then != current {
            changed_plugins.push((node.to_string(), then.to_string(), current.to_string()));
        }
    }
    let recorded: Vec<TraceLine> = read(EVENTS)?
        .lines()
        .enumerate()
        .map(|(index, line)| {
            let value: Value = serde_json::from_str(line)
                .map_err(|e| format!("{}/{EVENTS}:{}: not JSON: {e}", dir.display(), index + 1))?;
            Ok(TraceLine {
                time_ns: value["time_ns"].as_u64().unwrap_or_default(),
                node: value["node"].as_str().unwrap_or_default().to_string(),
                text: value["text"].as_str().unwrap_or_default().to_string(),
                fingerprint: value["fingerprint"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect::<Result<_, String>>()?;
    let (world, report) = if dir.join(SCHEDULE).exists() {
        let schedule: Value = serde_json::from_str(&read(SCHEDULE)?)
            .map_err(|e| format!("{}/{SCHEDULE}: not JSON: {e}", dir.display()))?;
        let keep = crate::shrink::schedule_sites(&schedule)
            .map_err(|e| format!("{}/{SCHEDULE}: {e}", dir.display()))?;
        crate::shrink::run_schedule(&plan, seed, services, keep)
    } else {
        crate::run(&plan, seed, services)
    }
    .map_err(|e| e.to_string())?;
    let checks = crate::run_checks(&plan.expect, &report);
    let replayed = trace(&world);
    Ok(Replay {
        seed,
        recorded_digest,
        digest: report.digest,
        events: replayed.len(),
        changed_plugins,
        divergence: first_divergence(&recorded, &replayed, ("recorded", "replayed")),
        checks,
        scheduled: dir.join(SCHEDULE).exists(),
    })
}
