//! Measuring what this host achieves, for the roofline every cell is set against: memory
//! bandwidth (threads reading a buffer far larger than the last-level cache) and the
//! matrix-multiply rate (a large f32 MatMul through ONNX Runtime with the run's thread count).
//! Both are the best of several tries, and cached per host and thread count.

use std::path::PathBuf;
use std::time::Instant;

use slmbench_results::context::Context;
use slmbench_results::roofline::HostLimits;

use crate::error::HarnessError;
use crate::onnxruntime::onnx::{self, Input};

/// Bytes read per bandwidth try: far above any CPU's last-level cache (less on a host that
/// cannot spare four times that, see [`bandwidth`]).
const BUFFER_BYTES: usize = 512 << 20;
const TRIES: usize = 5;
/// The probe MatMul: `[M, K] × [K, N]`, large enough to run at the kernel's full rate.
const M: usize = 512;
const K: usize = 2048;
const N: usize = 2048;

/// Where limits are cached: one file per host (`Context::machine_slug`), thread count and build
/// profile (an unoptimised build reads memory more slowly than the host allows).
fn cache_path(host: &Context, threads: usize) -> PathBuf {
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    crate::cache::cache_dir().join("roofline").join(format!("{}-t{threads}-{profile}.json", host.machine_slug()))
}

/// The cached limits of this host at `threads`, if they were measured before.
pub fn cached(host: &Context, threads: usize) -> Option<HostLimits> {
    std::fs::read(cache_path(host, threads)).ok().and_then(|b| serde_json::from_slice::<HostLimits>(&b).ok())
}

/// The cached limits of this host at `threads`, measuring them first if there are none.
pub fn limits(host: &Context, threads: usize) -> Result<HostLimits, HarnessError> {
    let path = cache_path(host, threads);
    if let Some(l) = cached(host, threads) {
        return Ok(l);
    }
    let l = measure(threads)?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // A cache that cannot be written only costs a measurement next time.
    let _ = slmbench_results::export::write_atomic(&path, &serde_json::to_vec_pretty(&l).unwrap_or_default());
    Ok(l)
}

/// Measures the limits now (a few seconds).
pub fn measure(threads: usize) -> Result<HostLimits, HarnessError> {
    let threads = threads.max(1);
    Ok(HostLimits {
        threads,
        memory_bytes_per_s: bandwidth(threads),
        matmul_flops_per_s: matmul_rate(threads)?,
        measured: slmbench_results::context::rfc3339_now(),
    })
}

/// Best read bandwidth of `threads` threads, each summing its share of one large buffer.
fn bandwidth(threads: usize) -> f64 {
    let bytes = crate::host::available_memory().map_or(BUFFER_BYTES, |a| BUFFER_BYTES.min(a as usize / 4));
    let words: Vec<u64> = (0..bytes / 8).map(|i| i as u64).collect();
    let chunk = words.len().div_ceil(threads);
    let mut best = 0f64;
    for _ in 0..TRIES {
        let start = Instant::now();
        let sum: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = words
                .chunks(chunk)
                .map(|part| s.spawn(move || part.iter().fold(0u64, |a, &x| a.wrapping_add(x))))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).fold(0u64, u64::wrapping_add)
        });
        let secs = start.elapsed().as_secs_f64();
        // The sum is used, so the reads cannot be optimised away.
        std::hint::black_box(sum);
        best = best.max((words.len() * 8) as f64 / secs);
    }
    best
}

/// Best FLOP rate of the probe MatMul in an ONNX Runtime session with `threads` threads.
fn matmul_rate(threads: usize) -> Result<f64, HarnessError> {
    let dir = std::env::temp_dir().join(format!("slmbench-roofline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| HarnessError::Io { path: dir.clone(), source })?;
    let path = dir.join("matmul.onnx");
    let measured = (|| {
        let spec = slmbench_models::graph::matmul_probe(M, K, N);
        slmbench_models::onnx::writer::write_model(&path, &spec, 0, Default::default())
            .map_err(|e| HarnessError::BadInput(format!("roofline probe: {e}")))?;
        let mut session = onnx::open(&path, threads)?;
        let a: Vec<f32> = (0..M * K).map(|i| ((i % 97) as f32 - 48.0) / 97.0).collect();
        let mut best = 0f64;
        for i in 0..TRIES + 1 {
            let start = Instant::now();
            onnx::run(&mut session, &path, vec![("a".into(), Input::F32(vec![M, K], a.clone()))])?;
            let secs = start.elapsed().as_secs_f64();
            // The first run pays for allocation and packing.
            if i > 0 {
                best = best.max(2.0 * (M * K * N) as f64 / secs);
            }
        }
        Ok(best)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    measured
}
