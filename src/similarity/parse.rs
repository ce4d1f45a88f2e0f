//! Reading a similarity request body: UTF-8, bounded nesting, a JSON object,
//! and type errors that say where.

use crate::event::check_depth;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// Why a request was rejected. Every variant is a client error (HTTP 400).
#[derive(Debug, Clone, Error, PartialEq)]
pub enum RequestError {
    #[error("body is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("body JSON nests deeper than the limit of {limit} levels")]
    TooDeep { limit: usize },
    #[error("body must be a JSON object")]
    NotAnObject,
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// A field is missing, has the wrong type, or fails validation. `field`
    /// is its JSON path (`k`, `data[2].hash`).
    #[error("invalid `{field}`: {message}")]
    Invalid { field: String, message: String },
}

impl RequestError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RequestError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The offending field's path, when one field is to blame.
    pub fn field(&self) -> Option<&str> {
        match self {
            RequestError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Parses a request body into `T`. Rejects invalid UTF-8, nesting deeper
/// than `max_depth`, anything but a JSON object, and trailing data; a wrong
/// or missing field is reported with its path. The body size is the HTTP
/// layer's to bound before calling this.
pub fn parse_request<T: DeserializeOwned>(
    body: &[u8],
    max_depth: usize,
) -> Result<T, RequestError> {
    let text = std::str::from_utf8(body).map_err(|e| RequestError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    // Bounded before serde builds anything; serde_json's recursion guard stays as a backstop.
    check_depth(text, max_depth).map_err(|_| RequestError::TooDeep { limit: max_depth })?;
    if !text.trim_start().starts_with('{') {
        return Err(not_an_object(text));
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            syntax_error(&inner)
        } else {
            field_error(path, &inner)
        }
    })?;
    deserializer.end().map_err(|e| syntax_error(&e))?;
    Ok(value)
}

/// Distinguishes "JSON, but not an object" from "not JSON at all"; an empty
/// body counts as the former, since that is what the client must send.
fn not_an_object(text: &str) -> RequestError {
    if text.trim().is_empty() {
        return RequestError::NotAnObject;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(_) => RequestError::NotAnObject,
        Err(e) => syntax_error(&e),
    }
}

/// serde reports a missing field at its parent's path (`.` for the top
/// level); naming the field itself is what the client needs.
fn field_error(path: String, error: &serde_json::Error) -> RequestError {
    let message = strip_position(&error.to_string());
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'));
    let field = match missing {
        Some(name) if path == "." => name.to_string(),
        Some(name) => format!("{path}.{name}"),
        None => path,
    };
    RequestError::Invalid { field, message }
}

fn syntax_error(error: &serde_json::Error) -> RequestError {
    RequestError::Syntax {
        line: error.line(),
        column: error.column(),
        message: strip_position(&error.to_string()),
    }
}

/// serde_json appends " at line L column C"; the path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message.get(..index).unwrap_or(message).to_string(),
        None => message.to_string(),
    }
}
