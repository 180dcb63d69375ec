//! Summary statistics and the stopping rule.
//!
//! The confidence interval of the median is distribution-free: the order statistics at ranks
//! n/2 ∓ 1.96·√n/2 (the normal approximation to the binomial), so no normality is assumed.
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
    /// 95% confidence interval of the median.
    pub ci95_low: f64,
    pub ci95_high: f64,
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
        let half = 1.96 * (n as f64).sqrt() / 2.0;
        let lo_rank = ((n as f64 / 2.0 - half).floor() as isize - 1).max(0) as usize;
        let hi_rank = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
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
            ci95_low: s[lo_rank],
            ci95_high: s[hi_rank],
        })
    }

    /// Largest distance from the median to a CI bound, relative to the median.
    pub fn ci_half_width_rel(&self) -> f64 {
        if self.median <= 0.0 {
            return f64::INFINITY;
        }
        (self.median - self.ci95_low).max(self.ci95_high - self.median) / self.median
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
        assert!(s.ci95_low <= s.median && s.median <= s.ci95_high);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
        assert!(Summary::of(&[]).is_none());
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
