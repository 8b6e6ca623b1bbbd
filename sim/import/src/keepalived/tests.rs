use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;

fn read(text: &str) -> (Keepalived, Findings) {
    let file: Arc<str> = "lb1/keepalived.conf".into();
    let mut findings = Findings::new(&file);
    let conf = parse(text, &mut findings);
    (conf, findings)
}

fn errors(text: &str) -> Vec<String> {
    read(text).1.errors.iter().map(|e| e.to_string()).collect()
}

#[test]
fn the_shipped_master_reads_as_two_instances_with_their_interfaces() {
    let (conf, findings) = read(include_str!(
        "../../../../topologies/configs/keepalived-pair/lb1/keepalived.conf"
    ));
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    assert_eq!(
        conf.router_id.as_ref().map(|(name, _)| name.as_str()),
        Some("lb1")
    );
    let instances: Vec<(&str, &str, u16, Option<u8>)> = conf
        .instances
        .iter()
        .map(|i| {
            (
                i.name.as_str(),
                i.interface.0.as_str(),
                i.group.number,
                i.group.priority,
            )
        })
        .collect();
    assert_eq!(
        instances,
        [
            ("VI_CLIENTS", "eth1", 10, Some(110)),
            ("VI_SERVERS", "eth2", 20, Some(110)),
        ]
    );
    let clients = &conf.instances[0].group;
    assert_eq!(clients.virtual_ip, Some(Ipv4Addr::new(10, 1, 0, 1)));
    assert_eq!(clients.hello_ms, Some(1000));
    assert_eq!(clients.preempt, Some(true));
    assert!(matches!(clients.initial_master, Some((true, _))));
    // The sync group and the authentication blocks are notes, the password hidden.
    let notes: Vec<(usize, String)> = findings
        .notes
        .iter()
        .map(|n| (n.at.line, n.what.clone()))
        .collect();
    assert!(
        notes.contains(&(14, "vrrp_sync_group VG_PXE { ... }".to_string())),
        "{notes:?}"
    );
    assert!(
        notes.contains(&(27, "authentication { ... }".to_string())),
        "{notes:?}"
    );
    assert!(!findings.notes.iter().any(|n| n.what.contains("pxe10lab")));
}

#[test]
fn versions_fractional_intervals_nopreempt_vmac_and_extra_addresses() {
    let (conf, findings) = read(
        "global_defs {\n  vrrp_version 3\n}\n\
         vrrp_instance VI_1 {\n  interface ens4\n  virtual_router_id 51\n  advert_int 0.25\n  \
         nopreempt\n  use_vmac\n  virtual_ipaddress {\n    10.1.0.1/24 dev ens4 label ens4:vip\n    \
         10.1.0.254\n  }\n  track_script { chk_relay }\n}\n",
    );
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
    let group = &conf.instances[0].group;
    assert_eq!(group.version, Some(3));
    assert_eq!(group.hello_ms, Some(250));
    assert_eq!(group.preempt, Some(false));
    assert_eq!(group.use_vmac, Some(true));
    assert_eq!(group.priority, None, "keepalived's default, 100");
    let lines: Vec<usize> = findings.notes.iter().map(|n| n.at.line).collect();
    assert_eq!(
        lines,
        [12, 14],
        "the second address and the tracking script"
    );
}

#[test]
fn bad_input_is_an_error_at_its_file_and_line() {
    let instance = |body: &str| format!("vrrp_instance VI_1 {{\n{body}}}\n");
    let cases = [
        (
            instance(
                "  interface eth1\n  virtual_router_id 10\n  virtual_ipaddres {\n 10.1.0.1\n }\n",
            ),
            "lb1/keepalived.conf:4: unknown vrrp_instance keyword `virtual_ipaddres`".to_string(),
        ),
        (
            instance(
                "  interface eth1\n  virtual_router_id 300\n  virtual_ipaddress {\n 10.1.0.1\n }\n",
            ),
            "lb1/keepalived.conf:3: cannot read `virtual_router_id 300`: a VRID is 1..255"
                .to_string(),
        ),
        (
            instance(
                "  interface eth1\n  virtual_router_id 10\n  state ACTIVE\n  virtual_ipaddress {\n 10.1.0.1\n }\n",
            ),
            "lb1/keepalived.conf:4: cannot read `state ACTIVE`: the state is MASTER or BACKUP"
                .to_string(),
        ),
        (
            instance("  interface eth1\n  virtual_ipaddress {\n 10.1.0.1\n }\n"),
            "lb1/keepalived.conf:1: vrrp_instance VI_1 has no `virtual_router_id`".to_string(),
        ),
        (
            instance("  virtual_router_id 10\n  virtual_ipaddress {\n 10.1.0.1\n }\n"),
            "lb1/keepalived.conf:1: vrrp_instance VI_1 has no `interface`".to_string(),
        ),
        (
            instance(
                "  interface eth1\n  virtual_router_id 10\n  virtual_ipaddress {\n    10.1.0.300/24\n  }\n",
            ),
            "lb1/keepalived.conf:5: `10.1.0.300/24` is not an IPv4 address".to_string(),
        ),
        (
            "vrrp_instanse VI_1 {\n}\n".to_string(),
            "lb1/keepalived.conf:1: unknown keepalived block `vrrp_instanse`".to_string(),
        ),
        (
            "global_defs {\n  router_id lb1\n".to_string(),
            "lb1/keepalived.conf:2: a block is not closed".to_string(),
        ),
        (
            "global_defs {\n}\n}\n".to_string(),
            "lb1/keepalived.conf:3: a `}` that closes no block".to_string(),
        ),
    ];
    for (text, expected) in cases {
        let errors = errors(&text);
        assert_eq!(errors.len(), 1, "{text:?}: {errors:?}");
        assert!(
            errors[0].starts_with(&expected),
            "{text:?}: {:?}",
            errors[0]
        );
    }
}

#[test]
fn advert_intervals_are_read_to_the_millisecond() {
    assert_eq!(advert_ms("1"), Some(1000));
    assert_eq!(advert_ms("0.5"), Some(500));
    assert_eq!(advert_ms("2.125"), Some(2125));
    assert_eq!(advert_ms("0.0001"), None);
    assert_eq!(advert_ms("0"), None);
    assert_eq!(advert_ms("one"), None);
}
