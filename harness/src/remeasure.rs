//! Measuring a recorded cell again (what `gate` does to confirm a suspected regression): the plan
//! that reproduces it from the record alone.

use std::path::PathBuf;

use slmbench_results::model::Layout;
use slmbench_results::schema::CellResult;
use slmbench_results::stats::Policy;

use crate::backend::Tuning;
use crate::bench::Stop;
use crate::entry::ModelEntry;
use crate::error::HarnessError;
use crate::files::layout::DecoderChoice;
use crate::plan::RunPlan;

/// The plan of one cell with `c`'s model, backend, settings, sweep point and repetitions, writing
/// to `output`. A cell whose prompt was given by `--prompt-ids` cannot be reproduced (results do
/// not keep the ids).
pub fn plan_for(c: &CellResult, output: &str, command: String) -> Result<RunPlan, HarnessError> {
    let Some(seed) = c.sweep.prompt_seed else {
        return Err(HarnessError::BadInput(format!(
            "cell {} was run with --prompt-ids, which results do not keep; it cannot be re-measured",
            c.model.name
        )));
    };
    Ok(RunPlan {
        backends: vec![c.settings.backend.clone()],
        models: vec![ModelEntry {
            dir: PathBuf::from(&c.model.dir),
            name: c.model.name.clone(),
            pair: c.model.pair.clone(),
        }],
        eps: vec![c.settings.ep_used],
        threads: vec![c.settings.threads],
        batches: vec![c.sweep.batch],
        input_tokens: vec![c.sweep.input_tokens],
        output_tokens: vec![c.sweep.output_tokens],
        prompt_ids: None,
        seed,
        stop_at_eos: c.sweep.stop_at_eos,
        tuning: Tuning::of(&c.settings),
        reloads: 1,
        decoder: match c.model.layout {
            Layout::EncoderDecoderSplit => DecoderChoice::Split,
            Layout::EncoderDecoderMerged => DecoderChoice::Merged,
            _ => DecoderChoice::Auto,
        },
        policy: Policy {
            warmup: c.repetitions.warmup,
            min_repetitions: c.repetitions.measured,
            max_repetitions: c.repetitions.measured.max(1),
            ..Policy::default()
        },
        output: output.to_string(),
        overwrite: true,
        command,
        shard: None,
        resume: None,
        retry_failed: false,
        force: false,
        // The re-measured cell is compared on its timings only.
        roofline: false,
        accuracy: false,
        // One model: nothing to interleave with.
        order: crate::interleave::Order::Sequential,
        device_name: c.context.device_name.clone(),
        allow_unmatched: true,
        // A re-measurement follows the cell, not the scenario's statistics.
        scenario: None,
    })
}

/// Measures `c`'s cell again, through a temporary results file.
pub fn remeasure(c: &CellResult, command: String) -> Result<CellResult, HarnessError> {
    let tmp = std::env::temp_dir().join(format!("slmbench-confirm-{}.jsonl", std::process::id()));
    let plan = plan_for(c, &tmp.display().to_string(), command)?;
    let outcome = plan.execute(&Stop::default());
    let _ = std::fs::remove_file(&tmp);
    let outcome = outcome?;
    if let Some(f) = outcome.failed_cells.first() {
        return Err(HarnessError::BadInput(format!("re-measuring {} failed: {}", c.model.name, f.error)));
    }
    outcome
        .cells
        .into_iter()
        .next_back()
        .ok_or_else(|| HarnessError::BadInput(format!("re-measuring {} produced no cell", c.model.name)))
}
