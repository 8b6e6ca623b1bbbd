//! `pxelab calibrate`: each relay's `relay_delay` measured from a capture of a real network, so
//! a topology races the way the network it describes does.
//!
//! A capture taken where the relayed requests arrive (tcpdump on the boot server) holds the
//! relayed copies of each client request: same request (`decode::RequestKey`), another giaddr.
//! Each giaddr names a router of the topology (the one with an interface at that address). With
//! the client LAN captured too, every copy is timed from the client's own broadcast, so each
//! relay's latency is measured directly and fitted as a lognormal by maximum likelihood on the
//! logs. With only the server side, the gaps between the copies are all there is: the two
//! relays' lognormals are searched by simulating the topology with candidate delays over fixed
//! seeds until the simulated gaps look like the captured ones, a fit that is less certain.
//!
//! Everything here is typed; nothing prints. `render` and `paste_text` make the text the command
//! line shows, and `calibrated_topology` the edited YAML it writes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use engine::decode::{self, Copies, RequestKey};
use engine::log::NodeId;
use engine::{App, AppContext, Effect, Failure, Input, Kind, Stream};
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, PcapError};
use serde::Serialize;
use timing::{Distribution, format_ns};
use topology::{Plan, ServiceError, ServiceFactory};

use crate::Spread;

/// The largest capture read: it is read whole into memory.
pub const CAPTURE_BYTES_MAX: u64 = 1 << 30;
/// Latencies a relay needs before its lognormal is fitted from them; below this for any relay,
/// the fit falls back to the gaps.
pub const LATENCY_SAMPLES_MIN: usize = 20;
/// Simulated gaps one candidate of a gap-only fit is judged on (at least, and per observed
/// gap), and the most seeds it may take to get them.
const SIMULATED_GAPS_MIN: usize = 1500;
const SIMULATED_GAPS_PER_OBSERVED: usize = 4;
const GAP_SEEDS_MAX: u64 = 200;
/// Nelder-Mead evaluations after the coarse grid of a gap-only fit.
const REFINE_EVALUATIONS_MAX: usize = 100;
/// Candidates whose loss is within this factor of the best are the fit's plausible range.
const PLAUSIBLE_LOSS_FACTOR: f64 = 2.0;
/// The probabilities of the Q-Q tables, with the standard normal quantile of each.
const QQ: [(f64, f64); 9] = [
    (0.01, -2.326_347_874),
    (0.05, -1.644_853_627),
    (0.10, -1.281_551_566),
    (0.25, -0.674_489_750),
    (0.50, 0.0),
    (0.75, 0.674_489_750),
    (0.90, 1.281_551_566),
    (0.95, 1.644_853_627),
    (0.99, 2.326_347_874),
];
/// How far above the median a gap-only fit puts `max`, in sigmas: with no latency observed,
/// the data give no largest value; 4 sigma leaves 3 draws in 100,000 clamped.
const GAP_ONLY_MAX_SIGMAS: f64 = 4.0;

// ---- errors ----

/// Why a capture gives no calibration. Every variant names the capture file, and the frame
/// (numbered from 1, as Wireshark numbers them) where there is one.
#[derive(Debug)]
pub enum CalibrateError {
    Read {
        file: String,
        error: std::io::Error,
    },
    TooLarge {
        file: String,
        bytes: u64,
    },
    /// Neither a pcap nor a pcapng file.
    NotACapture {
        file: String,
        reason: String,
    },
    /// The file ends inside a record.
    Truncated {
        file: String,
        /// The last complete frame.
        after: u64,
    },
    Malformed {
        file: String,
        frame: u64,
        reason: String,
    },
    /// Frames of a link type other than Ethernet.
    LinkType {
        file: String,
        frame: u64,
        link_type: String,
        interface: Option<String>,
    },
    /// A pcapng simple packet block: no timestamp, nothing to time.
    NoTimestamp {
        file: String,
        frame: u64,
    },
    /// No DHCP request that a relay carried.
    NoRelayedDhcp {
        file: String,
        frames: u64,
        /// DHCP frames seen (a client LAN capture alone has only unrelayed ones).
        dhcp_frames: u64,
    },
    /// Relayed requests, but every one through a single relay.
    SingleCopies {
        file: String,
        requests: u64,
        relays: Vec<String>,
        first_frame: u64,
    },
    /// A relayed copy whose giaddr is no router interface of the topology.
    UnknownGiaddr {
        file: String,
        frame: u64,
        giaddr: Ipv4Addr,
        topology: String,
        routers: Vec<(String, Vec<Ipv4Addr>)>,
    },
    /// A relayed copy timestamped before the client's broadcast it copies.
    ClockOffset {
        file: String,
        frame: u64,
        client_frame: u64,
        early_ns: u64,
    },
    /// A gap-only fit needs exactly two relays.
    GapOnlyRelays {
        file: String,
        relays: Vec<String>,
    },
    /// The topology, simulated, relays no request twice: its gaps cannot be matched.
    NoSimulatedCopies {
        topology: String,
    },
    /// Building a simulated world failed.
    Topology(topology::Error),
    /// Internal: the calibrated topology does not validate or does not carry the fit.
    Calibrated(String),
}

impl CalibrateError {
    /// pxelab's fault, not the input's.
    pub fn is_internal(&self) -> bool {
        matches!(self, CalibrateError::Calibrated(_))
    }
}

const CAPTURE_HINT: &str = "capture on the boot server's own interface, e.g. `tcpdump -i eth0 -w boot.pcap 'udp port 67 or udp port 68 or udp port 4011'`";

impl fmt::Display for CalibrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrateError::Read { file, error } => write!(f, "cannot read {file}: {error}"),
            CalibrateError::TooLarge { file, bytes } => write!(
                f,
                "{file}: {bytes} bytes is more than the {CAPTURE_BYTES_MAX} read at once; \
                 keep only DHCP (tcpdump -r {file} -w dhcp.pcap 'udp port 67 or udp port 68 or udp port 4011')"
            ),
            CalibrateError::NotACapture { file, reason } => write!(
                f,
                "{file} is not a pcap or pcapng capture ({reason}); {CAPTURE_HINT}"
            ),
            CalibrateError::Truncated { file, after } => write!(
                f,
                "{file}: cut short after frame {after}: the next record is incomplete (was the \
                 file copied while the capture was still writing it?)"
            ),
            CalibrateError::Malformed {
                file,
                frame,
                reason,
            } => write!(f, "{file}: frame {frame}: malformed record: {reason}"),
            CalibrateError::LinkType {
                file,
                frame,
                link_type,
                interface,
            } => {
                let on = interface
                    .as_ref()
                    .map_or(String::new(), |name| format!(" (interface {name})"));
                write!(
                    f,
                    "{file}: frame {frame}{on} has link type {link_type}, not Ethernet; capture \
                     on the Ethernet interface itself (`tcpdump -i eth0`, not `-i any`)"
                )
            }
            CalibrateError::NoTimestamp { file, frame } => write!(
                f,
                "{file}: frame {frame} is a simple packet block, which has no timestamp; \
                 nothing in it can be timed"
            ),
            CalibrateError::NoRelayedDhcp {
                file,
                frames,
                dhcp_frames,
            } => {
                write!(
                    f,
                    "{file}: none of its {frames} frames is a DHCP request a relay carried \
                     (giaddr set)"
                )?;
                if *dhcp_frames > 0 {
                    write!(
                        f,
                        "; its {dhcp_frames} DHCP frames were sent by the clients themselves, \
                         as a capture of the client LAN alone shows them"
                    )?;
                }
                write!(f, "; {CAPTURE_HINT}")
            }
            CalibrateError::SingleCopies {
                file,
                requests,
                relays,
                first_frame,
            } => write!(
                f,
                "{file}: each of its {requests} relayed requests (the first at frame \
                 {first_frame}) arrived through one relay only ({}): no duplicate to time; \
                 capture where both routers' copies arrive",
                relays.join(", ")
            ),
            CalibrateError::UnknownGiaddr {
                file,
                frame,
                giaddr,
                topology,
                routers,
            } => {
                let known: Vec<String> = routers
                    .iter()
                    .map(|(name, addresses)| {
                        let addresses: Vec<String> =
                            addresses.iter().map(Ipv4Addr::to_string).collect();
                        format!("{name} {}", addresses.join(" "))
                    })
                    .collect();
                write!(
                    f,
                    "{file}: frame {frame}: giaddr {giaddr} is the address of no router \
                     interface in {topology} ({}); give the topology of the network the capture \
                     was taken in",
                    if known.is_empty() {
                        "it has no routers".to_string()
                    } else {
                        known.join("; ")
                    }
                )
            }
            CalibrateError::ClockOffset {
                file,
                frame,
                client_frame,
                early_ns,
            } => write!(
                f,
                "{file}: frame {frame} is a relayed copy timestamped {} before the client's \
                 broadcast it copies (frame {client_frame}): the two sides were captured on \
                 clocks that disagree; capture both on one machine, or calibrate from the \
                 server side alone",
                format_ns(*early_ns)
            ),
            CalibrateError::GapOnlyRelays { file, relays } => write!(
                f,
                "{file}: with no client-side copies, the gaps between copies are all there is, \
                 and they fit two relays; this capture has {} ({}); capture the client LAN too",
                relays.len(),
                relays.join(", ")
            ),
            CalibrateError::NoSimulatedCopies { topology } => write!(
                f,
                "{topology}, simulated, never relays a request twice, so no relay timing \
                 reproduces the capture's gaps; give the topology of the captured network"
            ),
            CalibrateError::Topology(error) => f.write_str(&error.render()),
            CalibrateError::Calibrated(message) => {
                write!(f, "the calibrated topology is wrong: {message}")
            }
        }
    }
}

impl std::error::Error for CalibrateError {}

impl From<topology::Error> for CalibrateError {
    fn from(error: topology::Error) -> CalibrateError {
        CalibrateError::Topology(error)
    }
}

// ---- reading captures ----

/// One frame of a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// From 1, in file order, as Wireshark numbers frames.
    pub number: u64,
    pub time_ns: u64,
    pub bytes: Vec<u8>,
}

/// The DHCP frames of a capture (everything else is counted and dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    pub file: String,
    pub frames_total: u64,
    pub frames: Vec<Frame>,
}

impl Capture {
    fn push(&mut self, number: u64, time_ns: u64, bytes: &[u8]) {
        self.frames_total = number;
        if decode::class(bytes).is_dhcp() {
            self.frames.push(Frame {
                number,
                time_ns,
                bytes: bytes.to_vec(),
            });
        }
    }
}

/// Reads a pcap or pcapng file.
pub fn read_capture(path: &Path) -> Result<Capture, CalibrateError> {
    let file = path.display().to_string();
    let read = |error| CalibrateError::Read {
        file: file.clone(),
        error,
    };
    let bytes = std::fs::metadata(path).map_err(read)?.len();
    if bytes > CAPTURE_BYTES_MAX {
        return Err(CalibrateError::TooLarge { file, bytes });
    }
    let data = std::fs::read(path).map_err(read)?;
    parse_capture(&file, &data)
}

/// Parses capture bytes; `file` names them in errors.
pub fn parse_capture(file: &str, bytes: &[u8]) -> Result<Capture, CalibrateError> {
    const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
    let mut capture = Capture {
        file: file.to_string(),
        frames_total: 0,
        frames: Vec::new(),
    };
    match bytes.get(..4) {
        None => Err(CalibrateError::NotACapture {
            file: file.to_string(),
            reason: format!("{} bytes", bytes.len()),
        }),
        Some(magic) if magic == PCAPNG_MAGIC => {
            parse_pcapng(&mut capture, bytes)?;
            Ok(capture)
        }
        Some(_) => {
            parse_pcap(&mut capture, bytes)?;
            Ok(capture)
        }
    }
}

fn parse_pcap(capture: &mut Capture, bytes: &[u8]) -> Result<(), CalibrateError> {
    let file = capture.file.clone();
    let (mut rest, parser) = PcapParser::new(bytes).map_err(|error| match error {
        PcapError::IncompleteBuffer => CalibrateError::NotACapture {
            file: file.clone(),
            reason: "the file header is cut short".to_string(),
        },
        _ => CalibrateError::NotACapture {
            file: file.clone(),
            reason: "no pcap or pcapng magic number at the start".to_string(),
        },
    })?;
    let link = parser.header().datalink;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        if link != DataLink::ETHERNET {
            return Err(CalibrateError::LinkType {
                file,
                frame: number,
                link_type: format!("{link:?}"),
                interface: None,
            });
        }
        match parser.next_packet(rest) {
            Ok((remainder, packet)) => {
                rest = remainder;
                let time_ns = u64::try_from(packet.timestamp.as_nanos()).unwrap_or(u64::MAX);
                capture.push(number, time_ns, &packet.data);
            }
            Err(PcapError::IncompleteBuffer) => {
                return Err(CalibrateError::Truncated {
                    file,
                    after: number - 1,
                });
            }
            Err(error) => {
                return Err(CalibrateError::Malformed {
                    file,
                    frame: number,
                    reason: error.to_string(),
                });
            }
        }
    }
    Ok(())
}

fn parse_pcapng(capture: &mut Capture, bytes: &[u8]) -> Result<(), CalibrateError> {
    let file = capture.file.clone();
    let (mut rest, mut parser) = PcapNgParser::new(bytes).map_err(|error| match error {
        PcapError::IncompleteBuffer => CalibrateError::Truncated {
            file: file.clone(),
            after: 0,
        },
        error => CalibrateError::NotACapture {
            file: file.clone(),
            reason: format!("its section header does not read: {error}"),
        },
    })?;
    let mut number = 0;
    while !rest.is_empty() {
        let (remainder, block) = parser.next_block(rest).map_err(|error| match error {
            PcapError::IncompleteBuffer => CalibrateError::Truncated {
                file: file.clone(),
                after: number,
            },
            error => CalibrateError::Malformed {
                file: file.clone(),
                frame: number + 1,
                reason: error.to_string(),
            },
        })?;
        rest = remainder;
        let (interface_id, raw_time, data) = match &block {
            Block::EnhancedPacket(packet) => (packet.interface_id, packet.timestamp, &packet.data),
            Block::Packet(packet) => (
                u32::from(packet.interface_id),
                std::time::Duration::from_nanos(packet.timestamp),
                &packet.data,
            ),
            Block::SimplePacket(_) => {
                return Err(CalibrateError::NoTimestamp {
                    file,
                    frame: number + 1,
                });
            }
            _ => continue,
        };
        number += 1;
        let malformed = |reason: String| CalibrateError::Malformed {
            file: file.clone(),
            frame: number,
            reason,
        };
        let interface = parser
            .interfaces()
            .get(interface_id as usize)
            .ok_or_else(|| {
                malformed(format!(
                    "it names interface {interface_id}, which the file does not describe"
                ))
            })?;
        if interface.linktype != DataLink::ETHERNET {
            return Err(CalibrateError::LinkType {
                file,
                frame: number,
                link_type: format!("{:?}", interface.linktype),
                interface: interface_name(interface),
            });
        }
        // pcap-file hands the raw timestamp over as if it counted nanoseconds; it counts units
        // of the interface's `if_tsresol`.
        let raw = u64::try_from(raw_time.as_nanos()).unwrap_or(u64::MAX);
        let time_ns = timestamp_ns(raw, interface).ok_or_else(|| {
            malformed("its timestamp is out of range for its interface's resolution".to_string())
        })?;
        capture.push(number, time_ns, data);
    }
    Ok(())
}

fn interface_name(interface: &InterfaceDescriptionBlock) -> Option<String> {
    interface.options.iter().find_map(|option| match option {
        InterfaceDescriptionOption::IfName(name) => Some(name.to_string()),
        _ => None,
    })
}

/// A pcapng timestamp in nanoseconds: `raw` units of 10^-r s (2^-r with the top bit of
/// `if_tsresol` set; microseconds without the option), plus `if_tsoffset` seconds.
fn timestamp_ns(raw: u64, interface: &InterfaceDescriptionBlock) -> Option<u64> {
    let mut resolution = 6u8;
    let mut offset_s = 0u64;
    for option in &interface.options {
        match option {
            InterfaceDescriptionOption::IfTsResol(value) => resolution = *value,
            InterfaceDescriptionOption::IfTsOffset(value) => offset_s = *value,
            _ => {}
        }
    }
    let units_per_s: u128 = if resolution & 0x80 == 0 {
        10u128.checked_pow(u32::from(resolution))?
    } else {
        1u128.checked_shl(u32::from(resolution & 0x7f))?
    };
    let ns = u128::from(raw) * 1_000_000_000 / units_per_s + u128::from(offset_s) * 1_000_000_000;
    u64::try_from(ns).ok()
}

// ---- what the capture shows ----

/// Two copies of one request: the gap between them and which relay came first.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GapSample {
    first: usize,
    second: usize,
    gap_ns: u64,
}

/// A router of the topology as the capture sees it.
struct Routers {
    names: Vec<String>,
    /// Interface address -> router index.
    by_address: BTreeMap<Ipv4Addr, usize>,
}

impl Routers {
    fn of(plan: &Plan) -> Routers {
        let mut names = Vec::new();
        let mut by_address = BTreeMap::new();
        for (index, router) in plan.routers().enumerate() {
            names.push(router.name.clone());
            for interface in &router.interfaces {
                by_address.insert(interface.ip, index);
            }
        }
        Routers { names, by_address }
    }

    fn listing(&self, plan: &Plan) -> Vec<(String, Vec<Ipv4Addr>)> {
        plan.routers()
            .map(|router| {
                let addresses = router.interfaces.iter().map(|i| i.ip).collect();
                (router.name.clone(), addresses)
            })
            .collect()
    }
}

/// What the frames of a capture (or a simulated run) show about relays.
#[derive(Default)]
struct Observed {
    /// Distinct requests a relay carried, and the frame of the first.
    relayed: BTreeMap<RequestKey, u64>,
    gaps: Vec<GapSample>,
    /// Relays seen, by router index.
    relays: BTreeMap<usize, u64>,
    /// The first arrival of each request through each relay: (time, frame).
    arrivals: BTreeMap<(RequestKey, usize), (u64, u64)>,
    /// A client's own broadcast of each request (giaddr 0): (time, frame).
    broadcasts: BTreeMap<RequestKey, (u64, u64)>,
}

/// The relayed copies among `frames`: `Copies` per destination address (a capture on the
/// server LAN sees the copies to every helper; one request counts once, with the gap at the
/// destination where its second copy came first).
fn observe<B: AsRef<[u8]>>(
    frames: impl Iterator<Item = (u64, u64, B)>,
    routers: &Routers,
    unknown: &mut dyn FnMut(u64, Ipv4Addr) -> CalibrateError,
) -> Result<Observed, CalibrateError> {
    let mut observed = Observed::default();
    let mut copies = Copies::default();
    let mut destinations: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
    let mut gapped: BTreeSet<RequestKey> = BTreeSet::new();
    for (number, time_ns, bytes) in frames {
        let Some(request) = decode::request(bytes.as_ref()) else {
            continue;
        };
        if request.giaddr.is_unspecified() {
            observed
                .broadcasts
                .entry(request.key)
                .or_insert((time_ns, number));
            continue;
        }
        let Some(&router) = routers.by_address.get(&request.giaddr) else {
            return Err(unknown(number, request.giaddr));
        };
        observed
            .relayed
            .entry(request.key.clone())
            .or_insert(number);
        *observed.relays.entry(router).or_default() += 1;
        observed
            .arrivals
            .entry((request.key.clone(), router))
            .or_insert((time_ns, number));
        let next = destinations.len();
        let node = *destinations.entry(request.dst).or_insert(next);
        let Some(copy) = copies.receive(NodeId::from_index(node), time_ns, bytes.as_ref()) else {
            continue;
        };
        if copy.count != 2 || !gapped.insert(copy.key) {
            continue;
        }
        let first = routers.by_address[&copy.first_giaddr];
        observed.gaps.push(GapSample {
            first,
            second: router,
            gap_ns: time_ns.saturating_sub(copy.first_ns),
        });
    }
    Ok(observed)
}

/// Each relay's latencies: from the client's broadcast to the relay's first copy.
fn latencies(file: &str, observed: &Observed) -> Result<BTreeMap<usize, Vec<u64>>, CalibrateError> {
    let mut latencies: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for ((key, router), &(time_ns, frame)) in &observed.arrivals {
        let Some(&(sent_ns, client_frame)) = observed.broadcasts.get(key) else {
            continue;
        };
        if time_ns < sent_ns {
            return Err(CalibrateError::ClockOffset {
                file: file.to_string(),
                frame,
                client_frame,
                early_ns: sent_ns - time_ns,
            });
        }
        latencies
            .entry(*router)
            .or_default()
            .push(time_ns - sent_ns);
    }
    Ok(latencies)
}

// ---- server response times ----

/// How long a server took to answer one kind of request, from the request's arrival on the
/// capture to the server's reply.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResponseTimes {
    /// The server's node name, or its address when the topology has no server there.
    pub server: String,
    pub address: Ipv4Addr,
    pub port: u16,
    pub request: String,
    pub reply: String,
    pub spread: Spread,
}

/// What pairs a reply with the request it answers: the server, xid, chaddr and where the reply
/// goes (the relay's giaddr, or the client that asked directly).
type Exchange = (Ipv4Addr, u32, Vec<u8>, Ipv4Addr);

fn response_times(frames: &[Frame], plan: &Plan) -> Vec<ResponseTimes> {
    let servers: BTreeMap<Ipv4Addr, String> = plan
        .servers()
        .map(|server| (server.config.ip, server.config.name.clone()))
        .collect();
    // The latest request of each exchange: (time, message type, port).
    let mut pending: BTreeMap<Exchange, (u64, u8, u16)> = BTreeMap::new();
    let mut times: BTreeMap<(Ipv4Addr, u16, u8, u8), Vec<u64>> = BTreeMap::new();
    for frame in frames {
        if let Some(request) = decode::request(&frame.bytes) {
            let peer = if request.giaddr.is_unspecified() {
                request.src
            } else {
                request.giaddr
            };
            let key = request.key;
            pending.insert(
                (request.dst, key.xid, key.chaddr, peer),
                (frame.time_ns, key.message_type, key.port),
            );
        } else if let Some(reply) = decode::reply(&frame.bytes)
            && let Some((asked_ns, request_type, port)) =
                pending.remove(&(reply.src, reply.xid, reply.chaddr, reply.dst))
        {
            times
                .entry((reply.src, port, request_type, reply.message_type))
                .or_default()
                .push(frame.time_ns.saturating_sub(asked_ns));
        }
    }
    times
        .into_iter()
        .filter_map(|((address, port, request, reply), values)| {
            Some(ResponseTimes {
                server: servers
                    .get(&address)
                    .cloned()
                    .unwrap_or_else(|| address.to_string()),
                address,
                port,
                request: message_kind(request),
                reply: message_kind(reply),
                spread: Spread::of(values)?,
            })
        })
        .collect()
}

fn message_kind(message_type: u8) -> String {
    decode::message_kind((message_type != 0).then(|| dhcproto::v4::MessageType::from(message_type)))
}

// ---- lognormal fits ----

/// A lognormal by maximum likelihood on the logs of a sample: the median is the exponential of
/// their mean, sigma their standard deviation (divided by n, as the likelihood has it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LogNormalFit {
    pub median_ns: f64,
    pub sigma: f64,
}

impl LogNormalFit {
    /// The fitted distribution's quantile at the standard normal quantile `z`.
    pub fn quantile_ns(&self, z: f64) -> f64 {
        self.median_ns * libm::exp(self.sigma * z)
    }

    /// The fitted distribution's CDF at `value_ns`.
    pub fn cdf(&self, value_ns: f64) -> f64 {
        if value_ns <= 0.0 {
            return 0.0;
        }
        let standard = libm::log(value_ns / self.median_ns);
        if self.sigma == 0.0 {
            return if standard < 0.0 { 0.0 } else { 1.0 };
        }
        0.5 * libm::erfc(-standard / (self.sigma * std::f64::consts::SQRT_2))
    }
}

/// `None` for an empty sample. A zero is taken as 1 ns (a log needs a positive value).
pub fn fit_lognormal(samples_ns: &[u64]) -> Option<LogNormalFit> {
    if samples_ns.is_empty() {
        return None;
    }
    let logs: Vec<f64> = samples_ns
        .iter()
        .map(|&value| libm::log(value.max(1) as f64))
        .collect();
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let variance = logs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    Some(LogNormalFit {
        median_ns: libm::exp(mean),
        sigma: libm::sqrt(variance),
    })
}

/// The Kolmogorov-Smirnov statistic of a sample against a fitted lognormal: the largest
/// distance between the sample's step CDF and the fit's.
pub fn ks_statistic(samples_ns: &[u64], fit: &LogNormalFit) -> f64 {
    let mut sorted = samples_ns.to_vec();
    sorted.sort_unstable();
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &value)| {
            let cdf = fit.cdf(value.max(1) as f64);
            (((i + 1) as f64 / n) - cdf).max(cdf - i as f64 / n)
        })
        .fold(0.0, f64::max)
}

/// The two-sample Kolmogorov-Smirnov statistic: the largest distance between two step CDFs.
pub fn ks_two_sample(a: &[i64], b: &[i64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    let (mut i, mut j, mut distance) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let value = a[i].min(b[j]);
        while i < a.len() && a[i] == value {
            i += 1;
        }
        while j < b.len() && b[j] == value {
            j += 1;
        }
        distance = distance.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    distance
}

/// The 5% critical value of the KS statistic when the lognormal's two parameters come from
/// the same sample (Lilliefors' large-sample constant for the normal on the logs).
pub fn ks_bound_5_percent(samples: usize) -> f64 {
    0.886 / libm::sqrt(samples.max(1) as f64)
}

/// The nearest-rank `p` quantile of a sorted sample.
fn rank<T: Copy>(sorted: &[T], p: f64) -> T {
    let index = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// One row of a Q-Q table: the sample's quantile and the fit's at probability `p`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct QqRow {
    pub p: f64,
    pub observed_ns: i64,
    pub fitted_ns: i64,
}

// ---- the YAML of a fitted distribution ----

/// `value_ns` as the topology format writes durations (`203us`, `1.25ms`), with `digits`
/// significant digits, rounded to nearest or up.
pub fn duration_text(value_ns: f64, digits: u32, up: bool) -> String {
    const UNITS: [(f64, &str); 4] = [(1e9, "s"), (1e6, "ms"), (1e3, "us"), (1.0, "ns")];
    let value_ns = value_ns.max(1.0);
    let (unit_ns, unit) = UNITS
        .iter()
        .copied()
        .find(|(unit_ns, _)| value_ns >= *unit_ns)
        .unwrap_or((1.0, "ns"));
    let value = value_ns / unit_ns;
    let integer_digits = (libm::floor(libm::log10(value)) as i32 + 1).max(1) as u32;
    let decimals = if unit == "ns" {
        0
    } else {
        digits.saturating_sub(integer_digits)
    };
    // Units of the last digit kept: 10^-decimals, or 10^k when fewer digits than the integer
    // part has are kept (987 to 2 digits counts tens).
    let quantum = libm::pow(10.0, f64::from(integer_digits) - f64::from(digits)).max(1.0);
    let scale = 10u64.pow(decimals);
    let scaled = value * scale as f64 / quantum;
    let scaled = if up {
        libm::ceil(scaled - 1e-9)
    } else {
        libm::round(scaled)
    } as u64
        * quantum as u64;
    let whole = scaled / scale;
    if whole >= 1000 && unit != "s" {
        return duration_text(scaled as f64 / scale as f64 * unit_ns, digits, up);
    }
    let mut text = whole.to_string();
    let fraction = scaled % scale;
    if fraction > 0 {
        let digits = format!("{fraction:0width$}", width = decimals as usize);
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push_str(unit);
    text
}

/// The `relay_delay` text of a fit: the median to 3 significant digits, sigma to 2 decimals,
/// `max` rounded up to 2 significant digits.
fn relay_delay_text(fit: &LogNormalFit, max_ns: f64) -> String {
    format!(
        "lognormal(median={}, sigma={:.2}, max={})",
        duration_text(fit.median_ns, 3, false),
        fit.sigma,
        duration_text(max_ns.max(fit.median_ns), 2, true)
    )
}

/// A candidate's `relay_delay` as the search simulates it: every digit kept.
fn exact_relay_delay_text(fit: &LogNormalFit) -> String {
    let max_ns = fit.quantile_ns(GAP_ONLY_MAX_SIGMAS);
    format!(
        "lognormal(median={}ns, sigma={:.6}, max={}ns)",
        libm::round(fit.median_ns).max(1.0),
        fit.sigma,
        libm::ceil(max_ns).max(1.0)
    )
}

// ---- the calibration ----

/// How the relays were fitted.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Method {
    /// From each relay's latency, the client's broadcast being in the capture too.
    ClientSide,
    /// From the gaps between copies alone, by simulating the topology (less certain).
    GapOnly(GapOnlyFit),
}

/// How a gap-only fit went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GapOnlyFit {
    /// Seeds `0..seeds` of the topology, simulated for every candidate.
    pub seeds: u64,
    /// Gaps the best candidate's simulation gave.
    pub simulated_gaps: u64,
    pub evaluations: u64,
    /// Mean squared difference of the observed and simulated gap quantiles (on an asinh scale).
    pub loss: f64,
    /// Two-sample KS statistic of the observed and the best candidate's simulated gaps.
    pub ks: f64,
    /// Signed gaps (second router minus first, in the topology's order): observed and
    /// simulated quantiles.
    pub qq: Vec<QqRow>,
    /// The range of each router's parameters over the candidates whose loss is within
    /// `PLAUSIBLE_LOSS_FACTOR` of the best.
    pub plausible: Vec<PlausibleRange>,
}

/// A router's parameters over the plausible candidates of a gap-only fit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlausibleRange {
    pub router: String,
    pub median_ns: (f64, f64),
    pub sigma: (f64, f64),
    pub candidates: u64,
}

/// The gaps between the two copies of each duplicated request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GapSummary {
    pub spread: Spread,
    /// How often each router's copy came first.
    pub first: Vec<(String, u64)>,
}

/// A relay's measured latency and its fit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyFit {
    pub spread: Spread,
    pub fit: LogNormalFit,
    pub ks: f64,
    /// The KS statistic's 5% critical value for this many samples.
    pub ks_bound: f64,
    pub qq: Vec<QqRow>,
}

/// One router's calibrated timing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouterFit {
    pub router: String,
    /// Relayed copies of the capture with this router's giaddr.
    pub copies: u64,
    /// The topology's `relay_delay` before.
    pub was: String,
    /// The fitted `relay_delay`, in the topology's syntax.
    pub relay_delay: String,
    pub fit: LogNormalFit,
    /// Client-side fits only.
    pub latency: Option<LatencyFit>,
}

/// What `pxelab calibrate` found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    pub capture: String,
    pub topology: String,
    pub frames: u64,
    pub dhcp_frames: u64,
    /// Distinct client requests a relay carried, those that arrived through two relays, and
    /// those whose client broadcast is in the capture too.
    pub relayed_requests: u64,
    pub duplicated_requests: u64,
    pub client_side_requests: u64,
    pub method: Method,
    pub gaps: GapSummary,
    pub routers: Vec<RouterFit>,
    /// Routers of the topology no copy came through: left as they are.
    pub unseen_routers: Vec<String>,
    pub responses: Vec<ResponseTimes>,
}

/// How `calibrate` runs its simulations.
#[derive(Clone, Copy, Debug)]
pub struct CalibrateOptions {
    /// Worker threads (at least 1); results do not depend on it.
    pub jobs: usize,
}

/// The relayed copies of `capture`, refused when there are none to time.
fn observe_capture(
    capture: &Capture,
    plan: &Plan,
    routers: &Routers,
) -> Result<Observed, CalibrateError> {
    let file = &capture.file;
    let observed = observe(
        capture
            .frames
            .iter()
            .map(|frame| (frame.number, frame.time_ns, frame.bytes.as_slice())),
        routers,
        &mut |frame, giaddr| CalibrateError::UnknownGiaddr {
            file: file.clone(),
            frame,
            giaddr,
            topology: plan.file.display().to_string(),
            routers: routers.listing(plan),
        },
    )?;
    if observed.relayed.is_empty() {
        return Err(CalibrateError::NoRelayedDhcp {
            file: file.clone(),
            frames: capture.frames_total,
            dhcp_frames: capture.frames.len() as u64,
        });
    }
    if observed.gaps.is_empty() {
        return Err(CalibrateError::SingleCopies {
            file: file.clone(),
            requests: observed.relayed.len() as u64,
            relays: relay_names(&observed, routers),
            first_frame: observed.relayed.values().copied().min().unwrap_or(0),
        });
    }
    Ok(observed)
}

fn relay_names(observed: &Observed, routers: &Routers) -> Vec<String> {
    observed
        .relays
        .keys()
        .map(|&index| routers.names[index].clone())
        .collect()
}

/// Calibrates the relays of `plan` from `capture`.
pub fn calibrate(
    capture: &Capture,
    plan: &Plan,
    options: CalibrateOptions,
) -> Result<Calibration, CalibrateError> {
    let file = &capture.file;
    let routers = Routers::of(plan);
    let observed = observe_capture(capture, plan, &routers)?;
    let latencies = latencies(file, &observed)?;
    let direct = observed.relays.keys().all(|router| {
        latencies
            .get(router)
            .is_some_and(|values| values.len() >= LATENCY_SAMPLES_MIN)
    });
    let was: Vec<String> = plan.routers().map(|r| r.relay_delay.to_string()).collect();
    let (method, routers_fit) = if direct {
        (
            Method::ClientSide,
            client_side_fits(&observed, &latencies, &routers, &was),
        )
    } else {
        let relays: Vec<usize> = observed.relays.keys().copied().collect();
        let [a, b] = relays[..] else {
            return Err(CalibrateError::GapOnlyRelays {
                file: file.clone(),
                relays: relay_names(&observed, &routers),
            });
        };
        gap_only_fit(plan, &observed, (a, b), &routers, &was, options)?
    };
    let seen: Vec<&str> = routers_fit.iter().map(|fit| fit.router.as_str()).collect();
    let unseen_routers = routers
        .names
        .iter()
        .filter(|name| !seen.contains(&name.as_str()))
        .cloned()
        .collect();
    let client_side_requests = observed
        .relayed
        .keys()
        .filter(|key| observed.broadcasts.contains_key(*key))
        .count() as u64;
    Ok(Calibration {
        capture: file.clone(),
        topology: plan.name.clone(),
        frames: capture.frames_total,
        dhcp_frames: capture.frames.len() as u64,
        relayed_requests: observed.relayed.len() as u64,
        duplicated_requests: observed.gaps.len() as u64,
        client_side_requests,
        method,
        gaps: gap_summary(&observed, &routers),
        routers: routers_fit,
        unseen_routers,
        responses: response_times(&capture.frames, plan),
    })
}

fn gap_summary(observed: &Observed, routers: &Routers) -> GapSummary {
    let mut first: BTreeMap<usize, u64> = BTreeMap::new();
    for router in observed.relays.keys() {
        first.insert(*router, 0);
    }
    for gap in &observed.gaps {
        *first.entry(gap.first).or_default() += 1;
    }
    GapSummary {
        spread: Spread::of(observed.gaps.iter().map(|gap| gap.gap_ns).collect())
            .expect("calibrate refuses a capture without gaps"),
        first: first
            .into_iter()
            .map(|(router, count)| (routers.names[router].clone(), count))
            .collect(),
    }
}

fn client_side_fits(
    observed: &Observed,
    latencies: &BTreeMap<usize, Vec<u64>>,
    routers: &Routers,
    was: &[String],
) -> Vec<RouterFit> {
    observed
        .relays
        .iter()
        .map(|(&router, &copies)| {
            let values = &latencies[&router];
            let fit = fit_lognormal(values).expect("at least LATENCY_SAMPLES_MIN latencies");
            let spread = Spread::of(values.clone()).expect("latencies are not empty");
            let relay_delay = relay_delay_text(&fit, spread.max_ns as f64);
            let rounded = rounded_fit(&relay_delay).unwrap_or(fit);
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let qq = QQ
                .iter()
                .map(|&(p, z)| QqRow {
                    p,
                    observed_ns: rank(&sorted, p) as i64,
                    fitted_ns: libm::round(rounded.quantile_ns(z)) as i64,
                })
                .collect();
            RouterFit {
                router: routers.names[router].clone(),
                copies,
                was: was[router].clone(),
                relay_delay,
                fit,
                latency: Some(LatencyFit {
                    spread,
                    fit,
                    ks: ks_statistic(values, &rounded),
                    ks_bound: ks_bound_5_percent(values.len()),
                    qq,
                }),
            }
        })
        .collect()
}

/// The median and sigma a `relay_delay` text carries (what the YAML will say, rounded).
fn rounded_fit(text: &str) -> Option<LogNormalFit> {
    match text.parse::<Distribution>().ok()?.shape {
        timing::Shape::LogNormal { median_ns, sigma } => Some(LogNormalFit { median_ns, sigma }),
        _ => None,
    }
}

// ---- gap-only fits: simulate candidates, compare gaps ----

/// A service that never answers: a gap is made before any server sees the request, so the
/// simulations of a gap-only fit need no plugin.
struct Silent;

impl App for Silent {
    fn handle(
        &mut self,
        _cx: &AppContext,
        _input: Input<'_>,
        _effects: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        Ok(())
    }

    fn reset(&mut self) -> Result<(), String> {
        Ok(())
    }
}

impl ServiceFactory for Silent {
    fn create(
        &self,
        _node: &str,
        _plugin: &str,
        _base_dir: &Path,
        _config: &[(String, String)],
        _files: &[topology::ServedFile],
        _stream: Stream,
    ) -> Result<Box<dyn App>, ServiceError> {
        Ok(Box::new(Silent))
    }
}

/// The signed gaps one seed of `plan` makes: second router minus first (`pair` in the
/// topology's order), read off the frames the run put on its LANs as a capture would be.
fn simulated_gaps(
    plan: &Plan,
    seed: u64,
    pair: (usize, usize),
) -> Result<Vec<i64>, CalibrateError> {
    let run = plan.builder(seed, &Silent, None)?.build().run();
    let routers = Routers::of(plan);
    let frames = run
        .log()
        .records()
        .iter()
        .enumerate()
        .filter_map(|(index, record)| match &record.kind {
            Kind::Send { frame, .. } => Some((index as u64 + 1, record.time_ns, frame.bytes())),
            _ => None,
        });
    // A simulated giaddr is always one of the plan's routers.
    let observed = observe(frames, &routers, &mut |_, giaddr| {
        CalibrateError::Calibrated(format!("a simulated relay used giaddr {giaddr}"))
    })?;
    Ok(signed_gaps(&observed.gaps, pair))
}

fn signed_gaps(gaps: &[GapSample], (a, b): (usize, usize)) -> Vec<i64> {
    gaps.iter()
        .filter_map(|gap| {
            let gap_ns = gap.gap_ns as i64;
            match (gap.first, gap.second) {
                (first, second) if first == a && second == b => Some(gap_ns),
                (first, second) if first == b && second == a => Some(-gap_ns),
                _ => None,
            }
        })
        .collect()
}

/// The plan with router `names[i]`'s `relay_delay` set to `texts[i]`.
fn with_relay_delays(
    plan: &Plan,
    delays: &[(&str, String)],
    name: Option<&str>,
    header: &str,
) -> Result<(String, Plan), CalibrateError> {
    let text = yaml::set_relay_delays(plan.source(), delays, name, header)
        .map_err(CalibrateError::Calibrated)?;
    let edited = topology::parse(&plan.file, &text)
        .map_err(|error| CalibrateError::Calibrated(error.render()))?;
    for (router, delay) in delays {
        let expected: Distribution = delay
            .parse()
            .map_err(|e| CalibrateError::Calibrated(format!("{delay}: {e}")))?;
        let got = edited
            .routers()
            .find(|r| r.name == *router)
            .map(|r| &r.relay_delay);
        if got != Some(&expected) {
            return Err(CalibrateError::Calibrated(format!(
                "router {router}'s relay_delay did not take the value {delay}"
            )));
        }
    }
    Ok((text, edited))
}

/// A point of the search: (ln median, sigma) of each of the two routers.
type Point = [f64; 4];

struct GapSearch<'a> {
    plan: &'a Plan,
    pair: (usize, usize),
    names: (&'a str, &'a str),
    seeds: u64,
    jobs: usize,
    /// Observed signed gaps, sorted, and the scale of the asinh transform.
    observed: Vec<i64>,
    scale_ns: f64,
    evaluated: Vec<(Point, f64)>,
}

impl GapSearch<'_> {
    fn fits(point: &Point) -> (LogNormalFit, LogNormalFit) {
        let fit = |ln_median: f64, sigma: f64| LogNormalFit {
            median_ns: libm::exp(ln_median),
            sigma,
        };
        (fit(point[0], point[1]), fit(point[2], point[3]))
    }

    /// Keeps a point inside sensible bounds: medians from 1 us to 10 s, sigma 0.02 to 2.5.
    fn clamp(point: Point) -> Point {
        let (ln_low, ln_high) = (libm::log(1e3), libm::log(1e10));
        [
            point[0].clamp(ln_low, ln_high),
            point[1].clamp(0.02, 2.5),
            point[2].clamp(ln_low, ln_high),
            point[3].clamp(0.02, 2.5),
        ]
    }

    /// The simulated signed gaps of a point over every seed, in seed order.
    fn simulate(&self, point: &Point) -> Result<Vec<i64>, CalibrateError> {
        let (a, b) = Self::fits(point);
        let delays = [
            (self.names.0, exact_relay_delay_text(&a)),
            (self.names.1, exact_relay_delay_text(&b)),
        ];
        let (_, plan) = with_relay_delays(self.plan, &delays, None, "")?;
        let seeds: Vec<u64> = (0..self.seeds).collect();
        let chunk = seeds.len().div_ceil(self.jobs.max(1)).max(1);
        let results: Vec<Result<Vec<i64>, CalibrateError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = seeds
                .chunks(chunk)
                .map(|chunk| {
                    let plan = &plan;
                    let pair = self.pair;
                    scope.spawn(move || -> Result<Vec<i64>, CalibrateError> {
                        let mut gaps = Vec::new();
                        for &seed in chunk {
                            gaps.extend(simulated_gaps(plan, seed, pair)?);
                        }
                        Ok(gaps)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a simulation thread does not panic"))
                .collect()
        });
        let mut gaps = Vec::new();
        for result in results {
            gaps.extend(result?);
        }
        Ok(gaps)
    }

    /// Mean squared difference of 25 quantiles of the observed and simulated gaps, each on
    /// asinh(gap / scale): linear near zero, logarithmic in the tails, signed.
    fn loss(&self, simulated: &mut [i64]) -> f64 {
        const QUANTILES: usize = 25;
        if simulated.is_empty() {
            return f64::INFINITY;
        }
        simulated.sort_unstable();
        let transform = |value: i64| libm::asinh(value as f64 / self.scale_ns);
        (0..QUANTILES)
            .map(|k| {
                let p = (k as f64 + 0.5) / QUANTILES as f64;
                let difference = transform(rank(&self.observed, p)) - transform(rank(simulated, p));
                difference * difference
            })
            .sum::<f64>()
            / QUANTILES as f64
    }

    fn evaluate(&mut self, point: Point) -> Result<f64, CalibrateError> {
        let point = Self::clamp(point);
        let mut simulated = self.simulate(&point)?;
        let loss = self.loss(&mut simulated);
        self.evaluated.push((point, loss));
        Ok(loss)
    }

    /// A coarse grid around the observed gaps' scale, then Nelder-Mead from its best point.
    fn run(&mut self) -> Result<(Point, f64), CalibrateError> {
        const MEDIAN_FACTORS: [f64; 3] = [0.5, 1.0, 2.0];
        const SIGMAS: [f64; 2] = [0.35, 0.8];
        let ln_scale = libm::log(self.scale_ns);
        let mut axis = Vec::new();
        for factor in MEDIAN_FACTORS {
            for sigma in SIGMAS {
                axis.push((ln_scale + libm::log(factor), sigma));
            }
        }
        let mut best = ([0.0; 4], f64::INFINITY);
        for &(ln_a, sigma_a) in &axis {
            for &(ln_b, sigma_b) in &axis {
                let point = [ln_a, sigma_a, ln_b, sigma_b];
                let loss = self.evaluate(point)?;
                if loss < best.1 {
                    best = (Self::clamp(point), loss);
                }
            }
        }
        self.nelder_mead(best.0)
    }

    fn nelder_mead(&mut self, start: Point) -> Result<(Point, f64), CalibrateError> {
        const STEPS: Point = [0.35, 0.15, 0.35, 0.15];
        let mut simplex: Vec<(Point, f64)> = Vec::with_capacity(5);
        let start_loss = self.evaluate(start)?;
        simplex.push((start, start_loss));
        for axis in 0..4 {
            let mut point = start;
            point[axis] += STEPS[axis];
            let point = Self::clamp(point);
            let loss = self.evaluate(point)?;
            simplex.push((point, loss));
        }
        let mut evaluations = 5;
        while evaluations < REFINE_EVALUATIONS_MAX {
            simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
            let (best, worst) = (simplex[0].1, simplex[4].1);
            if worst - best <= 1e-6 * best.max(1e-12) {
                break;
            }
            let mut centroid = [0.0; 4];
            for (point, _) in &simplex[..4] {
                for axis in 0..4 {
                    centroid[axis] += point[axis] / 4.0;
                }
            }
            let toward = |t: f64| -> Point {
                let mut point = [0.0; 4];
                for axis in 0..4 {
                    point[axis] = centroid[axis] + t * (simplex[4].0[axis] - centroid[axis]);
                }
                Self::clamp(point)
            };
            let reflected = toward(-1.0);
            let reflected_loss = self.evaluate(reflected)?;
            evaluations += 1;
            if reflected_loss < simplex[0].1 {
                let expanded = toward(-2.0);
                let expanded_loss = self.evaluate(expanded)?;
                evaluations += 1;
                simplex[4] = if expanded_loss < reflected_loss {
                    (expanded, expanded_loss)
                } else {
                    (reflected, reflected_loss)
                };
            } else if reflected_loss < simplex[3].1 {
                simplex[4] = (reflected, reflected_loss);
            } else {
                let contracted = toward(0.5);
                let contracted_loss = self.evaluate(contracted)?;
                evaluations += 1;
                if contracted_loss < simplex[4].1 {
                    simplex[4] = (contracted, contracted_loss);
                } else {
                    let best = simplex[0].0;
                    for vertex in simplex.iter_mut().skip(1) {
                        let mut point = [0.0; 4];
                        for axis in 0..4 {
                            point[axis] = best[axis] + 0.5 * (vertex.0[axis] - best[axis]);
                        }
                        let point = Self::clamp(point);
                        *vertex = (point, self.evaluate(point)?);
                        evaluations += 1;
                    }
                }
            }
        }
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        Ok(simplex[0])
    }
}

fn gap_only_fit(
    plan: &Plan,
    observed: &Observed,
    pair: (usize, usize),
    routers: &Routers,
    was: &[String],
    options: CalibrateOptions,
) -> Result<(Method, Vec<RouterFit>), CalibrateError> {
    let mut signed = signed_gaps(&observed.gaps, pair);
    signed.sort_unstable();
    let mut magnitudes: Vec<u64> = signed.iter().map(|gap| gap.unsigned_abs()).collect();
    magnitudes.sort_unstable();
    let scale_ns = (rank(&magnitudes, 0.5) as f64).max(1_000.0);
    // Seeds enough for the simulated gaps to outnumber the observed ones, judged on the
    // topology as written.
    let pilot = simulated_gaps(plan, 0, pair)?.len();
    if pilot == 0 {
        return Err(CalibrateError::NoSimulatedCopies {
            topology: plan.file.display().to_string(),
        });
    }
    let wanted = SIMULATED_GAPS_MIN.max(SIMULATED_GAPS_PER_OBSERVED * signed.len());
    let seeds = (wanted.div_ceil(pilot) as u64).clamp(1, GAP_SEEDS_MAX);
    let names = (
        routers.names[pair.0].as_str(),
        routers.names[pair.1].as_str(),
    );
    let mut search = GapSearch {
        plan,
        pair,
        names,
        seeds,
        jobs: options.jobs,
        observed: signed,
        scale_ns,
        evaluated: Vec::new(),
    };
    let (best, loss) = search.run()?;
    let (fit_a, fit_b) = GapSearch::fits(&best);
    let mut simulated = search.simulate(&best)?;
    simulated.sort_unstable();
    let qq = QQ
        .iter()
        .map(|&(p, _)| QqRow {
            p,
            observed_ns: rank(&search.observed, p),
            fitted_ns: rank(&simulated, p),
        })
        .collect();
    let plausible = plausible_ranges(&search.evaluated, loss, names);
    let method = Method::GapOnly(GapOnlyFit {
        seeds,
        simulated_gaps: simulated.len() as u64,
        evaluations: search.evaluated.len() as u64,
        loss,
        ks: ks_two_sample(&search.observed, &simulated),
        qq,
        plausible,
    });
    let router_fit = |index: usize, fit: LogNormalFit| RouterFit {
        router: routers.names[index].clone(),
        copies: observed.relays.get(&index).copied().unwrap_or(0),
        was: was[index].clone(),
        relay_delay: relay_delay_text(&fit, fit.quantile_ns(GAP_ONLY_MAX_SIGMAS)),
        fit,
        latency: None,
    };
    Ok((
        method,
        vec![router_fit(pair.0, fit_a), router_fit(pair.1, fit_b)],
    ))
}

fn plausible_ranges(
    evaluated: &[(Point, f64)],
    best: f64,
    names: (&str, &str),
) -> Vec<PlausibleRange> {
    let near: Vec<&Point> = evaluated
        .iter()
        .filter(|(_, loss)| *loss <= best * PLAUSIBLE_LOSS_FACTOR + 1e-12)
        .map(|(point, _)| point)
        .collect();
    let range = |values: &mut dyn Iterator<Item = f64>| {
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
            (low.min(v), high.max(v))
        })
    };
    [(names.0, 0), (names.1, 2)]
        .into_iter()
        .map(|(router, at)| PlausibleRange {
            router: router.to_string(),
            median_ns: range(&mut near.iter().map(|point| libm::exp(point[at]))),
            sigma: range(&mut near.iter().map(|point| point[at + 1])),
            candidates: near.len() as u64,
        })
        .collect()
}

// ---- the calibrated topology ----

/// The topology with every fitted router's `relay_delay` replaced, named `<name>-calibrated`,
/// with `header` (comment lines) on top; and its plan, validated.
pub fn calibrated_topology(
    plan: &Plan,
    calibration: &Calibration,
    header: &str,
) -> Result<(String, Plan), CalibrateError> {
    let delays: Vec<(&str, String)> = calibration
        .routers
        .iter()
        .map(|fit| (fit.router.as_str(), fit.relay_delay.clone()))
        .collect();
    let name = format!("{}-calibrated", plan.name);
    let (text, calibrated) = with_relay_delays(plan, &delays, Some(&name), header)?;
    if calibrated.name != name {
        return Err(CalibrateError::Calibrated(format!(
            "the topology's name did not become {name}"
        )));
    }
    Ok((text, calibrated))
}

/// The lines to paste into the topology's `routers:`.
pub fn paste_text(calibration: &Calibration) -> String {
    let mut text = String::from("routers:\n");
    for fit in &calibration.routers {
        let _ = writeln!(
            text,
            "  {}:\n    relay_delay: {}",
            fit.router, fit.relay_delay
        );
    }
    text
}

/// The comment lines a calibrated copy starts with.
pub fn header_comment(calibration: &Calibration) -> String {
    let how = match calibration.method {
        Method::ClientSide => "each relay's latency from the client's broadcast",
        Method::GapOnly(_) => "the gaps between relayed copies alone (a less certain fit)",
    };
    let mut text = format!(
        "# Relay timing calibrated by `pxelab calibrate` from {}: {how}.\n",
        calibration.capture
    );
    for fit in &calibration.routers {
        let _ = writeln!(text, "#   {}: relay_delay was {}", fit.router, fit.was);
    }
    text
}

/// The human report of a calibration.
pub fn render(calibration: &Calibration) -> String {
    let mut out = String::new();
    let c = calibration;
    let _ = writeln!(
        out,
        "capture   {}: {} frames, {} DHCP; {} relayed requests, {} through two relays, {} seen \
         from the client too",
        c.capture,
        c.frames,
        c.dhcp_frames,
        c.relayed_requests,
        c.duplicated_requests,
        c.client_side_requests
    );
    let _ = writeln!(out, "topology  {}", c.topology);
    match &c.method {
        Method::ClientSide => {
            let _ = writeln!(
                out,
                "method    client side: each relay's latency, from the client's broadcast to \
                 the relay's copy, fitted by maximum likelihood (lognormal)"
            );
        }
        Method::GapOnly(fit) => {
            let why = if c.client_side_requests == 0 {
                "no client-side copies".to_string()
            } else {
                format!("too few client-side copies (fewer than {LATENCY_SAMPLES_MIN} per relay)")
            };
            let _ = writeln!(
                out,
                "method    GAP-ONLY FIT (less certain): {why}, so the two relays were searched \
                 by simulating the topology over seeds 0..{} until its gaps matched the \
                 capture's ({} candidates)",
                fit.seeds, fit.evaluations
            );
        }
    }
    render_gaps(&mut out, &c.gaps);
    for fit in &c.routers {
        render_router(&mut out, fit);
    }
    if let Method::GapOnly(fit) = &c.method {
        render_gap_fit(&mut out, fit);
    }
    for name in &c.unseen_routers {
        let _ = writeln!(
            out,
            "\nrouter {name}: no copy came through it; left as it is"
        );
    }
    render_responses(&mut out, &c.responses);
    out
}

fn render_gaps(out: &mut String, gaps: &GapSummary) {
    let s = &gaps.spread;
    let first: Vec<String> = gaps
        .first
        .iter()
        .map(|(router, count)| {
            format!(
                "{router} {}",
                crate::percent(*count as f64 / s.count.max(1) as f64)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "gaps      {} duplicates: median {}, p90 {}, max {}; first copy from {}",
        s.count,
        format_ns(s.median_ns),
        format_ns(s.p90_ns),
        format_ns(s.max_ns),
        first.join(", ")
    );
}

fn render_router(out: &mut String, fit: &RouterFit) {
    let _ = writeln!(
        out,
        "\nrouter {} ({} relayed copies)",
        fit.router, fit.copies
    );
    if let Some(latency) = &fit.latency {
        let s = &latency.spread;
        let _ = writeln!(
            out,
            "  latency   {} measured: median {}, p90 {}, min {}, max {}",
            s.count,
            format_ns(s.median_ns),
            format_ns(s.p90_ns),
            format_ns(s.min_ns),
            format_ns(s.max_ns)
        );
        let _ = writeln!(
            out,
            "  fit       median {}, sigma {:.3}; KS D = {:.3} (5% bound {:.3}: {})",
            format_ns(libm::round(latency.fit.median_ns) as u64),
            latency.fit.sigma,
            latency.ks,
            latency.ks_bound,
            if latency.ks <= latency.ks_bound {
                "a lognormal fits"
            } else {
                "the data are not quite lognormal"
            }
        );
        render_qq(out, &latency.qq, "measured");
    }
    let _ = writeln!(out, "  was       relay_delay: {}", fit.was);
    let _ = writeln!(out, "  now       relay_delay: {}", fit.relay_delay);
}

fn render_qq(out: &mut String, rows: &[QqRow], observed: &str) {
    let _ = writeln!(out, "  q-q       p      {observed:>10}  {:>10}", "fitted");
    for row in rows {
        let _ = writeln!(
            out,
            "            {:<5}  {:>10}  {:>10}",
            row.p,
            signed_ns(row.observed_ns),
            signed_ns(row.fitted_ns)
        );
    }
}

fn signed_ns(value: i64) -> String {
    let text = format_ns(value.unsigned_abs());
    if value < 0 { format!("-{text}") } else { text }
}

fn render_gap_fit(out: &mut String, fit: &GapOnlyFit) {
    let _ = writeln!(
        out,
        "\ngap fit   signed gaps (second router's copy minus first's): loss {:.4}, two-sample \
         KS D = {:.3} over {} simulated gaps",
        fit.loss, fit.ks, fit.simulated_gaps
    );
    render_qq(out, &fit.qq, "captured");
    let _ = writeln!(
        out,
        "  plausible (candidates within {PLAUSIBLE_LOSS_FACTOR}x the best loss): gaps constrain \
         the difference of two relays better than each relay"
    );
    for range in &fit.plausible {
        let _ = writeln!(
            out,
            "            {}: median {} to {}, sigma {:.2} to {:.2} ({} candidates)",
            range.router,
            format_ns(libm::round(range.median_ns.0) as u64),
            format_ns(libm::round(range.median_ns.1) as u64),
            range.sigma.0,
            range.sigma.1,
            range.candidates
        );
    }
}

fn render_responses(out: &mut String, responses: &[ResponseTimes]) {
    if responses.is_empty() {
        let _ = writeln!(
            out,
            "\nservers   no reply in the capture: no response times"
        );
        return;
    }
    let _ = writeln!(
        out,
        "\nserver response times (the request on the capture -> the server's reply)"
    );
    for response in responses {
        let s = &response.spread;
        let _ = writeln!(
            out,
            "  {:<8} {:>15}:{:<4} {:>8} -> {:<8} {:>5}: median {}, p90 {}, max {}",
            response.server,
            response.address,
            response.port,
            response.request,
            response.reply,
            s.count,
            format_ns(s.median_ns),
            format_ns(s.p90_ns),
            format_ns(s.max_ns)
        );
    }
}

// ---- editing the YAML text ----

mod yaml {
    //! The topology's own text, with `relay_delay` lines replaced (and a router without one
    //! given one), its top-level `name:` replaced and a header on top: comments and layout
    //! are kept. A file this cannot edit (flow-style routers) is edited through serde_yaml
    //! instead, which drops its comments.

    use serde_yaml::Value;

    pub fn set_relay_delays(
        text: &str,
        delays: &[(&str, String)],
        name: Option<&str>,
        header: &str,
    ) -> Result<String, String> {
        let edited =
            by_lines(text, delays, name).map_or_else(|| by_value(text, delays, name), Ok)?;
        Ok(format!("{header}{edited}"))
    }

    fn indent(row: &str) -> usize {
        row.len() - row.trim_start().len()
    }

    /// A line that holds a key or a value (not blank, not a comment).
    fn content(row: &str) -> bool {
        let trimmed = row.trim();
        !trimmed.is_empty() && !trimmed.starts_with('#')
    }

    /// The value of `key:` on this row starts here (the row is `key: value` at its indent).
    fn value_start(row: &str, key: &str) -> Option<usize> {
        let trimmed = row.trim_start();
        let rest = trimmed.strip_prefix(key)?.strip_prefix(':')?;
        if !(rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r'])) {
            return None;
        }
        Some(indent(row) + key.len() + 1)
    }

    /// Where a row's value ends: before a ` #` comment outside quotes, or at the line end.
    fn value_end(row: &str, from: usize) -> usize {
        let bytes = row.as_bytes();
        let mut quote = None;
        let mut at = from;
        while at < bytes.len() {
            let byte = bytes[at];
            match quote {
                Some(q) if byte == q => quote = None,
                Some(_) => {}
                None if byte == b'"' || byte == b'\'' => quote = Some(byte),
                None if byte == b'#' && at > from && bytes[at - 1].is_ascii_whitespace() => {
                    return row[..at].trim_end().len();
                }
                None => {}
            }
            at += 1;
        }
        row.trim_end().len()
    }

    fn replace_value(row: &mut String, key: &str, value: &str) -> bool {
        let Some(start) = value_start(row, key) else {
            return false;
        };
        let end = value_end(row, start).max(start);
        row.replace_range(start..end, &format!(" {value}"));
        true
    }

    fn by_lines(text: &str, delays: &[(&str, String)], name: Option<&str>) -> Option<String> {
        let mut rows: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
        if let Some(name) = name {
            let row = rows
                .iter_mut()
                .find(|row| indent(row) == 0 && value_start(row, "name").is_some())?;
            if !replace_value(row, "name", name) {
                return None;
            }
        }
        for (router, delay) in delays {
            let section = rows
                .iter()
                .position(|row| indent(row) == 0 && value_start(row, "routers").is_some())?;
            let section_rows: Vec<usize> = (section + 1..rows.len())
                .take_while(|&i| !content(&rows[i]) || indent(&rows[i]) > 0)
                .filter(|&i| content(&rows[i]))
                .collect();
            let key_indent = indent(&rows[*section_rows.first()?]);
            let key_row = section_rows.into_iter().find(|&i| {
                indent(&rows[i]) == key_indent && value_start(&rows[i], router).is_some()
            })?;
            // `r1: { ... }` on one line is flow style: leave it to serde_yaml.
            let after_key = &rows[key_row][value_start(&rows[key_row], router)?..];
            if content(after_key) {
                return None;
            }
            let block: Vec<usize> = (key_row + 1..rows.len())
                .take_while(|&i| !content(&rows[i]) || indent(&rows[i]) > key_indent)
                .filter(|&i| content(&rows[i]))
                .collect();
            let child_indent = block.first().map_or(key_indent + 2, |&i| indent(&rows[i]));
            let existing = block.iter().copied().find(|&i| {
                indent(&rows[i]) == child_indent && value_start(&rows[i], "relay_delay").is_some()
            });
            match existing {
                Some(i) => {
                    if !replace_value(&mut rows[i], "relay_delay", delay) {
                        return None;
                    }
                }
                None => rows.insert(
                    key_row + 1,
                    format!("{}relay_delay: {delay}\n", " ".repeat(child_indent)),
                ),
            }
        }
        Some(rows.concat())
    }

    fn by_value(
        text: &str,
        delays: &[(&str, String)],
        name: Option<&str>,
    ) -> Result<String, String> {
        let mut yaml: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(name) = name {
            yaml.as_mapping_mut()
                .ok_or("the topology is not a mapping")?
                .insert("name".into(), name.into());
        }
        for (router, delay) in delays {
            yaml.get_mut("routers")
                .and_then(|routers| routers.get_mut(*router))
                .and_then(Value::as_mapping_mut)
                .ok_or_else(|| format!("router {router} not found"))?
                .insert("relay_delay".into(), delay.as_str().into());
        }
        serde_yaml::to_string(&yaml).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lognormal samples from the engine's own seeded stream and sampler.
    fn lognormal_samples(median_ns: f64, sigma: f64, count: usize, seed: u64) -> Vec<u64> {
        let distribution = Distribution {
            shape: timing::Shape::LogNormal { median_ns, sigma },
            max_ns: u64::MAX,
        };
        let mut stream = Stream::new(seed, "calibrate-test", "samples");
        (0..count).map(|_| stream.sample(&distribution)).collect()
    }

    #[test]
    fn maximum_likelihood_recovers_a_lognormal() {
        for (median_ns, sigma) in [(200_000.0, 0.7), (350_000.0, 0.6), (2_000_000.0, 0.9)] {
            let samples = lognormal_samples(median_ns, sigma, 20_000, 1);
            let fit = fit_lognormal(&samples).unwrap();
            assert!(
                (fit.median_ns / median_ns - 1.0).abs() < 0.02,
                "{fit:?} vs {median_ns}"
            );
            assert!((fit.sigma - sigma).abs() < 0.02, "{fit:?} vs {sigma}");
            let ks = ks_statistic(&samples, &fit);
            assert!(ks < ks_bound_5_percent(samples.len()), "ks {ks}");
        }
    }

    #[test]
    fn maximum_likelihood_is_the_mean_and_deviation_of_the_logs() {
        // Logs 0 and ln 7: their mean is ln 7 / 2, their deviation (divided by n) ln 7 / 2.
        let fit = fit_lognormal(&[1, 7]).unwrap();
        assert!((libm::log(fit.median_ns) - 0.5 * libm::log(7.0)).abs() < 1e-9);
        assert!((fit.sigma - 0.5 * libm::log(7.0)).abs() < 1e-9);
        assert_eq!(fit_lognormal(&[]), None);
        let constant = fit_lognormal(&[5_000; 10]).unwrap();
        assert_eq!(constant.sigma, 0.0);
        assert!((constant.median_ns - 5_000.0).abs() < 1e-6);
    }

    #[test]
    fn ks_sees_a_wrong_fit() {
        let samples = lognormal_samples(200_000.0, 0.7, 2_000, 2);
        let right = fit_lognormal(&samples).unwrap();
        let wrong = LogNormalFit {
            median_ns: 400_000.0,
            sigma: 0.7,
        };
        assert!(ks_statistic(&samples, &right) < 0.03);
        // The two CDFs are Phi(z) and Phi(z - ln 2 / 0.7), farthest apart at z = ln 2 / 1.4:
        // 2 Phi(0.495) - 1 = 0.379.
        let d = ks_statistic(&samples, &wrong);
        assert!((d - 0.379).abs() < 0.03, "{d}");
        // One sample: D is the larger of F(x) and 1 - F(x).
        let one = ks_statistic(&[200_000], &right);
        let cdf = right.cdf(200_000.0);
        assert!((one - cdf.max(1.0 - cdf)).abs() < 1e-12);
    }

    #[test]
    fn two_sample_ks_is_the_largest_cdf_distance() {
        assert_eq!(ks_two_sample(&[1, 2, 3], &[1, 2, 3]), 0.0);
        assert_eq!(ks_two_sample(&[1, 2], &[3, 4]), 1.0);
        assert!((ks_two_sample(&[1, 2, 3, 4], &[3, 4, 5, 6]) - 0.5).abs() < 1e-12);
        assert_eq!(ks_two_sample(&[], &[1]), 1.0);
    }

    #[test]
    fn durations_are_written_as_the_topology_reads_them() {
        assert_eq!(duration_text(203_412.0, 3, false), "203us");
        assert_eq!(duration_text(1_234_567.0, 3, false), "1.23ms");
        assert_eq!(duration_text(1_234_567.0, 2, true), "1.3ms");
        assert_eq!(duration_text(999_700.0, 3, false), "1ms");
        assert_eq!(duration_text(987_000.0, 2, true), "990us");
        assert_eq!(duration_text(1_000_000.0, 2, true), "1ms");
        assert_eq!(duration_text(12.4, 3, false), "12ns");
        assert_eq!(duration_text(2_500_000_000.0, 3, false), "2.5s");
        for value in [1.0, 999.0, 45_678.0, 3_210_987.0, 7.5e9] {
            let text = duration_text(value, 3, false);
            let back = timing::parse_duration_ns(&text).unwrap() as f64;
            assert!((back / value - 1.0).abs() < 0.005, "{value} -> {text}");
        }
        let fit = LogNormalFit {
            median_ns: 203_412.0,
            sigma: 0.7049,
        };
        assert_eq!(
            relay_delay_text(&fit, 2_345_000.0),
            "lognormal(median=203us, sigma=0.70, max=2.4ms)"
        );
    }

    #[test]
    fn pcapng_timestamps_follow_the_interface_resolution() {
        let interface = |options| InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 65_535,
            options,
        };
        assert_eq!(timestamp_ns(1_500, &interface(vec![])), Some(1_500_000));
        let nanoseconds = interface(vec![InterfaceDescriptionOption::IfTsResol(9)]);
        assert_eq!(timestamp_ns(1_500, &nanoseconds), Some(1_500));
        let binary = interface(vec![InterfaceDescriptionOption::IfTsResol(0x80 | 10)]);
        assert_eq!(timestamp_ns(1024, &binary), Some(1_000_000_000));
        let offset = interface(vec![InterfaceDescriptionOption::IfTsOffset(2)]);
        assert_eq!(timestamp_ns(1, &offset), Some(2_000_001_000));
        let absurd = interface(vec![InterfaceDescriptionOption::IfTsResol(60)]);
        assert_eq!(timestamp_ns(1, &absurd), None);
    }

    #[test]
    fn short_or_foreign_bytes_are_not_captures() {
        let error = parse_capture("x.pcap", b"ab").unwrap_err();
        assert!(
            matches!(error, CalibrateError::NotACapture { .. }),
            "{error}"
        );
        let error = parse_capture("x.pcap", b"hello, this is text and not a capture").unwrap_err();
        assert!(
            error.to_string().contains("x.pcap is not a pcap or pcapng"),
            "{error}"
        );
    }

    const TOPOLOGY: &str = "\
# A comment that must stay
name: lab   # the name
routers:
  r1:
    relay_delay: lognormal(median=2ms, sigma=0.9, max=200ms)   # control plane
    interfaces: []
  r2:
    interfaces: []
servers: {}
";

    #[test]
    fn relay_delay_lines_are_replaced_in_place() {
        let delays = [
            (
                "r1",
                "lognormal(median=203us, sigma=0.70, max=2.4ms)".to_string(),
            ),
            (
                "r2",
                "lognormal(median=351us, sigma=0.61, max=3ms)".to_string(),
            ),
        ];
        let text = yaml::set_relay_delays(TOPOLOGY, &delays, Some("lab-calibrated"), "# header\n")
            .unwrap();
        assert_eq!(
            text,
            "\
# header
# A comment that must stay
name: lab-calibrated   # the name
routers:
  r1:
    relay_delay: lognormal(median=203us, sigma=0.70, max=2.4ms)   # control plane
    interfaces: []
  r2:
    relay_delay: lognormal(median=351us, sigma=0.61, max=3ms)
    interfaces: []
servers: {}
"
        );
    }

    #[test]
    fn flow_style_routers_are_edited_through_serde() {
        let flow = "name: lab\nrouters: { r1: { relay_delay: 2ms, interfaces: [] } }\n";
        let delays = [("r1", "lognormal(median=1ms, sigma=0.5)".to_string())];
        let text = yaml::set_relay_delays(flow, &delays, Some("lab-calibrated"), "").unwrap();
        let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(value["name"], "lab-calibrated");
        assert_eq!(
            value["routers"]["r1"]["relay_delay"],
            "lognormal(median=1ms, sigma=0.5)"
        );
    }
}
