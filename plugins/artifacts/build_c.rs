//! The build of boot-server plugins written in C (today plugins/proxydhcp-c): C bindings for
//! world `boot-server` of `pxelab:plugin@0.1.0` (plugins/wit/v0.1.0, which the host still
//! runs; its `init` error is a plain string) generated with the `wit-bindgen-c` crate, Debian's
//! clang for `--target=wasm32-unknown-unknown`, wasm-ld, and the same `ComponentEncoder` step as
//! the Rust plugins. No libc: each plugin directory brings the few functions it needs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use wit_bindgen_core::wit_parser::Resolve;

use super::fail;

/// (built-in name = directory under plugins/, the plugin's C sources in that directory). Each
/// directory has `libc/include` (headers first on the include path) and `libc/libc.c`.
pub const C_PLUGINS: &[(&str, &[&str])] = &[("proxydhcp-c", &["proxydhcp.c"])];

const WORLD: &str = "boot-server";
const CLANG: &str = "clang";
const WASM_LD: &str = "wasm-ld";
const MISSING_TOOLS: &str = "the C plugins are built with clang and wasm-ld for wasm32: install \
     the Debian packages clang and lld (`apt-get install -y --no-install-recommends clang lld`)";

/// Builds every C plugin to `OUT_DIR/<name>.wasm`, a component like the Rust ones. Without
/// clang or wasm-ld the C plugins are left out (an empty file each, which `artifacts` reports as
/// not built) with a warning, so that a machine with only rustup still builds and runs pxelab.
pub fn build_plugins(root: &Path, out_dir: &Path) {
    for tool in [CLANG, WASM_LD] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !found {
            println!(
                "cargo:warning=`{tool}` was not found, so the C plugins are not built: {MISSING_TOOLS}"
            );
            for (name, _) in C_PLUGINS {
                let path = out_dir.join(format!("{name}.wasm"));
                fs::write(&path, [])
                    .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
            }
            return;
        }
    }
    let bindings_dir = out_dir.join("c-bindings");
    let bindings = generate_bindings(root, &bindings_dir);
    for (name, sources) in C_PLUGINS {
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
        let component = wit_component::ComponentEncoder::default()
            .validate(true)
            .module(&module)
            .and_then(|mut encoder| encoder.encode())
            .unwrap_or_else(|e| fail(&format!("cannot make a component of {name}: {e:?}")));
        let component_path = out_dir.join(format!("{name}.wasm"));
        fs::write(&component_path, component)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", component_path.display())));
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
