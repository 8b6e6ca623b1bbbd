//! Runs boot-server plugins: WebAssembly components written against `plugins/wit`, compiled once
//! per process by wasmtime (or loaded precompiled from the on-disk cache), instantiated per
//! simulated node, and called with a fuel budget, a memory cap and per-call limits on sends,
//! timers, log records and datagram size. A trap or a broken limit becomes a
//! `Failure::Crashed` of that node; the host never panics on what a plugin does. Settings
//! follow the determinism rules: NaN canonicalization, no threads, no relaxed SIMD, no clocks,
//! no WASI.

pub mod cache;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use engine::{App, AppContext, Datagram, Effect, Failure, Input, Level, Stream};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../plugins/wit",
        world: "boot-server",
        // These imports end the call when a plugin breaks a per-call limit: the trap stops a
        // storm at its first excess datagram, timer or record, not after the plugin's loop.
        imports: {
            "pxelab:plugin/host.send": trappable,
            "pxelab:plugin/host.set-timer": trappable,
            "pxelab:plugin/host.log": trappable,
            "pxelab:plugin/host.event-log": trappable,
        },
    });
}

use bindings::pxelab::plugin::types;
use bindings::{BootServer, BootServerPre};

/// The contract version this host speaks; a component importing any other is refused.
pub const CONTRACT: &str = "pxelab:plugin@0.1.0";

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
    pre: BootServerPre<State>,
}

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
    pub fn new(limits: SandboxLimits) -> Result<PluginHost, String> {
        PluginHost::with_cache(limits, None)
    }

    /// A host that keeps precompiled plugins in `cache_dir` across processes (`None`: no disk
    /// cache). See `cache::default_dir` for the usual location.
    pub fn with_cache(
        limits: SandboxLimits,
        cache_dir: Option<PathBuf>,
    ) -> Result<PluginHost, String> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .cranelift_nan_canonicalization(true)
            .wasm_relaxed_simd(false)
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&config)
            .map_err(|e| format!("cannot start the WebAssembly engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        BootServer::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)
            .map_err(|e| format!("cannot link the host interface: {e}"))?;
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
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Arc<Plugin>, String> {
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
        check_imports(name, &self.engine, &component)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("plugin `{name}` does not fit the {CONTRACT} contract: {e:#}"))?;
        let pre = BootServerPre::new(instance_pre).map_err(|e| {
            format!("plugin `{name}` does not export the boot-server world of {CONTRACT}: {e:#}")
        })?;
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
    fn compile(&self, name: &str, hash: &str, bytes: &[u8]) -> Result<(Component, bool), String> {
        let invalid = |e: wasmtime::Error| {
            format!("plugin `{name}` is not a valid WebAssembly component: {e:#}")
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
        let component = unsafe { Component::deserialize(&self.engine, &artifact) }
            .map_err(|e| format!("cannot load the compiled plugin `{name}`: {e:#}"))?;
        Ok((component, false))
    }

    /// A service instance of `plugin` for one node. `stream` is the node's seeded random
    /// stream; `config` is passed to the plugin's `init` at every (re)start.
    pub fn instantiate(
        &self,
        plugin: &Arc<Plugin>,
        config: Vec<(String, String)>,
        stream: Stream,
    ) -> Result<WasmApp, String> {
        let state = State::new(stream, BTreeMap::new(), self.limits);
        let mut app = WasmApp {
            plugin: plugin.clone(),
            engine: self.engine.clone(),
            limits: self.limits,
            config,
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
fn componentize(name: &str, module: &[u8]) -> Result<Vec<u8>, String> {
    let mut has_world = false;
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        match payload {
            Ok(wasmparser::Payload::CustomSection(section)) => {
                has_world |= section.name().starts_with("component-type");
            }
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "plugin `{name}` is not a valid WebAssembly component or module: {e}"
                ));
            }
        }
    }
    if !has_world {
        return Err(format!(
            "plugin `{name}` is a core wasm module without the boot-server world's type: build \
             it with the pxelab SDK (plugins/README.md), which embeds it, or pass a component"
        ));
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .and_then(|mut encoder| encoder.encode())
        .map_err(|e| {
            format!(
                "plugin `{name}` is a core wasm module that cannot be made a component: {e:#}; \
                 build it with the pxelab SDK (plugins/README.md) or pass a component"
            )
        })
}

/// Refuses components that import anything beyond our host interface (WASI, say), or an
/// incompatible version of it, naming both versions.
fn check_imports(name: &str, engine: &Engine, component: &Component) -> Result<(), String> {
    let (package, version) = CONTRACT
        .split_once('@')
        .expect("CONTRACT is package@version");
    for (import, _) in component.component_type().imports(engine) {
        let Some(rest) = import
            .strip_prefix(package)
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            return Err(format!(
                "plugin `{name}` imports `{import}`, which pxelab does not provide: plugins may import only \
                 {package}/* (build for wasm32-unknown-unknown, not WASI)"
            ));
        };
        let imported_version = rest.split_once('@').map(|(_, v)| v).unwrap_or("none");
        if imported_version != version {
            return Err(format!(
                "plugin `{name}` was built against {package}@{imported_version}, but this pxelab speaks {CONTRACT}"
            ));
        }
    }
    Ok(())
}

/// The per-instance data the host functions see.
struct State {
    now_ns: u64,
    own_ip: Ipv4Addr,
    stream: Stream,
    effects: Vec<Effect>,
    /// The node's store: survives restarts (moved into each new instance).
    store: BTreeMap<String, Vec<u8>>,
    last_panic: Option<String>,
    limits: StoreLimits,
    sandbox: SandboxLimits,
    /// Datagrams sent and timers set in the current call.
    sends: usize,
    timers: usize,
    logs: usize,
    /// The per-call limit the current call broke, if any: the reason for its trap.
    breach: Option<String>,
}

/// Longer log texts are cut (with a note of the original length): a few lines of diagnostics.
pub const LOG_TEXT_BYTES_MAX: usize = 4096;
const STORE_KEY_BYTES_MAX: usize = 256;
const STORE_VALUE_BYTES_MAX: usize = 1 << 20;
const STORE_ENTRIES_MAX: usize = 4096;

impl State {
    fn new(stream: Stream, store: BTreeMap<String, Vec<u8>>, limits: SandboxLimits) -> State {
        State {
            now_ns: 0,
            own_ip: Ipv4Addr::UNSPECIFIED,
            stream,
            effects: Vec::new(),
            store,
            last_panic: None,
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes_max)
                .instances(4)
                .memories(4)
                .tables(8)
                .trap_on_grow_failure(true)
                .build(),
            sandbox: limits,
            sends: 0,
            timers: 0,
            logs: 0,
            breach: None,
        }
    }

    /// Records why the call must end and returns the error that traps the guest.
    fn breach(&mut self, reason: String) -> wasmtime::Error {
        let error = wasmtime::Error::msg(reason.clone());
        self.breach = Some(reason);
        error
    }

    /// Counts one log or event-log record against the per-call limit.
    fn count_log(&mut self) -> wasmtime::Result<()> {
        let logs_max = self.sandbox.logs_per_call_max;
        if self.logs >= logs_max {
            return Err(self.breach(format!(
                "wrote more than {logs_max} log records in one call"
            )));
        }
        self.logs += 1;
        Ok(())
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

fn level(level: types::Level) -> Level {
    match level {
        types::Level::Debug => Level::Debug,
        types::Level::Info => Level::Info,
        types::Level::Warning => Level::Warning,
        types::Level::Error => Level::Error,
    }
}

impl types::Host for State {}

impl bindings::pxelab::plugin::host::Host for State {
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
        let bytes_max = self.sandbox.datagram_bytes_max;
        if d.payload.len() > bytes_max {
            return Err(self.breach(format!(
                "datagram of {} bytes is larger than one Ethernet frame allows ({bytes_max})",
                d.payload.len()
            )));
        }
        let sends_max = self.sandbox.sends_per_call_max;
        if self.sends >= sends_max {
            return Err(self.breach(format!("sent more than {sends_max} datagrams in one call")));
        }
        self.sends += 1;
        self.effects.push(Effect::Send(Datagram {
            src: SocketAddrV4::new(Ipv4Addr::from(d.src_ip), d.src_port),
            dst: SocketAddrV4::new(Ipv4Addr::from(d.dst_ip), d.dst_port),
            payload: d.payload,
        }));
        Ok(())
    }

    fn set_timer(&mut self, delay_ns: u64, token: u64) -> wasmtime::Result<()> {
        let timers_max = self.sandbox.timers_per_call_max;
        if self.timers >= timers_max {
            return Err(self.breach(format!("set more than {timers_max} timers in one call")));
        }
        self.timers += 1;
        self.effects.push(Effect::SetTimer { delay_ns, token });
        Ok(())
    }

    fn log(&mut self, level_: types::Level, msg: String) -> wasmtime::Result<()> {
        self.count_log()?;
        let msg = bounded(msg);
        if level_ == types::Level::Error && msg.starts_with("panic") {
            self.last_panic = Some(msg.clone());
        }
        self.effects.push(Effect::Log {
            level: level(level_),
            text: msg,
        });
        Ok(())
    }

    fn event_log(
        &mut self,
        source: String,
        level_: types::Level,
        event_id: u32,
        text: String,
    ) -> wasmtime::Result<()> {
        self.count_log()?;
        self.effects.push(Effect::WindowsEvent {
            source: bounded(source),
            level: level(level_),
            event_id,
            text: bounded(text),
        });
        Ok(())
    }

    fn store_get(&mut self, key: String) -> Option<Vec<u8>> {
        self.store.get(&key).cloned()
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
}

struct Instance {
    store: Store<State>,
    bindings: BootServer,
    /// A trapped instance cannot be entered again; only `reset` makes a new one.
    poisoned: bool,
}

/// One node's service: an engine `App` backed by a component instance.
pub struct WasmApp {
    plugin: Arc<Plugin>,
    engine: Engine,
    limits: SandboxLimits,
    config: Vec<(String, String)>,
    instance: Option<Instance>,
    /// Fuel the last call consumed.
    last_cost: u64,
}

impl WasmApp {
    fn fresh_instance(&self, state: State) -> Result<Instance, String> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store
            .set_fuel(self.limits.fuel_per_call)
            .map_err(|e| e.to_string())?;
        let bindings = self
            .plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| format!("cannot instantiate plugin `{}`: {e:#}", self.plugin.name))?;
        Ok(Instance {
            store,
            bindings,
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
            return Err(Failure::Crashed(engine::app::CrashCause::Host { message: "the service has no instance".to_string() }));
        };
        if instance.poisoned {
            return Err(Failure::Crashed(engine::app::CrashCause::Poisoned));
        }
        let state = instance.store.data_mut();
        state.now_ns = cx.now_ns;
        state.own_ip = cx.own_ip;
        state.last_panic = None;
        state.sends = 0;
        state.timers = 0;
        state.logs = 0;
        state.breach = None;
        instance
            .store
            .set_fuel(self.limits.fuel_per_call)
            .map_err(|e| Failure::Crashed(engine::app::CrashCause::Host { message: e.to_string() }))?;
        let store = &mut instance.store;
        let result = match input {
            Input::Start => match instance.bindings.call_init(&mut *store, &self.config) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(message)) => {
                    effects.append(&mut store.data_mut().effects);
                    return Err(Failure::Refused(engine::app::Refusal { key: None, message, service_specific: None }));
                }
                Err(trap) => Err(trap),
            },
            Input::Datagram(datagram) => {
                let datagram = types::Datagram {
                    src_ip: u32::from(*datagram.src.ip()),
                    src_port: datagram.src.port(),
                    dst_ip: u32::from(*datagram.dst.ip()),
                    dst_port: datagram.dst.port(),
                    payload: datagram.payload.clone(),
                };
                instance.bindings.call_on_datagram(&mut *store, &datagram)
            }
            Input::Timer(token) => instance.bindings.call_on_timer(&mut *store, token),
        };
        effects.append(&mut store.data_mut().effects);
        self.last_cost = self
            .limits
            .fuel_per_call
            .saturating_sub(store.get_fuel().unwrap_or(0));
        result.map_err(|error| {
            instance.poisoned = true;
            let state = store.data();
            let reason = match &state.breach {
                // The host trapped the call itself: the broken limit is the whole story.
                Some(breach) => breach.clone(),
                None => describe_trap(&error, self.limits, state.last_panic.as_deref()),
            };
            Failure::Crashed(engine::app::CrashCause::Host { message: reason })
        })
    }

    fn reset(&mut self) -> Result<(), String> {
        let old = self.instance.take().ok_or("the service has no instance")?;
        let State { stream, store, .. } = old.store.into_data();
        self.instance = Some(self.fresh_instance(State::new(stream, store, self.limits))?);
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

fn describe_trap(
    error: &wasmtime::Error,
    limits: SandboxLimits,
    last_panic: Option<&str>,
) -> String {
    let cause = match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => {
            format!(
                "used up its fuel budget of {} units in one call (an endless loop?)",
                limits.fuel_per_call
            )
        }
        Some(wasmtime::Trap::StackOverflow) => "overflowed its stack".to_string(),
        Some(trap) => trap.to_string(),
        None if format!("{error:#}").contains("forcing trap when growing memory") => {
            format!(
                "went over its memory limit of {} MiB",
                limits.memory_bytes_max >> 20
            )
        }
        None => format!("wasm trap: {error}"),
    };
    match last_panic {
        Some(panic) => format!("{cause}; {panic}"),
        None => cause,
    }
}
