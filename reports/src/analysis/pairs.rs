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
use slmbench_results::pair_ratio::PairRatio;
use slmbench_results::paired::RatioEstimate;
use slmbench_results::schema::CellResult;
use slmbench_results::stats::{Shortfall, Summary};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    pub value: f64,
    /// The 95% interval; `None` (null) when a median has too few samples for one.
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Without an interval: the samples there were and the samples one needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<Shortfall>,
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
        Ratio {
            value: num.median / den.median,
            low: ci.map(|c| c.0),
            high: ci.map(|c| c.1),
            shortfall: ci.is_none().then(|| Shortfall::repetitions(num.n.min(den.n))),
        }
    }

    pub fn ci(&self) -> Option<(f64, f64)> {
        self.low.zip(self.high)
    }

    /// A pair ratio of `blocks` blocks, measured interleaved.
    pub fn from_estimate(r: &RatioEstimate, blocks: usize) -> Ratio {
        let shortfall = r.ci().is_none().then(|| slmbench_results::paired::shortfall(blocks));
        Ratio { value: r.value, low: r.low, high: r.high, shortfall }
    }

    /// What the ratio lacks for an interval (`n too small: 6 of 10 blocks`).
    pub fn shortfall_text(&self) -> String {
        self.shortfall.map_or_else(|| "n too small".into(), |s| s.short())
    }

    /// What would give the ratio an interval, for a sentence.
    pub fn advice(&self) -> String {
        self.shortfall.map_or_else(|| "measure more repetitions".into(), |s| s.advice())
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

use slmbench_results::identity::{Identity, PartnerKey, Point};

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
    /// Decode tokens/s per sequence encoder-decoder / decoder-only (above 1: the encoder-decoder is faster).
    pub decode: Option<Ratio>,
    /// The ratio record when the two were measured interleaved (the ratios above are its own).
    pub interleaved: Option<&'a PairRatio>,
    /// Everything the two cells share ([`Identity::partner_key`]): machine, runtime, variant,
    /// settings and point.
    pub key: PartnerKey,
}

impl PairedCell<'_> {
    /// Everything the pair's point shares with the other lengths of its sweep: its partner key
    /// with the lengths left out. A chart over lengths draws the cells of one setting.
    pub fn setting(&self) -> PartnerKey {
        let mut k = self.key.clone();
        (k.point.input_tokens, k.point.output_tokens) = (0, 0);
        k
    }
}

/// Encoder-decoder cells with their decoder-only partners; the ratios of an interleaved pair come
/// from its record in `ratios`. Partners share everything but the model ([`PartnerKey`]): the
/// machine, the runtime and its version, the precision, graph variant and shapes, every setting
/// and the sweep point; cells of two machines or settings are never set against each other.
pub fn paired<'a>(cells: &'a [CellResult], ratios: &'a [PairRatio]) -> Vec<PairedCell<'a>> {
    let mut decoder_only: std::collections::HashMap<PartnerKey, &CellResult> = std::collections::HashMap::new();
    for c in cells
        .iter()
        .filter(|c| c.model.kind == slmbench_results::model::ModelKind::DecoderOnly && c.model.pair.is_some())
    {
        decoder_only.entry(Identity::of(c).partner_key()).or_insert(c);
    }
    let mut out = Vec::new();
    for ed in cells.iter().filter(|c| c.model.kind == slmbench_results::model::ModelKind::EncoderDecoder) {
        let Some(tag) = &ed.model.pair else { continue };
        let key = Identity::of(ed).partner_key();
        let p = key.point.clone();
        if let Some(&dec) = decoder_only.get(&key) {
            let of = |m: Metric| match (m.summary(ed), m.summary(dec)) {
                (Some(a), Some(b)) => Some(Ratio::of(&a, &b)),
                _ => None,
            };
            let (e2e, decode) = (of(Metric::E2eTokensPerS), of(Metric::DecodeTokensPerS));
            let record = ratios
                .iter()
                .find(|r| ed.is_named_by(r, &r.encoder_decoder_cell) && dec.is_named_by(r, &r.decoder_only_cell));
            out.push(PairedCell {
                pair: tag.clone(),
                point: p,
                encoder_decoder: ed,
                decoder_only: dec,
                ttft: record.map_or_else(
                    || Ratio::of(&ed.metrics.ttft_ns, &dec.metrics.ttft_ns),
                    |r| Ratio::from_estimate(&r.ttft, r.blocks),
                ),
                e2e: match record {
                    Some(r) => r.e2e_tokens_per_s.as_ref().map(|e| Ratio::from_estimate(e, r.blocks)),
                    None => e2e,
                },
                decode: match record {
                    Some(r) => r.decode_tokens_per_s.as_ref().map(|e| Ratio::from_estimate(e, r.blocks)),
                    None => decode,
                },
                interleaved: record,
                key,
            });
        }
    }
    out.sort_by(|a, b| (&a.pair, &a.key).cmp(&(&b.pair, &b.key)));
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
    /// The machine it was measured on, named when the results hold more than one (each machine
    /// has its own headline: nothing is pooled across them).
    pub machine: Option<String>,
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
             ({} for a 95% CI: {}; no conclusion)",
            r.value,
            r.shortfall_text(),
            r.advice()
        ),
    }
}

pub fn e2e_sentence(r: &Ratio, p: &Point) -> String {
    let ci = match r.ci() {
        Some((lo, hi)) => format!("95% CI {lo:.2}–{hi:.2}×"),
        None => format!("{} for a 95% CI", r.shortfall_text()),
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

/// The cell each pair and machine is summed up by: the longest input (then output), batch 1
/// where there is one. The headline and the Claims section both read these.
pub fn headline_cells<'p, 'a>(pairs: &'p [PairedCell<'a>]) -> Vec<&'p PairedCell<'a>> {
    let mut groups: Vec<(&String, &slmbench_results::identity::Machine)> =
        pairs.iter().map(|p| (&p.pair, &p.key.machine)).collect();
    groups.sort();
    groups.dedup();
    groups
        .iter()
        .filter_map(|&(tag, machine)| {
            pairs
                .iter()
                .filter(|p| &p.pair == tag && &p.key.machine == machine)
                .max_by_key(|p| (p.point.batch == 1, p.point.input_tokens, p.point.output_tokens))
        })
        .collect()
}

pub fn headlines(cells: &[CellResult], ratios: &[PairRatio]) -> Vec<Headline> {
    let pairs = paired(cells, ratios);
    let several = slmbench_results::identity::machines(cells.iter().map(|c| &c.context)).len() > 1;
    headline_cells(&pairs)
        .into_iter()
        .map(|p| Headline {
            pair: p.pair.clone(),
            point: p.point.clone(),
            ttft: p.ttft,
            e2e: p.e2e,
            ttft_text: ttft_sentence(&p.ttft, p.point.input_tokens),
            e2e_text: p.e2e.as_ref().map(|r| e2e_sentence(r, &p.point)),
            method_text: method_sentence(p),
            machine: several.then(|| p.key.machine.to_string()),
        })
        .collect()
}
