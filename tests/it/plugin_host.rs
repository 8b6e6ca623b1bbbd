//! The plugin host contains whatever a plugin does: fuel and memory exhaustion, traps and bad
//! configuration end as a `Failure` of that instance, and a restart brings a fresh instance.

use std::net::Ipv4Addr;

use engine::{App, AppContext, Effect, Failure, Input, Stream};
use plugin_host::{PluginHost, SandboxLimits};

fn context() -> AppContext {
    AppContext {
        now_ns: 0,
        own_ip: Ipv4Addr::new(10, 2, 0, 20),
    }
}

fn wds_config() -> Vec<(String, String)> {
    vec![("threads".to_string(), "4".to_string())]
}

/// How `app`'s start fails; a start that succeeds fails the test.
fn start_failure(app: &mut plugin_host::WasmApp, effects: &mut Vec<Effect>) -> Failure {
    app.handle(&context(), Input::Start, effects)
        .expect_err("the start fails")
}

fn instance(
    limits: SandboxLimits,
    plugin: &str,
    config: Vec<(String, String)>,
) -> Result<plugin_host::WasmApp, plugin_host::HostError> {
    let host = PluginHost::new(limits)?;
    let loaded = host.load(plugin, artifacts::builtin(plugin).expect("built-in plugin"))?;
    host.instantiate(&loaded, config, Stream::new(1, "test", "plugin"))
}

#[test]
fn every_builtin_plugin_loads_and_starts() {
    for artifact in artifacts::ALL {
        if let Some(why) = artifacts::not_built(artifact.name) {
            // A C plugin on a machine without clang: built empty, reported, never loaded.
            crate::tools::missing(
                why,
                &format!("loading the built-in plugin `{}`", artifact.name),
            );
            continue;
        }
        let config = match artifact.name {
            "dhcp-server" | "dhcp-server-variants" => vec![
                ("pool".into(), "10.1.0.100-10.1.0.199".into()),
                ("subnet_mask".into(), "255.255.255.0".into()),
                ("router".into(), "10.1.0.1".into()),
            ],
            "wds-sccm2007" | "wds-fixed" => wds_config(),
            // Plugins added later start with their defaults unless they need an entry here.
            _ => Vec::new(),
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
    let failure = start_failure(&mut app, &mut effects);
    let Failure::Crashed(reason) = failure else {
        panic!("expected a crash, got {failure:?}")
    };
    let reason = reason.to_string();
    assert!(reason.contains("fuel budget of 2000"), "{reason}");
    // A trapped instance stays dead until the service is restarted.
    let again = app
        .handle(&context(), Input::Timer(1), &mut effects)
        .unwrap_err();
    assert!(again.to_string().contains("trapped earlier"), "{again}");
    // After a restart the instance is fresh: it runs (and, on this budget, runs out again).
    app.reset().unwrap();
    let fresh = start_failure(&mut app, &mut effects);
    assert!(fresh.to_string().contains("fuel budget"), "{fresh}");
}

#[test]
fn a_memory_cap_below_what_the_plugin_needs_is_reported() {
    let limits = SandboxLimits {
        memory_bytes_max: 64 << 10,
        ..SandboxLimits::default()
    };
    match instance(limits, "wds-sccm2007", wds_config()) {
        Err(error) => assert!(
            matches!(error, plugin_host::HostError::CannotInstantiate { .. }),
            "{error}"
        ),
        Ok(mut app) => {
            let failure = start_failure(&mut app, &mut Vec::new());
            assert!(failure.to_string().contains("memory"), "{failure}");
        }
    }
}

#[test]
fn a_bad_configuration_is_refused_with_the_plugins_message() {
    let config = vec![("threads".to_string(), "many".to_string())];
    let mut app = instance(SandboxLimits::default(), "wds-sccm2007", config).unwrap();
    let mut effects = Vec::new();
    let failure = start_failure(&mut app, &mut effects);
    let Failure::Refused(reason) = failure else {
        panic!("expected a refusal, got {failure:?}")
    };
    let reason = reason.to_string();
    assert!(
        reason.contains("threads") && reason.contains("many"),
        "{reason}"
    );

    let config = vec![("thread".to_string(), "4".to_string())];
    let mut app = instance(SandboxLimits::default(), "wds-sccm2007", config).unwrap();
    let failure = start_failure(&mut app, &mut effects);
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
        matches!(&error, plugin_host::HostError::NotWasm { plugin, .. } if plugin == "junk.wasm"),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("plugin `junk.wasm` is not a valid WebAssembly component or module"),
        "{error}"
    );
}

/// A plugin's refusal of its configuration is bad input, pointed at the server's `config:`.
#[test]
fn a_refused_configuration_is_a_located_topology_error() {
    let path = crate::common::topology_path("kb2510665.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replace("      threads: 4 ", "      threads: lots ");
    assert_ne!(broken, text);
    let plan = topology::parse(&path, &broken).unwrap();
    let error = lab::run(&plan, 0, crate::common::services())
        .err()
        .expect("refused");
    // The error points at the refused key's own line.
    let threads_line = broken
        .lines()
        .position(|l| l.trim_start().starts_with("threads: lots"))
        .unwrap()
        + 1;
    assert_eq!(error.line, threads_line, "{error}");
    assert!(error.message.contains("config `threads`"), "{error}");
}

/// A temporary cache folder of its own, emptied first.
fn cache_folder(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pxelab-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Loads every built-in plugin in a fresh host (a fresh process, as far as wasmtime is
/// concerned) with the disk cache in `dir`; returns how many came from the cache and the time.
fn load_builtins(dir: &std::path::Path) -> (usize, std::time::Duration) {
    let started = std::time::Instant::now();
    let host = PluginHost::with_cache(SandboxLimits::default(), Some(dir.to_path_buf())).unwrap();
    let from_cache = artifacts::ALL
        .iter()
        .map(|artifact| host.load(artifact.name, artifact.component).unwrap())
        .filter(|plugin| plugin.loaded_from_cache)
        .count();
    (from_cache, started.elapsed())
}

/// The second start finds every built-in precompiled on disk. The timings are printed (run
/// with `--nocapture`), never asserted: speed belongs to benchmarks.
#[test]
fn a_second_start_loads_the_builtins_from_the_disk_cache() {
    let dir = cache_folder("builtins");
    let (cold_hits, cold) = load_builtins(&dir);
    let (warm_hits, warm) = load_builtins(&dir);
    println!(
        "{} built-in plugins: cold start (compile + write cache) {cold:?}, warm start (from cache) {warm:?}",
        artifacts::ALL.len()
    );
    assert_eq!(cold_hits, 0);
    assert_eq!(warm_hits, artifacts::ALL.len());
    let entries = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        entries,
        artifacts::ALL.len(),
        "one entry per plugin, no leftovers"
    );

    // A cached plugin runs like a compiled one: same effects, same fuel.
    let run = |host: &PluginHost| {
        let plugin = host
            .load("wds-sccm2007", artifacts::builtin("wds-sccm2007").unwrap())
            .unwrap();
        let mut app = host
            .instantiate(&plugin, wds_config(), Stream::new(1, "test", "plugin"))
            .unwrap();
        let mut effects = Vec::new();
        app.handle(&context(), Input::Start, &mut effects).unwrap();
        (effects, app.last_cost(), plugin.loaded_from_cache)
    };
    let compiled = run(&PluginHost::new(SandboxLimits::default()).unwrap());
    let cached = run(&PluginHost::with_cache(SandboxLimits::default(), Some(dir.clone())).unwrap());
    assert!(cached.2 && !compiled.2);
    assert_eq!((&cached.0, cached.1), (&compiled.0, compiled.1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A damaged entry is reported and replaced, never trusted and never fatal; an unwritable cache
/// folder only costs the speed-up.
#[test]
fn a_corrupt_or_unwritable_cache_is_ignored() {
    let dir = cache_folder("corrupt");
    let (name, bytes) = ("dhcp-server", artifacts::builtin("dhcp-server").unwrap());
    let load = |dir: &std::path::Path| {
        PluginHost::with_cache(SandboxLimits::default(), Some(dir.to_path_buf()))
            .unwrap()
            .load(name, bytes)
            .map(|plugin| plugin.loaded_from_cache)
    };
    assert_eq!(load(&dir), Ok(false));
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for damage in [b"garbage".to_vec(), Vec::new(), {
        let mut truncated = std::fs::read(&entry).unwrap();
        truncated.truncate(truncated.len() / 2);
        truncated
    }] {
        std::fs::write(&entry, &damage).unwrap();
        assert_eq!(load(&dir), Ok(false), "a damaged entry is recompiled");
        assert_eq!(load(&dir), Ok(true), "and rewritten");
    }

    // A regular file where the folder should be: nothing can be written, everything works.
    let blocked = cache_folder("blocked");
    std::fs::write(&blocked, b"not a folder").unwrap();
    assert_eq!(load(&blocked), Ok(false));
    assert_eq!(load(&blocked), Ok(false));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&blocked);
}

/// `--plugin NODE=PLUGIN` swaps a server's plugin for one invocation and shows in the replay.
#[test]
fn a_plugin_override_replaces_one_servers_plugin() {
    let mut plan = crate::common::plan("kb2510665.yaml");
    let before = crate::common::run(&plan, 0).into_report();
    assert!(!before.crashes.is_empty(), "seed 0 crashes wds-sccm2007");

    plan.override_plugin("wds", "wds-fixed").unwrap();
    let after = crate::common::run(&plan, 0).into_report();
    assert!(after.crashes.is_empty(), "{:?}", after.crashes);
    assert!(after.all_booted());
    assert_eq!(
        lab::replay_command(&plan, 0),
        format!(
            "pxelab run {} --seed 0 --plugin wds=wds-fixed",
            plan.file.display()
        )
    );

    let error = plan.override_plugin("wsd", "wds-fixed").unwrap_err();
    assert!(error.message.contains("`wsd`"), "{error}");
    assert_eq!(error.hint.as_deref(), Some("server nodes: dhcp, wds"));
}
