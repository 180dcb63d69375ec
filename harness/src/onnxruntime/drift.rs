//! How far a model's outputs drift from a reference model's with the same architecture and
//! vocabulary (a quantized variant against its fp32 original): both run one teacher-forced pass
//! over the same token sequence, and every position's logits are compared. This is the accuracy
//! side of a precision comparison (what MLPerf's accuracy mode reports next to its timings).

use std::path::Path;

use serde::Serialize;

use crate::error::HarnessError;
use crate::files::layout;
use crate::generation::Prompt;
use crate::onnxruntime::onnx::{self, Input, Output};

/// Logits of a candidate against a reference over the same forced tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// Positions compared (each predicts the next token).
    pub positions: usize,
    /// Share of positions whose greedy (top-1) token is the same in both.
    pub top1_agreement: f64,
    /// Largest |candidate − reference| over every logit.
    pub max_abs_logit_diff: f64,
    /// The same, over the largest |reference| logit.
    pub max_rel_logit_diff: f64,
}

/// Runs both models over `tokens` synthetic tokens (seeded) and compares their logits.
pub fn measure(
    reference: &Path,
    candidate: &Path,
    tokens: usize,
    seed: u64,
    threads: usize,
) -> Result<Drift, HarnessError> {
    if tokens < 2 {
        return Err(HarnessError::BadInput("accuracy: at least 2 tokens are needed".into()));
    }
    let (fa, fb) = (layout::detect(reference)?, layout::detect(candidate)?);
    if fa.layout.is_encoder_decoder() != fb.layout.is_encoder_decoder() {
        return Err(HarnessError::BadInput(format!(
            "accuracy: {} and {} are of different families; compare a model with a variant of itself",
            reference.display(),
            candidate.display()
        )));
    }
    let vocab = layout::read_config(reference)?.vocab_size.unwrap_or(2);
    let ids = Prompt::synthetic(seed, 1, tokens, vocab).ids;
    let a = logits(reference, &ids, threads)?;
    let b = logits(candidate, &ids, threads)?;
    if a.shape != b.shape {
        return Err(HarnessError::BadInput(format!(
            "accuracy: {} gives logits {:?} but {} gives {:?}; compare models of one architecture and vocabulary",
            reference.display(),
            a.shape,
            candidate.display(),
            b.shape
        )));
    }
    Ok(compare(&a, &b))
}

/// Every position's logits of `b` against the reference `a` (of one shape).
pub(crate) fn compare(a: &Output, b: &Output) -> Drift {
    let v = *a.shape.last().unwrap_or(&1);
    let argmax =
        |row: &[f32]| row.iter().enumerate().fold((0, f32::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m }).0;
    let rows = a.data.len() / v;
    let same =
        (0..rows).filter(|&r| argmax(&a.data[r * v..(r + 1) * v]) == argmax(&b.data[r * v..(r + 1) * v])).count();
    let max_abs = a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs() as f64).fold(0.0, f64::max);
    let scale = a.data.iter().fold(0f64, |m, x| m.max(x.abs() as f64)).max(1e-30);
    Drift {
        positions: rows,
        top1_agreement: same as f64 / rows as f64,
        max_abs_logit_diff: max_abs,
        max_rel_logit_diff: max_abs / scale,
    }
}

/// Inputs for one pass of `session` over `ids` from an empty cache.
pub(crate) fn feed(
    session: &ort::session::Session,
    path: &Path,
    ids: &[i64],
    encoder: Option<&Output>,
) -> Result<Vec<(String, Input)>, HarnessError> {
    let s = ids.len();
    let enc_len = encoder.map(|e| e.shape[1]).unwrap_or(s);
    onnx::input_names(session)
        .into_iter()
        .map(|name| {
            let input = match name.as_str() {
                "input_ids" => Input::I64(vec![1, s], ids.to_vec()),
                "attention_mask" | "decoder_attention_mask" => Input::I64(vec![1, s], vec![1; s]),
                "encoder_attention_mask" => Input::I64(vec![1, enc_len], vec![1; enc_len]),
                "position_ids" => Input::I64(vec![1, s], (0..s as i64).collect()),
                "use_cache_branch" => Input::Bool(vec![1], vec![false]),
                "encoder_hidden_states" => match encoder {
                    Some(e) => Input::F32(e.shape.clone(), e.data.clone()),
                    None => return Err(bad(path, &name)),
                },
                n if n.starts_with("past_key_values.") => {
                    let d = crate::onnxruntime::session::dims_of(session, n).unwrap_or_default();
                    match (d.get(1), d.get(3)) {
                        (Some(&h), Some(&hd)) if h > 0 && hd > 0 => {
                            Input::F32(vec![1, h as usize, 0, hd as usize], vec![])
                        }
                        _ => return Err(bad(path, n)),
                    }
                }
                _ => return Err(bad(path, &name)),
            };
            Ok((name, input))
        })
        .collect()
}

fn bad(path: &Path, input: &str) -> HarnessError {
    HarnessError::BadModel {
        path: path.to_path_buf(),
        reason: format!("accuracy: input `{input}` is not one of Optimum's; compare slmbench or Optimum exports"),
    }
}

/// `[1, S, V]` logits of one teacher-forced pass (the encoder reads the same ids).
pub fn logits(dir: &Path, ids: &[i64], threads: usize) -> Result<Output, HarnessError> {
    let files = layout::detect(dir)?;
    let hidden = match &files.encoder {
        Some(p) => {
            let mut enc = onnx::open(p, threads)?;
            let inputs = feed(&enc, p, ids, None)?;
            let out = onnx::run(&mut enc, p, inputs)?;
            Some(out.get("last_hidden_state").cloned().ok_or_else(|| bad(p, "last_hidden_state"))?)
        }
        None => None,
    };
    let mut dec = onnx::open(&files.first, threads)?;
    let inputs = feed(&dec, &files.first, ids, hidden.as_ref())?;
    let out = onnx::run(&mut dec, &files.first, inputs)?;
    out.get("logits").cloned().ok_or_else(|| bad(&files.first, "logits"))
}
