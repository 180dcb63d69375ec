//! Peak resident memory of the process, measured: per model when models ran one at a time, per
//! pair when an interleaved pair held both at once (the highest over the cells); and each model's
//! own caches, computed, as they grow with context.

use plotters::prelude::*;
use slmbench_results::memory::CacheMemory;
use slmbench_results::model::{Layout, ModelKind};
use slmbench_results::schema::CellResult;

use super::{Chart, HEIGHT, WIDTH, padded, series};
use crate::error::ReportError;

/// A bar: its label and its stacked parts (MB, colour), bottom first.
type Bar = (String, Vec<(f64, RGBAColor)>);

pub fn chart(cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Chart, ReportError> {
    let name = "peak_memory";
    let refs: Vec<&CellResult> = cells.iter().collect();
    let colors = series(&refs);
    let color_of = |model: &str| colors.iter().find(|(k, _, _)| k.model == model).map(|(_, _, c)| *c).unwrap_or(BLACK);
    // What was resident when the mark was read: one model, or both of an interleaved pair (they
    // are loaded together, so the process's peak is theirs together and is drawn once, grey).
    let holder = |c: &CellResult| match (&c.repetitions.interleaved_with, &c.model.pair) {
        (Some(_), Some(tag)) => (format!("{tag}: both models loaded"), true),
        _ => (c.model.name.clone(), false),
    };
    let mut holders: Vec<(String, bool)> = cells.iter().map(holder).collect();
    holders.sort();
    holders.dedup();
    let mut bars: Vec<Bar> = Vec::new();
    // Each model's own: its files, then its caches at the run's longest cell (computed).
    let own = per_model(cells);
    for (c, m) in &own {
        let color = color_of(&c.model.name);
        let parts =
            vec![(c.model.bytes_on_disk as f64 / 1e6, color.mix(0.8)), (m.total_bytes() as f64 / 1e6, color.mix(0.35))];
        bars.push((format!("{} own", c.model.name), parts));
    }
    for (h, together) in &holders {
        let mine = || cells.iter().filter(|c| &holder(c).0 == h);
        let peak = mine().filter_map(|c| c.metrics.peak_rss_bytes).max().unwrap_or(0);
        let model = mine().next().map(|c| c.model.name.clone()).unwrap_or_default();
        let color = if *together { RGBColor(120, 124, 130) } else { color_of(&model) };
        let label = if own.is_empty() { h.clone() } else { format!("{h}: process peak") };
        bars.push((label, vec![(peak as f64 / 1e6, color.mix(0.75))]));
    }
    let interleaved = holders.iter().any(|h| h.1);
    let top = bars.iter().map(|b| b.1.iter().map(|p| p.0).sum::<f64>()).fold(0.0, f64::max);
    let (_, y1) = padded(0.0, top, false);
    let n = bars.len().max(1) as f64;
    // Many bars: labels turned upright, with the room they take below the chart.
    let rotate = bars.len() > 4;
    let below = if rotate { 6 * bars.iter().map(|b| b.0.chars().count()).max().unwrap_or(0) as u32 + 24 } else { 48 };
    let size = (WIDTH, HEIGHT + below - 48);
    let svg = super::render!(name, size, png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(
                if own.is_empty() {
                    "Peak resident memory of the process"
                } else {
                    "Memory: each model's own, and the process's peak"
                },
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(below)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n, 0f64..y1)
            .map_err(|e| super::ce(name, e))?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        c.configure_mesh()
            .x_desc("what was loaded")
            .y_desc("MB")
            .x_labels(0)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        super::category_labels(&root, |v| c.backend_coord(&(v, 0.0)), &labels, false, rotate)
            .map_err(|e| super::ce(name, e))?;
        for (i, (_, parts)) in bars.iter().enumerate() {
            let i = i as f64;
            let mut base = 0.0;
            for (mb, color) in parts {
                c.draw_series(std::iter::once(Rectangle::new([(i + 0.2, base), (i + 0.8, base + mb)], color.filled())))
                    .map_err(|e| super::ce(name, e))?;
                base += mb;
            }
        }
    });
    let own_text = if own.is_empty() {
        String::new()
    } else {
        " Each model's own bar: its weights (the files on disk, dark) and its key/value caches at the run's longest cell (computed from the cache shapes, light); see the Memory table.".into()
    };
    Ok(Chart {
        name: name.into(),
        title: "Memory".into(),
        caption: if interleaved {
            format!(
                "Highest resident set size of the process (Linux VmHWM, reset before each load), measured. A pair measured interleaved has both models loaded at once, so its bar is the two together (grey), not either model's own.{own_text}"
            )
        } else {
            format!(
                "Highest resident set size of the process while each model's sessions were loaded and run (Linux VmHWM, reset per model), measured.{own_text}"
            )
        },
        svg,
    })
}

/// The model of each name with caches recorded: the cell whose caches are largest (the run's
/// longest context), one per model, ordered by name.
pub fn per_model(cells: &[CellResult]) -> Vec<(&CellResult, &CacheMemory)> {
    let mut out: Vec<(&CellResult, &CacheMemory)> = Vec::new();
    for c in cells {
        let Some(m) = &c.memory else { continue };
        match out.iter_mut().find(|(o, _)| o.model.name == c.model.name) {
            Some(slot) if m.total_bytes() > slot.1.total_bytes() => *slot = (c, m),
            Some(_) => {}
            None => out.push((c, m)),
        }
    }
    out.sort_by(|a, b| a.0.model.name.cmp(&b.0.model.name));
    out
}

pub(crate) fn is_static(c: &CellResult) -> bool {
    matches!(c.model.layout, Layout::DecoderOnlyStatic | Layout::EncoderDecoderStatic)
}

/// One row's caches against prompt length, per model, at the run's longest output: how each
/// family's memory grows with context (computed from the recorded cache shapes).
pub fn growth(cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Option<Chart>, ReportError> {
    let models = per_model(cells);
    if models.is_empty() {
        return Ok(None);
    }
    let name = "cache_growth";
    let new = cells.iter().map(|c| c.sweep.output_tokens as u64).max().unwrap_or(0);
    let longest = cells.iter().map(|c| c.sweep.input_tokens as u64).max().unwrap_or(0);
    // Up to the shortest context a model takes, else four times the longest prompt measured.
    let limit = models.iter().filter_map(|(c, _)| c.model.max_positions).min();
    let x1 = limit.map_or(4 * longest.max(64), |m| m.saturating_sub(new).max(longest)).max(2);
    let mb = |c: &CellResult, m: &CacheMemory, p: u64| -> f64 {
        let bytes = if is_static(c) {
            m.total_bytes() / m.batch.max(1)
        } else {
            m.at(c.model.kind == ModelKind::EncoderDecoder, p, new)
        };
        bytes as f64 / 1e6
    };
    let top = models.iter().map(|(c, m)| mb(c, m, x1)).fold(0.0, f64::max);
    let (_, y1) = padded(0.0, top, false);
    let refs: Vec<&CellResult> = models.iter().map(|(c, _)| *c).collect();
    let colors = series(&refs);
    let steps = 64u64;
    let svg = super::render!(name, (WIDTH, HEIGHT), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption("Key/value caches against prompt length, one row (computed)", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x1 as f64, 0f64..y1)
            .map_err(|e| super::ce(name, e))?;
        c.configure_mesh()
            .x_desc(format!("prompt tokens (output {new} tokens)"))
            .y_desc("caches (MB)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        // Models whose caches are the same shape (a precision changes the weights, not the
        // caches) share one line, named by all of them.
        let mut lines: Vec<(&CellResult, &CacheMemory, Vec<String>)> = Vec::new();
        for (cell, m) in &models {
            let same = |(c, o, _): &&mut (&CellResult, &CacheMemory, Vec<String>)| {
                c.model.kind == cell.model.kind
                    && is_static(c) == is_static(cell)
                    && (o.self_bytes_per_position, o.cross_bytes_per_position)
                        == (m.self_bytes_per_position, m.cross_bytes_per_position)
            };
            match lines.iter_mut().find(|l| same(l)) {
                Some(l) => l.2.push(cell.model.name.clone()),
                None => lines.push((cell, m, vec![cell.model.name.clone()])),
            }
        }
        for (cell, m, names) in &lines {
            let color = colors.iter().find(|(k, _, _)| k.model == cell.model.name).map(|(_, _, c)| *c).unwrap_or(BLACK);
            let label = names.join(", ");
            let ed = cell.model.kind == ModelKind::EncoderDecoder;
            let pts: Vec<(f64, f64)> =
                (0..=steps).map(|i| x1 * i / steps).map(|p| (p as f64, mb(cell, m, p))).collect();
            let style = color.stroke_width(2);
            let family = if ed { "encoder-decoder" } else { "decoder-only" };
            let s = if ed {
                c.draw_series(LineSeries::new(pts, style)).map_err(|e| super::ce(name, e))?
            } else {
                c.draw_series(DashedLineSeries::new(pts, 8, 5, style)).map_err(|e| super::ce(name, e))?
            };
            s.label(format!("{label} ({family})"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
            // The measured lengths, marked on each line.
            let marks: Vec<(f64, f64)> = {
                let mut p: Vec<u64> = cells.iter().map(|c| c.sweep.input_tokens as u64).collect();
                p.sort();
                p.dedup();
                p.into_iter().map(|p| (p as f64, mb(cell, m, p))).collect()
            };
            c.draw_series(marks.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(|e| super::ce(name, e))?;
        }
        super::legend(&mut c, SeriesLabelPosition::UpperLeft, name)?;
    });
    Ok(Some(Chart {
        name: name.into(),
        title: "Caches against context".into(),
        caption: format!(
            "Keys and values held for one row after a prompt and {new} output tokens, computed from each model's cache shapes (decoder layers × KV heads × head size × element bytes): a decoder-only model caches the prompt in every decoder layer, an encoder-decoder caches its output in the decoder and the encoded prompt once more for cross attention. A static build holds its fixed buffers whatever the lengths (a flat line). Dots: the prompt lengths measured. Weights are in the Memory table."
        ),
        svg,
    }))
}
