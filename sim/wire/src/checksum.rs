//! The Internet checksum (RFC 1071), written out here so that `wire` needs no dependency for the
//! one protocol (VRRP) that carries it.

/// The 16-bit ones' complement of the ones' complement sum of `parts`, taken as one byte string
/// (a part of odd length is continued by the next part, not padded); a trailing odd byte is
/// padded with a zero byte. A message whose checksum field holds this value sums to `0xffff`,
/// so `internet_checksum` over it (checksum included) is 0.
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut high: Option<u8> = None;
    for &byte in parts.iter().flat_map(|part| part.iter()) {
        match high.take() {
            None => high = Some(byte),
            Some(first) => sum = fold(sum + u32::from(u16::from_be_bytes([first, byte]))),
        }
    }
    if let Some(first) = high {
        sum = fold(sum + u32::from(u16::from_be_bytes([first, 0])));
    }
    // `fold` keeps the sum below 0x10000, so the cast drops nothing.
    !(sum as u16)
}

/// Adds the carry out of the low 16 bits back in (end-around carry); keeps `sum` below 0x10000
/// when it was below 0x20000.
fn fold(sum: u32) -> u32 {
    (sum & 0xffff) + (sum >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to 2ddf0, folded ddf2, so the
        // checksum is its complement 220d.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&[&bytes]), 0x220d);
    }

    #[test]
    fn parts_are_one_byte_string() {
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(
            internet_checksum(&[&bytes[..3], &bytes[3..5], &[], &bytes[5..]]),
            0x220d
        );
    }

    #[test]
    fn odd_length_is_padded_with_zero() {
        assert_eq!(internet_checksum(&[&[0x12, 0x34, 0x56]]), !0x6834);
    }

    #[test]
    fn message_with_its_checksum_sums_to_zero() {
        let mut bytes = [0x45, 0x00, 0x00, 0x1c, 0xff, 0xff, 0x00, 0x00, 0xff, 0xff];
        let checksum = internet_checksum(&[&bytes]);
        bytes[6..8].copy_from_slice(&checksum.to_be_bytes());
        assert_eq!(internet_checksum(&[&bytes]), 0);
        assert_eq!(internet_checksum(&[]), 0xffff);
    }
}
