//! Commands over results files: `report`, `compare`, `merge`, `export`.

use std::path::PathBuf;

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
    #[arg(short = 'o', long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub(super) struct MergeArgs {
    /// Result files to join.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Output JSON Lines file.
    #[arg(short = 'o', long)]
    out: PathBuf,
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
    /// Also write the comparison as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub(super) fn export(a: ExportArgs) -> Result<()> {
    let set = slmbench_reports::read::read_measured(&a.results)?;
    print_warnings(&set);
    let text = match a.format {
        DashboardFormat::Bencher => slmbench_reports::dashboards::bencher(&set.cells),
        DashboardFormat::GhSmaller => slmbench_reports::dashboards::github_action_benchmark(&set.cells, false),
        DashboardFormat::GhBigger => slmbench_reports::dashboards::github_action_benchmark(&set.cells, true),
    };
    std::fs::write(&a.out, serde_json::to_string_pretty(&text)? + "\n")
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    Ok(())
}

pub(super) fn merge(a: MergeArgs) -> Result<()> {
    let m = slmbench_reports::merge::merge(&a.results, &a.out)?;
    for n in &m.notes {
        eprintln!("slmbench: {n}");
    }
    eprintln!(
        "slmbench: {} cells ({} failed ones besides) from {} files written to {}",
        m.measured,
        m.failed,
        a.results.len(),
        a.out.display()
    );
    Ok(())
}

pub(super) fn report(a: ReportArgs) -> Result<()> {
    let mut set = slmbench_reports::read::read_all(&a.results)?;
    if let Some(db) = &a.history {
        set.history = Some(super::history::section(db, &set.cells)?);
    }
    set.workload = a.workload.workload()?;
    for w in &set.warnings {
        eprintln!("slmbench: warning: {w}");
    }
    let written = slmbench_reports::write::report(&set, &a.out, a.png)?;
    eprintln!("slmbench: report of {} cells written to {}", set.cells.len(), written.index.display());
    print!("{}", slmbench_harness::export::markdown::table(&set.cells));
    print!("{}", slmbench_harness::export::markdown::failures(&set.failed));
    Ok(())
}

pub(super) fn compare(a: CompareArgs) -> Result<()> {
    let base = slmbench_reports::read::read_measured(std::slice::from_ref(&a.base))?;
    let current = slmbench_reports::read::read_measured(std::slice::from_ref(&a.current))?;
    for w in base.warnings.iter().chain(&current.warnings) {
        eprintln!("slmbench: warning: {w}");
    }
    let cmp = slmbench_reports::compare::compare_sets(&base, &current);
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
