//! GitHub-flavoured Markdown table, fit for a pull-request comment or a CI job summary.

use super::{Exporter, ms};
use crate::schema::{CellResult, FailedCell};

pub struct Markdown;

fn cell_text(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A median's interval in ms, or "n too small" where there are too few samples for one.
pub fn ci_ms(s: &crate::stats::Summary) -> String {
    match s.ci() {
        Some((lo, hi)) => format!("{}–{}", ms(lo), ms(hi)),
        None => "n too small".into(),
    }
}

/// The table printed at the end of every run.
pub fn table(cells: &[CellResult]) -> String {
    let mut out = String::from(
        "| model | kind | ep | t | b | in | out | TTFT ms (95% CI) | encoder ms | ITL ms | decode tok/s | e2e tok/s | reps |\n\
         | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for c in cells {
        let m = &c.metrics;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {:.1} | {} |\n",
            cell_text(&c.model.name),
            cell_text(&c.model.kind),
            c.settings.ep_used,
            c.settings.threads,
            c.sweep.batch,
            c.sweep.input_tokens,
            c.sweep.output_tokens,
            ms(m.ttft_ns.median),
            ci_ms(&m.ttft_ns),
            m.encoder_ns.map(|s| ms(s.median)).unwrap_or_else(|| "–".into()),
            m.itl_ns.map(|s| ms(s.median)).unwrap_or_else(|| "–".into()),
            m.decode_tokens_per_s.map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".into()),
            m.e2e_tokens_per_s,
            c.repetitions.measured,
        ));
    }
    out
}

/// The cells that failed, with their errors; empty when none did.
pub fn failures(failed: &[FailedCell]) -> String {
    if failed.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n**{} failed cell{}**\n\n| model | ep | t | b | in | out | failure | error |\n\
         | --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" }
    );
    for f in failed {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell_text(&f.model.name),
            f.settings.ep_requested,
            f.settings.threads,
            f.sweep.batch,
            f.sweep.input_tokens,
            f.sweep.output_tokens,
            f.failure.name(),
            cell_text(&f.error),
        ));
    }
    out
}

impl Exporter for Markdown {
    fn finish(&self, cells: &[CellResult], failed: &[FailedCell]) -> Vec<u8> {
        (table(cells) + &failures(failed)).into_bytes()
    }
}
