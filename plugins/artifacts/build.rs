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

const TARGET: &str = "wasm32-unknown-unknown";

/// What a plugin crate declares itself to be, in its manifest:
/// `[package.metadata.pxelab] plugin = "builtin" | "example" | "fixture"`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Shipped: in `artifacts::ALL`, offered to topologies by name.
    Builtin,
    /// The SDK example: in `artifacts::ALL` too, and its core module is kept as well.
    Example,
    /// A hostile plugin for the tests: in `artifacts::FIXTURES` only.
    Fixture,
}

/// A Rust plugin found under plugins/.
struct RustPlugin {
    /// Its name in `artifacts`: the name of its directory (`wds-fixed`, `endless-loop`).
    name: String,
    /// The cargo package.
    package: String,
    kind: Kind,
}

impl RustPlugin {
    /// The name of the `.wasm` file cargo writes for the package.
    fn file(&self) -> String {
        self.package.replace('-', "_")
    }

    /// Where its component goes, relative to OUT_DIR.
    fn component(&self) -> String {
        match self.kind {
            Kind::Builtin | Kind::Example => format!("{}.wasm", self.name),
            Kind::Fixture => format!("fixtures/{}.wasm", self.name),
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1);
}

/// The value of `key = "value"` in the table `[table]` of a manifest's text: enough TOML for
/// the two keys read here (`[package] name` and `[package.metadata.pxelab] plugin`).
fn manifest_value(text: &str, table: &str, key: &str) -> Option<String> {
    let header = format!("[{table}]");
    let mut in_table = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == header;
        } else if in_table
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// The directories of `dir`, in name order.
fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", dir.display())));
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Every Rust plugin under plugins/ (one or two levels down: `plugins/proxydhcp`,
/// `plugins/fixtures/panic`), as its manifest declares it, in name order.
fn rust_plugins(plugins_dir: &Path) -> Vec<RustPlugin> {
    let mut found = Vec::new();
    for dir in subdirectories(plugins_dir) {
        let candidates = if dir.join("Cargo.toml").is_file() {
            vec![dir]
        } else {
            subdirectories(&dir)
        };
        for dir in candidates {
            let manifest_path = dir.join("Cargo.toml");
            let Ok(text) = fs::read_to_string(&manifest_path) else {
                continue;
            };
            let Some(kind) = manifest_value(&text, "package.metadata.pxelab", "plugin") else {
                continue;
            };
            let kind = match kind.as_str() {
                "builtin" => Kind::Builtin,
                "example" => Kind::Example,
                "fixture" => Kind::Fixture,
                other => fail(&format!(
                    "{}: `plugin = \"{other}\"`: expected \"builtin\", \"example\" or \"fixture\"",
                    manifest_path.display()
                )),
            };
            let package = manifest_value(&text, "package", "name")
                .unwrap_or_else(|| fail(&format!("{}: no package name", manifest_path.display())));
            let name = dir
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_else(|| fail(&format!("{}: not a UTF-8 name", dir.display())))
                .to_string();
            found.push(RustPlugin {
                name,
                package,
                kind,
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// `plugins.rs` in OUT_DIR, which src/lib.rs includes: `ALL` (the built-ins and the example,
/// Rust and C, in name order) and `FIXTURES`.
fn write_list(out_dir: &Path, rust: &[RustPlugin], c: &[build_c::CPlugin]) {
    let artifact = |name: &str, component: &str| {
        format!(
            "    Artifact {{\n        name: {name:?},\n        component: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{component}\")),\n    }},\n"
        )
    };
    let mut builtins: Vec<(String, String)> = rust
        .iter()
        .filter(|plugin| plugin.kind != Kind::Fixture)
        .map(|plugin| (plugin.name.clone(), plugin.component()))
        .chain(
            c.iter()
                .map(|plugin| (plugin.name.clone(), format!("{}.wasm", plugin.name))),
        )
        .collect();
    builtins.sort();
    let mut text = String::from(
        "/// The built-in plugins (`[package.metadata.pxelab] plugin = \"builtin\"` or \
         \"example\"`, and the C plugins), in name order.\npub const ALL: &[Artifact] = &[\n",
    );
    for (name, component) in &builtins {
        text.push_str(&artifact(name, component));
    }
    text.push_str(
        "];\n\n/// Hostile plugins for tests only (`plugin = \"fixture\"`, plugins/fixtures): each \
         misbehaves in one way\n/// the host must contain. Kept out of `ALL`, so they are never \
         offered as built-ins.\npub const FIXTURES: &[Artifact] = &[\n",
    );
    for plugin in rust.iter().filter(|plugin| plugin.kind == Kind::Fixture) {
        text.push_str(&artifact(&plugin.name, &plugin.component()));
    }
    text.push_str("];\n");
    let path = out_dir.join("plugins.rs");
    fs::write(&path, text)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
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
    let rust = rust_plugins(&root.join("plugins"));
    let c = build_c::plugins(&root.join("plugins"));
    fs::create_dir_all(out_dir.join("fixtures")).unwrap_or_else(|e| {
        fail(&format!(
            "cannot create {}/fixtures: {e}",
            out_dir.display()
        ))
    });
    build_modules(&root, &target_dir, &rust);
    for plugin in &rust {
        encode_component(&target_dir, plugin, &out_dir.join(plugin.component()));
    }
    build_c::build_plugins(&root, &out_dir, &c);
    write_list(&out_dir, &rust, &c);
}

/// Turns the core module cargo wrote for `package` into a component at `component_path`.
fn encode_component(target_dir: &Path, plugin: &RustPlugin, component_path: &Path) {
    let module_path = target_dir
        .join(TARGET)
        .join("plugin")
        .join(format!("{}.wasm", plugin.file()));
    let module = fs::read(&module_path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", module_path.display())));
    write_component(&plugin.package, &module, component_path);
    // The SDK example is also kept as the core module cargo writes, which is what a plugin
    // author hands pxelab: the host's own module-to-component step is tested with it.
    if plugin.kind == Kind::Example {
        let core_path = component_path.with_file_name(format!("{}.core.wasm", plugin.name));
        fs::write(&core_path, &module)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", core_path.display())));
    }
}

/// Makes a component of the core module `module` of plugin `name` and writes it to `path`.
fn write_component(name: &str, module: &[u8], path: &Path) {
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .and_then(|mut encoder| encoder.encode())
        .unwrap_or_else(|e| fail(&format!("cannot make a component of {name}: {e:?}")));
    fs::write(path, component)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
}

fn build_modules(root: &Path, target_dir: &Path, plugins: &[RustPlugin]) {
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
    for plugin in plugins {
        command.args(["-p", &plugin.package]);
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
