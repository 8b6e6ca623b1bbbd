use std::sync::Arc;

use super::*;

fn read(text: &str) -> (Relay, Findings) {
    let file: Arc<str> = "lb1/isc-dhcp-relay".into();
    let mut findings = Findings::new(&file);
    let relay = parse(text, &mut findings);
    (relay, findings)
}

fn names(list: &[(String, Loc)]) -> Vec<&str> {
    list.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn the_shipped_defaults_file_reads_as_servers_interfaces_and_option_82() {
    let (relay, findings) = read(include_str!(
        "../../../../topologies/configs/keepalived-pair/lb1/isc-dhcp-relay"
    ));
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    let servers: Vec<String> = relay.servers.iter().map(|(ip, _)| ip.to_string()).collect();
    assert_eq!(servers, ["10.2.0.10", "10.2.0.20"]);
    assert_eq!(relay.servers[0].1.line, 12);
    assert_eq!(names(&relay.interfaces), ["eth1", "eth2"]);
    assert!(relay.option82.is_some());
    assert!(findings.notes.is_empty());
}

#[test]
fn options_set_the_hop_limit_the_interface_roles_and_note_the_rest() {
    let (relay, findings) = read(
        "SERVERS='10.2.0.10'\nexport INTERFACES=\"\"\n\
         OPTIONS=\"-4 -q -c 4 -iu eth2 -id eth1 -m replace 10.2.0.20\"\n",
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    assert_eq!(relay.hops_max, Some(4));
    assert_eq!(names(&relay.upstream), ["eth2"]);
    assert_eq!(names(&relay.downstream), ["eth1"]);
    assert!(relay.interfaces.is_empty());
    assert_eq!(relay.servers.len(), 2, "a server in OPTIONS counts too");
    let what: Vec<&str> = findings.notes.iter().map(|n| n.what.as_str()).collect();
    assert_eq!(what, ["OPTIONS -q", "OPTIONS -m replace"]);
}

#[test]
fn bad_input_is_an_error_at_its_file_and_line() {
    let cases = [
        (
            "SERVERS=\"10.2.0.10\"\nSERVER=\"10.2.0.20\"\n",
            "lb1/isc-dhcp-relay:2: unknown setting `SERVER`",
        ),
        (
            "SERVERS=\"dhcp.lab.example\"\n",
            "lb1/isc-dhcp-relay:1: `dhcp.lab.example` is not an IPv4 address",
        ),
        (
            "SERVERS=\"10.2.0.10\"\nOPTIONS=\"-a -x\"\n",
            "lb1/isc-dhcp-relay:2: unknown dhcrelay option `-x`",
        ),
        (
            "SERVERS=\"10.2.0.10\nINTERFACES=\"eth1\"\n",
            "lb1/isc-dhcp-relay:1: the value of SERVERS is not closed by its quote",
        ),
        (
            "SERVERS=\"10.2.0.10\"\nOPTIONS=\"-c\"\n",
            "lb1/isc-dhcp-relay:2: dhcrelay option -c needs a value",
        ),
        (
            "SERVERS=\"10.2.0.10\"\ndhcrelay -a\n",
            "lb1/isc-dhcp-relay:2: cannot read `dhcrelay -a`",
        ),
    ];
    for (text, expected) in cases {
        let errors: Vec<String> = read(text).1.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{text:?}: {errors:?}");
        assert!(errors[0].starts_with(expected), "{text:?}: {:?}", errors[0]);
    }
}
