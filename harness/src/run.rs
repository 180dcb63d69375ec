//! A whole sweep run: each finished cell written out before the next starts, every backend's
//! cells after the other's, resumable and interruptible.

use std::collections::HashMap;
use std::path::Path;

use slmbench_results::context::Context;
use slmbench_results::export::{ResultsWriter, Written};
use slmbench_results::schema::Record;

use crate::bench::{Stop, signalled};
use crate::error::HarnessError;
use crate::interleave::Order;
use crate::plan::{Outcome, RunPlan};
use crate::progress::Bar;
use crate::resume::Done;

impl RunPlan {
    /// The results writer this plan asks for: a new file (refused if one with results is there,
    /// unless `overwrite`), or the resumed one, locked and read.
    pub fn writer(&self) -> Result<ResultsWriter, HarnessError> {
        match &self.resume {
            Some(path) => Ok(ResultsWriter::resume(path)?),
            None => Ok(ResultsWriter::create(&self.output, self.overwrite)?),
        }
    }

    /// As [`RunPlan::execute_into`], with the writer of [`RunPlan::writer`].
    pub fn execute(&self, stop: &Stop) -> Result<Outcome, HarnessError> {
        self.execute_into(self.writer()?, stop)
    }

    /// Runs every cell not already in `writer`'s file; each finished or failed cell reaches the
    /// results file before the next starts. A SIGINT/SIGTERM noted in `stop` ends the sweep
    /// after the current repetition.
    pub fn execute_into(&self, mut writer: ResultsWriter, stop: &Stop) -> Result<Outcome, HarnessError> {
        self.validate()?;
        let mut context = crate::context::collect(self.command.clone(), self.device_name.clone());
        context.scenario = self.scenario.clone();
        let mut outcome = Outcome::default();
        same_machine(writer.earlier(), &context, &self.output)?;
        let done = Done::from_records(writer.earlier());
        if let Some(t) = writer.torn() {
            outcome.notes.push(format!(
                "{}:{}: dropped a torn final record ({} bytes: {}) left by a run that was cut short",
                writer.journal().unwrap_or(Path::new(&self.output)).display(),
                t.line,
                t.bytes,
                t.error
            ));
        }
        let stop_signal = &*stop.signal;
        // Per backend: its models' descriptions and its blocks (the files are the same; what a
        // backend records of them, and its cells' ids, are its own).
        let mut runs = vec![];
        for backend in self.backends()? {
            let version = backend.version()?;
            let infos = self.models.iter().map(|m| backend.describe(m, self.decoder)).collect::<Result<Vec<_>, _>>()?;
            let unmatched = self.unmatched(&infos)?;
            let mut blocks = self.blocks(backend, &version, &infos)?;
            for block in &mut blocks {
                block.cells.retain(|c| {
                    let skip = done.skip(&c.id, self.retry_failed);
                    if skip {
                        outcome.skipped += 1;
                        outcome.skipped_failed += usize::from(done.ids[&c.id]);
                    }
                    !skip
                });
            }
            blocks.retain(|b| !b.cells.is_empty());
            runs.push((backend, infos, blocks, unmatched));
        }
        if self.resume.is_some() && !done.ids.is_empty() && outcome.skipped == 0 {
            outcome.notes.push(format!(
                "none of the {} records in {} belongs to this sweep (other models, settings or runtime?); \
                 measuring every cell",
                done.ids.len(),
                self.output
            ));
        }
        // Said before anything is measured: a pair measured with fewer blocks than an interval
        // needs gets ratios with no interval, and so no answer.
        let pairs = runs.iter().any(|(_, infos, blocks, _)| {
            crate::plan::partners(blocks, &self.models, infos).iter().any(Option::is_some)
        });
        let need = slmbench_results::paired::MIN_BLOCKS_FOR_CI;
        if pairs && self.order != Order::Sequential && self.policy.max_repetitions < need {
            outcome.notes.push(format!(
                "warning: -r {}: a pair measured interleaved needs at least {need} blocks for the paired 95% interval \
                 of its ratios; these will have none (n too small): run with -r {need} or more",
                self.policy.max_repetitions
            ));
        }
        let total: usize = runs.iter().flat_map(|(_, _, blocks, _)| blocks).map(|b| b.cells.len()).sum();
        let mut bar = Bar::new(total);
        for w in context.warnings.iter().map(|w| format!("warning: {w}")).chain(outcome.notes.iter().cloned()) {
            bar.note(&w);
        }
        if outcome.skipped > 0 {
            bar.note(&format!("resuming: {} cells already in {}, {total} to measure", outcome.skipped, self.output));
        }
        let mut limits = HashMap::new();
        for (backend, mut infos, blocks, unmatched) in runs {
            for w in unmatched.iter().flatten().collect::<std::collections::BTreeSet<_>>() {
                bar.note(&format!("warning: {w}"));
            }
            // After the cell ids are fixed: the drift is a finding about the model, not part of its
            // identity. A failure here costs the figure, never the sweep.
            if self.accuracy && backend.measures_drift() {
                let threads = self.threads.first().copied().unwrap_or(1);
                let wanted = |i: usize| blocks.iter().any(|b| b.model == i) && signalled(stop_signal).is_none();
                crate::accuracy::measure_all(&self.models, &mut infos, threads, wanted, &mut |n| bar.note(n));
            }
            let mut runner = crate::execute::Runner {
                plan: self,
                backend,
                infos: &infos,
                context: &context,
                writer: &mut writer,
                bar: &mut bar,
                outcome: &mut outcome,
                stop,
                available: if self.force { None } else { crate::host::available_memory() },
                limits: std::mem::take(&mut limits),
                model_warnings: &unmatched,
            };
            let ran = runner.run(&blocks);
            limits = std::mem::take(&mut runner.limits);
            if let Err(e) = ran {
                return Err(self.stopped(writer.records_written(), e));
            }
            if signalled(stop_signal).is_some() {
                break;
            }
        }
        let written = writer.records_written();
        let Written { cells, failed, all_cells, all_failed, all_ratios, not_replaced } =
            writer.finish().map_err(|e| self.stopped(written, e.into()))?;
        outcome.not_replaced = not_replaced;
        outcome.cells = cells;
        outcome.failed_cells = failed;
        outcome.all_cells = all_cells;
        outcome.all_failed = all_failed;
        outcome.all_ratios = all_ratios;
        Ok(outcome)
    }
}

impl RunPlan {
    /// An error after `kept` records reached the file: they are kept, and the error says so.
    fn stopped(&self, kept: usize, e: HarnessError) -> HarnessError {
        if kept == 0 || self.output == "-" {
            return e;
        }
        HarnessError::Stopped { kept, file: self.output.clone(), source: Box::new(e) }
    }
}

/// A resumed file holds one machine's cells with one runtime: a record measured elsewhere (or
/// with another ONNX Runtime) refuses the resume, naming what differs.
fn same_machine(earlier: &[Record], here: &Context, output: &str) -> Result<(), HarnessError> {
    use slmbench_results::identity::Machine;
    let this = Machine::of(here);
    for r in earlier {
        let mut differs = Machine::of(r.context()).differences(&this);
        if r.context().ort_version != here.ort_version {
            differs.push(format!("ONNX Runtime {}, not {}", r.context().ort_version, here.ort_version));
        }
        if !differs.is_empty() {
            return Err(HarnessError::BadInput(format!(
                "--resume {output}: cell {} in it was measured on another machine or runtime ({}: {}); a results \
                 file holds one machine's cells: write these to a new -o and set the files side by side with \
                 `slmbench report A B`",
                r.cell_id(),
                Machine::of(r.context()),
                differs.join("; ")
            )));
        }
    }
    Ok(())
}
