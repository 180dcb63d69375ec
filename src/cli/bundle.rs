//! `bundle` (a scenario run's results as one checkable file), `check` (a bundle held to its
//! scenario's rules: a verdict with every reason, exit 0 pass / 1 fail / 2 unusable, as the gate)
//! and `atlas` (checked bundles of many devices side by side).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use slmbench_reports::bundle::{self, Bundle, Verdict};

use super::emit;

#[derive(Args, Debug)]
pub(super) struct BundleArgs {
    /// The results file (.jsonl) of one `run --scenario`.
    results: PathBuf,
    /// The bundle to write (never replaced: pick a new name).
    #[arg(short = 'o', long)]
    out: PathBuf,
    /// The scenario file the run followed, when it is not built in.
    #[arg(long)]
    scenario: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(super) struct CheckArgs {
    /// Bundles to check.
    #[arg(required = true)]
    bundles: Vec<PathBuf>,
    /// Hold the bundles to this scenario file instead of the built-in one of their name.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Also write the verdicts as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(super) struct AtlasArgs {
    /// Bundles to set side by side (each is checked; one that fails is shown apart).
    #[arg(required = true)]
    bundles: Vec<PathBuf>,
    /// Output folder: index.html (self-contained, no script), atlas.md, atlas.csv.
    #[arg(short = 'o', long)]
    out: PathBuf,
    /// Hold the bundles to this scenario file instead of the built-in one of their name.
    #[arg(long)]
    scenario: Option<PathBuf>,
}

fn read_text(path: &PathBuf, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

pub(super) fn bundle(a: BundleArgs) -> Result<()> {
    if a.out.exists() {
        bail!("-o {}: the file exists; a bundle is never replaced: choose another name", a.out.display());
    }
    let text = read_text(&a.results, "the results file")?;
    // Each record travels as its exact line; a torn last line is a run that was cut short.
    let lines: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    if !text.is_empty() && !text.ends_with('\n') {
        bail!(
            "{}: its last record is torn (a run cut short): finish the run with `slmbench run --scenario … --resume {}`, then bundle it",
            a.results.display(),
            a.results.display()
        );
    }
    let scenario = a.scenario.as_ref().map(|p| read_text(p, "the scenario file")).transpose()?;
    let b = bundle::make(&lines, scenario.as_deref()).map_err(|e| anyhow::anyhow!("{}: {e}", a.results.display()))?;
    let json = serde_json::to_vec_pretty(&b)?;
    slmbench_results::export::write_atomic(&a.out, &json)?;
    eprintln!(
        "slmbench: bundled {} records of {} ({}) on {} into {}",
        b.records.len(),
        b.scenario.name,
        &b.scenario.sha256[..12],
        b.device,
        a.out.display()
    );
    Ok(())
}

fn verdict_text(path: &std::path::Path, v: &Verdict) -> String {
    let mut s = format!(
        "{} {} on {} ({} cells): {}\n",
        if v.passed() { "PASS" } else { "FAIL" },
        v.scenario,
        v.device,
        v.cells,
        path.display()
    );
    for f in &v.failures {
        s.push_str(&format!("  - {f}\n"));
    }
    for f in &v.shortfalls {
        s.push_str(&format!("  shortfall: {f}\n"));
    }
    s
}

/// Exit 0 when every bundle passes, 1 when one fails, 2 when one cannot be read as a bundle.
pub(super) fn check(a: CheckArgs) -> Result<u8> {
    let reference = a.scenario.as_ref().map(|p| read_text(p, "the scenario file")).transpose()?;
    let mut code = 0;
    let mut all = Vec::new();
    for path in &a.bundles {
        let parsed = std::fs::read(path).map_err(|e| e.to_string()).and_then(|b| {
            serde_json::from_slice::<Bundle>(&b).map_err(|e| format!("not a whole bundle (torn or edited): {e}"))
        });
        match parsed {
            Err(why) => {
                emit(&format!("UNUSABLE {}: {why}\n", path.display()));
                code = 2;
            }
            Ok(b) => {
                let v = bundle::check(&b, reference.as_deref());
                emit(&verdict_text(path, &v));
                if !v.passed() && code == 0 {
                    code = 1;
                }
                all.push(
                    serde_json::json!({ "bundle": path.display().to_string(), "passed": v.passed(), "verdict": v }),
                );
            }
        }
    }
    if let Some(out) = &a.json {
        slmbench_results::export::write_atomic(out, &serde_json::to_vec_pretty(&all)?)?;
    }
    Ok(code)
}

/// Writes the atlas of `a.bundles`; a file that is not a bundle at all is an error naming it.
pub(super) fn atlas(a: AtlasArgs) -> Result<()> {
    use slmbench_reports::atlas;
    let reference = a.scenario.as_ref().map(|p| read_text(p, "the scenario file")).transpose()?;
    let mut entries = Vec::new();
    for path in &a.bundles {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read the bundle {}", path.display()))?;
        let bundle: Bundle = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a whole bundle (torn or edited)", path.display()))?;
        let verdict = bundle::check(&bundle, reference.as_deref());
        entries.push(atlas::Entry { path: path.clone(), bundle, verdict });
    }
    let rows = atlas::rows(&entries);
    slmbench_reports::write::check_report_folder(&a.out)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let page = atlas::html(&entries, &rows)?;
    let write = |name: &str, bytes: &[u8]| slmbench_results::export::write_atomic(&a.out.join(name), bytes);
    write("atlas.csv", &atlas::csv(&rows))?;
    write("atlas.md", atlas::markdown(&entries, &rows).as_bytes())?;
    write("index.html", page.as_bytes())?;
    let failed = entries.iter().filter(|e| !e.verdict.passed()).count();
    eprintln!(
        "slmbench: atlas of {} bundles ({} rows{}) in {}",
        entries.len(),
        rows.len(),
        if failed > 0 { format!("; {failed} failed check and are shown apart") } else { String::new() },
        a.out.display()
    );
    Ok(())
}
