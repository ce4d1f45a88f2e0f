//! Sentry SDK ingestion: `POST /api/{project_id}/envelope/` and
//! `POST /api/{project_id}/store/`, authenticated by a DSN public key,
//! bodies optionally gzip- or deflate-encoded. Event items are grouped;
//! every other item type is accepted and ignored. The answer is Sentry's:
//! `{"id": "<event_id>"}`.

use super::auth::check_dsn_key;
use super::cluster::{degraded, forward_or_local};
use super::error::{ApiError, event_error};
use super::limits::read_body;
use super::state::{AppState, normalize_event_id, parse_project_id};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use stackherd::event::{Event, parse_event};
use stackherd::ingest::{Envelope, EnvelopeLimits, decode_body};
use std::sync::atomic::Ordering;

/// Most items in one envelope.
const MAX_ENVELOPE_ITEMS: usize = 100;

#[derive(Debug, Serialize)]
struct EventIdResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

fn content_encoding(request: &HttpRequest) -> Result<Option<&str>, ApiError> {
    match request.headers().get(header::CONTENT_ENCODING) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::bad_request("the Content-Encoding header is not visible ASCII")),
    }
}

/// `POST /api/{project_id}/envelope/`.
pub async fn envelope(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = parse_project_id(&path)?;
    check_dsn_key(&state, &request, project)?;
    state.shared().limiter.check_project(project)?;
    let settings = state.settings();
    let limit = settings.server.max_bulk_body_bytes;
    let raw = read_body(payload, request.headers(), limit).await?;
    // The owner unreachable: the events are checked and grouped by their
    // fingerprint alone (nothing is stored); the SDK gets its usual answer.
    let on_unreachable = |_: &_| {
        let (events, header_id) = parse_envelope(&state, &request, &raw)?;
        let mut first_id = None;
        for event in &events {
            let id = normalize_event_id(event.event_id.as_deref().or(header_id.as_deref()));
            let result = degraded(&state, project, event);
            tracing::debug!(target: "stackherd::http", project, event_id = %id, issue = %result.issue, "sdk event grouped degraded (owner unreachable)");
            first_id.get_or_insert(id);
        }
        let id = header_id
            .map(|id| normalize_event_id(Some(&id)))
            .or(first_id);
        Ok(HttpResponse::Ok().json(EventIdResponse { id }))
    };
    if let Some(answer) = forward_or_local(&state, &request, project, &raw, on_unreachable).await? {
        return Ok(answer);
    }
    let (events, header_id) = parse_envelope(&state, &request, &raw)?;
    drop(raw);
    let metrics = &state.shared().metrics;
    let mut first_id = None;
    if !events.is_empty() {
        let node = state.node()?;
        for event in &events {
            let id = normalize_event_id(event.event_id.as_deref().or(header_id.as_deref()));
            let result = node.group(project, event).await?;
            metrics.sdk_events.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(target: "stackherd::http", project, event_id = %id, issue = %result.issue, method = result.method.name(), "sdk event grouped");
            state.shared().recent.insert(project, &id, &result);
            first_id.get_or_insert(id);
        }
    }
    let id = header_id
        .map(|id| normalize_event_id(Some(&id)))
        .or(first_id);
    Ok(HttpResponse::Ok().json(EventIdResponse { id }))
}

/// Decodes and parses an envelope's raw body: its events (every one parsed
/// before any is grouped, so a bad item rejects the envelope without
/// grouping half of it) and the event id of its header. Other items are
/// counted and ignored.
fn parse_envelope(
    state: &AppState,
    request: &HttpRequest,
    raw: &[u8],
) -> Result<(Vec<Event>, Option<String>), ApiError> {
    let settings = state.settings();
    let limit = settings.server.max_bulk_body_bytes;
    let decoded = decode_body(content_encoding(request)?, raw, limit)?;
    let envelope = Envelope::parse(
        &decoded,
        &EnvelopeLimits {
            max_items: MAX_ENVELOPE_ITEMS,
            max_bytes: limit,
        },
    )?;
    let limits = settings.event_limits();
    let mut events: Vec<Event> = Vec::new();
    let mut ignored = 0u64;
    for (index, item) in envelope.items.iter().enumerate() {
        if item.is_event() {
            let event = parse_event(item.payload, &limits)
                .map_err(|e| event_error(&e, Some(&format!("envelope item {index}"))))?;
            events.push(event);
        } else {
            ignored += 1;
        }
    }
    state
        .shared()
        .metrics
        .sdk_items_ignored
        .fetch_add(ignored, Ordering::Relaxed);
    Ok((events, envelope.event_id().map(str::to_string)))
}

/// `POST /api/{project_id}/store/`: the body is one event.
pub async fn store(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let project = parse_project_id(&path)?;
    check_dsn_key(&state, &request, project)?;
    state.shared().limiter.check_project(project)?;
    let settings = state.settings();
    let limit = settings.limits.max_body_bytes;
    let raw = read_body(payload, request.headers(), limit).await?;
    let parse = || -> Result<Event, ApiError> {
        let decoded = decode_body(content_encoding(&request)?, &raw, limit)?;
        Ok(parse_event(&decoded, &settings.event_limits())?)
    };
    let on_unreachable = |_: &_| {
        let event = parse()?;
        let result = degraded(&state, project, &event);
        let id = normalize_event_id(event.event_id.as_deref());
        tracing::debug!(target: "stackherd::http", project, event_id = %id, issue = %result.issue, "sdk event grouped degraded (owner unreachable)");
        Ok(HttpResponse::Ok().json(EventIdResponse { id: Some(id) }))
    };
    if let Some(answer) = forward_or_local(&state, &request, project, &raw, on_unreachable).await? {
        return Ok(answer);
    }
    let event = parse()?;
    let id = normalize_event_id(event.event_id.as_deref());
    let node = state.node()?;
    let result = node.group(project, &event).await?;
    state
        .shared()
        .metrics
        .sdk_events
        .fetch_add(1, Ordering::Relaxed);
    state.shared().recent.insert(project, &id, &result);
    Ok(HttpResponse::Ok().json(EventIdResponse { id: Some(id) }))
}

/// `OPTIONS` on the ingestion routes: browser SDKs' CORS preflight.
pub async fn preflight() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "content-type, content-encoding, x-sentry-auth, authorization",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "3600"))
        .finish()
}
