//! Bad topologies get `file:line:col: what` and a hint, never a panic.

use std::path::Path;

fn error_for(text: &str) -> crate::Error {
    match crate::parse(Path::new("bad.yaml"), text) {
        Ok(_) => panic!("accepted a broken topology:\n{text}"),
        Err(error) => error,
    }
}

fn good() -> String {
    std::fs::read_to_string(super::topology_path("kb2510665.yaml")).unwrap()
}

fn line_of(text: &str, needle: &str) -> usize {
    line_where(text, |line| line.contains(needle))
}

/// The number of the first line of `text` that `holds`.
fn line_where(text: &str, holds: impl Fn(&str) -> bool) -> usize {
    text.lines()
        .position(holds)
        .expect("a line of the text holds")
        + 1
}

#[test]
fn the_shipped_topologies_load() {
    let mut loaded = 0;
    for entry in std::fs::read_dir(super::topology_path("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            crate::load(&path).unwrap_or_else(|e| panic!("{e}"));
            loaded += 1;
        }
    }
    assert!(loaded >= 7, "{loaded} topologies");
}

/// `good()` with `from` replaced by `to` once, and the error it gets.
fn broken(from: &str, to: &str) -> (String, crate::Error) {
    let text = good().replacen(from, to, 1);
    assert_ne!(text, good(), "`{from}` is not in the topology");
    let error = error_for(&text);
    (text, error)
}

/// The error for `good()` with `from` replaced by `to` once: its message contains `message`,
/// it points at the line holding `at`, and it has a hint.
fn check(from: &str, to: &str, message: &str, at: &str) -> crate::Error {
    let (text, error) = broken(from, to);
    assert!(error.message.contains(message), "{error}");
    assert_eq!(error.line, line_of(&text, at), "{error}");
    assert!(error.hint.is_some(), "{error}");
    error
}

#[test]
fn redundancy_mistakes_are_located() {
    let vip10 = "virtual_ip: 10.1.0.1, priority: 110";
    check(
        vip10,
        "version: 3, virtual_ip: 10.1.0.1, priority: 110",
        "HSRP has no version 3",
        "version: 3",
    );
    check(
        vip10,
        "virtual_ip: 10.1.0.1, priority: 110, hello: 3s, hold: 2s",
        "hold time must be longer",
        "hold: 2s",
    );
    check(
        vip10,
        "virtual_ip: 10.1.0.1, priority: 110, hello: 1500ms",
        "cannot be carried",
        "hello: 1500ms",
    );
    check(
        "group: 10, virtual_ip: 10.1.0.1, priority: 110",
        "group: 300, virtual_ip: 10.1.0.1, priority: 110",
        "group 300 is out of range",
        "group: 300",
    );
    check(
        vip10,
        "virtual_ip: 10.1.0.2, priority: 110",
        "the interface's own address",
        "virtual_ip: 10.1.0.2",
    );
    check(
        vip10,
        "virtual_ip: 10.1.0.9, priority: 110",
        "configured differently",
        "virtual_ip: 10.1.0.1, priority: 100",
    );
    check(
        "protocol: hsrp, group: 10, virtual_ip: 10.1.0.1, priority: 110",
        "protocol: vrrp, group: 10, virtual_ip: 10.1.0.1, priority: 110, hold: 3s",
        "VRRP has no hold time",
        "hold: 3s",
    );
    check(
        "redundancy: { protocol: hsrp, group: 20, virtual_ip: 10.2.0.1, priority: 110, preempt: true }",
        "helpers_follow_redundancy: true",
        "no redundancy group",
        "helpers_follow_redundancy",
    );
}

#[test]
fn lan_and_fault_mistakes_are_located() {
    check(
        "latency: uniform(10us, 60us)",
        "latency: uniform(10us, 60us)\n    loss: 1.5",
        "outside 0..1",
        "loss: 1.5",
    );
    let with_faults = |faults: &str| format!("{}\nfaults:\n{faults}", good());
    let cases = [
        (
            "  - { at: 5s, crash: r9 }",
            "unknown router or server `r9`",
            "crash: r9",
        ),
        (
            "  - { at: 5s, crash: r1, recover: r1 }",
            "exactly one action",
            "at: 5s",
        ),
        ("  - { at: 5s }", "exactly one action", "at: 5s"),
        ("  - { at: 5s, loss: 0.1 }", "change a LAN", "at: 5s"),
        (
            "  - { at: 5s, link_down: r1/Vlan99 }",
            "no interface `Vlan99`",
            "link_down",
        ),
        (
            "  - { at: 5s, link_down: nobody }",
            "is not a server, a client",
            "link_down",
        ),
        (
            "  - { at: 5s, lan: nowhere, loss: 0.1 }",
            "unknown LAN `nowhere`",
            "lan: nowhere",
        ),
        ("  - { at: soon, crash: r1 }", "", "at: soon"),
    ];
    for (fault, message, at) in cases {
        let text = with_faults(fault);
        let error = error_for(&text);
        assert!(error.message.contains(message), "{fault}: {error}");
        assert_eq!(error.line, line_of(&text, at), "{fault}: {error}");
    }
    // A good timeline loads.
    let text = with_faults(
        "  - { at: 5s, crash: r1 }\n  - { at: 6s, link_down: r2/Vlan20 }\n  - { at: 7s, lan: clients, loss: 0.2, latency: 1ms }\n  - { at: 8s, link_down: dhcp }",
    );
    crate::parse(Path::new("good.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn unknown_keys_are_located() {
    let error = check(
        "    relay_delay: lognormal(median=2ms, sigma=0.9, max=200ms)\n    interfaces:",
        "    relay_dealy: 2ms\n    interfaces:",
        "unknown field `relay_dealy`",
        "relay_dealy",
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("bad.yaml:{}:", error.line))
    );
}

#[test]
fn dangling_lan_references_are_located_with_the_known_names() {
    let (text, error) = broken(
        "lan: clients\n        ip: 10.1.0.3/24",
        "lan: client\n        ip: 10.1.0.3/24",
    );
    assert!(error.message.contains("unknown LAN `client`"), "{error}");
    let expected = line_where(&text, |line| line.trim_end().ends_with("lan: client"));
    assert_eq!(error.line, expected, "{error}");
    assert!(
        error.hint.as_deref().unwrap().contains("clients, servers"),
        "{error}"
    );
}

#[test]
fn bad_values_are_located() {
    check(
        "relay_delay: lognormal(median=2ms, sigma=0.9, max=200ms)",
        "relay_delay: gaussian(2ms)",
        "unknown distribution",
        "gaussian",
    );
    check(
        "ip: 10.2.0.20/24",
        "ip: 10.3.0.20/24",
        "not in LAN `servers`",
        "10.3.0.20",
    );

    let (_, error) = broken("ip: 10.2.0.20/24", "ip: 10.2.0.10/24");
    assert!(error.message.contains("used by both"), "{error}");
}

#[test]
fn yaml_syntax_errors_are_located() {
    let text = good().replace("lans:\n  clients:", "lans:\n  clients: [");
    let error = error_for(&text);
    assert!(error.line > 1, "{error}");
    assert!(error.column >= 1);
}
