//! The `candle` backend against ONNX Runtime on the same files: f32 greedy ids must be identical
//! on the `tiny` and `small` pairs, both families, batch 1 and 2, and the timing fields must be
//! filled as the ONNX Runtime backend fills them.

use slmbench_harness::backend::{Backend, Tuning};
use slmbench_harness::candle::backend::{CANDLE_VERSION, process_threads};
use slmbench_harness::files::layout::DecoderChoice;
use slmbench_harness::generation::Prompt;
use slmbench_harness::preset::cached_preset;
use slmbench_harness::registry;
use slmbench_results::ep::Ep;
use slmbench_results::schema::Settings;

/// What a cell of `backend` on `ep` with `threads` asks for, with every other setting left at its
/// default.
fn on(backend: &dyn Backend, ep: Ep, threads: usize) -> Settings {
    backend.settings(&backend.version().unwrap(), ep, threads, &Tuning::default())
}

fn parity(preset: &str, prompt_len: usize, new: usize) {
    let root = cached_preset(preset, Default::default(), |_| {}).unwrap();
    let ort = registry::find("onnxruntime").unwrap();
    let candle = registry::find("candle").unwrap();
    for role in ["encoder-decoder", "decoder-only"] {
        let dir = root.join(role);
        let mut a = ort.load(&dir, &on(ort, Ep::Cpu, process_threads()), DecoderChoice::Auto).unwrap();
        let mut b = candle.load(&dir, &on(candle, Ep::Cpu, process_threads()), DecoderChoice::Auto).unwrap();
        assert_eq!(a.vocab_size(), b.vocab_size());
        for (seed, batch) in [(1u64, 1usize), (2, 2)] {
            let prompt = Prompt::synthetic(seed, batch, prompt_len, a.vocab_size());
            let want = a.generate(&prompt, new, false).unwrap();
            // Twice: the second generation must not see the first one's caches.
            for _ in 0..2 {
                let got = b.generate(&prompt, new, false).unwrap();
                assert_eq!(got.tokens, want.tokens, "{preset}/{role} batch {batch}: candle's ids differ");
                assert_eq!(got.itl_ns.len(), new - 1);
                assert!(got.ttft_ns > 0 && got.first_step_ns > 0 && got.decode_run_ns > 0);
                assert_eq!(got.encoder_ns.is_some(), role == "encoder-decoder");
                assert!(got.encoder_ns.unwrap_or(0) < got.ttft_ns);
            }
        }
    }
}

#[test]
fn candle_f32_gives_onnx_runtimes_greedy_ids_on_tiny() {
    parity("tiny", 24, 16);
}

#[test]
fn candle_f32_gives_onnx_runtimes_greedy_ids_on_small() {
    parity("small", 40, 12);
}

/// Models candle cannot run, and settings it cannot honour, are clear errors, never a CPU run
/// under another name.
#[test]
fn candle_refuses_what_it_cannot_run() {
    let candle = registry::find("candle").unwrap();
    let root = cached_preset("tiny", Default::default(), |_| {}).unwrap();
    let dir = root.join("decoder-only");
    let cuda = on(candle, Ep::Cuda, process_threads());
    let e = candle.load(&dir, &cuda, DecoderChoice::Auto).err().unwrap().to_string();
    assert!(e.contains("CUDA"), "{e}");
    let threads = on(candle, Ep::Cpu, process_threads() + 1);
    let e = candle.load(&dir, &threads, DecoderChoice::Auto).err().unwrap().to_string();
    assert!(e.contains("RAYON_NUM_THREADS"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let settings = on(candle, Ep::Cpu, process_threads());
    let e = candle.load(empty.path(), &settings, DecoderChoice::Auto).err().unwrap().to_string();
    assert!(e.contains("manifest.json"), "{e}");
}

/// The version recorded in every candle cell is the one Cargo.lock pins.
#[test]
fn candle_version_matches_cargo_lock() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    let at = lock.find("name = \"candle-core\"\nversion = \"").unwrap() + "name = \"candle-core\"\nversion = \"".len();
    assert_eq!(&lock[at..at + lock[at..].find('"').unwrap()], CANDLE_VERSION);
}

/// Where candle's decode time goes: matrix-vector products at the `paper` shapes, with the
/// weight as stored (`[in, out]`) and the tied output projection as a transposed view and as a
/// contiguous copy. A measurement (`--ignored --nocapture`), not a check.
#[test]
#[ignore]
fn candle_matvec_costs() {
    use candle_core::{DType, Device, Tensor};
    let dev = Device::Cpu;
    let time = |what: &str, x: &Tensor, w: &Tensor| {
        for _ in 0..3 {
            x.broadcast_matmul(w).unwrap();
        }
        let n = 20;
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            x.broadcast_matmul(w).unwrap();
        }
        let dt = t0.elapsed().as_secs_f64() / n as f64;
        let bytes = w.elem_count() as f64 * 4.0;
        println!("{what}: {:.3} ms, {:.1} GB/s", dt * 1e3, bytes / dt / 1e9);
    };
    let x = Tensor::randn(0f32, 1.0, (1, 1, 1024), &dev).unwrap();
    let w = Tensor::randn(0f32, 1.0, (1024, 4096), &dev).unwrap();
    time("[1,1024] x [1024,4096] contiguous", &x, &w);
    let wt = Tensor::randn(0f32, 1.0, (4096, 1024), &dev).unwrap().t().unwrap();
    time("[1,1024] x [4096,1024]^T view", &x, &wt);
    let e = Tensor::randn(0f32, 1.0, (32128, 1024), &dev).unwrap();
    time("LM head [1,1024] x [32128,1024]^T view", &x, &e.t().unwrap());
    time("LM head [1,1024] x [1024,32128] contiguous", &x, &e.t().unwrap().contiguous().unwrap());
    let xd = Tensor::randn(0f32, 1.0, (1, 1, 4096), &dev).unwrap();
    let wd = Tensor::randn(0f32, 1.0, (4096, 1024), &dev).unwrap();
    time("FFN down [1,4096] x [4096,1024] contiguous", &xd, &wd);
    let wq = Tensor::randn(0f32, 1.0, (1024, 384), &dev).unwrap();
    time("q [1,1024] x [1024,384] contiguous", &x, &wq);
    let x2 = x.to_dtype(DType::F32).unwrap().reshape((1, 1024)).unwrap();
    time("2-D [1,1024] x [1024,4096]", &x2, &w);
    println!("threads: {}", slmbench_harness::candle::backend::process_threads());
}

/// As `candle_matvec_costs`, over 40 different `[1024, 4096]` weights (640 MB, far beyond any
/// cache), so the products read from memory as a decode step does.
#[test]
#[ignore]
fn candle_matvec_from_memory() {
    use candle_core::{Device, Tensor};
    use rayon::prelude::*;
    let dev = Device::Cpu;
    let ws: Vec<Tensor> = (0..40).map(|_| Tensor::randn(0f32, 1.0, (1024, 4096), &dev).unwrap()).collect();
    let x = Tensor::randn(0f32, 1.0, (1, 1, 1024), &dev).unwrap();
    let bytes = 40.0 * 1024.0 * 4096.0 * 4.0;
    let report = |what: &str, f: &dyn Fn()| {
        f();
        let t0 = std::time::Instant::now();
        for _ in 0..5 {
            f();
        }
        let dt = t0.elapsed().as_secs_f64() / 5.0;
        println!("{what}: {:.2} ms per 40 weights, {:.1} GB/s", dt * 1e3, bytes / dt / 1e9);
    };
    report("candle matmul", &|| {
        for w in &ws {
            x.broadcast_matmul(w).unwrap();
        }
    });
    let halves: Vec<[Tensor; 2]> = ws
        .iter()
        .map(|w| {
            [
                w.narrow(1, 0, 2048).unwrap().contiguous().unwrap(),
                w.narrow(1, 2048, 2048).unwrap().contiguous().unwrap(),
            ]
        })
        .collect();
    report("candle matmul, 2 column blocks on rayon", &|| {
        for h in &halves {
            let outs: Vec<Tensor> = h.par_iter().map(|w| x.broadcast_matmul(w).unwrap()).collect();
            Tensor::cat(&outs, 2).unwrap();
        }
    });
    for parts in [4usize, 8] {
        let blocks: Vec<Vec<Tensor>> = ws
            .iter()
            .map(|w| {
                (0..parts).map(|i| w.narrow(1, i * 4096 / parts, 4096 / parts).unwrap().contiguous().unwrap()).collect()
            })
            .collect();
        report(&format!("candle matmul, {parts} column blocks on rayon"), &|| {
            for h in &blocks {
                let outs: Vec<Tensor> = h.par_iter().map(|w| x.broadcast_matmul(w).unwrap()).collect();
                Tensor::cat(&outs, 2).unwrap();
            }
        });
    }
    let rows: Vec<[Tensor; 2]> = ws
        .iter()
        .map(|w| {
            [w.narrow(0, 0, 512).unwrap().contiguous().unwrap(), w.narrow(0, 512, 512).unwrap().contiguous().unwrap()]
        })
        .collect();
    let xs = [x.narrow(2, 0, 512).unwrap().contiguous().unwrap(), x.narrow(2, 512, 512).unwrap().contiguous().unwrap()];
    report("candle matmul, 2 row blocks on rayon, summed", &|| {
        for h in &rows {
            let (a, b) =
                rayon::join(|| xs[0].broadcast_matmul(&h[0]).unwrap(), || xs[1].broadcast_matmul(&h[1]).unwrap());
            (a + b).unwrap();
        }
    });
    let host: Vec<Vec<f32>> = ws.iter().map(|w| w.flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect();
    let xv = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let axpy = |w: &[f32], lo: usize, hi: usize, y: &mut [f32]| {
        for (i, &xi) in xv.iter().enumerate() {
            let row = &w[i * 4096 + lo..i * 4096 + hi];
            for (yj, &wj) in y.iter_mut().zip(row) {
                *yj += xi * wj;
            }
        }
    };
    report("row-streaming loop, 1 thread", &|| {
        for w in &host {
            let mut y = vec![0f32; 4096];
            axpy(w, 0, 4096, &mut y);
        }
    });
    report("row-streaming loop, 2 column blocks on rayon", &|| {
        for w in &host {
            let mut y = vec![0f32; 4096];
            let (a, b) = y.split_at_mut(2048);
            rayon::join(|| axpy(w, 0, 2048, a), || axpy(w, 2048, 4096, b));
        }
    });
}

/// Where ONNX Runtime's and candle's greedy ids part on a model (`SLMBENCH_CANDLE_MODEL`, a
/// model folder), and why: the f64 reference, teacher-forced with ONNX Runtime's ids, prints the
/// top two logits of each step. A measurement (`--ignored --nocapture`), not a check.
#[test]
#[ignore]
fn where_greedy_ids_part() {
    use candle_core::{DType, Device, Tensor};
    use slmbench_harness::candle::{Weights, encoder_decoder::EncoderDecoder, onnx_weights::OnnxWeights};
    let dir = std::path::PathBuf::from(std::env::var("SLMBENCH_CANDLE_MODEL").unwrap());
    let n = 32;
    let ids: Vec<i64> = (0..128).map(|i| 5 + (i * 7919) % 32000).collect();
    let prompt = Prompt::repeated(&ids, 1);
    let (ort, candle) = (registry::find("onnxruntime").unwrap(), registry::find("candle").unwrap());
    let mut ort = ort.load(&dir, &on(ort, Ep::Cpu, process_threads()), DecoderChoice::Auto).unwrap();
    let want = ort.generate(&prompt, n, false).unwrap().tokens[0].clone();
    let got = candle
        .load(&dir, &on(candle, Ep::Cpu, process_threads()), DecoderChoice::Auto)
        .unwrap()
        .generate(&prompt, n, false)
        .unwrap()
        .tokens[0]
        .clone();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let cfg: slmbench_models::Config = serde_json::from_value(manifest["config"].clone()).unwrap();
    let files = vec![dir.join("encoder_model.onnx"), dir.join("decoder_model_merged.onnx")];
    let w =
        Weights::Onnx { weights: std::sync::Arc::new(OnnxWeights::open(&files).unwrap()), dtype: DType::F64, parts: 1 };
    let mut m = EncoderDecoder::new(&cfg, w).unwrap();
    let p = Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), (1, 128), &Device::Cpu).unwrap();
    m.encode(&p, &Tensor::ones((1, 128), DType::U8, &Device::Cpu).unwrap()).unwrap();
    let mut prev = cfg.decoder_start_token_id;
    for step in 0..n {
        let x = Tensor::from_vec(vec![prev], (1, 1), &Device::Cpu).unwrap();
        let l: Vec<f64> = m.forward(&x, step).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let mut idx: Vec<usize> = (0..l.len()).collect();
        idx.sort_by(|&a, &b| l[b].total_cmp(&l[a]));
        println!(
            "step {step}: onnxruntime {} candle f32 {} | f64 top two {} ({:.6}) {} ({:.6}), gap {:.2e}",
            want[step],
            got[step],
            idx[0],
            l[idx[0]],
            idx[1],
            l[idx[1]],
            l[idx[0]] - l[idx[1]]
        );
        prev = want[step] as u32;
    }
}

/// How far each runtime's f32 logits lie from the f64 reference, position by position, over
/// one teacher-forced pass of `SLMBENCH_PARITY_IDS` (comma-separated; both the encoder and the
/// decoder read them, as the parity check's logits do) through a model (`SLMBENCH_CANDLE_MODEL`).
/// Where two f32 runtimes' greedy ids part, this says whether either is the exact one.
/// A measurement (`--ignored --nocapture`), not a check.
#[test]
#[ignore]
fn f32_logits_against_f64() {
    use candle_core::DType;
    use slmbench_harness::candle::backend::CandleModel;
    let dir = std::path::PathBuf::from(std::env::var("SLMBENCH_CANDLE_MODEL").unwrap());
    let ids: Vec<i64> =
        std::env::var("SLMBENCH_PARITY_IDS").unwrap().split(',').map(|s| s.trim().parse().unwrap()).collect();
    let candle = |dtype: DType| -> Vec<f64> {
        let mut m = CandleModel::load_as(&dir, Some(dtype)).unwrap();
        m.teacher_forced_logits(&ids).unwrap().to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
    };
    let exact = candle(DType::F64);
    let f32 = candle(DType::F32);
    let ort: Vec<f64> = slmbench_harness::onnxruntime::drift::logits(&dir, &ids, process_threads())
        .unwrap()
        .data
        .iter()
        .map(|&x| x as f64)
        .collect();
    let v = exact.len() / ids.len();
    let argmax = |r: &[f64]| r.iter().enumerate().fold((0, f64::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m }).0;
    let (mut worst, mut off) = ([0f64; 2], [0usize; 2]);
    for p in 0..ids.len() {
        let row = |x: &[f64]| x[p * v..(p + 1) * v].to_vec();
        let e = row(&exact);
        let diff = |x: &[f64]| row(x).iter().zip(&e).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let (top, o, c) = (argmax(&e), argmax(&row(&ort)), argmax(&row(&f32)));
        for (i, (d, t)) in [(diff(&ort), o), (diff(&f32), c)].into_iter().enumerate() {
            worst[i] = worst[i].max(d);
            off[i] += usize::from(t != top);
        }
        println!(
            "pos {p}: largest |f32 - f64| onnxruntime {:.4} candle {:.4} | top-1 f64 {top} onnxruntime {o} candle {c}",
            diff(&ort),
            diff(&f32)
        );
    }
    println!(
        "{} positions: largest |f32 - f64| onnxruntime {:.4} candle {:.4}; top-1 unlike f64's at {} (onnxruntime) and {} (candle)",
        ids.len(),
        worst[0],
        worst[1],
        off[0],
        off[1]
    );
}

/// The int4 and int8 builds' `MatMulNBits` weights, repacked as ggml's q4_0/q8_0 for candle,
/// dequantize to the values ONNX Runtime's arithmetic gives them (up to each block scale rounded
/// to f16, 2^-11 relative), for every quantized weight of the `tiny` pair.
#[test]
fn repacked_quantized_weights_are_the_builds_values() {
    use slmbench_harness::candle::onnx_weights::OnnxWeights;
    use slmbench_models::Variant;
    use slmbench_models::quant::dequantize_row;
    for (bits, precision) in
        [(4u8, slmbench_models::quant::Precision::Int4), (8, slmbench_models::quant::Precision::Int8)]
    {
        let variant = Variant::new(precision, Default::default());
        let root = cached_preset("tiny", variant, |_| {}).unwrap();
        let w = OnnxWeights::open(&[root.join("decoder-only/model.onnx")]).unwrap();
        let mut checked = 0;
        for (name, dims) in w.names() {
            let Some(source) = name.strip_suffix(&format!("_Q{bits}")) else { continue };
            let (n, k) = (dims[0], dims[1] * 32);
            let (codes, _) = w.raw(&name).unwrap();
            let (scales, _) = w.raw(&format!("{source}_scales")).unwrap();
            let scales: Vec<f32> = scales.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            let q = w.ggml(source, n, k).unwrap().unwrap();
            let got: Vec<f32> =
                q.dequantize(&candle_core::Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let per = k / 32 * 32 * bits as usize / 8;
            for r in 0..n {
                let want =
                    dequantize_row(&codes[r * per..(r + 1) * per], &scales[r * k / 32..(r + 1) * k / 32], bits, 32, k);
                for (j, (&g, &e)) in got[r * k..(r + 1) * k].iter().zip(&want).enumerate() {
                    assert!((g - e).abs() <= e.abs() * 1e-3 + 1e-7, "{source} int{bits} [{r}, {j}]: {g} vs {e}");
                }
            }
            checked += 1;
        }
        assert!(checked >= 8, "int{bits}: only {checked} quantized weights");
    }
}
