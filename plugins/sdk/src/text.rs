//! Log lines and stored text built without `core::fmt`. In a plugin, `format!` of an address
//! and two numbers costs thousands of wasm instructions (the formatting machinery, padding,
//! dynamic dispatch per argument), and every instruction is simulated CPU time; these writers
//! append the same characters directly.

use std::net::Ipv4Addr;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A line of text, built by appending: `Text::new("dhcp: OFFER ").ip(ip).str(" to ")`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    pub fn new(start: &str) -> Text {
        let mut text = String::with_capacity(start.len() + 64);
        text.push_str(start);
        Text(text)
    }

    pub fn str(mut self, part: &str) -> Text {
        self.0.push_str(part);
        self
    }

    /// `ip` as `Display` writes it: `10.1.0.2`.
    pub fn ip(mut self, ip: Ipv4Addr) -> Text {
        for (i, octet) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                self.0.push('.');
            }
            push_decimal(&mut self.0, u64::from(octet));
        }
        self
    }

    /// `value` in decimal, as `{}` writes it.
    pub fn u64(mut self, value: u64) -> Text {
        push_decimal(&mut self.0, value);
        self
    }

    /// `value` as `{:#010x}` writes it: `0x` and eight lowercase hex digits.
    pub fn hex_u32(mut self, value: u32) -> Text {
        self.0.push_str("0x");
        for shift in (0..8).rev() {
            self.0
                .push(char::from(HEX[((value >> (shift * 4)) & 0xf) as usize]));
        }
        self
    }

    /// A hardware address, `00:50:56:01:02:03` (what `crate::dhcp::format_chaddr` returns).
    pub fn mac(mut self, chaddr: &[u8]) -> Text {
        for (i, byte) in chaddr.iter().enumerate() {
            if i > 0 {
                self.0.push(':');
            }
            self.0.push(char::from(HEX[usize::from(byte >> 4)]));
            self.0.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        self
    }

    /// Bytes as lowercase hex with no separators.
    pub fn hex(mut self, bytes: &[u8]) -> Text {
        for byte in bytes {
            self.0.push(char::from(HEX[usize::from(byte >> 4)]));
            self.0.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn push_decimal(text: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        text.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_format_writes() {
        for ip in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(10, 1, 0, 2),
            Ipv4Addr::new(192, 168, 100, 9),
        ] {
            assert_eq!(Text::new("").ip(ip).as_str(), ip.to_string());
        }
        for value in [0u64, 7, 10, 99, 100, 1_000_000_007, u64::MAX] {
            assert_eq!(Text::new("").u64(value).as_str(), value.to_string());
        }
        for value in [0u32, 1, 0xdead_beef, 0x00ab_0000, u32::MAX] {
            assert_eq!(
                Text::new("").hex_u32(value).as_str(),
                format!("{value:#010x}")
            );
        }
        let chaddr = [0x00, 0x50, 0x56, 0xab, 0x0c, 0xff];
        assert_eq!(Text::new("").mac(&chaddr).as_str(), "00:50:56:ab:0c:ff");
        assert_eq!(Text::new("").hex(&chaddr).as_str(), "005056ab0cff");
        assert_eq!(
            Text::new("a ").str("b").u64(3).into_string(),
            format!("a b{}", 3)
        );
    }
}
