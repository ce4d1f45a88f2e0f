//! Message parameterization: the variable parts of a message or exception
//! value become placeholders, so messages that differ only in ids,
//! timestamps, addresses or hashes group together.
//!
//! The text is cut to its first two non-empty lines, each trimmed, joined by
//! `\n`, with `...` appended directly after the second line when more
//! non-empty lines followed. It is then scanned left to right; at each
//! position where a token can start (the start, or after a character that is
//! not a letter, digit or `_`), the patterns are tried in priority order and
//! the first that matches there wins:
//!
//! | placeholder     | what                                                     |
//! |-----------------|----------------------------------------------------------|
//! | `<email>`       | `local@domain.tld`                                       |
//! | `<url>`         | `scheme://…` up to whitespace, trailing punctuation kept out |
//! | `<hostname>`    | dotted name whose last label is a known TLD (see below)  |
//! | `<ip>`          | IPv4 (not followed by `.digit`), IPv6 (`::` or 8 groups, with a digit) |
//! | `<traceparent>` | W3C `00-<32 hex>-<16 hex>-<2 hex>`                       |
//! | `<uuid>`        | 8-4-4-4-12 hex                                           |
//! | `<sha1>` / `<md5>` | exactly 40 / 32 hex characters                        |
//! | `<date>`        | ISO 8601 (date, `T` or space, fraction, zone), `2024/01/02`, `02/01/2024`, `02.01.2024`, RFC 2822, JavaScript `Date` strings, `Jan 2, 2024`, syslog `Jan  2 03:04:05`, times `03:04:05[.123][ PM]` |
//! | `<duration>`    | number + `ns us µs ms s sec secs min m h`, compound `1h30m` |
//! | `<hex>`         | `0x…`, or 8+ hex characters mixing digits and letters    |
//! | `<git_sha>`     | exactly 7 lowercase hex characters with a digit and a letter |
//! | `<float>`       | `1.5`, `1.5e3`, `2e10`                                   |
//! | `<int>`         | any run of digits (see below)                            |
//! | `<quoted_str>`  | `"…"` or `'…'` right after `=` (spaces allowed between)  |
//! | `<bool>`        | `true`/`false` (any case) right after `=`                |
//!
//! Decisions where the reference is silent:
//! - Digit runs longer than seven digits are `<int>` too: they are ids and
//!   epoch timestamps, exactly what must not split issues.
//! - Signs stay outside placeholders: `-5` → `-<int>`.
//! - Hostnames need a known top-level label so dotted identifiers and file
//!   names (`user.id`, `this.props.onClick`, `config.json`, `main.py`) stay:
//!   generic ones (`com`, `net`, `org`, `io`, `dev`, `local`, `internal`, …)
//!   or common country codes (`uk`, `de`, `fr`, …, not ones that are file
//!   extensions or English words). Reverse-DNS package names
//!   (`com.example.app`) are not hostnames.
//! - Times need seconds (`03:04:05`), so `line:column` pairs like `12:34` stay.
//! - A pattern must end at a token boundary: `123abc` is not `<int>`.
//!
//! The result is idempotent: placeholders never match a pattern themselves.

use regex::Regex;
use std::sync::LazyLock;

/// How many non-empty lines are kept.
const MAX_LINES: usize = 2;
/// Appended when lines were cut.
const CUT_MARKER: &str = "...";

/// Generic top-level labels accepted for hostnames.
const GENERIC_TLDS: [&str; 24] = [
    "com",
    "net",
    "org",
    "edu",
    "gov",
    "mil",
    "int",
    "io",
    "dev",
    "info",
    "biz",
    "co",
    "ai",
    "xyz",
    "cloud",
    "local",
    "localhost",
    "localdomain",
    "internal",
    "intranet",
    "lan",
    "corp",
    "arpa",
    "test",
];

/// Country codes accepted for hostnames: common ones that are neither file
/// extensions (`.py`, `.rs`, `.pl`, `.sh`, `.md`, …) nor words (`.id`, `.is`, `.it`, `.me`).
const COUNTRY_TLDS: [&str; 34] = [
    "uk", "de", "fr", "jp", "cn", "ru", "br", "au", "ca", "nl", "se", "ch", "es", "eu", "kr", "tw",
    "hk", "sg", "nz", "za", "dk", "fi", "cz", "ie", "il", "mx", "ar", "pt", "gr", "hu", "ro", "tr",
    "ua", "vn",
];

/// A placeholder, the anchored pattern it replaces and a check of the match
/// in its context (returns the accepted end, which may be shorter).
struct Pattern {
    placeholder: &'static str,
    regex: Regex,
    can_start: StartCheck,
    accept: AcceptCheck,
}

/// Which characters a pattern can start with.
type StartCheck = fn(char) -> bool;
/// Checks a match in its context; returns the accepted end.
type AcceptCheck = fn(&str, usize, usize) -> Option<usize>;
/// `(placeholder, anchored pattern, start check, accept check)`.
type PatternSpec = (&'static str, String, StartCheck, AcceptCheck);

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(build_patterns);

/// Normalizes a message or exception value for grouping.
pub fn parameterize(message: &str) -> String {
    replace_variables(&first_lines(message))
}

/// The first two non-empty lines, trimmed, `...` when more followed.
fn first_lines(message: &str) -> String {
    let mut lines = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let kept: Vec<&str> = lines.by_ref().take(MAX_LINES).collect();
    let mut text = kept.join("\n");
    if lines.next().is_some() {
        text.push_str(CUT_MARKER);
    }
    text
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn replace_variables(text: &str) -> String {
    let patterns = &*PATTERNS;
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    let mut previous: Option<char> = None;
    while let Some(c) = text[index..].chars().next() {
        if !previous.is_some_and(is_word_char) {
            if let Some((placeholder, end)) = match_at(patterns, text, index, c) {
                out.push_str(placeholder);
                previous = text[..end].chars().next_back();
                index = end;
                continue;
            }
        }
        // Nothing starts here, nor anywhere inside this word.
        let end = if is_word_char(c) {
            word_end(text, index)
        } else {
            index + c.len_utf8()
        };
        out.push_str(&text[index..end]);
        previous = text[..end].chars().next_back();
        index = end;
    }
    out
}

fn word_end(text: &str, start: usize) -> usize {
    text[start..]
        .char_indices()
        .find(|&(_, c)| !is_word_char(c))
        .map_or(text.len(), |(offset, _)| start + offset)
}

/// The first pattern that matches at `start`, and where its match ends.
fn match_at(
    patterns: &[Pattern],
    text: &str,
    start: usize,
    first: char,
) -> Option<(&'static str, usize)> {
    let rest = &text[start..];
    patterns
        .iter()
        .filter(|pattern| (pattern.can_start)(first))
        .find_map(|pattern| {
            let found = pattern.regex.find(rest)?;
            let end = (pattern.accept)(text, start, start + found.end())?;
            (end > start && ends_at_boundary(text, end)).then_some((pattern.placeholder, end))
        })
}

/// A match ending in a word character must not be followed by one.
fn ends_at_boundary(text: &str, end: usize) -> bool {
    let last = text[..end].chars().next_back();
    let next = text[end..].chars().next();
    !(last.is_some_and(is_word_char) && next.is_some_and(is_word_char))
}

fn accept_any(_: &str, _: usize, end: usize) -> Option<usize> {
    Some(end)
}

/// Trailing punctuation belongs to the sentence, not the URL.
fn accept_url(text: &str, start: usize, end: usize) -> Option<usize> {
    let matched = &text[start..end];
    let trimmed = matched.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}']);
    let body = trimmed.split_once("://").map_or("", |(_, body)| body);
    (!body.is_empty()).then_some(start + trimmed.len())
}

fn accept_hostname(text: &str, start: usize, end: usize) -> Option<usize> {
    let matched = &text[start..end];
    let (first, last) = (matched.split('.').next()?, matched.rsplit('.').next()?);
    let known = GENERIC_TLDS.contains(&last) || COUNTRY_TLDS.contains(&last);
    // `com.example.app` is a Java package, not a host.
    let reverse_dns = GENERIC_TLDS.contains(&first);
    (known && !reverse_dns).then_some(end)
}

/// `1.2.3.4.5` is a version, not an address.
fn accept_ipv4(text: &str, _: usize, end: usize) -> Option<usize> {
    let mut after = text[end..].chars();
    let version_like =
        after.next() == Some('.') && after.next().is_some_and(|c| c.is_ascii_digit());
    (!version_like).then_some(end)
}

/// Needs `::` or all eight groups, and a digit; `03:04:05` and `ab::cd` are not addresses.
fn accept_ipv6(text: &str, start: usize, end: usize) -> Option<usize> {
    let matched = &text[start..end];
    let groups = matched.split(':').filter(|group| !group.is_empty()).count();
    let shaped = matched.contains("::") || groups == 8;
    let has_digit = matched.bytes().any(|b| b.is_ascii_digit());
    let next = text[end..].chars().next();
    let clean_end = !next.is_some_and(|c| is_word_char(c) || c == ':');
    (shaped && has_digit && groups >= 1 && clean_end).then_some(end)
}

/// `0x…`, or hex that mixes digits and letters (plain words like `deadbeef`
/// and plain numbers are left to other patterns).
fn accept_hex(text: &str, start: usize, end: usize) -> Option<usize> {
    let matched = &text[start..end];
    let prefixed = matched.starts_with("0x") || matched.starts_with("0X");
    (prefixed || is_mixed(matched)).then_some(end)
}

fn accept_mixed(text: &str, start: usize, end: usize) -> Option<usize> {
    is_mixed(&text[start..end]).then_some(end)
}

fn is_mixed(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit()) && text.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Only right after `=`, optionally with spaces: `name="x"`, `flag = true`.
fn accept_after_equals(text: &str, start: usize, end: usize) -> Option<usize> {
    text[..start]
        .trim_end_matches([' ', '\t'])
        .ends_with('=')
        .then_some(end)
}

fn starts_email(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '%' | '+' | '-')
}

fn starts_hex(c: char) -> bool {
    c.is_ascii_hexdigit()
}

fn starts_ipv6(c: char) -> bool {
    c.is_ascii_hexdigit() || c == ':'
}

fn starts_date(c: char) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase()
}

fn starts_quote(c: char) -> bool {
    c == '"' || c == '\''
}

fn starts_bool(c: char) -> bool {
    matches!(c, 't' | 'f' | 'T' | 'F')
}

fn date_pattern() -> String {
    let month = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
    let weekday = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
    let time = r"[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,9})?";
    let zone = r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?| [+-][0-9]{4}| ?(?:UTC|GMT))";
    let iso = format!(
        r"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(?:[T ][0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{2}}(?:[.,][0-9]{{1,9}})?)?{zone}?)?"
    );
    let ymd = format!(r"[0-9]{{4}}/[0-9]{{1,2}}/[0-9]{{1,2}}(?:[ T]{time})?");
    let dmy = format!(r"[0-9]{{1,2}}[/.-][0-9]{{1,2}}[/.-][0-9]{{4}}(?:[ T]{time})?");
    let rfc2822 = format!(
        r"(?:{weekday}, ?)?[0-9]{{1,2}} {month} [0-9]{{4}}(?: {time}(?: (?:[+-][0-9]{{4}}|GMT|UTC|[A-Z]{{3}}))?)?"
    );
    let js_date = format!(
        r"{weekday} {month} [0-9]{{1,2}} [0-9]{{4}}(?: {time}(?: GMT[+-][0-9]{{4}})?(?: \([^)\n]{{0,64}}\))?)?"
    );
    let us_date = format!(r"{month} [0-9]{{1,2}}, [0-9]{{4}}(?: {time})?");
    let syslog = format!(r"{month} +[0-9]{{1,2}} {time}");
    let clock = format!(r"{time}(?: ?[AaPp][Mm])?");
    format!("^(?:{iso}|{ymd}|{dmy}|{rfc2822}|{js_date}|{us_date}|{syslog}|{clock})")
}

fn build_patterns() -> Vec<Pattern> {
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    let ipv4 = format!(r"{octet}(?:\.{octet}){{3}}");
    let h = "[0-9A-Fa-f]{1,4}";
    let unit = "(?:ns|us|µs|μs|ms|min|mins|sec|secs|s|m|h)";
    let number = r"[0-9]+(?:\.[0-9]+)?";
    let specs: Vec<PatternSpec> = vec![
        (
            "<email>",
            r"^[A-Za-z0-9_%+-][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9][A-Za-z0-9-]{0,62}\.){1,8}[A-Za-z]{2,24}\b".to_string(),
            starts_email,
            accept_any,
        ),
        (
            "<url>",
            r#"^[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s<>"'`]+"#.to_string(),
            |c| c.is_ascii_alphabetic(),
            accept_url,
        ),
        (
            "<hostname>",
            r"^(?:[A-Za-z0-9][A-Za-z0-9-]{0,62}\.){1,10}[A-Za-z]{2,24}\b".to_string(),
            |c| c.is_ascii_alphanumeric(),
            accept_hostname,
        ),
        ("<ip>", format!(r"^{ipv4}\b"), |c| c.is_ascii_digit(), accept_ipv4),
        (
            "<ip>",
            format!(
                r"^(?:::(?:[Ff]{{4}}:)?{ipv4}|{h}(?::{h}){{7}}|(?:{h}(?::{h}){{0,6}})?::(?:{h}(?::{h}){{0,6}})?)"
            ),
            starts_ipv6,
            accept_ipv6,
        ),
        (
            "<traceparent>",
            r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\b".to_string(),
            starts_hex,
            accept_any,
        ),
        (
            "<uuid>",
            r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b".to_string(),
            starts_hex,
            accept_any,
        ),
        ("<sha1>", r"^[0-9A-Fa-f]{40}\b".to_string(), starts_hex, accept_any),
        ("<md5>", r"^[0-9A-Fa-f]{32}\b".to_string(), starts_hex, accept_any),
        ("<date>", date_pattern(), starts_date, accept_any),
        (
            "<duration>",
            format!(r"^{number}{unit}(?:{number}{unit})*\b"),
            |c| c.is_ascii_digit(),
            accept_any,
        ),
        (
            "<hex>",
            r"^(?:0[xX][0-9A-Fa-f]+|[0-9A-Fa-f]{8,})\b".to_string(),
            starts_hex,
            accept_hex,
        ),
        ("<git_sha>", r"^[0-9a-f]{7}\b".to_string(), starts_hex, accept_mixed),
        (
            "<float>",
            r"^(?:[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)\b".to_string(),
            |c| c.is_ascii_digit(),
            accept_any,
        ),
        ("<int>", r"^[0-9]+\b".to_string(), |c| c.is_ascii_digit(), accept_any),
        (
            "<quoted_str>",
            r#"^(?:"(?:[^"\\\n]|\\.){0,512}"|'(?:[^'\\\n]|\\.){0,512}')"#.to_string(),
            starts_quote,
            accept_after_equals,
        ),
        ("<bool>", r"^(?i:true|false)\b".to_string(), starts_bool, accept_after_equals),
    ];
    specs
        .into_iter()
        .map(|(placeholder, pattern, can_start, accept)| Pattern {
            placeholder,
            regex: Regex::new(&pattern).expect("built-in message pattern is valid"),
            can_start,
            accept,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_patterns_compile() {
        assert_eq!(PATTERNS.len(), 17);
    }

    #[test]
    fn reference_example() {
        assert_eq!(
            parameterize("User 1234 failed login from 10.0.0.1 at 2024-01-02T03:04:05Z"),
            "User <int> failed login from <ip> at <date>"
        );
    }

    #[test]
    fn lines_are_cut() {
        assert_eq!(parameterize("a\n\n  b  \nc"), "a\nb...");
        assert_eq!(parameterize("a\r\nb"), "a\nb");
        assert_eq!(parameterize(" \n "), "");
    }
}
