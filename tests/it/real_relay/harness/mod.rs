//! A throw-away lab of real software in network namespaces: two Linux routers running
//! keepalived (one VRRP group on the client LAN) and ISC dhcrelay, an ISC dhcpd behind them,
//! a client namespace, and one switch namespace whose two bridges carry the LANs and are
//! watched by tcpdump. Every namespace, bridge, veth and process carries the test's process id
//! in its name or is known by its pid, and is removed by name or pid when the lab is dropped,
//! also when a test panics.

#![allow(dead_code)] // the test uses part of the lab at a time

pub mod observe;

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::netlab::{Link, Netns, Process};

/// The external programs the lab needs besides `netlab::TOOLS`: (executable, Debian package).
pub const TOOLS: &[(&str, &str)] = &[
    ("keepalived", "keepalived"),
    ("dhcrelay", "isc-dhcp-relay"),
    ("dhcpd", "isc-dhcp-server"),
];

/// How often a running capture is re-read while waiting for something to appear in it.
pub const POLL: Duration = Duration::from_millis(100);

/// The wall clock in nanoseconds since the epoch: tcpdump's timestamps use the same clock.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Whether network namespaces can be made here (root, a kernel that allows it).
pub fn can_create_namespaces() -> Result<(), String> {
    crate::netlab::can_make_namespaces("rr")
}

/// The lab's fixed shape: addresses, MACs and the names of the interfaces inside the router
/// and host namespaces.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
pub const VRID: u8 = 10;
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 10);
pub const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x42];
pub const ROUTER_CLIENT_MACS: [[u8; 6]; 2] = [
    [0x02, 0x00, 0x00, 0x01, 0x00, 0x02],
    [0x02, 0x00, 0x00, 0x01, 0x00, 0x03],
];
pub const ROUTER_SERVER_MACS: [[u8; 6]; 2] = [
    [0x02, 0x00, 0x00, 0x02, 0x00, 0x02],
    [0x02, 0x00, 0x00, 0x02, 0x00, 0x03],
];
pub const SERVER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x02, 0x00, 0x10];
pub const PRIORITIES: [u8; 2] = [110, 100];

pub fn shape() -> observe::Shape {
    observe::Shape {
        vip: VIP,
        vrid: VRID,
        routers: [
            (
                Ipv4Addr::new(10, 1, 0, 2),
                ROUTER_CLIENT_MACS[0],
                Ipv4Addr::new(10, 2, 0, 2),
            ),
            (
                Ipv4Addr::new(10, 1, 0, 3),
                ROUTER_CLIENT_MACS[1],
                Ipv4Addr::new(10, 2, 0, 3),
            ),
        ],
        server: SERVER,
    }
}

/// Which of the lab's processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Capture(usize),
    Dhcpd,
    Relay(usize),
    Keepalived(usize),
}

/// The lab. Fields drop in declaration order: processes first, then the veths and bridges, then
/// the namespaces.
pub struct Lab {
    processes: Vec<(Role, Process)>,
    links: Vec<Link>,
    pub switch: Netns,
    pub client: Netns,
    pub routers: [Netns; 2],
    pub server: Netns,
    pub dir: PathBuf,
    /// Bridge names in the switch namespace: client LAN, server LAN.
    pub bridges: [String; 2],
    /// Interface names inside the hosts: a router's client side and server side, the client's
    /// and the server's one interface.
    pub router_client_if: String,
    pub router_server_if: String,
    pub host_if: String,
}

fn mac_text(mac: [u8; 6]) -> String {
    observe::mac(mac)
}

impl Lab {
    /// Builds the namespaces, bridges and veths and addresses them. Files go to `dir`, which is
    /// emptied first.
    pub fn new(dir: PathBuf) -> Result<Lab, String> {
        let pid = std::process::id();
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = |role: &str| format!("rr{pid}-{role}");
        // Created one by one so that each is dropped if a later one fails.
        let switch = Netns::create(name("sw"))?;
        let client = Netns::create(name("cl"))?;
        let r1 = Netns::create(name("r1"))?;
        let r2 = Netns::create(name("r2"))?;
        let server = Netns::create(name("srv"))?;
        let mut lab = Lab {
            processes: Vec::new(),
            links: Vec::new(),
            switch,
            client,
            routers: [r1, r2],
            server,
            dir,
            bridges: [format!("bc{pid}"), format!("bs{pid}")],
            router_client_if: format!("c{pid}"),
            router_server_if: format!("s{pid}"),
            host_if: format!("e{pid}"),
        };
        for bridge in lab.bridges.clone() {
            lab.switch.ip(&["link", "add", &bridge, "type", "bridge"])?;
            lab.links.push(Link::new(&lab.switch, &bridge));
            // Forward at once: no STP listening delay, and frames are forwarded as they come.
            lab.switch.ip(&[
                "link",
                "set",
                &bridge,
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
            ])?;
            lab.switch.ip(&["link", "set", &bridge, "up"])?;
        }
        let [client_lan, server_lan] = lab.bridges.clone();
        let host_if = lab.host_if.clone();
        let rc = lab.router_client_if.clone();
        let rs = lab.router_server_if.clone();
        lab.port(&format!("v{pid}cl"), 0, &host_if, CLIENT_MAC, &client_lan)?;
        for index in 0..2 {
            let n = index + 1;
            lab.port(
                &format!("v{pid}r{n}c"),
                1 + index,
                &rc,
                ROUTER_CLIENT_MACS[index],
                &client_lan,
            )?;
            lab.port(
                &format!("v{pid}r{n}s"),
                1 + index,
                &rs,
                ROUTER_SERVER_MACS[index],
                &server_lan,
            )?;
            let router = &lab.routers[index];
            router.ip(&["addr", "add", &format!("10.1.0.{}/24", n + 1), "dev", &rc])?;
            router.ip(&["addr", "add", &format!("10.2.0.{}/24", n + 1), "dev", &rs])?;
            router.sysctl("net.ipv4.ip_forward=1")?;
        }
        lab.port(&format!("v{pid}srv"), 3, &host_if, SERVER_MAC, &server_lan)?;
        lab.server
            .ip(&["addr", "add", &format!("{SERVER}/24"), "dev", &host_if])?;
        lab.server
            .ip(&["route", "add", "10.1.0.0/24", "via", "10.2.0.2"])?;
        // The client has no address, as a DHCP client has none: a device route lets it
        // broadcast from 0.0.0.0.
        lab.client
            .ip(&["route", "add", "default", "dev", &host_if])?;
        Ok(lab)
    }

    /// The namespace of host `index`: 0 client, 1 and 2 the routers, 3 the server.
    fn host(&self, index: usize) -> &Netns {
        match index {
            0 => &self.client,
            1 | 2 => &self.routers[index - 1],
            _ => &self.server,
        }
    }

    /// A veth pair: `port` on `bridge` in the switch, `inside` (with `mac`) in host `host`.
    fn port(
        &mut self,
        port: &str,
        host: usize,
        inside: &str,
        mac: [u8; 6],
        bridge: &str,
    ) -> Result<(), String> {
        let host_ns = self.host(host).name.clone();
        self.switch.ip(&[
            "link", "add", port, "type", "veth", "peer", "name", inside, "netns", &host_ns,
        ])?;
        self.links.push(Link::new(&self.switch, port));
        self.switch.ip(&["link", "set", port, "master", bridge])?;
        self.switch.ip(&["link", "set", port, "up"])?;
        let host = self.host(host);
        host.ip(&["link", "set", inside, "address", &mac_text(mac)])?;
        host.ip(&["link", "set", inside, "up"])?;
        Ok(())
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn output(&self, name: &str) -> Result<fs::File, String> {
        fs::File::create(self.file(name)).map_err(|e| format!("{name}: {e}"))
    }

    fn spawn(&mut self, role: Role, command: Command, what: String) -> Result<(), String> {
        let process = Process::spawn(command, what)?;
        self.processes.push((role, process));
        Ok(())
    }

    pub fn process(&self, role: Role) -> Option<&Process> {
        self.processes
            .iter()
            .rev()
            .find(|(r, _)| *r == role)
            .map(|(_, p)| p)
    }

    /// Waits (bounded) until `ready` says the file's text is ready.
    pub fn wait_for_file(
        &self,
        path: &Path,
        ready: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        crate::netlab::wait_for_file(path, ready, timeout, None)
    }

    /// tcpdump on bridge `lan` (0 client LAN, 1 server LAN), writing packet by packet with
    /// nanosecond timestamps; waits (bounded) until it listens. Returns the pcap's path.
    pub fn capture(&mut self, tcpdump: &Path, lan: usize) -> Result<PathBuf, String> {
        let name = ["client-lan", "server-lan"][lan];
        let pcap = self.file(&format!("{name}.pcap"));
        let stderr = self.file(&format!("tcpdump-{name}.stderr"));
        let mut command = crate::netlab::tcpdump(
            &self.switch,
            tcpdump,
            &self.bridges[lan],
            &["--time-stamp-precision", "nano"],
            &pcap,
        );
        command
            .stdout(Stdio::null())
            .stderr(self.output(&format!("tcpdump-{name}.stderr"))?);
        self.spawn(Role::Capture(lan), command, format!("tcpdump {name}"))?;
        self.wait_for_file(
            &stderr,
            |t| t.contains("listening on"),
            Duration::from_secs(10),
        )?;
        Ok(pcap)
    }

    /// ISC dhcpd on the server, one pool on the client LAN; waits until it serves.
    pub fn dhcpd(&mut self, dhcpd: &Path) -> Result<(), String> {
        let conf = self.file("dhcpd.conf");
        let leases = self.file("dhcpd.leases");
        let log = self.file("dhcpd.log");
        fs::write(&conf, DHCPD_CONF).map_err(|e| format!("{}: {e}", conf.display()))?;
        fs::write(&leases, "").map_err(|e| format!("{}: {e}", leases.display()))?;
        let mut command = self.server.command(dhcpd);
        command
            .args(["-f", "-d", "-4", "-cf"])
            .arg(&conf)
            .arg("-lf")
            .arg(&leases)
            .arg("-pf")
            .arg(self.file("dhcpd.pid"))
            .arg(&self.host_if)
            .stdout(Stdio::null())
            .stderr(self.output("dhcpd.log")?);
        self.spawn(Role::Dhcpd, command, "dhcpd".to_string())?;
        self.wait_for_file(
            &log,
            |t| t.contains("Server starting service"),
            Duration::from_secs(10),
        )
    }

    /// ISC dhcrelay on router `index`: client side downstream, server side upstream, relaying
    /// to the server; waits until it listens.
    pub fn dhcrelay(&mut self, dhcrelay: &Path, index: usize) -> Result<(), String> {
        let name = format!("dhcrelay-r{}", index + 1);
        let log = self.file(&format!("{name}.log"));
        let mut command = self.routers[index].command(dhcrelay);
        command
            .args(["-d", "-4", "-pf"])
            .arg(self.file(&format!("{name}.pid")))
            .args(["-iu", &self.router_server_if, "-id", &self.router_client_if])
            .arg(SERVER.to_string())
            .stdout(Stdio::null())
            .stderr(self.output(&format!("{name}.log"))?);
        self.spawn(Role::Relay(index), command, name)?;
        self.wait_for_file(
            &log,
            |t| t.contains("Sending on   Socket/fallback"),
            Duration::from_secs(10),
        )
    }

    /// The keepalived configuration of router `index`.
    pub fn keepalived_conf(&self, index: usize) -> String {
        keepalived_conf(index, &self.router_client_if)
    }

    /// keepalived (VRRP only, in the foreground, logging to the console) on router `index`,
    /// with pid files of its own. Each start gets a new log file, `keepalived-rN-K.log`.
    pub fn keepalived(&mut self, keepalived: &Path, index: usize) -> Result<PathBuf, String> {
        let name = format!("keepalived-r{}", index + 1);
        let conf = self.file(&format!("{name}.conf"));
        fs::write(&conf, self.keepalived_conf(index))
            .map_err(|e| format!("{}: {e}", conf.display()))?;
        let starts = self
            .processes
            .iter()
            .filter(|(r, _)| *r == Role::Keepalived(index))
            .count();
        let log_name = format!("{name}-{starts}.log");
        let log = self.file(&log_name);
        let mut command = self.routers[index].command(keepalived);
        command
            .args(["--dont-fork", "--log-console", "--log-detail", "--vrrp"])
            .arg(format!("--use-file={}", conf.display()))
            .arg(format!(
                "--pid={}",
                self.file(&format!("{name}.pid")).display()
            ))
            .arg(format!(
                "--vrrp_pid={}",
                self.file(&format!("{name}-vrrp.pid")).display()
            ))
            .stdout(Stdio::null())
            .stderr(self.output(&log_name)?);
        self.spawn(Role::Keepalived(index), command, name)?;
        self.wait_for_file(
            &log,
            |t| t.contains("Entering BACKUP STATE") || t.contains("Entering MASTER STATE"),
            Duration::from_secs(10),
        )?;
        Ok(log)
    }

    /// Runs `program ARGS` in the client namespace to completion (bounded by `timeout`).
    pub fn run_in_client(
        &self,
        program: &Path,
        args: &[&str],
        envs: &[(&str, String)],
        timeout: Duration,
    ) -> Result<(), String> {
        let mut command = self.client.command(program);
        command
            .args(args)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(self.output("client.stdout")?)
            .stderr(self.output("client.stderr")?);
        let mut process = Process::spawn(command, "client")?;
        if !process.wait_gone(timeout) {
            // Dropping it stops it.
            return Err(format!("client: still running after {timeout:?}"));
        }
        let status = process.exit_status()?;
        if status.success() {
            Ok(())
        } else {
            let stderr = fs::read_to_string(self.file("client.stderr")).unwrap_or_default();
            Err(format!("client: {status}: {}", stderr.trim()))
        }
    }

    /// Stops the newest process of `role` (SIGTERM, then SIGKILL to its group) and reaps it;
    /// after a crash this only reaps.
    pub fn stop(&mut self, role: Role) {
        if let Some((_, process)) = self.processes.iter_mut().rev().find(|(r, _)| *r == role) {
            process.stop();
        }
    }

    /// Stops every process (the captures last, so they see everything), newest first.
    pub fn stop_all(&mut self) {
        for (_, process) in self.processes.iter_mut().rev() {
            if !matches!(process.what.as_str(), w if w.starts_with("tcpdump")) {
                process.stop();
            }
        }
        // tcpdump flushes on SIGTERM.
        for (_, process) in self.processes.iter_mut().rev() {
            process.stop();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// dhcpd: a declaration for the server's own LAN (dhcpd refuses to listen on an interface
/// without one) and a pool on the client LAN, reached through the relays. No ping check, so
/// that an OFFER follows at once.
pub const DHCPD_CONF: &str = "\
authoritative;
ping-check false;
default-lease-time 600;
max-lease-time 600;
subnet 10.2.0.0 netmask 255.255.255.0 {
}
subnet 10.1.0.0 netmask 255.255.255.0 {
  range 10.1.0.100 10.1.0.199;
  option routers 10.1.0.1;
  option subnet-mask 255.255.255.0;
}
";

/// keepalived: VRRP v2 (its default), VRID 10, the virtual IP on the client-side interface,
/// r1 priority 110 configured MASTER, r2 priority 100 BACKUP, adverts every second; everything
/// else keepalived's defaults (gratuitous ARPs: 5 on becoming master and 5 more 5 s later).
pub fn keepalived_conf(index: usize, interface: &str) -> String {
    let state = if index == 0 { "MASTER" } else { "BACKUP" };
    format!(
        "global_defs {{
  router_id r{router}
}}
vrrp_instance VI_{VRID} {{
  interface {interface}
  state {state}
  virtual_router_id {VRID}
  priority {priority}
  advert_int 1
  virtual_ipaddress {{
    {VIP}/24
  }}
}}
",
        router = index + 1,
        priority = PRIORITIES[index],
    )
}
