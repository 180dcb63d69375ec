//! Summary statistics and the stopping rule.
//!
//! The confidence interval of the median is distribution-free: the order statistics x₍ₖ₎ and
//! x₍ₙ₋ₖ₊₁₎ with the largest k whose exact binomial coverage, 1 − 2·P(Bin(n, ½) ≤ k − 1), is at
//! least 95%, so no normality is assumed. Such an interval exists only from n = 6 on (at n = 5
//! even [min, max] covers the median with probability 1 − 2/2⁵ = 93.75%); below that the interval
//! is absent (`null` in results files) and every reader says "n too small".
//! Outliers are counted with Tukey's fences (1.5 × IQR beyond the quartiles) and kept.

use serde::{Deserialize, Serialize};

/// Summary of one metric's samples (same unit as the samples).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub mean: f64,
    pub stddev: f64,
    pub p90: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
    pub outliers: usize,
    /// 95% confidence interval of the median; `None` when n is too small for one (n < 6).
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
}

/// Fewest samples for which a distribution-free 95% interval of the median exists.
pub const MIN_N_FOR_CI: usize = 6;

/// Why an estimate has no interval, and what would give it one: `have` samples where an
/// interval needs `need` (repetitions of a cell, or blocks of a pair measured interleaved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    pub have: usize,
    pub need: usize,
    /// Counted in blocks of an interleaved pair, not in repetitions.
    pub blocks: bool,
}

impl Shortfall {
    /// `have` repetitions of a median (or the fewer of two medians' in a ratio).
    pub fn repetitions(have: usize) -> Shortfall {
        Shortfall { have, need: MIN_N_FOR_CI, blocks: false }
    }

    fn unit(&self) -> &'static str {
        if self.blocks { "blocks" } else { "repetitions" }
    }

    /// `n too small: 6 of 10 blocks`, for a table cell.
    pub fn short(&self) -> String {
        if self.have >= self.need {
            return "no interval".into();
        }
        format!("n too small: {} of {} {}", self.have, self.need, self.unit())
    }

    /// What to do about it, for a sentence: `measure at least 10 blocks (-r 10)`.
    pub fn advice(&self) -> String {
        if self.have >= self.need {
            return "the interval could not be computed".into();
        }
        match self.blocks {
            true => format!("a paired interval needs at least {} blocks: run with -r {} or more", self.need, self.need),
            false => format!(
                "an interval needs at least {} repetitions: run with -r and --min-repetitions {} or more",
                self.need, self.need
            ),
        }
    }
}

/// 1-based rank k of the lower bound of the exact 95% order-statistics interval of the median,
/// or `None` when n is too small. Uses the binomial pmf in log space, so any n works.
pub fn median_ci_rank(n: usize) -> Option<usize> {
    if n < MIN_N_FOR_CI {
        return None;
    }
    let mut log_pmf = -(n as f64) * std::f64::consts::LN_2; // P(X = 0)
    let mut cdf = 0.0;
    let mut k = 0usize;
    // Largest k with P(X ≤ k − 1) ≤ 2.5%.
    for i in 0..=n / 2 {
        cdf += log_pmf.exp();
        if cdf > 0.025 {
            break;
        }
        k = i + 1;
        log_pmf += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    (k >= 1).then_some(k)
}

/// The median of unsorted samples (NaN for none): the one median every part of slmbench uses.
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    percentile(&s, 50.0)
}

/// Percentile with linear interpolation between order statistics (sorted input).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

impl Summary {
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let mean = s.iter().sum::<f64>() / n as f64;
        let var = if n > 1 { s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        let (q1, q3) = (percentile(&s, 25.0), percentile(&s, 75.0));
        let iqr = q3 - q1;
        let outliers = s.iter().filter(|&&x| x < q1 - 1.5 * iqr || x > q3 + 1.5 * iqr).count();
        let ci = median_ci_rank(n).map(|k| (s[k - 1], s[n - k]));
        Some(Summary {
            n,
            median: percentile(&s, 50.0),
            mean,
            stddev: var.sqrt(),
            p90: percentile(&s, 90.0),
            p99: percentile(&s, 99.0),
            min: s[0],
            max: s[n - 1],
            outliers,
            ci95_low: ci.map(|c| c.0),
            ci95_high: ci.map(|c| c.1),
        })
    }

    /// The 95% interval of the median, if n is large enough for one.
    pub fn ci(&self) -> Option<(f64, f64)> {
        self.ci95_low.zip(self.ci95_high)
    }

    /// Largest distance from the median to a CI bound, relative to the median (infinite without
    /// an interval, so the stopping rule never calls a cell precise on too few samples).
    pub fn ci_half_width_rel(&self) -> f64 {
        half_width_rel(self.median, self.ci())
    }
}

/// Largest distance from `value` to a bound of `ci`, relative to `value`; infinite without an
/// interval (or a value ≤ 0), so no stopping rule calls too few samples precise.
pub fn half_width_rel(value: f64, ci: Option<(f64, f64)>) -> f64 {
    match ci {
        Some((lo, hi)) if value > 0.0 => (value - lo).max(hi - value) / value,
        _ => f64::INFINITY,
    }
}

/// When to stop repeating a cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub warmup: usize,
    pub min_repetitions: usize,
    pub max_repetitions: usize,
    pub max_time_s: f64,
    /// Target relative half-width of the 95% CI of the median TTFT and ITL.
    pub target_ci: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { warmup: 1, min_repetitions: 5, max_repetitions: 30, max_time_s: 30.0, target_ci: 0.03 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    ConfidenceReached,
    MaxRepetitions,
    MaxTime,
    EndOfSequence,
    /// SIGINT/SIGTERM arrived; kept only with at least the minimum repetitions.
    Interrupted,
}

impl Policy {
    /// Whether to stop after `reps` repetitions taking `elapsed_s`, given the CIs so far.
    pub fn stop(
        &self,
        reps: usize,
        elapsed_s: f64,
        ttft: Option<&Summary>,
        itl: Option<&Summary>,
    ) -> Option<StopReason> {
        if reps >= self.max_repetitions {
            return Some(StopReason::MaxRepetitions);
        }
        if reps >= 1 && elapsed_s >= self.max_time_s {
            return Some(StopReason::MaxTime);
        }
        let tight = |s: Option<&Summary>| s.is_none_or(|s| s.ci_half_width_rel() <= self.target_ci);
        if reps >= self.min_repetitions && ttft.is_some() && tight(ttft) && tight(itl) {
            return Some(StopReason::ConfidenceReached);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0, 100.0]).unwrap();
        assert_eq!((s.n, s.min, s.max), (6, 1.0, 100.0));
        assert_eq!(s.median, 3.5);
        assert_eq!(s.outliers, 1);
        assert!((s.mean - 115.0 / 6.0).abs() < 1e-12);
        let (lo, hi) = s.ci().unwrap();
        assert!(lo <= s.median && s.median <= hi);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
        assert!(Summary::of(&[]).is_none());
    }

    /// The failing case of the issue: at n = 3 the old interval was [min, max] with 75% coverage,
    /// at n = 1 a single point. Below 6 samples there is no 95% interval at all.
    #[test]
    fn too_few_samples_have_no_interval() {
        for n in 1..MIN_N_FOR_CI {
            let s = Summary::of(&(0..n).map(|i| i as f64).collect::<Vec<_>>()).unwrap();
            assert_eq!(s.ci(), None, "n = {n}");
            assert_eq!(s.ci_half_width_rel(), f64::INFINITY);
        }
        assert_eq!(median_ci_rank(6), Some(1));
        // Known exact ranks (e.g. Conover's table): n = 10 → k = 2, n = 20 → 6, n = 100 → 40.
        assert_eq!(median_ci_rank(10), Some(2));
        assert_eq!(median_ci_rank(20), Some(6));
        assert_eq!(median_ci_rank(100), Some(40));
        assert!(median_ci_rank(1_000_000).is_some());
    }

    /// Coverage measured by simulation is at least 95% at every n from 6 to 40.
    #[test]
    fn interval_covers_the_median_at_least_95_percent_of_the_time() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for n in [6usize, 7, 9, 12, 20, 40] {
            let trials = 4000;
            let hits = (0..trials)
                .filter(|_| {
                    // Exponential samples (skewed, like latencies); true median ln 2.
                    let x: Vec<f64> = (0..n).map(|_| -(1.0 - uniform()).ln()).collect();
                    let (lo, hi) = Summary::of(&x).unwrap().ci().unwrap();
                    lo <= std::f64::consts::LN_2 && std::f64::consts::LN_2 <= hi
                })
                .count();
            let coverage = hits as f64 / trials as f64;
            assert!(coverage >= 0.94, "n = {n}: coverage {coverage}");
        }
    }

    #[test]
    fn median_ci_narrows_with_more_samples() {
        let noisy = |n: usize| -> Vec<f64> { (0..n).map(|i| 100.0 + ((i * 37) % 11) as f64 - 5.0).collect() };
        let few = Summary::of(&noisy(8)).unwrap().ci_half_width_rel();
        let many = Summary::of(&noisy(400)).unwrap().ci_half_width_rel();
        assert!(many < few, "{many} vs {few}");
        assert!(many <= 0.03);
    }

    #[test]
    fn stopping_rule() {
        let p = Policy { min_repetitions: 3, max_repetitions: 5, max_time_s: 10.0, ..Policy::default() };
        let tight = Summary::of(&[100.0; 10]).unwrap();
        let loose = Summary::of(&[50.0, 100.0, 150.0, 200.0]).unwrap();
        assert_eq!(p.stop(2, 1.0, Some(&tight), Some(&tight)), None);
        assert_eq!(p.stop(3, 1.0, Some(&tight), Some(&tight)), Some(StopReason::ConfidenceReached));
        assert_eq!(p.stop(3, 1.0, Some(&tight), Some(&loose)), None);
        assert_eq!(p.stop(5, 1.0, Some(&loose), None), Some(StopReason::MaxRepetitions));
        assert_eq!(p.stop(1, 11.0, Some(&loose), None), Some(StopReason::MaxTime));
    }
}
