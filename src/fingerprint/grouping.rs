//! The result of fingerprinting: named variants, each with a component tree
//! and (when something contributes) a hash.

use super::component::Component;
use serde::Serialize;

/// Hash of an event where nothing contributes: md5 of the empty string.
pub const FALLBACK_HASH: &str = "d41d8cd98f00b204e9800998ecf8427e";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variant {
    /// `app`, `system`, `default` (message), `custom-fingerprint`, `fallback`.
    pub name: String,
    /// `None` when the variant does not contribute.
    pub hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Fingerprint values that made or salted this variant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<Component>,
}

/// All variants of one event. An event belongs to an existing issue when any
/// of its hashes is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grouping {
    pub variants: Vec<Variant>,
    /// The title a matching fingerprint rule asked for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Grouping {
    /// Distinct contributing hashes, in variant order (app before system).
    pub fn hashes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for hash in self.variants.iter().filter_map(|v| v.hash.as_ref()) {
            if !out.contains(hash) {
                out.push(hash.clone());
            }
        }
        out
    }

    /// The first contributing hash: the one a new issue is keyed by.
    pub fn primary_hash(&self) -> &str {
        self.variants
            .iter()
            .find_map(|v| v.hash.as_deref())
            .unwrap_or(FALLBACK_HASH)
    }

    /// True when the two events share any hash.
    pub fn same_issue(&self, other: &Grouping) -> bool {
        let theirs = other.hashes();
        self.hashes().iter().any(|hash| theirs.contains(hash))
    }

    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }
}
