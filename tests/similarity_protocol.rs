//! The similarity API's protocol layer: request defaults and validation as
//! SEER_API.md states them, body parsing errors, and request signatures.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use stackherd::similarity::{
    DeleteByHashRequest, ErrorBody, GroupingRecordsRequest, GroupingRecordsResponse, RequestError,
    RequestLimits, SignatureConfigError, SignatureError, SignatureVerifier, SimilarIssue,
    SimilarIssuesRequest, SimilarIssuesResponse, SuccessResponse, parse_request, sign,
};

const DEPTH: usize = 64;
const HASH: &str = "0123456789abcdef0123456789abcdef";

fn similar(body: &str) -> Result<SimilarIssuesRequest, RequestError> {
    parse_request(body.as_bytes(), DEPTH)
}

fn minimal() -> serde_json::Value {
    serde_json::json!({"project_id": 1, "stacktrace": "KeyError: 'x'", "hash": HASH})
}

/// The field named by a validation or parse error.
fn field_of(result: Result<(), RequestError>) -> String {
    match result {
        Err(RequestError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid-field error, got {other:?}"),
    }
}

/// Parses `minimal()` with `key` set to `value`, then validates.
fn similar_with(key: &str, value: serde_json::Value) -> Result<(), RequestError> {
    let mut body = minimal();
    body[key] = value;
    let request: SimilarIssuesRequest = parse_request(body.to_string().as_bytes(), DEPTH)?;
    request.validate(&RequestLimits::default())
}

// ---- defaults and unknown fields ------------------------------------------

#[test]
fn defaults_match_seer_api() {
    let request = similar(&minimal().to_string()).unwrap();
    assert_eq!(request.project_id, 1);
    assert_eq!(request.hash, HASH);
    assert_eq!(request.exception_type, None);
    assert_eq!(request.k, 1);
    assert!((request.threshold - 0.01).abs() < f32::EPSILON);
    assert!(!request.read_only);
    assert!(!request.use_reranking);
    assert_eq!(request.hnsw_candidates, 100);
    assert!((request.hnsw_distance - 0.05).abs() < f32::EPSILON);
    assert_eq!(request.model, None);
    assert_eq!(request.model_or("v1"), "v1");
    assert!(!request.training_mode);
    assert!(!request.skip_fallback);
    assert_eq!(request.event_id, None);
    assert_eq!(request.referrer, None);
    request.validate(&RequestLimits::default()).unwrap();
}

#[test]
fn model_default_is_the_callers() {
    let request = similar(&minimal().to_string()).unwrap();
    assert_eq!(request.model_or("v2.1"), "v2.1");
    let mut body = minimal();
    body["model"] = "v2".into();
    let request = similar(&body.to_string()).unwrap();
    assert_eq!(request.model_or("v1"), "v2");
}

#[test]
fn sentrys_ingest_call_parses_with_every_field() {
    let body = r#"{"project_id": 7, "stacktrace": "ValueError: bad\n  File \"a.py\", function f",
        "hash": "ffffffffffffffffffffffffffffffff", "exception_type": "ValueError",
        "k": 1, "threshold": 0.01, "read_only": false, "referrer": "ingest",
        "use_reranking": true, "model": "v2", "training_mode": false,
        "event_id": "abc", "skip_fallback": true, "hnsw_candidates": 50, "hnsw_distance": 0.1}"#;
    let request = similar(body).unwrap();
    assert_eq!(request.exception_type.as_deref(), Some("ValueError"));
    assert_eq!(request.referrer.as_deref(), Some("ingest"));
    assert!(request.use_reranking && request.skip_fallback);
    assert_eq!(request.hnsw_candidates, 50);
    assert_eq!(request.model_or("v1"), "v2");
    request.validate(&RequestLimits::default()).unwrap();
}

#[test]
fn unknown_fields_are_ignored() {
    let mut body = minimal();
    body["added_in_a_later_sentry"] = serde_json::json!({"nested": [1, 2, 3]});
    body["another"] = "x".into();
    similar(&body.to_string()).unwrap();
    let records = r#"{"data": [{"group_id": 1, "hash": "aa", "project_id": 2, "extra": true}],
        "stacktrace_list": ["E: x"], "new_knob": 3}"#;
    let request: GroupingRecordsRequest = parse_request(records.as_bytes(), DEPTH).unwrap();
    assert_eq!(request.data[0].group_id, 1);
    let delete = r#"{"project_id": 3, "hash_list": ["aa"], "reason": "retention"}"#;
    let request: DeleteByHashRequest = parse_request(delete.as_bytes(), DEPTH).unwrap();
    assert_eq!(request.hash_list, vec!["aa"]);
}

#[test]
fn null_optional_fields_are_absent() {
    let mut body = minimal();
    for key in ["exception_type", "model", "event_id", "referrer"] {
        body[key] = serde_json::Value::Null;
    }
    let request = similar(&body.to_string()).unwrap();
    assert_eq!(request.model_or("v1"), "v1");
    assert_eq!(request.exception_type, None);
}

#[test]
fn grouping_record_defaults_and_list_mismatch() {
    let body = r#"{"data": [{"group_id": 5, "hash": "aa", "project_id": 2},
        {"group_id": 6, "hash": "bb", "project_id": 2, "exception_type": "E"}],
        "stacktrace_list": ["E: x"]}"#;
    let request: GroupingRecordsRequest = parse_request(body.as_bytes(), DEPTH).unwrap();
    assert_eq!(request.k, 1);
    assert!((request.threshold - 0.01).abs() < f32::EPSILON);
    assert_eq!(request.encode_stacktrace_batch_size, 1);
    assert!(!request.use_reranking);
    assert_eq!(request.hnsw_candidates, 100);
    assert!((request.hnsw_distance - 0.05).abs() < f32::EPSILON);
    assert_eq!(request.model_or("v1"), "v1");
    assert_eq!(request.data[1].exception_type.as_deref(), Some("E"));
    // A length mismatch is answered with success=false, not rejected.
    assert!(!request.lists_match());
    request.validate(&RequestLimits::default()).unwrap();
    let answer = serde_json::to_value(GroupingRecordsResponse::mismatched_lists()).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"success": false, "groups_with_neighbor": {}})
    );
}

// ---- validation -----------------------------------------------------------

#[test]
fn each_similar_issues_error_names_its_field() {
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("stacktrace", "".into()),
        ("stacktrace", "  \n ".into()),
        ("stacktrace", "x".repeat(128 * 1024 + 1).into()),
        ("hash", "".into()),
        ("hash", "a".repeat(65).into()),
        ("hash", "has space".into()),
        ("hash", "tab\there".into()),
        ("hash", "é".into()),
        ("threshold", (-0.1).into()),
        ("threshold", 2.5.into()),
        ("threshold", serde_json::from_str("1e300").unwrap()),
        ("hnsw_distance", (-1.0).into()),
        ("hnsw_distance", serde_json::from_str("1e300").unwrap()),
        ("k", 1001.into()),
        ("hnsw_candidates", 10_001.into()),
        ("model", "".into()),
        ("model", "v\n1".into()),
        ("model", "v".repeat(65).into()),
        ("exception_type", "E".repeat(1025).into()),
    ];
    for (key, value) in cases {
        let shown = value.to_string().chars().take(40).collect::<String>();
        assert_eq!(field_of(similar_with(key, value)), key, "{key} = {shown}");
    }
}

#[test]
fn boundary_values_are_accepted() {
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("k", 0.into()),
        ("k", 1000.into()),
        ("threshold", 0.into()),
        ("threshold", 2.into()),
        ("hnsw_distance", 0.into()),
        ("hnsw_candidates", 0.into()),
        ("hnsw_candidates", 10_000.into()),
        ("hash", "a".repeat(64).into()),
        ("hash", "Project-1:fingerprint/x".into()),
        ("stacktrace", "x".repeat(128 * 1024).into()),
        ("model", "v2.1".into()),
    ];
    for (key, value) in cases {
        similar_with(key, value).unwrap();
    }
}

#[test]
fn missing_required_fields_are_named() {
    for key in ["project_id", "stacktrace", "hash"] {
        let mut body = minimal();
        body.as_object_mut().unwrap().remove(key);
        let error = similar(&body.to_string()).unwrap_err();
        assert_eq!(error.field(), Some(key), "{error}");
        assert!(error.to_string().contains("missing"), "{error}");
    }
    let error = parse_request::<GroupingRecordsRequest>(
        br#"{"data": [{"group_id": 1, "project_id": 2}], "stacktrace_list": []}"#,
        DEPTH,
    )
    .unwrap_err();
    assert_eq!(error.field(), Some("data[0].hash"), "{error}");
}

#[test]
fn grouping_record_errors_name_the_row() {
    let limits = RequestLimits::default();
    let parse = |body: &str| parse_request::<GroupingRecordsRequest>(body.as_bytes(), DEPTH);
    let bad_hash = parse(
        r#"{"data": [{"group_id": 1, "hash": "aa", "project_id": 2},
        {"group_id": 2, "hash": "", "project_id": 2}], "stacktrace_list": ["a", "b"]}"#,
    )
    .unwrap();
    assert_eq!(field_of(bad_hash.validate(&limits)), "data[1].hash");
    let bad_text = parse(
        r#"{"data": [{"group_id": 1, "hash": "aa", "project_id": 2}], "stacktrace_list": [""]}"#,
    )
    .unwrap();
    assert_eq!(field_of(bad_text.validate(&limits)), "stacktrace_list[0]");
    let bad_threshold = parse(r#"{"data": [], "stacktrace_list": [], "threshold": 3}"#).unwrap();
    assert_eq!(field_of(bad_threshold.validate(&limits)), "threshold");
    let small = RequestLimits {
        max_batch_rows: 1,
        ..RequestLimits::default()
    };
    let too_many = parse(r#"{"data": [], "stacktrace_list": ["a", "b"]}"#).unwrap();
    assert_eq!(field_of(too_many.validate(&small)), "stacktrace_list");
}

#[test]
fn delete_by_hash_errors_name_the_entry() {
    let limits = RequestLimits::default();
    let request = DeleteByHashRequest {
        project_id: 1,
        hash_list: vec!["aa".into(), "bad hash".into()],
    };
    assert_eq!(field_of(request.validate(&limits)), "hash_list[1]");
    let request = DeleteByHashRequest {
        project_id: 1,
        hash_list: vec!["aa".into(); 1001],
    };
    assert_eq!(field_of(request.validate(&limits)), "hash_list");
    let request = DeleteByHashRequest {
        project_id: 1,
        hash_list: vec!["aa".into(); 1000],
    };
    request.validate(&limits).unwrap();
    let empty = DeleteByHashRequest {
        project_id: 1,
        hash_list: Vec::new(),
    };
    empty.validate(&limits).unwrap();
}

// ---- body parsing ---------------------------------------------------------

#[test]
fn non_object_bodies_are_rejected() {
    for body in ["[]", "[1, 2]", "\"text\"", "42", "null", "true", "", "   "] {
        let error = similar(body).unwrap_err();
        assert_eq!(error, RequestError::NotAnObject, "{body:?}");
        assert_eq!(error.to_string(), "body must be a JSON object");
    }
}

#[test]
fn malformed_json_is_a_syntax_error() {
    for body in [
        "{",
        "{\"project_id\": 1,}",
        r#"{"project_id": 1, "stacktrace": "x", "hash": "aa"} trailing"#,
        "nope",
    ] {
        assert!(
            matches!(similar(body), Err(RequestError::Syntax { .. })),
            "{body:?}: {:?}",
            similar(body)
        );
    }
}

#[test]
fn invalid_utf8_is_rejected_with_its_offset() {
    let mut body = br#"{"project_id": 1, "stacktrace": ""#.to_vec();
    let offset = body.len();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#"", "hash": "aa"}"#);
    let error = parse_request::<SimilarIssuesRequest>(&body, DEPTH).unwrap_err();
    assert_eq!(error, RequestError::InvalidUtf8 { offset });
}

#[test]
fn deep_nesting_is_rejected_before_parsing() {
    let deep = format!(
        r#"{{"project_id": 1, "stacktrace": "x", "hash": "aa", "extra": {}{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_eq!(
        similar(&deep).unwrap_err(),
        RequestError::TooDeep { limit: DEPTH }
    );
    // Brackets inside strings do not count.
    let in_string = format!(
        r#"{{"project_id": 1, "stacktrace": "{}", "hash": "aa"}}"#,
        "[".repeat(100)
    );
    similar(&in_string).unwrap();
}

#[test]
fn wrong_types_show_the_path() {
    let cases = [
        (
            r#"{"project_id": "one", "stacktrace": "x", "hash": "aa"}"#,
            "project_id",
        ),
        (
            r#"{"project_id": -1, "stacktrace": "x", "hash": "aa"}"#,
            "project_id",
        ),
        (
            r#"{"project_id": 1, "stacktrace": 5, "hash": "aa"}"#,
            "stacktrace",
        ),
        (
            r#"{"project_id": 1, "stacktrace": "x", "hash": "aa", "k": -1}"#,
            "k",
        ),
        (
            r#"{"project_id": 1, "stacktrace": "x", "hash": "aa", "k": 1.5}"#,
            "k",
        ),
        (
            r#"{"project_id": 1, "stacktrace": "x", "hash": "aa", "read_only": "yes"}"#,
            "read_only",
        ),
        (
            r#"{"project_id": 1, "stacktrace": "x", "hash": "aa", "threshold": "0.1"}"#,
            "threshold",
        ),
    ];
    for (body, field) in cases {
        let error = similar(body).unwrap_err();
        assert_eq!(error.field(), Some(field), "{body}: {error}");
    }
    let nested = parse_request::<GroupingRecordsRequest>(
        br#"{"data": [{"group_id": 1, "hash": "a", "project_id": 1},
            {"group_id": "2", "hash": "b", "project_id": 1}], "stacktrace_list": ["a", "b"]}"#,
        DEPTH,
    )
    .unwrap_err();
    assert_eq!(nested.field(), Some("data[1].group_id"), "{nested}");
    let list =
        parse_request::<DeleteByHashRequest>(br#"{"project_id": 1, "hash_list": ["a", 2]}"#, DEPTH)
            .unwrap_err();
    assert_eq!(list.field(), Some("hash_list[1]"), "{list}");
}

#[test]
fn error_body_carries_the_field() {
    let error =
        similar(r#"{"project_id": 1, "stacktrace": "x", "hash": "aa", "k": -1}"#).unwrap_err();
    let body = serde_json::to_value(ErrorBody::from(&error)).unwrap();
    assert_eq!(body["field"], "k");
    assert!(body["error"].as_str().unwrap().contains("`k`"));
    let plain = serde_json::to_value(ErrorBody::from(&RequestError::NotAnObject)).unwrap();
    assert_eq!(
        plain,
        serde_json::json!({"error": "body must be a JSON object"})
    );
}

// ---- responses ------------------------------------------------------------

#[test]
fn responses_serialize_as_seer_api_shows() {
    let answer = SimilarIssuesResponse {
        responses: vec![SimilarIssue {
            parent_hash: "p".into(),
            stacktrace_distance: 0.0031,
            should_group: true,
        }],
        model_used: Some("v2".into()),
    };
    assert_eq!(
        serde_json::to_string(&answer).unwrap(),
        r#"{"responses":[{"parent_hash":"p","stacktrace_distance":0.0031,"should_group":true}],"model_used":"v2"}"#
    );
    let empty = SimilarIssuesResponse {
        responses: Vec::new(),
        model_used: None,
    };
    assert_eq!(
        serde_json::to_string(&empty).unwrap(),
        r#"{"responses":[]}"#
    );
    let back: SimilarIssuesResponse = serde_json::from_str(r#"{"responses":[]}"#).unwrap();
    assert_eq!(back, empty);
    let records = GroupingRecordsResponse {
        success: true,
        groups_with_neighbor: [(
            "12".to_string(),
            SimilarIssue {
                parent_hash: "p".into(),
                stacktrace_distance: 0.5,
                should_group: true,
            },
        )]
        .into(),
    };
    assert_eq!(
        serde_json::to_value(&records).unwrap(),
        serde_json::json!({"success": true, "groups_with_neighbor": {"12":
            {"parent_hash": "p", "stacktrace_distance": 0.5, "should_group": true}}})
    );
    assert_eq!(
        serde_json::to_string(&SuccessResponse { success: true }).unwrap(),
        r#"{"success":true}"#
    );
}

// ---- signatures -----------------------------------------------------------

const BODY: &[u8] = br#"{"project_id": 1, "stacktrace": "x", "hash": "aa"}"#;

#[test]
fn any_configured_secret_verifies() {
    let verifier = SignatureVerifier::new(&["old-secret", "new-secret"], true).unwrap();
    for secret in ["old-secret", "new-secret"] {
        let header = sign(secret.as_bytes(), BODY);
        verifier.verify(Some(&header), BODY).unwrap();
    }
}

#[test]
fn signature_header_has_the_documented_shape() {
    let header = sign(b"secret", BODY);
    let hex = header.strip_prefix("Rpcsignature rpc0:").unwrap();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
}

#[test]
fn wrong_secret_or_changed_body_is_a_mismatch() {
    let verifier = SignatureVerifier::new(&["right"], false).unwrap();
    let wrong = sign(b"wrong", BODY);
    assert_eq!(
        verifier.verify(Some(&wrong), BODY),
        Err(SignatureError::Mismatch)
    );
    let right = sign(b"right", BODY);
    assert_eq!(
        verifier.verify(Some(&right), b"{\"project_id\": 2}"),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn header_variants_are_tolerated_where_harmless() {
    let verifier = SignatureVerifier::new(&["s"], true).unwrap();
    let header = sign(b"s", BODY);
    let hex = header.strip_prefix("Rpcsignature rpc0:").unwrap();
    for variant in [
        format!("rpcsignature rpc0:{hex}"),
        format!("RPCSIGNATURE  rpc0:{hex}"),
        format!("  Rpcsignature rpc0:{}  ", hex.to_ascii_uppercase()),
    ] {
        verifier.verify(Some(&variant), BODY).unwrap();
    }
}

#[test]
fn malformed_headers_say_what_is_wrong() {
    let verifier = SignatureVerifier::new(&["s"], false).unwrap();
    let header = sign(b"s", BODY);
    let hex = header.strip_prefix("Rpcsignature rpc0:").unwrap();
    let cases = [
        (String::new(), "empty"),
        ("   ".to_string(), "empty"),
        (format!("Bearer rpc0:{hex}"), "scheme"),
        (format!("Rpcsignature{hex}"), "scheme"),
        ("Rpcsignature".to_string(), "prefix"),
        (format!("Rpcsignature {hex}"), "prefix"),
        (format!("Rpcsignature rpc1:{hex}"), "version"),
        (format!("Rpcsignature rpc0:{}", &hex[..63]), "64 hex"),
        (format!("Rpcsignature rpc0:{hex}00"), "64 hex"),
        (format!("Rpcsignature rpc0:{}zz", &hex[..62]), "64 hex"),
        ("Rpcsignature rpc0:".to_string(), "64 hex"),
    ];
    for (value, word) in cases {
        match verifier.verify(Some(&value), BODY) {
            Err(error @ SignatureError::Malformed(what)) => {
                assert!(what.contains(word), "{value:?}: {error}");
            }
            other => panic!("{value:?}: expected Malformed, got {other:?}"),
        }
    }
}

#[test]
fn strict_mode_decides_about_a_missing_header() {
    let strict = SignatureVerifier::new(&["s"], true).unwrap();
    assert_eq!(strict.verify(None, BODY), Err(SignatureError::Missing));
    let lenient = SignatureVerifier::new(&["s"], false).unwrap();
    lenient.verify(None, BODY).unwrap();
    // Lenient only forgives absence: a present header must still verify.
    assert_eq!(
        lenient.verify(Some(&sign(b"other", BODY)), BODY),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn no_secrets_accepts_everything_unless_strict() {
    let open = SignatureVerifier::new::<&str>(&[], false).unwrap();
    assert!(!open.has_secrets());
    open.verify(None, BODY).unwrap();
    open.verify(Some("garbage"), BODY).unwrap();
    SignatureVerifier::disabled().verify(None, BODY).unwrap();
    assert_eq!(
        SignatureVerifier::new::<&str>(&[], true).unwrap_err(),
        SignatureConfigError::StrictWithoutSecrets
    );
    assert_eq!(
        SignatureVerifier::new(&["ok", ""], false).unwrap_err(),
        SignatureConfigError::EmptySecret { index: 1 }
    );
}

#[test]
fn empty_body_of_the_get_delete_is_signed_too() {
    let verifier = SignatureVerifier::new(&["s"], true).unwrap();
    let header = sign(b"s", b"");
    verifier.verify(Some(&header), b"").unwrap();
    // HMAC-SHA256("s", "") is fixed; a signature over something else fails.
    assert_eq!(
        verifier.verify(Some(&header), b"{}"),
        Err(SignatureError::Mismatch)
    );
    assert_ne!(header, sign(b"s", b"{}"));
}

#[test]
fn debug_output_hides_secrets() {
    let verifier = SignatureVerifier::new(&["super-secret-value"], true).unwrap();
    let shown = format!("{verifier:?}");
    assert!(!shown.contains("super-secret"), "{shown}");
    assert!(shown.contains("strict: true"), "{shown}");
}

// ---- never panics ---------------------------------------------------------

proptest! {
    #[test]
    fn parse_request_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let limits = RequestLimits::default();
        if let Ok(request) = parse_request::<SimilarIssuesRequest>(&body, DEPTH) {
            let _ = request.validate(&limits);
        }
        if let Ok(request) = parse_request::<GroupingRecordsRequest>(&body, DEPTH) {
            let _ = request.validate(&limits);
        }
        if let Ok(request) = parse_request::<DeleteByHashRequest>(&body, DEPTH) {
            let _ = request.validate(&limits);
        }
    }

    #[test]
    fn parse_request_never_panics_on_jsonish_text(body in r#"[\{\}\[\]":,0-9a-z_ .\-\\e]{0,256}"#) {
        let _ = parse_request::<SimilarIssuesRequest>(body.as_bytes(), 8);
    }

    #[test]
    fn any_field_value_validates_without_panic(
        stacktrace in ".{0,64}", hash in ".{0,80}", k in any::<usize>(),
        threshold in any::<f32>(), distance in any::<f32>(), candidates in any::<usize>(),
    ) {
        let request = SimilarIssuesRequest {
            stacktrace, hash, k, threshold, hnsw_distance: distance, hnsw_candidates: candidates,
            ..similar(&minimal().to_string()).unwrap()
        };
        let _ = request.validate(&RequestLimits::default());
    }

    #[test]
    fn verify_never_panics(header in ".{0,100}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let verifier = SignatureVerifier::new(&["s"], true).unwrap();
        let _ = verifier.verify(Some(&header), &body);
    }

    #[test]
    fn sign_then_verify_round_trips(
        secret in proptest::collection::vec(any::<u8>(), 1..200),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let verifier = SignatureVerifier::new(std::slice::from_ref(&secret), true).unwrap();
        prop_assert!(verifier.verify(Some(&sign(&secret, &body)), &body).is_ok());
    }
}
