//! `pxelab live`: a simulated world driven in real time, its bridges attached to TAP devices
//! so real machines meet the simulated network; and the replay of such a run without them.
//!
//! Virtual time follows the wall clock from the start of the run. A frame read from a TAP
//! enters the world at the virtual time it was read at (`World::step_until` to that time, then
//! `World::inject`); frames the world delivers to a bridge are written to its TAP once the
//! world has reached their time. The world never sees the clock: what reaches it is the list
//! of injections and their times, which the run returns (`LiveRun::injected`), so `replay`
//! makes the same calls and gets the same run, byte for byte.

mod tap;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use engine::log::NodeId;
use engine::{Finished, StopReason, World};

pub use tap::{FRAME_MAX, Tap, TapError};

/// A bridge node of the world and the TAP device it is attached to.
pub struct Bridged {
    pub node: NodeId,
    /// The bridge node's name (what a record stores, to find it again on replay).
    pub name: String,
    pub tap: Tap,
}

pub struct Options<'a> {
    /// Raised by Ctrl-C: the run ends at the next step, its record complete.
    pub stop: Option<&'a AtomicBool>,
    /// The run gives up when it falls this far behind real time.
    pub lag_max_ns: u64,
    /// Frames a TAP may send per second of real time; the rest are dropped and counted.
    pub frames_per_second_max: u64,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            stop: None,
            lag_max_ns: 1_000_000_000,
            frames_per_second_max: 10_000,
        }
    }
}

/// A frame that entered the world from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossing {
    /// The virtual time it entered at.
    pub time_ns: u64,
    /// The bridge node it entered through.
    pub bridge: String,
    pub frame: Vec<u8>,
}

/// Why a live run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// A limit of the topology (its `sim_time`, its event cap).
    Limit(StopReason),
    Interrupted,
    /// The simulation could not keep up with real time.
    FellBehind {
        lag_ns: u64,
        at_ns: u64,
    },
}

/// How far behind real time the world fell, over the steps that had events due.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lag {
    pub steps: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

impl Lag {
    fn of(mut samples: Vec<u64>) -> Lag {
        samples.sort_unstable();
        let at = |q: f64| {
            let index = ((samples.len() as f64 * q).ceil() as usize).saturating_sub(1);
            samples.get(index).copied().unwrap_or(0)
        };
        Lag {
            steps: samples.len() as u64,
            p99_ns: at(0.99),
            max_ns: samples.last().copied().unwrap_or(0),
        }
    }
}

pub struct LiveRun {
    pub run: Finished,
    pub ended: Ended,
    /// Every frame that entered the world, in order: with `end_ns` and `ended`, all a replay
    /// needs.
    pub injected: Vec<Crossing>,
    /// Frames written to the TAPs.
    pub emitted: u64,
    /// Frames from a TAP left out: longer than `FRAME_MAX`, or over the rate limit.
    pub dropped_oversize: u64,
    pub dropped_flood: u64,
    pub lag: Lag,
    /// The virtual time the run ended at.
    pub end_ns: u64,
}

#[derive(Debug)]
pub enum LiveError {
    Io { tap: String, error: std::io::Error },
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveError::Io { tap, error } => write!(f, "TAP `{tap}`: {error}"),
        }
    }
}

impl std::error::Error for LiveError {}

/// The stop reason a finished live run records for `ended`.
pub fn stop_reason(ended: Ended) -> StopReason {
    match ended {
        Ended::Limit(stop) => stop,
        Ended::Interrupted | Ended::FellBehind { .. } => StopReason::Stopped,
    }
}

/// Longest wait between two looks at the TAPs and the stop flag.
const POLL_MAX_NS: u64 = 10_000_000;

/// Runs `world` in real time with `bridges` attached, until a limit, Ctrl-C, or falling
/// behind. An IO error on a TAP ends it with an error (and no record).
pub fn run(mut world: World, bridges: &[Bridged], options: &Options) -> Result<LiveRun, LiveError> {
    let started = Instant::now();
    let elapsed_ns = || started.elapsed().as_nanos() as u64;
    let mut buffer = vec![0u8; 65_536];
    let mut injected = Vec::new();
    let mut lags = Vec::new();
    let (mut emitted, mut dropped_oversize, mut dropped_flood) = (0, 0, 0);
    // Per TAP: (the second of real time counted, frames read in it).
    let mut rate = vec![(0u64, 0u64); bridges.len()];
    let ended = 'run: loop {
        if options
            .stop
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
        {
            break Ended::Interrupted;
        }
        for (index, bridge) in bridges.iter().enumerate() {
            while let Some(length) =
                bridge
                    .tap
                    .read(&mut buffer)
                    .map_err(|error| LiveError::Io {
                        tap: bridge.tap.name.clone(),
                        error,
                    })?
            {
                let at_ns = elapsed_ns();
                if length > FRAME_MAX {
                    dropped_oversize += 1;
                    continue;
                }
                let second = at_ns / 1_000_000_000;
                if rate[index].0 != second {
                    rate[index] = (second, 0);
                }
                rate[index].1 += 1;
                if rate[index].1 > options.frames_per_second_max {
                    dropped_flood += 1;
                    continue;
                }
                if let Err(stop) = world.step_until(at_ns) {
                    break 'run Ended::Limit(stop);
                }
                world.inject(bridge.node, buffer[..length].to_vec());
                injected.push(Crossing {
                    time_ns: world.now_ns(),
                    bridge: bridge.name.clone(),
                    frame: buffer[..length].to_vec(),
                });
            }
        }
        let now_ns = elapsed_ns();
        let first_due = world.next_event_ns().filter(|&due| due <= now_ns);
        if let Err(stop) = world.step_until(now_ns) {
            break Ended::Limit(stop);
        }
        for bridge in bridges {
            for (_, frame) in world.drain(bridge.node) {
                let written = bridge.tap.write(&frame).map_err(|error| LiveError::Io {
                    tap: bridge.tap.name.clone(),
                    error,
                })?;
                emitted += u64::from(written);
            }
        }
        if let Some(due) = first_due {
            let lag_ns = elapsed_ns().saturating_sub(due);
            lags.push(lag_ns);
            if lag_ns > options.lag_max_ns {
                break Ended::FellBehind {
                    lag_ns,
                    at_ns: now_ns,
                };
            }
        }
        let wait_ns = world
            .next_event_ns()
            .map_or(POLL_MAX_NS, |due| due.saturating_sub(elapsed_ns()))
            .min(POLL_MAX_NS);
        let taps: Vec<&Tap> = bridges.iter().map(|bridge| &bridge.tap).collect();
        tap::wait_readable(&taps, wait_ns);
    };
    let end_ns = world.now_ns();
    Ok(LiveRun {
        run: world.finish(stop_reason(ended)),
        ended,
        injected,
        emitted,
        dropped_oversize,
        dropped_flood,
        lag: Lag::of(lags),
        end_ns,
    })
}

/// A recorded live run again, with no TAP: the same injections at the same virtual times, then
/// time up to `end_ns`. `bridge` finds a bridge node by name (`None`: the frame is skipped,
/// and the replay will differ).
pub fn replay(
    mut world: World,
    injected: &[Crossing],
    end_ns: u64,
    ended: StopReason,
    bridge: impl Fn(&str) -> Option<NodeId>,
) -> Finished {
    for crossing in injected {
        if let Err(stop) = world.step_until(crossing.time_ns) {
            return world.finish(stop);
        }
        if let Some(node) = bridge(&crossing.bridge) {
            world.inject(node, crossing.frame.clone());
        }
    }
    match world.step_until(end_ns) {
        Err(stop) => world.finish(stop),
        Ok(()) => world.finish(ended),
    }
}

#[cfg(test)]
mod tests {
    use super::Lag;

    #[test]
    fn lag_figures_are_the_99th_percentile_and_the_maximum() {
        let lag = Lag::of((1..=200).collect());
        assert_eq!((lag.steps, lag.p99_ns, lag.max_ns), (200, 198, 200));
        assert_eq!(Lag::of(vec![]), Lag::default());
    }
}
