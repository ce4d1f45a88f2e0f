//! The pool's counters and their snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets; a last,
/// unbounded bucket follows. Chosen for Prometheus-style export.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Live counters, updated with relaxed atomics.
#[derive(Default)]
pub(crate) struct Counters {
    pub submitted: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub timeouts: AtomicU64,
    pub overloaded: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub batches: AtomicU64,
    pub batched_texts: AtomicU64,
    pub batched_tokens: AtomicU64,
    pub padded_tokens: AtomicU64,
    pub deduplicated: AtomicU64,
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    pub latency_sum_micros: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records one answered request's latency (submit to answer).
    pub(crate) fn record_latency(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        Counters::add(&self.latency_buckets[bucket], 1);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        Counters::add(&self.latency_sum_micros, micros);
    }

    pub(crate) fn snapshot(&self) -> (Counts, LatencyHistogram) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counts = Counts {
            submitted: load(&self.submitted),
            completed: load(&self.completed),
            failed: load(&self.failed),
            timeouts: load(&self.timeouts),
            overloaded: load(&self.overloaded),
            cache_hits: load(&self.cache_hits),
            cache_misses: load(&self.cache_misses),
            batches: load(&self.batches),
            batched_texts: load(&self.batched_texts),
            batched_tokens: load(&self.batched_tokens),
            padded_tokens: load(&self.padded_tokens),
            deduplicated: load(&self.deduplicated),
        };
        let histogram = LatencyHistogram {
            counts: self.latency_buckets.iter().map(load).collect(),
            sum: Duration::from_micros(load(&self.latency_sum_micros)),
        };
        (counts, histogram)
    }
}

/// Monotonic counters since the pool started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests accepted (cache hits included).
    pub submitted: u64,
    /// Requests answered with an embedding (cache hits included).
    pub completed: u64,
    /// Requests answered with an embedding error.
    pub failed: u64,
    /// Requests that expired in the queue before they were embedded.
    pub timeouts: u64,
    /// Requests refused because the queue was full.
    pub overloaded: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// `embed_batch` calls.
    pub batches: u64,
    /// Texts sent to the model (after deduplication).
    pub batched_texts: u64,
    /// Sum of the texts' token counts.
    pub batched_tokens: u64,
    /// Sum over batches of size × longest text: what the model computes.
    pub padded_tokens: u64,
    /// Requests answered by an identical text's embedding in the same batch.
    pub deduplicated: u64,
}

/// Request latency (submit to answer) for requests the model answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Count per bucket: `counts[i]` for latencies ≤ `LATENCY_BUCKETS[i]`
    /// (and above the previous bound); the last entry is above every bound.
    pub counts: Vec<u64>,
    pub sum: Duration,
}

impl LatencyHistogram {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1); `None`
    /// when empty or when it falls in the unbounded bucket.
    pub fn quantile_upper_bound(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return LATENCY_BUCKETS
                    .get(index)
                    .map(|&bound| Duration::from_secs_f64(bound));
            }
        }
        None
    }
}

/// A snapshot of a pool's state and counters.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolStats {
    /// Requests waiting in the queue now.
    pub queue_depth: usize,
    pub queue_capacity: usize,
    /// Entries in the embedding cache now.
    pub cache_len: usize,
    pub counts: Counts,
    pub latency: LatencyHistogram,
}

impl PoolStats {
    /// Real tokens over padded tokens (1.0 = no padding at all).
    pub fn padding_efficiency(&self) -> Option<f64> {
        (self.counts.padded_tokens > 0)
            .then(|| self.counts.batched_tokens as f64 / self.counts.padded_tokens as f64)
    }

    /// Mean texts per model call.
    pub fn mean_batch_size(&self) -> Option<f64> {
        (self.counts.batches > 0)
            .then(|| self.counts.batched_texts as f64 / self.counts.batches as f64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn histogram_buckets_and_quantiles() {
        let counters = Counters::default();
        for ms in [1u64, 3, 3, 3, 40, 40_000] {
            counters.record_latency(Duration::from_millis(ms));
        }
        let (_, histogram) = counters.snapshot();
        assert_eq!(histogram.count(), 6);
        assert_eq!(histogram.counts[0], 1);
        assert_eq!(histogram.counts[2], 3);
        assert_eq!(histogram.counts[5], 1);
        assert_eq!(histogram.counts[LATENCY_BUCKETS.len()], 1);
        assert_eq!(
            histogram.quantile_upper_bound(0.5),
            Some(Duration::from_millis(5))
        );
        assert_eq!(
            histogram.quantile_upper_bound(0.8),
            Some(Duration::from_millis(50))
        );
        assert_eq!(histogram.quantile_upper_bound(1.0), None);
        assert_eq!(
            LatencyHistogram {
                counts: vec![0; 15],
                sum: Duration::ZERO
            }
            .quantile_upper_bound(0.5),
            None
        );
    }
}
