//! The report's view of interleaved pairs: every paired ratio with its interval, and a warning
//! for each cell whose repetitions drifted.

use slmbench_results::export::markdown::ratio_text;
use slmbench_results::identity::cell_name;
use slmbench_results::pair_ratio::PairRatio;
use slmbench_results::paired::{RatioEstimate, Trend};
use slmbench_results::schema::CellResult;

use super::markup::esc;

fn trend_text(what: &str, t: &Trend) -> String {
    format!(
        "{what} {} {:.0}% over {} repetitions (Spearman ρ {:.2}, p {:.3})",
        if t.change >= 0.0 { "rose" } else { "fell" },
        t.change.abs() * 100.0,
        t.n,
        t.rho,
        t.p
    )
}

/// One warning per drifting cell (and per pair whose ratio itself trended), empty when none did.
pub fn drift_warnings(cells: &[CellResult], ratios: &[PairRatio]) -> String {
    let mut out = String::new();
    for c in cells {
        let Some(d) = c.drift.as_ref().filter(|d| d.drifting()) else { continue };
        let what: Vec<String> = [("TTFT", d.ttft), ("the decode step", d.itl)]
            .iter()
            .filter_map(|(w, t)| t.filter(|t| t.drifting).map(|t| trend_text(w, &t)))
            .collect();
        let remedy = if c.repetitions.interleaved_with.is_some() {
            "its pair ran interleaved: drift that slowed both models alike cancels in the ratio, drift that did not \
             (see the pair's ratio) does not"
        } else {
            "a ratio with another cell measured minutes apart carries this drift; --order interleaved pairs them"
        };
        out.push_str(&format!(
            "<p class=\"warn drift\" data-cell=\"{}\">Drift: in {}, {}; {remedy}.</p>\n",
            esc(&c.cell_id),
            esc(&cell_name(c)),
            esc(&what.join("; "))
        ));
    }
    for r in ratios.iter().filter(|r| r.ttft_ratio_trend.is_some_and(|t| t.drifting)) {
        let t = r.ttft_ratio_trend.expect("filtered");
        out.push_str(&format!(
            "<p class=\"warn drift\" data-ratio=\"{}\">Drift: the TTFT ratio of {} at {} input / {} output tokens {}; \
             the machine changed faster than one block.</p>\n",
            esc(&r.ratio_id),
            esc(&r.pair),
            r.sweep.input_tokens,
            r.sweep.output_tokens,
            esc(&trend_text("itself", &t))
        ));
    }
    out
}

/// Every interleaved pair's ratios with their paired 95% intervals, empty when there are none.
pub fn ratio_table(cells: &[CellResult], ratios: &[PairRatio]) -> String {
    if ratios.is_empty() {
        return String::new();
    }
    let opt =
        |r: &Option<RatioEstimate>, blocks| r.as_ref().map(|r| ratio_text(r, blocks)).unwrap_or_else(|| "–".into());
    let mut h = String::from(
        "<h3>Ratios measured side by side</h3>\n<p>Encoder-decoder / decoder-only, each pair's repetitions \
         interleaved in blocks; the 95% interval resamples whole blocks, so drift both models shared cancels.</p>\n\
         <div class=\"scroll\"><table id=\"paired-ratios\"><thead><tr><th class=\"l\">pair</th><th class=\"l\">variant</th>\
         <th class=\"l\">ep</th><th>t</th><th>b</th><th>in</th><th>out</th><th>blocks</th><th>ED/DO TTFT<br>(lower = ED sooner)</th>\
         <th>ED/DO decode tok/s<br>(higher = ED faster)</th><th>ED/DO e2e tok/s<br>(higher = ED faster)</th></tr></thead><tbody>\n",
    );
    for r in ratios {
        let ed = cells.iter().find(|c| c.is_named_by(r, &r.encoder_decoder_cell));
        let variant = ed
            .map(|c| {
                format!(
                    "{} {}",
                    c.model.precision.as_deref().unwrap_or("–"),
                    c.model.graph_variant.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        h.push_str(&format!(
            "<tr data-ratio=\"{}\" data-ttft-ratio=\"{:.6}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&r.ratio_id),
            r.ttft.value,
            esc(&r.pair),
            esc(variant.trim()),
            esc(&slmbench_results::identity::where_run(&r.settings)),
            r.settings.threads,
            r.sweep.batch,
            r.sweep.input_tokens,
            r.sweep.output_tokens,
            r.blocks,
            esc(&ratio_text(&r.ttft, r.blocks)),
            esc(&opt(&r.decode_tokens_per_s, r.blocks)),
            esc(&opt(&r.e2e_tokens_per_s, r.blocks)),
        ));
    }
    h.push_str("</tbody></table></div>\n");
    h
}
