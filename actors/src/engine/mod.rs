//! The grouping engine: the actors of DESIGN.md and the pipeline they run.
//!
//! ```text
//! Node ─► Router ─► ProjectActor (cache, consent, rate limit, single flight)
//!                        │ miss
//!                        ├─► EmbedderActor(version) ─► EmbedderPool threads
//!                        └─► IndexShard(project % N) ─► Store (sled + indexes)
//! Retention: periodic sweep of the store.
//! ```

mod embedder;
mod error;
mod metrics;
mod node;
mod outcome;
mod pipeline;
mod project;
mod rate_limit;
mod retention;
mod router;
mod shard;
mod similarity;

pub use error::EngineError;
pub use metrics::EngineStats;
pub use node::{Node, NodeBuilder};
pub use outcome::{DegradedReason, GroupResult, GroupingMethod};
