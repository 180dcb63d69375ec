//! `cargo bench`: first-token latency and one decode step of the `tiny` and `small` pairs on the
//! CPU, with ONNX Runtime (named `cpu/<model>/<metric>/<input>`) and with candle
//! (`candle-cpu/<model>/<metric>/<input>`), throughput in tokens. Offline: the pairs are built by
//! slmbench itself (into target/bench-models) and ONNX Runtime comes from the slmbench cache,
//! fetched on first use. In CI, `cargo test --benches` runs each bench once.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slmbench_harness::backend::Tuning;
use slmbench_harness::files::layout::DecoderChoice;
use slmbench_harness::generation::Prompt;
use slmbench_harness::registry;
use slmbench_models::build::{DECODER_ONLY_DIR, ENCODER_DECODER_DIR};
use slmbench_models::{BuildOptions, Pair, build_pair};
use slmbench_results::ep::Ep;

fn pair_dir(preset: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-models").join(preset);
    if !dir.join("pair.json").is_file() {
        let pair = Pair::preset(preset).expect("preset exists");
        build_pair(&pair, &dir, &BuildOptions::default()).expect("pair builds");
    }
    dir
}

fn bench(c: &mut Criterion) {
    // candle's thread count is fixed per process at its first use: one thread, as ONNX Runtime's.
    // SAFETY: no benchmark has run and no other thread reads the environment yet.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    for (backend, prefix) in
        [(slmbench_harness::onnxruntime::NAME, "cpu"), (slmbench_harness::candle::backend::NAME, "candle-cpu")]
    {
        let backend = registry::find(backend).expect("backend in this build");
        let version = backend.version().expect("runtime loads");
        let settings = backend.settings(&version, Ep::Cpu, 1, &Tuning::default());
        for preset in ["tiny", "small"] {
            let dir = pair_dir(preset);
            for kind in [ENCODER_DECODER_DIR, DECODER_ONLY_DIR] {
                let mut model = backend.load(&dir.join(kind), &settings, DecoderChoice::Auto).expect("model loads");
                let input = 64;
                let prompt = Prompt::synthetic(0, 1, input, model.vocab_size());
                let mut g = c.benchmark_group(format!("{prefix}/{preset}-{kind}"));
                g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
                g.throughput(Throughput::Elements(input as u64));
                g.bench_function(format!("ttft/{input}"), |b| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| {
                                Duration::from_nanos(model.generate(&prompt, 1, false).expect("generates").ttft_ns)
                            })
                            .sum()
                    })
                });
                g.throughput(Throughput::Elements(1));
                g.bench_function(format!("decode_step/{input}"), |b| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| {
                                Duration::from_nanos(model.generate(&prompt, 2, false).expect("generates").itl_ns[0])
                            })
                            .sum()
                    })
                });
                g.finish();
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
