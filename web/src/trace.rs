//! A run in the Chrome trace event format, for Perfetto UI and chrome://tracing: one process
//! per node, one thread per kind of activity, packets as flow arrows from send to receive.

use engine::Finished;
use engine::log::{Kind, NETWORK, NodeId};
use serde_json::{Value, json};
use topology::Plan;

use crate::view;

/// Threads inside each node's process.
const THREAD_PACKETS: u64 = 1;
const THREAD_STATE: u64 = 2;
const THREAD_LOG: u64 = 3;
/// Packets get a visible slice this long (microseconds) so flow arrows have ends to bind to.
const PACKET_SLICE_US: f64 = 0.001;

/// Trace timestamps are microseconds; keep the nanoseconds as the fraction.
fn micros(time_ns: u64) -> f64 {
    time_ns as f64 / 1000.0
}

/// `{traceEvents: [...], displayTimeUnit, otherData}` for one finished run. Node `i` is process
/// `i + 1` (pid 0 is avoided: some viewers treat it as "no process"); records about the network
/// itself go to one extra process named `network`.
pub fn trace_json(plan: &Plan, run: &Finished) -> Value {
    let log = run.log();
    let report = run.report();
    let kinds = view::node_kinds(run);
    let network_pid = log.node_names.len() as u64 + 1;
    let mut events = Vec::new();
    let processes = log
        .node_names
        .iter()
        .zip(&kinds)
        .map(|(name, kind)| (name.clone(), *kind))
        .chain(std::iter::once(("network".to_string(), "network")));
    for (index, (name, kind)) in processes.enumerate() {
        let pid = index as u64 + 1;
        events.push(
            json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
            "args": {"name": format!("{name} ({kind})")}}),
        );
        events.push(
            json!({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0,
            "args": {"sort_index": index}}),
        );
        for (tid, thread) in [
            (THREAD_PACKETS, "packets"),
            (THREAD_STATE, "state"),
            (THREAD_LOG, "log"),
        ] {
            events.push(
                json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                "args": {"name": thread}}),
            );
        }
    }
    let sources = view::flow_sources(log);
    for (index, record) in log.records().iter().enumerate() {
        let ts = micros(record.time_ns);
        let pid = pid_of(record.node, network_pid);
        let text = lab::describe_record(&record.kind);
        let args = json!({"event": index, "time_ns": record.time_ns});
        match &record.kind {
            Kind::Send { frame, .. } | Kind::Receive { frame, .. } => {
                let class = engine::decode::class(&frame.bytes()).name();
                events.push(json!({"ph": "X", "name": text, "cat": class, "ts": ts,
                    "dur": PACKET_SLICE_US, "pid": pid, "tid": THREAD_PACKETS, "args": args}));
                if matches!(record.kind, Kind::Send { .. }) {
                    continue;
                }
                if let Some(send) = sources[index]
                    && let Some(sent) = log.records().get(send)
                {
                    // One flow per receive: a broadcast send starts several arrows.
                    let id = index;
                    events.push(json!({"ph": "s", "name": class, "cat": "packet", "id": id,
                        "ts": micros(sent.time_ns), "pid": pid_of(sent.node, network_pid),
                        "tid": THREAD_PACKETS}));
                    events.push(json!({"ph": "f", "bp": "e", "name": class, "cat": "packet",
                        "id": id, "ts": ts, "pid": pid, "tid": THREAD_PACKETS}));
                }
            }
            Kind::Crash(_) => {
                events.push(json!({"ph": "i", "s": "p", "name": text, "cat": "crash",
                    "ts": ts, "pid": pid, "tid": THREAD_STATE, "args": args}));
            }
            Kind::Client(_)
            | Kind::Redundancy(_)
            | Kind::Service(_)
            | Kind::Fault(_)
            | Kind::Network(_) => {
                events.push(json!({"ph": "i", "s": "t", "name": text, "cat": "state",
                    "ts": ts, "pid": pid, "tid": THREAD_STATE, "args": args}));
            }
            Kind::Drop { .. }
            | Kind::Timer { .. }
            | Kind::Log { .. }
            | Kind::Work { .. }
            | Kind::WindowsEvent { .. } => {
                events.push(json!({"ph": "i", "s": "t", "name": text,
                    "cat": record.kind.name(), "ts": ts, "pid": pid, "tid": THREAD_LOG,
                    "args": args}));
            }
        }
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "topology": plan.name,
            "seed": report.seed,
            "digest": report.digest,
            "replay": lab::replay_command(plan, report.seed),
        },
    })
}

fn pid_of(node: NodeId, network_pid: u64) -> u64 {
    if node == NETWORK {
        network_pid
    } else {
        node.index() as u64 + 1
    }
}
