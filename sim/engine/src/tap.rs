//! A tap: a host on a LAN that sends scripted frames at given times and keeps every frame it
//! receives. Tests use it to put exact bytes on the wire (malformed ones included) and to see
//! exactly what a router or server answered.

use std::rc::Rc;

use crate::world::Cx;

pub struct Tap {
    /// `(time_ns, frame)` to send, in any order.
    script: Vec<(u64, Vec<u8>)>,
    /// Every frame delivered to the tap, with its arrival time.
    pub received: Vec<(u64, Rc<[u8]>)>,
}

impl Tap {
    pub fn new(script: Vec<(u64, Vec<u8>)>) -> Tap {
        Tap {
            script,
            received: Vec::new(),
        }
    }

    pub(crate) fn start(&mut self, cx: &mut Cx) {
        for (index, (at_ns, _)) in self.script.iter().enumerate() {
            cx.set_timer(at_ns.saturating_sub(cx.now_ns()), index as u64);
        }
    }

    pub(crate) fn on_timer(&mut self, cx: &mut Cx, token: u64) {
        if let Some((_, frame)) = self.script.get(token as usize) {
            cx.send(0, frame.clone());
        }
    }

    pub(crate) fn on_frame(&mut self, cx: &mut Cx, frame: &Rc<[u8]>) {
        self.received.push((cx.now_ns(), frame.clone()));
    }
}
