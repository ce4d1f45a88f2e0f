#![allow(clippy::unwrap_used)]

use super::*;
use crate::index::{Backend, HnswParams, Quantization};

const V1: &str = "v1";
const DAY: u64 = 86_400;

fn options() -> StoreOptions {
    StoreOptions {
        cache_capacity_bytes: 8 * 1024 * 1024,
        ..StoreOptions::default()
    }
}

fn open(dir: &Path, options: StoreOptions) -> Store {
    Store::open(dir, options).unwrap()
}

fn row<'a>(hash: &'a str, embedding: &'a [f32]) -> NewRecord<'a> {
    NewRecord {
        hash,
        error_type: Some("KeyError"),
        embedding,
    }
}

/// A unit-ish vector pointing mostly along axis `axis`, nudged by `nudge`.
fn vector(dimensions: usize, axis: usize, nudge: f32) -> Vec<f32> {
    let mut v = vec![0.01f32; dimensions];
    v[axis % dimensions] = 1.0;
    v[(axis + 1) % dimensions] += nudge;
    v
}

#[test]
fn gated_insert_search_and_first_embedding_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), options());
    let a = vector(8, 0, 0.0);
    let near_a = vector(8, 0, 0.01);
    let b = vector(8, 3, 0.0);

    assert_eq!(
        store
            .insert_if_no_neighbour(V1, 1, row("a", &a), 0.01, 100)
            .unwrap(),
        InsertOutcome::Inserted
    );
    // A near duplicate under another hash is not stored.
    match store
        .insert_if_no_neighbour(V1, 1, row("a2", &near_a), 0.01, 100)
        .unwrap()
    {
        InsertOutcome::NeighbourExists(n) => {
            assert_eq!(n.hash, "a");
            assert!(n.distance <= 0.01);
        }
        other => panic!("expected a neighbour, got {other:?}"),
    }
    assert!(store.record(V1, 1, "a2").unwrap().is_none());
    // The same hash again, far away: its own record is excluded from the
    // gate, and the first embedding is kept.
    assert_eq!(
        store
            .insert_if_no_neighbour(V1, 1, row("a", &b), 0.01, 200)
            .unwrap(),
        InsertOutcome::HashExists
    );
    let record = store.record(V1, 1, "a").unwrap().unwrap();
    assert!(crate::index::cosine_distance(&record.embedding, &a) < 1e-3);
    assert_eq!((record.first_seen, record.last_seen), (100, 100));
    assert_eq!(record.error_type.as_deref(), Some("KeyError"));
    assert_eq!(record.format, EmbeddingFormat::F16);

    // Forced insert ignores neighbours but still keeps the first embedding.
    assert_eq!(
        store.insert_forced(V1, 1, row("a3", &near_a), 100).unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store.insert_forced(V1, 1, row("a3", &b), 100).unwrap(),
        InsertOutcome::HashExists
    );

    let hits = store.search(V1, 1, &a, 5, 0.05, None).unwrap();
    assert_eq!(
        hits.iter().map(|n| n.hash.as_str()).collect::<Vec<_>>(),
        vec!["a", "a3"]
    );
    assert!(hits[0].distance <= hits[1].distance);
    let hits = store.search(V1, 1, &a, 5, 0.05, Some("a")).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].hash, "a3");
    assert!(store.search(V1, 1, &a, 0, 2.0, None).unwrap().is_empty());
    assert!(store.search(V1, 2, &a, 5, 2.0, None).unwrap().is_empty());
    assert!(store.search("v9", 1, &a, 5, 2.0, None).unwrap().is_empty());
}

#[test]
fn bad_input_is_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), options());
    let good = vector(8, 0, 0.0);
    store.insert_forced(V1, 1, row("a", &good), 1).unwrap();

    let cases: Vec<(StoreError, &str)> = vec![
        (
            store
                .insert_forced(V1, 1, row("b", &[1.0; 7]), 1)
                .unwrap_err(),
            "dimensions",
        ),
        (
            store
                .insert_forced(V1, 1, row("b", &[f32::NAN; 8]), 1)
                .unwrap_err(),
            "finite",
        ),
        (
            store
                .insert_forced(V1, 1, row("b", &[0.0; 8]), 1)
                .unwrap_err(),
            "zero",
        ),
        (
            store.insert_forced(V1, 1, row("", &good), 1).unwrap_err(),
            "hash",
        ),
        (
            store
                .insert_forced("v 1", 1, row("b", &good), 1)
                .unwrap_err(),
            "model",
        ),
        (
            store.search(V1, 1, &[1.0; 3], 1, 0.1, None).unwrap_err(),
            "dimensions",
        ),
        (
            store.search(V1, 1, &good, 1, f32::NAN, None).unwrap_err(),
            "radius",
        ),
        (
            store
                .insert_if_no_neighbour(V1, 1, row("b", &good), -1.0, 1)
                .unwrap_err(),
            "threshold",
        ),
    ];
    for (error, needle) in cases {
        assert!(error.is_bad_input(), "{error}");
        assert!(error.to_string().contains(needle), "{error} lacks {needle}");
    }
    // A batch with one bad row writes nothing.
    let rows = [row("c", &good), row("d", &[1.0; 3])];
    assert!(store.insert_batch(V1, 1, &rows, None, 1).is_err());
    assert!(store.record(V1, 1, "c").unwrap().is_none());
    assert_eq!(store.scan_project(1).unwrap().records.len(), 1);
}

#[test]
fn configured_dimensions_are_enforced_from_the_first_call() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.dimensions.insert("v2".into(), 4);
    let store = open(dir.path(), opts.clone());
    let err = store
        .insert_forced("v2", 1, row("a", &[1.0; 8]), 1)
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Dimension {
            expected: 4,
            got: 8,
            ..
        }
    ));
    store
        .insert_forced("v2", 1, row("a", &[1.0; 4]), 1)
        .unwrap();
    drop(store);
    // Reopening with a different configured dimension is refused.
    opts.dimensions.insert("v2".into(), 6);
    assert!(matches!(
        Store::open(dir.path(), opts),
        Err(StoreError::Options(_))
    ));
}

#[test]
fn touch_retention_and_expiry_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.retention_days = 10;
    let store = open(dir.path(), opts);
    let t0 = 1_000 * DAY;
    store
        .insert_forced(V1, 1, row("old", &vector(8, 0, 0.0)), t0)
        .unwrap();
    store
        .insert_forced(V1, 1, row("kept", &vector(8, 2, 0.0)), t0)
        .unwrap();
    store
        .insert_forced("v2", 2, row("other", &vector(4, 1, 0.0)), t0)
        .unwrap();
    assert!(store.touch(V1, 1, "kept", t0 + 5 * DAY).unwrap());
    assert!(!store.touch(V1, 1, "missing", t0).unwrap());
    // Time never goes backwards.
    assert!(store.touch(V1, 1, "kept", t0).unwrap());
    assert_eq!(
        store.record(V1, 1, "kept").unwrap().unwrap().last_seen,
        t0 + 5 * DAY
    );

    assert_eq!(store.sweep_retention(t0 + 10 * DAY).unwrap(), 0);
    assert_eq!(store.sweep_retention(t0 + 10 * DAY + 1).unwrap(), 2);
    assert!(store.record(V1, 1, "old").unwrap().is_none());
    assert!(store.record("v2", 2, "other").unwrap().is_none());
    assert!(
        store
            .search(V1, 1, &vector(8, 0, 0.0), 5, 2.0, None)
            .unwrap()
            .iter()
            .all(|n| n.hash == "kept")
    );
    assert_eq!(store.scan_project(1).unwrap().expiry_entries, 1);
    assert!(store.scan_project(2).unwrap().is_empty());
    assert_eq!(store.sweep_retention(t0 + 15 * DAY + 1).unwrap(), 1);
    assert!(store.scan_project(1).unwrap().is_empty());
}

#[test]
fn delete_hashes_and_project_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), options());
    for project in [1u64, 2] {
        for (i, hash) in ["a", "b", "c"].iter().enumerate() {
            store
                .insert_forced(V1, project, row(hash, &vector(8, i, 0.0)), 1)
                .unwrap();
            store
                .insert_forced("v2", project, row(hash, &vector(4, i, 0.0)), 1)
                .unwrap();
        }
        store.set_fingerprint_issue(project, "fp-a", "a").unwrap();
        store.set_fingerprint_issue(project, "b", "c").unwrap();
        store.set_fingerprint_issue(project, "fp-c", "c").unwrap();
        store
            .set_consent(
                project,
                &Consent {
                    ai_grouping: true,
                    region: "eu".into(),
                    baa: false,
                },
            )
            .unwrap();
    }
    assert_eq!(store.delete_hashes(1, &["a", "b", "zzz"]).unwrap(), 4);
    let scan = store.scan_project(1).unwrap();
    let mut records = scan.records.clone();
    records.sort();
    assert_eq!(
        records,
        vec![("v1".into(), "c".into()), ("v2".into(), "c".into())]
    );
    // Entries keyed by a deleted hash or pointing at one are gone.
    assert_eq!(scan.fingerprints, vec![("fp-c".to_owned(), "c".to_owned())]);
    assert_eq!(scan.indexed_vectors, 2);
    assert_eq!(scan.expiry_entries, 2);
    assert!(
        store
            .search(V1, 1, &vector(8, 0, 0.0), 5, 2.0, None)
            .unwrap()
            .iter()
            .all(|n| n.hash == "c")
    );

    assert_eq!(store.delete_project(1).unwrap(), 2);
    assert!(
        store.scan_project(1).unwrap().is_empty(),
        "{:?}",
        store.scan_project(1)
    );
    assert!(store.fingerprint_issue(1, "fp-c").unwrap().is_none());
    // The other project is untouched.
    let other = store.scan_project(2).unwrap();
    assert_eq!(other.records.len(), 6);
    assert_eq!(other.fingerprints.len(), 3);
    assert!(other.consent.is_some());
    drop(store);
    let store = open(dir.path(), options());
    assert!(store.scan_project(1).unwrap().is_empty());
    assert_eq!(store.scan_project(2).unwrap().indexed_vectors, 6);
}

#[test]
fn consent_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), options());
    assert!(store.consent(5).unwrap().is_none());
    let consent = Consent {
        ai_grouping: false,
        region: "us".into(),
        baa: true,
    };
    store.set_consent(5, &consent).unwrap();
    assert_eq!(store.consent(5).unwrap(), Some(consent));
    store.delete_consent(5).unwrap();
    assert!(store.consent(5).unwrap().is_none());
    assert!(
        store
            .set_consent(
                5,
                &Consent {
                    ai_grouping: true,
                    region: "x\n".into(),
                    baa: false
                }
            )
            .unwrap_err()
            .is_bad_input()
    );
}

fn graph_options() -> StoreOptions {
    let mut opts = options();
    opts.index = IndexOptions {
        backend: Backend::Adaptive,
        exact_max: 20,
        hnsw: HnswParams {
            quantization: Quantization::F16,
            ..HnswParams::default()
        },
    };
    opts
}

#[test]
fn saved_graph_is_loaded_and_reconciled_with_sled() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), graph_options());
    let vectors: Vec<Vec<f32>> = (0..60)
        .map(|i| vector(16, i % 16, i as f32 * 0.05))
        .collect();
    let hashes: Vec<String> = (0..60).map(|i| format!("{i:032x}")).collect();
    for (hash, v) in hashes.iter().zip(&vectors).take(50) {
        store.insert_forced(V1, 7, row(hash, v), 1).unwrap();
    }
    assert_eq!(
        store.index_info(V1, 7).unwrap().unwrap().backend,
        Backend::Hnsw
    );
    // A removed slot inside the saved graph (usearch keeps it as a waypoint).
    store.delete_hashes(7, &[&hashes[2]]).unwrap();
    assert_eq!(store.save_indexes().unwrap(), 1);
    assert_eq!(store.save_indexes().unwrap(), 0, "nothing changed since");
    // The file holds the graph, not the vectors again (16 f16 dims = 32
    // bytes a vector, more than a packed node of this small graph).
    let path = dir.path().join("indexes").join(V1).join("7.graph");
    let file_bytes = std::fs::metadata(&path).unwrap().len();
    assert!(file_bytes < 50 * 32, "{file_bytes} bytes");
    // Changes after the save: the graph file is now stale in both directions.
    store.delete_hashes(7, &[&hashes[0], &hashes[1]]).unwrap();
    for (hash, v) in hashes.iter().zip(&vectors).skip(50) {
        store.insert_forced(V1, 7, row(hash, v), 1).unwrap();
    }
    let expected: Vec<Vec<Neighbour>> = vectors
        .iter()
        .map(|v| store.search(V1, 7, v, 3, 2.0, None).unwrap())
        .collect();
    drop(store);

    let store = open(dir.path(), graph_options());
    let report = store.open_report().clone();
    assert_eq!(report.indexes_loaded, 1, "{report:?}");
    assert_eq!(report.records, 57);
    let scan = store.scan_project(7).unwrap();
    assert_eq!(scan.indexed_vectors, 57);
    assert!(store.record(V1, 7, &hashes[0]).unwrap().is_none());
    for (v, want) in vectors.iter().zip(&expected) {
        let got = store.search(V1, 7, v, 3, 2.0, None).unwrap();
        assert!(
            got.iter()
                .all(|n| ![&hashes[0], &hashes[1], &hashes[2]].contains(&&n.hash))
        );
        assert_eq!(&got, want);
    }
    drop(store);

    // A corrupt graph file is rejected and rebuilt, never trusted.
    std::fs::write(&path, b"SHGRAPH1garbage").unwrap();
    let store = open(dir.path(), graph_options());
    assert_eq!(store.open_report().indexes_rejected, 1);
    assert_eq!(store.scan_project(7).unwrap().indexed_vectors, 57);
    store.delete_project(7).unwrap();
    assert!(store.scan_project(7).unwrap().is_empty());
    store.close().unwrap();
    let store = open(dir.path(), graph_options());
    assert!(store.scan_project(7).unwrap().is_empty());
}

#[test]
fn stale_graph_of_a_deleted_project_cannot_resurrect_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), graph_options());
    for i in 0..40 {
        store
            .insert_forced(
                V1,
                3,
                row(&format!("h{i}"), &vector(16, i % 16, i as f32 * 0.1)),
                1,
            )
            .unwrap();
    }
    store.save_indexes().unwrap();
    let path = dir.path().join("indexes").join(V1).join("3.graph");
    let saved = std::fs::read(&path).unwrap();
    store.delete_project(3).unwrap();
    drop(store);
    // Simulate a crash that left the graph file behind.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, saved).unwrap();
    let store = open(dir.path(), graph_options());
    assert_eq!(store.open_report().stale_index_files_removed, 1);
    assert!(store.scan_project(3).unwrap().is_empty());
    assert!(
        store
            .search(V1, 3, &vector(16, 0, 0.0), 5, 2.0, None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn exact_and_hnsw_backends_give_identical_results() {
    let exact_dir = tempfile::tempdir().unwrap();
    let hnsw_dir = tempfile::tempdir().unwrap();
    let mut exact_opts = options();
    exact_opts.index.backend = Backend::Exact;
    let mut hnsw_opts = options();
    hnsw_opts.index.backend = Backend::Hnsw;
    let exact = open(exact_dir.path(), exact_opts);
    let hnsw = open(hnsw_dir.path(), hnsw_opts);
    let vectors: Vec<Vec<f32>> = (0..100)
        .map(|i| vector(32, i % 32, (i / 32) as f32 * 0.2))
        .collect();
    let rows: Vec<(String, &Vec<f32>)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("h{i}"), v))
        .collect();
    let batch: Vec<NewRecord<'_>> = rows.iter().map(|(h, v)| row(h, v)).collect();
    exact.insert_batch(V1, 1, &batch, Some(0.001), 1).unwrap();
    hnsw.insert_batch(V1, 1, &batch, Some(0.001), 1).unwrap();
    for v in &vectors {
        assert_eq!(
            exact.search(V1, 1, v, 4, 0.5, Some("h3")).unwrap(),
            hnsw.search(V1, 1, v, 4, 0.5, Some("h3")).unwrap()
        );
    }
}

#[test]
fn schema_version_is_written_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), options()));
    {
        let db = open_db(&dir.path().join("db"), 1 << 20, true).unwrap();
        let meta = db.open_tree(schema::META_TREE).unwrap();
        assert_eq!(
            meta.get(b"schema_version").unwrap().unwrap().as_ref(),
            &schema::SCHEMA_VERSION.to_le_bytes()
        );
        meta.insert(
            b"schema_version",
            &(schema::SCHEMA_VERSION + 1).to_le_bytes(),
        )
        .unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        Store::open(dir.path(), options()),
        Err(StoreError::SchemaTooNew { .. })
    ));
}

/// The same forced insert into a store and its exact-scan twin.
fn insert_into_both(stores: [&Store; 2], project: u64, hash: &str, v: &[f32]) {
    for store in stores {
        store.insert_forced(V1, project, row(hash, v), 1).unwrap();
    }
}

/// A graph-backed store and its exact-scan twin, for comparing answers.
fn graph_and_exact_stores(dir: &Path, exact_dir: &Path) -> (Store, Store) {
    let mut exact_opts = options();
    exact_opts.index.backend = Backend::Exact;
    (open(dir, graph_options()), open(exact_dir, exact_opts))
}

/// The same deletion from a store and its exact-scan twin.
fn delete_from_both(stores: [&Store; 2], project: u64, hashes: &[&str]) {
    for store in stores {
        store.delete_hashes(project, hashes).unwrap();
    }
}

/// Polls until the background indexer has moved every staged vector.
fn wait_until_indexed(store: &Store, project: u64) {
    for _ in 0..2_000 {
        if store.index_info(V1, project).unwrap().unwrap().staged == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("the indexer left vectors staged for 10 s");
}

#[test]
fn staged_vectors_are_searched_deleted_and_moved_into_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let exact_dir = tempfile::tempdir().unwrap();
    let mut opts = graph_options();
    opts.graph_staging = 64;
    let store = open(dir.path(), opts);
    let mut exact_opts = options();
    exact_opts.index.backend = Backend::Exact;
    let exact = open(exact_dir.path(), exact_opts);
    let vectors: Vec<Vec<f32>> = (0..200)
        .map(|i| vector(16, i % 16, i as f32 * 0.013))
        .collect();
    let hashes: Vec<String> = (0..200).map(|i| format!("{i:032x}")).collect();
    for (i, (hash, v)) in hashes.iter().zip(&vectors).enumerate() {
        store.insert_forced(V1, 5, row(hash, v), 1).unwrap();
        exact.insert_forced(V1, 5, row(hash, v), 1).unwrap();
        // Every acknowledged vector is found at once, staged or not.
        let found = store.search(V1, 5, v, 1, 1e-4, None).unwrap();
        assert_eq!(found.first().map(|n| n.hash.as_str()), Some(hash.as_str()));
        if i % 7 == 3 {
            store.delete_hashes(5, &[&hashes[i - 1]]).unwrap();
            exact.delete_hashes(5, &[&hashes[i - 1]]).unwrap();
        }
    }
    let info = store.index_info(V1, 5).unwrap().unwrap();
    assert_eq!(info.backend, Backend::Hnsw);
    assert!(info.staged <= 64);
    let compare = |store: &Store| {
        for v in &vectors {
            assert_eq!(
                store.search(V1, 5, v, 3, 2.0, Some(&hashes[10])).unwrap(),
                exact.search(V1, 5, v, 3, 2.0, Some(&hashes[10])).unwrap()
            );
        }
    };
    compare(&store);
    wait_until_indexed(&store, 5);
    let live = exact.scan_project(5).unwrap().indexed_vectors;
    assert_eq!(store.scan_project(5).unwrap().indexed_vectors, live);
    compare(&store);
    // A graph saved while vectors were staged holds them all.
    insert_into_both([&store, &exact], 5, "late", &vectors[1]);
    store.close().unwrap();
    let store = open(dir.path(), graph_options());
    assert_eq!(store.open_report().indexes_loaded, 1);
    assert_eq!(store.scan_project(5).unwrap().indexed_vectors, live + 1);
    compare(&store);
}

#[test]
fn concurrent_inserts_deletes_and_searches_keep_graph_and_records_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = graph_options();
    opts.graph_staging = 8;
    let store = std::sync::Arc::new(open(dir.path(), opts));
    std::thread::scope(|scope| {
        for worker in 0..4u64 {
            let store = &store;
            scope.spawn(move || {
                for i in 0..60u64 {
                    let hash = format!("w{worker}-{i}");
                    let v = vector(16, (i % 16) as usize, (worker * 100 + i) as f32 * 0.01);
                    store.insert_forced(V1, 9, row(&hash, &v), 1).unwrap();
                    assert!(!store.search(V1, 9, &v, 1, 2.0, None).unwrap().is_empty());
                    if i % 3 == 0 {
                        store.delete_hashes(9, &[&hash]).unwrap();
                    }
                }
            });
        }
    });
    wait_until_indexed(&store, 9);
    let scan = store.scan_project(9).unwrap();
    assert_eq!(scan.records.len(), 4 * 40);
    assert_eq!(scan.indexed_vectors, 4 * 40);
    for (_, hash) in &scan.records {
        assert!(store.is_indexed(V1, 9, hash).unwrap(), "{hash}");
    }
}

#[test]
fn schema_1_expiry_entries_migrate_to_bitmaps() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.retention_days = 1;
    let store = open(dir.path(), opts.clone());
    for (i, hash) in ["a", "b", "c"].iter().enumerate() {
        store
            .insert_forced(
                V1,
                4,
                row(hash, &vector(8, i, 0.0)),
                10 * DAY + i as u64 * DAY,
            )
            .unwrap();
    }
    let ids: Vec<u64> = ["a", "b", "c"]
        .iter()
        .map(|h| record_id(&store, 4, h))
        .collect();
    drop(store);
    rewrite_records_as_schema(dir.path(), V1, 1);
    {
        // Rewrite the expiry index as schema 1 left it: one entry per record.
        let db = open_db(&dir.path().join("db"), 1 << 20, true).unwrap();
        db.drop_tree(schema::EXPIRY_TREE).unwrap();
        let old = db.open_tree("expiry").unwrap();
        for (i, id) in ids.iter().enumerate() {
            let mut key = (10 * DAY + i as u64 * DAY).to_be_bytes().to_vec();
            key.push(V1.len() as u8);
            key.extend_from_slice(V1.as_bytes());
            key.extend_from_slice(&4u64.to_be_bytes());
            key.extend_from_slice(&id.to_be_bytes());
            old.insert(key, &[] as &[u8]).unwrap();
        }
        db.open_tree(schema::META_TREE)
            .unwrap()
            .insert(b"schema_version", &1u32.to_le_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path(), opts);
    assert_eq!(store.scan_project(4).unwrap().expiry_entries, 3);
    assert!(
        !store
            .db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == b"expiry")
    );
    assert_eq!(store.sweep_retention(12 * DAY + 1).unwrap(), 2);
    assert!(store.record(V1, 4, "c").unwrap().is_some());
    assert_eq!(store.scan_project(4).unwrap().expiry_entries, 1);
}

#[test]
fn without_saved_graphs_only_sled_is_on_disk_and_graphs_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), graph_options());
    for i in 0..40 {
        let v = vector(16, i % 16, i as f32 * 0.1);
        store
            .insert_forced(V1, 3, row(&format!("h{i}"), &v), 1)
            .unwrap();
    }
    store.close().unwrap();
    let path = dir.path().join("indexes").join(V1).join("3.graph");
    assert!(path.exists());
    let mut opts = graph_options();
    opts.save_graphs = false;
    let store = open(dir.path(), opts.clone());
    assert!(!path.exists(), "a graph file from before is removed");
    assert_eq!(store.open_report().indexes_rebuilt, 1);
    assert_eq!(store.scan_project(3).unwrap().indexed_vectors, 40);
    store
        .insert_forced(V1, 3, row("h40", &vector(16, 1, 9.0)), 1)
        .unwrap();
    store.close().unwrap();
    assert!(!path.exists());
    let store = open(dir.path(), opts);
    assert_eq!(store.scan_project(3).unwrap().indexed_vectors, 41);
}

#[test]
fn configured_index_defaults_are_the_library_defaults() {
    let settings = crate::settings::Settings::defaults().unwrap();
    let from_settings = StoreOptions::from_settings(&settings);
    let defaults = StoreOptions::default();
    assert_eq!(from_settings.index, defaults.index);
    assert_eq!(from_settings.graph_staging, defaults.graph_staging);
    assert_eq!(from_settings.save_graphs, defaults.save_graphs);
    assert_eq!(from_settings.retention_days, defaults.retention_days);
}

#[test]
fn deletes_leave_tombstones_that_the_indexer_compacts_away() {
    let (dir, exact_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (store, exact) = graph_and_exact_stores(dir.path(), exact_dir.path());
    let vectors: Vec<Vec<f32>> = (0..75)
        .map(|i| vector(16, i % 16, i as f32 * 0.021))
        .collect();
    let hashes: Vec<String> = (0..75).map(|i| format!("{i:032x}")).collect();
    for (hash, v) in hashes.iter().zip(&vectors) {
        insert_into_both([&store, &exact], 4, hash, v);
    }
    wait_until_indexed(&store, 4);
    let compare = |store: &Store| {
        for v in &vectors {
            assert_eq!(
                store.search(V1, 4, v, 3, 2.0, None).unwrap(),
                exact.search(V1, 4, v, 3, 2.0, None).unwrap()
            );
        }
    };
    // Below the compaction point the deleted records stay as waypoints.
    let first: Vec<&str> = hashes[..5].iter().map(String::as_str).collect();
    delete_from_both([&store, &exact], 4, &first);
    let info = store.index_info(V1, 4).unwrap().unwrap();
    assert_eq!((info.vectors, info.tombstones), (70, 5));
    compare(&store);
    // Past it (more tombstones than live records) the graph is rebuilt.
    let rest: Vec<&str> = hashes[5..50].iter().map(String::as_str).collect();
    delete_from_both([&store, &exact], 4, &rest);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let info = loop {
        let info = store.index_info(V1, 4).unwrap().unwrap();
        if info.tombstones == 0 || std::time::Instant::now() > deadline {
            break info;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!(
        (info.backend, info.vectors, info.tombstones),
        (Backend::Hnsw, 25, 0)
    );
    assert_eq!(store.scan_project(4).unwrap().indexed_vectors, 25);
    compare(&store);
    // The compacted graph takes inserts and deletes, and is saved and loaded.
    insert_into_both([&store, &exact], 4, "late", &vectors[0]);
    delete_from_both([&store, &exact], 4, &[&hashes[60]]);
    compare(&store);
    store.close().unwrap();
    let store = open(dir.path(), graph_options());
    assert_eq!(store.open_report().indexes_loaded, 1);
    let info = store.index_info(V1, 4).unwrap().unwrap();
    assert_eq!((info.vectors, info.tombstones), (25, 1));
    compare(&store);
}

/// Polls until `done` holds for the project's index info (10 s at most).
fn wait_for_info(store: &Store, project: u64, done: impl Fn(&IndexInfo) -> bool) -> IndexInfo {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let info = store.index_info(V1, project).unwrap().unwrap();
        if done(&info) || std::time::Instant::now() > deadline {
            return info;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn grown_graphs_are_laid_out_again_and_answer_the_same() {
    let (dir, exact_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (store, exact) = graph_and_exact_stores(dir.path(), exact_dir.path());
    let vectors: Vec<Vec<f32>> = (0..300)
        .map(|i| vector(16, i % 16, i as f32 * 0.003))
        .collect();
    let hashes: Vec<String> = (0..300).map(|i| format!("{i:032x}")).collect();
    let compare = |store: &Store| {
        for v in &vectors {
            assert_eq!(
                store.search(V1, 6, v, 3, 2.0, None).unwrap(),
                exact.search(V1, 6, v, 3, 2.0, None).unwrap()
            );
        }
    };
    // One at a time: the indexer adds them, then lays the graph out.
    for (hash, v) in hashes.iter().zip(&vectors).take(200) {
        insert_into_both([&store, &exact], 6, hash, v);
    }
    let info = wait_for_info(&store, 6, |i| i.staged == 0 && !i.rework_pending);
    assert_eq!((info.backend, info.vectors), (Backend::Hnsw, 200));
    assert!(info.search_copy_bytes.is_some_and(|b| b > 0));
    assert!(
        info.laid_out > 150,
        "laid out at {} of 200 nodes",
        info.laid_out
    );
    compare(&store);
    // A bulk insert grows it past an eighth: laid out again in the background.
    let rows: Vec<NewRecord<'_>> = hashes[200..]
        .iter()
        .zip(&vectors[200..])
        .map(|(hash, v)| row(hash, v))
        .collect();
    for target in [&store, &exact] {
        target.insert_batch(V1, 6, &rows, None, 1).unwrap();
    }
    let info = wait_for_info(&store, 6, |i| i.laid_out == 300);
    assert_eq!((info.vectors, info.laid_out), (300, 300));
    compare(&store);
    // Deletes after the layout, then a save and a load (laid out at load).
    delete_from_both([&store, &exact], 6, &[&hashes[3], &hashes[250]]);
    compare(&store);
    store.close().unwrap();
    let store = open(dir.path(), graph_options());
    assert_eq!(store.open_report().indexes_loaded, 1);
    let info = store.index_info(V1, 6).unwrap().unwrap();
    assert_eq!(
        (info.vectors, info.tombstones, info.laid_out),
        (298, 2, 300)
    );
    assert!(info.search_copy_bytes.is_some(), "copied at load");
    compare(&store);
}

/// Searches walk a copy of the graph; records inserted and deleted since
/// it was taken are answered for exactly as by the exact scan, before and
/// after the indexer takes a new copy.
#[test]
fn search_copies_follow_inserts_and_deletes() {
    let (dir, exact_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (store, exact) = graph_and_exact_stores(dir.path(), exact_dir.path());
    let vectors: Vec<Vec<f32>> = (0..260)
        .map(|i| vector(16, i % 16, i as f32 * 0.004))
        .collect();
    let hashes: Vec<String> = (0..260).map(|i| format!("{i:032x}")).collect();
    let compare = || {
        for v in vectors.iter().step_by(3) {
            assert_eq!(
                store.search(V1, 8, v, 4, 2.0, None).unwrap(),
                exact.search(V1, 8, v, 4, 2.0, None).unwrap()
            );
        }
    };
    for (hash, v) in hashes.iter().zip(&vectors).take(100) {
        insert_into_both([&store, &exact], 8, hash, v);
    }
    let idle = |i: &IndexInfo| i.staged == 0 && !i.rework_pending;
    assert!(wait_for_info(&store, 8, idle).search_copy_bytes.is_some());
    compare();
    let mut deleted = 0;
    for round in 0..8 {
        for i in 100 + round * 20..120 + round * 20 {
            insert_into_both([&store, &exact], 8, &hashes[i], &vectors[i]);
        }
        let doomed: Vec<&str> = (0..6).map(|j| hashes[deleted + j].as_str()).collect();
        delete_from_both([&store, &exact], 8, &doomed);
        deleted += 6;
        compare();
        let info = wait_for_info(&store, 8, idle);
        assert!(
            idle(&info) && info.search_copy_bytes.is_some(),
            "round {round}: {info:?}"
        );
        compare();
    }
}

/// The id of (project, hash)'s record, from its key.
fn record_id(store: &Store, project: u64, hash: &str) -> u64 {
    let tree_name = schema::records_tree_name(V1);
    let tree = store.db.open_tree(&tree_name).unwrap();
    tree.scan_prefix(schema::project_prefix(project))
        .map(|entry| schema::split_record_key(&tree_name, &entry.unwrap().0).unwrap())
        .find(|(_, _, h)| h == hash)
        .map(|(_, id, _)| id)
        .unwrap()
}

/// Moves every record of `version` back to where schema 1–3 kept it
/// (`records/<version>`, keyed by project ‖ hash) in the layout that schema
/// wrote (V1 with plain f16 before schema 3, V2 with packed f16 in it), and
/// marks the database as that schema.
fn rewrite_records_as_schema(dir: &Path, version: &str, schema_version: u32) {
    let db = open_db(&dir.join("db"), 1 << 20, true).unwrap();
    let tree_name = schema::records_tree_name(version);
    let tree = db.open_tree(&tree_name).unwrap();
    let old = db.open_tree(format!("records/{version}")).unwrap();
    for entry in tree.iter() {
        let (key, value) = entry.unwrap();
        let (project, id, hash) = schema::split_record_key(&tree_name, &key).unwrap();
        let record = records::decode_record(&tree_name, id, &value).unwrap();
        let old_value = if schema_version < 3 {
            let decoded = records::decode_embedding(&tree_name, &record.embedding, 8).unwrap();
            let plain = decoded
                .iter()
                .flat_map(|x| half::f16::from_f32(*x).to_bits().to_le_bytes())
                .collect();
            schema::RecordValue::V1(schema::RecordV1 {
                id,
                error_type: record.error_type,
                first_seen: record.first_seen,
                last_seen: record.last_seen,
                embedding: schema::EmbeddingValue::F16(plain),
            })
        } else {
            schema::RecordValue::V2(schema::RecordV2 {
                id,
                error_type: record.error_type,
                first_seen: record.first_seen,
                seen_for: record.last_seen - record.first_seen,
                embedding: record.embedding,
            })
        };
        old.insert(
            schema::project_hash_key(project, &hash),
            schema::encode(&old_value).unwrap(),
        )
        .unwrap();
    }
    drop(tree);
    db.drop_tree(tree_name.as_bytes()).unwrap();
    db.open_tree(schema::META_TREE)
        .unwrap()
        .insert(b"schema_version", &schema_version.to_le_bytes())
        .unwrap();
    db.flush().unwrap();
}

#[test]
fn schema_2_and_3_records_migrate_to_id_keys() {
    for old_schema in [2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options();
        opts.save_graphs = false;
        let store = open(dir.path(), opts.clone());
        // Components of similar size, so that the f16 embeddings pack.
        let vectors: Vec<Vec<f32>> = (0..6)
            .map(|i| {
                (0..8)
                    .map(|j| if j == i { 1.0 } else { 0.3 + 0.05 * j as f32 })
                    .collect()
            })
            .collect();
        for (i, v) in vectors.iter().enumerate() {
            store
                .insert_forced(V1, 5, row(&format!("h{i}"), v), 1_000 + i as u64)
                .unwrap();
        }
        store.touch(V1, 5, "h2", 5_000).unwrap();
        let before: Vec<Record> = (0..6)
            .map(|i| store.record(V1, 5, &format!("h{i}")).unwrap().unwrap())
            .collect();
        drop(store);
        rewrite_records_as_schema(dir.path(), V1, old_schema);
        if old_schema == 3 {
            // A migration cut short: part of the new tree, under a wrong id.
            let db = open_db(&dir.path().join("db"), 1 << 20, true).unwrap();
            db.open_tree(schema::records_tree_name(V1))
                .unwrap()
                .insert(schema::record_key(5, 999, "h0"), &[7u8] as &[u8])
                .unwrap();
            db.flush().unwrap();
        }

        let store = open(dir.path(), opts.clone());
        let after: Vec<Record> = (0..6)
            .map(|i| store.record(V1, 5, &format!("h{i}")).unwrap().unwrap())
            .collect();
        assert_eq!(after, before, "from schema {old_schema}");
        assert_eq!(store.scan_project(5).unwrap().records.len(), 6);
        let names = store.db.tree_names();
        assert!(!names.iter().any(|n| n.starts_with(b"records/")));
        let tree_name = schema::records_tree_name(V1);
        for entry in store.db.open_tree(&tree_name).unwrap().iter() {
            let value = schema::decode::<schema::RecordValue>("t", &entry.unwrap().1).unwrap();
            assert!(
                matches!(
                    value,
                    schema::RecordValue::V3(schema::RecordV3 {
                        embedding: schema::EmbeddingValue::F16Packed(_),
                        ..
                    })
                ),
                "{value:?}"
            );
        }
        // The index rebuilt from the moved records finds each at distance ~0.
        for (i, v) in vectors.iter().enumerate() {
            let hits = store.search(V1, 5, v, 1, 0.5, None).unwrap();
            assert_eq!(hits[0].hash, format!("h{i}"));
        }
        assert_eq!(
            store
                .insert_forced(V1, 5, row("h1", &vectors[0]), 9_000)
                .unwrap(),
            InsertOutcome::HashExists
        );
        store.touch(V1, 5, "h1", 9_000).unwrap();
        let touched = store.record(V1, 5, "h1").unwrap().unwrap();
        assert_eq!((touched.first_seen, touched.last_seen), (1_001, 9_000));
        assert_eq!(touched.embedding, before[1].embedding);
        assert_eq!(store.delete_hashes(5, &["h3"]).unwrap(), 1);
        let meta = store.db.open_tree(schema::META_TREE).unwrap();
        assert_eq!(
            meta.get(b"schema_version").unwrap().unwrap().as_ref(),
            &schema::SCHEMA_VERSION.to_le_bytes()
        );
        drop(meta);
        drop(store);
        let store = open(dir.path(), opts);
        assert!(store.record(V1, 5, "h3").unwrap().is_none());
        assert_eq!(store.scan_project(5).unwrap().records.len(), 5);
    }
}
