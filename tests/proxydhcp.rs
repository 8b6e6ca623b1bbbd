//! The proxyDHCP server end to end, and its two implementations against each other: the Rust
//! plugin (`proxydhcp`) and the same server written in C (`proxydhcp-c`), both behind the HSRP
//! pair of topologies/proxydhcp.yaml. Every client boots with the file for its architecture,
//! every relayed copy of a DISCOVER gets its own proxy offer, and with the CPU cost taken out the
//! two twins put the very same frames on the wire at the very same times.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;

use dhcproto::Decodable;
use dhcproto::v4::{Message, MessageType};
use engine::client::Outcome;
use engine::log::{EventLog, Kind};
use engine::{Report, World};
use tests::run;
use topology::Plan;

const SEEDS: Range<u64> = 0..20;
const TOPOLOGY: &str = "proxydhcp.yaml";
const TWINS: [&str; 2] = ["proxydhcp", "proxydhcp-c"];
/// The proxy node of the topology and its plugin line, which the tests swap.
const PROXY: &str = "proxy";
const PROXY_PLUGIN_LINE: &str = "    plugin: proxydhcp ";
/// Both HSRP routers relay (their Vlan10 addresses are the giaddrs of the copies).
const RELAYS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 1, 0, 2), Ipv4Addr::new(10, 1, 0, 3)];
const NBP_SIZE: u64 = 26_000;

/// topologies/proxydhcp.yaml with the proxy node running `plugin`; with `free_cpu`, the proxy
/// node's plugin work costs no simulated time (`cpu_ns_per_fuel: 0`).
fn plan(plugin: &str, free_cpu: bool) -> Plan {
    let path = tests::topology_path(TOPOLOGY);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.matches(PROXY_PLUGIN_LINE).count(),
        1,
        "{TOPOLOGY} has one line `{PROXY_PLUGIN_LINE}`"
    );
    let mut line = format!("    plugin: {plugin} ");
    if free_cpu {
        line = format!("    cpu_ns_per_fuel: 0\n{line}");
    }
    let text = text.replacen(PROXY_PLUGIN_LINE, &line, 1);
    // Parsed as if it were the shipped file, so errors and relative paths read the same.
    topology::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"))
}

fn node(log: &EventLog, name: &str) -> usize {
    log.node_names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

/// The DHCP messages a node sent or received on UDP port `port` (source port for sends,
/// destination port for receives), with the UDP endpoints.
fn dhcp_messages(
    log: &EventLog,
    node: usize,
    sent: bool,
    port: u16,
) -> Vec<(SocketAddrV4, SocketAddrV4, Message)> {
    log.records()
        .iter()
        .filter(|r| r.node == node)
        .filter_map(|r| match (&r.kind, sent) {
            (Kind::Send { frame, .. }, true) | (Kind::Receive { frame, .. }, false) => {
                Some(frame.clone())
            }
            _ => None,
        })
        .filter_map(|frame| {
            let parsed = engine::frame::parse(&frame).ok()?;
            let ip = parsed.ipv4?;
            let (udp, payload) = parsed.udp?;
            let matches = if sent {
                udp.src_port == port
            } else {
                udp.dst_port == port
            };
            matches.then(|| {
                (
                    SocketAddrV4::new(ip.src_addr, udp.src_port),
                    SocketAddrV4::new(ip.dst_addr, udp.dst_port),
                    Message::decode(&mut dhcproto::Decoder::new(payload)).expect("DHCP"),
                )
            })
        })
        .collect()
}

fn expected_file(client: &str) -> &'static str {
    if client.starts_with("efi") {
        "bootx64.efi"
    } else {
        assert!(client.starts_with("bios"), "unexpected client {client}");
        "pxelinux.0"
    }
}

fn assert_everybody_boots(twin: &str, seed: u64, report: &Report) {
    assert_eq!(report.clients.len(), 6);
    assert!(
        report.crashes.is_empty(),
        "{twin} seed {seed}: {:?}",
        report.crashes
    );
    for client in &report.clients {
        match &client.outcome {
            Outcome::Booted { file, bytes, .. } => {
                assert_eq!(file, expected_file(&client.name), "{twin} seed {seed}");
                assert_eq!(*bytes, NBP_SIZE, "{twin} seed {seed} {}", client.name);
            }
            other => panic!("{twin} seed {seed}: {} ended {other:?}", client.name),
        }
    }
}

/// Every DISCOVER copy the proxy received got its own proxy offer, back to the relay that sent
/// it; with both routers relaying, that is one offer per router per DISCOVER.
fn assert_one_offer_per_relayed_copy(twin: &str, seed: u64, world: &World) {
    let log = world.log().unwrap();
    let proxy = node(log, PROXY);
    let mut copies: BTreeMap<u32, Vec<Ipv4Addr>> = BTreeMap::new();
    for (_, _, message) in dhcp_messages(log, proxy, false, 67) {
        if message.opts().msg_type() == Some(MessageType::Discover) {
            copies
                .entry(message.xid())
                .or_default()
                .push(message.giaddr());
        }
    }
    let mut offers: BTreeMap<u32, Vec<Ipv4Addr>> = BTreeMap::new();
    for (src, dst, message) in dhcp_messages(log, proxy, true, 67) {
        assert_eq!(message.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(message.yiaddr(), Ipv4Addr::UNSPECIFIED, "a proxy offer");
        assert_eq!(src, SocketAddrV4::new(Ipv4Addr::new(10, 2, 0, 30), 67));
        assert_eq!(
            dst,
            SocketAddrV4::new(message.giaddr(), 67),
            "back to its relay"
        );
        offers
            .entry(message.xid())
            .or_default()
            .push(message.giaddr());
    }
    assert_eq!(
        copies.len(),
        6,
        "{twin} seed {seed}: one transaction per client"
    );
    for (xid, mut relays) in copies {
        relays.sort();
        let mut answered = offers.remove(&xid).unwrap_or_default();
        answered.sort();
        assert_eq!(
            answered, relays,
            "{twin} seed {seed} xid {xid:#010x}: offers vs copies received"
        );
        // Clients boot from their first DISCOVER here, so each one came once through each router.
        assert_eq!(relays, RELAYS, "{twin} seed {seed} xid {xid:#010x}");
    }
    assert!(
        offers.is_empty(),
        "offers for unknown transactions: {offers:?}"
    );
}

#[test]
fn every_client_boots_and_every_relayed_copy_gets_an_offer_with_either_twin() {
    for twin in TWINS {
        let plan = plan(twin, false);
        for seed in SEEDS {
            let (world, report) = run(&plan, seed);
            assert_everybody_boots(twin, seed, &report);
            assert_one_offer_per_relayed_copy(twin, seed, &world);
        }
    }
}

/// Every frame of the run: (time, sending node, bytes).
fn frames_sent(world: &World) -> Vec<(u64, String, Vec<u8>)> {
    let log = world.log().unwrap();
    log.records()
        .iter()
        .filter_map(|r| match &r.kind {
            Kind::Send { frame, .. } => {
                Some((r.time_ns, log.node_name(r.node).to_string(), frame.to_vec()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_c_twin_puts_the_same_frames_on_the_wire_as_the_rust_one() {
    // The server CPU model charges simulated time per unit of wasm fuel, and the twins do the
    // same work with different instruction counts (dhcproto and Vec in Rust, byte loops in C),
    // so with it the C twin answers some microseconds sooner or later. Charging nothing for the
    // proxy's work leaves behaviour alone, and then the two runs are identical on the wire: the
    // same frames, byte for byte, at the same nanosecond, and the same outcomes. Only what the
    // plugins log differs (their own words), so the run digests differ.
    let [rust, c] = TWINS.map(|twin| plan(twin, true));
    for seed in SEEDS {
        let (rust_world, rust_report) = run(&rust, seed);
        let (c_world, c_report) = run(&c, seed);
        assert_everybody_boots("proxydhcp", seed, &rust_report);
        assert_eq!(
            rust_report.clients, c_report.clients,
            "seed {seed}: client outcomes and boot times"
        );
        let (rust_frames, c_frames) = (frames_sent(&rust_world), frames_sent(&c_world));
        assert_eq!(
            rust_frames.len(),
            c_frames.len(),
            "seed {seed}: frame count"
        );
        for (index, (r, c)) in rust_frames.iter().zip(&c_frames).enumerate() {
            assert_eq!(
                r, c,
                "seed {seed}: frame {index} differs (Rust first, C second); replay with \
                 `pxelab run topologies/{TOPOLOGY} --seed {seed}`, then with the {PROXY} node's \
                 plugin set to proxydhcp-c"
            );
        }
        // The proxy's own frames are in that list: offers, TFTP OACK and DATA.
        assert!(
            rust_frames
                .iter()
                .filter(|(_, node, _)| node == PROXY)
                .count()
                > 6 * 20
        );
    }
}

#[test]
fn the_twins_boot_the_same_clients_at_close_times_with_the_cpu_model() {
    // With the CPU model on (the shipped topology), the twins differ only by their work per
    // call: the same clients boot with the same files, within a millisecond of each other.
    let [rust, c] = TWINS.map(|twin| plan(twin, false));
    for seed in SEEDS {
        let (_, rust_report) = run(&rust, seed);
        let (_, c_report) = run(&c, seed);
        for (r, c) in rust_report.clients.iter().zip(&c_report.clients) {
            assert_eq!(r.name, c.name);
            let (
                Outcome::Booted {
                    time_ns: r_ns,
                    file: r_file,
                    ..
                },
                Outcome::Booted {
                    time_ns: c_ns,
                    file: c_file,
                    ..
                },
            ) = (&r.outcome, &c.outcome)
            else {
                panic!("seed {seed}: {r:?} / {c:?}");
            };
            assert_eq!(r_file, c_file, "seed {seed}");
            assert!(
                r_ns.abs_diff(*c_ns) < 1_000_000,
                "seed {seed} {}: booted at {r_ns} ns (Rust) and {c_ns} ns (C)",
                r.name
            );
        }
    }
}
