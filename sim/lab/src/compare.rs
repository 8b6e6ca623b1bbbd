//! `pxelab compare`: several topologies swept over the same seeds, side by side.

use std::fmt::Write as _;

use serde::Serialize;
use timing::format_ns;
use topology::Plan;

use crate::{Spread, SweepResult, percent};

/// One variant's line of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareRow {
    #[serde(rename = "topology")]
    pub name: String,
    pub file: String,
    pub runs: u64,
    pub crashed_runs: u64,
    pub crash_rate: f64,
    pub crash_rate_ci95: (f64, f64),
    /// Runs that failed a per-run expectation of the topology.
    pub failing_runs: u64,
    /// Boot durations (power-on to boot file) of every client that booted, over all runs.
    #[serde(serialize_with = "brief")]
    pub boot: Option<Spread>,
    /// Duplicate DHCP messages seen at servers, per run on average.
    pub duplicates_per_run: f64,
    #[serde(rename = "time_to_first_crash", serialize_with = "brief")]
    pub first_crash: Option<Spread>,
}

/// What `pxelab compare --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareReport {
    #[serde(serialize_with = "seed_range")]
    pub seeds: std::ops::Range<u64>,
    pub variants: Vec<CompareRow>,
}

/// The part of a `Spread` a comparison shows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CompareSpread {
    pub median_ns: u64,
    pub p90_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
}

impl From<Spread> for CompareSpread {
    fn from(s: Spread) -> CompareSpread {
        CompareSpread {
            median_ns: s.median_ns,
            p90_ns: s.p90_ns,
            min_ns: s.min_ns,
            max_ns: s.max_ns,
        }
    }
}

fn brief<S: serde::Serializer>(spread: &Option<Spread>, serializer: S) -> Result<S::Ok, S::Error> {
    spread.map(CompareSpread::from).serialize(serializer)
}

pub(crate) fn seed_range<S: serde::Serializer>(
    seeds: &std::ops::Range<u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{}..{}", seeds.start, seeds.end))
}

pub fn compare_row(plan: &Plan, file: &str, result: &SweepResult) -> CompareRow {
    let boots: Vec<u64> = result
        .per_seed
        .iter()
        .flat_map(|seed| seed.boot_ns.iter().copied())
        .collect();
    let duplicates: u64 = result.per_seed.iter().map(|seed| seed.duplicates).sum();
    CompareRow {
        name: plan.name.clone(),
        file: file.to_string(),
        runs: result.runs,
        crashed_runs: result.crashed_runs,
        crash_rate: result.crash_rate(),
        crash_rate_ci95: result.crash_rate_ci95(),
        failing_runs: result.failing_seeds.len() as u64,
        boot: Spread::of(boots),
        duplicates_per_run: duplicates as f64 / result.runs.max(1) as f64,
        first_crash: result.time_to_first_crash(),
    }
}

/// The comparison as a table for a terminal (and for Markdown: it is a pipe table).
pub fn compare_table(rows: &[CompareRow], seeds: &std::ops::Range<u64>) -> String {
    let mut table = vec![[
        "variant".to_string(),
        "crash rate (95% CI)".to_string(),
        "failing runs".to_string(),
        "boot p50".to_string(),
        "boot p90".to_string(),
        "duplicates/run".to_string(),
        "first crash p50".to_string(),
    ]];
    for row in rows {
        let (low, high) = row.crash_rate_ci95;
        let time = |spread: Option<Spread>, pick: fn(&Spread) -> u64| {
            spread.map_or("-".to_string(), |s| format_ns(pick(&s)))
        };
        table.push([
            row.name.clone(),
            format!(
                "{} ({} to {})",
                percent(row.crash_rate),
                percent(low),
                percent(high)
            ),
            format!("{} of {}", row.failing_runs, row.runs),
            time(row.boot, |s| s.median_ns),
            time(row.boot, |s| s.p90_ns),
            format!("{:.2}", row.duplicates_per_run),
            time(row.first_crash, |s| s.median_ns),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|column| {
            table
                .iter()
                .map(|line| line[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("seeds {}..{}\n\n", seeds.start, seeds.end);
    for (index, line) in table.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if index == 0 {
            let rule: Vec<String> = widths.iter().map(|&width| "-".repeat(width)).collect();
            let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
        }
    }
    out
}

/// The comparison as a report (`compare --json`).
pub fn compare_report(rows: &[CompareRow], seeds: &std::ops::Range<u64>) -> CompareReport {
    CompareReport {
        seeds: seeds.clone(),
        variants: rows.to_vec(),
    }
}
