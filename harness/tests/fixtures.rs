//! Optimum exports (T5 merged and split, Llama), onnxruntime-genai builder exports (fp32 with
//! fused operators, int4) and the generated `tiny` pair, driven by the generation loops: greedy
//! ids must equal PyTorch's or onnxruntime-genai's Generator's (fixtures) and the candle
//! reference's (tiny).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use slmbench_harness::candle::{decoder_only::DecoderOnly, encoder_decoder::EncoderDecoder, var_builder};
use slmbench_harness::files::layout::DecoderChoice;
use slmbench_harness::generation::Prompt;
use slmbench_harness::onnxruntime::session::{LoadedModel, SessionSettings};
use slmbench_models::{BuildOptions, Pair, build_pair};
use slmbench_results::model::Layout;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/optimum").join(name)
}

/// Prompts and the expected ids under `key` (`pytorch_tokens`, `onnxruntime_genai_tokens`).
fn cases_of(dir: &Path, key: &str) -> Vec<(Vec<i64>, Vec<i64>)> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ids = |k: &str| c[k].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect::<Vec<_>>();
            (ids("prompt_ids"), ids(key))
        })
        .collect()
}

fn check_fixture(name: &str, choice: DecoderChoice, layout: Layout) {
    check_dir(&data(name), "pytorch_tokens", choice, layout);
}

fn check_dir(dir: &Path, key: &str, choice: DecoderChoice, layout: Layout) {
    let name = dir.display();
    let mut m = LoadedModel::load_with(dir, &SessionSettings::default(), choice).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.files.layout, layout);
    for (prompt, expected) in cases_of(dir, key) {
        for batch in [1, 2] {
            let g =
                m.generate(&Prompt::repeated(&prompt, batch), expected.len(), false).unwrap_or_else(|e| panic!("{e}"));
            for row in &g.tokens {
                assert_eq!(row, &expected, "{name} {choice:?} batch {batch}, prompt of {} tokens", prompt.len());
            }
            assert_eq!(g.itl_ns.len(), expected.len() - 1);
            assert!(g.ttft_ns >= g.first_step_ns && g.decode_run_ns <= g.itl_ns.iter().sum::<u64>());
            assert_eq!(g.encoder_ns.is_some(), layout.is_encoder_decoder());
        }
    }
}

#[test]
fn t5_merged_matches_pytorch() {
    check_fixture("t5-tiny", DecoderChoice::Auto, Layout::EncoderDecoderMerged);
}

#[test]
fn t5_split_matches_pytorch() {
    check_fixture("t5-tiny", DecoderChoice::Split, Layout::EncoderDecoderSplit);
}

#[test]
fn llama_matches_pytorch() {
    check_fixture("llama-tiny", DecoderChoice::Auto, Layout::DecoderOnly);
}

fn genai(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/genai").join(name)
}

/// The builder's fp32 graph (fused GroupQueryAttention, SkipSimplifiedLayerNormalization; head
/// size only in genai_config.json) reproduces onnxruntime-genai's Generator and PyTorch.
#[test]
fn genai_builder_fp32_matches_the_generator_and_pytorch() {
    for key in ["onnxruntime_genai_tokens", "pytorch_tokens"] {
        check_dir(&genai("llama-tiny-fp32"), key, DecoderChoice::Auto, Layout::GenAi);
    }
}

/// The builder's int4 graph (MatMulNBits) reproduces onnxruntime-genai's Generator.
#[test]
fn genai_builder_int4_matches_the_generator() {
    check_dir(&genai("llama-tiny-int4"), "onnxruntime_genai_tokens", DecoderChoice::Auto, Layout::GenAi);
}

/// A genai_config.json that contradicts the graph is an error saying which file says what; the
/// check is proven able to fail by planting each contradiction.
#[test]
fn genai_config_contradicting_the_graph_is_refused() {
    let src = genai("llama-tiny-fp32");
    for (pointer, value, needle) in [
        ("/model/decoder/num_hidden_layers", 3, "model.decoder.num_hidden_layers in"),
        ("/model/decoder/num_key_value_heads", 4, "model.decoder.num_key_value_heads in"),
        ("/model/vocab_size", 2048, "model.vocab_size in"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        for f in ["model.onnx", "model.onnx.data"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(src.join("genai_config.json")).unwrap()).unwrap();
        *cfg.pointer_mut(pointer).unwrap() = serde_json::json!(value);
        std::fs::write(dir.path().join("genai_config.json"), cfg.to_string()).unwrap();
        let e = LoadedModel::load(dir.path(), &SessionSettings::default()).err().expect(pointer).to_string();
        assert!(e.contains(needle) && e.contains("model.onnx says"), "{pointer}: {e}");
    }
}

#[test]
fn geometry_is_read_from_the_graphs() {
    let m = LoadedModel::load(&data("llama-tiny"), &SessionSettings::default()).unwrap();
    let g = m.geometry;
    assert_eq!((g.layers, g.kv_heads, g.head_dim, g.vocab_size), (2, 2, 16, 1024));
    assert!(m.has_position_ids);
    let m = LoadedModel::load(&data("t5-tiny"), &SessionSettings::default()).unwrap();
    let g = m.geometry;
    assert_eq!((g.layers, g.kv_heads, g.head_dim, g.cross_kv_heads), (2, 4, 16, 4));
}

/// The generated pair through the same loops, against the candle reference's greedy ids.
#[test]
fn tiny_pair_generates_the_reference_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::preset("tiny").unwrap();
    let opts = BuildOptions { split_decoder: true, safetensors: true, ..Default::default() };
    build_pair(&pair, dir.path(), &opts).unwrap();
    let n = 16;
    let prompt = Prompt::synthetic(9, 2, 12, pair.encoder_decoder.vocab_size);
    let to_tensor = |ids: &[i64], b: usize| {
        Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), (b, ids.len() / b), &Device::Cpu).unwrap()
    };
    let argmax = |t: &Tensor| -> Vec<i64> {
        let t = t.squeeze(1).unwrap().argmax(1).unwrap();
        t.to_vec1::<u32>().unwrap().into_iter().map(i64::from).collect()
    };

    let ed_dir = dir.path().join("encoder-decoder");
    let mut reference =
        EncoderDecoder::new(&pair.encoder_decoder, var_builder(&ed_dir.join("model.safetensors")).unwrap()).unwrap();
    reference
        .encode(&to_tensor(&prompt.ids, 2), &Tensor::ones((2, 12), candle_core::DType::U32, &Device::Cpu).unwrap())
        .unwrap();
    let mut current = vec![0i64; 2];
    let mut want = vec![vec![]; 2];
    for step in 0..n {
        let logits = reference.forward(&to_tensor(&current, 2), step).unwrap();
        current = argmax(&logits);
        for r in 0..2 {
            want[r].push(current[r]);
        }
    }
    for choice in [DecoderChoice::Merged, DecoderChoice::Split] {
        let mut m = LoadedModel::load_with(&ed_dir, &SessionSettings::default(), choice).unwrap();
        assert_eq!(m.generate(&prompt, n, false).unwrap().tokens, want, "{choice:?}");
    }

    let do_dir = dir.path().join("decoder-only");
    let mut reference =
        DecoderOnly::new(&pair.decoder_only, var_builder(&do_dir.join("model.safetensors")).unwrap()).unwrap();
    let logits = reference.forward(&to_tensor(&prompt.ids, 2), 0).unwrap();
    let last = logits.narrow(1, 11, 1).unwrap();
    current = argmax(&last);
    let mut want = vec![vec![current[0]], vec![current[1]]];
    for step in 1..n {
        let logits = reference.forward(&to_tensor(&current, 2), 11 + step).unwrap();
        current = argmax(&logits);
        for r in 0..2 {
            want[r].push(current[r]);
        }
    }
    let mut m = LoadedModel::load(&do_dir, &SessionSettings::default()).unwrap();
    assert_eq!(m.generate(&prompt, n, false).unwrap().tokens, want);
}

/// The same decoder-only graph under the older file names and with a genai_config.json is
/// detected as those layouts and generates the same ids; a model without positions has no
/// `position_ids` input. (A real onnxruntime-genai export, with its fused operators, is not
/// among the fixtures: only its file layout is checked here.)
#[test]
fn other_decoder_only_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::preset("tiny").unwrap();
    build_pair(&pair, dir.path(), &BuildOptions::default()).unwrap();
    let model = dir.path().join("decoder-only");
    let prompt = Prompt::synthetic(3, 1, 7, 1024);
    let mut base = LoadedModel::load(&model, &SessionSettings::default()).unwrap();
    let want = base.generate(&prompt, 8, false).unwrap().tokens;

    let legacy = dir.path().join("legacy");
    std::fs::create_dir(&legacy).unwrap();
    for f in ["decoder_model.onnx", "decoder_with_past_model.onnx"] {
        std::fs::copy(model.join("model.onnx"), legacy.join(f)).unwrap();
    }
    std::fs::copy(model.join("config.json"), legacy.join("config.json")).unwrap();
    let mut m = LoadedModel::load(&legacy, &SessionSettings::default()).unwrap();
    assert_eq!(m.files.layout, Layout::DecoderOnlyLegacy);
    assert_eq!(m.generate(&prompt, 8, false).unwrap().tokens, want);

    let genai = dir.path().join("genai");
    std::fs::create_dir(&genai).unwrap();
    std::fs::copy(model.join("model.onnx"), genai.join("model.onnx")).unwrap();
    std::fs::write(genai.join("genai_config.json"), "{}").unwrap();
    let mut m = LoadedModel::load(&genai, &SessionSettings::default()).unwrap();
    assert_eq!(m.files.layout, Layout::GenAi);
    assert_eq!(m.generate(&prompt, 8, false).unwrap().tokens, want);

    let cfg = slmbench_models::Config { positions: slmbench_models::Positions::None, ..pair.decoder_only.clone() };
    let nopos = dir.path().join("nopos");
    slmbench_models::build_model(&cfg, &nopos, &BuildOptions::default()).unwrap();
    let mut m = LoadedModel::load(&nopos, &SessionSettings::default()).unwrap();
    assert!(!m.has_position_ids);
    assert_eq!(m.generate(&prompt, 8, false).unwrap().tokens[0].len(), 8);
}

#[test]
fn bad_generation_requests_are_errors() {
    let mut m = LoadedModel::load(&data("llama-tiny"), &SessionSettings::default()).unwrap();
    let p = Prompt::repeated(&[5, 6, 7], 1);
    assert!(m.generate(&p, 0, false).unwrap_err().to_string().contains("at least 1"));
    assert!(m.generate(&Prompt::repeated(&[5, 5000], 1), 3, false).unwrap_err().to_string().contains("vocabulary"));
    assert!(m.generate(&Prompt { batch: 1, len: 0, ids: vec![] }, 3, false).is_err());
}

/// Found by the model-directory fuzzer (`tests/fuzz.rs`): `past_key_values.1.value` without `past_key_values.1.key` made the
/// generation loop index past the caches it had prepared (a panic); now the graph is refused.
#[test]
fn a_cache_input_beyond_the_counted_layers_is_refused_not_a_panic() {
    use slmbench_models::onnx::proto::{
        DataType, Dim, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, ValueInfoProto,
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = || Some(vec![Dim::Fixed(1), Dim::Fixed(2), Dim::Sym("past".into()), Dim::Fixed(4)]);
    let mut graph = GraphProto::default();
    graph.input.push(ValueInfoProto::tensor(
        "input_ids",
        DataType::Int64,
        Some(vec![Dim::Fixed(1), Dim::Sym("s".into())]),
    ));
    for name in ["past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.value"] {
        graph.input.push(ValueInfoProto::tensor(name, DataType::Float, cache()));
    }
    for (out, from) in [
        ("logits", "past_key_values.0.key"),
        ("present.0.key", "past_key_values.0.key"),
        ("present.0.value", "past_key_values.0.value"),
    ] {
        graph.node.push(NodeProto {
            input: vec![from.into()],
            output: vec![out.into()],
            name: format!("n_{out}"),
            op_type: "Identity".into(),
            ..Default::default()
        });
        graph.output.push(ValueInfoProto::tensor(out, DataType::Float, cache()));
    }
    let model = ModelProto {
        ir_version: 9,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 18 }],
        graph: Some(graph),
        ..Default::default()
    };
    std::fs::write(dir.path().join("model.onnx"), prost::Message::encode_to_vec(&model)).unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"vocab_size": 8}"#).unwrap();
    let settings = SessionSettings { threads: 1, ..SessionSettings::default() };
    let mut m = LoadedModel::load_with(dir.path(), &settings, DecoderChoice::Auto).unwrap();
    let e = m.generate(&Prompt::synthetic(0, 1, 3, 8), 2, false).unwrap_err().to_string();
    assert!(e.contains("past_key_values.1.value") && e.contains("1 layers"), "{e}");
}
