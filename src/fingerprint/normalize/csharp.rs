//! .NET method and type names.
//!
//! Argument lists (`Foo.Bar(Int32 x)`, `Foo.Bar (Int32 x)`), `async` and the
//! return type of demystified names are dropped. Compiler-generated state
//! machines and closures are named by source order (`<DoWork>d__5`,
//! `<Main>b__0_0`, `<>c__DisplayClass5_0`), so the numbering is removed:
//! `<DoWork>d__5.MoveNext` → `DoWork`, `<Main>b__0_0` → `Main.{lambda}`,
//! `<Main>g__Local|0_0` → `Main.Local`.

use regex::Regex;
use std::sync::LazyLock;

static STATE_MACHINE_MOVE_NEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<([^<>]+)>d__[0-9]+\.MoveNext$").expect("state machine pattern is valid")
});

static GENERATED: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"<([^<>]+)>d__[0-9]+", "${1}"),
        (r"<([^<>]+)>g__([A-Za-z0-9_]+)\|[0-9_]+", "${1}.${2}"),
        (r"<([^<>]+)>b__[0-9_]+", "${1}.{lambda}"),
        (r"(<>c__DisplayClass)[0-9_]+", "${1}"),
    ]
    .into_iter()
    .map(|(pattern, replacement)| {
        let regex = Regex::new(pattern).expect("generated-name pattern is valid");
        (regex, replacement)
    })
    .collect()
});

/// Normalizes a .NET method name; `None` when empty.
pub fn normalize_function(raw: &str) -> Option<String> {
    let mut name = raw.trim();
    name = name.strip_prefix("async ").unwrap_or(name);
    name = strip_arguments(name);
    name = last_word(name);
    let name = STATE_MACHINE_MOVE_NEXT.replace(name, "${1}");
    let name = normalize_generated(&name);
    (!name.is_empty()).then_some(name)
}

/// Removes compiler-generated numbering from a type or method name.
pub fn normalize_generated(name: &str) -> String {
    let mut out = name.trim().to_string();
    // Every generated spelling has `<` and `__`; skip the regexes otherwise.
    if !(out.contains('<') && out.contains("__")) {
        return out;
    }
    for (regex, replacement) in GENERATED.iter() {
        if regex.is_match(&out) {
            out = regex.replace_all(&out, *replacement).into_owned();
        }
    }
    out
}

/// `Foo.Bar(Int32 x)` → `Foo.Bar`; only a trailing, balanced list is removed.
fn strip_arguments(name: &str) -> &str {
    if !name.ends_with(')') {
        return name;
    }
    let mut depth = 0usize;
    for (index, c) in name.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return name[..index].trim_end();
                }
            }
            _ => {}
        }
    }
    name
}

/// The last word outside `<>`/`[]`: drops a demystified return type.
fn last_word(name: &str) -> &str {
    let mut depth = 0usize;
    let mut start = 0;
    for (index, c) in name.char_indices() {
        match c {
            '<' | '[' | '(' => depth += 1,
            '>' | ']' | ')' => depth = depth.saturating_sub(1),
            ' ' if depth == 0 => start = index + 1,
            _ => {}
        }
    }
    &name[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_and_generated_names() {
        let cases = [
            ("Foo.Bar(Int32 x)", "Foo.Bar"),
            ("Bar (Int32 x, String y)", "Bar"),
            ("Bar()", "Bar"),
            ("Bar", "Bar"),
            ("<DoWork>d__5.MoveNext", "DoWork"),
            ("<DoWork>d__12.MoveNext()", "DoWork"),
            ("<Main>b__0_0", "Main.{lambda}"),
            ("<Main>b__0_1", "Main.{lambda}"),
            ("<Main>g__Local|0_0", "Main.Local"),
            (
                "async Task<int> MyApp.Service.DoWork(int id)",
                "MyApp.Service.DoWork",
            ),
            (
                "Dictionary<String, Int32>.FindValue(TKey key)",
                "Dictionary<String, Int32>.FindValue",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_function(raw).as_deref(), Some(expected), "{raw}");
        }
        assert_eq!(
            normalize_generated("MyApp.Program+<>c__DisplayClass5_0"),
            "MyApp.Program+<>c__DisplayClass"
        );
        assert_eq!(
            normalize_generated("MyApp.Worker+<DoWork>d__5"),
            "MyApp.Worker+DoWork"
        );
        assert_eq!(normalize_function(" "), None);
    }
}
