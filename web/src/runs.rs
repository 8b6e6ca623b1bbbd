//! Runs the UI asked for: their parameters, ids, the views kept in memory, and seed sweeps on
//! the blocking pool. A run is a pure function of its parameters, so an evicted run is simply
//! run again when asked for.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use engine::report::Report;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;

use crate::api::ApiError;
use crate::view;

/// Views kept in memory; older ones are recomputed on demand.
pub const CACHED_RUNS_MAX: usize = 24;
/// The most seeds one sweep or one "next crashing seed" search runs.
pub const SWEEP_SEEDS_MAX: u64 = 10_000;

/// What identifies a run: the topology file (by name and content), the seed and the plugins
/// swapped in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunParams {
    pub topology: String,
    pub seed: u64,
    /// `(node, built-in plugin)` in the order given.
    pub plugins: Vec<(String, String)>,
    pub topology_sha256: String,
}

impl RunParams {
    /// 16 hex digits of SHA-256 over the parameters: equal parameters, equal id.
    pub fn id(&self) -> String {
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"pxelab-web-run-v1\n");
        hasher.update(self.topology.as_bytes());
        hasher.update(format!("\n{}\n{}\n", self.seed, self.topology_sha256).as_bytes());
        for (node, plugin) in &self.plugins {
            hasher.update(format!("{node}={plugin}\n").as_bytes());
        }
        hasher.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A run ids are handed out for: 16 lowercase hex digits, nothing else (ids name files).
pub fn valid_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One finished run as the UI reads it.
pub struct StoredRun {
    pub id: String,
    pub params: RunParams,
    /// The whole view, serialized once.
    pub body: String,
    pub summary: Value,
    /// Per event: the frame it carries (for the inspector).
    pub frames: Vec<Option<Box<[u8]>>>,
    /// Per event: the compact JSON the timeline got (time, node, kind, text, links).
    pub events: Vec<Value>,
    pub node_names: Vec<String>,
    pub lan_names: Vec<String>,
    /// Per event: what `compare` walks.
    pub signatures: Vec<String>,
}

/// A plan with the plugin swaps applied, and the SHA-256 of its file.
pub fn load_plan(
    path: &Path,
    plugins: &[(String, String)],
) -> Result<(topology::Plan, String), ApiError> {
    let mut plan = topology::load(path).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    for (node, plugin) in plugins {
        if artifacts::builtin(plugin).is_none() {
            let names: Vec<&str> = artifacts::ALL
                .iter()
                .filter(|a| !a.component.is_empty())
                .map(|a| a.name)
                .collect();
            return Err(ApiError::bad_request(format!(
                "unknown plugin `{plugin}` for node `{node}`; the UI runs built-in plugins: {}",
                names.join(", ")
            )));
        }
        plan.override_plugin(node, plugin)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let sha: String = sha2::Sha256::digest(plan.source().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((plan, sha))
}

/// Runs one seed of `plan` (blocking) and keeps what the UI needs from it.
pub fn execute(
    plan: &topology::Plan,
    params: RunParams,
    services: &pxelab::Services,
) -> Result<StoredRun, ApiError> {
    let (world, report) = pxelab::run(plan, params.seed, services)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let log = world.log().expect("a run has a log");
    let id = params.id();
    let mut view = view::run_view(plan, &world, &report);
    view["id"] = json!(id);
    view["params"] = json!({"topology": params.topology, "seed": params.seed,
        "plugins": params.plugins.iter().map(|(n, p)| json!({"node": n, "plugin": p})).collect::<Vec<_>>()});
    let body = view.to_string();
    let events = match view["events"].take() {
        Value::Array(events) => events,
        _ => Vec::new(),
    };
    Ok(StoredRun {
        id,
        params,
        body,
        summary: view["summary"].take(),
        frames: log
            .records()
            .iter()
            .map(|record| record.kind.frame().map(|frame| Box::from(&frame[..])))
            .collect(),
        events,
        node_names: log.node_names.clone(),
        lan_names: log.lan_names.clone(),
        signatures: view::signatures(log),
    })
}

/// The inspector's view of event `index`: the record, the send it came from, every layer.
pub fn event_detail(run: &StoredRun, index: usize) -> Option<Value> {
    let event = run.events.get(index)?;
    let node = event["n"]
        .as_u64()
        .and_then(|n| run.node_names.get(n as usize))
        .map_or("network", String::as_str);
    let time_ns = event["t"].as_u64().unwrap_or_default();
    let mut detail = json!({
        "index": index,
        "time_ns": time_ns,
        "time": timing::format_ns(time_ns),
        "node": node,
        "kind": event["k"],
        "text": event["x"],
    });
    if let Some(lan) = event["l"]
        .as_u64()
        .and_then(|l| run.lan_names.get(l as usize))
    {
        detail["lan"] = json!(lan);
    }
    if let Some(reason) = event.get("drop") {
        detail["dropped"] = reason.clone();
    }
    if let Some(from) = event["from"].as_u64()
        && let Some(sent) = run.events.get(from as usize)
    {
        let sent_ns = sent["t"].as_u64().unwrap_or_default();
        detail["sent_event"] = json!(from);
        detail["sent_by"] = json!(
            sent["n"]
                .as_u64()
                .and_then(|n| run.node_names.get(n as usize))
        );
        detail["latency"] = json!(timing::format_ns(time_ns.saturating_sub(sent_ns)));
    }
    if let Some(to) = event["to"].as_array() {
        detail["received_events"] = json!(to);
        let receivers: Vec<&str> = to
            .iter()
            .filter_map(|index| run.events.get(usize::try_from(index.as_u64()?).ok()?))
            .filter_map(|received| {
                run.node_names
                    .get(usize::try_from(received["n"].as_u64()?).ok()?)
            })
            .map(String::as_str)
            .collect();
        detail["received_by"] = json!(receivers);
    }
    if let Some(Some(frame)) = run.frames.get(index) {
        detail["packet"] = crate::decode::packet(frame);
    }
    Some(detail)
}

/// The first position at which two sequences of event indices differ by signature.
fn first_difference(
    a: &StoredRun,
    a_events: &[usize],
    b: &StoredRun,
    b_events: &[usize],
) -> Option<(Option<usize>, Option<usize>)> {
    let differs = a_events
        .iter()
        .zip(b_events)
        .position(|(&x, &y)| a.signatures[x] != b.signatures[y])
        .or_else(|| {
            (a_events.len() != b_events.len()).then(|| a_events.len().min(b_events.len()))
        })?;
    Some((
        a_events.get(differs).copied(),
        b_events.get(differs).copied(),
    ))
}

/// Where two runs part: the first event that differs at all (often a plugin's own log line,
/// such as its startup banner), and the first that differs in behaviour (a packet, a timer, a
/// state change or a crash; the logs left out). Each side is `{index, t, node, text}` or
/// null when that run had already ended.
pub fn compare(a: &StoredRun, b: &StoredRun) -> Value {
    let all = |run: &StoredRun| (0..run.events.len()).collect::<Vec<_>>();
    let behaviour = |run: &StoredRun| {
        (0..run.events.len())
            .filter(|&i| !matches!(run.events[i]["k"].as_str(), Some("log" | "windows-event")))
            .collect::<Vec<_>>()
    };
    let side = |run: &StoredRun, index: Option<usize>| {
        index.and_then(|index| run.events.get(index)).map(|event| {
            json!({"index": index.unwrap_or_default(), "t": event["t"], "node": event["n"], "text": event["x"]})
        })
    };
    let describe = |found: Option<(Option<usize>, Option<usize>)>| {
        found.map(|(x, y)| json!({"a": side(a, x), "b": side(b, y)}))
    };
    let first = first_difference(a, &all(a), b, &all(b));
    let behaviour = first_difference(a, &behaviour(a), b, &behaviour(b));
    json!({
        "a": {"id": a.id, "summary": a.summary},
        "b": {"id": b.id, "summary": b.summary},
        "identical": first.is_none(),
        "first_divergence": describe(first),
        "first_behaviour_divergence": describe(behaviour),
    })
}

/// Views in memory (bounded) and every id handed out in this process, so an evicted or
/// restarted-away run can be run again from its parameters.
#[derive(Default)]
pub struct RunCache {
    views: BTreeMap<String, std::sync::Arc<StoredRun>>,
    order: VecDeque<String>,
    known: BTreeMap<String, RunParams>,
}

impl RunCache {
    pub fn get(&self, id: &str) -> Option<std::sync::Arc<StoredRun>> {
        self.views.get(id).cloned()
    }

    pub fn params(&self, id: &str) -> Option<RunParams> {
        self.known.get(id).cloned()
    }

    pub fn known(&self) -> impl Iterator<Item = (&String, &RunParams)> {
        self.known.iter()
    }

    pub fn insert(&mut self, run: std::sync::Arc<StoredRun>) {
        self.known.insert(run.id.clone(), run.params.clone());
        if self.views.insert(run.id.clone(), run.clone()).is_none() {
            self.order.push_back(run.id.clone());
        }
        while self.order.len() > CACHED_RUNS_MAX {
            if let Some(oldest) = self.order.pop_front() {
                self.views.remove(&oldest);
            }
        }
    }
}

/// `runs_dir/ID.json`: the parameters and summary of a run, so the run list and run links
/// survive a restart of the server.
pub fn run_file(runs_dir: &Path, id: &str) -> PathBuf {
    assert!(valid_id(id), "run ids are checked before they name files");
    runs_dir.join(format!("{id}.json"))
}

/// What one seed of a sweep came to, for the progress stream.
pub fn seed_outcome(report: &Report) -> Value {
    let failed: Vec<Value> = report
        .clients
        .iter()
        .filter_map(|client| match &client.outcome {
            engine::client::Outcome::Booted { .. } => None,
            engine::client::Outcome::Failed { code, .. } => {
                Some(json!({"client": client.name, "outcome": code}))
            }
            engine::client::Outcome::Pending => {
                Some(json!({"client": client.name, "outcome": "pending"}))
            }
        })
        .collect();
    json!({
        "seed": report.seed,
        "crashed": !report.crashes.is_empty(),
        "crashes": report.crashes.len(),
        "first_crash_ns": report.crashes.first().map(|c| c.time_ns),
        "booted": report.clients.len() - failed.len(),
        "clients": report.clients.len(),
        "failed": failed,
        "digest": report.digest,
    })
}

/// Runs `seeds` on `jobs` threads, handing each report to `each` as it finishes (in no
/// particular order). `each` returns false to stop early; `stop_after` (a seed) tells workers
/// they need no seed above it, for searches that want the first hit.
pub fn run_seeds(
    plan: &topology::Plan,
    seeds: Range<u64>,
    jobs: usize,
    services: &pxelab::Services,
    each: &(dyn Fn(Result<Report, String>) -> bool + Sync),
    stop_after: &AtomicU64,
) {
    let next = AtomicU64::new(seeds.start);
    let stopped = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    if stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end || seed > stop_after.load(Ordering::Relaxed) {
                        return;
                    }
                    let result = pxelab::run(plan, seed, services)
                        .map(|(_, report)| report)
                        .map_err(|e| e.to_string());
                    if !each(result) {
                        stopped.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
}

/// `"0..100"` (also `"5"` for one seed), at most `SWEEP_SEEDS_MAX` seeds.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "seeds `{text}` is not a range: write `START..END`, e.g. `0..100`"
        ))
    };
    let range = match text.split_once("..") {
        Some((start, end)) => {
            let start: u64 = start.trim().parse().map_err(|_| bad())?;
            let end: u64 = end.trim().parse().map_err(|_| bad())?;
            start..end
        }
        None => {
            let seed: u64 = text.trim().parse().map_err(|_| bad())?;
            seed..seed.saturating_add(1)
        }
    };
    if range.is_empty() {
        return Err(ApiError::bad_request(format!(
            "seeds `{text}` is empty: the end is exclusive, e.g. `0..100`"
        )));
    }
    if range.end - range.start > SWEEP_SEEDS_MAX {
        return Err(ApiError::bad_request(format!(
            "seeds `{text}` is more than {SWEEP_SEEDS_MAX} seeds; sweep larger ranges with \
             `pxelab sweep`"
        )));
    }
    Ok(range)
}
