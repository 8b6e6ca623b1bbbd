//! `pxelab live` against a real server: the KB2510665 network's server LAN bridged to a TAP in a
//! network namespace where real dnsmasq serves DHCP. Simulated clients boot through the
//! simulated HSRP pair and both relays, dnsmasq sees each DISCOVER twice (once per relay), and
//! the recorded live run replays with no TAP and no dnsmasq to the same digest.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::netlab::{Link, Netns, Process};

const CLIENTS: usize = 4;

/// The shipped live topology (`topologies/live/`); the test counts its clients from it.
const TOPOLOGY: &str = "live/real-dhcp-server.yaml";

const DNSMASQ: &str = "port=0
interface=pxe0
bind-interfaces
dhcp-range=10.1.0.100,10.1.0.199,255.255.255.0,1h
dhcp-option=option:router,10.1.0.1
dhcp-authoritative
no-ping
log-dhcp
no-resolv
no-hosts
";

fn pxelab(netns: Option<&Netns>) -> Command {
    let binary = Path::new(env!("CARGO_BIN_EXE_pxelab"));
    let mut command = match netns {
        Some(netns) => netns.command(binary),
        None => Command::new(binary),
    };
    command
        .env(
            "PXELAB_CACHE_DIR",
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-plugin-cache"),
        )
        .env_remove("PXELAB_CACHE")
        .env_remove("RUST_LOG");
    command
}

#[test]
fn simulated_clients_boot_from_real_dnsmasq_through_both_simulated_relays_and_the_run_replays() {
    let what = "the live run against real dnsmasq";
    if crate::tools::find_all(&[("dnsmasq", "dnsmasq"), ("ip", "iproute2")], what).is_none() {
        return;
    }
    let _lab = crate::netlab::one_lab_at_a_time();
    if let Err(error) = lab() {
        panic!("{what}: {error}");
    }
}

fn lab() -> Result<(), String> {
    let dir = crate::common::scratch_dir("live");
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

    let conf = dir.join("dnsmasq.conf");
    let log = dir.join("dnsmasq.log");
    fs::write(
        &conf,
        format!("{DNSMASQ}dhcp-leasefile={}\n", dir.join("leases").display()),
    )
    .map_err(|e| e.to_string())?;
    let mut dnsmasq = netns.command(Path::new("dnsmasq"));
    dnsmasq
        .arg("--keep-in-foreground")
        .arg(format!("--conf-file={}", conf.display()))
        .arg(format!("--log-facility={}", log.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let dnsmasq = Process::spawn(dnsmasq, "dnsmasq")?;
    crate::netlab::wait_for_file(
        &log,
        |text| text.contains("DHCP"),
        Duration::from_secs(10),
        Some(&dnsmasq),
    )
    .map_err(|e| format!("dnsmasq: {e}"))?;

    let topology = crate::common::topology_path(TOPOLOGY);
    let record = dir.join("record");
    let stdout = dir.join("live.stdout");
    let stderr = dir.join("live.stderr");
    let mut live = pxelab(Some(&netns));
    live.arg("live")
        .arg(&topology)
        .arg("--out")
        .arg(&record)
        .stdout(fs::File::create(&stdout).map_err(|e| e.to_string())?)
        .stderr(fs::File::create(&stderr).map_err(|e| e.to_string())?);
    let mut live = Process::spawn(live, "pxelab live")?;
    // 12 s of simulated (and real) time, plus compiling the plugins.
    if !live.wait_gone(Duration::from_secs(120)) {
        return Err(format!(
            "pxelab live did not end in 120 s (files in {})",
            dir.display()
        ));
    }
    let status = live.exit_status()?;
    let output = fs::read_to_string(&stdout).unwrap_or_default();
    let errors = fs::read_to_string(&stderr).unwrap_or_default();
    if !status.success() {
        return Err(format!("pxelab live: {status}\n{output}\n{errors}"));
    }
    let booted = output.matches(" booted ").count();
    if !output.contains("every client boots") && booted < CLIENTS {
        return Err(format!("not every client booted:\n{output}"));
    }

    // dnsmasq answered every copy: two relays, so at least two DISCOVERs per client.
    let dnsmasq_log = fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let discovers = dnsmasq_log.matches("DHCPDISCOVER(pxe0)").count();
    let acks = dnsmasq_log.matches("DHCPACK(pxe0)").count();
    if discovers < 2 * CLIENTS || acks < CLIENTS {
        return Err(format!(
            "dnsmasq saw {discovers} DISCOVERs and sent {acks} ACKs for {CLIENTS} clients:\n{dnsmasq_log}"
        ));
    }
    if !output.contains("replay    pxelab replay DIR") {
        return Err(format!(
            "a live run's report names `pxelab run` as its replay:\n{output}"
        ));
    }
    println!("{output}dnsmasq: {discovers} DISCOVERs, {acks} ACKs");

    // The record replays with no TAP and no dnsmasq, to the recorded digest.
    drop(dnsmasq);
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
