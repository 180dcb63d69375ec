//! CSV: one row per cell of the headline numbers (raw samples stay in the JSON formats).

use super::Exporter;
use crate::schema::CellResult;

pub struct Csv;

const COLUMNS: &[&str] = &[
    "cell_id",
    "model",
    "pair",
    "kind",
    "layout",
    "ep",
    "threads",
    "batch",
    "input_tokens",
    "output_tokens",
    "repetitions",
    "ttft_ms_median",
    "ttft_ms_ci95_low",
    "ttft_ms_ci95_high",
    "encoder_ms_median",
    "itl_ms_median",
    "itl_ms_p90",
    "decode_tokens_per_s",
    "e2e_tokens_per_s",
    "prefill_tokens_per_s",
    "session_load_ms",
    "peak_rss_bytes",
    "harness_overhead_ratio",
    "ort_version",
];

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

impl Exporter for Csv {
    fn header(&self) -> Vec<u8> {
        format!("{}\n", COLUMNS.join(",")).into_bytes()
    }

    fn cell(&self, c: &CellResult) -> Option<Vec<u8>> {
        let m = &c.metrics;
        let row = [
            c.cell_id.clone(),
            c.model.name.clone(),
            c.model.pair.clone().unwrap_or_default(),
            c.model.kind.clone(),
            serde_json::to_value(c.model.layout).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            c.settings.ep_used.to_string(),
            c.settings.threads.to_string(),
            c.sweep.batch.to_string(),
            c.sweep.input_tokens.to_string(),
            c.sweep.output_tokens.to_string(),
            c.repetitions.measured.to_string(),
            format!("{}", m.ttft_ns.median / 1e6),
            opt(m.ttft_ns.ci95_low.map(|x| x / 1e6)),
            opt(m.ttft_ns.ci95_high.map(|x| x / 1e6)),
            opt(m.encoder_ns.map(|s| s.median / 1e6)),
            opt(m.itl_ns.map(|s| s.median / 1e6)),
            opt(m.itl_ns.map(|s| s.p90 / 1e6)),
            opt(m.decode_tokens_per_s),
            format!("{}", m.e2e_tokens_per_s),
            format!("{}", m.prefill_tokens_per_s),
            format!("{}", m.session_load_ns as f64 / 1e6),
            m.peak_rss_bytes.map(|b| b.to_string()).unwrap_or_default(),
            opt(m.harness_overhead_ratio),
            c.context.ort_version.clone(),
        ];
        Some(format!("{}\n", row.iter().map(|s| field(s)).collect::<Vec<_>>().join(",")).into_bytes())
    }
}
