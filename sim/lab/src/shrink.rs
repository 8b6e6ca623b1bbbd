//! `pxelab shrink`: the smallest set of timing deviations a failing run needs.
//!
//! Every timing draw of a run (a LAN latency, a relay delay, a power-on time, a loss coin) has
//! a nominal value: the distribution's median, mean or middle. A run whose draws all sit at
//! their nominal values is the network "as designed". Shrinking starts from the failing run,
//! whose draws deviate from nominal in many places, and uses delta debugging (Zeller's ddmin)
//! to find a set of deviations that still fails while removing any one of them makes the
//! failure go away. What is left is the timing the failure actually needs.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use engine::Finished;
use engine::log::Kind;
use engine::rng::{Draw, Draws, Site};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use timing::format_ns;
use topology::Plan;

use crate::{Services, run_checks, run_with_draws};

/// What a shrink found.
pub struct Shrunk {
    pub seed: u64,
    /// The checks the original run failed; every run tried had to fail them all.
    pub failed_checks: Vec<String>,
    /// Timing draws of the original run that were off their nominal value.
    pub original_deviations: usize,
    /// The deviations the failure needs (the rest are pinned to nominal).
    pub kept: Vec<Draw>,
    /// Runs made while shrinking (the original included).
    pub runs: usize,
    /// False when the run budget ran out first: `kept` still fails but may not be minimal.
    pub minimal: bool,
    /// The shrunk run.
    pub run: Finished,
    pub explanation: String,
}

/// The schedule of a shrunk run (`schedule.json` in its record): which draws keep their
/// values; every other timing draw is pinned to its nominal value. Fields are in name order,
/// which is the order the file has always had.
#[derive(Debug, Serialize, Deserialize)]
struct Schedule {
    keep: Vec<KeptDraw>,
    pin_to_nominal: String,
    pxelab_schedule: u32,
}

/// One draw a schedule keeps.
#[derive(Debug, Serialize, Deserialize)]
struct KeptDraw {
    #[serde(default)]
    coin: bool,
    index: u64,
    #[serde(default)]
    nominal: u64,
    stream: String,
    #[serde(default)]
    value: u64,
}

/// The only version of the schedule file.
const SCHEDULE_VERSION: u32 = 1;

/// Why a shrink could not be made.
#[derive(Debug)]
pub enum ShrinkError {
    /// Every expectation holds for the seed.
    Passes { seed: u64 },
    /// The topology or its plugins refused to run.
    Run(topology::Error),
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::Passes { seed } => write!(
                f,
                "seed {seed} does not fail: every expectation of the topology holds, so there is nothing to shrink (pick a failing seed from `pxelab sweep`)"
            ),
            ShrinkError::Run(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ShrinkError {}

impl From<topology::Error> for ShrinkError {
    fn from(error: topology::Error) -> ShrinkError {
        ShrinkError::Run(error)
    }
}

/// A schedule file that cannot be read.
#[derive(Debug)]
pub enum ScheduleError {
    /// Not a schedule of this version.
    NotASchedule,
    /// A schedule whose entries do not have the fields a schedule has.
    Fields(serde_json::Error),
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleError::NotASchedule => {
                write!(
                    f,
                    "not a pxelab schedule (no `pxelab_schedule: {SCHEDULE_VERSION}`)"
                )
            }
            ScheduleError::Fields(error) => write!(f, "a damaged schedule: {error}"),
        }
    }
}

impl std::error::Error for ScheduleError {}

/// The schedule of a shrunk run as JSON, for its record.
pub fn schedule_json(kept: &[Draw]) -> Value {
    let schedule = Schedule {
        keep: kept
            .iter()
            .map(|draw| KeptDraw {
                coin: draw.coin,
                index: draw.site.index,
                nominal: draw.nominal,
                stream: draw.site.stream.clone(),
                value: draw.value,
            })
            .collect(),
        pin_to_nominal: "every timing draw except `keep`".to_string(),
        pxelab_schedule: SCHEDULE_VERSION,
    };
    serde_json::to_value(schedule).expect("a schedule is plain data")
}

/// The sites a schedule keeps.
pub fn schedule_sites(value: &Value) -> Result<BTreeSet<Site>, ScheduleError> {
    if value["pxelab_schedule"] != SCHEDULE_VERSION {
        return Err(ScheduleError::NotASchedule);
    }
    let schedule = Schedule::deserialize(value).map_err(ScheduleError::Fields)?;
    Ok(schedule
        .keep
        .into_iter()
        .map(|draw| Site {
            stream: draw.stream,
            index: draw.index,
        })
        .collect())
}

/// Shrinks the failing run of `seed`, making at most `budget` runs. `progress` hears the
/// number of runs made and the size of the smallest failing set so far.
pub fn shrink(
    plan: &Plan,
    seed: u64,
    services: &Services,
    budget: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Shrunk, ShrinkError> {
    let book = Draws::recording();
    let original = run_with_draws(plan, seed, services, Some(book.clone()))?;
    let failed_checks: Vec<String> = run_checks(&plan.expect, original.report())
        .into_iter()
        .filter(|check| !check.passed)
        .map(|check| check.name)
        .collect();
    if failed_checks.is_empty() {
        return Err(ShrinkError::Passes { seed });
    }
    let deviations = book.taken();
    let runs = std::cell::Cell::new(1);
    let out_of_budget = std::cell::Cell::new(false);
    let mut fails = |keep: &[Site]| -> Result<bool, topology::Error> {
        if runs.get() >= budget {
            out_of_budget.set(true);
            return Ok(false);
        }
        runs.set(runs.get() + 1);
        let draws = Draws::keeping(keep.iter().cloned().collect());
        let tried = run_with_draws(plan, seed, services, Some(draws))?;
        let failed: Vec<String> = run_checks(&plan.expect, tried.report())
            .into_iter()
            .filter(|check| !check.passed)
            .map(|check| check.name)
            .collect();
        Ok(failed_checks.iter().all(|name| failed.contains(name)))
    };
    let sites: Vec<Site> = deviations.iter().map(|draw| draw.site.clone()).collect();
    let kept_sites = if fails(&[])? {
        Vec::new()
    } else {
        ddmin(sites, &mut fails, &mut |size| progress(runs.get(), size))?
    };
    let minimal = !out_of_budget.get();
    let runs = runs.get();
    let keep: BTreeSet<Site> = kept_sites.iter().cloned().collect();
    let final_book = Draws::keeping(keep.clone());
    let run = run_with_draws(plan, seed, services, Some(final_book.clone()))?;
    progress(runs, keep.len());
    let kept: Vec<Draw> = final_book
        .taken()
        .into_iter()
        .filter(|draw| keep.contains(&draw.site))
        .collect();
    let explanation = explain(&run, &kept);
    Ok(Shrunk {
        seed,
        failed_checks,
        original_deviations: deviations.len(),
        kept,
        runs,
        minimal,
        run,
        explanation,
    })
}

/// Zeller's ddmin over the kept set: `fails(subset)` says whether keeping only `subset` still
/// fails. Returns a 1-minimal failing subset of `input` (which must fail).
fn ddmin<E>(
    mut input: Vec<Site>,
    fails: &mut dyn FnMut(&[Site]) -> Result<bool, E>,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Site>, E> {
    let mut parts = 2;
    while input.len() >= 2 {
        progress(input.len());
        let chunk = input.len().div_ceil(parts);
        let chunks: Vec<Vec<Site>> = input.chunks(chunk).map(<[Site]>::to_vec).collect();
        let mut reduced = false;
        for subset in &chunks {
            if fails(subset)? {
                input = subset.clone();
                parts = 2;
                reduced = true;
                break;
            }
        }
        if !reduced && chunks.len() > 2 {
            for index in 0..chunks.len() {
                let complement: Vec<Site> = chunks
                    .iter()
                    .enumerate()
                    .filter(|&(other, _)| other != index)
                    .flat_map(|(_, chunk)| chunk.iter().cloned())
                    .collect();
                if fails(&complement)? {
                    input = complement;
                    parts = (parts - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if parts >= input.len() {
                break;
            }
            parts = (parts * 2).min(input.len());
        }
    }
    Ok(input)
}

/// A few sentences on what the shrunk run shows: the deviations kept, and, when a service
/// crashed, the duplicate requests that met inside it.
fn explain(run: &Finished, kept: &[Draw]) -> String {
    let mut text = String::new();
    if kept.is_empty() {
        text.push_str(
            "fails with every timing draw at its nominal value: the failure needs no unusual timing, the design itself races.\n",
        );
    } else {
        let which = match kept.len() {
            1 => "this one".to_string(),
            count => format!("these {count}"),
        };
        let _ = writeln!(
            text,
            "fails with every timing draw at its nominal value except {which}:"
        );
        for draw in kept {
            let (value, nominal) = if draw.coin {
                let side = |heads: u64| if heads == 1 { "yes" } else { "no" };
                (side(draw.value).to_string(), side(draw.nominal).to_string())
            } else {
                (format_ns(draw.value), format_ns(draw.nominal))
            };
            let _ = writeln!(
                text,
                "  {} draw #{}: {value} (nominal {nominal})",
                draw.site.stream, draw.site.index
            );
        }
    }
    if let Some(race) = duplicate_race(run) {
        text.push_str(&race);
        text.push('\n');
    }
    text
}

/// "the duplicate DISCOVER reaches wds 253.0 us after the original ...": the last DHCP
/// message the crashed server received twice before its first crash.
fn duplicate_race(run: &Finished) -> Option<String> {
    let log = run.log();
    let records = log.records();
    let crash_index = records
        .iter()
        .position(|record| matches!(record.kind, Kind::Crash(_)))?;
    let crash = &records[crash_index];
    let mut copies = engine::decode::Copies::default();
    let mut race = None;
    for record in &records[..crash_index] {
        if record.node != crash.node {
            continue;
        }
        let Kind::Receive { frame, .. } = &record.kind else {
            continue;
        };
        if let Some(copy) = copies.receive(record.node, record.time_ns, &frame.bytes()) {
            race = Some((copy.key.xid, copy.key.kind(), copy.first_ns, record.time_ns));
        }
    }
    let (xid, kind, first_ns, second_ns) = race?;
    let node = log.node_name(crash.node);
    Some(format!(
        "the duplicate {kind} (xid {xid:#010x}) reaches {node} {} after the original, while the original is still being processed; {node} crashes {} after the original arrived.",
        format_ns(second_ns - first_ns),
        format_ns(crash.time_ns - first_ns)
    ))
}

/// Runs `seed` with only `keep` off nominal (what `replay` does with a schedule).
pub fn run_schedule(
    plan: &Plan,
    seed: u64,
    services: &Services,
    keep: BTreeSet<Site>,
) -> Result<Finished, topology::Error> {
    run_with_draws(plan, seed, services, Some(Draws::keeping(keep)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(index: u64) -> Site {
        Site {
            stream: "s".to_string(),
            index,
        }
    }

    #[test]
    fn ddmin_finds_the_two_draws_a_failure_needs() {
        let input: Vec<Site> = (0..40).map(site).collect();
        let mut tests = 0;
        let mut fails = |subset: &[Site]| {
            tests += 1;
            Ok(subset.contains(&site(7)) && subset.contains(&site(31)))
        };
        let found = ddmin::<()>(input, &mut fails, &mut |_| {}).unwrap();
        assert_eq!(found, vec![site(7), site(31)]);
        assert!(tests < 60, "{tests} tests");
    }

    #[test]
    fn ddmin_keeps_a_single_needed_draw() {
        let input: Vec<Site> = (0..9).map(site).collect();
        let found = ddmin::<()>(
            input,
            &mut |subset| Ok(subset.contains(&site(4))),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(found, vec![site(4)]);
    }
}
