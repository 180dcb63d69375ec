//! Cross-runtime parity beyond the greedy ids: the same teacher-forced pass through ONNX Runtime
//! and candle, every position's logits compared (top-1 agreement and the largest difference),
//! as `slmbench generate --backend onnxruntime,candle` reports it.

use std::path::Path;

use crate::candle::backend::CandleModel;
use crate::error::HarnessError;
use crate::onnxruntime::drift::{self, Drift};

/// Whether `backends` (names) hold the two runtimes this check sets side by side.
pub fn applies(backends: &[&str]) -> bool {
    backends.contains(&crate::onnxruntime::NAME) && backends.contains(&crate::candle::backend::NAME)
}

/// candle's logits against ONNX Runtime's (the reference) over `ids`, for a model in `dir` that
/// both run; ONNX Runtime with `threads` intra-op threads on the CPU.
pub fn logit_difference(dir: &Path, ids: &[i64], threads: usize) -> Result<Drift, HarnessError> {
    let reference = drift::logits(dir, ids, threads)?;
    let mut model = CandleModel::load(dir)?;
    let (shape, data) = model.teacher_forced(ids)?;
    let candle = crate::onnxruntime::onnx::Output { shape, data };
    if reference.shape != candle.shape {
        return Err(HarnessError::BadModel {
            path: dir.to_path_buf(),
            reason: format!("ONNX Runtime's logits are {:?}, candle's {:?}", reference.shape, candle.shape),
        });
    }
    Ok(drift::compare(&reference, &candle))
}
