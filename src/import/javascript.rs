//! JavaScript: V8 (Node, Chrome, Edge) and Gecko/WebKit (Firefox, Safari).
//!
//! ```text
//! TypeError: Cannot read properties of undefined (reading 'id')
//!     at OrderService.findById (/app/src/services/orderService.js:18:23)
//!     at async getOrder (/app/src/routes/orders.js:42:17)
//!     at process.processTicksAndRejections (node:internal/process/task_queues:95:5) {
//!   [cause]: Error: connect ECONNREFUSED 127.0.0.1:5432
//!       at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)
//! }
//! ```
//!
//! ```text
//! handleClick@https://shop.example.com/static/js/main.js:1:2345
//! @https://shop.example.com/static/js/main.js:1:99
//! ```
//!
//! Frames are printed crashing frame first and are reversed. A frame without
//! a function gets `?`, as the SDKs write it. Node's `[cause]:` blocks become
//! the chain, linked like sentry-javascript's linked errors; other property
//! blocks (`{ code: … }`, `[errors]: […]`) are read past.

use super::trace::{self, non_blank, split_trailing_parens};
use super::{ImportError, Parsed, TraceFormat};
use crate::event::{Exception, Frame};
use regex::Regex;
use std::sync::LazyLock;

/// `at …`, with Node's ` {` that opens the error's properties.
static V8_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*at\s+(?P<rest>.+?)(?:\s+\{)?\s*$").expect("v8 frame pattern is valid")
});

/// `function@location` (Firefox, Safari).
static GECKO_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?P<function>[^@]*)@(?P<location>.+?)\s*$")
        .expect("gecko frame pattern is valid")
});

/// `[Uncaught] Type[ [CODE]][: message]`.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?:Uncaught\s+(?:\(in promise\)\s+)?)?(?P<type>[A-Za-z_$][\w$.]*)(?:\s*\[[^\]]*\])?(?::\s?(?P<message>.*))?$",
    )
    .expect("javascript header pattern is valid")
});

/// An error type after a log prefix.
static PREFIXED_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|\s)(?P<type>[A-Z][\w$]*(?:Error|Exception))(?:\s*\[[^\]]*\])?:\s(?P<message>.*)$",
    )
    .expect("javascript prefixed header pattern is valid")
});

const CAUSE_PREFIX: &str = "[cause]:";

/// One frame line, parsed.
struct FrameLine {
    frame: Frame,
    /// Gecko syntax (a browser) rather than V8's.
    gecko: bool,
}

fn frame_line(line: &str) -> Option<FrameLine> {
    if let Some(captures) = V8_FRAME.captures(line) {
        let frame = v8_frame(captures.name("rest")?.as_str());
        // Prose that starts with "at" has no location.
        let located = frame.lineno.is_some()
            || matches!(
                frame.filename.as_deref(),
                Some("<anonymous>" | "native" | "[native code]") | None
            );
        return located.then_some(FrameLine {
            frame,
            gecko: false,
        });
    }
    let captures = GECKO_FRAME.captures(line)?;
    let function = captures.name("function")?.as_str().trim();
    let location = captures.name("location")?.as_str();
    let (path, lineno, colno) = split_line_col(location);
    let is_location = lineno.is_some() || path == "[native code]";
    if !is_location || function.contains(": ") || function.contains('(') {
        return None;
    }
    // `promise callback*foo`: the part before `*` marks an async boundary.
    let function = function.rsplit('*').next().unwrap_or(function);
    Some(FrameLine {
        frame: make_frame(function, Some(path), lineno, colno),
        gecko: true,
    })
}

/// `fn (location)`, `async fn (location)` or a bare `location`.
fn v8_frame(rest: &str) -> Frame {
    let (function, location) = match split_trailing_parens(rest) {
        Some((function, location)) if !function.is_empty() => (function, location),
        _ => ("", rest),
    };
    let function = function.strip_prefix("async ").unwrap_or(function);
    // `eval at outer (file.js:1:1), <anonymous>:1:1`: the eval'd code's own location.
    let location = match location.strip_prefix("eval at ") {
        Some(eval) => eval.rsplit_once(", ").map_or(eval, |(_, own)| own),
        None => location,
    };
    let (path, lineno, colno) = split_line_col(location);
    // `Promise.all (index 0)` names an argument, not a file.
    let path = (!path.starts_with("index ")).then_some(path);
    make_frame(function, path, lineno, colno)
}

fn make_frame(
    function: &str,
    path: Option<&str>,
    lineno: Option<u64>,
    colno: Option<u64>,
) -> Frame {
    let path = path.map(str::trim).filter(|p| !p.is_empty());
    let function = function.trim();
    Frame {
        function: Some(if function.is_empty() { "?" } else { function }.to_string()),
        filename: path.map(str::to_string),
        abs_path: path.map(str::to_string),
        lineno,
        colno,
        in_app: Some(path.is_some_and(is_app_path)),
        ..Frame::default()
    }
}

/// `path:line:col`, `path:line` or `path`.
fn split_line_col(location: &str) -> (&str, Option<u64>, Option<u64>) {
    let location = location.trim();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match location.rsplit_once(':') {
        Some((rest, last)) if numeric(last) => match rest.rsplit_once(':') {
            Some((path, line)) if numeric(line) => {
                (path, trace::line_number(line), trace::line_number(last))
            }
            _ => (rest, trace::line_number(last), None),
        },
        _ => (location, None, None),
    }
}

/// Dependencies, Node's own modules and engine built-ins are not the app.
fn is_app_path(path: &str) -> bool {
    let path = path.replace('\\', "/").to_ascii_lowercase();
    let core_file = !path.contains('/') && !path.contains(':') && path.ends_with(".js");
    !(path.contains("node_modules/")
        || path.starts_with("node:")
        || path.starts_with("internal/")
        || matches!(path.as_str(), "<anonymous>" | "native" | "[native code]")
        || core_file)
}

/// One exception of the chain while it is being read.
struct Pending {
    header: Option<(String, Option<String>)>,
    more_lines: Vec<String>,
    frames: Vec<Frame>,
    /// Still before the first frame: other lines continue the message.
    in_header: bool,
    /// Frames still belong to it (no property line came in between).
    open: bool,
}

impl Pending {
    fn new(header: Option<(String, Option<String>)>) -> Pending {
        Pending {
            header,
            more_lines: Vec::new(),
            frames: Vec::new(),
            in_header: true,
            open: true,
        }
    }

    fn into_exception(self) -> Exception {
        let more: Vec<&str> = self.more_lines.iter().map(String::as_str).collect();
        let (ty, first) = self.header.unzip();
        let mut frames = self.frames;
        frames.reverse();
        trace::exception(
            ty,
            None,
            trace::message(first.flatten().as_deref(), &more),
            frames,
        )
    }
}

fn header_from(pattern: &Regex, line: &str) -> Option<(String, Option<String>)> {
    let captures = pattern.captures(line)?;
    let ty = captures.name("type")?.as_str().to_string();
    let message = captures.name("message").map(|m| m.as_str().to_string());
    Some((ty, message))
}

fn is_error_type(header: &(String, Option<String>)) -> bool {
    header.0.ends_with("Error") || header.0.ends_with("Exception")
}

pub(super) fn parse(text: &str) -> Result<Parsed, ImportError> {
    let lines = trace::lines(text);
    let first_frame = lines
        .iter()
        .position(|line| frame_line(line).is_some())
        .ok_or(ImportError::NoTrace {
            format: TraceFormat::JavaScript,
            expected: "a frame line like `    at handler (/app/src/index.js:12:5)` or `handler@https://example.com/app.js:1:2`",
        })?;
    let (header_line, header) = find_header(&lines, first_frame);
    let mut main = Pending::new(header);
    if let Some(header_line) = header_line {
        for line in lines.get(header_line + 1..first_frame).unwrap_or_default() {
            main.more_lines.push(line.to_string());
        }
    }
    let (chain, gecko) = read_chain(&lines, first_frame, main);
    let mut exceptions: Vec<Exception> = chain.into_iter().map(Pending::into_exception).collect();
    exceptions.reverse();
    trace::link_chain(&mut exceptions, |_| "cause".to_string());
    let from_browser = gecko
        || exceptions
            .iter()
            .flat_map(trace::log_order)
            .filter_map(|f| f.abs_path.as_deref())
            .any(|p| p.starts_with("http://") || p.starts_with("https://"));
    Ok(Parsed {
        exceptions,
        threads: Vec::new(),
        platform: if from_browser { "javascript" } else { "node" },
    })
}

/// The header above the first frame: the topmost line of the block that
/// names an error type, else one after a log prefix, else a `Name: message`
/// line right above the frame.
fn find_header(
    lines: &[&str],
    first_frame: usize,
) -> (Option<usize>, Option<(String, Option<String>)>) {
    let block_start = (0..first_frame)
        .rev()
        .take_while(|&index| lines.get(index).is_some_and(|l| !l.trim().is_empty()))
        .last()
        .unwrap_or(first_frame);
    for index in block_start..first_frame {
        let line = lines.get(index).copied().unwrap_or_default();
        if let Some(header) = header_from(&HEADER, line).filter(is_error_type) {
            return (Some(index), Some(header));
        }
    }
    for index in block_start..first_frame {
        let line = lines.get(index).copied().unwrap_or_default();
        if let Some(header) = header_from(&PREFIXED_HEADER, line) {
            return (Some(index), Some(header));
        }
    }
    let above = first_frame.checked_sub(1).filter(|&i| i >= block_start);
    let header = above
        .and_then(|i| lines.get(i))
        .and_then(|line| header_from(&HEADER, line))
        .filter(|(_, message)| message.is_some());
    match header {
        Some(header) => (above, Some(header)),
        None => (None, None),
    }
}

/// Reads frames and `[cause]:` blocks; returns the chain (outermost first)
/// and whether any frame was in Gecko syntax.
fn read_chain(lines: &[&str], first_frame: usize, main: Pending) -> (Vec<Pending>, bool) {
    let mut chain = vec![main];
    let mut gecko = false;
    // Nesting of Node's `{ … }` property blocks.
    let mut depth = 0usize;
    for line in lines.iter().skip(first_frame) {
        let trimmed = line.trim();
        if let Some(parsed) = frame_line(line) {
            if let Some(current) = chain.last_mut().filter(|c| c.open) {
                gecko |= parsed.gecko;
                current.frames.push(parsed.frame);
                current.in_header = false;
            }
            if trimmed.ends_with('{') {
                depth += 1;
            }
        } else if let Some(cause) = trimmed.strip_prefix(CAUSE_PREFIX).filter(|_| depth > 0) {
            chain.push(Pending::new(header_from(&HEADER, cause)));
            if trimmed.ends_with('{') {
                depth += 1;
            }
        } else if depth > 0 {
            if trimmed.starts_with('}') || trimmed.starts_with(']') {
                depth -= 1;
            }
            if trimmed.ends_with('{') || trimmed.ends_with('[') {
                depth += 1;
            }
            if let Some(current) = chain.last_mut() {
                if current.in_header && !trimmed.starts_with('}') {
                    current.more_lines.push(line.trim().to_string());
                } else {
                    current.open = false;
                    current.in_header = false;
                }
            }
        } else {
            break;
        }
    }
    (chain, gecko)
}

/// Prints V8 style; causes as Node prints them, in `[cause]:` blocks.
pub(super) fn format(exceptions: &[Exception]) -> String {
    let mut out: Vec<String> = Vec::new();
    let chain: Vec<&Exception> = exceptions.iter().rev().collect();
    for (depth, exception) in chain.iter().enumerate() {
        let indent = "  ".repeat(depth);
        let header = header_text(exception);
        out.push(if depth == 0 {
            header
        } else {
            format!("{indent}{CAUSE_PREFIX} {header}")
        });
        if let Some(value) = non_blank(exception.value.as_deref()) {
            trace::push_message_lines(&mut out, value, &indent);
        }
        for frame in trace::log_order(exception) {
            out.push(format!("{indent}    at {}", frame_text(frame)));
        }
        if let Some(last) = out.last_mut().filter(|_| depth + 1 < chain.len()) {
            last.push_str(" {");
        }
    }
    for depth in (0..chain.len().saturating_sub(1)).rev() {
        out.push(format!("{}}}", "  ".repeat(depth)));
    }
    out.join("\n")
}

fn header_text(exception: &Exception) -> String {
    let ty = non_blank(exception.ty.as_deref()).unwrap_or("Error");
    match non_blank(exception.value.as_deref()) {
        Some(value) => format!("{ty}: {}", trace::first_line(value)),
        None => ty.to_string(),
    }
}

fn frame_text(frame: &Frame) -> String {
    let path = non_blank(frame.abs_path.as_deref())
        .or(non_blank(frame.filename.as_deref()))
        .unwrap_or("<anonymous>");
    let location = match (frame.lineno, frame.colno) {
        (Some(line), Some(col)) => format!("{path}:{line}:{col}"),
        (Some(line), None) => format!("{path}:{line}"),
        _ => path.to_string(),
    };
    match non_blank(frame.function.as_deref()).filter(|f| *f != "?") {
        Some(function) => format!("{function} ({location})"),
        None => location,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(split_line_col("/a/b.js:1:2"), ("/a/b.js", Some(1), Some(2)));
        assert_eq!(
            split_line_col("node:internal/process/task_queues:95:5"),
            ("node:internal/process/task_queues", Some(95), Some(5))
        );
        assert_eq!(
            split_line_col("C:\\app\\x.js:12"),
            ("C:\\app\\x.js", Some(12), None)
        );
        assert_eq!(split_line_col("<anonymous>"), ("<anonymous>", None, None));
        assert_eq!(
            split_line_col("https://x.example:8080/a.js"),
            ("https://x.example:8080/a.js", None, None)
        );
    }

    #[test]
    fn app_paths() {
        assert!(is_app_path("/app/src/index.js"));
        assert!(is_app_path("https://shop.example.com/static/js/main.js"));
        assert!(!is_app_path(
            "/app/node_modules/express/lib/router/layer.js"
        ));
        assert!(!is_app_path("node:internal/process/task_queues"));
        assert!(!is_app_path("internal/modules/cjs/loader.js"));
        assert!(!is_app_path("events.js"));
        assert!(!is_app_path("<anonymous>"));
    }
}
