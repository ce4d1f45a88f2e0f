//! `EmbedderPool` actors, one per model version: a bounded mailbox in front
//! of the core's [`EmbedderPool`], whose own threads run the model so the
//! async threads never do CPU-bound work.

use super::error::EngineError;
use actix::prelude::*;
use stackherd::embed::pool::{EmbedderPool, PoolError, PoolOptions, PoolStats};
use stackherd::embed::{Embedder, EmbedderOptions, TextEmbedder};
use stackherd::settings::{EmbedderSettings, Settings};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Embed one text.
pub struct Embed(pub String);

impl Message for Embed {
    type Result = Result<Vec<f32>, PoolError>;
}

pub struct EmbedderActor {
    pool: Arc<EmbedderPool>,
    mailbox_capacity: usize,
}

impl Actor for EmbedderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

impl Handler<Embed> for EmbedderActor {
    type Result = ResponseFuture<Result<Vec<f32>, PoolError>>;

    fn handle(&mut self, Embed(text): Embed, _: &mut Self::Context) -> Self::Result {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let submitted = self.pool.submit_with(text, move |result| {
            // The requester may have timed out and gone; nothing to do then.
            let _ = reply.send(result);
        });
        Box::pin(async move {
            submitted?;
            answer.await.unwrap_or(Err(PoolError::ShuttingDown))
        })
    }
}

#[derive(Clone)]
/// Loaded models: one pool per distinct (source, options), shared by the
/// versions that name the same model.
pub struct LoadedModels {
    pools: BTreeMap<String, Arc<EmbedderPool>>,
}

impl LoadedModels {
    /// Provisions (on first use) and loads every configured version, unless
    /// an embedder is supplied for it.
    pub fn load(
        settings: &Settings,
        supplied: &HashMap<String, Arc<dyn TextEmbedder>>,
    ) -> Result<LoadedModels, EngineError> {
        let options = pool_options(&settings.embedder);
        let mut shared: HashMap<String, Arc<EmbedderPool>> = HashMap::new();
        let mut pools = BTreeMap::new();
        for (version, model) in &settings.models {
            if let Some(embedder) = supplied.get(version) {
                let pool = start_pool(Arc::clone(embedder), &options)?;
                pools.insert(version.clone(), pool);
                continue;
            }
            let embedder_options = EmbedderOptions::from(model);
            let key = format!("{}|{embedder_options:?}", model.source);
            if let Some(pool) = shared.get(&key) {
                pools.insert(version.clone(), Arc::clone(pool));
                continue;
            }
            let provisioned = stackherd::embed::provision::resolve_version(settings, version)
                .map_err(|e| EngineError::Unavailable(format!("model version `{version}`: {e}")))?;
            tracing::info!(version, dir = %provisioned.dir.display(), "loading model");
            let embedder = Embedder::load(&provisioned.dir, &embedder_options)
                .map_err(|e| EngineError::Unavailable(format!("model version `{version}`: {e}")))?;
            let pool = start_pool(Arc::new(embedder), &options)?;
            shared.insert(key, Arc::clone(&pool));
            pools.insert(version.clone(), pool);
        }
        Ok(LoadedModels { pools })
    }

    /// Starts one actor per version on the current arbiter.
    pub fn start_actors(&self, mailbox_capacity: usize) -> BTreeMap<String, Addr<EmbedderActor>> {
        self.pools
            .iter()
            .map(|(version, pool)| {
                let pool = Arc::clone(pool);
                let actor = EmbedderActor::create(move |_| EmbedderActor {
                    pool,
                    mailbox_capacity,
                });
                (version.clone(), actor)
            })
            .collect()
    }

    /// Queue depth and counters per version.
    pub fn stats(&self) -> BTreeMap<String, PoolStats> {
        self.pools
            .iter()
            .map(|(version, pool)| (version.clone(), pool.stats()))
            .collect()
    }

    /// Stops accepting texts; queued ones are answered `ShuttingDown`.
    pub fn close(&self) {
        for pool in self.pools.values() {
            pool.close();
        }
    }
}

fn start_pool(
    embedder: Arc<dyn TextEmbedder>,
    options: &PoolOptions,
) -> Result<Arc<EmbedderPool>, EngineError> {
    EmbedderPool::start(embedder, options.clone())
        .map(Arc::new)
        .map_err(|e| EngineError::Unavailable(format!("embedder pool: {e}")))
}

pub fn pool_options(settings: &EmbedderSettings) -> PoolOptions {
    PoolOptions {
        queue_capacity: settings.queue_capacity,
        token_budget: settings.token_budget,
        max_batch: settings.max_batch,
        workers: settings.workers,
        timeout: Duration::from_millis(settings.timeout_ms),
        cache_capacity: settings.cache_capacity,
    }
}
