//! Bad topologies get `file:line:col: what` and a hint, never a panic.

use std::path::Path;

fn error_for(text: &str) -> topology::Error {
    match topology::parse(Path::new("bad.yaml"), text) {
        Ok(_) => panic!("accepted a broken topology:\n{text}"),
        Err(error) => error,
    }
}

fn good() -> String {
    std::fs::read_to_string(tests::topology_path("kb2510665.yaml")).unwrap()
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.contains(needle))
        .expect("needle in text")
        + 1
}

#[test]
fn the_shipped_topologies_load() {
    for name in [
        "kb2510665.yaml",
        "kb2510665-wa1.yaml",
        "kb2510665-wa2.yaml",
        "kb2510665-fixed.yaml",
    ] {
        topology::load(&tests::topology_path(name)).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn unknown_keys_are_located() {
    let text = good().replace(
        "    relay_delay: lognormal(median=2ms, sigma=0.9, max=200ms)\n    interfaces:",
        "    relay_dealy: 2ms\n    interfaces:",
    );
    let error = error_for(&text);
    assert_eq!(error.line, line_of(&text, "relay_dealy"), "{error}");
    assert!(
        error.message.contains("unknown field `relay_dealy`"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("bad.yaml:{}:", error.line))
    );
    assert!(error.hint.is_some());
}

#[test]
fn dangling_lan_references_are_located_with_the_known_names() {
    let text = good().replacen(
        "lan: clients\n        ip: 10.1.0.3/24",
        "lan: client\n        ip: 10.1.0.3/24",
        1,
    );
    let error = error_for(&text);
    assert!(error.message.contains("unknown LAN `client`"), "{error}");
    let expected = text
        .lines()
        .position(|line| line.trim_end().ends_with("lan: client"))
        .unwrap()
        + 1;
    assert_eq!(error.line, expected, "{error}");
    assert!(
        error.hint.as_deref().unwrap().contains("clients, servers"),
        "{error}"
    );
}

#[test]
fn bad_values_are_located() {
    let text = good().replacen(
        "relay_delay: lognormal(median=2ms, sigma=0.9, max=200ms)",
        "relay_delay: gaussian(2ms)",
        1,
    );
    let error = error_for(&text);
    assert_eq!(error.line, line_of(&text, "gaussian"), "{error}");
    assert!(error.message.contains("unknown distribution"), "{error}");

    let text = good().replace("ip: 10.2.0.20/24", "ip: 10.3.0.20/24");
    let error = error_for(&text);
    assert_eq!(error.line, line_of(&text, "10.3.0.20"), "{error}");
    assert!(error.message.contains("not in LAN `servers`"), "{error}");

    let text = good().replace("ip: 10.2.0.20/24", "ip: 10.2.0.10/24");
    let error = error_for(&text);
    assert!(error.message.contains("used by both"), "{error}");
}

#[test]
fn yaml_syntax_errors_are_located() {
    let text = good().replace("lans:\n  clients:", "lans:\n  clients: [");
    let error = error_for(&text);
    assert!(error.line > 1, "{error}");
    assert!(error.column >= 1);
}
