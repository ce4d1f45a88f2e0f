//! PHP function names.
//!
//! Anonymous classes are named after the file, line and a per-request
//! counter (`class@anonymous/in/file.php:12$0::method`, with a NUL byte or
//! `%0` before the path): the method name is all that is stable. PHP 8.4
//! closures carry their location (`{closure:/app/x.php:12}`): it becomes
//! `{closure}` like older versions spell it.

/// Normalizes a PHP function name; `None` when empty.
pub fn normalize_function(raw: &str) -> Option<String> {
    let name = raw.trim();
    if name.is_empty() {
        return None;
    }
    if name.contains("@anonymous") {
        return Some(match name.rsplit_once("::") {
            Some((_, method)) if !method.is_empty() => method.to_string(),
            _ => "class@anonymous".to_string(),
        });
    }
    if name.starts_with("{closure:") && name.ends_with('}') {
        return Some("{closure}".to_string());
    }
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_classes_reduce_to_the_method() {
        let cases = [
            ("class@anonymous/in/file.php:12$0::method", "method"),
            (
                "class@anonymous%0/var/www/app/src/Foo.php:34$1a::handle",
                "handle",
            ),
            ("class@anonymous\0/var/www/a.php:3$0::run", "run"),
            ("App\\Base@anonymous/in/x.php:5$2::run", "run"),
            ("class@anonymous/in/file.php:12$0", "class@anonymous"),
            ("{closure:/app/src/x.php:12}", "{closure}"),
            ("{closure}", "{closure}"),
            (
                "App\\Http\\Controllers\\UserController::show",
                "App\\Http\\Controllers\\UserController::show",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_function(raw).as_deref(), Some(expected), "{raw}");
        }
    }
}
