//! The `exception` and `chained-exception` components, including
//! exception groups.

use super::component::Component;
use super::message::parameterize;
use super::rules::StackContext;
use super::stacktrace::{RuleSet, VariantKind, stacktrace_component};
use crate::event::Exception;
use std::collections::{HashMap, HashSet};

/// One exception: `stacktrace`, then `type`, then `value` (compat order).
pub fn exception_component(
    exception: &Exception,
    event_platform: Option<&str>,
    rules: RuleSet<'_>,
    kind: VariantKind,
) -> Component {
    let mut component = Component::new("exception");
    let frames = exception
        .stacktrace
        .as_ref()
        .map_or(&[][..], |stacktrace| stacktrace.frames.as_slice());
    if !frames.is_empty() {
        let context = StackContext {
            event_platform,
            exception_type: exception.ty.as_deref(),
            exception_value: exception.value.as_deref(),
            mechanism: exception.mechanism.as_ref().and_then(|m| m.ty.as_deref()),
        };
        component.push_child(stacktrace_component(
            frames,
            event_platform,
            &context,
            rules,
            kind,
        ));
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
        if !frames.is_empty() {
            value_component.exclude("ignored because the stacktrace takes precedence");
        }
        component.push_child(value_component);
    }
    let stack_contributes = component
        .child("stacktrace")
        .is_some_and(Component::has_contributing_leaves);
    if kind == VariantKind::App && !frames.is_empty() && !stack_contributes {
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

/// All exceptions of an event, after exception-group reduction.
pub fn exceptions_component(
    exceptions: &[Exception],
    event_platform: Option<&str>,
    rules: RuleSet<'_>,
    kind: VariantKind,
) -> Component {
    let selected = select_exceptions(exceptions, event_platform, rules);
    let mut components: Vec<Component> = selected
        .iter()
        .map(|exception| exception_component(exception, event_platform, rules, kind))
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
}

/// Exception groups keep their distinct non-group leaves; a single distinct
/// leaf stands alone. Malformed trees fall back to the full list.
fn select_exceptions<'e>(
    exceptions: &'e [Exception],
    event_platform: Option<&str>,
    rules: RuleSet<'_>,
) -> Vec<&'e Exception> {
    let all: Vec<&Exception> = exceptions.iter().collect();
    if !is_exception_group(exceptions) || !is_well_formed_tree(exceptions) {
        return all;
    }
    let mut seen = HashSet::new();
    let mut leaves = Vec::new();
    for exception in exceptions {
        let is_group = exception
            .mechanism
            .as_ref()
            .and_then(|m| m.is_exception_group)
            .unwrap_or(false);
        if is_group {
            continue;
        }
        let key: Vec<String> =
            exception_component(exception, event_platform, rules, VariantKind::System)
                .contributing_leaves()
                .into_iter()
                .map(str::to_owned)
                .collect();
        if seen.insert(key) {
            leaves.push(exception);
        }
    }
    if leaves.is_empty() { all } else { leaves }
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
