//! The HTTP-shaped error, and the one place where every lower error becomes
//! a status code. Every rejection is a JSON body `{"error": "…", "field": "…"}`
//! (`field` only when one field is to blame); 429 and 503 carry `Retry-After`.

use crate::engine::EngineError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use stackherd::event::EventError;
use stackherd::ingest::{AuthError, BodyError, EnvelopeError};
use stackherd::similarity::{ErrorBody, RequestError, SignatureError};
use std::time::Duration;
use thiserror::Error;

/// What went wrong with a request, shaped for the HTTP status it earns.
#[derive(Debug, Clone, Error)]
pub enum ApiError {
    /// 400: the request is invalid; `field` names the culprit when there is one.
    #[error("{message}")]
    BadRequest {
        message: String,
        field: Option<String>,
    },
    /// 401: a missing or wrong signature, token or DSN key.
    #[error("{message}")]
    Unauthorized {
        message: String,
        /// The `WWW-Authenticate` challenge, when there is a scheme to name.
        challenge: Option<&'static str>,
    },
    /// 403: authenticated or not, this client may not use the endpoint.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such route or resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the configuration.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than its limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: a `Content-Encoding` that is not supported.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: a rate limit of the HTTP API.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: Duration,
    },
    /// 503: too much work queued; retry later.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after: Duration,
    },
    /// 503: a component is not available (models loading, shutting down).
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// 500: a bug or a broken store. The message is logged; the client gets
    /// it too, since it names no user data.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        ApiError::BadRequest {
            message: format!("invalid `{field}`: {}", message.into()),
            field: Some(field),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            message: message.into(),
            challenge: None,
        }
    }

    /// The answer's body.
    pub fn body(&self) -> ErrorBody {
        let field = match self {
            ApiError::BadRequest { field, .. } => field.clone(),
            _ => None,
        };
        ErrorBody {
            error: self.to_string(),
            field,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::TooManyRequests { retry_after, .. }
            | ApiError::Overloaded { retry_after, .. } => Some(*retry_after),
            ApiError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Whole seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_after_seconds(after: Duration) -> u64 {
    let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    seconds.max(1)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } | ApiError::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::warn!(target: "stackherd::http", status = status.as_u16(), error = %self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        if let Some(after) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, retry_after_seconds(after)));
        }
        if let ApiError::Unauthorized {
            challenge: Some(challenge),
            ..
        } = self
        {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            ));
        }
        response.json(self.body())
    }
}

/// The one mapping of engine errors to HTTP: bad input 400, overload 503
/// with the engine's `Retry-After`, unavailable 503, internal 500.
impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::BadInput(message) => ApiError::BadRequest {
                message,
                field: None,
            },
            EngineError::Overloaded { what, retry_after } => ApiError::Overloaded {
                message: format!("overloaded: {what}"),
                retry_after,
            },
            EngineError::Unavailable(message) => ApiError::Unavailable {
                message: format!("unavailable: {message}"),
                retry_after: Some(Duration::from_secs(1)),
            },
            EngineError::Internal(message) => {
                ApiError::Internal(format!("internal error: {message}"))
            }
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        ApiError::BadRequest {
            message: error.to_string(),
            field: error.field().map(str::to_string),
        }
    }
}

impl From<SignatureError> for ApiError {
    fn from(error: SignatureError) -> Self {
        ApiError::Unauthorized {
            message: error.to_string(),
            challenge: Some("Rpcsignature"),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        ApiError::Unauthorized {
            message: error.to_string(),
            challenge: Some("Sentry"),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        match error {
            BodyError::TooLarge { .. } => ApiError::PayloadTooLarge(error.to_string()),
            BodyError::Unsupported(_) => ApiError::UnsupportedMediaType(error.to_string()),
            BodyError::TooManyEncodings | BodyError::Invalid { .. } => {
                ApiError::bad_request(error.to_string())
            }
        }
    }
}

impl From<EnvelopeError> for ApiError {
    fn from(error: EnvelopeError) -> Self {
        match error {
            EnvelopeError::TooLarge { .. } => ApiError::PayloadTooLarge(error.to_string()),
            _ => ApiError::bad_request(error.to_string()),
        }
    }
}

impl From<EventError> for ApiError {
    fn from(error: EventError) -> Self {
        event_error(&error, None)
    }
}

/// An event's error, its field path prefixed by where the event sat
/// (`events[3]`, an envelope item), when it sat inside something larger.
pub fn event_error(error: &EventError, within: Option<&str>) -> ApiError {
    let prefix = within.map(|w| format!("{w}: ")).unwrap_or_default();
    match error {
        EventError::TooLarge { .. } => ApiError::PayloadTooLarge(format!("{prefix}{error}")),
        EventError::InvalidField { path, .. } => {
            let field = match within {
                Some(within) if path == "." => within.to_string(),
                Some(within) => format!("{within}.{path}"),
                None => path.clone(),
            };
            ApiError::BadRequest {
                message: format!("{prefix}{error}"),
                field: Some(field),
            }
        }
        _ => ApiError::bad_request(format!("{prefix}{error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2500)), 3);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }

    #[test]
    fn engine_errors_map_to_one_status_each() {
        let cases = [
            (EngineError::BadInput("x".into()), 400),
            (
                EngineError::Overloaded {
                    what: "queue".into(),
                    retry_after: Duration::from_secs(2),
                },
                503,
            ),
            (EngineError::Unavailable("stopping".into()), 503),
            (EngineError::Internal("bug".into()), 500),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).status_code().as_u16(), status);
        }
    }
}
