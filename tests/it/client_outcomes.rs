//! What the firmware ends with, for network setups other than the KB race: BIOS clients get the
//! BIOS boot file, and a network without a DHCP server ends BIOS clients (the PXE 2.1 profile)
//! in PXE-E51 after the four DISCOVER timeouts (4 + 8 + 16 + 32 s).

use crate::common::{run, topology_path};
use engine::client::Outcome;

fn variant(edit: impl Fn(&str) -> String) -> topology::Plan {
    let path = topology_path("kb2510665-fixed.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changed nothing");
    topology::parse(&path, &edited).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn bios_clients_get_the_bios_boot_file() {
    let plan = variant(|text| text.replace("    arch: efi-x64", "    arch: bios"));
    let report = run(&plan, 3).into_report();
    for client in &report.clients {
        let Outcome::Booted { file, .. } = &client.outcome else {
            panic!("{client:?}")
        };
        assert_eq!(file, "SMSBoot\\x86\\wdsnbp.com");
    }
}

#[test]
fn without_a_dhcp_server_clients_end_in_pxe_e51_after_sixty_seconds() {
    let plan = variant(|text| {
        let start = text.find("  dhcp:\n").unwrap();
        let end = text.find("  wds:\n").unwrap();
        format!("{}{}", &text[..start], &text[end..]).replace("    arch: efi-x64", "    arch: bios")
    });
    let world = run(&plan, 3);
    let report = world.report();
    for client in &report.clients {
        let Outcome::Failed { code, time_ns, .. } = &client.outcome else {
            panic!("{client:?}")
        };
        assert_eq!(*code, "PXE-E51");
        let name = &client.name;
        let log = world.log();
        let node = log.node_id(name).unwrap();
        let powered_on = log
            .records()
            .iter()
            .find(|r| {
                r.node == node
                    && matches!(
                        &r.kind,
                        engine::Kind::Client(event)
                            if matches!(**event, engine::ClientEvent::PoweredOn { .. })
                    )
            })
            .unwrap()
            .time_ns;
        assert_eq!(
            time_ns - powered_on,
            60_000_000_000,
            "{name}: 4 + 8 + 16 + 32 s"
        );
    }
}
