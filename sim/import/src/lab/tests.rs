//! The lab's checks and completions, through whole imports of small IOS pairs.

use crate::{Input, Options, import};

/// An IOS router `name` with the interface lines `vlan10` on Vlan10 (which starts at line 3)
/// and a server VLAN with the address `.{host}`.
fn router(name: &str, host: u8, vlan10: &str) -> Input {
    let text = format!(
        "hostname {name}\n!\ninterface Vlan10\n{vlan10}!\ninterface Vlan20\n \
         ip address 10.2.0.{host} 255.255.255.0\n!\n"
    );
    Input::new(format!("{name}.cfg"), text)
}

const R1: &str = " ip address 10.1.0.2 255.255.255.0\n ip helper-address 10.2.0.10\n \
                  standby 10 ip 10.1.0.1\n standby 10 priority 110\n standby 10 preempt\n";
const R2: &str = " ip address 10.1.0.3 255.255.255.0\n ip helper-address 10.2.0.10\n \
                  standby 10 ip 10.1.0.1\n standby 10 preempt\n";

fn refused(inputs: &[Input], options: &Options) -> Vec<String> {
    match import(inputs, options) {
        Ok(imported) => panic!("imported:\n{}", imported.yaml),
        Err(errors) => errors.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn yaml(inputs: &[Input]) -> String {
    let imported = import(inputs, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    imported.yaml
}

#[test]
fn overlapping_subnets_are_an_error_naming_both_lines() {
    let r2 = R2.replace("10.1.0.3 255.255.255.0", "10.1.0.3 255.255.0.0");
    let errors = refused(
        &[router("r1", 2, R1), router("r2", 3, &r2)],
        &Options::default(),
    );
    assert_eq!(
        errors[0].lines().next().unwrap(),
        "r2.cfg:4: subnet 10.1.0.0/16 of r2 Vlan10 overlaps 10.1.0.0/24 of r1 Vlan10 (r1.cfg:4)"
    );
}

#[test]
fn a_helper_that_points_nowhere_is_an_error_at_its_line() {
    let r1 = R1.replace("helper-address 10.2.0.10", "helper-address 10.9.0.5");
    let errors = refused(
        &[router("r1", 2, &r1), router("r2", 3, R2)],
        &Options::default(),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "r1.cfg:5: helper 10.9.0.5 points nowhere: it is on none of the imported routers' subnets (10.1.0.0/24, 10.2.0.0/24)"
        ),
        "{}",
        errors[0]
    );
    let r1 = R1.replace("helper-address 10.2.0.10", "helper-address 10.2.0.3");
    let errors = refused(
        &[router("r1", 2, &r1), router("r2", 3, R2)],
        &Options::default(),
    );
    assert!(
        errors[0].starts_with("r1.cfg:5: helper 10.2.0.3 is an address of router r2 (Vlan20)"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_member_learns_the_virtual_ip_and_timers_it_does_not_configure() {
    let r1 = format!("{R1} standby 10 timers 1 3\n");
    let r2 = R2.replace("standby 10 ip 10.1.0.1", "standby 10 ip");
    let imported = import(
        &[router("r1", 2, &r1), router("r2", 3, &r2)],
        &Options::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        imported.yaml.contains(
            "redundancy: { protocol: hsrp, group: 10, virtual_ip: 10.1.0.1, preempt: true, hello: 1s, hold: 3s }"
        ),
        "{}",
        imported.yaml
    );
    let learned: Vec<String> = imported
        .notes
        .iter()
        .filter(|n| n.why.starts_with("learned"))
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        learned,
        [
            "r2.cfg:6: HSRP group 10 on LAN clients on r2: virtual IP not configured: learned from the Active router, as HSRP does: 10.1.0.1 (r1.cfg:6)",
            "r2.cfg:6: HSRP group 10 on LAN clients on r2: timers not configured: learned from the Active router, as HSRP does: those at r1.cfg:9",
        ]
    );
}

#[test]
fn members_that_disagree_are_an_error() {
    let r2 = R2.replace("standby 10 ip 10.1.0.1", "standby 10 ip 10.1.0.254");
    let errors = refused(
        &[router("r1", 2, R1), router("r2", 3, &r2)],
        &Options::default(),
    );
    assert!(
        errors[0].starts_with("r2.cfg:6: HSRP group 10 on LAN clients: virtual IP 10.1.0.254 here, 10.1.0.1 on another member (r1.cfg:6)"),
        "{errors:?}"
    );
    let r2 = format!(" standby version 2\n{R2}");
    let errors = refused(
        &[router("r1", 2, R1), router("r2", 3, &r2)],
        &Options::default(),
    );
    assert!(
        errors[0].starts_with("r2.cfg:7: HSRP group 10 on LAN clients: version 2 here, version 1 on another member (r1.cfg:6)"),
        "{errors:?}"
    );
    let (r1, r2) = (
        format!("{R1} standby 10 timers 1 3\n"),
        format!("{R2} standby 10 timers 2 7\n"),
    );
    let errors = refused(
        &[router("r1", 2, &r1), router("r2", 3, &r2)],
        &Options::default(),
    );
    assert!(
        errors[0].starts_with("r2.cfg:8: HSRP group 10 on LAN clients: hello 2000 ms, hold 7000 ms here, hello 1000 ms, hold 3000 ms on another member (r1.cfg:9)"),
        "{errors:?}"
    );
}

#[test]
fn redundancy_names_the_interfaces_hsrp_group() {
    let follow = |text: &str| {
        text.replace(
            "ip helper-address 10.2.0.10",
            "ip helper-address 10.2.0.10 redundancy CLIENTS",
        )
        .replace(
            "standby 10 preempt",
            "standby 10 preempt\n standby 10 name CLIENTS",
        )
    };
    let text = yaml(&[router("r1", 2, &follow(R1)), router("r2", 3, &follow(R2))]);
    assert_eq!(
        text.matches("helpers_follow_redundancy: true").count(),
        2,
        "{text}"
    );

    let r1 = R1
        .replace("10.2.0.10", "10.2.0.10 redundancy CLEINTS")
        .replace(
            "standby 10 preempt",
            "standby 10 preempt\n standby 10 name CLIENTS",
        );
    let errors = refused(
        &[router("r1", 2, &r1), router("r2", 3, R2)],
        &Options::default(),
    );
    assert_eq!(
        errors[0],
        "r1.cfg:5: `redundancy CLEINTS` names no HSRP group of Vlan10\n  hint: the interface's groups are named CLIENTS (group 10)"
    );

    // With a helper that does not follow the group, the interface relays always.
    let r1 = format!("{}\n ip helper-address 10.2.0.20\n", follow(R1).trim_end());
    let imported = import(
        &[router("r1", 2, &r1), router("r2", 3, R2)],
        &Options::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!imported.yaml.contains("helpers_follow_redundancy"));
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.why.contains("per interface, not per helper"))
    );
}

#[test]
fn two_routers_of_one_name_an_unknown_server_and_no_relay_are_errors() {
    let errors = refused(
        &[router("r1", 2, R1), router("r1", 3, R2)],
        &Options::default(),
    );
    assert!(
        errors[0].starts_with("r1.cfg:1: two routers are named `r1`"),
        "{errors:?}"
    );

    let options = Options {
        servers: vec![("10.2.0.99".parse().unwrap(), "wds-fixed".to_string())],
        ..Options::default()
    };
    let errors = refused(&[router("r1", 2, R1), router("r2", 3, R2)], &options);
    assert_eq!(
        errors,
        [
            "--server: 10.2.0.99=wds-fixed: 10.2.0.99 is none of the helper addresses\n  hint: the helper addresses are 10.2.0.10"
        ]
    );

    let quiet = R1.replace(" ip helper-address 10.2.0.10\n", "");
    let errors = refused(&[router("r1", 2, &quiet)], &Options::default());
    assert!(
        errors[0].starts_with("r1.cfg:1: none of the imported interfaces relays DHCP"),
        "{errors:?}"
    );
}

#[test]
fn routes_to_another_imported_router_are_kept_and_others_noted() {
    let r1 = format!(
        "{R1}!\nip route 10.9.0.0 255.255.0.0 10.2.0.3\nip route 0.0.0.0 0.0.0.0 10.2.0.254\n"
    );
    let r2 = format!("{R2}!\ninterface Vlan30\n ip address 10.9.0.1 255.255.255.0\n");
    let imported = import(
        &[router("r1", 2, &r1), router("r2", 3, &r2)],
        &Options::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        imported
            .yaml
            .contains("      - { to: 10.9.0.0/16, via: 10.2.0.3 }"),
        "{}",
        imported.yaml
    );
    assert!(!imported.yaml.contains("to: 0.0.0.0/0"));
    let notes: Vec<String> = imported.notes.iter().map(|n| n.to_string()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("r1.cfg:11: route to 0.0.0.0/0 via 10.2.0.254")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n
                .starts_with("r2.cfg:10: r2 Vlan30 10.9.0.0/24: a subnet of this router alone")),
        "{notes:?}"
    );
}

#[test]
fn servers_get_the_plugin_given_or_the_default_with_what_it_needs() {
    let r1 = format!("{R1} ip helper-address 10.2.0.20\n");
    let options = Options {
        servers: vec![("10.2.0.20".parse().unwrap(), "wds-fixed".to_string())],
        ..Options::default()
    };
    let imported = import(&[router("r1", 2, &r1), router("r2", 3, R2)], &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let servers: Vec<(String, String, String)> = imported
        .servers
        .iter()
        .map(|(ip, node, plugin, _)| (ip.to_string(), node.clone(), plugin.clone()))
        .collect();
    assert_eq!(
        servers,
        [
            (
                "10.2.0.10".to_string(),
                "dhcp".to_string(),
                "dhcp-server".to_string()
            ),
            (
                "10.2.0.20".to_string(),
                "wds".to_string(),
                "wds-fixed".to_string()
            ),
        ]
    );
    assert!(imported.yaml.contains("      pool: 10.1.0.100-10.1.0.199\n      subnet_mask: 255.255.255.0\n      router: 10.1.0.1\n"), "{}", imported.yaml);
    assert!(
        imported.yaml.contains("    gateway: 10.2.0.2\n"),
        "no group on the server VLAN: the lowest router address"
    );
    assert!(imported.yaml.contains("      threads: 4\n"));
}

#[test]
fn pools_miss_the_routers_and_fit_small_lans() {
    use super::{Lan, Role, pool};
    let lan = |network: &str, prefix_len| Lan {
        name: "clients".into(),
        network: network.parse().unwrap(),
        prefix_len,
        role: Role::Clients,
    };
    let ip = |text: &str| text.parse::<std::net::Ipv4Addr>().unwrap();
    let shown =
        |p: Option<(std::net::Ipv4Addr, std::net::Ipv4Addr)>| p.map(|(a, b)| format!("{a}-{b}"));
    assert_eq!(
        shown(pool(&lan("10.1.0.0", 24), &[ip("10.1.0.1")])).as_deref(),
        Some("10.1.0.100-10.1.0.199")
    );
    assert_eq!(
        shown(pool(&lan("10.1.0.0", 26), &[ip("10.1.0.1")])).as_deref(),
        Some("10.1.0.32-10.1.0.62")
    );
    assert_eq!(
        shown(pool(&lan("10.1.0.0", 24), &[ip("10.1.0.150")])).as_deref(),
        Some("10.1.0.151-10.1.0.250")
    );
    assert_eq!(pool(&lan("10.1.0.0", 31), &[]), None);
}
