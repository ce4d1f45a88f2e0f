//! Go panics and fatal errors with their goroutine dumps.
//!
//! ```text
//! panic: runtime error: index out of range [5] with length 3
//!
//! goroutine 1 [running]:
//! github.com/acme/orders/internal/pricing.ApplyTiers(...)
//!     /home/build/orders/internal/pricing/tiers.go:33
//! main.main()
//!     /home/build/orders/main.go:20 +0x45
//! exit status 2
//! ```
//!
//! The first goroutine is the one that panicked: its frames (printed
//! crashing frame first, so reversed) become the exception's stacktrace and
//! the other goroutines become threads. `panic: a [recovered]` followed by
//! `panic: b` is a chain, the first panic oldest. Plain-text panics do not
//! say the Go type of the value, so the type is `panic` (or `fatal error`),
//! except for the runtime's own errors, which get the type sentry-go reports
//! for them (`runtime.boundsError`, …).

use super::trace::{self, non_blank, split_trailing_parens};
use super::{ImportError, Parsed, TraceFormat};
use crate::event::{Exception, Frame, Stacktrace, Thread};
use regex::Regex;
use std::sync::LazyLock;

static PANIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?P<kind>panic|fatal error): (?P<message>.*?)(?:\s\[recovered(?:, repanicked)?\])?\s*$",
    )
    .expect("go panic pattern is valid")
});

/// `goroutine 7 [running]:` (newer runtimes add `gp=… m=…` before the state).
static GOROUTINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*goroutine (?P<id>\d+)\b[^\[]*\[(?P<state>[^\]]*)\]:\s*$")
        .expect("goroutine pattern is valid")
});

/// `\t/path/file.go:12 +0x1d` (with `fp=… sp=… pc=…` under GOTRACEBACK=system).
static FILE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+(?P<path>\S.*?):(?P<line>\d+)(?:\s+\+0x[0-9a-fA-F]+)?(?:\s+\w+=\S+)*\s*$")
        .expect("go file pattern is valid")
});

static CREATED_BY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*created by \S").expect("created-by pattern is valid"));

/// Top-level packages of the standard library.
const STD_ROOTS: &[&str] = &[
    "archive",
    "bufio",
    "builtin",
    "bytes",
    "cmp",
    "compress",
    "container",
    "context",
    "crypto",
    "database",
    "debug",
    "embed",
    "encoding",
    "errors",
    "expvar",
    "flag",
    "fmt",
    "go",
    "hash",
    "html",
    "image",
    "index",
    "internal",
    "io",
    "iter",
    "log",
    "maps",
    "math",
    "mime",
    "net",
    "os",
    "path",
    "plugin",
    "reflect",
    "regexp",
    "runtime",
    "slices",
    "sort",
    "strconv",
    "strings",
    "structs",
    "sync",
    "syscall",
    "testing",
    "text",
    "time",
    "unicode",
    "unique",
    "unsafe",
    "vendor",
    "weak",
];

/// Where Go itself is installed, and the module cache.
const LIBRARY_PATHS: &[&str] = &[
    "/usr/local/go/",
    "/usr/lib/go",
    "/usr/local/Cellar/go/",
    "/opt/homebrew/Cellar/go/",
    "c:/program files/go/",
    "c:/go/",
    "/pkg/mod/",
    "/vendor/",
];

struct Panic {
    kind: String,
    message: String,
    more_lines: Vec<String>,
}

struct Goroutine {
    id: u64,
    /// Log order (crashing frame first).
    frames: Vec<Frame>,
}

#[derive(Default)]
struct Dump {
    panics: Vec<Panic>,
    goroutines: Vec<Goroutine>,
}

pub(super) fn parse(text: &str) -> Result<Parsed, ImportError> {
    let dump = read_dump(&trace::lines(text));
    if dump.panics.is_empty() && dump.goroutines.is_empty() {
        return Err(ImportError::NoTrace {
            format: TraceFormat::Go,
            expected: "`panic: …`, `fatal error: …` or `goroutine 1 [running]:`",
        });
    }
    let mut goroutines = dump.goroutines.into_iter();
    let crashed = goroutines.next();
    let thread_id = crashed.as_ref().map(|g| serde_json::Value::from(g.id));
    let frames = crashed.map(|g| caller_first(g.frames)).unwrap_or_default();
    let mut exceptions: Vec<Exception> = dump.panics.iter().map(panic_exception).collect();
    if exceptions.is_empty() {
        exceptions.push(Exception::default());
    }
    if let Some(last) = exceptions.last_mut() {
        last.stacktrace = (!frames.is_empty()).then_some(Stacktrace { frames });
        last.thread_id = thread_id;
    }
    Ok(Parsed {
        exceptions,
        threads: goroutines.map(goroutine_thread).collect(),
        platform: "go",
    })
}

fn caller_first(mut frames: Vec<Frame>) -> Vec<Frame> {
    frames.reverse();
    frames
}

fn panic_exception(panic: &Panic) -> Exception {
    let more: Vec<&str> = panic.more_lines.iter().map(String::as_str).collect();
    let ty = panic_type(&panic.kind, &panic.message);
    trace::exception(
        Some(ty.to_string()),
        None,
        trace::message(Some(&panic.message), &more),
        Vec::new(),
    )
}

fn goroutine_thread(goroutine: Goroutine) -> Thread {
    let frames = caller_first(goroutine.frames);
    Thread {
        id: Some(serde_json::Value::from(goroutine.id)),
        name: Some(format!("goroutine {}", goroutine.id)),
        crashed: Some(false),
        current: None,
        stacktrace: (!frames.is_empty()).then_some(Stacktrace { frames }),
    }
}

/// The type sentry-go reports for the runtime's own panics.
fn panic_type(kind: &str, message: &str) -> &'static str {
    if kind == "fatal error" {
        return "fatal error";
    }
    if let Some(runtime) = message.strip_prefix("runtime error: ") {
        let bounds = runtime.starts_with("index out of range")
            || runtime.starts_with("slice bounds out of range");
        return if bounds {
            "runtime.boundsError"
        } else {
            "runtime.errorString"
        };
    }
    if message.starts_with("interface conversion: ") {
        return "*runtime.TypeAssertionError";
    }
    let plain = [
        "assignment to entry in nil map",
        "send on closed channel",
        "close of closed channel",
        "close of nil channel",
    ];
    if plain.iter().any(|p| message.starts_with(p)) {
        return "runtime.plainError";
    }
    "panic"
}

fn read_dump(lines: &[&str]) -> Dump {
    let mut dump = Dump::default();
    // A panic's message may go on over several lines.
    let mut in_message = false;
    // The file line after `created by …` is not a frame of this goroutine.
    let mut skip_file = false;
    for line in lines {
        if let Some(captures) = PANIC.captures(line) {
            dump.panics.push(Panic {
                kind: captures
                    .name("kind")
                    .map_or("panic", |m| m.as_str())
                    .to_string(),
                message: captures
                    .name("message")
                    .map_or("", |m| m.as_str())
                    .to_string(),
                more_lines: Vec::new(),
            });
            in_message = true;
        } else if let Some(captures) = GOROUTINE.captures(line) {
            let id = captures.name("id").and_then(|m| m.as_str().parse().ok());
            dump.goroutines.push(Goroutine {
                id: id.unwrap_or(0),
                frames: Vec::new(),
            });
            in_message = false;
        } else if line.trim().is_empty() || line.starts_with("[signal ") {
            in_message = false;
        } else if let Some(goroutine) = dump.goroutines.last_mut() {
            if !read_goroutine_line(goroutine, line, &mut skip_file) {
                break;
            }
        } else if let Some(panic) = dump.panics.last_mut().filter(|_| in_message) {
            panic.more_lines.push(line.to_string());
        }
    }
    dump
}

/// One line inside a goroutine; `false` when it is not part of the dump.
fn read_goroutine_line(goroutine: &mut Goroutine, line: &str, skip_file: &mut bool) -> bool {
    if CREATED_BY.is_match(line) {
        *skip_file = true;
        return true;
    }
    if let Some(captures) = FILE_LINE.captures(line) {
        if std::mem::take(skip_file) {
            return true;
        }
        let path = captures
            .name("path")
            .map(|m| m.as_str())
            .filter(|p| *p != "?");
        let lineno = captures
            .name("line")
            .and_then(|m| trace::line_number(m.as_str()));
        if let Some(frame) = goroutine.frames.last_mut().filter(|f| f.filename.is_none()) {
            frame.filename = path.map(str::to_string);
            frame.abs_path = path.map(str::to_string);
            frame.lineno = lineno;
            frame.in_app = Some(is_app(frame.module.as_deref(), path));
        }
        return true;
    }
    if line.trim() == "...additional frames elided..." {
        return true;
    }
    match function_line(line) {
        Some(frame) => {
            goroutine.frames.push(frame);
            true
        }
        None => false,
    }
}

/// `pkg/path.Func(args)` at the start of a line.
fn function_line(line: &str) -> Option<Frame> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (symbol, _) = split_trailing_parens(line.trim_end())?;
    if symbol.is_empty() || symbol.contains(' ') {
        return None;
    }
    let (module, function) = split_symbol(symbol);
    Some(Frame {
        in_app: Some(is_app(module.as_deref(), None)),
        module,
        function: Some(function.to_string()),
        ..Frame::default()
    })
}

/// `github.com/a/b.(*T).M` → (`github.com/a/b`, `(*T).M`). The runtime
/// escapes dots in the last path element as `%2e`.
fn split_symbol(symbol: &str) -> (Option<String>, &str) {
    let last_start = symbol.rfind('/').map_or(0, |slash| slash + 1);
    let (dir, last) = symbol.split_at(last_start);
    match last.split_once('.') {
        Some((package, function)) if !package.is_empty() && !function.is_empty() => {
            let module = format!("{dir}{package}").replace("%2e", ".");
            (Some(module), function)
        }
        _ => (None, symbol),
    }
}

fn is_app(module: Option<&str>, path: Option<&str>) -> bool {
    let library_path = path.is_some_and(|path| {
        let path = path.replace('\\', "/").to_ascii_lowercase();
        LIBRARY_PATHS.iter().any(|p| path.contains(p))
    });
    let std_module = module.is_some_and(|module| {
        let root = module.split('/').next().unwrap_or(module);
        !root.contains('.') && STD_ROOTS.contains(&root)
    });
    !(library_path || std_module)
}

/// Prints the panics oldest first and the last one's goroutine.
pub(super) fn format(exceptions: &[Exception]) -> String {
    let mut out: Vec<String> = Vec::new();
    let last = exceptions.len().saturating_sub(1);
    for (index, exception) in exceptions.iter().enumerate() {
        let kind = match exception.ty.as_deref() {
            Some("fatal error") => "fatal error",
            _ => "panic",
        };
        let indent = if index == 0 { "" } else { "\t" };
        let recovered = if index < last { " [recovered]" } else { "" };
        let value = non_blank(exception.value.as_deref()).unwrap_or_default();
        out.push(format!(
            "{indent}{kind}: {}{recovered}",
            trace::first_line(value)
        ));
        trace::push_message_lines(&mut out, value, "");
    }
    let crashed = exceptions
        .iter()
        .rev()
        .find(|e| trace::log_order(e).next().is_some());
    let frames: Vec<&Frame> = crashed
        .map(|e| trace::log_order(e).collect())
        .unwrap_or_default();
    let goroutine = crashed
        .and_then(|e| e.thread_id.as_ref())
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1);
    out.push(String::new());
    out.push(format!("goroutine {goroutine} [running]:"));
    for (index, frame) in frames.iter().enumerate() {
        out.push(format!("{}(...)", symbol_text(frame)));
        let path = non_blank(frame.abs_path.as_deref())
            .or(non_blank(frame.filename.as_deref()))
            .unwrap_or("?");
        let offset = 0x1d + 0x10 * index;
        out.push(format!(
            "\t{path}:{} +0x{offset:x}",
            frame.lineno.unwrap_or(0)
        ));
    }
    out.join("\n")
}

/// `module.function`, dots in the module's last element escaped.
fn symbol_text(frame: &Frame) -> String {
    let function = non_blank(frame.function.as_deref()).unwrap_or("unknown");
    match non_blank(frame.module.as_deref()) {
        Some(module) => {
            let last_start = module.rfind('/').map_or(0, |slash| slash + 1);
            let (dir, last) = module.split_at(last_start);
            format!("{dir}{}.{function}", last.replace('.', "%2e"))
        }
        None => function.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_split_at_the_package() {
        assert_eq!(
            split_symbol("github.com/acme/orders/internal/worker.(*Pool).start.func1"),
            (
                Some("github.com/acme/orders/internal/worker".to_string()),
                "(*Pool).start.func1"
            )
        );
        assert_eq!(
            split_symbol("main.main"),
            (Some("main".to_string()), "main")
        );
        assert_eq!(
            split_symbol("gopkg.in/yaml%2ev3.(*decoder).unmarshal"),
            (Some("gopkg.in/yaml.v3".to_string()), "(*decoder).unmarshal")
        );
        assert_eq!(split_symbol("orphan"), (None, "orphan"));
    }

    #[test]
    fn runtime_panics_get_sentry_go_types() {
        assert_eq!(
            panic_type(
                "panic",
                "runtime error: index out of range [5] with length 3"
            ),
            "runtime.boundsError"
        );
        assert_eq!(
            panic_type(
                "panic",
                "runtime error: invalid memory address or nil pointer dereference"
            ),
            "runtime.errorString"
        );
        assert_eq!(panic_type("panic", "boom"), "panic");
        assert_eq!(
            panic_type("fatal error", "concurrent map writes"),
            "fatal error"
        );
    }

    #[test]
    fn library_frames() {
        assert!(!is_app(
            Some("runtime"),
            Some("/usr/local/go/src/runtime/panic.go")
        ));
        assert!(!is_app(Some("net/http"), None));
        assert!(!is_app(
            Some("github.com/lib/pq"),
            Some("/root/go/pkg/mod/github.com/lib/pq@v1.10.9/conn.go")
        ));
        assert!(is_app(Some("main"), Some("/app/main.go")));
        assert!(is_app(Some("github.com/acme/orders/internal/worker"), None));
    }
}
