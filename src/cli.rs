//! Argument parsing (clap derive) and dispatch.
//!
//! Exit codes: 0 success; 1 the gate found a regression; 2 bad input or a failed step (the
//! message names what to fix); 3 a sweep finished but some cells failed (they are recorded in
//! the results file); 4 a sweep's results are kept but its report could not be written;
//! 130 / 143 a sweep stopped by SIGINT / SIGTERM (what was measured is kept).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use slmbench_harness::bench::Stop;
use slmbench_harness::ep::{Ep, EpOption};
use slmbench_harness::layout::DecoderChoice;
use slmbench_harness::run::{self, ModelEntry, RunPlan};
use slmbench_harness::stats::Policy;
use slmbench_harness::{LoadedModel, Prompt, SessionSettings, sweep};
use slmbench_models::{BuildOptions, Config, ExternalData, Pair, presets};
use slmbench_reports::analysis::cell_name;

pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CELLS_FAILED: u8 = 3;
pub const EXIT_REPORT_FAILED: u8 = 4;

/// Bounds on what a flag can ask for, so a typo cannot start 18,000 threads or a run of years.
const MAX_THREADS_PER_CORE: usize = 4;
const MAX_WARMUP: usize = 1_000;
const MAX_REPETITIONS: usize = 100_000;
const MAX_CELL_SECONDS: f64 = 86_400.0;
const MAX_TOKENS: usize = 1 << 20;
const MAX_CELLS: usize = 100_000;

#[derive(Parser, Debug)]
#[command(name = "slmbench", version, about = "Encoder-decoder vs decoder-only SLM latency on ONNX Runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build, describe and list model pairs.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Measure TTFT and throughput over a sweep (no arguments: the `small` pair on the CPU).
    #[command(after_help = "Exit codes: 0 every cell measured; 2 bad input (nothing run); 3 some cells failed \
(recorded in the results file and the report); 4 the results are kept but the report could not be written; \
130 / 143 stopped by SIGINT / SIGTERM (finished cells kept: rerun with --resume FILE).")]
    Run(Box<RunArgs>),
    /// Greedy-generate from given prompt ids and print the output ids as JSON (to check a model).
    Generate(GenerateArgs),
    /// Write the HTML report, charts, Markdown and CSV of one or more results files.
    Report(ReportArgs),
    /// Compare two results files cell by cell: change of each metric with its CI and a verdict.
    Compare(CompareArgs),
    /// Regression gate: exit 0 pass, 1 regression, 2 unusable input.
    Gate(GateArgs),
    /// Join result files of sharded sweeps into one (same schema and machine, no duplicate cell).
    Merge(MergeArgs),
    /// Baselines for the gate: `save` writes ci/baselines/<machine>.json.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Write results for dashboards: Bencher Metric Format or github-action-benchmark JSON.
    Export(ExportArgs),
    /// Show the ONNX Runtime this build loads, its providers, and the host.
    Doctor,
}

#[derive(Args, Debug)]
struct GateArgs {
    /// Baseline results (default: ci/baselines/<this machine>.json).
    #[arg(long)]
    baseline: Option<PathBuf>,
    #[arg(long)]
    current: PathBuf,
    /// Gate settings (alpha, thresholds per metric).
    #[arg(long, default_value = "ci/gate.toml", env = "SLMBENCH_GATE_CONFIG")]
    config: PathBuf,
    /// Accept a baseline measured on another machine.
    #[arg(long)]
    allow_other_machine: bool,
    /// Re-measure flagged cells up to N times; a cell fails only if flagged every time.
    #[arg(long, default_value_t = 0)]
    confirm: usize,
}

#[derive(Subcommand, Debug)]
enum BaselineCommand {
    /// Save a results file as this machine's baseline.
    Save {
        /// The results file to keep.
        results: PathBuf,
        /// Where baselines live.
        #[arg(long, default_value = "ci/baselines")]
        dir: PathBuf,
    },
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// bencher (Bencher Metric Format), gh-smaller or gh-bigger (github-action-benchmark's
    /// customSmallerIsBetter: TTFT and ITL; customBiggerIsBetter: tokens/s).
    #[arg(long)]
    format: String,
    #[arg(required = true)]
    results: Vec<PathBuf>,
    #[arg(short = 'o', long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// Result files to join.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Output JSON Lines file.
    #[arg(short = 'o', long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// Results files (.jsonl or .json); several are merged.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Output directory (a run's own report is in its run folder; this one is for combined reports).
    #[arg(short = 'o', long, default_value = "reports/combined")]
    out: PathBuf,
    /// Also write each chart as PNG (text drawn with the bundled DejaVu Sans).
    #[arg(long)]
    png: bool,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// The baseline results file.
    base: PathBuf,
    /// The results file to compare with it.
    current: PathBuf,
    /// Also write the comparison as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Model directories (a built pair directory counts as both of its models).
    #[arg(long, env = "SLMBENCH_MODEL")]
    model: Option<String>,
    /// An encoder-decoder and a decoder-only directory to compare: ED_DIR,DO_DIR.
    #[arg(long)]
    pair: Option<String>,
    /// Presets to build (once, into the cache) and run.
    #[arg(long, env = "SLMBENCH_PRESET")]
    preset: Option<String>,
    /// Input (prompt) lengths: a,b,c or ranges like 16-512*2.
    #[arg(short = 'p', long = "input-tokens", default_value = "32,128", env = "SLMBENCH_INPUT_TOKENS")]
    input_tokens: String,
    /// New tokens per generation.
    #[arg(short = 'n', long = "output-tokens", default_value = "32", env = "SLMBENCH_OUTPUT_TOKENS")]
    output_tokens: String,
    /// Batch sizes.
    #[arg(short = 'b', long = "batch", default_value = "1", env = "SLMBENCH_BATCH")]
    batch: String,
    /// Intra-op threads (default: the logical cores).
    #[arg(short = 't', long = "threads", env = "SLMBENCH_THREADS")]
    threads: Option<String>,
    /// Execution providers: cpu, cuda, tensorrt, qnn, nnapi, coreml, directml, openvino, xnnpack.
    #[arg(long, default_value = "cpu", env = "SLMBENCH_EP")]
    ep: String,
    /// Provider option PROVIDER:KEY=VALUE (repeatable), e.g. qnn:backend_path=libQnnHtp.so.
    #[arg(long = "ep-opt")]
    ep_opt: Vec<String>,
    /// Most measured repetitions per cell.
    #[arg(short = 'r', long = "repetitions", default_value_t = 30, env = "SLMBENCH_REPETITIONS")]
    repetitions: usize,
    /// Fewest measured repetitions per cell before the confidence rule may stop it.
    /// [default: 5, or -r when that is lower]
    #[arg(long)]
    min_repetitions: Option<usize>,
    /// Unmeasured warm-up generations per cell.
    #[arg(long, default_value_t = 1, env = "SLMBENCH_WARMUP")]
    warmup: usize,
    /// Most seconds of measured repetitions per cell.
    #[arg(long = "max-time", default_value_t = 30.0, env = "SLMBENCH_MAX_TIME")]
    max_time: f64,
    /// Stop repeating once the 95% CI of median TTFT and ITL is within ± this fraction.
    #[arg(long, default_value_t = 0.03)]
    target_ci: f64,
    /// Graph optimisation: disable, basic, extended, layout, all.
    #[arg(long, default_value = "all")]
    opt_level: String,
    /// Let intra-op threads spin (off is steadier on shared machines).
    #[arg(long)]
    spinning: bool,
    /// Stop a generation when every row has produced the end-of-sequence token.
    #[arg(long)]
    stop_at_eos: bool,
    /// Use these prompt ids (one row, repeated over the batch) instead of synthetic ones; replaces -p.
    #[arg(long, conflicts_with = "input_tokens")]
    prompt_ids: Option<String>,
    /// Seed of the synthetic prompts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Decoder files when both are present: auto, merged, split.
    #[arg(long, default_value = "auto")]
    decoder: String,
    /// Run only shard i of n (cells whose position in the sweep order is i − 1 mod n), e.g. 2/3.
    #[arg(long, env = "SLMBENCH_SHARD")]
    shard: Option<String>,
    /// Do not write the HTML report next to the results file.
    #[arg(long)]
    no_report: bool,
    /// Results file (.jsonl, .json, .csv, .md) or - for Markdown on stdout [default: a new folder
    /// reports/runs/<time>/results.jsonl per run, with reports/latest pointing at the newest].
    /// An existing results file is never replaced: see --resume and --overwrite.
    #[arg(short = 'o', long, env = "SLMBENCH_OUTPUT")]
    output: Option<String>,
    /// Replace the results in an existing -o file (only once the first new cell is recorded).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Continue an interrupted sweep: skip the cells already in this results file and add the rest.
    #[arg(long, value_name = "FILE")]
    resume: Option<String>,
    /// With --resume, measure again the cells recorded as failed.
    #[arg(long, requires = "resume")]
    retry_failed: bool,
    /// Run cells the memory guard refuses (its estimate exceeds the available memory).
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct GenerateArgs {
    /// A model directory.
    #[arg(long)]
    model: PathBuf,
    /// Prompt token ids, e.g. 1,2,3.
    #[arg(long)]
    prompt_ids: String,
    /// New tokens.
    #[arg(short = 'n', default_value_t = 20)]
    n: usize,
    /// Rows (the prompt repeated).
    #[arg(short = 'b', long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value = "cpu")]
    ep: String,
    #[arg(long = "ep-opt")]
    ep_opt: Vec<String>,
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Decoder files when both are present: auto, merged, split.
    #[arg(long, default_value = "auto")]
    decoder: String,
    #[arg(long)]
    stop_at_eos: bool,
}

#[derive(Subcommand, Debug)]
enum ModelsCommand {
    /// Build a matched encoder-decoder / decoder-only pair as ONNX.
    Build(BuildArgs),
    /// Print a pair's architecture and parameter counts as JSON (a preset, or a built directory).
    Describe(DescribeArgs),
    /// List the presets with their parameter counts.
    List,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true))]
struct BuildArgs {
    /// A preset name (see `slmbench models list`).
    #[arg(long, group = "source", env = "SLMBENCH_PRESET")]
    preset: Option<String>,
    /// An encoder-decoder architecture file (TOML or JSON); its decoder-only partner is derived.
    #[arg(long, group = "source")]
    config: Option<PathBuf>,
    /// Output directory; the pair goes to DIR/encoder-decoder and DIR/decoder-only.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the random weights (same config + seed = byte-identical files).
    #[arg(long, default_value_t = 0, env = "SLMBENCH_SEED")]
    seed: u64,
    /// Also write the split decoder pair (decoder_model.onnx + decoder_with_past_model.onnx).
    #[arg(long)]
    split_decoder: bool,
    /// Also write model.safetensors with Hugging Face tensor names.
    #[arg(long)]
    safetensors: bool,
    /// Store weights in a separate <file>_data file even below the 2 GB protobuf limit.
    #[arg(long)]
    external_data: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("what").required(true))]
struct DescribeArgs {
    /// A preset name.
    #[arg(long, group = "what")]
    preset: Option<String>,
    /// An encoder-decoder architecture file.
    #[arg(long, group = "what")]
    config: Option<PathBuf>,
    /// A directory written by `slmbench models build` (or one model folder of it).
    #[arg(group = "what")]
    dir: Option<PathBuf>,
}

/// Runs the command; returns the exit code of a run that finished (errors exit 2 in `main`).
pub fn run() -> Result<u8> {
    let cli = Cli::parse();
    match cli.command {
        // The one command with exit codes of its own (3, 130, 143).
        Command::Run(a) => return run_sweep(*a),
        Command::Models(ModelsCommand::Build(a)) => build(a),
        Command::Models(ModelsCommand::Describe(a)) => describe(a),
        Command::Models(ModelsCommand::List) => list(),
        Command::Generate(a) => generate(a),
        Command::Report(a) => report(a),
        Command::Compare(a) => compare(a),
        Command::Gate(a) => gate(a),
        Command::Merge(a) => merge(a),
        Command::Baseline(BaselineCommand::Save { results, dir }) => baseline_save(&results, &dir),
        Command::Export(a) => export(a),
        Command::Doctor => doctor(),
    }
    .map(|()| 0)
}

/// What a reader skipped (a torn final line, duplicate cells), on stderr.
fn print_warnings(set: &slmbench_reports::read::ResultSet) {
    for w in &set.warnings {
        eprintln!("slmbench: warning: {w}");
    }
}

/// What makes two machines comparable.
fn fingerprint(c: &slmbench_harness::context::Context) -> String {
    let gib = c.memory_bytes.map(|b| (b as f64 / (1u64 << 30) as f64).round() as u64).unwrap_or(0);
    format!("{} / {} cores / {gib} GiB / {} {}", c.cpu_model, c.cpu_logical_cores, c.os, c.arch)
}

fn gate(a: GateArgs) -> Result<()> {
    use slmbench_reports::gate::GateConfig;
    let cfg = match std::fs::read_to_string(&a.config) {
        Ok(text) => GateConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", a.config.display()))?,
        Err(_) if a.config == Path::new("ci/gate.toml") => GateConfig::default(),
        Err(e) => bail!("cannot read gate config {}: {e}", a.config.display()),
    };
    let cur = slmbench_reports::read::read_measured(std::slice::from_ref(&a.current))?;
    print_warnings(&cur);
    if !cur.failed.is_empty() {
        eprintln!("slmbench: warning: {} cells of {} failed and are not gated", cur.failed.len(), a.current.display());
    }
    let baseline_path = match &a.baseline {
        Some(p) => p.clone(),
        None => {
            let p = Path::new("ci/baselines").join(format!("{}.json", machine_slug(&cur.cells[0].context)));
            if !p.is_file() {
                bail!(
                    "no baseline for this machine at {}; measure one and keep it with `slmbench baseline save RESULTS`, or pass --baseline FILE",
                    p.display()
                );
            }
            p
        }
    };
    let base = slmbench_reports::read::read_measured(std::slice::from_ref(&baseline_path))?;
    print_warnings(&base);
    let (bc, cc) = (&base.cells[0].context, &cur.cells[0].context);
    if bc.ort_version != cc.ort_version || bc.suite_version != cc.suite_version {
        eprintln!(
            "slmbench: warning: stale baseline {} (measured {} with slmbench {} {} and ONNX Runtime {}; now slmbench {} and ONNX Runtime {}); save a new one once this change is accepted",
            baseline_path.display(),
            bc.time_rfc3339,
            bc.suite_version,
            bc.suite_commit,
            bc.ort_version,
            cc.suite_version,
            cc.ort_version
        );
    }
    let (fb, fc) = (fingerprint(&base.cells[0].context), fingerprint(&cur.cells[0].context));
    if fb != fc && !a.allow_other_machine {
        bail!(
            "baseline {} was measured on another machine ({fb}) than {} ({fc}); re-measure the baseline here or pass --allow-other-machine",
            baseline_path.display(),
            a.current.display()
        );
    }
    let mut cur_cells = cur.cells.clone();
    let mut judged = judge_all(&base.cells, &cur_cells, &cfg);
    if !judged.missing.is_empty() {
        bail!(
            "{} lacks {} baseline cell(s): {}; run the same sweep as the baseline",
            a.current.display(),
            judged.missing.len(),
            judged.missing.join("; ")
        );
    }
    // --confirm: re-measure flagged cells; a cell stays a regression only if flagged every time.
    for round in 1..=a.confirm {
        if judged.flagged.is_empty() {
            break;
        }
        for name in judged.flagged.clone() {
            let Some(i) = cur_cells.iter().position(|c| cell_name(c) == name) else { continue };
            eprintln!("slmbench: --confirm round {round}: re-measuring {name}");
            cur_cells[i] = rerun_cell(&cur_cells[i])?;
        }
        judged = judge_all(&base.cells, &cur_cells, &cfg);
    }
    let (rows, regressions, improvements) = (judged.rows, judged.regressions, judged.improvements);
    println!("{rows}");
    println!("{} regression(s), {improvements} improvement(s) over {} cells.", regressions.len(), base.cells.len());
    use std::io::Write;
    std::io::stdout().flush()?;
    if !regressions.is_empty() {
        for r in &regressions {
            eprintln!("slmbench: regression: {r}");
        }
        std::process::exit(1);
    }
    Ok(())
}

/// A file-name-safe machine name for baselines.
fn machine_slug(c: &slmbench_harness::context::Context) -> String {
    let mut slug = String::new();
    for ch in fingerprint(c).to_ascii_lowercase().chars() {
        let ch = if ch.is_ascii_alphanumeric() { ch } else { '-' };
        if !(ch == '-' && slug.ends_with('-')) {
            slug.push(ch);
        }
    }
    slug.trim_matches('-').to_string()
}

fn baseline_save(results: &Path, dir: &Path) -> Result<()> {
    let set = slmbench_reports::read::read_measured(&[results.to_path_buf()])?;
    print_warnings(&set);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{}.json", machine_slug(&set.cells[0].context)));
    std::fs::write(&path, serde_json::to_string_pretty(&set.cells)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("slmbench: baseline of {} cells saved to {}", set.cells.len(), path.display());
    println!("{}", path.display());
    Ok(())
}

fn export(a: ExportArgs) -> Result<()> {
    let set = slmbench_reports::read::read_measured(&a.results)?;
    print_warnings(&set);
    let text = match a.format.as_str() {
        "bencher" => slmbench_reports::dashboards::bencher(&set.cells),
        "gh-smaller" => slmbench_reports::dashboards::github_action_benchmark(&set.cells, false),
        "gh-bigger" => slmbench_reports::dashboards::github_action_benchmark(&set.cells, true),
        other => bail!("--format: `{other}` is not bencher, gh-smaller or gh-bigger"),
    };
    std::fs::write(&a.out, serde_json::to_string_pretty(&text)? + "\n")
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    Ok(())
}

struct Judged {
    rows: String,
    regressions: Vec<String>,
    /// Names of cells with at least one regressed metric.
    flagged: Vec<String>,
    improvements: usize,
    missing: Vec<String>,
}

fn judge_all(
    base: &[slmbench_harness::results::CellResult],
    cur: &[slmbench_harness::results::CellResult],
    cfg: &slmbench_reports::gate::GateConfig,
) -> Judged {
    use slmbench_reports::gate::{self, Outcome};
    let mut j = Judged {
        rows: String::from(
            "| cell | metric | base | current | ratio (95% CI) | p | threshold | verdict |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
        ),
        regressions: vec![],
        flagged: vec![],
        improvements: 0,
        missing: vec![],
    };
    for b in base {
        let name = cell_name(b);
        let Some(c) = cur.iter().find(|c| cell_name(c) == name) else {
            j.missing.push(name);
            continue;
        };
        for (metric, &threshold) in &cfg.thresholds {
            let (bs, cs) = (gate::samples(b, metric), gate::samples(c, metric));
            if bs.is_empty() || cs.is_empty() {
                continue;
            }
            let v = gate::judge(metric, &bs, &cs, metric == "e2e_tokens_per_s", threshold, cfg);
            let med = |x: &[f64]| slmbench_harness::stats::Summary::of(x).map(|s| s.median).unwrap_or(f64::NAN);
            let unit = if metric == "e2e_tokens_per_s" { 1.0 } else { 1e-6 };
            let verdict = match v.outcome {
                Outcome::Regression => {
                    j.regressions.push(format!("{name}: {metric} {:+.1}%", (v.ratio - 1.0) * 100.0));
                    if !j.flagged.contains(&name) {
                        j.flagged.push(name.clone());
                    }
                    "**regression**"
                }
                Outcome::Improvement => {
                    j.improvements += 1;
                    "improvement"
                }
                Outcome::NoSignificantChange => "no significant change",
            };
            j.rows.push_str(&format!(
                "| {} | {metric} | {:.3} | {:.3} | {:.3} ({:.3}–{:.3}) | {:.3} | {:.0}% | {verdict} |\n",
                name.replace('|', "\\|"),
                med(&bs) * unit,
                med(&cs) * unit,
                v.ratio,
                v.ci_low,
                v.ci_high,
                v.p_value,
                threshold * 100.0
            ));
        }
    }
    j
}

/// Measures a recorded cell again with its recorded model, settings and sweep point.
fn rerun_cell(c: &slmbench_harness::results::CellResult) -> Result<slmbench_harness::results::CellResult> {
    use slmbench_harness::layout::Layout;
    let Some(seed) = c.sweep.prompt_seed else {
        bail!("cell {} was run with --prompt-ids, which results do not keep; it cannot be re-measured", cell_name(c));
    };
    let tmp = std::env::temp_dir().join(format!("slmbench-confirm-{}.jsonl", std::process::id()));
    let plan = RunPlan {
        models: vec![ModelEntry {
            dir: PathBuf::from(&c.model.dir),
            name: c.model.name.clone(),
            pair: c.model.pair.clone(),
        }],
        eps: vec![c.settings.ep_used],
        ep_options: c.settings.ep_options.clone(),
        threads: vec![c.settings.threads],
        batches: vec![c.sweep.batch],
        input_tokens: vec![c.sweep.input_tokens],
        output_tokens: vec![c.sweep.output_tokens],
        prompt_ids: None,
        seed,
        stop_at_eos: c.sweep.stop_at_eos,
        opt_level: c.settings.graph_optimization,
        spinning: c.settings.intra_op_spinning,
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
        output: tmp.display().to_string(),
        overwrite: true,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        shard: None,
        resume: None,
        retry_failed: false,
        force: false,
    };
    let outcome = plan.execute(&Stop::default())?;
    let _ = std::fs::remove_file(&tmp);
    if let Some(f) = outcome.failed_cells.first() {
        bail!("re-measuring {} failed: {}", cell_name(c), f.error);
    }
    let mut cells = outcome.cells;
    cells.pop().ok_or_else(|| anyhow::anyhow!("re-measuring {} produced no cell", cell_name(c)))
}

fn merge(a: MergeArgs) -> Result<()> {
    let existed = a.out.exists();
    let merged = merge_into(&a);
    if merged.is_err() && !existed {
        let _ = std::fs::remove_file(&a.out);
    }
    merged
}

fn merge_into(a: &MergeArgs) -> Result<()> {
    // The same lock as a run's: merging into a file a run is writing is refused.
    let _lock = slmbench_harness::export::lock(&a.out)?;
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut first_machine: Option<String> = None;
    let (mut measured, mut failed) = (0, 0);
    for p in &a.results {
        // An empty shard (more shards than cells) writes an empty file: nothing to join.
        let text = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        if text.iter().all(u8::is_ascii_whitespace) {
            if *p != a.out {
                eprintln!("slmbench: {} holds no record (an empty shard?); skipped", p.display());
            }
            continue;
        }
        let set = slmbench_reports::read::read_all(std::slice::from_ref(p))?;
        for w in &set.warnings {
            eprintln!("slmbench: warning: {w}");
        }
        let fp = fingerprint(set.first_context().context("no record")?);
        match &first_machine {
            Some(m) if *m != fp => {
                bail!("{} was measured on another machine ({fp}) than the files before it ({m})", p.display())
            }
            None => first_machine = Some(fp),
            _ => {}
        }
        measured += set.cells.len();
        failed += set.failed.len();
        for c in &set.cells {
            lines.push((c.cell_id.clone(), serde_json::to_string(c)?));
        }
        for f in &set.failed {
            lines.push((f.cell_id.clone(), serde_json::to_string(f)?));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (id, _) in &lines {
        if !seen.insert(id.clone()) {
            bail!("cell {id} appears in more than one file; merge joins disjoint shards");
        }
    }
    let out: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    // Whole or not at all: a kill mid-merge leaves the file as it was.
    slmbench_harness::export::write_atomic(&a.out, out.as_bytes())?;
    eprintln!(
        "slmbench: {measured} cells ({failed} failed ones besides) from {} files written to {}",
        a.results.len(),
        a.out.display()
    );
    Ok(())
}

fn report(a: ReportArgs) -> Result<()> {
    let set = slmbench_reports::read::read_all(&a.results)?;
    for w in &set.warnings {
        eprintln!("slmbench: warning: {w}");
    }
    let written = slmbench_reports::write::report(&set, &a.out, a.png)?;
    eprintln!("slmbench: report of {} cells written to {}", set.cells.len(), written.index.display());
    print!("{}", slmbench_harness::export::markdown::table(&set.cells));
    print!("{}", slmbench_harness::export::markdown::failures(&set.failed));
    Ok(())
}

fn compare(a: CompareArgs) -> Result<()> {
    let base = slmbench_reports::read::read_measured(std::slice::from_ref(&a.base))?;
    let current = slmbench_reports::read::read_measured(std::slice::from_ref(&a.current))?;
    for w in base.warnings.iter().chain(&current.warnings) {
        eprintln!("slmbench: warning: {w}");
    }
    let cmp = slmbench_reports::compare::compare(&base.cells, &current.cells);
    if cmp.changes.is_empty() {
        bail!(
            "no cell of {} matches one of {}: compare runs of the same models and sweep points",
            a.base.display(),
            a.current.display()
        );
    }
    print!("{}", slmbench_reports::compare::markdown(&cmp));
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&cmp)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn parse_ids(text: &str) -> Result<Vec<i64>> {
    let ids: Result<Vec<i64>, _> = text.split(',').map(|s| s.trim().parse::<i64>()).collect();
    match ids {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => bail!("--prompt-ids: `{text}` is not a comma-separated list of token ids"),
    }
}

fn parse_decoder(text: &str) -> Result<DecoderChoice> {
    match text {
        "auto" => Ok(DecoderChoice::Auto),
        "merged" => Ok(DecoderChoice::Merged),
        "split" => Ok(DecoderChoice::Split),
        _ => bail!("--decoder: `{text}` is not auto, merged or split"),
    }
}

/// Builds a preset into the cache unless it is already there.
fn preset_dir(name: &str) -> Result<PathBuf> {
    let pair = Pair::preset(name)?;
    let dir = slmbench_harness::runtime::cache_dir()
        .join("models")
        .join(format!("{name}-seed0-v{}", env!("CARGO_PKG_VERSION")));
    if !dir.join("pair.json").is_file() {
        eprintln!("slmbench: building the `{name}` pair into {}", dir.display());
        let _ = std::fs::remove_dir_all(&dir);
        slmbench_models::build_pair(&pair, &dir, &BuildOptions::default())
            .with_context(|| format!("building preset `{name}`"))?;
    }
    Ok(dir)
}

/// SIGINT and SIGTERM set `stop.signal` to their number; the sweep ends after the current
/// repetition. A second signal exits at once, as users expect of a second Ctrl-C, and so does the
/// first while `stop.at_once` is set (ONNX Runtime creating a session, which cannot be left early).
fn install_signal_handlers() -> Result<Stop> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Stop::default();
    let seen = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so they see `seen` as the earlier signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&seen))?;
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&stop.at_once))?;
        signal_hook::flag::register(sig, Arc::clone(&seen))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&stop.signal), sig as usize)?;
    }
    Ok(stop)
}

fn signal_name(sig: usize) -> &'static str {
    match sig as i32 {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Where a default run writes: a new folder `reports/runs/<UTC time>` (claimed atomically, with a
/// suffix when two runs start in the same second), marked as a run folder so that its report is
/// written inside it.
fn new_run_folder() -> Result<PathBuf> {
    let runs = Path::new(DEFAULT_ROOT).join("runs");
    std::fs::create_dir_all(&runs).with_context(|| format!("cannot create {}", runs.display()))?;
    let stamp = slmbench_harness::context::rfc3339_now().replace(':', "-");
    for i in 1..1000 {
        let dir = runs.join(if i == 1 { stamp.clone() } else { format!("{stamp}-{i}") });
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::write(dir.join(RUN_MARKER), b"")
                    .with_context(|| format!("cannot write in {}", dir.display()))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => bail!("cannot create {}: {e}", dir.display()),
        }
    }
    bail!("{} has 999 runs started in the same second; give -o", runs.display())
}

const DEFAULT_ROOT: &str = "reports";
/// Marks a folder that slmbench made for one run: the report goes inside it.
const RUN_MARKER: &str = ".slmbench-run";

/// Points `reports/latest` at the newest run folder (a symbolic link, replaced atomically). A
/// `reports/latest` folder left by an older slmbench is moved into `reports/runs/`, never deleted.
fn point_latest_at(run: &Path) -> Result<()> {
    let latest = Path::new(DEFAULT_ROOT).join("latest");
    if latest.is_dir() && !latest.is_symlink() {
        let keep = Path::new(DEFAULT_ROOT).join("runs").join(format!(
            "latest-before-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
        ));
        std::fs::rename(&latest, &keep)
            .with_context(|| format!("cannot move the old {} to {}", latest.display(), keep.display()))?;
        eprintln!("slmbench: moved the previous {} to {}", latest.display(), keep.display());
    }
    #[cfg(unix)]
    {
        let target = Path::new("runs").join(run.file_name().unwrap_or_default());
        let tmp = Path::new(DEFAULT_ROOT).join(format!(".latest.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        std::fs::rename(&tmp, &latest).with_context(|| format!("cannot replace {}", latest.display()))?;
    }
    #[cfg(not(unix))]
    {
        // Symbolic links need extra rights on Windows: a text file names the newest run instead.
        std::fs::write(Path::new(DEFAULT_ROOT).join("latest.txt"), run.display().to_string())?;
    }
    Ok(())
}

/// The folder of a results file's report: the run folder itself for a default run, else
/// `<file name>.report/` beside the file, so that runs in one folder never share a report.
fn report_dir(output: &str) -> PathBuf {
    let path = Path::new(output);
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if parent.join(RUN_MARKER).is_file() {
        return parent.to_path_buf();
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".report");
    parent.join(name)
}

/// A list flag's values, each within `1..=max`.
fn bounded(flag: &str, values: Vec<usize>, max: usize, why: &str) -> Result<Vec<usize>> {
    if let Some(v) = values.iter().find(|&&v| v > max) {
        bail!("{flag} {v}: at most {max} ({why})");
    }
    Ok(values)
}

/// Builds the plan from the flags, refusing contradictions and unbounded requests.
fn plan_of(a: &RunArgs, output: String) -> Result<(RunPlan, Vec<String>)> {
    let mut models: Vec<ModelEntry> = Vec::new();
    if let Some(list) = &a.model {
        for d in sweep::parse_list("--model", list)? {
            models.extend(run::expand_dir(Path::new(&d)));
        }
    }
    if let Some(list) = &a.pair {
        let dirs = sweep::parse_list("--pair", list)?;
        if dirs.len() != 2 {
            bail!("--pair takes two directories, ENCODER_DECODER_DIR,DECODER_ONLY_DIR; got {}", dirs.len());
        }
        // Which model is which kind is read from the files, not trusted from the order.
        for (d, want_ed) in [(&dirs[0], true), (&dirs[1], false)] {
            let files = slmbench_harness::layout::detect_with(Path::new(d), parse_decoder(&a.decoder)?)?;
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
    let eps = sweep::parse_list("--ep", &a.ep)?.iter().map(|e| e.parse::<Ep>()).collect::<Result<Vec<_>, _>>()?;
    let ep_options = a.ep_opt.iter().map(|o| o.parse::<EpOption>()).collect::<Result<Vec<_>, _>>()?;
    if let Some(o) = ep_options.iter().find(|o| !eps.contains(&o.ep)) {
        bail!(
            "--ep-opt {}:{}={} is for a provider not in --ep ({}); add it to --ep or drop the option",
            o.ep,
            o.key,
            o.value,
            a.ep
        );
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let max_threads = cores * MAX_THREADS_PER_CORE;
    let threads = match &a.threads {
        Some(t) => bounded(
            "-t",
            sweep::parse_usize_list("-t", t)?,
            max_threads,
            &format!(
                "{MAX_THREADS_PER_CORE} × the {cores} logical cores of this host; more threads only oversubscribe them"
            ),
        )?,
        None => vec![cores],
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
    let plan = RunPlan {
        eps,
        ep_options,
        threads,
        batches: sweep::parse_usize_list("-b", &a.batch)?,
        input_tokens: bounded("-p", sweep::parse_usize_list("-p", &a.input_tokens)?, MAX_TOKENS, tokens_why)?,
        output_tokens: bounded("-n", sweep::parse_usize_list("-n", &a.output_tokens)?, MAX_TOKENS, tokens_why)?,
        prompt_ids,
        seed: a.seed,
        stop_at_eos: a.stop_at_eos,
        opt_level: a.opt_level.parse()?,
        spinning: a.spinning,
        decoder: parse_decoder(&a.decoder)?,
        policy: Policy {
            warmup: a.warmup,
            min_repetitions,
            max_repetitions: a.repetitions,
            max_time_s: a.max_time,
            target_ci: a.target_ci,
        },
        output,
        overwrite: a.overwrite,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        shard: a.shard.as_deref().map(run::parse_shard).transpose()?,
        resume: a.resume.clone(),
        retry_failed: a.retry_failed,
        force: a.force,
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

fn run_sweep(a: RunArgs) -> Result<u8> {
    // Every output is checked before anything is built or measured: the results file is created
    // (or opened) and locked now, and the report folder must be writable.
    let mut run_folder = None;
    let output = match (&a.resume, &a.output) {
        (Some(r), Some(o)) if r != o => bail!("--resume {r} appends to {r}; drop -o {o} or make it the same file"),
        (Some(r), _) => r.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => {
            if a.overwrite {
                bail!("--overwrite needs -o FILE: a run without -o writes a new folder of its own");
            }
            let dir = new_run_folder()?;
            let out = dir.join("results.jsonl").display().to_string();
            run_folder = Some(dir);
            out
        }
    };
    let outcome = (|| {
        let (mut plan, presets) = plan_of(&a, output.clone())?;
        let writer = plan.writer()?;
        let report = (output != "-" && !a.no_report).then(|| report_dir(&output));
        if let Some(dir) = &report {
            slmbench_reports::write::check_writable(dir)
                .with_context(|| format!("the report folder {} (or pass --no-report)", dir.display()))?;
        }
        for p in &presets {
            plan.models.extend(run::expand_dir(&preset_dir(p)?));
        }
        plan.validate()?;
        if let Some(dir) = &run_folder {
            point_latest_at(dir)?;
        }
        let stop = install_signal_handlers()?;
        let outcome = plan.execute_into(writer, &stop)?;
        anyhow::Ok((plan, outcome, report, stop))
    })();
    let (plan, outcome, report, stop) = match outcome {
        Ok(x) => x,
        Err(e) => {
            // A default run that never measured leaves no folder behind.
            if let Some(dir) = &run_folder
                && !dir.join("results.jsonl").exists()
            {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e);
        }
    };
    let (cells, failed) = (&outcome.cells, &outcome.failed_cells);
    let finished = cells.len() + outcome.skipped;
    let mut code = 0;
    if plan.output != "-" {
        print!("{}", slmbench_harness::export::markdown::table(cells));
        print!("{}", slmbench_harness::export::markdown::failures(failed));
        eprintln!(
            "slmbench: {} cells written to {}{}{}",
            cells.len(),
            plan.output,
            if failed.is_empty() { String::new() } else { format!(", {} failed", failed.len()) },
            if outcome.skipped > 0 { format!(" ({} already there)", outcome.skipped) } else { String::new() }
        );
        if let Some(dir) = report.filter(|_| !outcome.all_cells.is_empty() || !outcome.all_failed.is_empty()) {
            // The whole file (a resumed one holds earlier cells too), from what the writer holds.
            let set = slmbench_reports::read::ResultSet {
                cells: outcome.all_cells.clone(),
                failed: outcome.all_failed.clone(),
                warnings: vec![],
                sources: vec![PathBuf::from(&plan.output)],
            };
            let signalled = || {
                slmbench_harness::context::test_pause("REPORT");
                stop.signal.load(Ordering::SeqCst) != 0
            };
            match slmbench_reports::write::report_with(&set, &dir, false, &signalled) {
                Ok(written) => eprintln!("slmbench: report written to {}", written.index.display()),
                Err(slmbench_reports::error::ReportError::Cancelled) => {
                    eprintln!(
                        "slmbench: the report was stopped by a signal; `slmbench report {}` writes it",
                        plan.output
                    )
                }
                Err(e) => {
                    eprintln!(
                        "Error: the report could not be written: {e:#}; the results are kept in {} (`slmbench report {}` retries); exit code {EXIT_REPORT_FAILED}",
                        plan.output, plan.output
                    );
                    code = EXIT_REPORT_FAILED;
                }
            }
        }
    }
    let sig = outcome.interrupted.or_else(|| match stop.signal.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    });
    if let Some(sig) = sig {
        eprintln!(
            "slmbench: stopped by {}; {} finished cells are in {}. Run the same command with --resume {} to measure the rest",
            signal_name(sig),
            finished,
            plan.output,
            plan.output
        );
        return Ok((128 + sig).min(255) as u8);
    }
    if code != 0 {
        return Ok(code);
    }
    if outcome.skipped_failed > 0 {
        eprintln!(
            "slmbench: {} cells of this sweep are recorded as failed in {}; --retry-failed measures them again",
            outcome.skipped_failed, plan.output
        );
    }
    let failed = failed.len() + outcome.skipped_failed;
    if failed > 0 {
        eprintln!(
            "slmbench: {failed} cells failed (see the table above and the report); exit code {EXIT_CELLS_FAILED}"
        );
        return Ok(EXIT_CELLS_FAILED);
    }
    Ok(0)
}

fn generate(a: GenerateArgs) -> Result<()> {
    let ids = parse_ids(&a.prompt_ids)?;
    if a.n == 0 {
        bail!("-n must be at least 1");
    }
    if a.batch == 0 {
        bail!("-b must be at least 1");
    }
    bounded("-n", vec![a.n], MAX_TOKENS, "new tokens")?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    bounded(
        "-t",
        vec![a.threads],
        cores * MAX_THREADS_PER_CORE,
        &format!("{MAX_THREADS_PER_CORE} × the {cores} logical cores of this host"),
    )?;
    let settings = SessionSettings {
        ep: a.ep.parse()?,
        ep_options: a.ep_opt.iter().map(|o| o.parse::<EpOption>()).collect::<Result<Vec<_>, _>>()?,
        threads: a.threads,
        ..SessionSettings::default()
    };
    let mut model = LoadedModel::load_with(&a.model, &settings, parse_decoder(&a.decoder)?)?;
    let g = model.generate(&Prompt::repeated(&ids, a.batch), a.n, a.stop_at_eos)?;
    let out = serde_json::json!({
        "model": a.model.display().to_string(),
        "layout": model.files.layout,
        "prompt_ids": ids,
        "output_token_ids": if a.batch == 1 { serde_json::json!(g.tokens[0]) } else { serde_json::json!(g.tokens) },
        "ttft_ms": g.ttft_ns as f64 / 1e6,
        "itl_ms": g.itl_ns.iter().map(|&x| x as f64 / 1e6).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn pair_from(preset: Option<&str>, config: Option<&PathBuf>) -> Result<Pair> {
    match (preset, config) {
        (Some(p), _) => Ok(Pair::preset(p)?),
        (None, Some(path)) => {
            let cfg = Config::from_file(path)?;
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "custom".into());
            Ok(Pair::from_encoder_decoder(&name, cfg)?)
        }
        (None, None) => bail!("give --preset NAME or --config FILE"),
    }
}

fn build(a: BuildArgs) -> Result<()> {
    let pair = pair_from(a.preset.as_deref(), a.config.as_ref())?;
    let opts = BuildOptions {
        seed: a.seed,
        split_decoder: a.split_decoder,
        safetensors: a.safetensors,
        external_data: if a.external_data { ExternalData::Always } else { ExternalData::Auto },
        fault: None,
    };
    let start = std::time::Instant::now();
    let m = slmbench_models::build_pair(&pair, &a.out, &opts)?;
    eprintln!(
        "built `{}` in {:.1} s: encoder-decoder {} parameters ({} bytes), decoder-only {} parameters ({} bytes), difference {:+.2}%",
        m.name,
        start.elapsed().as_secs_f64(),
        m.params.encoder_decoder.total,
        m.encoder_decoder.total_bytes,
        m.params.decoder_only.total,
        m.decoder_only.total_bytes,
        m.params.relative_difference * 100.0
    );
    println!("{}", a.out.display());
    Ok(())
}

fn describe(a: DescribeArgs) -> Result<()> {
    let value = match a.dir {
        Some(dir) => {
            let pair = dir.join("pair.json");
            let single = dir.join("manifest.json");
            let path = if pair.is_file() {
                pair
            } else if single.is_file() {
                single
            } else {
                bail!(
                    "{} holds neither pair.json nor manifest.json; give a directory written by `slmbench models build`",
                    dir.display()
                )
            };
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?
        }
        None => {
            let pair = pair_from(a.preset.as_deref(), a.config.as_ref())?;
            serde_json::json!({
                "name": pair.name,
                "encoder_decoder": {"config": pair.encoder_decoder, "params": slmbench_models::params::count(&pair.encoder_decoder)},
                "decoder_only": {"config": pair.decoder_only, "params": slmbench_models::params::count(&pair.decoder_only)},
                "params": pair.counts(),
            })
        }
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn list() -> Result<()> {
    println!(
        "{:<7} {:>16} {:>16} {:>7}  {:>10}  description",
        "preset", "enc-dec params", "dec-only params", "diff", "layers"
    );
    for p in presets::PRESETS {
        let pair = Pair::preset(p.name)?;
        let c = pair.counts();
        println!(
            "{:<7} {:>16} {:>16} {:>+6.2}%  {:>4}+{:<2}/{:<3}  {}",
            p.name,
            c.encoder_decoder.total,
            c.decoder_only.total,
            c.relative_difference * 100.0,
            pair.encoder_decoder.encoder_layers,
            pair.encoder_decoder.decoder_layers,
            pair.decoder_only.decoder_layers,
            p.description
        );
    }
    Ok(())
}

fn doctor() -> Result<()> {
    let info = slmbench_harness::runtime::doctor()?;
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(())
}
