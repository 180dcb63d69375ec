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

/// Each file whole or not at all (a temporary beside it, renamed), so a report cut short by a
/// kill leaves every file complete: the new one or the one before.
fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    slmbench_results::export::write_atomic(path, bytes)
        .map_err(|e| ReportError::Write { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) })
}

/// Creates `dir` (and `dir/charts`) and checks that files can be written there, so that a run
/// can find out before measuring anything that its report would fail.
pub fn check_writable(dir: &Path) -> Result<(), ReportError> {
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

/// Writes the report; `png` adds a PNG beside each SVG chart.
pub fn report(set: &ResultSet, dir: &Path, png: bool) -> Result<Written, ReportError> {
    report_with(set, dir, png, &|| false)
}

/// As [`report`]; `cancelled` is asked between files (a SIGINT during the report), and a true
/// answer stops with [`ReportError::Cancelled`], every file written so far complete.
pub fn report_with(
    set: &ResultSet,
    dir: &Path,
    png: bool,
    cancelled: &dyn Fn() -> bool,
) -> Result<Written, ReportError> {
    let chart_dir = dir.join("charts");
    std::fs::create_dir_all(&chart_dir).map_err(|source| ReportError::Write { path: chart_dir.clone(), source })?;
    slmbench_results::export::remove_stale_temps(dir);
    slmbench_results::export::remove_stale_temps(&chart_dir);
    let check = || if cancelled() { Err(ReportError::Cancelled) } else { Ok(()) };
    check()?;
    let charts = charts::all(&set.cells, &set.ratios, png.then_some(chart_dir.as_path()))?;
    let mut paths = vec![];
    for c in &charts {
        check()?;
        let p = chart_dir.join(format!("{}.svg", c.name));
        write(&p, c.svg.as_bytes())?;
        paths.push(p);
    }
    let png_dir = png.then_some(chart_dir.as_path());
    let mut extras = html::Extras {
        decision: crate::forecast::decide(&set.cells, set.workload.as_ref()),
        ..html::Extras::default()
    };
    extras.fit_charts = charts::fit::charts(&extras.decision, &set.cells, png_dir)?;
    extras.fit_charts.extend(charts::fit::prediction_chart(&extras.decision, png_dir)?);
    for t in set.history.iter().flat_map(|h| &h.trends) {
        extras.trends.push(charts::trend::chart(t, png_dir)?);
    }
    for c in extras.fit_charts.iter().chain(&extras.trends) {
        check()?;
        let p = chart_dir.join(format!("{}.svg", c.name));
        write(&p, c.svg.as_bytes())?;
        paths.push(p);
    }
    check()?;
    let md = markdown::table(&set.cells)
        + &markdown::ratios(&set.ratios, &set.cells)
        + &markdown::backends(&set.cells)
        + &markdown::accuracy(&set.cells)
        + &markdown::failures(&set.failed);
    write(&dir.join("results.md"), md.as_bytes())?;
    check()?;
    write(&dir.join("results.csv"), &csv(set))?;
    check()?;
    write(&dir.join("results.json"), &Json.finish(&set.kept()))?;
    check()?;
    let index = dir.join("index.html");
    write(&index, html::render_with(set, &charts, &extras).as_bytes())?;
    Ok(Written { index, charts: paths })
}
