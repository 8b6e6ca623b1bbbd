//! Real firmware through the simulated routers: QEMU (SeaBIOS with the iPXE ROM, and OVMF) on a
//! TAP bridged, in a network namespace of the test's own, to the TAP `pxelab live` attaches to
//! the client LAN of `topologies/live/kb2510665-live.yaml`. Its DHCP goes through the simulated
//! HSRP pair and both relays to the simulated DHCP server and WDS (`wds-fixed`), which serves
//! Debian's syslinux from the files the topology gives it; the test reads syslinux's banner on
//! the VM's serial console. With `kb2510665-live-crash.yaml` (`wds-sccm2007`, a device lookup
//! long enough that the second relayed copy always lands while the first is in flight) and a
//! seed the simulation shows crashing (`pxelab sweep`), the VM shows its firmware's own error.
//! Every live run writes its record, and `pxelab replay` of it gives the recorded digest.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::netlab::{Link, Netns, Process, pxelab};
use crate::real_firmware::real::scenario::{self, Firmware};

const WHAT: &str = "real firmware through the simulated routers (tests/it/live_firmware.rs)";
const BOOT: &str = "live/kb2510665-live.yaml";
const CRASH: &str = "live/kb2510665-live-crash.yaml";
/// The title of the menu `kb2510665-live.cfg` makes syslinux show.
const MENU_TITLE: &str = "pxelab live: syslinux via the simulated HSRP pair";
const SYSLINUX_EFI: &str = "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi";
const LDLINUX_E64: &str = "/usr/lib/syslinux/modules/efi64/ldlinux.e64";
/// How long a VM gets from its start to the text a case waits for. OVMF under TCG takes 8-15 s
/// to reach PXE, and shows PXE-E16 after about a minute of DISCOVERs.
const BUDGET_BIOS: Duration = Duration::from_secs(60);
const BUDGET_EFI: Duration = Duration::from_secs(100);
/// Seeds swept to find one where the crash variant crashes.
const SWEEP_SEEDS: &str = "0..20";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Boot,
    Crash,
}

/// One live run: what the VM printed, and when.
struct Outcome {
    firmware: Firmware,
    case: Case,
    seed: u64,
    /// From QEMU's start to the text the case waits for.
    shown_after: Duration,
    /// The serial line that showed it.
    line: String,
    /// The live report's lines on the bridge's traffic, the lag and the crash, if any.
    live: Vec<String>,
    digest: String,
    wall: Duration,
}

#[test]
fn real_firmware_boots_through_the_simulated_hsrp_pair_and_shows_its_error_when_wds_crashes() {
    let Some(found) = crate::netlab::find_tools(&[("qemu-system-x86_64", "qemu-system-x86")], WHAT)
    else {
        return;
    };
    let qemu = found[crate::netlab::TOOLS.len()].clone();
    let uefi_files = [
        (SYSLINUX_EFI, "syslinux-efi"),
        (LDLINUX_E64, "syslinux-efi"),
    ];
    for (file, package) in scenario::BOOT_FILES.into_iter().chain(uefi_files) {
        if crate::tools::file(file, package, WHAT).is_none() {
            return;
        }
    }
    if let Err(why) = crate::netlab::can_make_namespaces("pxq") {
        crate::tools::missing(&format!("root and network namespaces ({why})"), WHAT);
        return;
    }
    let _lab = crate::netlab::one_lab_at_a_time();
    let started = Instant::now();
    let dir = crate::common::scratch_dir("live-firmware");
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    for firmware in Firmware::ALL {
        let seed = match crashing_seed(&dir, firmware) {
            Ok(seed) => seed,
            Err(error) => {
                errors.push(format!("{} sweep: {error}", firmware.name()));
                continue;
            }
        };
        for (case, seed) in [(Case::Boot, 0), (Case::Crash, seed)] {
            let case_dir = dir.join(format!("{}-{case:?}", firmware.name()));
            match live_run(&qemu, &case_dir, firmware, case, seed) {
                Ok(outcome) => outcomes.push(outcome),
                Err(error) => errors.push(format!(
                    "{} {case:?} (files in {}): {error}",
                    firmware.name(),
                    case_dir.display()
                )),
            }
        }
    }
    for outcome in &outcomes {
        println!(
            "{} {:?} seed {}: `{}` on the serial console {:.1} s after QEMU started; digest {} replays; {:.1} s wall",
            outcome.firmware.name(),
            outcome.case,
            outcome.seed,
            outcome.line,
            outcome.shown_after.as_secs_f64(),
            outcome.digest,
            outcome.wall.as_secs_f64()
        );
        for line in &outcome.live {
            println!("    {line}");
        }
    }
    println!(
        "all live runs: {:.1} s wall",
        started.elapsed().as_secs_f64()
    );
    assert!(errors.is_empty(), "{WHAT}:\n{}", errors.join("\n"));
    let _ = fs::remove_dir_all(&dir);
}

/// The crash variant with a simulated client of `firmware`'s profile in place of the real one,
/// swept: every seed must crash (the variant is built so), and the first one is the live run's.
fn crashing_seed(dir: &Path, firmware: Firmware) -> Result<u64, String> {
    let (arch, profile) = match firmware {
        Firmware::Ipxe => ("bios", "ipxe"),
        Firmware::Edk2 => ("efi-x64", "edk2"),
    };
    let text = crate::common::topology_text(CRASH).replace(
        "clients: []",
        &format!("clients:\n  - {{ name: vm, lan: clients, arch: {arch}, firmware: {profile}, power_on: \"uniform(0s, 5s)\" }}"),
    );
    let path = dir.join(format!("crash-simulated-{}.yaml", firmware.name()));
    fs::write(&path, text).map_err(|e| e.to_string())?;
    let output = pxelab(None)
        .args(["sweep", "--json", "--seeds", SWEEP_SEEDS])
        .arg(&path)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let sweep: serde_json::Value = serde_json::from_str(&stdout).map_err(|e| {
        format!(
            "pxelab sweep printed no JSON ({e}): {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let crashed = sweep["crashed_runs"].as_u64();
    let runs = sweep["runs"].as_u64();
    if crashed.is_none() || crashed != runs {
        return Err(format!(
            "the crash variant crashed in {crashed:?} of {runs:?} runs, not all: {stdout}"
        ));
    }
    sweep["first_crashes"][0][0]
        .as_u64()
        .ok_or_else(|| format!("no crashing seed listed: {stdout}"))
}

/// One VM booted through `pxelab live` of the case's topology, until its serial console shows
/// what the case waits for; then the live run is stopped with Ctrl-C and its record replayed.
fn live_run(
    qemu: &Path,
    dir: &Path,
    firmware: Firmware,
    case: Case,
    seed: u64,
) -> Result<Outcome, String> {
    let started = Instant::now();
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let pid = std::process::id();
    let tag = match (firmware, case) {
        (Firmware::Ipxe, Case::Boot) => "ib",
        (Firmware::Ipxe, Case::Crash) => "ic",
        (Firmware::Edk2, Case::Boot) => "eb",
        (Firmware::Edk2, Case::Crash) => "ec",
    };
    let netns = Netns::create(format!("pxq{pid}{tag}"))?;
    netns.ip(&["link", "add", "br0", "type", "bridge"])?;
    let _bridge = Link::new(&netns, "br0");
    netns.ip(&["link", "set", "br0", "up"])?;
    // pxelab's TAP and the VM's, joined by the namespace's bridge.
    let mut taps = Vec::new();
    for tap in ["pxe0", "vm0"] {
        netns.ip(&["tuntap", "add", "dev", tap, "mode", "tap"])?;
        taps.push(Link::new(&netns, tap));
        netns.ip(&["link", "set", tap, "master", "br0"])?;
        netns.ip(&["link", "set", tap, "up"])?;
    }

    let topology = crate::common::topology_path(match case {
        Case::Boot => BOOT,
        Case::Crash => CRASH,
    });
    let record = dir.join("record");
    let stdout = dir.join("live.stdout");
    let stderr = dir.join("live.stderr");
    let mut command = pxelab(Some(&netns));
    command
        .arg("live")
        .arg(&topology)
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(&record)
        .stdout(fs::File::create(&stdout).map_err(|e| e.to_string())?)
        .stderr(fs::File::create(&stderr).map_err(|e| e.to_string())?);
    let mut live = Process::spawn(command, "pxelab live")?;
    crate::netlab::wait_for_file(
        &stderr,
        |text| text.contains("bridged LAN `clients`"),
        Duration::from_secs(60),
        Some(&live),
    )?;

    if firmware == Firmware::Edk2 {
        fs::copy(scenario::OVMF_VARS, dir.join("OVMF_VARS.fd")).map_err(|e| e.to_string())?;
    }
    let mac = [0x52, 0x54, 0x00, 0x51, firmware as u8 + 1, case as u8 + 1];
    let mut args = firmware.qemu_args(dir, "vm0", mac);
    if firmware == Firmware::Ipxe {
        // Without a display SeaBIOS then writes the screen to the serial port (its sercon),
        // iPXE's messages included.
        args.extend(["-machine".to_string(), "graphics=off".to_string()]);
    }
    let mut vm = netns.command(qemu);
    vm.args(&args)
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("qemu.stderr")).map_err(|e| e.to_string())?);
    let vm_started = Instant::now();
    let mut vm = Process::spawn(vm, "qemu")?;
    let serial = dir.join("serial.log");
    let budget = match firmware {
        Firmware::Ipxe => BUDGET_BIOS,
        Firmware::Edk2 => BUDGET_EFI,
    };
    let wanted = |text: &str| expected_line(firmware, case, text);
    let shown = wait_for_serial(&serial, |text| wanted(text).is_some(), budget, &vm);
    let shown_after = vm_started.elapsed();
    vm.stop();
    let text = String::from_utf8_lossy(&fs::read(&serial).unwrap_or_default()).into_owned();
    live.signal("INT")?;
    let ended = live.wait_gone(Duration::from_secs(30));
    let report = fs::read_to_string(&stdout).unwrap_or_default();
    shown.map_err(|e| {
        format!("the VM did not show what {case:?} expects: {e}\nlive report:\n{report}")
    })?;
    if !ended {
        return Err("pxelab live did not end within 30 s of Ctrl-C".to_string());
    }
    let status = live.exit_status()?;
    if status.code() != Some(130) {
        return Err(format!(
            "pxelab live ended with {status}, not 130 (interrupted):\n{report}{}",
            fs::read_to_string(&stderr).unwrap_or_default()
        ));
    }
    check_report(case, &report)?;
    let digest = check_replay(&record, case)?;
    Ok(Outcome {
        firmware,
        case,
        seed,
        shown_after,
        line: wanted(&text).unwrap_or_default(),
        live: report
            .lines()
            .filter(|line| {
                line.starts_with("live ")
                    || line.starts_with("lag ")
                    || line.starts_with("summary ")
                    || line.contains("heap corruption")
            })
            .map(|line| line.trim().to_string())
            .collect(),
        digest,
        wall: started.elapsed(),
    })
}

/// Waits (bounded) until `ready` says the serial console's text (firmware writes escape
/// sequences and stray bytes, so it is read lossily) has what the case waits for; fails early
/// when the VM exits first.
fn wait_for_serial(
    path: &Path,
    ready: impl Fn(&str) -> bool,
    timeout: Duration,
    vm: &Process,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned();
        if ready(&text) {
            return Ok(());
        }
        if !vm.running() {
            return Err(format!("QEMU exited first; its console says:\n{text}"));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "nothing after {timeout:?}; the console says:\n{text}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The console's text without terminal escapes and shift characters: OVMF moves the cursor
/// before every character it prints, menu.c32 draws its frame in the line-drawing set.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters, then one final byte.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                // Character set designations: one more byte.
                Some('(' | ')' | '%') => {
                    chars.next();
                }
                _ => {}
            },
            '\u{e}' | '\u{f}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The serial line a case waits for: pxelinux's version banner and the menu the topology's
/// configuration shows (syslinux.efi prints no banner on the serial console, only the menu);
/// for the crash, the firmware's own error.
fn expected_line(firmware: Firmware, case: Case, text: &str) -> Option<String> {
    let text = plain(text);
    let line = |needle: &str| {
        text.lines()
            .find(|line| line.contains(needle))
            .map(|line| line.trim().to_string())
    };
    match case {
        Case::Boot => {
            line(MENU_TITLE)?;
            match firmware {
                Firmware::Ipxe => line("PXELINUX 6"),
                // OVMF names the NBP it loaded, then syslinux.efi draws the menu.
                Firmware::Edk2 => {
                    line("NBP filename is efi64/syslinux.efi")?;
                    Some(MENU_TITLE.to_string())
                }
            }
        }
        Case::Crash => match firmware {
            // iPXE says why (an ipxe.org error URL) and then gives up on the NIC.
            Firmware::Ipxe => {
                let gave_up = line("No more network devices")?;
                Some(match line("ipxe.org/") {
                    Some(why) => format!("{why} / {gave_up}"),
                    None => gave_up,
                })
            }
            Firmware::Edk2 => line("PXE-E"),
        },
    }
}

/// What the live report must say: both relays brought the real client's DISCOVER to WDS; the
/// crash variant crashed WDS, the other did not.
fn check_report(case: Case, report: &str) -> Result<(), String> {
    for giaddr in ["giaddr 10.1.0.2", "giaddr 10.1.0.3"] {
        if !report.lines().any(|line| {
            line.contains(" wds ") && line.contains("DISCOVER") && line.contains(giaddr)
        }) {
            return Err(format!(
                "WDS never received a DISCOVER with {giaddr}:\n{report}"
            ));
        }
    }
    let crashed = report.contains("0xc0000374");
    match case {
        Case::Boot if crashed => Err(format!("wds-fixed crashed:\n{report}")),
        Case::Crash if !crashed => Err(format!("wds-sccm2007 did not crash:\n{report}")),
        _ => Ok(()),
    }
}

/// Replays the record with no TAP and no VM; returns the digest both share. The boot case's
/// manifest must hash the files served as they are on disk.
fn check_replay(record: &Path, case: Case) -> Result<String, String> {
    let manifest: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(record.join("manifest.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    if case == Case::Boot {
        for (name, path) in [
            ("bios/pxelinux.0", scenario::PXELINUX),
            ("bios/ldlinux.c32", scenario::LDLINUX),
            ("efi64/syslinux.efi", SYSLINUX_EFI),
            ("efi64/ldlinux.e64", LDLINUX_E64),
        ] {
            let bytes = fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            let recorded = manifest["files"]
                .as_array()
                .and_then(|files| files.iter().find(|file| file["name"] == name));
            let expected = lab::sha256_hex(&bytes);
            if recorded.and_then(|file| file["sha256"].as_str()) != Some(expected.as_str()) {
                return Err(format!(
                    "the record hashes {name} as {recorded:?}, not {expected}"
                ));
            }
        }
    }
    let digest = manifest["digest"]
        .as_str()
        .ok_or("the manifest has no digest")?
        .to_string();
    let replay = pxelab(None)
        .arg("replay")
        .arg(record)
        .output()
        .map_err(|e| e.to_string())?;
    let output = String::from_utf8_lossy(&replay.stdout);
    if !replay.status.success() || !output.contains(&digest) {
        return Err(format!(
            "the replay does not give the recorded digest {digest}: {}\n{output}{}",
            replay.status,
            String::from_utf8_lossy(&replay.stderr)
        ));
    }
    Ok(digest)
}
