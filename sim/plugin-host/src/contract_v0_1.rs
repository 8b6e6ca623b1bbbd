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

conversions_of_every_contract!();

impl types::Host for State {}

impl host::Host for State {
    host_functions_of_every_contract!();
}
