//! TFTP (RFC 1350) with option negotiation (RFC 2347 OACK, RFC 2348 blksize, RFC 2349 timeout
//! and tsize): the boot servers serve network boot programs with it, and the simulated clients
//! fetch them with it, so both sides share this one encoder and decoder.

/// Block size when the client negotiates none (RFC 1350).
pub const BLKSIZE_DEFAULT: usize = 512;
/// Smallest block size a client may ask for (RFC 2348).
pub const BLKSIZE_MIN: usize = 8;
/// Largest block size a client may ask for (RFC 2348): what fits in one IPv4/UDP datagram.
pub const BLKSIZE_MAX: usize = 65464;
/// Largest block size that fits one Ethernet frame without IP fragmentation (1500-byte MTU
/// minus IPv4, UDP and TFTP headers; RFC 2348's own example). Servers answer with at most this.
pub const BLKSIZE_ETHERNET: usize = 1468;

/// The operation codes of RFC 1350 and RFC 2347.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    ReadRequest,
    WriteRequest,
    Data,
    Ack,
    Error,
    OptionAck,
}

impl OpCode {
    fn from_u16(value: u16) -> Option<OpCode> {
        match value {
            1 => Some(OpCode::ReadRequest),
            2 => Some(OpCode::WriteRequest),
            3 => Some(OpCode::Data),
            4 => Some(OpCode::Ack),
            5 => Some(OpCode::Error),
            6 => Some(OpCode::OptionAck),
            _ => None,
        }
    }

    fn to_u16(self) -> u16 {
        match self {
            OpCode::ReadRequest => 1,
            OpCode::WriteRequest => 2,
            OpCode::Data => 3,
            OpCode::Ack => 4,
            OpCode::Error => 5,
            OpCode::OptionAck => 6,
        }
    }
}

/// Error codes of RFC 1350 and RFC 2347 that servers in pxelab send.
pub mod error_code {
    pub const NOT_DEFINED: u16 = 0;
    pub const FILE_NOT_FOUND: u16 = 1;
    pub const ACCESS_VIOLATION: u16 = 2;
    pub const ILLEGAL_OPERATION: u16 = 4;
    pub const UNKNOWN_TRANSFER_ID: u16 = 5;
    pub const OPTION_REFUSED: u16 = 8;
}

mod field {
    use core::ops::{Range, RangeFrom};

    pub const OPCODE: Range<usize> = 0..2;
    /// Block number of DATA and ACK, error code of ERROR.
    pub const NUMBER: Range<usize> = 2..4;
    /// Filename/mode/options of RRQ and WRQ, options of OACK.
    pub const STRINGS: RangeFrom<usize> = 2..;
    /// Payload of DATA, message of ERROR.
    pub const REST: RangeFrom<usize> = 4..;
}

packet_view! {
    /// The malformed-packet error: the bytes are not a TFTP packet this module understands.
    Error: "malformed TFTP packet";
    /// A read/write view of a TFTP packet.
    Packet;
    /// Wraps a buffer after checking that it is a well-formed TFTP packet: a known opcode, the
    /// fixed fields present, every string NUL-terminated UTF-8, options in complete pairs, and a
    /// DATA payload no longer than `BLKSIZE_MAX`.
    new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    fn check(&self) -> Result<(), Error> {
        let bytes = self.buffer.as_ref();
        let opcode = read_u16(bytes, field::OPCODE.start).ok_or(Error)?;
        let opcode = OpCode::from_u16(opcode).ok_or(Error)?;
        match opcode {
            OpCode::ReadRequest | OpCode::WriteRequest => {
                let strings = split_strings(&bytes[field::STRINGS])?;
                // filename, mode, then (name, value) pairs
                if strings.len() < 2 || strings.len() % 2 != 0 {
                    return Err(Error);
                }
            }
            OpCode::OptionAck => {
                if split_strings(&bytes[field::STRINGS])?.len() % 2 != 0 {
                    return Err(Error);
                }
            }
            OpCode::Data => {
                if bytes.len() < field::REST.start || bytes.len() - field::REST.start > BLKSIZE_MAX
                {
                    return Err(Error);
                }
            }
            OpCode::Ack => {
                if bytes.len() != field::NUMBER.end {
                    return Err(Error);
                }
            }
            OpCode::Error => {
                if bytes.len() < field::REST.start || split_strings(&bytes[field::REST])?.len() != 1
                {
                    return Err(Error);
                }
            }
        }
        Ok(())
    }

    /// The opcode, or `None` for a value outside RFC 1350/2347 (only possible when unchecked).
    pub fn opcode(&self) -> Option<OpCode> {
        read_u16(self.buffer.as_ref(), field::OPCODE.start).and_then(OpCode::from_u16)
    }

    /// The block number of a DATA or ACK packet (0 if the packet is too short).
    pub fn block(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NUMBER.start).unwrap_or(0)
    }

    /// The error code of an ERROR packet (0 if the packet is too short).
    pub fn error_code(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NUMBER.start).unwrap_or(0)
    }

    /// The payload of a DATA packet (empty if the packet is too short).
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(field::REST).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn write_u16(&mut self, offset: usize, value: u16) {
        if let Some(slot) = self.buffer.as_mut().get_mut(offset..offset + 2) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
    }

    pub fn set_opcode(&mut self, opcode: OpCode) {
        self.write_u16(field::OPCODE.start, opcode.to_u16());
    }

    pub fn set_block(&mut self, block: u16) {
        self.write_u16(field::NUMBER.start, block);
    }

    pub fn set_error_code(&mut self, code: u16) {
        self.write_u16(field::NUMBER.start, code);
    }

    /// Everything after the opcode, for writing strings and payloads.
    fn tail_mut(&mut self, start: usize) -> &mut [u8] {
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }
}

fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    let pair = bytes.get(offset..offset + 2)?;
    Some(u16::from_be_bytes([pair[0], pair[1]]))
}

/// Splits a run of NUL-terminated strings; the run must end in a NUL and every string must be
/// UTF-8 (netascii is a subset; a file name that is not UTF-8 is refused rather than guessed).
fn split_strings(bytes: &[u8]) -> Result<Vec<&str>, Error> {
    match bytes.last() {
        None => return Ok(Vec::new()),
        Some(0) => {}
        Some(_) => return Err(Error),
    }
    bytes[..bytes.len() - 1]
        .split(|&b| b == 0)
        .map(|s| core::str::from_utf8(s).map_err(|_| Error))
        .collect()
}

fn pairs<'a>(strings: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    strings
        .chunks_exact(2)
        .map(|pair| (pair[0], pair[1]))
        .collect()
}

/// A high-level representation of a TFTP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repr<'a> {
    ReadRequest {
        filename: &'a str,
        mode: &'a str,
        options: Vec<(&'a str, &'a str)>,
    },
    WriteRequest {
        filename: &'a str,
        mode: &'a str,
        options: Vec<(&'a str, &'a str)>,
    },
    Data {
        block: u16,
        data: &'a [u8],
    },
    Ack {
        block: u16,
    },
    Error {
        code: u16,
        message: &'a str,
    },
    OptionAck {
        options: Vec<(&'a str, &'a str)>,
    },
}

impl<'a> Repr<'a> {
    /// Parses a packet; checks it again, so an unchecked view is fine too.
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<Repr<'a>, Error> {
        packet.check()?;
        let bytes: &'a [u8] = packet.buffer;
        let opcode = packet.opcode().ok_or(Error)?;
        Ok(match opcode {
            OpCode::ReadRequest | OpCode::WriteRequest => {
                let strings = split_strings(&bytes[field::STRINGS])?;
                let (filename, mode, options) = match strings.as_slice() {
                    [filename, mode, options @ ..] => (*filename, *mode, pairs(options)),
                    _ => return Err(Error),
                };
                if opcode == OpCode::ReadRequest {
                    Repr::ReadRequest {
                        filename,
                        mode,
                        options,
                    }
                } else {
                    Repr::WriteRequest {
                        filename,
                        mode,
                        options,
                    }
                }
            }
            OpCode::Data => Repr::Data {
                block: packet.block(),
                data: &bytes[field::REST],
            },
            OpCode::Ack => Repr::Ack {
                block: packet.block(),
            },
            OpCode::Error => {
                let strings = split_strings(&bytes[field::REST])?;
                let message = strings.first().copied().ok_or(Error)?;
                Repr::Error {
                    code: packet.error_code(),
                    message,
                }
            }
            OpCode::OptionAck => Repr::OptionAck {
                options: pairs(&split_strings(&bytes[field::STRINGS])?),
            },
        })
    }

    fn opcode(&self) -> OpCode {
        match self {
            Repr::ReadRequest { .. } => OpCode::ReadRequest,
            Repr::WriteRequest { .. } => OpCode::WriteRequest,
            Repr::Data { .. } => OpCode::Data,
            Repr::Ack { .. } => OpCode::Ack,
            Repr::Error { .. } => OpCode::Error,
            Repr::OptionAck { .. } => OpCode::OptionAck,
        }
    }

    /// The length of the packet `emit` writes.
    pub fn buffer_len(&self) -> usize {
        let strings_len =
            |strings: &mut dyn Iterator<Item = &str>| strings.map(|s| s.len() + 1).sum::<usize>();
        let options_len = |options: &[(&str, &str)]| {
            strings_len(&mut options.iter().flat_map(|(name, value)| [*name, *value]))
        };
        field::OPCODE.end
            + match self {
                Repr::ReadRequest {
                    filename,
                    mode,
                    options,
                }
                | Repr::WriteRequest {
                    filename,
                    mode,
                    options,
                } => strings_len(&mut [*filename, *mode].into_iter()) + options_len(options),
                Repr::Data { data, .. } => 2 + data.len(),
                Repr::Ack { .. } => 2,
                Repr::Error { message, .. } => 2 + message.len() + 1,
                Repr::OptionAck { options } => options_len(options),
            }
    }

    /// Writes the packet into `packet`, whose buffer must be at least `buffer_len` bytes long.
    /// Strings containing NUL cannot be represented; the caller builds them from checked input.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        assert!(
            packet.buffer.as_ref().len() >= self.buffer_len(),
            "TFTP emit buffer too short"
        );
        packet.set_opcode(self.opcode());
        match self {
            Repr::ReadRequest {
                filename,
                mode,
                options,
            }
            | Repr::WriteRequest {
                filename,
                mode,
                options,
            } => {
                let strings = [*filename, *mode]
                    .into_iter()
                    .chain(options.iter().flat_map(|(n, v)| [*n, *v]));
                write_strings(packet.tail_mut(field::STRINGS.start), strings);
            }
            Repr::Data { block, data } => {
                packet.set_block(*block);
                packet.tail_mut(field::REST.start)[..data.len()].copy_from_slice(data);
            }
            Repr::Ack { block } => packet.set_block(*block),
            Repr::Error { code, message } => {
                packet.set_error_code(*code);
                write_strings(packet.tail_mut(field::REST.start), [*message].into_iter());
            }
            Repr::OptionAck { options } => {
                let strings = options.iter().flat_map(|(n, v)| [*n, *v]);
                write_strings(packet.tail_mut(field::STRINGS.start), strings);
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

fn write_strings<'s>(mut out: &mut [u8], strings: impl Iterator<Item = &'s str>) {
    for s in strings {
        let (text, rest) = out.split_at_mut(s.len());
        text.copy_from_slice(s.as_bytes());
        rest[0] = 0;
        out = &mut rest[1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixtures laid out as in RFC 1350 figure 5-1ff, RFC 2347 and the Microsoft PXE example.
    fn fixtures() -> Vec<(&'static str, Vec<u8>, Repr<'static>)> {
        vec![
            (
                "RRQ with blksize and tsize",
                b"\x00\x01SMSBoot\\x86\\wdsnbp.com\x00octet\x00blksize\x001456\x00tsize\x000\x00"
                    .to_vec(),
                Repr::ReadRequest {
                    filename: "SMSBoot\\x86\\wdsnbp.com",
                    mode: "octet",
                    options: vec![("blksize", "1456"), ("tsize", "0")],
                },
            ),
            (
                "RRQ without options",
                b"\x00\x01pxeboot.n12\x00octet\x00".to_vec(),
                Repr::ReadRequest {
                    filename: "pxeboot.n12",
                    mode: "octet",
                    options: vec![],
                },
            ),
            (
                "WRQ",
                b"\x00\x02log.txt\x00netascii\x00".to_vec(),
                Repr::WriteRequest {
                    filename: "log.txt",
                    mode: "netascii",
                    options: vec![],
                },
            ),
            (
                "DATA",
                b"\x00\x03\x00\x07hello".to_vec(),
                Repr::Data {
                    block: 7,
                    data: b"hello",
                },
            ),
            (
                "empty final DATA",
                b"\x00\x03\x01\x00".to_vec(),
                Repr::Data {
                    block: 256,
                    data: b"",
                },
            ),
            (
                "ACK",
                b"\x00\x04\xff\xfe".to_vec(),
                Repr::Ack { block: 0xfffe },
            ),
            (
                "ERROR",
                b"\x00\x05\x00\x01File not found\x00".to_vec(),
                Repr::Error {
                    code: 1,
                    message: "File not found",
                },
            ),
            (
                "OACK",
                b"\x00\x06blksize\x001456\x00tsize\x0030832\x00".to_vec(),
                Repr::OptionAck {
                    options: vec![("blksize", "1456"), ("tsize", "30832")],
                },
            ),
        ]
    }

    crate::fuzz::fixture_tests!();

    #[test]
    fn accessors_read_fixed_fields() {
        let packet = Packet::new_checked(&b"\x00\x03\x00\x07hello"[..]).unwrap();
        assert_eq!(packet.opcode(), Some(OpCode::Data));
        assert_eq!(packet.block(), 7);
        assert_eq!(packet.data(), b"hello");
        let error = Packet::new_checked(&b"\x00\x05\x00\x08refused\x00"[..]).unwrap();
        assert_eq!(error.error_code(), error_code::OPTION_REFUSED);
    }

    #[test]
    fn malformed_packets_are_errors() {
        let big_data = {
            let mut bytes = b"\x00\x03\x00\x01".to_vec();
            bytes.resize(4 + BLKSIZE_MAX + 1, 0);
            bytes
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("one byte", vec![0]),
            ("unknown opcode", b"\x00\x07abc\x00".to_vec()),
            ("opcode zero", b"\x00\x00".to_vec()),
            ("RRQ without mode", b"\x00\x01file\x00".to_vec()),
            ("RRQ missing NUL", b"\x00\x01file\x00octet".to_vec()),
            (
                "RRQ non-UTF-8 name",
                b"\x00\x01\xff\xfe\x00octet\x00".to_vec(),
            ),
            (
                "RRQ option without value",
                b"\x00\x01f\x00octet\x00blksize\x00".to_vec(),
            ),
            ("RRQ header only", b"\x00\x01".to_vec()),
            ("DATA truncated", b"\x00\x03\x00".to_vec()),
            ("DATA over BLKSIZE_MAX", big_data),
            ("ACK truncated", b"\x00\x04\x00".to_vec()),
            ("ACK with trailing bytes", b"\x00\x04\x00\x01\x00".to_vec()),
            ("ERROR missing NUL", b"\x00\x05\x00\x01oops".to_vec()),
            ("ERROR without message", b"\x00\x05\x00\x01".to_vec()),
            (
                "ERROR with two strings",
                b"\x00\x05\x00\x01a\x00b\x00".to_vec(),
            ),
            ("OACK odd strings", b"\x00\x06blksize\x00".to_vec()),
            ("OACK missing NUL", b"\x00\x06blksize\x001456".to_vec()),
        ];
        crate::fuzz::assert_refused!(cases);
    }

    #[test]
    fn unchecked_accessors_do_not_panic_on_short_buffers() {
        for len in 0..4 {
            let bytes = vec![0u8; len];
            let packet = Packet::new_unchecked(&bytes[..]);
            let _ = (
                packet.opcode(),
                packet.block(),
                packet.error_code(),
                packet.data(),
            );
        }
    }

    #[test]
    fn empty_oack_is_allowed() {
        let packet = Packet::new_checked(&b"\x00\x06"[..]).unwrap();
        assert_eq!(
            Repr::parse(&packet).unwrap(),
            Repr::OptionAck { options: vec![] }
        );
    }
}
