//! First-hop redundancy for one group on one router interface: HSRP v1/v2 (RFC 2281, Cisco
//! HSRPv2) and VRRP v2/v3 (RFC 3768, RFC 5798). The machines send and hear real packets; the
//! router owns the wire and hands them each packet for their group.
//!
//! A run starts from the network as it stood before the first client powered on: each group in
//! the state its election converged to (`converged`, which the topology applies to its groups),
//! with its hello phase drawn from the router's stream. A router that recovers from a crash
//! starts cold, from Initial.

use std::fmt;
use std::net::Ipv4Addr;

use smoltcp::wire::{EthernetAddress, IpProtocol};
use wire::{hsrp, vrrp};

use crate::event::{Cause, RedundancyChange};
use crate::frame::{self, IpFrame, UdpFrame};
use crate::log::{Kind, Level};
use crate::rng::Stream;
use crate::world::Cx;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Hsrp,
    Vrrp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Hsrp => "HSRP",
            Protocol::Vrrp => "VRRP",
        })
    }
}

/// The state a group starts in at time zero (the election's converged result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initial {
    /// HSRP Active / VRRP Master.
    Active,
    /// HSRP Standby / VRRP Backup.
    Standby,
    /// HSRP Listen (neither active nor standby) / VRRP Backup.
    Listen,
    /// From Initial, as after power-on.
    Cold,
}

#[derive(Clone, Debug)]
pub struct GroupConfig {
    pub protocol: Protocol,
    /// HSRP 1 or 2; VRRP 2 or 3.
    pub version: u8,
    /// HSRP group (v1 0..=255, v2 0..=4095) or VRRP VRID (1..=255).
    pub group: u16,
    pub virtual_ip: Ipv4Addr,
    /// 0..=255; VRRP 255 is the address owner.
    pub priority: u8,
    pub preempt: bool,
    /// HSRP `preempt delay minimum`: wait this long before a coup.
    pub preempt_delay_ns: u64,
    /// HSRP hello time / VRRP advertisement interval.
    pub hello_ns: u64,
    /// HSRP hold time (VRRP derives Master_Down_Interval instead).
    pub hold_ns: u64,
    pub initial: Initial,
    /// What the router announces when it takes the virtual IP over.
    pub gratuitous_arp: GratuitousArp,
    /// The virtual IP lives at the protocol's virtual MAC (HSRP always; VRRP as RFC 5798, FRR
    /// and Cisco do); false: at the interface's own MAC, adverts and gratuitous ARPs from it
    /// too (keepalived without `use_vmac`).
    pub use_vmac: bool,
    /// VRRP adverts are numbered by the group itself from 1 (keepalived's raw socket per
    /// instance) rather than by the router's IP stack.
    pub advert_ident_per_group: bool,
    /// The IPv4 don't-fragment bit on VRRP adverts (keepalived leaves it clear).
    pub advert_dont_fragment: bool,
}

/// Gratuitous ARPs a router sends when it becomes HSRP Active or VRRP Master, so that hosts and
/// switches learn where the virtual IP and MAC are now: `count` at once, then `repeat` more
/// after `repeat_after_ns` (keepalived: 5 and 5 after 5 s; FRR and Cisco IOS: one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GratuitousArp {
    pub count: u32,
    pub repeat: u32,
    pub repeat_after_ns: u64,
    /// The target hardware address: ff:ff:ff:ff:ff:ff (keepalived) or zero (RFC 5227).
    pub target_broadcast: bool,
}

impl Default for GratuitousArp {
    fn default() -> GratuitousArp {
        GratuitousArp {
            count: 1,
            repeat: 0,
            repeat_after_ns: 5_000_000_000,
            target_broadcast: false,
        }
    }
}

impl GroupConfig {
    pub fn virtual_mac(&self) -> EthernetAddress {
        EthernetAddress(match self.protocol {
            Protocol::Hsrp => hsrp::virtual_mac(hsrp_version(self.version), self.group),
            Protocol::Vrrp => vrrp::virtual_mac(self.group as u8),
        })
    }

    /// VRRP Skew_Time: ((256 - Priority) * Master_Adver_Interval) / 256.
    fn skew_ns(&self, adver_ns: u64) -> u64 {
        (256 - u64::from(self.priority)) * adver_ns / 256
    }

    /// VRRP Master_Down_Interval: 3 * Master_Adver_Interval + Skew_Time.
    fn master_down_ns(&self, adver_ns: u64) -> u64 {
        3 * adver_ns + self.skew_ns(adver_ns)
    }
}

fn hsrp_version(version: u8) -> hsrp::Version {
    if version == 2 {
        hsrp::Version::V2
    } else {
        hsrp::Version::V1
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Initial,
    Learn,
    Listen,
    Speak,
    Standby,
    Active,
    Backup,
    Master,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl State {
    fn hsrp(self) -> hsrp::State {
        match self {
            State::Initial | State::Backup => hsrp::State::Initial,
            State::Learn => hsrp::State::Learn,
            State::Listen => hsrp::State::Listen,
            State::Speak => hsrp::State::Speak,
            State::Standby => hsrp::State::Standby,
            State::Active | State::Master => hsrp::State::Active,
        }
    }
}

/// The timers a group runs. A token carries the timer's epoch; restarting or stopping a timer
/// bumps the epoch, so an expiry already queued is recognised as stale and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    Hello = 0,
    /// HSRP Active timer / VRRP Master_Down_Timer.
    Active = 1,
    Standby = 2,
    Preempt = 3,
}

const TIMERS: [Timer; 4] = [Timer::Hello, Timer::Active, Timer::Standby, Timer::Preempt];

/// A member of a group in election terms: the higher priority wins, and between equal
/// priorities the higher address (RFC 2281 section 5.1, RFC 5798 section 6.4.3). The same order
/// decides the packets the machines hear and the roles a group starts in (`converged`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rank {
    pub priority: u8,
    pub ip: Ipv4Addr,
}

/// The roles a group's members converge to with all of them up, one per member in `members`'
/// order: the highest rank is HSRP Active / VRRP Master, the next HSRP Standby, the others
/// HSRP Listen; every VRRP member but the master is Backup (`Initial::Standby`). Members of
/// equal rank keep their order.
pub fn converged(protocol: Protocol, members: &[Rank]) -> Vec<Initial> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&member| std::cmp::Reverse(members[member]));
    let mut roles = vec![Initial::Cold; members.len()];
    for (place, member) in order.into_iter().enumerate() {
        roles[member] = match (place, protocol) {
            (0, _) => Initial::Active,
            (1, Protocol::Hsrp) => Initial::Standby,
            (_, Protocol::Hsrp) => Initial::Listen,
            (_, Protocol::Vrrp) => Initial::Standby,
        };
    }
    roles
}

pub struct Group {
    pub config: GroupConfig,
    pub interface: u32,
    /// Index of this group in the router, for timer tokens.
    index: u32,
    own_ip: Ipv4Addr,
    own_mac: EthernetAddress,
    interface_name: String,
    state: State,
    epochs: [u32; 4],
    /// VRRP v3 Master_Adver_Interval as learned from the master.
    master_adver_ns: u64,
    /// Whether each timer is running (set and neither fired nor stopped).
    pending: [bool; 4],
    /// The IPv4 identification of the next VRRP advert, when the group numbers its own.
    advert_ident: u16,
}

/// Timer token layout: group index (bits 40..), timer (32..40), epoch (0..32).
pub fn token(index: u32, timer: Timer, epoch: u32) -> u64 {
    (u64::from(index) << 40) | ((timer as u64) << 32) | u64::from(epoch)
}

pub fn decode_token(token: u64) -> Option<(u32, Timer, u32)> {
    let timer = *TIMERS.get(((token >> 32) & 0xff) as usize)?;
    Some(((token >> 40) as u32, timer, token as u32))
}

impl Group {
    pub fn new(
        config: GroupConfig,
        index: u32,
        interface: u32,
        interface_name: &str,
        own_ip: Ipv4Addr,
        own_mac: EthernetAddress,
    ) -> Group {
        let master_adver_ns = config.hello_ns;
        Group {
            config,
            interface,
            index,
            own_ip,
            own_mac,
            interface_name: interface_name.to_string(),
            state: State::Initial,
            epochs: [0; 4],
            master_adver_ns,
            pending: [false; 4],
            advert_ident: 1,
        }
    }

    /// The MAC the virtual IP lives at while this router holds it.
    pub fn mac(&self) -> EthernetAddress {
        if self.config.use_vmac {
            self.config.virtual_mac()
        } else {
            self.own_mac
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// HSRP Active or VRRP Master: owns the virtual IP and MAC.
    pub fn is_forwarding(&self) -> bool {
        matches!(self.state, State::Active | State::Master)
    }

    fn me(&self) -> Rank {
        Rank {
            priority: self.config.priority,
            ip: self.own_ip,
        }
    }

    fn set_timer(&mut self, cx: &mut Cx, timer: Timer, delay_ns: u64) {
        let epoch = &mut self.epochs[timer as usize];
        *epoch = epoch.wrapping_add(1);
        cx.set_background_timer(delay_ns, token(self.index, timer, *epoch));
        self.pending[timer as usize] = true;
    }

    fn stop_timer(&mut self, timer: Timer) {
        let epoch = &mut self.epochs[timer as usize];
        *epoch = epoch.wrapping_add(1);
        self.pending[timer as usize] = false;
    }

    fn stop_all(&mut self) {
        for timer in TIMERS {
            self.stop_timer(timer);
        }
    }

    fn enter(&mut self, cx: &mut Cx, state: State, why: Cause) {
        let was_forwarding = self.is_forwarding();
        self.enter_quietly(cx, state, why);
        if !was_forwarding && self.is_forwarding() {
            let mac = self.mac();
            let address = self.config.virtual_ip;
            let arp = self.config.gratuitous_arp;
            let broadcast = arp.target_broadcast;
            cx.announce(0, self.interface, address, mac, arp.count, broadcast);
            if arp.repeat > 0 {
                let after_ns = arp.repeat_after_ns;
                cx.announce(
                    after_ns,
                    self.interface,
                    address,
                    mac,
                    arp.repeat,
                    broadcast,
                );
            }
        }
    }

    /// `enter` without the gratuitous ARPs: a network converged before the run announced its
    /// virtual IPs long ago.
    fn enter_quietly(&mut self, cx: &mut Cx, state: State, why: Cause) {
        if state == self.state {
            return;
        }
        let was_forwarding = self.is_forwarding();
        let old = self.state;
        self.state = state;
        cx.event(Kind::Redundancy(Box::new(RedundancyChange {
            interface: self.interface_name.clone(),
            protocol: self.config.protocol,
            group: self.config.group,
            from: old,
            to: state,
            cause: why,
        })));
        match (was_forwarding, self.is_forwarding()) {
            (false, true) => cx.own_virtual_mac(self.interface, self.mac(), true),
            (true, false) => cx.own_virtual_mac(self.interface, self.mac(), false),
            _ => {}
        }
    }

    /// Power-on (or link up). `phase` draws the offset of the first hello within one interval,
    /// since a converged network's routers did not all boot at the same instant.
    pub fn start(&mut self, cx: &mut Cx, phase: &mut Stream, cold: bool) {
        self.stop_all();
        self.state = State::Initial;
        self.master_adver_ns = self.config.hello_ns;
        let initial = if cold {
            Initial::Cold
        } else {
            self.config.initial
        };
        let hello = self.config.hello_ns;
        let offset_ns = phase.next_u64() % hello.max(1);
        match (self.config.protocol, initial) {
            (Protocol::Hsrp, Initial::Active) => {
                self.enter_quietly(cx, State::Active, Cause::ConvergedAtStart);
                self.set_timer(cx, Timer::Hello, offset_ns);
            }
            (Protocol::Hsrp, Initial::Standby) => {
                self.enter(cx, State::Standby, Cause::ConvergedAtStart);
                self.set_timer(cx, Timer::Active, self.config.hold_ns);
                self.set_timer(cx, Timer::Hello, offset_ns);
            }
            (Protocol::Hsrp, Initial::Listen | Initial::Cold) => {
                let why = if initial == Initial::Cold {
                    Cause::VirtualIpConfigured
                } else {
                    Cause::ConvergedAtStart
                };
                self.enter(cx, State::Listen, why);
                self.set_timer(cx, Timer::Active, self.config.hold_ns);
                self.set_timer(cx, Timer::Standby, self.config.hold_ns);
            }
            (Protocol::Vrrp, Initial::Active) => {
                self.enter_quietly(cx, State::Master, Cause::ConvergedAtStart);
                self.set_timer(cx, Timer::Hello, offset_ns);
            }
            (Protocol::Vrrp, _) if self.config.priority == 255 => {
                // RFC 5798 6.4.1: the address owner goes straight to Master.
                self.advertise(cx, self.config.priority);
                self.enter(cx, State::Master, Cause::AddressOwner);
                self.set_timer(cx, Timer::Hello, hello);
            }
            (Protocol::Vrrp, _) => {
                self.enter(cx, State::Backup, Cause::Startup);
                let down = self.config.master_down_ns(self.master_adver_ns);
                self.set_timer(cx, Timer::Active, down);
            }
        }
    }

    /// A clean shutdown while Active/Master: RFC 5798 6.4.3 (priority 0, so a backup takes over
    /// after Skew_Time) and RFC 2281 (Resign). Then back to Initial.
    pub fn resign(&mut self, cx: &mut Cx) {
        if self.is_forwarding() {
            match self.config.protocol {
                Protocol::Vrrp => self.advertise(cx, 0),
                Protocol::Hsrp => self.hsrp_send(cx, hsrp::OpCode::Resign),
            }
        }
        self.stop_all();
        self.enter(cx, State::Initial, Cause::ShutDown);
    }

    /// The interface lost its link or the router lost power: back to Initial, nothing sent.
    pub fn stop(&mut self, cx: Option<&mut Cx>) {
        self.stop_all();
        match cx {
            Some(cx) => self.enter(cx, State::Initial, Cause::InterfaceDown),
            None => {
                // Power lost: the daemon starts over, its advert numbering too.
                self.state = State::Initial;
                self.advert_ident = 1;
            }
        }
    }

    pub fn on_timer(&mut self, cx: &mut Cx, timer: Timer, epoch: u32) {
        if self.epochs[timer as usize] != epoch {
            return;
        }
        self.pending[timer as usize] = false;
        match self.config.protocol {
            Protocol::Hsrp => self.hsrp_timer(cx, timer),
            Protocol::Vrrp => self.vrrp_timer(cx, timer),
        }
    }

    // ---- HSRP (RFC 2281 section 5) ----

    fn hsrp_timer(&mut self, cx: &mut Cx, timer: Timer) {
        let hold = self.config.hold_ns;
        match (timer, self.state) {
            (Timer::Hello, State::Speak | State::Standby | State::Active) => {
                self.hsrp_send(cx, hsrp::OpCode::Hello);
                self.set_timer(cx, Timer::Hello, self.config.hello_ns);
            }
            (Timer::Active | Timer::Standby, State::Listen) => {
                self.enter(cx, State::Speak, Cause::NoHelloWithinHoldTime);
                self.set_timer(cx, Timer::Active, hold);
                self.set_timer(cx, Timer::Standby, hold);
                self.hsrp_send(cx, hsrp::OpCode::Hello);
                self.set_timer(cx, Timer::Hello, self.config.hello_ns);
            }
            (Timer::Standby, State::Speak) => {
                self.enter(cx, State::Standby, Cause::NoBetterStandby);
                if self.pending[Timer::Active as usize] {
                    self.hsrp_send(cx, hsrp::OpCode::Hello);
                } else {
                    // No active router heard for a hold time either: the standby takes over.
                    self.take_over(cx, Cause::NoActiveWithinHoldTime);
                }
            }
            (Timer::Active, State::Standby) => {
                self.take_over(cx, Cause::ActiveHoldTimeExpired);
            }
            (Timer::Active, State::Speak) => {
                // Still contending for standby; the active timer restarts when an active speaks.
            }
            (Timer::Preempt, State::Listen | State::Speak | State::Standby) => {
                self.hsrp_send(cx, hsrp::OpCode::Coup);
                self.take_over(cx, Cause::Preempting);
            }
            _ => {}
        }
    }

    fn take_over(&mut self, cx: &mut Cx, why: Cause) {
        self.stop_timer(Timer::Active);
        self.stop_timer(Timer::Standby);
        self.stop_timer(Timer::Preempt);
        self.enter(cx, State::Active, why);
        self.hsrp_send(cx, hsrp::OpCode::Hello);
        self.set_timer(cx, Timer::Hello, self.config.hello_ns);
    }

    fn hsrp_send(&mut self, cx: &mut Cx, op_code: hsrp::OpCode) {
        let version = hsrp_version(self.config.version);
        let repr = hsrp::Repr {
            version,
            op_code,
            state: self.state.hsrp(),
            hello_time_ms: (self.config.hello_ns / 1_000_000) as u32,
            hold_time_ms: (self.config.hold_ns / 1_000_000) as u32,
            priority: self.config.priority,
            group: self.config.group,
            virtual_ip: self.config.virtual_ip,
            identifier: (version == hsrp::Version::V2).then_some(self.own_mac.0),
            authentication: (version == hsrp::Version::V1).then_some(hsrp::AUTHENTICATION_DEFAULT),
        };
        let mut payload = vec![0u8; repr.buffer_len()];
        repr.emit(&mut hsrp::Packet::new_unchecked(&mut payload[..]));
        let group_ip = version.group_addr();
        // The active router sends from the virtual MAC, so switches learn where it lives.
        let src_mac = if self.is_forwarding() {
            self.mac()
        } else {
            self.own_mac
        };
        let frame = UdpFrame {
            src_mac,
            dst_mac: frame::multicast_mac(group_ip),
            src_ip: self.own_ip,
            dst_ip: group_ip,
            src_port: hsrp::UDP_PORT,
            dst_port: hsrp::UDP_PORT,
            ttl: 1,
            payload: &payload,
        };
        match frame.to_bytes() {
            Ok(bytes) => cx.send(self.interface, bytes),
            Err(error) => cx.log(Level::Warning, format!("HSRP send failed: {error}")),
        }
    }

    /// One HSRP message for this group from another router (RFC 2281 section 5.6, events e..l).
    pub fn on_hsrp(&mut self, cx: &mut Cx, src_ip: Ipv4Addr, message: &hsrp::Repr) {
        if matches!(self.state, State::Initial) {
            return;
        }
        let them = Rank {
            priority: message.priority,
            ip: src_ip,
        };
        let higher = them > self.me();
        let hold = self.config.hold_ns;
        match (message.op_code, message.state) {
            (hsrp::OpCode::Resign, _) => {
                if self.state == State::Standby {
                    self.take_over(cx, Cause::ActiveResigned);
                } else if matches!(self.state, State::Listen | State::Speak) {
                    self.set_timer(cx, Timer::Active, 0);
                }
            }
            (hsrp::OpCode::Coup, _) => {
                if self.state == State::Active && higher {
                    self.hsrp_send(cx, hsrp::OpCode::Resign);
                    self.enter(cx, State::Speak, Cause::Coup);
                    self.set_timer(cx, Timer::Active, hold);
                    self.set_timer(cx, Timer::Standby, hold);
                }
            }
            (hsrp::OpCode::Hello, hsrp::State::Active) => {
                let their_hold = u64::from(message.hold_time_ms) * 1_000_000;
                match self.state {
                    State::Active if higher => {
                        self.enter(cx, State::Speak, Cause::HigherPriorityActive);
                        self.set_timer(cx, Timer::Active, their_hold);
                        self.set_timer(cx, Timer::Standby, hold);
                    }
                    State::Active => self.hsrp_send(cx, hsrp::OpCode::Coup),
                    _ => {
                        self.set_timer(cx, Timer::Active, their_hold.max(1));
                        if !higher && self.config.preempt {
                            // A pending coup keeps its original deadline.
                            if !self.pending[Timer::Preempt as usize] {
                                let delay = self.config.preempt_delay_ns;
                                self.set_timer(cx, Timer::Preempt, delay);
                            }
                        } else {
                            self.stop_timer(Timer::Preempt);
                        }
                    }
                }
            }
            (hsrp::OpCode::Hello, hsrp::State::Standby) => match self.state {
                State::Standby | State::Speak if higher => {
                    self.enter(cx, State::Listen, Cause::HigherPriorityStandby);
                    self.set_timer(cx, Timer::Standby, hold);
                }
                State::Listen if !higher => {
                    self.enter(cx, State::Speak, Cause::StandbyLowerPriority);
                    self.set_timer(cx, Timer::Standby, hold);
                    self.hsrp_send(cx, hsrp::OpCode::Hello);
                    self.set_timer(cx, Timer::Hello, self.config.hello_ns);
                }
                State::Listen | State::Speak => self.set_timer(cx, Timer::Standby, hold),
                _ => {}
            },
            (hsrp::OpCode::Hello, hsrp::State::Speak) => {
                if matches!(self.state, State::Speak | State::Standby) && higher {
                    self.enter(cx, State::Listen, Cause::HigherPrioritySpeaking);
                    self.set_timer(cx, Timer::Standby, hold);
                }
            }
            _ => {}
        }
    }

    // ---- VRRP (RFC 5798 section 6.4, RFC 3768 section 6.4) ----

    fn vrrp_timer(&mut self, cx: &mut Cx, timer: Timer) {
        match (timer, self.state) {
            (Timer::Hello, State::Master) => {
                self.advertise(cx, self.config.priority);
                self.set_timer(cx, Timer::Hello, self.config.hello_ns);
            }
            (Timer::Active, State::Backup) => {
                self.advertise(cx, self.config.priority);
                self.enter(cx, State::Master, Cause::MasterDownTimer);
                self.set_timer(cx, Timer::Hello, self.config.hello_ns);
            }
            _ => {}
        }
    }

    fn advertise(&mut self, cx: &mut Cx, priority: u8) {
        let repr = vrrp::Repr {
            version: if self.config.version == 3 {
                vrrp::Version::V3
            } else {
                vrrp::Version::V2
            },
            vrid: self.config.group as u8,
            priority,
            advertisement_interval_cs: (self.config.hello_ns / 10_000_000) as u16,
            addresses: vec![self.config.virtual_ip],
        };
        let mut payload = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut vrrp::Packet::new_unchecked(&mut payload[..]),
            self.own_ip,
        );
        let ident = self.advert_ident;
        self.advert_ident = self.advert_ident.wrapping_add(1);
        let frame = IpFrame {
            src_mac: self.mac(),
            dst_mac: frame::multicast_mac(vrrp::GROUP_ADDR),
            src_ip: self.own_ip,
            dst_ip: vrrp::GROUP_ADDR,
            protocol: IpProtocol::Unknown(vrrp::IP_PROTOCOL),
            ttl: vrrp::TTL,
            dscp: vrrp::DSCP,
            ident,
            dont_fragment: self.config.advert_dont_fragment,
            payload: &payload,
        };
        match frame.to_bytes() {
            Ok(bytes) if self.config.advert_ident_per_group => {
                cx.send_keeping_ident(self.interface, bytes)
            }
            Ok(bytes) => cx.send(self.interface, bytes),
            Err(error) => cx.log(Level::Warning, format!("VRRP send failed: {error}")),
        }
    }

    /// One advertisement for our VRID from another router.
    pub fn on_vrrp(&mut self, cx: &mut Cx, src_ip: Ipv4Addr, advert: &vrrp::Repr) {
        let them = Rank {
            priority: advert.priority,
            ip: src_ip,
        };
        let adver_ns = if self.config.version == 3 {
            u64::from(advert.advertisement_interval_cs) * 10_000_000
        } else {
            self.config.hello_ns
        };
        match self.state {
            State::Backup => {
                if advert.priority == 0 {
                    let skew = self.config.skew_ns(self.master_adver_ns);
                    self.set_timer(cx, Timer::Active, skew);
                } else if !self.config.preempt || advert.priority >= self.config.priority {
                    self.master_adver_ns = adver_ns.max(1);
                    let down = self.config.master_down_ns(self.master_adver_ns);
                    self.set_timer(cx, Timer::Active, down);
                }
            }
            State::Master => {
                if advert.priority == 0 {
                    self.advertise(cx, self.config.priority);
                    self.set_timer(cx, Timer::Hello, self.config.hello_ns);
                } else if them > self.me() {
                    self.stop_timer(Timer::Hello);
                    self.master_adver_ns = adver_ns.max(1);
                    let down = self.config.master_down_ns(self.master_adver_ns);
                    self.set_timer(cx, Timer::Active, down);
                    self.enter(cx, State::Backup, Cause::HigherPriorityMaster);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(priority: u8, last: u8) -> Rank {
        Rank {
            priority,
            ip: Ipv4Addr::new(10, 1, 0, last),
        }
    }

    #[test]
    fn the_highest_priority_then_the_highest_address_wins() {
        let members = [rank(100, 3), rank(110, 2), rank(100, 4), rank(90, 9)];
        assert_eq!(
            converged(Protocol::Hsrp, &members),
            [
                Initial::Listen,
                Initial::Active,
                Initial::Standby,
                Initial::Listen
            ]
        );
        assert_eq!(
            converged(Protocol::Vrrp, &members),
            [
                Initial::Standby,
                Initial::Active,
                Initial::Standby,
                Initial::Standby
            ]
        );
        assert_eq!(
            converged(Protocol::Vrrp, &[rank(255, 1)]),
            [Initial::Active]
        );
        assert!(converged(Protocol::Hsrp, &[]).is_empty());
    }
}
