//! Matchers shared by stack trace rules and fingerprint rules: frame
//! fields, families and in-app flags.

use super::glob::{Glob, GlobMode};
use crate::event::{Family, Frame};

const ALL_FAMILIES: [Family; 9] = [
    Family::JavaScript,
    Family::Python,
    Family::Java,
    Family::Ruby,
    Family::Php,
    Family::CSharp,
    Family::Go,
    Family::Native,
    Family::Other,
];

/// The value of a `family:` matcher: a list of families, or `all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FamilySet {
    all: bool,
    families: Vec<Family>,
}

impl FamilySet {
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut set = FamilySet {
            all: false,
            families: Vec::new(),
        };
        for name in value.split(',') {
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("empty family name in `{value}`"));
            }
            if name.eq_ignore_ascii_case("all") {
                set.all = true;
                continue;
            }
            let family = ALL_FAMILIES
                .into_iter()
                .find(|family| family.rule_name().eq_ignore_ascii_case(name))
                .or_else(|| name.eq_ignore_ascii_case("java").then_some(Family::Java))
                .ok_or_else(|| format!("unknown family `{name}`"))?;
            set.families.push(family);
        }
        Ok(set)
    }

    pub fn contains(&self, family: Family) -> bool {
        self.all || self.families.contains(&family)
    }
}

/// `yes`/`no`, `true`/`false`, `1`/`0` (case-insensitive).
pub(crate) fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" => Ok(false),
        _ => Err(format!(
            "expected yes/no, true/false or 1/0 for `app`, found `{value}`"
        )),
    }
}

/// A matcher on one frame's own fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FrameMatch {
    /// `function`, falling back to `raw_function`.
    Function(Glob),
    Module(Glob),
    /// `abs_path` or `filename`.
    Path(Glob),
    Package(Glob),
    Family(FamilySet),
    /// Current in-app state; unknown counts as not in-app.
    App(bool),
}

impl FrameMatch {
    /// Parses a frame matcher; `None` when `name` is not one.
    pub fn parse(name: &str, value: &str) -> Option<Result<Self, String>> {
        let parsed = match name {
            "function" | "stack.function" => {
                Glob::new(value, GlobMode::CaseSensitive).map(FrameMatch::Function)
            }
            "module" | "stack.module" => {
                Glob::new(value, GlobMode::CaseSensitive).map(FrameMatch::Module)
            }
            "path" | "stack.abs_path" | "stack.path" => {
                Glob::new(value, GlobMode::Path).map(FrameMatch::Path)
            }
            "package" | "stack.package" => {
                Glob::new(value, GlobMode::Path).map(FrameMatch::Package)
            }
            "family" => FamilySet::parse(value).map(FrameMatch::Family),
            "app" | "stack.app" => parse_bool(value).map(FrameMatch::App),
            _ => return None,
        };
        Some(parsed)
    }

    pub fn matches(&self, frame: &Frame, family: Family, in_app: Option<bool>) -> bool {
        match self {
            FrameMatch::Function(glob) => glob.is_match_opt(frame_function(frame)),
            FrameMatch::Module(glob) => glob.is_match_opt(frame.module.as_deref()),
            FrameMatch::Path(glob) => {
                glob.is_match_opt(frame.abs_path.as_deref())
                    || glob.is_match_opt(frame.filename.as_deref())
            }
            FrameMatch::Package(glob) => glob.is_match_opt(frame.package.as_deref()),
            FrameMatch::Family(set) => set.contains(family),
            FrameMatch::App(expected) => in_app.unwrap_or(false) == *expected,
        }
    }
}

/// The function a rule sees: `function`, else `raw_function`.
pub(crate) fn frame_function(frame: &Frame) -> Option<&str> {
    frame
        .function
        .as_deref()
        .filter(|f| !f.is_empty())
        .or(frame.raw_function.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_parse() {
        let set = FamilySet::parse("native,jvm").expect("valid");
        assert!(set.contains(Family::Native));
        assert!(set.contains(Family::Java));
        assert!(!set.contains(Family::Python));
        assert!(FamilySet::parse("all").expect("valid").contains(Family::Go));
        assert!(
            FamilySet::parse("Java")
                .expect("alias")
                .contains(Family::Java)
        );
        assert!(FamilySet::parse("cobol").is_err());
        assert!(FamilySet::parse("native,").is_err());
    }

    #[test]
    fn function_falls_back_to_raw_function() {
        let frame = Frame {
            raw_function: Some("raw::f".into()),
            ..Frame::default()
        };
        let m = FrameMatch::parse("function", "raw::*")
            .expect("frame matcher")
            .expect("valid");
        assert!(m.matches(&frame, Family::Native, None));
    }

    #[test]
    fn path_matches_abs_path_or_filename() {
        let frame = Frame {
            filename: Some("lib/x.js".into()),
            abs_path: Some("https://cdn.example.com/x.js".into()),
            ..Frame::default()
        };
        let m = FrameMatch::parse("path", "lib/*.js")
            .expect("frame matcher")
            .expect("valid");
        assert!(m.matches(&frame, Family::JavaScript, None));
    }

    #[test]
    fn app_unknown_counts_as_no() {
        let frame = Frame::default();
        let no = FrameMatch::App(false);
        assert!(no.matches(&frame, Family::Other, None));
        assert!(!FrameMatch::App(true).matches(&frame, Family::Other, None));
        assert!(FrameMatch::App(true).matches(&frame, Family::Other, Some(true)));
    }
}
