//! Plain-text stack traces, as they appear in logs, turned into Sentry events.
//!
//! [`import_trace`] reads one trace (with its chain of causes) in one of the
//! formats of [`TraceFormat`] and builds an [`Event`] whose exceptions,
//! frames and `in_app` flags look like what the platform's Sentry SDK sends,
//! so an imported trace fingerprints like the same error reported live.
//! [`format_trace`] is the inverse: it prints an event's exceptions the way
//! the runtime would have logged them.
//!
//! Order conventions (those of `crate::event`): `exception.values` lists the
//! innermost cause first and the outermost exception last; a stacktrace lists
//! the outermost caller first and the crashing frame last. Logs mostly print
//! the other way round, and each format's module reverses what it must.
//!
//! Dotted exception types are split the way the SDKs do: Java's
//! `java.lang.IllegalStateException` becomes type `IllegalStateException`
//! with module `java.lang`, and likewise for Python and .NET.
//!
//! Input is bounded: text over [`MAX_INPUT_BYTES`] is refused, and the parsed
//! event goes through [`apply_limits`] with the default [`EventLimits`], so
//! frames, exceptions, threads and strings are capped like any ingested event.

mod csharp;
mod detect;
mod gdb;
mod go;
mod java;
mod javascript;
mod python;
mod ruby;
mod trace;

use crate::event::{
    Event, EventLimits, Exception, Exceptions, Family, Thread, Threads, apply_limits,
};
use std::fmt;
use std::str::FromStr;

/// Largest accepted trace text, in bytes (the event body limit).
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// The log format of a stack trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceFormat {
    /// Detected from the text; see `detect.rs` for the rules.
    Auto,
    /// `Throwable.printStackTrace` (Java, Kotlin, Scala, …).
    Java,
    /// CPython's traceback, with chained exceptions.
    Python,
    /// V8/Node (`    at fn (file:1:2)`) and Firefox/Safari (`fn@file:1:2`).
    JavaScript,
    /// A Go panic with its goroutine dump.
    Go,
    /// Ruby's uncaught-exception report, or a Rails-style backtrace.
    Ruby,
    /// .NET's `Exception.ToString()`.
    CSharp,
    /// gdb's `backtrace` (native code).
    Gdb,
}

impl TraceFormat {
    /// Every format except [`TraceFormat::Auto`], in detection tie-break order.
    pub const CONCRETE: [TraceFormat; 7] = [
        TraceFormat::Python,
        TraceFormat::Java,
        TraceFormat::CSharp,
        TraceFormat::JavaScript,
        TraceFormat::Go,
        TraceFormat::Ruby,
        TraceFormat::Gdb,
    ];

    /// The name `FromStr` accepts and `Display` prints.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Auto => "auto",
            TraceFormat::Java => "java",
            TraceFormat::Python => "python",
            TraceFormat::JavaScript => "javascript",
            TraceFormat::Go => "go",
            TraceFormat::Ruby => "ruby",
            TraceFormat::CSharp => "csharp",
            TraceFormat::Gdb => "gdb",
        }
    }

    /// The format a Sentry platform's traces are logged in: `java`,
    /// `python`, `javascript`/`node`, `go`, `ruby`, `csharp`, and the native
    /// platforms (`native`, `c`, `cpp`, …) as gdb. Platforms of one family
    /// share a format (`kotlin` → Java). `None` for PHP and unknown platforms.
    pub fn from_platform(platform: &str) -> Option<TraceFormat> {
        match Family::from_platform(Some(platform.trim())) {
            Family::Java => Some(TraceFormat::Java),
            Family::Python => Some(TraceFormat::Python),
            Family::JavaScript => Some(TraceFormat::JavaScript),
            Family::Go => Some(TraceFormat::Go),
            Family::Ruby => Some(TraceFormat::Ruby),
            Family::CSharp => Some(TraceFormat::CSharp),
            Family::Native => Some(TraceFormat::Gdb),
            Family::Php | Family::Other => None,
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TraceFormat {
    type Err = ImportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(TraceFormat::Auto),
            "java" => Ok(TraceFormat::Java),
            "python" => Ok(TraceFormat::Python),
            "javascript" | "js" | "node" => Ok(TraceFormat::JavaScript),
            "go" => Ok(TraceFormat::Go),
            "ruby" => Ok(TraceFormat::Ruby),
            "csharp" | "dotnet" => Ok(TraceFormat::CSharp),
            "gdb" | "native" => Ok(TraceFormat::Gdb),
            _ => Err(ImportError::UnknownFormat(s.to_string())),
        }
    }
}

/// Why a trace could not be imported or formatted. Every variant names the
/// problem; parse errors name the line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("trace text is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("trace text is empty")]
    Empty,
    #[error(
        "unknown trace format `{0}`; expected one of auto, java, python, javascript (js, node), go, ruby, csharp (dotnet), gdb (native)"
    )]
    UnknownFormat(String),
    #[error(
        "no stack trace recognized: the text has no Java, Python, JavaScript, Go, Ruby, .NET or gdb trace lines"
    )]
    NotRecognized,
    #[error("no {format} stack trace found: expected {expected}")]
    NoTrace {
        format: TraceFormat,
        expected: &'static str,
    },
    #[error("{format} trace, line {line}: {message}")]
    Malformed {
        format: TraceFormat,
        line: usize,
        message: String,
    },
    #[error("the event has no exceptions to format")]
    NoExceptions,
    #[error("no trace format for platform `{0}`; name a format instead of `auto`")]
    NoFormatForPlatform(String),
}

/// What a format's parser found.
#[derive(Debug, Default)]
struct Parsed {
    /// Innermost cause first, outermost last.
    exceptions: Vec<Exception>,
    /// Other threads or goroutines of a dump, when the format has them.
    threads: Vec<Thread>,
    /// The Sentry platform of the event.
    platform: &'static str,
}

/// Reads a plain-text stack trace into an event.
///
/// Sets `platform`, the exceptions (with their stacktraces and `in_app`
/// flags) and, for thread dumps, the other threads. The result is bounded by
/// the default [`EventLimits`]. Never panics.
pub fn import_trace(text: &str, format: TraceFormat) -> Result<Event, ImportError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(ImportError::TooLarge {
            size: text.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    let parsed = match format {
        TraceFormat::Auto => parse_detected(text)?,
        format => parse_as(text, format)?,
    };
    Ok(build_event(parsed))
}

/// Tries the detected formats, best first; the best one's error wins.
fn parse_detected(text: &str) -> Result<Parsed, ImportError> {
    let mut first_error = None;
    for format in detect::ranked_formats(text) {
        match parse_as(text, format) {
            Ok(parsed) => return Ok(parsed),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or(ImportError::NotRecognized))
}

fn parse_as(text: &str, format: TraceFormat) -> Result<Parsed, ImportError> {
    match format {
        TraceFormat::Auto => parse_detected(text),
        TraceFormat::Java => java::parse(text),
        TraceFormat::Python => python::parse(text),
        TraceFormat::JavaScript => javascript::parse(text),
        TraceFormat::Go => go::parse(text),
        TraceFormat::Ruby => ruby::parse(text),
        TraceFormat::CSharp => csharp::parse(text),
        TraceFormat::Gdb => gdb::parse(text),
    }
}

fn build_event(parsed: Parsed) -> Event {
    let mut event = Event {
        platform: Some(parsed.platform.to_string()),
        exception: Some(Exceptions::Values {
            values: parsed.exceptions,
        }),
        threads: (!parsed.threads.is_empty()).then_some(Threads::Values {
            values: parsed.threads,
        }),
        ..Event::default()
    };
    apply_limits(&mut event, &EventLimits::default());
    event
}

/// Prints an event's exceptions as `format` would have logged them.
///
/// [`TraceFormat::Auto`] picks the format from the event's platform. The
/// text is what [`import_trace`] reads back: frames keep their function,
/// module, filename and line number.
pub fn format_trace(event: &Event, format: TraceFormat) -> Result<String, ImportError> {
    let format = match format {
        TraceFormat::Auto => {
            let platform = event.platform.as_deref().unwrap_or_default();
            TraceFormat::from_platform(platform)
                .ok_or_else(|| ImportError::NoFormatForPlatform(platform.to_string()))?
        }
        format => format,
    };
    let exceptions = event.exceptions();
    if exceptions.is_empty() {
        return Err(ImportError::NoExceptions);
    }
    Ok(match format {
        TraceFormat::Auto | TraceFormat::Java => java::format(exceptions),
        TraceFormat::Python => python::format(exceptions),
        TraceFormat::JavaScript => javascript::format(exceptions),
        TraceFormat::Go => go::format(exceptions),
        TraceFormat::Ruby => ruby::format(exceptions),
        TraceFormat::CSharp => csharp::format(exceptions),
        TraceFormat::Gdb => gdb::format(exceptions),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_parse_and_print() {
        for (name, format) in [
            ("auto", TraceFormat::Auto),
            ("Java", TraceFormat::Java),
            ("js", TraceFormat::JavaScript),
            ("node", TraceFormat::JavaScript),
            ("dotnet", TraceFormat::CSharp),
            ("native", TraceFormat::Gdb),
        ] {
            assert_eq!(name.parse::<TraceFormat>(), Ok(format), "{name}");
        }
        for format in TraceFormat::CONCRETE {
            assert_eq!(format.to_string().parse::<TraceFormat>(), Ok(format));
        }
        let error = "cobol".parse::<TraceFormat>().err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("`cobol`")));
    }

    #[test]
    fn platforms_map_to_formats() {
        assert_eq!(
            TraceFormat::from_platform("node"),
            Some(TraceFormat::JavaScript)
        );
        assert_eq!(TraceFormat::from_platform("cpp"), Some(TraceFormat::Gdb));
        assert_eq!(
            TraceFormat::from_platform("kotlin"),
            Some(TraceFormat::Java)
        );
        assert_eq!(TraceFormat::from_platform("php"), None);
    }

    #[test]
    fn empty_and_oversized_input_is_refused() {
        assert_eq!(
            import_trace(" \n\t", TraceFormat::Auto),
            Err(ImportError::Empty)
        );
        let big = "x".repeat(MAX_INPUT_BYTES + 1);
        assert!(matches!(
            import_trace(&big, TraceFormat::Java),
            Err(ImportError::TooLarge { .. })
        ));
        assert_eq!(
            import_trace("hello world", TraceFormat::Auto),
            Err(ImportError::NotRecognized)
        );
    }

    #[test]
    fn format_needs_exceptions_and_a_known_platform() {
        let event = Event {
            platform: Some("php".into()),
            ..Event::default()
        };
        assert_eq!(
            format_trace(&event, TraceFormat::Auto),
            Err(ImportError::NoFormatForPlatform("php".into()))
        );
        assert_eq!(
            format_trace(&event, TraceFormat::Java),
            Err(ImportError::NoExceptions)
        );
    }
}
