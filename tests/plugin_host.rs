//! The plugin host contains whatever a plugin does: fuel and memory exhaustion, traps and bad
//! configuration end as a `Failure` of that instance, and a restart brings a fresh instance.

use std::net::Ipv4Addr;

use engine::{App, AppContext, Effect, Failure, Input, Stream};
use host::{PluginHost, SandboxLimits};

fn context() -> AppContext {
    AppContext {
        now_ns: 0,
        own_ip: Ipv4Addr::new(10, 2, 0, 20),
    }
}

fn wds_config() -> Vec<(String, String)> {
    vec![("threads".to_string(), "4".to_string())]
}

fn instance(
    limits: SandboxLimits,
    plugin: &str,
    config: Vec<(String, String)>,
) -> Result<host::WasmApp, String> {
    let host = PluginHost::new(limits)?;
    let loaded = host.load(plugin, artifacts::builtin(plugin).expect("built-in plugin"))?;
    host.instantiate(&loaded, config, Stream::new(1, "test", "plugin"))
}

#[test]
fn every_builtin_plugin_loads_and_starts() {
    for artifact in artifacts::ALL {
        let config = match artifact.name {
            "dhcp-server" => vec![
                ("pool".into(), "10.1.0.100-10.1.0.199".into()),
                ("subnet_mask".into(), "255.255.255.0".into()),
                ("router".into(), "10.1.0.1".into()),
            ],
            _ => wds_config(),
        };
        let mut app = instance(SandboxLimits::default(), artifact.name, config).unwrap();
        let mut effects = Vec::new();
        app.handle(&context(), Input::Start, &mut effects)
            .unwrap_or_else(|e| panic!("{}: {e}", artifact.name));
    }
}

#[test]
fn running_out_of_fuel_is_a_crash_and_a_restart_recovers() {
    let limits = SandboxLimits {
        fuel_per_call: 2_000,
        ..SandboxLimits::default()
    };
    let mut app = instance(limits, "wds-sccm2007", wds_config()).unwrap();
    let mut effects = Vec::new();
    let failure = app
        .handle(&context(), Input::Start, &mut effects)
        .unwrap_err();
    let Failure::Crashed { reason } = failure else {
        panic!("expected a crash, got {failure:?}")
    };
    assert!(reason.contains("fuel budget of 2000"), "{reason}");
    // A trapped instance stays dead until the service is restarted.
    let again = app
        .handle(&context(), Input::Timer(1), &mut effects)
        .unwrap_err();
    assert!(again.to_string().contains("trapped earlier"), "{again}");
    // After a restart the instance is fresh: it runs (and, on this budget, runs out again).
    app.reset().unwrap();
    let fresh = app
        .handle(&context(), Input::Start, &mut effects)
        .unwrap_err();
    assert!(fresh.to_string().contains("fuel budget"), "{fresh}");
}

#[test]
fn a_memory_cap_below_what_the_plugin_needs_is_reported() {
    let limits = SandboxLimits {
        memory_bytes_max: 64 << 10,
        ..SandboxLimits::default()
    };
    match instance(limits, "wds-sccm2007", wds_config()) {
        Err(message) => assert!(message.contains("instantiate"), "{message}"),
        Ok(mut app) => {
            let failure = app
                .handle(&context(), Input::Start, &mut Vec::new())
                .unwrap_err();
            assert!(failure.to_string().contains("memory"), "{failure}");
        }
    }
}

#[test]
fn a_bad_configuration_is_refused_with_the_plugins_message() {
    let config = vec![("threads".to_string(), "many".to_string())];
    let mut app = instance(SandboxLimits::default(), "wds-sccm2007", config).unwrap();
    let mut effects = Vec::new();
    let failure = app
        .handle(&context(), Input::Start, &mut effects)
        .unwrap_err();
    let Failure::Refused { reason } = failure else {
        panic!("expected a refusal, got {failure:?}")
    };
    assert!(
        reason.contains("threads") && reason.contains("many"),
        "{reason}"
    );

    let config = vec![("thread".to_string(), "4".to_string())];
    let mut app = instance(SandboxLimits::default(), "wds-sccm2007", config).unwrap();
    let failure = app
        .handle(&context(), Input::Start, &mut effects)
        .unwrap_err();
    assert!(failure.to_string().contains("thread"), "{failure}");
    assert!(effects.iter().all(|e| !matches!(e, Effect::Send(_))));
}

#[test]
fn garbage_is_not_a_component() {
    let host = PluginHost::new(SandboxLimits::default()).unwrap();
    let error = host
        .load("junk.wasm", b"\0asm\x01\0\0\0garbage")
        .err()
        .expect("refused");
    assert!(
        error.contains("junk.wasm") && error.contains("not a valid WebAssembly component"),
        "{error}"
    );
}

/// A plugin's refusal of its configuration is bad input, pointed at the server's `config:`.
#[test]
fn a_refused_configuration_is_a_located_topology_error() {
    let path = tests::topology_path("kb2510665.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replace("      threads: 4 ", "      threads: lots ");
    assert_ne!(broken, text);
    let plan = topology::parse(&path, &broken).unwrap();
    let error = pxelab::run(&plan, 0, tests::services())
        .err()
        .expect("refused");
    let wds_line = broken.lines().position(|l| l.trim() == "wds:").unwrap();
    let config_line = wds_line
        + broken
            .lines()
            .skip(wds_line)
            .position(|l| l.trim() == "config:")
            .unwrap()
        + 1;
    assert_eq!(error.line, config_line, "{error}");
}
