//! Seeded random streams: one `u64` seed drives a run, and every entity draws from its own
//! stream per purpose, so adding a client never shifts the draws a router sees.
//!
//! A stream can also report its timing draws to a `Draws` book, which can pin any of them to
//! its distribution's nominal value: what `pxelab shrink` uses to find the few deviations a
//! failure needs.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// An independent, portable random stream (ChaCha8), keyed by `(seed, entity, purpose)`.
#[derive(Clone, Debug)]
pub struct Stream {
    rng: ChaCha8Rng,
    /// The book this stream's timing draws go to, and the stream's name in it.
    book: Option<(Arc<Draws>, Arc<str>)>,
    /// Timing draws (`sample`, `chance`) taken so far.
    taken: u64,
}

impl Stream {
    /// The key is SHA-256 over the seed and the two names, length-prefixed so that
    /// `("ab", "c")` and `("a", "bc")` give different streams.
    pub fn new(seed: u64, entity: &str, purpose: &str) -> Stream {
        let mut hasher = Sha256::new();
        hasher.update(b"pxelab-stream-v1");
        hasher.update(seed.to_le_bytes());
        for part in [entity, purpose] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let key: [u8; 32] = hasher.finalize().into();
        Stream {
            rng: ChaCha8Rng::from_seed(key),
            book: None,
            taken: 0,
        }
    }

    /// The same stream, reporting its timing draws to `draws` (which may pin them).
    pub fn with_draws(seed: u64, entity: &str, purpose: &str, draws: &Arc<Draws>) -> Stream {
        Stream {
            book: Some((draws.clone(), format!("{entity}/{purpose}").into())),
            ..Stream::new(seed, entity, purpose)
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// True with probability `p` (one draw; 53 bits, exact on every platform).
    pub fn chance(&mut self, p: f64) -> bool {
        let value = ((self.rng.next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < p;
        // The nominal outcome of a coin is its likelier side.
        self.book(u64::from(value), u64::from(p >= 0.5), true) == 1
    }

    /// A sample of `distribution`, drawn from this stream.
    pub fn sample(&mut self, distribution: &timing::Distribution) -> u64 {
        let value = distribution.sample(&mut || self.rng.next_u64());
        if self.book.is_none() {
            return value;
        }
        self.book(value, distribution.nominal_ns(), false)
    }

    /// A timing sample drawn from this stream elsewhere (inside a plugin), with its
    /// distribution's nominal value: reported to the book like `sample`'s; returns the value
    /// to use.
    pub fn report_draw(&mut self, value: u64, nominal: u64) -> u64 {
        self.book(value, nominal, false)
    }

    /// Reports a timing draw to the book; returns the value the run uses. The random draws
    /// are taken either way, so pinning one draw never shifts the stream's later draws.
    fn book(&mut self, value: u64, nominal: u64, coin: bool) -> u64 {
        let Some((draws, name)) = &self.book else {
            return value;
        };
        let index = self.taken;
        self.taken += 1;
        draws.take(name, index, value, nominal, coin)
    }
}

/// Where a timing draw was taken: the `n`-th draw of one stream (`router/r2/relay-delay`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    pub stream: String,
    pub index: u64,
}

/// One timing draw that differed from its nominal value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draw {
    pub site: Site,
    /// What the stream drew.
    pub value: u64,
    /// The distribution's nominal value (`Distribution::nominal_ns`; a coin's likelier side).
    pub nominal: u64,
    /// What the run used: `value`, or `nominal` when the draw was pinned.
    pub used: u64,
    /// A coin (`chance`: 1 is heads) rather than a duration in nanoseconds.
    pub coin: bool,
}

/// The book of a run's timing draws: which keep their random value (all, or only the listed
/// sites), and the record of every draw that differed from its nominal value.
#[derive(Debug, Default)]
pub struct Draws {
    /// `None`: every draw keeps its value; `Some(sites)`: only these do, all others are
    /// pinned to their nominal values.
    keep: Option<BTreeSet<Site>>,
    taken: Mutex<Vec<Draw>>,
}

impl Draws {
    /// A book that only records.
    pub fn recording() -> Arc<Draws> {
        Arc::new(Draws::default())
    }

    /// A book that pins every draw except those at `keep`.
    pub fn keeping(keep: BTreeSet<Site>) -> Arc<Draws> {
        Arc::new(Draws {
            keep: Some(keep),
            taken: Mutex::new(Vec::new()),
        })
    }

    /// The draws that differed from nominal, in the order they were taken.
    pub fn taken(&self) -> Vec<Draw> {
        self.taken.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn take(&self, stream: &str, index: u64, value: u64, nominal: u64, coin: bool) -> u64 {
        if value == nominal {
            return value;
        }
        let site = Site {
            stream: stream.to_string(),
            index,
        };
        let used = match &self.keep {
            Some(keep) if !keep.contains(&site) => nominal,
            _ => value,
        };
        self.taken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Draw {
                site,
                value,
                nominal,
                used,
                coin,
            });
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let draws = |seed, entity, purpose| -> Vec<u64> {
            let mut stream = Stream::new(seed, entity, purpose);
            (0..4).map(|_| stream.next_u64()).collect()
        };
        assert_eq!(draws(7, "r1", "relay-delay"), draws(7, "r1", "relay-delay"));
        assert_ne!(draws(7, "r1", "relay-delay"), draws(8, "r1", "relay-delay"));
        assert_ne!(draws(7, "r1", "relay-delay"), draws(7, "r2", "relay-delay"));
        assert_ne!(draws(7, "ab", "c"), draws(7, "a", "bc"));
        // A fixed point: the generator and the key derivation are part of the replay contract.
        assert_eq!(draws(0, "x", "y")[0], Stream::new(0, "x", "y").next_u64());
    }

    #[test]
    fn a_book_pins_draws_without_shifting_the_stream() {
        let latency: timing::Distribution = "uniform(1ms, 3ms)".parse().unwrap();
        let samples =
            |stream: &mut Stream| -> Vec<u64> { (0..5).map(|_| stream.sample(&latency)).collect() };
        let plain = samples(&mut Stream::new(3, "lan/a", "latency"));
        let book = Draws::recording();
        assert_eq!(
            samples(&mut Stream::with_draws(3, "lan/a", "latency", &book)),
            plain
        );
        let taken = book.taken();
        assert_eq!(
            taken.len(),
            5,
            "uniform draws are never exactly nominal here"
        );
        assert_eq!(
            taken[2].site,
            Site {
                stream: "lan/a/latency".into(),
                index: 2
            }
        );
        assert_eq!(taken[2].value, plain[2]);

        let keep = [taken[1].site.clone()].into_iter().collect();
        let pinned = Draws::keeping(keep);
        let mut stream = Stream::with_draws(3, "lan/a", "latency", &pinned);
        let got = samples(&mut stream);
        assert_eq!(
            got,
            vec![2_000_000, plain[1], 2_000_000, 2_000_000, 2_000_000]
        );
        // The stream stays aligned: its next raw draw is the unpinned stream's.
        let mut reference = Stream::new(3, "lan/a", "latency");
        samples(&mut reference);
        assert_eq!(stream.next_u64(), reference.next_u64());
        assert!(pinned.taken().iter().all(|d| d.used
            == if d.site.index == 1 {
                d.value
            } else {
                d.nominal
            }));
    }
}
