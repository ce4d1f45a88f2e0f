//! Stack trace rules and fingerprint rules: the per-project grouping
//! configuration, in a small line-based language.
//!
//! # Common syntax
//!
//! One rule per line. Blank lines are ignored; `#` starts a comment when it
//! begins a token (so `issue#42` inside a value is kept). Line and column
//! numbers in [`RuleError`] are 1-based and count characters, not bytes.
//!
//! A *matcher* is `[!]name:value`. The value is either bare (everything up
//! to the next whitespace) or double-quoted, where `\"` and `\\` are escapes
//! and any other backslash is kept literally (`"C:\src\*"` works). `!`
//! negates the matcher.
//!
//! Values of most matchers are *globs*: `*` matches any run of characters
//! and `?` one character; everything else is literal (no `[...]` classes).
//!
//! * `function`, `module`, `type`, `mechanism`, `category`, `logger`,
//!   `release`, `transaction`, `tags.NAME`: case-sensitive, `*` matches
//!   anything (including `.`, `::` and `/`).
//! * `value`, `message`, `level`, `sdk`: case-insensitive.
//! * `path` and `package`: *path globs*, case-insensitive, backslashes are
//!   normalized to `/`, `*`/`?` never cross a `/`, `**` does, and `**/`
//!   also matches nothing (so `**/node_modules/**` matches
//!   `node_modules/x.js`). A pattern without `/` is also tried against the
//!   basename (`path:*.js` matches `/app/src/main.js`).
//!
//! `family:` takes a comma-separated list of family names (see
//! [`Family::rule_name`]: `javascript`, `python`, `jvm` (alias `java`),
//! `ruby`, `php`, `csharp`, `go`, `native`, `other`) or `all`. `app:`
//! takes `yes`/`no`/`true`/`false`/`1`/`0`; a frame whose in-app state is
//! unknown counts as not in-app.
//!
//! # Stack trace rules ([`StackRules`])
//!
//! `matchers... actions...`, e.g. `family:native function:std::* -app` or
//! `stack.function:panic_handler ^-group -group`.
//!
//! * Frame matchers: `function` (`stack.function`; falls back to
//!   `raw_function`), `module` (`stack.module`), `path` (`stack.abs_path`;
//!   matches `abs_path` or `filename`), `package` (`stack.package`),
//!   `family`, `app`, `category` (set by an earlier `category=` action).
//! * Exception matchers, matched against the [`StackContext`]: `type`
//!   (`error.type`), `value` (`error.value`), `mechanism`
//!   (`error.mechanism`).
//! * Actions: `+app`, `-app`, `+group`, `-group`, optionally prefixed by `^`
//!   (the callees: frames after the matched one, towards the crash) or `v`
//!   (the callers: frames before it); `category=NAME`; `max-frames=N` and
//!   `min-frames=N`, which stand alone on their line.
//!
//! Rules run in order; each rule is matched against every frame (using the
//! state left by the previous rules), then its actions are applied, so later
//! rules override earlier ones.
//!
//! # Fingerprint rules ([`FingerprintRules`])
//!
//! `matchers... -> value[, value...] [title="..."]`, e.g.
//! `error.type:DatabaseUnavailable -> system-down`. Values are separated by
//! commas and/or whitespace, may be quoted, and may contain `{{ variable }}`
//! placeholders, which are kept verbatim for the fingerprinter to expand.
//! The first rule whose matchers all match wins.
//!
//! * Exception matchers `error.type`/`type` and `error.value`/`value` match
//!   when any exception of the chain matches (each matcher independently).
//! * `message` matches the event's message text or any exception value.
//! * `logger`, `level` (a missing level counts as `error`), `tags.NAME`,
//!   `sdk` (the SDK's name), `release`, `transaction` match event fields.
//! * `family` matches the event's platform family or any frame's.
//! * Frame matchers `stack.function`/`function`, `stack.module`/`module`,
//!   `stack.abs_path`/`path`, `stack.package`/`package` and `app` (the
//!   frame's own `in_app`) must all hold on one frame, of any exception,
//!   thread or the top-level stack trace; a negated frame matcher is
//!   negated on that frame (`!function:a module:b` = some frame in module
//!   `b` whose function is not `a`).
//! * A negated event matcher holds when its positive form does not
//!   (`!error.type:X`: no exception is of type `X`).

mod builtin;
mod fingerprint;
mod glob;
mod matchers;
mod stack;
mod syntax;

use crate::event::{Family, Frame};

pub use fingerprint::{FingerprintRule, FingerprintRules};
pub use stack::StackRules;

/// A malformed rule: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule syntax error at line {line}, column {column}: {message}")]
pub struct RuleError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    pub message: String,
}

impl RuleError {
    pub fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        RuleError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// What the exception matchers (`type`, `value`, `mechanism`) of stack
/// trace rules see.
#[derive(Debug, Clone, Default)]
pub struct StackContext<'a> {
    pub event_platform: Option<&'a str>,
    pub exception_type: Option<&'a str>,
    pub exception_value: Option<&'a str>,
    /// The exception's `mechanism.type`.
    pub mechanism: Option<&'a str>,
}

/// One frame of a stack trace while the stack trace rules run over it.
#[derive(Debug, Clone)]
pub struct FrameState<'a> {
    pub frame: &'a Frame,
    pub family: Family,
    /// `None`: not decided yet (counts as not in-app).
    pub in_app: Option<bool>,
    pub contributes: bool,
    /// Why the last rule that changed this frame did so.
    pub hint: Option<String>,
    /// Set by `category=` actions, read by `category:` matchers.
    pub category: Option<String>,
}

impl<'a> FrameState<'a> {
    /// The initial state: in-app as the SDK said, contributing, no hint.
    pub fn new(frame: &'a Frame, family: Family) -> Self {
        FrameState {
            frame,
            family,
            in_app: frame.in_app,
            contributes: true,
            hint: None,
            category: None,
        }
    }
}
