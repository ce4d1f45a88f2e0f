//! Turning per-event facts into [`Metrics`]: counts, pairs, BCubed and AUC.

use super::Metrics;
use super::facts::Facts;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Metrics over `facts` (one slice: the whole run or one platform).
pub(crate) fn aggregate(facts: &[Facts]) -> Metrics {
    let clusters = Clusters::of(facts);
    let (pair_precision, pair_recall) = clusters.pairs();
    let (bcubed_precision, bcubed_recall) = clusters.bcubed(facts);
    let merges = count(facts, |f| f.joined);
    let correct = count(facts, |f| f.join_correct);
    let ai_merges = count(facts, |f| f.joined && f.ai);
    let ai_correct = count(facts, |f| f.join_correct && f.ai);
    let duplicates = count(facts, |f| f.duplicate);
    Metrics {
        events: facts.len(),
        issues_true: clusters.true_sizes.len(),
        issues_predicted: clusters.predicted_sizes.len(),
        merges,
        ai_merges,
        merge_rate: ratio_or(merges, facts.len(), 0.0),
        merge_precision: ratio_or(correct, merges, 1.0),
        merge_recall: ratio_or(correct, duplicates, 1.0),
        ai_merge_precision: ratio_or(ai_correct, ai_merges, 1.0),
        pair_precision,
        pair_recall,
        pair_f1: f1(pair_precision, pair_recall),
        bcubed_precision,
        bcubed_recall,
        bcubed_f1: f1(bcubed_precision, bcubed_recall),
        auc: auc(facts),
    }
}

fn count(facts: &[Facts], keep: impl Fn(&Facts) -> bool) -> usize {
    facts.iter().filter(|f| keep(f)).count()
}

/// `numerator / denominator`, or `empty` when there is nothing to divide.
pub(crate) fn ratio_or(numerator: usize, denominator: usize, empty: f64) -> f64 {
    if denominator == 0 {
        empty
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Harmonic mean; 0 when both are 0.
pub(crate) fn f1(precision: f64, recall: f64) -> f64 {
    let sum = precision + recall;
    if sum > 0.0 {
        2.0 * precision * recall / sum
    } else {
        0.0
    }
}

/// The contingency table of true × predicted issues over one slice.
struct Clusters {
    cells: HashMap<(usize, usize), u64>,
    true_sizes: HashMap<usize, u64>,
    predicted_sizes: HashMap<usize, u64>,
}

impl Clusters {
    fn of(facts: &[Facts]) -> Self {
        let mut clusters = Clusters {
            cells: HashMap::new(),
            true_sizes: HashMap::new(),
            predicted_sizes: HashMap::new(),
        };
        for fact in facts {
            *clusters
                .cells
                .entry((fact.true_issue, fact.predicted_issue))
                .or_default() += 1;
            *clusters.true_sizes.entry(fact.true_issue).or_default() += 1;
            *clusters
                .predicted_sizes
                .entry(fact.predicted_issue)
                .or_default() += 1;
        }
        clusters
    }

    /// Pair precision and recall. Issue keys already include the project,
    /// so every counted pair is a same-project pair.
    fn pairs(&self) -> (f64, f64) {
        let both = pairs_in(self.cells.values());
        let predicted = pairs_in(self.predicted_sizes.values());
        let truth = pairs_in(self.true_sizes.values());
        (ratio_u64(both, predicted), ratio_u64(both, truth))
    }

    /// Mean BCubed precision and recall over the events of the slice.
    fn bcubed(&self, facts: &[Facts]) -> (f64, f64) {
        if facts.is_empty() {
            return (1.0, 1.0);
        }
        let (mut precision, mut recall) = (0.0, 0.0);
        for fact in facts {
            let overlap = self.cell(fact) as f64;
            precision += overlap / size_of(&self.predicted_sizes, fact.predicted_issue);
            recall += overlap / size_of(&self.true_sizes, fact.true_issue);
        }
        let n = facts.len() as f64;
        (precision / n, recall / n)
    }

    fn cell(&self, fact: &Facts) -> u64 {
        self.cells
            .get(&(fact.true_issue, fact.predicted_issue))
            .copied()
            .unwrap_or(0)
    }
}

/// Size of a cluster the event belongs to; never below 1, so the division
/// in BCubed is always defined.
fn size_of(sizes: &HashMap<usize, u64>, key: usize) -> f64 {
    sizes.get(&key).copied().unwrap_or(1).max(1) as f64
}

/// Number of unordered pairs inside groups of the given sizes.
fn pairs_in<'a>(sizes: impl Iterator<Item = &'a u64>) -> u64 {
    sizes
        .map(|&n| n.saturating_mul(n.saturating_sub(1)) / 2)
        .fold(0u64, u64::saturating_add)
}

fn ratio_u64(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        1.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// ROC AUC of duplicates vs firsts scored by `−distance` (no neighbour
/// lowest), ties counted half; `None` when undefined (see module docs).
pub(crate) fn auc(facts: &[Facts]) -> Option<f64> {
    if facts.iter().all(|f| f.distance.is_none()) {
        return None;
    }
    let mut scored: Vec<(Option<f32>, bool)> = facts
        .iter()
        .filter(|f| f.searched)
        .map(|f| (f.distance, f.duplicate))
        .collect();
    // Best score first means: smallest distance first, no neighbour last.
    scored.sort_by(|a, b| by_distance(a.0, b.0));
    let positives = scored.iter().filter(|(_, dup)| *dup).count() as f64;
    let negatives = scored.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // Walk from the lowest score up: each positive beats every negative
    // already passed and ties with the negatives of its own score group.
    let mut wins = 0.0;
    let mut negatives_below = 0.0;
    for group in scored
        .chunk_by(|a, b| by_distance(a.0, b.0) == Ordering::Equal)
        .rev()
    {
        let group_positives = group.iter().filter(|(_, dup)| *dup).count() as f64;
        let group_negatives = group.len() as f64 - group_positives;
        wins += group_positives * (negatives_below + 0.5 * group_negatives);
        negatives_below += group_negatives;
    }
    Some(wins / (positives * negatives))
}

/// Orders distances ascending with "no neighbour" after every distance.
fn by_distance(a: Option<f32>, b: Option<f32>) -> Ordering {
    match (a, b) {
        // NaN never gets here (facts drop it); -0.0 and 0.0 tie.
        (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}
