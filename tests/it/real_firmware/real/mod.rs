//! The harness that boots real firmware in QEMU against real dnsmasq inside throw-away network
//! namespaces, captures the client's side of the wire with tcpdump, and cleans everything up by
//! pid and by name (also when a test panics), so the simulator's client profiles can be checked
//! against what real firmware does.

pub mod capture;
pub mod compare;
pub mod scenario;

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

pub use crate::netlab::{Link, Netns, Process};
use capture::Observation;

/// The external programs a lab needs besides `netlab::TOOLS`: (executable, Debian package).
pub const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("dnsmasq", "dnsmasq"),
];

/// How often a running capture is re-read to see whether a scenario has what it needs.
const POLL: Duration = Duration::from_millis(250);

/// One lab: a namespace with a bridge and the client's TAP, one namespace per server joined to
/// the bridge by a veth pair, and the processes running in them. Fields drop in order:
/// processes first, then the TAP, then the namespaces.
pub struct Lab {
    processes: Vec<Process>,
    tap: Option<Link>,
    servers: Vec<Netns>,
    lan: Netns,
    pub dir: PathBuf,
    pub tap_name: String,
    started: Instant,
}

/// The subnet every lab uses; it exists only inside the lab's namespaces.
pub const SUBNET_PREFIX: [u8; 3] = [10, 77, 0];

pub fn lab_address(host: u8) -> Ipv4Addr {
    let [a, b, c] = SUBNET_PREFIX;
    Ipv4Addr::new(a, b, c, host)
}

impl Lab {
    /// Creates the client side: namespace `pxl<pid>-<id>` with bridge `br0` and TAP
    /// `tp<pid>` (names carry the test's process id, so parallel runs never collide). Files go
    /// to `dir`, which is emptied first.
    pub fn new(id: &str, dir: PathBuf) -> Result<Lab, String> {
        let pid = std::process::id();
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let lan = Netns::create(format!("pxl{pid}-{id}"))?;
        let mut tap_name = format!("tp{pid}");
        tap_name.truncate(15);
        let mut lab = Lab {
            processes: Vec::new(),
            tap: None,
            servers: Vec::new(),
            lan,
            dir,
            tap_name,
            started: Instant::now(),
        };
        lab.lan.ip(&["link", "add", "br0", "type", "bridge"])?;
        lab.lan.ip(&["link", "set", "br0", "up"])?;
        lab.lan
            .ip(&["tuntap", "add", "dev", &lab.tap_name, "mode", "tap"])?;
        lab.tap = Some(Link::new(&lab.lan, &lab.tap_name));
        lab.lan
            .ip(&["link", "set", &lab.tap_name, "master", "br0"])?;
        lab.lan.ip(&["link", "set", &lab.tap_name, "up"])?;
        Ok(lab)
    }

    /// Adds a server namespace `<lan>-<role>` whose `eth0` has `address`/24 and is bridged to the
    /// client. `drop_4011` makes the namespace silently discard UDP to port 4011 (a policy rule
    /// with action blackhole ahead of the local table), so a boot server there never answers.
    pub fn add_server(
        &mut self,
        role: &str,
        address: Ipv4Addr,
        drop_4011: bool,
    ) -> Result<usize, String> {
        let netns = Netns::create(format!("{}-{role}", self.lan.name))?;
        let port = format!("v{}", self.servers.len());
        self.servers.push(netns);
        let netns = self.servers.last().expect("just pushed");
        self.lan.ip(&[
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns.name,
        ])?;
        self.lan.ip(&["link", "set", &port, "master", "br0"])?;
        self.lan.ip(&["link", "set", &port, "up"])?;
        netns.ip(&["addr", "add", &format!("{address}/24"), "dev", "eth0"])?;
        netns.ip(&["link", "set", "eth0", "up"])?;
        if drop_4011 {
            netns.ip(&["rule", "add", "pref", "10", "lookup", "local"])?;
            netns.ip(&["rule", "del", "pref", "0"])?;
            netns.ip(&[
                "rule",
                "add",
                "pref",
                "5",
                "ipproto",
                "udp",
                "dport",
                "4011",
                "blackhole",
            ])?;
        }
        Ok(self.servers.len() - 1)
    }

    /// Starts dnsmasq in server namespace `server` with `config`, and waits (bounded) until its
    /// log says it is serving.
    pub fn dnsmasq(&mut self, server: usize, role: &str, config: &str) -> Result<(), String> {
        let conf = self.dir.join(format!("dnsmasq-{role}.conf"));
        let log = self.dir.join(format!("dnsmasq-{role}.log"));
        let pid_file = self.dir.join(format!("dnsmasq-{role}.pid"));
        fs::write(&conf, config).map_err(|e| format!("{}: {e}", conf.display()))?;
        let mut command = self.servers[server].command(Path::new("dnsmasq"));
        command
            .arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", conf.display()))
            .arg(format!("--pid-file={}", pid_file.display()))
            .arg(format!("--log-facility={}", log.display()))
            .stdout(Stdio::null())
            .stderr(
                fs::File::create(self.dir.join(format!("dnsmasq-{role}.stderr")))
                    .map_err(|e| e.to_string())?,
            );
        let process = Process::spawn(command, format!("dnsmasq {role}"))?;
        self.processes.push(process);
        let ready = |text: &str| text.contains("DHCP");
        self.wait_for_file(&log, ready, Duration::from_secs(10))
            .map_err(|e| format!("dnsmasq {role}: {e}"))
    }

    /// Starts tcpdump on the TAP, writing `client.pcap` packet by packet, and waits (bounded)
    /// until it is listening.
    pub fn capture(&mut self) -> Result<PathBuf, String> {
        let pcap = self.dir.join("client.pcap");
        let stderr = self.dir.join("tcpdump.stderr");
        let mut command =
            crate::netlab::tcpdump(&self.lan, Path::new("tcpdump"), &self.tap_name, &[], &pcap);
        command
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).map_err(|e| e.to_string())?);
        let process = Process::spawn(command, "tcpdump")?;
        self.processes.push(process);
        self.wait_for_file(
            &stderr,
            |t| t.contains("listening on"),
            Duration::from_secs(10),
        )
        .map_err(|e| format!("tcpdump: {e}"))?;
        Ok(pcap)
    }

    /// Starts QEMU (`args` after the program name) in the client namespace; returns its index
    /// among the lab's processes.
    pub fn qemu(&mut self, program: &Path, args: &[String]) -> Result<usize, String> {
        let stderr = self.dir.join("qemu.stderr");
        let mut command = self.lan.command(program);
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).map_err(|e| e.to_string())?);
        fs::write(
            self.dir.join("qemu.cmdline"),
            format!("{} {}\n", program.display(), args.join(" ")),
        )
        .map_err(|e| e.to_string())?;
        self.started = Instant::now();
        let process = Process::spawn(command, "qemu")?;
        self.processes.push(process);
        Ok(self.processes.len() - 1)
    }

    /// Re-reads the capture every `POLL` until `done` says the scenario has what it needs (then
    /// waits `linger` more, for retries that may still follow) or `budget` has passed since QEMU
    /// started. Stops early if process `qemu` exits. Returns the wall time used.
    pub fn watch(
        &mut self,
        pcap: &Path,
        client: [u8; 6],
        qemu: usize,
        budget: Duration,
        linger: Duration,
        done: impl Fn(&[Observation]) -> bool,
    ) -> Duration {
        let deadline = self.started + budget;
        let mut stop_at: Option<Instant> = None;
        while Instant::now() < deadline && stop_at.is_none_or(|at| Instant::now() < at) {
            thread::sleep(POLL);
            if !self.processes[qemu].running() {
                break;
            }
            if stop_at.is_none() {
                let bytes = fs::read(pcap).unwrap_or_default();
                if done(&capture::observations_from_pcap(&bytes, client)) {
                    stop_at = Some((Instant::now() + linger).min(deadline));
                }
            }
        }
        self.started.elapsed()
    }

    /// Stops every process of the lab (QEMU first, the capture last so it sees everything),
    /// and returns the capture's bytes.
    pub fn finish(&mut self, pcap: &Path) -> Vec<u8> {
        for process in self.processes.iter_mut().rev() {
            process.stop();
        }
        fs::read(pcap).unwrap_or_default()
    }

    /// Waits for the file the last process started writes (its log), failing early if it exits.
    fn wait_for_file(
        &self,
        path: &Path,
        ready: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        crate::netlab::wait_for_file(path, ready, timeout, self.processes.last())
            .map_err(|e| format!("{e} (lab files in {})", self.dir.display()))
    }
}

/// Whether this process can create network namespaces and TAP devices (root, /dev/net/tun).
pub fn can_make_namespaces() -> Result<(), String> {
    crate::netlab::can_make_namespaces("pxl")
}
