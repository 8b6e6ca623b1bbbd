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
    /// The service starts a piece of work it will finish later (a WDS worker's device
    /// lookup): `id` is the service's own, unique among its open spans; `label` is for people.
    WorkBegin {
        id: u64,
        label: String,
    },
    /// The work `id` finished.
    WorkEnd {
        id: u64,
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
    /// The service died.
    Crashed(CrashCause),
    /// The service refused to start (for example, a bad configuration).
    Refused(Refusal),
}

/// What killed a service, as the host knows it (from wasmtime's typed trap, its resource
/// limiter and its own per-call limits), never from an error message's wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrashCause {
    /// One call used up its whole fuel budget (an endless loop?).
    OutOfFuel {
        fuel_per_call: u64,
    },
    /// The instance asked for more memory than its limit.
    MemoryLimit {
        bytes_max: u64,
    },
    StackOverflow,
    /// Any other wasm trap; `code` is wasmtime's `Trap` name (`UnreachableCodeReached`, ...).
    Trap {
        code: String,
    },
    /// The plugin panicked: the SDK's panic hook reported `message` (and where) before the
    /// trap; `trap` is the trap it ended with.
    Panic {
        message: String,
        trap: Box<CrashCause>,
    },
    /// The call broke a per-call limit of the host (datagrams, timers, log records, a
    /// datagram's size, effects in one call): the host ended it.
    LimitBroken {
        limit: Limit,
        max: u64,
    },
    /// The instance trapped in an earlier call and cannot be entered again until a restart.
    Poisoned,
    /// The host could not run the call at all (no instance, a wasmtime error that is no trap).
    Host {
        message: String,
    },
}

/// The per-call limits a host enforces (`CrashCause::LimitBroken`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    Datagrams,
    Timers,
    LogRecords,
    DatagramBytes,
    /// Sends, timers and log records together, checked by the server node itself.
    Effects,
}

/// Why a service refused to start: the configuration `key` it refused (if it names one) and
/// the plugin's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub key: Option<String>,
    pub message: String,
    /// A Windows service-specific error code, when the service reports one (SCM event 7023
    /// instead of 7024).
    pub service_specific: Option<u32>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Crashed(cause) => cause.fmt(f),
            Failure::Refused(refusal) => write!(f, "refused to start: {refusal}"),
        }
    }
}

impl fmt::Display for CrashCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashCause::OutOfFuel { fuel_per_call } => write!(
                f,
                "used up its fuel budget of {fuel_per_call} units in one call (an endless loop?)"
            ),
            CrashCause::MemoryLimit { bytes_max } => {
                write!(f, "went over its memory limit of {} MiB", bytes_max >> 20)
            }
            CrashCause::StackOverflow => f.write_str("overflowed its stack"),
            CrashCause::Trap { code } => write!(f, "wasm trap: {code}"),
            CrashCause::Panic { message, trap } => write!(f, "{trap}; panic: {message}"),
            CrashCause::LimitBroken { limit, max } => match limit {
                Limit::Datagrams => write!(f, "sent more than {max} datagrams in one call"),
                Limit::Timers => write!(f, "set more than {max} timers in one call"),
                Limit::LogRecords => write!(f, "wrote more than {max} log records in one call"),
                Limit::DatagramBytes => write!(
                    f,
                    "sent a datagram larger than one Ethernet frame allows ({max})"
                ),
                Limit::Effects => write!(f, "more than {max} sends/timers/logs in one call"),
            },
            CrashCause::Poisoned => f.write_str("the service instance trapped earlier"),
            CrashCause::Host { message } => f.write_str(message),
        }
    }
}

/// What the limit counts, for people.
impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Datagrams => "datagrams per call",
            Limit::Timers => "timers per call",
            Limit::LogRecords => "log records per call",
            Limit::DatagramBytes => "bytes per datagram",
            Limit::Effects => "sends, timers and logs per call",
        })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.key, self.service_specific) {
            (_, Some(code)) if self.message.is_empty() => {
                write!(f, "service-specific error {code} ({code:#06x})")
            }
            (_, Some(code)) => write!(
                f,
                "service-specific error {code} ({code:#06x}): {}",
                self.message
            ),
            (Some(key), None) => write!(f, "config `{key}`: {}", self.message),
            (None, None) => f.write_str(&self.message),
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
