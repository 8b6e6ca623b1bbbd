//! The event log of a run, and its digest: the record of everything that happened, in order,
//! and a SHA-256 over a canonical encoding of it, so "same seed, same run" is one comparison.

use std::fmt;
use std::rc::Rc;

use sha2::{Digest, Sha256};

pub use crate::stored::Frame;
use crate::stored::Tails;

use crate::event::{
    Canonical, ClientEvent, Crash, DropReason, Encoder, FaultEvent, LanChanged, RedundancyChange,
    ServiceEvent,
};

/// A node of the world: the order it was added in, which is also where its name is in
/// `EventLog::node_names`. The world hands them out (`Builder::add_node`); `from_index` is for
/// logs made by hand, as tests do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(usize);

/// A LAN of the world, in the order it was added (`EventLog::lan_names`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LanId(u32);

impl NodeId {
    pub const fn from_index(index: usize) -> NodeId {
        NodeId(index)
    }

    /// The position in the world's (and the log's) list of nodes.
    pub const fn index(self) -> usize {
        self.0
    }
}

impl LanId {
    pub const fn from_index(index: usize) -> LanId {
        LanId(index as u32)
    }

    /// The position in the world's (and the log's) list of LANs.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Which records a run's log keeps. The digest covers every record whatever is kept, so two
/// runs of one seed agree on it under either.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Retention {
    /// Every record: for a run that is shown, traced, written out or compared.
    #[default]
    All,
    /// Only what a sweep's or a storm's report needs: crashes and what servers received (the
    /// relayed copies are counted from them). Clients' outcomes live in the clients.
    Summary,
}

/// The "node" of records about the network itself (a LAN changed by the fault timeline).
pub const NETWORK: NodeId = NodeId(usize::MAX);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        })
    }
}

/// What a record says happened. Everything a program needs to decide on is typed; the only
/// free text is `Log`'s, `WindowsEvent`'s and `Work`'s label, which are for people and stay out
/// of the digest.
///
/// A kind is 32 bytes, so a record is 48: what nearly every record is (a frame sent or
/// received, a timer) is held in place, and the larger, rarer kinds (a client's boot step, a
/// drop's reason, a crash, a Windows event) are boxed.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A frame put on a LAN by a node's interface.
    Send {
        lan: LanId,
        interface: u32,
        frame: Frame,
    },
    /// A frame taken off a LAN by a node's interface.
    Receive {
        lan: LanId,
        interface: u32,
        frame: Frame,
    },
    /// A frame a node threw away, and why.
    Drop {
        reason: Box<DropReason>,
        frame: Frame,
    },
    /// A timer fired.
    Timer { token: u64 },
    /// A PXE client's boot moved on.
    Client(Box<ClientEvent>),
    /// A router's redundancy group changed state.
    Redundancy(Box<RedundancyChange>),
    /// A server's service started running, or the server rebooted.
    Service(ServiceEvent),
    /// The fault timeline acted on a node.
    Fault(FaultEvent),
    /// The fault timeline changed a LAN (recorded by the `NETWORK` node). Boxed: a LAN's
    /// configuration is the largest thing a record holds, and it is rare.
    Network(Box<LanChanged>),
    /// A service died, or could not be started.
    Crash(Box<Crash>),
    /// Diagnostics from a node or plugin.
    Log { level: Level, text: String },
    /// A service began (`end: false`) or finished (`end: true`) a piece of work it reported
    /// through its contract (`Effect::WorkBegin` / `WorkEnd`).
    Work { id: u64, end: bool, label: Box<str> },
    /// A structured record shaped like a Windows event log entry.
    WindowsEvent(Box<WindowsEvent>),
}

/// A record shaped like a Windows event log entry (`Kind::WindowsEvent`).
#[derive(Clone, Debug, PartialEq)]
pub struct WindowsEvent {
    pub source: String,
    pub level: Level,
    pub event_id: u32,
    pub text: String,
}

impl Kind {
    /// The kind's name where records are listed by kind (the web UI's filters, traces).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Send { .. } => "send",
            Kind::Receive { .. } => "receive",
            Kind::Drop { .. } => "drop",
            Kind::Timer { .. } => "timer",
            Kind::Client(_)
            | Kind::Redundancy(_)
            | Kind::Service(_)
            | Kind::Fault(_)
            | Kind::Network(_) => "state",
            Kind::Crash(_) => "crash",
            Kind::Log { .. } => "log",
            Kind::Work { .. } => "work",
            Kind::WindowsEvent(_) => "windows-event",
        }
    }

    /// Heap bytes the record owns beyond itself: its strings, and its box.
    fn text_bytes(&self) -> usize {
        use std::mem::size_of;
        match self {
            Kind::Client(event) => {
                size_of::<ClientEvent>()
                    + match &**event {
                        ClientEvent::BootServerAck { file, .. }
                        | ClientEvent::TftpRequest { file, .. }
                        | ClientEvent::Booted { file, .. } => file.capacity(),
                        ClientEvent::Failed { message, .. } => message.capacity(),
                        _ => 0,
                    }
            }
            Kind::Drop { reason, .. } => {
                size_of::<DropReason>()
                    + match &**reason {
                        DropReason::Malformed { detail: text, .. }
                        | DropReason::Lost { lan: text }
                        | DropReason::HelpersFollowRedundancy {
                            interface: text, ..
                        } => text.capacity(),
                        _ => 0,
                    }
            }
            Kind::Redundancy(change) => size_of::<RedundancyChange>() + change.interface.capacity(),
            Kind::Service(ServiceEvent::Running { service }) => service.capacity(),
            Kind::Service(ServiceEvent::Rebooted) => 0,
            Kind::Network(change) => size_of::<LanChanged>() + change.lan.capacity(),
            Kind::Log { text, .. } => text.capacity(),
            Kind::Work { label, .. } => label.len(),
            Kind::WindowsEvent(event) => {
                size_of::<WindowsEvent>() + event.source.capacity() + event.text.capacity()
            }
            // Crashes are few; their texts are not worth a walk through every cause.
            Kind::Crash(_) => size_of::<Crash>(),
            Kind::Send { .. } | Kind::Receive { .. } | Kind::Timer { .. } | Kind::Fault(_) => 0,
        }
    }

    /// The frame the record carries, if any.
    pub fn frame(&self) -> Option<&Frame> {
        match self {
            Kind::Send { frame, .. } | Kind::Receive { frame, .. } | Kind::Drop { frame, .. } => {
                Some(frame)
            }
            _ => None,
        }
    }

    fn frame_mut(&mut self) -> Option<&mut Frame> {
        match self {
            Kind::Send { frame, .. } | Kind::Receive { frame, .. } | Kind::Drop { frame, .. } => {
                Some(frame)
            }
            _ => None,
        }
    }
}

/// One line for a record, as reports, traces and `RUST_LOG=debug` print it: the one text
/// rendering of records.
impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Send { frame, .. } => {
                write!(f, "send {}", crate::decode::describe(&frame.bytes()))
            }
            Kind::Receive { frame, .. } => {
                write!(f, "receive {}", crate::decode::describe(&frame.bytes()))
            }
            Kind::Drop { reason, frame } => {
                write!(
                    f,
                    "drop ({reason}) {}",
                    crate::decode::describe(&frame.bytes())
                )
            }
            Kind::Timer { token } => write!(f, "timer {token}"),
            Kind::Client(event) => event.fmt(f),
            Kind::Redundancy(change) => change.fmt(f),
            Kind::Service(event) => event.fmt(f),
            Kind::Fault(event) => event.fmt(f),
            Kind::Network(change) => change.fmt(f),
            Kind::Crash(crash) => write!(f, "CRASH: {crash}"),
            Kind::Log { level, text } => write!(f, "{level}: {text}"),
            Kind::Work {
                id,
                end: false,
                label,
            } => write!(f, "work {id} begins: {label}"),
            Kind::Work { id, end: true, .. } => write!(f, "work {id} ends"),
            Kind::WindowsEvent(event) => write!(
                f,
                "[{} {} {}] {}",
                event.source, event.event_id, event.level, event.text
            ),
        }
    }
}

/// What a log's kept records take on the heap (`EventLog::heap_bytes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogBytes {
    /// The records themselves, as the log's vector holds them.
    pub records: usize,
    /// The frames they carry, each allocation once (a large frame's head, and the tail it
    /// shares with frames of the same bytes: see `Frame`).
    pub frames: usize,
    /// Their strings (log lines, labels, file names, reasons).
    pub text: usize,
}

impl LogBytes {
    pub fn total(&self) -> usize {
        self.records + self.frames + self.text
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub time_ns: u64,
    pub node: NodeId,
    pub kind: Kind,
}

/// Append-only log with a running digest.
pub struct EventLog {
    pub node_names: Vec<String>,
    pub lan_names: Vec<String>,
    seed: u64,
    records: Vec<Record>,
    /// Which records `records` keeps (every one is in the digest either way).
    retention: Retention,
    /// The nodes that are servers, by index: their receptions are what `Retention::Summary`
    /// keeps besides crashes.
    servers: Vec<bool>,
    hasher: Sha256,
    /// Recently logged frames. A broadcast is one `Rc` shared by its send and every delivery,
    /// so its bytes are hashed once, not once per port, and kept once. Holding the `Rc` keeps
    /// its address from being reused, so a pointer match is the same frame.
    recent_frames: RecentFrames,
    /// The tails of the large frames kept (`Frame`).
    tails: Tails,
    /// The record being encoded, hashed in one piece.
    scratch: Vec<u8>,
}

/// A small cache of the frames logged last, keyed by the frame's allocation: each one's digest,
/// and the `Frame` the log keeps for it once one is kept.
#[derive(Default)]
struct RecentFrames {
    entries: Vec<RecentFrame>,
    next: usize,
}

struct RecentFrame {
    frame: Rc<[u8]>,
    hash: FrameHash,
    kept: Option<Frame>,
}

impl RecentFrames {
    const CAPACITY: usize = 16;

    fn get(&mut self, frame: &Rc<[u8]>) -> &mut RecentFrame {
        if let Some(at) = self
            .entries
            .iter()
            .position(|e| Rc::ptr_eq(&e.frame, frame))
        {
            return &mut self.entries[at];
        }
        let entry = RecentFrame {
            frame: frame.clone(),
            hash: frame_hash(frame),
            kept: None,
        };
        let at = if self.entries.len() < Self::CAPACITY {
            self.entries.push(entry);
            self.entries.len() - 1
        } else {
            let at = self.next;
            self.entries[at] = entry;
            self.next = (self.next + 1) % Self::CAPACITY;
            at
        };
        &mut self.entries[at]
    }
}

/// What stands for a frame's bytes in the canonical encoding: their XXH3-128. Frames are most
/// of the bytes a run logs, and this hash is many times faster than SHA-256 over them; the
/// digest tells runs apart and does not authenticate them, so a non-cryptographic hash of
/// this width is enough for the bytes it summarises.
type FrameHash = [u8; 16];

fn frame_hash(frame: &[u8]) -> FrameHash {
    xxhash_rust::xxh3::xxh3_128(frame).to_le_bytes()
}

impl EventLog {
    pub fn new(seed: u64, node_names: Vec<String>, lan_names: Vec<String>) -> EventLog {
        let mut hasher = Sha256::new();
        hasher.update(b"pxelab-log-v4");
        hasher.update(seed.to_le_bytes());
        for names in [&node_names, &lan_names] {
            hasher.update((names.len() as u64).to_le_bytes());
            for name in names {
                put_bytes(&mut hasher, name.as_bytes());
            }
        }
        EventLog {
            node_names,
            lan_names,
            seed,
            records: Vec::new(),
            retention: Retention::All,
            servers: Vec::new(),
            hasher,
            recent_frames: RecentFrames::default(),
            tails: Tails::default(),
            scratch: Vec::with_capacity(128),
        }
    }

    /// Keeps only what `retention` says from now on; `servers` marks the server nodes.
    pub(crate) fn retain(&mut self, retention: Retention, servers: Vec<bool>) {
        self.retention = retention;
        self.servers = servers;
    }

    pub fn retention(&self) -> Retention {
        self.retention
    }

    pub fn push(&mut self, mut record: Record) {
        let recent = &mut self.recent_frames;
        self.scratch.clear();
        encode(
            &mut self.scratch,
            &record,
            &mut |frame| match frame.whole() {
                Some(bytes) => recent.get(bytes).hash,
                None => frame_hash(&frame.bytes()),
            },
        );
        self.hasher.update(&self.scratch);
        let keep = match self.retention {
            Retention::All => true,
            Retention::Summary => match record.kind {
                Kind::Crash(_) => true,
                Kind::Receive { .. } => self.servers.get(record.node.index()) == Some(&true),
                _ => false,
            },
        };
        if keep {
            if let Some(frame) = record.kind.frame_mut()
                && let Some(bytes) = frame.whole()
            {
                let entry = self.recent_frames.get(bytes);
                let tails = &mut self.tails;
                *frame = entry
                    .kept
                    .get_or_insert_with(|| tails.compact(frame))
                    .clone();
            }
            self.records.push(record);
        }
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The heap the kept records take, split by what holds it: counted, not estimated (each
    /// shared frame once; crash texts, a handful per run, left out), for telling what a log
    /// costs per event.
    pub fn heap_bytes(&self) -> LogBytes {
        let mut frames = std::collections::BTreeSet::new();
        let mut bytes = LogBytes {
            records: self.records.capacity() * std::mem::size_of::<Record>(),
            ..LogBytes::default()
        };
        for record in &self.records {
            if let Some(frame) = record.kind.frame() {
                for (address, size) in frame.allocations().into_iter().flatten() {
                    if frames.insert(address) {
                        bytes.frames += size;
                    }
                }
            }
            bytes.text += record.kind.text_bytes();
        }
        bytes
    }

    /// The seed the run was started with (already part of the digest).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Hex SHA-256 of everything logged so far.
    pub fn digest(&self) -> String {
        let bytes = self.hasher.clone().finalize();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn node_name(&self, node: NodeId) -> &str {
        self.node_names
            .get(node.index())
            .map_or("network", String::as_str)
    }

    /// The node named `name`.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_names.iter().position(|n| n == name).map(NodeId)
    }

    /// The LAN named `name`.
    pub fn lan_id(&self, name: &str) -> Option<LanId> {
        self.lan_names
            .iter()
            .position(|n| n == name)
            .map(LanId::from_index)
    }

    pub fn lan_name(&self, lan: LanId) -> &str {
        self.lan_names.get(lan.index()).map_or("", String::as_str)
    }
}

impl Record {
    /// SHA-256 of this record's canonical encoding (the one the digest is made of): two runs of
    /// one seed diverge at the first record whose fingerprints differ.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut bytes = Vec::new();
        encode(&mut bytes, self, &mut |frame| frame_hash(&frame.bytes()));
        Sha256::digest(&bytes).into()
    }
}

/// The canonical encoding: little-endian integers, length-prefixed byte strings, one tag byte
/// per kind; a frame is its length and its XXH3-128 (`frame_hash`); typed events encode as
/// `Canonical` says, and free text (log lines, Windows event texts, work labels) is left out,
/// so rewording a message changes no digest. Changing it changes every digest, so it is
/// versioned by the `pxelab-log-v4` prefix.
fn encode(out: &mut Vec<u8>, record: &Record, frame_hash: &mut dyn FnMut(&Frame) -> FrameHash) {
    let mut out = Encoder(out);
    out.u64(record.time_ns);
    out.u64(record.node.index() as u64);
    match &record.kind {
        Kind::Send {
            lan,
            interface,
            frame,
        } => put_on_lan(&mut out, 1, *lan, *interface, frame, frame_hash),
        Kind::Receive {
            lan,
            interface,
            frame,
        } => put_on_lan(&mut out, 2, *lan, *interface, frame, frame_hash),
        Kind::Drop { reason, frame } => {
            out.u8(3);
            reason.encode(&mut out);
            put_frame(&mut out, frame, frame_hash);
        }
        Kind::Timer { token } => {
            out.u8(4);
            out.u64(*token);
        }
        Kind::Client(event) => put_canonical(&mut out, 5, &**event),
        Kind::Crash(crash) => put_canonical(&mut out, 6, &**crash),
        Kind::Log { level, .. } => {
            out.u8(7);
            out.u8(*level as u8);
        }
        Kind::WindowsEvent(event) => {
            out.u8(8);
            out.u8(event.level as u8);
            out.str(&event.source);
            out.u32(event.event_id);
        }
        Kind::Work { id, end, .. } => {
            out.u8(9);
            out.u8(*end as u8);
            out.u64(*id);
        }
        Kind::Redundancy(change) => put_canonical(&mut out, 10, &**change),
        Kind::Service(event) => put_canonical(&mut out, 11, event),
        Kind::Network(change) => put_canonical(&mut out, 12, &**change),
        Kind::Fault(event) => put_canonical(&mut out, 13, event),
    }
}

/// A frame put on (`Send`) or taken off (`Receive`) a LAN by an interface.
fn put_on_lan(
    out: &mut Encoder<'_>,
    tag: u8,
    lan: LanId,
    interface: u32,
    frame: &Frame,
    frame_hash: &mut dyn FnMut(&Frame) -> FrameHash,
) {
    out.u8(tag);
    out.u64(lan.index() as u64);
    out.u32(interface);
    put_frame(out, frame, frame_hash);
}

fn put_frame(
    out: &mut Encoder<'_>,
    frame: &Frame,
    frame_hash: &mut dyn FnMut(&Frame) -> FrameHash,
) {
    out.u64(frame.len() as u64);
    out.0.extend_from_slice(&frame_hash(frame));
}

/// A tag byte, then the canonical encoding of `value`.
fn put_canonical(out: &mut Encoder<'_>, tag: u8, value: &dyn Canonical) {
    out.u8(tag);
    value.encode(out);
}

fn put_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(text: &str) -> EventLog {
        let mut log = EventLog::new(1, vec!["a".into()], vec![]);
        log.push(Record {
            time_ns: 5,
            node: NodeId(0),
            kind: Kind::Service(ServiceEvent::Running {
                service: text.into(),
            }),
        });
        log
    }

    #[test]
    fn digest_depends_on_every_field() {
        assert_eq!(log_with("x").digest(), log_with("x").digest());
        assert_ne!(log_with("x").digest(), log_with("y").digest());
        let mut other_time = EventLog::new(1, vec!["a".into()], vec![]);
        other_time.push(Record {
            time_ns: 6,
            node: NodeId(0),
            kind: Kind::Service(ServiceEvent::Running {
                service: "x".into(),
            }),
        });
        assert_ne!(log_with("x").digest(), other_time.digest());
        assert_eq!(log_with("x").digest().len(), 64);
    }

    #[test]
    fn free_text_stays_out_of_the_digest() {
        let log_line = |text: &str| {
            let mut log = EventLog::new(1, vec!["a".into()], vec![]);
            log.push(Record {
                time_ns: 5,
                node: NodeId(0),
                kind: Kind::Log {
                    level: Level::Info,
                    text: text.into(),
                },
            });
            log.digest()
        };
        assert_eq!(log_line("takes request 1"), log_line("reworded entirely"));
        let mut warning = EventLog::new(1, vec!["a".into()], vec![]);
        warning.push(Record {
            time_ns: 5,
            node: NodeId(0),
            kind: Kind::Log {
                level: Level::Warning,
                text: "takes request 1".into(),
            },
        });
        assert_ne!(log_line("takes request 1"), warning.digest());
    }

    #[test]
    fn a_record_is_48_bytes() {
        // What the log of a 100,000-client storm costs is mostly this times its records.
        assert_eq!(std::mem::size_of::<Kind>(), 32);
        assert_eq!(std::mem::size_of::<Record>(), 48);
    }

    #[test]
    fn a_frame_counts_by_its_bytes_whether_shared_or_copied() {
        let receive = |frame: Rc<[u8]>| Record {
            time_ns: 1,
            node: NodeId(0),
            kind: Kind::Receive {
                lan: LanId(0),
                interface: 0,
                frame: frame.into(),
            },
        };
        let digest = |frames: Vec<Rc<[u8]>>| {
            let mut log = EventLog::new(1, vec!["a".into()], vec![]);
            for frame in frames {
                log.push(receive(frame));
            }
            log.digest()
        };
        let shared: Rc<[u8]> = Rc::from(&b"broadcast"[..]);
        let copy: Rc<[u8]> = Rc::from(&b"broadcast"[..]);
        let other: Rc<[u8]> = Rc::from(&b"broadcasT"[..]);
        assert_eq!(
            digest(vec![shared.clone(), shared.clone(), shared.clone()]),
            digest(vec![copy.clone(), shared.clone(), copy.clone()])
        );
        assert_ne!(
            digest(vec![shared.clone(), shared.clone()]),
            digest(vec![shared.clone(), other.clone()])
        );
        // More distinct frames than the cache holds still hash by their bytes.
        let many: Vec<Rc<[u8]>> = (0..40u8).map(|i| Rc::from(&[i, 1, 2][..])).collect();
        let copies: Vec<Rc<[u8]>> = (0..40u8).map(|i| Rc::from(&[i, 1, 2][..])).collect();
        let mut twice = many.clone();
        twice.extend(many.iter().cloned());
        let mut twice_copies = copies.clone();
        twice_copies.extend(copies);
        assert_eq!(digest(twice), digest(twice_copies));
    }
}
