//! Labeled datasets: the JSON Lines format and the synthetic generator.
//!
//! A dataset is a text file with one JSON object per line; each object is
//! one event and the issue it truly belongs to. Events are replayed in file
//! order unless they carry timestamps.
//!
//! ```text
//! {"project": 1, "label": "issue-7", "timestamp": "2024-01-02T03:04:05Z", "event": {"platform": "python", "exception": {...}}}
//! {"project": 1, "label": "issue-9", "stacktrace": "Traceback (most recent call last):\n  File ...", "platform": "python"}
//! ```
//!
//! | key | required | value |
//! |---|---|---|
//! | `project` | yes | non-negative integer: the project the event was sent to |
//! | `label` | yes | non-empty string: the true issue; issues are per project, so the same label in two projects names two issues |
//! | `timestamp` | no | RFC 3339 in UTC (`2024-01-02T03:04:05Z`, fractions allowed, `+00:00` accepted for `Z`, a space for `T` and a missing `Z` tolerated); `null` is the same as absent |
//! | `event` | one of `event` / `stacktrace` | a Sentry event object, as an SDK sends it |
//! | `stacktrace` | one of `event` / `stacktrace` | non-empty string: a stack trace as printed in a log |
//! | `platform` | no, only with `stacktrace` | string: the platform the text comes from (`java`, `python`, …); `null` is the same as absent |
//!
//! Rules:
//!
//! - A line with both `event` and `stacktrace`, or neither, is an error; so is
//!   `platform` beside `event` (the event carries its own platform).
//! - Unknown keys are errors, so a misspelt `timestamp` cannot silently fall
//!   back to file order.
//! - Blank lines (only whitespace) are skipped; `\r\n` endings and a UTF-8
//!   byte-order mark on the first line are accepted.
//! - Every error names the 1-based line number and the field.
//!
//! [`read_dataset`] streams the lines; an invalid line yields an error and
//! reading goes on with the next one, while a failure of the reader itself
//! ends the stream. [`write_line`] writes one line in the same format
//! (keys in the order of the table). The event is kept as JSON: turning it
//! into an [`crate::event::Event`], or a `stacktrace` into an event, is the
//! caller's job.
//!
//! [`synth`] generates labeled datasets of realistic events.

mod jsonl;
pub mod synth;

pub use jsonl::{DatasetLines, read_dataset, write_line};

use std::time::SystemTime;
use thiserror::Error;

/// One labeled event of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetLine {
    pub project: u64,
    /// The true issue (unique within the project).
    pub label: String,
    /// When the event happened; `None` keeps file order.
    pub timestamp: Option<SystemTime>,
    pub source: EventSource,
}

/// What a line holds: a Sentry event or a stack trace copied from a log.
#[derive(Debug, Clone, PartialEq)]
pub enum EventSource {
    /// A Sentry event as JSON (an object).
    Event(serde_json::Value),
    /// A stack trace as printed in a log, with the platform it came from.
    Stacktrace {
        text: String,
        platform: Option<String>,
    },
}

/// Why a dataset line could not be read or written.
#[derive(Debug, Error)]
pub enum DatasetError {
    #[error("line {line}: cannot read the dataset: {source}")]
    Read {
        line: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 { line: usize },
    #[error("line {line}: not valid JSON: {message}")]
    Json { line: usize, message: String },
    #[error("line {line}: not a JSON object")]
    NotAnObject { line: usize },
    #[error("line {line}: field `{field}`: {problem}")]
    Field {
        line: usize,
        field: String,
        problem: String,
    },
    #[error("line {line}: has both `event` and `stacktrace`; give exactly one")]
    BothSources { line: usize },
    #[error("line {line}: has neither `event` nor `stacktrace`; give exactly one")]
    NoSource { line: usize },
    #[error("cannot write a dataset line: field `{field}`: {problem}")]
    Unwritable {
        field: &'static str,
        problem: String,
    },
    #[error("cannot write a dataset line: {0}")]
    Write(#[from] std::io::Error),
}

impl DatasetError {
    /// The 1-based line number the error is about (reading errors only).
    pub fn line(&self) -> Option<usize> {
        match self {
            DatasetError::Read { line, .. }
            | DatasetError::NotUtf8 { line }
            | DatasetError::Json { line, .. }
            | DatasetError::NotAnObject { line }
            | DatasetError::Field { line, .. }
            | DatasetError::BothSources { line }
            | DatasetError::NoSource { line } => Some(*line),
            DatasetError::Unwritable { .. } | DatasetError::Write(_) => None,
        }
    }
}
