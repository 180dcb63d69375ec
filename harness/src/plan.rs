//! A sweep's plan: what to measure (models, providers, threads, lengths, backends), validated up
//! front, and the cells it makes, in an order that loads each session once.

use std::collections::HashMap;

use slmbench_results::ep::Ep;
use slmbench_results::model::ModelKind;
use slmbench_results::pair_ratio::PairRatio;
use slmbench_results::schema::{CellResult, FailedCell, ModelInfo, Settings, SweepPoint};
use slmbench_results::stats::Policy;

use crate::backend::{Backend, Tuning};
use crate::entry::ModelEntry;
use crate::error::HarnessError;
use crate::files::layout::DecoderChoice;

/// Everything a sweep needs, validated.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The backends' names (see [`crate::registry`]): a sweep axis, outermost; pairs are formed
    /// within one backend.
    pub backends: Vec<String>,
    pub models: Vec<ModelEntry>,
    pub eps: Vec<Ep>,
    pub threads: Vec<usize>,
    pub batches: Vec<usize>,
    pub input_tokens: Vec<usize>,
    pub output_tokens: Vec<usize>,
    pub prompt_ids: Option<Vec<i64>>,
    pub seed: u64,
    pub stop_at_eos: bool,
    /// What every session is asked besides provider and threads.
    pub tuning: Tuning,
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
    /// The scenario the run follows (`--scenario`): recorded in every cell's context.
    pub scenario: Option<slmbench_results::scenario::ScenarioId>,
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
            backend.prepare(&self.eps);
        }
        slmbench_results::ep::check_options(&self.tuning.ep_options)?;
        Ok(())
    }

    /// The backends of `backends`, in the order given, each once.
    pub fn backends(&self) -> Result<Vec<&'static dyn Backend>, HarnessError> {
        let mut out: Vec<&'static dyn Backend> = vec![];
        for name in &self.backends {
            let b = crate::registry::find(name)?;
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
    pub fn blocks(
        &self,
        backend: &dyn Backend,
        version: &str,
        infos: &[ModelInfo],
    ) -> Result<Vec<Block>, HarnessError> {
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
                    let requested = backend.settings(version, ep, threads, &self.tuning);
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
                        blocks.push(Block { model: mi, requested, cells });
                    }
                }
            }
        }
        Ok(blocks)
    }

    /// Per model, the warning its cells carry because its pair's parameter counts are more than
    /// [`MAX_PARAM_GAP`] apart (or unknown); without `allow_unmatched` such a pair is refused.
    pub(crate) fn unmatched(&self, infos: &[ModelInfo]) -> Result<Vec<Option<String>>, HarnessError> {
        let mut out = vec![None; infos.len()];
        for (i, ed) in infos.iter().enumerate().filter(|(_, m)| m.kind == ModelKind::EncoderDecoder) {
            let Some(tag) = &self.models[i].pair else { continue };
            let Some(j) = infos
                .iter()
                .enumerate()
                .position(|(j, m)| m.kind == ModelKind::DecoderOnly && self.models[j].pair.as_ref() == Some(tag))
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
}

/// For each block, the index of the block it is measured side by side with: an encoder-decoder
/// and the decoder-only of the same pair and variant (precision, graph, shapes), at the same settings.
pub fn partners(blocks: &[Block], models: &[ModelEntry], infos: &[ModelInfo]) -> Vec<Option<usize>> {
    let mut out = vec![None; blocks.len()];
    for (i, a) in blocks.iter().enumerate() {
        let ia = &infos[a.model];
        if ia.kind != ModelKind::EncoderDecoder || models[a.model].pair.is_none() {
            continue;
        }
        let j = blocks.iter().position(|b| {
            let ib = &infos[b.model];
            ib.kind == ModelKind::DecoderOnly
                && models[b.model].pair == models[a.model].pair
                && b.requested == a.requested
                && slmbench_results::identity::variant(ib) == slmbench_results::identity::variant(ia)
        });
        if let Some(j) = j.filter(|&j| out[j].is_none()) {
            out[i] = Some(j);
            out[j] = Some(i);
        }
    }
    out
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
    pub all_ratios: Vec<PairRatio>,
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
    /// The settings its sessions are loaded with and its records carry.
    pub requested: Settings,
    pub cells: Vec<PlannedCell>,
}

/// One cell of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCell {
    pub sweep: SweepPoint,
    pub id: String,
}
