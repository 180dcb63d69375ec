//! The comparison the reference tests run: build a model, run its ONNX graphs through ONNX
//! Runtime and the same weights through candle in f64, and check logits and greedy ids.
// Each test binary that includes this uses some of it.
#![allow(dead_code)]

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ort::session::Session;
use slmbench_harness::candle::{decoder_only::DecoderOnly, encoder_decoder::EncoderDecoder, var_builder};
use slmbench_harness::onnxruntime::onnx::{self, Input, Output};
use slmbench_models::graph::{Fault, GraphVariant};
use slmbench_models::quant::{Part, PartKind, QuantOptions};
use slmbench_models::weights::{self, Init, TensorSpec};
use slmbench_models::{BuildOptions, Config, ExternalData, Pair, build_model};

pub const TOL: f64 = 1e-4;
pub const STEPS: usize = 16;

pub type Check<T> = Result<T, String>;

/// Deterministic prompts (a tiny LCG; the test must not depend on a crate's RNG stream).
pub fn prompts(seed: u64, batch: usize, len: usize, vocab: usize) -> Vec<i64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..batch * len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Ids 2.. keep clear of the start (0) and end (1) tokens.
            2 + ((s >> 33) % (vocab as u64 - 2)) as i64
        })
        .collect()
}

pub fn ids_tensor(ids: &[i64], batch: usize) -> Tensor {
    let len = ids.len() / batch;
    Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), (batch, len), &Device::Cpu).unwrap()
}

pub fn host(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

pub fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "shape mismatch");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    got.iter().zip(want).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max) / scale
}

pub fn compare(what: &str, got: &Output, want: &Tensor) -> Check<f64> {
    let want_shape: Vec<usize> = want.dims().to_vec();
    if got.shape != want_shape {
        return Err(format!("{what}: shape {:?} vs reference {:?}", got.shape, want_shape));
    }
    let e = rel_err(&got.data, &host(want));
    if e > TOL {
        return Err(format!("{what}: relative error {e:.3e} > {TOL:e}"));
    }
    Ok(e)
}

/// Greedy ids of the last position of each row of `[B, S, V]` logits.
pub fn argmax_last(data: &[f32], shape: &[usize]) -> Vec<i64> {
    let (b, s, v) = (shape[0], shape[1], shape[2]);
    (0..b)
        .map(|r| {
            let row = &data[(r * s + s - 1) * v..(r * s + s) * v];
            row.iter().enumerate().fold((0, f32::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m }).0 as i64
        })
        .collect()
}

pub fn argmax_last_ref(t: &Tensor) -> Vec<i64> {
    let (b, s, v) = t.dims3().unwrap();
    let d = host(t);
    (0..b)
        .map(|r| {
            let row = &d[(r * s + s - 1) * v..(r * s + s) * v];
            row.iter().enumerate().fold((0, f64::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m }).0 as i64
        })
        .collect()
}

pub fn open(path: &Path) -> Session {
    onnx::open(path, 1).unwrap_or_else(|e| panic!("{e}"))
}

pub fn run(
    s: &mut Session,
    path: &Path,
    inputs: Vec<(String, Input)>,
) -> Check<std::collections::BTreeMap<String, Output>> {
    onnx::run(s, path, inputs).map_err(|e| e.to_string())
}

pub fn empty_kv(cfg: &Config, batch: usize) -> Input {
    Input::F32(vec![batch, cfg.num_kv_heads, 0, cfg.head_dim()], vec![])
}

/// A fused graph keeps the cross-attention cache with a head per query head.
pub fn empty_cross_kv(cfg: &Config, batch: usize, graph: GraphVariant) -> Input {
    let heads = if graph == GraphVariant::Fused { cfg.num_heads } else { cfg.num_kv_heads };
    Input::F32(vec![batch, heads, 0, cfg.head_dim()], vec![])
}

pub fn as_input(o: &Output) -> Input {
    Input::F32(o.shape.clone(), o.data.clone())
}

/// Builds `cfg` into `dir`; with `quant`, the graphs are quantized and `model.safetensors` holds
/// what they compute with: every linear weight dequantized, and for a tied model an untied
/// `lm_head.weight` that is the dequantized embedding (the lookup keeps the f32 table). Returns
/// the configuration the reference must use (untied for a quantized tied model).
pub fn build(
    cfg: &Config,
    dir: &Path,
    fault: Option<Fault>,
    external: ExternalData,
    quant: Option<QuantOptions>,
    graph: GraphVariant,
) -> Config {
    let opts = BuildOptions {
        seed: 7,
        split_decoder: true,
        safetensors: true,
        external_data: external,
        quant,
        graph,
        fault,
        ..BuildOptions::default()
    };
    build_model(cfg, dir, &opts).unwrap_or_else(|e| panic!("{e}"));
    let Some(q) = quant else { return cfg.clone() };
    let reference = Config { tie_embeddings: false, ..cfg.clone() };
    let embedding = weights::model_tensors(cfg).into_iter().find(|t| t.init == Init::Embedding).unwrap();
    let mut tensors = weights::model_tensors(&reference);
    if cfg.tie_embeddings {
        let head = tensors.iter_mut().find(|t| t.name == "lm_head.weight").unwrap();
        // Drawn from the embedding's values, then dequantized like the linear weights.
        *head = TensorSpec {
            quant: Some(Part {
                source: embedding.name.clone(),
                bits: q.bits,
                block_size: q.block_size,
                kind: PartKind::Codes,
            }),
            ..TensorSpec::new("lm_head.weight", embedding.shape.clone(), Init::Embedding)
        };
    }
    slmbench_models::safetensors::write_with(
        &dir.join("model.safetensors"),
        &tensors,
        7,
        &Default::default(),
        Some(&q),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    reference
}

/// Which encoder-decoder decoder files to drive.
#[derive(Clone, Copy, Debug)]
pub enum DecoderFiles {
    Merged,
    Split,
}

/// Encoder, teacher-forced decoder, then STEPS cached greedy steps; returns the greedy ids.
pub fn check_encoder_decoder(
    cfg: &Config,
    dir: &Path,
    files: DecoderFiles,
    seed: u64,
    graph: GraphVariant,
) -> Check<Vec<Vec<i64>>> {
    let batch = 2;
    let enc_len = 9;
    let ids = prompts(seed, batch, enc_len, cfg.vocab_size);
    // Row 1 has two padding positions at the end, so the encoder padding mask matters.
    let mut mask = vec![1i64; batch * enc_len];
    mask[2 * enc_len - 2..].fill(0);
    let mut reference = EncoderDecoder::new(cfg, var_builder(&dir.join("model.safetensors")).unwrap()).unwrap();
    let ref_mask =
        Tensor::from_vec(mask.iter().map(|&m| m as u32).collect::<Vec<_>>(), (batch, enc_len), &Device::Cpu).unwrap();
    let ref_enc = reference.encode(&ids_tensor(&ids, batch), &ref_mask).unwrap();

    let enc_path = dir.join("encoder_model.onnx");
    let mut enc = open(&enc_path);
    let out = run(
        &mut enc,
        &enc_path,
        vec![
            ("input_ids".into(), Input::I64(vec![batch, enc_len], ids.clone())),
            ("attention_mask".into(), Input::I64(vec![batch, enc_len], mask.clone())),
        ],
    )?;
    let hidden = &out["last_hidden_state"];
    compare("encoder last_hidden_state", hidden, &ref_enc)?;

    let n_layers = cfg.decoder_layers;
    let start = cfg.decoder_start_token_id as i64;
    // `total`: the decoder's length with this step's tokens (a fused decoder's mask width).
    let common = |dec_ids: Vec<i64>, len: usize, total: usize| {
        let mut inputs = vec![
            ("encoder_attention_mask".to_string(), Input::I64(vec![batch, enc_len], mask.clone())),
            ("input_ids".to_string(), Input::I64(vec![batch, len], dec_ids)),
        ];
        if graph == GraphVariant::Fused {
            inputs.push(("decoder_attention_mask".to_string(), Input::I64(vec![batch, total], vec![1; batch * total])));
        }
        inputs
    };

    // Teacher forcing over several decoder tokens checks the causal mask at S > 1.
    let forced: Vec<i64> = prompts(seed + 100, batch, 5, cfg.vocab_size);
    let no_past_path = dir.join("decoder_model.onnx");
    let mut no_past = open(&no_past_path);
    let mut inputs = common(forced.clone(), 5, 5);
    inputs.push(("encoder_hidden_states".into(), as_input(hidden)));
    let out = run(&mut no_past, &no_past_path, inputs)?;
    let want = reference.forward(&ids_tensor(&forced, batch), 0).unwrap();
    compare("decoder (teacher-forced, 5 tokens)", &out["logits"], &want)?;
    reference.clear_kv_cache();

    let (first_path, next_path) = match files {
        DecoderFiles::Merged => (dir.join("decoder_model_merged.onnx"), dir.join("decoder_model_merged.onnx")),
        DecoderFiles::Split => (no_past_path.clone(), dir.join("decoder_with_past_model.onnx")),
    };
    let mut first = open(&first_path);
    let mut next = open(&next_path);
    let mut tokens = vec![vec![]; batch];
    let mut current = vec![start; batch];
    let mut dec_past: Vec<Output> = vec![];
    let mut enc_past: Vec<Output> = vec![];
    for step in 0..=STEPS {
        let mut inputs = common(current.clone(), 1, step + 1);
        let merged = matches!(files, DecoderFiles::Merged);
        if step == 0 || merged {
            inputs.push(("encoder_hidden_states".into(), as_input(hidden)));
        }
        if step > 0 || merged {
            for i in 0..n_layers {
                for (j, kv) in ["key", "value"].iter().enumerate() {
                    let d = if step == 0 { empty_kv(cfg, batch) } else { as_input(&dec_past[2 * i + j]) };
                    let e = if step == 0 { empty_cross_kv(cfg, batch, graph) } else { as_input(&enc_past[2 * i + j]) };
                    inputs.push((format!("past_key_values.{i}.decoder.{kv}"), d));
                    inputs.push((format!("past_key_values.{i}.encoder.{kv}"), e));
                }
            }
        }
        if merged {
            inputs.push(("use_cache_branch".into(), Input::Bool(vec![1], vec![step > 0])));
        }
        let (session, path) = if step == 0 { (&mut first, &first_path) } else { (&mut next, &next_path) };
        let out = run(session, path, inputs)?;
        let want = reference.forward(&ids_tensor(&current, batch), step).unwrap();
        compare(&format!("decoder step {step} ({files:?})"), &out["logits"], &want)?;
        let got_ids = argmax_last(&out["logits"].data, &out["logits"].shape);
        let want_ids = argmax_last_ref(&want);
        if got_ids != want_ids {
            return Err(format!("greedy ids differ at step {step}: onnx {got_ids:?} vs reference {want_ids:?}"));
        }
        dec_past = (0..n_layers)
            .flat_map(|i| ["key", "value"].map(|kv| out[&format!("present.{i}.decoder.{kv}")].clone()))
            .collect();
        if step == 0 {
            enc_past = (0..n_layers)
                .flat_map(|i| ["key", "value"].map(|kv| out[&format!("present.{i}.encoder.{kv}")].clone()))
                .collect();
            if enc_past.iter().any(|o| o.shape[2] != enc_len) {
                return Err("first step must return the cross-attention cache".into());
            }
        } else if merged {
            // The cached branch returns empty cross-attention caches (Optimum's convention).
            let e = &out["present.0.encoder.key"];
            if e.shape[2] != 0 {
                return Err(format!("cached branch returned a non-empty encoder cache {:?}", e.shape));
            }
        }
        if dec_past[0].shape[2] != step + 1 {
            return Err(format!("decoder cache has {} positions after step {step}", dec_past[0].shape[2]));
        }
        for (r, &t) in got_ids.iter().enumerate() {
            tokens[r].push(t);
        }
        current = got_ids;
    }
    Ok(tokens)
}

/// Prefill in two chunks (the second with a cache, S > 1), then STEPS greedy steps.
pub fn check_decoder_only(cfg: &Config, dir: &Path, seed: u64, graph: GraphVariant) -> Check<Vec<Vec<i64>>> {
    // GroupQueryAttention takes a second prompt chunk after a cache only at batch 1 (its CPU
    // kernel's rule); the fused graphs' batch-2 decoding is checked against plain graphs'.
    let batch = if graph == GraphVariant::Fused { 1 } else { 2 };
    let (len_a, len_b) = (6, 5);
    let len = len_a + len_b;
    let ids = prompts(seed, batch, len, cfg.vocab_size);
    let chunk = |from: usize, to: usize| -> Vec<i64> {
        (0..batch).flat_map(|r| ids[r * len + from..r * len + to].to_vec()).collect()
    };
    let mut reference = DecoderOnly::new(cfg, var_builder(&dir.join("model.safetensors")).unwrap()).unwrap();
    let path = dir.join("model.onnx");
    let mut session = open(&path);
    let has_positions = onnx::input_names(&session).iter().any(|n| n == "position_ids");
    // A fused graph's GroupQueryAttention places RoPE from the sequence lengths.
    if has_positions != (cfg.rope_theta().is_some() && graph == GraphVariant::Plain) {
        return Err("position_ids input present iff the model has positions and a plain graph".into());
    }
    let n_layers = cfg.decoder_layers;
    let mut past: Vec<Output> = vec![];
    let mut offset = 0;
    let mut tokens = vec![vec![]; batch];
    let mut step_ids = chunk(0, len_a);
    let mut step_len = len_a;
    for step in 0..STEPS + 2 {
        let mut inputs = vec![
            ("input_ids".to_string(), Input::I64(vec![batch, step_len], step_ids.clone())),
            (
                "attention_mask".to_string(),
                Input::I64(vec![batch, offset + step_len], vec![1; batch * (offset + step_len)]),
            ),
        ];
        if has_positions {
            let pos: Vec<i64> = (0..batch).flat_map(|_| (offset..offset + step_len).map(|p| p as i64)).collect();
            inputs.push(("position_ids".into(), Input::I64(vec![batch, step_len], pos)));
        }
        for i in 0..n_layers {
            for (j, kv) in ["key", "value"].iter().enumerate() {
                let v = if step == 0 { empty_kv(cfg, batch) } else { as_input(&past[2 * i + j]) };
                inputs.push((format!("past_key_values.{i}.{kv}"), v));
            }
        }
        let out = run(&mut session, &path, inputs)?;
        let want = reference.forward(&ids_tensor(&step_ids, batch), offset).unwrap();
        compare(&format!("decoder-only step {step} ({step_len} tokens at {offset})"), &out["logits"], &want)?;
        let got_ids = argmax_last(&out["logits"].data, &out["logits"].shape);
        let want_ids = argmax_last_ref(&want);
        if got_ids != want_ids {
            return Err(format!("greedy ids differ at step {step}: onnx {got_ids:?} vs reference {want_ids:?}"));
        }
        past =
            (0..n_layers).flat_map(|i| ["key", "value"].map(|kv| out[&format!("present.{i}.{kv}")].clone())).collect();
        offset += step_len;
        if past[0].shape[2] != offset {
            return Err(format!("cache has {} positions, expected {offset}", past[0].shape[2]));
        }
        if step == 0 {
            step_ids = chunk(len_a, len);
            step_len = len_b;
        } else {
            for (r, &t) in got_ids.iter().enumerate() {
                tokens[r].push(t);
            }
            step_ids = got_ids;
            step_len = 1;
        }
    }
    Ok(tokens)
}

pub fn distinct(tokens: &[i64]) -> usize {
    let mut t = tokens.to_vec();
    t.sort();
    t.dedup();
    t.len()
}

/// Builds `pair` under `root` and checks both models against the reference.
pub fn check_pair(pair: &Pair, root: &Path, fault: Option<Fault>, prompt_seeds: &[u64]) -> Check<()> {
    check_pair_with(pair, root, fault, prompt_seeds, ExternalData::Auto, None, GraphVariant::Plain)
}

pub fn check_pair_with(
    pair: &Pair,
    root: &Path,
    fault: Option<Fault>,
    prompt_seeds: &[u64],
    external: ExternalData,
    quant: Option<QuantOptions>,
    graph: GraphVariant,
) -> Check<()> {
    let ed_dir = root.join("encoder-decoder");
    let do_dir = root.join("decoder-only");
    let ed_cfg = build(&pair.encoder_decoder, &ed_dir, fault, external, quant, graph);
    let do_cfg = build(&pair.decoder_only, &do_dir, fault, external, quant, graph);
    let (mut ed_tokens, mut do_tokens) = (vec![], vec![]);
    for &seed in prompt_seeds {
        for files in [DecoderFiles::Merged, DecoderFiles::Split] {
            let toks = check_encoder_decoder(&ed_cfg, &ed_dir, files, seed, graph)?;
            eprintln!("{} {files:?} prompt {seed}: {toks:?}", pair.name);
            ed_tokens.extend(toks.into_iter().flatten());
        }
        let toks = check_decoder_only(&do_cfg, &do_dir, seed, graph)?;
        eprintln!("{} decoder-only prompt {seed}: {toks:?}", pair.name);
        do_tokens.extend(toks.into_iter().flatten());
    }
    // Random weights must not collapse into one repeated token, or equal greedy ids prove
    // little: across all prompts at least one token in eight is a new id.
    for (what, toks) in [("encoder-decoder", &ed_tokens), ("decoder-only", &do_tokens)] {
        let d = distinct(toks);
        assert!(d * 8 >= toks.len(), "{what} greedy output too repetitive: {d} distinct of {}", toks.len());
    }
    Ok(())
}
