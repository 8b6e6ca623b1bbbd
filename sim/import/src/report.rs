//! Where a configuration line is and what became of it: a `Note` for a line the lab does not
//! model (the import goes on), an `Error` for one it cannot read (nothing is written). Both
//! carry `file:line`, and both are rendered here and nowhere else.

use std::fmt;
use std::sync::Arc;

/// A line of an input file. `line` is 1-based; 0 stands for the file as a whole.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: usize,
}

impl Loc {
    pub fn new(file: &Arc<str>, line: usize) -> Loc {
        Loc {
            file: file.clone(),
            line,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// A line that was read but is not (or not wholly) in the topology, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub at: Loc,
    /// The last line of a block the note covers (`router ospf 1` and the lines under it).
    pub through: Option<usize>,
    /// What the line says, shortened: `standby 10 authentication md5 ...`.
    pub what: String,
    /// Why it is not modelled, or how it is modelled instead.
    pub why: String,
}

impl Note {
    pub fn new(at: Loc, what: impl Into<String>, why: impl Into<String>) -> Note {
        Note {
            at,
            through: None,
            what: what.into(),
            why: why.into(),
        }
    }

    fn lines(&self) -> (usize, usize) {
        (self.at.line, self.through.unwrap_or(self.at.line))
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.through {
            Some(last) => write!(f, "{}-{last}", self.at)?,
            None => write!(f, "{}", self.at)?,
        }
        write!(f, ": {}: {}", self.what, self.why)
    }
}

/// Input the import cannot turn into a topology: a malformed or unknown command where the lab
/// needs it, overlapping subnets, a helper that points nowhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub at: Loc,
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl Error {
    pub fn new(at: Loc, message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error {
            at,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

/// Every error of an import, in the order of the files and their lines.
#[derive(Debug, PartialEq, Eq)]
pub struct Errors(pub Vec<Error>);

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

impl From<Error> for Errors {
    fn from(error: Error) -> Errors {
        Errors(vec![error])
    }
}

/// What reading one file found besides its model: notes and errors, each at a line of it.
pub struct Findings {
    pub file: Arc<str>,
    pub notes: Vec<Note>,
    pub errors: Vec<Error>,
}

impl Findings {
    pub fn new(file: &Arc<str>) -> Findings {
        Findings {
            file: file.clone(),
            notes: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn at(&self, line: usize) -> Loc {
        Loc::new(&self.file, line)
    }

    pub fn note(&mut self, line: usize, what: impl Into<String>, why: impl Into<String>) {
        let at = self.at(line);
        self.notes.push(Note::new(at, what, why));
    }

    /// A note on lines `line` to `through`.
    pub fn note_lines(
        &mut self,
        line: usize,
        through: usize,
        what: impl Into<String>,
        why: impl Into<String>,
    ) {
        let mut note = Note::new(self.at(line), what, why);
        note.through = (through > line).then_some(through);
        self.notes.push(note);
    }

    pub fn error(&mut self, line: usize, message: impl Into<String>, hint: impl Into<String>) {
        let at = self.at(line);
        self.errors.push(Error::new(at, message, hint));
    }
}

/// Notes as people read them: one line per file and reason, its lines as ranges
/// (`r1.cfg:16-18,25: service timestamps; service password-encryption; logging buffered:
/// device management: ...`), in the order of their first line. A reason that one line has is
/// shown as `Note` displays it.
pub fn condensed(notes: &[Note]) -> Vec<String> {
    let mut groups: Vec<(&Arc<str>, &str, Vec<&Note>)> = Vec::new();
    for note in notes {
        match groups
            .iter_mut()
            .find(|(file, why, _)| **file == note.at.file && *why == note.why)
        {
            Some((_, _, members)) => members.push(note),
            None => groups.push((&note.at.file, &note.why, vec![note])),
        }
    }
    groups
        .into_iter()
        .map(|(file, why, members)| {
            if let [note] = members.as_slice() {
                return note.to_string();
            }
            let lines: Vec<(usize, usize)> = members.iter().map(|n| n.lines()).collect();
            let mut whats: Vec<String> = Vec::new();
            for note in &members {
                let short = if note.what.chars().count() <= 30 {
                    note.what.clone()
                } else {
                    let words: Vec<&str> = note.what.split_whitespace().take(3).collect();
                    words.join(" ")
                };
                if !whats.contains(&short) {
                    whats.push(short);
                }
            }
            format!("{file}:{}: {}: {why}", ranges(&lines), whats.join("; "))
        })
        .collect()
}

/// `[16, 17, 18-19, 25]` as `16-19,25`.
fn ranges(lines: &[(usize, usize)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let (start, mut end) = lines[index];
        while index + 1 < lines.len() && lines[index + 1].0 == end + 1 {
            index += 1;
            end = lines[index].1;
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        index += 1;
    }
    parts.join(",")
}

/// A configuration line as a note shows it: trimmed, secrets hidden, at most 60 characters.
pub fn shown(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (index, word) in words.iter().enumerate() {
        kept.push(word);
        let secret = [
            "key-string",
            "auth_pass",
            "password",
            "secret",
            "text",
            "md5",
        ];
        if secret.contains(word) && index + 1 < words.len() {
            kept.push("...");
            break;
        }
    }
    let text = kept.join(" ");
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_errors_say_file_and_line() {
        let file: Arc<str> = "r1.cfg".into();
        let mut findings = Findings::new(&file);
        findings.note(12, "ntp server 10.0.0.1", "not modelled");
        findings.error(3, "bad address", "write A.B.C.D");
        assert_eq!(
            findings.notes[0].to_string(),
            "r1.cfg:12: ntp server 10.0.0.1: not modelled"
        );
        assert_eq!(
            findings.errors[0].to_string(),
            "r1.cfg:3: bad address\n  hint: write A.B.C.D"
        );
        assert_eq!(Loc::new(&file, 0).to_string(), "r1.cfg");
    }

    #[test]
    fn notes_of_one_reason_in_one_file_are_one_line_with_their_line_ranges() {
        let file: Arc<str> = "r1.cfg".into();
        let mut findings = Findings::new(&file);
        for (line, what) in [
            (16, "service timestamps debug datetime"),
            (17, "service timestamps log"),
            (18, "logging buffered 64000"),
            (25, "ntp server 10.2.0.5"),
        ] {
            findings.note(line, what, "device management");
        }
        findings.note(30, "ip route 0.0.0.0 0.0.0.0 10.2.0.254", "no router there");
        assert_eq!(
            condensed(&findings.notes),
            [
                "r1.cfg:16-18,25: service timestamps debug; service timestamps log; logging buffered 64000; ntp server 10.2.0.5: device management",
                "r1.cfg:30: ip route 0.0.0.0 0.0.0.0 10.2.0.254: no router there",
            ]
        );
    }

    #[test]
    fn shown_lines_hide_secrets_and_stay_short() {
        assert_eq!(
            shown(" standby 10 authentication md5 key-string s3cret"),
            "standby 10 authentication md5 ..."
        );
        assert_eq!(shown("auth_pass hunter2"), "auth_pass ...");
        assert!(shown(&"x ".repeat(80)).ends_with("..."));
    }
}
