//! Assembling one Sentry event from a rendered stack trace.

use super::platform::{DraftFrame, Scene, message};
use super::words::snake;
use serde_json::{Map, Value, json};

/// The event as an SDK would send it. `timestamp` is RFC 3339, when the
/// time can be written as one.
pub(crate) fn event_json(scene: &mut Scene<'_>, timestamp: Option<&str>) -> Value {
    let rendered = (scene.spec.render)(scene);
    let kind = scene.kind();
    let mut exception = Map::new();
    exception.insert("type".into(), json!(kind.ty));
    let value = message(scene, rendered.wording);
    if !value.is_empty() {
        exception.insert("value".into(), json!(value));
    }
    if !kind.module.is_empty() {
        exception.insert("module".into(), json!(kind.module));
    }
    let mut mechanism = Map::new();
    mechanism.insert("type".into(), json!(kind.mechanism));
    mechanism.insert("handled".into(), json!(false));
    if kind.synthetic {
        mechanism.insert("synthetic".into(), json!(true));
    }
    exception.insert("mechanism".into(), Value::Object(mechanism));
    let frames: Vec<Value> = rendered.frames.iter().map(DraftFrame::to_json).collect();
    exception.insert("stacktrace".into(), json!({ "frames": frames }));

    let mut event = Map::new();
    event.insert("event_id".into(), json!(scene.rng.hex(32)));
    if let Some(timestamp) = timestamp {
        event.insert("timestamp".into(), json!(timestamp));
    }
    event.insert("platform".into(), json!(scene.spec.name));
    event.insert("level".into(), json!("error"));
    event.insert(
        "sdk".into(),
        json!({"name": scene.spec.sdk_name, "version": scene.spec.sdk_version}),
    );
    event.insert(
        "release".into(),
        json!(format!("{}@{}", scene.app.domain.name, scene.era.release)),
    );
    event.insert("environment".into(), json!("production"));
    if let Some(transaction) = rendered.transaction {
        event.insert("transaction".into(), json!(transaction));
    }
    let tags: Map<String, Value> = rendered
        .tags
        .into_iter()
        .map(|(key, value)| (key.to_string(), json!(value)))
        .collect();
    event.insert("tags".into(), Value::Object(tags));
    if let Some(logentry) = log_message(scene) {
        event.insert("logentry".into(), json!({ "formatted": logentry }));
    }
    event.insert(
        "exception".into(),
        json!({ "values": [Value::Object(exception)] }),
    );
    Value::Object(event)
}

/// Some events are captured by a logging call with its own message
/// (`logger.exception("…")`), worded per call site and carrying ids.
fn log_message(scene: &mut Scene<'_>) -> Option<String> {
    if scene.spec.name == "javascript" || !scene.rng.chance(0.12) {
        return None;
    }
    let entry = scene.cause.steps.first()?;
    let action = snake(&entry.function.name).replace('_', " ");
    let noun = &scene.cause.subject.noun;
    let id = scene.values.id;
    Some(match scene.rng.below(3) {
        0 => format!("Failed to {action} for {noun} {id}"),
        1 => format!("Unhandled error in {}", snake(&entry.function.name)),
        _ => format!("{noun} {id}: request failed, will retry"),
    })
}
