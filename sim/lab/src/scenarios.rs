//! `pxelab scenarios`: the scenario library. Each topology with a `scenario:` reproduces a
//! documented boot failure and names the variant with its fix; both are swept over the same
//! seeds, and the table shows how often each fails its own `expect:`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use topology::Plan;

use crate::compare::seed_range;
use crate::{SweepResult, percent};

/// One scenario and its fix, swept.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioRow {
    pub file: String,
    pub title: String,
    pub source: String,
    pub symptom: String,
    pub runs: u64,
    /// Runs that failed a per-run expectation of the scenario's topology.
    pub failing_runs: u64,
    pub failure_rate: f64,
    pub failure_rate_ci95: (f64, f64),
    pub fix_file: String,
    pub fix_change: String,
    pub fix_failing_runs: u64,
    pub fix_failure_rate: f64,
    pub fix_failure_rate_ci95: (f64, f64),
}

/// What `pxelab scenarios --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenariosReport {
    #[serde(serialize_with = "seed_range")]
    pub seeds: std::ops::Range<u64>,
    pub scenarios: Vec<ScenarioRow>,
}

/// The topology files of a scenario folder, in name order.
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Where the fix variant of `plan` (a scenario) lives.
pub fn fix_path(plan: &Plan) -> Option<PathBuf> {
    let scenario = plan.scenario.as_ref()?;
    Some(plan.base_dir().join(&scenario.fix_file))
}

/// The 95% Wilson score interval of a failure rate.
fn rate_ci95(failing: u64, runs: u64) -> (f64, f64) {
    crate::wilson_interval(failing, runs, crate::sweep::Z95)
}

/// The row of `plan` (a scenario) from its sweep and its fix's sweep over the same seeds.
pub fn scenario_row(
    plan: &Plan,
    file: &str,
    result: &SweepResult,
    fix_result: &SweepResult,
) -> Option<ScenarioRow> {
    let scenario = plan.scenario.as_ref()?;
    let failing = result.failing_seeds.len() as u64;
    let fix_failing = fix_result.failing_seeds.len() as u64;
    Some(ScenarioRow {
        file: file.to_string(),
        title: scenario.title.clone(),
        source: scenario.source.clone(),
        symptom: scenario.symptom.clone(),
        runs: result.runs,
        failing_runs: failing,
        failure_rate: result.failure_rate(),
        failure_rate_ci95: rate_ci95(failing, result.runs),
        fix_file: scenario.fix_file.clone(),
        fix_change: scenario.fix_change.clone(),
        fix_failing_runs: fix_failing,
        fix_failure_rate: fix_result.failure_rate(),
        fix_failure_rate_ci95: rate_ci95(fix_failing, fix_result.runs),
    })
}

/// The scenarios as a Markdown pipe table (the README's is this output).
pub fn scenarios_table(rows: &[ScenarioRow], seeds: &std::ops::Range<u64>) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let rate = |failing: u64, runs: u64, fraction: f64| {
        format!("{} ({failing} of {runs})", percent(fraction))
    };
    let mut out = format!(
        "seeds {}..{}; a run fails when it breaks its topology's `expect:`\n\n",
        seeds.start, seeds.end
    );
    out.push_str("| scenario | source | symptom | failure rate | fix | rate with the fix |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} (`{}`) | {} | {} | {} | {} (`{}`) | {} |",
            cell(&row.title),
            cell(&row.file),
            cell(&row.source),
            cell(&row.symptom),
            rate(row.failing_runs, row.runs, row.failure_rate),
            cell(&row.fix_change),
            cell(&row.fix_file),
            rate(row.fix_failing_runs, row.runs, row.fix_failure_rate),
        );
    }
    out
}
