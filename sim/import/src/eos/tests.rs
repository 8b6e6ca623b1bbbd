use std::net::Ipv4Addr;

use super::*;

fn read(text: &str) -> (Router, Findings) {
    let file: Arc<str> = "leaf1.cfg".into();
    let mut findings = Findings::new(&file);
    let router = parse(&file, text, &mut findings);
    (router, findings)
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

const LEAF: &str = "\
! Command: show running-config
! device: leaf1 (DCS-7050SX3-48YC8, EOS-4.28.3M)
!
hostname leaf1
!
vlan 10
   name CLIENTS
!
interface Ethernet49/1
   description uplink
   no switchport
   ip address 10.3.0.2/31
!
interface Vlan10
   ip address 10.1.0.2/24
   ip helper-address 10.2.0.10
   ip helper-address 10.2.0.20 vrf default source-interface Loopback0
   vrrp 10 priority-level 120
   vrrp 10 ipv4 10.1.0.1
   vrrp 10 advertisement interval 2
   vrrp 10 ipv4 version 3
   vrrp 10 session description clients
!
interface Vlan20
   ip address 10.2.0.2/24
   vrrp 20 priority 110
   vrrp 20 ip 10.2.0.1
   vrrp 20 timers advertise 1
   no vrrp 20 preempt
!
ip routing
ip route 0.0.0.0/0 10.3.0.3
!
end
";

#[test]
fn vrrp_helpers_addresses_and_routes_in_both_spellings() {
    let (router, findings) = read(LEAF);
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    assert_eq!(router.name, "leaf1");
    assert_eq!(router.platform, Platform::Eos);
    let vlan10 = &router.interfaces[1];
    assert_eq!(vlan10.address.as_ref().unwrap().ip, ip("10.1.0.2"));
    let helpers: Vec<Ipv4Addr> = vlan10.helpers.iter().map(|h| h.address).collect();
    assert_eq!(helpers, [ip("10.2.0.10"), ip("10.2.0.20")]);
    let group = &vlan10.groups[0];
    assert_eq!(
        (
            group.number,
            group.virtual_ip,
            group.priority,
            group.hello_ms,
            group.version
        ),
        (10, Some(ip("10.1.0.1")), Some(120), Some(2000), Some(3))
    );
    let older = &router.interfaces[2].groups[0];
    assert_eq!(
        (
            older.virtual_ip,
            older.priority,
            older.hello_ms,
            older.preempt
        ),
        (Some(ip("10.2.0.1")), Some(110), Some(1000), Some(false))
    );
    assert_eq!(router.routes[0].next_hop, ip("10.3.0.3"));
    // The helper's vrf and source-interface are noted on its line.
    let helper_notes: Vec<usize> = findings
        .notes
        .iter()
        .filter(|n| n.what.starts_with("ip helper-address"))
        .map(|n| n.at.line)
        .collect();
    assert_eq!(helper_notes, [17, 17]);
}

#[test]
fn varp_is_modelled_as_vrrp_and_says_so() {
    let (router, findings) = read(
        "hostname leaf1\n\
         ip virtual-router mac-address 00:1c:73:00:00:99\n\
         interface Vlan10\n   \
         ip address 10.1.0.2/24\n   \
         ip virtual-router address 10.1.0.1\n   \
         ip helper-address 10.2.0.10\n",
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    let group = &router.interfaces[0].groups[0];
    assert_eq!(group.protocol, Protocol::Vrrp);
    assert_eq!((group.number, group.virtual_ip), (10, Some(ip("10.1.0.1"))));
    let varp = findings.notes.iter().find(|n| n.at.line == 5).unwrap();
    assert!(varp.why.contains("active gateway"), "{varp}");
    assert!(varp.why.contains("VRRP group 10"), "{varp}");
    assert_eq!(findings.notes[0].at.line, 2, "the VARP MAC");
}

#[test]
fn bad_input_is_an_error_at_its_file_and_line() {
    let cases = [
        (
            "interface Vlan10\n   ip address 10.1.0.2 255.255.255.0\n",
            "leaf1.cfg:2: `10.1.0.2` is not an address with its prefix length",
        ),
        (
            "interface Vlan10\n   vrrp 10 ipv4 10.1.0\n",
            "leaf1.cfg:2: `10.1.0` is not an IPv4 address",
        ),
        (
            "interface Vlan10\n   vrrp 10 frobnicate\n",
            "leaf1.cfg:2: unknown vrrp command `frobnicate`",
        ),
        (
            "interface Vlan10\n   vrrp 10 priority-level 255\n",
            "leaf1.cfg:2: VRRP priority `255` is not 1..254",
        ),
        (
            "interface Vlan10\n   ip helper-address 10.2.0.10 via eth1\n",
            "leaf1.cfg:2: cannot read `ip helper-address 10.2.0.10 via eth1`",
        ),
        (
            "ip route 10.9.0.0 10.3.0.3\n",
            "leaf1.cfg:1: `10.9.0.0` is not a prefix",
        ),
    ];
    for (text, expected) in cases {
        let errors: Vec<String> = read(text).1.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{text:?}: {errors:?}");
        assert!(errors[0].starts_with(expected), "{text:?}: {:?}", errors[0]);
    }
}

#[test]
fn eos_reads_as_eos_and_ios_does_not() {
    assert!(looks_like(LEAF));
    assert!(looks_like(
        "interface Vlan10\n   ip virtual-router address 10.1.0.1\n"
    ));
    assert!(!looks_like(
        "interface Vlan10\n ip address 10.1.0.2 255.255.255.0\n standby 10 ip 10.1.0.1\n"
    ));
}
