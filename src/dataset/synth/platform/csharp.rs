//! C#: ASP.NET Core controllers and hosted workers. Awaited calls leave
//! `ExceptionDispatchInfo` / `TaskAwaiter` frames whose shape depends on
//! the .NET version; without portable PDBs async methods show as their
//! state machines' `MoveNext`. The SDK sends no source lines.

use super::{
    DraftFrame, ExceptionKind, Framework, LibFrame, PlatformSpec, Rendered, Scene, kind, lib,
};
use crate::dataset::synth::model::Step;
use crate::dataset::synth::words::{capitalize, pascal, plural, split};

/// Index of the web framework in `SPEC.frameworks` (the other is a worker).
const ASPNET: usize = 0;

pub(crate) const SPEC: PlatformSpec = PlatformSpec {
    name: "csharp",
    sdk_name: "sentry.dotnet.aspnetcore",
    sdk_version: "4.10.2",
    layers: [
        ("Controllers", "controller"),
        ("Services", "service"),
        ("Repositories", "repository"),
        ("Helpers", "helper"),
    ],
    package_in_fingerprint: true,
    frameworks: &[
        Framework {
            frames: &[
                lib(
                    "Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.HttpProtocol",
                    "ProcessRequests",
                    "",
                    0,
                ),
                lib(
                    "Microsoft.AspNetCore.Routing.EndpointMiddleware",
                    "Invoke",
                    "",
                    0,
                )
                .optional(),
                lib(
                    "Microsoft.AspNetCore.Mvc.Infrastructure.ResourceInvoker",
                    "InvokeFilterPipelineAsync",
                    "",
                    0,
                )
                .optional(),
                lib(
                    "Microsoft.AspNetCore.Mvc.Infrastructure.ControllerActionInvoker",
                    "InvokeActionMethodAsync",
                    "",
                    0,
                ),
                lib(
                    "Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor+TaskOfIActionResultExecutor",
                    "Execute",
                    "",
                    0,
                ),
            ],
        },
        Framework {
            frames: &[
                lib("System.Threading.ExecutionContext", "RunInternal", "", 0),
                lib(
                    "Microsoft.Extensions.Hosting.Internal.Host",
                    "TryExecuteBackgroundServiceAsync",
                    "",
                    0,
                )
                .optional(),
                lib(
                    "Microsoft.Extensions.Hosting.BackgroundService",
                    "ExecuteAsync",
                    "",
                    0,
                ),
            ],
        },
    ],
    exceptions: EXCEPTIONS,
    render,
};

const EXCEPTIONS: &[ExceptionKind] = &[
    kind(
        "NullReferenceException",
        "System.Private.CoreLib",
        &["Object reference not set to an instance of an object."],
        "",
    ),
    kind(
        "InvalidOperationException",
        "System.Private.CoreLib",
        &["Sequence contains no elements"],
        "",
    )
    .calls(&[
        lib("System.Linq.Enumerable", "First", "", 0),
        lib("System.Linq.ThrowHelper", "ThrowNoElementsException", "", 0),
    ]),
    kind(
        "ArgumentNullException",
        "System.Private.CoreLib",
        &["Value cannot be null. (Parameter '{attrCamel}')"],
        "",
    )
    .calls(&[
        lib("System.ArgumentNullException", "ThrowIfNull", "", 0),
        lib("System.ArgumentNullException", "Throw", "", 0),
    ]),
    kind(
        "KeyNotFoundException",
        "System.Private.CoreLib",
        &["The given key '{word}' was not present in the dictionary."],
        "",
    )
    .calls(&[
        lib("System.Collections.Generic.Dictionary`2", "get_Item", "", 0),
        lib("System.ThrowHelper", "ThrowKeyNotFoundException", "", 0),
    ]),
    kind(
        "FormatException",
        "System.Private.CoreLib",
        &[
            "The input string '{word}' was not in a correct format.",
            "Input string was not in a correct format.",
        ],
        "",
    )
    .calls(&[
        lib("System.Int32", "Parse", "", 0),
        lib("System.Number", "ThrowFormatException", "", 0),
    ]),
    kind(
        "DbUpdateException",
        "Microsoft.EntityFrameworkCore",
        &["An error occurred while saving the entity changes. See the inner exception for details."],
        "",
    )
    .calls(&[
        lib("Microsoft.EntityFrameworkCore.DbContext", "SaveChangesAsync", "", 0),
        lib("Microsoft.EntityFrameworkCore.Update.ReaderModificationCommandBatch", "ExecuteAsync", "", 0),
    ]),
    kind(
        "HttpRequestException",
        "System.Net.Http",
        &["Response status code does not indicate success: 503 (Service Unavailable)."],
        "",
    )
    .calls(&[lib("System.Net.Http.HttpResponseMessage", "EnsureSuccessStatusCode", "", 0)]),
    kind(
        "TaskCanceledException",
        "System.Private.CoreLib",
        &["The request was canceled due to the configured HttpClient.Timeout of {n} seconds elapsing."],
        "",
    )
    .calls(&[lib("System.Net.Http.HttpClient", "HandleFailure", "", 0)]),
];

/// What an `await` rethrow leaves between async frames.
const AWAIT: &[LibFrame] = &[
    lib(
        "System.Runtime.ExceptionServices.ExceptionDispatchInfo",
        "Throw",
        "",
        0,
    ),
    lib(
        "System.Runtime.CompilerServices.TaskAwaiter",
        "ThrowForNonSuccess",
        "",
        0,
    ),
    lib(
        "System.Runtime.CompilerServices.TaskAwaiter",
        "HandleNonSuccessAndDebuggerNotification",
        "",
        0,
    ),
];

fn render(scene: &mut Scene<'_>) -> Rendered {
    let mut frames: Vec<DraftFrame> = scene
        .framework_frames()
        .into_iter()
        .map(|(frame, _)| library_frame(frame))
        .collect();
    // .NET 8 dropped `ThrowForNonSuccess` from these traces.
    let net8 = scene.era.variant(1, 2) == 0;
    let cause = scene.cause;
    for (index, step) in cause.steps.iter().enumerate() {
        if step.is_async && index > 0 {
            frames.extend(
                AWAIT
                    .iter()
                    .filter(|f| !(net8 && f.function == "ThrowForNonSuccess"))
                    .map(library_frame),
            );
        }
        frames.push(app_frame(scene, index, step));
    }
    frames.extend(scene.kind().library.iter().map(library_frame));
    Rendered {
        frames,
        wording: usize::from(!net8),
        tags: vec![(
            "runtime",
            if net8 { ".NET 8.0.6" } else { ".NET 6.0.31" }.into(),
        )],
        transaction: Some(transaction(scene)),
    }
}

fn library_frame(frame: &LibFrame) -> DraftFrame {
    DraftFrame {
        module: Some(frame.module.to_string()),
        function: Some(frame.function.to_string()),
        in_app: false,
        ..DraftFrame::default()
    }
}

fn namespace(scene: &Scene<'_>) -> String {
    format!(
        "{}.{}",
        pascal(&split(scene.app.org)),
        pascal(&split(scene.app.domain.name))
    )
}

fn function_name(step: &Step) -> String {
    let name = pascal(&step.function.name);
    if step.is_async {
        format!("{name}Async")
    } else {
        name
    }
}

fn app_frame(scene: &Scene<'_>, index: usize, step: &Step) -> DraftFrame {
    let namespace = namespace(scene);
    let class = pascal(&step.function.unit);
    let package = capitalize(&step.function.package);
    let mut module = format!("{namespace}.{package}.{class}");
    let mut function = function_name(step);
    // Without portable PDBs an async method shows as its compiler-generated
    // state machine: `OrderService+<PlaceOrderAsync>d__5.MoveNext`.
    if step.is_async && scene.era.variant(12, 5) == 0 {
        module = format!("{module}+<{function}>d__{}", step.line % 17);
        function = "MoveNext".into();
    }
    DraftFrame {
        module: Some(module),
        function: Some(function),
        filename: Some(format!("{package}/{class}.cs")),
        abs_path: Some(format!("/src/{namespace}/{package}/{class}.cs")),
        lineno: Some(scene.line(index)),
        in_app: true,
        ..DraftFrame::default()
    }
}

fn transaction(scene: &Scene<'_>) -> String {
    let Some(entry) = scene.cause.steps.first() else {
        return "/".into();
    };
    let noun = entry.function.unit.first().cloned().unwrap_or_default();
    match scene.app.framework {
        ASPNET => format!("POST /api/{}", plural(&noun)),
        _ => format!("{}Worker", pascal(&entry.function.unit)),
    }
}
