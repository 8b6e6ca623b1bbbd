//! The on-disk compile cache: components precompiled by wasmtime, so a second process start
//! loads machine code instead of compiling every plugin again. An entry is keyed by the SHA-256
//! of the component bytes and by the engine's compatibility hash (wasmtime version, target,
//! `Config`), so a changed engine never loads an artifact compiled for another one. The cache is
//! an optimization only: any entry that cannot be read is ignored with a warning and rebuilt.

use std::ffi::OsString;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where the cache lives unless told otherwise: `$PXELAB_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/pxelab`, else `$HOME/.cache/pxelab`; `None` when `PXELAB_CACHE=off` (or
/// `0`, `false`, `no`) or no location is known.
pub fn default_dir() -> Option<PathBuf> {
    dir_from(|name| std::env::var_os(name))
}

/// `default_dir` over any environment, so it can be tested without touching the process's.
pub fn dir_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|value| !value.is_empty());
    if let Some(switch) = set("PXELAB_CACHE") {
        let switch = switch.to_string_lossy().to_ascii_lowercase();
        if matches!(switch.as_str(), "off" | "0" | "false" | "no") {
            return None;
        }
    }
    if let Some(dir) = set("PXELAB_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    if let Some(xdg) = set("XDG_CACHE_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("pxelab"));
    }
    set("HOME").map(|home| PathBuf::from(home).join(".cache").join("pxelab"))
}

/// A folder of precompiled components for one engine configuration.
pub(crate) struct DiskCache {
    dir: PathBuf,
    /// Hex SHA-256 of `Engine::precompile_compatibility_hash`.
    engine_key: String,
}

/// Feeds `Hash` output into SHA-256: unlike `DefaultHasher`, the result is specified and
/// stable across Rust releases, and wide enough that distinct engines never share a key.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only the full digest is used (see `engine_key`); this satisfies the trait.
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(
            digest[..8]
                .try_into()
                .expect("a SHA-256 digest has 32 bytes"),
        )
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl DiskCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> DiskCache {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        DiskCache {
            dir,
            engine_key: hex(&hasher.0.finalize()),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for the component whose bytes hash to `component_sha256` (hex).
    pub(crate) fn entry(&self, component_sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{component_sha256}-{}.cwasm", self.engine_key))
    }

    /// The cached component, if there is a usable entry. A missing entry is the normal cold
    /// start; an entry that does not load is reported and treated as missing.
    pub(crate) fn load(&self, engine: &Engine, component_sha256: &str) -> Option<Component> {
        let path = self.entry(component_sha256);
        match path.try_exists() {
            Ok(true) => {}
            Ok(false) => return None,
            Err(error) => {
                tracing::warn!(path = %path.display(), "compile cache entry not readable ({error}); compiling instead");
                return None;
            }
        }
        // SAFETY: `deserialize_file` trusts the file to be a wasmtime artifact for this engine
        // and to stay unchanged while mapped. Both hold for files of this cache:
        // - only `store` below writes here, with bytes from `Engine::precompile_component`;
        // - the name carries the component's SHA-256 and the engine's compatibility hash, so
        //   the artifact is the one for these bytes and this engine (wasmtime also refuses an
        //   artifact from another version or configuration, with an error, not UB);
        // - entries are written to a temporary file, synced, then renamed into place, so a
        //   reader never sees a partial file, and an entry is never modified in place: a
        //   rewrite replaces the directory entry and leaves a mapped old file intact.
        // What this cannot defend against is someone else editing files in the user's own
        // cache folder, which is outside what pxelab's sandbox promises (like ~/.cargo).
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), "ignoring a compile cache entry that does not load ({error:#}); compiling instead");
                None
            }
        }
    }

    /// Saves `artifact` (from `precompile_component`) for the next process. Failing to save is
    /// reported and otherwise harmless: the run goes on with the artifact in memory.
    pub(crate) fn store(&self, component_sha256: &str, artifact: &[u8]) {
        let path = self.entry(component_sha256);
        let result = fs::create_dir_all(&self.dir).and_then(|()| write_atomically(&path, artifact));
        match result {
            Ok(()) => {
                tracing::debug!(path = %path.display(), bytes = artifact.len(), "compile cache entry written")
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), "cannot write a compile cache entry ({error}); the next start compiles again")
            }
        }
    }
}

/// Writes `bytes` to `path` completely or not at all: a temporary file beside it (unique per
/// process and call, so concurrent writers never share one), synced, then renamed over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let folder = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = folder.join(format!(
        ".{name}.{}.{}.partial",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    }

    #[test]
    fn the_cache_folder_follows_the_environment() {
        let home = [("HOME", "/home/ada")];
        assert_eq!(
            dir_from(env(&home)),
            Some(PathBuf::from("/home/ada/.cache/pxelab"))
        );
        let xdg = [("HOME", "/home/ada"), ("XDG_CACHE_HOME", "/var/cache/ada")];
        assert_eq!(
            dir_from(env(&xdg)),
            Some(PathBuf::from("/var/cache/ada/pxelab"))
        );
        let relative_xdg = [("HOME", "/home/ada"), ("XDG_CACHE_HOME", "cache")];
        assert_eq!(
            dir_from(env(&relative_xdg)),
            Some(PathBuf::from("/home/ada/.cache/pxelab"))
        );
        let explicit = [
            ("HOME", "/home/ada"),
            ("XDG_CACHE_HOME", "/var/cache/ada"),
            ("PXELAB_CACHE_DIR", "/tmp/px"),
        ];
        assert_eq!(dir_from(env(&explicit)), Some(PathBuf::from("/tmp/px")));
        for off in ["off", "OFF", "0", "false", "no"] {
            let disabled = [("PXELAB_CACHE_DIR", "/tmp/px"), ("PXELAB_CACHE", off)];
            assert_eq!(dir_from(env(&disabled)), None, "PXELAB_CACHE={off}");
        }
        let on = [("PXELAB_CACHE_DIR", "/tmp/px"), ("PXELAB_CACHE", "on")];
        assert_eq!(dir_from(env(&on)), Some(PathBuf::from("/tmp/px")));
        assert_eq!(dir_from(env(&[])), None);
        assert_eq!(dir_from(env(&[("HOME", "")])), None);
    }

    /// Same configuration, same key (a later process finds the entry); any change of the
    /// engine's settings, a different key (a stale artifact is never even opened).
    #[test]
    fn entries_are_keyed_by_the_engine_configuration() {
        let engine = |fuel: bool| {
            let mut config = wasmtime::Config::new();
            config.consume_fuel(fuel);
            Engine::new(&config).unwrap()
        };
        let dir = PathBuf::from("/cache");
        let entry = |engine: &Engine| DiskCache::new(dir.clone(), engine).entry("abc");
        assert_eq!(entry(&engine(true)), entry(&engine(true)));
        assert_ne!(entry(&engine(true)), entry(&engine(false)));
        let name = entry(&engine(true));
        let name = name.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("abc-") && name.ends_with(".cwasm"),
            "{name}"
        );
        assert_eq!(name.len(), "abc-".len() + 64 + ".cwasm".len());
    }
}
