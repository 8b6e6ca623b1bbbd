//! Shared by the web tests: a server started in-process on a loopback port, and a minimal
//! HTTP/1.1 client over a plain socket (so the tests see exactly the bytes the server sends).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn topologies_dir() -> PathBuf {
    crate::common::topology_path("")
}

/// Compiled plugins are kept here between test runs, as `pxelab` keeps them in its cache.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-plugin-cache")
}

/// Starts a server on `127.0.0.1:0` on a thread of its own that lives as long as the test
/// process.
pub fn start(topologies: &Path, runs_dir: Option<PathBuf>) -> SocketAddr {
    start_with_records(topologies, runs_dir, Vec::new())
}

/// `start`, serving the run records `records` too (`pxelab serve --record`).
pub fn start_with_records(
    topologies: &Path,
    runs_dir: Option<PathBuf>,
    records: Vec<PathBuf>,
) -> SocketAddr {
    let options = web::Options {
        addr: "127.0.0.1:0".parse().unwrap(),
        topologies_dir: topologies.to_path_buf(),
        runs_dir,
        cache_dir: Some(cache_dir()),
        records,
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (addr, server) = web::bind(options).await.unwrap();
            sender.send(addr).unwrap();
            server.await.unwrap();
        });
    });
    receiver.recv().unwrap()
}

/// One server over the shipped topologies, shared by the tests of a test binary.
pub fn shared() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| start(&topologies_dir(), None))
}

pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

/// Sends one request with `path` exactly as given (no normalization) and reads the reply.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers: headers.to_string(),
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, None)
}

/// `get`, which must answer 200.
pub fn get_ok(addr: SocketAddr, path: &str) -> Reply {
    let reply = get(addr, path);
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
    reply
}

pub fn post(addr: SocketAddr, path: &str, body: &str) -> Reply {
    request(addr, "POST", path, Some(body))
}

/// Starts a run and returns its id.
pub fn start_run(addr: SocketAddr, body: &str) -> String {
    let reply = post(addr, "/api/runs", body);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["id"].as_str().unwrap().to_string()
}

/// The library's own report of a run, to check the server against.
pub fn direct_run(file: &str, seed: u64, plugins: &[(&str, &str)]) -> engine::Report {
    let mut plan = topology::load(&topologies_dir().join(file)).unwrap();
    for (node, plugin) in plugins {
        plan.override_plugin(node, plugin).unwrap();
    }
    let services = lab::Services::with_cache_dir(Some(cache_dir())).unwrap();
    lab::run(&plan, seed, &services).unwrap().into_report()
}

/// The index in a run's JSON `nodes` of the first node for which `is` holds; the events name
/// their node by it.
pub fn node_index(run: &serde_json::Value, is: impl Fn(&serde_json::Value) -> bool) -> usize {
    let nodes = run["nodes"].as_array().expect("a run lists its nodes");
    nodes.iter().position(is).expect("the run has the node")
}
