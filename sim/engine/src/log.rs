//! The event log of a run, and its digest: the record of everything that happened, in order,
//! and a SHA-256 over a canonical encoding of it, so "same seed, same run" is one comparison.

use std::fmt;
use std::rc::Rc;

use sha2::{Digest, Sha256};

/// Index of a node in the world, and of its name in `EventLog::node_names`.
pub type NodeId = usize;
/// Index of a LAN in the world.
pub type LanId = usize;
/// The "node" of records about the network itself (a LAN changed by the fault timeline).
pub const NETWORK: NodeId = NodeId::MAX;

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A frame put on a LAN by a node's interface.
    Send {
        lan: LanId,
        interface: u32,
        frame: Rc<[u8]>,
    },
    /// A frame taken off a LAN by a node's interface.
    Receive {
        lan: LanId,
        interface: u32,
        frame: Rc<[u8]>,
    },
    /// A frame a node threw away, and why.
    Drop { reason: String, frame: Rc<[u8]> },
    /// A timer fired.
    Timer { token: u64 },
    /// A node changed state (client phase, service up/down, ...).
    State { text: String },
    /// A service died; `reason` is what the trap or the model said.
    Crash { reason: String },
    /// Diagnostics from a node or plugin.
    Log { level: Level, text: String },
    /// A structured record shaped like a Windows event log entry.
    WindowsEvent {
        source: String,
        level: Level,
        event_id: u32,
        text: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
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
    hasher: Sha256,
}

impl EventLog {
    pub fn new(seed: u64, node_names: Vec<String>, lan_names: Vec<String>) -> EventLog {
        let mut hasher = Sha256::new();
        hasher.update(b"pxelab-log-v1");
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
            hasher,
        }
    }

    pub fn push(&mut self, record: Record) {
        encode(&mut self.hasher, &record);
        self.records.push(record);
    }

    pub fn records(&self) -> &[Record] {
        &self.records
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
        self.node_names.get(node).map_or("network", String::as_str)
    }
}

impl Record {
    /// SHA-256 of this record's canonical encoding (the one the digest is made of): two runs of
    /// one seed diverge at the first record whose fingerprints differ.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        encode(&mut hasher, self);
        hasher.finalize().into()
    }
}

/// The canonical encoding: little-endian integers, length-prefixed byte strings, one tag byte
/// per kind. Changing it changes every digest, so it is versioned by the `pxelab-log-v1` prefix.
fn encode(hasher: &mut Sha256, record: &Record) {
    hasher.update(record.time_ns.to_le_bytes());
    hasher.update((record.node as u64).to_le_bytes());
    match &record.kind {
        Kind::Send {
            lan,
            interface,
            frame,
        } => {
            hasher.update([1]);
            hasher.update((*lan as u64).to_le_bytes());
            hasher.update(interface.to_le_bytes());
            put_bytes(hasher, frame);
        }
        Kind::Receive {
            lan,
            interface,
            frame,
        } => {
            hasher.update([2]);
            hasher.update((*lan as u64).to_le_bytes());
            hasher.update(interface.to_le_bytes());
            put_bytes(hasher, frame);
        }
        Kind::Drop { reason, frame } => {
            hasher.update([3]);
            put_bytes(hasher, reason.as_bytes());
            put_bytes(hasher, frame);
        }
        Kind::Timer { token } => {
            hasher.update([4]);
            hasher.update(token.to_le_bytes());
        }
        Kind::State { text } => {
            hasher.update([5]);
            put_bytes(hasher, text.as_bytes());
        }
        Kind::Crash { reason } => {
            hasher.update([6]);
            put_bytes(hasher, reason.as_bytes());
        }
        Kind::Log { level, text } => {
            hasher.update([7, *level as u8]);
            put_bytes(hasher, text.as_bytes());
        }
        Kind::WindowsEvent {
            source,
            level,
            event_id,
            text,
        } => {
            hasher.update([8, *level as u8]);
            put_bytes(hasher, source.as_bytes());
            hasher.update(event_id.to_le_bytes());
            put_bytes(hasher, text.as_bytes());
        }
    }
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
            node: 0,
            kind: Kind::State { text: text.into() },
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
            node: 0,
            kind: Kind::State { text: "x".into() },
        });
        assert_ne!(log_with("x").digest(), other_time.digest());
        assert_eq!(log_with("x").digest().len(), 64);
    }
}
