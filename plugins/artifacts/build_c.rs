//! The build of boot-server plugins written in C (today plugins/proxydhcp-c): C bindings for
//! world `boot-server` of `pxelab:plugin@0.1.0` (plugins/wit/v0.1.0, which the host still
//! runs; its `init` error is a plain string) generated with the `wit-bindgen-c` crate, Debian's
//! clang for `--target=wasm32-unknown-unknown`, wasm-ld, and the same `ComponentEncoder` step as
//! the Rust plugins. No libc: each plugin directory brings the few functions it needs. A C plugin
//! is a directory of plugins/ with no Cargo.toml and `.c` files at its top; its name is the
//! directory's, and it is a built-in.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use wit_bindgen_core::wit_parser::Resolve;

use super::{fail, subdirectories, write_component};

/// A C plugin: its directory under plugins/ (also its built-in name) and its C sources there.
/// Each directory also has `libc/include` (headers first on the include path) and `libc/libc.c`.
pub struct CPlugin {
    pub name: String,
    pub sources: Vec<String>,
}

/// The variable `.ci/run` sets (tests/it/tools.rs): a missing tool fails the build.
const REQUIRE_TOOLS: &str = "PXELAB_REQUIRE_TOOLS";

const WORLD: &str = "boot-server";
const CLANG: &str = "clang";
const WASM_LD: &str = "wasm-ld";
const MISSING_TOOLS: &str = "the C plugins are built with clang and wasm-ld for wasm32: install \
     the Debian packages clang and lld (`apt-get install -y --no-install-recommends clang lld`)";

/// Every C plugin under `plugins_dir`, in name order.
pub fn plugins(plugins_dir: &Path) -> Vec<CPlugin> {
    let mut found = Vec::new();
    for dir in subdirectories(plugins_dir) {
        if dir.join("Cargo.toml").exists() {
            continue;
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut sources: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".c"))
            .collect();
        if sources.is_empty() {
            continue;
        }
        sources.sort();
        let name = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        found.push(CPlugin { name, sources });
    }
    found
}

/// Builds every C plugin to `OUT_DIR/<name>.wasm`, a component like the Rust ones. Without
/// clang or wasm-ld the C plugins are left out (an empty file each, which `artifacts` reports as
/// not built) with a warning, so that a machine with only rustup still builds and runs pxelab;
/// under `PXELAB_REQUIRE_TOOLS=1` (CI) the build fails instead.
pub fn build_plugins(root: &Path, out_dir: &Path, plugins: &[CPlugin]) {
    if plugins.is_empty() {
        return;
    }
    for tool in [CLANG, WASM_LD] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !found {
            // Only a build that left the C plugins out depends on the variable.
            println!("cargo:rerun-if-env-changed={REQUIRE_TOOLS}");
            let names: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
            let names = names.join(", ");
            if env::var_os(REQUIRE_TOOLS).is_some_and(|v| v != "0" && !v.is_empty()) {
                fail(&format!(
                    "`{tool}` was not found, so the C plugins ({names}) cannot be built, and \
                     {REQUIRE_TOOLS} is set: {MISSING_TOOLS}"
                ));
            }
            println!(
                "cargo:warning=`{tool}` was not found, so the C plugins ({names}) are not built: {MISSING_TOOLS}"
            );
            for CPlugin { name, .. } in plugins {
                let path = out_dir.join(format!("{name}.wasm"));
                fs::write(&path, [])
                    .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
            }
            return;
        }
    }
    let bindings_dir = out_dir.join("c-bindings");
    let bindings = generate_bindings(root, &bindings_dir);
    for CPlugin { name, sources } in plugins {
        let plugin_dir = root.join("plugins").join(name);
        let object_dir = out_dir.join("c-objects").join(name);
        fs::create_dir_all(&object_dir)
            .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", object_dir.display())));
        let mut objects = Vec::new();
        let mut c_files: Vec<PathBuf> = sources.iter().map(|s| plugin_dir.join(s)).collect();
        c_files.push(plugin_dir.join("libc").join("libc.c"));
        c_files.push(bindings.c_file.clone());
        for c_file in &c_files {
            let stem = c_file.file_stem().and_then(|s| s.to_str()).unwrap_or("c");
            let object = object_dir.join(format!("{stem}.o"));
            run(
                name,
                Command::new(CLANG)
                    .args([
                        "--target=wasm32-unknown-unknown",
                        "-O2",
                        "-std=c11",
                        // No libc and no system headers: only clang's own freestanding headers
                        // (stdint.h, stddef.h, stdbool.h) and the plugin's libc/include.
                        "-ffreestanding",
                        "-nostdlibinc",
                        "-Wall",
                        "-Wextra",
                    ])
                    .arg("-I")
                    .arg(plugin_dir.join("libc").join("include"))
                    .arg("-I")
                    .arg(&bindings_dir)
                    .arg("-c")
                    .arg(c_file)
                    .arg("-o")
                    .arg(&object),
            );
            objects.push(object);
        }
        objects.push(bindings.component_type_object.clone());
        let module_path = object_dir.join(format!("{name}.wasm"));
        run(
            name,
            Command::new(WASM_LD)
                // A reactor: no _start; the exports come from the bindings' export_name
                // attributes. Unresolved symbols are errors, so nothing but the host is imported.
                .args(["--no-entry", "--strip-debug", "-z", "stack-size=65536"])
                .args(&objects)
                .arg("-o")
                .arg(&module_path),
        );
        let module = fs::read(&module_path)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", module_path.display())));
        write_component(name, &module, &out_dir.join(format!("{name}.wasm")));
    }
}

struct Bindings {
    c_file: PathBuf,
    component_type_object: PathBuf,
}

/// `boot_server.h`, `boot_server.c` and `boot_server_component_type.o` (the object whose custom
/// section carries the component type, which wasm-ld keeps and wit-component reads).
fn generate_bindings(root: &Path, dir: &Path) -> Bindings {
    let wit_dir = root.join("plugins").join("wit").join("v0.1.0");
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_path(&wit_dir)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e:?}", wit_dir.display())));
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .unwrap_or_else(|e| fail(&format!("no world {WORLD} in {}: {e:?}", wit_dir.display())));
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .unwrap_or_else(|e| fail(&format!("wit-bindgen-c failed: {e:?}")));
    fs::create_dir_all(dir)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", dir.display())));
    for (name, bytes) in files.iter() {
        let path = dir.join(name);
        fs::write(&path, bytes)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
    }
    let snake = WORLD.replace('-', "_");
    Bindings {
        c_file: dir.join(format!("{snake}.c")),
        component_type_object: dir.join(format!("{snake}_component_type.o")),
    }
}

fn run(plugin: &str, command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| {
        fail(&format!(
            "cannot run {:?} for {plugin}: {e}; {MISSING_TOOLS}",
            command.get_program()
        ))
    });
    if !output.status.success() {
        fail(&format!(
            "building the C plugin {plugin} failed ({}): {:?}\n{}{}",
            output.status,
            command,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}
