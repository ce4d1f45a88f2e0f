//! JVM traces as `Throwable.printStackTrace` (and logback, log4j) write them.
//!
//! ```text
//! Exception in thread "main" java.lang.IllegalStateException: order 7 has no lines
//!     at com.example.orders.OrderService.total(OrderService.java:42)
//!     at java.base/java.lang.Thread.run(Thread.java:1583)
//! Caused by: java.lang.NullPointerException: lines
//!     at com.example.orders.Order.lines(Order.java:17)
//!     ... 1 more
//! ```
//!
//! The log prints the outermost exception first and each cause after it;
//! Sentry wants the innermost first, so the chain is reversed. `... N more`
//! stands for the last N frames of the enclosing trace, which are copied, as
//! the SDK sends every cause with its full stack. `Suppressed:` blocks are
//! read past but not imported: they are secondary failures (a `close()` that
//! also failed) and would split otherwise identical issues.

use super::trace::{self, non_blank, qualified_type};
use super::{ImportError, Parsed, TraceFormat};
use crate::event::{EventLimits, Exception, Frame};
use regex::Regex;
use std::sync::LazyLock;

/// `at [loader/]pkg.Class.method(Location)` with logback's `~[jar:ver]` tail.
static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*at\s+(?P<method>[^\s()]+)\((?P<location>[^()]*)\)(?:\s*~?\[[^\]]*\])*\s*$")
        .expect("java frame pattern is valid")
});

/// `... 12 more` (the JDK) or `... 12 common frames omitted` (logback).
static MORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*\.\.\.\s*(?P<count>\d+)\s+(?:more|common frames omitted)\s*$")
        .expect("java more pattern is valid")
});

static CAUSED_BY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*Caused by:\s*(?P<header>.*)$").expect("caused-by pattern is valid")
});

static SUPPRESSED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*Suppressed:\s*(?P<header>.*)$").expect("suppressed pattern is valid")
});

/// A header on a line of its own: a qualified class name first.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^\s*(?:Exception in thread "[^"]*"\s+)?(?P<type>(?:[A-Za-z_$][\w$]*\.)+[A-Z][\w$]*)(?::\s?(?P<message>.*))?$"#,
    )
    .expect("java header pattern is valid")
});

/// A header after a log prefix: only throwable-looking class names count.
static PREFIXED_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[\s:\]])(?P<type>(?:[A-Za-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable))(?::\s?(?P<message>.*))?$",
    )
    .expect("java prefixed header pattern is valid")
});

/// A class in the default package, right above the first frame.
static BARE_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?P<type>[A-Za-z_$][\w$]*)(?::\s?(?P<message>.*))?$")
        .expect("java bare header pattern is valid")
});

/// Printed between frames by kotlinx.coroutines' stack trace recovery.
const COROUTINE_BOUNDARY: &str = "(Coroutine boundary)";

/// Packages of the JDK, JVM languages and common libraries and frameworks:
/// their frames are not the application's.
const LIBRARY_PACKAGES: &[&str] = &[
    "java.",
    "javax.",
    "jakarta.",
    "jdk.",
    "sun.",
    "com.sun.",
    "kotlin.",
    "kotlinx.",
    "scala.",
    "groovy.",
    "clojure.",
    "org.springframework.",
    "org.apache.",
    "org.hibernate.",
    "org.eclipse.",
    "org.jboss.",
    "org.glassfish.",
    "org.junit.",
    "junit.",
    "org.gradle.",
    "org.slf4j.",
    "ch.qos.logback.",
    "com.fasterxml.",
    "com.google.",
    "io.netty.",
    "io.grpc.",
    "io.micrometer.",
    "io.reactivex.",
    "reactor.",
    "okhttp3.",
    "okio.",
    "retrofit2.",
    "com.zaxxer.",
    "org.postgresql.",
    "com.mysql.",
    "org.mariadb.",
    "org.h2.",
    "org.flywaydb.",
    "liquibase.",
    "net.bytebuddy.",
    "org.mockito.",
    "org.aspectj.",
    "com.squareup.",
    "android.",
    "androidx.",
    "com.android.",
    "dalvik.",
    "libcore.",
    "org.codehaus.",
    "org.mybatis.",
    "feign.",
    "io.undertow.",
    "org.quartz.",
    "io.opentelemetry.",
    "io.sentry.",
    "org.jetbrains.",
    "io.ktor.",
    "akka.",
    "play.",
    "io.vertx.",
    "io.quarkus.",
    "io.micronaut.",
    "org.testng.",
];

/// One exception of the main chain while it is being read.
struct Pending {
    ty: Option<String>,
    module: Option<String>,
    message: Option<String>,
    more_lines: Vec<String>,
    /// Log order, at most `cap` kept.
    frames: Vec<Frame>,
    /// Frames the trace really has, kept or not (for `... N more`).
    total: usize,
    /// No frame seen yet: other lines continue the message.
    in_header: bool,
}

impl Pending {
    fn new(header: &str) -> Pending {
        let (ty, message) = split_header(header);
        let (module, ty) = split_type(ty);
        Pending {
            ty,
            module,
            message,
            more_lines: Vec::new(),
            frames: Vec::new(),
            total: 0,
            in_header: true,
        }
    }

    fn push(&mut self, frame: Frame, cap: usize) {
        self.total += 1;
        if self.frames.len() < cap {
            self.frames.push(frame);
        }
    }

    /// Copies the last `count` frames of the enclosing trace. Frames past
    /// the cap were never kept, so only the kept ones can be copied.
    fn inherit(&mut self, enclosing: Option<&Pending>, count: usize, cap: usize) {
        if let Some(enclosing) = enclosing {
            let start = enclosing.total.saturating_sub(count);
            let shared = enclosing.frames.get(start..).unwrap_or_default();
            for frame in shared.iter().take(count) {
                if self.frames.len() < cap {
                    self.frames.push(frame.clone());
                }
            }
        }
        self.total = self.total.saturating_add(count);
    }

    fn into_exception(self) -> Exception {
        let more: Vec<&str> = self.more_lines.iter().map(String::as_str).collect();
        let mut frames = self.frames;
        frames.reverse();
        trace::exception(
            self.ty,
            self.module,
            trace::message(self.message.as_deref(), &more),
            frames,
        )
    }
}

/// `pkg.Type: message` → (`pkg.Type`, message).
fn split_header(header: &str) -> (&str, Option<String>) {
    match header.split_once(':') {
        Some((ty, message)) => (ty.trim(), Some(message.trim().to_string())),
        None => (header.trim(), None),
    }
}

/// Java SDKs send the simple class name and the package as module.
fn split_type(ty: &str) -> (Option<String>, Option<String>) {
    if ty.is_empty() {
        return (None, None);
    }
    let (module, ty) = trace::split_qualified(ty);
    (module, Some(ty))
}

pub(super) fn parse(text: &str) -> Result<Parsed, ImportError> {
    let lines = trace::lines(text);
    let first_frame =
        lines
            .iter()
            .position(|line| FRAME.is_match(line))
            .ok_or(ImportError::NoTrace {
                format: TraceFormat::Java,
                expected: "a frame line like `\tat com.example.Foo.bar(Foo.java:12)`",
            })?;
    let (header_line, header) = find_header(&lines, first_frame);
    let mut main = Pending::new(&header);
    for line in lines.get(header_line + 1..first_frame).unwrap_or_default() {
        main.more_lines.push(line.to_string());
    }
    let chain = read_chain(&lines, first_frame, main);
    let mut exceptions: Vec<Exception> = chain.into_iter().map(Pending::into_exception).collect();
    exceptions.reverse();
    Ok(Parsed {
        exceptions,
        threads: Vec::new(),
        platform: "java",
    })
}

/// The header of the first exception: the topmost line of the block above
/// the first frame that starts with a class name, else one whose class name
/// follows a log prefix, else the line right above the frame. Returns its
/// index and the header text (`Type: message`).
fn find_header(lines: &[&str], first_frame: usize) -> (usize, String) {
    let block_start = (0..first_frame)
        .rev()
        .take_while(|&index| lines.get(index).is_some_and(|l| !l.trim().is_empty()))
        .last()
        .unwrap_or(first_frame);
    let block = block_start..first_frame;
    let candidates = [&*HEADER, &*PREFIXED_HEADER];
    for pattern in candidates {
        for index in block.clone() {
            let line = lines.get(index).copied().unwrap_or_default();
            if let Some(header) = header_from(pattern, line) {
                return (index, header);
            }
        }
    }
    let above = first_frame.checked_sub(1);
    match above.and_then(|i| Some((i, lines.get(i)?))) {
        Some((index, line)) if block.contains(&index) => {
            let header = header_from(&BARE_HEADER, line).unwrap_or_default();
            (index, header)
        }
        _ => (first_frame.saturating_sub(1), String::new()),
    }
}

fn header_from(pattern: &Regex, line: &str) -> Option<String> {
    let captures = pattern.captures(line)?;
    let ty = captures.name("type")?.as_str();
    Some(match captures.name("message") {
        Some(message) => format!("{ty}: {}", message.as_str()),
        None => ty.to_string(),
    })
}

/// Reads frames, `... N more`, causes and suppressed blocks from the first
/// frame on, until a line that is none of these ends the trace.
fn read_chain(lines: &[&str], first_frame: usize, main: Pending) -> Vec<Pending> {
    let limits = EventLimits::default();
    let mut chain = vec![main];
    // Indent of the `Suppressed:` header whose block is being skipped.
    let mut skipping: Option<usize> = None;
    for line in lines.iter().skip(first_frame) {
        if line.trim().is_empty() {
            break;
        }
        let indent = trace::indent_width(line);
        if let Some(suppressed_indent) = skipping {
            let shallower = indent < suppressed_indent;
            if CAUSED_BY.is_match(line) && shallower {
                skipping = None;
            } else if SUPPRESSED.is_match(line) {
                skipping = Some(indent.min(suppressed_indent));
                continue;
            } else if is_trace_line(line) {
                continue;
            } else {
                break;
            }
        }
        if let Some(captures) = FRAME.captures(line) {
            let method = captures.name("method").map_or("", |m| m.as_str());
            let location = captures.name("location").map_or("", |m| m.as_str());
            if let Some(current) = chain.last_mut() {
                current.push(parse_frame(method, location), limits.max_frames);
                current.in_header = false;
            }
        } else if let Some(captures) = MORE.captures(line) {
            let count = captures
                .name("count")
                .and_then(|c| c.as_str().parse::<usize>().ok())
                .unwrap_or(0);
            if let Some((current, enclosing)) = chain.split_last_mut() {
                current.inherit(enclosing.last(), count, limits.max_frames);
                current.in_header = false;
            }
        } else if let Some(captures) = CAUSED_BY.captures(line) {
            if chain.len() >= limits.max_exceptions {
                // Sentry keeps the outermost exceptions; deeper causes go.
                break;
            }
            chain.push(Pending::new(
                captures.name("header").map_or("", |h| h.as_str()),
            ));
        } else if SUPPRESSED.is_match(line) {
            skipping = Some(indent);
        } else if line.trim() == COROUTINE_BOUNDARY {
            // kotlinx.coroutines marks where a coroutine resumed; frames go on.
        } else {
            match chain.last_mut() {
                Some(current) if current.in_header => current.more_lines.push(line.to_string()),
                _ => break,
            }
        }
    }
    chain
}

fn is_trace_line(line: &str) -> bool {
    FRAME.is_match(line)
        || MORE.is_match(line)
        || CAUSED_BY.is_match(line)
        || line.trim() == COROUTINE_BOUNDARY
}

/// `java.base/pkg.Class.method` and `File.java:12` → a frame.
fn parse_frame(method: &str, location: &str) -> Frame {
    let method = strip_loader_prefix(method);
    let (module, function) = match method.rsplit_once('.') {
        Some((module, function)) if !module.is_empty() => (Some(module), function),
        _ => (None, method),
    };
    let (filename, lineno) = parse_location(location);
    Frame {
        in_app: Some(module.is_none_or(is_app_class)),
        module: module.map(str::to_string),
        function: Some(function.to_string()).filter(|f| !f.is_empty()),
        filename,
        lineno,
        ..Frame::default()
    }
}

/// Drops the JPMS module or class loader (`java.base/`, `app//`,
/// `java.base@17.0.2/`). A lambda class (`Foo$$Lambda$12/0x…`) has a slash
/// of its own, which stays.
fn strip_loader_prefix(method: &str) -> &str {
    match method.split_once('/') {
        Some((prefix, rest)) if !prefix.contains('$') && !rest.starts_with("0x") => {
            rest.trim_start_matches('/')
        }
        _ => method,
    }
}

/// `Foo.java:12`, `Foo.java`, `Native Method`, `Unknown Source`.
fn parse_location(location: &str) -> (Option<String>, Option<u64>) {
    let location = location.trim();
    let (file, lineno) = match location.rsplit_once(':') {
        Some((file, line)) if line.bytes().all(|b| b.is_ascii_digit()) => {
            (file, trace::line_number(line))
        }
        _ => (location, None),
    };
    let known = !matches!(file, "" | "Native Method" | "Unknown Source");
    (known.then(|| file.to_string()), lineno)
}

fn is_app_class(module: &str) -> bool {
    !LIBRARY_PACKAGES
        .iter()
        .any(|package| module.starts_with(package))
}

/// Prints the chain as the JDK does: outermost first, causes after, frames
/// shared with the enclosing trace folded into `... N more`.
pub(super) fn format(exceptions: &[Exception]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut enclosing: Vec<&Frame> = Vec::new();
    for (index, exception) in exceptions.iter().rev().enumerate() {
        let header = header_text(exception);
        out.push(if index == 0 {
            header
        } else {
            format!("Caused by: {header}")
        });
        let frames: Vec<&Frame> = trace::log_order(exception).collect();
        let common = if index == 0 {
            0
        } else {
            frames_in_common(&frames, &enclosing)
        };
        let own = frames.len() - common;
        for frame in frames.iter().take(own) {
            out.push(format!("\tat {}", frame_text(frame)));
        }
        if common > 0 {
            out.push(format!("\t... {common} more"));
        }
        enclosing = frames;
    }
    out.join("\n")
}

fn header_text(exception: &Exception) -> String {
    let ty = qualified_type(exception, "java.lang.Exception");
    match non_blank(exception.value.as_deref()) {
        Some(value) => format!("{ty}: {value}"),
        None => ty,
    }
}

/// Like the JDK: count equal frames from the outermost end.
fn frames_in_common(frames: &[&Frame], enclosing: &[&Frame]) -> usize {
    frames
        .iter()
        .rev()
        .zip(enclosing.iter().rev())
        .take_while(|(a, b)| same_location(a, b))
        .count()
}

fn same_location(a: &Frame, b: &Frame) -> bool {
    a.module == b.module
        && a.function == b.function
        && a.filename == b.filename
        && a.lineno == b.lineno
}

fn frame_text(frame: &Frame) -> String {
    let function = non_blank(frame.function.as_deref()).unwrap_or("<unknown>");
    let method = match non_blank(frame.module.as_deref()) {
        Some(module) => format!("{module}.{function}"),
        None => function.to_string(),
    };
    let location = match (non_blank(frame.filename.as_deref()), frame.lineno) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.to_string(),
        (None, Some(line)) => format!("Unknown Source:{line}"),
        (None, None) => "Unknown Source".to_string(),
    };
    format!("{method}({location})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_prefixes_are_dropped_but_lambda_slashes_stay() {
        assert_eq!(
            strip_loader_prefix("java.base/java.lang.Thread.run"),
            "java.lang.Thread.run"
        );
        assert_eq!(
            strip_loader_prefix("app//com.example.App.main"),
            "com.example.App.main"
        );
        assert_eq!(
            strip_loader_prefix("com.example.App$$Lambda$14/0x0000000800c02a00.run"),
            "com.example.App$$Lambda$14/0x0000000800c02a00.run"
        );
    }

    #[test]
    fn coroutine_boundaries_do_not_end_the_trace() {
        let text = "java.lang.IllegalStateException: x\n\tat com.example.A.f(A.kt:1)\n\t(Coroutine boundary)\n\tat com.example.B.g(B.kt:2)\n";
        let parsed = parse(text).expect("parses");
        let frames = parsed.exceptions[0]
            .stacktrace
            .as_ref()
            .map_or(0, |s| s.frames.len());
        assert_eq!(frames, 2);
    }

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("Foo.java:12"),
            (Some("Foo.java".into()), Some(12))
        );
        assert_eq!(parse_location("Native Method"), (None, None));
        assert_eq!(parse_location("Unknown Source"), (None, None));
        assert_eq!(parse_location("Foo.kt"), (Some("Foo.kt".into()), None));
    }
}
