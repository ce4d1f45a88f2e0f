//! JavaScript function names and bundle URLs.
//!
//! Browsers spell the same frame differently: Chrome and Edge write
//! `Object.foo`, `Foo.bar [as baz]`, `new Foo`, `async foo`; Firefox writes
//! `foo`, `foo/<` (anonymous function inside `foo`), `foo/bar<`,
//! `foo/<.bar`; Safari writes `foo`, `global code`, `eval code`; old Edge
//! writes `Anonymous function`. Names are reduced to their last segment and
//! the anonymous spellings are ignored, so all four agree.
//!
//! Firefox's `/<` marks an anonymous function; Chrome gives no name for the
//! same frame, so any name ending in `<` after its last `/` is ignored, and a
//! named nested function `foo/bar` or `foo/<.bar` is reduced to `bar`.

use super::filename::{is_opaque, without_query};

/// Function names that mean "anonymous".
const ANONYMOUS_NAMES: [&str; 5] = [
    "?",
    "<anonymous>",
    "anonymous function",
    "global code",
    "anonymous",
];

/// Functions whose frames are eval'd code, which never groups well.
const EVAL_FUNCTIONS: [&str; 2] = ["eval", "eval code"];

/// Paths of frames that are not the application's code at all.
const DROPPED_PATHS: [&str; 2] = ["eval code", "native"];

/// Folders that only describe how a bundle is served.
const JUNK_FOLDERS: [&str; 18] = [
    "static",
    "js",
    "javascript",
    "javascripts",
    "script",
    "scripts",
    "build",
    "dist",
    "assets",
    "public",
    "_next",
    "_nuxt",
    "chunks",
    "chunk",
    "bundle",
    "bundles",
    "min",
    "out",
];

/// Extensions of bundled code.
const EXTENSIONS: [&str; 9] = [
    "js", "mjs", "cjs", "jsx", "ts", "tsx", "html", "htm", "wasm",
];

/// Normalizes a JavaScript function name; `None` when it is anonymous.
pub fn normalize_function(raw: &str) -> Option<String> {
    let mut name = raw.trim().trim_end_matches('@').trim();
    for prefix in ["async ", "new "] {
        name = name.strip_prefix(prefix).unwrap_or(name).trim_start();
    }
    if let Some(index) = name.find(" [as ") {
        name = name[..index].trim_end();
    }
    let last_path = name.rsplit('/').next().unwrap_or(name);
    if is_anonymous(name) || last_path.trim_end_matches('<').is_empty() {
        return None;
    }
    let last_path = last_path.trim_end_matches('<');
    let segment = last_path
        .rsplit('.')
        .find(|segment| !segment.is_empty())
        .unwrap_or(last_path);
    if is_anonymous(segment) || segment.is_empty() {
        None
    } else {
        Some(segment.to_string())
    }
}

fn is_anonymous(name: &str) -> bool {
    name.is_empty()
        || name.ends_with("/<")
        || ANONYMOUS_NAMES
            .iter()
            .any(|anonymous| anonymous.eq_ignore_ascii_case(name))
}

/// Why a whole JavaScript frame is dropped, if it is: eval'd code and
/// engine built-ins.
pub fn dropped_frame_reason(
    function: Option<&str>,
    abs_path: Option<&str>,
    filename: Option<&str>,
) -> Option<&'static str> {
    if function.is_some_and(|f| EVAL_FUNCTIONS.contains(&f.trim())) {
        return Some("ignored because the frame is eval'd code");
    }
    let opaque = [abs_path, filename].into_iter().flatten().any(|path| {
        let path = path.trim();
        is_opaque(path) || DROPPED_PATHS.contains(&path)
    });
    opaque.then_some("ignored because the frame has no source file")
}

/// True for anything with a scheme that a bundle can be served from.
/// `blob:` object URLs are not bundles: their path is a random UUID minted
/// per page load, so deriving a module from them would split every load.
pub fn is_bundle_url(path: &str) -> bool {
    let path = path.trim();
    let is_blob = path
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("blob:"));
    path.contains("://") && !is_blob
}

/// A stable module name for a bundle URL: scheme, host, query, extension,
/// `.min`, content hashes, serving folders and version folders are dropped.
/// `https://cdn.example.com/static/js/main.3f2a1b9c.min.js?v=2` → `main`.
/// A plain path is accepted too. `None` when nothing stable is left.
pub fn javascript_module_from_url(url: &str) -> Option<String> {
    let url = url.trim();
    let url = strip_prefix_ignore_case(url, "blob:").unwrap_or(url);
    let path = without_query(url);
    let path = match path.find("://") {
        Some(index) => {
            let after_scheme = &path[index + 3..];
            after_scheme
                .find('/')
                .map_or("", |slash| &after_scheme[slash..])
        }
        None => path,
    };
    let mut segments: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .collect();
    let file = segments.pop()?;
    let mut parts: Vec<String> = segments
        .into_iter()
        .filter(|folder| !is_junk_folder(folder))
        .map(str::to_string)
        .collect();
    let stem = file_stem(file);
    if !stem.is_empty() {
        parts.push(stem);
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn is_junk_folder(folder: &str) -> bool {
    JUNK_FOLDERS.contains(&folder.to_ascii_lowercase().as_str())
        || is_version(folder)
        || is_content_hash(folder)
}

/// `v1.2.3`, `1.2.3`, `v2`, `1.2.3-beta.1`.
fn is_version(text: &str) -> bool {
    let text = text
        .strip_prefix('v')
        .or_else(|| text.strip_prefix('V'))
        .unwrap_or(text);
    let core = text.split(['-', '+']).next().unwrap_or(text);
    !core.is_empty()
        && core.starts_with(|c: char| c.is_ascii_digit())
        && core.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Content hashes: hex runs of six or more with a digit (webpack), pure
/// digit runs of six or more (build numbers), and eight or more
/// base64url-ish characters mixing digits with upper and lower case (Vite).
fn is_content_hash(text: &str) -> bool {
    let has_digit = text.bytes().any(|b| b.is_ascii_digit());
    if !has_digit {
        return false;
    }
    if text.len() >= 6 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    text.len() >= 8
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && text.bytes().any(|b| b.is_ascii_uppercase())
        && text.bytes().any(|b| b.is_ascii_lowercase())
}

/// `main.3f2a1b9c.min.js` → `main`, `chunk-5d3e2a.js` → `chunk`,
/// `react-dom.production.min.js` → `react-dom.production`.
fn file_stem(file: &str) -> String {
    let mut parts: Vec<&str> = file.split('.').collect();
    if parts.len() > 1
        && parts
            .last()
            .is_some_and(|ext| EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
    {
        parts.pop();
    }
    parts
        .into_iter()
        .map(strip_hash_suffix)
        .filter(|part| {
            !part.is_empty() && !part.eq_ignore_ascii_case("min") && !is_content_hash(part)
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// `chunk-5d3e2a` → `chunk`, `index-BfXZ3k9a` → `index`, `vendors~main` kept.
fn strip_hash_suffix(part: &str) -> &str {
    match part.rsplit_once(['-', '~', '_']) {
        Some((head, tail)) if !head.is_empty() && is_content_hash(tail) => head,
        _ => part,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_spellings_agree() {
        for raw in [
            "Object.foo",
            "foo@",
            "foo",
            "Foo.prototype.foo",
            "async foo",
            "Object.foo [as bar]",
            "outer/foo",
            "outer/<.foo",
            "foo<",
        ] {
            assert_eq!(normalize_function(raw).as_deref(), Some("foo"), "{raw}");
        }
        assert_eq!(normalize_function("new Foo").as_deref(), Some("Foo"));
    }

    #[test]
    fn anonymous_spellings_are_ignored() {
        for raw in [
            "?",
            "<anonymous>",
            "Object.<anonymous>",
            "Anonymous function",
            "foo/<",
            "foo/</<",
            "global code",
            "Global code",
            "",
            "@",
        ] {
            assert_eq!(normalize_function(raw), None, "{raw}");
        }
    }

    #[test]
    fn bundle_urls_become_stable_modules() {
        let cases = [
            (
                "https://cdn.example.com/static/js/main.3f2a1b9c.min.js?v=2",
                "main",
            ),
            (
                "https://cdn.example.com/static/js/main.9e8d7c6b.min.js",
                "main",
            ),
            ("https://example.com/assets/chunk-5d3e2a.js", "chunk"),
            ("https://example.com/assets/index-BfXZ3k9a.js", "index"),
            ("https://example.com/v1.2.3/dist/app.js#x", "app"),
            ("https://example.com/1.2.3/admin/app.min.js", "admin/app"),
            (
                "https://example.com/_next/static/chunks/pages/_app-1a2b3c4d5e.js",
                "pages/_app",
            ),
            (
                "http://localhost:3000/react-dom.production.min.js",
                "react-dom.production",
            ),
            (
                "webpack:///./src/components/Button.jsx",
                "src/components/Button",
            ),
            ("app:///main.jsbundle", "main.jsbundle"),
            ("/static/js/main.3f2a1b9c.js", "main"),
        ];
        for (url, expected) in cases {
            assert_eq!(
                javascript_module_from_url(url).as_deref(),
                Some(expected),
                "{url}"
            );
        }
        assert_eq!(javascript_module_from_url("https://example.com/"), None);
        assert_eq!(
            javascript_module_from_url("https://example.com/3f2a1b9c.js"),
            None
        );
    }

    #[test]
    fn eval_and_native_frames_are_dropped() {
        assert!(dropped_frame_reason(Some("eval"), None, None).is_some());
        assert!(dropped_frame_reason(Some("eval code"), None, None).is_some());
        assert!(dropped_frame_reason(None, Some("[native code]"), None).is_some());
        assert!(dropped_frame_reason(Some("f"), None, Some("<anonymous>")).is_some());
        assert!(dropped_frame_reason(Some("f"), Some("eval code"), None).is_some());
        assert!(dropped_frame_reason(Some("evaluate"), Some("https://x/a.js"), None).is_none());
    }
}
