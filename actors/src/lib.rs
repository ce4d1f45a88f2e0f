//! The live stackherd system: the actors of DESIGN.md, the grouping pipeline,
//! and the embeddable [`Node`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use stackherd::settings::Settings;
//! use stackherd_actors::Node;
//!
//! let node = Node::start(Settings::load(None)?)?;
//! let result = node.group_json(1, br#"{"platform": "python", "message": "boom"}"#).await?;
//! println!("issue {} ({})", result.issue, result.method.name());
//! node.shutdown(std::time::Duration::from_secs(5))?;
//! # Ok(()) }
//! ```

pub mod cluster;
pub mod engine;
pub mod http;

pub use engine::{
    DegradedReason, EngineError, EngineStats, GroupResult, GroupingMethod, Node, NodeBuilder,
};
