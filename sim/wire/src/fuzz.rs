//! What the protocol tests share: the fixture round trip, the check that malformed bytes are
//! refused, and byte strings made to trip up a reader, from short prefixes of the fixtures to
//! arbitrary bytes. Every reader must take them all without panicking.

/// The byte an emit buffer is filled with first, so a byte `emit` does not write shows.
pub(crate) const POISON: u8 = 0xA5;

/// The two tests of a protocol's `fixtures()`, a list of (name, bytes, `Repr`): each fixture is
/// checked and parsed to its `Repr`, whose length is the fixture's and which emits its bytes;
/// and emitting into a buffer of `POISON` writes every byte. The arguments, if any, follow the
/// packet in `Repr::parse` and `Repr::emit` and are all `Repr::to_bytes` takes (VRRP's IPv4
/// source).
macro_rules! fixture_tests {
    ($($arg:expr),*) => {
        #[test]
        fn fixtures_round_trip() {
            for (name, bytes, expected) in fixtures() {
                let packet =
                    Packet::new_checked(&bytes[..]).unwrap_or_else(|e| panic!("{name}: {e}"));
                let repr =
                    Repr::parse(&packet $(, $arg)*).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(repr, expected, "{name}");
                assert_eq!(repr.buffer_len(), bytes.len(), "{name}");
                assert_eq!(repr.to_bytes($($arg),*), bytes, "{name}");
            }
        }

        #[test]
        fn emit_writes_every_byte() {
            for (name, bytes, repr) in fixtures() {
                let mut buffer = vec![crate::fuzz::POISON; repr.buffer_len()];
                repr.emit(&mut Packet::new_unchecked(&mut buffer[..]) $(, $arg)*);
                assert_eq!(
                    buffer, bytes,
                    "{name}: a byte kept the poison value or was wrong"
                );
            }
        }
    };
}
pub(crate) use fixture_tests;

/// Asserts that `Packet::new_checked` refuses each (name, bytes) case, and so does
/// `Repr::parse` over an unchecked view of it, given the arguments that follow the packet.
macro_rules! assert_refused {
    ($cases:expr $(, $arg:expr)*) => {
        for (name, bytes) in $cases {
            assert_eq!(Packet::new_checked(&bytes[..]).err(), Some(Error), "{name}");
            assert_eq!(
                Repr::parse(&Packet::new_unchecked(&bytes[..]) $(, $arg)*),
                Err(Error),
                "{name}"
            );
        }
    };
}
pub(crate) use assert_refused;

/// Every proper prefix of each fixture.
pub(crate) fn prefixes(fixtures: &[&[u8]], mut read: impl FnMut(&[u8])) {
    for fixture in fixtures {
        for len in 0..fixture.len() {
            read(&fixture[..len]);
        }
    }
}

/// xorshift64: a fixed, portable generator so the inputs are the same on every run.
pub(crate) struct XorShift64(u64);

impl XorShift64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// 20 000 byte strings of fewer than `max_len` bytes, each the start of one of the two seeds (or
/// of nothing) filled up with random bytes, with up to three bytes overwritten. `read` gets each
/// one with the generator, to change it further before reading it.
pub(crate) fn arbitrary_bytes(
    state: u64,
    seeds: [&[u8]; 2],
    max_len: u64,
    mut read: impl FnMut(&mut Vec<u8>, &mut XorShift64),
) {
    let mut rng = XorShift64(state);
    for round in 0..20_000 {
        let seed: &[u8] = match round % 3 {
            0 => seeds[0],
            1 => seeds[1],
            _ => &[],
        };
        let len = (rng.next() % max_len) as usize;
        let mut bytes: Vec<u8> = (0..len)
            .map(|i| seed.get(i).copied().unwrap_or(rng.next() as u8))
            .collect();
        for _ in 0..(rng.next() % 4) {
            if !bytes.is_empty() {
                let at = (rng.next() as usize) % bytes.len();
                bytes[at] = rng.next() as u8;
            }
        }
        read(&mut bytes, &mut rng);
    }
}
