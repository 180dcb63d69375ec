//! `slmbench run`: a sweep, its results file, its report, and what signals do meanwhile (the
//! flags and the plan: [`super::run_args`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use slmbench_harness::bench::Stop;

use super::folders::{new_run_folder, point_latest_at, report_dir};
use super::models::preset_dir;
use super::run_args::{RunArgs, apply_scenario, pin_threads, plan_of};
use super::{EXIT_CELLS_FAILED, EXIT_KEPT_THEN_FAILED, EXIT_REPORT_FAILED, emit};

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

pub(super) fn run_sweep(mut a: RunArgs) -> Result<u8> {
    // A scenario sets the flags it fixes (clap has refused them beside it) before anything else.
    let scenario = apply_scenario(&mut a)?;
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
        plan.scenario = scenario.clone();
        pin_threads(&a.backend, &plan.threads)?;
        let mut writer = plan.writer()?;
        if let Some(db) = &a.history {
            writer.on_record(super::history::recorder(db, &output)?);
        }
        let report = (output != "-" && !a.no_report).then(|| report_dir(&output));
        if let Some(dir) = &report {
            slmbench_reports::write::check_writable(dir)
                .with_context(|| format!("the report folder {} (or pass --no-report)", dir.display()))?;
        }
        for (name, variant) in &presets {
            plan.models.extend(slmbench_harness::entry::expand_dir(&preset_dir(name, *variant)?));
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
            // Cells were kept before the sweep failed: its own exit code, so that a script can
            // tell "nothing measured" (2) from "resume me" (5).
            if let Some(slmbench_harness::error::HarnessError::Stopped { .. }) = e.downcast_ref() {
                eprintln!("Error: {e:#}");
                return Ok(EXIT_KEPT_THEN_FAILED);
            }
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
    if outcome.not_replaced > 0 || (plan.overwrite && cells.is_empty() && outcome.all_cells.is_empty()) {
        eprintln!(
            "slmbench: --overwrite: no cell was measured, so {} is left as it was{}",
            plan.output,
            if outcome.not_replaced > 0 {
                format!(" (the {} failed cells below are not recorded in it)", outcome.not_replaced)
            } else {
                String::new()
            }
        );
    }
    let finished = cells.len() + outcome.skipped;
    let mut code = 0;
    if plan.output != "-" {
        emit(&slmbench_results::export::markdown::table(cells));
        let mine: Vec<_> = outcome
            .all_ratios
            .iter()
            .filter(|r| cells.iter().any(|c| c.is_named_by(r, &r.encoder_decoder_cell)))
            .cloned()
            .collect();
        emit(&slmbench_results::export::markdown::ratios(&mine, cells));
        emit(&slmbench_results::export::markdown::backends(cells));
        emit(&slmbench_results::export::markdown::warnings(cells));
        emit(&slmbench_results::export::markdown::failures(failed));
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
                ratios: outcome.all_ratios.clone(),
                warnings: vec![],
                sources: vec![PathBuf::from(&plan.output)],
                workload: None,
                history: a.history.as_deref().and_then(|db| {
                    super::history::section(db, &outcome.all_cells)
                        .map_err(|e| eprintln!("slmbench: warning: the report has no history section: {e:#}"))
                        .ok()
                }),
            };
            let signalled = || {
                slmbench_results::context::test_pause("REPORT");
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
