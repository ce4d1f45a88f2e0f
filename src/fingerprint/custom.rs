//! Custom and hybrid fingerprints: `{{ default }}` and the variables that
//! expand inside fingerprint values.

use crate::event::{Event, Frame};

/// How an event's fingerprint values relate to the default grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintMode {
    /// `["{{ default }}"]` or no fingerprint: the built-in variants decide.
    Default,
    /// Values without `{{ default }}`: the values alone are the hash.
    Custom(Vec<String>),
    /// `{{ default }}` plus other values: each variant is salted with them.
    Hybrid(Vec<String>),
}

/// Classifies fingerprint values and expands their variables.
pub fn fingerprint_mode(values: &[String], event: &Event) -> FingerprintMode {
    if values.is_empty() {
        return FingerprintMode::Default;
    }
    let has_default = values.iter().any(|value| is_default_marker(value));
    let extra: Vec<String> = values
        .iter()
        .filter(|value| !is_default_marker(value))
        .map(|value| expand(value, event))
        .collect();
    match (has_default, extra.is_empty()) {
        (true, true) => FingerprintMode::Default,
        (true, false) => FingerprintMode::Hybrid(extra),
        (false, _) => FingerprintMode::Custom(extra),
    }
}

fn is_default_marker(value: &str) -> bool {
    variable_name(value.trim()) == Some("default")
}

/// `{{ name }}` → `name` when the whole value is one variable.
fn variable_name(value: &str) -> Option<&str> {
    let inner = value.strip_prefix("{{")?.strip_suffix("}}")?;
    let name = inner.trim();
    (!name.is_empty() && !name.contains("{{") && !name.contains("}}")).then_some(name)
}

/// Expands every `{{ variable }}` in a value; unknown variables stay as written.
pub fn expand(value: &str, event: &Event) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        let Some(length) = rest[start..].find("}}") else {
            break;
        };
        let end = start + length + 2;
        out.push_str(&rest[..start]);
        let name = rest[start + 2..end - 2].trim();
        match resolve(name, event) {
            Some(resolved) => out.push_str(&resolved),
            None => out.push_str(&rest[start..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The value of one variable, with the `<no-…>` fallbacks users expect.
fn resolve(name: &str, event: &Event) -> Option<String> {
    let outermost = event.exceptions().last();
    let crash_frame = crash_frame(event);
    let or = |value: Option<&str>, fallback: &str| {
        value
            .filter(|v| !v.is_empty())
            .map_or_else(|| fallback.to_string(), str::to_string)
    };
    let resolved = match name {
        "default" => "{{ default }}".to_string(),
        "type" | "error.type" => or(outermost.and_then(|e| e.ty.as_deref()), "<no-type>"),
        "value" | "error.value" => or(outermost.and_then(|e| e.value.as_deref()), "<no-value>"),
        "message" => or(event.message_text(), "<no-message>"),
        "function" | "stack.function" => or(
            crash_frame.and_then(|f| f.function.as_deref()),
            "<no-function>",
        ),
        "module" | "stack.module" => {
            or(crash_frame.and_then(|f| f.module.as_deref()), "<no-module>")
        }
        "path" | "stack.abs_path" => or(
            crash_frame.and_then(|f| f.abs_path.as_deref().or(f.filename.as_deref())),
            "<no-path>",
        ),
        "package" | "stack.package" => or(
            crash_frame.and_then(|f| f.package.as_deref()),
            "<no-package>",
        ),
        "transaction" => or(event.transaction.as_deref(), "<no-transaction>"),
        "level" => or(event.level.as_deref(), "<no-level>"),
        "logger" => or(event.logger.as_deref(), "<no-logger>"),
        _ => {
            let tag = name.strip_prefix("tags.")?;
            or(event.tag(tag), &format!("<no-value-for-tag-{tag}>"))
        }
    };
    Some(resolved)
}

/// The crashing frame: the most recent in-app frame of the outermost
/// exception (or thread / top-level stacktrace), else its most recent frame.
fn crash_frame(event: &Event) -> Option<&Frame> {
    let frames = event
        .exceptions()
        .iter()
        .rev()
        .find_map(|e| e.stacktrace.as_ref().filter(|s| !s.frames.is_empty()))
        .or_else(|| {
            event
                .threads()
                .iter()
                .find_map(|t| t.stacktrace.as_ref().filter(|s| !s.frames.is_empty()))
        })
        .or(event.stacktrace.as_ref())
        .map(|stacktrace| stacktrace.frames.as_slice())?;
    frames
        .iter()
        .rev()
        .find(|frame| frame.in_app == Some(true))
        .or_else(|| frames.last())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exception, Exceptions, Tags};

    fn event() -> Event {
        Event {
            transaction: Some("/checkout".into()),
            tags: Some(Tags::Pairs(vec![("region".into(), "eu".into())])),
            exception: Some(Exceptions::List(vec![Exception {
                ty: Some("PaymentError".into()),
                ..Exception::default()
            }])),
            ..Event::default()
        }
    }

    #[test]
    fn modes_are_told_apart() {
        let e = event();
        let values = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert_eq!(
            fingerprint_mode(&values(&["{{ default }}"]), &e),
            FingerprintMode::Default
        );
        assert_eq!(
            fingerprint_mode(&values(&["{{default}}"]), &e),
            FingerprintMode::Default
        );
        assert_eq!(
            fingerprint_mode(&values(&["payment", "{{ type }}"]), &e),
            FingerprintMode::Custom(values(&["payment", "PaymentError"]))
        );
        assert_eq!(
            fingerprint_mode(&values(&["{{ default }}", "{{ tags.region }}"]), &e),
            FingerprintMode::Hybrid(values(&["eu"]))
        );
    }

    #[test]
    fn variables_expand_with_fallbacks() {
        let e = event();
        assert_eq!(expand("{{ transaction }}", &e), "/checkout");
        assert_eq!(expand("at-{{level}}", &e), "at-<no-level>");
        assert_eq!(
            expand("{{ tags.missing }}", &e),
            "<no-value-for-tag-missing>"
        );
        assert_eq!(expand("{{ function }}", &e), "<no-function>");
        assert_eq!(expand("{{ unknown }}", &e), "{{ unknown }}");
        assert_eq!(expand("{{ open", &e), "{{ open");
    }
}
