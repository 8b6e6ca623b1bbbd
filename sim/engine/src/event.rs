//! What happened in a run, as types: a client's boot moving on, a redundancy group changing
//! state, a service's lifecycle, a LAN changed by the fault timeline, why a frame was dropped,
//! why a service crashed. Code that needs to know what happened matches on these; text is
//! rendered from them (`Display`) only where people read it. The digest covers their canonical
//! encoding (`Canonical`): identifiers, numbers, addresses and names, never prose, so rewording
//! a message changes no digest.

use std::fmt;
use std::net::Ipv4Addr;

use dhcproto::v4::MessageType;
use smoltcp::wire::EthernetAddress;

use crate::app::{CrashCause, Failure};
use crate::client::Arch;
use crate::firmware::Firmware;
use crate::redundancy::{Protocol, State};
use crate::world::LanConfig;

/// One step of a PXE client's boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    PoweredOn {
        arch: Arch,
        firmware: Firmware,
        mac: EthernetAddress,
    },
    /// DHCPDISCOVER number `attempt` (from 1).
    Discover {
        xid: u32,
        attempt: u32,
    },
    /// An offer taken into the offer cache: `yiaddr` is `None` for a proxyDHCP offer.
    Offer {
        server: Ipv4Addr,
        yiaddr: Option<Ipv4Addr>,
    },
    Request {
        yiaddr: Ipv4Addr,
        server: Ipv4Addr,
        attempt: u32,
    },
    Ack {
        ip: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
    },
    Nak {
        server: Ipv4Addr,
    },
    /// The client declined an ACK for `ip`, which is not the address it requested.
    Decline {
        server: Ipv4Addr,
        ip: Ipv4Addr,
        requested: Ipv4Addr,
    },
    /// The PXE boot-server request (port 4011) number `attempt`.
    BootServerRequest {
        server: Ipv4Addr,
        port: u16,
        xid: u32,
        attempt: u32,
    },
    BootServerAck {
        file: String,
        tftp_server: Ipv4Addr,
    },
    /// A TFTP read request (or, `probe`, the size request before it).
    TftpRequest {
        file: String,
        server: Ipv4Addr,
        probe: bool,
        attempt: u32,
    },
    TftpOptionAck {
        src_port: u16,
        blksize: u16,
        windowsize: u16,
        tsize: Option<u64>,
    },
    /// The boot file is loaded: `after_ns` since power-on.
    Booted {
        file: String,
        bytes: u64,
        after_ns: u64,
    },
    /// The firmware gave up: `code` is the error it shows, `message` its text, `then` what
    /// the machine does next.
    Failed {
        code: &'static str,
        message: String,
        then: &'static str,
    },
}

/// A redundancy group moved from one state to another, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedundancyChange {
    pub interface: String,
    pub protocol: Protocol,
    pub group: u16,
    pub from: State,
    pub to: State,
    pub cause: Cause,
}

/// Why a redundancy group changed state (RFC 2281 section 5, RFC 5798 section 6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    ConvergedAtStart,
    VirtualIpConfigured,
    AddressOwner,
    Startup,
    ShutDown,
    InterfaceDown,
    NoHelloWithinHoldTime,
    NoBetterStandby,
    NoActiveWithinHoldTime,
    ActiveHoldTimeExpired,
    Preempting,
    ActiveResigned,
    Coup,
    HigherPriorityActive,
    HigherPriorityStandby,
    StandbyLowerPriority,
    HigherPrioritySpeaking,
    MasterDownTimer,
    HigherPriorityMaster,
}

/// The Service Control Manager's view of a server's service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceEvent {
    /// The service is running (first start, restart, after a reboot).
    Running { service: String },
    /// The whole server rebooted.
    Rebooted,
}

/// What the fault timeline did to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultEvent {
    ShuttingDown,
    Crashed,
    Recovered,
    Link { interface: u32, up: bool },
}

/// A LAN's impairments changed (fault timeline).
#[derive(Clone, Debug, PartialEq)]
pub struct LanChanged {
    pub lan: String,
    pub config: LanConfig,
}

/// Why a service stopped being: its call failed, or it could not even be made anew.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Crash {
    Failed(Failure),
    /// A fresh instance could not be made (at a reboot or power-on: `restart` false; at the
    /// Service Control Manager's restart: true).
    NoInstance {
        restart: bool,
        message: String,
    },
}

/// The layer a malformed frame failed to parse at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Frame,
    Arp,
    Hsrp,
    Vrrp,
    Dhcp,
    Tftp,
}

/// Why a node, a port or a LAN threw a frame away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// It does not parse at `layer`; `detail` is the parser's word for people.
    Malformed {
        layer: Layer,
        detail: String,
    },
    // -- the world: links, nodes, LANs, ARP --
    NodeDown,
    LinkDown,
    InterfaceDown {
        interface: u32,
    },
    Lost {
        lan: String,
    },
    NoArpReply {
        address: Ipv4Addr,
    },
    ArpQueueFull {
        address: Ipv4Addr,
    },
    ArpNotForInterface,
    ArpForAnotherHost,
    // -- any host --
    NotIpv4,
    NotUdpIpv4,
    NotForRouter,
    NotForClient,
    NotForHost,
    // -- routers --
    NoVrrpGroup {
        vrid: u8,
    },
    NoHsrpGroup {
        group: u16,
    },
    BroadcastNotRelayed,
    NoRouterService,
    TtlExceeded,
    NoRoute {
        to: Ipv4Addr,
    },
    NoHelpers,
    HelpersFollowRedundancy {
        interface: String,
        protocol: Protocol,
        group: u16,
        state: State,
    },
    ReplyOnClientInterface,
    HopsLimit {
        hops: u8,
    },
    /// An ACK for another address than the client requested, which its firmware ignores.
    AckForAnotherAddress {
        yiaddr: Ipv4Addr,
    },
    /// An IPv4 packet larger than the MTU of the LAN it would enter (DF set: not fragmented).
    ExceedsMtu {
        size: u16,
        mtu: u16,
    },
    /// A client request whose `secs` is below the relay's threshold.
    SecsBelowMin {
        secs: u16,
        min: u16,
    },
    NotReencoded,
    RequestToRouter,
    ForeignGiaddr {
        giaddr: Ipv4Addr,
    },
    ReplyNotReencoded,
    ShortChaddr,
    // -- clients --
    PoweredOff,
    NoListener,
    OtherTransaction,
    NoMessageType,
    OfferCacheFull,
    UnexpectedDhcp {
        kind: MessageType,
    },
    TftpUnknownTransfer,
    TftpUnexpectedInTransfer,
    TftpOutsideTransfer,
    TftpUnexpectedWhileOpening,
    // -- servers --
    Firewall,
    ServiceNotRunning {
        service: String,
    },
}

/// The canonical encoding that the digest is made of: little-endian integers, length-prefixed
/// byte strings, one tag byte per variant. Free text (a parser's detail, a log line, a
/// firmware's message) is left out on purpose.
pub trait Canonical {
    fn encode(&self, out: &mut Encoder<'_>);
}

/// Writes a canonical encoding into a buffer, which the log then hashes in one piece.
pub struct Encoder<'a>(pub(crate) &'a mut Vec<u8>);

impl Encoder<'_> {
    pub fn u8(&mut self, value: u8) {
        self.0.push(value);
    }
    pub fn u16(&mut self, value: u16) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    pub fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    pub fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }
    pub fn str(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }
    pub fn ip(&mut self, ip: Ipv4Addr) {
        self.0.extend_from_slice(&ip.octets());
    }
    /// An optional value: tag 0 for none, tag 1 and the value for some.
    pub fn option<V>(&mut self, value: Option<V>, encode: impl FnOnce(&mut Self, V)) {
        match value {
            Some(value) => {
                self.u8(1);
                encode(self, value);
            }
            None => self.u8(0),
        }
    }
    pub fn option_ip(&mut self, ip: Option<Ipv4Addr>) {
        self.option(ip, |out, ip| out.ip(ip));
    }
    pub fn option_u64(&mut self, value: Option<u64>) {
        self.option(value, |out, value| out.u64(value));
    }
}

impl Canonical for ClientEvent {
    fn encode(&self, out: &mut Encoder<'_>) {
        match self {
            ClientEvent::PoweredOn {
                arch,
                firmware,
                mac,
            } => {
                out.u8(1);
                out.u16(arch.code());
                out.u8(*firmware as u8);
                out.bytes(mac.as_bytes());
            }
            ClientEvent::Discover { xid, attempt } => {
                out.u8(2);
                out.u32(*xid);
                out.u32(*attempt);
            }
            ClientEvent::Offer { server, yiaddr } => {
                out.u8(3);
                out.ip(*server);
                out.option_ip(*yiaddr);
            }
            ClientEvent::Request {
                yiaddr,
                server,
                attempt,
            } => {
                out.u8(4);
                out.ip(*yiaddr);
                out.ip(*server);
                out.u32(*attempt);
            }
            ClientEvent::Ack {
                ip,
                prefix_len,
                gateway,
            } => {
                out.u8(5);
                out.ip(*ip);
                out.u8(*prefix_len);
                out.option_ip(*gateway);
            }
            ClientEvent::Nak { server } => {
                out.u8(6);
                out.ip(*server);
            }
            ClientEvent::Decline {
                server,
                ip,
                requested,
            } => {
                out.u8(13);
                out.ip(*server);
                out.ip(*ip);
                out.ip(*requested);
            }
            ClientEvent::BootServerRequest {
                server,
                port,
                xid,
                attempt,
            } => {
                out.u8(7);
                out.ip(*server);
                out.u16(*port);
                out.u32(*xid);
                out.u32(*attempt);
            }
            ClientEvent::BootServerAck { file, tftp_server } => {
                out.u8(8);
                out.str(file);
                out.ip(*tftp_server);
            }
            ClientEvent::TftpRequest {
                file,
                server,
                probe,
                attempt,
            } => {
                out.u8(9);
                out.str(file);
                out.ip(*server);
                out.u8(*probe as u8);
                out.u32(*attempt);
            }
            ClientEvent::TftpOptionAck {
                src_port,
                blksize,
                windowsize,
                tsize,
            } => {
                out.u8(10);
                out.u16(*src_port);
                out.u16(*blksize);
                out.u16(*windowsize);
                out.option_u64(*tsize);
            }
            ClientEvent::Booted {
                file,
                bytes,
                after_ns,
            } => {
                out.u8(11);
                out.str(file);
                out.u64(*bytes);
                out.u64(*after_ns);
            }
            ClientEvent::Failed { code, .. } => {
                out.u8(12);
                out.str(code);
            }
        }
    }
}

impl Canonical for RedundancyChange {
    fn encode(&self, out: &mut Encoder<'_>) {
        out.str(&self.interface);
        out.u8(self.protocol as u8);
        out.u16(self.group);
        out.u8(self.from as u8);
        out.u8(self.to as u8);
        out.u8(self.cause as u8);
    }
}

impl Canonical for ServiceEvent {
    fn encode(&self, out: &mut Encoder<'_>) {
        match self {
            ServiceEvent::Running { service } => {
                out.u8(1);
                out.str(service);
            }
            ServiceEvent::Rebooted => out.u8(2),
        }
    }
}

impl Canonical for FaultEvent {
    fn encode(&self, out: &mut Encoder<'_>) {
        match self {
            FaultEvent::ShuttingDown => out.u8(1),
            FaultEvent::Crashed => out.u8(2),
            FaultEvent::Recovered => out.u8(3),
            FaultEvent::Link { interface, up } => {
                out.u8(4);
                out.u32(*interface);
                out.u8(*up as u8);
            }
        }
    }
}

impl Canonical for LanChanged {
    fn encode(&self, out: &mut Encoder<'_>) {
        // The impairments are typed distributions whose canonical text is their definition
        // (`uniform(10us, 60us)`), not prose.
        out.str(&self.lan);
        let config = &self.config;
        for text in [
            config.latency.to_string(),
            config.loss.to_string(),
            config.duplicate.to_string(),
            config.reorder.to_string(),
            config.reorder_delay.to_string(),
        ] {
            out.str(&text);
        }
    }
}

impl Canonical for Crash {
    fn encode(&self, out: &mut Encoder<'_>) {
        match self {
            Crash::Failed(Failure::Crashed(cause)) => {
                out.u8(1);
                cause.encode(out);
            }
            Crash::Failed(Failure::Refused(refusal)) => {
                out.u8(2);
                out.option(refusal.key.as_deref(), |out, key| out.str(key));
                out.option_u64(refusal.service_specific.map(u64::from));
            }
            Crash::NoInstance { restart, .. } => {
                out.u8(3);
                out.u8(*restart as u8);
            }
        }
    }
}

impl Canonical for CrashCause {
    fn encode(&self, out: &mut Encoder<'_>) {
        match self {
            CrashCause::OutOfFuel { fuel_per_call } => {
                out.u8(1);
                out.u64(*fuel_per_call);
            }
            CrashCause::MemoryLimit { bytes_max } => {
                out.u8(2);
                out.u64(*bytes_max);
            }
            CrashCause::StackOverflow => out.u8(3),
            CrashCause::Trap { code } => {
                out.u8(4);
                out.str(code);
            }
            CrashCause::Panic { trap, .. } => {
                out.u8(5);
                trap.encode(out);
            }
            CrashCause::LimitBroken { limit, max } => {
                out.u8(6);
                out.u8(*limit as u8);
                out.u64(*max);
            }
            CrashCause::Poisoned => out.u8(7),
            CrashCause::Host { .. } => out.u8(8),
        }
    }
}

impl Canonical for DropReason {
    fn encode(&self, out: &mut Encoder<'_>) {
        out.u8(self.tag());
        match self {
            DropReason::Malformed { layer, .. } => out.u8(*layer as u8),
            DropReason::InterfaceDown { interface } => out.u32(*interface),
            DropReason::Lost { lan } => out.str(lan),
            DropReason::NoArpReply { address }
            | DropReason::ArpQueueFull { address }
            | DropReason::NoRoute { to: address }
            | DropReason::ForeignGiaddr { giaddr: address }
            | DropReason::AckForAnotherAddress { yiaddr: address } => out.ip(*address),
            DropReason::NoVrrpGroup { vrid } => out.u8(*vrid),
            DropReason::NoHsrpGroup { group } => out.u16(*group),
            DropReason::HelpersFollowRedundancy {
                interface,
                protocol,
                group,
                state,
            } => {
                out.str(interface);
                out.u8(*protocol as u8);
                out.u16(*group);
                out.u8(*state as u8);
            }
            DropReason::HopsLimit { hops } => out.u8(*hops),
            DropReason::SecsBelowMin { secs, min } => {
                out.u16(*secs);
                out.u16(*min);
            }
            DropReason::ExceedsMtu { size, mtu } => {
                out.u16(*size);
                out.u16(*mtu);
            }
            DropReason::UnexpectedDhcp { kind } => out.u8(u8::from(*kind)),
            DropReason::ServiceNotRunning { service } => out.str(service),
            _ => {}
        }
    }
}

impl DropReason {
    /// The variant's number in the canonical encoding.
    fn tag(&self) -> u8 {
        use DropReason::*;
        match self {
            Malformed { .. } => 1,
            NodeDown => 2,
            LinkDown => 3,
            InterfaceDown { .. } => 4,
            Lost { .. } => 5,
            NoArpReply { .. } => 6,
            ArpQueueFull { .. } => 7,
            ArpNotForInterface => 8,
            ArpForAnotherHost => 9,
            NotIpv4 => 10,
            NotUdpIpv4 => 11,
            NotForRouter => 12,
            NotForClient => 13,
            NotForHost => 14,
            NoVrrpGroup { .. } => 15,
            NoHsrpGroup { .. } => 16,
            BroadcastNotRelayed => 17,
            NoRouterService => 18,
            TtlExceeded => 19,
            NoRoute { .. } => 20,
            NoHelpers => 21,
            HelpersFollowRedundancy { .. } => 22,
            ReplyOnClientInterface => 23,
            HopsLimit { .. } => 24,
            NotReencoded => 25,
            RequestToRouter => 26,
            ForeignGiaddr { .. } => 27,
            ReplyNotReencoded => 28,
            ShortChaddr => 29,
            PoweredOff => 30,
            NoListener => 31,
            OtherTransaction => 32,
            NoMessageType => 33,
            OfferCacheFull => 34,
            UnexpectedDhcp { .. } => 35,
            TftpUnknownTransfer => 36,
            TftpUnexpectedInTransfer => 37,
            TftpOutsideTransfer => 38,
            TftpUnexpectedWhileOpening => 39,
            Firewall => 40,
            ServiceNotRunning { .. } => 41,
            SecsBelowMin { .. } => 42,
            AckForAnotherAddress { .. } => 43,
            ExceedsMtu { .. } => 44,
        }
    }

    /// `Malformed` at `layer`, with the parser's error for people.
    pub fn malformed(layer: Layer, error: impl fmt::Display) -> DropReason {
        DropReason::Malformed {
            layer,
            detail: error.to_string(),
        }
    }
}

// ---- text, for people ----

impl fmt::Display for ClientEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientEvent::PoweredOn {
                arch,
                firmware,
                mac,
            } => write!(f, "powered on ({arch:?}, {firmware} firmware, {mac})"),
            ClientEvent::Discover { xid, attempt } => {
                write!(f, "DHCPDISCOVER xid {xid:#010x} (attempt {attempt})")
            }
            ClientEvent::Offer {
                server,
                yiaddr: Some(yiaddr),
            } => write!(f, "DHCPOFFER from {server} ({yiaddr})"),
            ClientEvent::Offer {
                server,
                yiaddr: None,
            } => write!(f, "proxy DHCPOFFER from {server}"),
            ClientEvent::Request {
                yiaddr,
                server,
                attempt,
            } => write!(f, "DHCPREQUEST {yiaddr} from {server} (attempt {attempt})"),
            ClientEvent::Ack {
                ip,
                prefix_len,
                gateway,
            } => match gateway {
                Some(gateway) => write!(f, "DHCPACK: {ip}/{prefix_len} gateway {gateway}"),
                None => write!(f, "DHCPACK: {ip}/{prefix_len} gateway none"),
            },
            ClientEvent::Nak { server } => write!(f, "DHCPNAK from {server}"),
            ClientEvent::Decline {
                server,
                ip,
                requested,
            } => write!(
                f,
                "DHCPDECLINE {ip} to {server}: the ACK is not for {requested}, the address requested"
            ),
            ClientEvent::BootServerRequest {
                server,
                port,
                xid,
                attempt,
            } => write!(
                f,
                "boot server request to {server}:{port} xid {xid:#010x} (attempt {attempt})"
            ),
            ClientEvent::BootServerAck { file, tftp_server } => {
                write!(f, "boot server ACK: {file} on {tftp_server}")
            }
            ClientEvent::TftpRequest {
                file,
                server,
                probe,
                attempt,
            } => write!(
                f,
                "TFTP {} {file} from {server} (attempt {attempt})",
                if *probe {
                    "size request"
                } else {
                    "read request"
                }
            ),
            ClientEvent::TftpOptionAck {
                src_port,
                blksize,
                windowsize,
                tsize,
            } => {
                write!(
                    f,
                    "TFTP OACK from port {src_port}: blksize {blksize}, windowsize {windowsize}, tsize "
                )?;
                match tsize {
                    Some(tsize) => write!(f, "{tsize}"),
                    None => f.write_str("none"),
                }
            }
            ClientEvent::Booted {
                file,
                bytes,
                after_ns,
            } => write!(
                f,
                "booted: {file} ({bytes} bytes) {} after power-on",
                timing::format_ns(*after_ns)
            ),
            ClientEvent::Failed {
                code,
                message,
                then,
            } => write!(f, "{code}: {message} (then {then})"),
        }
    }
}

impl fmt::Display for RedundancyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} group {}: {} -> {} ({})",
            self.interface, self.protocol, self.group, self.from, self.to, self.cause
        )
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::ConvergedAtStart => "converged at start",
            Cause::VirtualIpConfigured => "virtual IP configured",
            Cause::AddressOwner => "address owner (priority 255)",
            Cause::Startup => "startup",
            Cause::ShutDown => "shut down",
            Cause::InterfaceDown => "interface down",
            Cause::NoHelloWithinHoldTime => "no hello heard within the hold time",
            Cause::NoBetterStandby => "no better standby heard",
            Cause::NoActiveWithinHoldTime => "no active router heard within the hold time",
            Cause::ActiveHoldTimeExpired => "active router's hold time expired",
            Cause::Preempting => "preempting a lower-priority active router",
            Cause::ActiveResigned => "the active router resigned",
            Cause::Coup => "coup by a higher-priority router",
            Cause::HigherPriorityActive => "a higher-priority router is active",
            Cause::HigherPriorityStandby => "a higher-priority router is standby",
            Cause::StandbyLowerPriority => "standby router has a lower priority",
            Cause::HigherPrioritySpeaking => "a higher-priority router is speaking",
            Cause::MasterDownTimer => "Master_Down_Timer fired",
            Cause::HigherPriorityMaster => "a higher-priority master advertised",
        })
    }
}

impl fmt::Display for ServiceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceEvent::Running { service } => write!(f, "service {service} running"),
            ServiceEvent::Rebooted => f.write_str("server rebooted"),
        }
    }
}

impl fmt::Display for FaultEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultEvent::ShuttingDown => f.write_str("shutting down (fault timeline)"),
            FaultEvent::Crashed => f.write_str("crashed (fault timeline)"),
            FaultEvent::Recovered => f.write_str("recovered (fault timeline): booting"),
            FaultEvent::Link { interface, up } => write!(
                f,
                "interface {interface} link {}",
                if *up { "up" } else { "down" }
            ),
        }
    }
}

impl fmt::Display for LanChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        write!(
            f,
            "LAN {} now: latency {}, loss {}, duplicate {}, reorder {} (delay {})",
            self.lan,
            config.latency,
            config.loss,
            config.duplicate,
            config.reorder,
            config.reorder_delay
        )
    }
}

impl fmt::Display for Crash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Crash::Failed(failure) => failure.fmt(f),
            Crash::NoInstance {
                restart: false,
                message,
            } => write!(f, "could not start the service: {message}"),
            Crash::NoInstance {
                restart: true,
                message,
            } => write!(f, "could not restart the service: {message}"),
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Frame => "frame",
            Layer::Arp => "ARP packet",
            Layer::Hsrp => "HSRP message",
            Layer::Vrrp => "VRRP advertisement",
            Layer::Dhcp => "DHCP message",
            Layer::Tftp => "TFTP packet",
        })
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DropReason::*;
        match self {
            Malformed { layer, detail } if detail.is_empty() => write!(f, "malformed {layer}"),
            Malformed { layer, detail } => write!(f, "malformed {layer}: {detail}"),
            NodeDown => f.write_str("node is down"),
            LinkDown => f.write_str("link is down"),
            InterfaceDown { interface } => write!(f, "interface {interface} link is down"),
            Lost { lan } => write!(f, "lost on LAN {lan}"),
            NoArpReply { address } => write!(f, "no ARP reply from {address}"),
            ArpQueueFull { address } => {
                write!(f, "ARP queue for {address} full; oldest frame dropped")
            }
            ArpNotForInterface => f.write_str("not addressed to this interface"),
            ArpForAnotherHost => f.write_str("ARP for another host"),
            NotIpv4 => f.write_str("not IPv4"),
            NotUdpIpv4 => f.write_str("not UDP over IPv4"),
            NotForRouter => f.write_str("not addressed to this router"),
            NotForClient => f.write_str("not addressed to this client"),
            NotForHost => f.write_str("not addressed to this host"),
            NoVrrpGroup { vrid } => write!(f, "no VRRP group {vrid} here"),
            NoHsrpGroup { group } => write!(f, "no HSRP group {group} here"),
            BroadcastNotRelayed => f.write_str("broadcast not relayed"),
            NoRouterService => f.write_str("no service on this router for the packet"),
            TtlExceeded => f.write_str("TTL exceeded"),
            NoRoute { to } => write!(f, "no route to {to}"),
            NoHelpers => f.write_str("broadcast on an interface without helpers"),
            HelpersFollowRedundancy {
                interface,
                protocol,
                group,
                state,
            } => write!(
                f,
                "helpers follow redundancy: {interface} {protocol} group {group} is {state}"
            ),
            ReplyOnClientInterface => f.write_str("BOOTREPLY broadcast on a client interface"),
            HopsLimit { hops } => write!(f, "hops {hops} reached the relay limit"),
            AckForAnotherAddress { yiaddr } => {
                write!(f, "DHCPACK for {yiaddr}, not the address requested")
            }
            SecsBelowMin { secs, min } => {
                write!(f, "secs {secs} below the relay's minimum of {min}")
            }
            ExceedsMtu { size, mtu } => {
                write!(
                    f,
                    "{size}-byte packet exceeds the LAN's MTU of {mtu} (DF set)"
                )
            }
            NotReencoded => f.write_str("DHCP message could not be re-encoded"),
            RequestToRouter => f.write_str("BOOTREQUEST addressed to the router"),
            ForeignGiaddr { giaddr } => write!(f, "BOOTREPLY for giaddr {giaddr}, not one of ours"),
            ReplyNotReencoded => f.write_str("BOOTREPLY could not be re-encoded"),
            ShortChaddr => f.write_str("BOOTREPLY with a short chaddr"),
            PoweredOff => f.write_str("powered off"),
            NoListener => f.write_str("no listener on this port"),
            OtherTransaction => f.write_str("DHCP reply for another transaction"),
            NoMessageType => f.write_str("DHCP reply without a message type"),
            OfferCacheFull => f.write_str("offer cache full"),
            UnexpectedDhcp { kind } => write!(f, "unexpected {kind:?} in this phase"),
            TftpUnknownTransfer => f.write_str("TFTP packet from an unknown transfer"),
            TftpUnexpectedInTransfer => f.write_str("unexpected TFTP packet during transfer"),
            TftpOutsideTransfer => f.write_str("TFTP packet outside a transfer"),
            TftpUnexpectedWhileOpening => f.write_str("unexpected TFTP packet while opening"),
            Firewall => f.write_str("blocked by the host firewall"),
            ServiceNotRunning { service } => write!(f, "service {service} is not running"),
        }
    }
}
