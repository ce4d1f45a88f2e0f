//! The engine's error, shaped for its callers: each variant says whether the
//! caller is at fault, should retry, or found a bug.

use stackherd::embed::pool::PoolError;
use stackherd::store::StoreError;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum EngineError {
    /// The request is invalid; the message names the field.
    #[error("{0}")]
    BadInput(String),
    /// Too much work queued; retry after the given time.
    #[error("overloaded: {what}; retry after {} ms", retry_after.as_millis())]
    Overloaded { what: String, retry_after: Duration },
    /// A component is not available (starting, stopping, model not loaded).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or a broken store; the request failed, the node lives on.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub(crate) fn overloaded(what: impl Into<String>) -> EngineError {
        EngineError::Overloaded {
            what: what.into(),
            retry_after: Duration::from_secs(1),
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(error: StoreError) -> Self {
        if error.is_bad_input() {
            EngineError::BadInput(error.to_string())
        } else {
            EngineError::Internal(format!("store: {error}"))
        }
    }
}

impl From<PoolError> for EngineError {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Overloaded => EngineError::overloaded("the embedder queue is full"),
            PoolError::Timeout => EngineError::Overloaded {
                what: "no embedding within the timeout".to_string(),
                retry_after: Duration::from_secs(2),
            },
            PoolError::ShuttingDown => EngineError::Unavailable(error.to_string()),
            PoolError::Embed(_) | PoolError::Internal(_) | PoolError::InvalidOption { .. } => {
                EngineError::Internal(error.to_string())
            }
        }
    }
}

impl From<actix::MailboxError> for EngineError {
    fn from(error: actix::MailboxError) -> Self {
        match error {
            actix::MailboxError::Timeout => EngineError::overloaded("an actor mailbox stayed full"),
            actix::MailboxError::Closed => {
                EngineError::Unavailable("an actor stopped while handling the request".to_string())
            }
        }
    }
}
