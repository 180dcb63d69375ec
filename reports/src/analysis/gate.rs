//! The regression rule (what `slmbench gate` enforces).
//!
//! For each matched cell and gated metric, the change is current / base of the medians of the raw
//! samples. A cell regresses on a metric only if both hold:
//! 1. the change is statistically significant: a one-sided Mann–Whitney U test on the raw samples
//!    (normal approximation with tie correction) gives p < α (default 0.05) in the worse direction;
//! 2. the whole 95% bootstrap confidence interval of the ratio of medians (percentile method,
//!    seeded, so the verdict is reproducible) lies beyond the noise threshold (default 5%).
//!
//! An improvement is reported by the mirror-image rule. Anything else is "no significant change".
//!
//! A gate that cannot judge says so and never passes: a metric with fewer than
//! [`MIN_N_FOR_CI`] samples on a side (the same rule as `compare`'s "n too small"), a pair ratio
//! without an interval, a configuration with no threshold, or nothing matched to gate. The
//! command exits 2 for those, listing every one.
//!
//! A pair that both runs measured interleaved is also judged on its ratios (TTFT ratio with the
//! `ttft` threshold, end-to-end throughput ratio with `e2e_tokens_per_s`): it regresses when the
//! whole interval of the ratio's change says the encoder-decoder's advantage shrank by more than
//! the threshold ([`crate::analysis::ratio_change`]). The paired intervals already are the test, so no
//! Mann–Whitney test is added.

use serde::{Deserialize, Serialize};
use slmbench_results::identity::cell_name;
use slmbench_results::metric::Metric;
use slmbench_results::schema::CellResult;
use slmbench_results::stats::{MIN_N_FOR_CI, median};

use crate::analysis::ratio_change::Shift;
use crate::read::ResultSet;

/// Bounds on what a gate file can ask for: a typo must not start a run of hours.
pub const MAX_RESAMPLES: usize = 100_000;
/// A noise threshold above 1000% would pass any slowdown a gate exists to catch.
pub const MAX_THRESHOLD: f64 = 10.0;

/// Gate settings (`ci/gate.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_resamples")]
    pub bootstrap_resamples: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Relative noise threshold per metric (`ttft`, `itl`, `e2e_tokens_per_s`, or any other of
    /// [`Metric::ALL`]); absent metrics are not gated.
    pub thresholds: std::collections::BTreeMap<Metric, f64>,
}

fn default_alpha() -> f64 {
    0.05
}
fn default_resamples() -> usize {
    2000
}
fn default_seed() -> u64 {
    1
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            alpha: 0.05,
            bootstrap_resamples: 2000,
            seed: 1,
            thresholds: Metric::HEADLINE.into_iter().map(|m| (m, 0.05)).collect(),
        }
    }
}

impl GateConfig {
    pub fn from_toml(text: &str) -> Result<GateConfig, String> {
        let c: GateConfig = toml::from_str(text).map_err(|e| {
            let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            let m = e.message().to_string();
            // serde's "unknown variant" names the variants; say it in the file's words.
            if m.contains("unknown variant") {
                format!("{m} (thresholds: unknown metric; metrics are {})", names.join(", "))
            } else {
                m
            }
        })?;
        if !(0.0 < c.alpha && c.alpha < 0.5) {
            return Err(format!("alpha = {} must be in (0, 0.5)", c.alpha));
        }
        if c.thresholds.is_empty() {
            return Err(
                "[thresholds] is empty: nothing would be gated; give each metric to gate its noise threshold, e.g. ttft = 0.05"
                    .into(),
            );
        }
        for (k, v) in &c.thresholds {
            if !(v.is_finite() && *v >= 0.0 && *v <= MAX_THRESHOLD) {
                return Err(format!("thresholds.{k} = {v} must be from 0 to {MAX_THRESHOLD} (a fraction: 0.05 is 5%)"));
            }
        }
        if !(100..=MAX_RESAMPLES).contains(&c.bootstrap_resamples) {
            return Err(format!(
                "bootstrap_resamples = {} must be from 100 to {MAX_RESAMPLES} (2000 is plenty)",
                c.bootstrap_resamples
            ));
        }
        Ok(c)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Regression,
    Improvement,
    NoSignificantChange,
}

/// Standard normal upper tail, via erfc (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7).
pub fn normal_sf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let y = t
        * (-x * x - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    let erfc = if x >= 0.0 { y } else { 2.0 - y };
    0.5 * erfc
}

/// One-sided Mann–Whitney U: p-value that `b` tends to be larger than `a`.
pub fn mann_whitney_greater(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let mut all: Vec<(f64, bool)> = a.iter().map(|&x| (x, false)).chain(b.iter().map(|&x| (x, true))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut ranks = vec![0.0; n];
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for k in ranks.iter_mut().take(j + 1).skip(i) {
            *k = r;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let r2: f64 = all.iter().zip(&ranks).filter(|(x, _)| x.1).map(|(_, r)| r).sum();
    let u2 = r2 - n2 * (n2 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return if u2 > mean { 0.0 } else { 1.0 };
    }
    // Continuity correction.
    normal_sf((u2 - mean - 0.5) / var.sqrt())
}

/// 95% percentile-bootstrap interval of median(current) / median(base), seeded.
pub fn bootstrap_ratio_ci(base: &[f64], current: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |n: usize| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % n as u64) as usize
    };
    let mut ratios = Vec::with_capacity(resamples);
    let (mut bb, mut cc) = (vec![0.0; base.len()], vec![0.0; current.len()]);
    for _ in 0..resamples {
        for x in bb.iter_mut() {
            *x = base[next(base.len())];
        }
        for x in cc.iter_mut() {
            *x = current[next(current.len())];
        }
        ratios.push(median(&cc) / median(&bb));
    }
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((q * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    (at(0.025), at(0.975))
}

/// The verdict on one metric of one cell.
#[derive(Debug, Clone, Serialize)]
pub struct MetricVerdict {
    pub metric: Metric,
    pub ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub threshold: f64,
    pub outcome: Outcome,
}

/// Applies the rule to `metric`'s samples in the direction the metric says is worse.
pub fn judge(metric: Metric, base: &[f64], current: &[f64], threshold: f64, cfg: &GateConfig) -> MetricVerdict {
    let higher_is_better = !metric.lower_is_better();
    let ratio = median(current) / median(base);
    let (lo, hi) = bootstrap_ratio_ci(base, current, cfg.bootstrap_resamples, cfg.seed);
    let (p_up, p_down) = (mann_whitney_greater(base, current), mann_whitney_greater(current, base));
    let (worse_p, worse_beyond, better_p, better_beyond) = if higher_is_better {
        (p_down, hi < 1.0 - threshold, p_up, lo > 1.0 + threshold)
    } else {
        (p_up, lo > 1.0 + threshold, p_down, hi < 1.0 - threshold)
    };
    let outcome = if worse_p < cfg.alpha && worse_beyond {
        Outcome::Regression
    } else if better_p < cfg.alpha && better_beyond {
        Outcome::Improvement
    } else {
        Outcome::NoSignificantChange
    };
    MetricVerdict {
        metric,
        ratio,
        ci_low: lo,
        ci_high: hi,
        p_value: if outcome == Outcome::Improvement { better_p } else { worse_p },
        threshold,
        outcome,
    }
}

/// The verdicts of a whole baseline against a current run: the table `gate` prints, and what
/// decides its exit code.
pub struct Judged {
    /// Markdown rows, one per cell and gated metric.
    pub rows: String,
    /// `<cell>: <metric> <change>` of each regression.
    pub regressions: Vec<String>,
    /// Names of cells with at least one regressed metric.
    pub flagged: Vec<String>,
    pub improvements: usize,
    /// Baseline cells the current run lacks.
    pub missing: Vec<String>,
    /// What could not be judged and why (too few samples on a side, a ratio without an
    /// interval): the gate does not pass with any.
    pub unjudged: Vec<String>,
    /// How many (cell or pair, metric) verdicts were reached.
    pub judged: usize,
}

/// Judges the ratios of pairs both sides measured interleaved (see the module's rule), adding
/// rows and regressions to `j`.
pub fn judge_ratios(base: &ResultSet, cur: &ResultSet, cfg: &GateConfig, j: &mut Judged) {
    let (b, c) = (
        crate::analysis::pairs::paired(&base.cells, &base.ratios),
        crate::analysis::pairs::paired(&cur.cells, &cur.ratios),
    );
    let threshold = |metric: &str| {
        let m = if metric == "ttft_ratio" { Metric::Ttft } else { Metric::E2eTokensPerS };
        cfg.thresholds.get(&m).copied()
    };
    let gated: Vec<_> = crate::analysis::ratio_change::ratio_changes(&b, &c)
        .into_iter()
        .filter(|c| threshold(c.metric).is_some())
        .collect();
    for c in &gated {
        if c.shift(0.0).is_none() {
            j.unjudged.push(format!(
                "{}: {}: a side has no paired interval (fewer than {} blocks)",
                c.name(),
                c.metric,
                slmbench_results::paired::MIN_BLOCKS_FOR_CI
            ));
            continue;
        }
        j.judged += 1;
        match c.shift(threshold(c.metric).unwrap_or(0.0)) {
            Some(Shift::AdvantageShrank) => {
                j.regressions.push(format!("{}: {} {:+.1}%", c.name(), c.metric, c.change * 100.0))
            }
            Some(Shift::AdvantageGrew) => j.improvements += 1,
            _ => {}
        }
    }
    j.rows.push_str(&crate::analysis::ratio_change::markdown(&gated, |m| threshold(m).unwrap_or(0.0)));
}

/// Judges every baseline cell against the current cell of the same name, on every metric with a
/// threshold in `cfg`.
pub fn judge_all(base: &[CellResult], cur: &[CellResult], cfg: &GateConfig) -> Judged {
    let mut j = Judged {
        rows: String::from(
            "| cell | metric | base | current | ratio (95% CI) | p | threshold | verdict |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
        ),
        regressions: vec![],
        flagged: vec![],
        improvements: 0,
        missing: vec![],
        unjudged: vec![],
        judged: 0,
    };
    for b in base {
        let name = cell_name(b);
        let key = slmbench_results::identity::Identity::of(b).series_key();
        let Some(c) = cur.iter().find(|c| slmbench_results::identity::Identity::of(c).series_key() == key) else {
            j.missing.push(name);
            continue;
        };
        for (&metric, &threshold) in &cfg.thresholds {
            let (bs, cs) = (metric.samples(b), metric.samples(c));
            if bs.is_empty() && cs.is_empty() {
                // The metric does not exist for this cell (an encoder on a decoder-only).
                continue;
            }
            if bs.len() < MIN_N_FOR_CI || cs.len() < MIN_N_FOR_CI {
                j.unjudged.push(format!(
                    "{name}: {metric}: n too small ({} baseline and {} current samples; at least {MIN_N_FOR_CI} on each \
                     side, as for a 95% interval of a median: measure with more repetitions, -r)",
                    bs.len(),
                    cs.len()
                ));
                continue;
            }
            j.judged += 1;
            let v = judge(metric, &bs, &cs, threshold, cfg);
            let unit = metric.scale();
            let verdict = match v.outcome {
                Outcome::Regression => {
                    j.regressions.push(format!("{name}: {metric} {:+.1}%", (v.ratio - 1.0) * 100.0));
                    if !j.flagged.contains(&name) {
                        j.flagged.push(name.clone());
                    }
                    "**regression**"
                }
                Outcome::Improvement => {
                    j.improvements += 1;
                    "improvement"
                }
                Outcome::NoSignificantChange => "no significant change",
            };
            j.rows.push_str(&format!(
                "| {} | {} | {:.3} | {:.3} | {:.3} ({:.3}–{:.3}) | {:.3} | {:.0}% | {verdict} |\n",
                name.replace('|', "\\|"),
                metric.name_with_unit(),
                median(&bs) * unit,
                median(&cs) * unit,
                v.ratio,
                v.ci_low,
                v.ci_high,
                v.p_value,
                threshold * 100.0
            ));
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_values() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(-1.644854) - 0.95).abs() < 1e-6);
    }

    #[test]
    fn mann_whitney_direction() {
        let a: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let b: Vec<f64> = (10..30).map(|i| i as f64).collect();
        assert!(mann_whitney_greater(&a, &b) < 0.01);
        assert!(mann_whitney_greater(&b, &a) > 0.99);
        assert!((mann_whitney_greater(&a, &a) - 0.5).abs() < 0.1);
    }
}
