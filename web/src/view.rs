//! A finished run as the timeline needs it: nodes as lanes, every log record as an event,
//! packets joined from send to receive, redundancy states as bands, plugin work as bars, crashes
//! and restarts as markers, and the relayed copies of one client request grouped.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use engine::log::{EventLog, Frame, Kind, LanId, NodeId};
use engine::{Finished, Node};
use serde_json::{Value, json};
use topology::Plan;

use engine::decode::{self, RequestKey};

/// The kind of each node, by node index: `client`, `router`, `server`, `tap` (test hosts) or
/// `real` (a bridge to machines outside the simulation).
pub fn node_kinds(run: &Finished) -> Vec<&'static str> {
    run.nodes()
        .map(|(_, node)| match node {
            Node::Client(_) => "client",
            Node::Router(_) => "router",
            Node::Server(_) => "server",
            Node::Scripted(_) => "scripted",
            Node::Bridge(_) => "real",
        })
        .collect()
}

/// For each record, the index of the send whose frame a receive took off the LAN: the latest
/// send of the same bytes on the same LAN before it (LANs deliver copies, never alter them).
pub fn flow_sources(log: &EventLog) -> Vec<Option<usize>> {
    let mut latest: HashMap<(LanId, Frame), usize> = HashMap::new();
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
    let mut last_receive: HashMap<(NodeId, Frame), usize> = HashMap::new();
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
    receives: Vec<usize>,
    giaddrs: Vec<Ipv4Addr>,
    label: String,
}

/// Groups the receives at servers of the relayed copies of one request (`decode::Copies`'
/// definition: the same `RequestKey`, through different relay agents).
fn duplicate_groups(log: &EventLog, kinds: &[&str]) -> Vec<DuplicateGroup> {
    let mut open: BTreeMap<(NodeId, RequestKey), DuplicateGroup> = BTreeMap::new();
    let mut done = Vec::new();
    for (index, record) in log.records().iter().enumerate() {
        let Kind::Receive { frame, .. } = &record.kind else {
            continue;
        };
        // Servers of the simulation and real ones behind a bridge (the copies a real DHCP
        // server was sent).
        if !matches!(kinds.get(record.node.index()), Some(&("server" | "real"))) {
            continue;
        }
        let Some(request) = decode::relayed_request(&frame.bytes()) else {
            continue;
        };
        let slot = (record.node, request.key);
        let label = format!(
            "{} xid {:#010x} at {}",
            slot.1.kind(),
            slot.1.xid,
            log.node_name(record.node)
        );
        let group = open.entry(slot).or_insert_with(|| DuplicateGroup {
            receives: Vec::new(),
            giaddrs: Vec::new(),
            label,
        });
        group.receives.push(index);
        group.giaddrs.push(request.giaddr);
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

/// Router redundancy states from the routers' `Kind::Redundancy` records as bands `{node,
/// group, state, start_ns, end_ns}`; the last band of a group lasts until the end of the run.
fn redundancy_bands(log: &EventLog, end_ns: u64) -> Vec<Value> {
    let mut open: BTreeMap<(NodeId, String), (String, u64)> = BTreeMap::new();
    let mut bands = Vec::new();
    for record in log.records() {
        let Kind::Redundancy(change) = &record.kind else {
            continue;
        };
        let group = format!(
            "{} {} group {}",
            change.interface, change.protocol, change.group
        );
        let slot = (record.node, group);
        let state = change.to.to_string();
        if let Some((previous, start_ns)) = open.insert(slot.clone(), (state, record.time_ns)) {
            bands.push(
                json!({"node": slot.0.index(), "group": slot.1, "state": previous,
                "start_ns": start_ns, "end_ns": record.time_ns}),
            );
        }
    }
    for ((node, group), (state, start_ns)) in open {
        bands.push(json!({"node": node.index(), "group": group, "state": state,
            "start_ns": start_ns, "end_ns": end_ns}));
    }
    bands
}

/// Plugin work in flight on servers, from the spans services report (`Kind::Work`): a begin
/// opens a bar, its end closes it. `outcome` is `done`, `crashed` (the service crashed in the
/// call that finished the work), `cut` (the service crashed while it was in flight) or `open`
/// (the run ended first).
fn work_bars(log: &EventLog, end_ns: u64) -> Vec<Value> {
    // Per node and span id: (start_ns, label) of bars not yet closed.
    let mut open: BTreeMap<(NodeId, u64), (u64, String)> = BTreeMap::new();
    let mut bars = Vec::new();
    let bar = |node: NodeId, start_ns, end: u64, label: &str, outcome: &str| {
        json!({"node": node.index(), "start_ns": start_ns, "end_ns": end, "label": label,
            "outcome": outcome})
    };
    for record in log.records() {
        match &record.kind {
            Kind::Work {
                id,
                end: false,
                label,
            } => {
                open.insert((record.node, *id), (record.time_ns, label.to_string()));
            }
            Kind::Work { id, end: true, .. } => {
                if let Some((start_ns, label)) = open.remove(&(record.node, *id)) {
                    bars.push(bar(record.node, start_ns, record.time_ns, &label, "done"));
                }
            }
            Kind::Crash(_) => {
                for done in bars.iter_mut().filter(|bar| {
                    bar["node"] == record.node.index() && bar["end_ns"] == record.time_ns
                }) {
                    done["outcome"] = json!("crashed");
                }
                let cut: Vec<(NodeId, u64)> = open
                    .range((record.node, 0)..=(record.node, u64::MAX))
                    .map(|(slot, _)| *slot)
                    .collect();
                for slot in cut {
                    if let Some((start_ns, label)) = open.remove(&slot) {
                        bars.push(bar(record.node, start_ns, record.time_ns, &label, "cut"));
                    }
                }
            }
            _ => {}
        }
    }
    for ((node, _), (start_ns, label)) in open {
        bars.push(bar(node, start_ns, end_ns, &label, "open"));
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
            Kind::Crash(crash) => {
                crashed.insert(record.node, true);
                markers.push(
                    json!({"node": record.node.index(), "time_ns": record.time_ns,
                    "kind": "crash", "text": crash.to_string(), "event": index}),
                );
            }
            Kind::Service(event) if crashed.get(&record.node) == Some(&true) => {
                crashed.insert(record.node, false);
                markers.push(
                    json!({"node": record.node.index(), "time_ns": record.time_ns,
                    "kind": "restart", "text": event.to_string(), "event": index}),
                );
            }
            _ => {}
        }
    }
    markers
}

/// The real machines behind bridge node `node`: the source of each frame that entered the
/// simulation through it, as `IPv4 (MAC)` (or the MAC alone), in the order first seen.
fn real_hosts(log: &EventLog, node: usize) -> Vec<String> {
    // (MAC, the first IPv4 source address seen from it), in the order first seen.
    let mut hosts = Vec::new();
    for record in log.records() {
        if record.node.index() != node {
            continue;
        }
        let Kind::Send { frame, .. } = &record.kind else {
            continue;
        };
        let bytes = frame.bytes();
        let Ok(parsed) = engine::frame::parse(&bytes) else {
            continue;
        };
        let mac = parsed.ethernet.src_addr;
        let address = parsed
            .ipv4
            .map(|ip| ip.src_addr)
            .filter(|address| !address.is_unspecified());
        match hosts
            .iter_mut()
            .find(|(known, _): &&mut (_, Option<Ipv4Addr>)| *known == mac)
        {
            Some((_, known)) => *known = known.or(address),
            None => hosts.push((mac, address)),
        }
    }
    hosts
        .into_iter()
        .map(|(mac, address)| match address {
            Some(address) => format!("{address} ({mac})"),
            None => mac.to_string(),
        })
        .collect()
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
                lab::describe_record(&record.kind)
            )
        })
        .collect()
}

/// The whole view of a run. Events are `{t, n, k, x}` (time ns, node index, kind, text) plus
/// for packets `c` (colour class), `l` (LAN index, on sends and receives), `to` (receive indices, on sends), `from` (send index, on
/// receives), `drop` (the receiver dropped it: why) and `dup` (duplicate group index).
pub fn run_view(plan: &Plan, run: &Finished) -> Value {
    let log = run.log();
    let report = run.report();
    let kinds = node_kinds(run);
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
                "n": if record.node == engine::log::NETWORK { Value::Null } else { json!(record.node.index()) },
                "k": record.kind.name(),
                "x": lab::describe_record(&record.kind),
            });
            if let Some(frame) = record.kind.frame() {
                event["c"] = json!(decode::class(&frame.bytes()).name());
            }
            if let Kind::Send { lan, .. } | Kind::Receive { lan, .. } = &record.kind {
                event["l"] = json!(lan.index());
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
            let level = match &record.kind {
                Kind::Log { level, .. } => Some(level),
                Kind::WindowsEvent(windows) => Some(&windows.level),
                _ => None,
            };
            if let Some(level) = level {
                event["level"] = json!(level.to_string());
            }
            event
        })
        .collect();
    let bridges = plan.bridges();
    let nodes: Vec<Value> = run
        .nodes()
        .zip(&kinds)
        .enumerate()
        .map(|(index, ((name, _), kind))| {
            let mut node = json!({"name": name, "kind": kind});
            if let Some(bridge) = bridges.iter().find(|bridge| bridge.node == name) {
                node["lan"] = json!(bridge.lan);
                node["tap"] = json!(bridge.tap);
                node["hosts"] = json!(real_hosts(log, index));
            }
            node
        })
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
        "summary": lab::report_json(plan, report),
        "nodes": nodes,
        "lans": log.lan_names,
        "events": events,
        "bands": redundancy_bands(log, end_ns),
        "work": work_bars(log, end_ns),
        "markers": markers(log),
        "duplicates": duplicates,
    })
}
