//! The JSON API of `pxelab serve` at its boundary: HTTP requests in, status codes and JSON out,
//! checked against the library's own runs of the same topology and seed.

use super::common;

use common::{direct_run, get, get_ok, node_index, post, shared, start, start_run, topologies_dir};
use serde_json::Value;

const KB: &str = "kb2510665.yaml";

#[test]
fn the_page_and_its_assets_are_served_with_a_strict_content_policy() {
    let addr = shared();
    let page = get_ok(addr, "/");
    assert!(
        page.body.contains("<script src=\"/app.js\""),
        "{}",
        page.body
    );
    assert!(page.body.contains(">Run<"), "the page has a Run button");
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    for (path, kind) in [("/app.js", "javascript"), ("/style.css", "css")] {
        let asset = get_ok(addr, path);
        assert!(
            asset.header("content-type").unwrap().contains(kind),
            "{path}"
        );
        assert!(asset.body.len() > 1000, "{path} is embedded, not empty");
    }
}

#[test]
fn the_script_never_parses_text_as_html() {
    // Plugin logs and packet fields reach the page only as text: no API that parses HTML.
    let script = get(shared(), "/app.js").body;
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(sink), "app.js uses {sink}");
    }
    assert!(script.contains("textContent"));
}

#[test]
fn a_run_downloads_as_a_chrome_trace() {
    let addr = shared();
    let id = start_run(addr, r#"{"topology": "kb2510665.yaml", "seed": 7}"#);
    let reply = get_ok(addr, &format!("/api/runs/{id}/trace.json"));
    assert!(
        reply
            .header("content-disposition")
            .unwrap()
            .contains(".trace.json")
    );
    let trace = reply.json();
    assert_eq!(
        trace["otherData"]["digest"],
        direct_run(KB, 7, &[]).digest.as_str()
    );
    assert!(trace["traceEvents"].as_array().unwrap().len() > 1000);
}

#[test]
fn topologies_are_listed_with_their_servers_and_the_built_in_plugins() {
    let reply = get_ok(shared(), "/api/topologies");
    let body = reply.json();
    let kb = body["topologies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["file"] == KB)
        .expect("the KB topology is listed");
    assert_eq!(kb["name"], "kb2510665");
    assert!(
        kb["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["node"] == "wds" && s["plugin"] == "wds-sccm2007"),
        "{kb}"
    );
    let plugins: Vec<&str> = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(plugins.contains(&"wds-fixed"), "{plugins:?}");
    let one = get(shared(), "/api/topologies/kb2510665.yaml").json();
    assert!(one["source"].as_str().unwrap().contains("helpers:"));
}

#[test]
fn a_run_is_the_library_run_with_packets_joined_and_the_race_marked() {
    let addr = shared();
    let id = start_run(addr, r#"{"topology": "kb2510665.yaml", "seed": 0}"#);
    assert_eq!(
        start_run(addr, r#"{"topology": "kb2510665.yaml", "seed": 0}"#),
        id,
        "equal parameters, equal id"
    );
    let reply = get_ok(addr, &format!("/api/runs/{id}"));
    let run = reply.json();
    let direct = direct_run(KB, 0, &[]);
    assert_eq!(run["summary"]["digest"], direct.digest.as_str());
    assert_eq!(run["id"], id.as_str());
    let names: Vec<&str> = run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    for node in ["pc1", "r1", "r2", "dhcp", "wds"] {
        assert!(names.contains(&node), "{names:?}");
    }
    let wds = names.iter().position(|n| *n == "wds").unwrap();
    let events = run["events"].as_array().unwrap();
    // Every receive points at a send of the same LAN, and that send lists it.
    let mut arrows = 0;
    for (index, event) in events.iter().enumerate() {
        if let Some(from) = event["from"].as_u64() {
            let send = &events[from as usize];
            assert_eq!(send["k"], "send");
            assert_eq!(send["l"], event["l"]);
            assert!(send["t"].as_u64() <= event["t"].as_u64());
            assert!(send["to"].as_array().unwrap().contains(&Value::from(index)));
            arrows += 1;
        }
    }
    assert!(arrows > 500, "{arrows} arrows");
    // The crash of WDS at 466.892 ms is a marker on its lane.
    let crash = run["markers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "crash")
        .expect("seed 0 crashes");
    assert_eq!(crash["node"], wds);
    assert_eq!(crash["time_ns"], direct.crashes[0].time_ns);
    // The two relayed copies of pc3's DISCOVER reached WDS and are linked as duplicates.
    let duplicate = run["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["label"]
                .as_str()
                .unwrap()
                .starts_with("DISCOVER xid 0xa83bcd0c at wds")
        })
        .expect("the duplicated DISCOVER");
    let giaddrs = duplicate["giaddrs"].as_array().unwrap();
    assert!(
        giaddrs.contains(&Value::from("10.1.0.2")) && giaddrs.contains(&Value::from("10.1.0.3"))
    );
    for receive in duplicate["receives"].as_array().unwrap() {
        assert!(events[receive.as_u64().unwrap() as usize]["dup"].is_u64());
    }
    // HSRP states are bands on the router lanes; WDS's device lookups are bars on its lane.
    let bands = run["bands"].as_array().unwrap();
    assert!(
        bands
            .iter()
            .any(|b| b["state"] == "Active" && b["group"].as_str().unwrap().contains("HSRP"))
    );
    // Request 2 (via r2) finished its 125.5 us lookup first and freed the client's state;
    // handling request 1's result (via r1) then crashed WDS.
    let work = run["work"].as_array().unwrap();
    let bar = |request: &str| {
        work.iter()
            .find(|w| w["node"] == wds && w["label"].as_str().unwrap().contains(request))
            .unwrap_or_else(|| panic!("no bar for {request}: {work:?}"))
    };
    let second = bar("of request 2 ");
    assert_eq!(second["outcome"], "done");
    let length_ns = second["end_ns"].as_u64().unwrap() - second["start_ns"].as_u64().unwrap();
    assert!((125_500..200_000).contains(&length_ns), "{second}");
    let first = bar("of request 1 ");
    assert_eq!(first["outcome"], "crashed");
    assert_eq!(first["end_ns"], direct.crashes[0].time_ns);
    assert!(first["start_ns"].as_u64() < second["start_ns"].as_u64());
}

#[test]
fn the_inspector_decodes_a_pxe_discover_with_its_options() {
    let addr = shared();
    let id = start_run(addr, r#"{"topology": "kb2510665.yaml", "seed": 0}"#);
    let run = get(addr, &format!("/api/runs/{id}")).json();
    let wds = node_index(&run, |n| n["name"] == "wds");
    let index = run["events"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["k"] == "receive" && e["n"] == wds && e["c"] == "discover")
        .expect("WDS receives a DISCOVER");
    let detail = get(addr, &format!("/api/runs/{id}/events/{index}")).json();
    assert_eq!(detail["node"], "wds");
    assert_eq!(detail["sent_by"], "r1");
    let send = detail["sent_event"].as_u64().unwrap();
    let sent = get(addr, &format!("/api/runs/{id}/events/{send}")).json();
    assert_eq!(sent["kind"], "send");
    assert_eq!(
        sent["received_by"],
        serde_json::json!(["wds"]),
        "r1 unicast it to WDS"
    );
    let layers = detail["packet"]["layers"].as_array().unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Ethernet II", "IPv4", "UDP", "DHCP DISCOVER"]);
    let options = layers[3]["options"].as_array().unwrap();
    let option = |code: u64| {
        options
            .iter()
            .find(|o| o["code"] == code)
            .unwrap_or_else(|| panic!("option {code}: {options:?}"))
    };
    assert!(
        option(60)["value"]
            .as_str()
            .unwrap()
            .starts_with("PXEClient")
    );
    // The KB topology's clients are x64 UEFI machines.
    assert!(option(93)["value"].as_str().unwrap().starts_with("7 "));
    assert!(option(97)["value"].as_str().unwrap().contains("GUID"));
    let fields = layers[3]["fields"].as_array().unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f[0] == "Relay agent (giaddr)" && f[1] == "10.1.0.2")
    );
    let hex = detail["packet"]["hex"].as_str().unwrap();
    assert_eq!(
        hex.split(' ').count() as u64,
        detail["packet"]["bytes"].as_u64().unwrap()
    );
}

#[test]
fn compare_finds_the_first_divergent_event() {
    let addr = shared();
    let baseline = start_run(addr, r#"{"topology": "kb2510665.yaml", "seed": 0}"#);
    let fixed = start_run(
        addr,
        r#"{"topology": "kb2510665.yaml", "seed": 0, "plugins": {"wds": "wds-fixed"}}"#,
    );
    assert_ne!(baseline, fixed);
    let diff = get(addr, &format!("/api/compare?a={baseline}&b={fixed}")).json();
    assert_eq!(diff["identical"], false);
    let index = diff["first_divergence"]["a"]["index"].as_u64().unwrap() as usize;
    assert_eq!(diff["first_divergence"]["b"]["index"], index);
    let a = get(addr, &format!("/api/runs/{baseline}")).json();
    let b = get(addr, &format!("/api/runs/{fixed}")).json();
    let line = |run: &Value, i: usize| run["events"][i]["x"].clone();
    for i in 0..index {
        assert_eq!(
            line(&a, i),
            line(&b, i),
            "event {i} is before the divergence"
        );
    }
    assert_ne!(
        (&a["events"][index]["x"], &a["events"][index]["t"]),
        (&b["events"][index]["x"], &b["events"][index]["t"])
    );
    assert!(
        b["markers"].as_array().unwrap().is_empty(),
        "the fixed server does not crash"
    );
    // Leaving the plugins' logs aside, the runs part during the race: after pc3's DISCOVER
    // reached WDS twice (465.8 ms) and no later than the crash (466.962 ms).
    let behaviour = &diff["first_behaviour_divergence"];
    let (at_a, at_b) = (
        behaviour["a"]["index"].as_u64().unwrap() as usize,
        behaviour["b"]["index"].as_u64().unwrap() as usize,
    );
    let acts = |run: &Value, end: usize| -> Vec<(Value, Value)> {
        run["events"].as_array().unwrap()[..end]
            .iter()
            .filter(|e| e["k"] != "log" && e["k"] != "windows-event")
            .map(|e| (e["t"].clone(), e["x"].clone()))
            .collect()
    };
    assert_eq!(acts(&a, at_a), acts(&b, at_b), "equal behaviour before it");
    assert_ne!(
        (&a["events"][at_a]["t"], &a["events"][at_a]["x"]),
        (&b["events"][at_b]["t"], &b["events"][at_b]["x"])
    );
    let time_ns = behaviour["a"]["t"]
        .as_u64()
        .unwrap()
        .min(behaviour["b"]["t"].as_u64().unwrap());
    assert!(
        (465_800_000..=466_962_000).contains(&time_ns),
        "{behaviour}"
    );
    let same = get(addr, &format!("/api/compare?a={baseline}&b={baseline}")).json();
    assert_eq!(same["identical"], true);
}

#[test]
fn a_sweep_streams_progress_and_totals_that_match_the_library() {
    let addr = shared();
    let reply = get_ok(addr, "/api/sweep?topology=kb2510665.yaml&seeds=0..8");
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut progress = 0;
    let mut done = None;
    let mut event = "";
    for line in reply.body.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name;
        } else if let Some(data) = line.strip_prefix("data: ") {
            match event {
                "progress" => progress += 1,
                "done" => done = Some(serde_json::from_str::<Value>(data).unwrap()),
                other => panic!("unexpected event {other}: {data}"),
            }
        }
    }
    assert_eq!(progress, 8);
    let done = done.expect("a done event");
    let crashed: Vec<u64> = (0..8)
        .filter(|seed| !direct_run(KB, *seed, &[]).crashes.is_empty())
        .collect();
    assert_eq!(done["crashed_seeds"], serde_json::json!(crashed));
    assert!(crashed.contains(&0) && !crashed.contains(&7));
    assert_eq!(done["runs"], 8);
    assert_eq!(done["crash_rate"], crashed.len() as f64 / 8.0);
}

/// The events of a server-sent event stream: (event name, data as JSON).
fn sse_events(body: &str) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let mut event = "";
    for line in body.lines() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name;
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((event.to_string(), serde_json::from_str(data).unwrap()));
        }
    }
    events
}

#[test]
fn the_web_sweep_is_the_library_sweep_for_every_shipped_topology() {
    let addr = shared();
    let seeds = 0..40;
    let services = lab::Services::with_cache_dir(Some(common::cache_dir())).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(topologies_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in &files {
        let reply = get_ok(addr, &format!("/api/sweep?topology={file}&seeds=0..40"));
        let events = sse_events(&reply.body);
        let progress = events.iter().filter(|(name, _)| name == "progress").count();
        assert_eq!(progress, 40, "{file}");
        let (name, mut done) = events.last().cloned().unwrap();
        assert_eq!(name, "done", "{file}: {done}");

        let plan = topology::load(&topologies_dir().join(file)).unwrap();
        let result = lab::sweep(&plan, seeds.clone(), 2, &services).unwrap();
        let checks = lab::sweep_checks(&plan.expect, &result);
        let verdict = checks.iter().all(|check| check.passed);
        assert_eq!(done["passed"], verdict, "{file}: {done}");
        assert_eq!(done["crash_rate"], result.crash_rate(), "{file}");
        assert_eq!(
            done["failing_seeds"],
            serde_json::json!(result.failing_seeds),
            "{file}"
        );
        let crashed: Vec<u64> = result.first_crashes.iter().map(|&(seed, _)| seed).collect();
        assert_eq!(done["crashed_seeds"], serde_json::json!(crashed), "{file}");
        // The rest of the report too: it is the library's, field for field.
        done.as_object_mut().unwrap().remove("crashed_seeds");
        let report = lab::sweep_report(&plan, file, &seeds, None, &result);
        assert_eq!(done, serde_json::to_value(report).unwrap(), "{file}");
    }
}

#[test]
fn next_crash_returns_the_smallest_crashing_seed_above_the_given_one() {
    let addr = shared();
    let expected = (6..)
        .find(|seed| !direct_run(KB, *seed, &[]).crashes.is_empty())
        .unwrap();
    let reply = get_ok(addr, "/api/next-crash?topology=kb2510665.yaml&after=5");
    assert_eq!(reply.json()["seed"], expected);
    let none = get(
        addr,
        "/api/next-crash?topology=kb2510665.yaml&plugins=wds=wds-fixed&limit=4",
    );
    assert_eq!(none.status, 404);
    assert!(
        none.json()["error"]
            .as_str()
            .unwrap()
            .contains("no seed in 0..4")
    );
}

/// Asserts a JSON error with `status` whose message contains `needle`.
fn refused(reply: common::Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .contains("application/json")
    );
    let message = reply.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains(needle), "`{message}` lacks `{needle}`");
}

#[test]
fn bad_requests_get_a_json_error_that_says_what_is_wrong() {
    let addr = shared();
    refused(post(addr, "/api/runs", "{"), 400, "bad JSON body");
    refused(
        post(addr, "/api/runs", r#"{"topology": "kb2510665.yaml"}"#),
        422,
        "seed",
    );
    refused(
        post(
            addr,
            "/api/runs",
            r#"{"topology": "kb2510665.yaml", "seed": -1}"#,
        ),
        422,
        "seed",
    );
    refused(
        post(addr, "/api/runs", r#"{"topology": "nope.yaml", "seed": 0}"#),
        404,
        "no topology `nope.yaml`",
    );
    refused(
        post(
            addr,
            "/api/runs",
            r#"{"topology": "kb2510665.yaml", "seed": 0, "plugins": {"wds": "evil.wasm"}}"#,
        ),
        400,
        "unknown plugin `evil.wasm`",
    );
    refused(
        post(
            addr,
            "/api/runs",
            r#"{"topology": "kb2510665.yaml", "seed": 0, "plugins": {"pc1": "wds-fixed"}}"#,
        ),
        400,
        "no server node `pc1`",
    );
    refused(get(addr, "/api/runs/0123456789abcdef"), 404, "no run");
    refused(get(addr, "/api/runs/xyz"), 400, "not a run id");
    refused(
        get(
            addr,
            "/api/sweep?topology=kb2510665.yaml&seeds=0..100000000",
        ),
        400,
        "more than",
    );
    refused(
        get(addr, "/api/sweep?topology=kb2510665.yaml&seeds=5..5"),
        400,
        "empty",
    );
    refused(
        get(addr, "/api/sweep?topology=kb2510665.yaml&seeds=a..b"),
        400,
        "not a range",
    );
    refused(
        get(addr, "/api/sweep?topology=kb2510665.yaml"),
        400,
        "seeds",
    );
    refused(get(addr, "/api/compare?a=1"), 400, "bad query");
    refused(get(addr, "/api/nothing"), 404, "/api/nothing");
    refused(request_delete(addr), 405, "/api/runs");
    let id = start_run(addr, r#"{"topology": "kb2510665.yaml", "seed": 7}"#);
    refused(
        get(addr, &format!("/api/runs/{id}/events/99999999")),
        404,
        "no event 99999999",
    );
    refused(
        get(addr, &format!("/api/runs/{id}/events/x")),
        400,
        "not an event number",
    );
}

fn request_delete(addr: std::net::SocketAddr) -> common::Reply {
    common::request(addr, "DELETE", "/api/runs", None)
}

#[test]
fn paths_outside_the_topologies_and_runs_folders_are_refused() {
    let addr = shared();
    for path in [
        "/api/topologies/..%2F..%2Fetc%2Fpasswd",
        "/api/topologies/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/topologies/%2e%2e",
        "/api/topologies/..%5c..%5cCargo.toml",
        "/api/topologies/.hidden.yaml",
        "/api/topologies/%2Fetc%2Fpasswd",
    ] {
        let reply = get(addr, path);
        assert!(
            reply.status == 400,
            "{path}: {} {}",
            reply.status,
            reply.body
        );
        assert!(
            reply.json()["error"]
                .as_str()
                .unwrap()
                .contains("not a topology name")
        );
        assert!(!reply.body.contains("root:"), "{path} leaked a file");
    }
    // Unencoded dot segments never reach a handler outside the API.
    for path in [
        "/api/topologies/../../etc/passwd",
        "/../../etc/passwd",
        "/api/runs/..%2F..%2Fetc%2Fpasswd",
    ] {
        let reply = get(addr, path);
        assert!(
            matches!(reply.status, 400 | 404),
            "{path}: {}",
            reply.status
        );
        assert!(!reply.body.contains("root:"), "{path} leaked a file");
    }
    for topology in [
        "../../etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "/etc/passwd",
        "../Cargo.toml",
    ] {
        let body = serde_json::json!({"topology": topology, "seed": 0}).to_string();
        refused(post(addr, "/api/runs", &body), 400, "not a topology name");
        let sweep = get(addr, &format!("/api/sweep?topology={topology}&seeds=0..1"));
        assert_eq!(sweep.status, 400, "{topology}");
    }
}

#[test]
fn a_symlink_out_of_the_topologies_folder_is_not_followed() {
    let dir = std::env::temp_dir().join(format!("pxelab-web-links-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let outside = dir.join("outside.yaml");
    std::fs::copy(topologies_dir().join(KB), &outside).unwrap();
    let folder = dir.join("topologies");
    std::fs::create_dir_all(&folder).unwrap();
    let link = folder.join("escape.yaml");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let addr = start(&folder, None);
    let reply = get(addr, "/api/topologies/escape.yaml");
    assert_eq!(reply.status, 404, "{}", reply.body);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn runs_saved_in_the_runs_folder_survive_a_restart() {
    let runs = std::env::temp_dir().join(format!("pxelab-web-runs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&runs);
    let first = start(&topologies_dir(), Some(runs.clone()));
    let id = start_run(first, r#"{"topology": "kb2510665.yaml", "seed": 7}"#);
    assert!(runs.join(format!("{id}.json")).is_file());
    let second = start(&topologies_dir(), Some(runs.clone()));
    let listed = get(second, "/api/runs").json();
    assert!(
        listed["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str())
    );
    let run = get(second, &format!("/api/runs/{id}")).json();
    assert_eq!(
        run["summary"]["digest"],
        direct_run(KB, 7, &[]).digest.as_str()
    );
    std::fs::remove_dir_all(&runs).unwrap();
}

#[test]
fn crashes_and_the_restart_that_recovers_are_markers() {
    let addr = shared();
    let id = start_run(
        addr,
        r#"{"topology": "kb2510665-recovery.yaml", "seed": 0}"#,
    );
    let run = get(addr, &format!("/api/runs/{id}")).json();
    let wds = node_index(&run, |n| n["name"] == "wds");
    let markers = run["markers"].as_array().unwrap();
    let plan = topology::load(&topologies_dir().join("kb2510665-recovery.yaml")).unwrap();
    let services = lab::Services::with_cache_dir(Some(common::cache_dir())).unwrap();
    let world = lab::run(&plan, 0, &services).unwrap();
    let report = world.report();
    let crashes: Vec<u64> = markers
        .iter()
        .filter(|m| m["kind"] == "crash")
        .map(|m| m["time_ns"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = report.crashes.iter().map(|c| c.time_ns).collect();
    assert_eq!(crashes, expected);
    // The service comes back once, after the administrator restarted WMI and then WDS.
    let log = world.log();
    let last_crash = *expected.last().unwrap();
    let back = log
        .records()
        .iter()
        .find(|r| {
            r.node.index() == wds
                && r.time_ns > last_crash
                && matches!(
                    &r.kind,
                    engine::Kind::Service(engine::ServiceEvent::Running { .. })
                )
        })
        .expect("WDS runs again");
    let restarts: Vec<&Value> = markers.iter().filter(|m| m["kind"] == "restart").collect();
    assert_eq!(restarts.len(), 1, "{markers:?}");
    assert_eq!(restarts[0]["node"], wds);
    assert_eq!(restarts[0]["time_ns"], back.time_ns);
}

#[test]
fn every_kind_of_frame_decodes_to_its_protocol_layer() {
    let addr = shared();
    let mut seen = std::collections::BTreeMap::new();
    for (topology, seed) in [("kb2510665.yaml", 7), ("vrrp-three-routers.yaml", 0)] {
        let body = serde_json::json!({"topology": topology, "seed": seed}).to_string();
        let id = start_run(addr, &body);
        let run = get(addr, &format!("/api/runs/{id}")).json();
        for (index, event) in run["events"].as_array().unwrap().iter().enumerate() {
            let Some(class) = event["c"].as_str() else {
                continue;
            };
            if event["k"] != "send" || seen.contains_key(class) {
                continue;
            }
            let detail = get(addr, &format!("/api/runs/{id}/events/{index}")).json();
            seen.insert(class.to_string(), detail);
        }
    }
    let top = |class: &str| -> Value {
        let detail = seen
            .get(class)
            .unwrap_or_else(|| panic!("no {class} frame: {:?}", seen.keys()));
        let layers = detail["packet"]["layers"].as_array().unwrap();
        for layer in layers {
            assert!(layer.get("error").is_none(), "{class}: {layer}");
        }
        layers.last().unwrap().clone()
    };
    let field = |layer: &Value, name: &str| -> String {
        layer["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f[0] == name)
            .unwrap_or_else(|| panic!("no {name} in {layer}"))[1]
            .as_str()
            .unwrap()
            .to_string()
    };
    for class in ["discover", "offer", "request", "ack"] {
        let layer = top(class);
        assert_eq!(layer["name"], format!("DHCP {}", class.to_uppercase()));
    }
    let proxy = top("proxy");
    assert!(
        proxy["name"].as_str().unwrap().starts_with("DHCP "),
        "{proxy}"
    );
    let tftp = top("tftp");
    assert_eq!(tftp["name"], "TFTP");
    assert!(
        field(&tftp, "Opcode").starts_with("RRQ"),
        "the first TFTP frame asks for a file"
    );
    let hsrp = top("hsrp");
    assert_eq!(hsrp["name"], "HSRP");
    assert!(["10.1.0.1", "10.2.0.1"].contains(&field(&hsrp, "Virtual IP").as_str()));
    let vrrp = top("vrrp");
    assert_eq!(vrrp["name"], "VRRP");
    assert_eq!(field(&vrrp, "Version"), "3");
}

/// A live run recorded against real dnsmasq (`tests/records/README.md` says how it was made).
pub fn live_record() -> std::path::PathBuf {
    crate::common::repo_path("tests/records/live-dnsmasq")
}

#[test]
fn a_recorded_live_run_opens_as_a_run_with_its_real_machine_on_a_lane_of_its_own() {
    let record = live_record();
    let addr = common::start_with_records(&topologies_dir(), None, vec![record.clone()]);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(record.join("manifest.json")).unwrap())
            .unwrap();
    let live: Value =
        serde_json::from_str(&std::fs::read_to_string(record.join("live.json")).unwrap()).unwrap();

    let listed = get_ok(addr, "/api/records").json();
    let records = listed["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{listed}");
    assert_eq!(records[0]["name"], "live-dnsmasq");
    assert_eq!(records[0]["live"], true);
    assert_eq!(records[0]["digest"], manifest["digest"]);
    assert_eq!(records[0]["topology"], "real-dhcp-server");

    // Opening it replays it on the server, with no TAP and no dnsmasq: the recorded run.
    let opened = post(addr, "/api/records/live-dnsmasq", "");
    assert_eq!(opened.status, 201, "{}", opened.body);
    let opened = opened.json();
    assert_eq!(opened["record"]["matches"], true, "{opened}");
    assert_eq!(opened["record"]["live"], true);
    assert_eq!(opened["summary"]["digest"], manifest["digest"]);
    assert!(
        opened["summary"]["replay"]
            .as_str()
            .unwrap()
            .starts_with("pxelab replay "),
        "{opened}"
    );
    let id = opened["id"].as_str().unwrap().to_string();
    let again = post(addr, "/api/records/live-dnsmasq", "").json();
    assert_eq!(again["id"], opened["id"], "the same record is the same run");

    let view = get_ok(addr, &format!("/api/runs/{id}")).json();
    assert_eq!(view["record"]["name"], "live-dnsmasq");
    let nodes = view["nodes"].as_array().unwrap();
    let real: Vec<(usize, &Value)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node["kind"] == "real")
        .collect();
    assert_eq!(real.len(), 1, "one real node, the bridge: {nodes:?}");
    let (real_index, bridge) = real[0];
    assert_eq!(bridge["name"], "real@servers");
    assert_eq!(bridge["lan"], "servers");
    assert_eq!(bridge["tap"], "pxe0");
    let hosts: Vec<&str> = bridge["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|host| host.as_str().unwrap())
        .collect();
    assert!(
        hosts.len() == 1 && hosts[0].starts_with("10.2.0.10 ("),
        "dnsmasq's address and MAC: {hosts:?}"
    );
    for (index, node) in nodes.iter().enumerate() {
        assert!(
            index == real_index || node["kind"] != "real",
            "only the bridge is real: {node}"
        );
    }

    // Every frame that came in from dnsmasq is a send on the real lane, at its recorded time.
    let events = view["events"].as_array().unwrap();
    let on_real = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|event| event["n"] == real_index && event["k"] == kind)
            .collect()
    };
    let injected = live["injected"].as_array().unwrap();
    let sends = on_real("send");
    assert_eq!(
        sends.len(),
        injected.len(),
        "one send per frame from the TAP"
    );
    for (send, frame) in sends.iter().zip(injected) {
        assert_eq!(send["t"], frame["time_ns"]);
    }
    assert!(
        on_real("receive")
            .iter()
            .any(|event| event["c"] == "discover"),
        "the DISCOVERs the relays sent to dnsmasq arrive on the real lane"
    );

    // The two relayed copies of each client's DISCOVER to dnsmasq are joined, as the copies to
    // a simulated server are.
    let duplicates = view["duplicates"].as_array().unwrap();
    let to_real: Vec<&Value> = duplicates
        .iter()
        .filter(|group| {
            group["receives"]
                .as_array()
                .unwrap()
                .iter()
                .all(|receive| events[receive.as_u64().unwrap() as usize]["n"] == real_index)
        })
        .collect();
    let clients = view["summary"]["clients"].as_array().unwrap().len();
    let discovers = to_real
        .iter()
        .filter(|group| group["label"].as_str().unwrap().starts_with("DISCOVER"))
        .count();
    assert!(
        discovers >= clients,
        "{discovers} DISCOVER groups at the real server for {clients} clients: {duplicates:?}"
    );
    for group in &to_real {
        let mut giaddrs: Vec<&str> = group["giaddrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        giaddrs.sort_unstable();
        assert_eq!(giaddrs, ["10.1.0.2", "10.1.0.3"], "{group}");
    }

    // The trace downloads from the replayed record too; the run is listed.
    let trace = get_ok(addr, &format!("/api/runs/{id}/trace.json")).json();
    assert!(
        trace["traceEvents"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    let runs = get_ok(addr, "/api/runs").json();
    assert!(
        runs["runs"].as_array().unwrap().iter().any(
            |run| run["id"] == id.as_str() && run["params"]["record"]["name"] == "live-dnsmasq"
        ),
        "{runs}"
    );

    // A record the server does not serve, and a server that serves none.
    let missing = post(addr, "/api/records/nope", "");
    assert_eq!(missing.status, 404);
    assert!(
        missing.json()["error"]
            .as_str()
            .unwrap()
            .contains("live-dnsmasq")
    );
    let none = post(shared(), "/api/records/live-dnsmasq", "");
    assert_eq!(none.status, 404);
    assert!(none.json()["error"].as_str().unwrap().contains("--record"));
    assert_eq!(
        get_ok(shared(), "/api/records").json()["records"],
        serde_json::json!([])
    );
}

#[test]
fn a_folder_that_is_not_a_run_record_is_refused_at_start() {
    let dir = crate::common::scratch_dir("web-not-a-record");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = |records: Vec<std::path::PathBuf>| {
        let options = web::Options {
            addr: "127.0.0.1:0".parse().unwrap(),
            topologies_dir: topologies_dir(),
            runs_dir: None,
            cache_dir: Some(common::cache_dir()),
            records,
        };
        match runtime.block_on(web::bind(options)) {
            Ok(_) => String::from("started"),
            Err(error) => error.to_string(),
        }
    };
    let refused = start(vec![dir.clone()]);
    assert!(
        refused.contains("cannot serve the record") && refused.contains("manifest.json"),
        "{refused}"
    );
    let twice = start(vec![live_record(), live_record()]);
    assert!(
        twice.contains("records are named by their folder"),
        "{twice}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
