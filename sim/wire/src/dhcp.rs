//! The one DHCP decoder of pxelab, for the engine (relays, clients, frame descriptions) and the
//! plugin SDK alike: dhcproto does the decoding, after the checks it leaves to its caller, so a
//! malformed message is an `Err`, never a panic (in a debug build or a plugin) and never a
//! message read out of the wrong bytes.

use std::fmt;

use dhcproto::v4::Message;
use dhcproto::{Decodable, Decoder};

/// The BOOTP server (relay) port.
pub const SERVER_PORT: u16 = 67;
/// The BOOTP client port.
pub const CLIENT_PORT: u16 = 68;
/// The PXE boot-server port a client asks after a proxy offer without boot information.
pub const PXE_PORT: u16 = 4011;

/// RFC 2131's magic cookie, the first four bytes after the fixed header.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Where the magic cookie sits: after op..giaddr (28 bytes), chaddr (16), sname (64), file (128).
const MAGIC_COOKIE_OFFSET: usize = 236;
/// Where the options start: the fixed BOOTP header and the magic cookie.
const OPTIONS_OFFSET: usize = MAGIC_COOKIE_OFFSET + 4;
/// dhcproto slices `chaddr` by `hlen`; more than the field's 16 bytes would panic later (the
/// malformed-probe crash of KB3073881).
const CHADDR_LEN_MAX: u8 = 16;

/// Options whose length dhcproto 0.15 takes on trust: it `debug_assert!`s it (a panic in a
/// debug build) or subtracts from it (an overflow), and otherwise reads into the next option.
/// `(code, shortest, longest)` of the value, after RFC 3396 joins consecutive options with the
/// same code, as dhcproto does.
const TRUSTED_LENGTHS: [(u8, usize, usize); 8] = [
    (80, 0, 0),           // Rapid Commit (RFC 4039)
    (81, 3, usize::MAX),  // Client FQDN: flags, two rcodes, a name (RFC 4702)
    (94, 3, 3),           // Client Network Interface Identifier (RFC 4578)
    (151, 1, usize::MAX), // Bulk leasequery status code: a code and a message (RFC 6926)
    (152, 4, 4),          // Bulk leasequery base time
    (153, 4, 4),          // start time of state
    (154, 4, 4),          // query start time
    (155, 4, 4),          // query end time
];

/// Why bytes are not a DHCP message.
#[derive(Debug)]
pub enum DecodeError {
    /// Shorter than the three bytes that reach `hlen`.
    Truncated,
    /// `hlen` is more than `chaddr`'s 16 bytes.
    HardwareLength { hlen: u8 },
    /// An option whose length dhcproto would trust is outside what its RFC allows.
    OptionLength { code: u8, len: usize },
    /// No RFC 2131 magic cookie after the fixed header: BOOTP, or not DHCP at all.
    NoMagicCookie,
    /// dhcproto refused the message.
    Malformed(dhcproto::error::DecodeError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated BOOTP header"),
            DecodeError::HardwareLength { hlen } => write!(f, "hlen {hlen} exceeds 16"),
            DecodeError::OptionLength { code, len } => {
                write!(f, "option {code} has length {len}")
            }
            DecodeError::NoMagicCookie => f.write_str("no DHCP magic cookie"),
            DecodeError::Malformed(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a DHCPv4 message, refusing first what dhcproto would accept and later panic on or
/// misread: `hlen` over 16, a trusted option length out of range, a missing magic cookie.
pub fn decode(payload: &[u8]) -> Result<Message, DecodeError> {
    match payload.get(2) {
        None => return Err(DecodeError::Truncated),
        Some(&hlen) if hlen > CHADDR_LEN_MAX => {
            return Err(DecodeError::HardwareLength { hlen });
        }
        Some(_) => {}
    }
    check_trusted_lengths(payload.get(OPTIONS_OFFSET..).unwrap_or(&[]))?;
    if payload.get(MAGIC_COOKIE_OFFSET..OPTIONS_OFFSET) != Some(&MAGIC_COOKIE[..]) {
        return Err(DecodeError::NoMagicCookie);
    }
    Message::decode(&mut Decoder::new(payload)).map_err(DecodeError::Malformed)
}

/// Walks the options as dhcproto will and refuses a length it would trust wrongly. A truncated
/// option ends the walk: dhcproto stops there too.
fn check_trusted_lengths(mut options: &[u8]) -> Result<(), DecodeError> {
    let check = |run: Option<(u8, usize)>| match run {
        Some((code, len)) => match TRUSTED_LENGTHS.iter().find(|(c, _, _)| *c == code) {
            Some((_, shortest, longest)) if len < *shortest || len > *longest => {
                Err(DecodeError::OptionLength { code, len })
            }
            _ => Ok(()),
        },
        None => Ok(()),
    };
    let mut run: Option<(u8, usize)> = None;
    while let Some((&code, rest)) = options.split_first() {
        if code == 0 || code == 255 {
            check(run.take())?;
            if code == 255 {
                return Ok(());
            }
            options = rest;
            continue;
        }
        let Some((&len, rest)) = rest.split_first() else {
            break;
        };
        let Some((_, rest)) = rest.split_at_checked(usize::from(len)) else {
            break;
        };
        run = match run {
            Some((same, total)) if same == code => Some((code, total + usize::from(len))),
            other => {
                check(other)?;
                Some((code, usize::from(len)))
            }
        };
        options = rest;
    }
    check(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::Encodable;

    fn valid() -> Vec<u8> {
        Message::new_with_id(
            7,
            [0; 4].into(),
            [0; 4].into(),
            [0; 4].into(),
            [0; 4].into(),
            &[2, 0, 0, 0, 0, 1],
        )
        .to_vec()
        .unwrap()
    }

    #[test]
    fn a_message_round_trips() {
        let bytes = valid();
        let message = decode(&bytes).unwrap();
        assert_eq!(message.xid(), 7);
        assert_eq!(message.chaddr(), &[2, 0, 0, 0, 0, 1]);
        assert_eq!(message.to_vec().unwrap(), bytes);
    }

    #[test]
    fn garbage_never_panics() {
        // splitmix64: a fixed stream, so a failure replays.
        let mut state = 1u64;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let valid = valid();
        for round in 0..5_000 {
            let mut bytes = valid.clone();
            let flips = 1 + next() % 8;
            for _ in 0..flips {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            let cut = if round % 3 == 0 {
                (next() as usize) % bytes.len()
            } else {
                bytes.len()
            };
            if let Ok(message) = decode(&bytes[..cut]) {
                let _ = message.chaddr();
                let _ = message.to_vec();
            }
        }
    }

    #[test]
    fn short_headers_large_hlen_and_missing_cookies_are_refused() {
        assert!(matches!(decode(&[]), Err(DecodeError::Truncated)));
        assert!(matches!(decode(&[1, 2]), Err(DecodeError::Truncated)));
        let error = decode(&[1, 1, 200]).unwrap_err();
        assert!(matches!(error, DecodeError::HardwareLength { hlen: 200 }));
        assert_eq!(error.to_string(), "hlen 200 exceeds 16");
        assert!(matches!(
            decode(&[0u8; 300]),
            Err(DecodeError::NoMagicCookie)
        ));
        let mut bytes = valid();
        bytes[MAGIC_COOKIE_OFFSET] = 0;
        assert!(matches!(decode(&bytes), Err(DecodeError::NoMagicCookie)));
        let mut truncated = valid();
        truncated.truncate(250);
        let _ = decode(&truncated);
    }

    /// Found by `tests/it/fuzz_smoke.rs`: options whose length dhcproto asserts panicked it.
    #[test]
    fn lengths_dhcproto_trusts_are_checked_first() {
        let message = |options: &[u8]| {
            let mut bytes = vec![0u8; OPTIONS_OFFSET];
            bytes[..3].copy_from_slice(&[1, 1, 6]);
            bytes[MAGIC_COOKIE_OFFSET..OPTIONS_OFFSET].copy_from_slice(&MAGIC_COOKIE);
            bytes.extend_from_slice(options);
            decode(&bytes)
        };
        for (bad, code, len) in [
            (&[53, 1, 1, 80, 1, 0, 255][..], 80, 1),
            (&[94, 2, 1, 2, 255], 94, 2),
            (&[94, 3, 1, 2, 3, 94, 3, 1, 2, 3, 255], 94, 6),
            (&[81, 1, 0, 255], 81, 1),
            (&[151, 0, 255], 151, 0),
            (&[155, 3, 0, 0, 0, 255], 155, 3),
        ] {
            let error = message(bad).unwrap_err();
            assert!(
                matches!(error, DecodeError::OptionLength { code: c, len: l } if c == code && l == len),
                "{bad:?}: {error}"
            );
            assert!(error.to_string().contains("has length"), "{bad:?}");
        }
        assert!(message(&[53, 1, 1, 80, 0, 94, 3, 1, 2, 0, 255]).is_ok());
        // Truncated and never ended: dhcproto decides, without a panic.
        let _ = message(&[53, 1, 1, 80]);
    }
}
