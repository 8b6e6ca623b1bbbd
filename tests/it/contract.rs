//! The contract at load time: a component built against another version of
//! `pxelab:plugin` or importing WASI is refused with a message naming both sides, and a core
//! module built with the SDK is accepted and made a component.

use host::{PluginHost, SandboxLimits};

fn host() -> PluginHost {
    PluginHost::new(SandboxLimits::default()).unwrap()
}

fn refusal(wat: &str) -> String {
    let bytes = wat::parse_str(wat).expect("the test component assembles");
    match host().load("test.wasm", &bytes) {
        Ok(_) => panic!("accepted {wat}"),
        Err(message) => message,
    }
}

#[test]
fn a_plugin_built_for_another_contract_version_is_refused_naming_both_versions() {
    let message = refusal(r#"(component (import "pxelab:plugin/host@0.2.0" (instance)))"#);
    assert!(message.contains("pxelab:plugin@0.2.0"), "{message}");
    assert!(message.contains("pxelab:plugin@0.1.0"), "{message}");
    assert!(message.contains("test.wasm"), "{message}");
}

#[test]
fn a_plugin_importing_wasi_is_refused() {
    let message = refusal(r#"(component (import "wasi:cli/environment@0.2.0" (instance)))"#);
    assert!(message.contains("wasi:cli/environment@0.2.0"), "{message}");
    assert!(message.contains("not WASI"), "{message}");
}

#[test]
fn a_core_module_without_the_sdk_is_refused_with_a_hint() {
    let message = refusal(r#"(module (func (export "hello")))"#);
    assert!(message.contains("core wasm module"), "{message}");
    assert!(message.contains("plugins/README.md"), "{message}");
}

#[test]
fn a_core_module_built_with_the_sdk_becomes_a_component_and_loads() {
    let module = artifacts::TINYPXE_CORE_MODULE;
    assert_eq!(
        &module[..8],
        b"\0asm\x01\0\0\0",
        "a core module, as cargo writes it"
    );
    let host = host();
    let plugin = host
        .load("my_pxe.wasm", module)
        .unwrap_or_else(|e| panic!("{e}"));
    let from_component = host
        .load("tinypxe", artifacts::builtin("tinypxe").unwrap())
        .unwrap();
    // The same encoding the build uses: the same component, compiled once.
    assert!(std::sync::Arc::ptr_eq(&plugin, &from_component));
}
