//! The embedder pool's mechanics (batching, queue bound, timeouts, cache,
//! failure isolation, shutdown) against a scripted test embedder, plus one
//! run through the real model.

#![allow(clippy::unwrap_used)]

use crossbeam_channel::{Receiver, Sender};
use stackherd::embed::pool::{EmbedderPool, PoolError, PoolOptions};
use stackherd::embed::{EmbedError, TextEmbedder};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Texts containing this word block their batch until the gate opens.
const GATE: &str = "gate";
/// Texts containing this word make `embed_batch` fail for the whole batch.
const POISON: &str = "poison";
/// Texts containing this word make `embed_batch` panic.
const BOMB: &str = "bomb";

/// Deterministic: one token per whitespace-separated word plus two special
/// tokens; the vector is a unit vector derived from the text's bytes.
struct ScriptedEmbedder {
    calls: Mutex<Vec<Vec<String>>>,
    gate: Mutex<Option<Receiver<()>>>,
    batches_started: AtomicUsize,
}

impl ScriptedEmbedder {
    fn new() -> (Arc<ScriptedEmbedder>, Sender<()>) {
        let (open, gate) = crossbeam_channel::unbounded();
        let embedder = Arc::new(ScriptedEmbedder {
            calls: Mutex::new(Vec::new()),
            gate: Mutex::new(Some(gate)),
            batches_started: AtomicUsize::new(0),
        });
        (embedder, open)
    }

    fn vector(text: &str) -> Vec<f32> {
        let mut v = [1.0f32, 0.0, 0.0, 0.0];
        for (i, byte) in text.bytes().enumerate() {
            v[i % 4] += f32::from(byte) / 255.0;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until the worker has started `n` batches.
    fn wait_for_batches(&self, n: usize) {
        let start = Instant::now();
        while self.batches_started.load(Ordering::SeqCst) < n {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "worker never started batch {n}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl TextEmbedder for ScriptedEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.batches_started.fetch_add(1, Ordering::SeqCst);
        self.calls
            .lock()
            .unwrap()
            .push(texts.iter().map(|t| (*t).to_string()).collect());
        if texts.iter().any(|t| t.contains(GATE)) {
            let gate = self.gate.lock().unwrap().clone();
            if let Some(gate) = gate {
                let _ = gate.recv_timeout(Duration::from_secs(10));
            }
        }
        if texts.iter().any(|t| t.contains(BOMB)) {
            panic!("scripted panic");
        }
        if texts.iter().any(|t| t.contains(POISON)) {
            return Err(EmbedError::Tokenization("poisoned text".to_string()));
        }
        Ok(texts.iter().map(|t| ScriptedEmbedder::vector(t)).collect())
    }

    fn dimensions(&self) -> usize {
        4
    }

    fn count_tokens(&self, text: &str) -> Result<usize, EmbedError> {
        if text.contains("untokenizable") {
            return Err(EmbedError::Tokenization("cannot tokenize".to_string()));
        }
        Ok(text.split_whitespace().count() + 2)
    }

    fn model_id(&self) -> &str {
        "scripted"
    }
}

fn words(n: usize, tag: &str) -> String {
    (0..n)
        .map(|i| format!("{tag}{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn options() -> PoolOptions {
    PoolOptions {
        queue_capacity: 64,
        token_budget: 64,
        max_batch: 8,
        workers: 1,
        timeout: Duration::from_secs(10),
        cache_capacity: 0,
    }
}

/// Starts a pool whose worker is parked in a gated batch, so that what is
/// submitted next waits in the queue.
fn parked_pool(
    options: PoolOptions,
) -> (
    EmbedderPool,
    Arc<ScriptedEmbedder>,
    Sender<()>,
    stackherd::embed::pool::Pending,
) {
    let (embedder, open) = ScriptedEmbedder::new();
    let pool = EmbedderPool::start(embedder.clone(), options).unwrap();
    let parked = pool.submit(GATE).unwrap();
    embedder.wait_for_batches(1);
    (pool, embedder, open, parked)
}

#[test]
fn embeds_like_the_embedder_itself() {
    let (embedder, _open) = ScriptedEmbedder::new();
    let pool = EmbedderPool::start(embedder.clone(), options()).unwrap();
    let vector = pool.embed("KeyError: 'user_id' in app.views").unwrap();
    assert_eq!(
        vector,
        ScriptedEmbedder::vector("KeyError: 'user_id' in app.views")
    );
    let stats = pool.stats();
    assert_eq!(stats.counts.submitted, 1);
    assert_eq!(stats.counts.completed, 1);
    assert_eq!(stats.counts.batches, 1);
    assert_eq!(stats.latency.count(), 1);
}

#[test]
fn batches_respect_the_token_budget_sorted_by_length() {
    let (pool, embedder, open, parked) = parked_pool(options());
    let lengths = [30, 2, 14, 6, 2, 30, 6, 14, 1, 9, 20, 3];
    let texts: Vec<String> = lengths
        .iter()
        .enumerate()
        .map(|(i, n)| words(*n, &format!("t{i}w")))
        .collect();
    let pending: Vec<_> = texts
        .iter()
        .map(|t| pool.submit(t.as_str()).unwrap())
        .collect();
    open.send(()).unwrap();
    parked.wait().unwrap();
    for (text, p) in texts.iter().zip(pending) {
        assert_eq!(p.wait().unwrap(), ScriptedEmbedder::vector(text));
    }
    let calls = embedder.calls();
    let batches = &calls[1..];
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), texts.len());
    assert!(
        batches.len() < texts.len(),
        "texts were batched: {batches:?}"
    );
    for batch in batches {
        let tokens: Vec<usize> = batch
            .iter()
            .map(|t| t.split_whitespace().count() + 2)
            .collect();
        assert!(
            tokens.windows(2).all(|w| w[0] <= w[1]),
            "sorted by length: {tokens:?}"
        );
        let padded = tokens.len() * tokens.last().unwrap();
        assert!(
            padded <= 64 || tokens.len() == 1,
            "padded {padded} over budget: {tokens:?}"
        );
        assert!(batch.len() <= 8);
    }
    let stats = pool.stats();
    assert!(stats.padding_efficiency().unwrap() > 0.5, "{stats:?}");
    assert_eq!(stats.counts.batches as usize, calls.len());
}

#[test]
fn a_full_queue_is_overloaded_not_blocking() {
    let mut options = options();
    options.queue_capacity = 2;
    let (pool, _embedder, open, parked) = parked_pool(options);
    let a = pool.submit("a").unwrap();
    let b = pool.submit("b").unwrap();
    assert_eq!(pool.stats().queue_depth, 2);
    let started = Instant::now();
    assert!(matches!(pool.submit("c"), Err(PoolError::Overloaded)));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(pool.stats().counts.overloaded, 1);
    open.send(()).unwrap();
    parked.wait().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
    assert_eq!(pool.stats().queue_depth, 0);
}

#[test]
fn requests_expire_in_the_queue_and_waiters_give_up() {
    let mut options = options();
    options.timeout = Duration::from_millis(150);
    let (pool, embedder, open, parked) = parked_pool(options);
    let late = pool.submit("too late").unwrap();
    assert!(matches!(late.wait(), Err(PoolError::Timeout)));
    assert!(matches!(parked.wait(), Err(PoolError::Timeout)));
    open.send(()).unwrap();
    // The queued request is dropped unembedded once the worker reaches it.
    let fresh = pool.embed("fresh").unwrap();
    assert_eq!(fresh, ScriptedEmbedder::vector("fresh"));
    assert!(embedder.calls().iter().flatten().all(|t| t != "too late"));
    assert_eq!(pool.stats().counts.timeouts, 1);
}

#[test]
fn the_cache_answers_repeated_texts_and_evicts_lru() {
    let (embedder, _open) = ScriptedEmbedder::new();
    let mut options = options();
    options.cache_capacity = 2;
    let pool = EmbedderPool::start(embedder.clone(), options).unwrap();
    let first = pool.embed("one").unwrap();
    assert_eq!(pool.embed("one").unwrap(), first);
    pool.embed("two").unwrap();
    pool.embed("three").unwrap(); // evicts "one"
    pool.embed("one").unwrap();
    let stats = pool.stats();
    assert_eq!(stats.counts.cache_hits, 1);
    assert_eq!(stats.counts.cache_misses, 4);
    assert_eq!(stats.cache_len, 2);
    assert_eq!(embedder.calls().len(), 4);

    let (embedder, _open) = ScriptedEmbedder::new();
    let pool = EmbedderPool::start(embedder.clone(), self::options()).unwrap();
    pool.embed("one").unwrap();
    pool.embed("one").unwrap();
    assert_eq!(embedder.calls().len(), 2, "no cache at capacity 0");
}

#[test]
fn identical_texts_in_one_window_are_embedded_once() {
    let (pool, embedder, open, parked) = parked_pool(options());
    let pending: Vec<_> = (0..5).map(|_| pool.submit("same text").unwrap()).collect();
    open.send(()).unwrap();
    parked.wait().unwrap();
    for p in pending {
        assert_eq!(p.wait().unwrap(), ScriptedEmbedder::vector("same text"));
    }
    let seen = embedder
        .calls()
        .iter()
        .flatten()
        .filter(|t| *t == "same text")
        .count();
    assert_eq!(seen, 1);
    let stats = pool.stats();
    assert_eq!(stats.counts.deduplicated, 4);
    assert_eq!(stats.counts.completed, 6);
}

#[test]
fn a_bad_text_fails_alone() {
    let (pool, _embedder, open, parked) = parked_pool(options());
    let good = pool.submit("good one").unwrap();
    let bad = pool.submit("poison pill").unwrap();
    let unreadable = pool.submit("untokenizable").unwrap();
    let also_good = pool.submit("good two").unwrap();
    open.send(()).unwrap();
    parked.wait().unwrap();
    assert!(good.wait().is_ok());
    assert!(also_good.wait().is_ok());
    match bad.wait() {
        Err(PoolError::Embed(error)) => assert!(error.to_string().contains("poisoned")),
        other => panic!("expected an embed error, got {other:?}"),
    }
    assert!(matches!(unreadable.wait(), Err(PoolError::Embed(_))));
    assert_eq!(pool.stats().counts.failed, 2);
}

#[test]
fn a_panicking_embedder_fails_its_request_and_the_pool_lives_on() {
    let (embedder, _open) = ScriptedEmbedder::new();
    let pool = EmbedderPool::start(embedder, options()).unwrap();
    match pool.embed("bomb") {
        Err(PoolError::Internal(message)) => {
            assert!(message.contains("scripted panic"), "{message}");
        }
        other => panic!("expected an internal error, got {other:?}"),
    }
    assert!(pool.embed("after the explosion").is_ok());
}

#[test]
fn callbacks_are_called_exactly_once() {
    let (embedder, _open) = ScriptedEmbedder::new();
    let pool = EmbedderPool::start(embedder, options()).unwrap();
    let (sender, receiver) = crossbeam_channel::unbounded();
    for i in 0..10 {
        let sender = sender.clone();
        pool.submit_with(format!("text {i}"), move |result| {
            sender.send((i, result.is_ok())).unwrap();
        })
        .unwrap();
    }
    drop(sender);
    let mut answers: Vec<(i32, bool)> = receiver.iter().take(10).collect();
    answers.sort_unstable();
    assert_eq!(answers, (0..10).map(|i| (i, true)).collect::<Vec<_>>());
    assert!(receiver.recv_timeout(Duration::from_millis(50)).is_err());
}

#[test]
fn closing_answers_queued_requests_and_refuses_new_ones() {
    let (pool, _embedder, open, parked) = parked_pool(options());
    let queued = pool.submit("queued").unwrap();
    pool.close();
    assert!(matches!(pool.submit("new"), Err(PoolError::ShuttingDown)));
    open.send(()).unwrap();
    assert!(parked.wait().is_ok(), "the running batch completes");
    assert!(matches!(queued.wait(), Err(PoolError::ShuttingDown)));
    pool.shutdown();
}

#[test]
fn several_workers_share_the_queue() {
    let (embedder, _open) = ScriptedEmbedder::new();
    let mut options = options();
    options.workers = 3;
    let pool = Arc::new(EmbedderPool::start(embedder, options).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let text = format!("thread {t} text {i}");
                    assert_eq!(pool.embed(&text).unwrap(), ScriptedEmbedder::vector(&text));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(pool.stats().counts.completed, 100);
}

#[test]
fn invalid_options_are_named() {
    let (embedder, _open) = ScriptedEmbedder::new();
    for (change, name) in [
        (
            (|o: &mut PoolOptions| o.queue_capacity = 0) as fn(&mut PoolOptions),
            "queue_capacity",
        ),
        (|o| o.token_budget = 0, "token_budget"),
        (|o| o.max_batch = 0, "max_batch"),
        (|o| o.workers = 0, "workers"),
        (|o| o.timeout = Duration::ZERO, "timeout"),
    ] {
        let mut options = options();
        change(&mut options);
        match EmbedderPool::start(embedder.clone(), options) {
            Err(PoolError::InvalidOption { option, .. }) => assert_eq!(option, name),
            other => panic!("{name}: expected InvalidOption, got {other:?}"),
        }
    }
}

#[test]
fn the_real_model_through_the_pool() {
    use stackherd::embed::{Embedder, EmbedderOptions};
    let dir =
        stackherd::embed::provision::default_test_model_dir().expect("provision the test model");
    let embedder =
        Arc::new(Embedder::load(&dir, &EmbedderOptions::default()).expect("load all-MiniLM-L6-v2"));
    let pool = EmbedderPool::start(embedder.clone(), PoolOptions::default()).unwrap();
    let texts = [
        "ZeroDivisionError: division by zero\n  File \"app/views.py\", in divide\n    return a / b",
        "KeyError: 'user_id'\n  File \"app/models.py\", in get_user\n    return users[user_id]",
        "short",
    ];
    let pooled = pool.embed_many(&texts);
    let direct = embedder.embed_batch(&texts).expect("direct batch");
    for (pooled, direct) in pooled.into_iter().zip(direct) {
        let pooled = pooled.expect("pooled embedding");
        assert_eq!(pooled.len(), 384);
        let cosine: f32 = pooled.iter().zip(&direct).map(|(a, b)| a * b).sum();
        assert!(cosine > 0.9999, "pool and direct agree: {cosine}");
    }
}

/// Sleeps 10 ms per text and counts one token per text.
struct PerTextSleeper;

impl TextEmbedder for PerTextSleeper {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        std::thread::sleep(Duration::from_millis(10) * u32::try_from(texts.len()).unwrap());
        Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
    }
    fn dimensions(&self) -> usize {
        2
    }
    fn count_tokens(&self, _: &str) -> Result<usize, EmbedError> {
        Ok(1)
    }
    fn model_id(&self) -> &str {
        "per-text-sleeper"
    }
}

/// A burst the model cannot embed within the timeout must not form one
/// window that times out as a whole: after the pool has measured the
/// model's cost, it gathers only what fits before the deadlines, so part
/// of the burst is answered.
#[test]
fn a_burst_larger_than_the_deadline_allows_is_partly_answered() {
    let options = PoolOptions {
        queue_capacity: 1000,
        token_budget: 100_000,
        max_batch: 1000,
        workers: 1,
        timeout: Duration::from_secs(1),
        cache_capacity: 0,
    };
    let pool = EmbedderPool::start(Arc::new(PerTextSleeper), options).unwrap();
    pool.embed("warm-up: the pool learns the cost per token")
        .unwrap();
    let texts: Vec<String> = (0..300).map(|i| format!("text {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let results = pool.embed_many(&refs);
    let answered = results.iter().filter(|r| r.is_ok()).count();
    let timed_out = results
        .iter()
        .filter(|r| matches!(r, Err(PoolError::Timeout)))
        .count();
    // The first text may be taken alone before the rest is queued; the
    // next window must still be cut to what fits (about 80 texts here),
    // not gathered whole (300 texts, 3 s: every one would time out).
    assert!(
        answered >= 10,
        "only {answered} answered, {timed_out} timed out"
    );
    assert_eq!(answered + timed_out, 300);
}
