//! A tap: a host on a LAN that sends scripted frames at given times and keeps every frame it
//! receives. Tests use it to put exact bytes on the wire (malformed ones included) and to see
//! exactly what a router or server answered. A ticking tap does nothing but re-arm a timer: the
//! no-op node of the bare event-loop benchmark.

use std::rc::Rc;

use crate::world::Cx;

pub struct Scripted {
    /// `(time_ns, frame)` to send, in any order.
    script: Vec<(u64, Vec<u8>)>,
    /// Every frame delivered to the tap, with its arrival time.
    pub received: Vec<(u64, Rc<[u8]>)>,
    /// `(period_ns, ticks left)` of a ticking tap.
    ticks: Option<(u64, u64)>,
}

/// The timer token of a ticking tap (beyond any script index).
const TICK: u64 = u64::MAX;

impl Scripted {
    pub fn new(script: Vec<(u64, Vec<u8>)>) -> Scripted {
        Scripted {
            script,
            received: Vec::new(),
            ticks: None,
        }
    }

    /// A tap that only fires a timer every `period_ns`, `count` times, and sends nothing.
    pub fn ticker(period_ns: u64, count: u64) -> Scripted {
        Scripted {
            ticks: Some((period_ns.max(1), count)),
            ..Scripted::new(Vec::new())
        }
    }

    pub(crate) fn start(&mut self, cx: &mut Cx) {
        if let Some((period_ns, count)) = self.ticks
            && count > 0
        {
            cx.set_timer(period_ns, TICK);
        }
        for (index, (at_ns, _)) in self.script.iter().enumerate() {
            cx.set_timer(at_ns.saturating_sub(cx.now_ns()), index as u64);
        }
    }

    pub(crate) fn on_timer(&mut self, cx: &mut Cx, token: u64) {
        if token == TICK {
            if let Some((period_ns, left)) = self.ticks.as_mut() {
                *left -= 1;
                if *left > 0 {
                    cx.set_timer(*period_ns, TICK);
                }
            }
            return;
        }
        if let Some((_, frame)) = self.script.get(token as usize) {
            cx.send(0, frame.clone());
        }
    }

    pub(crate) fn on_frame(&mut self, cx: &mut Cx, frame: &Rc<[u8]>) {
        self.received.push((cx.now_ns(), frame.clone()));
    }
}
