//! The regression rule on synthetic samples from a seeded generator: how often it catches a true
//! slowdown, how often it cries wolf, and that a change under the threshold never fails.
//! The figures printed here are the ones stated in `ci/README.md`.

use slmbench_reports::analysis::gate::{GateConfig, Outcome, judge};
use slmbench_results::metric::Metric;

struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    /// `n` latency samples around `median` with coefficient of variation `cv`.
    fn samples(&mut self, n: usize, median: f64, cv: f64) -> Vec<f64> {
        (0..n).map(|_| median * (cv * self.normal()).exp()).collect()
    }
}

const TRIALS: usize = 200;
const N: usize = 20;
const CV: f64 = 0.03;

fn rate(change: f64, seed: u64) -> f64 {
    let cfg = GateConfig::default();
    let mut rng = Rng(seed);
    let flagged = (0..TRIALS)
        .filter(|_| {
            let base = rng.samples(N, 100.0, CV);
            let cur = rng.samples(N, 100.0 * (1.0 + change), CV);
            judge(Metric::Ttft, &base, &cur, 0.05, &cfg).outcome == Outcome::Regression
        })
        .count();
    flagged as f64 / TRIALS as f64
}

#[test]
fn true_ten_percent_slowdown_is_caught() {
    let r = rate(0.10, 1);
    eprintln!("10% slowdown, CV 3%, n {N}: flagged in {:.1}% of {TRIALS} trials", r * 100.0);
    assert!(r >= 0.95, "{r}");
}

#[test]
fn identical_distributions_are_rarely_flagged() {
    let r = rate(0.0, 2);
    eprintln!("no change, CV 3%, n {N}: flagged in {:.1}% of {TRIALS} trials", r * 100.0);
    assert!(r <= 0.05, "{r}");
}

#[test]
fn a_change_under_the_threshold_never_fails() {
    let r = rate(0.02, 3);
    eprintln!("2% slowdown under a 5% threshold: flagged in {:.1}% of {TRIALS} trials", r * 100.0);
    assert_eq!(r, 0.0);
}

#[test]
fn throughput_direction_and_improvements() {
    let cfg = GateConfig::default();
    let mut rng = Rng(4);
    let base = rng.samples(N, 100.0, CV);
    let slower = rng.samples(N, 80.0, CV); // tokens/s down 20%
    assert_eq!(judge(Metric::E2eTokensPerS, &base, &slower, 0.05, &cfg).outcome, Outcome::Regression);
    let faster = rng.samples(N, 120.0, CV);
    assert_eq!(judge(Metric::E2eTokensPerS, &base, &faster, 0.05, &cfg).outcome, Outcome::Improvement);
    let quicker = rng.samples(N, 80.0, CV); // latency down 20%
    assert_eq!(judge(Metric::Ttft, &base, &quicker, 0.05, &cfg).outcome, Outcome::Improvement);
}

#[test]
fn gate_config_is_validated() {
    let ok = GateConfig::from_toml("alpha = 0.05\n[thresholds]\nttft = 0.05\nitl = 0.1\n").unwrap();
    assert_eq!(ok.thresholds[&Metric::Itl], 0.1);
    assert!(GateConfig::from_toml("[thresholds]\nttfb = 0.05\n").unwrap_err().contains("ttfb"));
    assert!(GateConfig::from_toml("alpha = 2\n[thresholds]\n").unwrap_err().contains("alpha"));
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/gate.toml")).unwrap();
    GateConfig::from_toml(&shipped).unwrap();
}
