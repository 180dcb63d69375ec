//! The dot plot a line chart becomes when its sweep has one value on the x axis: one column per
//! model (and provider, thread count, batch), a dot at the median with its interval beside it, so
//! two models at one length never sit on one x with overlapping bars.

use plotters::prelude::*;
use slmbench_results::schema::CellResult;

use super::lines::{LineSpec, Point};
use super::{HEIGHT, WIDTH, padded, series};
use crate::error::ReportError;

/// Draws `pts` (all at one x) as one column per series; `at` names that x for the title.
pub fn draw(
    spec: &LineSpec,
    pts: &[(&CellResult, Point)],
    at: &str,
    png: Option<&std::path::Path>,
) -> Result<String, ReportError> {
    let keyed: Vec<&CellResult> = pts.iter().map(|(c, _)| *c).collect();
    let columns: Vec<(bool, String, RGBColor, Point)> = series(&keyed)
        .into_iter()
        .filter_map(|(key, label, color)| {
            let p = pts.iter().find(|(c, _)| super::SeriesKey::of(c) == key)?.1;
            Some((key.encoder_decoder, label, color, p))
        })
        .collect();
    let top = columns.iter().map(|c| c.3.2.map_or(c.3.1, |ci| ci.1)).fold(0.0, f64::max);
    let (_, y1) = padded(0.0, top, false);
    let n = columns.len().max(1) as f64;
    let caption = format!("{} ({at})", spec.caption);
    let svg = super::render!(spec.name, (WIDTH, HEIGHT), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(&caption, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n, 0f64..y1)
            .map_err(|e| super::ce(spec.name, e))?;
        c.configure_mesh()
            .x_labels(0)
            .y_desc(spec.y_desc)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| super::ce(spec.name, e))?;
        let labels: Vec<String> = columns.iter().map(|c| c.1.clone()).collect();
        super::category_labels(&root, |v| c.backend_coord(&(v, 0.0)), &labels, false, false)
            .map_err(|e| super::ce(spec.name, e))?;
        for (i, (enc_dec, _, color, (_, y, ci))) in columns.iter().enumerate() {
            let x = i as f64 + 0.5;
            // The interval a little to the right of its dot, so the dot is never hidden by it.
            if let Some((lo, hi)) = ci {
                let (bx, cap) = (x + 0.08, 0.025);
                let bar = [
                    vec![(bx, *lo), (bx, *hi)],
                    vec![(bx - cap, *lo), (bx + cap, *lo)],
                    vec![(bx - cap, *hi), (bx + cap, *hi)],
                ];
                c.draw_series(bar.into_iter().map(|p| PathElement::new(p, color.stroke_width(2))))
                    .map_err(|e| super::ce(spec.name, e))?;
            }
            if *enc_dec {
                c.draw_series(std::iter::once(Circle::new((x, *y), 6, color.filled())))
                    .map_err(|e| super::ce(spec.name, e))?;
            } else {
                c.draw_series(std::iter::once(TriangleMarker::new((x, *y), 7, color.filled())))
                    .map_err(|e| super::ce(spec.name, e))?;
            }
            let text = if ci.is_some() { sig(*y) } else { format!("{} (no CI)", sig(*y)) };
            c.draw_series(std::iter::once(Text::new(text, (x + 0.14, *y), ("sans-serif", 13).into_font())))
                .map_err(|e| super::ce(spec.name, e))?;
        }
    });
    Ok(svg)
}

/// A value with three significant figures or so (`212`, `21.3`, `0.213`).
fn sig(y: f64) -> String {
    match y.abs() {
        a if a >= 100.0 => format!("{y:.0}"),
        a if a >= 10.0 => format!("{y:.1}"),
        a if a >= 1.0 => format!("{y:.2}"),
        _ => format!("{y:.3}"),
    }
}
