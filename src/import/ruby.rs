//! Ruby's report of an uncaught exception, and Rails-style backtraces.
//!
//! ```text
//! /app/app/models/user.rb:12:in `full_name': undefined method `upcase' for nil (NoMethodError)
//!     from /app/app/controllers/users_controller.rb:5:in `show'
//!     from /usr/local/bundle/gems/actionpack-7.1.3/lib/abstract_controller/base.rb:224:in `process_action'
//! ```
//!
//! ```text
//! NoMethodError (undefined method `upcase' for nil):
//!   app/models/user.rb:12:in 'User#full_name'
//!   app/controllers/users_controller.rb:5:in 'UsersController#show'
//! ```
//!
//! The first line of Ruby's own report is also the crashing frame. A cause
//! is reported after its effect, as a second report, so the chain is
//! reversed. Ruby 3.4 labels (`'User#full_name'`) are split into module
//! `User` and function `full_name`.

use super::trace::{self, non_blank};
use super::{ImportError, Parsed, TraceFormat};
use crate::event::{Exception, Frame, Mechanism};
use regex::Regex;
use std::sync::LazyLock;

/// `path:12:in 'label': message (Class)` — Ruby's report.
static REPORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?P<path>\S.*?):(?P<line>\d+):in [`'](?P<label>[^`']*)': (?P<rest>.*)$")
        .expect("ruby report pattern is valid")
});

/// `message (Class)` at the end of a report line.
static MESSAGE_AND_CLASS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<message>.*?) ?\((?P<class>[A-Z][\w:]*)\)$")
        .expect("ruby class pattern is valid")
});

/// `Class (message):` — Rails' log header.
static RAILS_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?P<class>[A-Z][\w:]*) \((?P<message>.*)\):?\s*$")
        .expect("rails header pattern is valid")
});

/// `[from ]path:12[:in 'label']`; without `from`, the label is required.
static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?P<from>from\s+)?(?P<path><[^>]*>|[A-Za-z]:[^:\s]*|[^\s:][^:\s]*):(?P<line>\d+)(?::in [`'](?P<label>[^`']*)')?\s*$",
    )
    .expect("ruby frame pattern is valid")
});

/// `Foo::Bar#baz`, `block (2 levels) in Foo.baz`.
static QUALIFIED_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<prefix>(?:(?:block (?:\(\d+ levels\) )?|rescue |ensure )in )?)(?P<module>[A-Z][\w:]*)[#.](?P<method>[^#.\s].*)$",
    )
    .expect("ruby label pattern is valid")
});

/// Gems, the standard library and the interpreter are not the app.
const LIBRARY_PATHS: &[&str] = &[
    "/gems/",
    "/rubygems/",
    "/lib/ruby/",
    "/vendor/bundle/",
    "/bundler/",
    "<internal:",
];

struct Pending {
    class: Option<String>,
    message: Option<String>,
    more_lines: Vec<String>,
    /// Log order (crashing frame first).
    frames: Vec<Frame>,
}

impl Pending {
    fn into_exception(self, is_cause: bool) -> Exception {
        let more: Vec<&str> = self.more_lines.iter().map(String::as_str).collect();
        let mut frames = self.frames;
        frames.reverse();
        let mut exception = trace::exception(
            self.class,
            None,
            trace::message(self.message.as_deref(), &more),
            frames,
        );
        if is_cause {
            // As sentry-ruby marks the causes it reports.
            exception.mechanism = Some(Mechanism {
                ty: Some("chained".to_string()),
                ..Mechanism::default()
            });
        }
        exception
    }
}

pub(super) fn parse(text: &str) -> Result<Parsed, ImportError> {
    let lines = trace::lines(text);
    let start = lines
        .iter()
        .position(|line| starts_exception(line) || frame_captures(line).is_some())
        .ok_or(ImportError::NoTrace {
            format: TraceFormat::Ruby,
            expected: "a line like `app/models/user.rb:12:in 'full_name'`",
        })?;
    let chain = read_chain(lines.get(start..).unwrap_or_default());
    let mut exceptions: Vec<Exception> = chain
        .into_iter()
        .enumerate()
        .map(|(index, pending)| pending.into_exception(index > 0))
        .collect();
    exceptions.reverse();
    Ok(Parsed {
        exceptions,
        threads: Vec::new(),
        platform: "ruby",
    })
}

fn frame_captures(line: &str) -> Option<regex::Captures<'_>> {
    FRAME
        .captures(line)
        .filter(|c| c.name("from").is_some() || c.name("label").is_some())
}

fn starts_exception(line: &str) -> bool {
    report_header(line).is_some() || RAILS_HEADER.is_match(line)
}

/// A report line: its crashing frame, class and first message line.
fn report_header(line: &str) -> Option<(Frame, Option<String>, Option<String>)> {
    let captures = REPORT.captures(line)?;
    let rest = captures.name("rest")?.as_str();
    let (message, class) = match MESSAGE_AND_CLASS.captures(rest) {
        Some(c) => (
            c.name("message").map(|m| m.as_str().to_string()),
            c.name("class").map(|m| m.as_str().to_string()),
        ),
        // An empty message reads `unhandled exception`, without a class.
        None => (Some(rest.to_string()), None),
    };
    let frame = make_frame(
        captures.name("path")?.as_str(),
        captures.name("line").map(|m| m.as_str()),
        captures.name("label").map(|m| m.as_str()),
    );
    Some((frame, class, message))
}

fn read_chain(lines: &[&str]) -> Vec<Pending> {
    let mut chain: Vec<Pending> = Vec::new();
    for line in lines {
        if let Some((frame, class, message)) = report_header(line) {
            chain.push(Pending {
                class,
                message,
                more_lines: Vec::new(),
                frames: vec![frame],
            });
        } else if let Some(captures) = RAILS_HEADER.captures(line) {
            chain.push(Pending {
                class: captures.name("class").map(|m| m.as_str().to_string()),
                message: captures.name("message").map(|m| m.as_str().to_string()),
                more_lines: Vec::new(),
                frames: Vec::new(),
            });
        } else if let Some(captures) = frame_captures(line) {
            let frame = make_frame(
                captures.name("path").map_or("", |m| m.as_str()),
                captures.name("line").map(|m| m.as_str()),
                captures.name("label").map(|m| m.as_str()),
            );
            match chain.last_mut() {
                Some(current) => current.frames.push(frame),
                None => chain.push(Pending {
                    class: None,
                    message: None,
                    more_lines: Vec::new(),
                    frames: vec![frame],
                }),
            }
        } else {
            // Only a report's own message goes on over lines; the frames
            // after it start with `from`.
            match chain.last_mut() {
                Some(current)
                    if current.frames.len() <= 1
                        && current.class.is_some()
                        && !line.trim().is_empty() =>
                {
                    current.more_lines.push(line.to_string());
                }
                _ => break,
            }
        }
    }
    chain
}

fn make_frame(path: &str, line: Option<&str>, label: Option<&str>) -> Frame {
    let (module, function) = match label.and_then(|l| QUALIFIED_LABEL.captures(l)) {
        Some(c) => (
            c.name("module").map(|m| m.as_str().to_string()),
            Some(format!(
                "{}{}",
                c.name("prefix").map_or("", |m| m.as_str()),
                c.name("method").map_or("", |m| m.as_str())
            )),
        ),
        None => (None, label.map(str::to_string)),
    };
    Frame {
        filename: Some(path.to_string()),
        abs_path: Some(path.to_string()),
        module,
        function: function.filter(|f| !f.is_empty()),
        lineno: line.and_then(trace::line_number),
        in_app: Some(is_app_path(path)),
        ..Frame::default()
    }
}

fn is_app_path(path: &str) -> bool {
    let path = path.replace('\\', "/");
    !LIBRARY_PATHS.iter().any(|library| path.contains(library))
}

/// Prints Ruby's report: outermost first, each cause as its own report.
pub(super) fn format(exceptions: &[Exception]) -> String {
    let mut out: Vec<String> = Vec::new();
    for exception in exceptions.iter().rev() {
        let class = non_blank(exception.ty.as_deref()).unwrap_or("RuntimeError");
        let value = non_blank(exception.value.as_deref()).unwrap_or("unhandled exception");
        let mut frames = trace::log_order(exception);
        match frames.next() {
            Some(crash) => {
                out.push(format!(
                    "{}: {} ({class})",
                    location_text(crash),
                    trace::first_line(value)
                ));
                trace::push_message_lines(&mut out, value, "");
                for frame in frames {
                    out.push(format!("\tfrom {}", location_text(frame)));
                }
            }
            None => {
                out.push(format!("{class} ({}):", trace::first_line(value)));
                trace::push_message_lines(&mut out, value, "");
            }
        }
    }
    out.join("\n")
}

fn location_text(frame: &Frame) -> String {
    let path = non_blank(frame.abs_path.as_deref())
        .or(non_blank(frame.filename.as_deref()))
        .unwrap_or("(unknown)");
    let line = frame.lineno.unwrap_or(0);
    let function = non_blank(frame.function.as_deref());
    match (non_blank(frame.module.as_deref()), function) {
        (Some(module), Some(function)) => format!("{path}:{line}:in '{module}#{function}'"),
        (None, Some(function)) => format!("{path}:{line}:in `{function}'"),
        (_, None) => format!("{path}:{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_into_module_and_function() {
        let frame = make_frame("app/models/user.rb", Some("12"), Some("User#full_name"));
        assert_eq!(frame.module.as_deref(), Some("User"));
        assert_eq!(frame.function.as_deref(), Some("full_name"));
        let block = make_frame(
            "a.rb",
            Some("1"),
            Some("block (2 levels) in Billing::Job.run"),
        );
        assert_eq!(block.module.as_deref(), Some("Billing::Job"));
        assert_eq!(block.function.as_deref(), Some("block (2 levels) in run"));
        let plain = make_frame("a.rb", Some("1"), Some("<main>"));
        assert_eq!(
            (plain.module, plain.function.as_deref()),
            (None, Some("<main>"))
        );
    }

    #[test]
    fn gems_are_not_in_app() {
        assert!(!is_app_path(
            "/usr/local/bundle/gems/sidekiq-7.2.0/lib/sidekiq/processor.rb"
        ));
        assert!(!is_app_path("/usr/local/lib/ruby/3.3.0/net/http.rb"));
        assert!(!is_app_path("<internal:kernel>"));
        assert!(is_app_path("/rails/app/jobs/invoice_delivery_job.rb"));
    }
}
