//! Conformance with real routers: a keepalived VRRP pair whose two routers both run ISC
//! dhcrelay in front of ISC dhcpd, in network namespaces this test creates, against pxelab's
//! simulated pair of the same shape. Both sides are reduced to the same named observations
//! (`harness::observe`): the VRRP adverts' fields, the takeover after the master is killed
//! (`kill -9`, a crash) and after it is stopped (SIGTERM, priority 0), the new master's
//! gratuitous ARPs, and the fields of the two relayed copies of a client's DISCOVER. Every field
//! must agree; timings within the tolerance stated in `rule`. The real side is what the engine
//! must match: where the two differ the test fails and prints both values.
//!
//! Needs root, network namespaces and the Debian packages `keepalived`, `isc-dhcp-relay`,
//! `isc-dhcp-server`, `tcpdump`, `iproute2` and `procps`; without them it says `skipped:` and
//! passes, except under CI (`PXELAB_REQUIRE_TOOLS=1`), where it fails.

mod discover;
pub(crate) mod harness;

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::tools;
use dhcproto::v4::MessageType;
use engine::log::Kind;
use harness::observe::{self, Frame, Lan, Observed, Value};
use harness::{Lab, Role, now_ns};

const WHAT: &str = "real VRRP pair and DHCP relays (tests/it/real_relay)";

/// The client's DISCOVERs: three, so the relay gap is seen more than once.
const XIDS: [u32; 3] = [0x5e1a_0001, 0x5e1a_0002, 0x5e1a_0003];

const MS: i64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// The simulated twin of the lab: the same addresses and MACs, keepalived's VRRP (v2, advert
/// 1 s, priorities 110/100, 5 + 5 gratuitous ARPs), dhcrelay-like relays on both routers (a
/// Linux relay's latency: median ~0.2 ms, DOMAIN.md), a DHCP server with a pool on the client
/// LAN, one client, and r1's fault at 20 s (`FAULT` is replaced by `crash` or `shutdown`, and
/// `ROUTERS` by the two routers' sections).
const TOPOLOGY: &str = "\
name: real-relay-twin
description: keepalived VRRP pair, both routers relaying DHCP like ISC dhcrelay, to one DHCP server

limits:
  sim_time: 60s
  events: 2000000
  min_sim_time: 40s

lans:
  clients:
    subnet: 10.1.0.0/24
    latency: uniform(10us, 60us)
  servers:
    subnet: 10.2.0.0/24
    latency: uniform(10us, 50us)

routers:
ROUTERS

servers:
  dhcp:
    lan: servers
    ip: 10.2.0.10/24
    mac: 02:00:00:02:00:10
    gateway: 10.2.0.2
    plugin: dhcp-server
    config:
      pool: 10.1.0.100-10.1.0.199
      subnet_mask: 255.255.255.0
      router: 10.1.0.1
      lease_secs: 600

clients:
  - name: pc
    lan: clients
    mac: 02:00:00:00:00:42
    power_on: const(2s)

faults:
  - { at: 20s, FAULT: r1 }
";

/// One of the twin's routers (`ROUTERS` in `TOPOLOGY`): host `{host}` of both LANs, at MAC
/// `02:00:00:0L:00:0{host}` on LAN L (1 clients, 2 servers), in VRRP group 10 at `priority`,
/// relaying to the DHCP server.
fn router(name: &str, host: u8, priority: u8) -> String {
    format!(
        "  {name}:
    relay_delay: lognormal(median=200us, sigma=0.7, max=4ms)
    platform: keepalived          # Linux: keepalived without use_vmac, ISC dhcrelay
    interfaces:
      - name: ethc
        lan: clients
        ip: 10.1.0.{host}/24
        mac: 02:00:00:01:00:0{host}
        redundancy: {{ protocol: vrrp, group: 10, virtual_ip: 10.1.0.1, priority: {priority} }}
        helpers: [10.2.0.10]
      - name: eths
        lan: servers
        ip: 10.2.0.{host}/24
        mac: 02:00:00:02:00:0{host}
"
    )
}

/// The twin's topology with r1's fault `fault`.
fn twin_topology(fault: &str) -> String {
    let routers = router("r1", 2, 110) + &router("r2", 3, 100);
    TOPOLOGY
        .replace("ROUTERS\n", &routers)
        .replace("FAULT", fault)
}

const SIM_FAULT_NS: u64 = 20 * S;
const SIM_SEED: u64 = 1;

/// How a field of the real side and the same field of the simulated side must relate.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// The same text.
    Exact,
    /// Durations within this many nanoseconds of each other.
    Within(i64),
    /// Each side's duration at most this: a figure set by host scheduling on the real side, so
    /// not compared with the simulated one.
    Below(i64),
    /// Printed, not compared: chosen by the kernel, not by the software under comparison.
    Info,
}

/// The rule for field `name`; text fields are exact unless listed.
fn rule(name: &str) -> Rule {
    // Both sides count adverts on the same 1 s timer; keepalived's timer drifts by ~0.2 ms a
    // period, so 20 ms is generous and still catches a wrong interval.
    if name.starts_with("steady r1 advert period") {
        return Rule::Within(20 * MS);
    }
    // Master_Down_Interval (3.609 s at priority 100) and Skew_Time (0.609 s) are RFC 3768/5798
    // timers on both sides; keepalived lands within ~1 ms of them, the simulator exactly (plus
    // LAN latency). 50 ms allows for a loaded host and is still far below one advert interval.
    if name.ends_with("takeover (last r1 advert -> first r2 advert)") {
        return Rule::Within(50 * MS);
    }
    // keepalived sends its first gratuitous ARPs right after the advert that announces it as
    // master (0.1-7 ms later, measured); 20 ms covers scheduling.
    if name.ends_with("first GARP after r2's first advert") {
        return Rule::Within(20 * MS);
    }
    // A burst is written back to back: 0.1-0.8 ms from first to last on an idle host, 7 ms
    // seen on a loaded one (2 cores, a QEMU test alongside), 20.02 ms with three builds
    // alongside too; 50 ms still tells a burst from ARPs spaced by a timer (keepalived's
    // vrrp_garp_interval, when set, is one per interval; the second burst is 5 s later).
    if name.ends_with("first burst spread") {
        return Rule::Within(50 * MS);
    }
    // vrrp_garp_master_delay (5 s): a timer on both sides.
    if name.ends_with("second burst after the first") {
        return Rule::Within(50 * MS);
    }
    // The gap between the two relayed copies depends on host scheduling on the real side
    // (DOMAIN.md: median 63-108 us, p90 below 1 ms) and on the relay delay distribution on the
    // simulated one: each side's largest gap must stay below 20 ms, no closer comparison.
    if name == "relay largest gap between the two copies" {
        return Rule::Below(20 * MS);
    }
    // The IPv4 id of a relayed copy is the kernel's (Linux picks it per destination); the
    // relay does not choose it. The list of gaps is shown for information.
    if name.ends_with(" IP id") && name.starts_with("relay copy") {
        return Rule::Info;
    }
    if name == "relay gaps between the two copies" {
        return Rule::Info;
    }
    // After a shutdown the backup resumes the id counter it used in the crash phase: its value
    // depends on how long it was master before, which differs between the runs.
    if name == "shutdown r2 first advert IP id" {
        return Rule::Info;
    }
    Rule::Exact
}

/// Compares field by field; returns the printed table and the mismatches.
fn compare(real: &Observed, sim: &Observed) -> (String, Vec<String>) {
    let mut table = String::new();
    let mut mismatches = Vec::new();
    let mut names: Vec<&String> = real.values.keys().chain(sim.values.keys()).collect();
    names.sort();
    names.dedup();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for name in names {
        let (a, b) = (real.values.get(name), sim.values.get(name));
        let shown = |v: Option<&Value>| v.map_or("(not observed)".to_string(), |v| v.to_string());
        let verdict = match (rule(name), a, b) {
            (Rule::Info, _, _) => Ok("info"),
            (_, None, _) | (_, _, None) => Err("only one side".to_string()),
            (Rule::Exact, Some(a), Some(b)) => {
                if a == b {
                    Ok("same")
                } else {
                    Err("differs".to_string())
                }
            }
            (Rule::Within(tolerance), Some(Value::Ns(a)), Some(Value::Ns(b))) => {
                if (a - b).abs() <= tolerance {
                    Ok("within tolerance")
                } else {
                    Err(format!(
                        "differs by {:.3} ms, tolerance {:.3} ms",
                        (b - a) as f64 / 1e6,
                        tolerance as f64 / 1e6
                    ))
                }
            }
            (Rule::Below(limit), Some(Value::Ns(a)), Some(Value::Ns(b))) => {
                if *a <= limit && *b <= limit {
                    Ok("both below the limit")
                } else {
                    Err(format!("above {:.3} ms", limit as f64 / 1e6))
                }
            }
            (rule, _, _) => Err(format!("{rule:?} needs durations")),
        };
        let mark = match &verdict {
            Ok(word) => word.to_string(),
            Err(why) => {
                mismatches.push(format!(
                    "{name}: real {}, simulated {} ({why})",
                    shown(a),
                    shown(b)
                ));
                format!("MISMATCH: {why}")
            }
        };
        table.push_str(&format!(
            "  {name:<width$}  real {:<34} sim {:<34} {mark}\n",
            shown(a),
            shown(b)
        ));
    }
    for missing in &sim.missing {
        mismatches.push(format!("simulated side: {missing}"));
    }
    (table, mismatches)
}

/// This process's files (configurations, logs, captures); removed when every check passed,
/// kept for a look otherwise.
fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("real-relay-{}", std::process::id()))
}

/// What the real lab recorded, with the wall-clock times of its two faults.
struct RealRun {
    client_lan: Lan,
    server_lan: Lan,
    crash_ns: u64,
    restart_ns: u64,
    shutdown_ns: u64,
    end_ns: u64,
    wall: Duration,
}

/// Re-reads the capture every `POLL` until `done` holds or `timeout` passes.
fn watch(pcap: &Path, timeout: Duration, done: impl Fn(&Lan) -> bool) -> Result<Lan, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let lan = observe::lan(&observe::frames_from_pcap(
            &fs::read(pcap).unwrap_or_default(),
        ));
        if done(&lan) {
            return Ok(lan);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not show what was awaited within {timeout:?}",
                pcap.display()
            ));
        }
        thread::sleep(harness::POLL);
    }
}

/// The first advert from `source` at or after `since_ns`, and whether the capture has one of
/// that router at least `after` later (the phase has run its course: a second GARP burst 5 s
/// after becoming master, say).
fn master_since(lan: &Lan, source: Ipv4Addr, since_ns: u64, after: Duration) -> bool {
    let adverts: Vec<u64> = lan
        .adverts
        .iter()
        .filter(|a| a.src_ip == source && a.time_ns >= since_ns && a.priority > 0)
        .map(|a| a.time_ns)
        .collect();
    match (adverts.first(), adverts.last()) {
        (Some(first), Some(last)) => last - first >= after.as_nanos() as u64,
        _ => false,
    }
}

fn real_run(tools: &[PathBuf]) -> Result<RealRun, String> {
    let [_ip, _kill, tcpdump, keepalived, dhcrelay, dhcpd] = tools else {
        return Err("tool list".to_string());
    };
    let started = Instant::now();
    let shape = harness::shape();
    let r1 = shape.routers[0].0;
    let r2 = shape.routers[1].0;
    let mut lab = Lab::new(work_dir())?;
    let client_pcap = lab.capture(tcpdump, 0)?;
    let server_pcap = lab.capture(tcpdump, 1)?;
    lab.dhcpd(dhcpd)?;
    lab.dhcrelay(dhcrelay, 0)?;
    lab.dhcrelay(dhcrelay, 1)?;
    // r1 first, so that it is the first to leave the BACKUP state keepalived starts in (its
    // Master_Down_Interval, 3.57 s at priority 110, is only 39 ms shorter than r2's).
    let start_ns = now_ns();
    lab.keepalived(keepalived, 0)?;
    thread::sleep(Duration::from_millis(500));
    lab.keepalived(keepalived, 1)?;
    watch(&client_pcap, Duration::from_secs(10), |lan| {
        master_since(lan, r1, start_ns, Duration::from_secs(1))
    })
    .map_err(|e| format!("r1 never became master: {e}"))?;

    // The client broadcasts its DISCOVERs; both relays forward each one.
    let xids: Vec<String> = XIDS.iter().map(|x| format!("{x:08x}")).collect();
    // The client is this test binary itself, running only its `discover::client` test.
    let exe = std::env::current_exe().map_err(|e| format!("this test binary: {e}"))?;
    let mac = harness::CLIENT_MAC
        .iter()
        .map(|octet| format!("{octet:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let client_args: Vec<&str> = std::iter::once(mac.as_str())
        .chain(xids.iter().map(String::as_str))
        .collect();
    lab.run_in_client(
        &exe,
        &[discover::TEST, "--exact", "--test-threads=1"],
        &[(discover::ARGS, client_args.join(" "))],
        Duration::from_secs(10),
    )?;
    watch(&server_pcap, Duration::from_secs(5), |lan| {
        lan.dhcp
            .iter()
            .filter(|d| d.message_type == Some(MessageType::Discover) && d.dst_ip == shape.server)
            .count()
            >= 2 * XIDS.len()
    })
    .map_err(|e| format!("the relayed DISCOVERs: {e}"))?;
    thread::sleep(Duration::from_secs(1));

    // (a) r1 crashes: SIGKILL to keepalived's whole process group (the parent and its VRRP
    // child at once; killing the parent alone would have the child, which gets SIGTERM when its
    // parent dies, resign cleanly).
    let crash_ns = now_ns();
    lab.process(Role::Keepalived(0))
        .ok_or("no keepalived on r1")?
        .signal_group("KILL")?;
    watch(&client_pcap, Duration::from_secs(16), |lan| {
        master_since(lan, r2, crash_ns, Duration::from_secs(6))
    })
    .map_err(|e| format!("r2 did not take over after the crash: {e}"))?;
    lab.stop(Role::Keepalived(0));

    // r1 comes back, preempts, and its own gratuitous ARPs are over before the next fault.
    let restart_ns = now_ns();
    lab.keepalived(keepalived, 0)?;
    watch(&client_pcap, Duration::from_secs(16), |lan| {
        master_since(lan, r1, restart_ns, Duration::from_secs(6))
    })
    .map_err(|e| format!("r1 did not preempt after its restart: {e}"))?;

    // (b) r1 is stopped: SIGTERM to keepalived's parent (as systemd's KillMode=process does),
    // which has the VRRP child resign with priority 0.
    let shutdown_ns = now_ns();
    let process = lab
        .process(Role::Keepalived(0))
        .ok_or("no keepalived on r1")?;
    process.signal("TERM")?;
    if !process.wait_gone(Duration::from_secs(5)) {
        return Err("keepalived on r1 did not exit on SIGTERM".to_string());
    }
    watch(&client_pcap, Duration::from_secs(16), |lan| {
        master_since(lan, r2, shutdown_ns, Duration::from_secs(6))
    })
    .map_err(|e| format!("r2 did not take over after the shutdown: {e}"))?;
    let end_ns = now_ns();
    lab.stop_all();
    let client_lan = observe::lan(&observe::frames_from_pcap(
        &fs::read(&client_pcap).map_err(|e| e.to_string())?,
    ));
    let server_lan = observe::lan(&observe::frames_from_pcap(
        &fs::read(&server_pcap).map_err(|e| e.to_string())?,
    ));
    drop(lab);
    Ok(RealRun {
        client_lan,
        server_lan,
        crash_ns,
        restart_ns,
        shutdown_ns,
        end_ns,
        wall: started.elapsed(),
    })
}

fn observe_real(run: &RealRun) -> Observed {
    let shape = harness::shape();
    let mut observed = Observed::default();
    observe::steady(&mut observed, &shape, &run.client_lan, run.crash_ns);
    observe::relays(&mut observed, &shape, &run.client_lan, &run.server_lan);
    observe::takeover(
        &mut observed,
        &shape,
        &run.client_lan,
        "crash",
        run.crash_ns,
        run.restart_ns,
    );
    observe::takeover(
        &mut observed,
        &shape,
        &run.client_lan,
        "shutdown",
        run.shutdown_ns,
        run.end_ns,
    );
    observed
}

/// The simulated twin run with r1's fault `fault` (`crash` or `shutdown`): the frames sent on
/// the client LAN, and the frames the DHCP server received.
fn simulate(fault: &str) -> (Lan, Lan) {
    let text = twin_topology(fault);
    let plan = topology::parse(Path::new("real-relay-twin.yaml"), &text)
        .unwrap_or_else(|e| panic!("the simulated twin: {e}"));
    let world = crate::common::run(&plan, SIM_SEED);
    let log = world.log();
    let clients = log.lan_id("clients").expect("a clients LAN");
    let dhcp = log.node_id("dhcp").expect("a dhcp node");
    let mut client_frames = Vec::new();
    let mut server_frames = Vec::new();
    for record in log.records() {
        match &record.kind {
            Kind::Send { lan, frame, .. } if *lan == clients => client_frames.push(Frame {
                time_ns: record.time_ns,
                bytes: frame.to_vec(),
            }),
            Kind::Receive { frame, .. } if record.node == dhcp => server_frames.push(Frame {
                time_ns: record.time_ns,
                bytes: frame.to_vec(),
            }),
            _ => {}
        }
    }
    (observe::lan(&client_frames), observe::lan(&server_frames))
}

fn observe_simulated() -> Observed {
    let shape = harness::shape();
    let mut observed = Observed::default();
    let (clients, servers) = simulate("crash");
    let end_ns = SIM_FAULT_NS + 15 * S;
    observe::steady(&mut observed, &shape, &clients, SIM_FAULT_NS);
    observe::relays(&mut observed, &shape, &clients, &servers);
    observe::takeover(
        &mut observed,
        &shape,
        &clients,
        "crash",
        SIM_FAULT_NS,
        end_ns,
    );
    let (clients, _) = simulate("shutdown");
    observe::takeover(
        &mut observed,
        &shape,
        &clients,
        "shutdown",
        SIM_FAULT_NS,
        end_ns,
    );
    observed
}

#[test]
fn keepalived_and_dhcrelay_pair_matches_the_simulated_pair() {
    let _lab = crate::netlab::one_lab_at_a_time();
    let Some(found) = crate::netlab::find_tools(harness::TOOLS, WHAT) else {
        return;
    };
    if let Err(why) = harness::can_create_namespaces() {
        tools::missing(&format!("network namespaces ({why})"), WHAT);
        return;
    }
    let run = real_run(&found).unwrap_or_else(|e| {
        panic!(
            "the real lab failed: {e} (files in {})",
            work_dir().display()
        )
    });
    let real = observe_real(&run);
    assert!(
        real.missing.is_empty(),
        "the real capture lacks: {:?} (files in {})",
        real.missing,
        work_dir().display()
    );
    let sim = observe_simulated();
    let (table, mismatches) = compare(&real, &sim);
    println!(
        "real lab ({:.1} s wall) against the simulated twin (seed {SIM_SEED}):\n{table}",
        run.wall.as_secs_f64()
    );
    assert!(
        mismatches.is_empty(),
        "{} field(s) of the simulated pair differ from keepalived/dhcrelay (files in {}):\n  {}",
        mismatches.len(),
        work_dir().display(),
        mismatches.join("\n  ")
    );
    let _ = fs::remove_dir_all(work_dir());
}
