//! GitHub-flavoured Markdown table, fit for a pull-request comment or a CI job summary.

use super::Exporter;
use crate::schema::{CellResult, FailedCell};
use crate::table;

pub struct Markdown;

fn cell_text(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The table printed at the end of every run: the Markdown view of [`crate::table::COLUMNS`].
pub fn table(cells: &[CellResult]) -> String {
    let cols: Vec<_> = table::view(|c| c.markdown).collect();
    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = row(cols.iter().map(|(h, _)| h.to_string()).collect());
    out += &format!("|{}\n", cols.iter().map(|(_, c)| if c.text { " --- |" } else { " ---: |" }).collect::<String>());
    for cell in cells {
        out += &row(cols.iter().map(|(_, c)| cell_text(&table::shown(c, cell))).collect());
    }
    out
}

/// Each variant's drift against its fp32 plain build; empty when no model has one.
pub fn accuracy(cells: &[CellResult]) -> String {
    let rows = crate::schema::measured_accuracy(cells);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n**Accuracy against the fp32 plain build** (teacher-forced)\n\n         | model | precision | graph | reference | positions | top-1 agreement | max abs logit diff | max rel logit diff |\n         | --- | --- | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for (m, a) in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1}% | {:.4} | {:.2}% |\n",
            cell_text(&m.name),
            m.precision.as_deref().unwrap_or("–"),
            m.graph_variant.as_deref().unwrap_or("–"),
            cell_text(&a.reference),
            a.positions,
            a.top1_agreement * 100.0,
            a.max_abs_logit_diff,
            a.max_rel_logit_diff * 100.0
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
