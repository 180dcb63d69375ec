//! The Claims section: the paper's figures beside this run's, with the conditions of each and a
//! plain reading of where they agree, where they differ and why. The reading is a rule on each
//! ratio's 95% interval (nothing is said of a ratio without one), and the "why" sets the measured
//! ratio beside what the cells' own costs predict: the bytes a decode step reads and the FLOPs of
//! the first token, where the run recorded them.

use slmbench_results::schema::CellResult;

use super::markup::esc;
use crate::analysis::pairs::{PairedCell, Ratio, headline_cells, paired};
use crate::charts::ratio::{PAPER_THROUGHPUT_RATIO, PAPER_TTFT_RATIO};
use crate::read::ResultSet;

/// How a ratio's interval stands against the paper's figure, `lower_better` for TTFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The interval holds the paper's figure.
    Agrees,
    /// The encoder-decoder is better than the paper says.
    Larger,
    /// Better than the decoder-only, by less than the paper says.
    Smaller,
    /// The interval holds parity.
    NoDifference,
    /// The decoder-only is better here.
    Opposite,
    /// No interval: too few samples.
    NoConclusion,
}

impl Reading {
    pub fn of(r: &Ratio, paper: f64, lower_better: bool) -> Reading {
        let Some((lo, hi)) = r.ci() else { return Reading::NoConclusion };
        // Turned so that larger is better for the encoder-decoder.
        let (lo, hi, paper) = if lower_better { (1.0 / hi, 1.0 / lo, 1.0 / paper) } else { (lo, hi, paper) };
        if lo <= paper && paper <= hi {
            Reading::Agrees
        } else if lo > paper {
            Reading::Larger
        } else if lo > 1.0 {
            Reading::Smaller
        } else if hi >= 1.0 {
            Reading::NoDifference
        } else {
            Reading::Opposite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Reading::Agrees => "agrees",
            Reading::Larger => "larger",
            Reading::Smaller => "smaller",
            Reading::NoDifference => "no-difference",
            Reading::Opposite => "opposite",
            Reading::NoConclusion => "no-conclusion",
        }
    }

    fn text(self, r: &Ratio) -> String {
        match self {
            Reading::Agrees => "agrees: the paper's figure lies inside this run's 95% interval".into(),
            Reading::Larger => "the encoder-decoder's advantage here is larger than the paper's".into(),
            Reading::Smaller => "the encoder-decoder is ahead here, by less than the paper says".into(),
            Reading::NoDifference => "no significant difference here: the interval includes 1×".into(),
            Reading::Opposite => "differs: the decoder-only is ahead here".into(),
            Reading::NoConclusion => format!("no conclusion: {}; {}", r.shortfall_text(), r.advice()),
        }
    }
}

fn ratio_cell(r: &Ratio) -> String {
    match r.ci() {
        Some((lo, hi)) => format!("{:.2}× (95% CI {lo:.2}–{hi:.2}×)", r.value),
        None => format!("{:.2}× ({})", r.value, r.shortfall_text()),
    }
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

/// The cells' own costs behind a decode ratio: the bytes each decoder reads per step.
fn decode_why(p: &PairedCell, r: &Ratio) -> String {
    let bytes = |c: &CellResult| c.roofline.as_ref().and_then(|x| x.decode_bytes_per_step);
    let share = |c: &CellResult| c.roofline.as_ref().and_then(|x| x.decode_bandwidth_share);
    match (bytes(p.encoder_decoder), bytes(p.decoder_only)) {
        (Some(ed), Some(dec)) if ed > 0 => {
            let shares = match (share(p.encoder_decoder), share(p.decoder_only)) {
                (Some(a), Some(b)) => format!(
                    " They reached {:.0}% and {:.0}% of this host's measured memory bandwidth{}.",
                    a * 100.0,
                    b * 100.0,
                    if a.min(b) > 0.5 { ": decode is bandwidth-bound here" } else { "" }
                ),
                _ => String::new(),
            };
            format!(
                "A decode step reads {} (decoder-only) against {} (encoder-decoder: its decoder only, with the cross-attention cache): {:.2}× the bytes. Where decode is bandwidth-bound the speed-up follows that ratio; measured {:.2}×.{shares} The paper's 4.7× was measured on its own devices and model.",
                mb(dec),
                mb(ed),
                dec as f64 / ed as f64,
                r.value
            )
        }
        _ => "This run recorded no bytes per decode step (--no-roofline, or a provider other than the CPU), so the ratio is not set against its cause.".into(),
    }
}

/// The cells' own costs behind a TTFT ratio: the first token's FLOPs.
fn ttft_why(p: &PairedCell, r: &Ratio) -> String {
    let flops = |c: &CellResult| c.roofline.as_ref().and_then(|x| x.ttft_flops);
    let split = p.encoder_decoder.metrics.encoder_ns.map(|e| {
        format!(
            " The encoder-decoder's first token was {:.1} ms of encoder and {:.1} ms of first decoder step (medians), against a {:.1} ms prefill.",
            e.median / 1e6,
            p.encoder_decoder.metrics.first_decoder_step_ns.median / 1e6,
            p.decoder_only.metrics.ttft_ns.median / 1e6
        )
    });
    let cost = match (flops(p.encoder_decoder), flops(p.decoder_only)) {
        (Some(ed), Some(dec)) if dec > 0 => format!(
            "The first token costs {:.2} GFLOP (encoder-decoder) against {:.2} GFLOP (decoder-only): {:.2}×; a compute-bound prefill follows that ratio, measured {:.2}×.",
            ed as f64 / 1e9,
            dec as f64 / 1e9,
            ed as f64 / dec as f64,
            r.value
        ),
        _ => "This run recorded no first-token FLOPs, so the ratio is not set against its cost.".into(),
    };
    cost + &split.unwrap_or_default()
}

/// This run's conditions, in words.
fn conditions(p: &PairedCell) -> String {
    let c = p.encoder_decoder;
    let device = c.context.device_name.clone().map(|d| format!("{d}, ")).unwrap_or_default();
    let params =
        |c: &CellResult| c.model.params.map(|n| format!("{:.0} M", n as f64 / 1e6)).unwrap_or_else(|| "? M".into());
    format!(
        "{device}{} ({} cores); {} {}, {} threads, batch {}; {} {} weights; {} input / {} output tokens; {} vs {} parameters",
        p.key.machine.short(),
        c.context.cpu_logical_cores,
        c.settings.backend,
        p.point.ep,
        p.point.threads,
        p.point.batch,
        c.model.precision.as_deref().unwrap_or("fp32"),
        c.model.graph_variant.as_deref().unwrap_or("plain"),
        p.point.input_tokens,
        p.point.output_tokens,
        params(c),
        params(p.decoder_only)
    )
}

/// A claim's row: id, words, the paper's figure in words, this run's ratio, the paper's figure,
/// and whether lower is better.
type Row<'a> = (&'a str, &'a str, &'a str, Option<Ratio>, f64, bool);

const PAPER_CONDITIONS: &str = "edge devices, “across GPU, CPU and NPU platforms”; its ≈332M-parameter model \
    (20 encoder / 10 decoder layers, d_model 1024, 6 query × 3 KV heads of 64, FFN 4096) against a decoder-only \
    of the same size; its lengths and precision are the paper's own, not repeated here";

/// The section; empty when the results hold no pair.
pub fn section(set: &ResultSet) -> String {
    let pairs = paired(&set.cells, &set.ratios);
    let chosen = headline_cells(&pairs);
    if chosen.is_empty() {
        return String::new();
    }
    let mut h = String::from(
        "<section id=\"claims\"><h2>Claims</h2>\n<p>The paper's figures beside this run's, each pair at its longest \
         input and output (batch 1 where run). A reading is given only from a 95% interval: “agrees” when the paper's \
         figure lies inside it. The paper measured other devices and model sizes; where the two differ, the last \
         column says what this run's own costs predict.</p>\n<div class=\"scroll\"><table id=\"claims-table\"><thead><tr>\
         <th class=\"l\">pair</th><th class=\"l\">claim</th><th>paper</th><th>this run (ED/DO)</th><th class=\"l\">reading</th>\
         <th class=\"l\">why</th></tr></thead><tbody>\n",
    );
    let mut conds = String::new();
    for p in chosen {
        let rows: [Row; 3] = [
            ("ttft", "first-token latency", "47% lower (0.53×)", Some(p.ttft), PAPER_TTFT_RATIO, true),
            ("decode", "throughput: decode tokens/s", "4.7×", p.decode, PAPER_THROUGHPUT_RATIO, false),
            ("e2e", "throughput: end-to-end tokens/s", "4.7×", p.e2e, PAPER_THROUGHPUT_RATIO, false),
        ];
        for (id, claim, paper, r, figure, lower) in rows {
            let Some(r) = r else { continue };
            let reading = Reading::of(&r, figure, lower);
            let why = match id {
                "ttft" => ttft_why(p, &r),
                "decode" => decode_why(p, &r),
                _ => "N / (TTFT + Σ ITL): between the two ratios above, nearer the TTFT ratio for short outputs and the decode ratio for long ones.".into(),
            };
            h.push_str(&format!(
                "<tr data-pair=\"{}\" data-claim=\"{id}\" data-paper=\"{figure}\" data-run=\"{:.6}\" data-reading=\"{}\">\
                 <td class=\"l\">{}</td><td class=\"l\">{claim}</td><td>{paper}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>\n",
                esc(&p.pair),
                r.value,
                reading.name(),
                esc(&p.pair),
                esc(&ratio_cell(&r)),
                esc(&reading.text(&r)),
                esc(&why)
            ));
        }
        conds.push_str(&format!(
            "<dt>This run, {}</dt><dd class=\"run-conditions\">{}</dd>\n",
            esc(&p.pair),
            esc(&conditions(p))
        ));
    }
    h.push_str("</tbody></table></div>\n<dl class=\"conditions\">\n<dt>The paper</dt><dd class=\"paper-conditions\">");
    h.push_str(PAPER_CONDITIONS);
    h.push_str("</dd>\n");
    h.push_str(&conds);
    h.push_str("</dl></section>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(value: f64, lo: f64, hi: f64) -> Ratio {
        Ratio { value, low: Some(lo), high: Some(hi), shortfall: None }
    }

    #[test]
    fn readings_follow_the_interval() {
        // TTFT: lower is better; the paper says 0.53.
        assert_eq!(Reading::of(&r(0.55, 0.50, 0.60), 0.53, true), Reading::Agrees);
        assert_eq!(Reading::of(&r(0.40, 0.35, 0.45), 0.53, true), Reading::Larger);
        assert_eq!(Reading::of(&r(0.70, 0.65, 0.75), 0.53, true), Reading::Smaller);
        assert_eq!(Reading::of(&r(0.98, 0.90, 1.05), 0.53, true), Reading::NoDifference);
        assert_eq!(Reading::of(&r(1.30, 1.20, 1.40), 0.53, true), Reading::Opposite);
        // Throughput: higher is better; the paper says 4.7.
        assert_eq!(Reading::of(&r(4.5, 4.0, 5.0), 4.7, false), Reading::Agrees);
        assert_eq!(Reading::of(&r(2.3, 2.1, 2.5), 4.7, false), Reading::Smaller);
        assert_eq!(Reading::of(&r(6.0, 5.5, 6.5), 4.7, false), Reading::Larger);
        assert_eq!(Reading::of(&r(0.8, 0.7, 0.9), 4.7, false), Reading::Opposite);
        let none = Ratio { value: 0.5, low: None, high: None, shortfall: None };
        assert_eq!(Reading::of(&none, 0.53, true), Reading::NoConclusion);
    }
}
