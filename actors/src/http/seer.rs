//! The Sentry-compatible similarity API (SEER_API.md) and the health checks.
//!
//! Every endpoint reads the raw body first (bounded), checks its signature
//! over exactly those bytes, then parses and validates it, and only then
//! needs the engine: a malformed or unsigned request is answered 400 or 401
//! even while the models load.

use super::auth::check_signature;
use super::cluster::forward_or_local;
use super::error::ApiError;
use super::limits::read_body;
use super::state::{AppState, NodeStatus, check_project_id, parse_project_id};
use crate::cluster::DeletionKind;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use stackherd::settings::RESERVED_PROJECT_ID;
use stackherd::similarity::{
    DeleteByHashRequest, GroupingRecordsRequest, GroupingRecordsResponse, RequestLimits,
    SimilarIssuesRequest, SuccessResponse, parse_request,
};
use stackherd::store::Consent;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Reads, authenticates and parses a similarity request body.
async fn signed_body(
    state: &AppState,
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let body = read_body(payload, request.headers(), limit).await?;
    check_signature(state, request, &body)?;
    Ok(body)
}

/// `POST /v0/issues/similar-issues`.
pub async fn similar_issues(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let settings = state.settings();
    let body = signed_body(&state, &request, payload, settings.limits.max_body_bytes).await?;
    let similar: SimilarIssuesRequest = parse_request(&body, settings.limits.max_depth)?;
    similar.validate(&RequestLimits::default())?;
    check_project_id("project_id", similar.project_id)?;
    state.shared().limiter.check_project(similar.project_id)?;
    // An unreachable owner: no similar issues (Sentry then groups as usual).
    let none = |_: &_| Ok(HttpResponse::Ok().json(serde_json::json!({"responses": []})));
    if let Some(answer) =
        forward_or_local(&state, &request, similar.project_id, &body, none).await?
    {
        return Ok(answer);
    }
    let node = state.node()?;
    let response = node.similar(similar).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `POST /v0/issues/similar-issues/grouping-record`.
pub async fn grouping_records(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let settings = state.settings();
    let body = signed_body(
        &state,
        &request,
        payload,
        settings.server.max_bulk_body_bytes,
    )
    .await?;
    let records: GroupingRecordsRequest = parse_request(&body, settings.limits.max_depth)?;
    if !records.lists_match() {
        // SEER_API.md: a length mismatch is a 200 with success false.
        return Ok(HttpResponse::Ok().json(GroupingRecordsResponse::mismatched_lists()));
    }
    records.validate(&RequestLimits::default())?;
    let projects: BTreeSet<u64> = records.data.iter().map(|row| row.project_id).collect();
    for (index, row) in records.data.iter().enumerate() {
        check_project_id(&format!("data[{index}].project_id"), row.project_id)?;
    }
    for project in projects {
        state.shared().limiter.check_project(project)?;
    }
    let node = state.node()?;
    let response = node.grouping_records(records).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `GET /v0/issues/similar-issues/grouping-record/delete/{project_id}`
/// (Sentry signs the empty body).
pub async fn delete_project(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let settings = state.settings();
    signed_body(&state, &request, payload, settings.limits.max_body_bytes).await?;
    let project = parse_project_id(&path)?;
    state.shared().limiter.check_project(project)?;
    let node = state.node()?;
    let kind = DeletionKind::Project(project);
    let deleted = super::cluster::delete(&state, &request, &node, kind).await?;
    tracing::info!(target: "stackherd::http", project, deleted, "project deleted (similarity API)");
    Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
}

/// `POST /v0/issues/similar-issues/grouping-record/delete-by-hash`.
pub async fn delete_by_hash(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let settings = state.settings();
    let body = signed_body(&state, &request, payload, settings.limits.max_body_bytes).await?;
    let delete: DeleteByHashRequest = parse_request(&body, settings.limits.max_depth)?;
    delete.validate(&RequestLimits::default())?;
    let project = check_project_id("project_id", delete.project_id)?;
    state.shared().limiter.check_project(project)?;
    let node = state.node()?;
    let kind = DeletionKind::Hashes(project, delete.hash_list);
    let deleted = super::cluster::delete(&state, &request, &node, kind).await?;
    tracing::info!(target: "stackherd::http", project, deleted, "hashes deleted (similarity API)");
    Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
}

/// `GET /health/live`: the process answers.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// How long a readiness answer is reused, so frequent probes cost one
/// test embedding per interval.
const PROBE_CACHE: Duration = Duration::from_secs(1);

/// Text of the readiness probe's test embedding.
const PROBE_TEXT: &str = "ReadinessProbe: test embedding\n  File \"stackherd/health.py\", function ready\n    assert model.embed(text).is_finite()";

/// `GET /health/ready`: 503 while the store opens and the models load
/// (or after the engine failed to start, or while stopping); then a test
/// embedding with every configured model version — 500 if one fails or is
/// not finite, 503 if the embedder is overloaded, 200 otherwise.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let node = match state.status() {
        NodeStatus::Ready(node) => node,
        NodeStatus::Loading => {
            return Err(ApiError::Unavailable {
                message: "not ready: the store is opening and the models are loading".to_string(),
                retry_after: Some(Duration::from_secs(5)),
            });
        }
        NodeStatus::Failed(message) => {
            return Err(ApiError::Unavailable {
                message: format!("not ready: the engine failed to start: {message}"),
                retry_after: None,
            });
        }
        NodeStatus::Stopping => {
            return Err(ApiError::Unavailable {
                message: "not ready: shutting down".to_string(),
                retry_after: None,
            });
        }
    };
    let cached = {
        let probe = state
            .shared()
            .probe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        probe
            .as_ref()
            .filter(|(at, _)| at.elapsed() < PROBE_CACHE)
            .map(|(_, outcome)| outcome.clone())
    };
    let outcome = match cached {
        Some(outcome) => outcome,
        None => {
            let outcome = probe(&state, &node).await;
            *state
                .shared()
                .probe
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((Instant::now(), outcome.clone()));
            outcome
        }
    };
    outcome.map(|()| HttpResponse::Ok().json(Health { status: "ready" }))
}

/// One read-only similarity search per model version, in the reserved
/// probe project (nothing is stored). The engine's embedder refuses
/// non-finite output, so a broken model shows as an internal error.
pub async fn probe(state: &AppState, node: &crate::engine::Node) -> Result<(), ApiError> {
    // Without consent the engine would answer without embedding anything:
    // the probe project consents whatever the operator's default is.
    let consent = node.consent(RESERVED_PROJECT_ID).await?;
    if !consent.ai_grouping {
        node.set_consent(
            RESERVED_PROJECT_ID,
            Consent {
                ai_grouping: true,
                ..consent
            },
        )
        .await?;
    }
    for version in state.settings().models.keys() {
        let request: SimilarIssuesRequest = serde_json::from_value(serde_json::json!({
            "project_id": RESERVED_PROJECT_ID,
            "stacktrace": PROBE_TEXT,
            "hash": "stackherd-readiness-probe",
            "read_only": true,
            "skip_fallback": true,
            "model": version,
            "referrer": "readiness",
        }))
        .map_err(|e| ApiError::Internal(format!("building the readiness probe: {e}")))?;
        // Overload and shutdown stay 503 (retry later); any other failure,
        // whatever the engine calls it, means the model is broken: 500.
        let response =
            node.similar(request)
                .await
                .map_err(|error| match ApiError::from(error) {
                    retry @ (ApiError::Overloaded { .. } | ApiError::Unavailable { .. }) => retry,
                    other => ApiError::Internal(format!(
                        "test embedding with model {version} failed: {other}"
                    )),
                })?;
        if response
            .responses
            .iter()
            .any(|r| !r.stacktrace_distance.is_finite())
        {
            return Err(ApiError::Internal(format!(
                "test embedding with model {version} is not finite"
            )));
        }
    }
    Ok(())
}
