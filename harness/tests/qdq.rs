//! QDQ graphs through ONNX Runtime, on one linear layer (the roofline's `[m, k] × [k, n]`
//! probe): the calibration outputs see exactly the layer's input and output, and the QDQ layer
//! is the fp32 one within the error its scales allow, element by element. A transposed or
//! mis-scaled weight, or a wrong zero point, breaks that bound.

use std::collections::BTreeMap;

use slmbench_harness::onnxruntime::onnx::{self, Input, Output};
use slmbench_models::ExternalData;
use slmbench_models::graph::matmul_probe;
use slmbench_models::onnx::writer::write_model;
use slmbench_models::qdq::{self, LinearRanges, QdqOptions, Range};

const M: usize = 12;
const K: usize = 64;
const N: usize = 40;

fn run(path: &std::path::Path, a: &[f32]) -> BTreeMap<String, Output> {
    let mut s = onnx::open(path, 1).unwrap_or_else(|e| panic!("{e}"));
    onnx::run(&mut s, path, vec![("a".into(), Input::F32(vec![M, K], a.to_vec()))]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_qdq_linear_layer_is_the_fp32_one_within_its_scales() {
    let dir = tempfile::tempdir().unwrap();
    // Inputs in [-1.5, 2.5): an asymmetric range, so the zero point is not the middle code.
    let a: Vec<f32> = (0..M * K).map(|i| ((i * 7919 % 1000) as f32 / 250.0) - 1.5).collect();
    let plain = dir.path().join("plain.onnx");
    write_model(&plain, &matmul_probe(M, K, N), 3, ExternalData::Auto).unwrap();
    let y = run(&plain, &a)["y"].data.clone();

    let calib = dir.path().join("calibration.onnx");
    write_model(&calib, &qdq::calibration_outputs(matmul_probe(M, K, N)), 3, ExternalData::Auto).unwrap();
    let seen = run(&calib, &a);
    assert_eq!(seen["calibration/in/w"].data, a);
    assert_eq!(seen["calibration/out/w"].data, y);

    let (mut input, mut output) = (Range::EMPTY, Range::EMPTY);
    input.observe(&a);
    output.observe(&y);
    // The weight's own values, to bound the error: the fp32 probe run on unit vectors.
    let w: Vec<f32> = {
        let eye: Vec<f32> = (0..M * K).map(|i| if i / K < M && i % K == i / K { 1.0 } else { 0.0 }).collect();
        let mut w = run(&plain, &eye)["y"].data[..M * N].to_vec();
        // Rows beyond M: one more pass per block of M rows.
        for start in (M..K).step_by(M) {
            let eye: Vec<f32> = (0..M * K).map(|i| if i % K == start + i / K { 1.0 } else { 0.0 }).collect();
            let rows = (K - start).min(M);
            w.extend_from_slice(&run(&plain, &eye)["y"].data[..rows * N]);
        }
        w
    };
    assert_eq!(w.len(), K * N);
    for bits in [8u8, 16] {
        let mut q = QdqOptions::uncalibrated(bits);
        q.ranges.insert("w".into(), LinearRanges { input, output });
        let path = dir.path().join(format!("qdq{bits}.onnx"));
        write_model(&path, &qdq::quantize(matmul_probe(M, K, N), &q).unwrap(), 3, ExternalData::Auto).unwrap();
        let got = run(&path, &a)["y"].data.clone();
        let (sa, so) = (input.scale_zero(bits).0, output.scale_zero(bits).0);
        let mut worst = 0f32;
        for r in 0..M {
            for c in 0..N {
                let amax_w = (0..K).fold(0f32, |m, k| m.max(w[k * N + c].abs()));
                let sw = amax_w / 127.0;
                let (mut bound, mut sum_w, mut sum_a) = (0f32, 0f32, 0f32);
                for k in 0..K {
                    sum_w += w[k * N + c].abs() + sw / 2.0;
                    sum_a += a[r * K + k].abs();
                }
                bound += sum_w * sa / 2.0 + sum_a * sw / 2.0 + so;
                let err = (got[r * N + c] - y[r * N + c]).abs();
                assert!(err <= bound * 1.001 + 1e-5, "{bits}-bit activations at ({r}, {c}): |Δ| {err} > bound {bound}");
                worst = worst.max(err / bound);
            }
        }
        // Not trivially inside: the layer did quantize (the error is a real share of the bound).
        assert!(worst > 0.01, "{bits}-bit: largest error only {worst} of its bound");
    }
}
