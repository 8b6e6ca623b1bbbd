//! `pxelab compare`: several topologies swept over the same seeds, side by side.

use std::fmt::Write as _;

use serde_json::{Value, json};
use timing::format_ns;
use topology::Plan;

use crate::{Spread, SweepResult, percent};

/// One variant's line of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRow {
    pub name: String,
    pub file: String,
    pub runs: u64,
    pub crashed_runs: u64,
    pub crash_rate: f64,
    pub crash_rate_ci95: (f64, f64),
    /// Runs that failed a per-run expectation of the topology.
    pub failing_runs: u64,
    /// Boot durations (power-on to boot file) of every client that booted, over all runs.
    pub boot: Option<Spread>,
    /// Duplicate DHCP messages seen at servers, per run on average.
    pub duplicates_per_run: f64,
    pub first_crash: Option<Spread>,
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

pub fn compare_json(rows: &[CompareRow], seeds: &std::ops::Range<u64>) -> Value {
    let spread = |spread: Option<Spread>| {
        spread.map(|s| json!({"median_ns": s.median_ns, "p90_ns": s.p90_ns, "min_ns": s.min_ns, "max_ns": s.max_ns}))
    };
    let variants: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "topology": row.name,
                "file": row.file,
                "runs": row.runs,
                "crashed_runs": row.crashed_runs,
                "crash_rate": row.crash_rate,
                "crash_rate_ci95": [row.crash_rate_ci95.0, row.crash_rate_ci95.1],
                "failing_runs": row.failing_runs,
                "boot": spread(row.boot),
                "duplicates_per_run": row.duplicates_per_run,
                "time_to_first_crash": spread(row.first_crash),
            })
        })
        .collect();
    json!({"seeds": format!("{}..{}", seeds.start, seeds.end), "variants": variants})
}
