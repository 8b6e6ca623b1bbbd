//! A bridge: the port of a LAN where something outside the simulation is attached (in
//! `pxelab live`, a TAP device of the host with real machines behind it). It runs no protocol
//! of its own and answers nothing: frames the driver injects (`World::inject`) leave from it onto
//! the LAN unaltered, and every frame the LAN delivers to it, ARP included, waits in its outbox
//! until the driver takes it (`World::drain`). The engine does no IO; the driver does, and a
//! run driven by the same injections at the same virtual times is the same run.

use std::rc::Rc;

use crate::world::Cx;

#[derive(Default)]
pub struct Bridge {
    /// Frames delivered to the bridge and not drained yet, with their virtual arrival times.
    outbox: Vec<(u64, Rc<[u8]>)>,
}

impl Bridge {
    pub fn new() -> Bridge {
        Bridge::default()
    }

    pub(crate) fn inject(&mut self, cx: &mut Cx, frame: Vec<u8>) {
        // The frame is the real machine's: its IPv4 identification stays as it was sent.
        cx.send_keeping_ident(0, frame);
    }

    pub(crate) fn on_frame(&mut self, cx: &mut Cx, frame: &Rc<[u8]>) {
        self.outbox.push((cx.now_ns(), frame.clone()));
    }

    /// The frames delivered since the last call, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<(u64, Rc<[u8]>)> {
        std::mem::take(&mut self.outbox)
    }
}
