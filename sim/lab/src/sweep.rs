//! Sweeps: many seeds on worker threads, what each seed came to, the expectations of the
//! topology checked per run and per sweep, the determinism self-check, and the sweep's report
//! (`SweepReport`, which `merge` rebuilds exactly from shards). The types here derive serde;
//! only the edges (CLI, web, files) turn them into JSON.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use engine::client::Outcome;
use engine::log::{Kind, Retention};
use engine::report::Report;
use engine::{Finished, Node};
use serde::{Deserialize, Serialize};
use timing::format_ns;
use topology::{Expectations, Plan};

use crate::{Services, describe_record, run_retaining};

/// One expectation, checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    /// What was seen, for the person reading the failure.
    pub detail: String,
}

/// The per-run expectations of `expect`, checked against one run.
pub fn run_checks(expect: &Expectations, report: &Report) -> Vec<Check> {
    let mut checks = Vec::new();
    if expect.every_client_boots {
        let unbooted: Vec<String> = report
            .clients
            .iter()
            .filter_map(|client| match &client.outcome {
                Outcome::Booted { .. } => None,
                Outcome::Failed { code, .. } => Some(format!("{} ({code})", client.name)),
                Outcome::Pending => Some(format!("{} (still booting)", client.name)),
            })
            .collect();
        checks.push(Check {
            name: "every client boots".to_string(),
            passed: unbooted.is_empty(),
            detail: if unbooted.is_empty() {
                format!(
                    "{} of {} booted",
                    report.clients.len(),
                    report.clients.len()
                )
            } else {
                format!("not booted: {}", unbooted.join(", "))
            },
        });
    }
    if let Some(limit_ns) = expect.boot_within_ns {
        let late: Vec<String> = report
            .clients
            .iter()
            .filter_map(|client| match &client.outcome {
                Outcome::Booted { time_ns, .. } if *time_ns <= limit_ns => None,
                Outcome::Booted { time_ns, .. } => {
                    Some(format!("{} at {}", client.name, format_ns(*time_ns)))
                }
                _ => Some(format!("{} never", client.name)),
            })
            .collect();
        checks.push(Check {
            name: format!("every client boots within {}", format_ns(limit_ns)),
            passed: late.is_empty(),
            detail: if late.is_empty() {
                "all in time".to_string()
            } else {
                format!("late: {}", late.join(", "))
            },
        });
    }
    if expect.no_crashes {
        checks.push(Check {
            name: "no service crashes".to_string(),
            passed: report.crashes.is_empty(),
            detail: match report.crashes.first() {
                None => "none".to_string(),
                Some(first) => format!(
                    "{} crash(es), the first of {} at {}",
                    report.crashes.len(),
                    first.node,
                    format_ns(first.time_ns)
                ),
            },
        });
    }
    checks
}

/// What one seed came to: all a sweep keeps of a run. Its JSON is a line of the sweep
/// checkpoint journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub digest: String,
    /// Simulated time of the first service crash.
    pub first_crash_ns: Option<u64>,
    pub crashes: u64,
    /// A client did not boot.
    pub unbooted: bool,
    /// Boot durations (from power-on to the boot file loaded) of the clients that booted, in
    /// client order.
    pub boot_ns: Vec<u64>,
    /// DHCP messages a server received again (same client, transaction and message type):
    /// the relayed copies the KB race is made of.
    pub duplicates: u64,
    /// The per-run expectations this run failed, by name.
    pub failed: Vec<String>,
}

impl SeedResult {
    pub fn of(plan: &Plan, run: &Finished) -> SeedResult {
        let report = run.report();
        let failed = run_checks(&plan.expect, report)
            .into_iter()
            .filter(|check| !check.passed)
            .map(|check| check.name)
            .collect();
        SeedResult {
            seed: report.seed,
            digest: report.digest.clone(),
            first_crash_ns: report.crashes.first().map(|crash| crash.time_ns),
            crashes: report.crashes.len() as u64,
            unbooted: !report.all_booted(),
            boot_ns: run
                .nodes()
                .filter_map(|(_, node)| match node {
                    Node::Client(client) => match client.outcome() {
                        Outcome::Booted { time_ns, .. } => Some(time_ns - client.power_on_ns()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            duplicates: duplicates_at_servers(run),
            failed,
        }
    }
}

/// Counts DHCP messages servers received more than once: the same port, client hardware
/// address, transaction id, message type and `secs`, so a client's own retransmission (later
/// `secs`) is not a duplicate but a relayed copy is.
fn duplicates_at_servers(run: &Finished) -> u64 {
    let log = run.log();
    let servers: Vec<bool> = run
        .nodes()
        .map(|(_, node)| matches!(node, Node::Server(_)))
        .collect();
    let mut copies = engine::decode::Copies::default();
    let mut duplicates = 0;
    for record in log.records() {
        let Kind::Receive { frame, .. } = &record.kind else {
            continue;
        };
        if !servers.get(record.node.index()).copied().unwrap_or(false) {
            continue;
        }
        if copies
            .receive(record.node, record.time_ns, &frame.bytes())
            .is_some()
        {
            duplicates += 1;
        }
    }
    duplicates
}

/// One event of a run in a form that outlives the run and crosses threads: enough to find
/// and show where two runs of one seed part ways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub time_ns: u64,
    pub node: String,
    pub text: String,
    /// `Record::fingerprint`, hex.
    pub fingerprint: String,
}

/// The trace of a finished run.
pub fn trace(run: &Finished) -> Vec<TraceLine> {
    let log = run.log();
    log.records()
        .iter()
        .map(|record| TraceLine {
            time_ns: record.time_ns,
            node: log.node_name(record.node).to_string(),
            text: describe_record(&record.kind),
            fingerprint: hex(&record.fingerprint()),
        })
        .collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where two traces of one seed first differ, described for a person; `None` when they agree.
pub fn first_divergence(
    expected: &[TraceLine],
    actual: &[TraceLine],
    names: (&str, &str),
) -> Option<String> {
    let index = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a.fingerprint != b.fingerprint)
        .or_else(|| (expected.len() != actual.len()).then(|| expected.len().min(actual.len())))?;
    let show = |line: Option<&TraceLine>| match line {
        Some(line) => format!(
            "{} {} {}",
            format_ns(line.time_ns),
            line.node,
            line.text.lines().next().unwrap_or("")
        ),
        None => "(no such event: the run ended)".to_string(),
    };
    Some(format!(
        "first divergent event #{index}:\n  {:<8} {}\n  {:<8} {}",
        names.0,
        show(expected.get(index)),
        names.1,
        show(actual.get(index))
    ))
}

/// What a sweep found. Everything in it is in seed order, whatever the thread count.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepResult {
    pub runs: u64,
    pub crashed_runs: u64,
    /// Runs in which a client did not boot.
    pub unbooted_runs: u64,
    /// Seeds that failed a per-run expectation (by default: a crash or a client that did not
    /// boot).
    pub failing_seeds: Vec<u64>,
    /// Per seed: (seed, digest), for determinism checks.
    pub digests: Vec<(u64, String)>,
    /// (seed, simulated time of the first crash) of every run with a crash.
    pub first_crashes: Vec<(u64, u64)>,
    /// Seeds whose two runs differed under `--check-determinism`, with where they diverged.
    pub nondeterministic: Vec<(u64, String)>,
    /// Every seed's result (empty for a result rebuilt by `merge`).
    pub per_seed: Vec<SeedResult>,
}

impl SweepResult {
    /// Aggregates per-seed results (in any order).
    pub fn from_seeds(
        mut seeds: Vec<SeedResult>,
        mut nondeterministic: Vec<(u64, String)>,
    ) -> Self {
        seeds.sort_by_key(|result| result.seed);
        nondeterministic.sort();
        let mut result = SweepResult {
            runs: 0,
            crashed_runs: 0,
            unbooted_runs: 0,
            failing_seeds: Vec::new(),
            digests: Vec::new(),
            first_crashes: Vec::new(),
            nondeterministic,
            per_seed: Vec::new(),
        };
        for seed in &seeds {
            result.runs += 1;
            result.crashed_runs += u64::from(seed.crashes > 0);
            result.unbooted_runs += u64::from(seed.unbooted);
            if !seed.failed.is_empty() {
                result.failing_seeds.push(seed.seed);
            }
            if let Some(at_ns) = seed.first_crash_ns {
                result.first_crashes.push((seed.seed, at_ns));
            }
            result.digests.push((seed.seed, seed.digest.clone()));
        }
        result.per_seed = seeds;
        result
    }

    pub fn crash_rate(&self) -> f64 {
        rate(self.crashed_runs, self.runs)
    }

    /// The 95% confidence interval of the crash rate (Wilson score interval).
    pub fn crash_rate_ci95(&self) -> (f64, f64) {
        crate::wilson_interval(self.crashed_runs, self.runs, Z95)
    }

    pub fn failure_rate(&self) -> f64 {
        rate(self.failing_seeds.len() as u64, self.runs)
    }

    /// Time to the first crash over the runs that crashed.
    pub fn time_to_first_crash(&self) -> Option<Spread> {
        Spread::of(self.first_crashes.iter().map(|&(_, at_ns)| at_ns).collect())
    }
}

pub(crate) const Z95: f64 = 1.959_963_984_540_054;

fn rate(count: u64, runs: u64) -> f64 {
    if runs == 0 {
        0.0
    } else {
        count as f64 / runs as f64
    }
}

/// Order statistics of a set of durations (nearest-rank percentiles).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub count: u64,
    pub min_ns: u64,
    pub median_ns: u64,
    pub p90_ns: u64,
    pub max_ns: u64,
    pub mean_ns: u64,
}

impl Spread {
    pub fn of(mut values: Vec<u64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank =
            |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
        Some(Spread {
            count: values.len() as u64,
            min_ns: values[0],
            median_ns: rank(0.5),
            p90_ns: rank(0.9),
            max_ns: values[values.len() - 1],
            mean_ns: (sum / values.len() as u128) as u64,
        })
    }
}

/// The sweep-level expectations, checked against a sweep's result.
pub fn sweep_checks(expect: &Expectations, result: &SweepResult) -> Vec<Check> {
    let mut checks = Vec::new();
    let per_run: Vec<String> = per_run_names(expect);
    let failing = result.failing_seeds.len() as u64;
    let first_few = |seeds: &[u64]| -> String {
        let shown: Vec<String> = seeds.iter().take(10).map(u64::to_string).collect();
        let more = if seeds.len() > 10 { " ..." } else { "" };
        format!("{}{more}", shown.join(" "))
    };
    if !per_run.is_empty() {
        let what = per_run.join(", ");
        match expect.failure_rate_below {
            None => checks.push(Check {
                name: format!("every run: {what}"),
                passed: failing == 0,
                detail: if failing == 0 {
                    format!("all {} runs passed", result.runs)
                } else {
                    format!(
                        "{failing} of {} runs failed; seeds {}",
                        result.runs,
                        first_few(&result.failing_seeds)
                    )
                },
            }),
            Some(limit) => checks.push(Check {
                name: format!("failure rate below {} ({what})", percent(limit)),
                passed: result.failure_rate() < limit,
                detail: format!(
                    "{failing} of {} runs failed ({})",
                    result.runs,
                    percent(result.failure_rate())
                ),
            }),
        }
    }
    if let Some(limit) = expect.crash_rate_below {
        let (low, high) = result.crash_rate_ci95();
        checks.push(Check {
            name: format!("crash rate below {}", percent(limit)),
            passed: result.crash_rate() < limit,
            detail: format!(
                "{} of {} runs crashed: {} (95% CI {} to {})",
                result.crashed_runs,
                result.runs,
                percent(result.crash_rate()),
                percent(low),
                percent(high)
            ),
        });
    }
    if !result.nondeterministic.is_empty() {
        let seeds: Vec<u64> = result
            .nondeterministic
            .iter()
            .map(|&(seed, _)| seed)
            .collect();
        checks.push(Check {
            name: "every seed runs the same twice".to_string(),
            passed: false,
            detail: format!("seeds {} differed between two runs", first_few(&seeds)),
        });
    }
    checks
}

fn per_run_names(expect: &Expectations) -> Vec<String> {
    let mut names = Vec::new();
    if expect.every_client_boots {
        names.push("every client boots".to_string());
    }
    if let Some(limit_ns) = expect.boot_within_ns {
        names.push(format!("every client boots within {}", format_ns(limit_ns)));
    }
    if expect.no_crashes {
        names.push("no service crashes".to_string());
    }
    names
}

/// A fraction as a percentage a person can read: one decimal, two below 1% (so the upper
/// bound of 0 crashes in 10,000 runs reads 0.04%, not 0.0%).
pub fn percent(fraction: f64) -> String {
    let value = fraction * 100.0;
    if value > 0.0 && value < 1.0 {
        format!("{value:.2}%")
    } else {
        format!("{value:.1}%")
    }
}

/// How a sweep runs.
#[derive(Clone, Copy, Debug)]
pub struct SweepOptions<'a> {
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Run every seed twice, the second time on another worker thread with fresh plugin
    /// instances, and compare the two event logs.
    pub check_determinism: bool,
    /// Set by the caller (Ctrl-C) to stop taking new seeds; the result then covers the seeds
    /// that finished.
    pub stop: Option<&'a AtomicBool>,
}

/// A finished or stopped sweep.
pub struct SweepOutcome {
    pub result: SweepResult,
    /// False when `stop` was raised before every seed ran.
    pub complete: bool,
}

enum Task {
    First(u64),
    /// The second run of a seed, with the first run's trace to compare against.
    Second(u64, Vec<TraceLine>),
}

enum Done {
    Seed(SeedResult),
    Diverged(u64, String),
    Error(topology::Error),
}

struct Queue {
    next: usize,
    inboxes: Vec<VecDeque<(u64, Vec<TraceLine>)>>,
    /// First runs in progress: their second runs are still to be queued.
    first_runs_active: usize,
    failed: bool,
}

/// Runs `seeds` on `options.jobs` threads, calling `on_seed` on the calling thread as each
/// seed finishes (in completion order; the result itself is in seed order).
pub fn sweep_observed(
    plan: &Plan,
    seeds: &[u64],
    options: SweepOptions<'_>,
    services: &Services,
    on_seed: &mut dyn FnMut(&SeedResult),
) -> Result<SweepOutcome, topology::Error> {
    let jobs = options.jobs.clamp(1, seeds.len().max(1));
    let pool = Pool {
        plan,
        seeds,
        options,
        services,
        jobs,
        queue: Mutex::new(Queue {
            next: 0,
            inboxes: vec![VecDeque::new(); jobs],
            first_runs_active: 0,
            failed: false,
        }),
        wake: Condvar::new(),
    };
    let (sender, receiver) = mpsc::channel::<Done>();
    let mut results = Vec::with_capacity(seeds.len());
    let mut diverged = Vec::new();
    let mut error = None;
    std::thread::scope(|scope| {
        for worker in 0..jobs {
            let sender = sender.clone();
            let pool = &pool;
            scope.spawn(move || pool.work(worker, &sender));
        }
        drop(sender);
        for done in receiver {
            match done {
                Done::Seed(result) => {
                    on_seed(&result);
                    results.push(result);
                }
                Done::Diverged(seed, divergence) => diverged.push((seed, divergence)),
                Done::Error(e) => {
                    error.get_or_insert(e);
                }
            }
        }
    });
    if let Some(error) = error {
        return Err(error);
    }
    let complete = results.len() == seeds.len();
    Ok(SweepOutcome {
        result: SweepResult::from_seeds(results, diverged),
        complete,
    })
}

/// What the worker threads of one sweep share.
struct Pool<'a> {
    plan: &'a Plan,
    seeds: &'a [u64],
    options: SweepOptions<'a>,
    services: &'a Services,
    jobs: usize,
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Pool<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.options
            .stop
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
    }

    /// The next task of `worker`: a second run handed to it first, else the next seed; `None`
    /// when the sweep is over (done, stopped or failed).
    fn next_task(&self, worker: usize) -> Option<Task> {
        let mut state = self.lock();
        loop {
            if state.failed || self.stopped() {
                return None;
            }
            if let Some((seed, trace)) = state.inboxes[worker].pop_front() {
                return Some(Task::Second(seed, trace));
            }
            if state.next < self.seeds.len() {
                let seed = self.seeds[state.next];
                state.next += 1;
                state.first_runs_active += 1;
                return Some(Task::First(seed));
            }
            let waiting = state.inboxes.iter().any(|inbox| !inbox.is_empty());
            if state.first_runs_active == 0 && !waiting {
                return None;
            }
            state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// One worker thread: runs tasks and sends what they came to until the sweep is over.
    fn work(&self, worker: usize, sender: &mpsc::Sender<Done>) {
        loop {
            let Some(task) = self.next_task(worker) else {
                self.wake.notify_all();
                return;
            };
            let Some(done) = self.perform(worker, task) else {
                continue;
            };
            let fatal = matches!(done, Done::Error(_));
            if sender.send(done).is_err() || fatal {
                self.wake.notify_all();
                return;
            }
        }
    }

    /// Runs one task; `None` for a second run that agreed with the first.
    fn perform(&self, worker: usize, task: Task) -> Option<Done> {
        let seed = match &task {
            Task::First(seed) | Task::Second(seed, _) => *seed,
        };
        // A sweep keeps only what its results need, unless it compares traces.
        let retention = if self.options.check_determinism {
            Retention::All
        } else {
            Retention::Summary
        };
        let world = match run_retaining(self.plan, seed, self.services, retention) {
            Ok(ran) => ran,
            Err(error) => {
                self.lock().failed = true;
                return Some(Done::Error(error));
            }
        };
        match task {
            Task::First(_) => {
                // The trace for the second run is taken outside the lock.
                let second = self.options.check_determinism.then(|| trace(&world));
                let result = SeedResult::of(self.plan, &world);
                let mut state = self.lock();
                state.first_runs_active -= 1;
                if let Some(trace) = second {
                    state.inboxes[(worker + 1) % self.jobs].push_back((seed, trace));
                }
                drop(state);
                self.wake.notify_all();
                Some(Done::Seed(result))
            }
            Task::Second(_, first) => first_divergence(&first, &trace(&world), ("first", "second"))
                .map(|divergence| Done::Diverged(seed, divergence)),
        }
    }
}

/// A sweep's report: what `sweep --json` prints and `merge` reads and writes. Nothing in it
/// depends on the machine or the thread count, so equal sweeps give equal reports.
///
/// The edges write it through `serde_json::Value`, whose objects keep their keys sorted, so
/// the JSON is the same whatever order the fields are declared in here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// The topology's `name:`.
    pub topology: String,
    /// The topology file as given on the command line.
    pub file: String,
    pub topology_sha256: String,
    /// The whole sweep's seeds (a shard runs only its share of them), written `A..B`.
    #[serde(with = "seed_range_text")]
    pub seeds: std::ops::Range<u64>,
    pub runs: u64,
    pub crashed_runs: u64,
    pub crash_rate: f64,
    pub crash_rate_ci95: (f64, f64),
    pub unbooted_runs: u64,
    pub failing_seeds: Vec<u64>,
    pub time_to_first_crash: Option<Spread>,
    /// (seed, simulated time of the first crash) of every run with a crash.
    pub first_crashes: Vec<(u64, u64)>,
    pub expect: ExpectReport,
    /// Seeds whose two runs differed under `--check-determinism`; absent when none did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nondeterministic: Vec<Divergence>,
    /// Which shard this is; absent for a whole sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The whole sweep's verdict; absent for a shard (its verdict is the merged sweep's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<Check>>,
}

/// The topology's expectations as a sweep report carries them, so shards of sweeps with other
/// expectations are not merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectReport {
    pub every_client_boots: bool,
    pub boot_within_ns: Option<u64>,
    pub no_crashes: bool,
    pub crash_rate_below: Option<f64>,
    pub failure_rate_below: Option<f64>,
}

impl From<&Expectations> for ExpectReport {
    fn from(expect: &Expectations) -> ExpectReport {
        ExpectReport {
            every_client_boots: expect.every_client_boots,
            boot_within_ns: expect.boot_within_ns,
            no_crashes: expect.no_crashes,
            crash_rate_below: expect.crash_rate_below,
            failure_rate_below: expect.failure_rate_below,
        }
    }
}

impl From<&ExpectReport> for Expectations {
    fn from(expect: &ExpectReport) -> Expectations {
        Expectations {
            every_client_boots: expect.every_client_boots,
            boot_within_ns: expect.boot_within_ns,
            no_crashes: expect.no_crashes,
            crash_rate_below: expect.crash_rate_below,
            failure_rate_below: expect.failure_rate_below,
        }
    }
}

/// A seed whose two runs differed, with where.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Divergence {
    pub seed: u64,
    #[serde(default)]
    pub divergence: String,
}

/// Shard `index` of `count` (1-based), written `K/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Shard, D::Error> {
        let label = String::deserialize(deserializer)?;
        label
            .split_once('/')
            .and_then(|(k, n)| {
                Some(Shard {
                    index: k.parse().ok()?,
                    count: n.parse().ok()?,
                })
            })
            .ok_or_else(|| serde::de::Error::custom(format!("bad shard label `{label}`")))
    }
}

/// A seed range as `A..B`.
mod seed_range_text {
    use std::ops::Range;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(range: &Range<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}..{}", range.start, range.end))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Range<u64>, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.split_once("..")
            .and_then(|(a, b)| Some(a.parse().ok()?..b.parse().ok()?))
            .ok_or_else(|| serde::de::Error::custom(format!("bad seed range `{text}`")))
    }
}

/// The report of a sweep of `seeds` of `plan` (`file` as the user named it); a shard's report
/// carries no verdict.
pub fn sweep_report(
    plan: &Plan,
    file: &str,
    seeds: &std::ops::Range<u64>,
    shard: Option<Shard>,
    result: &SweepResult,
) -> SweepReport {
    let identity = SweepIdentity {
        topology: plan.name.clone(),
        file: file.to_string(),
        topology_sha256: crate::sha256_hex(plan.source().as_bytes()),
        seeds: seeds.clone(),
        expect: ExpectReport::from(&plan.expect),
    };
    identity.report(shard, result)
}

/// What makes two sweep results parts of one sweep.
struct SweepIdentity {
    topology: String,
    file: String,
    topology_sha256: String,
    seeds: std::ops::Range<u64>,
    expect: ExpectReport,
}

impl SweepIdentity {
    fn report(self, shard: Option<Shard>, result: &SweepResult) -> SweepReport {
        // Verdicts belong to the whole sweep; a shard's are made by `merge`.
        let checks = shard
            .is_none()
            .then(|| sweep_checks(&Expectations::from(&self.expect), result));
        SweepReport {
            topology: self.topology,
            file: self.file,
            topology_sha256: self.topology_sha256,
            seeds: self.seeds,
            runs: result.runs,
            crashed_runs: result.crashed_runs,
            crash_rate: result.crash_rate(),
            crash_rate_ci95: result.crash_rate_ci95(),
            unbooted_runs: result.unbooted_runs,
            failing_seeds: result.failing_seeds.clone(),
            time_to_first_crash: result.time_to_first_crash(),
            first_crashes: result.first_crashes.clone(),
            expect: self.expect,
            nondeterministic: result
                .nondeterministic
                .iter()
                .map(|(seed, divergence)| Divergence {
                    seed: *seed,
                    divergence: divergence.clone(),
                })
                .collect(),
            shard,
            passed: checks
                .as_ref()
                .map(|checks| checks.iter().all(|check| check.passed)),
            checks,
        }
    }
}

/// Why shard reports do not merge into one sweep.
#[derive(Clone, Debug, PartialEq)]
pub enum MergeError {
    NoShards,
    /// `key` is `first` in one shard and `other` in another.
    DifferentSweeps {
        key: &'static str,
        first: String,
        other: String,
    },
    DifferentExpectations,
    /// A whole sweep was given.
    NotAShard,
    /// Shards of `count` and of `other` shards.
    MixedCounts {
        count: u64,
        other: u64,
    },
    GivenTwice(Shard),
    Missing(Vec<Shard>),
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::NoShards => write!(f, "no shard results to merge"),
            MergeError::DifferentSweeps { key, first, other } => write!(
                f,
                "shards of different sweeps: `{key}` is {first} in one and {other} in another"
            ),
            MergeError::DifferentExpectations => {
                write!(f, "shards of different sweeps: their expectations differ")
            }
            MergeError::NotAShard => write!(
                f,
                "a complete sweep, not a shard: only `--shard K/N` outputs merge"
            ),
            MergeError::MixedCounts { count, other } => {
                write!(f, "shards of {other} and of {count} mixed")
            }
            MergeError::GivenTwice(shard) => write!(f, "shard {shard} given twice"),
            MergeError::Missing(shards) => {
                let names: Vec<String> = shards.iter().map(Shard::to_string).collect();
                write!(f, "missing shard(s): {}", names.join(", "))
            }
        }
    }
}

impl std::error::Error for MergeError {}

/// Combines the reports of shards `1/N .. N/N` of one sweep into the report of the whole sweep.
pub fn merge(shards: &[SweepReport]) -> Result<SweepReport, MergeError> {
    let first = shards.first().ok_or(MergeError::NoShards)?;
    let mut seen = Vec::new();
    let mut count = None;
    let mut result = SweepResult::from_seeds(Vec::new(), Vec::new());
    for report in shards {
        same_sweep(first, report)?;
        let shard = report.shard.ok_or(MergeError::NotAShard)?;
        if *count.get_or_insert(shard.count) != shard.count {
            return Err(MergeError::MixedCounts {
                count: count.unwrap_or(0),
                other: shard.count,
            });
        }
        if seen.contains(&shard.index) {
            return Err(MergeError::GivenTwice(shard));
        }
        seen.push(shard.index);
        result.runs += report.runs;
        result.crashed_runs += report.crashed_runs;
        result.unbooted_runs += report.unbooted_runs;
        result.failing_seeds.extend(&report.failing_seeds);
        result.first_crashes.extend(&report.first_crashes);
        result.nondeterministic.extend(
            report
                .nondeterministic
                .iter()
                .map(|entry| (entry.seed, entry.divergence.clone())),
        );
    }
    let total = count.unwrap_or(0);
    let missing: Vec<Shard> = (1..=total)
        .filter(|index| !seen.contains(index))
        .map(|index| Shard {
            index,
            count: total,
        })
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing(missing));
    }
    result.failing_seeds.sort_unstable();
    result.first_crashes.sort_unstable();
    result.nondeterministic.sort();
    let identity = SweepIdentity {
        topology: first.topology.clone(),
        file: first.file.clone(),
        topology_sha256: first.topology_sha256.clone(),
        seeds: first.seeds.clone(),
        expect: first.expect.clone(),
    };
    Ok(identity.report(None, &result))
}

/// Whether `report` is of the same sweep as `first`.
fn same_sweep(first: &SweepReport, report: &SweepReport) -> Result<(), MergeError> {
    let range = |seeds: &std::ops::Range<u64>| format!("{}..{}", seeds.start, seeds.end);
    let keys = [
        ("topology", first.topology.clone(), report.topology.clone()),
        ("file", first.file.clone(), report.file.clone()),
        (
            "topology_sha256",
            first.topology_sha256.clone(),
            report.topology_sha256.clone(),
        ),
        ("seeds", range(&first.seeds), range(&report.seeds)),
    ];
    for (key, first, other) in keys {
        if first != other {
            return Err(MergeError::DifferentSweeps { key, first, other });
        }
    }
    if report.expect != first.expect {
        return Err(MergeError::DifferentExpectations);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON the sweep report had when it was built by hand, kept to hold the typed report
    /// to the same bytes.
    mod written_by_hand {
        use serde_json::{Value, json};

        use crate::{Check, SeedResult, Spread, SweepResult};

        pub fn seed(result: &SeedResult) -> Value {
            json!({
                "seed": result.seed,
                "digest": result.digest,
                "first_crash_ns": result.first_crash_ns,
                "crashes": result.crashes,
                "unbooted": result.unbooted,
                "boot_ns": result.boot_ns,
                "duplicates": result.duplicates,
                "failed": result.failed,
            })
        }

        fn spread(spread: Spread) -> Value {
            json!({
                "count": spread.count,
                "min_ns": spread.min_ns,
                "median_ns": spread.median_ns,
                "p90_ns": spread.p90_ns,
                "max_ns": spread.max_ns,
                "mean_ns": spread.mean_ns,
            })
        }

        pub fn sweep(
            plan: &topology::Plan,
            file: &str,
            seeds: &std::ops::Range<u64>,
            shard: Option<(u64, u64)>,
            result: &SweepResult,
            checks: &[Check],
        ) -> Value {
            let (low, high) = result.crash_rate_ci95();
            let expect = &plan.expect;
            let mut value = json!({
                "topology": plan.name,
                "file": file,
                "topology_sha256": crate::sha256_hex(plan.source().as_bytes()),
                "seeds": format!("{}..{}", seeds.start, seeds.end),
                "runs": result.runs,
                "crashed_runs": result.crashed_runs,
                "crash_rate": result.crash_rate(),
                "crash_rate_ci95": [low, high],
                "unbooted_runs": result.unbooted_runs,
                "failing_seeds": result.failing_seeds,
                "time_to_first_crash": result.time_to_first_crash().map(spread),
                "first_crashes": result.first_crashes.iter().map(|&(seed, at)| json!([seed, at])).collect::<Vec<_>>(),
                "expect": json!({
                    "every_client_boots": expect.every_client_boots,
                    "boot_within_ns": expect.boot_within_ns,
                    "no_crashes": expect.no_crashes,
                    "crash_rate_below": expect.crash_rate_below,
                    "failure_rate_below": expect.failure_rate_below,
                }),
            });
            if !result.nondeterministic.is_empty() {
                value["nondeterministic"] = result
                    .nondeterministic
                    .iter()
                    .map(|(seed, divergence)| json!({"seed": seed, "divergence": divergence}))
                    .collect();
            }
            match shard {
                Some((index, count)) => value["shard"] = json!(format!("{index}/{count}")),
                None => {
                    value["passed"] = json!(checks.iter().all(|check| check.passed));
                    value["checks"] = checks
                        .iter()
                        .map(|c| json!({"name": c.name, "passed": c.passed, "detail": c.detail}))
                        .collect();
                }
            }
            value
        }
    }

    fn text(value: &impl Serialize) -> String {
        serde_json::to_value(value).unwrap().to_string()
    }

    #[test]
    fn the_typed_sweep_report_writes_the_json_that_was_written_by_hand() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../topologies/kb2510665.yaml");
        let plan = topology::load(&path).unwrap();
        let services = Services::new().unwrap();
        let seeds = 0..12;
        let file = "topologies/kb2510665.yaml";
        let mut result = crate::sweep(&plan, seeds.clone(), 2, &services).unwrap();
        assert!(result.crashed_runs > 0 && result.crashed_runs < result.runs);
        for seed in &result.per_seed {
            assert_eq!(text(seed), written_by_hand::seed(seed).to_string());
            let back: SeedResult = serde_json::from_str(&text(seed)).unwrap();
            assert_eq!(&back, seed, "a journal line reads back as it was");
        }
        // With and without the determinism section.
        for diverged in [
            Vec::new(),
            vec![(3, "first divergent event #9".to_string())],
        ] {
            result.nondeterministic = diverged;
            let report = sweep_report(&plan, file, &seeds, None, &result);
            let checks = sweep_checks(&plan.expect, &result);
            let by_hand = written_by_hand::sweep(&plan, file, &seeds, None, &result, &checks);
            assert_eq!(text(&report), by_hand.to_string());
            assert_eq!(
                format!("{:#}", serde_json::to_value(&report).unwrap()),
                format!("{by_hand:#}")
            );
        }
        result.nondeterministic.clear();
        let shards: Vec<SweepReport> = (1..=3)
            .map(|index| {
                let part = crate::sweep_seeds(
                    &plan,
                    crate::shard_seeds(seeds.clone(), index, 3),
                    2,
                    &services,
                )
                .unwrap();
                let report =
                    sweep_report(&plan, file, &seeds, Some(Shard { index, count: 3 }), &part);
                let by_hand =
                    written_by_hand::sweep(&plan, file, &seeds, Some((index, 3)), &part, &[]);
                assert_eq!(text(&report), by_hand.to_string());
                // What `merge` reads is what the shard wrote.
                serde_json::from_str(&text(&report)).unwrap()
            })
            .collect();
        let merged = merge(&shards).unwrap();
        assert_eq!(
            text(&merged),
            text(&sweep_report(&plan, file, &seeds, None, &result))
        );
        assert_eq!(
            merge(&shards[..2]).unwrap_err().to_string(),
            "missing shard(s): 3/3"
        );
        let twice = [shards[0].clone(), shards[0].clone()];
        assert_eq!(
            merge(&twice).unwrap_err().to_string(),
            "shard 1/3 given twice"
        );
        let whole = [merged];
        assert_eq!(merge(&whole).unwrap_err(), MergeError::NotAShard);
    }

    #[test]
    fn spreads_use_nearest_rank_percentiles() {
        let spread = Spread::of((1..=10).collect()).unwrap();
        assert_eq!(
            (
                spread.min_ns,
                spread.median_ns,
                spread.p90_ns,
                spread.max_ns,
                spread.mean_ns
            ),
            (1, 5, 9, 10, 5)
        );
        let one = Spread::of(vec![7]).unwrap();
        assert_eq!((one.median_ns, one.p90_ns), (7, 7));
        assert!(Spread::of(Vec::new()).is_none());
    }

    fn line(text: &str) -> TraceLine {
        TraceLine {
            time_ns: 5,
            node: "wds".to_string(),
            text: text.to_string(),
            fingerprint: text.to_string(),
        }
    }

    #[test]
    fn divergence_names_the_first_differing_event() {
        let a = vec![line("x"), line("y"), line("z")];
        let b = vec![line("x"), line("q"), line("z")];
        assert_eq!(first_divergence(&a, &a, ("a", "b")), None);
        let found = first_divergence(&a, &b, ("a", "b")).unwrap();
        assert!(found.starts_with("first divergent event #1:"), "{found}");
        assert!(found.contains("y") && found.contains("q"), "{found}");
        let shorter = first_divergence(&a, &a[..2], ("a", "b")).unwrap();
        assert!(
            shorter.contains("#2") && shorter.contains("the run ended"),
            "{shorter}"
        );
    }
}
