//! Commands over results files: `report`, `compare`, `merge`, `export`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::print_warnings;

/// `export --format`: which dashboard's JSON.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(super) enum DashboardFormat {
    Bencher,
    GhSmaller,
    GhBigger,
}

#[derive(Args, Debug)]
pub(super) struct ExportArgs {
    /// bencher (Bencher Metric Format), gh-smaller or gh-bigger (github-action-benchmark's
    /// customSmallerIsBetter: TTFT and ITL; customBiggerIsBetter: tokens/s).
    #[arg(long, value_enum)]
    format: DashboardFormat,
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Output file (`-`: standard output).
    #[arg(short = 'o', long)]
    out: PathBuf,
    /// Replace an existing -o file.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args, Debug)]
pub(super) struct MergeArgs {
    /// Result files to join.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Output JSON Lines file (`-`: standard output).
    #[arg(short = 'o', long)]
    out: PathBuf,
    /// Replace an existing -o file (it may be one of the inputs).
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args, Debug)]
pub(super) struct ReportArgs {
    /// Results files (.jsonl or .json); several are merged.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Output directory (a run's own report is in its run folder; this one is for combined reports).
    #[arg(short = 'o', long, default_value = "reports/combined")]
    out: PathBuf,
    /// Also write each chart as PNG (text drawn with the bundled DejaVu Sans).
    #[arg(long)]
    png: bool,
    /// Add each cell's trend across the runs of this history database, with change points.
    #[arg(long)]
    history: Option<PathBuf>,
    /// A workload whose latencies the cost-curves section predicts.
    #[command(flatten)]
    workload: super::predict::WorkloadArgs,
}

#[derive(Args, Debug)]
pub(super) struct CompareArgs {
    /// The baseline results file.
    base: PathBuf,
    /// The results file to compare with it.
    current: PathBuf,
    /// Also write the comparison as JSON (a file: the tables go to standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Replace an existing --json file.
    #[arg(long)]
    overwrite: bool,
}

pub(super) fn export(a: ExportArgs) -> Result<()> {
    let out = slmbench_results::export::Output::claim(&a.out, a.overwrite)?;
    let set = slmbench_reports::read::read_measured(&a.results)?;
    print_warnings(&set);
    slmbench_reports::dashboards::check_exportable(&set.cells).map_err(|e| anyhow::anyhow!("export: {e}"))?;
    let text = match a.format {
        DashboardFormat::Bencher => slmbench_reports::dashboards::bencher(&set.cells),
        DashboardFormat::GhSmaller => slmbench_reports::dashboards::github_action_benchmark(&set.cells, false),
        DashboardFormat::GhBigger => slmbench_reports::dashboards::github_action_benchmark(&set.cells, true),
    };
    out.write((serde_json::to_string_pretty(&text)? + "\n").as_bytes())
        .with_context(|| format!("cannot write {}", out.name()))?;
    Ok(())
}

pub(super) fn merge(a: MergeArgs) -> Result<()> {
    let m = slmbench_reports::merge::merge(&a.results, &a.out, a.overwrite)?;
    for n in &m.notes {
        eprintln!("slmbench: {n}");
    }
    eprintln!(
        "slmbench: {} cells ({} failed ones besides) from {} files written to {}",
        m.measured,
        m.failed,
        a.results.len(),
        if a.out == std::path::Path::new("-") { "standard output".into() } else { a.out.display().to_string() }
    );
    Ok(())
}

pub(super) fn report(a: ReportArgs) -> Result<()> {
    let mut set = slmbench_reports::read::read_all(&a.results)?;
    if let Some(db) = &a.history {
        set.history = Some(super::history::section(db, &set.cells)?);
    }
    set.workload = a.workload.workload()?;
    if let Some(w) = &set.workload {
        let fits = slmbench_reports::analysis::fit::fit_all(&set.cells);
        slmbench_reports::analysis::predict::check_positions(&fits, w).map_err(|e| anyhow::anyhow!("report: {e}"))?;
    }
    slmbench_reports::write::check_report_folder(&a.out)?;
    for w in &set.warnings {
        eprintln!("slmbench: warning: {w}");
    }
    let written = slmbench_reports::write::report(&set, &a.out, a.png)?;
    eprintln!("slmbench: report of {} cells written to {}", set.cells.len(), written.index.display());
    print!("{}", slmbench_results::export::markdown::table(&set.cells));
    print!("{}", slmbench_results::export::markdown::failures(&set.failed));
    Ok(())
}

/// The `--json FILE` of `compare` and `predict`, claimed before any work like every writer's.
pub(super) fn json_output(path: Option<&Path>, overwrite: bool) -> Result<Option<slmbench_results::export::Output>> {
    match path {
        Some(p) if p == Path::new("-") => {
            bail!("--json -: the tables already go to standard output; give --json a file name")
        }
        Some(p) => Ok(Some(slmbench_results::export::Output::claim(p, overwrite)?)),
        None => Ok(None),
    }
}

pub(super) fn compare(a: CompareArgs) -> Result<()> {
    let json_out = super::files::json_output(a.json.as_deref(), a.overwrite)?;
    let base = slmbench_reports::read::read_measured(std::slice::from_ref(&a.base))?;
    let current = slmbench_reports::read::read_measured(std::slice::from_ref(&a.current))?;
    for w in base.warnings.iter().chain(&current.warnings) {
        eprintln!("slmbench: warning: {w}");
    }
    let cmp = slmbench_reports::analysis::compare::compare_sets(&base, &current);
    if cmp.changes.is_empty() {
        bail!(
            "no cell of {} matches one of {}: compare runs of the same models and sweep points",
            a.base.display(),
            a.current.display()
        );
    }
    print!("{}", slmbench_reports::analysis::compare::markdown(&cmp));
    if let Some(out) = json_out {
        out.write(serde_json::to_string_pretty(&cmp)?.as_bytes())
            .with_context(|| format!("cannot write {}", out.name()))?;
    }
    Ok(())
}
