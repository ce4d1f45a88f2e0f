//! What grouping an event decided, and why.

use serde::{Deserialize, Serialize};

/// Why an event was grouped by fingerprint alone although its fingerprint
/// was new to the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegradedReason {
    /// The project has not consented to AI grouping.
    NoConsent,
    /// The project used up its AI request budget.
    RateLimited,
    /// The embedder's queue (or a mailbox on the way) was full.
    EmbedderOverloaded,
    /// No embedding or index answer within the request timeout.
    Timeout,
    /// The event has no stacktrace to embed (or platform `other`).
    NoStacktrace,
    /// The embedder failed on this text.
    EmbedderFailed,
    /// The store or an index failed; the event was still grouped.
    StoreUnavailable,
    /// The project's owner node could not be reached (cluster).
    OwnerUnreachable,
}

impl DegradedReason {
    pub const ALL: [DegradedReason; 8] = [
        DegradedReason::NoConsent,
        DegradedReason::RateLimited,
        DegradedReason::EmbedderOverloaded,
        DegradedReason::Timeout,
        DegradedReason::NoStacktrace,
        DegradedReason::EmbedderFailed,
        DegradedReason::StoreUnavailable,
        DegradedReason::OwnerUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DegradedReason::NoConsent => "no_consent",
            DegradedReason::RateLimited => "rate_limited",
            DegradedReason::EmbedderOverloaded => "embedder_overloaded",
            DegradedReason::Timeout => "timeout",
            DegradedReason::NoStacktrace => "no_stacktrace",
            DegradedReason::EmbedderFailed => "embedder_failed",
            DegradedReason::StoreUnavailable => "store_unavailable",
            DegradedReason::OwnerUnreachable => "owner_unreachable",
        }
    }
}

/// How an event found its issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum GroupingMethod {
    /// One of the event's hashes was already known in the project.
    Fingerprint,
    /// A new hash joined the issue of a near stacktrace.
    Ai {
        /// The stored hash whose embedding was nearest.
        matched_hash: String,
        /// Its cosine distance to this event's embedding.
        distance: f32,
        /// The model version whose index produced the match.
        model_used: String,
    },
    /// A new hash started a new issue after the AI search found nothing near.
    New {
        /// The model version the embedding was stored under (if it was
        /// stored; a near duplicate already in the index suppresses it).
        model_used: String,
    },
    /// A new hash started a new issue without the AI path.
    FingerprintOnly { reason: DegradedReason },
}

impl GroupingMethod {
    /// `fingerprint`, `ai`, `new` or `fingerprint_only`.
    pub fn name(&self) -> &'static str {
        match self {
            GroupingMethod::Fingerprint => "fingerprint",
            GroupingMethod::Ai { .. } => "ai",
            GroupingMethod::New { .. } => "new",
            GroupingMethod::FingerprintOnly { .. } => "fingerprint_only",
        }
    }
}

/// The grouping of one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupResult {
    pub project: u64,
    /// The issue the event belongs to, named by the primary hash of the
    /// event that created it.
    pub issue: String,
    /// This event's primary grouping hash.
    pub hash: String,
    #[serde(flatten)]
    pub method: GroupingMethod,
}

impl GroupResult {
    /// Whether this event created its issue.
    pub fn created_issue(&self) -> bool {
        matches!(
            self.method,
            GroupingMethod::New { .. } | GroupingMethod::FingerprintOnly { .. }
        )
    }
}
