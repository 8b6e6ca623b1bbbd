//! ARP (RFC 826) as a host's network stack does it, one table per interface: a node hands the
//! world an IPv4 frame and the next hop's address, and the interface resolves the address with
//! requests on the wire, holds a bounded queue of frames while it waits, answers requests for
//! its own addresses (and for a virtual IP while its node owns the virtual MAC), and merges the
//! sender of every request or reply it takes into its table. Nothing here reads a clock: the
//! world passes `now_ns`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr,
};

use crate::frame::ETHERNET_HEADER_LEN;

/// How one interface resolves addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpConfig {
    /// A learned entry is used this long after it was last confirmed by the neighbour's own
    /// ARP; after that the next frame resolves it again.
    pub timeout_ns: u64,
    /// Requests sent for one address before the queued frames are dropped.
    pub requests_max: u32,
    /// Wait between two requests for the same address.
    pub retransmit_ns: u64,
    /// Frames held per unresolved address; older ones are dropped first past it.
    pub queue_max: usize,
}

const SECOND_NS: u64 = 1_000_000_000;

impl ArpConfig {
    /// Cisco IOS: `arp timeout` 14400 s (4 hours).
    pub const ROUTER: ArpConfig = ArpConfig {
        timeout_ns: 14_400 * SECOND_NS,
        requests_max: 3,
        retransmit_ns: SECOND_NS,
        queue_max: 16,
    };
    /// Windows and Linux hosts: an entry stays reachable about 30 s (base reachable time),
    /// three requests a second apart.
    pub const HOST: ArpConfig = ArpConfig {
        timeout_ns: 30 * SECOND_NS,
        requests_max: 3,
        retransmit_ns: SECOND_NS,
        queue_max: 16,
    };
    /// PXE firmware: EDK2's ArpDxe keeps entries for 400 s; a boot never outlives that.
    pub const FIRMWARE: ArpConfig = ArpConfig {
        timeout_ns: 400 * SECOND_NS,
        requests_max: 3,
        retransmit_ns: SECOND_NS,
        queue_max: 16,
    };
}

#[derive(Debug)]
enum Entry {
    Reachable {
        mac: EthernetAddress,
        until_ns: u64,
    },
    /// A request is out; frames wait for the reply.
    Incomplete {
        queue: Vec<Vec<u8>>,
        requests: u32,
    },
}

/// One interface's ARP state: the addresses it answers for and its neighbour table.
#[derive(Debug)]
pub(crate) struct Table {
    pub config: ArpConfig,
    /// Addresses answered with the interface's own MAC.
    pub addresses: Vec<Ipv4Addr>,
    /// Virtual MACs the interface may own, with the addresses answered with them while owned.
    pub virtual_addresses: Vec<(EthernetAddress, Vec<Ipv4Addr>)>,
    entries: BTreeMap<Ipv4Addr, Entry>,
}

/// What resolving a next hop for a frame came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolve {
    /// Send now; the destination MAC is written into the frame.
    Ready(Vec<u8>),
    /// The frame waits for a reply; a request must go out now (the first for this address).
    Request,
    /// The frame waits behind a request already out.
    Waiting,
    /// The queue was full: the oldest frame gave way to this one and is returned for the drop
    /// record.
    Overflow(Vec<u8>),
}

/// What a retransmit timer for an address came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Send request number `n` (counted from 1).
    Again(u32),
    /// No reply to any request: these frames are dropped.
    GiveUp(Vec<Vec<u8>>),
    /// Resolved (or forgotten) meanwhile: nothing to do.
    Settled,
}

/// What an ARP packet taken by an interface came to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Taken {
    /// A reply to send back (the request asked for one of our addresses).
    pub reply: Option<Vec<u8>>,
    /// Frames that were waiting for the sender's address, ready to go.
    pub released: Vec<Vec<u8>>,
    /// Whether the packet changed or confirmed anything; if not, it was for another host.
    pub used: bool,
}

impl Table {
    pub fn new(config: ArpConfig, addresses: Vec<Ipv4Addr>) -> Table {
        Table {
            config,
            addresses,
            virtual_addresses: Vec::new(),
            entries: BTreeMap::new(),
        }
    }

    /// Everything learned is gone (power lost, link down); returns the frames that were
    /// waiting for a resolution, for their drop records.
    pub fn clear(&mut self) -> Vec<Vec<u8>> {
        let entries = std::mem::take(&mut self.entries);
        entries
            .into_values()
            .flat_map(|entry| match entry {
                Entry::Incomplete { queue, .. } => queue,
                Entry::Reachable { .. } => Vec::new(),
            })
            .collect()
    }

    /// The MAC this interface answers `address` with, if it answers it at all: its own for its
    /// addresses, a virtual MAC it owns (`owned`) for the addresses that go with it.
    pub fn answers(
        &self,
        address: Ipv4Addr,
        own_mac: EthernetAddress,
        owned: &[EthernetAddress],
    ) -> Option<EthernetAddress> {
        if self.addresses.contains(&address) {
            return Some(own_mac);
        }
        self.virtual_addresses
            .iter()
            .find(|(mac, addresses)| owned.contains(mac) && addresses.contains(&address))
            .map(|(mac, _)| *mac)
    }

    /// The source address of requests: the interface's own address on that subnet (its first).
    pub fn source_address(&self) -> Ipv4Addr {
        self.addresses
            .first()
            .copied()
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// Sends `frame` (IPv4 in Ethernet, any destination MAC) to `next_hop`.
    pub fn resolve(&mut self, now_ns: u64, next_hop: Ipv4Addr, mut frame: Vec<u8>) -> Resolve {
        match self.entries.get_mut(&next_hop) {
            Some(Entry::Reachable { mac, until_ns }) if now_ns < *until_ns => {
                set_destination(&mut frame, *mac);
                Resolve::Ready(frame)
            }
            Some(Entry::Incomplete { queue, .. }) => {
                queue.push(frame);
                if queue.len() > self.config.queue_max {
                    return Resolve::Overflow(queue.remove(0));
                }
                Resolve::Waiting
            }
            // Unknown, or known too long ago: ask again.
            _ => {
                self.entries.insert(
                    next_hop,
                    Entry::Incomplete {
                        queue: vec![frame],
                        requests: 1,
                    },
                );
                Resolve::Request
            }
        }
    }

    /// The retransmit timer for `address` fired after request number `sent`.
    pub fn retry(&mut self, address: Ipv4Addr, sent: u32) -> Retry {
        match self.entries.get_mut(&address) {
            Some(Entry::Incomplete { requests, .. }) if *requests == sent => {
                if sent < self.config.requests_max {
                    *requests += 1;
                    return Retry::Again(*requests);
                }
                let Some(Entry::Incomplete { queue, .. }) = self.entries.remove(&address) else {
                    unreachable!("matched above")
                };
                Retry::GiveUp(queue)
            }
            _ => Retry::Settled,
        }
    }

    /// An ARP packet arrived. RFC 826's order: merge the sender if we know it; if the target is
    /// ours, add the sender (if not merged) and answer a request. `answer` is the MAC we answer
    /// the target with, if it is ours.
    ///
    /// Unlike RFC 826 (and Linux, which marks such entries stale), a request between two other
    /// hosts changes nothing here: only packets for our addresses and gratuitous ARPs are
    /// merged. That keeps a host that is never handed such a request (the world skips clients
    /// it does not concern) exactly where it would be had it seen it.
    pub fn take(&mut self, now_ns: u64, arp: &ArpRepr, answer: Option<EthernetAddress>) -> Taken {
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } = *arp
        else {
            return Taken::default();
        };
        let mut taken = Taken::default();
        let until_ns = now_ns.saturating_add(self.config.timeout_ns);
        let learn = |entry: &mut Entry, released: &mut Vec<Vec<u8>>| {
            if let Entry::Incomplete { queue, .. } = entry {
                for mut frame in queue.drain(..) {
                    set_destination(&mut frame, source_hardware_addr);
                    released.push(frame);
                }
            }
            *entry = Entry::Reachable {
                mac: source_hardware_addr,
                until_ns,
            };
        };
        let gratuitous = source_protocol_addr == target_protocol_addr;
        let usable_sender = !source_protocol_addr.is_unspecified()
            && source_hardware_addr.is_unicast()
            && !self.addresses.contains(&source_protocol_addr)
            && (gratuitous || answer.is_some());
        if usable_sender && let Some(entry) = self.entries.get_mut(&source_protocol_addr) {
            learn(entry, &mut taken.released);
            taken.used = true;
        }
        let Some(our_mac) = answer else {
            return taken;
        };
        taken.used = true;
        if usable_sender && !self.entries.contains_key(&source_protocol_addr) {
            let mut entry = Entry::Reachable {
                mac: source_hardware_addr,
                until_ns,
            };
            learn(&mut entry, &mut taken.released);
            self.entries.insert(source_protocol_addr, entry);
        }
        if operation == ArpOperation::Request {
            taken.reply = Some(packet(
                ArpOperation::Reply,
                our_mac,
                target_protocol_addr,
                source_hardware_addr,
                source_protocol_addr,
                source_hardware_addr,
            ));
        }
        taken
    }
}

/// Writes the next hop's MAC into a frame built before it was known.
fn set_destination(frame: &mut [u8], mac: EthernetAddress) {
    if frame.len() >= ETHERNET_HEADER_LEN {
        EthernetFrame::new_unchecked(frame).set_dst_addr(mac);
    }
}

/// A request for `target` from `(source_mac, source_ip)`, broadcast.
pub fn request(source_mac: EthernetAddress, source_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    packet(
        ArpOperation::Request,
        source_mac,
        source_ip,
        EthernetAddress([0; 6]),
        target,
        EthernetAddress::BROADCAST,
    )
}

/// A gratuitous ARP: a broadcast request for our own address, which makes every host that
/// knows the address take the new MAC (RFC 5227 section 3 calls it an ARP Announcement).
/// `target_broadcast` puts ff:ff:ff:ff:ff:ff in the target hardware address (keepalived),
/// else zeros (RFC 5227).
pub fn announcement(mac: EthernetAddress, address: Ipv4Addr, target_broadcast: bool) -> Vec<u8> {
    let target = if target_broadcast {
        EthernetAddress::BROADCAST
    } else {
        EthernetAddress([0; 6])
    };
    packet(
        ArpOperation::Request,
        mac,
        address,
        target,
        address,
        EthernetAddress::BROADCAST,
    )
}

fn packet(
    operation: ArpOperation,
    source_mac: EthernetAddress,
    source_ip: Ipv4Addr,
    target_mac: EthernetAddress,
    target_ip: Ipv4Addr,
    destination: EthernetAddress,
) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr: source_mac,
        source_protocol_addr: source_ip,
        target_hardware_addr: target_mac,
        target_protocol_addr: target_ip,
    };
    let ethernet = EthernetRepr {
        src_addr: source_mac,
        dst_addr: destination,
        ethertype: EthernetProtocol::Arp,
    };
    // Ethernet pads a frame to its 60-byte minimum; real stacks send ARP padded.
    let len = (ETHERNET_HEADER_LEN + arp.buffer_len()).max(60);
    let mut bytes = vec![0u8; len];
    let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
    ethernet.emit(&mut frame);
    arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    bytes
}

/// The ARP packet a frame carries, if it is a well-formed Ethernet/IPv4 one.
pub fn parse(bytes: &[u8]) -> Option<ArpRepr> {
    let frame = EthernetFrame::new_checked(bytes).ok()?;
    if frame.ethertype() != EthernetProtocol::Arp {
        return None;
    }
    let packet = ArpPacket::new_checked(frame.payload()).ok()?;
    let repr = ArpRepr::parse(&packet).ok()?;
    matches!(repr, ArpRepr::EthernetIpv4 { .. }).then_some(repr)
}

/// Whether the frame is ARP at all (well-formed or not).
pub fn is_arp(bytes: &[u8]) -> bool {
    EthernetFrame::new_checked(bytes).is_ok_and(|frame| frame.ethertype() == EthernetProtocol::Arp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const THEM: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
    const VMAC: EthernetAddress = EthernetAddress([0, 0, 0x0c, 0x07, 0xac, 10]);
    const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
    const THEIR_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 9);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);

    fn ipv4_frame() -> Vec<u8> {
        crate::frame::UdpFrame {
            src_mac: US,
            dst_mac: EthernetAddress([0; 6]),
            src_ip: OUR_IP,
            dst_ip: THEIR_IP,
            src_port: 1,
            dst_port: 2,
            ttl: 64,
            payload: b"x",
        }
        .to_bytes()
        .unwrap()
    }

    fn table() -> Table {
        let mut table = Table::new(ArpConfig::HOST, vec![OUR_IP]);
        table.virtual_addresses = vec![(VMAC, vec![VIP])];
        table
    }

    fn destination(frame: &[u8]) -> EthernetAddress {
        EthernetFrame::new_checked(frame).unwrap().dst_addr()
    }

    #[test]
    fn a_frame_waits_for_the_reply_and_leaves_with_its_mac() {
        let mut table = table();
        assert_eq!(table.resolve(0, THEIR_IP, ipv4_frame()), Resolve::Request);
        assert_eq!(table.resolve(1, THEIR_IP, ipv4_frame()), Resolve::Waiting);
        let reply = parse(&packet(ArpOperation::Reply, THEM, THEIR_IP, US, OUR_IP, US)).unwrap();
        let taken = table.take(5, &reply, Some(US));
        assert_eq!(taken.released.len(), 2);
        assert!(taken.released.iter().all(|f| destination(f) == THEM));
        assert_eq!(taken.reply, None);
        let Resolve::Ready(frame) = table.resolve(6, THEIR_IP, ipv4_frame()) else {
            panic!("resolved")
        };
        assert_eq!(destination(&frame), THEM);
        // Past the timeout the address is asked for again.
        let later = 6 + ArpConfig::HOST.timeout_ns;
        assert_eq!(
            table.resolve(later, THEIR_IP, ipv4_frame()),
            Resolve::Request
        );
    }

    #[test]
    fn requests_are_retried_then_the_queue_is_dropped() {
        let mut table = table();
        assert_eq!(table.resolve(0, THEIR_IP, ipv4_frame()), Resolve::Request);
        assert_eq!(table.retry(THEIR_IP, 1), Retry::Again(2));
        assert_eq!(table.retry(THEIR_IP, 1), Retry::Settled, "a stale timer");
        assert_eq!(table.retry(THEIR_IP, 2), Retry::Again(3));
        let Retry::GiveUp(dropped) = table.retry(THEIR_IP, 3) else {
            panic!("gave up")
        };
        assert_eq!(dropped.len(), 1);
        assert_eq!(table.retry(THEIR_IP, 3), Retry::Settled);
    }

    #[test]
    fn losing_the_link_hands_back_the_waiting_frames() {
        let mut table = table();
        table.resolve(0, THEIR_IP, ipv4_frame());
        table.resolve(0, THEIR_IP, ipv4_frame());
        assert_eq!(table.clear().len(), 2);
        assert_eq!(table.retry(THEIR_IP, 1), Retry::Settled);
        assert_eq!(table.resolve(1, THEIR_IP, ipv4_frame()), Resolve::Request);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut table = table();
        table.resolve(0, THEIR_IP, ipv4_frame());
        for _ in 1..ArpConfig::HOST.queue_max {
            assert_eq!(table.resolve(0, THEIR_IP, ipv4_frame()), Resolve::Waiting);
        }
        assert!(matches!(
            table.resolve(0, THEIR_IP, ipv4_frame()),
            Resolve::Overflow(_)
        ));
    }

    #[test]
    fn requests_for_our_addresses_are_answered_and_teach_us_the_sender() {
        let mut table = table();
        let ask = parse(&request(THEM, THEIR_IP, OUR_IP)).unwrap();
        let answer = table.answers(OUR_IP, US, &[]);
        let taken = table.take(0, &ask, answer);
        let reply = parse(&taken.reply.unwrap()).unwrap();
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            target_hardware_addr,
            ..
        } = reply
        else {
            panic!()
        };
        assert_eq!(
            (operation, source_hardware_addr, target_hardware_addr),
            (ArpOperation::Reply, US, THEM)
        );
        assert!(matches!(
            table.resolve(1, THEIR_IP, ipv4_frame()),
            Resolve::Ready(_)
        ));
        // The virtual IP only while the virtual MAC is owned, answered with it.
        assert_eq!(table.answers(VIP, US, &[]), None);
        assert_eq!(table.answers(VIP, US, &[VMAC]), Some(VMAC));
    }

    #[test]
    fn other_hosts_requests_change_nothing_gratuitous_ones_update_what_we_know() {
        let mut table = table();
        let elsewhere = parse(&request(THEM, THEIR_IP, Ipv4Addr::new(10, 1, 0, 50))).unwrap();
        assert!(!table.take(0, &elsewhere, None).used);
        assert_eq!(table.resolve(0, THEIR_IP, ipv4_frame()), Resolve::Request);
        // Not even while we wait for that very sender.
        let taken = table.take(0, &elsewhere, None);
        assert!(!taken.used && taken.released.is_empty());
        // A gratuitous ARP from the address we wait for resolves it.
        let taken = table.take(
            1,
            &parse(&announcement(THEM, THEIR_IP, false)).unwrap(),
            None,
        );
        assert!(taken.used);
        assert_eq!(taken.released.len(), 1);
    }

    #[test]
    fn frames_are_padded_to_the_ethernet_minimum_and_parse_back() {
        let bytes = request(US, OUR_IP, THEIR_IP);
        assert_eq!(bytes.len(), 60);
        assert!(is_arp(&bytes));
        assert!(parse(&bytes).is_some());
        assert!(!is_arp(&ipv4_frame()));
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut]);
        }
    }
}
