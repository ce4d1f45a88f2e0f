//! CPython tracebacks, with chained exceptions and exception groups.
//!
//! ```text
//! Traceback (most recent call last):
//!   File "/srv/shop/billing/gateway.py", line 74, in charge
//!     resp = self.session.post(self.url, json=payload)
//! requests.exceptions.ConnectionError: connection refused
//!
//! The above exception was the direct cause of the following exception:
//!
//! Traceback (most recent call last):
//!   ...
//! billing.errors.PaymentGatewayError: charge failed
//! ```
//!
//! Python prints the oldest exception first and frames caller first, which
//! is Sentry's order already. Chains and exception groups (3.11+, see
//! `group.rs`) are linked with `exception_id` and `parent_id` like
//! sentry-python does (`chain.rs`). Source lines become `context_line`; the
//! `^~~~` markers of Python 3.11+ are skipped. [`format`] prints a group's
//! members as a plain chain: the box is not drawn.

mod chain;
mod group;

use super::trace::{self, non_blank};
use super::{ImportError, Parsed, TraceFormat};
use crate::event::{Exception, Frame};
use chain::{Chain, Item};
use regex::Regex;
use std::sync::LazyLock;

const TRACEBACK: &str = "Traceback (most recent call last):";
const CAUSE: &str = "The above exception was the direct cause of the following exception:";
const CONTEXT: &str = "During handling of the above exception, another exception occurred:";

static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*File "(?P<file>.*)", line (?P<line>\d+)(?:, in (?P<function>.+?))?\s*$"#)
        .expect("python frame pattern is valid")
});

/// `Type`, `Type: value`, `pkg.mod.Type: value`, `f.<locals>.Type`.
static EXCEPTION_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<type>[A-Za-z_][\w.<>]*)(?::(?:\s?(?P<value>.*))?)?$")
        .expect("python exception pattern is valid")
});

/// Python 3.11+ underlines the failing expression with `^` and `~`.
static MARKERS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*[\^~][\s\^~]*$").expect("marker pattern is valid"));

/// Python prints groups nested at most this deep; deeper members are dropped.
const MAX_GROUP_DEPTH: usize = 10;

/// Standard library paths (`/usr/lib/python3.12/`, `C:\Python312\Lib\`).
static STDLIB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)/lib(?:64)?/python\d+(?:\.\d+)?/|/python\d*/lib/")
        .expect("python stdlib pattern is valid")
});

pub(super) fn parse(text: &str) -> Result<Parsed, ImportError> {
    let lines = trace::lines(text);
    let start = lines
        .iter()
        .position(|line| line.contains(TRACEBACK))
        .or_else(|| lines.iter().position(|line| FRAME.is_match(line)))
        .ok_or(ImportError::NoTrace {
            format: TraceFormat::Python,
            expected: "`Traceback (most recent call last):` or a frame line like `  File \"app.py\", line 3, in main`",
        })?;
    let mut reader = Reader {
        lines: &lines,
        index: start,
        depth: 0,
    };
    let chain = reader.read_chain();
    if chain.is_empty() {
        return Err(ImportError::Malformed {
            format: TraceFormat::Python,
            line: start + 1,
            message: "the traceback has neither frames nor an exception line".into(),
        });
    }
    Ok(Parsed {
        exceptions: chain::into_exceptions(chain),
        threads: Vec::new(),
        platform: "python",
    })
}

struct Reader<'t> {
    lines: &'t [&'t str],
    index: usize,
    /// How many exception groups enclose these lines.
    depth: usize,
}

impl<'t> Reader<'t> {
    fn peek(&self) -> Option<&'t str> {
        self.lines.get(self.index).copied()
    }

    /// Tracebacks and groups joined by chain separators, oldest first.
    fn read_chain(&mut self) -> Chain {
        let mut chain: Chain = Vec::new();
        while let Some(item) = self.read_item() {
            chain.push(item);
            let Some(link) = self.read_separator() else {
                break;
            };
            if let Some(last) = chain.last_mut() {
                last.link = Some(link);
            }
        }
        // A separator with nothing readable after it links to nothing.
        if let Some(last) = chain.last_mut() {
            last.link = None;
        }
        chain
    }

    fn read_item(&mut self) -> Option<Item> {
        let line = self.peek()?;
        let rest = self.lines.get(self.index..).unwrap_or_default();
        if let Some(margin) = group::boxed_margin(line) {
            let (unboxed, spanned) = group::unbox(rest, margin);
            self.index += spanned;
            let lines: Vec<&str> = unboxed.iter().map(String::as_str).collect();
            let split = group::split(&lines);
            return Some(self.group_item(&split));
        }
        if line.trim_end() == group::UNBOXED_HEADER {
            let split = group::split(rest);
            self.index += split.spanned.max(1);
            return Some(self.group_item(&split));
        }
        self.read_traceback().map(|exception| Item {
            exception,
            link: None,
            members: None,
        })
    }

    /// A group: its own traceback, and its members read as chains.
    fn group_item(&self, split: &group::Unboxed) -> Item {
        let own: Vec<&str> = split.own.iter().map(String::as_str).collect();
        let mut reader = Reader {
            lines: &own,
            index: 0,
            depth: self.depth,
        };
        let exception = reader.read_traceback().unwrap_or_default();
        let members = if self.depth < MAX_GROUP_DEPTH {
            split
                .members
                .iter()
                .filter_map(|member| self.member_chain(member))
                .collect()
        } else {
            Vec::new()
        };
        Item {
            exception,
            link: None,
            members: Some(members),
        }
    }

    fn member_chain(&self, member: &[String]) -> Option<Chain> {
        let lines: Vec<&str> = member.iter().map(String::as_str).collect();
        let mut reader = Reader {
            lines: &lines,
            index: 0,
            depth: self.depth + 1,
        };
        let chain = reader.read_chain();
        (!chain.is_empty()).then_some(chain)
    }

    /// One `Traceback …` block: frames, then the exception line and its
    /// continuation. `None` when it has neither frames nor exception line.
    fn read_traceback(&mut self) -> Option<Exception> {
        let base = match self.peek() {
            Some(line) if line.contains(TRACEBACK) => {
                self.index += 1;
                header_indent(line)
            }
            Some(line) => trace::indent_width(line).min(indent_of_frames(line)),
            None => return None,
        };
        let mut frames = Vec::new();
        while let Some(line) = self.peek() {
            if let Some(frame) = self.read_frame(line) {
                frames.extend(frame);
            } else if line.trim().is_empty() || trace::indent_width(line) > base {
                // Source of a location-only frame, `[Previous line repeated …]`.
                self.index += 1;
            } else {
                break;
            }
        }
        let exception_line = self
            .peek()
            .filter(|line| !line.contains(TRACEBACK))
            .and_then(|line| EXCEPTION_LINE.captures(line.trim()));
        let Some(captures) = exception_line else {
            return (!frames.is_empty()).then(|| trace::exception(None, None, None, frames));
        };
        self.index += 1;
        let ty = captures.name("type").map_or("", |m| m.as_str());
        let first = captures.name("value").map(|m| m.as_str());
        let more = self.read_continuation();
        let (module, ty) = trace::split_qualified(ty);
        Some(trace::exception(
            Some(ty),
            module,
            trace::message(first, &more),
            frames,
        ))
    }

    /// A `File "…", line N, in f` line with its source line; `Some(None)`
    /// for a location without a function (a `SyntaxError`'s), which is not a
    /// frame. `None` when the line is not a frame line.
    fn read_frame(&mut self, line: &str) -> Option<Option<Frame>> {
        let captures = FRAME.captures(line)?;
        self.index += 1;
        let Some(function) = captures.name("function") else {
            return Some(None);
        };
        let path = captures.name("file").map_or("", |m| m.as_str());
        let mut frame = Frame {
            filename: Some(path.to_string()),
            abs_path: Some(path.to_string()),
            function: Some(function.as_str().to_string()),
            lineno: captures
                .name("line")
                .and_then(|m| trace::line_number(m.as_str())),
            in_app: Some(is_app_path(path)),
            ..Frame::default()
        };
        let indent = trace::indent_width(line);
        if let Some(source) = self.peek().filter(|next| is_source_of(next, indent)) {
            frame.context_line = Some(source.trim().to_string());
            self.index += 1;
            while self.peek().is_some_and(|next| MARKERS.is_match(next)) {
                self.index += 1;
            }
        }
        Some(Some(frame))
    }

    /// Lines that continue a multi-line exception value: up to a blank
    /// line, a chain separator, another traceback or a new log record.
    fn read_continuation(&mut self) -> Vec<&'t str> {
        let mut more = Vec::new();
        while let Some(line) = self.peek() {
            let trimmed = line.trim();
            let ends = trimmed.is_empty()
                || trimmed == CAUSE
                || trimmed == CONTEXT
                || line.contains(TRACEBACK)
                || FRAME.is_match(line)
                || trace::is_log_record(line);
            if ends {
                break;
            }
            more.push(line);
            self.index += 1;
        }
        more
    }

    /// Skips blank lines and reads a chain separator, if there is one.
    fn read_separator(&mut self) -> Option<&'static str> {
        while self.peek().is_some_and(|line| line.trim().is_empty()) {
            self.index += 1;
        }
        let link = match self.peek()?.trim() {
            CAUSE => "__cause__",
            CONTEXT => "__context__",
            _ => return None,
        };
        self.index += 1;
        while self.peek().is_some_and(|line| line.trim().is_empty()) {
            self.index += 1;
        }
        Some(link)
    }
}

/// The indent of a `Traceback` line that is alone on its line; a log
/// prefix before it does not indent the lines after it.
fn header_indent(line: &str) -> usize {
    let before = line.split(TRACEBACK).next().unwrap_or_default();
    if before.trim().is_empty() {
        trace::indent_width(line)
    } else {
        0
    }
}

/// Frames are indented two columns under their `Traceback` line.
fn indent_of_frames(line: &str) -> usize {
    if FRAME.is_match(line) {
        trace::indent_width(line).saturating_sub(2)
    } else {
        usize::MAX
    }
}

fn is_source_of(next: &str, frame_indent: usize) -> bool {
    !next.trim().is_empty()
        && trace::indent_width(next) > frame_indent
        && !FRAME.is_match(next)
        && !MARKERS.is_match(next)
}

/// Installed packages and the standard library are not the application.
fn is_app_path(path: &str) -> bool {
    let path = path.replace('\\', "/");
    let lower = path.to_ascii_lowercase();
    !(lower.contains("/site-packages/")
        || lower.contains("/dist-packages/")
        || lower.starts_with('<')
        || STDLIB.is_match(&lower))
}

/// Prints the chain oldest first, as Python does.
pub(super) fn format(exceptions: &[Exception]) -> String {
    let mut out: Vec<String> = Vec::new();
    for (index, exception) in exceptions.iter().enumerate() {
        if index > 0 {
            let previous = exceptions.get(index - 1);
            let context = previous
                .and_then(|e| e.mechanism.as_ref())
                .and_then(|m| m.source.as_deref())
                == Some("__context__");
            out.push(String::new());
            out.push(if context { CONTEXT } else { CAUSE }.to_string());
            out.push(String::new());
        }
        out.push(TRACEBACK.to_string());
        for frame in exception.stacktrace.iter().flat_map(|s| &s.frames) {
            push_frame(&mut out, frame);
        }
        out.push(exception_line(exception));
        if let Some(value) = non_blank(exception.value.as_deref()) {
            trace::push_message_lines(&mut out, value, "");
        }
    }
    out.join("\n")
}

fn push_frame(out: &mut Vec<String>, frame: &Frame) {
    let path = non_blank(frame.abs_path.as_deref())
        .or(non_blank(frame.filename.as_deref()))
        .unwrap_or("<unknown>");
    let function = non_blank(frame.function.as_deref()).unwrap_or("<module>");
    let line = frame.lineno.unwrap_or(0);
    out.push(format!("  File \"{path}\", line {line}, in {function}"));
    if let Some(source) = non_blank(frame.context_line.as_deref()) {
        out.push(format!("    {}", trace::first_line(source)));
    }
}

/// Python leaves out the module of built-in and `__main__` types.
fn exception_line(exception: &Exception) -> String {
    let ty = non_blank(exception.ty.as_deref()).unwrap_or("Exception");
    let ty = match non_blank(exception.module.as_deref()) {
        Some("builtins" | "__main__") | None => ty.to_string(),
        Some(module) => format!("{module}.{ty}"),
    };
    match non_blank(exception.value.as_deref()) {
        Some(value) => format!("{ty}: {}", trace::first_line(value)),
        None => ty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_paths() {
        assert!(is_app_path("/srv/shop/billing/gateway.py"));
        assert!(!is_app_path(
            "/usr/local/lib/python3.12/site-packages/requests/api.py"
        ));
        assert!(!is_app_path("/usr/lib/python3.12/json/decoder.py"));
        assert!(!is_app_path(r"C:\Python312\Lib\json\decoder.py"));
        assert!(!is_app_path("<frozen importlib._bootstrap>"));
        assert!(is_app_path("/srv/app/lib/helpers.py"));
    }
}
