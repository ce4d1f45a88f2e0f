//! The `stackherd` binary as a new user meets it.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackherd"));
    // Keep the developer's environment from changing settings under the test.
    for (key, _) in std::env::vars() {
        if key.starts_with("STACKHERD__") {
            command.env_remove(key);
        }
    }
    command
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/cli")
        .join(name)
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = binary()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("stdin accepts the event");
    child.wait_with_output().expect("binary finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn fingerprint_prints_variants_hashes_and_hints() {
    let output = binary()
        .args(["fingerprint"])
        .arg(fixture("python_keyerror.json"))
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("hashes: "), "{stdout}");
    assert!(stdout.contains("variant app: "), "{stdout}");
    assert!(stdout.contains("variant system: "), "{stdout}");
    assert!(stdout.contains("(non app frame)"), "{stdout}");
    assert!(stdout.contains("+ type \"DatabaseError\""), "{stdout}");
}

#[test]
fn fingerprint_reads_stdin_and_prints_json() {
    let event = std::fs::read(fixture("python_keyerror.json")).expect("fixture");
    let output = run_with_stdin(&["fingerprint", "--json", "-"], &event);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let variants = json["variants"].as_array().expect("variants");
    assert_eq!(variants[0]["name"], "app");
    assert_eq!(variants[0]["hash"].as_str().map(str::len), Some(32));
}

#[test]
fn fingerprint_applies_rules_and_reports_rule_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rules.txt");
    std::fs::write(
        &rules,
        "# project rules\nerror.type:DatabaseError -> database-down\n",
    )
    .expect("rules written");
    let output = binary()
        .args(["fingerprint", "--rules"])
        .arg(&rules)
        .arg(fixture("python_keyerror.json"))
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("variant custom-fingerprint"));

    std::fs::write(&rules, "stack.module:app.* +app\nstack.bogus:x -group\n").expect("rules");
    let output = binary()
        .args(["fingerprint", "--rules"])
        .arg(&rules)
        .arg(fixture("python_keyerror.json"))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn text_prints_scrubbed_stacktrace_without_user_data() {
    let output = binary()
        .arg("text")
        .arg(fixture("python_keyerror.json"))
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("DatabaseError: connection refused"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  File \"app/views.py\", function get_user\n"),
        "{stdout}"
    );
    for secret in [
        "jane@example.com",
        "10.1.2.3",
        "hunter2",
        "s3cr3t",
        "session=abc",
    ] {
        assert!(!stdout.contains(secret), "{secret} leaked: {stdout}");
    }
}

#[test]
fn bad_input_fails_with_a_clear_message() {
    let cases: [(&[u8], &str); 5] = [
        (b"{\"exception\": ", "malformed JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{\"platform\": 7}", "`platform`"),
        (b"{\"a\": \"\xff\"}", "UTF-8"),
        (&[b'['; 200], "nests deeper"),
    ];
    for (input, expected) in cases {
        let output = run_with_stdin(&["fingerprint", "-"], input);
        assert!(!output.status.success());
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in {stderr}"
        );
    }
    let output = binary()
        .args(["text", "/no/such/event.json"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("/no/such/event.json"));
}

#[test]
fn text_refuses_events_without_a_stacktrace() {
    let output = run_with_stdin(&["text", "-"], br#"{"platform":"python","message":"hi"}"#);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("no stacktrace text"));
}

#[test]
fn settings_errors_name_the_key() {
    let output = binary()
        .env("STACKHERD__MODELS__V1__THRESHOLD", "-1")
        .args(["text", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("models.v1.threshold"));
}

#[test]
fn oversized_input_is_rejected_by_the_configured_limit() {
    let output = binary()
        .env("STACKHERD__LIMITS__MAX_BODY_BYTES", "100")
        .args(["fingerprint"])
        .arg(fixture("python_keyerror.json"))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("limit of 100 bytes"));
}

#[test]
fn import_turns_a_java_log_trace_into_an_event() {
    let trace = "2024-05-01 12:00:01 ERROR request failed\n\
        java.lang.IllegalStateException: pool exhausted\n\
        \tat com.shop.db.Pool.acquire(Pool.java:88)\n\
        \tat com.shop.orders.OrderService.place(OrderService.java:41)\n\
        \tat java.base/java.lang.Thread.run(Thread.java:833)\n";
    let output = run_with_stdin(&["import", "--compact"], trace.as_bytes());
    assert!(output.status.success(), "{}", text(&output.stderr));
    let event: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON event");
    assert_eq!(event["platform"], "java");
    let exception = &event["exception"]["values"][0];
    assert_eq!(exception["type"], "IllegalStateException");
    let frames = exception["stacktrace"]["frames"]
        .as_array()
        .expect("frames");
    assert_eq!(frames.last().expect("a frame")["function"], "acquire");

    let output = run_with_stdin(&["import", "--format", "go"], trace.as_bytes());
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("go"),
        "{}",
        text(&output.stderr)
    );
}

/// `dataset synth` → `eval --json` on the real default model: both modes
/// report every documented key.
#[test]
fn synth_then_eval_reports_both_modes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dataset = dir.path().join("synth.jsonl");
    let output = binary()
        .args([
            "dataset",
            "synth",
            "--projects",
            "2",
            "--issues-per-project",
            "4",
        ])
        .args(["--events-per-issue", "3", "--output"])
        .arg(&dataset)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let model = stackherd::embed::provision::default_test_model_dir().expect("test model");
    let output = binary()
        .env(
            "STACKHERD__MODELS__V1__SOURCE",
            format!("dir:{}", model.display()),
        )
        .args(["eval", "--json", "--plot"])
        .arg(dir.path().join("pr.svg"))
        .arg(&dataset)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    for mode in ["fingerprint_only", "with_ai"] {
        for key in [
            "events",
            "issues_true",
            "issues_predicted",
            "merge_rate",
            "merge_precision",
            "pair_precision",
            "pair_recall",
            "bcubed_precision",
            "bcubed_recall",
            "bcubed_f1",
            "auc",
        ] {
            assert!(
                report[mode].get(key).is_some(),
                "{mode}.{key} missing: {report}"
            );
        }
        assert_eq!(report[mode]["events"], report["with_ai"]["events"]);
    }
    assert!(
        std::fs::read_to_string(dir.path().join("pr.svg"))
            .expect("plot")
            .contains("<svg")
    );
}
