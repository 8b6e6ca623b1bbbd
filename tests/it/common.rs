//! Helpers shared by the end-to-end tests: load a shipped topology, run a seed, sweep.

use std::path::PathBuf;
use std::sync::OnceLock;

use engine::Finished;
use lab::Services;
use topology::Plan;

/// `path` in the repository (this binary is a test of `sim/cli`, two levels down).
pub fn repo_path(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The repository's `topologies/` folder.
pub fn topology_path(name: &str) -> PathBuf {
    repo_path("topologies").join(name)
}

/// The text of the shipped topology `name`.
pub fn topology_text(name: &str) -> String {
    let path = topology_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shipped topology `name` with its text changed by `edit`, parsed as if it were the file
/// `as_name` of `topologies/` (the name its errors and records carry).
pub fn edited_plan(name: &str, as_name: &str, edit: impl FnOnce(String) -> String) -> Plan {
    let text = edit(topology_text(name));
    topology::parse(&topology_path(as_name), &text).unwrap_or_else(|e| panic!("{e}"))
}

pub fn plan(name: &str) -> Plan {
    topology::load(&topology_path(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// One plugin host per test process: components are compiled once.
pub fn services() -> &'static Services {
    static SERVICES: OnceLock<Services> = OnceLock::new();
    SERVICES.get_or_init(|| Services::new().expect("the plugin host starts"))
}

pub fn run(plan: &Plan, seed: u64) -> Finished {
    lab::run(plan, seed, services()).unwrap_or_else(|e| panic!("{e}"))
}

/// A folder of this test process under the system's temporary folder, `pxelab-{name}-{pid}`,
/// emptied first.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pxelab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
