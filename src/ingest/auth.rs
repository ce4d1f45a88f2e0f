//! DSN key auth of the Sentry SDK protocol.
//!
//! SDKs identify a project with the public key of its DSN
//! (`http://<key>@host/<project>`), sent in one of three places:
//!
//! * `X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7, sentry_client=<sdk>`
//! * `Authorization`, with the same `Sentry …` value (some SDKs and proxies)
//! * the query string, `?sentry_key=<key>&sentry_version=7` (browsers, which
//!   cannot set headers on beacons)
//!
//! The first present source wins, in that order. A source that is present but
//! malformed is an error rather than a reason to look further, so a client's
//! mistake is reported instead of masked.

use super::shorten;
use thiserror::Error;

/// Longest accepted key. Sentry's are 32 hex digits.
pub const MAX_KEY_BYTES: usize = 128;

/// Where a key came from (for error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSource {
    XSentryAuth,
    Authorization,
    Query,
    Dsn,
}

impl std::fmt::Display for AuthSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthSource::XSentryAuth => "X-Sentry-Auth header",
            AuthSource::Authorization => "Authorization header",
            AuthSource::Query => "query string",
            AuthSource::Dsn => "DSN",
        })
    }
}

/// Why a request carries no usable key (HTTP 401) or a DSN is invalid.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no sentry_key: send X-Sentry-Auth, a `Sentry` Authorization header, or ?sentry_key=")]
    Missing,
    #[error("malformed {origin}: {message}")]
    Malformed { origin: AuthSource, message: String },
}

impl AuthError {
    fn malformed(origin: AuthSource, message: impl Into<String>) -> Self {
        AuthError::Malformed {
            origin,
            message: message.into(),
        }
    }
}

/// The fields of a `Sentry …` auth value. Fields other than these are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentryAuth {
    pub key: String,
    pub version: Option<String>,
    pub client: Option<String>,
    /// Legacy; modern SDKs do not send it and it is never required.
    pub secret: Option<String>,
}

impl SentryAuth {
    /// Parses `Sentry sentry_key=…, sentry_version=…`. The `Sentry` prefix
    /// is optional for `X-Sentry-Auth` (old SDKs omit it) and required for
    /// `Authorization`, which other schemes share.
    pub fn parse(value: &str, source: AuthSource) -> Result<Self, AuthError> {
        let pairs = match (strip_scheme(value), source) {
            (Some(pairs), _) => pairs,
            (None, AuthSource::XSentryAuth) => value.trim(),
            (None, _) => {
                return Err(AuthError::malformed(source, "the scheme is not `Sentry`"));
            }
        };
        let (mut key, mut version, mut client, mut secret) = (None, None, None, None);
        for pair in pairs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, raw)) = pair.split_once('=') else {
                return Err(AuthError::malformed(
                    source,
                    format!("`{}` is not name=value", shorten(pair)),
                ));
            };
            let name = name.trim();
            let value = unquote(raw.trim()).to_string();
            let slot = match name {
                "sentry_key" => &mut key,
                "sentry_version" => &mut version,
                "sentry_client" => &mut client,
                "sentry_secret" => &mut secret,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(AuthError::malformed(
                    source,
                    format!("{name} is given twice"),
                ));
            }
        }
        Ok(SentryAuth {
            key: validate_key(key, source)?,
            version,
            client,
            secret,
        })
    }
}

/// The project's public key from the request, trying `X-Sentry-Auth`, then a
/// `Sentry` `Authorization` header, then `sentry_key` in `query` (with or
/// without its leading `?`). An `Authorization` header of another scheme is
/// not ours and is skipped.
pub fn public_key(
    auth_header: Option<&str>,
    authorization: Option<&str>,
    query: &str,
) -> Result<String, AuthError> {
    if let Some(value) = auth_header {
        return SentryAuth::parse(value, AuthSource::XSentryAuth).map(|auth| auth.key);
    }
    if let Some(value) = authorization.filter(|v| strip_scheme(v).is_some()) {
        return SentryAuth::parse(value, AuthSource::Authorization).map(|auth| auth.key);
    }
    match query_value(query, "sentry_key")? {
        Some(key) => validate_key(Some(key), AuthSource::Query),
        None => Err(AuthError::Missing),
    }
}

/// The text after a case-insensitive `Sentry ` scheme, if it has one.
fn strip_scheme(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_once(char::is_whitespace)?;
    scheme.eq_ignore_ascii_case("sentry").then_some(rest)
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Keys are compared with configured ones and logged: 1..=128 characters
/// of `[A-Za-z0-9_-]`.
fn validate_key(key: Option<String>, source: AuthSource) -> Result<String, AuthError> {
    let Some(key) = key else {
        return Err(AuthError::malformed(source, "sentry_key is missing"));
    };
    let safe = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if key.is_empty() || key.len() > MAX_KEY_BYTES || !safe {
        return Err(AuthError::malformed(
            source,
            format!("sentry_key must be 1..={MAX_KEY_BYTES} characters of A-Z, a-z, 0-9, - and _"),
        ));
    }
    Ok(key)
}

/// The first value of `name` in a query string, percent-decoded.
fn query_value(query: &str, name: &str) -> Result<Option<String>, AuthError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    for pair in query.split('&') {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(raw_name).as_deref() == Some(name) {
            return percent_decode(raw_value).map(Some).ok_or_else(|| {
                AuthError::malformed(
                    AuthSource::Query,
                    format!("{name} is not valid percent-encoding"),
                )
            });
        }
    }
    Ok(None)
}

/// `application/x-www-form-urlencoded` decoding; `None` on a bad escape or
/// a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let high = hex_digit(bytes.next()?)?;
                let low = hex_digit(bytes.next()?)?;
                out.push(high << 4 | low);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A parsed DSN: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]{path}/{project_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// `http` or `https`.
    pub scheme: String,
    pub public_key: String,
    pub secret_key: Option<String>,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The explicit port, or the scheme's default.
    pub port: u16,
    /// Path before the project id, without a trailing slash (usually empty).
    pub path: String,
    pub project_id: u64,
}

impl Dsn {
    /// Parses a DSN such as `http://abc123@localhost:9091/42`.
    pub fn parse(dsn: &str) -> Result<Self, AuthError> {
        let bad = |message: &str| AuthError::malformed(AuthSource::Dsn, message);
        let (scheme, rest) = dsn
            .trim()
            .split_once("://")
            .ok_or_else(|| bad("no scheme (expected http:// or https://)"))?;
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad("the scheme is not http or https")),
        };
        // Query and fragment carry nothing a DSN needs.
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (userinfo, location) = rest
            .split_once('@')
            .ok_or_else(|| bad("no public key (expected <key>@ before the host)"))?;
        let (public_key, secret_key) = match userinfo.split_once(':') {
            Some((key, secret)) => (key, Some(secret.to_string())),
            None => (userinfo, None),
        };
        let public_key = validate_key(Some(public_key.to_string()), AuthSource::Dsn)?;
        let (authority, path) = location.split_once('/').unwrap_or((location, ""));
        let (host, port) = split_authority(authority, default_port)?;
        let (path, project_id) = split_project(path)?;
        Ok(Dsn {
            scheme: scheme.to_string(),
            public_key,
            secret_key,
            host,
            port,
            path,
            project_id,
        })
    }

    /// `{scheme}://{host}:{port}{path}/api/{project_id}/envelope/`.
    pub fn envelope_url(&self) -> String {
        format!("{}/api/{}/envelope/", self.base_url(), self.project_id)
    }

    /// `{scheme}://{host}:{port}{path}/api/{project_id}/store/`.
    pub fn store_url(&self) -> String {
        format!("{}/api/{}/store/", self.base_url(), self.project_id)
    }

    /// The `X-Sentry-Auth` value an SDK named `client` would send.
    pub fn auth_header(&self, client: &str) -> String {
        format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client={client}",
            self.public_key
        )
    }

    fn base_url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{host}:{}{}", self.scheme, self.port, self.path)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_authority(authority: &str, default_port: u16) -> Result<(String, u16), AuthError> {
    let bad = |message: &str| AuthError::malformed(AuthSource::Dsn, message);
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in the host"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| bad("the port is not 0..=65535"))?,
        None => default_port,
    };
    Ok((host.to_string(), port))
}

/// `prefix/segments/42` → (`/prefix/segments`, 42). A trailing slash is tolerated.
fn split_project(path: &str) -> Result<(String, u64), AuthError> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let (prefix, last) = match path.rsplit_once('/') {
        Some((prefix, last)) => (format!("/{prefix}"), last),
        None => (String::new(), path),
    };
    let project_id = last.parse().map_err(|_| {
        AuthError::malformed(
            AuthSource::Dsn,
            "the path does not end in a numeric project id",
        )
    })?;
    Ok((prefix, project_id))
}
