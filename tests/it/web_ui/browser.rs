//! The UI in a real browser: Debian's headless `chromium`, driven over the Chrome DevTools
//! Protocol, against `pxelab serve` started in-process. It loads the KB race by URL, checks the
//! lanes and arrows, clicks a packet with a real mouse event and reads the inspector, finds the
//! crash marker, writes the screenshot the README shows, and finds the next crashing seed.
//!
//! Without a chromium binary the test says it skipped the suite and passes; under CI
//! (`PXELAB_REQUIRE_TOOLS`, which `.ci/run` sets after installing chromium) it fails instead.

use super::common;
use crate::tools;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

const SCREENSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/images/kb2510665-timeline.png"
);

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PXELAB_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    tools::find("chromium", "chromium", "the browser suite")
}

/// The browser process and its profile folder, both gone when this is dropped.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A CDP connection to the browser, attached to one page (flat sessions).
struct Cdp {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    session: Option<String>,
}

impl Cdp {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        loop {
            let reply = self
                .socket
                .read()
                .unwrap_or_else(|e| panic!("{method}: {e}"));
            let Message::Text(text) = reply else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    panic!("{method} failed: {error}");
                }
                return value["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page and returns its value (awaiting promises).
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy, up to `timeout`.
    fn wait_for(&mut self, expression: &str, timeout: Duration, what: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression);
            if !(value.is_null() || value == false || value == "") {
                return value;
            }
            if Instant::now() > deadline {
                let status = self.eval("document.getElementById('status').textContent");
                panic!("timed out waiting for {what}; page status: {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls until the text of the element `id` (its `property`, `textContent` or `innerText`)
    /// includes `needle`, up to `timeout`, and returns that text.
    fn wait_for_text(
        &mut self,
        (id, property): (&str, &str),
        needle: &str,
        timeout: Duration,
        what: &str,
    ) -> Value {
        self.wait_for(
            &format!(
                "(() => {{ const t = document.getElementById('{id}').{property}; \
                 return t.includes('{needle}') ? t : null; }})()"
            ),
            timeout,
            what,
        )
    }

    /// Opens the page of the server at `addr` with the URL query `query`.
    fn open(&mut self, addr: std::net::SocketAddr, query: &str) {
        let url = format!("http://{addr}/?{query}");
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            Duration::from_secs(30),
            "the page to load",
        );
    }

    /// Clicks, with a real mouse event, the arrow of the first event `predicate` (a JavaScript
    /// function of the event and its index) picks, then waits for the inspector to show
    /// `needle`; returns the arrow's point (`x`, `y`, `event`) and what the inspector shows.
    fn inspect_arrow(&mut self, predicate: &str, needle: &str, what: &str) -> (Value, String) {
        let point = self.eval(&format!(
            "JSON.stringify(window.pxelabView.arrowPoint({predicate}))"
        ));
        let point: Value = serde_json::from_str(
            point
                .as_str()
                .unwrap_or_else(|| panic!("the arrow of {what} is on screen")),
        )
        .unwrap();
        self.click(point["x"].as_f64().unwrap(), point["y"].as_f64().unwrap());
        let inspector = self.wait_for_text(
            ("inspector-body", "innerText"),
            needle,
            Duration::from_secs(30),
            &format!("the inspector to show {what}"),
        );
        (point, inspector.as_str().unwrap().to_string())
    }

    /// A PNG of the page with the mouse off the canvas (so no tooltip covers it), written to
    /// `path`.
    fn screenshot(&mut self, path: &Path) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": 5, "y": 5}),
        );
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        lab::write_atomically(path, &png).unwrap();
    }

    fn click(&mut self, x: f64, y: f64) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        );
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1}),
            );
        }
    }
}

/// The KB tests' server and a browser of its own (profile `name`) attached to a page; `None`,
/// after saying why, without chromium.
fn browse(name: &str) -> Option<(std::net::SocketAddr, Browser, Cdp)> {
    let chromium = find_chromium()?;
    let addr = server();
    let (browser, cdp) = launch(&chromium, name);
    Some((addr, browser, cdp))
}

fn launch(chromium: &Path, name: &str) -> (Browser, Cdp) {
    let profile = crate::common::scratch_dir(&format!("web-chromium-{name}"));
    let child = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--mute-audio",
            "--remote-debugging-port=0",
            "--window-size=1600,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    let browser = Browser { child, profile };
    // Chromium writes its port and browser target path here once it listens.
    let active = browser.profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (port, path) = loop {
        if let Ok(text) = std::fs::read_to_string(&active) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                break (port.trim().to_string(), path.trim().to_string());
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromium did not open its DevTools port"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let (socket, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream)
        .unwrap_or_else(|e| panic!("DevTools handshake: {e}"));
    let mut cdp = Cdp {
        socket,
        next_id: 0,
        session: None,
    };
    let target = cdp.call("Target.createTarget", json!({"url": "about:blank"}));
    let attached = cdp.call(
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    cdp.session = Some(attached["sessionId"].as_str().unwrap().to_string());
    cdp.call("Page.enable", json!({}));
    cdp.call("Runtime.enable", json!({}));
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
    );
    (browser, cdp)
}

/// Waits until the timeline shows run `seed`, returning `window.pxelabView` as JSON.
fn wait_for_run(cdp: &mut Cdp, seed: u64) -> Value {
    cdp.wait_for(
        &format!(
            "window.pxelabView && window.pxelabView.ready && \
             document.getElementById('summary').textContent.includes('seed {seed}:') && \
             JSON.stringify(window.pxelabView)"
        ),
        Duration::from_secs(180),
        &format!("the timeline of seed {seed}"),
    );
    let text = cdp.eval("JSON.stringify(window.pxelabView)");
    serde_json::from_str(text.as_str().unwrap()).unwrap()
}

/// The server of the KB tests, started from the workspace root with `topologies` as its
/// folder, as `pxelab serve` is run from a checkout: the page (and so the screenshot) shows the
/// replay command a reader would type. Every other path in these tests is absolute.
fn server() -> std::net::SocketAddr {
    static ADDR: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();
    *ADDR.get_or_init(|| {
        std::env::set_current_dir(crate::common::repo_path("")).unwrap();
        common::start(Path::new("topologies"), None)
    })
}

#[test]
fn the_kb_race_in_a_browser() {
    let Some((addr, _browser, mut cdp)) = browse("race") else {
        return;
    };

    // The race, zoomed on pc3's DISCOVER at 465 ms, by URL alone.
    cdp.open(
        addr,
        "topology=kb2510665.yaml&seed=0&t0=465000000&t1=467700000",
    );
    let view = wait_for_run(&mut cdp, 0);
    let lanes: Vec<&str> = view["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        lanes,
        ["pc1", "pc2", "pc3", "r1", "r2", "dhcp", "wds"],
        "clients, routers, servers"
    );
    assert_eq!(view["t0"], 465_000_000.0, "the URL's zoom is applied");
    assert!(view["arrowsDrawn"].as_u64().unwrap() >= 12, "{view}");
    assert!(view["duplicates"].as_u64().unwrap() >= 1, "{view}");
    let lanes_attribute = cdp.eval("document.getElementById('timeline').dataset.lanes");
    assert_eq!(lanes_attribute, "7");

    // Click the DISCOVER that r1 relayed to WDS, with a real mouse event.
    let (point, inspector) = cdp.inspect_arrow(
        "(e) => e.c === 'discover' && \
         window.pxelabView.lanes.indexOf('wds') >= 0 && e.k === 'receive' && \
         document.getElementById('summary') && e.x.includes('10.2.0.20:67') && e.x.includes('giaddr 10.1.0.2')",
        "Option 60",
        "the DISCOVER r1 relayed to WDS",
    );
    for needle in [
        "DHCP DISCOVER",
        "Option 60",
        "PXEClient",
        "Option 93",
        "Relay agent (giaddr)",
        "10.1.0.2",
        "Raw bytes",
        "sent by",
    ] {
        assert!(
            inspector.contains(needle),
            "inspector lacks `{needle}`:\n{inspector}"
        );
    }
    let selected = cdp.eval("window.pxelabView.selected");
    assert_eq!(
        selected, point["event"],
        "the click selected the arrow under the mouse"
    );

    // The crash marker of WDS is on screen; clicking it shows the crash.
    let markers = cdp.eval("JSON.stringify(window.pxelabView.markers)");
    let markers: Value = serde_json::from_str(markers.as_str().unwrap()).unwrap();
    let crash = markers
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "crash" && m["node"] == "wds")
        .unwrap_or_else(|| panic!("no crash marker on the wds lane: {markers}"));
    let rect = canvas_rect(&mut cdp);
    let (x, y) = (
        rect["x"].as_f64().unwrap() + crash["x"].as_f64().unwrap(),
        rect["y"].as_f64().unwrap() + crash["y"].as_f64().unwrap(),
    );
    cdp.click(x, y);
    let crash_text = cdp.wait_for_text(
        ("inspector-body", "innerText"),
        "CRASH",
        Duration::from_secs(30),
        "the inspector to show the crash",
    );
    assert!(
        crash_text.as_str().unwrap().contains("0xc0000374"),
        "{crash_text}"
    );

    // Back to the DISCOVER for the picture: the race, the crash and the decoded packet.
    cdp.click(point["x"].as_f64().unwrap(), point["y"].as_f64().unwrap());
    cdp.wait_for(
        "document.getElementById('inspector-body').innerText.includes('Option 60')",
        Duration::from_secs(30),
        "the inspector to show the packet again",
    );
    cdp.screenshot(Path::new(SCREENSHOT));

    // "Next crashing seed" from seed 7 (where everything boots) finds the same seed the API
    // finds, and opens its timeline with a crash marker.
    cdp.open(addr, "topology=kb2510665.yaml&seed=7");
    let seven = wait_for_run(&mut cdp, 7);
    assert!(
        seven["markers"].as_array().unwrap().is_empty(),
        "seed 7 does not crash: {seven}"
    );
    let expected =
        common::get(addr, "/api/next-crash?topology=kb2510665.yaml&after=7").json()["seed"]
            .as_u64()
            .unwrap();
    cdp.eval("document.getElementById('next-crash').click()");
    let found = wait_for_run(&mut cdp, expected);
    assert!(
        found["markers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "crash"),
        "the crash marker of seed {expected} is in view: {found}"
    );
    let url = cdp.eval("location.search");
    assert!(
        url.as_str().unwrap().contains(&format!("seed={expected}")),
        "{url}"
    );
    println!(
        "browser suite: KB seed 0 drawn in {:.1} ms ({} events); screenshot {}",
        view["renderMs"].as_f64().unwrap(),
        view["events"],
        SCREENSHOT
    );
}

/// Polls `expression` (a JSON string in the page) and parses it.
/// Where the timeline canvas is on the page: `{x, y, width, height}`.
fn canvas_rect(cdp: &mut Cdp) -> Value {
    let text = cdp.eval("JSON.stringify(window.pxelabView.canvasRect())");
    serde_json::from_str(text.as_str().unwrap()).unwrap()
}

fn json_of(cdp: &mut Cdp, expression: &str, what: &str) -> Value {
    let text = cdp.wait_for(expression, Duration::from_secs(180), what);
    serde_json::from_str(text.as_str().unwrap()).unwrap()
}

#[test]
fn sweep_and_compare_views_in_a_browser() {
    let Some((addr, _browser, mut cdp)) = browse("views") else {
        return;
    };

    // A sweep by URL: one cell per seed, coloured by outcome, and the crash rate.
    cdp.open(addr, "topology=kb2510665.yaml&seed=0&view=sweep&seeds=0..8");
    let summary = cdp.wait_for_text(
        ("sweep-summary", "textContent"),
        "crash rate",
        Duration::from_secs(180),
        "the sweep to finish",
    );
    let cells = json_of(
        &mut cdp,
        "JSON.stringify([...document.querySelectorAll('#sweep-grid button')]\
         .map((b) => [Number(b.dataset.seed), b.className]))",
        "the sweep cells",
    );
    let cells = cells.as_array().unwrap();
    assert_eq!(cells.len(), 8);
    for (position, cell) in cells.iter().enumerate() {
        let seed = cell[0].as_u64().unwrap();
        assert_eq!(seed, position as u64, "cells in seed order");
        let report = common::direct_run("kb2510665.yaml", seed, &[]);
        let expected = if !report.crashes.is_empty() {
            "crashed"
        } else if !report.all_booted() {
            "failed"
        } else {
            "booted"
        };
        assert_eq!(cell[1], expected, "seed {seed}");
    }
    let crashed = cells.iter().filter(|c| c[1] == "crashed").count();
    let rate = format!("crash rate {:.1}%", 100.0 * crashed as f64 / 8.0);
    assert!(
        summary.as_str().unwrap().contains(&rate),
        "{summary} lacks {rate}"
    );
    // Clicking seed 7's cell opens its timeline.
    cdp.eval("document.querySelector('#sweep-grid button[data-seed=\"7\"]').click()");
    let seven = wait_for_run(&mut cdp, 7);
    assert_eq!(seven["lanes"].as_array().unwrap().len(), 7);

    // Compare seed 0 with the fixed WDS: two timelines and the first difference marked.
    cdp.open(
        addr,
        "topology=kb2510665.yaml&seed=0&view=compare&with=wds%3Dwds-fixed",
    );
    let text = cdp.wait_for_text(
        ("compare-summary", "textContent"),
        "First difference",
        Duration::from_secs(180),
        "the comparison",
    );
    let a = common::post(
        addr,
        "/api/runs",
        r#"{"topology": "kb2510665.yaml", "seed": 0}"#,
    );
    let b = common::post(
        addr,
        "/api/runs",
        r#"{"topology": "kb2510665.yaml", "seed": 0, "plugins": {"wds": "wds-fixed"}}"#,
    );
    let diff = common::get(
        addr,
        &format!(
            "/api/compare?a={}&b={}",
            a.json()["id"].as_str().unwrap(),
            b.json()["id"].as_str().unwrap()
        ),
    )
    .json();
    let index = diff["first_behaviour_divergence"]["a"]["index"]
        .as_u64()
        .unwrap();
    assert!(
        text.as_str().unwrap().contains(&format!("event #{index}")),
        "{text} names event {index}"
    );
    let titles = cdp.eval(
        "document.getElementById('compare-a-title').textContent + ' | ' + \
         document.getElementById('compare-b-title').textContent",
    );
    let titles = titles.as_str().unwrap();
    assert!(
        titles.contains("as in the topology") && titles.contains("wds=wds-fixed"),
        "{titles}"
    );
    assert!(
        titles.contains("0 crash(es)"),
        "the fixed server does not crash: {titles}"
    );
}

#[test]
fn ten_thousand_events_stay_interactive() {
    let Some(chromium) = find_chromium() else {
        return;
    };
    // The KB network with eighty clients instead of three: well over 10,000 log records.
    let dir = crate::common::scratch_dir("web-big");
    let source = crate::common::topology_text("kb2510665.yaml");
    assert!(source.contains("count: 3"));
    std::fs::write(
        dir.join("big.yaml"),
        source.replace("count: 3", "count: 80"),
    )
    .unwrap();
    let addr = common::start(&dir, None);
    let (_browser, mut cdp) = launch(&chromium, "big");
    // The whole run at once: every arrow of 600 simulated seconds is in view.
    cdp.open(addr, "topology=big.yaml&seed=0&t0=0&t1=600000000000");
    let view = wait_for_run(&mut cdp, 0);
    let events = view["events"].as_u64().unwrap();
    assert!(events >= 10_000, "{events} events");
    assert_eq!(
        view["arrowsVisible"], view["arrowsTotal"],
        "the whole run is in view"
    );
    assert!(view["arrowsDrawn"].as_u64().unwrap() > 0);
    // Zoom in step by step with the wheel, the way a reader would, and record each frame.
    let rect = canvas_rect(&mut cdp);
    let (x, y) = (
        rect["x"].as_f64().unwrap() + rect["width"].as_f64().unwrap() * 0.3,
        rect["y"].as_f64().unwrap() + 60.0,
    );
    let mut frames = Vec::new();
    let mut last_t1 = view["t1"].as_f64().unwrap();
    for _ in 0..30 {
        cdp.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": -240}),
        );
        // The wheel event reaches the page's handler after the call returns: wait for the
        // frame it draws (each step zooms in, so t1 falls).
        let now = json_of(
            &mut cdp,
            &format!(
                "window.pxelabView.t1 < {last_t1} && JSON.stringify({{t1: window.pxelabView.t1, \
                 ms: window.pxelabView.renderMs}})"
            ),
            "the frame of a wheel step",
        );
        last_t1 = now["t1"].as_f64().unwrap();
        frames.push(now["ms"].as_f64().unwrap());
    }
    frames.sort_by(f64::total_cmp);
    println!(
        "browser suite: {events} events, whole run drawn in {:.1} ms; 30 wheel zooms: median \
         {:.1} ms, slowest {:.1} ms per frame",
        view["renderMs"].as_f64().unwrap(),
        frames[frames.len() / 2],
        frames[frames.len() - 1]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The picture of a recorded live run the README shows.
const LIVE_SCREENSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/images/live-record-timeline.png"
);

#[test]
fn a_recorded_live_run_opens_in_the_timeline_with_the_real_server_marked() {
    let Some(chromium) = find_chromium() else {
        return;
    };
    // From the workspace root, as `pxelab serve --record tests/records/live-dnsmasq` is run
    // from a checkout: the page (and so the picture) shows the replay command a reader types.
    std::env::set_current_dir(crate::common::repo_path("")).unwrap();
    let record = PathBuf::from("tests/records/live-dnsmasq");
    assert_eq!(
        record.canonicalize().unwrap(),
        super::api::live_record().canonicalize().unwrap()
    );
    let addr = common::start_with_records(&common::topologies_dir(), None, vec![record]);
    let (_browser, mut cdp) = launch(&chromium, "record");

    // By URL alone: the record is replayed on the server and shown like any run.
    cdp.open(addr, "record=live-dnsmasq");
    let view = json_of(
        &mut cdp,
        "window.pxelabView && window.pxelabView.ready && \
         window.pxelabView.record === 'live-dnsmasq' && JSON.stringify(window.pxelabView)",
        "the timeline of the record",
    );
    let lanes: Vec<&str> = view["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lane| lane.as_str().unwrap())
        .collect();
    assert_eq!(
        lanes,
        [
            "pc1",
            "pc2",
            "pc3",
            "pc4",
            "r1",
            "r2",
            "wds",
            "real@servers"
        ],
        "clients, routers, the simulated server, then the real one"
    );
    let kinds = view["laneKinds"].as_array().unwrap();
    assert_eq!(kinds.last().unwrap(), "real");
    assert_eq!(
        kinds.iter().filter(|kind| *kind == "real").count(),
        1,
        "{kinds:?}"
    );
    assert!(view["duplicates"].as_u64().unwrap() >= 4, "{view}");

    // The real lane is tinted and labelled as real, on the canvas itself.
    let pixel = cdp.eval(&format!(
        "(() => {{ const c = document.getElementById('timeline'); \
         const r = window.devicePixelRatio || 1; \
         const y = (30 + {lane} * window.pxelabView.laneHeight + 3) * r; \
         return Array.from(c.getContext('2d').getImageData(3 * r, y, 1, 1).data).join(','); }})()",
        lane = lanes.len() - 1
    ));
    assert_eq!(pixel, "251,241,220,255", "the real lane's tint");
    let line = cdp.wait_for_text(
        ("record-line", "innerText"),
        "event for event",
        Duration::from_secs(30),
        "the record's line in the summary",
    );
    let line = line.as_str().unwrap();
    for needle in ["recorded live run live-dnsmasq", "10.2.0.10", "TAP pxe0"] {
        assert!(
            line.contains(needle),
            "the record line lacks `{needle}`: {line}"
        );
    }
    let url = cdp.eval("location.search");
    assert!(
        url.as_str().unwrap().contains("record=live-dnsmasq"),
        "the address bar names the record: {url}"
    );

    // A DISCOVER relayed to the real dnsmasq, zoomed on by URL and clicked: the inspector
    // decodes it. Its times come from the API's view of the same record.
    let id = common::post(addr, "/api/records/live-dnsmasq", "").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = common::get_ok(addr, &format!("/api/runs/{id}")).json();
    let real = common::node_index(&run, |node| node["kind"] == "real");
    let events = run["events"].as_array().unwrap();
    let discover = events
        .iter()
        .find(|e| e["n"] == real && e["k"] == "receive" && e["c"] == "discover")
        .expect("a DISCOVER reached the real server");
    let sent_ns = events[discover["from"].as_u64().unwrap() as usize]["t"]
        .as_u64()
        .unwrap();
    let received_ns = discover["t"].as_u64().unwrap();
    let margin_ns = (received_ns - sent_ns).max(2_000);
    cdp.open(
        addr,
        &format!(
            "record=live-dnsmasq&t0={}&t1={}",
            sent_ns - margin_ns,
            received_ns + margin_ns
        ),
    );
    json_of(
        &mut cdp,
        &format!(
            "window.pxelabView && window.pxelabView.ready && \
             window.pxelabView.record === 'live-dnsmasq' && \
             window.pxelabView.t0 === {} && JSON.stringify(window.pxelabView)",
            sent_ns - margin_ns
        ),
        "the zoomed timeline of the record",
    );
    let index = events
        .iter()
        .position(|e| std::ptr::eq(e, discover))
        .unwrap();
    let (_, inspector) = cdp.inspect_arrow(
        &format!("(e, index) => index === {index}"),
        "Relay agent (giaddr)",
        "the DISCOVER to the real server",
    );
    assert!(inspector.contains("DHCP DISCOVER"), "{inspector}");
    assert!(inspector.contains("real@servers"), "{inspector}");

    cdp.screenshot(Path::new(LIVE_SCREENSHOT));
}
