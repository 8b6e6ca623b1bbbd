//! The boot-server plugins as wasm components, built by this crate's build script and embedded
//! here, so the simulator needs no plugin files on disk.

/// One built-in plugin.
#[derive(Clone, Copy, Debug)]
pub struct Artifact {
    /// The name a topology uses for the plugin (`dhcp-server`, `wds-sccm2007`, `wds-fixed`,
    /// `proxydhcp`, `proxydhcp-c`).
    pub name: &'static str,
    /// The component binary (`pxelab:plugin/boot-server@0.2.0`; the C plugins and the fixture
    /// `contract-0-1` speak 0.1.0).
    pub component: &'static [u8],
}

pub const ALL: &[Artifact] = &[
    Artifact {
        name: "dhcp-server",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/dhcp-server.wasm")),
    },
    Artifact {
        name: "wds-sccm2007",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/wds-sccm2007.wasm")),
    },
    Artifact {
        name: "wds-fixed",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/wds-fixed.wasm")),
    },
    Artifact {
        name: "proxydhcp",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/proxydhcp.wasm")),
    },
    Artifact {
        name: "tinypxe",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/tinypxe.wasm")),
    },
    // The same proxyDHCP server written in C (plugins/proxydhcp-c), built with clang.
    Artifact {
        name: "proxydhcp-c",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/proxydhcp-c.wasm")),
    },
];

/// Hostile plugins for tests only (plugins/fixtures): each misbehaves in one way the host must
/// contain. Kept out of `ALL`, so they are never offered as built-ins.
pub const FIXTURES: &[Artifact] = &[
    Artifact {
        name: "endless-loop",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/fixtures/endless-loop.wasm")),
    },
    Artifact {
        name: "memory-bomb",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/fixtures/memory-bomb.wasm")),
    },
    Artifact {
        name: "panic",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/fixtures/panic.wasm")),
    },
    Artifact {
        name: "send-storm",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/fixtures/send-storm.wasm")),
    },
    Artifact {
        name: "timer-storm",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/fixtures/timer-storm.wasm")),
    },
    Artifact {
        name: "oversized-datagram",
        component: include_bytes!(concat!(
            env!("OUT_DIR"),
            "/fixtures/oversized-datagram.wasm"
        )),
    },
    Artifact {
        name: "garbage-config",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/fixtures/garbage-config.wasm")),
    },
    Artifact {
        name: "log-storm",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/fixtures/log-storm.wasm")),
    },
    // Not hostile: built against the previous contract, pxelab:plugin@0.1.0.
    Artifact {
        name: "contract-0-1",
        component: include_bytes!(concat!(env!("OUT_DIR"), "/fixtures/contract-0-1.wasm")),
    },
];

/// The SDK example plugin as the core wasm module `cargo build --target wasm32-unknown-unknown`
/// writes (not yet a component): what a plugin author passes to `--plugin`.
pub const TINYPXE_CORE_MODULE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tinypxe.core.wasm"));

/// The component of the hostile test fixture `name`.
pub fn fixture(name: &str) -> Option<&'static [u8]> {
    FIXTURES
        .iter()
        .find(|artifact| artifact.name == name)
        .map(|artifact| artifact.component)
}

/// The component of the built-in plugin `name`; `None` for an unknown name and for a plugin
/// this build left out (see `not_built`).
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    ALL.iter()
        .find(|artifact| artifact.name == name && !artifact.component.is_empty())
        .map(|artifact| artifact.component)
}

/// Why the built-in `name` is missing from this build, when it is: C plugins need clang and
/// wasm-ld when pxelab is built.
pub fn not_built(name: &str) -> Option<&'static str> {
    ALL.iter()
        .any(|artifact| artifact.name == name && artifact.component.is_empty())
        .then_some(
            "it is written in C and clang or wasm-ld was missing when pxelab was built: install \
             the Debian packages clang and lld, then build again",
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmparser::{ComponentTypeRef, Parser, Payload, TypeBounds};

    /// Top-level import and export names of a component. A world that `use`s a type imports it
    /// as a type equal to one from an interface import (`datagram` here); those names grant
    /// nothing, so they are left out and only imports that bring functionality are listed.
    fn imports_and_exports(component: &[u8]) -> (Vec<String>, Vec<String>) {
        let (mut imports, mut exports) = (Vec::new(), Vec::new());
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(component) {
            match payload.expect("component parses") {
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(reader) if depth == 0 => {
                    for import in reader {
                        let import = import.expect("import");
                        if !matches!(import.ty, ComponentTypeRef::Type(TypeBounds::Eq(_))) {
                            imports.push(import.name.name.to_string());
                        }
                    }
                }
                Payload::ComponentExportSection(reader) if depth == 0 => {
                    exports.extend(
                        reader
                            .into_iter()
                            .map(|e| e.expect("export").name.name.to_string()),
                    );
                }
                _ => {}
            }
        }
        (imports, exports)
    }

    #[test]
    fn components_import_only_the_pxelab_host() {
        for artifact in ALL.iter().chain(FIXTURES) {
            if not_built(artifact.name).is_some() {
                println!(
                    "{} was not built (no clang/wasm-ld): not checked",
                    artifact.name
                );
                continue;
            }
            let (imports, exports) = imports_and_exports(artifact.component);
            assert!(!imports.is_empty(), "{}: no imports at all", artifact.name);
            for import in &imports {
                assert!(
                    import.starts_with("pxelab:plugin/") && import.ends_with("@0.1.0"),
                    "{} imports {import}",
                    artifact.name
                );
                assert!(
                    !import.contains("wasi:"),
                    "{} imports {import}",
                    artifact.name
                );
            }
            for export in ["init", "on-datagram", "on-timer"] {
                assert!(
                    exports.iter().any(|e| e == export),
                    "{} lacks export {export}: {exports:?}",
                    artifact.name
                );
            }
        }
    }

    #[test]
    fn builtin_finds_every_artifact_by_name() {
        assert_eq!(ALL.len(), 6);
        for artifact in ALL {
            if not_built(artifact.name).is_some() {
                assert!(builtin(artifact.name).is_none());
                continue;
            }
            assert_eq!(
                builtin(artifact.name).map(<[u8]>::len),
                Some(artifact.component.len())
            );
            // The component-model layer: magic, version 0x0d, layer 1.
            assert_eq!(
                &artifact.component[..8],
                b"\0asm\x0d\0\x01\0",
                "{}",
                artifact.name
            );
        }
        assert!(builtin("dnsmasq").is_none());
    }

    #[test]
    fn fixtures_are_not_built_ins() {
        assert_eq!(FIXTURES.len(), 8);
        for fixture in FIXTURES {
            assert!(builtin(fixture.name).is_none(), "{}", fixture.name);
            assert_eq!(
                super::fixture(fixture.name).map(<[u8]>::len),
                Some(fixture.component.len())
            );
            assert_eq!(
                &fixture.component[..8],
                b"\0asm\x0d\0\x01\0",
                "{}",
                fixture.name
            );
        }
        assert!(super::fixture("wds-fixed").is_none());
    }
}
