//! `slmbench generate`, `slmbench doctor` and `slmbench accuracy`: models checked by hand, and the runtime.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use slmbench_harness::backend::{Backend, Tuning};
use slmbench_harness::generation::Prompt;
use slmbench_harness::onnxruntime::session::{LoadedModel, SessionSettings};
use slmbench_results::ep::{Ep, EpOption};

use super::BackendArg;
use super::run_args::{MAX_TOKENS, bounded, bounded_threads, pin_threads};
use super::{DecoderArg, parse_ids};

#[derive(Args, Debug)]
pub(super) struct GenerateArgs {
    /// A model directory.
    #[arg(long)]
    model: PathBuf,
    /// Prompt token ids, e.g. 1,2,3.
    #[arg(long)]
    prompt_ids: String,
    /// New tokens.
    #[arg(short = 'n', default_value_t = 20)]
    n: usize,
    /// Rows (the prompt repeated).
    #[arg(short = 'b', long, default_value_t = 1)]
    batch: usize,
    /// Execution provider, as `run --ep` (one here).
    #[arg(long, default_value = "cpu")]
    ep: Ep,
    /// Provider option PROVIDER:KEY=VALUE (repeatable), as `run --ep-opt`.
    #[arg(long = "ep-opt")]
    ep_opt: Vec<EpOption>,
    /// Intra-op threads (candle: the process's thread count).
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Decoder files when both are present.
    #[arg(long, value_enum, default_value_t = DecoderArg::Auto)]
    decoder: DecoderArg,
    /// Stop a row at the model's end-of-sequence token instead of generating all -n tokens.
    #[arg(long)]
    stop_at_eos: bool,
    /// Let intra-op threads spin (off is steadier on shared machines), as `run --spinning`.
    #[arg(long)]
    spinning: bool,
    /// Backends to generate with, comma-separated. With several, each one's ids are printed and
    /// compared: the exit status is 1 when they differ (e.g. onnxruntime,candle).
    #[arg(long, value_enum, default_values_t = [BackendArg::DEFAULT], value_delimiter = ',')]
    backend: Vec<BackendArg>,
    /// Every step through an IoBinding, the caches left in the provider's memory (as `run --io-binding`).
    #[arg(long)]
    io_binding: bool,
    /// ONNX Runtime session configuration entry KEY=VALUE (repeatable), as `run --session-opt`.
    #[arg(long = "session-opt")]
    session_opt: Vec<slmbench_results::ep::SessionOption>,
    /// Keep compiled graphs as EP context models in the cache, as `run --ep-context-cache`.
    #[arg(long)]
    ep_context_cache: bool,
    /// Generate even when the memory guard's estimate exceeds the available memory, as `run --force`.
    #[arg(long)]
    force: bool,
}

/// The memory guard `run` applies to a cell, for a loaded model: refused (naming the estimate and
/// what is available) before the prompt or any cache is allocated, unless `--force`.
fn guard(a: &GenerateArgs, model: &dyn slmbench_harness::backend::Generator, prompt: usize) -> Result<()> {
    use slmbench_harness::guard;
    if a.force {
        return Ok(());
    }
    let Some(available) = slmbench_harness::host::available_memory() else { return Ok(()) };
    let need = model.memory_need(a.batch, prompt, a.n);
    if let Some(why) = guard::check(&format!("generating {} rows", a.batch), &need, available) {
        bail!("{why} (weights already loaded); or pass --force");
    }
    Ok(())
}

pub(super) fn generate(a: GenerateArgs) -> Result<()> {
    let ids = parse_ids(&a.prompt_ids)?;
    if a.n == 0 {
        bail!("-n must be at least 1");
    }
    if a.batch == 0 {
        bail!("-b must be at least 1");
    }
    bounded("-n", vec![a.n], MAX_TOKENS, "new tokens")?;
    bounded_threads(vec![a.threads])?;
    let tuning = Tuning {
        ep_options: a.ep_opt.clone(),
        spinning: a.spinning,
        io_binding: a.io_binding,
        session_options: a.session_opt.clone(),
        ep_context_cache: a.ep_context_cache,
        ..Tuning::default()
    };
    super::run_args::onnx_runtime_only(&a.backend, &[(a.ep_context_cache, "--ep-context-cache")])?;
    super::run_args::check_ep_context_cache(a.ep_context_cache, &[a.ep], &a.session_opt)?;
    if a.backend != [BackendArg(slmbench_harness::onnxruntime::NAME)] {
        return compare_backends(&a, &ids, &tuning);
    }
    // ONNX Runtime alone: its own loaded model, which also says how the cache was kept.
    let ort = &slmbench_harness::onnxruntime::OnnxRuntime;
    let settings = SessionSettings::from(&ort.settings(&ort.version()?, a.ep, a.threads, &tuning));
    let mut model = LoadedModel::load_with(&a.model, &settings, a.decoder.into())?;
    guard(&a, &model, ids.len())?;
    let g = model.generate(&Prompt::repeated(&ids, a.batch), a.n, a.stop_at_eos)?;
    let mut out = serde_json::json!({
        "model": a.model.display().to_string(),
        "layout": model.files.layout,
        "kv_cache": if model.shares_cache() { "shared" } else { "growing" },
        // How steps were fed: through an IoBinding (a shared cache always is) or listed to `run`.
        "io_binding": model.shares_cache() || a.io_binding,
        "prompt_ids": ids,
        "output_token_ids": if a.batch == 1 { serde_json::json!(g.tokens[0]) } else { serde_json::json!(g.tokens) },
        "ttft_ms": g.ttft_ns as f64 / 1e6,
        "itl_ms": g.itl_ns.iter().map(|&x| x as f64 / 1e6).collect::<Vec<_>>(),
        "load_ms": model.load_ns as f64 / 1e6,
    });
    if a.ep_context_cache {
        // Per file: compiled now (and written to the cache) or loaded from it.
        out["ep_context"] =
            serde_json::json!(model.ep_context.iter().cloned().collect::<std::collections::BTreeMap<_, _>>());
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `generate --backend A,B,…`: the same prompt through each backend, each one's ids, and whether
/// they all agree (a cross-runtime check of what is timed); for ONNX Runtime and candle, also
/// how far their logits are apart.
fn compare_backends(a: &GenerateArgs, ids: &[i64], tuning: &Tuning) -> Result<()> {
    pin_threads(&a.backend, &[a.threads])?;
    let mut prompt = None;
    let mut results = serde_json::Map::new();
    let mut first: Option<Vec<Vec<i64>>> = None;
    let mut agree = true;
    for backend in BackendArg::resolve(&a.backend)? {
        let settings = backend.settings(&backend.version()?, a.ep, a.threads, tuning);
        let mut model = backend.load(&a.model, &settings, a.decoder.into())?;
        guard(a, &*model, ids.len())?;
        let prompt = prompt.get_or_insert_with(|| Prompt::repeated(ids, a.batch));
        let g = model.generate(prompt, a.n, a.stop_at_eos)?;
        agree &= first.as_ref().is_none_or(|f| *f == g.tokens);
        first.get_or_insert_with(|| g.tokens.clone());
        results.insert(
            backend.name().to_string(),
            serde_json::json!({
                "output_token_ids": if a.batch == 1 { serde_json::json!(g.tokens[0]) } else { serde_json::json!(g.tokens) },
                "ttft_ms": g.ttft_ns as f64 / 1e6,
                "itl_ms": g.itl_ns.iter().map(|&x| x as f64 / 1e6).collect::<Vec<_>>(),
            }),
        );
    }
    let mut out = serde_json::json!({
        "model": a.model.display().to_string(),
        "prompt_ids": ids,
        "backends": results,
        "greedy_ids_agree": agree,
    });
    #[cfg(feature = "candle")]
    if let (true, Some(first)) =
        (slmbench_harness::parity::applies(&a.backend.iter().map(|b| b.name()).collect::<Vec<_>>()), &first)
    {
        // Beyond the ids: both runtimes' logits at every position of one teacher-forced pass
        // over the prompt and the first backend's ids (row 0), candle's against ONNX Runtime's.
        let sequence: Vec<i64> = ids.iter().chain(&first[0]).copied().collect();
        let d = slmbench_harness::parity::logit_difference(&a.model, &sequence, a.threads)?;
        out["logits"] = serde_json::json!({
            "teacher_forced_ids": sequence.len(),
            "top1_agreement": d.top1_agreement,
            "max_abs_logit_diff": d.max_abs_logit_diff,
            "max_rel_logit_diff": d.max_rel_logit_diff,
        });
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    if !agree {
        bail!("the backends' greedy ids differ (see above)");
    }
    Ok(())
}

pub(super) fn doctor() -> Result<()> {
    use serde_json::json;
    use slmbench_harness::{host, registry};
    let mut info = serde_json::to_value(slmbench_harness::onnxruntime::runtime::doctor()?)?;
    // Every backend of this build with the providers (devices) it offers on this host.
    info["backends"] = registry::all()
        .iter()
        .map(|b| {
            let providers: Vec<String> = b.providers().unwrap_or_default().iter().map(|e| e.to_string()).collect();
            json!({"name": b.name(), "version": b.version().ok(), "providers": providers})
        })
        .collect();
    // Providers that ship as plugins: where each would be loaded from (nothing is fetched here).
    info["plugins"] = json!([slmbench_harness::onnxruntime::plugin::qnn_status()]);
    let cpu = host::cpu();
    info["host"]["cpu_model"] = json!(cpu.model);
    info["host"]["cpu_mhz"] = json!(cpu.mhz);
    info["host"]["physical_cores"] = json!(cpu.physical_cores);
    info["host"]["memory_bytes"] = json!(host::total_memory());
    info["host"]["available_memory_bytes"] = json!(host::available_memory());
    // What the roofline of runs on this host is measured against (cached per thread count).
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let host = slmbench_harness::context::collect(String::new(), None);
    info["roofline"] = match slmbench_harness::roofline::limits(&host, threads) {
        Ok(l) => json!(l),
        Err(e) => json!({"error": e.to_string()}),
    };
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(())
}

#[derive(Args, Debug)]
pub(super) struct AccuracyArgs {
    /// The reference model folder (e.g. the fp32 build).
    #[arg(long)]
    reference: PathBuf,
    /// Model folders to compare with it (e.g. the int8 and int4 builds of the same pair member).
    #[arg(long, value_delimiter = ',', required = true)]
    model: Vec<PathBuf>,
    /// Forced tokens (positions compared).
    #[arg(short = 'n', long, default_value_t = 256)]
    tokens: usize,
    /// Seed of the synthetic token ids forced through every model.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Intra-op threads of every session.
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
}

pub(super) fn accuracy(a: AccuracyArgs) -> Result<()> {
    bounded("-n", vec![a.tokens], MAX_TOKENS, "the token bound")?;
    bounded_threads(vec![a.threads])?;
    let mut out = vec![];
    for m in &a.model {
        let d = slmbench_harness::onnxruntime::drift::measure(&a.reference, m, a.tokens, a.seed, a.threads)?;
        eprintln!(
            "{}: top-1 agreement {:.1}% over {} positions, largest logit difference {:.4} ({:.2}% of the largest logit)",
            m.display(),
            d.top1_agreement * 100.0,
            d.positions,
            d.max_abs_logit_diff,
            d.max_rel_logit_diff * 100.0
        );
        out.push(serde_json::json!({"reference": a.reference, "model": m, "drift": d}));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
