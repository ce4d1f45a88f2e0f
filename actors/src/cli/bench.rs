//! `stackherd bench embed`: embeddings per second and p50/p99 latency of the
//! candle embedder at several input lengths, one text per call (batch 1) and
//! through the pool's token-budget batching, optionally side by side with
//! onnxruntime running the same model on the same texts and thread count
//! (`benches/embed/onnx_bench.py`, driven by `benches/embed/compare.sh`).
//!
//! Batch 1: `requests` texts, embedded one after another; latency is the call.
//! Pool: `burst` texts submitted at once to an [`EmbedderPool`] (cache off);
//! latency is submit → answer, throughput is texts over the whole burst. The
//! onnxruntime side runs the same burst in batches of the size the pool forms
//! (`min(max_batch, token_budget / tokens)`), latency measured from the burst
//! start to the end of each text's batch. Lengths are interleaved (candle,
//! then onnxruntime, per length) so that a change of load on the machine
//! hits both sides alike; CPU time per embedding (all threads) is reported
//! beside the wall-clock figures because it is robust to such load.

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use stackherd::embed::pool::{EmbedderPool, PoolOptions};
use stackherd::embed::{Embedder, EmbedderOptions, TextEmbedder, provision};
use stackherd::settings::{Dtype, Settings};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The variable candle (and rayon) read for their thread count.
const THREADS_ENV: &str = "RAYON_NUM_THREADS";

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Embedding throughput and latency (candle; optionally vs onnxruntime).
    Embed(EmbedBenchArgs),
}

#[derive(Debug, Args)]
struct EmbedBenchArgs {
    /// Compute threads for candle (and onnxruntime's intra-op pool).
    #[arg(long)]
    threads: Option<usize>,
    /// Input lengths in tokens (special tokens included).
    #[arg(long, value_delimiter = ',', default_value = "64,256,512")]
    tokens: Vec<usize>,
    /// Batch-1 calls measured per length.
    #[arg(long, default_value_t = 24)]
    requests: usize,
    /// Texts submitted at once to the pool per length.
    #[arg(long, default_value_t = 64)]
    burst: usize,
    /// The pool's padded-token budget per batch.
    #[arg(long, default_value_t = 8192)]
    token_budget: usize,
    /// The pool's largest batch.
    #[arg(long, default_value_t = 32)]
    max_batch: usize,
    /// Untimed calls before each measurement.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Model directory; default: the configured version, provisioned.
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Model version whose source is provisioned when --model-dir is absent.
    #[arg(long, default_value = "v1")]
    model: String,
    /// onnxruntime side: the driver script (benches/embed/onnx_bench.py).
    #[arg(long, requires = "onnx_model")]
    onnx_script: Option<PathBuf>,
    /// onnxruntime side: the .onnx file of the same model.
    #[arg(long, requires = "onnx_script")]
    onnx_model: Option<PathBuf>,
    /// Python interpreter for the onnxruntime side.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Also write all results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: &BenchArgs, settings: &Settings) -> anyhow::Result<()> {
    match &args.command {
        BenchCommand::Embed(embed) => embed_bench(embed, settings),
    }
}

/// Throughput and latency of one measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Measurement {
    embeddings_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: usize,
    #[serde(default)]
    mean_batch: f64,
    /// Process CPU time (all threads) per embedding: robust to other load
    /// on the machine, and it counts spinning worker threads.
    #[serde(default)]
    cpu_ms_per_embedding: f64,
}

/// Texts for one length, shared with the onnxruntime side.
#[derive(Debug, Serialize)]
struct LengthCase {
    tokens: usize,
    mean_tokens: f64,
    batch1: Vec<String>,
    burst: Vec<String>,
    /// Batch size the pool forms for this length.
    batch_size: usize,
    warmup: usize,
}

#[derive(Debug, Default, Deserialize)]
struct OnnxReport {
    rss_before_mib: f64,
    rss_after_load_mib: f64,
    rss_peak_mib: f64,
    onnxruntime_version: String,
    results: BTreeMap<String, BTreeMap<String, Measurement>>,
}

#[derive(Debug, Serialize)]
struct Row {
    tokens: usize,
    mode: &'static str,
    candle: Measurement,
    onnx: Option<Measurement>,
}

fn embed_bench(args: &EmbedBenchArgs, settings: &Settings) -> anyhow::Result<()> {
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    // candle sizes its thread pool from this variable when it first runs; a
    // process cannot set it for itself safely, so run a child that has it.
    if std::env::var(THREADS_ENV).ok() != Some(threads.to_string()) {
        let status = Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env(THREADS_ENV, threads.to_string())
            .status()
            .context("re-running the bench with its thread count")?;
        anyhow::ensure!(status.success(), "bench exited with {status}");
        return Ok(());
    }
    if args.tokens.iter().any(|&t| !(8..=512).contains(&t)) {
        bail!("--tokens must be between 8 and 512");
    }
    anyhow::ensure!(
        args.requests > 0 && args.burst > 0,
        "--requests and --burst must be > 0"
    );

    let dir = match &args.model_dir {
        Some(dir) => dir.clone(),
        None => provision::resolve_version(settings, &args.model)?.dir,
    };
    let rss_before = rss_mib("VmRSS");
    let options = EmbedderOptions {
        max_tokens: 512,
        dimensions: None,
        dtype: Dtype::F32,
        device: "cpu".to_string(),
    };
    let loaded = Instant::now();
    let embedder: Arc<Embedder> = Arc::new(
        Embedder::load(&dir, &options).with_context(|| format!("loading {}", dir.display()))?,
    );
    let load_time = loaded.elapsed();
    let rss_loaded = rss_mib("VmRSS");
    println!(
        "model {} ({}), {threads} thread(s), loaded in {:.2} s",
        embedder.model_id(),
        dir.display(),
        load_time.as_secs_f64()
    );

    let mut cases = Vec::new();
    for &tokens in &args.tokens {
        let batch1 = make_texts(embedder.as_ref(), tokens, args.requests, 0)?;
        let burst = make_texts(embedder.as_ref(), tokens, args.burst, args.requests)?;
        let counts: Vec<usize> = batch1
            .iter()
            .chain(&burst)
            .map(|t| embedder.count_tokens(t))
            .collect::<Result<_, _>>()?;
        let mean_tokens = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
        cases.push(LengthCase {
            tokens,
            mean_tokens,
            batch1,
            burst,
            batch_size: (args.token_budget / tokens).clamp(1, args.max_batch),
            warmup: args.warmup,
        });
    }

    // Each length runs candle, then onnxruntime, before the next length, so
    // that a change of load on the machine hits both sides alike.
    let mut rows = Vec::new();
    let mut onnx: Option<OnnxReport> = None;
    let mut rss_peak = 0.0f64;
    for case in &cases {
        let batch1 = bench_batch1(embedder.as_ref(), case)?;
        let pooled = bench_pool(&embedder, case, args)?;
        rss_peak = rss_peak.max(rss_mib("VmHWM"));
        eprintln!(
            "candle {:>3} tokens: batch 1 {:.1}/s, pool {:.1}/s (mean batch {:.1})",
            case.tokens,
            batch1.embeddings_per_second,
            pooled.embeddings_per_second,
            pooled.mean_batch
        );
        let mut onnx_for = |mode: &str| -> anyhow::Result<Option<Measurement>> {
            let (Some(script), Some(model)) = (&args.onnx_script, &args.onnx_model) else {
                return Ok(None);
            };
            if onnx
                .as_ref()
                .is_none_or(|r| !r.results.contains_key(&case.tokens.to_string()))
            {
                let report = run_onnx(
                    args,
                    script,
                    model,
                    &dir,
                    threads,
                    std::slice::from_ref(case),
                )?;
                let merged = onnx.get_or_insert_with(OnnxReport::default);
                merged.rss_before_mib = report.rss_before_mib;
                merged.rss_after_load_mib = report.rss_after_load_mib;
                merged.rss_peak_mib = merged.rss_peak_mib.max(report.rss_peak_mib);
                merged.onnxruntime_version = report.onnxruntime_version;
                merged.results.extend(report.results);
            }
            Ok(onnx
                .as_ref()
                .and_then(|r| r.results.get(&case.tokens.to_string()))
                .and_then(|modes| modes.get(mode))
                .cloned())
        };
        let onnx_batch1 = onnx_for("batch1")?;
        let onnx_pool = onnx_for("pool")?;
        rows.push(Row {
            tokens: case.tokens,
            mode: "batch 1",
            candle: batch1,
            onnx: onnx_batch1,
        });
        rows.push(Row {
            tokens: case.tokens,
            mode: "pool",
            candle: pooled,
            onnx: onnx_pool,
        });
    }

    print_table(&rows, &cases, onnx.as_ref());
    println!();
    println!(
        "memory (RSS): candle process {:.0} MiB before load, {:.0} MiB after load (+{:.0}), peak {:.0} MiB during the bench",
        rss_before,
        rss_loaded,
        rss_loaded - rss_before,
        rss_peak
    );
    if let Some(report) = &onnx {
        println!(
            "memory (RSS): onnxruntime {} process {:.0} MiB before load, {:.0} MiB after load (+{:.0}), peak {:.0} MiB",
            report.onnxruntime_version,
            report.rss_before_mib,
            report.rss_after_load_mib,
            report.rss_after_load_mib - report.rss_before_mib,
            report.rss_peak_mib
        );
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "threads": threads,
            "model_dir": dir,
            "rss_mib": {"before": rss_before, "after_load": rss_loaded, "peak": rss_peak},
            "rows": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_table(rows: &[Row], cases: &[LengthCase], onnx: Option<&OnnxReport>) {
    println!();
    println!(
        "{:>6} {:>7} {:>5} | {:>8} {:>8} {:>8} {:>7} | {:>8} {:>8} {:>8} {:>7} | {:>6} {:>6}",
        "tokens",
        "mode",
        "batch",
        "candle/s",
        "p50 ms",
        "p99 ms",
        "cpu ms",
        "onnx/s",
        "p50 ms",
        "p99 ms",
        "cpu ms",
        "ratio",
        "cpu r."
    );
    println!("{}", "-".repeat(112));
    for row in rows {
        let mean_tokens = cases
            .iter()
            .find(|c| c.tokens == row.tokens)
            .map_or(0.0, |c| c.mean_tokens);
        let batch = if row.mode == "pool" {
            format!("{:.1}", row.candle.mean_batch)
        } else {
            "1".to_string()
        };
        let (onnx_cells, ratio, cpu_ratio) = match &row.onnx {
            Some(o) => (
                format!(
                    "{:>8.1} {:>8.1} {:>8.1} {:>7.1}",
                    o.embeddings_per_second, o.p50_ms, o.p99_ms, o.cpu_ms_per_embedding
                ),
                format!(
                    "{:.2}x",
                    row.candle.embeddings_per_second / o.embeddings_per_second
                ),
                format!(
                    "{:.2}x",
                    o.cpu_ms_per_embedding / row.candle.cpu_ms_per_embedding
                ),
            ),
            None => (
                format!("{:>8} {:>8} {:>8} {:>7}", "-", "-", "-", "-"),
                "-".to_string(),
                "-".to_string(),
            ),
        };
        println!(
            "{:>6} {:>7} {:>5} | {:>8.1} {:>8.1} {:>8.1} {:>7.1} | {onnx_cells} | {ratio:>6} {cpu_ratio:>6}",
            format!("{mean_tokens:.0}"),
            row.mode,
            batch,
            row.candle.embeddings_per_second,
            row.candle.p50_ms,
            row.candle.p99_ms,
            row.candle.cpu_ms_per_embedding,
        );
    }
    if onnx.is_some() {
        println!(
            "ratio = candle embeddings/s / onnxruntime embeddings/s; cpu r. = onnxruntime CPU time per embedding / candle's"
        );
        println!(
            "(same texts, same threads, one run; above 1 means candle is ahead; CPU time counts every thread, spinning included)"
        );
    }
}

/// `count` distinct stacktrace-like texts of exactly `tokens` tokens
/// (special tokens included): frames up to a little under the length, then
/// single-token filler words until the count is exact.
fn make_texts(
    embedder: &dyn TextEmbedder,
    tokens: usize,
    count: usize,
    offset: usize,
) -> anyhow::Result<Vec<String>> {
    let mut texts = Vec::with_capacity(count);
    for index in offset..offset + count {
        let mut words: Vec<String> = vec![
            "ValueError:".into(),
            "invalid".into(),
            "literal".into(),
            format!("'order-{index}'"),
        ];
        for frame in 0..200 {
            words.extend(
                format!(
                    "File \"/srv/app{index}/services/module_{frame}.py\", line {}, in handle_{frame}_{index} result = process_{frame}(request, item_{index})",
                    10 + frame * 7
                )
                .split_whitespace()
                .map(str::to_string),
            );
        }
        let target = tokens.saturating_sub(12).max(3);
        // Largest prefix of words within `target` tokens.
        let (mut low, mut high) = (1usize, words.len());
        while low < high {
            let mid = (low + high).div_ceil(2);
            if embedder.count_tokens(&words[..mid].join(" "))? <= target {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        let mut text = words[..low].join(" ");
        let mut current = embedder.count_tokens(&text)?;
        while current < tokens {
            text.push_str(" the");
            let next = embedder.count_tokens(&text)?;
            anyhow::ensure!(next == current + 1, "filler word is not one token");
            current = next;
        }
        anyhow::ensure!(current == tokens, "could not make a {tokens}-token text");
        texts.push(text);
    }
    Ok(texts)
}

fn bench_batch1(embedder: &dyn TextEmbedder, case: &LengthCase) -> anyhow::Result<Measurement> {
    for text in case.batch1.iter().cycle().take(case.warmup) {
        embedder.embed_batch(&[text.as_str()])?;
    }
    let mut latencies = Vec::with_capacity(case.batch1.len());
    let cpu = process_cpu();
    let started = Instant::now();
    for text in &case.batch1 {
        let call = Instant::now();
        embedder.embed_batch(&[text.as_str()])?;
        latencies.push(call.elapsed());
    }
    let total = started.elapsed();
    Ok(measurement(&mut latencies, total, 1.0, process_cpu() - cpu))
}

fn bench_pool(
    embedder: &Arc<Embedder>,
    case: &LengthCase,
    args: &EmbedBenchArgs,
) -> anyhow::Result<Measurement> {
    let pool = EmbedderPool::start(
        Arc::clone(embedder) as Arc<dyn TextEmbedder>,
        PoolOptions {
            queue_capacity: case.burst.len() + case.warmup * case.batch_size + 1,
            token_budget: args.token_budget,
            max_batch: args.max_batch,
            workers: 1,
            timeout: Duration::from_secs(3600),
            cache_capacity: 0,
        },
    )?;
    let warm: Vec<&str> = case
        .burst
        .iter()
        .cycle()
        .take(case.warmup * case.batch_size)
        .map(String::as_str)
        .collect();
    for result in pool.embed_many(&warm) {
        result?;
    }
    let warm_batches = pool.stats().counts.batches;
    let (sender, receiver) = std::sync::mpsc::channel();
    let cpu = process_cpu();
    let started = Instant::now();
    for text in &case.burst {
        let sender = sender.clone();
        let submitted = Instant::now();
        pool.submit_with(text.as_str(), move |result| {
            let _ = sender.send((submitted.elapsed(), result.is_ok()));
        })?;
    }
    drop(sender);
    let mut latencies = Vec::with_capacity(case.burst.len());
    for (latency, ok) in receiver.iter() {
        anyhow::ensure!(ok, "the pool failed a request");
        latencies.push(latency);
    }
    let total = started.elapsed();
    let cpu = process_cpu() - cpu;
    anyhow::ensure!(
        latencies.len() == case.burst.len(),
        "the pool lost requests"
    );
    let batches = pool.stats().counts.batches - warm_batches;
    let mean_batch = case.burst.len() as f64 / batches.max(1) as f64;
    Ok(measurement(&mut latencies, total, mean_batch, cpu))
}

fn measurement(
    latencies: &mut [Duration],
    total: Duration,
    mean_batch: f64,
    cpu_seconds: f64,
) -> Measurement {
    latencies.sort_unstable();
    let quantile = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index].as_secs_f64() * 1000.0
    };
    Measurement {
        embeddings_per_second: latencies.len() as f64 / total.as_secs_f64(),
        p50_ms: quantile(0.50),
        p99_ms: quantile(0.99),
        requests: latencies.len(),
        mean_batch,
        cpu_ms_per_embedding: cpu_seconds * 1000.0 / latencies.len().max(1) as f64,
    }
}

/// CPU seconds (user + system, all threads) this process has used, from
/// `/proc/self/stat` (0 where unavailable). Linux counts in 1/100 s.
fn process_cpu() -> f64 {
    const TICKS_PER_SECOND: f64 = 100.0;
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesized command name; utime and stime
            // are the 14th and 15th fields of the whole line.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / TICKS_PER_SECOND)
        })
        .unwrap_or(0.0)
}

fn run_onnx(
    args: &EmbedBenchArgs,
    script: &Path,
    model: &Path,
    model_dir: &Path,
    threads: usize,
    cases: &[LengthCase],
) -> anyhow::Result<OnnxReport> {
    let work = std::env::temp_dir().join(format!("stackherd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let texts_path = work.join("texts.json");
    let out_path = work.join("onnx.json");
    std::fs::write(&texts_path, serde_json::to_string(cases)?)?;
    eprintln!("running onnxruntime ({})", script.display());
    let status = Command::new(&args.python)
        .arg(script)
        .arg("--model")
        .arg(model)
        .arg("--tokenizer")
        .arg(model_dir.join("tokenizer.json"))
        .arg("--texts")
        .arg(&texts_path)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--out")
        .arg(&out_path)
        .status()
        .with_context(|| format!("running {} {}", args.python, script.display()))?;
    anyhow::ensure!(
        status.success(),
        "the onnxruntime bench exited with {status}"
    );
    let report: OnnxReport = serde_json::from_slice(&std::fs::read(&out_path)?)
        .context("reading the onnxruntime results")?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(report)
}

/// A `/proc/self/status` field in MiB (0 where unavailable).
fn rss_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
