//! Files of the user's served by a plugin (`files:`): the simulated clients receive the real
//! bytes in place of the synthetic file of that name, the report and the run record carry each
//! file's size and SHA-256, and `pxelab replay` refuses a record whose file has changed.

use std::fs;
use std::path::Path;
use std::process::Command;

/// `flat-lan.yaml`'s servers with `files:` on the proxyDHCP/TFTP server: the BIOS boot file
/// is given, the EFI one stays synthetic.
const TOPOLOGY: &str = "name: served-files
lans:
  lab: { subnet: 10.1.0.0/24, latency: \"uniform(10us, 60us)\" }
servers:
  dhcp:
    lan: lab
    ip: 10.1.0.10/24
    plugin: dhcp-server
    config: { pool: 10.1.0.100-10.1.0.199, subnet_mask: 255.255.255.0 }
  proxy:
    lan: lab
    ip: 10.1.0.30/24
    plugin: proxydhcp
    config: { boot_file_bios: boot/pxelinux.0, boot_file_efi: bootx64.efi, nbp_size: 26000 }
    files:
      boot/pxelinux.0: nbp.bin
clients:
  - { name: bios, lan: lab, arch: bios, firmware: ipxe, power_on: 0s }
  - { name: uefi, lan: lab, arch: efi-x64, power_on: 0s }
";

const NBP_BYTES: usize = 3001;

fn pxelab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pxelab"))
        .args(args)
        .env("PXELAB_CACHE", "off")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn client<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|client| client["name"] == name)
        .unwrap()
}

#[test]
fn a_given_file_is_served_hashed_in_the_record_and_checked_on_replay() {
    let dir = crate::common::scratch_dir("served-files");
    let nbp: Vec<u8> = (0..NBP_BYTES).map(|i| (i * 7 % 256) as u8).collect();
    fs::write(dir.join("nbp.bin"), &nbp).unwrap();
    let topology = dir.join("served-files.yaml");
    fs::write(&topology, TOPOLOGY).unwrap();
    let record = dir.join("record");
    let topology_arg = topology.to_str().unwrap();
    let record_arg = record.to_str().unwrap();

    let run = pxelab(&[
        "run",
        topology_arg,
        "--seed",
        "3",
        "--json",
        "--out",
        record_arg,
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = json(&run);
    // The BIOS client loads the given file (its size is the real one), the UEFI client the
    // synthetic file the plugin makes for the name it was not given.
    let bios = client(&report, "bios");
    assert_eq!(bios["outcome"], "booted", "{report}");
    assert_eq!(bios["file"], "boot/pxelinux.0");
    assert_eq!(bios["bytes"], NBP_BYTES as u64, "{report}");
    assert_eq!(client(&report, "uefi")["bytes"], 26000, "{report}");
    let sha256 = lab::sha256_hex(&nbp);
    let expected = serde_json::json!([{
        "node": "proxy",
        "name": "boot/pxelinux.0",
        "path": dir.join("nbp.bin").display().to_string(),
        "bytes": NBP_BYTES,
        "sha256": sha256,
    }]);
    assert_eq!(report["files"], expected, "{report}");
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(record.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["files"], expected, "{manifest}");
    let text = pxelab(&["run", topology_arg, "--seed", "3"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .any(|line| line.contains("boot/pxelinux.0") && line.contains(&sha256)),
        "{text}"
    );

    let replay = pxelab(&["replay", record_arg]);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );

    // The same size, other bytes: only the hash can tell.
    let mut changed = nbp.clone();
    changed[0] ^= 0xff;
    fs::write(dir.join("nbp.bin"), &changed).unwrap();
    let replay = pxelab(&["replay", record_arg]);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert_eq!(replay.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("have changed"), "{stderr}");
    assert!(stderr.contains(&sha256), "{stderr}");
    assert!(stderr.contains(&lab::sha256_hex(&changed)), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Gone: the recorded topology no longer loads, at the file's line.
    fs::remove_file(dir.join("nbp.bin")).unwrap();
    let replay = pxelab(&["replay", record_arg]);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert_eq!(replay.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(":16:7:") && stderr.contains("cannot read"),
        "{stderr}"
    );
    let _ = fs::remove_dir_all(&dir);
    assert!(!Path::new(&dir).exists());
}

#[test]
fn a_topology_without_files_reports_and_records_none() {
    let kb = crate::common::topology_path("kb2510665.yaml");
    let report = json(&pxelab(&[
        "run",
        kb.to_str().unwrap(),
        "--seed",
        "7",
        "--json",
    ]));
    assert!(report.get("files").is_none(), "{report}");
}
