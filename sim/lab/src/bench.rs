//! `pxelab bench`: the figures that say how fast pxelab explores races, each next to a
//! baseline measured in the same process (the bare event loop, or one job), never against a
//! number from another machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use engine::app::{AppContext, Datagram, Effect, Input};
use engine::log::{Kind, LogBytes, Retention};
use engine::scripted::Scripted;
use engine::world::{Attachment, LanConfig, Limits};
use engine::{Builder, Node};
use serde::Serialize;
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
    /// Client counts of storms run only in streaming mode (the log keeps no more than the
    /// report needs): `--storm N`, for sizes whose full log would not fit.
    pub streaming_storm_clients: Vec<u32>,
}

impl BenchOptions {
    pub fn full() -> BenchOptions {
        BenchOptions {
            bare_events: 2_000_000,
            sweep_seeds: 1000,
            builds: 700,
            plugin_datagrams: 50_000,
            storm_clients: vec![100, 1000, 10000],
            streaming_storm_clients: Vec::new(),
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
            streaming_storm_clients: Vec::new(),
        }
    }
}

/// One measured figure, with the target it is held to, if any. Its JSON (`bench --json`)
/// also says whether the target was met.
#[derive(Clone, Debug)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// What else was measured along with it, for the person reading.
    pub detail: String,
    pub target: Option<Target>,
}

/// Written `{"at_least": N}` or `{"at_most": N}`.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Serialize for Figure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Written<'a> {
            name: &'a str,
            value: f64,
            unit: &'a str,
            detail: &'a str,
            target: Option<Target>,
            met: Option<bool>,
        }
        Written {
            name: &self.name,
            value: self.value,
            unit: self.unit,
            detail: &self.detail,
            target: self.target,
            met: self.met(),
        }
        .serialize(serializer)
    }
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
/// is its own. The allocator first hands back what earlier scenarios freed: glibc's malloc keeps
/// freed pages resident, and a storm measured after a larger one would count them as its own.
fn reset_peak_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The bare event loop: one LAN, one tap that only re-arms a timer. Every event goes through
/// the same queue, dispatch and event log as a real run.
fn bare_loop(events: u64) -> (f64, u64) {
    let mut world = Builder::new(
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
        Node::Scripted(Scripted::ticker(1_000, events)),
        vec![attachment],
        0,
    );
    let world = world.build();
    let started = Instant::now();
    let run = world.run();
    let elapsed = started.elapsed();
    (
        elapsed.as_nanos() as f64 / run.events().max(1) as f64,
        run.events(),
    )
}

/// Why the benchmark could not measure.
#[derive(Debug)]
pub enum BenchError {
    /// A shipped topology does not load or run.
    Topology(topology::Error),
    /// The boot-storm file cannot be read.
    CannotRead {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The boot-storm file lacks a line the bench rewrites to size the storm.
    StormUnsized { path: PathBuf, line: &'static str },
    /// The plugin could not be instantiated or failed a call.
    Plugin(String),
    /// The KB run gave no DISCOVER to take as the plugin's input.
    NoDiscover(String),
    /// The native DHCP baseline could not decode or encode.
    Dhcp(String),
    /// dhcp-server answered `discovers` DISCOVERs with `offers` OFFERs.
    OfferCount { offers: u64, discovers: u64 },
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Topology(error) => write!(f, "{error}"),
            BenchError::CannotRead { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            BenchError::StormUnsized { path, line } => write!(
                f,
                "{}: the bench sizes the storm by rewriting its `{}` line, which is missing",
                path.display(),
                line.trim_end()
            ),
            BenchError::Plugin(message)
            | BenchError::NoDiscover(message)
            | BenchError::Dhcp(message) => write!(f, "{message}"),
            BenchError::OfferCount { offers, discovers } => write!(
                f,
                "dhcp-server sent {offers} OFFERs for {discovers} DISCOVERs"
            ),
        }
    }
}

impl std::error::Error for BenchError {}

impl From<topology::Error> for BenchError {
    fn from(error: topology::Error) -> BenchError {
        BenchError::Topology(error)
    }
}

impl From<engine::app::Failure> for BenchError {
    fn from(failure: engine::app::Failure) -> BenchError {
        BenchError::Plugin(failure.to_string())
    }
}

/// A topology file's plan with `count: 100` of its clients replaced by `clients`, and with
/// `without_helpers`, no relays: the clients' DISCOVERs reach no server, so every event is a
/// native one (client retransmissions, HSRP, LAN deliveries).
/// Clients powered on per second in the shipped storm (10,000 within 5 s); a larger storm
/// keeps the rate, so its power-on window grows with it.
const STORM_CLIENTS_PER_SECOND: u32 = 2_000;
/// Past this, the storm's /16 client VLAN (and the DHCP pool in it) is too small: a /14.
const STORM_SLASH16_CLIENTS_MAX: u32 = 60_000;

fn storm_plan(path: &Path, clients: u32, without_helpers: bool) -> Result<Plan, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|error| BenchError::CannotRead {
        path: path.to_path_buf(),
        error,
    })?;
    let mut text = text;
    let mut rewrite = |from: &'static str, to: String| -> Result<(), BenchError> {
        if !text.contains(from) {
            return Err(BenchError::StormUnsized {
                path: path.to_path_buf(),
                line: from,
            });
        }
        text = text.replace(from, &to);
        Ok(())
    };
    rewrite("count: 100\n", format!("count: {clients}\n"))?;
    let window_s = clients.div_ceil(STORM_CLIENTS_PER_SECOND);
    if window_s > 5 {
        rewrite(
            "power_on: uniform(0s, 5s)",
            format!("power_on: uniform(0s, {window_s}s)"),
        )?;
    }
    if clients > STORM_SLASH16_CLIENTS_MAX {
        // A campus-sized VLAN, 10.4.0.0/14, beside the servers' 10.2.0.0/24.
        for (from, to) in [
            ("subnet: 10.1.0.0/16", "subnet: 10.4.0.0/14"),
            ("ip: 10.1.0.2/16", "ip: 10.4.0.2/14"),
            ("ip: 10.1.0.3/16", "ip: 10.4.0.3/14"),
            ("virtual_ip: 10.1.0.1,", "virtual_ip: 10.4.0.1,"),
            ("pool: 10.1.1.0-10.1.254.254", "pool: 10.4.1.0-10.7.254.254"),
            ("subnet_mask: 255.255.0.0", "subnet_mask: 255.252.0.0"),
            ("router: 10.1.0.1\n", "router: 10.4.0.1\n"),
        ] {
            rewrite(from, to.to_string())?;
        }
    }
    if without_helpers {
        text = text.replace("helpers: [10.2.0.10, 10.2.0.20]", "helpers: []");
    }
    Ok(topology::parse(path, &text)?)
}

/// A DISCOVER as the DHCP server receives it, taken from a real run of `plan`.
fn relayed_discover(plan: &Plan, services: &Services) -> Result<Datagram, BenchError> {
    let run = crate::run(plan, 7, services)?;
    let no = |what: &str| BenchError::NoDiscover(what.to_string());
    let log = run.log();
    let dhcp = run
        .node_id("dhcp")
        .ok_or_else(|| no("no `dhcp` server in the topology"))?;
    for record in log.records() {
        let Kind::Receive { frame, .. } = &record.kind else {
            continue;
        };
        if record.node != dhcp {
            continue;
        }
        let bytes = frame.bytes();
        let parsed = engine::frame::parse(&bytes).map_err(|e| no(&format!("{e:?}")))?;
        if let (Some(ip), Some((udp, payload))) = (parsed.ipv4, parsed.udp) {
            return Ok(Datagram {
                src: std::net::SocketAddrV4::new(ip.src_addr, udp.src_port),
                dst: std::net::SocketAddrV4::new(ip.dst_addr, udp.dst_port),
                payload: payload.to_vec(),
            });
        }
    }
    Err(no("the run delivered no DHCP message to `dhcp`"))
}

/// Timed batches for the short measurements, reported as their median.
const BATCHES: u64 = 7;
/// Runs of the bare loop and of each native storm, the fastest of which is reported.
const RUNS: u64 = 3;

/// What dhcp-server does with a DISCOVER, minus the plugin: decode it, build the OFFER with the
/// same options, encode it.
fn native_offer(payload: &[u8]) -> Result<Vec<u8>, BenchError> {
    use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};
    use dhcproto::{Decodable, Decoder, Encodable, Encoder};
    let request =
        Message::decode(&mut Decoder::new(payload)).map_err(|e| BenchError::Dhcp(e.to_string()))?;
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
        .map_err(|e| BenchError::Dhcp(e.to_string()))?;
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
) -> Result<Vec<Figure>, BenchError> {
    let mut figures = Vec::new();
    progress("bare event loop");
    let bare_ns = bench_bare_loop(options, &mut figures);
    let kb = topology::load(&topologies.join("kb2510665.yaml"))?;
    progress("per-seed fixed cost");
    bench_builds(&kb, services, options, &mut figures)?;
    bench_sweeps(&kb, services, options, progress, &mut figures)?;
    progress("plugin call per datagram");
    bench_plugin(&kb, services, options, bare_ns, &mut figures)?;
    let storm = topologies.join("boot-storm.yaml");
    // The streaming storms' wall times, by clients: the baseline of the larger ones.
    let mut walls: Vec<(u32, Duration)> = Vec::new();
    for &clients in &options.storm_clients {
        progress(&format!("boot storm, {clients} clients, no relays"));
        bench_native_storm(&storm, clients, services, bare_ns, &mut figures)?;
        progress(&format!("boot storm, {clients} clients"));
        bench_storm(&storm, clients, services, heap, &mut figures)?;
        progress(&format!("boot storm, {clients} clients, streaming"));
        let wall = bench_streaming_storm(&storm, clients, services, &walls, &mut figures)?;
        walls.push((clients, wall));
    }
    for &clients in &options.streaming_storm_clients {
        progress(&format!("boot storm, {clients} clients, streaming"));
        let wall = bench_streaming_storm(&storm, clients, services, &walls, &mut figures)?;
        walls.push((clients, wall));
    }
    Ok(figures)
}

/// The bare loop's ns per event: the baseline of the native figures.
fn bench_bare_loop(options: &BenchOptions, figures: &mut Vec<Figure>) -> f64 {
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
    bare_ns
}

/// The per-seed fixed cost: building the KB world.
fn bench_builds(
    kb: &Plan,
    services: &Services,
    options: &BenchOptions,
    figures: &mut Vec<Figure>,
) -> Result<(), BenchError> {
    crate::run(kb, 0, services)?; // plugins compiled and cached
    // Short batches, their median: one batch is a few milliseconds, which a noisy neighbour
    // can double.
    let mut batch_us = Vec::new();
    let per_batch = options.builds.div_ceil(BATCHES).max(1);
    for batch in 0..BATCHES {
        let started = Instant::now();
        for seed in batch * per_batch..(batch + 1) * per_batch {
            let world = kb.build(seed, services)?;
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
        target: Some(Target::AtMost(40.0)),
    });
    Ok(())
}

/// The KB sweep with 1 and with 2 jobs, and their ratio.
fn bench_sweeps(
    kb: &Plan,
    services: &Services,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
    figures: &mut Vec<Figure>,
) -> Result<(), BenchError> {
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
        let outcome = sweep_observed(kb, &seeds, sweep, services, &mut |_| {})?;
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
    Ok(())
}

/// A dhcp-server instance as the KB topology's `dhcp` runs it, started.
fn started_dhcp_server(services: &Services) -> Result<Box<dyn engine::App>, BenchError> {
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
            &[],
            engine::Stream::new(0, "bench", "plugin"),
        )
        .map_err(|e| BenchError::Plugin(e.to_string()))?;
    let cx = AppContext {
        now_ns: 0,
        own_ip: DHCP_IP,
    };
    app.handle(&cx, Input::Start, &mut Vec::new())?;
    Ok(app)
}

const DHCP_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 2, 0, 10);

/// Nanoseconds per call of `discover` sent to a port the plugin returns from at once: the
/// host's share of a call.
fn host_share_ns(
    app: &mut dyn engine::App,
    discover: &Datagram,
    calls: u64,
) -> Result<f64, BenchError> {
    let ignored = Datagram {
        dst: std::net::SocketAddrV4::new(*discover.dst.ip(), 9),
        ..discover.clone()
    };
    let cx = AppContext {
        now_ns: 0,
        own_ip: DHCP_IP,
    };
    let mut effects = Vec::new();
    let started = Instant::now();
    for _ in 0..calls {
        effects.clear();
        app.handle(&cx, Input::Datagram(&ignored), &mut effects)?;
    }
    Ok(started.elapsed().as_nanos() as f64 / calls.max(1) as f64)
}

/// Nanoseconds per DISCOVER handled (the DISCOVER, then the timer call that sends its OFFER),
/// checking every DISCOVER got its OFFER.
fn plugin_call_ns(
    app: &mut dyn engine::App,
    datagrams: &[Datagram],
    calls: u64,
) -> Result<(f64, f64), BenchError> {
    let mut effects = Vec::new();
    let mut offers = 0u64;
    let mut fuel = 0u64;
    let started = Instant::now();
    for call in 0..calls {
        let cx = AppContext {
            now_ns: call * 1_000_000,
            own_ip: DHCP_IP,
        };
        effects.clear();
        let datagram = &datagrams[(call % datagrams.len() as u64) as usize];
        app.handle(&cx, Input::Datagram(datagram), &mut effects)?;
        fuel += app.last_cost();
        let timers: Vec<u64> = effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::SetTimer { token, .. } => Some(*token),
                _ => None,
            })
            .collect();
        for token in timers {
            app.handle(&cx, Input::Timer(token), &mut effects)?;
            fuel += app.last_cost();
        }
        offers += effects
            .iter()
            .filter(|effect| matches!(effect, Effect::Send(_)))
            .count() as u64;
    }
    let call_ns = started.elapsed().as_nanos() as f64 / calls.max(1) as f64;
    if offers != calls {
        return Err(BenchError::OfferCount {
            offers,
            discovers: calls,
        });
    }
    Ok((call_ns, fuel as f64 / calls.max(1) as f64))
}

/// A plugin call per datagram: the host's share, the whole job, and the native floor.
fn bench_plugin(
    kb: &Plan,
    services: &Services,
    options: &BenchOptions,
    bare_ns: f64,
    figures: &mut Vec<Figure>,
) -> Result<(), BenchError> {
    let calls = options.plugin_datagrams;
    let discover = relayed_discover(kb, services)?;
    let mut app = started_dhcp_server(services)?;
    let empty_ns = host_share_ns(app.as_mut(), &discover, calls)?;
    // The whole job: DISCOVERs from 1,000 clients in turn.
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
    let (call_ns, fuel) = plugin_call_ns(app.as_mut(), &datagrams, calls)?;
    // The floor for any server built on dhcproto: the same DISCOVERs decoded and an OFFER
    // built and encoded, natively, with no plugin around them.
    let started = Instant::now();
    for call in 0..calls {
        let payload = &datagrams[(call % u64::from(clients)) as usize].payload;
        std::hint::black_box(native_offer(std::hint::black_box(payload))?);
    }
    let native_ns = started.elapsed().as_nanos() as f64 / calls.max(1) as f64;
    figures.push(Figure {
        name: "plugin call, host share".into(),
        value: empty_ns / 1000.0,
        unit: "us",
        detail: format!(
            "the DISCOVER to a port dhcp-server returns from at once: component call, payload copy, fuel; {calls} calls ({:.1}x the bare event)",
            empty_ns / bare_ns
        ),
        target: None,
    });
    figures.push(Figure {
        name: "plugin-handled datagram".into(),
        value: call_ns / 1000.0,
        unit: "us",
        detail: format!(
            "a relayed DISCOVER (one of {clients} clients) into dhcp-server and the timer call that sends its OFFER, {calls} of each; {fuel:.0} fuel (wasm instructions, the same on every machine); {:.0}% host share, {:.0}x the bare event",
            200.0 * empty_ns / call_ns,
            call_ns / bare_ns
        ),
        target: Some(Target::AtMost(5.0)),
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
    Ok(())
}

/// The storm with no relays: native events only, against the bare loop.
fn bench_native_storm(
    storm: &Path,
    clients: u32,
    services: &Services,
    bare_ns: f64,
    figures: &mut Vec<Figure>,
) -> Result<(), BenchError> {
    let plan = storm_plan(storm, clients, true)?;
    let mut native_ns = f64::INFINITY;
    let mut events = 0;
    for _ in 0..RUNS {
        let storm = storm_run(&plan, services, Retention::All)?;
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
    Ok(())
}

/// Heap bytes of `plan`'s world built and not yet run.
fn idle_bytes(plan: &Plan, services: &Services, heap: HeapProbe) -> u64 {
    (heap.counting)(true);
    let before = (heap.live_bytes)();
    let world = plan.build(1, services);
    let after = (heap.live_bytes)();
    (heap.counting)(false);
    drop(world);
    after.saturating_sub(before)
}

/// The whole storm: its event rate, peak memory and idle memory per client.
fn bench_storm(
    storm: &Path,
    clients: u32,
    services: &Services,
    heap: Option<HeapProbe>,
    figures: &mut Vec<Figure>,
) -> Result<(), BenchError> {
    let plan = storm_plan(storm, clients, false)?;
    let idle_bytes = heap.map(|heap| idle_bytes(&plan, services, heap));
    let Storm {
        events,
        elapsed,
        sim_ns,
        peak_kib: memory,
        booted,
        log_bytes,
    } = storm_run(&plan, services, Retention::All)?;
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
        target: (clients >= 10_000).then_some(Target::AtLeast(EVENTS_PER_SECOND_MIN)),
    });
    let per_event = |bytes: usize| bytes as f64 / events.max(1) as f64;
    figures.push(Figure {
        name: format!("event log bytes per event, {clients} clients"),
        value: per_event(log_bytes.total()),
        unit: "bytes/event",
        detail: format!(
            "the whole log's heap, counted, not estimated: records {:.0}, frames {:.0} (each allocation once), text {:.0} bytes per event",
            per_event(log_bytes.records),
            per_event(log_bytes.frames),
            per_event(log_bytes.text)
        ),
        target: (clients >= 10_000).then_some(Target::AtMost(64.0)),
    });
    if let Some(peak_kib) = memory {
        figures.push(Figure {
            name: format!("resident bytes per event, {clients} clients"),
            value: peak_kib as f64 * 1024.0 / events.max(1) as f64,
            unit: "bytes/event",
            detail: "peak resident memory of the run with its whole event log, per event: the log, the nodes, the plugins and the queue".to_string(),
            target: None,
        });
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
    Ok(())
}

/// The 10,000-client storm's event rate, relays and plugins included (issue of scale).
const EVENTS_PER_SECOND_MIN: f64 = 1_000_000.0;
/// Peak resident memory of a 100,000-client storm.
const STORM_100K_MEMORY_MAX_MIB: f64 = 4096.0;

/// The storm with a streaming log (`Retention::Summary`: only crashes and server receptions
/// kept; the digest still covers every record): every client boots, the event rate, peak
/// memory, and wall time against the largest smaller streaming storm of this run, which should
/// grow no faster than the clients. Returns the wall time.
fn bench_streaming_storm(
    storm: &Path,
    clients: u32,
    services: &Services,
    smaller: &[(u32, Duration)],
    figures: &mut Vec<Figure>,
) -> Result<Duration, BenchError> {
    let plan = storm_plan(storm, clients, false)?;
    let Storm {
        events,
        elapsed,
        sim_ns,
        peak_kib,
        booted,
        ..
    } = storm_run(&plan, services, Retention::Summary)?;
    figures.push(Figure {
        name: format!("clients booted, {clients} clients, streaming"),
        value: booted as f64,
        unit: "clients",
        detail: format!(
            "{events} events, {:.3} s simulated, {:.2} s wall",
            sim_ns as f64 / 1e9,
            elapsed.as_secs_f64()
        ),
        target: Some(Target::AtLeast(f64::from(clients))),
    });
    figures.push(Figure {
        name: format!("boot storm, {clients} clients, streaming"),
        value: per_second(events, elapsed),
        unit: "events/s",
        detail: "the same storm keeping only what its report needs".to_string(),
        target: (clients >= 10_000).then_some(Target::AtLeast(EVENTS_PER_SECOND_MIN)),
    });
    if let Some(peak_kib) = peak_kib {
        figures.push(Figure {
            name: format!("peak memory, {clients} clients, streaming"),
            value: peak_kib as f64 / 1024.0,
            unit: "MiB",
            detail: format!(
                "resident, during the run: {:.1} KiB per client, {:.0} bytes per event",
                peak_kib as f64 / f64::from(clients),
                peak_kib as f64 * 1024.0 / events.max(1) as f64
            ),
            target: (clients >= 100_000).then_some(Target::AtMost(STORM_100K_MEMORY_MAX_MIB)),
        });
    }
    if let Some(&(base_clients, base_wall)) = smaller
        .iter()
        .filter(|(c, _)| *c < clients)
        .max_by_key(|(c, _)| *c)
    {
        let growth = f64::from(clients) / f64::from(base_clients);
        figures.push(Figure {
            name: format!("wall, {clients} / {base_clients} clients, streaming"),
            value: elapsed.as_secs_f64() / base_wall.as_secs_f64().max(1e-9),
            unit: "x",
            detail: format!(
                "{:.2} s against {:.2} s; linear growth is {growth:.0}x",
                elapsed.as_secs_f64(),
                base_wall.as_secs_f64()
            ),
            target: Some(Target::AtMost(growth)),
        });
    }
    Ok(elapsed)
}

/// What one storm run gave.
struct Storm {
    events: u64,
    elapsed: Duration,
    sim_ns: u64,
    /// Peak resident memory, where the platform tells.
    peak_kib: Option<u64>,
    booted: usize,
    /// What the run's log kept takes on the heap.
    log_bytes: LogBytes,
}

/// Builds and runs a storm.
fn storm_run(plan: &Plan, services: &Services, retention: Retention) -> Result<Storm, BenchError> {
    reset_peak_memory();
    let mut builder = plan.builder(1, services, None)?;
    builder.retain(retention);
    let world = builder.build();
    let started = Instant::now();
    let run = world.run();
    let elapsed = started.elapsed();
    let peak_kib = memory_kib().map(|(peak, _)| peak);
    let booted = run
        .report()
        .clients
        .iter()
        .filter(|c| matches!(c.outcome, engine::client::Outcome::Booted { .. }))
        .count();
    Ok(Storm {
        events: run.events(),
        elapsed,
        sim_ns: run.now_ns(),
        peak_kib,
        booted,
        log_bytes: run.log().heap_bytes(),
    })
}
