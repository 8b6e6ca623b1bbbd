//! The firmwares (how QEMU boots each) and the scenarios (which dnsmasq servers answer, when a
//! run has seen enough, and which topology the simulated side of the comparison needs).

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::capture::{DISCOVER, Observation, REQUEST, Seen, dhcp, tftp};
use super::{SUBNET_PREFIX, lab_address};

/// SeaBIOS's image, OVMF's code and variable store, the BIOS NBP and its first module.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";
pub const PXELINUX: &str = "/usr/lib/PXELINUX/pxelinux.0";
pub const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
/// The iPXE ROM QEMU loads for an e1000 (from ipxe-qemu; the BIOS image in it is what runs).
pub const IPXE_ROM: &str = "/usr/lib/ipxe/qemu/efi-e1000.rom";
/// The files above, each with the Debian package that installs it: what a QEMU lab needs.
pub const BOOT_FILES: [(&str, &str); 5] = [
    (OVMF_CODE, "ovmf"),
    (OVMF_VARS, "ovmf"),
    (PXELINUX, "pxelinux"),
    (LDLINUX, "syslinux-common"),
    (IPXE_ROM, "ipxe-qemu"),
];

/// The UEFI "boot file": OVMF only has to download it; what it holds does not matter (it is
/// not a valid image, so OVMF moves on to its next boot option afterwards).
pub const EFI_FILE: &str = "boot.efi";
pub const EFI_FILE_BYTES: usize = 30_000;

/// The machine's SMBIOS UUID (QEMU's default is all zeros), so option 97 shows how each
/// firmware encodes it.
pub const UUID: &str = "00112233-4455-6677-8899-aabbccddeeff";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS with the iPXE option ROM of QEMU's e1000 (`-boot n`).
    Ipxe,
    /// OVMF with its own UEFI PXE stack (UefiPxeBcDxe over VirtioNetDxe); the NIC has no option
    /// ROM (`romfile=`), so iPXE's EFI driver never loads.
    Edk2,
}

impl Firmware {
    pub const ALL: [Firmware; 2] = [Firmware::Ipxe, Firmware::Edk2];

    pub fn name(self) -> &'static str {
        match self {
            Firmware::Ipxe => "ipxe",
            Firmware::Edk2 => "edk2",
        }
    }

    /// The client's MAC address: locally administered, one per firmware and scenario.
    pub fn mac(self, scenario: Scenario) -> [u8; 6] {
        [0x52, 0x54, 0x00, 0x50, self as u8 + 1, scenario as u8 + 1]
    }

    /// QEMU's arguments. `dir` holds the serial log and OVMF's private copy of its variables.
    pub fn qemu_args(self, dir: &Path, tap: &str, mac: [u8; 6]) -> Vec<String> {
        let mac = mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let mut args: Vec<String> = [
            "-accel",
            "tcg",
            "-m",
            "256",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
            "-uuid",
            UUID,
        ]
        .map(String::from)
        .to_vec();
        args.push("-serial".into());
        args.push(format!("file:{}", dir.join("serial.log").display()));
        args.push("-netdev".into());
        args.push(format!("tap,id=net0,ifname={tap},script=no,downscript=no"));
        match self {
            Firmware::Ipxe => {
                args.extend(["-boot", "n", "-chardev"].map(String::from));
                args.push(format!(
                    "file,id=seabios,path={}",
                    dir.join("seabios.log").display()
                ));
                args.extend(
                    [
                        "-device",
                        "isa-debugcon,iobase=0x402,chardev=seabios",
                        "-device",
                    ]
                    .map(String::from),
                );
                args.push(format!("e1000,netdev=net0,mac={mac},bootindex=1"));
            }
            Firmware::Edk2 => {
                args.push("-drive".into());
                args.push(format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
                ));
                args.push("-drive".into());
                args.push(format!(
                    "if=pflash,format=raw,unit=1,file={}",
                    dir.join("OVMF_VARS.fd").display()
                ));
                args.push("-device".into());
                args.push(format!(
                    "virtio-net-pci,netdev=net0,mac={mac},romfile=,bootindex=1"
                ));
            }
        }
        args
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// One dnsmasq: DHCP with the boot file (pxelinux.0 for BIOS, boot.efi for EFI) and TFTP.
    Normal,
    /// One dnsmasq doing plain DHCP, another in proxy mode (`pxe-service`) with TFTP.
    Proxy,
    /// As `Proxy`, but the proxy's namespace silently drops UDP to port 4011.
    Silent4011,
    /// One dnsmasq offering an address and nothing else (no boot file, no option 60).
    AddressOnly,
    /// No server at all.
    Nobody,
}

/// A dnsmasq instance of a scenario.
pub struct Server {
    pub role: &'static str,
    pub address: Ipv4Addr,
    pub drop_4011: bool,
    pub config: String,
}

/// What the simulated side of the comparison needs to build the same network: one LAN holding
/// the client and the servers (no routers, no relays), each server a plugin with this
/// configuration, and one client with the firmware profile under test.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatedShape {
    pub servers: Vec<SimulatedServer>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimulatedServer {
    /// `dhcp-server` or `proxydhcp`, as in `topologies/proxydhcp.yaml`.
    pub plugin: &'static str,
    pub ip: Ipv4Addr,
    /// Boot files in the DHCP offer (`dhcp-server`) or proxy offer (`proxydhcp`); `None` for an
    /// address-only DHCP server.
    pub boot_file_bios: Option<&'static str>,
    pub boot_file_efi: Option<&'static str>,
    /// Whether it answers UDP 4011 (the `Silent4011` proxy does not).
    pub answers_4011: bool,
}

impl std::fmt::Display for SimulatedShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.servers.is_empty() {
            return write!(f, "one LAN, the client alone");
        }
        write!(f, "one LAN, the client and")?;
        for (i, s) in self.servers.iter().enumerate() {
            let files = match (s.boot_file_bios, s.boot_file_efi) {
                (Some(bios), Some(efi)) => format!("boot files {bios} / {efi}"),
                _ => "no boot file".into(),
            };
            let port = if s.plugin == "proxydhcp" && !s.answers_4011 {
                ", 4011 silent"
            } else {
                ""
            };
            let sep = if i == 0 { " " } else { " + " };
            write!(f, "{sep}{} {} ({files}{port})", s.plugin, s.ip)?;
        }
        Ok(())
    }
}

const DHCP_ADDRESS: u8 = 2;
const PROXY_ADDRESS: u8 = 3;

fn common(tftp_root: Option<&Path>) -> String {
    let mut config = String::from(
        "port=0\ninterface=eth0\nbind-interfaces\nno-resolv\nno-hosts\nleasefile-ro\n\
         no-ping\nlog-dhcp\nuser=root\n",
    );
    if let Some(root) = tftp_root {
        config.push_str(&format!("enable-tftp\ntftp-root={}\n", root.display()));
    }
    config
}

fn range() -> String {
    format!(
        "dhcp-range={},{},255.255.255.0,1h\n",
        lab_address(100),
        lab_address(150)
    )
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Normal,
        Scenario::Proxy,
        Scenario::Silent4011,
        Scenario::AddressOnly,
        Scenario::Nobody,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::Proxy => "proxy",
            Scenario::Silent4011 => "silent4011",
            Scenario::AddressOnly => "addronly",
            Scenario::Nobody => "nobody",
        }
    }

    pub fn servers(self, tftp_root: &Path) -> Vec<Server> {
        let plain_dhcp = || Server {
            role: "dhcp",
            address: lab_address(DHCP_ADDRESS),
            drop_4011: false,
            config: common(None) + &range(),
        };
        let proxy = |drop_4011| Server {
            role: "proxy",
            address: lab_address(PROXY_ADDRESS),
            drop_4011,
            config: common(Some(tftp_root))
                + &format!(
                    "dhcp-range={},proxy,255.255.255.0\n\
                     pxe-service=x86PC,\"pxelinux\",pxelinux.0\n\
                     pxe-service=BC_EFI,\"efi\",{EFI_FILE}\n\
                     pxe-service=X86-64_EFI,\"efi\",{EFI_FILE}\n",
                    lab_address(0)
                ),
        };
        match self {
            Scenario::Normal => vec![Server {
                role: "dhcp",
                address: lab_address(DHCP_ADDRESS),
                drop_4011: false,
                config: common(Some(tftp_root))
                    + &range()
                    + "dhcp-match=set:efi,option:client-arch,7\n\
                       dhcp-match=set:efi,option:client-arch,9\n\
                       dhcp-boot=tag:!efi,pxelinux.0\n"
                    + &format!("dhcp-boot=tag:efi,{EFI_FILE}\n"),
            }],
            Scenario::Proxy => vec![plain_dhcp(), proxy(false)],
            Scenario::Silent4011 => vec![plain_dhcp(), proxy(true)],
            Scenario::AddressOnly => vec![plain_dhcp()],
            Scenario::Nobody => vec![],
        }
    }

    pub fn simulated(self) -> SimulatedShape {
        let dhcp = |with_files: bool| SimulatedServer {
            plugin: "dhcp-server",
            ip: lab_address(DHCP_ADDRESS),
            boot_file_bios: with_files.then_some("pxelinux.0"),
            boot_file_efi: with_files.then_some(EFI_FILE),
            answers_4011: false,
        };
        // dnsmasq's proxy mode offers no boot file and answers on 4011 with it: the
        // simulator's WDS model without the race does the same.
        let proxy = |answers_4011| SimulatedServer {
            plugin: "wds-fixed",
            ip: lab_address(PROXY_ADDRESS),
            boot_file_bios: Some("pxelinux.0"),
            boot_file_efi: Some(EFI_FILE),
            answers_4011,
        };
        let servers = match self {
            Scenario::Normal => vec![dhcp(true)],
            Scenario::Proxy => vec![dhcp(false), proxy(true)],
            Scenario::Silent4011 => vec![dhcp(false), proxy(false)],
            Scenario::AddressOnly => vec![dhcp(false)],
            Scenario::Nobody => vec![],
        };
        SimulatedShape { servers }
    }

    /// The pxelab topology of the simulated side: the lab's LAN, its servers as plugins, one
    /// client of the firmware's profile with the lab's MAC.
    pub fn topology(self, firmware: Firmware) -> String {
        let shape = self.simulated();
        let mut servers = String::new();
        for (index, server) in shape.servers.iter().enumerate() {
            let mut config = match server.plugin {
                "dhcp-server" => format!(
                    "pool: {}-{}, subnet_mask: 255.255.255.0, lease_secs: 3600",
                    lab_address(100),
                    lab_address(150)
                ),
                _ => "threads: 1, lookup: 1ms".to_string(),
            };
            if let (Some(bios), Some(efi)) = (server.boot_file_bios, server.boot_file_efi) {
                config.push_str(&format!(", boot_file_bios: {bios}, boot_file_efi: {efi}"));
            }
            let firewall = if server.answers_4011 || server.plugin == "dhcp-server" {
                ""
            } else {
                "\n    firewall_blocks_udp: [4011]"
            };
            servers.push_str(&format!(
                "  s{index}:\n    lan: lab\n    ip: {}/24\n    plugin: {}\n    service: {{ name: s{index} }}{firewall}\n    config: {{ {config} }}\n",
                server.ip, server.plugin
            ));
        }
        let servers = if shape.servers.is_empty() {
            "servers: {}\n".to_string()
        } else {
            format!("servers:\n{servers}")
        };
        let [a, b, c] = SUBNET_PREFIX;
        let mac = firmware
            .mac(self)
            .iter()
            .map(|octet| format!("{octet:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let arch = match firmware {
            Firmware::Edk2 => "efi-x64",
            Firmware::Ipxe => "bios",
        };
        format!(
            "name: real-{firmware}-{scenario}\nlimits: {{ sim_time: 120s }}\nlans:\n  lab: {{ subnet: {a}.{b}.{c}.0/24, latency: 50us }}\n{servers}clients:\n  - {{ name: pc, lan: lab, arch: {arch}, firmware: {firmware}, mac: \"{mac}\", power_on: 0s }}\n",
            firmware = firmware.name(),
            scenario = self.name(),
        )
    }

    /// The longest a run may take, counted from QEMU's start (boot included).
    pub fn budget(self, firmware: Firmware) -> Duration {
        Duration::from_secs(match (self, firmware) {
            (Scenario::Nobody, Firmware::Ipxe) => 25,
            // The first DISCOVER plus 4 + 8 + 16 s of retries, after a TCG boot of OVMF that
            // takes 8-12 s on an idle 2-core host and has been seen past 14 s on a loaded one
            // (40 s then cut the last retry off). The run ends as soon as it has them.
            (Scenario::Nobody | Scenario::AddressOnly, Firmware::Edk2) => 60,
            (Scenario::Silent4011, _) => 50,
            _ => 45,
        })
    }

    /// When a run has what the scenario needs, and how long to keep capturing after that (for
    /// retries and follow-up requests).
    pub fn enough(self, firmware: Firmware, observations: &[Observation]) -> bool {
        let discovers = dhcp(observations).filter(|(_, d)| d.is(DISCOVER)).count();
        let to_4011 = dhcp(observations).filter(|(_, d)| d.to_4011()).count();
        let requested = dhcp(observations).any(|(_, d)| d.is(REQUEST) && !d.to_4011());
        let acked = observations
            .iter()
            .any(|o| matches!(&o.what, Seen::Reply(r) if r.message_type == Some(5)));
        match (self, firmware) {
            (Scenario::Normal | Scenario::Proxy, _) => tftp(observations).next().is_some(),
            (Scenario::Silent4011, _) => to_4011 >= 1,
            (Scenario::AddressOnly, Firmware::Ipxe) => requested && acked,
            // EDK2 never requests an address-only offer (DOMAIN.md); four DISCOVERs give the
            // three retry gaps.
            (Scenario::AddressOnly | Scenario::Nobody, Firmware::Edk2) => discovers >= 4,
            (Scenario::Nobody, Firmware::Ipxe) => false,
        }
    }

    pub fn linger(self) -> Duration {
        Duration::from_secs(match self {
            Scenario::Normal | Scenario::Proxy => 2,
            // Retries (EDK2: 4 tries 1, 2, 3 s apart; iPXE: 2 tries 1 s apart) and a margin for
            // a later one.
            Scenario::Silent4011 => 12,
            Scenario::AddressOnly => 3,
            Scenario::Nobody => 1,
        })
    }
}
