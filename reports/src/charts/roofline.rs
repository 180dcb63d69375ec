//! How close each model came to this host's measured limits: the decode step's share of the
//! memory bandwidth and the prefill's share of the matrix-multiply rate (`roofline` of each CPU
//! cell), at one point of the sweep. Drawn when the results carry roofline figures.

use plotters::prelude::*;
use slmbench_results::schema::CellResult;

use super::{Chart, WIDTH};
use crate::error::ReportError;

const DECODE: RGBColor = RGBColor(31, 119, 180);
const PREFILL: RGBColor = RGBColor(255, 127, 14);

pub fn charts(cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Vec<Chart>, ReportError> {
    let name = "roofline_shares";
    let placed: Vec<&CellResult> = cells.iter().filter(|c| c.roofline.is_some()).collect();
    if placed.is_empty() {
        return Ok(vec![]);
    }
    // One point of the sweep: batch 1 (else the smallest), the longest input and output.
    let b = placed.iter().map(|c| c.sweep.batch).min().unwrap_or(1);
    let p = placed.iter().filter(|c| c.sweep.batch == b).map(|c| c.sweep.input_tokens).max().unwrap_or(0);
    let n = placed.iter().filter(|c| c.sweep.batch == b).map(|c| c.sweep.output_tokens).max().unwrap_or(0);
    let mut rows: Vec<(String, Option<f64>, Option<f64>)> = Vec::new();
    for c in placed.iter().filter(|c| (c.sweep.batch, c.sweep.input_tokens, c.sweep.output_tokens) == (b, p, n)) {
        let r = c.roofline.as_ref().expect("filtered on roofline");
        let label = format!("{} t{}", c.model.name, c.settings.threads);
        if !rows.iter().any(|(l, _, _)| *l == label) {
            rows.push((label, r.decode_bandwidth_share, r.ttft_compute_share));
        }
    }
    let limits = placed[0].roofline.as_ref().map(|r| r.limits.clone()).expect("one cell at least");
    let top = rows.iter().flat_map(|(_, d, t)| [d.unwrap_or(0.0), t.unwrap_or(0.0)]).fold(1.0f64, f64::max) * 110.0;
    let k = rows.len().max(1) as f64;
    let height = (120 + 46 * rows.len()) as u32;
    let label_width = rows.iter().map(|(l, _, _)| l.len()).max().unwrap_or(10).clamp(10, 48) as u32 * 8;
    let svg = super::render!(name, (WIDTH, height), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption("Share of this host's measured limits", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(label_width + 16)
            .build_cartesian_2d(0f64..top, 0f64..k)
            .map_err(|e| super::ce(name, e))?;
        c.configure_mesh()
            .x_desc("% of the measured limit (decode: memory bandwidth; prefill: matrix-multiply rate)")
            .y_labels(0)
            .disable_y_mesh()
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        super::category_labels(&root, |v| c.backend_coord(&(0.0, k - v)), &labels, true, false)
            .map_err(|e| super::ce(name, e))?;
        // Category i runs from k − i − 1 to k − i (the first row on top).
        for (i, (_, d, t)) in rows.iter().enumerate() {
            let y0 = k - i as f64 - 1.0;
            for (share, color, lo, hi) in [(d, DECODE, 0.52, 0.88), (t, PREFILL, 0.12, 0.48)] {
                if let Some(s) = share {
                    c.draw_series(std::iter::once(Rectangle::new(
                        [(0.0, y0 + lo), (s * 100.0, y0 + hi)],
                        color.mix(0.8).filled(),
                    )))
                    .map_err(|e| super::ce(name, e))?;
                }
            }
        }
        c.draw_series(std::iter::once(PathElement::new(vec![(100.0, 0.0), (100.0, k)], BLACK.stroke_width(1))))
            .map_err(|e| super::ce(name, e))?
            .label("the measured limit")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
        for (what, color) in [("decode step: bytes read / ITL", DECODE), ("prefill: FLOPs / TTFT", PREFILL)] {
            c.draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(|e| super::ce(name, e))?
                .label(what)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.mix(0.8).filled()));
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| super::ce(name, e))?;
    });
    Ok(vec![Chart {
        name: name.into(),
        title: "Roofline".into(),
        caption: format!(
            "At {p} input / {n} output tokens, batch {b}: each model's decode step (the bytes it must read — weights at their stored precision and the KV cache — over the median ITL) as a share of this host's measured memory bandwidth ({:.1} GB/s), and its prefill (FLOPs over the median TTFT) as a share of the measured matrix-multiply rate ({:.0} GFLOP/s), both at {} threads. Near 100% a cell is at the hardware's limit; well below, per-operator overhead or an unfused graph is what costs time.",
            limits.memory_bytes_per_s / 1e9,
            limits.matmul_flops_per_s / 1e9,
            limits.threads
        ),
        svg,
    }])
}
