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

    /// The stream `name` names under `seed`, its timing draws reported to `draws` if given.
    pub fn named(seed: u64, name: StreamName<'_>, draws: Option<&Arc<Draws>>) -> Stream {
        let entity = name.entity();
        match draws {
            Some(draws) => Stream::with_draws(seed, &entity, name.purpose(), draws),
            None => Stream::new(seed, &entity, name.purpose()),
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

/// Every stream a run draws from, by what it is for. With the seed, a stream's entity and
/// purpose key it, so the names below are part of the replay contract: renaming one changes
/// every run that draws from it. They are also what `Site::stream` reports
/// (`router/r2/relay-delay`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamName<'a> {
    /// A router's DHCP relay delays.
    RelayDelay { router: &'a str },
    /// The hello phases of a router's redundancy groups.
    RedundancyPhase { router: &'a str },
    /// A server's plugin: its raw draws and its timing samples.
    Plugin { server: &'a str },
    /// When a client powers on.
    PowerOn { client: &'a str },
    /// A client firmware's draws (xids, retry jitter).
    Firmware { client: &'a str },
    /// A client's SMBIOS UUID. Drawn under seed 0, so a client keeps its UUID in every run.
    SmbiosUuid { client: &'a str },
    /// When an injector sends its first round of datagrams.
    InjectorStart { injector: &'a str },
    /// The periods between an injector's rounds of datagrams.
    InjectorPeriod { injector: &'a str },
    /// A LAN's deliveries to one port: interface `interface` of `node`.
    Link {
        lan: &'a str,
        node: &'a str,
        interface: u32,
        draw: LinkDraw,
    },
}

/// What a LAN draws for a delivery to one port, each from its own stream, so turning one
/// impairment on never shifts another's draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkDraw {
    Latency,
    Loss,
    Duplicate,
    Reorder,
}

impl LinkDraw {
    /// The purpose part of the stream's name.
    pub fn purpose(self) -> &'static str {
        match self {
            LinkDraw::Latency => "latency",
            LinkDraw::Loss => "loss",
            LinkDraw::Duplicate => "duplicate",
            LinkDraw::Reorder => "reorder",
        }
    }
}

impl StreamName<'_> {
    /// The entity part of the name: `router/<name>`, `server/<name>`, `client/<name>`,
    /// `lan/<lan>/to/<node>/<interface>`; a client's own name for its SMBIOS UUID.
    pub fn entity(&self) -> String {
        match *self {
            StreamName::RelayDelay { router } | StreamName::RedundancyPhase { router } => {
                format!("router/{router}")
            }
            StreamName::Plugin { server } => format!("server/{server}"),
            StreamName::PowerOn { client } | StreamName::Firmware { client } => {
                format!("client/{client}")
            }
            StreamName::SmbiosUuid { client } => client.to_string(),
            StreamName::InjectorStart { injector } | StreamName::InjectorPeriod { injector } => {
                format!("injector/{injector}")
            }
            StreamName::Link {
                lan,
                node,
                interface,
                ..
            } => format!("lan/{lan}/to/{node}/{interface}"),
        }
    }

    /// The purpose part of the name.
    pub fn purpose(&self) -> &'static str {
        match *self {
            StreamName::RelayDelay { .. } => "relay-delay",
            StreamName::RedundancyPhase { .. } => "redundancy-phase",
            StreamName::Plugin { .. } => "plugin",
            StreamName::PowerOn { .. } => "power-on",
            StreamName::Firmware { .. } => "firmware",
            StreamName::SmbiosUuid { .. } => "smbios-uuid",
            StreamName::InjectorStart { .. } => "start",
            StreamName::InjectorPeriod { .. } => "period",
            StreamName::Link { draw, .. } => draw.purpose(),
        }
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
    fn stream_names_are_the_replay_contract() {
        let names = [
            (
                StreamName::RelayDelay { router: "r1" },
                "router/r1",
                "relay-delay",
            ),
            (
                StreamName::RedundancyPhase { router: "r1" },
                "router/r1",
                "redundancy-phase",
            ),
            (StreamName::Plugin { server: "wds" }, "server/wds", "plugin"),
            (
                StreamName::PowerOn { client: "pc1" },
                "client/pc1",
                "power-on",
            ),
            (
                StreamName::Firmware { client: "pc1" },
                "client/pc1",
                "firmware",
            ),
            (
                StreamName::SmbiosUuid { client: "pc1" },
                "pc1",
                "smbios-uuid",
            ),
        ];
        for (name, entity, purpose) in names {
            assert_eq!((name.entity().as_str(), name.purpose()), (entity, purpose));
            assert_eq!(
                Stream::named(5, name, None).next_u64(),
                Stream::new(5, entity, purpose).next_u64()
            );
        }
        let link = |draw| StreamName::Link {
            lan: "clients",
            node: "r1",
            interface: 2,
            draw,
        };
        assert_eq!(link(LinkDraw::Loss).entity(), "lan/clients/to/r1/2");
        let purposes = [
            LinkDraw::Latency,
            LinkDraw::Loss,
            LinkDraw::Duplicate,
            LinkDraw::Reorder,
        ]
        .map(|draw| link(draw).purpose());
        assert_eq!(purposes, ["latency", "loss", "duplicate", "reorder"]);
        let book = Draws::recording();
        let latency: timing::Distribution = "uniform(1ms, 3ms)".parse().unwrap();
        Stream::named(5, link(LinkDraw::Latency), Some(&book)).sample(&latency);
        assert_eq!(book.taken()[0].site.stream, "lan/clients/to/r1/2/latency");
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
