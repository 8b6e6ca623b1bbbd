//! Builds the boot-server plugins to wasm32 and turns each core module into a component, so a
//! plain `cargo build`/`cargo test` of the host embeds fresh plugins with no manual step (the
//! approach of wasmtime's crates/test-programs/artifacts/build.rs).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, exit};

/// Plugins written in C: built with clang and wasm-ld, see build_c.rs.
mod build_c;

/// (package name, name of the `.wasm` file cargo writes for it)
const PLUGINS: &[(&str, &str)] = &[
    ("dhcp-server", "dhcp_server"),
    ("wds-sccm2007", "wds_sccm2007"),
    ("wds-fixed", "wds_fixed"),
    ("proxydhcp", "proxydhcp"),
    ("tinypxe", "tinypxe"),
];
/// Hostile plugins for the tests (plugins/fixtures), built the same way but kept apart from
/// the built-ins: (package name, `.wasm` file name, fixture name in `artifacts::FIXTURES`).
const FIXTURES: &[(&str, &str, &str)] = &[
    (
        "fixture-endless-loop",
        "fixture_endless_loop",
        "endless-loop",
    ),
    ("fixture-memory-bomb", "fixture_memory_bomb", "memory-bomb"),
    ("fixture-panic", "fixture_panic", "panic"),
    ("fixture-send-storm", "fixture_send_storm", "send-storm"),
    ("fixture-timer-storm", "fixture_timer_storm", "timer-storm"),
    (
        "fixture-oversized-datagram",
        "fixture_oversized_datagram",
        "oversized-datagram",
    ),
    (
        "fixture-garbage-config",
        "fixture_garbage_config",
        "garbage-config",
    ),
    ("fixture-log-storm", "fixture_log_storm", "log-storm"),
    (
        "fixture-contract-0-1",
        "fixture_contract_0_1",
        "contract-0-1",
    ),
];
const TARGET: &str = "wasm32-unknown-unknown";

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1);
}

fn main() {
    let out_dir =
        PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR is not set")));
    let manifest_dir = PathBuf::from(
        env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| fail("CARGO_MANIFEST_DIR is not set")),
    );
    let root = manifest_dir.join("..").join("..");
    // Directories are scanned recursively by cargo; the root manifest holds the plugin profile.
    for path in [
        "plugins",
        "sim/wire",
        "sim/timing",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }

    // Never the outer target dir: the outer cargo holds its lock while this script runs.
    let target_dir = out_dir.join("plugin-target");
    build_modules(&root, &target_dir);
    for (package, file) in PLUGINS {
        encode_component(
            &target_dir,
            package,
            file,
            &out_dir.join(format!("{package}.wasm")),
        );
    }
    let fixtures_dir = out_dir.join("fixtures");
    fs::create_dir_all(&fixtures_dir)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", fixtures_dir.display())));
    for (package, file, name) in FIXTURES {
        encode_component(
            &target_dir,
            package,
            file,
            &fixtures_dir.join(format!("{name}.wasm")),
        );
    }
    build_c::build_plugins(&root, &out_dir);
}

/// Turns the core module cargo wrote for `package` into a component at `component_path`.
fn encode_component(target_dir: &Path, package: &str, file: &str, component_path: &Path) {
    let module_path = target_dir
        .join(TARGET)
        .join("plugin")
        .join(format!("{file}.wasm"));
    let module = fs::read(&module_path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", module_path.display())));
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|mut encoder| encoder.encode())
        .unwrap_or_else(|e| fail(&format!("cannot make a component of {package}: {e:?}")));
    fs::write(component_path, component)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", component_path.display())));
    // The SDK example is also kept as the core module cargo writes, which is what a plugin
    // author hands pxelab: the host's own module-to-component step is tested with it.
    if package == "tinypxe" {
        let core_path = component_path.with_file_name("tinypxe.core.wasm");
        fs::write(&core_path, &module)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", core_path.display())));
    }
}

fn build_modules(root: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        // Always this profile, whatever the host's: debug and release hosts then embed
        // byte-identical plugins and see the same fuel counts.
        .args(["--profile", "plugin", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir);
    for (package, _) in PLUGINS {
        command.args(["-p", package]);
    }
    for (package, _, _) in FIXTURES {
        command.args(["-p", package]);
    }
    // The outer build's flags and profile overrides are for the host, not for the plugins.
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if matches!(
            key,
            "RUSTFLAGS" | "CARGO_ENCODED_RUSTFLAGS" | "CARGO_TARGET_DIR"
        ) || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_TARGET_")
        {
            command.env_remove(key);
        }
    }
    // getrandom (via dhcproto -> rand) needs a backend on wasm32-unknown-unknown; the SDK
    // provides it from the host's seeded stream. The target dir lies under OUT_DIR, which
    // differs between host profiles, so it is remapped to keep the plugin bytes identical.
    let flags = [
        "--cfg".to_string(),
        "getrandom_backend=\"custom\"".to_string(),
        format!(
            "--remap-path-prefix={}=/plugin-target",
            target_dir.display()
        ),
    ];
    command.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));

    let output = command
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo to build the wasm plugins: {e}")));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("wasm32-unknown-unknown")
            && stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
            || stderr.contains("can't find crate for `std`")
        {
            "the wasm32 target is missing: run `rustup target add wasm32-unknown-unknown`"
        } else {
            "if the wasm32 target is missing, run `rustup target add wasm32-unknown-unknown`"
        };
        fail(&format!(
            "building the wasm plugins failed ({}); {hint}\n{stderr}",
            output.status
        ));
    }
}
