//! The SDK example of plugins/README.md (plugins/examples/tinypxe), swapped in for WDS in an
//! existing topology, boots every client: what a new plugin author does first.

use crate::common::{edited_plan, services};
use engine::client::Outcome;

#[test]
fn the_readme_example_plugin_boots_clients_in_the_kb_topology() {
    let plan = edited_plan("kb2510665.yaml", "tinypxe.yaml", |text| {
        text.replace("    plugin: wds-sccm2007", "    plugin: tinypxe")
            .replace(
                "      threads: 4          # NumberOfThreads: the provider's default on a multi-core server\n      lookup: lognormal(median=600us, sigma=0.8, max=5s)",
                "      boot_file: ipxe.efi",
            )
    });
    for seed in 0..20 {
        let report = lab::run(&plan, seed, services())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_report();
        assert!(report.crashes.is_empty());
        for client in &report.clients {
            match &client.outcome {
                Outcome::Booted { file, .. } => assert_eq!(file, "ipxe.efi"),
                other => panic!("seed {seed}: {} {other:?}", client.name),
            }
        }
    }
}
