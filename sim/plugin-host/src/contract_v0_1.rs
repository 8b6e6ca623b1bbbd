//! Plugins built against `pxelab:plugin@0.1.0` keep running: its host functions are the
//! current ones minus `panicked`, the work spans and the files, and its `init` refuses with a bare string,
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

level_of_every_contract!();

impl types::Host for State {}

impl host::Host for State {
    host_functions_of_every_contract!();
}
