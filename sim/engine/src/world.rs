//! The discrete-event core: virtual time, the `(time, seq)` event queue, LANs that carry frames
//! between interfaces, and the loop that hands each event to its node. Nodes never see the queue:
//! they get a `Cx` for the current instant and leave actions in it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::Arc;

use smoltcp::wire::{EthernetAddress, EthernetFrame};
use timing::Distribution;

use crate::arp::{self, ArpConfig, Resolve, Retry};
use crate::bridge::Bridge;
use crate::client::{Audience, PxeClient};
use crate::event::{DropReason, FaultEvent, LanChanged, Layer};
use crate::frame;
use crate::log::{EventLog, Frame, Kind, LanId, Level, NodeId, Record, Retention, WindowsEvent};
use crate::report::Report;
use crate::rng::{Draws, LinkDraw, Stream, StreamName};
use crate::router::{Router, RouterConfig};
use crate::scripted::Scripted;
use crate::server::ServerNode;

/// A port of a LAN: one interface of one node, in the order they were attached (internal to the
/// world; nodes name their interfaces by number).
type PortId = usize;

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

/// How a LAN treats the frames it carries. Every delivery draws its latency; loss, duplication
/// and reordering are drawn only when their probability is above zero. Each receiving port has
/// its own stream per purpose, so turning one on never shifts the draws of another, and a frame
/// a port never receives moves no draw of any port.
#[derive(Clone, Debug, PartialEq)]
pub struct LanConfig {
    /// One-way latency of each delivered frame.
    pub latency: Distribution,
    /// Probability that one delivery (one receiving port) is lost.
    pub loss: f64,
    /// Probability that one delivery arrives twice (the copy after a fresh latency draw).
    pub duplicate: f64,
    /// Probability that one delivery is held back by `reorder_delay` and leaves the port's FIFO
    /// order, so frames sent after it can overtake it.
    pub reorder: f64,
    pub reorder_delay: Distribution,
    /// How long the switch keeps a MAC it learned from a frame's source (Cisco's default
    /// `mac address-table aging-time` is 300 s).
    pub mac_aging_ns: u64,
    /// The largest IPv4 packet the LAN carries; a larger one is dropped where it would enter
    /// (`DropReason::ExceedsMtu`: pxelab does not fragment and sends every packet with DF).
    pub mtu: usize,
}

/// Cisco IOS's default MAC address table aging time.
pub const MAC_AGING_DEFAULT_NS: u64 = 300_000_000_000;

impl LanConfig {
    pub fn with_latency(latency: Distribution) -> LanConfig {
        LanConfig {
            latency,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Distribution::constant(1_000_000),
            mac_aging_ns: MAC_AGING_DEFAULT_NS,
            mtu: frame::MTU,
        }
    }
}

/// A change to a LAN's behaviour at some instant of the fault timeline; `None` keeps the value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LanChange {
    pub latency: Option<Distribution>,
    pub loss: Option<f64>,
    pub duplicate: Option<f64>,
    pub reorder: Option<f64>,
    pub reorder_delay: Option<Distribution>,
}

/// Something the fault timeline does to the world at a given time.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// The node loses power: its state is gone, its pending timers and sends are void, frames
    /// to it are lost.
    Crash {
        node: NodeId,
    },
    /// The node is shut down cleanly: a router resigns its redundancy groups on the wire (VRRP
    /// priority 0, HSRP Resign) before it goes off as in `Crash`.
    Shutdown {
        node: NodeId,
    },
    /// The node boots again, from scratch.
    Recover {
        node: NodeId,
    },
    /// A node's interface loses (or regains) its link: nothing is sent or received on it.
    Link {
        node: NodeId,
        interface: u32,
        up: bool,
    },
    Lan {
        lan: LanId,
        change: LanChange,
    },
    /// An administrator acts on a server's services.
    Service {
        node: NodeId,
        action: ServiceAction,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceAction {
    /// Restart the node's service (its plugin).
    Restart,
    /// Restart WMI: the repository part of the node's store starts empty.
    RestartWmi,
    /// Restart the whole server.
    Reboot,
}

/// An L2 broadcast domain: a learning switch that delivers each frame after a latency draw, and
/// may lose, duplicate or reorder it.
pub struct Lan {
    pub name: String,
    pub config: LanConfig,
    /// Every port, in port order.
    ports: Vec<PortId>,
    /// The ports that are not clients', in port order: they take every frame they are sent.
    /// A client takes only the frames for it (`PxeClient::audience`).
    others: Vec<PortId>,
    /// The switch's MAC table, learned from the source of every frame sent: the port a MAC was
    /// last seen on, and when. An entry older than `mac_aging_ns` is gone; a frame to a MAC
    /// the table does not hold is flooded.
    learned: BTreeMap<EthernetAddress, (PortId, u64)>,
    /// Each client port by its NIC's own MAC. Not the switch's knowledge: it finds the one
    /// client a flooded frame concerns without asking every client (`PxeClient::audience`).
    client_nics: BTreeMap<EthernetAddress, PortId>,
    /// The client port holding each address now (a lease), for the same purpose: an ARP
    /// request concerns only the client it asks for. Never used to resolve anything.
    client_addresses: BTreeMap<Ipv4Addr, PortId>,
}

impl Lan {
    /// The port the switch sends a frame for `mac` to, if it knows one.
    fn lookup(&self, mac: EthernetAddress, now_ns: u64) -> Option<PortId> {
        let &(port, seen_ns) = self.learned.get(&mac)?;
        (now_ns.saturating_sub(seen_ns) < self.config.mac_aging_ns).then_some(port)
    }

    /// The switch loses a port's link (its node lost power, say): the MACs learned there go.
    fn flush(&mut self, port: PortId) {
        self.learned.retain(|_, (p, _)| *p != port);
    }
}

struct Port {
    node: NodeId,
    interface: u32,
    lan: LanId,
    /// The port's own MAC.
    mac: EthernetAddress,
    /// Virtual MACs the port accepts as well while its node owns them (HSRP Active).
    virtual_macs: Vec<EthernetAddress>,
    /// The interface's ARP: the addresses it answers for and its neighbour table.
    arp: arp::Table,
    /// A client's port (which takes only the frames `PxeClient::audience` admits).
    client: bool,
    /// Link state: a port that is down neither sends nor receives.
    up: bool,
    /// Draws for the deliveries to this port, made on its first delivery.
    link: Option<Box<LinkStreams>>,
    /// Last delivery time per receiver of the frames this port sent: a switch port is FIFO,
    /// so jitter never reorders two frames between the same pair. Only pairs with a frame
    /// still in flight can matter, so the map is emptied once all of them have arrived.
    fifo: BTreeMap<PortId, u64>,
    /// When the last frame this port sent arrives.
    fifo_horizon_ns: u64,
}

/// The streams a LAN draws from for deliveries to one port. Loss, duplication and reordering
/// streams are made when their probability is first above zero.
struct LinkStreams {
    seed: u64,
    draws: Option<Arc<Draws>>,
    /// The entity of `StreamName::Link` for this port.
    entity: String,
    latency: Stream,
    loss: Option<Stream>,
    duplicate: Option<Stream>,
    reorder: Option<Stream>,
}

impl LinkStreams {
    fn new(seed: u64, draws: Option<&Arc<Draws>>, name: StreamName<'_>) -> Box<LinkStreams> {
        Box::new(LinkStreams {
            latency: Stream::named(seed, name, draws),
            seed,
            draws: draws.cloned(),
            entity: name.entity(),
            loss: None,
            duplicate: None,
            reorder: None,
        })
    }

    fn loss(&mut self) -> &mut Stream {
        self.loss.get_or_insert_with(|| {
            let purpose = LinkDraw::Loss.purpose();
            make_stream(self.seed, self.draws.as_ref(), &self.entity, purpose)
        })
    }

    fn duplicate(&mut self) -> &mut Stream {
        self.duplicate.get_or_insert_with(|| {
            let purpose = LinkDraw::Duplicate.purpose();
            make_stream(self.seed, self.draws.as_ref(), &self.entity, purpose)
        })
    }

    fn reorder(&mut self) -> &mut Stream {
        self.reorder.get_or_insert_with(|| {
            let purpose = LinkDraw::Reorder.purpose();
            make_stream(self.seed, self.draws.as_ref(), &self.entity, purpose)
        })
    }
}

fn make_stream(seed: u64, draws: Option<&Arc<Draws>>, entity: &str, purpose: &str) -> Stream {
    match draws {
        Some(draws) => Stream::with_draws(seed, entity, purpose, draws),
        None => Stream::new(seed, entity, purpose),
    }
}

/// A node of the world. The large kinds are boxed, so that a client (most of the nodes of a
/// big LAN) takes no more room than it needs.
pub enum Node {
    Router(Box<Router>),
    Client(PxeClient),
    Server(Box<ServerNode>),
    Scripted(Scripted),
    /// Where the world outside the simulation is attached (`World::inject`, `World::drain`).
    Bridge(Bridge),
}

enum Event {
    Start {
        node: NodeId,
    },
    /// A frame from outside enters the LAN at bridge `node`.
    Inject {
        node: NodeId,
        frame: Vec<u8>,
    },
    Transmit {
        node: NodeId,
        epoch: u32,
        interface: u32,
        /// Resolved with ARP when the frame leaves; `None`: the frame carries its MAC.
        next_hop: Option<Ipv4Addr>,
        /// Routed on, not sent by the node: its IPv4 identification stays.
        forwarded: bool,
        frame: Vec<u8>,
    },
    /// An ARP request for `address` on `port` went unanswered for a while.
    ArpRetry {
        port: PortId,
        epoch: u32,
        address: Ipv4Addr,
        sent: u32,
    },
    Deliver {
        port: PortId,
        frame: Rc<[u8]>,
    },
    Timer {
        node: NodeId,
        epoch: u32,
        token: u64,
        background: bool,
    },
    Fault(Box<Fault>),
    /// Keeps the run going until its time (see `World::hold_until`).
    Hold,
}

impl Event {
    /// Background events (protocol keepalives) do not keep a run alive on their own.
    fn is_background(&self) -> bool {
        matches!(
            self,
            Event::Timer {
                background: true,
                ..
            }
        )
    }
}

/// The event queue, ordered by `(time, seq)`; `seq` is unique, so the order is total. The heap
/// holds only the keys and a slot number, and the events wait in a slab: a storm keeps one
/// pending event per client, and sifting small keys is what keeps a pop cheap.
#[derive(Default)]
struct Queue {
    heap: QuadHeap,
    slots: Vec<Option<Event>>,
    free: Vec<u32>,
}

impl Queue {
    fn push(&mut self, time_ns: u64, seq: u64, event: Event) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 pending events")
            }
        };
        self.heap.push(Key { time_ns, seq, slot });
    }

    /// The time of the next event.
    fn peek_time_ns(&self) -> Option<u64> {
        self.heap.peek().map(|key| key.time_ns)
    }

    fn pop(&mut self) -> Option<(u64, Event)> {
        let Key { time_ns, slot, .. } = self.heap.pop()?;
        let event = self.slots[slot as usize]
            .take()
            .expect("a queued slot holds its event");
        self.free.push(slot);
        Some((time_ns, event))
    }
}

/// A queued event's place in the order, and where it waits.
#[derive(Clone, Copy, Debug)]
struct Key {
    time_ns: u64,
    seq: u64,
    slot: u32,
}

impl Key {
    fn before(&self, other: &Key) -> bool {
        (self.time_ns, self.seq) < (other.time_ns, other.seq)
    }
}

/// A min-heap with four children per node: half the depth of a binary heap, and a node's
/// children share a cache line or two, so a pop over thousands of pending timers misses the
/// cache about half as often. Keys are unique, so the order of pops is the one `(time, seq)`
/// order whatever the heap's shape.
#[derive(Default)]
struct QuadHeap {
    keys: Vec<Key>,
}

impl QuadHeap {
    const ARITY: usize = 4;

    fn push(&mut self, key: Key) {
        let mut hole = self.keys.len();
        self.keys.push(key);
        while hole > 0 {
            let parent = (hole - 1) / Self::ARITY;
            if !key.before(&self.keys[parent]) {
                break;
            }
            self.keys[hole] = self.keys[parent];
            hole = parent;
        }
        self.keys[hole] = key;
    }

    fn peek(&self) -> Option<&Key> {
        self.keys.first()
    }

    fn pop(&mut self) -> Option<Key> {
        let last = self.keys.pop()?;
        let Some(&top) = self.keys.first() else {
            return Some(last);
        };
        // Sink the last key from the root: move the smallest child up while it comes first.
        let len = self.keys.len();
        let mut hole = 0;
        loop {
            let first = hole * Self::ARITY + 1;
            if first >= len {
                break;
            }
            let mut least = first;
            for child in first + 1..(first + Self::ARITY).min(len) {
                if self.keys[child].before(&self.keys[least]) {
                    least = child;
                }
            }
            if !self.keys[least].before(&last) {
                break;
            }
            self.keys[hole] = self.keys[least];
            hole = least;
        }
        self.keys[hole] = last;
        Some(top)
    }
}

/// What a node asks for during one event.
enum Action {
    Send {
        interface: u32,
        frame: Vec<u8>,
        delay_ns: u64,
        /// Resolved with ARP when the frame leaves; `None`: the frame carries its MAC.
        next_hop: Option<Ipv4Addr>,
        /// Routed on, not sent by the node: its IPv4 identification stays.
        forwarded: bool,
    },
    /// The interface now holds `address` (a client's lease), or none.
    Address {
        interface: u32,
        address: Option<Ipv4Addr>,
    },
    /// `count` gratuitous ARPs for `address` from `mac`, after `delay_ns`.
    Announce {
        interface: u32,
        address: Ipv4Addr,
        mac: EthernetAddress,
        count: u32,
        delay_ns: u64,
        target_broadcast: bool,
    },
    Timer {
        delay_ns: u64,
        token: u64,
        background: bool,
    },
    /// Start or stop accepting frames for a virtual MAC on an interface (HSRP Active, VRRP
    /// Master). The switch learns it at once: the frame the new owner sends from it would teach it.
    VirtualMac {
        interface: u32,
        mac: EthernetAddress,
        owned: bool,
    },
}

/// The node's view of the world during one event.
pub struct Cx<'a> {
    now_ns: u64,
    node: NodeId,
    actions: &'a mut Vec<Action>,
    log: &'a mut EventLog,
    /// The frame this event delivers, if it is a delivery.
    delivering: Option<&'a Rc<[u8]>>,
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
            next_hop: None,
            forwarded: false,
        });
    }

    /// Sends an IPv4 frame to the neighbour `next_hop`: the interface's ARP resolves it (with
    /// requests on the wire if it must) and writes its MAC into the frame, whatever the frame
    /// held there.
    pub fn send_to(&mut self, interface: u32, next_hop: Ipv4Addr, frame: Vec<u8>) {
        self.send_to_after(0, interface, next_hop, frame);
    }

    /// `send_to` after `delay_ns`; the address is resolved when the frame leaves.
    pub fn send_to_after(
        &mut self,
        delay_ns: u64,
        interface: u32,
        next_hop: Ipv4Addr,
        frame: Vec<u8>,
    ) {
        self.actions.push(Action::Send {
            interface,
            frame,
            delay_ns,
            next_hop: Some(next_hop),
            forwarded: false,
        });
    }

    /// Routes a received IPv4 packet on to `next_hop` (re-framed by the caller); unlike a
    /// packet the node sends itself, it keeps its identification field.
    pub fn forward_to(&mut self, interface: u32, next_hop: Ipv4Addr, frame: Vec<u8>) {
        self.actions.push(Action::Send {
            interface,
            frame,
            delay_ns: 0,
            next_hop: Some(next_hop),
            forwarded: true,
        });
    }

    /// Sends a frame whose IPv4 identification the node chose itself (a daemon numbering its
    /// packets on a raw socket of its own).
    pub fn send_keeping_ident(&mut self, interface: u32, frame: Vec<u8>) {
        self.actions.push(Action::Send {
            interface,
            frame,
            delay_ns: 0,
            next_hop: None,
            forwarded: true,
        });
    }

    /// The interface now holds `address` and answers ARP for it (a client's lease); `None`
    /// gives it up.
    pub fn set_address(&mut self, interface: u32, address: Option<Ipv4Addr>) {
        self.actions.push(Action::Address { interface, address });
    }

    /// Sends `count` gratuitous ARPs for `address` from `mac` after `delay_ns`: a new HSRP
    /// Active or VRRP Master tells the LAN where the virtual IP is now, iPXE its new lease.
    /// `target_broadcast` fills the ARP target hardware address with ff:ff:ff:ff:ff:ff, as
    /// keepalived does, rather than RFC 5227's zeros.
    pub fn announce(
        &mut self,
        delay_ns: u64,
        interface: u32,
        address: Ipv4Addr,
        mac: EthernetAddress,
        count: u32,
        target_broadcast: bool,
    ) {
        self.actions.push(Action::Announce {
            interface,
            address,
            mac,
            count,
            delay_ns,
            target_broadcast,
        });
    }

    pub fn set_timer(&mut self, delay_ns: u64, token: u64) {
        self.actions.push(Action::Timer {
            delay_ns,
            token,
            background: false,
        });
    }

    /// A timer for periodic protocol work (hellos, advertisements) that should not, by itself,
    /// keep the run going once everything else is done.
    pub fn set_background_timer(&mut self, delay_ns: u64, token: u64) {
        self.actions.push(Action::Timer {
            delay_ns,
            token,
            background: true,
        });
    }

    /// Starts (or stops) accepting frames sent to `mac` on `interface`.
    pub fn own_virtual_mac(&mut self, interface: u32, mac: EthernetAddress, owned: bool) {
        self.actions.push(Action::VirtualMac {
            interface,
            mac,
            owned,
        });
    }

    /// This node's name, as the topology gives it.
    pub fn node_name(&self) -> &str {
        self.log.node_name(self.node)
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

    /// Records what happened, typed (`Kind::Client`, `Kind::Redundancy`, `Kind::Service`,
    /// `Kind::Crash`).
    pub fn event(&mut self, kind: Kind) {
        self.record(kind);
    }

    /// Records that the node threw `frame` away, and why. The frame being delivered is shared,
    /// not copied (and its digest is already known).
    pub fn drop_frame(&mut self, reason: DropReason, frame: &[u8]) {
        let frame = match self.delivering {
            Some(delivering) if std::ptr::eq(&delivering[..], frame) => delivering.clone(),
            _ => Rc::from(frame),
        };
        self.record(Kind::Drop {
            reason: Box::new(reason),
            frame: frame.into(),
        });
    }

    /// A service's span of work begins (`end: false`) or ends.
    pub fn work(&mut self, id: u64, end: bool, label: String) {
        self.record(Kind::Work {
            id,
            end,
            label: label.into_boxed_str(),
        });
    }

    pub fn windows_event(
        &mut self,
        source: &str,
        level: Level,
        event_id: u32,
        text: impl Into<String>,
    ) {
        self.record(Kind::WindowsEvent(Box::new(WindowsEvent {
            source: source.to_string(),
            level,
            event_id,
            text: text.into(),
        })));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Nothing left to do but protocol keepalives: every client finished, every service went
    /// idle, and the fault timeline is done.
    Quiescent,
    EventLimit,
    SimTimeLimit,
    /// The driver of a stepped world ended it (`World::finish`): Ctrl-C in a live run, the end
    /// of a live run's recording in its replay.
    Stopped,
}

/// A world being put together: its seed, limits and timing draws are fixed when it is made;
/// then LANs, nodes and faults are added, and `build` turns it into a `World` ready to run.
///
/// Streams are made from the builder (`named_stream`), so every one of them sees the draws the
/// builder was made with: there is no order of calls in which a stream misses them.
pub struct Builder {
    world: World,
    retention: Retention,
}

/// A world ready to run or running: every node, LAN and fault is in place and the event log
/// exists. `run` takes it to the end and hands back the `Finished` run; `run_until` advances
/// it in steps, for callers that interleave the run with something else.
pub struct World {
    seed: u64,
    now_ns: u64,
    seq: u64,
    events: u64,
    limits: Limits,
    queue: Queue,
    /// Queued events that are not background ones: the run is quiescent when this is zero.
    foreground: u64,
    nodes: Vec<Node>,
    node_names: Vec<String>,
    node_ports: Vec<Vec<PortId>>,
    /// Powered (not crashed by the fault timeline).
    node_up: Vec<bool>,
    /// Bumped when a node crashes: timers and delayed sends from before are void.
    node_epoch: Vec<u32>,
    /// The IPv4 identification of the next packet each node sends.
    node_ip_id: Vec<u16>,
    lans: Vec<Lan>,
    ports: Vec<Port>,
    log: EventLog,
    actions: Vec<Action>,
    /// Where timing draws are reported (and maybe pinned), when a shrink asks.
    draws: Option<Arc<Draws>>,
    /// Deliver every frame, even to clients that would drop it whatever their state (tests
    /// use it to show the shortcut changes no outcome).
    deliver_all: bool,
    /// The frame of the delivery being handled, so a drop record shares it.
    delivering: Option<Rc<[u8]>>,
    /// Buffers `transmit` reuses rather than allocating for every frame.
    scratch_targets: Vec<PortId>,
    scratch_deliveries: Vec<(u64, PortId)>,
}

/// One interface of a node being added: which LAN, which MAC, which addresses it answers for.
pub struct Attachment {
    pub lan: LanId,
    pub mac: EthernetAddress,
    /// Addresses the interface answers ARP for with `mac` (the first is the source of its
    /// requests). A client's lease is added when it gets one (`Cx::set_address`).
    pub addresses: Vec<Ipv4Addr>,
    /// Virtual MACs this interface may claim, with the addresses it answers with them while it
    /// holds the MAC.
    pub virtual_macs: Vec<(EthernetAddress, Vec<Ipv4Addr>)>,
}

impl Builder {
    pub fn new(seed: u64, limits: Limits) -> Builder {
        Builder::with_draws(seed, limits, None)
    }

    /// A builder whose streams report every timing draw to `draws`, which may pin them to
    /// nominal values (`pxelab shrink`).
    pub fn with_draws(seed: u64, limits: Limits, draws: Option<Arc<Draws>>) -> Builder {
        let world = World {
            seed,
            now_ns: 0,
            seq: 0,
            events: 0,
            limits,
            queue: Queue::default(),
            foreground: 0,
            nodes: Vec::new(),
            node_names: Vec::new(),
            node_ports: Vec::new(),
            node_up: Vec::new(),
            node_epoch: Vec::new(),
            node_ip_id: Vec::new(),
            lans: Vec::new(),
            ports: Vec::new(),
            log: EventLog::new(seed, Vec::new(), Vec::new()),
            actions: Vec::new(),
            draws,
            deliver_all: false,
            delivering: None,
            scratch_targets: Vec::new(),
            scratch_deliveries: Vec::new(),
        };
        Builder {
            world,
            retention: Retention::All,
        }
    }

    /// Delivers every frame to every port the switch forwards it to, even to clients that
    /// would drop it whatever their state (at the LAN's nominal latency, with no draw). Only
    /// the log differs; tests use it to show that.
    pub fn set_deliver_all(&mut self, deliver_all: bool) {
        self.world.deliver_all = deliver_all;
    }

    pub fn seed(&self) -> u64 {
        self.world.seed
    }

    /// The stream `name` names under this world's seed: how nodes get their streams.
    pub fn named_stream(&self, name: StreamName<'_>) -> Stream {
        Stream::named(self.world.seed, name, self.world.draws.as_ref())
    }

    /// Adds router `name`; its relay delay and redundancy phase draw from the streams the
    /// engine names after it, whoever builds the world.
    pub fn add_router(
        &mut self,
        name: &str,
        config: RouterConfig,
        attachments: Vec<Attachment>,
    ) -> NodeId {
        let relay = self.named_stream(StreamName::RelayDelay { router: name });
        let phase = self.named_stream(StreamName::RedundancyPhase { router: name });
        let router = Router::new(config, relay, phase);
        self.add_node(name, Node::Router(Box::new(router)), attachments, 0)
    }

    pub fn add_lan(&mut self, name: &str, config: LanConfig) -> LanId {
        self.world.lans.push(Lan {
            name: name.to_string(),
            config,
            ports: Vec::new(),
            others: Vec::new(),
            learned: BTreeMap::new(),
            client_nics: BTreeMap::new(),
            client_addresses: BTreeMap::new(),
        });
        LanId::from_index(self.world.lans.len() - 1)
    }

    /// Adds a node with its interfaces; it starts at `start_ns`.
    pub fn add_node(
        &mut self,
        name: &str,
        node: Node,
        attachments: Vec<Attachment>,
        start_ns: u64,
    ) -> NodeId {
        let id = NodeId::from_index(self.world.nodes.len());
        let client = matches!(node, Node::Client(_));
        let arp_config = match node {
            Node::Router(_) => ArpConfig::ROUTER,
            Node::Client(_) => ArpConfig::FIRMWARE,
            Node::Server(_) | Node::Scripted(_) | Node::Bridge(_) => ArpConfig::HOST,
        };
        let mut ports = Vec::new();
        for (interface, attachment) in attachments.into_iter().enumerate() {
            let port = self.world.ports.len();
            let lan = &mut self.world.lans[attachment.lan.index()];
            lan.ports.push(port);
            if client {
                lan.client_nics.insert(attachment.mac, port);
            } else {
                lan.others.push(port);
            }
            let mut arp = arp::Table::new(arp_config, attachment.addresses);
            // Answered only while the node claims the MAC (`own_virtual_mac`).
            arp.virtual_addresses = attachment.virtual_macs;
            self.world.ports.push(Port {
                node: id,
                interface: interface as u32,
                lan: attachment.lan,
                mac: attachment.mac,
                virtual_macs: Vec::new(),
                arp,
                client,
                up: true,
                link: None,
                fifo: BTreeMap::new(),
                fifo_horizon_ns: 0,
            });
            ports.push(port);
        }
        self.world.nodes.push(node);
        self.world.node_names.push(name.to_string());
        self.world.node_ports.push(ports);
        self.world.node_up.push(true);
        self.world.node_epoch.push(0);
        self.world.node_ip_id.push(1);
        self.world.schedule(start_ns, Event::Start { node: id });
        id
    }

    /// Puts a fault on the timeline.
    pub fn add_fault(&mut self, at_ns: u64, fault: Fault) {
        self.world.schedule(at_ns, Event::Fault(Box::new(fault)));
    }

    /// The node with this name.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.world.node_id(name)
    }

    /// Keeps the run going at least until `at_ns`, even with nothing but keepalives to do.
    pub fn hold_until(&mut self, at_ns: u64) {
        self.world.schedule(at_ns, Event::Hold);
    }

    /// Which records the run's log keeps (`Retention::All` unless set).
    pub fn retain(&mut self, retention: Retention) {
        self.retention = retention;
    }

    /// The world, ready to run: the event log starts here, naming every node and LAN.
    pub fn build(self) -> World {
        let mut world = self.world;
        let lan_names = world.lans.iter().map(|lan| lan.name.clone()).collect();
        world.log = EventLog::new(world.seed, world.node_names.clone(), lan_names);
        let servers = world
            .nodes
            .iter()
            .map(|node| matches!(node, Node::Server(_)))
            .collect();
        world.log.retain(self.retention, servers);
        world
    }
}

impl World {
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The node with this name.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_names
            .iter()
            .position(|n| n == name)
            .map(NodeId::from_index)
    }

    fn schedule(&mut self, time_ns: u64, event: Event) {
        let seq = self.seq;
        self.seq += 1;
        if !event.is_background() {
            self.foreground += 1;
        }
        self.queue.push(time_ns, seq, event);
    }

    /// Runs until nothing is left to do or a limit is hit.
    pub fn run(mut self) -> Finished {
        let stop = loop {
            if let Some(stop) = self.handle_until(u64::MAX, true) {
                break stop;
            }
        };
        self.finish(stop)
    }

    /// Steps a world that something outside drives (`pxelab live`, the replay of a live run):
    /// handles every event due at or before `until_ns`, then lets time pass to `until_ns`, idle
    /// or not, since the outside may still send. `Err` is the limit that ends the run there.
    pub fn step_until(&mut self, until_ns: u64) -> Result<(), StopReason> {
        let max_ns = self.limits.sim_time_max_ns;
        if let Some(stop) = self.handle_until(until_ns.min(max_ns), false) {
            return Err(stop);
        }
        if until_ns > max_ns {
            return Err(StopReason::SimTimeLimit);
        }
        self.now_ns = self.now_ns.max(until_ns);
        Ok(())
    }

    /// When the next event is due, if any: how long a driver may wait before stepping again.
    pub fn next_event_ns(&self) -> Option<u64> {
        self.queue.peek_time_ns()
    }

    /// Hands `frame` to bridge `node` to put on its LAN now (after `step_until`: at the time
    /// stepped to). Another kind of node, or a bridge that is down, takes nothing.
    pub fn inject(&mut self, node: NodeId, frame: Vec<u8>) {
        if matches!(self.nodes.get(node.index()), Some(Node::Bridge(_))) {
            self.schedule(self.now_ns, Event::Inject { node, frame });
        }
    }

    /// The frames LANs delivered to bridge `node` since the last call, with their virtual
    /// arrival times, oldest first.
    pub fn drain(&mut self, node: NodeId) -> Vec<(u64, Rc<[u8]>)> {
        match self.nodes.get_mut(node.index()) {
            Some(Node::Bridge(bridge)) => bridge.drain(),
            _ => Vec::new(),
        }
    }

    /// Ends the run here, for the reason given (a driver's own is `StopReason::Stopped`).
    pub fn finish(self, stop: StopReason) -> Finished {
        let report = Report::new(&self, stop);
        Finished {
            world: self,
            report,
        }
    }

    /// Handles the events due at or before `until_ns`. `Some` is a limit that ends the run or,
    /// with `end_when_quiescent`, the run being over; `None`: the next event is later (or, when
    /// stepped, there is none).
    fn handle_until(&mut self, until_ns: u64, end_when_quiescent: bool) -> Option<StopReason> {
        loop {
            let next_ns = self.queue.peek_time_ns();
            if end_when_quiescent && (next_ns.is_none() || self.foreground == 0) {
                return Some(StopReason::Quiescent);
            }
            let next_ns = next_ns?;
            if next_ns > until_ns {
                return None;
            }
            if next_ns > self.limits.sim_time_max_ns {
                return Some(StopReason::SimTimeLimit);
            }
            if self.events >= self.limits.events_max {
                return Some(StopReason::EventLimit);
            }
            let Some((time_ns, event)) = self.queue.pop() else {
                unreachable!()
            };
            assert!(time_ns >= self.now_ns, "time went backwards");
            if !event.is_background() {
                self.foreground -= 1;
            }
            self.now_ns = time_ns;
            self.events += 1;
            self.dispatch(event);
        }
    }

    fn dispatch(&mut self, event: Event) {
        let log = &mut self.log;
        match event {
            Event::Transmit {
                node,
                epoch,
                interface,
                next_hop,
                forwarded,
                frame,
            } => {
                if epoch == self.node_epoch[node.index()] {
                    self.send(node, interface, next_hop, forwarded, frame);
                }
            }
            Event::ArpRetry {
                port,
                epoch,
                address,
                sent,
            } => {
                if epoch == self.node_epoch[self.ports[port].node.index()] {
                    self.arp_retry(port, address, sent);
                }
            }
            Event::Deliver { port, frame } => {
                let Port {
                    node,
                    interface,
                    lan,
                    up,
                    ..
                } = self.ports[port];
                if !up || !self.node_up[node.index()] {
                    let reason = if up {
                        DropReason::NodeDown
                    } else {
                        DropReason::LinkDown
                    };
                    log.push(Record {
                        time_ns: self.now_ns,
                        node,
                        kind: Kind::Drop {
                            reason: Box::new(reason),
                            frame: frame.into(),
                        },
                    });
                    return;
                }
                log.push(Record {
                    time_ns: self.now_ns,
                    node,
                    kind: Kind::Receive {
                        lan,
                        interface,
                        frame: frame.clone().into(),
                    },
                });
                if arp::is_arp(&frame) {
                    self.arp_input(port, &frame);
                    // A tap is a raw socket beside the host's stack, and a bridge carries the
                    // frames of the machines behind it: both see ARP too.
                    if !matches!(
                        self.nodes[node.index()],
                        Node::Scripted(_) | Node::Bridge(_)
                    ) {
                        return;
                    }
                }
                self.delivering = Some(frame.clone());
                self.with_node(node, |node, cx| match node {
                    Node::Router(router) => router.on_frame(cx, interface, &frame),
                    Node::Client(client) => client.on_frame(cx, &frame),
                    Node::Server(server) => server.on_frame(cx, &frame),
                    Node::Scripted(tap) => tap.on_frame(cx, &frame),
                    Node::Bridge(bridge) => bridge.on_frame(cx, &frame),
                });
                self.delivering = None;
            }
            Event::Timer {
                node, epoch, token, ..
            } => {
                if epoch != self.node_epoch[node.index()] {
                    return;
                }
                log.push(Record {
                    time_ns: self.now_ns,
                    node,
                    kind: Kind::Timer { token },
                });
                self.with_node(node, |node, cx| match node {
                    Node::Router(router) => router.on_timer(cx, token),
                    Node::Client(client) => client.on_timer(cx, token),
                    Node::Server(server) => server.on_timer(cx, token),
                    Node::Scripted(tap) => tap.on_timer(cx, token),
                    Node::Bridge(_) => {}
                });
            }
            Event::Start { node } => {
                if !self.node_up[node.index()] {
                    return;
                }
                self.with_node(node, |node, cx| match node {
                    Node::Router(router) => router.start(cx),
                    Node::Client(client) => client.start(cx),
                    Node::Server(server) => server.start(cx),
                    Node::Scripted(tap) => tap.start(cx),
                    Node::Bridge(_) => {}
                })
            }
            Event::Inject { node, frame } => {
                if !self.node_up[node.index()] {
                    return;
                }
                self.with_node(node, |node, cx| {
                    if let Node::Bridge(bridge) = node {
                        bridge.inject(cx, frame);
                    }
                })
            }
            Event::Fault(fault) => self.apply(*fault),
            Event::Hold => {}
        }
    }

    fn apply(&mut self, fault: Fault) {
        match fault {
            Fault::Shutdown { node } => {
                if !self.node_up[node.index()] {
                    return;
                }
                self.with_node(node, |node, cx| {
                    cx.event(Kind::Fault(FaultEvent::ShuttingDown));
                    if let Node::Router(router) = node {
                        router.resign(cx);
                    }
                });
                self.apply(Fault::Crash { node });
            }
            Fault::Crash { node } => {
                if !self.node_up[node.index()] {
                    return;
                }
                self.node_up[node.index()] = false;
                self.node_epoch[node.index()] += 1;
                for index in 0..self.node_ports[node.index()].len() {
                    let port = self.node_ports[node.index()][index];
                    let port_state = &mut self.ports[port];
                    port_state.virtual_macs.clear();
                    let waiting = port_state.arp.clear();
                    self.lans[port_state.lan.index()].flush(port);
                    for frame in waiting {
                        self.drop_queued(port, DropReason::NodeDown, frame);
                    }
                }
                self.with_node(node, |node, cx| {
                    cx.event(Kind::Fault(FaultEvent::Crashed));
                    match node {
                        Node::Router(router) => router.power_off(),
                        Node::Server(server) => server.power_off(),
                        Node::Client(_) | Node::Scripted(_) | Node::Bridge(_) => {}
                    }
                });
            }
            Fault::Recover { node } => {
                if self.node_up[node.index()] {
                    return;
                }
                self.node_up[node.index()] = true;
                self.with_node(node, |node, cx| {
                    cx.event(Kind::Fault(FaultEvent::Recovered));
                    if let Node::Server(server) = node {
                        server.power_on(cx);
                    }
                });
                if !matches!(self.nodes[node.index()], Node::Server(_)) {
                    self.schedule(self.now_ns, Event::Start { node });
                }
            }
            Fault::Link {
                node,
                interface,
                up,
            } => {
                let Some(&port) = self.node_ports[node.index()].get(interface as usize) else {
                    return;
                };
                if self.ports[port].up == up {
                    return;
                }
                self.ports[port].up = up;
                if !up {
                    let lan = self.ports[port].lan;
                    self.lans[lan.index()].flush(port);
                    for frame in self.ports[port].arp.clear() {
                        self.drop_queued(port, DropReason::LinkDown, frame);
                    }
                }
                if !self.node_up[node.index()] {
                    return;
                }
                self.with_node(node, |node, cx| {
                    cx.event(Kind::Fault(FaultEvent::Link { interface, up }));
                    if let Node::Router(router) = node {
                        router.on_link(cx, interface, up);
                    }
                });
            }
            Fault::Service { node, action } => {
                if !self.node_up[node.index()] {
                    return;
                }
                self.with_node(node, |node, cx| {
                    if let Node::Server(server) = node {
                        match action {
                            ServiceAction::Restart => server.restart_service(cx),
                            ServiceAction::RestartWmi => server.restart_wmi(cx),
                            ServiceAction::Reboot => server.reboot(cx),
                        }
                    }
                });
            }
            Fault::Lan { lan, change } => {
                let config = &mut self.lans[lan.index()].config;
                let LanChange {
                    latency,
                    loss,
                    duplicate,
                    reorder,
                    reorder_delay,
                } = change;
                if let Some(latency) = latency {
                    config.latency = latency;
                }
                if let Some(loss) = loss {
                    config.loss = loss;
                }
                if let Some(duplicate) = duplicate {
                    config.duplicate = duplicate;
                }
                if let Some(reorder) = reorder {
                    config.reorder = reorder;
                }
                if let Some(reorder_delay) = reorder_delay {
                    config.reorder_delay = reorder_delay;
                }
                let change = LanChanged {
                    lan: self.lans[lan.index()].name.clone(),
                    config: self.lans[lan.index()].config.clone(),
                };
                let log = &mut self.log;
                log.push(Record {
                    time_ns: self.now_ns,
                    node: crate::log::NETWORK,
                    kind: Kind::Network(Box::new(change)),
                });
            }
        }
    }

    fn with_node(&mut self, id: NodeId, handler: impl FnOnce(&mut Node, &mut Cx)) {
        let mut actions = std::mem::take(&mut self.actions);
        let mut cx = Cx {
            now_ns: self.now_ns,
            node: id,
            actions: &mut actions,
            log: &mut self.log,
            delivering: self.delivering.as_ref(),
        };
        handler(&mut self.nodes[id.index()], &mut cx);
        for action in actions.drain(..) {
            match action {
                Action::Send {
                    interface,
                    frame,
                    delay_ns: 0,
                    next_hop,
                    forwarded,
                } => self.send(id, interface, next_hop, forwarded, frame),
                Action::Send {
                    interface,
                    frame,
                    delay_ns,
                    next_hop,
                    forwarded,
                } => self.schedule(
                    self.now_ns + delay_ns,
                    Event::Transmit {
                        node: id,
                        epoch: self.node_epoch[id.index()],
                        interface,
                        next_hop,
                        forwarded,
                        frame,
                    },
                ),
                Action::Address { interface, address } => self.set_address(id, interface, address),
                Action::Announce {
                    interface,
                    address,
                    mac,
                    count,
                    delay_ns,
                    target_broadcast,
                } => {
                    for _ in 0..count {
                        let frame = arp::announcement(mac, address, target_broadcast);
                        if delay_ns == 0 {
                            self.transmit(id, interface, Rc::from(frame));
                        } else {
                            self.schedule(
                                self.now_ns + delay_ns,
                                Event::Transmit {
                                    node: id,
                                    epoch: self.node_epoch[id.index()],
                                    interface,
                                    next_hop: None,
                                    forwarded: false,
                                    frame,
                                },
                            );
                        }
                    }
                }
                Action::Timer {
                    delay_ns,
                    token,
                    background,
                } => self.schedule(
                    self.now_ns + delay_ns,
                    Event::Timer {
                        node: id,
                        epoch: self.node_epoch[id.index()],
                        token,
                        background,
                    },
                ),
                Action::VirtualMac {
                    interface,
                    mac,
                    owned,
                } => {
                    let Some(&port) = self.node_ports[id.index()].get(interface as usize) else {
                        continue;
                    };
                    // The NIC's filter and the MACs ARP answers virtual IPs with (the port's own,
                    // for keepalived without `use_vmac`; the filter takes that one anyway). The
                    // switch learns where the MAC is from the frames the new owner sends from
                    // it (its hellos, its gratuitous ARPs).
                    let port_state = &mut self.ports[port];
                    port_state.virtual_macs.retain(|&m| m != mac);
                    if owned {
                        port_state.virtual_macs.push(mac);
                    }
                }
            }
        }
        self.actions = actions;
    }

    /// Puts a frame on the sender's LAN: one delivery per port that accepts it, each after its
    /// own latency draw, in port order (deterministic).
    fn transmit(&mut self, node: NodeId, interface: u32, frame: Rc<[u8]>) {
        let Some(&from) = self.node_ports[node.index()].get(interface as usize) else {
            panic!(
                "node {} sent on interface {interface}, which it does not have",
                self.node_names[node.index()]
            );
        };
        let lan_id = self.ports[from].lan;
        let log = &mut self.log;
        let mtu = self.lans[lan_id.index()].config.mtu;
        let packet_len = frame.len().saturating_sub(frame::ETHERNET_HEADER_LEN);
        let refused = if !self.ports[from].up {
            Some(DropReason::InterfaceDown { interface })
        } else if packet_len > mtu {
            Some(DropReason::ExceedsMtu {
                size: packet_len as u16,
                mtu: mtu as u16,
            })
        } else {
            None
        };
        if let Some(reason) = refused {
            log.push(Record {
                time_ns: self.now_ns,
                node,
                kind: Kind::Drop {
                    reason: Box::new(reason),
                    frame: frame.into(),
                },
            });
            return;
        }
        log.push(Record {
            time_ns: self.now_ns,
            node,
            kind: Kind::Send {
                lan: lan_id,
                interface,
                frame: frame.clone().into(),
            },
        });
        // A switch looks at the Ethernet header only: it learns the source's port, sends a
        // unicast to the port it learned for the destination, and floods anything else
        // (broadcast, multicast, a MAC it does not know or has aged out).
        let (src_mac, dst_mac) = match EthernetFrame::new_checked(&frame[..]) {
            Ok(ethernet) => (Some(ethernet.src_addr()), Some(ethernet.dst_addr())),
            Err(_) => (None, None),
        };
        if let Some(src_mac) = src_mac.filter(|&mac| !frame::is_group(mac)) {
            self.lans[lan_id.index()]
                .learned
                .insert(src_mac, (from, self.now_ns));
        }
        // Clients drop most frames whatever their state (another client's DHCP reply, a
        // multicast, another client's DISCOVER, an ARP request for another address). Those are
        // not delivered at all: no event, no record and no draw, so a broadcast costs the same
        // on a LAN of ten or ten thousand.
        let lan = &self.lans[lan_id.index()];
        let owner = dst_mac
            .filter(|&mac| !frame::is_group(mac))
            .and_then(|mac| lan.lookup(mac, self.now_ns));
        let audience = match owner {
            // A unicast to a server or router: no client to ask.
            Some(port) if !self.ports[port].client => Audience::Every,
            _ => World::audience(&self.ports, lan, &frame),
        };
        let flooded = if self.deliver_all {
            Audience::Every
        } else {
            audience
        };
        let mut targets = std::mem::take(&mut self.scratch_targets);
        targets.clear();
        match owner {
            Some(port) => targets.push(port),
            None => match flooded {
                Audience::Every => targets.extend_from_slice(&lan.ports),
                Audience::Nobody => targets.extend_from_slice(&lan.others),
                Audience::Only(mac) => {
                    targets.extend_from_slice(&lan.others);
                    if let Some(&port) = lan.client_nics.get(&mac) {
                        let at = targets.binary_search(&port).unwrap_or_else(|at| at);
                        targets.insert(at, port);
                    }
                }
            },
        }
        let mut ignored = Vec::new();
        targets.retain(|&to| {
            let port = &self.ports[to];
            let wanted = !port.client || audience.admits(port.mac);
            if !wanted && self.deliver_all && to != from {
                ignored.push(to);
            }
            to != from && wanted
        });

        let config = &lan.config;
        let mut fifo = std::mem::take(&mut self.ports[from].fifo);
        let mut horizon_ns = self.ports[from].fifo_horizon_ns;
        if horizon_ns <= self.now_ns {
            // Every frame this port sent has arrived: no earlier delivery can bound a new one.
            fifo.clear();
        }
        let mut deliveries = std::mem::take(&mut self.scratch_deliveries);
        deliveries.clear();
        let mut lost = Vec::new();
        for &to in &targets {
            let port = &mut self.ports[to];
            let link = port.link.get_or_insert_with(|| {
                let name = StreamName::Link {
                    lan: &lan.name,
                    node: &self.node_names[port.node.index()],
                    interface: port.interface,
                    draw: LinkDraw::Latency,
                };
                LinkStreams::new(self.seed, self.draws.as_ref(), name)
            });
            let latency_ns = link.latency.sample(&config.latency);
            if config.loss > 0.0 && link.loss().chance(config.loss) {
                lost.push(to);
                continue;
            }
            if config.reorder > 0.0 && link.reorder().chance(config.reorder) {
                // Held back and out of the FIFO: later frames between the pair may overtake it.
                let extra_ns = link.reorder().sample(&config.reorder_delay);
                deliveries.push((self.now_ns + latency_ns + extra_ns, to));
            } else {
                let last = fifo.entry(to).or_insert(0);
                let at_ns = (self.now_ns + latency_ns).max(*last);
                *last = at_ns;
                horizon_ns = horizon_ns.max(at_ns);
                deliveries.push((at_ns, to));
            }
            if config.duplicate > 0.0 && link.duplicate().chance(config.duplicate) {
                let again_ns = link.duplicate().sample(&config.latency);
                deliveries.push((self.now_ns + latency_ns + again_ns, to));
            }
        }
        self.scratch_targets = targets;
        self.ports[from].fifo = fifo;
        self.ports[from].fifo_horizon_ns = horizon_ns;
        // (Tests only.) Frames clients ignore arrive at the nominal latency, with no draw, so
        // that nothing but the log differs from a normal run.
        let nominal_ns = self.now_ns + lan.config.latency.nominal_ns();
        deliveries.extend(ignored.into_iter().map(|to| (nominal_ns, to)));
        for port in lost {
            log.push(Record {
                time_ns: self.now_ns,
                node: self.ports[port].node,
                kind: Kind::Drop {
                    reason: Box::new(DropReason::Lost {
                        lan: self.lans[lan_id.index()].name.clone(),
                    }),
                    frame: frame.clone().into(),
                },
            });
        }
        for &(at_ns, port) in &deliveries {
            self.schedule(
                at_ns,
                Event::Deliver {
                    port,
                    frame: frame.clone(),
                },
            );
        }
        self.scratch_deliveries = deliveries;
    }

    /// Which clients a frame concerns: `PxeClient::audience`, and for an ARP request the client
    /// holding the address it asks for (every client, for a gratuitous ARP that may update
    /// their tables).
    fn audience(ports: &[Port], lan: &Lan, frame: &[u8]) -> Audience {
        let Some(smoltcp::wire::ArpRepr::EthernetIpv4 {
            operation: smoltcp::wire::ArpOperation::Request,
            source_protocol_addr,
            target_protocol_addr,
            ..
        }) = arp::parse(frame)
        else {
            return PxeClient::audience(frame);
        };
        if source_protocol_addr == target_protocol_addr {
            return Audience::Every;
        }
        match lan.client_addresses.get(&target_protocol_addr) {
            Some(&port) => Audience::Only(ports[port].mac),
            None => Audience::Nobody,
        }
    }

    /// Sends a node's frame: as it is, or to `next_hop` once the interface's ARP resolves it.
    /// An IPv4 packet the node originates gets the next value of the node's identification
    /// counter, as IP stacks number their datagrams.
    fn send(
        &mut self,
        node: NodeId,
        interface: u32,
        next_hop: Option<Ipv4Addr>,
        forwarded: bool,
        mut frame: Vec<u8>,
    ) {
        if !forwarded && frame::set_ipv4_ident(&mut frame, self.node_ip_id[node.index()]) {
            self.node_ip_id[node.index()] = self.node_ip_id[node.index()].wrapping_add(1);
        }
        let Some(next_hop) = next_hop else {
            return self.transmit(node, interface, Rc::from(frame));
        };
        let Some(&port) = self.node_ports[node.index()].get(interface as usize) else {
            panic!(
                "node {} sent on interface {interface}, which it does not have",
                self.node_names[node.index()]
            );
        };
        match self.ports[port].arp.resolve(self.now_ns, next_hop, frame) {
            Resolve::Ready(frame) => self.transmit(node, interface, Rc::from(frame)),
            Resolve::Request => self.arp_request(port, next_hop, 1),
            Resolve::Waiting => {}
            Resolve::Overflow(frame) => {
                self.drop_queued(port, DropReason::ArpQueueFull { address: next_hop }, frame)
            }
        }
    }

    /// Broadcasts request number `sent` for `address` and arms its retransmit timer.
    fn arp_request(&mut self, port: PortId, address: Ipv4Addr, sent: u32) {
        let Port {
            node,
            interface,
            mac,
            ..
        } = self.ports[port];
        let source = self.ports[port].arp.source_address();
        self.transmit(
            node,
            interface,
            Rc::from(arp::request(mac, source, address)),
        );
        let retransmit_ns = self.ports[port].arp.config.retransmit_ns;
        self.schedule(
            self.now_ns + retransmit_ns,
            Event::ArpRetry {
                port,
                epoch: self.node_epoch[node.index()],
                address,
                sent,
            },
        );
    }

    fn arp_retry(&mut self, port: PortId, address: Ipv4Addr, sent: u32) {
        match self.ports[port].arp.retry(address, sent) {
            Retry::Again(sent) => self.arp_request(port, address, sent),
            Retry::GiveUp(frames) => {
                for frame in frames {
                    self.drop_queued(port, DropReason::NoArpReply { address }, frame);
                }
            }
            Retry::Settled => {}
        }
    }

    fn drop_queued(&mut self, port: PortId, reason: DropReason, frame: Vec<u8>) {
        let log = &mut self.log;
        log.push(Record {
            time_ns: self.now_ns,
            node: self.ports[port].node,
            kind: Kind::Drop {
                reason: Box::new(reason),
                frame: Frame::from(frame),
            },
        });
    }

    /// An ARP frame delivered to a port: the interface's stack takes it (answers, learns,
    /// releases frames that waited for the sender).
    fn arp_input(&mut self, port: PortId, bytes: &Rc<[u8]>) {
        let node = self.ports[port].node;
        let drop = |world: &mut World, reason: DropReason| {
            let log = &mut world.log;
            log.push(Record {
                time_ns: world.now_ns,
                node,
                kind: Kind::Drop {
                    reason: Box::new(reason),
                    frame: bytes.clone().into(),
                },
            });
        };
        let Some(repr) = arp::parse(bytes) else {
            return drop(self, DropReason::malformed(Layer::Arp, ""));
        };
        let state = &self.ports[port];
        let dst_mac = EthernetFrame::new_unchecked(&bytes[..]).dst_addr();
        if !dst_mac.is_broadcast() && dst_mac != state.mac && !state.virtual_macs.contains(&dst_mac)
        {
            return drop(self, DropReason::ArpNotForInterface);
        }
        let smoltcp::wire::ArpRepr::EthernetIpv4 {
            target_protocol_addr,
            ..
        } = repr
        else {
            return drop(self, DropReason::malformed(Layer::Arp, ""));
        };
        let answer = state
            .arp
            .answers(target_protocol_addr, state.mac, &state.virtual_macs);
        let now_ns = self.now_ns;
        let taken = self.ports[port].arp.take(now_ns, &repr, answer);
        let interface = self.ports[port].interface;
        if let Some(reply) = taken.reply {
            self.transmit(node, interface, Rc::from(reply));
        }
        for frame in taken.released {
            self.transmit(node, interface, Rc::from(frame));
        }
        if !taken.used {
            drop(self, DropReason::ArpForAnotherHost);
        }
    }

    /// A node's interface takes (or gives up) an address: its ARP answers for it from now on.
    fn set_address(&mut self, node: NodeId, interface: u32, address: Option<Ipv4Addr>) {
        let Some(&port) = self.node_ports[node.index()].get(interface as usize) else {
            return;
        };
        let state = &mut self.ports[port];
        let lan = &mut self.lans[state.lan.index()];
        for old in state.arp.addresses.drain(..) {
            if lan.client_addresses.get(&old) == Some(&port) {
                lan.client_addresses.remove(&old);
            }
        }
        if let Some(address) = address {
            state.arp.addresses.push(address);
            if state.client {
                lan.client_addresses.insert(address, port);
            }
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Replaces the run's limits (a check, say, that runs no simulated time).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.node_names.iter().map(String::as_str).zip(&self.nodes)
    }
}

/// A run that is over: what happened (the event log), where every node ended, and the report
/// derived from them.
pub struct Finished {
    world: World,
    report: Report,
}

impl Finished {
    pub fn report(&self) -> &Report {
        &self.report
    }

    pub fn into_report(self) -> Report {
        self.report
    }

    pub fn stop(&self) -> StopReason {
        self.report.stop
    }

    pub fn log(&self) -> &EventLog {
        &self.world.log
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.world.nodes()
    }

    pub fn seed(&self) -> u64 {
        self.world.seed
    }

    /// Events handled.
    pub fn events(&self) -> u64 {
        self.world.events
    }

    /// Simulated time at the end.
    pub fn now_ns(&self) -> u64 {
        self.world.now_ns
    }

    /// The node with this name.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.world.node_id(name)
    }
}

#[cfg(test)]
mod queue_tests {
    use super::{Key, QuadHeap};

    /// Pushes and pops interleaved, with repeated times: the heap pops in `(time, seq)` order,
    /// as a sort of everything pushed says.
    #[test]
    fn the_quad_heap_pops_in_time_then_seq_order() {
        let mut heap = QuadHeap::default();
        let mut pending: Vec<(u64, u64)> = Vec::new();
        let mut popped = Vec::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seq in 0..5_000u64 {
            let time_ns = next() % 300;
            heap.push(Key {
                time_ns,
                seq,
                slot: seq as u32,
            });
            pending.push((time_ns, seq));
            if next() % 3 == 0 {
                let key = heap.pop().expect("a key is queued");
                popped.push((key.time_ns, key.seq));
                pending.sort_unstable();
                assert_eq!(pending.remove(0), (key.time_ns, key.seq));
                assert_eq!(key.slot as u64, key.seq);
            }
        }
        while let Some(key) = heap.pop() {
            popped.push((key.time_ns, key.seq));
        }
        pending.sort_unstable();
        assert!(heap.pop().is_none());
        assert_eq!(popped.len(), 5_000);
        let tail = &popped[popped.len() - pending.len()..];
        assert_eq!(tail, &pending[..]);
    }
}
