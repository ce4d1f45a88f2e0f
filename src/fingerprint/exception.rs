//! The `exception` and `chained-exception` components, including
//! exception groups.

use super::component::Component;
use super::message::parameterize;
use super::rules::StackContext;
use super::stacktrace::{RuleSet, VariantKind, Variants, stacktrace_components};
use crate::event::Exception;
use std::collections::{HashMap, HashSet};

/// One exception, for both variants: `stacktrace`, then `type`, then
/// `value` (compat order).
pub fn exception_components(
    exception: &Exception,
    event_platform: Option<&str>,
    rules: RuleSet<'_>,
) -> Variants<Component> {
    let frames = exception
        .stacktrace
        .as_ref()
        .map_or(&[][..], |stacktrace| stacktrace.frames.as_slice());
    let mut stacktraces = (!frames.is_empty()).then(|| {
        let context = StackContext {
            event_platform,
            exception_type: exception.ty.as_deref(),
            exception_value: exception.value.as_deref(),
            mechanism: exception.mechanism.as_ref().and_then(|m| m.ty.as_deref()),
        };
        stacktrace_components(frames, event_platform, &context, rules).into_parts()
    });
    Variants::build(|kind| {
        let stacktrace = stacktraces.as_mut().map(|(app, system)| match kind {
            VariantKind::App => std::mem::replace(app, Component::new("stacktrace")),
            VariantKind::System => std::mem::replace(system, Component::new("stacktrace")),
        });
        assemble_exception(exception, stacktrace, kind)
    })
}

fn assemble_exception(
    exception: &Exception,
    stacktrace: Option<Component>,
    kind: VariantKind,
) -> Component {
    let has_frames = stacktrace.is_some();
    let stack_contributes = stacktrace
        .as_ref()
        .is_some_and(Component::has_contributing_leaves);
    let mut component = Component::new("exception");
    if let Some(stacktrace) = stacktrace {
        component.push_child(stacktrace);
    }
    if let Some(ty) = exception.ty.as_deref().filter(|ty| !ty.is_empty()) {
        let mut type_component = Component::leaf("type", ty);
        if is_synthetic(exception) {
            type_component.exclude("ignored because the exception is synthetic");
        }
        component.push_child(type_component);
    }
    if let Some(value) = exception.value.as_deref().filter(|v| !v.trim().is_empty()) {
        let mut value_component = Component::leaf("value", parameterize(value));
        if has_frames {
            value_component.exclude("ignored because the stacktrace takes precedence");
        }
        component.push_child(value_component);
    }
    if kind == VariantKind::App && has_frames && !stack_contributes {
        // The app variant is about the project's own code: without in-app
        // frames it has nothing to say, and the system variant decides.
        component.exclude("ignored because it contains no in-app frames");
    } else if !component.has_contributing_leaves() {
        component.exclude("ignored because nothing in the exception contributes");
    }
    component
}

fn is_synthetic(exception: &Exception) -> bool {
    exception
        .mechanism
        .as_ref()
        .and_then(|m| m.synthetic)
        .unwrap_or(false)
}

/// All exceptions of an event for both variants, after exception-group
/// reduction.
pub fn exceptions_components(
    exceptions: &[Exception],
    event_platform: Option<&str>,
    rules: RuleSet<'_>,
) -> Variants<Component> {
    let all: Vec<Variants<Component>> = exceptions
        .iter()
        .map(|exception| exception_components(exception, event_platform, rules))
        .collect();
    let selected = select_exceptions(exceptions, all);
    Variants::build(|kind| {
        let mut components: Vec<Component> = selected
            .iter()
            .map(|variants| variants.get(kind).clone())
            .collect();
        if components.len() == 1 {
            if let Some(only) = components.pop() {
                return only;
            }
        }
        let mut chain = Component::new("chained-exception");
        for component in components {
            chain.push_child(component);
        }
        if !chain.has_contributing_leaves() {
            chain.exclude("ignored because no exception in the chain contributes");
        }
        chain
    })
}

/// Exception groups keep their distinct non-group leaves; a single distinct
/// leaf stands alone. Malformed trees fall back to the full list.
fn select_exceptions(
    exceptions: &[Exception],
    components: Vec<Variants<Component>>,
) -> Vec<Variants<Component>> {
    if !is_exception_group(exceptions) || !is_well_formed_tree(exceptions) {
        return components;
    }
    let mut seen = HashSet::new();
    let mut leaves = Vec::new();
    for (exception, variants) in exceptions.iter().zip(&components) {
        let is_group = exception
            .mechanism
            .as_ref()
            .and_then(|m| m.is_exception_group)
            .unwrap_or(false);
        if is_group {
            continue;
        }
        let key: Vec<String> = variants
            .system
            .contributing_leaves()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if seen.insert(key) {
            leaves.push(variants.clone());
        }
    }
    if leaves.is_empty() {
        components
    } else {
        leaves
    }
}

fn is_exception_group(exceptions: &[Exception]) -> bool {
    exceptions.iter().any(|exception| {
        exception
            .mechanism
            .as_ref()
            .is_some_and(|m| m.is_exception_group == Some(true) || m.parent_id.is_some())
    })
}

/// Every exception has a unique id, exactly one root, parents that exist,
/// and no cycles. (A leaf's own cause may hang below it.)
fn is_well_formed_tree(exceptions: &[Exception]) -> bool {
    let mut parents: HashMap<u64, Option<u64>> = HashMap::new();
    for exception in exceptions {
        let Some(mechanism) = exception.mechanism.as_ref() else {
            return false;
        };
        let Some(id) = mechanism.exception_id else {
            return false;
        };
        if parents.insert(id, mechanism.parent_id).is_some() {
            return false;
        }
    }
    let roots = parents.values().filter(|parent| parent.is_none()).count();
    if roots != 1 {
        return false;
    }
    parents.keys().all(|&id| reaches_root(id, &parents))
}

fn reaches_root(start: u64, parents: &HashMap<u64, Option<u64>>) -> bool {
    let mut current = start;
    for _ in 0..=parents.len() {
        match parents.get(&current) {
            Some(Some(parent)) => current = *parent,
            Some(None) => return true,
            None => return false,
        }
    }
    false
}
