//! Behaviour of the fingerprinter's variant logic, independent of the
//! per-platform normalization (which has its own tables).

use serde_json::{Value, json};
use stackherd::event::{Event, EventLimits, event_from_value};
use stackherd::fingerprint::{FALLBACK_HASH, Fingerprinter, Grouping, hash_values};

fn event(value: Value) -> Event {
    event_from_value(value, &EventLimits::default()).expect("test event is valid")
}

fn grouping(value: Value) -> Grouping {
    Fingerprinter::default().fingerprint(&event(value))
}

fn python_frame(function: &str, in_app: bool) -> Value {
    json!({"module": format!("app.{function}"), "function": function, "in_app": in_app,
           "context_line": format!("{function}()"), "lineno": 10})
}

fn python_exception(ty: &str, value: &str, frames: &[Value]) -> Value {
    json!({"platform": "python", "exception": {"values": [
        {"type": ty, "value": value, "stacktrace": {"frames": frames}}]}})
}

#[test]
fn app_and_system_variants_differ_when_system_frames_exist() {
    let g = grouping(python_exception(
        "KeyError",
        "'id'",
        &[python_frame("lib_call", false), python_frame("view", true)],
    ));
    let app = g
        .variant("app")
        .and_then(|v| v.hash.clone())
        .expect("app hash");
    let system = g
        .variant("system")
        .and_then(|v| v.hash.clone())
        .expect("system hash");
    assert_ne!(app, system);
    assert_eq!(g.hashes(), vec![app.clone(), system]);
    assert_eq!(g.primary_hash(), app);
}

#[test]
fn identical_app_and_system_hashes_are_kept_once() {
    let g = grouping(python_exception(
        "KeyError",
        "'id'",
        &[python_frame("view", true)],
    ));
    assert_eq!(g.hashes().len(), 1);
}

#[test]
fn no_in_app_frames_groups_on_system_stacktrace_not_message() {
    let frames = vec![python_frame("lib_a", false), python_frame("lib_b", false)];
    let mut value = python_exception("KeyError", "'id'", &frames);
    value["message"] = json!("a message that must not decide grouping");
    let g = grouping(value);
    assert!(g.variant("app").expect("app variant").hash.is_none());
    let system = g.variant("system").expect("system variant");
    let component = system.component.as_ref().expect("tree");
    let leaves = component.contributing_leaves();
    assert!(
        leaves.contains(&"lib_a") && leaves.contains(&"KeyError"),
        "{leaves:?}"
    );
    assert!(!leaves.iter().any(|l| l.contains("must not decide")));
}

#[test]
fn value_contributes_only_without_a_stacktrace() {
    let with_frames = grouping(python_exception("E", "one", &[python_frame("f", true)]));
    let other_value = grouping(python_exception("E", "two", &[python_frame("f", true)]));
    assert!(with_frames.same_issue(&other_value));
    let bare_one = grouping(json!({"exception": {"values": [{"type": "E", "value": "one"}]}}));
    let bare_two = grouping(json!({"exception": {"values": [{"type": "E", "value": "two"}]}}));
    assert!(!bare_one.same_issue(&bare_two));
    assert_eq!(bare_one.primary_hash(), hash_values(["E", "one"]));
}

#[test]
fn synthetic_mechanism_ignores_the_type() {
    let with_type = |ty: &str| {
        grouping(json!({"platform": "native", "exception": {"values": [{
            "type": ty, "mechanism": {"type": "signalhandler", "synthetic": true},
            "stacktrace": {"frames": [{"function": "crash_here", "in_app": true}]}}]}}))
    };
    assert!(with_type("SIGSEGV").same_issue(&with_type("EXC_BAD_ACCESS")));
}

#[test]
fn exception_precedes_threads_stacktrace_and_message() {
    let g = grouping(json!({
        "platform": "python",
        "message": "hello 123",
        "exception": {"values": [{"type": "E", "stacktrace": {"frames": [python_frame("f", true)]}}]},
        "stacktrace": {"frames": [python_frame("other", true)]}
    }));
    let tree = g
        .variant("system")
        .and_then(|v| v.component.as_ref())
        .expect("tree");
    let stacktrace = tree
        .child("stacktrace")
        .expect("top-level stacktrace recorded");
    assert!(!stacktrace.contributes);
    assert!(
        stacktrace
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("exception takes precedence")
    );
    let message = tree.child("message").expect("message recorded");
    assert!(!message.contributes);
}

#[test]
fn crashed_thread_is_used() {
    let threads = |crashed_fn: &str| {
        grouping(json!({"platform": "native", "threads": {"values": [
            {"id": 1, "crashed": false, "stacktrace": {"frames": [{"function": "idle", "in_app": true}]}},
            {"id": 2, "crashed": true, "stacktrace": {"frames": [{"function": crashed_fn, "in_app": true}]}}
        ]}}))
    };
    assert!(threads("boom").same_issue(&threads("boom")));
    assert!(!threads("boom").same_issue(&threads("bang")));
}

#[test]
fn message_events_use_the_default_variant_and_parameters_do_not_split() {
    let a = grouping(json!({"logentry": {"formatted": "Order 1234 failed"}}));
    assert_eq!(a.variants[0].name, "default");
    assert!(a.variant("default").and_then(|v| v.hash.as_ref()).is_some());
}

#[test]
fn nothing_contributing_falls_back_to_md5_of_nothing() {
    let g = grouping(json!({"platform": "python"}));
    assert_eq!(g.hashes(), vec![FALLBACK_HASH.to_string()]);
    assert_eq!(g.variants.last().map(|v| v.name.as_str()), Some("fallback"));
}

#[test]
fn custom_fingerprint_replaces_the_default_hash() {
    let mut a = python_exception("KeyError", "x", &[python_frame("f", true)]);
    let mut b = python_exception("ValueError", "y", &[python_frame("g", true)]);
    a["fingerprint"] = json!(["payment-failed"]);
    b["fingerprint"] = json!(["payment-failed"]);
    let (ga, gb) = (grouping(a), grouping(b));
    assert!(ga.same_issue(&gb));
    assert_eq!(ga.hashes(), vec![hash_values(["payment-failed"])]);
}

#[test]
fn hybrid_fingerprint_splits_by_extra_values() {
    let with_region = |region: &str| {
        let mut value = python_exception("KeyError", "x", &[python_frame("f", true)]);
        value["fingerprint"] = json!(["{{ default }}", "{{ tags.region }}"]);
        value["tags"] = json!({"region": region});
        grouping(value)
    };
    let plain = grouping(python_exception(
        "KeyError",
        "x",
        &[python_frame("f", true)],
    ));
    assert!(with_region("eu").same_issue(&with_region("eu")));
    assert!(!with_region("eu").same_issue(&with_region("us")));
    assert!(!with_region("eu").same_issue(&plain));
}

#[test]
fn exception_group_with_one_distinct_leaf_groups_like_the_leaf() {
    let leaf = |id: u64| {
        json!({"type": "ValueError", "value": "bad",
               "mechanism": {"type": "chained", "exception_id": id, "parent_id": 0},
               "stacktrace": {"frames": [python_frame("work", true)]}})
    };
    let group = json!({"platform": "python", "exception": {"values": [
        {"type": "ExceptionGroup", "value": "2 errors",
         "mechanism": {"type": "generic", "exception_id": 0, "is_exception_group": true},
         "stacktrace": {"frames": [python_frame("main", true)]}},
        leaf(1), leaf(2)]}});
    let plain = json!({"platform": "python", "exception": {"values": [
        {"type": "ValueError", "value": "bad", "stacktrace": {"frames": [python_frame("work", true)]}}]}});
    assert!(grouping(group).same_issue(&grouping(plain)));
}

#[test]
fn malformed_exception_group_uses_the_full_list() {
    let malformed = json!({"platform": "python", "exception": {"values": [
        {"type": "ExceptionGroup", "mechanism": {"exception_id": 0, "is_exception_group": true},
         "stacktrace": {"frames": [python_frame("main", true)]}},
        {"type": "ValueError", "mechanism": {"exception_id": 1, "parent_id": 7},
         "stacktrace": {"frames": [python_frame("work", true)]}}]}});
    let g = grouping(malformed);
    let tree = g
        .variant("system")
        .and_then(|v| v.component.as_ref())
        .expect("tree");
    let leaves = tree.contributing_leaves();
    assert!(
        leaves.contains(&"ExceptionGroup") && leaves.contains(&"ValueError"),
        "{leaves:?}"
    );
}

#[test]
fn chained_exceptions_all_contribute_in_order() {
    let chain = |cause: &str| {
        grouping(json!({"platform": "python", "exception": {"values": [
            {"type": cause, "stacktrace": {"frames": [python_frame("db", true)]}},
            {"type": "ServiceError", "stacktrace": {"frames": [python_frame("view", true)]}}]}}))
    };
    assert!(!chain("TimeoutError").same_issue(&chain("PermissionError")));
}

#[test]
fn recursion_frames_do_not_contribute() {
    let depth = |n: usize| {
        let mut frames = vec![python_frame("main", true)];
        frames.extend(std::iter::repeat_n(python_frame("walk", true), n));
        grouping(python_exception("RecursionError", "too deep", &frames))
    };
    assert!(depth(3).same_issue(&depth(40)));
}

#[test]
fn project_rules_change_grouping_and_report_line_and_column() {
    let rules = "stack.module:app.noise -group\nerror.type:KeyError -> lookup-failed";
    let fingerprinter = Fingerprinter::from_rules_text(rules).expect("rules parse");
    let event = event(python_exception(
        "KeyError",
        "x",
        &[python_frame("f", true)],
    ));
    let g = fingerprinter.fingerprint(&event);
    assert_eq!(g.hashes(), vec![hash_values(["lookup-failed"])]);

    let error = Fingerprinter::from_rules_text("stack.module:a +app\nnonsense:x +app")
        .expect_err("unknown matcher");
    assert_eq!(error.line, 2);
}
