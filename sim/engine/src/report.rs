//! What a finished run amounts to: per-client outcomes, service crashes, the digest, and the
//! numbers a sweep aggregates. Derived from the world and its event log, never kept on the side.

use crate::client::Outcome;
use crate::event;
use crate::log::Kind;
use crate::world::{Node, StopReason, World};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crash {
    pub node: String,
    pub time_ns: u64,
    pub cause: event::Crash,
    /// `cause` as people read it.
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientReport {
    pub name: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub digest: String,
    pub sim_time_ns: u64,
    pub events: u64,
    pub stop: StopReason,
    pub clients: Vec<ClientReport>,
    pub crashes: Vec<Crash>,
}

impl Report {
    pub(crate) fn new(world: &World, stop: StopReason) -> Report {
        let log = world.log();
        let clients = world
            .nodes()
            .filter_map(|(name, node)| match node {
                Node::Client(client) => Some(ClientReport {
                    name: name.to_string(),
                    outcome: client.outcome().clone(),
                }),
                _ => None,
            })
            .collect();
        let crashes = log
            .records()
            .iter()
            .filter_map(|record| match &record.kind {
                Kind::Crash(cause) => Some(Crash {
                    node: log.node_name(record.node).to_string(),
                    time_ns: record.time_ns,
                    cause: (**cause).clone(),
                    reason: cause.to_string(),
                }),
                _ => None,
            })
            .collect();
        Report {
            seed: world.seed(),
            digest: log.digest(),
            sim_time_ns: world.now_ns(),
            events: world.events(),
            stop,
            clients,
            crashes,
        }
    }

    pub fn all_booted(&self) -> bool {
        self.clients
            .iter()
            .all(|client| matches!(client.outcome, Outcome::Booted { .. }))
    }
}
