//! `stackherd loadtest`: backfills a store with projects × issues from the
//! synthetic generator, then sends events concurrently at a target rate —
//! repeats of known issues (fingerprint cache hits) mixed with new errors
//! (AI misses) — in-process or to a running server, and reports throughput,
//! latency per path, degraded events, errors, CPU and memory.

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use stackherd::dataset::synth::{SynthOptions, generate};
use stackherd::dataset::{DatasetLine, EventSource};
use stackherd::event::{Event, event_from_value};
use stackherd::fingerprint::Fingerprinter;
use stackherd::settings::Settings;
use stackherd::store::{Joined, NewRecord, Store, StoreOptions};
use stackherd_actors::{GroupResult, GroupingMethod, Node};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Args)]
pub struct LoadtestArgs {
    /// `inprocess`, or the base URL of a running `stackherd serve`
    /// (events go to POST {url}/api/v1/projects/{id}/events).
    #[arg(long, default_value = "inprocess")]
    target: String,
    /// Projects backfilled.
    #[arg(long, default_value_t = 100)]
    projects: u64,
    /// Issues backfilled per project.
    #[arg(long, default_value_t = 100)]
    issues_per_project: usize,
    /// How backfilled issues get embeddings (in-process only): `synthetic`
    /// writes random unit vectors straight into the store (fast, realistic
    /// index sizes), `model` groups every backfill event through the engine.
    #[arg(long, default_value = "synthetic")]
    backfill: String,
    /// Events sent after the backfill.
    #[arg(long, default_value_t = 5000)]
    events: usize,
    /// Share of new errors (AI misses) among the events sent.
    #[arg(long, default_value_t = 0.1)]
    miss_ratio: f64,
    /// Target events per second across all senders; 0 sends as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Concurrent senders.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Store directory for in-process runs (default: a temporary one).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Admin token for the native API of a server (`server.admin_token`).
    #[arg(long, env = "STACKHERD_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct PathStats {
    count: usize,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    target: String,
    projects: u64,
    issues_backfilled: usize,
    backfill_seconds: f64,
    events: usize,
    seconds: f64,
    events_per_second: f64,
    paths: BTreeMap<String, PathStats>,
    degraded: BTreeMap<String, usize>,
    errors: usize,
    first_error: Option<String>,
    cpu_seconds: Option<f64>,
    /// The load generator's own memory (its events) before the engine started.
    rss_before_engine_mib: Option<f64>,
    rss_mib: Option<f64>,
    peak_rss_mib: Option<f64>,
}

/// Where events are sent.
enum Sink {
    InProcess(Arc<Node>),
    Http {
        base: String,
        agent: ureq::Agent,
        token: Option<String>,
    },
}

impl Sink {
    fn send(
        &self,
        runtime: &tokio::runtime::Runtime,
        project: u64,
        event: &Event,
    ) -> anyhow::Result<GroupResult> {
        match self {
            Sink::InProcess(node) => Ok(runtime.block_on(node.group(project, event))?),
            Sink::Http { base, agent, token } => {
                let url = format!("{base}/api/v1/projects/{project}/events");
                let body = serde_json::to_vec(event)?;
                let mut request = agent.post(&url).header("content-type", "application/json");
                if let Some(token) = token {
                    request = request.header("authorization", &format!("Bearer {token}"));
                }
                let mut response = request
                    .send(&body[..])
                    .with_context(|| format!("POST {url}"))?;
                let text = response.body_mut().read_to_string()?;
                Ok(serde_json::from_str(&text)
                    .with_context(|| format!("reading the answer of {url}"))?)
            }
        }
    }
}

pub fn run(args: &LoadtestArgs, settings: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.miss_ratio),
        "--miss-ratio must be within 0..=1"
    );
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let backfill_events =
        synth_events(args.projects, args.issues_per_project, args.seed, settings)?;
    let misses = synth_events(
        args.projects,
        args.events.div_ceil(args.projects.max(1) as usize).max(1),
        args.seed + 1000,
        settings,
    )?;
    let workload = mix(
        &backfill_events,
        &misses,
        args.events,
        args.miss_ratio,
        args.seed,
    );
    drop(misses);
    let _temp;
    let mut rss_before_engine = None;
    let started = Instant::now();
    let sink = if args.target == "inprocess" {
        let dir = match &args.data_dir {
            Some(dir) => dir.clone(),
            None => {
                _temp = tempfile::tempdir()?;
                _temp.path().to_path_buf()
            }
        };
        let mut settings = settings.clone();
        settings.storage.data_dir = dir;
        if args.backfill == "synthetic" {
            backfill_store(&settings, &backfill_events)?;
        }
        rss_before_engine = status_mib("VmRSS");
        let node = Arc::new(Node::start(settings)?);
        let sink = Sink::InProcess(Arc::clone(&node));
        if args.backfill == "model" {
            send_all(
                &sink,
                &backfill_events,
                args.concurrency,
                0.0,
                "backfill (model)",
            )?;
        }
        sink
    } else {
        let sink = Sink::Http {
            base: args.target.trim_end_matches('/').to_string(),
            agent: ureq::Agent::new_with_defaults(),
            token: args.token.clone(),
        };
        send_all(
            &sink,
            &backfill_events,
            args.concurrency,
            0.0,
            "backfill (http)",
        )?;
        sink
    };
    let backfill_seconds = started.elapsed().as_secs_f64();
    let backfilled = backfill_events.len();
    drop(backfill_events);
    let cpu_before = process_cpu_seconds();
    let begun = Instant::now();
    let outcomes = send_all(&sink, &workload, args.concurrency, args.rate, "load")?;
    let seconds = begun.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let mut report = summarize(
        args,
        &outcomes,
        backfilled,
        backfill_seconds,
        seconds,
        cpu,
        matches!(sink, Sink::InProcess(_)),
    );
    report.rss_before_engine_mib = rss_before_engine;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if let Sink::InProcess(node) = sink {
        if let Ok(node) = Arc::try_unwrap(node) {
            node.shutdown(Duration::from_secs(30))?;
        }
    }
    Ok(())
}

fn synth_events(
    projects: u64,
    issues_per_project: usize,
    seed: u64,
    settings: &Settings,
) -> anyhow::Result<Vec<(u64, Event)>> {
    let options = SynthOptions {
        projects,
        issues_per_project,
        events_per_issue: 1,
        size_skew: 0.0,
        seed,
        ..SynthOptions::default()
    };
    generate(&options)
        .into_iter()
        .map(|line: DatasetLine| match line.source {
            EventSource::Event(value) => Ok((
                line.project,
                event_from_value(value, &settings.event_limits())?,
            )),
            EventSource::Stacktrace { .. } => {
                anyhow::bail!("the generator wrote a stacktrace line")
            }
        })
        .collect()
}

/// Writes the backfill straight into the store: each event's fingerprints
/// cached as its own new issue, with a random unit embedding per issue.
fn backfill_store(settings: &Settings, events: &[(u64, Event)]) -> anyhow::Result<()> {
    let store = Store::open(
        &settings.storage.data_dir,
        StoreOptions::from_settings(settings),
    )?;
    let version = settings.grouping.default_model.clone();
    let dimensions = settings.model(&version)?.dimensions;
    let fingerprinter = Fingerprinter::default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let joined = Joined {
        method: "new".to_string(),
        matched_hash: None,
        distance: None,
        model: Some(version.clone()),
        reason: None,
        at: now,
    };
    let mut random = 0x853c_49e6_748f_ea9b_u64;
    let mut by_project: BTreeMap<u64, Vec<&Event>> = BTreeMap::new();
    for (project, event) in events {
        by_project.entry(*project).or_default().push(event);
    }
    let progress = ProgressBar::new(events.len() as u64).with_style(ProgressStyle::with_template(
        "{msg:>24} {bar:40} {pos}/{len} {per_sec}",
    )?);
    progress.set_message("backfill (synthetic)");
    for (project, events) in by_project {
        let groupings: Vec<_> = events
            .iter()
            .map(|event| fingerprinter.fingerprint(event))
            .collect();
        let vectors: Vec<Vec<f32>> = groupings
            .iter()
            .map(|_| random_unit(&mut random, dimensions))
            .collect();
        let records: Vec<NewRecord<'_>> = groupings
            .iter()
            .zip(&vectors)
            .map(|(grouping, vector)| NewRecord {
                hash: grouping.primary_hash(),
                error_type: None,
                embedding: vector,
            })
            .collect();
        store.insert_batch(&version, project, &records, None, now)?;
        let entries: Vec<(&str, &str)> = groupings
            .iter()
            .flat_map(|grouping| {
                let primary = grouping.primary_hash();
                grouping
                    .variants
                    .iter()
                    .filter_map(|v| v.hash.as_deref())
                    .map(move |hash| (hash, primary))
            })
            .collect();
        store.set_fingerprint_entries(project, &entries, &joined)?;
        progress.inc(events.len() as u64);
    }
    progress.finish_and_clear();
    store.close()?;
    Ok(())
}

fn random_unit(state: &mut u64, dimensions: usize) -> Vec<f32> {
    let mut next = || {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let vector: Vec<f32> = (0..dimensions).map(|_| next()).collect();
    let norm = vector
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    vector.into_iter().map(|v| v / norm).collect()
}

/// `count` events: repeats of backfilled issues, and new errors with
/// probability `miss_ratio`, in a seeded order.
fn mix(
    known: &[(u64, Event)],
    new: &[(u64, Event)],
    count: usize,
    miss_ratio: f64,
    seed: u64,
) -> Vec<(u64, Event)> {
    let mut state = seed ^ 0xA076_1D64_78BD_642F;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut new_iter = new.iter().cycle();
    (0..count)
        .filter_map(|_| {
            let roll = (next() % 10_000) as f64 / 10_000.0;
            if roll < miss_ratio {
                new_iter.next().cloned()
            } else {
                known
                    .get(usize::try_from(next() % known.len().max(1) as u64).unwrap_or(0))
                    .cloned()
            }
        })
        .collect()
}

struct Outcome {
    latency: Duration,
    result: Result<GroupResult, String>,
}

/// Sends every event from `concurrency` threads, paced to `rate` events/s.
fn send_all(
    sink: &Sink,
    events: &[(u64, Event)],
    concurrency: usize,
    rate: f64,
    name: &str,
) -> anyhow::Result<Vec<Outcome>> {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::with_capacity(events.len()));
    let progress = ProgressBar::new(events.len() as u64).with_style(ProgressStyle::with_template(
        "{msg:>24} {bar:40} {pos}/{len} {per_sec} eta {eta}",
    )?);
    progress.set_message(name.to_string());
    let start = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            workers.push(scope.spawn(|| -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((project, event)) = events.get(index) else {
                        return Ok(());
                    };
                    if rate > 0.0 {
                        let due = start + Duration::from_secs_f64(index as f64 / rate);
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                    let sent = Instant::now();
                    let result = sink
                        .send(&runtime, *project, event)
                        .map_err(|e| format!("{e:#}"));
                    let outcome = Outcome {
                        latency: sent.elapsed(),
                        result,
                    };
                    if let Ok(mut all) = outcomes.lock() {
                        all.push(outcome);
                    }
                    progress.inc(1);
                }
            }));
        }
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a sender thread panicked"))??;
        }
        Ok(())
    })?;
    progress.finish_and_clear();
    outcomes
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a sender thread panicked"))
}

fn path_of(method: &GroupingMethod) -> &'static str {
    match method {
        GroupingMethod::Fingerprint => "fingerprint_hit",
        GroupingMethod::Ai { .. } | GroupingMethod::New { .. } => "ai_miss",
        GroupingMethod::FingerprintOnly { .. } => "degraded",
    }
}

fn summarize(
    args: &LoadtestArgs,
    outcomes: &[Outcome],
    backfilled: usize,
    backfill_seconds: f64,
    seconds: f64,
    cpu: Option<f64>,
    in_process: bool,
) -> Report {
    let mut latencies: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut degraded: BTreeMap<String, usize> = BTreeMap::new();
    let (mut errors, mut first_error) = (0, None);
    for outcome in outcomes {
        match &outcome.result {
            Ok(result) => {
                latencies
                    .entry(path_of(&result.method).to_string())
                    .or_default()
                    .push(outcome.latency);
                latencies
                    .entry("all".to_string())
                    .or_default()
                    .push(outcome.latency);
                if let GroupingMethod::FingerprintOnly { reason } = &result.method {
                    *degraded.entry(reason.as_str().to_string()).or_default() += 1;
                }
            }
            Err(error) => {
                errors += 1;
                first_error.get_or_insert_with(|| error.clone());
            }
        }
    }
    let paths = latencies
        .into_iter()
        .map(|(path, mut values)| (path, percentiles(&mut values)))
        .collect();
    Report {
        target: args.target.clone(),
        projects: args.projects,
        issues_backfilled: backfilled,
        backfill_seconds,
        events: outcomes.len(),
        seconds,
        events_per_second: outcomes.len() as f64 / seconds.max(1e-9),
        paths,
        degraded,
        errors,
        first_error,
        cpu_seconds: cpu.filter(|_| in_process),
        rss_before_engine_mib: None,
        rss_mib: status_mib("VmRSS").filter(|_| in_process),
        peak_rss_mib: status_mib("VmHWM").filter(|_| in_process),
    }
}

fn percentiles(values: &mut [Duration]) -> PathStats {
    values.sort_unstable();
    let at = |q: f64| {
        let index = ((values.len() as f64 - 1.0) * q).round() as usize;
        values.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    PathStats {
        count: values.len(),
        p50_ms: at(0.50),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
    }
}

fn print_report(report: &Report) {
    println!(
        "target {}  backfill {} issues in {} projects ({:.1} s)",
        report.target, report.issues_backfilled, report.projects, report.backfill_seconds
    );
    println!(
        "{} events in {:.2} s: {:.0} events/s, {} errors",
        report.events, report.seconds, report.events_per_second, report.errors
    );
    println!(
        "{:<16} {:>8} {:>10} {:>10} {:>10}",
        "path", "count", "p50 ms", "p95 ms", "p99 ms"
    );
    for (path, stats) in &report.paths {
        println!(
            "{path:<16} {:>8} {:>10.3} {:>10.3} {:>10.3}",
            stats.count, stats.p50_ms, stats.p95_ms, stats.p99_ms
        );
    }
    if !report.degraded.is_empty() {
        println!("degraded: {:?}", report.degraded);
    }
    if let Some(error) = &report.first_error {
        println!("first error: {error}");
    }
    if let (Some(cpu), Some(rss), Some(peak)) =
        (report.cpu_seconds, report.rss_mib, report.peak_rss_mib)
    {
        println!(
            "cpu {cpu:.1} s ({:.2} ms per event), rss {rss:.0} MiB, peak {peak:.0} MiB",
            cpu * 1000.0 / report.events.max(1) as f64
        );
    }
}

fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
