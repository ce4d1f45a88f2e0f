//! The grouping component tree: what an event's hash is made of, and why
//! each part does or does not contribute.

use md5::{Digest, Md5};
use serde::Serialize;
use std::borrow::Cow;

/// A node of the tree. Leaves are strings; a hash is the md5 of the
/// contributing leaves in depth-first order, with no separator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// What this node is: `exception`, `stacktrace`, `frame`, `function`, …
    /// Static, so building a tree allocates only for values.
    pub id: &'static str,
    pub contributes: bool,
    /// Why it contributes or not, for people reading the tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<Cow<'static, str>>,
    pub values: Vec<ComponentValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ComponentValue {
    Leaf(String),
    Child(Component),
}

impl Component {
    /// A contributing node without values.
    pub fn new(id: &'static str) -> Self {
        Component {
            id,
            contributes: true,
            hint: None,
            values: Vec::new(),
        }
    }

    /// A contributing node holding one string.
    pub fn leaf(id: &'static str, value: impl Into<String>) -> Self {
        Component::new(id).with_value(value)
    }

    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.values.push(ComponentValue::Leaf(value.into()));
        self
    }

    pub fn with_child(mut self, child: Component) -> Self {
        self.values.push(ComponentValue::Child(child));
        self
    }

    pub fn push_child(&mut self, child: Component) {
        self.values.push(ComponentValue::Child(child));
    }

    /// Marks the node as not contributing, keeping the first reason given.
    pub fn exclude(&mut self, hint: impl Into<Cow<'static, str>>) {
        if self.contributes || self.hint.is_none() {
            self.hint = Some(hint.into());
        }
        self.contributes = false;
    }

    pub fn excluded(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.exclude(hint);
        self
    }

    pub fn with_hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn children(&self) -> impl Iterator<Item = &Component> {
        self.values.iter().filter_map(|value| match value {
            ComponentValue::Child(child) => Some(child),
            ComponentValue::Leaf(_) => None,
        })
    }

    pub fn children_mut(&mut self) -> impl Iterator<Item = &mut Component> {
        self.values.iter_mut().filter_map(|value| match value {
            ComponentValue::Child(child) => Some(child),
            ComponentValue::Leaf(_) => None,
        })
    }

    pub fn child(&self, id: &str) -> Option<&Component> {
        self.children().find(|child| child.id == id)
    }

    /// The contributing leaves, depth first. Empty when the node does not contribute.
    pub fn contributing_leaves(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_leaves(&mut out);
        out
    }

    fn collect_leaves<'a>(&'a self, out: &mut Vec<&'a str>) {
        if !self.contributes {
            return;
        }
        for value in &self.values {
            match value {
                ComponentValue::Leaf(leaf) => out.push(leaf),
                ComponentValue::Child(child) => child.collect_leaves(out),
            }
        }
    }

    /// True when the node contributes and at least one leaf below it does.
    pub fn has_contributing_leaves(&self) -> bool {
        self.contributes
            && self.values.iter().any(|value| match value {
                ComponentValue::Leaf(_) => true,
                ComponentValue::Child(child) => child.has_contributing_leaves(),
            })
    }

    /// Leaves regardless of contribution; used to compare frames for recursion.
    pub fn all_leaves(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_all_leaves(&mut out);
        out
    }

    fn collect_all_leaves<'a>(&'a self, out: &mut Vec<&'a str>) {
        for value in &self.values {
            match value {
                ComponentValue::Leaf(leaf) => out.push(leaf),
                ComponentValue::Child(child) => child.collect_all_leaves(out),
            }
        }
    }

    /// The contributing leaves of contributing children, as `(child id, leaves)`;
    /// this is what decides grouping for a frame.
    pub fn contributing_signature(&self) -> Vec<(&str, Vec<&str>)> {
        self.children()
            .filter(|child| child.contributes)
            .map(|child| (child.id, child.contributing_leaves()))
            .collect()
    }
}

/// md5 hex of strings concatenated without separator (the compatible hash).
pub fn hash_values<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Md5::new();
    for value in values {
        hasher.update(value.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The hash of a tree, or `None` when nothing in it contributes.
pub fn hash_component(component: &Component) -> Option<String> {
    let leaves = component.contributing_leaves();
    if leaves.is_empty() {
        None
    } else {
        Some(hash_values(leaves))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_md5_of_contributing_leaves_without_separator() {
        let tree = Component::new("exception")
            .with_child(Component::leaf("type", "ValueError"))
            .with_child(Component::leaf("value", "bad").excluded("stacktrace contributes"))
            .with_child(Component::leaf("module", "app"));
        assert_eq!(tree.contributing_leaves(), vec!["ValueError", "app"]);
        assert_eq!(hash_component(&tree), Some(hash_values(["ValueErrorapp"])));
        // md5("") is the documented fallback hash.
        assert_eq!(hash_values([]), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn excluded_tree_has_no_hash() {
        let tree = Component::new("message")
            .with_value("x")
            .excluded("exception takes precedence");
        assert_eq!(hash_component(&tree), None);
        assert!(!tree.has_contributing_leaves());
    }
}
