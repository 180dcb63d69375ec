//! GitHub-flavoured Markdown table, fit for a pull-request comment or a CI job summary.

use super::Exporter;
use crate::pair_ratio::PairRatio;
use crate::paired::RatioEstimate;
use crate::schema::{CellResult, FailedCell, Kept};
use crate::table;

pub struct Markdown;

fn cell_text(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The table printed at the end of every run: the Markdown view of [`crate::table::COLUMNS`].
pub fn table(cells: &[CellResult]) -> String {
    let cols: Vec<_> = table::view_of(|c| c.markdown, cells).collect();
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

/// Runtimes side by side (`crate::backends::compare`): each backend's median TTFT and decode
/// throughput at a point, and its ratio to the reference backend's; empty when no model ran on
/// two backends.
pub fn backends(cells: &[CellResult]) -> String {
    let rows = crate::backends::compare(cells);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n**Backends** (the same model and point on each runtime; measured one after the other, so each TTFT \
         ratio's interval is the conservative one from the two medians')\n\n\
         | cell | backend | TTFT ms | decode tok/s | TTFT vs reference (lower = sooner) | decode tok/s vs reference (higher = faster) |\n\
         | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for r in &rows {
        out.push_str(&format!(
            "| {} | {} | {:.3} | {} | {} | {} |\n",
            cell_text(&r.what),
            cell_text(&r.backend),
            r.ttft_ms,
            r.decode_tokens_per_s.map(|d| format!("{d:.1}")).unwrap_or_else(|| "–".into()),
            r.ttft_text(),
            r.decode_text()
        ));
    }
    out
}

/// The cells that failed, with their errors; empty when none did.
/// The warnings cells carry (placement off the requested provider, an unmatched pair), each text
/// once with how many cells it concerns; empty when none has one.
pub fn warnings(cells: &[CellResult]) -> String {
    let mut by_text: Vec<(&str, usize)> = vec![];
    for w in cells.iter().flat_map(|c| &c.warnings) {
        match by_text.iter_mut().find(|(t, _)| *t == w.as_str()) {
            Some((_, n)) => *n += 1,
            None => by_text.push((w, 1)),
        }
    }
    by_text
        .iter()
        .map(|(w, n)| format!("\n**Warning** ({n} cell{}): {}\n", if *n == 1 { "" } else { "s" }, cell_text(w)))
        .collect()
}

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

/// `0.62× (0.58–0.66)` for a pair ratio of `blocks` blocks, or with what it lacks for an
/// interval (`n too small: 6 of 10 blocks`).
pub fn ratio_text(r: &RatioEstimate, blocks: usize) -> String {
    match r.ci() {
        Some((lo, hi)) => format!("{:.2}× ({lo:.2}–{hi:.2})", r.value),
        None => format!("{:.2}× ({})", r.value, crate::paired::shortfall(blocks).short()),
    }
}

/// The interleaved pairs' ratios with their paired 95% intervals; empty when there are none.
pub fn ratios(ratios: &[PairRatio], cells: &[CellResult]) -> String {
    if ratios.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n**Encoder-decoder / decoder-only, measured interleaved** (paired 95% CI)\n\n\
         | pair | precision | graph | ep | t | b | in | out | blocks | ED/DO TTFT (lower = ED sooner) | ED/DO decode tokens/s (higher = ED faster) | ED/DO e2e tokens/s (higher = ED faster) | drift |\n\
         | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    // Pairs are formed within one backend; with several, each pair names its own.
    let several = ratios.iter().any(|r| r.settings.backend != ratios[0].settings.backend);
    // Never pooled across machines; with several, each pair names its own.
    let machines = crate::identity::machines(ratios.iter().map(|r| &r.context)).len();
    for r in ratios {
        let ed = cells.iter().find(|c| c.is_named_by(r, &r.encoder_decoder_cell));
        let mut pair = if several { format!("{} ({})", r.pair, r.settings.backend) } else { r.pair.clone() };
        if machines > 1 {
            pair = format!("{pair} on {}", crate::identity::Machine::of(&r.context).short());
        }
        let opt = |x: &Option<RatioEstimate>| x.as_ref().map(|x| ratio_text(x, r.blocks)).unwrap_or_else(|| "–".into());
        let drifting = cells
            .iter()
            .filter(|c| c.is_named_by(r, &r.encoder_decoder_cell) || c.is_named_by(r, &r.decoder_only_cell))
            .any(|c| c.drift.as_ref().is_some_and(|d| d.drifting()));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell_text(&pair),
            ed.and_then(|c| c.model.precision.as_deref()).unwrap_or("–"),
            ed.and_then(|c| c.model.graph_variant.as_deref()).unwrap_or("–"),
            crate::identity::where_run(&r.settings),
            r.settings.threads,
            r.sweep.batch,
            r.sweep.input_tokens,
            r.sweep.output_tokens,
            r.blocks,
            ratio_text(&r.ttft, r.blocks),
            opt(&r.decode_tokens_per_s),
            opt(&r.e2e_tokens_per_s),
            if drifting { "trend" } else { "–" },
        ));
    }
    out
}

impl Exporter for Markdown {
    fn finish(&self, set: &Kept) -> Vec<u8> {
        (table(&set.cells)
            + &ratios(&set.ratios, &set.cells)
            + &backends(&set.cells)
            + &warnings(&set.cells)
            + &failures(&set.failed))
            .into_bytes()
    }
}
