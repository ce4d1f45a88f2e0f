//! Ruby method names.
//!
//! `block in foo` and `block (2 levels) in foo` become `block`: the enclosing
//! method already shows up in the caller frames. `rescue in foo` and
//! `ensure in foo` are kept as they are: they name a distinct code path of
//! `foo` and their spelling does not vary. Compiled templates carry a
//! per-process suffix (`_app_views_users_index_html_erb__1234567_89012`,
//! negative hashes give `___`) which is removed.

use regex::Regex;
use std::sync::LazyLock;

static TEMPLATE_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"_{2,3}[0-9]+_[0-9]+\b").expect("template suffix pattern is valid")
});

static BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^block (?:\([0-9]+ levels\) )?in ").expect("block pattern is valid")
});

/// Normalizes a Ruby method name; `None` when empty.
pub fn normalize_function(raw: &str) -> Option<String> {
    let name = raw.trim();
    if name.is_empty() {
        return None;
    }
    if BLOCK.is_match(name) {
        return Some("block".to_string());
    }
    Some(TEMPLATE_SUFFIX.replace_all(name, "").into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_templates() {
        let cases = [
            ("block in foo", "block"),
            ("block (2 levels) in foo", "block"),
            (
                "block in _app_views_users_index_html_erb__1234567_89012",
                "block",
            ),
            (
                "_app_views_users_index_html_erb__1234567_89012",
                "_app_views_users_index_html_erb",
            ),
            (
                "_app_views_users_index_html_erb___1234567_89012",
                "_app_views_users_index_html_erb",
            ),
            ("rescue in foo", "rescue in foo"),
            ("ensure in foo", "ensure in foo"),
            ("foo", "foo"),
            ("Foo#bar", "Foo#bar"),
            ("blocking_call", "blocking_call"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_function(raw).as_deref(), Some(expected), "{raw}");
        }
        assert_eq!(normalize_function("  "), None);
    }
}
