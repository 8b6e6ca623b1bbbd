//! Runs the UI asked for: their parameters, ids, the views kept in memory, and seed sweeps
//! (the library's sweep, its progress streamed). A run is a pure function of its parameters,
//! so an evicted run is simply run again when asked for.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;

use crate::api::ApiError;
use crate::view;

/// Views kept in memory; older ones are recomputed on demand.
pub const CACHED_RUNS_MAX: usize = 24;
/// The most seeds one sweep or one "next crashing seed" search runs: the command line's.
pub const SWEEP_SEEDS_MAX: u64 = lab::SWEEP_SEEDS_MAX;

/// What identifies a run: the topology file (by name and content), the seed and the plugins
/// swapped in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunParams {
    pub topology: String,
    pub seed: u64,
    /// `(node, built-in plugin)` in the order given.
    pub plugins: Vec<(String, String)>,
    pub topology_sha256: String,
    /// A run record the server was started with (`pxelab serve --record DIR`): the run is
    /// that record replayed, not a fresh run of the topology.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordParams>,
}

/// A served record as a run's parameters name it: its name (the folder's) and the digest it
/// recorded, so a record written again in the same place is another run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordParams {
    pub name: String,
    pub digest: String,
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
        if let Some(record) = &self.record {
            hasher.update(format!("record {} {}\n", record.name, record.digest).as_bytes());
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
    /// What replaying its record found, for a served record.
    pub record: Option<Value>,
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

/// Keeps what the UI needs from a finished run; `record` says what replaying the record it
/// came from found (`{name, live, recorded_digest, digest, matches, ...}`).
pub fn store(
    plan: &topology::Plan,
    params: RunParams,
    world: &engine::Finished,
    record: Option<Value>,
) -> StoredRun {
    let log = world.log();
    let id = params.id();
    let mut view = view::run_view(plan, world);
    view["id"] = json!(id);
    view["params"] = json!({"topology": params.topology, "seed": params.seed,
        "plugins": params.plugins.iter().map(|(n, p)| json!({"node": n, "plugin": p})).collect::<Vec<_>>()});
    if let Some(record) = &record {
        view["params"]["record"] = record["name"].clone();
        if let Some(replay) = record["replay"].as_str() {
            view["summary"]["replay"] = json!(replay);
        }
        view["record"] = record.clone();
    }
    let body = view.to_string();
    let events = match view["events"].take() {
        Value::Array(events) => events,
        _ => Vec::new(),
    };
    StoredRun {
        id,
        params,
        record,
        body,
        summary: view["summary"].take(),
        frames: log
            .records()
            .iter()
            .map(|record| record.kind.frame().map(|frame| Box::from(&*frame.bytes())))
            .collect(),
        events,
        node_names: log.node_names.clone(),
        lan_names: log.lan_names.clone(),
        signatures: view::signatures(log),
    }
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

/// One seed of a sweep as the progress stream tells it: the library's result for the seed
/// (`failed` names the expectations it failed), with counts for the page.
#[derive(Serialize)]
pub struct SeedProgress<'a> {
    #[serde(flatten)]
    pub result: &'a lab::SeedResult,
    pub crashed: bool,
    pub booted: usize,
    pub clients: usize,
    /// Seeds finished so far, of `total`.
    pub done: u64,
    pub total: u64,
}

/// The end of a sweep: the library's report, as `pxelab sweep --json` gives it (with the
/// topology's `expect:` verdict), and the seeds that crashed.
#[derive(Serialize)]
pub struct SweepDone {
    #[serde(flatten)]
    pub report: lab::SweepReport,
    pub crashed_seeds: Vec<u64>,
}

/// What a sweep streams.
pub enum SweepEvent<'a> {
    Progress(SeedProgress<'a>),
    Done(Box<SweepDone>),
}

/// Sweeps `seeds` of `plan` (`file` as the UI names it) with the library's sweep, handing
/// `emit` every seed as it finishes and then the report. `emit` returns false when nobody
/// listens any more: the sweep then stops taking seeds and ends without a report.
pub fn sweep(
    plan: &topology::Plan,
    file: &str,
    seeds: Range<u64>,
    jobs: usize,
    services: &lab::Services,
    emit: &mut dyn FnMut(SweepEvent<'_>) -> bool,
) -> Result<(), topology::Error> {
    let clients = plan
        .build(seeds.start, services)?
        .nodes()
        .filter(|(_, node)| matches!(node, engine::Node::Client(_)))
        .count();
    let selected: Vec<u64> = seeds.clone().collect();
    let total = selected.len() as u64;
    let stop = AtomicBool::new(false);
    let options = lab::SweepOptions {
        jobs,
        check_determinism: false,
        stop: Some(&stop),
    };
    let mut done = 0;
    let outcome = lab::sweep_observed(plan, &selected, options, services, &mut |result| {
        done += 1;
        let progress = SeedProgress {
            result,
            crashed: result.crashes > 0,
            booted: result.boot_ns.len(),
            clients,
            done,
            total,
        };
        if !emit(SweepEvent::Progress(progress)) {
            stop.store(true, Ordering::Relaxed);
        }
    })?;
    if !outcome.complete {
        return Ok(());
    }
    let result = outcome.result;
    let report = lab::sweep_report(plan, file, &seeds, None, &result);
    let crashed_seeds = result.first_crashes.iter().map(|&(seed, _)| seed).collect();
    emit(SweepEvent::Done(Box::new(SweepDone {
        report,
        crashed_seeds,
    })));
    Ok(())
}

/// The smallest seed of `seeds` whose run crashes a node, if any, found with the library's
/// sweep: seeds are handed out in order, so once one crashes no larger seed is needed, and
/// every smaller one has already been taken and finishes.
pub fn first_crash(
    plan: &topology::Plan,
    seeds: Range<u64>,
    jobs: usize,
    services: &lab::Services,
) -> Result<Option<u64>, topology::Error> {
    let selected: Vec<u64> = seeds.collect();
    let stop = AtomicBool::new(false);
    let options = lab::SweepOptions {
        jobs,
        check_determinism: false,
        stop: Some(&stop),
    };
    let mut first: Option<u64> = None;
    lab::sweep_observed(plan, &selected, options, services, &mut |result| {
        if result.crashes > 0 {
            first = Some(first.map_or(result.seed, |seed| seed.min(result.seed)));
            stop.store(true, Ordering::Relaxed);
        }
    })?;
    Ok(first)
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
            "seeds `{text}` is more than {SWEEP_SEEDS_MAX} seeds, the most one sweep runs; \
             split the range"
        )));
    }
    Ok(range)
}
