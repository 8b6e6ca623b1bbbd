//! The Chrome trace export (`pxelab run --trace-json`): the structure Perfetto UI and
//! chrome://tracing read, checked on the KB race run.

use super::common;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

#[test]
fn the_trace_has_a_process_per_node_and_a_flow_per_received_packet() {
    let plan = topology::load(&common::topologies_dir().join("kb2510665.yaml")).unwrap();
    let services = lab::Services::with_cache_dir(Some(common::cache_dir())).unwrap();
    let world = lab::run(&plan, 0, &services).unwrap();
    let report = world.report();
    let trace = web::trace_json(&plan, &world);
    // It survives a round trip through text, as a file would.
    let trace: Value = serde_json::from_str(&trace.to_string()).unwrap();
    assert_eq!(trace["otherData"]["seed"], 0);
    assert_eq!(trace["otherData"]["digest"], report.digest.as_str());
    let events = trace["traceEvents"].as_array().unwrap();
    let log = world.log();

    // Every node is a named process.
    let mut process_names = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
    {
        process_names.insert(
            event["pid"].as_u64().unwrap(),
            event["args"]["name"].as_str().unwrap(),
        );
    }
    for (index, name) in log.node_names.iter().enumerate() {
        let named = process_names
            .get(&(index as u64 + 1))
            .unwrap_or_else(|| panic!("{name}"));
        assert!(named.starts_with(name.as_str()), "{named} names {name}");
    }

    // Every event has the fields its phase needs; timestamps are microseconds with the
    // nanoseconds kept as the fraction, never decreasing for records.
    let known_pids: BTreeSet<u64> = process_names.keys().copied().collect();
    for event in events {
        let phase = event["ph"].as_str().unwrap();
        assert!(["M", "X", "i", "s", "f"].contains(&phase), "{event}");
        assert!(
            known_pids.contains(&event["pid"].as_u64().unwrap()),
            "{event}"
        );
        assert!(event["tid"].is_u64(), "{event}");
        if phase != "M" {
            assert!(event["ts"].is_f64() || event["ts"].is_u64(), "{event}");
            assert!(event["name"].is_string(), "{event}");
        }
        if phase == "X" {
            assert!(event["dur"].as_f64().unwrap() > 0.0, "{event}");
        }
        if phase == "i" {
            assert!(
                ["t", "p", "g"].contains(&event["s"].as_str().unwrap()),
                "{event}"
            );
        }
    }
    let crash = &report.crashes[0];
    let marker = events
        .iter()
        .find(|e| e["cat"] == "crash")
        .expect("the crash is an instant event");
    assert_eq!(
        marker["ts"].as_f64().unwrap(),
        crash.time_ns as f64 / 1000.0
    );
    assert_eq!(marker["s"], "p", "a crash is drawn across the whole node");

    // Flows: one start and one finish per id, start no later than finish, finish bound to
    // the enclosing slice; one flow per receive in the log.
    let mut starts = BTreeMap::new();
    let mut finishes = BTreeMap::new();
    for event in events {
        let id = event["id"].as_u64();
        match event["ph"].as_str() {
            Some("s") => assert!(starts.insert(id.unwrap(), event).is_none()),
            Some("f") => {
                assert_eq!(event["bp"], "e");
                assert!(finishes.insert(id.unwrap(), event).is_none());
            }
            _ => {}
        }
    }
    assert_eq!(
        starts.keys().collect::<Vec<_>>(),
        finishes.keys().collect::<Vec<_>>()
    );
    let receives = log
        .records()
        .iter()
        .filter(|r| matches!(r.kind, engine::Kind::Receive { .. }))
        .count();
    assert_eq!(starts.len(), receives);
    // Packet slices by (pid, ts bits): where flows may start and end.
    let slices: BTreeSet<(u64, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| {
            (
                e["pid"].as_u64().unwrap(),
                e["ts"].as_f64().unwrap().to_bits(),
            )
        })
        .collect();
    let on_slice = |e: &Value| {
        slices.contains(&(
            e["pid"].as_u64().unwrap(),
            e["ts"].as_f64().unwrap().to_bits(),
        ))
    };
    for (id, start) in &starts {
        let finish = finishes[id];
        assert!(start["ts"].as_f64().unwrap() <= finish["ts"].as_f64().unwrap());
        // Each flow starts and ends on a packet slice of its process at that time.
        assert!(on_slice(start), "flow {id} has no slice to start on");
        assert!(on_slice(finish), "flow {id} has no slice to end on");
    }
    // The DISCOVER pc3 broadcast reaches both routers: two flows start at its send.
    let discover_ts = log
        .records()
        .iter()
        .find(|r| {
            r.node == log.node_id("pc3").unwrap() && matches!(r.kind, engine::Kind::Send { .. })
        })
        .unwrap()
        .time_ns as f64
        / 1000.0;
    let from_pc3 = starts
        .values()
        .filter(|s| s["ts"].as_f64().unwrap() == discover_ts)
        .count();
    assert!(from_pc3 >= 2, "{from_pc3}");
}
