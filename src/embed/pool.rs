//! The embedder pool: a bounded queue in front of a [`TextEmbedder`], worked
//! by dedicated threads that batch requests by a token budget.
//!
//! - **Bounded queue.** [`EmbedderPool::submit`] never blocks: a full queue is
//!   answered at once with [`PoolError::Overloaded`].
//! - **Token-budget batching.** A worker takes what is queued (up to
//!   `max_batch` texts and about `token_budget` tokens), sorts it by token
//!   count and cuts it into batches whose *padded* size — texts × longest text
//!   — stays within `token_budget`, so texts of similar length run together
//!   and little compute goes to padding. Identical texts in one window are
//!   embedded once.
//! - **Per-request timeout.** Each request has a deadline (`timeout` after
//!   submission); one still queued at its deadline is answered with
//!   [`PoolError::Timeout`] without being embedded, and a waiter gives up at
//!   the deadline. A worker learns the model's time per padded token and
//!   gathers no more than fits before the earliest deadline of the window:
//!   without that, a burst larger than the model can embed within the
//!   timeout formed one batch that timed out as a whole (measured: 399 of
//!   400 requests from 16 senders on 2 cores, where ~10 fit per second).
//! - **Cache.** Embeddings are kept in an LRU keyed by the text's sha256
//!   (truncated to 128 bits); a hit is answered on the caller's thread.
//! - **Counters.** [`EmbedderPool::stats`] snapshots queue depth, batch and
//!   cache counters and a latency histogram.
//!
//! The work is CPU-bound, so it runs on std threads; async callers use
//! [`EmbedderPool::submit_with`] (a callback, e.g. completing a oneshot) or
//! poll the [`Pending`] receiver.

mod lru;
pub mod stats;

pub use stats::{Counts, LATENCY_BUCKETS, LatencyHistogram, PoolStats};

use super::{EmbedError, TextEmbedder};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use lru::Lru;
use sha2::{Digest, Sha256};
use stats::Counters;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How a pool queues, batches and caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Requests that may wait; more are refused with `Overloaded`.
    pub queue_capacity: usize,
    /// Padded tokens (texts × longest text) per model call.
    pub token_budget: usize,
    /// Texts per model call at most.
    pub max_batch: usize,
    /// Worker threads, each running one model call at a time.
    pub workers: usize,
    /// From submission to answer, per request.
    pub timeout: Duration,
    /// Embeddings kept in the LRU cache; 0 disables it.
    pub cache_capacity: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            queue_capacity: 1024,
            token_budget: 8192,
            max_batch: 64,
            workers: 1,
            timeout: Duration::from_secs(10),
            cache_capacity: 10_000,
        }
    }
}

impl PoolOptions {
    fn validate(&self) -> Result<(), PoolError> {
        let positive = [
            ("queue_capacity", self.queue_capacity),
            ("token_budget", self.token_budget),
            ("max_batch", self.max_batch),
            ("workers", self.workers),
        ];
        for (option, value) in positive {
            if value == 0 {
                return Err(PoolError::InvalidOption {
                    option,
                    message: "must be greater than 0".to_string(),
                });
            }
        }
        if self.timeout.is_zero() {
            return Err(PoolError::InvalidOption {
                option: "timeout",
                message: "must be longer than 0".to_string(),
            });
        }
        Ok(())
    }
}

/// Why a request got no embedding.
#[derive(Debug, Clone, Error)]
pub enum PoolError {
    /// The queue is full; retry later or go without the embedding.
    #[error("the embedder is overloaded (queue full)")]
    Overloaded,
    /// No answer within the request's timeout.
    #[error("no embedding within the timeout")]
    Timeout,
    /// The model failed on this text.
    #[error("embedding failed: {0}")]
    Embed(#[source] Arc<EmbedError>),
    /// The pool is closing or closed.
    #[error("the embedder pool is shutting down")]
    ShuttingDown,
    /// The embedder broke its contract (panicked, or returned the wrong
    /// number of vectors).
    #[error("embedder failure: {0}")]
    Internal(String),
    /// A [`PoolOptions`] value is unusable.
    #[error("invalid pool option `{option}`: {message}")]
    InvalidOption {
        option: &'static str,
        message: String,
    },
}

/// The result a request is answered with.
pub type EmbedResult = Result<Vec<f32>, PoolError>;

type Reply = Box<dyn FnOnce(EmbedResult) + Send + 'static>;

struct Job {
    text: String,
    key: u128,
    submitted: Instant,
    deadline: Instant,
    reply: Reply,
}

/// A job whose token count is known.
struct Sized {
    job: Job,
    tokens: usize,
}

struct Shared {
    embedder: Arc<dyn TextEmbedder>,
    options: PoolOptions,
    counters: Counters,
    cache: Mutex<Lru>,
    closing: AtomicBool,
    /// Measured model time per padded token, in nanoseconds (a moving
    /// average; 0 until the first batch), so a window is never gathered
    /// larger than its requests' deadlines allow.
    nanos_per_token: AtomicU64,
}

/// See the [module documentation](self).
pub struct EmbedderPool {
    shared: Arc<Shared>,
    jobs: Sender<Job>,
    close: Mutex<Option<Sender<()>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for EmbedderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedderPool")
            .field("model_id", &self.shared.embedder.model_id())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// A submitted request's answer, to wait for or poll.
#[derive(Debug)]
pub struct Pending {
    receiver: Receiver<EmbedResult>,
    deadline: Instant,
}

impl Pending {
    /// Blocks until the answer or the request's deadline.
    pub fn wait(self) -> EmbedResult {
        match self.receiver.recv_deadline(self.deadline) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(PoolError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(PoolError::ShuttingDown),
        }
    }

    /// The answer if it has arrived; `Some(Err(Timeout))` past the deadline.
    pub fn try_result(&self) -> Option<EmbedResult> {
        match self.receiver.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) if Instant::now() >= self.deadline => {
                Some(Err(PoolError::Timeout))
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(PoolError::ShuttingDown)),
        }
    }

    /// The channel the answer arrives on (for `select!`).
    pub fn receiver(&self) -> &Receiver<EmbedResult> {
        &self.receiver
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// The cache key of a text: its sha256, truncated to 128 bits.
pub fn text_key(text: &str) -> u128 {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(bytes)
}

impl EmbedderPool {
    /// Starts `options.workers` threads serving `embedder`.
    pub fn start(
        embedder: Arc<dyn TextEmbedder>,
        options: PoolOptions,
    ) -> Result<EmbedderPool, PoolError> {
        options.validate()?;
        let (jobs, job_receiver) = crossbeam_channel::bounded(options.queue_capacity);
        let (close, close_receiver) = crossbeam_channel::bounded::<()>(0);
        let shared = Arc::new(Shared {
            cache: Mutex::new(Lru::new(options.cache_capacity)),
            embedder,
            options,
            counters: Counters::default(),
            closing: AtomicBool::new(false),
            nanos_per_token: AtomicU64::new(0),
        });
        let pool = EmbedderPool {
            shared: Arc::clone(&shared),
            jobs,
            close: Mutex::new(Some(close)),
            workers: Mutex::new(Vec::new()),
        };
        for index in 0..shared.options.workers {
            let worker = Worker {
                shared: Arc::clone(&shared),
                jobs: job_receiver.clone(),
                close: close_receiver.clone(),
                carry: None,
            };
            let handle = std::thread::Builder::new()
                .name(format!("embedder-{index}"))
                .spawn(move || worker.run())
                .map_err(|e| PoolError::Internal(format!("cannot start a worker thread: {e}")))?;
            lock(&pool.workers).push(handle);
        }
        Ok(pool)
    }

    /// Queues `text`; `reply` is called exactly once with the answer, on a
    /// worker thread (or on this thread for a cache hit). When this returns
    /// an error (`Overloaded`, `ShuttingDown`), `reply` is dropped uncalled.
    pub fn submit_with<F>(&self, text: impl Into<String>, reply: F) -> Result<(), PoolError>
    where
        F: FnOnce(EmbedResult) + Send + 'static,
    {
        let counters = &self.shared.counters;
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(PoolError::ShuttingDown);
        }
        let text = text.into();
        let key = text_key(&text);
        if self.shared.options.cache_capacity > 0 {
            let hit = lock(&self.shared.cache).get(key).map(<[f32]>::to_vec);
            if let Some(vector) = hit {
                Counters::add(&counters.submitted, 1);
                Counters::add(&counters.cache_hits, 1);
                Counters::add(&counters.completed, 1);
                reply(Ok(vector));
                return Ok(());
            }
            Counters::add(&counters.cache_misses, 1);
        }
        let submitted = Instant::now();
        let job = Job {
            text,
            key,
            submitted,
            deadline: submitted + self.shared.options.timeout,
            reply: Box::new(reply),
        };
        match self.jobs.try_send(job) {
            Ok(()) => {
                Counters::add(&counters.submitted, 1);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                Counters::add(&counters.overloaded, 1);
                Err(PoolError::Overloaded)
            }
            Err(TrySendError::Disconnected(_)) => Err(PoolError::ShuttingDown),
        }
    }

    /// Queues `text` and returns a handle to its answer.
    pub fn submit(&self, text: impl Into<String>) -> Result<Pending, PoolError> {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        let deadline = Instant::now() + self.shared.options.timeout;
        self.submit_with(text, move |result| {
            // The waiter may have given up; then nobody needs the answer.
            let _ = sender.send(result);
        })?;
        Ok(Pending { receiver, deadline })
    }

    /// Embeds one text, blocking until the answer or the timeout.
    pub fn embed(&self, text: &str) -> EmbedResult {
        self.submit(text)?.wait()
    }

    /// Submits every text, then waits for all; one result per text, in order.
    pub fn embed_many(&self, texts: &[&str]) -> Vec<EmbedResult> {
        let pending: Vec<Result<Pending, PoolError>> =
            texts.iter().map(|text| self.submit(*text)).collect();
        pending
            .into_iter()
            .map(|p| p.and_then(Pending::wait))
            .collect()
    }

    /// A snapshot of the queue and the counters.
    pub fn stats(&self) -> PoolStats {
        let (counts, latency) = self.shared.counters.snapshot();
        PoolStats {
            queue_depth: self.jobs.len(),
            queue_capacity: self.shared.options.queue_capacity,
            cache_len: lock(&self.shared.cache).len(),
            counts,
            latency,
        }
    }

    pub fn options(&self) -> &PoolOptions {
        &self.shared.options
    }

    pub fn embedder(&self) -> &Arc<dyn TextEmbedder> {
        &self.shared.embedder
    }

    /// Stops accepting requests; queued ones are answered `ShuttingDown`,
    /// a batch already running completes. Returns at once.
    pub fn close(&self) {
        self.shared.closing.store(true, Ordering::Release);
        lock(&self.close).take();
    }

    /// Closes and waits for the workers to finish their current batch.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for EmbedderPool {
    fn drop(&mut self) {
        self.close();
        let handles: Vec<JoinHandle<()>> = lock(&self.workers).drain(..).collect();
        for handle in handles {
            // A worker that panicked has nothing left to clean up.
            let _ = handle.join();
        }
    }
}

/// Whether `padded` tokens at `nanos_per_token` finish before `deadline`,
/// with a quarter to spare for the cost's variation (always true while the
/// cost is not measured yet).
fn fits_before(padded: usize, nanos_per_token: u64, deadline: Instant) -> bool {
    if nanos_per_token == 0 {
        return true;
    }
    let expected = u64::try_from(padded)
        .unwrap_or(u64::MAX)
        .saturating_mul(nanos_per_token)
        .saturating_mul(5)
        / 4;
    let remaining = deadline.saturating_duration_since(Instant::now());
    u128::from(expected) <= remaining.as_nanos()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Worker {
    shared: Arc<Shared>,
    jobs: Receiver<Job>,
    close: Receiver<()>,
    /// A job taken from the queue that did not fit the last window.
    carry: Option<Sized>,
}

/// Texts with the same key in one window: the first is embedded, the others
/// get its answer.
struct Group {
    leader: Sized,
    followers: Vec<Job>,
}

impl Worker {
    fn run(mut self) {
        loop {
            let first = match self.carry.take() {
                Some(sized) => sized,
                None => {
                    let job = crossbeam_channel::select! {
                        recv(self.jobs) -> job => match job {
                            Ok(job) => job,
                            Err(_) => break,
                        },
                        recv(self.close) -> _ => break,
                    };
                    match self.size(job) {
                        Some(sized) => sized,
                        None => continue,
                    }
                }
            };
            let window = self.gather(first);
            if self.shared.closing.load(Ordering::Acquire) {
                for sized in window {
                    answer(sized.job, Err(PoolError::ShuttingDown));
                }
                break;
            }
            self.process(window);
        }
        if let Some(sized) = self.carry.take() {
            answer(sized.job, Err(PoolError::ShuttingDown));
        }
        while let Ok(job) = self.jobs.try_recv() {
            answer(job, Err(PoolError::ShuttingDown));
        }
    }

    /// Answers an expired job (`None`), or counts its tokens.
    fn size(&self, job: Job) -> Option<Sized> {
        let counters = &self.shared.counters;
        if Instant::now() >= job.deadline {
            Counters::add(&counters.timeouts, 1);
            answer(job, Err(PoolError::Timeout));
            return None;
        }
        match self.shared.embedder.count_tokens(&job.text) {
            Ok(tokens) => Some(Sized {
                job,
                tokens: tokens.clamp(1, self.shared.options.token_budget),
            }),
            Err(error) => {
                Counters::add(&counters.failed, 1);
                answer(job, Err(PoolError::Embed(Arc::new(error))));
                None
            }
        }
    }

    /// `first` plus whatever is queued, up to `max_batch` texts and about
    /// `token_budget` tokens, and no more than the model can embed before
    /// the window's earliest deadline (at the measured cost per token):
    /// one window too large for its deadlines would time out every request
    /// in it. The job that overflows is carried over.
    fn gather(&mut self, first: Sized) -> Vec<Sized> {
        let options = &self.shared.options;
        let cost = self.shared.nanos_per_token.load(Ordering::Relaxed);
        let mut tokens = first.tokens;
        let mut longest = first.tokens;
        let mut earliest = first.job.deadline;
        let mut window = vec![first];
        while window.len() < options.max_batch && tokens < options.token_budget {
            let Ok(job) = self.jobs.try_recv() else {
                break;
            };
            let Some(sized) = self.size(job) else {
                continue;
            };
            let padded = (window.len() + 1) * longest.max(sized.tokens);
            let deadline = earliest.min(sized.job.deadline);
            if tokens + sized.tokens > options.token_budget || !fits_before(padded, cost, deadline)
            {
                self.carry = Some(sized);
                break;
            }
            tokens += sized.tokens;
            longest = longest.max(sized.tokens);
            earliest = deadline;
            window.push(sized);
        }
        window
    }

    fn process(&self, window: Vec<Sized>) {
        let mut groups: Vec<Group> = Vec::with_capacity(window.len());
        let mut by_key: HashMap<u128, usize> = HashMap::with_capacity(window.len());
        for sized in window {
            if let Some(&index) = by_key.get(&sized.job.key) {
                groups[index].followers.push(sized.job);
            } else {
                by_key.insert(sized.job.key, groups.len());
                groups.push(Group {
                    leader: sized,
                    followers: Vec::new(),
                });
            }
        }
        // An identical text may have been embedded since it was submitted.
        if self.shared.options.cache_capacity > 0 {
            let mut hits = Vec::new();
            let mut misses = Vec::with_capacity(groups.len());
            {
                let mut cache = lock(&self.shared.cache);
                for group in groups {
                    match cache.get(group.leader.job.key).map(<[f32]>::to_vec) {
                        Some(vector) => hits.push((group, vector)),
                        None => misses.push(group),
                    }
                }
            }
            for (group, vector) in hits {
                self.complete(group, &Ok(vector));
            }
            groups = misses;
        }
        groups.sort_by_key(|group| group.leader.tokens);
        let options = &self.shared.options;
        let mut batch: Vec<Group> = Vec::new();
        for group in groups {
            let padded = (batch.len() + 1) * group.leader.tokens;
            if !batch.is_empty()
                && (padded > options.token_budget || batch.len() == options.max_batch)
            {
                self.run_batch(std::mem::take(&mut batch));
            }
            batch.push(group);
        }
        if !batch.is_empty() {
            self.run_batch(batch);
        }
    }

    /// Embeds one batch (sorted by tokens) and answers its requests. A failed
    /// batch of several texts is retried one text at a time, so one bad text
    /// fails alone.
    fn run_batch(&self, batch: Vec<Group>) {
        let counters = &self.shared.counters;
        let now = Instant::now();
        let (live, expired): (Vec<Group>, Vec<Group>) =
            batch.into_iter().partition(|g| g.leader.job.deadline > now);
        for group in expired {
            let requests = 1 + group.followers.len() as u64;
            Counters::add(&counters.timeouts, requests);
            self.complete(group, &Err(PoolError::Timeout));
        }
        if live.is_empty() {
            return;
        }
        let longest = live.last().map_or(0, |g| g.leader.tokens);
        Counters::add(&counters.batches, 1);
        Counters::add(&counters.batched_texts, live.len() as u64);
        Counters::add(
            &counters.batched_tokens,
            live.iter().map(|g| g.leader.tokens as u64).sum(),
        );
        Counters::add(&counters.padded_tokens, (live.len() * longest) as u64);
        let texts: Vec<&str> = live.iter().map(|g| g.leader.job.text.as_str()).collect();
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.shared.embedder.embed_batch(&texts)
        }));
        if matches!(outcome, Ok(Ok(_))) {
            self.learn_cost(started.elapsed(), live.len() * longest);
        }
        match outcome {
            Ok(Ok(vectors)) if vectors.len() == live.len() => {
                let mut cache =
                    (self.shared.options.cache_capacity > 0).then(|| lock(&self.shared.cache));
                let mut answered = Vec::with_capacity(live.len());
                for (group, vector) in live.into_iter().zip(vectors) {
                    if let Some(cache) = cache.as_mut() {
                        cache.insert(group.leader.job.key, vector.clone());
                    }
                    answered.push((group, vector));
                }
                drop(cache);
                for (group, vector) in answered {
                    self.complete(group, &Ok(vector));
                }
            }
            _ if live.len() > 1 => {
                for group in live {
                    self.run_batch(vec![group]);
                }
            }
            Ok(Ok(vectors)) => {
                let message = format!("returned {} vectors for 1 text", vectors.len());
                self.fail_all(live, &PoolError::Internal(message));
            }
            Ok(Err(error)) => self.fail_all(live, &PoolError::Embed(Arc::new(error))),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                self.fail_all(
                    live,
                    &PoolError::Internal(format!("the embedder panicked: {message}")),
                );
            }
        }
    }

    /// Folds one batch's time per padded token into the moving average.
    fn learn_cost(&self, elapsed: Duration, padded_tokens: usize) {
        let tokens = u64::try_from(padded_tokens.max(1)).unwrap_or(u64::MAX);
        let sample = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX) / tokens;
        let average = &self.shared.nanos_per_token;
        let old = average.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 3 + sample) / 4
        };
        average.store(new.max(1), Ordering::Relaxed);
    }

    fn fail_all(&self, groups: Vec<Group>, error: &PoolError) {
        for group in groups {
            let requests = 1 + group.followers.len() as u64;
            Counters::add(&self.shared.counters.failed, requests);
            self.complete(group, &Err(error.clone()));
        }
    }

    /// Answers a group's requests; successes count as completed and their
    /// latency is recorded.
    fn complete(&self, group: Group, result: &EmbedResult) {
        let counters = &self.shared.counters;
        let now = Instant::now();
        let followers = group.followers.len() as u64;
        if result.is_ok() {
            Counters::add(&counters.completed, 1 + followers);
            Counters::add(&counters.deduplicated, followers);
        }
        for job in group.followers {
            if result.is_ok() {
                counters.record_latency(now.saturating_duration_since(job.submitted));
            }
            answer(job, result.clone());
        }
        if result.is_ok() {
            counters.record_latency(now.saturating_duration_since(group.leader.job.submitted));
        }
        answer(group.leader.job, result.clone());
    }
}

fn answer(job: Job, result: EmbedResult) {
    (job.reply)(result);
}
