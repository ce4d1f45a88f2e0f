//! Human-readable component trees: `+` contributes, `-` does not, with hints.

use stackherd::fingerprint::{Component, ComponentValue, Grouping};
use std::fmt::Write as _;

pub fn render_grouping(grouping: &Grouping) -> String {
    let mut out = String::new();
    if let Some(title) = &grouping.title {
        let _ = writeln!(out, "title: {title}");
    }
    let hashes = grouping.hashes();
    let _ = writeln!(out, "hashes: {}", hashes.join(" "));
    for variant in &grouping.variants {
        let hash = variant.hash.as_deref().unwrap_or("(does not contribute)");
        let _ = write!(out, "\nvariant {}: {hash}", variant.name);
        if let Some(hint) = &variant.hint {
            let _ = write!(out, "  ({hint})");
        }
        out.push('\n');
        if !variant.values.is_empty() {
            let _ = writeln!(out, "  values: {:?}", variant.values);
        }
        if let Some(component) = &variant.component {
            render_component(component, 1, true, &mut out);
        }
    }
    out
}

fn render_component(
    component: &Component,
    depth: usize,
    parent_contributes: bool,
    out: &mut String,
) {
    let contributes = parent_contributes && component.contributes;
    let mark = if contributes { '+' } else { '-' };
    let indent = "  ".repeat(depth);
    let leaves: Vec<String> = component
        .values
        .iter()
        .filter_map(|value| match value {
            ComponentValue::Leaf(leaf) => Some(format!("{leaf:?}")),
            ComponentValue::Child(_) => None,
        })
        .collect();
    let _ = write!(out, "{indent}{mark} {}", component.id);
    if !leaves.is_empty() {
        let _ = write!(out, " {}", leaves.join(" "));
    }
    if let Some(hint) = &component.hint {
        let _ = write!(out, "  ({hint})");
    }
    out.push('\n');
    for child in component.children() {
        render_component(child, depth + 1, contributes, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackherd::fingerprint::Variant;

    #[test]
    fn marks_contribution_and_hints() {
        let component = Component::new("app")
            .with_child(Component::leaf("type", "KeyError"))
            .with_child(Component::leaf("value", "x").excluded("stacktrace takes precedence"));
        let grouping = Grouping {
            variants: vec![Variant {
                name: "app".into(),
                hash: Some("abc".into()),
                hint: None,
                values: Vec::new(),
                component: Some(component),
            }],
            title: None,
        };
        let text = render_grouping(&grouping);
        assert!(text.contains("    + type \"KeyError\"\n"), "{text}");
        assert!(
            text.contains("    - value \"x\"  (stacktrace takes precedence)"),
            "{text}"
        );
    }
}
