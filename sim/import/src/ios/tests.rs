use std::net::Ipv4Addr;

use super::*;
use crate::model::Group;

fn read(text: &str) -> (Router, Findings) {
    let file: Arc<str> = "r1.cfg".into();
    let mut findings = Findings::new(&file);
    let router = parse(&file, text, &mut findings);
    (router, findings)
}

/// The errors of `text`, rendered.
fn errors(text: &str) -> Vec<String> {
    read(text).1.errors.iter().map(|e| e.to_string()).collect()
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

fn group<'r>(router: &'r Router, interface: &str) -> &'r Group {
    let interface = router
        .interfaces
        .iter()
        .find(|i| i.name == interface)
        .unwrap();
    &interface.groups[0]
}

#[test]
fn the_shipped_kb2510665_switch_reads_as_its_interfaces_groups_and_helpers() {
    let (router, findings) = read(include_str!(
        "../../../../topologies/configs/kb2510665/r1.cfg"
    ));
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    assert_eq!(router.name, "r1");
    assert_eq!(router.name_at.line, 20);
    let names: Vec<&str> = router.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "GigabitEthernet1/0/1",
            "GigabitEthernet1/0/24",
            "Vlan1",
            "Vlan10",
            "Vlan20"
        ]
    );
    let vlan10 = &router.interfaces[3];
    let address = vlan10.address.as_ref().unwrap();
    assert_eq!((address.ip, address.prefix_len), (ip("10.1.0.2"), 24));
    let helpers: Vec<Ipv4Addr> = vlan10.helpers.iter().map(|h| h.address).collect();
    assert_eq!(helpers, [ip("10.2.0.10"), ip("10.2.0.20")]);
    let hsrp = group(&router, "Vlan10");
    assert_eq!(hsrp.protocol, Protocol::Hsrp);
    assert_eq!(hsrp.number, 10);
    assert_eq!(hsrp.virtual_ip, Some(ip("10.1.0.1")));
    assert_eq!(hsrp.priority, Some(110));
    assert_eq!(hsrp.preempt, Some(true));
    assert!(router.interfaces[2].shutdown.is_some());
    assert_eq!(router.routes.len(), 1);
    // Every line that is not read is a note, with its line: `ntp server` is line 81.
    let ntp = findings
        .notes
        .iter()
        .find(|n| n.what.starts_with("ntp"))
        .unwrap();
    assert_eq!(ntp.at.line, 81);
    assert!(ntp.why.contains("device management"), "{ntp}");
    // A block's note covers the lines under it.
    let vty = findings
        .notes
        .iter()
        .find(|n| n.what == "line vty 0 4")
        .unwrap();
    assert_eq!((vty.at.line, vty.through), (85, Some(86)));
}

#[test]
fn standby_reads_groups_versions_timers_preemption_and_names() {
    let (router, findings) = read(
        "hostname r1\n\
         interface Vlan10\n \
         ip address 10.1.0.2 255.255.255.0\n \
         standby version 2\n \
         standby 10 ip\n \
         standby 10 timers msec 250 msec 750\n \
         standby 10 preempt delay minimum 30 reload 60\n \
         standby 10 name CLIENTS\n \
         standby 10 authentication md5 key-string s3cret\n \
         standby 10 track 1 decrement 20\n\
         interface Vlan20\n \
         ip address 10.2.0.2 255.255.255.0\n \
         standby ip 10.2.0.1\n",
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    let hsrp = group(&router, "Vlan10");
    assert_eq!(hsrp.version, Some(2));
    assert_eq!(hsrp.virtual_ip, None, "learned from the Active router");
    assert_eq!((hsrp.hello_ms, hsrp.hold_ms), (Some(250), Some(750)));
    assert_eq!(
        (hsrp.preempt, hsrp.preempt_delay_ms),
        (Some(true), Some(30_000))
    );
    assert_eq!(hsrp.name.as_deref(), Some("CLIENTS"));
    let group0 = group(&router, "Vlan20");
    assert_eq!(
        (group0.number, group0.virtual_ip),
        (0, Some(ip("10.2.0.1")))
    );
    let notes: Vec<(usize, &str)> = findings
        .notes
        .iter()
        .map(|n| (n.at.line, n.what.as_str()))
        .collect();
    assert_eq!(
        notes,
        [
            (7, "standby 10 preempt delay minimum 30 reload 60"),
            (9, "standby 10 authentication md5 ..."),
            (10, "standby 10 track 1 decrement 20"),
        ]
    );
}

#[test]
fn millisecond_timers_on_version_1_become_version_2_with_a_note() {
    let (router, findings) = read(
        "interface Vlan10\n ip address 10.1.0.2 255.255.255.0\n standby 1 ip 10.1.0.1\n \
         standby 1 timers msec 300 1\n",
    );
    let hsrp = group(&router, "Vlan10");
    assert_eq!(hsrp.version, Some(2));
    assert_eq!((hsrp.hello_ms, hsrp.hold_ms), (Some(300), Some(1000)));
    let note = &findings.notes[0];
    assert_eq!(note.at.line, 4);
    assert!(note.why.contains("version 2"), "{note}");
}

#[test]
fn vrrp_reads_the_classic_commands_and_the_ios_xe_address_family_block() {
    let (router, findings) = read(
        "interface Vlan10\n \
         ip address 10.1.0.2 255.255.255.0\n \
         vrrp 10 ip 10.1.0.1\n \
         vrrp 10 priority 120\n \
         vrrp 10 timers advertise 2\n \
         no vrrp 10 preempt\n\
         interface Vlan20\n \
         ip address 10.2.0.2 255.255.255.0\n \
         vrrp 20 address-family ipv4\n  \
         address 10.2.0.1 primary\n  \
         priority 110\n  \
         timers advertise 500\n \
         description servers\n",
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    let v2 = group(&router, "Vlan10");
    assert_eq!(v2.protocol, Protocol::Vrrp);
    assert_eq!(
        (v2.virtual_ip, v2.priority, v2.hello_ms, v2.preempt),
        (Some(ip("10.1.0.1")), Some(120), Some(2000), Some(false))
    );
    let v3 = group(&router, "Vlan20");
    assert_eq!(
        (v3.version, v3.virtual_ip, v3.priority, v3.hello_ms),
        (Some(3), Some(ip("10.2.0.1")), Some(110), Some(500))
    );
    assert!(findings.notes.is_empty(), "{:?}", findings.notes);
}

#[test]
fn helpers_read_redundancy_and_note_global_vrf_and_repeats() {
    let (router, findings) = read(
        "interface Vlan10\n \
         ip address 10.1.0.2 255.255.255.0\n \
         ip helper-address 10.2.0.10 redundancy CLIENTS\n \
         ip helper-address global 10.2.0.20\n \
         ip helper-address vrf PXE 10.2.0.30\n \
         ip helper-address 10.2.0.10\n",
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    let helpers = &router.interfaces[0].helpers;
    let addresses: Vec<Ipv4Addr> = helpers.iter().map(|h| h.address).collect();
    assert_eq!(
        addresses,
        [ip("10.2.0.10"), ip("10.2.0.20"), ip("10.2.0.30")]
    );
    assert_eq!(helpers[0].follows.as_deref(), Some("CLIENTS"));
    let lines: Vec<usize> = findings.notes.iter().map(|n| n.at.line).collect();
    assert_eq!(lines, [4, 5, 6]);
    assert!(findings.notes[1].why.contains("VRFs are not modelled"));
    assert!(findings.notes[2].why.contains("listed twice"));
}

#[test]
fn routes_forwarded_ports_relay_off_and_option_82() {
    let (router, findings) = read(
        "interface Vlan10\n ip address 10.1.0.2 255.255.255.0\n ip helper-address 10.2.0.10\n\
         ip route 10.9.0.0 255.255.0.0 10.2.0.254 name CAMPUS\n\
         ip route 0.0.0.0 0.0.0.0 GigabitEthernet0/1 10.0.0.1\n\
         ip route 192.0.2.0 255.255.255.0 Null0\n\
         ip forward-protocol udp 4011\n\
         no ip forward-protocol udp tftp\n\
         ip dhcp relay information option\n",
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    let routes: Vec<(Ipv4Addr, u8, Ipv4Addr)> = router
        .routes
        .iter()
        .map(|r| (r.network, r.prefix_len, r.next_hop))
        .collect();
    assert_eq!(
        routes,
        [
            (ip("10.9.0.0"), 16, ip("10.2.0.254")),
            (ip("0.0.0.0"), 0, ip("10.0.0.1")),
        ]
    );
    assert_eq!(
        router.forward_udp_ports,
        Some(vec![37, 49, 53, 67, 68, 137, 138, 4011])
    );
    assert!(router.interfaces[0].option82.is_some());
    assert_eq!(findings.notes[0].at.line, 6, "the route to Null0");

    let (router, findings) = read(
        "interface Vlan10\n ip address 10.1.0.2 255.255.255.0\n ip helper-address 10.2.0.10\n\
         no service dhcp\n",
    );
    assert!(router.interfaces[0].helpers.is_empty());
    assert_eq!(findings.notes[0].at.line, 4);
}

#[test]
fn secondary_addresses_and_shut_groups_are_notes() {
    let (router, findings) = read(
        "interface Vlan10\n \
         ip address 10.1.0.2 255.255.255.0\n \
         ip address 10.5.0.2 255.255.255.0 secondary\n \
         vrrp 10 ip 10.1.0.1\n \
         vrrp 10 shutdown\n",
    );
    assert!(findings.errors.is_empty());
    assert!(router.interfaces[0].groups.is_empty());
    let lines: Vec<usize> = findings.notes.iter().map(|n| n.at.line).collect();
    assert_eq!(lines, [3, 5]);
}

#[test]
fn bad_input_is_an_error_at_its_file_and_line() {
    let cases = [
        (
            "interface Vlan10\n standby 10 iip 10.1.0.1\n",
            "r1.cfg:2: unknown standby command `iip`",
        ),
        (
            "interface Vlan10\n ip address 10.1.0.300 255.255.255.0\n",
            "r1.cfg:2: `10.1.0.300` is not an IPv4 address",
        ),
        (
            "interface Vlan10\n ip address 10.1.0.2 255.0.255.0\n",
            "r1.cfg:2: `255.0.255.0` is not a netmask",
        ),
        (
            "interface Vlan10\n ip address 10.1.0.2\n",
            "r1.cfg:2: cannot read `ip address 10.1.0.2`",
        ),
        (
            "interface Vlan10\n ip helper-address 10.2.0.10 now\n",
            "r1.cfg:2: cannot read `ip helper-address 10.2.0.10 now`",
        ),
        (
            "interface Vlan10\n vrrp 300 ip 10.1.0.1\n",
            "r1.cfg:2: `300` is not a VRRP group (1..255)",
        ),
        (
            "interface Vlan10\n vrrp 10 frobnicate\n",
            "r1.cfg:2: unknown vrrp command `frobnicate`",
        ),
        (
            "interface Vlan10\n standby 10 timers 3 1\n",
            "r1.cfg:2: the HSRP hold time must be longer than the hello time",
        ),
        (
            "interface Vlan10\n standby version 3\n",
            "r1.cfg:2: HSRP has no version 3",
        ),
        (
            "hostname r1\n!\nip forward-protocol udp gopher\n",
            "r1.cfg:3: unknown UDP port `gopher`",
        ),
        (
            "ip route 10.9.0.0 10.2.0.254\n",
            "r1.cfg:1: cannot read `ip route 10.9.0.0 10.2.0.254`",
        ),
    ];
    for (text, expected) in cases {
        let errors = errors(text);
        assert_eq!(errors.len(), 1, "{text:?}: {errors:?}");
        assert!(
            errors[0].starts_with(expected),
            "{text:?}: got {:?}, expected {expected:?}",
            errors[0]
        );
        assert!(errors[0].contains("hint: "), "{}", errors[0]);
    }
}

#[test]
fn only_ios_reads_as_ios() {
    assert!(looks_like(include_str!(
        "../../../../topologies/configs/kb2510665/r2.cfg"
    )));
    assert!(looks_like(
        "interface Vlan10\n ip address 10.1.0.2 255.255.255.0\n"
    ));
    assert!(!looks_like("interface Vlan10\n ip address 10.1.0.2/24\n"));
    assert!(!looks_like("SERVERS=\"10.2.0.10\"\n"));
}
