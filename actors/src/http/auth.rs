//! The three kinds of auth: request signatures (similarity API), the admin
//! token (native API), and DSN public keys (Sentry SDK ingestion).

use super::error::ApiError;
use super::state::AppState;
use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap};
use sha2::{Digest as _, Sha256};

/// `X-Sentry-Auth`, the SDK's auth header.
const SENTRY_AUTH: &str = "x-sentry-auth";

/// A header's value as text; a value that is not visible ASCII counts as
/// malformed rather than absent, so it cannot slip past a check.
fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Result<Option<&str>, ()> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| ()),
    }
}

/// Checks `Authorization: Rpcsignature rpc0:<hex>` over the raw `body`
/// with the configured secrets and strictness (SEER_API.md).
pub fn check_signature(
    state: &AppState,
    request: &HttpRequest,
    body: &[u8],
) -> Result<(), ApiError> {
    let verifier = &state.shared().verifier;
    if !verifier.has_secrets() {
        return Ok(());
    }
    let authorization = header_text(request.headers(), header::AUTHORIZATION).map_err(|()| {
        ApiError::from(stackherd::similarity::SignatureError::Malformed(
            "the Authorization header is not visible ASCII",
        ))
    })?;
    verifier.verify(authorization, body).map_err(ApiError::from)
}

/// Checks the native API's admin auth: with `server.admin_token` set,
/// `Authorization: Bearer <token>` from anywhere; without one, only clients
/// connecting from a loopback address (the TCP peer, never a forwarded-for
/// header).
pub fn check_admin(state: &AppState, request: &HttpRequest) -> Result<(), ApiError> {
    let token = &state.settings().server.admin_token;
    if token.is_empty() {
        let loopback = request
            .peer_addr()
            .is_some_and(|peer| peer.ip().is_loopback());
        if loopback {
            return Ok(());
        }
        return Err(ApiError::Forbidden(
            "the native API answers only loopback clients while server.admin_token is not set"
                .to_string(),
        ));
    }
    let challenge = Some("Bearer");
    let authorization = header_text(request.headers(), header::AUTHORIZATION).map_err(|()| {
        ApiError::Unauthorized {
            message: "the Authorization header is not visible ASCII".to_string(),
            challenge,
        }
    })?;
    let Some(authorization) = authorization else {
        return Err(ApiError::Unauthorized {
            message: "the native API needs `Authorization: Bearer <admin token>`".to_string(),
            challenge,
        });
    };
    let presented = authorization
        .trim()
        .split_once(char::is_whitespace)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        Some(presented) if same_secret(presented, token) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized {
            message: "the admin token is wrong".to_string(),
            challenge,
        }),
        None => Err(ApiError::Unauthorized {
            message: "the Authorization header is not `Bearer <admin token>`".to_string(),
            challenge,
        }),
    }
}

/// Compares two secrets in time independent of where they differ (their
/// digests are compared, so lengths do not leak either).
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |diff, (x, y)| diff | (x ^ y))
        == 0
}

/// Checks the SDK's DSN public key (`X-Sentry-Auth`, a `Sentry`
/// `Authorization` header, or `?sentry_key=`) against `project`'s keys.
pub fn check_dsn_key(
    state: &AppState,
    request: &HttpRequest,
    project: u64,
) -> Result<(), ApiError> {
    let headers = request.headers();
    let malformed = |name: &str| ApiError::Unauthorized {
        message: format!("the {name} header is not visible ASCII"),
        challenge: Some("Sentry"),
    };
    let sentry_auth = header_text(headers, SENTRY_AUTH).map_err(|()| malformed("X-Sentry-Auth"))?;
    let authorization =
        header_text(headers, header::AUTHORIZATION).map_err(|()| malformed("Authorization"))?;
    let key = stackherd::ingest::public_key(sentry_auth, authorization, request.query_string())?;
    if state.keys().is_valid(project, &key) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized {
            message: format!("the DSN key is not a key of project {project}"),
            challenge: Some("Sentry"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_value() {
        assert!(same_secret("0123456789abcdef", "0123456789abcdef"));
        assert!(!same_secret("0123456789abcdef", "0123456789abcdeF"));
        assert!(!same_secret("short", "0123456789abcdef"));
    }
}
