//! `config.json`: which encoder architecture a directory holds, and its sizes.

use super::layers::Activation;
use crate::embed::error::EmbedError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The encoders this build implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// BERT with learned absolute positions (e.g. all-MiniLM-L6-v2).
    Bert,
    /// ModernBERT: pre-norm, rotary positions, alternating global and sliding
    /// window attention, GeGLU (e.g. modernbert-embed).
    ModernBert,
    /// Jina-BERT v2: post-norm BERT with ALiBi instead of positions and a
    /// gated MLP (e.g. jina-embeddings-v2).
    JinaBert,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Bert => "bert",
            Architecture::ModernBert => "modernbert",
            Architecture::JinaBert => "jina-bert",
        }
    }
}

/// A parsed `config.json`.
#[derive(Debug, Clone)]
pub(crate) enum ModelConfig {
    Bert(BertConfig),
    ModernBert(ModernBertConfig),
    JinaBert(JinaBertConfig),
}

impl ModelConfig {
    pub(crate) fn architecture(&self) -> Architecture {
        match self {
            ModelConfig::Bert(_) => Architecture::Bert,
            ModelConfig::ModernBert(_) => Architecture::ModernBert,
            ModelConfig::JinaBert(_) => Architecture::JinaBert,
        }
    }

    pub(crate) fn hidden_size(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.hidden_size,
            ModelConfig::ModernBert(c) => c.hidden_size,
            ModelConfig::JinaBert(c) => c.bert.hidden_size,
        }
    }

    pub(crate) fn max_positions(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.max_position_embeddings,
            ModelConfig::ModernBert(c) => c.max_position_embeddings,
            ModelConfig::JinaBert(c) => c.bert.max_position_embeddings,
        }
    }

    pub(crate) fn pad_token_id(&self) -> u32 {
        match self {
            ModelConfig::Bert(c) => c.pad_token_id,
            ModelConfig::ModernBert(c) => c.pad_token_id,
            ModelConfig::JinaBert(c) => c.bert.pad_token_id,
        }
    }

    pub(crate) fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::Bert(c) => c.vocab_size,
            ModelConfig::ModernBert(c) => c.vocab_size,
            ModelConfig::JinaBert(c) => c.bert.vocab_size,
        }
    }

    /// Reads and validates `path` (a `config.json`).
    pub(crate) fn load(path: &Path) -> Result<ModelConfig, EmbedError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                EmbedError::MissingFile {
                    path: path.to_path_buf(),
                }
            } else {
                EmbedError::invalid_file(path, e.to_string())
            }
        })?;
        ModelConfig::parse(path, &text)
    }

    pub(crate) fn parse(path: &Path, text: &str) -> Result<ModelConfig, EmbedError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| EmbedError::invalid_file(path, e.to_string()))?;
        let model_type = value
            .get("model_type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let architectures: Vec<String> = value
            .get("architectures")
            .and_then(serde_json::Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        let position_type = value
            .get("position_embedding_type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("absolute");
        let named = |needle: &str| architectures.iter().any(|a| a.starts_with(needle));

        let config = if model_type == "modernbert" || named("modernbert") {
            ModelConfig::ModernBert(typed::<ModernBertConfig>(path, value)?)
        } else if model_type == "jina_bert"
            || named("jinabert")
            || (model_type == "bert" && position_type == "alibi")
        {
            ModelConfig::JinaBert(typed::<JinaBertConfig>(path, value)?)
        } else if model_type == "bert" || named("bert") {
            if position_type != "absolute" {
                return Err(EmbedError::unsupported(
                    path,
                    format!("BERT position_embedding_type `{position_type}` (only `absolute`)"),
                ));
            }
            ModelConfig::Bert(typed::<BertConfig>(path, value)?)
        } else {
            return Err(EmbedError::unsupported(
                path,
                format!(
                    "model_type `{model_type}` (architectures {architectures:?}); supported: bert, modernbert, jina-bert (bert with alibi)"
                ),
            ));
        };
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), EmbedError> {
        let (hidden, heads, layers, intermediate, vocab, activation) = match self {
            ModelConfig::Bert(c) => (
                c.hidden_size,
                c.num_attention_heads,
                c.num_hidden_layers,
                c.intermediate_size,
                c.vocab_size,
                c.hidden_act.as_str(),
            ),
            ModelConfig::ModernBert(c) => (
                c.hidden_size,
                c.num_attention_heads,
                c.num_hidden_layers,
                c.intermediate_size,
                c.vocab_size,
                c.hidden_activation.as_str(),
            ),
            ModelConfig::JinaBert(c) => (
                c.bert.hidden_size,
                c.bert.num_attention_heads,
                c.bert.num_hidden_layers,
                c.bert.intermediate_size,
                c.bert.vocab_size,
                c.bert.hidden_act.as_str(),
            ),
        };
        let bad = |message: String| Err(EmbedError::invalid_file(path, message));
        if hidden == 0 || heads == 0 || layers == 0 || intermediate == 0 || vocab == 0 {
            return bad("hidden_size, num_attention_heads, num_hidden_layers, intermediate_size and vocab_size must be positive".into());
        }
        if hidden % heads != 0 {
            return bad(format!(
                "hidden_size {hidden} is not a multiple of num_attention_heads {heads}"
            ));
        }
        if Activation::parse(activation).is_none() {
            return Err(EmbedError::unsupported(
                path,
                format!(
                    "activation `{activation}` (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)"
                ),
            ));
        }
        if self.max_positions() == 0 {
            return bad("max_position_embeddings must be positive".into());
        }
        match self {
            ModelConfig::ModernBert(c) => {
                if c.global_attn_every_n_layers == 0 {
                    return bad("global_attn_every_n_layers must be positive".into());
                }
                if (hidden / heads) % 2 != 0 {
                    return bad("rotary embeddings need an even head size".into());
                }
            }
            ModelConfig::JinaBert(c) => {
                if c.gate_activation().is_none() {
                    return Err(EmbedError::unsupported(
                        path,
                        format!("feed_forward_type `{}` (geglu, reglu)", c.feed_forward_type),
                    ));
                }
            }
            ModelConfig::Bert(c) => {
                if c.type_vocab_size == 0 {
                    return bad("type_vocab_size must be positive".into());
                }
            }
        }
        Ok(())
    }
}

fn typed<T: DeserializeOwned>(path: &Path, value: serde_json::Value) -> Result<T, EmbedError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| EmbedError::invalid_file(path, format!("`{}`: {}", e.path(), e.inner())))
}

fn default_gelu() -> String {
    "gelu".to_string()
}
fn default_type_vocab() -> usize {
    2
}
fn default_bert_eps() -> f64 {
    1e-12
}

/// BERT (`model_type: bert`, absolute positions).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_gelu")]
    pub hidden_act: String,
    #[serde(default)]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_bert_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: u32,
}

impl BertConfig {
    pub(crate) fn activation(&self) -> Activation {
        Activation::parse(&self.hidden_act).unwrap_or(Activation::Gelu)
    }
}

fn default_geglu() -> String {
    "geglu".to_string()
}

/// Jina-BERT v2 (`model_type: bert`, `position_embedding_type: alibi`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct JinaBertConfig {
    #[serde(flatten)]
    pub bert: BertConfig,
    #[serde(default = "default_geglu")]
    pub feed_forward_type: String,
}

impl JinaBertConfig {
    /// The activation of the gated half of the MLP.
    pub(crate) fn gate_activation(&self) -> Option<Activation> {
        match self.feed_forward_type.as_str() {
            "geglu" => Some(Activation::Gelu),
            "reglu" => Some(Activation::Relu),
            _ => None,
        }
    }
}

const DEFAULT_MODERNBERT_EPS: f64 = 1e-5;
fn default_global_every() -> usize {
    3
}
fn default_global_theta() -> f64 {
    160_000.0
}
fn default_local_theta() -> f64 {
    10_000.0
}
fn default_local_window() -> usize {
    128
}
fn default_modernbert_positions() -> usize {
    8192
}
fn default_modernbert_pad() -> u32 {
    50283
}

/// ModernBERT (`model_type: modernbert`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ModernBertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_gelu")]
    pub hidden_activation: String,
    #[serde(default = "default_modernbert_positions")]
    pub max_position_embeddings: usize,
    /// Hugging Face's key is `norm_eps`; some exports only carry `layer_norm_eps`.
    #[serde(default)]
    pub norm_eps: Option<f64>,
    #[serde(default)]
    pub layer_norm_eps: Option<f64>,
    #[serde(default = "default_modernbert_pad")]
    pub pad_token_id: u32,
    #[serde(default = "default_global_every")]
    pub global_attn_every_n_layers: usize,
    #[serde(default = "default_global_theta")]
    pub global_rope_theta: f64,
    #[serde(default = "default_local_window")]
    pub local_attention: usize,
    #[serde(default = "default_local_theta")]
    pub local_rope_theta: f64,
}

impl ModernBertConfig {
    pub(crate) fn eps(&self) -> f64 {
        self.norm_eps
            .or(self.layer_norm_eps)
            .unwrap_or(DEFAULT_MODERNBERT_EPS)
    }

    pub(crate) fn activation(&self) -> Activation {
        Activation::parse(&self.hidden_activation).unwrap_or(Activation::Gelu)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn detects_the_three_architectures() {
        let path = Path::new("config.json");
        let bert = r#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":32}"#;
        assert_eq!(
            ModelConfig::parse(path, bert).unwrap().architecture(),
            Architecture::Bert
        );
        let jina = r#"{"model_type":"bert","position_embedding_type":"alibi","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":32}"#;
        assert_eq!(
            ModelConfig::parse(path, jina).unwrap().architecture(),
            Architecture::JinaBert
        );
        let modern = r#"{"model_type":"modernbert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"norm_eps":1e-5}"#;
        assert_eq!(
            ModelConfig::parse(path, modern).unwrap().architecture(),
            Architecture::ModernBert
        );
    }

    #[test]
    fn rejects_unknown_and_inconsistent_configs() {
        let path = Path::new("config.json");
        let gpt = r#"{"model_type":"gpt2"}"#;
        assert!(matches!(
            ModelConfig::parse(path, gpt),
            Err(EmbedError::UnsupportedArchitecture { .. })
        ));
        let odd_heads = r#"{"model_type":"bert","vocab_size":10,"hidden_size":9,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":32}"#;
        let err = ModelConfig::parse(path, odd_heads).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("multiple"),
            "{err}"
        );
        let missing = r#"{"model_type":"bert","hidden_size":8}"#;
        let err = ModelConfig::parse(path, missing).unwrap_err().to_string();
        assert!(
            err.contains("vocab_size") || err.contains("missing field"),
            "{err}"
        );
    }
}
