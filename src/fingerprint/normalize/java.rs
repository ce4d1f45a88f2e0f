//! JVM class and method names.
//!
//! Proxies, accessors and closures generated at runtime carry counters or
//! hashes that differ between JVMs, deploys and restarts; the varying part is
//! replaced by `<auto>` so `Foo$$EnhancerBySpringCGLIB$$1a2b3c4d` and
//! `Foo$$EnhancerBySpringCGLIB$$5e6f7a8b` are one module. Lambda classes
//! (`$$Lambda$`, `$$Lambda/0x…`, Android's `$$ExternalSyntheticLambda`) and
//! `lambda$…` methods are ignored: their names are numbered by the compiler
//! in source order, so they change when unrelated code moves.

use regex::Regex;
use std::sync::LazyLock;

/// Replaces the varying part of a generated name.
const AUTO: &str = "<auto>";

/// Markers of compiler-generated lambda classes.
const LAMBDA_CLASS_MARKERS: [&str; 2] = ["$$Lambda", "$$ExternalSyntheticLambda"];

/// `(pattern, replacement)` pairs; the replacement keeps the stable prefix.
static GENERATED: LazyLock<Vec<(Regex, String)>> = LazyLock::new(|| {
    [
        // Spring/CGLIB/Guice enhancers and fast classes.
        (
            r"(\$\$[A-Za-z]*(?:CGLIB|Guice)[A-Za-z]*\$\$)[0-9A-Za-z_]+",
            "${1}",
        ),
        (r"(\$HibernateProxy\$)[0-9A-Za-z_]+", "${1}"),
        (r"(_\$\$_javassist)_?[0-9A-Za-z_]+", "${1}"),
        (r"(_\$\$_jvst)[0-9A-Za-z_]+", "${1}"),
        (
            r"(Generated(?:Serialization)?(?:Method|Constructor)Accessor)[0-9]+",
            "${1}",
        ),
        (r"(\$Proxy)[0-9]+", "${1}"),
        (r"\b(jdk\.proxy)[0-9]+", "${1}"),
        // Clojure: `$fn__12345`, `$reify__123`, `$eval123`.
        (r"(\$[A-Za-z_][A-Za-z0-9_]*?__)[0-9]+", "${1}"),
        (r"(\$eval)[0-9]+", "${1}"),
        // CGLIB proxy methods: `CGLIB$save$3`.
        (r"(CGLIB\$[A-Za-z0-9_]+\$)[0-9]+", "${1}"),
    ]
    .into_iter()
    .map(|(pattern, keep)| {
        let regex = Regex::new(pattern).expect("generated-name pattern is valid");
        (regex, format!("{keep}{AUTO}"))
    })
    .collect()
});

/// Replaces generated counters and hashes with `<auto>`.
pub fn normalize_generated(name: &str) -> String {
    let mut out = name.trim().to_string();
    // Every generated spelling contains one of these; most names have none,
    // and skipping the regexes for them is most of fingerprinting's speed.
    if !(out.contains('$') || out.contains("Accessor") || out.contains("jdk.proxy")) {
        return out;
    }
    for (regex, replacement) in GENERATED.iter() {
        if regex.is_match(&out) {
            out = regex.replace_all(&out, replacement.as_str()).into_owned();
        }
    }
    out
}

/// True for a compiler-generated lambda class.
pub fn is_lambda_class(module: &str) -> bool {
    LAMBDA_CLASS_MARKERS
        .iter()
        .any(|marker| module.contains(marker))
}

/// Normalizes a JVM method name; `None` for `lambda$…` methods.
pub fn normalize_function(raw: &str) -> Option<String> {
    let name = raw.trim();
    if name.is_empty() || name.starts_with("lambda$") {
        return None;
    }
    Some(normalize_generated(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spring_proxies_differing_only_in_suffix_agree() {
        let a = normalize_generated("com.example.UserService$$EnhancerBySpringCGLIB$$1a2b3c4d");
        let b = normalize_generated("com.example.UserService$$EnhancerBySpringCGLIB$$9f8e7d6c");
        assert_eq!(a, b);
        assert_eq!(a, "com.example.UserService$$EnhancerBySpringCGLIB$$<auto>");
        assert_eq!(
            normalize_generated("com.example.Foo$$FastClassBySpringCGLIB$$abc123"),
            "com.example.Foo$$FastClassBySpringCGLIB$$<auto>"
        );
        assert_eq!(
            normalize_generated("com.example.Foo$$SpringCGLIB$$0"),
            "com.example.Foo$$SpringCGLIB$$<auto>"
        );
    }

    #[test]
    fn other_generated_names() {
        let cases = [
            (
                "com.example.Foo$$EnhancerByGuice$$12ab",
                "com.example.Foo$$EnhancerByGuice$$<auto>",
            ),
            (
                "com.example.User$HibernateProxy$xyz123",
                "com.example.User$HibernateProxy$<auto>",
            ),
            (
                "com.example.User_$$_javassist_123",
                "com.example.User_$$_javassist<auto>",
            ),
            (
                "com.example.User_$$_jvst1a2_4",
                "com.example.User_$$_jvst<auto>",
            ),
            (
                "sun.reflect.GeneratedMethodAccessor123",
                "sun.reflect.GeneratedMethodAccessor<auto>",
            ),
            (
                "jdk.internal.reflect.GeneratedConstructorAccessor12",
                "jdk.internal.reflect.GeneratedConstructorAccessor<auto>",
            ),
            (
                "sun.reflect.GeneratedSerializationConstructorAccessor7",
                "sun.reflect.GeneratedSerializationConstructorAccessor<auto>",
            ),
            ("com.sun.proxy.$Proxy123", "com.sun.proxy.$Proxy<auto>"),
            ("jdk.proxy2.$Proxy45", "jdk.proxy<auto>.$Proxy<auto>"),
            ("clojure.core$map$fn__12345", "clojure.core$map$fn__<auto>"),
            ("user$eval1234", "user$eval<auto>"),
            ("java.lang.Thread", "java.lang.Thread"),
            ("com.example.Outer$Inner", "com.example.Outer$Inner"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_generated(raw), expected, "{raw}");
        }
    }

    #[test]
    fn lambdas_are_ignored() {
        assert!(is_lambda_class(
            "com.example.Foo$$Lambda$123/0x0000000800c02a00"
        ));
        assert!(is_lambda_class(
            "com.example.Foo$$Lambda/0x0000000800c02a00"
        ));
        assert!(is_lambda_class("com.example.Foo$$ExternalSyntheticLambda0"));
        assert!(!is_lambda_class("com.example.Foo$Inner"));
        assert_eq!(normalize_function("lambda$handle$0"), None);
        assert_eq!(normalize_function("lambda$static$3"), None);
        assert_eq!(
            normalize_function("access$000").as_deref(),
            Some("access$000")
        );
        assert_eq!(
            normalize_function("CGLIB$save$3").as_deref(),
            Some("CGLIB$save$<auto>")
        );
        assert_eq!(normalize_function("run").as_deref(), Some("run"));
    }
}
