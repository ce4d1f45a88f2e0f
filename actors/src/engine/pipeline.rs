//! The grouping pipeline's AI steps, shared by the project actors: embed,
//! search the requested version, fall back to the stable one, insert, and
//! teach the fingerprint cache. Store work runs on the project's shard.

use super::embedder::{Embed, EmbedderActor};
use super::error::EngineError;
use super::metrics::EngineCounters;
use super::outcome::{DegradedReason, GroupingMethod};
use super::shard::ShardSet;
use actix::Addr;
use stackherd::embed::pool::PoolError;
use stackherd::settings::Settings;
use stackherd::store::{InsertOutcome, Joined, Neighbour, NewRecord, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Everything the pipeline steps need; one per node, shared by the actors.
pub struct Engine {
    pub settings: Settings,
    pub store: Arc<Store>,
    pub shards: ShardSet,
    pub embedders: BTreeMap<String, Addr<EmbedderActor>>,
    pub counters: EngineCounters,
    pub timeout: Duration,
}

/// A project's deletion epoch as seen when a request started. Deleting the
/// project (or withdrawing consent) advances the epoch; a write prepared
/// under an older epoch is dropped on the shard, so no in-flight request
/// can bring deleted data back.
#[derive(Debug, Clone)]
pub struct Epoch {
    current: Arc<AtomicU64>,
    seen: u64,
}

impl Epoch {
    pub fn new(current: &Arc<AtomicU64>) -> Epoch {
        Epoch {
            current: Arc::clone(current),
            seen: current.load(Ordering::Acquire),
        }
    }

    pub fn is_current(&self) -> bool {
        self.current.load(Ordering::Acquire) == self.seen
    }
}

/// A fingerprint the project has not seen, with its text.
#[derive(Debug, Clone)]
pub struct Miss {
    pub project: u64,
    /// Every hash of the event (primary first).
    pub hashes: Vec<String>,
    /// Scrubbed stacktrace text; meaningless unless `has_text`.
    pub text: String,
    pub has_text: bool,
    pub error_type: Option<String>,
    pub version: String,
    pub skip_fallback: bool,
}

impl Miss {
    pub fn primary(&self) -> &str {
        self.hashes.first().map_or("", String::as_str)
    }
}

/// Where a miss ended: the issue and how it got there.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub issue: String,
    pub method: GroupingMethod,
}

pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Engine {
    pub fn threshold(&self, version: &str) -> Result<f32, EngineError> {
        self.settings
            .model(version)
            .map(|m| m.threshold)
            .map_err(|e| EngineError::BadInput(e.to_string()))
    }

    /// One embedding from `version`'s pool, within the request timeout.
    pub async fn embed(&self, version: &str, text: &str) -> Result<Vec<f32>, PoolError> {
        let Some(embedder) = self.embedders.get(version) else {
            return Err(PoolError::Internal(format!(
                "no embedder for model version `{version}`"
            )));
        };
        match embedder
            .send(Embed(text.to_owned()))
            .timeout(self.timeout)
            .await
        {
            Ok(result) => result,
            Err(actix::MailboxError::Timeout) => Err(PoolError::Timeout),
            Err(actix::MailboxError::Closed) => Err(PoolError::ShuttingDown),
        }
    }

    /// Places a miss: the AI path of DESIGN.md. Never fails: whatever goes
    /// wrong degrades to a new issue by fingerprint, with the reason.
    pub async fn place(&self, miss: Miss, epoch: Epoch) -> Placement {
        match self.place_with_ai(&miss, &epoch).await {
            Ok(placement) => placement,
            Err(reason) => self.place_without_ai(miss, reason, epoch).await,
        }
    }

    /// A new issue by fingerprint alone, for `reason`.
    pub async fn place_without_ai(
        &self,
        miss: Miss,
        reason: DegradedReason,
        epoch: Epoch,
    ) -> Placement {
        let placement = Placement {
            issue: miss.primary().to_owned(),
            method: GroupingMethod::FingerprintOnly { reason },
        };
        // Best effort: the issue is decided either way, and a lost cache
        // entry only means the next event of this hash takes this path again.
        if let Err(error) = self.learn(&miss, &placement, epoch).await {
            tracing::warn!(project = miss.project, %error, "fingerprint cache not updated");
        }
        placement
    }

    async fn place_with_ai(&self, miss: &Miss, epoch: &Epoch) -> Result<Placement, DegradedReason> {
        let vector = self
            .embed(&miss.version, &miss.text)
            .await
            .map_err(|e| degraded(&e))?;
        if let Some(placement) = self
            .join_nearest(miss, &miss.version, &vector, epoch)
            .await?
        {
            return Ok(placement);
        }
        let stable = &self.settings.grouping.stable_model;
        if *stable != miss.version && !miss.skip_fallback {
            let stable_vector = self
                .embed(stable, &miss.text)
                .await
                .map_err(|e| degraded(&e))?;
            if let Some(placement) = self
                .join_nearest(miss, stable, &stable_vector, epoch)
                .await?
            {
                return Ok(placement);
            }
        }
        self.insert_new(miss, vector, epoch).await
    }

    /// Searches `version` within its threshold; a match joins its issue,
    /// refreshes the match's last-seen time and teaches the cache.
    async fn join_nearest(
        &self,
        miss: &Miss,
        version: &str,
        vector: &[f32],
        epoch: &Epoch,
    ) -> Result<Option<Placement>, DegradedReason> {
        let threshold = self
            .threshold(version)
            .map_err(|_| DegradedReason::StoreUnavailable)?;
        let (job_miss, job_version, job_vector, job_epoch) = (
            miss.clone(),
            version.to_owned(),
            vector.to_vec(),
            epoch.clone(),
        );
        let job = move |store: &Store| -> Result<Option<Placement>, EngineError> {
            let hits = store.search(
                &job_version,
                job_miss.project,
                &job_vector,
                1,
                threshold,
                Some(job_miss.primary()),
            )?;
            let Some(hit) = hits.into_iter().next() else {
                return Ok(None);
            };
            let placement = ai_placement(store, job_miss.project, &hit, &job_version)?;
            if job_epoch.is_current() {
                store.touch(&job_version, job_miss.project, &hit.hash, now_seconds())?;
                write_cache(store, &job_miss, &placement)?;
            }
            Ok(Some(placement))
        };
        self.shards
            .run(miss.project, job)
            .await
            .map_err(store_degraded)
    }

    /// No match anywhere: a new issue, whose embedding is stored unless a
    /// near duplicate got there first (then the event joins that one).
    async fn insert_new(
        &self,
        miss: &Miss,
        vector: Vec<f32>,
        epoch: &Epoch,
    ) -> Result<Placement, DegradedReason> {
        let threshold = self
            .threshold(&miss.version)
            .map_err(|_| DegradedReason::StoreUnavailable)?;
        let (job_miss, job_epoch) = (miss.clone(), epoch.clone());
        let job = move |store: &Store| -> Result<Placement, EngineError> {
            let version = &job_miss.version;
            let placement = if job_epoch.is_current() {
                let record = NewRecord {
                    hash: job_miss.primary(),
                    error_type: job_miss.error_type.as_deref(),
                    embedding: &vector,
                };
                match store.insert_if_no_neighbour(
                    version,
                    job_miss.project,
                    record,
                    threshold,
                    now_seconds(),
                )? {
                    // Another request placed a near stacktrace while this one
                    // was embedding: join it, exactly as a search would have.
                    InsertOutcome::NeighbourExists(hit) => {
                        ai_placement(store, job_miss.project, &hit, version)?
                    }
                    InsertOutcome::Inserted | InsertOutcome::HashExists => new_placement(&job_miss),
                }
            } else {
                new_placement(&job_miss)
            };
            if job_epoch.is_current() {
                write_cache(store, &job_miss, &placement)?;
            }
            Ok(placement)
        };
        self.shards
            .run(miss.project, job)
            .await
            .map_err(store_degraded)
    }

    /// Writes the cache entries of a placement decided without the store.
    async fn learn(
        &self,
        miss: &Miss,
        placement: &Placement,
        epoch: Epoch,
    ) -> Result<(), EngineError> {
        let (miss, placement) = (miss.clone(), placement.clone());
        self.shards
            .run(miss.project, move |store| {
                if epoch.is_current() {
                    write_cache(store, &miss, &placement)?;
                }
                Ok(())
            })
            .await
    }
}

fn new_placement(miss: &Miss) -> Placement {
    Placement {
        issue: miss.primary().to_owned(),
        method: GroupingMethod::New {
            model_used: miss.version.clone(),
        },
    }
}

/// The issue a matched record belongs to: its cached issue (a record stored
/// by training mode may belong to an issue named by another hash), else the
/// record's own hash.
fn ai_placement(
    store: &Store,
    project: u64,
    hit: &Neighbour,
    version: &str,
) -> Result<Placement, EngineError> {
    let issue = store
        .fingerprint_issue(project, &hit.hash)?
        .unwrap_or_else(|| hit.hash.clone());
    Ok(Placement {
        issue,
        method: GroupingMethod::Ai {
            matched_hash: hit.hash.clone(),
            distance: hit.distance,
            model_used: version.to_owned(),
        },
    })
}

/// Every hash of the event → the issue, durable before the answer.
fn write_cache(store: &Store, miss: &Miss, placement: &Placement) -> Result<(), EngineError> {
    let hashes: Vec<&str> = miss.hashes.iter().map(String::as_str).collect();
    store.set_fingerprint_issues(
        miss.project,
        &hashes,
        &placement.issue,
        &joined(&placement.method),
    )?;
    Ok(())
}

pub fn joined(method: &GroupingMethod) -> Joined {
    let mut joined = Joined {
        method: method.name().to_owned(),
        matched_hash: None,
        distance: None,
        model: None,
        reason: None,
        at: now_seconds(),
    };
    match method {
        GroupingMethod::Fingerprint => {}
        GroupingMethod::Ai {
            matched_hash,
            distance,
            model_used,
        } => {
            joined.matched_hash = Some(matched_hash.clone());
            joined.distance = Some(*distance);
            joined.model = Some(model_used.clone());
        }
        GroupingMethod::New { model_used } => joined.model = Some(model_used.clone()),
        GroupingMethod::FingerprintOnly { reason } => {
            joined.reason = Some(reason.as_str().to_owned());
        }
    }
    joined
}

fn degraded(error: &PoolError) -> DegradedReason {
    match error {
        PoolError::Overloaded => DegradedReason::EmbedderOverloaded,
        PoolError::Timeout => DegradedReason::Timeout,
        PoolError::ShuttingDown
        | PoolError::Embed(_)
        | PoolError::Internal(_)
        | PoolError::InvalidOption { .. } => DegradedReason::EmbedderFailed,
    }
}

fn store_degraded(error: EngineError) -> DegradedReason {
    match error {
        EngineError::Overloaded { .. } => DegradedReason::Timeout,
        other => {
            tracing::error!(error = %other, "store step failed; grouping by fingerprint");
            DegradedReason::StoreUnavailable
        }
    }
}
