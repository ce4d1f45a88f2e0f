//! `Router`: project id → `ProjectActor`, spawned lazily on the project
//! threads and evicted when idle (their state lives in the store).

use super::pipeline::Engine;
use super::project::{ProjectActor, Stop};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

pub struct Router {
    engine: Arc<Engine>,
    projects: HashMap<u64, Addr<ProjectActor>>,
    arbiters: Vec<ArbiterHandle>,
}

impl Router {
    pub fn new(engine: Arc<Engine>, arbiters: Vec<ArbiterHandle>) -> Router {
        Router {
            engine,
            projects: HashMap::new(),
            arbiters,
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.engine.settings.engine.mailbox_capacity);
    }
}

/// The project's actor, started if needed (or restarted after a crash).
#[derive(Message)]
#[rtype(result = "Addr<ProjectActor>")]
pub struct Route(pub u64);

impl Handler<Route> for Router {
    type Result = MessageResult<Route>;

    fn handle(&mut self, Route(project): Route, ctx: &mut Self::Context) -> Self::Result {
        if let Some(actor) = self.projects.get(&project) {
            // A crashed or stopped actor is disconnected: replace it.
            if actor.connected() {
                return MessageResult(actor.clone());
            }
            tracing::warn!(project, "project actor was gone; starting a new one");
        }
        let engine = Arc::clone(&self.engine);
        let router = ctx.address().downgrade();
        let slot =
            usize::try_from(project % u64::try_from(self.arbiters.len().max(1)).unwrap_or(1))
                .unwrap_or(0);
        let actor = match self.arbiters.get(slot) {
            Some(arbiter) => ProjectActor::start_in_arbiter(arbiter, move |_| {
                ProjectActor::new(project, engine, router)
            }),
            None => ProjectActor::new(project, engine, router).start(),
        };
        self.projects.insert(project, actor.clone());
        MessageResult(actor)
    }
}

/// A project actor has been idle long enough to stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Idle {
    pub project: u64,
    pub actor: Addr<ProjectActor>,
}

impl Handler<Idle> for Router {
    type Result = ();

    fn handle(&mut self, idle: Idle, _: &mut Self::Context) {
        // Only the registered actor is evicted; a replacement stays.
        if self.projects.get(&idle.project) == Some(&idle.actor) {
            self.projects.remove(&idle.project);
            idle.actor.do_send(Stop);
        }
    }
}

/// How many project actors are live.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ActiveProjects;

impl Handler<ActiveProjects> for Router {
    type Result = usize;

    fn handle(&mut self, _: ActiveProjects, _: &mut Self::Context) -> usize {
        self.projects.retain(|_, actor| actor.connected());
        self.projects.len()
    }
}
