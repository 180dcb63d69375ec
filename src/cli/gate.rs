//! `slmbench gate` and `slmbench baseline`: the regression rule against a baseline, with re-measuring.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use slmbench_reports::analysis::gate::judge_all;
use slmbench_results::identity::cell_name;

use super::print_warnings;

#[derive(Args, Debug)]
pub(super) struct GateArgs {
    /// Baseline results (default: ci/baselines/<this machine>.json).
    #[arg(long, conflicts_with = "history")]
    baseline: Option<PathBuf>,
    /// Take the baseline from this run history instead: each cell's samples over the last
    /// `--last` runs on this machine, pooled.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Runs of the history to pool (with --history).
    #[arg(long, default_value_t = 5, requires = "history", value_parser = clap::value_parser!(u64).range(1..=1000))]
    last: u64,
    /// Results of the run to judge (the pull request's), a results file as `run -o` writes it.
    #[arg(long)]
    current: PathBuf,
    /// Gate settings (alpha, thresholds per metric).
    #[arg(long, default_value = "ci/gate.toml", env = "SLMBENCH_GATE_CONFIG")]
    config: PathBuf,
    /// Accept a baseline measured on another machine.
    #[arg(long)]
    allow_other_machine: bool,
    /// Re-measure flagged cells up to N times; a cell fails only if flagged every time.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10))]
    confirm: u64,
}

#[derive(Subcommand, Debug)]
pub(super) enum BaselineCommand {
    /// Save a results file as this machine's baseline.
    Save {
        /// The results file to keep.
        results: PathBuf,
        /// Where baselines live.
        #[arg(long, default_value = "ci/baselines")]
        dir: PathBuf,
        /// Replace this machine's baseline if there is one.
        #[arg(long)]
        overwrite: bool,
    },
}

pub(super) fn gate(a: GateArgs) -> Result<()> {
    use slmbench_reports::analysis::gate::GateConfig;
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
    if let Some(db) = &a.history {
        let pooled = super::history::pooled_baseline(db, &cur.cells, a.last as usize)?;
        let base = slmbench_reports::read::ResultSet { cells: pooled, ..Default::default() };
        return judge_and_exit(&a, &cfg, &base, &cur, &format!("the last {} runs in {}", a.last, db.display()));
    }
    let baseline_path = match &a.baseline {
        Some(p) => p.clone(),
        None => {
            let p = Path::new("ci/baselines").join(format!("{}.json", cur.cells[0].context.machine_slug()));
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
    let (fb, fc) = (base.cells[0].context.fingerprint(), cur.cells[0].context.fingerprint());
    if fb != fc && !a.allow_other_machine {
        bail!(
            "baseline {} was measured on another machine ({fb}) than {} ({fc}); re-measure the baseline here or pass --allow-other-machine",
            baseline_path.display(),
            a.current.display()
        );
    }
    judge_and_exit(&a, &cfg, &base, &cur, &baseline_path.display().to_string())
}

/// Judges `cur` against `base` (re-measuring flagged cells with `--confirm`), prints the table,
/// and exits 1 on a regression.
fn judge_and_exit(
    a: &GateArgs,
    cfg: &slmbench_reports::analysis::gate::GateConfig,
    base: &slmbench_reports::read::ResultSet,
    cur: &slmbench_reports::read::ResultSet,
    base_name: &str,
) -> Result<()> {
    let mut cur_cells = cur.cells.clone();
    let mut judged = judge_all(&base.cells, &cur_cells, cfg);
    if !judged.missing.is_empty() {
        bail!(
            "{} lacks {} baseline cell(s) (of {base_name}): {}; run the same sweep as the baseline",
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
        judged = judge_all(&base.cells, &cur_cells, cfg);
    }
    // Pair ratios are judged as recorded (--confirm re-measures single cells, not pairs).
    slmbench_reports::analysis::gate::judge_ratios(base, cur, cfg, &mut judged);
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
    // A gate that could not judge does not pass (exit 2, every reason named).
    if !judged.unjudged.is_empty() {
        bail!(
            "the gate cannot judge {} of its verdicts, so it does not pass: {}",
            judged.unjudged.len(),
            judged.unjudged.join("; ")
        );
    }
    if judged.judged == 0 {
        bail!(
            "nothing was gated: no metric of {} has a threshold in {} that its cells measure",
            a.current.display(),
            a.config.display()
        );
    }
    Ok(())
}

pub(super) fn baseline(c: BaselineCommand) -> Result<()> {
    match c {
        BaselineCommand::Save { results, dir, overwrite } => baseline_save(&results, &dir, overwrite),
    }
}

fn baseline_save(results: &Path, dir: &Path, overwrite: bool) -> Result<()> {
    let set = slmbench_reports::read::read_measured(&[results.to_path_buf()])?;
    print_warnings(&set);
    let machines = slmbench_results::identity::machines(set.cells.iter().map(|c| &c.context));
    if machines.len() > 1 {
        bail!(
            "{} holds cells of {} machines; a baseline is one machine's: save each machine's results on its own",
            results.display(),
            machines.len()
        );
    }
    let path = dir.join(format!("{}.json", set.cells[0].context.machine_slug()));
    let out = slmbench_results::export::Output::claim(&path, overwrite)
        .map_err(|e| anyhow::anyhow!("{e} (this machine's baseline)"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Cells, and the ratio records of pairs measured interleaved (the gate judges those too).
    use slmbench_results::export::Exporter;
    out.write(&slmbench_results::export::json::Json.finish(&set.kept()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("slmbench: baseline of {} cells saved to {}", set.cells.len(), path.display());
    println!("{}", path.display());
    Ok(())
}

/// Measures a recorded cell again with its recorded model, settings and sweep point.
fn rerun_cell(c: &slmbench_results::schema::CellResult) -> Result<slmbench_results::schema::CellResult> {
    let command = super::effective_command();
    slmbench_harness::remeasure::remeasure(c, command).with_context(|| format!("re-measuring {}", cell_name(c)))
}
