//! `Retention`: the periodic sweep that removes records unseen for the
//! retention period, from sled and the indexes together.

use super::pipeline::{Engine, now_seconds};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

pub struct Retention {
    engine: Arc<Engine>,
    sweeping: bool,
}

impl Retention {
    pub fn new(engine: Arc<Engine>) -> Retention {
        Retention {
            engine,
            sweeping: false,
        }
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let store = Arc::clone(&self.engine.store);
        // The sweep reads and deletes on disk: off the async threads.
        let work = tokio::task::spawn_blocking(move || store.sweep_retention(now_seconds()));
        ctx.spawn(
            actix::fut::wrap_future::<_, Self>(work).map(|outcome, act, _| {
                act.sweeping = false;
                match outcome {
                    Ok(Ok(removed)) => {
                        act.engine.counters.retention_removed(removed);
                        tracing::info!(removed, "retention sweep done");
                    }
                    Ok(Err(error)) => tracing::error!(%error, "retention sweep failed"),
                    Err(error) => tracing::error!(%error, "retention sweep panicked"),
                }
            }),
        );
    }
}

impl Actor for Retention {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = Duration::from_secs(self.engine.settings.engine.retention_interval_seconds);
        self.sweep(ctx);
        ctx.run_interval(every, Retention::sweep);
    }
}

/// Sweep now (for operators and tests); answered when the sweep is queued.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SweepNow;

impl Handler<SweepNow> for Retention {
    type Result = ();

    fn handle(&mut self, _: SweepNow, ctx: &mut Self::Context) {
        self.sweep(ctx);
    }
}
