//! The native API under `/api/v1` (JSON), for ingest nodes and operators.
//! Every endpoint needs the admin auth of [`check_admin`].

use super::auth::check_admin;
use super::cluster::{degraded, delete, forward_or_local, owner_unavailable};
use super::error::{ApiError, event_error};
use super::keys::{KeyError, KeyInfo};
use super::limits::read_body;
use super::state::{AppState, normalize_event_id, parse_project_id};
use crate::cluster::DeletionKind;
use crate::engine::GroupResult;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use stackherd::event::{check_depth, event_from_value, parse_event};
use stackherd::ingest::Dsn;
use stackherd::similarity::{DeleteByHashRequest, ErrorBody, RequestLimits, parse_request};
use stackherd::store::{Consent, Joined};

/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 1000;

/// Admin auth, then the path's project id and its rate limit.
fn project_of(state: &AppState, request: &HttpRequest, segment: &str) -> Result<u64, ApiError> {
    check_admin(state, request)?;
    let project = parse_project_id(segment)?;
    state.shared().limiter.check_project(project)?;
    Ok(project)
}

/// Query of the grouping endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupQuery {
    /// Model version (default: `grouping.default_model`).
    model: Option<String>,
    /// Do not fall back to the stable version's index.
    #[serde(default)]
    skip_fallback: bool,
}

fn group_query(request: &HttpRequest) -> Result<GroupQuery, ApiError> {
    web::Query::<GroupQuery>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))
}

/// A grouping result with the event's id.
#[derive(Debug, Serialize)]
struct Grouped {
    event_id: String,
    #[serde(flatten)]
    result: GroupResult,
}

/// `POST /api/v1/projects/{project_id}/events`: groups one event.
pub async fn group_event(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = project_of(&state, &request, &path)?;
    let query = group_query(&request)?;
    let settings = state.settings();
    let body = read_body(payload, request.headers(), settings.limits.max_body_bytes).await?;
    let on_unreachable = |_: &_| {
        let event = parse_event(&body, &settings.event_limits())?;
        let result = degraded(&state, project, &event);
        let event_id = normalize_event_id(event.event_id.as_deref());
        Ok(HttpResponse::Ok().json(Grouped { event_id, result }))
    };
    if let Some(answer) = forward_or_local(&state, &request, project, &body, on_unreachable).await?
    {
        return Ok(answer);
    }
    let event = parse_event(&body, &settings.event_limits())?;
    let grouped = group_locally(&state, project, &event, query.model, query.skip_fallback).await?;
    Ok(HttpResponse::Ok().json(grouped))
}

/// Groups an event on this node (its owner) and remembers the answer for
/// `GET …/events/{event_id}`.
async fn group_locally(
    state: &AppState,
    project: u64,
    event: &stackherd::event::Event,
    model: Option<String>,
    skip_fallback: bool,
) -> Result<Grouped, ApiError> {
    let node = state.node()?;
    let version = model.unwrap_or_else(|| state.settings().grouping.default_model.clone());
    let result = node
        .group_with(project, event, &version, skip_fallback)
        .await?;
    let event_id = normalize_event_id(event.event_id.as_deref());
    state.shared().recent.insert(project, &event_id, &result);
    Ok(Grouped { event_id, result })
}

/// Query of `POST …/text`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextQuery {
    /// auto, java, python, javascript, go, ruby, csharp or gdb.
    format: Option<String>,
    model: Option<String>,
}

/// The grouping of a pasted trace, with the event it became.
#[derive(Debug, Serialize)]
struct GroupedTrace {
    #[serde(flatten)]
    grouped: Grouped,
    event: stackherd::event::Event,
}

/// `POST /api/v1/projects/{project_id}/text?format=auto`: a stack trace as
/// it appears in a log (the raw body, UTF-8) is imported into a Sentry event
/// (`stackherd import`) and grouped like any other event.
pub async fn group_text(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = project_of(&state, &request, &path)?;
    let query = web::Query::<TextQuery>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let format: stackherd::import::TraceFormat = query
        .format
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(|e: stackherd::import::ImportError| ApiError::bad_request(e.to_string()))?;
    let settings = state.settings();
    let body = read_body(payload, request.headers(), settings.limits.max_body_bytes).await?;
    let import = || -> Result<stackherd::event::Event, ApiError> {
        let text = std::str::from_utf8(&body)
            .map_err(|e| ApiError::bad_request(format!("the trace is not valid UTF-8: {e}")))?;
        stackherd::import::import_trace(text, format)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    };
    let on_unreachable = |_: &_| {
        let event = import()?;
        let result = degraded(&state, project, &event);
        let event_id = normalize_event_id(event.event_id.as_deref());
        Ok(HttpResponse::Ok().json(GroupedTrace {
            grouped: Grouped { event_id, result },
            event,
        }))
    };
    if let Some(answer) = forward_or_local(&state, &request, project, &body, on_unreachable).await?
    {
        return Ok(answer);
    }
    let event = import()?;
    let grouped = group_locally(&state, project, &event, query.model, false).await?;
    Ok(HttpResponse::Ok().json(GroupedTrace { grouped, event }))
}

#[derive(Debug, Deserialize)]
struct Batch {
    events: Vec<serde_json::Value>,
}

/// One entry of a batch's answer: a result or the event's error.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum BatchEntry {
    Grouped(Grouped),
    Failed(ErrorBody),
}

#[derive(Debug, Serialize)]
struct BatchResponse {
    results: Vec<BatchEntry>,
}

/// `POST /api/v1/projects/{project_id}/events/batch` with
/// `{"events": [...]}`: groups the events in order (so an event can join
/// an issue created earlier in the batch). A bad event gets an error entry
/// in its place and does not stop the others; engine failures (overload,
/// shutdown) fail the whole request.
pub async fn group_batch(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = project_of(&state, &request, &path)?;
    let query = group_query(&request)?;
    let settings = state.settings();
    let body = read_body(
        payload,
        request.headers(),
        settings.server.max_bulk_body_bytes,
    )
    .await?;
    let on_unreachable = |_: &_| degraded_batch(&state, project, &body);
    if let Some(answer) = forward_or_local(&state, &request, project, &body, on_unreachable).await?
    {
        return Ok(answer);
    }
    let batch = parse_batch(&state, &body)?;
    drop(body);
    let limits = settings.event_limits();
    let node = state.node()?;
    let version = query
        .model
        .unwrap_or_else(|| settings.grouping.default_model.clone());
    let mut results = Vec::with_capacity(batch.events.len());
    for (index, value) in batch.events.into_iter().enumerate() {
        let within = format!("events[{index}]");
        let event = match batch_event(value, &limits, &within) {
            Ok(event) => event,
            Err(error) => {
                results.push(BatchEntry::Failed(error.body()));
                continue;
            }
        };
        match node
            .group_with(project, &event, &version, query.skip_fallback)
            .await
        {
            Ok(result) => {
                let event_id = normalize_event_id(event.event_id.as_deref());
                state.shared().recent.insert(project, &event_id, &result);
                results.push(BatchEntry::Grouped(Grouped { event_id, result }));
            }
            Err(crate::engine::EngineError::BadInput(message)) => {
                results.push(BatchEntry::Failed(ErrorBody {
                    error: format!("{within}: {message}"),
                    field: Some(within),
                }));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(HttpResponse::Ok().json(BatchResponse { results }))
}

/// Parses a batch body: `{"events": [...]}` with at most
/// [`MAX_BATCH_EVENTS`] events.
fn parse_batch(state: &AppState, body: &[u8]) -> Result<Batch, ApiError> {
    // Two levels for `{"events": [` on top of each event's own limit.
    let batch: Batch = parse_request(body, state.settings().limits.max_depth + 2)?;
    if batch.events.len() > MAX_BATCH_EVENTS {
        return Err(ApiError::invalid_field(
            "events",
            format!(
                "{} events, more than the limit of {MAX_BATCH_EVENTS}",
                batch.events.len()
            ),
        ));
    }
    Ok(batch)
}

/// One event of a batch, checked as if it had come alone.
fn batch_event(
    value: serde_json::Value,
    limits: &stackherd::event::EventLimits,
    within: &str,
) -> Result<stackherd::event::Event, ApiError> {
    check_size_and_depth(&value, limits, within)?;
    event_from_value(value, limits).map_err(|e| event_error(&e, Some(within)))
}

/// A batch whose owner is unreachable: each event grouped by its
/// fingerprint alone (degraded), bad events answered as usual.
fn degraded_batch(state: &AppState, project: u64, body: &[u8]) -> Result<HttpResponse, ApiError> {
    let batch = parse_batch(state, body)?;
    let limits = state.settings().event_limits();
    let results = batch
        .events
        .into_iter()
        .enumerate()
        .map(
            |(index, value)| match batch_event(value, &limits, &format!("events[{index}]")) {
                Ok(event) => BatchEntry::Grouped(Grouped {
                    event_id: normalize_event_id(event.event_id.as_deref()),
                    result: degraded(state, project, &event),
                }),
                Err(error) => BatchEntry::Failed(error.body()),
            },
        )
        .collect();
    Ok(HttpResponse::Ok().json(BatchResponse { results }))
}

/// Each event of a batch is held to `limits.max_body_bytes` and
/// `limits.max_depth` as if it had come alone.
fn check_size_and_depth(
    value: &serde_json::Value,
    limits: &stackherd::event::EventLimits,
    within: &str,
) -> Result<(), ApiError> {
    let text = value.to_string();
    if text.len() > limits.max_body_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "{within}: event is {} bytes, more than the limit of {} bytes",
            text.len(),
            limits.max_body_bytes
        )));
    }
    check_depth(&text, limits.max_depth).map_err(|e| event_error(&e, Some(within)))
}

/// `GET /api/v1/projects/{project_id}/events/{event_id}`: how a recent
/// event (one of the last [`super::state::RECENT_EVENTS`] this process
/// grouped) was grouped.
pub async fn recent_event(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (project, event_id) = path.into_inner();
    let project = project_of(&state, &request, &project)?;
    if let Some(answer) =
        forward_or_local(&state, &request, project, &[], owner_unavailable).await?
    {
        return Ok(answer);
    }
    let normalized = normalize_event_id(Some(&event_id));
    match state.shared().recent.get(project, &normalized) {
        Some(result) => Ok(HttpResponse::Ok().json(Grouped {
            event_id: normalized,
            result,
        })),
        None => Err(ApiError::NotFound(format!(
            "event {normalized} of project {project} is not among the recently grouped events"
        ))),
    }
}

#[derive(Debug, Serialize)]
struct Member {
    fingerprint: String,
    /// How the fingerprint joined the issue (`null` for entries written
    /// before this was recorded).
    joined: Option<Joined>,
}

#[derive(Debug, Serialize)]
struct Members {
    project: u64,
    issue: String,
    members: Vec<Member>,
}

/// `GET /api/v1/projects/{project_id}/issues/{issue}/members`.
pub async fn issue_members(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (project, issue) = path.into_inner();
    let project = project_of(&state, &request, &project)?;
    if let Some(answer) =
        forward_or_local(&state, &request, project, &[], owner_unavailable).await?
    {
        return Ok(answer);
    }
    let node = state.node()?;
    let lookup = issue.clone();
    // A scan of the project's fingerprint cache: off the async threads.
    let entries = web::block(move || node.issue_members(project, &lookup))
        .await
        .map_err(|e| ApiError::Internal(format!("issue members: {e}")))??;
    if entries.is_empty() {
        return Err(ApiError::NotFound(format!(
            "project {project} has no issue {issue}"
        )));
    }
    let members = entries
        .into_iter()
        .map(|entry| Member {
            fingerprint: entry.fingerprint,
            joined: entry.joined,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Members {
        project,
        issue,
        members,
    }))
}

/// `GET /api/v1/projects/{project_id}/consent`.
pub async fn get_consent(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = project_of(&state, &request, &path)?;
    if let Some(answer) =
        forward_or_local(&state, &request, project, &[], owner_unavailable).await?
    {
        return Ok(answer);
    }
    let consent = state.node()?.consent(project).await?;
    Ok(HttpResponse::Ok().json(consent))
}

/// Body of `PUT …/consent`: omitted fields keep their current value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentUpdate {
    ai_grouping: Option<bool>,
    region: Option<String>,
    baa: Option<bool>,
}

#[derive(Debug, Serialize)]
struct ConsentResponse {
    consent: Consent,
    /// Embeddings deleted because AI grouping was withdrawn.
    deleted_records: usize,
}

/// `PUT /api/v1/projects/{project_id}/consent`: withdrawing `ai_grouping`
/// deletes the project's embeddings (durably, before the answer).
pub async fn set_consent(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = project_of(&state, &request, &path)?;
    let settings = state.settings();
    let body = read_body(payload, request.headers(), settings.limits.max_body_bytes).await?;
    if let Some(answer) =
        forward_or_local(&state, &request, project, &body, owner_unavailable).await?
    {
        return Ok(answer);
    }
    let update: ConsentUpdate = parse_request(&body, settings.limits.max_depth)?;
    if let Some(region) = &update.region {
        let clean = !region.chars().any(char::is_control);
        if region.trim().is_empty() || region.len() > 64 || !clean {
            return Err(ApiError::invalid_field(
                "region",
                "must be 1..=64 bytes without control characters",
            ));
        }
    }
    let node = state.node()?;
    let current = node.consent(project).await?;
    let consent = Consent {
        ai_grouping: update.ai_grouping.unwrap_or(current.ai_grouping),
        region: update.region.unwrap_or(current.region),
        baa: update.baa.unwrap_or(current.baa),
    };
    let deleted_records = node.set_consent(project, consent.clone()).await?;
    tracing::info!(target: "stackherd::http", project, ai_grouping = consent.ai_grouping, deleted_records, "consent set");
    Ok(HttpResponse::Ok().json(ConsentResponse {
        consent,
        deleted_records,
    }))
}

#[derive(Debug, Serialize)]
struct Deleted {
    success: bool,
    deleted_records: usize,
}

/// `DELETE /api/v1/projects/{project_id}`: everything stored about the
/// project (records, fingerprint cache, consent). DSN keys stay.
pub async fn delete_project(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = project_of(&state, &request, &path)?;
    let node = state.node()?;
    let deleted_records = delete(&state, &request, &node, DeletionKind::Project(project)).await?;
    tracing::info!(target: "stackherd::http", project, deleted_records, "project deleted");
    Ok(HttpResponse::Ok().json(Deleted {
        success: true,
        deleted_records,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteHashes {
    hashes: Vec<String>,
}

/// `POST /api/v1/projects/{project_id}/hashes/delete` with `{"hashes": [...]}`.
pub async fn delete_hashes(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = project_of(&state, &request, &path)?;
    let settings = state.settings();
    let body = read_body(payload, request.headers(), settings.limits.max_body_bytes).await?;
    let hashes: DeleteHashes = parse_request(&body, settings.limits.max_depth)?;
    let check = DeleteByHashRequest {
        project_id: project,
        hash_list: hashes.hashes,
    };
    check.validate(&RequestLimits::default()).map_err(|e| {
        let mut error = ApiError::from(e);
        if let ApiError::BadRequest { message, field } = &mut error {
            *message = message.replace("hash_list", "hashes");
            *field = field.as_ref().map(|f| f.replace("hash_list", "hashes"));
        }
        error
    })?;
    let node = state.node()?;
    let kind = DeletionKind::Hashes(project, check.hash_list);
    let deleted_records = delete(&state, &request, &node, kind).await?;
    Ok(HttpResponse::Ok().json(Deleted {
        success: true,
        deleted_records,
    }))
}

#[derive(Debug, Serialize)]
struct KeyList {
    project: u64,
    keys: Vec<KeyInfo>,
}

#[derive(Debug, Serialize)]
struct CreatedKey {
    project: u64,
    public_key: String,
    /// The DSN an SDK would use, with this server's address as the host.
    dsn: String,
}

fn key_error(error: KeyError) -> ApiError {
    match error {
        KeyError::Configured(message) => ApiError::Conflict(message),
        KeyError::TooMany { .. } => ApiError::Conflict(error.to_string()),
        KeyError::Read { .. } | KeyError::Write { .. } => ApiError::Internal(error.to_string()),
    }
}

/// `GET /api/v1/projects/{project_id}/keys`.
pub async fn list_keys(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = project_of(&state, &request, &path)?;
    Ok(HttpResponse::Ok().json(KeyList {
        project,
        keys: state.keys().list(project),
    }))
}

/// `POST /api/v1/projects/{project_id}/keys`: a new random DSN key, durable
/// before the answer.
pub async fn create_key(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let project = project_of(&state, &request, &path)?;
    let owner = state.get_ref().clone();
    let public_key = web::block(move || owner.keys().create(project))
        .await
        .map_err(|e| ApiError::Internal(format!("creating a key: {e}")))?
        .map_err(key_error)?;
    let host = request.connection_info().host().to_string();
    let dsn = format!("http://{public_key}@{host}/{project}");
    // Sanity: what we hand out must parse as a DSN.
    if Dsn::parse(&dsn).is_err() {
        tracing::warn!(target: "stackherd::http", project, "the DSN built from the Host header does not parse");
    }
    tracing::info!(target: "stackherd::http", project, "DSN key created");
    Ok(HttpResponse::Created().json(CreatedKey {
        project,
        public_key,
        dsn,
    }))
}

/// `DELETE /api/v1/projects/{project_id}/keys/{key}`.
pub async fn revoke_key(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (project, key) = path.into_inner();
    let project = project_of(&state, &request, &project)?;
    let owner = state.get_ref().clone();
    let revoked = web::block(move || owner.keys().revoke(project, &key))
        .await
        .map_err(|e| ApiError::Internal(format!("revoking a key: {e}")))?
        .map_err(key_error)?;
    if !revoked {
        return Err(ApiError::NotFound(format!(
            "project {project} has no such API-created key"
        )));
    }
    tracing::info!(target: "stackherd::http", project, "DSN key revoked");
    Ok(HttpResponse::Ok().json(serde_json::json!({"success": true})))
}

/// `GET /api/v1/stats`: the engine's counters and each embedder's state.
pub async fn stats(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    check_admin(&state, &request)?;
    let node = state.node()?;
    let embedders: serde_json::Map<String, serde_json::Value> = node
        .embedder_stats()
        .into_iter()
        .map(|(version, stats)| {
            let p50 = stats
                .latency
                .quantile_upper_bound(0.5)
                .map(|d| d.as_secs_f64());
            let p99 = stats
                .latency
                .quantile_upper_bound(0.99)
                .map(|d| d.as_secs_f64());
            (
                version,
                serde_json::json!({
                    "queue_depth": stats.queue_depth,
                    "queue_capacity": stats.queue_capacity,
                    "cache_entries": stats.cache_len,
                    "submitted": stats.counts.submitted,
                    "cache_hits": stats.counts.cache_hits,
                    "batches": stats.counts.batches,
                    "latency_p50_seconds_at_most": p50,
                    "latency_p99_seconds_at_most": p99,
                }),
            )
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "engine": node.stats(),
        "embedders": embedders,
    })))
}
