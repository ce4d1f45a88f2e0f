//! Native C++: crashes reported by sentry-native. Signals carry a synthetic
//! type; uncaught C++ exceptions end in `__cxa_throw` / `abort`. libstdc++
//! and libc++ spell `std::string` differently, and builds with full debug
//! info show inlined helpers as frames of their own.

use super::{
    DraftFrame, ExceptionKind, Framework, LibFrame, PlatformSpec, Rendered, Scene, kind, lib,
};
use crate::dataset::synth::model::Step;
use crate::dataset::synth::words::{camel, pascal, split};

pub(crate) const SPEC: PlatformSpec = PlatformSpec {
    name: "native",
    sdk_name: "sentry.native",
    sdk_version: "0.7.6",
    layers: [
        ("app", "controller"),
        ("core", "manager"),
        ("io", "loader"),
        ("util", "utils"),
    ],
    package_in_fingerprint: false,
    frameworks: &[
        Framework {
            frames: &[
                lib("libc.so.6", "_start", "", 0),
                lib("libc.so.6", "__libc_start_main_impl", "", 0),
                lib("libc.so.6", "__libc_start_call_main", "", 0).optional(),
            ],
        },
        Framework {
            frames: &[
                lib("libc.so.6", "clone3", "", 0),
                lib("libc.so.6", "start_thread", "", 0),
                lib("libstdc++.so.6", "execute_native_thread_routine", "", 0).optional(),
            ],
        },
    ],
    exceptions: EXCEPTIONS,
    render,
};

/// Frames from an uncaught exception to the abort signal.
const UNCAUGHT: &[LibFrame] = &[
    lib("libstdc++.so.6", "__cxa_throw", "", 0),
    lib("libstdc++.so.6", "std::terminate()", "", 0),
    lib(
        "libstdc++.so.6",
        "__cxxabiv1::__terminate(void (*)())",
        "",
        0,
    ),
    lib("libc.so.6", "abort", "", 0),
    lib("libc.so.6", "raise", "", 0),
];

const EXCEPTIONS: &[ExceptionKind] = &[
    kind("SIGSEGV", "", &["Segfault"], "").signal(),
    kind("SIGFPE", "", &["Floating point exception"], "").signal(),
    kind("SIGABRT", "", &["Abort"], "").signal().calls(UNCAUGHT),
    kind("std::out_of_range", "", &["map::at"], "").calls(&[
        lib(
            "libstdc++.so.6",
            "std::__throw_out_of_range(char const*)",
            "",
            0,
        ),
        lib("libstdc++.so.6", "__cxa_throw", "", 0),
    ]),
    kind(
        "std::runtime_error",
        "",
        &["failed to open {noun} file /var/lib/{app}/{noun}-{id}.bin"],
        "",
    )
    .calls(&[lib("libstdc++.so.6", "__cxa_throw", "", 0)]),
    kind("std::bad_alloc", "", &["std::bad_alloc"], "").calls(&[
        lib("libstdc++.so.6", "operator new(unsigned long)", "", 0),
        lib("libstdc++.so.6", "__cxa_throw", "", 0),
    ]),
];

fn render(scene: &mut Scene<'_>) -> Rendered {
    let base = 0x5600_0000_0000 + scene.era.variant(6, 0x1000) * 0x1000;
    let mut frames: Vec<DraftFrame> = scene
        .framework_frames()
        .into_iter()
        .map(|(frame, _)| library_frame(frame, base))
        .collect();
    let cause = scene.cause;
    let last = cause.steps.len().saturating_sub(1);
    for (index, step) in cause.steps.iter().enumerate() {
        // An inlined helper has no frame unless the debug info records it.
        if step.inlinable && index != last && index != 0 && !scene.era.inlined {
            continue;
        }
        frames.push(app_frame(scene, index, step, base));
    }
    frames.extend(scene.kind().library.iter().map(|f| library_frame(f, base)));
    Rendered {
        frames,
        wording: 0,
        tags: vec![("os", "Linux".into())],
        transaction: None,
    }
}

fn library_frame(frame: &LibFrame, base: u64) -> DraftFrame {
    DraftFrame {
        function: Some(frame.function.to_string()),
        package: Some(format!("/usr/lib/x86_64-linux-gnu/{}", frame.module)),
        instruction_addr: Some(address(base, frame.function)),
        in_app: false,
        ..DraftFrame::default()
    }
}

/// Argument lists by `Step::args`; `{string}` is the standard library's
/// spelling of `std::string`.
const ARGS: &[&str] = &[
    "",
    "{string} const&",
    "{noun} const&, unsigned long",
    "std::vector<{noun}, std::allocator<{noun}> > const&",
];

fn signature(scene: &Scene<'_>, step: &Step) -> String {
    let string = if scene.era.variant(7, 2) == 0 {
        "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >"
    } else {
        "std::__1::basic_string<char, std::__1::char_traits<char>, std::__1::allocator<char> >"
    };
    let namespace = pascal(&split(scene.app.domain.name));
    let noun = format!(
        "{namespace}::{}",
        pascal(
            &step
                .function
                .unit
                .iter()
                .take(1)
                .cloned()
                .collect::<Vec<_>>()
        )
    );
    let args = ARGS
        .get(step.args)
        .copied()
        .unwrap_or("")
        .replace("{string}", string)
        .replace("{noun}", &noun);
    format!(
        "{namespace}::{}::{}({args})",
        pascal(&step.function.unit),
        camel(&step.function.name)
    )
}

fn app_frame(scene: &Scene<'_>, index: usize, step: &Step, base: u64) -> DraftFrame {
    let app = scene.app.domain.name;
    let path = format!(
        "/home/ci/{app}/src/{}/{}.cpp",
        step.function.package,
        pascal(&step.function.unit)
    );
    let function = signature(scene, step);
    DraftFrame {
        instruction_addr: Some(address(base, &function)),
        function: Some(function),
        filename: Some(path.clone()),
        abs_path: Some(path),
        package: Some(format!("/opt/{app}/bin/{app}d")),
        lineno: Some(scene.line(index)),
        in_app: true,
        ..DraftFrame::default()
    }
}

/// A stable address for a symbol within one build.
fn address(base: u64, symbol: &str) -> String {
    let offset = symbol
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("0x{:x}", base + offset % 0x00ff_ffff)
}
