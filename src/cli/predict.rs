//! `slmbench predict`: fitted cost curves, crossovers and a workload's predicted latencies from
//! results files (and the same workload flags for `report`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use slmbench_reports::analysis::predict::{Lengths, Workload};

use super::print_warnings;

/// A workload: prompt and output length distributions, or a file of real requests.
#[derive(Args, Debug, Default)]
pub(super) struct WorkloadArgs {
    /// Prompt lengths: `300`, `100,300,500`, `180-420` (uniform) or `300±120` (normal; also
    /// `300+-120`). Needs --output.
    #[arg(long, requires = "output", conflicts_with = "requests")]
    prompt: Option<String>,
    /// Output lengths, in the same forms. Needs --prompt.
    #[arg(long, requires = "prompt", conflicts_with = "requests")]
    output: Option<String>,
    /// Real requests: one `prompt output` pair of lengths per line (`#` starts a comment).
    #[arg(long)]
    requests: Option<PathBuf>,
}

impl WorkloadArgs {
    /// The workload, if one was given; errors name the flag.
    pub(super) fn workload(&self) -> Result<Option<Workload>> {
        if let Some(path) = &self.requests {
            let text = std::fs::read_to_string(path).with_context(|| format!("--requests {}", path.display()))?;
            let w = Workload::from_text(&text, format!("the requests in {}", path.display()))
                .map_err(|e| anyhow::anyhow!("--requests {}: {e}", path.display()))?;
            return Ok(Some(w));
        }
        let (Some(p), Some(o)) = (&self.prompt, &self.output) else { return Ok(None) };
        let prompt = Lengths::parse(p).map_err(|e| anyhow::anyhow!("--prompt {e}"))?;
        let output = Lengths::parse(o).map_err(|e| anyhow::anyhow!("--output {e}"))?;
        Ok(Some(Workload::from_distributions(&prompt, &output, format!("prompts {p}, outputs {o}"))))
    }
}

#[derive(Args, Debug)]
pub(super) struct PredictArgs {
    /// Results files of a sweep over prompt (and output) lengths; several are merged.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Also write everything as JSON (a file: the tables go to standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Replace an existing --json file.
    #[arg(long)]
    overwrite: bool,
    /// Results measured separately (other lengths, or the same ones later): each of their cells
    /// against what the fits predict for it.
    #[arg(long)]
    against: Vec<PathBuf>,
}

pub(super) fn predict(a: PredictArgs) -> Result<()> {
    let json_out = super::files::json_output(a.json.as_deref(), a.overwrite)?;
    let set = slmbench_reports::read::read_measured(&a.results)?;
    print_warnings(&set);
    let workload = a.workload.workload()?;
    let d = slmbench_reports::analysis::forecast::decide(&set.cells, workload.as_ref());
    if d.fits.is_empty() {
        bail!("no cell of {} has samples to fit", a.results[0].display());
    }
    if let Some(w) = &workload {
        slmbench_reports::analysis::predict::check_positions(&d.fits, w)
            .map_err(|e| anyhow::anyhow!("predict: {e}"))?;
    }
    for f in d.fits.iter().filter(|f| f.prompt_lengths < 2) {
        eprintln!(
            "slmbench: warning: {} was measured at one prompt length ({}); its TTFT is taken as constant: sweep -p over several lengths to fit a curve",
            f.label.clone(),
            f.prompt_range.0
        );
    }
    print!("{}", slmbench_reports::analysis::forecast::markdown(&d));
    if workload.is_none() {
        eprintln!("slmbench: give a workload (--prompt and --output, or --requests FILE) for predicted latencies");
    }
    let checks = if a.against.is_empty() {
        vec![]
    } else {
        let other = slmbench_reports::read::read_measured(&a.against)?;
        print_warnings(&other);
        // Across machines is allowed (how devices are compared) and said first.
        let ours = slmbench_results::identity::machines(set.cells.iter().map(|c| &c.context));
        let theirs = slmbench_results::identity::machines(other.cells.iter().map(|c| &c.context));
        if ours != theirs {
            let names = |m: &[slmbench_results::identity::Machine]| {
                m.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("; ")
            };
            println!(
                "\n**Across machines**: the fits are of {}, the cells --against were measured on {}; the errors below \
                 are differences between devices as much as errors of the fits.",
                names(&ours),
                names(&theirs)
            );
        }
        let rows = slmbench_reports::analysis::forecast::check(&d.fits, &other.cells);
        if rows.is_empty() {
            bail!("no cell of --against has a fitted model (same model, backend, provider, threads and batch)");
        }
        print!("\n{}", slmbench_reports::analysis::forecast::check_markdown(&rows));
        rows
    };
    if let Some(out) = json_out {
        let json = serde_json::json!({ "decision": d, "checks": checks });
        out.write((serde_json::to_string_pretty(&json)? + "\n").as_bytes())
            .with_context(|| format!("cannot write {}", out.name()))?;
    }
    Ok(())
}
