//! Measuring a pair side by side: both models loaded, their repetitions alternating in blocks
//! (one of each, back to back, in ABBA or seeded random order), until the paired interval of the
//! ratio is as narrow as the stopping rule asks ([`slmbench_results::paired`]).

use slmbench_results::metric::Metric;
use slmbench_results::pair_ratio::{PAIR_RATIO, PairRatio};
use slmbench_results::paired::{self, MIN_BLOCKS_FOR_CI, RESAMPLES, RatioEstimate, Rng};
use slmbench_results::schema::{CellResult, ModelInfo, Repetitions, Settings, SweepPoint};
use slmbench_results::stats::{Policy, StopReason};

use crate::backend::Generator;
use crate::bench::{self, Measuring, Subject, signalled};
use crate::clock::Clock;
use crate::error::HarnessError;
use crate::generation::{Generation, Prompt};

/// How the repetitions of a pair's two models are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Blocks alternate AB, BA, AB, …: a linear drift cancels over every two blocks.
    #[default]
    Abba,
    /// Each block's order drawn from the seed.
    Random,
    /// Each model's repetitions of a cell one after the other, as single cells run.
    Sequential,
}

impl Order {
    /// The name records carry.
    pub fn name(self) -> &'static str {
        match self {
            Order::Abba => "abba",
            Order::Random => "random",
            Order::Sequential => "sequential",
        }
    }
}

/// Loads a side's model again, with the settings it was loaded with.
pub type Reload<'a> = &'a mut dyn FnMut() -> Result<Box<dyn Generator>, HarnessError>;

/// One side of a pair: its loaded model, what its record says, and its prompt.
pub struct Side<'a> {
    pub model: &'a mut Box<dyn Generator>,
    /// How to load the model again (for `loads` above 1 in [`measure_pair`]).
    pub reload: Option<Reload<'a>>,
    pub info: &'a ModelInfo,
    pub settings: &'a Settings,
    pub prompt: &'a Prompt,
}

/// Which side failed (0: encoder-decoder, 1: decoder-only), and why.
pub type PairError = (usize, HarnessError);

/// When to stop a pair cell: at `max_repetitions` blocks, after twice `max_time_s` (two models
/// share the cell's time), or once both the TTFT and the decode ratio's paired intervals are within
/// `target_ci` (never before [`MIN_BLOCKS_FOR_CI`] blocks, below which there is no interval, and
/// never without intervals: none are computed until they may stop the cell).
fn stop_pair(policy: &Policy, blocks: usize, elapsed_s: f64, ratios: &[Option<RatioEstimate>]) -> Option<StopReason> {
    if blocks >= policy.max_repetitions {
        return Some(StopReason::MaxRepetitions);
    }
    if blocks >= 1 && elapsed_s >= 2.0 * policy.max_time_s {
        return Some(StopReason::MaxTime);
    }
    let tight = !ratios.is_empty() && ratios.iter().all(|r| r.is_none_or(|r| r.half_width_rel() <= policy.target_ci));
    (blocks >= policy.min_repetitions.max(MIN_BLOCKS_FOR_CI) && tight).then_some(StopReason::ConfidenceReached)
}

/// The per-repetition samples of `metric` for both sides, when they line up block by block.
fn per_block(metric: Metric, a: &[Generation], b: &[Generation], prompts: [&Prompt; 2]) -> Option<[Vec<f64>; 2]> {
    let of = |runs: &[Generation], p: &Prompt| {
        let s = slmbench_results::schema::Samples {
            ttft_ns: runs.iter().map(|g| g.ttft_ns).collect(),
            encoder_ns: vec![],
            first_decoder_step_ns: vec![],
            itl_ns: runs.iter().map(|g| g.itl_ns.clone()).collect(),
        };
        metric.samples_of(&s, p.len, runs[0].tokens[0].len())
    };
    let (x, y) = (of(a, prompts[0]), of(b, prompts[1]));
    (!x.is_empty() && x.len() == a.len() && y.len() == b.len()).then_some([x, y])
}

fn ratio(
    metric: Metric,
    a: &[Generation],
    b: &[Generation],
    loads: &[usize],
    prompts: [&Prompt; 2],
    seed: u64,
) -> Option<RatioEstimate> {
    per_block(metric, a, b, prompts).and_then(|[x, y]| paired::paired_ratio_loads(&x, &y, loads, seed))
}

/// Stands in for a side's model between dropping its sessions and loading them again; it stays
/// there only when that load failed (that cell's failure says why).
struct Unloaded;

impl Generator for Unloaded {
    fn generate(&mut self, _: &Prompt, _: usize, _: bool) -> Result<Generation, HarnessError> {
        Err(HarnessError::BadInput(
            "this model's sessions were dropped to load them again (--reloads), and that load failed; \
             see the failed cell before this one"
                .into(),
        ))
    }

    fn load_ns(&self) -> u64 {
        0
    }

    fn vocab_size(&self) -> usize {
        0
    }

    fn memory_need(&self, _: usize, _: usize, _: usize) -> crate::guard::Estimate {
        crate::guard::Estimate { weights: 0, cache: 0, activations: 0 }
    }
}

/// Blocks per load when a pair cell spreads its blocks over `loads` loads: the repetition limit
/// shared out (at least two blocks each).
fn blocks_per_load(policy: &Policy, loads: usize) -> usize {
    policy.max_repetitions.div_ceil(loads.max(1)).max(2)
}

/// Measures one sweep point of a pair with interleaved repetitions: warm-up of each, then blocks
/// until [`stop_pair`]. With `loads` above 1 both models are loaded again (and warmed up) after
/// every [`blocks_per_load`] blocks, up to `loads` loads, and the intervals are drawn load by
/// load ([`paired::paired_ratio_loads`]); the stopping rule's interval waits for the last load.
/// Gives both cells' records (each as a single cell would have it, plus its order and partner)
/// and the ratio record.
pub fn measure_pair(
    sides: [Side<'_>; 2],
    sweep: &SweepPoint,
    order: Order,
    loads: usize,
    seed: u64,
    m: &mut Measuring<'_>,
) -> Result<(CellResult, CellResult, PairRatio), PairError> {
    let (policy, context) = (m.policy, m.context);
    let [mut a, mut b] = sides;
    let loads = if a.reload.is_some() && b.reload.is_some() { loads.max(1) } else { 1 };
    let per_load = blocks_per_load(policy, loads);
    bench::warm_up(&mut **a.model, sweep, a.prompt, m).map_err(|e| (0, e))?;
    bench::warm_up(&mut **b.model, sweep, b.prompt, m).map_err(|e| (1, e))?;
    let mut rng = Rng::new(seed);
    let prompts = [a.prompt, b.prompt];
    let (mut ra, mut rb) = (Vec::<Generation>::new(), Vec::<Generation>::new());
    // The load each block ran on.
    let mut on_load: Vec<usize> = vec![];
    let start = Clock::start();
    let stop_reason = loop {
        let k = ra.len();
        let load = (k / per_load).min(loads - 1);
        if k > 0 && load > on_load[k - 1] {
            for (i, side) in [&mut a, &mut b].into_iter().enumerate() {
                let reload = side.reload.as_mut().expect("loads above 1 have a reload");
                // The old sessions go before the new ones come, so two copies never coexist.
                *side.model = Box::new(Unloaded);
                *side.model = reload().map_err(|e| (i, e))?;
                bench::warm_up(&mut **side.model, sweep, side.prompt, m).map_err(|e| (i, e))?;
            }
        }
        on_load.push(load);
        m.progress.repetition(k, policy.max_repetitions, false);
        let a_first = match order {
            Order::Random => rng.next_u64() & 1 == 0,
            _ => k % 2 == 0,
        };
        for first in [a_first, !a_first] {
            if first {
                ra.push(a.model.generate(a.prompt, sweep.output_tokens, sweep.stop_at_eos).map_err(|e| (0, e))?);
            } else {
                rb.push(b.model.generate(b.prompt, sweep.output_tokens, sweep.stop_at_eos).map_err(|e| (1, e))?);
            }
        }
        let blocks = ra.len();
        // The interval is computed only once it can stop the cell (the bootstrap takes a few ms),
        // and with several loads only once the last one has two blocks.
        let last_load_ready = load + 1 == loads && blocks >= (loads - 1) * per_load + 2;
        let ratios = if blocks >= policy.min_repetitions.max(MIN_BLOCKS_FOR_CI) && last_load_ready {
            vec![
                ratio(Metric::Ttft, &ra, &rb, &on_load, prompts, seed),
                ratio(Metric::DecodeTokensPerS, &ra, &rb, &on_load, prompts, seed),
            ]
        } else {
            vec![]
        };
        if let Some(r) = stop_pair(policy, blocks, start.secs(), &ratios) {
            break r;
        }
        if signalled(m.stop).is_some() {
            break StopReason::Interrupted;
        }
    };
    let wall_ns = start.ns();
    let reps = |partner: &str| Repetitions {
        warmup: policy.warmup,
        measured: ra.len(),
        stop_reason,
        wall_ns,
        order: Some(order.name().into()),
        interleaved_with: Some(partner.into()),
    };
    let id = |s: &Side| {
        slmbench_results::identity::cell_id(
            s.info,
            s.settings.backend_version.as_deref().unwrap_or(""),
            s.settings,
            sweep,
        )
    };
    let (ida, idb) = (id(&a), id(&b));
    let ca = bench::cell_of(
        &**a.model,
        Subject { info: a.info, settings: a.settings, prompt: a.prompt },
        sweep,
        context,
        reps(&idb),
        &ra,
    );
    let cb = bench::cell_of(
        &**b.model,
        Subject { info: b.info, settings: b.settings, prompt: b.prompt },
        sweep,
        context,
        reps(&ida),
        &rb,
    );
    let used = on_load.last().map_or(1, |l| l + 1);
    let ttft = ratio(Metric::Ttft, &ra, &rb, &on_load, prompts, seed).expect("at least one block");
    let block_ratios: Vec<f64> = ra.iter().zip(&rb).map(|(x, y)| x.ttft_ns as f64 / y.ttft_ns.max(1) as f64).collect();
    let record = PairRatio {
        schema_version: slmbench_results::schema::SCHEMA_VERSION,
        record: PAIR_RATIO.into(),
        ratio_id: slmbench_results::pair_ratio::ratio_id(&ida, &idb),
        pair: a.info.pair.clone().unwrap_or_default(),
        encoder_decoder_cell: ida,
        decoder_only_cell: idb,
        settings: a.settings.clone(),
        sweep: sweep.clone(),
        order: order.name().into(),
        seed,
        blocks: ra.len(),
        method: if used > 1 { "load-block-bootstrap" } else { "block-bootstrap" }.into(),
        loads: used,
        resamples: RESAMPLES,
        ttft,
        decode_tokens_per_s: ratio(Metric::DecodeTokensPerS, &ra, &rb, &on_load, prompts, seed),
        e2e_tokens_per_s: ratio(Metric::E2eTokensPerS, &ra, &rb, &on_load, prompts, seed),
        ttft_ratio_trend: paired::trend(&block_ratios, seed),
        stop_reason: ca.repetitions.stop_reason,
        wall_ns,
        context: context.clone(),
    };
    Ok((ca, cb, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_stopping_rule() {
        let p = Policy { min_repetitions: 5, max_repetitions: 30, max_time_s: 10.0, target_ci: 0.03, warmup: 1 };
        let tight = Some(RatioEstimate { value: 0.5, low: Some(0.495), high: Some(0.505) });
        let loose = Some(RatioEstimate { value: 0.5, low: Some(0.4), high: Some(0.6) });
        // Never before an interval can exist, however tight.
        assert_eq!(stop_pair(&p, MIN_BLOCKS_FOR_CI - 1, 1.0, &[tight, tight]), None);
        assert_eq!(stop_pair(&p, MIN_BLOCKS_FOR_CI, 1.0, &[tight, tight]), Some(StopReason::ConfidenceReached));
        assert_eq!(stop_pair(&p, MIN_BLOCKS_FOR_CI, 1.0, &[tight, loose]), None);
        // A cell without decode steps (one new token) stops on TTFT alone.
        assert_eq!(stop_pair(&p, 12, 1.0, &[tight, None]), Some(StopReason::ConfidenceReached));
        // Time is twice a single cell's: two models share it.
        assert_eq!(stop_pair(&p, 12, 15.0, &[loose, loose]), None);
        assert_eq!(stop_pair(&p, 12, 20.0, &[loose, loose]), Some(StopReason::MaxTime));
        assert_eq!(stop_pair(&p, 30, 1.0, &[loose, loose]), Some(StopReason::MaxRepetitions));
        // No interval computed yet (a later load still to come): no stop on confidence.
        assert_eq!(stop_pair(&p, 12, 1.0, &[]), None);
    }
}
