//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4),
//! written by hand, and the middleware that counts, times and logs every
//! request (route pattern, method, status, duration — never a path, query,
//! header or body).

use super::error::ApiError;
use super::state::{AppState, NodeStatus};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use stackherd::embed::pool::{LATENCY_BUCKETS, PoolStats};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A latency histogram with [`LATENCY_BUCKETS`] (the embedder's buckets).
#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last entry is above every bound.
    counts: Vec<u64>,
    sum_seconds: f64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        if self.counts.is_empty() {
            self.counts = vec![0; LATENCY_BUCKETS.len() + 1];
        }
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum_seconds += seconds;
    }
}

/// Counters of the HTTP layer itself.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// (route pattern, method, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// route pattern → latency.
    durations: Mutex<BTreeMap<String, Histogram>>,
    /// SDK events grouped through `/api/{id}/envelope/` or `/store/`.
    pub sdk_events: AtomicU64,
    /// Envelope items that are not events (accepted, not grouped).
    pub sdk_items_ignored: AtomicU64,
    /// Requests refused by a rate limit.
    pub rate_limited: AtomicU64,
}

impl HttpMetrics {
    fn record(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        drop(requests);
        let mut durations = self
            .durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        durations
            .entry(route.to_string())
            .or_default()
            .observe(elapsed);
    }
}

/// Routes whose requests are neither rate-limited nor logged above debug.
fn is_operational(path: &str) -> bool {
    path == "/metrics" || path.starts_with("/health/")
}

/// Methods are a fixed set in the labels (a client may send any token).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

/// The middleware: global rate limit, then the request, then its count,
/// duration and one log line.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let started = Instant::now();
    let state = request
        .app_data::<web::Data<AppState>>()
        .map(|data| data.get_ref().clone());
    let method = method_label(request.method());
    let operational = is_operational(request.path());
    let limited = match (&state, operational) {
        (Some(state), false) => state.shared().limiter.check_global().err(),
        _ => None,
    };
    let was_limited = limited.is_some();
    let response = match limited {
        Some(error) => {
            if let Some(state) = &state {
                state
                    .shared()
                    .metrics
                    .rate_limited
                    .fetch_add(1, Ordering::Relaxed);
            }
            let (request, _) = request.into_parts();
            ServiceResponse::new(request, HttpResponse::from_error(error)).map_into_right_body()
        }
        None => next.call(request).await?.map_into_left_body(),
    };
    let elapsed = started.elapsed();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = response.status().as_u16();
    if let Some(state) = &state {
        if status == 429 && !was_limited {
            state
                .shared()
                .metrics
                .rate_limited
                .fetch_add(1, Ordering::Relaxed);
        }
        state
            .shared()
            .metrics
            .record(&route, method, status, elapsed);
    }
    let millis = elapsed.as_secs_f64() * 1000.0;
    if operational {
        tracing::debug!(target: "stackherd::http", method, route, status, ms = millis, "request");
    } else {
        tracing::info!(target: "stackherd::http", method, route, status, ms = millis, "request");
    }
    Ok(response)
}

/// `GET /metrics`.
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let state = state.get_ref().clone();
    // Store inspection (disk usage walks the data directory) is blocking.
    let text = web::block(move || render(&state))
        .await
        .map_err(|e| ApiError::Internal(format!("rendering metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// One metric family: `# HELP`, `# TYPE`, then samples.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let rendered: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
                .collect();
            let _ = write!(self.out, "{{{}}}", rendered.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// Cumulative `_bucket`s, `_sum` and `_count` of one labelled histogram.
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], counts: &[u64], sum_seconds: f64) {
        let mut cumulative = 0;
        for (index, count) in counts.iter().enumerate() {
            cumulative += count;
            let bound = LATENCY_BUCKETS
                .get(index)
                .map_or_else(|| "+Inf".to_string(), |b| format!("{b}"));
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &bound));
            self.sample(&format!("{name}_bucket"), &with_le, cumulative);
        }
        if counts.is_empty() {
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", "+Inf"));
            self.sample(&format!("{name}_bucket"), &with_le, 0);
        }
        self.sample(&format!("{name}_sum"), labels, sum_seconds);
        self.sample(&format!("{name}_count"), labels, cumulative);
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition.
pub fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(8192);
    let status = state.status();
    let ready = matches!(status, NodeStatus::Ready(_));
    Family::new(
        &mut out,
        "stackherd_up",
        "gauge",
        "1 once the engine is loaded and serving.",
    )
    .sample("stackherd_up", &[], u8::from(ready));
    Family::new(
        &mut out,
        "stackherd_uptime_seconds",
        "gauge",
        "Seconds since the HTTP service started.",
    )
    .sample(
        "stackherd_uptime_seconds",
        &[],
        state.shared().started.elapsed().as_secs_f64(),
    );
    if let NodeStatus::Ready(node) = status {
        render_engine(&mut out, &node);
    }
    render_http(&mut out, state);
    out
}

fn render_engine(out: &mut String, node: &crate::engine::Node) {
    let stats = node.stats();
    let mut family = Family::new(
        out,
        "stackherd_events_total",
        "counter",
        "Events grouped, by grouping method.",
    );
    for (method, count) in &stats.events {
        family.sample("stackherd_events_total", &[("method", method)], count);
    }
    Family::new(
        out,
        "stackherd_ai_merges_total",
        "counter",
        "New fingerprints merged into an existing issue by the AI path.",
    )
    .sample("stackherd_ai_merges_total", &[], stats.ai_merges());
    Family::new(
        out,
        "stackherd_new_issues_total",
        "counter",
        "Issues created (with or without the AI path).",
    )
    .sample("stackherd_new_issues_total", &[], stats.new_issues());
    let mut family = Family::new(
        out,
        "stackherd_degraded_events_total",
        "counter",
        "New fingerprints grouped without the AI path, by reason.",
    );
    for (reason, count) in &stats.degraded {
        family.sample(
            "stackherd_degraded_events_total",
            &[("reason", reason)],
            count,
        );
    }
    for (name, help, value) in [
        (
            "stackherd_similarity_requests_total",
            "Similarity API searches answered.",
            stats.similarity_requests,
        ),
        (
            "stackherd_similarity_inserts_total",
            "Embeddings stored by similarity API requests.",
            stats.similarity_inserts,
        ),
        (
            "stackherd_deleted_projects_total",
            "Project deletions.",
            stats.projects_deleted,
        ),
        (
            "stackherd_deleted_hashes_total",
            "Records deleted by hash.",
            stats.hashes_deleted,
        ),
        (
            "stackherd_retention_removed_total",
            "Records removed by the retention sweep.",
            stats.retention_removed,
        ),
    ] {
        Family::new(out, name, "counter", help).sample(name, &[], value);
    }
    render_embedders(out, &node.embedder_stats());
    render_store(out, node);
}

/// A metric read from each version's pool: name, help, value.
type PoolMetric = (&'static str, &'static str, fn(&PoolStats) -> u64);

fn render_embedders(out: &mut String, embedders: &BTreeMap<String, PoolStats>) {
    let mut family = Family::new(
        out,
        "stackherd_embed_latency_seconds",
        "histogram",
        "Embedding latency from submission to answer, by model version.",
    );
    for (version, stats) in embedders {
        let sum = stats.latency.sum.as_secs_f64();
        family.histogram(
            "stackherd_embed_latency_seconds",
            &[("version", version)],
            &stats.latency.counts,
            sum,
        );
    }
    let gauges: [PoolMetric; 3] = [
        (
            "stackherd_embedder_queue_depth",
            "Texts waiting for the embedder.",
            |s| as_u64(s.queue_depth),
        ),
        (
            "stackherd_embedder_queue_capacity",
            "Texts the embedder's queue holds.",
            |s| as_u64(s.queue_capacity),
        ),
        (
            "stackherd_embedder_cache_entries",
            "Embeddings in the in-memory LRU.",
            |s| as_u64(s.cache_len),
        ),
    ];
    for (name, help, value) in gauges {
        let mut family = Family::new(out, name, "gauge", help);
        for (version, stats) in embedders {
            family.sample(name, &[("version", version)], value(stats));
        }
    }
    let counters: [PoolMetric; 7] = [
        (
            "stackherd_embedder_requests_total",
            "Texts submitted (cache hits included).",
            |s| s.counts.submitted,
        ),
        (
            "stackherd_embedder_failures_total",
            "Texts answered with an embedding error.",
            |s| s.counts.failed,
        ),
        (
            "stackherd_embedder_timeouts_total",
            "Texts that expired in the queue.",
            |s| s.counts.timeouts,
        ),
        (
            "stackherd_embedder_overloaded_total",
            "Texts refused because the queue was full.",
            |s| s.counts.overloaded,
        ),
        (
            "stackherd_embedder_cache_hits_total",
            "Texts answered from the LRU.",
            |s| s.counts.cache_hits,
        ),
        (
            "stackherd_embedder_cache_misses_total",
            "Texts not in the LRU.",
            |s| s.counts.cache_misses,
        ),
        ("stackherd_embedder_batches_total", "Model calls.", |s| {
            s.counts.batches
        }),
    ];
    for (name, help, value) in counters {
        let mut family = Family::new(out, name, "counter", help);
        for (version, stats) in embedders {
            family.sample(name, &[("version", version)], value(stats));
        }
    }
}

fn render_store(out: &mut String, node: &crate::engine::Node) {
    let store = node.store();
    if let Ok(versions) = store.model_versions() {
        let mut family = Family::new(
            out,
            "stackherd_index_dimensions",
            "gauge",
            "Model versions with stored embeddings, and their dimensions.",
        );
        for (version, dimensions) in &versions {
            family.sample(
                "stackherd_index_dimensions",
                &[("version", version)],
                dimensions,
            );
        }
    }
    if let Ok(sizes) = store.index_sizes() {
        let mut family = Family::new(
            out,
            "stackherd_index_vectors",
            "gauge",
            "Embeddings in the vector indexes, per model version (all projects).",
        );
        for size in &sizes {
            family.sample(
                "stackherd_index_vectors",
                &[("version", &size.version)],
                size.vectors,
            );
        }
        let mut family = Family::new(
            out,
            "stackherd_index_staged_vectors",
            "gauge",
            "Acknowledged embeddings still waiting for the background indexer to add them to their project's graph (searched by exact scan meanwhile).",
        );
        for size in &sizes {
            family.sample(
                "stackherd_index_staged_vectors",
                &[("version", &size.version)],
                size.staged,
            );
        }
    }
    Family::new(
        out,
        "stackherd_store_records_at_open",
        "gauge",
        "Records found when the store was opened.",
    )
    .sample(
        "stackherd_store_records_at_open",
        &[],
        store.open_report().records,
    );
    if let Ok(bytes) = store.disk_usage() {
        Family::new(
            out,
            "stackherd_store_disk_bytes",
            "gauge",
            "Bytes the store uses on disk.",
        )
        .sample("stackherd_store_disk_bytes", &[], bytes);
    }
}

fn render_http(out: &mut String, state: &AppState) {
    let metrics = &state.shared().metrics;
    {
        let requests = metrics
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut family = Family::new(
            out,
            "stackherd_http_requests_total",
            "counter",
            "HTTP requests by route, method and status.",
        );
        for ((route, method, status), count) in requests.iter() {
            let status = status.to_string();
            family.sample(
                "stackherd_http_requests_total",
                &[("route", route), ("method", method), ("status", &status)],
                count,
            );
        }
    }
    {
        let durations = metrics
            .durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut family = Family::new(
            out,
            "stackherd_http_request_duration_seconds",
            "histogram",
            "HTTP request duration by route.",
        );
        for (route, histogram) in durations.iter() {
            family.histogram(
                "stackherd_http_request_duration_seconds",
                &[("route", route)],
                &histogram.counts,
                histogram.sum_seconds,
            );
        }
    }
    for (name, help, counter) in [
        (
            "stackherd_sdk_events_total",
            "Events received from Sentry SDKs and grouped.",
            &metrics.sdk_events,
        ),
        (
            "stackherd_sdk_items_ignored_total",
            "Envelope items that are not events (accepted, not grouped).",
            &metrics.sdk_items_ignored,
        ),
        (
            "stackherd_http_rate_limited_total",
            "Requests refused by a rate limit.",
            &metrics.rate_limited,
        ),
    ] {
        Family::new(out, name, "counter", help).sample(name, &[], counter.load(Ordering::Relaxed));
    }
    let projects = state.keys().counts();
    Family::new(
        out,
        "stackherd_sdk_projects",
        "gauge",
        "Projects with at least one DSN key.",
    )
    .sample("stackherd_sdk_projects", &[], projects.len());
}

fn as_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_with_inf() {
        let mut out = String::new();
        let mut histogram = Histogram::default();
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_secs(60));
        Family::new(&mut out, "x_seconds", "histogram", "help").histogram(
            "x_seconds",
            &[("route", "/a")],
            &histogram.counts,
            histogram.sum_seconds,
        );
        assert!(
            out.contains("x_seconds_bucket{route=\"/a\",le=\"0.001\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{route=\"/a\",le=\"30\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count{route=\"/a\"} 2\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
