//! The line chart behind TTFT and throughput: one line per model (encoder-decoder solid with
//! circles in blue or green, decoder-only dashed with triangles in red or orange), error bars from
//! the recorded 95% confidence intervals. With one value on the x axis it is a dot plot instead
//! ([`super::dots`]).

use plotters::prelude::*;
use slmbench_results::schema::CellResult;

use super::{HEIGHT, SeriesKey, WIDTH, padded, series};
use crate::error::ReportError;

/// x, y and the interval of y, if any (then a bar is drawn).
pub type Point = (f64, f64, Option<(f64, f64)>);
/// A cell's y value and its interval.
pub type YValue = Option<(f64, Option<(f64, f64)>)>;

pub struct LineSpec<'a> {
    pub name: &'a str,
    pub caption: &'a str,
    pub x_desc: &'a str,
    /// The x quantity in words, for a dot plot's title ("output tokens").
    pub x_unit: &'a str,
    pub y_desc: &'a str,
    pub log_x: bool,
    pub x: fn(&CellResult) -> f64,
    pub y: fn(&CellResult) -> YValue,
}

pub fn draw(spec: &LineSpec, cells: &[&CellResult], png: Option<&std::path::Path>) -> Result<String, ReportError> {
    let pts: Vec<(&CellResult, Point)> = cells
        .iter()
        .filter_map(|c| (spec.y)(c).map(|(y, ci)| (*c, ((spec.x)(c), y, ci))))
        .filter(|(_, (_, y, _))| y.is_finite())
        .collect();
    let xs: Vec<f64> = pts.iter().map(|(_, p)| p.0).collect();
    let mut keys: Vec<f64> = xs.clone();
    keys.sort_by(f64::total_cmp);
    keys.dedup();
    if let [only] = keys[..] {
        return super::dots::draw(spec, &pts, &format!("at {only:.0} {}", spec.x_unit), png);
    }
    let y_top = pts.iter().map(|(_, p)| p.2.map(|ci| ci.1).unwrap_or(p.1)).fold(0.0, f64::max);
    let (x0, x1) = padded(
        xs.iter().cloned().fold(f64::MAX, f64::min).min(1e12),
        xs.iter().cloned().fold(0.0, f64::max),
        spec.log_x,
    );
    let (_, y1) = padded(0.0, y_top, false);
    // Ticks exactly at the lengths that were run (`keys`).
    let svg = super::render!(spec.name, (WIDTH, HEIGHT), png, |root| {
        let mut b = ChartBuilder::on(&root);
        b.caption(spec.caption, ("sans-serif", 22)).margin(16).x_label_area_size(48).y_label_area_size(70);
        // Log and linear x axes are different types in plotters: one closure draws either.
        macro_rules! body {
            ($c:expr) => {{
                let mut c = $c;
                c.configure_mesh()
                    .x_desc(spec.x_desc)
                    .y_desc(spec.y_desc)
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .label_style(("sans-serif", 14))
                    .draw()
                    .map_err(|e| super::ce(spec.name, e))?;
                let keyed: Vec<&CellResult> = pts.iter().map(|(c, _)| *c).collect();
                for (key, label, color) in series(&keyed) {
                    let mut line: Vec<Point> =
                        pts.iter().filter(|(c, _)| SeriesKey::of(c) == key).map(|(_, p)| *p).collect();
                    line.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let xy: Vec<(f64, f64)> = line.iter().map(|p| (p.0, p.1)).collect();
                    if key.encoder_decoder {
                        c.draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))
                            .map_err(|e| super::ce(spec.name, e))?
                            .label(label)
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
                        c.draw_series(xy.iter().map(|&p| Circle::new(p, 4, color.filled())))
                            .map_err(|e| super::ce(spec.name, e))?;
                    } else {
                        c.draw_series(DashedLineSeries::new(xy.clone(), 8, 5, color.stroke_width(2)))
                            .map_err(|e| super::ce(spec.name, e))?
                            .label(label)
                            .legend(move |(x, y)| {
                                EmptyElement::at((x, y))
                                    + PathElement::new(vec![(0, 0), (9, 0)], color.stroke_width(2))
                                    + PathElement::new(vec![(15, 0), (24, 0)], color.stroke_width(2))
                            });
                        c.draw_series(xy.iter().map(|&p| TriangleMarker::new(p, 5, color.filled())))
                            .map_err(|e| super::ce(spec.name, e))?;
                    }
                    c.draw_series(line.iter().filter_map(|p| {
                        p.2.map(|(lo, hi)| ErrorBar::new_vertical(p.0, lo, p.1, hi, color.stroke_width(1), 8))
                    }))
                    .map_err(|e| super::ce(spec.name, e))?;
                }
                super::legend(&mut c, SeriesLabelPosition::UpperLeft, spec.name)?;
            }};
        }
        if spec.log_x {
            body!(
                b.build_cartesian_2d((x0..x1).log_scale().with_key_points(keys.clone()), 0f64..y1)
                    .map_err(|e| super::ce(spec.name, e))?
            );
        } else {
            body!(b.build_cartesian_2d(x0..x1, 0f64..y1).map_err(|e| super::ce(spec.name, e))?);
        }
    });
    Ok(svg)
}
