//! How an interleaved pair's ratios moved between two runs (what `compare` and `gate` say about
//! them when both sides measured the pair side by side).
//!
//! The change of a ratio is current / base − 1, with the conservative interval from the two
//! paired intervals: [low꜀ / high_b, high꜀ / low_b] − 1. The TTFT ratio getting larger, or the
//! throughput ratio smaller, means the encoder-decoder's advantage shrank.

use serde::Serialize;
use slmbench_results::identity::{Point, point_name};
use slmbench_results::paired::RatioEstimate;

use crate::analysis::pairs::PairedCell;

#[derive(Debug, Clone, Serialize)]
pub struct RatioChange {
    pub pair: String,
    /// Precision and graph variant, e.g. `fp32 plain`.
    pub variant: String,
    pub point: Point,
    /// `ttft_ratio` or `e2e_tokens_per_s_ratio`.
    pub metric: &'static str,
    pub base: RatioEstimate,
    pub current: RatioEstimate,
    /// Blocks of each side's pair cell (what an interval needs is counted in them).
    pub base_blocks: usize,
    pub current_blocks: usize,
    /// current / base − 1 with its interval (null: a side has no interval).
    pub change: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Whether a smaller ratio favours the encoder-decoder (TTFT).
    pub lower_favours_encoder_decoder: bool,
}

impl RatioChange {
    /// Whether the encoder-decoder's advantage shrank by more than `threshold` (the whole
    /// interval beyond it), grew by more, or neither.
    pub fn shift(&self, threshold: f64) -> Option<Shift> {
        let (lo, hi) = self.low.zip(self.high)?;
        let (worse, better) = if self.lower_favours_encoder_decoder {
            (lo > threshold, hi < -threshold)
        } else {
            (hi < -threshold, lo > threshold)
        };
        Some(if worse {
            Shift::AdvantageShrank
        } else if better {
            Shift::AdvantageGrew
        } else {
            Shift::NoSignificantChange
        })
    }

    /// The row's name, as gate and compare print it.
    pub fn name(&self) -> String {
        format!("pair {} ({})", point_name(&self.pair, &self.point), self.variant)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Shift {
    AdvantageShrank,
    AdvantageGrew,
    NoSignificantChange,
}

impl Shift {
    pub fn text(self) -> &'static str {
        match self {
            Shift::AdvantageShrank => "encoder-decoder advantage shrank",
            Shift::AdvantageGrew => "encoder-decoder advantage grew",
            Shift::NoSignificantChange => "no significant change",
        }
    }
}

fn variant(p: &PairedCell) -> String {
    let m = &p.encoder_decoder.model;
    format!("{} {}", m.precision.as_deref().unwrap_or("–"), m.graph_variant.as_deref().unwrap_or("–"))
}

/// What a pair's ratio is matched on across two runs: its partner key without the machine and the
/// runtime's version (pair, backend, variant, settings, point).
fn across_runs<'a>(p: &'a PairedCell<'_>) -> (&'a Option<String>, &'a String, &'a String, &'a Point) {
    (&p.key.pair, &p.key.backend, &p.key.variant, &p.key.point)
}

/// The change of every ratio both sides measured interleaved, matched on pair, backend, variant,
/// settings and point.
pub fn ratio_changes(base: &[PairedCell], current: &[PairedCell]) -> Vec<RatioChange> {
    let mut out = vec![];
    for b in base.iter().filter(|p| p.interleaved.is_some()) {
        let Some(c) = current.iter().find(|c| c.interleaved.is_some() && across_runs(c) == across_runs(b)) else {
            continue;
        };
        let (rb, rc) = (b.interleaved.expect("filtered"), c.interleaved.expect("filtered"));
        let metrics = [
            ("ttft_ratio", Some(rb.ttft), Some(rc.ttft), true),
            ("e2e_tokens_per_s_ratio", rb.e2e_tokens_per_s, rc.e2e_tokens_per_s, false),
        ];
        for (metric, x, y, lower) in metrics {
            let (Some(x), Some(y)) = (x, y) else { continue };
            let ci = x.ci().zip(y.ci()).map(|((bl, bh), (cl, ch))| (cl / bh - 1.0, ch / bl - 1.0));
            out.push(RatioChange {
                pair: b.pair.clone(),
                variant: variant(b),
                point: b.point.clone(),
                metric,
                base: x,
                current: y,
                base_blocks: rb.blocks,
                current_blocks: rc.blocks,
                change: y.value / x.value - 1.0,
                low: ci.map(|c| c.0),
                high: ci.map(|c| c.1),
                lower_favours_encoder_decoder: lower,
            });
        }
    }
    out
}

/// Markdown rows of ratio changes (empty without any), judged against `threshold(metric)`.
pub fn markdown(changes: &[RatioChange], threshold: impl Fn(&str) -> f64) -> String {
    if changes.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n**Pair ratios measured interleaved on both sides** (encoder-decoder / decoder-only)\n\n\
         | pair | ratio | base | current | change (95% CI) | verdict |\n| --- | --- | ---: | ---: | ---: | --- |\n",
    );
    for c in changes {
        let fmt = |r: &RatioEstimate, blocks| slmbench_results::export::markdown::ratio_text(r, blocks);
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:+.1}% ({}) | {} |\n",
            c.name().replace('|', "\\|"),
            c.metric,
            fmt(&c.base, c.base_blocks),
            fmt(&c.current, c.current_blocks),
            c.change * 100.0,
            match c.low.zip(c.high) {
                Some((lo, hi)) => format!("{:+.1}% … {:+.1}%", lo * 100.0, hi * 100.0),
                None => "n too small".into(),
            },
            c.shift(threshold(c.metric)).map_or("n too small", Shift::text)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(metric: &'static str, lower: bool, lo: f64, hi: f64) -> RatioChange {
        let r = RatioEstimate { value: 1.0, low: Some(0.9), high: Some(1.1) };
        let point = Point { ep: "cpu".into(), threads: 2, batch: 1, input_tokens: 128, output_tokens: 32 };
        RatioChange {
            pair: "p".into(),
            variant: "fp32 plain".into(),
            point,
            metric,
            base: r,
            current: r,
            base_blocks: 12,
            current_blocks: 12,
            change: (lo + hi) / 2.0,
            low: Some(lo),
            high: Some(hi),
            lower_favours_encoder_decoder: lower,
        }
    }

    #[test]
    fn direction_of_a_ratio_shift() {
        // TTFT ratio up 10–20%: the encoder-decoder lost ground.
        assert_eq!(change("ttft_ratio", true, 0.10, 0.20).shift(0.05), Some(Shift::AdvantageShrank));
        assert_eq!(change("ttft_ratio", true, -0.20, -0.10).shift(0.05), Some(Shift::AdvantageGrew));
        // Throughput ratio down: lost ground.
        assert_eq!(change("e2e_tokens_per_s_ratio", false, -0.20, -0.10).shift(0.05), Some(Shift::AdvantageShrank));
        // Inside the threshold, or spanning it: no verdict either way.
        assert_eq!(change("ttft_ratio", true, 0.02, 0.20).shift(0.05), Some(Shift::NoSignificantChange));
        let mut none = change("ttft_ratio", true, 0.0, 0.0);
        none.low = None;
        assert_eq!(none.shift(0.05), None);
    }
}
