//! Synthetic result records with known numbers, shared by the reports crate's tests.
#![allow(dead_code)]

use slmbench_results::context::Context;
use slmbench_results::ep::Ep;
use slmbench_results::model::{Layout, ModelKind, OptLevel};
use slmbench_results::schema::{CellResult, Metrics, ModelInfo, Repetitions, Samples, Settings, SweepPoint};
use slmbench_results::stats::{StopReason, Summary};

pub fn context() -> Context {
    Context {
        suite_version: "0.1.0".into(),
        suite_commit: "abc123".into(),
        build_profile: "release".into(),
        ort_version: "1.31.1".into(),
        ort_build_info: "ORT Build Info".into(),
        ort_library: "/lib/libonnxruntime.so".into(),
        cpu_model: "Test CPU".into(),
        cpu_logical_cores: 2,
        cpu_physical_cores: Some(1),
        cpu_mhz: Some(2000.0),
        memory_bytes: Some(1 << 34),
        os: "linux".into(),
        arch: "x86_64".into(),
        time_rfc3339: "2026-11-29T06:00:00Z".into(),
        command: "slmbench run --preset tiny".into(),
        warnings: vec![],
        test_delay_us: None,
        scenario: None,
        device_name: None,
    }
}

/// A cell whose TTFT samples are `ttft_ms` and ITL samples `itl_ms` (ms), fixed and exact.
pub fn cell(kind: &str, p: usize, n: usize, ttft_ms: &[f64], itl_ms: f64) -> CellResult {
    let ttft_ns: Vec<u64> = ttft_ms.iter().map(|t| (t * 1e6) as u64).collect();
    let itl: Vec<Vec<u64>> = ttft_ms.iter().map(|_| vec![(itl_ms * 1e6) as u64; n - 1]).collect();
    cell_of(kind, p, n, ttft_ns, itl)
}

/// A cell with these raw samples (ns): one TTFT and one row of later-token ITLs per repetition.
pub fn cell_of(kind: &str, p: usize, n: usize, ttft_ns: Vec<u64>, itl: Vec<Vec<u64>>) -> CellResult {
    let ed = kind == "encoder-decoder";
    let itl_ms = itl.iter().flatten().sum::<u64>() as f64 / itl.iter().flatten().count().max(1) as f64 / 1e6;
    let f = |v: &[u64]| Summary::of(&v.iter().map(|&x| x as f64).collect::<Vec<_>>()).unwrap();
    let itl_flat: Vec<u64> = itl.iter().flatten().copied().collect();
    let model = ModelInfo {
        name: format!("tiny/{kind}"),
        dir: format!("/m/{kind}"),
        kind: if ed { ModelKind::EncoderDecoder } else { ModelKind::DecoderOnly },
        layout: if ed { Layout::EncoderDecoderMerged } else { Layout::DecoderOnly },
        params: Some(if ed { 361664 } else { 361536 }),
        bytes_on_disk: 1_500_000,
        pair: Some("tiny".into()),
        content_sha256: Some(format!("{kind:0>64}")),
        precision: Some("fp32".into()),
        quantization: None,
        fused_operators: vec![],
        graph_variant: Some("plain".into()),
        accuracy: None,
        past_present_share_buffer: false,
        max_positions: Some(256),
    };
    let settings = Settings {
        backend: "onnxruntime".into(),
        backend_version: Some("1.31.1".into()),
        ep_requested: Ep::Cpu,
        ep_used: Ep::Cpu,
        ep_options: vec![],
        threads: 1,
        graph_optimization: OptLevel::All,
        intra_op_spinning: false,
        strict_placement: false,
        io_binding: false,
        session_options: vec![],
        ep_context_cache: false,
        ep_plugin: None,
    };
    let sweep = SweepPoint { batch: 1, input_tokens: p, output_tokens: n, stop_at_eos: false, prompt_seed: Some(0) };
    let ttft = f(&ttft_ns);
    // One new token per generation leaves no later token to time.
    let itl_s =
        Summary::of(&itl_flat.iter().map(|&x| x as f64).collect::<Vec<_>>()).unwrap_or(Summary::of(&[0.0]).unwrap());
    let mut c = CellResult {
        schema_version: slmbench_results::schema::SCHEMA_VERSION,
        cell_id: slmbench_results::identity::cell_id(&model, "1.31.1", &settings, &sweep),
        model,
        settings,
        sweep,
        repetitions: Repetitions {
            warmup: 1,
            measured: ttft_ns.len(),
            stop_reason: StopReason::ConfidenceReached,
            wall_ns: 1_000_000_000,
            order: None,
            interleaved_with: None,
        },
        metrics: Metrics {
            ttft_ns: ttft,
            encoder_ns: ed.then(|| f(&ttft_ns.iter().map(|t| t / 2).collect::<Vec<_>>())),
            first_decoder_step_ns: f(&ttft_ns),
            itl_ns: Some(itl_s),
            decode_tokens_per_s: Some(1000.0 / itl_ms),
            decode_tokens_per_s_batch: Some(1000.0 / itl_ms),
            e2e_tokens_per_s: n as f64 / ((ttft.median + itl_s.median * (n - 1) as f64) / 1e9),
            e2e_tokens_per_s_batch: n as f64 / ((ttft.median + itl_s.median * (n - 1) as f64) / 1e9),
            prefill_tokens_per_s: p as f64 / (ttft.median / 1e9),
            prefill_tokens_per_s_batch: p as f64 / (ttft.median / 1e9),
            session_load_ns: 5_000_000,
            peak_rss_bytes: Some(100_000_000),
            harness_overhead_ratio: Some(0.01),
            estimated_memory_bytes: None,
        },
        samples: Samples { ttft_ns: ttft_ns.clone(), encoder_ns: vec![], first_decoder_step_ns: ttft_ns, itl_ns: itl },
        output_token_ids: vec![(0..n as i64).collect()],
        context: context(),
        placement: None,
        roofline: None,
        memory: None,
        drift: None,
        warnings: vec![],
    };
    // The throughputs as the harness computes them (medians over repetitions), so that the record
    // reads back as consistent with its samples.
    use slmbench_results::metric::Metric;
    let median = |c: &CellResult, m: Metric| m.summary(c).map(|s| s.median);
    c.metrics.decode_tokens_per_s = median(&c, Metric::DecodeTokensPerS);
    c.metrics.decode_tokens_per_s_batch = c.metrics.decode_tokens_per_s;
    c.metrics.e2e_tokens_per_s = median(&c, Metric::E2eTokensPerS).unwrap_or(0.0);
    c.metrics.e2e_tokens_per_s_batch = c.metrics.e2e_tokens_per_s;
    c.metrics.prefill_tokens_per_s = median(&c, Metric::PrefillTokensPerS).unwrap_or(0.0);
    c.metrics.prefill_tokens_per_s_batch = c.metrics.prefill_tokens_per_s;
    c
}
