//! The language-neutral model of what breaks: applications made of
//! functions, root causes (a call path plus an exception kind), the hard
//! negatives derived from a root cause, and the refactors applied to one.

use super::platform::PlatformSpec;
use super::rng::Rng;
use super::words::{
    DOMAINS, Domain, MOVED_PACKAGES, ORGS, RENAME_SUFFIXES, SYNONYMS, VERBS, plural, split,
};
use std::collections::HashSet;

/// Layers of an application, caller to callee: entry points, services,
/// data access and clients, helpers.
pub(crate) const LAYERS: usize = 4;

/// One in-app function. Words are lowercase; each platform cases them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Function {
    pub layer: usize,
    /// Package, namespace or directory.
    pub package: String,
    /// Class, module or file name.
    pub unit: Vec<String>,
    pub name: Vec<String>,
}

/// One application: a project's code base on one platform.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub org: &'static str,
    pub domain: &'static Domain,
    /// Index into the platform's frameworks.
    pub framework: usize,
    pub functions: Vec<Function>,
}

impl App {
    pub(crate) fn new(spec: &PlatformSpec, project: u64, rng: &mut Rng) -> App {
        let org = ORGS
            .get((project.saturating_sub(1) % ORGS.len() as u64) as usize)
            .copied()
            .unwrap_or("acme");
        let domain = rng.pick(DOMAINS).unwrap_or(&DOMAINS[0]);
        let framework = rng.index(spec.frameworks.len());
        let mut functions = Vec::new();
        for layer in 0..LAYERS {
            functions.extend(layer_functions(spec, domain, layer, rng));
        }
        App {
            org,
            domain,
            framework,
            functions,
        }
    }

    fn functions_in(&self, layer: usize) -> Vec<&Function> {
        self.functions.iter().filter(|f| f.layer == layer).collect()
    }
}

/// Three units per layer with three or four functions each.
fn layer_functions(
    spec: &PlatformSpec,
    domain: &Domain,
    layer: usize,
    rng: &mut Rng,
) -> Vec<Function> {
    let (package, suffix) = spec.layers.get(layer).copied().unwrap_or(("lib", ""));
    let verbs = VERBS.get(layer).copied().unwrap_or(&[]);
    let mut nouns: Vec<&str> = domain.nouns.to_vec();
    rng.shuffle(&mut nouns);
    let mut out = Vec::new();
    for noun in nouns.iter().take(3) {
        let mut unit = vec![(*noun).to_string()];
        unit.extend(split(suffix));
        let mut seen = HashSet::new();
        for _ in 0..rng.between(3, 4) {
            let name = function_name(verbs, noun, domain, rng);
            if seen.insert(name.clone()) {
                out.push(Function {
                    layer,
                    package: package.to_string(),
                    unit: unit.clone(),
                    name,
                });
            }
        }
    }
    out
}

/// `verb noun`, `verb attribute` or `verb noun s`.
fn function_name(verbs: &[&str], noun: &str, domain: &Domain, rng: &mut Rng) -> Vec<String> {
    let verb = rng.word(verbs, "run").to_string();
    let object = match rng.below(3) {
        0 => split(noun),
        1 => split(rng.word(domain.attributes, noun)),
        _ => vec![plural(noun)],
    };
    std::iter::once(verb).chain(object).collect()
}

/// How a call reaches a step: directly, through a generated proxy, or from
/// a lambda inside the caller (JVM decorations; other platforms ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Direct,
    Proxy,
    Lambda,
}

/// One in-app frame of a root cause's call path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub function: Function,
    /// Line in the first release.
    pub line: u64,
    pub via: Via,
    pub is_async: bool,
    /// Ruby: the call to the next step is inside a block.
    pub block: bool,
    /// Native and Go: the frame disappears in builds that inline it.
    pub inlinable: bool,
    /// Which argument list a native or C# signature shows.
    pub args: usize,
}

/// Names a root cause's message and crash line refer to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subject {
    pub noun: String,
    pub attr: String,
    pub key: String,
}

/// A true issue: where it crashes, how it got there, and what it raises.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RootCause {
    /// Oldest (entry) first; the last step is the crashing frame.
    pub steps: Vec<Step>,
    /// Index into the platform's exception kinds.
    pub exception: usize,
    pub subject: Subject,
}

impl RootCause {
    /// A fresh root cause with a path not used before in `taken`.
    pub(crate) fn fresh(
        spec: &PlatformSpec,
        app: &App,
        taken: &mut HashSet<(Vec<Function>, usize)>,
        rng: &mut Rng,
    ) -> RootCause {
        let mut cause = RootCause::random(spec, app, rng);
        // A few retries make collisions (two issues, one fingerprint) rare;
        // a collision left over is still two distinct labels.
        for _ in 0..8 {
            if taken.insert(cause.signature(spec)) {
                break;
            }
            cause = RootCause::random(spec, app, rng);
        }
        cause
    }

    fn random(spec: &PlatformSpec, app: &App, rng: &mut Rng) -> RootCause {
        let length = rng.between(2, 5) as usize;
        let mut steps: Vec<Step> = Vec::new();
        let mut layer = 0;
        while steps.len() < length {
            let used: Vec<&Function> = steps.iter().map(|s| &s.function).collect();
            let candidates: Vec<&Function> = app
                .functions_in(layer)
                .into_iter()
                .filter(|f| !used.contains(f))
                .collect();
            let Some(function) = rng.pick(&candidates) else {
                break;
            };
            steps.push(Step::new((*function).clone(), rng));
            // Mostly one layer deeper per call, sometimes a call within a layer.
            if layer + 1 < LAYERS && rng.chance(0.75) {
                layer += 1;
            }
        }
        let exception = rng.index(spec.exceptions.len());
        let subject = Subject::random(app, steps.last(), rng);
        RootCause {
            steps,
            exception,
            subject,
        }
    }

    /// What must differ between two issues for fingerprinting to tell them
    /// apart: the path and the exception, where all synthetic (signal)
    /// types count as one since their type does not reach the fingerprint.
    fn signature(&self, spec: &PlatformSpec) -> (Vec<Function>, usize) {
        let path = self.steps.iter().map(|s| s.function.clone()).collect();
        let synthetic = spec
            .exceptions
            .get(self.exception)
            .is_some_and(|kind| kind.synthetic);
        (
            path,
            if synthetic {
                usize::MAX
            } else {
                self.exception
            },
        )
    }

    /// A hard negative: the same path raising another exception type, or a
    /// path that ends in a different crashing frame; like [`Self::fresh`],
    /// it avoids paths already `taken` by other issues.
    pub(crate) fn hard_negative(
        &self,
        spec: &PlatformSpec,
        app: &App,
        taken: &mut HashSet<(Vec<Function>, usize)>,
        rng: &mut Rng,
    ) -> Self {
        let mut cause = self.alike(spec, app, rng);
        for _ in 0..8 {
            if taken.insert(cause.signature(spec)) {
                break;
            }
            cause = self.alike(spec, app, rng);
        }
        cause
    }

    fn alike(&self, spec: &PlatformSpec, app: &App, rng: &mut Rng) -> Self {
        let other_type = rng
            .chance(0.5)
            .then(|| self.other_exception(spec, rng))
            .flatten();
        match other_type {
            Some(exception) => RootCause {
                exception,
                ..self.clone()
            },
            None => self.other_crash_frame(spec, app, rng),
        }
    }

    /// Another non-synthetic exception kind with a different type. Synthetic
    /// types (signals) do not reach the fingerprint, so they cannot make a
    /// different issue on their own.
    fn other_exception(&self, spec: &PlatformSpec, rng: &mut Rng) -> Option<usize> {
        let current = spec.exceptions.get(self.exception)?;
        if current.synthetic {
            return None;
        }
        let others: Vec<usize> = spec
            .exceptions
            .iter()
            .enumerate()
            .filter(|(_, kind)| !kind.synthetic && kind.ty != current.ty)
            .map(|(i, _)| i)
            .collect();
        rng.pick(&others).copied()
    }

    /// Replaces the crashing step with a sibling function, or calls one
    /// level deeper and crashes there.
    fn other_crash_frame(&self, spec: &PlatformSpec, app: &App, rng: &mut Rng) -> Self {
        let mut cause = self.clone();
        let used: Vec<Function> = self.steps.iter().map(|s| s.function.clone()).collect();
        let last_layer = self.steps.last().map_or(0, |s| s.function.layer);
        let deeper = (last_layer + 1).min(LAYERS - 1);
        let layer = if rng.chance(0.5) { last_layer } else { deeper };
        let candidates: Vec<&Function> = app
            .functions_in(layer)
            .into_iter()
            .filter(|f| !used.contains(f))
            .collect();
        if let Some(function) = rng.pick(&candidates) {
            let step = Step::new((*function).clone(), rng);
            if layer == last_layer && cause.steps.len() > 1 {
                cause.steps.pop();
            }
            cause.steps.push(step);
        }
        if rng.chance(0.5) {
            cause.exception = rng.index(spec.exceptions.len());
        }
        cause.subject = Subject::random(app, cause.steps.last(), rng);
        if cause.signature(spec) == self.signature(spec) {
            // No unused function was left: differ by exception type instead.
            cause.exception = self
                .other_exception(spec, rng)
                .unwrap_or((self.exception + 1) % spec.exceptions.len().max(1));
        }
        cause
    }

    /// The same issue after a refactor: one function renamed, or one file
    /// moved to another package. Fingerprinting splits the issue; the AI
    /// fallback should put it back together.
    pub(crate) fn refactored(&self, spec: &PlatformSpec, rng: &mut Rng) -> Self {
        let mut cause = self.clone();
        let index = rng.index(cause.steps.len());
        let Some(target) = cause.steps.get(index).map(|s| s.function.clone()) else {
            return cause;
        };
        if rng.chance(0.6) {
            let renamed = rename(&target.name, rng);
            for step in cause.steps.iter_mut().filter(|s| s.function == target) {
                step.function.name.clone_from(&renamed);
            }
        } else {
            let package = moved_package(&target.package, rng);
            for step in &mut cause.steps {
                let function = &mut step.function;
                if function.package == target.package && function.unit == target.unit {
                    function.package.clone_from(&package);
                    // Where only a file's base name reaches the fingerprint,
                    // a move that keeps the name would not split anything.
                    if !spec.package_in_fingerprint {
                        pluralize(&mut function.unit);
                    }
                }
            }
        }
        cause
    }
}

impl Step {
    fn new(function: Function, rng: &mut Rng) -> Step {
        let via = match rng.below(6) {
            0 => Via::Proxy,
            1 => Via::Lambda,
            _ => Via::Direct,
        };
        Step {
            line: rng.between(12, 420),
            via,
            is_async: rng.chance(0.4),
            block: rng.chance(0.25),
            inlinable: function.layer >= 2 && rng.chance(0.5),
            args: rng.index(4),
            function,
        }
    }
}

impl Subject {
    fn random(app: &App, crash: Option<&Step>, rng: &mut Rng) -> Subject {
        let noun = crash
            .and_then(|s| s.function.unit.first().cloned())
            .unwrap_or_else(|| rng.word(app.domain.nouns, "item").to_string());
        Subject {
            noun,
            attr: rng.word(app.domain.attributes, "id").to_string(),
            key: rng.word(app.domain.attributes, "id").to_string(),
        }
    }
}

/// A synonym for the verb, or the name with a suffix word.
fn rename(name: &[String], rng: &mut Rng) -> Vec<String> {
    let mut renamed = name.to_vec();
    let synonym = name
        .first()
        .and_then(|verb| SYNONYMS.iter().find(|(from, _)| from == verb))
        .map(|(_, to)| *to);
    match (synonym, renamed.first_mut()) {
        (Some(to), Some(verb)) if rng.chance(0.7) => *verb = to.to_string(),
        _ => renamed.push(rng.word(RENAME_SUFFIXES, "v2").to_string()),
    }
    renamed
}

fn moved_package(current: &str, rng: &mut Rng) -> String {
    let others: Vec<&str> = MOVED_PACKAGES
        .iter()
        .copied()
        .filter(|p| *p != current)
        .collect();
    rng.word(&others, "core").to_string()
}

fn pluralize(unit: &mut [String]) {
    if let Some(first) = unit.first_mut() {
        *first = plural(first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_changes_the_name() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let name = split("compute_tax");
            assert_ne!(rename(&name, &mut rng), name);
        }
    }
}
