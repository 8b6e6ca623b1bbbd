use std::sync::Arc;

use super::*;

fn read(text: &str) -> (Addresses, Findings) {
    let file: Arc<str> = "lb1/interfaces".into();
    let mut findings = Findings::new(&file);
    let addresses = parse(text, &mut findings);
    (addresses, findings)
}

fn shown(addresses: &Addresses) -> Vec<String> {
    addresses
        .addresses
        .iter()
        .map(|a| {
            let secondary = if a.secondary { " secondary" } else { "" };
            format!(
                "{} {}/{}{secondary} @{}",
                a.interface, a.ip, a.prefix_len, a.at.line
            )
        })
        .collect()
}

#[test]
fn ifupdown_reads_static_stanzas_gateways_and_routes() {
    let (addresses, findings) = read(include_str!(
        "../../../../topologies/configs/keepalived-pair/lb1/interfaces"
    ));
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    assert_eq!(
        shown(&addresses),
        ["eth1 10.1.0.2/24 @16", "eth2 10.2.0.2/24 @21"]
    );
    let route = &addresses.routes[0];
    assert_eq!(
        (route.prefix_len, route.next_hop.to_string()),
        (0, "10.2.0.254".to_string())
    );
    let lines: Vec<usize> = findings.notes.iter().map(|n| n.at.line).collect();
    assert_eq!(lines, [4, 7, 11], "source, the loopback, eth0 by DHCP");

    let (addresses, findings) = read(
        "iface eth1 inet static\n  address 10.1.0.2\n  netmask 24\n  \
         up ip route add 10.9.0.0/16 via 10.1.0.254\n  mtu 9000\n\
         iface eth1 inet static\n  address 10.1.5.2/24\n\
         iface eth1:1 inet static\n  address 10.1.6.2/24\n",
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    assert_eq!(
        shown(&addresses),
        [
            "eth1 10.1.0.2/24 @2",
            "eth1 10.1.5.2/24 secondary @7",
            "eth1 10.1.6.2/24 secondary @9"
        ]
    );
    assert_eq!(addresses.routes[0].network.to_string(), "10.9.0.0");
    assert_eq!(findings.notes[0].at.line, 5, "mtu");
}

#[test]
fn ip_addr_output_with_and_without_dash_o() {
    let (addresses, findings) = read(include_str!(
        "../../../../topologies/configs/keepalived-pair/lb2/ip-addr.txt"
    ));
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    assert_eq!(
        shown(&addresses),
        [
            "eth0 192.168.122.52/24 @4",
            "eth1 10.1.0.3/24 @5",
            "eth2 10.2.0.3/24 @6"
        ]
    );
    assert_eq!(findings.notes[0].at.line, 3, "the loopback");

    let (addresses, findings) = read(
        "2: ens4@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n    \
         link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n    \
         inet 10.1.0.2/24 brd 10.1.0.255 scope global ens4\n       \
         valid_lft forever preferred_lft forever\n    \
         inet 10.1.0.1/24 scope global secondary ens4\n       \
         valid_lft forever preferred_lft forever\n    \
         inet6 fe80::5054:ff:fe12:3456/64 scope link\n       \
         valid_lft forever preferred_lft forever\n    \
         inet6 2001:db8::2/64 scope global\n",
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    assert_eq!(
        shown(&addresses),
        ["ens4 10.1.0.2/24 @3", "ens4 10.1.0.1/24 secondary @5"]
    );
    let lines: Vec<usize> = findings.notes.iter().map(|n| n.at.line).collect();
    assert_eq!(lines, [9], "the global IPv6 address");
}

#[test]
fn bad_input_is_an_error_at_its_file_and_line() {
    let cases = [
        (
            "iface eth1 inet static\n  address 10.1.0.300/24\n",
            "lb1/interfaces:2: `10.1.0.300/24` is not an IPv4 address",
        ),
        (
            "iface eth1 inet static\n  netmask 255.255.255.0\n",
            "lb1/interfaces:1: `iface eth1 inet static` has no address",
        ),
        (
            "iface eth1 inet static\n  address 10.1.0.2\n",
            "lb1/interfaces:2: the address of eth1 has no prefix length or netmask",
        ),
        (
            "iface eth1 inet static\n  address 10.1.0.2\n  netmask 255.0.255.0\n",
            "lb1/interfaces:3: `255.0.255.0` is not a netmask",
        ),
        ("iface eth1\n", "lb1/interfaces:1: cannot read `iface eth1`"),
        (
            "3: eth1    inet 10.1.0.3 brd 10.1.0.255 scope global eth1\n",
            "lb1/interfaces:1: `10.1.0.3` is not an address with its prefix length",
        ),
    ];
    for (text, expected) in cases {
        let errors: Vec<String> = read(text).1.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{text:?}: {errors:?}");
        assert!(errors[0].starts_with(expected), "{text:?}: {:?}", errors[0]);
    }
}
