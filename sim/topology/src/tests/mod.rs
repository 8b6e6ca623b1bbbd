//! Topologies refused and accepted: edits of a shipped topology (`errors`) and the corpus of
//! broken files in `tests/broken/` (`broken`).

use std::path::PathBuf;

mod bridge;
mod broken;
mod errors;
mod located;

/// The repository's `topologies/` folder.
fn topology_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../topologies")
        .join(name)
}
