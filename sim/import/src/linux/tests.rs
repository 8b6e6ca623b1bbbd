//! A Linux router from the files of its folder, through whole imports.

use crate::{Input, Options, import};

const KEEPALIVED: &str = "vrrp_instance VI_1 {\n  state MASTER\n  interface eth1\n  \
                          virtual_router_id 10\n  priority 110\n  virtual_ipaddress {\n    \
                          10.1.0.1/24\n  }\n}\n";
const RELAY: &str = "SERVERS=\"10.2.0.10\"\nINTERFACES=\"eth1 eth2\"\nOPTIONS=\"-c 5\"\n";
const ADDRESSES: &str = "2: eth1    inet 10.1.0.2/24 brd 10.1.0.255 scope global eth1\n\
                         2: eth1    inet 10.1.0.1/24 scope global secondary eth1\n\
                         3: eth2    inet 10.2.0.2/24 brd 10.2.0.255 scope global eth2\n";

fn lb(folder: &str, keepalived: &str, relay: &str, addresses: &str) -> Vec<Input> {
    vec![
        Input::new(format!("{folder}/keepalived.conf"), keepalived),
        Input::new(format!("{folder}/isc-dhcp-relay"), relay),
        Input::new(format!("{folder}/ip-addr.txt"), addresses),
    ]
}

fn refused(inputs: &[Input]) -> Vec<String> {
    match import(inputs, &Options::default()) {
        Ok(imported) => panic!("imported:\n{}", imported.yaml),
        Err(errors) => errors.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn the_files_of_one_folder_are_one_router_relaying_toward_its_clients() {
    let imported = import(
        &lb("lab/lb1", KEEPALIVED, RELAY, ADDRESSES),
        &Options::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let yaml = &imported.yaml;
    // The folder names the router; the virtual IP `ip addr` shows is keepalived's, not a
    // second address; dhcrelay relays from eth1 only, eth2 being on the server's subnet.
    assert!(yaml.contains("  lb1:\n"), "{yaml}");
    assert!(
        yaml.contains(
            "    platform: keepalived\n    relay_hops_max: 5\n    forward_udp_ports: [67]\n"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("      - name: eth1\n        lan: clients\n        ip: 10.1.0.2/24\n        redundancy: { protocol: vrrp, group: 10, virtual_ip: 10.1.0.1, priority: 110, preempt: true }\n        helpers: [10.2.0.10]\n"), "{yaml}");
    assert!(
        yaml.contains("      - name: eth2\n        lan: servers\n        ip: 10.2.0.2/24\n\n"),
        "{yaml}"
    );
    assert!(imported.notes.is_empty(), "{:?}", imported.notes);
}

#[test]
fn keepalived_router_id_names_the_router_and_state_is_noted_where_the_election_differs() {
    let keepalived = format!(
        "global_defs {{\n  router_id edge-a\n}}\n{}",
        KEEPALIVED.replace("priority 110", "priority 90")
    );
    let mut inputs = lb("lab/lb1", &keepalived, RELAY, ADDRESSES);
    let backup = KEEPALIVED
        .replace("MASTER", "BACKUP")
        .replace("priority 110", "priority 100");
    let addresses = ADDRESSES
        .replace("10.1.0.2/24", "10.1.0.3/24")
        .replace("10.2.0.2/24", "10.2.0.3/24")
        .replace(
            "2: eth1    inet 10.1.0.1/24 scope global secondary eth1\n",
            "",
        );
    inputs.extend(lb("lab/lb2", &backup, RELAY, &addresses));
    let imported = import(&inputs, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(imported.yaml.contains("  edge-a:\n"), "{}", imported.yaml);
    let notes: Vec<String> = imported.notes.iter().map(|n| n.to_string()).collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].starts_with("lab/lb1/keepalived.conf:5: state MASTER on edge-a: not modelled"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with("lab/lb2/keepalived.conf:2: state BACKUP on lb2: not modelled"),
        "{notes:?}"
    );
}

#[test]
fn a_router_without_addresses_or_with_unknown_interfaces_is_an_error() {
    let errors = refused(&lb("lab/lb1", KEEPALIVED, RELAY, ADDRESSES)[..2]);
    assert_eq!(
        errors,
        [
            "lab/lb1/keepalived.conf: the Linux router in lab/lb1 has no addresses\n  hint: put its /etc/network/interfaces, or the output of `ip -o addr`, in the same folder"
        ]
    );
    let errors = refused(&lb(
        "lab/lb1",
        &KEEPALIVED.replace("eth1", "eth7"),
        &RELAY.replace("eth2", "eth9"),
        ADDRESSES,
    ));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("lab/lb1/keepalived.conf:3: vrrp_instance VI_1 runs on eth7, which has no address in lab/lb1/ip-addr.txt"), "{errors:?}");
    assert!(
        errors[1].starts_with("lab/lb1/isc-dhcp-relay:2: dhcrelay is to listen on eth9"),
        "{errors:?}"
    );
    let mut inputs = lb("lab/lb1", KEEPALIVED, RELAY, ADDRESSES);
    inputs.push(Input::new("lab/lb1/keepalived.conf.bak", KEEPALIVED));
    let errors = refused(&inputs);
    assert!(
        errors[0].starts_with("lab/lb1/keepalived.conf.bak: a second keepalived.conf in lab/lb1"),
        "{errors:?}"
    );
}
