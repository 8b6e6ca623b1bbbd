//! Runs boot-server plugins: WebAssembly components written against `plugins/wit`, compiled once
//! per process by wasmtime (or loaded precompiled from the on-disk cache), instantiated per
//! simulated node, and called with a fuel budget, a memory cap and per-call limits on sends,
//! timers, log records and datagram size. A trap or a broken limit becomes a
//! `Failure::Crashed` of that node; the host never panics on what a plugin does. Settings
//! follow the determinism rules: NaN canonicalization, no threads, no relaxed SIMD, no clocks,
//! no WASI.

pub mod cache;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use engine::app::{CrashCause, Limit, Refusal};
use engine::{App, AppContext, Datagram, Effect, Failure, Input, Level, Stream};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store};

mod bindings {
    /// The bindings of world `boot-server` in the WIT at `$path`. The imports named trap when a
    /// plugin breaks a per-call limit: the trap stops a storm at its first excess datagram,
    /// timer or record, not after the plugin's loop. Both contract versions have the first
    /// four; `$more` names the ones only a version has.
    macro_rules! boot_server {
        ($path:tt $(, $more:tt)*) => {
            wasmtime::component::bindgen!({
                path: $path,
                world: "boot-server",
                imports: {
                    "pxelab:plugin/host.send": trappable,
                    "pxelab:plugin/host.set-timer": trappable,
                    "pxelab:plugin/host.log": trappable,
                    "pxelab:plugin/host.event-log": trappable,
                    $($more: trappable,)*
                },
            });
        };
    }

    /// The contract this host speaks, `pxelab:plugin@0.3.0`.
    pub mod current {
        boot_server!(
            "../../plugins/wit",
            "pxelab:plugin/host.work-begin",
            "pxelab:plugin/host.work-end"
        );
    }

    /// The previous contract, `pxelab:plugin@0.2.0`, whose plugins still run.
    pub mod v0_2 {
        boot_server!(
            "../../plugins/wit/v0.2.0",
            "pxelab:plugin/host.work-begin",
            "pxelab:plugin/host.work-end"
        );
    }

    /// The first contract, `pxelab:plugin@0.1.0`, whose plugins still run.
    pub mod v0_1 {
        boot_server!("../../plugins/wit/v0.1.0");
    }
}

/// The host functions every contract version imports, written once. Each expansion names the
/// `types` (datagram, level) and `level` of the module it stands in, so the bindings of every
/// version get the same bodies over their own generated types.
macro_rules! host_functions_of_every_contract {
    () => {
        fn now_ns(&mut self) -> u64 {
            self.now_ns
        }

        fn random_u64(&mut self) -> u64 {
            self.stream.next_u64()
        }

        fn timing_draw(&mut self, value_ns: u64, nominal_ns: u64) -> u64 {
            self.stream.report_draw(value_ns, nominal_ns)
        }

        fn own_ip(&mut self) -> u32 {
            u32::from(self.own_ip)
        }

        fn send(&mut self, d: types::Datagram) -> wasmtime::Result<()> {
            State::send(
                self,
                socket(d.src_ip, d.src_port),
                socket(d.dst_ip, d.dst_port),
                d.payload,
            )
        }

        fn set_timer(&mut self, delay_ns: u64, token: u64) -> wasmtime::Result<()> {
            State::set_timer(self, delay_ns, token)
        }

        fn log(&mut self, level_: types::Level, msg: String) -> wasmtime::Result<()> {
            State::log(self, level(level_), msg)
        }

        fn event_log(
            &mut self,
            source: String,
            level_: types::Level,
            event_id: u32,
            text: String,
        ) -> wasmtime::Result<()> {
            State::event_log(self, source, level(level_), event_id, text)
        }

        fn store_get(&mut self, key: String) -> Option<Vec<u8>> {
            self.store.get(&key).cloned()
        }

        fn store_set(&mut self, key: String, value: Vec<u8>) {
            State::store_set(self, key, value);
        }
    };
}

/// The host functions 0.2.0 added, which 0.3.0 keeps.
macro_rules! host_functions_since_0_2 {
    () => {
        fn panicked(&mut self, message: String) {
            self.panic_message = Some(crate::bounded(message));
        }

        fn work_begin(&mut self, id: u64, label: String) -> wasmtime::Result<()> {
            self.record(Effect::WorkBegin {
                id,
                label: crate::bounded(label),
            })
        }

        fn work_end(&mut self, id: u64) -> wasmtime::Result<()> {
            self.record(Effect::WorkEnd { id })
        }
    };
}

/// `level` from, and `datagram` to, the `types` of the module it stands in.
macro_rules! conversions_of_every_contract {
    () => {
        pub(crate) fn datagram(datagram: &Datagram) -> types::Datagram {
            types::Datagram {
                src_ip: u32::from(*datagram.src.ip()),
                src_port: datagram.src.port(),
                dst_ip: u32::from(*datagram.dst.ip()),
                dst_port: datagram.dst.port(),
                payload: datagram.payload.clone(),
            }
        }

        fn level(level: types::Level) -> Level {
            match level {
                types::Level::Debug => Level::Debug,
                types::Level::Info => Level::Info,
                types::Level::Warning => Level::Warning,
                types::Level::Error => Level::Error,
            }
        }
    };
}

mod contract_v0_1;
mod contract_v0_2;

use bindings::current::pxelab::plugin::types;
use bindings::current::{BootServer, BootServerPre};

/// The contract version this host speaks.
pub const CONTRACT: &str = "pxelab:plugin@0.3.0";
/// Older contract versions whose plugins this host still runs, newest first.
pub const CONTRACTS_STILL_RUN: &[&str] = &["pxelab:plugin@0.2.0", "pxelab:plugin@0.1.0"];

/// The files a server is given to serve (its `files:`), by the name clients ask for, as the
/// host read them before the run. Shared by every instance of the node (and every seed).
pub type GivenFiles = Arc<BTreeMap<String, Arc<[u8]>>>;

/// Per-instance limits. A call that runs out of fuel or memory, or goes past a per-call limit,
/// traps, and the node crashes with a reason naming the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxLimits {
    pub fuel_per_call: u64,
    pub memory_bytes_max: usize,
    /// Datagrams one call may send; the next one ends the call.
    pub sends_per_call_max: usize,
    /// Timers one call may set; the next one ends the call.
    pub timers_per_call_max: usize,
    /// Diagnostics and event-log records one call may write; the next one ends the call.
    /// Each record's text is also cut to `LOG_TEXT_BYTES_MAX`, so a call's records stay small.
    pub logs_per_call_max: usize,
    /// The largest UDP payload a plugin may send. The simulated hosts do not fragment, so the
    /// default is what one Ethernet frame carries: 1500 - 20 (IPv4) - 8 (UDP) = 1472 bytes.
    pub datagram_bytes_max: usize,
}

impl Default for SandboxLimits {
    fn default() -> SandboxLimits {
        // About a hundred million wasm instructions per call, and 64 MiB of linear memory: far
        // above what a boot server needs to answer one datagram, far below a hang. A boot
        // server answers a datagram with a few datagrams and a timer or two; 256 of each leaves
        // room for bursts (a TFTP window) and still stops a storm before it floods the run.
        SandboxLimits {
            fuel_per_call: 100_000_000,
            memory_bytes_max: 64 << 20,
            sends_per_call_max: 256,
            timers_per_call_max: 256,
            logs_per_call_max: 1024,
            datagram_bytes_max: engine::frame::UDP_PAYLOAD_MAX,
        }
    }
}

/// A compiled, pre-linked plugin, shared by every node (and thread) that runs it.
pub struct Plugin {
    pub name: String,
    /// SHA-256 of the component bytes, hex.
    pub hash: String,
    /// Whether the machine code came from the on-disk compile cache instead of a compilation.
    pub loaded_from_cache: bool,
    pre: Pre,
}

/// The pre-linked plugin, for the contract version it was built against.
enum Pre {
    Current(BootServerPre<State>),
    V0_2(bindings::v0_2::BootServerPre<State>),
    V0_1(bindings::v0_1::BootServerPre<State>),
}

/// The contract versions a plugin may be built against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    Current,
    V0_2,
    V0_1,
}

/// Why the host could not start, load a plugin or make an instance of it. `detail` is
/// wasmtime's (or the component tools') own account, kept for people; nothing decides on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    /// The WebAssembly engine or the host interface could not be set up (`what` failed).
    Setup { what: &'static str, detail: String },
    /// The bytes are neither a component nor a core module.
    NotWasm { plugin: String, detail: String },
    /// A core module without the boot-server world's type (not built with the SDK).
    NoWorld { plugin: String },
    /// A core module the component encoder refused.
    NotComponentizable { plugin: String, detail: String },
    /// wasmtime refused the component.
    InvalidComponent { plugin: String, detail: String },
    /// The component compiled a moment ago could not be loaded.
    CannotLoadCompiled { plugin: String, detail: String },
    /// The component imports something the host does not provide (WASI, say).
    ForeignImport { plugin: String, import: String },
    /// The component was built against a contract version this host does not run.
    UnsupportedContract { plugin: String, version: String },
    /// The component imports two versions of the contract.
    MixedContracts { plugin: String },
    /// The imports name the contract but do not fit it.
    DoesNotFit {
        plugin: String,
        contract: &'static str,
        detail: String,
    },
    /// The component does not export the contract's world.
    NotExported {
        plugin: String,
        contract: &'static str,
        detail: String,
    },
    /// A fresh instance could not be made.
    CannotInstantiate { plugin: String, detail: String },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (package, _) = CONTRACT
            .split_once('@')
            .expect("CONTRACT is package@version");
        match self {
            HostError::Setup { what, detail } => write!(f, "cannot {what}: {detail}"),
            HostError::NotWasm { plugin, detail } => write!(
                f,
                "plugin `{plugin}` is not a valid WebAssembly component or module: {detail}"
            ),
            HostError::NoWorld { plugin } => write!(
                f,
                "plugin `{plugin}` is a core wasm module without the boot-server world's type: build \
                 it with the pxelab SDK (plugins/README.md), which embeds it, or pass a component"
            ),
            HostError::NotComponentizable { plugin, detail } => write!(
                f,
                "plugin `{plugin}` is a core wasm module that cannot be made a component: {detail}; \
                 build it with the pxelab SDK (plugins/README.md) or pass a component"
            ),
            HostError::InvalidComponent { plugin, detail } => write!(
                f,
                "plugin `{plugin}` is not a valid WebAssembly component: {detail}"
            ),
            HostError::CannotLoadCompiled { plugin, detail } => {
                write!(f, "cannot load the compiled plugin `{plugin}`: {detail}")
            }
            HostError::ForeignImport { plugin, import } => write!(
                f,
                "plugin `{plugin}` imports `{import}`, which pxelab does not provide: plugins may import only \
                 {package}/* (build for wasm32-unknown-unknown, not WASI)"
            ),
            HostError::UnsupportedContract { plugin, version } => write!(
                f,
                "plugin `{plugin}` was built against {package}@{version}, but this pxelab speaks \
                 {CONTRACT} (and still runs plugins built against {})",
                CONTRACTS_STILL_RUN.join(", ")
            ),
            HostError::MixedContracts { plugin } => write!(
                f,
                "plugin `{plugin}` imports more than one version of {package}: build it against {CONTRACT}"
            ),
            HostError::DoesNotFit {
                plugin,
                contract,
                detail,
            } => write!(
                f,
                "plugin `{plugin}` does not fit the {contract} contract: {detail}"
            ),
            HostError::NotExported {
                plugin,
                contract,
                detail,
            } => write!(
                f,
                "plugin `{plugin}` does not export the boot-server world of {contract}: {detail}"
            ),
            HostError::CannotInstantiate { plugin, detail } => {
                write!(f, "cannot instantiate plugin `{plugin}`: {detail}")
            }
        }
    }
}

impl std::error::Error for HostError {}

/// The process-wide wasmtime engine and the plugins compiled so far.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<State>,
    compiled: Mutex<BTreeMap<String, Arc<Plugin>>>,
    disk_cache: Option<cache::DiskCache>,
    pub limits: SandboxLimits,
}

impl PluginHost {
    /// A host that compiles every plugin in memory and touches no files.
    pub fn new(limits: SandboxLimits) -> Result<PluginHost, HostError> {
        PluginHost::with_cache(limits, None)
    }

    /// A host that keeps precompiled plugins in `cache_dir` across processes (`None`: no disk
    /// cache). See `cache::default_dir` for the usual location.
    pub fn with_cache(
        limits: SandboxLimits,
        cache_dir: Option<PathBuf>,
    ) -> Result<PluginHost, HostError> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .cranelift_nan_canonicalization(true)
            .wasm_relaxed_simd(false)
            .max_wasm_stack(1 << 20);
        let setup = |what: &'static str| {
            move |e: wasmtime::Error| HostError::Setup {
                what,
                detail: e.to_string(),
            }
        };
        let engine = Engine::new(&config).map_err(setup("start the WebAssembly engine"))?;
        let mut linker = Linker::new(&engine);
        BootServer::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)
            .map_err(setup("link the host interface"))?;
        bindings::v0_2::BootServer::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| {
            state
        })
        .map_err(setup("link the host interface of 0.2.0"))?;
        bindings::v0_1::BootServer::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| {
            state
        })
        .map_err(setup("link the host interface of 0.1.0"))?;
        let disk_cache = cache_dir.map(|dir| cache::DiskCache::new(dir, &engine));
        Ok(PluginHost {
            engine,
            linker,
            compiled: Mutex::new(BTreeMap::new()),
            disk_cache,
            limits,
        })
    }

    /// The on-disk compile cache's folder, if this host has one.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.disk_cache.as_ref().map(cache::DiskCache::dir)
    }

    /// Compiles `bytes` (once per distinct content) and checks it speaks our contract.
    /// `name` is how errors refer to it: a built-in name or a file path.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Arc<Plugin>, HostError> {
        let componentized;
        let bytes = if is_core_module(bytes) {
            componentized = componentize(name, bytes)?;
            &componentized[..]
        } else {
            bytes
        };
        let hash = cache::hex(&Sha256::digest(bytes));
        let mut compiled = self
            .compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(plugin) = compiled.get(&hash) {
            return Ok(plugin.clone());
        }
        let (component, loaded_from_cache) = self.compile(name, &hash, bytes)?;
        let version = check_imports(name, &self.engine, &component)?;
        let contract = match version {
            Version::Current => CONTRACT,
            Version::V0_2 => CONTRACTS_STILL_RUN[0],
            Version::V0_1 => CONTRACTS_STILL_RUN[1],
        };
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| HostError::DoesNotFit {
                    plugin: name.to_string(),
                    contract,
                    detail: format!("{e:#}"),
                })?;
        let not_exported = |e: wasmtime::Error| HostError::NotExported {
            plugin: name.to_string(),
            contract,
            detail: format!("{e:#}"),
        };
        let pre = match version {
            Version::Current => {
                Pre::Current(BootServerPre::new(instance_pre).map_err(not_exported)?)
            }
            Version::V0_2 => {
                Pre::V0_2(bindings::v0_2::BootServerPre::new(instance_pre).map_err(not_exported)?)
            }
            Version::V0_1 => {
                Pre::V0_1(bindings::v0_1::BootServerPre::new(instance_pre).map_err(not_exported)?)
            }
        };
        tracing::info!(
            plugin = name,
            sha256 = %hash,
            bytes = bytes.len(),
            loaded_from_cache,
            "plugin ready"
        );
        let plugin = Arc::new(Plugin {
            name: name.to_string(),
            hash: hash.clone(),
            loaded_from_cache,
            pre,
        });
        compiled.insert(hash, plugin.clone());
        Ok(plugin)
    }

    /// Machine code for `bytes`: from the disk cache when it has a usable entry, else compiled
    /// (and, with a disk cache, saved for the next process). True when it came from the cache.
    fn compile(
        &self,
        name: &str,
        hash: &str,
        bytes: &[u8],
    ) -> Result<(Component, bool), HostError> {
        let invalid = |e: wasmtime::Error| HostError::InvalidComponent {
            plugin: name.to_string(),
            detail: format!("{e:#}"),
        };
        let Some(disk_cache) = &self.disk_cache else {
            return Ok((Component::new(&self.engine, bytes).map_err(invalid)?, false));
        };
        if let Some(component) = disk_cache.load(&self.engine, hash) {
            return Ok((component, true));
        }
        let artifact = self.engine.precompile_component(bytes).map_err(invalid)?;
        disk_cache.store(hash, &artifact);
        // SAFETY: `artifact` was produced a moment ago by this engine's `precompile_component`
        // and lives in memory we own: exactly what `deserialize` requires.
        let component =
            unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(|e| {
                HostError::CannotLoadCompiled {
                    plugin: name.to_string(),
                    detail: format!("{e:#}"),
                }
            })?;
        Ok((component, false))
    }

    /// A service instance of `plugin` for one node. `stream` is the node's seeded random
    /// stream; `config` is passed to the plugin's `init` at every (re)start.
    pub fn instantiate(
        &self,
        plugin: &Arc<Plugin>,
        config: Vec<(String, String)>,
        stream: Stream,
    ) -> Result<WasmApp, HostError> {
        self.instantiate_with_files(plugin, config, GivenFiles::default(), stream)
    }

    /// `instantiate`, with `files` to serve: a 0.3.0 plugin reads them through `files` and
    /// `read-file`; a plugin of an older contract cannot see them.
    pub fn instantiate_with_files(
        &self,
        plugin: &Arc<Plugin>,
        config: Vec<(String, String)>,
        files: GivenFiles,
        stream: Stream,
    ) -> Result<WasmApp, HostError> {
        let state = State::new(stream, BTreeMap::new(), files.clone(), self.limits);
        let mut app = WasmApp {
            plugin: plugin.clone(),
            engine: self.engine.clone(),
            limits: self.limits,
            config,
            files,
            instance: None,
            last_cost: 0,
        };
        app.instance = Some(app.fresh_instance(state)?);
        Ok(app)
    }
}

/// A core wasm module (what `cargo build --target wasm32-unknown-unknown` writes), as opposed
/// to a component: the preamble's version field is 1 rather than the component layer.
fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// Turns a core module built with the SDK (wit-bindgen leaves the world's type in a custom
/// section) into a component, as the build of the built-in plugins does.
fn componentize(name: &str, module: &[u8]) -> Result<Vec<u8>, HostError> {
    let mut has_world = false;
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        match payload {
            Ok(wasmparser::Payload::CustomSection(section)) => {
                has_world |= section.name().starts_with("component-type");
            }
            Ok(_) => {}
            Err(e) => {
                return Err(HostError::NotWasm {
                    plugin: name.to_string(),
                    detail: e.to_string(),
                });
            }
        }
    }
    if !has_world {
        return Err(HostError::NoWorld {
            plugin: name.to_string(),
        });
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .and_then(|mut encoder| encoder.encode())
        .map_err(|e| HostError::NotComponentizable {
            plugin: name.to_string(),
            detail: format!("{e:#}"),
        })
}

/// Refuses components that import anything beyond our host interface (WASI, say), or a
/// version of it this host does not run, naming both versions; returns the version imported.
/// Every plugin imports `types` (its exports use `datagram`), so the imports tell the version.
fn check_imports(name: &str, engine: &Engine, component: &Component) -> Result<Version, HostError> {
    let (package, version) = CONTRACT
        .split_once('@')
        .expect("CONTRACT is package@version");
    let mut found = None;
    for (import, _) in component.component_type().imports(engine) {
        let Some(rest) = import
            .strip_prefix(package)
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            return Err(HostError::ForeignImport {
                plugin: name.to_string(),
                import: import.to_string(),
            });
        };
        let imported_version = rest.split_once('@').map(|(_, v)| v).unwrap_or("none");
        let this = if imported_version == version {
            Version::Current
        } else if imported_version == "0.2.0" {
            Version::V0_2
        } else if imported_version == "0.1.0" {
            Version::V0_1
        } else {
            return Err(HostError::UnsupportedContract {
                plugin: name.to_string(),
                version: imported_version.to_string(),
            });
        };
        if found.is_some_and(|other| other != this) {
            return Err(HostError::MixedContracts {
                plugin: name.to_string(),
            });
        }
        found = Some(this);
    }
    Ok(found.unwrap_or(Version::Current))
}

/// The per-instance data the host functions see.
struct State {
    now_ns: u64,
    own_ip: Ipv4Addr,
    stream: Stream,
    effects: Vec<Effect>,
    /// The node's store: survives restarts (moved into each new instance).
    store: BTreeMap<String, Vec<u8>>,
    /// The files the node serves, read before the run.
    files: GivenFiles,
    /// What the plugin reported through `panicked` in the current call.
    panic_message: Option<String>,
    limiter: Limiter,
    sandbox: SandboxLimits,
    /// Datagrams sent and timers set in the current call.
    sends: usize,
    timers: usize,
    logs: usize,
    /// The per-call limit the current call broke, if any: the reason for its trap.
    breach: Option<(Limit, u64)>,
}

/// Longer log texts are cut (with a note of the original length): a few lines of diagnostics.
pub const LOG_TEXT_BYTES_MAX: usize = 4096;
const STORE_KEY_BYTES_MAX: usize = 256;
const STORE_VALUE_BYTES_MAX: usize = 1 << 20;
const STORE_ENTRIES_MAX: usize = 4096;

/// The instance's memory cap, and whether it refused a growth in the current call: a denied
/// growth traps at once, and this flag, not the error's text, says the trap was the cap.
struct Limiter {
    memory_bytes_max: usize,
    denied_memory: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes_max || maximum.is_some_and(|maximum| desired > maximum) {
            self.denied_memory = true;
            return Err(wasmtime::Error::msg(format!(
                "memory growth to {desired} bytes denied"
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|maximum| desired <= maximum))
    }

    fn instances(&self) -> usize {
        4
    }

    fn tables(&self) -> usize {
        8
    }

    fn memories(&self) -> usize {
        4
    }
}

impl State {
    fn new(
        stream: Stream,
        store: BTreeMap<String, Vec<u8>>,
        files: GivenFiles,
        limits: SandboxLimits,
    ) -> State {
        State {
            now_ns: 0,
            own_ip: Ipv4Addr::UNSPECIFIED,
            stream,
            effects: Vec::new(),
            store,
            files,
            panic_message: None,
            limiter: Limiter {
                memory_bytes_max: limits.memory_bytes_max,
                denied_memory: false,
            },
            sandbox: limits,
            sends: 0,
            timers: 0,
            logs: 0,
            breach: None,
        }
    }

    /// Forgets what the previous call did: counts, a breach, a panic, a denied growth.
    fn begin_call(&mut self, cx: &AppContext) {
        self.now_ns = cx.now_ns;
        self.own_ip = cx.own_ip;
        self.panic_message = None;
        self.limiter.denied_memory = false;
        self.sends = 0;
        self.timers = 0;
        self.logs = 0;
        self.breach = None;
    }

    /// Records why the call must end and returns the error that traps the guest.
    fn breach(&mut self, limit: Limit, max: usize) -> wasmtime::Error {
        let max = max as u64;
        self.breach = Some((limit, max));
        wasmtime::Error::msg(CrashCause::LimitBroken { limit, max }.to_string())
    }

    /// Writes one log, event-log or work record, counted against the per-call limit.
    fn record(&mut self, effect: Effect) -> wasmtime::Result<()> {
        let logs_max = self.sandbox.logs_per_call_max;
        if self.logs >= logs_max {
            return Err(self.breach(Limit::LogRecords, logs_max));
        }
        self.logs += 1;
        self.effects.push(effect);
        Ok(())
    }

    fn send(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: Vec<u8>,
    ) -> wasmtime::Result<()> {
        let bytes_max = self.sandbox.datagram_bytes_max;
        if payload.len() > bytes_max {
            return Err(self.breach(Limit::DatagramBytes, bytes_max));
        }
        let sends_max = self.sandbox.sends_per_call_max;
        if self.sends >= sends_max {
            return Err(self.breach(Limit::Datagrams, sends_max));
        }
        self.sends += 1;
        self.effects
            .push(Effect::Send(Datagram { src, dst, payload }));
        Ok(())
    }

    fn set_timer(&mut self, delay_ns: u64, token: u64) -> wasmtime::Result<()> {
        let timers_max = self.sandbox.timers_per_call_max;
        if self.timers >= timers_max {
            return Err(self.breach(Limit::Timers, timers_max));
        }
        self.timers += 1;
        self.effects.push(Effect::SetTimer { delay_ns, token });
        Ok(())
    }

    fn log(&mut self, level: Level, msg: String) -> wasmtime::Result<()> {
        self.record(Effect::Log {
            level,
            text: bounded(msg),
        })
    }

    fn event_log(
        &mut self,
        source: String,
        level: Level,
        event_id: u32,
        text: String,
    ) -> wasmtime::Result<()> {
        self.record(Effect::WindowsEvent {
            source: bounded(source),
            level,
            event_id,
            text: bounded(text),
        })
    }

    fn store_set(&mut self, key: String, value: Vec<u8>) {
        let fits = key.len() <= STORE_KEY_BYTES_MAX
            && value.len() <= STORE_VALUE_BYTES_MAX
            && (self.store.contains_key(&key) || self.store.len() < STORE_ENTRIES_MAX);
        if fits {
            self.store.insert(key, value);
        } else if self.logs < self.sandbox.logs_per_call_max {
            // The warning counts as a log record; past the limit refusals go unreported
            // rather than trapping a call that only asked to store something.
            self.logs += 1;
            let key = bounded(key);
            self.effects.push(Effect::Log {
                level: Level::Warning,
                text: format!("store-set of `{key}` refused: over the store's limits"),
            });
        }
    }

    /// What ended a call that returned `error`: the host's own reasons first (a broken limit, a
    /// denied memory growth), then wasmtime's typed trap, wrapped in the panic the plugin
    /// reported before it.
    fn crash_cause(&self, error: &wasmtime::Error) -> CrashCause {
        if let Some((limit, max)) = self.breach {
            // The host trapped the call itself: the broken limit is the whole story.
            return CrashCause::LimitBroken { limit, max };
        }
        let cause = if self.limiter.denied_memory {
            CrashCause::MemoryLimit {
                bytes_max: self.sandbox.memory_bytes_max as u64,
            }
        } else {
            match error.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::OutOfFuel) => CrashCause::OutOfFuel {
                    fuel_per_call: self.sandbox.fuel_per_call,
                },
                Some(wasmtime::Trap::StackOverflow) => CrashCause::StackOverflow,
                Some(wasmtime::Trap::CannotEnterComponent) => CrashCause::Poisoned,
                Some(trap) => CrashCause::Trap {
                    code: format!("{trap:?}"),
                },
                None => CrashCause::Host {
                    message: format!("wasm trap: {error:#}"),
                },
            }
        };
        match &self.panic_message {
            Some(message) => CrashCause::Panic {
                message: message.clone(),
                trap: Box::new(cause),
            },
            None => cause,
        }
    }
}

/// `text` cut to `LOG_TEXT_BYTES_MAX` bytes at a character boundary, saying so.
fn bounded(mut text: String) -> String {
    if text.len() > LOG_TEXT_BYTES_MAX {
        let bytes = text.len();
        let mut end = LOG_TEXT_BYTES_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(&format!("... (cut from {bytes} bytes)"));
    }
    text
}

conversions_of_every_contract!();

fn socket(ip: u32, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(ip), port)
}

impl types::Host for State {}

impl bindings::current::pxelab::plugin::host::Host for State {
    host_functions_of_every_contract!();
    host_functions_since_0_2!();

    fn files(&mut self) -> Vec<types::FileInfo> {
        self.files
            .iter()
            .map(|(name, bytes)| types::FileInfo {
                name: name.clone(),
                size: bytes.len() as u64,
            })
            .collect()
    }

    fn read_file(&mut self, name: String, offset: u64, length: u32) -> Vec<u8> {
        let Some(bytes) = self.files.get(&name) else {
            return Vec::new();
        };
        let start = usize::try_from(offset).map_or(bytes.len(), |offset| offset.min(bytes.len()));
        let end = start.saturating_add(length as usize).min(bytes.len());
        bytes[start..end].to_vec()
    }
}

/// A live component instance, of whichever contract version the plugin was built against.
enum Exports {
    Current(BootServer),
    V0_2(bindings::v0_2::BootServer),
    V0_1(bindings::v0_1::BootServer),
}

impl Exports {
    fn init(
        &self,
        store: &mut Store<State>,
        config: &[(String, String)],
    ) -> wasmtime::Result<Result<(), Refusal>> {
        Ok(match self {
            Exports::Current(exports) => {
                exports
                    .call_init(store, config)?
                    .map_err(|refusal| Refusal {
                        key: refusal.key,
                        message: refusal.message,
                        service_specific: refusal.service_specific,
                    })
            }
            Exports::V0_2(exports) => exports
                .call_init(store, config)?
                .map_err(contract_v0_2::refusal),
            Exports::V0_1(exports) => exports
                .call_init(store, config)?
                .map_err(contract_v0_1::refusal),
        })
    }

    fn on_datagram(&self, store: &mut Store<State>, datagram: &Datagram) -> wasmtime::Result<()> {
        match self {
            Exports::Current(exports) => exports.call_on_datagram(store, &self::datagram(datagram)),
            Exports::V0_2(exports) => {
                exports.call_on_datagram(store, &contract_v0_2::datagram(datagram))
            }
            Exports::V0_1(exports) => {
                exports.call_on_datagram(store, &contract_v0_1::datagram(datagram))
            }
        }
    }

    fn on_timer(&self, store: &mut Store<State>, token: u64) -> wasmtime::Result<()> {
        match self {
            Exports::Current(exports) => exports.call_on_timer(store, token),
            Exports::V0_2(exports) => exports.call_on_timer(store, token),
            Exports::V0_1(exports) => exports.call_on_timer(store, token),
        }
    }
}

struct Instance {
    store: Store<State>,
    exports: Exports,
    /// A trapped instance cannot be entered again; only `reset` makes a new one.
    poisoned: bool,
}

/// One node's service: an engine `App` backed by a component instance.
pub struct WasmApp {
    plugin: Arc<Plugin>,
    engine: Engine,
    limits: SandboxLimits,
    config: Vec<(String, String)>,
    files: GivenFiles,
    instance: Option<Instance>,
    /// Fuel the last call consumed.
    last_cost: u64,
}

impl WasmApp {
    fn fresh_instance(&self, state: State) -> Result<Instance, HostError> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let cannot = |e: wasmtime::Error| HostError::CannotInstantiate {
            plugin: self.plugin.name.clone(),
            detail: format!("{e:#}"),
        };
        store.set_fuel(self.limits.fuel_per_call).map_err(cannot)?;
        let exports = match &self.plugin.pre {
            Pre::Current(pre) => Exports::Current(pre.instantiate(&mut store).map_err(cannot)?),
            Pre::V0_2(pre) => Exports::V0_2(pre.instantiate(&mut store).map_err(cannot)?),
            Pre::V0_1(pre) => Exports::V0_1(pre.instantiate(&mut store).map_err(cannot)?),
        };
        Ok(Instance {
            store,
            exports,
            poisoned: false,
        })
    }
}

impl App for WasmApp {
    fn handle(
        &mut self,
        cx: &AppContext,
        input: Input<'_>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let Some(instance) = self.instance.as_mut() else {
            return Err(Failure::Crashed(CrashCause::Host {
                message: "the service has no instance".to_string(),
            }));
        };
        if instance.poisoned {
            return Err(Failure::Crashed(CrashCause::Poisoned));
        }
        instance.store.data_mut().begin_call(cx);
        instance
            .store
            .set_fuel(self.limits.fuel_per_call)
            .map_err(|e| {
                Failure::Crashed(CrashCause::Host {
                    message: e.to_string(),
                })
            })?;
        let store = &mut instance.store;
        let result = match input {
            Input::Start => match instance.exports.init(store, &self.config) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(refusal)) => {
                    effects.append(&mut store.data_mut().effects);
                    return Err(Failure::Refused(refusal));
                }
                Err(trap) => Err(trap),
            },
            Input::Datagram(datagram) => instance.exports.on_datagram(store, datagram),
            Input::Timer(token) => instance.exports.on_timer(store, token),
        };
        effects.append(&mut store.data_mut().effects);
        self.last_cost = self
            .limits
            .fuel_per_call
            .saturating_sub(store.get_fuel().unwrap_or(0));
        result.map_err(|error| {
            instance.poisoned = true;
            Failure::Crashed(store.data().crash_cause(&error))
        })
    }

    fn reset(&mut self) -> Result<(), String> {
        let old = self.instance.take().ok_or("the service has no instance")?;
        let State { stream, store, .. } = old.store.into_data();
        let state = State::new(stream, store, self.files.clone(), self.limits);
        self.instance = Some(self.fresh_instance(state).map_err(|e| e.to_string())?);
        Ok(())
    }

    fn last_cost(&self) -> u64 {
        self.last_cost
    }

    fn clear_store(&mut self, prefix: &str) {
        if let Some(instance) = self.instance.as_mut() {
            instance
                .store
                .data_mut()
                .store
                .retain(|key, _| !key.starts_with(prefix));
        }
    }
}
