//! A server's `files:`: files of the user's that its plugin serves (a real `pxelinux.0`),
//! checked and read when the topology loads. The plugin host hands the bytes to the plugin
//! through the contract and run records hash them; the engine never sees a path or a file.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::source::Source;

/// The most bytes one server's files may hold together: 16 MiB. A plugin has 64 MiB of memory
/// (`plugin_host::SandboxLimits`) and keeps the files in it, with a second copy of one while it reads
/// it and its own synthetic boot files beside them; TFTP without block-number rollover carries
/// at most 32 MiB at 512-byte blocks anyway. Enough for pxelinux, its modules and a small kernel.
pub const FILES_BYTES_MAX: u64 = 16 << 20;
/// The longest name a client may ask for: a TFTP request is one 512-byte packet and a DHCP
/// boot file name fits 128 bytes, so real names are far shorter.
pub const FILE_NAME_BYTES_MAX: usize = 255;

/// A file a server serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedFile {
    /// The name clients ask for (`pxelinux.cfg/default`), as `files:` writes it.
    pub name: String,
    /// Where it was read from: `files:`'s path, against the topology file's folder when
    /// relative.
    pub path: PathBuf,
    pub bytes: Arc<[u8]>,
}

/// The name as the TFTP servers compare names (`sdk::tftp`): without case, `\` as `/`.
fn tftp_key(name: &str) -> String {
    name.replace('\\', "/").to_ascii_lowercase()
}

/// Why `name` cannot be asked for over TFTP, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a file name may not be empty".to_string());
    }
    if name.len() > FILE_NAME_BYTES_MAX {
        return Some(format!(
            "the file name is {} bytes long; names are at most {FILE_NAME_BYTES_MAX}",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic()) {
        return Some(format!(
            "the file name `{}` holds {c:?}: names are printable ASCII without spaces",
            name.escape_debug()
        ));
    }
    if name.starts_with(['/', '\\']) {
        return Some(format!(
            "`{name}` starts with a separator: names are relative to the TFTP root"
        ));
    }
    if name
        .split(['/', '\\'])
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Some(format!(
            "`{name}` has an empty, `.` or `..` part: a client asks for a plain path"
        ));
    }
    None
}

/// Checks and reads the `files:` of server `server` (`name: path`, in name order); `base` is
/// the topology file's folder.
pub(crate) fn read(
    source: &Source,
    server: &str,
    base: &Path,
    specs: &BTreeMap<String, String>,
) -> Result<Vec<ServedFile>, Error> {
    // A name YAML needs quoted (`"boot menu.cfg"`) is found with its quotes.
    let anchors = |name: &str| -> [String; 4] {
        let key = [format!("\"{name}\""), format!("'{name}'")]
            .into_iter()
            .find(|quoted| source.text().contains(quoted.as_str()))
            .unwrap_or_else(|| name.to_string());
        [
            "servers:".to_string(),
            format!("{server}:"),
            "files:".to_string(),
            key,
        ]
    };
    // Every name first: a name no client can ask for is wrong whatever its file holds.
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for name in specs.keys() {
        let at = anchors(name);
        let at: Vec<&str> = at.iter().map(String::as_str).collect();
        if let Some(problem) = name_problem(name) {
            return Err(source.value(
                &at,
                problem,
                "name each file as the client asks for it: `pxelinux.0`, `pxelinux.cfg/default`, `SMSBoot\\x86\\wdsnbp.com`",
            ));
        }
        if let Some(other) = seen.insert(tftp_key(name), name) {
            return Err(source.conflict(
                &at,
                format!(
                    "`{other}` and `{name}` are one name to a TFTP server (names are compared without case, `\\` as `/`)"
                ),
                "give each file once",
            ));
        }
    }
    let mut total_bytes = 0u64;
    let mut files = Vec::new();
    for (name, path_text) in specs {
        let at = anchors(name);
        let at: Vec<&str> = at.iter().map(String::as_str).collect();
        let path = base.join(path_text);
        let bytes = read_one(&path, FILES_BYTES_MAX - total_bytes).map_err(|problem| {
            let kind = match problem {
                Problem::TooLarge { .. } => ErrorKind::Value,
                _ => ErrorKind::Read,
            };
            let message = problem.message(name, &path, total_bytes);
            source.error(kind, &at, message, problem.hint())
        })?;
        total_bytes += bytes.len() as u64;
        files.push(ServedFile {
            name: name.clone(),
            path,
            bytes: bytes.into(),
        });
    }
    Ok(files)
}

enum Problem {
    NotAFile,
    TooLarge { bytes: u64 },
    Io(std::io::Error),
}

impl Problem {
    fn message(&self, name: &str, path: &Path, before_bytes: u64) -> String {
        let path = path.display();
        match self {
            Problem::NotAFile => format!("`{name}`: {path} is not a regular file"),
            Problem::TooLarge { bytes } if before_bytes == 0 => format!(
                "`{name}`: {path} is {bytes} bytes; a server's files may hold at most {FILES_BYTES_MAX} bytes (16 MiB)"
            ),
            Problem::TooLarge { bytes } => format!(
                "`{name}`: {path} is {bytes} bytes, past the {FILES_BYTES_MAX} bytes (16 MiB) a server's files may hold ({before_bytes} taken by the files before it)"
            ),
            Problem::Io(error) => format!("`{name}`: cannot read {path}: {error}"),
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            Problem::NotAFile => {
                "give the path of a file (relative to the topology file, or absolute)"
            }
            Problem::TooLarge { .. } => {
                "serve boot programs and their configuration here; a large image belongs on a real server"
            }
            Problem::Io(_) => {
                "check the path (relative to the topology file, or absolute) and its permissions"
            }
        }
    }
}

/// The bytes of the file at `path`, refused past `bytes_max` without reading them all.
fn read_one(path: &Path, bytes_max: u64) -> Result<Vec<u8>, Problem> {
    let metadata = std::fs::metadata(path).map_err(Problem::Io)?;
    if !metadata.is_file() {
        return Err(Problem::NotAFile);
    }
    if metadata.len() > bytes_max {
        return Err(Problem::TooLarge {
            bytes: metadata.len(),
        });
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(bytes_max + 1).read_to_end(&mut bytes))
        .map_err(Problem::Io)?;
    // The file may have grown since its size was read.
    if bytes.len() as u64 > bytes_max {
        return Err(Problem::TooLarge {
            bytes: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::{FILES_BYTES_MAX, name_problem};
    use crate::ErrorKind;

    /// A one-server topology whose server's `files:` is `files` (one entry per line).
    fn topology(files: &str) -> String {
        format!(
            "name: t
lans:
  servers: {{ subnet: 10.2.0.0/24, latency: 20us }}
servers:
  pxe:
    lan: servers
    ip: 10.2.0.20/24
    plugin: proxydhcp
    files:
      {files}
clients:
  - {{ name: pc, lan: servers, power_on: 0s }}
"
        )
    }

    #[test]
    fn files_are_read_from_the_topology_folder_and_refused_past_the_limit() {
        let dir = std::env::temp_dir().join(format!("pxelab-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("my.cfg"), b"DEFAULT local").unwrap();
        // Sparse: one byte past the limit costs no disk.
        std::fs::File::create(dir.join("big.img"))
            .and_then(|file| file.set_len(FILES_BYTES_MAX + 1))
            .unwrap();
        let at = dir.join("t.yaml");
        let plan = crate::parse(&at, &topology("pxelinux.cfg/default: my.cfg"))
            .unwrap_or_else(|e| panic!("{e}"));
        let files = plan.served_files();
        assert_eq!(files.len(), 1);
        let (node, file) = files[0];
        assert_eq!(node, "pxe");
        assert_eq!(file.name, "pxelinux.cfg/default");
        assert_eq!(file.path, dir.join("my.cfg"));
        assert_eq!(&file.bytes[..], b"DEFAULT local");

        let refused = |files: &str| match crate::parse(&at, &topology(files)) {
            Ok(_) => panic!("accepted {files}"),
            Err(error) => error,
        };
        let error = refused("big.img: big.img");
        assert_eq!(error.kind, ErrorKind::Value, "{error}");
        assert_eq!((error.line, error.column), (10, 7), "{error}");
        assert!(error.message.contains("16 MiB"), "{error}");
        // Together past the limit: the file that crosses it is the one named.
        let half = FILES_BYTES_MAX / 2 + 1;
        for name in ["a.img", "b.img"] {
            std::fs::File::create(dir.join(name))
                .and_then(|file| file.set_len(half))
                .unwrap();
        }
        let error = refused("a.img: a.img\n      b.img: b.img");
        assert_eq!((error.line, error.column), (11, 7), "{error}");
        assert!(
            error.message.contains("taken by the files before it"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_a_client_can_ask_for_pass() {
        for name in [
            "pxelinux.0",
            "pxelinux.cfg/default",
            "SMSBoot\\x86\\wdsnbp.com",
            "a.b-c_d",
        ] {
            assert_eq!(name_problem(name), None, "{name}");
        }
    }

    #[test]
    fn names_no_client_can_ask_for_are_refused() {
        for name in [
            "",
            "/pxelinux.0",
            "\\boot",
            "a//b",
            "a/../b",
            "./a",
            "a b",
            "tab\there",
            "é",
            &"x".repeat(256),
        ] {
            assert!(name_problem(name).is_some(), "{name:?}");
        }
    }
}
