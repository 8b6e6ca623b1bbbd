//! VRRP advertisements over IPv4: version 2 (RFC 3768) and version 3 (RFC 5798). The redundant
//! router pair in front of the PXE clients can elect its master with it instead of HSRP, so the
//! simulated routers and the capture decoder share this one encoder and decoder.
//!
//! ```text
//!  0 version (4 bits) | type (4 bits, 1 = advertisement)
//!  1 VRID | 2 priority | 3 count of IPv4 addresses
//!  v2: 4 auth type (0) | 5 advertisement interval (s)
//!  v3: 4..6 reserved (4 bits) | max advertisement interval (12 bits, centiseconds)
//!  6..8 checksum | 8.. IPv4 addresses, 4 bytes each
//!  v2 only: 8 bytes of authentication data after the addresses (zero, ignored on receipt)
//! ```
//!
//! The v2 checksum covers the VRRP message; the v3 checksum also covers an IPv4 pseudo-header
//! (source, destination 224.0.0.18, zero, protocol 112, VRRP length), so v3 needs the IPv4
//! source address both to emit and to parse. The message is the IP payload; it is carried in
//! the IPv4 packet directly, not in UDP.

use std::net::Ipv4Addr;

use crate::checksum::internet_checksum;

/// IP protocol number of VRRP.
pub const IP_PROTOCOL: u8 = 112;
/// Destination of every advertisement.
pub const GROUP_ADDR: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IP time to live of every advertisement; a receiver drops any other (RFC 5798 section 7.1).
pub const TTL: u8 = 255;
/// DSCP of advertisements: CS6 (48), network control, as keepalived and FRR send them.
pub const DSCP: u8 = 48;
/// Default priority of a backup router.
pub const PRIORITY_DEFAULT: u8 = 100;
/// Priority of the router that owns the virtual addresses.
pub const PRIORITY_OWNER: u8 = 255;
/// Priority a master sends when it stops being master, so a backup takes over at once.
pub const PRIORITY_RESIGN: u8 = 0;
/// Default advertisement interval of both versions (1 s).
pub const ADVERTISEMENT_INTERVAL_DEFAULT_CS: u16 = 100;
/// Largest v3 advertisement interval (12 bits of centiseconds).
pub const ADVERTISEMENT_INTERVAL_MAX_CS_V3: u16 = 0x0fff;
/// Largest v2 advertisement interval (one byte of seconds).
pub const ADVERTISEMENT_INTERVAL_MAX_CS_V2: u16 = 255 * 100;
/// The only message type: an advertisement.
const TYPE_ADVERTISEMENT: u8 = 1;
/// v2 "no authentication", the only type RFC 3768 keeps.
const AUTH_TYPE_NONE: u8 = 0;
/// Length of the v2 authentication data after the addresses.
const AUTHENTICATION_DATA_LEN: usize = 8;

/// The protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// RFC 3768: interval in seconds, checksum over the message only.
    V2,
    /// RFC 5798: interval in centiseconds, checksum with an IPv4 pseudo-header.
    V3,
}

impl Version {
    fn from_u8(value: u8) -> Option<Version> {
        match value {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }

    /// The version number, as carried in the version field.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// The virtual MAC address of virtual router `vrid`: 00-00-5e-00-01-{VRID}.
pub const fn virtual_mac(vrid: u8) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, 0x01, vrid]
}

mod field {
    use core::ops::{Range, RangeFrom};

    pub const VERSION_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2: auth type.
    pub const AUTH_TYPE: usize = 4;
    /// v2: advertisement interval in seconds.
    pub const ADVERTISEMENT_INTERVAL: usize = 5;
    /// v3: 4 reserved bits and the 12-bit max advertisement interval.
    pub const MAX_ADVERTISEMENT_INTERVAL: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const ADDRESSES: RangeFrom<usize> = 8..;
}

packet_view! {
    /// The malformed-packet error: the bytes are not a VRRP advertisement this module understands,
    /// or its checksum is wrong.
    Error: "malformed VRRP packet";
    /// A read/write view of a VRRP packet (the IPv4 payload).
    Packet;
    /// Wraps a buffer after checking that it is a VRRP advertisement: version 2 or 3, type 1,
    /// a VRID of 1..=255, auth type 0 for v2, and as many bytes as the address count says (more
    /// are allowed and are not part of the message). The checksum is checked by `Repr::parse`,
    /// since for v3 it needs the IPv4 source address.
    new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    fn check(&self) -> Result<(), Error> {
        let version = self.version().ok_or(Error)?;
        if self.message_type() != TYPE_ADVERTISEMENT || self.vrid() == 0 {
            return Err(Error);
        }
        if version == Version::V2 && self.auth_type() != AUTH_TYPE_NONE {
            return Err(Error);
        }
        match self.message_len() {
            Some(len) if self.buffer.as_ref().len() >= len => Ok(()),
            _ => Err(Error),
        }
    }

    fn byte(&self, offset: usize) -> u8 {
        self.buffer.as_ref().get(offset).copied().unwrap_or(0)
    }

    fn read_u16(&self, range: core::ops::Range<usize>) -> u16 {
        self.buffer
            .as_ref()
            .get(range)
            .and_then(|pair| <[u8; 2]>::try_from(pair).ok())
            .map_or(0, u16::from_be_bytes)
    }

    /// The version, `None` for anything but 2 and 3.
    pub fn version(&self) -> Option<Version> {
        self.buffer
            .as_ref()
            .get(field::VERSION_TYPE)
            .and_then(|byte| Version::from_u8(byte >> 4))
    }

    /// The message type (1 for an advertisement, the only one defined).
    pub fn message_type(&self) -> u8 {
        self.byte(field::VERSION_TYPE) & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.byte(field::VRID)
    }

    pub fn priority(&self) -> u8 {
        self.byte(field::PRIORITY)
    }

    /// The number of IPv4 addresses the header announces.
    pub fn address_count(&self) -> u8 {
        self.byte(field::COUNT)
    }

    /// The v2 auth type; 0 for v3, which has none.
    pub fn auth_type(&self) -> u8 {
        match self.version() {
            Some(Version::V2) => self.byte(field::AUTH_TYPE),
            _ => 0,
        }
    }

    /// The advertisement interval in centiseconds: v2 seconds times 100, v3 the 12-bit field
    /// (the 4 reserved bits above it are ignored, as RFC 5798 asks).
    pub fn advertisement_interval_cs(&self) -> u16 {
        match self.version() {
            Some(Version::V2) => u16::from(self.byte(field::ADVERTISEMENT_INTERVAL)) * 100,
            Some(Version::V3) => {
                self.read_u16(field::MAX_ADVERTISEMENT_INTERVAL) & ADVERTISEMENT_INTERVAL_MAX_CS_V3
            }
            None => 0,
        }
    }

    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The announced addresses that are present in the buffer.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.buffer
            .as_ref()
            .get(field::ADDRESSES)
            .unwrap_or(&[])
            .chunks_exact(4)
            .take(usize::from(self.address_count()))
            .filter_map(|octets| <[u8; 4]>::try_from(octets).ok())
            .map(Ipv4Addr::from)
    }

    /// The length of the VRRP message the header describes (the checksum covers exactly this
    /// much); `None` if the version is unknown.
    pub fn message_len(&self) -> Option<usize> {
        let trailer = match self.version()? {
            Version::V2 => AUTHENTICATION_DATA_LEN,
            Version::V3 => 0,
        };
        Some(field::ADDRESSES.start + 4 * usize::from(self.address_count()) + trailer)
    }

    /// Whether the checksum is right; `src_addr` (the IPv4 source) only matters for v3. False
    /// if the buffer holds less than the whole message.
    pub fn verify_checksum(&self, src_addr: Ipv4Addr) -> bool {
        match self.message() {
            Some((version, message)) => checksum_over(version, message, src_addr) == 0,
            None => false,
        }
    }

    fn message(&self) -> Option<(Version, &[u8])> {
        let version = self.version()?;
        let message = self.buffer.as_ref().get(..self.message_len()?)?;
        Some((version, message))
    }
}

/// The Internet checksum over `message` (and for v3 the pseudo-header in front of it). Over a
/// message with a right checksum field it is 0; over one with a zero field, the value to put
/// there.
fn checksum_over(version: Version, message: &[u8], src_addr: Ipv4Addr) -> u16 {
    match version {
        Version::V2 => internet_checksum(&[message]),
        Version::V3 => {
            // VRRP messages are at most 8 + 4 * 255 bytes, so the length always fits.
            let length = u16::try_from(message.len()).unwrap_or(u16::MAX);
            let [length_high, length_low] = length.to_be_bytes();
            let src = src_addr.octets();
            let dst = GROUP_ADDR.octets();
            let rest = [0, IP_PROTOCOL, length_high, length_low];
            internet_checksum(&[&src, &dst, &rest, message])
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn write(&mut self, offset: usize, bytes: &[u8]) {
        if let Some(slot) = self.buffer.as_mut().get_mut(offset..offset + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
    }

    /// Writes the version and the advertisement type; the version-dependent setters read the
    /// version back, so this comes first.
    pub fn set_version(&mut self, version: Version) {
        self.write(
            field::VERSION_TYPE,
            &[(version.number() << 4) | TYPE_ADVERTISEMENT],
        );
    }

    pub fn set_vrid(&mut self, vrid: u8) {
        self.write(field::VRID, &[vrid]);
    }

    pub fn set_priority(&mut self, priority: u8) {
        self.write(field::PRIORITY, &[priority]);
    }

    /// Writes the advertisement interval. v2 rounds up to whole seconds (so an advertisement
    /// never claims to come more often than it does); v3 writes the reserved bits as zero.
    ///
    /// # Panics
    /// If the interval exceeds the version's field: 255 s for v2, 4095 cs for v3.
    pub fn set_advertisement_interval_cs(&mut self, interval_cs: u16) {
        match self.version() {
            Some(Version::V2) => {
                assert!(
                    interval_cs <= ADVERTISEMENT_INTERVAL_MAX_CS_V2,
                    "VRRP v2 advertisement interval {interval_cs} cs exceeds 255 s"
                );
                // At most 255 after the assertion.
                let seconds = interval_cs.div_ceil(100) as u8;
                self.write(field::ADVERTISEMENT_INTERVAL, &[seconds]);
            }
            Some(Version::V3) => {
                assert!(
                    interval_cs <= ADVERTISEMENT_INTERVAL_MAX_CS_V3,
                    "VRRP v3 advertisement interval {interval_cs} cs exceeds 4095 cs"
                );
                self.write(
                    field::MAX_ADVERTISEMENT_INTERVAL.start,
                    &interval_cs.to_be_bytes(),
                );
            }
            None => {}
        }
    }

    pub fn set_checksum(&mut self, checksum: u16) {
        self.write(field::CHECKSUM.start, &checksum.to_be_bytes());
    }

    /// Computes and writes the checksum over the message the header describes; `src_addr` (the
    /// IPv4 source) only matters for v3. Does nothing if the buffer is shorter than the message.
    pub fn fill_checksum(&mut self, src_addr: Ipv4Addr) {
        self.set_checksum(0);
        if let Some((version, message)) = self.message() {
            let checksum = checksum_over(version, message, src_addr);
            self.set_checksum(checksum);
        }
    }
}

/// A high-level representation of a VRRP advertisement, either version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repr {
    pub version: Version,
    /// 1..=255.
    pub vrid: u8,
    pub priority: u8,
    /// v2 carries whole seconds: parsing multiplies by 100, emitting rounds up to a second.
    /// v3 carries it as is, at most 4095.
    pub advertisement_interval_cs: u16,
    /// At most 255.
    pub addresses: Vec<Ipv4Addr>,
}

impl Repr {
    /// Parses an advertisement and verifies its checksum; `src_addr` is the IPv4 source
    /// address, which the v3 checksum covers (v2 ignores it). Checks the packet again, so an
    /// unchecked view is fine too. v2 authentication data is ignored (RFC 3768 section 5.3.6).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src_addr: Ipv4Addr) -> Result<Repr, Error> {
        packet.check()?;
        if !packet.verify_checksum(src_addr) {
            return Err(Error);
        }
        Ok(Repr {
            version: packet.version().ok_or(Error)?,
            vrid: packet.vrid(),
            priority: packet.priority(),
            advertisement_interval_cs: packet.advertisement_interval_cs(),
            addresses: packet.addresses().collect(),
        })
    }

    /// The length of the packet `emit` writes.
    pub fn buffer_len(&self) -> usize {
        let trailer = match self.version {
            Version::V2 => AUTHENTICATION_DATA_LEN,
            Version::V3 => 0,
        };
        field::ADDRESSES.start + 4 * self.addresses.len() + trailer
    }

    /// Writes the advertisement into `packet`, whose buffer must be at least `buffer_len` bytes
    /// long, and fills in the checksum; `src_addr` is the IPv4 source address the packet will
    /// be sent from, which the v3 checksum covers (v2 ignores it).
    ///
    /// # Panics
    /// If the buffer is too short, the VRID is 0, there are more than 255 addresses, or the
    /// interval does not fit the version (see `Packet::set_advertisement_interval_cs`). These
    /// come from configuration, which is checked where it is loaded.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, src_addr: Ipv4Addr) {
        assert!(
            packet.buffer.as_ref().len() >= self.buffer_len(),
            "VRRP emit buffer too short"
        );
        assert!(self.vrid != 0, "VRRP VRID 0 is reserved");
        let count = u8::try_from(self.addresses.len())
            .unwrap_or_else(|_| panic!("VRRP carries at most 255 addresses"));
        packet.set_version(self.version);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        packet.write(field::COUNT, &[count]);
        packet.set_advertisement_interval_cs(self.advertisement_interval_cs);
        for (index, address) in self.addresses.iter().enumerate() {
            packet.write(field::ADDRESSES.start + 4 * index, &address.octets());
        }
        if self.version == Version::V2 {
            packet.write(field::AUTH_TYPE, &[AUTH_TYPE_NONE]);
            let at = field::ADDRESSES.start + 4 * self.addresses.len();
            packet.write(at, &[0; AUTHENTICATION_DATA_LEN]);
        }
        packet.fill_checksum(src_addr);
    }

    /// Allocates a buffer of `buffer_len` bytes and emits into it.
    pub fn to_bytes(&self, src_addr: Ipv4Addr) -> Vec<u8> {
        let mut packet = Packet::new_unchecked(vec![0u8; self.buffer_len()]);
        self.emit(&mut packet, src_addr);
        packet.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Source of the v3 fixture; v2 ignores it, so any address does there.
    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// v2 advertisement as RFC 3768 section 5.1 lays it out: VRID 1, default priority and
    /// interval, one address.
    ///
    /// Checksum (RFC 1071), computed by hand over the message with the checksum field zero:
    /// the 16-bit words 2101 + 6401 + 0001 + 0000 + c0a8 + 0101 (+ four zero words of
    /// authentication data) sum to 0x146ac; the end-around carry folds that to 0x46ad; its
    /// ones' complement is 0xb952.
    const V2_ADVERTISEMENT: [u8; 20] = [
        0x21, // version 2, type 1 (advertisement)
        0x01, // VRID 1
        0x64, // priority 100
        0x01, // count IP addrs 1
        0x00, // auth type 0 (none)
        0x01, // advertisement interval 1 s
        0xb9, 0x52, // checksum
        0xc0, 0xa8, 0x01, 0x01, // 192.168.1.1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // authentication data
    ];

    /// v3 advertisement as RFC 5798 section 5.1 lays it out, sent from 10.0.0.2: VRID 10,
    /// priority 200, interval 100 cs, two addresses.
    ///
    /// Checksum (RFC 1071), computed by hand over the IPv4 pseudo-header and the message with
    /// the checksum field zero. Pseudo-header words: source 0a00 + 0002, destination
    /// 224.0.0.18 e000 + 0012, zero and protocol 112 0070, VRRP length 16 0010: 0xea94.
    /// Message words: 310a + c802 + 0064 + 0000 + 0a00 + 0001 + 0a00 + 00fe = 0x10e6f.
    /// Total 0x1f903, folded 0xf904, complemented 0x06fb.
    const V3_ADVERTISEMENT: [u8; 16] = [
        0x31, // version 3, type 1 (advertisement)
        0x0a, // VRID 10
        0xc8, // priority 200
        0x02, // count IPv4 addrs 2
        0x00, 0x64, // reserved 0, max advertisement interval 100 cs
        0x06, 0xfb, // checksum
        0x0a, 0x00, 0x00, 0x01, // 10.0.0.1
        0x0a, 0x00, 0x00, 0xfe, // 10.0.0.254
    ];

    fn fixtures() -> Vec<(&'static str, Vec<u8>, Repr)> {
        vec![
            (
                "v2 advertisement",
                V2_ADVERTISEMENT.to_vec(),
                Repr {
                    version: Version::V2,
                    vrid: 1,
                    priority: PRIORITY_DEFAULT,
                    advertisement_interval_cs: ADVERTISEMENT_INTERVAL_DEFAULT_CS,
                    addresses: vec![Ipv4Addr::new(192, 168, 1, 1)],
                },
            ),
            (
                "v3 advertisement",
                V3_ADVERTISEMENT.to_vec(),
                Repr {
                    version: Version::V3,
                    vrid: 10,
                    priority: 200,
                    advertisement_interval_cs: 100,
                    addresses: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 254)],
                },
            ),
        ]
    }

    crate::fuzz::fixture_tests!(SRC);

    #[test]
    fn accessors_read_every_field() {
        let v2 = Packet::new_checked(&V2_ADVERTISEMENT[..]).unwrap();
        assert_eq!(v2.version(), Some(Version::V2));
        assert_eq!(v2.message_type(), 1);
        assert_eq!(v2.vrid(), 1);
        assert_eq!(v2.priority(), 100);
        assert_eq!(v2.address_count(), 1);
        assert_eq!(v2.auth_type(), 0);
        assert_eq!(v2.advertisement_interval_cs(), 100);
        assert_eq!(v2.checksum(), 0xb952);
        assert_eq!(
            v2.addresses().collect::<Vec<_>>(),
            [Ipv4Addr::new(192, 168, 1, 1)]
        );
        assert_eq!(v2.message_len(), Some(20));
        assert!(v2.verify_checksum(Ipv4Addr::UNSPECIFIED));

        let v3 = Packet::new_checked(&V3_ADVERTISEMENT[..]).unwrap();
        assert_eq!(v3.version(), Some(Version::V3));
        assert_eq!(v3.message_type(), 1);
        assert_eq!(v3.vrid(), 10);
        assert_eq!(v3.priority(), 200);
        assert_eq!(v3.address_count(), 2);
        assert_eq!(v3.auth_type(), 0);
        assert_eq!(v3.advertisement_interval_cs(), 100);
        assert_eq!(v3.checksum(), 0x06fb);
        assert_eq!(
            v3.addresses().collect::<Vec<_>>(),
            [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 254)]
        );
        assert_eq!(v3.message_len(), Some(16));
        assert!(v3.verify_checksum(SRC));
    }

    #[test]
    fn v2_checksum_does_not_depend_on_the_source() {
        let packet = Packet::new_checked(&V2_ADVERTISEMENT[..]).unwrap();
        for src in [Ipv4Addr::new(192, 168, 1, 2), Ipv4Addr::new(10, 9, 8, 7)] {
            assert!(Repr::parse(&packet, src).is_ok(), "{src}");
        }
    }

    #[test]
    fn wrong_checksums_are_errors() {
        let with = |fixture: &[u8], offset: usize, value: u8| {
            let mut bytes = fixture.to_vec();
            bytes[offset] ^= value;
            bytes
        };
        let cases: Vec<(&str, Vec<u8>, Ipv4Addr)> = vec![
            ("v2 checksum off by one", with(&V2_ADVERTISEMENT, 7, 1), SRC),
            ("v2 priority changed", with(&V2_ADVERTISEMENT, 2, 0x80), SRC),
            (
                "v2 authentication data changed",
                with(&V2_ADVERTISEMENT, 19, 1),
                SRC,
            ),
            ("v3 checksum off by one", with(&V3_ADVERTISEMENT, 7, 1), SRC),
            ("v3 address changed", with(&V3_ADVERTISEMENT, 15, 1), SRC),
            (
                "v3 from another source",
                V3_ADVERTISEMENT.to_vec(),
                Ipv4Addr::new(10, 0, 0, 3),
            ),
            (
                // Some early v3 implementations left the pseudo-header out: 0xf18f is the
                // checksum over the message alone. RFC 5798 section 5.2.8 requires it.
                "v3 checksum without pseudo-header",
                {
                    let mut bytes = V3_ADVERTISEMENT.to_vec();
                    bytes[6..8].copy_from_slice(&[0xf1, 0x8f]);
                    bytes
                },
                SRC,
            ),
        ];
        for (name, bytes, src) in cases {
            let packet = Packet::new_checked(&bytes[..]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!packet.verify_checksum(src), "{name}");
            assert_eq!(Repr::parse(&packet, src), Err(Error), "{name}");
        }
    }

    #[test]
    fn truncated_packets_are_errors() {
        for (name, bytes, _) in fixtures() {
            let prefixes =
                (0..bytes.len()).map(|len| (format!("{name}: {len} bytes"), bytes[..len].to_vec()));
            crate::fuzz::assert_refused!(prefixes, SRC);
        }
    }

    #[test]
    fn bytes_after_the_message_are_not_part_of_it() {
        // Ethernet padding that reached the IP payload, say: not covered by the checksum.
        for (name, bytes, expected) in fixtures() {
            let mut padded = bytes.clone();
            padded.extend([0xff, 0x00, 0x17]);
            let packet = Packet::new_checked(&padded[..]).unwrap();
            assert_eq!(Repr::parse(&packet, SRC), Ok(expected), "{name}");
        }
    }

    #[test]
    fn malformed_packets_are_errors() {
        // Each case gets a right checksum, so only the named field is wrong.
        let with = |fixture: &[u8], offset: usize, value: u8| {
            let mut bytes = fixture.to_vec();
            bytes[offset] = value;
            Packet::new_unchecked(&mut bytes[..]).fill_checksum(SRC);
            bytes
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("version 1", with(&V2_ADVERTISEMENT, 0, 0x11)),
            ("version 4", with(&V3_ADVERTISEMENT, 0, 0x41)),
            ("version 0", with(&V3_ADVERTISEMENT, 0, 0x01)),
            ("v2 type 2", with(&V2_ADVERTISEMENT, 0, 0x22)),
            ("v3 type 0", with(&V3_ADVERTISEMENT, 0, 0x30)),
            ("v2 VRID 0", with(&V2_ADVERTISEMENT, 1, 0)),
            ("v3 VRID 0", with(&V3_ADVERTISEMENT, 1, 0)),
            ("v2 auth type 1", with(&V2_ADVERTISEMENT, 4, 1)),
            ("v2 auth type 2", with(&V2_ADVERTISEMENT, 4, 2)),
            ("v2 count 2, one address", with(&V2_ADVERTISEMENT, 3, 2)),
            ("v3 count 3, two addresses", with(&V3_ADVERTISEMENT, 3, 3)),
            ("v3 count 255", with(&V3_ADVERTISEMENT, 3, 255)),
        ];
        crate::fuzz::assert_refused!(cases, SRC);
    }

    #[test]
    fn v3_reserved_bits_are_ignored() {
        let mut bytes = V3_ADVERTISEMENT;
        bytes[4] |= 0xf0;
        Packet::new_unchecked(&mut bytes[..]).fill_checksum(SRC);
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), SRC).unwrap();
        assert_eq!(repr.advertisement_interval_cs, 100);
        assert_eq!(repr.to_bytes(SRC), V3_ADVERTISEMENT, "emitted as zero");
    }

    #[test]
    fn v2_interval_is_whole_seconds() {
        let mut repr = Repr::parse(&Packet::new_unchecked(&V2_ADVERTISEMENT[..]), SRC).unwrap();
        for (interval_cs, seconds) in [(0, 0), (1, 1), (100, 1), (150, 2), (300, 3), (25_500, 255)]
        {
            repr.advertisement_interval_cs = interval_cs;
            let bytes = repr.to_bytes(SRC);
            assert_eq!(bytes[5], seconds, "{interval_cs} cs");
            let parsed = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), SRC).unwrap();
            assert_eq!(parsed.advertisement_interval_cs, u16::from(seconds) * 100);
        }
    }

    #[test]
    fn v3_interval_uses_all_twelve_bits() {
        let mut repr = Repr::parse(&Packet::new_unchecked(&V3_ADVERTISEMENT[..]), SRC).unwrap();
        repr.advertisement_interval_cs = ADVERTISEMENT_INTERVAL_MAX_CS_V3;
        let bytes = repr.to_bytes(SRC);
        assert_eq!(bytes[4..6], [0x0f, 0xff]);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), SRC),
            Ok(repr)
        );
    }

    #[test]
    #[should_panic(expected = "exceeds 4095 cs")]
    fn v3_interval_above_twelve_bits_is_refused() {
        let mut repr = Repr::parse(&Packet::new_unchecked(&V3_ADVERTISEMENT[..]), SRC).unwrap();
        repr.advertisement_interval_cs = 4096;
        repr.to_bytes(SRC);
    }

    #[test]
    #[should_panic(expected = "exceeds 255 s")]
    fn v2_interval_above_255_seconds_is_refused() {
        let mut repr = Repr::parse(&Packet::new_unchecked(&V2_ADVERTISEMENT[..]), SRC).unwrap();
        repr.advertisement_interval_cs = 25_501;
        repr.to_bytes(SRC);
    }

    #[test]
    fn no_addresses_and_many_addresses() {
        for version in [Version::V2, Version::V3] {
            for count in [0u8, 255] {
                let repr = Repr {
                    version,
                    vrid: 255,
                    priority: PRIORITY_OWNER,
                    advertisement_interval_cs: 100,
                    addresses: (0..count).map(|i| Ipv4Addr::new(172, 16, 0, i)).collect(),
                };
                let bytes = repr.to_bytes(SRC);
                let packet = Packet::new_checked(&bytes[..]).unwrap();
                assert_eq!(packet.address_count(), count);
                assert_eq!(Repr::parse(&packet, SRC), Ok(repr), "{version:?} {count}");
            }
        }
    }

    #[test]
    fn unchecked_accessors_do_not_panic_on_short_buffers() {
        crate::fuzz::prefixes(&[&V2_ADVERTISEMENT, &V3_ADVERTISEMENT], read_everything);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let seeds = [&V2_ADVERTISEMENT[..], &V3_ADVERTISEMENT[..]];
        crate::fuzz::arbitrary_bytes(0x2545_f491_4f6c_dd1d, seeds, 40, |bytes, rng| {
            if rng.next() % 2 == 0 {
                Packet::new_unchecked(&mut bytes[..]).fill_checksum(SRC);
            }
            read_everything(bytes);
        });
    }

    fn read_everything(bytes: &[u8]) {
        let packet = Packet::new_unchecked(bytes);
        let _ = (
            packet.version(),
            packet.message_type(),
            packet.vrid(),
            packet.priority(),
            packet.address_count(),
            packet.auth_type(),
            packet.advertisement_interval_cs(),
            packet.checksum(),
            packet.addresses().count(),
            packet.message_len(),
            packet.verify_checksum(SRC),
        );
        if let Ok(repr) = Repr::parse(&packet, SRC) {
            // Whatever parses emits again, and parses to the same thing.
            let emitted = repr.to_bytes(SRC);
            assert_eq!(
                Repr::parse(&Packet::new_checked(&emitted[..]).unwrap(), SRC),
                Ok(repr)
            );
        }
    }

    #[test]
    fn virtual_macs() {
        assert_eq!(virtual_mac(1), [0x00, 0x00, 0x5e, 0x00, 0x01, 0x01]);
        assert_eq!(virtual_mac(10), [0x00, 0x00, 0x5e, 0x00, 0x01, 0x0a]);
        assert_eq!(virtual_mac(255), [0x00, 0x00, 0x5e, 0x00, 0x01, 0xff]);
    }
}
