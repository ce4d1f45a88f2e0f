//! Named tensors from `model.safetensors`, checked against the shapes the
//! architecture expects, converted to the run dtype and moved to the device.

use crate::embed::error::EmbedError;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The checkpoint's tensors, held on the CPU until taken.
pub(crate) struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    prefix: String,
    dtype: DType,
    device: Device,
}

impl Weights {
    /// Reads the whole file (no memory map: the crate forbids `unsafe`).
    pub(crate) fn load(path: &Path, dtype: DType, device: &Device) -> Result<Weights, EmbedError> {
        let bytes = std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                EmbedError::MissingFile {
                    path: path.to_path_buf(),
                }
            } else {
                EmbedError::invalid_file(path, e.to_string())
            }
        })?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| EmbedError::invalid_file(path, e.to_string()))?;
        Ok(Weights {
            path: path.to_path_buf(),
            tensors,
            prefix: String::new(),
            dtype,
            device: device.clone(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn dtype(&self) -> DType {
        self.dtype
    }

    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// Picks the first prefix (`""`, `"bert."`, `"model."`, …) under which
    /// `probe` exists; checkpoints saved from different head classes nest the
    /// encoder differently.
    pub(crate) fn select_prefix(
        &mut self,
        candidates: &[&str],
        probe: &str,
    ) -> Result<(), EmbedError> {
        for candidate in candidates {
            if self.tensors.contains_key(&format!("{candidate}{probe}")) {
                self.prefix = (*candidate).to_string();
                return Ok(());
            }
        }
        Err(EmbedError::invalid_file(
            &self.path,
            format!(
                "no tensor `{probe}` under any of the prefixes {candidates:?}; is this the right architecture?"
            ),
        ))
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(&format!("{}{name}", self.prefix))
    }

    /// The tensor `name` (under the selected prefix) with exactly `shape`,
    /// in the run dtype, on the run device.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, EmbedError> {
        self.get_cpu(name, shape)?
            .to_dtype(self.dtype)
            .and_then(|t| t.to_device(&self.device))
            .map_err(EmbedError::from)
    }

    /// The tensor as stored in f32 on the CPU, for load-time arithmetic
    /// (folding scales, concatenating) before the dtype conversion.
    pub(crate) fn get_cpu(&self, name: &str, shape: &[usize]) -> Result<Tensor, EmbedError> {
        let full = format!("{}{name}", self.prefix);
        let tensor = self.tensors.get(&full).ok_or_else(|| {
            EmbedError::invalid_file(&self.path, format!("tensor `{full}` is missing"))
        })?;
        if tensor.dims() != shape {
            return Err(EmbedError::invalid_file(
                &self.path,
                format!(
                    "tensor `{full}` has shape {:?}, the config implies {shape:?}",
                    tensor.dims()
                ),
            ));
        }
        if !matches!(
            tensor.dtype(),
            DType::F32 | DType::F16 | DType::BF16 | DType::F64
        ) {
            return Err(EmbedError::invalid_file(
                &self.path,
                format!(
                    "tensor `{full}` has dtype {:?}, expected floats",
                    tensor.dtype()
                ),
            ));
        }
        Ok(tensor.to_dtype(DType::F32)?)
    }

    /// Moves a load-time (CPU, f32) tensor to the run dtype and device.
    pub(crate) fn finish(&self, tensor: &Tensor) -> Result<Tensor, EmbedError> {
        Ok(tensor.to_dtype(self.dtype)?.to_device(&self.device)?)
    }
}
