//! Acknowledged writes survive `kill -9`.
//!
//! The test re-executes its own binary as a child (selected by an
//! environment variable) that opens a store and mutates it forever, printing
//! `BEGIN …` before and `ACK …` after each call returns. The parent kills it
//! with SIGKILL after a random number of acknowledgements (sometimes in the
//! middle of a call), reopens the store, and checks: the store opens, every
//! acknowledged insert is there (in sled and in the index), every
//! acknowledged deletion stays deleted (in sled and in search results), and
//! acknowledged touches and fingerprint entries hold. Only the one call in
//! flight at the kill may go either way.

#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stackherd::index::{Backend, HnswParams, IndexOptions, Quantization};
use stackherd::store::{NewRecord, Store, StoreOptions};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const CHILD_DIR: &str = "STACKHERD_DURABILITY_CHILD_DIR";
const CHILD_SEED: &str = "STACKHERD_DURABILITY_CHILD_SEED";
const KILLS: usize = 60;
const MAIN: u64 = 1;
const DOOMED: u64 = 2;

fn dimensions(version: &str) -> usize {
    if version == "v1" { 16 } else { 8 }
}

fn options() -> StoreOptions {
    StoreOptions {
        index: IndexOptions {
            backend: Backend::Adaptive,
            // Small, so most of the run exercises HNSW and saved graphs.
            exact_max: 24,
            hnsw: HnswParams {
                quantization: Quantization::F16,
                ..HnswParams::default()
            },
        },
        cache_capacity_bytes: 8 * 1024 * 1024,
        ..StoreOptions::default()
    }
}

/// The embedding of a hash: deterministic, so the parent can recompute it.
fn embedding(version: &str, hash: &str) -> Vec<f32> {
    let seed = hash.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = StdRng::seed_from_u64(seed);
    (0..dimensions(version))
        .map(|_| rng.gen_range(-1.0f32..1.0))
        .collect()
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// The child: runs only when the parent sets CHILD_DIR.
#[test]
fn durability_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let seed: u64 = std::env::var(CHILD_SEED).unwrap().parse().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let store = Store::open(Path::new(&dir), options()).unwrap();
    say("OPENED");
    // Hashes present at start, per (version, project): deletion targets.
    let mut present: Vec<(String, u64, String)> = Vec::new();
    for project in [MAIN, DOOMED] {
        for (version, hash) in store.scan_project(project).unwrap().records {
            present.push((version, project, hash));
        }
    }
    let now = 1_700_000_000 + seed * 1_000;
    // Bounded so an orphaned child cannot run forever.
    for i in 0..5_000u64 {
        let version = if rng.gen_bool(0.7) { "v1" } else { "v2" };
        let roll = rng.gen_range(0..100);
        if roll < 45 {
            let project = if rng.gen_bool(0.8) { MAIN } else { DOOMED };
            let hash = format!("s{seed}-{i}");
            let e = embedding(version, &hash);
            let record = NewRecord {
                hash: &hash,
                error_type: Some("E"),
                embedding: &e,
            };
            say(&format!("BEGIN INS {version} {project} {hash}"));
            let inserted = if rng.gen_bool(0.5) {
                store
                    .insert_forced(version, project, record, now + i)
                    .unwrap()
            } else {
                // Random 16-dim vectors are never within 1e-4 of each other.
                store
                    .insert_if_no_neighbour(version, project, record, 1e-4, now + i)
                    .unwrap()
            };
            assert_eq!(inserted, stackherd::store::InsertOutcome::Inserted);
            say(&format!("ACK INS {version} {project} {hash}"));
            present.push((version.to_owned(), project, hash));
        } else if roll < 65 && !present.is_empty() {
            let (version, project, hash) = present.swap_remove(rng.gen_range(0..present.len()));
            say(&format!("BEGIN DEL {version} {project} {hash}"));
            store.delete_hashes(project, &[&hash]).unwrap();
            say(&format!("ACK DEL {version} {project} {hash}"));
        } else if roll < 75 && !present.is_empty() {
            let (version, project, hash) = present[rng.gen_range(0..present.len())].clone();
            let t = now + 100_000 + i;
            say(&format!("BEGIN TOUCH {version} {project} {hash} {t}"));
            assert!(store.touch(&version, project, &hash, t).unwrap());
            say(&format!("ACK TOUCH {version} {project} {hash} {t}"));
        } else if roll < 85 {
            let fingerprint = format!("fp{seed}-{i}");
            say(&format!("BEGIN FP {fingerprint}"));
            store
                .set_fingerprint_issue(MAIN, &fingerprint, "issue")
                .unwrap();
            say(&format!("ACK FP {fingerprint}"));
        } else if roll < 88 {
            say(&format!("BEGIN DELPROJ {DOOMED}"));
            store.delete_project(DOOMED).unwrap();
            say(&format!("ACK DELPROJ {DOOMED}"));
            present.retain(|(_, p, _)| *p != DOOMED);
        } else {
            // Saved graphs go stale at once; the next open must reconcile them.
            store.save_indexes().unwrap();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Present,
    Deleted,
    /// The call in flight at a kill: either outcome is allowed, until a
    /// later acknowledged call settles it.
    Uncertain,
}

#[derive(Default)]
struct Model {
    records: HashMap<(String, u64, String), State>,
    touched: HashMap<(String, u64, String), u64>,
    fingerprints: HashMap<String, State>,
}

impl Model {
    fn apply(&mut self, words: &[&str], state: State) {
        match words {
            ["INS", version, project, hash] | ["DEL", version, project, hash] => {
                let key = (
                    version.to_string(),
                    project.parse().unwrap(),
                    hash.to_string(),
                );
                let state = match (words[0], state) {
                    ("DEL", State::Present) => State::Deleted,
                    (_, s) => s,
                };
                self.records.insert(key, state);
            }
            ["TOUCH", version, project, hash, t] => {
                if state == State::Present {
                    let key = (
                        version.to_string(),
                        project.parse().unwrap(),
                        hash.to_string(),
                    );
                    self.touched.insert(key, t.parse().unwrap());
                }
            }
            ["FP", fingerprint] => {
                self.fingerprints.insert(fingerprint.to_string(), state);
            }
            ["DELPROJ", project] => {
                let project: u64 = project.parse().unwrap();
                for (key, s) in &mut self.records {
                    if key.1 == project {
                        *s = if state == State::Present {
                            State::Deleted
                        } else {
                            State::Uncertain
                        };
                    }
                }
            }
            _ => panic!("unexpected line {words:?}"),
        }
    }

    fn verify(&self, store: &Store) -> usize {
        let mut checked = 0;
        for ((version, project, hash), state) in &self.records {
            let record = store.record(version, *project, hash).unwrap();
            let indexed = store.is_indexed(version, *project, hash).unwrap();
            let returned = store
                .search(version, *project, &embedding(version, hash), 3, 2.0, None)
                .unwrap()
                .iter()
                .any(|n| &n.hash == hash);
            match state {
                State::Present => {
                    let record = record.unwrap_or_else(|| panic!("acknowledged {hash} lost"));
                    assert!(indexed, "{hash} is in sled but not in the index");
                    if let Some(t) = self.touched.get(&(version.clone(), *project, hash.clone())) {
                        assert!(record.last_seen >= *t, "touch of {hash} lost");
                    }
                    checked += 1;
                }
                State::Deleted => {
                    assert!(record.is_none(), "deleted {hash} is back in sled");
                    assert!(!indexed && !returned, "deleted {hash} is back in the index");
                    checked += 1;
                }
                State::Uncertain => {
                    // Either way, sled and the index agree.
                    assert_eq!(record.is_some(), indexed, "{hash}: sled/index disagree");
                }
            }
        }
        for (fingerprint, state) in &self.fingerprints {
            let issue = store.fingerprint_issue(MAIN, fingerprint).unwrap();
            if *state == State::Present {
                assert_eq!(issue.as_deref(), Some("issue"), "{fingerprint} lost");
            }
        }
        // Nothing is indexed that sled does not hold, and vice versa.
        for project in [MAIN, DOOMED] {
            let scan = store.scan_project(project).unwrap();
            assert_eq!(
                scan.indexed_vectors,
                scan.records.len(),
                "project {project}"
            );
        }
        checked
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut model = Model::default();
    let mut kills = 0;
    let mut acks = 0;
    let mut in_flight = 0;
    for round in 0..KILLS as u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "durability_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_SEED, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let target = rng.gen_range(0..40usize);
        let mut seen = 0;
        let mut pending: Option<String> = None;
        let mut opened = false;
        while seen < target || !opened {
            let Some(line) = lines.next() else { break };
            let line = line.unwrap();
            // libtest prints "test durability_child ... " on the same line.
            if line.ends_with("OPENED") {
                opened = true;
            } else if let Some(op) = line.strip_prefix("BEGIN ") {
                pending = Some(op.to_owned());
            } else if let Some(op) = line.strip_prefix("ACK ") {
                let words: Vec<&str> = op.split(' ').collect();
                model.apply(&words, State::Present);
                pending = None;
                seen += 1;
                acks += 1;
            }
        }
        // Half the kills land a little later, often inside a call.
        if rng.gen_bool(0.5) {
            std::thread::sleep(std::time::Duration::from_micros(rng.gen_range(0..3_000)));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // Whatever the child printed before dying is still in the pipe:
        // an ACK there was given before the kill, so it counts.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some(op) = line.strip_prefix("BEGIN ") {
                pending = Some(op.to_owned());
            } else if let Some(op) = line.strip_prefix("ACK ") {
                let words: Vec<&str> = op.split(' ').collect();
                model.apply(&words, State::Present);
                pending = None;
                acks += 1;
            }
        }
        if let Some(op) = pending {
            let words: Vec<&str> = op.split(' ').collect();
            model.apply(&words, State::Uncertain);
            in_flight += 1;
        }
        let store = Store::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("store does not open after kill {kills}: {e}"));
        model.verify(&store);
        drop(store);
    }
    assert!(kills >= 50);
    assert!(acks > 0);
    let store = Store::open(dir.path(), options()).unwrap();
    let checked = model.verify(&store);
    eprintln!(
        "{kills} kills ({in_flight} inside a call), {acks} acknowledged calls, {checked} records checked"
    );
}
