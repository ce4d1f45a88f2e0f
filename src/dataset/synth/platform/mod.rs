//! What each platform looks like: how it names and prints frames, its
//! frameworks, its exceptions, and the variations its events go through.

mod csharp;
mod go;
mod java;
mod javascript;
mod native;
mod python;
mod ruby;

use super::Platform;
use super::model::{App, RootCause};
use super::rng::Rng;
use super::timeline::Era;
use super::words::{camel, pascal, plural, split};
use serde_json::{Map, Value, json};

/// Static knowledge about one platform.
pub(crate) struct PlatformSpec {
    pub name: &'static str,
    pub sdk_name: &'static str,
    pub sdk_version: &'static str,
    /// Package and unit suffix of each layer (entry, service, data, helper).
    pub layers: [(&'static str, &'static str); 4],
    /// Whether a frame's package reaches its fingerprint (through `module`).
    pub package_in_fingerprint: bool,
    pub frameworks: &'static [Framework],
    pub exceptions: &'static [ExceptionKind],
    pub render: fn(&mut Scene<'_>) -> Rendered,
}

pub(crate) fn spec(platform: Platform) -> &'static PlatformSpec {
    match platform {
        Platform::Python => &python::SPEC,
        Platform::Java => &java::SPEC,
        Platform::JavaScript => &javascript::SPEC,
        Platform::Go => &go::SPEC,
        Platform::Ruby => &ruby::SPEC,
        Platform::CSharp => &csharp::SPEC,
        Platform::Native => &native::SPEC,
    }
}

/// A framework's frames below the application, oldest first.
pub(crate) struct Framework {
    pub frames: &'static [LibFrame],
}

/// A frame of code the application does not own.
pub(crate) struct LibFrame {
    pub module: &'static str,
    pub function: &'static str,
    /// Path relative to the library root (or the whole path where noted).
    pub file: &'static str,
    pub line: u64,
    /// Source line; empty when the SDK sends none.
    pub context: &'static str,
    /// Middleware and the like that some deploys have and others do not.
    pub optional: bool,
}

/// A library frame.
pub(crate) const fn lib(
    module: &'static str,
    function: &'static str,
    file: &'static str,
    line: u64,
) -> LibFrame {
    LibFrame {
        module,
        function,
        file,
        line,
        context: "",
        optional: false,
    }
}

impl LibFrame {
    pub(crate) const fn src(mut self, context: &'static str) -> Self {
        self.context = context;
        self
    }

    pub(crate) const fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

/// An exception type, its message templates and the line that raises it.
pub(crate) struct ExceptionKind {
    pub ty: &'static str,
    /// Module (Python, JVM namespace); empty when not sent.
    pub module: &'static str,
    /// Message templates: the first is the usual wording, the others are
    /// what other runtime versions or browsers say.
    pub values: &'static [&'static str],
    /// The crashing source line (template), for platforms with context.
    pub crash: &'static str,
    /// Library frames the crashing app frame called into, oldest first.
    pub library: &'static [LibFrame],
    /// The type is made up by the SDK (signals): it does not group.
    pub synthetic: bool,
    pub mechanism: &'static str,
}

/// An exception kind (builder for the static tables).
pub(crate) const fn kind(
    ty: &'static str,
    module: &'static str,
    values: &'static [&'static str],
    crash: &'static str,
) -> ExceptionKind {
    ExceptionKind {
        ty,
        module,
        values,
        crash,
        library: &[],
        synthetic: false,
        mechanism: "generic",
    }
}

impl ExceptionKind {
    pub(crate) const fn calls(mut self, library: &'static [LibFrame]) -> Self {
        self.library = library;
        self
    }

    pub(crate) const fn signal(mut self) -> Self {
        self.synthetic = true;
        self.mechanism = "signalhandler";
        self
    }
}

/// Values that change from one event to the next.
#[derive(Debug, Clone)]
pub(crate) struct Values {
    pub id: u64,
    pub n: u64,
    pub m: u64,
    pub word: &'static str,
    pub host: &'static str,
    pub uuid: String,
    pub ms: u64,
}

impl Values {
    pub(crate) fn random(rng: &mut Rng) -> Values {
        let n = rng.between(0, 40);
        Values {
            id: rng.between(1, 9_999_999),
            n,
            m: n + rng.between(1, 60),
            word: rng.word(super::words::BAD_INPUTS, "abc"),
            host: rng.word(super::words::HOSTS, "db-1.internal"),
            uuid: format!(
                "{}-{}-4{}-a{}-{}",
                rng.hex(8),
                rng.hex(4),
                rng.hex(3),
                rng.hex(3),
                rng.hex(12)
            ),
            ms: rng.between(1_000, 30_000),
        }
    }
}

/// Everything rendering one event needs.
pub(crate) struct Scene<'a> {
    pub spec: &'static PlatformSpec,
    pub app: &'a App,
    pub cause: &'a RootCause,
    pub era: &'a Era,
    pub values: &'a Values,
    pub rng: &'a mut Rng,
}

/// A platform's rendering of one event.
pub(crate) struct Rendered {
    /// Oldest first, crashing frame last (library frames after it).
    pub frames: Vec<DraftFrame>,
    /// Which of the exception kind's message templates to use.
    pub wording: usize,
    pub tags: Vec<(&'static str, String)>,
    pub transaction: Option<String>,
}

/// A frame before it becomes JSON; absent fields are left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct DraftFrame {
    pub filename: Option<String>,
    pub abs_path: Option<String>,
    pub module: Option<String>,
    pub function: Option<String>,
    pub package: Option<String>,
    pub lineno: Option<u64>,
    pub colno: Option<u64>,
    pub context_line: Option<String>,
    pub in_app: bool,
    pub instruction_addr: Option<String>,
}

impl DraftFrame {
    pub(crate) fn to_json(&self) -> Value {
        let mut frame = Map::new();
        let strings = [
            ("filename", &self.filename),
            ("abs_path", &self.abs_path),
            ("module", &self.module),
            ("function", &self.function),
            ("package", &self.package),
            ("context_line", &self.context_line),
            ("instruction_addr", &self.instruction_addr),
        ];
        for (key, value) in strings {
            if let Some(value) = value {
                frame.insert(key.into(), json!(value));
            }
        }
        for (key, value) in [("lineno", self.lineno), ("colno", self.colno)] {
            if let Some(value) = value {
                frame.insert(key.into(), json!(value));
            }
        }
        frame.insert("in_app".into(), json!(self.in_app));
        Value::Object(frame)
    }
}

impl Scene<'_> {
    pub(crate) fn kind(&self) -> &'static ExceptionKind {
        let kinds = self.spec.exceptions;
        kinds
            .get(self.cause.exception)
            .or_else(|| kinds.first())
            .unwrap_or(&FALLBACK_KIND)
    }

    pub(crate) fn framework(&self) -> &'static Framework {
        self.spec
            .frameworks
            .get(self.app.framework)
            .unwrap_or(&NO_FRAMEWORK)
    }

    /// The line of step `index` in this event's release.
    pub(crate) fn line(&self, index: usize) -> u64 {
        let base = self.cause.steps.get(index).map_or(1, |s| s.line);
        base + self.era.line_shift(index)
    }

    /// The framework frames this event shows, with their lines: optional
    /// frames follow the deploy, and now and then one is missing or added
    /// (a middleware switched per request).
    pub(crate) fn framework_frames(&mut self) -> Vec<(&'static LibFrame, u64)> {
        let mut out = Vec::new();
        for (i, frame) in self.framework().frames.iter().enumerate() {
            let mut present = !frame.optional || (self.era.framework_mask >> (i % 64)) & 1 == 1;
            if frame.optional && self.rng.chance(0.1) {
                present = !present;
            }
            if present {
                out.push((frame, self.library_line(frame, i)));
            }
        }
        out
    }

    /// A library frame's line in this event's framework version.
    pub(crate) fn library_line(&self, frame: &LibFrame, index: usize) -> u64 {
        let version = self.era.framework_version;
        if version == 0 {
            return frame.line;
        }
        let moved = Rng::new(version ^ ((index as u64) << 8)).next_u64() % 60;
        frame.line + moved
    }

    /// The exception kind's library frames with their lines.
    pub(crate) fn library_frames(&self) -> Vec<(&'static LibFrame, u64)> {
        self.kind()
            .library
            .iter()
            .enumerate()
            .map(|(i, frame)| (frame, self.library_line(frame, i + 100)))
            .collect()
    }

    /// Step `index`'s source line as this deploy has it: a line a deploy
    /// touched without changing what it does carries one of `comments`.
    /// Where source lines reach the fingerprint, that alone splits the issue.
    pub(crate) fn source_line(&self, index: usize, line: String, comments: &[&str]) -> String {
        if !self.era.edited(index) {
            return line;
        }
        let pick = (self.era.source_edit >> 8) as usize % comments.len().max(1);
        match comments.get(pick) {
            Some(comment) => format!("{line}  {comment}"),
            None => line,
        }
    }

    /// The crashing line with the root cause's names filled in.
    pub(crate) fn crash_line(&self) -> String {
        self.fill(self.kind().crash)
    }

    /// Fills `{name}` placeholders; unknown names stay as written, so
    /// braces of the target language pass through.
    pub(crate) fn fill(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let (before, from_brace) = rest.split_at(open);
            out.push_str(before);
            let name_len = from_brace[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(from_brace.len() - 1);
            let name = &from_brace[1..1 + name_len];
            let closes = from_brace[1 + name_len..].starts_with('}');
            match self.placeholder(name).filter(|_| closes) {
                Some(value) => {
                    out.push_str(&value);
                    rest = &from_brace[name_len + 2..];
                }
                None => {
                    out.push('{');
                    rest = &from_brace[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn placeholder(&self, name: &str) -> Option<String> {
        let subject = &self.cause.subject;
        let values = self.values;
        let attr = split(&subject.attr);
        let noun = split(&subject.noun);
        Some(match name {
            "noun" | "var" => subject.noun.clone(),
            "Noun" => pascal(&noun),
            "nouns" => plural(&subject.noun),
            "attr" => subject.attr.clone(),
            "attrCamel" => camel(&attr),
            "Attr" => pascal(&attr),
            "attr_words" => attr.join(" "),
            "key" => subject.key.clone(),
            "keyCamel" => camel(&split(&subject.key)),
            "app" => self.app.domain.name.to_string(),
            "App" => pascal(&split(self.app.domain.name)),
            "org" => self.app.org.to_string(),
            "id" => values.id.to_string(),
            "n" => values.n.to_string(),
            "m" => values.m.to_string(),
            "word" => values.word.to_string(),
            "host" => values.host.to_string(),
            "uuid" => values.uuid.clone(),
            "ms" => values.ms.to_string(),
            _ => return None,
        })
    }
}

const FALLBACK_KIND: ExceptionKind = kind("Error", "", &["error"], "");
const NO_FRAMEWORK: Framework = Framework { frames: &[] };

/// The message for this event: the platform's wording, and now and then
/// another wording of the same error (a runtime upgrade, a reworded raise).
pub(crate) fn message(scene: &mut Scene<'_>, wording: usize) -> String {
    let values = scene.kind().values;
    let mut index = wording.min(values.len().saturating_sub(1));
    if values.len() > 1 && scene.rng.chance(0.1) {
        index = scene.rng.index(values.len());
    }
    let template = values.get(index).copied().unwrap_or("");
    scene.fill(template)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::synth::model::{App, RootCause};
    use crate::dataset::synth::timeline::eras;
    use std::collections::HashSet;

    /// A crashing line is the same source line in every event of an issue;
    /// a per-event value in it would split the issue for platforms whose
    /// source lines reach the fingerprint.
    #[test]
    fn crash_lines_use_only_names_fixed_per_issue() {
        let per_event = ["{id}", "{n}", "{m}", "{word}", "{host}", "{uuid}", "{ms}"];
        for platform in Platform::ALL {
            for kind in spec(platform).exceptions {
                for name in per_event {
                    assert!(
                        !kind.crash.contains(name),
                        "{platform} {}: {name} in {:?}",
                        kind.ty,
                        kind.crash
                    );
                }
            }
        }
    }

    #[test]
    fn fill_replaces_known_names_and_keeps_other_braces() {
        let mut rng = Rng::new(9);
        let spec = spec(Platform::Python);
        let app = App::new(spec, 1, &mut rng);
        let cause = RootCause::fresh(spec, &app, &mut HashSet::new(), &mut rng);
        let (_, eras) = eras(1, &mut rng);
        let values = Values::random(&mut rng);
        let Some(era) = eras.first() else {
            panic!("one era");
        };
        let scene = Scene {
            spec,
            app: &app,
            cause: &cause,
            era,
            values: &values,
            rng: &mut rng,
        };
        let filled = scene.fill("{ data } {id}{x} {Noun}{");
        assert!(filled.starts_with("{ data } "), "{filled}");
        assert!(filled.contains("{x}"), "{filled}");
        assert!(filled.ends_with('{'), "{filled}");
        assert!(!filled.contains("{id}") && !filled.contains("{Noun}"));
    }
}
