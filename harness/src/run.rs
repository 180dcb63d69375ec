//! A whole sweep: validated up front, then run in an order that loads each session once,
//! each finished cell written out before the next starts.

use std::path::{Path, PathBuf};

use crate::bench;
use crate::context::{self, Context};
use crate::ep::{Ep, EpOption};
use crate::error::HarnessError;
use crate::export::ResultsWriter;
use crate::generate::Prompt;
use crate::layout::{self, DecoderChoice};
use crate::progress::Bar;
use crate::results::{CellResult, ModelInfo, SweepPoint};
use crate::runtime;
use crate::session::{LoadedModel, OptLevel, SessionSettings};
use crate::stats::Policy;

/// One model to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    pub dir: PathBuf,
    pub name: String,
    pub pair: Option<String>,
}

/// Expands a directory: a built pair (with `pair.json`, or `encoder-decoder/` and
/// `decoder-only/` folders) gives both models tagged as a pair; anything else is one model.
pub fn expand_dir(dir: &Path) -> Vec<ModelEntry> {
    let ed = dir.join(slmbench_models::build::ENCODER_DECODER_DIR);
    let dec = dir.join(slmbench_models::build::DECODER_ONLY_DIR);
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string());
    if ed.is_dir() && dec.is_dir() {
        let pair =
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(dir.join("pair.json")).unwrap_or_default())
                .ok()
                .and_then(|v| v["name"].as_str().map(String::from))
                .unwrap_or(name);
        return vec![
            ModelEntry { dir: ed, name: format!("{pair}/encoder-decoder"), pair: Some(pair.clone()) },
            ModelEntry { dir: dec, name: format!("{pair}/decoder-only"), pair: Some(pair) },
        ];
    }
    vec![ModelEntry { dir: dir.to_path_buf(), name, pair: None }]
}

/// Everything a sweep needs, validated.
#[derive(Debug, Clone)]
pub struct RunPlan {
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
    pub decoder: DecoderChoice,
    pub policy: Policy,
    pub output: String,
    pub command: String,
    /// `(i, n)`: run only cells whose position in the sweep order is ≡ i − 1 (mod n).
    pub shard: Option<(usize, usize)>,
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
    /// Cells of one (model, provider, threads) block: one session load each.
    fn block_cells(&self) -> usize {
        self.batches.len()
            * self.output_tokens.len()
            * if self.prompt_ids.is_some() { 1 } else { self.input_tokens.len() }
    }

    fn in_shard(&self, index: usize) -> bool {
        self.shard.is_none_or(|(i, n)| index % n == i - 1)
    }

    /// Cells this run measures (its shard's share).
    pub fn cells(&self) -> usize {
        (0..self.all_cells()).filter(|&i| self.in_shard(i)).count()
    }

    fn all_cells(&self) -> usize {
        self.models.len()
            * self.eps.len()
            * self.threads.len()
            * self.batches.len()
            * self.output_tokens.len()
            * if self.prompt_ids.is_some() { 1 } else { self.input_tokens.len() }
    }

    /// Checks what can be checked before anything runs: model layouts, lengths against the
    /// models' positions, providers against the loaded runtime.
    pub fn validate(&self) -> Result<(), HarnessError> {
        if self.models.is_empty() {
            return Err(HarnessError::BadInput("no model to run: give --model, --pair or --preset".into()));
        }
        let inputs: Vec<usize> = match &self.prompt_ids {
            Some(ids) => vec![ids.len()],
            None => self.input_tokens.clone(),
        };
        for m in &self.models {
            let files = layout::detect_with(&m.dir, self.decoder)?;
            let cfg = layout::read_config(&m.dir)?;
            let (p, n) =
                (inputs.iter().max().copied().unwrap_or(0), self.output_tokens.iter().max().copied().unwrap_or(0));
            cfg.check_positions(files.layout.is_encoder_decoder(), p, n)
                .map_err(|e| HarnessError::BadInput(format!("{}: {e}; lower -p/-n", m.name)))?;
            if let (Some(ids), Some(v)) = (&self.prompt_ids, cfg.vocab_size)
                && let Some(bad) = ids.iter().find(|&&i| i < 0 || i as usize >= v)
            {
                return Err(HarnessError::BadInput(format!(
                    "--prompt-ids: {bad} is outside {}'s vocabulary (0..{v})",
                    m.name
                )));
            }
        }
        runtime::environment()?;
        for &ep in &self.eps {
            crate::ep::dispatch(ep, &self.ep_options)?;
        }
        Ok(())
    }

    /// Runs every cell; returns them all. The results file gets each cell as it finishes.
    pub fn execute(&self) -> Result<Vec<CellResult>, HarnessError> {
        self.validate()?;
        let mut writer = ResultsWriter::new(&self.output)?;
        let context = Context::collect(self.command.clone());
        let mut bar = Bar::new(self.cells());
        for w in &context.warnings {
            bar.note(&format!("warning: {w}"));
        }
        let prompts: Vec<Option<Vec<i64>>> = match &self.prompt_ids {
            Some(ids) => vec![Some(ids.clone())],
            None => self.input_tokens.iter().map(|_| None).collect(),
        };
        let mut index = 0usize;
        let per_block = self.block_cells();
        for entry in &self.models {
            for &ep in &self.eps {
                for &threads in &self.threads {
                    if !(index..index + per_block).any(|i| self.in_shard(i)) {
                        index += per_block;
                        continue;
                    }
                    let settings = SessionSettings {
                        ep,
                        ep_options: self.ep_options.clone(),
                        threads,
                        opt_level: self.opt_level,
                        spinning: self.spinning,
                    };
                    context::reset_peak_rss();
                    let mut model = LoadedModel::load_with(&entry.dir, &settings, self.decoder)?;
                    let info = model_info(entry, &model);
                    for &batch in &self.batches {
                        for (pi, given) in prompts.iter().enumerate() {
                            let prompt = match given {
                                Some(ids) => Prompt::repeated(ids, batch),
                                None => Prompt::synthetic(
                                    self.seed,
                                    batch,
                                    self.input_tokens[pi],
                                    model.geometry.vocab_size,
                                ),
                            };
                            for &n in &self.output_tokens {
                                index += 1;
                                if !self.in_shard(index - 1) {
                                    continue;
                                }
                                let sweep = SweepPoint {
                                    batch,
                                    input_tokens: prompt.len,
                                    output_tokens: n,
                                    stop_at_eos: self.stop_at_eos,
                                    prompt_seed: given.is_none().then_some(self.seed),
                                };
                                bar.start_cell(format!("{} {ep} t{threads} b{batch} p{} n{n}", entry.name, prompt.len));
                                let cell = bench::measure(
                                    &mut model,
                                    &info,
                                    &sweep,
                                    &prompt,
                                    &self.policy,
                                    &context,
                                    &mut bar,
                                )?;
                                bar.end_cell(&format!(
                                    "TTFT {:.2} ms, ITL {} ms, {} reps",
                                    cell.metrics.ttft_ns.median / 1e6,
                                    cell.metrics
                                        .itl_ns
                                        .map(|s| format!("{:.2}", s.median / 1e6))
                                        .unwrap_or_else(|| "–".into()),
                                    cell.repetitions.measured
                                ));
                                writer.push(cell)?;
                            }
                        }
                    }
                }
            }
        }
        writer.finish()
    }
}

fn model_info(entry: &ModelEntry, model: &LoadedModel) -> ModelInfo {
    let manifest: Option<serde_json::Value> =
        std::fs::read(entry.dir.join("manifest.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    ModelInfo {
        name: entry.name.clone(),
        dir: entry.dir.display().to_string(),
        kind: if model.files.layout.is_encoder_decoder() { "encoder-decoder" } else { "decoder-only" }.into(),
        layout: model.files.layout,
        params: manifest.and_then(|m| m["params"]["total"].as_u64()),
        bytes_on_disk: model.bytes,
        pair: entry.pair.clone(),
    }
}
