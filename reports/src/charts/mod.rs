//! Charts as SVG, one file per chart, each a function from results to an SVG string.
//! Text is drawn by the browser (no font library needed); plotters escapes every label.

pub mod dots;
pub mod fit;
pub mod forest;
pub mod heatmap;
pub mod itl;
pub mod lines;
pub mod memory;
pub mod precision;
pub mod ratio;
pub mod roofline;
pub mod throughput;
pub mod trend;
pub mod ttft;
pub mod ttft_split;

use std::path::Path;

use plotters::prelude::*;
use slmbench_results::pair_ratio::PairRatio;
use slmbench_results::schema::CellResult;

use crate::error::ReportError;

pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 520;

/// One chart: a file name (without extension), a title, and the SVG.
#[derive(Debug, Clone)]
pub struct Chart {
    pub name: String,
    pub title: String,
    /// What the reader should look at, in one sentence.
    pub caption: String,
    pub svg: String,
}

/// Colours of charts that are not per family (trends, fits, bars of one kind).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Encoder-decoder colours (blues and greens), one per pair in order; decoder-only ones (reds and
/// oranges) below. A pair's two models differ in colour, marker and dash, so a chart reads in
/// grey print and to a colour-blind reader alike.
pub const ENCODER_DECODER: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(44, 160, 44), RGBColor(23, 190, 207), RGBColor(148, 103, 189)];
pub const DECODER_ONLY: [RGBColor; 4] =
    [RGBColor(214, 39, 40), RGBColor(255, 127, 14), RGBColor(227, 119, 194), RGBColor(140, 86, 75)];

/// The colour of the `g`th group's model of a family.
pub fn family_color(encoder_decoder: bool, g: usize) -> RGBColor {
    let p = if encoder_decoder { &ENCODER_DECODER } else { &DECODER_ONLY };
    p[g % p.len()]
}

/// A line of a chart: one model at one provider / thread count / batch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The machine ([`slmbench_results::identity::Machine`]): lines of two machines never join.
    pub machine: String,
    pub group: String,
    pub model: String,
    pub encoder_decoder: bool,
    pub ep: String,
    pub threads: usize,
    pub batch: usize,
}

impl SeriesKey {
    pub fn of(c: &CellResult) -> SeriesKey {
        SeriesKey {
            machine: slmbench_results::identity::Machine::of(&c.context).to_string(),
            group: c.model.pair.clone().unwrap_or_else(|| c.model.name.clone()),
            model: c.model.name.clone(),
            encoder_decoder: c.model.kind == slmbench_results::model::ModelKind::EncoderDecoder,
            ep: format!("{} {}", c.settings.backend, slmbench_results::identity::where_run(&c.settings)),
            threads: c.settings.threads,
            batch: c.sweep.batch,
        }
    }
}

/// Series keys of `cells`, each with its label and colour (by family, then by pair: see
/// [`family_color`]). Labels name the provider, threads and batch only when they vary.
pub fn series(cells: &[&CellResult]) -> Vec<(SeriesKey, String, RGBColor)> {
    let mut keys: Vec<SeriesKey> = cells.iter().map(|c| SeriesKey::of(c)).collect();
    keys.sort();
    keys.dedup();
    let vary = |f: &dyn Fn(&SeriesKey) -> String| {
        let mut v: Vec<String> = keys.iter().map(f).collect();
        v.sort();
        v.dedup();
        v.len() > 1
    };
    let (ep, t, b) = (vary(&|k| k.ep.clone()), vary(&|k| k.threads.to_string()), vary(&|k| k.batch.to_string()));
    let machine = vary(&|k| k.machine.clone());
    let group = |k: &SeriesKey| format!("{}|{}|{}|{}|{}", k.machine, k.group, k.ep, k.threads, k.batch);
    let mut groups: Vec<String> = keys.iter().map(group).collect();
    groups.dedup();
    keys.into_iter()
        .map(|k| {
            let g = groups.iter().position(|x| x == &group(&k)).unwrap_or(0);
            let mut label = k.model.clone();
            if machine {
                label.push_str(&format!(" · {}", k.machine.split(" / ").next().unwrap_or(&k.machine)));
            }
            if ep {
                label.push_str(&format!(" · {}", k.ep));
            }
            if t {
                label.push_str(&format!(" · t{}", k.threads));
            }
            if b {
                label.push_str(&format!(" · b{}", k.batch));
            }
            let color = family_color(k.encoder_decoder, g);
            (k, label, color)
        })
        .collect()
}

/// Draws a chart's legend at `pos`, in the style every chart shares.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    c: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
    name: &str,
) -> Result<(), ReportError> {
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .position(pos)
        .draw()
        .map_err(|e| ce(name, e))
}

/// A drawing error of chart `name` (generic per call, so one body serves every backend).
pub(crate) fn ce<E: std::fmt::Display>(name: &str, e: E) -> ReportError {
    ReportError::Chart { name: name.to_string(), message: e.to_string() }
}

/// An axis range around `lo..hi` with some room, never empty.
pub(crate) fn padded(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if log {
        let (lo, hi) = (lo.max(1e-9), hi.max(1e-9));
        if (hi / lo) < 1.5 { (lo / 1.5, hi * 1.5) } else { (lo / 1.2, hi * 1.2) }
    } else {
        let span = (hi - lo).abs().max(hi.abs() * 0.1).max(1e-9);
        ((lo - span * 0.1).max(0.0), hi + span * 0.15)
    }
}

/// The bundled font (DejaVu Sans, see `reports/assets/`): plotters measures and, for PNG, draws
/// text with it, so no system font library is needed.
pub(crate) fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is checked in and valid; a failure here would be a packaging error.
            plotters::style::register_font("sans-serif", style, bytes).map_err(|_| ()).expect("bundled font");
        }
    });
}

/// Draws a chart body into an SVG string and, when `png` names a directory, into `NAME.png`
/// there. The body is expanded once per backend.
macro_rules! render {
    ($name:expr, $size:expr, $png:expr, |$root:ident| $body:block) => {{
        crate::charts::fonts();
        let mut svg = String::new();
        {
            let $root = SVGBackend::with_string(&mut svg, $size).into_drawing_area();
            $root.fill(&WHITE).map_err(|e| crate::charts::ce($name, e))?;
            $body
            $root.present().map_err(|e| crate::charts::ce($name, e))?;
        }
        if let Some(dir) = $png {
            let path: std::path::PathBuf = dir.join(format!("{}.png", $name));
            let $root = BitMapBackend::new(&path, $size).into_drawing_area();
            $root.fill(&WHITE).map_err(|e| crate::charts::ce($name, e))?;
            $body
            $root.present().map_err(|e| crate::charts::ce($name, e))?;
        }
        svg
    }};
}
pub(crate) use render;

/// Every chart the results support; PNG copies too when `png` names a directory.
pub fn all(cells: &[CellResult], ratios: &[PairRatio], png: Option<&Path>) -> Result<Vec<Chart>, ReportError> {
    let mut charts = vec![ttft::chart(cells, png)?];
    charts.extend(throughput::charts(cells, png)?);
    charts.extend(ratio::charts(cells, ratios, png)?);
    charts.extend(ttft_split::chart(cells, ratios, png)?);
    charts.extend(heatmap::charts(cells, ratios, png)?);
    charts.push(itl::chart(cells, png)?);
    charts.push(memory::chart(cells, png)?);
    charts.extend(memory::growth(cells, png)?);
    charts.extend(precision::charts(cells, png)?);
    charts.extend(roofline::charts(cells, png)?);
    Ok(charts)
}

/// Category labels under (or beside) a chart whose axis runs 0..n with category i centred at
/// i + 0.5. Drawn in pixels on the root area (`at` maps a category centre to its pixel on the
/// axis): plotters' own category axes misplace a single category.
pub(crate) fn category_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    at: impl Fn(f64) -> (i32, i32),
    labels: &[String],
    vertical_axis: bool,
    rotate: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    for (i, l) in labels.iter().enumerate() {
        let (x, y) = at(i as f64 + 0.5);
        let (x, y, pos) = if vertical_axis {
            (x - 8, y, Pos::new(HPos::Right, VPos::Center))
        } else if rotate {
            (x, y + 8, Pos::new(HPos::Left, VPos::Center))
        } else {
            (x, y + 8, Pos::new(HPos::Center, VPos::Top))
        };
        let font = ("sans-serif", 13).into_font().color(&BLACK).pos(pos);
        let font = if rotate { font.transform(FontTransform::Rotate90) } else { font };
        root.draw(&Text::new(l.clone(), (x, y), font))?;
    }
    Ok(())
}
