//! The dataset format (reading, writing, errors) and the synthetic
//! generator (determinism, validity, coverage, hard negatives, and how its
//! variations meet the fingerprinter).

use serde_json::Value;
use stackherd::dataset::synth::{
    Platform, SynthDataset, SynthOptions, generate, generate_with_truth,
};
use stackherd::dataset::{DatasetError, DatasetLine, EventSource, read_dataset, write_line};
use stackherd::eval::{Method, Observation, metrics};
use stackherd::event::{Event, EventLimits, event_from_value};
use stackherd::fingerprint::Fingerprinter;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Cursor;
use std::time::{Duration, UNIX_EPOCH};

fn small() -> SynthOptions {
    SynthOptions {
        projects: 2,
        issues_per_project: 14,
        events_per_issue: 6,
        seed: 7,
        ..SynthOptions::default()
    }
}

fn event_value(line: &DatasetLine) -> &Value {
    match &line.source {
        EventSource::Event(value) => value,
        EventSource::Stacktrace { .. } => panic!("the generator writes events"),
    }
}

fn parse(line: &DatasetLine) -> Event {
    event_from_value(event_value(line).clone(), &EventLimits::default())
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", line.label))
}

fn to_jsonl(lines: &[DatasetLine]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        write_line(&mut out, line).expect("generated lines are writable");
    }
    out
}

// ---------------------------------------------------------------- generator

#[test]
fn same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let a = to_jsonl(&generate(&small()));
    let b = to_jsonl(&generate(&small()));
    assert_eq!(a, b);
    let other = to_jsonl(&generate(&SynthOptions { seed: 8, ..small() }));
    assert_ne!(a, other);
}

#[test]
fn default_options_make_about_two_thousand_events_on_every_platform() {
    let options = SynthOptions::default();
    let lines = generate(&options);
    assert_eq!(lines.len(), 2000);
    let platforms: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| event_value(l)["platform"].as_str().map(ToString::to_string))
        .collect();
    let expected: BTreeSet<String> = Platform::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(platforms, expected);
}

#[test]
fn every_event_parses_and_looks_like_an_sdk_event() {
    let dataset = generate_with_truth(&SynthOptions::default());
    let platform_of: HashMap<(u64, &str), Platform> = dataset
        .issues
        .iter()
        .map(|i| ((i.project, i.label.as_str()), i.platform))
        .collect();
    for line in &dataset.lines {
        let event = parse(line);
        let platform = platform_of[&(line.project, line.label.as_str())];
        assert_eq!(event.platform.as_deref(), Some(platform.as_str()));
        let [exception] = event.exceptions() else {
            panic!("{}: one exception expected", line.label);
        };
        assert!(exception.ty.as_deref().is_some_and(|t| !t.is_empty()));
        let frames = &exception
            .stacktrace
            .as_ref()
            .expect("exceptions carry a stacktrace")
            .frames;
        assert!(frames.len() >= 2, "{}: {} frames", line.label, frames.len());
        assert!(frames.iter().any(|f| f.in_app == Some(true)));
        for frame in frames {
            assert!(
                frame.function.is_some(),
                "{}: frame without function",
                line.label
            );
            assert!(frame.in_app.is_some());
        }
        let raw = event_value(line);
        assert_eq!(raw["event_id"].as_str().map(str::len), Some(32));
        assert!(raw["timestamp"].is_string());
    }
}

#[test]
fn labels_cover_every_issue_with_its_event_count() {
    let options = small();
    let SynthDataset { lines, issues } = generate_with_truth(&options);
    assert_eq!(issues.len(), 28);
    let mut counts: BTreeMap<(u64, String), usize> = BTreeMap::new();
    for line in &lines {
        *counts
            .entry((line.project, line.label.clone()))
            .or_default() += 1;
    }
    let expected: BTreeMap<(u64, String), usize> = issues
        .iter()
        .map(|i| ((i.project, i.label.clone()), i.events))
        .collect();
    assert_eq!(counts, expected);
    for issue in &issues {
        let n = issue
            .label
            .strip_prefix(&format!("p{}-i", issue.project))
            .and_then(|n| n.parse::<usize>().ok());
        assert!(n.is_some_and(|n| (1..=14).contains(&n)), "{}", issue.label);
    }
    assert_eq!(lines.len(), 2 * 14 * 6);
}

#[test]
fn timestamps_strictly_increase_from_start() {
    let options = small();
    let lines = generate(&options);
    let times: Vec<_> = lines
        .iter()
        .map(|l| l.timestamp.expect("timestamped"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]));
    assert!(times.iter().all(
        |t| *t >= options.start && *t <= options.start + options.span + Duration::from_secs(60)
    ));
}

#[test]
fn issue_sizes_are_skewed() {
    // A few big issues, many small ones: the biggest is at least five times
    // the mean (10) and the median at most half of it.
    let dataset = generate_with_truth(&SynthOptions::default());
    let mut sizes: Vec<usize> = dataset.issues.iter().map(|i| i.events).collect();
    sizes.sort_unstable();
    let biggest = sizes.last().copied().unwrap_or(0);
    let median = sizes[sizes.len() / 2];
    assert!(biggest >= 50, "biggest issue has {biggest} events");
    assert!(median <= 5, "median issue has {median} events");
    assert!(sizes.iter().all(|&s| s >= 1));
}

#[test]
fn platform_choice_and_names() {
    let options = SynthOptions {
        platforms: vec![Platform::Go, Platform::Ruby],
        ..small()
    };
    let platforms: BTreeSet<String> = generate(&options)
        .iter()
        .filter_map(|l| event_value(l)["platform"].as_str().map(ToString::to_string))
        .collect();
    assert_eq!(
        platforms,
        BTreeSet::from(["go".to_string(), "ruby".to_string()])
    );
    assert_eq!("JavaScript".parse::<Platform>(), Ok(Platform::JavaScript));
    assert_eq!(" csharp ".parse::<Platform>(), Ok(Platform::CSharp));
    let error = "cobol".parse::<Platform>().expect_err("unknown");
    assert!(error.to_string().contains("cobol"));
}

#[test]
fn degenerate_sizes() {
    let none = SynthOptions {
        projects: 0,
        ..small()
    };
    assert!(generate(&none).is_empty());
    let no_issues = SynthOptions {
        issues_per_project: 0,
        ..small()
    };
    assert!(generate(&no_issues).is_empty());
    let zero_events = SynthOptions {
        events_per_issue: 0,
        ..small()
    };
    assert_eq!(
        generate(&zero_events).len(),
        28,
        "every issue has at least one event"
    );
    let no_platforms = SynthOptions {
        platforms: Vec::new(),
        ..small()
    };
    assert_eq!(generate(&no_platforms).len(), 2 * 14 * 6);
}

// ------------------------------------------------ generator × fingerprinting

/// The hashes of every event, by (project, label), in time order.
fn hashes(lines: &[DatasetLine]) -> Vec<Vec<String>> {
    let fingerprinter = Fingerprinter::default();
    lines
        .iter()
        .map(|line| fingerprinter.fingerprint(&parse(line)).hashes())
        .collect()
}

/// Fingerprint-only grouping: an event joins the issue of any known hash.
fn fingerprint_only(lines: &[DatasetLine], hashes: &[Vec<String>]) -> Vec<Observation> {
    let mut known: HashMap<(u64, String), String> = HashMap::new();
    let mut next = 0usize;
    lines
        .iter()
        .zip(hashes)
        .map(|(line, event_hashes)| {
            let found = event_hashes
                .iter()
                .find_map(|h| known.get(&(line.project, h.clone())).cloned());
            let (predicted, method) = match found {
                Some(issue) => (issue, Method::Fingerprint),
                None => {
                    next += 1;
                    (format!("issue-{next}"), Method::FingerprintOnly)
                }
            };
            for hash in event_hashes {
                known
                    .entry((line.project, hash.clone()))
                    .or_insert_with(|| predicted.clone());
            }
            Observation {
                project: line.project,
                label: line.label.clone(),
                platform: event_value(line)["platform"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                predicted,
                method,
                nearest: None,
            }
        })
        .collect()
}

#[test]
fn fingerprinting_merges_most_variations_and_splits_refactors() {
    let dataset = generate_with_truth(&SynthOptions::default());
    let hashes = hashes(&dataset.lines);
    let observations = fingerprint_only(&dataset.lines, &hashes);
    let m = metrics(&observations);
    // Different root causes never share a fingerprint ...
    assert!(
        m.merge_precision >= 0.999,
        "fingerprint overgrouping: {m:?}"
    );
    // ... line numbers, values, proxies, browsers and middleware mostly
    // normalize away ...
    assert!(
        m.merge_recall >= 0.6,
        "fingerprinting merges too little: {m:?}"
    );
    // ... but refactors, minified releases, edited source lines and
    // runtime upgrades leave work for the AI fallback: needless new issues.
    assert!(m.merge_recall <= 0.99, "nothing left for the AI: {m:?}");
    assert!(
        m.issues_predicted * 100 >= m.issues_true * 115,
        "fingerprinting alone splits too few issues: {m:?}"
    );

    // A refactor splits its issue: the first event after it shares no hash
    // with any event before it, for most refactored issues.
    let key = |project: u64, label: &str| format!("{project}/{label}");
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, line) in dataset.lines.iter().enumerate() {
        by_key
            .entry(key(line.project, &line.label))
            .or_default()
            .push(index);
    }
    let refactored: Vec<_> = dataset
        .issues
        .iter()
        .filter(|i| i.refactored_at.is_some())
        .collect();
    assert!(
        refactored.len() >= 10,
        "{} refactored issues",
        refactored.len()
    );
    let split = refactored
        .iter()
        .filter(|issue| {
            let events = &by_key[&key(issue.project, &issue.label)];
            let at = issue.refactored_at.unwrap_or(0);
            let before: HashSet<&String> = events[..at].iter().flat_map(|&i| &hashes[i]).collect();
            !hashes[events[at]].iter().any(|h| before.contains(h))
        })
        .count();
    assert!(
        split * 4 >= refactored.len() * 3,
        "{split} of {} refactors split",
        refactored.len()
    );
}

#[test]
fn hard_negatives_share_the_path_but_not_the_fingerprint() {
    let dataset = generate_with_truth(&SynthOptions::default());
    let negatives: Vec<_> = dataset
        .issues
        .iter()
        .filter(|i| i.hard_negative_of.is_some())
        .collect();
    let share = negatives.len() as f64 / dataset.issues.len() as f64;
    assert!(
        (0.07..=0.25).contains(&share),
        "{} hard negatives",
        negatives.len()
    );

    let mut first_event: HashMap<(u64, &str), &DatasetLine> = HashMap::new();
    for line in &dataset.lines {
        first_event
            .entry((line.project, line.label.as_str()))
            .or_insert(line);
    }
    let fingerprinter = Fingerprinter::default();
    let app_functions = |event: &Event| -> BTreeSet<String> {
        event.exceptions()[0]
            .stacktrace
            .as_ref()
            .map(|s| &s.frames[..])
            .unwrap_or(&[])
            .iter()
            .filter(|f| f.in_app == Some(true))
            .filter_map(|f| f.function.clone())
            .collect()
    };
    let mut similar = 0;
    for negative in &negatives {
        let base_label = negative.hard_negative_of.as_deref().unwrap_or("");
        let base = parse(first_event[&(negative.project, base_label)]);
        let this = parse(first_event[&(negative.project, negative.label.as_str())]);
        assert!(
            !fingerprinter
                .fingerprint(&base)
                .same_issue(&fingerprinter.fingerprint(&this)),
            "{} and its base {base_label} share a fingerprint",
            negative.label
        );
        let (a, b) = (app_functions(&base), app_functions(&this));
        if a.intersection(&b).count() * 2 >= b.len() {
            similar += 1;
        }
    }
    // Minified releases and era changes rename frames; most pairs still
    // share at least half of their in-app functions.
    assert!(
        similar * 10 >= negatives.len() * 7,
        "{similar} of {} alike",
        negatives.len()
    );
}

// ------------------------------------------------------------------ format

#[test]
fn generated_lines_round_trip_through_jsonl() {
    let lines = generate(&small());
    let bytes = to_jsonl(&lines);
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), lines.len());
    let read: Vec<DatasetLine> = read_dataset(Cursor::new(bytes))
        .collect::<Result<_, _>>()
        .expect("written lines read back");
    assert_eq!(read, lines);
}

#[test]
fn stacktrace_lines_and_optional_fields_round_trip() {
    let lines = vec![
        DatasetLine {
            project: 3,
            label: "issue-7".into(),
            timestamp: Some(UNIX_EPOCH + Duration::from_nanos(1_704_164_645_123_456_789)),
            source: EventSource::Stacktrace {
                text: "java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)".into(),
                platform: Some("java".into()),
            },
        },
        DatasetLine {
            project: 0,
            label: "x".into(),
            timestamp: None,
            source: EventSource::Stacktrace {
                text: "Traceback (most recent call last):".into(),
                platform: None,
            },
        },
    ];
    let bytes = to_jsonl(&lines);
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    assert!(text.starts_with(
        r#"{"project":3,"label":"issue-7","timestamp":"2024-01-02T03:04:05.123456789Z","stacktrace":"#
    ));
    assert!(!text.lines().nth(1).unwrap_or("").contains("timestamp"));
    let read: Vec<DatasetLine> = read_dataset(Cursor::new(bytes))
        .collect::<Result<_, _>>()
        .expect("reads back");
    assert_eq!(read, lines);
}

#[test]
fn reading_accepts_blank_lines_crlf_bom_and_utc_spellings() {
    let text = "\u{feff}{\"project\":1,\"label\":\"a\",\"event\":{}}\r\n\
                \n   \n\
                {\"project\":2,\"label\":\"b\",\"timestamp\":\"2024-01-02 03:04:05\",\"event\":{\"platform\":\"go\"}}\n\
                {\"project\":2,\"label\":\"c\",\"timestamp\":\"2024-01-02T03:04:05.5+00:00\",\"stacktrace\":\"x\",\"platform\":null}\n\
                {\"project\":2,\"label\":\"d\",\"timestamp\":null,\"stacktrace\":\"y\"}";
    let lines: Vec<DatasetLine> = read_dataset(Cursor::new(text))
        .collect::<Result<_, _>>()
        .expect("valid dataset");
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0].timestamp, None);
    assert_eq!(
        lines[1].timestamp,
        Some(UNIX_EPOCH + Duration::from_secs(1_704_164_645))
    );
    assert_eq!(
        lines[2].timestamp,
        Some(UNIX_EPOCH + Duration::from_millis(1_704_164_645_500))
    );
    assert_eq!(
        lines[2].source,
        EventSource::Stacktrace {
            text: "x".into(),
            platform: None
        }
    );
    assert_eq!(lines[3].timestamp, None);
}

/// Reads a dataset whose line `bad_line` is `bad` (the others valid) and
/// returns the single error.
fn error_for(bad: &str) -> DatasetError {
    let good = r#"{"project":1,"label":"a","event":{}}"#;
    let text = format!("{good}\n\n{bad}\n{good}\n");
    let results: Vec<_> = read_dataset(Cursor::new(text)).collect();
    assert_eq!(results.len(), 3, "reading goes on after a bad line");
    assert!(results[0].is_ok() && results[2].is_ok());
    let error = results
        .into_iter()
        .nth(1)
        .and_then(Result::err)
        .expect("line 3 fails");
    assert_eq!(error.line(), Some(3), "{error}");
    assert!(error.to_string().starts_with("line 3: "), "{error}");
    error
}

fn assert_field(error: &DatasetError, expected: &str) {
    match error {
        DatasetError::Field { field, .. } => assert_eq!(field, expected, "{error}"),
        other => panic!("expected a field error about `{expected}`, got {other}"),
    }
    assert!(
        error.to_string().contains(&format!("`{expected}`")),
        "{error}"
    );
}

#[test]
fn reading_errors_name_the_line_and_the_field() {
    assert!(matches!(error_for("{not json"), DatasetError::Json { .. }));
    assert!(matches!(
        error_for("[1, 2]"),
        DatasetError::NotAnObject { .. }
    ));
    assert_field(&error_for(r#"{"label":"a","event":{}}"#), "project");
    assert_field(
        &error_for(r#"{"project":-1,"label":"a","event":{}}"#),
        "project",
    );
    assert_field(
        &error_for(r#"{"project":"1","label":"a","event":{}}"#),
        "project",
    );
    assert_field(
        &error_for(r#"{"project":1.5,"label":"a","event":{}}"#),
        "project",
    );
    assert_field(&error_for(r#"{"project":1,"event":{}}"#), "label");
    assert_field(
        &error_for(r#"{"project":1,"label":"","event":{}}"#),
        "label",
    );
    assert_field(&error_for(r#"{"project":1,"label":7,"event":{}}"#), "label");
    assert_field(
        &error_for(r#"{"project":1,"label":"a","timestamp":"yesterday","event":{}}"#),
        "timestamp",
    );
    assert_field(
        &error_for(
            r#"{"project":1,"label":"a","timestamp":"2024-01-02T03:04:05+02:00","event":{}}"#,
        ),
        "timestamp",
    );
    assert_field(
        &error_for(
            r#"{"project":1,"label":"a","timestamp":"2024-01-02T03:04:05.1+02:00","event":{}}"#,
        ),
        "timestamp",
    );
    assert_field(
        &error_for(r#"{"project":1,"label":"a","timestamp":"1969-12-31T23:59:59Z","event":{}}"#),
        "timestamp",
    );
    assert_field(
        &error_for(r#"{"project":1,"label":"a","timestamp":1704164645,"event":{}}"#),
        "timestamp",
    );
    assert_field(
        &error_for(r#"{"project":1,"label":"a","event":"{}"}"#),
        "event",
    );
    assert_field(
        &error_for(r#"{"project":1,"label":"a","event":{},"platform":"go"}"#),
        "platform",
    );
    assert_field(
        &error_for(r#"{"project":1,"label":"a","stacktrace":""}"#),
        "stacktrace",
    );
    assert_field(
        &error_for(r#"{"project":1,"label":"a","stacktrace":["x"]}"#),
        "stacktrace",
    );
    assert_field(
        &error_for(r#"{"project":1,"label":"a","stacktrace":"x","platform":3}"#),
        "platform",
    );
    assert_field(
        &error_for(r#"{"project":1,"label":"a","event":{},"timestmp":"2024-01-02T03:04:05Z"}"#),
        "timestmp",
    );
    let both = error_for(r#"{"project":1,"label":"a","event":{},"stacktrace":"x"}"#);
    assert!(matches!(both, DatasetError::BothSources { line: 3 }));
    assert!(both.to_string().contains("`event`") && both.to_string().contains("`stacktrace`"));
    assert!(matches!(
        error_for(r#"{"project":1,"label":"a"}"#),
        DatasetError::NoSource { line: 3 }
    ));
}

#[test]
fn invalid_utf8_is_an_error_on_its_line_and_reading_goes_on() {
    let mut bytes = b"{\"project\":1,\"label\":\"a\",\"event\":{}}\n".to_vec();
    bytes.extend_from_slice(b"{\"project\":1,\"label\":\"\xff\",\"event\":{}}\n");
    bytes.extend_from_slice(b"{\"project\":1,\"label\":\"c\",\"event\":{}}");
    let results: Vec<_> = read_dataset(Cursor::new(bytes)).collect();
    assert_eq!(results.len(), 3);
    assert!(matches!(results[1], Err(DatasetError::NotUtf8 { line: 2 })));
    assert!(results[2].is_ok());
}

/// A reader that fails after its first line.
struct Failing {
    served: bool,
}

impl std::io::Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk on fire"))
    }
}

impl std::io::BufRead for Failing {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.served {
            Err(std::io::Error::other("disk on fire"))
        } else {
            Ok(b"{\"project\":1,\"label\":\"a\",\"event\":{}}\n")
        }
    }

    fn consume(&mut self, _: usize) {
        self.served = true;
    }
}

#[test]
fn a_failing_reader_ends_the_stream_with_one_error() {
    let results: Vec<_> = read_dataset(Failing { served: false }).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    match &results[1] {
        Err(error @ DatasetError::Read { line: 2, .. }) => {
            assert!(error.to_string().contains("disk on fire"));
        }
        other => panic!("expected a read error on line 2, got {other:?}"),
    }
}

#[test]
fn writing_refuses_what_reading_would_refuse() {
    let line = |label: &str, timestamp, source| DatasetLine {
        project: 1,
        label: label.to_string(),
        timestamp,
        source,
    };
    let event = EventSource::Event(serde_json::json!({}));
    let cases = [
        (line("", None, event.clone()), "label"),
        (
            line("a", None, EventSource::Event(serde_json::json!([1]))),
            "event",
        ),
        (
            line(
                "a",
                None,
                EventSource::Stacktrace {
                    text: " ".into(),
                    platform: None,
                },
            ),
            "stacktrace",
        ),
        (
            line(
                "a",
                Some(UNIX_EPOCH - Duration::from_secs(1)),
                event.clone(),
            ),
            "timestamp",
        ),
        (
            line(
                "a",
                Some(UNIX_EPOCH + Duration::from_secs(253_402_300_800)),
                event,
            ),
            "timestamp",
        ),
    ];
    for (line, field) in cases {
        let mut out = Vec::new();
        match write_line(&mut out, &line) {
            Err(DatasetError::Unwritable { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected `{field}` to be refused, got {other:?}"),
        }
        assert!(out.is_empty(), "nothing is written for a refused line");
    }
}
