//! The guest SDK for pxelab boot-server plugins: it hides the WIT bindings behind a small
//! `Env`/`Plugin` pair so that plugin logic is plain Rust, unit-testable natively with
//! `testing::MockEnv`, and exported to the host by one `export_plugin!` line.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

pub mod config;
pub mod dhcp;
pub mod text;
pub mod tftp;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;

/// The generated bindings for world `boot-server`; plugins do not use them directly.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "boot-server",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "sdk::bindings",
    });
}

pub use config::{Config, ConfigError};
/// The DHCP library the helpers speak, re-exported so a plugin needs no version of its own.
pub use dhcproto;
/// Timing distributions, as `Config::distribution_or` returns them and `Env::sample` draws.
pub use timing::Distribution;

/// Severity of a diagnostic or event-log record (the WIT `level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

/// A UDP datagram as a socket server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

/// Everything a plugin may ask of its host. The wasm build forwards each call to the WIT import
/// of the same name; `testing::MockEnv` records them.
pub trait Env {
    /// Simulated time in nanoseconds since the start of the run.
    fn now_ns(&self) -> u64;
    /// The next draw of this node's seeded random stream.
    fn random_u64(&mut self) -> u64;
    /// Reports a timing sample and its nominal value to the host, which returns the value to
    /// use (the nominal one when a shrink pins this draw). `sample` calls it; plugins need not.
    fn timing_draw(&mut self, value_ns: u64, _nominal_ns: u64) -> u64 {
        value_ns
    }
    fn own_ip(&self) -> Ipv4Addr;
    fn send(&mut self, datagram: Datagram);
    /// Calls `Plugin::on_timer(token)` after `delay_ns` of simulated time.
    fn set_timer(&mut self, delay_ns: u64, token: u64);
    fn log(&mut self, level: Level, message: &str);
    /// A Windows-style event-log record (source, level, event id, text).
    fn event_log(&mut self, source: &str, level: Level, event_id: u32, text: &str);
    /// The node's store that survives service restarts.
    fn store_get(&mut self, key: &str) -> Option<Vec<u8>>;
    fn store_set(&mut self, key: &str, value: &[u8]);
    /// Marks the start of work the plugin finishes in a later call (a device lookup): `id` is
    /// the plugin's own, unique among its open spans; `label` is for people reading the log.
    fn work_begin(&mut self, id: u64, label: &str);
    /// The work `id` finished.
    fn work_end(&mut self, id: u64);
    /// The files the topology gives this server to serve (its `files:`), as `(name, size in
    /// bytes)` in name order; `tftp::Server::serve_given_files` serves them.
    fn files(&mut self) -> Vec<(String, u64)>;
    /// Up to `length` bytes of given file `name` from byte `offset`: fewer at its end, none past
    /// it or for a name not given.
    fn read_file(&mut self, name: &str, offset: u64, length: u32) -> Vec<u8>;
}

/// Why a plugin refuses to start: the configuration `key` it refuses (if the refusal is about
/// one), what is wrong, and the Windows service-specific error code it exits with, if any. The
/// host shows it as the service's start failure (SCM event 7024).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub key: Option<String>,
    pub message: String,
    pub service_specific: Option<u32>,
}

impl Refusal {
    /// A refusal about no key in particular.
    pub fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            key: None,
            message: message.into(),
            service_specific: None,
        }
    }

    /// A refusal about configuration `key`.
    pub fn config(key: &str, message: impl Into<String>) -> Refusal {
        Refusal::from(ConfigError::new(key, message))
    }

    /// A Windows service-specific error `code`, with `message` (may be empty) for people.
    pub fn service_specific(code: u32, message: impl Into<String>) -> Refusal {
        Refusal {
            key: None,
            message: message.into(),
            service_specific: Some(code),
        }
    }
}

impl From<ConfigError> for Refusal {
    fn from(error: ConfigError) -> Refusal {
        Refusal {
            key: Some(error.key),
            message: error.message,
            service_specific: None,
        }
    }
}

/// Rendered as the host renders it, so native tests read what users will.
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

impl dyn Env + '_ {
    /// Draws one sample of `distribution` from this node's random stream.
    pub fn sample(&mut self, distribution: &timing::Distribution) -> u64 {
        let value_ns = distribution.sample(&mut || self.random_u64());
        self.timing_draw(value_ns, distribution.nominal_ns())
    }
}

/// A boot-server plugin: one instance per service start.
pub trait Plugin: Sized + 'static {
    /// The configuration keys this plugin understands; any other key refuses the start, so a
    /// typo in a topology is reported instead of silently ignored.
    const CONFIG_KEYS: &'static [&'static str];

    /// Starts the plugin, or refuses to (`?` on a `Config` accessor refuses naming the key).
    fn init(env: &mut dyn Env, config: &Config) -> Result<Self, Refusal>;
    fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram);
    fn on_timer(&mut self, env: &mut dyn Env, token: u64) {
        let _ = (env, token);
    }
}

/// Starts a plugin from the host's `(key, value)` list: checks the keys against
/// `P::CONFIG_KEYS`, then calls `P::init`. The wasm glue and native tests both start plugins
/// through here so they see the same validation.
pub fn start<P: Plugin>(env: &mut dyn Env, pairs: Vec<(String, String)>) -> Result<P, Refusal> {
    let config = Config::new(pairs, P::CONFIG_KEYS)?;
    P::init(env, &config)
}

/// Exports a `Plugin` type as the plugin's `boot-server` world implementation. Only the wasm
/// build exports anything; natively the plugin is used as an ordinary type.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Exports;

            impl $crate::bindings::Guest for Exports {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), $crate::bindings::pxelab::plugin::types::Refusal>
                {
                    $crate::guest::init::<$plugin>(config)
                }

                fn on_datagram(datagram: $crate::bindings::pxelab::plugin::types::Datagram) {
                    $crate::guest::on_datagram(datagram)
                }

                fn on_timer(token: u64) {
                    $crate::guest::on_timer(token)
                }
            }

    $crate::bindings::export!(Exports with_types_in $crate::bindings);
        };
    };
}
