//! Per-call sandbox limits at the `App` boundary: a plugin that sends too many datagrams, sets
//! too many timers, writes too many log records or sends a datagram too large for one frame ends
//! its call as a crash naming the limit, and what it did within the limits still happens.

use std::net::{Ipv4Addr, SocketAddrV4};

use engine::app::{CrashCause, Limit};
use engine::{App, AppContext, Datagram, Effect, Failure, Input, Stream};
use plugin_host::{PluginHost, SandboxLimits};

fn context() -> AppContext {
    AppContext {
        now_ns: 0,
        own_ip: Ipv4Addr::new(10, 2, 0, 20),
    }
}

/// A started instance of the hostile fixture `name`.
fn started(limits: SandboxLimits, name: &str) -> plugin_host::WasmApp {
    let host = PluginHost::new(limits).unwrap();
    let bytes = artifacts::fixture(name).expect("fixture");
    let plugin = host.load(name, bytes).unwrap();
    let mut app = host
        .instantiate(&plugin, Vec::new(), Stream::new(1, "test", "plugin"))
        .unwrap();
    app.handle(&context(), Input::Start, &mut Vec::new())
        .unwrap_or_else(|e| panic!("{name} starts: {e}"));
    app
}

/// Hands `app` one DHCP-port datagram; returns the call's effects and failure.
fn poke(app: &mut plugin_host::WasmApp) -> (Vec<Effect>, Failure) {
    let datagram = Datagram {
        src: SocketAddrV4::new(Ipv4Addr::new(10, 2, 0, 2), engine::router::DHCP_SERVER_PORT),
        dst: SocketAddrV4::new(
            Ipv4Addr::new(10, 2, 0, 20),
            engine::router::DHCP_SERVER_PORT,
        ),
        payload: vec![1; 300],
    };
    let mut effects = Vec::new();
    let failure = app
        .handle(&context(), Input::Datagram(&datagram), &mut effects)
        .expect_err("the fixture breaks a limit");
    (effects, failure)
}

fn crash_cause(failure: Failure) -> CrashCause {
    match failure {
        Failure::Crashed(cause) => cause,
        other => panic!("expected a crash, got {other:?}"),
    }
}

/// Pokes a fresh instance of the fixture `name` (default limits): it must crash with exactly
/// `reason`. Returns the effects of the call.
fn crashes_with(name: &str, reason: &str) -> Vec<Effect> {
    let mut app = started(SandboxLimits::default(), name);
    let (effects, failure) = poke(&mut app);
    assert_eq!(crash_reason(failure), reason, "{name}");
    effects
}

fn crash_reason(failure: Failure) -> String {
    crash_cause(failure).to_string()
}

fn count(effects: &[Effect], matches: fn(&Effect) -> bool) -> usize {
    effects.iter().filter(|effect| matches(effect)).count()
}

/// A send storm ends at the limit with the sends before it kept; a datagram larger than a
/// frame is a crash and is not sent.
#[test]
fn a_broken_send_limit_is_a_crash_that_keeps_only_the_sends_before_it() {
    for (fixture, limit, max, reason, sent) in [
        (
            "send-storm",
            Limit::Datagrams,
            256,
            "sent more than 256 datagrams in one call",
            256,
        ),
        (
            "oversized-datagram",
            Limit::DatagramBytes,
            1472,
            "sent a datagram larger than one Ethernet frame allows (1472)",
            0,
        ),
    ] {
        let mut app = started(SandboxLimits::default(), fixture);
        let (effects, failure) = poke(&mut app);
        let cause = crash_cause(failure);
        assert_eq!(cause, CrashCause::LimitBroken { limit, max }, "{fixture}");
        assert_eq!(cause.to_string(), reason, "{fixture}");
        let sends = count(&effects, |e| matches!(e, Effect::Send(_)));
        assert_eq!(sends, sent, "{fixture}");
    }
}

#[test]
fn a_timer_storm_ends_at_the_limit() {
    let effects = crashes_with("timer-storm", "set more than 256 timers in one call");
    assert_eq!(
        count(&effects, |e| matches!(e, Effect::SetTimer { .. })),
        256
    );
}

#[test]
fn limits_are_configurable_and_counted_per_call() {
    let limits = SandboxLimits {
        sends_per_call_max: 10,
        timers_per_call_max: 3,
        ..SandboxLimits::default()
    };
    let mut app = started(limits, "send-storm");
    let (effects, failure) = poke(&mut app);
    assert_eq!(
        crash_reason(failure),
        "sent more than 10 datagrams in one call"
    );
    assert_eq!(effects.len(), 10);
    // After a restart the count starts again from zero.
    app.reset().unwrap();
    app.handle(&context(), Input::Start, &mut Vec::new())
        .unwrap();
    let (effects, _) = poke(&mut app);
    assert_eq!(effects.len(), 10);

    let mut app = started(limits, "timer-storm");
    let (effects, failure) = poke(&mut app);
    assert_eq!(crash_reason(failure), "set more than 3 timers in one call");
    assert_eq!(effects.len(), 3);
}

#[test]
fn fuel_memory_and_panics_name_their_cause() {
    let (_, failure) = poke(&mut started(SandboxLimits::default(), "endless-loop"));
    let cause = crash_cause(failure);
    assert_eq!(
        cause,
        CrashCause::OutOfFuel {
            fuel_per_call: 100_000_000
        }
    );
    assert!(
        cause.to_string().contains("fuel budget of 100000000"),
        "{cause}"
    );

    let (_, failure) = poke(&mut started(SandboxLimits::default(), "memory-bomb"));
    let cause = crash_cause(failure);
    assert_eq!(
        cause,
        CrashCause::MemoryLimit {
            bytes_max: 64 << 20
        }
    );
    assert!(
        cause.to_string().contains("memory limit of 64 MiB"),
        "{cause}"
    );

    let (effects, failure) = poke(&mut started(SandboxLimits::default(), "panic"));
    let CrashCause::Panic { message, trap } = crash_cause(failure.clone()) else {
        panic!("expected a panic, got {failure:?}")
    };
    // The SDK's hook reports the message and where, through `panicked`, before the trap.
    assert!(
        message.starts_with("fixture panic on a datagram from 10.2.0.2:67 at "),
        "{message}"
    );
    assert!(
        message.contains("plugins/fixtures/panic/src/lib.rs"),
        "{message}"
    );
    assert_eq!(
        *trap,
        CrashCause::Trap {
            code: "UnreachableCodeReached".to_string()
        }
    );
    let reason = failure.to_string();
    assert!(
        reason.starts_with(
            "wasm trap: UnreachableCodeReached; panic: fixture panic on a datagram from 10.2.0.2:67"
        ),
        "{reason}"
    );
    // The hook's log line stays, for people.
    assert!(effects.iter().any(
        |e| matches!(e, Effect::Log { text, .. } if text.starts_with("panic: fixture panic"))
    ));
}

#[test]
fn a_panic_text_logged_without_panicking_is_no_panic() {
    // The log-storm fixture logs text of its own; only `panicked` makes a crash a panic.
    let (_, failure) = poke(&mut started(SandboxLimits::default(), "log-storm"));
    assert!(!matches!(crash_cause(failure), CrashCause::Panic { .. }));
}

#[test]
fn a_log_storm_ends_at_the_limit_with_each_record_cut_short() {
    let effects = crashes_with("log-storm", "wrote more than 1024 log records in one call");
    assert_eq!(effects.len(), 1024);
    for effect in &effects {
        let Effect::Log { text, .. } = effect else {
            panic!("{effect:?}")
        };
        assert!(
            text.len() < plugin_host::LOG_TEXT_BYTES_MAX + 64,
            "{}",
            text.len()
        );
        assert!(text.ends_with("... (cut from 65536 bytes)"), "{text:.40}");
    }
}
