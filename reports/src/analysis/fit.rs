//! Cost curves fitted to a sweep's cells, per model, machine and setting (backend and its version,
//! provider and every setting, threads, batch: [`CurveKey`]; precision and graph variant are part
//! of the model). Cells of two machines are never fitted as one curve.
//!
//! - **TTFT(p)** = t₀ + t₁·p (+ t₂·p² where the data supports it: at least four prompt lengths
//!   and a bootstrap interval of t₂ above zero), fitted to the median TTFT at each prompt length.
//! - **ITL(p, j)** = i₀ + i₁·p + i₂·j, the j-th later token (j = 0 for the second token) after a
//!   prompt of p tokens, fitted to the median over repetitions of each step's raw sample: the
//!   step attends to a cache that grows with both (the decoder-only's self-attention cache holds
//!   p + j + 1 positions; the encoder-decoder's holds j + 2, and its cross-attention p).
//!
//! Both are weighted least squares on relative error (weights 1/y²), so short prompts count as
//! much as long ones. Uncertainty: a bootstrap that resamples each cell's repetitions (whole
//! rows of steps for ITL), refits, and takes percentile intervals; the fits of the resamples are
//! kept to carry the uncertainty into predictions.

use std::collections::BTreeMap;

use slmbench_results::identity::CurveKey;
use slmbench_results::paired::Rng;
use slmbench_results::schema::CellResult;
use slmbench_results::stats::{median, percentile};

/// Bootstrap resamples per fit.
pub const RESAMPLES: usize = 200;

/// TTFT(p) = c[0] + c[1]·p + c[2]·p², in ns.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Ttft(pub [f64; 3]);

impl Ttft {
    pub fn at(&self, p: f64) -> f64 {
        self.0[0] + self.0[1] * p + self.0[2] * p * p
    }
}

/// ITL(p, j) = c[0] + c[1]·p + c[2]·j, in ns.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Itl(pub [f64; 3]);

impl Itl {
    pub fn at(&self, p: f64, j: f64) -> f64 {
        self.0[0] + self.0[1] * p + self.0[2] * j
    }

    /// The mean over `steps` later tokens (a generation of `steps` + 1 tokens).
    pub fn mean(&self, p: f64, steps: usize) -> f64 {
        self.total(p, steps as f64 + 1.0) / steps.max(1) as f64
    }

    /// Σ over the n − 1 later tokens of a generation of n tokens.
    pub fn total(&self, p: f64, n: f64) -> f64 {
        let steps = (n - 1.0).max(0.0);
        steps * (self.0[0] + self.0[1] * p) + self.0[2] * steps * (steps - 1.0) / 2.0
    }
}

/// The curves fitted to one bootstrap resample.
pub type Resample = (Ttft, Option<Itl>);

/// A fitted cell against its measurement.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellError {
    pub input_tokens: usize,
    pub output_tokens: usize,
    /// Fitted / measured − 1 of the median TTFT.
    pub ttft: f64,
    /// Of the mean over steps of each step's median ITL.
    pub itl: Option<f64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelFit {
    pub key: CurveKey,
    /// How tables and charts name it: [`CurveKey::label`], and the machine when the fits come
    /// from more than one.
    pub label: String,
    pub ttft: Ttft,
    /// Whether the p² term is in.
    pub quadratic: bool,
    /// 95% intervals of TTFT's coefficients.
    pub ttft_ci: [(f64, f64); 3],
    pub itl: Option<Itl>,
    pub itl_ci: Option<[(f64, f64); 3]>,
    /// Prompt lengths and output lengths measured (the range predictions interpolate in).
    pub prompt_range: (usize, usize),
    pub output_range: (usize, usize),
    pub prompt_lengths: usize,
    /// Positions the model takes (prompt + output for a decoder-only; each of them for an
    /// encoder-decoder), where its records say: no prediction goes past it.
    pub max_positions: Option<u64>,
    pub cells: Vec<CellError>,
    /// The fits of the bootstrap resamples (for intervals of anything computed from a fit).
    #[serde(skip)]
    pub resamples: Vec<Resample>,
}

impl ModelFit {
    pub fn max_ttft_error(&self) -> f64 {
        self.cells.iter().map(|c| c.ttft.abs()).fold(0.0, f64::max)
    }

    pub fn max_itl_error(&self) -> Option<f64> {
        self.cells.iter().filter_map(|c| c.itl.map(f64::abs)).reduce(f64::max)
    }

    /// Whether TTFT's error against the sweep says anything: more prompt lengths than the curve
    /// has coefficients (a line through two lengths meets both exactly, so its error is 0 by
    /// construction).
    pub fn ttft_checked(&self) -> bool {
        self.prompt_lengths > if self.quadratic { 3 } else { 2 }
    }

    /// The TTFT fit error as tables show it: `3.1%`, or `not checked (2 prompt lengths)`.
    pub fn ttft_error_text(&self) -> String {
        match self.ttft_checked() {
            true => format!("{:.1}%", self.max_ttft_error() * 100.0),
            false => format!("not checked ({} prompt lengths)", self.prompt_lengths),
        }
    }

    /// What a reader must know before using the fit: that it cannot be checked against the sweep,
    /// or that a slope has a sign no cost has (TTFT or ITL falling as the prompt grows).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = vec![];
        if !self.ttft_checked() {
            out.push(format!(
                "{}: TTFT fitted to {} prompt lengths passes through them exactly, so its error says nothing; \
                 measure a third prompt length to check the curve",
                self.label, self.prompt_lengths
            ));
        }
        let sign = |what: &str, slope_ns: f64, ci: Option<(f64, f64)>| {
            let sure = match ci {
                Some((_, hi)) if hi < 0.0 => "its whole 95% interval is below zero",
                _ => "its 95% interval includes zero",
            };
            format!(
                "{}: the fitted {what} falls as the prompt grows ({:+.4} ms per prompt token; {sure}): no step \
                 reads less for a longer prompt, so this is noise or drift across the sweep, not a cost; measure \
                 more prompt lengths or repetitions before predicting from it",
                self.label,
                slope_ns / 1e6
            )
        };
        if !self.quadratic && self.ttft.0[1] < 0.0 {
            out.push(sign("TTFT", self.ttft.0[1], Some(self.ttft_ci[1])));
        }
        if let Some(itl) = self.itl.filter(|i| i.0[1] < 0.0) {
            out.push(sign("ITL", itl.0[1], self.itl_ci.map(|c| c[1])));
        }
        out
    }
}

/// Weighted least squares: the coefficients of `x` (rows of features) minimising
/// Σ w·(y − x·c)²; `None` when the features do not determine them.
pub fn wls(x: &[Vec<f64>], y: &[f64], w: &[f64]) -> Option<Vec<f64>> {
    let k = x.first()?.len();
    // Normal equations, features scaled to unit size so p² does not swamp the constant.
    let scale: Vec<f64> = (0..k).map(|i| x.iter().map(|r| r[i].abs()).fold(0.0, f64::max).max(1e-300)).collect();
    let mut a = vec![vec![0.0; k + 1]; k];
    for ((r, &yi), &wi) in x.iter().zip(y).zip(w) {
        for i in 0..k {
            for j in 0..k {
                a[i][j] += wi * r[i] / scale[i] * r[j] / scale[j];
            }
            a[i][k] += wi * r[i] / scale[i] * yi;
        }
    }
    for col in 0..k {
        let pivot = (col..k).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 * a.iter().map(|r| r[col].abs()).fold(1e-300, f64::max) {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                for (x, p) in r.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][k] / a[i][i] / scale[i]).collect())
}

/// One model's observations: per cell, prompt length and the repetitions' TTFT and ITL rows.
struct Obs<'a> {
    cells: Vec<&'a CellResult>,
}

impl Obs<'_> {
    /// (p, median TTFT) per prompt length, from the repetitions `pick` chooses per cell.
    fn ttft_points(&self, pick: &[Vec<usize>]) -> Vec<(f64, f64)> {
        let mut by_p: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for (c, reps) in self.cells.iter().zip(pick) {
            by_p.entry(c.sweep.input_tokens).or_default().extend(reps.iter().map(|&r| c.samples.ttft_ns[r] as f64));
        }
        by_p.into_iter().filter(|(_, v)| !v.is_empty()).map(|(p, v)| (p as f64, median(&v))).collect()
    }

    /// (p, j, median ITL) per prompt length and step.
    fn itl_points(&self, pick: &[Vec<usize>]) -> Vec<(f64, f64, f64)> {
        let mut by: BTreeMap<(usize, usize), Vec<f64>> = BTreeMap::new();
        for (c, reps) in self.cells.iter().zip(pick) {
            for &r in reps {
                for (j, &x) in c.samples.itl_ns.get(r).into_iter().flatten().enumerate() {
                    by.entry((c.sweep.input_tokens, j)).or_default().push(x as f64);
                }
            }
        }
        by.into_iter().map(|((p, j), v)| (p as f64, j as f64, median(&v))).collect()
    }
}

fn fit_ttft(points: &[(f64, f64)], quadratic: bool) -> Option<Ttft> {
    let distinct = points.len();
    let terms = if distinct >= 4 && quadratic { 3 } else { distinct.clamp(1, 2) };
    let x: Vec<Vec<f64>> = points.iter().map(|&(p, _)| [1.0, p, p * p][..terms].to_vec()).collect();
    let y: Vec<f64> = points.iter().map(|p| p.1).collect();
    let w: Vec<f64> = y.iter().map(|v| 1.0 / (v * v).max(1e-300)).collect();
    let c = wls(&x, &y, &w)?;
    Some(Ttft([c[0], c.get(1).copied().unwrap_or(0.0), c.get(2).copied().unwrap_or(0.0)]))
}

fn fit_itl(points: &[(f64, f64, f64)]) -> Option<Itl> {
    let distinct = |f: fn(&(f64, f64, f64)) -> f64| {
        let mut v: Vec<u64> = points.iter().map(|t| f(t).to_bits()).collect();
        v.sort_unstable();
        v.dedup();
        v.len() > 1
    };
    // A feature that never varies cannot be fitted; it stays 0.
    let (use_p, use_j) = (distinct(|t| t.0), distinct(|t| t.1));
    let x: Vec<Vec<f64>> = points
        .iter()
        .map(|&(p, j, _)| {
            let mut r = vec![1.0];
            if use_p {
                r.push(p);
            }
            if use_j {
                r.push(j);
            }
            r
        })
        .collect();
    let y: Vec<f64> = points.iter().map(|t| t.2).collect();
    let w: Vec<f64> = y.iter().map(|v| 1.0 / (v * v).max(1e-300)).collect();
    let c = wls(&x, &y, &w)?;
    let mut it = c.into_iter();
    let c0 = it.next()?;
    let c1 = if use_p { it.next()? } else { 0.0 };
    let c2 = if use_j { it.next()? } else { 0.0 };
    Some(Itl([c0, c1, c2]))
}

/// The 2.5th and 97.5th percentiles of a bootstrap's finite values (`None` without any).
pub fn percentile_interval(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some((percentile(&v, 2.5), percentile(&v, 97.5)))
}

/// Fits one model's cells (all with the same [`CurveKey`]); `None` when no cell has samples.
pub fn fit_model(cells: &[&CellResult], seed: u64) -> Option<ModelFit> {
    let cells: Vec<&CellResult> = cells.iter().copied().filter(|c| !c.samples.ttft_ns.is_empty()).collect();
    let first = cells.first()?;
    let obs = Obs { cells: cells.clone() };
    let all: Vec<Vec<usize>> = cells.iter().map(|c| (0..c.samples.ttft_ns.len()).collect()).collect();
    let mut rng = Rng::new(seed);
    let picks: Vec<Vec<Vec<usize>>> = (0..RESAMPLES)
        .map(|_| {
            cells
                .iter()
                .map(|c| (0..c.samples.ttft_ns.len()).map(|_| rng.below(c.samples.ttft_ns.len())).collect())
                .collect()
        })
        .collect();
    let points = obs.ttft_points(&all);
    // The p² term stays only when its whole bootstrap interval is above zero.
    // The resamples' fits with the p² term (only where four lengths allow one); kept as the
    // resamples' TTFT curves when the term stays.
    let with_square: Vec<Option<Ttft>> =
        if points.len() >= 4 { picks.iter().map(|p| fit_ttft(&obs.ttft_points(p), true)).collect() } else { vec![] };
    let fitted = with_square.iter().flatten().count();
    let quadratic = fitted >= RESAMPLES / 2
        && percentile_interval(with_square.iter().flatten().map(|t| t.0[2])).is_some_and(|(low, _)| low > 0.0);
    let ttft = fit_ttft(&points, quadratic)?;
    let itl_points = obs.itl_points(&all);
    let itl = if itl_points.is_empty() { None } else { fit_itl(&itl_points) };
    let resamples: Vec<Resample> = picks
        .iter()
        .enumerate()
        .filter_map(|(k, p)| {
            let t = if quadratic { with_square[k]? } else { fit_ttft(&obs.ttft_points(p), false)? };
            Some((t, itl.and_then(|_| fit_itl(&obs.itl_points(p)))))
        })
        .collect();
    let ci = |f: &dyn Fn(&Resample) -> Option<f64>| {
        percentile_interval(resamples.iter().filter_map(f)).unwrap_or((f64::NAN, f64::NAN))
    };
    let ttft_ci = [ci(&|r| Some(r.0.0[0])), ci(&|r| Some(r.0.0[1])), ci(&|r| Some(r.0.0[2]))];
    let itl_ci =
        itl.map(|_| [ci(&|r| r.1.map(|i| i.0[0])), ci(&|r| r.1.map(|i| i.0[1])), ci(&|r| r.1.map(|i| i.0[2]))]);
    let errors = cells
        .iter()
        .map(|c| {
            let p = c.sweep.input_tokens as f64;
            let itl_err = itl.zip(mean_step_itl(c)).map(|(f, (mean, steps))| f.mean(p, steps) / mean - 1.0);
            CellError {
                input_tokens: c.sweep.input_tokens,
                output_tokens: c.sweep.output_tokens,
                ttft: ttft.at(p) / c.metrics.ttft_ns.median - 1.0,
                itl: itl_err,
            }
        })
        .collect();
    let lengths = |f: fn(&CellResult) -> usize| {
        let v: Vec<usize> = cells.iter().map(|c| f(c)).collect();
        (v.iter().copied().min().unwrap_or(0), v.iter().copied().max().unwrap_or(0))
    };
    Some(ModelFit {
        label: CurveKey::of(first).label(),
        key: CurveKey::of(first),
        ttft,
        quadratic,
        ttft_ci,
        itl,
        itl_ci,
        prompt_range: lengths(|c| c.sweep.input_tokens),
        output_range: lengths(|c| c.sweep.output_tokens),
        prompt_lengths: points.len(),
        max_positions: cells.iter().filter_map(|c| c.model.max_positions).min(),
        cells: errors,
        resamples,
    })
}

/// The mean over a cell's later tokens of each step's median ITL (ns), and how many steps: what a
/// fitted ITL is set against. `None` with one token per generation.
pub fn mean_step_itl(c: &CellResult) -> Option<(f64, usize)> {
    let steps = obs_steps(c);
    (!steps.is_empty()).then(|| (steps.iter().sum::<f64>() / steps.len() as f64, steps.len()))
}

/// Each step's median over a cell's repetitions.
fn obs_steps(c: &CellResult) -> Vec<f64> {
    let n = c.samples.itl_ns.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|j| median(&c.samples.itl_ns.iter().filter_map(|r| r.get(j)).map(|&x| x as f64).collect::<Vec<_>>()))
        .collect()
}

/// A fit per model and setting, in key order.
pub fn fit_all(cells: &[CellResult]) -> Vec<ModelFit> {
    let mut groups: BTreeMap<CurveKey, Vec<&CellResult>> = BTreeMap::new();
    for c in cells {
        groups.entry(CurveKey::of(c)).or_default().push(c);
    }
    let several = groups.keys().any(|k| groups.keys().next().is_some_and(|f| f.machine != k.machine));
    let mut fits: Vec<ModelFit> =
        groups.values().enumerate().filter_map(|(i, g)| fit_model(g, 0x5eed + i as u64)).collect();
    if several {
        for f in &mut fits {
            f.label = format!("{} on {}", f.label, f.key.machine_short);
        }
    }
    fits
}
