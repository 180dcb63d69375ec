//! Inter-token latency distribution per cell (box plots: quartiles, whiskers at 1.5 × IQR),
//! at the longest input length.

use plotters::data::Quartiles;
use plotters::prelude::*;
use slmbench_results::schema::CellResult;

use super::{Chart, HEIGHT, SeriesKey, WIDTH, padded, series};
use crate::error::ReportError;

pub fn chart(cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Chart, ReportError> {
    let name = "itl_distribution";
    let max_p = cells.iter().map(|c| c.sweep.input_tokens).max().unwrap_or(0);
    let mut used: Vec<&CellResult> = cells
        .iter()
        .filter(|c| c.sweep.input_tokens == max_p && c.samples.itl_ns.iter().any(|v| !v.is_empty()))
        .collect();
    used.sort_by_key(|c| (SeriesKey::of(c), c.sweep.output_tokens));
    let colors = series(&used);
    let boxes: Vec<(String, Quartiles, RGBColor)> = used
        .iter()
        .map(|c| {
            let ms: Vec<f64> = c.samples.itl_ns.iter().flatten().map(|&x| x as f64 / 1e6).collect();
            let key = SeriesKey::of(c);
            let (label, color) =
                colors.iter().find(|(k, _, _)| *k == key).map(|(_, l, c)| (l.clone(), *c)).unwrap_or_default();
            (format!("{label} n{}", c.sweep.output_tokens), Quartiles::new(&ms), color)
        })
        .collect();
    let top = boxes.iter().map(|(_, q, _)| q.values()[4] as f64).fold(0.0, f64::max);
    let (_, y1) = padded(0.0, top, false);
    let n = boxes.len().max(1) as f64;
    let svg = super::render!(name, (WIDTH, HEIGHT + 120), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(format!("Inter-token latency distribution ({max_p} input tokens)"), ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(170)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n, 0f32..y1 as f32)
            .map_err(|e| super::ce(name, e))?;
        let labels: Vec<String> = boxes.iter().map(|(l, _, _)| l.clone()).collect();
        c.configure_mesh()
            .x_desc("cell")
            .y_desc("ITL (ms)")
            .x_labels(0)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        super::category_labels(&root, |v| c.backend_coord(&(v, 0f32)), &labels, false, true)
            .map_err(|e| super::ce(name, e))?;
        c.draw_series(boxes.iter().enumerate().map(|(i, (_, q, color))| {
            Boxplot::new_vertical(i as f64 + 0.5, q).width(18).whisker_width(0.6).style(color.stroke_width(2))
        }))
        .map_err(|e| super::ce(name, e))?;
    });
    Ok(Chart {
        name: name.into(),
        title: "ITL distribution".into(),
        caption: "Each box spans the middle half of a cell's inter-token latencies, the line is the median, whiskers reach 1.5 × IQR; a tall box or long whisker is a noisy cell.".into(),
        svg,
    })
}
