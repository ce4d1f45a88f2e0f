//! Fingerprinting throughput for a realistic 30-frame event.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stackherd::event::{EventLimits, parse_event};
use stackherd::fingerprint::Fingerprinter;
use std::hint::black_box;

/// A Java-style event: 30 frames, framework and in-app mixed, a proxy class,
/// a lambda, and a chained cause.
fn realistic_event_json() -> String {
    let frame = |i: usize| {
        let (module, in_app) = match i % 3 {
            0 => (format!("org.springframework.web.servlet.Handler{i}"), false),
            1 => (
                format!("com.example.shop.service.Order{i}$$EnhancerBySpringCGLIB$$a1b2c3d{i}"),
                true,
            ),
            _ => (format!("com.example.shop.repo.Repository{i}"), true),
        };
        format!(
            r#"{{"module":"{module}","function":"handle{i}","filename":"Handler{i}.java","abs_path":"Handler{i}.java","lineno":{},"in_app":{in_app}}}"#,
            100 + i
        )
    };
    let frames: Vec<String> = (0..30).map(frame).collect();
    let frames = frames.join(",");
    format!(
        r#"{{"platform":"java","exception":{{"values":[
        {{"type":"SQLException","value":"Connection to 10.0.0.5:5432 refused after 3000ms","module":"java.sql","stacktrace":{{"frames":[{frames}]}}}},
        {{"type":"DataAccessException","value":"could not execute query id=42","module":"org.springframework.dao","stacktrace":{{"frames":[{frames}]}}}}
        ]}}}}"#
    )
}

fn fingerprinting(c: &mut Criterion) {
    let json = realistic_event_json();
    let event = parse_event(json.as_bytes(), &EventLimits::default()).expect("bench event parses");
    let fingerprinter = Fingerprinter::default();
    let mut group = c.benchmark_group("fingerprint");
    group.throughput(Throughput::Elements(1));
    group.bench_function("30_frame_chained_java_event", |b| {
        b.iter(|| black_box(fingerprinter.fingerprint(black_box(&event))));
    });
    group.bench_function("parse_and_fingerprint", |b| {
        b.iter(|| {
            let event = parse_event(black_box(json.as_bytes()), &EventLimits::default())
                .expect("bench event parses");
            black_box(fingerprinter.fingerprint(&event))
        });
    });
    group.finish();
}

criterion_group!(benches, fingerprinting);
criterion_main!(benches);
