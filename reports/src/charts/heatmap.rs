//! The paper's claim at a glance: encoder-decoder / decoder-only ratio over input × output
//! length, for TTFT and for end-to-end throughput, one pair each. Green is where the
//! encoder-decoder wins, red where it loses; each cell is labelled with its ratio.

use plotters::prelude::*;
use slmbench_results::pair_ratio::PairRatio;
use slmbench_results::schema::CellResult;

use super::Chart;
use crate::analysis::pairs::{PairedCell, Ratio, paired};
use crate::error::ReportError;

/// The fill of a cell whose ratio has no interval.
const NO_INTERVAL: RGBColor = RGBColor(214, 217, 222);

fn shade(good: f64) -> RGBColor {
    // good in [-1, 1]: +1 deep green, -1 deep red, 0 white.
    let t = good.clamp(-1.0, 1.0);
    let mix = |a: u8, b: u8, f: f64| (a as f64 + (b as f64 - a as f64) * f) as u8;
    if t >= 0.0 {
        RGBColor(mix(255, 26, t), mix(255, 152, t), mix(255, 80, t))
    } else {
        RGBColor(mix(255, 215, -t), mix(255, 48, -t), mix(255, 39, -t))
    }
}

fn safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

fn draw(
    name: &str,
    title: &str,
    cells: &[&PairedCell],
    ratio: fn(&PairedCell) -> Option<Ratio>,
    lower_is_better: bool,
    png: Option<&std::path::Path>,
) -> Result<String, ReportError> {
    let mut ins: Vec<usize> = cells.iter().map(|p| p.point.input_tokens).collect();
    let mut outs: Vec<usize> = cells.iter().map(|p| p.point.output_tokens).collect();
    ins.sort();
    ins.dedup();
    outs.sort();
    outs.dedup();
    let (nx, ny) = (ins.len(), outs.len());
    let svg = super::render!(name, (900, 140 + 70 * ny.max(3) as u32), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..nx as f64, 0f64..ny as f64)
            .map_err(|e| super::ce(name, e))?;
        c.configure_mesh()
            .disable_mesh()
            .x_desc("input tokens")
            .y_desc("output tokens")
            .x_labels(0)
            .y_labels(0)
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        let names = |v: &[usize]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        super::category_labels(&root, |v| c.backend_coord(&(v, 0.0)), &names(&ins), false, false)
            .map_err(|e| super::ce(name, e))?;
        super::category_labels(&root, |v| c.backend_coord(&(0.0, v)), &names(&outs), true, false)
            .map_err(|e| super::ce(name, e))?;
        for p in cells {
            let (Some(i), Some(j)) = (
                ins.iter().position(|&x| x == p.point.input_tokens),
                outs.iter().position(|&x| x == p.point.output_tokens),
            ) else {
                continue;
            };
            let Some(ratio) = ratio(p) else { continue };
            let r = ratio.value;
            // log₄ of the ratio: 4× better or worse is full colour.
            let mut good = r.log2() / 2.0;
            if lower_is_better {
                good = -good;
            }
            let (i, j) = (i as f64, j as f64);
            // A ratio with no interval says nothing either way: grey, never green or red.
            let fill = if ratio.ci().is_some() { shade(good) } else { NO_INTERVAL };
            c.draw_series(std::iter::once(Rectangle::new([(i, j), (i + 1.0, j + 1.0)], fill.filled())))
                .map_err(|e| super::ce(name, e))?;
            // The interval under the value, so a colour is never read without its uncertainty.
            let under = match ratio.ci() {
                Some((lo, hi)) => (format!("{lo:.2}–{hi:.2}"), 11),
                None => (ratio.shortfall_text(), 10),
            };
            let labels = [(format!("{r:.2}×"), 0.55, 16), (under.0, 0.25, under.1)];
            for (text, dy, size) in labels {
                c.draw_series(std::iter::once(Text::new(
                    text,
                    (i + 0.5, j + dy),
                    ("sans-serif", size).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    )),
                )))
                .map_err(|e| super::ce(name, e))?;
            }
        }
    });
    Ok(svg)
}

pub fn charts(
    cells: &[CellResult],
    ratios: &[PairRatio],
    png: Option<&std::path::Path>,
) -> Result<Vec<Chart>, ReportError> {
    let pairs = paired(cells, ratios);
    // One map per pair and machine (nothing pooled across machines).
    let mut groups: Vec<(String, slmbench_results::identity::Machine)> =
        pairs.iter().map(|p| (p.pair.clone(), p.key.machine.clone())).collect();
    groups.dedup();
    let several = groups.iter().any(|g| g.1 != groups[0].1);
    let mut out = Vec::new();
    for (i, (tag, machine)) in groups.into_iter().enumerate() {
        let mine = || pairs.iter().filter(|p| p.pair == tag && p.key.machine == machine);
        // One runtime / variant / provider and settings / thread count / batch per map: the first
        // (batch 1 preferred); every cell of the map shares all but its lengths.
        let Some(first) = mine().min_by_key(|p| (p.point.batch != 1, p.key.clone())) else {
            continue;
        };
        let sel: Vec<&PairedCell> = mine().filter(|p| p.setting() == first.setting()).collect();
        let (ep, t, b) = (&first.point.ep, first.point.threads, first.point.batch);
        let on = if several { format!(" on {}", machine.short()) } else { String::new() };
        let where_ = format!("{tag}{on}, {ep}, {t} threads, batch {b}");
        let tag = if several { format!("{tag}_{}", i + 1) } else { tag };
        let name = format!("ratio_ttft_{}", safe(&tag));
        out.push(Chart {
            svg: draw(&name, &format!("TTFT ratio encoder-decoder / decoder-only ({where_})"), &sel, |p| Some(p.ttft), true, png)?,
            name,
            title: format!("TTFT ratio — {tag}"),
            caption: "Below 1× (green) the encoder-decoder reaches the first token sooner; the paper claims 0.53× (47% lower). Under each ratio, its 95% interval (paired where the pair ran interleaved); grey: no interval (n too small), so no colour.".into(),
        });
        let name = format!("ratio_e2e_{}", safe(&tag));
        out.push(Chart {
            svg: draw(
                &name,
                &format!("End-to-end throughput ratio encoder-decoder / decoder-only ({where_})"),
                &sel,
                |p| p.e2e,
                false,
                png,
            )?,
            name,
            title: format!("Throughput ratio — {tag}"),
            caption: "Above 1× (green) the encoder-decoder generates faster end to end; the paper claims 4.7×. Under each ratio, its 95% interval (paired where the pair ran interleaved); grey: no interval (n too small), so no colour.".into(),
        });
    }
    Ok(out)
}
