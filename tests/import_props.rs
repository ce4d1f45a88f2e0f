//! Property tests for plain-text trace import: it never panics, on any
//! text or on mutated traces, and `format_trace` → `import_trace` keeps
//! every frame's function, module, filename and line number, in every format.

use proptest::prelude::*;
use proptest::strategy::Union;
use stackherd::event::{Event, Exception, Exceptions, Frame, Mechanism, Stacktrace};
use stackherd::import::{TraceFormat, format_trace, import_trace};

const ALL_FORMATS: [TraceFormat; 8] = [
    TraceFormat::Auto,
    TraceFormat::Java,
    TraceFormat::Python,
    TraceFormat::JavaScript,
    TraceFormat::Go,
    TraceFormat::Ruby,
    TraceFormat::CSharp,
    TraceFormat::Gdb,
];

/// Fragments of every format's syntax, to reach deep parser states.
const TOKENS: &[&str] = &[
    "\tat ",
    "    at ",
    "Caused by: ",
    "\tSuppressed: ",
    "\t... 3 more",
    "... 99999999999999999999 more",
    "Traceback (most recent call last):\n",
    "  File \"x.py\", line 0, in f\n",
    "The above exception was the direct cause of the following exception:\n",
    "goroutine 1 [running]:\n",
    "panic: ",
    " [recovered]",
    "#0  ",
    "#12 0x00007f in ",
    " at a.c:7",
    " ---> ",
    "--- End of inner exception stack trace ---",
    "[cause]: Error: x {",
    "{",
    "}",
    "(",
    ")",
    ":",
    "@",
    "\n",
    "\t",
    "é",
    "\u{0}",
    "`",
    "'",
    "0x1d",
    ":in `",
    ":line ",
    " from /lib/x.so",
    "<",
    ">",
    "%2e",
    "\r\n",
    "java.lang.E: m",
    "a.B.c(B.java:1)",
    "f (/a.js:1:2)",
    "x.rb:1:in `m'",
    "received signal SIGSEGV, Segmentation fault.",
    "Thread 2 (Thread 0x1 (LWP 2)):\n",
    "😀",
    "  + Exception Group Traceback (most recent call last):\n",
    "  +-+---------------- 1 ----------------\n",
    "    | ",
    "    +---------------- ... ----------------\n",
    "    +------------------------------------\n",
    "Exception Group Traceback (most recent call last):\n",
];

/// Hand-written traces with the syntax generated events do not produce.
const SEEDS: &[&str] = &[
    "  + Exception Group Traceback (most recent call last):
  |   File \"/srv/app/sync.py\", line 81, in run
  | ExceptionGroup: errors (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Exception Group Traceback (most recent call last):
    |   File \"/srv/app/sync.py\", line 12, in inner
    | ExceptionGroup: inner (1 sub-exception)
    +-+---------------- 1 ----------------
      | ValueError: 1
      +------------------------------------
    +---------------- 2 ----------------
    | KeyError: 'x'
    +------------------------------------
",
    "java.io.IOException: flush failed
\tat com.example.Writer.flush(Writer.java:88)
\tSuppressed: java.io.IOException: close failed
\t\tat com.example.Writer.close(Writer.java:97)
\t\t... 1 more
Caused by: java.nio.file.FileSystemException: disk full
\tat com.example.Writer.write(Writer.java:85)
\t... 1 more
",
    "Error: outer
    at run (/app/a.js:1:2) {
  [cause]: Error: inner
      at connect (node:net:1:1) {
    code: 'ECONNREFUSED'
  }
}
",
    "Program terminated with signal SIGSEGV, Segmentation fault.
[Current thread is 2 (Thread 0x1 (LWP 9))]
Thread 2 (Thread 0x1 (LWP 9)):
#0  0x0000000000401136 in f (a=1,
    b=2) at a.c:3
#1  0x0000000000401200 in ?? () from /lib/libc.so.6
Thread 1 (Thread 0x2 (LWP 8)):
#0  0x0000000000401300 in main () at a.c:9
",
];

// ------------------------------------------------------------ generators --

fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9 ,'=_-]{0,30}[A-Za-z0-9]"
}

fn lineno() -> impl Strategy<Value = u64> {
    1u64..200_000
}

fn frame(
    module: Option<String>,
    function: String,
    filename: Option<String>,
    lineno: Option<u64>,
) -> Frame {
    Frame {
        module,
        function: Some(function),
        filename,
        lineno,
        ..Frame::default()
    }
}

fn java_frame() -> impl Strategy<Value = Frame> {
    let module = "(com|org|net)\\.[a-z]{2,8}(\\.[a-z]{2,8}){0,2}\\.[A-Z][A-Za-z0-9]{1,10}(\\$[A-Z][a-z]{1,6})?";
    let function = prop_oneof![
        4 => "[a-z][A-Za-z0-9]{0,10}",
        1 => Just("<init>".to_string()),
        1 => Just("lambda$run$0".to_string()),
    ];
    let file = proptest::option::of("[A-Z][A-Za-z]{1,10}\\.(java|kt|scala)");
    (module, function, file, proptest::option::of(lineno()))
        .prop_map(|(m, f, file, line)| frame(Some(m), f, file, line))
}

fn python_frame() -> impl Strategy<Value = Frame> {
    let function = prop_oneof![
        4 => "[a-z_][a-z0-9_]{0,12}",
        1 => Just("<module>".to_string()),
    ];
    let file = "/(srv/app|home/app|usr/local/lib/python3\\.12/site-packages)/[a-z]{1,8}(/[a-z_]{1,8}){0,2}\\.py";
    let source = proptest::option::of("[a-z_]{1,8} = [a-z_]{1,8}\\([a-z]{0,5}\\)");
    (function, file, lineno(), source).prop_map(|(f, file, line, source)| {
        let mut frame = frame(None, f, Some(file), Some(line));
        frame.context_line = source;
        frame
    })
}

fn javascript_frame() -> impl Strategy<Value = Frame> {
    let function = prop_oneof![
        4 => "[A-Za-z_$][A-Za-z0-9_$]{0,10}(\\.[A-Za-z_$][A-Za-z0-9_$]{0,10})?",
        1 => Just("?".to_string()),
        1 => "new [A-Z][a-z]{1,8}",
        1 => "[A-Z][a-z]{1,6}\\.[a-z]{1,6} \\[as [a-z]{1,6}\\]",
    ];
    let file = prop_oneof![
        "/app/(src|node_modules/[a-z]{2,8})/[a-z]{1,8}\\.js",
        "https://cdn\\.example\\.com/static/[a-z]{1,8}\\.[0-9a-f]{8}\\.js",
        "node:internal/[a-z_]{1,8}/[a-z_]{1,8}",
    ];
    (function, file, lineno(), proptest::option::of(1u64..5000)).prop_map(|(f, file, line, col)| {
        let mut frame = frame(None, f, Some(file), Some(line));
        frame.colno = col;
        frame
    })
}

fn go_frame() -> impl Strategy<Value = Frame> {
    let module = prop_oneof![
        Just("main".to_string()),
        "github\\.com/[a-z]{2,8}/[a-z]{2,8}(/[a-z]{2,8}){0,2}",
        Just("gopkg.in/yaml.v3".to_string()),
        Just("net/http".to_string()),
    ];
    let function = prop_oneof![
        "[A-Z][A-Za-z]{0,10}",
        "\\(\\*[A-Z][a-z]{1,8}\\)\\.[A-Z][A-Za-z]{0,8}",
        "[a-z]{1,8}\\.func[1-9]",
    ];
    let file = "/(src|home/build)/[a-z]{2,8}/[a-z_]{1,8}\\.go";
    (module, function, file, lineno())
        .prop_map(|(m, f, file, line)| frame(Some(m), f, Some(file), Some(line)))
}

fn ruby_frame() -> impl Strategy<Value = Frame> {
    let module = proptest::option::of("[A-Z][a-z]{1,8}(::[A-Z][a-z]{1,8})?");
    let function = prop_oneof![
        4 => "[a-z_][a-z0-9_]{0,10}[?!]?",
        1 => Just("<main>".to_string()),
        1 => "block in [a-z]{1,8}",
    ];
    let file = prop_oneof![
        "/app/(app|lib)/[a-z_]{1,8}\\.rb",
        "/usr/local/bundle/gems/[a-z]{2,8}-[0-9]\\.[0-9]\\.[0-9]/lib/[a-z]{1,8}\\.rb",
    ];
    (module, function, file, lineno())
        .prop_map(|(m, f, file, line)| frame(m, f, Some(file), Some(line)))
}

fn csharp_frame() -> impl Strategy<Value = Frame> {
    let module = prop_oneof![
        "(MyShop|Contoso)\\.[A-Z][a-z]{1,8}(\\.[A-Z][a-z]{1,8}){0,2}",
        "System\\.[A-Z][a-z]{1,8}",
    ];
    let function = "[A-Z][A-Za-z]{0,10}";
    let location = proptest::option::of(("/src/[A-Z][a-z]{1,8}/[A-Z][a-z]{1,8}\\.cs", lineno()));
    (module, function, location).prop_map(|(m, f, location)| {
        let (file, line) = location.unzip();
        frame(Some(m), f, file, line)
    })
}

fn gdb_frame() -> impl Strategy<Value = Frame> {
    let function = prop_oneof![
        "[a-z_][a-z0-9_]{0,10}",
        "[A-Z][a-z]{1,6}::[a-z][A-Za-z]{1,8}",
    ];
    let location = prop_oneof![
        ("/src/[a-z]{1,8}/[a-z_]{1,8}\\.(c|cpp)", lineno()).prop_map(|(f, l)| (
            Some(f),
            Some(l),
            None
        )),
        proptest::option::of("/usr/lib/x86_64-linux-gnu/lib[a-z]{1,6}\\.so\\.[0-9]")
            .prop_map(|package| (None, None, package)),
    ];
    (function, location).prop_map(|(f, (file, line, package))| {
        let mut frame = frame(None, f, file, line);
        frame.package = package;
        frame
    })
}

/// An exception with a type, module and value fit for the format.
fn typed(format: TraceFormat) -> BoxedStrategy<(Option<String>, Option<String>, Option<String>)> {
    let optional_word = proptest::option::of(word());
    match format {
        TraceFormat::Java => (
            "(java\\.lang|com\\.example\\.errors)",
            "[A-Z][A-Za-z]{1,12}(Exception|Error)",
            optional_word,
        )
            .prop_map(|(m, t, v)| (Some(t), Some(m), v))
            .boxed(),
        TraceFormat::Python => (
            proptest::option::of("(requests\\.exceptions|billing\\.errors)"),
            "[A-Z][a-z]{2,8}Error",
            optional_word,
        )
            .prop_map(|(m, t, v)| (Some(t), m, v))
            .boxed(),
        TraceFormat::JavaScript => ("[A-Z][a-zA-Z]{0,10}Error", optional_word)
            .prop_map(|(t, v)| (Some(t), None, v))
            .boxed(),
        TraceFormat::Go => optional_word
            .prop_map(|v| (Some("panic".to_string()), None, v))
            .boxed(),
        TraceFormat::Ruby => ("[A-Z][a-z]{1,6}(::[A-Z][a-z]{1,6})?Error", word())
            .prop_map(|(t, v)| (Some(t), None, Some(v)))
            .boxed(),
        TraceFormat::CSharp => (
            "(System|System\\.IO|MyShop\\.Errors)",
            "[A-Z][a-z]{1,8}Exception",
            optional_word,
        )
            .prop_map(|(m, t, v)| (Some(t), Some(m), v))
            .boxed(),
        TraceFormat::Gdb | TraceFormat::Auto => (
            "SIG(SEGV|ABRT|BUS|FPE|ILL)",
            "[A-Z][a-z]{2,10}( [a-z]{2,8})?",
        )
            .prop_map(|(t, v)| (Some(t), None, Some(v)))
            .boxed(),
    }
}

fn frame_for(format: TraceFormat) -> BoxedStrategy<Frame> {
    match format {
        TraceFormat::Java => java_frame().boxed(),
        TraceFormat::Python => python_frame().boxed(),
        TraceFormat::JavaScript => javascript_frame().boxed(),
        TraceFormat::Go => go_frame().boxed(),
        TraceFormat::Ruby => ruby_frame().boxed(),
        TraceFormat::CSharp => csharp_frame().boxed(),
        TraceFormat::Gdb | TraceFormat::Auto => gdb_frame().boxed(),
    }
}

/// Go and gdb print one stack; the others print a chain of causes.
fn max_chain(format: TraceFormat) -> usize {
    match format {
        TraceFormat::Go | TraceFormat::Gdb | TraceFormat::Auto => 1,
        _ => 3,
    }
}

fn platform(format: TraceFormat) -> &'static str {
    match format {
        TraceFormat::Java => "java",
        TraceFormat::Python => "python",
        TraceFormat::JavaScript => "node",
        TraceFormat::Go => "go",
        TraceFormat::Ruby => "ruby",
        TraceFormat::CSharp => "csharp",
        TraceFormat::Gdb | TraceFormat::Auto => "native",
    }
}

/// An event of the format: a chain whose exceptions share their outermost
/// callers (as real chains do, which Java folds into `... N more`).
fn event_for(format: TraceFormat) -> impl Strategy<Value = Event> {
    let shared = prop::collection::vec(frame_for(format), 0..4);
    let own = prop::collection::vec(
        (
            typed(format),
            prop::collection::vec(frame_for(format), 1..8),
            any::<bool>(),
        ),
        1..=max_chain(format),
    );
    (shared, own).prop_map(move |(shared, own)| {
        let values = own
            .into_iter()
            .map(|((ty, module, value), frames, context)| {
                let mut all = shared.clone();
                all.extend(frames);
                Exception {
                    ty,
                    module,
                    value,
                    stacktrace: Some(Stacktrace { frames: all }),
                    mechanism: Some(Mechanism {
                        source: Some(if context { "__context__" } else { "__cause__" }.to_string()),
                        ..Mechanism::default()
                    }),
                    ..Exception::default()
                }
            })
            .collect();
        Event {
            platform: Some(platform(format).to_string()),
            exception: Some(Exceptions::Values { values }),
            ..Event::default()
        }
    })
}

fn any_format_event() -> impl Strategy<Value = (TraceFormat, Event)> {
    Union::new(TraceFormat::CONCRETE.into_iter().map(|format| {
        event_for(format)
            .prop_map(move |event| (format, event))
            .boxed()
    }))
}

// ------------------------------------------------------------- mutations --

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, &'static str),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    DropLine(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(at, t)| Mutation::Insert(at, t)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::DropLine),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |n: usize| {
        if chars.is_empty() {
            0
        } else {
            n % (chars.len() + 1)
        }
    };
    let mut lines: Vec<&str> = text.split('\n').collect();
    let line = |n: usize| n % lines.len().max(1);
    match mutation {
        Mutation::Delete(start, len) => {
            let start = at(*start);
            let end = (start + len).min(chars.len());
            chars[..start].iter().chain(&chars[end..]).collect()
        }
        Mutation::Insert(position, token) => {
            let position = at(*position);
            let mut out: String = chars[..position].iter().collect();
            out.push_str(token);
            out.extend(&chars[position..]);
            out
        }
        Mutation::DuplicateLine(n) => {
            let index = line(*n);
            if let Some(copy) = lines.get(index).copied() {
                lines.insert(index, copy);
            }
            lines.join("\n")
        }
        Mutation::SwapLines(a, b) => {
            let (a, b) = (line(*a), line(*b));
            if a < lines.len() && b < lines.len() {
                lines.swap(a, b);
            }
            lines.join("\n")
        }
        Mutation::DropLine(n) => {
            let index = line(*n);
            if index < lines.len() {
                lines.remove(index);
            }
            lines.join("\n")
        }
        Mutation::Truncate(n) => chars[..at(*n)].iter().collect(),
    }
}

/// Imports in every format; whatever parses is formatted back. Nothing may panic.
fn exercise(text: &str) {
    for format in ALL_FORMATS {
        if let Ok(event) = import_trace(text, format) {
            for out in ALL_FORMATS {
                let _ = format_trace(&event, out);
            }
        }
    }
}

// ------------------------------------------------------------ properties --

type Located = (Option<String>, Option<String>, Option<String>, Option<u64>);

fn locations(event: &Event) -> Vec<Vec<Located>> {
    event
        .exceptions()
        .iter()
        .map(|exception| {
            exception
                .stacktrace
                .iter()
                .flat_map(|s| &s.frames)
                .map(|f| {
                    (
                        f.function.clone(),
                        f.module.clone(),
                        f.filename.clone(),
                        f.lineno,
                    )
                })
                .collect()
        })
        .collect()
}

fn headers(event: &Event) -> Vec<(Option<String>, Option<String>)> {
    event
        .exceptions()
        .iter()
        .map(|e| (e.ty.clone(), e.value.clone()))
        .collect()
}

proptest! {

    #[test]
    fn never_panics_on_arbitrary_text(text in ".{0,400}") {
        exercise(&text);
    }

    #[test]
    fn never_panics_on_token_soup(
        parts in prop::collection::vec(
            prop_oneof![prop::sample::select(TOKENS).prop_map(str::to_string), "[ -~]{0,12}"],
            0..80,
        )
    ) {
        exercise(&parts.concat());
    }

    #[test]
    fn never_panics_on_mutated_traces(
        (format, event) in any_format_event(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut text = format_trace(&event, format).expect("formats");
        for mutation in &mutations {
            text = apply(&text, mutation);
        }
        exercise(&text);
    }

    #[test]
    fn never_panics_on_mutated_seeds(
        seed in prop::sample::select(SEEDS),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut text = seed.to_string();
        for mutation in &mutations {
            text = apply(&text, mutation);
        }
        exercise(&text);
    }

    #[test]
    fn format_then_import_keeps_every_frame((format, event) in any_format_event()) {
        let text = format_trace(&event, format).expect("formats");
        let imported = import_trace(&text, format)
            .map_err(|e| TestCaseError::fail(format!("{format}: {e}\n{text}")))?;
        prop_assert_eq!(locations(&imported), locations(&event), "{}:\n{}", format, text);
        prop_assert_eq!(headers(&imported), headers(&event), "{}:\n{}", format, text);
        let detected = import_trace(&text, TraceFormat::Auto)
            .map_err(|e| TestCaseError::fail(format!("auto: {e}\n{text}")))?;
        prop_assert_eq!(&detected, &imported, "auto picked another format for:\n{}", text);
    }

    #[test]
    fn python_chains_keep_their_links(event in event_for(TraceFormat::Python)) {
        let text = format_trace(&event, TraceFormat::Python).expect("formats");
        let imported = import_trace(&text, TraceFormat::Python).expect("imports");
        let count = event.exceptions().len();
        for (index, (got, sent)) in imported.exceptions().iter().zip(event.exceptions()).enumerate() {
            if index + 1 < count {
                let got = got.mechanism.as_ref().and_then(|m| m.source.clone());
                let sent = sent.mechanism.as_ref().and_then(|m| m.source.clone());
                prop_assert_eq!(got, sent);
            }
        }
    }
}

#[test]
fn seeds_import_in_their_format() {
    let formats = [
        TraceFormat::Python,
        TraceFormat::Java,
        TraceFormat::JavaScript,
        TraceFormat::Gdb,
    ];
    for (seed, format) in SEEDS.iter().zip(formats) {
        let event = import_trace(seed, format).expect("seed imports");
        let chained = event.exceptions().len() >= 2;
        assert!(chained || format == TraceFormat::Gdb, "{seed}");
        assert_eq!(import_trace(seed, TraceFormat::Auto), Ok(event));
    }
}

#[test]
fn mutations_apply_on_char_boundaries() {
    let text = "é\nà\n";
    for mutation in [
        Mutation::Delete(1, 1),
        Mutation::Insert(3, "x"),
        Mutation::Truncate(2),
        Mutation::SwapLines(0, 1),
    ] {
        let _ = apply(text, &mutation);
    }
}
