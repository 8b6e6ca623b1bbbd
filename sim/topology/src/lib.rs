//! Loads a YAML topology into a plan, and a plan plus a seed into a simulation world. Every
//! mistake in the file comes back as a typed `Error` located at `file:line:col`, with a hint,
//! never as a panic.

mod error;
mod faults;
mod files;
mod injectors;
mod model;
mod planner;
mod redundancy;
mod routers;
mod source;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::bridge::Bridge;
use engine::client::PxeClient;
use engine::log::LanId;
use engine::rng::StreamName;
use engine::scripted::Scripted;
use engine::server::ServerNode;
use engine::world::{Attachment, Builder, Fault, Limits, Node, World};
use engine::{App, Stream};
use smoltcp::wire::EthernetAddress;

pub use error::{Error, ErrorKind};
pub use files::{FILE_NAME_BYTES_MAX, FILES_BYTES_MAX, ServedFile};
pub use model::Topology;
use planner::{ClientPlan, FaultPlan, InjectorPlan, LanPlan, RouterPlan, ServerPlan};
use source::Source;

/// What a service factory reports when it cannot create a server's service (the plugin does
/// not load): its own error, whatever its type.
pub type ServiceError = Box<dyn std::error::Error + Send + Sync>;

/// Creates the service behind a server node: the plugin host implements this.
pub trait ServiceFactory {
    /// `plugin` is the topology's `plugin:` value, `base_dir` the topology file's folder (for
    /// relative paths), `files` what the server's `files:` gave (read when the topology
    /// loaded), `stream` the node's seeded stream for the plugin's random draws.
    fn create(
        &self,
        node: &str,
        plugin: &str,
        base_dir: &Path,
        config: &[(String, String)],
        files: &[ServedFile],
        stream: Stream,
    ) -> Result<Box<dyn App>, ServiceError>;
}

/// What a good run and a good sweep look like (the topology's `expect:`).
#[derive(Clone, Debug, PartialEq)]
pub struct Expectations {
    /// Every client boots.
    pub every_client_boots: bool,
    /// Every client has booted by this simulated time.
    pub boot_within_ns: Option<u64>,
    /// No service crashes.
    pub no_crashes: bool,
    /// Sweeps: the crash rate stays below this fraction.
    pub crash_rate_below: Option<f64>,
    /// Sweeps: the fraction of runs failing a per-run expectation stays below this; `None`:
    /// every run must pass.
    pub failure_rate_below: Option<f64>,
}

impl Default for Expectations {
    fn default() -> Expectations {
        Expectations {
            every_client_boots: true,
            boot_within_ns: None,
            no_crashes: true,
            crash_rate_below: None,
            failure_rate_below: None,
        }
    }
}

/// A validated topology: everything parsed and cross-checked, ready to build for any seed.
pub struct Plan {
    pub name: String,
    pub file: PathBuf,
    source: Arc<str>,
    limits: Limits,
    hold_until_ns: u64,
    lans: Vec<LanPlan>,
    routers: Vec<RouterPlan>,
    servers: Vec<ServerPlan>,
    clients: Vec<ClientPlan>,
    injectors: Vec<InjectorPlan>,
    faults: Vec<(u64, FaultPlan)>,
    /// `(node, plugin)` given to `override_plugin`, in order: part of what replays a run.
    pub plugin_overrides: Vec<(String, String)>,
    pub expect: Expectations,
    /// The documented failure the topology reproduces, if it is one of the scenario library.
    pub scenario: Option<Scenario>,
}

/// A topology's `scenario:`: a documented failure and the variant with its fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub title: String,
    pub source: String,
    pub symptom: String,
    /// The fix variant's file, as written (relative to the topology's folder).
    pub fix_file: String,
    pub fix_change: String,
}

/// The name of the node that bridges LAN `lan` to the outside.
fn bridge_node(lan: &str) -> String {
    format!("real@{lan}")
}

/// A LAN bridged to a TAP device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeView {
    pub lan: String,
    pub tap: String,
    /// The bridge's node in the world (`World::inject`, `World::drain`).
    pub node: String,
}

/// One server of a plan, read-only.
pub struct ServerView<'a> {
    pub config: &'a engine::server::ServerConfig,
    /// A built-in plugin name or a `.wasm` path, as `plugin:` gives it.
    pub plugin: &'a str,
    /// `config:`, each value as the text the plugin parses.
    pub plugin_config: &'a [(String, String)],
    /// `files:`, read.
    pub files: &'a [ServedFile],
}

/// The JSON Schema (draft 2020-12) of the topology format, for editors: point the YAML
/// language server at it and topologies complete and validate as they are typed.
pub fn schema() -> serde_json::Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(Topology)).expect("a schema is plain JSON");
    schema["title"] = "pxelab topology".into();
    schema["description"] = "A pxelab network: LANs, routers with DHCP relays and HSRP/VRRP \
        redundancy, boot servers (WebAssembly plugins), PXE clients, faults and expectations."
        .into();
    schema
}

/// Reads and validates a topology file.
pub fn load(path: &Path) -> Result<Plan, Error> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::unlocated(
            ErrorKind::Read,
            &file,
            format!("cannot read the topology: {e}"),
            "check the path; topologies ship in topologies/",
        )
    })?;
    parse(path, &text)
}

/// Validates topology text; `path` names it in errors and anchors relative plugin paths.
pub fn parse(path: &Path, text: &str) -> Result<Plan, Error> {
    let source = Source::new(path.display().to_string(), line_feeds(text).into());
    let content = source.text().lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#') && line != "---"
    });
    if !content {
        return Err(source.error_at_span(
            ErrorKind::Syntax,
            0..0,
            "the topology file is empty",
            "README.md (Topology format) shows a complete file",
        ));
    }
    let topology: Topology =
        serde_yaml::from_str(source.text()).map_err(|e| source.yaml_error(&e))?;
    planner::plan(&source, path, topology)
}

/// The text with every line break a LF. YAML also breaks lines at a lone CR (old Mac files) and
/// at NEL, LS and PS, and so do editors; the loader finds keys line by line, so without this a
/// mistake in such a file would be reported on the wrong line.
fn line_feeds(text: &str) -> Cow<'_, str> {
    const BREAKS: [char; 4] = ['\r', '\u{85}', '\u{2028}', '\u{2029}'];
    if !text.contains(BREAKS) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace(BREAKS, "\n"))
}

impl Plan {
    /// The topology file's text, as loaded.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// An error located by `anchors` (`["servers:", "wds:", "config:"]`) in this plan's file.
    /// Once a plan exists, what can still be wrong is a server's plugin, so the error is of
    /// kind `Plugin`.
    pub fn error_at(
        &self,
        anchors: &[&str],
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        self.located()
            .error(ErrorKind::Plugin, anchors, message, hint)
    }

    fn located(&self) -> Source {
        Source::new(self.file.display().to_string(), self.source.clone())
    }

    /// `(server node, plugin)` of every server, after overrides: what a run record hashes.
    pub fn server_plugins(&self) -> Vec<(String, String)> {
        self.servers
            .iter()
            .map(|server| (server.config.name.clone(), server.plugin.clone()))
            .collect()
    }

    /// Every router as the engine will run it (interfaces, helpers, redundancy groups with the
    /// roles they converge to), in file order.
    pub fn routers(&self) -> impl Iterator<Item = &engine::router::RouterConfig> {
        self.routers.iter().map(|router| &router.config)
    }

    /// Every injector by name with what it sends (`injectors:`), in name order.
    pub fn injectors(&self) -> impl Iterator<Item = (&str, &engine::scripted::InjectorConfig)> {
        self.injectors
            .iter()
            .map(|injector| (injector.name.as_str(), &injector.config))
    }

    /// Every server: its node, its plugin (after overrides) and the plugin's `config:` as the
    /// plugin receives it, in file order.
    pub fn servers(&self) -> impl Iterator<Item = ServerView<'_>> {
        self.servers.iter().map(|server| ServerView {
            config: &server.config,
            plugin: &server.plugin,
            plugin_config: &server.plugin_config,
            files: &server.files,
        })
    }

    /// `(server node, file)` of every file a server serves (`files:`), servers in file order,
    /// each server's files in name order: what run records and reports hash.
    pub fn served_files(&self) -> Vec<(&str, &ServedFile)> {
        self.servers
            .iter()
            .flat_map(|server| {
                server
                    .files
                    .iter()
                    .map(|file| (server.config.name.as_str(), file))
            })
            .collect()
    }

    /// The folder relative `plugin:` paths are read from.
    pub fn base_dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// Runs server `node` with `plugin` instead of its `plugin:` value, so one topology can be
    /// compared across implementations (the CLI's `--plugin NODE=PLUGIN`). `plugin` is read like
    /// `plugin:`: a built-in name, or a `.wasm` path relative to the topology file (the CLI
    /// passes absolute paths). An unknown node is an error listing the server nodes.
    pub fn override_plugin(&mut self, node: &str, plugin: &str) -> Result<(), Error> {
        if let Some(server) = self.servers.iter_mut().find(|s| s.config.name == node) {
            server.plugin = plugin.to_string();
            self.plugin_overrides
                .push((node.to_string(), plugin.to_string()));
            return Ok(());
        }
        let names: Vec<&str> = self
            .servers
            .iter()
            .map(|s| s.config.name.as_str())
            .collect();
        Err(Error::unlocated(
            ErrorKind::Unknown,
            &self.file.display().to_string(),
            format!("there is no server node `{node}` to run `{plugin}` on"),
            if names.is_empty() {
                "this topology has no server nodes".to_string()
            } else {
                format!("server nodes: {}", names.join(", "))
            },
        ))
    }

    /// Builds the world for `seed`. Only service creation can fail here (a plugin that does not
    /// load); the error points at the server's `plugin:` line.
    pub fn build(&self, seed: u64, services: &dyn ServiceFactory) -> Result<World, Error> {
        Ok(self.builder(seed, services, None)?.build())
    }

    /// `build`, with every timing draw reported to `draws` (which may pin draws to their
    /// nominal values; see `engine::rng::Draws`).
    pub fn build_with_draws(
        &self,
        seed: u64,
        services: &dyn ServiceFactory,
        draws: Option<Arc<engine::rng::Draws>>,
    ) -> Result<World, Error> {
        Ok(self.builder(seed, services, draws)?.build())
    }

    /// The world of `seed` with everything the topology describes, not yet built: for callers
    /// that add nodes of their own (a tap, say) or change how it delivers before it runs.
    pub fn builder(
        &self,
        seed: u64,
        services: &dyn ServiceFactory,
        draws: Option<Arc<engine::rng::Draws>>,
    ) -> Result<Builder, Error> {
        let mut world = Builder::with_draws(seed, self.limits, draws);
        if self.hold_until_ns > 0 {
            world.hold_until(self.hold_until_ns);
        }
        // The planner numbers LANs in file order; the world hands out their ids.
        let lans: Vec<LanId> = self
            .lans
            .iter()
            .map(|lan| world.add_lan(&lan.name, lan.config.clone()))
            .collect();
        self.add_routers(&mut world, &lans);
        self.add_servers(&mut world, &lans, services)?;
        self.add_clients(&mut world, &lans);
        self.add_bridges(&mut world, &lans);
        self.add_injectors(&mut world, &lans);
        self.add_faults(&mut world, &lans);
        Ok(world)
    }

    fn add_routers(&self, world: &mut Builder, lans: &[LanId]) {
        for router in &self.routers {
            let attachments = router
                .config
                .interfaces
                .iter()
                .zip(&router.lans)
                .map(|(interface, &lan)| Attachment {
                    lan: lans[lan],
                    mac: interface.mac,
                    addresses: vec![interface.ip],
                    virtual_macs: interface
                        .redundancy
                        .iter()
                        .map(|group| {
                            let mac = if group.use_vmac {
                                group.virtual_mac()
                            } else {
                                interface.mac
                            };
                            (mac, vec![group.virtual_ip])
                        })
                        .collect(),
                })
                .collect();
            world.add_router(&router.config.name, router.config.clone(), attachments);
        }
    }

    fn add_servers(
        &self,
        world: &mut Builder,
        lans: &[LanId],
        services: &dyn ServiceFactory,
    ) -> Result<(), Error> {
        for server in &self.servers {
            let name = &server.config.name;
            let stream = world.named_stream(StreamName::Plugin { server: name });
            let app = services
                .create(
                    name,
                    &server.plugin,
                    self.base_dir(),
                    &server.plugin_config,
                    &server.files,
                    stream,
                )
                .map_err(|error| {
                    self.error_at(
                        &["servers:", &format!("{name}:"), "plugin:"],
                        error.to_string(),
                        "use a built-in plugin name, or a path (relative to the topology file) to a .wasm plugin: a component, or the core module cargo builds with the pxelab SDK",
                    )
                })?;
            let attachment = Attachment {
                lan: lans[server.lan],
                mac: server.config.mac,
                addresses: vec![server.config.ip],
                virtual_macs: vec![],
            };
            let node = Node::Server(Box::new(ServerNode::new(server.config.clone(), app)));
            world.add_node(name, node, vec![attachment], 0);
        }
        Ok(())
    }

    fn add_clients(&self, world: &mut Builder, lans: &[LanId]) {
        for client in &self.clients {
            let name = &client.config.name;
            let start_ns = world
                .named_stream(StreamName::PowerOn { client: name })
                .sample(&client.power_on);
            let stream = world.named_stream(StreamName::Firmware { client: name });
            let attachment = Attachment {
                lan: lans[client.lan],
                mac: client.config.mac,
                addresses: vec![],
                virtual_macs: vec![],
            };
            world.add_node(
                name,
                Node::Client(PxeClient::new(client.config.clone(), stream)),
                vec![attachment],
                start_ns,
            );
        }
    }

    /// A bridge node per bridged LAN, after every other node: a topology without bridges
    /// builds the world it always did.
    fn add_bridges(&self, world: &mut Builder, lans: &[LanId]) {
        for (index, lan) in self.lans.iter().enumerate() {
            if lan.bridge.is_none() {
                continue;
            }
            let attachment = Attachment {
                lan: lans[index],
                // Never a frame's source: the machines behind the bridge send with their own.
                mac: EthernetAddress([0x02, 0x50, 0x04, 0, 0, index as u8]),
                addresses: vec![],
                virtual_macs: vec![],
            };
            world.add_node(
                &bridge_node(&lan.name),
                Node::Bridge(Bridge::new()),
                vec![attachment],
                0,
            );
        }
    }

    /// An injecting tap per `injectors:` entry, after every other node: a topology without
    /// injectors builds the world it always did.
    fn add_injectors(&self, world: &mut Builder, lans: &[LanId]) {
        for injector in &self.injectors {
            let name = &injector.name;
            let start_ns = world
                .named_stream(StreamName::InjectorStart { injector: name })
                .sample(&injector.start);
            let stream = world.named_stream(StreamName::InjectorPeriod { injector: name });
            let attachment = Attachment {
                lan: lans[injector.lan],
                mac: injector.config.mac,
                addresses: vec![injector.config.ip],
                virtual_macs: vec![],
            };
            world.add_node(
                name,
                Node::Scripted(Scripted::injector(injector.config.clone(), stream)),
                vec![attachment],
                start_ns,
            );
        }
    }

    /// Every bridged LAN: the LAN, its TAP device and the bridge node's name in the world.
    pub fn bridges(&self) -> Vec<BridgeView> {
        self.lans
            .iter()
            .filter_map(|lan| {
                Some(BridgeView {
                    lan: lan.name.clone(),
                    tap: lan.bridge.clone()?,
                    node: bridge_node(&lan.name),
                })
            })
            .collect()
    }

    /// Bridges LAN `lan` to TAP device `tap` (the CLI's `--bridge LAN=TAP`), in place of its
    /// `bridge:` if it has one. An unknown LAN is an error listing the LANs.
    pub fn set_bridge(&mut self, lan: &str, tap: &str) -> Result<(), Error> {
        let file = self.file.display().to_string();
        if !planner::is_interface_name(tap) {
            return Err(Error::unlocated(
                ErrorKind::Value,
                &file,
                format!("--bridge {lan}={tap}: `{tap}` is not a Linux interface name"),
                planner::INTERFACE_NAME_HINT,
            ));
        }
        if let Some(plan) = self.lans.iter_mut().find(|plan| plan.name == lan) {
            plan.bridge = Some(tap.to_string());
            return Ok(());
        }
        let names: Vec<&str> = self.lans.iter().map(|plan| plan.name.as_str()).collect();
        Err(Error::unlocated(
            ErrorKind::Value,
            &file,
            format!("--bridge {lan}={tap}: no LAN `{lan}` in the topology"),
            format!("the LANs are: {}", names.join(", ")),
        ))
    }

    fn add_faults(&self, world: &mut Builder, lans: &[LanId]) {
        for (at_ns, fault) in &self.faults {
            let node = |name: &str| world.node_id(name).expect("validated by the planner");
            let fault = match fault {
                FaultPlan::Crash(name) => Fault::Crash { node: node(name) },
                FaultPlan::Shutdown(name) => Fault::Shutdown { node: node(name) },
                FaultPlan::Recover(name) => Fault::Recover { node: node(name) },
                FaultPlan::Service(name, action) => Fault::Service {
                    node: node(name),
                    action: *action,
                },
                FaultPlan::Link {
                    node: name,
                    interface,
                    up,
                } => Fault::Link {
                    node: node(name),
                    interface: *interface,
                    up: *up,
                },
                FaultPlan::Lan { lan, change } => Fault::Lan {
                    lan: lans[*lan],
                    change: change.clone(),
                },
            };
            world.add_fault(*at_ns, fault);
        }
    }
}
