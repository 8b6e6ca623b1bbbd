//! A Linux router is the files of one folder: its addresses (an ifupdown file or `ip -o addr`
//! output), and optionally a keepalived.conf and an isc-dhcp-relay defaults file. This joins
//! them into one router: keepalived's instances on the interfaces the addresses name, and
//! dhcrelay's servers as helpers on the interfaces toward the clients.

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::addresses::Addresses;
use crate::dhcrelay::Relay;
use crate::keepalived::Keepalived;
use crate::model::{Address, Helper, Interface, Platform, Router};
use crate::report::{Error, Findings, Loc, Note};

/// The parsed files of one folder, each with its file name.
#[derive(Default)]
pub struct Parts {
    pub keepalived: Option<(Arc<str>, Keepalived)>,
    pub relay: Option<(Arc<str>, Relay)>,
    pub addresses: Option<(Arc<str>, Addresses)>,
}

/// The router of a folder named `folder`, or what makes it impossible.
pub fn router(folder: &str, parts: Parts, notes: &mut Vec<Note>) -> Result<Router, Vec<Error>> {
    let Some((addresses_file, addresses)) = parts.addresses else {
        let file = parts
            .keepalived
            .as_ref()
            .map(|(file, _)| file.clone())
            .or_else(|| parts.relay.as_ref().map(|(file, _)| file.clone()))
            .expect("a folder of Linux files has at least one");
        return Err(vec![Error::new(
            Loc::new(&file, 0),
            if folder == "." {
                "the Linux router in the current folder has no addresses".to_string()
            } else {
                format!("the Linux router in {folder} has no addresses")
            },
            "put its /etc/network/interfaces, or the output of `ip -o addr`, in the same folder",
        )]);
    };
    let mut findings = Findings::new(&addresses_file);
    let (name, name_at) = match parts
        .keepalived
        .as_ref()
        .and_then(|(_, k)| k.router_id.clone())
    {
        Some((name, at)) => (name, at),
        None => (folder_name(folder), Loc::new(&addresses_file, 0)),
    };
    let mut router = Router::new(name, name_at, Platform::Linux);
    router.files = vec![addresses_file.clone()];
    let virtual_ips: Vec<Ipv4Addr> = parts
        .keepalived
        .iter()
        .flat_map(|(_, k)| k.instances.iter().filter_map(|i| i.group.virtual_ip))
        .collect();
    interfaces(&mut router, &addresses, &virtual_ips, &mut findings);
    router.routes = addresses.routes;
    let mut errors = Vec::new();
    if let Some((file, keepalived)) = parts.keepalived {
        router.files.insert(0, file.clone());
        groups(&mut router, keepalived, &addresses_file, &mut errors, notes);
    }
    // ISC dhcrelay relays BOOTP alone: no other UDP broadcast is forwarded.
    router.forward_udp_ports = Some(vec![67]);
    if let Some((file, relay)) = parts.relay {
        router.files.push(file.clone());
        helpers(
            &mut router,
            relay,
            &file,
            &addresses_file,
            &mut errors,
            notes,
        );
    }
    notes.append(&mut findings.notes);
    errors.append(&mut findings.errors);
    if errors.is_empty() {
        Ok(router)
    } else {
        Err(errors)
    }
}

fn folder_name(folder: &str) -> String {
    let trimmed = folder.trim_end_matches(['/', '\\']);
    match trimmed.rsplit(['/', '\\']).next() {
        Some(name) if !name.is_empty() && name != "." && name != ".." => name.to_string(),
        _ => "linux".to_string(),
    }
}

/// One interface per name, with its first address that is not a keepalived virtual IP.
fn interfaces(
    router: &mut Router,
    addresses: &Addresses,
    virtual_ips: &[Ipv4Addr],
    findings: &mut Findings,
) {
    for address in &addresses.addresses {
        if virtual_ips.contains(&address.ip) {
            // `ip addr` on the master shows the virtual IP keepalived added: its group models it.
            continue;
        }
        let index = match router
            .interfaces
            .iter()
            .position(|i| i.name == address.interface)
        {
            Some(index) => index,
            None => {
                router
                    .interfaces
                    .push(Interface::new(&address.interface, address.at.clone()));
                router.interfaces.len() - 1
            }
        };
        let interface = &mut router.interfaces[index];
        if address.secondary || interface.address.is_some() {
            findings.notes.push(Note::new(
                address.at.clone(),
                format!(
                    "{} {}/{}",
                    address.interface, address.ip, address.prefix_len
                ),
                "not modelled: an interface has one address in the lab (the first)",
            ));
            continue;
        }
        interface.address = Some(Address {
            ip: address.ip,
            prefix_len: address.prefix_len,
            at: address.at.clone(),
        });
    }
}

/// keepalived's instances on their interfaces.
fn groups(
    router: &mut Router,
    keepalived: Keepalived,
    addresses_file: &Arc<str>,
    errors: &mut Vec<Error>,
    notes: &mut Vec<Note>,
) {
    for instance in keepalived.instances {
        let (name, at) = &instance.interface;
        let Some(interface) = router.interfaces.iter_mut().find(|i| &i.name == name) else {
            errors.push(Error::new(
                at.clone(),
                format!(
                    "vrrp_instance {} runs on {name}, which has no address in {addresses_file}",
                    instance.name
                ),
                "give the interface's address there, or correct the `interface` line",
            ));
            continue;
        };
        if !interface.groups.is_empty() {
            notes.push(Note::new(
                instance.group.at.clone(),
                format!("vrrp_instance {}", instance.name),
                format!(
                    "not modelled: {name} already has a VRRP group, and the lab gives an interface one group"
                ),
            ));
            continue;
        }
        interface.groups.push(instance.group);
    }
}

/// dhcrelay's servers as helpers on every interface it listens on toward the clients: the
/// `-id` interfaces if given, else those it listens on (all, without `INTERFACES` or `-i`)
/// that are not `-iu` and not on a server's subnet.
fn helpers(
    router: &mut Router,
    relay: Relay,
    file: &Arc<str>,
    addresses_file: &Arc<str>,
    errors: &mut Vec<Error>,
    notes: &mut Vec<Note>,
) {
    if relay.servers.is_empty() {
        errors.push(Error::new(
            relay.at.clone().unwrap_or_else(|| Loc::new(file, 0)),
            "dhcrelay has no servers to relay to",
            "set SERVERS=\"10.2.0.10 10.2.0.20\"",
        ));
        return;
    }
    for (name, at) in relay
        .interfaces
        .iter()
        .chain(&relay.upstream)
        .chain(&relay.downstream)
    {
        if !router.interfaces.iter().any(|i| &i.name == name) {
            errors.push(Error::new(
                at.clone(),
                format!(
                    "dhcrelay is to listen on {name}, which has no address in {addresses_file}"
                ),
                "give the interface's address there, or correct the interface name",
            ));
        }
    }
    let on_server_subnet = |interface: &Interface| {
        interface.address.as_ref().is_some_and(|a| {
            relay
                .servers
                .iter()
                .any(|(server, _)| engine::subnet::same_subnet(*server, a.ip, a.prefix_len))
        })
    };
    let downstream: Vec<&str> = if relay.downstream.is_empty() {
        router
            .interfaces
            .iter()
            .filter(|i| {
                relay.interfaces.is_empty() || relay.interfaces.iter().any(|(n, _)| *n == i.name)
            })
            .filter(|i| !relay.upstream.iter().any(|(n, _)| *n == i.name))
            .filter(|i| !on_server_subnet(i))
            .map(|i| i.name.as_str())
            .collect()
    } else {
        relay.downstream.iter().map(|(n, _)| n.as_str()).collect()
    };
    let downstream: Vec<String> = downstream.into_iter().map(str::to_string).collect();
    for interface in &mut router.interfaces {
        if !downstream.contains(&interface.name) {
            continue;
        }
        for (address, at) in &relay.servers {
            interface.helpers.push(Helper {
                address: *address,
                at: at.clone(),
                follows: None,
            });
        }
        interface.option82 = relay.option82.clone();
    }
    if let Some(at) = &relay.option82 {
        notes.push(Note::new(at.clone(), "OPTIONS -a".to_string(), "modelled as option 82 with the interface name as circuit ID (as dhcrelay sends it) and the router name as remote ID (which dhcrelay does not send)".to_string()));
    }
    router.relay_hops_max = relay.hops_max;
}

#[cfg(test)]
mod tests;
