//! Peak resident memory of the process, measured: per model when models ran one at a time, per
//! pair when an interleaved pair held both at once (the highest over the cells).

use plotters::prelude::*;
use slmbench_results::schema::CellResult;

use super::{Chart, HEIGHT, WIDTH, padded, series};
use crate::error::ReportError;

pub fn chart(cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Chart, ReportError> {
    let name = "peak_memory";
    let refs: Vec<&CellResult> = cells.iter().collect();
    let colors = series(&refs);
    // What was resident when the mark was read: one model, or both of an interleaved pair (they
    // are loaded together, so the process's peak is theirs together and is drawn once, grey).
    let holder = |c: &CellResult| match (&c.repetitions.interleaved_with, &c.model.pair) {
        (Some(_), Some(tag)) => (format!("{tag}: both models loaded"), true),
        _ => (c.model.name.clone(), false),
    };
    let mut holders: Vec<(String, bool)> = cells.iter().map(holder).collect();
    holders.sort();
    holders.dedup();
    let mut bars: Vec<(String, f64, RGBColor)> = Vec::new();
    for (h, together) in &holders {
        let mine = || cells.iter().filter(|c| &holder(c).0 == h);
        let peak = mine().filter_map(|c| c.metrics.peak_rss_bytes).max().unwrap_or(0);
        let model = mine().next().map(|c| c.model.name.clone()).unwrap_or_default();
        let color = match together {
            true => RGBColor(120, 124, 130),
            false => colors.iter().find(|(k, _, _)| k.model == model).map(|(_, _, c)| *c).unwrap_or(BLACK),
        };
        bars.push((h.clone(), peak as f64 / 1e6, color));
    }
    let interleaved = holders.iter().any(|h| h.1);
    let (_, y1) = padded(0.0, bars.iter().map(|b| b.1).fold(0.0, f64::max), false);
    let n = bars.len().max(1) as f64;
    let svg = super::render!(name, (WIDTH, HEIGHT), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption("Peak resident memory of the process", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n, 0f64..y1)
            .map_err(|e| super::ce(name, e))?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        c.configure_mesh()
            .x_desc("what was loaded")
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
        caption: if interleaved {
            "Highest resident set size of the process (Linux VmHWM, reset before each load), measured. A pair measured interleaved has both models loaded at once, so its bar is the two together (grey), not either model's own.".into()
        } else {
            "Highest resident set size of the process while each model's sessions were loaded and run (Linux VmHWM, reset per model), measured.".into()
        },
        svg,
    })
}
