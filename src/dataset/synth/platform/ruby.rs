//! Ruby: Rails controllers and Sidekiq jobs. Blocks appear as
//! `block in perform` or `block (2 levels) in perform` depending on how the
//! code nests them in a release; Ruby 3.4 prefixes labels with the class.

use super::{
    DraftFrame, ExceptionKind, Framework, LibFrame, PlatformSpec, Rendered, Scene, kind, lib,
};
use crate::dataset::synth::model::Step;
use crate::dataset::synth::words::{pascal, plural, snake};

/// Index of the web framework in `SPEC.frameworks` (the other is a worker).
const RAILS: usize = 0;

pub(crate) const SPEC: PlatformSpec = PlatformSpec {
    name: "ruby",
    sdk_name: "sentry.ruby.rails",
    sdk_version: "5.19.0",
    layers: [
        ("controllers", "controller"),
        ("services", "service"),
        ("models", ""),
        ("lib", "helper"),
    ],
    package_in_fingerprint: false,
    frameworks: &[
        Framework {
            frames: &[
                lib(
                    "",
                    "block in spawn_thread",
                    "puma-6.4.2/lib/puma/thread_pool.rb",
                    155,
                )
                .src("              block.call(work, *extra)"),
                lib("", "process_client", "puma-6.4.2/lib/puma/server.rb", 438)
                    .src("          while true"),
                lib("", "call", "rack-3.0.11/lib/rack/sendfile.rb", 114)
                    .src("        status, headers, body = @app.call(env)")
                    .optional(),
                lib(
                    "",
                    "call",
                    "sentry-rails-5.19.0/lib/sentry/rails/rescued_exception_interceptor.rb",
                    12,
                )
                .src("        @app.call(env)")
                .optional(),
                lib(
                    "",
                    "process_action",
                    "actionpack-7.1.3/lib/abstract_controller/base.rb",
                    224,
                )
                .src("        send_action(method_name, *args)"),
                lib(
                    "",
                    "send_action",
                    "actionpack-7.1.3/lib/action_controller/metal/basic_implicit_render.rb",
                    6,
                )
                .src("      super.tap { default_render unless performed? }"),
            ],
        },
        Framework {
            frames: &[
                lib(
                    "",
                    "block (2 levels) in process",
                    "sidekiq-7.2.0/lib/sidekiq/processor.rb",
                    180,
                )
                .src("            yield"),
                lib(
                    "",
                    "call",
                    "sidekiq-7.2.0/lib/sidekiq/middleware/chain.rb",
                    180,
                )
                .src("          traverse(chain, 0, job_instance, job_payload, queue, &block)")
                .optional(),
                lib(
                    "",
                    "execute_job",
                    "sidekiq-7.2.0/lib/sidekiq/job_util.rb",
                    91,
                )
                .src("      instance.perform(*job_hash[\"args\"])"),
            ],
        },
    ],
    exceptions: EXCEPTIONS,
    render,
};

const EXCEPTIONS: &[ExceptionKind] = &[
    kind(
        "NoMethodError",
        "",
        &[
            "undefined method `{attr}' for nil:NilClass",
            "undefined method '{attr}' for nil",
        ],
        "    {var}.{attr}.downcase",
    ),
    kind(
        "ActiveRecord::RecordNotFound",
        "",
        &["Couldn't find {Noun} with 'id'={id}"],
        "    {var} = {Noun}.find(params[:id])",
    )
    .calls(&[lib("", "find", "activerecord-7.1.3/lib/active_record/core.rb", 268)
        .src("          raise RecordNotFound.new(\"Couldn't find #{name} with '#{key}'=#{ids}\", name, key, ids)")]),
    kind("KeyError", "", &["key not found: :{key}"], "    rate = RATES.fetch(:{key})"),
    kind("ZeroDivisionError", "", &["divided by 0"], "    ratio = {var}.{attr} / total"),
    kind(
        "ActiveRecord::RecordInvalid",
        "",
        &["Validation failed: {Attr} has already been taken"],
        "    {var}.save!",
    )
    .calls(&[lib("", "save!", "activerecord-7.1.3/lib/active_record/validations.rb", 53)
        .src("      super || raise_validation_error")]),
    kind(
        "Net::ReadTimeout",
        "",
        &["Net::ReadTimeout with #<TCPSocket:(closed)>"],
        "    response = http.request(request)",
    )
    .calls(&[lib("", "rbuf_fill", "net-protocol-0.2.2/lib/net/protocol.rb", 218)
        .src("          raise Net::ReadTimeout.new(@io)")]),
    kind(
        "JSON::ParserError",
        "",
        &["unexpected token at '{word}'", "unexpected character: '{word}' at line 1 column 1"],
        "    payload = JSON.parse(body)",
    )
    .calls(&[lib("", "parse", "json-2.7.2/lib/json/common.rb", 219)
        .src("    Parser.new(source, **opts).parse")]),
];

/// What a deploy adds to a line it touches without changing its meaning.
const COMMENTS: &[&str] = &[
    "# rubocop:disable Style/SafeNavigation",
    "# rubocop:disable Metrics/AbcSize",
    "# :nodoc:",
];

fn render(scene: &mut Scene<'_>) -> Rendered {
    let mut frames: Vec<DraftFrame> = scene
        .framework_frames()
        .into_iter()
        .map(|(frame, line)| library_frame(frame, line))
        .collect();
    let cause = scene.cause;
    for (index, step) in cause.steps.iter().enumerate() {
        frames.extend(step_frames(scene, index, step));
    }
    for (frame, line) in scene.library_frames() {
        frames.push(library_frame(frame, line));
    }
    Rendered {
        frames,
        wording: usize::from(scene.era.variant(9, 3) == 0),
        tags: vec![("server_name", format!("web.{}", scene.rng.below(6)))],
        transaction: Some(transaction(scene)),
    }
}

fn library_frame(frame: &LibFrame, line: u64) -> DraftFrame {
    let lib_path = frame
        .file
        .split_once("/lib/")
        .map_or(frame.file, |(_, rest)| rest);
    DraftFrame {
        filename: Some(lib_path.to_string()),
        abs_path: Some(format!("/usr/local/bundle/gems/{}", frame.file)),
        function: Some(frame.function.to_string()),
        lineno: Some(line),
        context_line: (!frame.context.is_empty()).then(|| frame.context.to_string()),
        in_app: false,
        ..DraftFrame::default()
    }
}

/// A step's frame; a step that calls on inside a block adds `each` and the
/// block's frame.
fn step_frames(scene: &Scene<'_>, index: usize, step: &Step) -> Vec<DraftFrame> {
    // Ruby 3.4 qualifies frame labels with the class: `InvoiceService#deliver`.
    let ruby34 = scene.era.variant(11, 4) == 0;
    let name = if ruby34 {
        format!(
            "{}#{}",
            pascal(&step.function.unit),
            snake(&step.function.name)
        )
    } else {
        snake(&step.function.name)
    };
    let line = scene.line(index);
    let next = scene.cause.steps.get(index + 1);
    let call = match next {
        Some(next) => call_line(step, next),
        None => scene.crash_line(),
    };
    let call = scene.source_line(index, call, COMMENTS);
    let frame = |function: String, line: u64, context: String| DraftFrame {
        filename: Some(file(step)),
        abs_path: Some(format!("/rails/{}", file(step))),
        function: Some(function),
        lineno: Some(line),
        context_line: Some(context),
        in_app: true,
        ..DraftFrame::default()
    };
    let Some(next) = next.filter(|_| step.block) else {
        return vec![frame(name, line, call)];
    };
    let collection = next.function.unit.first().cloned().unwrap_or_default();
    let each = format!("    {}.each do |{collection}|", plural(&collection));
    let label = if scene.era.variant(10, 2) == 0 {
        format!("block in {name}")
    } else {
        format!("block (2 levels) in {name}")
    };
    vec![
        frame(name, line, each.clone()),
        frame(
            if ruby34 { "Array#each" } else { "each" }.into(),
            line,
            each,
        ),
        frame(label, line + 1, call),
    ]
}

fn file(step: &Step) -> String {
    format!(
        "app/{}/{}.rb",
        step.function.package,
        snake(&step.function.unit)
    )
}

/// `    tax = TaxService.new.compute_tax(invoice)`
fn call_line(caller: &Step, callee: &Step) -> String {
    let name = snake(&callee.function.name);
    let target = if caller.function.unit == callee.function.unit {
        name
    } else {
        format!("{}.new.{name}", pascal(&callee.function.unit))
    };
    let result = callee.function.name.last().cloned().unwrap_or_default();
    let argument = caller.function.unit.first().cloned().unwrap_or_default();
    format!("    {result} = {target}({argument})")
}

fn transaction(scene: &Scene<'_>) -> String {
    let Some(entry) = scene.cause.steps.first() else {
        return "/".into();
    };
    match scene.app.framework {
        RAILS => format!(
            "{}#{}",
            pascal(&entry.function.unit),
            snake(&entry.function.name)
        ),
        _ => format!("Sidekiq/{}Job", pascal(&entry.function.unit)),
    }
}
