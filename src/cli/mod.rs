//! Argument parsing (clap derive) and dispatch.
//!
//! Exit codes: 0 success; 1 the gate found a regression; 2 bad input or a failed step (the
//! message names what to fix); 3 a sweep finished but some cells failed (they are recorded in
//! the results file); 4 a sweep's results are kept but its report could not be written; 5 a
//! sweep failed after recording some cells, which are kept (`--resume` measures the rest);
//! 130 / 143 a sweep stopped by SIGINT / SIGTERM (what was measured is kept).

mod bundle;
mod files;
mod folders;
mod gate;
mod generate;
#[cfg(test)]
mod help_tests;
mod history;
mod models;
mod predict;
mod run;
mod run_args;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use slmbench_harness::files::layout::DecoderChoice;

use self::files::{CompareArgs, ExportArgs, MergeArgs, ReportArgs};
use self::gate::{BaselineCommand, GateArgs};
use self::generate::GenerateArgs;
use self::models::ModelsCommand;
use self::run_args::RunArgs;

pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CELLS_FAILED: u8 = 3;
pub const EXIT_REPORT_FAILED: u8 = 4;
pub const EXIT_KEPT_THEN_FAILED: u8 = 5;

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
5 the sweep failed (a full disk, …) after recording some cells, which are kept: fix the cause and rerun with --resume FILE; \
130 / 143 stopped by SIGINT / SIGTERM (finished cells kept: rerun with --resume FILE).")]
    Run(Box<RunArgs>),
    /// Greedy-generate from given prompt ids and print the output ids as JSON (to check a model).
    Generate(GenerateArgs),
    /// Write the HTML report, charts, Markdown and CSV of one or more results files.
    Report(ReportArgs),
    /// Compare two results files cell by cell: change of each metric with its CI and a verdict.
    Compare(CompareArgs),
    /// Fitted cost curves, crossovers, and predicted latencies for a workload of prompt and output lengths.
    Predict(predict::PredictArgs),
    /// Regression gate: exit 0 pass, 1 regression, 2 unusable input.
    Gate(GateArgs),
    /// Join result files of sharded sweeps into one (same schema and machine, no duplicate cell).
    Merge(MergeArgs),
    /// Baselines for the gate: `save` writes ci/baselines/<machine>.json.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Write results for dashboards: Bencher Metric Format or github-action-benchmark JSON.
    Export(ExportArgs),
    /// Turn one `run --scenario` results file into a bundle: its records with a digest each, the
    /// scenario and its hash, the device and the suite build.
    Bundle(bundle::BundleArgs),
    /// Check bundles against their scenario's rules: exit 0 pass, 1 fail (every reason printed),
    /// 2 unusable input.
    Check(bundle::CheckArgs),
    /// Set checked bundles of many devices side by side: a self-contained HTML page (forest plots
    /// of the pair ratios, every cell, each device), Markdown and CSV; failed bundles apart.
    Atlas(bundle::AtlasArgs),
    /// The run history (SQLite): import results, list runs, show a cell's trend, export.
    #[command(subcommand)]
    History(history::HistoryCommand),
    /// Show the ONNX Runtime this build loads, its providers, and the host.
    Doctor,
    /// How far a model's logits drift from a reference's (a quantized variant against its fp32
    /// original): top-1 agreement and the largest logit difference under teacher forcing.
    Accuracy(generate::AccuracyArgs),
}

/// Runs the command; returns the exit code of a run that finished (errors exit 2 in `main`).
pub fn run() -> Result<u8> {
    let cli = Cli::parse();
    // Test hook (debug builds only): the guide's test checks that every command it shows parses.
    if cfg!(debug_assertions) && std::env::var_os("SLMBENCH_TEST_PARSE_ONLY").is_some() {
        return Ok(0);
    }
    if !matches!(cli.command, Command::Run(_)) {
        end_quietly_on_broken_pipe();
    }
    match cli.command {
        // The one command with exit codes of its own (3, 4, 130, 143).
        Command::Run(a) => return run::run_sweep(*a),
        Command::Check(a) => return bundle::check(a),
        Command::Bundle(a) => bundle::bundle(a),
        Command::Atlas(a) => bundle::atlas(a),
        Command::Models(c) => models::run(c),
        Command::Generate(a) => generate::generate(a),
        Command::Report(a) => files::report(a),
        Command::Compare(a) => files::compare(a),
        Command::Predict(a) => predict::predict(a),
        Command::Gate(a) => gate::gate(a),
        Command::Merge(a) => files::merge(a),
        Command::Baseline(c) => gate::baseline(c),
        Command::Export(a) => files::export(a),
        Command::History(c) => history::history(c),
        Command::Doctor => generate::doctor(),
        Command::Accuracy(a) => generate::accuracy(a),
    }
    .map(|()| 0)
}

/// `slmbench history list | head -1`: a reader of our output that leaves early ends us as it
/// ends `cat`, quietly (the default action of SIGPIPE, which Rust's runtime turns off so that
/// every `println!` after it would panic). Not for `run`, which prints through [`emit`] so that
/// a closed pipe never stops it before its report is written.
fn end_quietly_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring a signal's default action, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints `text` on standard output; a reader that has gone away (a broken pipe) is no error.
pub(crate) fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// What a reader skipped (a torn final line, duplicate cells), on stderr.
pub(crate) fn print_warnings(set: &slmbench_reports::read::ResultSet) {
    for w in &set.warnings {
        eprintln!("slmbench: warning: {w}");
    }
}

/// `list` with a repeated value refused, naming the flag.
pub(crate) fn distinct<T: PartialEq + Copy + std::fmt::Display>(flag: &str, list: &[T]) -> Result<Vec<T>> {
    let mut out: Vec<T> = Vec::new();
    for &x in list {
        if out.contains(&x) {
            bail!("{flag}: {x} is given twice");
        }
        out.push(x);
    }
    Ok(out)
}

/// The command line as it took effect: every `SLMBENCH_*` (and `ORT_DYLIB_PATH`) variable set in
/// the environment, which can change the sweep as much as a flag, then the arguments, each
/// quoted where a shell would need it.
pub(crate) fn effective_command() -> String {
    let mut vars: Vec<(String, String)> =
        std::env::vars().filter(|(k, _)| k.starts_with("SLMBENCH_") || k == "ORT_DYLIB_PATH").collect();
    vars.sort();
    let vars = vars.into_iter().map(|(k, v)| format!("{k}={}", shell_quote(&v)));
    vars.chain(std::env::args().map(|a| shell_quote(&a))).collect::<Vec<_>>().join(" ")
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./,:=+@%".contains(c));
    if plain { s.to_string() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

pub(crate) fn parse_ids(text: &str) -> Result<Vec<i64>> {
    let ids: Result<Vec<i64>, _> = text.split(',').map(|s| s.trim().parse::<i64>()).collect();
    match ids {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => bail!("--prompt-ids: `{text}` is not a comma-separated list of token ids"),
    }
}

/// `--backend`: one of the inference runtimes of this build, by the name results record. Its values
/// are the registry's, so a backend added there is a value here with no line of the CLI changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackendArg(&'static str);

impl BackendArg {
    /// The default backend (every record that names none was measured with it).
    pub(crate) const DEFAULT: BackendArg = BackendArg(slmbench_results::schema::DEFAULT_BACKEND);

    /// The backend's name, as the registry and the records have it.
    pub(crate) fn name(self) -> &'static str {
        self.0
    }

    /// The backends of `list`, from the registry.
    pub(crate) fn resolve(list: &[BackendArg]) -> Result<Vec<&'static dyn slmbench_harness::backend::Backend>> {
        Ok(list.iter().map(|b| slmbench_harness::registry::find(b.0)).collect::<Result<_, _>>()?)
    }
}

impl clap::ValueEnum for BackendArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::OnceLock<Vec<BackendArg>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| slmbench_harness::registry::all().iter().map(|b| BackendArg(b.name())).collect())
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0))
    }
}

/// `--order`: how the two models of a pair share each sweep point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OrderArg {
    /// Both loaded, repetitions alternating in ABBA blocks (also `abba`).
    #[value(alias = "abba")]
    Interleaved,
    /// As interleaved, each block's order drawn from --seed.
    Random,
    /// One model's cell, then the other's.
    Sequential,
}

impl From<OrderArg> for slmbench_harness::interleave::Order {
    fn from(o: OrderArg) -> Self {
        use slmbench_harness::interleave::Order;
        match o {
            OrderArg::Interleaved => Order::Abba,
            OrderArg::Random => Order::Random,
            OrderArg::Sequential => Order::Sequential,
        }
    }
}

/// `--decoder`: which decoder files to use when a model has both.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum DecoderArg {
    Auto,
    Merged,
    Split,
}

impl From<DecoderArg> for DecoderChoice {
    fn from(d: DecoderArg) -> Self {
        match d {
            DecoderArg::Auto => DecoderChoice::Auto,
            DecoderArg::Merged => DecoderChoice::Merged,
            DecoderArg::Split => DecoderChoice::Split,
        }
    }
}

/// `--opt-level`: ONNX Runtime's graph optimisation level.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum OptLevelArg {
    Disable,
    Basic,
    Extended,
    Layout,
    All,
}

impl From<OptLevelArg> for slmbench_results::model::OptLevel {
    fn from(o: OptLevelArg) -> Self {
        use slmbench_results::model::OptLevel;
        match o {
            OptLevelArg::Disable => OptLevel::Disable,
            OptLevelArg::Basic => OptLevel::Basic,
            OptLevelArg::Extended => OptLevel::Extended,
            OptLevelArg::Layout => OptLevel::Layout,
            OptLevelArg::All => OptLevel::All,
        }
    }
}
