//! Grouping metrics: a hand-worked example, edge cases, the threshold sweep,
//! the plot, and properties over random runs.

use proptest::prelude::*;
use stackherd::eval::{
    EvalError, Method, Metrics, Nearest, Observation, SweepPoint, metrics, metrics_by_platform,
    plot_precision_recall, threshold_sweep,
};

fn obs(
    project: u64,
    label: &str,
    platform: &str,
    predicted: &str,
    method: Method,
    nearest: Option<(f32, &str)>,
) -> Observation {
    Observation {
        project,
        label: label.into(),
        platform: platform.into(),
        predicted: predicted.into(),
        method,
        nearest: nearest.map(|(distance, label)| Nearest {
            distance,
            label: label.into(),
        }),
    }
}

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: {actual} != {expected}"
    );
}

/// Eight events in two projects, in processing order.
///
/// | # | project | label | platform | predicted | method | nearest |
/// |---|---|---|---|---|---|---|
/// | e1 | 1 | A | python | X | new | — |
/// | e2 | 1 | A | python | X | fingerprint | 0.05 → A |
/// | e3 | 1 | B | python | X | ai | 0.10 → A |
/// | e4 | 1 | B | java | Y | new | 0.30 → A |
/// | e5 | 1 | A | java | Z | new | 0.40 → B |
/// | e6 | 2 | A | python | X | fingerprint_only | — |
/// | e7 | 2 | C | java | W | new | 0.15 → A |
/// | e8 | 2 | A | python | X | ai | 0.15 → A |
///
/// Project 2's `A` and `X` are other issues than project 1's.
fn hand_made() -> Vec<Observation> {
    use Method::*;
    vec![
        obs(1, "A", "python", "X", New, None),
        obs(1, "A", "python", "X", Fingerprint, Some((0.05, "A"))),
        obs(1, "B", "python", "X", Ai, Some((0.10, "A"))),
        obs(1, "B", "java", "Y", New, Some((0.30, "A"))),
        obs(1, "A", "java", "Z", New, Some((0.40, "B"))),
        obs(2, "A", "python", "X", FingerprintOnly, None),
        obs(2, "C", "java", "W", New, Some((0.15, "A"))),
        obs(2, "A", "python", "X", Ai, Some((0.15, "A"))),
    ]
}

#[test]
fn hand_made_overall() {
    let m = metrics(&hand_made());
    // Sequential facts:
    //   e1 creates 1/X (first label A); e2 joins 1/X, A = A: correct, dup.
    //   e3 joins 1/X, B ≠ A: wrong (an AI overgrouping); B is new: not dup.
    //   e4 creates 1/Y; B seen at e3: dup (missed). e5 creates 1/Z; dup (missed).
    //   e6 creates 2/X (label A, new in project 2). e7 creates 2/W; C new.
    //   e8 joins 2/X, A = A: correct (AI), dup.
    assert_eq!(m.events, 8);
    assert_eq!(m.issues_true, 4); // 1/A 1/B 2/A 2/C
    assert_eq!(m.issues_predicted, 5); // 1/X 1/Y 1/Z 2/X 2/W
    assert_eq!(m.merges, 3); // e2 e3 e8
    assert_eq!(m.ai_merges, 2); // e3 e8
    close(m.merge_rate, 3.0 / 8.0, "merge rate");
    close(m.merge_precision, 2.0 / 3.0, "merge precision"); // e2 e8 of e2 e3 e8
    close(m.merge_recall, 2.0 / 4.0, "merge recall"); // dups e2 e4 e5 e8
    close(m.ai_merge_precision, 1.0 / 2.0, "AI merge precision"); // e8 of e3 e8
    // Pairs. Project 1 cells (true, predicted): (A,X)=2 (B,X)=1 (B,Y)=1
    // (A,Z)=1; true sizes A=3 B=2; predicted X=3 Y=1 Z=1.
    //   both = C(2,2) = 1; predicted = C(3,2) = 3; true = C(3,2)+C(2,2) = 4.
    // Project 2 cells (A,X)=2 (C,W)=1: both 1, predicted 1, true 1.
    // Totals: both 2, predicted 4, true 5.
    close(m.pair_precision, 2.0 / 4.0, "pair precision");
    close(m.pair_recall, 2.0 / 5.0, "pair recall");
    close(m.pair_f1, 2.0 * 0.5 * 0.4 / 0.9, "pair F1");
    // BCubed (precision = |T∩P|/|P|, recall = |T∩P|/|T|):
    //   e1, e2 (A,X): 2/3, 2/3   e3 (B,X): 1/3, 1/2   e4 (B,Y): 1, 1/2
    //   e5 (A,Z): 1, 1/3         e6, e8 (A,X): 1, 1   e7 (C,W): 1, 1
    //   precision = (2/3+2/3+1/3+1+1+1+1+1)/8 = (20/3)/8 = 5/6
    //   recall    = (2/3+2/3+1/2+1/2+1/3+1+1+1)/8 = (17/3)/8 = 17/24
    //   F1 = 2·(5/6)·(17/24) / (5/6 + 17/24) = 170/222
    close(m.bcubed_precision, 5.0 / 6.0, "BCubed precision");
    close(m.bcubed_recall, 17.0 / 24.0, "BCubed recall");
    close(m.bcubed_f1, 170.0 / 222.0, "BCubed F1");
    // AUC, over the events that reached the similarity search (e6 is a
    // fingerprint-only event without a neighbour, so it is left out):
    // duplicates e2 .05, e4 .30, e5 .40, e8 .15 against firsts e1 —,
    // e3 .10, e7 .15 (a searched event without a neighbour scores lowest).
    //   e2 beats all three: 3. e4 beats e1: 1. e5 beats e1: 1.
    //   e8 beats e1, ties e7 (.15 = .15, half), loses to e3: 1.5.
    //   AUC = 6.5 / 12.
    assert_eq!(m.auc, Some(6.5 / 12.0));
}

#[test]
fn hand_made_by_platform() {
    let by_platform = metrics_by_platform(&hand_made());
    assert_eq!(
        by_platform.keys().collect::<Vec<_>>(),
        vec!["java", "python"]
    );

    // java: e4 (1,B,Y), e5 (1,A,Z), e7 (2,C,W). Facts from the whole run:
    // e4 and e5 are duplicates that did not join; e7 is a first.
    let java = &by_platform["java"];
    assert_eq!(java.events, 3);
    assert_eq!(java.issues_true, 3);
    assert_eq!(java.issues_predicted, 3);
    assert_eq!(java.merges, 0);
    close(java.merge_rate, 0.0, "java merge rate");
    close(java.merge_precision, 1.0, "java merge precision (no joins)");
    close(java.merge_recall, 0.0, "java merge recall"); // 0 of 2 dups
    // Restricted to java events every issue is a singleton: no pairs at
    // all, so both pair ratios are vacuously 1, and BCubed is 1.
    close(java.pair_precision, 1.0, "java pair precision");
    close(java.pair_recall, 1.0, "java pair recall");
    close(java.bcubed_f1, 1.0, "java BCubed F1");
    // Duplicates e4 .30, e5 .40 against first e7 .15: both lose.
    assert_eq!(java.auc, Some(0.0));

    // python: e1 e2 e3 (project 1, X) and e6 e8 (project 2, X).
    let python = &by_platform["python"];
    assert_eq!(python.events, 5);
    assert_eq!(python.issues_true, 3); // 1/A 1/B 2/A
    assert_eq!(python.issues_predicted, 2); // 1/X 2/X
    assert_eq!(python.merges, 3); // e2 e3 e8
    close(python.merge_rate, 3.0 / 5.0, "python merge rate");
    close(python.merge_precision, 2.0 / 3.0, "python merge precision");
    close(python.merge_recall, 1.0, "python merge recall"); // dups e2 e8, both joined right
    close(python.ai_merge_precision, 0.5, "python AI merge precision");
    // Pairs: project 1 (A,X)=2 (B,X)=1 → both 1, predicted 3, true 1;
    // project 2 (A,X)=2 → 1, 1, 1. Totals 2, 4, 2.
    close(python.pair_precision, 0.5, "python pair precision");
    close(python.pair_recall, 1.0, "python pair recall");
    // BCubed: e1 e2 (2/3, 1), e3 (1/3, 1), e6 e8 (1, 1):
    //   precision = (2/3+2/3+1/3+1+1)/5 = 11/15, recall = 1,
    //   F1 = 2·(11/15) / (11/15 + 1) = 22/26.
    close(
        python.bcubed_precision,
        11.0 / 15.0,
        "python BCubed precision",
    );
    close(python.bcubed_recall, 1.0, "python BCubed recall");
    close(python.bcubed_f1, 22.0 / 26.0, "python BCubed F1");
    // Duplicates e2 .05, e8 .15 against the searched firsts e1 —, e3 .10
    // (e6 never reached the search): e2 beats 2, e8 beats 1 → 3/4.
    let auc = python.auc.expect("both classes");
    close(auc, 3.0 / 4.0, "python AUC");
}

#[test]
fn hand_made_sweep() {
    // Neighbours: e2 .05 A (own A, dup), e3 .10 A (own B), e4 .30 A (own B),
    // e5 .40 B (own A), e7 .15 A (own C), e8 .15 A (own A, dup).
    // Duplicates: e2 e4 e5 e8 = 4.
    let points = threshold_sweep(&hand_made(), &[0.0, 0.1, 0.15, 0.5]);
    let expected = [
        // t = 0: nothing merges.
        (0.0, 0, 0, 1.0, 0.0),
        // t = .1: e2 (right), e3 (wrong).
        (0.1, 2, 1, 0.5, 0.25),
        // t = .15: + e7 (wrong), e8 (right).
        (0.15, 4, 2, 0.5, 0.5),
        // t = .5: + e4, e5 (both wrong).
        (0.5, 6, 2, 2.0 / 6.0, 0.5),
    ];
    assert_eq!(points.len(), expected.len());
    for (point, (threshold, merges, correct, precision, recall)) in points.iter().zip(expected) {
        assert_eq!(point.threshold, threshold);
        assert_eq!(point.merges, merges, "merges at {threshold}");
        assert_eq!(point.correct_merges, correct, "correct at {threshold}");
        assert_eq!(point.duplicates, 4);
        close(point.precision, precision, "sweep precision");
        close(point.recall, recall, "sweep recall");
    }
}

// ------------------------------------------------------------ edge cases

fn assert_vacuous(m: &Metrics) {
    for (name, value) in [
        ("merge precision", m.merge_precision),
        ("merge recall", m.merge_recall),
        ("AI merge precision", m.ai_merge_precision),
        ("pair precision", m.pair_precision),
        ("pair recall", m.pair_recall),
        ("pair F1", m.pair_f1),
        ("BCubed precision", m.bcubed_precision),
        ("BCubed recall", m.bcubed_recall),
        ("BCubed F1", m.bcubed_f1),
    ] {
        close(value, 1.0, name);
    }
}

#[test]
fn empty_input() {
    let m = metrics(&[]);
    assert_eq!(
        (m.events, m.issues_true, m.issues_predicted, m.merges),
        (0, 0, 0, 0)
    );
    close(m.merge_rate, 0.0, "merge rate");
    assert_vacuous(&m);
    assert_eq!(m.auc, None);
    assert!(metrics_by_platform(&[]).is_empty());
    let sweep = threshold_sweep(&[], &[0.2]);
    assert_eq!(sweep[0].merges, 0);
    close(sweep[0].precision, 1.0, "sweep precision");
    close(sweep[0].recall, 1.0, "sweep recall");
}

#[test]
fn all_singletons() {
    // Five different issues, each predicted alone; neighbours exist but
    // every event is a first, so AUC has one class only.
    let observations: Vec<Observation> = (0..5)
        .map(|i| {
            let label = format!("L{i}");
            obs(
                1,
                &label,
                "go",
                &format!("P{i}"),
                Method::New,
                Some((0.5, "L0")),
            )
        })
        .collect();
    let m = metrics(&observations);
    assert_eq!((m.events, m.issues_true, m.issues_predicted), (5, 5, 5));
    close(m.merge_rate, 0.0, "merge rate");
    assert_vacuous(&m);
    assert_eq!(m.auc, None);
}

#[test]
fn everything_in_one_issue() {
    let same: Vec<Observation> = (0..4)
        .map(|_| obs(1, "A", "ruby", "X", Method::Fingerprint, None))
        .collect();
    let m = metrics(&same);
    assert_eq!((m.issues_true, m.issues_predicted, m.merges), (1, 1, 3));
    close(m.merge_rate, 0.75, "merge rate");
    assert_vacuous(&m);
    // Duplicates and a first, but nobody has a neighbour: nothing to rank.
    assert_eq!(m.auc, None);

    // Four true issues lumped into one predicted issue.
    let lumped: Vec<Observation> = ["A", "B", "C", "D"]
        .iter()
        .map(|label| obs(1, label, "ruby", "X", Method::Ai, None))
        .collect();
    let m = metrics(&lumped);
    close(m.merge_precision, 0.0, "every join is wrong");
    close(m.merge_recall, 1.0, "no duplicates to miss");
    close(m.pair_precision, 0.0, "0 of 6 predicted pairs are true");
    close(m.pair_recall, 1.0, "no true pairs");
    close(m.pair_f1, 0.0, "pair F1");
    close(m.bcubed_precision, 0.25, "BCubed precision");
    close(m.bcubed_recall, 1.0, "BCubed recall");
    close(m.bcubed_f1, 0.4, "BCubed F1");
}

#[test]
fn auc_needs_both_classes_and_a_neighbour() {
    // Only duplicates after the first event... and the first has no
    // neighbour: two classes, neighbours present.
    let mut observations = vec![obs(1, "A", "java", "X", Method::New, None)];
    observations.push(obs(1, "A", "java", "X", Method::Ai, Some((0.1, "A"))));
    assert_eq!(metrics(&observations).auc, Some(1.0));
    // Only firsts.
    let firsts = vec![
        obs(1, "A", "java", "X", Method::New, Some((0.1, "B"))),
        obs(1, "B", "java", "Y", Method::New, Some((0.2, "A"))),
    ];
    assert_eq!(metrics(&firsts).auc, None);
    // Both classes with equal scores: every pair ties.
    let ties = vec![
        obs(1, "A", "java", "X", Method::New, Some((0.3, "B"))),
        obs(1, "A", "java", "X", Method::Ai, Some((0.3, "A"))),
    ];
    assert_eq!(metrics(&ties).auc, Some(0.5));
    // A NaN distance counts as no neighbour (lowest), -0.0 ties with 0.0.
    let odd = vec![
        obs(1, "A", "java", "X", Method::New, Some((f32::NAN, "B"))),
        obs(1, "A", "java", "X", Method::Ai, Some((0.0, "A"))),
        obs(1, "B", "java", "Y", Method::New, Some((-0.0, "A"))),
    ];
    // Duplicate .0 beats the NaN first (1) and ties the -0.0 first (.5).
    assert_eq!(metrics(&odd).auc, Some(0.75));
}

#[test]
fn observations_serialize_with_snake_case_methods() {
    let observation = obs(3, "A", "go", "X", Method::FingerprintOnly, None);
    let json = serde_json::to_string(&observation).expect("serializes");
    assert_eq!(
        json,
        r#"{"project":3,"label":"A","platform":"go","predicted":"X","method":"fingerprint_only"}"#
    );
    let back: Observation = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, observation);
    let metrics_json = serde_json::to_value(metrics(&hand_made())).expect("serializes");
    assert_eq!(metrics_json["events"], 8);
    assert_eq!(metrics_json["auc"], 6.5 / 12.0);
}

// ------------------------------------------------------------------ plot

#[test]
fn plot_writes_an_svg() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pr.svg");
    let thresholds: Vec<f32> = (0..=10).map(|i| i as f32 * 0.05).collect();
    let mut points = threshold_sweep(&hand_made(), &thresholds);
    points.push(SweepPoint {
        threshold: f32::NAN,
        merges: 0,
        correct_merges: 0,
        duplicates: 0,
        precision: f64::NAN,
        recall: 0.0,
    });
    plot_precision_recall(&points, &path).expect("plots");
    let svg = std::fs::read_to_string(&path).expect("written");
    assert!(svg.contains("<svg"), "not an SVG");
    assert!(svg.contains("precision") && svg.contains("recall"));
    assert!(svg.contains("0.150"), "threshold labels are drawn");
    plot_precision_recall(&[], &dir.path().join("empty.svg")).expect("an empty plot");
}

#[test]
fn plot_error_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing-dir").join("pr.svg");
    let points = threshold_sweep(&hand_made(), &[0.1]);
    match plot_precision_recall(&points, &path) {
        Err(error @ EvalError::Plot { .. }) => {
            assert!(error.to_string().contains("missing-dir"), "{error}");
        }
        Ok(()) => panic!("writing into a missing directory cannot succeed"),
    }
}

// ------------------------------------------------------------ properties

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Fingerprint),
        Just(Method::Ai),
        Just(Method::New),
        Just(Method::FingerprintOnly),
    ]
}

fn observation() -> impl Strategy<Value = Observation> {
    (
        1u64..3,
        0u8..5,
        prop_oneof![Just("python"), Just("java")],
        0u8..5,
        method(),
        proptest::option::of((0.0f32..1.0, 0u8..5)),
    )
        .prop_map(
            |(project, label, platform, predicted, method, nearest)| Observation {
                project,
                label: format!("L{label}"),
                platform: platform.into(),
                predicted: format!("P{predicted}"),
                method,
                nearest: nearest.map(|(distance, label)| Nearest {
                    distance,
                    label: format!("L{label}"),
                }),
            },
        )
}

fn in_unit(m: &Metrics) -> bool {
    let values = [
        m.merge_rate,
        m.merge_precision,
        m.merge_recall,
        m.ai_merge_precision,
        m.pair_precision,
        m.pair_recall,
        m.pair_f1,
        m.bcubed_precision,
        m.bcubed_recall,
        m.bcubed_f1,
    ];
    values.iter().all(|v| (0.0..=1.0).contains(v))
        && m.auc.is_none_or(|auc| (0.0..=1.0).contains(&auc))
}

proptest! {
    #[test]
    fn every_metric_lies_in_the_unit_interval(
        observations in proptest::collection::vec(observation(), 0..40),
        thresholds in proptest::collection::vec(0.0f32..1.0, 0..5),
    ) {
        let m = metrics(&observations);
        prop_assert!(in_unit(&m), "{m:?}");
        prop_assert!(m.merges <= m.events && m.ai_merges <= m.merges);
        let by_platform = metrics_by_platform(&observations);
        prop_assert!(by_platform.values().all(in_unit));
        prop_assert_eq!(by_platform.values().map(|m| m.events).sum::<usize>(), m.events);
        for point in threshold_sweep(&observations, &thresholds) {
            prop_assert!((0.0..=1.0).contains(&point.precision));
            prop_assert!((0.0..=1.0).contains(&point.recall));
            prop_assert!(point.correct_merges <= point.merges);
        }
    }

    #[test]
    fn a_perfect_prediction_scores_one(
        observations in proptest::collection::vec(observation(), 1..40),
    ) {
        let perfect: Vec<Observation> = observations
            .into_iter()
            .map(|o| Observation { predicted: format!("issue-{}", o.label), ..o })
            .collect();
        let m = metrics(&perfect);
        for (name, value) in [
            ("merge precision", m.merge_precision),
            ("merge recall", m.merge_recall),
            ("pair precision", m.pair_precision),
            ("pair recall", m.pair_recall),
            ("pair F1", m.pair_f1),
            ("BCubed precision", m.bcubed_precision),
            ("BCubed recall", m.bcubed_recall),
            ("BCubed F1", m.bcubed_f1),
        ] {
            prop_assert!((value - 1.0).abs() < 1e-12, "{} = {}", name, value);
        }
        prop_assert_eq!(m.issues_predicted, m.issues_true);
    }

    #[test]
    fn merging_more_never_lowers_sweep_recall(
        observations in proptest::collection::vec(observation(), 0..40),
        low in 0.0f32..0.5,
        step in 0.0f32..0.5,
    ) {
        let points = threshold_sweep(&observations, &[low, low + step]);
        prop_assert!(points[0].recall <= points[1].recall);
        prop_assert!(points[0].merges <= points[1].merges);
    }
}
