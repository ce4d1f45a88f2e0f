//! Stack trace rules: parsing and evaluation.

use super::builtin::BUILTIN_RULES;
use super::glob::{Glob, GlobMode};
use super::matchers::FrameMatch;
use super::syntax::{Cursor, Term, TermKind, lines};
use super::{FrameState, RuleError, StackContext};
use std::sync::LazyLock;

/// A project's stack trace rules (or the built-in ones).
#[derive(Debug, Clone, Default)]
pub struct StackRules {
    rules: Vec<StackRule>,
    max_frames: Option<usize>,
    min_frames: Option<usize>,
    /// Built-in `±app` actions only decide frames whose in-app state was
    /// unknown when [`StackRules::apply`] started.
    builtin: bool,
}

#[derive(Debug, Clone)]
struct StackRule {
    matchers: Vec<StackMatcher>,
    actions: Vec<Action>,
    /// The matchers as written, for hints.
    matchers_text: String,
}

#[derive(Debug, Clone)]
struct StackMatcher {
    negated: bool,
    field: StackField,
}

#[derive(Debug, Clone)]
enum StackField {
    Frame(FrameMatch),
    Category(Glob),
    ExceptionType(Glob),
    ExceptionValue(Glob),
    Mechanism(Glob),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// The matched frame.
    Frame,
    /// `^`: frames after the matched one (towards the crash).
    Callees,
    /// `v`: frames before the matched one (towards `main`).
    Callers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    App,
    Group,
}

#[derive(Debug, Clone)]
enum Action {
    Set {
        flag: Flag,
        value: bool,
        range: Range,
        text: String,
    },
    Category(String),
}

impl StackMatcher {
    fn matches(&self, context: &StackContext<'_>, state: &FrameState<'_>) -> bool {
        let matched = match &self.field {
            StackField::Frame(matcher) => matcher.matches(state.frame, state.family, state.in_app),
            StackField::Category(glob) => glob.is_match_opt(state.category.as_deref()),
            StackField::ExceptionType(glob) => glob.is_match_opt(context.exception_type),
            StackField::ExceptionValue(glob) => glob.is_match_opt(context.exception_value),
            StackField::Mechanism(glob) => glob.is_match_opt(context.mechanism),
        };
        matched != self.negated
    }
}

fn parse_matcher(term: &Term, cursor: &Cursor) -> Result<StackMatcher, RuleError> {
    let value_error = |message: String| cursor.error(term.value_column, message);
    let field = if let Some(parsed) = FrameMatch::parse(&term.name, &term.value) {
        StackField::Frame(parsed.map_err(value_error)?)
    } else {
        let (mode, make): (GlobMode, fn(Glob) -> StackField) = match term.name.as_str() {
            "category" => (GlobMode::CaseSensitive, StackField::Category),
            "type" | "error.type" => (GlobMode::CaseSensitive, StackField::ExceptionType),
            "value" | "error.value" => (GlobMode::CaseInsensitive, StackField::ExceptionValue),
            "mechanism" | "error.mechanism" => (GlobMode::CaseSensitive, StackField::Mechanism),
            other => {
                return Err(cursor.error(term.name_column, format!("unknown matcher `{other}`")));
            }
        };
        make(Glob::new(&term.value, mode).map_err(value_error)?)
    };
    Ok(StackMatcher {
        negated: term.negated,
        field,
    })
}

fn parse_flag(term: &Term) -> Option<Action> {
    let mut rest = term.name.as_str();
    let range = if let Some(after) = rest.strip_prefix('^') {
        rest = after;
        Range::Callees
    } else if let Some(after) = rest.strip_prefix('v') {
        rest = after;
        Range::Callers
    } else {
        Range::Frame
    };
    let (value, rest) = if let Some(after) = rest.strip_prefix('+') {
        (true, after)
    } else {
        (false, rest.strip_prefix('-')?)
    };
    let flag = match rest {
        "app" => Flag::App,
        "group" => Flag::Group,
        _ => return None,
    };
    Some(Action::Set {
        flag,
        value,
        range,
        text: term.text.clone(),
    })
}

fn parse_count(term: &Term, cursor: &Cursor, minimum: usize) -> Result<usize, RuleError> {
    let count: usize = term.value.parse().map_err(|_| {
        cursor.error(
            term.value_column,
            format!(
                "`{}` expects a non-negative integer, found `{}`",
                term.name, term.value
            ),
        )
    })?;
    if count < minimum {
        return Err(cursor.error(
            term.value_column,
            format!("`{}` must be at least {minimum}", term.name),
        ));
    }
    Ok(count)
}

impl StackRules {
    /// Parses a project's stack trace rules.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        Self::parse_with(text, false)
    }

    fn parse_with(text: &str, builtin: bool) -> Result<Self, RuleError> {
        let mut rules = StackRules {
            builtin,
            ..StackRules::default()
        };
        for (number, line) in lines(text) {
            let mut cursor = Cursor::new(number, line);
            let mut matchers = Vec::new();
            let mut matcher_texts: Vec<String> = Vec::new();
            let mut actions = Vec::new();
            // `max-frames=`/`min-frames=` seen on this line, for the check
            // that they stand alone.
            let mut frame_limit: Option<Term> = None;
            let mut first_action_column = None;
            while let Some(term) = cursor.next_term()? {
                if term.negated && term.kind != TermKind::Matcher {
                    return Err(cursor.error(term.column, "only matchers can be negated with `!`"));
                }
                match term.kind {
                    TermKind::Matcher => {
                        if first_action_column.is_some() {
                            return Err(cursor.error(
                                term.column,
                                format!("matcher `{}` after an action", term.text),
                            ));
                        }
                        matchers.push(parse_matcher(&term, &cursor)?);
                        matcher_texts.push(term.text.clone());
                    }
                    TermKind::Flag => {
                        let action = parse_flag(&term).ok_or_else(|| {
                            cursor.error(term.column, format!("unknown action `{}`", term.name))
                        })?;
                        first_action_column.get_or_insert(term.column);
                        actions.push(action);
                    }
                    TermKind::Assign => {
                        first_action_column.get_or_insert(term.column);
                        match term.name.as_str() {
                            "category" => actions.push(Action::Category(term.value.clone())),
                            "max-frames" => {
                                rules.max_frames = Some(parse_count(&term, &cursor, 1)?);
                                frame_limit = Some(term);
                            }
                            "min-frames" => {
                                rules.min_frames = Some(parse_count(&term, &cursor, 0)?);
                                frame_limit = Some(term);
                            }
                            other => {
                                return Err(cursor.error(
                                    term.name_column,
                                    format!("unknown action `{other}=`"),
                                ));
                            }
                        }
                    }
                }
            }
            if let Some(limit) = frame_limit {
                if !matchers.is_empty() || !actions.is_empty() {
                    return Err(cursor.error(
                        limit.column,
                        format!("`{}` must stand alone on its line", limit.name),
                    ));
                }
                continue;
            }
            match (matchers.is_empty(), actions.is_empty()) {
                (true, true) => {}
                (false, true) => {
                    return Err(cursor.error(
                        cursor.column(),
                        "rule has matchers but no actions (expected e.g. `+app`, `-group`, `category=NAME`)",
                    ));
                }
                (true, false) => {
                    return Err(cursor.error(
                        first_action_column.unwrap_or(1),
                        "rule has actions but no matchers",
                    ));
                }
                (false, false) => rules.rules.push(StackRule {
                    matchers,
                    actions,
                    matchers_text: matcher_texts.join(" "),
                }),
            }
        }
        Ok(rules)
    }

    /// The built-in rules, applied before a project's own.
    pub fn builtin() -> &'static StackRules {
        static BUILTIN: LazyLock<StackRules> = LazyLock::new(|| {
            StackRules::parse_with(BUILTIN_RULES, true).expect("built-in stack rules parse")
        });
        &BUILTIN
    }

    /// The built-in rules' source text.
    pub fn builtin_text() -> &'static str {
        BUILTIN_RULES
    }

    /// Whether these are the built-in rules (whose `±app` never overrides
    /// an in-app state that was already known).
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// Number of frame rules (not counting `max-frames`/`min-frames`).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.max_frames.is_none() && self.min_frames.is_none()
    }

    /// Applies every rule, in order, to the frames (oldest/caller first).
    pub fn apply(&self, context: &StackContext<'_>, frames: &mut [FrameState<'_>]) {
        let known_in_app: Vec<bool> = if self.builtin {
            frames.iter().map(|frame| frame.in_app.is_some()).collect()
        } else {
            Vec::new()
        };
        let source = if self.builtin {
            "built-in stack trace rule"
        } else {
            "stack trace rule"
        };
        let mut matched = Vec::new();
        for rule in &self.rules {
            matched.clear();
            matched.extend(frames.iter().enumerate().filter_map(|(index, state)| {
                rule.matchers
                    .iter()
                    .all(|matcher| matcher.matches(context, state))
                    .then_some(index)
            }));
            for &index in &matched {
                for action in &rule.actions {
                    let (flag, value, range, text) = match action {
                        Action::Category(name) => {
                            if let Some(state) = frames.get_mut(index) {
                                state.category = Some(name.clone());
                            }
                            continue;
                        }
                        Action::Set {
                            flag,
                            value,
                            range,
                            text,
                        } => (*flag, *value, *range, text),
                    };
                    let targets = match range {
                        Range::Frame => index..index + 1,
                        Range::Callees => index + 1..frames.len(),
                        Range::Callers => 0..index,
                    };
                    for target in targets {
                        let Some(state) = frames.get_mut(target) else {
                            continue;
                        };
                        let hint = || format!("{source} ({} {text})", rule.matchers_text);
                        match flag {
                            Flag::App => {
                                if known_in_app.get(target).copied().unwrap_or(false)
                                    || state.in_app == Some(value)
                                {
                                    continue;
                                }
                                state.in_app = Some(value);
                                if state.contributes {
                                    let what = if value { "in-app" } else { "out of app" };
                                    state.hint = Some(format!("marked {what} by {}", hint()));
                                }
                            }
                            Flag::Group => {
                                if state.contributes == value {
                                    continue;
                                }
                                state.contributes = value;
                                let what = if value { "into" } else { "out of" };
                                state.hint = Some(format!("marked {what} group by {}", hint()));
                            }
                        }
                    }
                }
            }
        }
    }

    /// `max-frames=N`: only the N most recent contributing frames count.
    pub fn max_frames(&self) -> Option<usize> {
        self.max_frames
    }

    /// `min-frames=N`: fewer contributing frames and the stack trace does
    /// not contribute.
    pub fn min_frames(&self) -> Option<usize> {
        self.min_frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Family, Frame};

    fn frame(function: &str) -> Frame {
        Frame {
            function: Some(function.into()),
            ..Frame::default()
        }
    }

    fn run(rules: &StackRules, frames: &[Frame], family: Family) -> Vec<(Option<bool>, bool)> {
        let mut states: Vec<_> = frames.iter().map(|f| FrameState::new(f, family)).collect();
        rules.apply(&StackContext::default(), &mut states);
        states.iter().map(|s| (s.in_app, s.contributes)).collect()
    }

    #[test]
    fn builtin_rules_parse() {
        let builtin = StackRules::builtin();
        assert!(builtin.is_builtin());
        assert!(builtin.len() > 40);
        assert_eq!(builtin.max_frames(), None);
    }

    #[test]
    fn caret_and_v_prefixes() {
        let frames = [frame("a"), frame("b"), frame("c"), frame("d")];
        let rules = StackRules::parse("function:b ^-group").expect("valid");
        assert_eq!(
            run(&rules, &frames, Family::Other)
                .iter()
                .map(|s| s.1)
                .collect::<Vec<_>>(),
            [true, true, false, false]
        );
        let rules = StackRules::parse("function:c v-group").expect("valid");
        assert_eq!(
            run(&rules, &frames, Family::Other)
                .iter()
                .map(|s| s.1)
                .collect::<Vec<_>>(),
            [false, false, true, true]
        );
    }

    #[test]
    fn rule_matches_on_state_before_its_own_actions() {
        // Every frame is in-app; `app:yes ^-app` must see them all as in-app.
        let frames: Vec<Frame> = ["a", "b", "c"]
            .iter()
            .map(|f| Frame {
                in_app: Some(true),
                ..frame(f)
            })
            .collect();
        let rules = StackRules::parse("app:yes function:a ^-app").expect("valid");
        let out = run(&rules, &frames, Family::Other);
        assert_eq!(out[0].0, Some(true));
        assert_eq!(out[1].0, Some(false));
        assert_eq!(out[2].0, Some(false));
    }

    #[test]
    fn hints_name_the_rule_and_action() {
        let frames = [frame("main"), frame("panic_handler"), frame("inner")];
        let rules =
            StackRules::parse("stack.function:panic_handler ^-group -group").expect("valid");
        let mut states: Vec<_> = frames
            .iter()
            .map(|f| FrameState::new(f, Family::Native))
            .collect();
        rules.apply(&StackContext::default(), &mut states);
        assert_eq!(states[0].hint, None);
        assert_eq!(
            states[2].hint.as_deref(),
            Some("marked out of group by stack trace rule (stack.function:panic_handler ^-group)")
        );
        assert_eq!(
            states[1].hint.as_deref(),
            Some("marked out of group by stack trace rule (stack.function:panic_handler -group)")
        );
    }

    #[test]
    fn exception_matchers_use_the_context() {
        let frames = [frame("a")];
        let rules = StackRules::parse("type:Timeout* value:*DATABASE* mechanism:generic -group")
            .expect("valid");
        let mut states: Vec<_> = frames
            .iter()
            .map(|f| FrameState::new(f, Family::Python))
            .collect();
        let context = StackContext {
            exception_type: Some("TimeoutError"),
            exception_value: Some("database gone"),
            mechanism: Some("generic"),
            ..StackContext::default()
        };
        rules.apply(&context, &mut states);
        assert!(!states[0].contributes);
        let mut states: Vec<_> = frames
            .iter()
            .map(|f| FrameState::new(f, Family::Python))
            .collect();
        rules.apply(&StackContext::default(), &mut states);
        assert!(states[0].contributes);
    }

    #[test]
    fn category_actions_feed_category_matchers() {
        let frames = [frame("log_info"), frame("work")];
        let rules =
            StackRules::parse("function:log* category=telemetry\ncategory:telemetry -group")
                .expect("valid");
        let out = run(&rules, &frames, Family::Other);
        assert_eq!(out, vec![(None, false), (None, true)]);
    }

    #[test]
    fn frame_limits_stand_alone() {
        let rules = StackRules::parse("max-frames=5\nmin-frames=2").expect("valid");
        assert_eq!(rules.max_frames(), Some(5));
        assert_eq!(rules.min_frames(), Some(2));
        let err = StackRules::parse("function:a max-frames=3").expect_err("combined");
        assert_eq!(err.column, 12);
        let err = StackRules::parse("max-frames=0").expect_err("zero");
        assert_eq!(err.column, 12);
    }
}
