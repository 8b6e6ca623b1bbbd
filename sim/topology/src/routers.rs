//! The planner's routers: interfaces with their addresses, helpers, option 82 and redundancy
//! groups; static routes, which must lead to another router and never loop; and helpers, which
//! must be somewhere a server could answer.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use engine::router::{
    DEFAULT_FORWARD_UDP_PORTS, Option82, RelaySource, Route, RouterConfig, RouterInterface,
};
use engine::subnet;

use crate::error::Error;
use crate::model::{InterfaceSpec, RouterSpec};
use crate::planner::{Planner, RouterPlan};
use crate::redundancy::Platform;

impl Planner<'_> {
    pub(crate) fn plan_routers(
        &mut self,
        specs: &BTreeMap<String, RouterSpec>,
    ) -> Result<(), Error> {
        for (name, spec) in specs {
            let router = self.router(name, spec)?;
            self.routers.push(router);
        }
        Ok(())
    }

    fn router(&mut self, name: &str, spec: &RouterSpec) -> Result<RouterPlan, Error> {
        let source = self.source;
        let base = ["routers:", &format!("{name}:")];
        self.claim_name(&base, name)?;
        let relay_delay =
            source.distribution(&[base[0], base[1], "relay_delay:"], &spec.relay_delay)?;
        let platform = Platform::of(self.source, &base, spec.platform.as_deref())?;
        let relay_source = match spec.relay_source.as_deref().map(str::trim) {
            None | Some("outgoing") => RelaySource::Outgoing,
            Some("receiving") => RelaySource::Receiving,
            Some(other) => {
                return Err(source.value(
                    &[base[0], base[1], "relay_source:"],
                    format!("unknown relay source `{other}`"),
                    "outgoing (the interface toward the server) or receiving (the client's)",
                ));
            }
        };
        let mut interfaces: Vec<RouterInterface> = Vec::new();
        let mut lans = Vec::new();
        for interface in &spec.interfaces {
            let at = [
                base[0],
                base[1],
                "interfaces:",
                &format!("name: {}", interface.name),
            ];
            if interfaces.iter().any(|i| i.name == interface.name) {
                // The second one: the first `name:` is found first, so search past it.
                let second = [at[0], at[1], at[2], at[3], at[3]];
                return Err(source.conflict(
                    &second,
                    format!(
                        "router `{name}` has two interfaces named `{}`",
                        interface.name
                    ),
                    "give each interface its own name (Vlan10, Vlan20, ...)",
                ));
            }
            let (planned, lan) = self.interface(name, &at, interface, platform)?;
            interfaces.push(planned);
            lans.push(lan);
        }
        let routes = self.static_routes(name, &base, spec, &interfaces)?;
        Ok(RouterPlan {
            config: RouterConfig {
                name: name.to_string(),
                interfaces,
                routes,
                relay_delay,
                relay_hops_max: spec.relay_hops_max.unwrap_or(10),
                relay_secs_min: spec.relay_secs_min.unwrap_or(0),
                forward_udp_ports: spec
                    .forward_udp_ports
                    .clone()
                    .unwrap_or_else(|| DEFAULT_FORWARD_UDP_PORTS.to_vec()),
                ttl: platform.ttl(),
                relay_source,
            },
            lans,
        })
    }

    /// One interface of router `router`, at `at`, and the index of its LAN.
    fn interface(
        &mut self,
        router: &str,
        at: &[&str; 4],
        spec: &InterfaceSpec,
        platform: Platform,
    ) -> Result<(RouterInterface, usize), Error> {
        let source = self.source;
        let with = |key: &'static str| [at[0], at[1], at[2], at[3], key];
        let lan = self.find_lan(&with("lan:"), &spec.lan)?;
        let (ip, prefix_len) = source.cidr(&with("ip:"), &spec.ip)?;
        self.check_in_lan(&with("ip:"), lan, ip)?;
        self.check_prefix(&with("ip:"), lan, prefix_len)?;
        let owner = format!("{router} {}", spec.name);
        self.claim_address(&with("ip:"), ip, owner.clone())?;
        let mac = self.claim_mac(at, &with("mac:"), spec.mac.as_deref(), 0x01, owner)?;
        let helpers = self.helpers(at, spec)?;
        let redundancy = match &spec.redundancy {
            None => None,
            Some(group) => {
                let virtual_ip = source.ipv4(&with("virtual_ip:"), &group.virtual_ip)?;
                self.check_in_lan(&with("virtual_ip:"), lan, virtual_ip)?;
                Some(self.redundancy(at, group, ip, virtual_ip, platform)?)
            }
        };
        if spec.helpers_follow_redundancy && redundancy.is_none() {
            return Err(source.conflict(
                &with("helpers_follow_redundancy:"),
                "helpers follow redundancy, but the interface has no redundancy group",
                "add `redundancy:` to the interface, or drop this key",
            ));
        }
        let option82 = spec.option82.as_ref().map(|option82| Option82 {
            circuit_id: option82
                .circuit_id
                .clone()
                .unwrap_or_else(|| spec.name.clone())
                .into_bytes(),
            remote_id: option82
                .remote_id
                .clone()
                .unwrap_or_else(|| router.to_string())
                .into_bytes(),
        });
        let secondary_ips = self.secondary_ips(router, at, spec)?;
        let interface = RouterInterface {
            name: spec.name.clone(),
            mac,
            ip,
            prefix_len,
            helpers,
            redundancy,
            helpers_follow_redundancy: spec.helpers_follow_redundancy,
            option82,
            secondary_ips,
            relay_each_address: spec.relay_each_address,
        };
        Ok((interface, lan))
    }

    /// An interface's `secondary_ips:`, each an address no one else has; and
    /// `relay_each_address`, which needs some.
    fn secondary_ips(
        &mut self,
        router: &str,
        at: &[&str; 4],
        spec: &InterfaceSpec,
    ) -> Result<Vec<(Ipv4Addr, u8)>, Error> {
        let mut secondaries = Vec::new();
        for text in &spec.secondary_ips {
            let anchors = [at[0], at[1], at[2], at[3], "secondary_ips:", text.as_str()];
            let (ip, prefix_len) = self.source.cidr(&anchors, text)?;
            let owner = format!("{router} {} (secondary)", spec.name);
            self.claim_address(&anchors, ip, owner)?;
            secondaries.push((ip, prefix_len));
        }
        if spec.relay_each_address && secondaries.is_empty() {
            return Err(self.source.conflict(
                &[at[0], at[1], at[2], at[3], "relay_each_address:"],
                "relay_each_address, but the interface has no secondary address",
                "add `secondary_ips: [10.1.1.1/24]` to the interface, or drop this key",
            ));
        }
        Ok(secondaries)
    }

    /// An interface's `helpers:`, each listed once.
    fn helpers(&self, at: &[&str; 4], spec: &InterfaceSpec) -> Result<Vec<Ipv4Addr>, Error> {
        let mut helpers: Vec<Ipv4Addr> = Vec::new();
        for helper in &spec.helpers {
            let anchors = [at[0], at[1], at[2], at[3], "helpers:", helper.as_str()];
            let address = self.source.ipv4(&anchors[..5], helper)?;
            if helpers.contains(&address) {
                let second = [at[0], at[1], at[2], at[3], "helpers:", helper, helper];
                return Err(self.source.conflict(
                    &second,
                    format!("helper {address} is listed twice"),
                    "list each helper once; two entries would relay every request twice",
                ));
            }
            helpers.push(address);
        }
        Ok(helpers)
    }

    /// A router's `routes:`, each next hop on one of its LANs.
    fn static_routes(
        &self,
        name: &str,
        base: &[&str; 2],
        spec: &RouterSpec,
        interfaces: &[RouterInterface],
    ) -> Result<Vec<Route>, Error> {
        let source = self.source;
        let mut routes = Vec::new();
        for route in &spec.routes {
            let at = [base[0], base[1], "routes:", &format!("to: {}", route.to)];
            let via = [at[0], at[1], at[2], at[3], "via:"];
            let (network, prefix_len) = source.cidr(&at, &route.to)?;
            let next_hop = source.ipv4(&via, &route.via)?;
            if !interfaces
                .iter()
                .any(|i| subnet::same_subnet(next_hop, i.ip, i.prefix_len))
            {
                return Err(source.conflict(
                    &via,
                    format!("next hop {next_hop} is not on any of {name}'s LANs"),
                    "a static route's next hop must be directly connected",
                ));
            }
            routes.push(Route {
                network,
                prefix_len,
                next_hop,
            });
        }
        Ok(routes)
    }

    /// The routers that have `address` (an interface's or a redundancy group's virtual IP).
    fn owners(&self, address: Ipv4Addr) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&index| {
                self.routers[index].config.interfaces.iter().any(|i| {
                    i.ip == address
                        || i.redundancy
                            .as_ref()
                            .is_some_and(|g| g.virtual_ip == address)
                })
            })
            .collect()
    }

    /// Static routes lead somewhere: each next hop is another router's address (an interface's
    /// or a redundancy group's virtual IP), and following the routes for a prefix never comes
    /// back to a router it already passed (a loop would bounce packets until their TTL ends).
    pub(crate) fn check_routes(&self, specs: &BTreeMap<String, RouterSpec>) -> Result<(), Error> {
        let source = self.source;
        for (index, (name, spec)) in specs.iter().enumerate() {
            let config = &self.routers[index].config;
            for (route, route_spec) in config.routes.iter().zip(&spec.routes) {
                let to = format!("to: {}", route_spec.to);
                let via = ["routers:", &format!("{name}:"), "routes:", &to, "via:"];
                let next = self.owners(route.next_hop);
                if next.contains(&index) {
                    return Err(source.conflict(
                        &via,
                        format!("next hop {} is {name}'s own address", route.next_hop),
                        "the next hop is the neighbouring router's address on a shared LAN",
                    ));
                }
                if next.is_empty() {
                    return Err(source.unknown(
                        &via,
                        format!("no router has the next hop address {}", route.next_hop),
                        "the next hop is the neighbouring router's address on a shared LAN",
                    ));
                }
                // Follow the prefix hop by hop; a path never needs to pass a router twice.
                let mut path = vec![index];
                if next
                    .iter()
                    .any(|&hop| self.route_loop(route, hop, &mut path))
                {
                    let names: Vec<&str> = path
                        .iter()
                        .map(|&i| self.routers[i].config.name.as_str())
                        .collect();
                    return Err(source.conflict(
                        &via[..4],
                        format!(
                            "routes to {}/{} form a loop: {}",
                            route.network,
                            route.prefix_len,
                            names.join(" -> ")
                        ),
                        "one of these routers must reach the prefix directly or route it elsewhere",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether following `route`'s prefix from router `hop` comes back to a router on `path`;
    /// on `true`, `path` holds the loop, ending with the router met again.
    fn route_loop(&self, route: &Route, hop: usize, path: &mut Vec<usize>) -> bool {
        let seen = path.contains(&hop);
        path.push(hop);
        if seen {
            return true;
        }
        let covers = |network: Ipv4Addr, prefix_len: u8| {
            prefix_len <= route.prefix_len && subnet::contains(network, prefix_len, route.network)
        };
        let config = &self.routers[hop].config;
        let connected = config.interfaces.iter().any(|i| covers(i.ip, i.prefix_len));
        let onward = config
            .routes
            .iter()
            .filter(|r| covers(r.network, r.prefix_len))
            .max_by_key(|r| r.prefix_len);
        if !connected
            && let Some(onward) = onward
            && self
                .owners(onward.next_hop)
                .into_iter()
                .any(|next| self.route_loop(route, next, path))
        {
            return true;
        }
        path.pop();
        false
    }

    /// Every helper is on a LAN or is a server's address. A helper on a LAN but without a
    /// server models a server that is not there (clients end in PXE-E51); one on no LAN at all
    /// is a mistake.
    pub(crate) fn check_helpers(&self, specs: &BTreeMap<String, RouterSpec>) -> Result<(), Error> {
        for (router, (name, spec)) in self.routers.iter().zip(specs) {
            for (interface, interface_spec) in router.config.interfaces.iter().zip(&spec.interfaces)
            {
                for (helper, text) in interface.helpers.iter().zip(&interface_spec.helpers) {
                    let on_a_lan = self
                        .lans
                        .iter()
                        .any(|lan| subnet::contains(lan.network, lan.prefix_len, *helper));
                    if on_a_lan || self.servers.iter().any(|s| s.config.ip == *helper) {
                        continue;
                    }
                    let known: Vec<String> = self
                        .servers
                        .iter()
                        .map(|server| format!("{} {}", server.config.name, server.config.ip))
                        .collect();
                    return Err(self.source.unknown(
                        &[
                            "routers:",
                            &format!("{name}:"),
                            "interfaces:",
                            &format!("name: {}", interface.name),
                            "helpers:",
                            text,
                        ],
                        format!("helper {helper} is on none of the LANs, so nothing can answer it"),
                        if known.is_empty() {
                            "add a server with that address under `servers:`".to_string()
                        } else {
                            format!("the servers are: {}", known.join(", "))
                        },
                    ));
                }
            }
        }
        Ok(())
    }
}
