//! DHCP decoding for every place the engine reads a DHCP message off the wire, with the checks
//! dhcproto leaves to its caller, so a malformed message is an `Err`, never a panic.

use dhcproto::v4::Message;
use dhcproto::{Decodable, Decoder};

/// dhcproto slices `chaddr` by `hlen`; more than the field's 16 bytes would panic later.
const CHADDR_LEN_MAX: u8 = 16;

pub fn decode(payload: &[u8]) -> Result<Message, String> {
    match payload.get(2) {
        None => return Err("truncated BOOTP header".to_string()),
        Some(&hlen) if hlen > CHADDR_LEN_MAX => return Err(format!("hlen {hlen} exceeds 16")),
        Some(_) => {}
    }
    Message::decode(&mut Decoder::new(payload)).map_err(|e| e.to_string())
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
}
