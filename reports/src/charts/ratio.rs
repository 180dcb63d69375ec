//! The paper's question drawn directly: the encoder-decoder / decoder-only ratio against input
//! length (TTFT) and against output length (decode and end-to-end tokens/s), each with its 95%
//! interval, beside the paper's figures as reference lines (0.53×: 47% lower TTFT; 4.7× the
//! throughput) and parity (1×).

use plotters::prelude::*;
use slmbench_results::pair_ratio::PairRatio;
use slmbench_results::schema::CellResult;

use super::{Chart, HEIGHT, WIDTH, family_color, padded};
use slmbench_results::identity::PartnerKey;

use crate::analysis::pairs::{PairedCell, Ratio, paired};
use crate::error::ReportError;

/// The paper's TTFT ratio (47% lower) and throughput ratio.
pub const PAPER_TTFT_RATIO: f64 = 0.53;
pub const PAPER_THROUGHPUT_RATIO: f64 = 4.7;

/// One line: a pair on one machine, runtime, variant and setting; its points `(x, ratio)`.
struct Line {
    label: String,
    points: Vec<(f64, Ratio)>,
}

/// Lines of `pairs` over `x`, each point's ratio from `ratio`; `keep` picks the cells (one
/// length held fixed). Labels name what varies between lines.
fn lines(
    pairs: &[PairedCell],
    keep: impl Fn(&PairedCell) -> bool,
    x: fn(&PairedCell) -> usize,
    ratio: fn(&PairedCell) -> Option<Ratio>,
) -> Vec<Line> {
    // One line per setting ([`PairedCell::setting`]: pair, machine, runtime, variant, provider,
    // threads, batch).
    let mut groups: Vec<PartnerKey> = pairs.iter().filter(|p| keep(p)).map(PairedCell::setting).collect();
    groups.sort();
    groups.dedup();
    let machine = |g: &PartnerKey| g.machine.short();
    let variant = |g: &PartnerKey| format!("{} {}", g.backend, g.variant);
    let varies = |f: &dyn Fn(&PartnerKey) -> String| {
        let mut v: Vec<String> = groups.iter().map(f).collect();
        v.sort();
        v.dedup();
        v.len() > 1
    };
    let (m, v, e, t, b) = (
        varies(&machine),
        varies(&variant),
        varies(&|g| g.point.ep.clone()),
        varies(&|g| g.point.threads.to_string()),
        varies(&|g| g.point.batch.to_string()),
    );
    groups
        .iter()
        .map(|g| {
            let mut label = g.pair.clone().unwrap_or_default();
            for (on, text) in [
                (m, machine(g)),
                (v, variant(g)),
                (e, g.point.ep.clone()),
                (t, format!("t{}", g.point.threads)),
                (b, format!("b{}", g.point.batch)),
            ] {
                if on {
                    label.push_str(&format!(" · {text}"));
                }
            }
            let mut points: Vec<(f64, Ratio)> = pairs
                .iter()
                .filter(|p| keep(p) && &p.setting() == g)
                .filter_map(|p| ratio(p).map(|r| (x(p) as f64, r)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Line { label, points }
        })
        .filter(|l| !l.points.is_empty())
        .collect()
}

struct Spec<'a> {
    name: &'a str,
    caption: String,
    x_desc: &'a str,
    y_desc: &'a str,
    reference: f64,
    reference_text: &'a str,
}

fn draw(spec: &Spec, series: &[(Line, bool, usize)], png: Option<&std::path::Path>) -> Result<String, ReportError> {
    let all = || series.iter().flat_map(|(l, _, _)| l.points.iter());
    let mut xs: Vec<f64> = all().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let hi = all().map(|(_, r)| r.high.unwrap_or(r.value)).fold(spec.reference.max(1.0), f64::max);
    let (_, y1) = padded(0.0, hi, false);
    let (x0, x1) = padded(xs.first().copied().unwrap_or(1.0), xs.last().copied().unwrap_or(1.0), true);
    let name = spec.name;
    let svg = super::render!(name, (WIDTH, HEIGHT), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(&spec.caption, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale().with_key_points(xs.clone()), 0f64..y1)
            .map_err(|e| super::ce(name, e))?;
        c.configure_mesh()
            .x_desc(spec.x_desc)
            .y_desc(spec.y_desc)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        let grey = RGBColor(110, 110, 110);
        for (y, text, dashed) in [(1.0, "parity 1×", false), (spec.reference, spec.reference_text, true)] {
            let ends = [(x0, y), (x1, y)];
            if dashed {
                c.draw_series(DashedLineSeries::new(ends, 10, 6, BLACK.stroke_width(2)))
            } else {
                c.draw_series(DashedLineSeries::new(ends, 2, 3, grey.stroke_width(1)))
            }
            .map_err(|e| super::ce(name, e))?;
            c.draw_series(std::iter::once(Text::new(
                text.to_string(),
                (x0, y + y1 * 0.045),
                ("sans-serif", 14).into_font(),
            )))
            .map_err(|e| super::ce(name, e))?;
        }
        for (line, solid, g) in series {
            let color = family_color(true, *g);
            let xy: Vec<(f64, f64)> = line.points.iter().map(|(x, r)| (*x, r.value)).collect();
            let label = line.label.clone();
            if *solid {
                c.draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))
                    .map_err(|e| super::ce(name, e))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
                c.draw_series(xy.iter().map(|&p| Circle::new(p, 5, color.filled()))).map_err(|e| super::ce(name, e))?;
            } else {
                c.draw_series(DashedLineSeries::new(xy.clone(), 8, 5, color.stroke_width(2)))
                    .map_err(|e| super::ce(name, e))?
                    .label(label)
                    .legend(move |(x, y)| {
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(0, 0), (9, 0)], color.stroke_width(2))
                            + PathElement::new(vec![(15, 0), (24, 0)], color.stroke_width(2))
                    });
                c.draw_series(xy.iter().map(|&p| Rectangle::new([(p.0, p.1), (p.0, p.1)], color.stroke_width(6))))
                    .map_err(|e| super::ce(name, e))?;
            }
            c.draw_series(line.points.iter().filter_map(|(x, r)| {
                r.ci().map(|(lo, hi)| ErrorBar::new_vertical(*x, lo, r.value, hi, color.stroke_width(1), 10))
            }))
            .map_err(|e| super::ce(name, e))?;
            // A point without an interval says so where it is drawn.
            c.draw_series(line.points.iter().filter(|(_, r)| r.ci().is_none()).map(|(x, r)| {
                Text::new(
                    format!("{:.2}× ({})", r.value, r.shortfall_text()),
                    (*x, r.value),
                    ("sans-serif", 12).into_font(),
                )
            }))
            .map_err(|e| super::ce(name, e))?;
        }
        super::legend(&mut c, SeriesLabelPosition::UpperRight, name)?;
    });
    Ok(svg)
}

/// The ratio charts the results support: TTFT against input length and throughput against output
/// length; none without a pair.
pub fn charts(
    cells: &[CellResult],
    ratios: &[PairRatio],
    png: Option<&std::path::Path>,
) -> Result<Vec<Chart>, ReportError> {
    let pairs = paired(cells, ratios);
    if pairs.is_empty() {
        return Ok(vec![]);
    }
    let min_n = pairs.iter().map(|p| p.point.output_tokens).min().unwrap_or(0);
    let max_p = pairs.iter().map(|p| p.point.input_tokens).max().unwrap_or(0);
    let ttft = lines(&pairs, |p| p.point.output_tokens == min_n, |p| p.point.input_tokens, |p| Some(p.ttft));
    let decode = lines(&pairs, |p| p.point.input_tokens == max_p, |p| p.point.output_tokens, |p| p.decode);
    let e2e = lines(&pairs, |p| p.point.input_tokens == max_p, |p| p.point.output_tokens, |p| p.e2e);
    let ttft_spec = Spec {
        name: "ratio_ttft_vs_input",
        caption: format!("ED/DO TTFT vs input length ({min_n} output tokens; lower = ED sooner)"),
        x_desc: "input tokens (log scale)",
        y_desc: "TTFT encoder-decoder / decoder-only",
        reference: PAPER_TTFT_RATIO,
        reference_text: "paper: 0.53× (47% lower)",
    };
    let mut out = vec![Chart {
        name: ttft_spec.name.into(),
        title: "TTFT ratio vs input length".into(),
        caption: format!(
            "Encoder-decoder / decoder-only time to first token at each input length ({min_n} output tokens), with its 95% interval (paired where the pair ran interleaved). Below the dotted 1× line the encoder-decoder is sooner; the dashed line is the paper's 0.53×. A point without an interval is labelled with what it lacks."
        ),
        svg: draw(&ttft_spec, &ttft.into_iter().enumerate().map(|(i, l)| (l, true, i)).collect::<Vec<_>>(), png)?,
    }];
    // A line's decode and end-to-end ratios share its colour and differ in dash and marker.
    let mut through: Vec<(Line, bool, usize)> = decode
        .into_iter()
        .enumerate()
        .map(|(i, mut l)| {
            l.label.push_str(" · decode");
            (l, true, i)
        })
        .collect();
    through.extend(e2e.into_iter().enumerate().map(|(i, mut l)| {
        l.label.push_str(" · end-to-end");
        (l, false, i)
    }));
    let spec = Spec {
        name: "ratio_throughput_vs_output",
        caption: format!("ED/DO tokens/s vs output length ({max_p} input tokens; higher = ED faster)"),
        x_desc: "output tokens (log scale)",
        y_desc: "tokens/s encoder-decoder / decoder-only",
        reference: PAPER_THROUGHPUT_RATIO,
        reference_text: "paper: 4.7×",
    };
    if !through.is_empty() {
        out.push(Chart {
            name: spec.name.into(),
            title: "Throughput ratio vs output length".into(),
            caption: format!(
                "Encoder-decoder / decoder-only tokens/s at each output length ({max_p} input tokens): decode (solid, circles) and end-to-end (dashed, squares), with 95% intervals. Above the dotted 1× line the encoder-decoder is faster; the dashed line is the paper's 4.7×."
            ),
            svg: draw(&spec, &through, png)?,
        });
    }
    Ok(out)
}
