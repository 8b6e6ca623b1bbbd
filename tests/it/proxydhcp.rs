//! The proxyDHCP server end to end, and its two implementations against each other: the Rust
//! plugin (`proxydhcp`) and the same server written in C (`proxydhcp-c`), both behind the HSRP
//! pair of topologies/proxydhcp.yaml. Every client boots with the file for its architecture,
//! every relayed copy of a DISCOVER gets its own proxy offer, and with the CPU cost taken out the
//! two twins put the very same frames on the wire at the very same times.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;

use crate::common::run;
use dhcproto::Decodable;
use dhcproto::v4::{Message, MessageType};
use engine::client::Outcome;
use engine::log::{EventLog, Kind, NodeId};
use engine::{Finished, Report};
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
    let path = crate::common::topology_path(TOPOLOGY);
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

fn node(log: &EventLog, name: &str) -> NodeId {
    log.node_id(name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

/// The DHCP messages a node sent or received on UDP port `port` (source port for sends,
/// destination port for receives), with the UDP endpoints.
fn dhcp_messages(
    log: &EventLog,
    node: NodeId,
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
            let bytes = frame.bytes();
            let parsed = engine::frame::parse(&bytes).ok()?;
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
fn assert_one_offer_per_relayed_copy(twin: &str, seed: u64, world: &Finished) {
    let log = world.log();
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

/// Whether this build has the C twin (it needs clang and wasm-ld); says so when it does not.
fn c_twin_built() -> bool {
    match artifacts::not_built("proxydhcp-c") {
        None => true,
        Some(reason) => {
            crate::tools::missing(reason, "testing the C twin proxydhcp-c");
            false
        }
    }
}

/// The plans of both twins (see `plan`), when the C twin is built.
fn twin_plans(free_cpu: bool) -> Option<[Plan; 2]> {
    c_twin_built().then(|| TWINS.map(|twin| plan(twin, free_cpu)))
}

#[test]
fn every_client_boots_and_every_relayed_copy_gets_an_offer_with_either_twin() {
    if !c_twin_built() {
        return;
    }
    for twin in TWINS {
        let plan = plan(twin, false);
        for seed in SEEDS {
            let world = run(&plan, seed);
            let report = world.report();
            assert_everybody_boots(twin, seed, &report);
            assert_one_offer_per_relayed_copy(twin, seed, &world);
        }
    }
}

/// Every frame of the run: (time, sending node, bytes).
fn frames_sent(world: &Finished) -> Vec<(u64, String, Vec<u8>)> {
    let log = world.log();
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
    let Some([rust, c]) = twin_plans(true) else {
        return;
    };
    for seed in SEEDS {
        let rust_world = run(&rust, seed);
        let rust_report = rust_world.report();
        let c_world = run(&c, seed);
        let c_report = c_world.report();
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
                "seed {seed}: frame {index} differs (Rust first, C second); compare \
                 `pxelab run topologies/{TOPOLOGY} --seed {seed}` with the same and \
                 `--plugin {PROXY}=proxydhcp-c` (the CPU cost is on there)"
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
    // call: the same clients boot with the same files, at times within 1% of each other (the
    // difference compounds where six clients queue for the one proxy: up to 6.7 ms here).
    let Some([rust, c]) = twin_plans(false) else {
        return;
    };
    for seed in SEEDS {
        let rust_report = run(&rust, seed).into_report();
        let c_report = run(&c, seed).into_report();
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
                r_ns.abs_diff(*c_ns) < r_ns / 100,
                "seed {seed} {}: booted at {r_ns} ns (Rust) and {c_ns} ns (C)",
                r.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The twins side by side on scripted inputs, through the real plugin host: what the topology
// never exercises (port 4011, odd DHCP messages, TFTP options, errors and timeouts, refused
// configurations) must come out the same from both, effect for effect.

mod side_by_side {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use dhcproto::Encodable;
    use dhcproto::v4::{Architecture, DhcpOption, Flags, Message, MessageType, Opcode};
    use engine::{App, AppContext, Datagram, Effect, Failure, Input, Stream};
    use plugin_host::{PluginHost, SandboxLimits, WasmApp};
    use wire::tftp::Repr;

    use super::TWINS;

    const PROXY_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 30);
    const RELAY: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
    const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 100);
    const MAC: [u8; 6] = [0x02, 0x50, 0x03, 0x00, 0x00, 0x07];

    struct Twins {
        apps: Vec<WasmApp>,
        now_ns: u64,
    }

    /// Both twins started with `config`, and the result of the start (the same for both).
    fn start(config: &[(&str, &str)]) -> (Twins, Result<(), Failure>) {
        let host = PluginHost::new(SandboxLimits::default()).unwrap();
        let config: Vec<(String, String)> = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let apps = TWINS
            .iter()
            .map(|twin| {
                let plugin = host.load(twin, artifacts::builtin(twin).unwrap()).unwrap();
                host.instantiate(&plugin, config.clone(), Stream::new(1, "proxy", "plugin"))
                    .unwrap()
            })
            .collect();
        let mut twins = Twins { apps, now_ns: 0 };
        let started = twins.both(Input::Start).map(|_| ());
        (twins, started)
    }

    impl Twins {
        /// Runs `input` on both and checks they asked the same of the host (their log lines
        /// are their own); returns the sends and timers.
        fn both(&mut self, input: Input<'_>) -> Result<Vec<Effect>, Failure> {
            let cx = AppContext {
                now_ns: self.now_ns,
                own_ip: PROXY_IP,
            };
            let mut outcomes = self.apps.iter_mut().map(|app| {
                let mut effects = Vec::new();
                let result = app.handle(&cx, input, &mut effects);
                effects.retain(|e| matches!(e, Effect::Send(_) | Effect::SetTimer { .. }));
                result.map(|()| effects)
            });
            let (rust, c) = (outcomes.next().unwrap(), outcomes.next().unwrap());
            // The C twin speaks contract 0.1.0, whose refusal is plain text: a failure is
            // compared as people read it.
            let read = |result: &Result<Vec<Effect>, Failure>| match result {
                Ok(effects) => Ok(effects.clone()),
                Err(failure) => Err(failure.to_string()),
            };
            assert_eq!(
                read(&rust),
                read(&c),
                "Rust twin first, C twin second, for {input:?}"
            );
            rust
        }

        fn datagram(&mut self, src: SocketAddrV4, dst_port: u16, payload: Vec<u8>) -> Vec<Effect> {
            let datagram = Datagram {
                src,
                dst: SocketAddrV4::new(PROXY_IP, dst_port),
                payload,
            };
            self.both(Input::Datagram(&datagram)).unwrap()
        }

        fn timer(&mut self, token: u64) -> Vec<Effect> {
            self.both(Input::Timer(token)).unwrap()
        }
    }

    fn sends(effects: &[Effect]) -> Vec<&Datagram> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    fn last_timer(effects: &[Effect]) -> Option<u64> {
        effects.iter().rev().find_map(|e| match e {
            Effect::SetTimer { token, .. } => Some(*token),
            _ => None,
        })
    }

    /// A PXE client message; `class` None leaves option 60 out.
    fn message(
        kind: MessageType,
        giaddr: Ipv4Addr,
        ciaddr: Ipv4Addr,
        arch: Option<u16>,
        class: Option<&[u8]>,
    ) -> Message {
        let mut m = Message::new_with_id(
            0x0bad_cafe,
            ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            giaddr,
            &MAC,
        );
        m.set_opcode(Opcode::BootRequest)
            .set_flags(Flags::default().set_broadcast());
        let opts = m.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        if let Some(class) = class {
            opts.insert(DhcpOption::ClassIdentifier(class.to_vec()));
        }
        if let Some(arch) = arch {
            opts.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(
                arch,
            )));
        }
        opts.insert(DhcpOption::ClientNetworkInterface(1, 2, 1));
        let mut guid = vec![0u8];
        guid.extend(1..=16u8);
        opts.insert(DhcpOption::ClientMachineIdentifier(guid));
        m
    }

    /// A client's message as the relay forwards it (giaddr `RELAY`, no ciaddr).
    fn relayed(kind: MessageType, arch: Option<u16>, class: Option<&[u8]>) -> Message {
        message(kind, RELAY, Ipv4Addr::UNSPECIFIED, arch, class)
    }

    fn bytes(message: &Message) -> Vec<u8> {
        message.to_vec().unwrap()
    }

    const PXE: Option<&[u8]> = Some(b"PXEClient:Arch:00000:UNDI:002001");

    #[test]
    fn refused_configurations_read_the_same() {
        if !super::c_twin_built() {
            return;
        }
        let long = "x".repeat(128);
        let just_fits = "y".repeat(127);
        for config in [
            vec![("boot_file", "x")],
            vec![("nbp_size", "1"), ("nbp_size", "2")],
            vec![("nbp_size", "0")],
            vec![("nbp_size", "1048577")],
            vec![("nbp_size", "big")],
            vec![("nbp_size", "99999999999999999999999")],
            vec![("nbp_size", "")],
            vec![("boot_file_efi", "")],
            vec![("boot_file_bios", long.as_str())],
            vec![("boot_file_bios", "a\0b")],
            vec![("boot_file_efi", "ok"), ("Boot_file_bios", "x")],
        ] {
            let (_, started) = start(&config);
            let Err(Failure::Refused(reason)) = started else {
                panic!("{config:?} started");
            };
            assert!(reason.to_string().starts_with("config `"), "{reason}");
        }
        for config in [
            vec![],
            vec![("nbp_size", " 12 ")],
            vec![("nbp_size", "+1048576")],
            vec![
                ("boot_file_bios", just_fits.as_str()),
                ("boot_file_efi", "é.efi"),
            ],
        ] {
            let (_, started) = start(&config);
            assert_eq!(started, Ok(()), "{config:?}");
        }
    }

    #[test]
    fn dhcp_replies_are_byte_identical() {
        if !super::c_twin_built() {
            return;
        }
        let (mut twins, started) = start(&[]);
        started.unwrap();
        let relay = SocketAddrV4::new(RELAY, 67);
        let client = SocketAddrV4::new(CLIENT_IP, 68);
        let broadcast_client = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
        let discover = |giaddr, arch| {
            bytes(&message(
                MessageType::Discover,
                giaddr,
                Ipv4Addr::UNSPECIFIED,
                arch,
                PXE,
            ))
        };
        // Answered: direct and relayed DISCOVERs, every architecture, and a 4011 REQUEST.
        for arch in [None, Some(0), Some(6), Some(7), Some(9), Some(11)] {
            for (src, giaddr) in [(broadcast_client, Ipv4Addr::UNSPECIFIED), (relay, RELAY)] {
                let effects = twins.datagram(src, 67, discover(giaddr, arch));
                assert_eq!(sends(&effects).len(), 1, "arch {arch:?} via {giaddr}");
            }
            let request = message(
                MessageType::Request,
                Ipv4Addr::UNSPECIFIED,
                CLIENT_IP,
                arch,
                PXE,
            );
            let effects = twins.datagram(client, 4011, bytes(&request));
            assert_eq!(sends(&effects)[0].dst, client);
        }
        // Odd but well-formed: pad bytes between options, bytes after End, no End, an empty
        // option 97, hlen 0, a class that only starts with PXEClient, flags without broadcast.
        let plain = discover(RELAY, Some(9));
        let mut padded = plain[..240].to_vec();
        padded.extend([0, 0, 0]);
        padded.extend(&plain[240..]);
        let mut trailing = plain.clone();
        trailing.extend([1, 2, 3]);
        let no_end = plain[..plain.len() - 1].to_vec();
        let mut empty_guid = relayed(MessageType::Discover, Some(0), PXE);
        empty_guid
            .opts_mut()
            .insert(DhcpOption::ClientMachineIdentifier(Vec::new()));
        let mut no_hlen = relayed(MessageType::Discover, Some(0), PXE);
        no_hlen.set_chaddr(&[]);
        let mut unicast = relayed(MessageType::Discover, Some(7), Some(b"PXEClient"));
        unicast.set_flags(Flags::default());
        for payload in [
            padded,
            trailing,
            no_end,
            bytes(&empty_guid),
            bytes(&no_hlen),
            bytes(&unicast),
        ] {
            let effects = twins.datagram(relay, 67, payload);
            assert_eq!(sends(&effects).len(), 1);
        }
        // Ignored: not PXE, not the right message for the port, not DHCP at all.
        let mut oversized_hlen = plain.clone();
        oversized_hlen[2] = 17;
        let mut no_cookie = plain.clone();
        no_cookie[236] = 0;
        let mut reply = relayed(MessageType::Discover, Some(0), PXE);
        reply.set_opcode(Opcode::BootReply);
        for (port, payload) in [
            (67, bytes(&relayed(MessageType::Discover, Some(0), None))),
            (
                67,
                bytes(&relayed(MessageType::Discover, Some(0), Some(b"PXEClien"))),
            ),
            (67, bytes(&relayed(MessageType::Request, Some(0), PXE))),
            (4011, plain.clone()),
            (67, bytes(&reply)),
            (67, oversized_hlen),
            (67, no_cookie),
            (67, plain[..239].to_vec()),
            (67, Vec::new()),
            (4011, vec![0xff; 600]),
            (68, plain.clone()),
        ] {
            assert!(
                twins.datagram(relay, port, payload).is_empty(),
                "port {port}"
            );
        }
    }

    fn rrq(filename: &str, mode: &str, options: Vec<(&str, &str)>) -> Vec<u8> {
        Repr::ReadRequest {
            filename,
            mode,
            options,
        }
        .to_bytes()
    }

    fn ack(block: u16) -> Vec<u8> {
        Repr::Ack { block }.to_bytes()
    }

    #[test]
    fn tftp_transfers_are_byte_identical() {
        if !super::c_twin_built() {
            return;
        }
        let (mut twins, started) = start(&[("nbp_size", "5000")]);
        started.unwrap();
        let client = SocketAddrV4::new(CLIENT_IP, 2070);
        let stranger = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 101), 2070);

        // Options answered in the order asked, a refused one skipped and a later copy taken.
        let effects = twins.datagram(
            client,
            69,
            rrq(
                "\\PXELINUX.0",
                "OCTET",
                vec![
                    ("blksize", "4"),
                    ("tsize", "0"),
                    ("BLKSIZE", "1024"),
                    ("blksize", "2000"),
                    ("timeout", "0"),
                    ("Timeout", "3"),
                    ("windowsize", "4"),
                ],
            ),
        );
        let transfer_port = sends(&effects)[0].src.port();
        let first_timer = last_timer(&effects).unwrap();
        // ACK 0, a duplicate, a stranger, a stale timer, then the live one: one retransmission.
        assert_eq!(
            sends(&twins.datagram(client, transfer_port, ack(0))).len(),
            1
        );
        assert!(twins.datagram(client, transfer_port, ack(0)).is_empty());
        assert_eq!(
            sends(&twins.datagram(stranger, transfer_port, ack(1))).len(),
            1
        );
        assert!(twins.timer(first_timer).is_empty(), "a stale timer");
        let effects = twins.datagram(client, transfer_port, ack(1));
        let live = last_timer(&effects).unwrap();
        assert_eq!(sends(&twins.timer(live)).len(), 1, "a retransmission");
        // To the end: 5000 bytes in 1024-byte blocks.
        let mut block = 2;
        loop {
            let effects = twins.datagram(client, transfer_port, ack(block));
            if sends(&effects).is_empty() {
                break;
            }
            block += 1;
        }
        assert_eq!(block, 5);

        // No options: DATA 1 at once, then five retransmissions and the transfer is abandoned.
        let effects = twins.datagram(client, 69, rrq("bootx64.efi", "octet", vec![]));
        let mut timer = last_timer(&effects).unwrap();
        for retransmission in 0..6 {
            let effects = twins.timer(timer);
            if retransmission < 5 {
                assert_eq!(sends(&effects).len(), 1);
                timer = last_timer(&effects).unwrap();
            } else {
                assert!(effects.is_empty(), "abandoned");
            }
        }

        // Clamped, out-of-range and odd numbers; the client ends a transfer with an error.
        for options in [
            vec![("blksize", "70000"), ("tsize", "x")],
            vec![("blksize", "5000000000"), ("timeout", "256")],
            vec![("blksize", "+512"), ("timeout", "+255")],
            vec![("blksize", ""), ("timeout", "1.5")],
        ] {
            let effects = twins.datagram(client, 69, rrq("/bootx64.efi", "octet", options));
            let port = sends(&effects)[0].src.port();
            let error = Repr::Error {
                code: 0,
                message: "tsize probe",
            }
            .to_bytes();
            assert!(twins.datagram(client, port, error).is_empty());
            assert!(twins.datagram(client, port, ack(0)).is_empty(), "ended");
        }

        // Errors: a write, another mode, a missing file; silence for non-requests and garbage.
        for payload in [
            Repr::WriteRequest {
                filename: "pxelinux.0",
                mode: "octet",
                options: vec![],
            }
            .to_bytes(),
            rrq("pxelinux.0", "netascii", vec![]),
            rrq("pxelinux.1", "octet", vec![]),
        ] {
            assert_eq!(sends(&twins.datagram(client, 69, payload)).len(), 1);
        }
        for payload in [
            ack(1),
            b"\x00\x01pxelinux.0\x00octet".to_vec(),
            b"\x00\x01pxelinux.0\x00octet\x00blksize\x00".to_vec(),
            b"\x00\x01\xff\xfe\x00octet\x00".to_vec(),
            b"\x00\x09".to_vec(),
            vec![0],
        ] {
            assert!(twins.datagram(client, 69, payload).is_empty());
        }
    }
}
