//! The box Python (3.11+) draws around an exception group.
//!
//! ```text
//!   + Exception Group Traceback (most recent call last):
//!   |   File "/srv/shop/inventory/sync.py", line 81, in run_import
//!   | ExceptionGroup: unhandled errors in a TaskGroup (2 sub-exceptions)
//!   +-+---------------- 1 ----------------
//!     | Traceback (most recent call last):
//!     |   File "/srv/shop/inventory/sync.py", line 34, in parse_row
//!     | ValueError: invalid literal for int() with base 10: 'abc'
//!     +---------------- 2 ----------------
//!     | KeyError: 'sku'
//!     +------------------------------------
//! ```
//!
//! The outermost group's lines carry a `| ` margin (`+ ` on its header);
//! each member is drawn two columns further in, and a group inside a member
//! has its header on a `| ` line. Regions are first brought to one shape,
//! the *unboxed* one: the group's own lines without margin, `+-+--- 1 ---`
//! at column 0, members' lines at column 2, sibling separators and the
//! closing line `  +---…` at column 2.

use regex::Regex;
use std::sync::LazyLock;

/// Header of the outermost group, at its margin.
static BOXED_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<margin> *)\+ Exception Group Traceback \(most recent call last\):\s*$")
        .expect("group header pattern is valid")
});

/// `+-+---- 1 ----`: the first member of an unboxed group.
static FIRST_MEMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\+-\+-+ (?P<title>\d+|\.\.\.) -+\s*$").expect("first member pattern is valid")
});

/// `  +---- 2 ----`: a later member.
static NEXT_MEMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^  \+-+ (?P<title>\d+|\.\.\.) -+\s*$").expect("next member pattern is valid")
});

/// `  +--------`: the end of the group.
static CLOSE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^  \+-+\s*$").expect("group close pattern is valid"));

/// Header of a group once unboxed.
pub(super) const UNBOXED_HEADER: &str = "Exception Group Traceback (most recent call last):";

/// The margin of a boxed group header, if `line` is one.
pub(super) fn boxed_margin(line: &str) -> Option<usize> {
    BOXED_HEADER
        .captures(line)
        .and_then(|c| c.name("margin"))
        .map(|m| m.as_str().len())
}

/// The lines of the boxed group starting at `lines[0]`, unboxed, and how
/// many input lines it spans.
pub(super) fn unbox(lines: &[&str], margin: usize) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    for line in lines {
        let inside = line
            .get(..margin)
            .is_some_and(|m| m.bytes().all(|b| b == b' '))
            && line
                .get(margin..)
                .is_some_and(|rest| rest.starts_with(['|', '+', ' ']));
        if !inside {
            break;
        }
        let rest = line.get(margin..).unwrap_or_default();
        out.push(match rest.strip_prefix("+ ") {
            Some(header) if out.is_empty() => header.to_string(),
            _ => strip_bar(rest).to_string(),
        });
    }
    let spanned = out.len();
    (out, spanned)
}

/// `| text` → `text`; other lines are structure and stay.
fn strip_bar(line: &str) -> &str {
    match line.strip_prefix('|') {
        Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
        None => line,
    }
}

/// An unboxed group: its own lines (header, frames, `ExceptionGroup: …`),
/// its members' lines (each unboxed again), and how many lines it spans.
pub(super) struct Unboxed {
    pub own: Vec<String>,
    pub members: Vec<Vec<String>>,
    pub spanned: usize,
}

/// Splits the unboxed group starting at `lines[0]`.
pub(super) fn split(lines: &[&str]) -> Unboxed {
    let own_end = lines
        .iter()
        .position(|line| FIRST_MEMBER.is_match(line))
        .unwrap_or(lines.len());
    let own = lines
        .get(..own_end)
        .unwrap_or_default()
        .iter()
        .map(|line| (*line).to_string())
        .collect();
    let mut members = Vec::new();
    let mut index = own_end;
    while let Some(title) = member_title(lines.get(index).copied()) {
        index += 1;
        let body: Vec<String> = lines
            .get(index..)
            .unwrap_or_default()
            .iter()
            .take_while(|line| is_member_line(line))
            .map(|line| strip_bar(line.get(2..).unwrap_or_default()).to_string())
            .collect();
        index += body.len();
        // `...` stands for the members Python left out ("and 3 more exceptions").
        if title != "..." {
            members.push(body);
        }
    }
    if lines.get(index).is_some_and(|line| CLOSE.is_match(line)) {
        index += 1;
    }
    Unboxed {
        own,
        members,
        spanned: index,
    }
}

fn member_title(line: Option<&str>) -> Option<String> {
    let line = line?;
    let captures = FIRST_MEMBER
        .captures(line)
        .or_else(|| NEXT_MEMBER.captures(line))?;
    Some(captures.name("title")?.as_str().to_string())
}

/// A line of a member: two columns in, and not this group's own separator
/// or closing line.
fn is_member_line(line: &str) -> bool {
    line.starts_with("  ") && !NEXT_MEMBER.is_match(line) && !CLOSE.is_match(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_unboxed_and_split() {
        let text = "  + Exception Group Traceback (most recent call last):
  |   File \"a.py\", line 3, in main
  | ExceptionGroup: two (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | ValueError: 1
    +---------------- 2 ----------------
    | Exception Group Traceback (most recent call last):
    |   File \"a.py\", line 9, in inner
    | ExceptionGroup: inner (1 sub-exception)
    +-+---------------- 1 ----------------
      | TypeError: 2
      +------------------------------------
after";
        let lines: Vec<&str> = text.lines().collect();
        let margin = boxed_margin(lines[0]).expect("boxed header");
        let (unboxed, spanned) = unbox(&lines, margin);
        assert_eq!(spanned, 12);
        assert_eq!(unboxed[0], UNBOXED_HEADER);
        let refs: Vec<&str> = unboxed.iter().map(String::as_str).collect();
        let group = split(&refs);
        assert_eq!(group.own.len(), 3);
        assert_eq!(group.members.len(), 2);
        assert_eq!(group.members[0], ["ValueError: 1"]);
        assert_eq!(group.members[1][0], UNBOXED_HEADER);
        let inner: Vec<&str> = group.members[1].iter().map(String::as_str).collect();
        let nested = split(&inner);
        assert_eq!(nested.members, [vec!["TypeError: 2".to_string()]]);
        assert_eq!(nested.spanned, inner.len());
    }
}
