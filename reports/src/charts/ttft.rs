//! TTFT against input length.

use slmbench_results::schema::CellResult;

use super::Chart;
use super::lines::{self, LineSpec};
use crate::error::ReportError;

pub fn chart(cells: &[CellResult], png: Option<&std::path::Path>) -> Result<Chart, ReportError> {
    // TTFT does not depend on the output length: use the shortest that was run.
    let min_n = cells.iter().map(|c| c.sweep.output_tokens).min().unwrap_or(0);
    let used: Vec<&CellResult> = cells.iter().filter(|c| c.sweep.output_tokens == min_n).collect();
    let spec = LineSpec {
        name: "ttft_vs_input",
        caption: "Time to first token vs input length",
        x_desc: "input tokens (log scale)",
        y_desc: "TTFT (ms): median, 95% CI",
        x_unit: "input tokens",
        log_x: true,
        x: |c| c.sweep.input_tokens as f64,
        y: |c| {
            let s = &c.metrics.ttft_ns;
            Some((s.median / 1e6, s.ci().map(|(lo, hi)| (lo / 1e6, hi / 1e6))))
        },
    };
    Ok(Chart {
        name: spec.name.into(),
        title: "TTFT vs input length".into(),
        caption: format!(
            "Median time to first token ({min_n} output tokens); bars are 95% confidence intervals. Encoder-decoder blue (or green) solid with circles, decoder-only red (or orange) dashed with triangles. Where the lines part is where the encoder-decoder's advantage appears; with one input length each model is one dot."
        ),
        svg: lines::draw(&spec, &used, png)?,
    })
}
