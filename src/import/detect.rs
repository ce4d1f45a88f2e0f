//! Which format a trace is in, for [`TraceFormat::Auto`].
//!
//! Every line is matched against markers of each format; a marker adds its
//! weight to its format's score. Formats are tried best score first (ties in
//! [`TraceFormat::CONCRETE`] order) and the first that parses wins; a
//! format with no marker at all is never tried.
//!
//! | format | markers (weight) |
//! |---|---|
//! | Python | `Traceback (most recent call last):` (10), `File "x.py", line 3` (3) |
//! | Java | `Exception in thread "…"` (5), `at a.B.m(B.java:12)` / `(Native Method)` / `(Unknown Source)` (3), `Caused by: a.B` (3), `... 3 more` (2) |
//! | .NET | `--- End of … stack trace …` (5), `at A.B.M(…) in file:line 12` (4), ` ---> A.B` (3), `at A.B.M(…)` (1) |
//! | JavaScript | `at fn (file:1:2)`, `at file:1:2`, `at fn (file:1)`, `fn@file:1:2` (3), `at fn (<anonymous>)` (2), `[cause]:` (2) |
//! | Go | `goroutine 1 [running]:` (10), `panic: …` / `fatal error: …` (4), `\t/x/file.go:12 +0x1d` (3) |
//! | Ruby | `file.rb:12:in 'm'` (4), `from file:12:in 'm'` (3), `file:12:in 'm'` (1) |
//! | gdb | `received signal SIGSEGV` / `terminated with signal` (5), `#1  0x… in f () at file.c:12` / `from lib` (3) |
//!
//! The weights make a format's distinctive lines (Python's `Traceback`, Go's
//! `goroutine`) outweigh frame shapes that two formats share: a Java frame
//! also looks like a .NET frame without a file, which is why .NET's generic
//! frame weighs 1 and Java's 3.

use super::TraceFormat;
use regex::RegexSet;
use std::sync::LazyLock;

const MARKERS: &[(TraceFormat, &str, u32)] = &[
    (
        TraceFormat::Python,
        r"Traceback \(most recent call last\):",
        10,
    ),
    (TraceFormat::Python, r#"^\s*File ".*", line \d+"#, 3),
    (TraceFormat::Java, r#"Exception in thread ""#, 5),
    (
        TraceFormat::Java,
        r"^\s*at\s+[^\s()]+\((?:[^()]*\.(?:java|kt|kts|scala|groovy|clj|aj)(?::\d+)?|Native Method|Unknown Source(?::\d+)?|<generated>)\)",
        3,
    ),
    (TraceFormat::Java, r"^\s*Caused by: [\w$]+\.[\w$.]+", 3),
    (
        TraceFormat::Java,
        r"^\s*\.\.\. \d+ (?:more|common frames omitted)\s*$",
        2,
    ),
    (
        TraceFormat::CSharp,
        r"--- End of (?:inner exception )?stack trace",
        5,
    ),
    (
        TraceFormat::CSharp,
        r"^\s*at [^\s()]+\(.*\) in .+:line \d+\s*$",
        4,
    ),
    (TraceFormat::CSharp, r"^\s*---> [\w`]+\.[\w`.]+", 3),
    (TraceFormat::CSharp, r"^\s*at [^\s()]+\([^()]*\)\s*$", 1),
    (
        TraceFormat::JavaScript,
        r"^\s*at (?:.+ \()?\S+:\d+:\d+\)?(?:\s*\{)?\s*$",
        3,
    ),
    // A line but no column: only after `fn (` or alone, never `Class.m(File.java:12)`.
    (
        TraceFormat::JavaScript,
        r"^\s*at (?:.+ \(\S+:\d+\)|[^\s()]+:\d+)(?:\s*\{)?\s*$",
        3,
    ),
    (
        TraceFormat::JavaScript,
        r"^\s*at .+ \((?:<anonymous>|native|index \d+)\)\s*$",
        2,
    ),
    (
        TraceFormat::JavaScript,
        r"^\s*[^@\s:(]*(?: [^@\s:(]+)*@\S+:\d+:\d+\s*$",
        3,
    ),
    (TraceFormat::JavaScript, r"^\s*\[cause\]: ", 2),
    (TraceFormat::Go, r"^\s*goroutine \d+\b[^\[]*\[[^\]]*\]:", 10),
    (TraceFormat::Go, r"^\s*(?:panic|fatal error): ", 4),
    (TraceFormat::Go, r"^\s+\S+\.go:\d+(?: \+0x[0-9a-fA-F]+)?", 3),
    (TraceFormat::Ruby, r"\.rb:\d+:in [`']", 4),
    (TraceFormat::Ruby, r"^\s*from \S+:\d+:in [`']", 3),
    (TraceFormat::Ruby, r":\d+:in [`'][^`']*'", 1),
    (
        TraceFormat::Gdb,
        r"(?:received|terminated with) signal [A-Z][A-Z0-9_]*",
        5,
    ),
    (
        TraceFormat::Gdb,
        r"^\s*#\d+\s+(?:0x[0-9a-fA-F]+ in )?\S.*\)(?: at \S.*:\d+| from \S+)?\s*$",
        3,
    ),
];

static SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(MARKERS.iter().map(|(_, pattern, _)| *pattern))
        .expect("detection patterns are valid")
});

/// The formats with any marker in `text`, best first.
pub(super) fn ranked_formats(text: &str) -> Vec<TraceFormat> {
    let mut scores = [0u64; TraceFormat::CONCRETE.len()];
    for line in text.lines() {
        for index in SET.matches(line).iter() {
            let Some((format, _, weight)) = MARKERS.get(index) else {
                continue;
            };
            let slot = TraceFormat::CONCRETE.iter().position(|f| f == format);
            if let Some(score) = slot.and_then(|slot| scores.get_mut(slot)) {
                *score += u64::from(*weight);
            }
        }
    }
    let mut ranked: Vec<(u64, usize)> = scores
        .iter()
        .enumerate()
        .filter(|(_, score)| **score > 0)
        .map(|(slot, score)| (*score, slot))
        .collect();
    // Highest score first; ties keep `CONCRETE` order.
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .filter_map(|(_, slot)| TraceFormat::CONCRETE.get(slot).copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn best(text: &str) -> Option<TraceFormat> {
        ranked_formats(text).first().copied()
    }

    #[test]
    fn each_format_is_recognized_by_its_lines() {
        let cases = [
            (
                "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nValueError: x",
                TraceFormat::Python,
            ),
            (
                "java.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)",
                TraceFormat::Java,
            ),
            (
                "System.Exception: x\n   at A.B.C() in /src/B.cs:line 3",
                TraceFormat::CSharp,
            ),
            ("System.Exception: x\n   at A.B.C()", TraceFormat::CSharp),
            (
                "Error: x\n    at f (/app/a.js:1:2)",
                TraceFormat::JavaScript,
            ),
            ("f@https://x.example/a.js:1:2", TraceFormat::JavaScript),
            (
                "panic: x\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:5 +0x1d",
                TraceFormat::Go,
            ),
            ("a.rb:1:in `f': x (RuntimeError)", TraceFormat::Ruby),
            ("#0  0x0000000000401136 in f () at a.c:3", TraceFormat::Gdb),
        ];
        for (text, format) in cases {
            assert_eq!(best(text), Some(format), "{text}");
        }
        assert_eq!(best("just a log line"), None);
    }
}
