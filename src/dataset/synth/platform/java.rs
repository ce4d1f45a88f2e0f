//! Java: Spring web and Kafka listener apps. Generated names change on
//! every restart: reflection accessors, CGLIB and JDK proxies, lambda
//! classes. The SDK sends no source lines.

use super::{
    DraftFrame, ExceptionKind, Framework, LibFrame, PlatformSpec, Rendered, Scene, kind, lib,
};
use crate::dataset::synth::model::{Step, Via};
use crate::dataset::synth::words::{camel, pascal, plural};

/// Index of the web framework in `SPEC.frameworks` (the other is a worker).
const SPRING_WEB: usize = 0;

pub(crate) const SPEC: PlatformSpec = PlatformSpec {
    name: "java",
    sdk_name: "sentry.java.spring-boot.jakarta",
    sdk_version: "7.14.0",
    layers: [
        ("web", "controller"),
        ("service", "service"),
        ("repository", "repository"),
        ("util", "utils"),
    ],
    package_in_fingerprint: true,
    frameworks: &[
        Framework {
            frames: &[
                lib("java.lang.Thread", "run", "Thread.java", 1583),
                lib("org.apache.tomcat.util.threads.TaskThread$WrappingRunnable", "run", "TaskThread.java", 61),
                lib("org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker", "run", "ThreadPoolExecutor.java", 659)
                    .optional(),
                lib("org.apache.catalina.core.StandardWrapperValve", "invoke", "StandardWrapperValve.java", 167),
                lib("org.apache.catalina.core.ApplicationFilterChain", "doFilter", "ApplicationFilterChain.java", 138)
                    .optional(),
                lib("org.springframework.web.filter.OncePerRequestFilter", "doFilter", "OncePerRequestFilter.java", 116)
                    .optional(),
                lib("org.springframework.web.servlet.FrameworkServlet", "service", "FrameworkServlet.java", 885),
                lib("org.springframework.web.servlet.DispatcherServlet", "doDispatch", "DispatcherServlet.java", 1089)
                    .optional(),
                lib("org.springframework.web.method.support.InvocableHandlerMethod", "doInvoke", "InvocableHandlerMethod.java", 255),
            ],
        },
        Framework {
            frames: &[
                lib("java.lang.Thread", "run", "Thread.java", 1583),
                lib("org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer", "run", "KafkaMessageListenerContainer.java", 1317),
                lib("org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer", "doInvokeRecordListener", "KafkaMessageListenerContainer.java", 2785)
                    .optional(),
                lib("org.springframework.kafka.listener.adapter.MessagingMessageListenerAdapter", "invokeHandler", "MessagingMessageListenerAdapter.java", 380),
                lib("org.springframework.messaging.handler.invocation.InvocableHandlerMethod", "doInvoke", "InvocableHandlerMethod.java", 169),
            ],
        },
    ],
    exceptions: EXCEPTIONS,
    render,
};

const EXCEPTIONS: &[ExceptionKind] = &[
    kind(
        "NullPointerException",
        "java.lang",
        &[
            "Cannot invoke \"com.{org}.{app}.model.{Noun}.get{Attr}()\" because \"{var}\" is null",
            "null",
        ],
        "",
    ),
    kind("IllegalArgumentException", "java.lang", &["Unknown {attr_words}: {word}"], ""),
    kind("IllegalStateException", "java.lang", &["{Noun} {id} is already closed"], ""),
    kind("NumberFormatException", "java.lang", &["For input string: \"{word}\""], "").calls(&[
        lib("java.lang.Integer", "parseInt", "Integer.java", 661),
        lib("java.lang.NumberFormatException", "forInputString", "NumberFormatException.java", 67),
    ]),
    kind(
        "IndexOutOfBoundsException",
        "java.lang",
        &["Index {m} out of bounds for length {n}"],
        "",
    )
    .calls(&[
        lib("java.util.ArrayList", "get", "ArrayList.java", 427),
        lib("java.util.Objects", "checkIndex", "Objects.java", 385),
        lib("jdk.internal.util.Preconditions", "outOfBounds", "Preconditions.java", 100),
    ]),
    kind(
        "DataIntegrityViolationException",
        "org.springframework.dao",
        &["could not execute statement [ERROR: duplicate key value violates unique constraint \"{nouns}_{key}_key\"]"],
        "",
    )
    .calls(&[
        lib("org.springframework.data.jpa.repository.support.SimpleJpaRepository", "save", "SimpleJpaRepository.java", 629),
        lib("org.hibernate.internal.SessionImpl", "flush", "SessionImpl.java", 1410),
    ]),
    kind("ConcurrentModificationException", "java.util", &[""], "").calls(&[
        lib("java.util.ArrayList$Itr", "next", "ArrayList.java", 1052),
        lib("java.util.ArrayList$Itr", "checkForComodification", "ArrayList.java", 1095),
    ]),
    kind(
        "HttpServerErrorException$ServiceUnavailable",
        "org.springframework.web.client",
        &["503 Service Unavailable: \"upstream {host} timed out after {ms} ms\""],
        "",
    )
    .calls(&[
        lib("org.springframework.web.client.RestTemplate", "getForObject", "RestTemplate.java", 378),
        lib("org.springframework.web.client.DefaultResponseErrorHandler", "handleError", "DefaultResponseErrorHandler.java", 131),
    ]),
];

/// Spring's AOP frames between a CGLIB proxy and the target method.
const AOP: &[LibFrame] = &[
    lib(
        "org.springframework.aop.framework.CglibAopProxy$DynamicAdvisedInterceptor",
        "intercept",
        "CglibAopProxy.java",
        688,
    ),
    lib(
        "org.springframework.transaction.interceptor.TransactionInterceptor",
        "invoke",
        "TransactionInterceptor.java",
        119,
    ),
];

/// Stream frames between a method and the lambda it passed to `map`.
const STREAM: &[LibFrame] = &[
    lib(
        "java.util.stream.ReferencePipeline",
        "collect",
        "ReferencePipeline.java",
        682,
    ),
    lib(
        "java.util.ArrayList$ArrayListSpliterator",
        "forEachRemaining",
        "ArrayList.java",
        1625,
    ),
    lib(
        "java.util.stream.ReferencePipeline$3$1",
        "accept",
        "ReferencePipeline.java",
        197,
    ),
];

fn render(scene: &mut Scene<'_>) -> Rendered {
    let mut frames: Vec<DraftFrame> = scene
        .framework_frames()
        .into_iter()
        .map(|(frame, line)| library_frame(frame, line))
        .collect();
    if scene.app.framework == SPRING_WEB {
        frames.push(reflection_frame(scene));
    }
    let cause = scene.cause;
    let steps = &cause.steps;
    for (index, step) in steps.iter().enumerate() {
        let caller = index.checked_sub(1).and_then(|i| steps.get(i));
        if let Some(caller) = caller {
            frames.extend(decorations(scene, caller, step));
        }
        frames.push(app_frame(scene, index, step));
    }
    frames.extend(
        scene
            .library_frames()
            .into_iter()
            .map(|(frame, line)| library_frame(frame, line)),
    );
    Rendered {
        frames,
        wording: 0,
        tags: vec![(
            "server_name",
            format!("{}-{}", scene.app.domain.name, scene.rng.hex(5)),
        )],
        transaction: Some(transaction(scene)),
    }
}

/// The reflective call into the controller: a `GeneratedMethodAccessorN`
/// on older JDKs, a `DirectMethodHandleAccessor` from JDK 18 on.
fn reflection_frame(scene: &mut Scene<'_>) -> DraftFrame {
    let (module, file) = if scene.era.variant(3, 2) == 0 {
        let n = scene.rng.between(20, 900);
        (
            format!("jdk.internal.reflect.GeneratedMethodAccessor{n}"),
            "Unknown Source",
        )
    } else {
        (
            "jdk.internal.reflect.DirectMethodHandleAccessor".to_string(),
            "DirectMethodHandleAccessor.java",
        )
    };
    DraftFrame {
        module: Some(module),
        function: Some("invoke".into()),
        filename: Some(file.into()),
        in_app: false,
        ..DraftFrame::default()
    }
}

/// Frames a proxy or a lambda puts between a caller and its callee. Their
/// generated names are new after every restart.
fn decorations(scene: &mut Scene<'_>, caller: &Step, callee: &Step) -> Vec<DraftFrame> {
    match callee.via {
        Via::Direct => Vec::new(),
        Via::Proxy if callee.function.layer == 2 => vec![jdk_proxy(scene, callee)],
        Via::Proxy => {
            let mut frames = vec![cglib_proxy(scene, callee)];
            frames.extend(AOP.iter().map(|f| library_frame(f, f.line)));
            frames
        }
        Via::Lambda => {
            let mut frames: Vec<DraftFrame> =
                STREAM.iter().map(|f| library_frame(f, f.line)).collect();
            frames.extend(lambda_frames(scene, caller));
            frames
        }
    }
}

/// A Spring Data style interface proxy: `jdk.proxy2.$Proxy187`.
fn jdk_proxy(scene: &mut Scene<'_>, callee: &Step) -> DraftFrame {
    let module = if scene.era.variant(4, 3) == 0 {
        format!("com.sun.proxy.$Proxy{}", scene.rng.between(10, 400))
    } else {
        format!(
            "jdk.proxy{}.$Proxy{}",
            scene.rng.between(2, 4),
            scene.rng.between(10, 400)
        )
    };
    DraftFrame {
        module: Some(module),
        function: Some(camel(&callee.function.name)),
        filename: Some("Unknown Source".into()),
        in_app: false,
        ..DraftFrame::default()
    }
}

/// `InvoiceService$$EnhancerBySpringCGLIB$$1a2b3c4d` (Spring 5) or
/// `InvoiceService$$SpringCGLIB$$0` (Spring 6).
fn cglib_proxy(scene: &mut Scene<'_>, callee: &Step) -> DraftFrame {
    let class = class_name(scene, callee);
    let module = if scene.era.variant(5, 4) == 0 {
        format!("{class}$$SpringCGLIB$${}", scene.rng.below(3))
    } else {
        format!("{class}$$EnhancerBySpringCGLIB$${}", scene.rng.hex(8))
    };
    DraftFrame {
        module: Some(module),
        function: Some(camel(&callee.function.name)),
        filename: Some("<generated>".into()),
        in_app: true,
        ..DraftFrame::default()
    }
}

/// The lambda class's `apply` and the synthetic `lambda$caller$N` method.
fn lambda_frames(scene: &mut Scene<'_>, caller: &Step) -> Vec<DraftFrame> {
    let class = class_name(scene, caller);
    let lambda_class = format!(
        "{class}$$Lambda${}/0x0000{}",
        scene.rng.between(40, 1500),
        scene.rng.hex(12)
    );
    let counter = caller.line % 5;
    vec![
        DraftFrame {
            module: Some(lambda_class),
            function: Some("apply".into()),
            filename: Some("Unknown Source".into()),
            in_app: true,
            ..DraftFrame::default()
        },
        DraftFrame {
            module: Some(class),
            function: Some(format!("lambda${}${counter}", camel(&caller.function.name))),
            filename: Some(format!("{}.java", pascal(&caller.function.unit))),
            lineno: Some(caller.line + 2),
            in_app: true,
            ..DraftFrame::default()
        },
    ]
}

fn class_name(scene: &Scene<'_>, step: &Step) -> String {
    format!(
        "com.{}.{}.{}.{}",
        scene.app.org,
        scene.app.domain.name,
        step.function.package,
        pascal(&step.function.unit)
    )
}

fn app_frame(scene: &Scene<'_>, index: usize, step: &Step) -> DraftFrame {
    DraftFrame {
        module: Some(class_name(scene, step)),
        function: Some(camel(&step.function.name)),
        filename: Some(format!("{}.java", pascal(&step.function.unit))),
        lineno: Some(scene.line(index)),
        in_app: true,
        ..DraftFrame::default()
    }
}

fn library_frame(frame: &LibFrame, line: u64) -> DraftFrame {
    DraftFrame {
        module: Some(frame.module.to_string()),
        function: Some(frame.function.to_string()),
        filename: Some(frame.file.to_string()),
        lineno: Some(line),
        in_app: false,
        ..DraftFrame::default()
    }
}

fn transaction(scene: &Scene<'_>) -> String {
    let Some(entry) = scene.cause.steps.first() else {
        return "/".into();
    };
    let noun = entry.function.unit.first().cloned().unwrap_or_default();
    match scene.app.framework {
        SPRING_WEB => format!(
            "POST /{}/{{id}}/{}",
            plural(&noun),
            camel(&entry.function.name)
        ),
        _ => format!("{}-events", scene.app.domain.name),
    }
}
