//! The durable log of deletions that other nodes have not acknowledged yet.
//!
//! A deletion received by one node must reach every node that might hold
//! the project's data, even when some are down. Each (deletion, target
//! node) pair is an entry here until the target acknowledges it; failed
//! deliveries are retried with exponential backoff, and the retry state
//! survives restarts.
//!
//! # Format and why
//!
//! An append-only file of JSON lines, one record per change (`add`, `fail`,
//! `ack`), each appended and `fsync`ed before the call returns. Appending
//! costs one small write and one fsync per change whatever the number of
//! pending entries, where rewriting the whole file (write temp + fsync +
//! rename) would cost O(pending) per change; and a crash can only tear the
//! last line, which is easy to recognise. The file is compacted (rewritten
//! with only the live entries, by write temp + fsync + rename + fsync of the
//! directory) when dead records outnumber live ones, so it stays small.
//! JSON rather than bincode: an operator can read (and, in an emergency,
//! edit) the file.
//!
//! On open, every complete line is replayed. A last line that is
//! incomplete (no newline) or unparsable is a write torn by a crash: it is
//! ignored with a warning and cut off, so the next append starts on a clean
//! line. The change it carried was never acknowledged to anyone (the
//! `fsync` had not returned), so nothing promised is lost. An unparsable
//! line followed by others is corruption, and opening fails naming the line.
//!
//! Times are wall-clock milliseconds since the Unix epoch, so that a retry
//! scheduled before a restart is still due at the same moment after it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// What to delete on the target node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionKind {
    /// Everything of the project.
    Project(u64),
    /// These hashes of the project.
    Hashes(u64, Vec<String>),
}

impl DeletionKind {
    pub fn project(&self) -> u64 {
        match self {
            DeletionKind::Project(project) | DeletionKind::Hashes(project, _) => *project,
        }
    }
}

/// One deletion to deliver to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// Unique within this log (never reused, also across restarts).
    pub id: u64,
    /// The node that must apply it (a peer id).
    pub target_peer: String,
    pub kind: DeletionKind,
}

/// A deletion and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDeletion {
    pub deletion: Deletion,
    /// When it was recorded (ms since the Unix epoch).
    pub created_ms: u64,
    /// Failed deliveries so far.
    pub attempts: u32,
    /// Not retried before this time (ms since the Unix epoch).
    pub next_attempt_ms: u64,
    /// Why the last delivery failed.
    pub last_error: Option<String>,
}

/// Exponential backoff: `initial`, doubled per failure, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after the `attempts`-th consecutive failure (1-based).
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(63);
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[derive(Debug, Error)]
pub enum PendingError {
    #[error("pending deletions {path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("pending deletions {path}: line {line} is corrupt ({message}); fix or remove it")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("pending deletions: cannot encode a record: {0}")]
    Encode(String),
}

/// One line of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    /// A new entry (or, after compaction, a live entry with its state).
    Add(PendingDeletion),
    /// A failed delivery and the retry time it earned.
    Fail {
        id: u64,
        attempts: u32,
        next_attempt_ms: u64,
        error: String,
    },
    /// The target applied it; the entry is gone.
    Ack { id: u64 },
    /// Written first by compaction: ids below this were used.
    NextId(u64),
}

/// The log, open. Not internally synchronized: share it behind a mutex.
#[derive(Debug)]
pub struct PendingDeletions {
    path: PathBuf,
    file: File,
    backoff: Backoff,
    entries: BTreeMap<u64, PendingDeletion>,
    next_id: u64,
    /// Lines in the file, to decide when to compact.
    records: usize,
    /// Length of the file up to its last complete record.
    len: u64,
    /// A failed append could not be undone; refuse further appends (the
    /// next open cuts the torn tail off).
    poisoned: bool,
}

/// Lines the file may hold beyond twice the live entries before compaction.
const COMPACT_SLACK: usize = 64;

/// Now, in ms since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl PendingDeletions {
    /// Opens (or creates) the log at `path`, replaying it. Creates the
    /// parent directory if needed.
    pub fn open(
        path: impl AsRef<Path>,
        backoff: Backoff,
    ) -> Result<PendingDeletions, PendingError> {
        let path = path.as_ref().to_path_buf();
        let io = |action: &'static str| {
            let path = path.clone();
            move |source| PendingError::Io {
                path,
                action,
                source,
            }
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io("creating its directory"))?;
        }
        // A compaction that crashed before its rename left a temp file; the
        // log itself is intact.
        let _ = std::fs::remove_file(temp_path(&path));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("opening"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("reading"))?;
        let replay = replay(&path, &bytes)?;
        if replay.good_len < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                torn_bytes = bytes.len() - replay.good_len,
                "ignoring a torn last record of the pending-deletion log (a crash during a write)"
            );
            file.set_len(u64::try_from(replay.good_len).unwrap_or(u64::MAX))
                .map_err(io("cutting off a torn record"))?;
            file.sync_all().map_err(io("syncing"))?;
        }
        if replay.records == 0 {
            // A new file: make its directory entry durable too.
            sync_dir(&path).map_err(io("syncing its directory"))?;
        }
        let mut log = PendingDeletions {
            path,
            file,
            backoff,
            entries: replay.entries,
            next_id: replay.next_id,
            records: replay.records,
            len: u64::try_from(replay.good_len).unwrap_or(u64::MAX),
            poisoned: false,
        };
        log.maybe_compact()?;
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Records a deletion for `target_peer`, durable before it returns, due
    /// at once. An identical entry still pending is returned instead of a
    /// second one (deletions are idempotent; callers retry).
    pub fn add(&mut self, target_peer: &str, kind: DeletionKind) -> Result<Deletion, PendingError> {
        let mut added = self.add_all(vec![(target_peer.to_string(), kind)], now_ms())?;
        added
            .pop()
            .ok_or_else(|| PendingError::Encode("no deletion recorded".to_string()))
    }

    /// Records several deletions with one fsync (see [`PendingDeletions::add`]).
    pub fn add_all(
        &mut self,
        deletions: Vec<(String, DeletionKind)>,
        now_ms: u64,
    ) -> Result<Vec<Deletion>, PendingError> {
        let mut result = Vec::with_capacity(deletions.len());
        let mut fresh = Vec::new();
        for (target_peer, kind) in deletions {
            let existing = self
                .entries
                .values()
                .chain(fresh.iter())
                .find(|e| e.deletion.target_peer == target_peer && e.deletion.kind == kind);
            if let Some(existing) = existing {
                result.push(existing.deletion.clone());
                continue;
            }
            let deletion = Deletion {
                id: self.next_id + u64::try_from(fresh.len()).unwrap_or(u64::MAX),
                target_peer,
                kind,
            };
            fresh.push(PendingDeletion {
                deletion: deletion.clone(),
                created_ms: now_ms,
                attempts: 0,
                next_attempt_ms: now_ms,
                last_error: None,
            });
            result.push(deletion);
        }
        if fresh.is_empty() {
            return Ok(result);
        }
        let records: Vec<Record> = fresh.iter().cloned().map(Record::Add).collect();
        self.append(&records)?;
        for entry in fresh {
            self.next_id = self.next_id.max(entry.deletion.id + 1);
            self.entries.insert(entry.deletion.id, entry);
        }
        Ok(result)
    }

    /// Entries due at `now_ms`, earliest first.
    pub fn due(&self, now_ms: u64) -> Vec<Deletion> {
        let mut due: Vec<&PendingDeletion> = self
            .entries
            .values()
            .filter(|e| e.next_attempt_ms <= now_ms)
            .collect();
        due.sort_by_key(|e| (e.next_attempt_ms, e.deletion.id));
        due.into_iter().map(|e| e.deletion.clone()).collect()
    }

    /// When the earliest entry is due, if any is pending.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.entries.values().map(|e| e.next_attempt_ms).min()
    }

    /// The target acknowledged `id`; durable before it returns. `false` if
    /// no such entry is pending (acknowledged twice, say).
    pub fn ack(&mut self, id: u64) -> Result<bool, PendingError> {
        if !self.entries.contains_key(&id) {
            return Ok(false);
        }
        self.append(&[Record::Ack { id }])?;
        self.entries.remove(&id);
        self.maybe_compact()?;
        Ok(true)
    }

    /// A delivery of `id` failed at `now_ms`: schedules the next attempt by
    /// the backoff and returns its time (`None` if no such entry).
    pub fn fail(&mut self, id: u64, error: &str, now_ms: u64) -> Result<Option<u64>, PendingError> {
        let Some(entry) = self.entries.get(&id) else {
            return Ok(None);
        };
        let attempts = entry.attempts.saturating_add(1);
        let next_attempt_ms = now_ms.saturating_add(millis(self.backoff.delay(attempts)));
        self.append(&[Record::Fail {
            id,
            attempts,
            next_attempt_ms,
            error: error.to_string(),
        }])?;
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.attempts = attempts;
            entry.next_attempt_ms = next_attempt_ms;
            entry.last_error = Some(error.to_string());
        }
        self.maybe_compact()?;
        Ok(Some(next_attempt_ms))
    }

    /// Makes every entry for `target_peer` due now (in memory only: the
    /// peer was just seen answering, so waiting out its backoff would only
    /// delay the deletion). Returns how many.
    pub fn expedite(&mut self, target_peer: &str) -> usize {
        let mut count = 0;
        for entry in self.entries.values_mut() {
            if entry.deletion.target_peer == target_peer && entry.next_attempt_ms > 0 {
                entry.next_attempt_ms = 0;
                count += 1;
            }
        }
        count
    }

    /// The entry `id`, if pending.
    pub fn get(&self, id: u64) -> Option<&PendingDeletion> {
        self.entries.get(&id)
    }

    /// Every pending entry, by id.
    pub fn entries(&self) -> impl Iterator<Item = &PendingDeletion> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn io_error(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> PendingError {
        let path = self.path.clone();
        move |source| PendingError::Io {
            path,
            action,
            source,
        }
    }

    /// Appends `records` and fsyncs. On failure the in-memory state is left
    /// unchanged by the callers (they update it only after this succeeds).
    fn append(&mut self, records: &[Record]) -> Result<(), PendingError> {
        if self.poisoned {
            return Err(PendingError::Io {
                path: self.path.clone(),
                action: "appending",
                source: std::io::Error::other(
                    "an earlier write failed and could not be undone; reopen the log",
                ),
            });
        }
        let mut buffer = Vec::new();
        for record in records {
            serde_json::to_writer(&mut buffer, record)
                .map_err(|e| PendingError::Encode(e.to_string()))?;
            buffer.push(b'\n');
        }
        let written = self.file.write_all(&buffer);
        let synced = written.and_then(|()| self.file.sync_data());
        if let Err(error) = synced {
            // Part of the buffer may have reached the file: cut it off so
            // that later records do not follow a torn one.
            if self.file.set_len(self.len).is_err() {
                self.poisoned = true;
            }
            return Err(self.io_error("appending")(error));
        }
        self.records += records.len();
        self.len += u64::try_from(buffer.len()).unwrap_or(u64::MAX);
        Ok(())
    }

    fn maybe_compact(&mut self) -> Result<(), PendingError> {
        if self.records > 2 * self.entries.len() + COMPACT_SLACK {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with the live entries only: write a temp file,
    /// fsync it, rename it over the log, fsync the directory.
    pub fn compact(&mut self) -> Result<(), PendingError> {
        let temp = temp_path(&self.path);
        let mut buffer = Vec::new();
        let records = std::iter::once(Record::NextId(self.next_id))
            .chain(self.entries.values().cloned().map(Record::Add));
        let mut count = 0;
        for record in records {
            serde_json::to_writer(&mut buffer, &record)
                .map_err(|e| PendingError::Encode(e.to_string()))?;
            buffer.push(b'\n');
            count += 1;
        }
        let write = || -> std::io::Result<File> {
            let mut file = File::create(&temp)?;
            file.write_all(&buffer)?;
            file.sync_all()?;
            std::fs::rename(&temp, &self.path)?;
            sync_dir(&self.path)?;
            OpenOptions::new().read(true).append(true).open(&self.path)
        };
        let file = write().map_err(self.io_error("compacting"))?;
        self.file = file;
        self.records = count;
        self.len = u64::try_from(buffer.len()).unwrap_or(u64::MAX);
        self.poisoned = false;
        Ok(())
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a created or renamed file's directory entry durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

struct Replay {
    entries: BTreeMap<u64, PendingDeletion>,
    next_id: u64,
    records: usize,
    /// Bytes up to the end of the last good line.
    good_len: usize,
}

fn replay(path: &Path, bytes: &[u8]) -> Result<Replay, PendingError> {
    let mut replay = Replay {
        entries: BTreeMap::new(),
        next_id: 1,
        records: 0,
        good_len: 0,
    };
    let mut start = 0;
    let mut line_number = 0;
    while start < bytes.len() {
        line_number += 1;
        let Some(newline) = bytes[start..].iter().position(|&b| b == b'\n') else {
            // No newline: the last write was torn.
            break;
        };
        let end = start + newline;
        let line = &bytes[start..end];
        let is_last = end + 1 >= bytes.len();
        if line.iter().all(u8::is_ascii_whitespace) {
            start = end + 1;
            replay.good_len = start;
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(record) => apply(&mut replay, record),
            // A complete but unreadable last line is a torn write too.
            Err(_) if is_last => break,
            Err(error) => {
                return Err(PendingError::Corrupt {
                    path: path.to_path_buf(),
                    line: line_number,
                    message: error.to_string(),
                });
            }
        }
        replay.records += 1;
        start = end + 1;
        replay.good_len = start;
    }
    Ok(replay)
}

fn apply(replay: &mut Replay, record: Record) {
    match record {
        Record::Add(entry) => {
            replay.next_id = replay.next_id.max(entry.deletion.id.saturating_add(1));
            replay.entries.insert(entry.deletion.id, entry);
        }
        Record::Fail {
            id,
            attempts,
            next_attempt_ms,
            error,
        } => {
            if let Some(entry) = replay.entries.get_mut(&id) {
                entry.attempts = attempts;
                entry.next_attempt_ms = next_attempt_ms;
                entry.last_error = Some(error);
            }
        }
        Record::Ack { id } => {
            replay.entries.remove(&id);
        }
        Record::NextId(next) => replay.next_id = replay.next_id.max(next),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const T0: u64 = 1_700_000_000_000;

    fn backoff() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        }
    }

    fn open(path: &Path) -> PendingDeletions {
        PendingDeletions::open(path, backoff()).unwrap()
    }

    fn pending_set(log: &PendingDeletions) -> Vec<PendingDeletion> {
        log.entries().cloned().collect()
    }

    fn hashes(project: u64, names: &[&str]) -> DeletionKind {
        DeletionKind::Hashes(project, names.iter().map(|s| (*s).to_string()).collect())
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let b = backoff();
        let delays: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX).as_millis(), 1000);
        assert_eq!(b.delay(0).as_millis(), 100);
    }

    #[test]
    fn entries_survive_reopening_after_add_fail_and_ack() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster").join("pending.log");
        let mut log = open(&path);
        assert!(log.is_empty());
        let added = log
            .add_all(
                vec![
                    ("n2".to_string(), DeletionKind::Project(7)),
                    ("n3".to_string(), DeletionKind::Project(7)),
                    ("n3".to_string(), hashes(8, &["a", "b"])),
                ],
                T0,
            )
            .unwrap();
        assert_eq!(added.iter().map(|d| d.id).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(log.due(T0).len(), 3);
        assert_eq!(
            log.fail(2, "connection refused", T0).unwrap(),
            Some(T0 + 100)
        );
        assert_eq!(
            log.fail(2, "connection refused", T0 + 100).unwrap(),
            Some(T0 + 300)
        );
        assert!(log.ack(1).unwrap());
        assert!(!log.ack(1).unwrap());
        let before = pending_set(&log);
        drop(log);

        let mut log = open(&path);
        assert_eq!(pending_set(&log), before);
        let entry = log.get(2).unwrap();
        assert_eq!(entry.attempts, 2);
        assert_eq!(entry.last_error.as_deref(), Some("connection refused"));
        // Backoff state held across the restart: not due before its time.
        assert_eq!(
            log.due(T0 + 299).iter().map(|d| d.id).collect::<Vec<_>>(),
            [3]
        );
        assert_eq!(
            log.due(T0 + 300).iter().map(|d| d.id).collect::<Vec<_>>(),
            [3, 2]
        );
        assert_eq!(log.next_due_ms(), Some(T0));
        // Ids are never reused, even once everything is acknowledged.
        log.ack(2).unwrap();
        log.ack(3).unwrap();
        log.compact().unwrap();
        drop(log);
        let mut log = open(&path);
        assert!(log.is_empty());
        assert_eq!(log.add("n2", DeletionKind::Project(9)).unwrap().id, 4);
    }

    #[test]
    fn an_identical_pending_deletion_is_not_added_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&dir.path().join("p.log"));
        let first = log.add("n2", DeletionKind::Project(1)).unwrap();
        let again = log.add("n2", DeletionKind::Project(1)).unwrap();
        assert_eq!(first, again);
        let other = log.add("n3", DeletionKind::Project(1)).unwrap();
        assert_ne!(first.id, other.id);
        assert_eq!(log.len(), 2);
        let batch = log
            .add_all(
                vec![
                    ("n4".to_string(), DeletionKind::Project(1)),
                    ("n4".to_string(), DeletionKind::Project(1)),
                ],
                T0,
            )
            .unwrap();
        assert_eq!(batch[0], batch[1]);
        assert_eq!(log.len(), 3);
    }

    #[test]
    fn expedite_makes_a_peers_entries_due_now() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(&dir.path().join("p.log"));
        log.add_all(
            vec![
                ("n2".to_string(), DeletionKind::Project(1)),
                ("n3".to_string(), DeletionKind::Project(1)),
            ],
            T0,
        )
        .unwrap();
        log.fail(1, "down", T0).unwrap();
        log.fail(2, "down", T0).unwrap();
        assert!(log.due(T0).is_empty());
        assert_eq!(log.expedite("n2"), 1);
        assert_eq!(
            log.due(T0)
                .iter()
                .map(|d| d.target_peer.as_str())
                .collect::<Vec<_>>(),
            ["n2"]
        );
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.log");
        let mut log = open(&path);
        log.add("n2", DeletionKind::Project(1)).unwrap();
        log.add("n3", hashes(2, &["x"])).unwrap();
        let before = pending_set(&log);
        drop(log);
        let intact = std::fs::read(&path).unwrap();

        // A crash in the middle of appending an ack: half a line, no newline.
        let mut torn = intact.clone();
        torn.extend_from_slice(b"{\"ack\":{\"id");
        std::fs::write(&path, &torn).unwrap();
        let mut log = open(&path);
        assert_eq!(pending_set(&log), before);
        assert_eq!(std::fs::read(&path).unwrap(), intact, "torn bytes cut off");
        // Appending after the cut works and replays.
        assert!(log.ack(1).unwrap());
        drop(log);
        assert_eq!(open(&path).len(), 1);

        // Garbage with a newline as the last line is a torn write as well.
        let mut log = open(&path);
        let before = pending_set(&log);
        drop(log);
        let mut torn = std::fs::read(&path).unwrap();
        torn.extend_from_slice(b"{\"add\":\x00\x00\n");
        std::fs::write(&path, &torn).unwrap();
        log = open(&path);
        assert_eq!(pending_set(&log), before);
    }

    #[test]
    fn a_corrupt_line_in_the_middle_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.log");
        let mut log = open(&path);
        log.add("n2", DeletionKind::Project(1)).unwrap();
        log.add("n2", DeletionKind::Project(2)).unwrap();
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let broken = text.replacen("{\"add\"", "{\"bad\"", 1);
        std::fs::write(&path, broken).unwrap();
        let error = PendingDeletions::open(&path, backoff()).unwrap_err();
        assert!(
            matches!(error, PendingError::Corrupt { line: 1, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("line 1"), "{error}");
    }

    #[test]
    fn compaction_keeps_the_file_small_and_the_state_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.log");
        let mut log = open(&path);
        for project in 0..500 {
            let d = log.add("n2", DeletionKind::Project(project)).unwrap();
            log.fail(d.id, "down", T0).unwrap();
            if project % 10 != 0 {
                log.ack(d.id).unwrap();
            }
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 2 * log.len() + COMPACT_SLACK + 1, "{lines} lines");
        let before = pending_set(&log);
        assert_eq!(before.len(), 50);
        drop(log);
        assert_eq!(pending_set(&open(&path)), before);
        assert!(!temp_path(&path).exists());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, u64, bool),
        Ack(usize),
        Fail(usize, u64),
        Reopen,
        Compact,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..3, 0u64..6, any::<bool>()).prop_map(|(p, proj, h)| Op::Add(p, proj, h)),
            3 => any::<usize>().prop_map(Op::Ack),
            3 => (any::<usize>(), 0u64..10_000).prop_map(|(i, t)| Op::Fail(i, t)),
            1 => Just(Op::Reopen),
            1 => Just(Op::Compact),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any sequence of adds, acks and failures, reopened at any point
        /// (and at the end), gives exactly the pending set that was
        /// acknowledged to the caller, retry state included.
        #[test]
        fn reopening_gives_the_same_pending_set(ops in prop::collection::vec(op(), 1..80)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.log");
            let mut log = open(&path);
            let mut model: BTreeMap<u64, PendingDeletion> = BTreeMap::new();
            let mut max_id = 0;
            for op in ops {
                match op {
                    Op::Add(peer, project, with_hashes) => {
                        let kind = if with_hashes {
                            hashes(project, &["h1", "h2"])
                        } else {
                            DeletionKind::Project(project)
                        };
                        let d = log
                            .add_all(vec![(format!("n{peer}"), kind)], T0)
                            .unwrap()
                            .remove(0);
                        if let std::collections::btree_map::Entry::Vacant(slot) = model.entry(d.id) {
                            prop_assert!(d.id > max_id, "id {} reused", d.id);
                            max_id = d.id;
                            slot.insert(PendingDeletion {
                                deletion: d.clone(),
                                created_ms: T0,
                                attempts: 0,
                                next_attempt_ms: T0,
                                last_error: None,
                            });
                        }
                    }
                    Op::Ack(i) => {
                        let id = model.keys().nth(i % (model.len() + 1)).copied().unwrap_or(u64::MAX);
                        prop_assert_eq!(log.ack(id).unwrap(), model.remove(&id).is_some());
                    }
                    Op::Fail(i, dt) => {
                        let id = model.keys().nth(i % (model.len() + 1)).copied().unwrap_or(u64::MAX);
                        let next = log.fail(id, "e", T0 + dt).unwrap();
                        if let Some(entry) = model.get_mut(&id) {
                            entry.attempts += 1;
                            entry.next_attempt_ms =
                                T0 + dt + millis(backoff().delay(entry.attempts));
                            entry.last_error = Some("e".to_string());
                            prop_assert_eq!(next, Some(entry.next_attempt_ms));
                        } else {
                            prop_assert_eq!(next, None);
                        }
                    }
                    Op::Reopen => {
                        drop(log);
                        log = open(&path);
                    }
                    Op::Compact => log.compact().unwrap(),
                }
                let expected: Vec<PendingDeletion> = model.values().cloned().collect();
                prop_assert_eq!(pending_set(&log), expected);
            }
            drop(log);
            let expected: Vec<PendingDeletion> = model.values().cloned().collect();
            prop_assert_eq!(pending_set(&open(&path)), expected);
        }
    }
}
