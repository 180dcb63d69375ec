//! Writing a report directory: `index.html`, `charts/*.svg`, `results.md`, `results.csv` and
//! `results.json` (every cell of the merged inputs, failed ones included).

use std::path::{Path, PathBuf};

use slmbench_results::export::{Exporter, csv::Csv, json::Json, markdown};

use crate::charts;
use crate::error::ReportError;
use crate::html;
use crate::read::ResultSet;

pub struct Written {
    pub index: PathBuf,
    pub charts: Vec<PathBuf>,
}

/// Each file whole or not at all (a temporary beside it, renamed).
fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    slmbench_results::export::write_atomic(path, bytes)
        .map_err(|e| ReportError::Write { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) })
}

/// Creates `dir` (and `dir/charts`) and checks that files can be written there, so that a run
/// can find out before measuring anything that its report would fail.
pub fn check_writable(dir: &Path) -> Result<(), ReportError> {
    check_report_folder(dir)?;
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts).map_err(|source| ReportError::Write { path: charts.clone(), source })?;
    let probe = dir.join(format!(".slmbench-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|source| ReportError::Write { path: dir.to_path_buf(), source })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

pub fn csv(set: &ResultSet) -> Vec<u8> {
    let e = Csv;
    let mut out = e.header();
    for c in &set.cells {
        out.extend(e.cell(c).unwrap_or_default());
    }
    out
}

/// Refuses to write a report into a folder that holds other things and no report: `report -o`
/// never mixes its files into someone's folder. A folder slmbench made for a run, or one that
/// holds a report already (replaced as a whole), is fine.
pub fn check_report_folder(dir: &Path) -> Result<(), ReportError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let ours =
        |n: &String| FILES.contains(&n.as_str()) || n == "charts" || n.contains(slmbench_results::export::TMP_MARK);
    if names.is_empty() || names.iter().any(|n| n == "index.html" || n == ".slmbench-run") || names.iter().all(ours) {
        return Ok(());
    }
    Err(ReportError::Write {
        path: dir.to_path_buf(),
        source: std::io::Error::other(format!(
            "the folder holds {} entries and no slmbench report ({}); give -o a new or a report folder",
            names.len(),
            names.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        )),
    })
}

/// The files of a report inside its folder (anything else there is left alone).
const FILES: [&str; 4] = ["results.md", "results.csv", "results.json", "index.html"];

/// Writes the report; `png` adds a PNG beside each SVG chart.
pub fn report(set: &ResultSet, dir: &Path, png: bool) -> Result<Written, ReportError> {
    report_with(set, dir, png, &|| false)
}

/// As [`report`]; `cancelled` is asked between files (a SIGINT during the report), and a true
/// answer stops with [`ReportError::Cancelled`].
///
/// A report replaces the one before it as a whole: every file is first written to a hidden
/// staging folder inside `dir`, then `charts/` is swapped in as one folder and each other file
/// renamed over its old one (`index.html` last). A report that fails or is stopped replaces
/// nothing and leaves no temporary behind, so `dir` never mixes the charts of two reports.
pub fn report_with(
    set: &ResultSet,
    dir: &Path,
    png: bool,
    cancelled: &dyn Fn() -> bool,
) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.to_path_buf(), source })?;
    slmbench_results::export::remove_stale_temps(dir);
    let stage = dir.join(format!(".report{}{}", slmbench_results::export::TMP_MARK, std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    let staged = stage_report(set, &stage, png, cancelled).and_then(|charts| swap_in(&stage, dir, charts));
    let _ = std::fs::remove_dir_all(&stage);
    staged
}

/// Writes every file of the report into `stage`.
fn stage_report(
    set: &ResultSet,
    stage: &Path,
    png: bool,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<String>, ReportError> {
    let chart_dir = stage.join("charts");
    std::fs::create_dir_all(&chart_dir).map_err(|source| ReportError::Write { path: chart_dir.clone(), source })?;
    let check = || if cancelled() { Err(ReportError::Cancelled) } else { Ok(()) };
    check()?;
    let charts = charts::all(&set.cells, &set.ratios, png.then_some(chart_dir.as_path()))?;
    let mut names = vec![];
    for c in &charts {
        check()?;
        write(&chart_dir.join(format!("{}.svg", c.name)), c.svg.as_bytes())?;
        names.push(format!("{}.svg", c.name));
    }
    let png_dir = png.then_some(chart_dir.as_path());
    let mut extras = html::Extras {
        decision: crate::analysis::forecast::decide(&set.cells, set.workload.as_ref()),
        ..html::Extras::default()
    };
    extras.fit_charts = charts::fit::charts(&extras.decision, &set.cells, png_dir)?;
    extras.fit_charts.extend(charts::fit::prediction_chart(&extras.decision, png_dir)?);
    for t in set.history.iter().flat_map(|h| &h.trends) {
        extras.trends.push(charts::trend::chart(t, png_dir)?);
    }
    for c in extras.fit_charts.iter().chain(&extras.trends) {
        check()?;
        write(&chart_dir.join(format!("{}.svg", c.name)), c.svg.as_bytes())?;
        names.push(format!("{}.svg", c.name));
    }
    check()?;
    let md = markdown::table(&set.cells)
        + &markdown::ratios(&set.ratios, &set.cells)
        + &markdown::backends(&set.cells)
        + &markdown::accuracy(&set.cells)
        + &markdown::warnings(&set.cells)
        + &markdown::failures(&set.failed);
    write(&stage.join("results.md"), md.as_bytes())?;
    check()?;
    write(&stage.join("results.csv"), &csv(set))?;
    check()?;
    write(&stage.join("results.json"), &Json.finish(&set.kept()))?;
    check()?;
    write(&stage.join("index.html"), html::render_with(set, &charts, &extras).as_bytes())?;
    check()?;
    Ok(names)
}

/// Moves a staged report into `dir`: the old `charts/` aside and the new one in (one rename each),
/// then each file over its old one, `index.html` last.
fn swap_in(stage: &Path, dir: &Path, charts: Vec<String>) -> Result<Written, ReportError> {
    let rename = |from: &Path, to: &Path| {
        std::fs::rename(from, to).map_err(|source| ReportError::Write { path: to.to_path_buf(), source })
    };
    let (chart_dir, old) = (dir.join("charts"), stage.join("charts-before"));
    if chart_dir.exists() {
        rename(&chart_dir, &old)?;
    }
    if let Err(e) = rename(&stage.join("charts"), &chart_dir) {
        let _ = std::fs::rename(&old, &chart_dir);
        return Err(e);
    }
    for f in FILES {
        rename(&stage.join(f), &dir.join(f))?;
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Written { index: dir.join("index.html"), charts: charts.iter().map(|n| chart_dir.join(n)).collect() })
}
