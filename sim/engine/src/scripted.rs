//! A tap: a host on a LAN that sends scripted frames at given times and keeps every frame it
//! receives. Tests use it to put exact bytes on the wire (malformed ones included) and to see
//! exactly what a router or server answered. A ticking tap does nothing but re-arm a timer: the
//! no-op node of the bare event-loop benchmark. An injecting tap is a host with an address
//! and a gateway that sends one UDP datagram to each of its targets every period (a load
//! balancer's health monitor, say), routed and resolved like a server's datagrams.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use smoltcp::wire::EthernetAddress;
use timing::Distribution;

use crate::frame::{self, UdpFrame};
use crate::log::Level;
use crate::rng::Stream;
use crate::subnet;
use crate::world::Cx;

pub struct Scripted {
    /// `(time_ns, frame)` to send, in any order.
    script: Vec<(u64, Vec<u8>)>,
    /// Every frame delivered to the tap, with its arrival time.
    pub received: Vec<(u64, Rc<[u8]>)>,
    /// `(period_ns, ticks left)` of a ticking tap.
    ticks: Option<(u64, u64)>,
    injector: Option<Box<Injector>>,
}

/// The timer token of a ticking tap (beyond any script index).
const TICK: u64 = u64::MAX;
/// The timer token of an injecting tap's next round of datagrams.
const INJECT: u64 = u64::MAX - 1;
/// The first source port an injector uses; each round takes the next (IANA's dynamic range,
/// where hosts pick their ephemeral ports).
const SOURCE_PORT_FIRST: u16 = 49_152;
/// TTL of the datagrams an injector sends (a Linux-based appliance's).
const TTL: u8 = 64;

/// What an injecting tap sends, from where and how often.
#[derive(Clone, Debug, PartialEq)]
pub struct InjectorConfig {
    pub mac: EthernetAddress,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// Every round sends `payload` once to each target, in this order.
    pub targets: Vec<SocketAddrV4>,
    pub payload: Vec<u8>,
    /// The time from one round to the next, drawn for each round.
    pub period: Distribution,
    /// Rounds to send; `None`: until the run ends.
    pub rounds: Option<u64>,
}

struct Injector {
    config: InjectorConfig,
    /// Draws the periods: the injector's own stream, so its timing moves no other node's.
    stream: Stream,
    rounds_sent: u64,
}

impl Scripted {
    pub fn new(script: Vec<(u64, Vec<u8>)>) -> Scripted {
        Scripted {
            script,
            received: Vec::new(),
            ticks: None,
            injector: None,
        }
    }

    /// A tap that sends `config.payload` to each of `config.targets` when it starts and then
    /// every `config.period` (drawn from `stream`).
    pub fn injector(config: InjectorConfig, stream: Stream) -> Scripted {
        Scripted {
            injector: Some(Box::new(Injector {
                config,
                stream,
                rounds_sent: 0,
            })),
            ..Scripted::new(Vec::new())
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
        if let Some(injector) = self.injector.as_mut() {
            injector.round(cx);
        }
    }

    pub(crate) fn on_timer(&mut self, cx: &mut Cx, token: u64) {
        if token == INJECT {
            if let Some(injector) = self.injector.as_mut() {
                injector.round(cx);
            }
            return;
        }
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

impl Injector {
    /// Sends one datagram to each target and sets the timer of the next round.
    fn round(&mut self, cx: &mut Cx) {
        let config = &self.config;
        if config
            .rounds
            .is_some_and(|rounds| self.rounds_sent >= rounds)
        {
            return;
        }
        let offset = (self.rounds_sent % u64::from(u16::MAX - SOURCE_PORT_FIRST + 1)) as u16;
        let src_port = SOURCE_PORT_FIRST + offset;
        self.rounds_sent += 1;
        cx.log(
            Level::Info,
            format!(
                "round {}: {} bytes from port {src_port} to {}",
                self.rounds_sent,
                config.payload.len(),
                config
                    .targets
                    .iter()
                    .map(|target| target.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        for target in &config.targets {
            let dst_ip = *target.ip();
            let next_hop = if subnet::same_subnet(dst_ip, config.ip, config.prefix_len) {
                dst_ip
            } else if let Some(gateway) = config.gateway {
                gateway
            } else {
                cx.log(
                    Level::Warning,
                    format!("no route to {dst_ip} (no gateway); datagram dropped"),
                );
                continue;
            };
            let udp = UdpFrame {
                src_mac: config.mac,
                dst_mac: frame::UNRESOLVED_MAC,
                src_ip: config.ip,
                dst_ip,
                src_port,
                dst_port: target.port(),
                ttl: TTL,
                payload: &config.payload,
            };
            match udp.to_bytes() {
                Ok(bytes) => cx.send_to(0, next_hop, bytes),
                Err(error) => cx.log(
                    Level::Warning,
                    format!("datagram to {target} dropped: {error}"),
                ),
            }
        }
        if config.rounds.is_none_or(|rounds| self.rounds_sent < rounds) {
            let period_ns = self.stream.sample(&config.period).max(1);
            cx.set_timer(period_ns, INJECT);
        }
    }
}
