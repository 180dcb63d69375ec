//! A cell's metric across runs (`report --history`): the median per run with its 95% interval,
//! runs in time order labelled by commit, and a dashed line before each run where it stepped.

use plotters::prelude::*;

use super::{Chart, PALETTE, padded};
use crate::analysis::trend::CellTrend;
use crate::error::ReportError;

type Interval = (f64, f64);

const W: u32 = 900;
const H: u32 = 360;

/// The chart's file name: metric and cell id (unique per report).
pub fn name(t: &CellTrend) -> String {
    format!("trend_{}_{}", t.metric.name(), t.cell_id)
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(9)]
}

pub fn chart(t: &CellTrend, png: Option<&std::path::Path>) -> Result<Chart, ReportError> {
    let name = name(t);
    let name = name.as_str();
    let scale = t.metric.scale();
    // (run, median, interval), in the unit shown.
    let pts: Vec<(f64, f64, Option<Interval>)> = t
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| (i as f64, p.median * scale, p.ci95.map(|(l, h)| (l * scale, h * scale))))
        .collect();
    let lo = pts.iter().map(|p| p.2.map_or(p.1, |c| c.0)).fold(f64::INFINITY, f64::min);
    let hi = pts.iter().map(|p| p.2.map_or(p.1, |c| c.1)).fold(0.0, f64::max);
    let (y0, y1) = padded(if lo.is_finite() { lo } else { 0.0 }, hi, false);
    let n = pts.len().max(1) as f64;
    let labels: Vec<String> = t.points.iter().map(|p| short(&p.commit).to_string()).collect();
    let color = PALETTE[0];
    let svg = super::render!(name, (W, H), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(format!("{} — {}", t.metric.label(), t.name), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(84)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..n - 0.5, y0..y1)
            .map_err(|e| super::ce(name, e))?;
        c.configure_mesh()
            .x_desc("run (commit), oldest first")
            .y_desc(format!("{} ({})", t.metric.label(), t.metric.unit().name()))
            .x_labels(0)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        // Every label when they fit, else every k-th.
        let every = (labels.len() / 24).max(1);
        let shown: Vec<String> =
            labels.iter().enumerate().map(|(i, l)| if i % every == 0 { l.clone() } else { String::new() }).collect();
        super::category_labels(&root, |v| c.backend_coord(&(v - 0.5, y0)), &shown, false, true)
            .map_err(|e| super::ce(name, e))?;
        c.draw_series(pts.iter().filter_map(|&(x, _, ci)| {
            ci.map(|(l, h)| ErrorBar::new_vertical(x, l, (l + h) / 2.0, h, color.mix(0.6).stroke_width(1), 6))
        }))
        .map_err(|e| super::ce(name, e))?;
        c.draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), color.stroke_width(2)))
            .map_err(|e| super::ce(name, e))?;
        c.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 3, color.filled())))
            .map_err(|e| super::ce(name, e))?;
        let red = RGBColor(214, 39, 40);
        for ch in &t.changes {
            let x = ch.index as f64 - 0.5;
            c.draw_series(DashedLineSeries::new([(x, y0), (x, y1)], 6, 4, red.stroke_width(2)))
                .map_err(|e| super::ce(name, e))?;
            let text = format!("{} {:+.1}%", short(&t.points[ch.index].commit), ch.shift * 100.0);
            c.draw_series(std::iter::once(Text::new(
                text,
                (x + 0.1, y1 - (y1 - y0) * 0.04),
                ("sans-serif", 13).into_font().color(&red),
            )))
            .map_err(|e| super::ce(name, e))?;
        }
    });
    let steps = if t.changes.is_empty() {
        "no change point".to_string()
    } else {
        t.changes
            .iter()
            .map(|c| format!("a step of {:+.1}% at {}", c.shift * 100.0, t.points[c.index].commit))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(Chart {
        name: name.into(),
        title: format!("{} across {} runs: {}", t.metric.label(), t.points.len(), t.name),
        caption: format!(
            "Median per run with its 95% interval, oldest run first, labelled by commit; {steps} (dashed line: the first run after it)."
        ),
        svg,
    })
}
