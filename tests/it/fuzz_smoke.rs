//! Fuzz smoke runs on stable Rust: every parser of untrusted bytes or text, and the plugin
//! boundary, gets the committed corpus (`tests/fuzz/corpus/<target>/`) and a fixed number of
//! seeded mutations of it (bit flips, interesting bytes, truncations, splices, length-field
//! edits, checksum fix-ups so mutations reach past the checksums). Nothing may panic; a plugin
//! may refuse an input but must not trap on it. Each test prints its corpus size and mutation
//! count. The corpus is captured from real runs plus edge cases: `UPDATE_CORPUS=1` rewrites it.
//!
//! Longer campaigns multiply every count: `PXELAB_FUZZ_SCALE=50 PXELAB_FUZZ_SEED=9 cargo test
//! -p tests --test fuzz_smoke -- --nocapture` (see `tests/fuzz/README.md`).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use engine::frame::{self, UdpFrame};
use engine::{App, Datagram, Failure, Input, Kind, Stream};
use plugins::{context, feed, modelled, shipped_plugins};
use targets::{dhcp_payload, hsrp_payload, tftp_payload, vrrp_payload};
use wire::{hsrp, vrrp};

#[path = "../fuzz/plugins.rs"]
mod plugins;
#[path = "../fuzz/targets.rs"]
mod targets;

/// Mutations per target in a plain `cargo test`: enough to exercise every mutation kind on
/// every corpus entry many times, small enough for a few seconds in a debug build.
const CASES_DEFAULT: u64 = 4000;

fn cases(default: u64) -> u64 {
    let scale: u64 = std::env::var("PXELAB_FUZZ_SCALE")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1);
    default * scale
}

fn fuzz_seed() -> u64 {
    std::env::var("PXELAB_FUZZ_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1)
}

fn corpus_dir(target: &str) -> PathBuf {
    crate::common::repo_path("tests/fuzz/corpus").join(target)
}

/// The committed corpus of `target`, sorted by file name.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    if std::env::var_os("UPDATE_CORPUS").is_some() {
        write_corpus();
    }
    let dir = corpus_dir(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_CORPUS=1 writes it)", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let entries: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(
        entries.len() >= 4,
        "{}: {} entries",
        dir.display(),
        entries.len()
    );
    entries
}

// ---------------------------------------------------------------------------------------------
// Mutations

/// Bytes that tend to sit at boundaries: zero, one, sign bits, all ones.
const INTERESTING: [u8; 8] = [0, 1, 2, 0x3f, 0x7f, 0x80, 0xfe, 0xff];

fn below(rng: &mut Stream, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (rng.next_u64() % n as u64) as usize
    }
}

/// One to three mutations of `input`, `others` being the rest of the corpus for splices.
fn mutate(rng: &mut Stream, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + below(rng, 3) {
        mutate_once(rng, &mut bytes, others);
    }
    bytes
}

fn mutate_once(rng: &mut Stream, bytes: &mut Vec<u8>, others: &[Vec<u8>]) {
    let len = bytes.len();
    match below(rng, 10) {
        // Flip one bit.
        0 if len > 0 => {
            let at = below(rng, len);
            bytes[at] ^= 1 << below(rng, 8);
        }
        // An interesting byte.
        1 if len > 0 => {
            let at = below(rng, len);
            bytes[at] = INTERESTING[below(rng, INTERESTING.len())];
        }
        // A random byte.
        2 if len > 0 => {
            let at = below(rng, len);
            bytes[at] = rng.next_u64() as u8;
        }
        // Truncate.
        3 => bytes.truncate(below(rng, len + 1)),
        // Remove a range.
        4 if len > 0 => {
            let from = below(rng, len);
            let to = (from + 1 + below(rng, 16)).min(len);
            bytes.drain(from..to);
        }
        // Insert random bytes.
        5 => {
            let at = below(rng, len + 1);
            let count = 1 + below(rng, 24);
            let fill: Vec<u8> = (0..count).map(|_| rng.next_u64() as u8).collect();
            bytes.splice(at..at, fill);
        }
        // Splice: our head, another entry's tail.
        6 if !others.is_empty() => {
            let other = &others[below(rng, others.len())];
            let at = below(rng, len + 1);
            let from = below(rng, other.len() + 1);
            bytes.truncate(at);
            bytes.extend_from_slice(&other[from..]);
        }
        // A 16-bit length field: near the real length, zero or all ones.
        7 if len >= 2 => {
            let at = below(rng, len - 1);
            let value: u16 = match below(rng, 4) {
                0 => 0,
                1 => u16::MAX,
                2 => (len as u16).wrapping_add(below(rng, 8) as u16),
                _ => (len as u16).wrapping_sub(below(rng, 64) as u16),
            };
            bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
        }
        // An 8-bit length field (DHCP options, TLVs): a little too long or short.
        8 if len > 0 => {
            let at = below(rng, len);
            let delta = below(rng, 9) as u8;
            bytes[at] = if below(rng, 2) == 0 {
                bytes[at].wrapping_add(delta)
            } else {
                bytes[at].wrapping_sub(delta)
            };
        }
        // Duplicate a chunk in place.
        _ if len > 0 => {
            let from = below(rng, len);
            let to = (from + 1 + below(rng, 32)).min(len);
            let chunk = bytes[from..to].to_vec();
            let at = below(rng, len + 1);
            bytes.splice(at..at, chunk);
        }
        _ => bytes.push(rng.next_u64() as u8),
    }
}

/// Recomputes the IPv4 header checksum and clears the UDP checksum (zero means none in IPv4),
/// so a mutated frame gets past the checks into the layers above them.
fn fix_checksums(bytes: &mut [u8]) {
    if bytes.len() < 34 || bytes[12..14] != [0x08, 0x00] {
        return;
    }
    let header_len = usize::from(bytes[14] & 0x0f) * 4;
    if header_len < 20 || bytes.len() < 14 + header_len {
        return;
    }
    bytes[24..26].copy_from_slice(&[0, 0]);
    let checksum = wire::checksum::internet_checksum(&[&bytes[14..14 + header_len]]);
    bytes[24..26].copy_from_slice(&checksum.to_be_bytes());
    let udp = 14 + header_len;
    if bytes[23] == 17 && bytes.len() >= udp + 8 {
        bytes[udp + 6..udp + 8].copy_from_slice(&[0, 0]);
    }
}

/// Runs `check` on every corpus entry and on `count` mutations; returns the number of inputs.
/// A panic is caught and reported with the input in hex and the seed that replays it.
fn campaign(
    target: &str,
    entries: &[Vec<u8>],
    count: u64,
    fixup: Option<fn(&mut [u8])>,
    mut check: impl FnMut(&[u8]),
) -> u64 {
    let seed = fuzz_seed();
    let mut rng = Stream::new(seed, target, "fuzz-mutations");
    let started = Instant::now();
    let mut inputs: Vec<Vec<u8>> = entries.to_vec();
    for index in 0..count as usize {
        let base = &entries[index % entries.len()];
        let mut bytes = mutate(&mut rng, base, entries);
        if let Some(fixup) = fixup
            && below(&mut rng, 2) == 0
        {
            fixup(&mut bytes);
        }
        inputs.push(bytes);
    }
    for (index, input) in inputs.iter().enumerate() {
        let outcome = catch_unwind(AssertUnwindSafe(|| check(input)));
        if outcome.is_err() {
            panic!(
                "{target}: input {index} panicked (PXELAB_FUZZ_SEED={seed}); bytes: {}",
                hex(input)
            );
        }
    }
    println!(
        "{target}: {} corpus entries + {count} mutations in {:.2?} (seed {seed})",
        entries.len(),
        started.elapsed()
    );
    inputs.len() as u64
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Frame parsers

/// Every parser a frame meets in the simulator and the web UI.
fn parse_frame_everywhere(bytes: &[u8]) {
    targets::frame(bytes, &|bytes| {
        let _ = engine::decode::class(bytes);
        let _ = engine::decode::relayed_request(bytes);
        let _ = engine::decode::layers(bytes);
        let _ = web::decode::packet(bytes);
    });
}

#[test]
fn frames_never_panic_a_parser() {
    let entries = corpus("frames");
    let count = campaign(
        "frames",
        &entries,
        cases(CASES_DEFAULT * 2),
        Some(fix_checksums),
        parse_frame_everywhere,
    );
    assert!(count > CASES_DEFAULT);
}

/// Regression: DHCP options whose length dhcproto asserts (Rapid Commit with a value, a short
/// bulk leasequery time, joined client interface ids, a short Client FQDN, an empty leasequery
/// status) panicked `engine::dhcp::decode` in debug builds, and with it `decode::describe`, the
/// web UI's decoder and every node reading a DHCP message. They are refused now.
#[test]
fn dhcp_options_with_lengths_dhcproto_trusts_are_refused() {
    let dir = corpus_dir("dhcp");
    let mut crashes = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("crash-")
        {
            continue;
        }
        let payload = std::fs::read(&path).unwrap();
        let error = engine::dhcp::decode(&payload).expect_err("a malformed option is refused");
        assert!(
            error.to_string().contains("has length"),
            "{}: {error}",
            path.display()
        );
        assert!(engine::decode::describe_dhcp(&payload).contains("malformed"));
        assert_eq!(
            engine::decode::class(&in_frame("dhcp", &payload)),
            engine::decode::Class::Malformed
        );
        crashes += 1;
    }
    assert!(crashes >= 5, "{crashes} crash inputs in {}", dir.display());
}

#[test]
fn dhcp_payloads_never_panic_the_decoders() {
    let entries = corpus("dhcp");
    campaign("dhcp", &entries, cases(CASES_DEFAULT), None, dhcp_payload);
}

#[test]
fn tftp_hsrp_and_vrrp_payloads_never_panic_the_wire_parsers() {
    for (target, check) in [
        ("tftp", tftp_payload as fn(&[u8])),
        ("hsrp", hsrp_payload),
        ("vrrp", |bytes: &[u8]| {
            vrrp_payload(bytes, Ipv4Addr::new(10, 1, 0, 2))
        }),
    ] {
        let entries = corpus(target);
        campaign(target, &entries, cases(CASES_DEFAULT), None, check);
        // The same payloads inside real frames reach the whole stack.
        let framed: Vec<Vec<u8>> = entries.iter().map(|p| in_frame(target, p)).collect();
        campaign(
            &format!("{target}-in-frames"),
            &framed,
            cases(CASES_DEFAULT / 4),
            Some(fix_checksums),
            parse_frame_everywhere,
        );
    }
}

/// `payload` in the frame that carries `target` on the wire: UDP to its port, or IPv4 protocol
/// 112 for VRRP.
fn in_frame(target: &str, payload: &[u8]) -> Vec<u8> {
    let src_mac = smoltcp::wire::EthernetAddress([2, 0, 0, 0, 0, 1]);
    let dst_mac = smoltcp::wire::EthernetAddress([2, 0, 0, 0, 0, 2]);
    let (src_ip, dst_ip) = (Ipv4Addr::new(10, 1, 0, 2), Ipv4Addr::new(10, 1, 0, 3));
    let port = match target {
        "vrrp" => {
            return frame::IpFrame {
                src_mac,
                dst_mac,
                src_ip,
                dst_ip,
                protocol: smoltcp::wire::IpProtocol::Unknown(vrrp::IP_PROTOCOL),
                ttl: 255,
                dscp: 0,
                ident: 0,
                dont_fragment: true,
                payload: &payload[..payload.len().min(frame::MTU - frame::IPV4_HEADER_LEN)],
            }
            .to_bytes()
            .unwrap();
        }
        "hsrp" => hsrp::UDP_PORT,
        "tftp" => 69,
        _ => 67,
    };
    UdpFrame {
        src_mac,
        dst_mac,
        src_ip,
        dst_ip,
        src_port: port,
        dst_port: port,
        ttl: 64,
        payload: &payload[..payload.len().min(frame::UDP_PAYLOAD_MAX)],
    }
    .to_bytes()
    .unwrap()
}

/// The nodes' own frame handling: mutated frames captured from KB2510665 runs are put on both
/// LANs of that topology by taps, among the routers, servers and PXE clients of a live run. The
/// MAC addresses are the ones the plan gives its nodes, so the frames reach them. No node may
/// panic, and only WDS may crash, with the heap corruption it models.
#[test]
fn mutated_frames_on_the_wire_never_panic_a_node() {
    use engine::world::Attachment;
    use engine::{Limits, Node};
    let entries: Vec<Vec<u8>> = std::fs::read_dir(corpus_dir("frames"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().contains("kb2510665"))
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    assert!(entries.len() >= 8, "{} KB2510665 frames", entries.len());
    let plan = crate::common::plan("kb2510665.yaml");
    let seed = fuzz_seed();
    let worlds = cases(4);
    let per_world = 250;
    let started = Instant::now();
    let mut rng = Stream::new(seed, "wire", "fuzz-mutations");
    let mut dropped = 0;
    for run in 0..worlds {
        let script: Vec<(u64, Vec<u8>)> = (0..per_world)
            .map(|index| {
                let base = &entries[(run as usize * per_world + index) % entries.len()];
                let mut bytes = mutate(&mut rng, base, &entries);
                if below(&mut rng, 4) != 0 {
                    fix_checksums(&mut bytes);
                }
                // Spread over the clients' first seconds, when they and the relays are busiest.
                (1_000_000 * index as u64 / 100, bytes)
            })
            .collect();
        let mut world = plan
            .builder(seed + run, crate::common::services(), None)
            .unwrap();
        for (index, name) in [(0, "tap-clients"), (1, "tap-servers")] {
            let attachment = Attachment {
                lan: engine::log::LanId::from_index(index),
                mac: smoltcp::wire::EthernetAddress([2, 0x7a, 0, 0, 0, index as u8]),
                addresses: vec![],
                virtual_macs: vec![],
            };
            world.add_node(
                name,
                Node::Scripted(engine::scripted::Scripted::new(script.clone())),
                vec![attachment],
                0,
            );
        }
        let mut world = world.build();
        world.set_limits(Limits {
            sim_time_max_ns: 20_000_000_000,
            ..Limits::default()
        });
        let Ok(world) = catch_unwind(AssertUnwindSafe(|| world.run())) else {
            panic!("a node panicked: run {run}, PXELAB_FUZZ_SEED={seed}");
        };
        let drops = world.log().records().iter();
        dropped += drops
            .filter(|r| matches!(r.kind, Kind::Drop { .. }))
            .count();
        for crash in &world.report().crashes {
            assert!(
                crash.node == "wds" && modelled("wds-sccm2007", &crash.reason),
                "run {run} (PXELAB_FUZZ_SEED={seed}): {crash:?}"
            );
        }
    }
    println!(
        "wire: {} corpus frames, {worlds} runs x {per_world} mutated frames on each of 2 LANs \
         in {:.2?} (seed {seed}); {dropped} frames dropped by nodes",
        entries.len(),
        started.elapsed()
    );
    // The frames reach the nodes' parsers: many are thrown away as malformed.
    assert!(dropped > 100, "{dropped} drops");
}

// ---------------------------------------------------------------------------------------------
// Topology loader

fn topology_corpus() -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    let root = crate::common::repo_path("");
    for dir in [root.join("topologies"), root.join("tests/broken")] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        entries.extend(paths.iter().map(|path| std::fs::read(path).unwrap()));
    }
    entries
}

/// Line-level mutations on top of the byte-level ones: YAML breaks at lines and tokens.
fn mutate_yaml(rng: &mut Stream, text: &str, others: &[Vec<u8>]) -> String {
    const TOKENS: [&str; 16] = [
        "-1",
        "0",
        "0s",
        "99999999999999999999",
        "1e400",
        "~",
        "[]",
        "{}",
        "\"\"",
        "nan",
        "-5ms",
        "10.1.0.0/33",
        "uniform(2s, 1s)",
        "lognormal(median=0s, sigma=-1)",
        "&a",
        "*a",
    ];
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    match below(rng, 7) {
        0 => {
            lines.remove(below(rng, n));
        }
        1 => {
            let line = lines[below(rng, n)].clone();
            lines.insert(below(rng, n), line);
        }
        2 => lines.swap(below(rng, n), below(rng, n)),
        3 => {
            let at = below(rng, n);
            lines[at] = format!(
                "{}{}",
                if below(rng, 2) == 0 { "\t" } else { "  " },
                lines[at]
            );
        }
        4 => {
            // The value after a `key:` becomes a hostile token.
            let at = below(rng, n);
            if let Some((key, _)) = lines[at].split_once(": ") {
                lines[at] = format!("{key}: {}", TOKENS[below(rng, TOKENS.len())]);
            }
        }
        5 => {
            // A key from elsewhere in the file, at this line's indentation.
            let from = lines[below(rng, n)].trim_start().to_string();
            let at = below(rng, n);
            let indent = lines[at].len() - lines[at].trim_start().len();
            lines.insert(at, format!("{}{from}", " ".repeat(indent)));
        }
        _ => {
            let bytes = mutate(rng, text.as_bytes(), others);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    lines.join("\n")
}

#[test]
fn mutated_topologies_load_or_fail_located() {
    let entries = topology_corpus();
    let seed = fuzz_seed();
    let mut rng = Stream::new(seed, "topology", "fuzz-mutations");
    let count = cases(1500);
    let started = Instant::now();
    let (mut accepted, mut checked) = (0, 0);
    for index in 0..entries.len() + count as usize {
        let text = match entries.get(index) {
            Some(entry) => String::from_utf8_lossy(entry).into_owned(),
            None => {
                let base = String::from_utf8_lossy(&entries[index % entries.len()]).into_owned();
                mutate_yaml(&mut rng, &base, &entries)
            }
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| targets::topology(&text)));
        let Ok(result) = outcome else {
            panic!(
                "input {index} panicked the loader or got an unlocated error \
                 (PXELAB_FUZZ_SEED={seed}):\n{text}"
            );
        };
        match result {
            Some(plan) => {
                accepted += 1;
                // Building a world for a plan instantiates its plugins: a few are enough.
                if checked < 12 && index >= entries.len() {
                    checked += 1;
                    let outcome = catch_unwind(AssertUnwindSafe(|| {
                        let _ = lab::check(&plan, crate::common::services());
                    }));
                    assert!(
                        outcome.is_ok(),
                        "input {index} panicked Plan::build:\n{text}"
                    );
                }
            }
            // Refused with a located error (`targets::topology` checks it).
            None => {}
        }
    }
    println!(
        "topology: {} corpus entries + {count} mutations in {:.2?} (seed {seed}); \
         {accepted} accepted, {checked} built",
        entries.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Plugin boundary

fn instance(name: &str, config: Vec<(String, String)>) -> plugin_host::WasmApp {
    let host = crate::common::services().host();
    let plugin = host.load(name, artifacts::builtin(name).unwrap()).unwrap();
    host.instantiate(&plugin, config, Stream::new(1, name, "fuzz"))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn mutated_datagrams_never_trap_a_shipped_plugin() {
    let dhcp = corpus("dhcp");
    let tftp = corpus("tftp");
    let garbage = corpus("frames");
    let per_plugin = cases(CASES_DEFAULT / 8);
    let seed = fuzz_seed();
    let started = Instant::now();
    let mut bugs = Vec::new();
    let mut total = 0;
    let mut answered = std::collections::BTreeMap::new();
    for (name, config) in shipped_plugins() {
        let mut app = instance(name, config);
        app.handle(&context(), Input::Start, &mut Vec::new())
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let mut rng = Stream::new(seed, name, "fuzz-datagrams");
        for index in 0..per_plugin as usize {
            // Ports the shipped plugins listen on, and one they do not.
            let (port, entries) = match index % 4 {
                0 => (67, &dhcp),
                1 => (4011, &dhcp),
                2 => (69, &tftp),
                _ => (1000 + below(&mut rng, 60000) as u16, &garbage),
            };
            let base = &entries[index % entries.len()];
            let payload = if index < entries.len() * 2 {
                base.clone()
            } else {
                mutate(&mut rng, base, entries)
            };
            let datagram = Datagram {
                src: SocketAddrV4::new(Ipv4Addr::new(10, 2, 0, 2), 67),
                dst: SocketAddrV4::new(Ipv4Addr::new(10, 2, 0, 20), port),
                payload,
            };
            total += 1;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                feed(&mut app, Input::Datagram(&datagram))
            }));
            match outcome {
                Err(_) => panic!(
                    "{name}: the host panicked on datagram {index} to port {port}: {}",
                    hex(&datagram.payload)
                ),
                Ok(Err(Failure::Crashed(reason))) if !modelled(name, &reason.to_string()) => {
                    bugs.push(format!(
                        "{name} port {port}: {reason}\n  payload {}",
                        hex(&datagram.payload)
                    ));
                    app.reset().unwrap();
                    feed(&mut app, Input::Start).unwrap();
                }
                Ok(Err(_)) => {
                    app.reset().unwrap();
                    feed(&mut app, Input::Start).unwrap();
                }
                Ok(Ok(sent)) => *answered.entry(name).or_insert(0) += u64::from(sent),
            }
        }
    }
    println!(
        "plugins: {total} datagrams ({per_plugin} per plugin) in {:.2?} (seed {seed}); \
         answered: {answered:?}",
        started.elapsed()
    );
    // The inputs reach the plugins' logic: every plugin answers some of them.
    for (name, _) in shipped_plugins() {
        assert!(
            answered.get(name).is_some_and(|&n| n > 0),
            "{name} never answered"
        );
    }
    assert!(
        bugs.is_empty(),
        "{} trap(s):\n{}",
        bugs.len(),
        bugs.join("\n")
    );
}

#[test]
fn mutated_configs_are_accepted_or_refused_never_trapped() {
    const VALUES: [&str; 14] = [
        "",
        "0",
        "-1",
        "18446744073709551616",
        "1e400",
        "nan",
        "x",
        "10.1.0.199-10.1.0.100",
        "255.255.255.255",
        "lognormal(median=0s, sigma=0)",
        "uniform(5s, 1s)",
        "0s",
        "\u{0}",
        "999999999999",
    ];
    let seed = fuzz_seed();
    let per_plugin = cases(CASES_DEFAULT / 40);
    let started = Instant::now();
    let mut bugs = Vec::new();
    let mut refused = 0;
    for (name, config) in shipped_plugins() {
        let mut rng = Stream::new(seed, name, "fuzz-config");
        let keys: Vec<String> = config.iter().map(|(k, _)| k.clone()).collect();
        let mut app = instance(name, config.clone());
        for _ in 0..per_plugin {
            let mut mutated = config.clone();
            match below(&mut rng, 4) {
                0 if !mutated.is_empty() => {
                    let at = below(&mut rng, mutated.len());
                    mutated[at].1 = VALUES[below(&mut rng, VALUES.len())].to_string();
                }
                1 if !mutated.is_empty() => {
                    let at = below(&mut rng, mutated.len());
                    let bytes = mutate(&mut rng, mutated[at].1.as_bytes(), &[]);
                    mutated[at].1 = String::from_utf8_lossy(&bytes).into_owned();
                }
                2 if !mutated.is_empty() => {
                    mutated.remove(below(&mut rng, mutated.len()));
                }
                _ => {
                    let key = keys.get(below(&mut rng, keys.len() + 1));
                    let key = key.cloned().unwrap_or_else(|| "unknown_key".to_string());
                    mutated.push((key, VALUES[below(&mut rng, VALUES.len())].to_string()));
                }
            }
            app = instance(name, mutated.clone());
            match app.handle(&context(), Input::Start, &mut Vec::new()) {
                Ok(()) => {}
                Err(Failure::Refused(_)) => refused += 1,
                Err(Failure::Crashed(reason)) => {
                    bugs.push(format!("{name} config {mutated:?}: {reason}"))
                }
            }
        }
        drop(app);
    }
    println!(
        "plugin configs: {per_plugin} per plugin, {refused} refused, in {:.2?} (seed {seed})",
        started.elapsed()
    );
    assert!(
        bugs.is_empty(),
        "{} trap(s):\n{}",
        bugs.len(),
        bugs.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The corpus

/// Frames from runs of the shipped topologies (a few of each kind), and the payloads inside them,
/// plus hand-made edge cases; written by `UPDATE_CORPUS=1`.
fn write_corpus() {
    use std::collections::BTreeMap;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut frames: BTreeMap<String, Vec<Arc<[u8]>>> = BTreeMap::new();
        for (name, seed) in [
            ("kb2510665.yaml", 0),
            ("proxydhcp.yaml", 1),
            ("vrrp-three-routers.yaml", 1),
            ("hsrp-failover.yaml", 1),
        ] {
            let world = crate::common::run(&crate::common::plan(name), seed);
            for record in world.log().records() {
                if let Kind::Send { frame, .. } = &record.kind {
                    let class =
                        format!("{}-{}", engine::decode::class(&frame.bytes()).name(), name);
                    let kept = frames.entry(class).or_default();
                    if kept.len() < 3 && !kept.iter().any(|f| f[..] == *frame.bytes()) {
                        kept.push(Arc::from(&*frame.bytes()));
                    }
                }
            }
        }
        let mut sets: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
        for (class, kept) in &frames {
            for (index, bytes) in kept.iter().enumerate() {
                let label = format!("run-{}-{index}", class.trim_end_matches(".yaml"));
                sets.entry("frames")
                    .or_default()
                    .push((label.clone(), bytes.to_vec()));
                let Ok(parsed) = frame::parse(bytes) else {
                    continue;
                };
                let target = match class.split('-').next().unwrap() {
                    "vrrp" => {
                        sets.entry("vrrp")
                            .or_default()
                            .push((label, parsed.ipv4_payload.to_vec()));
                        continue;
                    }
                    "hsrp" => "hsrp",
                    "tftp" => "tftp",
                    "malformed" | "other" => continue,
                    _ => "dhcp",
                };
                if let Some((_, payload)) = parsed.udp {
                    sets.entry(target)
                        .or_default()
                        .push((label, payload.to_vec()));
                }
            }
        }
        for (target, cases) in edge_cases() {
            for (label, bytes) in cases {
                sets.entry(target)
                    .or_default()
                    .push((format!("edge-{label}"), bytes));
            }
        }
        for (target, entries) in sets {
            // Inputs that once crashed something (`crash-*`) stay; the rest is rewritten.
            let dir = corpus_dir(target);
            std::fs::create_dir_all(&dir).unwrap();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with("run-") || name.starts_with("edge-") {
                    std::fs::remove_file(&path).unwrap();
                }
            }
            for (label, bytes) in entries {
                std::fs::write(dir.join(format!("{label}.bin")), bytes).unwrap();
            }
        }
    });
}

/// Inputs a capture never shows: empty, minimal, lying lengths.
fn edge_cases() -> Vec<(&'static str, Vec<(&'static str, Vec<u8>)>)> {
    let mut bootp = vec![0u8; 240];
    bootp[0] = 1;
    bootp[1] = 1;
    bootp[2] = 6;
    bootp[236..240].copy_from_slice(&[99, 130, 83, 99]);
    let with_options = |options: &[u8]| {
        let mut bytes = bootp.clone();
        bytes.extend_from_slice(options);
        bytes
    };
    let mut hlen17 = with_options(&[53, 1, 1, 255]);
    hlen17[2] = 17;
    let dhcp = vec![
        ("empty", Vec::new()),
        ("one-byte", vec![1]),
        ("bootp-no-options", bootp.clone()),
        ("hlen-17", hlen17),
        ("option-past-end", with_options(&[53, 1, 1, 60, 200, b'P'])),
        ("overload-both", with_options(&[53, 1, 1, 52, 1, 3, 255])),
        (
            "pxe-vendor-options",
            with_options(&[
                53, 1, 1, 60, 9, b'P', b'X', b'E', b'C', b'l', b'i', b'e', b'n', b't', 43, 4, 6, 1,
                8, 255, 255,
            ]),
        ),
        (
            "client-arch-short",
            with_options(&[53, 1, 3, 93, 1, 0, 97, 0, 255]),
        ),
        ("no-end", with_options(&[53, 1, 1])),
    ];
    let tftp = vec![
        ("empty", Vec::new()),
        ("rrq-no-nul", b"\0\x01pxelinux.0".to_vec()),
        (
            "rrq-options",
            b"\0\x01pxelinux.0\0octet\0blksize\01456\0tsize\00\0".to_vec(),
        ),
        ("rrq-odd-option", b"\0\x01f\0octet\0blksize\0".to_vec()),
        ("ack-short", vec![0, 4, 0]),
        ("error-no-nul", b"\0\x05\0\x01nope".to_vec()),
        ("oack-empty", vec![0, 6]),
        ("opcode-9", vec![0, 9, 0, 1]),
    ];
    let hsrp = vec![
        ("empty", Vec::new()),
        ("v1-short", vec![0, 0, 16, 3, 10, 100, 10, 0]),
        ("v2-tlv-zero-length", vec![1, 0]),
        ("v2-tlv-long", vec![1, 40, 2, 0, 0, 0, 0, 0, 0, 0]),
    ];
    let vrrp = vec![
        ("empty", Vec::new()),
        (
            "v3-count-255",
            vec![0x31, 1, 100, 255, 0, 100, 0, 0, 10, 1, 0, 1],
        ),
        (
            "v2-no-addresses",
            vec![0x21, 1, 100, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        ("type-2", vec![0x32, 1, 100, 1, 0, 100, 0, 0, 10, 1, 0, 1]),
    ];
    let frames = vec![
        ("empty", Vec::new()),
        ("ethernet-only", vec![0xff; 14]),
        ("arp", {
            let mut b = vec![0xff; 6];
            b.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
            b.extend_from_slice(&[0; 28]);
            b
        }),
        ("ipv4-ihl-15", {
            let mut b = vec![0xff; 12];
            b.extend_from_slice(&[0x08, 0x00, 0x4f, 0, 0, 20]);
            b.extend_from_slice(&[0; 16]);
            b
        }),
    ];
    vec![
        ("dhcp", dhcp),
        ("tftp", tftp),
        ("hsrp", hsrp),
        ("vrrp", vrrp),
        ("frames", frames),
    ]
}
