//! What the protocol tests share: byte strings made to trip up a reader, from short prefixes of
//! the fixtures to arbitrary bytes. Every reader must take them all without panicking.

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
