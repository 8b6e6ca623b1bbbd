//! What differs between PXE firmware implementations, as data: the option set and its order,
//! flags, the `secs` encoding, xid rules, the offer window and offer choice, retransmission
//! schedules, the boot-server (port 4011) request, TFTP options and what each shows when it
//! fails. `client` runs one state machine and asks its profile at each of these points.
//!
//! The values were measured from real firmware under QEMU (OVMF's UefiPxeBcDxe and SeaBIOS with
//! the iPXE NIC ROM) and read from their sources (EDK2 `NetworkPkg/UefiPxeBcDxe/PxeBcDhcp4.c`,
//! iPXE `src/net/udp/dhcp.c` and `src/config/dhcp.h`); `pxe-spec` is the PXE 2.1 text.

use std::fmt;
use std::str::FromStr;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// A firmware profile by name (`firmware:` in a topology).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Firmware {
    /// The Intel PXE 2.1 specification's client.
    PxeSpec,
    /// EDK2 (OVMF and most UEFI firmware): UefiPxeBcDxe.
    Edk2,
    /// iPXE (a BIOS NIC option ROM, as QEMU's SeaBIOS loads it).
    Ipxe,
    /// EDK2 as some vendors ship it (reported on Asus and Dell UEFI machines booting across
    /// subnets): EDK2 in every other respect, but after the ACK it never sends the boot-server
    /// request that a proxy offer without a boot file calls for. It boots only when an offer
    /// or the ACK names the file itself.
    Edk2No4011,
}

impl Firmware {
    pub const ALL: [Firmware; 4] = [
        Firmware::PxeSpec,
        Firmware::Edk2,
        Firmware::Ipxe,
        Firmware::Edk2No4011,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Firmware::PxeSpec => "pxe-spec",
            Firmware::Edk2 => "edk2",
            Firmware::Ipxe => "ipxe",
            Firmware::Edk2No4011 => "edk2-no-4011",
        }
    }

    pub fn profile(self) -> &'static Profile {
        match self {
            Firmware::PxeSpec => &PXE_SPEC,
            Firmware::Edk2 => &EDK2,
            Firmware::Ipxe => &IPXE,
            Firmware::Edk2No4011 => &EDK2_NO_4011,
        }
    }
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Firmware {
    type Err = UnknownFirmware;

    fn from_str(text: &str) -> Result<Firmware, UnknownFirmware> {
        Firmware::ALL
            .into_iter()
            .find(|firmware| firmware.name() == text)
            .ok_or_else(|| UnknownFirmware {
                name: text.to_string(),
            })
    }
}

/// A firmware name no profile has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownFirmware {
    pub name: String,
}

impl fmt::Display for UnknownFirmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Firmware::ALL.iter().map(|f| f.name()).collect();
        write!(
            f,
            "unknown firmware `{}`; the profiles are {}",
            self.name,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownFirmware {}

/// How `secs` is filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secs {
    /// Seconds since the DHCP process began (RFC 2131); the REQUEST repeats the DISCOVER's.
    Elapsed { request_copies_discover: bool },
    /// iPXE: `(++transmissions << 2) | (have an offer ? 2 : 0) | (have a proxy offer ? 1 :
    /// 0)`, counted over the whole DHCP session (`dhcp->count`); the boot-server request
    /// starts a session of its own. A REQUEST after the proxyDHCP wait ran out counts one
    /// more (measured: DISCOVERs 4 and 10, then REQUEST 18; the source does not say why).
    IpxeCounter,
}

/// When the client stops collecting offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferWindow {
    /// At once when it holds an address and PXE boot information (pxe-spec).
    Early,
    /// Only when the retransmission timer fires (EDK2; iPXE as measured: it requests at its
    /// first timeout even when both offers came within milliseconds).
    AtTimeout,
}

/// Which offers the client takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferChoice {
    /// The first DHCP offer and the first PXE offer (pxe-spec).
    FirstOfEach,
    /// The last of each: iPXE replaces an offer by a later one of equal priority (option 175
    /// priority, 0 by default).
    LastOfEach,
    /// EDK2's offer classes, best first (`edk2_choice`).
    Edk2Classes,
}

/// How `secs` of the boot-server request is filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootServerSecs {
    /// As the profile's `secs` says.
    AsDhcp,
    /// The attempt number (0, 1, 2, ...), little-endian (EDK2: tshark warns).
    AttemptLittleEndian,
}

/// When an offer with an address but no PXE information is taken on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainOffer {
    /// After this many DISCOVER timeouts (PXE 2.1: the 4 and 8 s ones).
    AfterTimeouts(usize),
    /// At the first timeout at least this long after the first DISCOVER (iPXE's proxyDHCP
    /// wait, `DHCP_DISC_PROXY_TIMEOUT_SEC`).
    AfterElapsed(u64),
    /// Never, unless it names a boot file (EDK2's offer classes).
    Never,
}

/// The xid of the boot-server request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootServerXid {
    /// The DHCP transaction's.
    Same,
    /// A new random one (EDK2).
    Fresh,
    /// Zero (iPXE).
    Zero,
}

/// What the client does with an ACK from the server it chose whose `yiaddr` is not the
/// address it requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MismatchedAck {
    /// Takes the ACK's address (the PXE 2.1 text checks nothing).
    Accept,
    /// Sends a DHCPDECLINE and starts over (EDK2's Dhcp4Dxe `DhcpHandleRequest`: an ACK
    /// whose address is not the selected offer's is rejected with a DECLINE).
    Decline,
    /// Drops it and waits for another (iPXE filters out responses for a lease address other
    /// than the selected offer's).
    Ignore,
}

/// Why a boot failed, independent of what a firmware prints for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No offer at all in the whole DISCOVER schedule.
    NoOffers,
    /// Offers came, but none the firmware would use.
    NoUsableOffer,
    /// The ACK (or the chosen offers) named no boot file.
    NoBootFile,
    /// The boot server never answered on port 4011.
    NoBootServerReply,
    TftpOpenTimeout,
    TftpReadTimeout,
    TftpFileNotFound,
    TftpError,
    TftpSizeMismatch,
}

/// One firmware's behaviour.
#[derive(Debug)]
pub struct Profile {
    pub firmware: Firmware,
    /// The DISCOVER option codes in the order they are sent; 53 first. Codes the client fills
    /// in: 53, 57, 60, 61, 77, 93, 94, 97, 55, 175.
    pub discover_options: &'static [u8],
    /// REQUEST: the same, with 50 and 54 where this firmware puts them.
    pub request_options: &'static [u8],
    /// Option 55.
    pub parameter_request_list: &'static [u8],
    /// Option 57 of DISCOVERs and boot-server requests.
    pub max_message_size: u16,
    /// Option 57 of REQUESTs (EDK2 sends 65280 there).
    pub request_max_message_size: u16,
    /// The UNDI version in option 60 (`UNDI:003000`).
    pub undi: (u8, u8),
    /// Option 94: (type, major, minor).
    pub nii: (u8, u8, u8),
    /// Option 77.
    pub user_class: Option<&'static [u8]>,
    /// Option 175, iPXE's encapsulated feature list.
    pub ipxe_features: Option<&'static [u8]>,
    pub secs: Secs,
    /// The broadcast flag on DISCOVER and REQUEST.
    pub broadcast_dhcp: bool,
    /// The broadcast flag on the boot-server request.
    pub broadcast_boot_server: bool,
    /// Waits after each DISCOVER; the run ends in `NoOffers` after the last.
    pub discover_timeouts_ns: &'static [u64],
    /// EDK2's first wait is shorter than its nominal 4 s (the DHCP driver's one-second tick
    /// starts before the DISCOVER): drawn uniformly from this range when set. `secs` then
    /// counts the driver's ticks: 4 at the second DISCOVER, 12 at the third.
    pub first_timeout_range_ns: Option<(u64, u64)>,
    pub offer_window: OfferWindow,
    pub offer_choice: OfferChoice,
    pub plain_offer: PlainOffer,
    /// Offers kept per window (EDK2 `PXEBC_OFFER_MAX_NUM`).
    pub offers_max: usize,
    /// Waits after each REQUEST.
    pub request_timeouts_ns: &'static [u64],
    /// An ACK for another address than the one requested.
    pub mismatched_ack: MismatchedAck,
    /// Full DHCP cycles (DISCOVER..ACK) before giving up after NAKs or silence.
    pub dhcp_cycles_max: u32,
    /// The boot-server request leaves from port 4011 (EDK2) rather than 68.
    pub boot_server_from_4011: bool,
    /// After the ACK, ask the proxy offer's server on port 4011 for the boot file when no
    /// offer named one (PXE 2.1, every firmware measured); `false`: go on to the ACK's own
    /// file, or fail for want of one.
    pub boot_server_request: bool,
    pub boot_server_xid: BootServerXid,
    /// The boot-server request's options in wire order (43: the boot item).
    pub boot_server_options: &'static [u8],
    /// The boot item type of option 43 (iPXE asks for 0x8000).
    pub boot_item_type: u16,
    /// Option 60 of the boot-server request: `None` keeps the DISCOVER's, iPXE sends the
    /// bare `PXEClient`.
    pub boot_server_class: Option<&'static str>,
    pub boot_server_secs: BootServerSecs,
    pub boot_server_timeouts_ns: &'static [u64],
    /// The pause between the boot-server answer and the first TFTP request (EDK2: 1 s; after
    /// a DHCP or proxy offer naming the file it asks at once).
    pub tftp_delay_after_boot_server_ns: u64,
    /// Nothing after the ACK (TFTP, the boot-server request) starts earlier than this after
    /// power-on: iPXE first waits out IPv6 router discovery (its solicitations at 0, 0.25,
    /// 0.8, 1.85, 3.9 and 7.9 s), measured 16 s after link-up.
    pub boot_not_before_ns: u64,

    /// First ask for the file's size (tsize), abort with ERROR 8 once the OACK gives it, then
    /// read the file from the next UDP port (EDK2: 1826, then 1827).
    pub tftp_size_probe: bool,
    /// `blksize` asked for; `None`: the client's configured value.
    pub tftp_blksize: Option<u16>,
    /// RFC 7440 `windowsize` asked for when reading.
    pub tftp_windowsize: Option<u16>,
    /// `tsize` on the read request.
    pub tftp_tsize: bool,
    /// `blksize` before `tsize` in the request (iPXE); else `tsize` first.
    pub tftp_blksize_first: bool,
    pub tftp_timeouts_ns: &'static [u64],
    /// A gratuitous ARP for the new address after the ACK (iPXE).
    pub gratuitous_arp_after_ack: bool,
    /// What the firmware shows for each failure: (code, message).
    pub failures: fn(Failure) -> (&'static str, &'static str),
    /// What the machine does after the failure, for the log.
    pub after_failure: &'static str,
}

/// PXE 2.1 option 55 as pxelab has always sent it.
const SPEC_REQUEST_LIST: &[u8] = &[
    1, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59,
    60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135,
];

fn spec_failures(failure: Failure) -> (&'static str, &'static str) {
    match failure {
        Failure::NoOffers | Failure::NoUsableOffer => {
            ("PXE-E51", "No DHCP or proxyDHCP offers were received")
        }
        Failure::NoBootFile => ("PXE-E53", "No boot filename received"),
        Failure::NoBootServerReply => (
            "PXE-E55",
            "ProxyDHCP service did not reply to request on port 4011",
        ),
        Failure::TftpOpenTimeout => ("PXE-E32", "TFTP open timeout"),
        Failure::TftpReadTimeout => ("PXE-E35", "TFTP read timeout"),
        Failure::TftpFileNotFound => ("PXE-E3B", "TFTP error - File not found"),
        Failure::TftpError => ("PXE-E36", "Error received from TFTP server"),
        Failure::TftpSizeMismatch => ("PXE-E3F", "TFTP packet size is invalid"),
    }
}

pub static PXE_SPEC: Profile = Profile {
    firmware: Firmware::PxeSpec,
    discover_options: &[53, 55, 57, 60, 93, 94, 97],
    request_options: &[53, 50, 54, 55, 57, 60, 93, 94, 97],
    parameter_request_list: SPEC_REQUEST_LIST,
    max_message_size: 1260,
    request_max_message_size: 1260,
    undi: (2, 1),
    nii: (1, 2, 1),
    user_class: None,
    ipxe_features: None,
    secs: Secs::Elapsed {
        request_copies_discover: false,
    },
    broadcast_dhcp: true,
    broadcast_boot_server: false,
    discover_timeouts_ns: &[4 * S, 8 * S, 16 * S, 32 * S],
    first_timeout_range_ns: None,
    offer_window: OfferWindow::Early,
    offer_choice: OfferChoice::FirstOfEach,
    plain_offer: PlainOffer::AfterTimeouts(2),
    offers_max: 16,
    request_timeouts_ns: &[S, 2 * S, 3 * S, 4 * S],
    mismatched_ack: MismatchedAck::Accept,
    dhcp_cycles_max: 2,
    boot_server_from_4011: false,
    boot_server_request: true,
    boot_server_xid: BootServerXid::Same,
    boot_server_options: &[53, 55, 57, 60, 93, 94, 97],
    boot_item_type: 0,
    boot_server_class: None,
    boot_server_secs: BootServerSecs::AsDhcp,
    boot_server_timeouts_ns: &[S, 2 * S, 3 * S, 4 * S],
    tftp_delay_after_boot_server_ns: 0,
    boot_not_before_ns: 0,
    tftp_size_probe: false,
    tftp_blksize: None,
    tftp_windowsize: None,
    tftp_tsize: true,
    tftp_blksize_first: false,
    tftp_timeouts_ns: &[S, 2 * S, 3 * S, 4 * S],
    gratuitous_arp_after_ack: false,
    failures: spec_failures,
    after_failure: "the BIOS tries its next boot device",
};

fn edk2_failures(failure: Failure) -> (&'static str, &'static str) {
    match failure {
        Failure::NoOffers | Failure::NoBootServerReply | Failure::TftpOpenTimeout => {
            ("PXE-E18", "Server response timeout.")
        }
        Failure::NoUsableOffer | Failure::NoBootFile => ("PXE-E16", "No valid offer received."),
        Failure::TftpReadTimeout => ("PXE-E18", "Server response timeout."),
        Failure::TftpFileNotFound => ("PXE-E99", "Unexpected network error."),
        Failure::TftpError | Failure::TftpSizeMismatch => ("PXE-E99", "Unexpected network error."),
    }
}

pub static EDK2: Profile = EDK2_PROFILE;

const EDK2_PROFILE: Profile = Profile {
    firmware: Firmware::Edk2,
    discover_options: &[53, 57, 55, 97, 94, 93, 60],
    request_options: &[53, 54, 50, 57, 55, 97, 94, 93, 60],
    // PxeBcDhcp4.c `PxeBcBuildDhcp4Options`: 27 codes and 128..135.
    parameter_request_list: &[
        1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60,
        66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135,
    ],
    max_message_size: 1472,
    request_max_message_size: 65280,
    undi: (3, 0),
    nii: (1, 3, 0),
    user_class: None,
    ipxe_features: None,
    secs: Secs::Elapsed {
        request_copies_discover: true,
    },
    broadcast_dhcp: true,
    broadcast_boot_server: false,
    // `mPxeDhcpTimeout` = {4, 8, 16, 32}; PXE-E18 about 60 s after the first DISCOVER.
    discover_timeouts_ns: &[4 * S, 8 * S, 16 * S, 32 * S],
    // 3.5-3.8 s in earlier captures, 3.83-3.86 s in tests/it/real_firmware.
    first_timeout_range_ns: Some((3_500 * MS, 3_900 * MS)),
    offer_window: OfferWindow::AtTimeout,
    offer_choice: OfferChoice::Edk2Classes,
    plain_offer: PlainOffer::Never,
    offers_max: 16,
    request_timeouts_ns: &[4 * S, 8 * S, 16 * S, 32 * S],
    mismatched_ack: MismatchedAck::Decline,
    dhcp_cycles_max: 1,
    boot_server_from_4011: true,
    boot_server_request: true,
    boot_server_xid: BootServerXid::Fresh,
    // Measured against dnsmasq's proxy offer (no boot menu): no option 43.
    boot_server_options: &[53, 55, 57, 60, 93, 94, 97],
    boot_item_type: 0,
    boot_server_class: None,
    boot_server_secs: BootServerSecs::AttemptLittleEndian,
    // Retries 1, 2 and 3 s apart, then PXE-E18 10 s after the first.
    boot_server_timeouts_ns: &[S, 2 * S, 3 * S, 4 * S],
    tftp_delay_after_boot_server_ns: S,
    boot_not_before_ns: 0,
    tftp_size_probe: true,
    tftp_blksize: Some(1468),
    tftp_windowsize: Some(4),
    tftp_tsize: false,
    tftp_blksize_first: false,
    tftp_timeouts_ns: &[4 * S, 8 * S, 16 * S],
    gratuitous_arp_after_ack: false,
    failures: edk2_failures,
    after_failure: "the boot manager tries IPv6 PXE and HTTP boot",
};

/// The vendor EDK2 that skips the boot-server request: nothing else differs.
pub static EDK2_NO_4011: Profile = Profile {
    firmware: Firmware::Edk2No4011,
    boot_server_request: false,
    ..EDK2_PROFILE
};

fn ipxe_failures(failure: Failure) -> (&'static str, &'static str) {
    match failure {
        Failure::NoOffers | Failure::NoUsableOffer => (
            "iPXE-040ee186",
            "No configuration methods succeeded (https://ipxe.org/040ee186)",
        ),
        Failure::NoBootFile => (
            "iPXE-3d0c6135",
            "Nothing to boot: No such file or directory",
        ),
        Failure::NoBootServerReply => (
            "iPXE-4c0a6035",
            "Connection timed out (https://ipxe.org/4c0a6035)",
        ),
        Failure::TftpOpenTimeout | Failure::TftpReadTimeout => (
            "iPXE-4c126035",
            "Connection timed out (https://ipxe.org/4c126035)",
        ),
        Failure::TftpFileNotFound => (
            "iPXE-2d12608e",
            "No such file or directory (https://ipxe.org/2d12608e)",
        ),
        Failure::TftpError | Failure::TftpSizeMismatch => (
            "iPXE-1d12603b",
            "Operation not permitted (https://ipxe.org/1d12603b)",
        ),
    }
}

/// iPXE's option 175 as Debian's ipxe-qemu build for QEMU's e1000 sends it (captured in
/// `tests/it/real_firmware`): the bus id (177: PCI 8086:100e), the version (235: 1.0.0) and
/// one-byte feature flags (HTTP, DNS, TFTP, PXE extensions 2, bzImage, Multiboot, ELF, PXE,
/// menu, iSCSI, AoE, ...).
const IPXE_FEATURES: &[u8] = &[
    177, 5, 1, 128, 134, 16, 14, 235, 3, 1, 0, 0, 23, 1, 1, 34, 1, 1, 19, 1, 1, 17, 1, 1, 39, 1, 1,
    25, 1, 1, 41, 1, 1, 16, 1, 2, 33, 1, 1, 21, 1, 1, 24, 1, 1, 18, 1, 1,
];

pub static IPXE: Profile = Profile {
    firmware: Firmware::Ipxe,
    discover_options: &[53, 57, 93, 94, 60, 77, 55, 175, 61, 97],
    request_options: &[53, 57, 93, 94, 60, 77, 55, 175, 61, 97, 54, 50],
    // `dhcp_request_options_data`.
    parameter_request_list: &[
        1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133, 134, 135,
        175, 203,
    ],
    max_message_size: 1472,
    request_max_message_size: 1472,
    undi: (2, 1),
    nii: (1, 2, 1),
    user_class: Some(b"iPXE"),
    ipxe_features: Some(IPXE_FEATURES),
    secs: Secs::IpxeCounter,
    broadcast_dhcp: false,
    broadcast_boot_server: true,
    // DHCP_DISC_START_TIMEOUT_SEC 1, doubling, up to DHCP_DISC_END_TIMEOUT_SEC: 1, 2, 4, 8.
    discover_timeouts_ns: &[S, 2 * S, 4 * S, 8 * S],
    first_timeout_range_ns: None,
    offer_window: OfferWindow::AtTimeout,
    offer_choice: OfferChoice::LastOfEach,
    plain_offer: PlainOffer::AfterElapsed(2 * S),
    offers_max: 16,
    // DHCP_REQ_START_TIMEOUT_SEC 1 .. DHCP_REQ_END_TIMEOUT_SEC 4.
    request_timeouts_ns: &[S, 2 * S, 4 * S],
    mismatched_ack: MismatchedAck::Ignore,
    dhcp_cycles_max: 1,
    boot_server_from_4011: false,
    boot_server_request: true,
    boot_server_xid: BootServerXid::Zero,
    boot_server_options: &[53, 57, 93, 94, 60, 77, 55, 175, 61, 97, 43],
    boot_item_type: 0x8000,
    boot_server_class: Some("PXEClient"),
    boot_server_secs: BootServerSecs::AsDhcp,
    // PXEBS_START_TIMEOUT_SEC 1 .. PXEBS_END_TIMEOUT_SEC 2: two tries.
    boot_server_timeouts_ns: &[S, 2 * S],
    tftp_delay_after_boot_server_ns: 0,
    boot_not_before_ns: 16 * S,
    tftp_size_probe: false,
    tftp_blksize: Some(1432),
    tftp_windowsize: None,
    tftp_tsize: true,
    tftp_blksize_first: true,
    tftp_timeouts_ns: &[S, 2 * S, 4 * S, 8 * S],
    gratuitous_arp_after_ack: true,
    failures: ipxe_failures,
    after_failure: "SeaBIOS shows No bootable device",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_profiles() {
        for firmware in Firmware::ALL {
            assert_eq!(firmware.name().parse::<Firmware>(), Ok(firmware));
            assert_eq!(firmware.profile().firmware, firmware);
        }
        let error = "ovmf".parse::<Firmware>().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("pxe-spec, edk2, ipxe, edk2-no-4011"),
            "{error}"
        );
    }

    #[test]
    fn every_profile_sends_what_it_lists() {
        for firmware in Firmware::ALL {
            let profile = firmware.profile();
            assert_eq!(profile.discover_options[0], 53, "{firmware}");
            assert_eq!(profile.request_options[0], 53, "{firmware}");
            for code in profile.discover_options {
                assert!(profile.request_options.contains(code), "{firmware}: {code}");
            }
            assert!(profile.request_options.contains(&50));
            assert!(profile.request_options.contains(&54));
            assert!(!profile.discover_timeouts_ns.is_empty());
            assert!(!profile.boot_server_timeouts_ns.is_empty());
            assert!(!profile.tftp_timeouts_ns.is_empty());
        }
    }
}
