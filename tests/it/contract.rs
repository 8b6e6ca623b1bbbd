//! The contract at load time: a component built against another version of
//! `pxelab:plugin` or importing WASI is refused with a message naming both sides, a core
//! module built with the SDK is accepted and made a component, and plugins built against the
//! earlier contracts (0.2.0, 0.1.0) still load and run.

use std::net::{Ipv4Addr, SocketAddrV4};

use engine::app::Refusal;
use engine::{App, AppContext, Datagram, Effect, Failure, Input, Level, Stream};
use plugin_host::{HostError, PluginHost, SandboxLimits};

fn host() -> PluginHost {
    PluginHost::new(SandboxLimits::default()).unwrap()
}

fn refusal(wat: &str) -> (HostError, String) {
    let bytes = wat::parse_str(wat).expect("the test component assembles");
    match host().load("test.wasm", &bytes) {
        Ok(_) => panic!("accepted {wat}"),
        Err(error) => {
            let message = error.to_string();
            (error, message)
        }
    }
}

#[test]
fn a_plugin_built_for_another_contract_version_is_refused_naming_both_versions() {
    let (error, message) = refusal(r#"(component (import "pxelab:plugin/host@0.4.0" (instance)))"#);
    assert_eq!(
        error,
        HostError::UnsupportedContract {
            plugin: "test.wasm".into(),
            version: "0.4.0".into()
        }
    );
    assert!(message.contains("pxelab:plugin@0.4.0"), "{message}");
    assert!(message.contains("pxelab:plugin@0.3.0"), "{message}");
    assert!(message.contains("pxelab:plugin@0.2.0"), "{message}");
    assert!(message.contains("test.wasm"), "{message}");
    let (_, message) = refusal(r#"(component (import "pxelab:plugin/host@0.0.9" (instance)))"#);
    assert!(message.contains("pxelab:plugin@0.0.9"), "{message}");
    assert!(message.contains("test.wasm"), "{message}");
}

#[test]
fn a_plugin_importing_wasi_is_refused() {
    let (error, message) =
        refusal(r#"(component (import "wasi:cli/environment@0.2.0" (instance)))"#);
    assert_eq!(
        error,
        HostError::ForeignImport {
            plugin: "test.wasm".into(),
            import: "wasi:cli/environment@0.2.0".into()
        }
    );
    assert!(message.contains("wasi:cli/environment@0.2.0"), "{message}");
    assert!(message.contains("not WASI"), "{message}");
}

#[test]
fn a_core_module_without_the_sdk_is_refused_with_a_hint() {
    let (error, message) = refusal(r#"(module (func (export "hello")))"#);
    assert_eq!(
        error,
        HostError::NoWorld {
            plugin: "test.wasm".into()
        }
    );
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

fn context() -> AppContext {
    AppContext {
        now_ns: 0,
        own_ip: Ipv4Addr::new(10, 2, 0, 20),
    }
}

/// A contract fixture, instantiated: `contract-0-1` and `contract-0-2` are built with
/// wit-bindgen against plugins/wit/v0.1.0 and v0.2.0 alone.
fn fixture(name: &str, config: Vec<(String, String)>) -> plugin_host::WasmApp {
    let host = host();
    let bytes = artifacts::fixture(name).expect("fixture");
    let plugin = host.load(name, bytes).unwrap_or_else(|e| panic!("{e}"));
    host.instantiate(&plugin, config, Stream::new(1, "test", "plugin"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn started_fixture(name: &str, config: Vec<(String, String)>) -> plugin_host::WasmApp {
    let mut app = fixture(name, config);
    app.handle(&context(), Input::Start, &mut Vec::new())
        .unwrap_or_else(|e| panic!("{e}"));
    app
}

/// The failure a fixture that refuses its configuration starts with.
fn refused_fixture(name: &str, config: Vec<(String, String)>) -> Failure {
    fixture(name, config)
        .handle(&context(), Input::Start, &mut Vec::new())
        .unwrap_err()
}

/// Three bytes from 10.2.0.2:4000 to the fixture's port 4001, and the effects of handling them.
fn echoed(app: &mut plugin_host::WasmApp) -> (Datagram, Vec<Effect>) {
    let datagram = Datagram {
        src: SocketAddrV4::new(Ipv4Addr::new(10, 2, 0, 2), 4000),
        dst: SocketAddrV4::new(Ipv4Addr::new(10, 2, 0, 20), 4001),
        payload: vec![1, 2, 3],
    };
    let mut effects = Vec::new();
    app.handle(&context(), Input::Datagram(&datagram), &mut effects)
        .unwrap_or_else(|e| panic!("{e}"));
    (datagram, effects)
}

#[test]
fn a_plugin_built_against_0_1_0_starts_answers_and_sets_timers() {
    let mut app = started_fixture("contract-0-1", Vec::new());
    let (datagram, effects) = echoed(&mut app);
    assert_eq!(
        effects,
        [
            Effect::Log {
                level: Level::Info,
                text: "echo of 3 bytes".to_string()
            },
            Effect::SetTimer {
                delay_ns: 1_000_000,
                token: 4000
            },
            Effect::Send(Datagram {
                src: datagram.dst,
                dst: datagram.src,
                payload: vec![1, 2, 3]
            }),
        ]
    );
    assert!(app.last_cost() > 0);
    let mut effects = Vec::new();
    app.handle(&context(), Input::Timer(4000), &mut effects)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&effects[..], [Effect::WindowsEvent { source, event_id: 1, text, .. }] if source == "fixture" && text == "timer 4000"),
        "{effects:?}"
    );
}

#[test]
fn a_0_1_0_refusal_is_its_message_with_no_key_and_no_code() {
    let config = vec![(
        "refuse".to_string(),
        "config `threads`: expected a whole number".to_string(),
    )];
    let failure = refused_fixture("contract-0-1", config);
    // Nothing is read out of the text: it stays the message, shown as it was.
    assert_eq!(
        failure,
        Failure::Refused(Refusal {
            key: None,
            message: "config `threads`: expected a whole number".to_string(),
            service_specific: None,
        })
    );
    assert_eq!(
        failure.to_string(),
        "refused to start: config `threads`: expected a whole number"
    );
}

#[test]
fn a_plugin_built_against_0_2_0_starts_answers_and_reports_its_work() {
    let mut app = started_fixture("contract-0-2", Vec::new());
    let (datagram, effects) = echoed(&mut app);
    assert_eq!(
        effects,
        [
            Effect::WorkBegin {
                id: 1,
                label: "echo".to_string()
            },
            Effect::Log {
                level: Level::Info,
                text: "echo of 3 bytes".to_string()
            },
            Effect::Send(Datagram {
                src: datagram.dst,
                dst: datagram.src,
                payload: vec![1, 2, 3]
            }),
            Effect::WorkEnd { id: 1 },
        ]
    );
}

#[test]
fn a_0_2_0_refusal_keeps_its_key_and_code() {
    let config = vec![("refuse".to_string(), "no".to_string())];
    let failure = refused_fixture("contract-0-2", config);
    assert_eq!(
        failure,
        Failure::Refused(Refusal {
            key: Some("refuse".to_string()),
            message: "no".to_string(),
            service_specific: Some(7),
        })
    );
}
