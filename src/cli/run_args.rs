//! `slmbench run`'s flags and the plan built from them: bounds on every value, contradictions
//! refused before anything is built or measured.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
// A flag from the environment: 1/0, true/false, yes/no, on/off; anything else is refused.
use clap::builder::BoolishValueParser;
use slmbench_harness::backend::Tuning;
use slmbench_harness::entry::ModelEntry;
use slmbench_harness::plan::RunPlan;
use slmbench_harness::sweep;
use slmbench_models::graph::GraphVariant;
use slmbench_models::quant::Precision;
use slmbench_models::{Pair, Variant};
use slmbench_results::ep::{Ep, EpOption, SessionOption};
use slmbench_results::stats::Policy;

use super::{BackendArg, DecoderArg, OptLevelArg, OrderArg, parse_ids};

mod scenario;
pub(super) use scenario::apply as apply_scenario;

/// Bounds on what a flag can ask for, so a typo cannot start 18,000 threads or a run of years.
const MAX_THREADS_PER_CORE: usize = 4;
const MAX_WARMUP: usize = 1_000;
const MAX_REPETITIONS: usize = 100_000;
const MAX_CELL_SECONDS: f64 = 86_400.0;
pub(super) const MAX_TOKENS: usize = 1 << 20;
const MAX_CELLS: usize = 100_000;

#[derive(Args, Debug)]
pub(super) struct RunArgs {
    /// A versioned scenario (`quick-v1`, `edge-v1`, or a .toml file's path): it fixes the pairs,
    /// the sweep and the statistical target, so runs on two devices measure the same thing;
    /// beside it only where it runs (--ep and its options, --backend, -t, --strict-placement,
    /// --io-binding, --ep-context-cache, --device-name) and the outputs may be chosen.
    #[arg(help_heading = "What to measure", long, env = "SLMBENCH_SCENARIO", conflicts_with_all = scenario::FIXED)]
    pub(super) scenario: Option<String>,
    /// Model directories (a built pair directory counts as both of its models).
    #[arg(help_heading = "What to measure", long, env = "SLMBENCH_MODEL")]
    model: Option<String>,
    /// An encoder-decoder and a decoder-only directory to compare: ED_DIR,DO_DIR.
    #[arg(help_heading = "What to measure", long)]
    pair: Option<String>,
    /// Presets to build (once, into the cache) and run.
    #[arg(help_heading = "What to measure", long, env = "SLMBENCH_PRESET")]
    preset: Option<String>,
    /// Weight precisions of the presets: fp32, fp16 (fused graphs only), bf16, int8, int4, w8a8,
    /// w8a16 (bf16 and QDQ: plain graphs only; each built once into the cache)
    /// [default: fp32].
    #[arg(help_heading = "What to measure", long, value_delimiter = ',', env = "SLMBENCH_PRECISION")]
    precision: Vec<Precision>,
    /// Graph variants of the presets: plain, fused (each built once into the cache)
    /// [default: plain].
    #[arg(help_heading = "What to measure", long, value_delimiter = ',', env = "SLMBENCH_GRAPH")]
    graph: Vec<GraphVariant>,
    /// Input (prompt) lengths: a,b,c or ranges like 16-512*2.
    #[arg(
        help_heading = "What to measure",
        short = 'p',
        long = "input-tokens",
        default_value = "32,128",
        env = "SLMBENCH_INPUT_TOKENS"
    )]
    input_tokens: String,
    /// New tokens per generation.
    #[arg(
        help_heading = "What to measure",
        short = 'n',
        long = "output-tokens",
        default_value = "32",
        env = "SLMBENCH_OUTPUT_TOKENS"
    )]
    output_tokens: String,
    /// Batch sizes.
    #[arg(help_heading = "What to measure", short = 'b', long = "batch", default_value = "1", env = "SLMBENCH_BATCH")]
    batch: String,
    /// Intra-op threads (default: the logical cores).
    #[arg(help_heading = "Where it runs", short = 't', long = "threads", env = "SLMBENCH_THREADS")]
    threads: Option<String>,
    /// Inference runtimes (backends) to measure with, comma-separated: a sweep axis, e.g.
    /// onnxruntime,candle (candle: plain fp32 slmbench builds, CPU, one -t per run).
    #[arg(help_heading = "Where it runs", long, value_enum, default_values_t = [BackendArg::DEFAULT], value_delimiter = ',', env = "SLMBENCH_BACKEND")]
    pub(super) backend: Vec<BackendArg>,
    /// Execution providers: cpu, cuda, tensorrt, qnn, nnapi, coreml, directml, openvino, xnnpack.
    #[arg(help_heading = "Where it runs", long, default_value = "cpu", env = "SLMBENCH_EP", value_delimiter = ',')]
    ep: Vec<Ep>,
    /// Provider option PROVIDER:KEY=VALUE (repeatable), e.g. qnn:backend_path=libQnnHtp.so.
    #[arg(help_heading = "Where it runs", long = "ep-opt")]
    ep_opt: Vec<EpOption>,
    /// Most measured repetitions per cell.
    #[arg(
        help_heading = "How long and in which order",
        short = 'r',
        long = "repetitions",
        default_value_t = 30,
        env = "SLMBENCH_REPETITIONS"
    )]
    repetitions: usize,
    /// Fewest measured repetitions per cell before the confidence rule may stop it.
    /// [default: 5, or -r when that is lower]
    #[arg(help_heading = "How long and in which order", env = "SLMBENCH_MIN_REPETITIONS", long)]
    min_repetitions: Option<usize>,
    /// Unmeasured warm-up generations per cell.
    #[arg(help_heading = "How long and in which order", long, default_value_t = 1, env = "SLMBENCH_WARMUP")]
    warmup: usize,
    /// Most seconds of measured repetitions per cell.
    #[arg(
        help_heading = "How long and in which order",
        long = "max-time",
        default_value_t = 30.0,
        env = "SLMBENCH_MAX_TIME"
    )]
    max_time: f64,
    /// Stop repeating once the 95% CI of median TTFT and ITL is within ± this fraction (for an
    /// interleaved pair: the paired intervals of its TTFT and decode ratios).
    #[arg(help_heading = "How long and in which order", env = "SLMBENCH_TARGET_CI", long, default_value_t = 0.03)]
    target_ci: f64,
    /// How the two models of a pair share each sweep point (interleaved: the ratio with a paired
    /// interval).
    #[arg(help_heading = "How long and in which order", long, value_enum, default_value_t = OrderArg::Interleaved, env = "SLMBENCH_ORDER")]
    order: OrderArg,
    /// Graph optimisation level.
    #[arg(help_heading = "Where it runs", env = "SLMBENCH_OPT_LEVEL", long, value_enum, default_value_t = OptLevelArg::All)]
    opt_level: OptLevelArg,
    /// Let intra-op threads spin (off is steadier on shared machines).
    #[arg(help_heading = "Where it runs", env = "SLMBENCH_SPINNING", long, value_parser = BoolishValueParser::new())]
    spinning: bool,
    /// Refuse any node the provider cannot run instead of running it on the CPU (ONNX Runtime's
    /// session.disable_cpu_ep_fallback); such a cell fails with the runtime's error.
    #[arg(help_heading = "Where it runs", env = "SLMBENCH_STRICT_PLACEMENT", long, value_parser = BoolishValueParser::new())]
    strict_placement: bool,
    /// Run every ONNX Runtime step through an IoBinding: the KV caches and the encoder's output
    /// stay in the provider's memory (a GPU's for CUDA, TensorRT, DirectML) and only the logits
    /// come to the host. Recorded per cell (part of its id).
    #[arg(help_heading = "Where it runs", env = "SLMBENCH_IO_BINDING", long, value_parser = BoolishValueParser::new())]
    io_binding: bool,
    /// ONNX Runtime session configuration entry KEY=VALUE (repeatable), applied to every session
    /// and recorded per cell (part of its id), e.g. session.disable_prepacking=1, or
    /// ep.context_enable=1 for an EP context (compiled NPU graph) model. ONNX Runtime ignores keys
    /// it does not know: check the spelling against its session_options_config_keys.h.
    #[arg(help_heading = "Where it runs", long = "session-opt")]
    session_opt: Vec<SessionOption>,
    /// Keep each graph a provider compiles (QNN's HTP, …) as an ONNX Runtime EP context model in
    /// the slmbench cache: the first session of a file compiles and writes it, later ones load
    /// it. Not for the CPU provider, which compiles nothing.
    #[arg(help_heading = "Where it runs", env = "SLMBENCH_EP_CONTEXT_CACHE", long, value_parser = BoolishValueParser::new())]
    ep_context_cache: bool,
    /// Spread each interleaved pair cell's blocks over this many loads of the two models (both
    /// loaded again, and warmed up, between them), so that its ratio's interval also holds the
    /// lasting differences between loads of a model; the interval then draws loads first, then
    /// blocks within each (recorded as `loads` and method `load-block-bootstrap`). Default: 3 for
    /// interleaved pairs; 1 keeps one load.
    #[arg(help_heading = "How long and in which order", env = "SLMBENCH_RELOADS", long, value_parser = clap::value_parser!(u64).range(1..=20))]
    reloads: Option<u64>,
    /// Stop a generation when every row has produced the end-of-sequence token.
    #[arg(help_heading = "What to measure", env = "SLMBENCH_STOP_AT_EOS", long, value_parser = BoolishValueParser::new())]
    stop_at_eos: bool,
    /// Use these prompt ids (one row, repeated over the batch) instead of synthetic ones; replaces -p.
    #[arg(help_heading = "What to measure", long, conflicts_with = "input_tokens")]
    prompt_ids: Option<String>,
    /// Seed of the synthetic prompts.
    #[arg(help_heading = "What to measure", env = "SLMBENCH_PROMPT_SEED", long, default_value_t = 0)]
    seed: u64,
    /// Decoder files when both are present.
    #[arg(help_heading = "What to measure", env = "SLMBENCH_DECODER", long, value_enum, default_value_t = DecoderArg::Auto)]
    decoder: DecoderArg,
    /// Run only shard i of n (cells whose position in the sweep order is i − 1 mod n), e.g. 2/3.
    #[arg(help_heading = "How long and in which order", long, env = "SLMBENCH_SHARD")]
    shard: Option<String>,
    /// Do not write the HTML report next to the results file.
    #[arg(help_heading = "Outputs", env = "SLMBENCH_NO_REPORT", long, value_parser = BoolishValueParser::new())]
    pub(super) no_report: bool,
    /// Also add every record to this run history (SQLite) as it is measured; the report then
    /// shows each cell's trend across the runs there.
    #[arg(help_heading = "Outputs", long, env = "SLMBENCH_HISTORY")]
    pub(super) history: Option<PathBuf>,
    /// Results file (.jsonl, .json, .csv, .md) or - for Markdown on stdout [default: a new folder
    /// reports/runs/<time>/results.jsonl per run, with reports/latest pointing at the newest].
    /// An existing results file is never replaced: see --resume and --overwrite.
    #[arg(help_heading = "Outputs", short = 'o', long, env = "SLMBENCH_OUTPUT")]
    pub(super) output: Option<String>,
    /// Replace the results in an existing -o file (only once the first new cell is recorded).
    #[arg(help_heading = "Outputs", long, conflicts_with = "resume")]
    pub(super) overwrite: bool,
    /// Continue an interrupted sweep: skip the cells already in this results file and add the rest.
    #[arg(help_heading = "Outputs", long, value_name = "FILE")]
    pub(super) resume: Option<String>,
    /// With --resume, measure again the cells recorded as failed.
    #[arg(help_heading = "Outputs", long, requires = "resume")]
    retry_failed: bool,
    /// Run cells the memory guard refuses (its estimate exceeds the available memory).
    #[arg(help_heading = "Refusals to override", long)]
    force: bool,
    /// Do not measure this host's memory bandwidth and matrix-multiply rate (measured once per
    /// thread count, then cached) nor set CPU cells against them.
    #[arg(help_heading = "What to measure", env = "SLMBENCH_NO_ROOFLINE", long, value_parser = BoolishValueParser::new())]
    no_roofline: bool,
    /// Your name for this machine (`pixel-8`, `pi5-lab-2`): recorded in every cell as part of
    /// the machine's identity, so two devices of the same model are kept apart everywhere
    /// (reports, compare, gate baselines, the history).
    #[arg(help_heading = "Where it runs", long, env = "SLMBENCH_DEVICE_NAME", value_parser = device_name)]
    device_name: Option<String>,
    /// Measure a --pair whose two models' parameter counts are more than 10% apart (or unknown);
    /// every cell of it then carries a warning saying so.
    #[arg(help_heading = "Refusals to override", long)]
    allow_unmatched: bool,
    /// Do not measure the drift of each variant (int8, int4, fused) against its fp32 plain
    /// build when both are in the run (256 teacher-forced positions per variant).
    #[arg(help_heading = "What to measure", env = "SLMBENCH_NO_ACCURACY", long, value_parser = BoolishValueParser::new())]
    no_accuracy: bool,
}

/// `--device-name`: a label of 1 to 64 printable characters.
pub(super) fn device_name(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control) {
        return Err(format!("`{text}`: a device name is 1 to 64 printable characters, e.g. pixel-8"));
    }
    Ok(t.to_string())
}

/// Loads an interleaved pair cell's blocks are spread over unless `--reloads` says otherwise:
/// three, which held the run-to-run variation of the ratios measured here (guide,
/// *Reproducibility*).
const DEFAULT_RELOADS: usize = 3;

/// Flags (`(asked, flag)`) that are ONNX Runtime settings: refused with any other backend.
pub(super) fn onnx_runtime_only(backends: &[BackendArg], flags: &[(bool, &str)]) -> Result<()> {
    for (asked, flag) in flags {
        if let (true, Some(other)) = (*asked, BackendArg::resolve(backends)?.iter().find(|b| !b.takes_session_tuning()))
        {
            bail!("{flag} is ONNX Runtime's; --backend {} has no such setting: drop one of the two", other.name());
        }
    }
    Ok(())
}

/// `--ep-context-cache` needs a provider that compiles graphs, and sets the `ep.context_*`
/// session entries itself.
pub(super) fn check_ep_context_cache(on: bool, eps: &[Ep], session_opt: &[SessionOption]) -> Result<()> {
    if !on {
        return Ok(());
    }
    if eps.contains(&Ep::Cpu) {
        bail!(
            "--ep-context-cache: the CPU provider compiles nothing to cache; use it with a compiling provider (--ep qnn) only"
        );
    }
    if let Some(o) =
        session_opt.iter().find(|o| slmbench_harness::onnxruntime::ep_context::KEYS.contains(&o.key.as_str()))
    {
        bail!("--ep-context-cache sets {} itself; drop --session-opt {}={}", o.key, o.key, o.value);
    }
    Ok(())
}

/// Fixes the process's thread count for the backends that compute with one per process (candle's
/// pools read `RAYON_NUM_THREADS` once). Call it before any thread starts.
pub(super) fn pin_threads(backends: &[BackendArg], threads: &[usize]) -> Result<()> {
    for b in BackendArg::resolve(backends)? {
        b.pin_threads(threads)?;
    }
    Ok(())
}

/// `-t` values, each within 1 to [`MAX_THREADS_PER_CORE`] × the logical cores.
pub(super) fn bounded_threads(values: Vec<usize>) -> Result<Vec<usize>> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    bounded(
        "-t",
        values,
        cores * MAX_THREADS_PER_CORE,
        &format!(
            "{MAX_THREADS_PER_CORE} × the {cores} logical cores of this host; more threads only oversubscribe them"
        ),
    )
}

/// A list flag's values, each within `1..=max`.
pub(super) fn bounded(flag: &str, values: Vec<usize>, max: usize, why: &str) -> Result<Vec<usize>> {
    if let Some(v) = values.iter().find(|&&v| v > max) {
        bail!("{flag} {v}: at most {max} ({why})");
    }
    Ok(values)
}

/// Builds the plan from the flags, refusing contradictions and unbounded requests.
pub(super) fn plan_of(a: &RunArgs, output: String) -> Result<(RunPlan, Vec<(String, Variant)>)> {
    let mut models: Vec<ModelEntry> = Vec::new();
    if let Some(list) = &a.model {
        for d in sweep::parse_list("--model", list)? {
            models.extend(slmbench_harness::entry::expand_dir(Path::new(&d)));
        }
    }
    if let Some(list) = &a.pair {
        let dirs = sweep::parse_list("--pair", list)?;
        if dirs.len() != 2 {
            bail!("--pair takes two directories, ENCODER_DECODER_DIR,DECODER_ONLY_DIR; got {}", dirs.len());
        }
        // Which model is which kind is read from the files, not trusted from the order.
        for (d, want_ed) in [(&dirs[0], true), (&dirs[1], false)] {
            let files = slmbench_harness::files::layout::detect_with(Path::new(d), a.decoder.into())?;
            if files.layout.is_encoder_decoder() != want_ed {
                bail!(
                    "--pair {list}: {d} is {} ({:?}); the first directory must be the encoder-decoder and the second the decoder-only",
                    if want_ed { "a decoder-only model" } else { "an encoder-decoder model" },
                    files.layout
                );
            }
        }
        let tag = dirs
            .iter()
            .map(|d| Path::new(d).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("+");
        for d in dirs {
            let name = format!(
                "{tag}/{}",
                Path::new(&d).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            );
            models.push(ModelEntry { dir: PathBuf::from(d), name, pair: Some(tag.clone()) });
        }
    }
    let presets = match &a.preset {
        Some(list) => sweep::parse_list("--preset", list)?,
        None if models.is_empty() => vec!["small".to_string()],
        None => vec![],
    };
    for p in &presets {
        Pair::preset(p)?; // unknown names fail before anything is built
    }
    if (!a.precision.is_empty() || !a.graph.is_empty()) && presets.is_empty() {
        bail!(
            "--precision and --graph apply to --preset (built into the cache in that variant); \
             a --model or --pair folder has the precision and graph it was built with"
        );
    }
    let precisions = match super::distinct("--precision", &a.precision)? {
        p if p.is_empty() => vec![Precision::Fp32],
        p => p,
    };
    let graphs = match super::distinct("--graph", &a.graph)? {
        g if g.is_empty() => vec![GraphVariant::Plain],
        g => g,
    };
    let variants = Variant::all(&precisions, &graphs).map_err(|e| anyhow::anyhow!("--precision: {e}"))?;
    let presets: Vec<(String, Variant)> =
        presets.iter().flat_map(|name| variants.iter().map(move |&v| (name.clone(), v))).collect();
    let (eps, ep_options) = (a.ep.clone(), a.ep_opt.clone());
    if let Some(o) = ep_options.iter().find(|o| !eps.contains(&o.ep)) {
        bail!(
            "--ep-opt {}:{}={} is for a provider not in --ep ({}); add it to --ep or drop the option",
            o.ep,
            o.key,
            o.value,
            eps.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(",")
        );
    }
    let threads = match &a.threads {
        Some(t) => bounded_threads(sweep::parse_usize_list("-t", t)?)?,
        None => vec![std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)],
    };
    let prompt_ids = a.prompt_ids.as_deref().map(parse_ids).transpose()?;
    if a.repetitions == 0 || a.repetitions > MAX_REPETITIONS {
        bail!("-r {}: must be 1 to {MAX_REPETITIONS}", a.repetitions);
    }
    // The default gives way to a lower -r; an explicit value above -r is a contradiction.
    let min_repetitions = a.min_repetitions.unwrap_or(5.min(a.repetitions));
    if min_repetitions == 0 || min_repetitions > a.repetitions {
        bail!(
            "--min-repetitions {min_repetitions} contradicts -r {}: the fewest repetitions must be 1 to -r",
            a.repetitions
        );
    }
    if a.warmup > MAX_WARMUP {
        bail!("--warmup {}: at most {MAX_WARMUP} warm-up runs per cell", a.warmup);
    }
    if !a.max_time.is_finite() || a.max_time <= 0.0 || a.max_time > MAX_CELL_SECONDS {
        bail!(
            "--max-time {}: must be a positive number of seconds, at most {MAX_CELL_SECONDS} (a day per cell)",
            a.max_time
        );
    }
    if !(a.target_ci > 0.0 && a.target_ci < 1.0) {
        bail!("--target-ci {}: must be a fraction between 0 and 1, e.g. 0.03 for ±3%", a.target_ci);
    }
    let tokens_why = "tokens per sequence; the model's own position limit is checked too";
    onnx_runtime_only(
        &a.backend,
        &[
            (a.io_binding, "--io-binding"),
            (!a.session_opt.is_empty(), "--session-opt"),
            (a.ep_context_cache, "--ep-context-cache"),
        ],
    )?;
    check_ep_context_cache(a.ep_context_cache, &eps, &a.session_opt)?;
    let reloads = match a.reloads {
        Some(k) if k > 1 && a.order == OrderArg::Sequential => bail!(
            "--reloads {k} spreads an interleaved pair's blocks over loads; --order sequential measures each model alone: drop one of the two"
        ),
        Some(k) => k as usize,
        None if a.order == OrderArg::Sequential => 1,
        None => DEFAULT_RELOADS,
    };
    let plan = RunPlan {
        backends: a.backend.iter().map(|b| b.name().to_string()).collect(),
        eps,
        threads,
        batches: sweep::parse_usize_list("-b", &a.batch)?,
        input_tokens: bounded("-p", sweep::parse_usize_list("-p", &a.input_tokens)?, MAX_TOKENS, tokens_why)?,
        output_tokens: bounded("-n", sweep::parse_usize_list("-n", &a.output_tokens)?, MAX_TOKENS, tokens_why)?,
        prompt_ids,
        seed: a.seed,
        stop_at_eos: a.stop_at_eos,
        tuning: Tuning {
            ep_options,
            opt_level: a.opt_level.into(),
            spinning: a.spinning,
            strict_placement: a.strict_placement,
            io_binding: a.io_binding,
            session_options: a.session_opt.clone(),
            ep_context_cache: a.ep_context_cache,
        },
        reloads,
        decoder: a.decoder.into(),
        policy: Policy {
            warmup: a.warmup,
            min_repetitions,
            max_repetitions: a.repetitions,
            max_time_s: a.max_time,
            target_ci: a.target_ci,
        },
        output,
        overwrite: a.overwrite,
        command: super::effective_command(),
        shard: a.shard.as_deref().map(slmbench_harness::plan::parse_shard).transpose()?,
        resume: a.resume.clone(),
        retry_failed: a.retry_failed,
        force: a.force,
        roofline: !a.no_roofline,
        accuracy: !a.no_accuracy,
        order: a.order.into(),
        device_name: a.device_name.clone(),
        allow_unmatched: a.allow_unmatched,
        scenario: None,
        models,
    };
    let models = (plan.models.len() + 2 * presets.len()).max(1);
    let prompts = if plan.prompt_ids.is_some() { 1 } else { plan.input_tokens.len() };
    let cells = [plan.eps.len(), plan.threads.len(), plan.batches.len(), prompts, plan.output_tokens.len()]
        .iter()
        .fold(models, |acc, &n| acc.saturating_mul(n));
    if cells > MAX_CELLS {
        bail!(
            "the sweep has {cells} cells; at most {MAX_CELLS} in one run: shorten the lists or split it with --shard"
        );
    }
    Ok((plan, presets))
}
