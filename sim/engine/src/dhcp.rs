//! DHCP decoding for every place the engine reads a DHCP message off the wire, with the checks
//! dhcproto leaves to its caller, so a malformed message is an `Err`, never a panic.

use dhcproto::v4::Message;
use dhcproto::{Decodable, Decoder};

/// dhcproto slices `chaddr` by `hlen`; more than the field's 16 bytes would panic later.
const CHADDR_LEN_MAX: u8 = 16;

/// Where the options start: the fixed BOOTP header (236 bytes) and the magic cookie.
const OPTIONS_OFFSET: usize = 240;

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

pub fn decode(payload: &[u8]) -> Result<Message, String> {
    match payload.get(2) {
        None => return Err("truncated BOOTP header".to_string()),
        Some(&hlen) if hlen > CHADDR_LEN_MAX => return Err(format!("hlen {hlen} exceeds 16")),
        Some(_) => {}
    }
    check_trusted_lengths(payload.get(OPTIONS_OFFSET..).unwrap_or(&[]))?;
    Message::decode(&mut Decoder::new(payload)).map_err(|e| e.to_string())
}

/// Walks the options as dhcproto will and refuses a length it would trust wrongly. A truncated
/// option ends the walk: dhcproto stops there too.
fn check_trusted_lengths(mut options: &[u8]) -> Result<(), String> {
    let check = |run: Option<(u8, usize)>| match run {
        Some((code, len)) => match TRUSTED_LENGTHS.iter().find(|(c, _, _)| *c == code) {
            Some((_, shortest, longest)) if len < *shortest || len > *longest => {
                Err(format!("option {code} has length {len}"))
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
    use crate::rng::Stream;
    use dhcproto::Encodable;

    #[test]
    fn garbage_never_panics() {
        let mut stream = Stream::new(1, "dhcp", "fuzz");
        let valid = Message::new_with_id(
            7,
            [0; 4].into(),
            [0; 4].into(),
            [0; 4].into(),
            [0; 4].into(),
            &[2, 0, 0, 0, 0, 1],
        )
        .to_vec()
        .unwrap();
        for round in 0..5_000 {
            let mut bytes = valid.clone();
            let flips = 1 + stream.next_u64() % 8;
            for _ in 0..flips {
                let at = (stream.next_u64() as usize) % bytes.len();
                bytes[at] = stream.next_u64() as u8;
            }
            let cut = if round % 3 == 0 {
                (stream.next_u64() as usize) % bytes.len()
            } else {
                bytes.len()
            };
            if let Ok(message) = decode(&bytes[..cut]) {
                let _ = message.chaddr();
                let _ = message.to_vec();
            }
        }
        assert!(decode(&[1, 1, 200]).unwrap_err().contains("hlen"));
    }

    /// Found by `tests/it/fuzz_smoke.rs`: options whose length dhcproto asserts panicked it.
    #[test]
    fn lengths_dhcproto_trusts_are_checked_first() {
        let message = |options: &[u8]| {
            let mut bytes = vec![0u8; OPTIONS_OFFSET];
            bytes[..3].copy_from_slice(&[1, 1, 6]);
            bytes[236..240].copy_from_slice(&[99, 130, 83, 99]);
            bytes.extend_from_slice(options);
            decode(&bytes)
        };
        for bad in [
            &[53, 1, 1, 80, 1, 0, 255][..],
            &[94, 2, 1, 2, 255],
            &[94, 3, 1, 2, 3, 94, 3, 1, 2, 3, 255],
            &[81, 1, 0, 255],
            &[151, 0, 255],
            &[155, 3, 0, 0, 0, 255],
        ] {
            assert!(message(bad).unwrap_err().contains("has length"), "{bad:?}");
        }
        assert!(message(&[53, 1, 1, 80, 0, 94, 3, 1, 2, 0, 255]).is_ok());
        // Truncated and never ended: dhcproto decides, without a panic.
        let _ = message(&[53, 1, 1, 80]);
    }
}
