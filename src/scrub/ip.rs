//! IP addresses, found by scanning for runs of address characters and
//! validated with the standard library's parsers (which know every IPv6
//! shorthand: `::1`, `fe80::1`, `::ffff:10.0.0.1`, `64:ff9b::1.2.3.4`).
//!
//! A candidate must not be glued to a letter, digit or `_`, so `v1.2.3.4`,
//! `Foo::bar` and `std::io` stay. IPv6 candidates also need a decimal digit
//! or at least three groups, which keeps namespace paths like `DB::E` or
//! `Ab::Cd` out while real addresses (which essentially always have a digit)
//! are caught. A trailing `.`/`:` (end of sentence, `addr: ::1:`) and a
//! leading single `:` (`host:fe80::1`) are not part of the address; a zone
//! id (`%eth0`) is.

use super::placeholder;
use std::net::{Ipv4Addr, Ipv6Addr};

pub(super) fn scrub_ipv6(text: &str) -> Option<String> {
    if !text.contains(':') {
        return None;
    }
    scrub_runs(text, is_ipv6_byte, ipv6_at)
}

pub(super) fn scrub_ipv4(text: &str) -> Option<String> {
    if !text.contains('.') {
        return None;
    }
    scrub_runs(text, is_ipv4_byte, ipv4_at)
}

fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

fn is_ipv4_byte(b: u8) -> bool {
    b.is_ascii_digit() || b == b'.'
}

/// Finds maximal runs of `in_run` bytes and replaces the address that
/// `address_at(text, run_start, run_end)` finds in each (its byte range).
fn scrub_runs(
    text: &str,
    in_run: fn(u8) -> bool,
    address_at: fn(&str, usize, usize) -> Option<(usize, usize)>,
) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut pos = 0;
    while pos < bytes.len() {
        if !in_run(bytes[pos]) {
            pos += 1;
            continue;
        }
        let run_start = pos;
        while pos < bytes.len() && in_run(bytes[pos]) {
            pos += 1;
        }
        if let Some((start, end)) = address_at(text, run_start, pos) {
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buf.push_str(&text[copied..start]);
            buf.push_str(placeholder::IP);
            copied = end;
            pos = pos.max(end);
        }
    }
    let mut buf = out?;
    buf.push_str(&text[copied..]);
    Some(buf)
}

fn ipv6_at(text: &str, run_start: usize, run_end: usize) -> Option<(usize, usize)> {
    let run = &text[run_start..run_end];
    if run.bytes().filter(|&b| b == b':').count() < 2 {
        return None;
    }
    let (start, end) = trim_ipv6(text, run_start, run_end);
    let candidate = &text[start..end];
    if !plausible_ipv6(candidate) || candidate.parse::<Ipv6Addr>().is_err() {
        return None;
    }
    let end = if end == run_end {
        zone_end(text, end)
    } else {
        end
    };
    bounded(text, start, end).then_some((start, end))
}

/// Drops a leading single `:` and leading dots, and trailing dots and a
/// trailing single `:` (never half of a `::`).
fn trim_ipv6(text: &str, mut start: usize, mut end: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    while start < end && bytes[start] == b'.' {
        start += 1;
    }
    if end - start >= 2 && bytes[start] == b':' && bytes[start + 1] != b':' {
        start += 1;
    }
    loop {
        let s = &text[start..end];
        if s.ends_with('.') || (s.ends_with(':') && !s.ends_with("::")) {
            end -= 1;
        } else {
            return (start, end);
        }
    }
}

fn plausible_ipv6(candidate: &str) -> bool {
    let groups = candidate.split(':').filter(|g| !g.is_empty()).count();
    candidate.bytes().any(|b| b.is_ascii_digit()) || groups >= 3
}

/// Extends an address ending at `end` over a `%zone` suffix, if any.
fn zone_end(text: &str, end: usize) -> usize {
    let bytes = text.as_bytes();
    if bytes.get(end) != Some(&b'%') {
        return end;
    }
    let mut zone = end + 1;
    while zone < bytes.len()
        && (bytes[zone].is_ascii_alphanumeric() || matches!(bytes[zone], b'.' | b'_' | b'~' | b'-'))
    {
        zone += 1;
    }
    while zone > end + 1 && matches!(bytes[zone - 1], b'.' | b'-') {
        zone -= 1;
    }
    if zone > end + 1 { zone } else { end }
}

fn ipv4_at(text: &str, run_start: usize, run_end: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let (mut start, mut end) = (run_start, run_end);
    while start < end && bytes[start] == b'.' {
        start += 1;
    }
    while end > start && bytes[end - 1] == b'.' {
        end -= 1;
    }
    let candidate = &text[start..end];
    (candidate.parse::<Ipv4Addr>().is_ok() && bounded(text, start, end)).then_some((start, end))
}

/// Not glued to a word character on either side.
fn bounded(text: &str, start: usize, end: usize) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let before = text.get(..start).and_then(|h| h.chars().next_back());
    let after = text.get(end..).and_then(|t| t.chars().next());
    !before.is_some_and(is_word) && !after.is_some_and(is_word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(text: &str) -> String {
        let v6 = scrub_ipv6(text).unwrap_or_else(|| text.to_owned());
        scrub_ipv4(&v6).unwrap_or(v6)
    }

    #[test]
    fn ipv4() {
        assert_eq!(scrub("from 192.168.0.1:8080."), "from [ip]:8080.");
        assert_eq!(scrub("net 10.0.0.0/8"), "net [ip]/8");
        assert_eq!(scrub("ip=8.8.8.8, next"), "ip=[ip], next");
    }

    #[test]
    fn ipv6() {
        assert_eq!(scrub("addr ::1 up"), "addr [ip] up");
        assert_eq!(scrub("link fe80::1%eth0 up"), "link [ip] up");
        assert_eq!(scrub("[2001:db8::8a2e:370:7334]:443"), "[[ip]]:443");
        assert_eq!(scrub("mapped ::ffff:192.0.2.128."), "mapped [ip].");
        assert_eq!(scrub("host:fe80::1"), "host:[ip]");
        assert_eq!(
            scrub("full 2001:0db8:0000:0000:0000:ff00:0042:8329"),
            "full [ip]"
        );
        assert_eq!(scrub("refused: ::1:"), "refused: [ip]:");
    }

    #[test]
    fn lookalikes_stay() {
        for text in [
            "v1.2.3.4",
            "version 1.2.3.4.5",
            "999.1.1.1",
            "Foo::bar()",
            "std::io::Error",
            "DB::E",
            "a :: b",
            "10:20:30",
            "00:1a:2b:3c:4d:5e",
            "1.2.3",
        ] {
            assert_eq!(scrub(text), text);
        }
    }
}
