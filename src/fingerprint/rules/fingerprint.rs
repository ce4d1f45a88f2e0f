//! Fingerprint rules: `matchers -> values [title="..."]`, first match wins.

use super::RuleError;
use super::glob::{Glob, GlobMode};
use super::matchers::{FamilySet, FrameMatch};
use super::syntax::{Cursor, TermKind, lines};
use crate::event::{Event, Family, Frame};

/// One fingerprint rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerprintRule {
    /// The values after `->`, verbatim (`{{ var }}` placeholders kept).
    pub fingerprint: Vec<String>,
    /// The `title="..."` attribute.
    pub title: Option<String>,
    /// The rule as written, without a trailing comment.
    pub text: String,
    matchers: Vec<FpMatcher>,
}

/// A project's fingerprint rules, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FingerprintRules {
    rules: Vec<FingerprintRule>,
}

#[derive(Debug, Clone, PartialEq)]
struct FpMatcher {
    negated: bool,
    field: FpField,
}

#[derive(Debug, Clone, PartialEq)]
enum FpField {
    /// Any exception's type.
    ExceptionType(Glob),
    /// Any exception's value.
    ExceptionValue(Glob),
    /// The message text, or any exception's value.
    Message(Glob),
    Logger(Glob),
    /// The level; a missing level counts as `error`.
    Level(Glob),
    Tag(String, Glob),
    Sdk(Glob),
    Release(Glob),
    Transaction(Glob),
    /// The event's platform family or any frame's.
    Family(FamilySet),
    /// Frame matchers: all of a rule's must match the same frame.
    Frame(FrameMatch),
}

impl FpMatcher {
    fn is_frame(&self) -> bool {
        matches!(self.field, FpField::Frame(_))
    }

    fn matches_event(&self, event: &Event) -> bool {
        let exceptions = event.exceptions();
        let matched = match &self.field {
            FpField::ExceptionType(glob) => exceptions
                .iter()
                .any(|exception| glob.is_match_opt(exception.ty.as_deref())),
            FpField::ExceptionValue(glob) => exceptions
                .iter()
                .any(|exception| glob.is_match_opt(exception.value.as_deref())),
            FpField::Message(glob) => {
                glob.is_match_opt(event.message_text())
                    || exceptions
                        .iter()
                        .any(|exception| glob.is_match_opt(exception.value.as_deref()))
            }
            FpField::Logger(glob) => glob.is_match_opt(event.logger.as_deref()),
            FpField::Level(glob) => glob.is_match(event.level.as_deref().unwrap_or("error")),
            FpField::Tag(name, glob) => glob.is_match_opt(event.tag(name)),
            FpField::Sdk(glob) => {
                glob.is_match_opt(event.sdk.as_ref().and_then(|sdk| sdk.name.as_deref()))
            }
            FpField::Release(glob) => glob.is_match_opt(event.release.as_deref()),
            FpField::Transaction(glob) => glob.is_match_opt(event.transaction.as_deref()),
            FpField::Family(set) => {
                let platform = event.platform.as_deref();
                set.contains(Family::from_platform(platform))
                    || all_frames(event).any(|frame| {
                        set.contains(Family::of_frame(frame.platform.as_deref(), platform))
                    })
            }
            FpField::Frame(_) => true,
        };
        matched != self.negated
    }

    fn matches_frame(&self, frame: &Frame, family: Family) -> bool {
        match &self.field {
            FpField::Frame(matcher) => matcher.matches(frame, family, frame.in_app) != self.negated,
            _ => true,
        }
    }
}

/// Every frame of the event: exceptions, threads, then the top-level
/// stack trace.
fn all_frames(event: &Event) -> impl Iterator<Item = &Frame> {
    let exceptions = event
        .exceptions()
        .iter()
        .filter_map(|exception| exception.stacktrace.as_ref());
    let threads = event
        .threads()
        .iter()
        .filter_map(|thread| thread.stacktrace.as_ref());
    exceptions
        .chain(threads)
        .chain(event.stacktrace.as_ref())
        .flat_map(|stacktrace| stacktrace.frames.iter())
}

fn parse_field(name: &str, value: &str) -> Result<Option<FpField>, String> {
    if let Some(tag) = name.strip_prefix("tags.") {
        if tag.is_empty() {
            return Err("missing tag name after `tags.`".to_owned());
        }
        let glob = Glob::new(value, GlobMode::CaseSensitive)?;
        return Ok(Some(FpField::Tag(tag.to_owned(), glob)));
    }
    if name == "family" {
        return FamilySet::parse(value).map(|set| Some(FpField::Family(set)));
    }
    if let Some(frame) = FrameMatch::parse(name, value) {
        return frame.map(|matcher| Some(FpField::Frame(matcher)));
    }
    let (mode, make): (GlobMode, fn(Glob) -> FpField) = match name {
        "error.type" | "type" => (GlobMode::CaseSensitive, FpField::ExceptionType),
        "error.value" | "value" => (GlobMode::CaseInsensitive, FpField::ExceptionValue),
        "message" => (GlobMode::CaseInsensitive, FpField::Message),
        "logger" => (GlobMode::CaseSensitive, FpField::Logger),
        "level" => (GlobMode::CaseInsensitive, FpField::Level),
        "sdk" => (GlobMode::CaseInsensitive, FpField::Sdk),
        "release" => (GlobMode::CaseSensitive, FpField::Release),
        "transaction" => (GlobMode::CaseSensitive, FpField::Transaction),
        _ => return Ok(None),
    };
    Glob::new(value, mode).map(|glob| Some(make(glob)))
}

/// An unbalanced `{{` in a quoted value, as a character offset.
fn unterminated_placeholder(value: &str) -> Option<usize> {
    let mut rest = value;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Some(offset + rest[..open].chars().count());
        };
        let consumed = open + 2 + close + 2;
        offset += rest[..consumed].chars().count();
        rest = &rest[consumed..];
    }
    None
}

fn parse_line(cursor: &mut Cursor) -> Result<Option<FingerprintRule>, RuleError> {
    if cursor.at_end() {
        return Ok(None);
    }
    let mut matchers = Vec::new();
    let arrow_column = loop {
        if cursor.at_end() {
            return Err(cursor.error(
                cursor.column(),
                "missing `->` between the matchers and the fingerprint",
            ));
        }
        if cursor.starts_with("->") {
            cursor.begin_token();
            let column = cursor.column();
            cursor.advance(2);
            cursor.end_token();
            break column;
        }
        let Some(term) = cursor.next_term()? else {
            continue;
        };
        if term.kind != TermKind::Matcher {
            return Err(cursor.error(
                term.column,
                format!("expected a matcher or `->`, found `{}`", term.text),
            ));
        }
        if term.name == "tags." {
            return Err(cursor.error(term.name_column, "missing tag name after `tags.`"));
        }
        let field = parse_field(&term.name, &term.value)
            .map_err(|message| cursor.error(term.value_column, message))?
            .ok_or_else(|| {
                cursor.error(term.name_column, format!("unknown matcher `{}`", term.name))
            })?;
        matchers.push(FpMatcher {
            negated: term.negated,
            field,
        });
    };
    if matchers.is_empty() {
        return Err(cursor.error(arrow_column, "fingerprint rule has no matchers before `->`"));
    }
    let values_column = arrow_column + 2;
    let mut fingerprint = Vec::new();
    let mut title = None;
    let mut after_comma = false;
    while !cursor.at_end() {
        let column = cursor.column();
        if cursor.peek() == Some(',') {
            if fingerprint.is_empty() || after_comma {
                return Err(cursor.error(column, "empty fingerprint value before `,`"));
            }
            after_comma = true;
            cursor.advance(1);
            continue;
        }
        if cursor.starts_with("title=") {
            if title.is_some() {
                return Err(cursor.error(column, "duplicate `title=`"));
            }
            cursor.advance("title=".len());
            let value = match cursor.peek() {
                Some('"') => cursor.read_quoted()?,
                Some(c) if !c.is_whitespace() && c != ',' => cursor.read_fingerprint_word()?,
                _ => return Err(cursor.error(cursor.column(), "missing value for `title`")),
            };
            if !cursor.at_value_end() {
                return Err(cursor.error(
                    cursor.column(),
                    "expected whitespace or `,` after the closing quote",
                ));
            }
            cursor.end_token();
            title = Some(value);
            after_comma = false;
            continue;
        }
        let value = if cursor.peek() == Some('"') {
            let value = cursor.read_quoted()?;
            if !cursor.at_value_end() {
                return Err(cursor.error(
                    cursor.column(),
                    "expected whitespace or `,` after the closing quote",
                ));
            }
            if let Some(offset) = unterminated_placeholder(&value) {
                return Err(cursor.error(column + 1 + offset, "unterminated `{{`"));
            }
            value
        } else {
            cursor.read_fingerprint_word()?
        };
        if value.trim().is_empty() {
            return Err(cursor.error(column, "empty fingerprint value"));
        }
        cursor.end_token();
        fingerprint.push(value);
        after_comma = false;
    }
    if fingerprint.is_empty() {
        return Err(cursor.error(values_column, "empty fingerprint after `->`"));
    }
    Ok(Some(FingerprintRule {
        fingerprint,
        title,
        text: cursor.content(),
        matchers,
    }))
}

impl FingerprintRule {
    /// Whether every matcher matches the event; frame matchers must all
    /// match one frame.
    pub fn matches(&self, event: &Event) -> bool {
        if !self
            .matchers
            .iter()
            .all(|matcher| matcher.matches_event(event))
        {
            return false;
        }
        if !self.matchers.iter().any(FpMatcher::is_frame) {
            return true;
        }
        let platform = event.platform.as_deref();
        all_frames(event).any(|frame| {
            let family = Family::of_frame(frame.platform.as_deref(), platform);
            self.matchers
                .iter()
                .all(|matcher| matcher.matches_frame(frame, family))
        })
    }
}

impl FingerprintRules {
    /// Parses a project's fingerprint rules.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let mut rules = Vec::new();
        for (number, line) in lines(text) {
            let mut cursor = Cursor::new(number, line);
            if let Some(rule) = parse_line(&mut cursor)? {
                rules.push(rule);
            }
        }
        Ok(FingerprintRules { rules })
    }

    /// The first rule that matches the event.
    pub fn first_match(&self, event: &Event) -> Option<&FingerprintRule> {
        self.rules.iter().find(|rule| rule.matches(event))
    }

    pub fn rules(&self) -> &[FingerprintRule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exception, Exceptions, Stacktrace};

    fn event_with(ty: &str, value: &str, frames: Vec<Frame>) -> Event {
        Event {
            exception: Some(Exceptions::Values {
                values: vec![Exception {
                    ty: Some(ty.into()),
                    value: Some(value.into()),
                    stacktrace: Some(Stacktrace { frames }),
                    ..Exception::default()
                }],
            }),
            ..Event::default()
        }
    }

    #[test]
    fn parses_values_and_title() {
        let rules = FingerprintRules::parse(
            r#"stack.function:"ConnectionPool.*" error.value:"*timeout*" -> db-timeout, {{ transaction }} title="DB timeout" # note"#,
        )
        .expect("valid");
        let rule = &rules.rules()[0];
        assert_eq!(rule.fingerprint, ["db-timeout", "{{ transaction }}"]);
        assert_eq!(rule.title.as_deref(), Some("DB timeout"));
        assert_eq!(
            rule.text,
            r#"stack.function:"ConnectionPool.*" error.value:"*timeout*" -> db-timeout, {{ transaction }} title="DB timeout""#
        );
    }

    #[test]
    fn frame_matchers_share_a_frame() {
        let rules =
            FingerprintRules::parse("stack.function:connect stack.module:db.* -> x").expect("ok");
        let split = event_with(
            "E",
            "v",
            vec![
                Frame {
                    function: Some("connect".into()),
                    module: Some("net".into()),
                    ..Frame::default()
                },
                Frame {
                    function: Some("query".into()),
                    module: Some("db.pool".into()),
                    ..Frame::default()
                },
            ],
        );
        assert!(rules.first_match(&split).is_none());
        let same = event_with(
            "E",
            "v",
            vec![Frame {
                function: Some("connect".into()),
                module: Some("db.pool".into()),
                ..Frame::default()
            }],
        );
        assert!(rules.first_match(&same).is_some());
    }

    #[test]
    fn placeholders_must_close() {
        let err = FingerprintRules::parse("type:E -> a-{{ type").expect_err("open");
        assert_eq!(err.column, 13);
        let err = FingerprintRules::parse(r#"type:E -> "x {{ type""#).expect_err("open");
        assert_eq!(err.column, 14);
    }

    #[test]
    fn missing_level_counts_as_error() {
        let rules = FingerprintRules::parse("level:ERROR -> e").expect("ok");
        assert!(rules.first_match(&Event::default()).is_some());
    }
}
