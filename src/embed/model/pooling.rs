//! The sentence-transformers pipeline around the encoder: `modules.json`
//! (Transformer → Pooling → optional Normalize) and `<pooling>/config.json`.

use crate::embed::error::EmbedError;
use candle_core::{DType, Result, Tensor};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// How token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The first token's (`[CLS]`) state.
    Cls,
    /// The mean of all (non-padding) token states.
    Mean,
    /// The element-wise maximum over (non-padding) token states.
    Max,
}

/// What `modules.json` declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pipeline {
    /// Directory of the Transformer module (`config.json`, `model.safetensors`,
    /// `tokenizer.json`): the model directory itself or e.g. `0_Transformer`.
    pub transformer_dir: PathBuf,
    pub pooling: Pooling,
    /// Width the pooling config declares (`word_embedding_dimension`).
    pub pooled_dimension: Option<usize>,
    /// Whether a Normalize module follows pooling. stackherd normalizes its
    /// output in any case (the contract promises unit vectors); this is kept
    /// for reporting.
    pub normalize: bool,
}

#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
    /// Newer sentence-transformers write the mode as one string.
    #[serde(default)]
    pooling_mode: Option<String>,
}

fn read(path: &Path) -> std::result::Result<String, EmbedError> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            EmbedError::MissingFile {
                path: path.to_path_buf(),
            }
        } else {
            EmbedError::invalid_file(path, e.to_string())
        }
    })
}

impl Pipeline {
    /// Reads `dir/modules.json` and the pooling module's `config.json`.
    pub(crate) fn load(dir: &Path) -> std::result::Result<Pipeline, EmbedError> {
        let modules_path = dir.join("modules.json");
        let modules: Vec<ModuleEntry> = serde_json::from_str(&read(&modules_path)?)
            .map_err(|e| EmbedError::invalid_file(&modules_path, e.to_string()))?;
        let mut transformer_dir = None;
        let mut pooling = None;
        let mut normalize = false;
        for module in &modules {
            let kind = module.kind.rsplit('.').next().unwrap_or("");
            match kind {
                "Transformer" => {
                    if transformer_dir.is_some() {
                        return Err(EmbedError::unsupported(
                            &modules_path,
                            "more than one Transformer module",
                        ));
                    }
                    transformer_dir = Some(dir.join(&module.path));
                }
                "Pooling" => {
                    if pooling.is_some() {
                        return Err(EmbedError::unsupported(
                            &modules_path,
                            "more than one Pooling module",
                        ));
                    }
                    pooling = Some(read_pooling(&dir.join(&module.path).join("config.json"))?);
                }
                "Normalize" => normalize = true,
                other => {
                    return Err(EmbedError::unsupported(
                        &modules_path,
                        format!(
                            "module type `{}` ({other}); supported: Transformer, Pooling, Normalize",
                            module.kind
                        ),
                    ));
                }
            }
        }
        let transformer_dir = transformer_dir.ok_or_else(|| {
            EmbedError::invalid_file(
                &modules_path,
                "no sentence_transformers.models.Transformer module",
            )
        })?;
        let (pooling, pooled_dimension) = pooling.ok_or_else(|| {
            EmbedError::invalid_file(
                &modules_path,
                "no sentence_transformers.models.Pooling module",
            )
        })?;
        Ok(Pipeline {
            transformer_dir,
            pooling,
            pooled_dimension,
            normalize,
        })
    }
}

fn read_pooling(path: &Path) -> std::result::Result<(Pooling, Option<usize>), EmbedError> {
    let config: PoolingConfig = serde_json::from_str(&read(path)?)
        .map_err(|e| EmbedError::invalid_file(path, e.to_string()))?;
    let mut modes = Vec::new();
    if let Some(mode) = &config.pooling_mode {
        modes.push(mode.as_str());
    }
    for (flag, name) in [
        (config.pooling_mode_cls_token, "cls"),
        (config.pooling_mode_mean_tokens, "mean"),
        (config.pooling_mode_max_tokens, "max"),
        (
            config.pooling_mode_mean_sqrt_len_tokens,
            "mean_sqrt_len_tokens",
        ),
        (config.pooling_mode_weightedmean_tokens, "weightedmean"),
        (config.pooling_mode_lasttoken, "lasttoken"),
    ] {
        if flag && !modes.contains(&name) {
            modes.push(name);
        }
    }
    let pooling = match modes.as_slice() {
        ["cls"] => Pooling::Cls,
        ["mean"] => Pooling::Mean,
        ["max"] => Pooling::Max,
        [] => return Err(EmbedError::invalid_file(path, "no pooling mode is enabled")),
        [one] => {
            return Err(EmbedError::unsupported(
                path,
                format!("pooling mode `{one}` (supported: cls, mean, max)"),
            ));
        }
        several => {
            return Err(EmbedError::unsupported(
                path,
                format!("several pooling modes at once ({several:?}); one of cls, mean, max"),
            ));
        }
    };
    Ok((pooling, config.word_embedding_dimension))
}

impl Pooling {
    /// Pools `hidden` `(batch, seq, dim)` into f32 `(batch, dim)`. `lengths`
    /// are the real (unpadded) token counts; positions past them are padding.
    pub(crate) fn apply(self, hidden: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let hidden = hidden.to_dtype(DType::F32)?;
        let (batch, seq, _) = hidden.dims3()?;
        if self == Pooling::Cls {
            return hidden.narrow(1, 0, 1)?.squeeze(1);
        }
        let pool = |states: &Tensor| match self {
            Pooling::Max => states.max(1),
            _ => states.mean(1),
        };
        if lengths.iter().all(|&length| length == seq) {
            return pool(&hidden);
        }
        let rows = (0..batch)
            .map(|row| {
                let length = lengths.get(row).copied().unwrap_or(seq).clamp(1, seq);
                pool(&hidden.narrow(0, row, 1)?.narrow(1, 0, length)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&rows, 0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use candle_core::Device;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn reads_the_minilm_layout() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "modules.json",
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
        );
        write(
            dir.path(),
            "1_Pooling/config.json",
            r#"{"word_embedding_dimension":384,"pooling_mode_cls_token":false,"pooling_mode_mean_tokens":true}"#,
        );
        let pipeline = Pipeline::load(dir.path()).unwrap();
        assert_eq!(pipeline.pooling, Pooling::Mean);
        assert_eq!(pipeline.pooled_dimension, Some(384));
        assert!(pipeline.normalize);
        assert_eq!(pipeline.transformer_dir, dir.path().join(""));
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = Pipeline::load(dir.path()).unwrap_err();
        assert!(matches!(&err, EmbedError::MissingFile { path } if path.ends_with("modules.json")));
        write(
            dir.path(),
            "modules.json",
            r#"[{"path":"","type":"sentence_transformers.models.Transformer"},{"path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#,
        );
        let err = Pipeline::load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, EmbedError::MissingFile { path } if path.ends_with("1_Pooling/config.json"))
        );
        write(
            dir.path(),
            "1_Pooling/config.json",
            r#"{"pooling_mode_lasttoken":true}"#,
        );
        let err = Pipeline::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("lasttoken") && err.contains("1_Pooling"),
            "{err}"
        );
        write(
            dir.path(),
            "modules.json",
            r#"[{"path":"","type":"sentence_transformers.models.Transformer"},{"path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#,
        );
        let err = Pipeline::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("Dense"), "{err}");
    }

    #[test]
    fn pooling_ignores_padding() {
        let hidden = Tensor::new(
            &[
                [[1f32, 2.], [3., 4.], [100., 100.]],
                [[5., 6.], [7., 8.], [9., 10.]],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let mean = Pooling::Mean
            .apply(&hidden, &[2, 3])
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(mean, vec![vec![2., 3.], vec![7., 8.]]);
        let max = Pooling::Max
            .apply(&hidden, &[2, 3])
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(max, vec![vec![3., 4.], vec![9., 10.]]);
        let cls = Pooling::Cls
            .apply(&hidden, &[2, 3])
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(cls, vec![vec![1., 2.], vec![5., 6.]]);
    }
}
