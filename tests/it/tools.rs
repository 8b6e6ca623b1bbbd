//! External programs the tests drive (tshark, chromium, QEMU, dnsmasq, ...), and the one rule for
//! when one is missing: under CI (`PXELAB_REQUIRE_TOOLS=1`, which `.ci/run` sets) the test fails,
//! naming the Debian package to install; anywhere else it writes what it skipped and why to
//! stderr, past the test harness's capture so that `cargo test` shows it, and passes, so that
//! `cargo test` passes on a machine with only rustup. A module of the integration tests
//! (`tests/it/`), also included by path in `sim/capture`'s unit tests, which read their pcapng
//! back with tshark.

#![allow(dead_code)] // the capture tests use part of it

use std::path::{Path, PathBuf};

/// The variable `.ci/run` sets: a missing tool is a failure, not a skip.
pub const REQUIRE_TOOLS: &str = "PXELAB_REQUIRE_TOOLS";

/// Whether missing tools fail the run (CI) rather than skip a test.
pub fn required() -> bool {
    std::env::var_os(REQUIRE_TOOLS).is_some_and(|value| value != "0" && !value.is_empty())
}

/// The path of the executable `name`, found on `PATH` or at an absolute path. `None` (after
/// printing `skipped: <what>: ...`) when it is missing outside CI; a panic under CI.
pub fn find(name: &str, package: &str, what: &str) -> Option<PathBuf> {
    match locate(name) {
        Some(path) => Some(path),
        None => {
            missing(
                &format!("`{name}` not found (Debian package `{package}`)"),
                what,
            );
            None
        }
    }
}

/// Every tool of `tools` (name, Debian package) or none: the first missing one is reported as
/// `find` does.
pub fn find_all(tools: &[(&str, &str)], what: &str) -> Option<Vec<PathBuf>> {
    tools
        .iter()
        .map(|(name, package)| find(name, package, what))
        .collect()
}

/// Reports that `what` cannot run because of `why`: a skip outside CI, a failure under it.
pub fn missing(why: &str, what: &str) {
    if required() {
        panic!("{what} needs {why}, and {REQUIRE_TOOLS} is set: install it (see .ci/run)");
    }
    // Written to the process's stderr itself, not through `eprintln!`, which the test
    // harness captures: `cargo test` shows the line even when the test passes.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {what}: {why}; install it to run this check"
    );
}

/// A file the tests need from a Debian package (a firmware image, an NBP), as `find` does for
/// executables.
pub fn file(path: &str, package: &str, what: &str) -> Option<PathBuf> {
    let path = Path::new(path);
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    missing(
        &format!("{} (Debian package `{package}`)", path.display()),
        what,
    );
    None
}

fn locate(name: &str) -> Option<PathBuf> {
    let candidate = Path::new(name);
    if candidate.is_absolute() {
        return is_executable(candidate).then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|full| is_executable(full))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
