//! The `stacktrace` component: frames after stack trace rules, in-app
//! selection for the app variant, recursion and frame limits.

use super::component::Component;
use super::frame::frame_component;
use super::rules::{FrameState, StackContext, StackRules};
use crate::event::{Family, Frame};

/// Which of the two stacktrace-based variants is being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantKind {
    /// Only in-app frames contribute.
    App,
    /// Every frame contributes.
    System,
}

impl VariantKind {
    pub fn name(self) -> &'static str {
        match self {
            VariantKind::App => "app",
            VariantKind::System => "system",
        }
    }
}

/// The stack trace rules in force: built-ins, then the project's own.
#[derive(Debug, Clone, Copy)]
pub struct RuleSet<'a> {
    pub project: &'a StackRules,
}

impl RuleSet<'_> {
    fn apply(&self, context: &StackContext<'_>, states: &mut [FrameState<'_>]) {
        StackRules::builtin().apply(context, states);
        self.project.apply(context, states);
    }

    fn max_frames(&self) -> Option<usize> {
        self.project
            .max_frames()
            .or_else(|| StackRules::builtin().max_frames())
    }

    fn min_frames(&self) -> Option<usize> {
        self.project
            .min_frames()
            .or_else(|| StackRules::builtin().min_frames())
    }
}

/// The same thing built for both stacktrace-based variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variants<T> {
    pub app: T,
    pub system: T,
}

impl<T> Variants<T> {
    /// Builds both from one function of the variant kind.
    pub fn build(mut make: impl FnMut(VariantKind) -> T) -> Variants<T> {
        Variants {
            app: make(VariantKind::App),
            system: make(VariantKind::System),
        }
    }

    pub fn get(&self, kind: VariantKind) -> &T {
        match kind {
            VariantKind::App => &self.app,
            VariantKind::System => &self.system,
        }
    }

    pub fn into_parts(self) -> (T, T) {
        (self.app, self.system)
    }
}

/// Builds the `stacktrace` component of both variants. Rules and per-frame
/// normalization run once; only in-app selection, recursion and frame
/// limits differ between the variants.
pub fn stacktrace_components(
    frames: &[Frame],
    event_platform: Option<&str>,
    context: &StackContext<'_>,
    rules: RuleSet<'_>,
) -> Variants<Component> {
    let mut states: Vec<FrameState<'_>> = frames
        .iter()
        .map(|frame| FrameState {
            frame,
            family: Family::of_frame(frame.platform.as_deref(), event_platform),
            in_app: frame.in_app,
            contributes: true,
            hint: None,
            category: None,
        })
        .collect();
    rules.apply(context, &mut states);
    let system: Vec<Component> = states.iter().map(frame_after_rules).collect();
    let app: Vec<Component> = system
        .iter()
        .zip(&states)
        .map(|(component, state)| {
            let mut component = component.clone();
            if state.in_app != Some(true) {
                component.exclude("non app frame");
            }
            component
        })
        .collect();
    Variants {
        app: finish_stacktrace(app, rules, VariantKind::App),
        system: finish_stacktrace(system, rules, VariantKind::System),
    }
}

fn finish_stacktrace(
    mut components: Vec<Component>,
    rules: RuleSet<'_>,
    kind: VariantKind,
) -> Component {
    let frame_count = components.len();
    exclude_recursion(&mut components);
    if let Some(max) = rules.max_frames() {
        apply_frame_limit(&mut components, max);
    }
    let contributing = components
        .iter()
        .filter(|c| c.has_contributing_leaves())
        .count();
    let mut stacktrace = Component::new("stacktrace");
    for component in components {
        stacktrace.push_child(component);
    }
    if frame_count == 0 {
        stacktrace.exclude("stacktrace has no frames");
    } else if contributing == 0 {
        stacktrace.exclude(match kind {
            VariantKind::App => "ignored because it contains no in-app frames",
            VariantKind::System => "ignored because no frame contributes",
        });
    } else if let Some(min) = rules.min_frames().filter(|&min| contributing < min) {
        stacktrace.exclude(format!(
            "ignored because only {contributing} frames contribute (min-frames={min})"
        ));
    }
    stacktrace
}

fn frame_after_rules(state: &FrameState<'_>) -> Component {
    let mut component = frame_component(state.frame, state.family);
    if !state.contributes {
        let hint = state
            .hint
            .clone()
            .unwrap_or_else(|| "marked out of group by a stack trace rule".to_string());
        component.exclude(hint);
    }
    component
}

/// A frame identical to the one before it is recursion and does not contribute.
fn exclude_recursion(components: &mut [Component]) {
    for index in 1..components.len() {
        let same = {
            let previous = components[index - 1].all_leaves();
            let current = components[index].all_leaves();
            !current.is_empty() && previous == current
        };
        if same {
            components[index].exclude("ignored due to recursion");
        }
    }
}

/// Only the `max` most recent contributing frames contribute.
fn apply_frame_limit(components: &mut [Component], max: usize) {
    let mut kept = 0usize;
    for component in components.iter_mut().rev() {
        if !component.has_contributing_leaves() {
            continue;
        }
        if kept < max {
            kept += 1;
        } else {
            component.exclude(format!(
                "ignored because of the frame limit (max-frames={max})"
            ));
        }
    }
}
