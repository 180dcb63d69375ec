//! Calibration of a QDQ build ([`slmbench_models::qdq`]): the fp32 plain build of the same
//! weights, written with each linear layer's input and output as graph outputs, runs one
//! teacher-forced pass over each of a few seeded prompts, and the range each activation took
//! (MinMax, ONNX Runtime's default calibrator) sets its scale. The prompts' seeds are not the
//! drift measurement's, so the drift is measured on tokens the scales never saw.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use slmbench_models::build::{DECODER_ONLY_DIR, ENCODER_DECODER_DIR};
use slmbench_models::qdq::{CALIBRATION_PREFIX, Calibration, LinearRanges, Range};
use slmbench_models::{BuildOptions, Config, Pair, PairManifest};

use crate::error::HarnessError;
use crate::generation::Prompt;
use crate::onnxruntime::onnx;

/// Builds `pair` into `out` as `opts` say; a QDQ build is calibrated first, from a calibration
/// build next to `out` that is removed afterwards.
pub fn build_pair(pair: &Pair, out: &Path, opts: &BuildOptions) -> Result<PairManifest, HarnessError> {
    let bad = |e: slmbench_models::BuildError| HarnessError::BadInput(e.to_string());
    let Some(q) = &opts.qdq else { return slmbench_models::build_pair(pair, out, opts).map_err(bad) };
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let scratch = out.with_file_name(format!(".{name}.calibration"));
    let calibrated = (|| {
        let mut ranges = BTreeMap::new();
        for (cfg, folder) in [(&pair.encoder_decoder, ENCODER_DECODER_DIR), (&pair.decoder_only, DECODER_ONLY_DIR)] {
            ranges.extend(calibrate(cfg, &scratch.join(folder), opts.seed, &q.calibration)?);
        }
        Ok::<_, HarnessError>(ranges)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let mut qdq = q.clone();
    qdq.ranges = calibrated?;
    slmbench_models::build_pair(pair, out, &BuildOptions { qdq: Some(qdq), ..opts.clone() }).map_err(bad)
}

/// Writes the calibration build of `cfg` (weights from `seed`) into `dir` and measures its
/// linear layers' activation ranges.
fn calibrate(
    cfg: &Config,
    dir: &Path,
    seed: u64,
    c: &Calibration,
) -> Result<BTreeMap<String, LinearRanges>, HarnessError> {
    let opts = BuildOptions { seed, split_decoder: true, calibration_outputs: true, ..BuildOptions::default() };
    slmbench_models::build_model(cfg, dir, &opts).map_err(|e| HarnessError::BadInput(e.to_string()))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let files: Vec<PathBuf> = if cfg.is_encoder_decoder() {
        vec![dir.join("encoder_model.onnx"), dir.join("decoder_model.onnx")]
    } else {
        vec![dir.join("model.onnx")]
    };
    let mut sessions = files.iter().map(|f| onnx::open(f, threads)).collect::<Result<Vec<_>, _>>()?;
    let mut seen: BTreeMap<String, Range> = BTreeMap::new();
    for i in 0..c.prompts {
        let ids = Prompt::synthetic(c.seed + i as u64, 1, c.tokens.min(cfg.max_positions), cfg.vocab_size).ids;
        let mut hidden = None;
        for (session, path) in sessions.iter_mut().zip(&files) {
            let inputs = super::drift::feed(session, path, &ids, hidden.as_ref())?;
            let outputs = onnx::run(session, path, inputs)?;
            for (name, o) in &outputs {
                if let Some(key) = name.strip_prefix(CALIBRATION_PREFIX) {
                    seen.entry(key.to_string()).or_insert(Range::EMPTY).observe(&o.data);
                }
            }
            hidden = outputs.get("last_hidden_state").cloned();
        }
    }
    let mut ranges = BTreeMap::new();
    for (key, r) in &seen {
        let Some(weight) = key.strip_prefix("in/") else { continue };
        let output = seen.get(&format!("out/{weight}")).copied().unwrap_or(Range::EMPTY);
        ranges.insert(weight.to_string(), LinearRanges { input: *r, output });
    }
    Ok(ranges)
}
