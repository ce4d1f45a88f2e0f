//! When events happen: how many events each issue gets, when it first and
//! last occurs, and the releases ("eras") its events fall into.

use super::rng::Rng;

/// A stretch of an issue's life with one build of the code: line numbers,
/// framework version, source maps and inlining stay the same within it.
#[derive(Debug, Clone)]
pub(crate) struct Era {
    /// Content hash of this build (bundle names, build ids).
    pub build: String,
    pub release: String,
    /// Seeds how far each frame's line moved since the first era (0: not at all).
    pub line_seed: u64,
    /// Bumped by a framework upgrade: framework lines move.
    pub framework_version: u64,
    /// Which optional framework frames (middleware) this deploy has.
    pub framework_mask: u64,
    /// JavaScript: source maps were missing for this release.
    pub minified: bool,
    /// Native and Go: the build inlines the helpers marked inlinable.
    pub inlined: bool,
    /// Platform-specific spellings (toolchain, SDK version); read through
    /// [`Era::variant`].
    pub flavor: u64,
    /// Seeds which source lines a deploy edited without changing what they
    /// do (0: none yet). Edits stay in later deploys unless edited again.
    pub source_edit: u64,
}

impl Era {
    /// One of `options` spellings for the toolchain choice named by `salt`.
    /// Distinct salts give independent choices from one flavor.
    pub(crate) fn variant(&self, salt: u64, options: u64) -> u64 {
        Rng::new(self.flavor ^ salt.wrapping_mul(0x2545_F491_4F6C_DD1D)).next_u64() % options.max(1)
    }

    /// Whether step `index`'s source line was edited in this deploy.
    pub(crate) fn edited(&self, index: usize) -> bool {
        self.source_edit != 0 && Rng::new(self.source_edit ^ (index as u64 + 7)).next_u64() % 3 == 0
    }

    /// How many lines step `index` moved in this era.
    pub(crate) fn line_shift(&self, index: usize) -> u64 {
        if self.line_seed == 0 {
            return 0;
        }
        let mixed = Rng::new(self.line_seed ^ (index as u64 + 1)).next_u64();
        // A third of the frames sit in files this deploy did not touch.
        if mixed % 3 == 0 { 0 } else { 1 + mixed % 40 }
    }
}

/// Events per issue, skewed like real traffic: issue ranks are shuffled
/// and rank `r` gets a share proportional to `1 / (r + 1)^skew` of the
/// events beyond the one every issue has. The total is exactly
/// `issues * max(mean, 1)`.
pub(crate) fn event_counts(issues: usize, mean: usize, skew: f64, rng: &mut Rng) -> Vec<usize> {
    let extra = issues.saturating_mul(mean.max(1)) - issues;
    let weights: Vec<f64> = (0..issues)
        .map(|rank| 1.0 / ((rank + 1) as f64).powf(skew.max(0.0)))
        .collect();
    let total_weight: f64 = weights.iter().sum();
    let shares: Vec<f64> = weights
        .iter()
        .map(|w| extra as f64 * w / total_weight.max(f64::MIN_POSITIVE))
        .collect();
    let mut by_rank: Vec<usize> = shares.iter().map(|s| s.floor() as usize).collect();
    // Largest remainders get the events rounding left over.
    let mut order: Vec<usize> = (0..issues).collect();
    order.sort_by(|&a, &b| {
        let fraction = |i: usize| shares.get(i).map_or(0.0, |s| s - s.floor());
        fraction(b).total_cmp(&fraction(a)).then(a.cmp(&b))
    });
    let assigned: usize = by_rank.iter().sum();
    for &rank in order.iter().take(extra.saturating_sub(assigned)) {
        if let Some(count) = by_rank.get_mut(rank) {
            *count += 1;
        }
    }
    let mut counts: Vec<usize> = by_rank.into_iter().map(|c| c + 1).collect();
    rng.shuffle(&mut counts);
    counts
}

/// First-seen offsets (ms) for `issues` issues, ascending, within the
/// first 80% of the span so late issues still get a few events.
pub(crate) fn first_seen(issues: usize, span_ms: u64, rng: &mut Rng) -> Vec<u64> {
    let window = span_ms / 5 * 4;
    let mut times: Vec<u64> = (0..issues).map(|_| rng.below(window.max(1))).collect();
    times.sort_unstable();
    times
}

/// Event offsets (ms) of one issue: the first at `first`, the rest after it.
pub(crate) fn event_times(first: u64, count: usize, span_ms: u64, rng: &mut Rng) -> Vec<u64> {
    let mut times: Vec<u64> = (1..count)
        .map(|_| rng.between(first, span_ms.max(first)))
        .collect();
    times.sort_unstable();
    times.insert(0, first);
    times
}

/// The era of each event (events in time order) and the eras themselves.
pub(crate) fn eras(count: usize, rng: &mut Rng) -> (Vec<usize>, Vec<Era>) {
    let changes = if count >= 4 { rng.below(3) as usize } else { 0 };
    let mut boundaries: Vec<usize> = (0..changes)
        .map(|_| rng.between(1, count.saturating_sub(1) as u64) as usize)
        .collect();
    boundaries.sort_unstable();
    boundaries.dedup();
    let per_event = (0..count)
        .map(|i| boundaries.iter().filter(|&&b| b <= i).count())
        .collect();
    let mut eras = vec![first_era(rng)];
    for _ in 0..boundaries.len() {
        let next = match eras.last() {
            Some(previous) => next_era(previous, rng),
            None => first_era(rng),
        };
        eras.push(next);
    }
    (per_event, eras)
}

fn first_era(rng: &mut Rng) -> Era {
    Era {
        build: rng.hex(8),
        release: format!("{}.{}.{}", rng.between(1, 4), rng.below(30), rng.below(10)),
        line_seed: 0,
        framework_version: 0,
        framework_mask: rng.next_u64(),
        minified: rng.chance(0.2),
        inlined: rng.chance(0.5),
        flavor: rng.next_u64(),
        source_edit: 0,
    }
}

/// A later deploy: lines move; sometimes the framework, source maps,
/// inlining or toolchain change too.
fn next_era(previous: &Era, rng: &mut Rng) -> Era {
    Era {
        build: rng.hex(8),
        release: bump(&previous.release, rng),
        line_seed: rng.next_u64() | 1,
        framework_version: previous.framework_version + u64::from(rng.chance(0.4)),
        framework_mask: if rng.chance(0.4) {
            rng.next_u64()
        } else {
            previous.framework_mask
        },
        minified: rng.chance(0.25),
        inlined: previous.inlined ^ rng.chance(0.3),
        flavor: if rng.chance(0.3) {
            rng.next_u64()
        } else {
            previous.flavor
        },
        source_edit: if rng.chance(0.3) {
            rng.next_u64() | 1
        } else {
            previous.source_edit
        },
    }
}

/// `1.4.2` → `1.5.0` (or `1.4.3`).
fn bump(release: &str, rng: &mut Rng) -> String {
    let mut parts: Vec<u64> = release.split('.').filter_map(|p| p.parse().ok()).collect();
    parts.resize(3, 0);
    match parts.as_mut_slice() {
        [major, minor, _] if rng.chance(0.5) => format!("{major}.{}.0", *minor + 1),
        [major, minor, patch] => format!("{major}.{minor}.{}", *patch + 1),
        _ => release.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_skewed_and_exact() {
        let mut rng = Rng::new(1);
        let counts = event_counts(40, 10, 1.1, &mut rng);
        assert_eq!(counts.iter().sum::<usize>(), 400);
        assert!(counts.iter().all(|&c| c >= 1));
        let biggest = counts.iter().max().copied().unwrap_or(0);
        assert!(biggest >= 50, "biggest issue has {biggest} events");
        assert!(counts.iter().filter(|&&c| c <= 5).count() >= 15);
    }

    #[test]
    fn event_times_start_at_first_seen() {
        let mut rng = Rng::new(2);
        let times = event_times(500, 20, 10_000, &mut rng);
        assert_eq!(times.first(), Some(&500));
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let (per_event, eras) = eras(20, &mut rng);
        assert_eq!(per_event.len(), 20);
        assert!(per_event.iter().all(|&e| e < eras.len()));
    }
}
