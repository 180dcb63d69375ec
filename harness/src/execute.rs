//! Running the planned blocks of a sweep: each block's session loaded once and its cells measured
//! one by one, or, for the two models of a pair at the same settings, both loaded and each shared
//! sweep point measured side by side ([`crate::interleave`]). Every finished or failed cell
//! reaches the results file before the next starts.

use std::collections::HashMap;

use crate::backend::{Backend, Generator};
use crate::bench::{self, Stop, signalled};
use crate::context::{self, Context};
use crate::ep::Ep;
use crate::error::HarnessError;
use crate::export::ResultsWriter;
use crate::failure::{catch, kind_of};
use crate::generation::Prompt;
use crate::guard;
use crate::interleave::{self, Order, Side};
use crate::progress::Bar;
use crate::results::{self, CellResult, FailedCell, FailureKind, ModelInfo, SweepPoint};
use crate::roofline::HostLimits;
use crate::run::{Block, Outcome, PlannedCell, RunPlan};
use crate::stats::StopReason;
use slmbench_results::placement::Placement;

/// Whether the sweep goes on after a block or cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Go,
    /// A signal arrived: end the sweep.
    Stop,
}

/// A block's loaded model and what its cells' records get from the load.
struct Loaded {
    model: Box<dyn Generator>,
    placement: Option<Placement>,
    host_limits: Option<HostLimits>,
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
}

/// For each block, the index of the block it is measured side by side with: an encoder-decoder
/// and the decoder-only of the same pair, precision and graph variant, at the same settings.
pub fn partners(blocks: &[Block], models: &[crate::run::ModelEntry], infos: &[ModelInfo]) -> Vec<Option<usize>> {
    let mut out = vec![None; blocks.len()];
    for (i, a) in blocks.iter().enumerate() {
        let ia = &infos[a.model];
        if ia.kind != "encoder-decoder" || models[a.model].pair.is_none() {
            continue;
        }
        let j = blocks.iter().position(|b| {
            let ib = &infos[b.model];
            ib.kind == "decoder-only"
                && models[b.model].pair == models[a.model].pair
                && b.settings == a.settings
                && ib.precision == ia.precision
                && ib.graph_variant == ia.graph_variant
        });
        if let Some(j) = j.filter(|&j| out[j].is_none()) {
            out[i] = Some(j);
            out[j] = Some(i);
        }
    }
    out
}

impl Runner<'_> {
    fn label(&self, block: &Block, s: &SweepPoint) -> String {
        format!(
            "{} {} t{} b{} p{} n{}",
            self.plan.models[block.model].name,
            block.settings.ep,
            block.settings.threads,
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
            schema_version: results::SCHEMA_VERSION,
            cell_id: cell.id.clone(),
            status: results::FAILED.into(),
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
            partners(blocks, &self.plan.models, self.infos)
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

    fn weights(&self, block: &Block) -> guard::Estimate {
        guard::Estimate { weights: guard::weights(self.infos[block.model].bytes_on_disk), ..Default::default() }
    }

    fn both_fit(&mut self, a: &Block, b: &Block) -> bool {
        let Some(avail) = self.available else { return true };
        let need = guard::Estimate { weights: self.weights(a).weights + self.weights(b).weights, ..Default::default() };
        let fits = guard::check("both models of the pair", &need, avail).is_none();
        if !fits {
            self.bar.note(&format!(
                "{} and {} do not fit in memory together: measured one after the other, not interleaved",
                self.plan.models[a.model].name, self.plan.models[b.model].name
            ));
        }
        fits
    }

    /// The host's limits for a block's settings, measured before its sessions exist (so nothing
    /// else holds the memory bus), once per thread count.
    fn host_limits(&mut self, block: &Block) -> Option<HostLimits> {
        if !self.plan.roofline || block.settings.ep != Ep::Cpu {
            return None;
        }
        let threads = match block.settings.threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            t => t,
        };
        let (context, bar) = (self.context, &mut *self.bar);
        self.limits
            .entry(threads)
            .or_insert_with(|| {
                crate::roofline::cached(context, threads).or_else(|| {
                    bar.note(&format!(
                        "roofline: measuring this host's limits at {threads} threads (once, then cached)"
                    ));
                    crate::roofline::limits(context, threads)
                        .map_err(|e| bar.note(&format!("roofline not measured: {e}")))
                        .ok()
                })
            })
            .clone()
    }

    /// Loads a block's model; when that fails, its cells are recorded as failed and `Err(flow)`
    /// says whether the sweep goes on.
    fn load(&mut self, block: &Block, host_limits: Option<HostLimits>) -> Result<Result<Loaded, Flow>, HarnessError> {
        let entry = &self.plan.models[block.model];
        if let Some(avail) = self.available
            && let Some(why) = guard::check(&format!("loading {}", entry.name), &self.weights(block), avail)
        {
            self.fail_all(block, FailureKind::Memory, &why)?;
            return Ok(Err(Flow::Go));
        }
        // ONNX Runtime cannot be stopped while it creates sessions (with many threads that
        // can take minutes); nothing unsaved is in memory then, so a signal ends the process.
        let (backend, decoder, bar) = (self.backend, self.plan.decoder, &mut *self.bar);
        let (placement, loaded) = self.stop.at_once(|| {
            bar.note(&format!(
                "loading {} on {} with {} threads",
                entry.name, block.settings.ep, block.settings.threads
            ));
            context::test_pause("LOAD");
            // Placement first, in profiled sessions of its own, dropped before the timed ones
            // are created (and before the peak-memory mark is reset for them).
            let placement = catch(|| backend.placement(&entry.dir, &block.settings, decoder));
            context::reset_peak_rss();
            (placement, catch(|| backend.load(&entry.dir, &block.settings, decoder)))
        });
        let placement = match (placement, &loaded) {
            (Ok(p), _) => Some(p),
            (Err((_, e)), Ok(_)) if self.plan.strict_placement => {
                let why = format!("--strict-placement: the placement could not be observed: {e}");
                self.fail_all(block, FailureKind::Provider, &why)?;
                return Ok(Err(Flow::Go));
            }
            (Err((_, e)), Ok(_)) => {
                self.bar.note(&format!("{}: placement not observed: {e}", entry.name));
                None
            }
            (Err(_), Err(_)) => None,
        };
        if self.interrupted() {
            return Ok(Err(Flow::Stop));
        }
        // Strict: every node must have run on the provider asked for.
        if let (true, Some(p)) = (self.plan.strict_placement, &placement) {
            let want = block.settings.ep.runtime_name();
            let total: usize = p.nodes_by_provider.values().sum();
            let elsewhere: Vec<String> = p
                .nodes_by_provider
                .iter()
                .filter(|(name, _)| name.as_str() != want)
                .map(|(name, n)| format!("{n} of {total} nodes on {name}"))
                .collect();
            if !elsewhere.is_empty() {
                let why = format!("--strict-placement: {} instead of {want}", elsewhere.join(", "));
                self.fail_all(block, FailureKind::Provider, &why)?;
                return Ok(Err(Flow::Go));
            }
        }
        match loaded {
            Ok(model) => Ok(Ok(Loaded { model, placement, host_limits })),
            Err((kind, error)) => {
                self.fail_all(block, kind, &error)?;
                Ok(Err(Flow::Go))
            }
        }
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
        match self.available.and_then(|_| guard::available_memory()).and_then(|avail| guard::check(label, &need, avail))
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
        c.placement = loaded.placement.clone();
        c.roofline = loaded.host_limits.clone().map(|l| {
            crate::roofline::Roofline::of(
                l,
                loaded.model.decode_bytes_per_step(sweep.batch, sweep.input_tokens, sweep.output_tokens),
                c.metrics.itl_ns.map(|s| s.median),
                loaded.model.ttft_flops(sweep.batch, sweep.input_tokens),
                c.metrics.ttft_ns.median,
            )
        });
        c
    }

    /// Whether the sweep goes on after a measured cell (or pair cell) with `reps`; after a
    /// signal it stops, and says whether the cell is kept (with at least the minimum repetitions)
    /// or discarded for `--resume` to measure again. The caller writes what is kept.
    fn after(&mut self, label: &str, reps: &crate::results::Repetitions) -> Flow {
        if reps.stop_reason != StopReason::Interrupted {
            return Flow::Go;
        }
        let reps = reps.measured;
        self.outcome.interrupted = signalled(&self.stop.signal);
        if reps >= self.plan.policy.min_repetitions {
            self.bar.end_cell(&format!("interrupted; kept with {reps} repetitions"));
        } else {
            self.bar.note(&format!(
                "interrupted: {label} discarded after {reps} of the minimum {} repetitions; --resume measures it again",
                self.plan.policy.min_repetitions
            ));
        }
        Flow::Stop
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
            bench::measure(
                &mut *loaded.model,
                info,
                &block.requested,
                sweep,
                &prompt,
                &plan.policy,
                context,
                bar,
                &stop.signal,
            )
        });
        match measured {
            Ok(c) => {
                let c = self.finish(block, loaded, c);
                let interrupted = c.repetitions.stop_reason == StopReason::Interrupted;
                let keep = !interrupted || c.repetitions.measured >= self.plan.policy.min_repetitions;
                if !interrupted {
                    self.bar.end_cell(&Self::summary(&c));
                }
                let flow = self.after(&label, &c.repetitions);
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

    /// A pair's two blocks: both loaded, every sweep point they share measured interleaved, the
    /// points only one of them has (a resumed file had the other) measured alone.
    fn run_pair(&mut self, a: &Block, b: &Block) -> Result<Flow, HarnessError> {
        let limits = self.host_limits(a);
        let la = self.load(a, limits.clone())?;
        if matches!(la, Err(Flow::Stop)) {
            return Ok(Flow::Stop);
        }
        let lb = self.load(b, limits)?;
        let (mut la, mut lb) = match (la, lb) {
            (_, Err(Flow::Stop)) => return Ok(Flow::Stop),
            (Ok(mut la), Err(_)) => return self.run_cells(a, &mut la, &a.cells),
            (Err(_), Ok(mut lb)) => return self.run_cells(b, &mut lb, &b.cells),
            (Err(_), Err(_)) => return Ok(Flow::Go),
            (Ok(la), Ok(lb)) => (la, lb),
        };
        for ca in &a.cells {
            let flow = match b.cells.iter().find(|cb| cb.sweep == ca.sweep) {
                Some(cb) => self.run_interleaved([a, b], [&mut la, &mut lb], [ca, cb])?,
                None => self.run_single(a, &mut la, ca)?,
            };
            if flow == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        let alone: Vec<PlannedCell> =
            b.cells.iter().filter(|cb| !a.cells.iter().any(|ca| ca.sweep == cb.sweep)).cloned().collect();
        self.run_cells(b, &mut lb, &alone)
    }

    fn run_interleaved(
        &mut self,
        blocks: [&Block; 2],
        loaded: [&mut Loaded; 2],
        cells: [&PlannedCell; 2],
    ) -> Result<Flow, HarnessError> {
        let [la, lb] = loaded;
        let sweep = &cells[0].sweep;
        if self.interrupted() {
            return Ok(Flow::Stop);
        }
        let labels = [self.label(blocks[0], sweep), self.label(blocks[1], sweep)];
        let needs = [
            la.model.memory_need(sweep.batch, sweep.input_tokens, sweep.output_tokens),
            lb.model.memory_need(sweep.batch, sweep.input_tokens, sweep.output_tokens),
        ];
        if let Err(why) = self.cell_fits(&format!("{} and {}", labels[0], labels[1]), &needs) {
            // Alone each may fit: measure them one after the other.
            self.bar.note(&format!("{why}; measuring them one after the other"));
            if self.run_single(blocks[0], la, cells[0])? == Flow::Stop {
                return Ok(Flow::Stop);
            }
            return self.run_single(blocks[1], lb, cells[1]);
        }
        let prompts = [self.prompt(&*la.model, sweep), self.prompt(&*lb.model, sweep)];
        let pair = format!("{} + {} (interleaved)", labels[0], self.plan.models[blocks[1].model].name);
        self.bar.start_cell(pair.clone());
        let (plan, context, bar, stop, infos) = (self.plan, self.context, &mut *self.bar, self.stop, self.infos);
        let measured = catch(|| {
            Ok(interleave::measure_pair(
                [
                    Side {
                        model: &mut *la.model,
                        info: &infos[blocks[0].model],
                        settings: &blocks[0].requested,
                        prompt: &prompts[0],
                    },
                    Side {
                        model: &mut *lb.model,
                        info: &infos[blocks[1].model],
                        settings: &blocks[1].requested,
                        prompt: &prompts[1],
                    },
                ],
                sweep,
                &plan.policy,
                plan.order,
                plan.seed,
                context,
                bar,
                &stop.signal,
            ))
        });
        match measured {
            Ok(Ok((ca, cb, ratio))) => {
                let (ca, cb) = (self.finish(blocks[0], la, ca), self.finish(blocks[1], lb, cb));
                let interrupted = ca.repetitions.stop_reason == StopReason::Interrupted;
                let keep = !interrupted || ca.repetitions.measured >= self.plan.policy.min_repetitions;
                if !interrupted {
                    self.bar.end_pair(&format!(
                        "TTFT ratio {} over {} blocks; {} | {}",
                        slmbench_results::export::markdown::ratio_text(&ratio.ttft),
                        ratio.blocks,
                        Self::summary(&ca),
                        Self::summary(&cb)
                    ));
                }
                let flow = self.after(&pair, &ca.repetitions);
                if keep {
                    self.writer.push_pair(ca, cb, ratio)?;
                }
                Ok(flow)
            }
            Ok(Err(_)) | Err(_) if self.interrupted() => {
                self.bar.note(&format!("interrupted during warm-up of {pair}; --resume measures it"));
                Ok(Flow::Stop)
            }
            // One model failed: its cell is recorded as failed, and the other is measured alone,
            // so what works is not lost with what does not.
            Ok(Err((side, e))) => {
                let (failed, other) = if side == 0 { (0, 1) } else { (1, 0) };
                self.fail(blocks[failed], cells[failed], kind_of(&e), e.to_string())?;
                let l = if other == 0 { la } else { lb };
                self.run_single(blocks[other], l, cells[other])
            }
            Err((kind, error)) => {
                self.fail(blocks[0], cells[0], kind, error.clone())?;
                self.fail(blocks[1], cells[1], kind, error)?;
                Ok(Flow::Go)
            }
        }
    }
}
