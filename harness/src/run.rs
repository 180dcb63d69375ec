//! A whole sweep: validated up front, then run in an order that loads each session once,
//! each finished cell written out before the next starts.

pub use crate::entry::{ModelEntry, expand_dir};
pub use crate::resume::Done;

use std::collections::HashMap;
use std::path::Path;

use crate::backend;
use crate::bench::{self, Stop, signalled};
use crate::context;
use crate::ep::{Ep, EpOption};
use crate::error::HarnessError;
use crate::export::{ResultsWriter, Written};
use crate::failure::catch;
use crate::generation::Prompt;
use crate::guard;
use crate::layout::DecoderChoice;
use crate::progress::Bar;
use crate::results::{self, CellResult, FailedCell, FailureKind, ModelInfo, SweepPoint};
use crate::session::{OptLevel, SessionSettings};
use crate::stats::{Policy, StopReason};

/// Everything a sweep needs, validated.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The backend's name (see [`backend::all`]).
    pub backend: String,
    pub models: Vec<ModelEntry>,
    pub eps: Vec<Ep>,
    pub ep_options: Vec<EpOption>,
    pub threads: Vec<usize>,
    pub batches: Vec<usize>,
    pub input_tokens: Vec<usize>,
    pub output_tokens: Vec<usize>,
    pub prompt_ids: Option<Vec<i64>>,
    pub seed: u64,
    pub stop_at_eos: bool,
    pub opt_level: OptLevel,
    pub spinning: bool,
    /// No CPU fallback: a node the provider cannot run fails the cell.
    pub strict_placement: bool,
    pub decoder: DecoderChoice,
    pub policy: Policy,
    pub output: String,
    /// Replace an existing results file (only when the first new record is written).
    pub overwrite: bool,
    pub command: String,
    /// `(i, n)`: run only cells whose position in the sweep order is ≡ i − 1 (mod n).
    pub shard: Option<(usize, usize)>,
    /// Resuming `output`: skip the cells already in it and append the rest.
    pub resume: Option<String>,
    /// With `resume`, measure again the cells recorded as failed.
    pub retry_failed: bool,
    /// Run cells the memory guard would refuse.
    pub force: bool,
    /// Set CPU cells against the host's measured limits (measured once per host and thread
    /// count, then cached).
    pub roofline: bool,
    /// Measure each variant's drift against its fp32 plain original when both are in the run
    /// ([`crate::accuracy`]).
    pub accuracy: bool,
}

/// Parses `--shard i/n` (1 ≤ i ≤ n).
pub fn parse_shard(text: &str) -> Result<(usize, usize), HarnessError> {
    let bad = || HarnessError::BadInput(format!("--shard: `{text}` must be i/n with 1 ≤ i ≤ n, e.g. 2/3"));
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n) = (i.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

impl RunPlan {
    fn in_shard(&self, index: usize) -> bool {
        self.shard.is_none_or(|(i, n)| index % n == i - 1)
    }

    /// Checks what can be checked before anything runs: model layouts, lengths against the
    /// models' positions, provider options, the runtime. Providers themselves are tried per cell,
    /// so one that is missing fails its own cells and not the sweep.
    pub fn validate(&self) -> Result<(), HarnessError> {
        if self.models.is_empty() {
            return Err(HarnessError::BadInput("no model to run: give --model, --pair or --preset".into()));
        }
        let inputs: Vec<usize> = match &self.prompt_ids {
            Some(ids) => vec![ids.len()],
            None => self.input_tokens.clone(),
        };
        let backend = backend::find(&self.backend)?;
        let (p, n) = (inputs.iter().max().copied().unwrap_or(0), self.output_tokens.iter().max().copied().unwrap_or(0));
        for m in &self.models {
            backend.check(m, self.decoder, p, n, self.prompt_ids.as_deref())?;
        }
        crate::ep::check_options(&self.ep_options)?;
        backend.version()?;
        Ok(())
    }

    /// Every cell of this shard, in sweep order, grouped by session (model, provider, threads),
    /// each with its id: a pure function of the plan and the models' descriptions (`infos`, in
    /// the order of `models`), so tests can walk a sweep without loading anything. The same cell
    /// twice (the same model given twice, a value repeated) is refused, naming both.
    pub fn blocks(&self, backend: &str, version: &str, infos: &[ModelInfo]) -> Result<Vec<Block>, HarnessError> {
        // With `--prompt-ids`, the one prompt replaces every input length.
        let inputs: Vec<usize> = match &self.prompt_ids {
            Some(ids) => vec![ids.len()],
            None => self.input_tokens.clone(),
        };
        let mut blocks: Vec<Block> = Vec::new();
        let mut index = 0usize;
        let mut planned: HashMap<String, &str> = HashMap::new();
        for (mi, info) in infos.iter().enumerate() {
            for &ep in &self.eps {
                for &threads in &self.threads {
                    let settings = SessionSettings {
                        ep,
                        ep_options: self.ep_options.clone(),
                        threads,
                        opt_level: self.opt_level,
                        spinning: self.spinning,
                        strict_placement: self.strict_placement,
                    };
                    let requested = results::requested_settings(backend, version, &settings);
                    let mut cells = Vec::new();
                    for &batch in &self.batches {
                        for &input_tokens in &inputs {
                            for &n in &self.output_tokens {
                                index += 1;
                                if !self.in_shard(index - 1) {
                                    continue;
                                }
                                let sweep = SweepPoint {
                                    batch,
                                    input_tokens,
                                    output_tokens: n,
                                    stop_at_eos: self.stop_at_eos,
                                    prompt_seed: self.prompt_ids.is_none().then_some(self.seed),
                                };
                                let id = results::cell_id(info, version, &requested, &sweep);
                                if let Some(first) = planned.insert(id.clone(), &info.name) {
                                    return Err(HarnessError::BadInput(if first == info.name.as_str() {
                                        format!(
                                            "{first} {ep} t{threads} b{batch} p{} n{n} appears twice in the sweep; \
                                             give each model and each value of -p, -n, -b, -t and --ep once",
                                            sweep.input_tokens
                                        )
                                    } else {
                                        format!(
                                            "{first} and {} are the same model (identical files, sha256 {}); give it once",
                                            info.name,
                                            info.content_sha256.as_deref().unwrap_or("?")
                                        )
                                    }));
                                }
                                cells.push(PlannedCell { sweep, id });
                            }
                        }
                    }
                    if !cells.is_empty() {
                        blocks.push(Block { model: mi, settings, requested, cells });
                    }
                }
            }
        }
        Ok(blocks)
    }

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
        let context = context::collect(self.command.clone());
        let mut outcome = Outcome::default();
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
        let backend = backend::find(&self.backend)?;
        let version = backend.version()?;
        let mut infos = self.models.iter().map(|m| backend.describe(m, self.decoder)).collect::<Result<Vec<_>, _>>()?;
        let mut blocks = self.blocks(backend.name(), &version, &infos)?;
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
        if self.resume.is_some() && !done.ids.is_empty() && outcome.skipped == 0 {
            outcome.notes.push(format!(
                "none of the {} records in {} belongs to this sweep (other models, settings or runtime?); \
                 measuring every cell",
                done.ids.len(),
                self.output
            ));
        }
        let total: usize = blocks.iter().map(|b| b.cells.len()).sum();
        let mut bar = Bar::new(total);
        for w in context.warnings.iter().map(|w| format!("warning: {w}")).chain(outcome.notes.iter().cloned()) {
            bar.note(&w);
        }
        if outcome.skipped > 0 {
            bar.note(&format!("resuming: {} cells already in {}, {total} to measure", outcome.skipped, self.output));
        }
        // After the cell ids are fixed: the drift is a finding about the model, not part of its
        // identity. A failure here costs the figure, never the sweep.
        if self.accuracy && backend.name() == "onnxruntime" {
            let threads = self.threads.first().copied().unwrap_or(1);
            let wanted = |i: usize| blocks.iter().any(|b| b.model == i) && signalled(stop_signal).is_none();
            crate::accuracy::measure_all(&self.models, &mut infos, threads, wanted, &mut |n| bar.note(n));
        }
        let available = if self.force { None } else { guard::available_memory() };
        let mut limits: HashMap<usize, Option<crate::roofline::HostLimits>> = HashMap::new();
        'blocks: for block in &blocks {
            let entry = &self.models[block.model];
            let info = &infos[block.model];
            let label = |s: &SweepPoint| {
                format!(
                    "{} {} t{} b{} p{} n{}",
                    entry.name, block.settings.ep, block.settings.threads, s.batch, s.input_tokens, s.output_tokens
                )
            };
            let fail = |writer: &mut ResultsWriter,
                        bar: &mut Bar,
                        cell: &PlannedCell,
                        kind: FailureKind,
                        error: String|
             -> Result<(), HarnessError> {
                bar.fail_cell(&label(&cell.sweep), &error);
                let f = FailedCell {
                    schema_version: results::SCHEMA_VERSION,
                    cell_id: cell.id.clone(),
                    status: results::FAILED.into(),
                    model: info.clone(),
                    settings: block.requested.clone(),
                    sweep: cell.sweep.clone(),
                    failure: kind,
                    error,
                    context: context.clone(),
                };
                Ok(writer.push_failed(f)?)
            };
            if let Some(s) = signalled(stop_signal) {
                outcome.interrupted = Some(s);
                break;
            }
            if let Some(avail) = available {
                let need = guard::Estimate { weights: guard::weights(info.bytes_on_disk), ..Default::default() };
                if let Some(why) = guard::check(&format!("loading {}", entry.name), &need, avail) {
                    for cell in &block.cells {
                        fail(&mut writer, &mut bar, cell, FailureKind::Memory, why.clone())?;
                    }
                    continue;
                }
            }
            // Measured before this block's sessions exist, so nothing else holds the memory bus.
            let host_limits = if self.roofline && block.settings.ep == Ep::Cpu {
                let threads = match block.settings.threads {
                    0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
                    t => t,
                };
                limits
                    .entry(threads)
                    .or_insert_with(|| {
                        crate::roofline::cached(&context, threads).or_else(|| {
                            bar.note(&format!(
                                "roofline: measuring this host's limits at {threads} threads (once, then cached)"
                            ));
                            crate::roofline::limits(&context, threads)
                                .map_err(|e| bar.note(&format!("roofline not measured: {e}")))
                                .ok()
                        })
                    })
                    .clone()
            } else {
                None
            };
            // ONNX Runtime cannot be stopped while it creates sessions (with many threads that
            // can take minutes); nothing unsaved is in memory then, so a signal ends the process.
            let (placement, loaded) = stop.at_once(|| {
                bar.note(&format!(
                    "loading {} on {} with {} threads",
                    entry.name, block.settings.ep, block.settings.threads
                ));
                context::test_pause("LOAD");
                // Placement first, in profiled sessions of its own, dropped before the timed ones
                // are created (and before the peak-memory mark is reset for them).
                let placement = catch(|| backend.placement(&entry.dir, &block.settings, self.decoder));
                context::reset_peak_rss();
                (placement, catch(|| backend.load(&entry.dir, &block.settings, self.decoder)))
            });
            let placement = match (placement, &loaded) {
                (Ok(p), _) => Some(p),
                (Err((_, e)), Ok(_)) if self.strict_placement => {
                    let why = format!("--strict-placement: the placement could not be observed: {e}");
                    for cell in &block.cells {
                        fail(&mut writer, &mut bar, cell, FailureKind::Provider, why.clone())?;
                    }
                    continue;
                }
                (Err((_, e)), Ok(_)) => {
                    bar.note(&format!("{}: placement not observed: {e}", entry.name));
                    None
                }
                (Err(_), Err(_)) => None,
            };
            if let Some(s) = signalled(stop_signal) {
                outcome.interrupted = Some(s);
                break 'blocks;
            }
            // Strict: every node must have run on the provider asked for.
            if let (true, Some(p)) = (self.strict_placement, &placement) {
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
                    for cell in &block.cells {
                        fail(&mut writer, &mut bar, cell, FailureKind::Provider, why.clone())?;
                    }
                    continue;
                }
            }
            let mut model = match loaded {
                Ok(m) => m,
                Err((kind, error)) => {
                    for cell in &block.cells {
                        fail(&mut writer, &mut bar, cell, kind, error.clone())?;
                    }
                    continue;
                }
            };
            for cell in &block.cells {
                let sweep = &cell.sweep;
                if let Some(s) = signalled(stop_signal) {
                    outcome.interrupted = Some(s);
                    break 'blocks;
                }
                let need = model.memory_need(sweep.batch, sweep.input_tokens, sweep.output_tokens);
                // The weights are loaded by now, so what is available already excludes them.
                if let Some(avail) = available.and_then(|_| guard::available_memory())
                    && let Some(why) = guard::check(&label(sweep), &need, avail)
                {
                    let why = format!("{why} (weights already loaded)");
                    fail(&mut writer, &mut bar, cell, FailureKind::Memory, why)?;
                    continue;
                }
                let estimate = guard::weights(info.bytes_on_disk).saturating_add(need.total());
                let prompt = match &self.prompt_ids {
                    Some(ids) => Prompt::repeated(ids, sweep.batch),
                    None => Prompt::synthetic(self.seed, sweep.batch, sweep.input_tokens, model.vocab_size()),
                };
                bar.start_cell(label(sweep));
                let measured = catch(|| {
                    bench::measure(
                        &mut *model,
                        info,
                        &block.requested,
                        sweep,
                        &prompt,
                        &self.policy,
                        &context,
                        &mut bar,
                        stop_signal,
                    )
                });
                let measured = measured.map(|mut c| {
                    c.metrics.estimated_memory_bytes = Some(estimate);
                    c.placement = placement.clone();
                    c.roofline = host_limits.clone().map(|l| {
                        crate::roofline::Roofline::of(
                            l,
                            model.decode_bytes_per_step(sweep.batch, sweep.input_tokens, sweep.output_tokens),
                            c.metrics.itl_ns.map(|s| s.median),
                            model.ttft_flops(sweep.batch, sweep.input_tokens),
                            c.metrics.ttft_ns.median,
                        )
                    });
                    c
                });
                match measured {
                    Ok(cell) if cell.repetitions.stop_reason == StopReason::Interrupted => {
                        outcome.interrupted = signalled(stop_signal);
                        if cell.repetitions.measured >= self.policy.min_repetitions {
                            bar.end_cell(&format!("interrupted; kept with {} repetitions", cell.repetitions.measured));
                            writer.push(cell)?;
                        } else {
                            bar.note(&format!(
                                "interrupted: {} discarded after {} of the minimum {} repetitions; \
                                 --resume measures it again",
                                label(sweep),
                                cell.repetitions.measured,
                                self.policy.min_repetitions
                            ));
                        }
                        break 'blocks;
                    }
                    Ok(cell) => {
                        bar.end_cell(&format!(
                            "TTFT {:.2} ms, ITL {} ms, {} reps",
                            cell.metrics.ttft_ns.median / 1e6,
                            cell.metrics.itl_ns.map(|s| format!("{:.2}", s.median / 1e6)).unwrap_or_else(|| "–".into()),
                            cell.repetitions.measured
                        ));
                        writer.push(cell)?;
                    }
                    Err((_, _)) if signalled(stop_signal).is_some() => {
                        outcome.interrupted = signalled(stop_signal);
                        bar.note(&format!("interrupted during warm-up of {}; --resume measures it", label(sweep)));
                        break 'blocks;
                    }
                    Err((kind, error)) => fail(&mut writer, &mut bar, cell, kind, error)?,
                }
            }
        }
        let Written { cells, failed, all_cells, all_failed } = writer.finish()?;
        outcome.cells = cells;
        outcome.failed_cells = failed;
        outcome.all_cells = all_cells;
        outcome.all_failed = all_failed;
        Ok(outcome)
    }
}

/// What a sweep did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub cells: Vec<CellResult>,
    pub failed_cells: Vec<FailedCell>,
    /// Every record of the results file at the end (earlier ones too when resuming), one per cell.
    pub all_cells: Vec<CellResult>,
    pub all_failed: Vec<FailedCell>,
    /// Cells skipped because the resumed file already had them.
    pub skipped: usize,
    /// Of those, the ones recorded as failed (not retried without `retry_failed`).
    pub skipped_failed: usize,
    /// The signal that ended the sweep early.
    pub interrupted: Option<usize>,
    /// Things the user should know (a torn line dropped, a resume that matched nothing).
    pub notes: Vec<String>,
}

/// The cells of one session (model, provider, threads), in sweep order.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Index into the plan's `models`.
    pub model: usize,
    pub settings: SessionSettings,
    /// The settings its records carry.
    pub requested: results::Settings,
    pub cells: Vec<PlannedCell>,
}

/// One cell of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCell {
    pub sweep: SweepPoint,
    pub id: String,
}
