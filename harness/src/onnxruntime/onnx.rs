//! Plain ONNX Runtime sessions with host-side inputs and outputs, for the correctness checks
//! (the timed generation loops in `generate.rs` hand caches over without host copies).

use std::collections::BTreeMap;
use std::path::Path;

use ort::session::Session;
use ort::value::{DynValue, Tensor};

use crate::error::HarnessError;
use crate::onnxruntime::session::SessionSettings;

/// A host tensor to feed.
#[derive(Debug, Clone)]
pub enum Input {
    I64(Vec<usize>, Vec<i64>),
    F32(Vec<usize>, Vec<f32>),
    Bool(Vec<usize>, Vec<bool>),
}

/// A float output copied to the host (half-precision outputs widened to f32).
#[derive(Debug, Clone)]
pub struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Opens a session on the CPU provider with `threads` intra-op threads.
pub fn open(path: &Path, threads: usize) -> Result<Session, HarnessError> {
    super::open::open(path, &SessionSettings { threads, ..SessionSettings::default() })
}

/// Input names of a session, in graph order.
pub fn input_names(session: &Session) -> Vec<String> {
    session.inputs().iter().map(|i| i.name().to_string()).collect()
}

/// Runs `session` on named host inputs and copies every float output back. An f32 input that the
/// graph declares float16 (an fp16 build) is rounded to half precision on the way in.
pub fn run(
    session: &mut Session,
    path: &Path,
    inputs: Vec<(String, Input)>,
) -> Result<BTreeMap<String, Output>, HarnessError> {
    let err = HarnessError::ort(path);
    let mut values: Vec<(String, DynValue)> = Vec::with_capacity(inputs.len());
    for (name, input) in inputs {
        let v: DynValue = match input {
            Input::I64(shape, data) => Tensor::from_array((shape, data)).map_err(&err)?.into_dyn(),
            Input::F32(shape, data) if crate::onnxruntime::session::is_half(session, &name) => {
                let data: Vec<half::f16> = data.into_iter().map(half::f16::from_f32).collect();
                Tensor::from_array((shape, data)).map_err(&err)?.into_dyn()
            }
            Input::F32(shape, data) => Tensor::from_array((shape, data)).map_err(&err)?.into_dyn(),
            Input::Bool(shape, data) => Tensor::from_array((shape, data)).map_err(&err)?.into_dyn(),
        };
        values.push((name, v));
    }
    let outputs = session.run(values).map_err(&err)?;
    let mut result = BTreeMap::new();
    for (name, value) in outputs.iter() {
        let (shape, data) = if crate::onnxruntime::session::is_half_value(&value) {
            value.try_extract_tensor::<half::f16>().map(|(s, d)| (s, d.iter().map(|x| x.to_f32()).collect()))
        } else {
            value.try_extract_tensor::<f32>().map(|(s, d)| (s, d.to_vec()))
        }
        .map_err(&err)?;
        result.insert(name.to_string(), Output { shape: shape.iter().map(|&d| d as usize).collect(), data });
    }
    Ok(result)
}
