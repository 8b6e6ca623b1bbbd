//! The one error type of the topology layer: what is wrong, where in the file (line, column and
//! byte span), and how to fix it. `Display` is the one-line `file:line:col: message` form with
//! its hint; `render` adds the offending line of the file; `miette::Diagnostic` hands the same
//! facts to any diagnostic printer.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// What kind of mistake an error reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The file cannot be read.
    Read,
    /// Not a topology: empty, not YAML, an unknown or missing key, a value of the wrong type,
    /// a key given twice.
    Syntax,
    /// A value that is malformed or out of range: an address, a duration, a priority...
    Value,
    /// A name that names nothing: a LAN, router, server, interface, service or next hop.
    Unknown,
    /// Parts of the file that cannot all hold: a name, address or MAC used twice, overlapping
    /// subnets, an address outside its LAN, group members that disagree, a routing loop.
    Conflict,
    /// A server's plugin does not load, or refuses its configuration.
    Plugin,
}

impl ErrorKind {
    /// The kind's name in a diagnostic code (`topology::unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Read => "read",
            ErrorKind::Syntax => "syntax",
            ErrorKind::Value => "value",
            ErrorKind::Unknown => "unknown",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Plugin => "plugin",
        }
    }
}

/// A located error in a topology file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub file: String,
    /// 1-based; 0 when the error has no place in the file (it cannot be read, or the error is
    /// about something given outside it).
    pub line: usize,
    /// 1-based, in bytes from the start of the line.
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
    /// The text and the bytes of it the error points at, when it has a place in the file.
    /// Boxed, so that a `Result` carrying an error stays small.
    located: Option<Box<Located>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Located {
    /// The file's text as it was loaded (line breaks made LF).
    source: Arc<str>,
    span: Range<usize>,
}

impl Error {
    /// An error with no place in the file.
    pub(crate) fn unlocated(
        kind: ErrorKind,
        file: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        let hint = hint.into();
        Error {
            kind,
            file: file.to_string(),
            line: 0,
            column: 0,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
            located: None,
        }
    }

    /// An error at byte `span` of `source` (whose start gives the line and column).
    pub(crate) fn at_span(
        kind: ErrorKind,
        file: &str,
        source: &Arc<str>,
        span: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        let before = &source[..span.start];
        let line = before.matches('\n').count() + 1;
        let column = span.start - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        Error {
            line,
            column,
            located: Some(Box::new(Located {
                source: source.clone(),
                span,
            })),
            ..Error::unlocated(kind, file, message, hint)
        }
    }

    /// The bytes of `source` the error points at.
    pub fn span(&self) -> Option<Range<usize>> {
        self.located.as_ref().map(|located| located.span.clone())
    }

    /// The file's text as it was loaded (line breaks made LF), when the error has a place in it.
    pub fn source(&self) -> Option<&str> {
        self.located.as_ref().map(|located| &*located.source)
    }

    /// The error as `Display` writes it, with the line of the file it points at shown under
    /// the first line, rustc-style:
    ///
    /// ```text
    /// bad.yaml:12:40: unknown LAN `lan9`
    ///    |
    /// 12 |       - { name: Vlan10, lan: lan9, ip: 10.1.0.2/24 }
    ///    |                         ^^^^^^^^^
    ///   hint: the LANs are: clients, servers
    /// ```
    ///
    /// An error with no place in the file is its `Display` text.
    pub fn render(&self) -> String {
        let mut text = format!("{}: {}", self.place(), self.message);
        if let Some(snippet) = self.snippet() {
            text.push('\n');
            text.push_str(&snippet);
        }
        if let Some(hint) = &self.hint {
            text.push_str(&format!("\n  hint: {hint}"));
        }
        text
    }

    /// `file:line:col`, or `file` for an error with no line.
    fn place(&self) -> String {
        if self.line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}:{}", self.file, self.line, self.column)
        }
    }

    /// The gutter, the line holding the span's start and carets under the span (up to the
    /// line's end).
    fn snippet(&self) -> Option<String> {
        let (source, span) = (self.source()?, self.span()?);
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = &source[line_start..line_end];
        let end = span.end.clamp(start, line_end);
        // Tabs stay tabs, so the carets line up however the terminal expands them.
        let pad: String = source[line_start..start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(source[start..end].chars().count().max(1));
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        Some(format!(
            "{gutter} |\n{number} | {line}\n{gutter} | {pad}{carets}"
        ))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place(), self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl miette::Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("topology::{}", self.kind.as_str())))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.hint
            .as_ref()
            .map(|hint| Box::new(hint) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.located
            .as_ref()
            .map(|located| &located.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.span()?;
        let label = miette::LabeledSpan::new_with_span(Some(self.message.clone()), span);
        Some(Box::new(std::iter::once(label)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miette::Diagnostic;

    fn error(source: &str, span: Range<usize>) -> Error {
        Error::at_span(
            ErrorKind::Unknown,
            "bad.yaml",
            &Arc::from(source),
            span,
            "unknown LAN `lan9`",
            "the LANs are: clients",
        )
    }

    #[test]
    fn the_snippet_goes_under_the_display_line() {
        let source =
            "name: x\nrouters:\n  r1:\n    interfaces:\n      - { name: Vlan10, lan: lan9 }\n";
        let at = source.find("lan:").unwrap();
        let error = error(source, at..at + "lan: lan9".len());
        assert_eq!((error.line, error.column), (5, 25));
        assert_eq!(
            error.to_string(),
            "bad.yaml:5:25: unknown LAN `lan9`\n  hint: the LANs are: clients"
        );
        assert_eq!(
            error.render(),
            "bad.yaml:5:25: unknown LAN `lan9`\n  |\n5 |       - { name: Vlan10, lan: lan9 }\n  |                         ^^^^^^^^^\n  hint: the LANs are: clients"
        );
    }

    #[test]
    fn an_empty_span_at_the_end_still_gets_a_caret() {
        let error = error("name: x\n", 8..8);
        assert_eq!((error.line, error.column), (2, 1));
        assert!(error.render().contains("2 | \n  | ^"), "{}", error.render());
    }

    #[test]
    fn an_unlocated_error_renders_as_it_displays() {
        let error = Error::unlocated(ErrorKind::Read, "gone.yaml", "cannot read", "check");
        assert_eq!(error.render(), error.to_string());
        assert_eq!(error.to_string(), "gone.yaml: cannot read\n  hint: check");
        assert!(error.labels().is_none() && error.source_code().is_none());
    }

    #[test]
    fn the_diagnostic_carries_the_kind_the_span_and_the_hint() {
        let source = "lans:\n  a: { subnet: 10.0.0.0/33 }\n";
        let at = source.find("subnet:").unwrap();
        let error = error(source, at..at + 7);
        assert_eq!(error.code().unwrap().to_string(), "topology::unknown");
        assert_eq!(error.help().unwrap().to_string(), "the LANs are: clients");
        let labels: Vec<_> = error.labels().unwrap().collect();
        assert_eq!((labels[0].offset(), labels[0].len()), (at, 7));
        let code = error.source_code().unwrap();
        let contents = code.read_span(&labels[0].inner().clone(), 0, 0).unwrap();
        assert_eq!(contents.data(), b"subnet:");
    }
}
