//! The report's "Cost curves" section: each model's fitted TTFT and ITL curves, each pair's
//! crossovers, and, for a workload (`report --prompt … --output …`), the predictions.

use super::markup::{esc, figure};
use crate::analysis::forecast::{Decision, crossing_words, itl_formula, ttft_formula};
use crate::charts::Chart;

fn est(e: &crate::analysis::predict::Estimate, digits: usize) -> String {
    format!("{:.d$} <span class=\"ci\">({:.d$}–{:.d$})</span>", e.value, e.low, e.high, d = digits)
}

pub fn section(d: &Decision, charts: &[Chart]) -> String {
    if d.fits.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<section id=\"cost-curves\"><h2>Cost curves</h2>\n<p>TTFT(p) and ITL(p, j) fitted per model to this sweep (p: prompt tokens; j: index of the later token), weighted least squares on relative error; intervals from 200 bootstrap resamples of the repetitions. <code>slmbench predict</code> answers for a workload.</p>\n\
         <div class=\"scroll\"><table id=\"fits\"><thead><tr><th class=\"l\">model</th><th class=\"l\">TTFT(p), ms [95% CI]</th><th>max error</th><th class=\"l\">ITL(p, j), ms [95% CI]</th><th>max error</th><th>prompts</th></tr></thead><tbody>\n",
    );
    for f in &d.fits {
        s.push_str(&format!(
            "<tr data-model=\"{}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}–{} ({})</td></tr>\n",
            esc(&f.key.model),
            esc(&f.label.clone()),
            esc(&ttft_formula(f)),
            esc(&f.ttft_error_text()),
            esc(&itl_formula(f)),
            f.max_itl_error().map(|e| format!("{:.1}%", e * 100.0)).unwrap_or_else(|| "–".into()),
            f.prompt_range.0,
            f.prompt_range.1,
            f.prompt_lengths
        ));
    }
    s.push_str("</tbody></table></div>\n");
    let warnings: Vec<String> = d.fits.iter().flat_map(|f| f.warnings()).collect();
    if !warnings.is_empty() {
        s.push_str("<ul id=\"fit-warnings\" class=\"warn\">\n");
        for w in &warnings {
            s.push_str(&format!("<li>{}</li>\n", esc(w)));
        }
        s.push_str("</ul>\n");
    }
    if !d.pairs.is_empty() {
        s.push_str("<h3>Crossovers</h3>\n<table id=\"crossovers\"><thead><tr><th class=\"l\">pair</th><th class=\"l\">encoder-decoder's TTFT is lower</th><th class=\"l\">its end-to-end time is lower</th></tr></thead><tbody>\n");
        for p in &d.pairs {
            s.push_str(&format!(
                "<tr><td class=\"l\">{} / {}</td><td class=\"l\">{}</td><td class=\"l\">{} at {} input tokens</td></tr>\n",
                esc(&p.encoder_decoder),
                esc(&p.decoder_only),
                esc(&crossing_words(&p.ttft, "input tokens")),
                esc(&crossing_words(&p.e2e, "output tokens")),
                p.e2e_at_prompt
            ));
        }
        s.push_str("</tbody></table>\n");
    }
    if let Some(w) = &d.workload {
        s.push_str(&format!(
            "<h3>Predicted for {} ({} requests; median prompt {}, median output {})</h3>\n<div class=\"scroll\"><table id=\"predictions\"><thead><tr><th class=\"l\">model</th><th>mean TTFT (ms)</th><th>p90 TTFT (ms)</th><th>mean end-to-end (ms)</th><th>p90 end-to-end (ms)</th><th>tokens/s</th><th>extrapolated</th></tr></thead><tbody>\n",
            esc(&w.description),
            w.requests,
            w.prompt_median,
            w.output_median
        ));
        for p in &d.predictions {
            s.push_str(&format!(
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{:.0}%</td></tr>\n",
                esc(&p.model),
                est(&p.ttft_mean_ms, 2),
                est(&p.ttft_p90_ms, 2),
                est(&p.e2e_mean_ms, 1),
                est(&p.e2e_p90_ms, 1),
                est(&p.tokens_per_s, 1),
                if p.extrapolated > 0.0 { "warn" } else { "" },
                p.extrapolated * 100.0
            ));
        }
        s.push_str("</tbody></table></div>\n<ul id=\"winners\">\n");
        for w in &d.winners {
            s.push_str(&format!(
                "<li>{}: <strong>{}</strong>{}</li>\n",
                esc(w.metric),
                esc(&w.model),
                if w.clear { "" } else { " (intervals overlap: not a clear win)" }
            ));
        }
        s.push_str("</ul>\n");
        if d.predictions.iter().any(|p| p.extrapolated > 0.0) {
            s.push_str("<p class=\"warn\">Some requests lie outside the measured prompt lengths or beyond the longest measured output: those figures are extrapolated from the fitted curves.</p>\n");
        }
    }
    for c in charts {
        s.push_str(&figure(c, "chart fit"));
    }
    s.push_str("</section>\n");
    s
}
