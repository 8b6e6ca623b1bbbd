//! Plugins built against `pxelab:plugin@0.2.0` keep running: its host functions are the
//! current ones minus `files` and `read-file`, so such a plugin serves no given files (it
//! cannot ask for them); its types are the current ones under another package version.

use engine::Datagram;
use engine::Effect;
use engine::Level;
use engine::app::Refusal;

use crate::bindings::v0_2::pxelab::plugin::{host, types};
use crate::{State, socket};

pub(crate) fn refusal(refusal: types::Refusal) -> Refusal {
    Refusal {
        key: refusal.key,
        message: refusal.message,
        service_specific: refusal.service_specific,
    }
}

conversions_of_every_contract!();

impl types::Host for State {}

impl host::Host for State {
    host_functions_of_every_contract!();
    host_functions_since_0_2!();
}
