//! A finished run as the timeline needs it: nodes as lanes, every log record as an event,
//! packets joined from send to receive, redundancy states as bands, plugin work as bars, crashes
//! and restarts as markers, and the relayed copies of one client request grouped.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::rc::Rc;

use engine::log::{EventLog, Kind, NodeId};
use engine::report::Report;
use engine::{Node, World};
use serde_json::{Value, json};
use topology::Plan;

use crate::decode::{self, RequestKey};

/// Copies of one request further apart than this are retransmissions, not relay duplicates.
const DUPLICATE_WINDOW_NS: u64 = 1_000_000_000;

/// The kind of each node, by node index: `client`, `router`, `server` or `tap` (test hosts).
pub fn node_kinds(world: &World) -> Vec<&'static str> {
    world
        .nodes()
        .map(|(_, node)| match node {
            Node::Client(_) => "client",
            Node::Router(_) => "router",
            Node::Server(_) => "server",
            Node::Tap(_) => "tap",
        })
        .collect()
}

/// For each record, the index of the send whose frame a receive took off the LAN: the latest
/// send of the same bytes on the same LAN before it (LANs deliver copies, never alter them).
pub fn flow_sources(log: &EventLog) -> Vec<Option<usize>> {
    let mut latest: HashMap<(usize, Rc<[u8]>), usize> = HashMap::new();
    log.records()
        .iter()
        .enumerate()
        .map(|(index, record)| match &record.kind {
            Kind::Send { lan, frame, .. } => {
                latest.insert((*lan, frame.clone()), index);
                None
            }
            Kind::Receive { lan, frame, .. } => latest.get(&(*lan, frame.clone())).copied(),
            _ => None,
        })
        .collect()
}

/// For each receive, the reason the receiving node then dropped the same frame, if it did.
fn dropped_after_receive(log: &EventLog) -> HashMap<usize, String> {
    let mut last_receive: HashMap<(NodeId, Rc<[u8]>), usize> = HashMap::new();
    let mut dropped = HashMap::new();
    for (index, record) in log.records().iter().enumerate() {
        match &record.kind {
            Kind::Receive { frame, .. } => {
                last_receive.insert((record.node, frame.clone()), index);
            }
            Kind::Drop { reason, frame } => {
                if let Some(receive) = last_receive.remove(&(record.node, frame.clone())) {
                    dropped.insert(receive, reason.to_string());
                }
            }
            _ => {}
        }
    }
    dropped
}

/// A group of relayed copies of one client request that reached one server.
struct DuplicateGroup {
    first_ns: u64,
    receives: Vec<usize>,
    giaddrs: Vec<Ipv4Addr>,
    label: String,
}

/// Groups the receives at servers of relayed copies of one request (same type, xid, chaddr)
/// that came through different relay agents within `DUPLICATE_WINDOW_NS`.
fn duplicate_groups(log: &EventLog, kinds: &[&str]) -> Vec<DuplicateGroup> {
    let mut open: BTreeMap<(NodeId, RequestKey), DuplicateGroup> = BTreeMap::new();
    let mut done = Vec::new();
    for (index, record) in log.records().iter().enumerate() {
        let Kind::Receive { frame, .. } = &record.kind else {
            continue;
        };
        if kinds.get(record.node) != Some(&"server") {
            continue;
        }
        let Some((key, giaddr)) = decode::relayed_request(frame) else {
            continue;
        };
        let slot = (record.node, key);
        if let Some(group) = open.get(&slot)
            && record.time_ns - group.first_ns > DUPLICATE_WINDOW_NS
            && let Some(finished) = open.remove(&slot)
        {
            done.push(finished);
        }
        let label = format!(
            "{} xid {:#010x} at {}",
            slot.1.message,
            slot.1.xid,
            log.node_name(record.node)
        );
        let group = open.entry(slot).or_insert_with(|| DuplicateGroup {
            first_ns: record.time_ns,
            receives: Vec::new(),
            giaddrs: Vec::new(),
            label,
        });
        group.receives.push(index);
        group.giaddrs.push(giaddr);
    }
    done.extend(open.into_values());
    let mut groups: Vec<DuplicateGroup> = done
        .into_iter()
        .filter(|group| {
            let mut distinct = group.giaddrs.clone();
            distinct.sort_unstable();
            distinct.dedup();
            distinct.len() > 1
        })
        .collect();
    groups.sort_by_key(|group| group.receives[0]);
    groups
}

/// Router redundancy states from the routers' state records
/// (`Vlan10 HSRP group 10: Initial -> Active (...)`) as bands `{node, group, state, start_ns,
/// end_ns}`; the last band of a group lasts until the end of the run.
fn redundancy_bands(log: &EventLog, kinds: &[&str], end_ns: u64) -> Vec<Value> {
    let mut open: BTreeMap<(NodeId, String), (String, u64)> = BTreeMap::new();
    let mut bands = Vec::new();
    for record in log.records() {
        let Kind::State { text } = &record.kind else {
            continue;
        };
        if kinds.get(record.node) != Some(&"router") {
            continue;
        }
        let Some((group, change)) = text.split_once(": ") else {
            continue;
        };
        let Some((_, to)) = change.split_once(" -> ") else {
            continue;
        };
        let state = to.split_whitespace().next().unwrap_or_default().to_string();
        let slot = (record.node, group.to_string());
        if let Some((previous, start_ns)) = open.insert(slot.clone(), (state, record.time_ns)) {
            bands.push(json!({"node": slot.0, "group": slot.1, "state": previous,
                "start_ns": start_ns, "end_ns": record.time_ns}));
        }
    }
    for ((node, group), (state, start_ns)) in open {
        bands.push(json!({"node": node, "group": group, "state": state,
            "start_ns": start_ns, "end_ns": end_ns}));
    }
    bands
}

/// Plugin work in flight on servers, from the plugin's own words: a log record
/// `... takes request N (...), device lookup 1.006 ms` (what the WDS providers log when a worker
/// starts a lookup) opens a bar; the node's first timer at or after the lookup's end closes it
/// (the timer the plugin set for it). `outcome` is `done`, `crashed` (handling its result
/// crashed the service), `cut` (the service crashed while it was in flight) or `open` (the run
/// ended first).
fn work_bars(log: &EventLog, kinds: &[&str], end_ns: u64) -> Vec<Value> {
    // Per node: (due_ns, start_ns, label) of bars not yet closed.
    let mut open: BTreeMap<NodeId, Vec<(u64, u64, String)>> = BTreeMap::new();
    let mut bars = Vec::new();
    let close = |bars: &mut Vec<Value>, node, start_ns, end: u64, label, outcome: &str| {
        bars.push(json!({"node": node, "start_ns": start_ns, "end_ns": end,
            "label": label, "outcome": outcome}));
    };
    for record in log.records() {
        if kinds.get(record.node) != Some(&"server") {
            continue;
        }
        match &record.kind {
            Kind::Log { text, .. } if text.contains("takes request ") => {
                let Some((_, duration)) = text.rsplit_once("device lookup ") else {
                    continue;
                };
                let Ok(lookup_ns) = timing::parse_duration_ns(&duration.replace(' ', "")) else {
                    continue;
                };
                open.entry(record.node).or_default().push((
                    record.time_ns.saturating_add(lookup_ns),
                    record.time_ns,
                    text.clone(),
                ));
            }
            Kind::Timer { .. } => {
                let Some(bars_open) = open.get_mut(&record.node) else {
                    continue;
                };
                let due = bars_open
                    .iter()
                    .enumerate()
                    .filter(|(_, (due_ns, _, _))| *due_ns <= record.time_ns)
                    .min_by_key(|(_, (due_ns, _, _))| *due_ns)
                    .map(|(index, _)| index);
                if let Some(index) = due {
                    let (_, start_ns, label) = bars_open.remove(index);
                    close(
                        &mut bars,
                        record.node,
                        start_ns,
                        record.time_ns,
                        label,
                        "done",
                    );
                }
            }
            Kind::Crash { .. } => {
                for bar in bars
                    .iter_mut()
                    .filter(|bar| bar["node"] == record.node && bar["end_ns"] == record.time_ns)
                {
                    bar["outcome"] = json!("crashed");
                }
                for (_, start_ns, label) in open.remove(&record.node).unwrap_or_default() {
                    close(
                        &mut bars,
                        record.node,
                        start_ns,
                        record.time_ns,
                        label,
                        "cut",
                    );
                }
            }
            _ => {}
        }
    }
    for (node, bars_open) in open {
        for (_, start_ns, label) in bars_open {
            close(&mut bars, node, start_ns, end_ns, label, "open");
        }
    }
    bars.sort_by_key(|bar| bar["start_ns"].as_u64());
    bars
}

/// Crashes and the restarts after them: `{node, time_ns, kind: crash|restart, text}`.
fn markers(log: &EventLog) -> Vec<Value> {
    let mut crashed: BTreeMap<NodeId, bool> = BTreeMap::new();
    let mut markers = Vec::new();
    for (index, record) in log.records().iter().enumerate() {
        match &record.kind {
            Kind::Crash { reason } => {
                crashed.insert(record.node, true);
                markers.push(json!({"node": record.node, "time_ns": record.time_ns,
                    "kind": "crash", "text": reason, "event": index}));
            }
            Kind::State { text }
                if crashed.get(&record.node) == Some(&true)
                    && (text.ends_with(" running") || text == "server rebooted") =>
            {
                crashed.insert(record.node, false);
                markers.push(json!({"node": record.node, "time_ns": record.time_ns,
                    "kind": "restart", "text": text, "event": index}));
            }
            _ => {}
        }
    }
    markers
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Send { .. } => "send",
        Kind::Receive { .. } => "receive",
        Kind::Drop { .. } => "drop",
        Kind::Timer { .. } => "timer",
        Kind::State { .. } => "state",
        Kind::Crash { .. } => "crash",
        Kind::Log { .. } => "log",
        Kind::WindowsEvent { .. } => "windows-event",
    }
}

/// The frame a record carries, if any.
pub fn frame_of(kind: &Kind) -> Option<&Rc<[u8]>> {
    match kind {
        Kind::Send { frame, .. } | Kind::Receive { frame, .. } | Kind::Drop { frame, .. } => {
            Some(frame)
        }
        _ => None,
    }
}

/// One line per record, the same for two runs exactly when the records are equal: what
/// `compare` walks to find the first divergence.
pub fn signatures(log: &EventLog) -> Vec<String> {
    log.records()
        .iter()
        .map(|record| {
            format!(
                "{} {} {}",
                record.time_ns,
                log.node_name(record.node),
                pxelab::describe_record(&record.kind)
            )
        })
        .collect()
}

/// The whole view of a run. Events are `{t, n, k, x}` (time ns, node index, kind, text) plus
/// for packets `c` (colour class), `l` (LAN index, on sends and receives), `to` (receive indices, on sends), `from` (send index, on
/// receives), `drop` (the receiver dropped it: why) and `dup` (duplicate group index).
pub fn run_view(plan: &Plan, world: &World, report: &Report) -> Value {
    let log = world.log().expect("viewed after run");
    let kinds = node_kinds(world);
    let sources = flow_sources(log);
    let dropped = dropped_after_receive(log);
    let groups = duplicate_groups(log, &kinds);
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for (group_index, group) in groups.iter().enumerate() {
        for receive in &group.receives {
            group_of.insert(*receive, group_index);
            if let Some(send) = sources[*receive] {
                group_of.insert(send, group_index);
            }
        }
    }
    let mut receivers: HashMap<usize, Vec<usize>> = HashMap::new();
    for (index, source) in sources.iter().enumerate() {
        if let Some(send) = source {
            receivers.entry(*send).or_default().push(index);
        }
    }
    let events: Vec<Value> = log
        .records()
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let mut event = json!({
                "t": record.time_ns,
                "n": if record.node == engine::log::NETWORK { Value::Null } else { json!(record.node) },
                "k": kind_name(&record.kind),
                "x": pxelab::describe_record(&record.kind),
            });
            if let Some(frame) = frame_of(&record.kind) {
                event["c"] = json!(decode::class(frame));
            }
            if let Kind::Send { lan, .. } | Kind::Receive { lan, .. } = &record.kind {
                event["l"] = json!(lan);
            }
            if let Some(to) = receivers.get(&index) {
                event["to"] = json!(to);
            }
            if let Some(from) = sources[index] {
                event["from"] = json!(from);
            }
            if let Some(reason) = dropped.get(&index) {
                event["drop"] = json!(reason);
            }
            if let Some(group) = group_of.get(&index) {
                event["dup"] = json!(group);
            }
            if let Kind::Log { level, .. } | Kind::WindowsEvent { level, .. } = &record.kind {
                event["level"] = json!(level.to_string());
            }
            event
        })
        .collect();
    let nodes: Vec<Value> = world
        .nodes()
        .zip(&kinds)
        .map(|((name, _), kind)| json!({"name": name, "kind": kind}))
        .collect();
    let duplicates: Vec<Value> = groups
        .iter()
        .map(|group| {
            json!({
                "label": group.label,
                "receives": group.receives,
                "giaddrs": group.giaddrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    let end_ns = report.sim_time_ns;
    json!({
        "summary": pxelab::report_json(plan, report),
        "nodes": nodes,
        "lans": log.lan_names,
        "events": events,
        "bands": redundancy_bands(log, &kinds, end_ns),
        "work": work_bars(log, &kinds, end_ns),
        "markers": markers(log),
        "duplicates": duplicates,
    })
}
