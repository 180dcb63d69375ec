//! Statistics of interleaved measurements: the ratio of two models' medians with an interval that
//! uses the pairing, and a test for drift across a cell's repetitions.
//!
//! Interleaved repetitions come in blocks, one repetition of each model, run back to back (in
//! ABBA or seeded random order). Drift of a shared machine moves both members of a block alike,
//! so the interval resamples whole blocks (a paired bootstrap): a slow minute that slowed both
//! models is resampled as one, and cancels in the ratio instead of widening it. Two independent
//! medians' intervals ([`crate::stats::Summary`]) cannot do that.

use serde::{Deserialize, Serialize};

use crate::stats::median;

/// Fewest blocks for a paired interval: below that the bootstrap's percentiles of a median are
/// too coarse to cover 95% (measured by `aa_intervals_cover_one_under_drift`).
pub const MIN_BLOCKS_FOR_CI: usize = 10;

/// What a pair ratio of `blocks` blocks lacks for an interval.
pub fn shortfall(blocks: usize) -> crate::stats::Shortfall {
    crate::stats::Shortfall { have: blocks, need: MIN_BLOCKS_FOR_CI, blocks: true }
}

/// Bootstrap resamples of the paired interval (fixed, so records can be recomputed exactly).
pub const RESAMPLES: usize = 2000;

/// A ratio of medians and its 95% interval (`None` with too few blocks).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatioEstimate {
    pub value: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl RatioEstimate {
    pub fn ci(&self) -> Option<(f64, f64)> {
        self.low.zip(self.high)
    }

    /// Largest distance from the value to an interval bound, relative to the value (infinite
    /// without an interval, so a stopping rule never stops on too few blocks).
    pub fn half_width_rel(&self) -> f64 {
        crate::stats::half_width_rel(self.value, self.ci())
    }
}

/// A seeded generator (SplitMix64): the same seed gives the same interval on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_F42D_4C95_7F2D)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(f64::MIN_POSITIVE), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// median(num) / median(den) of paired samples (`num[i]` and `den[i]` from block i), with the
/// 95% percentile interval of a bootstrap that resamples blocks. Samples must be positive.
pub fn paired_ratio(num: &[f64], den: &[f64], seed: u64) -> Option<RatioEstimate> {
    let n = num.len().min(den.len());
    bootstrap(&num[..n], &den[..n], seed, |rng, drawn| drawn.extend((0..n).map(|_| rng.below(n))))
}

/// As [`paired_ratio`], for blocks measured across several loads of the two models (`loads[i]`:
/// the load block i ran on): a two-stage bootstrap draws loads with replacement, then blocks
/// within each drawn load, so the interval holds the lasting differences between loads (how a
/// session's memory lands) as well as the noise within one. With one load it is [`paired_ratio`].
pub fn paired_ratio_loads(num: &[f64], den: &[f64], loads: &[usize], seed: u64) -> Option<RatioEstimate> {
    let n = num.len().min(den.len()).min(loads.len());
    let mut groups: Vec<Vec<usize>> = vec![];
    for (i, &l) in loads[..n].iter().enumerate() {
        if groups.len() <= l {
            groups.resize(l + 1, vec![]);
        }
        groups[l].push(i);
    }
    groups.retain(|g| !g.is_empty());
    if groups.len() <= 1 {
        return paired_ratio(&num[..n], &den[..n], seed);
    }
    bootstrap(&num[..n], &den[..n], seed, |rng, drawn| {
        for _ in 0..groups.len() {
            let g = &groups[rng.below(groups.len())];
            drawn.extend((0..g.len()).map(|_| g[rng.below(g.len())]));
        }
    })
}

/// median(num) / median(den) of paired blocks, with the 95% percentile interval of
/// [`RESAMPLES`] resamples, each the block indexes `draw` picks (none below
/// [`MIN_BLOCKS_FOR_CI`] blocks).
fn bootstrap(
    num: &[f64],
    den: &[f64],
    seed: u64,
    mut draw: impl FnMut(&mut Rng, &mut Vec<usize>),
) -> Option<RatioEstimate> {
    if num.is_empty() {
        return None;
    }
    let value = median(num) / median(den);
    if num.len() < MIN_BLOCKS_FOR_CI {
        return Some(RatioEstimate { value, low: None, high: None });
    }
    let mut rng = Rng::new(seed);
    let (mut drawn, mut a, mut b) = (vec![], vec![], vec![]);
    let mut ratios: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            drawn.clear();
            draw(&mut rng, &mut drawn);
            a.clear();
            b.clear();
            a.extend(drawn.iter().map(|&i| num[i]));
            b.extend(drawn.iter().map(|&i| den[i]));
            median_in_place(&mut a) / median_in_place(&mut b)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| crate::stats::percentile(&ratios, q);
    Some(RatioEstimate { value, low: Some(at(2.5)), high: Some(at(97.5)) })
}

/// The median as [`median`] computes it, reordering `x` instead of sorting a copy (the
/// bootstrap takes thousands).
fn median_in_place(x: &mut [f64]) -> f64 {
    let n = x.len();
    let (_, &mut hi, _) = x.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return hi;
    }
    let lo = x[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo + hi) / 2.0
}

/// A trend across a cell's repetitions in time order: Spearman's rank correlation with the
/// repetition's position, its two-sided permutation p-value, and the Theil–Sen slope over the
/// whole cell relative to the median (0.12: the metric rose 12% from first to last repetition).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub n: usize,
    pub rho: f64,
    pub p: f64,
    pub change: f64,
    /// `p` below [`DRIFT_ALPHA`]: the report warns.
    pub drifting: bool,
}

/// Significance level of the drift test. Strict, because a sweep tests every cell.
pub const DRIFT_ALPHA: f64 = 0.01;

/// Fewest repetitions the drift test is run on (with fewer, no ordering is unlikely enough).
pub const MIN_N_FOR_TREND: usize = 8;

const PERMUTATIONS: usize = 2000;

fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        // Ties share their mean rank.
        for k in i..=j {
            r[idx[k]] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// The trend of `samples` (in the order they were measured); `None` below
/// [`MIN_N_FOR_TREND`] samples. Seeded, so the same samples give the same p-value.
pub fn trend(samples: &[f64], seed: u64) -> Option<Trend> {
    let n = samples.len();
    if n < MIN_N_FOR_TREND {
        return None;
    }
    let time: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut r = ranks(samples);
    let rho = pearson(&time, &r);
    let mut rng = Rng::new(seed);
    let mut extreme = 0usize;
    for _ in 0..PERMUTATIONS {
        for i in (1..n).rev() {
            r.swap(i, rng.below(i + 1));
        }
        extreme += usize::from(pearson(&time, &r).abs() >= rho.abs() - 1e-12);
    }
    let p = (1 + extreme) as f64 / (1 + PERMUTATIONS) as f64;
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            slopes.push((samples[j] - samples[i]) / (j - i) as f64);
        }
    }
    let m = median(samples);
    let change = if m > 0.0 { median(&slopes) * (n - 1) as f64 / m } else { 0.0 };
    Some(Trend { n, rho, p, change, drifting: p < DRIFT_ALPHA })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lognormal noise with occasional 2× outliers, like a shared machine's latencies.
    fn noise(rng: &mut Rng) -> f64 {
        let (u1, u2) = (rng.uniform().max(1e-12), rng.uniform());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let outlier = if rng.uniform() < 0.05 { 2.0 } else { 1.0 };
        (0.08 * z).exp() * outlier
    }

    /// The machine's speed at time t in [0, 1]: a 30% linear slowdown plus a random walk.
    fn drift(t: f64, walk: &[f64]) -> f64 {
        let i = ((t * (walk.len() - 1) as f64).round() as usize).min(walk.len() - 1);
        (1.0 + 0.3 * t) * walk[i]
    }

    /// An interleaved A/A "pair" under drift: (a, b) per block, ABBA or random order.
    fn aa(rng: &mut Rng, blocks: usize, random_order: bool) -> (Vec<f64>, Vec<f64>) {
        let steps = 2 * blocks;
        let mut walk = vec![1.0];
        for _ in 1..steps {
            let last = *walk.last().unwrap();
            walk.push(last * (0.03 * (rng.uniform() - 0.5)).exp());
        }
        let (mut a, mut b) = (vec![], vec![]);
        for k in 0..blocks {
            let a_first = if random_order { rng.uniform() < 0.5 } else { k % 2 == 0 };
            let (t0, t1) = ((2 * k) as f64 / steps as f64, (2 * k + 1) as f64 / steps as f64);
            let (ta, tb) = if a_first { (t0, t1) } else { (t1, t0) };
            a.push(100.0 * drift(ta, &walk) * noise(rng));
            b.push(100.0 * drift(tb, &walk) * noise(rng));
        }
        (a, b)
    }

    /// The A/A acceptance test: the same model on both sides under drift gives an interval that
    /// contains 1 in at least 95% of seeded trials. (With 2,000 trials per case the coverage was
    /// 96–98% from 10 to 30 blocks, and 93.5–95.7% at 6 and 8: hence [`MIN_BLOCKS_FOR_CI`].)
    #[test]
    fn aa_intervals_cover_one_under_drift() {
        let mut rng = Rng::new(17);
        for blocks in [MIN_BLOCKS_FOR_CI, 15, 30] {
            for random_order in [false, true] {
                let trials = 500;
                let hits = (0..trials)
                    .filter(|t| {
                        let (a, b) = aa(&mut rng, blocks, random_order);
                        let (lo, hi) = paired_ratio(&a, &b, *t as u64).unwrap().ci().unwrap();
                        lo <= 1.0 && 1.0 <= hi
                    })
                    .count();
                let coverage = hits as f64 / trials as f64;
                assert!(coverage >= 0.95, "{blocks} blocks, random {random_order}: coverage {coverage}");
            }
        }
    }

    /// Loads that differ for as long as they live (each load of A and of B its own lasting
    /// speed, 6% apart at random): an interval over one load's blocks sees none of it and rarely
    /// holds 1 across loads, while the interval over three loads each, drawn load by load,
    /// holds 1 in most trials.
    #[test]
    fn intervals_over_several_loads_hold_the_differences_between_loads() {
        let mut rng = Rng::new(23);
        let trials = 300;
        let (mut one, mut three) = (0, 0);
        for t in 0..trials {
            let mut offset = || (0.06 * rng.normal()).exp();
            let offsets: Vec<(f64, f64)> = (0..3).map(|_| (offset(), offset())).collect();
            let (mut a, mut b, mut loads) = (vec![], vec![], vec![]);
            for (l, (oa, ob)) in offsets.iter().enumerate() {
                let (x, y) = aa(&mut rng, 10, false);
                a.extend(x.iter().map(|v| v * oa));
                b.extend(y.iter().map(|v| v * ob));
                loads.extend([l; 10]);
            }
            let holds = |r: RatioEstimate| r.ci().is_some_and(|(lo, hi)| lo <= 1.0 && 1.0 <= hi);
            one += holds(paired_ratio(&a[..10], &b[..10], t).unwrap()) as usize;
            three += holds(paired_ratio_loads(&a, &b, &loads, t).unwrap()) as usize;
        }
        let (one, three) = (one as f64 / trials as f64, three as f64 / trials as f64);
        eprintln!("interval holds 1: one load {one}, three loads {three}");
        assert!(three >= 0.9 && three > one + 0.15, "one load {one}, three loads {three}");
        // One load is the plain paired bootstrap.
        let (a, b) = aa(&mut rng, 12, false);
        assert_eq!(paired_ratio_loads(&a, &b, &[0; 12], 4), paired_ratio(&a, &b, 4));
    }

    /// A real difference is found: B 20% slower than A under the same drift.
    #[test]
    fn a_real_difference_is_outside_the_interval() {
        let mut rng = Rng::new(3);
        let (a, b) = aa(&mut rng, 20, false);
        let b: Vec<f64> = b.iter().map(|x| x * 1.2).collect();
        let r = paired_ratio(&a, &b, 1).unwrap();
        let (lo, hi) = r.ci().unwrap();
        assert!(hi < 1.0 && lo > 0.7, "{r:?}");
        assert!((r.value - 1.0 / 1.2).abs() < 0.08, "{r:?}");
        assert!(paired_ratio(&a[..9], &b[..9], 1).unwrap().ci().is_none());
        let mut x = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(median_in_place(&mut x), 2.5);
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
    }

    /// Pairing is what narrows the interval: the same samples with their blocks broken apart
    /// (each side bootstrapped alone) give a wider one.
    #[test]
    fn pairing_narrows_the_interval_under_drift() {
        let mut rng = Rng::new(5);
        let (a, b) = aa(&mut rng, 30, false);
        let paired = paired_ratio(&a, &b, 1).unwrap().half_width_rel();
        let mut shuffled = b.clone();
        shuffled.reverse();
        let unpaired = paired_ratio(&a, &shuffled, 1).unwrap().half_width_rel();
        assert!(paired < unpaired, "{paired} vs {unpaired}");
    }

    #[test]
    fn trend_finds_drift_and_rarely_fires_without_it() {
        let mut rng = Rng::new(9);
        let rising: Vec<f64> = (0..20).map(|i| 100.0 * (1.0 + 0.02 * i as f64) * noise(&mut rng)).collect();
        let t = trend(&rising, 1).unwrap();
        assert!(t.drifting && t.rho > 0.5, "{t:?}");
        assert!((t.change - 0.38).abs() < 0.15, "{t:?}");
        let trials = 300;
        let fired = (0..trials)
            .filter(|s| {
                let flat: Vec<f64> = (0..15).map(|_| 100.0 * noise(&mut rng)).collect();
                trend(&flat, *s as u64).unwrap().drifting
            })
            .count();
        assert!(fired as f64 / (trials as f64) < 0.04, "fired {fired} of {trials}");
        assert!(trend(&[1.0; 7], 1).is_none());
        assert!(!trend(&[5.0; 10], 1).unwrap().drifting);
    }
}
