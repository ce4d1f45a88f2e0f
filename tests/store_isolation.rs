//! A search never returns another project's or another model version's
//! record: random inserts and deletions across projects and versions (with
//! the same hashes reused everywhere), then every (version, project) is
//! searched, before and after a reopen.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use stackherd::index::{Backend, HnswParams, IndexOptions, Quantization, cosine_distance};
use stackherd::store::{NewRecord, Store, StoreOptions};
use std::collections::BTreeMap;

const VERSIONS: [(&str, usize); 2] = [("v1", 8), ("v2", 4)];

#[derive(Debug, Clone)]
enum Op {
    Insert {
        version: usize,
        project: u64,
        hash: u8,
        vector: Vec<f32>,
        gated: bool,
    },
    Delete {
        project: u64,
        hash: u8,
    },
    DeleteProject {
        project: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..3u64, 0..8u8, prop::collection::vec(-1.0f32..1.0, 8), any::<bool>())
            .prop_map(|(version, project, hash, vector, gated)| Op::Insert { version, project, hash, vector, gated }),
        2 => (0..3u64, 0..8u8).prop_map(|(project, hash)| Op::Delete { project, hash }),
        1 => (0..3u64).prop_map(|project| Op::DeleteProject { project }),
    ]
}

fn options(exact_max: usize) -> StoreOptions {
    StoreOptions {
        index: IndexOptions {
            backend: Backend::Adaptive,
            exact_max,
            hnsw: HnswParams {
                quantization: Quantization::F16,
                ..HnswParams::default()
            },
        },
        cache_capacity_bytes: 4 * 1024 * 1024,
        ..StoreOptions::default()
    }
}

/// (version, project) → hash → stored vector (as given).
type Model = BTreeMap<(usize, u64), BTreeMap<String, Vec<f32>>>;

fn check(store: &Store, model: &Model, queries: &[Vec<f32>]) -> Result<(), TestCaseError> {
    for (version, (name, dims)) in VERSIONS.iter().enumerate() {
        for project in 0..3u64 {
            let expected = model.get(&(version, project)).cloned().unwrap_or_default();
            for query in queries {
                let query = &query[..*dims];
                if query.iter().all(|x| *x == 0.0) {
                    continue;
                }
                let hits = store.search(name, project, query, 16, 2.0, None).unwrap();
                // Radius 2 covers everything: exactly this (version, project)'s records.
                prop_assert_eq!(hits.len(), expected.len());
                for hit in hits {
                    let stored = expected.get(&hit.hash);
                    prop_assert!(
                        stored.is_some(),
                        "{} from elsewhere in {}/{}",
                        hit.hash,
                        name,
                        project
                    );
                    // Same name in another project has another vector: the
                    // distance proves which record this is.
                    let want = cosine_distance(query, stored.unwrap());
                    prop_assert!(
                        (hit.distance - want).abs() < 2e-3,
                        "{} {} vs {}",
                        hit.hash,
                        hit.distance,
                        want
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn searches_only_see_their_own_project_and_version(
        ops in prop::collection::vec(op(), 1..40),
        queries in prop::collection::vec(prop::collection::vec(-1.0f32..1.0, 8), 1..4),
        exact_max in prop_oneof![Just(2usize), Just(1_000)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), options(exact_max)).unwrap();
        let mut model = Model::new();
        for op in &ops {
            match op {
                Op::Insert { version, project, hash, vector, gated } => {
                    let (name, dims) = VERSIONS[*version];
                    let vector = &vector[..dims];
                    if vector.iter().all(|x| *x == 0.0) {
                        continue;
                    }
                    let hash = format!("h{hash}");
                    let record = NewRecord { hash: &hash, error_type: None, embedding: vector };
                    let outcome = if *gated {
                        store.insert_if_no_neighbour(name, *project, record, 0.001, 1).unwrap()
                    } else {
                        store.insert_forced(name, *project, record, 1).unwrap()
                    };
                    if outcome == stackherd::store::InsertOutcome::Inserted {
                        let previous = model.entry((*version, *project)).or_default().insert(hash, vector.to_vec());
                        prop_assert!(previous.is_none(), "first embedding must win");
                    }
                }
                Op::Delete { project, hash } => {
                    store.delete_hashes(*project, &[&format!("h{hash}")]).unwrap();
                    for version in 0..VERSIONS.len() {
                        if let Some(hashes) = model.get_mut(&(version, *project)) {
                            hashes.remove(&format!("h{hash}"));
                        }
                    }
                }
                Op::DeleteProject { project } => {
                    store.delete_project(*project).unwrap();
                    for version in 0..VERSIONS.len() {
                        model.remove(&(version, *project));
                    }
                }
            }
        }
        check(&store, &model, &queries)?;
        store.close().unwrap();
        let store = Store::open(dir.path(), options(exact_max)).unwrap();
        check(&store, &model, &queries)?;
    }
}
