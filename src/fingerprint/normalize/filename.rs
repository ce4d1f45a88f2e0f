//! File names and paths as grouping sees them.

/// Schemes whose paths point at fetched or generated code: their file names
/// change with deploys and hosts, so they never contribute.
const URL_PREFIXES: [&str; 4] = ["http://", "https://", "blob:", "applewebdata:"];

/// Paths engines print for code that has no file.
const OPAQUE_PATHS: [&str; 2] = ["<anonymous>", "[native code]"];

/// True for an http, https, blob or applewebdata URL.
pub fn is_url(path: &str) -> bool {
    let path = path.trim();
    URL_PREFIXES
        .iter()
        .any(|prefix| starts_with_ignore_case(path, prefix))
}

/// True for `<anonymous>` and `[native code]`.
pub fn is_opaque(path: &str) -> bool {
    OPAQUE_PATHS.contains(&path.trim())
}

/// The part of a path before its query string or fragment.
pub fn without_query(path: &str) -> &str {
    path.find(['?', '#']).map_or(path, |index| &path[..index])
}

/// The last path segment, lowercased: `C:\Src\Main.CPP` → `main.cpp`.
/// Works on both `/` and `\` separators; trailing separators are ignored.
pub fn basename(path: &str) -> String {
    path.trim()
        .split(['/', '\\'])
        .rfind(|segment| !segment.is_empty())
        .unwrap_or_default()
        .to_lowercase()
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_is_last_segment_lowercased() {
        assert_eq!(basename(r"C:\Src\Main.CPP"), "main.cpp");
        assert_eq!(basename("/app/src/Foo.py"), "foo.py");
        assert_eq!(basename("foo.rb"), "foo.rb");
        assert_eq!(basename("/app/dir/"), "dir");
        assert_eq!(basename(""), "");
    }

    #[test]
    fn urls_and_opaque_paths_are_recognized() {
        assert!(is_url("https://cdn.example.com/a.js"));
        assert!(is_url("HTTP://x/a.js"));
        assert!(is_url("blob:https://x/1234"));
        assert!(is_url("applewebdata://abc/x.js"));
        assert!(!is_url("/app/a.js"));
        assert!(!is_url("webpack:///src/a.js"));
        assert!(is_opaque("<anonymous>"));
        assert!(is_opaque("[native code]"));
        assert!(!is_opaque("native"));
    }

    #[test]
    fn query_and_fragment_are_stripped() {
        assert_eq!(without_query("app.js?v=2"), "app.js");
        assert_eq!(without_query("app.js#L3"), "app.js");
        assert_eq!(without_query("app.js"), "app.js");
    }
}
