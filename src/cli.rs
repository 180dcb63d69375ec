//! Argument parsing (clap derive) and dispatch.
//!
//! Exit codes: 0 success; 1 the gate found a regression; 2 bad input or a failed step (the
//! message names what to fix); 3 a sweep finished but some cells failed (they are recorded in
//! the results file); 130 / 143 a sweep stopped by SIGINT / SIGTERM (what was measured is kept).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use slmbench_harness::ep::{Ep, EpOption};
use slmbench_harness::layout::DecoderChoice;
use slmbench_harness::run::{self, ModelEntry, RunPlan};
use slmbench_harness::stats::Policy;
use slmbench_harness::{LoadedModel, Prompt, SessionSettings, sweep};
use slmbench_models::{BuildOptions, Config, ExternalData, Pair, presets};
use slmbench_reports::analysis::cell_name;

pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CELLS_FAILED: u8 = 3;

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
(recorded in the results file and the report); 130 / 143 stopped by SIGINT / SIGTERM after the current \
repetition (finished cells kept: rerun with --resume FILE).")]
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
    /// Output directory.
    #[arg(short = 'o', long, default_value = "reports/latest")]
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
    #[arg(long, default_value_t = 5)]
    min_repetitions: usize,
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
    #[arg(long)]
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
    /// Results file (.jsonl, .json, .csv, .md) or - for Markdown on stdout [default: reports/latest/results.jsonl].
    #[arg(short = 'o', long, env = "SLMBENCH_OUTPUT")]
    output: Option<String>,
    /// Continue an interrupted sweep: skip the cells already in this .jsonl file and append the rest to it.
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
        command: std::env::args().collect::<Vec<_>>().join(" "),
        shard: None,
        resume: None,
        retry_failed: false,
        force: false,
    };
    let outcome = plan.execute(&AtomicUsize::new(0))?;
    let _ = std::fs::remove_file(&tmp);
    if let Some(f) = outcome.failed_cells.first() {
        bail!("re-measuring {} failed: {}", cell_name(c), f.error);
    }
    let mut cells = outcome.cells;
    cells.pop().ok_or_else(|| anyhow::anyhow!("re-measuring {} produced no cell", cell_name(c)))
}

fn merge(a: MergeArgs) -> Result<()> {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut first_machine: Option<String> = None;
    let (mut measured, mut failed) = (0, 0);
    for p in &a.results {
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
    std::fs::write(&a.out, out).with_context(|| format!("cannot write {}", a.out.display()))?;
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

/// SIGINT and SIGTERM set `stop` to their number; the sweep ends after the current repetition.
/// A second signal exits at once, as users expect of a second Ctrl-C.
fn install_signal_handlers() -> Result<Arc<AtomicUsize>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it sees `seen` as the earlier signal left it.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&seen))?;
        signal_hook::flag::register(sig, Arc::clone(&seen))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&stop), sig as usize)?;
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

fn run_sweep(a: RunArgs) -> Result<u8> {
    let output = match (&a.resume, &a.output) {
        (Some(r), Some(o)) if r != o => bail!("--resume {r} appends to {r}; drop -o {o} or make it the same file"),
        (Some(r), _) => r.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => "reports/latest/results.jsonl".to_string(),
    };
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
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = match &a.threads {
        Some(t) => sweep::parse_usize_list("-t", t)?,
        None => vec![cores],
    };
    let prompt_ids = a.prompt_ids.as_deref().map(parse_ids).transpose()?;
    if a.repetitions == 0 {
        bail!("-r must be at least 1");
    }
    if !a.max_time.is_finite() || a.max_time <= 0.0 {
        bail!("--max-time must be a positive number of seconds");
    }
    let mut plan = RunPlan {
        eps,
        ep_options,
        threads,
        batches: sweep::parse_usize_list("-b", &a.batch)?,
        input_tokens: sweep::parse_usize_list("-p", &a.input_tokens)?,
        output_tokens: sweep::parse_usize_list("-n", &a.output_tokens)?,
        prompt_ids,
        seed: a.seed,
        stop_at_eos: a.stop_at_eos,
        opt_level: a.opt_level.parse()?,
        spinning: a.spinning,
        decoder: parse_decoder(&a.decoder)?,
        policy: Policy {
            warmup: a.warmup,
            min_repetitions: a.min_repetitions.min(a.repetitions),
            max_repetitions: a.repetitions,
            max_time_s: a.max_time,
            target_ci: a.target_ci,
        },
        output: output.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        shard: a.shard.as_deref().map(run::parse_shard).transpose()?,
        resume: a.resume.clone(),
        retry_failed: a.retry_failed,
        force: a.force,
        models,
    };
    // A bad -o or --resume fails before any preset is built.
    slmbench_harness::export::Format::from_path(&plan.output)?;
    if let Some(r) = &plan.resume {
        slmbench_harness::export::check_resumable(r)?;
    }
    for p in &presets {
        plan.models.extend(run::expand_dir(&preset_dir(p)?));
    }
    let stop = install_signal_handlers()?;
    let outcome = plan.execute(&stop)?;
    let (cells, failed) = (outcome.cells, outcome.failed_cells);
    let finished = cells.len() + outcome.skipped;
    let failed_now = failed.len();
    if plan.output != "-" {
        print!("{}", slmbench_harness::export::markdown::table(&cells));
        print!("{}", slmbench_harness::export::markdown::failures(&failed));
        eprintln!(
            "slmbench: {} cells written to {}{}{}",
            cells.len(),
            plan.output,
            if failed.is_empty() { String::new() } else { format!(", {} failed", failed.len()) },
            if outcome.skipped > 0 { format!(" ({} already there)", outcome.skipped) } else { String::new() }
        );
        if !a.no_report && (!cells.is_empty() || !failed.is_empty()) {
            let dir = Path::new(&plan.output).parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            // A resumed file holds earlier cells too: the report covers the whole file.
            let set = if plan.resume.is_some() {
                slmbench_reports::read::read_all(&[PathBuf::from(&plan.output)])?
            } else {
                slmbench_reports::read::ResultSet {
                    cells,
                    failed,
                    warnings: vec![],
                    sources: vec![PathBuf::from(&plan.output)],
                }
            };
            let written = slmbench_reports::write::report(&set, dir, false)?;
            eprintln!("slmbench: report written to {}", written.index.display());
        }
    }
    if let Some(sig) = outcome.interrupted {
        eprintln!(
            "slmbench: stopped by {}; {} finished cells are in {}. Run the same command with --resume {} to measure the rest",
            signal_name(sig),
            finished,
            plan.output,
            plan.output
        );
        return Ok((128 + sig).min(255) as u8);
    }
    if outcome.skipped_failed > 0 {
        eprintln!(
            "slmbench: {} cells of this sweep are recorded as failed in {}; --retry-failed measures them again",
            outcome.skipped_failed, plan.output
        );
    }
    let failed = failed_now + outcome.skipped_failed;
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
