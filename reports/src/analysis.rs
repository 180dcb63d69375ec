//! Pairing encoder-decoder and decoder-only cells, and their ratios with confidence intervals.
//!
//! A pair measured side by side (interleaved repetitions) has its own ratio record, whose paired
//! interval ([`slmbench_results::paired`]) is used as it is. Otherwise (cells measured one after
//! the other) a ratio of two medians gets the conservative interval from the two medians' 95% intervals:
//! [low₁ / high₂, high₁ / low₂]. It is wider than a joint interval would be, never narrower. When
//! either median has too few samples for an interval, so has the ratio ("n too small"), and no
//! sentence calls one model sooner or faster unless the whole interval lies on one side of 1.

use serde::Serialize;
use slmbench_results::metric::Metric;
use slmbench_results::paired::RatioEstimate;
use slmbench_results::schema::{CellResult, PairRatio};
use slmbench_results::stats::Summary;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    pub value: f64,
    /// The 95% interval; `None` (null) when a median has too few samples for one.
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// What a ratio's interval says about "below 1".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Below,
    Above,
    /// The interval contains 1.
    Spans,
    /// No interval: too few samples.
    NTooSmall,
}

impl Ratio {
    pub fn of(num: &Summary, den: &Summary) -> Ratio {
        let ci = num.ci().zip(den.ci()).map(|((nl, nh), (dl, dh))| (nl / dh, nh / dl));
        Ratio { value: num.median / den.median, low: ci.map(|c| c.0), high: ci.map(|c| c.1) }
    }

    pub fn ci(&self) -> Option<(f64, f64)> {
        self.low.zip(self.high)
    }

    pub fn from_estimate(r: &RatioEstimate) -> Ratio {
        Ratio { value: r.value, low: r.low, high: r.high }
    }

    pub fn side(&self) -> Side {
        match self.ci() {
            None => Side::NTooSmall,
            Some((_, hi)) if hi < 1.0 => Side::Below,
            Some((lo, _)) if lo > 1.0 => Side::Above,
            Some(_) => Side::Spans,
        }
    }
}

pub use slmbench_results::table::{Point, cell_name, point, point_name};

/// An encoder-decoder cell and its decoder-only partner at the same point.
#[derive(Debug, Clone)]
pub struct PairedCell<'a> {
    pub pair: String,
    pub point: Point,
    pub encoder_decoder: &'a CellResult,
    pub decoder_only: &'a CellResult,
    /// TTFT encoder-decoder / decoder-only (below 1: the encoder-decoder is sooner).
    pub ttft: Ratio,
    /// End-to-end throughput encoder-decoder / decoder-only (above 1: the encoder-decoder is faster).
    pub e2e: Option<Ratio>,
    /// The ratio record when the two were measured interleaved (the ratios above are its own).
    pub interleaved: Option<&'a PairRatio>,
}

/// Encoder-decoder cells with their decoder-only partners; the ratios of an interleaved pair come
/// from its record in `ratios`.
pub fn paired<'a>(cells: &'a [CellResult], ratios: &'a [PairRatio]) -> Vec<PairedCell<'a>> {
    let mut out = Vec::new();
    for ed in cells.iter().filter(|c| c.model.kind == "encoder-decoder") {
        let Some(tag) = &ed.model.pair else { continue };
        let p = point(ed);
        // Same pair tag, backend, point (provider, threads, lengths), and weight precision and
        // graph variant where both records say them: an fp32 encoder-decoder is never set against
        // an int8 decoder-only, nor a plain graph against a fused one.
        let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
            // Older records do not say; they pair as before.
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let partner = cells.iter().find(|c| {
            c.model.kind == "decoder-only"
                && c.model.pair.as_ref() == Some(tag)
                && point(c) == p
                && c.settings.backend == ed.settings.backend
                && same(&c.model.precision, &ed.model.precision)
                && same(&c.model.graph_variant, &ed.model.graph_variant)
        });
        if let Some(dec) = partner {
            let e2e = match (Metric::E2eTokensPerS.summary(ed), Metric::E2eTokensPerS.summary(dec)) {
                (Some(a), Some(b)) => Some(Ratio::of(&a, &b)),
                _ => None,
            };
            let record =
                ratios.iter().find(|r| r.encoder_decoder_cell == ed.cell_id && r.decoder_only_cell == dec.cell_id);
            out.push(PairedCell {
                pair: tag.clone(),
                point: p,
                encoder_decoder: ed,
                decoder_only: dec,
                ttft: record.map_or_else(
                    || Ratio::of(&ed.metrics.ttft_ns, &dec.metrics.ttft_ns),
                    |r| Ratio::from_estimate(&r.ttft),
                ),
                e2e: match record {
                    Some(r) => r.e2e_tokens_per_s.as_ref().map(Ratio::from_estimate),
                    None => e2e,
                },
                interleaved: record,
            });
        }
    }
    out.sort_by(|a, b| (&a.pair, &a.point).cmp(&(&b.pair, &b.point)));
    out
}

/// The claim at a glance, per pair: the point with the longest input (then output), batch 1
/// where there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    pub pair: String,
    pub point: Point,
    pub ttft: Ratio,
    pub e2e: Option<Ratio>,
    pub ttft_text: String,
    pub e2e_text: Option<String>,
    /// How the two were measured, in words.
    pub method_text: String,
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The TTFT ratio in words: "sooner" or "later" only when the whole interval says so.
pub fn ttft_sentence(r: &Ratio, input_tokens: usize) -> String {
    match (r.side(), r.ci()) {
        (Side::Below, Some((lo, hi))) => format!(
            "encoder-decoder reached the first token {} sooner at {input_tokens} input tokens (95% CI {}–{})",
            pct(1.0 - r.value),
            pct(1.0 - hi),
            pct(1.0 - lo)
        ),
        (Side::Above, Some((lo, hi))) => format!(
            "encoder-decoder reached the first token {} later at {input_tokens} input tokens (95% CI {}–{})",
            pct(r.value - 1.0),
            pct(lo - 1.0),
            pct(hi - 1.0)
        ),
        (_, Some((lo, hi))) => format!(
            "no significant difference in time to first token at {input_tokens} input tokens: \
             encoder-decoder / decoder-only {:.2}× (95% CI {lo:.2}–{hi:.2}×, which includes 1×)",
            r.value
        ),
        (_, None) => format!(
            "encoder-decoder / decoder-only time to first token {:.2}× at {input_tokens} input tokens \
             (n too small for a 95% CI: measure at least 6 repetitions; no conclusion)",
            r.value
        ),
    }
}

pub fn e2e_sentence(r: &Ratio, p: &Point) -> String {
    let ci = match r.ci() {
        Some((lo, hi)) => format!("95% CI {lo:.2}–{hi:.2}×"),
        None => "n too small for a 95% CI".into(),
    };
    let verdict = match r.side() {
        Side::Above => "higher",
        Side::Below => "lower",
        Side::Spans => "not significantly different",
        Side::NTooSmall => "no conclusion",
    };
    format!(
        "encoder-decoder end-to-end throughput was {:.2}× the decoder-only's at {} input / {} output tokens ({ci}; {verdict})",
        r.value, p.input_tokens, p.output_tokens
    )
}

/// How a pair's ratio was measured, in words.
pub fn method_sentence(p: &PairedCell) -> String {
    match p.interleaved {
        Some(r) => format!(
            "measured side by side: {} blocks of one repetition each, in {} order; the interval resamples the blocks",
            r.blocks,
            if r.order == "abba" { "ABBA" } else { "seeded random" }
        ),
        None => "measured one model after the other; drift of the machine between the two cells is in the ratio \
                 (run with --order interleaved for a paired interval)"
            .into(),
    }
}

pub fn headlines(cells: &[CellResult], ratios: &[PairRatio]) -> Vec<Headline> {
    let pairs = paired(cells, ratios);
    let mut tags: Vec<&String> = pairs.iter().map(|p| &p.pair).collect();
    tags.dedup();
    tags.iter()
        .filter_map(|tag| {
            pairs
                .iter()
                .filter(|p| &&p.pair == tag)
                .max_by_key(|p| (p.point.batch == 1, p.point.input_tokens, p.point.output_tokens))
                .map(|p| Headline {
                    pair: p.pair.clone(),
                    point: p.point.clone(),
                    ttft: p.ttft,
                    e2e: p.e2e,
                    ttft_text: ttft_sentence(&p.ttft, p.point.input_tokens),
                    e2e_text: p.e2e.as_ref().map(|r| e2e_sentence(r, &p.point)),
                    method_text: method_sentence(p),
                })
        })
        .collect()
}
