//! Grouping quality metrics on labeled data (pairwise, BCubed, merge precision, ROC AUC).
//!
//! The input is one [`Observation`] per event, **in processing order**: the
//! event's project, its true issue (`label`), its platform, the issue the engine
//! put it in (`predicted`), how it got there ([`Method`]) and, for AI-capable
//! runs, the nearest existing issue the similarity search found when the event
//! arrived ([`Nearest`]).
//!
//! # Definitions
//!
//! Issues live inside a project: the same label (or the same predicted id) in
//! two projects names two different issues. Every count below is therefore
//! keyed by `(project, label)` or `(project, predicted)`, and a *pair* is
//! always two distinct events of the same project.
//!
//! Sequential facts, read in processing order:
//!
//! - An event **joins** when its predicted issue already had an earlier event
//!   (it did not create the issue). The **issue's label** is the label of the
//!   predicted issue's first event.
//! - A join is **correct** when the event's label equals the issue's label.
//! - An event is a **duplicate** when an earlier event of the same project has
//!   the same label; otherwise it is the **first** of its true issue.
//!
//! Metrics (a ratio whose denominator is zero takes the value stated in
//! brackets: nothing happened, so nothing went wrong or was missed):
//!
//! - `merge_rate` = joins / events \[0\].
//! - `merge_precision` = correct joins / joins \[1\]; `1 − merge_precision` is
//!   the overgrouping rate.
//! - `merge_recall` = correct joins / duplicates \[1\] (a correct join is always
//!   a duplicate); `1 − merge_recall` is the undergrouping rate.
//! - `ai_merge_precision` = correct joins made by [`Method::Ai`] / joins made
//!   by [`Method::Ai`] \[1\].
//! - `pair_precision` = pairs in the same true *and* the same predicted issue
//!   / pairs in the same predicted issue \[1\]; `pair_recall` = the same
//!   numerator / pairs in the same true issue \[1\]; `pair_f1` is their
//!   harmonic mean.
//! - BCubed, per event `e` with true issue `T(e)` and predicted issue `P(e)`:
//!   `precision(e) = |T(e) ∩ P(e)| / |P(e)|`, `recall(e) = |T(e) ∩ P(e)| / |T(e)|`;
//!   `bcubed_precision` and `bcubed_recall` are their means over events \[1\],
//!   `bcubed_f1` the harmonic mean of those two means.
//! - `auc`: ROC AUC for telling duplicates (positives) from firsts
//!   (negatives) by the score `−nearest.distance`: the probability that a
//!   random duplicate scores higher than a random first, ties counted half.
//!   Events without a neighbour (or with a NaN distance) score lowest.
//!   `None` when one of the two classes is empty or no event has a neighbour
//!   (a fingerprint-only run has nothing to rank). For the AUC to mean
//!   anything, the harness should record the nearest neighbour for *every*
//!   event, cache hits included.
//!
//! An F1 of two zeros is 0.
//!
//! # Per platform
//!
//! [`metrics_by_platform`] reports each platform over its own events. The
//! sequential facts (join, correct, duplicate) still come from the whole run,
//! so an event that joined an issue first seen on another platform is a join
//! there too. The clustering metrics (issue counts, pairs, BCubed) use the
//! true and predicted issues restricted to that platform's events.
//!
//! # Threshold sweep
//!
//! [`threshold_sweep`] answers "what if the AI merged every event whose
//! nearest neighbour is within `t`": for each `t`, a *merge* is an event with
//! `nearest.distance <= t`, a merge is *correct* when `nearest.label` equals
//! the event's label, `precision` = correct merges / merges \[1\] and `recall`
//! = correct merges of duplicates / duplicates \[1\]. It ignores what the
//! engine actually did, so it can pick a threshold for the next run.
//! [`plot_precision_recall`] draws those points as an SVG.

mod facts;
mod plot;
mod score;
mod sweep;

pub use plot::plot_precision_recall;
pub use sweep::{SweepPoint, threshold_sweep};

use facts::{Facts, sequential_facts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use thiserror::Error;

/// How the engine grouped an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The fingerprint cache knew one of the event's hashes.
    Fingerprint,
    /// The similarity search merged it into an existing issue.
    Ai,
    /// The similarity search ran and found nothing close: a new issue.
    New,
    /// A new issue without a similarity search (AI unavailable, no consent,
    /// rate limited, or a fingerprint-only run).
    FingerprintOnly,
}

/// The nearest existing issue the similarity search found at arrival time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nearest {
    /// Cosine distance (1 − cos) to that issue's embedding.
    pub distance: f32,
    /// The true label of that issue (the label of its first event).
    pub label: String,
}

/// One event of a run, in processing order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub project: u64,
    /// The true issue.
    pub label: String,
    pub platform: String,
    /// The issue the engine assigned (its id, unique within the project).
    pub predicted: String,
    pub method: Method,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearest: Option<Nearest>,
}

/// Grouping quality of a run (or of one platform's events); see the module
/// docs for the exact definitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub events: usize,
    pub issues_true: usize,
    pub issues_predicted: usize,
    /// Events that joined an existing predicted issue.
    pub merges: usize,
    /// Of those, the ones [`Method::Ai`] made.
    pub ai_merges: usize,
    pub merge_rate: f64,
    pub merge_precision: f64,
    pub merge_recall: f64,
    pub ai_merge_precision: f64,
    pub pair_precision: f64,
    pub pair_recall: f64,
    pub pair_f1: f64,
    pub bcubed_precision: f64,
    pub bcubed_recall: f64,
    pub bcubed_f1: f64,
    pub auc: Option<f64>,
}

/// Why an evaluation output could not be produced.
#[derive(Debug, Error)]
pub enum EvalError {
    #[error("cannot draw the precision-recall plot to {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
}

/// Metrics over the whole run.
pub fn metrics(observations: &[Observation]) -> Metrics {
    let facts = sequential_facts(observations);
    score::aggregate(&facts)
}

/// Metrics per platform (see "Per platform" in the module docs).
pub fn metrics_by_platform(observations: &[Observation]) -> BTreeMap<String, Metrics> {
    let facts = sequential_facts(observations);
    let mut by_platform: BTreeMap<&str, Vec<Facts>> = BTreeMap::new();
    for (observation, fact) in observations.iter().zip(&facts) {
        by_platform
            .entry(observation.platform.as_str())
            .or_default()
            .push(fact.clone());
    }
    by_platform
        .into_iter()
        .map(|(platform, facts)| (platform.to_string(), score::aggregate(&facts)))
        .collect()
}
