//! Trends across runs: one cell's median (with its interval) per run, oldest first, and the runs
//! where it stepped.
//!
//! Change points: a sliding-window two-sample rank test. At each run k, the medians of up to
//! `window` runs before k are tested against up to `window` runs from k on with the exact
//! two-sided Mann–Whitney test (at least `min_side` runs on each side). A run is flagged when its
//! p-value reaches the level that the smallest p-value over all positions reaches in at most
//! `alpha` of random orderings of as many runs (Westfall–Young min-p, [`level`]): a history of
//! exchangeable runs, with any noise distribution, raises a false alarm with probability at most
//! `alpha`. The two windows' medians must also differ by at least `min_shift`. Neighbouring
//! positions see the same step; within `window` runs of each other only the strongest is kept
//! (smallest p, then the largest difference of the windows' means in pooled standard deviations).

use slmbench_results::metric::Metric;
use slmbench_results::paired::Rng;
use slmbench_results::stats::median;

#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    /// The suite commit the run measured.
    pub commit: String,
    /// When the run started (RFC 3339).
    pub started: String,
    /// In the metric's recorded unit (ns, tokens/s).
    pub median: f64,
    pub ci95: Option<(f64, f64)>,
}

/// A run from which the metric stepped.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Index of the first run after the step.
    pub index: usize,
    pub p_value: f64,
    /// Median of the runs after / median of the runs before, minus 1.
    pub shift: f64,
}

/// One cell's metric across runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CellTrend {
    pub cell_id: String,
    /// `model ep tN bN pN nN`.
    pub name: String,
    pub metric: Metric,
    pub points: Vec<TrendPoint>,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangeConfig {
    pub window: usize,
    pub min_side: usize,
    pub alpha: f64,
    pub min_shift: f64,
}

impl Default for ChangeConfig {
    fn default() -> Self {
        ChangeConfig { window: 10, min_side: 4, alpha: 0.03, min_shift: 0.05 }
    }
}

/// Number of orderings of `m` + `n` distinct values with each count `u` of (before, after) pairs
/// where the before value is the larger: the exact null distribution of the Mann–Whitney U.
fn u_counts(m: usize, n: usize) -> Vec<f64> {
    // f[i][j][u], built up over i and j; sizes here are at most a few dozen.
    let mut f = vec![vec![vec![0.0f64; m * n + 1]; n + 1]; m + 1];
    for fi in f.iter_mut() {
        fi[0][0] = 1.0;
    }
    for row in f[0].iter_mut() {
        row[0] = 1.0;
    }
    for i in 1..=m {
        for j in 1..=n {
            for u in 0..=i * j {
                // The largest value is a `before` one (it beats all j `after` values) or an `after` one.
                let a = if u >= j { f[i - 1][j][u - j] } else { 0.0 };
                f[i][j][u] = a + f[i][j - 1][u];
            }
        }
    }
    f[m][n].clone()
}

/// Exact two-sided Mann–Whitney p-value of `a` against `b` (ties count one half).
pub fn mann_whitney_two_sided(a: &[f64], b: &[f64]) -> f64 {
    Tables::default().p(a, b)
}

/// The U distributions met so far, by sample sizes (a scan meets a handful).
#[derive(Default)]
struct Tables(std::collections::HashMap<(usize, usize), Vec<f64>>);

impl Tables {
    fn p(&mut self, a: &[f64], b: &[f64]) -> f64 {
        if a.is_empty() || b.is_empty() {
            return 1.0;
        }
        let u: f64 = a
            .iter()
            .map(|x| {
                b.iter()
                    .map(|y| {
                        if x > y {
                            1.0
                        } else if x == y {
                            0.5
                        } else {
                            0.0
                        }
                    })
                    .sum::<f64>()
            })
            .sum();
        let counts = self.0.entry((a.len(), b.len())).or_insert_with(|| {
            let c = u_counts(a.len(), b.len());
            let total: f64 = c.iter().sum();
            c.into_iter().map(|x| x / total).collect()
        });
        let (lo, hi) = (u.floor() as usize, u.ceil() as usize);
        let below: f64 = counts[..=lo].iter().sum();
        let above: f64 = counts[hi..].iter().sum();
        (2.0 * below.min(above)).min(1.0)
    }
}

/// The windows around run `k`: up to `window` runs before it, and up to `window` from it on.
fn windows<'a>(values: &'a [f64], k: usize, cfg: &ChangeConfig) -> (&'a [f64], &'a [f64]) {
    (&values[k.saturating_sub(cfg.window)..k], &values[k..(k + cfg.window).min(values.len())])
}

/// Every position's test: (first run after, p-value).
fn scan(values: &[f64], cfg: &ChangeConfig, tables: &mut Tables) -> Vec<(usize, f64)> {
    let n = values.len();
    let side = cfg.min_side.max(1);
    if n < 2 * side {
        return vec![];
    }
    (side..=n - side)
        .map(|k| {
            let (before, after) = windows(values, k, cfg);
            (k, tables.p(before, after))
        })
        .collect()
}

/// Random orderings of the runs that calibrate the level.
pub const PERMUTATIONS: usize = 1999;

/// The level a position's p-value must reach in a history of `n` runs: the largest smallest-p
/// over all positions that at most `alpha` of [`PERMUTATIONS`] seeded random orderings of `n`
/// runs reach (Westfall–Young min-p). Ranks are all the test sees, so the level depends on `n`
/// and the settings alone; it is computed once per `n`.
pub fn level(n: usize, cfg: &ChangeConfig) -> f64 {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<(usize, usize, usize, u64), f64>> = Default::default();
    }
    let key = (n, cfg.window, cfg.min_side, cfg.alpha.to_bits());
    if let Some(l) = CACHE.with(|c| c.borrow().get(&key).copied()) {
        return l;
    }
    let mut tables = Tables::default();
    let mut rng = Rng::new(n as u64);
    let mut order: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut mins: Vec<f64> = (0..PERMUTATIONS)
        .map(|_| {
            for i in (1..n).rev() {
                order.swap(i, rng.below(i + 1));
            }
            scan(&order, cfg, &mut tables).iter().map(|s| s.1).fold(1.0, f64::min)
        })
        .collect();
    mins.sort_by(f64::total_cmp);
    // The largest observed value c with #{min-p <= c} <= alpha * (R + 1) - 1: below the
    // (allowed + 1)-th smallest, ties with it kept out.
    let allowed = ((cfg.alpha * (PERMUTATIONS + 1) as f64).floor() as usize).saturating_sub(1);
    let l = mins[..allowed].iter().rev().find(|&&x| x < mins[allowed]).copied().unwrap_or(0.0);
    CACHE.with(|c| c.borrow_mut().insert(key, l));
    l
}

/// Difference of means in pooled standard deviations (the tie-break between neighbours).
fn separation(a: &[f64], b: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(a), mean(b));
    let ss = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
    let dof = (a.len() + b.len()).saturating_sub(2).max(1) as f64;
    let sd = ((ss(a, ma) + ss(b, mb)) / dof).sqrt();
    if sd > 0.0 { (mb - ma).abs() / sd } else { f64::INFINITY }
}

/// The runs at which `values` (one per run, oldest first) stepped; see the module's docs.
pub fn change_points(values: &[f64], cfg: &ChangeConfig) -> Vec<Change> {
    let mut tables = Tables::default();
    let positions = scan(values, cfg, &mut tables);
    if positions.is_empty() {
        return vec![];
    }
    let level = level(values.len(), cfg);
    let mut candidates: Vec<(Change, f64)> = positions
        .into_iter()
        .filter(|&(_, p)| p <= level)
        .filter_map(|(index, p_value)| {
            let (before, after) = windows(values, index, cfg);
            let shift = median(after) / median(before) - 1.0;
            (shift.abs() >= cfg.min_shift).then(|| (Change { index, p_value, shift }, separation(before, after)))
        })
        .collect();
    candidates.sort_by(|a, b| a.0.p_value.total_cmp(&b.0.p_value).then(b.1.total_cmp(&a.1)));
    let mut kept: Vec<Change> = vec![];
    for (c, _) in candidates {
        if kept.iter().all(|k| k.index.abs_diff(c.index) >= cfg.window) {
            kept.push(c);
        }
    }
    kept.sort_by_key(|c| c.index);
    kept
}

impl CellTrend {
    /// A trend with its change points found.
    pub fn new(
        cell_id: String,
        name: String,
        metric: Metric,
        points: Vec<TrendPoint>,
        cfg: &ChangeConfig,
    ) -> CellTrend {
        let medians: Vec<f64> = points.iter().map(|p| p.median).collect();
        let changes = change_points(&medians, cfg);
        CellTrend { cell_id, name, metric, points, changes }
    }
}

/// What `report --history` adds: the trends of the report's cells, and where they came from.
#[derive(Debug, Clone, Default)]
pub struct HistorySection {
    /// The database, as the user named it.
    pub source: String,
    pub runs: usize,
    pub trends: Vec<CellTrend>,
    /// Report cells the history has fewer than two runs of.
    pub too_short: Vec<String>,
    pub config: Option<ChangeConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_u_distribution_matches_known_tail() {
        // Fully separated samples of 8 and 8: one ordering in C(16, 8) = 12870, two-sided.
        let a: Vec<f64> = (0..8).map(f64::from).collect();
        let b: Vec<f64> = (10..18).map(f64::from).collect();
        assert!((mann_whitney_two_sided(&a, &b) - 2.0 / 12870.0).abs() < 1e-12);
        assert!((mann_whitney_two_sided(&b, &a) - 2.0 / 12870.0).abs() < 1e-12);
        // Interleaved: no evidence.
        let c: Vec<f64> = (0..8).map(|i| f64::from(2 * i)).collect();
        let d: Vec<f64> = (0..8).map(|i| f64::from(2 * i + 1)).collect();
        assert!(mann_whitney_two_sided(&c, &d) > 0.5);
        let counts = u_counts(3, 2);
        assert_eq!(counts, vec![1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0]);
    }

    #[test]
    fn flat_and_short_histories_have_no_change() {
        assert!(change_points(&[1.0; 50], &ChangeConfig::default()).is_empty());
        assert!(change_points(&[1.0, 2.0, 3.0], &ChangeConfig::default()).is_empty());
        assert!(change_points(&[], &ChangeConfig::default()).is_empty());
    }
}
