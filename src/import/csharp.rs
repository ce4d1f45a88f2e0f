//! .NET exceptions as `Exception.ToString()` writes them.
//!
//! ```text
//! System.InvalidOperationException: Could not place order 42
//!  ---> System.ArgumentNullException: Value cannot be null. (Parameter 'key')
//!    at System.Collections.Generic.Dictionary`2.FindValue(TKey key)
//!    at MyShop.Pricing.PriceCache.Get(String key) in /src/MyShop/Pricing/PriceCache.cs:line 21
//!    --- End of inner exception stack trace ---
//!    at MyShop.Services.OrderService.PlaceOrder(Int32 id) in /src/MyShop/Services/OrderService.cs:line 87
//! ```
//!
//! Headers come first, outermost to innermost (` ---> ` starts an inner
//! exception, on its own line in .NET Core and inline in .NET Framework).
//! Then the frame groups, innermost exception's first, each closed by
//! `--- End of inner exception stack trace ---`. Within a group the
//! crashing frame is first, so frames are reversed.

use super::trace::{self, non_blank, qualified_type, split_trailing_parens};
use super::{ImportError, Parsed, TraceFormat};
use crate::event::{Exception, Frame};
use regex::Regex;
use std::sync::LazyLock;

static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*at (?P<method>.+?)(?: in (?P<file>.+):line (?P<line>\d+))?\s*$")
        .expect("csharp frame pattern is valid")
});

/// A header on a line of its own, after .NET's "Unhandled exception." if any.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?:Unhandled [Ee]xception[.:]\s*)?(?P<type>(?:[A-Za-z_][\w`]*\.)+[A-Za-z_][\w`]*)(?::\s?(?P<message>.*))?$",
    )
    .expect("csharp header pattern is valid")
});

/// An exception type after a log prefix.
static PREFIXED_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[\s:\]])(?P<type>(?:[A-Za-z_]\w*\.)+[A-Z]\w*Exception)(?::\s?(?P<message>.*))?$",
    )
    .expect("csharp prefixed header pattern is valid")
});

const INNER_MARKER: &str = "---> ";
const END_OF_INNER: &str = "--- End of inner exception stack trace ---";
const END_OF_PREVIOUS: &str = "--- End of stack trace from previous location";

/// Namespaces of the runtime, frameworks and common libraries.
const LIBRARY_NAMESPACES: &[&str] = &[
    "System.",
    "Microsoft.",
    "Windows.",
    "Mono.",
    "MS.",
    "Newtonsoft.",
    "Npgsql.",
    "NUnit.",
    "Xunit.",
    "Castle.",
    "Autofac.",
    "Serilog.",
    "Polly.",
    "Grpc.",
    "Google.",
    "Amazon.",
    "Azure.",
    "StackExchange.",
    "Dapper.",
    "MediatR.",
    "FluentValidation.",
    "UnityEngine.",
    "UnityEditor.",
    "Unity.",
    "Sentry.",
    "NLog.",
    "log4net.",
    "MySql.",
    "Oracle.",
    "Hangfire.",
    "MassTransit.",
    "RabbitMQ.",
    "Confluent.",
    "AutoMapper.",
];

struct Header {
    ty: Option<String>,
    module: Option<String>,
    message: Option<String>,
    more_lines: Vec<String>,
}

impl Header {
    fn parse(text: &str) -> Header {
        let text = text.trim();
        let text = strip_inner_number(text);
        let (ty, message) = match text.split_once(':') {
            Some((ty, message)) => (ty.trim(), Some(message.trim().to_string())),
            None => (text, None),
        };
        let (module, ty) = trace::split_qualified(ty);
        Header {
            ty: Some(ty).filter(|t| !t.is_empty()),
            module,
            message,
            more_lines: Vec::new(),
        }
    }

    fn into_exception(self, frames: Vec<Frame>) -> Exception {
        let more: Vec<&str> = self.more_lines.iter().map(String::as_str).collect();
        trace::exception(
            self.ty,
            self.module,
            trace::message(self.message.as_deref(), &more),
            frames,
        )
    }
}

/// AggregateException lists its inner exceptions as `(Inner Exception #1) …`.
fn strip_inner_number(text: &str) -> &str {
    match text.strip_prefix("(Inner Exception #") {
        Some(rest) => rest.split_once(") ").map_or(rest, |(_, header)| header),
        None => text,
    }
}

/// The headers on one line: `A: outer ---> B: inner` (.NET Framework).
fn headers_on_line(line: &str) -> Vec<Header> {
    line.trim()
        .trim_start_matches(INNER_MARKER)
        .split(" ---> ")
        .map(Header::parse)
        .collect()
}

pub(super) fn parse(text: &str) -> Result<Parsed, ImportError> {
    let lines = trace::lines(text);
    let first_frame = lines
        .iter()
        .position(|line| frame_from(line).is_some())
        .ok_or(ImportError::NoTrace {
            format: TraceFormat::CSharp,
            expected: "a frame line like `   at MyApp.Program.Main(String[] args) in /src/Program.cs:line 12`",
        })?;
    let headers = read_headers(&lines, first_frame);
    let groups = read_frame_groups(lines.get(first_frame..).unwrap_or_default());
    Ok(Parsed {
        exceptions: assign_groups(headers, groups),
        threads: Vec::new(),
        platform: "csharp",
    })
}

/// The headers above the first frame, outermost first.
fn read_headers(lines: &[&str], first_frame: usize) -> Vec<Header> {
    let block_start = (0..first_frame)
        .rev()
        .take_while(|&index| lines.get(index).is_some_and(|l| !l.trim().is_empty()))
        .last()
        .unwrap_or(first_frame);
    let block = lines.get(block_start..first_frame).unwrap_or_default();
    let is_inner = |line: &str| line.trim_start().starts_with(INNER_MARKER);
    let start = block
        .iter()
        .position(|line| !is_inner(line) && HEADER.is_match(line))
        .or_else(|| block.iter().position(|line| PREFIXED_HEADER.is_match(line)));
    let Some(start) = start else {
        return Vec::new();
    };
    let mut headers: Vec<Header> = Vec::new();
    for (offset, line) in block.iter().enumerate().skip(start) {
        if offset == start {
            headers.extend(headers_on_line(first_header_text(line)));
        } else if is_inner(line) {
            headers.extend(headers_on_line(line));
        } else if let Some(last) = headers.last_mut() {
            last.more_lines.push(line.to_string());
        }
    }
    headers
}

/// The header text of the first line: after "Unhandled exception." or a
/// log prefix.
fn first_header_text(line: &str) -> &str {
    let captures = HEADER
        .captures(line)
        .or_else(|| PREFIXED_HEADER.captures(line));
    match captures.and_then(|c| c.name("type")) {
        Some(ty) => line.get(ty.start()..).unwrap_or(line),
        None => line,
    }
}

/// Frame groups in print order (innermost exception's first), each in
/// log order.
fn read_frame_groups(lines: &[&str]) -> Vec<Vec<Frame>> {
    let mut groups: Vec<Vec<Frame>> = vec![Vec::new()];
    for line in lines {
        let trimmed = line.trim();
        if let Some(frame) = frame_from(line) {
            if let Some(group) = groups.last_mut() {
                group.push(frame);
            }
        } else if trimmed.starts_with(END_OF_INNER) {
            groups.push(Vec::new());
        } else if !trimmed.starts_with(END_OF_PREVIOUS) {
            break;
        }
    }
    groups
}

/// Group `k` belongs to the `k`-th innermost header; groups beyond the
/// headers are the outermost exception's. Returns innermost first.
fn assign_groups(headers: Vec<Header>, groups: Vec<Vec<Frame>>) -> Vec<Exception> {
    let mut headers = headers;
    if headers.is_empty() {
        headers.push(Header::parse(""));
    }
    let count = headers.len();
    let mut frames_of: Vec<Vec<Frame>> = (0..count).map(|_| Vec::new()).collect();
    for (index, group) in groups.into_iter().enumerate() {
        let slot = index.min(count - 1);
        if let Some(frames) = frames_of.get_mut(slot) {
            frames.extend(group);
        }
    }
    headers
        .into_iter()
        .rev()
        .zip(frames_of)
        .map(|(header, mut frames)| {
            frames.reverse();
            header.into_exception(frames)
        })
        .collect()
}

fn frame_from(line: &str) -> Option<Frame> {
    let captures = FRAME.captures(line)?;
    let method = captures.name("method")?.as_str().trim();
    let (name, _arguments) = split_trailing_parens(method)?;
    if name.is_empty() || name.contains(' ') {
        return None;
    }
    let (module, function) = split_member(name);
    let file = captures.name("file").map(|m| m.as_str().trim().to_string());
    let in_app = module.is_none_or(is_app_namespace) && !function.starts_with("lambda_method");
    Some(Frame {
        module: module.map(str::to_string),
        function: Some(function.to_string()),
        abs_path: file.clone(),
        filename: file,
        lineno: captures
            .name("line")
            .and_then(|m| trace::line_number(m.as_str())),
        in_app: Some(in_app),
        ..Frame::default()
    })
}

/// `Ns.Type.Method` → (`Ns.Type`, `Method`), ignoring dots inside `<…>`
/// and `[…]`; constructors keep their dot (`Ns.Type..ctor`).
fn split_member(name: &str) -> (Option<&str>, &str) {
    let mut depth = 0usize;
    let mut last_dot = None;
    for (index, c) in name.char_indices() {
        match c {
            '<' | '[' => depth += 1,
            '>' | ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => last_dot = Some(index),
            _ => {}
        }
    }
    let Some(dot) = last_dot else {
        return (None, name);
    };
    let dot = match name.get(..dot) {
        Some(before) if before.ends_with('.') => dot - 1,
        _ => dot,
    };
    match (name.get(..dot), name.get(dot + 1..)) {
        (Some(module), Some(function)) if !module.is_empty() && !function.is_empty() => {
            (Some(module), function)
        }
        _ => (None, name),
    }
}

fn is_app_namespace(module: &str) -> bool {
    let library = LIBRARY_NAMESPACES.iter().any(|ns| module.starts_with(ns))
        || matches!(module, "System" | "Microsoft");
    !library
}

/// Prints `ToString()`'s layout: headers outermost first, then the frame
/// groups innermost first.
pub(super) fn format(exceptions: &[Exception]) -> String {
    let mut out: Vec<String> = Vec::new();
    for (index, exception) in exceptions.iter().rev().enumerate() {
        let ty = qualified_type(exception, "System.Exception");
        let marker = if index == 0 { "" } else { " ---> " };
        match non_blank(exception.value.as_deref()) {
            Some(value) => {
                out.push(format!("{marker}{ty}: {}", trace::first_line(value)));
                trace::push_message_lines(&mut out, value, "");
            }
            None => out.push(format!("{marker}{ty}")),
        }
    }
    for (index, exception) in exceptions.iter().enumerate() {
        if index > 0 {
            out.push(format!("   {END_OF_INNER}"));
        }
        for frame in trace::log_order(exception) {
            out.push(format!("   at {}", frame_text(frame)));
        }
    }
    out.join("\n")
}

fn frame_text(frame: &Frame) -> String {
    let function = non_blank(frame.function.as_deref()).unwrap_or("Unknown");
    let method = match non_blank(frame.module.as_deref()) {
        Some(module) => format!("{module}.{function}()"),
        None => format!("{function}()"),
    };
    let file = non_blank(frame.abs_path.as_deref()).or(non_blank(frame.filename.as_deref()));
    match (file, frame.lineno) {
        (Some(file), Some(line)) => format!("{method} in {file}:line {line}"),
        _ => method,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_split_outside_brackets() {
        assert_eq!(
            split_member("MyShop.Services.OrderService.PlaceOrderAsync"),
            (Some("MyShop.Services.OrderService"), "PlaceOrderAsync")
        );
        assert_eq!(
            split_member("System.Linq.Enumerable.First[TSource]"),
            (Some("System.Linq.Enumerable"), "First[TSource]")
        );
        assert_eq!(
            split_member("MyApp.Worker.<>c__DisplayClass2_0.<Run>b__0"),
            (Some("MyApp.Worker.<>c__DisplayClass2_0"), "<Run>b__0")
        );
        assert_eq!(
            split_member("MyApp.Foo..ctor"),
            (Some("MyApp.Foo"), ".ctor")
        );
        assert_eq!(split_member("lambda_method5"), (None, "lambda_method5"));
    }

    #[test]
    fn library_namespaces() {
        assert!(!is_app_namespace("System.Linq.Enumerable"));
        assert!(!is_app_namespace(
            "Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor"
        ));
        assert!(is_app_namespace("MyShop.Controllers.OrdersController"));
        assert!(is_app_namespace("SystemTools.Runner"));
    }
}
