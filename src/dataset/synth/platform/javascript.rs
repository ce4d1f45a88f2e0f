//! Browser JavaScript: React and Vue apps built by webpack. Each browser
//! spells functions and messages its own way; a release whose source maps
//! were not uploaded shows minified names in one bundle without source
//! lines; Babel's async helpers and Chrome's async frames come and go.

use super::{
    DraftFrame, ExceptionKind, Framework, LibFrame, PlatformSpec, Rendered, Scene, kind, lib,
};
use crate::dataset::synth::model::Step;
use crate::dataset::synth::rng::Rng;
use crate::dataset::synth::words::{camel, pascal, plural};

pub(crate) const SPEC: PlatformSpec = PlatformSpec {
    name: "javascript",
    sdk_name: "sentry.javascript.react",
    sdk_version: "8.42.0",
    layers: [
        ("components", "form"),
        ("services", "service"),
        ("api", "client"),
        ("utils", ""),
    ],
    package_in_fingerprint: false,
    frameworks: &[
        Framework {
            frames: &[
                lib(
                    "",
                    "dispatchDiscreteEvent",
                    "react-dom/cjs/react-dom.production.min.js",
                    188,
                ),
                lib(
                    "",
                    "dispatchEvent",
                    "react-dom/cjs/react-dom.production.min.js",
                    197,
                )
                .optional(),
                lib(
                    "",
                    "batchedUpdates$1",
                    "react-dom/cjs/react-dom.production.min.js",
                    256,
                )
                .optional(),
                lib(
                    "",
                    "callCallback",
                    "react-dom/cjs/react-dom.production.min.js",
                    54,
                ),
            ],
        },
        Framework {
            frames: &[
                lib(
                    "",
                    "invoker",
                    "@vue/runtime-dom/dist/runtime-dom.esm-bundler.js",
                    699,
                ),
                lib(
                    "",
                    "callWithAsyncErrorHandling",
                    "@vue/runtime-core/dist/runtime-core.esm-bundler.js",
                    173,
                ),
                lib(
                    "",
                    "callWithErrorHandling",
                    "@vue/runtime-core/dist/runtime-core.esm-bundler.js",
                    166,
                )
                .optional(),
            ],
        },
    ],
    exceptions: EXCEPTIONS,
    render,
};

/// Message templates are ordered Chrome, Firefox, Safari.
const EXCEPTIONS: &[ExceptionKind] = &[
    kind(
        "TypeError",
        "",
        &[
            "Cannot read properties of undefined (reading '{attrCamel}')",
            "{var}.{attrCamel} is undefined",
            "undefined is not an object (evaluating '{var}.{attrCamel}')",
        ],
        "  const value = {var}.{attrCamel}.trim();",
    ),
    kind(
        "TypeError",
        "",
        &[
            "{var}.{keyCamel}.map is not a function",
            "{var}.{keyCamel}.map is not a function",
            "{var}.{keyCamel}.map is not a function. (In '{var}.{keyCamel}.map(toRow)', '{var}.{keyCamel}.map' is undefined)",
        ],
        "  return {var}.{keyCamel}.map(toRow);",
    ),
    kind(
        "RangeError",
        "",
        &["Invalid time value", "invalid date", "Invalid Date"],
        "  return format(new Date({var}.{attrCamel}), 'yyyy-MM-dd');",
    )
    .calls(&[lib("", "format", "date-fns/esm/format/index.js", 364)]),
    kind(
        "SyntaxError",
        "",
        &[
            "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
            "JSON.parse: unexpected character at line 1 column 1 of the JSON data",
            "The string did not match the expected pattern.",
        ],
        "  const data = await response.json();",
    ),
    kind(
        "ChunkLoadError",
        "",
        &[
            "Loading chunk {n} failed.\n(error: https://static.{org}.com/static/js/{n}.{ms}.chunk.js)",
        ],
        "  const Panel = await import('./{Noun}Panel');",
    ),
    kind(
        "AxiosError",
        "",
        &["Request failed with status code 5{n}"],
        "  const response = await client.get(`/{nouns}/` + id);",
    )
    .calls(&[
        lib("", "settle", "axios/lib/core/settle.js", 19),
        lib("", "onloadend", "axios/lib/adapters/xhr.js", 111),
    ]),
    kind(
        "ReferenceError",
        "",
        &[
            "{var} is not defined",
            "{var} is not defined",
            "Can't find variable: {var}",
        ],
        "  track('{noun}_viewed', {var});",
    ),
];

/// What a deploy adds to a line it touches without changing its meaning.
const COMMENTS: &[&str] = &[
    "// eslint-disable-line @typescript-eslint/no-explicit-any",
    "// eslint-disable-line no-console",
    "// prettier-ignore",
];

/// Babel's helpers around a transpiled `async` function.
const BABEL_ASYNC: &[LibFrame] = &[
    lib(
        "",
        "asyncGeneratorStep",
        "@babel/runtime/helpers/esm/asyncToGenerator.js",
        3,
    ),
    lib(
        "",
        "_next",
        "@babel/runtime/helpers/esm/asyncToGenerator.js",
        22,
    ),
];

#[derive(Clone, Copy, PartialEq)]
enum Browser {
    Chrome,
    Firefox,
    Safari,
    Edge,
}

impl Browser {
    fn random(rng: &mut Rng) -> Browser {
        match rng.below(20) {
            0..=10 => Browser::Chrome,
            11..=14 => Browser::Firefox,
            15..=17 => Browser::Safari,
            _ => Browser::Edge,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Browser::Chrome => "Chrome 126.0.0",
            Browser::Firefox => "Firefox 127.0",
            Browser::Safari => "Safari 17.5",
            Browser::Edge => "Edge 126.0.0",
        }
    }

    /// Index of this browser's message wording.
    fn wording(self) -> usize {
        match self {
            Browser::Chrome | Browser::Edge => 0,
            Browser::Firefox => 1,
            Browser::Safari => 2,
        }
    }
}

fn render(scene: &mut Scene<'_>) -> Rendered {
    let browser = Browser::random(scene.rng);
    let mut frames: Vec<DraftFrame> = scene
        .framework_frames()
        .into_iter()
        .map(|(frame, line)| library_frame(scene, frame, line))
        .collect();
    let cause = scene.cause;
    for (index, step) in cause.steps.iter().enumerate() {
        if step.is_async && index > 0 && scene.rng.chance(0.5) {
            frames.extend(
                BABEL_ASYNC
                    .iter()
                    .map(|frame| library_frame(scene, frame, frame.line)),
            );
        }
        if step.is_async && browser == Browser::Chrome && scene.rng.chance(0.3) {
            frames.push(promise_all());
        }
        frames.push(app_frame(scene, index, step, browser));
    }
    for (frame, line) in scene.library_frames() {
        frames.push(library_frame(scene, frame, line));
    }
    Rendered {
        frames,
        wording: browser.wording(),
        tags: vec![
            ("browser", browser.tag().to_string()),
            (
                "os",
                if scene.rng.chance(0.7) {
                    "Windows 10"
                } else {
                    "macOS"
                }
                .to_string(),
            ),
        ],
        transaction: Some(transaction(scene)),
    }
}

/// Chrome's `at async Promise.all (index 0)`.
fn promise_all() -> DraftFrame {
    DraftFrame {
        filename: Some("<anonymous>".into()),
        abs_path: Some("<anonymous>".into()),
        function: Some("Promise.all".into()),
        in_app: true,
        ..DraftFrame::default()
    }
}

fn bundle_url(scene: &Scene<'_>, bundle: &str) -> String {
    let hash = if bundle == "main" {
        scene.era.build.clone()
    } else {
        scene.era.build.chars().rev().collect()
    };
    format!(
        "https://static.{}.com/static/js/{bundle}.{hash}.min.js",
        scene.app.org
    )
}

fn library_frame(scene: &Scene<'_>, frame: &LibFrame, line: u64) -> DraftFrame {
    if scene.era.minified {
        let url = bundle_url(scene, "vendor");
        return DraftFrame {
            function: Some(mangle(frame.function, &scene.era.build)),
            filename: Some(url.clone()),
            abs_path: Some(url),
            lineno: Some(2),
            colno: Some(column(frame.function, &scene.era.build)),
            in_app: false,
            ..DraftFrame::default()
        };
    }
    let path = format!("./node_modules/{}", frame.file);
    DraftFrame {
        abs_path: Some(format!("webpack://{}/{path}", scene.app.domain.name)),
        filename: Some(path),
        function: Some(frame.function.to_string()),
        lineno: Some(line),
        colno: Some(column(frame.function, "") % 80 + 1),
        in_app: false,
        ..DraftFrame::default()
    }
}

fn file_name(step: &Step) -> String {
    let function = &step.function;
    if function.layer == 0 {
        format!("{}.tsx", pascal(&function.unit))
    } else {
        format!("{}.ts", camel(&function.unit))
    }
}

/// Functions as each browser prints them: Chrome and Edge qualify methods
/// (`InvoiceService.computeTax`, `Object.handleSubmit`), Firefox and Safari
/// do not.
fn function_name(step: &Step, browser: Browser) -> String {
    let name = camel(&step.function.name);
    let is_class = matches!(step.function.layer, 1 | 2);
    match browser {
        Browser::Chrome | Browser::Edge if is_class => {
            format!("{}.{name}", pascal(&step.function.unit))
        }
        Browser::Chrome if step.function.layer == 0 => format!("Object.{name}"),
        _ => name,
    }
}

fn app_frame(scene: &Scene<'_>, index: usize, step: &Step, browser: Browser) -> DraftFrame {
    let name = camel(&step.function.name);
    if scene.era.minified {
        let url = bundle_url(scene, "main");
        return DraftFrame {
            function: Some(mangle(&name, &scene.era.build)),
            filename: Some(url.clone()),
            abs_path: Some(url),
            lineno: Some(1),
            colno: Some(column(&name, &scene.era.build)),
            in_app: true,
            ..DraftFrame::default()
        };
    }
    let path = format!("./src/{}/{}", step.function.package, file_name(step));
    let context = match scene.cause.steps.get(index + 1) {
        Some(next) => call_line(step, next),
        None => scene.crash_line(),
    };
    let context = scene.source_line(index, context, COMMENTS);
    DraftFrame {
        abs_path: Some(format!("webpack://{}/{path}", scene.app.domain.name)),
        filename: Some(path),
        function: Some(function_name(step, browser)),
        lineno: Some(scene.line(index)),
        colno: Some(column(&name, "") % 60 + 3),
        context_line: Some(context),
        in_app: true,
        ..DraftFrame::default()
    }
}

/// `  const tax = await invoiceService.computeTax(invoice);`
fn call_line(caller: &Step, callee: &Step) -> String {
    let name = camel(&callee.function.name);
    let target = if caller.function.unit == callee.function.unit {
        format!("this.{name}")
    } else {
        format!("{}.{name}", camel(&callee.function.unit))
    };
    let result = callee.function.name.last().cloned().unwrap_or_default();
    let argument = caller.function.unit.first().cloned().unwrap_or_default();
    let wait = if callee.is_async { "await " } else { "" };
    format!("  const {result} = {wait}{target}({argument});")
}

/// What a minifier turns a name into in one build: `n`, `Xe` or `a.b`.
fn mangle(name: &str, build: &str) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let hash = fnv(name, build);
    let letter = |shift: u32| {
        let index = ((hash >> shift) % LETTERS.len() as u64) as usize;
        LETTERS.get(index).map_or('n', |&b| char::from(b))
    };
    match hash % 3 {
        0 => letter(8).to_ascii_lowercase().to_string(),
        1 => format!(
            "{}{}",
            letter(8).to_ascii_uppercase(),
            letter(16).to_ascii_lowercase()
        ),
        _ => format!(
            "{}.{}",
            letter(8).to_ascii_lowercase(),
            letter(16).to_ascii_lowercase()
        ),
    }
}

fn column(name: &str, build: &str) -> u64 {
    fnv(name, build) % 60_000 + 1
}

/// FNV-1a over both strings: stable per name and build.
fn fnv(name: &str, build: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes().chain([0]).chain(build.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn transaction(scene: &Scene<'_>) -> String {
    let noun = scene
        .cause
        .steps
        .first()
        .and_then(|s| s.function.unit.first().cloned())
        .unwrap_or_default();
    format!("/{}/:id", plural(&noun))
}
