//! The boundary between a simulated server host and the service running on it. The engine
//! knows services only through this trait; the plugin host implements it with wasmtime, tests
//! implement it natively. Inputs go in, effects come out: the service never touches the world.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::log::Level;

/// A UDP datagram as a socket server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

/// What the host hands the service.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// Service start (first start and every restart): the service reads its configuration.
    Start,
    Datagram(&'a Datagram),
    Timer(u64),
}

/// What the service asks of its host during one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Send(Datagram),
    SetTimer {
        delay_ns: u64,
        token: u64,
    },
    Log {
        level: Level,
        text: String,
    },
    WindowsEvent {
        source: String,
        level: Level,
        event_id: u32,
        text: String,
    },
}

/// Read-only facts for one call.
#[derive(Clone, Copy, Debug)]
pub struct AppContext {
    pub now_ns: u64,
    pub own_ip: Ipv4Addr,
}

/// Why a call ended the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The service died: a trap, a panic, fuel or memory exhausted.
    Crashed { reason: String },
    /// The service refused to start (for example, a bad configuration).
    Refused { reason: String },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Crashed { reason } => f.write_str(reason),
            Failure::Refused { reason } => write!(f, "refused to start: {reason}"),
        }
    }
}

/// A service instance. Effects pushed before a failure still happen (a packet sent before a
/// crash was sent), so `handle` appends to `effects` as it goes.
pub trait App {
    fn handle(
        &mut self,
        cx: &AppContext,
        input: Input<'_>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Failure>;

    /// Throws the instance away and makes a fresh one, as a service restart does. State the
    /// service keeps in its host-side store survives; everything else is gone.
    fn reset(&mut self) -> Result<(), String>;

    /// Work units (wasm fuel) the last `handle` call consumed; the server node turns them into
    /// simulated CPU time. Native services report none.
    fn last_cost(&self) -> u64 {
        0
    }

    /// Removes the keys under `prefix` from the node's store (a WMI restart clears `wmi/`).
    fn clear_store(&mut self, prefix: &str) {
        let _ = prefix;
    }
}
