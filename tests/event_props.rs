//! Property tests over arbitrary events: the fingerprinter and the text
//! renderer never panic, and hashes never depend on line or column numbers.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use stackherd::event::{EventLimits, event_from_value, parse_event};
use stackherd::fingerprint::Fingerprinter;
use stackherd::scrub::Scrubber;
use stackherd::text::{TextLimits, render_stacktrace};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn words() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z_][A-Za-z0-9_.:<>$@/ ]{0,30}",
        Just(String::new()),
        ".{0,40}",
    ]
}

fn platform() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "python",
        "javascript",
        "node",
        "java",
        "ruby",
        "php",
        "csharp",
        "go",
        "native",
        "cocoa",
        "rust",
        "other",
        "perl",
        "",
    ])
    .prop_map(str::to_string)
}

/// A well-typed frame with arbitrary contents.
fn frame() -> impl Strategy<Value = Value> {
    (
        (
            prop::option::of(words()),
            prop::option::of(words()),
            prop::option::of(words()),
            prop::option::of(words()),
        ),
        (
            prop::option::of(0u64..100_000),
            prop::option::of(0u64..500),
            prop::option::of(words()),
            prop::option::of(any::<bool>()),
            prop::option::of(platform()),
        ),
    )
        .prop_map(
            |((filename, abs_path, module, function), (lineno, colno, context, in_app, plat))| {
                json!({"filename": filename, "abs_path": abs_path, "module": module,
                       "function": function, "lineno": lineno, "colno": colno,
                       "context_line": context, "in_app": in_app, "platform": plat})
            },
        )
}

fn stacktrace() -> impl Strategy<Value = Value> {
    prop::collection::vec(frame(), 0..12).prop_map(|frames| json!({"frames": frames}))
}

fn mechanism() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        prop::option::of(0u64..4),
        prop::option::of(0u64..4),
        any::<bool>(),
    )
        .prop_map(|(synthetic, id, parent, group)| {
            json!({"type": "generic", "synthetic": synthetic, "exception_id": id,
                   "parent_id": parent, "is_exception_group": group})
        })
}

fn exception() -> impl Strategy<Value = Value> {
    (
        prop::option::of(words()),
        prop::option::of(words()),
        prop::option::of(mechanism()),
        prop::option::of(stacktrace()),
    )
        .prop_map(|(ty, value, mechanism, stacktrace)| {
            json!({"type": ty, "value": value, "mechanism": mechanism, "stacktrace": stacktrace})
        })
}

/// A well-typed event: every field in range, contents arbitrary.
fn typed_event() -> impl Strategy<Value = Value> {
    (
        platform(),
        prop::collection::vec(exception(), 0..4),
        prop::option::of(prop::collection::vec(
            (any::<bool>(), stacktrace())
                .prop_map(|(crashed, st)| json!({"crashed": crashed, "stacktrace": st})),
            0..3,
        )),
        prop::option::of(stacktrace()),
        prop::option::of(words()),
        prop::option::of(prop::collection::vec(words(), 0..3)),
    )
        .prop_map(
            |(platform, exceptions, threads, stacktrace, message, fingerprint)| {
                json!({"platform": platform, "exception": {"values": exceptions},
                   "threads": threads.map(|t| json!({"values": t})),
                   "stacktrace": stacktrace, "message": message,
                   "fingerprint": fingerprint, "tags": {"region": "eu"}})
            },
        )
}

/// Typed events with arbitrary JSON mixed into any field.
fn wild_event() -> impl Strategy<Value = Value> {
    (
        typed_event(),
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "exception",
                    "threads",
                    "stacktrace",
                    "message",
                    "logentry",
                    "fingerprint",
                    "tags",
                    "platform",
                    "sdk",
                    "level",
                ]),
                any_json(),
            ),
            0..3,
        ),
    )
        .prop_map(|(mut event, replacements)| {
            if let Value::Object(map) = &mut event {
                for (key, value) in replacements {
                    map.insert(key.to_string(), value);
                }
            }
            event
        })
}

fn renumber(value: &mut Value, salt: u64) {
    match value {
        Value::Object(map) => renumber_map(map, salt),
        Value::Array(items) => items.iter_mut().for_each(|v| renumber(v, salt)),
        _ => {}
    }
}

fn renumber_map(map: &mut Map<String, Value>, salt: u64) {
    for (key, value) in map.iter_mut() {
        if key == "lineno" || key == "colno" {
            if let Some(n) = value.as_u64() {
                *value = json!(n.wrapping_mul(7).wrapping_add(salt) % 1_000_000);
            }
        } else {
            renumber(value, salt);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fingerprint_and_text_never_panic_on_arbitrary_events(event in wild_event()) {
        let limits = EventLimits::default();
        let bytes = serde_json::to_vec(&event).expect("serializable");
        // Either path may reject the event; neither may panic.
        if let Ok(parsed) = parse_event(&bytes, &limits) {
            let grouping = Fingerprinter::default().fingerprint(&parsed);
            prop_assert!(!grouping.hashes().is_empty());
            if let Ok(text) = render_stacktrace(&parsed, &TextLimits::default()) {
                prop_assert!(!text.ends_with('\n'));
                let _ = Scrubber::new().scrub(&text);
            }
        }
        let _ = event_from_value(event, &limits);
    }

    #[test]
    fn hashes_do_not_depend_on_line_numbers(event in typed_event(), salt in 1u64..1000) {
        let limits = EventLimits::default();
        let original = event_from_value(event.clone(), &limits).expect("typed events parse");
        let mut moved = event;
        renumber(&mut moved, salt);
        let moved = event_from_value(moved, &limits).expect("typed events parse");
        let fingerprinter = Fingerprinter::default();
        prop_assert_eq!(
            fingerprinter.fingerprint(&original).hashes(),
            fingerprinter.fingerprint(&moved).hashes()
        );
    }

    #[test]
    fn arbitrary_bytes_are_rejected_or_parsed_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_event(&bytes, &EventLimits::default());
    }
}
