//! Decode throughput and TTFT against the weights' precision, for both families: drawn when the
//! results hold more than one precision. Each precision's models are a pair of their own
//! (`paper-int4`); here they are put back on one line per model of the base pair.

use slmbench_results::metric::Metric;
use slmbench_results::schema::CellResult;

use super::Chart;
use super::lines::{self, LineSpec};
use crate::error::ReportError;

/// Bits per weight of a precision name (`None`: not a precision this chart places).
pub fn bits(precision: &str) -> Option<f64> {
    match precision {
        "fp32" => Some(32.0),
        "fp16" | "bf16" => Some(16.0),
        "int8" => Some(8.0),
        "int4" => Some(4.0),
        _ => None,
    }
}

/// `paper-int4/decoder-only` → `paper/decoder-only` (the suffix a precision build adds); a fused
/// build keeps its graph: `paper-int4-fused` → `paper-fused`, a line of its own.
fn base(name: &str, precision: &str) -> String {
    let suffix = format!("-{precision}");
    let strip = |pair: &str| -> String {
        let (core, graph) = match pair.strip_suffix("-fused") {
            Some(core) => (core, "-fused"),
            None => (pair, ""),
        };
        format!("{}{graph}", core.strip_suffix(&suffix).unwrap_or(core))
    };
    match name.split_once('/') {
        Some((pair, rest)) => format!("{}/{rest}", strip(pair)),
        None => strip(name),
    }
}

pub fn charts(cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Vec<Chart>, ReportError> {
    let placed: Vec<&CellResult> =
        cells.iter().filter(|c| c.model.precision.as_deref().and_then(bits).is_some()).collect();
    let mut precisions: Vec<&str> = placed.iter().filter_map(|c| c.model.precision.as_deref()).collect();
    precisions.sort();
    precisions.dedup();
    if precisions.len() < 2 {
        return Ok(vec![]);
    }
    // One point of the sweep: batch 1 (else the smallest), the longest input and output.
    let b = placed.iter().map(|c| c.sweep.batch).min().unwrap_or(1);
    let p = placed.iter().filter(|c| c.sweep.batch == b).map(|c| c.sweep.input_tokens).max().unwrap_or(0);
    let n = placed.iter().filter(|c| c.sweep.batch == b).map(|c| c.sweep.output_tokens).max().unwrap_or(0);
    let at: Vec<CellResult> = placed
        .iter()
        .filter(|c| (c.sweep.batch, c.sweep.input_tokens, c.sweep.output_tokens) == (b, p, n))
        .map(|c| {
            let mut c = (*c).clone();
            let precision = c.model.precision.clone().unwrap_or_default();
            c.model.name = base(&c.model.name, &precision);
            c.model.pair = c.model.pair.as_deref().map(|t| base(t, &precision));
            c
        })
        .collect();
    let used: Vec<&CellResult> = at.iter().collect();
    let x = |c: &CellResult| c.model.precision.as_deref().and_then(bits).unwrap_or(f64::NAN);
    let decode = LineSpec {
        name: "decode_tps_vs_precision",
        caption: "Decode throughput vs weight precision",
        x_desc: "bits per weight (log scale)",
        x_unit: "bits per weight",
        y_desc: "decode tokens/s per sequence: median, 95% CI",
        log_x: true,
        x,
        y: |c| Metric::DecodeTokensPerS.summary(c).map(|s| (s.median, s.ci())),
    };
    let ttft = LineSpec {
        name: "ttft_vs_precision",
        caption: "Time to first token vs weight precision",
        x_desc: "bits per weight (log scale)",
        x_unit: "bits per weight",
        y_desc: "TTFT (ms): median, 95% CI",
        log_x: true,
        x,
        y: |c| Metric::Ttft.summary(c).map(|s| (s.median / 1e6, s.ci().map(|(lo, hi)| (lo / 1e6, hi / 1e6)))),
    };
    let point = format!("{p} input / {n} output tokens, batch {b}");
    Ok(vec![
        Chart {
            name: decode.name.into(),
            title: "Decode tokens/s vs precision".into(),
            caption: format!(
                "Median decode tokens/s at {point}, per weight precision ({}); bars are 95% confidence intervals. Each line is one model of a pair across its precision builds. Weight-only quantization reads fewer bytes per step: the slope shows how much of that turns into speed.",
                precisions.join(", ")
            ),
            svg: lines::draw(&decode, &used, png)?,
        },
        Chart {
            name: ttft.name.into(),
            title: "TTFT vs precision".into(),
            caption: format!(
                "Median time to first token at {point}, per weight precision. The prefill is compute-bound, so weight-only quantization changes it little."
            ),
            svg: lines::draw(&ttft, &used, png)?,
        },
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn base_names_drop_the_precision_suffix() {
        assert_eq!(super::base("paper-int4/decoder-only", "int4"), "paper/decoder-only");
        assert_eq!(super::base("paper/decoder-only", "fp32"), "paper/decoder-only");
        assert_eq!(super::base("mine-int8", "int8"), "mine");
        assert_eq!(super::base("paper-int4-fused/decoder-only", "int4"), "paper-fused/decoder-only");
        assert_eq!(super::base("paper-fused/encoder-decoder", "fp32"), "paper-fused/encoder-decoder");
    }
}
