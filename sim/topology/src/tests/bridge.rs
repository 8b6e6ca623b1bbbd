//! `bridge:` on a LAN: the bridge node it adds, `--bridge LAN=TAP`, and what it leaves alone.

use std::path::Path;

use engine::{App, Node, Stream};

use crate::{BridgeView, ServiceFactory};

/// A factory for topologies without servers.
struct NoServers;

impl ServiceFactory for NoServers {
    fn create(
        &self,
        node: &str,
        _plugin: &str,
        _base_dir: &Path,
        _config: &[(String, String)],
        _files: &[crate::ServedFile],
        _stream: Stream,
    ) -> Result<Box<dyn App>, crate::ServiceError> {
        panic!("no server expected, asked for {node}")
    }
}

const LAB: &str = "name: lab
lans:
  clients: { subnet: 10.1.0.0/24, latency: 20us, bridge: { tap: pxe0 } }
  other: { subnet: 10.3.0.0/24, latency: 20us }
clients:
  - { name: pc, lan: clients, power_on: 0s }
";

#[test]
fn a_bridged_lan_gets_a_bridge_node_after_every_other_node() {
    let mut plan = crate::parse(Path::new("lab.yaml"), LAB).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        plan.bridges(),
        [BridgeView {
            lan: "clients".into(),
            tap: "pxe0".into(),
            node: "real@clients".into()
        }]
    );
    let world = plan.build(0, &NoServers).unwrap();
    let kinds: Vec<(&str, bool)> = world
        .nodes()
        .map(|(name, node)| (name, matches!(node, Node::Bridge(_))))
        .collect();
    assert_eq!(kinds, [("pc", false), ("real@clients", true)]);

    plan.set_bridge("other", "pxe1").unwrap();
    assert_eq!(plan.bridges().len(), 2);
    let unknown = plan.set_bridge("nowhere", "pxe2").unwrap_err().to_string();
    assert!(
        unknown.contains("no LAN `nowhere`") && unknown.contains("clients, other"),
        "{unknown}"
    );
    let bad = plan.set_bridge("other", "a/b").unwrap_err().to_string();
    assert!(bad.contains("not a Linux interface name"), "{bad}");
}
