//! The accuracy side of a variant comparison, as MLPerf's accuracy mode sits next to its timings:
//! each model of a run that is a variant (int8, int4, fused) of a slmbench build whose fp32 plain
//! original is in the same run gets its drift against that original, in `model.accuracy`.

use std::path::Path;

use slmbench_results::schema::{Accuracy, ModelInfo};

use crate::entry::ModelEntry;
use crate::error::HarnessError;

/// Teacher-forced positions compared (fewer when the model has fewer positions).
pub const POSITIONS: usize = 256;

/// What makes two builds the same model: family, architecture and weight seed.
fn identity(dir: &Path) -> Option<(String, serde_json::Value, u64)> {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).ok()?).ok()?;
    Some((m["kind"].as_str()?.to_string(), m["config"].clone(), m["seed"].as_u64()?))
}

fn is_original(info: &ModelInfo) -> bool {
    info.precision.as_deref().unwrap_or("fp32") == "fp32" && info.graph_variant.as_deref().unwrap_or("plain") == "plain"
}

/// For each model, the index of its reference: the fp32 plain build of the same family,
/// architecture and seed, when the model is a variant of it and both are in `models`.
pub fn references(models: &[ModelEntry], infos: &[ModelInfo]) -> Vec<Option<usize>> {
    let ids: Vec<_> = models.iter().map(|m| identity(&m.dir)).collect();
    (0..models.len())
        .map(|i| {
            if is_original(&infos[i]) {
                return None;
            }
            let id = ids[i].as_ref()?;
            (0..models.len()).find(|&j| j != i && is_original(&infos[j]) && ids[j].as_ref() == Some(id))
        })
        .collect()
}

/// Records in `infos` the drift of every variant whose reference is in `models` and for which
/// `wanted` holds; a failure is told to `note` and costs only that figure.
pub fn measure_all(
    models: &[ModelEntry],
    infos: &mut [ModelInfo],
    threads: usize,
    wanted: impl Fn(usize) -> bool,
    note: &mut dyn FnMut(&str),
) {
    for (i, r) in references(models, infos).into_iter().enumerate() {
        let Some(j) = r.filter(|_| wanted(i)) else { continue };
        let (model, reference) = (&models[i], &models[j]);
        note(&format!("accuracy: {} against {}", model.name, reference.name));
        match crate::failure::catch(|| measure(reference, model, threads)) {
            Ok(a) => infos[i].accuracy = Some(a),
            Err((_, e)) => note(&format!("accuracy of {} not measured: {e}", model.name)),
        }
    }
}

/// The drift of `model` against `reference` over [`POSITIONS`] seeded tokens.
pub fn measure(reference: &ModelEntry, model: &ModelEntry, threads: usize) -> Result<Accuracy, HarnessError> {
    let max = crate::files::layout::read_config(&reference.dir)?.max_positions.unwrap_or(POSITIONS);
    let d = crate::onnxruntime::drift::measure(&reference.dir, &model.dir, POSITIONS.min(max), 0, threads)?;
    Ok(Accuracy {
        reference: reference.name.clone(),
        positions: d.positions,
        top1_agreement: d.top1_agreement,
        max_abs_logit_diff: d.max_abs_logit_diff,
        max_rel_logit_diff: d.max_rel_logit_diff,
    })
}
