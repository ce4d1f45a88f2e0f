//! The cluster: which node owns a project, forwarding to it, and deletions
//! that reach every node (DESIGN.md, "Cluster").
//!
//! ```text
//! request ─► Cluster::route(project, forwarded_by)
//!              ├─ Local ─────────────► Node (this process)
//!              └─ Forward(owner) ─► PeerClient ─► owner's HTTP API
//!                                        └─ unreachable / timeout ─► degraded_result()
//!                                           (fingerprint only, `owner_unreachable`)
//!
//! deletion ─► Cluster::schedule_deletion ─► PendingDeletions (fsync) ─► apply locally
//!                                              │
//!                     retry loop ◄─────────────┘ ─► DeletionSink ─► each other node
//! ```
//!
//! The pieces are independent of the HTTP layer: it owns a [`Cluster`],
//! calls [`Cluster::route`] for each project-scoped request, forwards with
//! [`Cluster::forward`], answers [`degraded_result`] when the owner cannot
//! be reached, implements the receiving side of [`DELETIONS_PATH`] with
//! [`apply_deletion`], and starts [`Cluster::spawn_retry_loop`] with a
//! [`PeerDeletionSink`].

pub mod peer_client;
pub mod pending;
pub mod ring;

pub use peer_client::{FORWARDED_HEADER, Method, PeerClient, PeerError, PeerRequest, PeerResponse};
pub use pending::{
    Backoff, Deletion, DeletionKind, PendingDeletion, PendingDeletions, PendingError,
};
pub use ring::{Peer, Ring, RingError};

use crate::engine::{DegradedReason, EngineError, GroupResult, GroupingMethod, Node};
use serde::{Deserialize, Serialize};
use stackherd::event::Event;
use stackherd::fingerprint::Fingerprinter;
use stackherd::settings::{ClusterSettings, Settings};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::Notify;

/// Where a node receives deletions from other nodes (POST, a
/// [`DeletionNotice`] as JSON; answered 200 once applied and durable).
pub const DELETIONS_PATH: &str = "/internal/v1/cluster/deletions";

/// The pending-deletion log, under the data directory.
pub const PENDING_FILE: &str = "cluster/pending-deletions.log";

/// How long the retry loop sleeps when nothing is pending (a new deletion
/// wakes it at once).
const IDLE_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("cluster settings: {0}")]
    Ring(#[from] RingError),
    #[error(transparent)]
    Pending(#[from] PendingError),
    #[error("the pending-deletion log is unusable: a thread panicked while holding it")]
    Poisoned,
    #[error("a blocking task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Where a project-scoped request is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// On this node.
    Local,
    /// On its owner; forward it there.
    Forward(&'a Peer),
}

/// The body of a node-to-node deletion ([`DELETIONS_PATH`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionNotice {
    /// The id in the sender's pending log (for logs only: applying a
    /// deletion twice is harmless).
    pub id: u64,
    /// The node that recorded it.
    pub origin: String,
    pub kind: DeletionKind,
}

/// A delivery failed; it will be retried.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// Delivers a deletion to the node that must apply it. `Ok` only once the
/// target has applied it durably (its acknowledgement).
pub trait DeletionSink: Send + Sync + 'static {
    fn deliver(
        &self,
        target: &Peer,
        deletion: &Deletion,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// The real sink: POSTs a [`DeletionNotice`] to the target's
/// [`DELETIONS_PATH`]; a 2xx answer is the acknowledgement.
#[derive(Debug, Clone)]
pub struct PeerDeletionSink {
    client: PeerClient,
}

impl PeerDeletionSink {
    pub fn new(client: PeerClient) -> PeerDeletionSink {
        PeerDeletionSink { client }
    }
}

impl DeletionSink for PeerDeletionSink {
    async fn deliver(&self, target: &Peer, deletion: &Deletion) -> Result<(), DeliveryError> {
        let notice = DeletionNotice {
            id: deletion.id,
            origin: self.client.local_id().to_string(),
            kind: deletion.kind.clone(),
        };
        let response = self
            .client
            .post_json(target, DELETIONS_PATH, &notice)
            .await
            .map_err(|e| DeliveryError(e.to_string()))?;
        if response.is_success() {
            Ok(())
        } else {
            let body = String::from_utf8_lossy(&response.body);
            let body: String = body.chars().take(200).collect();
            Err(DeliveryError(format!(
                "{} answered {}: {body}",
                target.id, response.status
            )))
        }
    }
}

/// What one pass over the due deletions did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Acknowledged and removed from the log.
    pub delivered: usize,
    /// Failed, rescheduled by the backoff.
    pub failed: usize,
    /// Kept: their target is not in the current peer list (they are
    /// delivered if it comes back).
    pub unknown_peer: usize,
}

/// This node's view of the cluster. Share it in an `Arc`.
#[derive(Debug)]
pub struct Cluster {
    ring: Ring,
    client: PeerClient,
    pending: Arc<Mutex<PendingDeletions>>,
    wake: Notify,
}

impl Cluster {
    /// The cluster of `settings`: the ring of `[cluster]`, a peer client
    /// with `cluster.forward_timeout_ms`, and the pending log under
    /// `storage.data_dir` (opened and replayed).
    pub fn open(settings: &Settings) -> Result<Cluster, ClusterError> {
        let listen_url = format!("http://{}", settings.server.listen);
        let ring = Ring::from_settings(&settings.cluster, &listen_url)?;
        let path = settings.storage.data_dir.join(PENDING_FILE);
        Cluster::with_parts(ring, &settings.cluster, &path)
    }

    /// A cluster from its parts (tests, hosts that build the ring
    /// themselves).
    pub fn with_parts(
        ring: Ring,
        settings: &ClusterSettings,
        pending_path: &Path,
    ) -> Result<Cluster, ClusterError> {
        let backoff = Backoff {
            initial: Duration::from_millis(settings.deletion_retry_initial_ms),
            max: Duration::from_millis(settings.deletion_retry_max_ms),
        };
        let pending = PendingDeletions::open(pending_path, backoff)?;
        if !pending.is_empty() {
            tracing::info!(
                pending = pending.len(),
                "undelivered deletions found; retrying them"
            );
        }
        let client = PeerClient::new(
            ring.local().id.clone(),
            Duration::from_millis(settings.forward_timeout_ms),
        );
        Ok(Cluster {
            ring,
            client,
            pending: Arc::new(Mutex::new(pending)),
            wake: Notify::new(),
        })
    }

    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    pub fn client(&self) -> &PeerClient {
        &self.client
    }

    /// The path of the pending-deletion log.
    pub fn pending_path(&self) -> Result<PathBuf, ClusterError> {
        Ok(self.lock()?.path().to_path_buf())
    }

    /// Where to handle a request for `project`. `forwarded_by` is the value
    /// of the request's [`FORWARDED_HEADER`]: a forwarded request is always
    /// handled here, never forwarded again (loop prevention).
    pub fn route(&self, project: u64, forwarded_by: Option<&str>) -> Route<'_> {
        let owner = self.ring.owner(project);
        if owner.id == self.ring.local().id {
            return Route::Local;
        }
        if let Some(from) = forwarded_by {
            tracing::warn!(
                project,
                from,
                owner = %owner.id,
                "forwarded request for a project this node does not own; handling it here (peer lists differ?)"
            );
            return Route::Local;
        }
        Route::Forward(owner)
    }

    /// Sends `request` to `peer` (normally the owner from [`Cluster::route`]).
    /// An `Err` with [`PeerError::is_unavailable`] means: answer degraded.
    /// Any status the peer answers is passed back as it is.
    pub async fn forward(
        &self,
        peer: &Peer,
        request: PeerRequest,
    ) -> Result<PeerResponse, PeerError> {
        let result = self.client.send(peer, request).await;
        if result.is_ok() {
            self.peer_answered(&peer.id);
        }
        result
    }

    /// `peer` just answered a call: deliveries waiting out their backoff
    /// for it are retried now.
    pub fn peer_answered(&self, peer_id: &str) {
        let expedited = match self.pending.lock() {
            Ok(mut pending) => pending.expedite(peer_id),
            Err(_) => 0,
        };
        if expedited > 0 {
            tracing::info!(
                peer = peer_id,
                expedited,
                "peer is back; retrying its deletions now"
            );
            self.wake.notify_one();
        }
    }

    /// Records `kind` for every other node (durable before it returns) and
    /// wakes the retry loop. Call it before applying the deletion locally
    /// and answering: once it returns, the deletion reaches every node
    /// eventually, across restarts of this one.
    pub async fn schedule_deletion(
        &self,
        kind: DeletionKind,
    ) -> Result<Vec<Deletion>, ClusterError> {
        let targets: Vec<(String, DeletionKind)> = self
            .ring
            .holders(kind.project())
            .into_iter()
            .filter(|peer| peer.id != self.ring.local().id)
            .map(|peer| (peer.id.clone(), kind.clone()))
            .collect();
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let pending = Arc::clone(&self.pending);
        let added = tokio::task::spawn_blocking(move || {
            let mut log = pending.lock().map_err(|_| ClusterError::Poisoned)?;
            Ok::<_, ClusterError>(log.add_all(targets, pending::now_ms())?)
        })
        .await
        .map_err(|e| ClusterError::Task(e.to_string()))??;
        self.wake.notify_one();
        Ok(added)
    }

    /// Deletes on every node: records the deletion for the others, applies
    /// it on `node` (this one), and returns the records deleted here.
    /// Durable when it returns `Ok`.
    pub async fn delete_everywhere(
        &self,
        node: &Node,
        kind: DeletionKind,
    ) -> Result<usize, ClusterError> {
        self.schedule_deletion(kind.clone()).await?;
        Ok(apply_deletion(node, &kind).await?)
    }

    /// Deletions not yet acknowledged.
    pub fn pending(&self) -> Result<Vec<PendingDeletion>, ClusterError> {
        Ok(self.lock()?.entries().cloned().collect())
    }

    /// Delivers every deletion due at `now_ms` through `sink`: deliveries
    /// to different peers run concurrently, those to one peer in order,
    /// and after one failure the rest for that peer wait for the next
    /// attempt (one timeout per dead peer per pass, not one per deletion).
    pub async fn deliver_due<S: DeletionSink>(
        &self,
        sink: &S,
        now_ms: u64,
    ) -> Result<DeliveryReport, ClusterError> {
        let due = self.lock()?.due(now_ms);
        let mut report = DeliveryReport::default();
        let mut by_peer: std::collections::BTreeMap<String, Vec<Deletion>> = Default::default();
        for deletion in due {
            if self.ring.peer(&deletion.target_peer).is_some() {
                by_peer
                    .entry(deletion.target_peer.clone())
                    .or_default()
                    .push(deletion);
            } else {
                report.unknown_peer += 1;
            }
        }
        let passes = by_peer.into_iter().filter_map(|(peer_id, deletions)| {
            let peer = self.ring.peer(&peer_id)?;
            Some(self.deliver_to(sink, peer, deletions, now_ms))
        });
        for outcome in futures_util::future::join_all(passes).await {
            let (delivered, failed) = outcome?;
            report.delivered += delivered;
            report.failed += failed;
        }
        Ok(report)
    }

    async fn deliver_to<S: DeletionSink>(
        &self,
        sink: &S,
        peer: &Peer,
        deletions: Vec<Deletion>,
        now_ms: u64,
    ) -> Result<(usize, usize), ClusterError> {
        let (mut delivered, mut failed) = (0, 0);
        let mut peer_error: Option<String> = None;
        for deletion in deletions {
            let outcome = match &peer_error {
                Some(error) => Err(DeliveryError(error.clone())),
                None => sink.deliver(peer, &deletion).await,
            };
            let pending = Arc::clone(&self.pending);
            let id = deletion.id;
            match outcome {
                Ok(()) => {
                    blocking(move || Ok(lock(&pending)?.ack(id)?)).await?;
                    delivered += 1;
                }
                Err(error) => {
                    if peer_error.is_none() {
                        tracing::warn!(peer = %peer.id, deletion = id, %error, "deletion not delivered; will retry");
                        peer_error = Some(error.0.clone());
                    }
                    blocking(move || Ok(lock(&pending)?.fail(id, &error.0, now_ms)?)).await?;
                    failed += 1;
                }
            }
        }
        Ok((delivered, failed))
    }

    /// Starts the retry loop on the current tokio runtime: it delivers due
    /// deletions, sleeps until the next is due (or a new one is
    /// scheduled), and repeats until stopped.
    pub fn spawn_retry_loop<S: DeletionSink>(self: &Arc<Self>, sink: S) -> RetryLoop {
        let cluster = Arc::clone(self);
        let stop = Arc::new(Notify::new());
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            loop {
                let wait = match cluster.deliver_due(&sink, pending::now_ms()).await {
                    Ok(_) => cluster.next_wait(),
                    Err(error) => {
                        // The log could not be written (disk full, …): the
                        // entries are still pending; try again later.
                        tracing::error!(%error, "retrying deletions failed");
                        cluster
                            .lock()
                            .map(|p| p.backoff().initial)
                            .unwrap_or(IDLE_WAIT)
                    }
                };
                tokio::select! {
                    () = stopped.notified() => break,
                    () = cluster.wake.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
        });
        RetryLoop { stop, task }
    }

    fn next_wait(&self) -> Duration {
        let next = self.lock().ok().and_then(|p| p.next_due_ms());
        match next {
            Some(at) => Duration::from_millis(at.saturating_sub(pending::now_ms())),
            None => IDLE_WAIT,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, PendingDeletions>, ClusterError> {
        lock(&self.pending)
    }
}

fn lock(
    pending: &Mutex<PendingDeletions>,
) -> Result<MutexGuard<'_, PendingDeletions>, ClusterError> {
    pending.lock().map_err(|_| ClusterError::Poisoned)
}

/// Runs file work (fsync) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClusterError> + Send + 'static,
) -> Result<T, ClusterError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ClusterError::Task(e.to_string()))?
}

/// The running retry loop; [`RetryLoop::stop`] ends it.
#[derive(Debug)]
pub struct RetryLoop {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl RetryLoop {
    /// Stops after the delivery in progress, if any.
    pub async fn stop(self) {
        self.stop.notify_one();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the deletion retry loop failed");
        }
    }
}

/// Applies a deletion on this node (the receiving side of
/// [`DELETIONS_PATH`], and the local part of [`Cluster::delete_everywhere`]).
/// Durable before `Ok`; returns the records deleted.
pub async fn apply_deletion(node: &Node, kind: &DeletionKind) -> Result<usize, EngineError> {
    match kind {
        DeletionKind::Project(project) => node.delete_project(*project).await,
        DeletionKind::Hashes(project, hashes) => node.delete_hashes(*project, hashes.clone()).await,
    }
}

/// The answer for an event whose owner cannot be reached: grouped by its
/// fingerprint alone, the issue named by its primary hash (as a new issue
/// is), marked degraded with `owner_unreachable`. Nothing is stored, so
/// every node answers the same for the same event, and the owner's data is
/// untouched. An AI merge the owner made earlier for this hash is not known
/// here, so such an event gets its own issue id while the owner is away.
pub fn degraded_result(project: u64, event: &Event, fingerprinter: &Fingerprinter) -> GroupResult {
    let grouping = fingerprinter.fingerprint(event);
    let hash = grouping.primary_hash().to_string();
    GroupResult {
        project,
        issue: hash.clone(),
        hash,
        method: GroupingMethod::FingerprintOnly {
            reason: DegradedReason::OwnerUnreachable,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn settings(initial_ms: u64, max_ms: u64) -> ClusterSettings {
        ClusterSettings {
            node_id: "n1".to_string(),
            peers: Vec::new(),
            forward_timeout_ms: 1000,
            deletion_retry_initial_ms: initial_ms,
            deletion_retry_max_ms: max_ms,
        }
    }

    fn three_nodes(local: &str) -> Ring {
        let peers = ["n1", "n2", "n3"]
            .iter()
            .map(|id| Peer::new(*id, format!("http://{id}:9091")))
            .collect();
        Ring::new(peers, local).unwrap()
    }

    /// Fails the first `failures` deliveries to each peer, then succeeds;
    /// remembers what it delivered.
    #[derive(Default)]
    struct FlakySink {
        failures: usize,
        calls: Mutex<Vec<(String, u64)>>,
        attempts_by_peer: Mutex<std::collections::BTreeMap<String, usize>>,
        delivered: Mutex<Vec<(String, DeletionKind)>>,
        done: Notify,
        expected: AtomicUsize,
    }

    impl DeletionSink for Arc<FlakySink> {
        async fn deliver(&self, target: &Peer, deletion: &Deletion) -> Result<(), DeliveryError> {
            self.calls
                .lock()
                .unwrap()
                .push((target.id.clone(), deletion.id));
            let attempt = {
                let mut attempts = self.attempts_by_peer.lock().unwrap();
                let n = attempts.entry(target.id.clone()).or_default();
                *n += 1;
                *n
            };
            if attempt <= self.failures {
                return Err(DeliveryError(format!("{} is down", target.id)));
            }
            let mut delivered = self.delivered.lock().unwrap();
            delivered.push((target.id.clone(), deletion.kind.clone()));
            if delivered.len() >= self.expected.load(Ordering::SeqCst) {
                self.done.notify_one();
            }
            Ok(())
        }
    }

    #[test]
    fn routing_sends_to_the_owner_and_never_forwards_twice() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::with_parts(
            three_nodes("n1"),
            &settings(10, 100),
            &dir.path().join("p.log"),
        )
        .unwrap();
        let local = (0..100).find(|p| cluster.ring().is_local(*p)).unwrap();
        let remote = (0..100).find(|p| !cluster.ring().is_local(*p)).unwrap();
        assert_eq!(cluster.route(local, None), Route::Local);
        assert_eq!(
            cluster.route(remote, None),
            Route::Forward(cluster.ring().owner(remote))
        );
        assert_eq!(cluster.route(remote, Some("n2")), Route::Local);
        assert_eq!(cluster.client().local_id(), "n1");
    }

    #[test]
    fn degraded_results_are_the_same_on_every_node() {
        let event = stackherd::event::parse_event(
            br#"{"platform":"python","exception":{"values":[{"type":"KeyError","value":"x",
                "stacktrace":{"frames":[{"function":"get","module":"app.views","in_app":true}]}}]}}"#,
            &stackherd::event::EventLimits::default(),
        )
        .unwrap();
        let fingerprinter = Fingerprinter::default();
        let a = degraded_result(5, &event, &fingerprinter);
        let b = degraded_result(5, &event, &Fingerprinter::default());
        assert_eq!(a, b);
        assert_eq!(a.issue, a.hash);
        assert_eq!(a.hash, fingerprinter.fingerprint(&event).primary_hash());
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["method"], "fingerprint_only");
        assert_eq!(json["reason"], "owner_unreachable");
        assert_eq!(json["project"], 5);
    }

    #[tokio::test]
    async fn a_deletion_goes_to_every_other_node_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster").join("pending.log");
        let cluster = Cluster::with_parts(three_nodes("n2"), &settings(10, 100), &path).unwrap();
        let added = cluster
            .schedule_deletion(DeletionKind::Project(42))
            .await
            .unwrap();
        let mut targets: Vec<&str> = added.iter().map(|d| d.target_peer.as_str()).collect();
        targets.sort_unstable();
        assert_eq!(targets, ["n1", "n3"]);
        // Scheduling it again (a client retrying) adds nothing.
        let again = cluster
            .schedule_deletion(DeletionKind::Project(42))
            .await
            .unwrap();
        assert_eq!(again, added);
        drop(cluster);
        let cluster = Cluster::with_parts(three_nodes("n2"), &settings(10, 100), &path).unwrap();
        assert_eq!(cluster.pending().unwrap().len(), 2);

        // A single node has no one to tell.
        let single = Cluster::with_parts(
            Ring::single("solo", "http://127.0.0.1:9091"),
            &settings(10, 100),
            &dir.path().join("single.log"),
        )
        .unwrap();
        assert!(
            single
                .schedule_deletion(DeletionKind::Project(1))
                .await
                .unwrap()
                .is_empty()
        );
    }

    /// With an explicit clock: a sink that fails twice per peer is
    /// retried on the backoff schedule, and only then.
    #[tokio::test]
    async fn failed_deliveries_are_retried_on_the_backoff_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::with_parts(
            three_nodes("n1"),
            &settings(100, 1000),
            &dir.path().join("p.log"),
        )
        .unwrap();
        cluster
            .schedule_deletion(DeletionKind::Hashes(3, vec!["a".to_string()]))
            .await
            .unwrap();
        cluster
            .schedule_deletion(DeletionKind::Project(4))
            .await
            .unwrap();
        let sink = Arc::new(FlakySink {
            failures: 2,
            ..FlakySink::default()
        });
        let t0 = pending::now_ms() + 1_000_000;
        let report = cluster.deliver_due(&sink, t0).await.unwrap();
        // Two deletions for each of n2 and n3; the first failure of a peer
        // holds back the rest for that peer (one call per peer).
        assert_eq!(
            report,
            DeliveryReport {
                delivered: 0,
                failed: 4,
                unknown_peer: 0
            }
        );
        assert_eq!(sink.calls.lock().unwrap().len(), 2);
        // Not due before the backoff (100 ms after the failure).
        let report = cluster.deliver_due(&sink, t0 + 99).await.unwrap();
        assert_eq!(report, DeliveryReport::default());
        let report = cluster.deliver_due(&sink, t0 + 100).await.unwrap();
        assert_eq!(report.failed, 4);
        // Second failure: 200 ms.
        assert_eq!(
            cluster.deliver_due(&sink, t0 + 299).await.unwrap(),
            DeliveryReport::default()
        );
        let report = cluster.deliver_due(&sink, t0 + 300).await.unwrap();
        assert_eq!(report.delivered, 4);
        assert!(cluster.pending().unwrap().is_empty());
        let mut delivered = sink.delivered.lock().unwrap().clone();
        delivered.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(delivered.len(), 4);
        assert_eq!(delivered[0].0, "n2");
        assert_eq!(delivered[3].0, "n3");
    }

    #[tokio::test]
    async fn the_retry_state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.log");
        let cluster = Cluster::with_parts(three_nodes("n1"), &settings(100, 1000), &path).unwrap();
        cluster
            .schedule_deletion(DeletionKind::Project(9))
            .await
            .unwrap();
        let sink = Arc::new(FlakySink {
            failures: usize::MAX,
            ..FlakySink::default()
        });
        let t0 = pending::now_ms() + 1_000_000;
        cluster.deliver_due(&sink, t0).await.unwrap();
        drop(cluster);
        let cluster = Cluster::with_parts(three_nodes("n1"), &settings(100, 1000), &path).unwrap();
        assert!(cluster.pending().unwrap().iter().all(|p| p.attempts == 1));
        assert_eq!(
            cluster.deliver_due(&sink, t0 + 99).await.unwrap(),
            DeliveryReport::default()
        );
        // A peer seen answering makes its deletions due at once.
        cluster.peer_answered("n3");
        let report = cluster.deliver_due(&sink, t0 + 1).await.unwrap();
        assert_eq!(report.failed, 1);
    }

    #[tokio::test]
    async fn deletions_for_a_peer_no_longer_listed_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.log");
        let cluster = Cluster::with_parts(three_nodes("n1"), &settings(10, 100), &path).unwrap();
        cluster
            .schedule_deletion(DeletionKind::Project(1))
            .await
            .unwrap();
        drop(cluster);
        // n3 left the peer list.
        let two = Ring::new(
            vec![
                Peer::new("n1", "http://n1:9091"),
                Peer::new("n2", "http://n2:9091"),
            ],
            "n1",
        )
        .unwrap();
        let cluster = Cluster::with_parts(two, &settings(10, 100), &path).unwrap();
        let sink = Arc::new(FlakySink::default());
        let report = cluster
            .deliver_due(&sink, pending::now_ms() + 1_000_000)
            .await
            .unwrap();
        assert_eq!(report.delivered, 1);
        assert_eq!(report.unknown_peer, 1);
        let left = cluster.pending().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].deletion.target_peer, "n3");
    }

    /// The real sink against a local HTTP server that answers 500 once,
    /// then 200: the notice arrives as JSON, marked as forwarded.
    #[actix_rt::test]
    async fn the_peer_sink_posts_notices_until_acknowledged() {
        use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
        type Seen = Arc<Mutex<Vec<(Option<String>, DeletionNotice)>>>;
        let seen: Seen = Arc::default();
        let state = web::Data::new(Arc::clone(&seen));
        let server = HttpServer::new(move || {
            App::new().app_data(state.clone()).route(
                DELETIONS_PATH,
                web::post().to(
                    |request: HttpRequest,
                     notice: web::Json<DeletionNotice>,
                     seen: web::Data<Seen>| async move {
                        let from = request
                            .headers()
                            .get(FORWARDED_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let mut seen = seen.lock().unwrap();
                        seen.push((from, notice.into_inner()));
                        if seen.len() == 1 {
                            HttpResponse::InternalServerError().body("store failed")
                        } else {
                            HttpResponse::Ok().json(serde_json::json!({"success": true}))
                        }
                    },
                ),
            )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);

        let ring = Ring::new(
            vec![
                Peer::new("n1", "http://127.0.0.1:1"),
                Peer::new("n2", format!("http://{address}")),
            ],
            "n1",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cluster =
            Cluster::with_parts(ring, &settings(100, 1000), &dir.path().join("p.log")).unwrap();
        cluster
            .schedule_deletion(DeletionKind::Hashes(8, vec!["abc".to_string()]))
            .await
            .unwrap();
        let sink = PeerDeletionSink::new(cluster.client().clone());
        let t0 = pending::now_ms() + 1_000_000;
        let first = cluster.deliver_due(&sink, t0).await.unwrap();
        assert_eq!(first.failed, 1);
        let left = cluster.pending().unwrap();
        let error = left[0].last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains("500") && error.contains("store failed"),
            "{error}"
        );
        let second = cluster.deliver_due(&sink, t0 + 100).await.unwrap();
        assert_eq!(second.delivered, 1);
        assert!(cluster.pending().unwrap().is_empty());
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].0.as_deref(), Some("n1"));
        assert_eq!(seen[1].1.origin, "n1");
        assert_eq!(
            seen[1].1.kind,
            DeletionKind::Hashes(8, vec!["abc".to_string()])
        );
        handle.stop(false).await;
    }

    /// The loop itself, on the real clock with short delays: a sink that
    /// fails 3 times per peer still delivers everything, and the loop
    /// stops when asked. (No assertion on how long it took.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_retry_loop_delivers_after_failures() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Arc::new(
            Cluster::with_parts(
                three_nodes("n3"),
                &settings(1, 8),
                &dir.path().join("p.log"),
            )
            .unwrap(),
        );
        let sink = Arc::new(FlakySink {
            failures: 3,
            expected: AtomicUsize::new(4),
            ..FlakySink::default()
        });
        let retry = cluster.spawn_retry_loop(Arc::clone(&sink));
        cluster
            .schedule_deletion(DeletionKind::Project(10))
            .await
            .unwrap();
        cluster
            .schedule_deletion(DeletionKind::Hashes(11, vec!["h".to_string()]))
            .await
            .unwrap();
        // Wait until all four (2 deletions x 2 peers) are delivered.
        loop {
            let notified = sink.done.notified();
            if sink.delivered.lock().unwrap().len() >= 4 {
                break;
            }
            notified.await;
        }
        retry.stop().await;
        // The ack is written right after the sink returns: give the log a
        // look only once the loop has stopped.
        assert!(cluster.pending().unwrap().is_empty());
        let attempts = sink.attempts_by_peer.lock().unwrap().clone();
        // Per peer: three failed calls (each holding back the other
        // deletion), then one successful call per deletion.
        assert!(attempts.values().all(|n| *n == 5), "{attempts:?}");
    }
}
