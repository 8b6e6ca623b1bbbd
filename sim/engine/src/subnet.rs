//! IPv4 subnet arithmetic, in one place: masks, networks, broadcasts and membership, for the
//! router's forwarding, the hosts' on-link test and the topology's checks alike.
//!
//! A prefix length above 32 is read as 32 (a host route) everywhere. The topology refuses such
//! lengths before they reach the engine and a DHCP mask cannot have more than 32 ones, so only a
//! configuration built by hand can carry one; clamping is the one reading that never widens a
//! match and never panics.

use std::net::Ipv4Addr;

/// The longest IPv4 prefix.
pub const PREFIX_LEN_MAX: u8 = 32;

/// The netmask of a prefix length, as a number: `/24` is `0xffff_ff00`, `/0` is zero.
pub fn mask(prefix_len: u8) -> u32 {
    match prefix_len.min(PREFIX_LEN_MAX) {
        0 => 0,
        len => u32::MAX << (32 - u32::from(len)),
    }
}

/// The netmask of a prefix length as an address (`/24` is 255.255.255.0), as DHCP carries it.
pub fn netmask(prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(mask(prefix_len))
}

/// The prefix length of a netmask: its leading one bits (a mask with holes counts up to the
/// first zero, which is how far it can match contiguously).
pub fn prefix_len(netmask: Ipv4Addr) -> u8 {
    u32::from(netmask).leading_ones() as u8
}

/// The network address of `ip`'s subnet: its host bits cleared.
pub fn network(ip: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) & mask(prefix_len))
}

/// The directed broadcast address of `ip`'s subnet: its host bits set. On a /31 or /32 this is
/// an ordinary host address (see `role`).
pub fn broadcast(ip: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) | !mask(prefix_len))
}

/// Whether `a` and `b` share their first `prefix_len` bits.
pub fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    network(a, prefix_len) == network(b, prefix_len)
}

/// Whether the subnet `network/prefix_len` holds `ip`.
pub fn contains(network: Ipv4Addr, prefix_len: u8, ip: Ipv4Addr) -> bool {
    same_subnet(network, ip, prefix_len)
}

/// Whether `network` has host bits set for `prefix_len` (`10.1.0.1/24` does).
pub fn has_host_bits(network: Ipv4Addr, prefix_len: u8) -> bool {
    u32::from(network) & !mask(prefix_len) != 0
}

/// What an address is within its subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// All host bits clear: names the subnet, no host may have it.
    Network,
    /// All host bits set: the directed broadcast, no host may have it.
    Broadcast,
    Host,
}

impl Role {
    /// `network` or `broadcast`, as an error message names the address.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Network => "network",
            Role::Broadcast => "broadcast",
            Role::Host => "host",
        }
    }
}

/// The role of `ip` in its `/prefix_len` subnet. A /31 (RFC 3021, point-to-point links) and a
/// /32 have no network or broadcast address: every address is a host.
pub fn role(ip: Ipv4Addr, prefix_len: u8) -> Role {
    if prefix_len >= 31 {
        return Role::Host;
    }
    if ip == network(ip, prefix_len) {
        Role::Network
    } else if ip == broadcast(ip, prefix_len) {
        Role::Broadcast
    } else {
        Role::Host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn masks_from_zero_to_thirty_two_and_beyond() {
        assert_eq!(mask(0), 0);
        assert_eq!(mask(1), 0x8000_0000);
        assert_eq!(mask(24), 0xffff_ff00);
        assert_eq!(mask(31), 0xffff_fffe);
        assert_eq!(mask(32), u32::MAX);
        // Above 32 is a host route, never a panic or a wider match.
        assert_eq!(mask(33), u32::MAX);
        assert_eq!(mask(255), u32::MAX);
        assert_eq!(netmask(20), ip("255.255.240.0"));
    }

    #[test]
    fn netmasks_give_back_their_prefix_length() {
        for len in 0..=32 {
            assert_eq!(prefix_len(netmask(len)), len);
        }
        assert_eq!(prefix_len(ip("255.0.255.0")), 8);
    }

    #[test]
    fn networks_and_broadcasts() {
        assert_eq!(network(ip("10.1.2.3"), 24), ip("10.1.2.0"));
        assert_eq!(broadcast(ip("10.1.2.3"), 24), ip("10.1.2.255"));
        assert_eq!(network(ip("10.1.2.3"), 0), ip("0.0.0.0"));
        assert_eq!(broadcast(ip("10.1.2.3"), 0), ip("255.255.255.255"));
        assert_eq!(network(ip("10.1.2.3"), 31), ip("10.1.2.2"));
        assert_eq!(broadcast(ip("10.1.2.2"), 31), ip("10.1.2.3"));
        assert_eq!(network(ip("10.1.2.3"), 32), ip("10.1.2.3"));
        assert_eq!(broadcast(ip("10.1.2.3"), 32), ip("10.1.2.3"));
        assert_eq!(broadcast(ip("10.1.2.3"), 40), ip("10.1.2.3"));
        assert!(has_host_bits(ip("10.1.0.1"), 24));
        assert!(!has_host_bits(ip("10.1.0.0"), 24));
        assert!(!has_host_bits(ip("10.1.0.1"), 32));
        assert!(!has_host_bits(ip("0.0.0.0"), 0));
    }

    #[test]
    fn membership() {
        assert!(contains(ip("10.1.0.0"), 16, ip("10.1.255.1")));
        assert!(!contains(ip("10.1.0.0"), 16, ip("10.2.0.1")));
        assert!(
            contains(ip("0.0.0.0"), 0, ip("192.0.2.1")),
            "/0 holds everything"
        );
        assert!(same_subnet(ip("10.0.0.2"), ip("10.0.0.3"), 31));
        assert!(!same_subnet(ip("10.0.0.3"), ip("10.0.0.4"), 31));
        assert!(same_subnet(ip("10.0.0.3"), ip("10.0.0.3"), 32));
        assert!(!same_subnet(ip("10.0.0.3"), ip("10.0.0.4"), 32));
        assert!(!same_subnet(ip("10.0.0.3"), ip("10.0.0.4"), 33));
    }

    #[test]
    fn roles_with_and_without_network_and_broadcast_addresses() {
        assert_eq!(role(ip("10.1.0.0"), 24), Role::Network);
        assert_eq!(role(ip("10.1.0.255"), 24), Role::Broadcast);
        assert_eq!(role(ip("10.1.0.7"), 24), Role::Host);
        assert_eq!(role(ip("10.1.0.0"), 30), Role::Network);
        assert_eq!(role(ip("10.1.0.3"), 30), Role::Broadcast);
        // RFC 3021: both addresses of a /31 are hosts; a /32 is one host.
        assert_eq!(role(ip("10.1.0.0"), 31), Role::Host);
        assert_eq!(role(ip("10.1.0.1"), 31), Role::Host);
        assert_eq!(role(ip("10.1.0.0"), 32), Role::Host);
        assert_eq!(role(ip("0.0.0.0"), 0), Role::Network);
        assert_eq!(role(ip("255.255.255.255"), 0), Role::Broadcast);
    }
}
