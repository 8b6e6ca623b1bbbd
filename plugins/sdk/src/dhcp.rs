//! DHCP and PXE helpers that both boot servers need: the simulator's own decoder (which refuses
//! what dhcproto would accept but later panic on or misread), the PXE option readers, and the
//! RFC 2131 reply address rule.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{self, DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Encodable, Encoder};

pub use wire::dhcp::{CLIENT_PORT, DecodeError, PXE_PORT, SERVER_PORT};

/// The value of option 60 that marks a PXE client or a proxy offer.
pub const PXE_CLIENT_CLASS: &str = "PXEClient";

/// Decodes a DHCPv4 message, or `None` for anything that is not one: `wire::dhcp::decode`, the
/// decoder the simulator's relays and clients use, so a plugin refuses exactly what they do
/// (a missing magic cookie, `hlen` over 16, an option length dhcproto would trust wrongly).
pub fn decode(payload: &[u8]) -> Option<Message> {
    wire::dhcp::decode(payload).ok()
}

/// Encodes a message built by this process. Encoding only fails for values dhcproto cannot
/// represent (an option longer than 255 bytes), which our own replies never contain; the
/// `Err` is passed on so a caller can log it rather than panic.
///
/// The buffer starts zeroed at `ENCODE_BUFFER_BYTES`: dhcproto's encoder writes over bytes
/// that are already there one call per field, and appends (reserving, one byte at a time for
/// the padding of `sname` and `file`) only past the end, which in a plugin cost a fifth of a
/// DHCP reply's work. The bytes encoded are the same.
pub fn encode(message: &Message) -> Result<Vec<u8>, String> {
    let mut buffer = vec![0u8; ENCODE_BUFFER_BYTES];
    let mut encoder = Encoder::new(&mut buffer);
    message
        .encode(&mut encoder)
        .map_err(|e| format!("DHCP encode failed: {e}"))?;
    let length = encoder.len_filled();
    buffer.truncate(length);
    Ok(buffer)
}

/// The minimum DHCP message size every client must accept (RFC 2131 section 2): what a reply
/// is encoded into before the encoder has to grow its buffer.
const ENCODE_BUFFER_BYTES: usize = 576;
/// The BOOTP header's server name and boot file fields, NUL-padded on the wire.
const SNAME_BYTES: usize = 64;
const FILE_BYTES: usize = 128;

/// Sets the `file` field to `name`, NUL-padded to the field's 128 bytes as it goes on the wire
/// (so encoding copies the field whole). Names longer than the field are cut to it; callers
/// check lengths when they read their configuration.
pub fn set_boot_file(message: &mut Message, name: &str) {
    let mut field = [0u8; FILE_BYTES];
    let length = name.len().min(FILE_BYTES);
    field[..length].copy_from_slice(&name.as_bytes()[..length]);
    message.set_fname(&field);
}

pub fn message_type(message: &Message) -> Option<MessageType> {
    message.opts().msg_type()
}

/// Option 60 starts with "PXEClient" (PXE 2.1: `PXEClient:Arch:xxxxx:UNDI:yyyzzz`).
pub fn is_pxe_client(message: &Message) -> bool {
    match message.opts().get(OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(class)) => class.starts_with(PXE_CLIENT_CLASS.as_bytes()),
        _ => false,
    }
}

/// Option 93, the client system architecture (IANA: 0 BIOS, 6 EFI IA32, 7 EFI x64, 9 EFI BC).
pub fn client_arch(message: &Message) -> Option<u16> {
    match message.opts().get(OptionCode::ClientSystemArchitecture) {
        Some(DhcpOption::ClientSystemArchitecture(arch)) => Some(u16::from(*arch)),
        _ => None,
    }
}

/// Whether option 93 names a UEFI firmware, which needs the EFI boot file.
pub fn is_efi_arch(arch: Option<u16>) -> bool {
    matches!(arch, Some(6 | 7 | 9))
}

/// Option 97, the client machine identifier (type 0 then the 16-byte SMBIOS GUID), as sent.
pub fn client_guid(message: &Message) -> Option<Vec<u8>> {
    match message.opts().get(OptionCode::ClientMachineIdentifier) {
        Some(DhcpOption::ClientMachineIdentifier(guid)) => Some(guid.clone()),
        _ => None,
    }
}

pub fn server_identifier(message: &Message) -> Option<Ipv4Addr> {
    match message.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    }
}

pub fn requested_ip(message: &Message) -> Option<Ipv4Addr> {
    match message.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
        _ => None,
    }
}

/// The boot file name (`file` field) up to its NUL, if present and UTF-8. dhcproto keeps the
/// terminating NUL in `fname()`, which no caller wants.
pub fn boot_file(message: &Message) -> Option<&str> {
    let bytes = message.fname()?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end])
        .ok()
        .filter(|name| !name.is_empty())
}

/// Where a server sends its reply to `request` (RFC 2131 section 4.1): to the relay when
/// `giaddr` is set, else broadcast when the client asked for it or has no address yet, else to
/// the client's address.
pub fn reply_destination(request: &Message) -> SocketAddrV4 {
    if !request.giaddr().is_unspecified() {
        SocketAddrV4::new(request.giaddr(), SERVER_PORT)
    } else if request.flags().broadcast() || request.ciaddr().is_unspecified() {
        SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
    } else {
        SocketAddrV4::new(request.ciaddr(), CLIENT_PORT)
    }
}

/// A BOOTREPLY skeleton for `request`: same xid, flags, giaddr and chaddr, every address zero,
/// message type `kind`. Callers add their addresses and options.
pub fn reply_to(request: &Message, kind: MessageType) -> Message {
    let mut reply = Message::default();
    reply
        .set_opcode(v4::Opcode::BootReply)
        .set_htype(request.htype())
        .set_xid(request.xid())
        .set_flags(request.flags())
        .set_giaddr(request.giaddr())
        .set_chaddr(request.chaddr())
        // Empty, as on the wire: whole NUL fields encode in one copy (see `encode`).
        .set_sname(&[0; SNAME_BYTES])
        .set_fname(&[0; FILE_BYTES]);
    reply.opts_mut().insert(DhcpOption::MessageType(kind));
    reply
}

/// A client's hardware address (`chaddr`, its `hlen` bytes, at most 16) as a map key of fixed
/// size. It orders as the bytes do (the lexicographic order of a `Vec<u8>` key), but compares
/// as one 128-bit integer and a length, not through `memcmp`: lease tables keyed by it are
/// searched without a call per step.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Chaddr {
    /// The bytes, zero past `len`.
    bytes: [u8; 16],
    len: u8,
}

impl Chaddr {
    /// The first 16 bytes of `bytes` (all of a chaddr: the decoder refuses `hlen` over 16).
    pub fn new(bytes: &[u8]) -> Chaddr {
        let len = bytes.len().min(16);
        let mut key = [0u8; 16];
        key[..len].copy_from_slice(&bytes[..len]);
        Chaddr {
            bytes: key,
            len: len as u8,
        }
    }

    /// The address `message` comes from.
    pub fn of(message: &Message) -> Chaddr {
        Chaddr::new(message.chaddr())
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Ord for Chaddr {
    fn cmp(&self, other: &Chaddr) -> std::cmp::Ordering {
        // Zero padding keeps the bytes' order; a shorter address that is a prefix of a longer
        // one sorts first, as it does as a slice.
        (u128::from_be_bytes(self.bytes), self.len)
            .cmp(&(u128::from_be_bytes(other.bytes), other.len))
    }
}

impl PartialOrd for Chaddr {
    fn partial_cmp(&self, other: &Chaddr) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A MAC address for log lines, `00:11:22:33:44:55`.
pub fn format_chaddr(chaddr: &[u8]) -> String {
    crate::text::Text::new("").mac(chaddr).into_string()
}

/// Builders for client messages, used by plugin tests.
#[cfg(not(target_arch = "wasm32"))]
pub mod build {
    use super::*;

    /// A PXE 2.1 DISCOVER as firmware sends it (broadcast flag, options 60, 93, 94, 97), as a
    /// relay forwards it when `giaddr` is not 0.0.0.0.
    pub fn pxe_discover(xid: u32, chaddr: [u8; 6], giaddr: Ipv4Addr, arch: u16) -> Vec<u8> {
        let mut message = client_message(xid, chaddr, MessageType::Discover);
        message.set_giaddr(giaddr);
        add_pxe_options(&mut message, arch);
        encode(&message).unwrap_or_default()
    }

    /// The unicast DHCPREQUEST a PXE client sends to a boot server on port 4011.
    pub fn pxe_boot_request(xid: u32, chaddr: [u8; 6], ciaddr: Ipv4Addr, arch: u16) -> Vec<u8> {
        let mut message = client_message(xid, chaddr, MessageType::Request);
        message.set_ciaddr(ciaddr).set_flags(v4::Flags::default());
        add_pxe_options(&mut message, arch);
        encode(&message).unwrap_or_default()
    }

    /// A plain client message with the broadcast flag set.
    pub fn client_message(xid: u32, chaddr: [u8; 6], kind: MessageType) -> Message {
        let mut message = Message::default();
        message
            .set_opcode(v4::Opcode::BootRequest)
            .set_xid(xid)
            .set_flags(v4::Flags::default().set_broadcast())
            .set_chaddr(&chaddr);
        message.opts_mut().insert(DhcpOption::MessageType(kind));
        message
    }

    fn add_pxe_options(message: &mut Message, arch: u16) {
        let class = format!("PXEClient:Arch:{arch:05}:UNDI:002001");
        let opts = message.opts_mut();
        opts.insert(DhcpOption::ClassIdentifier(class.into_bytes()));
        opts.insert(DhcpOption::ClientSystemArchitecture(arch.into()));
        opts.insert(DhcpOption::ClientNetworkInterface(1, 2, 1));
        let mut guid = vec![0u8];
        guid.extend((1..=16u8).map(|i| i.wrapping_mul(0x11)));
        opts.insert(DhcpOption::ClientMachineIdentifier(guid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x00, 0x50, 0x56, 0x01, 0x02, 0x03];

    #[test]
    fn pxe_options_are_read_back() {
        let bytes = build::pxe_discover(7, MAC, Ipv4Addr::new(10, 1, 0, 2), 9);
        let message = decode(&bytes).unwrap();
        assert!(is_pxe_client(&message));
        assert_eq!(client_arch(&message), Some(9));
        assert!(is_efi_arch(client_arch(&message)));
        assert_eq!(client_guid(&message).map(|g| g.len()), Some(17));
        assert_eq!(message_type(&message), Some(MessageType::Discover));
    }

    #[test]
    fn reply_destination_follows_rfc_2131() {
        let relayed = decode(&build::pxe_discover(1, MAC, Ipv4Addr::new(10, 1, 0, 3), 0)).unwrap();
        assert_eq!(
            reply_destination(&relayed),
            SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 3), SERVER_PORT)
        );
        let local = decode(&build::pxe_discover(1, MAC, Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        assert_eq!(
            reply_destination(&local),
            SocketAddrV4::new(Ipv4Addr::new(255, 255, 255, 255), CLIENT_PORT)
        );
        let renewing = decode(&build::pxe_boot_request(
            1,
            MAC,
            Ipv4Addr::new(10, 1, 0, 100),
            0,
        ))
        .unwrap();
        assert_eq!(
            reply_destination(&renewing),
            SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 100), CLIENT_PORT)
        );
    }

    #[test]
    fn garbage_and_oversized_hlen_are_refused() {
        assert!(decode(&[]).is_none());
        assert!(decode(&[1, 2, 3]).is_none());
        assert!(decode(&[0u8; 300]).is_none());
        let mut bytes = build::pxe_discover(1, MAC, Ipv4Addr::UNSPECIFIED, 0);
        bytes[2] = 200;
        assert!(decode(&bytes).is_none());
        // An option length dhcproto would trust (94 is three bytes): refused, not misread.
        let mut bytes = build::pxe_discover(1, MAC, Ipv4Addr::UNSPECIFIED, 0);
        let at = bytes[240..].windows(2).position(|w| w == [94, 3]).unwrap() + 240;
        bytes[at + 1] = 2;
        assert!(decode(&bytes).is_none());
        let mut truncated = build::pxe_discover(1, MAC, Ipv4Addr::UNSPECIFIED, 0);
        truncated.truncate(250);
        let _ = decode(&truncated);
    }

    #[test]
    fn encoding_gives_dhcprotos_bytes() {
        let request = decode(&build::pxe_discover(9, MAC, Ipv4Addr::new(10, 1, 0, 2), 7)).unwrap();
        let mut reply = reply_to(&request, MessageType::Offer);
        set_boot_file(&mut reply, "boot\\x64\\wdsmgfw.efi");
        let mut plain = reply.clone();
        plain.clear_sname();
        plain.set_fname_str("boot\\x64\\wdsmgfw.efi");
        assert_eq!(encode(&reply).unwrap(), plain.to_vec().unwrap());
        assert_eq!(
            boot_file(&decode(&encode(&reply).unwrap()).unwrap()),
            Some("boot\\x64\\wdsmgfw.efi")
        );
        // Longer than the buffer it starts with: the encoder grows it.
        let mut long = reply_to(&request, MessageType::Offer);
        long.opts_mut()
            .insert(DhcpOption::DomainNameServer(vec![Ipv4Addr::LOCALHOST; 100]));
        assert_eq!(encode(&long).unwrap(), long.to_vec().unwrap());
        assert!(encode(&long).unwrap().len() > ENCODE_BUFFER_BYTES);
    }

    #[test]
    fn chaddr_keys_order_as_their_bytes() {
        let addresses: [&[u8]; 7] = [
            &[],
            &[0],
            &[0, 0],
            &[0, 0x50, 0x56, 1, 2, 3],
            &[0, 0x50, 0x56, 1, 2, 3, 0],
            &[0, 0x51],
            &[0xff; 16],
        ];
        for a in addresses {
            assert_eq!(Chaddr::new(a).as_slice(), a);
            for b in addresses {
                assert_eq!(
                    Chaddr::new(a).cmp(&Chaddr::new(b)),
                    a.cmp(b),
                    "{a:?} vs {b:?}"
                );
                assert_eq!(Chaddr::new(a) == Chaddr::new(b), a == b);
            }
        }
        assert_eq!(Chaddr::new(&[7; 20]).as_slice(), &[7; 16]);
    }

    #[test]
    fn reply_copies_the_transaction() {
        let request = decode(&build::pxe_discover(
            0xdead_beef,
            MAC,
            Ipv4Addr::new(10, 1, 0, 2),
            0,
        ))
        .unwrap();
        let reply = reply_to(&request, MessageType::Offer);
        assert_eq!(reply.opcode(), v4::Opcode::BootReply);
        assert_eq!(reply.xid(), 0xdead_beef);
        assert_eq!(reply.chaddr(), &MAC);
        assert_eq!(reply.giaddr(), Ipv4Addr::new(10, 1, 0, 2));
        assert!(reply.flags().broadcast());
        assert_eq!(format_chaddr(reply.chaddr()), "00:50:56:01:02:03");
    }
}
