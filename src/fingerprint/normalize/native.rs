//! C, C++, Rust, Swift and Objective-C function names.
//!
//! Symbolicated names carry parts that change between builds, compilers and
//! optimization levels without the code changing: argument lists, return
//! types, template arguments, hashes, clone suffixes, lambda numbering. They
//! are reduced to the qualified name:
//!
//! - argument lists, return types, calling conventions and trailing
//!   qualifiers (`const`, `volatile`, `&`, `&&`, `noexcept`) are dropped;
//! - template and generic arguments collapse to `<T>`;
//! - `<X as Trait>::f` and `<X>::f` become `X::f`; a turbofish `f::<u8>` is `f<T>`;
//! - every anonymous function spelling (`{lambda(int)#1}`, `$_0`,
//!   `<lambda_1a2b>`, `{{closure}}`, `{closure#0}`, Swift `closure #1 in f`,
//!   block `__f_block_invoke_2`, `invocation function for block in f`)
//!   becomes the path segment `{lambda}`, numbering dropped, so `f::{lambda}`;
//! - Rust `::h<16 hex>` hashes, `@12` stdcall sizes, `@plt`, `@@GLIBC_x`,
//!   `[clone .cold]` and `.isra.0`-style suffixes are stripped;
//! - Objective-C methods `-[Foo bar:]` are kept verbatim;
//! - `<unknown>`, `<redacted>`, `?`, `??` mean "no name" and are ignored.
//!
//! Operator names (`operator()`, `operator<<`, `operator->`, `operator new[]`)
//! and anonymous namespaces survive the stripping.

use regex::Regex;
use std::sync::LazyLock;

/// The one spelling of an anonymous function.
const LAMBDA: &str = "{lambda}";
/// `<T>` replaces any template argument list.
const TEMPLATE: &str = "<T>";
/// Qualified-self types recurse; deeper nesting is collapsed to `<T>`.
const MAX_DEPTH: usize = 8;

/// Names that mean "the symbolicator does not know".
const UNKNOWN_NAMES: [&str; 6] = [
    "<unknown>",
    "<redacted>",
    "?",
    "??",
    "<unknown function>",
    "<anonymous>",
];

/// Operator spellings, longest first so `<<=` is not read as `<`.
const OPERATORS: [&str; 41] = [
    "()", "[]", "->*", "<=>", "<<=", ">>=", "->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
    "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "\"\"", "<", ">", "+", "-", "*",
    "/", "%", "&", "|", "^", "~", "!", "=", ",", "co_await",
];

/// Words that may follow an argument list or a name and only qualify it.
const TRAILING_QUALIFIERS: [&str; 8] = [
    "const", "volatile", "&", "&&", "noexcept", "override", "final", "mutable",
];

/// Compiler clone suffixes: `.isra.0`, `.constprop.1`, `.cold`, `.llvm.123`, …
static CLONE_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\.(?:isra|part|constprop|cold|hot|lto_priv|llvm|localalias|clone|unlikely)(?:\.[0-9]+)*)+$")
        .expect("clone suffix pattern is valid")
});

/// Rust legacy-mangling hash: `::h0123456789abcdef`.
static RUST_HASH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"::h[0-9a-f]{16}$").expect("rust hash pattern is valid"));

/// Clang block invocations: `__29-[Foo bar:]_block_invoke_2`, `__main_block_invoke`.
static BLOCK_INVOKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:__[0-9]*)?(.+?)[ _]block_invoke(?:[._][0-9]+)*$")
        .expect("block pattern is valid")
});

/// MSVC lambda classes: `<lambda_1a2b3c4d>`.
static MSVC_LAMBDA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^<lambda_[0-9A-Za-z]*>").expect("msvc lambda pattern is valid"));

/// Clang's anonymous lambda classes: `$_0`, `$_12`.
static CLANG_LAMBDA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\$_[0-9]+").expect("clang lambda pattern is valid"));

/// Normalizes a native function name; `None` when the name is unknown.
pub fn trim_native_function(raw: &str) -> Option<String> {
    trim_at_depth(raw, 0)
}

fn trim_at_depth(raw: &str, depth: usize) -> Option<String> {
    let name = strip_suffixes(raw.trim());
    if is_unknown(name) {
        return None;
    }
    if depth < MAX_DEPTH {
        if let Some((closures, enclosing)) = split_swift_closures(name) {
            let base = trim_at_depth(enclosing, depth + 1).unwrap_or_default();
            return Some(with_lambdas(base, closures));
        }
        if let Some(enclosing) = block_enclosing(name) {
            let base = trim_at_depth(enclosing, depth + 1).unwrap_or_default();
            return Some(with_lambdas(base, 1));
        }
    }
    if is_objc_method(name) {
        return Some(name.to_string());
    }
    let scanned = scan(name, depth);
    if scanned.is_empty() {
        Some(name.to_string())
    } else {
        Some(scanned)
    }
}

fn is_unknown(name: &str) -> bool {
    name.is_empty()
        || UNKNOWN_NAMES
            .iter()
            .any(|unknown| unknown.eq_ignore_ascii_case(name))
}

fn is_objc_method(name: &str) -> bool {
    (name.starts_with("-[") || name.starts_with("+[")) && name.ends_with(']')
}

fn with_lambdas(base: String, count: usize) -> String {
    let mut out = base;
    for _ in 0..count {
        if !out.is_empty() {
            out.push_str("::");
        }
        out.push_str(LAMBDA);
    }
    out
}

/// Strips linker, compiler and hash suffixes until none is left.
fn strip_suffixes(mut name: &str) -> &str {
    loop {
        let before = name.len();
        name = strip_clone_annotation(name);
        name = strip_symbol_version(name);
        if let Some(found) = CLONE_SUFFIX.find(name) {
            name = &name[..found.start()];
        }
        if let Some(found) = RUST_HASH.find(name) {
            name = &name[..found.start()];
        }
        name = name.trim_end();
        if name.len() == before {
            return name;
        }
    }
}

/// ` [clone .cold]`, ` [clone .constprop.0]`.
fn strip_clone_annotation(name: &str) -> &str {
    if name.ends_with(']') {
        if let Some(index) = name.rfind("[clone ") {
            return name[..index].trim_end();
        }
    }
    name
}

/// `@@GLIBC_2.2.5`, `@GLIBCXX_3.4`, `@plt`, and stdcall `@12`.
fn strip_symbol_version(name: &str) -> &str {
    if let Some(index) = name.find("@@").filter(|&index| index > 0) {
        return &name[..index];
    }
    let Some(index) = name.rfind('@').filter(|&index| index > 0) else {
        return name;
    };
    let suffix = &name[index + 1..];
    let is_stdcall = !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit());
    let is_version = suffix.starts_with(|c: char| c.is_ascii_uppercase())
        && suffix.contains('_')
        && suffix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if is_stdcall || is_version || suffix == "plt" {
        &name[..index]
    } else {
        name
    }
}

/// Swift closures `closure #1 (Int) -> () in Foo.bar()` (possibly nested):
/// the number of closures and the enclosing function.
fn split_swift_closures(name: &str) -> Option<(usize, &str)> {
    const PREFIXES: [&str; 3] = ["partial apply for ", "implicit ", "@objc "];
    const CLOSURE: [&str; 2] = ["closure #", "invocation function for block in "];
    let mut rest = name;
    let mut count = 0;
    loop {
        rest = rest.trim_start();
        if let Some(after) = PREFIXES.iter().find_map(|p| rest.strip_prefix(p)) {
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix(CLOSURE[1]) {
            rest = after;
            count += 1;
            continue;
        }
        let Some(after) = rest.strip_prefix(CLOSURE[0]) else {
            break;
        };
        let index = find_at_depth_zero(after, " in ")?;
        rest = &after[index + 4..];
        count += 1;
    }
    (count > 0).then_some((count, rest))
}

/// The enclosing function of a block invocation.
fn block_enclosing(name: &str) -> Option<&str> {
    let captures = BLOCK_INVOKE.captures(name)?;
    captures.get(1).map(|m| m.as_str())
}

/// Byte index of `needle` outside any bracket pair.
fn find_at_depth_zero(text: &str, needle: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut previous = '\0';
    for (index, c) in text.char_indices() {
        if depth == 0 && text[index..].starts_with(needle) {
            return Some(index);
        }
        match c {
            '<' | '(' | '[' | '{' => depth += 1,
            '>' if previous == '-' => {}
            '>' | ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        previous = c;
    }
    None
}

/// Byte index just past the bracket that closes the one at `open`.
/// `->` does not close anything.
fn matching_close(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut previous = '\0';
    for (offset, c) in text[open..].char_indices() {
        match c {
            '<' | '(' | '[' | '{' => depth += 1,
            '>' if previous == '-' => {}
            '>' | ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(open + offset + c.len_utf8());
                }
            }
            _ => {}
        }
        previous = c;
    }
    None
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Walks the name left to right, keeping the qualified name and dropping
/// everything else. A space outside brackets ends a return type or a
/// keyword, so what came before it is discarded; an argument list ends the
/// name unless `::` continues the path (a lambda inside a function).
fn scan(name: &str, depth: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < name.len() {
        let rest = &name[i..];
        if let Some(len) = protected_len(rest) {
            out.push_str(&rest[..len]);
            i += len;
            continue;
        }
        if let Some((len, text)) = operator_at(rest, &out) {
            out.push_str(&text);
            i += len;
            continue;
        }
        if let Some(len) = lambda_len(rest, &out) {
            out.push_str(LAMBDA);
            i += len;
            continue;
        }
        let Some(c) = rest.chars().next() else {
            break;
        };
        match c {
            '<' => {
                let Some(end) = matching_close(name, i) else {
                    push_template(&mut out);
                    break;
                };
                angle_group(&mut out, &name[i + 1..end - 1], &name[end..], depth);
                i = end;
            }
            '(' => {
                let Some(end) = matching_close(name, i) else {
                    break;
                };
                let after = &name[end..];
                if at_segment_start(&out) && after.starts_with(':') {
                    // `(extension in Foo):` and other qualifying groups.
                    out.push_str(&name[i..end]);
                } else if !after.starts_with("::") {
                    break;
                }
                i = end;
            }
            '{' | '[' => {
                let end = matching_close(name, i).unwrap_or(name.len());
                out.push_str(&name[i..end]);
                i = end;
            }
            ' ' => {
                let after = rest.trim_start();
                if is_only_qualifiers(after) {
                    break;
                }
                let continues = after.starts_with('<')
                    || (after.starts_with('(') && !is_qualifying_paren(after));
                if !continues {
                    out.clear();
                }
                i += rest.len() - after.len();
            }
            _ => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out.trim_start_matches(['*', '&']).trim().to_string()
}

fn at_segment_start(out: &str) -> bool {
    out.is_empty() || out.ends_with("::")
}

/// `(anonymous namespace)::`: a parenthesized group that qualifies a name.
fn is_qualifying_paren(text: &str) -> bool {
    if text.starts_with("(anonymous namespace)") {
        return true;
    }
    matching_close(text, 0).is_some_and(|end| text[end..].starts_with(':'))
}

fn is_only_qualifiers(text: &str) -> bool {
    // Bounded so a long run of words cannot make the scan quadratic.
    let words: Vec<&str> = text
        .split_whitespace()
        .take(TRAILING_QUALIFIERS.len() + 1)
        .collect();
    !words.is_empty()
        && words.len() <= TRAILING_QUALIFIERS.len()
        && words.iter().all(|word| TRAILING_QUALIFIERS.contains(word))
}

/// A `<...>` group: a qualified self type at the start of a path segment,
/// otherwise template arguments.
fn angle_group(out: &mut String, inner: &str, after: &str, depth: usize) {
    let qualified_self = at_segment_start(out) && (out.is_empty() || after.starts_with("::"));
    if !qualified_self {
        if let Some(stripped) = out.strip_suffix("::") {
            // Turbofish `f::<u8>` is the same template as `f<u8>`.
            out.truncate(stripped.len());
        }
        push_template(out);
        return;
    }
    let self_type = find_at_depth_zero(inner, " as ").map_or(inner, |index| &inner[..index]);
    if depth >= MAX_DEPTH {
        out.push_str(TEMPLATE);
    } else {
        out.push_str(&scan(self_type, depth + 1));
    }
}

fn push_template(out: &mut String) {
    // Keep `operator<< <T>` readable and distinct from `operator<<<T>`.
    if out.ends_with(|c: char| "<>=!+-*/%&|^~,".contains(c)) {
        out.push(' ');
    }
    out.push_str(TEMPLATE);
}

/// Text copied verbatim: anonymous namespaces and MSVC `` `quoted' `` names.
fn protected_len(rest: &str) -> Option<usize> {
    if rest.starts_with("(anonymous namespace)") {
        return Some("(anonymous namespace)".len());
    }
    if rest.starts_with('`') {
        return rest.find('\'').map(|index| index + 1);
    }
    None
}

/// `operator` followed by its symbol: returns bytes consumed and the text to keep.
fn operator_at(rest: &str, out: &str) -> Option<(usize, String)> {
    let after = rest.strip_prefix("operator")?;
    if out.ends_with(is_ident_char) || after.starts_with(is_ident_char) {
        return None;
    }
    let trimmed = after.trim_start();
    let spaces = after.len() - trimmed.len();
    let base = "operator".len() + spaces;
    for word in ["new", "delete"] {
        if let Some(tail) = trimmed.strip_prefix(word) {
            if !tail.starts_with(is_ident_char) {
                let brackets = if tail.starts_with("[]") { "[]" } else { "" };
                let len = base + word.len() + brackets.len();
                return Some((len, format!("operator {word}{brackets}")));
            }
        }
    }
    if let Some(symbol) = OPERATORS.iter().find(|op| trimmed.starts_with(*op)) {
        return Some((base + symbol.len(), format!("operator{symbol}")));
    }
    if spaces > 0 && trimmed.starts_with(is_ident_char) {
        // Conversion operator: the type runs to the argument list.
        let end = find_at_depth_zero(trimmed, "(").unwrap_or(trimmed.len());
        let target = collapse_templates(trimmed[..end].trim_end());
        return Some((base + end, format!("operator {target}")));
    }
    None
}

/// `std::vector<int>` → `std::vector<T>`, without any other change.
fn collapse_templates(text: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(offset) = text[i..].find('<') {
        let open = i + offset;
        out.push_str(&text[i..open]);
        out.push_str(TEMPLATE);
        match matching_close(text, open) {
            Some(end) => i = end,
            None => return out,
        }
    }
    out.push_str(&text[i..]);
    out
}

/// Length of an anonymous-function spelling at the start of `rest`.
fn lambda_len(rest: &str, out: &str) -> Option<usize> {
    if rest.starts_with("{lambda") || rest.starts_with("{closure") {
        return matching_close(rest, 0).or(Some(rest.len()));
    }
    if rest.starts_with("{{closure}}") {
        return Some("{{closure}}".len());
    }
    if let Some(found) = MSVC_LAMBDA.find(rest) {
        return Some(found.end());
    }
    if at_segment_start(out) {
        if let Some(found) = CLANG_LAMBDA.find(rest) {
            if !rest[found.end()..].starts_with(is_ident_char) {
                return Some(found.end());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trim(raw: &str) -> String {
        trim_native_function(raw).unwrap_or_else(|| "<none>".to_string())
    }

    #[test]
    fn plain_names_are_kept() {
        assert_eq!(trim("main"), "main");
        assert_eq!(trim("foo::bar"), "foo::bar");
    }

    #[test]
    fn lambdas_inside_functions() {
        assert_eq!(
            trim("foo(int)::{lambda(int)#1}::operator()(int) const"),
            "foo::{lambda}::operator()"
        );
        assert_eq!(
            trim("foo()::$_3::operator()() const"),
            "foo::{lambda}::operator()"
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = format!("{}x{}::f", "<".repeat(10_000), ">::f".repeat(10_000));
        let _ = trim_native_function(&deep);
        let unbalanced = "<".repeat(50_000);
        let _ = trim_native_function(&unbalanced);
    }
}
