//! The planner's fault timeline: each `faults:` entry is a time and one action on a machine,
//! a service, a link or a LAN, its target named by what the sections before it planned.

use engine::world::{LanChange, ServiceAction};

use crate::error::{Error, ErrorKind};
use crate::model::FaultSpec;
use crate::planner::{FaultPlan, Planner};

impl Planner<'_> {
    pub(crate) fn plan_faults(&self, specs: &[FaultSpec]) -> Result<Vec<(u64, FaultPlan)>, Error> {
        specs.iter().map(|spec| self.fault(spec)).collect()
    }

    fn fault(&self, spec: &FaultSpec) -> Result<(u64, FaultPlan), Error> {
        let source = self.source;
        let base = ["faults:", &format!("at: {}", spec.at)];
        let with = |key: &'static str| [base[0], base[1], key];
        let at_ns = source.duration_ns(&with("at:"), &spec.at)?;
        let actions = [
            spec.crash.is_some(),
            spec.shutdown.is_some(),
            spec.recover.is_some(),
            spec.restart.is_some(),
            spec.link_down.is_some(),
            spec.link_up.is_some(),
            spec.lan.is_some(),
        ];
        let lan_keys = spec.latency.is_some()
            || spec.loss.is_some()
            || spec.duplicate.is_some()
            || spec.reorder.is_some()
            || spec.reorder_delay.is_some();
        if lan_keys && spec.lan.is_none() {
            return Err(source.error(
                ErrorKind::Syntax,
                &with("at:"),
                "latency, loss, duplicate and reorder change a LAN",
                "add `lan: <name>` to say which",
            ));
        }
        if actions.iter().filter(|&&a| a).count() != 1 {
            return Err(source.error(
                ErrorKind::Syntax,
                &with("at:"),
                "a fault needs exactly one action",
                "give each entry `at:` and one of: crash, shutdown, recover, restart, link_down, link_up, lan",
            ));
        }
        let plan = if let Some(name) = &spec.crash {
            FaultPlan::Crash(self.machine(&base, "crash:", name)?)
        } else if let Some(name) = &spec.shutdown {
            FaultPlan::Shutdown(self.machine(&base, "shutdown:", name)?)
        } else if let Some(name) = &spec.recover {
            FaultPlan::Recover(self.machine(&base, "recover:", name)?)
        } else if let Some(target) = &spec.restart {
            self.restart(&with("restart:"), target)?
        } else if let Some(lan) = &spec.lan {
            self.lan_change(&base, spec, lan)?
        } else {
            let (key, target, up) = match (&spec.link_down, &spec.link_up) {
                (Some(target), _) => ("link_down:", target, false),
                (_, Some(target)) => ("link_up:", target, true),
                _ => unreachable!("exactly one action"),
            };
            let (node, interface) = self.link_target(&[base[0], base[1], key], target)?;
            FaultPlan::Link {
                node,
                interface,
                up,
            }
        };
        Ok((at_ns, plan))
    }

    /// A router or server that can crash, shut down or recover.
    fn machine(&self, base: &[&str; 2], key: &'static str, name: &str) -> Result<String, Error> {
        if self.routers.iter().any(|r| r.config.name == name)
            || self.servers.iter().any(|s| s.config.name == name)
        {
            return Ok(name.to_string());
        }
        let known: Vec<_> = self
            .routers
            .iter()
            .map(|r| r.config.name.as_str())
            .chain(self.servers.iter().map(|s| s.config.name.as_str()))
            .collect();
        Err(self.source.unknown(
            &[base[0], base[1], key],
            format!("unknown router or server `{name}`"),
            format!("routers and servers can crash: {}", known.join(", ")),
        ))
    }

    /// `server` (a reboot), `server/WMI` or `server/<service id>`.
    fn restart(&self, anchors: &[&str], target: &str) -> Result<FaultPlan, Error> {
        let (server, service) = match target.split_once('/') {
            Some((server, service)) => (server, Some(service)),
            None => (target, None),
        };
        let Some(plan) = self.servers.iter().find(|s| s.config.name == server) else {
            let known: Vec<_> = self
                .servers
                .iter()
                .map(|s| s.config.name.as_str())
                .collect();
            return Err(self.source.unknown(
                anchors,
                format!("unknown server `{server}`"),
                format!("the servers are: {}", known.join(", ")),
            ));
        };
        let id = &plan.service_id;
        let action = match service {
            None => ServiceAction::Reboot,
            Some(s) if s.eq_ignore_ascii_case("wmi") || s.eq_ignore_ascii_case("winmgmt") => {
                ServiceAction::RestartWmi
            }
            Some(s) if s == id => ServiceAction::Restart,
            Some(other) => {
                return Err(self.source.unknown(
                    anchors,
                    format!("server `{server}` has no service `{other}`"),
                    format!("restart `{server}` (reboot), `{server}/WMI` or `{server}/{id}`"),
                ));
            }
        };
        Ok(FaultPlan::Service(server.to_string(), action))
    }

    /// New impairments for LAN `lan_name`.
    fn lan_change(
        &self,
        base: &[&str; 2],
        spec: &FaultSpec,
        lan_name: &str,
    ) -> Result<FaultPlan, Error> {
        let source = self.source;
        let with = |key: &'static str| [base[0], base[1], key];
        let Some(lan) = self.lans.iter().position(|l| l.name == lan_name) else {
            let known: Vec<_> = self.lans.iter().map(|l| l.name.as_str()).collect();
            return Err(source.unknown(
                &with("lan:"),
                format!("unknown LAN `{lan_name}`"),
                format!("the LANs are: {}", known.join(", ")),
            ));
        };
        let probability = |key: &'static str, value: Option<f64>| {
            value.map(|v| source.probability(&with(key), v)).transpose()
        };
        let distribution = |key: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| source.distribution(&with(key), v))
                .transpose()
        };
        Ok(FaultPlan::Lan {
            lan,
            change: LanChange {
                latency: distribution("latency:", &spec.latency)?,
                loss: probability("loss:", spec.loss)?,
                duplicate: probability("duplicate:", spec.duplicate)?,
                reorder: probability("reorder:", spec.reorder)?,
                reorder_delay: distribution("reorder_delay:", &spec.reorder_delay)?,
            },
        })
    }

    /// `router/interface`, or the name of a server or client (they have one interface).
    fn link_target(&self, anchors: &[&str], target: &str) -> Result<(String, u32), Error> {
        if let Some((router, interface)) = target.split_once('/') {
            let Some(plan) = self.routers.iter().find(|r| r.config.name == router) else {
                return Err(self.source.unknown(
                    anchors,
                    format!("unknown router `{router}`"),
                    "write `router/interface`, e.g. `r1/Vlan10`",
                ));
            };
            let interfaces = &plan.config.interfaces;
            let Some(index) = interfaces.iter().position(|i| i.name == interface) else {
                let known: Vec<_> = interfaces.iter().map(|i| i.name.as_str()).collect();
                return Err(self.source.unknown(
                    anchors,
                    format!("router `{router}` has no interface `{interface}`"),
                    format!("its interfaces are: {}", known.join(", ")),
                ));
            };
            return Ok((router.to_string(), index as u32));
        }
        let single = self.servers.iter().any(|s| s.config.name == target)
            || self.clients.iter().any(|c| c.config.name == target);
        if single {
            return Ok((target.to_string(), 0));
        }
        Err(self.source.unknown(
            anchors,
            format!("`{target}` is not a server, a client or `router/interface`"),
            "name a server or client, or write `router/interface`, e.g. `r1/Vlan10`",
        ))
    }
}
