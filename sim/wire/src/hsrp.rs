//! HSRP, the Cisco Hot Standby Router Protocol: version 1 (RFC 2281) and version 2 (Cisco's TLV
//! format, laid out as Wireshark's `packet-hsrp.c` dissects it). The redundant router pair in
//! front of the PXE clients elects its active router with it, and the active router is the one
//! that may relay (`ip helper-address ... redundancy`), so the simulated routers and the capture
//! decoder share this one encoder and decoder.
//!
//! Version 1 is a fixed 20-byte message:
//!
//! ```text
//!  0 version (0) | 1 op code | 2 state | 3 hellotime (s) | 4 holdtime (s) | 5 priority
//!  6 group | 7 reserved | 8..16 authentication data | 16..20 virtual IPv4 address
//! ```
//!
//! Version 2 is a sequence of TLVs, of which pxelab reads the Group State TLV (type 1, length 40,
//! which must come first) and the Text Authentication TLV (type 3, length 8):
//!
//! ```text
//!  0 type (1) | 1 length (40) | 2 version (2) | 3 op code | 4 state | 5 IP version (4)
//!  6..8 group | 8..14 identifier (sender's interface MAC) | 14..18 priority
//! 18..22 hello time (ms) | 22..26 hold time (ms) | 26..42 virtual IP (IPv4 in 26..30)
//! 42 type (3) | 43 length (8) | 44..52 authentication data
//! ```
//!
//! The two versions encode the state differently (v1 one bit per state, v2 a sequence number);
//! [`State`] hides that. Not covered: the v1 Advertise op code (3, interface state), IPv6 groups
//! (v2 IP version 6, sent to UDP 2029), and MD5 authentication, whose TLV is skipped, not checked.

use std::net::Ipv4Addr;

/// UDP port of HSRP v1 and of v2 over IPv4 (source and destination).
pub const UDP_PORT: u16 = 1985;
/// Destination of v1 messages (all routers on this subnet).
pub const GROUP_ADDR_V1: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// Destination of v2 messages over IPv4.
pub const GROUP_ADDR_V2: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 102);
/// IP time to live of every HSRP message: it never leaves the subnet.
pub const TTL: u8 = 1;
/// Highest group number of v1 (one byte on the wire and in the virtual MAC).
pub const GROUP_MAX_V1: u16 = 255;
/// Highest group number of v2 (twelve bits of the virtual MAC).
pub const GROUP_MAX_V2: u16 = 4095;
/// The authentication data Cisco sends when none is configured (RFC 2281 section 5).
pub const AUTHENTICATION_DEFAULT: [u8; 8] = *b"cisco\0\0\0";
/// Cisco's default hello time.
pub const HELLO_TIME_DEFAULT_MS: u32 = 3_000;
/// Cisco's default hold time.
pub const HOLD_TIME_DEFAULT_MS: u32 = 10_000;
/// Cisco's default priority.
pub const PRIORITY_DEFAULT: u8 = 100;

/// The protocol version: v1 (RFC 2281, version field 0) or v2 (Cisco TLV format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    /// The version number, as people write it (the v1 version field itself is 0).
    pub const fn number(self) -> u8 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }

    /// The multicast address this version's messages are sent to.
    pub const fn group_addr(self) -> Ipv4Addr {
        match self {
            Version::V1 => GROUP_ADDR_V1,
            Version::V2 => GROUP_ADDR_V2,
        }
    }

    /// The highest group number this version can carry.
    pub const fn group_max(self) -> u16 {
        match self {
            Version::V1 => GROUP_MAX_V1,
            Version::V2 => GROUP_MAX_V2,
        }
    }
}

/// The virtual MAC address of `group`: 0000.0c07.acXX for v1, 0000.0c9f.fXXX for v2.
///
/// # Panics
/// If `group` exceeds `version.group_max()`; callers check the configured group first.
pub fn virtual_mac(version: Version, group: u16) -> [u8; 6] {
    assert!(
        group <= version.group_max(),
        "HSRP {version:?} group {group} out of range 0..={}",
        version.group_max()
    );
    let [high, low] = group.to_be_bytes();
    match version {
        Version::V1 => [0x00, 0x00, 0x0c, 0x07, 0xac, low],
        Version::V2 => [0x00, 0x00, 0x0c, 0x9f, 0xf0 | high, low],
    }
}

/// The op codes of RFC 2281, shared by v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Hello,
    Coup,
    Resign,
}

impl OpCode {
    fn from_u8(value: u8) -> Option<OpCode> {
        match value {
            0 => Some(OpCode::Hello),
            1 => Some(OpCode::Coup),
            2 => Some(OpCode::Resign),
            _ => None,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            OpCode::Hello => 0,
            OpCode::Coup => 1,
            OpCode::Resign => 2,
        }
    }
}

/// The sender's state. v1 encodes Initial 0, Learn 1, Listen 2, Speak 4, Standby 8, Active 16;
/// v2 encodes Init 1, Learn 2, Listen 3, Speak 4, Standby 5, Active 6 (Wireshark's table; its
/// v2 value 0, "Disabled", is never sent in a hello and is refused here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Initial,
    Learn,
    Listen,
    Speak,
    Standby,
    Active,
}

impl State {
    fn from_u8(version: Version, value: u8) -> Option<State> {
        match (version, value) {
            (Version::V1, 0) | (Version::V2, 1) => Some(State::Initial),
            (Version::V1, 1) | (Version::V2, 2) => Some(State::Learn),
            (Version::V1, 2) | (Version::V2, 3) => Some(State::Listen),
            (Version::V1, 4) | (Version::V2, 4) => Some(State::Speak),
            (Version::V1, 8) | (Version::V2, 5) => Some(State::Standby),
            (Version::V1, 16) | (Version::V2, 6) => Some(State::Active),
            _ => None,
        }
    }

    fn to_u8(self, version: Version) -> u8 {
        match (version, self) {
            (Version::V1, State::Initial) => 0,
            (Version::V1, State::Learn) => 1,
            (Version::V1, State::Listen) => 2,
            (Version::V1, State::Speak) => 4,
            (Version::V1, State::Standby) => 8,
            (Version::V1, State::Active) => 16,
            (Version::V2, State::Initial) => 1,
            (Version::V2, State::Learn) => 2,
            (Version::V2, State::Listen) => 3,
            (Version::V2, State::Speak) => 4,
            (Version::V2, State::Standby) => 5,
            (Version::V2, State::Active) => 6,
        }
    }
}

mod field {
    use core::ops::Range;

    /// RFC 2281 section 5.
    pub mod v1 {
        use super::Range;

        pub const VERSION: usize = 0;
        pub const OP_CODE: usize = 1;
        pub const STATE: usize = 2;
        pub const HELLO_TIME: usize = 3;
        pub const HOLD_TIME: usize = 4;
        pub const PRIORITY: usize = 5;
        pub const GROUP: usize = 6;
        pub const RESERVED: usize = 7;
        pub const AUTHENTICATION: Range<usize> = 8..16;
        pub const VIRTUAL_IP: Range<usize> = 16..20;
        pub const LEN: usize = VIRTUAL_IP.end;
    }

    /// The Group State TLV, as Wireshark's `packet-hsrp.c` lays it out.
    pub mod v2 {
        use super::Range;

        pub const TLV_TYPE: usize = 0;
        pub const TLV_LENGTH: usize = 1;
        pub const VERSION: usize = 2;
        pub const OP_CODE: usize = 3;
        pub const STATE: usize = 4;
        pub const IP_VERSION: usize = 5;
        pub const GROUP: Range<usize> = 6..8;
        pub const IDENTIFIER: Range<usize> = 8..14;
        pub const PRIORITY: Range<usize> = 14..18;
        pub const HELLO_TIME: Range<usize> = 18..22;
        pub const HOLD_TIME: Range<usize> = 22..26;
        /// 16 bytes for either address family; an IPv4 address fills the first 4.
        pub const VIRTUAL_IP: Range<usize> = 26..42;
        pub const GROUP_STATE_LEN: usize = VIRTUAL_IP.end;
    }
}

/// The first byte of a v1 message: its version field.
const V1_VERSION: u8 = 0;
/// The version field inside the v2 Group State TLV.
const V2_VERSION: u8 = 2;
/// The IP version field of a v2 group with an IPv4 virtual address.
const V2_IP_VERSION_4: u8 = 4;
const TLV_GROUP_STATE: u8 = 1;
const TLV_TEXT_AUTHENTICATION: u8 = 3;
/// The value length of the Group State TLV (everything after its type and length bytes).
const TLV_GROUP_STATE_LENGTH: u8 = (field::v2::GROUP_STATE_LEN - 2) as u8;
const TLV_TEXT_AUTHENTICATION_LENGTH: u8 = 8;

packet_view! {
    /// The malformed-packet error: the bytes are not an HSRP packet this module understands.
    Error: "malformed HSRP packet";
    /// A read/write view of an HSRP v1 or v2 packet (the UDP payload).
    Packet;
    /// Wraps a buffer after checking that it is an HSRP packet this module understands.
    /// v1: at least 20 bytes (an MD5 authentication trailer after them is not read), a known op
    /// code and state. v2: a Group State TLV first with version 2, a known op code and state,
    /// IP version 4, a group of at most 4095 and a priority of at most 255, followed by
    /// complete TLVs only, any Text Authentication TLV being 8 bytes long.
    new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    fn check(&self) -> Result<(), Error> {
        let bytes = self.buffer.as_ref();
        let version = self.version().ok_or(Error)?;
        let min_len = match version {
            Version::V1 => field::v1::LEN,
            Version::V2 => field::v2::GROUP_STATE_LEN,
        };
        if bytes.len() < min_len {
            return Err(Error);
        }
        self.op_code().ok_or(Error)?;
        self.state().ok_or(Error)?;
        if version == Version::V2 {
            if bytes[field::v2::IP_VERSION] != V2_IP_VERSION_4
                || self.group() > GROUP_MAX_V2
                || self.priority() > u32::from(u8::MAX)
            {
                return Err(Error);
            }
            text_authentication(&bytes[field::v2::GROUP_STATE_LEN..])?;
        }
        Ok(())
    }

    /// The version, told by the leading bytes: a v1 version field of 0, or a v2 Group State
    /// TLV header (type 1, length 40) with version 2. `None` for anything else.
    pub fn version(&self) -> Option<Version> {
        let bytes = self.buffer.as_ref();
        match bytes {
            [V1_VERSION, ..] => Some(Version::V1),
            [TLV_GROUP_STATE, TLV_GROUP_STATE_LENGTH, V2_VERSION, ..] => Some(Version::V2),
            _ => None,
        }
    }

    /// The byte at `v1_offset` of a v1 packet or `v2_offset` of a v2 packet, if present.
    fn byte(&self, v1_offset: usize, v2_offset: usize) -> Option<u8> {
        let offset = match self.version()? {
            Version::V1 => v1_offset,
            Version::V2 => v2_offset,
        };
        self.buffer.as_ref().get(offset).copied()
    }

    /// The bytes at `range` of a v2 packet, if this is one and they are present.
    fn v2_array<const N: usize>(&self, range: core::ops::Range<usize>) -> Option<[u8; N]> {
        if self.version()? != Version::V2 {
            return None;
        }
        self.buffer.as_ref().get(range)?.try_into().ok()
    }

    pub fn op_code(&self) -> Option<OpCode> {
        self.byte(field::v1::OP_CODE, field::v2::OP_CODE)
            .and_then(OpCode::from_u8)
    }

    pub fn state(&self) -> Option<State> {
        let version = self.version()?;
        self.byte(field::v1::STATE, field::v2::STATE)
            .and_then(|value| State::from_u8(version, value))
    }

    /// The hello time in milliseconds (v1 carries whole seconds); 0 if the packet is too short.
    pub fn hello_time_ms(&self) -> u32 {
        self.time_ms(field::v1::HELLO_TIME, field::v2::HELLO_TIME)
    }

    /// The hold time in milliseconds (v1 carries whole seconds); 0 if the packet is too short.
    pub fn hold_time_ms(&self) -> u32 {
        self.time_ms(field::v1::HOLD_TIME, field::v2::HOLD_TIME)
    }

    fn time_ms(&self, v1_offset: usize, v2_range: core::ops::Range<usize>) -> u32 {
        match self.version() {
            Some(Version::V1) => self
                .byte(v1_offset, 0)
                .map_or(0, |seconds| u32::from(seconds) * 1000),
            Some(Version::V2) => self.v2_array(v2_range).map_or(0, u32::from_be_bytes),
            None => 0,
        }
    }

    /// The priority as on the wire (one byte in v1, four in v2); 0 if the packet is too short.
    pub fn priority(&self) -> u32 {
        self.number(field::v1::PRIORITY, field::v2::PRIORITY, u32::from_be_bytes)
    }

    /// The group number; 0 if the packet is too short.
    pub fn group(&self) -> u16 {
        self.number(field::v1::GROUP, field::v2::GROUP, u16::from_be_bytes)
    }

    /// A number held in the byte at `v1_offset` of a v1 packet or big-endian at `v2_range` of a
    /// v2 packet; 0 if the packet is too short.
    fn number<const N: usize, V: From<u8>>(
        &self,
        v1_offset: usize,
        v2_range: core::ops::Range<usize>,
        from_be_bytes: fn([u8; N]) -> V,
    ) -> V {
        match self.version() {
            Some(Version::V1) => self.byte(v1_offset, 0).map_or(V::from(0), V::from),
            Some(Version::V2) => self.v2_array(v2_range).map_or(V::from(0), from_be_bytes),
            None => V::from(0),
        }
    }

    /// The virtual IPv4 address; 0.0.0.0 if the packet is too short.
    pub fn virtual_ip(&self) -> Ipv4Addr {
        let range = match self.version() {
            Some(Version::V1) => field::v1::VIRTUAL_IP,
            Some(Version::V2) => field::v2::VIRTUAL_IP.start..field::v2::VIRTUAL_IP.start + 4,
            None => return Ipv4Addr::UNSPECIFIED,
        };
        self.buffer
            .as_ref()
            .get(range)
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
            .map_or(Ipv4Addr::UNSPECIFIED, Ipv4Addr::from)
    }

    /// The v2 identifier (the MAC address of the sender's interface); `None` for v1.
    pub fn identifier(&self) -> Option<[u8; 6]> {
        self.v2_array(field::v2::IDENTIFIER)
    }

    /// The clear-text authentication data: always present in v1, in v2 the first Text
    /// Authentication TLV's, `None` if there is none (or the TLVs are malformed).
    pub fn authentication(&self) -> Option<[u8; 8]> {
        let bytes = self.buffer.as_ref();
        match self.version()? {
            Version::V1 => bytes.get(field::v1::AUTHENTICATION)?.try_into().ok(),
            Version::V2 => {
                text_authentication(bytes.get(field::v2::GROUP_STATE_LEN..)?).unwrap_or(None)
            }
        }
    }
}

/// Walks the TLVs after the Group State TLV: each must be complete; returns the value of the
/// first Text Authentication TLV. Other types (MD5 authentication, interface state) are skipped.
fn text_authentication(mut tlvs: &[u8]) -> Result<Option<[u8; 8]>, Error> {
    let mut found = None;
    while let [tlv_type, length, rest @ ..] = tlvs {
        let value = rest.get(..usize::from(*length)).ok_or(Error)?;
        if *tlv_type == TLV_TEXT_AUTHENTICATION {
            let data: [u8; 8] = value.try_into().map_err(|_| Error)?;
            found = found.or(Some(data));
        }
        tlvs = &rest[value.len()..];
    }
    if tlvs.is_empty() {
        Ok(found)
    } else {
        // One byte left: a TLV header cut short.
        Err(Error)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn write(&mut self, offset: usize, bytes: &[u8]) {
        if let Some(slot) = self.buffer.as_mut().get_mut(offset..offset + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
    }

    /// Writes the version field (v1) or the Group State TLV header (v2); the other setters read
    /// the version back, so this comes first.
    pub fn set_version(&mut self, version: Version) {
        match version {
            Version::V1 => self.write(field::v1::VERSION, &[V1_VERSION]),
            Version::V2 => {
                self.write(field::v2::TLV_TYPE, &[TLV_GROUP_STATE]);
                self.write(field::v2::TLV_LENGTH, &[TLV_GROUP_STATE_LENGTH]);
                self.write(field::v2::VERSION, &[V2_VERSION]);
            }
        }
    }

    pub fn set_op_code(&mut self, op_code: OpCode) {
        match self.version() {
            Some(Version::V1) => self.write(field::v1::OP_CODE, &[op_code.to_u8()]),
            Some(Version::V2) => self.write(field::v2::OP_CODE, &[op_code.to_u8()]),
            None => {}
        }
    }

    pub fn set_state(&mut self, state: State) {
        match self.version() {
            Some(version @ Version::V1) => self.write(field::v1::STATE, &[state.to_u8(version)]),
            Some(version @ Version::V2) => self.write(field::v2::STATE, &[state.to_u8(version)]),
            None => {}
        }
    }

    pub fn set_priority(&mut self, priority: u8) {
        match self.version() {
            Some(Version::V1) => self.write(field::v1::PRIORITY, &[priority]),
            Some(Version::V2) => self.write(
                field::v2::PRIORITY.start,
                &u32::from(priority).to_be_bytes(),
            ),
            None => {}
        }
    }
}

/// Whole seconds for a v1 timer: rounded up, so a timer is never announced shorter than it is
/// (and a sub-second one is not announced as 0).
///
/// # Panics
/// If the rounded value exceeds 255 s, which v1 cannot carry.
fn v1_seconds(time_ms: u32) -> u8 {
    let seconds = time_ms.div_ceil(1000);
    u8::try_from(seconds).unwrap_or_else(|_| panic!("HSRP v1 timer {time_ms} ms exceeds 255 s"))
}

/// A high-level representation of an HSRP hello, coup or resign message, either version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub version: Version,
    pub op_code: OpCode,
    pub state: State,
    /// v1 carries whole seconds: parsing multiplies by 1000, emitting rounds up to a second.
    pub hello_time_ms: u32,
    /// As `hello_time_ms`.
    pub hold_time_ms: u32,
    /// v2 has four bytes for it; Cisco's range is 0..=255 in both versions.
    pub priority: u8,
    /// At most `version.group_max()`.
    pub group: u16,
    pub virtual_ip: Ipv4Addr,
    /// v2 only (the MAC address of the sender's interface): `Some` exactly for v2.
    pub identifier: Option<[u8; 6]>,
    /// Clear-text authentication data: always `Some` for v1; for v2 the optional Text
    /// Authentication TLV (`None` when it is absent).
    pub authentication: Option<[u8; 8]>,
}

impl Repr {
    /// Parses a packet; checks it again, so an unchecked view is fine too.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        packet.check()?;
        let version = packet.version().ok_or(Error)?;
        Ok(Repr {
            version,
            op_code: packet.op_code().ok_or(Error)?,
            state: packet.state().ok_or(Error)?,
            hello_time_ms: packet.hello_time_ms(),
            hold_time_ms: packet.hold_time_ms(),
            priority: u8::try_from(packet.priority()).map_err(|_| Error)?,
            group: packet.group(),
            virtual_ip: packet.virtual_ip(),
            identifier: packet.identifier(),
            authentication: packet.authentication(),
        })
    }

    /// The length of the packet `emit` writes.
    pub fn buffer_len(&self) -> usize {
        match self.version {
            Version::V1 => field::v1::LEN,
            Version::V2 => {
                field::v2::GROUP_STATE_LEN
                    + match self.authentication {
                        Some(_) => 2 + usize::from(TLV_TEXT_AUTHENTICATION_LENGTH),
                        None => 0,
                    }
            }
        }
    }

    /// Writes the packet into `packet`, whose buffer must be at least `buffer_len` bytes long.
    ///
    /// # Panics
    /// If the buffer is too short, or the representation does not fit its version: a group
    /// above `version.group_max()`; for v1 a timer above 255 s, an `identifier` or a missing
    /// `authentication`; for v2 a missing `identifier`. These come from configuration, which is
    /// checked where it is loaded.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        assert!(
            packet.buffer.as_ref().len() >= self.buffer_len(),
            "HSRP emit buffer too short"
        );
        assert!(
            self.group <= self.version.group_max(),
            "HSRP {:?} group {} out of range",
            self.version,
            self.group
        );
        packet.set_version(self.version);
        packet.set_op_code(self.op_code);
        packet.set_state(self.state);
        packet.set_priority(self.priority);
        match self.version {
            Version::V1 => {
                assert!(self.identifier.is_none(), "HSRP v1 has no identifier");
                let authentication = self
                    .authentication
                    .expect("HSRP v1 always carries authentication data");
                let [_, group] = self.group.to_be_bytes();
                packet.write(field::v1::HELLO_TIME, &[v1_seconds(self.hello_time_ms)]);
                packet.write(field::v1::HOLD_TIME, &[v1_seconds(self.hold_time_ms)]);
                packet.write(field::v1::GROUP, &[group]);
                packet.write(field::v1::RESERVED, &[0]);
                packet.write(field::v1::AUTHENTICATION.start, &authentication);
                packet.write(field::v1::VIRTUAL_IP.start, &self.virtual_ip.octets());
            }
            Version::V2 => {
                let identifier = self.identifier.expect("HSRP v2 needs an identifier");
                packet.write(field::v2::IP_VERSION, &[V2_IP_VERSION_4]);
                packet.write(field::v2::GROUP.start, &self.group.to_be_bytes());
                packet.write(field::v2::IDENTIFIER.start, &identifier);
                packet.write(
                    field::v2::HELLO_TIME.start,
                    &self.hello_time_ms.to_be_bytes(),
                );
                packet.write(field::v2::HOLD_TIME.start, &self.hold_time_ms.to_be_bytes());
                let mut virtual_ip = [0u8; 16];
                virtual_ip[..4].copy_from_slice(&self.virtual_ip.octets());
                packet.write(field::v2::VIRTUAL_IP.start, &virtual_ip);
                if let Some(authentication) = self.authentication {
                    let at = field::v2::GROUP_STATE_LEN;
                    packet.write(
                        at,
                        &[TLV_TEXT_AUTHENTICATION, TLV_TEXT_AUTHENTICATION_LENGTH],
                    );
                    packet.write(at + 2, &authentication);
                }
            }
        }
    }

    /// Allocates a buffer of `buffer_len` bytes and emits into it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut packet = Packet::new_unchecked(vec![0u8; self.buffer_len()]);
        self.emit(&mut packet);
        packet.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// v1 hello from the active router, laid out as RFC 2281 section 5.
    const V1_HELLO_ACTIVE: [u8; 20] = [
        0x00, // version 0
        0x00, // op code Hello
        0x10, // state Active (16)
        0x03, // hellotime 3 s
        0x0a, // holdtime 10 s
        0x6e, // priority 110
        0x01, // group 1
        0x00, // reserved
        b'c', b'i', b's', b'c', b'o', 0x00, 0x00, 0x00, // authentication "cisco"
        0xc0, 0xa8, 0x00, 0x01, // virtual IP 192.168.0.1
    ];

    /// v1 coup from a router in Speak state with its own password and odd timers.
    const V1_COUP_SPEAK: [u8; 20] = [
        0x00, // version 0
        0x01, // op code Coup
        0x04, // state Speak (4)
        0x01, // hellotime 1 s
        0xff, // holdtime 255 s
        0xff, // priority 255
        0xff, // group 255
        0x00, // reserved
        b'p', b'x', b'e', b'l', b'a', b'b', b'1', b'2', // authentication "pxelab12"
        0x0a, 0x01, 0x02, 0xfe, // virtual IP 10.1.2.254
    ];

    /// v2 hello from the standby router: Group State TLV then Text Authentication TLV, laid out
    /// as Wireshark's packet-hsrp.c dissects them.
    const V2_HELLO_STANDBY: [u8; 52] = [
        0x01, // TLV type 1, Group State
        0x28, // TLV length 40
        0x02, // version 2
        0x00, // op code Hello
        0x05, // state Standby (v2: 5)
        0x04, // IP version 4
        0x01, 0x2c, // group 300
        0x00, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, // identifier 00:1b:2c:3d:4e:5f
        0x00, 0x00, 0x00, 0x96, // priority 150
        0x00, 0x00, 0x0b, 0xb8, // hello time 3000 ms
        0x00, 0x00, 0x27, 0x10, // hold time 10000 ms
        0xc0, 0xa8, 0x0a, 0x01, // virtual IP 192.168.10.1 ...
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // ... zero fill
        0x03, // TLV type 3, Text Authentication
        0x08, // TLV length 8
        b'c', b'i', b's', b'c', b'o', 0x00, 0x00, 0x00, // authentication "cisco"
    ];

    /// v2 resign from the active router, without a Text Authentication TLV, sub-second timers.
    const V2_RESIGN_ACTIVE_NO_AUTH: [u8; 42] = [
        0x01, // TLV type 1, Group State
        0x28, // TLV length 40
        0x02, // version 2
        0x02, // op code Resign
        0x06, // state Active (v2: 6)
        0x04, // IP version 4
        0x0f, 0xff, // group 4095
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // identifier 02:00:00:00:00:01
        0x00, 0x00, 0x00, 0x00, // priority 0
        0x00, 0x00, 0x00, 0xfa, // hello time 250 ms
        0x00, 0x00, 0x02, 0xee, // hold time 750 ms
        0x0a, 0x00, 0x00, 0x01, // virtual IP 10.0.0.1 ...
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // ... zero fill
    ];

    fn fixtures() -> Vec<(&'static str, Vec<u8>, Repr)> {
        vec![
            (
                "v1 hello active",
                V1_HELLO_ACTIVE.to_vec(),
                Repr {
                    version: Version::V1,
                    op_code: OpCode::Hello,
                    state: State::Active,
                    hello_time_ms: 3_000,
                    hold_time_ms: 10_000,
                    priority: 110,
                    group: 1,
                    virtual_ip: Ipv4Addr::new(192, 168, 0, 1),
                    identifier: None,
                    authentication: Some(AUTHENTICATION_DEFAULT),
                },
            ),
            (
                "v1 coup speak",
                V1_COUP_SPEAK.to_vec(),
                Repr {
                    version: Version::V1,
                    op_code: OpCode::Coup,
                    state: State::Speak,
                    hello_time_ms: 1_000,
                    hold_time_ms: 255_000,
                    priority: 255,
                    group: 255,
                    virtual_ip: Ipv4Addr::new(10, 1, 2, 254),
                    identifier: None,
                    authentication: Some(*b"pxelab12"),
                },
            ),
            (
                "v2 hello standby",
                V2_HELLO_STANDBY.to_vec(),
                Repr {
                    version: Version::V2,
                    op_code: OpCode::Hello,
                    state: State::Standby,
                    hello_time_ms: 3_000,
                    hold_time_ms: 10_000,
                    priority: 150,
                    group: 300,
                    virtual_ip: Ipv4Addr::new(192, 168, 10, 1),
                    identifier: Some([0x00, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f]),
                    authentication: Some(AUTHENTICATION_DEFAULT),
                },
            ),
            (
                "v2 resign active without authentication",
                V2_RESIGN_ACTIVE_NO_AUTH.to_vec(),
                Repr {
                    version: Version::V2,
                    op_code: OpCode::Resign,
                    state: State::Active,
                    hello_time_ms: 250,
                    hold_time_ms: 750,
                    priority: 0,
                    group: 4095,
                    virtual_ip: Ipv4Addr::new(10, 0, 0, 1),
                    identifier: Some([0x02, 0, 0, 0, 0, 0x01]),
                    authentication: None,
                },
            ),
        ]
    }

    crate::fuzz::fixture_tests!();

    #[test]
    fn accessors_read_every_field() {
        let v1 = Packet::new_checked(&V1_HELLO_ACTIVE[..]).unwrap();
        assert_eq!(v1.version(), Some(Version::V1));
        assert_eq!(v1.op_code(), Some(OpCode::Hello));
        assert_eq!(v1.state(), Some(State::Active));
        assert_eq!(v1.hello_time_ms(), 3_000);
        assert_eq!(v1.hold_time_ms(), 10_000);
        assert_eq!(v1.priority(), 110);
        assert_eq!(v1.group(), 1);
        assert_eq!(v1.virtual_ip(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(v1.identifier(), None);
        assert_eq!(v1.authentication(), Some(AUTHENTICATION_DEFAULT));

        let v2 = Packet::new_checked(&V2_HELLO_STANDBY[..]).unwrap();
        assert_eq!(v2.version(), Some(Version::V2));
        assert_eq!(v2.op_code(), Some(OpCode::Hello));
        assert_eq!(v2.state(), Some(State::Standby));
        assert_eq!(v2.hello_time_ms(), 3_000);
        assert_eq!(v2.hold_time_ms(), 10_000);
        assert_eq!(v2.priority(), 150);
        assert_eq!(v2.group(), 300);
        assert_eq!(v2.virtual_ip(), Ipv4Addr::new(192, 168, 10, 1));
        assert_eq!(v2.identifier(), Some([0x00, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f]));
        assert_eq!(v2.authentication(), Some(AUTHENTICATION_DEFAULT));
    }

    #[test]
    fn setters_change_one_field() {
        let mut bytes = V1_HELLO_ACTIVE;
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_state(State::Standby);
        packet.set_op_code(OpCode::Resign);
        packet.set_priority(90);
        let repr = Repr::parse(&packet).unwrap();
        assert_eq!(
            (repr.state, repr.op_code, repr.priority),
            (State::Standby, OpCode::Resign, 90)
        );
        assert_eq!(bytes[2], 8, "v1 Standby is 8");

        let mut bytes = V2_HELLO_STANDBY;
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_state(State::Active);
        packet.set_priority(200);
        assert_eq!(bytes[4], 6, "v2 Active is 6");
        assert_eq!(bytes[14..18], [0, 0, 0, 200]);
    }

    #[test]
    fn every_state_round_trips_in_both_versions() {
        let states = [
            (State::Initial, 0, 1),
            (State::Learn, 1, 2),
            (State::Listen, 2, 3),
            (State::Speak, 4, 4),
            (State::Standby, 8, 5),
            (State::Active, 16, 6),
        ];
        for (state, v1_value, v2_value) in states {
            for (version, fixture, offset, value) in [
                (Version::V1, V1_HELLO_ACTIVE.to_vec(), 2, v1_value),
                (Version::V2, V2_HELLO_STANDBY.to_vec(), 4, v2_value),
            ] {
                let mut repr = Repr::parse(&Packet::new_unchecked(&fixture[..])).unwrap();
                repr.state = state;
                let bytes = repr.to_bytes();
                assert_eq!(bytes[offset], value, "{version:?} {state:?}");
                assert_eq!(
                    Repr::parse(&Packet::new_unchecked(&bytes[..])).unwrap(),
                    repr
                );
            }
        }
    }

    #[test]
    fn truncated_packets_are_errors() {
        for (name, bytes, _) in fixtures() {
            let min_len = match bytes[0] {
                0 => 20,
                _ => 42,
            };
            for len in 0..bytes.len() {
                let prefix = &bytes[..len];
                let result = Packet::new_checked(prefix);
                if len == min_len {
                    // A v2 Group State TLV alone is a whole packet, without authentication.
                    let repr = Repr::parse(&result.unwrap()).unwrap();
                    assert_eq!(repr.authentication, None, "{name}");
                } else {
                    assert_eq!(result.err(), Some(Error), "{name}: {len} bytes");
                    assert_eq!(
                        Repr::parse(&Packet::new_unchecked(prefix)),
                        Err(Error),
                        "{name}: {len} bytes"
                    );
                }
            }
        }
    }

    #[test]
    fn malformed_packets_are_errors() {
        let v1 = |offset: usize, value: u8| {
            let mut bytes = V1_HELLO_ACTIVE.to_vec();
            bytes[offset] = value;
            bytes
        };
        let v2 = |offset: usize, values: &[u8]| {
            let mut bytes = V2_HELLO_STANDBY.to_vec();
            bytes[offset..offset + values.len()].copy_from_slice(values);
            bytes
        };
        let mut v2_trailing_byte = V2_HELLO_STANDBY.to_vec();
        v2_trailing_byte.push(0x03);
        let mut v2_cut_tlv = V2_RESIGN_ACTIVE_NO_AUTH.to_vec();
        v2_cut_tlv.extend([0x04, 0x1c, 0x01, 0x00]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("v1 version 1", v1(0, 1)),
            ("unknown leading byte", v1(0, 7)),
            ("v1 op code Advertise", v1(1, 3)),
            ("v1 op code 255", v1(1, 0xff)),
            ("v1 state 3", v1(2, 3)),
            ("v1 state 6 (a v2 value)", v1(2, 6)),
            ("v2 TLV type 2 first", v2(0, &[2])),
            ("v2 Group State length 41", v2(1, &[41])),
            ("v2 version 3", v2(2, &[3])),
            ("v2 op code 3", v2(3, &[3])),
            ("v2 state 0 (Disabled)", v2(4, &[0])),
            ("v2 state 16 (a v1 value)", v2(4, &[16])),
            ("v2 IP version 6", v2(5, &[6])),
            ("v2 group 4096", v2(6, &[0x10, 0x00])),
            ("v2 priority 256", v2(14, &[0, 0, 1, 0])),
            ("v2 Text Authentication length 7", v2(43, &[7])),
            ("v2 Text Authentication length 9", v2(43, &[9])),
            ("v2 trailing TLV header byte", v2_trailing_byte),
            ("v2 MD5 TLV cut short", v2_cut_tlv),
        ];
        crate::fuzz::assert_refused!(cases);
    }

    #[test]
    fn v2_unknown_tlvs_are_skipped() {
        // An MD5 Authentication TLV (type 4, length 28) before the text one: not checked, skipped.
        let mut bytes = V2_RESIGN_ACTIVE_NO_AUTH.to_vec();
        bytes.extend([0x04, 0x1c]);
        bytes.extend([0u8; 28]);
        bytes.extend([0x03, 0x08]);
        bytes.extend(*b"secret\0\0");
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(repr.authentication, Some(*b"secret\0\0"));
    }

    #[test]
    fn v1_bytes_after_the_message_are_not_read() {
        let mut bytes = V1_HELLO_ACTIVE.to_vec();
        bytes.extend([0x04, 0x1c]);
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(repr.to_bytes(), V1_HELLO_ACTIVE);
    }

    #[test]
    fn v1_timers_round_up_to_whole_seconds() {
        let mut repr = Repr::parse(&Packet::new_unchecked(&V1_HELLO_ACTIVE[..])).unwrap();
        for (time_ms, seconds) in [
            (0, 0),
            (1, 1),
            (999, 1),
            (1_000, 1),
            (2_500, 3),
            (255_000, 255),
        ] {
            repr.hello_time_ms = time_ms;
            let bytes = repr.to_bytes();
            assert_eq!(bytes[3], seconds, "{time_ms} ms");
            let parsed = Repr::parse(&Packet::new_unchecked(&bytes[..])).unwrap();
            assert_eq!(parsed.hello_time_ms, u32::from(seconds) * 1000);
        }
    }

    #[test]
    #[should_panic(expected = "exceeds 255 s")]
    fn v1_timer_above_255_seconds_is_refused() {
        let mut repr = Repr::parse(&Packet::new_unchecked(&V1_HELLO_ACTIVE[..])).unwrap();
        repr.hold_time_ms = 255_001;
        repr.to_bytes();
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn v1_group_above_255_is_refused() {
        let mut repr = Repr::parse(&Packet::new_unchecked(&V1_HELLO_ACTIVE[..])).unwrap();
        repr.group = 256;
        repr.to_bytes();
    }

    #[test]
    fn unchecked_accessors_do_not_panic_on_short_buffers() {
        crate::fuzz::prefixes(&[&V1_HELLO_ACTIVE, &V2_HELLO_STANDBY], read_everything);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let seeds = [&V1_HELLO_ACTIVE[..], &V2_HELLO_STANDBY[..]];
        crate::fuzz::arbitrary_bytes(0x9e37_79b9_7f4a_7c15, seeds, 72, |bytes, _| {
            read_everything(bytes)
        });
    }

    fn read_everything(bytes: &[u8]) {
        let packet = Packet::new_unchecked(bytes);
        let _ = (
            packet.version(),
            packet.op_code(),
            packet.state(),
            packet.hello_time_ms(),
            packet.hold_time_ms(),
            packet.priority(),
            packet.group(),
            packet.virtual_ip(),
            packet.identifier(),
            packet.authentication(),
        );
        if let Ok(repr) = Repr::parse(&packet) {
            // Whatever parses emits again, and parses to the same thing.
            let emitted = repr.to_bytes();
            assert_eq!(
                Repr::parse(&Packet::new_checked(&emitted[..]).unwrap()),
                Ok(repr)
            );
        }
    }

    #[test]
    fn virtual_macs() {
        assert_eq!(
            virtual_mac(Version::V1, 1),
            [0x00, 0x00, 0x0c, 0x07, 0xac, 0x01]
        );
        assert_eq!(
            virtual_mac(Version::V1, 255),
            [0x00, 0x00, 0x0c, 0x07, 0xac, 0xff]
        );
        assert_eq!(
            virtual_mac(Version::V2, 0),
            [0x00, 0x00, 0x0c, 0x9f, 0xf0, 0x00]
        );
        assert_eq!(
            virtual_mac(Version::V2, 0x123),
            [0x00, 0x00, 0x0c, 0x9f, 0xf1, 0x23]
        );
        assert_eq!(
            virtual_mac(Version::V2, 4095),
            [0x00, 0x00, 0x0c, 0x9f, 0xff, 0xff]
        );
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn v2_virtual_mac_above_4095_is_refused() {
        virtual_mac(Version::V2, 4096);
    }

    #[test]
    fn group_addresses() {
        assert_eq!(Version::V1.group_addr(), Ipv4Addr::new(224, 0, 0, 2));
        assert_eq!(Version::V2.group_addr(), Ipv4Addr::new(224, 0, 0, 102));
    }
}
