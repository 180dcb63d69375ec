//! The decision a sweep supports: every model's fitted curves, each pair's crossovers, and, for a
//! workload, the predicted figures and the winner per metric; as Markdown (`slmbench predict`),
//! JSON and the report's "Cost curves" section.

use slmbench_results::identity::CurveKey;
use slmbench_results::schema::CellResult;

use crate::analysis::fit::{ModelFit, fit_all, mean_step_itl};
use crate::analysis::predict::{
    Crossing, Estimate, Prediction, Workload, e2e_crossing, pairs, predict, ttft_crossing, winner,
};

#[derive(Debug, Clone, serde::Serialize)]
pub struct PairCrossings {
    pub encoder_decoder: String,
    pub decoder_only: String,
    /// From which prompt length the encoder-decoder reaches the first token sooner.
    pub ttft: Crossing,
    /// The prompt length the output-length crossover is computed at.
    pub e2e_at_prompt: usize,
    /// From which output length the encoder-decoder finishes sooner.
    pub e2e: Crossing,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Winner {
    pub metric: &'static str,
    pub model: String,
    /// Its interval is clear of every other model's.
    pub clear: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkloadSummary {
    pub description: String,
    pub requests: usize,
    pub prompt_median: usize,
    pub output_median: usize,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Decision {
    pub fits: Vec<ModelFit>,
    pub pairs: Vec<PairCrossings>,
    pub workload: Option<WorkloadSummary>,
    pub predictions: Vec<Prediction>,
    pub winners: Vec<Winner>,
}

/// The metrics a winner is named for: (name, value, lower is better).
type MetricOf = (&'static str, fn(&Prediction) -> Estimate, bool);
const METRICS: [MetricOf; 5] = [
    ("mean TTFT", |p| p.ttft_mean_ms, true),
    ("p90 TTFT", |p| p.ttft_p90_ms, true),
    ("mean end-to-end", |p| p.e2e_mean_ms, true),
    ("p90 end-to-end", |p| p.e2e_p90_ms, true),
    ("tokens/s", |p| p.tokens_per_s, false),
];

fn median_of(v: impl Iterator<Item = usize>) -> usize {
    let mut v: Vec<usize> = v.collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Fits every model of `cells`; with a workload, predicts it. The output-length crossover is at
/// the workload's median prompt, else at each pair's longest measured prompt.
pub fn decide(cells: &[CellResult], workload: Option<&Workload>) -> Decision {
    let fits = fit_all(cells);
    let prompt = workload.map(|w| median_of(w.requests.iter().map(|r| r.0)));
    let pair_rows = pairs(&fits)
        .into_iter()
        .map(|(ed, dec)| {
            let at = prompt.unwrap_or(ed.prompt_range.1.min(dec.prompt_range.1));
            PairCrossings {
                encoder_decoder: ed.label.clone(),
                decoder_only: dec.label.clone(),
                ttft: ttft_crossing(ed, dec),
                e2e_at_prompt: at,
                e2e: e2e_crossing(ed, dec, at),
            }
        })
        .collect();
    let mut d = Decision { pairs: pair_rows, ..Decision::default() };
    if let Some(w) = workload {
        d.workload = Some(WorkloadSummary {
            description: w.description.clone(),
            requests: w.requests.len(),
            prompt_median: median_of(w.requests.iter().map(|r| r.0)),
            output_median: median_of(w.requests.iter().map(|r| r.1)),
        });
        d.predictions = fits.iter().map(|f| predict(f, w)).collect();
        d.winners = METRICS
            .iter()
            .filter_map(|(name, get, lower)| {
                let (i, clear) = winner(&d.predictions, *get, *lower)?;
                Some(Winner { metric: name, model: d.predictions[i].model.clone(), clear })
            })
            .collect();
    }
    d.fits = fits;
    d
}

/// A measured cell against what the fits predicted for it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub model: String,
    pub input_tokens: usize,
    pub output_tokens: usize,
    /// Whether the fit saw this prompt length (then the error is run-to-run drift, not
    /// interpolation).
    pub prompt_was_fitted: bool,
    pub ttft_predicted_ms: f64,
    pub ttft_measured_ms: f64,
    pub itl_predicted_ms: Option<f64>,
    /// Mean over the cell's later tokens of each step's median.
    pub itl_measured_ms: Option<f64>,
}

impl Check {
    pub fn ttft_error(&self) -> f64 {
        self.ttft_predicted_ms / self.ttft_measured_ms - 1.0
    }

    pub fn itl_error(&self) -> Option<f64> {
        Some(self.itl_predicted_ms? / self.itl_measured_ms? - 1.0)
    }
}

/// Each cell of `cells` that one of `fits` covers, against its prediction: the fit of its own
/// machine and runtime, else the one of the same model and setting measured elsewhere (the
/// caller says when the machines differ).
pub fn check(fits: &[ModelFit], cells: &[CellResult]) -> Vec<Check> {
    cells
        .iter()
        .filter_map(|c| {
            let key = CurveKey::of(c);
            let f = fits.iter().find(|f| f.key == key).or_else(|| fits.iter().find(|f| f.key.same_setting(&key)))?;
            let p = c.sweep.input_tokens as f64;
            let measured = mean_step_itl(c);
            Some(Check {
                model: f.label.clone(),
                input_tokens: c.sweep.input_tokens,
                output_tokens: c.sweep.output_tokens,
                prompt_was_fitted: f.cells.iter().any(|e| e.input_tokens == c.sweep.input_tokens),
                ttft_predicted_ms: f.ttft.at(p) * 1e-6,
                ttft_measured_ms: c.metrics.ttft_ns.median * 1e-6,
                itl_predicted_ms: f.itl.zip(measured).map(|(i, (_, steps))| i.mean(p, steps) * 1e-6),
                itl_measured_ms: measured.map(|(mean, _)| mean * 1e-6),
            })
        })
        .collect()
}

/// The checks as a Markdown table.
pub fn check_markdown(rows: &[Check]) -> String {
    let mut s = String::from(
        "### Predicted against measured

| model | p | n | p in the fit | TTFT predicted (ms) | TTFT measured (ms) | error | ITL predicted (ms) | ITL measured (ms) | error |
| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |
",
    );
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "–".into());
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:+.1}% | {} | {} | {} |
",
            r.model,
            r.input_tokens,
            r.output_tokens,
            if r.prompt_was_fitted { "yes" } else { "no" },
            r.ttft_predicted_ms,
            r.ttft_measured_ms,
            r.ttft_error() * 100.0,
            opt(r.itl_predicted_ms, &|v| format!("{v:.3}")),
            opt(r.itl_measured_ms, &|v| format!("{v:.3}")),
            opt(r.itl_error(), &|v| format!("{:+.1}%", v * 100.0)),
        ));
    }
    s
}

/// A crossing in words, with its unit (`input tokens`, `output tokens`).
pub fn crossing_words(c: &Crossing, unit: &str) -> String {
    let share = |s: f64| if s < 0.95 { format!("; {:.0}% of resamples cross", s * 100.0) } else { String::new() };
    match c {
        Crossing::From { at, low, high, share: s } => {
            format!("from {at:.0} {unit} on (95% CI {low:.0}–{high:.0}{})", share(*s))
        }
        Crossing::Below { at, low, high, share: s } => {
            format!("below {at:.0} {unit} only (95% CI {low:.0}–{high:.0}{})", share(*s))
        }
        Crossing::Always => "over the whole measured range".into(),
        Crossing::Never => "never in the measured range".into(),
        Crossing::Mixed => "the curves cross more than once in the measured range".into(),
    }
}

/// A coefficient (ns) in ms with its interval, as a term: ` + 0.1234 [0.12, 0.13]·p`, with a minus
/// sign in place of `+ -`.
fn term(value: f64, ci: (f64, f64), var: &str, sci: bool) -> String {
    let f = |v: f64| if sci { format!("{:.3e}", v * 1e-6) } else { format!("{:.5}", v * 1e-6) };
    // The interval of the magnitude that is shown (negated and reversed after a minus sign).
    let (sign, ci) = if value < 0.0 { ("−", (-ci.1, -ci.0)) } else { ("+", ci) };
    format!(" {sign} {} [{}, {}]{var}", f(value.abs()), f(ci.0), f(ci.1))
}

/// `a + b·p + c·p²` with each coefficient's interval, in ms.
pub fn ttft_formula(f: &ModelFit) -> String {
    let t = f.ttft.0;
    let mut s = format!("{:.4} [{:.4}, {:.4}]", t[0] * 1e-6, f.ttft_ci[0].0 * 1e-6, f.ttft_ci[0].1 * 1e-6);
    s.push_str(&term(t[1], f.ttft_ci[1], "·p", false));
    if f.quadratic {
        s.push_str(&term(t[2], f.ttft_ci[2], "·p²", true));
    }
    s
}

/// `a + b·p + c·j` with each coefficient's interval, in ms.
pub fn itl_formula(f: &ModelFit) -> String {
    match (f.itl, f.itl_ci) {
        (Some(i), Some(ci)) => format!(
            "{:.4} [{:.4}, {:.4}]{}{}",
            i.0[0] * 1e-6,
            ci[0].0 * 1e-6,
            ci[0].1 * 1e-6,
            term(i.0[1], ci[1], "·p", false),
            term(i.0[2], ci[2], "·j", false)
        ),
        _ => "– (one token per generation)".into(),
    }
}

fn est(e: &Estimate, digits: usize) -> String {
    format!("{:.d$} ({:.d$}–{:.d$})", e.value, e.low, e.high, d = digits)
}

/// The decision as Markdown tables.
pub fn markdown(d: &Decision) -> String {
    let mut s = String::from(
        "### Fitted cost curves (ms; p: prompt tokens, j: later token index)\n\n| model | TTFT(p) [95% CI] | TTFT fit error (max) | ITL(p, j) [95% CI] | ITL fit error (max) | prompts measured |\n| --- | --- | ---: | --- | ---: | --- |\n",
    );
    for f in &d.fits {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {}–{} ({}) |\n",
            f.label.clone(),
            ttft_formula(f),
            f.ttft_error_text(),
            itl_formula(f),
            f.max_itl_error().map(|e| format!("{:.1}%", e * 100.0)).unwrap_or_else(|| "–".into()),
            f.prompt_range.0,
            f.prompt_range.1,
            f.prompt_lengths
        ));
    }
    let warnings: Vec<String> = d.fits.iter().flat_map(|f| f.warnings()).collect();
    if !warnings.is_empty() {
        s.push('\n');
        for w in &warnings {
            s.push_str(&format!("- warning: {w}\n"));
        }
    }
    if !d.pairs.is_empty() {
        s.push_str("\n### Crossovers\n\n| encoder-decoder | decoder-only | encoder-decoder's TTFT is lower | its end-to-end time is lower |\n| --- | --- | --- | --- |\n");
        for p in &d.pairs {
            s.push_str(&format!(
                "| {} | {} | {} | {} at {} input tokens |\n",
                p.encoder_decoder,
                p.decoder_only,
                crossing_words(&p.ttft, "input tokens"),
                crossing_words(&p.e2e, "output tokens"),
                p.e2e_at_prompt
            ));
        }
    }
    if let Some(w) = &d.workload {
        s.push_str(&format!(
            "\n### Predicted for the workload: {} ({} requests; median prompt {}, median output {})\n\n| model | mean TTFT (ms) | p90 TTFT (ms) | mean end-to-end (ms) | p90 end-to-end (ms) | tokens/s | outside the measured range |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
            w.description, w.requests, w.prompt_median, w.output_median
        ));
        for p in &d.predictions {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {:.0}% |\n",
                p.model,
                est(&p.ttft_mean_ms, 2),
                est(&p.ttft_p90_ms, 2),
                est(&p.e2e_mean_ms, 1),
                est(&p.e2e_p90_ms, 1),
                est(&p.tokens_per_s, 1),
                p.extrapolated * 100.0
            ));
        }
        s.push('\n');
        for w in &d.winners {
            s.push_str(&format!(
                "- {}: **{}**{}\n",
                w.metric,
                w.model,
                if w.clear { "" } else { " (intervals overlap: not a clear win)" }
            ));
        }
        if d.predictions.iter().any(|p| p.extrapolated > 0.0) {
            s.push_str("\nRequests outside the measured prompt lengths, or longer than the longest measured output, are extrapolated from the fitted curves: measure those lengths to trust them.\n");
        }
    }
    s
}
