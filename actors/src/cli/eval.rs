//! `stackherd eval DATASET`: streams a labeled dataset through the real
//! pipeline on fresh temporary stores, fingerprint-only and with AI, and
//! reports grouping quality (definitions in docs/eval.md).

use super::corpus::{LabeledEvent, load};
use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use stackherd::eval::{
    Method, Metrics, Nearest, Observation, SweepPoint, metrics, metrics_by_platform,
    plot_precision_recall, threshold_sweep,
};
use stackherd::settings::Settings;
use stackherd_actors::{GroupingMethod, Node};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Dataset (JSON Lines, see docs/dataset.md).
    dataset: PathBuf,
    /// Model version to evaluate.
    #[arg(long)]
    model: Option<String>,
    /// Thresholds of the sweep (cosine distances).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.002,0.005,0.01,0.015,0.02,0.03,0.04,0.05,0.07,0.1,0.15,0.2"
    )]
    sweep: Vec<f32>,
    /// Also run with the sweep's best threshold (highest merge F1).
    #[arg(long)]
    best: bool,
    /// Write the precision-recall plot of the sweep here (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct ModeReport {
    threshold: Option<f32>,
    #[serde(flatten)]
    overall: Metrics,
    by_platform: BTreeMap<String, Metrics>,
}

#[derive(Debug, Serialize)]
struct Report {
    dataset: String,
    model: String,
    fingerprint_only: ModeReport,
    with_ai: ModeReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    with_ai_best: Option<ModeReport>,
    sweep: Vec<SweepPoint>,
    best_threshold: Option<f32>,
}

pub fn run(args: &EvalArgs, settings: &Settings) -> anyhow::Result<()> {
    let events = load(&args.dataset, settings)?;
    anyhow::ensure!(
        !events.is_empty(),
        "{} holds no events",
        args.dataset.display()
    );
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| settings.grouping.default_model.clone());
    let threshold = settings.model(&model)?.threshold;
    let fingerprint_only = run_mode(settings, &events, &model, None, "fingerprint only")?;
    let with_ai_observations = run_mode(settings, &events, &model, Some(threshold), "with AI")?;
    let sweep = threshold_sweep(&with_ai_observations, &args.sweep);
    let best_threshold = best_point(&sweep).map(|p| p.threshold);
    let with_ai_best = match best_threshold {
        Some(best) if args.best => Some(report(
            &run_mode(
                settings,
                &events,
                &model,
                Some(best),
                "with AI, best threshold",
            )?,
            Some(best),
        )),
        _ => None,
    };
    if let Some(path) = &args.plot {
        plot_precision_recall(&sweep, path)?;
    }
    let report = Report {
        dataset: args.dataset.display().to_string(),
        model,
        fingerprint_only: report(&fingerprint_only, None),
        with_ai: report(&with_ai_observations, Some(threshold)),
        with_ai_best,
        sweep,
        best_threshold,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_tables(&report);
    }
    Ok(())
}

fn report(observations: &[Observation], threshold: Option<f32>) -> ModeReport {
    ModeReport {
        threshold,
        overall: metrics(observations),
        by_platform: metrics_by_platform(observations),
    }
}

/// The sweep point with the best harmonic mean of merge precision and recall.
fn best_point(sweep: &[SweepPoint]) -> Option<&SweepPoint> {
    let f1 = |p: &SweepPoint| {
        if p.precision + p.recall > 0.0 {
            2.0 * p.precision * p.recall / (p.precision + p.recall)
        } else {
            0.0
        }
    };
    sweep.iter().max_by(|a, b| f1(a).total_cmp(&f1(b)))
}

/// Groups every event in order on a fresh store. `threshold` `None` is the
/// fingerprint-only run (AI consent off for every project).
fn run_mode(
    settings: &Settings,
    events: &[LabeledEvent],
    model: &str,
    threshold: Option<f32>,
    name: &str,
) -> anyhow::Result<Vec<Observation>> {
    let dir = tempfile::tempdir().context("creating a temporary store")?;
    let mut settings = settings.clone();
    settings.storage.data_dir = dir.path().to_path_buf();
    settings.consent.ai_grouping = threshold.is_some();
    settings.engine.ai_requests_per_second = 0.0;
    settings.engine.request_timeout_ms = 120_000;
    settings.embedder.timeout_ms = 120_000;
    if let Some(threshold) = threshold {
        settings
            .models
            .get_mut(model)
            .context("unknown model")?
            .threshold = threshold;
    }
    let node = Node::start(settings)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let progress = ProgressBar::new(events.len() as u64).with_style(ProgressStyle::with_template(
        "{msg:>24} {bar:40} {pos}/{len} {per_sec} eta {eta}",
    )?);
    progress.set_message(name.to_string());
    // (project, record hash) → label of the event that stored it.
    let mut label_of_hash: HashMap<(u64, String), String> = HashMap::new();
    let mut observations = Vec::with_capacity(events.len());
    for item in events {
        let result = runtime.block_on(node.group_with(item.project, &item.event, model, false))?;
        let ai_path = matches!(
            result.method,
            GroupingMethod::Ai { .. } | GroupingMethod::New { .. }
        );
        let nearest = if ai_path {
            runtime
                .block_on(node.nearest(item.project, &item.event, model))?
                .and_then(|hit| {
                    let label = label_of_hash.get(&(item.project, hit.hash))?.clone();
                    Some(Nearest {
                        distance: hit.distance,
                        label,
                    })
                })
        } else {
            None
        };
        label_of_hash
            .entry((item.project, result.hash.clone()))
            .or_insert_with(|| item.label.clone());
        observations.push(Observation {
            project: item.project,
            label: item.label.clone(),
            platform: item.platform.clone(),
            predicted: result.issue,
            method: method_of(&result.method),
            nearest,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    node.shutdown(Duration::from_secs(30))?;
    Ok(observations)
}

fn method_of(method: &GroupingMethod) -> Method {
    match method {
        GroupingMethod::Fingerprint => Method::Fingerprint,
        GroupingMethod::Ai { .. } => Method::Ai,
        GroupingMethod::New { .. } => Method::New,
        GroupingMethod::FingerprintOnly { .. } => Method::FingerprintOnly,
    }
}

fn print_tables(report: &Report) {
    println!("dataset {}  model {}", report.dataset, report.model);
    println!(
        "{:<26} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "mode",
        "events",
        "true",
        "pred",
        "merge",
        "m.prec",
        "m.rec",
        "p.prec",
        "p.rec",
        "b3.prec",
        "b3.rec",
        "auc"
    );
    let mut rows = vec![
        ("fingerprint_only".to_string(), &report.fingerprint_only),
        (
            format!("with_ai@{}", report.with_ai.threshold.unwrap_or_default()),
            &report.with_ai,
        ),
    ];
    if let Some(best) = &report.with_ai_best {
        rows.push((
            format!("with_ai_best@{}", best.threshold.unwrap_or_default()),
            best,
        ));
    }
    for (name, mode) in rows {
        print_row(&name, &mode.overall);
        for (platform, metrics) in &mode.by_platform {
            print_row(&format!("  {platform}"), metrics);
        }
    }
    println!("\nthreshold sweep (merge precision / recall if AI merged at distance <= t):");
    for point in &report.sweep {
        println!(
            "  t={:<6} merges={:<6} precision={:.3} recall={:.3}",
            point.threshold, point.merges, point.precision, point.recall
        );
    }
    if let Some(best) = report.best_threshold {
        println!("best threshold by merge F1: {best}");
    }
}

fn print_row(name: &str, m: &Metrics) {
    let auc = m.auc.map_or_else(|| "-".to_string(), |a| format!("{a:.3}"));
    println!(
        "{name:<26} {:>7} {:>7} {:>7} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {auc:>7}",
        m.events,
        m.issues_true,
        m.issues_predicted,
        m.merge_rate,
        m.merge_precision,
        m.merge_recall,
        m.pair_precision,
        m.pair_recall,
        m.bcubed_precision,
        m.bcubed_recall
    );
}
