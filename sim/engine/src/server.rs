//! A server host: one interface, an IPv4 address, a default gateway, and a service behind the
//! `App` boundary, with the Windows Service Control Manager's restart-on-failure policy.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::wire::EthernetAddress;

use crate::app::{App, AppContext, Datagram, Effect, Failure, Input};
use crate::frame::{self, UdpFrame};
use crate::log::Level;
use crate::world::Cx;

/// The most effects one call may produce; a service past it is treated as crashed, so a send
/// or timer storm ends that node instead of the run.
pub const EFFECTS_PER_CALL_MAX: usize = 4096;
/// TTL of packets a server sends (Windows default).
const TTL: u8 = 128;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub name: String,
    pub mac: EthernetAddress,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// The service's display name in Service Control Manager messages.
    pub service_name: String,
    /// Restart the service this long after a crash (Windows recovery action); `None`: stay down.
    pub restart_after_ns: Option<u64>,
}

enum Timer {
    Service { generation: u64, token: u64 },
    Restart,
}

pub struct ServerNode {
    pub config: ServerConfig,
    app: Box<dyn App>,
    up: bool,
    /// Bumped at every (re)start, so timers of a dead incarnation never fire into a new one.
    generation: u64,
    timers: BTreeMap<u64, Timer>,
    next_timer: u64,
    pub crashes: u32,
    /// Why the service last refused to start (its configuration), if it did.
    refusal: Option<String>,
    effects: Vec<Effect>,
}

impl ServerNode {
    pub fn new(config: ServerConfig, app: Box<dyn App>) -> ServerNode {
        ServerNode {
            config,
            app,
            up: false,
            generation: 0,
            timers: BTreeMap::new(),
            next_timer: 0,
            crashes: 0,
            refusal: None,
            effects: Vec::new(),
        }
    }

    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    pub(crate) fn start(&mut self, cx: &mut Cx) {
        self.generation += 1;
        self.up = true;
        if self.call(cx, Input::Start) {
            cx.state(format!("service {} running", self.config.service_name));
        }
    }

    pub(crate) fn on_frame(&mut self, cx: &mut Cx, frame_bytes: &[u8]) {
        let parsed = match frame::parse(frame_bytes) {
            Ok(parsed) => parsed,
            Err(error) => return cx.drop_frame(format!("malformed frame: {error}"), frame_bytes),
        };
        let (Some(ip), Some((udp, payload))) = (parsed.ipv4, parsed.udp) else {
            return cx.drop_frame("not UDP over IPv4", frame_bytes);
        };
        if ip.dst_addr != self.config.ip && ip.dst_addr != frame::BROADCAST_IP {
            return cx.drop_frame("not addressed to this host", frame_bytes);
        }
        if !self.up {
            return cx.drop_frame(
                format!("service {} is not running", self.config.service_name),
                frame_bytes,
            );
        }
        let datagram = Datagram {
            src: SocketAddrV4::new(ip.src_addr, udp.src_port),
            dst: SocketAddrV4::new(ip.dst_addr, udp.dst_port),
            payload: payload.to_vec(),
        };
        self.call(cx, Input::Datagram(&datagram));
    }

    pub(crate) fn on_timer(&mut self, cx: &mut Cx, token: u64) {
        match self.timers.remove(&token) {
            Some(Timer::Service { generation, token })
                if generation == self.generation && self.up =>
            {
                self.call(cx, Input::Timer(token));
            }
            Some(Timer::Service { .. }) | None => {}
            Some(Timer::Restart) => self.restart(cx),
        }
    }

    fn restart(&mut self, cx: &mut Cx) {
        if let Err(reason) = self.app.reset() {
            cx.crash(format!("could not restart the service: {reason}"));
            return;
        }
        cx.windows_event(
            "Service Control Manager",
            Level::Info,
            7036,
            format!(
                "The {} service entered the running state.",
                self.config.service_name
            ),
        );
        self.start(cx);
    }

    /// Runs one call and applies its effects; returns false when the service died in it.
    fn call(&mut self, cx: &mut Cx, input: Input<'_>) -> bool {
        let context = AppContext {
            now_ns: cx.now_ns(),
            own_ip: self.config.ip,
        };
        let mut effects = std::mem::take(&mut self.effects);
        effects.clear();
        let mut result = self.app.handle(&context, input, &mut effects);
        if result.is_ok() && effects.len() > EFFECTS_PER_CALL_MAX {
            result = Err(Failure::Crashed {
                reason: format!(
                    "{} sends/timers/logs in one call (limit {EFFECTS_PER_CALL_MAX})",
                    effects.len()
                ),
            });
            effects.truncate(EFFECTS_PER_CALL_MAX);
        }
        for effect in effects.drain(..) {
            self.apply(cx, effect);
        }
        self.effects = effects;
        match result {
            Ok(()) => true,
            Err(failure) => {
                self.fail(cx, failure);
                false
            }
        }
    }

    fn apply(&mut self, cx: &mut Cx, effect: Effect) {
        match effect {
            Effect::Send(datagram) => self.send(cx, datagram),
            Effect::SetTimer { delay_ns, token } => {
                let id = self.next_timer;
                self.next_timer += 1;
                self.timers.insert(
                    id,
                    Timer::Service {
                        generation: self.generation,
                        token,
                    },
                );
                cx.set_timer(delay_ns, id);
            }
            Effect::Log { level, text } => cx.log(level, text),
            Effect::WindowsEvent {
                source,
                level,
                event_id,
                text,
            } => cx.windows_event(&source, level, event_id, text),
        }
    }

    fn send(&mut self, cx: &mut Cx, datagram: Datagram) {
        let src_ip = *datagram.src.ip();
        if src_ip != self.config.ip && !src_ip.is_unspecified() {
            return cx.log(
                Level::Warning,
                format!("dropped a datagram with a foreign source address {src_ip}"),
            );
        }
        let dst_ip = *datagram.dst.ip();
        let dst_mac = if dst_ip == frame::BROADCAST_IP {
            Some(EthernetAddress::BROADCAST)
        } else if same_subnet(dst_ip, self.config.ip, self.config.prefix_len) {
            cx.resolve(0, dst_ip)
        } else {
            self.config
                .gateway
                .and_then(|gateway| cx.resolve(0, gateway))
        };
        let Some(dst_mac) = dst_mac else {
            return cx.log(
                Level::Warning,
                format!("no route or neighbor for {dst_ip}; datagram dropped"),
            );
        };
        let udp = UdpFrame {
            src_mac: self.config.mac,
            dst_mac,
            src_ip: self.config.ip,
            dst_ip,
            src_port: datagram.src.port(),
            dst_port: datagram.dst.port(),
            ttl: TTL,
            payload: &datagram.payload,
        };
        match udp.to_bytes() {
            Ok(bytes) => cx.send(0, bytes),
            Err(error) => cx.log(
                Level::Warning,
                format!("datagram to {} dropped: {error}", datagram.dst),
            ),
        }
    }

    fn fail(&mut self, cx: &mut Cx, failure: Failure) {
        self.up = false;
        self.generation += 1;
        self.crashes += 1;
        cx.crash(failure.to_string());
        if let Failure::Refused { reason } = &failure {
            self.refusal = Some(reason.clone());
        }
        let name = &self.config.service_name;
        let times = self.crashes;
        match self.config.restart_after_ns {
            Some(after_ns) => {
                let after_ms = after_ns / 1_000_000;
                cx.windows_event(
                    "Service Control Manager",
                    Level::Error,
                    7031,
                    format!(
                        "The {name} service terminated unexpectedly. It has done this {times} time(s). \
                         The following corrective action will be taken in {after_ms} milliseconds: Restart the service."
                    ),
                );
                let id = self.next_timer;
                self.next_timer += 1;
                self.timers.insert(id, Timer::Restart);
                cx.set_timer(after_ns, id);
            }
            None => cx.windows_event(
                "Service Control Manager",
                Level::Error,
                7034,
                format!(
                    "The {name} service terminated unexpectedly. It has done this {times} time(s)."
                ),
            ),
        }
    }
}

pub fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    let mask = prefix_mask(prefix_len);
    u32::from(a) & mask == u32::from(b) & mask
}

pub fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        len => u32::MAX << (32 - u32::from(len.min(32))),
    }
}
