//! The discrete-event core: virtual time, the `(time, seq)` event queue, LANs that carry frames
//! between interfaces, and the loop that hands each event to its node. Nodes never see the queue:
//! they get a `Cx` for the current instant and leave actions in it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::Ipv4Addr;
use std::rc::Rc;

use smoltcp::wire::{EthernetAddress, EthernetFrame};
use timing::Distribution;

use crate::client::PxeClient;
use crate::frame;
use crate::log::{EventLog, Kind, LanId, Level, NodeId, Record};
use crate::rng::Stream;
use crate::router::Router;
use crate::server::ServerNode;
use crate::tap::Tap;

pub type PortId = usize;

/// Caps that turn a runaway run into a reported outcome instead of a hang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub events_max: u64,
    pub sim_time_max_ns: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            events_max: 2_000_000,
            sim_time_max_ns: 600_000_000_000,
        }
    }
}

/// An L2 broadcast domain: a switch with a one-way latency distribution per delivered frame.
pub struct Lan {
    pub name: String,
    pub latency: Distribution,
    stream: Stream,
    ports: Vec<PortId>,
    /// IPv4 -> MAC for every address on this LAN (static neighbor tables; no ARP on the wire).
    neighbors: BTreeMap<Ipv4Addr, EthernetAddress>,
    /// Last delivery time per (sender, receiver) port pair: a switch port is FIFO, so jitter
    /// never reorders two frames between the same pair.
    last_delivery_ns: BTreeMap<(PortId, PortId), u64>,
}

struct Port {
    node: NodeId,
    interface: u32,
    lan: LanId,
    /// Unicast MACs this port accepts (its own, plus a virtual MAC while it owns one).
    macs: Vec<EthernetAddress>,
}

pub enum Node {
    Router(Router),
    Client(PxeClient),
    Server(ServerNode),
    Tap(Tap),
}

enum Event {
    Start {
        node: NodeId,
    },
    Transmit {
        node: NodeId,
        interface: u32,
        frame: Rc<[u8]>,
    },
    Deliver {
        port: PortId,
        frame: Rc<[u8]>,
    },
    Timer {
        node: NodeId,
        token: u64,
    },
}

struct Scheduled {
    time_ns: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time_ns, self.seq) == (other.time_ns, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time_ns, self.seq).cmp(&(other.time_ns, other.seq))
    }
}

/// What a node asks for during one event.
enum Action {
    Send {
        interface: u32,
        frame: Vec<u8>,
        delay_ns: u64,
    },
    Timer {
        delay_ns: u64,
        token: u64,
    },
}

/// The node's view of the world during one event.
pub struct Cx<'a> {
    now_ns: u64,
    node: NodeId,
    actions: &'a mut Vec<Action>,
    log: &'a mut EventLog,
    lans: &'a [Lan],
    ports: &'a [Port],
    node_ports: &'a [PortId],
}

impl Cx<'_> {
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn send(&mut self, interface: u32, frame: Vec<u8>) {
        self.send_after(0, interface, frame);
    }

    /// Puts a frame on the wire after `delay_ns` (a router's control-plane delay, say).
    pub fn send_after(&mut self, delay_ns: u64, interface: u32, frame: Vec<u8>) {
        self.actions.push(Action::Send {
            interface,
            frame,
            delay_ns,
        });
    }

    pub fn set_timer(&mut self, delay_ns: u64, token: u64) {
        self.actions.push(Action::Timer { delay_ns, token });
    }

    /// The MAC for `ip` on the LAN behind `interface`.
    pub fn resolve(&self, interface: u32, ip: Ipv4Addr) -> Option<EthernetAddress> {
        let port = *self.node_ports.get(interface as usize)?;
        self.lans[self.ports[port].lan].neighbors.get(&ip).copied()
    }

    fn record(&mut self, kind: Kind) {
        self.log.push(Record {
            time_ns: self.now_ns,
            node: self.node,
            kind,
        });
    }

    pub fn log(&mut self, level: Level, text: impl Into<String>) {
        self.record(Kind::Log {
            level,
            text: text.into(),
        });
    }

    pub fn state(&mut self, text: impl Into<String>) {
        self.record(Kind::State { text: text.into() });
    }

    pub fn crash(&mut self, reason: impl Into<String>) {
        self.record(Kind::Crash {
            reason: reason.into(),
        });
    }

    pub fn drop_frame(&mut self, reason: impl Into<String>, frame: &[u8]) {
        self.record(Kind::Drop {
            reason: reason.into(),
            frame: Rc::from(frame),
        });
    }

    pub fn windows_event(
        &mut self,
        source: &str,
        level: Level,
        event_id: u32,
        text: impl Into<String>,
    ) {
        self.record(Kind::WindowsEvent {
            source: source.to_string(),
            level,
            event_id,
            text: text.into(),
        });
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Nothing left to do: every client finished and every service went idle.
    Quiescent,
    EventLimit,
    SimTimeLimit,
}

/// A world under construction or running. Build it with the `add_*` methods, then `run`.
pub struct World {
    seed: u64,
    now_ns: u64,
    seq: u64,
    events: u64,
    limits: Limits,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<Node>,
    node_names: Vec<String>,
    node_ports: Vec<Vec<PortId>>,
    lans: Vec<Lan>,
    ports: Vec<Port>,
    log: Option<EventLog>,
    actions: Vec<Action>,
}

/// One interface of a node being added: which LAN, which MAC, which addresses it answers for.
pub struct Attachment {
    pub lan: LanId,
    pub mac: EthernetAddress,
    /// Addresses that resolve to `mac` on the LAN.
    pub addresses: Vec<Ipv4Addr>,
    /// Extra (virtual) MACs this interface accepts, with the addresses that resolve to them.
    pub virtual_macs: Vec<(EthernetAddress, Vec<Ipv4Addr>)>,
}

impl World {
    pub fn new(seed: u64, limits: Limits) -> World {
        World {
            seed,
            now_ns: 0,
            seq: 0,
            events: 0,
            limits,
            queue: BinaryHeap::new(),
            nodes: Vec::new(),
            node_names: Vec::new(),
            node_ports: Vec::new(),
            lans: Vec::new(),
            ports: Vec::new(),
            log: None,
            actions: Vec::new(),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A stream for `(entity, purpose)` under this world's seed.
    pub fn stream(&self, entity: &str, purpose: &str) -> Stream {
        Stream::new(self.seed, entity, purpose)
    }

    pub fn add_lan(&mut self, name: &str, latency: Distribution) -> LanId {
        self.lans.push(Lan {
            name: name.to_string(),
            latency,
            stream: Stream::new(self.seed, &format!("lan/{name}"), "latency"),
            ports: Vec::new(),
            neighbors: BTreeMap::new(),
            last_delivery_ns: BTreeMap::new(),
        });
        self.lans.len() - 1
    }

    /// Adds a node with its interfaces; it starts at `start_ns`.
    pub fn add_node(
        &mut self,
        name: &str,
        node: Node,
        attachments: Vec<Attachment>,
        start_ns: u64,
    ) -> NodeId {
        let id = self.nodes.len();
        let mut ports = Vec::new();
        for (interface, attachment) in attachments.into_iter().enumerate() {
            let port = self.ports.len();
            let lan = &mut self.lans[attachment.lan];
            let mut macs = vec![attachment.mac];
            for address in attachment.addresses {
                lan.neighbors.insert(address, attachment.mac);
            }
            for (mac, addresses) in attachment.virtual_macs {
                macs.push(mac);
                for address in addresses {
                    lan.neighbors.insert(address, mac);
                }
            }
            lan.ports.push(port);
            self.ports.push(Port {
                node: id,
                interface: interface as u32,
                lan: attachment.lan,
                macs,
            });
            ports.push(port);
        }
        self.nodes.push(node);
        self.node_names.push(name.to_string());
        self.node_ports.push(ports);
        self.schedule(start_ns, Event::Start { node: id });
        id
    }

    fn schedule(&mut self, time_ns: u64, event: Event) {
        let seq = self.seq;
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            time_ns,
            seq,
            event,
        }));
    }

    /// Runs until nothing is left to do or a limit is hit.
    pub fn run(&mut self) -> StopReason {
        let lan_names = self.lans.iter().map(|lan| lan.name.clone()).collect();
        self.log
            .get_or_insert_with(|| EventLog::new(self.seed, self.node_names.clone(), lan_names));
        loop {
            let Some(Reverse(next)) = self.queue.peek() else {
                return StopReason::Quiescent;
            };
            if next.time_ns > self.limits.sim_time_max_ns {
                return StopReason::SimTimeLimit;
            }
            if self.events >= self.limits.events_max {
                return StopReason::EventLimit;
            }
            let Some(Reverse(scheduled)) = self.queue.pop() else {
                unreachable!()
            };
            assert!(scheduled.time_ns >= self.now_ns, "time went backwards");
            self.now_ns = scheduled.time_ns;
            self.events += 1;
            self.dispatch(scheduled.event);
        }
    }

    fn dispatch(&mut self, event: Event) {
        let log = self.log.as_mut().expect("run() creates the log");
        match event {
            Event::Transmit {
                node,
                interface,
                frame,
            } => self.transmit(node, interface, frame),
            Event::Deliver { port, frame } => {
                let Port {
                    node,
                    interface,
                    lan,
                    ..
                } = self.ports[port];
                log.push(Record {
                    time_ns: self.now_ns,
                    node,
                    kind: Kind::Receive {
                        lan,
                        interface,
                        frame: frame.clone(),
                    },
                });
                self.with_node(node, |node, cx| match node {
                    Node::Router(router) => router.on_frame(cx, interface, &frame),
                    Node::Client(client) => client.on_frame(cx, &frame),
                    Node::Server(server) => server.on_frame(cx, &frame),
                    Node::Tap(tap) => tap.on_frame(cx, &frame),
                });
            }
            Event::Timer { node, token } => {
                log.push(Record {
                    time_ns: self.now_ns,
                    node,
                    kind: Kind::Timer { token },
                });
                self.with_node(node, |node, cx| match node {
                    Node::Router(router) => router.on_timer(cx, token),
                    Node::Client(client) => client.on_timer(cx, token),
                    Node::Server(server) => server.on_timer(cx, token),
                    Node::Tap(tap) => tap.on_timer(cx, token),
                });
            }
            Event::Start { node } => self.with_node(node, |node, cx| match node {
                Node::Router(router) => router.start(cx),
                Node::Client(client) => client.start(cx),
                Node::Server(server) => server.start(cx),
                Node::Tap(tap) => tap.start(cx),
            }),
        }
    }

    fn with_node(&mut self, id: NodeId, handler: impl FnOnce(&mut Node, &mut Cx)) {
        let mut actions = std::mem::take(&mut self.actions);
        let mut cx = Cx {
            now_ns: self.now_ns,
            node: id,
            actions: &mut actions,
            log: self.log.as_mut().expect("run() creates the log"),
            lans: &self.lans,
            ports: &self.ports,
            node_ports: &self.node_ports[id],
        };
        handler(&mut self.nodes[id], &mut cx);
        for action in actions.drain(..) {
            match action {
                Action::Send {
                    interface,
                    frame,
                    delay_ns: 0,
                } => self.transmit(id, interface, Rc::from(frame)),
                Action::Send {
                    interface,
                    frame,
                    delay_ns,
                } => self.schedule(
                    self.now_ns + delay_ns,
                    Event::Transmit {
                        node: id,
                        interface,
                        frame: Rc::from(frame),
                    },
                ),
                Action::Timer { delay_ns, token } => {
                    self.schedule(self.now_ns + delay_ns, Event::Timer { node: id, token })
                }
            }
        }
        self.actions = actions;
    }

    /// Puts a frame on the sender's LAN: one delivery per port that accepts it, each after its
    /// own latency draw, in port order (deterministic).
    fn transmit(&mut self, node: NodeId, interface: u32, frame: Rc<[u8]>) {
        let Some(&from) = self.node_ports[node].get(interface as usize) else {
            panic!(
                "node {} sent on interface {interface}, which it does not have",
                self.node_names[node]
            );
        };
        let lan_id = self.ports[from].lan;
        let log = self.log.as_mut().expect("run() creates the log");
        log.push(Record {
            time_ns: self.now_ns,
            node,
            kind: Kind::Send {
                lan: lan_id,
                interface,
                frame: frame.clone(),
            },
        });
        // A switch looks at the Ethernet header only; whatever follows is the receivers' business.
        let dst_mac = EthernetFrame::new_checked(&frame[..])
            .ok()
            .map(|ethernet| ethernet.dst_addr());
        let lan = &mut self.lans[lan_id];
        let known =
            dst_mac.is_some_and(|mac| lan.ports.iter().any(|&p| self.ports[p].macs.contains(&mac)));
        let mut deliveries = Vec::new();
        for &to in &lan.ports {
            if to == from {
                continue;
            }
            let accepts = match dst_mac {
                Some(mac) if !frame::is_group(mac) && known => self.ports[to].macs.contains(&mac),
                // Broadcast, multicast and unknown unicast are flooded, as a switch does.
                _ => true,
            };
            if !accepts {
                continue;
            }
            let latency_ns = lan.stream.sample(&lan.latency);
            let last = lan.last_delivery_ns.entry((from, to)).or_insert(0);
            let at_ns = (self.now_ns + latency_ns).max(*last);
            *last = at_ns;
            deliveries.push((at_ns, to));
        }
        for (at_ns, port) in deliveries {
            self.schedule(
                at_ns,
                Event::Deliver {
                    port,
                    frame: frame.clone(),
                },
            );
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn log(&self) -> Option<&EventLog> {
        self.log.as_ref()
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.node_names.iter().map(String::as_str).zip(&self.nodes)
    }
}
