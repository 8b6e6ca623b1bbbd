//! `pxelab import`: router and relay configurations in, a topology out. Each file is read by
//! the dialect it is written in (Cisco IOS / IOS-XE and Arista EOS running-configs, a
//! keepalived.conf, Debian's isc-dhcp-relay defaults, a Linux router's addresses) into a
//! neutral model of routers; the routers are joined into a lab (LANs, groups, servers,
//! clients) and written as topology YAML. Every line that is not modelled is a `Note` with
//! its `file:line`; input that cannot be modelled is an `Error`, and then nothing is written.
//!
//! A Linux router is the files of one folder: its addresses (an ifupdown
//! `/etc/network/interfaces`, or what `ip -o addr` prints), and a keepalived.conf and an
//! isc-dhcp-relay defaults file if it runs them. IOS and EOS routers are one file each.

mod addresses;
mod blocks;
mod dhcrelay;
mod eos;
mod ios;
mod keepalived;
pub mod lab;
mod linux;
pub mod model;
pub mod report;
mod yaml;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use lab::Choice;
pub use model::Platform;
pub use report::{Error, Errors, Loc, Note};

/// One input file: its name as the user gave it (the name every note and error carries) and
/// its text.
#[derive(Clone, Debug)]
pub struct Input {
    pub file: Arc<str>,
    pub text: String,
}

impl Input {
    pub fn new(file: impl Into<Arc<str>>, text: impl Into<String>) -> Input {
        Input {
            file: file.into(),
            text: text.into(),
        }
    }

    /// The folder the file is in, which groups a Linux router's files.
    fn folder(&self) -> String {
        match Path::new(&*self.file).parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.display().to_string(),
            _ => ".".to_string(),
        }
    }
}

/// What a file is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Ios,
    Eos,
    Keepalived,
    Dhcrelay,
    Addresses,
}

impl Dialect {
    pub fn label(self) -> &'static str {
        match self {
            Dialect::Ios => "Cisco IOS / IOS-XE running-config",
            Dialect::Eos => "Arista EOS running-config",
            Dialect::Keepalived => "keepalived.conf",
            Dialect::Dhcrelay => "isc-dhcp-relay defaults",
            Dialect::Addresses => "interface addresses",
        }
    }

    /// The dialect a text is written in, by what only that dialect writes.
    pub fn of(text: &str) -> Option<Dialect> {
        if keepalived::looks_like(text) {
            Some(Dialect::Keepalived)
        } else if dhcrelay::looks_like(text) {
            Some(Dialect::Dhcrelay)
        } else if addresses::looks_like(text) {
            Some(Dialect::Addresses)
        } else if eos::looks_like(text) {
            Some(Dialect::Eos)
        } else if ios::looks_like(text) {
            Some(Dialect::Ios)
        } else {
            None
        }
    }
}

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The topology's `name:`; default `imported`.
    pub name: Option<String>,
    /// `--server ADDR=PLUGIN`: the plugin of the server at a helper address.
    pub servers: Vec<(Ipv4Addr, String)>,
    /// Where the topology will be written (its errors name this file); default
    /// `imported.yaml`.
    pub output: Option<PathBuf>,
}

/// A finished import.
#[derive(Debug)]
pub struct Imported {
    /// The topology, which `topology::parse` accepts.
    pub yaml: String,
    /// Every line not modelled, in file and line order.
    pub notes: Vec<Note>,
    /// Each server: its helper address, node name, plugin and how the plugin was chosen.
    pub servers: Vec<(Ipv4Addr, String, String, Choice)>,
    /// Each input file with its dialect.
    pub files: Vec<(Arc<str>, Dialect)>,
}

/// The files to import: each path a file, or a folder whose files (not hidden, not
/// `README*`) are taken in name order.
pub fn read(paths: &[PathBuf]) -> Result<Vec<Input>, Errors> {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let shown: Arc<str> = path.display().to_string().into();
        let files = if path.is_dir() {
            match folder_files(path) {
                Ok(files) => files,
                Err(error) => {
                    errors.push(Error::new(
                        Loc::new(&shown, 0),
                        format!("cannot list the folder: {error}"),
                        "",
                    ));
                    continue;
                }
            }
        } else {
            vec![path.clone()]
        };
        for file in files {
            let name: Arc<str> = file.display().to_string().into();
            match std::fs::read_to_string(&file) {
                Ok(text) => inputs.push(Input { file: name, text }),
                Err(error) => errors.push(Error::new(
                    Loc::new(&name, 0),
                    format!("cannot read it: {error}"),
                    if error.kind() == std::io::ErrorKind::InvalidData {
                        "a configuration is text (UTF-8); this file is not"
                    } else {
                        "check the path"
                    },
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(inputs)
    } else {
        Err(Errors(errors))
    }
}

fn folder_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with("README") || !entry.path().is_file() {
            continue;
        }
        files.push(entry.path());
    }
    files.sort();
    Ok(files)
}

/// Imports `inputs` into a topology.
pub fn import(inputs: &[Input], options: &Options) -> Result<Imported, Errors> {
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let mut routers = Vec::new();
    let mut linux: BTreeMap<String, linux::Parts> = BTreeMap::new();
    let mut files = Vec::new();
    if inputs.is_empty() {
        return Err(Errors(vec![Error::new(
            Loc::new(&"pxelab import".into(), 0),
            "no configuration files",
            "give IOS/EOS running-configs, or a Linux router's files",
        )]));
    }
    for input in inputs {
        let Some(dialect) = Dialect::of(&input.text) else {
            errors.push(Error::new(
                Loc::new(&input.file, 1),
                "cannot tell what configuration this is",
                "pxelab import reads Cisco IOS/IOS-XE and Arista EOS running-configs, keepalived.conf, \
                 /etc/default/isc-dhcp-relay, /etc/network/interfaces and `ip -o addr` output",
            ));
            continue;
        };
        files.push((input.file.clone(), dialect));
        let mut findings = report::Findings::new(&input.file);
        match dialect {
            Dialect::Ios => routers.push(ios::parse(&input.file, &input.text, &mut findings)),
            Dialect::Eos => routers.push(eos::parse(&input.file, &input.text, &mut findings)),
            Dialect::Keepalived => {
                let parsed = keepalived::parse(&input.text, &mut findings);
                let parts = linux.entry(input.folder()).or_default();
                errors.extend(keep_first(
                    &mut parts.keepalived,
                    input,
                    "keepalived.conf",
                    parsed,
                ));
            }
            Dialect::Dhcrelay => {
                let parsed = dhcrelay::parse(&input.text, &mut findings);
                let parts = linux.entry(input.folder()).or_default();
                errors.extend(keep_first(
                    &mut parts.relay,
                    input,
                    "isc-dhcp-relay defaults file",
                    parsed,
                ));
            }
            Dialect::Addresses => {
                let parsed = addresses::parse(&input.text, &mut findings);
                let parts = linux.entry(input.folder()).or_default();
                errors.extend(keep_first(
                    &mut parts.addresses,
                    input,
                    "addresses file",
                    parsed,
                ));
            }
        }
        notes.append(&mut findings.notes);
        errors.append(&mut findings.errors);
    }
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    for (folder, parts) in linux {
        match linux::router(&folder, parts, &mut notes) {
            Ok(router) => routers.push(router),
            Err(mut more) => errors.append(&mut more),
        }
    }
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    let lab = lab::build(routers, &options.servers, &mut notes).map_err(Errors)?;
    notes.sort_by(|a, b| a.at.cmp(&b.at));
    let sources = sources(&files, &lab);
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| "imported".to_string());
    let yaml = yaml::write(&name, &lab, &sources, &notes);
    let output = options
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("imported.yaml"));
    if let Err(error) = topology::parse(&output, &yaml) {
        return Err(Errors(vec![Error::new(
            Loc::new(&output.display().to_string().into(), 0),
            format!(
                "the imported topology does not load; this is pxelab's mistake, please report it with the configurations:\n{}",
                error.render()
            ),
            "",
        )]));
    }
    let servers = lab
        .servers
        .iter()
        .map(|s| (s.ip, s.name.clone(), s.plugin.clone(), s.choice.clone()))
        .collect();
    Ok(Imported {
        yaml,
        notes,
        servers,
        files,
    })
}

/// Keeps a Linux router's part unless its folder already has one of its kind: that is an error.
fn keep_first<T>(
    slot: &mut Option<(Arc<str>, T)>,
    input: &Input,
    what: &str,
    parsed: T,
) -> Option<Error> {
    match slot {
        Some((first, _)) => Some(Error::new(
            Loc::new(&input.file, 0),
            format!(
                "a second {what} in {} (the first is {first})",
                input.folder()
            ),
            "a Linux router is the files of one folder: put each router's files in a folder of its own",
        )),
        None => {
            *slot = Some((input.file.clone(), parsed));
            None
        }
    }
}

/// The header's list of input files: the dialect, and the router each one describes.
fn sources(files: &[(Arc<str>, Dialect)], lab: &lab::Lab) -> Vec<yaml::Source> {
    files
        .iter()
        .map(|(file, dialect)| {
            let router = lab
                .routers
                .iter()
                .find(|r| r.files.iter().any(|f| f.as_str() == &**file))
                .map_or(String::new(), |r| format!(", router {}", r.name));
            yaml::Source {
                file: file.to_string(),
                what: format!("{}{router}", dialect.label()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
