//! The pieces every real-software lab of the tests is made of: network namespaces, links and
//! processes that are removed by name or stopped by pid when they are dropped, also when a test
//! panics, and the `ip` and `kill` calls behind them. `real_firmware` (QEMU firmware against
//! dnsmasq) and `real_relay` (keepalived, dhcrelay, dhcpd) build their labs from these.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a process gets to exit after SIGTERM before its group is killed.
const GRACE: Duration = Duration::from_secs(3);

/// The programs every lab runs, for its namespaces and links, its signals and its captures:
/// (executable, Debian package).
pub const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("kill", "procps"),
    ("tcpdump", "tcpdump"),
];

/// The paths of `TOOLS` and then of a lab's `own` tools, in that order, found as
/// `tools::find_all` finds them.
pub fn find_tools(own: &[(&str, &str)], what: &str) -> Option<Vec<PathBuf>> {
    crate::tools::find_all(&[TOOLS, own].concat(), what)
}

/// tcpdump (at `program`) in `netns` on `interface`, writing whole packets to `pcap` as they
/// come (`-U`), without name lookups, staying root; `extra` arguments go before the interface.
pub fn tcpdump(
    netns: &Netns,
    program: &Path,
    interface: &str,
    extra: &[&str],
    pcap: &Path,
) -> Command {
    let mut command = netns.command(program);
    command
        .args(["-U", "-n", "-s", "0", "-Z", "root"])
        .args(extra)
        .args(["-i", interface, "-w"])
        .arg(pcap);
    command
}

/// The `pxelab` binary (in `netns` when given) as the live labs run it: with their own plugin
/// compile cache, and no cache or log switches from the environment of the test run.
pub fn pxelab(netns: Option<&Netns>) -> Command {
    let binary = Path::new(env!("CARGO_BIN_EXE_pxelab"));
    let mut command = match netns {
        Some(netns) => netns.command(binary),
        None => Command::new(binary),
    };
    command
        .env(
            "PXELAB_CACHE_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-plugin-cache"),
        )
        .env_remove("PXELAB_CACHE")
        .env_remove("RUST_LOG");
    command
}

/// Held by a real-software lab while it runs: the labs judge wall-clock timings, so two of them
/// (now tests of one binary) never run at the same time, as they did not when each was its own
/// binary. A lab that panicked leaves the lock poisoned; the next one takes it all the same.
pub fn one_lab_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LAB.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs a program to completion, failing with its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// `ip ARGS`.
pub fn ip(args: &[&str]) -> Result<String, String> {
    run("ip", args)
}

/// Waits (bounded) until `ready` says the text of the file at `path` is ready (a daemon's log
/// saying it listens, say); fails early when `writer`, the process writing it, exits first.
pub fn wait_for_file(
    path: &Path,
    ready: impl Fn(&str) -> bool,
    timeout: Duration,
    writer: Option<&Process>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if ready(&text) {
            return Ok(());
        }
        if let Some(writer) = writer.filter(|writer| !writer.running()) {
            return Err(format!(
                "{} exited before it was ready; see {}",
                writer.what,
                path.display()
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} not ready after {timeout:?}; it says: {}",
                path.display(),
                text.trim()
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Whether network namespaces can be made here (root, a kernel that allows it), by making and
/// deleting one named after `tag` and this process.
pub fn can_make_namespaces(tag: &str) -> Result<(), String> {
    Netns::create(format!("{tag}probe{}", std::process::id())).map(drop)
}

/// A network namespace with its loopback up and IPv6 off (router solicitations and MLD
/// reports would only be noise in a capture), deleted by name when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: String) -> Result<Netns, String> {
        ip(&["netns", "add", &name])?;
        let netns = Netns { name };
        netns.ip(&["link", "set", "lo", "up"])?;
        netns.sysctl("net.ipv6.conf.all.disable_ipv6=1")?;
        netns.sysctl("net.ipv6.conf.default.disable_ipv6=1")?;
        Ok(netns)
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    pub fn sysctl(&self, setting: &str) -> Result<(), String> {
        run(
            "ip",
            &["netns", "exec", &self.name, "sysctl", "-qw", setting],
        )
        .map(|_| ())
    }

    /// A command run inside the namespace. `ip netns exec` execs the program, so the child's
    /// pid is the program's own.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name])
            .arg(program)
            .stdin(Stdio::null());
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// A network device in a namespace (a TAP, a bridge, one end of a veth pair), deleted by name
/// when dropped (deleting one end of a veth pair deletes both).
pub struct Link {
    netns: String,
    pub name: String,
}

impl Link {
    /// Takes charge of the device `name`, already made in `netns`.
    pub fn new(netns: &Netns, name: &str) -> Link {
        Link {
            netns: netns.name.clone(),
            name: name.to_string(),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Err(e) = ip(&["-n", &self.netns, "link", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// A process started in a process group of its own (its pid is the group's id), so that the
/// children it forks (keepalived's VRRP process) are signalled with it. Stopped when dropped:
/// SIGTERM to the process, then SIGKILL to its group after a grace period; the leader is reaped
/// only at the end, so the group id cannot be reused while it is signalled.
pub struct Process {
    pub what: String,
    child: Child,
    reaped: bool,
}

impl Process {
    pub fn spawn(mut command: Command, what: impl Into<String>) -> Result<Process, String> {
        use std::os::unix::process::CommandExt;
        let what = what.into();
        command.process_group(0);
        let child = command.spawn().map_err(|e| format!("{what}: {e}"))?;
        Ok(Process {
            what,
            child,
            reaped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The live (not zombie) members of the process group, from /proc.
    fn group_members(&self) -> Vec<u32> {
        let pgid = self.pid();
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    return false;
                };
                // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
                let Some((_, rest)) = stat.rsplit_once(')') else {
                    return false;
                };
                let fields: Vec<&str> = rest.split_whitespace().collect();
                fields.len() > 3 && fields[0] != "Z" && fields[2] == pgid.to_string()
            })
            .collect()
    }

    /// Whether any process of the group is still alive.
    pub fn running(&self) -> bool {
        !self.reaped && !self.group_members().is_empty()
    }

    /// `kill -SIGNAL PID`: the leader only.
    pub fn signal(&self, signal: &str) -> Result<(), String> {
        if self.reaped {
            return Err(format!("{} has already exited", self.what));
        }
        run("kill", &[&format!("-{signal}"), &self.pid().to_string()]).map(|_| ())
    }

    /// `kill -SIGNAL -- -PGID`: every process of the group at once.
    pub fn signal_group(&self, signal: &str) -> Result<(), String> {
        if self.reaped {
            return Err(format!("{} has already exited", self.what));
        }
        let group = format!("-{}", self.pid());
        run("kill", &[&format!("-{signal}"), "--", &group]).map(|_| ())
    }

    /// Waits (bounded) until no process of the group is alive; whether that happened.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.running() {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        !self.running()
    }

    /// Reaps a process that has exited (see `wait_gone`) and gives its exit status.
    pub fn exit_status(&mut self) -> Result<std::process::ExitStatus, String> {
        let status = self
            .child
            .wait()
            .map_err(|e| format!("{}: {e}", self.what))?;
        self.reaped = true;
        Ok(status)
    }

    /// SIGTERM, up to `GRACE` to exit, then SIGKILL to the whole group; then reaps the leader.
    pub fn stop(&mut self) {
        if self.reaped {
            return;
        }
        if self.running() {
            let _ = self.signal("TERM");
            if !self.wait_gone(GRACE) {
                eprintln!(
                    "cleanup: {} (pid {}) ignored SIGTERM; killing its group",
                    self.what,
                    self.pid()
                );
            }
        }
        if !self.group_members().is_empty() {
            let _ = self.signal_group("KILL");
            self.wait_gone(GRACE);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}
