//! A PXE 2.1 client as BIOS/UEFI firmware behaves: DISCOVER with the PXE options and the
//! broadcast flag, offer collection (DHCP offer + proxy offer), REQUEST/ACK, the boot-server
//! request to port 4011, and a TFTP download of the network bootstrap program. Retries and
//! timeouts follow the PXE 2.1 specification; failures end with the code the firmware would show.

use std::net::Ipv4Addr;

use dhcproto::Encodable;
use dhcproto::v4::{Architecture, DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use smoltcp::wire::EthernetAddress;
use timing::format_ns;
use wire::tftp;

use crate::frame::{self, UdpFrame};
use crate::log::Level;
use crate::rng::Stream;
use crate::router::{DHCP_CLIENT_PORT, DHCP_SERVER_PORT};
use crate::server::same_subnet;
use crate::world::Cx;

pub const PXE_BOOT_SERVER_PORT: u16 = 4011;
pub const TFTP_PORT: u16 = 69;
const SECOND_NS: u64 = 1_000_000_000;
/// PXE 2.1: DISCOVER is sent four times, waiting 4, 8, 16 and 32 seconds for offers.
const DISCOVER_TIMEOUTS_S: [u64; 4] = [4, 8, 16, 32];
/// PXE 2.1: REQUEST, proxyDHCP and boot-server requests: four tries at 1, 2, 3 and 4 seconds.
const REQUEST_TIMEOUTS_S: [u64; 4] = [1, 2, 3, 4];
/// Without a PXE offer, the client discovers again on the first two timeouts before it settles
/// for a plain DHCP offer.
const DISCOVER_RETRIES_FOR_PXE: usize = 2;
/// Full DHCP cycles (DISCOVER..ACK) before the firmware gives up after NAKs or silence.
const DHCP_CYCLES_MAX: u32 = 2;
/// TTL of packets the firmware sends.
const TTL: u8 = 64;

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
    /// SMBIOS UUID, sent as option 97 (type 0 + 16 bytes).
    pub guid: [u8; 16],
    /// TFTP block size the firmware asks for (RFC 2348).
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
    /// The firmware gave up with a PXE error code.
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

#[derive(Clone, Copy, Debug)]
struct Lease {
    ip: Ipv4Addr,
    prefix_len: u8,
    router: Option<Ipv4Addr>,
}

#[derive(Debug)]
enum Phase {
    Off,
    Discover {
        attempt: usize,
        dhcp: Option<Offer>,
        proxy: Option<Offer>,
    },
    Request {
        attempt: usize,
        offer: Offer,
        proxy: Option<Offer>,
    },
    BootServer {
        attempt: usize,
        lease: Lease,
        server: Ipv4Addr,
    },
    TftpOpen {
        attempt: usize,
        lease: Lease,
        server: Ipv4Addr,
        file: String,
    },
    TftpData {
        lease: Lease,
        server: Ipv4Addr,
        server_port: u16,
        file: String,
        next_block: u16,
        received: u64,
        blksize: u16,
        tsize: Option<u64>,
        retries: usize,
    },
    Done,
}

pub struct PxeClient {
    pub config: ClientConfig,
    stream: Stream,
    phase: Phase,
    outcome: Outcome,
    xid: u32,
    power_on_ns: u64,
    dhcp_cycles: u32,
    tftp_port: u16,
    /// Only the newest timer counts; older ones are stale when they fire.
    timer_generation: u64,
}

impl PxeClient {
    pub fn new(config: ClientConfig, stream: Stream) -> PxeClient {
        PxeClient {
            config,
            stream,
            phase: Phase::Off,
            outcome: Outcome::Pending,
            xid: 0,
            power_on_ns: 0,
            dhcp_cycles: 0,
            tftp_port: 0,
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
        self.tftp_port = 1024 + (self.stream.next_u64() % 64_000) as u16;
        cx.state(format!(
            "powered on ({:?}, {})",
            self.config.arch, self.config.mac
        ));
        self.begin_dhcp(cx);
    }

    fn begin_dhcp(&mut self, cx: &mut Cx) {
        self.dhcp_cycles += 1;
        self.phase = Phase::Discover {
            attempt: 0,
            dhcp: None,
            proxy: None,
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
            } => cx.state(format!(
                "booted: {file} ({bytes} bytes) {} after power-on",
                format_ns(time_ns - self.power_on_ns)
            )),
            Outcome::Failed { code, message, .. } => cx.state(format!("{code}: {message}")),
            Outcome::Pending => {}
        }
        self.outcome = outcome;
        self.phase = Phase::Done;
        self.timer_generation += 1; // cancels whatever is pending
    }

    fn fail(&mut self, cx: &mut Cx, code: &'static str, message: &str) {
        self.finish(
            cx,
            Outcome::Failed {
                time_ns: cx.now_ns(),
                code,
                message: message.to_string(),
            },
        );
    }

    pub(crate) fn on_timer(&mut self, cx: &mut Cx, token: u64) {
        if token != self.timer_generation {
            return;
        }
        match std::mem::replace(&mut self.phase, Phase::Off) {
            Phase::Discover {
                attempt,
                dhcp,
                proxy,
            } => {
                let next = attempt + 1;
                match (dhcp, proxy) {
                    (Some(offer), proxy) if proxy.is_some() || next >= DISCOVER_RETRIES_FOR_PXE => {
                        self.request(cx, offer, proxy, 0)
                    }
                    (dhcp, proxy) if next < DISCOVER_TIMEOUTS_S.len() => {
                        self.phase = Phase::Discover {
                            attempt: next,
                            dhcp,
                            proxy,
                        };
                        self.send_discover(cx, next);
                    }
                    _ => self.fail(cx, "PXE-E51", "No DHCP or proxyDHCP offers were received"),
                }
            }
            Phase::Request {
                attempt,
                offer,
                proxy,
            } => {
                if attempt + 1 < REQUEST_TIMEOUTS_S.len() {
                    self.request(cx, offer, proxy, attempt + 1);
                } else if self.dhcp_cycles < DHCP_CYCLES_MAX {
                    self.begin_dhcp(cx);
                } else {
                    self.fail(cx, "PXE-E51", "No DHCP or proxyDHCP offers were received");
                }
            }
            Phase::BootServer {
                attempt,
                lease,
                server,
            } => {
                if attempt + 1 < REQUEST_TIMEOUTS_S.len() {
                    self.boot_server_request(cx, lease, server, attempt + 1);
                } else {
                    self.fail(
                        cx,
                        "PXE-E55",
                        "ProxyDHCP service did not reply to request on port 4011",
                    );
                }
            }
            Phase::TftpOpen {
                attempt,
                lease,
                server,
                file,
            } => {
                if attempt + 1 < REQUEST_TIMEOUTS_S.len() {
                    self.tftp_open(cx, lease, server, file, attempt + 1);
                } else {
                    self.fail(cx, "PXE-E32", "TFTP open timeout");
                }
            }
            Phase::TftpData {
                lease,
                server,
                server_port,
                file,
                next_block,
                received,
                blksize,
                tsize,
                retries,
            } => {
                if retries + 1 < REQUEST_TIMEOUTS_S.len() {
                    // Re-acknowledge the last block we have; the server resends the next one.
                    self.send_tftp(
                        cx,
                        lease,
                        server,
                        server_port,
                        &tftp::Repr::Ack {
                            block: next_block.wrapping_sub(1),
                        },
                    );
                    self.phase = Phase::TftpData {
                        lease,
                        server,
                        server_port,
                        file,
                        next_block,
                        received,
                        blksize,
                        tsize,
                        retries: retries + 1,
                    };
                    self.arm(cx, REQUEST_TIMEOUTS_S[retries + 1] * SECOND_NS);
                } else {
                    self.fail(cx, "PXE-E35", "TFTP read timeout");
                }
            }
            phase @ (Phase::Off | Phase::Done) => self.phase = phase,
        }
    }

    fn pxe_options(&self, message: &mut Message) {
        let options = message.opts_mut();
        options.insert(DhcpOption::MaxMessageSize(1260));
        options.insert(DhcpOption::ClassIdentifier(
            format!("PXEClient:Arch:{:05}:UNDI:002001", self.config.arch.code()).into_bytes(),
        ));
        options.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(
            self.config.arch.code(),
        )));
        options.insert(DhcpOption::ClientNetworkInterface(1, 2, 1));
        let mut guid = vec![0u8];
        guid.extend_from_slice(&self.config.guid);
        options.insert(DhcpOption::ClientMachineIdentifier(guid));
        options.insert(DhcpOption::ParameterRequestList(
            [
                1u8, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51,
                54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135,
            ]
            .into_iter()
            .map(OptionCode::from)
            .collect(),
        ));
    }

    fn message(&self, cx: &Cx, kind: MessageType, ciaddr: Ipv4Addr) -> Message {
        let mut message = Message::new_with_id(
            self.xid,
            ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &self.config.mac.0,
        );
        message.set_opcode(Opcode::BootRequest);
        let secs = (cx.now_ns() - self.power_on_ns) / SECOND_NS;
        message.set_secs(secs.min(u64::from(u16::MAX)) as u16);
        message.set_flags(Flags::default().set_broadcast());
        message.opts_mut().insert(DhcpOption::MessageType(kind));
        self.pxe_options(&mut message);
        message
    }

    fn broadcast(&self, cx: &mut Cx, message: &Message) {
        let payload = message.to_vec().expect("a message we built encodes");
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
        let message = self.message(cx, MessageType::Discover, Ipv4Addr::UNSPECIFIED);
        cx.state(format!(
            "DHCPDISCOVER xid {:#010x} (attempt {})",
            self.xid,
            attempt + 1
        ));
        self.broadcast(cx, &message);
        self.arm(cx, DISCOVER_TIMEOUTS_S[attempt] * SECOND_NS);
    }

    fn request(&mut self, cx: &mut Cx, offer: Offer, proxy: Option<Offer>, attempt: usize) {
        let mut message = self.message(cx, MessageType::Request, Ipv4Addr::UNSPECIFIED);
        message
            .opts_mut()
            .insert(DhcpOption::RequestedIpAddress(offer.yiaddr));
        message
            .opts_mut()
            .insert(DhcpOption::ServerIdentifier(offer.server_id));
        cx.state(format!(
            "DHCPREQUEST {} from {} (attempt {})",
            offer.yiaddr,
            offer.server_id,
            attempt + 1
        ));
        self.broadcast(cx, &message);
        self.phase = Phase::Request {
            attempt,
            offer,
            proxy,
        };
        self.arm(cx, REQUEST_TIMEOUTS_S[attempt] * SECOND_NS);
    }

    fn boot_server_request(&mut self, cx: &mut Cx, lease: Lease, server: Ipv4Addr, attempt: usize) {
        let mut message = self.message(cx, MessageType::Request, lease.ip);
        message.set_flags(Flags::default());
        cx.state(format!(
            "boot server request to {server}:{PXE_BOOT_SERVER_PORT} (attempt {})",
            attempt + 1
        ));
        let payload = message.to_vec().expect("a message we built encodes");
        self.unicast(
            cx,
            lease,
            server,
            DHCP_CLIENT_PORT,
            PXE_BOOT_SERVER_PORT,
            &payload,
        );
        self.phase = Phase::BootServer {
            attempt,
            lease,
            server,
        };
        self.arm(cx, REQUEST_TIMEOUTS_S[attempt] * SECOND_NS);
    }

    fn tftp_open(
        &mut self,
        cx: &mut Cx,
        lease: Lease,
        server: Ipv4Addr,
        file: String,
        attempt: usize,
    ) {
        let blksize = self.config.tftp_blksize.to_string();
        let request = tftp::Repr::ReadRequest {
            filename: &file,
            mode: "octet",
            options: vec![("tsize", "0"), ("blksize", &blksize)],
        };
        cx.state(format!(
            "TFTP read request {file} from {server} (attempt {})",
            attempt + 1
        ));
        self.send_tftp(cx, lease, server, TFTP_PORT, &request);
        self.phase = Phase::TftpOpen {
            attempt,
            lease,
            server,
            file,
        };
        self.arm(cx, REQUEST_TIMEOUTS_S[attempt] * SECOND_NS);
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
            return cx.drop_frame("powered off", bytes);
        }
        let parsed = match frame::parse(bytes) {
            Ok(parsed) => parsed,
            Err(error) => return cx.drop_frame(format!("malformed frame: {error}"), bytes),
        };
        let (Some(ip), Some((udp, payload))) = (parsed.ipv4, parsed.udp) else {
            return cx.drop_frame("not UDP over IPv4", bytes);
        };
        if parsed.ethernet.dst_addr != self.config.mac
            && parsed.ethernet.dst_addr != EthernetAddress::BROADCAST
        {
            return cx.drop_frame("not addressed to this client", bytes);
        }
        if udp.dst_port == DHCP_CLIENT_PORT {
            self.on_dhcp(cx, ip.src_addr, udp.src_port, payload, bytes);
        } else if udp.dst_port == self.tftp_port && !ip.dst_addr.is_broadcast() {
            self.on_tftp(cx, ip.src_addr, udp.src_port, payload, bytes);
        } else {
            cx.drop_frame("no listener on this port", bytes);
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
            Err(error) => return cx.drop_frame(format!("malformed DHCP message: {error}"), bytes),
        };
        if message.opcode() != Opcode::BootReply
            || message.xid() != self.xid
            || message.chaddr().get(..6) != Some(&self.config.mac.0[..])
        {
            return cx.drop_frame("DHCP reply for another transaction", bytes);
        }
        let Some(kind) = message.opts().msg_type() else {
            return cx.drop_frame("DHCP reply without a message type", bytes);
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
            (Phase::Discover { dhcp, proxy, .. }, MessageType::Offer) => {
                let is_dhcp = !offer.yiaddr.is_unspecified();
                cx.state(format!(
                    "{} from {}{}",
                    if is_dhcp {
                        "DHCPOFFER"
                    } else {
                        "proxy DHCPOFFER"
                    },
                    offer.server_id,
                    if is_dhcp {
                        format!(" ({})", offer.yiaddr)
                    } else {
                        String::new()
                    }
                ));
                if is_dhcp && dhcp.is_none() {
                    *dhcp = Some(offer.clone());
                }
                if offer.pxe && proxy.is_none() {
                    *proxy = Some(offer);
                }
                // Real firmware proceeds once it has both an address and PXE boot information.
                if let (Some(dhcp), Some(proxy)) = (dhcp.clone(), proxy.clone()) {
                    self.request(cx, dhcp, Some(proxy), 0);
                }
            }
            (
                Phase::Request {
                    offer: chosen,
                    proxy,
                    ..
                },
                MessageType::Ack,
            ) if server_id == chosen.server_id => {
                let prefix_len = match options.get(OptionCode::SubnetMask) {
                    Some(DhcpOption::SubnetMask(mask)) => u32::from(*mask).leading_ones() as u8,
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
                cx.state(format!(
                    "DHCPACK: {}/{prefix_len} gateway {}",
                    lease.ip,
                    router.map_or("none".to_string(), |r| r.to_string())
                ));
                let proxy = proxy.clone();
                let ack_file = offer.file.clone();
                match (proxy, ack_file) {
                    (Some(proxy), _) if proxy.file.is_some() => {
                        let server = if proxy.siaddr.is_unspecified() {
                            proxy.server_id
                        } else {
                            proxy.siaddr
                        };
                        self.tftp_open(cx, lease, server, proxy.file.unwrap_or_default(), 0)
                    }
                    (Some(proxy), _) => self.boot_server_request(cx, lease, proxy.server_id, 0),
                    (None, Some(file)) => {
                        let server = if offer.siaddr.is_unspecified() {
                            server_id
                        } else {
                            offer.siaddr
                        };
                        self.tftp_open(cx, lease, server, file, 0)
                    }
                    (None, None) => self.fail(cx, "PXE-E53", "No boot filename received"),
                }
            }
            (Phase::Request { .. }, MessageType::Nak) => {
                cx.state(format!("DHCPNAK from {server_id}"));
                if self.dhcp_cycles < DHCP_CYCLES_MAX {
                    self.begin_dhcp(cx);
                } else {
                    self.fail(cx, "PXE-E51", "No DHCP or proxyDHCP offers were received");
                }
            }
            (Phase::BootServer { lease, server, .. }, MessageType::Ack)
                if src_port == PXE_BOOT_SERVER_PORT && src_ip == *server =>
            {
                let lease = *lease;
                let Some(file) = offer.file else {
                    return self.fail(cx, "PXE-E53", "No boot filename received");
                };
                let tftp_server = if offer.siaddr.is_unspecified() {
                    src_ip
                } else {
                    offer.siaddr
                };
                cx.state(format!("boot server ACK: {file} on {tftp_server}"));
                self.tftp_open(cx, lease, tftp_server, file, 0);
            }
            _ => cx.drop_frame(format!("unexpected {kind:?} in this phase"), bytes),
        }
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
            Err(error) => return cx.drop_frame(format!("malformed TFTP packet: {error}"), bytes),
        };
        match std::mem::replace(&mut self.phase, Phase::Off) {
            Phase::TftpOpen {
                lease,
                server,
                file,
                ..
            } if src_ip == server => {
                let blksize_default = tftp::BLKSIZE_DEFAULT as u16;
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
                        let tsize = value("tsize").and_then(|v| v.parse().ok());
                        cx.state(format!(
                            "TFTP OACK from port {src_port}: blksize {blksize}, tsize {}",
                            tsize.map_or("none".to_string(), |t: u64| t.to_string())
                        ));
                        self.send_tftp(cx, lease, server, src_port, &tftp::Repr::Ack { block: 0 });
                        self.phase = Phase::TftpData {
                            lease,
                            server,
                            server_port: src_port,
                            file,
                            next_block: 1,
                            received: 0,
                            blksize,
                            tsize,
                            retries: 0,
                        };
                        self.arm(cx, REQUEST_TIMEOUTS_S[0] * SECOND_NS);
                    }
                    tftp::Repr::Data { block: 1, .. } => {
                        self.phase = Phase::TftpData {
                            lease,
                            server,
                            server_port: src_port,
                            file,
                            next_block: 1,
                            received: 0,
                            blksize: blksize_default,
                            tsize: None,
                            retries: 0,
                        };
                        self.on_tftp_data(cx, repr);
                    }
                    tftp::Repr::Error { code, message } => {
                        let code_text = if code == 1 { "PXE-E3B" } else { "PXE-E36" };
                        self.fail(cx, code_text, &format!("TFTP error {code}: {message}"));
                    }
                    _ => {
                        self.phase = Phase::TftpOpen {
                            attempt: 0,
                            lease,
                            server,
                            file,
                        };
                        cx.drop_frame("unexpected TFTP packet while opening", bytes);
                    }
                }
            }
            phase @ Phase::TftpData { .. } => {
                let Phase::TftpData {
                    server,
                    server_port,
                    ..
                } = &phase
                else {
                    unreachable!()
                };
                if (src_ip, src_port) != (*server, *server_port) {
                    self.phase = phase;
                    return cx.drop_frame("TFTP packet from an unknown transfer", bytes);
                }
                self.phase = phase;
                match repr {
                    tftp::Repr::Data { .. } => self.on_tftp_data(cx, repr),
                    tftp::Repr::Error { code, message } => {
                        self.fail(cx, "PXE-E36", &format!("TFTP error {code}: {message}"))
                    }
                    _ => cx.drop_frame("unexpected TFTP packet during transfer", bytes),
                }
            }
            phase => {
                self.phase = phase;
                cx.drop_frame("TFTP packet outside a transfer", bytes);
            }
        }
    }

    fn on_tftp_data(&mut self, cx: &mut Cx, repr: tftp::Repr) {
        let tftp::Repr::Data { block, data } = repr else {
            return;
        };
        let Phase::TftpData {
            lease,
            server,
            server_port,
            next_block,
            received,
            blksize,
            tsize,
            retries,
            ..
        } = &mut self.phase
        else {
            return;
        };
        let (lease, server, server_port) = (*lease, *server, *server_port);
        if block != *next_block {
            // A retransmission of a block we already have: acknowledge it again (RFC 1350).
            let ack = tftp::Repr::Ack { block };
            return self.send_tftp(cx, lease, server, server_port, &ack);
        }
        *received += data.len() as u64;
        *next_block = next_block.wrapping_add(1);
        *retries = 0;
        let last = data.len() < usize::from(*blksize);
        let (received, tsize) = (*received, *tsize);
        self.send_tftp(cx, lease, server, server_port, &tftp::Repr::Ack { block });
        if !last {
            return self.arm(cx, REQUEST_TIMEOUTS_S[0] * SECOND_NS);
        }
        let Phase::TftpData { file, .. } = std::mem::replace(&mut self.phase, Phase::Done) else {
            unreachable!()
        };
        if tsize.is_some_and(|size| size != received) {
            return self.fail(
                cx,
                "PXE-E3F",
                &format!(
                    "TFTP transfer size {received} differs from tsize {}",
                    tsize.unwrap_or(0)
                ),
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
