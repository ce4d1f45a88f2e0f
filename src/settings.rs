//! Settings: embedded defaults (`config/default.toml`), then an optional
//! file, then `STACKHERD__SECTION__KEY` environment variables. One struct,
//! validated once at start; nothing else reads the environment.

use crate::event::EventLimits;
use crate::text::TextLimits;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The defaults, embedded so the binary runs with no file at all.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Prefix of environment overrides: `STACKHERD__STORAGE__DATA_DIR`.
pub const ENV_PREFIX: &str = "STACKHERD";

#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("cannot read settings: {0}")]
    Load(String),
    #[error("invalid setting `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl SettingsError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub storage: StorageSettings,
    /// Vector indexes of the store (exact scan / HNSW).
    pub index: IndexSettings,
    pub limits: EventLimits,
    pub grouping: GroupingSettings,
    /// Model versions by name (`v1`, `v2`, `v2.1`, …).
    pub models: BTreeMap<String, ModelSettings>,
    pub consent: ConsentSettings,
    pub engine: EngineSettings,
    pub embedder: EmbedderSettings,
    /// The Sentry-compatible similarity API (`/v0/issues/similar-issues…`).
    pub similarity: SimilaritySettings,
    /// Rate limits of the HTTP API.
    pub rate_limits: RateLimitSettings,
    /// Projects that Sentry SDKs may send events to, by project id
    /// (`[projects.42] keys = ["…"]`). Keys created through the admin API
    /// are kept in the data directory, not here.
    #[serde(default)]
    pub projects: BTreeMap<String, ProjectSettings>,
    pub cluster: ClusterSettings,
}

/// How the live system (actors) is sized and paced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    pub shards: usize,
    pub project_threads: usize,
    pub project_idle_seconds: u64,
    pub mailbox_capacity: usize,
    pub request_timeout_ms: u64,
    pub ai_requests_per_second: f64,
    pub ai_burst: u32,
    pub retention_interval_seconds: u64,
}

/// The embedder pool of each model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderSettings {
    pub queue_capacity: usize,
    pub workers: usize,
    pub token_budget: usize,
    pub max_batch: usize,
    pub timeout_ms: u64,
    pub cache_capacity: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish.
    pub shutdown_timeout_seconds: u64,
    /// Largest Sentry envelope (compressed and decoded), native event batch
    /// or similarity backfill body, in bytes; every other body is bounded by
    /// `limits.max_body_bytes`, and so is each event inside these.
    pub max_bulk_body_bytes: usize,
    /// `Authorization: Bearer <token>` for the native API (`/api/v1`).
    /// Empty: the native API answers only clients on a loopback address.
    pub admin_token: String,
}

/// The similarity API's request signatures (see SEER_API.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimilaritySettings {
    /// Shared secrets for `Authorization: Rpcsignature rpc0:<hex>`; a
    /// signature made with any of them is accepted (rotation). In the
    /// environment, a comma-separated list.
    #[serde(deserialize_with = "string_list")]
    pub signature_secrets: Vec<String>,
    /// Reject requests without a signature (otherwise, as the reference
    /// service does, only a present signature is checked).
    pub signature_strict: bool,
}

/// Token buckets in front of the HTTP API; a rate of 0 means unlimited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Requests per second over every API route (health and metrics excluded).
    pub requests_per_second: f64,
    pub burst: u32,
    /// Requests per second per project (the path's or the body's project id).
    pub project_requests_per_second: f64,
    pub project_burst: u32,
}

/// One project's Sentry SDK settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// DSN public keys accepted for this project. In the environment, a
    /// comma-separated list (`STACKHERD__PROJECTS__42__KEYS=k1,k2`).
    #[serde(default, deserialize_with = "string_list")]
    pub keys: Vec<String>,
}

/// Shortest accepted `server.admin_token`: a guessable token is worse than
/// none, which at least limits the native API to loopback clients.
pub const MIN_ADMIN_TOKEN_BYTES: usize = 16;

/// Project id reserved for the readiness probe's test embedding; requests
/// naming it are refused.
pub const RESERVED_PROJECT_ID: u64 = u64::MAX;

/// A list of strings from a TOML array, or from one comma-separated string
/// (how environment variables carry lists). Numbers and booleans are taken
/// as their text, since the environment parser guesses types.
fn string_list<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Visitor;

    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of strings or a comma-separated string")
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_string)
                .collect())
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Ok(vec![value.to_string()])
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(vec![value.to_string()])
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                items.push(item);
            }
            Ok(items)
        }
    }

    deserializer.deserialize_any(Visitor)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub data_dir: PathBuf,
    pub retention_days: u32,
    /// Where provisioned models are installed (`manifest:` and `hf:` sources).
    pub model_cache_dir: PathBuf,
}

/// The store's per-(model version, project) vector indexes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSettings {
    /// `adaptive` (exact scan, then HNSW past `exact_max`), `exact` or `hnsw`.
    pub backend: crate::index::Backend,
    pub exact_max: usize,
    /// HNSW M.
    pub connectivity: usize,
    /// HNSW ef_construction.
    pub expansion_add: usize,
    /// HNSW ef_search.
    pub expansion_search: usize,
    /// Graph candidates rescored with exact distances.
    pub candidates: usize,
    /// Ask the kernel for huge pages on large graph memory (Linux; see
    /// `stackherd::index::memory`).
    pub huge_pages: bool,
    /// Search large graphs through a prefetching copy of their vectors and
    /// links (faster; one more copy in memory). See `stackherd::index::flat_graph`.
    pub search_copy: bool,
    /// Vectors per project acknowledged before they reach the graph.
    pub graph_staging: usize,
    /// Save graphs at shutdown (fast start-up) or rebuild them at start
    /// (smaller data directory).
    pub save_graphs: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupingSettings {
    pub default_model: String,
    pub stable_model: String,
    pub text_max_frames: usize,
    pub text_max_exceptions: usize,
    pub text_max_minified_js_frames: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    F16,
    Bf16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    pub source: String,
    pub dimensions: usize,
    pub threshold: f32,
    pub dtype: Dtype,
    pub device: String,
    pub max_tokens: usize,
    /// Base URL of the hub that `hf:` sources download from.
    #[serde(default = "default_hf_endpoint")]
    pub hf_endpoint: String,
}

fn default_hf_endpoint() -> String {
    "https://huggingface.co".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSettings {
    pub ai_grouping: bool,
    pub region: String,
    pub baa: bool,
}

/// Membership of a static cluster (`[cluster]`). No peers means one node
/// that owns every project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// This node's id; must be one of `peers` when there are peers.
    pub node_id: String,
    /// Every node of the cluster, this one included. Accepts a list of
    /// `{id, url}` tables or one string `"n1=http://n1:9091,n2=http://n2:9091"`
    /// (the form an environment variable can carry).
    #[serde(deserialize_with = "peers_from_list_or_text")]
    pub peers: Vec<PeerSettings>,
    /// Longest a forwarded request waits for the owner before the event is
    /// answered by fingerprint only (degraded, `owner_unreachable`).
    pub forward_timeout_ms: u64,
    /// First retry delay of an undelivered deletion; doubles per failure.
    pub deletion_retry_initial_ms: u64,
    /// Longest retry delay of an undelivered deletion.
    pub deletion_retry_max_ms: u64,
}

/// One node of the cluster: its id and the base URL other nodes call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSettings {
    pub id: String,
    pub url: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PeersForm {
    List(Vec<PeerSettings>),
    Text(String),
}

fn peers_from_list_or_text<'de, D>(deserializer: D) -> Result<Vec<PeerSettings>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    match PeersForm::deserialize(deserializer)? {
        PeersForm::List(peers) => Ok(peers),
        PeersForm::Text(text) => parse_peer_list(&text).map_err(serde::de::Error::custom),
    }
}

/// Parses `"n1=http://n1:9091,n2=http://n2:9091"` (commas or whitespace
/// between entries; an empty string is no peers).
pub fn parse_peer_list(text: &str) -> Result<Vec<PeerSettings>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (id, url) = entry.split_once('=').ok_or_else(|| {
                format!("cluster.peers: `{entry}` is not ID=URL (e.g. n1=http://n1:9091)")
            })?;
            Ok(PeerSettings {
                id: id.trim().to_string(),
                url: url.trim().to_string(),
            })
        })
        .collect()
}

impl ClusterSettings {
    /// Whether this node runs alone (no peer list).
    pub fn is_single_node(&self) -> bool {
        self.peers.is_empty()
    }

    fn validate(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("cluster.forward_timeout_ms", self.forward_timeout_ms),
            (
                "cluster.deletion_retry_initial_ms",
                self.deletion_retry_initial_ms,
            ),
            ("cluster.deletion_retry_max_ms", self.deletion_retry_max_ms),
        ] {
            if value == 0 {
                return Err(SettingsError::invalid(key, "must be greater than 0"));
            }
        }
        if self.deletion_retry_max_ms < self.deletion_retry_initial_ms {
            return Err(SettingsError::invalid(
                "cluster.deletion_retry_max_ms",
                format!(
                    "{} is below cluster.deletion_retry_initial_ms ({})",
                    self.deletion_retry_max_ms, self.deletion_retry_initial_ms
                ),
            ));
        }
        if !self.node_id.is_empty() {
            check_node_id("cluster.node_id", &self.node_id)?;
        }
        if self.peers.is_empty() {
            return Ok(());
        }
        let mut seen = std::collections::BTreeSet::new();
        for peer in &self.peers {
            check_node_id("cluster.peers", &peer.id)?;
            if !seen.insert(peer.id.as_str()) {
                return Err(SettingsError::invalid(
                    "cluster.peers",
                    format!("the id `{}` appears more than once", peer.id),
                ));
            }
            check_peer_url(&peer.id, &peer.url)?;
        }
        if self.node_id.is_empty() {
            return Err(SettingsError::invalid(
                "cluster.node_id",
                "must be set (one of cluster.peers) when cluster.peers is not empty",
            ));
        }
        if !seen.contains(self.node_id.as_str()) {
            return Err(SettingsError::invalid(
                "cluster.node_id",
                format!(
                    "`{}` is not one of cluster.peers ({})",
                    self.node_id,
                    seen.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// Node ids travel in headers and file names: letters, digits, `.`, `_`, `-`.
fn check_node_id(key: &str, id: &str) -> Result<(), SettingsError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(SettingsError::invalid(
            key,
            format!("`{id}` is not a node id (1 to 64 of A-Z a-z 0-9 . _ -)"),
        ))
    }
}

/// A peer's URL is `http://HOST:PORT` (a trailing `/` is allowed, nothing else).
fn check_peer_url(id: &str, url: &str) -> Result<(), SettingsError> {
    let fail = |why: &str| {
        SettingsError::invalid(
            "cluster.peers",
            format!("peer `{id}`: `{url}` is not http://HOST:PORT ({why})"),
        )
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| fail("must start with http://"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| fail("the port is missing"))?;
    let host_ok = !host.is_empty()
        && !host.contains(['/', '?', '#', '@', ' '])
        && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')));
    if !host_ok {
        return Err(fail("bad host"));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err(fail("bad port")),
    }
}

impl Settings {
    /// Defaults, then `file`, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let environment: HashMap<String, String> = std::env::vars()
            .filter(|(key, _)| key.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        Settings::load_from(file, environment)
    }

    /// Like [`Settings::load`] with an explicit environment (for tests and embedding).
    pub fn load_from(
        file: Option<&Path>,
        environment: HashMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(SettingsError::Load(format!(
                    "settings file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(environment)),
        );
        let merged = builder
            .build()
            .map_err(|e| SettingsError::Load(e.to_string()))?;
        let settings: Settings = merged
            .try_deserialize()
            .map_err(|e| SettingsError::Load(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The built-in defaults alone.
    pub fn defaults() -> Result<Settings, SettingsError> {
        Settings::load_from(None, HashMap::new())
    }

    /// Checks every value that the types alone cannot; errors name the key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(SettingsError::invalid(
                "server.listen",
                format!("`{}` is not an ADDRESS:PORT", self.server.listen),
            ));
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "storage.data_dir",
                "must not be empty",
            ));
        }
        if self.storage.model_cache_dir.as_os_str().is_empty() {
            return Err(SettingsError::invalid(
                "storage.model_cache_dir",
                "must not be empty",
            ));
        }
        if self.storage.retention_days == 0 {
            return Err(SettingsError::invalid(
                "storage.retention_days",
                "must be at least 1 day",
            ));
        }
        self.validate_limits()?;
        self.validate_index()?;
        self.validate_engine()?;
        self.validate_models()?;
        self.validate_http()?;
        self.cluster.validate()?;
        if self.consent.region.trim().is_empty() {
            return Err(SettingsError::invalid(
                "consent.region",
                "must not be empty",
            ));
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), SettingsError> {
        let limits = &self.limits;
        let positive = [
            ("limits.max_body_bytes", limits.max_body_bytes),
            ("limits.max_depth", limits.max_depth),
            ("limits.max_frames", limits.max_frames),
            ("limits.max_exceptions", limits.max_exceptions),
            ("limits.max_threads", limits.max_threads),
            ("limits.max_string_bytes", limits.max_string_bytes),
            ("grouping.text_max_frames", self.grouping.text_max_frames),
            (
                "grouping.text_max_exceptions",
                self.grouping.text_max_exceptions,
            ),
            (
                "grouping.text_max_minified_js_frames",
                self.grouping.text_max_minified_js_frames,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(SettingsError::invalid(key, "must be greater than 0"));
            }
        }
        Ok(())
    }

    fn validate_index(&self) -> Result<(), SettingsError> {
        let index = &self.index;
        if index.connectivity < 2 {
            return Err(SettingsError::invalid(
                "index.connectivity",
                "must be at least 2",
            ));
        }
        let positive = [
            ("index.expansion_add", index.expansion_add),
            ("index.expansion_search", index.expansion_search),
            ("index.candidates", index.candidates),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(SettingsError::invalid(key, "must be greater than 0"));
            }
        }
        if index.backend == crate::index::Backend::Hora && !cfg!(feature = "hora") {
            return Err(SettingsError::invalid(
                "index.backend",
                "`hora` needs a build with the `hora` cargo feature (comparison only)",
            ));
        }
        Ok(())
    }

    fn validate_engine(&self) -> Result<(), SettingsError> {
        let (engine, embedder) = (&self.engine, &self.embedder);
        let positive = [
            ("engine.shards", engine.shards),
            ("engine.project_threads", engine.project_threads),
            ("engine.mailbox_capacity", engine.mailbox_capacity),
            (
                "engine.request_timeout_ms",
                usize_of(engine.request_timeout_ms),
            ),
            (
                "engine.project_idle_seconds",
                usize_of(engine.project_idle_seconds),
            ),
            (
                "engine.retention_interval_seconds",
                usize_of(engine.retention_interval_seconds),
            ),
            ("embedder.queue_capacity", embedder.queue_capacity),
            ("embedder.workers", embedder.workers),
            ("embedder.token_budget", embedder.token_budget),
            ("embedder.max_batch", embedder.max_batch),
            ("embedder.timeout_ms", usize_of(embedder.timeout_ms)),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(SettingsError::invalid(key, "must be greater than 0"));
            }
        }
        let rate = engine.ai_requests_per_second;
        if !rate.is_finite() || rate < 0.0 {
            return Err(SettingsError::invalid(
                "engine.ai_requests_per_second",
                format!("{rate} is not a rate >= 0 (0 means unlimited)"),
            ));
        }
        if rate > 0.0 && engine.ai_burst == 0 {
            return Err(SettingsError::invalid(
                "engine.ai_burst",
                "must be at least 1 when engine.ai_requests_per_second is set",
            ));
        }
        Ok(())
    }

    fn validate_models(&self) -> Result<(), SettingsError> {
        if self.models.is_empty() {
            return Err(SettingsError::invalid(
                "models",
                "at least one model version is needed",
            ));
        }
        for (key, version) in [
            ("grouping.default_model", &self.grouping.default_model),
            ("grouping.stable_model", &self.grouping.stable_model),
        ] {
            if !self.models.contains_key(version) {
                return Err(SettingsError::invalid(
                    key,
                    format!(
                        "unknown model version `{version}` (configured: {})",
                        self.model_versions().join(", ")
                    ),
                ));
            }
        }
        for (name, model) in &self.models {
            model.validate(&format!("models.{name}"))?;
        }
        Ok(())
    }

    fn validate_http(&self) -> Result<(), SettingsError> {
        if self.server.max_bulk_body_bytes < self.limits.max_body_bytes {
            return Err(SettingsError::invalid(
                "server.max_bulk_body_bytes",
                format!(
                    "{} is less than limits.max_body_bytes ({})",
                    self.server.max_bulk_body_bytes, self.limits.max_body_bytes
                ),
            ));
        }
        let token = &self.server.admin_token;
        if !token.is_empty() && token.len() < MIN_ADMIN_TOKEN_BYTES {
            return Err(SettingsError::invalid(
                "server.admin_token",
                format!("must be empty (loopback only) or at least {MIN_ADMIN_TOKEN_BYTES} bytes"),
            ));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(SettingsError::invalid(
                "server.admin_token",
                "must not contain spaces or control characters",
            ));
        }
        let similarity = &self.similarity;
        crate::similarity::SignatureVerifier::new(
            &similarity.signature_secrets,
            similarity.signature_strict,
        )
        .map_err(|e| {
            let key = match e {
                crate::similarity::SignatureConfigError::StrictWithoutSecrets => {
                    "similarity.signature_strict"
                }
                crate::similarity::SignatureConfigError::EmptySecret { .. } => {
                    "similarity.signature_secrets"
                }
            };
            SettingsError::invalid(key, e.to_string())
        })?;
        let limits = &self.rate_limits;
        for (rate_key, rate, burst_key, burst) in [
            (
                "rate_limits.requests_per_second",
                limits.requests_per_second,
                "rate_limits.burst",
                limits.burst,
            ),
            (
                "rate_limits.project_requests_per_second",
                limits.project_requests_per_second,
                "rate_limits.project_burst",
                limits.project_burst,
            ),
        ] {
            if !rate.is_finite() || rate < 0.0 {
                return Err(SettingsError::invalid(
                    rate_key,
                    format!("{rate} is not a rate >= 0 (0 means unlimited)"),
                ));
            }
            if rate > 0.0 && burst == 0 {
                return Err(SettingsError::invalid(
                    burst_key,
                    format!("must be at least 1 when {rate_key} is set"),
                ));
            }
        }
        self.validate_projects()
    }

    fn validate_projects(&self) -> Result<(), SettingsError> {
        let mut owners: HashMap<&str, u64> = HashMap::new();
        for (id, project) in &self.projects {
            let key = format!("projects.{id}");
            let project_id = match id.parse::<u64>() {
                Ok(project_id) if project_id != RESERVED_PROJECT_ID => project_id,
                _ => {
                    return Err(SettingsError::invalid(
                        key,
                        "a project table must be named by its numeric project id",
                    ));
                }
            };
            for dsn_key in &project.keys {
                if !is_valid_dsn_key(dsn_key) {
                    return Err(SettingsError::invalid(
                        format!("{key}.keys"),
                        format!(
                            "a DSN key must be 1..={} characters of A-Z, a-z, 0-9, - and _",
                            crate::ingest::MAX_KEY_BYTES
                        ),
                    ));
                }
                if let Some(other) = owners.insert(dsn_key, project_id) {
                    if other != project_id {
                        return Err(SettingsError::invalid(
                            format!("{key}.keys"),
                            format!("a key is also configured for project {other}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// DSN keys configured for each project (`[projects.<id>]`), by id.
    pub fn project_keys(&self) -> BTreeMap<u64, Vec<String>> {
        self.projects
            .iter()
            .filter_map(|(id, project)| Some((id.parse().ok()?, project.keys.clone())))
            .collect()
    }

    /// Configured model version names, sorted.
    pub fn model_versions(&self) -> Vec<String> {
        self.models.keys().cloned().collect()
    }

    /// The settings of one model version, or an error naming the unknown one.
    pub fn model(&self, version: &str) -> Result<&ModelSettings, SettingsError> {
        self.models.get(version).ok_or_else(|| {
            SettingsError::invalid(
                "model",
                format!(
                    "unknown model version `{version}` (configured: {})",
                    self.model_versions().join(", ")
                ),
            )
        })
    }

    /// Creates the data directory if needed and proves it is writable.
    pub fn check_data_dir(&self) -> Result<(), SettingsError> {
        let dir = &self.storage.data_dir;
        let fail = |message: String| SettingsError::invalid("storage.data_dir", message);
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        let probe = dir.join(".stackherd-write-probe");
        std::fs::write(&probe, b"ok")
            .map_err(|e| fail(format!("{} is not writable: {e}", dir.display())))?;
        std::fs::remove_file(&probe)
            .map_err(|e| fail(format!("cannot clean up in {}: {e}", dir.display())))
    }

    pub fn event_limits(&self) -> EventLimits {
        self.limits.clone()
    }

    pub fn text_limits(&self) -> TextLimits {
        TextLimits {
            max_frames: self.grouping.text_max_frames,
            max_exceptions: self.grouping.text_max_exceptions,
            max_minified_js_frames: self.grouping.text_max_minified_js_frames,
        }
    }
}

/// What `stackherd::ingest` accepts as a `sentry_key`.
pub fn is_valid_dsn_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= crate::ingest::MAX_KEY_BYTES
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn usize_of(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

impl ModelSettings {
    fn validate(&self, key: &str) -> Result<(), SettingsError> {
        if !(0.0..=2.0).contains(&self.threshold) || !self.threshold.is_finite() {
            return Err(SettingsError::invalid(
                format!("{key}.threshold"),
                format!(
                    "{} is not a cosine distance between 0 and 2",
                    self.threshold
                ),
            ));
        }
        if self.dimensions == 0 {
            return Err(SettingsError::invalid(
                format!("{key}.dimensions"),
                "must be greater than 0",
            ));
        }
        if self.max_tokens < 8 {
            return Err(SettingsError::invalid(
                format!("{key}.max_tokens"),
                "must be at least 8",
            ));
        }
        let known_source = ["manifest:", "dir:", "hf:"]
            .iter()
            .any(|prefix| self.source.starts_with(prefix));
        if !known_source {
            return Err(SettingsError::invalid(
                format!("{key}.source"),
                format!("`{}` must start with manifest:, dir: or hf:", self.source),
            ));
        }
        let endpoint_ok = ["http://", "https://"].iter().any(|scheme| {
            self.hf_endpoint.len() > scheme.len() && self.hf_endpoint.starts_with(scheme)
        });
        if !endpoint_ok {
            return Err(SettingsError::invalid(
                format!("{key}.hf_endpoint"),
                format!("`{}` is not an http:// or https:// URL", self.hf_endpoint),
            ));
        }
        let device_ok = self.device == "cpu"
            || self.device == "cuda"
            || self
                .device
                .strip_prefix("cuda:")
                .is_some_and(|n| n.parse::<usize>().is_ok());
        if !device_ok {
            return Err(SettingsError::invalid(
                format!("{key}.device"),
                format!("`{}` is not cpu, cuda or cuda:N", self.device),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn error_key(result: Result<Settings, SettingsError>) -> String {
        match result {
            Err(SettingsError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid-setting error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_load_and_validate() {
        let settings = Settings::defaults().unwrap();
        assert_eq!(settings.server.listen, "127.0.0.1:9091");
        assert_eq!(settings.storage.data_dir, PathBuf::from("./data"));
        assert_eq!(settings.models["v1"].dimensions, 384);
        assert_eq!(settings.event_limits(), EventLimits::default());
    }

    #[test]
    fn environment_overrides_defaults() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("STACKHERD__STORAGE__DATA_DIR", "/tmp/elsewhere"),
                ("STACKHERD__MODELS__V1__THRESHOLD", "0.05"),
                ("STACKHERD__CONSENT__AI_GROUPING", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.storage.data_dir, PathBuf::from("/tmp/elsewhere"));
        assert!((settings.models["v1"].threshold - 0.05).abs() < 1e-6);
        assert!(!settings.consent.ai_grouping);
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stackherd.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"0.0.0.0:8000\"\n[models.v2]\nsource = \"dir:/m\"\ndimensions = 64\nthreshold = 0.02\ndtype = \"f32\"\ndevice = \"cpu\"\nmax_tokens = 512\n",
        )
        .unwrap();
        let settings = Settings::load_from(
            Some(&path),
            env(&[("STACKHERD__SERVER__LISTEN", "127.0.0.1:7000")]),
        )
        .unwrap();
        assert_eq!(settings.server.listen, "127.0.0.1:7000");
        assert_eq!(settings.model_versions(), vec!["v1", "v2"]);
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            (
                "STACKHERD__MODELS__V1__THRESHOLD",
                "-0.5",
                "models.v1.threshold",
            ),
            (
                "STACKHERD__GROUPING__DEFAULT_MODEL",
                "v9",
                "grouping.default_model",
            ),
            ("STACKHERD__SERVER__LISTEN", "nowhere", "server.listen"),
            ("STACKHERD__LIMITS__MAX_FRAMES", "0", "limits.max_frames"),
            ("STACKHERD__MODELS__V1__DEVICE", "tpu", "models.v1.device"),
            (
                "STACKHERD__MODELS__V1__SOURCE",
                "ftp://x",
                "models.v1.source",
            ),
            (
                "STACKHERD__MODELS__V1__HF_ENDPOINT",
                "hub.local",
                "models.v1.hf_endpoint",
            ),
            (
                "STACKHERD__STORAGE__MODEL_CACHE_DIR",
                "",
                "storage.model_cache_dir",
            ),
        ];
        for (variable, value, key) in cases {
            assert_eq!(
                error_key(Settings::load_from(None, env(&[(variable, value)]))),
                key
            );
        }
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        let unknown = Settings::load_from(None, env(&[("STACKHERD__SERVER__LISTN", "x")]));
        assert!(matches!(unknown, Err(SettingsError::Load(message)) if message.contains("listn")));
        let missing = Settings::load_from(Some(Path::new("/no/such/file.toml")), HashMap::new());
        assert!(matches!(missing, Err(SettingsError::Load(_))));
    }

    #[test]
    fn http_settings_defaults_lists_and_projects() {
        let settings = Settings::defaults().unwrap();
        assert_eq!(settings.server.workers, 0);
        assert!(settings.server.admin_token.is_empty());
        assert!(settings.similarity.signature_secrets.is_empty());
        assert!(!settings.similarity.signature_strict);
        assert!(settings.rate_limits.requests_per_second.abs() < f64::EPSILON);
        assert!(settings.project_keys().is_empty());

        // Lists come from the environment as comma-separated strings.
        let settings = Settings::load_from(
            None,
            env(&[
                (
                    "STACKHERD__SIMILARITY__SIGNATURE_SECRETS",
                    "new-secret, old-secret",
                ),
                ("STACKHERD__SIMILARITY__SIGNATURE_STRICT", "true"),
                ("STACKHERD__PROJECTS__42__KEYS", "abc123,def456"),
                ("STACKHERD__SERVER__ADMIN_TOKEN", "0123456789abcdef-admin"),
            ]),
        )
        .unwrap();
        assert_eq!(
            settings.similarity.signature_secrets,
            vec!["new-secret", "old-secret"]
        );
        assert!(settings.similarity.signature_strict);
        assert_eq!(
            settings.project_keys(),
            BTreeMap::from([(42, vec!["abc123".to_string(), "def456".to_string()])])
        );

        // And as TOML arrays from a file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stackherd.toml");
        std::fs::write(
            &path,
            "[similarity]\nsignature_secrets = [\"s1\", \"s2\"]\n[projects.7]\nkeys = [\"k7\"]\n[rate_limits]\nproject_requests_per_second = 5.0\nproject_burst = 10\n",
        )
        .unwrap();
        let settings = Settings::load_from(Some(&path), HashMap::new()).unwrap();
        assert_eq!(settings.similarity.signature_secrets, vec!["s1", "s2"]);
        assert_eq!(settings.project_keys()[&7], vec!["k7"]);
        assert!((settings.rate_limits.project_requests_per_second - 5.0).abs() < f64::EPSILON);
    }

    #[test]
    fn invalid_http_settings_name_their_key() {
        let cases: [(&[(&str, &str)], &str); 8] = [
            (
                &[("STACKHERD__SIMILARITY__SIGNATURE_STRICT", "true")],
                "similarity.signature_strict",
            ),
            (
                &[("STACKHERD__SERVER__ADMIN_TOKEN", "short")],
                "server.admin_token",
            ),
            (
                &[("STACKHERD__SERVER__MAX_BULK_BODY_BYTES", "10")],
                "server.max_bulk_body_bytes",
            ),
            (
                &[("STACKHERD__RATE_LIMITS__REQUESTS_PER_SECOND", "-1")],
                "rate_limits.requests_per_second",
            ),
            (
                &[
                    ("STACKHERD__RATE_LIMITS__PROJECT_REQUESTS_PER_SECOND", "5"),
                    ("STACKHERD__RATE_LIMITS__PROJECT_BURST", "0"),
                ],
                "rate_limits.project_burst",
            ),
            (&[("STACKHERD__PROJECTS__ABC__KEYS", "k1")], "projects.abc"),
            (
                &[("STACKHERD__PROJECTS__5__KEYS", "bad key!")],
                "projects.5.keys",
            ),
            (
                &[
                    ("STACKHERD__PROJECTS__5__KEYS", "shared"),
                    ("STACKHERD__PROJECTS__6__KEYS", "shared"),
                ],
                "projects.6.keys",
            ),
        ];
        for (pairs, key) in cases {
            assert_eq!(
                error_key(Settings::load_from(None, env(pairs))),
                key,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn unknown_model_version_is_a_clear_error() {
        let settings = Settings::defaults().unwrap();
        let error = settings.model("v7").unwrap_err().to_string();
        assert!(error.contains("v7") && error.contains("v1"), "{error}");
    }

    #[test]
    fn cluster_defaults_to_a_single_node() {
        let settings = Settings::defaults().unwrap();
        assert!(settings.cluster.is_single_node());
        assert_eq!(settings.cluster.node_id, "");
        assert!(settings.cluster.forward_timeout_ms > settings.engine.request_timeout_ms);
        assert!(
            settings.cluster.deletion_retry_max_ms >= settings.cluster.deletion_retry_initial_ms
        );
    }

    fn three_peers() -> Vec<PeerSettings> {
        ["n1", "n2", "n3"]
            .iter()
            .map(|id| PeerSettings {
                id: (*id).to_string(),
                url: format!("http://{id}:9091"),
            })
            .collect()
    }

    #[test]
    fn cluster_peers_from_the_environment_string_form() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("STACKHERD__CLUSTER__NODE_ID", "n2"),
                (
                    "STACKHERD__CLUSTER__PEERS",
                    "n1=http://n1:9091, n2=http://n2:9091,n3=http://n3:9091",
                ),
                ("STACKHERD__CLUSTER__FORWARD_TIMEOUT_MS", "1500"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.cluster.node_id, "n2");
        assert_eq!(settings.cluster.peers, three_peers());
        assert_eq!(settings.cluster.forward_timeout_ms, 1500);
        assert!(!settings.cluster.is_single_node());
    }

    #[test]
    fn cluster_peers_from_a_file_as_tables_or_string() {
        let dir = tempfile::tempdir().unwrap();
        let tables = dir.path().join("tables.toml");
        std::fs::write(
            &tables,
            "[cluster]\nnode_id = \"n1\"\npeers = [\n  { id = \"n1\", url = \"http://n1:9091\" },\n  { id = \"n2\", url = \"http://n2:9091\" },\n  { id = \"n3\", url = \"http://n3:9091/\" },\n]\n",
        )
        .unwrap();
        let settings = Settings::load_from(Some(&tables), HashMap::new()).unwrap();
        assert_eq!(settings.cluster.peers.len(), 3);
        assert_eq!(settings.cluster.peers[2].url, "http://n3:9091/");
        let text = dir.path().join("text.toml");
        std::fs::write(
            &text,
            "[cluster]\nnode_id = \"n3\"\npeers = \"n1=http://n1:9091,n2=http://n2:9091,n3=http://n3:9091\"\n",
        )
        .unwrap();
        let settings = Settings::load_from(Some(&text), HashMap::new()).unwrap();
        assert_eq!(settings.cluster.peers, three_peers());
        // The environment replaces the file's list as a whole.
        let settings = Settings::load_from(
            Some(&tables),
            env(&[("STACKHERD__CLUSTER__PEERS", "n1=http://10.0.0.1:9091")]),
        )
        .unwrap();
        assert_eq!(settings.cluster.peers.len(), 1);
        assert_eq!(settings.cluster.peers[0].url, "http://10.0.0.1:9091");
    }

    #[test]
    fn an_empty_peer_string_is_a_single_node() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("STACKHERD__CLUSTER__PEERS", ""),
                ("STACKHERD__CLUSTER__NODE_ID", "solo"),
            ]),
        )
        .unwrap();
        assert!(settings.cluster.is_single_node());
    }

    #[test]
    fn invalid_cluster_settings_name_their_key() {
        let peers = "n1=http://n1:9091,n2=http://n2:9091";
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("STACKHERD__CLUSTER__PEERS", peers)], "cluster.node_id"),
            (
                &[
                    ("STACKHERD__CLUSTER__PEERS", peers),
                    ("STACKHERD__CLUSTER__NODE_ID", "n9"),
                ],
                "cluster.node_id",
            ),
            (
                &[
                    ("STACKHERD__CLUSTER__PEERS", "n1=http://a:1,n1=http://b:2"),
                    ("STACKHERD__CLUSTER__NODE_ID", "n1"),
                ],
                "cluster.peers",
            ),
            (
                &[
                    ("STACKHERD__CLUSTER__PEERS", "n1=https://a:1"),
                    ("STACKHERD__CLUSTER__NODE_ID", "n1"),
                ],
                "cluster.peers",
            ),
            (
                &[
                    ("STACKHERD__CLUSTER__PEERS", "n1=http://a"),
                    ("STACKHERD__CLUSTER__NODE_ID", "n1"),
                ],
                "cluster.peers",
            ),
            (
                &[
                    ("STACKHERD__CLUSTER__PEERS", "n1=http://a:99999"),
                    ("STACKHERD__CLUSTER__NODE_ID", "n1"),
                ],
                "cluster.peers",
            ),
            (
                &[
                    ("STACKHERD__CLUSTER__PEERS", "n1=http://a:80/path"),
                    ("STACKHERD__CLUSTER__NODE_ID", "n1"),
                ],
                "cluster.peers",
            ),
            (
                &[
                    ("STACKHERD__CLUSTER__PEERS", "n/1=http://a:80"),
                    ("STACKHERD__CLUSTER__NODE_ID", "n1"),
                ],
                "cluster.peers",
            ),
            (
                &[("STACKHERD__CLUSTER__NODE_ID", "no/slash")],
                "cluster.node_id",
            ),
            (
                &[("STACKHERD__CLUSTER__FORWARD_TIMEOUT_MS", "0")],
                "cluster.forward_timeout_ms",
            ),
            (
                &[
                    ("STACKHERD__CLUSTER__DELETION_RETRY_INITIAL_MS", "5000"),
                    ("STACKHERD__CLUSTER__DELETION_RETRY_MAX_MS", "1000"),
                ],
                "cluster.deletion_retry_max_ms",
            ),
        ];
        for (variables, key) in cases {
            assert_eq!(
                error_key(Settings::load_from(None, env(variables))),
                *key,
                "{variables:?}"
            );
        }
        // An entry without `=` cannot even be parsed; the message names the key.
        let malformed = Settings::load_from(None, env(&[("STACKHERD__CLUSTER__PEERS", "n1")]));
        assert!(
            matches!(&malformed, Err(SettingsError::Load(m)) if m.contains("cluster.peers")),
            "{malformed:?}"
        );
    }

    #[test]
    fn unwritable_data_dir_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let mut settings = Settings::defaults().unwrap();
        settings.storage.data_dir = file.join("below-a-file");
        let error = settings.check_data_dir().unwrap_err().to_string();
        assert!(error.contains("storage.data_dir"), "{error}");
        settings.storage.data_dir = dir.path().join("fresh");
        settings.check_data_dir().unwrap();
    }
}
