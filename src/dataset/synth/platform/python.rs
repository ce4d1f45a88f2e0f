//! Python: Django, Celery and FastAPI apps; module + function + context
//! line; asyncio frames around async code.

use super::{
    DraftFrame, ExceptionKind, Framework, LibFrame, PlatformSpec, Rendered, Scene, kind, lib,
};
use crate::dataset::synth::model::Step;
use crate::dataset::synth::words::{plural, snake};

/// Indexes into `SPEC.frameworks`.
const CELERY: usize = 1;
const FASTAPI: usize = 2;

pub(crate) const SPEC: PlatformSpec = PlatformSpec {
    name: "python",
    sdk_name: "sentry.python",
    sdk_version: "2.19.2",
    layers: [("views", ""), ("services", ""), ("clients", ""), ("utils", "")],
    package_in_fingerprint: true,
    frameworks: &[
        Framework {
            frames: &[
                lib("django.core.handlers.exception", "inner", "django/core/handlers/exception.py", 55)
                    .src("                response = get_response(request)"),
                lib("django.utils.deprecation", "__call__", "django/utils/deprecation.py", 133)
                    .src("            response = response or self.get_response(request)")
                    .optional(),
                lib("django.core.handlers.base", "_get_response", "django/core/handlers/base.py", 197)
                    .src("                response = wrapped_callback(request, *callback_args, **callback_kwargs)"),
                lib("sentry_sdk.integrations.django.views", "sentry_wrapped_callback", "sentry_sdk/integrations/django/views.py", 94)
                    .src("            return callback(request, *args, **kwargs)")
                    .optional(),
            ],
        },
        Framework {
            frames: &[
                lib("celery.app.trace", "trace_task", "celery/app/trace.py", 453)
                    .src("                    R = retval = fun(*args, **kwargs)"),
                lib("sentry_sdk.integrations.celery", "_inner", "sentry_sdk/integrations/celery/__init__.py", 320)
                    .src("                    return f(*args, **kwargs)")
                    .optional(),
                lib("celery.app.trace", "__protected_call__", "celery/app/trace.py", 736)
                    .src("        return self.run(*args, **kwargs)"),
            ],
        },
        Framework {
            frames: &[
                lib("starlette.routing", "handle", "starlette/routing.py", 288)
                    .src("            await self.app(scope, receive, send)"),
                lib("starlette.middleware.exceptions", "__call__", "starlette/middleware/exceptions.py", 62)
                    .src("            await self.app(scope, receive, sender)")
                    .optional(),
                lib("fastapi.routing", "app", "fastapi/routing.py", 299)
                    .src("            raw_response = await run_endpoint_function("),
                lib("fastapi.routing", "run_endpoint_function", "fastapi/routing.py", 210)
                    .src("        return await dependant.call(**values)"),
            ],
        },
    ],
    exceptions: EXCEPTIONS,
    render,
};

const EXCEPTIONS: &[ExceptionKind] = &[
    kind(
        "ZeroDivisionError",
        "builtins",
        &["division by zero"],
        "    average = total / len({var}.{attr})",
    ),
    kind(
        "KeyError",
        "builtins",
        &["'{key}'"],
        "    value = {var}[\"{key}\"]",
    ),
    kind(
        "AttributeError",
        "builtins",
        &["'NoneType' object has no attribute '{attr}'"],
        "    return {var}.{attr}.strip()",
    ),
    kind(
        "ValueError",
        "builtins",
        &["invalid literal for int() with base 10: '{word}'"],
        "    quantity = int(row[\"{key}\"])",
    ),
    kind(
        "TypeError",
        "builtins",
        &[
            "unsupported operand type(s) for +=: 'int' and 'NoneType'",
            "unsupported operand type(s) for +=: 'int' and 'str'",
        ],
        "    total += {var}.{attr}",
    ),
    kind(
        "HTTPError",
        "requests.exceptions",
        &["503 Server Error: Service Unavailable for url: https://{host}/v1/{nouns}/{id}"],
        "    response.raise_for_status()",
    )
    .calls(&[lib(
        "requests.models",
        "raise_for_status",
        "requests/models.py",
        1024,
    )
    .src("            raise HTTPError(http_error_msg, response=self)")]),
    kind(
        "JSONDecodeError",
        "json.decoder",
        &["Expecting value: line 1 column {n} (char {m})"],
        "    payload = json.loads(body)",
    )
    .calls(&[
        lib("json", "loads", "json/__init__.py", 346)
            .src("        return _default_decoder.decode(s)"),
        lib("json.decoder", "decode", "json/decoder.py", 338)
            .src("        obj, end = self.raw_decode(s, idx=_w(s, 0).end())"),
        lib("json.decoder", "raw_decode", "json/decoder.py", 356)
            .src("            raise JSONDecodeError(\"Expecting value\", s, err.value) from None"),
    ]),
    kind(
        "OperationalError",
        "psycopg2",
        &[
            "connection to server at \"{host}\", port 5432 failed: Connection refused",
            "server closed the connection unexpectedly",
        ],
        "    rows = session.execute(query).fetchall()",
    )
    .calls(&[
        lib(
            "sqlalchemy.orm.session",
            "execute",
            "sqlalchemy/orm/session.py",
            2308,
        )
        .src("        return self._execute_internal("),
        lib(
            "sqlalchemy.engine.base",
            "_execute_context",
            "sqlalchemy/engine/base.py",
            1843,
        )
        .src("            return self._exec_single_context("),
    ]),
];

/// asyncio's frames below a coroutine run by `asyncio.run`.
const ASYNCIO: &[LibFrame] = &[
    lib("asyncio.runners", "run", "asyncio/runners.py", 194).src("        return runner.run(main)"),
    lib(
        "asyncio.base_events",
        "run_until_complete",
        "asyncio/base_events.py",
        687,
    )
    .src("        return future.result()"),
    lib("asyncio.events", "_run", "asyncio/events.py", 88)
        .src("            self._context.run(self._callback, *self._args)"),
];

/// What a deploy adds to a line it touches without changing its meaning.
const COMMENTS: &[&str] = &[
    "# noqa: E501",
    "# type: ignore[attr-defined]",
    "# pragma: no cover",
];

/// Top-level packages that ship with Python (not under site-packages).
const STDLIB: &[&str] = &["asyncio", "json", "http", "socket", "ssl"];

fn render(scene: &mut Scene<'_>) -> Rendered {
    let mut frames = Vec::new();
    let is_async = scene.app.framework == FASTAPI || scene.cause.steps.iter().any(|s| s.is_async);
    // The same coroutine runs from a worker's `asyncio.run` on some
    // requests: extra system frames, same app frames.
    if is_async && scene.rng.chance(0.4) {
        frames.extend(ASYNCIO.iter().map(|f| library_frame(f, f.line)));
    }
    for (frame, line) in scene.framework_frames() {
        frames.push(library_frame(frame, line));
    }
    for (index, step) in scene.cause.steps.iter().enumerate() {
        frames.push(app_frame(scene, index, step));
    }
    for (frame, line) in scene.library_frames() {
        frames.push(library_frame(frame, line));
    }
    Rendered {
        frames,
        // Python 3.13 reworded a few messages; the flavor picks the runtime.
        wording: usize::from(scene.era.variant(8, 4) == 0),
        tags: vec![("server_name", format!("web-{}", scene.rng.below(8)))],
        transaction: Some(transaction(scene)),
    }
}

fn library_frame(frame: &LibFrame, line: u64) -> DraftFrame {
    let top = frame.module.split('.').next().unwrap_or("");
    let root = if STDLIB.contains(&top) {
        "/usr/local/lib/python3.12"
    } else {
        "/usr/local/lib/python3.12/site-packages"
    };
    DraftFrame {
        filename: Some(frame.file.to_string()),
        abs_path: Some(format!("{root}/{}", frame.file)),
        module: Some(frame.module.to_string()),
        function: Some(frame.function.to_string()),
        lineno: Some(line),
        context_line: (!frame.context.is_empty()).then(|| frame.context.to_string()),
        in_app: false,
        ..DraftFrame::default()
    }
}

fn app_frame(scene: &Scene<'_>, index: usize, step: &Step) -> DraftFrame {
    let app = scene.app.domain.name;
    let function = &step.function;
    let unit = snake(&function.unit);
    let path = format!("{app}/{}/{unit}.py", function.package);
    let context = match scene.cause.steps.get(index + 1) {
        Some(next) => call_line(step, next),
        None => scene.crash_line(),
    };
    let context = scene.source_line(index, context, COMMENTS);
    DraftFrame {
        abs_path: Some(format!("/srv/{app}/{path}")),
        filename: Some(path),
        module: Some(format!("{app}.{}.{unit}", function.package)),
        function: Some(snake(&function.name)),
        lineno: Some(scene.line(index)),
        context_line: Some(context),
        in_app: true,
        ..DraftFrame::default()
    }
}

/// `    tax = pricing.compute_tax(invoice)`: the caller's line calls the callee.
fn call_line(caller: &Step, callee: &Step) -> String {
    let name = snake(&callee.function.name);
    let target = if caller.function.unit == callee.function.unit {
        name.clone()
    } else {
        format!("{}.{name}", snake(&callee.function.unit))
    };
    let result = callee.function.name.last().cloned().unwrap_or_default();
    let argument = caller.function.unit.first().cloned().unwrap_or_default();
    let wait = if callee.is_async { "await " } else { "" };
    format!("    {result} = {wait}{target}({argument})")
}

fn transaction(scene: &Scene<'_>) -> String {
    let Some(entry) = scene.cause.steps.first() else {
        return "/".into();
    };
    let noun = entry.function.unit.first().cloned().unwrap_or_default();
    match scene.app.framework {
        CELERY => format!(
            "{}.tasks.{}",
            scene.app.domain.name,
            snake(&entry.function.name)
        ),
        _ => format!(
            "/{}/<int:id>/{}/",
            plural(&noun),
            snake(&entry.function.name)
        ),
    }
}
