//! Go: net/http services and worker pools reporting panics recovered by
//! sentry-go. Closures are numbered in source order, so adding one
//! renumbers the others.

use super::{
    DraftFrame, ExceptionKind, Framework, LibFrame, PlatformSpec, Rendered, Scene, kind, lib,
};
use crate::dataset::synth::model::Step;
use crate::dataset::synth::words::{camel, pascal, snake};

/// Index of the web framework in `SPEC.frameworks` (the other is a worker).
const NET_HTTP: usize = 0;

pub(crate) const SPEC: PlatformSpec = PlatformSpec {
    name: "go",
    sdk_name: "sentry.go",
    sdk_version: "0.28.1",
    layers: [
        ("handler", ""),
        ("service", ""),
        ("store", ""),
        ("util", ""),
    ],
    package_in_fingerprint: true,
    frameworks: &[
        Framework {
            frames: &[
                lib("runtime", "goexit", "runtime/asm_amd64.s", 1695),
                lib("net/http", "(*conn).serve", "net/http/server.go", 2092),
                lib(
                    "net/http",
                    "serverHandler.ServeHTTP",
                    "net/http/server.go",
                    3142,
                ),
                lib(
                    "github.com/go-chi/chi/v5",
                    "(*Mux).ServeHTTP",
                    "github.com/go-chi/chi/v5@v5.0.12/mux.go",
                    90,
                ),
                lib(
                    "github.com/go-chi/chi/v5/middleware",
                    "Recoverer.func1",
                    "github.com/go-chi/chi/v5@v5.0.12/middleware/recoverer.go",
                    45,
                )
                .optional(),
                lib(
                    "github.com/go-chi/chi/v5/middleware",
                    "RequestID.func1",
                    "github.com/go-chi/chi/v5@v5.0.12/middleware/request_id.go",
                    76,
                )
                .optional(),
                lib(
                    "net/http",
                    "HandlerFunc.ServeHTTP",
                    "net/http/server.go",
                    2171,
                ),
            ],
        },
        Framework {
            frames: &[
                lib("runtime", "goexit", "runtime/asm_amd64.s", 1695),
                lib(
                    "golang.org/x/sync/errgroup",
                    "(*Group).Go.func1",
                    "golang.org/x/sync@v0.7.0/errgroup/errgroup.go",
                    78,
                ),
            ],
        },
    ],
    exceptions: EXCEPTIONS,
    render,
};

/// Runtime frames between a panicking line and the panic.
const INDEX_PANIC: &[LibFrame] = &[
    lib("runtime", "goPanicIndex", "runtime/panic.go", 114),
    lib("runtime", "gopanic", "runtime/panic.go", 770),
];
const NIL_PANIC: &[LibFrame] = &[
    lib("runtime", "sigpanic", "runtime/signal_unix.go", 917),
    lib("runtime", "panicmem", "runtime/panic.go", 261),
    lib("runtime", "gopanic", "runtime/panic.go", 770),
];
const MAP_PANIC: &[LibFrame] = &[
    lib(
        "runtime",
        "mapassign_faststr",
        "runtime/map_faststr.go",
        224,
    ),
    lib("runtime", "gopanic", "runtime/panic.go", 770),
];

const EXCEPTIONS: &[ExceptionKind] = &[
    kind(
        "runtime.boundsError",
        "",
        &["runtime error: index out of range [{m}] with length {n}"],
        "\t{var} := {nouns}[idx]",
    )
    .calls(INDEX_PANIC),
    kind(
        "runtime.errorString",
        "",
        &["runtime error: invalid memory address or nil pointer dereference"],
        "\treturn {var}.{Attr}.String()",
    )
    .calls(NIL_PANIC),
    kind(
        "runtime.plainError",
        "",
        &["assignment to entry in nil map"],
        "\t{var}.{Attr}[key] = value",
    )
    .calls(MAP_PANIC),
    kind(
        "*fmt.wrapError",
        "",
        &[
            "load {noun} {id}: context deadline exceeded",
            "load {noun} {id}: dial tcp {host}:5432: i/o timeout",
        ],
        "\t\treturn nil, fmt.Errorf(\"load {noun} %d: %w\", id, err)",
    ),
    kind(
        "*pq.Error",
        "",
        &["pq: duplicate key value violates unique constraint \"{nouns}_{key}_key\""],
        "\tif _, err := tx.ExecContext(ctx, insert{Noun}, args...); err != nil {",
    ),
    kind(
        "*json.SyntaxError",
        "",
        &["invalid character '<' looking for beginning of value"],
        "\tif err := json.Unmarshal(body, &{var}); err != nil {",
    ),
];

fn render(scene: &mut Scene<'_>) -> Rendered {
    let mut frames: Vec<DraftFrame> = scene
        .framework_frames()
        .into_iter()
        .map(|(frame, line)| library_frame(frame, line))
        .collect();
    let cause = scene.cause;
    for (index, step) in cause.steps.iter().enumerate() {
        frames.push(app_frame(scene, index, step));
        if step.block && index + 1 < cause.steps.len() {
            frames.push(closure_frame(scene, index, step));
        }
    }
    for (frame, line) in scene.library_frames() {
        frames.push(library_frame(frame, line));
    }
    Rendered {
        frames,
        wording: 0,
        tags: vec![(
            "goroutine",
            if scene.app.framework == NET_HTTP {
                "http"
            } else {
                "worker"
            }
            .into(),
        )],
        transaction: None,
    }
}

fn library_frame(frame: &LibFrame, line: u64) -> DraftFrame {
    let root = if frame.file.starts_with("github.com") || frame.file.starts_with("golang.org") {
        "/root/go/pkg/mod"
    } else {
        "/usr/local/go/src"
    };
    DraftFrame {
        module: Some(frame.module.to_string()),
        function: Some(frame.function.to_string()),
        filename: frame.file.rsplit('/').next().map(str::to_string),
        abs_path: Some(format!("{root}/{}", frame.file)),
        lineno: Some(line),
        in_app: false,
        ..DraftFrame::default()
    }
}

fn module(scene: &Scene<'_>, step: &Step) -> String {
    format!(
        "github.com/{}/{}/internal/{}",
        scene.app.org, scene.app.domain.name, step.function.package
    )
}

/// Services hang their functions off a type: `(*InvoiceService).ComputeTax`.
fn function_name(step: &Step) -> String {
    let function = &step.function;
    match function.layer {
        1 | 2 => format!("(*{}).{}", pascal(&function.unit), pascal(&function.name)),
        3 => camel(&function.name),
        _ => pascal(&function.name),
    }
}

fn app_frame(scene: &Scene<'_>, index: usize, step: &Step) -> DraftFrame {
    let file = format!(
        "internal/{}/{}.go",
        step.function.package,
        snake(&step.function.unit)
    );
    let context = match scene.cause.steps.get(index + 1) {
        Some(next) => call_line(next),
        None => scene.crash_line(),
    };
    // Go source lines do not reach the fingerprint; edits are only realism.
    let context = scene.source_line(
        index,
        context,
        &["//nolint:errcheck", "// TODO: wrap error"],
    );
    DraftFrame {
        module: Some(module(scene, step)),
        function: Some(function_name(step)),
        abs_path: Some(format!("/home/build/{}/{file}", scene.app.domain.name)),
        filename: Some(file),
        lineno: Some(scene.line(index)),
        context_line: Some(context),
        in_app: true,
        ..DraftFrame::default()
    }
}

/// The closure a step runs its callee in (`ComputeTax.func2`); its number
/// depends on how many closures the function has in this release.
fn closure_frame(scene: &Scene<'_>, index: usize, step: &Step) -> DraftFrame {
    let number = 1 + scene.era.variant(2, 3);
    let mut frame = app_frame(scene, index, step);
    frame.function = Some(format!("{}.func{number}", function_name(step)));
    frame.lineno = frame.lineno.map(|line| line + 3);
    frame
}

/// `\ttax, err := s.taxes.ComputeTax(ctx, invoice)`
fn call_line(callee: &Step) -> String {
    let function = &callee.function;
    let result = function.name.last().cloned().unwrap_or_default();
    let argument = function.unit.first().cloned().unwrap_or_default();
    format!(
        "\t{result}, err := s.{}.{}(ctx, {argument})",
        camel(&function.unit),
        pascal(&function.name)
    )
}
