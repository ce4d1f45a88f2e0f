//! Sentry's event JSON, reduced to what grouping reads.
//!
//! Unknown fields are ignored. Fields that could carry user data (local
//! variables, request headers, cookies, bodies, user) are deliberately not
//! modelled, so they cannot reach a fingerprint, a rendered text or the store.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One error event as an SDK or Sentry sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    pub event_id: Option<String>,
    pub platform: Option<String>,
    pub exception: Option<Exceptions>,
    pub threads: Option<Threads>,
    pub stacktrace: Option<Stacktrace>,
    pub logentry: Option<LogEntry>,
    pub message: Option<Message>,
    pub fingerprint: Option<Vec<String>>,
    pub tags: Option<Tags>,
    pub transaction: Option<String>,
    pub level: Option<String>,
    pub logger: Option<String>,
    pub sdk: Option<Sdk>,
    pub release: Option<String>,
}

/// `exception` is either `{"values": [...]}` or a bare list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Exceptions {
    Values { values: Vec<Exception> },
    List(Vec<Exception>),
}

impl Exceptions {
    /// Exceptions oldest first; the last one is the outermost (most recent).
    pub fn values(&self) -> &[Exception] {
        match self {
            Exceptions::Values { values } | Exceptions::List(values) => values,
        }
    }

    pub fn values_mut(&mut self) -> &mut Vec<Exception> {
        match self {
            Exceptions::Values { values } | Exceptions::List(values) => values,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Exception {
    #[serde(rename = "type")]
    pub ty: Option<String>,
    pub value: Option<String>,
    pub module: Option<String>,
    pub mechanism: Option<Mechanism>,
    pub stacktrace: Option<Stacktrace>,
    pub thread_id: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mechanism {
    #[serde(rename = "type")]
    pub ty: Option<String>,
    pub synthetic: Option<bool>,
    pub handled: Option<bool>,
    pub exception_id: Option<u64>,
    pub parent_id: Option<u64>,
    pub is_exception_group: Option<bool>,
    pub source: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stacktrace {
    /// Oldest (caller) first, crashing frame last.
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Frame {
    pub filename: Option<String>,
    pub abs_path: Option<String>,
    pub module: Option<String>,
    pub function: Option<String>,
    pub raw_function: Option<String>,
    pub package: Option<String>,
    pub platform: Option<String>,
    pub lineno: Option<u64>,
    pub colno: Option<u64>,
    pub context_line: Option<String>,
    pub in_app: Option<bool>,
}

/// `threads` is either `{"values": [...]}` or a bare list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Threads {
    Values { values: Vec<Thread> },
    List(Vec<Thread>),
}

impl Threads {
    pub fn values(&self) -> &[Thread] {
        match self {
            Threads::Values { values } | Threads::List(values) => values,
        }
    }

    pub fn values_mut(&mut self) -> &mut Vec<Thread> {
        match self {
            Threads::Values { values } | Threads::List(values) => values,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thread {
    pub id: Option<serde_json::Value>,
    pub name: Option<String>,
    pub crashed: Option<bool>,
    pub current: Option<bool>,
    pub stacktrace: Option<Stacktrace>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogEntry {
    pub formatted: Option<String>,
    pub message: Option<String>,
    pub params: Option<serde_json::Value>,
}

/// `message` is a plain string in the legacy format, an object in the new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Message {
    Text(String),
    Entry(LogEntry),
}

/// `tags` is an object or a list of `[key, value]` pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Tags {
    Map(BTreeMap<String, String>),
    Pairs(Vec<(String, String)>),
}

impl Tags {
    pub fn get(&self, key: &str) -> Option<&str> {
        match self {
            Tags::Map(map) => map.get(key).map(String::as_str),
            Tags::Pairs(pairs) => pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sdk {
    pub name: Option<String>,
    pub version: Option<String>,
}

impl Event {
    /// The message an event carries: `logentry.formatted`, then
    /// `logentry.message`, then the legacy `message`.
    pub fn message_text(&self) -> Option<&str> {
        fn entry_text(entry: &LogEntry) -> Option<&str> {
            entry
                .formatted
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .or(entry.message.as_deref())
        }
        let from_logentry = self.logentry.as_ref().and_then(entry_text);
        let from_message = match &self.message {
            Some(Message::Text(text)) => Some(text.as_str()),
            Some(Message::Entry(entry)) => entry_text(entry),
            None => None,
        };
        from_logentry
            .or(from_message)
            .filter(|s| !s.trim().is_empty())
    }

    /// The exceptions, oldest first (empty when there are none).
    pub fn exceptions(&self) -> &[Exception] {
        self.exception.as_ref().map_or(&[], Exceptions::values)
    }

    pub fn threads(&self) -> &[Thread] {
        self.threads.as_ref().map_or(&[], Threads::values)
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.as_ref().and_then(|tags| tags.get(key))
    }
}

/// Deserializes `{"values": [...]}` or `[...]` while keeping the JSON path of
/// errors inside the items (an untagged enum would lose it).
mod values_or_list {
    use super::{Exception, Exceptions, Thread, Threads};
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;
    use std::marker::PhantomData;

    struct ValuesOrList<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ValuesOrList<T> {
        type Value = (bool, Vec<T>);

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("an object with `values` or a list")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok((false, items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                if key == "values" {
                    items = map.next_value::<Option<Vec<T>>>()?.unwrap_or_default();
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok((true, items))
        }
    }

    fn read<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<(bool, Vec<T>), D::Error> {
        deserializer.deserialize_any(ValuesOrList(PhantomData))
    }

    impl<'de> Deserialize<'de> for Exceptions {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let (is_object, values) = read::<D, Exception>(deserializer)?;
            Ok(if is_object {
                Exceptions::Values { values }
            } else {
                Exceptions::List(values)
            })
        }
    }

    impl<'de> Deserialize<'de> for Threads {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let (is_object, values) = read::<D, Thread>(deserializer)?;
            Ok(if is_object {
                Threads::Values { values }
            } else {
                Threads::List(values)
            })
        }
    }
}
