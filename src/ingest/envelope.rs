//! Sentry envelopes: the format SDKs POST to `/api/{project_id}/envelope/`.
//!
//! ```text
//! {"event_id":"…","dsn":"…"}\n          envelope header (one JSON object)
//! {"type":"event","length":41}\n        item header
//! <41 bytes of payload>\n               payload, then an optional newline
//! {"type":"attachment"}\n               item header without length:
//! <payload up to the next newline>      payload ends at `\n` or end of input
//! ```
//!
//! Parsing borrows payloads from the body, so attachments are never copied.
//! Blank lines where an item header is expected are skipped (SDKs end
//! envelopes with one or more newlines).

use serde_json::{Map, Value};
use thiserror::Error;

/// Item type of error events, the only items stackherd groups.
pub const EVENT_ITEM_TYPE: &str = "event";

/// Bounds on an envelope, checked before anything is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeLimits {
    /// Most items (Sentry SDKs send a handful: an event, attachments, a session).
    pub max_items: usize,
    /// Largest envelope, in bytes (after any content decoding).
    pub max_bytes: usize,
}

impl Default for EnvelopeLimits {
    /// 100 items; 1 MiB, the same as the default `limits.max_body_bytes`.
    fn default() -> Self {
        EnvelopeLimits {
            max_items: 100,
            max_bytes: 1024 * 1024,
        }
    }
}

/// Why an envelope was rejected (HTTP 400). Item errors name the item's index.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("envelope is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("envelope is empty")]
    Empty,
    #[error("envelope header: {0}")]
    Header(String),
    #[error("envelope has more than the limit of {limit} items")]
    TooManyItems { limit: usize },
    #[error("envelope item {index}: {problem}")]
    Item { index: usize, problem: ItemProblem },
}

/// What is wrong with one item.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ItemProblem {
    #[error("item header is not valid JSON: {0}")]
    HeaderJson(String),
    #[error("item header is not a JSON object")]
    HeaderNotObject,
    #[error("item header has no `type`")]
    MissingType,
    #[error("item header `type` is not a non-empty string")]
    BadType,
    #[error("item header `length` is not a non-negative integer")]
    BadLength,
    #[error("`length` is {length} bytes but only {available} bytes follow the header")]
    LengthPastEnd { length: u64, available: usize },
}

/// A parsed envelope; payloads borrow from the body it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    pub header: Map<String, Value>,
    pub items: Vec<EnvelopeItem<'a>>,
}

/// One item: its `type`, its whole header (including `type` and `length`
/// when given), and its payload bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeItem<'a> {
    pub item_type: String,
    pub header: Map<String, Value>,
    pub payload: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Parses `body` under `limits`.
    pub fn parse(body: &'a [u8], limits: &EnvelopeLimits) -> Result<Self, EnvelopeError> {
        if body.len() > limits.max_bytes {
            return Err(EnvelopeError::TooLarge {
                size: body.len(),
                limit: limits.max_bytes,
            });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(EnvelopeError::Empty);
        }
        let (line, mut rest) = split_line(body);
        let header = parse_envelope_header(line)?;
        let mut items = Vec::new();
        loop {
            rest = skip_blank_lines(rest);
            if rest.is_empty() {
                break;
            }
            let index = items.len();
            if index >= limits.max_items {
                return Err(EnvelopeError::TooManyItems {
                    limit: limits.max_items,
                });
            }
            let (item, after) =
                parse_item(rest).map_err(|problem| EnvelopeError::Item { index, problem })?;
            items.push(item);
            rest = after;
        }
        Ok(Envelope { header, items })
    }

    /// Payloads of the `event` items, in order. Other types (`transaction`,
    /// `session`, `attachment`, `client_report`, …) are not grouped.
    pub fn event_payloads(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.items
            .iter()
            .filter(|item| item.is_event())
            .map(|item| item.payload)
    }

    /// Types of the items that are not events, for logs and metrics.
    pub fn ignored_item_types(&self) -> impl Iterator<Item = &str> + '_ {
        self.items
            .iter()
            .filter(|item| !item.is_event())
            .map(|item| item.item_type.as_str())
    }

    /// The header's `event_id`, when it is a string.
    pub fn event_id(&self) -> Option<&str> {
        self.header.get("event_id").and_then(Value::as_str)
    }

    /// The header's `dsn`, when it is a string (SDKs sending through a tunnel set it).
    pub fn dsn(&self) -> Option<&str> {
        self.header.get("dsn").and_then(Value::as_str)
    }

    /// Serializes the envelope; every item gets an explicit `length` and its
    /// `type`, so any payload (binary, with newlines) round-trips.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Value::Object(self.header.clone()).to_string().into_bytes();
        out.push(b'\n');
        for item in &self.items {
            let mut header = item.header.clone();
            header.insert("type".to_string(), Value::from(item.item_type.as_str()));
            header.insert("length".to_string(), Value::from(item.payload.len()));
            out.extend_from_slice(Value::Object(header).to_string().as_bytes());
            out.push(b'\n');
            out.extend_from_slice(item.payload);
            out.push(b'\n');
        }
        out
    }
}

impl EnvelopeItem<'_> {
    pub fn is_event(&self) -> bool {
        self.item_type == EVENT_ITEM_TYPE
    }
}

/// The bytes before the first `\n` and those after it (empty at the end).
fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => (
            bytes.get(..at).unwrap_or_default(),
            bytes.get(at + 1..).unwrap_or_default(),
        ),
        None => (bytes, &[]),
    }
}

fn skip_blank_lines(mut bytes: &[u8]) -> &[u8] {
    loop {
        let (line, rest) = split_line(bytes);
        if bytes.is_empty() || !line.iter().all(u8::is_ascii_whitespace) {
            return bytes;
        }
        bytes = rest;
    }
}

fn parse_envelope_header(line: &[u8]) -> Result<Map<String, Value>, EnvelopeError> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(EnvelopeError::Header("not a JSON object".to_string())),
        Err(e) => Err(EnvelopeError::Header(format!("not valid JSON: {e}"))),
    }
}

/// One item from the start of `bytes`; returns it and what follows it.
fn parse_item(bytes: &[u8]) -> Result<(EnvelopeItem<'_>, &[u8]), ItemProblem> {
    let (line, rest) = split_line(bytes);
    let header = match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(ItemProblem::HeaderNotObject),
        Err(e) => return Err(ItemProblem::HeaderJson(e.to_string())),
    };
    let item_type = item_type(&header)?;
    let (payload, after) = match item_length(&header)? {
        Some(length) => split_length(rest, length)?,
        None => split_line(rest),
    };
    let item = EnvelopeItem {
        item_type,
        header,
        payload,
    };
    Ok((item, after))
}

fn item_type(header: &Map<String, Value>) -> Result<String, ItemProblem> {
    match header.get("type") {
        None => Err(ItemProblem::MissingType),
        Some(Value::String(kind)) if !kind.is_empty() => Ok(kind.clone()),
        Some(_) => Err(ItemProblem::BadType),
    }
}

/// `length`, if given; `null` counts as not given.
fn item_length(header: &Map<String, Value>) -> Result<Option<u64>, ItemProblem> {
    match header.get("length") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or(ItemProblem::BadLength),
    }
}

/// Exactly `length` bytes of payload, then one optional `\n`.
fn split_length(bytes: &[u8], length: u64) -> Result<(&[u8], &[u8]), ItemProblem> {
    let past_end = ItemProblem::LengthPastEnd {
        length,
        available: bytes.len(),
    };
    let end = usize::try_from(length).map_err(|_| past_end.clone())?;
    let (Some(payload), Some(after)) = (bytes.get(..end), bytes.get(end..)) else {
        return Err(past_end);
    };
    let after = after.strip_prefix(b"\n").unwrap_or(after);
    Ok((payload, after))
}
