//! Turns an event into its grouping variants (`newstyle:2023-01-11`
//! behaviour): exception > threads > stacktrace > message, app and system
//! variants, fingerprint rules, custom and hybrid fingerprints.

use super::component::{Component, hash_component, hash_values};
use super::custom::{FingerprintMode, fingerprint_mode};
use super::exception::exceptions_components;
use super::grouping::{FALLBACK_HASH, Grouping, Variant};
use super::message::parameterize;
use super::rules::{FingerprintRules, RuleError, StackContext, StackRules};
use super::stacktrace::{RuleSet, VariantKind, Variants, stacktrace_components};
use crate::event::{Event, Thread};

/// Fingerprints events with one project's rules (built-in rules always apply).
#[derive(Debug, Clone, Default)]
pub struct Fingerprinter {
    stack_rules: StackRules,
    fingerprint_rules: FingerprintRules,
}

impl Fingerprinter {
    pub fn new(stack_rules: StackRules, fingerprint_rules: FingerprintRules) -> Self {
        Fingerprinter {
            stack_rules,
            fingerprint_rules,
        }
    }

    /// Reads one rules text holding both kinds: lines with `->` are
    /// fingerprint rules, the others stack trace rules. Errors keep the
    /// line numbers of the original text.
    pub fn from_rules_text(text: &str) -> Result<Self, RuleError> {
        let keep = |want_fingerprint: bool| -> String {
            text.lines()
                .map(|line| {
                    if is_fingerprint_rule(line) == want_fingerprint {
                        line
                    } else {
                        ""
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(Fingerprinter::new(
            StackRules::parse(&keep(false))?,
            FingerprintRules::parse(&keep(true))?,
        ))
    }

    /// Every variant of the event, with its component tree and hash.
    pub fn fingerprint(&self, event: &Event) -> Grouping {
        let rules = RuleSet {
            project: &self.stack_rules,
        };
        let mut variants = default_variants(event, rules);
        let rule = self.fingerprint_rules.first_match(event);
        let values = rule
            .map(|rule| rule.fingerprint.clone())
            .or_else(|| event.fingerprint.clone())
            .unwrap_or_default();
        match fingerprint_mode(&values, event) {
            FingerprintMode::Default => {}
            FingerprintMode::Custom(values) => variants = custom_variants(variants, values),
            FingerprintMode::Hybrid(values) => salt_variants(&mut variants, &values),
        }
        if variants.iter().all(|v| v.hash.is_none()) {
            variants.push(Variant {
                name: "fallback".into(),
                hash: Some(FALLBACK_HASH.into()),
                hint: Some("nothing in the event contributes".into()),
                values: Vec::new(),
                component: None,
            });
        }
        Grouping {
            variants,
            title: rule.and_then(|rule| rule.title.clone()),
        }
    }
}

/// A fingerprint rule has `->` outside quotes and before any comment.
fn is_fingerprint_rule(line: &str) -> bool {
    let mut in_quotes = false;
    let mut previous = ' ';
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if previous != '\\' => in_quotes = !in_quotes,
            '#' if !in_quotes && previous.is_whitespace() => return false,
            '-' if !in_quotes && chars.peek() == Some(&'>') => return true,
            _ => {}
        }
        previous = c;
    }
    false
}

/// The sources an event's hash can come from, in precedence order, for
/// both variants.
fn sources(event: &Event, rules: RuleSet<'_>) -> Variants<Vec<Component>> {
    let platform = event.platform.as_deref();
    let context = StackContext {
        event_platform: platform,
        ..StackContext::default()
    };
    let mut out = Variants {
        app: Vec::new(),
        system: Vec::new(),
    };
    let mut push = |variants: Variants<Component>| {
        let (app, system) = variants.into_parts();
        out.app.push(app);
        out.system.push(system);
    };
    if !event.exceptions().is_empty() {
        push(exceptions_components(event.exceptions(), platform, rules));
    }
    if let Some(thread) = select_thread(event.threads()) {
        let frames = thread
            .stacktrace
            .as_ref()
            .map_or(&[][..], |s| s.frames.as_slice());
        let stacktraces = stacktrace_components(frames, platform, &context, rules);
        let (app, system) = stacktraces.into_parts();
        push(Variants {
            app: Component::new("threads").with_child(app),
            system: Component::new("threads").with_child(system),
        });
    }
    if let Some(stacktrace) = event.stacktrace.as_ref() {
        push(stacktrace_components(
            &stacktrace.frames,
            platform,
            &context,
            rules,
        ));
    }
    out
}

/// The crashed thread, else the current one, else the only one.
fn select_thread(threads: &[Thread]) -> Option<&Thread> {
    let with_frames = |t: &&Thread| t.stacktrace.as_ref().is_some_and(|s| !s.frames.is_empty());
    threads
        .iter()
        .filter(with_frames)
        .find(|t| t.crashed == Some(true))
        .or_else(|| {
            threads
                .iter()
                .filter(with_frames)
                .find(|t| t.current == Some(true))
        })
        .or_else(|| match threads {
            [only] if with_frames(&only) => Some(only),
            _ => None,
        })
}

fn message_component(event: &Event) -> Option<Component> {
    event
        .message_text()
        .map(|text| Component::leaf("message", parameterize(text)))
}

/// App and system variants for stacktrace-based events, else the message
/// (`default`) variant, else nothing.
fn default_variants(event: &Event, rules: RuleSet<'_>) -> Vec<Variant> {
    let Variants { app, system } = sources(event, rules);
    match system.iter().position(Component::has_contributing_leaves) {
        Some(winner) => vec![
            stack_variant(VariantKind::App, app, winner, event),
            stack_variant(VariantKind::System, system, winner, event),
        ],
        None => message_variant(event, system).into_iter().collect(),
    }
}

fn stack_variant(
    kind: VariantKind,
    sources: Vec<Component>,
    winner: usize,
    event: &Event,
) -> Variant {
    let winner_id = sources.get(winner).map_or("", |c| c.id);
    let mut root = Component::new(kind.name());
    for (index, mut source) in sources.into_iter().enumerate() {
        if index != winner {
            source.exclude(format!("ignored because {winner_id} takes precedence"));
        }
        root.push_child(source);
    }
    if let Some(mut message) = message_component(event) {
        message.exclude(format!("ignored because {winner_id} takes precedence"));
        root.push_child(message);
    }
    let hash = hash_component(&root);
    let hint = hash.is_none().then(|| match kind {
        VariantKind::App => "ignored because it contains no in-app frames".to_string(),
        VariantKind::System => "nothing contributes".to_string(),
    });
    if hash.is_none() {
        root.contributes = false;
    }
    Variant {
        name: kind.name().into(),
        hash,
        hint,
        values: Vec::new(),
        component: Some(root),
    }
}

fn message_variant(event: &Event, sources: Vec<Component>) -> Option<Variant> {
    let message = message_component(event)?;
    let mut root = Component::new("default");
    for mut source in sources {
        source.exclude("ignored because it has no contributing frames");
        root.push_child(source);
    }
    root.push_child(message);
    Some(Variant {
        name: "default".into(),
        hash: hash_component(&root),
        hint: None,
        values: Vec::new(),
        component: Some(root),
    })
}

/// The fingerprint values alone make the hash; the built-in variants stay
/// for display but no longer contribute.
fn custom_variants(defaults: Vec<Variant>, values: Vec<String>) -> Vec<Variant> {
    let mut out = vec![Variant {
        name: "custom-fingerprint".into(),
        hash: Some(hash_values(values.iter().map(String::as_str))),
        hint: Some("custom fingerprint".into()),
        values,
        component: None,
    }];
    out.extend(defaults.into_iter().map(|mut variant| {
        variant.hash = None;
        variant.hint = Some("ignored because a custom fingerprint takes precedence".into());
        variant
    }));
    out
}

/// Hybrid fingerprint: each contributing variant's hash also covers the
/// extra values.
fn salt_variants(variants: &mut [Variant], values: &[String]) {
    for variant in variants.iter_mut() {
        let Some(component) = variant.component.as_ref() else {
            continue;
        };
        if variant.hash.is_none() {
            continue;
        }
        let leaves = component.contributing_leaves();
        variant.hash = Some(hash_values(
            leaves.into_iter().chain(values.iter().map(String::as_str)),
        ));
        variant.values = values.to_vec();
        variant.hint = Some("salted with fingerprint values (hybrid fingerprint)".into());
    }
}

#[cfg(test)]
mod tests {
    use super::is_fingerprint_rule;

    #[test]
    fn rules_text_is_split_on_unquoted_arrows_only() {
        assert!(is_fingerprint_rule("error.type:Timeout -> db-timeout"));
        assert!(!is_fingerprint_rule("function:\"operator->\" -group"));
        assert!(!is_fingerprint_rule("stack.module:a +app # was: a -> b"));
        assert!(!is_fingerprint_rule("# error.type:X -> y"));
        assert!(!is_fingerprint_rule("max-frames=5"));
    }
}
