//! Counters of what the engine decided, for `/metrics` and benchmarks.

use super::outcome::{DegradedReason, GroupingMethod};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct EngineCounters {
    fingerprint: AtomicU64,
    ai: AtomicU64,
    new: AtomicU64,
    degraded: [AtomicU64; DegradedReason::ALL.len()],
    similarity_requests: AtomicU64,
    similarity_inserts: AtomicU64,
    projects_deleted: AtomicU64,
    hashes_deleted: AtomicU64,
    retention_removed: AtomicU64,
}

/// A snapshot of [`EngineCounters`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EngineStats {
    /// Events by grouping method (`fingerprint`, `ai`, `new`, `fingerprint_only`).
    pub events: BTreeMap<&'static str, u64>,
    /// Events grouped by fingerprint only, by reason.
    pub degraded: BTreeMap<&'static str, u64>,
    pub similarity_requests: u64,
    pub similarity_inserts: u64,
    pub projects_deleted: u64,
    pub hashes_deleted: u64,
    pub retention_removed: u64,
}

impl EngineStats {
    pub fn ai_merges(&self) -> u64 {
        self.events.get("ai").copied().unwrap_or(0)
    }

    /// Issues created, with or without the AI path.
    pub fn new_issues(&self) -> u64 {
        self.events.get("new").copied().unwrap_or(0)
            + self.events.get("fingerprint_only").copied().unwrap_or(0)
    }

    pub fn total_events(&self) -> u64 {
        self.events.values().sum()
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl EngineCounters {
    pub fn grouped(&self, method: &GroupingMethod) {
        match method {
            GroupingMethod::Fingerprint => bump(&self.fingerprint, 1),
            GroupingMethod::Ai { .. } => bump(&self.ai, 1),
            GroupingMethod::New { .. } => bump(&self.new, 1),
            GroupingMethod::FingerprintOnly { reason } => {
                let index = DegradedReason::ALL
                    .iter()
                    .position(|r| r == reason)
                    .unwrap_or(0);
                if let Some(counter) = self.degraded.get(index) {
                    bump(counter, 1);
                }
            }
        }
    }

    pub fn similarity_request(&self, inserted: bool) {
        bump(&self.similarity_requests, 1);
        if inserted {
            bump(&self.similarity_inserts, 1);
        }
    }

    pub fn project_deleted(&self) {
        bump(&self.projects_deleted, 1);
    }

    pub fn hashes_deleted(&self, count: usize) {
        bump(
            &self.hashes_deleted,
            u64::try_from(count).unwrap_or(u64::MAX),
        );
    }

    pub fn retention_removed(&self, count: usize) {
        bump(
            &self.retention_removed,
            u64::try_from(count).unwrap_or(u64::MAX),
        );
    }

    pub fn snapshot(&self) -> EngineStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let degraded: BTreeMap<&'static str, u64> = DegradedReason::ALL
            .iter()
            .zip(&self.degraded)
            .map(|(reason, count)| (reason.as_str(), load(count)))
            .collect();
        let mut events = BTreeMap::new();
        events.insert("fingerprint", load(&self.fingerprint));
        events.insert("ai", load(&self.ai));
        events.insert("new", load(&self.new));
        events.insert("fingerprint_only", degraded.values().sum());
        EngineStats {
            events,
            degraded,
            similarity_requests: load(&self.similarity_requests),
            similarity_inserts: load(&self.similarity_inserts),
            projects_deleted: load(&self.projects_deleted),
            hashes_deleted: load(&self.hashes_deleted),
            retention_removed: load(&self.retention_removed),
        }
    }
}
