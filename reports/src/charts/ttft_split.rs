//! What the first token costs, by part: the encoder-decoder's encoder pass and first decoder step
//! stacked, beside the decoder-only's prefill, at each input length of one pair's sweep.

use plotters::prelude::*;
use slmbench_results::pair_ratio::PairRatio;
use slmbench_results::schema::CellResult;

use super::{Chart, HEIGHT, WIDTH, family_color, padded};
use crate::analysis::pairs::{PairedCell, paired};
use crate::error::ReportError;

/// One input length: encoder, first decoder step (encoder-decoder) and prefill (decoder-only),
/// medians in ms.
struct Column {
    input_tokens: usize,
    encoder: f64,
    first_step: f64,
    prefill: f64,
}

pub fn chart(
    cells: &[CellResult],
    ratios: &[PairRatio],
    png: Option<&std::path::Path>,
) -> Result<Option<Chart>, ReportError> {
    let pairs = paired(cells, ratios);
    let min_n = pairs.iter().map(|p| p.point.output_tokens).min().unwrap_or(0);
    // One pair, machine and setting (batch 1 preferred): every column shares all but its length.
    let Some(first) = pairs
        .iter()
        .filter(|p| p.point.output_tokens == min_n && p.encoder_decoder.metrics.encoder_ns.is_some())
        .min_by_key(|p| (p.point.batch != 1, p.pair.clone(), p.key.clone()))
    else {
        return Ok(None);
    };
    let same = |p: &&PairedCell| p.setting() == first.setting() && p.point.output_tokens == min_n;
    let ms = |ns: f64| ns / 1e6;
    let mut cols: Vec<Column> = pairs
        .iter()
        .filter(same)
        .filter_map(|p| {
            let m = &p.encoder_decoder.metrics;
            Some(Column {
                input_tokens: p.point.input_tokens,
                encoder: ms(m.encoder_ns?.median),
                first_step: ms(m.first_decoder_step_ns.median),
                prefill: ms(p.decoder_only.metrics.ttft_ns.median),
            })
        })
        .collect();
    cols.sort_by_key(|c| c.input_tokens);
    let top = cols.iter().map(|c| (c.encoder + c.first_step).max(c.prefill)).fold(0.0, f64::max);
    let (_, y1) = padded(0.0, top, false);
    let n = cols.len().max(1) as f64;
    let name = "ttft_split";
    let (ed, edd, dec) = (family_color(true, 0), family_color(true, 0).mix(0.45), family_color(false, 0));
    let point = format!(
        "{}, {}, {} threads, batch {}, {min_n} output tokens",
        first.pair, first.point.ep, first.point.threads, first.point.batch
    );
    let svg = super::render!(name, (WIDTH, HEIGHT), png, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(format!("Time to first token by part ({point})"), ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n, 0f64..y1)
            .map_err(|e| super::ce(name, e))?;
        c.configure_mesh()
            .x_labels(0)
            .x_desc("input tokens")
            .y_desc("median time (ms)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| super::ce(name, e))?;
        let labels: Vec<String> = cols.iter().map(|c| c.input_tokens.to_string()).collect();
        super::category_labels(&root, |v| c.backend_coord(&(v, 0.0)), &labels, false, false)
            .map_err(|e| super::ce(name, e))?;
        let bar = |i: usize, left: bool, y0: f64, y1: f64, color: RGBAColor| {
            let x = i as f64 + if left { 0.12 } else { 0.52 };
            Rectangle::new([(x, y0), (x + 0.36, y1)], color.filled())
        };
        c.draw_series(cols.iter().enumerate().map(|(i, k)| bar(i, true, 0.0, k.encoder, ed.to_rgba())))
            .map_err(|e| super::ce(name, e))?
            .label("encoder-decoder: encoder pass")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], ed.filled()));
        c.draw_series(cols.iter().enumerate().map(|(i, k)| bar(i, true, k.encoder, k.encoder + k.first_step, edd)))
            .map_err(|e| super::ce(name, e))?
            .label("encoder-decoder: first decoder step")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], edd.filled()));
        c.draw_series(cols.iter().enumerate().map(|(i, k)| bar(i, false, 0.0, k.prefill, dec.to_rgba())))
            .map_err(|e| super::ce(name, e))?
            .label("decoder-only: prefill")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], dec.filled()));
        super::legend(&mut c, SeriesLabelPosition::UpperLeft, name)?;
    });
    Ok(Some(Chart {
        name: name.into(),
        title: "TTFT by part".into(),
        caption: format!(
            "At each input length ({point}): the encoder-decoder's first token is its encoder pass (dark) and its first decoder step (light), medians of each part; the decoder-only's is one prefill over the whole prompt. Both the encoder pass and the prefill read the whole prompt once; the light part is what the encoder-decoder adds before its first token."
        ),
        svg,
    }))
}
