//! The grouping engine end to end: the real default model on a real store,
//! through the actors, as an ingest node embedding `Node` would use it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use stackherd::similarity::SimilarIssuesRequest;
use stackherd::store::Consent;
use stackherd_actors::{DegradedReason, GroupResult, GroupingMethod, Node};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use support::{
    ClusterEmbedder, SleepingEmbedder, event, fake_model_settings, python_event, runtime, settings,
    with_v2,
};

const CHECKOUT: &[(&str, &str, &str)] = &[
    (
        "shop.web.views",
        "checkout",
        "order = services.place_order(cart, user)",
    ),
    (
        "shop.services.orders",
        "place_order",
        "payment = billing.charge(order.total, card)",
    ),
    (
        "shop.billing.gateway",
        "charge",
        "response = self.client.post('/charges', json=payload)",
    ),
    (
        "shop.billing.client",
        "post",
        "raise GatewayError(response.status_code)",
    ),
];

/// The same path after a refactor renamed one helper: fingerprinting
/// splits it (a function name changed), the model sees the same crash.
const CHECKOUT_REFACTORED: &[(&str, &str, &str)] = &[
    (
        "shop.web.views",
        "checkout",
        "order = services.place_order(cart, user)",
    ),
    (
        "shop.services.orders",
        "place_order",
        "payment = billing.charge(order.total, card)",
    ),
    (
        "shop.billing.gateway",
        "charge_card",
        "response = self.client.post('/charges', json=payload)",
    ),
    (
        "shop.billing.client",
        "post",
        "raise GatewayError(response.status_code)",
    ),
];

const UNRELATED: &[(&str, &str, &str)] = &[
    (
        "reports.tasks",
        "nightly_export",
        "rows = exporter.collect(since=yesterday)",
    ),
    (
        "reports.export.csv",
        "collect",
        "for chunk in storage.read_chunks(bucket):",
    ),
    (
        "reports.storage.s3",
        "read_chunks",
        "body = self.s3.get_object(Bucket=bucket, Key=key)['Body']",
    ),
];

fn checkout_error() -> Value {
    python_event("GatewayError", "402", CHECKOUT)
}

fn assert_method(result: &GroupResult, name: &str) {
    assert_eq!(
        result.method.name(),
        name,
        "unexpected grouping: {result:?}"
    );
}

#[test]
fn fingerprint_then_ai_then_cache_hit_then_new_issue() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(settings(dir.path())).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let first = node.group(1, &event(&checkout_error())).await.unwrap();
        assert_method(&first, "new");
        let again = node.group(1, &event(&checkout_error())).await.unwrap();
        assert_method(&again, "fingerprint");
        assert_eq!(again.issue, first.issue);

        let refactored = event(&python_event("GatewayError", "402", CHECKOUT_REFACTORED));
        let merged = node.group(1, &refactored).await.unwrap();
        assert_ne!(
            merged.hash, first.hash,
            "fingerprinting must split the refactor"
        );
        assert_method(&merged, "ai");
        assert_eq!(merged.issue, first.issue);
        let GroupingMethod::Ai {
            matched_hash,
            distance,
            model_used,
        } = &merged.method
        else {
            unreachable!()
        };
        assert_eq!(matched_hash, &first.hash);
        assert!(*distance <= node.settings().models["v1"].threshold);
        assert_eq!(model_used, "v1");

        let third = node.group(1, &refactored).await.unwrap();
        assert_method(&third, "fingerprint");
        assert_eq!(third.issue, first.issue);

        let unrelated = node
            .group(
                1,
                &event(&python_event("ClientError", "NoSuchKey", UNRELATED)),
            )
            .await
            .unwrap();
        assert_method(&unrelated, "new");
        assert_ne!(unrelated.issue, first.issue);

        let members = node.issue_members(1, &first.issue).unwrap();
        let methods: BTreeSet<String> = members
            .iter()
            .filter_map(|m| m.joined.as_ref())
            .map(|j| j.method.clone())
            .collect();
        assert_eq!(
            methods,
            BTreeSet::from(["ai".to_string(), "new".to_string()])
        );
    });
    let stats = node.stats();
    assert_eq!(stats.events["fingerprint"], 2);
    assert_eq!(stats.events["ai"], 1);
    assert_eq!(stats.events["new"], 2);
    node.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn grouping_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let first = {
        let node = Node::start(settings(dir.path())).unwrap();
        let first = rt
            .block_on(node.group(3, &event(&checkout_error())))
            .unwrap();
        node.shutdown(Duration::from_secs(5)).unwrap();
        first
    };
    let node = Node::start(settings(dir.path())).unwrap();
    let refactored = event(&python_event("GatewayError", "402", CHECKOUT_REFACTORED));
    let again = rt
        .block_on(node.group(3, &event(&checkout_error())))
        .unwrap();
    assert_method(&again, "fingerprint");
    let merged = rt.block_on(node.group(3, &refactored)).unwrap();
    assert_method(&merged, "ai");
    assert_eq!(merged.issue, first.issue);
}

#[test]
fn newest_version_first_then_stable_fallback_and_training_mode() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(with_v2(settings(dir.path()))).unwrap();
    let rt = runtime();
    rt.block_on(async {
        // v1 (the stable version) knows the checkout error.
        let first = node.group(7, &event(&checkout_error())).await.unwrap();
        assert_method(&first, "new");
        assert!(node.store().record("v1", 7, &first.hash).unwrap().is_some());
        assert!(node.store().record("v2", 7, &first.hash).unwrap().is_none());

        // v2 is empty: the refactored event falls back to v1 and joins.
        let refactored = event(&python_event("GatewayError", "402", CHECKOUT_REFACTORED));
        let merged = node.group_with(7, &refactored, "v2", false).await.unwrap();
        assert_method(&merged, "ai");
        let GroupingMethod::Ai { model_used, .. } = &merged.method else {
            unreachable!()
        };
        assert_eq!(model_used, "v1");
        assert_eq!(merged.issue, first.issue);

        // Without fallback, v2 alone finds nothing: a new issue stored in v2.
        let other = event(&python_event(
            "GatewayError",
            "402",
            &CHECKOUT_REFACTORED[1..],
        ));
        let alone = node.group_with(7, &other, "v2", true).await.unwrap();
        assert_method(&alone, "new");
        assert!(node.store().record("v2", 7, &alone.hash).unwrap().is_some());

        // Training mode backfills v2 for the existing v1 hash, no answer.
        let text =
            stackherd::text::render_stacktrace(&event(&checkout_error()), &Default::default())
                .unwrap();
        let request: SimilarIssuesRequest = serde_json::from_value(serde_json::json!({
            "project_id": 7, "stacktrace": text, "hash": first.hash,
            "model": "v2", "training_mode": true
        }))
        .unwrap();
        let response = node.similar(request).await.unwrap();
        assert!(response.responses.is_empty());
        assert!(node.store().record("v2", 7, &first.hash).unwrap().is_some());
    });
}

#[test]
fn consent_withdrawn_stores_no_embedding_and_deletion_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(settings(dir.path())).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let kept = node.group(11, &event(&checkout_error())).await.unwrap();
        assert_method(&kept, "new");
        assert!(!node.store().scan_project(11).unwrap().records.is_empty());

        let withdrawn = Consent {
            ai_grouping: false,
            region: "eu".to_string(),
            baa: false,
        };
        let deleted = node.set_consent(11, withdrawn.clone()).await.unwrap();
        assert_eq!(deleted, 1, "withdrawing consent deletes the embeddings");
        assert_eq!(node.consent(11).await.unwrap(), withdrawn);
        let unrelated = node
            .group(
                11,
                &event(&python_event("ClientError", "NoSuchKey", UNRELATED)),
            )
            .await
            .unwrap();
        assert_eq!(
            unrelated.method,
            GroupingMethod::FingerprintOnly {
                reason: DegradedReason::NoConsent
            }
        );
        let scan = node.store().scan_project(11).unwrap();
        assert!(
            scan.records.is_empty(),
            "no embedding without consent: {scan:?}"
        );
        assert_eq!(scan.indexed_vectors, 0);

        // A second project with data in two versions' worth of records.
        node.group(11, &event(&checkout_error())).await.unwrap();
        node.delete_project(11).await.unwrap();
        let scan = node.store().scan_project(11).unwrap();
        assert!(scan.is_empty(), "deletion left {scan:?}");
        // The deleted project starts over: default consent, new issues.
        let again = node.group(11, &event(&checkout_error())).await.unwrap();
        assert_method(&again, "new");
    });
    node.shutdown(Duration::from_secs(5)).unwrap();
    let reopened = Node::start(settings(dir.path())).unwrap();
    let scan = reopened.store().scan_project(11).unwrap();
    assert_eq!(
        scan.records.len(),
        1,
        "only the event after the deletion: {scan:?}"
    );
}

#[test]
fn delete_hashes_removes_exactly_those() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::builder(fake_model_settings(dir.path()))
        .embedder("v1", Arc::new(ClusterEmbedder))
        .start()
        .unwrap();
    let rt = runtime();
    rt.block_on(async {
        let a = node
            .group(5, &event(&python_event("AError", "x", CHECKOUT)))
            .await
            .unwrap();
        let b = node
            .group(5, &event(&python_event("BError", "x", CHECKOUT)))
            .await
            .unwrap();
        assert_eq!(
            node.delete_hashes(5, vec![a.hash.clone()]).await.unwrap(),
            1
        );
        let scan = node.store().scan_project(5).unwrap();
        let hashes: Vec<&str> = scan.records.iter().map(|(_, h)| h.as_str()).collect();
        assert_eq!(hashes, vec![b.hash.as_str()]);
        assert!(
            scan.fingerprints
                .iter()
                .all(|(f, i)| f != &a.hash && i != &a.hash)
        );
        // The deleted hash is new again.
        let again = node
            .group(5, &event(&python_event("AError", "x", CHECKOUT)))
            .await
            .unwrap();
        assert_method(&again, "new");
    });
}

#[test]
fn degraded_grouping_when_the_embedder_is_saturated() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = fake_model_settings(dir.path());
    settings.embedder.queue_capacity = 2;
    settings.embedder.max_batch = 1;
    settings.embedder.timeout_ms = 300;
    settings.engine.request_timeout_ms = 300;
    let node = Arc::new(
        Node::builder(settings)
            .embedder("v1", Arc::new(SleepingEmbedder(Duration::from_secs(2))))
            .start()
            .unwrap(),
    );
    let rt = runtime();
    let results: Vec<GroupResult> = rt.block_on(async {
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let node = Arc::clone(&node);
                tokio::spawn(async move {
                    let error_type = format!("Error{i}");
                    node.group(1, &event(&python_event(&error_type, "x", CHECKOUT)))
                        .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap().expect("every event is grouped"));
        }
        results
    });
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for result in &results {
        match &result.method {
            GroupingMethod::FingerprintOnly { reason } => {
                *reasons.entry(reason.as_str()).or_default() += 1;
            }
            other => panic!("a saturated embedder cannot place events by AI: {other:?}"),
        }
        assert_eq!(
            result.issue, result.hash,
            "a degraded event starts its own issue"
        );
    }
    assert!(
        reasons.get("embedder_overloaded").copied().unwrap_or(0) > 0,
        "{reasons:?}"
    );
    let stats = node.stats();
    assert_eq!(stats.events["fingerprint_only"], 40);
    assert_eq!(stats.degraded.values().sum::<u64>(), 40);
    // Degraded hashes are cached: the same event is a fingerprint hit.
    let again = rt
        .block_on(node.group(1, &event(&python_event("Error0", "x", CHECKOUT))))
        .unwrap();
    assert_method(&again, "fingerprint");
}

#[test]
fn a_crashed_project_actor_fails_its_request_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::builder(fake_model_settings(dir.path()))
        .embedder("v1", Arc::new(ClusterEmbedder))
        .start()
        .unwrap();
    let rt = runtime();
    rt.block_on(async {
        let first = node.group(9, &event(&checkout_error())).await.unwrap();
        assert!(
            node.crash_project_actor(9).await.is_err(),
            "the crash is reported, not hung"
        );
        let again = node.group(9, &event(&checkout_error())).await.unwrap();
        assert_method(&again, "fingerprint");
        assert_eq!(again.issue, first.issue);
        // Other projects were never affected.
        let other = node.group(10, &event(&checkout_error())).await.unwrap();
        assert_method(&other, "new");
    });
}

#[test]
fn idle_project_actors_are_evicted_and_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = fake_model_settings(dir.path());
    settings.engine.project_idle_seconds = 1;
    let node = Node::builder(settings)
        .embedder("v1", Arc::new(ClusterEmbedder))
        .start()
        .unwrap();
    let rt = runtime();
    rt.block_on(async {
        let first = node.group(4, &event(&checkout_error())).await.unwrap();
        assert_eq!(node.active_projects().await.unwrap(), 1);
        let mut active = 1;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            active = node.active_projects().await.unwrap();
            if active == 0 {
                break;
            }
        }
        assert_eq!(active, 0, "the idle actor was not evicted");
        let again = node.group(4, &event(&checkout_error())).await.unwrap();
        assert_method(&again, "fingerprint");
        assert_eq!(again.issue, first.issue);
    });
}

/// 1,000 events over 50 projects: each project has 4 root causes, each
/// seen through several fingerprints (different frames) and repeats.
fn concurrency_workload() -> Vec<(u64, Value)> {
    let mut events = Vec::new();
    for round in 0..5 {
        for project in 1..=50_u64 {
            for cause in 0..4 {
                let error_type = format!("Cause{cause}Error");
                let variant = (round + cause + project as usize) % 3;
                let frames: Vec<(&str, &str, &str)> = CHECKOUT[variant..].to_vec();
                events.push((project, python_event(&error_type, "boom", &frames)));
            }
        }
    }
    events
}

fn partition(results: &[GroupResult]) -> BTreeSet<BTreeSet<usize>> {
    let mut issues: HashMap<(u64, &str), BTreeSet<usize>> = HashMap::new();
    for (index, result) in results.iter().enumerate() {
        issues
            .entry((result.project, &result.issue))
            .or_default()
            .insert(index);
    }
    issues.into_values().collect()
}

#[test]
fn concurrent_grouping_matches_a_sequential_run() {
    let workload = concurrency_workload();
    assert_eq!(workload.len(), 1000);
    let rt = runtime();
    let sequential = {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::builder(fake_model_settings(dir.path()))
            .embedder("v1", Arc::new(ClusterEmbedder))
            .start()
            .unwrap();
        let mut results = Vec::new();
        for (project, value) in &workload {
            results.push(rt.block_on(node.group(*project, &event(value))).unwrap());
        }
        results
    };
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(
        Node::builder(fake_model_settings(dir.path()))
            .embedder("v1", Arc::new(ClusterEmbedder))
            .start()
            .unwrap(),
    );
    let workload = Arc::new(workload);
    let concurrent: Vec<GroupResult> = rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let (node, workload) = (Arc::clone(&node), Arc::clone(&workload));
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for index in (task..workload.len()).step_by(16) {
                        let (project, value) = &workload[index];
                        out.push((index, node.group(*project, &event(value)).await.unwrap()));
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all.sort_by_key(|(index, _)| *index);
        all.into_iter().map(|(_, result)| result).collect()
    });
    let stats = node.stats();
    assert!(
        stats.events["ai"] > 0,
        "the workload must exercise AI merges: {stats:?}"
    );
    assert_eq!(stats.degraded.values().sum::<u64>(), 0);
    assert_eq!(partition(&concurrent), partition(&sequential));
    assert_eq!(partition(&sequential).len(), 200, "50 projects x 4 causes");
}
