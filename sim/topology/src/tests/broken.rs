//! The corpus of broken topologies (`tests/broken/*.yaml`, one mistake per file): each is refused
//! with an error at the exact `line:col` its first line names, a message containing the text
//! after it, and a hint, and never with a panic. `errors` covers edits of a
//! shipped topology; this corpus covers whole files, including ones YAML itself rejects.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// `# expect: LINE:COL MESSAGE` on the first line of a corpus file.
struct Expected {
    line: usize,
    column: usize,
    message: String,
}

fn expected(path: &Path, text: &str) -> Expected {
    let first = text.lines().next().unwrap_or("");
    let parse = || -> Option<Expected> {
        let rest = first.strip_prefix("# expect: ")?;
        let (at, message) = rest.split_once(' ')?;
        let (line, column) = at.split_once(':')?;
        Some(Expected {
            line: line.parse().ok()?,
            column: column.parse().ok()?,
            message: message.trim().to_string(),
        })
    };
    parse().unwrap_or_else(|| {
        panic!(
            "{}: the first line must be `# expect: LINE:COL MESSAGE`",
            path.display()
        )
    })
}

fn corpus() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/broken");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_broken_topology_is_refused_at_its_line_and_column_with_a_hint() {
    let paths = corpus();
    assert!(paths.len() >= 40, "{} files in tests/broken", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let expected = expected(path, &text);
        let name = path.file_name().unwrap().to_string_lossy();
        let outcome = catch_unwind(AssertUnwindSafe(|| crate::parse(Path::new(&*name), &text)));
        let error = match outcome {
            Err(_) => {
                failures.push(format!("{name}: panicked"));
                continue;
            }
            Ok(Ok(_)) => {
                failures.push(format!("{name}: accepted"));
                continue;
            }
            Ok(Err(error)) => error,
        };
        let located = (error.line, error.column) == (expected.line, expected.column);
        let hinted = error
            .hint
            .as_deref()
            .is_some_and(|hint| !hint.trim().is_empty());
        if !located || !error.message.contains(&expected.message) || !hinted {
            failures.push(format!(
                "{name}: expected {}:{} `{}`, got {error} (hint: {:?})",
                expected.line, expected.column, expected.message, error.hint
            ));
            continue;
        }
        let prefix = format!("{name}:{}:{}: ", error.line, error.column);
        if !error.to_string().starts_with(&prefix) {
            failures.push(format!("{name}: `{error}` does not start with `{prefix}`"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} broken topologies:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}
