//! The HTTP service in process (`actix_web::test`), on one node with the
//! real default model: the similarity API's contract (SEER_API.md),
//! signatures, Sentry SDK ingestion, the native API, health, metrics, rate
//! limits, and every kind of bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use serde_json::{Value, json};
use stackherd::settings::Settings;
use stackherd::similarity::sign;
use stackherd_actors::Node;
use stackherd_actors::http::{self, AppState};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// One node for the whole binary (loading the model once); every test
/// uses its own project ids.
fn node() -> Arc<Node> {
    static NODE: OnceLock<Arc<Node>> = OnceLock::new();
    NODE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("http-api-node")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        Arc::new(Node::start(support::settings(&dir)).unwrap())
    })
    .clone()
}

/// HTTP settings on a fresh data directory (for the DSN key file), changed by `edit`.
fn http_settings(edit: impl FnOnce(&mut Settings)) -> Settings {
    let dir = tempfile::Builder::new()
        .prefix("http-api-state")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
        .keep();
    let mut settings = support::settings(&dir);
    edit(&mut settings);
    settings.validate().unwrap();
    settings
}

fn state(edit: impl FnOnce(&mut Settings)) -> AppState {
    AppState::with_node(http_settings(edit), node()).unwrap()
}

const LOOPBACK: &str = "127.0.0.1:40000";
const REMOTE: &str = "192.0.2.7:40000";
const SECRET: &str = "first-shared-secret";
const ROTATED: &str = "second-shared-secret";
const ADMIN_TOKEN: &str = "an-admin-token-of-some-length";

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

async fn send<S, B>(app: &S, request: TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let peer: SocketAddr = LOOPBACK.parse().unwrap();
    let response = test::call_service(app, request.peer_addr(peer).to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

fn post_json(path: &str, body: &Value) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/json;charset=utf-8"))
        .set_payload(body.to_string())
}

fn signed(path: &str, body: &Value, secret: &str) -> TestRequest {
    let bytes = body.to_string();
    post_json(path, body)
        .insert_header(("authorization", sign(secret.as_bytes(), bytes.as_bytes())))
}

/// A Python stacktrace text in SEER_API.md's format.
fn stacktrace(error: &str, frames: &[(&str, &str, &str)]) -> String {
    let mut text = error.to_string();
    for (file, function, line) in frames {
        text.push_str(&format!(
            "\n  File \"{file}\", function {function}\n    {line}"
        ));
    }
    text
}

fn checkout_text() -> String {
    stacktrace(
        "GatewayError: 402",
        &[
            (
                "shop/web/views.py",
                "checkout",
                "order = services.place_order(cart, user)",
            ),
            (
                "shop/services/orders.py",
                "place_order",
                "payment = billing.charge(order.total, card)",
            ),
            (
                "shop/billing/client.py",
                "post",
                "raise GatewayError(response.status_code)",
            ),
        ],
    )
}

fn export_text() -> String {
    stacktrace(
        "ClientError: NoSuchKey",
        &[
            (
                "reports/tasks.py",
                "nightly_export",
                "rows = exporter.collect(since=yesterday)",
            ),
            (
                "reports/storage/s3.py",
                "read_chunks",
                "body = self.s3.get_object(Bucket=bucket, Key=key)['Body']",
            ),
        ],
    )
}

fn login_text() -> String {
    stacktrace(
        "PermissionDenied: account locked",
        &[
            (
                "auth/views.py",
                "login",
                "user = authenticate(request, form.cleaned_data)",
            ),
            (
                "auth/backends.py",
                "authenticate",
                "raise PermissionDenied('account locked')",
            ),
        ],
    )
}

fn hash(n: u32) -> String {
    format!("{n:032x}")
}

fn similar(project: u64, text: &str, hash: &str) -> Value {
    json!({
        "project_id": project, "stacktrace": text, "hash": hash,
        "k": 1, "threshold": 0.01, "referrer": "ingest", "use_reranking": true,
        "model": "v1", "training_mode": false, "exception_type": "GatewayError",
    })
}

fn has_record(project: u64, hash: &str) -> bool {
    node()
        .store()
        .record("v1", project, hash)
        .unwrap()
        .is_some()
}

const SIMILAR: &str = "/v0/issues/similar-issues";
const RECORDS: &str = "/v0/issues/similar-issues/grouping-record";
const DELETE_BY_HASH: &str = "/v0/issues/similar-issues/grouping-record/delete-by-hash";

#[actix_web::test]
async fn similar_issues_contract() {
    let app = test::init_service(http::app(state(|_| {}))).await;
    let project = 101;

    // No neighbour: nothing returned, the record is inserted.
    let first = send(
        &app,
        post_json(SIMILAR, &similar(project, &checkout_text(), &hash(1))),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["responses"], json!([]));
    assert!(has_record(project, &hash(1)));

    // Has neighbour: the same stacktrace under another hash groups with it,
    // and (being grouped) is not inserted.
    let second = send(
        &app,
        post_json(SIMILAR, &similar(project, &checkout_text(), &hash(2))),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    let responses = second.body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0]["parent_hash"], hash(1));
    assert_eq!(responses[0]["should_group"], true);
    assert!(responses[0]["stacktrace_distance"].as_f64().unwrap() <= 0.01);
    assert_eq!(second.body["model_used"], "v1");
    assert!(!has_record(project, &hash(2)));

    // The request's own hash is never its own neighbour.
    let own = send(
        &app,
        post_json(SIMILAR, &similar(project, &checkout_text(), &hash(1))),
    )
    .await;
    assert_eq!(own.body["responses"], json!([]), "{}", own.text);

    // Read-only: an unrelated text is searched, never inserted.
    let mut read_only = similar(project, &export_text(), &hash(3));
    read_only["read_only"] = json!(true);
    let reply = send(&app, post_json(SIMILAR, &read_only)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["responses"], json!([]));
    assert!(!has_record(project, &hash(3)));

    // Duplicate insert keeps the first: hash 4 is stored with the export
    // text, then sent again with the login text (forced with k=0).
    let reply = send(
        &app,
        post_json(SIMILAR, &similar(project, &export_text(), &hash(4))),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(has_record(project, &hash(4)));
    let mut again = similar(project, &login_text(), &hash(4));
    again["k"] = json!(0);
    let reply = send(&app, post_json(SIMILAR, &again)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["responses"], json!([]), "k=0 returns nothing");
    let mut probe = similar(project, &export_text(), &hash(5));
    probe["read_only"] = json!(true);
    let reply = send(&app, post_json(SIMILAR, &probe)).await;
    assert_eq!(
        reply.body["responses"][0]["parent_hash"],
        hash(4),
        "{}",
        reply.text
    );
    assert!(
        reply.body["responses"][0]["stacktrace_distance"]
            .as_f64()
            .unwrap()
            < 0.001
    );

    // k=0 forces an insert even next to a neighbour.
    let mut forced = similar(project, &checkout_text(), &hash(6));
    forced["k"] = json!(0);
    let reply = send(&app, post_json(SIMILAR, &forced)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(has_record(project, &hash(6)));

    // Cross-project isolation: project 102 sees nothing of 101.
    let other = send(
        &app,
        post_json(SIMILAR, &similar(102, &checkout_text(), &hash(7))),
    )
    .await;
    assert_eq!(other.body["responses"], json!([]), "{}", other.text);

    // Unknown fields are ignored (Sentry adds fields over time).
    let mut extra = similar(project, &checkout_text(), &hash(8));
    extra["some_future_field"] = json!({"nested": [1, 2, 3]});
    extra["read_only"] = json!(true);
    let reply = send(&app, post_json(SIMILAR, &extra)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["responses"][0]["should_group"], true);
}

#[actix_web::test]
async fn grouping_record_contract() {
    let app = test::init_service(http::app(state(|_| {}))).await;
    let project = 111;
    // Valid rows with far-apart texts: all stored, no neighbours.
    let valid = json!({
        "data": [
            {"group_id": 1, "hash": hash(11), "project_id": project, "exception_type": "GatewayError"},
            {"group_id": 2, "hash": hash(12), "project_id": project},
        ],
        "stacktrace_list": [checkout_text(), export_text()],
        "encode_stacktrace_batch_size": 10, "threshold": 0.01, "k": 1,
    });
    let reply = send(&app, post_json(RECORDS, &valid)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({"success": true, "groups_with_neighbor": {}})
    );
    assert!(has_record(project, &hash(11)) && has_record(project, &hash(12)));

    // A row next to an existing record, and a row next to one stored
    // earlier in the same batch, are reported and not stored.
    let neighbours = json!({
        "data": [
            {"group_id": 3, "hash": hash(13), "project_id": project},
            {"group_id": 4, "hash": hash(14), "project_id": project},
            {"group_id": 5, "hash": hash(15), "project_id": project},
        ],
        "stacktrace_list": [checkout_text(), login_text(), login_text()],
    });
    let reply = send(&app, post_json(RECORDS, &neighbours)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["success"], true);
    let groups = reply.body["groups_with_neighbor"].as_object().unwrap();
    assert_eq!(groups.len(), 2, "{}", reply.text);
    assert_eq!(groups["3"]["parent_hash"], hash(11));
    assert_eq!(groups["3"]["should_group"], true);
    assert_eq!(groups["5"]["parent_hash"], hash(14), "in-batch neighbour");
    assert!(
        !has_record(project, &hash(13))
            && has_record(project, &hash(14))
            && !has_record(project, &hash(15))
    );

    // Lists of different lengths: 200 with success false.
    let mismatch = json!({
        "data": [{"group_id": 6, "hash": hash(16), "project_id": project}],
        "stacktrace_list": [],
    });
    let reply = send(&app, post_json(RECORDS, &mismatch)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body,
        json!({"success": false, "groups_with_neighbor": {}})
    );
    assert!(!has_record(project, &hash(16)));
}

#[actix_web::test]
async fn deletion_by_hash_and_by_project() {
    let app = test::init_service(http::app(state(|_| {}))).await;
    let project = 121;
    for (n, text) in [
        (21, checkout_text()),
        (22, export_text()),
        (23, login_text()),
    ] {
        let reply = send(&app, post_json(SIMILAR, &similar(project, &text, &hash(n)))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let reply = send(
        &app,
        post_json(
            DELETE_BY_HASH,
            &json!({"project_id": project, "hash_list": [hash(21), hash(99)]}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body, json!({"success": true}));
    assert!(!has_record(project, &hash(21)) && has_record(project, &hash(22)));
    // The deleted hash no longer answers searches.
    let mut probe = similar(project, &checkout_text(), &hash(24));
    probe["read_only"] = json!(true);
    assert_eq!(
        send(&app, post_json(SIMILAR, &probe)).await.body["responses"],
        json!([])
    );

    let reply = send(
        &app,
        TestRequest::get().uri(&format!(
            "/v0/issues/similar-issues/grouping-record/delete/{project}"
        )),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body, json!({"success": true}));
    assert!(
        node()
            .store()
            .scan_project(project)
            .unwrap()
            .records
            .is_empty()
    );

    let reply = send(
        &app,
        TestRequest::get().uri("/v0/issues/similar-issues/grouping-record/delete/abc"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["field"], "project_id");
}

#[actix_web::test]
async fn signatures_strict_and_lenient() {
    let strict = test::init_service(http::app(state(|s| {
        s.similarity.signature_secrets = vec![SECRET.to_string(), ROTATED.to_string()];
        s.similarity.signature_strict = true;
    })))
    .await;
    let body = similar(131, &login_text(), &hash(31));
    let missing = send(&strict, post_json(SIMILAR, &body)).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert!(
        missing.body["error"].as_str().unwrap().contains("missing"),
        "{}",
        missing.text
    );
    let wrong = send(&strict, signed(SIMILAR, &body, "not-the-secret")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let malformed = send(
        &strict,
        post_json(SIMILAR, &body).insert_header(("authorization", "Rpcsignature rpc0:zz")),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::UNAUTHORIZED);
    // A signature over other bytes than those sent fails.
    let tampered = post_json(SIMILAR, &body).insert_header((
        "authorization",
        sign(
            SECRET.as_bytes(),
            similar(131, &login_text(), &hash(32))
                .to_string()
                .as_bytes(),
        ),
    ));
    assert_eq!(
        send(&strict, tampered).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Either configured secret (rotation) is accepted.
    assert_eq!(
        send(&strict, signed(SIMILAR, &body, SECRET)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&strict, signed(SIMILAR, &body, ROTATED)).await.status,
        StatusCode::OK
    );
    // The GET delete request is signed over its empty body.
    let delete = TestRequest::get()
        .uri("/v0/issues/similar-issues/grouping-record/delete/131")
        .insert_header(("authorization", sign(SECRET.as_bytes(), b"")));
    assert_eq!(send(&strict, delete).await.status, StatusCode::OK);
    let unsigned = TestRequest::get().uri("/v0/issues/similar-issues/grouping-record/delete/131");
    assert_eq!(
        send(&strict, unsigned).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The signature is checked before the body is even parsed.
    let garbage = TestRequest::post().uri(SIMILAR).set_payload("{not json");
    assert_eq!(
        send(&strict, garbage).await.status,
        StatusCode::UNAUTHORIZED
    );

    let lenient = test::init_service(http::app(state(|s| {
        s.similarity.signature_secrets = vec![SECRET.to_string()];
    })))
    .await;
    assert_eq!(
        send(&lenient, post_json(SIMILAR, &body)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&lenient, signed(SIMILAR, &body, SECRET)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&lenient, signed(SIMILAR, &body, "wrong")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn bad_similarity_requests_are_400_with_the_field() {
    let app = test::init_service(http::app(state(|_| {}))).await;
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("malformed JSON", "{\"project_id\": 1,".to_string(), None),
        ("not an object", "[1, 2]".to_string(), None),
        ("empty body", String::new(), None),
        (
            "wrong type",
            similar(141, "x", &hash(1))
                .to_string()
                .replace("\"k\":1", "\"k\":\"one\""),
            Some("k"),
        ),
        (
            "empty stacktrace",
            similar(141, "   ", &hash(1)).to_string(),
            Some("stacktrace"),
        ),
        (
            "missing hash",
            json!({"project_id": 141, "stacktrace": "E: x"}).to_string(),
            Some("hash"),
        ),
        (
            "negative project",
            similar(141, "E: x", &hash(1))
                .to_string()
                .replace("\"project_id\":141", "\"project_id\":-1"),
            Some("project_id"),
        ),
        (
            "threshold out of range",
            similar(141, "E: x", &hash(1))
                .to_string()
                .replace("\"threshold\":0.01", "\"threshold\":5.0"),
            Some("threshold"),
        ),
        (
            "deep nesting",
            format!(
                "{{\"project_id\": 1, \"x\": {}{}}}",
                "[".repeat(200),
                "]".repeat(200)
            ),
            None,
        ),
        (
            "reserved project",
            similar(u64::MAX, "E: x", &hash(1)).to_string(),
            Some("project_id"),
        ),
    ];
    for (name, body, field) in cases {
        let request = TestRequest::post().uri(SIMILAR).set_payload(body);
        let reply = send(&app, request).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            reply.text
        );
        assert!(
            reply.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {}",
            reply.text
        );
        if let Some(field) = field {
            assert_eq!(reply.body["field"], field, "{name}: {}", reply.text);
        }
    }
    // An unknown model version is the client's mistake too.
    let mut unknown = similar(141, "E: x", &hash(1));
    unknown["model"] = json!("v9");
    assert_eq!(
        send(&app, post_json(SIMILAR, &unknown)).await.status,
        StatusCode::BAD_REQUEST
    );
    // Bad delete-by-hash and bulk bodies.
    let reply = send(
        &app,
        post_json(
            DELETE_BY_HASH,
            &json!({"project_id": 1, "hash_list": ["bad hash"]}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["field"], "hash_list[0]");
    let reply = send(
        &app,
        post_json(RECORDS, &json!({"data": [{"group_id": 1, "hash": hash(1), "project_id": 1}], "stacktrace_list": [""]})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["field"], "stacktrace_list[0]");

    // Oversized: refused from Content-Length, and from the stream.
    let small = test::init_service(http::app(state(|s| s.limits.max_body_bytes = 1024))).await;
    let big = similar(141, &"E: x\n".repeat(400), &hash(1));
    let reply = send(&small, post_json(SIMILAR, &big)).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text
    );
    assert!(reply.body["error"].as_str().unwrap().contains("1024"));

    // Wrong method and unknown route: JSON errors too.
    let reply = send(&app, TestRequest::get().uri(SIMILAR)).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.body["error"].is_string());
    let reply = send(&app, TestRequest::get().uri("/v0/nothing/here")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body["error"].is_string());
}

#[actix_web::test]
async fn health_while_loading_and_when_ready() {
    let loading =
        test::init_service(http::app(AppState::new(http_settings(|_| {})).unwrap())).await;
    assert_eq!(
        send(&loading, TestRequest::get().uri("/health/live"))
            .await
            .status,
        StatusCode::OK
    );
    let ready = send(&loading, TestRequest::get().uri("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers.contains_key("retry-after"));
    // Requests that need the engine get 503 with Retry-After while it loads;
    // invalid ones are still 400.
    let reply = send(
        &loading,
        post_json(SIMILAR, &similar(151, &login_text(), &hash(51))),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert!(reply.headers.contains_key("retry-after"));
    let reply = send(&loading, TestRequest::post().uri(SIMILAR).set_payload("{")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let app = test::init_service(http::app(state(|_| {}))).await;
    let ready = send(&app, TestRequest::get().uri("/health/ready")).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["status"], "ready");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn sdk_event(id: &str, frames: &[(&str, &str, &str)]) -> Value {
    let mut event = support::python_event("GatewayError", "402", frames);
    event["event_id"] = json!(id);
    event
}

const CHECKOUT: &[(&str, &str, &str)] = &[
    (
        "shop.web.views",
        "checkout",
        "order = services.place_order(cart, user)",
    ),
    (
        "shop.billing.client",
        "post",
        "raise GatewayError(response.status_code)",
    ),
];

fn envelope(event: &Value, extra_items: bool) -> Vec<u8> {
    let id = event["event_id"].as_str().unwrap();
    let payload = event.to_string();
    let mut out = format!("{{\"event_id\":\"{id}\",\"sent_at\":\"2025-01-01T00:00:00Z\"}}\n");
    if extra_items {
        out.push_str("{\"type\":\"session\"}\n{\"sid\":\"x\",\"status\":\"ok\"}\n");
    }
    out.push_str(&format!(
        "{{\"type\":\"event\",\"length\":{}}}\n{payload}\n",
        payload.len()
    ));
    if extra_items {
        out.push_str("{\"type\":\"attachment\",\"length\":3,\"filename\":\"a.txt\"}\nabc\n");
    }
    out.into_bytes()
}

const SDK_KEY: &str = "0123456789abcdef0123456789abcdef";

fn sentry_auth(key: &str) -> (&'static str, String) {
    (
        "x-sentry-auth",
        format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0"),
    )
}

#[actix_web::test]
async fn sdk_envelopes_and_store() {
    let app = test::init_service(http::app(state(|s| {
        s.projects.insert(
            "161".to_string(),
            stackherd::settings::ProjectSettings {
                keys: vec![SDK_KEY.to_string()],
            },
        );
    })))
    .await;
    let first_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
    let body = envelope(&sdk_event(first_id, CHECKOUT), true);
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/161/envelope/")
            .insert_header(sentry_auth(SDK_KEY))
            .insert_header(("content-encoding", "gzip"))
            .set_payload(gzip(&body)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body, json!({"id": first_id}));
    assert_eq!(
        reply.headers.get("access-control-allow-origin").unwrap(),
        "*"
    );

    // The same error again, deflated, key in the query string: same issue.
    let second_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2";
    let reply = send(
        &app,
        TestRequest::post()
            .uri(&format!(
                "/api/161/envelope/?sentry_key={SDK_KEY}&sentry_version=7"
            ))
            .insert_header(("content-encoding", "deflate"))
            .set_payload(deflate(&envelope(&sdk_event(second_id, CHECKOUT), false))),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    // /store/ takes the bare event.
    let third_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3";
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/161/store/")
            .insert_header(sentry_auth(SDK_KEY))
            .set_payload(sdk_event(third_id, CHECKOUT).to_string()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body, json!({"id": third_id}));

    // The native API tells how each was grouped.
    let lookup = |id: &str| TestRequest::get().uri(&format!("/api/v1/projects/161/events/{id}"));
    let first = send(&app, lookup(first_id)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["method"], "new");
    for id in [second_id, third_id] {
        let later = send(&app, lookup(id)).await;
        assert_eq!(later.body["method"], "fingerprint", "{}", later.text);
        assert_eq!(later.body["issue"], first.body["issue"]);
    }

    // An envelope with only non-event items is accepted and grouped nothing.
    let only_session = b"{}\n{\"type\":\"session\"}\n{\"sid\":\"x\"}\n".to_vec();
    let reply = send(
        &app,
        TestRequest::post()
            .uri("/api/161/envelope/")
            .insert_header(sentry_auth(SDK_KEY))
            .set_payload(only_session),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body, json!({}));

    // Preflight for browser SDKs.
    let reply = send(
        &app,
        TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/api/161/envelope/"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[actix_web::test]
async fn bad_sdk_requests() {
    let app = test::init_service(http::app(state(|s| {
        s.limits.max_body_bytes = 4096;
        s.server.max_bulk_body_bytes = 8192;
        s.projects.insert(
            "171".to_string(),
            stackherd::settings::ProjectSettings {
                keys: vec![SDK_KEY.to_string()],
            },
        );
    })))
    .await;
    let good = envelope(
        &sdk_event("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1", CHECKOUT),
        false,
    );
    let post = |uri: &str| TestRequest::post().uri(uri);
    let cases: Vec<(&str, TestRequest, StatusCode)> = vec![
        (
            "no key",
            post("/api/171/envelope/").set_payload(good.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong key",
            post("/api/171/envelope/")
                .insert_header(sentry_auth("ffffffffffffffffffffffffffffffff"))
                .set_payload(good.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another project's key",
            post("/api/172/envelope/")
                .insert_header(sentry_auth(SDK_KEY))
                .set_payload(good.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "malformed auth header",
            post("/api/171/envelope/")
                .insert_header(("x-sentry-auth", "Sentry sentry_key"))
                .set_payload(good.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "invalid gzip",
            post("/api/171/envelope/")
                .insert_header(sentry_auth(SDK_KEY))
                .insert_header(("content-encoding", "gzip"))
                .set_payload(b"definitely not gzip".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unsupported encoding",
            post("/api/171/envelope/")
                .insert_header(sentry_auth(SDK_KEY))
                .insert_header(("content-encoding", "br"))
                .set_payload(good.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "gzip bomb",
            post("/api/171/envelope/")
                .insert_header(sentry_auth(SDK_KEY))
                .insert_header(("content-encoding", "gzip"))
                .set_payload(gzip(&vec![b' '; 1_000_000])),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "oversized envelope",
            post("/api/171/envelope/")
                .insert_header(sentry_auth(SDK_KEY))
                .set_payload(vec![b'x'; 9000]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "malformed envelope header",
            post("/api/171/envelope/")
                .insert_header(sentry_auth(SDK_KEY))
                .set_payload(b"{nope\n".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "malformed event item",
            post("/api/171/envelope/")
                .insert_header(sentry_auth(SDK_KEY))
                .set_payload(b"{}\n{\"type\":\"event\",\"length\":5}\n{\"a\":\n".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "event with a wrong type",
            post("/api/171/store/")
                .insert_header(sentry_auth(SDK_KEY))
                .set_payload(
                    json!({"platform": "python", "exception": {"values": [{"type": 7}]}})
                        .to_string(),
                ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "deeply nested event",
            post("/api/171/store/")
                .insert_header(sentry_auth(SDK_KEY))
                .set_payload(format!(
                    "{{\"extra\": {}{}}}",
                    "[".repeat(100),
                    "]".repeat(100)
                )),
            StatusCode::BAD_REQUEST,
        ),
        (
            "oversized store body",
            post("/api/171/store/")
                .insert_header(sentry_auth(SDK_KEY))
                .set_payload(vec![b' '; 5000]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "project id not a number",
            post("/api/abc/store/").set_payload(good.clone()),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, request, status) in cases {
        let reply = send(&app, request).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.text);
        assert!(
            reply.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {}",
            reply.text
        );
    }
    // A bad item names its index.
    let reply = send(
        &app,
        post("/api/171/envelope/")
            .insert_header(sentry_auth(SDK_KEY))
            .set_payload(b"{}\n{\"type\":\"event\",\"length\":2}\n[]\n".to_vec()),
    )
    .await;
    assert!(
        reply.body["error"].as_str().unwrap().contains("item 0"),
        "{}",
        reply.text
    );
}

fn admin(request: TestRequest) -> TestRequest {
    request.insert_header(("authorization", format!("Bearer {ADMIN_TOKEN}")))
}

#[actix_web::test]
async fn native_api() {
    let app = test::init_service(http::app(state(|s| {
        s.server.admin_token = ADMIN_TOKEN.to_string();
    })))
    .await;
    let project = 181;
    let events = format!("/api/v1/projects/{project}/events");

    // Auth: no token 401, wrong token 401, right token from anywhere 200.
    let event = sdk_event("cccccccccccccccccccccccccccccc01", CHECKOUT);
    let reply = send(&app, post_json(&events, &event)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(reply.headers.get("www-authenticate").unwrap(), "Bearer");
    let wrong = post_json(&events, &event)
        .insert_header(("authorization", "Bearer not-the-admin-token-at-all"));
    assert_eq!(send(&app, wrong).await.status, StatusCode::UNAUTHORIZED);

    let first = send(&app, admin(post_json(&events, &event))).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["method"], "new");
    assert_eq!(first.body["event_id"], "cccccccccccccccccccccccccccccc01");
    let issue = first.body["issue"].as_str().unwrap().to_string();

    // A batch, in order, with a bad event in the middle.
    let batch = json!({"events": [
        sdk_event("cccccccccccccccccccccccccccccc02", CHECKOUT),
        {"platform": "python", "exception": {"values": [{"type": ["not", "a", "string"]}]}},
        support::python_event("ClientError", "NoSuchKey", &[("reports.tasks", "nightly_export", "rows = exporter.collect()")]),
    ]});
    let reply = send(&app, admin(post_json(&format!("{events}/batch"), &batch))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let results = reply.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["method"], "fingerprint");
    assert_eq!(results[0]["issue"], issue.as_str());
    assert!(results[1]["error"].is_string());
    assert_eq!(
        results[1]["field"], "events[1].exception.values[0].type",
        "{}",
        reply.text
    );
    assert_eq!(results[2]["method"], "new");

    // Members of the issue and how each joined.
    let members = send(
        &app,
        admin(TestRequest::get().uri(&format!(
            "/api/v1/projects/{project}/issues/{issue}/members"
        ))),
    )
    .await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.text);
    assert_eq!(members.body["members"][0]["joined"]["method"], "new");
    let missing = send(
        &app,
        admin(TestRequest::get().uri(&format!(
            "/api/v1/projects/{project}/issues/{}/members",
            hash(9)
        ))),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Consent: defaults, a partial update, withdrawal deletes the embeddings.
    let consent_uri = format!("/api/v1/projects/{project}/consent");
    let consent = send(&app, admin(TestRequest::get().uri(&consent_uri))).await;
    assert_eq!(consent.body["ai_grouping"], true, "{}", consent.text);
    let update = TestRequest::put()
        .uri(&consent_uri)
        .insert_header(("content-type", "application/json"))
        .set_payload(json!({"ai_grouping": false, "region": "eu"}).to_string());
    let reply = send(&app, admin(update)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body["consent"],
        json!({"ai_grouping": false, "region": "eu", "baa": false})
    );
    assert!(reply.body["deleted_records"].as_u64().unwrap() >= 1);
    assert!(
        node()
            .store()
            .scan_project(project)
            .unwrap()
            .records
            .is_empty()
    );
    let bad = TestRequest::put()
        .uri(&consent_uri)
        .set_payload(json!({"ai_grouping": "yes"}).to_string());
    let reply = send(&app, admin(bad)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["field"], "ai_grouping");

    // Delete hashes, then the project.
    let reply = send(
        &app,
        admin(post_json(
            &format!("/api/v1/projects/{project}/hashes/delete"),
            &json!({"hashes": ["bad hash"]}),
        )),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["field"], "hashes[0]");
    let reply = send(
        &app,
        admin(post_json(
            &format!("/api/v1/projects/{project}/hashes/delete"),
            &json!({"hashes": [issue]}),
        )),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = send(
        &app,
        admin(TestRequest::delete().uri(&format!("/api/v1/projects/{project}"))),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["success"], true);
    assert!(node().store().scan_project(project).unwrap().is_empty());

    // A pasted trace is imported, grouped, and the same trace again is a
    // fingerprint hit; text that is no trace is a 400 naming the problem.
    let trace = "Traceback (most recent call last):\n  File \"app/jobs.py\", line 12, in run\n    total = compute(rows)\n  File \"app/math.py\", line 3, in compute\n    return sum(rows) / len(rows)\nZeroDivisionError: division by zero\n";
    let text_uri = format!("/api/v1/projects/{project}/text");
    let paste = || admin(TestRequest::post().uri(&text_uri).set_payload(trace));
    let reply = send(&app, paste()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["method"], "new", "{}", reply.text);
    assert_eq!(reply.body["event"]["platform"], "python");
    let again = send(&app, paste()).await;
    assert_eq!(again.body["method"], "fingerprint", "{}", again.text);
    assert_eq!(again.body["issue"], reply.body["issue"]);
    let junk = admin(
        TestRequest::post()
            .uri(&format!("{text_uri}?format=java"))
            .set_payload("hello"),
    );
    let reply = send(&app, junk).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(
        reply.body["error"].as_str().unwrap().contains("java"),
        "{}",
        reply.text
    );

    // Stats.
    let reply = send(&app, admin(TestRequest::get().uri("/api/v1/stats"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.body["engine"]["events"]["new"].as_u64().unwrap() >= 2);
}

#[actix_web::test]
async fn admin_without_token_is_loopback_only_and_keys_persist() {
    let settings = http_settings(|_| {});
    let data_dir = settings.storage.data_dir.clone();
    let app = test::init_service(http::app(
        AppState::with_node(settings.clone(), node()).unwrap(),
    ))
    .await;
    let keys_uri = "/api/v1/projects/191/keys";
    let remote = TestRequest::post()
        .uri(keys_uri)
        .peer_addr(REMOTE.parse().unwrap());
    let reply = test::call_service(&app, remote.to_request()).await;
    assert_eq!(reply.status(), StatusCode::FORBIDDEN);

    let created = send(
        &app,
        TestRequest::post()
            .uri(keys_uri)
            .insert_header(("host", "herd.local:9091")),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let key = created.body["public_key"].as_str().unwrap().to_string();
    assert_eq!(
        created.body["dsn"],
        format!("http://{key}@herd.local:9091/191")
    );
    let listed = send(&app, TestRequest::get().uri(keys_uri)).await;
    assert_eq!(
        listed.body["keys"],
        json!([{"public_key": key, "source": "api"}])
    );

    // The key works for ingestion, and survives a restart of the HTTP state.
    let event = sdk_event("dddddddddddddddddddddddddddddd01", CHECKOUT);
    let store = |key: &str| {
        TestRequest::post()
            .uri("/api/191/store/")
            .insert_header(sentry_auth(key))
            .set_payload(event.to_string())
    };
    assert_eq!(send(&app, store(&key)).await.status, StatusCode::OK);
    assert!(data_dir.join(stackherd_actors::http::KEYS_FILE).is_file());
    let restarted = test::init_service(http::app(
        AppState::with_node(settings.clone(), node()).unwrap(),
    ))
    .await;
    assert_eq!(send(&restarted, store(&key)).await.status, StatusCode::OK);

    // Revoked: refused, also after a restart.
    let reply = send(
        &restarted,
        TestRequest::delete().uri(&format!("{keys_uri}/{key}")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        send(&restarted, store(&key)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = test::init_service(http::app(AppState::with_node(settings, node()).unwrap())).await;
    assert_eq!(
        send(&again, store(&key)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let reply = send(
        &again,
        TestRequest::delete().uri(&format!("{keys_uri}/{key}")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = test::init_service(http::app(state(|s| {
        // A rate so low that no refill happens during the test.
        s.rate_limits.project_requests_per_second = 0.001;
        s.rate_limits.project_burst = 2;
    })))
    .await;
    let body = similar(201, &login_text(), &hash(1));
    let mut read_only = body.clone();
    read_only["read_only"] = json!(true);
    assert_eq!(
        send(&app, post_json(SIMILAR, &read_only)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, post_json(SIMILAR, &read_only)).await.status,
        StatusCode::OK
    );
    let limited = send(&app, post_json(SIMILAR, &read_only)).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert!(limited.headers.contains_key("retry-after"));
    assert!(limited.body["error"].as_str().unwrap().contains("201"));
    // Another project has its own budget.
    let mut other = read_only.clone();
    other["project_id"] = json!(202);
    assert_eq!(
        send(&app, post_json(SIMILAR, &other)).await.status,
        StatusCode::OK
    );

    let global = test::init_service(http::app(state(|s| {
        s.rate_limits.requests_per_second = 0.001;
        s.rate_limits.burst = 1;
    })))
    .await;
    assert_eq!(
        send(&global, post_json(SIMILAR, &read_only)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&global, post_json(SIMILAR, &other)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Health and metrics are never limited.
    assert_eq!(
        send(&global, TestRequest::get().uri("/health/live"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&global, TestRequest::get().uri("/metrics"))
            .await
            .status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn metrics_in_prometheus_text_format() {
    let app = test::init_service(http::app(state(|_| {}))).await;
    let reply = send(
        &app,
        post_json(SIMILAR, &similar(211, &export_text(), &hash(1))),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    send(&app, TestRequest::post().uri(SIMILAR).set_payload("{")).await;
    let metrics = send(&app, TestRequest::get().uri("/metrics")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = metrics.text;
    for needle in [
        "# TYPE stackherd_events_total counter",
        "stackherd_events_total{method=\"fingerprint\"}",
        "stackherd_degraded_events_total{reason=\"rate_limited\"}",
        "stackherd_ai_merges_total ",
        "stackherd_new_issues_total ",
        "# TYPE stackherd_embed_latency_seconds histogram",
        "stackherd_embed_latency_seconds_bucket{version=\"v1\",le=\"+Inf\"}",
        "stackherd_embedder_queue_depth{version=\"v1\"}",
        "stackherd_index_dimensions{version=\"v1\"} 384",
        "# TYPE stackherd_index_vectors gauge",
        "stackherd_index_vectors{version=\"v1\"} ",
        "# TYPE stackherd_index_staged_vectors gauge",
        "stackherd_index_staged_vectors{version=\"v1\"} ",
        "stackherd_deleted_hashes_total ",
        "stackherd_http_requests_total{route=\"/v0/issues/similar-issues\",method=\"POST\",status=\"200\"} 1",
        "stackherd_http_requests_total{route=\"/v0/issues/similar-issues\",method=\"POST\",status=\"400\"} 1",
        "stackherd_http_request_duration_seconds_count{route=\"/v0/issues/similar-issues\"} 2",
        "stackherd_up 1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // Every sample line is `name{labels} value` with a number for the value.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
}

/// Embedders for the readiness test: one fails, one answers NaN.
struct BrokenEmbedder {
    nan: bool,
}

impl stackherd::embed::TextEmbedder for BrokenEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, stackherd::embed::EmbedError> {
        if self.nan {
            Ok(texts.iter().map(|_| vec![f32::NAN; 64]).collect())
        } else {
            Err(stackherd::embed::EmbedError::NonFiniteOutput { index: 0 })
        }
    }
    fn dimensions(&self) -> usize {
        64
    }
    fn count_tokens(&self, text: &str) -> Result<usize, stackherd::embed::EmbedError> {
        Ok(text.split_whitespace().count() + 2)
    }
    fn model_id(&self) -> &str {
        "broken-test-embedder"
    }
}

#[actix_web::test]
async fn ready_is_500_when_the_test_embedding_fails_or_is_not_finite() {
    for nan in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::builder(support::fake_model_settings(dir.path()))
            .embedder("v1", Arc::new(BrokenEmbedder { nan }))
            .start()
            .unwrap();
        let app = test::init_service(http::app(
            AppState::with_node(http_settings(|_| {}), Arc::new(node)).unwrap(),
        ))
        .await;
        let ready = send(&app, TestRequest::get().uri("/health/ready")).await;
        assert_eq!(
            ready.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "nan={nan}: {}",
            ready.text
        );
        assert!(
            ready.body["error"]
                .as_str()
                .unwrap()
                .contains("test embedding"),
            "{}",
            ready.text
        );
        // Liveness is not readiness.
        assert_eq!(
            send(&app, TestRequest::get().uri("/health/live"))
                .await
                .status,
            StatusCode::OK
        );
    }
}
