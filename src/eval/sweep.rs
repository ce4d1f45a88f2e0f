//! Counterfactual AI merging: precision and recall at candidate thresholds.

use super::Observation;
use super::facts::{Facts, sequential_facts};
use super::score::ratio_or;
use serde::Serialize;

/// What merging at one threshold would have done (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub threshold: f32,
    /// Events whose nearest neighbour is within the threshold.
    pub merges: usize,
    /// Merges into a neighbour with the event's own label.
    pub correct_merges: usize,
    /// Events that reached the similarity search although their label was
    /// already seen in their project (fingerprinting split them).
    pub duplicates: usize,
    /// `correct_merges / merges`, 1 when nothing merges.
    pub precision: f64,
    /// Correct merges of duplicates / duplicates, 1 when there are none.
    pub recall: f64,
}

/// One point per threshold, in the order given.
pub fn threshold_sweep(observations: &[Observation], thresholds: &[f32]) -> Vec<SweepPoint> {
    let facts = sequential_facts(observations);
    thresholds
        .iter()
        .map(|&threshold| point(&facts, threshold))
        .collect()
}

fn point(facts: &[Facts], threshold: f32) -> SweepPoint {
    let merged = |f: &&Facts| f.distance.is_some_and(|d| d <= threshold);
    let merges = facts.iter().filter(merged).count();
    let correct_merges = facts
        .iter()
        .filter(merged)
        .filter(|f| f.nearest_same_label)
        .count();
    // Only a duplicate can be merged correctly in a consistent run; the
    // filter keeps recall within [0, 1] when neighbours come from events the
    // observations do not include.
    let recalled = facts
        .iter()
        .filter(merged)
        .filter(|f| f.nearest_same_label && f.duplicate)
        .count();
    // Recall is over the events the model was asked about: a fingerprint
    // hit is not a merge the threshold could have made or missed.
    let duplicates = facts.iter().filter(|f| f.duplicate && f.searched).count();
    SweepPoint {
        threshold,
        merges,
        correct_merges,
        duplicates,
        precision: ratio_or(correct_merges, merges, 1.0),
        recall: ratio_or(recalled, duplicates, 1.0),
    }
}
