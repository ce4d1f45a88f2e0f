//! `IndexShard` actors: the store's writers. Projects are hashed to shards,
//! so one project's store work is serialized while different shards run in
//! parallel, each on its own arbiter thread (store calls block on disk).

use super::error::EngineError;
use actix::prelude::*;
use stackherd::store::Store;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

/// A unit of store work for one shard: a closure over the store, so each
/// pipeline step is one message whatever store calls it combines.
pub struct ShardJob<R: Send + 'static>(Box<StoreWork<R>>);

type StoreWork<R> = dyn FnOnce(&Store) -> Result<R, EngineError> + Send;

impl<R: Send + 'static> Message for ShardJob<R> {
    type Result = Result<R, EngineError>;
}

pub struct IndexShard {
    store: Arc<Store>,
    mailbox_capacity: usize,
}

impl Actor for IndexShard {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

impl<R: Send + 'static> Handler<ShardJob<R>> for IndexShard {
    type Result = Result<R, EngineError>;

    fn handle(&mut self, job: ShardJob<R>, _: &mut Self::Context) -> Self::Result {
        // A panic inside the store (a bug) fails this request; the shard and
        // its thread stay up for the next one.
        let store = &self.store;
        catch_unwind(AssertUnwindSafe(|| (job.0)(store))).unwrap_or_else(|_| {
            tracing::error!("an index shard job panicked");
            Err(EngineError::Internal(
                "an index shard job panicked".to_string(),
            ))
        })
    }
}

/// The shards and the arbiters they run on.
pub struct ShardSet {
    shards: Vec<Addr<IndexShard>>,
    arbiters: Vec<Arbiter>,
    timeout: Duration,
}

impl ShardSet {
    /// Starts `count` shards, each on a new arbiter thread. Must run inside
    /// an actix system.
    pub fn start(
        store: &Arc<Store>,
        count: usize,
        mailbox_capacity: usize,
        timeout: Duration,
    ) -> ShardSet {
        let mut shards = Vec::with_capacity(count);
        let mut arbiters = Vec::with_capacity(count);
        for _ in 0..count {
            let arbiter = Arbiter::new();
            let store = Arc::clone(store);
            shards.push(IndexShard::start_in_arbiter(&arbiter.handle(), move |_| {
                IndexShard {
                    store,
                    mailbox_capacity,
                }
            }));
            arbiters.push(arbiter);
        }
        ShardSet {
            shards,
            arbiters,
            timeout,
        }
    }

    /// Runs `job` on `project`'s shard. A full mailbox waits up to the
    /// request timeout, then is answered `Overloaded`.
    pub async fn run<R, F>(&self, project: u64, job: F) -> Result<R, EngineError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> Result<R, EngineError> + Send + 'static,
    {
        let shard = self.shard_of(project);
        shard
            .send(ShardJob(Box::new(job)))
            .timeout(self.timeout)
            .await?
    }

    /// Like [`ShardSet::run`] without the timeout: for deletions and
    /// consent changes, which must finish once accepted.
    pub async fn run_to_completion<R, F>(&self, project: u64, job: F) -> Result<R, EngineError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> Result<R, EngineError> + Send + 'static,
    {
        self.shard_of(project).send(ShardJob(Box::new(job))).await?
    }

    fn shard_of(&self, project: u64) -> &Addr<IndexShard> {
        // Multiplicative hashing spreads consecutive project ids.
        let mixed = project.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let index = usize::try_from(mixed >> 32).unwrap_or(0) % self.shards.len().max(1);
        &self.shards[index]
    }

    /// Stops the shard arbiters after their queued work.
    pub fn stop(&self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}
