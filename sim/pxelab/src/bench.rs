//! `pxelab bench`: the figures that say how fast pxelab explores races, each next to a
//! baseline measured in the same process (the bare event loop, or one job), never against a
//! number from another machine.

use std::path::Path;
use std::time::{Duration, Instant};

use engine::app::{AppContext, Datagram, Effect, Input};
use engine::log::Kind;
use engine::tap::Tap;
use engine::world::{Attachment, LanConfig, Limits};
use engine::{Node, World};
use serde_json::{Value, json};
use smoltcp::wire::EthernetAddress;
use topology::{Plan, ServiceFactory};

use crate::{Services, SweepOptions, sweep_observed};

/// How much to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Events of the bare event loop.
    pub bare_events: u64,
    /// Seeds of the KB2510665 sweep, run with 1 and with 2 jobs.
    pub sweep_seeds: u64,
    /// World builds timed for the per-seed fixed cost.
    pub builds: u64,
    /// Datagrams handed straight to a plugin.
    pub plugin_datagrams: u64,
    /// Client counts of the boot storm.
    pub storm_clients: Vec<u32>,
}

impl BenchOptions {
    pub fn full() -> BenchOptions {
        BenchOptions {
            bare_events: 2_000_000,
            sweep_seeds: 1000,
            builds: 700,
            plugin_datagrams: 50_000,
            // 10,000 clients is still out of reach: a broadcast costs a LAN draw and a FIFO
            // entry per port, so the storm's cost grows with the square of the clients
            // (docs/performance.md).
            storm_clients: vec![100, 1000, 10000],
        }
    }

    /// A run of a few seconds, to check the benchmark itself works.
    pub fn quick() -> BenchOptions {
        BenchOptions {
            bare_events: 50_000,
            sweep_seeds: 8,
            builds: 5,
            plugin_datagrams: 200,
            storm_clients: vec![20],
        }
    }
}

/// One measured figure, with the target it is held to, if any.
#[derive(Clone, Debug)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// What else was measured along with it, for the person reading.
    pub detail: String,
    pub target: Option<Target>,
}

#[derive(Clone, Copy, Debug)]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Figure {
    pub fn met(&self) -> Option<bool> {
        self.target.map(|target| match target {
            Target::AtLeast(limit) => self.value >= limit,
            Target::AtMost(limit) => self.value <= limit,
        })
    }
}

/// Peak and current resident memory of this process in KiB, from /proc (Linux); `None`
/// elsewhere.
fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|line| line.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Resets the peak resident memory to the current one (Linux 4.0+), so each scenario's peak
/// is its own.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The bare event loop: one LAN, one tap that only re-arms a timer. Every event goes through
/// the same queue, dispatch and event log as a real run.
fn bare_loop(events: u64) -> (f64, u64) {
    let mut world = World::new(
        0,
        Limits {
            events_max: events + 10,
            sim_time_max_ns: u64::MAX,
        },
    );
    let lan = world.add_lan(
        "lan",
        LanConfig::with_latency(timing::Distribution::constant(0)),
    );
    let attachment = Attachment {
        lan,
        mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
        addresses: vec![],
        virtual_macs: vec![],
    };
    world.add_node(
        "ticker",
        Node::Tap(Tap::ticker(1_000, events)),
        vec![attachment],
        0,
    );
    let started = Instant::now();
    world.run();
    let elapsed = started.elapsed();
    (
        elapsed.as_nanos() as f64 / world.events().max(1) as f64,
        world.events(),
    )
}

/// A topology file's plan with `count: 100` of its clients replaced by `clients`, and with
/// `without_helpers`, no relays: the clients' DISCOVERs reach no server, so every event is a
/// native one (client retransmissions, HSRP, LAN deliveries).
fn storm_plan(path: &Path, clients: u32, without_helpers: bool) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !text.contains("count: 100\n") {
        return Err(format!(
            "{}: the bench sizes the storm by rewriting its `count: 100` line, which is missing",
            path.display()
        ));
    }
    let mut text = text.replacen("count: 100\n", &format!("count: {clients}\n"), 1);
    if without_helpers {
        text = text.replace("helpers: [10.2.0.10, 10.2.0.20]", "helpers: []");
    }
    topology::parse(path, &text).map_err(|e| e.to_string())
}

/// A DISCOVER as the DHCP server receives it, taken from a real run of `plan`.
fn relayed_discover(plan: &Plan, services: &Services) -> Result<Datagram, String> {
    let (world, _) = crate::run(plan, 7, services).map_err(|e| e.to_string())?;
    let log = world.log().ok_or("no log")?;
    let dhcp = world
        .node_id("dhcp")
        .ok_or("no `dhcp` server in the topology")?;
    for record in log.records() {
        let Kind::Receive { frame, .. } = &record.kind else {
            continue;
        };
        if record.node != dhcp {
            continue;
        }
        let parsed = engine::frame::parse(frame).map_err(|e| format!("{e:?}"))?;
        if let (Some(ip), Some((udp, payload))) = (parsed.ipv4, parsed.udp) {
            return Ok(Datagram {
                src: std::net::SocketAddrV4::new(ip.src_addr, udp.src_port),
                dst: std::net::SocketAddrV4::new(ip.dst_addr, udp.dst_port),
                payload: payload.to_vec(),
            });
        }
    }
    Err("the run delivered no DHCP message to `dhcp`".to_string())
}

/// Timed batches for the short measurements, reported as their median.
const BATCHES: u64 = 7;
/// Runs of the bare loop and of each native storm, the fastest of which is reported.
const RUNS: u64 = 3;

/// What dhcp-server does with a DISCOVER, minus the plugin: decode it, build the OFFER with the
/// same options, encode it.
fn native_offer(payload: &[u8]) -> Result<Vec<u8>, String> {
    use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};
    use dhcproto::{Decodable, Decoder, Encodable, Encoder};
    let request = Message::decode(&mut Decoder::new(payload)).map_err(|e| e.to_string())?;
    let mut reply = Message::default();
    reply
        .set_opcode(Opcode::BootReply)
        .set_htype(request.htype())
        .set_xid(request.xid())
        .set_flags(request.flags())
        .set_giaddr(request.giaddr())
        .set_chaddr(request.chaddr())
        .set_yiaddr(std::net::Ipv4Addr::new(10, 1, 0, 100));
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::MessageType(MessageType::Offer));
    opts.insert(DhcpOption::ServerIdentifier(std::net::Ipv4Addr::new(
        10, 2, 0, 10,
    )));
    opts.insert(DhcpOption::AddressLeaseTime(86_400));
    opts.insert(DhcpOption::SubnetMask(std::net::Ipv4Addr::new(
        255, 255, 0, 0,
    )));
    opts.insert(DhcpOption::Router(vec![std::net::Ipv4Addr::new(
        10, 1, 0, 1,
    )]));
    let mut buffer = Vec::with_capacity(300);
    reply
        .encode(&mut Encoder::new(&mut buffer))
        .map_err(|e| e.to_string())?;
    Ok(buffer)
}

/// Counts the heap bytes in use, where the binary's allocator can (the CLI's counts while
/// `counting(true)`): how the idle-client memory is measured.
#[derive(Clone, Copy)]
pub struct HeapProbe {
    pub counting: fn(bool),
    pub live_bytes: fn() -> u64,
}

/// Runs the benchmarks. `progress` hears what is being measured.
pub fn bench(
    topologies: &Path,
    services: &Services,
    options: &BenchOptions,
    heap: Option<HeapProbe>,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Figure>, String> {
    let mut figures = Vec::new();

    progress("bare event loop");
    // The fastest of a few runs, here and for the native events it is the baseline of: on a
    // shared machine the fastest run is the one least disturbed.
    let (bare_ns, bare_events) = (0..RUNS)
        .map(|_| bare_loop(options.bare_events.div_ceil(RUNS)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .expect("at least one run");
    figures.push(Figure {
        name: "bare event loop".into(),
        value: bare_ns,
        unit: "ns/event",
        detail: format!("{bare_events} timer events through queue, dispatch and log, fastest of {RUNS} runs: the baseline"),
        target: None,
    });

    let kb = topology::load(&topologies.join("kb2510665.yaml")).map_err(|e| e.to_string())?;
    progress("per-seed fixed cost");
    crate::run(&kb, 0, services).map_err(|e| e.to_string())?; // plugins compiled and cached
    // Short batches, their median: one batch is a few milliseconds, which a noisy neighbour
    // can double.
    let mut batch_us = Vec::new();
    let per_batch = options.builds.div_ceil(BATCHES).max(1);
    for batch in 0..BATCHES {
        let started = Instant::now();
        for seed in batch * per_batch..(batch + 1) * per_batch {
            let world = kb.build(seed, services).map_err(|e| e.to_string())?;
            std::hint::black_box(&world);
        }
        batch_us.push(started.elapsed().as_secs_f64() * 1e6 / per_batch as f64);
    }
    batch_us.sort_by(f64::total_cmp);
    let build_us = batch_us[batch_us.len() / 2];
    figures.push(Figure {
        name: "per-seed fixed cost".into(),
        value: build_us,
        unit: "us/seed",
        detail: format!(
            "building the KB world and instantiating its 2 plugins: median of {BATCHES} batches of {per_batch} builds (batches {:.1} to {:.1})",
            batch_us[0],
            batch_us[batch_us.len() - 1]
        ),
        target: Some(Target::AtMost(100.0)),
    });

    let seeds: Vec<u64> = (0..options.sweep_seeds).collect();
    let mut rates = Vec::new();
    for jobs in [1, 2] {
        progress(&format!("KB2510665 sweep, {jobs} job(s)"));
        let started = Instant::now();
        let sweep = SweepOptions {
            jobs,
            check_determinism: false,
            stop: None,
        };
        let outcome =
            sweep_observed(&kb, &seeds, sweep, services, &mut |_| {}).map_err(|e| e.to_string())?;
        let rate = per_second(outcome.result.runs, started.elapsed());
        rates.push(rate);
        figures.push(Figure {
            name: format!("KB2510665 sweep, {jobs} job(s)"),
            value: rate,
            unit: "seeds/s",
            detail: format!(
                "{} seeds, {} crashed",
                outcome.result.runs, outcome.result.crashed_runs
            ),
            target: None,
        });
    }
    figures.push(Figure {
        name: "2 jobs / 1 job".into(),
        value: rates[1] / rates[0].max(1e-9),
        unit: "x",
        detail: format!(
            "on {} core(s)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ),
        target: Some(Target::AtLeast(1.8)),
    });

    progress("plugin call per datagram");
    let discover = relayed_discover(&kb, services)?;
    let mut app = services
        .create(
            "dhcp",
            "dhcp-server",
            Path::new("."),
            &[
                ("pool".into(), "10.1.0.100-10.1.255.199".into()),
                ("subnet_mask".into(), "255.255.0.0".into()),
                ("router".into(), "10.1.0.1".into()),
            ],
            engine::Stream::new(0, "bench", "plugin"),
        )
        .map_err(|e| e.to_string())?;
    let own_ip = std::net::Ipv4Addr::new(10, 2, 0, 10);
    let mut effects = Vec::new();
    let cx = AppContext { now_ns: 0, own_ip };
    app.handle(&cx, Input::Start, &mut effects)
        .map_err(|e| e.to_string())?;
    // The host's share: the same datagram to a port the plugin returns from at once.
    let ignored = Datagram {
        dst: std::net::SocketAddrV4::new(*discover.dst.ip(), 9),
        ..discover.clone()
    };
    let started = Instant::now();
    for _ in 0..options.plugin_datagrams {
        effects.clear();
        app.handle(&cx, Input::Datagram(&ignored), &mut effects)
            .map_err(|e| e.to_string())?;
    }
    let empty_ns = started.elapsed().as_nanos() as f64 / options.plugin_datagrams.max(1) as f64;
    // The whole job: DISCOVERs from 1,000 clients in turn, each followed by the timer call that
    // sends its OFFER once the processing delay is over.
    let clients = 1000;
    let datagrams: Vec<Datagram> = (0..clients)
        .map(|n: u32| {
            let mut datagram = discover.clone();
            if let Some(chaddr) = datagram.payload.get_mut(28..34) {
                chaddr[2..].copy_from_slice(&n.to_be_bytes());
            }
            datagram
        })
        .collect();
    let mut offers = 0u64;
    let started = Instant::now();
    for call in 0..options.plugin_datagrams {
        let cx = AppContext {
            now_ns: call * 1_000_000,
            own_ip,
        };
        effects.clear();
        let datagram = &datagrams[(call % u64::from(clients)) as usize];
        app.handle(&cx, Input::Datagram(datagram), &mut effects)
            .map_err(|e| e.to_string())?;
        let timers: Vec<u64> = effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::SetTimer { token, .. } => Some(*token),
                _ => None,
            })
            .collect();
        for token in timers {
            app.handle(&cx, Input::Timer(token), &mut effects)
                .map_err(|e| e.to_string())?;
        }
        offers += effects
            .iter()
            .filter(|effect| matches!(effect, Effect::Send(_)))
            .count() as u64;
    }
    let call_ns = started.elapsed().as_nanos() as f64 / options.plugin_datagrams.max(1) as f64;
    if offers != options.plugin_datagrams {
        return Err(format!(
            "dhcp-server sent {offers} OFFERs for {} DISCOVERs",
            options.plugin_datagrams
        ));
    }
    // The floor for any server built on dhcproto: the same DISCOVERs decoded and an OFFER
    // built and encoded, natively, with no plugin around them.
    let started = Instant::now();
    for call in 0..options.plugin_datagrams {
        let payload = &datagrams[(call % u64::from(clients)) as usize].payload;
        std::hint::black_box(native_offer(std::hint::black_box(payload))?);
    }
    let native_ns = started.elapsed().as_nanos() as f64 / options.plugin_datagrams.max(1) as f64;
    figures.push(Figure {
        name: "plugin call, host share".into(),
        value: empty_ns / 1000.0,
        unit: "us",
        detail: format!(
            "the DISCOVER to a port dhcp-server returns from at once: component call, payload copy, fuel; {} calls ({:.1}x the bare event)",
            options.plugin_datagrams,
            empty_ns / bare_ns
        ),
        target: None,
    });
    figures.push(Figure {
        name: "plugin-handled datagram".into(),
        value: call_ns / 1000.0,
        unit: "us",
        detail: format!(
            "a relayed DISCOVER (one of {clients} clients) into dhcp-server and the timer call that sends its OFFER, {} of each; {:.0}% host share, {:.0}x the bare event",
            options.plugin_datagrams,
            200.0 * empty_ns / call_ns,
            call_ns / bare_ns
        ),
        target: Some(Target::AtMost(2.0)),
    });
    figures.push(Figure {
        name: "DHCP decode + encode, native".into(),
        value: native_ns / 1000.0,
        unit: "us",
        detail: format!(
            "dhcproto decoding the same DISCOVERs and encoding an OFFER, in the host: the floor for a dhcproto-based plugin; the plugin takes {:.1}x this",
            call_ns / native_ns
        ),
        target: None,
    });

    let storm = topologies.join("boot-storm.yaml");
    for &clients in &options.storm_clients {
        progress(&format!("boot storm, {clients} clients, no relays"));
        let plan = storm_plan(&storm, clients, true)?;
        let mut native_ns = f64::INFINITY;
        let mut events = 0;
        for _ in 0..RUNS {
            let storm = storm_run(&plan, services)?;
            events = storm.events;
            native_ns = native_ns.min(storm.elapsed.as_nanos() as f64 / events.max(1) as f64);
        }
        figures.push(Figure {
            name: format!("native event, {clients} clients"),
            value: native_ns / bare_ns,
            unit: "x bare",
            detail: format!(
                "{native_ns:.0} ns/event over {events} client, router and LAN events (the storm with no relays; fastest of {RUNS} runs)"
            ),
            target: Some(Target::AtMost(10.0)),
        });

        progress(&format!("boot storm, {clients} clients"));
        let plan = storm_plan(&storm, clients, false)?;
        let idle_bytes = heap.map(|heap| {
            (heap.counting)(true);
            let before = (heap.live_bytes)();
            let world = plan.build(1, services);
            let after = (heap.live_bytes)();
            (heap.counting)(false);
            drop(world);
            after.saturating_sub(before)
        });
        let Storm {
            events,
            elapsed,
            sim_ns,
            peak_kib: memory,
            booted,
        } = storm_run(&plan, services)?;
        let booted_detail = format!(
            "{booted} of {clients} clients booted; {events} events, {:.3} s simulated, {:.2} s wall ({:.3} s wall per simulated s)",
            sim_ns as f64 / 1e9,
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() / (sim_ns as f64 / 1e9).max(1e-9)
        );
        figures.push(Figure {
            name: format!("boot storm, {clients} clients"),
            value: per_second(events, elapsed),
            unit: "events/s",
            detail: booted_detail,
            target: (clients >= 10_000).then_some(Target::AtLeast(2_000_000.0)),
        });
        if let Some(peak_kib) = memory {
            figures.push(Figure {
                name: format!("peak memory, {clients} clients"),
                value: peak_kib as f64 / 1024.0,
                unit: "MiB",
                detail: format!(
                    "resident, during the run: {:.0} KiB per client, the event log holding {events} events",
                    peak_kib as f64 / clients as f64
                ),
                target: None,
            });
        }
        if let Some(bytes) = idle_bytes {
            figures.push(Figure {
                name: format!("idle client memory, {clients} clients"),
                value: bytes as f64 / clients as f64,
                unit: "bytes/client",
                detail:
                    "heap of the built world before it runs (plugin instances included), per client"
                        .to_string(),
                target: Some(Target::AtMost(2048.0)),
            });
        }
    }
    Ok(figures)
}

/// Builds and runs a storm: (events, wall time of the run, simulated ns, peak resident
/// memory in KiB).
/// What one storm run gave.
struct Storm {
    events: u64,
    elapsed: Duration,
    sim_ns: u64,
    /// Peak resident memory, where the platform tells.
    peak_kib: Option<u64>,
    booted: usize,
}

fn storm_run(plan: &Plan, services: &Services) -> Result<Storm, String> {
    reset_peak_memory();
    let mut world = plan.build(1, services).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let stop = world.run();
    let elapsed = started.elapsed();
    let peak_kib = memory_kib().map(|(peak, _)| peak);
    let report = engine::Report::from_world(&world, stop);
    let booted = report
        .clients
        .iter()
        .filter(|c| matches!(c.outcome, engine::client::Outcome::Booted { .. }))
        .count();
    Ok(Storm {
        events: world.events(),
        elapsed,
        sim_ns: world.now_ns(),
        peak_kib,
        booted,
    })
}

pub fn figures_json(figures: &[Figure]) -> Value {
    figures
        .iter()
        .map(|figure| {
            json!({
                "name": figure.name,
                "value": figure.value,
                "unit": figure.unit,
                "detail": figure.detail,
                "target": figure.target.map(|target| match target {
                    Target::AtLeast(limit) => json!({"at_least": limit}),
                    Target::AtMost(limit) => json!({"at_most": limit}),
                }),
                "met": figure.met(),
            })
        })
        .collect()
}
