//! The stacktrace text (SEER_API.md, "The stacktrace text"), byte for byte.

use serde_json::{Value, json};
use stackherd::event::Event;
use stackherd::scrub::Scrubber;
use stackherd::text::{NotRendered, TextLimits, render_stacktrace};

fn event(value: Value) -> Event {
    serde_json::from_value(value).expect("test event deserializes")
}

fn render(value: Value) -> Result<String, NotRendered> {
    render_stacktrace(&event(value), &TextLimits::default())
}

fn rendered(value: Value) -> String {
    render(value).expect("event renders")
}

fn py_frame(filename: &str, function: &str, line: &str) -> Value {
    json!({"filename": filename, "function": function, "context_line": line, "in_app": true})
}

/// `n` frames `f0..f{n-1}` (caller first) in file `file`.
fn numbered_frames(file: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"filename": file, "function": format!("f{i}")}))
        .collect()
}

fn function_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.split_once(", function ").map(|(_, f)| f))
        .collect()
}

#[test]
fn seer_api_example_is_byte_exact() {
    let text = rendered(json!({
        "platform": "python",
        "exception": {"values": [
            {"type": "KeyError", "value": "'user_id'", "stacktrace": {"frames": [
                py_frame("app/views.py", "get_user", "    uid = request.args['user_id']  "),
            ]}},
            {"type": "DatabaseError", "value": "connection refused", "stacktrace": {"frames": [
                py_frame("app/views.py", "get_user", "user = db.connect().fetch(user_id)"),
                py_frame("app/db.py", "connect", "\tconn = pool.acquire(timeout=5)\n"),
            ]}},
        ]}
    }));
    let expected = "\
DatabaseError: connection refused
  File \"app/views.py\", function get_user
    user = db.connect().fetch(user_id)
  File \"app/db.py\", function connect
    conn = pool.acquire(timeout=5)
KeyError: 'user_id'
  File \"app/views.py\", function get_user
    uid = request.args['user_id']";
    assert_eq!(text, expected);
}

#[test]
fn no_trailing_newline() {
    let text = rendered(json!({
        "platform": "python",
        "exception": [{"type": "E", "value": "v", "stacktrace": {"frames": [
            {"filename": "a.py", "function": "f"}
        ]}}]
    }));
    assert_eq!(text, "E: v\n  File \"a.py\", function f");
    assert!(!text.ends_with('\n'));
}

#[test]
fn missing_names_render_as_none_and_module_stands_in_for_filename() {
    let text = rendered(json!({
        "platform": "java",
        "exception": {"values": [{"type": "java.lang.IllegalStateException", "stacktrace": {"frames": [
            {"module": "com.example.Service", "function": "run"},
            {"abs_path": "/home/alice/src/x.py"},
            {"filename": "", "module": "", "function": "  ", "context_line": "   "},
        ]}}]}
    }));
    assert_eq!(
        text,
        "java.lang.IllegalStateException\n  \
         File \"com.example.Service\", function run\n  \
         File \"None\", function None\n  \
         File \"None\", function None"
    );
    assert!(!text.contains("alice"), "abs_path is never printed");
}

#[test]
fn chained_exceptions_outermost_first_and_capped_at_thirty() {
    let values: Vec<Value> = (0..35)
        .map(|i| {
            json!({"type": format!("E{i}"), "value": "v", "stacktrace": {"frames": [
                {"filename": "a.py", "function": format!("f{i}")}
            ]}})
        })
        .collect();
    let text = rendered(json!({"platform": "python", "exception": {"values": values}}));
    let headers: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(headers.len(), 30);
    assert_eq!(headers.first(), Some(&"E34: v"));
    assert_eq!(headers.last(), Some(&"E5: v"));
    assert!(!text.contains("E4: v"));
}

#[test]
fn thirty_frames_in_total_keeping_the_most_recent() {
    let text = rendered(json!({
        "platform": "python",
        "exception": {"values": [
            {"type": "Inner", "stacktrace": {"frames": numbered_frames("inner.py", 20)}},
            {"type": "Outer", "stacktrace": {"frames": numbered_frames("outer.py", 25)}},
        ]}
    }));
    let lines: Vec<&str> = text.lines().collect();
    // Outer keeps all 25 (it is the most recent), Inner its last 5.
    assert_eq!(lines.len(), 2 + 30);
    assert_eq!(lines[0], "Outer");
    assert_eq!(lines[1], "  File \"outer.py\", function f0");
    assert_eq!(lines[25], "  File \"outer.py\", function f24");
    assert_eq!(lines[26], "Inner");
    assert_eq!(lines[27], "  File \"inner.py\", function f15");
    assert_eq!(lines[31], "  File \"inner.py\", function f19");
}

#[test]
fn one_long_stack_keeps_its_crashing_end() {
    let text = rendered(json!({
        "platform": "python",
        "exception": [{"type": "RecursionError", "stacktrace": {"frames": numbered_frames("r.py", 100)}}]
    }));
    let names = function_names(&text);
    assert_eq!(names.len(), 30);
    assert_eq!(names.first(), Some(&"f70"));
    assert_eq!(names.last(), Some(&"f99"));
}

#[test]
fn older_exceptions_past_the_budget_keep_only_their_header() {
    let text = rendered(json!({
        "platform": "python",
        "exception": [
            {"type": "Oldest", "stacktrace": {"frames": numbered_frames("a.py", 3)}},
            {"type": "Newest", "stacktrace": {"frames": numbered_frames("b.py", 40)}},
        ]
    }));
    assert!(text.ends_with("function f39\nOldest"), "{text}");
}

#[test]
fn fully_minified_javascript_keeps_twenty_frames() {
    let frames: Vec<Value> = (0..40)
        .map(|i| json!({"filename": "app.min.js", "function": format!("f{i}"), "context_line": ""}))
        .collect();
    let text = rendered(json!({
        "platform": "javascript",
        "exception": [{"type": "TypeError", "value": "x is undefined", "stacktrace": {"frames": frames}}]
    }));
    let names = function_names(&text);
    assert_eq!(names.len(), 20);
    assert_eq!(names.first(), Some(&"f20"));
    assert_eq!(names.last(), Some(&"f39"));
}

#[test]
fn overlong_bundle_lines_count_as_minified_and_are_not_printed() {
    let bundle = "a".repeat(5000);
    let frames: Vec<Value> = (0..25)
        .map(|i| json!({"filename": "bundle.js", "function": format!("f{i}"), "context_line": bundle}))
        .collect();
    let text = rendered(json!({
        "platform": "node",
        "exception": [{"type": "Error", "stacktrace": {"frames": frames}}]
    }));
    assert_eq!(function_names(&text).len(), 20);
    assert!(!text.contains("aaaa"));
}

#[test]
fn javascript_with_source_lines_keeps_thirty_frames() {
    let mut frames: Vec<Value> = (0..39)
        .map(|i| json!({"filename": "app.min.js", "function": format!("f{i}")}))
        .collect();
    frames.push(
        json!({"filename": "app.js", "function": "f39", "context_line": "throw new Error(x)"}),
    );
    let text = rendered(json!({
        "platform": "javascript",
        "exception": [{"type": "Error", "stacktrace": {"frames": frames}}]
    }));
    assert_eq!(function_names(&text).len(), 30);
    assert!(text.ends_with("function f39\n    throw new Error(x)"));
}

#[test]
fn base64_data_url_frames_are_dropped() {
    let text = rendered(json!({
        "platform": "javascript",
        "exception": [{"type": "Error", "value": "boom", "stacktrace": {"frames": [
            {"filename": "app.js", "function": "main", "context_line": "run()"},
            {"filename": "data:text/javascript;base64,YWxlcnQoMSk=", "function": "inline"},
            {"abs_path": "data:application/javascript;base64,eA==", "filename": "<anonymous>", "function": "inline2"},
            {"filename": "app.js", "function": "run", "context_line": "throw new Error('boom')"},
        ]}}]
    }));
    assert_eq!(
        text,
        "Error: boom\n  File \"app.js\", function main\n    run()\n  \
         File \"app.js\", function run\n    throw new Error('boom')"
    );
}

#[test]
fn only_data_url_frames_is_not_rendered() {
    let result = render(json!({
        "platform": "javascript",
        "exception": [{"type": "Error", "stacktrace": {"frames": [
            {"filename": "data:text/javascript;base64,YQ==", "function": "f"}
        ]}}]
    }));
    assert_eq!(result, Err(NotRendered::OnlyDataUrlFrames));
}

#[test]
fn in_app_frames_are_selected_per_event() {
    let text = rendered(json!({
        "platform": "python",
        "exception": [
            {"type": "LibError", "stacktrace": {"frames": [
                {"filename": "site-packages/lib.py", "function": "lib_call", "in_app": false},
            ]}},
            {"type": "AppError", "stacktrace": {"frames": [
                {"filename": "site-packages/django.py", "function": "dispatch", "in_app": false},
                {"filename": "app/views.py", "function": "index", "in_app": true},
                {"filename": "site-packages/orm.py", "function": "query"},
            ]}},
        ]
    }));
    assert_eq!(
        text,
        "AppError\n  File \"app/views.py\", function index\nLibError"
    );
}

#[test]
fn all_frames_when_none_is_in_app() {
    let text = rendered(json!({
        "platform": "python",
        "exception": [{"type": "E", "stacktrace": {"frames": [
            {"filename": "lib/a.py", "function": "a", "in_app": false},
            {"filename": "lib/b.py", "function": "b"},
        ]}}]
    }));
    assert_eq!(function_names(&text), ["a", "b"]);
}

#[test]
fn platform_other_and_missing_platform_are_not_rendered() {
    let body = json!({"exception": [{"type": "E", "stacktrace": {"frames": [{"function": "f"}]}}]});
    let mut other = body.clone();
    other["platform"] = json!("other");
    assert_eq!(render(other), Err(NotRendered::PlatformOther));
    assert_eq!(render(body), Err(NotRendered::PlatformOther));
}

#[test]
fn events_without_frames_are_not_rendered() {
    assert_eq!(
        render(json!({"platform": "python", "message": "hello"})),
        Err(NotRendered::NoStacktrace)
    );
    assert_eq!(
        render(json!({"platform": "python", "exception": [{"type": "E", "value": "v"}]})),
        Err(NotRendered::NoStacktrace)
    );
    assert_eq!(
        render(
            json!({"platform": "python", "exception": [{"type": "E", "stacktrace": {"frames": []}}]})
        ),
        Err(NotRendered::NoStacktrace)
    );
}

#[test]
fn crashed_thread_renders_under_the_message() {
    let text = rendered(json!({
        "platform": "cocoa",
        "logentry": {"formatted": "Fatal signal\nSIGSEGV"},
        "threads": {"values": [
            {"id": 1, "current": true, "stacktrace": {"frames": [{"function": "idle", "filename": "loop.c"}]}},
            {"id": 2, "crashed": true, "stacktrace": {"frames": [
                {"function": "main", "filename": "main.c"},
                {"function": "crash", "filename": "crash.c"},
            ]}},
        ]}
    }));
    assert_eq!(
        text,
        "Fatal signal SIGSEGV\n  File \"main.c\", function main\n  File \"crash.c\", function crash"
    );
}

#[test]
fn current_or_only_thread_and_top_level_stacktrace_without_message() {
    let current = rendered(json!({
        "platform": "go",
        "threads": [
            {"id": 1, "stacktrace": {"frames": [{"function": "other"}]}},
            {"id": 2, "current": true, "stacktrace": {"frames": [{"function": "cur"}]}},
        ]
    }));
    assert_eq!(current, "  File \"None\", function cur");

    let only = rendered(json!({
        "platform": "go",
        "threads": [{"id": 1, "stacktrace": {"frames": [{"function": "only", "module": "main"}]}}]
    }));
    assert_eq!(only, "  File \"main\", function only");

    let ambiguous = render(json!({
        "platform": "go",
        "threads": [
            {"id": 1, "stacktrace": {"frames": [{"function": "a"}]}},
            {"id": 2, "stacktrace": {"frames": [{"function": "b"}]}},
        ]
    }));
    assert_eq!(ambiguous, Err(NotRendered::NoStacktrace));

    let top_level = rendered(json!({
        "platform": "python",
        "message": "slow query",
        "stacktrace": {"frames": [{"filename": "app.py", "function": "handler", "context_line": " q() "}]}
    }));
    assert_eq!(
        top_level,
        "slow query\n  File \"app.py\", function handler\n    q()"
    );
}

#[test]
fn native_exception_takes_the_stack_of_its_thread() {
    let text = rendered(json!({
        "platform": "native",
        "exception": [{"type": "EXC_BAD_ACCESS", "value": "KERN_INVALID_ADDRESS", "thread_id": 7}],
        "threads": [
            {"id": 3, "current": true, "stacktrace": {"frames": [{"function": "idle"}]}},
            {"id": 7, "stacktrace": {"frames": [{"function": "main"}, {"function": "deref"}]}},
        ]
    }));
    assert_eq!(
        text,
        "EXC_BAD_ACCESS: KERN_INVALID_ADDRESS\n  File \"None\", function main\n  File \"None\", function deref"
    );
}

#[test]
fn multiline_values_stay_on_one_line() {
    let text = rendered(json!({
        "platform": "python",
        "exception": [{"type": "ValueError", "value": "line one\nline two\r\n", "stacktrace": {"frames": [
            {"filename": "a\nb.py", "function": "f"}
        ]}}]
    }));
    assert_eq!(
        text,
        "ValueError: line one line two\n  File \"a b.py\", function f"
    );
}

#[test]
fn custom_limits_apply() {
    let limits = TextLimits {
        max_frames: 3,
        max_exceptions: 1,
        max_minified_js_frames: 2,
    };
    let text = render_stacktrace(
        &event(json!({
            "platform": "python",
            "exception": [
                {"type": "Old", "stacktrace": {"frames": numbered_frames("a.py", 2)}},
                {"type": "New", "stacktrace": {"frames": numbered_frames("b.py", 5)}},
            ]
        })),
        &limits,
    )
    .expect("renders");
    assert_eq!(function_names(&text), ["f2", "f3", "f4"]);
    assert!(!text.contains("Old"));
}

#[test]
fn rendered_then_scrubbed_text_has_no_email() {
    let text = rendered(json!({
        "platform": "python",
        "exception": [{
            "type": "PermissionDenied",
            "value": "user alice.smith+work@example.com may not log in from 203.0.113.9",
            "stacktrace": {"frames": [py_frame(
                "app/auth.py", "login", "raise PermissionDenied(f\"user {email} may not log in\")"
            )]}
        }]
    }));
    assert!(text.contains("alice.smith+work@example.com"));
    let scrubbed = Scrubber::new().scrub(&text).into_owned();
    assert!(!scrubbed.contains('@'), "{scrubbed}");
    assert_eq!(
        scrubbed,
        "PermissionDenied: user [email] may not log in from [ip]\n  \
         File \"app/auth.py\", function login\n    \
         raise PermissionDenied(f\"user {email} may not log in\")"
    );
}

#[test]
fn never_panics_on_odd_events() {
    for value in [
        json!({"platform": "python", "exception": {"values": []}}),
        json!({"platform": "python", "threads": {"values": []}}),
        json!({"platform": "", "exception": []}),
        json!({"platform": "python", "exception": [{"stacktrace": {"frames": [{}]}}]}),
        json!({"platform": "python", "exception": [{"type": "é\u{0}", "value": "\u{200b}", "stacktrace": {"frames": [
            {"filename": "dé", "context_line": "\u{feff}"}
        ]}}]}),
    ] {
        let _ = render(value);
    }
    let zero = TextLimits {
        max_frames: 0,
        max_exceptions: 0,
        max_minified_js_frames: 0,
    };
    let result = render_stacktrace(
        &event(
            json!({"platform": "python", "exception": [{"type": "E", "stacktrace": {"frames": [{"function": "f"}]}}]}),
        ),
        &zero,
    );
    assert_eq!(result, Err(NotRendered::NoStacktrace));
}
