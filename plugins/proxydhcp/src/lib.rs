//! A proxyDHCP boot server in the manner of dnsmasq's `dhcp-range=<net>,proxy` with
//! `dhcp-boot`: it hands out no addresses, only boot information, and keeps no per-client state,
//! so a DISCOVER relayed by two routers simply gets two proxy offers (dnsmasq answers each copy;
//! contrast the WDS model of KB2510665). Its twin in C, `plugins/proxydhcp-c`, must behave the
//! same byte for byte; change one, change the other.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};
use sdk::dhcp::{self, CLIENT_PORT, PXE_CLIENT_CLASS, PXE_PORT, SERVER_PORT};
use sdk::{Config, ConfigError, Datagram, Env, Level, Plugin, Refusal, tftp};

#[cfg(not(feature = "variants"))]
pub const CONFIG_KEYS: &[&str] = &["boot_file_bios", "boot_file_efi", "nbp_size"];
/// `proxydhcp-variants` (which compiles this file with the `variants` feature) also takes
/// `offer_to: broadcast`: proxy offers go to 255.255.255.255:68 even when the DISCOVER was
/// relayed (bootimus issue #129), where a relay drops them; default `giaddr`. The plain plugin
/// is built without that code, so its simulated CPU cost stays what it was.
#[cfg(feature = "variants")]
pub const CONFIG_KEYS: &[&str] = &["boot_file_bios", "boot_file_efi", "nbp_size", "offer_to"];
const BOOT_FILE_BIOS_DEFAULT: &str = "pxelinux.0";
const BOOT_FILE_EFI_DEFAULT: &str = "bootx64.efi";
const NBP_SIZE_DEFAULT: u64 = 26_000;
/// Both files are made at start, in one call, for about 24 units of fuel per byte each: two
/// files of 1 MiB take half of the 10^8 units a call may use.
const NBP_SIZE_MAX: u64 = 1 << 20;
/// The file name goes into the 128-byte `file` field with its terminating NUL.
const BOOT_FILE_LEN_MAX: usize = 127;
/// The plugin's only timers are the TFTP server's.
const TFTP_TOKEN_BASE: u64 = 0;
/// Option 43 of a proxy offer (PXE 2.1 vendor options): PXE_DISCOVERY_CONTROL (tag 6) = 8,
/// "a boot file name is present: download it, no boot server discovery", then End. Some PXE
/// ROMs ignore a proxy offer without option 43, and with this value Wireshark shows what the
/// client will do. dnsmasq sends the same when it has a boot file and no boot menu.
pub const PXE_VENDOR_OPTIONS: [u8; 4] = [6, 1, 8, 255];

pub struct ProxyDhcp {
    boot_file_bios: String,
    boot_file_efi: String,
    tftp: tftp::Server,
    #[cfg(feature = "variants")]
    offer_broadcast: bool,
}

/// Deterministic stand-in content for a boot file (`sdk::tftp::synthetic_file`); the C twin
/// computes the same bytes.
pub fn nbp_content(name: &str, size: usize) -> Vec<u8> {
    tftp::synthetic_file(name, size)
}

fn boot_file(config: &Config, key: &str, default: &str) -> Result<String, ConfigError> {
    let file = config.str_or(key, default);
    if file.is_empty() || file.len() > BOOT_FILE_LEN_MAX || file.contains('\0') {
        return Err(ConfigError::new(
            key,
            format!("expected a file name of 1 to {BOOT_FILE_LEN_MAX} bytes, got `{file}`"),
        ));
    }
    Ok(file.to_string())
}

impl Plugin for ProxyDhcp {
    const CONFIG_KEYS: &'static [&'static str] = CONFIG_KEYS;

    fn init(env: &mut dyn Env, config: &Config) -> Result<ProxyDhcp, Refusal> {
        let boot_file_bios = boot_file(config, "boot_file_bios", BOOT_FILE_BIOS_DEFAULT)?;
        let boot_file_efi = boot_file(config, "boot_file_efi", BOOT_FILE_EFI_DEFAULT)?;
        let nbp_size = config.u64_in("nbp_size", NBP_SIZE_DEFAULT, 1..=NBP_SIZE_MAX)? as usize;
        #[cfg(feature = "variants")]
        let offer_broadcast = match config.str_or("offer_to", "giaddr") {
            "giaddr" => false,
            "broadcast" => true,
            other => {
                return Err(ConfigError::new(
                    "offer_to",
                    format!("expected `giaddr` or `broadcast`, got `{other}`"),
                )
                .into());
            }
        };
        let mut tftp = tftp::Server::new(TFTP_TOKEN_BASE);
        // If both names are one file to the TFTP server, the EFI one wins (added last).
        tftp.add_file(&boot_file_bios, nbp_content(&boot_file_bios, nbp_size));
        tftp.add_file(&boot_file_efi, nbp_content(&boot_file_efi, nbp_size));
        tftp.serve_given_files(env);
        env.log(
            Level::Info,
            &format!(
                "proxydhcp: BIOS {boot_file_bios}, EFI {boot_file_efi}, {nbp_size} bytes each"
            ),
        );
        Ok(ProxyDhcp {
            boot_file_bios,
            boot_file_efi,
            tftp,
            #[cfg(feature = "variants")]
            offer_broadcast,
        })
    }

    fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram) {
        if self.tftp.handles(&datagram) {
            return self.tftp.on_datagram(env, datagram);
        }
        match datagram.dst.port() {
            SERVER_PORT => self.on_server_port(env, &datagram),
            PXE_PORT => self.on_boot_request(env, &datagram),
            port => env.log(
                Level::Debug,
                &format!(
                    "proxydhcp: datagram to port {port} from {} ignored",
                    datagram.src
                ),
            ),
        }
    }

    fn on_timer(&mut self, env: &mut dyn Env, token: u64) {
        if self.tftp.owns_timer(token) {
            self.tftp.on_timer(env, token);
        }
    }
}

impl ProxyDhcp {
    /// The boot file for the architecture in option 93 (BIOS when absent).
    fn file_for(&self, request: &Message) -> &str {
        if dhcp::is_efi_arch(dhcp::client_arch(request)) {
            &self.boot_file_efi
        } else {
            &self.boot_file_bios
        }
    }

    /// A PXE client's request of `kind`, or `None` (logged at debug) for anything else.
    fn pxe_request(env: &mut dyn Env, datagram: &Datagram, kind: MessageType) -> Option<Message> {
        let port = datagram.dst.port();
        let Some(message) = dhcp::decode(&datagram.payload) else {
            env.log(
                Level::Debug,
                &format!(
                    "proxydhcp: undecodable datagram on port {port} from {} ignored",
                    datagram.src
                ),
            );
            return None;
        };
        if message.opcode() != Opcode::BootRequest || dhcp::message_type(&message) != Some(kind) {
            env.log(
                Level::Debug,
                &format!(
                    "proxydhcp: {:?} on port {port} from {} ignored",
                    dhcp::message_type(&message),
                    datagram.src
                ),
            );
            return None;
        }
        if !dhcp::is_pxe_client(&message) {
            env.log(
                Level::Debug,
                &format!(
                    "proxydhcp: non-PXE {kind:?} from {} ignored",
                    dhcp::format_chaddr(message.chaddr())
                ),
            );
            return None;
        }
        Some(message)
    }

    /// Port 67: a PXE DISCOVER gets a proxy offer with the boot file, every copy its own, to
    /// the relay that sent it (RFC 2131 4.1) or broadcast on the local LAN.
    fn on_server_port(&mut self, env: &mut dyn Env, datagram: &Datagram) {
        let Some(discover) = Self::pxe_request(env, datagram, MessageType::Discover) else {
            return;
        };
        let own_ip = env.own_ip();
        let file = self.file_for(&discover);
        let mut offer = dhcp::reply_to(&discover, MessageType::Offer);
        offer.set_siaddr(own_ip);
        dhcp::set_boot_file(&mut offer, file);
        offer
            .opts_mut()
            .insert(DhcpOption::VendorExtensions(PXE_VENDOR_OPTIONS.to_vec()));
        add_pxe_server_options(&mut offer, &discover, own_ip);
        let local = discover.giaddr().is_unspecified();
        #[cfg(feature = "variants")]
        let local = local || self.offer_broadcast;
        let dst = if local {
            SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
        } else {
            SocketAddrV4::new(discover.giaddr(), SERVER_PORT)
        };
        env.log(
            Level::Info,
            &format!(
                "proxydhcp: proxy OFFER to {} xid {:#010x} via {dst}: {file}",
                dhcp::format_chaddr(discover.chaddr()),
                discover.xid()
            ),
        );
        send(env, SERVER_PORT, dst, &offer);
    }

    /// Port 4011: the client's unicast DHCPREQUEST (PXE boot server discovery) gets an ACK with
    /// the boot file, sent back where it came from.
    fn on_boot_request(&mut self, env: &mut dyn Env, datagram: &Datagram) {
        let Some(request) = Self::pxe_request(env, datagram, MessageType::Request) else {
            return;
        };
        let own_ip = env.own_ip();
        let file = self.file_for(&request);
        let mut ack = dhcp::reply_to(&request, MessageType::Ack);
        ack.set_ciaddr(request.ciaddr()).set_siaddr(own_ip);
        dhcp::set_boot_file(&mut ack, file);
        add_pxe_server_options(&mut ack, &request, own_ip);
        env.log(
            Level::Info,
            &format!(
                "proxydhcp: boot ACK to {} ({}): {file}",
                datagram.src,
                dhcp::format_chaddr(request.chaddr())
            ),
        );
        send(env, PXE_PORT, datagram.src, &ack);
    }
}

/// Options 54 (server identifier), 60 ("PXEClient") and, when the client sent one, 97 (its
/// machine identifier, echoed as PXE 2.1 asks).
fn add_pxe_server_options(reply: &mut Message, request: &Message, own_ip: Ipv4Addr) {
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::ServerIdentifier(own_ip));
    opts.insert(DhcpOption::ClassIdentifier(
        PXE_CLIENT_CLASS.as_bytes().to_vec(),
    ));
    if let Some(guid) = dhcp::client_guid(request) {
        opts.insert(DhcpOption::ClientMachineIdentifier(guid));
    }
}

fn send(env: &mut dyn Env, src_port: u16, dst: SocketAddrV4, message: &Message) {
    match dhcp::encode(message) {
        Ok(payload) => {
            let src = SocketAddrV4::new(env.own_ip(), src_port);
            env.send(Datagram { src, dst, payload });
        }
        Err(error) => env.log(Level::Error, &format!("proxydhcp: {error}")),
    }
}

sdk::export_plugin!(ProxyDhcp);

#[cfg(test)]
mod tests;
