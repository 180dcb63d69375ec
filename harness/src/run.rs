//! A whole sweep: validated up front, then run in an order that loads each session once,
//! each finished cell written out before the next starts.

pub use crate::entry::{ModelEntry, expand_dir};
pub use crate::execute::partners;
pub use crate::resume::Done;

use std::collections::HashMap;
use std::path::Path;

use crate::backend;
use crate::bench::{Stop, signalled};
use crate::context;
use crate::ep::{Ep, EpOption};
use crate::error::HarnessError;
use crate::export::{ResultsWriter, Written};
use crate::guard;
use crate::layout::DecoderChoice;
use crate::progress::Bar;
use crate::results::{self, CellResult, FailedCell, ModelInfo, SweepPoint};
use crate::session::{OptLevel, SessionSettings};
use crate::stats::Policy;

/// Everything a sweep needs, validated.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The backends' names, comma-separated (see [`backend::all`]): a sweep axis, outermost;
    /// pairs are formed within one backend.
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
    /// Every ONNX Runtime step through an `IoBinding` (caches kept in the provider's memory).
    pub io_binding: bool,
    /// ONNX Runtime session configuration entries for every session.
    pub session_options: Vec<crate::ep::SessionOption>,
    /// Compiled graphs kept as EP context models in the cache (`--ep-context-cache`).
    pub ep_context_cache: bool,
    /// Loads of an interleaved pair's two models each cell's blocks are spread over
    /// (`--reloads`; 1: one load).
    pub reloads: usize,
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
    /// How a pair's two models share a sweep point: interleaved (default) or one after the other.
    pub order: crate::interleave::Order,
    /// The user's name for this machine (`--device-name`): part of every record's machine.
    pub device_name: Option<String>,
    /// Pair models whose parameter counts are more than [`MAX_PARAM_GAP`] apart
    /// (`--allow-unmatched`); each of their cells says so in its warnings.
    pub allow_unmatched: bool,
}

/// How far apart (relative to the larger) a pair's parameter counts may be before `--pair`
/// refuses it without `--allow-unmatched`.
pub const MAX_PARAM_GAP: f64 = 0.10;

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
        let (p, n) = (inputs.iter().max().copied().unwrap_or(0), self.output_tokens.iter().max().copied().unwrap_or(0));
        for backend in self.backends()? {
            for m in &self.models {
                backend.check(m, self.decoder, p, n, self.prompt_ids.as_deref())?;
            }
            backend.version()?;
            if backend.name() == "onnxruntime" {
                // Registered now, so cell settings name the plugin; a failure is kept and fails
                // those cells as an absent built-in provider does.
                for &ep in self.eps.iter().filter(|e| e.is_plugin()) {
                    let _ = crate::plugin::register(ep);
                }
            }
        }
        crate::ep::check_options(&self.ep_options)?;
        Ok(())
    }

    /// The backends of `backend`, in the order given, each once.
    pub fn backends(&self) -> Result<Vec<&'static dyn backend::Backend>, HarnessError> {
        let mut out: Vec<&'static dyn backend::Backend> = vec![];
        for name in self.backend.split(',').map(str::trim) {
            let b = backend::find(name)?;
            if out.iter().any(|o| o.name() == b.name()) {
                return Err(HarnessError::BadInput(format!("--backend: `{name}` is given twice")));
            }
            out.push(b);
        }
        Ok(out)
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
                        io_binding: self.io_binding,
                        session_options: self.session_options.clone(),
                        ep_context_cache: self.ep_context_cache,
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
                                let id = slmbench_results::identity::cell_id(info, version, &requested, &sweep);
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

    /// Per model, the warning its cells carry because its pair's parameter counts are more than
    /// [`MAX_PARAM_GAP`] apart (or unknown); without `allow_unmatched` such a pair is refused.
    fn unmatched(&self, infos: &[ModelInfo]) -> Result<Vec<Option<String>>, HarnessError> {
        let mut out = vec![None; infos.len()];
        for (i, ed) in infos.iter().enumerate().filter(|(_, m)| m.kind == "encoder-decoder") {
            let Some(tag) = &self.models[i].pair else { continue };
            let Some(j) = infos
                .iter()
                .enumerate()
                .position(|(j, m)| m.kind == "decoder-only" && self.models[j].pair.as_ref() == Some(tag))
            else {
                continue;
            };
            let dec = &infos[j];
            let gap = match (ed.params, dec.params) {
                (Some(a), Some(b)) if a.max(b) > 0 => {
                    let gap = a.abs_diff(b) as f64 / a.max(b) as f64;
                    (gap > MAX_PARAM_GAP).then(|| format!("{:.1}% apart ({a} and {b} parameters)", gap * 100.0))
                }
                (a, b) => Some(format!(
                    "of unknown size ({} and {} parameters)",
                    a.map_or("unknown".into(), |x| x.to_string()),
                    b.map_or("unknown".into(), |x| x.to_string())
                )),
            };
            let Some(gap) = gap else { continue };
            if !self.allow_unmatched {
                return Err(HarnessError::BadInput(format!(
                    "--pair {},{}: the two models are {gap}, more than {:.0}% apart, so their ratio would compare \
                     sizes rather than architectures; build a matched pair (`slmbench models build`), or pass \
                     --allow-unmatched to measure them anyway (every cell then says so)",
                    ed.name,
                    dec.name,
                    MAX_PARAM_GAP * 100.0
                )));
            }
            let w = format!(
                "unmatched pair {tag}: {} and {} are {gap} (--allow-unmatched); their ratio compares sizes as well as architectures",
                ed.name, dec.name
            );
            out[i] = Some(w.clone());
            out[j] = Some(w);
        }
        Ok(out)
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
        let context = context::collect(self.command.clone(), self.device_name.clone());
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
            if self.accuracy && backend.name() == "onnxruntime" {
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
                available: if self.force { None } else { guard::available_memory() },
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
fn same_machine(earlier: &[results::Record], here: &context::Context, output: &str) -> Result<(), HarnessError> {
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

/// What a sweep did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub cells: Vec<CellResult>,
    pub failed_cells: Vec<FailedCell>,
    /// Every record of the results file at the end (earlier ones too when resuming), one per cell.
    pub all_cells: Vec<CellResult>,
    pub all_failed: Vec<FailedCell>,
    /// The file's pair-ratio records (interleaved pairs).
    pub all_ratios: Vec<slmbench_results::schema::PairRatio>,
    /// Cells skipped because the resumed file already had them.
    pub skipped: usize,
    /// Of those, the ones recorded as failed (not retried without `retry_failed`).
    pub skipped_failed: usize,
    /// The signal that ended the sweep early.
    pub interrupted: Option<usize>,
    /// Things the user should know (a torn line dropped, a resume that matched nothing).
    pub notes: Vec<String>,
    /// `--overwrite` measured no cell: the file was left as it was, and this many failed
    /// records (in `failed_cells`) were not written to it.
    pub not_replaced: usize,
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
