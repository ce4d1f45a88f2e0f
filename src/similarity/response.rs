//! Response bodies of the similarity endpoints (SEER_API.md). They also
//! deserialize, so tests and clients can read what the service wrote.

use super::parse::RequestError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One neighbour of the request's stacktrace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarIssue {
    pub parent_hash: String,
    pub stacktrace_distance: f32,
    pub should_group: bool,
}

/// Answer to `POST /v0/issues/similar-issues`. Empty `responses` means no match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarIssuesResponse {
    pub responses: Vec<SimilarIssue>,
    /// The version whose index produced the answer (the stable one after a fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_used: Option<String>,
}

/// Answer to `POST /v0/issues/similar-issues/grouping-record`, keyed by
/// `group_id` as a string (JSON object keys are strings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupingRecordsResponse {
    pub success: bool,
    pub groups_with_neighbor: BTreeMap<String, SimilarIssue>,
}

impl GroupingRecordsResponse {
    /// The 200 answer SEER_API.md gives when `data` and `stacktrace_list`
    /// differ in length.
    pub fn mismatched_lists() -> Self {
        GroupingRecordsResponse {
            success: false,
            groups_with_neighbor: BTreeMap::new(),
        }
    }
}

/// Answer to both deletion endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessResponse {
    pub success: bool,
}

/// Body of every non-200 answer. Sentry only looks at the status; the text is
/// for the operator reading its logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    /// The offending field's path, when one field is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            field: None,
        }
    }
}

impl From<&RequestError> for ErrorBody {
    fn from(error: &RequestError) -> Self {
        ErrorBody {
            error: error.to_string(),
            field: error.field().map(str::to_string),
        }
    }
}
