//! Synthetic labeled datasets: realistic Sentry events whose true issues
//! are known, to measure grouping without real user data.
//!
//! # Model
//!
//! Every project has one application per platform, built from a business
//! domain's vocabulary (billing, orders, accounts, …): four layers of code
//! (entry points, services, data access and clients, helpers), each a few
//! units (classes, modules, files) of a few functions. A **true issue** is a
//! *root cause*: a call path of two to five in-app functions through those
//! layers, below the platform's framework frames and above the library
//! frames the crashing line calls into, raising one exception kind.
//! Labels are `p{project}-i{n}`, `n` counting from 1 in order of first
//! appearance within the project.
//!
//! Issues are spread evenly over the chosen platforms in every project.
//! Their sizes are skewed like real traffic: ranks are shuffled and the
//! issue of rank `r` gets a share `∝ 1 / (r + 1)^size_skew` of the events
//! beyond the one every issue has; the total is exactly
//! `projects × issues_per_project × events_per_issue`. Events arrive over
//! `span` from `start`, each issue after its first event, timestamps
//! strictly increasing over the whole output (which is in time order).
//!
//! # What varies between events of one issue
//!
//! An issue's life is cut into up to three *eras* (deploys). Within an era:
//!
//! - line numbers move for frames in files a deploy touched;
//! - framework upgrades move framework lines and add or drop middleware
//!   frames (and a middleware frame is sometimes missing per request);
//! - JavaScript: a release without uploaded source maps shows minified
//!   frames (`n`, `Xe`, `a.b` in `main.<hash>.min.js`, line 1, large
//!   columns, no source lines); vendor frames are minified alike;
//! - native: builds with full debug info show inlined helpers as frames;
//!   libstdc++ or libc++ spelling of `std::string` in signatures;
//! - Java: reflection through `GeneratedMethodAccessorN` or
//!   `DirectMethodHandleAccessor`; Spring 5 or 6 CGLIB naming;
//! - Ruby: `block in f` or `block (2 levels) in f`; Go: closure numbers
//!   (`F.func1`, `F.func2`); .NET 6 or 8 await frames; Python 3.12 or 3.13
//!   messages.
//!
//! Per event: message values (ids, numbers, quoted inputs, hosts), the
//! browser (Chrome, Firefox, Safari, Edge spell functions and messages
//! differently), Java proxy and lambda names regenerated on every restart
//! (`$Proxy12`, `$$Lambda$42/0x…`, `$$EnhancerBySpringCGLIB$$1a2b3c4d`),
//! async wrappers (Python `asyncio` loop frames, Babel's `asyncToGenerator`
//! helpers and Chrome's `Promise.all` frames), now and then another wording
//! of the exception message, and a logging call's top-level `logentry`
//! message.
//!
//! A `refactor_fraction` of the issues with two or more events go through a
//! **refactor** at a random event: one function of the path is renamed
//! (`compute_tax` → `calculate_tax`, `loadCart` → `loadCartInternal`) or one
//! file moves to another package. Fingerprinting splits the issue there;
//! it is still one true issue, which is what the AI fallback should merge.
//!
//! # Hard negatives
//!
//! A `hard_negative_fraction` of the issues are derived from an earlier
//! issue of the same project and platform: the same call path raising a
//! different exception type, or a path that shares the callers but crashes
//! in a different function (a sibling, or one level deeper). They are
//! different true issues that look alike: an AI merge between them is an
//! overgrouping error.
//!
//! Everything is drawn from a local SplitMix64 generator seeded by `seed`:
//! the same options give the same dataset, byte for byte.

mod event;
mod model;
mod platform;
mod rng;
mod timeline;
mod words;

use super::jsonl::format_timestamp;
use super::{DatasetLine, EventSource};
use model::{App, RootCause};
use platform::{Scene, Values, spec};
use rng::Rng;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use timeline::Era;

/// A platform the generator writes events for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    Python,
    Java,
    JavaScript,
    Go,
    Ruby,
    CSharp,
    Native,
}

impl Platform {
    pub const ALL: [Platform; 7] = [
        Platform::Python,
        Platform::Java,
        Platform::JavaScript,
        Platform::Go,
        Platform::Ruby,
        Platform::CSharp,
        Platform::Native,
    ];

    /// The Sentry `platform` value of its events.
    pub fn as_str(self) -> &'static str {
        spec(self).name
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name the generator does not know.
#[derive(Debug, Error, PartialEq)]
#[error(
    "unknown platform {0:?}; expected one of python, java, javascript, go, ruby, csharp, native"
)]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| UnknownPlatform(name.to_string()))
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthOptions {
    /// Projects, numbered from 1.
    pub projects: u64,
    pub issues_per_project: usize,
    /// Mean events per issue (at least 1); sizes are skewed around it.
    pub events_per_issue: usize,
    /// Exponent of the size skew (0: all issues the same size).
    pub size_skew: f64,
    /// Platforms to spread issues over; empty means all of them.
    pub platforms: Vec<Platform>,
    pub seed: u64,
    /// Share of issues derived as hard negatives of an earlier issue.
    pub hard_negative_fraction: f64,
    /// Share of issues (with two or more events) that go through a refactor.
    pub refactor_fraction: f64,
    /// Time of the earliest possible event.
    pub start: SystemTime,
    /// Events happen within `start .. start + span`.
    pub span: Duration,
}

impl Default for SynthOptions {
    /// 5 projects × 40 issues × 10 events on average: 2,000 events.
    fn default() -> Self {
        SynthOptions {
            projects: 5,
            issues_per_project: 40,
            events_per_issue: 10,
            size_skew: 1.3,
            platforms: Platform::ALL.to_vec(),
            seed: 42,
            hard_negative_fraction: 0.15,
            refactor_fraction: 0.3,
            // 2024-01-01T00:00:00Z
            start: UNIX_EPOCH + Duration::from_secs(1_704_067_200),
            span: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// The ground truth about one generated issue.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthIssue {
    pub project: u64,
    pub label: String,
    pub platform: Platform,
    pub events: usize,
    /// The earlier issue this one is a hard negative of.
    pub hard_negative_of: Option<String>,
    /// Index (within this issue, in time order) of the first event after
    /// a refactor.
    pub refactored_at: Option<usize>,
}

/// A generated dataset and what is true about its issues.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthDataset {
    /// In time order.
    pub lines: Vec<DatasetLine>,
    /// In project order, then label order.
    pub issues: Vec<SynthIssue>,
}

/// Generates the dataset's lines (see the module docs).
pub fn generate(options: &SynthOptions) -> Vec<DatasetLine> {
    generate_with_truth(options).lines
}

/// Generates the dataset's lines and the truth about every issue.
pub fn generate_with_truth(options: &SynthOptions) -> SynthDataset {
    let mut rng = Rng::new(options.seed);
    let span_ms = u64::try_from(options.span.as_millis()).unwrap_or(u64::MAX);
    let mut plans = Vec::new();
    let mut apps = Apps::default();
    for project in 1..=options.projects {
        let mut project_rng = rng.fork(project);
        plan_project(
            options,
            project,
            span_ms,
            &mut apps,
            &mut project_rng,
            &mut plans,
        );
    }
    let arrivals = arrivals(&plans);
    let lines = arrivals
        .iter()
        .filter_map(|arrival| render(options, &plans, &apps, arrival, &mut rng))
        .collect();
    let issues = plans.iter().map(IssuePlan::truth).collect();
    SynthDataset { lines, issues }
}

/// Applications by project and platform.
#[derive(Default)]
struct Apps {
    by_key: HashMap<(u64, Platform), App>,
}

impl Apps {
    fn get_or_build(&mut self, project: u64, platform: Platform, rng: &mut Rng) -> &App {
        self.by_key
            .entry((project, platform))
            .or_insert_with(|| App::new(spec(platform), project, &mut rng.fork(project)))
    }
}

/// Everything decided about one issue before its events are written.
struct IssuePlan {
    project: u64,
    label: String,
    platform: Platform,
    cause: RootCause,
    /// From this event on, the refactored cause applies.
    refactor: Option<(usize, RootCause)>,
    hard_negative_of: Option<String>,
    /// Offsets (ms) of its events, ascending.
    times: Vec<u64>,
    era_of: Vec<usize>,
    eras: Vec<Era>,
}

impl IssuePlan {
    fn truth(&self) -> SynthIssue {
        SynthIssue {
            project: self.project,
            label: self.label.clone(),
            platform: self.platform,
            events: self.times.len(),
            hard_negative_of: self.hard_negative_of.clone(),
            refactored_at: self.refactor.as_ref().map(|(at, _)| *at),
        }
    }
}

fn plan_project(
    options: &SynthOptions,
    project: u64,
    span_ms: u64,
    apps: &mut Apps,
    rng: &mut Rng,
    plans: &mut Vec<IssuePlan>,
) {
    let platforms = if options.platforms.is_empty() {
        Platform::ALL.to_vec()
    } else {
        options.platforms.clone()
    };
    let issues = options.issues_per_project;
    let counts = timeline::event_counts(issues, options.events_per_issue, options.size_skew, rng);
    let firsts = timeline::first_seen(issues, span_ms, rng);
    let project_start = plans.len();
    let mut taken = HashSet::new();
    for (n, (&count, &first)) in counts.iter().zip(&firsts).enumerate() {
        let offset = (project as usize).wrapping_add(n) % platforms.len().max(1);
        let platform = platforms.get(offset).copied().unwrap_or(Platform::Python);
        let platform_spec = spec(platform);
        let app = apps.get_or_build(project, platform, rng);
        let earlier: Vec<&IssuePlan> = plans
            .get(project_start..)
            .unwrap_or(&[])
            .iter()
            .filter(|p| p.platform == platform)
            .collect();
        let base = rng
            .chance(options.hard_negative_fraction)
            .then(|| rng.pick(&earlier).copied())
            .flatten();
        let cause = match base {
            Some(base) => base
                .cause
                .hard_negative(platform_spec, app, &mut taken, rng),
            None => RootCause::fresh(platform_spec, app, &mut taken, rng),
        };
        let refactor = (count >= 2 && rng.chance(options.refactor_fraction)).then(|| {
            let at = rng.between(1, count as u64 - 1) as usize;
            (at, cause.refactored(platform_spec, rng))
        });
        let times = timeline::event_times(first, count, span_ms, rng);
        let (era_of, eras) = timeline::eras(count, rng);
        let hard_negative_of = base.map(|b| b.label.clone());
        plans.push(IssuePlan {
            project,
            label: format!("p{project}-i{}", n + 1),
            platform,
            hard_negative_of,
            cause,
            refactor,
            times,
            era_of,
            eras,
        });
    }
}

/// One event to write: which plan, which of its events, and when.
struct Arrival {
    at: u64,
    plan: usize,
    event: usize,
}

/// All events in time order, ties broken by plan and event so an issue's
/// first event (and a hard negative's base issue) come first; then nudged
/// so no two share a millisecond.
fn arrivals(plans: &[IssuePlan]) -> Vec<Arrival> {
    let mut arrivals: Vec<Arrival> = plans
        .iter()
        .enumerate()
        .flat_map(|(plan, p)| {
            p.times
                .iter()
                .enumerate()
                .map(move |(event, &at)| Arrival { at, plan, event })
        })
        .collect();
    arrivals.sort_by_key(|a| (a.at, a.plan, a.event));
    let mut previous: Option<u64> = None;
    for arrival in &mut arrivals {
        if let Some(previous) = previous {
            arrival.at = arrival.at.max(previous.saturating_add(1));
        }
        previous = Some(arrival.at);
    }
    arrivals
}

/// One event; `None` only if the plan lost its app or era, which
/// `plan_project` never lets happen.
fn render(
    options: &SynthOptions,
    plans: &[IssuePlan],
    apps: &Apps,
    arrival: &Arrival,
    rng: &mut Rng,
) -> Option<DatasetLine> {
    let mut event_rng = rng.fork(arrival.at);
    let plan = plans.get(arrival.plan)?;
    let app = apps.by_key.get(&(plan.project, plan.platform))?;
    let era = plan.eras.get(*plan.era_of.get(arrival.event)?)?;
    let cause = match &plan.refactor {
        Some((at, refactored)) if arrival.event >= *at => refactored,
        _ => &plan.cause,
    };
    let timestamp = options
        .start
        .checked_add(Duration::from_millis(arrival.at))
        .unwrap_or(options.start);
    let values = Values::random(&mut event_rng);
    let mut scene = Scene {
        spec: spec(plan.platform),
        app,
        cause,
        era,
        values: &values,
        rng: &mut event_rng,
    };
    let written = format_timestamp(timestamp).ok();
    Some(DatasetLine {
        project: plan.project,
        label: plan.label.clone(),
        timestamp: Some(timestamp),
        source: EventSource::Event(event::event_json(&mut scene, written.as_deref())),
    })
}
