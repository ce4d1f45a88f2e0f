//! Pieces every format's trace is made of: numbered lines, exception
//! headers, argument lists, line numbers and cause chains.

use crate::event::{Exception, Frame, Mechanism, Stacktrace};
use regex::Regex;
use std::sync::LazyLock;

/// A line that starts a new log record (timestamp or level first), which
/// ends a multi-line exception message.
static LOG_RECORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*\[?(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\d{2}:\d{2}:\d{2}|(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL|FATAL)\b)",
    )
    .expect("log record pattern is valid")
});

/// The lines of a text, without line endings; `lines[i]` is line `i + 1`.
pub(super) fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// True for a line that starts a new log record.
pub(super) fn is_log_record(line: &str) -> bool {
    LOG_RECORD.is_match(line)
}

/// Width of the leading whitespace, a tab counting as four columns.
pub(super) fn indent_width(line: &str) -> usize {
    line.chars()
        .take_while(|c| c.is_whitespace())
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum()
}

/// A 1-based line number; 0 and numbers that do not fit mean "unknown".
pub(super) fn line_number(digits: &str) -> Option<u64> {
    digits.trim().parse::<u64>().ok().filter(|&n| n > 0)
}

/// `a.b.Type` → (`Some("a.b")`, `Type`); an undotted name has no module.
pub(super) fn split_qualified(name: &str) -> (Option<String>, String) {
    match name.rsplit_once('.') {
        Some((module, ty)) if !module.is_empty() && !ty.is_empty() => {
            (Some(module.to_string()), ty.to_string())
        }
        _ => (None, name.to_string()),
    }
}

/// `module.type`, or the type alone; `fallback` stands in for no type.
pub(super) fn qualified_type(exception: &Exception, fallback: &str) -> String {
    let ty = non_blank(exception.ty.as_deref()).unwrap_or(fallback);
    match non_blank(exception.module.as_deref()) {
        Some(module) => format!("{module}.{ty}"),
        None => ty.to_string(),
    }
}

/// The trimmed text, or `None` when missing or blank.
pub(super) fn non_blank(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// Splits a trailing, balanced `(…)` off `text`: `f (int a)` → (`f`, `int a`).
/// `None` when `text` does not end with one.
pub(super) fn split_trailing_parens(text: &str) -> Option<(&str, &str)> {
    let body = text.strip_suffix(')')?;
    let mut depth = 1usize;
    for (index, c) in body.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    let inner = body.get(index + 1..)?;
                    let before = body.get(..index)?;
                    return Some((before.trim_end(), inner));
                }
            }
            _ => {}
        }
    }
    None
}

/// The message of an exception: its first line and continuation lines,
/// `None` when all of it is blank.
pub(super) fn message(first: Option<&str>, more: &[&str]) -> Option<String> {
    let mut parts: Vec<&str> = first.into_iter().collect();
    parts.extend(more.iter().map(|line| line.trim_end()));
    let text = parts.join("\n");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// An exception with frames in Sentry order (caller first).
pub(super) fn exception(
    ty: Option<String>,
    module: Option<String>,
    value: Option<String>,
    frames: Vec<Frame>,
) -> Exception {
    Exception {
        ty: ty.filter(|t| !t.is_empty()),
        value,
        module,
        stacktrace: (!frames.is_empty()).then_some(Stacktrace { frames }),
        ..Exception::default()
    }
}

/// Frames of an exception in log order (crashing frame first).
pub(super) fn log_order(exception: &Exception) -> impl Iterator<Item = &Frame> {
    exception
        .stacktrace
        .iter()
        .flat_map(|stacktrace| stacktrace.frames.iter().rev())
}

/// Links a cause chain (innermost first) the way Sentry's Python and
/// JavaScript SDKs do: the outermost exception has id 0, each cause the
/// next id and its effect as parent. `source` names the link.
pub(super) fn link_chain(exceptions: &mut [Exception], source: impl Fn(usize) -> String) {
    if exceptions.len() < 2 {
        return;
    }
    let outermost = exceptions.len() - 1;
    for (index, exception) in exceptions.iter_mut().enumerate() {
        let id = (outermost - index) as u64;
        let mechanism = exception.mechanism.get_or_insert_with(Mechanism::default);
        mechanism.exception_id = Some(id);
        if id > 0 {
            mechanism.ty = Some("chained".to_string());
            mechanism.source = Some(source(index));
            mechanism.parent_id = Some(id - 1);
        }
    }
}

/// Pushes a message's lines after its first, each after `indent`: the
/// formats print the first line in the header and the rest below it.
pub(super) fn push_message_lines(out: &mut Vec<String>, value: &str, indent: &str) {
    for line in value.lines().skip(1) {
        out.push(format!("{indent}{line}"));
    }
}

/// The first line of a message.
pub(super) fn first_line(value: &str) -> &str {
    value.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_parens() {
        assert_eq!(split_trailing_parens("f (int a)"), Some(("f", "int a")));
        assert_eq!(
            split_trailing_parens("a.(*T).M(0x1, {0x2})"),
            Some(("a.(*T).M", "0x1, {0x2}"))
        );
        assert_eq!(split_trailing_parens("g(h(1))"), Some(("g", "h(1)")));
        assert_eq!(split_trailing_parens("x)"), None);
        assert_eq!(split_trailing_parens("noparens"), None);
        assert_eq!(split_trailing_parens("é)"), None);
    }

    #[test]
    fn numbers_and_names() {
        assert_eq!(line_number("12"), Some(12));
        assert_eq!(line_number("0"), None);
        assert_eq!(line_number("99999999999999999999999"), None);
        assert_eq!(
            split_qualified("a.b.E"),
            (Some("a.b".to_string()), "E".to_string())
        );
        assert_eq!(split_qualified("E"), (None, "E".to_string()));
        assert_eq!(split_qualified(".E"), (None, ".E".to_string()));
        assert!(is_log_record("2024-05-01 12:00:01 ERROR boom"));
        assert!(!is_log_record("  at foo"));
    }

    #[test]
    fn chains_are_linked_outermost_zero() {
        let mut chain = vec![Exception::default(), Exception::default()];
        link_chain(&mut chain, |_| "__cause__".to_string());
        let inner = chain[0].mechanism.as_ref().expect("mechanism");
        assert_eq!((inner.exception_id, inner.parent_id), (Some(1), Some(0)));
        let outer = chain[1].mechanism.as_ref().expect("mechanism");
        assert_eq!((outer.exception_id, outer.parent_id), (Some(0), None));
    }
}
