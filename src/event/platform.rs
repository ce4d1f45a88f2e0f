//! Platform families: which normalization rules apply to a frame.

use serde::Serialize;

/// The family of languages a frame (or an event) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    JavaScript,
    Python,
    Java,
    Ruby,
    Php,
    CSharp,
    Go,
    Native,
    Other,
}

impl Family {
    /// Maps a Sentry platform string (`python`, `node`, `cocoa`, …) to its family.
    pub fn from_platform(platform: Option<&str>) -> Family {
        let Some(platform) = platform else {
            return Family::Other;
        };
        match platform.to_ascii_lowercase().as_str() {
            "javascript" | "node" | "react-native" | "electron" => Family::JavaScript,
            "python" => Family::Python,
            "java" | "kotlin" | "scala" | "groovy" | "clojure" | "android" | "jvm" => Family::Java,
            "ruby" => Family::Ruby,
            "php" => Family::Php,
            "csharp" | "dotnet" | ".net" | "unity" => Family::CSharp,
            "go" => Family::Go,
            "native" | "c" | "cpp" | "c++" | "cocoa" | "objc" | "swift" | "rust" | "elixir"
            | "dart" | "nintendo-switch" | "playstation" | "xbox" => Family::Native,
            _ => Family::Other,
        }
    }

    /// The family of a frame: its own platform if set, else the event's.
    pub fn of_frame(frame_platform: Option<&str>, event_platform: Option<&str>) -> Family {
        match frame_platform {
            Some(p) if !p.is_empty() => Family::from_platform(Some(p)),
            _ => Family::from_platform(event_platform),
        }
    }

    /// The name used by the `family:` matcher of stack trace rules.
    pub fn rule_name(self) -> &'static str {
        match self {
            Family::JavaScript => "javascript",
            Family::Python => "python",
            Family::Java => "jvm",
            Family::Ruby => "ruby",
            Family::Php => "php",
            Family::CSharp => "csharp",
            Family::Go => "go",
            Family::Native => "native",
            Family::Other => "other",
        }
    }

    /// Whether `context_line` contributes to grouping for this platform.
    /// FINGERPRINTING.md names javascript, node, python, php and ruby.
    pub fn context_line_contributes(self) -> bool {
        matches!(
            self,
            Family::JavaScript | Family::Python | Family::Php | Family::Ruby
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_names_map_to_families() {
        assert_eq!(Family::from_platform(Some("node")), Family::JavaScript);
        assert_eq!(Family::from_platform(Some("cocoa")), Family::Native);
        assert_eq!(Family::from_platform(Some("Python")), Family::Python);
        assert_eq!(Family::from_platform(None), Family::Other);
        assert_eq!(Family::of_frame(Some("java"), Some("python")), Family::Java);
        assert_eq!(Family::of_frame(None, Some("ruby")), Family::Ruby);
    }
}
