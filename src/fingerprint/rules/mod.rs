//! Stack trace rules and fingerprint rules (placeholder until they land).
use crate::event::{Event, Family, Frame};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule syntax error at line {line}, column {column}: {message}")]
pub struct RuleError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct StackContext<'a> {
    pub event_platform: Option<&'a str>,
    pub exception_type: Option<&'a str>,
    pub exception_value: Option<&'a str>,
    pub mechanism: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct FrameState<'a> {
    pub frame: &'a Frame,
    pub family: Family,
    pub in_app: Option<bool>,
    pub contributes: bool,
    pub hint: Option<String>,
    pub category: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct StackRules;

impl StackRules {
    pub fn parse(_text: &str) -> Result<Self, RuleError> {
        Ok(StackRules)
    }
    pub fn builtin() -> &'static StackRules {
        static EMPTY: StackRules = StackRules;
        &EMPTY
    }
    pub fn apply(&self, _context: &StackContext<'_>, _frames: &mut [FrameState<'_>]) {}
    pub fn max_frames(&self) -> Option<usize> {
        None
    }
    pub fn min_frames(&self) -> Option<usize> {
        None
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FingerprintRule {
    pub fingerprint: Vec<String>,
    pub title: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct FingerprintRules;

impl FingerprintRules {
    pub fn parse(_text: &str) -> Result<Self, RuleError> {
        Ok(FingerprintRules)
    }
    pub fn first_match(&self, _event: &Event) -> Option<&FingerprintRule> {
        None
    }
}
