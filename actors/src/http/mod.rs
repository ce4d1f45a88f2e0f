//! The HTTP service (`stackherd serve`), on actix-web:
//!
//! | routes | auth | module |
//! |---|---|---|
//! | `/v0/issues/similar-issues…` (Sentry's similarity API, SEER_API.md) | `Rpcsignature` HMAC | [`seer`] |
//! | `/api/{project_id}/envelope/`, `/api/{project_id}/store/` (Sentry SDKs) | DSN public key | [`ingest`] |
//! | `/api/v1/…` (native API) | admin token, or loopback | [`native`] |
//! | `/health/live`, `/health/ready`, `/metrics` | none | [`seer`], [`metrics`] |
//! | `/internal/v1/cluster/deletions` (node to node) | none (private network) | [`cluster`] |
//!
//! Project-scoped requests for a project another node owns are forwarded
//! to it, and deletions reach every node ([`cluster`], docs/cluster.md).
//!
//! Every rejection is `{"error": "…", "field": "…"}` with a 4xx or 5xx status,
//! decided in one place ([`ApiError`]); see `docs/http.md` for the reference.

mod auth;
mod cluster;
mod error;
mod ingest;
mod keys;
mod limits;
mod metrics;
mod native;
mod seer;
mod server;
mod state;

pub use error::ApiError;
pub use keys::{KEYS_FILE, KeyError, KeyInfo, KeySource, KeyStore};
pub use server::{ServeError, serve};
pub use state::{AppState, NodeStatus, RECENT_EVENTS, SetupError};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, web};

/// The application: every route, the JSON error handlers, and the
/// middleware that rate-limits, counts and logs requests.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::PathConfig::default().error_handler(|error, _| {
            ApiError::bad_request(format!("invalid path: {error}")).into()
        }))
        .app_data(web::QueryConfig::default().error_handler(|error, _| {
            ApiError::bad_request(format!("invalid query string: {error}")).into()
        }))
        .wrap(from_fn(metrics::observe))
        .configure(routes)
        .default_service(web::to(not_found))
}

/// A resource whose other methods are answered 405 in JSON.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/health/live").route(web::get().to(seer::live)))
        .service(resource("/health/ready").route(web::get().to(seer::ready)))
        .service(resource("/metrics").route(web::get().to(metrics::metrics)))
        .service(resource("/v0/issues/similar-issues").route(web::post().to(seer::similar_issues)))
        .service(
            resource("/v0/issues/similar-issues/grouping-record")
                .route(web::post().to(seer::grouping_records)),
        )
        .service(
            resource("/v0/issues/similar-issues/grouping-record/delete/{project_id}")
                .route(web::get().to(seer::delete_project)),
        )
        .service(
            resource("/v0/issues/similar-issues/grouping-record/delete-by-hash")
                .route(web::post().to(seer::delete_by_hash)),
        )
        .service(
            resource(crate::cluster::DELETIONS_PATH)
                .route(web::post().to(cluster::receive_deletion)),
        )
        .service(
            web::scope("/api/v1")
                .service(resource("/stats").route(web::get().to(native::stats)))
                .service(
                    resource("/projects/{project_id}")
                        .route(web::delete().to(native::delete_project)),
                )
                .service(
                    resource("/projects/{project_id}/events")
                        .route(web::post().to(native::group_event)),
                )
                .service(
                    resource("/projects/{project_id}/text")
                        .route(web::post().to(native::group_text)),
                )
                .service(
                    resource("/projects/{project_id}/events/batch")
                        .route(web::post().to(native::group_batch)),
                )
                .service(
                    resource("/projects/{project_id}/events/{event_id}")
                        .route(web::get().to(native::recent_event)),
                )
                .service(
                    resource("/projects/{project_id}/issues/{issue}/members")
                        .route(web::get().to(native::issue_members)),
                )
                .service(
                    resource("/projects/{project_id}/consent")
                        .route(web::get().to(native::get_consent))
                        .route(web::put().to(native::set_consent)),
                )
                .service(
                    resource("/projects/{project_id}/hashes/delete")
                        .route(web::post().to(native::delete_hashes)),
                )
                .service(
                    resource("/projects/{project_id}/keys")
                        .route(web::get().to(native::list_keys))
                        .route(web::post().to(native::create_key)),
                )
                .service(
                    resource("/projects/{project_id}/keys/{key}")
                        .route(web::delete().to(native::revoke_key)),
                )
                .default_service(web::to(not_found)),
        )
        .service(
            web::scope("/api/{project_id}")
                // Browser SDKs post cross-origin.
                .wrap(DefaultHeaders::new().add(("Access-Control-Allow-Origin", "*")))
                .service(
                    resource("/envelope/")
                        .route(web::post().to(ingest::envelope))
                        .route(web::method(actix_web::http::Method::OPTIONS).to(ingest::preflight)),
                )
                .service(
                    resource("/store/")
                        .route(web::post().to(ingest::store))
                        .route(web::method(actix_web::http::Method::OPTIONS).to(ingest::preflight)),
                )
                .default_service(web::to(not_found)),
        );
}

async fn not_found(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        request.method(),
        short_path(request.path())
    )))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// Paths are echoed in errors only up to a bound (they are the client's own).
fn short_path(path: &str) -> String {
    const MAX: usize = 100;
    match path.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", path.get(..at).unwrap_or_default()),
        None => path.to_string(),
    }
}
