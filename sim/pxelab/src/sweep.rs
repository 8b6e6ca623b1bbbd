//! Sweeps: many seeds on worker threads, what each seed came to, the expectations of the
//! topology checked per run and per sweep, the determinism self-check, and the sweep's JSON
//! (which `merge` rebuilds exactly from shards).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use engine::client::Outcome;
use engine::log::Kind;
use engine::report::Report;
use engine::{Node, World};
use serde_json::{Value, json};
use timing::format_ns;
use topology::{Expectations, Plan};

use crate::{Services, describe_record, run};

/// One expectation, checked.
#[derive(Clone, Debug, PartialEq)]
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

/// What one seed came to: all a sweep keeps of a run.
#[derive(Clone, Debug, PartialEq)]
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
    pub fn of(plan: &Plan, world: &World, report: &Report) -> SeedResult {
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
            boot_ns: world
                .nodes()
                .filter_map(|(_, node)| match node {
                    Node::Client(client) => match client.outcome() {
                        Outcome::Booted { time_ns, .. } => Some(time_ns - client.power_on_ns()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            duplicates: duplicates_at_servers(world),
            failed,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "seed": self.seed,
            "digest": self.digest,
            "first_crash_ns": self.first_crash_ns,
            "crashes": self.crashes,
            "unbooted": self.unbooted,
            "boot_ns": self.boot_ns,
            "duplicates": self.duplicates,
            "failed": self.failed,
        })
    }

    pub fn from_json(value: &Value) -> Option<SeedResult> {
        Some(SeedResult {
            seed: value["seed"].as_u64()?,
            digest: value["digest"].as_str()?.to_string(),
            first_crash_ns: match &value["first_crash_ns"] {
                Value::Null => None,
                other => Some(other.as_u64()?),
            },
            crashes: value["crashes"].as_u64()?,
            unbooted: value["unbooted"].as_bool()?,
            boot_ns: value["boot_ns"]
                .as_array()?
                .iter()
                .map(Value::as_u64)
                .collect::<Option<_>>()?,
            duplicates: value["duplicates"].as_u64()?,
            failed: value["failed"]
                .as_array()?
                .iter()
                .map(|name| name.as_str().map(str::to_string))
                .collect::<Option<_>>()?,
        })
    }
}

/// Counts DHCP messages servers received more than once: the same port, client hardware
/// address, transaction id, message type and `secs`, so a client's own retransmission (later
/// `secs`) is not a duplicate but a relayed copy is.
fn duplicates_at_servers(world: &World) -> u64 {
    let Some(log) = world.log() else {
        return 0;
    };
    let servers: Vec<bool> = world
        .nodes()
        .map(|(_, node)| matches!(node, Node::Server(_)))
        .collect();
    let mut copies = engine::decode::Copies::default();
    let mut duplicates = 0;
    for record in log.records() {
        let Kind::Receive { frame, .. } = &record.kind else {
            continue;
        };
        if !servers.get(record.node).copied().unwrap_or(false) {
            continue;
        }
        if copies.receive(record.node, record.time_ns, frame).is_some() {
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
pub fn trace(world: &World) -> Vec<TraceLine> {
    let Some(log) = world.log() else {
        return Vec::new();
    };
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

const Z95: f64 = 1.959_963_984_540_054;

fn rate(count: u64, runs: u64) -> f64 {
    if runs == 0 {
        0.0
    } else {
        count as f64 / runs as f64
    }
}

/// Order statistics of a set of durations (nearest-rank percentiles).
#[derive(Clone, Copy, Debug, PartialEq)]
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

    fn to_json(self) -> Value {
        json!({
            "count": self.count,
            "min_ns": self.min_ns,
            "median_ns": self.median_ns,
            "p90_ns": self.p90_ns,
            "max_ns": self.max_ns,
            "mean_ns": self.mean_ns,
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
    let queue = Mutex::new(Queue {
        next: 0,
        inboxes: vec![VecDeque::new(); jobs],
        first_runs_active: 0,
        failed: false,
    });
    let wake = Condvar::new();
    let stopped = || {
        options
            .stop
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
    };
    let (sender, receiver) = mpsc::channel::<Done>();
    let mut results = Vec::with_capacity(seeds.len());
    let mut diverged = Vec::new();
    let mut error = None;
    std::thread::scope(|scope| {
        for worker in 0..jobs {
            let sender = sender.clone();
            let (queue, wake) = (&queue, &wake);
            scope.spawn(move || {
                loop {
                    let task = {
                        let mut state = queue.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            if state.failed || stopped() {
                                break None;
                            }
                            if let Some((seed, trace)) = state.inboxes[worker].pop_front() {
                                break Some(Task::Second(seed, trace));
                            }
                            if state.next < seeds.len() {
                                let seed = seeds[state.next];
                                state.next += 1;
                                state.first_runs_active += 1;
                                break Some(Task::First(seed));
                            }
                            let waiting = state.inboxes.iter().any(|inbox| !inbox.is_empty());
                            if state.first_runs_active == 0 && !waiting {
                                break None;
                            }
                            state = wake.wait(state).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let Some(task) = task else {
                        wake.notify_all();
                        return;
                    };
                    let seed = match &task {
                        Task::First(seed) | Task::Second(seed, _) => *seed,
                    };
                    let done = match run(plan, seed, services) {
                        Err(error) => {
                            queue.lock().unwrap_or_else(|e| e.into_inner()).failed = true;
                            Done::Error(error)
                        }
                        Ok((world, report)) => match task {
                            Task::First(_) if options.check_determinism => {
                                let trace = trace(&world);
                                let result = SeedResult::of(plan, &world, &report);
                                let mut state = queue.lock().unwrap_or_else(|e| e.into_inner());
                                state.first_runs_active -= 1;
                                state.inboxes[(worker + 1) % jobs].push_back((seed, trace));
                                drop(state);
                                wake.notify_all();
                                Done::Seed(result)
                            }
                            Task::First(_) => {
                                let mut state = queue.lock().unwrap_or_else(|e| e.into_inner());
                                state.first_runs_active -= 1;
                                drop(state);
                                wake.notify_all();
                                Done::Seed(SeedResult::of(plan, &world, &report))
                            }
                            Task::Second(_, first) => {
                                match first_divergence(&first, &trace(&world), ("first", "second"))
                                {
                                    Some(divergence) => Done::Diverged(seed, divergence),
                                    None => continue,
                                }
                            }
                        },
                    };
                    let fatal = matches!(done, Done::Error(_));
                    if sender.send(done).is_err() || fatal {
                        wake.notify_all();
                        return;
                    }
                }
            });
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

/// A sweep as JSON: what `sweep --json` prints and `merge` reads. Nothing in it depends on
/// the machine or the thread count, so equal sweeps print equal JSON.
pub fn sweep_json(
    plan: &Plan,
    file: &str,
    seeds: &std::ops::Range<u64>,
    shard: Option<(u64, u64)>,
    result: &SweepResult,
) -> Value {
    let identity = SweepIdentity {
        name: plan.name.clone(),
        file: file.to_string(),
        topology_sha256: crate::sha256_hex(plan.source().as_bytes()),
        seeds: seeds.clone(),
        expect: plan.expect.clone(),
    };
    sweep_value(&identity, shard, result)
}

/// What makes two sweep results parts of one sweep.
struct SweepIdentity {
    name: String,
    file: String,
    topology_sha256: String,
    seeds: std::ops::Range<u64>,
    expect: Expectations,
}

fn expect_json(expect: &Expectations) -> Value {
    json!({
        "every_client_boots": expect.every_client_boots,
        "boot_within_ns": expect.boot_within_ns,
        "no_crashes": expect.no_crashes,
        "crash_rate_below": expect.crash_rate_below,
        "failure_rate_below": expect.failure_rate_below,
    })
}

fn expect_from_json(value: &Value) -> Option<Expectations> {
    let optional_u64 = |value: &Value| match value {
        Value::Null => Some(None),
        other => other.as_u64().map(Some),
    };
    let optional_f64 = |value: &Value| match value {
        Value::Null => Some(None),
        other => other.as_f64().map(Some),
    };
    Some(Expectations {
        every_client_boots: value["every_client_boots"].as_bool()?,
        boot_within_ns: optional_u64(&value["boot_within_ns"])?,
        no_crashes: value["no_crashes"].as_bool()?,
        crash_rate_below: optional_f64(&value["crash_rate_below"])?,
        failure_rate_below: optional_f64(&value["failure_rate_below"])?,
    })
}

pub fn checks_json(checks: &[Check]) -> Value {
    checks
        .iter()
        .map(|check| json!({"name": check.name, "passed": check.passed, "detail": check.detail}))
        .collect()
}

fn sweep_value(identity: &SweepIdentity, shard: Option<(u64, u64)>, result: &SweepResult) -> Value {
    let (low, high) = result.crash_rate_ci95();
    let mut value = json!({
        "topology": identity.name,
        "file": identity.file,
        "topology_sha256": identity.topology_sha256,
        "seeds": format!("{}..{}", identity.seeds.start, identity.seeds.end),
        "runs": result.runs,
        "crashed_runs": result.crashed_runs,
        "crash_rate": result.crash_rate(),
        "crash_rate_ci95": [low, high],
        "unbooted_runs": result.unbooted_runs,
        "failing_seeds": result.failing_seeds,
        "time_to_first_crash": result.time_to_first_crash().map(Spread::to_json),
        "first_crashes": result.first_crashes.iter().map(|&(seed, at)| json!([seed, at])).collect::<Vec<_>>(),
        "expect": expect_json(&identity.expect),
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
            // Verdicts belong to the whole sweep; a shard's are made by `merge`.
            let checks = sweep_checks(&identity.expect, result);
            value["passed"] = json!(checks.iter().all(|check| check.passed));
            value["checks"] = checks_json(&checks);
        }
    }
    value
}

/// Combines the JSON of shards `1/N .. N/N` of one sweep into the JSON of the whole sweep.
pub fn merge(shards: &[Value]) -> Result<Value, String> {
    let first = shards.first().ok_or("no shard results to merge")?;
    let text = |value: &Value, key: &str| -> Result<String, String> {
        value[key]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("not a pxelab sweep result: no `{key}`"))
    };
    let number = |value: &Value, key: &str| -> Result<u64, String> {
        value[key]
            .as_u64()
            .ok_or_else(|| format!("not a pxelab sweep result: no `{key}`"))
    };
    let same = ["topology", "file", "topology_sha256", "seeds"];
    let mut seen = Vec::new();
    let mut count = None;
    let mut result = SweepResult::from_seeds(Vec::new(), Vec::new());
    for shard in shards {
        for key in same {
            if text(shard, key)? != text(first, key)? {
                return Err(format!(
                    "shards of different sweeps: `{key}` is {} in one and {} in another",
                    text(first, key)?,
                    text(shard, key)?
                ));
            }
        }
        if shard["expect"] != first["expect"] {
            return Err("shards of different sweeps: their expectations differ".to_string());
        }
        let label = text(shard, "shard")
            .map_err(|_| "a complete sweep, not a shard: only `--shard K/N` outputs merge")?;
        let (index, total) = label
            .split_once('/')
            .and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)))
            .ok_or_else(|| format!("bad shard label `{label}`"))?;
        if *count.get_or_insert(total) != total {
            return Err(format!(
                "shards of {total} and of {} mixed",
                count.unwrap_or(0)
            ));
        }
        if seen.contains(&index) {
            return Err(format!("shard {label} given twice"));
        }
        seen.push(index);
        result.runs += number(shard, "runs")?;
        result.crashed_runs += number(shard, "crashed_runs")?;
        result.unbooted_runs += number(shard, "unbooted_runs")?;
        let failing = shard["failing_seeds"]
            .as_array()
            .ok_or("not a pxelab sweep result: no `failing_seeds`")?;
        for seed in failing {
            result
                .failing_seeds
                .push(seed.as_u64().ok_or("a failing seed that is not a number")?);
        }
        let crashes = shard["first_crashes"]
            .as_array()
            .ok_or("not a pxelab sweep result: no `first_crashes`")?;
        for pair in crashes {
            let pair = (pair[0].as_u64(), pair[1].as_u64());
            let (Some(seed), Some(at_ns)) = pair else {
                return Err("a first crash that is not [seed, time]".to_string());
            };
            result.first_crashes.push((seed, at_ns));
        }
        if let Some(list) = shard["nondeterministic"].as_array() {
            for entry in list {
                let seed = entry["seed"]
                    .as_u64()
                    .ok_or("a bad nondeterministic seed")?;
                let divergence = entry["divergence"].as_str().unwrap_or("").to_string();
                result.nondeterministic.push((seed, divergence));
            }
        }
    }
    let total = count.unwrap_or(0);
    let missing: Vec<String> = (1..=total)
        .filter(|index| !seen.contains(index))
        .map(|index| format!("{index}/{total}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing shard(s): {}", missing.join(", ")));
    }
    result.failing_seeds.sort_unstable();
    result.first_crashes.sort_unstable();
    result.nondeterministic.sort();
    let seeds_text = text(first, "seeds")?;
    let (start, end) = seeds_text
        .split_once("..")
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .ok_or_else(|| format!("bad seed range `{seeds_text}`"))?;
    let identity = SweepIdentity {
        name: text(first, "topology")?,
        file: text(first, "file")?,
        topology_sha256: text(first, "topology_sha256")?,
        seeds: start..end,
        expect: expect_from_json(&first["expect"])
            .ok_or("not a pxelab sweep result: no `expect`")?,
    };
    Ok(sweep_value(&identity, None, &result))
}

#[cfg(test)]
mod tests {
    use super::*;

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
