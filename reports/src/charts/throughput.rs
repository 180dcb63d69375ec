//! Decode and end-to-end tokens/s against output length, at the longest input length run.

use slmbench_results::metric::Metric;
use slmbench_results::schema::CellResult;

use super::Chart;
use super::lines::{self, LineSpec};
use crate::error::ReportError;

pub fn charts(cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Vec<Chart>, ReportError> {
    let max_p = cells.iter().map(|c| c.sweep.input_tokens).max().unwrap_or(0);
    let used: Vec<&CellResult> = cells.iter().filter(|c| c.sweep.input_tokens == max_p).collect();
    let decode = LineSpec {
        name: "decode_tps_vs_output",
        caption: "Decode throughput vs output length",
        x_desc: "output tokens (log scale)",
        y_desc: "decode tokens/s per sequence: median, 95% CI",
        x_unit: "output tokens",
        log_x: true,
        x: |c| c.sweep.output_tokens as f64,
        y: |c| Metric::DecodeTokensPerS.summary(c).map(|s| (s.median, s.ci())),
    };
    let e2e = LineSpec {
        name: "e2e_tps_vs_output",
        caption: "End-to-end throughput vs output length",
        x_desc: "output tokens (log scale)",
        y_desc: "end-to-end tokens/s per sequence: median, 95% CI",
        x_unit: "output tokens",
        log_x: true,
        x: |c| c.sweep.output_tokens as f64,
        y: |c| Metric::E2eTokensPerS.summary(c).map(|s| (s.median, s.ci())),
    };
    Ok(vec![
        Chart {
            name: decode.name.into(),
            title: "Decode tokens/s vs output length".into(),
            caption: format!(
                "Tokens per second after the first, at {max_p} input tokens; bars from the 95% CI of the median inter-token latency."
            ),
            svg: lines::draw(&decode, &used, png)?,
        },
        Chart {
            name: e2e.name.into(),
            title: "End-to-end tokens/s vs output length".into(),
            caption: format!(
                "N / (TTFT + Σ ITL) at {max_p} input tokens: the throughput a user waiting for the whole answer sees."
            ),
            svg: lines::draw(&e2e, &used, png)?,
        },
    ])
}
