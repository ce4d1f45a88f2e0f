//! Glob patterns of rule matchers, compiled to anchored regexes.

use regex::{Regex, RegexBuilder};
use std::borrow::Cow;

/// How a glob compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GlobMode {
    /// `*` matches anything, case-sensitive (functions, modules, types).
    CaseSensitive,
    /// `*` matches anything, case-insensitive (values, messages).
    CaseInsensitive,
    /// Path globs: case-insensitive, `\` normalized to `/`, `*` and `?`
    /// stay within one segment, `**` crosses segments, `**/` may match
    /// nothing; a pattern without `/` is also tried on the basename.
    Path,
}

/// A compiled glob pattern.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    pattern: String,
    mode: GlobMode,
    regex: Regex,
    basename_fallback: bool,
    /// Plain string comparison for the common shapes (`java.*`, `*Error`,
    /// `abort`), which are most built-in rules; the regex is the fallback.
    literal: Option<LiteralShape>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LiteralShape {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

impl LiteralShape {
    /// Case-sensitive patterns with `*` only at the ends and no `?`.
    fn of(pattern: &str, mode: GlobMode) -> Option<LiteralShape> {
        if mode != GlobMode::CaseSensitive {
            return None;
        }
        let starts = pattern.starts_with('*');
        let ends = pattern.len() > 1 && pattern.ends_with('*');
        let core = pattern.trim_start_matches('*').trim_end_matches('*');
        if core.is_empty() || core.contains(['*', '?']) {
            return None;
        }
        let core = core.to_string();
        Some(match (starts, ends) {
            (false, false) => LiteralShape::Exact(core),
            (false, true) => LiteralShape::Prefix(core),
            (true, false) => LiteralShape::Suffix(core),
            (true, true) => LiteralShape::Contains(core),
        })
    }

    fn is_match(&self, value: &str) -> bool {
        match self {
            LiteralShape::Exact(core) => value == core,
            LiteralShape::Prefix(core) => value.starts_with(core.as_str()),
            LiteralShape::Suffix(core) => value.ends_with(core.as_str()),
            LiteralShape::Contains(core) => value.contains(core.as_str()),
        }
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.mode == other.mode
    }
}

/// Compiled patterns larger than this are refused (they come from users).
const SIZE_LIMIT: usize = 1 << 20;

impl Glob {
    pub fn new(pattern: &str, mode: GlobMode) -> Result<Self, String> {
        let pattern = if mode == GlobMode::Path {
            pattern.replace('\\', "/")
        } else {
            pattern.to_owned()
        };
        let path = mode == GlobMode::Path;
        let mut source = String::from(match mode {
            GlobMode::CaseSensitive => "(?s)^",
            GlobMode::CaseInsensitive | GlobMode::Path => "(?si)^",
        });
        let chars: Vec<char> = pattern.chars().collect();
        let mut literal = String::new();
        let mut index = 0;
        while let Some(&c) = chars.get(index) {
            index += 1;
            match c {
                '*' | '?' => {
                    source.push_str(&regex::escape(&literal));
                    literal.clear();
                }
                _ => {
                    literal.push(c);
                    continue;
                }
            }
            if c == '?' {
                source.push_str(if path { "[^/]" } else { "." });
                continue;
            }
            let mut stars = 1;
            while chars.get(index) == Some(&'*') {
                stars += 1;
                index += 1;
            }
            if !path {
                source.push_str(".*");
            } else if stars == 1 {
                source.push_str("[^/]*");
            } else if chars.get(index) == Some(&'/') {
                index += 1;
                source.push_str("(?:.*/)?");
            } else {
                source.push_str(".*");
            }
        }
        source.push_str(&regex::escape(&literal));
        source.push('$');
        let regex = RegexBuilder::new(&source)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|_| format!("pattern `{pattern}` is too complex"))?;
        Ok(Glob {
            basename_fallback: path && !pattern.contains('/'),
            literal: LiteralShape::of(&pattern, mode),
            pattern,
            mode,
            regex,
        })
    }

    pub fn is_match(&self, value: &str) -> bool {
        if let Some(literal) = &self.literal {
            return literal.is_match(value);
        }
        if self.mode != GlobMode::Path {
            return self.regex.is_match(value);
        }
        let value: Cow<'_, str> = if value.contains('\\') {
            Cow::Owned(value.replace('\\', "/"))
        } else {
            Cow::Borrowed(value)
        };
        if self.regex.is_match(&value) {
            return true;
        }
        self.basename_fallback
            && value
                .rsplit_once('/')
                .is_some_and(|(_, base)| self.regex.is_match(base))
    }

    /// A missing value never matches.
    pub fn is_match_opt(&self, value: Option<&str>) -> bool {
        value.is_some_and(|value| self.is_match(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, mode: GlobMode) -> Glob {
        Glob::new(pattern, mode).expect("valid glob")
    }

    #[test]
    fn literal_shapes_agree_with_the_regex() {
        let patterns = [
            "abort", "java.*", "*Error", "*panic*", "*", "**", "a*b", "?x", "*a*b*",
        ];
        let values = [
            "",
            "abort",
            "aborted",
            "java.lang",
            "xjava.",
            "KeyError",
            "Error",
            "std::panicking",
            "ab",
            "axb",
            "xx",
        ];
        for pattern in patterns {
            let g = glob(pattern, GlobMode::CaseSensitive);
            for value in values {
                assert_eq!(
                    g.is_match(value),
                    g.regex.is_match(value),
                    "{pattern:?} on {value:?}"
                );
            }
        }
    }

    #[test]
    fn text_globs() {
        let g = glob("std::*", GlobMode::CaseSensitive);
        assert!(g.is_match("std::panicking::begin_panic"));
        assert!(g.is_match("std::"));
        assert!(!g.is_match("Std::x"));
        assert!(!g.is_match("core::std::x"));
        let g = glob("a?c.(x)+", GlobMode::CaseSensitive);
        assert!(g.is_match("abc.(x)+"));
        assert!(!g.is_match("abbc.(x)+"));
        let g = glob("*TIMEOUT*", GlobMode::CaseInsensitive);
        assert!(g.is_match("connection timeout\nafter 3s"));
    }

    #[test]
    fn path_globs() {
        let g = glob("**/node_modules/**", GlobMode::Path);
        assert!(g.is_match("/app/node_modules/react/index.js"));
        assert!(g.is_match("node_modules/react/index.js"));
        assert!(g.is_match(r"C:\App\Node_Modules\x\y.js"));
        assert!(!g.is_match("/app/src/index.js"));
        let g = glob("/app/*.js", GlobMode::Path);
        assert!(g.is_match("/APP/Main.JS"));
        assert!(!g.is_match("/app/lib/main.js"));
        let g = glob("*.py", GlobMode::Path);
        assert!(g.is_match("/srv/app/views.py"));
        assert!(!g.is_match("/srv/app/views.pyc"));
        let g = glob("src/?.rs", GlobMode::Path);
        assert!(g.is_match("src/a.rs"));
        assert!(!g.is_match("src//.rs"));
    }

    #[test]
    fn huge_patterns_are_refused_not_panicking() {
        let pattern = "a*".repeat(100_000);
        assert!(Glob::new(&pattern, GlobMode::Path).is_err());
    }
}
