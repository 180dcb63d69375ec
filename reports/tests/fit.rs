//! Cost-curve fits, crossovers and workload predictions on synthetic cells with known curves:
//! exact recovery within tolerance, and the edge cases (one cell, flat data, noisy data, a model
//! without a partner).

mod common;

use common::cell_of;
use slmbench_reports::analysis::fit::{fit_all, fit_model};
use slmbench_reports::analysis::predict::{
    Crossing, Lengths, Workload, e2e_crossing, pairs, predict, ttft_crossing, winner,
};
use slmbench_results::paired::Rng;
use slmbench_results::schema::CellResult;

/// Cells of `kind` at each prompt length, `reps` repetitions of `n` tokens, with TTFT(p) and
/// ITL(p, j) in ms and uniform relative noise of at most `noise` (seeded).
fn cells(
    kind: &str,
    prompts: &[usize],
    n: usize,
    reps: usize,
    ttft: impl Fn(f64) -> f64,
    itl: impl Fn(f64, f64) -> f64,
    (noise, seed): (f64, u64),
) -> Vec<CellResult> {
    let mut rng = Rng::new(seed);
    let mut jitter = move || 1.0 + noise * (2.0 * rng.uniform() - 1.0);
    prompts
        .iter()
        .map(|&p| {
            let pf = p as f64;
            let ttft_ns = (0..reps).map(|_| (ttft(pf) * jitter() * 1e6) as u64).collect();
            let rows =
                (0..reps).map(|_| (0..n - 1).map(|j| (itl(pf, j as f64) * jitter() * 1e6) as u64).collect()).collect();
            cell_of(kind, p, n, ttft_ns, rows)
        })
        .collect()
}

const P: [usize; 5] = [32, 64, 128, 256, 512];

fn close(a: f64, b: f64, tol: f64) -> bool {
    ((a - b) / b).abs() <= tol
}

#[test]
fn known_curves_are_recovered() {
    let ttft = |p: f64| 2.0 + 0.02 * p + 1e-4 * p * p;
    let itl = |p: f64, j: f64| 1.0 + 0.001 * p + 0.005 * j;
    let c = cells("decoder-only", &P, 16, 10, ttft, itl, (0.005, 1));
    let refs: Vec<&CellResult> = c.iter().collect();
    let f = fit_model(&refs, 7).unwrap();
    assert!(f.quadratic, "a p² term this size is supported by five lengths");
    let t = f.ttft.0;
    assert!(close(t[0] * 1e-6, 2.0, 0.05) && close(t[1] * 1e-6, 0.02, 0.05) && close(t[2] * 1e-6, 1e-4, 0.05), "{t:?}");
    let i = f.itl.unwrap().0;
    assert!(
        close(i[0] * 1e-6, 1.0, 0.02) && close(i[1] * 1e-6, 0.001, 0.05) && close(i[2] * 1e-6, 0.005, 0.05),
        "{i:?}"
    );
    // The intervals hold the true values, and the fitted cells are close.
    for (k, truth) in [2.0e6, 0.02e6, 1e-4 * 1e6].iter().enumerate() {
        let (lo, hi) = f.ttft_ci[k];
        assert!(lo <= *truth * 1.01 && *truth * 0.99 <= hi, "coefficient {k}: {lo}..{hi} vs {truth}");
    }
    assert!(f.max_ttft_error() < 0.01 && f.max_itl_error().unwrap() < 0.01, "{:?}", f.cells);
    // Lengths that were not measured: within 1% of the curve.
    for p in [96.0, 384.0] {
        assert!(close(f.ttft.at(p) * 1e-6, ttft(p), 0.01), "TTFT at {p}");
        assert!(close(f.itl.unwrap().at(p, 7.0) * 1e-6, itl(p, 7.0), 0.01), "ITL at {p}");
    }
}

#[test]
fn a_linear_ttft_keeps_no_square_term() {
    let c = cells("decoder-only", &P, 8, 10, |p| 3.0 + 0.05 * p, |_, _| 1.0, (0.01, 2));
    let f = fit_model(&c.iter().collect::<Vec<_>>(), 3).unwrap();
    assert!(!f.quadratic && f.ttft.0[2] == 0.0, "{:?}", f.ttft);
    assert!(close(f.ttft.0[1] * 1e-6, 0.05, 0.03));
}

#[test]
fn crossovers_are_found_with_intervals() {
    // ED: 5 + 0.01 p; DO: 1 + 0.03 p. ED is sooner from p = 201 on (equal at 200).
    let mut all = cells("encoder-decoder", &P, 33, 10, |p| 5.0 + 0.01 * p, |_, j| 0.3 + 0.001 * j, (0.002, 4));
    all.extend(cells("decoder-only", &P, 33, 10, |p| 1.0 + 0.03 * p, |p, j| 0.4 + 0.001 * (p + j), (0.002, 5)));
    let fits = fit_all(&all);
    let pairs = pairs(&fits);
    assert_eq!(pairs.len(), 1);
    let (ed, dec) = pairs[0];
    match ttft_crossing(ed, dec) {
        Crossing::From { at, low, high, share } => {
            assert!((195.0..=207.0).contains(&at), "{at}");
            assert!(low <= at && at <= high && high - low < 30.0 && share > 0.9, "{low}..{high} share {share}");
        }
        c => panic!("{c:?}"),
    }
    // End to end at p = 32: ED starts 3.36 ms later and each later token is 0.132 ms cheaper, so
    // it finishes sooner from n = 27 on (3.36 − 0.132·(n − 1) < 0).
    match e2e_crossing(ed, dec, 32) {
        Crossing::From { at, low, high, .. } => assert!((26.0..=28.0).contains(&at) && low <= at && at <= high, "{at}"),
        c => panic!("{c:?}"),
    }
    // At p = 512 ED is sooner from the first token on.
    assert_eq!(e2e_crossing(ed, dec, 512), Crossing::Always);
}

#[test]
fn predictions_for_a_workload_name_the_winner() {
    let mut all = cells("encoder-decoder", &P, 33, 10, |p| 5.0 + 0.01 * p, |_, j| 0.3 + 0.001 * j, (0.002, 4));
    all.extend(cells("decoder-only", &P, 33, 10, |p| 1.0 + 0.03 * p, |p, j| 0.4 + 0.001 * (p + j), (0.002, 5)));
    let fits = fit_all(&all);
    let w = Workload::from_distributions(&Lengths::List(vec![400]), &Lengths::List(vec![17]), "400 / 17".into());
    let preds: Vec<_> = fits.iter().map(|f| predict(f, &w)).collect();
    // Exact values at p = 400, n = 17: ED TTFT 9 ms, e2e 9 + 16·0.3 + 0.001·120 = 13.92 ms.
    let ed = preds.iter().find(|p| p.kind == "encoder-decoder").unwrap();
    assert!(close(ed.ttft_mean_ms.value, 9.0, 0.01) && close(ed.e2e_mean_ms.value, 13.92, 0.01), "{ed:?}");
    assert!(ed.ttft_mean_ms.low <= 9.0 * 1.005 && 9.0 * 0.995 <= ed.ttft_mean_ms.high);
    assert_eq!(ed.extrapolated, 0.0);
    let (best, clear) = winner(&preds, |p| p.ttft_mean_ms, true).unwrap();
    assert_eq!(preds[best].kind, "encoder-decoder");
    assert!(clear);
    // Outside the measured lengths: said, as a share of requests.
    let far = Workload::from_distributions(&Lengths::Range(600, 800), &Lengths::List(vec![64]), "far".into());
    assert_eq!(predict(&fits[0], &far).extrapolated, 1.0);
}

#[test]
fn edge_cases() {
    // One cell: a constant TTFT, an ITL in the step only; it still predicts, and says it extrapolates.
    let one = cells("decoder-only", &[128], 9, 6, |_| 4.0, |_, j| 1.0 + 0.01 * j, (0.0, 6));
    let f = fit_model(&one.iter().collect::<Vec<_>>(), 1).unwrap();
    assert!(close(f.ttft.at(999.0) * 1e-6, 4.0, 1e-6) && f.ttft.0[1] == 0.0);
    assert!(close(f.itl.unwrap().at(128.0, 4.0) * 1e-6, 1.04, 1e-3));
    let w = Workload::from_distributions(&Lengths::Normal(300.0, 120.0), &Lengths::Range(10, 60), "n".into());
    let pr = predict(&f, &w);
    assert!(pr.extrapolated > 0.9 && pr.ttft_mean_ms.value.is_finite());
    // Flat data: slopes of zero, nothing undefined.
    let flat = cells("decoder-only", &P, 8, 6, |_| 2.0, |_, _| 1.0, (0.0, 8));
    let f = fit_model(&flat.iter().collect::<Vec<_>>(), 1).unwrap();
    assert!(f.ttft.0.iter().chain(&f.itl.unwrap().0).all(|c| c.is_finite()));
    assert!(f.ttft.0[1].abs() < 1e-3 && f.max_ttft_error() < 1e-9);
    // Noisy data (±30%): the intervals widen and still hold the truth.
    let noisy = cells("decoder-only", &P, 8, 20, |p| 2.0 + 0.02 * p, |_, _| 1.0, (0.3, 9));
    let f = fit_model(&noisy.iter().collect::<Vec<_>>(), 1).unwrap();
    let (lo, hi) = f.ttft_ci[1];
    assert!(lo < 0.02e6 && 0.02e6 < hi && hi - lo > 0.001e6, "{lo}..{hi}");
    // A single model without a partner: fits, no pair, no crossover.
    let fits = fit_all(&noisy);
    assert_eq!(fits.len(), 1);
    assert!(pairs(&fits).is_empty());
    // One token per generation: no ITL.
    let single = cells("decoder-only", &P, 1, 6, |p| 2.0 + 0.01 * p, |_, _| 1.0, (0.0, 10));
    assert!(fit_model(&single.iter().collect::<Vec<_>>(), 1).unwrap().itl.is_none());
}

#[test]
fn workload_lengths_parse_or_say_why() {
    assert_eq!(Lengths::parse("300").unwrap(), Lengths::List(vec![300]));
    assert_eq!(Lengths::parse("100,300,500").unwrap(), Lengths::List(vec![100, 300, 500]));
    assert_eq!(Lengths::parse("180-420").unwrap(), Lengths::Range(180, 420));
    assert_eq!(Lengths::parse("300±120").unwrap(), Lengths::Normal(300.0, 120.0));
    assert_eq!(Lengths::parse("300+-120").unwrap(), Lengths::Normal(300.0, 120.0));
    for bad in ["", "0", "abc", "420-180", "x±1", "1,,2"] {
        assert!(Lengths::parse(bad).is_err(), "{bad}");
    }
    let w = Workload::from_text("# prompt output\n300 40\n120,12\n\n", "file".into()).unwrap();
    assert_eq!(w.requests, vec![(300, 40), (120, 12)]);
    let e = Workload::from_text("300 40\n300\n", "file".into()).unwrap_err();
    assert!(e.contains("line 2"), "{e}");
    assert!(Workload::from_text("# nothing\n", "file".into()).is_err());
}

/// Two prompt lengths determine the TTFT line exactly: its "error" is 0 by construction and the
/// fit says it was not checked; an ITL that falls as the prompt grows is flagged, not used
/// silently.
#[test]
fn fits_say_when_they_cannot_be_checked_and_when_a_slope_has_the_wrong_sign() {
    let two = cells("decoder-only", &[32, 128], 8, 6, |p| 2.0 + 0.02 * p, |_, _| 1.0, (0.0, 3));
    let f = fit_model(&two.iter().collect::<Vec<_>>(), 1).unwrap();
    assert!(!f.ttft_checked() && f.max_ttft_error() < 1e-9);
    assert_eq!(f.ttft_error_text(), "not checked (2 prompt lengths)");
    assert!(f.warnings().iter().any(|w| w.contains("measure a third prompt length")), "{:?}", f.warnings());
    let three = cells("decoder-only", &[32, 64, 128], 8, 6, |p| 2.0 + 0.02 * p, |p, _| 2.0 - 0.005 * p, (0.0, 4));
    let f = fit_model(&three.iter().collect::<Vec<_>>(), 1).unwrap();
    assert!(f.ttft_checked() && f.ttft_error_text().ends_with('%'));
    let w = f.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("the fitted ITL falls as the prompt grows") && w[0].contains("below zero"), "{w:?}");
    // A curve that rises with the prompt, measured at enough lengths, has nothing to warn about.
    let fine = cells("decoder-only", &P, 8, 6, |p| 2.0 + 0.02 * p, |p, _| 1.0 + 0.001 * p, (0.0, 5));
    assert!(fit_model(&fine.iter().collect::<Vec<_>>(), 1).unwrap().warnings().is_empty());
}
