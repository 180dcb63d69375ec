//! Configs, parameter counts and matching, presets, and the files the writer produces.

use std::collections::BTreeMap;
use std::path::Path;

use slmbench_models::onnx::proto::{self, DataType};
use slmbench_models::{
    BuildOptions, Config, ConfigError, ExternalData, FfnKind, Kind, Pair, Positions, build_pair, params, presets,
};

fn tiny() -> Config {
    (presets::PRESETS[0].encoder_decoder)()
}

// ---- configuration: every invalid field is named -------------------------------------------

#[test]
fn invalid_fields_are_named() {
    type Mutation = fn(&mut Config);
    let cases: Vec<(&str, Mutation)> = vec![
        ("d_model", |c| c.d_model = 0),
        ("num_heads", |c| c.num_heads = 0),
        ("num_kv_heads", |c| c.num_kv_heads = 0),
        ("num_kv_heads", |c| c.num_kv_heads = 3), // does not divide 4 query heads
        ("num_heads", |c| {
            c.head_dim = None;
            c.num_heads = 5; // does not divide d_model 64
            c.num_kv_heads = 1;
        }),
        ("head_dim", |c| c.head_dim = Some(0)),
        ("head_dim", |c| c.head_dim = Some(15)), // odd with RoPE
        ("d_ff", |c| c.d_ff = 0),
        ("norm_eps", |c| c.norm_eps = 0.0),
        ("norm_eps", |c| c.norm_eps = f64::NAN),
        ("positions.theta", |c| c.positions = Positions::Rope { theta: 0.5 }),
        ("positions.theta", |c| c.positions = Positions::Rope { theta: f64::INFINITY }),
        ("encoder_layers", |c| c.encoder_layers = 0),
        ("encoder_layers", |c| c.kind = Kind::DecoderOnly), // decoder-only with encoder layers
        ("decoder_layers", |c| c.decoder_layers = 0),
        ("vocab_size", |c| c.vocab_size = 1),
        ("max_positions", |c| c.max_positions = 0),
        ("decoder_start_token_id", |c| c.decoder_start_token_id = 5000),
        ("eos_token_id", |c| c.eos_token_id = 1024),
        ("d_model", |c| {
            c.d_model = 1 << 16;
            c.vocab_size = 1 << 16; // a 16 GB embedding
            c.head_dim = Some(16);
        }),
        // Found by tests/fuzz.rs: products that overflowed usize, and unbounded stacks.
        ("d_model", |c| {
            c.d_model = 5_422_323_360_878_763;
            c.head_dim = Some(16);
        }),
        ("decoder_layers", |c| c.decoder_layers = 1 << 40),
        ("encoder_layers", |c| c.encoder_layers = 1001),
    ];
    for (field, mutate) in cases {
        let mut cfg = tiny();
        mutate(&mut cfg);
        match cfg.validate() {
            Err(ConfigError::Invalid { field: f, reason }) => {
                assert_eq!(f, field, "wrong field blamed ({reason})");
                let msg = ConfigError::Invalid { field: f, reason }.to_string();
                assert!(msg.contains(&format!("`{field}`")), "message does not name the field: {msg}");
            }
            other => panic!("expected an error naming `{field}`, got {other:?}"),
        }
    }
}

#[test]
fn toml_and_json_round_trip() {
    let cfg = tiny();
    assert_eq!(Config::from_toml(&cfg.to_toml()).unwrap(), cfg);
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(Config::from_json(&json).unwrap(), cfg);
}

#[test]
fn parse_errors_name_the_field() {
    let text = tiny().to_toml();
    let unknown = format!("{text}\nd_modle = 3\n");
    let e = Config::from_toml(&unknown).unwrap_err().to_string();
    assert!(e.contains("d_modle"), "{e}");

    let missing: String = text.lines().filter(|l| !l.starts_with("d_ff")).collect::<Vec<_>>().join("\n");
    let e = Config::from_toml(&missing).unwrap_err().to_string();
    assert!(e.contains("d_ff"), "{e}");

    let bad_kind = text.replace("ffn = \"gelu\"", "ffn = \"relu\"");
    let e = Config::from_toml(&bad_kind).unwrap_err().to_string();
    assert!(e.contains("relu") && e.contains("gelu"), "{e}");

    let e = Config::from_json("{\"kind\": \"encoder-decoder\"}").unwrap_err().to_string();
    assert!(e.contains("missing field"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch.toml");
    std::fs::write(&path, text.replace("num_kv_heads = 2", "num_kv_heads = 3")).unwrap();
    let e = Config::from_file(&path).unwrap_err().to_string();
    assert!(e.contains("num_kv_heads") && e.contains("arch.toml"), "{e}");
    let e = Config::from_file(&dir.path().join("absent.toml")).unwrap_err().to_string();
    assert!(e.contains("absent.toml"), "{e}");
}

// ---- parameters ------------------------------------------------------------------------------

#[test]
fn paper_preset_matches_the_paper() {
    let pair = Pair::preset("paper").unwrap();
    let c = pair.counts();
    let ed = c.encoder_decoder.total as f64;
    assert!((ed / 332e6 - 1.0).abs() <= 0.01, "encoder-decoder has {ed} parameters, the paper ≈332M");
    assert!(c.relative_difference.abs() <= 0.02, "decoder-only is {:.2}% off", c.relative_difference * 100.0);
    let cfg = &pair.encoder_decoder;
    assert_eq!((cfg.encoder_layers, cfg.decoder_layers, cfg.d_model, cfg.d_ff), (20, 10, 1024, 4096));
    assert_eq!((cfg.num_heads, cfg.num_kv_heads, cfg.head_dim()), (6, 3, 64));
    assert_eq!((cfg.vocab_size, cfg.tie_embeddings, cfg.ffn), (32128, true, FfnKind::Gelu));
}

#[test]
fn every_preset_is_matched_within_two_percent() {
    for name in presets::names() {
        let pair = Pair::preset(name).unwrap();
        let c = pair.counts();
        assert!(c.relative_difference.abs() <= params::MATCH_TOLERANCE, "{name}: {c:?}");
        assert_eq!(pair.decoder_only.kind, Kind::DecoderOnly);
        assert_eq!(pair.decoder_only.d_model, pair.encoder_decoder.d_model);
        assert_eq!(pair.decoder_only.num_heads, pair.encoder_decoder.num_heads);
        assert_eq!(pair.decoder_only.d_ff, pair.encoder_decoder.d_ff);
        // One layer more or fewer must not be closer.
        let target = c.encoder_decoder.total;
        for other in [pair.decoder_only.decoder_layers - 1, pair.decoder_only.decoder_layers + 1] {
            let cfg = Config { decoder_layers: other, ..pair.decoder_only.clone() };
            assert!(params::count(&cfg).total.abs_diff(target) >= c.decoder_only.total.abs_diff(target));
        }
    }
    let small = Pair::preset("small").unwrap().counts();
    assert!((20e6..=40e6).contains(&(small.encoder_decoder.total as f64)));
    let one_b = Pair::preset("1b").unwrap().counts();
    assert!((0.9e9..=1e9).contains(&(one_b.encoder_decoder.total as f64)));
}

#[test]
fn unmatched_pair_is_an_error() {
    // A huge layer next to a tiny embedding: no decoder-only layer count comes within 2%.
    let cfg = Config { vocab_size: 2, encoder_layers: 1, decoder_layers: 1, ..tiny() };
    match Pair::from_encoder_decoder("odd", cfg) {
        Err(e @ ConfigError::NoMatch { .. }) => assert!(e.to_string().contains("2%"), "{e}"),
        other => panic!("expected NoMatch, got {:?}", other.map(|p| p.counts())),
    }
    let e = Pair::preset("huge").unwrap_err().to_string();
    assert!(e.contains("tiny") && e.contains("paper"), "{e}");
}

/// Sums the initializers of every ONNX file in `dir` (each name once: encoder and decoder share
/// the embedding), reading external data sizes from the tensor entries.
fn initializer_params(dir: &Path) -> BTreeMap<String, u64> {
    let mut seen = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "onnx") {
            let model = proto::decode_model(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(model.opset_import[0].version, 18);
            for t in model.graph.unwrap().initializer {
                assert_eq!(t.data_type, DataType::Float as i32);
                let n: i64 = t.dims.iter().product();
                let bytes = if t.data_location == 1 {
                    let len = t.external_data.iter().find(|e| e.key == "length").unwrap();
                    len.value.parse::<u64>().unwrap()
                } else {
                    t.raw_data.len() as u64
                };
                assert_eq!(bytes, 4 * n as u64, "{}: data size", t.name);
                if let Some(prev) = seen.insert(t.name.clone(), n as u64) {
                    assert_eq!(prev, n as u64, "{} differs between files", t.name);
                }
            }
        }
    }
    seen
}

#[test]
fn counts_equal_the_written_initializers() {
    for (preset, external) in
        [("tiny", ExternalData::Auto), ("tiny", ExternalData::Always), ("small", ExternalData::Auto)]
    {
        let pair = Pair::preset(preset).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let opts = BuildOptions { split_decoder: true, external_data: external, ..Default::default() };
        let m = build_pair(&pair, dir.path(), &opts).unwrap();
        for (sub, cfg, manifest) in [
            ("encoder-decoder", &pair.encoder_decoder, &m.encoder_decoder),
            ("decoder-only", &pair.decoder_only, &m.decoder_only),
        ] {
            let written: u64 = initializer_params(&dir.path().join(sub)).values().sum();
            let counted = params::count(cfg);
            assert_eq!(written, counted.total, "{preset} {sub}");
            assert_eq!(manifest.params, counted);
            let on_disk: u64 = manifest
                .files
                .iter()
                .map(|f| std::fs::metadata(dir.path().join(sub).join(&f.name)).unwrap().len())
                .sum();
            assert_eq!(on_disk, manifest.total_bytes, "{preset} {sub}: manifest bytes");
        }
    }
}

// ---- files -----------------------------------------------------------------------------------

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["", "encoder-decoder", "decoder-only"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                out.insert(format!("{sub}/{}", p.file_name().unwrap().to_string_lossy()), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn rebuilds_are_byte_identical() {
    let pair = Pair::preset("tiny").unwrap();
    let opts = BuildOptions { seed: 42, split_decoder: true, safetensors: true, ..Default::default() };
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    build_pair(&pair, a.path(), &opts).unwrap();
    build_pair(&pair, b.path(), &opts).unwrap();
    build_pair(&pair, c.path(), &BuildOptions { seed: 43, ..opts.clone() }).unwrap();
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    assert!(fa.len() >= 14, "{:?}", fa.keys());
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between identical builds");
    }
    let onnx = "encoder-decoder/encoder_model.onnx";
    assert_ne!(fa[onnx], fc[onnx], "another seed must give other weights");
}

#[test]
fn layout_follows_optimum() {
    let pair = Pair::preset("tiny").unwrap();
    let dir = tempfile::tempdir().unwrap();
    build_pair(&pair, dir.path(), &BuildOptions { safetensors: true, ..Default::default() }).unwrap();
    let ed = dir.path().join("encoder-decoder");
    for f in ["encoder_model.onnx", "decoder_model_merged.onnx", "config.json", "manifest.json", "model.safetensors"] {
        assert!(ed.join(f).is_file(), "{f}");
    }
    assert!(!ed.join("decoder_model.onnx").exists(), "split pair only on request");
    let merged = proto::decode_model(&std::fs::read(ed.join("decoder_model_merged.onnx")).unwrap()).unwrap();
    let g = merged.graph.unwrap();
    let inputs: Vec<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(inputs[..3], ["encoder_attention_mask", "input_ids", "encoder_hidden_states"]);
    assert!(inputs.contains(&"past_key_values.2.encoder.value") && inputs.last() == Some(&"use_cache_branch"));
    assert!(g.node.iter().any(|n| n.op_type == "If"));
    let outputs: Vec<&str> = g.output.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        outputs[..5],
        [
            "logits",
            "present.0.decoder.key",
            "present.0.decoder.value",
            "present.0.encoder.key",
            "present.0.encoder.value"
        ]
    );

    let d = dir.path().join("decoder-only");
    let model = proto::decode_model(&std::fs::read(d.join("model.onnx")).unwrap()).unwrap();
    let g = model.graph.unwrap();
    let inputs: Vec<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(inputs[..4], ["input_ids", "attention_mask", "position_ids", "past_key_values.0.key"]);
    // Only standard-domain operators, so every execution provider can run them.
    assert!(g.node.iter().all(|n| n.domain.is_empty()));

    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["num_hidden_layers"], 8);
    assert_eq!(config["num_key_value_heads"], 2);
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["flops"]["prefill"]["matmul_flops_per_token"].as_u64().unwrap() > 0);
    assert_eq!(manifest["params"]["total"], 361536);

    // safetensors: Hugging Face names and [out, in] shapes, readable by the reference crate.
    let bytes = std::fs::read(ed.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let q = st.tensor("encoder.block.0.layer.0.SelfAttention.q.weight").unwrap();
    assert_eq!(q.shape(), &[64, 64]);
    let k = st.tensor("decoder.block.2.layer.1.EncDecAttention.k.weight").unwrap();
    assert_eq!(k.shape(), &[32, 64]);
    let total: usize = st.tensors().iter().map(|(_, t)| t.shape().iter().product::<usize>()).sum();
    assert_eq!(total as u64, params::count(&pair.encoder_decoder).total);
}

#[test]
fn flops_are_consistent_with_parameters() {
    // Without attention terms, a decoder-only token costs about 2 FLOPs per weight.
    let pair = Pair::preset("paper").unwrap();
    let f = slmbench_models::flops::flops(&pair.decoder_only);
    let p = params::count(&pair.decoder_only);
    let per_token = f.decoder_step.matmul_flops_per_token as f64;
    let two_per_weight = 2.0 * p.total as f64; // embedding is tied: its table is the output projection
    assert!((per_token / two_per_weight - 1.0).abs() < 0.001, "{per_token} vs {two_per_weight}");
}

/// The roofline's inputs: a decoder-only step multiplies with every weight but the norms (the
/// tied table is its output projection); an encoder-decoder step leaves out the encoder and the
/// cross-attention keys and values. A one-token prefill costs one decoder step.
#[test]
fn decode_step_weights_and_ttft_flops() {
    use slmbench_models::flops::{decode_step_weights, flops, ttft_flops};
    let pair = Pair::preset("tiny").unwrap();
    let (ed, dec) = (&pair.encoder_decoder, &pair.decoder_only);
    let d = dec.d_model as u64;
    let norms = (2 * dec.decoder_layers as u64 + 1) * d;
    assert_eq!(decode_step_weights(dec), params::count(dec).total - norms);
    let cross_kv = ed.decoder_layers as u64 * 2 * d * ed.kv_dim() as u64;
    let ed_norms = (3 * ed.decoder_layers as u64 + 1) * d;
    let p = params::count(ed);
    assert_eq!(decode_step_weights(ed), p.decoder + p.embedding - cross_kv - ed_norms);
    let step = flops(dec).decoder_step;
    assert_eq!(ttft_flops(dec, 1, 1), step.matmul_flops_per_token + step.attention_flops_per_token_per_position);
    assert_eq!(ttft_flops(dec, 3, 16), 3 * ttft_flops(dec, 1, 16));
    assert!(ttft_flops(ed, 1, 16) > 16 * flops(ed).encoder_pass.unwrap().matmul_flops_per_token);
}
