//! Peak resident memory per model (the highest over its cells).

use plotters::prelude::*;
use slmbench_results::schema::CellResult;

use super::{Chart, HEIGHT, WIDTH, padded, series};
use crate::error::ReportError;

pub fn chart(cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Chart, ReportError> {
    let name = "peak_memory";
    let refs: Vec<&CellResult> = cells.iter().collect();
    let mut bars: Vec<(String, f64, RGBColor)> = Vec::new();
    let mut models: Vec<&str> = cells.iter().map(|c| c.model.name.as_str()).collect();
    models.sort();
    models.dedup();
    let colors = series(&refs);
    for m in models {
        let peak =
            cells.iter().filter(|c| c.model.name == m).filter_map(|c| c.metrics.peak_rss_bytes).max().unwrap_or(0);
        let color = colors.iter().find(|(k, _, _)| k.model == m).map(|(_, _, c)| *c).unwrap_or(BLACK);
        bars.push((m.to_string(), peak as f64 / 1e6, color));
    }
    let (_, y1) = padded(0.0, bars.iter().map(|b| b.1).fold(0.0, f64::max), false);
    let n = bars.len().max(1) as f64;
    let svg = super::render!(name, (WIDTH, HEIGHT), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption("Peak resident memory per model", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n, 0f64..y1)
            .map_err(|e| super::ce(name, e))?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        c.configure_mesh()
            .x_desc("model")
            .y_desc("peak RSS (MB)")
            .x_labels(0)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        super::category_labels(&root, |v| c.backend_coord(&(v, 0.0)), &labels, false, false)
            .map_err(|e| super::ce(name, e))?;
        c.draw_series(bars.iter().enumerate().map(|(i, (_, mb, color))| {
            let i = i as f64;
            Rectangle::new([(i + 0.2, 0.0), (i + 0.8, *mb)], color.mix(0.75).filled())
        }))
        .map_err(|e| super::ce(name, e))?;
    });
    Ok(Chart {
        name: name.into(),
        title: "Peak memory".into(),
        caption: "Highest resident set size of the process while each model's sessions were loaded and run (Linux VmHWM, reset per model).".into(),
        svg,
    })
}
