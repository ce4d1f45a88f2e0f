//! What every handler shares: settings, the node (once loaded), the
//! signature verifier, DSN keys, rate limits, metrics and recent results.

use super::error::ApiError;
use super::keys::{KeyError, KeyStore};
use super::limits::RateLimiter;
use super::metrics::HttpMetrics;
use crate::cluster::{Cluster, ClusterError};
use crate::engine::{GroupResult, Node};
use stackherd::fingerprint::Fingerprinter;
use stackherd::settings::{RESERVED_PROJECT_ID, Settings};
use stackherd::similarity::{SignatureConfigError, SignatureVerifier};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long clients are told to wait while the models load.
const LOADING_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Grouping results kept in memory for `GET /api/v1/projects/{id}/events/{event_id}`.
pub const RECENT_EVENTS: usize = 10_000;

/// Why the HTTP service cannot be set up.
#[derive(Debug, Error)]
pub enum SetupError {
    #[error("invalid setting `{key}`: {message}")]
    Settings { key: &'static str, message: String },
    #[error("DSN keys: {0}")]
    Keys(#[from] KeyError),
    #[error("cluster: {0}")]
    Cluster(#[from] ClusterError),
}

impl From<SignatureConfigError> for SetupError {
    fn from(error: SignatureConfigError) -> Self {
        let key = match error {
            SignatureConfigError::StrictWithoutSecrets => "similarity.signature_strict",
            SignatureConfigError::EmptySecret { .. } => "similarity.signature_secrets",
        };
        SetupError::Settings {
            key,
            message: error.to_string(),
        }
    }
}

/// The engine's life cycle as the HTTP service sees it.
#[derive(Debug, Clone)]
pub enum NodeStatus {
    /// The store is opening and the models are loading.
    Loading,
    Ready(Arc<Node>),
    /// The node could not start; the message says why.
    Failed(String),
    /// Shutting down: the node has been handed to the shutdown.
    Stopping,
}

/// Shared state of the HTTP service; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub settings: Settings,
    pub node: RwLock<NodeStatus>,
    pub verifier: SignatureVerifier,
    pub keys: KeyStore,
    pub limiter: RateLimiter,
    pub metrics: HttpMetrics,
    pub recent: RecentEvents,
    pub probe: Mutex<Option<(Instant, Result<(), ApiError>)>>,
    pub started: Instant,
    /// This node's view of the cluster (one node owning every project
    /// when no peers are configured).
    pub cluster: Arc<Cluster>,
    /// Groups events by fingerprint alone when their owner is unreachable.
    pub fingerprinter: Fingerprinter,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("listen", &self.0.settings.server.listen)
            .field("verifier", &self.0.verifier)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for `settings`, with the node still loading. Creates the data
    /// directory, loads the DSN keys kept there and opens the cluster
    /// (its ring and pending-deletion log).
    pub fn new(settings: Settings) -> Result<AppState, SetupError> {
        settings
            .check_data_dir()
            .map_err(|e| SetupError::Settings {
                key: "storage.data_dir",
                message: e.to_string(),
            })?;
        let verifier = SignatureVerifier::new(
            &settings.similarity.signature_secrets,
            settings.similarity.signature_strict,
        )?;
        let keys = KeyStore::open(&settings.storage.data_dir, &settings.project_keys())?;
        let cluster = Arc::new(Cluster::open(&settings)?);
        Ok(AppState(Arc::new(Shared {
            limiter: RateLimiter::new(&settings.rate_limits),
            settings,
            node: RwLock::new(NodeStatus::Loading),
            verifier,
            keys,
            metrics: HttpMetrics::default(),
            recent: RecentEvents::new(RECENT_EVENTS),
            probe: Mutex::new(None),
            started: Instant::now(),
            cluster,
            fingerprinter: Fingerprinter::default(),
        })))
    }

    /// State serving an already started node (tests, embedding hosts).
    /// `settings` are the HTTP settings; the node keeps its own.
    pub fn with_node(settings: Settings, node: Arc<Node>) -> Result<AppState, SetupError> {
        let state = AppState::new(settings)?;
        state.set_node(node);
        Ok(state)
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub fn status(&self) -> NodeStatus {
        self.0
            .node
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The node is loaded: requests are served from now on.
    pub fn set_node(&self, node: Arc<Node>) {
        *self.0.node.write().unwrap_or_else(PoisonError::into_inner) = NodeStatus::Ready(node);
    }

    /// The node could not start.
    pub fn set_failed(&self, message: impl Into<String>) {
        *self.0.node.write().unwrap_or_else(PoisonError::into_inner) =
            NodeStatus::Failed(message.into());
    }

    /// Takes the node for shutdown; requests are answered 503 from now on.
    pub fn take_node(&self) -> Option<Arc<Node>> {
        let mut status = self.0.node.write().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *status, NodeStatus::Stopping) {
            NodeStatus::Ready(node) => Some(node),
            NodeStatus::Failed(message) => {
                *status = NodeStatus::Failed(message);
                None
            }
            NodeStatus::Loading | NodeStatus::Stopping => None,
        }
    }

    /// The node, or 503 while it loads or stops.
    pub(crate) fn node(&self) -> Result<Arc<Node>, ApiError> {
        match self.status() {
            NodeStatus::Ready(node) => Ok(node),
            NodeStatus::Loading => Err(ApiError::Unavailable {
                message: "the store is opening and the models are loading; retry shortly"
                    .to_string(),
                retry_after: Some(LOADING_RETRY_AFTER),
            }),
            NodeStatus::Failed(message) => Err(ApiError::Unavailable {
                message: format!("the engine failed to start: {message}"),
                retry_after: None,
            }),
            NodeStatus::Stopping => Err(ApiError::Unavailable {
                message: "the server is shutting down".to_string(),
                retry_after: Some(Duration::from_secs(1)),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.0
    }

    pub fn keys(&self) -> &KeyStore {
        &self.0.keys
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.0.cluster
    }
}

/// Checks a project id from a request (reserved ids are refused).
pub fn check_project_id(field: &str, project: u64) -> Result<u64, ApiError> {
    if project == RESERVED_PROJECT_ID {
        return Err(ApiError::invalid_field(
            field,
            format!("project id {project} is reserved"),
        ));
    }
    Ok(project)
}

/// Parses a project id from a path segment.
pub fn parse_project_id(segment: &str) -> Result<u64, ApiError> {
    let project = segment.parse::<u64>().map_err(|_| {
        ApiError::invalid_field(
            "project_id",
            format!("`{}` is not a non-negative integer", shorten(segment)),
        )
    })?;
    check_project_id("project_id", project)
}

fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or_default()),
        None => text.to_string(),
    }
}

/// Insertion order, and the results by (project, event id).
type Recent = (VecDeque<(u64, String)>, HashMap<(u64, String), GroupResult>);

/// The last grouping results by (project, event id), oldest evicted first.
#[derive(Debug)]
pub struct RecentEvents {
    capacity: usize,
    inner: Mutex<Recent>,
}

impl RecentEvents {
    pub fn new(capacity: usize) -> RecentEvents {
        RecentEvents {
            capacity,
            inner: Mutex::new((VecDeque::new(), HashMap::new())),
        }
    }

    pub fn insert(&self, project: u64, event_id: &str, result: &GroupResult) {
        if self.capacity == 0 {
            return;
        }
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (order, results) = &mut *guard;
        let key = (project, event_id.to_string());
        if results.insert(key.clone(), result.clone()).is_none() {
            order.push_back(key);
        }
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                results.remove(&old);
            }
        }
    }

    pub fn get(&self, project: u64, event_id: &str) -> Option<GroupResult> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard.1.get(&(project, event_id.to_string())).cloned()
    }

    /// Forgets a project's results (after the project is deleted).
    pub fn forget_project(&self, project: u64) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (order, results) = &mut *guard;
        order.retain(|(p, _)| *p != project);
        results.retain(|(p, _), _| *p != project);
    }
}

/// A Sentry event id as stored: 32 lowercase hex digits (a UUID with or
/// without dashes is accepted); anything else gets a fresh random id.
pub fn normalize_event_id(id: Option<&str>) -> String {
    if let Some(id) = id {
        let hex: String = id.chars().filter(|c| *c != '-').collect();
        if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return hex.to_ascii_lowercase();
        }
    }
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::GroupingMethod;

    fn result(issue: &str) -> GroupResult {
        GroupResult {
            project: 1,
            issue: issue.to_string(),
            hash: issue.to_string(),
            method: GroupingMethod::Fingerprint,
        }
    }

    #[test]
    fn recent_events_evict_the_oldest() {
        let recent = RecentEvents::new(2);
        recent.insert(1, "a", &result("a"));
        recent.insert(1, "b", &result("b"));
        recent.insert(1, "c", &result("c"));
        assert!(recent.get(1, "a").is_none());
        assert_eq!(recent.get(1, "c").map(|r| r.issue), Some("c".to_string()));
        recent.forget_project(1);
        assert!(recent.get(1, "c").is_none());
    }

    #[test]
    fn event_ids_are_normalized_or_generated() {
        assert_eq!(
            normalize_event_id(Some("FC6D8C0C-43FC-4630-8DB4-ED0D9B59DB25")),
            "fc6d8c0c43fc46308db4ed0d9b59db25"
        );
        let generated = normalize_event_id(Some("not an id"));
        assert_eq!(generated.len(), 32);
        assert_ne!(generated, normalize_event_id(None));
    }

    #[test]
    fn project_ids_from_paths() {
        assert!(parse_project_id("42").is_ok());
        assert!(parse_project_id("-1").is_err());
        assert!(parse_project_id("abc").is_err());
        assert!(parse_project_id(&u64::MAX.to_string()).is_err());
    }
}
