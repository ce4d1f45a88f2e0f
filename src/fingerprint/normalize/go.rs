//! Go function names.
//!
//! Closures are numbered in source order (`main.handler.func1`,
//! `main.handler.func2.1`, `gowrap1`, `deferwrap1`): adding a closure
//! renumbers the others, so the counters are removed (`main.handler.func`).

use regex::Regex;
use std::sync::LazyLock;

static CLOSURE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\.(func|gowrap|deferwrap)[0-9]+(?:\.[0-9]+)*").expect("closure pattern is valid")
});

/// Normalizes a Go function name; `None` when empty.
pub fn normalize_function(raw: &str) -> Option<String> {
    let name = raw.trim();
    (!name.is_empty()).then(|| CLOSURE_NUMBER.replace_all(name, ".${1}").into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_numbers_are_removed() {
        let cases = [
            ("main.handler.func1", "main.handler.func"),
            ("main.handler.func2.1", "main.handler.func"),
            ("main.(*Server).Serve.func3", "main.(*Server).Serve.func"),
            ("main.main.gowrap1", "main.main.gowrap"),
            ("main.main", "main.main"),
            ("main.funcName", "main.funcName"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_function(raw).as_deref(), Some(expected), "{raw}");
        }
    }
}
