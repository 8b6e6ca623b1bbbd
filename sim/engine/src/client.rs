//! A PXE client as firmware behaves: DISCOVER with the PXE options, offer collection (DHCP
//! offers and proxy offers), REQUEST/ACK, the boot-server request to port 4011, and a TFTP
//! download of the network bootstrap program. Where real firmware differs (options and their
//! order, flags, `secs`, xids, the offer window and choice, retries, TFTP options, what a
//! failure shows) the client follows its `firmware::Profile`.

use std::net::Ipv4Addr;

use dhcproto::Encodable;
use dhcproto::v4::{
    Architecture, DhcpOption, Flags, Message, MessageType, Opcode, OptionCode, UnknownOption,
};
use smoltcp::wire::EthernetAddress;
use wire::tftp;

use crate::event::{ClientEvent, DropReason, Layer};
use crate::firmware::{
    BootServerSecs, BootServerXid, Failure, Firmware, MismatchedAck, OfferChoice, OfferWindow,
    PlainOffer, Profile, Secs,
};
use crate::frame::{self, UdpFrame};
use crate::log::{Kind, Level};
use crate::rng::Stream;
use crate::router::{DHCP_CLIENT_PORT, DHCP_SERVER_PORT};
use crate::subnet::{self, same_subnet};
use crate::world::Cx;

pub const PXE_BOOT_SERVER_PORT: u16 = 4011;
pub const TFTP_PORT: u16 = 69;
const SECOND_NS: u64 = 1_000_000_000;
/// TTL of packets the firmware sends.
const TTL: u8 = 64;
/// TFTP ERROR code 8: the client ends an option negotiation (RFC 2347), as a size probe does.
const TFTP_ERROR_OPTION_TERMINATE: u16 = 8;
/// PXE option 43 sub-option 71: the boot item (type, layer) asked of a boot server.
const PXE_BOOT_ITEM: u8 = 71;

/// Client system architecture (option 93, RFC 4578).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Bios,
    EfiIa32,
    EfiBc,
    EfiX64,
}

impl Arch {
    /// The option 93 value real firmware sends. RFC 4578's table swapped 7 and 9; the IANA
    /// registry (and x64 UEFI firmware, Hyper-V generation 2 included) uses 7 for x64 UEFI and
    /// 9 for EFI byte code, and Wireshark warns about 9 sent for x64.
    pub fn code(self) -> u16 {
        match self {
            Arch::Bios => 0,
            Arch::EfiIa32 => 6,
            Arch::EfiX64 => 7,
            Arch::EfiBc => 9,
        }
    }

    /// The firmware a machine of this architecture runs unless the topology says otherwise:
    /// UEFI machines run EDK2's PXE stack, BIOS machines the PXE 2.1 specification's client.
    pub fn default_firmware(self) -> Firmware {
        match self {
            Arch::Bios => Firmware::PxeSpec,
            Arch::EfiIa32 | Arch::EfiBc | Arch::EfiX64 => Firmware::Edk2,
        }
    }
}

/// The clients that take a frame (see `PxeClient::audience`); other nodes take every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audience {
    Every,
    Nobody,
    /// Only a client with this MAC.
    Only(EthernetAddress),
}

impl Audience {
    pub(crate) fn admits(self, client_mac: EthernetAddress) -> bool {
        match self {
            Audience::Every => true,
            Audience::Nobody => false,
            Audience::Only(mac) => mac == client_mac,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub name: String,
    pub mac: EthernetAddress,
    pub arch: Arch,
    pub firmware: Firmware,
    /// SMBIOS UUID, sent as option 97 (type 0 + 16 bytes).
    pub guid: [u8; 16],
    /// TFTP block size the firmware asks for (RFC 2348) when its profile does not fix one.
    pub tftp_blksize: u16,
}

/// How a client's boot ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Booted {
        time_ns: u64,
        file: String,
        bytes: u64,
    },
    /// The firmware gave up with the error code it shows.
    Failed {
        time_ns: u64,
        code: &'static str,
        message: String,
    },
    /// The run ended before the client finished.
    Pending,
}

#[derive(Clone, Debug)]
struct Offer {
    server_id: Ipv4Addr,
    yiaddr: Ipv4Addr,
    siaddr: Ipv4Addr,
    file: Option<String>,
    pxe: bool,
}

impl Offer {
    fn has_address(&self) -> bool {
        !self.yiaddr.is_unspecified()
    }
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    ip: Ipv4Addr,
    prefix_len: u8,
    router: Option<Ipv4Addr>,
}

/// A DHCP message the client sends: the header, and its options in the order the firmware puts
/// them on the wire (dhcproto would sort them by code).
struct Outgoing {
    message: Message,
    options: Vec<DhcpOption>,
}

impl Outgoing {
    fn to_vec(&self) -> Vec<u8> {
        let mut header = self.message.clone();
        header.set_opts(Default::default());
        let mut bytes = header.to_vec().expect("a DHCP header encodes");
        // An `Encoder` writes from the start of its buffer, so the options get their own.
        let mut options = Vec::new();
        let mut encoder = dhcproto::Encoder::new(&mut options);
        for option in &self.options {
            option
                .encode(&mut encoder)
                .expect("an option we built encodes");
        }
        bytes.extend_from_slice(&options);
        bytes.push(255);
        bytes
    }
}

/// The offer to request and, if another offer (or the same one) carries it, where the boot
/// information comes from.
#[derive(Clone, Debug)]
struct Choice {
    dhcp: Offer,
    boot: Option<Offer>,
}

/// What follows the ACK.
#[derive(Debug)]
enum Next {
    Tftp { server: Ipv4Addr, file: String },
    BootServer { server: Ipv4Addr },
}

#[derive(Debug)]
enum Phase {
    Off,
    Discover {
        attempt: usize,
        offers: Vec<Offer>,
    },
    Request {
        attempt: usize,
        choice: Choice,
    },
    BootServer {
        attempt: usize,
        lease: Lease,
        server: Ipv4Addr,
    },
    /// Waiting out a pause of the firmware's before its next step.
    Pause {
        lease: Lease,
        next: Next,
    },
    TftpOpen(Opening),
    TftpData(Transfer),
    Done,
}

/// A read (or size) request sent; the client waits for the server's first answer.
#[derive(Debug)]
struct Opening {
    attempt: usize,
    lease: Lease,
    server: Ipv4Addr,
    file: String,
    /// Asking only for the size (EDK2), to abort once the OACK gives it.
    probe: bool,
}

/// A file being read from the server's transfer port.
#[derive(Debug)]
struct Transfer {
    lease: Lease,
    server: Ipv4Addr,
    server_port: u16,
    file: String,
    next_block: u16,
    received: u64,
    blksize: u16,
    /// RFC 7440: the client acknowledges every `window`-th block.
    window: u16,
    tsize: Option<u64>,
    retries: usize,
}

pub struct PxeClient {
    pub config: ClientConfig,
    profile: &'static Profile,
    stream: Stream,
    phase: Phase,
    outcome: Outcome,
    xid: u32,
    /// The xid of the boot-server request (its profile's rule).
    boot_xid: u32,
    power_on_ns: u64,
    dhcp_cycles: u32,
    tftp_port: u16,
    /// The `secs` of the last DISCOVER (EDK2 repeats it in its REQUEST).
    discover_secs: u16,
    /// Transmissions in the current DHCP state (iPXE's `secs`).
    transmissions: u16,
    /// EDK2's first DISCOVER wait, drawn at power-on.
    first_timeout_ns: u64,
    /// Only the newest timer counts; older ones are stale when they fire.
    timer_generation: u64,
}

impl PxeClient {
    pub fn new(config: ClientConfig, stream: Stream) -> PxeClient {
        let profile = config.firmware.profile();
        PxeClient {
            config,
            profile,
            stream,
            phase: Phase::Off,
            outcome: Outcome::Pending,
            xid: 0,
            boot_xid: 0,
            power_on_ns: 0,
            dhcp_cycles: 0,
            tftp_port: 0,
            discover_secs: 0,
            transmissions: 0,
            first_timeout_ns: 0,
            timer_generation: 0,
        }
    }

    /// When the machine was switched on (0 before it was).
    pub fn power_on_ns(&self) -> u64 {
        self.power_on_ns
    }

    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    pub(crate) fn start(&mut self, cx: &mut Cx) {
        self.power_on_ns = cx.now_ns();
        self.xid = self.stream.next_u64() as u32;
        self.tftp_port = self.random_port();
        self.first_timeout_ns = match self.profile.first_timeout_range_ns {
            Some((low, high)) => low + self.stream.next_u64() % (high - low).max(1),
            None => self.profile.discover_timeouts_ns[0],
        };
        cx.event(Kind::Client(Box::new(ClientEvent::PoweredOn {
            arch: self.config.arch,
            firmware: self.profile.firmware,
            mac: self.config.mac,
        })));
        self.begin_dhcp(cx);
    }

    fn random_port(&mut self) -> u16 {
        1024 + (self.stream.next_u64() % 64_000) as u16
    }

    fn begin_dhcp(&mut self, cx: &mut Cx) {
        self.dhcp_cycles += 1;
        self.transmissions = 0;
        self.phase = Phase::Discover {
            attempt: 0,
            offers: Vec::new(),
        };
        self.send_discover(cx, 0);
    }

    fn arm(&mut self, cx: &mut Cx, delay_ns: u64) {
        self.timer_generation += 1;
        cx.set_timer(delay_ns, self.timer_generation);
    }

    fn finish(&mut self, cx: &mut Cx, outcome: Outcome) {
        match &outcome {
            Outcome::Booted {
                file,
                bytes,
                time_ns,
            } => cx.event(Kind::Client(Box::new(ClientEvent::Booted {
                file: file.clone(),
                bytes: *bytes,
                after_ns: time_ns - self.power_on_ns,
            }))),
            Outcome::Failed { code, message, .. } => {
                cx.event(Kind::Client(Box::new(ClientEvent::Failed {
                    code,
                    message: message.clone(),
                    then: self.profile.after_failure,
                })))
            }
            Outcome::Pending => {}
        }
        self.outcome = outcome;
        self.phase = Phase::Done;
        self.timer_generation += 1; // cancels whatever is pending
    }

    fn fail(&mut self, cx: &mut Cx, failure: Failure, detail: Option<String>) {
        let (code, message) = (self.profile.failures)(failure);
        let message = match detail {
            Some(detail) => format!("{message} ({detail})"),
            None => message.to_string(),
        };
        self.finish(
            cx,
            Outcome::Failed {
                time_ns: cx.now_ns(),
                code,
                message,
            },
        );
    }

    /// The wait after DISCOVER number `attempt` (from 0).
    fn discover_timeout_ns(&self, attempt: usize) -> u64 {
        if attempt == 0 {
            self.first_timeout_ns
        } else {
            self.profile.discover_timeouts_ns[attempt]
        }
    }

    /// What the client takes from the offers it holds, if anything yet. `timeouts` counts the
    /// DISCOVER timeouts so far (0 while offers arrive before the first).
    fn choose(&self, offers: &[Offer], timeouts: usize, now_ns: u64) -> Option<Choice> {
        if self.profile.offer_window == OfferWindow::AtTimeout && timeouts == 0 {
            return None;
        }
        let pick = |wanted: &dyn Fn(&Offer) -> bool| match self.profile.offer_choice {
            OfferChoice::LastOfEach => offers.iter().rev().find(|o| wanted(o)),
            _ => offers.iter().find(|o| wanted(o)),
        };
        if self.profile.offer_choice == OfferChoice::Edk2Classes {
            return edk2_choice(offers);
        }
        let dhcp = pick(&Offer::has_address)?;
        let proxy = pick(&|offer: &Offer| offer.pxe);
        let plain = match self.profile.plain_offer {
            PlainOffer::AfterTimeouts(n) => timeouts >= n,
            PlainOffer::AfterElapsed(wait_ns) => {
                timeouts > 0 && now_ns - self.power_on_ns >= wait_ns
            }
            PlainOffer::Never => false,
        };
        (proxy.is_some() || plain).then(|| Choice {
            dhcp: dhcp.clone(),
            boot: proxy.cloned(),
        })
    }

    pub(crate) fn on_timer(&mut self, cx: &mut Cx, token: u64) {
        if token != self.timer_generation {
            return;
        }
        match std::mem::replace(&mut self.phase, Phase::Off) {
            Phase::Discover { attempt, offers } => {
                let next = attempt + 1;
                if let Some(choice) = self.choose(&offers, next, cx.now_ns()) {
                    return self.request(cx, choice, 0);
                }
                if next < self.profile.discover_timeouts_ns.len() {
                    self.phase = Phase::Discover {
                        attempt: next,
                        offers,
                    };
                    return self.send_discover(cx, next);
                }
                let failure = if offers.is_empty() {
                    Failure::NoOffers
                } else {
                    Failure::NoUsableOffer
                };
                let detail = format!("{} offer(s) received", offers.len());
                self.fail(cx, failure, Some(detail));
            }
            Phase::Request { attempt, choice } => {
                if attempt + 1 < self.profile.request_timeouts_ns.len() {
                    self.request(cx, choice, attempt + 1);
                } else if self.dhcp_cycles < self.profile.dhcp_cycles_max {
                    self.begin_dhcp(cx);
                } else {
                    self.fail(cx, Failure::NoOffers, Some("no DHCPACK".to_string()));
                }
            }
            Phase::BootServer {
                attempt,
                lease,
                server,
            } => {
                if attempt + 1 < self.profile.boot_server_timeouts_ns.len() {
                    self.boot_server_request(cx, lease, server, attempt + 1);
                } else {
                    self.fail(cx, Failure::NoBootServerReply, None);
                }
            }
            Phase::Pause { lease, next } => self.step(cx, lease, next),
            Phase::TftpOpen(Opening {
                attempt,
                lease,
                server,
                file,
                probe,
            }) => {
                if attempt + 1 < self.profile.tftp_timeouts_ns.len() {
                    self.tftp_open(cx, lease, server, file, attempt + 1, probe);
                } else {
                    self.fail(cx, Failure::TftpOpenTimeout, None);
                }
            }
            Phase::TftpData(mut transfer) => {
                if transfer.retries + 1 < self.profile.tftp_timeouts_ns.len() {
                    // Re-acknowledge the last block we have; the server resends what follows.
                    let ack = tftp::Repr::Ack {
                        block: transfer.next_block.wrapping_sub(1),
                    };
                    let (lease, server, port) =
                        (transfer.lease, transfer.server, transfer.server_port);
                    self.send_tftp(cx, lease, server, port, &ack);
                    transfer.retries += 1;
                    let wait_ns = self.profile.tftp_timeouts_ns[transfer.retries];
                    self.phase = Phase::TftpData(transfer);
                    self.arm(cx, wait_ns);
                } else {
                    self.fail(cx, Failure::TftpReadTimeout, None);
                }
            }
            phase @ (Phase::Off | Phase::Done) => self.phase = phase,
        }
    }

    /// `secs` for a DHCP message sent now; `held` says whether the client holds a DHCP offer
    /// and a proxy offer (iPXE writes both into it).
    fn secs(&mut self, cx: &Cx, kind: MessageType, held: (bool, bool)) -> u16 {
        match self.profile.secs {
            Secs::Elapsed {
                request_copies_discover,
            } => {
                if kind == MessageType::Request && request_copies_discover {
                    return self.discover_secs;
                }
                // Counted from the DHCP driver's tick origin: EDK2's first wait ends on its 4th
                // tick, so the origin lies that much before the DISCOVER.
                let nominal_ns = self.profile.discover_timeouts_ns[0];
                let origin_ns = self
                    .power_on_ns
                    .saturating_sub(nominal_ns.saturating_sub(self.first_timeout_ns));
                let secs = (cx.now_ns() - origin_ns) / SECOND_NS;
                secs.min(u64::from(u16::MAX)) as u16
            }
            Secs::IpxeCounter => {
                let (offer, proxy) = held;
                self.transmissions = self.transmissions.wrapping_add(1);
                (self.transmissions << 2) | if offer { 2 } else { 0 } | u16::from(proxy)
            }
        }
    }

    /// The option a profile lists, with this client's value; `None` for codes it fills in
    /// elsewhere (50, 54) or does not send.
    fn option(&self, code: u8, kind: MessageType, boot_server: bool) -> Option<DhcpOption> {
        let profile = self.profile;
        let arch = self.config.arch.code();
        Some(match code {
            53 => DhcpOption::MessageType(kind),
            57 if kind == MessageType::Request && !boot_server => {
                DhcpOption::MaxMessageSize(profile.request_max_message_size)
            }
            57 => DhcpOption::MaxMessageSize(profile.max_message_size),
            60 => match profile.boot_server_class.filter(|_| boot_server) {
                Some(class) => DhcpOption::ClassIdentifier(class.as_bytes().to_vec()),
                None => DhcpOption::ClassIdentifier(
                    format!(
                        "PXEClient:Arch:{arch:05}:UNDI:{:03}{:03}",
                        profile.undi.0, profile.undi.1
                    )
                    .into_bytes(),
                ),
            },
            // The boot item asked of a boot server: type, layer 0.
            43 => {
                let [high, low] = profile.boot_item_type.to_be_bytes();
                DhcpOption::VendorExtensions(vec![PXE_BOOT_ITEM, 4, high, low, 0, 0, 255])
            }
            93 => DhcpOption::ClientSystemArchitecture(Architecture::from(arch)),
            94 => DhcpOption::ClientNetworkInterface(profile.nii.0, profile.nii.1, profile.nii.2),
            97 => {
                let mut guid = vec![0u8];
                guid.extend_from_slice(&self.config.guid);
                DhcpOption::ClientMachineIdentifier(guid)
            }
            55 => DhcpOption::ParameterRequestList(
                profile
                    .parameter_request_list
                    .iter()
                    .map(|&code| OptionCode::from(code))
                    .collect(),
            ),
            61 => {
                let mut id = vec![1u8];
                id.extend_from_slice(&self.config.mac.0);
                DhcpOption::ClientIdentifier(id)
            }
            77 => DhcpOption::Unknown(UnknownOption::new(
                OptionCode::from(77),
                profile.user_class?.to_vec(),
            )),
            175 => DhcpOption::Unknown(UnknownOption::new(
                OptionCode::from(175),
                profile.ipxe_features?.to_vec(),
            )),
            _ => return None,
        })
    }

    /// A DHCP message with the profile's options in the profile's order (dhcproto keeps
    /// insertion order on the wire).
    fn message(
        &mut self,
        cx: &Cx,
        kind: MessageType,
        ciaddr: Ipv4Addr,
        chosen: Option<&Offer>,
        held: (bool, bool),
    ) -> Outgoing {
        let boot_server = kind == MessageType::Request && !ciaddr.is_unspecified();
        let mut message = Message::new_with_id(
            self.xid,
            ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &self.config.mac.0,
        );
        message.set_opcode(Opcode::BootRequest);
        let secs = self.secs(cx, kind, held);
        message.set_secs(secs);
        if kind == MessageType::Discover {
            self.discover_secs = secs;
        }
        if self.profile.broadcast_dhcp {
            message.set_flags(Flags::default().set_broadcast());
        }
        let codes = match kind {
            MessageType::Discover => self.profile.discover_options,
            _ if boot_server => self.profile.boot_server_options,
            _ => self.profile.request_options,
        };
        let options = codes
            .iter()
            .filter_map(|&code| match (code, chosen) {
                (50, Some(offer)) => Some(DhcpOption::RequestedIpAddress(offer.yiaddr)),
                (54, Some(offer)) => Some(DhcpOption::ServerIdentifier(offer.server_id)),
                _ => self.option(code, kind, boot_server),
            })
            .collect();
        Outgoing { message, options }
    }

    fn broadcast(&self, cx: &mut Cx, message: &Outgoing) {
        let payload = message.to_vec();
        let frame = UdpFrame {
            src_mac: self.config.mac,
            dst_mac: EthernetAddress::BROADCAST,
            src_ip: Ipv4Addr::UNSPECIFIED,
            dst_ip: frame::BROADCAST_IP,
            src_port: DHCP_CLIENT_PORT,
            dst_port: DHCP_SERVER_PORT,
            ttl: TTL,
            payload: &payload,
        };
        cx.send(0, frame.to_bytes().expect("a DHCP message fits a frame"));
    }

    fn unicast(
        &self,
        cx: &mut Cx,
        lease: Lease,
        dst_ip: Ipv4Addr,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) {
        let next_hop = if same_subnet(dst_ip, lease.ip, lease.prefix_len) {
            Some(dst_ip)
        } else {
            lease.router
        };
        let Some(next_hop) = next_hop else {
            return cx.log(Level::Warning, format!("no route to {dst_ip}"));
        };
        let frame = UdpFrame {
            src_mac: self.config.mac,
            dst_mac: frame::UNRESOLVED_MAC,
            src_ip: lease.ip,
            dst_ip,
            src_port,
            dst_port,
            ttl: TTL,
            payload,
        };
        match frame.to_bytes() {
            Ok(bytes) => cx.send_to(0, next_hop, bytes),
            Err(error) => cx.log(Level::Warning, format!("cannot send to {dst_ip}: {error}")),
        }
    }

    fn send_discover(&mut self, cx: &mut Cx, attempt: usize) {
        let held = match &self.phase {
            Phase::Discover { offers, .. } => (
                offers.iter().any(Offer::has_address),
                offers.iter().any(|offer| offer.pxe),
            ),
            _ => (false, false),
        };
        let message = self.message(cx, MessageType::Discover, Ipv4Addr::UNSPECIFIED, None, held);
        cx.event(Kind::Client(Box::new(ClientEvent::Discover {
            xid: self.xid,
            attempt: attempt as u32 + 1,
        })));
        self.broadcast(cx, &message);
        let timeout_ns = self.discover_timeout_ns(attempt);
        self.arm(cx, timeout_ns);
    }

    fn request(&mut self, cx: &mut Cx, choice: Choice, attempt: usize) {
        let held = (true, choice.boot.is_some());
        if attempt == 0 && choice.boot.is_none() && self.profile.secs == Secs::IpxeCounter {
            self.transmissions = self.transmissions.wrapping_add(1);
        }
        let message = self.message(
            cx,
            MessageType::Request,
            Ipv4Addr::UNSPECIFIED,
            Some(&choice.dhcp),
            held,
        );
        cx.event(Kind::Client(Box::new(ClientEvent::Request {
            yiaddr: choice.dhcp.yiaddr,
            server: choice.dhcp.server_id,
            attempt: attempt as u32 + 1,
        })));
        self.broadcast(cx, &message);
        self.phase = Phase::Request { attempt, choice };
        self.arm(cx, self.profile.request_timeouts_ns[attempt]);
    }

    fn boot_server_request(&mut self, cx: &mut Cx, lease: Lease, server: Ipv4Addr, attempt: usize) {
        let profile = self.profile;
        if attempt == 0 {
            self.boot_xid = match profile.boot_server_xid {
                BootServerXid::Same => self.xid,
                BootServerXid::Fresh => self.stream.next_u64() as u32,
                BootServerXid::Zero => 0,
            };
            // A session of its own (iPXE's `secs` counter starts again).
            self.transmissions = 0;
        }
        let mut outgoing = self.message(cx, MessageType::Request, lease.ip, None, (false, false));
        let message = &mut outgoing.message;
        message.set_xid(self.boot_xid);
        message.set_flags(if profile.broadcast_boot_server {
            Flags::default().set_broadcast()
        } else {
            Flags::default()
        });
        if profile.boot_server_secs == BootServerSecs::AttemptLittleEndian {
            message.set_secs((attempt as u16).swap_bytes());
        }
        cx.event(Kind::Client(Box::new(ClientEvent::BootServerRequest {
            server,
            port: PXE_BOOT_SERVER_PORT,
            xid: self.boot_xid,
            attempt: attempt as u32 + 1,
        })));
        let payload = outgoing.to_vec();
        let src_port = if profile.boot_server_from_4011 {
            PXE_BOOT_SERVER_PORT
        } else {
            DHCP_CLIENT_PORT
        };
        self.unicast(cx, lease, server, src_port, PXE_BOOT_SERVER_PORT, &payload);
        self.phase = Phase::BootServer {
            attempt,
            lease,
            server,
        };
        self.arm(cx, profile.boot_server_timeouts_ns[attempt]);
    }

    /// The next step after the ACK (or the boot server's answer), once `pause_ns` and the
    /// firmware's earliest start have passed.
    fn after(&mut self, cx: &mut Cx, lease: Lease, next: Next, pause_ns: u64) {
        let earliest_ns = self.power_on_ns + self.profile.boot_not_before_ns;
        let at_ns = (cx.now_ns() + pause_ns).max(earliest_ns);
        if at_ns == cx.now_ns() {
            return self.step(cx, lease, next);
        }
        self.phase = Phase::Pause { lease, next };
        self.arm(cx, at_ns - cx.now_ns());
    }

    fn step(&mut self, cx: &mut Cx, lease: Lease, next: Next) {
        match next {
            Next::Tftp { server, file } => {
                let probe = self.profile.tftp_size_probe;
                self.tftp_open(cx, lease, server, file, 0, probe)
            }
            Next::BootServer { server } => self.boot_server_request(cx, lease, server, 0),
        }
    }

    fn tftp_open(
        &mut self,
        cx: &mut Cx,
        lease: Lease,
        server: Ipv4Addr,
        file: String,
        attempt: usize,
        probe: bool,
    ) {
        let profile = self.profile;
        let blksize = profile
            .tftp_blksize
            .unwrap_or(self.config.tftp_blksize)
            .to_string();
        let windowsize = profile.tftp_windowsize.map(|w| w.to_string());
        let mut options = Vec::new();
        let tsize = probe || profile.tftp_tsize;
        if tsize && !profile.tftp_blksize_first {
            options.push(("tsize", "0"));
        }
        options.push(("blksize", blksize.as_str()));
        if tsize && profile.tftp_blksize_first {
            options.push(("tsize", "0"));
        }
        if let Some(windowsize) = &windowsize {
            options.push(("windowsize", windowsize.as_str()));
        }
        let request = tftp::Repr::ReadRequest {
            filename: &file,
            mode: "octet",
            options,
        };
        cx.event(Kind::Client(Box::new(ClientEvent::TftpRequest {
            file: file.to_string(),
            server,
            probe,
            attempt: attempt as u32 + 1,
        })));
        self.send_tftp(cx, lease, server, TFTP_PORT, &request);
        self.phase = Phase::TftpOpen(Opening {
            attempt,
            lease,
            server,
            file,
            probe,
        });
        self.arm(cx, profile.tftp_timeouts_ns[attempt]);
    }

    fn send_tftp(&self, cx: &mut Cx, lease: Lease, server: Ipv4Addr, port: u16, repr: &tftp::Repr) {
        self.unicast(cx, lease, server, self.tftp_port, port, &repr.to_bytes());
    }

    /// Which clients take a frame at all. The others drop it whatever their state, with no
    /// effect but the drop record: not addressed to them (a multicast such as an HSRP hello),
    /// another client's DHCP reply, a port they never listen on (another client's DISCOVER).
    /// The world does not deliver it to them: on a LAN of thousands of clients every broadcast
    /// would otherwise cost an event and a record per client. A malformed frame goes to every
    /// client, so each records its drop. Read once per frame sent, whoever receives it.
    pub(crate) fn audience(bytes: &[u8]) -> Audience {
        let Ok(parsed) = frame::parse(bytes) else {
            return Audience::Every;
        };
        let dst = parsed.ethernet.dst_addr;
        // A client takes a non-broadcast frame only if it is sent to its own MAC.
        let addressed = |mac: EthernetAddress| {
            if dst == EthernetAddress::BROADCAST || dst == mac {
                Audience::Only(mac)
            } else {
                Audience::Nobody
            }
        };
        let everyone = if dst == EthernetAddress::BROADCAST {
            Audience::Every
        } else {
            Audience::Only(dst)
        };
        let (Some(_), Some((udp, payload))) = (parsed.ipv4, parsed.udp) else {
            return everyone;
        };
        match udp.dst_port {
            // chaddr is bytes 28.. of a BOOTP message; a reply for another MAC is dropped
            // whatever the transaction (a short one is malformed: delivered and recorded).
            DHCP_CLIENT_PORT => match payload.get(28..34) {
                Some(chaddr) => addressed(EthernetAddress::from_bytes(chaddr)),
                None => everyone,
            },
            // Another client's DISCOVER or REQUEST. Only broadcasts: a unicast could be for the
            // client's TFTP port, which is chosen at random (and may be 4011).
            DHCP_SERVER_PORT | PXE_BOOT_SERVER_PORT if dst == EthernetAddress::BROADCAST => {
                Audience::Nobody
            }
            _ => everyone,
        }
    }

    pub(crate) fn on_frame(&mut self, cx: &mut Cx, bytes: &[u8]) {
        if matches!(self.phase, Phase::Off) {
            return cx.drop_frame(DropReason::PoweredOff, bytes);
        }
        let parsed = match frame::parse(bytes) {
            Ok(parsed) => parsed,
            Err(error) => return cx.drop_frame(DropReason::malformed(Layer::Frame, error), bytes),
        };
        let (Some(ip), Some((udp, payload))) = (parsed.ipv4, parsed.udp) else {
            return cx.drop_frame(DropReason::NotUdpIpv4, bytes);
        };
        if parsed.ethernet.dst_addr != self.config.mac
            && parsed.ethernet.dst_addr != EthernetAddress::BROADCAST
        {
            return cx.drop_frame(DropReason::NotForClient, bytes);
        }
        // EDK2 sends its boot-server request from port 4011 and hears the answer there.
        let boot_server_port = self.profile.boot_server_from_4011
            && matches!(self.phase, Phase::BootServer { .. })
            && udp.dst_port == PXE_BOOT_SERVER_PORT;
        if udp.dst_port == DHCP_CLIENT_PORT || boot_server_port {
            self.on_dhcp(cx, ip.src_addr, udp.src_port, payload, bytes);
        } else if udp.dst_port == self.tftp_port && !ip.dst_addr.is_broadcast() {
            self.on_tftp(cx, ip.src_addr, udp.src_port, payload, bytes);
        } else {
            cx.drop_frame(DropReason::NoListener, bytes);
        }
    }

    fn on_dhcp(
        &mut self,
        cx: &mut Cx,
        src_ip: Ipv4Addr,
        src_port: u16,
        payload: &[u8],
        bytes: &[u8],
    ) {
        let message = match crate::dhcp::decode(payload) {
            Ok(message) => message,
            Err(error) => return cx.drop_frame(DropReason::malformed(Layer::Dhcp, error), bytes),
        };
        let xid = if matches!(self.phase, Phase::BootServer { .. }) {
            self.boot_xid
        } else {
            self.xid
        };
        if message.opcode() != Opcode::BootReply
            || message.xid() != xid
            || message.chaddr().get(..6) != Some(&self.config.mac.0[..])
        {
            return cx.drop_frame(DropReason::OtherTransaction, bytes);
        }
        let Some(kind) = message.opts().msg_type() else {
            return cx.drop_frame(DropReason::NoMessageType, bytes);
        };
        let options = message.opts();
        let server_id = match options.get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(id)) => *id,
            _ => src_ip,
        };
        let pxe = matches!(options.get(OptionCode::ClassIdentifier), Some(DhcpOption::ClassIdentifier(id)) if id.starts_with(b"PXEClient"));
        let file = message
            .fname()
            .and_then(|name| std::str::from_utf8(name).ok())
            .map(|name| name.trim_end_matches('\0').to_string())
            .filter(|name| !name.is_empty());
        let offer = Offer {
            server_id,
            yiaddr: message.yiaddr(),
            siaddr: message.siaddr(),
            file,
            pxe,
        };

        match (&mut self.phase, kind) {
            (Phase::Discover { offers, .. }, MessageType::Offer) => {
                cx.event(Kind::Client(Box::new(ClientEvent::Offer {
                    server: offer.server_id,
                    yiaddr: offer.has_address().then_some(offer.yiaddr),
                })));
                if offers.len() >= self.profile.offers_max {
                    return cx.drop_frame(DropReason::OfferCacheFull, bytes);
                }
                offers.push(offer);
                let offers = offers.clone();
                if let Some(choice) = self.choose(&offers, 0, cx.now_ns()) {
                    self.request(cx, choice, 0);
                }
            }
            (Phase::Request { choice, .. }, MessageType::Ack)
                if server_id == choice.dhcp.server_id =>
            {
                let choice = choice.clone();
                let requested = choice.dhcp.yiaddr;
                if message.yiaddr() != requested {
                    match self.profile.mismatched_ack {
                        MismatchedAck::Accept => {}
                        MismatchedAck::Ignore => {
                            let yiaddr = message.yiaddr();
                            return cx
                                .drop_frame(DropReason::AckForAnotherAddress { yiaddr }, bytes);
                        }
                        MismatchedAck::Decline => {
                            return self.decline(cx, &choice.dhcp, message.yiaddr());
                        }
                    }
                }
                let prefix_len = match options.get(OptionCode::SubnetMask) {
                    Some(DhcpOption::SubnetMask(mask)) => subnet::prefix_len(*mask),
                    _ => 24,
                };
                let router = match options.get(OptionCode::Router) {
                    Some(DhcpOption::Router(routers)) => routers.first().copied(),
                    _ => None,
                };
                let lease = Lease {
                    ip: message.yiaddr(),
                    prefix_len,
                    router,
                };
                cx.set_address(0, Some(lease.ip));
                cx.event(Kind::Client(Box::new(ClientEvent::Ack {
                    ip: lease.ip,
                    prefix_len,
                    gateway: router,
                })));
                if self.profile.gratuitous_arp_after_ack {
                    cx.announce(0, 0, lease.ip, self.config.mac, 1, false);
                }
                self.after_ack(cx, lease, choice.boot, offer);
            }
            (Phase::Request { .. }, MessageType::Nak) => {
                cx.event(Kind::Client(Box::new(ClientEvent::Nak {
                    server: server_id,
                })));
                if self.dhcp_cycles < self.profile.dhcp_cycles_max {
                    self.begin_dhcp(cx);
                } else {
                    self.fail(
                        cx,
                        Failure::NoOffers,
                        Some(format!("DHCPNAK from {server_id}")),
                    );
                }
            }
            (Phase::BootServer { lease, server, .. }, MessageType::Ack)
                if src_port == PXE_BOOT_SERVER_PORT && src_ip == *server =>
            {
                let lease = *lease;
                let Some(file) = offer.file else {
                    return self.fail(cx, Failure::NoBootFile, None);
                };
                let tftp_server = if offer.siaddr.is_unspecified() {
                    src_ip
                } else {
                    offer.siaddr
                };
                cx.event(Kind::Client(Box::new(ClientEvent::BootServerAck {
                    file: file.clone(),
                    tftp_server,
                })));
                let pause_ns = self.profile.tftp_delay_after_boot_server_ns;
                let next = Next::Tftp {
                    server: tftp_server,
                    file,
                };
                self.after(cx, lease, next, pause_ns);
            }
            _ => cx.drop_frame(DropReason::UnexpectedDhcp { kind }, bytes),
        }
    }

    /// Declines the ACK of `offer`'s server, which gave `ip` instead of the offered address,
    /// and starts over as after a NAK (RFC 2131 3.1.5).
    fn decline(&mut self, cx: &mut Cx, offer: &Offer, ip: Ipv4Addr) {
        let mut declined = offer.clone();
        declined.yiaddr = ip;
        let mut message = self.message(
            cx,
            MessageType::Decline,
            Ipv4Addr::UNSPECIFIED,
            Some(&declined),
            (true, false),
        );
        // RFC 2131 table 5: a DECLINE carries 50, 54 and the client identifier, little else.
        message.options.retain(|option| {
            matches!(
                option,
                DhcpOption::MessageType(_)
                    | DhcpOption::RequestedIpAddress(_)
                    | DhcpOption::ServerIdentifier(_)
                    | DhcpOption::ClientIdentifier(_)
            )
        });
        cx.event(Kind::Client(Box::new(ClientEvent::Decline {
            server: offer.server_id,
            ip,
            requested: offer.yiaddr,
        })));
        self.broadcast(cx, &message);
        if self.dhcp_cycles < self.profile.dhcp_cycles_max {
            self.begin_dhcp(cx);
        } else {
            let detail = format!("DHCPDECLINE of {ip} from {}", offer.server_id);
            self.fail(cx, Failure::NoOffers, Some(detail));
        }
    }

    /// Where the boot file comes from once the address is bound: the boot offer's file, the
    /// boot server on port 4011, or the ACK's own file.
    fn after_ack(&mut self, cx: &mut Cx, lease: Lease, boot: Option<Offer>, ack: Offer) {
        let tftp_server = |offer: &Offer| {
            if offer.siaddr.is_unspecified() {
                offer.server_id
            } else {
                offer.siaddr
            }
        };
        let next = match (boot, ack.file.clone()) {
            (Some(boot), _) if boot.file.is_some() => Next::Tftp {
                server: tftp_server(&boot),
                file: boot.file.unwrap_or_default(),
            },
            (Some(boot), _) if self.profile.boot_server_request => Next::BootServer {
                server: boot.server_id,
            },
            (_, Some(file)) => Next::Tftp {
                server: tftp_server(&ack),
                file,
            },
            (Some(_), None) => {
                let why = "the proxy offer named no boot file, and this firmware never asks \
                           its server on port 4011";
                return self.fail(cx, Failure::NoBootFile, Some(why.to_string()));
            }
            (None, None) => return self.fail(cx, Failure::NoBootFile, None),
        };
        self.after(cx, lease, next, 0);
    }

    fn on_tftp(
        &mut self,
        cx: &mut Cx,
        src_ip: Ipv4Addr,
        src_port: u16,
        payload: &[u8],
        bytes: &[u8],
    ) {
        let repr = match tftp::Packet::new_checked(payload)
            .and_then(|packet| tftp::Repr::parse(&packet))
        {
            Ok(repr) => repr,
            Err(error) => return cx.drop_frame(DropReason::malformed(Layer::Tftp, error), bytes),
        };
        match std::mem::replace(&mut self.phase, Phase::Off) {
            Phase::TftpOpen(opening) if src_ip == opening.server => {
                self.on_tftp_open(cx, opening, src_port, repr, bytes)
            }
            Phase::TftpData(transfer) => {
                let from_transfer = (src_ip, src_port) == (transfer.server, transfer.server_port);
                self.phase = Phase::TftpData(transfer);
                if !from_transfer {
                    return cx.drop_frame(DropReason::TftpUnknownTransfer, bytes);
                }
                match repr {
                    tftp::Repr::Data { .. } => self.on_tftp_data(cx, repr),
                    tftp::Repr::Error { code, message } => self.fail(
                        cx,
                        Failure::TftpError,
                        Some(format!("TFTP error {code}: {message}")),
                    ),
                    _ => cx.drop_frame(DropReason::TftpUnexpectedInTransfer, bytes),
                }
            }
            phase => {
                self.phase = phase;
                cx.drop_frame(DropReason::TftpOutsideTransfer, bytes);
            }
        }
    }

    /// The server's first answer to a read (or size) request.
    fn on_tftp_open(
        &mut self,
        cx: &mut Cx,
        opening: Opening,
        src_port: u16,
        repr: tftp::Repr,
        bytes: &[u8],
    ) {
        let (lease, server, probe) = (opening.lease, opening.server, opening.probe);
        let blksize_default = tftp::BLKSIZE_DEFAULT as u16;
        let data = |blksize, window, tsize| {
            Phase::TftpData(Transfer {
                lease,
                server,
                server_port: src_port,
                file: opening.file.clone(),
                next_block: 1,
                received: 0,
                blksize,
                window,
                tsize,
                retries: 0,
            })
        };
        match repr {
            tftp::Repr::OptionAck { options } => {
                let value = |key: &str| {
                    options
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(key))
                        .map(|(_, v)| *v)
                };
                let blksize = value("blksize")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(blksize_default);
                let window = value("windowsize")
                    .and_then(|v| v.parse().ok())
                    .filter(|&w: &u16| w > 0)
                    .unwrap_or(1);
                let tsize = value("tsize").and_then(|v| v.parse().ok());
                cx.event(Kind::Client(Box::new(ClientEvent::TftpOptionAck {
                    src_port,
                    blksize,
                    windowsize: window,
                    tsize,
                })));
                if probe {
                    // The size is known: end this transfer and read the file from a new port.
                    let abort = tftp::Repr::Error {
                        code: TFTP_ERROR_OPTION_TERMINATE,
                        message: "User aborted the transfer",
                    };
                    self.send_tftp(cx, lease, server, src_port, &abort);
                    self.tftp_port = self.tftp_port.wrapping_add(1).max(1024);
                    return self.tftp_open(cx, lease, server, opening.file, 0, false);
                }
                self.send_tftp(cx, lease, server, src_port, &tftp::Repr::Ack { block: 0 });
                self.phase = data(blksize, window, tsize);
                self.arm(cx, self.profile.tftp_timeouts_ns[0]);
            }
            tftp::Repr::Data { block: 1, .. } => {
                self.phase = data(blksize_default, 1, None);
                self.on_tftp_data(cx, repr);
            }
            tftp::Repr::Error { code, message } => {
                let failure = if code == 1 {
                    Failure::TftpFileNotFound
                } else {
                    Failure::TftpError
                };
                self.fail(cx, failure, Some(format!("TFTP error {code}: {message}")));
            }
            _ => {
                self.phase = Phase::TftpOpen(opening);
                cx.drop_frame(DropReason::TftpUnexpectedWhileOpening, bytes);
            }
        }
    }

    fn on_tftp_data(&mut self, cx: &mut Cx, repr: tftp::Repr) {
        let tftp::Repr::Data { block, data } = repr else {
            return;
        };
        let Phase::TftpData(transfer) = &mut self.phase else {
            return;
        };
        let (lease, server, server_port) = (transfer.lease, transfer.server, transfer.server_port);
        if block != transfer.next_block {
            // Out of order or a retransmission: acknowledge what we have in order (RFC 1350,
            // RFC 7440 section 4), and the server goes on from there.
            let ack = tftp::Repr::Ack {
                block: transfer.next_block.wrapping_sub(1),
            };
            return self.send_tftp(cx, lease, server, server_port, &ack);
        }
        transfer.received += data.len() as u64;
        transfer.next_block = transfer.next_block.wrapping_add(1);
        transfer.retries = 0;
        let last = data.len() < usize::from(transfer.blksize);
        let (received, tsize, window) = (transfer.received, transfer.tsize, transfer.window);
        if last || block % window == 0 {
            self.send_tftp(cx, lease, server, server_port, &tftp::Repr::Ack { block });
        }
        if !last {
            return self.arm(cx, self.profile.tftp_timeouts_ns[0]);
        }
        let Phase::TftpData(Transfer { file, .. }) =
            std::mem::replace(&mut self.phase, Phase::Done)
        else {
            unreachable!()
        };
        if let Some(size) = tsize.filter(|&size| size != received) {
            return self.fail(
                cx,
                Failure::TftpSizeMismatch,
                Some(format!(
                    "transfer size {received} differs from tsize {size}"
                )),
            );
        }
        self.finish(
            cx,
            Outcome::Booted {
                time_ns: cx.now_ns(),
                file,
                bytes: received,
            },
        );
    }
}

/// EDK2's choice among the offers of a window (`PxeBcDhcp4.c`, `PxeBcSelectDhcp4Offer`), best
/// first: an offer with an address and PXE boot information (DhcpPxe10); an address-only offer
/// with a proxy offer naming a boot file (ProxyPxe10); an offer with an address marked
/// PXEClient but no boot file (DhcpBinl: the client asks that server on port 4011); an
/// address-only offer with a proxy offer without a boot file (ProxyBinl: 4011 to the proxy);
/// an address-only offer that names a boot file. Within a class the first offer wins.
fn edk2_choice(offers: &[Offer]) -> Option<Choice> {
    let first = |pick: &dyn Fn(&Offer) -> bool| offers.iter().find(|offer| pick(offer)).cloned();
    let dhcp_only = first(&|o| o.has_address() && !o.pxe);
    let proxy_pxe10 = first(&|o| !o.has_address() && o.pxe && o.file.is_some());
    let proxy_binl = first(&|o| !o.has_address() && o.pxe && o.file.is_none());
    // One server gives both the address and the boot information.
    let both = |offer: Offer| Choice {
        boot: Some(offer.clone()),
        dhcp: offer,
    };
    // The address from a plain DHCP offer, the boot information from a proxy.
    let split = |proxy: Option<Offer>| {
        Some(Choice {
            dhcp: dhcp_only.clone()?,
            boot: Some(proxy?),
        })
    };
    first(&|o| o.has_address() && o.pxe && o.file.is_some())
        .map(both)
        .or_else(|| split(proxy_pxe10))
        .or_else(|| first(&|o| o.has_address() && o.pxe && o.file.is_none()).map(both))
        .or_else(|| split(proxy_binl))
        .or_else(|| {
            let dhcp = first(&|o| o.has_address() && !o.pxe && o.file.is_some())?;
            Some(Choice { dhcp, boot: None })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: EthernetAddress = EthernetAddress([0x02, 0x50, 0, 0, 0, 0x0a]);
    const B: EthernetAddress = EthernetAddress([0x02, 0x50, 0, 0, 0, 0x0b]);

    fn frame(dst_mac: EthernetAddress, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        UdpFrame {
            src_mac: EthernetAddress([0x02, 0, 0, 0, 0, 1]),
            dst_mac,
            src_ip: Ipv4Addr::new(10, 1, 0, 1),
            dst_ip: Ipv4Addr::BROADCAST,
            src_port: 67,
            dst_port,
            ttl: 64,
            payload,
        }
        .to_bytes()
        .unwrap()
    }

    /// A BOOTP message long enough to carry chaddr (bytes 28..34).
    fn bootp(chaddr: EthernetAddress) -> Vec<u8> {
        let mut payload = vec![0; 240];
        payload[28..34].copy_from_slice(&chaddr.0);
        payload
    }

    #[test]
    fn the_audience_of_a_frame_is_the_clients_that_could_act_on_it() {
        let everyone = EthernetAddress::BROADCAST;
        let multicast = EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 2]);
        let cases = [
            // A DHCP reply: only its chaddr, broadcast or not; sent to one MAC for another
            // client's chaddr, nobody.
            (
                frame(everyone, DHCP_CLIENT_PORT, &bootp(A)),
                Audience::Only(A),
            ),
            (frame(A, DHCP_CLIENT_PORT, &bootp(A)), Audience::Only(A)),
            (frame(A, DHCP_CLIENT_PORT, &bootp(B)), Audience::Nobody),
            // Too short to name a client: every client records it as malformed.
            (frame(everyone, DHCP_CLIENT_PORT, &[0; 20]), Audience::Every),
            // Another client's broadcast DISCOVER or boot-server request.
            (
                frame(everyone, DHCP_SERVER_PORT, &bootp(A)),
                Audience::Nobody,
            ),
            (
                frame(everyone, PXE_BOOT_SERVER_PORT, &bootp(A)),
                Audience::Nobody,
            ),
            // A unicast to 4011 may be TFTP for the client whose MAC it is.
            (frame(B, PXE_BOOT_SERVER_PORT, &[1; 8]), Audience::Only(B)),
            (frame(B, 2000, &[1; 8]), Audience::Only(B)),
            (frame(everyone, 2000, &[1; 8]), Audience::Every),
            // A multicast (an HSRP hello) is no client's MAC.
            (frame(multicast, 1985, &[1; 8]), Audience::Only(multicast)),
            // Garbage: every client records the drop.
            (vec![0xff; 10], Audience::Every),
        ];
        for (n, (bytes, audience)) in cases.iter().enumerate() {
            assert_eq!(PxeClient::audience(bytes), *audience, "case {n}");
        }
        assert!(!Audience::Only(multicast).admits(A));
        assert!(Audience::Every.admits(A) && !Audience::Nobody.admits(A));
    }
}
