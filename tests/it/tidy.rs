//! Tidy rules: facts about the tree that ARCHITECTURE.md and the README state and that a
//! compiler cannot check. Each rule is a function from the tree to the problems it finds, each
//! problem naming where (`file:line`) and what; `check` fails a rule's test with all of them.
//! A new rule is a function returning `Vec<Problem>` and a `#[test]` that hands it to `check`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::common::repo_path;

/// One thing a rule found wrong: where it is and what it is.
struct Problem {
    at: String,
    what: String,
}

impl Problem {
    fn new(at: impl Into<String>, what: impl Into<String>) -> Problem {
        Problem {
            at: at.into(),
            what: what.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.what)
    }
}

/// Fails with every problem `rule` found, one per line.
fn check(rule: &str, problems: Vec<Problem>) {
    if problems.is_empty() {
        return;
    }
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    panic!(
        "tidy rule `{rule}` failed ({} problems):\n{}",
        problems.len(),
        lines.join("\n")
    );
}

/// A file of the tree: its path relative to the repository root and its text.
struct File {
    path: String,
    text: String,
}

impl File {
    /// Its lines with their 1-based numbers, each cut at a `//` comment.
    fn code_lines_outside_tests(&self) -> impl Iterator<Item = (usize, &str)> {
        self.code_lines()
            .take_while(|(_, line)| !line.contains("#[cfg(test)]"))
    }

    fn code_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text.lines().enumerate().map(|(index, line)| {
            let code = line.find("//").map_or(line, |at| &line[..at]);
            (index + 1, code)
        })
    }
}

fn read(path: &str) -> File {
    let text = std::fs::read_to_string(repo_path(path))
        .unwrap_or_else(|e| panic!("tidy: cannot read {path}: {e}"));
    File {
        path: path.to_string(),
        text,
    }
}

/// Every file under `dir` (relative to the repository root) whose name ends with one of
/// `extensions`, in path order; `target` folders and the fuzz corpus are skipped.
fn files_under(dir: &str, extensions: &[&str]) -> Vec<File> {
    fn walk(root: &Path, dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != "corpus" && name != ".git" {
                    walk(root, &path, extensions, out);
                }
            } else if extensions
                .iter()
                .any(|ext| name.to_string_lossy().ends_with(ext))
            {
                out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
    }
    let root = repo_path("");
    let mut paths = Vec::new();
    walk(&root, &root.join(dir), extensions, &mut paths);
    paths.sort();
    paths
        .iter()
        .map(|path| read(&path.to_string_lossy()))
        .collect()
}

/// The dependency names of the `[dependencies]` tables of a manifest (also target-specific
/// ones), with the line each is on.
fn dependencies(manifest: &File) -> Vec<(usize, String)> {
    let mut in_dependencies = false;
    let mut found = Vec::new();
    for (number, line) in manifest.text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]"
                || (line.starts_with("[target.") && line.ends_with(".dependencies]"));
            continue;
        }
        if !in_dependencies || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line
            .split(['=', '.', ' '])
            .next()
            .unwrap_or_default()
            .trim();
        found.push((number + 1, name.to_string()));
    }
    found
}

// --- sim/engine's dependencies ---------------------------------------------------------------

/// What `sim/engine` may depend on: our pure crates, the wire libraries and the hash and random
/// number crates of the event log and `rng::Stream`. No file system, YAML, wasmtime, tokio or
/// HTTP crate (ARCHITECTURE.md).
const ENGINE_DEPENDENCIES: &[&str] = &[
    "timing",
    "wire",
    "smoltcp",
    "dhcproto",
    "sha2",
    "xxhash-rust",
    "rand_core",
    "rand_chacha",
];

fn engine_dependencies() -> Vec<Problem> {
    let manifest = read("sim/engine/Cargo.toml");
    dependencies(&manifest)
        .into_iter()
        .filter(|(_, name)| !ENGINE_DEPENDENCIES.contains(&name.as_str()))
        .map(|(line, name)| {
            Problem::new(
                format!("{}:{line}", manifest.path),
                format!(
                    "sim/engine depends on `{name}`, which is not one of the allowed {} \
                     (ARCHITECTURE.md: the engine depends on no file system, YAML, wasmtime, \
                     tokio or HTTP crate; a new pure dependency is added to \
                     ENGINE_DEPENDENCIES in tests/it/tidy.rs)",
                    ENGINE_DEPENDENCIES.join(", ")
                ),
            )
        })
        .collect()
}

#[test]
fn sim_engine_depends_only_on_the_allowed_crates() {
    check("engine dependencies", engine_dependencies());
}

// --- the simulation path: no hash order, clocks, files or OS randomness ----------------------

/// The crates whose code runs inside a simulated run: the engine and what it is made of, the
/// plugin SDK and the plugins built with it.
const SIMULATION_PATH: &[&str] = &[
    "sim/engine/src",
    "sim/wire/src",
    "sim/timing/src",
    "plugins/sdk/src",
    "plugins/dhcp-server/src",
    "plugins/wds/src",
    "plugins/wds-sccm2007/src",
    "plugins/wds-fixed/src",
    "plugins/proxydhcp/src",
    "plugins/examples",
];

/// Names that must not appear in simulation-path code, and why.
const FORBIDDEN_IN_SIMULATION: &[(&str, &str)] = &[
    ("HashMap", "hash order; use BTreeMap"),
    ("HashSet", "hash order; use BTreeSet"),
    (
        "Instant",
        "a wall clock; time is the world's virtual now_ns",
    ),
    (
        "SystemTime",
        "a wall clock; time is the world's virtual now_ns",
    ),
    (
        "std::fs",
        "the file system; values arrive through Builder::add_* and App",
    ),
    (
        "thread_rng",
        "an OS random source; randomness is rng::Stream",
    ),
];

fn simulation_path_code() -> Vec<Problem> {
    let mut problems = Vec::new();
    for dir in SIMULATION_PATH {
        for file in files_under(dir, &[".rs"]) {
            for (number, code) in file.code_lines() {
                for (name, why) in FORBIDDEN_IN_SIMULATION {
                    if contains_word(code, name) {
                        problems.push(Problem::new(
                            format!("{}:{number}", file.path),
                            format!("`{name}` in the simulation path ({why}): {}", code.trim()),
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// Whether `needle` occurs in `text` with no identifier character on either side.
fn contains_word(text: &str, needle: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[test]
fn the_simulation_path_has_no_hash_order_clock_file_or_os_randomness() {
    check("simulation path", simulation_path_code());
}

// --- ARCHITECTURE.md's invariants name things that exist ------------------------------------

/// Where the code that ARCHITECTURE.md names lives.
const SOURCE_DIRS: &[&str] = &["sim", "plugins", "web", "tests"];

/// Every word of the source: identifiers (`World`, `add_client`) and the hyphenated names of
/// the WIT contract (`timing-draw`).
fn source_words() -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for dir in SOURCE_DIRS {
        for file in files_under(dir, &[".rs", ".wit", ".toml"]) {
            let mut word = String::new();
            for c in file.text.chars().chain(std::iter::once(' ')) {
                if c.is_alphanumeric() || c == '_' || (c == '-' && !word.is_empty()) {
                    word.push(c);
                } else if !word.is_empty() {
                    let whole = std::mem::take(&mut word);
                    let whole = whole.trim_end_matches('-');
                    words.extend(whole.split('-').map(str::to_string));
                    words.insert(whole.to_string());
                }
            }
        }
    }
    words
}

/// What a backticked span of ARCHITECTURE.md names.
enum Named<'a> {
    /// A path in the repository (`sim/capture`, `tests/it/real_firmware/`).
    Path(&'a str),
    /// A code name, `::`-separated segments each of which must be a word of the source; a
    /// trailing `*` stands for any ending (`World::add_*`).
    Code(Vec<&'a str>),
    /// Anything else: a command line, a pattern, a snippet.
    Other,
}

fn classify(span: &str) -> Named<'_> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '*' | '.'))
    };
    if span.contains('/')
        && !span.starts_with('/')
        && span.split('/').all(|s| plain(s) || s.is_empty())
    {
        return Named::Path(span);
    }
    let segments: Vec<&str> = span.split("::").collect();
    let identifier = |s: &str| {
        let s = s.strip_suffix('*').unwrap_or(s);
        !s.is_empty()
            && s.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            && !s.ends_with('-')
    };
    if segments.iter().all(|s| identifier(s)) {
        Named::Code(segments)
    } else {
        Named::Other
    }
}

fn architecture_invariants() -> Vec<Problem> {
    let architecture = read("ARCHITECTURE.md");
    let words = source_words();
    let mut problems = Vec::new();
    let mut line = 1;
    for paragraph in architecture.text.split("\n\n") {
        let start = line;
        line += paragraph.lines().count().max(1) + 1;
        let paragraph = paragraph.trim_start_matches('\n');
        if !paragraph.starts_with("Architecture invariant:") {
            continue;
        }
        let at = format!("{}:{start}", architecture.path);
        let spans = paragraph.split('`').skip(1).step_by(2);
        for span in spans {
            match classify(span) {
                Named::Path(path) => {
                    let existing = path.split('*').next().unwrap_or(path);
                    if !repo_path(existing).exists() {
                        problems.push(Problem::new(
                            &at,
                            format!("an invariant names the path `{path}`, which does not exist"),
                        ));
                    }
                }
                Named::Code(segments) => {
                    for segment in segments {
                        let found = match segment.strip_suffix('*') {
                            Some(prefix) => words.iter().any(|w| w.starts_with(prefix)),
                            None => words.contains(segment),
                        };
                        if !found {
                            problems.push(Problem::new(
                                &at,
                                format!(
                                    "an invariant names `{span}`, but `{segment}` is in no \
                                     source file under {}",
                                    SOURCE_DIRS.join(", ")
                                ),
                            ));
                        }
                    }
                }
                Named::Other => {}
            }
        }
    }
    problems
}

#[test]
fn architecture_invariants_name_code_that_exists() {
    check("ARCHITECTURE.md invariants", architecture_invariants());
}

// --- the README's plugin table is the plugin list ---------------------------------------------

/// The names in the first column of the table under `## Boot servers`, with their lines.
fn readme_plugins(readme: &File) -> Vec<(usize, String)> {
    let mut in_section = false;
    let mut names = Vec::new();
    for (number, line) in readme.text.lines().enumerate() {
        if line.starts_with("## ") {
            in_section = line == "## Boot servers";
            continue;
        }
        if let Some(rest) = line.strip_prefix("| `").filter(|_| in_section)
            && let Some((name, _)) = rest.split_once('`')
        {
            names.push((number + 1, name.to_string()));
        }
    }
    names
}

fn readme_plugin_table() -> Vec<Problem> {
    let readme = read("README.md");
    let listed = readme_plugins(&readme);
    let builtins: Vec<&str> = artifacts::ALL.iter().map(|a| a.name).collect();
    let mut problems = Vec::new();
    if listed.is_empty() {
        problems.push(Problem::new(
            &readme.path,
            "no plugin table (| `name` | what |) under `## Boot servers`",
        ));
    }
    for (line, name) in &listed {
        if !builtins.contains(&name.as_str()) {
            problems.push(Problem::new(
                format!("{}:{line}", readme.path),
                format!(
                    "the plugin table lists `{name}`, which is no built-in plugin (built-ins, from \
                     the plugin crates' `[package.metadata.pxelab]`: {})",
                    builtins.join(", ")
                ),
            ));
        }
    }
    for name in &builtins {
        if !listed.iter().any(|(_, listed)| listed == name) {
            problems.push(Problem::new(
                &readme.path,
                format!(
                    "the plugin table under `## Boot servers` lacks the built-in plugin `{name}`"
                ),
            ));
        }
    }
    problems
}

#[test]
fn the_readme_lists_every_builtin_plugin() {
    check("README plugin table", readme_plugin_table());
}

#[test]
fn the_rules_see_what_they_look_for() {
    assert!(contains_word("let m: HashMap<u8, u8>;", "HashMap"));
    assert!(!contains_word("let m: MyHashMapLike;", "HashMap"));
    assert!(contains_word("use std::fs;", "std::fs"));
    assert!(matches!(
        classify("sim/capture"),
        Named::Path("sim/capture")
    ));
    assert!(matches!(classify("World::add_*"), Named::Code(s) if s == ["World", "add_*"]));
    assert!(matches!(
        classify("lan/<lan>/to/<node>/<interface>"),
        Named::Other
    ));
    assert!(matches!(classify("sweep --json"), Named::Other));
    let engine = File {
        path: "Cargo.toml".into(),
        text: "[package]\nname = \"x\"\n[dependencies]\nwire.workspace = true\n\
               tokio = { version = \"1\" }\n[dev-dependencies]\nwat = \"1\"\n"
            .into(),
    };
    let names: Vec<String> = dependencies(&engine).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["wire", "tokio"]);
}

// --- meaning travels in types: no code decides on the words of a message ---------------------

/// Where code may look inside text, and why: each place parses input a user or a file gave
/// (arguments, YAML, a plugin's own stored records), never a message a node, a plugin or a
/// library wrote for people.
const TEXT_READERS: &[(&str, &str)] = &[
    ("sim/cli/src/", "parses command-line arguments"),
    (
        "sim/timing/src/lib.rs",
        "parses distributions as the YAML writes them",
    ),
    (
        "sim/topology/src/",
        "parses the YAML and names serde_yaml's error (it has no typed kind) in a hint",
    ),
    (
        "sim/import/src/",
        "parses router and relay configurations (IOS, EOS, keepalived, dhcrelay, addresses)",
    ),
    (
        "sim/lab/src/bench.rs",
        "reads /proc and the shipped topology's text",
    ),
    ("web/src/runs.rs", "parses a seed range typed into the UI"),
    (
        "plugins/dhcp-server/src/lib.rs",
        "parses its configuration and the lease lines it stores itself",
    ),
    (
        "plugins/sdk/src/testing.rs",
        "MockEnv's assertions for plugin unit tests",
    ),
    (
        "sim/plugin-host/src/lib.rs",
        "reads a component's import names (its interface) to pick the contract version",
    ),
    (
        "sim/lab/src/sweep.rs",
        "parses the seed range of a sweep file",
    ),
    (
        "plugins/artifacts/build.rs",
        "reads the plugin crates' Cargo.toml",
    ),
];

/// Calls that look inside a string, on the names text travels under.
const TEXT_NAMES: &[&str] = &[
    "text", "reason", "msg", "message", "label", "detail", "summary", "line", "error",
];
const TEXT_LOOKS: &[&str] = &[
    ".contains(",
    ".starts_with(",
    ".ends_with(",
    ".split_once(",
    ".rsplit_once(",
    ".strip_prefix(",
    ".strip_suffix(",
];

/// Lines outside `TEXT_READERS` that search a message's text, or the text a record, a frame
/// description or an error renders to.
fn text_readers() -> Vec<Problem> {
    let mut problems = Vec::new();
    for dir in ["sim", "web/src", "plugins"] {
        for file in files_under(dir, &[".rs"]) {
            if file.path.contains("/tests/")
                || file.path.ends_with("tests.rs")
                || TEXT_READERS
                    .iter()
                    .any(|(path, _)| file.path.starts_with(path))
            {
                continue;
            }
            for (number, line) in file.code_lines_outside_tests() {
                let on_name = TEXT_NAMES.iter().any(|name| {
                    TEXT_LOOKS
                        .iter()
                        .any(|look| contains_call(line, name, look))
                });
                let on_rendering = TEXT_LOOKS.iter().any(|look| {
                    ["describe(", "describe_record(", "to_string()", "format!("]
                        .iter()
                        .any(|render| line.contains(render) && line.contains(look))
                });
                if on_name || on_rendering {
                    problems.push(Problem::new(
                        format!("{}:{number}", file.path),
                        format!(
                            "looks inside text to decide something: `{}` (ARCHITECTURE.md: \
                             meaning travels in typed records; text is rendered from them at \
                             the edge. Match on the type instead, or, if this parses input, \
                             add the file to TEXT_READERS with why)",
                            line.trim()
                        ),
                    ));
                }
            }
        }
    }
    problems
}

/// `name.look(` as a call on that identifier (not on `other_name`).
fn contains_call(line: &str, name: &str, look: &str) -> bool {
    let needle = format!("{name}{look}");
    line.match_indices(&needle).any(|(at, _)| {
        at == 0
            || !line[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn no_code_decides_on_the_words_of_a_message() {
    check("text readers", text_readers());
}
