//! A server host: one interface, an IPv4 address, a default gateway, and a service behind the
//! `App` boundary, with the Windows Service Control Manager's restart-on-failure policy.
//!
//! The service runs on one simulated CPU. Each call costs the work it did (the plugin's fuel)
//! times the node's CPU speed: its datagrams leave and its timers start when the call ends, and
//! inputs that arrive while the CPU is busy wait their turn, in arrival order.
//!
//! The node's store has two parts that outlive a service restart: the registry (every key) and
//! the WMI repository (keys under `wmi/`), which only a WMI restart or a reboot clears.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::wire::EthernetAddress;

use crate::app::{App, AppContext, CrashCause, Datagram, Effect, Failure, Input, Limit};
use crate::event::{Crash, DropReason, Layer, ServiceEvent};
use crate::frame::{self, UdpFrame};
use crate::log::{Kind, Level};
use crate::subnet;
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
    /// Simulated CPU time per unit of plugin work (wasm fuel), in picoseconds; 0: free.
    pub cpu_ps_per_unit: u64,
    /// UDP ports the host firewall drops before the service sees them.
    pub blocked_udp_ports: Vec<u16>,
}

/// Keys under this prefix belong to the WMI repository: a WMI restart or a reboot clears them.
pub const WMI_PREFIX: &str = "wmi/";

enum Timer {
    Service {
        generation: u64,
        token: u64,
    },
    Restart {
        generation: u64,
    },
    /// The CPU finished a call: run the next waiting input.
    Cpu {
        generation: u64,
    },
}

/// An input that arrived while the CPU was busy.
enum Waiting {
    Datagram(Datagram),
    Timer(u64),
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
    /// When the CPU is done with the call in progress.
    busy_until_ns: u64,
    waiting: VecDeque<Waiting>,
    /// A `Timer::Cpu` is queued for the end of the current call.
    cpu_wake_pending: bool,
    /// Total simulated CPU time the service used.
    pub cpu_ns: u64,
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
            busy_until_ns: 0,
            waiting: VecDeque::new(),
            cpu_wake_pending: false,
            cpu_ns: 0,
        }
    }

    /// Why the service refused its very first start (its configuration), if it did.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    pub(crate) fn start(&mut self, cx: &mut Cx) {
        if self.begin(cx) {
            cx.event(Kind::Service(ServiceEvent::Running {
                service: self.config.service_name.clone(),
            }));
        }
    }

    /// A new incarnation of the service: its start call; false when it refused or died in it.
    fn begin(&mut self, cx: &mut Cx) -> bool {
        self.generation += 1;
        self.up = true;
        self.waiting.clear();
        self.call(cx, Input::Start)
    }

    /// The fault timeline restarts the service (an administrator's `Restart-Service`).
    pub(crate) fn restart_service(&mut self, cx: &mut Cx) {
        let name = self.config.service_name.clone();
        if self.up {
            self.stop_service();
            cx.windows_event(
                "Service Control Manager",
                Level::Info,
                7036,
                format!("The {name} service entered the stopped state."),
            );
        }
        self.restart(cx);
    }

    /// The fault timeline restarts WMI: the repository part of the store is rebuilt empty.
    pub(crate) fn restart_wmi(&mut self, cx: &mut Cx) {
        self.app.clear_store(WMI_PREFIX);
        for state in ["stopped", "running"] {
            cx.windows_event(
                "Service Control Manager",
                Level::Info,
                7036,
                format!(
                    "The Windows Management Instrumentation service entered the {state} state."
                ),
            );
        }
    }

    /// The whole server restarts: WMI comes up fresh, then the service starts.
    pub(crate) fn reboot(&mut self, cx: &mut Cx) {
        self.stop_service();
        self.timers.clear();
        self.app.clear_store(WMI_PREFIX);
        cx.event(Kind::Service(ServiceEvent::Rebooted));
        if self.fresh_instance(cx, false) {
            self.start(cx);
        }
    }

    /// Power lost (fault timeline): the service stops where it is; pending restarts are void.
    pub(crate) fn power_off(&mut self) {
        self.stop_service();
        self.timers.clear();
    }

    /// Power back: the machine boots with a fresh WMI repository and starts the service.
    pub(crate) fn power_on(&mut self, cx: &mut Cx) {
        self.app.clear_store(WMI_PREFIX);
        if self.fresh_instance(cx, false) {
            self.start(cx);
        }
    }

    /// A fresh instance of the plugin for the next start; false (and the crash recorded, with
    /// whether a restart was attempted) when none could be made.
    fn fresh_instance(&mut self, cx: &mut Cx, restart: bool) -> bool {
        match self.app.reset() {
            Ok(()) => true,
            Err(message) => {
                cx.event(Kind::Crash(Box::new(Crash::NoInstance {
                    restart,
                    message,
                })));
                false
            }
        }
    }

    fn stop_service(&mut self) {
        self.up = false;
        self.generation += 1;
        self.waiting.clear();
        self.busy_until_ns = 0;
        self.cpu_wake_pending = false;
    }

    pub(crate) fn on_frame(&mut self, cx: &mut Cx, frame_bytes: &[u8]) {
        let parsed = match frame::parse(frame_bytes) {
            Ok(parsed) => parsed,
            Err(error) => {
                return cx.drop_frame(DropReason::malformed(Layer::Frame, error), frame_bytes);
            }
        };
        let (Some(ip), Some((udp, payload))) = (parsed.ipv4, parsed.udp) else {
            return cx.drop_frame(DropReason::NotUdpIpv4, frame_bytes);
        };
        if ip.dst_addr != self.config.ip && ip.dst_addr != frame::BROADCAST_IP {
            return cx.drop_frame(DropReason::NotForHost, frame_bytes);
        }
        if self.config.blocked_udp_ports.contains(&udp.dst_port) {
            return cx.drop_frame(DropReason::Firewall, frame_bytes);
        }
        if !self.up {
            return cx.drop_frame(
                DropReason::ServiceNotRunning {
                    service: self.config.service_name.clone(),
                },
                frame_bytes,
            );
        }
        let datagram = Datagram {
            src: SocketAddrV4::new(ip.src_addr, udp.src_port),
            dst: SocketAddrV4::new(ip.dst_addr, udp.dst_port),
            payload: payload.to_vec(),
        };
        self.input(cx, Waiting::Datagram(datagram));
    }

    pub(crate) fn on_timer(&mut self, cx: &mut Cx, token: u64) {
        match self.timers.remove(&token) {
            Some(Timer::Service { generation, token })
                if generation == self.generation && self.up =>
            {
                self.input(cx, Waiting::Timer(token));
            }
            Some(Timer::Restart { generation }) if generation == self.generation => {
                self.restart(cx)
            }
            Some(Timer::Cpu { generation }) if generation == self.generation && self.up => {
                self.cpu_wake_pending = false;
                self.run_waiting(cx)
            }
            Some(Timer::Service { .. } | Timer::Restart { .. } | Timer::Cpu { .. }) | None => {}
        }
    }

    /// Hands an input to the service now, or queues it behind the call the CPU is busy with.
    fn input(&mut self, cx: &mut Cx, input: Waiting) {
        if cx.now_ns() < self.busy_until_ns || !self.waiting.is_empty() {
            self.waiting.push_back(input);
            self.wake_cpu(cx);
            return;
        }
        self.run(cx, input);
    }

    fn run(&mut self, cx: &mut Cx, input: Waiting) {
        match input {
            Waiting::Datagram(datagram) => self.call(cx, Input::Datagram(&datagram)),
            Waiting::Timer(token) => self.call(cx, Input::Timer(token)),
        };
        if self.up && !self.waiting.is_empty() {
            self.wake_cpu(cx);
        }
    }

    fn run_waiting(&mut self, cx: &mut Cx) {
        if cx.now_ns() < self.busy_until_ns {
            return self.wake_cpu(cx);
        }
        if let Some(input) = self.waiting.pop_front() {
            self.run(cx, input);
        }
    }

    /// Makes sure the CPU comes back for the waiting inputs when the current call ends.
    fn wake_cpu(&mut self, cx: &mut Cx) {
        if self.cpu_wake_pending {
            return;
        }
        self.cpu_wake_pending = true;
        let delay_ns = self.busy_until_ns.saturating_sub(cx.now_ns());
        let generation = self.generation;
        self.set_timer(cx, delay_ns, Timer::Cpu { generation });
    }

    /// Arms a timer of this incarnation of the service, `delay_ns` from now.
    fn set_timer(&mut self, cx: &mut Cx, delay_ns: u64, timer: Timer) {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timers.insert(id, timer);
        cx.set_timer(delay_ns, id);
    }

    /// The Service Control Manager starts the service again (recovery action or fault timeline).
    fn restart(&mut self, cx: &mut Cx) {
        if !self.fresh_instance(cx, true) {
            return;
        }
        if self.begin(cx) {
            cx.windows_event(
                "Service Control Manager",
                Level::Info,
                7036,
                format!(
                    "The {} service entered the running state.",
                    self.config.service_name
                ),
            );
            cx.event(Kind::Service(ServiceEvent::Running {
                service: self.config.service_name.clone(),
            }));
        }
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
        let cost_ns = self
            .app
            .last_cost()
            .saturating_mul(self.config.cpu_ps_per_unit)
            / 1000;
        self.cpu_ns += cost_ns;
        self.busy_until_ns = cx.now_ns() + cost_ns;
        if result.is_ok() && effects.len() > EFFECTS_PER_CALL_MAX {
            result = Err(Failure::Crashed(CrashCause::LimitBroken {
                limit: Limit::Effects,
                max: EFFECTS_PER_CALL_MAX as u64,
            }));
            effects.truncate(EFFECTS_PER_CALL_MAX);
        }
        for effect in effects.drain(..) {
            self.apply(cx, effect, cost_ns);
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

    /// Applies one effect of a call that took `cost_ns` of CPU: sends leave and timers start
    /// when the call ends.
    fn apply(&mut self, cx: &mut Cx, effect: Effect, cost_ns: u64) {
        match effect {
            Effect::Send(datagram) => self.send(cx, datagram, cost_ns),
            Effect::SetTimer { delay_ns, token } => {
                let generation = self.generation;
                let timer = Timer::Service { generation, token };
                self.set_timer(cx, delay_ns.saturating_add(cost_ns), timer);
            }
            Effect::Log { level, text } => cx.log(level, text),
            Effect::WindowsEvent {
                source,
                level,
                event_id,
                text,
            } => cx.windows_event(&source, level, event_id, text),
            Effect::WorkBegin { id, label } => cx.work(id, false, label),
            Effect::WorkEnd { id } => cx.work(id, true, String::new()),
        }
    }

    fn send(&mut self, cx: &mut Cx, datagram: Datagram, delay_ns: u64) {
        let src_ip = *datagram.src.ip();
        if src_ip != self.config.ip && !src_ip.is_unspecified() {
            return cx.log(
                Level::Warning,
                format!("dropped a datagram with a foreign source address {src_ip}"),
            );
        }
        let dst_ip = *datagram.dst.ip();
        let on_link = subnet::same_subnet(dst_ip, self.config.ip, self.config.prefix_len);
        // Where the frame goes: a MAC known now, or a neighbour to resolve with ARP.
        let (dst_mac, next_hop) = if dst_ip == frame::BROADCAST_IP {
            (EthernetAddress::BROADCAST, None)
        } else if let Some(chaddr) = on_link.then(|| dhcp_reply_chaddr(&datagram)).flatten() {
            // A DHCP server answers a client that has no address yet at its chaddr, as Windows
            // and dnsmasq do (the client cannot answer ARP for an address it does not hold).
            (chaddr, None)
        } else if on_link {
            (frame::UNRESOLVED_MAC, Some(dst_ip))
        } else if let Some(gateway) = self.config.gateway {
            (frame::UNRESOLVED_MAC, Some(gateway))
        } else {
            return cx.log(
                Level::Warning,
                format!("no route to {dst_ip} (no gateway); datagram dropped"),
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
        let bytes = udp.to_bytes();
        match (bytes, next_hop) {
            (Ok(bytes), Some(next_hop)) => cx.send_to_after(delay_ns, 0, next_hop, bytes),
            (Ok(bytes), None) => cx.send_after(delay_ns, 0, bytes),
            (Err(error), _) => cx.log(
                Level::Warning,
                format!("datagram to {} dropped: {error}", datagram.dst),
            ),
        }
    }

    fn fail(&mut self, cx: &mut Cx, failure: Failure) {
        self.stop_service();
        self.crashes += 1;
        cx.event(Kind::Crash(Box::new(Crash::Failed(failure.clone()))));
        let name = &self.config.service_name;
        let times = self.crashes;
        if let Failure::Refused(refusal) = &failure {
            if times == 1 {
                self.refusal = Some(refusal.to_string());
            }
            // A service that fails to start: SCM event 7024 (or 7023 for a Win32 error).
            let text = if refusal.service_specific.is_some() {
                format!("The {name} service terminated with {refusal}.")
            } else {
                format!("The {name} service terminated with the following error: {refusal}")
            };
            cx.windows_event("Service Control Manager", Level::Error, 7024, text);
            if self.crashes == 1 {
                // A configuration refused at the first start is a setup mistake, not a failure
                // to recover from: no restart loop.
                return;
            }
        }
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
                let generation = self.generation;
                self.set_timer(cx, after_ns, Timer::Restart { generation });
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

/// The client's MAC of a direct DHCP reply (to port 68, no relay, a 6-byte chaddr).
fn dhcp_reply_chaddr(datagram: &Datagram) -> Option<EthernetAddress> {
    if datagram.dst.port() != crate::router::DHCP_CLIENT_PORT {
        return None;
    }
    let message = crate::dhcp::decode(&datagram.payload).ok()?;
    let direct = message.opcode() == dhcproto::v4::Opcode::BootReply
        && message.giaddr().is_unspecified()
        && message.hlen() == 6;
    let chaddr = message.chaddr().get(..6)?;
    direct.then(|| EthernetAddress::from_bytes(chaddr))
}
