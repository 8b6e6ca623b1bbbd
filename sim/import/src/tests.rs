//! Whole imports: which file is which dialect, what a file that is none becomes, and the
//! shipped example configurations as topologies that load.

use super::*;

fn shipped(path: &str) -> Input {
    let full = format!(
        "{}/../../topologies/configs/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    Input::new(format!("topologies/configs/{path}"), text)
}

#[test]
fn each_file_is_read_by_the_dialect_only_it_writes() {
    let cases = [
        ("kb2510665/r1.cfg", Dialect::Ios),
        ("keepalived-pair/lb1/keepalived.conf", Dialect::Keepalived),
        ("keepalived-pair/lb1/isc-dhcp-relay", Dialect::Dhcrelay),
        ("keepalived-pair/lb1/interfaces", Dialect::Addresses),
        ("keepalived-pair/lb2/ip-addr.txt", Dialect::Addresses),
    ];
    for (path, dialect) in cases {
        assert_eq!(Dialect::of(&shipped(path).text), Some(dialect), "{path}");
    }
    assert_eq!(
        Dialect::of("hostname leaf1\ninterface Vlan10\n   ip address 10.1.0.2/24\n"),
        Some(Dialect::Eos)
    );
    assert_eq!(Dialect::of("just some notes\n"), None);
}

#[test]
fn a_file_of_no_known_dialect_is_an_error_and_nothing_is_written() {
    let inputs = [
        shipped("kb2510665/r1.cfg"),
        Input::new("notes.txt", "buy milk\n"),
    ];
    let errors = import(&inputs, &Options::default()).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert!(
        errors.0[0]
            .to_string()
            .starts_with("notes.txt:1: cannot tell what configuration this is"),
        "{errors}"
    );
}

#[test]
fn the_shipped_examples_import_into_topologies_that_load() {
    let pair = |folder: &str| {
        [
            shipped(&format!("{folder}/r1.cfg")),
            shipped(&format!("{folder}/r2.cfg")),
        ]
    };
    let wds = Options {
        servers: vec![("10.2.0.20".parse().unwrap(), "wds-sccm2007".to_string())],
        ..Options::default()
    };
    for inputs in [
        pair("kb2510665").to_vec(),
        pair("kb2510665-redundancy").to_vec(),
    ] {
        let imported = import(&inputs, &wds).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            imported
                .yaml
                .starts_with("# Imported by `pxelab import` from:\n#   topologies/configs/kb25106")
        );
        // Every note is in the header, with its file and lines.
        for line in report::condensed(&imported.notes) {
            let first = line.split(' ').next().unwrap();
            assert!(imported.yaml.contains(first), "{line}");
        }
        topology::parse(Path::new("imported.yaml"), &imported.yaml)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let linux: Vec<Input> = ["interfaces", "isc-dhcp-relay", "keepalived.conf"]
        .iter()
        .map(|file| shipped(&format!("keepalived-pair/lb1/{file}")))
        .chain(
            ["ip-addr.txt", "isc-dhcp-relay", "keepalived.conf"]
                .iter()
                .map(|file| shipped(&format!("keepalived-pair/lb2/{file}"))),
        )
        .collect();
    let imported = import(&linux, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(imported.files.len(), 6);
    assert!(imported.yaml.contains("  lb1:\n") && imported.yaml.contains("  lb2:\n"));
}
