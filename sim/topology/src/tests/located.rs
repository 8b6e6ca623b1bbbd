//! The located errors of the planner and their rendering under the line of the file.

use crate::*;

const SMALL: &str = "name: small
lans:
  clients: { subnet: 10.1.0.0/24, latency: 20us }
  servers: { subnet: 10.2.0.0/24, latency: 20us }
routers:
  r1:
    relay_delay: 2ms
    interfaces:
      - { name: Vlan10, lan: clients, ip: 10.1.0.1/24, helpers: [10.2.0.10] }
      - { name: Vlan20, lan: servers, ip: 10.2.0.1/24 }
servers:
  dhcp: { lan: servers, ip: 10.2.0.10/24, gateway: 10.2.0.1, plugin: dhcp-server }
clients:
  - name: pc
    lan: clients
    arch: bios
    power_on: 0s
";

fn error(from: &str, to: &str) -> Error {
    let text = SMALL.replacen(from, to, 1);
    assert_ne!(text, SMALL, "`{from}` is not in the topology");
    match parse(Path::new("bad.yaml"), &text) {
        Ok(_) => panic!("accepted `{to}`"),
        Err(error) => error,
    }
}

fn spanned(error: &Error) -> &str {
    let span = error.span().expect("a span");
    &error.source().expect("the text")[span]
}

#[test]
fn the_small_topology_plans() {
    parse(Path::new("small.yaml"), SMALL).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn errors_have_a_kind_and_a_span_on_their_line() {
    let unknown = error(
        "lan: servers, ip: 10.2.0.1/24",
        "lan: nowhere, ip: 10.2.0.1/24",
    );
    assert_eq!(unknown.kind, ErrorKind::Unknown);
    assert_eq!(spanned(&unknown), "lan: nowhere");
    assert_eq!(
        unknown.to_string(),
        "bad.yaml:10:25: unknown LAN `nowhere`\n  hint: the LANs are: clients, servers"
    );
    assert_eq!(
        unknown.render(),
        "bad.yaml:10:25: unknown LAN `nowhere`
   |
10 |       - { name: Vlan20, lan: nowhere, ip: 10.2.0.1/24 }
   |                         ^^^^^^^^^^^^
  hint: the LANs are: clients, servers"
    );

    let value = error("relay_delay: 2ms", "relay_delay: soon");
    assert_eq!(value.kind, ErrorKind::Value);
    assert_eq!(spanned(&value), "relay_delay: soon");

    let conflict = error("ip: 10.2.0.10/24", "ip: 10.2.0.1/24");
    assert_eq!(conflict.kind, ErrorKind::Conflict);
    assert_eq!(spanned(&conflict), "ip: 10.2.0.1/24");
    assert!(
        conflict
            .message
            .contains("is used by both r1 Vlan20 and dhcp"),
        "{conflict}"
    );

    let syntax = error("    arch: bios", "    arch: bios\n    colour: red");
    assert_eq!(syntax.kind, ErrorKind::Syntax);
    assert_eq!((syntax.line, syntax.column), (17, 5), "{syntax}");
    assert_eq!(spanned(&syntax), "colour: red");
}

#[test]
fn errors_outside_the_file_have_no_snippet() {
    let mut plan = parse(Path::new("small.yaml"), SMALL).unwrap();
    let error = plan.override_plugin("wds", "wds").unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unknown);
    assert_eq!((error.line, error.span()), (0, None));
    assert_eq!(error.render(), error.to_string());
    let gone = load(Path::new("/nonexistent/topology.yaml")).err().unwrap();
    assert_eq!(gone.kind, ErrorKind::Read);
    assert!(
        gone.render()
            .starts_with("/nonexistent/topology.yaml: cannot read")
    );
}
