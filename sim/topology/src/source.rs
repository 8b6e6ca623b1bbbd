//! The topology file's text, and how an error finds its place in it: serde only says where the
//! YAML went wrong, so the planner names a path of anchors (`routers:`, `r1:`, `lan:`) and the
//! error lands where they lead. Values the format keeps as text (addresses, durations) are read
//! here too, each refused with its own message and hint.

use std::ops::Range;
use std::sync::Arc;

use smoltcp::wire::EthernetAddress;
use std::net::Ipv4Addr;
use timing::Distribution;

use crate::error::{Error, ErrorKind};

/// A topology file: its name in errors and its text (line breaks made LF).
pub(crate) struct Source {
    file: String,
    text: Arc<str>,
}

impl Source {
    pub(crate) fn new(file: String, text: Arc<str>) -> Source {
        Source { file, text }
    }

    pub(crate) fn text(&self) -> &Arc<str> {
        &self.text
    }

    /// An error at `span` of the text.
    pub(crate) fn error_at_span(
        &self,
        kind: ErrorKind,
        span: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        Error::at_span(kind, &self.file, &self.text, span, message, hint)
    }

    /// An error where `anchors` lead (see `span`).
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        anchors: &[&str],
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        self.error_at_span(kind, self.span(anchors), message, hint)
    }

    /// A value that is malformed or out of range.
    pub(crate) fn value(
        &self,
        anchors: &[&str],
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        self.error(ErrorKind::Value, anchors, message, hint)
    }

    /// A name that names nothing.
    pub(crate) fn unknown(
        &self,
        anchors: &[&str],
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        self.error(ErrorKind::Unknown, anchors, message, hint)
    }

    /// Parts of the file that cannot all hold.
    pub(crate) fn conflict(
        &self,
        anchors: &[&str],
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        self.error(ErrorKind::Conflict, anchors, message, hint)
    }

    /// Where `anchors` point in the text: each anchor (`key:` or a value) is searched after
    /// the previous one, so `["routers", "r1", "interfaces", "lan"]` lands on the right line
    /// in any ordinary block- or flow-style file. The span runs to the end of the key's value
    /// on that line.
    pub(crate) fn span(&self, anchors: &[&str]) -> Range<usize> {
        let text = &*self.text;
        let mut offset = 0;
        let mut found = 0;
        for (index, anchor) in anchors.iter().enumerate() {
            // A section (`servers:`) starts a line; a LAN may carry the same name further in.
            let section = (index == 0)
                .then(|| {
                    text.match_indices(anchor)
                        .find(|(at, _)| *at == 0 || text.as_bytes()[at - 1] == b'\n')
                })
                .flatten()
                .map(|(at, _)| at);
            if let Some(position) = section.or_else(|| find_token(&text[offset..], anchor)) {
                found = offset + position;
                offset = found + anchor.len();
            }
        }
        found..scalar_end(text, found)
    }

    /// The error for YAML the format does not accept, at the place serde names (a repeated key:
    /// at its repetition).
    pub(crate) fn yaml_error(&self, error: &serde_yaml::Error) -> Error {
        let text = &*self.text;
        let (mut line, mut column) = error
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let mut message = error.to_string();
        if let Some(index) = message.find(" at line ") {
            message.truncate(index);
        }
        // serde reports a repeated key at the start of its map; point at the repetition instead.
        let repeated = ["duplicate key `", "duplicate field `"]
            .iter()
            .find_map(|prefix| message.split_once(prefix))
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(key, _)| key.to_string());
        if let Some(key) = repeated
            && let Some(at) = second_key(text, line, column, &key)
        {
            (line, column) = at;
        }
        let hint = if message.contains("unknown field") {
            "remove the key or fix its spelling; the accepted keys are listed above"
        } else if message.contains("missing field") {
            "add the key; README.md (Topology format) shows a complete file"
        } else if message.contains("unknown variant") {
            "use one of the values listed above"
        } else if message.contains("duplicate") {
            "each name may appear once in a map: rename one of the two or merge them"
        } else {
            "README.md (Topology format) shows a complete file"
        };
        let start = offset_of(text, line, column);
        let mut located = self.error_at_span(
            ErrorKind::Syntax,
            start..scalar_end(text, start),
            message,
            hint,
        );
        // serde's line and column are kept as they are, even past the end of the text.
        (located.line, located.column) = (line, column);
        located
    }

    pub(crate) fn distribution(&self, anchors: &[&str], text: &str) -> Result<Distribution, Error> {
        text.parse().map_err(|e: timing::ParseError| {
            self.value(
                anchors,
                format!("`{text}` is not a timing distribution: {e}"),
                "write a duration (`2ms`) or a distribution; README.md (Topology format) lists them",
            )
        })
    }

    pub(crate) fn duration_ns(&self, anchors: &[&str], text: &str) -> Result<u64, Error> {
        if text.trim_start().starts_with('-') {
            return Err(self.value(
                anchors,
                format!("`{text}` is negative; durations count forward from the start"),
                "write a duration of zero or more, like `120000ms` or `2s`",
            ));
        }
        timing::parse_duration_ns(text).map_err(|e| {
            self.value(
                anchors,
                e.message,
                "write durations like `120000ms` or `2s`",
            )
        })
    }

    pub(crate) fn ipv4(&self, anchors: &[&str], text: &str) -> Result<Ipv4Addr, Error> {
        text.trim().parse().map_err(|_| {
            self.value(
                anchors,
                format!("`{text}` is not an IPv4 address"),
                "write it like 10.2.0.10",
            )
        })
    }

    pub(crate) fn cidr(&self, anchors: &[&str], text: &str) -> Result<(Ipv4Addr, u8), Error> {
        let bad = || {
            self.value(
                anchors,
                format!("`{text}` is not an address with a prefix length"),
                "write it like 10.1.0.2/24",
            )
        };
        let (address, prefix) = text.trim().split_once('/').ok_or_else(bad)?;
        let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix_len: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix_len > engine::subnet::PREFIX_LEN_MAX {
            return Err(bad());
        }
        Ok((address, prefix_len))
    }

    pub(crate) fn mac(&self, anchors: &[&str], text: &str) -> Result<EthernetAddress, Error> {
        let bytes: Vec<u8> = text
            .split([':', '-'])
            .map(|part| u8::from_str_radix(part, 16))
            .collect::<Result<_, _>>()
            .map_err(|_| {
                self.value(
                    anchors,
                    format!("`{text}` is not a MAC address"),
                    "write it like 02:00:00:00:00:01",
                )
            })?;
        if bytes.len() != 6 || bytes[0] & 1 == 1 {
            return Err(self.value(
                anchors,
                format!("`{text}` is not a unicast MAC address"),
                "write it like 02:00:00:00:00:01",
            ));
        }
        Ok(EthernetAddress::from_bytes(&bytes))
    }

    pub(crate) fn probability(&self, anchors: &[&str], value: f64) -> Result<f64, Error> {
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err(self.value(
                anchors,
                format!("probability {value} is outside 0..1"),
                "write it as a fraction: 0.01 is one percent",
            ))
        }
    }
}

/// Finds `token` where it starts a key or value (after a line start, whitespace, `{`, `,`, `-`).
fn find_token(text: &str, token: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(position) = text[from..].find(token) {
        let at = from + position;
        let boundary = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || matches!(c, '{' | ',' | '-' | '['));
        if boundary {
            return Some(at);
        }
        from = at + token.len();
    }
    None
}

/// Where the key or value starting at `start` ends on its line: before a flow separator
/// (`,`, `}`, `]`) outside quotes and parentheses (`lognormal(median=2ms, sigma=0.9)`), a
/// comment or the line break, trailing blanks left out.
fn scalar_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let (mut quote, mut depth, mut previous) = (None, 0usize, ' ');
    let mut end = line.len();
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (Some(open), _) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ',' | '}' | ']') if depth == 0 => {
                end = at;
                break;
            }
            (None, '#') if previous.is_whitespace() => {
                end = at;
                break;
            }
            _ => {}
        }
        previous = c;
    }
    start + line[..end].trim_end().len()
}

/// The byte offset of 1-based `line` and `column` (in characters, as YAML counts them), held
/// to the text and to the line.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[line_start..];
    let content = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let within = content
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(content.len(), |(at, _)| at);
    line_start + within
}

/// The line and column of the second `key:` at `column` from `line` on (1-based): where a map
/// starting there repeats the key.
fn second_key(text: &str, line: usize, column: usize, key: &str) -> Option<(usize, usize)> {
    let with_colon = format!("{key}:");
    text.lines()
        .enumerate()
        .skip(line.saturating_sub(1))
        .filter(|(_, content)| {
            let before = content.get(..column.saturating_sub(1));
            let after = content.get(column.saturating_sub(1)..);
            before.is_some_and(|b| b.chars().all(|c| c == ' ' || c == '-'))
                && after.is_some_and(|a| a.starts_with(&with_colon))
        })
        .nth(1)
        .map(|(index, _)| (index + 1, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source::new("t.yaml".to_string(), Arc::from(text))
    }

    #[test]
    fn anchors_lead_to_a_span_that_ends_with_its_value() {
        let text = "lans:\n  a: { subnet: 10.0.0.0/24, latency: 1ms }\nrouters:\n  r1:\n    relay_delay: 2ms # slow\n";
        let source = source(text);
        let span = source.span(&["lans:", "a:", "subnet:"]);
        assert_eq!(&text[span], "subnet: 10.0.0.0/24");
        let span = source.span(&["routers:", "r1:", "relay_delay:"]);
        assert_eq!(&text[span], "relay_delay: 2ms");
        let span = source.span(&["routers:", "r1:"]);
        assert_eq!(&text[span], "r1:");
        let text = "lans:\n  a: {latency: 'uniform(1ms, 2ms)', x: \"a,b\"}\n";
        let span = super::Source::new(String::new(), Arc::from(text)).span(&["lans:", "latency:"]);
        assert_eq!(&text[span], "latency: 'uniform(1ms, 2ms)'");
    }

    #[test]
    fn offsets_of_lines_and_columns_stay_in_the_text() {
        let text = "ab\ncdé\n";
        assert_eq!(offset_of(text, 1, 1), 0);
        assert_eq!(offset_of(text, 2, 3), 5);
        assert_eq!(offset_of(text, 2, 9), 7, "past the end of the line");
        assert_eq!(
            offset_of(text, 9, 1),
            text.len(),
            "past the end of the text"
        );
    }
}
