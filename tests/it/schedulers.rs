//! The sweep examples for cluster schedulers (`docs/schedulers/`), run as shipped.
//!
//! - Slurm: a single-node cluster (munged, slurmctld, slurmd from Debian's `munge` and
//!   `slurm-wlm`), started by the test in a scratch folder on ports of its own and stopped by
//!   pid afterwards, runs `slurm-sweep.sbatch` as a job array; the shards it writes merge into
//!   the bytes of the unsharded `pxelab sweep --json`.
//! - Kubernetes: no cluster here, so the Indexed Job's container command is run by `sh` once per
//!   completion index, as the pods would run it, with the shared volume's mount path pointed at
//!   a scratch folder; its shards merge into the same bytes.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::netlab::{Process, wait_for_file};

const TOPOLOGY: &str = "topologies/kb2510665.yaml";
const SEEDS: &str = "0..120";
const SHARDS: usize = 4;

const SLURM_TOOLS: &[(&str, &str)] = &[
    ("munged", "munge"),
    ("slurmctld", "slurm-wlm"),
    ("slurmd", "slurm-wlm"),
    ("sbatch", "slurm-wlm"),
    ("sinfo", "slurm-wlm"),
    ("scancel", "slurm-wlm"),
];

/// The pxelab binary with the plugin compile cache of these tests, run from the repository root
/// (the examples name topologies relative to it).
fn pxelab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pxelab"));
    command
        .current_dir(crate::common::repo_path(""))
        .envs(cache_env())
        .env_remove("PXELAB_CACHE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

fn cache_env() -> [(&'static str, PathBuf); 1] {
    [(
        "PXELAB_CACHE_DIR",
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scheduler-plugin-cache"),
    )]
}

/// What `pxelab sweep --json` prints for the whole range on one machine.
fn unsharded() -> Vec<u8> {
    let output = pxelab()
        .args(["sweep", TOPOLOGY, "--seeds", SEEDS, "--json"])
        .output()
        .expect("pxelab sweep runs");
    assert!(
        output.status.code().is_some_and(|code| code <= 1),
        "pxelab sweep: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `pxelab merge` of the shard files in `dir`, which must be `SHARDS` of them.
fn merged(dir: &Path) -> Vec<u8> {
    let mut shards: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    shards.sort();
    assert_eq!(
        shards.len(),
        SHARDS,
        "shard files in {}: {shards:?}",
        dir.display()
    );
    let output = pxelab().arg("merge").args(&shards).output().unwrap();
    assert!(
        output.status.code().is_some_and(|code| code <= 1),
        "pxelab merge: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn assert_same_sweep(merged: &[u8], whole: &[u8], how: &str) {
    assert!(!whole.is_empty());
    if merged != whole {
        panic!(
            "{how}: the merged shards differ from the unsharded sweep\nmerged:\n{}\nwhole:\n{}",
            String::from_utf8_lossy(merged),
            String::from_utf8_lossy(whole)
        );
    }
}

#[test]
fn a_slurm_job_array_sweep_merges_to_the_unsharded_sweep_byte_for_byte() {
    let what = "the Slurm job-array sweep";
    let Some(tools) = crate::tools::find_all(SLURM_TOOLS, what) else {
        return;
    };
    let whole = unsharded();
    let dir = crate::common::scratch_dir("slurm");
    let cluster = Cluster::start(&dir, &tools).unwrap_or_else(|error| panic!("{what}: {error}"));
    let shards = dir.join("shards");
    fs::create_dir_all(&shards).unwrap();

    let script = crate::common::repo_path("docs/schedulers/slurm-sweep.sbatch");
    let mut sbatch = cluster.command(&tools[3]);
    sbatch
        .current_dir(crate::common::repo_path(""))
        .args(["--wait", "--array=0-3", "--output"])
        .arg(dir.join("task-%a.out"))
        .arg(&script)
        .env("PXELAB", env!("CARGO_BIN_EXE_pxelab"))
        .env("TOPOLOGY", TOPOLOGY)
        .env("SEEDS", SEEDS)
        .env("SHARDS", &shards)
        .envs(cache_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut job = Process::spawn(sbatch, "sbatch --wait").unwrap();
    let done = job.wait_gone(Duration::from_secs(300));
    let tasks = task_outputs(&dir);
    assert!(
        done,
        "{what}: the job array did not finish in 300 s\n{tasks}\n{}",
        cluster.logs()
    );
    let status = job.exit_status().unwrap();
    assert!(
        status.success(),
        "{what}: sbatch says {status}\n{tasks}\n{}",
        cluster.logs()
    );

    assert_same_sweep(&merged(&shards), &whole, what);
}

#[test]
fn the_kubernetes_indexed_job_command_merges_to_the_unsharded_sweep_byte_for_byte() {
    let yaml = fs::read_to_string(crate::common::repo_path(
        "docs/schedulers/kubernetes-indexed-job.yaml",
    ))
    .unwrap();
    let job: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let spec = &job["spec"];
    let completions = spec["completions"].as_u64().unwrap();
    let container = &spec["template"]["spec"]["containers"][0];
    let command: Vec<&str> = container["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|part| part.as_str().unwrap())
        .collect();
    assert_eq!(
        command[..2],
        ["/bin/sh", "-c"],
        "the example runs a shell command"
    );
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let mut env: Vec<(String, String)> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|var| {
            let value = var["value"].as_str().unwrap();
            (var["name"].as_str().unwrap().to_string(), value.to_string())
        })
        .collect();
    let shards_var = env.iter().find(|(name, _)| name == "SHARDS").unwrap();
    assert_eq!(
        shards_var.1,
        completions.to_string(),
        "SHARDS must equal completions"
    );
    // The same sweep on a smaller scale: this test's topology, seeds and shard count.
    for (name, value) in &mut env {
        match name.as_str() {
            "TOPOLOGY" => *value = TOPOLOGY.to_string(),
            "SEEDS" => *value = SEEDS.to_string(),
            "SHARDS" => *value = SHARDS.to_string(),
            _ => {}
        }
    }

    let whole = unsharded();
    let dir = crate::common::scratch_dir("k8s");
    let script = command[2].replace(mount, &dir.display().to_string());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_pxelab")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for index in 0..SHARDS {
        let output = pxelab_shell(&script, &env, &path, index);
        assert!(
            output.status.success(),
            "completion index {index}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_same_sweep(&merged(&dir), &whole, "the Indexed Job's pods");
}

fn pxelab_shell(
    script: &str,
    env: &[(String, String)],
    path: &str,
    index: usize,
) -> std::process::Output {
    Command::new("sh")
        .args(["-c", script])
        .current_dir(crate::common::repo_path(""))
        .envs(env.iter().map(|(name, value)| (name, value)))
        .envs(cache_env())
        .env("PATH", path)
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// What the array's tasks printed, for a failure message.
fn task_outputs(dir: &Path) -> String {
    let mut text = String::new();
    for index in 0..SHARDS {
        let path = dir.join(format!("task-{index}.out"));
        let output = fs::read_to_string(&path).unwrap_or_else(|_| "(nothing)".to_string());
        text.push_str(&format!("task {index}: {}\n", output.trim()));
    }
    text
}

/// A one-node Slurm cluster in a folder: munged, slurmctld and slurmd, each a `Process` stopped
/// when the cluster is dropped (slurmd first).
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    scancel: PathBuf,
    // Dropped in this order: the node, the controller, then munge.
    slurmd: Process,
    slurmctld: Process,
    _munged: Process,
}

impl Cluster {
    fn start(dir: &Path, tools: &[PathBuf]) -> Result<Cluster, String> {
        let [munged, slurmctld, slurmd, _, sinfo, scancel] = tools else {
            unreachable!("SLURM_TOOLS has six tools")
        };
        for sub in ["munge", "state", "spool", "log"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            set_mode(&path, 0o700)?;
        }
        let key = dir.join("munge/munge.key");
        let mut bytes = [0u8; 1024];
        fs::File::open("/dev/urandom")
            .and_then(|mut random| std::io::Read::read_exact(&mut random, &mut bytes))
            .map_err(|e| format!("/dev/urandom: {e}"))?;
        fs::write(&key, bytes).map_err(|e| format!("{}: {e}", key.display()))?;
        set_mode(&key, 0o600)?;
        let socket = dir.join("munge/socket");
        let mut command = Command::new(munged);
        command
            .args(["--foreground", "--force"])
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--key-file={}", key.display()))
            .arg(format!(
                "--pid-file={}",
                dir.join("munge/munged.pid").display()
            ))
            .arg(format!("--seed-file={}", dir.join("munge/seed").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // In the foreground munged logs to stderr.
            .stderr(log_file(&dir.join("log/munged.log"))?);
        let munged = Process::spawn(command, "munged")?;
        wait_for_file(
            &dir.join("log/munged.log"),
            |log| log.contains("Created socket"),
            Duration::from_secs(10),
            Some(&munged),
        )?;

        let conf = dir.join("slurm.conf");
        fs::write(&conf, slurm_conf(dir, &socket, free_port()?, free_port()?))
            .map_err(|e| format!("{}: {e}", conf.display()))?;
        let daemon = |program: &Path, args: &[&str], name: &str| -> Result<Process, String> {
            let mut command = Command::new(program);
            command
                .arg("-D")
                .args(args)
                .arg("-f")
                .arg(&conf)
                .env("SLURM_CONF", &conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            Process::spawn(command, name)
        };
        let slurmctld = daemon(slurmctld, &[], "slurmctld")?;
        let slurmd = daemon(slurmd, &["-N", NODE], "slurmd")?;
        let cluster = Cluster {
            dir: dir.to_path_buf(),
            conf,
            scancel: scancel.clone(),
            slurmd,
            slurmctld,
            _munged: munged,
        };
        cluster.wait_idle(sinfo, Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// A Slurm client command aimed at this cluster.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf).stdin(Stdio::null());
        command
    }

    /// Waits (bounded) until the node reports idle.
    fn wait_idle(&self, sinfo: &Path, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut state = String::new();
        while Instant::now() < deadline {
            for daemon in [&self.slurmctld, &self.slurmd] {
                if !daemon.running() {
                    return Err(format!("{} exited\n{}", daemon.what, self.logs()));
                }
            }
            let output = self
                .command(sinfo)
                .args(["--noheader", "--format=%T"])
                .output()
                .map_err(|e| format!("sinfo: {e}"))?;
            state = String::from_utf8_lossy(&output.stdout).trim().to_string();
            if state == "idle" {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "the node is `{state}`, not idle, after {timeout:?}\n{}",
            self.logs()
        ))
    }

    /// The daemons' logs, for a failure message.
    fn logs(&self) -> String {
        ["slurmctld", "slurmd", "munged"]
            .iter()
            .map(|name| {
                let path = self.dir.join(format!("log/{name}.log"));
                let text = fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {}:\n{}", path.display(), tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    /// Cancels whatever jobs are left (a test that failed mid-array), so that no task outlives
    /// the cluster; the daemons are then stopped as their fields drop.
    fn drop(&mut self) {
        let _ = self
            .command(&self.scancel.clone())
            .args(["--full", "--partition=lab"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

const NODE: &str = "pxelab-node";

fn slurm_conf(dir: &Path, socket: &Path, controller_port: u16, node_port: u16) -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let at = |name: &str| dir.join(name).display().to_string();
    format!(
        "ClusterName=pxelab
SlurmctldHost=localhost(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={controller_port}
SlurmdPort={node_port}
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={log}/slurmctld.pid
SlurmdPidFile={log}/slurmd.pid
SlurmctldLogFile={log}/slurmctld.log
SlurmdLogFile={log}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=lab Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
",
        socket = socket.display(),
        state = at("state"),
        spool = at("spool"),
        log = at("log"),
    )
}

/// A TCP port nothing listens on now (the kernel's pick).
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| format!("a free port: {e}"))
}

fn log_file(path: &Path) -> Result<fs::File, String> {
    fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}
