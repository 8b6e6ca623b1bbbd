//! Helpers shared by the end-to-end tests: load a shipped topology, run a seed, sweep.

use std::path::PathBuf;
use std::sync::OnceLock;

use engine::World;
use engine::report::Report;
use pxelab::Services;
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

pub fn plan(name: &str) -> Plan {
    topology::load(&topology_path(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// One plugin host per test process: components are compiled once.
pub fn services() -> &'static Services {
    static SERVICES: OnceLock<Services> = OnceLock::new();
    SERVICES.get_or_init(|| Services::new().expect("the plugin host starts"))
}

pub fn run(plan: &Plan, seed: u64) -> (World, Report) {
    pxelab::run(plan, seed, services()).unwrap_or_else(|e| panic!("{e}"))
}
