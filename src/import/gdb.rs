//! Native crashes as gdb's `backtrace` (or `thread apply all bt`) prints them.
//!
//! ```text
//! Thread 1 "kiln" received signal SIGSEGV, Segmentation fault.
//! #0  0x00007ffff7e4a8d5 in __memmove_avx_unaligned_erms () from /lib/x86_64-linux-gnu/libc.so.6
//! #1  0x0000555555555a2c in Kiln::Mesh::upload (this=0x5555555592a0, data=0x0) at /src/kiln/Mesh.cpp:97
//! #2  0x0000555555555b10 in main (argc=1, argv=0x7fffffffe0b8) at /src/kiln/main.cpp:41
//! ```
//!
//! Frame `#0` is the crashing frame; frames are reversed. The signal line
//! gives the exception (`SIGSEGV`, `Segmentation fault`), marked synthetic
//! as native SDKs mark signals, so grouping goes by the frames. With several
//! threads, the one the signal (or a core file's `[Current thread is N]`)
//! names, else the first, is the exception's stack and the others become
//! threads; a plain `bt` printed before `thread apply all bt` is dropped as
//! a repeat.

use super::trace::{self, non_blank, split_trailing_parens};
use super::{ImportError, Parsed, TraceFormat};
use crate::event::{Exception, Frame, Mechanism, Stacktrace, Thread};
use regex::Regex;
use std::sync::LazyLock;

/// `[Thread N "name"] received signal SIGSEGV, Segmentation fault.` or
/// `Program terminated with signal SIGABRT, Aborted.` (core files).
static SIGNAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^\s*(?:Thread (?P<thread>\d+)\b.*?|Program) (?:received|terminated with) signal (?P<signal>[A-Z][A-Z0-9_]*), (?P<description>.*?)\.?\s*$"#,
    )
    .expect("gdb signal pattern is valid")
});

/// `[Current thread is 1 (…)]`: the crashed thread of a core file.
static CURRENT_THREAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*\[Current thread is (?P<number>\d+)\b").expect("gdb current pattern is valid")
});

/// `Thread 2 (Thread 0x7ffff7d8a640 (LWP 4242) "worker"):`
static THREAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*Thread (?P<number>\d+) \(.*\):\s*$").expect("gdb thread pattern is valid")
});

/// `#3  0x… in rest` or, for inlined frames, `#3  rest`.
static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*#(?P<number>\d+)\s+(?:(?P<address>0x[0-9a-fA-F]+) in )?(?P<rest>\S.*?)\s*$")
        .expect("gdb frame pattern is valid")
});

static AT_FILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<head>.*?)\s+at\s+(?P<file>\S.*):(?P<line>\d+)$")
        .expect("gdb at pattern is valid")
});

static FROM_LIBRARY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<head>.*?)\s+from\s+(?P<library>\S+)$").expect("gdb from pattern is valid")
});

/// Where system libraries live.
const SYSTEM_LIBRARIES: &[&str] = &[
    "/lib/",
    "/lib32/",
    "/lib64/",
    "/usr/lib/",
    "/usr/lib32/",
    "/usr/lib64/",
    "/usr/libexec/",
    "/System/",
    "/usr/local/lib/",
    "c:\\windows\\",
];

/// Source paths of the C library, compilers' headers and Rust's std.
const SYSTEM_SOURCES: &[&str] = &[
    "/usr/include/",
    "/usr/src/",
    "/rustc/",
    "/build/glibc",
    "../sysdeps/",
    "./nptl/",
    "./stdlib/",
    "./csu/",
    "./signal/",
    "./posix/",
    "./libio/",
    "./string/",
    "./malloc/",
    "./elf/",
    "/.cargo/registry/",
    "/.rustup/",
];

/// Functions of the C/C++ runtime and Rust's standard library.
const SYSTEM_FUNCTIONS: &[&str] = &[
    "__libc_",
    "__GI_",
    "_start",
    "start_thread",
    "__clone",
    "clone3",
    "__pthread_",
    "pthread_",
    "__cxa_",
    "_Unwind_",
    "std::",
    "core::",
    "alloc::",
    "__gnu_cxx::",
    "__cxxabiv1::",
    "__memmove",
    "__memcpy",
    "__strlen",
];

struct Block {
    number: Option<u64>,
    /// Log order (frame `#0` first).
    frames: Vec<Frame>,
}

#[derive(Default)]
struct Backtrace {
    signal: Option<(String, String)>,
    crashed_thread: Option<u64>,
    blocks: Vec<Block>,
}

pub(super) fn parse(text: &str) -> Result<Parsed, ImportError> {
    let backtrace = read_backtrace(&trace::lines(text));
    if backtrace.blocks.iter().all(|b| b.frames.is_empty()) {
        return Err(ImportError::NoTrace {
            format: TraceFormat::Gdb,
            expected: "a frame line like `#1  0x0000555555555a2c in main () at main.c:12`",
        });
    }
    let crashed_thread = backtrace.crashed_thread;
    let mut blocks = backtrace.blocks;
    // A plain `bt` before `thread apply all bt` repeats the current thread.
    let numbered = blocks.iter().any(|b| b.number.is_some());
    blocks.retain(|b| !b.frames.is_empty() && (b.number.is_some() || !numbered));
    let crashed = blocks
        .iter()
        .position(|b| crashed_thread.is_some() && b.number == crashed_thread)
        .unwrap_or(0);
    let crashed = (crashed < blocks.len()).then(|| blocks.remove(crashed));
    let mut exception = match backtrace.signal {
        Some((signal, description)) => signal_exception(signal, description),
        None => Exception::default(),
    };
    if let Some(block) = crashed {
        exception.thread_id = block.number.map(serde_json::Value::from);
        exception.stacktrace = Some(Stacktrace {
            frames: caller_first(block.frames),
        });
    }
    Ok(Parsed {
        exceptions: vec![exception],
        threads: blocks.into_iter().map(block_thread).collect(),
        platform: "native",
    })
}

fn signal_exception(signal: String, description: String) -> Exception {
    Exception {
        ty: Some(signal),
        value: Some(description).filter(|d| !d.is_empty()),
        mechanism: Some(Mechanism {
            ty: Some("signalhandler".to_string()),
            synthetic: Some(true),
            handled: Some(false),
            ..Mechanism::default()
        }),
        ..Exception::default()
    }
}

fn caller_first(mut frames: Vec<Frame>) -> Vec<Frame> {
    frames.reverse();
    frames
}

fn block_thread(block: Block) -> Thread {
    Thread {
        id: block.number.map(serde_json::Value::from),
        name: block.number.map(|n| format!("Thread {n}")),
        crashed: Some(false),
        current: None,
        stacktrace: Some(Stacktrace {
            frames: caller_first(block.frames),
        }),
    }
}

fn read_backtrace(lines: &[&str]) -> Backtrace {
    let mut backtrace = Backtrace::default();
    // gdb wraps long frames; the continuation is indented.
    let mut pending: Option<String> = None;
    for line in lines {
        let continues = pending.is_some()
            && line.starts_with(char::is_whitespace)
            && !line.trim().is_empty()
            && !FRAME.is_match(line);
        if continues {
            if let Some(text) = pending.as_mut() {
                text.push(' ');
                text.push_str(line.trim());
            }
            continue;
        }
        if let Some(text) = pending.take() {
            push_frame(&mut backtrace, &text);
        }
        if let Some(captures) = SIGNAL.captures(line) {
            let thread = captures
                .name("thread")
                .and_then(|m| m.as_str().parse().ok());
            backtrace.crashed_thread = backtrace.crashed_thread.or(thread);
            let signal = captures
                .name("signal")
                .map_or("", |m| m.as_str())
                .to_string();
            let description = captures.name("description").map_or("", |m| m.as_str());
            backtrace.signal = Some((signal, description.to_string()));
        } else if let Some(captures) = CURRENT_THREAD.captures(line) {
            let thread = captures
                .name("number")
                .and_then(|m| m.as_str().parse().ok());
            backtrace.crashed_thread = backtrace.crashed_thread.or(thread);
        } else if let Some(captures) = THREAD.captures(line) {
            backtrace.blocks.push(Block {
                number: captures
                    .name("number")
                    .and_then(|m| m.as_str().parse().ok()),
                frames: Vec::new(),
            });
        } else if FRAME.is_match(line) {
            pending = Some(line.trim().to_string());
        }
    }
    if let Some(text) = pending {
        push_frame(&mut backtrace, &text);
    }
    backtrace
}

fn push_frame(backtrace: &mut Backtrace, text: &str) {
    let Some(captures) = FRAME.captures(text) else {
        return;
    };
    let number = captures
        .name("number")
        .and_then(|m| m.as_str().parse::<u64>().ok());
    let rest = captures.name("rest").map_or("", |m| m.as_str());
    // A second `#0` without a `Thread` line starts another backtrace.
    let restart = number == Some(0) && backtrace.blocks.last().is_none_or(|b| !b.frames.is_empty());
    if restart || backtrace.blocks.is_empty() {
        backtrace.blocks.push(Block {
            number: None,
            frames: Vec::new(),
        });
    }
    if let (Some(frame), Some(block)) = (parse_frame(rest), backtrace.blocks.last_mut()) {
        block.frames.push(frame);
    }
}

/// `func (args) at file:line`, `func () from lib`, `?? ()`.
fn parse_frame(rest: &str) -> Option<Frame> {
    if rest.starts_with("<signal handler called>") {
        return None;
    }
    let mut frame = Frame::default();
    let mut head = rest;
    if let Some(captures) = AT_FILE.captures(rest) {
        let file = captures.name("file").map(|m| m.as_str().to_string());
        frame.abs_path = file.clone();
        frame.filename = file;
        frame.lineno = captures
            .name("line")
            .and_then(|m| trace::line_number(m.as_str()));
        head = captures.name("head").map_or("", |m| m.as_str());
    } else if let Some(captures) = FROM_LIBRARY.captures(rest) {
        frame.package = captures.name("library").map(|m| m.as_str().to_string());
        head = captures.name("head").map_or("", |m| m.as_str());
    }
    let name = split_trailing_parens(head)
        .map_or(head, |(name, _)| name)
        .trim();
    frame.function = (!name.is_empty() && name != "??").then(|| name.to_string());
    frame.in_app = Some(is_app(&frame));
    Some(frame)
}

fn is_app(frame: &Frame) -> bool {
    let library = frame.package.as_deref().is_some_and(|package| {
        let package = package.to_ascii_lowercase();
        SYSTEM_LIBRARIES
            .iter()
            .any(|dir| package.starts_with(&dir.to_ascii_lowercase()))
    });
    let source = frame.filename.as_deref().is_some_and(|file| {
        SYSTEM_SOURCES
            .iter()
            .any(|dir| file.starts_with(dir) || file.contains(dir))
    });
    let function = frame
        .function
        .as_deref()
        .is_some_and(|f| SYSTEM_FUNCTIONS.iter().any(|prefix| f.starts_with(prefix)));
    !(library || source || function)
}

/// Prints the signal line and a `bt` of the exception's frames.
pub(super) fn format(exceptions: &[Exception]) -> String {
    let mut out: Vec<String> = Vec::new();
    let Some(exception) = exceptions.last() else {
        return String::new();
    };
    if let Some(ty) = non_blank(exception.ty.as_deref()) {
        let description = non_blank(exception.value.as_deref()).unwrap_or("Unknown signal");
        out.push(format!(
            "Program received signal {ty}, {}.",
            trace::first_line(description)
        ));
    }
    for (index, frame) in trace::log_order(exception).enumerate() {
        let address = 0x5555_5555_5000_usize + 0x40 * index;
        out.push(format!(
            "#{index:<2} 0x{address:016x} in {}",
            frame_text(frame)
        ));
    }
    out.join("\n")
}

fn frame_text(frame: &Frame) -> String {
    let function = non_blank(frame.function.as_deref()).unwrap_or("??");
    let file = non_blank(frame.abs_path.as_deref()).or(non_blank(frame.filename.as_deref()));
    match (file, frame.lineno, non_blank(frame.package.as_deref())) {
        (Some(file), Some(line), _) => format!("{function} () at {file}:{line}"),
        (_, _, Some(library)) => format!("{function} () from {library}"),
        _ => format!("{function} ()"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_shapes() {
        let frame = parse_frame("Kiln::Mesh::upload (this=0x1, data=0x0) at /src/kiln/Mesh.cpp:97")
            .expect("frame");
        assert_eq!(frame.function.as_deref(), Some("Kiln::Mesh::upload"));
        assert_eq!(frame.filename.as_deref(), Some("/src/kiln/Mesh.cpp"));
        assert_eq!((frame.lineno, frame.in_app), (Some(97), Some(true)));
        let libc = parse_frame("raise () from /lib/x86_64-linux-gnu/libc.so.6").expect("frame");
        assert_eq!(
            libc.package.as_deref(),
            Some("/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(libc.in_app, Some(false));
        let unknown = parse_frame("?? ()").expect("frame");
        assert_eq!(unknown.function, None);
        assert!(parse_frame("<signal handler called>").is_none());
    }
}
