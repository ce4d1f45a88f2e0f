//! Per-event facts read from the run in processing order: which issues an
//! event is in, whether it joined, whether the join was right, whether its
//! true issue had been seen, and how its nearest neighbour scores.

use super::{Method, Observation};
use std::collections::HashMap;

/// What one event contributes to the metrics. Issue keys are small integers
/// interned per `(project, label)` and `(project, predicted)`, so issues of
/// different projects never compare equal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Facts {
    pub true_issue: usize,
    pub predicted_issue: usize,
    /// The predicted issue had an earlier event.
    pub joined: bool,
    /// Joined an issue whose first event has this event's label.
    pub join_correct: bool,
    /// An earlier event of the project has this event's label.
    pub duplicate: bool,
    pub ai: bool,
    /// The similarity search ran for this event (it was a fingerprint
    /// miss on the AI path, or has a recorded neighbour). Only such events
    /// enter the AUC and the threshold sweep: a fingerprint-cache hit never
    /// asks the model, so it says nothing about the model's separation.
    pub searched: bool,
    /// Distance to the nearest neighbour; `None` without one or when NaN.
    pub distance: Option<f32>,
    /// The nearest neighbour's label is this event's label.
    pub nearest_same_label: bool,
}

/// Interns `(project, name)` pairs into dense keys.
#[derive(Default)]
struct Interner<'a> {
    keys: HashMap<(u64, &'a str), usize>,
}

impl<'a> Interner<'a> {
    /// The key and whether it was new.
    fn intern(&mut self, project: u64, name: &'a str) -> (usize, bool) {
        let next = self.keys.len();
        let key = *self.keys.entry((project, name)).or_insert(next);
        (key, key == next)
    }
}

/// Facts for every observation, in the same order.
pub(crate) fn sequential_facts(observations: &[Observation]) -> Vec<Facts> {
    let mut true_issues = Interner::default();
    let mut predicted_issues = Interner::default();
    // The true issue of each predicted issue's first event.
    let mut issue_label: HashMap<usize, usize> = HashMap::new();
    observations
        .iter()
        .map(|observation| {
            let (true_issue, first_of_label) =
                true_issues.intern(observation.project, &observation.label);
            let (predicted_issue, created) =
                predicted_issues.intern(observation.project, &observation.predicted);
            let first_label = *issue_label.entry(predicted_issue).or_insert(true_issue);
            let nearest = observation.nearest.as_ref();
            Facts {
                true_issue,
                predicted_issue,
                joined: !created,
                join_correct: !created && first_label == true_issue,
                duplicate: !first_of_label,
                ai: observation.method == Method::Ai,
                searched: matches!(observation.method, Method::Ai | Method::New)
                    || nearest.is_some(),
                distance: nearest.map(|n| n.distance).filter(|d| !d.is_nan()),
                nearest_same_label: nearest.is_some_and(|n| n.label == observation.label),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Nearest;

    fn observation(project: u64, label: &str, predicted: &str) -> Observation {
        Observation {
            project,
            label: label.into(),
            platform: "python".into(),
            predicted: predicted.into(),
            method: Method::Fingerprint,
            nearest: None,
        }
    }

    #[test]
    fn same_names_in_two_projects_are_different_issues() {
        let facts = sequential_facts(&[observation(1, "a", "x"), observation(2, "a", "x")]);
        assert!(!facts[1].joined);
        assert!(!facts[1].duplicate);
        assert_ne!(facts[0].true_issue, facts[1].true_issue);
        assert_ne!(facts[0].predicted_issue, facts[1].predicted_issue);
    }

    #[test]
    fn a_join_is_judged_by_the_issue_first_event() {
        let facts = sequential_facts(&[
            observation(1, "a", "x"),
            observation(1, "b", "x"),
            observation(1, "a", "x"),
        ]);
        assert!(facts[1].joined && !facts[1].join_correct);
        assert!(facts[2].joined && facts[2].join_correct && facts[2].duplicate);
    }

    #[test]
    fn nan_distance_counts_as_no_neighbour() {
        let mut event = observation(1, "a", "x");
        event.nearest = Some(Nearest {
            distance: f32::NAN,
            label: "a".into(),
        });
        let facts = sequential_facts(&[event]);
        assert_eq!(facts[0].distance, None);
        assert!(facts[0].nearest_same_label);
    }
}
