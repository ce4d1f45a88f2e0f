//! Shared helpers of the engine tests: settings on a temporary store, the
//! provisioned default model, event builders and test embedders.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use stackherd::embed::{EmbedError, TextEmbedder};
use stackherd::settings::Settings;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Settings for a node on `data_dir`: the real default model (provisioned
/// from its PyPI package, never a hub), no rate limit, generous timeouts.
pub fn settings(data_dir: &Path) -> Settings {
    let model_dir = stackherd::embed::provision::default_test_model_dir().expect("test model");
    let mut env = HashMap::new();
    let mut set = |key: &str, value: String| {
        env.insert(format!("STACKHERD__{key}"), value);
    };
    set("STORAGE__DATA_DIR", data_dir.display().to_string());
    set("MODELS__V1__SOURCE", format!("dir:{}", model_dir.display()));
    set("ENGINE__AI_REQUESTS_PER_SECOND", "0".to_string());
    set("ENGINE__REQUEST_TIMEOUT_MS", "60000".to_string());
    set("EMBEDDER__TIMEOUT_MS", "60000".to_string());
    Settings::load_from(None, env).expect("test settings")
}

/// Adds a model version `v2`: the same model truncated to 128 dimensions
/// (a different index), searched first when requested.
pub fn with_v2(mut settings: Settings) -> Settings {
    let mut v2 = settings.models["v1"].clone();
    v2.dimensions = 128;
    settings.models.insert("v2".to_string(), v2);
    settings
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

/// A Python event: `frames` are (module, function, context line), caller first.
pub fn python_event(error_type: &str, value: &str, frames: &[(&str, &str, &str)]) -> Value {
    let frames: Vec<Value> = frames
        .iter()
        .enumerate()
        .map(|(i, (module, function, line))| {
            json!({
                "module": module,
                "filename": format!("{}.py", module.replace('.', "/")),
                "function": function,
                "lineno": 10 + i,
                "context_line": line,
                "in_app": true,
            })
        })
        .collect();
    json!({
        "platform": "python",
        "exception": {"values": [{"type": error_type, "value": value, "stacktrace": {"frames": frames}}]}
    })
}

pub fn event(value: &Value) -> stackherd::event::Event {
    stackherd::event::parse_event(value.to_string().as_bytes(), &Default::default()).unwrap()
}

/// Maps a text to the unit vector of its first word (the exception type)
/// plus a small deterministic wobble from the rest, so texts of one type
/// are within 0.01 of each other and texts of different types are far:
/// grouping becomes independent of arrival order, which lets a concurrent
/// run be compared with a sequential one.
pub struct ClusterEmbedder;

const CLUSTER_DIMENSIONS: usize = 64;

impl TextEmbedder for ClusterEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|text| cluster_vector(text)).collect())
    }
    fn dimensions(&self) -> usize {
        CLUSTER_DIMENSIONS
    }
    fn count_tokens(&self, text: &str) -> Result<usize, EmbedError> {
        Ok(text.split_whitespace().count() + 2)
    }
    fn model_id(&self) -> &str {
        "cluster-test-embedder"
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn cluster_vector(text: &str) -> Vec<f32> {
    let head = text.split(':').next().unwrap_or("");
    let axis = usize::try_from(fnv(head) % CLUSTER_DIMENSIONS as u64).unwrap();
    let wobble_axis = (axis + 1) % CLUSTER_DIMENSIONS;
    let mut vector = vec![0.0_f32; CLUSTER_DIMENSIONS];
    vector[axis] = 1.0;
    // cos = 1/sqrt(1+w²) stays above 0.995 for w <= 0.1: distance < 0.005.
    vector[wobble_axis] = (fnv(text) % 1000) as f32 / 10_000.0;
    vector
}

/// An embedder that takes `delay` per batch: a saturated or slow model.
pub struct SleepingEmbedder(pub Duration);

impl TextEmbedder for SleepingEmbedder {
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        std::thread::sleep(self.0);
        Ok(texts.iter().map(|text| cluster_vector(text)).collect())
    }
    fn dimensions(&self) -> usize {
        CLUSTER_DIMENSIONS
    }
    fn count_tokens(&self, _: &str) -> Result<usize, EmbedError> {
        Ok(16)
    }
    fn model_id(&self) -> &str {
        "sleeping-test-embedder"
    }
}

/// Settings for a node that uses a test embedder of 64 dimensions as v1.
pub fn fake_model_settings(data_dir: &Path) -> Settings {
    let mut settings = settings(data_dir);
    if let Some(v1) = settings.models.get_mut("v1") {
        v1.dimensions = CLUSTER_DIMENSIONS;
        v1.threshold = 0.01;
    }
    settings
}
