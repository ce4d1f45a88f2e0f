//! Request bodies of the similarity endpoints, with SEER_API.md's field names
//! and defaults, and their validation.
//!
//! Unknown fields are ignored on purpose (no `deny_unknown_fields`): Sentry
//! adds fields over time and an older stackherd must keep answering.

use super::parse::RequestError;
use crate::store::schema::{MAX_ERROR_TYPE_BYTES, MAX_VERSION_BYTES};
use serde::{Deserialize, Serialize};

/// Bounds that the types alone cannot express. The defaults are generous
/// multiples of what Sentry sends, so only malformed or hostile requests hit them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest `stacktrace` (each entry of `stacktrace_list`), in bytes.
    /// Sentry never sends texts over 7000 tokens (roughly 30 KB of source
    /// text); 128 KiB leaves room for multi-byte text without letting one
    /// request tie up the tokenizer.
    pub max_stacktrace_bytes: usize,
    /// Largest `k`. Sentry sends 1; a search never needs more than a page of
    /// neighbours, and the answer's size grows with `k`.
    pub max_k: usize,
    /// Largest `hnsw_candidates` (Sentry's default is 100). Bounds the
    /// exact-cosine reranking work per request.
    pub max_hnsw_candidates: usize,
    /// Most hashes in one delete-by-hash request (Sentry batches ≤ 100).
    pub max_hash_list: usize,
    /// Most rows in one grouping-record (backfill) request.
    pub max_batch_rows: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_stacktrace_bytes: 128 * 1024,
            max_k: 1000,
            max_hnsw_candidates: 10_000,
            max_hash_list: 1000,
            max_batch_rows: 1000,
        }
    }
}

/// Longest accepted grouping hash. Sentry's are 32 hex digits; 64 leaves room
/// for other digests and stays well under the store's own bound
/// ([`crate::store::schema::MAX_HASH_BYTES`]), so every hash accepted here
/// is also accepted by the store.
pub const MAX_REQUEST_HASH_BYTES: usize = 64;

/// `POST /v0/issues/similar-issues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarIssuesRequest {
    pub project_id: u64,
    pub stacktrace: String,
    pub hash: String,
    #[serde(default)]
    pub exception_type: Option<String>,
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub use_reranking: bool,
    #[serde(default = "default_hnsw_candidates")]
    pub hnsw_candidates: usize,
    #[serde(default = "default_hnsw_distance")]
    pub hnsw_distance: f32,
    /// Absent means "the configured default"; see [`SimilarIssuesRequest::model_or`].
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub training_mode: bool,
    #[serde(default)]
    pub skip_fallback: bool,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub referrer: Option<String>,
}

/// One row of a backfill request; parallel to `stacktrace_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupingRecordRow {
    pub group_id: u64,
    pub hash: String,
    pub project_id: u64,
    #[serde(default)]
    pub exception_type: Option<String>,
}

/// `POST /v0/issues/similar-issues/grouping-record`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupingRecordsRequest {
    pub data: Vec<GroupingRecordRow>,
    pub stacktrace_list: Vec<String>,
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    #[serde(default = "default_k")]
    pub k: usize,
    /// A batching hint from Sentry; any value is accepted and the engine
    /// batches as it sees fit.
    #[serde(default = "default_encode_batch_size")]
    pub encode_stacktrace_batch_size: usize,
    #[serde(default)]
    pub use_reranking: bool,
    #[serde(default = "default_hnsw_candidates")]
    pub hnsw_candidates: usize,
    #[serde(default = "default_hnsw_distance")]
    pub hnsw_distance: f32,
    #[serde(default)]
    pub model: Option<String>,
}

/// `POST /v0/issues/similar-issues/grouping-record/delete-by-hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteByHashRequest {
    pub project_id: u64,
    pub hash_list: Vec<String>,
}

/// SEER_API.md's default model version, for callers without settings at hand.
pub const DEFAULT_MODEL: &str = "v1";

fn default_k() -> usize {
    1
}

fn default_threshold() -> f32 {
    0.01
}

fn default_hnsw_candidates() -> usize {
    100
}

fn default_hnsw_distance() -> f32 {
    0.05
}

fn default_encode_batch_size() -> usize {
    1
}

impl SimilarIssuesRequest {
    /// The requested model version, or `default` (the operator's
    /// `grouping.default_model`, which SEER_API.md sets to "v1").
    pub fn model_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.model.as_deref().unwrap_or(default)
    }

    /// Checks every field the types cannot; the error names the field.
    pub fn validate(&self, limits: &RequestLimits) -> Result<(), RequestError> {
        validate_stacktrace("stacktrace", &self.stacktrace, limits)?;
        validate_hash("hash", &self.hash)?;
        validate_exception_type("exception_type", self.exception_type.as_deref())?;
        validate_search(
            &SearchParams {
                k: self.k,
                threshold: self.threshold,
                hnsw_candidates: self.hnsw_candidates,
                hnsw_distance: self.hnsw_distance,
            },
            limits,
        )?;
        validate_model(self.model.as_deref())
    }
}

impl GroupingRecordsRequest {
    /// The requested model version, or `default`.
    pub fn model_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.model.as_deref().unwrap_or(default)
    }

    /// Whether `data` and `stacktrace_list` are parallel. A mismatch is not a
    /// validation error: SEER_API.md answers it with 200 and
    /// `{"success": false, "groups_with_neighbor": {}}`.
    pub fn lists_match(&self) -> bool {
        self.data.len() == self.stacktrace_list.len()
    }

    /// Checks every field the types cannot; the error names the field, with
    /// the row index for list entries (`data[2].hash`, `stacktrace_list[0]`).
    /// Does not check [`GroupingRecordsRequest::lists_match`].
    pub fn validate(&self, limits: &RequestLimits) -> Result<(), RequestError> {
        let rows = self.data.len().max(self.stacktrace_list.len());
        if rows > limits.max_batch_rows {
            let field = if self.data.len() > limits.max_batch_rows {
                "data"
            } else {
                "stacktrace_list"
            };
            return Err(RequestError::invalid(
                field,
                format!(
                    "{rows} rows, more than the limit of {}",
                    limits.max_batch_rows
                ),
            ));
        }
        for (index, row) in self.data.iter().enumerate() {
            validate_hash(&format!("data[{index}].hash"), &row.hash)?;
            validate_exception_type(
                &format!("data[{index}].exception_type"),
                row.exception_type.as_deref(),
            )?;
        }
        for (index, stacktrace) in self.stacktrace_list.iter().enumerate() {
            validate_stacktrace(&format!("stacktrace_list[{index}]"), stacktrace, limits)?;
        }
        validate_search(
            &SearchParams {
                k: self.k,
                threshold: self.threshold,
                hnsw_candidates: self.hnsw_candidates,
                hnsw_distance: self.hnsw_distance,
            },
            limits,
        )?;
        validate_model(self.model.as_deref())
    }
}

impl DeleteByHashRequest {
    /// Checks the list's size and every hash; the error names the entry.
    /// An empty list is valid (nothing to delete).
    pub fn validate(&self, limits: &RequestLimits) -> Result<(), RequestError> {
        if self.hash_list.len() > limits.max_hash_list {
            return Err(RequestError::invalid(
                "hash_list",
                format!(
                    "{} hashes, more than the limit of {}",
                    self.hash_list.len(),
                    limits.max_hash_list
                ),
            ));
        }
        for (index, hash) in self.hash_list.iter().enumerate() {
            validate_hash(&format!("hash_list[{index}]"), hash)?;
        }
        Ok(())
    }
}

/// The search knobs shared by both search requests.
struct SearchParams {
    k: usize,
    threshold: f32,
    hnsw_candidates: usize,
    hnsw_distance: f32,
}

fn validate_search(params: &SearchParams, limits: &RequestLimits) -> Result<(), RequestError> {
    // k = 0 is meaningful (force an insert, return nothing), so only the top is bounded.
    if params.k > limits.max_k {
        return Err(RequestError::invalid(
            "k",
            format!("{} is more than the limit of {}", params.k, limits.max_k),
        ));
    }
    // JSON cannot say NaN, but a huge literal becomes infinity as an f32.
    if !params.threshold.is_finite() || !(0.0..=2.0).contains(&params.threshold) {
        return Err(RequestError::invalid(
            "threshold",
            format!(
                "{} is not a cosine distance between 0 and 2",
                params.threshold
            ),
        ));
    }
    if params.hnsw_candidates > limits.max_hnsw_candidates {
        return Err(RequestError::invalid(
            "hnsw_candidates",
            format!(
                "{} is more than the limit of {}",
                params.hnsw_candidates, limits.max_hnsw_candidates
            ),
        ));
    }
    if !params.hnsw_distance.is_finite() || params.hnsw_distance < 0.0 {
        return Err(RequestError::invalid(
            "hnsw_distance",
            format!("{} is not a finite distance >= 0", params.hnsw_distance),
        ));
    }
    Ok(())
}

fn validate_stacktrace(
    field: &str,
    stacktrace: &str,
    limits: &RequestLimits,
) -> Result<(), RequestError> {
    if stacktrace.trim().is_empty() {
        return Err(RequestError::invalid(field, "must not be empty"));
    }
    if stacktrace.len() > limits.max_stacktrace_bytes {
        return Err(RequestError::invalid(
            field,
            format!(
                "{} bytes, more than the limit of {} bytes",
                stacktrace.len(),
                limits.max_stacktrace_bytes
            ),
        ));
    }
    Ok(())
}

/// Hashes become store keys and log fields, so only printable ASCII without
/// spaces is accepted (a subset of what the store accepts).
fn validate_hash(field: &str, hash: &str) -> Result<(), RequestError> {
    let printable = hash.bytes().all(|b| b.is_ascii_graphic());
    if hash.is_empty() || hash.len() > MAX_REQUEST_HASH_BYTES || !printable {
        return Err(RequestError::invalid(
            field,
            format!(
                "must be 1..={MAX_REQUEST_HASH_BYTES} printable ASCII characters without spaces"
            ),
        ));
    }
    Ok(())
}

fn validate_exception_type(field: &str, exception_type: Option<&str>) -> Result<(), RequestError> {
    match exception_type {
        Some(value) if value.len() > MAX_ERROR_TYPE_BYTES => Err(RequestError::invalid(
            field,
            format!("longer than {MAX_ERROR_TYPE_BYTES} bytes"),
        )),
        _ => Ok(()),
    }
}

/// Only the shape is checked here; whether the version is configured is the
/// engine's call (it knows the settings).
fn validate_model(model: Option<&str>) -> Result<(), RequestError> {
    let Some(model) = model else {
        return Ok(());
    };
    let clean = !model.chars().any(char::is_control);
    if model.trim().is_empty() || model.len() > MAX_VERSION_BYTES || !clean {
        return Err(RequestError::invalid(
            "model",
            format!("must be 1..={MAX_VERSION_BYTES} bytes without control characters"),
        ));
    }
    Ok(())
}
