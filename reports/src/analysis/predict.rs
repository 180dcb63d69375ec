//! From fitted cost curves ([`crate::analysis::fit`]) to answers: the prompt length from which an
//! encoder-decoder reaches the first token sooner than its decoder-only partner, the output length
//! from which it finishes sooner, and, for a workload of prompt and output lengths, each model's
//! mean and p90 TTFT, end-to-end latency and tokens/s, with intervals and a winner per metric.
//!
//! Intervals come from the fits of the bootstrap resamples: every figure is computed again with
//! each resample's curves, and the 2.5th and 97.5th percentiles are the interval.

use slmbench_results::paired::Rng;

use crate::analysis::fit::{Itl, ModelFit, Ttft, percentile_interval};

/// The longest prompt or output a workload may name (as `run -p`/`-n`); a model's own position
/// limit is checked against the fits ([`check_positions`]).
pub const MAX_LENGTH: usize = 1 << 20;

/// A distribution of lengths, as the user gave it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Lengths {
    /// These lengths, equally often (`300` or `100,300,500`).
    List(Vec<usize>),
    /// Uniform over `lo..=hi` (`180-420`).
    Range(usize, usize),
    /// Normal, cut at 1 (`300±120` or `300+-120`).
    Normal(f64, f64),
}

impl Lengths {
    /// Parses `N`, `a,b,c`, `lo-hi` or `mean±sd` (also `mean+-sd`); every length at most
    /// [`MAX_LENGTH`].
    pub fn parse(text: &str) -> Result<Lengths, String> {
        let t = text.trim();
        let num =
            |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0 && *v <= MAX_LENGTH as f64);
        let count = |s: &str| s.trim().parse::<usize>().ok().filter(|&v| (1..=MAX_LENGTH).contains(&v));
        if t.split(|c: char| !c.is_ascii_digit()).filter_map(|d| d.parse::<u128>().ok()).any(|v| v > MAX_LENGTH as u128)
        {
            return Err(format!("`{text}`: lengths are at most {MAX_LENGTH} tokens (as `run -p` and `-n`)"));
        }
        if let Some((m, s)) = t.split_once('±').or_else(|| t.split_once("+-")) {
            return match (num(m), num(s)) {
                (Some(m), Some(s)) if m >= 1.0 => Ok(Lengths::Normal(m, s)),
                _ => {
                    Err(format!("`{text}`: a mean ± standard deviation is two numbers, the mean at least 1 (300±120)"))
                }
            };
        }
        if let Some((a, b)) = t.split_once('-') {
            return match (count(a), count(b)) {
                (Some(a), Some(b)) if a <= b => Ok(Lengths::Range(a, b)),
                _ => Err(format!("`{text}`: a range is two lengths of at least 1, low-high (180-420)")),
            };
        }
        let v: Option<Vec<usize>> = t.split(',').map(count).collect();
        match v {
            Some(v) if !v.is_empty() => Ok(Lengths::List(v)),
            _ => Err(format!(
                "`{text}`: give a length (300), a list (100,300,500), a range (180-420) or mean±sd (300±120)"
            )),
        }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        match self {
            Lengths::List(v) => v[rng.below(v.len())],
            Lengths::Range(a, b) => a + rng.below(b - a + 1),
            Lengths::Normal(m, s) => (m + s * rng.normal()).round().max(1.0) as usize,
        }
    }
}

/// The requests a prediction averages over: (prompt, output) lengths.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub requests: Vec<(usize, usize)>,
    /// How it was given, for the output.
    pub description: String,
}

/// Requests drawn per workload given as distributions.
pub const DRAWS: usize = 2000;

impl Workload {
    /// `DRAWS` requests drawn (seeded) from independent prompt and output distributions.
    pub fn from_distributions(prompt: &Lengths, output: &Lengths, description: String) -> Workload {
        let mut rng = Rng::new(0x30ad);
        let requests = (0..DRAWS).map(|_| (prompt.draw(&mut rng), output.draw(&mut rng))).collect();
        Workload { requests, description }
    }

    /// Real requests: one `prompt output` pair per line (spaces, tabs or a comma; `#` comments).
    pub fn from_text(text: &str, description: String) -> Result<Workload, String> {
        let mut requests = vec![];
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let v: Vec<&str> = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).collect();
            match v.as_slice() {
                [p, n] => match (p.parse::<usize>(), n.parse::<usize>()) {
                    (Ok(p), Ok(n)) if p >= 1 && n >= 1 => requests.push((p, n)),
                    _ => return Err(format!("line {}: `{line}`: two lengths of at least 1 (prompt output)", i + 1)),
                },
                _ => return Err(format!("line {}: `{line}`: expected `prompt output`", i + 1)),
            }
        }
        if requests.is_empty() {
            return Err("no requests (one `prompt output` pair per line)".into());
        }
        Ok(Workload { requests, description })
    }
}

/// A figure and its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

fn estimate(value: f64, resampled: impl IntoIterator<Item = f64>) -> Estimate {
    let (low, high) = percentile_interval(resampled).unwrap_or((f64::NAN, f64::NAN));
    Estimate { value, low, high }
}

/// One model's predicted figures over a workload (latencies in ms).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    pub model: String,
    pub kind: String,
    pub ttft_mean_ms: Estimate,
    pub ttft_p90_ms: Estimate,
    pub e2e_mean_ms: Estimate,
    pub e2e_p90_ms: Estimate,
    /// Σ output tokens / Σ end-to-end time: requests served one after another.
    pub tokens_per_s: Estimate,
    /// Share of requests outside the measured prompt or output lengths.
    pub extrapolated: f64,
}

fn p90(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    slmbench_results::stats::percentile(&v, 90.0)
}

/// Refuses a workload that goes past a fitted model's positions (prompt + output for a
/// decoder-only, either for an encoder-decoder): the curves say nothing of a model that cannot run.
pub fn check_positions(fits: &[ModelFit], w: &Workload) -> Result<(), String> {
    for f in fits {
        let Some(max) = f.max_positions else { continue };
        let ed = f.key.kind == slmbench_results::model::ModelKind::EncoderDecoder;
        let need = |&(p, n): &(usize, usize)| if ed { p.max(n) } else { p.saturating_add(n) } as u64;
        if let Some(r) = w.requests.iter().find(|r| need(r) > max) {
            return Err(format!(
                "{}: a request of {} prompt and {} output tokens needs {} positions, but the model takes {max}; \
                 predict a workload within them",
                f.label,
                r.0,
                r.1,
                need(r)
            ));
        }
    }
    Ok(())
}

/// (mean TTFT, p90 TTFT, mean e2e, p90 e2e, tokens/s) of the workload under one set of curves, ns.
/// A curve extrapolated far from its data can dip below zero; no time is negative, so each
/// request's TTFT and each decode stretch is held at zero or more (end to end is then never
/// shorter than its first token).
fn figures(t: &Ttft, i: Option<&Itl>, w: &Workload) -> [f64; 5] {
    let ttft: Vec<f64> = w.requests.iter().map(|&(p, _)| t.at(p as f64).max(0.0)).collect();
    let e2e: Vec<f64> = w
        .requests
        .iter()
        .zip(&ttft)
        .map(|(&(p, n), &t0)| t0 + i.map_or(0.0, |i| i.total(p as f64, n as f64).max(0.0)))
        .collect();
    let tokens: f64 = w.requests.iter().map(|r| r.1 as f64).sum();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    [mean(&ttft), p90(ttft.clone()), mean(&e2e), p90(e2e.clone()), tokens / (e2e.iter().sum::<f64>() / 1e9)]
}

pub fn predict(fit: &ModelFit, w: &Workload) -> Prediction {
    let point = figures(&fit.ttft, fit.itl.as_ref(), w);
    let boot: Vec<[f64; 5]> = fit.resamples.iter().map(|(t, i)| figures(t, i.as_ref(), w)).collect();
    let est = |k: usize, scale: f64| estimate(point[k] * scale, boot.iter().map(|b| b[k] * scale));
    let (pr, or) = (fit.prompt_range, fit.output_range);
    // Every step up to the longest output was measured, so only longer outputs extrapolate.
    let outside = w.requests.iter().filter(|&&(p, n)| p < pr.0 || p > pr.1 || n > or.1).count();
    Prediction {
        model: fit.label.clone(),
        kind: fit.key.kind.to_string(),
        ttft_mean_ms: est(0, 1e-6),
        ttft_p90_ms: est(1, 1e-6),
        e2e_mean_ms: est(2, 1e-6),
        e2e_p90_ms: est(3, 1e-6),
        tokens_per_s: est(4, 1.0),
        extrapolated: outside as f64 / w.requests.len() as f64,
    }
}

/// Where one curve falls below another over a range of lengths.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "case", rename_all = "kebab-case")]
pub enum Crossing {
    /// The encoder-decoder is lower from `at` on (within the range), with the interval of `at`
    /// over the resamples that cross, and the share of them that cross.
    From { at: f64, low: f64, high: f64, share: f64 },
    /// Lower below `at` and higher from it on.
    Below { at: f64, low: f64, high: f64, share: f64 },
    /// Lower over the whole range.
    Always,
    /// Never lower in the range.
    Never,
    /// Crosses more than once.
    Mixed,
}

/// The first length from which `diff` (encoder-decoder − decoder-only) stays below zero.
fn crossing_of(diff: &dyn Fn(f64) -> f64, lo: usize, hi: usize) -> Crossing {
    let signs: Vec<bool> = (lo..=hi).map(|x| diff(x as f64) < 0.0).collect();
    let changes = signs.windows(2).filter(|w| w[0] != w[1]).count();
    match (changes, signs.first(), signs.last()) {
        (0, Some(true), _) => Crossing::Always,
        (0, _, _) => Crossing::Never,
        (1, Some(false), _) => {
            let at = (lo + signs.iter().position(|&s| s).unwrap_or(0)) as f64;
            Crossing::From { at, low: at, high: at, share: 1.0 }
        }
        (1, Some(true), _) => {
            let at = (lo + signs.iter().position(|&s| !s).unwrap_or(0)) as f64;
            Crossing::Below { at, low: at, high: at, share: 1.0 }
        }
        _ => Crossing::Mixed,
    }
}

/// Encoder-decoder − decoder-only at a length, from each side's curves.
type Difference<'a> = dyn Fn(&Ttft, Option<&Itl>, &Ttft, Option<&Itl>, f64) -> f64 + 'a;

/// As [`crossing_of`] for the point fits, with the interval of the crossing over resamples.
fn crossing(ed: &ModelFit, dec: &ModelFit, lo: usize, hi: usize, diff: &Difference) -> Crossing {
    let point = crossing_of(&|x| diff(&ed.ttft, ed.itl.as_ref(), &dec.ttft, dec.itl.as_ref(), x), lo, hi);
    let boots: Vec<Crossing> = ed
        .resamples
        .iter()
        .zip(&dec.resamples)
        .map(|(a, b)| crossing_of(&|x| diff(&a.0, a.1.as_ref(), &b.0, b.1.as_ref(), x), lo, hi))
        .collect();
    // The interval of the crossing over the resamples that cross the same way, and their share.
    let with_interval = |at: f64, from: bool| {
        let same: Vec<f64> = boots
            .iter()
            .filter_map(|c| match c {
                Crossing::From { at, .. } if from => Some(*at),
                Crossing::Below { at, .. } if !from => Some(*at),
                _ => None,
            })
            .collect();
        let share = same.len() as f64 / boots.len().max(1) as f64;
        let e = estimate(at, same);
        (e.low, e.high, share)
    };
    match point {
        Crossing::From { at, .. } => {
            let (low, high, share) = with_interval(at, true);
            Crossing::From { at, low, high, share }
        }
        Crossing::Below { at, .. } => {
            let (low, high, share) = with_interval(at, false);
            Crossing::Below { at, low, high, share }
        }
        c => c,
    }
}

/// The prompt length from which the encoder-decoder's TTFT is lower, over the measured prompts.
pub fn ttft_crossing(ed: &ModelFit, dec: &ModelFit) -> Crossing {
    let lo = ed.prompt_range.0.max(dec.prompt_range.0);
    let hi = ed.prompt_range.1.min(dec.prompt_range.1);
    crossing(ed, dec, lo, hi.max(lo), &|a, _, b, _, p| a.at(p) - b.at(p))
}

/// At prompt length `p`: the output length from which the encoder-decoder's end-to-end time is
/// lower, over the measured outputs.
pub fn e2e_crossing(ed: &ModelFit, dec: &ModelFit, p: usize) -> Crossing {
    // Steps up to the longest output were measured: any shorter output is within the data.
    let (lo, hi) = (1, ed.output_range.1.min(dec.output_range.1));
    let p = p as f64;
    crossing(ed, dec, lo, hi.max(lo), &|a, ai, b, bi, n| {
        a.at(p) + ai.map_or(0.0, |i| i.total(p, n)) - b.at(p) - bi.map_or(0.0, |i| i.total(p, n))
    })
}

/// Pairs of fits: an encoder-decoder with the decoder-only of its pair at the same setting.
pub fn pairs(fits: &[ModelFit]) -> Vec<(&ModelFit, &ModelFit)> {
    fits.iter()
        .filter(|f| f.key.kind == slmbench_results::model::ModelKind::EncoderDecoder && f.key.pair.is_some())
        .filter_map(|ed| {
            let dec = fits
                .iter()
                .find(|d| d.key.kind == slmbench_results::model::ModelKind::DecoderOnly && d.key.partners(&ed.key))?;
            Some((ed, dec))
        })
        .collect()
}

/// The winner of a metric among predictions: the best value, and whether its interval is clear
/// of every other model's.
pub fn winner(preds: &[Prediction], get: fn(&Prediction) -> Estimate, lower_is_better: bool) -> Option<(usize, bool)> {
    let better = |a: f64, b: f64| if lower_is_better { a < b } else { a > b };
    let best =
        (0..preds.len()).reduce(|a, b| if better(get(&preds[b]).value, get(&preds[a]).value) { b } else { a })?;
    let e = get(&preds[best]);
    let clear = preds.iter().enumerate().filter(|(i, _)| *i != best).all(|(_, p)| {
        let o = get(p);
        if lower_is_better { e.high < o.low } else { e.low > o.high }
    });
    Some((best, clear))
}
