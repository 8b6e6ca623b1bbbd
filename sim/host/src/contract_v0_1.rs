//! Plugins built against `pxelab:plugin@0.1.0` keep running: its host functions are the
//! current ones minus `panicked` and the work spans, and its `init` refuses with a bare string,
//! which becomes a refusal naming no key and no service-specific code.

use engine::Datagram;
use engine::Level;
use engine::app::Refusal;

use crate::bindings::v0_1::pxelab::plugin::{host, types};
use crate::{State, socket};

/// A 0.1.0 `init` error: the plugin's message, with nothing read out of it.
pub(crate) fn refusal(message: String) -> Refusal {
    Refusal {
        key: None,
        message,
        service_specific: None,
    }
}

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

impl types::Host for State {}

impl host::Host for State {
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
}
