//! A model of Windows Deployment Services with the ConfigMgr 2007 PXE Service Point
//! (KB2510665): multi-threaded PXE request handling with a slow device lookup, the per-client
//! state that a relayed duplicate DISCOVER overwrites while the first copy is still in flight,
//! and the Kea-style race avoidance that fixes it. `Mode` selects the behaviour. Compiled with
//! the `variants` feature (by `plugins/wds-variants` only) it also has the request parser of
//! WDS before KB3073881, which trusts the datagram's length.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{self, DhcpOption, Message, MessageType, Opcode};
use sdk::dhcp::{self, PXE_CLIENT_CLASS, PXE_PORT, SERVER_PORT};
use sdk::{Config, Datagram, Env, Level, Plugin, Refusal, tftp};
use timing::Distribution;

/// Which provider the service runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// ConfigMgr 2007 `smspxe.dll`: a duplicate overwrites in-flight state; the service dies.
    Sccm2007,
    /// ISC Kea's client race avoidance: in-flight requests keyed by chaddr; duplicates dropped
    /// or parked until the first one finishes.
    RaceAvoidance,
}

pub const CONFIG_KEYS: &[&str] = &[
    "threads",
    "lookup",
    "boot_file_bios",
    "boot_file_efi",
    "nbp_size",
    "maximum_block_size",
    #[cfg(feature = "variants")]
    "request_parser",
];
const THREADS_DEFAULT: u32 = 4;
const LOOKUP_DEFAULT: &str = "lognormal(median=1500us, sigma=0.8, max=2s)";
const BOOT_FILE_BIOS_DEFAULT: &str = "SMSBoot\\x86\\wdsnbp.com";
const BOOT_FILE_EFI_DEFAULT: &str = "SMSBoot\\x64\\wdsmgfw.efi";
const NBP_SIZE_DEFAULT: u64 = 30_832;
const NBP_SIZE_MAX: u64 = 64 << 20;
/// Requests waiting for a worker; beyond this a DISCOVER is dropped (the client retries).
const QUEUE_MAX: usize = 1024;
/// Timer tokens below this are request ids (device lookups); the TFTP server uses the rest.
const TFTP_TOKEN_BASE: u64 = 1 << 56;

/// Behaviour of other WDS builds, compiled only into `wds-variants` (this file is also that
/// crate's), so `wds-sccm2007` and `wds-fixed` stay the code they were, instruction for
/// instruction: plugin work is simulated CPU time, and every shipped run keeps its digest.
#[cfg(feature = "variants")]
mod variants {
    use super::*;

    /// The BOOTP header (236 bytes) and the DHCP magic cookie: where the options begin.
    const HEADER_BYTES: usize = 240;
    /// WDS's receive record: room for the largest datagram one Ethernet frame carries.
    const RECORD_BYTES: usize = 1472;

    /// How requests on ports 67 and 4011 are read (`request_parser`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Parser {
        /// A datagram is decoded only if it is a whole DHCP message (the default; WDS with the
        /// KB3073881 fix).
        Checked,
        /// WDS before KB3073881: no check that the datagram holds a DHCP header at all. The
        /// header and the options are copied into the request record with lengths taken
        /// from the datagram, in unsigned 32-bit arithmetic.
        Unchecked,
    }

    impl Parser {
        pub(crate) fn of(config: &Config) -> Result<Parser, Refusal> {
            match config.str_or("request_parser", "checked") {
                "checked" => Ok(Parser::Checked),
                "unchecked" => Ok(Parser::Unchecked),
                other => Err(Refusal::config(
                    "request_parser",
                    format!("expected `checked` or `unchecked`, got `{other}`"),
                )),
            }
        }
    }

    /// The pre-KB3073881 receive path: the datagram as the request record holds it. The
    /// options are `length - 240` bytes, computed without asking whether the datagram is that
    /// long; a datagram shorter than a DHCP header (an F5 UDP monitor's 19-byte "default send
    /// string") wraps it to about 4 GiB, and the copy runs off the end of memory. In the wasm
    /// guest that is an access beyond linear memory, a trap the host reports as the crash of
    /// the service, as Windows reports the access violation in WDSServer.
    pub(crate) fn receive_unchecked(env: &mut dyn Env, datagram: &Datagram) -> Vec<u8> {
        let length = datagram.payload.len() as u32;
        let options_bytes = length.wrapping_sub(HEADER_BYTES as u32) as usize;
        // Byte 0 is the op code the header check would have refused: 1 is BOOTREQUEST.
        let op = datagram.payload.first().copied().unwrap_or(0);
        env.log(
            Level::Debug,
            &format!(
                "wds: {length}-byte request on port {} from {}, op {op:#04x}: copying {options_bytes} bytes of options",
                datagram.dst.port(),
                datagram.src
            ),
        );
        let mut record = vec![0u8; RECORD_BYTES];
        let source = datagram.payload.as_ptr();
        let target = record.as_mut_ptr();
        // SAFETY: none, deliberately. This is the defect being modelled: the copy trusts the
        // length the datagram implies. For a datagram of 240 to 1472 bytes (every DHCP message
        // a client sends) every read stays inside it; for a shorter one the header copy reads
        // past the datagram and the options loop reads on until it leaves memory. Writes stop
        // at the record's end, so what faults is a read of memory that is not there, as in
        // WDSServer; wasm loads need no alignment.
        unsafe {
            core::ptr::copy_nonoverlapping(source, target, HEADER_BYTES);
            let mut offset = 0;
            while offset < options_bytes {
                let at = HEADER_BYTES + offset;
                let word = core::ptr::read_volatile(source.wrapping_add(at) as *const u32);
                if at + 4 <= RECORD_BYTES {
                    core::ptr::write_unaligned(target.wrapping_add(at) as *mut u32, word);
                }
                offset += 4;
            }
        }
        record.truncate(HEADER_BYTES.saturating_add(options_bytes).min(RECORD_BYTES));
        record
    }
}

/// One PXE DISCOVER as the provider queues it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Request {
    id: u64,
    xid: u32,
    chaddr: Vec<u8>,
    giaddr: Ipv4Addr,
    flags: u16,
    arch: Option<u16>,
    guid: Option<Vec<u8>>,
}

/// The provider's per-client state, shared by all worker threads and keyed by chaddr only:
/// the object the duplicate overwrites in the defective provider.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ClientState {
    owner: u64,
    xid: u32,
    giaddr: Ipv4Addr,
    flags: u16,
    guid: Option<Vec<u8>>,
}

impl ClientState {
    fn of(request: &Request) -> ClientState {
        ClientState {
            owner: request.id,
            xid: request.xid,
            giaddr: request.giaddr,
            flags: request.flags,
            guid: request.guid.clone(),
        }
    }
}

pub struct Wds {
    mode: Mode,
    threads: u32,
    lookup: Distribution,
    boot_file_bios: String,
    boot_file_efi: String,
    queue: VecDeque<Request>,
    /// Requests whose device lookup is running, by request id (= timer token).
    in_flight: BTreeMap<u64, Request>,
    state: BTreeMap<Vec<u8>, ClientState>,
    /// RaceAvoidance only: chaddr -> (request id, xid) being processed.
    busy_clients: BTreeMap<Vec<u8>, (u64, u32)>,
    /// RaceAvoidance only: the newest request with another xid that arrived while busy.
    parked: BTreeMap<Vec<u8>, Request>,
    known_devices: BTreeSet<Vec<u8>>,
    next_request_id: u64,
    tftp: tftp::Server,
    #[cfg(feature = "variants")]
    parser: variants::Parser,
}

/// Deterministic stand-in content for a boot file (`sdk::tftp::synthetic_file`), so a client
/// can tell two files apart and verify what it received.
pub fn nbp_content(name: &str, size: usize) -> Vec<u8> {
    tftp::synthetic_file(name, size)
}

/// Where the image server provider keeps its state: the WMI repository part of the node store,
/// which a WDS restart keeps and a WMI restart or a reboot clears.
pub const PROVIDER_STATE_KEY: &str = "wmi/WdsImgSrv/state";
const PROVIDER_CORRUPT: &[u8] = b"corrupt";
/// What WDSServer exits with when a provider fails to initialize (0x4005).
pub const SERVICE_SPECIFIC_ERROR: u32 = 16389;

impl Wds {
    pub fn start(env: &mut dyn Env, config: &Config, mode: Mode) -> Result<Wds, Refusal> {
        let threads = config.u32_in("threads", THREADS_DEFAULT, 1..=64)?;
        let lookup = config.distribution_or("lookup", LOOKUP_DEFAULT)?;
        let boot_file_bios = config
            .str_or("boot_file_bios", BOOT_FILE_BIOS_DEFAULT)
            .to_string();
        let boot_file_efi = config
            .str_or("boot_file_efi", BOOT_FILE_EFI_DEFAULT)
            .to_string();
        for (key, file) in [
            ("boot_file_bios", &boot_file_bios),
            ("boot_file_efi", &boot_file_efi),
        ] {
            // The name goes into the 128-byte `file` field, NUL-terminated.
            if file.is_empty() || file.len() > 127 || file.contains('\0') {
                return Err(Refusal::config(
                    key,
                    format!("expected a file name of 1 to 127 bytes, got `{file}`"),
                ));
            }
        }
        let nbp_size = config.u64_in("nbp_size", NBP_SIZE_DEFAULT, 1..=NBP_SIZE_MAX)? as usize;
        // `WDSServer\Providers\WDSTFTP\MaximumBlockSize` (KB975710: 512..1456); unset, as on
        // a default install, the server agrees to what the client asks.
        let blksize_max = match config.get("maximum_block_size") {
            Some(_) => Some(config.u64_in("maximum_block_size", 1456, 512..=1456)?),
            None => None,
        };
        if env.store_get(PROVIDER_STATE_KEY).as_deref() == Some(PROVIDER_CORRUPT) {
            // KB2510665: after the heap corruption, the provider's state in the WMI repository
            // is unusable; WDS restarted alone cannot initialize it until WMI is restarted.
            env.event_log(
                "WDSIMGSRV",
                Level::Error,
                513,
                "An error occurred while trying to initialize provider WdsImgSrv from \
                 C:\\Windows\\system32\\wdsimgsrv.dll. Windows Deployment Services server will be \
                 shutdown.\n\nError Information: 0xC1030136",
            );
            env.event_log(
                "WDSServer",
                Level::Error,
                258,
                "The Windows Deployment Services Server service could not initialize its providers \
                 and is shutting down. Error Information: 0xC1030136",
            );
            return Err(Refusal::service_specific(SERVICE_SPECIFIC_ERROR, ""));
        }
        let mut tftp = tftp::Server::new(TFTP_TOKEN_BASE);
        tftp.add_file(&boot_file_bios, nbp_content(&boot_file_bios, nbp_size));
        tftp.add_file(&boot_file_efi, nbp_content(&boot_file_efi, nbp_size));
        if let Some(max) = blksize_max {
            tftp.limit_blksize(max as usize);
        }
        tftp.serve_given_files(env);

        env.event_log(
            "WDSServer",
            Level::Info,
            257,
            "The Windows Deployment Services Server service started.",
        );
        env.log(
            Level::Info,
            &format!(
                "wds: provider {} with NumberOfThreads {threads}, device lookup {lookup}",
                match mode {
                    Mode::Sccm2007 => "smspxe (ConfigMgr 2007)",
                    Mode::RaceAvoidance => "smspxe with client race avoidance",
                }
            ),
        );
        Ok(Wds {
            mode,
            threads,
            lookup,
            boot_file_bios,
            boot_file_efi,
            queue: VecDeque::new(),
            in_flight: BTreeMap::new(),
            state: BTreeMap::new(),
            busy_clients: BTreeMap::new(),
            parked: BTreeMap::new(),
            known_devices: BTreeSet::new(),
            next_request_id: 1,
            tftp,
            #[cfg(feature = "variants")]
            parser: variants::Parser::of(config)?,
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram) {
        if self.tftp.handles(&datagram) {
            self.tftp.on_datagram(env, datagram);
            return;
        }
        #[cfg(feature = "variants")]
        let datagram = match datagram.dst.port() {
            SERVER_PORT | PXE_PORT if self.parser == variants::Parser::Unchecked => {
                let payload = variants::receive_unchecked(env, &datagram);
                Datagram {
                    payload,
                    ..datagram
                }
            }
            _ => datagram,
        };
        match datagram.dst.port() {
            SERVER_PORT => self.on_discover(env, &datagram),
            PXE_PORT => self.on_boot_request(env, &datagram),
            _ => {}
        }
    }

    pub fn on_timer(&mut self, env: &mut dyn Env, token: u64) {
        if self.tftp.owns_timer(token) {
            self.tftp.on_timer(env, token);
        } else {
            self.on_lookup_done(env, token);
        }
    }

    fn on_discover(&mut self, env: &mut dyn Env, datagram: &Datagram) {
        let Some(message) = dhcp::decode(&datagram.payload) else {
            env.log(
                Level::Debug,
                &format!("wds: undecodable datagram from {} ignored", datagram.src),
            );
            return;
        };
        if message.opcode() != Opcode::BootRequest
            || dhcp::message_type(&message) != Some(MessageType::Discover)
            || !dhcp::is_pxe_client(&message)
        {
            return;
        }
        if self.queue.len() >= QUEUE_MAX {
            env.log(
                Level::Warning,
                &format!("wds: {QUEUE_MAX} requests queued; DISCOVER dropped"),
            );
            return;
        }
        let request = Request {
            id: self.next_request_id,
            xid: message.xid(),
            chaddr: message.chaddr().to_vec(),
            giaddr: message.giaddr(),
            flags: u16::from(message.flags()),
            arch: dhcp::client_arch(&message),
            guid: dhcp::client_guid(&message),
        };
        self.next_request_id += 1;
        env.log(
            Level::Debug,
            &format!(
                "wds: request {} queued: DISCOVER xid {:#010x} from {} via {}",
                request.id,
                request.xid,
                dhcp::format_chaddr(&request.chaddr),
                request.giaddr
            ),
        );
        self.queue.push_back(request);
        self.dispatch(env);
    }

    /// Hands queued requests to free workers, each of which writes the client's state and
    /// starts the device lookup.
    fn dispatch(&mut self, env: &mut dyn Env) {
        while self.in_flight.len() < self.threads as usize {
            let Some(request) = self.queue.pop_front() else {
                return;
            };
            let mac = dhcp::format_chaddr(&request.chaddr);
            if self.mode == Mode::RaceAvoidance {
                if let Some(&(busy_id, busy_xid)) = self.busy_clients.get(&request.chaddr) {
                    if busy_xid == request.xid {
                        env.log(
                            Level::Info,
                            &format!(
                                "wds: request {} (xid {:#010x} from {mac} via {}) dropped as a duplicate of request {busy_id} in flight",
                                request.id, request.xid, request.giaddr
                            ),
                        );
                    } else {
                        env.log(
                            Level::Info,
                            &format!(
                                "wds: request {} (xid {:#010x} from {mac}) parked until request {busy_id} finishes",
                                request.id, request.xid
                            ),
                        );
                        self.parked.insert(request.chaddr.clone(), request);
                    }
                    continue;
                }
                self.busy_clients
                    .insert(request.chaddr.clone(), (request.id, request.xid));
            }
            // The defective provider writes here whether or not another worker still uses it.
            self.state
                .insert(request.chaddr.clone(), ClientState::of(&request));
            let lookup_ns = env.sample(&self.lookup);
            env.log(
                Level::Debug,
                &format!(
                    "wds: worker takes request {} ({mac} via {}), device lookup {}",
                    request.id,
                    request.giaddr,
                    timing::format_ns(lookup_ns)
                ),
            );
            env.work_begin(
                request.id,
                &format!(
                    "device lookup of request {} ({mac} via {})",
                    request.id, request.giaddr
                ),
            );
            env.set_timer(lookup_ns, request.id);
            self.in_flight.insert(request.id, request);
        }
    }

    fn on_lookup_done(&mut self, env: &mut dyn Env, id: u64) {
        let Some(request) = self.in_flight.remove(&id) else {
            return;
        };
        env.work_end(id);
        let state = match self.mode {
            Mode::Sccm2007 => match self.state.remove(&request.chaddr) {
                Some(current) if current.owner == request.id => current,
                // Overwritten by a duplicate still in flight, or already freed by a duplicate
                // that finished first: either way this worker reads a block it no longer owns.
                other => self.crash(env, &request, other.as_ref()),
            },
            Mode::RaceAvoidance => {
                self.busy_clients.remove(&request.chaddr);
                self.state.remove(&request.chaddr);
                if let Some(parked) = self.parked.remove(&request.chaddr) {
                    // Resubmitted ahead of the queue: it arrived before anything queued now.
                    self.queue.push_front(parked);
                }
                ClientState::of(&request)
            }
        };
        self.send_proxy_offer(env, &request.chaddr, &state);
        self.dispatch(env);
    }

    /// The heap corruption of KB2510665: the worker's client state was replaced by another
    /// worker's while the lookup ran. Records what Windows records, then dies; the host turns
    /// the trap into a service crash.
    fn crash(&mut self, env: &mut dyn Env, request: &Request, current: Option<&ClientState>) -> ! {
        let mac = dhcp::format_chaddr(&request.chaddr);
        let culprit = match current {
            Some(state) => format!(
                "overwritten by request {} via {}",
                state.owner, state.giaddr
            ),
            None => "freed by a duplicate that finished first".to_string(),
        };
        env.log(
            Level::Error,
            &format!(
                "wds: client state of {mac} (xid {:#010x}) {culprit} while request {} via {} was in flight",
                request.xid, request.id, request.giaddr
            ),
        );
        // The corruption reaches the provider state WDS keeps in WMI: it outlives this process.
        env.store_set(PROVIDER_STATE_KEY, PROVIDER_CORRUPT);
        env.event_log(
            "WDSIMGSRV",
            Level::Warning,
            265,
            "The provider WdsImgSrv was shut down because the WDSServer process terminated.",
        );
        env.event_log(
            "Application Error",
            Level::Error,
            1000,
            "Faulting application name: svchost.exe_WDSServer, version: 6.1.7601.17514, time stamp: 0x4ce7b96e\n\
             Faulting module name: ntdll.dll, version: 6.1.7601.17514, time stamp: 0x4ce7c8f9\n\
             Exception code: 0xc0000374\n\
             Fault offset: 0x000000000008f0c6\n\
             Faulting application path: C:\\Windows\\System32\\svchost.exe\n\
             Faulting module path: C:\\Windows\\SYSTEM32\\ntdll.dll",
        );
        panic!(
            "heap corruption (exception code 0xc0000374) in WDSServer: state of {mac} xid {:#010x} via {} {culprit}",
            request.xid, request.giaddr
        );
    }

    fn send_proxy_offer(&mut self, env: &mut dyn Env, chaddr: &[u8], state: &ClientState) {
        let own_ip = env.own_ip();
        let mut offer = Message::default();
        offer
            .set_opcode(Opcode::BootReply)
            .set_xid(state.xid)
            .set_flags(v4::Flags::new(state.flags))
            .set_chaddr(chaddr)
            .set_giaddr(state.giaddr)
            .set_yiaddr(Ipv4Addr::UNSPECIFIED)
            .set_siaddr(own_ip);
        let opts = offer.opts_mut();
        opts.insert(DhcpOption::MessageType(MessageType::Offer));
        opts.insert(DhcpOption::ServerIdentifier(own_ip));
        opts.insert(DhcpOption::ClassIdentifier(
            PXE_CLIENT_CLASS.as_bytes().to_vec(),
        ));
        if let Some(guid) = &state.guid {
            opts.insert(DhcpOption::ClientMachineIdentifier(guid.clone()));
        }
        let dst = if state.giaddr.is_unspecified() {
            SocketAddrV4::new(Ipv4Addr::BROADCAST, dhcp::CLIENT_PORT)
        } else {
            SocketAddrV4::new(state.giaddr, SERVER_PORT)
        };
        let mac = dhcp::format_chaddr(chaddr);
        let known = self.is_known(env, chaddr);
        env.log(
            Level::Info,
            &format!(
                "wds: proxy OFFER to {mac} xid {:#010x} via {dst} ({} device)",
                state.xid,
                if known { "known" } else { "new" }
            ),
        );
        self.remember(env, chaddr);
        self.send(env, SERVER_PORT, dst, &offer);
    }

    /// Known devices live in the node store, like the site database that outlives the service.
    fn is_known(&mut self, env: &mut dyn Env, chaddr: &[u8]) -> bool {
        self.known_devices.contains(chaddr) || env.store_get(&Self::device_key(chaddr)).is_some()
    }

    fn remember(&mut self, env: &mut dyn Env, chaddr: &[u8]) {
        if self.known_devices.insert(chaddr.to_vec()) {
            env.store_set(&Self::device_key(chaddr), b"known");
        }
    }

    fn device_key(chaddr: &[u8]) -> String {
        format!("wds/device/{}", dhcp::format_chaddr(chaddr))
    }

    /// Port 4011: the client's unicast DHCPREQUEST after the proxy offer; answered at once with
    /// the boot file for its architecture.
    fn on_boot_request(&mut self, env: &mut dyn Env, datagram: &Datagram) {
        let Some(request) = dhcp::decode(&datagram.payload) else {
            env.log(
                Level::Debug,
                &format!(
                    "wds: undecodable datagram on {PXE_PORT} from {} ignored",
                    datagram.src
                ),
            );
            return;
        };
        if request.opcode() != Opcode::BootRequest
            || dhcp::message_type(&request) != Some(MessageType::Request)
            || request.ciaddr().is_unspecified()
            || !dhcp::is_pxe_client(&request)
        {
            return;
        }
        let arch = dhcp::client_arch(&request);
        let file = if dhcp::is_efi_arch(arch) {
            &self.boot_file_efi
        } else {
            &self.boot_file_bios
        };
        let own_ip = env.own_ip();
        let mut ack = dhcp::reply_to(&request, MessageType::Ack);
        ack.set_ciaddr(request.ciaddr()).set_siaddr(own_ip);
        dhcp::set_boot_file(&mut ack, file);
        let opts = ack.opts_mut();
        opts.insert(DhcpOption::ServerIdentifier(own_ip));
        opts.insert(DhcpOption::ClassIdentifier(
            PXE_CLIENT_CLASS.as_bytes().to_vec(),
        ));
        if let Some(guid) = dhcp::client_guid(&request) {
            opts.insert(DhcpOption::ClientMachineIdentifier(guid));
        }
        env.log(
            Level::Info,
            &format!(
                "wds: boot ACK to {} ({}, arch {arch:?}): {file}",
                datagram.src,
                dhcp::format_chaddr(request.chaddr())
            ),
        );
        self.send(env, PXE_PORT, datagram.src, &ack);
    }

    fn send(&mut self, env: &mut dyn Env, src_port: u16, dst: SocketAddrV4, message: &Message) {
        match dhcp::encode(message) {
            Ok(payload) => {
                let src = SocketAddrV4::new(env.own_ip(), src_port);
                env.send(Datagram { src, dst, payload });
            }
            Err(error) => env.log(Level::Error, &format!("wds: {error}")),
        }
    }
}

/// Generates a `Plugin` type that runs `Wds` in one mode.
macro_rules! wds_plugin {
    ($(#[$doc:meta])* $name:ident, $mode:expr) => {
        $(#[$doc])*
        pub struct $name(pub Wds);

        impl Plugin for $name {
            const CONFIG_KEYS: &'static [&'static str] = CONFIG_KEYS;

            fn init(env: &mut dyn Env, config: &Config) -> Result<$name, Refusal> {
                Wds::start(env, config, $mode).map($name)
            }

            fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram) {
                self.0.on_datagram(env, datagram);
            }

            fn on_timer(&mut self, env: &mut dyn Env, token: u64) {
                self.0.on_timer(env, token);
            }
        }
    };
}

wds_plugin!(
    /// WDS with the ConfigMgr 2007 provider: crashes on an in-flight duplicate DISCOVER.
    Sccm2007Wds,
    Mode::Sccm2007
);
wds_plugin!(
    /// WDS with client race avoidance: the fixed server.
    FixedWds,
    Mode::RaceAvoidance
);

#[cfg(all(test, not(feature = "variants")))]
mod tests;
