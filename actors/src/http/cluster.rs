//! The cluster seen from the HTTP layer (docs/cluster.md): project-scoped
//! requests go to the project's owner, deletions go to every node, and
//! `POST /internal/v1/cluster/deletions` receives the deletions of the other
//! nodes.
//!
//! With no peers configured this node owns every project: nothing is
//! forwarded and deletions are only applied here.

use super::error::ApiError;
use super::limits::read_body;
use super::state::AppState;
use crate::cluster::{
    ClusterError, DeletionKind, DeletionNotice, FORWARDED_HEADER, Method, PeerError, PeerRequest,
    Route, apply_deletion,
};
use crate::engine::{GroupResult, Node};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use stackherd::event::Event;
use stackherd::similarity::{SuccessResponse, parse_request};
use std::time::Duration;

/// Headers copied from the original request when forwarding it.
const FORWARDED_REQUEST_HEADERS: [&str; 4] = [
    "content-type",
    "content-encoding",
    "x-sentry-auth",
    "authorization",
];

/// How long clients are told to wait when the owner is unreachable.
const OWNER_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The value of the request's [`FORWARDED_HEADER`]: the node that sent it
/// (a value that is not visible ASCII still marks it as forwarded).
pub(crate) fn forwarded_by(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get(FORWARDED_HEADER)
        .map(|value| value.to_str().unwrap_or("?"))
}

/// Sends the request to the owner of `project` unless this node handles it
/// (it owns the project, or the request was forwarded already): then
/// `Ok(None)` and the handler goes on. Otherwise the owner's answer, status
/// and body as they are; if the owner cannot be reached, the answer of
/// `unreachable` (a degraded result, or [`owner_unavailable`]). `body` is
/// the raw body as received, forwarded unchanged.
pub(crate) async fn forward_or_local(
    state: &AppState,
    request: &HttpRequest,
    project: u64,
    body: &[u8],
    unreachable: impl FnOnce(&PeerError) -> Result<HttpResponse, ApiError>,
) -> Result<Option<HttpResponse>, ApiError> {
    let cluster = state.cluster();
    let owner = match cluster.route(project, forwarded_by(request)) {
        Route::Local => return Ok(None),
        Route::Forward(owner) => owner,
    };
    let method = match *request.method() {
        actix_web::http::Method::GET => Method::Get,
        actix_web::http::Method::POST => Method::Post,
        actix_web::http::Method::PUT => Method::Put,
        actix_web::http::Method::DELETE => Method::Delete,
        ref other => {
            return Err(ApiError::Internal(format!(
                "cannot forward a {other} request"
            )));
        }
    };
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.path().to_string(), ToString::to_string);
    let headers = FORWARDED_REQUEST_HEADERS
        .iter()
        .filter_map(|name| {
            let value = request.headers().get(*name)?.to_str().ok()?;
            Some(((*name).to_string(), value.to_string()))
        })
        .collect();
    let forwarded = PeerRequest {
        method,
        path,
        headers,
        body: body.to_vec(),
    };
    match cluster.forward(owner, forwarded).await {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status).map_err(|_| {
                ApiError::Internal(format!(
                    "node {} answered the invalid status {}",
                    owner.id, response.status
                ))
            })?;
            let mut answer = HttpResponse::build(status);
            if let Some(content_type) = response.content_type {
                answer.insert_header((header::CONTENT_TYPE, content_type));
            }
            Ok(Some(answer.body(response.body)))
        }
        Err(error) if error.is_unavailable() => {
            tracing::warn!(target: "stackherd::http", project, owner = %owner.id, %error, "owner unreachable");
            unreachable(&error).map(Some)
        }
        Err(error) => Err(ApiError::Internal(format!(
            "forwarding to node {}: {error}",
            owner.id
        ))),
    }
}

/// The answer to a request that only the (unreachable) owner can serve:
/// 503 with `Retry-After`.
pub(crate) fn owner_unavailable(error: &PeerError) -> Result<HttpResponse, ApiError> {
    Err(ApiError::Unavailable {
        message: format!("the node that owns this project cannot be reached: {error}"),
        retry_after: Some(OWNER_RETRY_AFTER),
    })
}

/// An event grouped by its fingerprint alone, because its owner cannot be
/// reached (nothing is stored).
pub(crate) fn degraded(state: &AppState, project: u64, event: &Event) -> GroupResult {
    crate::cluster::degraded_result(project, event, &state.shared().fingerprinter)
}

fn cluster_error(error: ClusterError) -> ApiError {
    match error {
        ClusterError::Engine(error) => error.into(),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Deletes on every node: applied here, and recorded durably for the other
/// nodes (delivered and retried in the background). A request forwarded by
/// another node is applied here only (its sender delivers it to the rest).
/// Returns the records deleted here.
pub(crate) async fn delete(
    state: &AppState,
    request: &HttpRequest,
    node: &Node,
    kind: DeletionKind,
) -> Result<usize, ApiError> {
    let project = kind.project();
    let forget = matches!(kind, DeletionKind::Project(_));
    let deleted = if forwarded_by(request).is_some() {
        apply_deletion(node, &kind).await?
    } else {
        state
            .cluster()
            .delete_everywhere(node, kind)
            .await
            .map_err(cluster_error)?
    };
    if forget {
        state.shared().recent.forget_project(project);
    }
    Ok(deleted)
}

/// `POST /internal/v1/cluster/deletions`: a deletion from another node
/// ([`DeletionNotice`]), answered 200 once applied durably here.
pub async fn receive_deletion(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let settings = state.settings();
    let body = read_body(payload, request.headers(), settings.limits.max_body_bytes).await?;
    let notice: DeletionNotice = parse_request(&body, settings.limits.max_depth)?;
    let node = state.node()?;
    let deleted = apply_deletion(&node, &notice.kind).await?;
    if let DeletionKind::Project(project) = notice.kind {
        state.shared().recent.forget_project(project);
    }
    tracing::info!(target: "stackherd::http", origin = %notice.origin, id = notice.id, project = notice.kind.project(), deleted, "deletion from another node applied");
    Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
}
