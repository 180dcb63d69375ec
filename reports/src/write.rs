//! Writing a report directory: `index.html`, `charts/*.svg`, `results.md`, `results.csv` and
//! `results.json` (every cell of the merged inputs, failed ones included).

use std::path::{Path, PathBuf};

use slmbench_harness::export::{Exporter, csv::Csv, json::Json, markdown};

use crate::charts;
use crate::error::ReportError;
use crate::html;
use crate::read::ResultSet;

pub struct Written {
    pub index: PathBuf,
    pub charts: Vec<PathBuf>,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Write { path: path.to_path_buf(), source })
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
    let chart_dir = dir.join("charts");
    std::fs::create_dir_all(&chart_dir).map_err(|source| ReportError::Write { path: chart_dir.clone(), source })?;
    let charts = charts::all(&set.cells, png.then_some(chart_dir.as_path()))?;
    let mut paths = vec![];
    for c in &charts {
        let p = chart_dir.join(format!("{}.svg", c.name));
        write(&p, c.svg.as_bytes())?;
        paths.push(p);
    }
    write(&dir.join("results.md"), (markdown::table(&set.cells) + &markdown::failures(&set.failed)).as_bytes())?;
    write(&dir.join("results.csv"), &csv(set))?;
    write(&dir.join("results.json"), &Json.finish(&set.cells, &set.failed))?;
    let index = dir.join("index.html");
    write(&index, html::render(set, &charts).as_bytes())?;
    Ok(Written { index, charts: paths })
}
