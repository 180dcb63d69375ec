//! Measuring one sweep cell: warm-up, repetitions until the stopping rule says enough, and the
//! metrics derived from the raw clock readings.

use std::sync::atomic::{AtomicUsize, Ordering};

use slmbench_results::context::Context;
use slmbench_results::metric::Metric;
use slmbench_results::paired::trend;
use slmbench_results::schema::Drift;
use slmbench_results::schema::{CellResult, Metrics, ModelInfo, Repetitions, Samples, Settings, SweepPoint};
use slmbench_results::stats::{Policy, StopReason, Summary, median};

use crate::backend::Generator;
use crate::clock::Clock;
use crate::context::{self};
use crate::error::HarnessError;
use crate::generation::{Generation, Prompt};

/// Reports progress of repetitions (the CLI draws it).
pub trait Progress {
    fn repetition(&mut self, done: usize, max: usize, warmup: bool);
}

impl Progress for () {
    fn repetition(&mut self, _: usize, _: usize, _: bool) {}
}

/// How a sweep learns that it should stop. `signal` holds the number of a SIGINT/SIGTERM that
/// arrived (0: none): the sweep ends after the current repetition. While `at_once` is set (the
/// sweep is inside a call it cannot leave early, such as ONNX Runtime creating a session, and
/// nothing unsaved is in memory), the signal handler ends the process at once instead.
#[derive(Debug, Default, Clone)]
pub struct Stop {
    pub signal: std::sync::Arc<AtomicUsize>,
    pub at_once: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Stop {
    /// Runs `f` with `at_once` set.
    pub fn at_once<T>(&self, f: impl FnOnce() -> T) -> T {
        self.at_once.store(true, Ordering::SeqCst);
        let out = f();
        self.at_once.store(false, Ordering::SeqCst);
        out
    }
}

/// The SIGINT/SIGTERM number stored in `stop`, if one arrived (0 means none).
pub(crate) fn signalled(stop: &AtomicUsize) -> Option<usize> {
    match stop.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// What measuring any cell takes besides its model and its point, the same for every cell of a
/// run: the run's context (in every record), the stopping policy, where progress is shown, and the
/// stop signal (a signal number, 0 for none), checked after every repetition.
pub struct Measuring<'a> {
    pub context: &'a Context,
    pub policy: &'a Policy,
    pub progress: &'a mut dyn Progress,
    pub stop: &'a AtomicUsize,
}

/// The cell a record describes: its model as described, the settings it ran with, its prompt.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub info: &'a ModelInfo,
    pub settings: &'a Settings,
    pub prompt: &'a Prompt,
}

/// Runs one cell on a loaded model of any backend. A measured cell that `m.stop` interrupts ends
/// as `Interrupted`, one still warming up as an error.
pub fn measure(
    model: &mut dyn Generator,
    cell: Subject<'_>,
    sweep: &SweepPoint,
    m: &mut Measuring<'_>,
) -> Result<CellResult, HarnessError> {
    let (policy, prompt) = (m.policy, cell.prompt);
    let stopped = || signalled(m.stop);
    warm_up(model, sweep, prompt, m)?;
    let start = Clock::start();
    let mut runs: Vec<Generation> = Vec::new();
    let stop_reason = loop {
        m.progress.repetition(runs.len(), policy.max_repetitions, false);
        let g = model.generate(prompt, sweep.output_tokens, sweep.stop_at_eos)?;
        runs.push(g);
        let ttft: Vec<f64> = runs.iter().map(|g| g.ttft_ns as f64).collect();
        let itl: Vec<f64> = runs.iter().flat_map(|g| g.itl_ns.iter().map(|&x| x as f64)).collect();
        if let Some(r) = policy.stop(runs.len(), start.secs(), Summary::of(&ttft).as_ref(), Summary::of(&itl).as_ref())
        {
            break r;
        }
        if stopped().is_some() {
            break StopReason::Interrupted;
        }
    };
    let wall_ns = start.ns();
    let reps = Repetitions {
        warmup: policy.warmup,
        measured: runs.len(),
        stop_reason,
        wall_ns,
        order: None,
        interleaved_with: None,
    };
    Ok(cell_of(&*model, cell, sweep, m.context, reps, &runs))
}

/// The warm-up repetitions of a cell (none of them recorded).
pub(crate) fn warm_up(
    model: &mut dyn Generator,
    sweep: &SweepPoint,
    prompt: &Prompt,
    m: &mut Measuring<'_>,
) -> Result<(), HarnessError> {
    for w in 0..m.policy.warmup {
        if let Some(s) = signalled(m.stop) {
            return Err(HarnessError::Interrupted(s));
        }
        m.progress.repetition(w, m.policy.warmup, true);
        model.generate(prompt, sweep.output_tokens, sweep.stop_at_eos)?;
    }
    match signalled(m.stop) {
        Some(s) => Err(HarnessError::Interrupted(s)),
        None => Ok(()),
    }
}

/// The record of a cell from its measured generations, in the order they ran.
pub(crate) fn cell_of(
    model: &dyn Generator,
    cell: Subject<'_>,
    sweep: &SweepPoint,
    context: &Context,
    mut reps: Repetitions,
    runs: &[Generation],
) -> CellResult {
    reps.stop_reason = if reps.stop_reason != StopReason::Interrupted
        && sweep.stop_at_eos
        && runs.iter().any(|g| g.tokens[0].len() < sweep.output_tokens)
    {
        StopReason::EndOfSequence
    } else {
        reps.stop_reason
    };
    let Subject { info, settings, prompt } = cell;
    let b = prompt.batch as f64;
    let samples = Samples {
        ttft_ns: runs.iter().map(|g| g.ttft_ns).collect(),
        encoder_ns: runs.iter().filter_map(|g| g.encoder_ns).collect(),
        first_decoder_step_ns: runs.iter().map(|g| g.first_step_ns).collect(),
        itl_ns: runs.iter().map(|g| g.itl_ns.clone()).collect(),
    };
    // Every metric from the raw readings, as readers of the record compute them.
    let of = |m: Metric| m.samples_of(&samples, prompt.len, runs[0].tokens[0].len());
    let summary = |m: Metric| Summary::of(&of(m));
    let outside: u64 = runs.iter().map(|g| g.itl_ns.iter().sum::<u64>().saturating_sub(g.decode_run_ns)).sum();
    let inside: u64 = runs.iter().map(|g| g.decode_run_ns).sum();
    let decode = of(Metric::DecodeTokensPerS);
    let decode_tps = (!decode.is_empty()).then(|| median(&decode));
    let (e2e, prefill) = (median(&of(Metric::E2eTokensPerS)), median(&of(Metric::PrefillTokensPerS)));
    let metrics = Metrics {
        ttft_ns: summary(Metric::Ttft).expect("at least one repetition"),
        encoder_ns: summary(Metric::Encoder),
        first_decoder_step_ns: summary(Metric::FirstDecoderStep).expect("at least one repetition"),
        itl_ns: summary(Metric::Itl),
        decode_tokens_per_s: decode_tps,
        decode_tokens_per_s_batch: decode_tps.map(|x| x * b),
        e2e_tokens_per_s: e2e,
        e2e_tokens_per_s_batch: e2e * b,
        prefill_tokens_per_s: prefill,
        prefill_tokens_per_s_batch: prefill * b,
        session_load_ns: model.load_ns(),
        peak_rss_bytes: context::peak_rss_bytes(),
        harness_overhead_ratio: (inside > 0).then(|| outside as f64 / inside as f64),
        estimated_memory_bytes: None,
    };
    // Each repetition's median step, so one slow token does not read as a trend.
    let step: Vec<f64> = samples
        .itl_ns
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| median(&r.iter().map(|&x| x as f64).collect::<Vec<_>>()))
        .collect();
    let drift = Drift { ttft: trend(&of(Metric::Ttft), 0), itl: trend(&step, 0) };
    CellResult {
        schema_version: slmbench_results::schema::SCHEMA_VERSION,
        cell_id: slmbench_results::identity::cell_id(
            info,
            settings.backend_version.as_deref().unwrap_or(""),
            settings,
            sweep,
        ),
        model: info.clone(),
        settings: settings.clone(),
        sweep: sweep.clone(),
        repetitions: reps,
        metrics,
        samples,
        output_token_ids: runs[0].tokens.clone(),
        context: context.clone(),
        placement: None,
        roofline: None,
        memory: None,
        drift: (drift.ttft.is_some() || drift.itl.is_some()).then_some(drift),
        warnings: vec![],
    }
}
