//! Node-to-node HTTP calls with a timeout.
//!
//! A blocking `ureq` agent (already in the dependency tree for model
//! downloads; it keeps a pool of idle connections) run on tokio's blocking
//! pool through `spawn_blocking`, so a call never blocks an async worker and
//! works from any tokio runtime, actix's included, without the `!Send`
//! restrictions of actix's own client.
//!
//! Every request carries [`FORWARDED_HEADER`] with the sending node's id. A
//! node that receives a request with that header handles it itself and
//! never forwards it again, so two nodes that disagree about ownership
//! (a peer list being rolled out) cannot bounce a request between them.

use super::ring::Peer;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use thiserror::Error;

/// Marks a request sent by another node; the value is that node's id.
pub const FORWARDED_HEADER: &str = "x-stackherd-forwarded";

/// Largest response body read from a peer.
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// A request to a peer: method, path (with its query string), headers, body.
#[derive(Debug, Clone)]
pub struct PeerRequest {
    pub method: Method,
    /// Starts with `/`; appended to the peer's base URL.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl PeerRequest {
    pub fn get(path: impl Into<String>) -> PeerRequest {
        PeerRequest {
            method: Method::Get,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A POST of raw bytes (a forwarded SDK envelope, say) with its
    /// content type.
    pub fn post(path: impl Into<String>, content_type: &str, body: Vec<u8>) -> PeerRequest {
        PeerRequest {
            method: Method::Post,
            path: path.into(),
            headers: vec![("content-type".to_string(), content_type.to_string())],
            body,
        }
    }

    /// A POST of `value` as JSON.
    pub fn post_json<T: Serialize + ?Sized>(
        path: impl Into<String>,
        value: &T,
    ) -> Result<PeerRequest, PeerError> {
        let body = serde_json::to_vec(value).map_err(|e| PeerError::Encode(e.to_string()))?;
        Ok(PeerRequest::post(path, "application/json", body))
    }

    /// Adds a header (copied from the original request when forwarding:
    /// `content-encoding`, `x-sentry-auth`, `authorization`, …).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> PeerRequest {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A peer's answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl PeerResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PeerError> {
        serde_json::from_slice(&self.body).map_err(|e| PeerError::Decode(e.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeerError {
    /// No answer within the timeout.
    #[error("peer {peer} did not answer within {} ms", timeout.as_millis())]
    Timeout { peer: String, timeout: Duration },
    /// The peer could not be reached (refused, unknown host, reset, a
    /// broken response).
    #[error("peer {peer} is unreachable: {message}")]
    Unreachable { peer: String, message: String },
    /// The request itself is malformed (a bad path or header); a bug of
    /// the caller, not of the peer.
    #[error("bad request to peer {peer}: {message}")]
    BadRequest { peer: String, message: String },
    #[error("cannot encode the request body: {0}")]
    Encode(String),
    #[error("cannot decode the peer's answer: {0}")]
    Decode(String),
    /// The blocking task was cancelled or panicked (runtime shutting down).
    #[error("the peer call was cancelled: {0}")]
    Cancelled(String),
}

impl PeerError {
    /// Whether the peer is down or cut off (rather than the request being
    /// wrong): callers answer degraded, or retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            PeerError::Timeout { .. } | PeerError::Unreachable { .. } | PeerError::Cancelled(_)
        )
    }
}

/// Calls other nodes. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct PeerClient {
    agent: ureq::Agent,
    local_id: String,
    timeout: Duration,
}

impl PeerClient {
    /// A client for the node `local_id`; every call is bounded by
    /// `timeout` (connect, send and receive together).
    pub fn new(local_id: impl Into<String>, timeout: Duration) -> PeerClient {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        PeerClient {
            agent: ureq::Agent::new_with_config(config),
            local_id: local_id.into(),
            timeout,
        }
    }

    pub fn local_id(&self) -> &str {
        &self.local_id
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `request` to `peer` and returns its answer, whatever the status.
    pub async fn send(&self, peer: &Peer, request: PeerRequest) -> Result<PeerResponse, PeerError> {
        let client = self.clone();
        let peer = peer.clone();
        let peer_id = peer.id.clone();
        tokio::task::spawn_blocking(move || client.send_blocking(&peer, &request))
            .await
            .map_err(|e| PeerError::Cancelled(format!("call to {peer_id}: {e}")))?
    }

    /// POSTs `value` as JSON to `peer` at `path`.
    pub async fn post_json<T: Serialize + ?Sized>(
        &self,
        peer: &Peer,
        path: &str,
        value: &T,
    ) -> Result<PeerResponse, PeerError> {
        self.send(peer, PeerRequest::post_json(path, value)?).await
    }

    /// The same call, blocking the calling thread (for threads that are
    /// not async workers, like the CLI).
    pub fn send_blocking(
        &self,
        peer: &Peer,
        request: &PeerRequest,
    ) -> Result<PeerResponse, PeerError> {
        let url = format!("{}{}", peer.url.trim_end_matches('/'), request.path);
        let bad = |message: String| PeerError::BadRequest {
            peer: peer.id.clone(),
            message,
        };
        if !request.path.starts_with('/') {
            return Err(bad(format!("path `{}` must start with /", request.path)));
        }
        let builder = match request.method {
            Method::Get => ureq::http::Request::get(&url),
            Method::Post => ureq::http::Request::post(&url),
            Method::Put => ureq::http::Request::put(&url),
            Method::Delete => ureq::http::Request::delete(&url),
        };
        let builder = request
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case(FORWARDED_HEADER))
            .fold(builder, |b, (name, value)| b.header(name, value))
            .header(FORWARDED_HEADER, &self.local_id);
        let sent = if request.body.is_empty() {
            let http_request = builder.body(()).map_err(|e| bad(e.to_string()))?;
            self.agent.run(http_request)
        } else {
            let http_request = builder
                .body(request.body.as_slice())
                .map_err(|e| bad(e.to_string()))?;
            self.agent.run(http_request)
        };
        let mut response = sent.map_err(|e| self.classify(peer, e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| self.classify(peer, e))?;
        Ok(PeerResponse {
            status,
            content_type,
            body,
        })
    }

    fn classify(&self, peer: &Peer, error: ureq::Error) -> PeerError {
        match error {
            ureq::Error::Timeout(_) => PeerError::Timeout {
                peer: peer.id.clone(),
                timeout: self.timeout,
            },
            ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut => {
                PeerError::Timeout {
                    peer: peer.id.clone(),
                    timeout: self.timeout,
                }
            }
            ureq::Error::BadUri(message) => PeerError::BadRequest {
                peer: peer.id.clone(),
                message,
            },
            ureq::Error::Http(e) => PeerError::BadRequest {
                peer: peer.id.clone(),
                message: e.to_string(),
            },
            other => PeerError::Unreachable {
                peer: peer.id.clone(),
                message: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

    /// Echoes what it received: method, path, forwarded header, body.
    async fn echo(request: HttpRequest, body: web::Bytes) -> HttpResponse {
        let forwarded = request
            .headers()
            .get(FORWARDED_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let custom = request
            .headers()
            .get("x-custom")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        HttpResponse::Ok().json(serde_json::json!({
            "method": request.method().as_str(),
            "path": request.uri().to_string(),
            "forwarded": forwarded,
            "custom": custom,
            "body": String::from_utf8_lossy(&body),
        }))
    }

    async fn teapot() -> HttpResponse {
        HttpResponse::ServiceUnavailable().body("overloaded")
    }

    /// Never answers: the client's timeout is the only way out.
    async fn hang() -> HttpResponse {
        std::future::pending::<()>().await;
        HttpResponse::Ok().finish()
    }

    /// Must run inside an actix system (it spawns the server there).
    fn start_server() -> (Peer, actix_web::dev::ServerHandle) {
        let server = HttpServer::new(|| {
            App::new()
                .route("/hang", web::get().to(hang))
                .route("/busy", web::post().to(teapot))
                .default_service(web::to(echo))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        (Peer::new("n2", format!("http://{address}/")), handle)
    }

    #[actix_rt::test]
    async fn sends_json_and_marks_the_request_as_forwarded() {
        let (peer, server) = start_server();
        let client = PeerClient::new("n1", Duration::from_secs(30));
        let response = client
            .post_json(
                &peer,
                "/api/v1/projects/7/events?x=1",
                &serde_json::json!({"a": 1}),
            )
            .await
            .unwrap();
        assert!(response.is_success());
        assert_eq!(response.content_type.as_deref(), Some("application/json"));
        let echoed: serde_json::Value = response.json().unwrap();
        assert_eq!(echoed["method"], "POST");
        assert_eq!(echoed["path"], "/api/v1/projects/7/events?x=1");
        assert_eq!(echoed["forwarded"], "n1");
        assert_eq!(echoed["body"], r#"{"a":1}"#);

        // A caller cannot spoof the header: it is always this node's id.
        let request = PeerRequest::get("/anything")
            .header("X-Stackherd-Forwarded", "someone-else")
            .header("x-custom", "kept");
        let echoed: serde_json::Value = client.send(&peer, request).await.unwrap().json().unwrap();
        assert_eq!(echoed["method"], "GET");
        assert_eq!(echoed["forwarded"], "n1");
        assert_eq!(echoed["custom"], "kept");
        server.stop(false).await;
    }

    #[actix_rt::test]
    async fn error_statuses_are_answers_not_errors() {
        let (peer, server) = start_server();
        let client = PeerClient::new("n1", Duration::from_secs(30));
        let response = client
            .send(
                &peer,
                PeerRequest::post("/busy", "text/plain", b"x".to_vec()),
            )
            .await
            .unwrap();
        assert_eq!(response.status, 503);
        assert!(!response.is_success());
        assert_eq!(response.body, b"overloaded");
        assert!(matches!(
            response.json::<serde_json::Value>(),
            Err(PeerError::Decode(_))
        ));
        server.stop(false).await;
    }

    #[actix_rt::test]
    async fn a_peer_that_never_answers_times_out() {
        let (peer, server) = start_server();
        let client = PeerClient::new("n1", Duration::from_millis(200));
        let error = client
            .send(&peer, PeerRequest::get("/hang"))
            .await
            .unwrap_err();
        assert!(matches!(error, PeerError::Timeout { .. }), "{error:?}");
        assert!(error.is_unavailable());
        assert!(error.to_string().contains("n2"), "{error}");
        server.stop(false).await;
    }

    #[actix_rt::test]
    async fn a_closed_port_is_unreachable() {
        // Bind, note the port, close it: nothing listens there any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let peer = Peer::new("n3", format!("http://127.0.0.1:{port}"));
        let client = PeerClient::new("n1", Duration::from_secs(30));
        let error = client
            .send(&peer, PeerRequest::get("/health/ready"))
            .await
            .unwrap_err();
        assert!(matches!(error, PeerError::Unreachable { .. }), "{error:?}");
        assert!(error.is_unavailable());
    }

    #[actix_rt::test]
    async fn a_malformed_path_is_the_callers_error() {
        let peer = Peer::new("n3", "http://127.0.0.1:1");
        let client = PeerClient::new("n1", Duration::from_secs(1));
        let error = client
            .send(&peer, PeerRequest::get("no-slash"))
            .await
            .unwrap_err();
        assert!(matches!(error, PeerError::BadRequest { .. }), "{error:?}");
        assert!(!error.is_unavailable());
    }
}
