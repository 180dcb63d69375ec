//! Running the planned blocks of a sweep: each block's session loaded once and its cells measured
//! one by one, or, for the two models of a pair at the same settings, both loaded and each shared
//! sweep point measured side by side ([`crate::interleave`]). Every finished or failed cell
//! reaches the results file before the next starts.
//!
//! Here: the runner, the order of blocks and single cells; `load.rs` loads a block's model (memory
//! guard, placement, host limits); `pair.rs` runs a pair's two blocks together.

mod load;
mod pair;

use std::collections::HashMap;

use slmbench_results::context::Context;
use slmbench_results::export::ResultsWriter;
use slmbench_results::roofline::HostLimits;
use slmbench_results::schema::{CellResult, FailedCell, FailureKind, ModelInfo, SweepPoint};
use slmbench_results::stats::StopReason;

use self::load::Loaded;
use crate::backend::{Backend, Generator};
use crate::bench::{self, Measuring, Stop, Subject, signalled};
use crate::error::HarnessError;
use crate::failure::catch;
use crate::generation::Prompt;
use crate::guard;
use crate::interleave::Order;
use crate::plan::{Block, Outcome, PlannedCell, RunPlan};
use crate::progress::Bar;

/// Whether the sweep goes on after a block or cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Go,
    /// A signal arrived: end the sweep.
    Stop,
}

pub(crate) struct Runner<'a> {
    pub plan: &'a RunPlan,
    pub backend: &'static dyn Backend,
    pub infos: &'a [ModelInfo],
    pub context: &'a Context,
    pub writer: &'a mut ResultsWriter,
    pub bar: &'a mut Bar,
    pub outcome: &'a mut Outcome,
    pub stop: &'a Stop,
    /// Memory available at the start (`None`: `--force`, no guard).
    pub available: Option<u64>,
    pub limits: HashMap<usize, Option<HostLimits>>,
    /// Per model (index into the plan's), a warning all its cells carry (an unmatched pair).
    pub model_warnings: &'a [Option<String>],
}

impl Runner<'_> {
    fn label(&self, block: &Block, s: &SweepPoint) -> String {
        format!(
            "{} {} t{} b{} p{} n{}",
            self.plan.models[block.model].name,
            block.requested.ep_requested,
            block.requested.threads,
            s.batch,
            s.input_tokens,
            s.output_tokens
        )
    }

    fn fail(
        &mut self,
        block: &Block,
        cell: &PlannedCell,
        kind: FailureKind,
        error: String,
    ) -> Result<(), HarnessError> {
        self.bar.fail_cell(&self.label(block, &cell.sweep), &error);
        let f = FailedCell {
            schema_version: slmbench_results::schema::SCHEMA_VERSION,
            cell_id: cell.id.clone(),
            status: slmbench_results::schema::FAILED.into(),
            model: self.infos[block.model].clone(),
            settings: block.requested.clone(),
            sweep: cell.sweep.clone(),
            failure: kind,
            error,
            context: self.context.clone(),
        };
        Ok(self.writer.push_failed(f)?)
    }

    fn fail_all(&mut self, block: &Block, kind: FailureKind, why: &str) -> Result<(), HarnessError> {
        for cell in &block.cells {
            self.fail(block, cell, kind, why.to_string())?;
        }
        Ok(())
    }

    /// Whether a signal arrived (noted in the outcome).
    fn interrupted(&mut self) -> bool {
        let s = signalled(&self.stop.signal);
        if s.is_some() {
            self.outcome.interrupted = s;
        }
        s.is_some()
    }

    /// Runs every block: a pair's two blocks together unless `--order sequential` or the memory
    /// guard says both models do not fit at once.
    pub fn run(&mut self, blocks: &[Block]) -> Result<(), HarnessError> {
        let partners = if self.plan.order == Order::Sequential {
            vec![None; blocks.len()]
        } else {
            crate::plan::partners(blocks, &self.plan.models, self.infos)
        };
        let mut done = vec![false; blocks.len()];
        for (i, block) in blocks.iter().enumerate() {
            if done[i] {
                continue;
            }
            if self.interrupted() {
                break;
            }
            let flow = match partners[i] {
                Some(j) if self.both_fit(block, &blocks[j]) => {
                    done[j] = true;
                    self.run_pair(block, &blocks[j])?
                }
                _ => self.run_block(block)?,
            };
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(())
    }

    fn run_block(&mut self, block: &Block) -> Result<Flow, HarnessError> {
        let limits = self.host_limits(block);
        let mut loaded = match self.load(block, limits)? {
            Ok(l) => l,
            Err(flow) => return Ok(flow),
        };
        self.run_cells(block, &mut loaded, &block.cells)
    }

    fn run_cells(&mut self, block: &Block, loaded: &mut Loaded, cells: &[PlannedCell]) -> Result<Flow, HarnessError> {
        for cell in cells {
            if self.run_single(block, loaded, cell)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Go)
    }

    /// The memory guard's verdict on one cell of a loaded model (`Err`: why it does not fit).
    fn cell_fits(&self, label: &str, needs: &[guard::Estimate]) -> Result<(), String> {
        let need = needs.iter().fold(guard::Estimate::default(), |acc, n| guard::Estimate {
            weights: 0,
            cache: acc.cache + n.cache,
            activations: acc.activations + n.activations,
        });
        // The weights are loaded by now, so what is available already excludes them.
        match self
            .available
            .and_then(|_| crate::host::available_memory())
            .and_then(|avail| guard::check(label, &need, avail))
        {
            Some(why) => Err(format!("{why} (weights already loaded)")),
            None => Ok(()),
        }
    }

    fn prompt(&self, model: &dyn Generator, sweep: &SweepPoint) -> Prompt {
        match &self.plan.prompt_ids {
            Some(ids) => Prompt::repeated(ids, sweep.batch),
            None => Prompt::synthetic(self.plan.seed, sweep.batch, sweep.input_tokens, model.vocab_size()),
        }
    }

    /// What a measured record gets from its load and the guard: estimate, placement, roofline.
    fn finish(&self, block: &Block, loaded: &Loaded, mut c: CellResult) -> CellResult {
        let sweep = &c.sweep;
        let need = loaded.model.memory_need(sweep.batch, sweep.input_tokens, sweep.output_tokens);
        c.metrics.estimated_memory_bytes =
            Some(guard::weights(self.infos[block.model].bytes_on_disk).saturating_add(need.total()));
        c.memory = loaded.model.cache_memory(sweep.batch, sweep.input_tokens, sweep.output_tokens);
        c.placement = loaded.placement.clone();
        c.warnings.extend(loaded.warnings.iter().cloned());
        c.warnings.extend(self.model_warnings.get(block.model).cloned().flatten());
        c.roofline = loaded.host_limits.clone().map(|l| {
            slmbench_results::roofline::Roofline::of(
                l,
                loaded.model.decode_bytes_per_step(sweep.batch, sweep.input_tokens, sweep.output_tokens),
                c.metrics.itl_ns.map(|s| s.median),
                loaded.model.ttft_flops(sweep.batch, sweep.input_tokens),
                c.metrics.ttft_ns.median,
            )
        });
        c
    }

    /// What becomes of a measured cell (or pair cell) with `reps`: whether it is kept, and
    /// whether the sweep goes on. One that a signal cut short ends the sweep, and is kept only with
    /// the minimum repetitions (else `--resume` measures it again); the caller writes what is kept
    /// and reports a cell that ran to the end.
    fn settle(&mut self, label: &str, reps: &slmbench_results::schema::Repetitions) -> (bool, Flow) {
        if reps.stop_reason != StopReason::Interrupted {
            return (true, Flow::Go);
        }
        let reps = reps.measured;
        self.outcome.interrupted = signalled(&self.stop.signal);
        let keep = reps >= self.plan.policy.min_repetitions;
        if keep {
            self.bar.end_cell(&format!("interrupted; kept with {reps} repetitions"));
        } else {
            self.bar.note(&format!(
                "interrupted: {label} discarded after {reps} of the minimum {} repetitions; --resume measures it again",
                self.plan.policy.min_repetitions
            ));
        }
        (keep, Flow::Stop)
    }

    fn summary(c: &CellResult) -> String {
        format!(
            "TTFT {:.2} ms, ITL {} ms, {} reps",
            c.metrics.ttft_ns.median / 1e6,
            c.metrics.itl_ns.map(|s| format!("{:.2}", s.median / 1e6)).unwrap_or_else(|| "–".into()),
            c.repetitions.measured
        )
    }

    fn run_single(&mut self, block: &Block, loaded: &mut Loaded, cell: &PlannedCell) -> Result<Flow, HarnessError> {
        let sweep = &cell.sweep;
        if self.interrupted() {
            return Ok(Flow::Stop);
        }
        let label = self.label(block, sweep);
        let need = loaded.model.memory_need(sweep.batch, sweep.input_tokens, sweep.output_tokens);
        if let Err(why) = self.cell_fits(&label, &[need]) {
            self.fail(block, cell, FailureKind::Memory, why)?;
            return Ok(Flow::Go);
        }
        let prompt = self.prompt(&*loaded.model, sweep);
        self.bar.start_cell(label.clone());
        let (info, plan, context, bar, stop) =
            (&self.infos[block.model], self.plan, self.context, &mut *self.bar, self.stop);
        let measured = catch(|| {
            let cell = Subject { info, settings: &block.requested, prompt: &prompt };
            bench::measure(
                &mut *loaded.model,
                cell,
                sweep,
                &mut Measuring { context, policy: &plan.policy, progress: bar, stop: &stop.signal },
            )
        });
        match measured {
            Ok(c) => {
                let c = self.finish(block, loaded, c);
                let (keep, flow) = self.settle(&label, &c.repetitions);
                if flow == Flow::Go {
                    self.bar.end_cell(&Self::summary(&c));
                }
                if keep {
                    self.writer.push(c)?;
                }
                Ok(flow)
            }
            Err(_) if self.interrupted() => {
                self.bar.note(&format!("interrupted during warm-up of {label}; --resume measures it"));
                Ok(Flow::Stop)
            }
            Err((kind, error)) => {
                self.fail(block, cell, kind, error)?;
                Ok(Flow::Go)
            }
        }
    }
}
