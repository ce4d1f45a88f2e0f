//! `ProjectActor`: one per active project. Owns the project's fingerprint
//! cache (backed by the store), its consent, its AI rate limit, and the
//! single flight per new hash: concurrent events with the same new hash make
//! one AI request and share its answer.

use super::error::EngineError;
use super::outcome::{DegradedReason, GroupResult, GroupingMethod};
use super::pipeline::{Engine, Epoch, Miss, Placement};
use super::rate_limit::TokenBucket;
use super::router::{Idle, Router};
use actix::WeakAddr;
use actix::prelude::*;
use stackherd::store::Consent;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Fingerprint cache entries kept in memory per project; the store has all.
const MEMORY_CACHE_ENTRIES: usize = 100_000;

type Answer = oneshot::Sender<Result<GroupResult, EngineError>>;

pub struct ProjectActor {
    project: u64,
    engine: Arc<Engine>,
    router: WeakAddr<Router>,
    cache: HashMap<String, String>,
    consent: Option<Consent>,
    bucket: TokenBucket,
    /// Primary hash → requests waiting for its placement.
    flights: HashMap<String, Vec<Answer>>,
    epoch: Arc<AtomicU64>,
    last_used: Instant,
    stopping: bool,
}

impl ProjectActor {
    pub fn new(project: u64, engine: Arc<Engine>, router: WeakAddr<Router>) -> ProjectActor {
        let engine_settings = &engine.settings.engine;
        let bucket = TokenBucket::new(
            engine_settings.ai_requests_per_second,
            engine_settings.ai_burst,
        );
        ProjectActor {
            project,
            engine,
            router,
            cache: HashMap::new(),
            consent: None,
            bucket,
            flights: HashMap::new(),
            epoch: Arc::new(AtomicU64::new(0)),
            last_used: Instant::now(),
            stopping: false,
        }
    }

    /// The issue of the first known hash: memory first, then the store.
    fn cached_issue(&mut self, hashes: &[String]) -> Result<Option<String>, EngineError> {
        for hash in hashes {
            if let Some(issue) = self.cache.get(hash) {
                return Ok(Some(issue.clone()));
            }
        }
        for hash in hashes {
            if let Some(issue) = self.engine.store.fingerprint_issue(self.project, hash)? {
                self.remember(hashes, &issue);
                return Ok(Some(issue));
            }
        }
        Ok(None)
    }

    fn remember(&mut self, hashes: &[String], issue: &str) {
        if self.cache.len() + hashes.len() > MEMORY_CACHE_ENTRIES {
            // The store holds every entry; dropping the memory copy only
            // costs store reads until it warms up again.
            self.cache.clear();
        }
        for hash in hashes {
            self.cache.insert(hash.clone(), issue.to_owned());
        }
    }

    fn consent(&mut self) -> Result<Consent, EngineError> {
        if let Some(consent) = &self.consent {
            return Ok(consent.clone());
        }
        let consent = match self.engine.store.consent(self.project)? {
            Some(consent) => consent,
            None => default_consent(&self.engine),
        };
        self.consent = Some(consent.clone());
        Ok(consent)
    }

    /// Why the AI path is skipped for this miss, if it is.
    fn skip_reason(&mut self, has_text: bool) -> Result<Option<DegradedReason>, EngineError> {
        if !self.consent()?.ai_grouping {
            return Ok(Some(DegradedReason::NoConsent));
        }
        if !has_text {
            return Ok(Some(DegradedReason::NoStacktrace));
        }
        if !self.bucket.try_take(Instant::now()) {
            return Ok(Some(DegradedReason::RateLimited));
        }
        Ok(None)
    }

    /// A placement is known: cache it, count it, answer every waiter. The
    /// first waiter is the event that caused the flight; the others carried
    /// the same new hash and are answered as the cache hits they would have
    /// been one moment later.
    fn land(
        &mut self,
        primary: &str,
        hashes: &[String],
        placement: &Placement,
        epoch: &Epoch,
        ctx: &mut Context<Self>,
    ) {
        if epoch.is_current() {
            self.remember(hashes, &placement.issue);
        }
        let waiters = self.flights.remove(primary).unwrap_or_default();
        for (index, waiter) in waiters.into_iter().enumerate() {
            let method = if index == 0 {
                placement.method.clone()
            } else {
                GroupingMethod::Fingerprint
            };
            self.engine.counters.grouped(&method);
            let _ = waiter.send(Ok(GroupResult {
                project: self.project,
                issue: placement.issue.clone(),
                hash: primary.to_owned(),
                method,
            }));
        }
        if self.stopping && self.flights.is_empty() {
            ctx.stop();
        }
    }

    /// Withdraws every write prepared before now (deletion, consent).
    fn advance_epoch(&mut self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.clear();
    }

    fn touch(&mut self) {
        self.last_used = Instant::now();
    }
}

fn default_consent(engine: &Engine) -> Consent {
    let defaults = &engine.settings.consent;
    Consent {
        ai_grouping: defaults.ai_grouping,
        region: defaults.region.clone(),
        baa: defaults.baa,
    }
}

impl Actor for ProjectActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.engine.settings.engine.mailbox_capacity);
        let idle = Duration::from_secs(self.engine.settings.engine.project_idle_seconds);
        ctx.run_interval(idle.min(Duration::from_secs(30)), move |act, ctx| {
            if !act.stopping && act.flights.is_empty() && act.last_used.elapsed() >= idle {
                if let Some(router) = act.router.upgrade() {
                    router.do_send(Idle {
                        project: act.project,
                        actor: ctx.address(),
                    });
                }
            }
        });
    }
}

/// Look the event's hashes up in the fingerprint cache.
#[derive(Message)]
#[rtype(result = "Result<Option<String>, EngineError>")]
pub struct Lookup {
    pub hashes: Vec<String>,
}

impl Handler<Lookup> for ProjectActor {
    type Result = Result<Option<String>, EngineError>;

    fn handle(&mut self, lookup: Lookup, _: &mut Self::Context) -> Self::Result {
        self.touch();
        self.cached_issue(&lookup.hashes)
    }
}

/// Place an event whose hashes missed the cache.
#[derive(Message)]
#[rtype(result = "Result<GroupResult, EngineError>")]
pub struct Resolve {
    pub miss: Miss,
}

impl Handler<Resolve> for ProjectActor {
    type Result = ResponseFuture<Result<GroupResult, EngineError>>;

    fn handle(&mut self, Resolve { miss }: Resolve, ctx: &mut Self::Context) -> Self::Result {
        self.touch();
        let primary = miss.primary().to_owned();
        // Another event may have placed this hash since the lookup.
        match self.cached_issue(&miss.hashes) {
            Ok(Some(issue)) => {
                let method = GroupingMethod::Fingerprint;
                self.engine.counters.grouped(&method);
                let result = GroupResult {
                    project: self.project,
                    issue,
                    hash: primary,
                    method,
                };
                return Box::pin(async move { Ok(result) });
            }
            Ok(None) => {}
            Err(error) => return Box::pin(async move { Err(error) }),
        }
        let (answer, answered) = oneshot::channel();
        let waiting = async move {
            answered.await.unwrap_or_else(|_| {
                Err(EngineError::Internal(
                    "the project actor stopped before answering".to_string(),
                ))
            })
        };
        if let Some(waiters) = self.flights.get_mut(&primary) {
            waiters.push(answer);
            return Box::pin(waiting);
        }
        let skip = match self.skip_reason(miss.has_text) {
            Ok(skip) => skip,
            Err(error) => return Box::pin(async move { Err(error) }),
        };
        self.flights.insert(primary.clone(), vec![answer]);
        let engine = Arc::clone(&self.engine);
        let epoch = Epoch::new(&self.epoch);
        let hashes = miss.hashes.clone();
        let flight_epoch = epoch.clone();
        let flight = async move {
            match skip {
                None => engine.place(miss, flight_epoch).await,
                Some(reason) => engine.place_without_ai(miss, reason, flight_epoch).await,
            }
        };
        ctx.spawn(flight.into_actor(self).map(move |placement, act, ctx| {
            act.land(&primary, &hashes, &placement, &epoch, ctx);
        }));
        Box::pin(waiting)
    }
}

/// The project's effective consent.
#[derive(Message)]
#[rtype(result = "Result<Consent, EngineError>")]
pub struct GetConsent;

impl Handler<GetConsent> for ProjectActor {
    type Result = Result<Consent, EngineError>;

    fn handle(&mut self, _: GetConsent, _: &mut Self::Context) -> Self::Result {
        self.touch();
        self.consent()
    }
}

/// Set the project's consent; withdrawing AI grouping deletes its
/// embeddings in every model version.
#[derive(Message)]
#[rtype(result = "Result<usize, EngineError>")]
pub struct SetConsent(pub Consent);

impl Handler<SetConsent> for ProjectActor {
    type Result = ResponseFuture<Result<usize, EngineError>>;

    fn handle(&mut self, SetConsent(consent): SetConsent, _: &mut Self::Context) -> Self::Result {
        self.touch();
        let withdrawn = !consent.ai_grouping;
        if withdrawn {
            self.advance_epoch();
        }
        self.consent = Some(consent.clone());
        let (engine, project) = (Arc::clone(&self.engine), self.project);
        Box::pin(async move {
            engine
                .shards
                .run_to_completion(project, move |store| {
                    store.set_consent(project, &consent)?;
                    if withdrawn {
                        return Ok(store.delete_project_records(project)?);
                    }
                    Ok(0)
                })
                .await
        })
    }
}

/// Delete everything about the project.
#[derive(Message)]
#[rtype(result = "Result<usize, EngineError>")]
pub struct DeleteProject;

impl Handler<DeleteProject> for ProjectActor {
    type Result = ResponseFuture<Result<usize, EngineError>>;

    fn handle(&mut self, _: DeleteProject, _: &mut Self::Context) -> Self::Result {
        self.touch();
        self.advance_epoch();
        self.consent = None;
        let (engine, project) = (Arc::clone(&self.engine), self.project);
        Box::pin(async move {
            let removed = engine
                .shards
                .run_to_completion(project, move |store| Ok(store.delete_project(project)?))
                .await?;
            engine.counters.project_deleted();
            Ok(removed)
        })
    }
}

/// Delete these hashes (records in every version, cache entries keyed by
/// them or pointing at them).
#[derive(Message)]
#[rtype(result = "Result<usize, EngineError>")]
pub struct DeleteHashes(pub Vec<String>);

impl Handler<DeleteHashes> for ProjectActor {
    type Result = ResponseFuture<Result<usize, EngineError>>;

    fn handle(
        &mut self,
        DeleteHashes(hashes): DeleteHashes,
        _: &mut Self::Context,
    ) -> Self::Result {
        self.touch();
        self.advance_epoch();
        let (engine, project) = (Arc::clone(&self.engine), self.project);
        Box::pin(async move {
            let count = hashes.len();
            let removed = engine
                .shards
                .run_to_completion(project, move |store| {
                    let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
                    Ok(store.delete_hashes(project, &refs)?)
                })
                .await?;
            engine.counters.hashes_deleted(count);
            Ok(removed)
        })
    }
}

/// Run a similarity request (SEER_API.md) with the project's consent and
/// deletion epoch.
pub struct WithProject<F>(pub F);

impl<F, Fut, R> Message for WithProject<F>
where
    F: FnOnce(Arc<Engine>, Consent, Epoch) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, EngineError>> + 'static,
    R: Send + 'static,
{
    type Result = Result<R, EngineError>;
}

impl<F, Fut, R> Handler<WithProject<F>> for ProjectActor
where
    F: FnOnce(Arc<Engine>, Consent, Epoch) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, EngineError>> + 'static,
    R: Send + 'static,
{
    type Result = ResponseFuture<Result<R, EngineError>>;

    fn handle(&mut self, WithProject(work): WithProject<F>, _: &mut Self::Context) -> Self::Result {
        self.touch();
        let consent = match self.consent() {
            Ok(consent) => consent,
            Err(error) => return Box::pin(async move { Err(error) }),
        };
        Box::pin(work(
            Arc::clone(&self.engine),
            consent,
            Epoch::new(&self.epoch),
        ))
    }
}

/// Stop once no flight is pending (sent by the router after eviction).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

impl Handler<Stop> for ProjectActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        self.stopping = true;
        if self.flights.is_empty() {
            ctx.stop();
        }
    }
}

/// Fault injection for tests: the handler panics.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

impl Handler<Crash> for ProjectActor {
    type Result = ();

    #[allow(clippy::panic)] // the point of the message
    fn handle(&mut self, _: Crash, _: &mut Self::Context) {
        panic!("fault injected into project {}", self.project);
    }
}
