//! The grouping fixture corpus: realistic SDK events under
//! `tests/fixtures/grouping/<platform>/<case>.json`, each case stating which
//! events a user expects in the same issue and which in different issues
//! (see FINGERPRINTING.md).
//!
//! A case file looks like:
//!
//! ```json
//! {"description": "why these relate",
//!  "events": {"a": {…event…}, "b": {…event…}},
//!  "same": [["a", "b"]],
//!  "different": [["a", "c"]],
//!  "expected_hashes": {"a": ["<md5>"]}}
//! ```
//!
//! `expected_hashes` is optional: the exact set of hashes an event must get
//! (used where FINGERPRINTING.md pins the hash, e.g. the fallback md5("")).
//!
//! Every failure in the corpus is collected and reported in one panic.

use serde_json::Value;
use stackherd::event::{Event, EventLimits, parse_event};
use stackherd::fingerprint::{Fingerprinter, Grouping};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Platform directories the corpus must cover, each with at least
/// [`MIN_EVENTS_PER_PLATFORM`] events.
const PLATFORMS: &[&str] = &[
    "python",
    "javascript",
    "node",
    "java",
    "ruby",
    "php",
    "csharp",
    "go",
    "native",
    "rust",
    "cocoa",
];
const MIN_EVENTS: usize = 60;
const MIN_EVENTS_PER_PLATFORM: usize = 4;
/// md5 of the empty string: the hash of an event where nothing contributes.
const FALLBACK_HASH: &str = "d41d8cd98f00b204e9800998ecf8427e";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grouping")
}

/// One event of a case: its name, raw JSON and parsed form.
struct FixtureEvent {
    name: String,
    raw: Value,
    event: Event,
}

struct Case {
    /// Path relative to the corpus directory, e.g. `python/recursion.json`.
    file: String,
    platform: String,
    events: Vec<FixtureEvent>,
    same: Vec<(String, String)>,
    different: Vec<(String, String)>,
    expected_hashes: BTreeMap<String, BTreeSet<String>>,
}

/// Every `*.json` file under `dir`, sorted, recursively.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", current.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("cannot read an entry of {}: {e}", current.display()))
                .path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn parse_pairs(value: Option<&Value>, key: &str) -> Result<Vec<(String, String)>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list = value
        .as_array()
        .ok_or_else(|| format!("`{key}` must be a list of [name, name] pairs"))?;
    list.iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(x), Value::String(y)]) => Ok((x.clone(), y.clone())),
            _ => Err(format!("`{key}` holds {pair}, not a [name, name] pair")),
        })
        .collect()
}

fn load_case(root: &Path, path: &Path) -> Result<Case, String> {
    let file = path
        .strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/");
    let platform = file.split('/').next().unwrap_or_default().to_string();
    let fail = |message: String| format!("{file}: {message}");
    let bytes = std::fs::read(path).map_err(|e| fail(format!("unreadable: {e}")))?;
    let case: Value =
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("invalid JSON: {e}")))?;
    let object = case
        .as_object()
        .ok_or_else(|| fail("the case is not a JSON object".into()))?;
    let description = object.get("description").and_then(Value::as_str);
    if description.is_none_or(|d| d.trim().is_empty()) {
        return Err(fail("missing a non-empty `description`".into()));
    }
    let raw_events = object
        .get("events")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("`events` must be an object of named events".into()))?;
    let mut events = Vec::new();
    for (name, raw) in raw_events {
        let text = serde_json::to_vec(raw).expect("a JSON value serializes");
        let event = parse_event(&text, &EventLimits::default())
            .map_err(|e| fail(format!("event `{name}` is rejected: {e}")))?;
        events.push(FixtureEvent {
            name: name.clone(),
            raw: raw.clone(),
            event,
        });
    }
    let same = parse_pairs(object.get("same"), "same").map_err(fail)?;
    let different = parse_pairs(object.get("different"), "different").map_err(fail)?;
    let mut expected_hashes = BTreeMap::new();
    if let Some(expected) = object.get("expected_hashes") {
        let expected = expected
            .as_object()
            .ok_or_else(|| fail("`expected_hashes` must map event names to hash lists".into()))?;
        for (name, hashes) in expected {
            let hashes = hashes
                .as_array()
                .and_then(|list| {
                    list.iter()
                        .map(|h| h.as_str().map(str::to_string))
                        .collect::<Option<BTreeSet<_>>>()
                })
                .ok_or_else(|| {
                    fail(format!(
                        "`expected_hashes.{name}` must be a list of strings"
                    ))
                })?;
            expected_hashes.insert(name.clone(), hashes);
        }
    }
    let known: BTreeSet<&str> = raw_events.keys().map(String::as_str).collect();
    let mut used = BTreeSet::new();
    for (x, y) in same.iter().chain(&different) {
        for name in [x, y] {
            if !known.contains(name.as_str()) {
                return Err(fail(format!("a pair names unknown event `{name}`")));
            }
            used.insert(name.as_str());
        }
        if x == y {
            return Err(fail(format!(
                "the pair [{x}, {y}] relates an event to itself"
            )));
        }
    }
    for name in expected_hashes.keys() {
        if !known.contains(name.as_str()) {
            return Err(fail(format!(
                "`expected_hashes` names unknown event `{name}`"
            )));
        }
        used.insert(name.as_str());
    }
    if let Some(unused) = known.difference(&used).next() {
        return Err(fail(format!("event `{unused}` is in no relation")));
    }
    if same.is_empty() && different.is_empty() && expected_hashes.is_empty() {
        return Err(fail("the case relates nothing".into()));
    }
    Ok(Case {
        file,
        platform,
        events,
        same,
        different,
        expected_hashes,
    })
}

/// Loads the whole corpus; any unreadable or invalid file fails the test,
/// all of them listed.
fn load_corpus() -> Vec<Case> {
    let root = corpus_dir();
    let files = json_files(&root);
    assert!(
        !files.is_empty(),
        "no fixture files under {}",
        root.display()
    );
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for path in &files {
        match load_case(&root, path) {
            Ok(case) => cases.push(case),
            Err(error) => errors.push(error),
        }
    }
    assert!(
        errors.is_empty(),
        "{} invalid fixture file(s):\n{}",
        errors.len(),
        errors.join("\n")
    );
    cases
}

fn shared(a: &Grouping, b: &Grouping) -> Vec<String> {
    let theirs: BTreeSet<String> = b.hashes().into_iter().collect();
    a.hashes()
        .into_iter()
        .filter(|h| theirs.contains(h))
        .collect()
}

fn describe(name: &str, grouping: &Grouping) -> String {
    let tree = serde_json::to_string(grouping)
        .unwrap_or_else(|e| format!("<grouping does not serialize: {e}>"));
    format!(
        "      {name}: hashes {:?}\n      {name}: grouping {tree}\n",
        grouping.hashes()
    )
}

#[test]
fn fixture_relations_hold() {
    let fingerprinter = Fingerprinter::default();
    let cases = load_corpus();
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for case in &cases {
        let groupings: BTreeMap<&str, Grouping> = case
            .events
            .iter()
            .map(|e| (e.name.as_str(), fingerprinter.fingerprint(&e.event)))
            .collect();
        let relations = case
            .same
            .iter()
            .map(|pair| (pair, true))
            .chain(case.different.iter().map(|pair| (pair, false)));
        for ((x, y), expect_same) in relations {
            checked += 1;
            let (gx, gy) = (&groupings[x.as_str()], &groupings[y.as_str()]);
            let common = shared(gx, gy);
            let mut problem = String::new();
            if expect_same && common.is_empty() {
                problem.push_str("expected SAME issue, but the events share no hash");
            } else if !expect_same && !common.is_empty() {
                let _ = write!(
                    problem,
                    "expected DIFFERENT issues, but the events share {common:?}"
                );
            }
            let shares_a_hash = !common.is_empty();
            if gx.same_issue(gy) != shares_a_hash {
                if !problem.is_empty() {
                    problem.push_str("; ");
                }
                let _ = write!(
                    problem,
                    "same_issue() says {} although the shared hashes are {common:?}",
                    gx.same_issue(gy)
                );
            }
            if !problem.is_empty() {
                failures.push(format!(
                    "{} [{x}, {y}]: {problem}\n{}{}",
                    case.file,
                    describe(x, gx),
                    describe(y, gy)
                ));
            }
        }
        for (name, expected) in &case.expected_hashes {
            checked += 1;
            let grouping = &groupings[name.as_str()];
            let actual: BTreeSet<String> = grouping.hashes().into_iter().collect();
            if &actual != expected {
                failures.push(format!(
                    "{} [{name}]: expected exactly the hashes {expected:?}\n{}",
                    case.file,
                    describe(name, grouping)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} grouping expectations failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_is_large_and_covers_every_platform() {
    let cases = load_corpus();
    let total: usize = cases.iter().map(|c| c.events.len()).sum();
    assert!(
        total >= MIN_EVENTS,
        "the corpus has {total} events, fewer than {MIN_EVENTS}"
    );
    let mut per_platform: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &cases {
        *per_platform.entry(case.platform.as_str()).or_default() += case.events.len();
    }
    let thin: Vec<String> = PLATFORMS
        .iter()
        .filter(|p| per_platform.get(**p).copied().unwrap_or(0) < MIN_EVENTS_PER_PLATFORM)
        .map(|p| format!("{p} ({})", per_platform.get(p).copied().unwrap_or(0)))
        .collect();
    assert!(
        thin.is_empty(),
        "platform directories with fewer than {MIN_EVENTS_PER_PLATFORM} events: {thin:?} (all: {per_platform:?})"
    );
}

#[test]
fn fallback_hash_is_md5_of_nothing() {
    let event = parse_event(b"{\"platform\":\"other\"}", &EventLimits::default())
        .expect("an empty event is valid");
    let hashes = Fingerprinter::default().fingerprint(&event).hashes();
    assert_eq!(hashes, vec![FALLBACK_HASH.to_string()]);
}

/// Replaces every `lineno`/`colno` number with `remap(n)`. The map is
/// injective, so frames that were identical (recursion) stay identical and
/// frames that differed still differ.
fn remap_positions(value: &mut Value, remap: &dyn Fn(u64) -> u64) -> usize {
    match value {
        Value::Object(map) => {
            let mut changed = 0;
            for (key, child) in map.iter_mut() {
                if key == "lineno" || key == "colno" {
                    if let Some(n) = child.as_u64() {
                        *child = Value::from(remap(n));
                        changed += 1;
                    }
                } else {
                    changed += remap_positions(child, remap);
                }
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .map(|item| remap_positions(item, remap))
            .sum(),
        _ => 0,
    }
}

#[test]
fn line_and_column_numbers_never_change_hashes() {
    let fingerprinter = Fingerprinter::default();
    let remaps: [(&str, &dyn Fn(u64) -> u64); 2] =
        [("n + 1000", &|n| n + 1000), ("7n + 3", &|n| n * 7 + 3)];
    let mut failures = Vec::new();
    let mut remapped_numbers = 0usize;
    for case in load_corpus() {
        for fixture in &case.events {
            let before = fingerprinter.fingerprint(&fixture.event).hashes();
            for (label, remap) in &remaps {
                let mut raw = fixture.raw.clone();
                remapped_numbers += remap_positions(&mut raw, *remap);
                let text = serde_json::to_vec(&raw).expect("a JSON value serializes");
                let event = parse_event(&text, &EventLimits::default())
                    .expect("remapping line numbers keeps the event valid");
                let after = fingerprinter.fingerprint(&event);
                if after.hashes() != before {
                    failures.push(format!(
                        "{} [{}] with lines/columns mapped to {label}: hashes {before:?} became {:?}\n{}",
                        case.file,
                        fixture.name,
                        after.hashes(),
                        describe(&fixture.name, &after)
                    ));
                }
            }
        }
    }
    assert!(
        remapped_numbers > 0,
        "the corpus has no line numbers to remap"
    );
    assert!(
        failures.is_empty(),
        "{} event(s) changed hash when only line/column numbers changed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// For fixture authors: `cargo test --test grouping_fixtures -- --ignored
/// --nocapture dump_corpus_hashes` prints every event's hashes and variants.
#[test]
#[ignore = "diagnostic output, not a check"]
fn dump_corpus_hashes() {
    let fingerprinter = Fingerprinter::default();
    for case in load_corpus() {
        println!("{}", case.file);
        for fixture in &case.events {
            let grouping = fingerprinter.fingerprint(&fixture.event);
            println!("  {}: {:?}", fixture.name, grouping.hashes());
            if std::env::var_os("DUMP_TREES").is_some() {
                println!("{}", describe(&fixture.name, &grouping));
            }
        }
    }
}
