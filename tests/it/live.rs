//! `pxelab live` against real DHCP servers: the KB2510665 network's server LAN bridged to a TAP
//! in a network namespace where a real server answers, one lab run against each of dnsmasq, Kea
//! (multi-threaded) and ISC dhcpd. `CLIENTS` simulated clients boot through the simulated HSRP
//! pair and both relays; a tcpdump capture on the TAP shows the real server got two relayed
//! copies of every client's DISCOVER with different giaddr, and what it answered to each copy;
//! `pxelab live --json` gives every client's outcome as `pxelab run --json` does; the recorded
//! live run replays with no TAP and no server to the same digest.
//!
//! What the servers do with the copies is measured and printed, not assumed (the README's Live
//! section has the figures). What the test holds them to is what held in every run: dnsmasq
//! and ISC dhcpd answer every copy they read, both copies of a client with one address (a
//! copy may be lost before the server reads it); Kea 2.2 with
//! multi-threading on answers at least one copy of each, and its own statistics account for
//! every copy it received (answered, or counted in `pkt4-receive-drop`, which is where its
//! client race avoidance counts a copy it drops: DHCP4_PACKET_DROP_0011/0012, logged at debug
//! level and counted by the test too).
//!
//! Needs root, network namespaces and the Debian packages `iproute2`, `procps`, `tcpdump` and
//! the server's (`dnsmasq`, `kea-dhcp4-server`, `isc-dhcp-server`); without them each test says
//! `skipped:` and passes, except under CI (`PXELAB_REQUIRE_TOOLS=1`), where it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dhcproto::v4::{Message, MessageType};
use dhcproto::{Decodable, Decoder};
use serde_json::Value;

use crate::netlab::{Link, Netns, Process, pxelab};
use crate::real_relay::harness::observe;

/// Simulated clients per run: enough that the copies of many clients overlap at the server
/// (they power on within one second), few enough that a debug build keeps up with real time on
/// a busy 2-core machine.
const CLIENTS: usize = 200;

/// The shipped live topology (`topologies/live/`); the test runs it with `CLIENTS` clients.
const TOPOLOGY: &str = "live/real-dhcp-server.yaml";

/// The routers' addresses on the client LAN: the giaddr of each relay's copies.
const RELAYS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 1, 0, 2), Ipv4Addr::new(10, 1, 0, 3)];

/// The real server's address, behind the TAP.
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 10);

/// The real DHCP servers the lab runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Dnsmasq,
    Kea,
    Dhcpd,
}

const DNSMASQ: &str = "port=0
interface=pxe0
bind-interfaces
dhcp-range=10.1.0.10,10.1.0.250,255.255.255.0,1h
dhcp-option=option:router,10.1.0.1
dhcp-authoritative
no-ping
log-dhcp
no-resolv
no-hosts
";

/// Kea with multi-threading on (4 threads). pxe0 has no carrier until `pxelab live` opens it,
/// and Kea opens no socket on an interface that is not running, so it retries every 50 ms.
/// Logs go to stdout (the test's file); the bad-packet logger at debug level names each copy
/// it drops.
const KEA: &str = r#"{"Dhcp4": {
  "interfaces-config": {"interfaces": ["pxe0"], "dhcp-socket-type": "udp",
    "service-sockets-max-retries": 1200, "service-sockets-retry-wait-time": 50},
  "multi-threading": {"enable-multi-threading": true, "thread-pool-size": 4, "packet-queue-size": 256},
  "control-socket": {"socket-type": "unix", "socket-name": "SOCKET"},
  "lease-database": {"type": "memfile", "persist": false},
  "valid-lifetime": 3600,
  "subnet4": [{"id": 1, "subnet": "10.1.0.0/24", "pools": [{"pool": "10.1.0.10 - 10.1.0.250"}],
    "option-data": [{"name": "routers", "data": "10.1.0.1"}]}],
  "loggers": [
    {"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"},
    {"name": "kea-dhcp4.bad-packets", "output_options": [{"output": "stdout"}],
     "severity": "DEBUG", "debuglevel": 99}]
}}
"#;

/// dhcpd: a declaration for the server's own LAN (dhcpd listens only on an interface with
/// one) and the pool on the client LAN, reached through the relays. No ping check, so that an
/// OFFER follows at once.
const DHCPD: &str = "\
authoritative;
ping-check false;
default-lease-time 3600;
max-lease-time 3600;
subnet 10.2.0.0 netmask 255.255.255.0 {
}
subnet 10.1.0.0 netmask 255.255.255.0 {
  range 10.1.0.10 10.1.0.250;
  option routers 10.1.0.1;
  option subnet-mask 255.255.255.0;
}
";

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Dnsmasq => "dnsmasq",
            Server::Kea => "Kea",
            Server::Dhcpd => "ISC dhcpd",
        }
    }

    /// (executable, Debian package).
    fn tool(self) -> (&'static str, &'static str) {
        match self {
            Server::Dnsmasq => ("dnsmasq", "dnsmasq"),
            Server::Kea => ("kea-dhcp4", "kea-dhcp4-server"),
            Server::Dhcpd => ("dhcpd", "isc-dhcp-server"),
        }
    }

    /// Starts the server (at `program`) in `netns` with its configuration, leases, pid file and
    /// log in `dir`; waits (bounded) until it says it serves. Returns it and its log's path.
    fn start(
        self,
        program: &Path,
        netns: &Netns,
        dir: &Path,
    ) -> Result<(Process, PathBuf), String> {
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok::<PathBuf, String>(path)
        };
        let log = dir.join(format!("{}.log", self.tool().0));
        let output = || fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()));
        let mut command = netns.command(program);
        let ready: fn(&str) -> bool = match self {
            Server::Dnsmasq => {
                let conf = write(
                    "dnsmasq.conf",
                    &format!("{DNSMASQ}dhcp-leasefile={}\n", dir.join("leases").display()),
                )?;
                command
                    .arg("--keep-in-foreground")
                    .arg(format!("--conf-file={}", conf.display()))
                    .arg(format!("--log-facility={}", log.display()))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                |text| text.contains("DHCP, IP range")
            }
            Server::Kea => {
                let socket = dir.join("kea.sock");
                let conf = write(
                    "kea-dhcp4.conf",
                    &KEA.replace("SOCKET", &socket.display().to_string()),
                )?;
                command
                    .arg("-c")
                    .arg(&conf)
                    // Its pid file in the scratch folder, no logger lock file.
                    .env("KEA_PIDFILE_DIR", dir)
                    .env("KEA_LOCKFILE_DIR", "none")
                    .stdout(output()?)
                    .stderr(Stdio::null());
                |text| text.contains("DHCP4_STARTED")
            }
            Server::Dhcpd => {
                let conf = write("dhcpd.conf", DHCPD)?;
                let leases = write("dhcpd.leases", "")?;
                command
                    .args(["-f", "-d", "-4", "-cf"])
                    .arg(&conf)
                    .arg("-lf")
                    .arg(&leases)
                    .arg("-pf")
                    .arg(dir.join("dhcpd.pid"))
                    .arg("pxe0")
                    .stdout(Stdio::null())
                    .stderr(output()?);
                |text| text.contains("Server starting service")
            }
        };
        let process = Process::spawn(command, self.tool().0)?;
        crate::netlab::wait_for_file(&log, ready, Duration::from_secs(10), Some(&process))
            .map_err(|e| format!("{}: {e}", self.name()))?;
        Ok((process, log))
    }
}

#[test]
fn simulated_clients_boot_from_real_dnsmasq_through_both_simulated_relays_and_the_run_replays() {
    real_server(Server::Dnsmasq);
}

#[test]
fn simulated_clients_boot_from_real_kea_multi_threaded_whose_statistics_account_for_every_copy() {
    real_server(Server::Kea);
}

#[test]
fn simulated_clients_boot_from_real_isc_dhcpd_which_offers_both_copies_one_address() {
    real_server(Server::Dhcpd);
}

fn real_server(server: Server) {
    let what = format!("the live run against real {}", server.name());
    let Some(tools) = crate::netlab::find_tools(&[server.tool()], &what) else {
        return;
    };
    let _lab = crate::netlab::one_lab_at_a_time();
    if let Err(error) = lab(server, &tools[2], &tools[3]) {
        panic!("{what}: {error}");
    }
}

fn lab(server: Server, tcpdump: &Path, program: &Path) -> Result<(), String> {
    let dir = crate::common::scratch_dir(&format!("live-{}", server.tool().0));
    let netns = Netns::create(format!("pxlive{}", std::process::id()))?;
    netns.ip(&["tuntap", "add", "pxe0", "mode", "tap"])?;
    let _tap = Link::new(&netns, "pxe0");
    netns.ip(&["addr", "add", "10.2.0.10/24", "dev", "pxe0"])?;
    netns.ip(&["link", "set", "pxe0", "up"])?;
    // Replies to the relays go back through the routers' virtual IP on the server LAN.
    netns.ip(&[
        "route",
        "add",
        "10.1.0.0/24",
        "via",
        "10.2.0.1",
        "dev",
        "pxe0",
        "onlink",
    ])?;

    let pcap = dir.join("pxe0.pcap");
    let tcpdump_log = dir.join("tcpdump.stderr");
    let mut capture = crate::netlab::tcpdump(&netns, tcpdump, "pxe0", &["udp port 67"], &pcap);
    capture
        .stdout(Stdio::null())
        .stderr(fs::File::create(&tcpdump_log).map_err(|e| e.to_string())?);
    let mut capture = Process::spawn(capture, "tcpdump")?;
    crate::netlab::wait_for_file(
        &tcpdump_log,
        |text| text.contains("listening on"),
        Duration::from_secs(10),
        Some(&capture),
    )?;
    let (mut real, log) = server.start(program, &netns, &dir)?;

    let topology = dir.join("real-dhcp-server.yaml");
    let text = crate::common::topology_text(TOPOLOGY);
    let edited = text.replace("count: 4,", &format!("count: {CLIENTS},"));
    assert_ne!(edited, text, "{TOPOLOGY} no longer has `count: 4,`");
    fs::write(&topology, edited).map_err(|e| e.to_string())?;
    let record = dir.join("record");
    let json = dir.join("live.json");
    let stdout = dir.join("live.stdout");
    let stderr = dir.join("live.stderr");
    let mut live = pxelab(Some(&netns));
    live.arg("live")
        .arg(&topology)
        .arg("--out")
        .arg(&record)
        .arg("--json")
        .arg(&json)
        // Bounded: a machine busy with builds may stall a debug build for a moment.
        .args(["--lag-max", "3s"])
        .stdout(fs::File::create(&stdout).map_err(|e| e.to_string())?)
        .stderr(fs::File::create(&stderr).map_err(|e| e.to_string())?);
    let mut live = Process::spawn(live, "pxelab live")?;
    // 12 s of simulated (and real) time, plus compiling the plugins.
    if !live.wait_gone(Duration::from_secs(180)) {
        return Err(format!(
            "pxelab live did not end in 180 s (files in {})",
            dir.display()
        ));
    }
    let status = live.exit_status()?;
    let output = fs::read_to_string(&stdout).unwrap_or_default();
    let errors = fs::read_to_string(&stderr).unwrap_or_default();
    if !status.success() {
        return Err(format!("pxelab live: {status}\n{output}\n{errors}"));
    }
    if !output.contains("replay    pxelab replay DIR") {
        return Err(format!(
            "a live run's report names `pxelab run` as its replay:\n{output}"
        ));
    }
    every_client_booted(&output, &json)?;

    let statistics = match server {
        Server::Kea => kea_statistics(&dir.join("kea.sock"))?,
        _ => BTreeMap::new(),
    };
    real.stop();
    // SIGTERM: tcpdump writes what it holds and exits.
    capture.stop();
    let frames = observe::frames_from_pcap(&fs::read(&pcap).map_err(|e| e.to_string())?);
    let seen = Exchanges::of(&observe::lan(&frames));
    let server_log = fs::read_to_string(&log).unwrap_or_default();
    let findings = seen.check(server, &statistics, &server_log)?;
    println!("{output}{}: {findings}", server.name());

    // The record replays with no TAP and no server, to the recorded digest.
    let replay = pxelab(None)
        .arg("replay")
        .arg(&record)
        .output()
        .map_err(|e| e.to_string())?;
    if !replay.status.success() {
        return Err(format!(
            "the replay differs: {}\n{}",
            String::from_utf8_lossy(&replay.stdout),
            String::from_utf8_lossy(&replay.stderr)
        ));
    }
    let _ = fs::remove_dir_all(&dir);
    Ok(())
}

/// Every simulated client booted: `CLIENTS` lines in the report's clients section, and the
/// same clients in the `--json` report, each `booted`.
fn every_client_booted(output: &str, json: &Path) -> Result<(), String> {
    let names: Vec<String> = (1..=CLIENTS).map(|index| format!("pc{index}")).collect();
    let section = output
        .split_once("\nclients\n")
        .and_then(|(_, rest)| rest.split_once("\n\n"))
        .map_or("", |(section, _)| section);
    let booted_lines = section
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            words
                .next()
                .is_some_and(|name| names.iter().any(|n| n == name))
                && words.next() == Some("booted")
        })
        .count();
    let summary = format!("summary   {CLIENTS}/{CLIENTS} clients booted");
    if booted_lines != CLIENTS || !output.contains(&summary) {
        return Err(format!(
            "{booted_lines} of {CLIENTS} clients reported booted:\n{output}"
        ));
    }
    let text = fs::read_to_string(json).map_err(|e| format!("{}: {e}", json.display()))?;
    let report: Value = serde_json::from_str(&text).map_err(|e| format!("--json: {e}"))?;
    let clients = report["clients"].as_array().cloned().unwrap_or_default();
    let outcomes: BTreeMap<String, String> = clients
        .iter()
        .filter_map(|client| {
            Some((
                client["name"].as_str()?.to_string(),
                client["outcome"].as_str()?.to_string(),
            ))
        })
        .collect();
    let all_booted = names
        .iter()
        .all(|name| outcomes.get(name).map(String::as_str) == Some("booted"));
    if outcomes.len() != CLIENTS || !all_booted || report["passed"] != Value::Bool(true) {
        return Err(format!("--json does not say every client booted: {text}"));
    }
    if report["live"]["frames_in"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("--json has no live figures: {text}"));
    }
    Ok(())
}

/// One DISCOVER copy at the server and what the server sent back for it.
#[derive(Debug, Default)]
struct Copy {
    /// When the capture saw it.
    arrived_ns: u64,
    /// OFFERs to this relay for this DISCOVER: when, and the address offered.
    offers: Vec<(u64, Ipv4Addr)>,
}

/// What the capture on the TAP shows, per client DISCOVER (chaddr, xid): each relay's copy.
#[derive(Debug, Default)]
struct Exchanges {
    discovers: BTreeMap<(Vec<u8>, u32), BTreeMap<Ipv4Addr, Copy>>,
    /// Relayed REQUESTs per (chaddr, xid), by giaddr, and the ACKs sent to each relay.
    requests: BTreeMap<(Vec<u8>, u32), BTreeMap<Ipv4Addr, usize>>,
    acks: BTreeMap<(Vec<u8>, u32), BTreeMap<Ipv4Addr, usize>>,
}

impl Exchanges {
    fn of(lan: &observe::Lan) -> Exchanges {
        let mut seen = Exchanges::default();
        for dhcp in &lan.dhcp {
            let Ok(message) = Message::decode(&mut Decoder::new(&dhcp.payload)) else {
                continue;
            };
            let key = (message.chaddr().to_vec(), message.xid());
            let from_server = dhcp.src_ip == SERVER && dhcp.src_port == 67;
            match (dhcp.message_type, from_server) {
                (Some(MessageType::Discover), false) if dhcp.dst_ip == SERVER => {
                    seen.discovers
                        .entry(key)
                        .or_default()
                        .entry(dhcp.giaddr)
                        .or_default()
                        .arrived_ns = dhcp.time_ns;
                }
                (Some(MessageType::Offer), true) => {
                    seen.discovers
                        .entry(key)
                        .or_default()
                        .entry(dhcp.dst_ip)
                        .or_default()
                        .offers
                        .push((dhcp.time_ns, message.yiaddr()));
                }
                (Some(MessageType::Request), false) if dhcp.dst_ip == SERVER => {
                    *seen
                        .requests
                        .entry(key)
                        .or_default()
                        .entry(dhcp.giaddr)
                        .or_default() += 1;
                }
                (Some(MessageType::Ack), true) => {
                    *seen
                        .acks
                        .entry(key)
                        .or_default()
                        .entry(dhcp.dst_ip)
                        .or_default() += 1;
                }
                _ => {}
            }
        }
        seen
    }

    /// Checks what holds for every server, and what `server` does with the copies; returns the
    /// figures as one line.
    fn check(
        &self,
        server: Server,
        statistics: &BTreeMap<String, i64>,
        log: &str,
    ) -> Result<String, String> {
        let clients: BTreeSet<&Vec<u8>> = self.discovers.keys().map(|(chaddr, _)| chaddr).collect();
        let both: Vec<&(Vec<u8>, u32)> = self
            .discovers
            .iter()
            .filter(|(_, copies)| RELAYS.iter().all(|relay| copies.contains_key(relay)))
            .map(|(key, _)| key)
            .collect();
        let clients_with_both: BTreeSet<&Vec<u8>> = both.iter().map(|(chaddr, _)| chaddr).collect();
        if clients.len() != CLIENTS || clients_with_both.len() != CLIENTS {
            return Err(format!(
                "the capture on pxe0 has DISCOVERs of {} clients, {} of them with a copy from \
                 each relay ({RELAYS:?}); {CLIENTS} expected",
                clients.len(),
                clients_with_both.len()
            ));
        }
        let stray: Vec<_> = self
            .discovers
            .values()
            .flat_map(|copies| copies.keys())
            .filter(|giaddr| !RELAYS.contains(giaddr))
            .collect();
        if !stray.is_empty() {
            return Err(format!("DISCOVERs through no relay of the lab: {stray:?}"));
        }
        let copies = self.discovers.values().map(BTreeMap::len).sum::<usize>();
        let answered = self
            .discovers
            .values()
            .flat_map(BTreeMap::values)
            .filter(|copy| !copy.offers.is_empty())
            .count();
        let both_answered = both
            .iter()
            .filter(|key| {
                self.discovers[*key]
                    .values()
                    .all(|copy| !copy.offers.is_empty())
            })
            .count();
        let same_address = both
            .iter()
            .filter(|key| {
                let offered: BTreeSet<Ipv4Addr> = self.discovers[*key]
                    .values()
                    .flat_map(|copy| copy.offers.iter().map(|(_, address)| *address))
                    .collect();
                offered.len() == 1
            })
            .count();
        // Copies that reached the server while it had not yet answered the other copy, and of
        // those, the ones it answered only after it had answered the other.
        let (mut overlapping, mut held_back) = (0, 0);
        for key in &both {
            let mut copies: Vec<&Copy> = self.discovers[*key].values().collect();
            copies.sort_by_key(|copy| copy.arrived_ns);
            let (first, second) = (copies[0], copies[1]);
            let Some(&(first_answer_ns, _)) = first.offers.first() else {
                continue;
            };
            if second.arrived_ns < first_answer_ns {
                overlapping += 1;
                if second
                    .offers
                    .first()
                    .is_some_and(|&(ns, _)| ns > first_answer_ns)
                {
                    held_back += 1;
                }
            }
        }
        let request_copies = self.requests.values().map(BTreeMap::len).sum::<usize>();
        let acked = self
            .acks
            .values()
            .map(|acks| acks.values().sum::<usize>())
            .sum::<usize>();
        let mut line = format!(
            "{} DISCOVERs ({copies} copies: {} with both relays' copies), {answered} copies \
             answered with an OFFER, both copies answered for {both_answered}, one address for \
             both for {same_address}; {overlapping} second copies arrived before the first was \
             answered, {held_back} of them answered after it; {} REQUESTs ({request_copies} \
             copies), {acked} ACKs",
            self.discovers.len(),
            both.len(),
            self.requests.len()
        );
        let every_discover_answered = self
            .discovers
            .values()
            .all(|copies| copies.values().any(|copy| !copy.offers.is_empty()));
        if !every_discover_answered {
            return Err(format!("a DISCOVER got no OFFER at all: {line}"));
        }
        match server {
            // Each copy it read, it answered, and both copies of a client got one address. A
            // copy can be lost before the server reads it (its socket's buffer overflows while
            // it is busy: ISC dhcpd writes its lease file for every ACK), so the copies it
            // answered are counted against the copies its own log says it read.
            Server::Dnsmasq | Server::Dhcpd => {
                let (discover, offer) = match server {
                    Server::Dnsmasq => ("DHCPDISCOVER(pxe0)", "DHCPOFFER(pxe0)"),
                    _ => ("DHCPDISCOVER from", "DHCPOFFER on"),
                };
                let (read, offered) = (log.matches(discover).count(), log.matches(offer).count());
                line.push_str(&format!(
                    "; its log: {read} DISCOVERs read, {offered} OFFERs ({} copies on the wire \
                     it never logged)",
                    copies.saturating_sub(read)
                ));
                if offered < read || answered < read.min(copies) || same_address != both.len() {
                    return Err(format!(
                        "{} did not answer every copy it read, or not with one address per \
                         client: {line}",
                        server.name()
                    ));
                }
            }
            Server::Kea => {
                let stat = |name: &str| statistics.get(name).copied().unwrap_or(0);
                let drop_0011 = log.matches("DHCP4_PACKET_DROP_0011").count();
                let drop_0012 = log.matches("DHCP4_PACKET_DROP_0012").count();
                line.push_str(&format!(
                    "; statistics: pkt4-received {}, pkt4-discover-received {}, \
                     pkt4-offer-sent {}, pkt4-request-received {}, pkt4-ack-sent {}, \
                     pkt4-receive-drop {}; log: DHCP4_PACKET_DROP_0011 x{drop_0011}, \
                     DHCP4_PACKET_DROP_0012 x{drop_0012}",
                    stat("pkt4-received"),
                    stat("pkt4-discover-received"),
                    stat("pkt4-offer-sent"),
                    stat("pkt4-request-received"),
                    stat("pkt4-ack-sent"),
                    stat("pkt4-receive-drop"),
                ));
                // Each copy Kea received it answered or counted as dropped. A copy can be lost
                // before Kea reads it, as with the others: counted, not held against it.
                line.push_str(&format!(
                    " ({} copies on the wire it never counted)",
                    (copies as i64 - stat("pkt4-discover-received")).max(0)
                ));
                if stat("pkt4-offer-sent") + stat("pkt4-receive-drop")
                    < stat("pkt4-discover-received")
                    || stat("pkt4-receive-drop") < (drop_0011 + drop_0012) as i64
                {
                    return Err(format!(
                        "Kea neither answered nor counted as dropped every DISCOVER it received: \
                         {line}"
                    ));
                }
            }
        }
        Ok(line)
    }
}

/// Kea's statistics (`statistic-get-all` on its control socket): the latest value of each.
fn kea_statistics(socket: &Path) -> Result<BTreeMap<String, i64>, String> {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("Kea's control socket {}: {e}", socket.display()))?;
    let timeout = Some(Duration::from_secs(5));
    stream
        .set_read_timeout(timeout)
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(timeout)
        .map_err(|e| e.to_string())?;
    stream
        .write_all(br#"{"command": "statistic-get-all"}"#)
        .map_err(|e| format!("Kea's control socket: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("Kea's control socket: {e}"))?;
    let answer: Value =
        serde_json::from_str(&answer).map_err(|e| format!("Kea's statistics: {e}: {answer}"))?;
    let Some(arguments) = answer["arguments"].as_object() else {
        return Err(format!("Kea's statistics: {answer}"));
    };
    // Each statistic is a list of [value, timestamp] samples, the latest first.
    Ok(arguments
        .iter()
        .filter_map(|(name, samples)| Some((name.clone(), samples[0][0].as_i64()?)))
        .collect())
}
