//! Reading and writing dataset lines (the format is in the module docs).

use super::{DatasetError, DatasetLine, EventSource};
use serde::Serialize;
use serde_json::{Map, Value};
use std::io::{BufRead, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const KEYS: &[&str] = &[
    "project",
    "label",
    "timestamp",
    "event",
    "stacktrace",
    "platform",
];

/// The first second humantime cannot format (year 10000).
const END_OF_YEAR_9999: u64 = 253_402_300_800;

/// Streams the lines of a dataset (see the module docs).
pub fn read_dataset<R: BufRead>(reader: R) -> DatasetLines<R> {
    DatasetLines {
        reader,
        line: 0,
        buffer: Vec::new(),
        done: false,
    }
}

/// The iterator [`read_dataset`] returns.
#[derive(Debug)]
pub struct DatasetLines<R> {
    reader: R,
    /// 1-based number of the line last read.
    line: usize,
    buffer: Vec<u8>,
    /// Set after end of input or a read failure, which may repeat forever.
    done: bool,
}

impl<R: BufRead> Iterator for DatasetLines<R> {
    type Item = Result<DatasetLine, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buffer.clear();
            self.line += 1;
            match self.reader.read_until(b'\n', &mut self.buffer) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    if let Some(item) = self.parse_buffer() {
                        return Some(item);
                    }
                }
                Err(source) => {
                    self.done = true;
                    return Some(Err(DatasetError::Read {
                        line: self.line,
                        source,
                    }));
                }
            }
        }
        None
    }
}

impl<R> DatasetLines<R> {
    /// The parsed line, or `None` for a blank one.
    fn parse_buffer(&self) -> Option<Result<DatasetLine, DatasetError>> {
        let line = self.line;
        let Ok(mut text) = std::str::from_utf8(&self.buffer) else {
            return Some(Err(DatasetError::NotUtf8 { line }));
        };
        if line == 1 {
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        if text.trim().is_empty() {
            return None;
        }
        Some(parse_line(text, line))
    }
}

/// Parses one non-blank line.
fn parse_line(text: &str, line: usize) -> Result<DatasetLine, DatasetError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DatasetError::Json {
        line,
        message: e.to_string(),
    })?;
    let Value::Object(mut object) = value else {
        return Err(DatasetError::NotAnObject { line });
    };
    if let Some(unknown) = object.keys().find(|key| !KEYS.contains(&key.as_str())) {
        return Err(field_error(
            line,
            unknown,
            format!("unknown field; expected one of {}", KEYS.join(", ")),
        ));
    }
    Ok(DatasetLine {
        project: read_project(&object, line)?,
        label: read_label(&object, line)?,
        timestamp: read_timestamp(&object, line)?,
        source: read_source(&mut object, line)?,
    })
}

fn field_error(line: usize, field: &str, problem: impl Into<String>) -> DatasetError {
    DatasetError::Field {
        line,
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// Names the JSON type of a value for error messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn read_project(object: &Map<String, Value>, line: usize) -> Result<u64, DatasetError> {
    let value = object
        .get("project")
        .ok_or_else(|| field_error(line, "project", "missing"))?;
    value.as_u64().ok_or_else(|| {
        // Numbers are short enough to quote; anything else is named by type.
        let found = match value {
            Value::Number(number) => number.to_string(),
            other => json_type(other).to_string(),
        };
        field_error(
            line,
            "project",
            format!("expected a non-negative integer, found {found}"),
        )
    })
}

fn read_label(object: &Map<String, Value>, line: usize) -> Result<String, DatasetError> {
    let value = object
        .get("label")
        .ok_or_else(|| field_error(line, "label", "missing"))?;
    match value.as_str() {
        Some(label) if !label.is_empty() => Ok(label.to_string()),
        Some(_) => Err(field_error(line, "label", "must not be empty")),
        None => Err(field_error(
            line,
            "label",
            format!("expected a string, found {}", json_type(value)),
        )),
    }
}

fn read_timestamp(
    object: &Map<String, Value>,
    line: usize,
) -> Result<Option<SystemTime>, DatasetError> {
    match object.get("timestamp") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => parse_timestamp(text)
            .map(Some)
            .map_err(|problem| field_error(line, "timestamp", problem)),
        Some(other) => Err(field_error(
            line,
            "timestamp",
            format!("expected an RFC 3339 string, found {}", json_type(other)),
        )),
    }
}

/// Parses an RFC 3339 UTC timestamp. humantime's weak parser does not look
/// at the digits of an offset after fractional seconds, so anything but UTC
/// is refused here first rather than read as UTC.
fn parse_timestamp(text: &str) -> Result<SystemTime, String> {
    if !has_utc_zone(text) {
        return Err(format!(
            "{text:?} is not an RFC 3339 UTC timestamp (use `Z` or `+00:00`)"
        ));
    }
    humantime::parse_rfc3339_weak(text).map_err(|e| format!("{text:?}: {e}"))
}

/// True when what follows the seconds (and any fraction) is nothing, `Z`
/// or `+00:00`.
fn has_utc_zone(text: &str) -> bool {
    let Some(rest) = text.get(19..) else {
        // Too short for a zone; the parser reports the format problem.
        return true;
    };
    let zone = match rest.strip_prefix('.') {
        Some(fraction) => fraction.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    matches!(zone, "" | "Z" | "+00:00")
}

fn read_source(object: &mut Map<String, Value>, line: usize) -> Result<EventSource, DatasetError> {
    let event = object.remove("event");
    let stacktrace = object.remove("stacktrace");
    let platform = object.remove("platform");
    match (event, stacktrace) {
        (Some(_), Some(_)) => Err(DatasetError::BothSources { line }),
        (None, None) => Err(DatasetError::NoSource { line }),
        (Some(event), None) => read_event(event, platform.as_ref(), line),
        (None, Some(text)) => read_stacktrace(&text, platform.as_ref(), line),
    }
}

fn read_event(
    event: Value,
    platform: Option<&Value>,
    line: usize,
) -> Result<EventSource, DatasetError> {
    if platform.is_some_and(|p| !p.is_null()) {
        return Err(field_error(
            line,
            "platform",
            "only allowed with `stacktrace`; an event names its own platform",
        ));
    }
    if !event.is_object() {
        return Err(field_error(
            line,
            "event",
            format!("expected an object, found {}", json_type(&event)),
        ));
    }
    Ok(EventSource::Event(event))
}

fn read_stacktrace(
    text: &Value,
    platform: Option<&Value>,
    line: usize,
) -> Result<EventSource, DatasetError> {
    let text = match text.as_str() {
        Some(text) if !text.trim().is_empty() => text.to_string(),
        Some(_) => return Err(field_error(line, "stacktrace", "must not be empty")),
        None => {
            return Err(field_error(
                line,
                "stacktrace",
                format!("expected a string, found {}", json_type(text)),
            ));
        }
    };
    let platform = match platform {
        None | Some(Value::Null) => None,
        Some(Value::String(platform)) => Some(platform.clone()),
        Some(other) => {
            return Err(field_error(
                line,
                "platform",
                format!("expected a string, found {}", json_type(other)),
            ));
        }
    };
    Ok(EventSource::Stacktrace { text, platform })
}

/// The line as written: keys in the documented order, absent ones left out.
#[derive(Serialize)]
struct LineOut<'a> {
    project: u64,
    label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stacktrace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<&'a str>,
}

/// Writes one line (with its newline). Refuses what [`read_dataset`] would
/// refuse, so a written dataset always reads back.
pub fn write_line(out: &mut impl Write, line: &DatasetLine) -> Result<(), DatasetError> {
    if line.label.is_empty() {
        return Err(unwritable("label", "must not be empty"));
    }
    let (event, stacktrace, platform) = match &line.source {
        EventSource::Event(event) if event.is_object() => (Some(event), None, None),
        EventSource::Event(_) => return Err(unwritable("event", "must be a JSON object")),
        EventSource::Stacktrace { text, .. } if text.trim().is_empty() => {
            return Err(unwritable("stacktrace", "must not be empty"));
        }
        EventSource::Stacktrace { text, platform } => {
            (None, Some(text.as_str()), platform.as_deref())
        }
    };
    let record = LineOut {
        project: line.project,
        label: &line.label,
        timestamp: line.timestamp.map(format_timestamp).transpose()?,
        event,
        stacktrace,
        platform,
    };
    let mut bytes = serde_json::to_vec(&record)
        .map_err(|e| unwritable("event", format!("cannot serialize: {e}")))?;
    bytes.push(b'\n');
    out.write_all(&bytes)?;
    Ok(())
}

fn unwritable(field: &'static str, problem: impl Into<String>) -> DatasetError {
    DatasetError::Unwritable {
        field,
        problem: problem.into(),
    }
}

/// RFC 3339 with only the fractional digits needed. humantime panics on
/// times before 1970 and fails after 9999, so those are refused first.
pub(crate) fn format_timestamp(time: SystemTime) -> Result<String, DatasetError> {
    let in_range = time
        .duration_since(UNIX_EPOCH)
        .is_ok_and(|since| since < Duration::from_secs(END_OF_YEAR_9999));
    if !in_range {
        return Err(unwritable(
            "timestamp",
            "outside the years 1970 to 9999 that RFC 3339 output supports",
        ));
    }
    Ok(humantime::format_rfc3339(time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_other_than_utc_are_refused() {
        assert!(has_utc_zone("2024-01-02T03:04:05Z"));
        assert!(has_utc_zone("2024-01-02T03:04:05.123+00:00"));
        assert!(has_utc_zone("2024-01-02 03:04:05"));
        assert!(!has_utc_zone("2024-01-02T03:04:05.5+05:00"));
        assert!(!has_utc_zone("2024-01-02T03:04:05-01:00"));
        assert!(parse_timestamp("2024-01-02T03:04:05.5+05:00").is_err());
    }

    #[test]
    fn times_humantime_cannot_format_are_refused() {
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert!(format_timestamp(before).is_err());
        let after = UNIX_EPOCH + Duration::from_secs(END_OF_YEAR_9999);
        assert!(format_timestamp(after).is_err());
        let ok = UNIX_EPOCH + Duration::from_millis(1_704_164_645_250);
        assert_eq!(
            format_timestamp(ok).ok().as_deref(),
            Some("2024-01-02T03:04:05.250000000Z")
        );
    }
}
