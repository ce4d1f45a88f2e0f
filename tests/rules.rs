//! Stack trace rules and fingerprint rules: parsing, errors, evaluation.

use proptest::prelude::*;
use stackherd::event::*;
use stackherd::fingerprint::rules::*;

// ------------------------------------------------------------------ helpers

fn frame(function: &str) -> Frame {
    Frame {
        function: Some(function.into()),
        ..Frame::default()
    }
}

fn states<'a>(frames: &'a [Frame], family: Family) -> Vec<FrameState<'a>> {
    frames.iter().map(|f| FrameState::new(f, family)).collect()
}

fn apply(rules: &StackRules, frames: &[Frame], family: Family) -> Vec<(Option<bool>, bool)> {
    let mut states = states(frames, family);
    rules.apply(&StackContext::default(), &mut states);
    states.iter().map(|s| (s.in_app, s.contributes)).collect()
}

/// Built-in rules then the project's, as the fingerprinter runs them.
fn apply_both<'a>(
    project: &StackRules,
    frames: &'a [Frame],
    family: Family,
) -> Vec<FrameState<'a>> {
    let mut states = states(frames, family);
    let context = StackContext::default();
    StackRules::builtin().apply(&context, &mut states);
    project.apply(&context, &mut states);
    states
}

fn contributes(states: &[FrameState<'_>]) -> Vec<bool> {
    states.iter().map(|s| s.contributes).collect()
}

fn stack(text: &str) -> StackRules {
    StackRules::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

/// Each `(input, line, column, message part)` must fail at that position.
fn assert_rule_errors(
    cases: &[(&str, usize, usize, &str)],
    parse: impl Fn(&str) -> Option<RuleError>,
) {
    for &(input, line, column, message) in cases {
        let err = parse(input).unwrap_or_else(|| panic!("{input:?} should not parse"));
        assert_eq!(
            (err.line, err.column),
            (line, column),
            "position for {input:?}: {err}"
        );
        assert!(
            err.message.contains(message),
            "message for {input:?}: {:?} should contain {message:?}",
            err.message
        );
    }
}

fn fingerprints(text: &str) -> FingerprintRules {
    FingerprintRules::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn exception_event(ty: &str, value: &str, frames: Vec<Frame>) -> Event {
    Event {
        exception: Some(Exceptions::Values {
            values: vec![Exception {
                ty: Some(ty.into()),
                value: Some(value.into()),
                stacktrace: Some(Stacktrace { frames }),
                ..Exception::default()
            }],
        }),
        ..Event::default()
    }
}

// ------------------------------------------------------------ stack parsing

#[test]
fn parses_every_documented_stack_rule_example() {
    let examples = [
        "stack.module:myapp.* +app",
        "family:native function:std::* -app",
        "stack.function:panic_handler ^-group -group",
        "max-frames=5",
        "min-frames=2",
        "family:javascript path:**/node_modules/** -app",
        r#"function:"foo bar*" category=telemetry"#,
        "!app:yes function:log* -group",
        "error.type:TimeoutError error.value:*db* error.mechanism:generic v-group",
        "type:E value:v mechanism:m category:x package:/usr/lib/** stack.abs_path:*.c stack.package:x +group",
        "family:jvm,native,all app:0 ^+app v-app",
    ];
    for example in examples {
        stack(example);
    }
}

#[test]
fn parses_a_file_with_comments_and_blank_lines() {
    let rules = stack(
        "# project rules\n\
         \n\
         stack.module:myapp.*   +app   # ours\n\
         \t family:native function:std::* -app\r\n\
         max-frames=5 # keep it short\n\
         #min-frames=100\n",
    );
    assert_eq!(rules.len(), 2);
    assert_eq!(rules.max_frames(), Some(5));
    assert_eq!(rules.min_frames(), None);
    assert!(!rules.is_builtin());
    assert!(StackRules::parse("").expect("empty").is_empty());
    assert!(
        StackRules::parse("# only a comment")
            .expect("comment")
            .is_empty()
    );
}

#[test]
fn quoted_values_support_escapes_and_spaces() {
    let rules = stack(r#"function:"say \"hi\" *" -group"#);
    let frames = [frame(r#"say "hi" loudly"#), frame("say hi loudly")];
    assert_eq!(
        apply(&rules, &frames, Family::Other),
        [(None, false), (None, true)]
    );
}

#[test]
fn frame_limits_last_one_wins() {
    let rules = stack("max-frames=5\nmin-frames=1\nmax-frames=3");
    assert_eq!(rules.max_frames(), Some(3));
    assert_eq!(rules.min_frames(), Some(1));
    assert_eq!(StackRules::builtin().max_frames(), None);
    assert_eq!(StackRules::builtin().min_frames(), None);
}

// -------------------------------------------------------------- stack errors

#[test]
fn stack_rule_errors_point_at_the_offending_token() {
    // (input, line, column, part of the message)
    let cases: &[(&str, usize, usize, &str)] = &[
        ("foo:bar +app", 1, 1, "unknown matcher `foo`"),
        ("function:foo +apps", 1, 14, "unknown action `+apps`"),
        ("function:foo ^app", 1, 14, "unknown action `^app`"),
        ("function: +app", 1, 10, "missing value for `function`"),
        ("function:", 1, 10, "missing value"),
        (r#"function:"foo +app"#, 1, 10, "unterminated quoted string"),
        ("function:foo", 1, 13, "no actions"),
        ("family:native   function:x  ", 1, 29, "no actions"),
        ("max-frames=abc", 1, 12, "non-negative integer"),
        ("min-frames=-1", 1, 12, "non-negative integer"),
        ("max-frames=0", 1, 12, "at least 1"),
        ("+app function:foo", 1, 6, "after an action"),
        ("family:cobol +app", 1, 8, "unknown family `cobol`"),
        ("app:maybe +app", 1, 5, "expected yes/no"),
        ("-app", 1, 1, "actions but no matchers"),
        ("function:x !-app", 1, 12, "only matchers can be negated"),
        (
            "function:x frobnicate=3",
            1,
            12,
            "unknown action `frobnicate=`",
        ),
        ("function:x max-frames=3", 1, 12, "stand alone"),
        ("function:x\"y +app", 1, 11, "unexpected `\"`"),
        ("function:\"x\"y +app", 1, 13, "after the closing quote"),
        ("! +app", 1, 1, "expected a matcher after `!`"),
        (":x +app", 1, 1, "missing name"),
        (
            "# fine\n\nfunction:a +app\n  module:b +gruop",
            4,
            12,
            "unknown action `+gruop`",
        ),
    ];
    assert_rule_errors(cases, |input| StackRules::parse(input).err());
}

#[test]
fn rule_error_display() {
    let err = StackRules::parse("\nfoo:bar +app").expect_err("unknown matcher");
    assert_eq!(
        err.to_string(),
        "rule syntax error at line 2, column 1: unknown matcher `foo`"
    );
}

// ----------------------------------------------------------- stack evaluator

#[test]
fn caret_applies_to_callees_and_v_to_callers() {
    let frames = [
        frame("main"),
        frame("run"),
        frame("handler"),
        frame("crash"),
    ];
    let out = apply(&stack("function:run ^-group"), &frames, Family::Other);
    assert_eq!(
        out.iter().map(|s| s.1).collect::<Vec<_>>(),
        [true, true, false, false]
    );
    let out = apply(&stack("function:run v-group"), &frames, Family::Other);
    assert_eq!(
        out.iter().map(|s| s.1).collect::<Vec<_>>(),
        [false, true, true, true]
    );
    let out = apply(
        &stack("function:handler ^+app v-app"),
        &frames,
        Family::Other,
    );
    assert_eq!(
        out.iter().map(|s| s.0).collect::<Vec<_>>(),
        [Some(false), Some(false), None, Some(true)]
    );
}

#[test]
fn later_rules_override_earlier_ones() {
    let frames = [frame("a"), frame("b")];
    let rules = stack("function:* -group\nfunction:b +group");
    assert_eq!(
        apply(&rules, &frames, Family::Other),
        [(None, false), (None, true)]
    );
    let rules = stack("function:* +app\nfunction:a -app");
    assert_eq!(
        apply(&rules, &frames, Family::Other),
        [(Some(false), true), (Some(true), true)]
    );
}

#[test]
fn negation_inverts_a_matcher() {
    let frames = [
        Frame {
            in_app: Some(true),
            ..frame("log_info")
        },
        frame("log_debug"),
        Frame {
            in_app: Some(true),
            ..frame("work")
        },
    ];
    let out = apply(
        &stack("!app:yes function:log* -group"),
        &frames,
        Family::Other,
    );
    assert_eq!(
        out.iter().map(|s| s.1).collect::<Vec<_>>(),
        [true, false, true]
    );
    let out = apply(&stack("!function:log* +app"), &frames, Family::Other);
    assert_eq!(
        out.iter().map(|s| s.0).collect::<Vec<_>>(),
        [Some(true), None, Some(true)]
    );
}

#[test]
fn missing_fields_never_match_but_negations_do() {
    let frames = [Frame::default()];
    assert_eq!(
        apply(&stack("module:* -group"), &frames, Family::Other),
        [(None, true)]
    );
    assert_eq!(
        apply(&stack("!module:x -group"), &frames, Family::Other),
        [(None, false)]
    );
}

#[test]
fn path_globs_are_case_insensitive_and_double_star_crosses_slashes() {
    let frames = [
        Frame {
            abs_path: Some("/srv/App/Node_Modules/React/index.JS".into()),
            ..Frame::default()
        },
        Frame {
            filename: Some(r"C:\Users\dev\node_modules\lodash\lodash.js".into()),
            ..Frame::default()
        },
        Frame {
            abs_path: Some("/srv/app/src/node_modules.js".into()),
            ..Frame::default()
        },
    ];
    let out = apply(
        &stack("family:javascript path:**/node_modules/** -app"),
        &frames,
        Family::JavaScript,
    );
    assert_eq!(
        out.iter().map(|s| s.0).collect::<Vec<_>>(),
        [Some(false), Some(false), None]
    );
    // `*` does not cross `/`.
    let out = apply(
        &stack("path:/srv/*/index.js -group"),
        &frames,
        Family::Other,
    );
    assert!(out.iter().all(|s| s.1));
    let out = apply(
        &stack("path:/SRV/**/INDEX.js -group"),
        &frames,
        Family::Other,
    );
    assert_eq!(
        out.iter().map(|s| s.1).collect::<Vec<_>>(),
        [false, true, true]
    );
}

#[test]
fn function_globs_are_case_sensitive() {
    let frames = [frame("std::rt::lang_start"), frame("Std::x")];
    let out = apply(
        &stack("family:native function:std::* -app"),
        &frames,
        Family::Native,
    );
    assert_eq!(
        out.iter().map(|s| s.0).collect::<Vec<_>>(),
        [Some(false), None]
    );
    // The family matcher restricts the rule.
    let out = apply(
        &stack("family:native function:std::* -app"),
        &frames,
        Family::Python,
    );
    assert_eq!(out.iter().map(|s| s.0).collect::<Vec<_>>(), [None, None]);
}

#[test]
fn module_and_category_rules() {
    let frames = [
        Frame {
            module: Some("myapp.views".into()),
            ..frame("index")
        },
        Frame {
            module: Some("django.core".into()),
            ..frame("foo bar baz")
        },
    ];
    let rules = stack(
        "stack.module:myapp.* +app\n\
         function:\"foo bar*\" category=telemetry\n\
         category:telemetry -group",
    );
    let mut states = states(&frames, Family::Python);
    rules.apply(&StackContext::default(), &mut states);
    assert_eq!(states[0].in_app, Some(true));
    assert!(states[0].contributes);
    assert_eq!(states[1].category.as_deref(), Some("telemetry"));
    assert!(!states[1].contributes);
    assert_eq!(
        states[1].hint.as_deref(),
        Some("marked out of group by stack trace rule (category:telemetry -group)")
    );
    assert_eq!(
        states[0].hint.as_deref(),
        Some("marked in-app by stack trace rule (stack.module:myapp.* +app)")
    );
}

#[test]
fn exception_matchers_read_the_stack_context() {
    let frames = [frame("a"), frame("b")];
    let rules = stack("error.type:*Timeout* error.value:*DB* function:b -group");
    let mut timeout = states(&frames, Family::Python);
    rules.apply(
        &StackContext {
            event_platform: Some("python"),
            exception_type: Some("ReadTimeoutError"),
            exception_value: Some("db is slow"),
            mechanism: None,
        },
        &mut timeout,
    );
    assert_eq!(contributes(&timeout), [true, false]);
    let mut other = states(&frames, Family::Python);
    rules.apply(
        &StackContext {
            exception_type: Some("ValueError"),
            exception_value: Some("db is slow"),
            ..StackContext::default()
        },
        &mut other,
    );
    assert_eq!(contributes(&other), [true, true]);
}

// ----------------------------------------------------------------- builtins

#[test]
fn builtin_app_rules_do_not_override_explicit_in_app() {
    let frames = [
        Frame {
            abs_path: Some("/app/node_modules/lib/index.js".into()),
            in_app: Some(true),
            ..frame("vendored")
        },
        Frame {
            abs_path: Some("/app/node_modules/lib/index.js".into()),
            ..frame("dependency")
        },
        Frame {
            abs_path: Some("/app/src/main.js".into()),
            ..frame("ours")
        },
    ];
    let out = apply(StackRules::builtin(), &frames, Family::JavaScript);
    assert_eq!(
        out.iter().map(|s| s.0).collect::<Vec<_>>(),
        [Some(true), Some(false), None]
    );
    // Project rules override anything, including explicit SDK values.
    let states = apply_both(
        &stack("function:vendored -app"),
        &frames,
        Family::JavaScript,
    );
    assert_eq!(states[0].in_app, Some(false));
}

#[test]
fn builtin_platform_rules() {
    let python = [
        Frame {
            abs_path: Some("/venv/lib/python3.12/site-packages/requests/api.py".into()),
            ..frame("get")
        },
        Frame {
            abs_path: Some("/usr/lib/python3/dist-packages/yaml/x.py".into()),
            ..frame("load")
        },
    ];
    let out = apply(StackRules::builtin(), &python, Family::Python);
    assert_eq!(out, [(Some(false), true), (Some(false), true)]);

    let jvm: Vec<Frame> = [
        "java.lang.Thread",
        "org.springframework.web.Servlet",
        "com.acme.Billing",
        "kotlinx.coroutines.Job",
    ]
    .iter()
    .map(|module| Frame {
        module: Some((*module).into()),
        ..frame("run")
    })
    .collect();
    let out = apply(StackRules::builtin(), &jvm, Family::Java);
    assert_eq!(
        out.iter().map(|s| s.0).collect::<Vec<_>>(),
        [Some(false), Some(false), None, Some(false)]
    );

    let ruby = [Frame {
        abs_path: Some("/usr/local/bundle/gems/rack-3.0/lib/rack.rb".into()),
        ..frame("call")
    }];
    assert_eq!(
        apply(StackRules::builtin(), &ruby, Family::Ruby),
        [(Some(false), true)]
    );
    let php = [Frame {
        abs_path: Some("/var/www/vendor/laravel/framework/src/App.php".into()),
        ..frame("handle")
    }];
    assert_eq!(
        apply(StackRules::builtin(), &php, Family::Php),
        [(Some(false), true)]
    );
    let go = [Frame {
        module: Some("runtime".into()),
        ..frame("gopanic")
    }];
    assert_eq!(
        apply(StackRules::builtin(), &go, Family::Go),
        [(Some(false), true)]
    );
}

#[test]
fn throw_site_markers_stop_everything_towards_the_crash() {
    let frames = [
        frame("main"),
        frame("app::process"),
        frame("__cxa_throw"),
        frame("_Unwind_RaiseException"),
    ];
    let states = apply_both(&StackRules::default(), &frames, Family::Native);
    assert_eq!(contributes(&states), [true, true, false, false]);
    assert_eq!(
        states[3].hint.as_deref(),
        Some(
            "marked out of group by built-in stack trace rule (family:native function:__cxa_throw ^-group)"
        )
    );

    let rust = [
        frame("main"),
        frame("myapp::run"),
        frame("core::panicking::panic_fmt"),
        frame("std::panicking::begin_panic_handler"),
        frame("rust_begin_unwind"),
    ];
    let states = apply_both(&StackRules::default(), &rust, Family::Native);
    assert_eq!(contributes(&states), [true, true, false, false, false]);

    let posix = [
        frame("main"),
        frame("check"),
        frame("__assert_fail"),
        frame("abort"),
        frame("raise"),
    ];
    let states = apply_both(&StackRules::default(), &posix, Family::Native);
    assert_eq!(contributes(&states), [true, true, false, false, false]);

    // Not a marker outside native code.
    let python = [frame("main"), frame("raise")];
    let states = apply_both(&StackRules::default(), &python, Family::Python);
    assert_eq!(contributes(&states), [true, true]);

    // A project rule can bring frames back.
    let states = apply_both(&stack("function:abort +group"), &posix, Family::Native);
    assert_eq!(contributes(&states), [true, true, false, true, false]);
}

#[test]
fn builtin_text_is_exposed_and_parses_as_project_rules() {
    let text = StackRules::builtin_text();
    assert!(text.contains("__cxa_throw"));
    assert_eq!(stack(text).len(), StackRules::builtin().len());
}

// ------------------------------------------------------ fingerprint parsing

#[test]
fn parses_documented_fingerprint_rules() {
    let rules = fingerprints(
        "# fingerprint rules\n\
         error.type:DatabaseUnavailable -> system-down\n\
         \n\
         stack.function:\"ConnectionPool.*\" error.value:\"*timeout*\" -> db-timeout, {{ transaction }}\n\
         logger:\"app.payments\" level:error -> payments-{{ level }} title=\"Payments failed\"  # trailing\n\
         tags.server_name:web-* !sdk:sentry.python release:1.* transaction:/api/* message:*oops* -> \"quoted, value\" other\n\
         family:native,jvm app:yes stack.module:a stack.abs_path:b stack.package:c function:d module:e path:f package:g type:h value:i -> x,\n",
    );
    assert_eq!(rules.len(), 5);
    let all = rules.rules();
    assert_eq!(all[0].fingerprint, ["system-down"]);
    assert_eq!(all[0].title, None);
    assert_eq!(all[0].text, "error.type:DatabaseUnavailable -> system-down");
    assert_eq!(all[1].fingerprint, ["db-timeout", "{{ transaction }}"]);
    assert_eq!(all[2].fingerprint, ["payments-{{ level }}"]);
    assert_eq!(all[2].title.as_deref(), Some("Payments failed"));
    assert_eq!(
        all[2].text,
        "logger:\"app.payments\" level:error -> payments-{{ level }} title=\"Payments failed\""
    );
    assert_eq!(all[3].fingerprint, ["quoted, value", "other"]);
    assert_eq!(all[4].fingerprint, ["x"]);
    assert!(FingerprintRules::parse("").expect("empty").is_empty());
}

#[test]
fn fingerprint_rule_errors_point_at_the_offending_token() {
    let cases: &[(&str, usize, usize, &str)] = &[
        (
            "error.type:Foo system-down",
            1,
            16,
            "expected a matcher or `->`",
        ),
        ("error.type:Foo", 1, 15, "missing `->`"),
        ("error.type:Foo ->", 1, 18, "empty fingerprint"),
        ("error.type:Foo -> # nothing", 1, 18, "empty fingerprint"),
        ("-> a", 1, 1, "no matchers"),
        ("bogus:x -> y", 1, 1, "unknown matcher `bogus`"),
        ("\n\ntype:E -> a,,b", 3, 13, "empty fingerprint value"),
        ("type:E -> , a", 1, 11, "empty fingerprint value"),
        ("type:E -> a title=\"x", 1, 19, "unterminated quoted string"),
        ("type:E -> a-{{ type", 1, 13, "unterminated `{{`"),
        ("type:E -> a title=x title=y", 1, 21, "duplicate `title=`"),
        ("type:E -> a title=", 1, 19, "missing value for `title`"),
        ("type:E -> \"\"", 1, 11, "empty fingerprint value"),
        ("type:\"E -> a", 1, 6, "unterminated quoted string"),
        ("tags.:x -> a", 1, 1, "missing tag name"),
        ("family:nope -> a", 1, 8, "unknown family"),
        ("type:E +app -> a", 1, 8, "expected a matcher or `->`"),
    ];
    assert_rule_errors(cases, |input| FingerprintRules::parse(input).err());
}

// ---------------------------------------------------- fingerprint evaluator

#[test]
fn first_matching_rule_wins() {
    let rules = fingerprints(
        "error.type:DatabaseUnavailable -> system-down\n\
         error.value:\"*TIMEOUT*\" -> timeout\n\
         error.type:* -> any-error",
    );
    let event = exception_event("DatabaseUnavailable", "connection timeout", vec![]);
    assert_eq!(
        rules.first_match(&event).map(|r| r.fingerprint.clone()),
        Some(vec!["system-down".to_owned()])
    );
    let event = exception_event("OperationalError", "read timeout", vec![]);
    assert_eq!(
        rules.first_match(&event).map(|r| r.text.as_str()),
        Some("error.value:\"*TIMEOUT*\" -> timeout")
    );
    let event = exception_event("KeyError", "'x'", vec![]);
    assert_eq!(
        rules.first_match(&event).map(|r| r.fingerprint[0].as_str()),
        Some("any-error")
    );
    assert!(rules.first_match(&Event::default()).is_none());
}

#[test]
fn frame_matchers_must_match_the_same_frame() {
    let rules = fingerprints(
        "stack.function:\"ConnectionPool.*\" error.value:\"*timeout*\" -> db-timeout, {{ transaction }}\n\
         stack.function:checkout stack.module:billing.* -> checkout",
    );
    let split = exception_event(
        "Error",
        "socket timeout",
        vec![
            Frame {
                module: Some("billing.cart".into()),
                ..frame("render")
            },
            Frame {
                module: Some("http".into()),
                ..frame("checkout")
            },
        ],
    );
    assert!(rules.first_match(&split).is_none());
    let same = exception_event(
        "Error",
        "socket TIMEOUT",
        vec![
            frame("main"),
            Frame {
                module: Some("billing.cart".into()),
                ..frame("checkout")
            },
        ],
    );
    assert_eq!(
        rules.first_match(&same).map(|r| r.fingerprint[0].as_str()),
        Some("checkout")
    );
    let pool = exception_event(
        "Error",
        "Pool Timeout",
        vec![frame("ConnectionPool.acquire")],
    );
    assert_eq!(
        rules.first_match(&pool).map(|r| r.fingerprint.clone()),
        Some(vec![
            "db-timeout".to_owned(),
            "{{ transaction }}".to_owned()
        ])
    );
}

#[test]
fn frame_matchers_see_threads_and_top_level_stacktraces() {
    let rules = fingerprints("stack.abs_path:**/WORKER/*.py -> worker");
    let threads = Event {
        threads: Some(Threads::List(vec![Thread {
            stacktrace: Some(Stacktrace {
                frames: vec![Frame {
                    abs_path: Some("/srv/worker/jobs.py".into()),
                    ..Frame::default()
                }],
            }),
            ..Thread::default()
        }])),
        ..Event::default()
    };
    assert!(rules.first_match(&threads).is_some());
    let top = Event {
        stacktrace: Some(Stacktrace {
            frames: vec![Frame {
                filename: Some(r"worker\jobs.py".into()),
                ..Frame::default()
            }],
        }),
        ..Event::default()
    };
    assert!(rules.first_match(&top).is_some());
}

#[test]
fn event_matchers_and_negation() {
    let rules = fingerprints(
        "logger:\"app.payments\" level:error -> payments-{{ level }}\n\
         message:\"*card declined*\" !tags.env:prod -> declined\n\
         sdk:sentry.* release:2.* transaction:/checkout -> sdk-rule\n\
         family:go -> go",
    );
    let payments = Event {
        logger: Some("app.payments".into()),
        level: Some("ERROR".into()),
        ..Event::default()
    };
    assert_eq!(
        rules
            .first_match(&payments)
            .map(|r| r.fingerprint[0].as_str()),
        Some("payments-{{ level }}")
    );
    let warning = Event {
        level: Some("warning".into()),
        ..payments.clone()
    };
    assert!(rules.first_match(&warning).is_none());

    let declined = |env: &str| Event {
        message: Some(Message::Text("Card Declined for order 7".into())),
        tags: Some(Tags::Pairs(vec![("env".into(), env.into())])),
        ..Event::default()
    };
    assert!(rules.first_match(&declined("staging")).is_some());
    assert!(rules.first_match(&declined("prod")).is_none());

    let sdk = Event {
        sdk: Some(Sdk {
            name: Some("Sentry.Python".into()),
            version: None,
        }),
        release: Some("2.1.0".into()),
        transaction: Some("/checkout".into()),
        ..Event::default()
    };
    assert_eq!(
        rules.first_match(&sdk).map(|r| r.fingerprint[0].as_str()),
        Some("sdk-rule")
    );
    let go = Event {
        platform: Some("go".into()),
        ..Event::default()
    };
    assert_eq!(
        rules.first_match(&go).map(|r| r.fingerprint[0].as_str()),
        Some("go")
    );
}

#[test]
fn exception_matchers_match_any_exception_in_the_chain() {
    let rules = fingerprints("error.type:RootCause -> root\n!error.type:Other -> not-other");
    let event = Event {
        exception: Some(Exceptions::List(vec![
            Exception {
                ty: Some("RootCause".into()),
                ..Exception::default()
            },
            Exception {
                ty: Some("Wrapper".into()),
                ..Exception::default()
            },
        ])),
        ..Event::default()
    };
    assert_eq!(
        rules.first_match(&event).map(|r| r.fingerprint[0].as_str()),
        Some("root")
    );
    let other = exception_event("Other", "x", vec![]);
    assert!(rules.first_match(&other).is_none());
}

#[test]
fn app_matcher_in_fingerprint_rules_uses_frame_in_app() {
    let rules = fingerprints("app:yes function:handler -> app-handler");
    let system = exception_event("E", "v", vec![frame("handler")]);
    assert!(rules.first_match(&system).is_none());
    let app = exception_event(
        "E",
        "v",
        vec![Frame {
            in_app: Some(true),
            ..frame("handler")
        }],
    );
    assert!(rules.first_match(&app).is_some());
}

// ---------------------------------------------------------------- proptest

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("function:".to_owned()),
        Just("!".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("->".to_owned()),
        Just(",".to_owned()),
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("#".to_owned()),
        Just("\n".to_owned()),
        Just(" ".to_owned()),
        Just("^-group".to_owned()),
        Just("v+app".to_owned()),
        Just("max-frames=".to_owned()),
        Just("category=".to_owned()),
        Just("title=".to_owned()),
        Just("path:**/".to_owned()),
        Just("family:".to_owned()),
        Just("app:".to_owned()),
        Just("tags.".to_owned()),
        Just("*".to_owned()),
        Just("?".to_owned()),
        Just("é".to_owned()),
        "[a-z0-9:=.]{0,6}",
    ]
}

fn rule_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..24).prop_map(|tokens| tokens.concat())
}

proptest! {
    #[test]
    fn stack_parser_never_panics(text in any::<String>()) {
        let _ = StackRules::parse(&text);
    }

    #[test]
    fn fingerprint_parser_never_panics(text in any::<String>()) {
        let _ = FingerprintRules::parse(&text);
    }

    #[test]
    fn parsers_never_panic_on_rule_like_input(text in rule_soup()) {
        if let Ok(rules) = StackRules::parse(&text) {
            let frames = [
                Frame { abs_path: Some("/a/b.js".into()), in_app: Some(true), ..frame("function") },
                frame("x"),
            ];
            let mut states = states(&frames, Family::JavaScript);
            rules.apply(&StackContext::default(), &mut states);
        }
        if let Ok(rules) = FingerprintRules::parse(&text) {
            let event = exception_event("E", "v", vec![frame("function")]);
            let _ = rules.first_match(&event);
        }
    }

    #[test]
    fn errors_are_within_the_input(text in rule_soup()) {
        for err in [StackRules::parse(&text).err(), FingerprintRules::parse(&text).err()]
            .into_iter()
            .flatten()
        {
            let lines: Vec<&str> = text.split('\n').collect();
            prop_assert!(err.line >= 1 && err.line <= lines.len());
            let width = lines[err.line - 1].chars().count();
            prop_assert!(err.column >= 1 && err.column <= width + 1, "{err} in {text:?}");
        }
    }
}
