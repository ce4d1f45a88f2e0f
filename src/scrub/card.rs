//! Payment card numbers: 13–19 digits, optionally grouped by single spaces
//! or dashes, that pass the Luhn check.
//!
//! A hand-written scan rather than a regex: a run of digit groups can hold a
//! card that starts or ends at any group boundary (`ref 12 4111 1111 1111
//! 1111`), and only a Luhn check can tell which. Within one run of groups,
//! candidates start at a group boundary and end at one; the longest valid
//! candidate from the leftmost start wins. A candidate never starts or ends
//! inside a longer digit string, nor glued to a letter or `_`, so long IDs
//! and hex hashes stay. At most 19 digits per candidate keeps it linear.

use super::placeholder;

const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;

/// The Luhn checksum over the ASCII digits of `number` (other bytes are
/// skipped); false when there are no digits.
pub fn luhn_valid(number: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for digit in number.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(digit - b'0');
        if count % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    count > 0 && sum % 10 == 0
}

/// Replaces card numbers with `[card]`; `None` when there is none.
pub(super) fn scrub_cards(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut pos = 0;
    while pos < bytes.len() {
        if !bytes[pos].is_ascii_digit() {
            pos += 1;
            continue;
        }
        let (span_end, digits) = scan_span(bytes, pos);
        if digits >= MIN_DIGITS {
            for (start, end) in cards_in_span(text, pos, span_end) {
                let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
                buf.push_str(&text[copied..start]);
                buf.push_str(placeholder::CARD);
                copied = end;
            }
        }
        pos = span_end;
    }
    let mut buf = out?;
    buf.push_str(&text[copied..]);
    Some(buf)
}

/// The end of the run of digit groups starting at `start` (groups joined by
/// one space or dash) and how many digits it holds.
fn scan_span(bytes: &[u8], start: usize) -> (usize, usize) {
    let mut end = start;
    let mut digits = 0;
    loop {
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
            digits += 1;
        }
        let joined = matches!(bytes.get(end), Some(b' ' | b'-'))
            && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if !joined {
            return (end, digits);
        }
        end += 1;
    }
}

/// Byte ranges of the cards in the span `[start, end)` of `text`.
fn cards_in_span(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let groups = digit_groups(text.as_bytes(), start, end);
    let open_start = !is_word_char_before(text, start);
    let open_end = !is_word_char_after(text, end);
    let mut cards = Vec::new();
    let mut first = 0;
    while first < groups.len() {
        let starts_ok = first > 0 || open_start;
        let found = starts_ok
            .then(|| longest_card_from(text, &groups, first, open_end))
            .flatten();
        match found {
            Some(last) => {
                cards.push((groups[first].0, groups[last].1));
                first = last + 1;
            }
            None => first += 1,
        }
    }
    cards
}

/// The index of the last group of the longest Luhn-valid candidate that
/// starts at group `first`, if any.
fn longest_card_from(
    text: &str,
    groups: &[(usize, usize)],
    first: usize,
    open_end: bool,
) -> Option<usize> {
    let mut digits = 0;
    let mut best = None;
    for (last, &(group_start, group_end)) in groups.iter().enumerate().skip(first) {
        digits += group_end - group_start;
        if digits > MAX_DIGITS {
            break;
        }
        let ends_ok = last + 1 < groups.len() || open_end;
        if digits >= MIN_DIGITS && ends_ok && luhn_valid(&text[groups[first].0..group_end]) {
            best = Some(last);
        }
    }
    best
}

fn digit_groups(bytes: &[u8], start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut pos = start;
    while pos < end {
        let group_start = pos;
        while pos < end && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        groups.push((group_start, pos));
        pos += 1; // the separator
    }
    groups
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_word_char_before(text: &str, pos: usize) -> bool {
    text.get(..pos)
        .and_then(|head| head.chars().next_back())
        .is_some_and(is_word_char)
}

fn is_word_char_after(text: &str, pos: usize) -> bool {
    text.get(pos..)
        .and_then(|tail| tail.chars().next())
        .is_some_and(is_word_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(text: &str) -> String {
        scrub_cards(text).unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("4111-1111-1111-1111"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid(""));
    }

    #[test]
    fn cards_in_all_shapes() {
        assert_eq!(scrub("pan 4111111111111111."), "pan [card].");
        assert_eq!(scrub("pan 4111 1111 1111 1111!"), "pan [card]!");
        assert_eq!(scrub("pan 4111-1111-1111-1111"), "pan [card]");
        assert_eq!(scrub("amex 3782 822463 10005"), "amex [card]");
        assert_eq!(scrub("19: 6011000990139424000"), "19: 6011000990139424000");
        assert_eq!(scrub("ref 12 4111 1111 1111 1111"), "ref 12 [card]");
    }

    #[test]
    fn non_cards_stay() {
        for text in [
            "4111111111111112",
            "order 41111111111111110000",
            "x4111111111111111",
            "4111111111111111_a",
            "id 123456789012",
            "2024-01-15 10:20:30",
            "4111  1111  1111  1111",
        ] {
            assert_eq!(scrub(text), text);
        }
    }
}
