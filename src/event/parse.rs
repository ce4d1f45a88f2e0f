//! Reading an event from bytes under limits: size, nesting depth, frames,
//! exceptions and string lengths.

use super::model::{Event, Exception, Frame, Stacktrace};
use thiserror::Error;

/// Limits applied to every incoming event: the `[limits]` section of settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLimits {
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Deepest accepted JSON nesting (objects and arrays).
    pub max_depth: usize,
    /// Frames kept per stacktrace; the most recent ones are kept.
    pub max_frames: usize,
    /// Exceptions kept per event; the most recent ones are kept.
    pub max_exceptions: usize,
    /// Threads kept per event.
    pub max_threads: usize,
    /// Longer strings are truncated (on a character boundary), never rejected.
    pub max_string_bytes: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            max_body_bytes: 1024 * 1024,
            max_depth: 64,
            max_frames: 250,
            max_exceptions: 64,
            max_threads: 256,
            max_string_bytes: 8192,
        }
    }
}

/// Why an event was rejected. Every variant names the problem.
#[derive(Debug, Error, PartialEq)]
pub enum EventError {
    #[error("event body is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("event JSON nests deeper than the limit of {limit} levels")]
    TooDeep { limit: usize },
    #[error("event body is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("event body is not a JSON object")]
    NotAnObject,
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("invalid value at `{path}`: {message}")]
    InvalidField { path: String, message: String },
}

/// Parses and bounds an event.
pub fn parse_event(bytes: &[u8], limits: &EventLimits) -> Result<Event, EventError> {
    if bytes.len() > limits.max_body_bytes {
        return Err(EventError::TooLarge {
            size: bytes.len(),
            limit: limits.max_body_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| EventError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    check_depth(text, limits.max_depth)?;
    let first = text.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        // Distinguish "not JSON at all" from "JSON but not an object".
        return match serde_json::from_str::<serde_json::Value>(text) {
            Ok(_) => Err(EventError::NotAnObject),
            Err(e) => Err(syntax_error(&e)),
        };
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // Depth is bounded above; serde_json's own recursion guard stays as a backstop.
    let mut event: Event = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            syntax_error(&inner)
        } else {
            EventError::InvalidField {
                path,
                message: strip_position(&inner.to_string()),
            }
        }
    })?;
    deserializer.end().map_err(|e| syntax_error(&e))?;
    apply_limits(&mut event, limits);
    Ok(event)
}

/// Parses an event from an already-decoded JSON value (e.g. an envelope item).
pub fn event_from_value(
    value: serde_json::Value,
    limits: &EventLimits,
) -> Result<Event, EventError> {
    if !value.is_object() {
        return Err(EventError::NotAnObject);
    }
    let mut event: Event =
        serde_path_to_error::deserialize(value).map_err(|e| EventError::InvalidField {
            path: e.path().to_string(),
            message: e.into_inner().to_string(),
        })?;
    apply_limits(&mut event, limits);
    Ok(event)
}

fn syntax_error(e: &serde_json::Error) -> EventError {
    EventError::Syntax {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    }
}

/// serde_json appends " at line L column C"; the path says where already.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// Rejects JSON nested deeper than `limit` without building anything.
pub fn check_depth(text: &str, limit: usize) -> Result<(), EventError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(EventError::TooDeep { limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Keeps the most recent frames, exceptions and threads; truncates strings.
pub fn apply_limits(event: &mut Event, limits: &EventLimits) {
    let max_string = limits.max_string_bytes;
    if let Some(exceptions) = event.exception.as_mut() {
        let values = exceptions.values_mut();
        keep_last(values, limits.max_exceptions);
        for exception in values.iter_mut() {
            bound_exception(exception, limits);
        }
    }
    if let Some(threads) = event.threads.as_mut() {
        let values = threads.values_mut();
        values.truncate(limits.max_threads);
        for thread in values.iter_mut() {
            truncate_opt(&mut thread.name, max_string);
            if let Some(stacktrace) = thread.stacktrace.as_mut() {
                bound_stacktrace(stacktrace, limits);
            }
        }
    }
    if let Some(stacktrace) = event.stacktrace.as_mut() {
        bound_stacktrace(stacktrace, limits);
    }
    if let Some(entry) = event.logentry.as_mut() {
        truncate_opt(&mut entry.formatted, max_string);
        truncate_opt(&mut entry.message, max_string);
    }
    match event.message.as_mut() {
        Some(super::model::Message::Text(text)) => truncate_string(text, max_string),
        Some(super::model::Message::Entry(entry)) => {
            truncate_opt(&mut entry.formatted, max_string);
            truncate_opt(&mut entry.message, max_string);
        }
        None => {}
    }
    if let Some(fingerprint) = event.fingerprint.as_mut() {
        fingerprint.truncate(limits.max_frames);
        for part in fingerprint.iter_mut() {
            truncate_string(part, max_string);
        }
    }
    for field in [
        &mut event.platform,
        &mut event.transaction,
        &mut event.level,
        &mut event.logger,
        &mut event.release,
        &mut event.event_id,
    ] {
        truncate_opt(field, max_string);
    }
}

fn bound_exception(exception: &mut Exception, limits: &EventLimits) {
    truncate_opt(&mut exception.ty, limits.max_string_bytes);
    truncate_opt(&mut exception.value, limits.max_string_bytes);
    truncate_opt(&mut exception.module, limits.max_string_bytes);
    if let Some(stacktrace) = exception.stacktrace.as_mut() {
        bound_stacktrace(stacktrace, limits);
    }
}

fn bound_stacktrace(stacktrace: &mut Stacktrace, limits: &EventLimits) {
    keep_last(&mut stacktrace.frames, limits.max_frames);
    for frame in &mut stacktrace.frames {
        bound_frame(frame, limits.max_string_bytes);
    }
}

fn bound_frame(frame: &mut Frame, max: usize) {
    for field in [
        &mut frame.filename,
        &mut frame.abs_path,
        &mut frame.module,
        &mut frame.function,
        &mut frame.raw_function,
        &mut frame.package,
        &mut frame.platform,
        &mut frame.context_line,
    ] {
        truncate_opt(field, max);
    }
}

/// Keeps the last `max` items (the most recent frames or exceptions).
fn keep_last<T>(items: &mut Vec<T>, max: usize) {
    if items.len() > max {
        items.drain(..items.len() - max);
    }
}

fn truncate_opt(value: &mut Option<String>, max: usize) {
    if let Some(text) = value.as_mut() {
        truncate_string(text, max);
    }
}

/// Truncates to at most `max` bytes on a character boundary.
pub fn truncate_string(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> EventLimits {
        EventLimits::default()
    }

    #[test]
    fn wrong_type_names_the_json_path() {
        let body = br#"{"exception":{"values":[{"type":"E","stacktrace":{"frames":[{"lineno":"twelve"}]}}]}}"#;
        let Err(EventError::InvalidField { path, .. }) = parse_event(body, &limits()) else {
            panic!("expected an invalid field error");
        };
        assert!(path.contains("frames[0].lineno"), "path was {path}");
    }

    #[test]
    fn unknown_fields_and_nulls_are_accepted() {
        let body = br#"{"platform":"python","whatever":{"a":1},"exception":null,"user":{"email":"a@b.c"}}"#;
        let event = parse_event(body, &limits()).expect("valid event");
        assert_eq!(event.platform.as_deref(), Some("python"));
    }

    #[test]
    fn exception_and_threads_accept_both_shapes() {
        let list = br#"{"exception":[{"type":"A"}],"threads":[{"crashed":true}]}"#;
        let values =
            br#"{"exception":{"values":[{"type":"A"}]},"threads":{"values":[{"crashed":true}]}}"#;
        let a = parse_event(list, &limits()).expect("list form");
        let b = parse_event(values, &limits()).expect("values form");
        assert_eq!(a.exceptions(), b.exceptions());
        assert_eq!(a.threads(), b.threads());
    }

    #[test]
    fn oversized_deep_non_object_and_bad_utf8_are_rejected() {
        let small = EventLimits {
            max_body_bytes: 10,
            ..limits()
        };
        assert!(matches!(
            parse_event(b"{\"platform\":\"python\"}", &small),
            Err(EventError::TooLarge { .. })
        ));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(
            parse_event(deep.as_bytes(), &limits()),
            Err(EventError::TooDeep { limit: 64 })
        ));
        assert_eq!(parse_event(b"[1]", &limits()), Err(EventError::NotAnObject));
        assert!(matches!(
            parse_event(b"{\"a\":\"\xff\"}", &limits()),
            Err(EventError::InvalidUtf8 { offset: 6 })
        ));
        assert!(matches!(
            parse_event(b"{\"a\":", &limits()),
            Err(EventError::Syntax { .. })
        ));
    }

    #[test]
    fn brackets_inside_strings_do_not_count_as_depth() {
        let text = format!("{{\"a\":\"{}\"}}", "[".repeat(500));
        assert!(check_depth(&text, 4).is_ok());
    }

    #[test]
    fn keeps_most_recent_frames_and_truncates_strings() {
        let frames: Vec<String> = (0..300)
            .map(|i| format!("{{\"function\":\"f{i}\"}}"))
            .collect();
        let body = format!(
            "{{\"stacktrace\":{{\"frames\":[{}]}},\"transaction\":\"{}\"}}",
            frames.join(","),
            "é".repeat(10_000)
        );
        let event = parse_event(body.as_bytes(), &limits()).expect("valid");
        let kept = &event.stacktrace.as_ref().expect("stacktrace").frames;
        assert_eq!(kept.len(), 250);
        assert_eq!(kept[0].function.as_deref(), Some("f50"));
        assert_eq!(kept[249].function.as_deref(), Some("f299"));
        assert!(event.transaction.as_ref().expect("transaction").len() <= 8192);
    }
}
