//! The wasm side of the SDK: an `Env` over the WIT imports, the one plugin instance, the panic
//! hook that reports a panic (`panicked`) before the trap, and the getrandom backend for dependencies.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::bindings::pxelab::plugin::host;
use crate::bindings::pxelab::plugin::types;
use crate::{Datagram, Env, Level, Plugin};

/// The `Env` of a plugin running in the simulator: every call goes to the host.
struct HostEnv;

fn to_wit_level(level: Level) -> types::Level {
    match level {
        Level::Debug => types::Level::Debug,
        Level::Info => types::Level::Info,
        Level::Warning => types::Level::Warning,
        Level::Error => types::Level::Error,
    }
}

impl Env for HostEnv {
    fn now_ns(&self) -> u64 {
        host::now_ns()
    }

    fn random_u64(&mut self) -> u64 {
        host::random_u64()
    }

    fn timing_draw(&mut self, value_ns: u64, nominal_ns: u64) -> u64 {
        host::timing_draw(value_ns, nominal_ns)
    }

    fn own_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(host::own_ip())
    }

    fn send(&mut self, datagram: Datagram) {
        host::send(&types::Datagram {
            src_ip: u32::from(*datagram.src.ip()),
            src_port: datagram.src.port(),
            dst_ip: u32::from(*datagram.dst.ip()),
            dst_port: datagram.dst.port(),
            payload: datagram.payload,
        });
    }

    fn set_timer(&mut self, delay_ns: u64, token: u64) {
        host::set_timer(delay_ns, token);
    }

    fn log(&mut self, level: Level, message: &str) {
        host::log(to_wit_level(level), message);
    }

    fn event_log(&mut self, source: &str, level: Level, event_id: u32, text: &str) {
        host::event_log(source, to_wit_level(level), event_id, text);
    }

    fn store_get(&mut self, key: &str) -> Option<Vec<u8>> {
        host::store_get(key)
    }

    fn store_set(&mut self, key: &str, value: &[u8]) {
        host::store_set(key, value);
    }

    fn work_begin(&mut self, id: u64, label: &str) {
        host::work_begin(id, label);
    }

    fn work_end(&mut self, id: u64) {
        host::work_end(id);
    }

    fn files(&mut self) -> Vec<(String, u64)> {
        host::files()
            .into_iter()
            .map(|file| (file.name, file.size))
            .collect()
    }

    fn read_file(&mut self, name: &str, offset: u64, length: u32) -> Vec<u8> {
        host::read_file(name, offset, length)
    }
}

/// A started plugin with its type erased, so the non-generic exports can reach it.
trait Instance {
    fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram);
    fn on_timer(&mut self, env: &mut dyn Env, token: u64);
}

impl<P: Plugin> Instance for P {
    fn on_datagram(&mut self, env: &mut dyn Env, datagram: Datagram) {
        Plugin::on_datagram(self, env, datagram);
    }

    fn on_timer(&mut self, env: &mut dyn Env, token: u64) {
        Plugin::on_timer(self, env, token);
    }
}

thread_local! {
    // wasm32-unknown-unknown is single-threaded: this is the one instance of the component.
    static INSTANCE: RefCell<Option<Box<dyn Instance>>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = if let Some(text) = info.payload().downcast_ref::<&str>() {
            (*text).to_string()
        } else if let Some(text) = info.payload().downcast_ref::<String>() {
            text.clone()
        } else {
            "(no message)".to_string()
        };
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".to_string());
        let text = format!("{message} at {location}");
        // The host records the panic as the crash's cause; the log line is for people.
        host::panicked(&text);
        host::log(types::Level::Error, &format!("panic: {text}"));
    }));
}

pub fn init<P: Plugin>(config: Vec<(String, String)>) -> Result<(), types::Refusal> {
    install_panic_hook();
    let plugin = crate::start::<P>(&mut HostEnv, config).map_err(|refusal| types::Refusal {
        key: refusal.key,
        message: refusal.message,
        service_specific: refusal.service_specific,
    })?;
    INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(plugin)));
    Ok(())
}

fn from_wit(datagram: types::Datagram) -> Datagram {
    Datagram {
        src: SocketAddrV4::new(Ipv4Addr::from(datagram.src_ip), datagram.src_port),
        dst: SocketAddrV4::new(Ipv4Addr::from(datagram.dst_ip), datagram.dst_port),
        payload: datagram.payload,
    }
}

pub fn on_datagram(datagram: types::Datagram) {
    INSTANCE.with(|slot| match slot.borrow_mut().as_mut() {
        Some(instance) => instance.on_datagram(&mut HostEnv, from_wit(datagram)),
        None => host::log(
            types::Level::Warning,
            "datagram before a successful init: dropped",
        ),
    });
}

pub fn on_timer(token: u64) {
    INSTANCE.with(|slot| match slot.borrow_mut().as_mut() {
        Some(instance) => instance.on_timer(&mut HostEnv, token),
        None => host::log(
            types::Level::Warning,
            "timer before a successful init: dropped",
        ),
    });
}

/// The getrandom 0.4 custom backend (plugins are built with `--cfg getrandom_backend="custom"`):
/// whatever randomness a dependency asks for comes from the node's seeded stream, so runs stay
/// reproducible. The symbol name and signature are getrandom's contract for this backend.
#[unsafe(no_mangle)]
unsafe extern "Rust" fn __getrandom_v03_custom(
    dest: *mut u8,
    len: usize,
) -> Result<(), getrandom::Error> {
    // SAFETY: getrandom passes a writable buffer of `len` bytes.
    let buffer = unsafe { core::slice::from_raw_parts_mut(dest, len) };
    for chunk in buffer.chunks_mut(8) {
        let bytes = host::random_u64().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    Ok(())
}
