//! The fitted cost curves over the measured points (TTFT against prompt length, mean ITL against
//! prompt length), each pair's TTFT crossover as a vertical line, and, for a workload, the
//! predicted mean TTFT and end-to-end latency per model with their intervals.

use plotters::prelude::*;
use slmbench_results::schema::CellResult;

use super::{Chart, HEIGHT, PALETTE, WIDTH, padded};
use crate::analysis::fit::ModelFit;
use crate::analysis::forecast::Decision;
use crate::analysis::predict::Crossing;
use crate::error::ReportError;

/// Colour per pair (or lone model), encoder-decoder solid and decoder-only dashed, as elsewhere.
fn color_of(fits: &[ModelFit], f: &ModelFit) -> RGBColor {
    let group = |f: &ModelFit| {
        format!(
            "{:?}{}{}{}{}{}",
            f.key.pair.as_ref().unwrap_or(&f.key.model),
            f.key.machine,
            f.key.backend,
            f.key.ep,
            f.key.threads,
            f.key.batch
        )
    };
    let mut groups: Vec<String> = fits.iter().map(group).collect();
    groups.dedup();
    PALETTE[groups.iter().position(|g| *g == group(f)).unwrap_or(0) % PALETTE.len()]
}

/// What a curve chart plots: measured (x, y) per model, and the fitted y at x.
struct Curves<'a> {
    name: &'a str,
    title: &'a str,
    y_desc: &'a str,
    measured: Vec<Vec<(f64, f64)>>,
    fitted: Vec<Box<dyn Fn(f64) -> f64 + 'a>>,
}

fn draw(d: &Decision, c: Curves, crossings: bool, png: Option<&std::path::Path>) -> Result<String, ReportError> {
    let fits = &d.fits;
    let name = c.name;
    let (lo, hi) = fits
        .iter()
        .fold((f64::MAX, 0.0f64), |a, f| (a.0.min(f.prompt_range.0 as f64), a.1.max(f.prompt_range.1 as f64)));
    let (x0, x1) = (lo.min(hi), hi.max(lo + 1.0));
    let grid: Vec<f64> = (0..=100).map(|i| x0 + (x1 - x0) * i as f64 / 100.0).collect();
    let top = c
        .measured
        .iter()
        .flatten()
        .map(|p| p.1)
        .chain(c.fitted.iter().flat_map(|f| grid.iter().map(move |&x| f(x))))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (_, y1) = padded(0.0, top, false);
    let svg = super::render!(name, (WIDTH, HEIGHT), png, |root| {
        let mut ch = ChartBuilder::on(&root)
            .caption(c.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(x0 - (x1 - x0) * 0.03..x1 + (x1 - x0) * 0.03, 0f64..y1)
            .map_err(|e| super::ce(name, e))?;
        ch.configure_mesh()
            .x_desc("prompt tokens")
            .y_desc(c.y_desc)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        for (i, f) in fits.iter().enumerate() {
            let color = color_of(fits, f);
            let line: Vec<(f64, f64)> = grid.iter().map(|&x| (x, (c.fitted[i])(x))).collect();
            let label = format!("{} (fit)", f.label.clone());
            if f.key.kind == slmbench_results::model::ModelKind::EncoderDecoder {
                ch.draw_series(LineSeries::new(line, color.stroke_width(2)))
                    .map_err(|e| super::ce(name, e))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
                ch.draw_series(c.measured[i].iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(|e| super::ce(name, e))?;
            } else {
                ch.draw_series(DashedLineSeries::new(line, 8, 5, color.stroke_width(2)))
                    .map_err(|e| super::ce(name, e))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 9, y)], color.stroke_width(2)));
                ch.draw_series(c.measured[i].iter().map(|&p| TriangleMarker::new(p, 5, color.filled())))
                    .map_err(|e| super::ce(name, e))?;
            }
        }
        if crossings {
            for p in &d.pairs {
                if let Crossing::From { at, .. } | Crossing::Below { at, .. } = p.ttft {
                    let black = RGBColor(60, 60, 60);
                    ch.draw_series(DashedLineSeries::new([(at, 0.0), (at, y1)], 5, 4, black.stroke_width(1)))
                        .map_err(|e| super::ce(name, e))?;
                    let text = format!("TTFT crossover: {at:.0}");
                    ch.draw_series(std::iter::once(Text::new(text, (at, y1 * 0.06), ("sans-serif", 13).into_font())))
                        .map_err(|e| super::ce(name, e))?;
                }
            }
        }
        ch.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| super::ce(name, e))?;
    });
    Ok(svg)
}

fn of_fit<'a>(cells: &'a [CellResult], f: &'a ModelFit) -> impl Iterator<Item = &'a CellResult> + 'a {
    cells.iter().filter(move |c| slmbench_results::identity::CurveKey::of(c) == f.key)
}

/// The fitted-curve charts (none when no model has two prompt lengths).
pub fn charts(d: &Decision, cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Vec<Chart>, ReportError> {
    if d.fits.iter().all(|f| f.prompt_lengths < 2) {
        return Ok(vec![]);
    }
    let mut out = vec![];
    let ttft_measured = d
        .fits
        .iter()
        .map(|f| {
            of_fit(cells, f).map(|c| (c.sweep.input_tokens as f64, c.metrics.ttft_ns.median * 1e-6)).collect::<Vec<_>>()
        })
        .collect();
    let fitted =
        d.fits.iter().map(|f| Box::new(move |p: f64| f.ttft.at(p) * 1e-6) as Box<dyn Fn(f64) -> f64>).collect();
    let name = "fit_ttft";
    let svg = draw(
        d,
        Curves {
            name,
            title: "TTFT: fitted curves over the measured medians",
            y_desc: "TTFT (ms)",
            measured: ttft_measured,
            fitted,
        },
        true,
        png,
    )?;
    out.push(Chart {
        name: name.into(),
        title: "Fitted TTFT".into(),
        caption: "Median TTFT per measured prompt length (points) and each model's fitted curve (lines, weighted least squares on relative error); the dashed vertical line is where a pair's curves cross.".into(),
        svg,
    });
    if d.fits.iter().any(|f| f.itl.is_some()) {
        // Mean over a cell's steps of each step's median, against the fit's mean over as many steps.
        let measured = d
            .fits
            .iter()
            .map(|f| {
                of_fit(cells, f)
                    .filter(|c| c.sweep.output_tokens == f.output_range.1)
                    .filter_map(|c| {
                        Some((c.sweep.input_tokens as f64, crate::analysis::fit::mean_step_itl(c)?.0 * 1e-6))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let fitted = d
            .fits
            .iter()
            .map(|f| {
                let steps = f.output_range.1.saturating_sub(1);
                Box::new(move |p: f64| f.itl.map_or(f64::NAN, |i| i.mean(p, steps)) * 1e-6) as Box<dyn Fn(f64) -> f64>
            })
            .collect();
        let name = "fit_itl";
        let svg = draw(
            d,
            Curves {
                name,
                title: "ITL: fitted curves over the measured means",
                y_desc: "mean ITL (ms)",
                measured,
                fitted,
            },
            false,
            png,
        )?;
        out.push(Chart {
            name: name.into(),
            title: "Fitted inter-token latency".into(),
            caption: "Mean over the later tokens of each step's median ITL, at the longest output measured (points), and the fitted ITL(p, j) averaged over the same steps (lines).".into(),
            svg,
        });
    }
    Ok(out)
}

/// The workload's predicted mean TTFT and end-to-end latency per model, with intervals.
pub fn prediction_chart(d: &Decision, png: Option<&std::path::Path>) -> Result<Option<Chart>, ReportError> {
    let Some(w) = &d.workload else { return Ok(None) };
    let name = "predicted";
    let preds = &d.predictions;
    let top =
        preds.iter().map(|p| p.e2e_mean_ms.high.max(p.e2e_mean_ms.value)).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let (_, y1) = padded(0.0, top, false);
    let n = preds.len().max(1) as f64;
    let labels: Vec<String> = preds.iter().map(|p| p.model.clone()).collect();
    let svg = super::render!(name, (WIDTH, HEIGHT), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(format!("{}: mean TTFT (blue), end-to-end (orange)", w.description), ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n, 0f64..y1)
            .map_err(|e| super::ce(name, e))?;
        c.configure_mesh()
            .x_labels(0)
            .y_desc("ms (mean over requests)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        super::category_labels(&root, |v| c.backend_coord(&(v, 0.0)), &labels, false, false)
            .map_err(|e| super::ce(name, e))?;
        for (i, p) in preds.iter().enumerate() {
            let x = i as f64;
            for (k, (e, color)) in [(p.ttft_mean_ms, PALETTE[0]), (p.e2e_mean_ms, PALETTE[4])].into_iter().enumerate() {
                let (a, b) = (x + 0.15 + 0.35 * k as f64, x + 0.45 + 0.35 * k as f64);
                c.draw_series(std::iter::once(Rectangle::new([(a, 0.0), (b, e.value)], color.mix(0.8).filled())))
                    .map_err(|e| super::ce(name, e))?;
                if e.low.is_finite() {
                    let m = (a + b) / 2.0;
                    c.draw_series(std::iter::once(ErrorBar::new_vertical(
                        m,
                        e.low,
                        e.value,
                        e.high,
                        BLACK.stroke_width(1),
                        8,
                    )))
                    .map_err(|e| super::ce(name, e))?;
                }
            }
        }
    });
    Ok(Some(Chart {
        name: name.into(),
        title: "Predicted latency for the workload".into(),
        caption: "Per model, the predicted mean TTFT (blue) and mean end-to-end latency (orange) over the workload's requests, with 95% intervals from the bootstrap fits.".into(),
        svg,
    }))
}
