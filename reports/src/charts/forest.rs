//! A forest plot: one row per device and configuration, its encoder-decoder / decoder-only ratio
//! with the paired 95% interval, parity and the paper's figure as vertical lines.

use plotters::prelude::*;
use slmbench_results::paired::RatioEstimate;

use super::{Chart, WIDTH, family_color};
use crate::error::ReportError;

/// One row of the plot: its label and ratio.
pub struct ForestRow {
    pub label: String,
    pub ratio: RatioEstimate,
    /// Blocks behind the ratio (what a ratio without an interval lacks).
    pub blocks: usize,
}

/// The plot `name`, titled `title`, with the paper's `reference` (and its `reference_text`).
pub fn chart(
    name: &str,
    title: &str,
    caption: String,
    rows: &[ForestRow],
    (reference, reference_text): (f64, &str),
) -> Result<Chart, ReportError> {
    let n = rows.len().max(1);
    let height = 110 + 34 * n as u32;
    let lo = rows.iter().map(|r| r.ratio.low.unwrap_or(r.ratio.value)).fold(reference.min(1.0), f64::min);
    let hi = rows.iter().map(|r| r.ratio.high.unwrap_or(r.ratio.value)).fold(reference.max(1.0), f64::max);
    let (x0, x1) = (lo / 1.25, hi * 1.25);
    let label_px = 7 * rows.iter().map(|r| r.label.chars().count()).max().unwrap_or(10) as u32 + 16;
    let svg = super::render!(name, (WIDTH + label_px.saturating_sub(200), height), None::<&std::path::Path>, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(label_px)
            .build_cartesian_2d((x0..x1).log_scale(), 0f64..n as f64)
            .map_err(|e| super::ce(name, e))?;
        c.configure_mesh()
            .x_desc("encoder-decoder / decoder-only (log scale)")
            .x_label_formatter(&|x| format!("{x:.2}×"))
            .y_labels(0)
            .disable_y_mesh()
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
        super::category_labels(&root, |v| c.backend_coord(&(x0, v)), &labels, true, false)
            .map_err(|e| super::ce(name, e))?;
        let grey = RGBColor(110, 110, 110);
        for (x, text, dashed) in [(1.0, "parity 1×", false), (reference, reference_text, true)] {
            let ends = [(x, 0.0), (x, n as f64)];
            if dashed {
                c.draw_series(DashedLineSeries::new(ends, 10, 6, BLACK.stroke_width(2)))
            } else {
                c.draw_series(DashedLineSeries::new(ends, 2, 3, grey.stroke_width(1)))
            }
            .map_err(|e| super::ce(name, e))?;
            c.draw_series(std::iter::once(Text::new(text.to_string(), (x, n as f64), ("sans-serif", 13).into_font())))
                .map_err(|e| super::ce(name, e))?;
        }
        let color = family_color(true, 0);
        for (i, r) in rows.iter().enumerate() {
            let y = i as f64 + 0.5;
            if let Some((l, h)) = r.ratio.ci() {
                c.draw_series(std::iter::once(PathElement::new(vec![(l, y), (h, y)], color.stroke_width(2))))
                    .map_err(|e| super::ce(name, e))?;
            }
            c.draw_series(std::iter::once(Circle::new((r.ratio.value, y), 5, color.filled())))
                .map_err(|e| super::ce(name, e))?;
            c.draw_series(std::iter::once(Text::new(
                slmbench_results::export::markdown::ratio_text(&r.ratio, r.blocks),
                (r.ratio.high.unwrap_or(r.ratio.value) * 1.02, y + 0.25),
                ("sans-serif", 12).into_font(),
            )))
            .map_err(|e| super::ce(name, e))?;
        }
    });
    Ok(Chart { name: name.into(), title: title.into(), caption, svg })
}
