//! What IOS and EOS running-configs share: lines in indented blocks under a top-level command,
//! `!` comments, banners that run over several lines, and the values both write the same way
//! (addresses, masks, prefixes).

use std::net::Ipv4Addr;

use crate::ios::UNKNOWN;
use crate::report::{Findings, shown};

/// One configuration line: its 1-based number, its indentation and its words.
pub struct Line<'a> {
    pub number: usize,
    pub indent: usize,
    pub text: &'a str,
    pub words: Vec<&'a str>,
}

/// A top-level command and the lines indented under it.
pub struct Block<'a> {
    pub head: Line<'a>,
    pub children: Vec<Line<'a>>,
}

impl Block<'_> {
    /// The last line number of the block.
    pub fn last_line(&self) -> usize {
        self.children
            .last()
            .map_or(self.head.number, |line| line.number)
    }

    /// The lines under a one-line command that was read: none of them is.
    pub fn note_children(&self, findings: &mut Findings) {
        for child in &self.children {
            findings.note(child.number, shown(child.text), UNKNOWN);
        }
    }

    /// A note for the whole block, its first line to its last.
    pub fn note(&self, findings: &mut Findings, why: &str) {
        findings.note_lines(
            self.head.number,
            self.last_line(),
            shown(self.head.text),
            why,
        );
    }
}

/// The text as top-level blocks. Blank lines, `!` comments and the framing `show
/// running-config` prints around the configuration (`Building configuration...`, `Current
/// configuration : N bytes`, `end`) are left out; a banner is one block, whatever its lines.
pub fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut blocks: Vec<Block<'_>> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let raw = raw.trim_end_matches('\r');
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('!') || framing(trimmed) {
            continue;
        }
        let line = Line {
            number: index + 1,
            indent: raw.len() - raw.trim_start().len(),
            text: trimmed,
            words: trimmed.split_whitespace().collect(),
        };
        if line.indent == 0 || blocks.is_empty() {
            let banner = line.words.first() == Some(&"banner");
            let mut block = Block {
                head: line,
                children: Vec::new(),
            };
            if banner && let Some(delimiter) = banner_delimiter(trimmed) {
                skip_banner(&mut block, delimiter, &mut lines);
            }
            blocks.push(block);
        } else if let Some(block) = blocks.last_mut() {
            block.children.push(line);
        }
    }
    blocks
}

fn framing(line: &str) -> bool {
    line == "end"
        || line == "Building configuration..."
        || line.starts_with("Current configuration")
        || line.starts_with("Last configuration change")
        || line.starts_with("NVRAM config last updated")
}

/// `banner motd ^C` opens a banner that ends at the next `^C` (IOS shows the delimiter
/// character as `^C`); `None` when the banner ends on its own line.
fn banner_delimiter(line: &str) -> Option<String> {
    let words: Vec<&str> = line.splitn(3, ' ').collect();
    let rest = words.get(2)?.trim_start();
    let delimiter: String = if rest.starts_with('^') && rest.len() >= 2 {
        rest.chars().take(2).collect()
    } else {
        rest.chars().take(1).collect()
    };
    if delimiter.is_empty() || rest[delimiter.len()..].contains(delimiter.as_str()) {
        return None;
    }
    Some(delimiter)
}

fn skip_banner<'a>(
    block: &mut Block<'a>,
    delimiter: String,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) {
    for (index, raw) in lines.by_ref() {
        block.children.push(Line {
            number: index + 1,
            indent: 1,
            text: raw.trim(),
            words: Vec::new(),
        });
        if raw.contains(delimiter.as_str()) {
            break;
        }
    }
}

/// An IPv4 address in dotted-quad form.
pub fn ipv4(text: &str) -> Option<Ipv4Addr> {
    text.parse().ok()
}

/// The prefix length of a contiguous netmask (`255.255.255.0` -> 24).
pub fn mask_prefix(text: &str) -> Option<u8> {
    let mask = u32::from(ipv4(text)?);
    let prefix_len = mask.leading_ones();
    (mask.checked_shl(prefix_len).unwrap_or(0) == 0).then_some(prefix_len as u8)
}

/// `10.1.0.2/24`.
pub fn cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, prefix_len) = text.split_once('/')?;
    let prefix_len: u8 = prefix_len.parse().ok()?;
    (prefix_len <= 32).then_some(())?;
    Some((ipv4(ip)?, prefix_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_group_indented_lines_and_skip_comments_framing_and_banners() {
        let text = "Building configuration...\n\nCurrent configuration : 1234 bytes\n!\n\
                    hostname r1\n!\nbanner motd ^C\nAuthorized access only\n  really\n^C\n\
                    interface Vlan10\n ip address 10.1.0.2 255.255.255.0\n standby 10 ip 10.1.0.1\n!\nend\n";
        let blocks = blocks(text);
        let heads: Vec<&str> = blocks.iter().map(|b| b.head.text).collect();
        assert_eq!(heads, ["hostname r1", "banner motd ^C", "interface Vlan10"]);
        assert_eq!(blocks[1].last_line(), 10);
        assert_eq!(blocks[2].head.number, 11);
        assert_eq!(blocks[2].children.len(), 2);
        assert_eq!(
            blocks[2].children[1].words,
            ["standby", "10", "ip", "10.1.0.1"]
        );
    }

    #[test]
    fn one_line_banners_end_where_they_start() {
        let text = "banner login ^CKeep out^C\nhostname r1\n";
        let blocks = blocks(text);
        assert_eq!(blocks.len(), 2);
    }

    #[test]
    fn masks_and_prefixes() {
        assert_eq!(mask_prefix("255.255.255.0"), Some(24));
        assert_eq!(mask_prefix("255.255.255.255"), Some(32));
        assert_eq!(mask_prefix("0.0.0.0"), Some(0));
        assert_eq!(mask_prefix("255.0.255.0"), None);
        assert_eq!(cidr("10.1.0.2/24"), Some((Ipv4Addr::new(10, 1, 0, 2), 24)));
        assert_eq!(cidr("10.1.0.2/33"), None);
        assert_eq!(cidr("10.1.0.2"), None);
    }
}
