//! The generated ONNX graphs, run by ONNX Runtime, against the independent candle reference
//! (f64) reading the same weights from `model.safetensors`.
//!
//! Checks per model: logits within 1e-4 relative error (max |Δ| / max |reference|) on several
//! random prompts, and 16 greedy steps with the KV cache giving identical tokens. Both branches
//! of the merged decoder and the split pair are exercised, for plain and fused graphs. The
//! `faults` test builds graphs with one deliberate mistake each (RoPE sign, causal mask, GQA
//! grouping, cache order; RoPE layout and GQA grouping in fused graphs) and requires this
//! comparison to fail on every one.

mod graphs;

use graphs::*;
use slmbench_models::graph::{Fault, GraphVariant};
use slmbench_models::quant::QuantOptions;
use slmbench_models::{Config, ExternalData, FfnKind, Kind, Pair, Positions};

#[test]
fn tiny_pair_matches_reference() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::preset("tiny").unwrap();
    check_pair(&pair, dir.path(), None, &[1, 2, 3, 4, 5]).unwrap_or_else(|e| panic!("{e}"));
}

/// Weights in external data files (as above 2 GB) load and compute the same.
#[test]
fn external_data_matches_reference() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pair = Pair::preset("tiny").unwrap();
    check_pair_with(&pair, root, None, &[6], ExternalData::Always, None, GraphVariant::Plain)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(root.join("decoder-only/model.onnx_data").is_file());
    assert!(root.join("encoder-decoder/decoder_model_merged.onnx_data").is_file());
}

/// Quantized graphs (`MatMulNBits`, 8 and 4 bits, tied and untied output projection) compute what
/// the reference computes with the dequantized weights. Accuracy level 1 makes the runtime
/// compute in f32, so the comparison can be as tight as for fp32 graphs; ids must agree too.
#[test]
fn quantized_graphs_match_dequantized_reference() {
    let tied = Pair::preset("tiny").unwrap();
    let untied = {
        let ed = Config { tie_embeddings: false, ..tied.encoder_decoder.clone() };
        let dec = Config { tie_embeddings: false, ..tied.decoder_only.clone() };
        Pair { name: "tiny-untied".into(), encoder_decoder: ed, decoder_only: dec }
    };
    for pair in [&tied, &untied] {
        for bits in [8u8, 4] {
            let q = QuantOptions { bits, block_size: 16, accuracy_level: 1 };
            let dir = tempfile::tempdir().unwrap();
            check_pair_with(pair, dir.path(), None, &[1, 2], ExternalData::Auto, Some(q), GraphVariant::Plain)
                .unwrap_or_else(|e| panic!("{} int{bits}: {e}", pair.name));
        }
    }
}

/// Other architecture options: gated GELU and SwiGLU, no positions, untied output projection,
/// multi-head (no GQA) and a large group.
#[test]
fn architecture_variants_match_reference() {
    let base = (slmbench_models::presets::PRESETS[0].encoder_decoder)();
    let variants = [
        Config { ffn: FfnKind::Swiglu, tie_embeddings: false, num_kv_heads: 4, ..base.clone() },
        Config {
            ffn: FfnKind::GatedGelu,
            positions: Positions::None,
            num_heads: 8,
            num_kv_heads: 2,
            head_dim: Some(8),
            ..base.clone()
        },
        Config { num_kv_heads: 1, positions: Positions::Rope { theta: 500.0 }, ..base },
    ];
    for (i, ed) in variants.into_iter().enumerate() {
        ed.validate().unwrap();
        let dec = Config { kind: Kind::DecoderOnly, encoder_layers: 0, decoder_layers: 3, ..ed.clone() };
        let pair = Pair { name: format!("variant{i}"), encoder_decoder: ed, decoder_only: dec };
        let dir = tempfile::tempdir().unwrap();
        check_pair(&pair, dir.path(), None, &[11]).unwrap_or_else(|e| panic!("variant {i}: {e}"));
    }
}

/// Fused graphs (GroupQueryAttention, MultiHeadAttention, RotaryEmbedding, the fused norms and
/// GELU) compute what the reference computes: chunked prefill, teacher forcing, encoder padding
/// and cached steps, fp32 and int4, with GQA groups of 2 and 4 and without positions.
#[test]
fn fused_graphs_match_reference() {
    let tiny = Pair::preset("tiny").unwrap();
    let dir = tempfile::tempdir().unwrap();
    check_pair_with(&tiny, dir.path(), None, &[1, 2, 3], ExternalData::Auto, None, GraphVariant::Fused)
        .unwrap_or_else(|e| panic!("tiny fused: {e}"));
    let q = QuantOptions { bits: 4, block_size: 16, accuracy_level: 1 };
    let dir = tempfile::tempdir().unwrap();
    check_pair_with(&tiny, dir.path(), None, &[4], ExternalData::Auto, Some(q), GraphVariant::Fused)
        .unwrap_or_else(|e| panic!("tiny fused int4: {e}"));
    let base = (slmbench_models::presets::PRESETS[0].encoder_decoder)();
    let variants = [
        Config { ffn: FfnKind::Swiglu, num_heads: 8, num_kv_heads: 2, head_dim: Some(16), ..base.clone() },
        Config { ffn: FfnKind::GatedGelu, positions: Positions::None, tie_embeddings: false, ..base },
    ];
    for (i, ed) in variants.into_iter().enumerate() {
        ed.validate().unwrap();
        let dec = Config { kind: Kind::DecoderOnly, encoder_layers: 0, decoder_layers: 3, ..ed.clone() };
        let pair = Pair { name: format!("fused-variant{i}"), encoder_decoder: ed, decoder_only: dec };
        let dir = tempfile::tempdir().unwrap();
        check_pair_with(&pair, dir.path(), None, &[11], ExternalData::Auto, None, GraphVariant::Fused)
            .unwrap_or_else(|e| panic!("fused variant {i}: {e}"));
    }
}

/// Each deliberate mistake in the graph builder must make the comparison fail.
#[test]
fn faults_are_caught() {
    let pair = Pair::preset("tiny").unwrap();
    for fault in [Fault::RopeSign, Fault::NoCausalMask, Fault::GqaGrouping, Fault::CacheOrder] {
        let dir = tempfile::tempdir().unwrap();
        let result = check_pair(&pair, dir.path(), Some(fault), &[1]);
        match result {
            Err(msg) => eprintln!("{fault:?} caught: {msg}"),
            Ok(()) => panic!("{fault:?} was not caught by the reference comparison"),
        }
    }
    for fault in [Fault::RopeSign, Fault::GqaGrouping] {
        let dir = tempfile::tempdir().unwrap();
        match check_pair_with(&pair, dir.path(), Some(fault), &[1], ExternalData::Auto, None, GraphVariant::Fused) {
            Err(msg) => eprintln!("fused {fault:?} caught: {msg}"),
            Ok(()) => panic!("fused {fault:?} was not caught by the reference comparison"),
        }
    }
}
