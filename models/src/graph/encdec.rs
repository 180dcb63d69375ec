//! Encoder-decoder graphs in Optimum's layout: `encoder_model.onnx`, and the decoder as
//! `decoder_model_merged.onnx` (an `If` on `use_cache_branch`) or the split pair
//! `decoder_model.onnx` + `decoder_with_past_model.onnx`.

use super::layers::{self, Ctx, KeyValues, Rope};
use super::{Fault, GraphSpec};
use crate::config::Config;
use crate::onnx::builder::{Attr, Graph};
use crate::onnx::proto::{DataType, Dim, ValueInfoProto};
use crate::weights::{self, StackNames};

const BATCH: &str = "batch_size";
const ENC_SEQ: &str = "encoder_sequence_length";
const DEC_SEQ: &str = "decoder_sequence_length";
const PAST_DEC: &str = "past_decoder_sequence_length";
const TOTAL_DEC: &str = "past_decoder_sequence_length + decoder_sequence_length";

fn i64_input(name: &str, dims: Vec<Dim>) -> ValueInfoProto {
    ValueInfoProto::tensor(name, DataType::Int64, Some(dims))
}

fn f32_value(name: &str, dims: Vec<Dim>) -> ValueInfoProto {
    ValueInfoProto::tensor(name, DataType::Float, Some(dims))
}

pub fn encoder(cfg: &Config, fault: Option<Fault>) -> GraphSpec {
    let ctx = Ctx { cfg, fault };
    let names = weights::encoder_names(cfg);
    let mut g = Graph::new("");
    g.inputs.push(i64_input("input_ids", vec![BATCH.into(), ENC_SEQ.into()]));
    g.inputs.push(i64_input("attention_mask", vec![BATCH.into(), ENC_SEQ.into()]));
    let mut h = g.op_attr("Gather", &[&names.embedding, "input_ids"], vec![("axis", Attr::Int(0))]);
    let s_len = g.dim("input_ids", 1);
    let zero = g.scalar_i64(0);
    let one = g.scalar_i64(1);
    let pos = g.op("Range", &[&zero, &s_len, &one]);
    let rope = layers::rope_tables(&mut g, cfg, &pos, false);
    let pad = layers::padding_mask(&mut g, "attention_mask");
    let mask = layers::additive(&mut g, &pad);
    for layer in &names.layers {
        let n = layers::rms_norm(&mut g, &h, &layer.self_attn.norm, cfg.norm_eps);
        let kv = KeyValues::Own { past: None };
        let (a, _) = layers::attention(&mut g, &ctx, &n, &layer.self_attn, kv, rope.as_ref(), &mask, None);
        h = g.op("Add", &[&h, &a]);
        let n = layers::rms_norm(&mut g, &h, &layer.ffn.norm, cfg.norm_eps);
        let f = layers::ffn(&mut g, cfg, &n, &layer.ffn);
        h = g.op("Add", &[&h, &f]);
    }
    let out = layers::rms_norm(&mut g, &h, &names.final_norm, cfg.norm_eps);
    g.identity_to(&out, "last_hidden_state");
    g.outputs.push(f32_value("last_hidden_state", vec![BATCH.into(), ENC_SEQ.into(), cfg.d_model.into()]));
    GraphSpec::new(g.into_proto("encoder"), weights::stack_tensors(cfg, &names))
}

/// Which decoder file to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderFile {
    /// `decoder_model.onnx`: no cache in, computes cross-attention keys/values.
    NoPast,
    /// `decoder_with_past_model.onnx`: caches in, returns only the decoder's own cache.
    WithPast,
    /// `decoder_model_merged.onnx`: both, chosen by `use_cache_branch`.
    Merged,
}

fn kv_dims(cfg: &Config, seq: &str) -> Vec<Dim> {
    vec![BATCH.into(), cfg.num_kv_heads.into(), seq.into(), cfg.head_dim().into()]
}

struct Shared<'a> {
    ctx: Ctx<'a>,
    names: StackNames,
    h0: String,
    rope: Option<Rope>,
    self_mask: String,
    cross_mask: String,
}

/// Where the decoder body's cross-attention keys/values come from.
#[derive(Clone, Copy)]
enum Cross {
    Compute,
    Cached,
}

/// The decoder layers, logits and caches, written into `g` with output names under `out_prefix`
/// (empty for the main graph, a branch prefix inside `If`). Returns the output names.
fn decoder_body(g: &mut Graph, sh: &Shared, with_past: bool, cross: Cross, out_prefix: &str) -> Vec<String> {
    let cfg = sh.ctx.cfg;
    let mut h = sh.h0.clone();
    let mut outs = vec![format!("{out_prefix}logits")];
    let mut enc_outs = vec![];
    for (i, layer) in sh.names.layers.iter().enumerate() {
        let (pk, pv) = (format!("past_key_values.{i}.decoder.key"), format!("past_key_values.{i}.decoder.value"));
        let (nk, nv) =
            (format!("{out_prefix}present.{i}.decoder.key"), format!("{out_prefix}present.{i}.decoder.value"));
        let n = layers::rms_norm(g, &h, &layer.self_attn.norm, cfg.norm_eps);
        let kv = KeyValues::Own { past: with_past.then_some((pk.as_str(), pv.as_str())) };
        let (a, _) =
            layers::attention(g, &sh.ctx, &n, &layer.self_attn, kv, sh.rope.as_ref(), &sh.self_mask, Some((&nk, &nv)));
        outs.push(nk);
        outs.push(nv);
        h = g.op("Add", &[&h, &a]);

        let cross_w = layer.cross_attn.as_ref().expect("decoder layers have cross-attention");
        let n = layers::rms_norm(g, &h, &cross_w.norm, cfg.norm_eps);
        let (ek, ev) = (format!("past_key_values.{i}.encoder.key"), format!("past_key_values.{i}.encoder.value"));
        let (enk, env) =
            (format!("{out_prefix}present.{i}.encoder.key"), format!("{out_prefix}present.{i}.encoder.value"));
        let a = match cross {
            Cross::Compute => {
                let kv = KeyValues::FromEncoder("encoder_hidden_states");
                let (a, _) = layers::attention(g, &sh.ctx, &n, cross_w, kv, None, &sh.cross_mask, Some((&enk, &env)));
                enc_outs.push(enk);
                enc_outs.push(env);
                a
            }
            Cross::Cached => {
                let kv = KeyValues::Cached(&ek, &ev);
                let (a, _) = layers::attention(g, &sh.ctx, &n, cross_w, kv, None, &sh.cross_mask, None);
                a
            }
        };
        h = g.op("Add", &[&h, &a]);
        let n = layers::rms_norm(g, &h, &layer.ffn.norm, cfg.norm_eps);
        let f = layers::ffn(g, cfg, &n, &layer.ffn);
        h = g.op("Add", &[&h, &f]);
    }
    let n = layers::rms_norm(g, &h, &sh.names.final_norm, cfg.norm_eps);
    layers::lm_head(g, cfg, &n, &sh.names.embedding, sh.names.lm_head.as_deref(), "input_ids", &outs[0]);
    // Keep Optimum's output order: logits, then per layer decoder key, value, encoder key, value.
    let mut ordered = vec![outs[0].clone()];
    for i in 0..sh.names.layers.len() {
        ordered.push(outs[1 + 2 * i].clone());
        ordered.push(outs[2 + 2 * i].clone());
        if !enc_outs.is_empty() {
            ordered.push(enc_outs[2 * i].clone());
            ordered.push(enc_outs[2 * i + 1].clone());
        }
    }
    ordered
}

pub fn decoder(cfg: &Config, file: DecoderFile, fault: Option<Fault>) -> GraphSpec {
    let names = weights::decoder_names(cfg);
    let n_layers = names.layers.len();
    let mut g = Graph::new("");
    g.inputs.push(i64_input("encoder_attention_mask", vec![BATCH.into(), ENC_SEQ.into()]));
    g.inputs.push(i64_input("input_ids", vec![BATCH.into(), DEC_SEQ.into()]));
    if file != DecoderFile::WithPast {
        g.inputs.push(f32_value("encoder_hidden_states", vec![BATCH.into(), ENC_SEQ.into(), cfg.d_model.into()]));
    }
    let has_past = file != DecoderFile::NoPast;
    if has_past {
        for i in 0..n_layers {
            for (part, seq) in [("decoder", PAST_DEC), ("encoder", ENC_SEQ)] {
                for kv in ["key", "value"] {
                    g.inputs.push(f32_value(&format!("past_key_values.{i}.{part}.{kv}"), kv_dims(cfg, seq)));
                }
            }
        }
    }
    if file == DecoderFile::Merged {
        g.inputs.push(ValueInfoProto::tensor("use_cache_branch", DataType::Bool, Some(vec![1usize.into()])));
    }

    // Embedding, positions and masks are the same in both branches: computed once, outside `If`.
    let h0 = g.op_attr("Gather", &[&names.embedding, "input_ids"], vec![("axis", Attr::Int(0))]);
    let s_len = g.dim("input_ids", 1);
    let past_len = if has_past { g.dim("past_key_values.0.decoder.key", 2) } else { g.scalar_i64(0) };
    let t_len = g.op("Add", &[&past_len, &s_len]);
    let one = g.scalar_i64(1);
    let pos = g.op("Range", &[&past_len, &t_len, &one]);
    let rope = layers::rope_tables(&mut g, cfg, &pos, false);
    let self_mask = if fault == Some(Fault::NoCausalMask) {
        layers::no_mask(&mut g)
    } else {
        let causal = layers::causal_mask(&mut g, &s_len, &t_len);
        layers::additive(&mut g, &causal)
    };
    let pad = layers::padding_mask(&mut g, "encoder_attention_mask");
    let cross_mask = layers::additive(&mut g, &pad);
    let sh = Shared { ctx: Ctx { cfg, fault }, names, h0, rope, self_mask, cross_mask };

    let logits_dims = vec![BATCH.into(), DEC_SEQ.into(), cfg.vocab_size.into()];
    match file {
        DecoderFile::NoPast | DecoderFile::WithPast => {
            let cross = if file == DecoderFile::NoPast { Cross::Compute } else { Cross::Cached };
            let outs = decoder_body(&mut g, &sh, has_past, cross, "");
            for name in outs {
                g.outputs.push(output_info(cfg, &name, &logits_dims, has_past));
            }
        }
        DecoderFile::Merged => {
            let mut then_g = Graph::new("cached/");
            let then_outs = decoder_body(&mut then_g, &sh, true, Cross::Cached, "cached/");
            // The cached branch hands back empty cross-attention caches, as Optimum's does: the
            // caller keeps those of the first step.
            let mut full_then = vec![];
            for (i, name) in then_outs.iter().enumerate() {
                full_then.push(name.clone());
                if i > 0 && i % 2 == 0 {
                    let layer = i / 2 - 1;
                    for kv in ["key", "value"] {
                        let src = format!("past_key_values.{layer}.encoder.{kv}");
                        let dst = format!("cached/present.{layer}.encoder.{kv}");
                        let empty = then_g.slice(&src, 2, 0, 0);
                        then_g.identity_to(&empty, &dst);
                        full_then.push(dst);
                    }
                }
            }
            let mut else_g = Graph::new("fresh/");
            let else_outs = decoder_body(&mut else_g, &sh, true, Cross::Compute, "fresh/");
            for n in &full_then {
                then_g.outputs.push(ValueInfoProto::tensor(n, DataType::Float, None));
            }
            for n in &else_outs {
                else_g.outputs.push(ValueInfoProto::tensor(n, DataType::Float, None));
            }
            let outer: Vec<String> = else_outs.iter().map(|n| n.trim_start_matches("fresh/").to_string()).collect();
            g.node_named(
                "If",
                &["use_cache_branch"],
                vec![
                    ("then_branch", Attr::Graph(then_g.into_proto("with_past"))),
                    ("else_branch", Attr::Graph(else_g.into_proto("no_past"))),
                ],
                "optimum::if",
                outer.clone(),
            );
            for name in outer {
                g.outputs.push(output_info(cfg, &name, &logits_dims, true));
            }
        }
    }
    let graph_name = match file {
        DecoderFile::NoPast => "decoder",
        DecoderFile::WithPast => "decoder_with_past",
        DecoderFile::Merged => "decoder_merged",
    };
    GraphSpec::new(g.into_proto(graph_name), weights::stack_tensors(cfg, &weights::decoder_names(cfg)))
}

fn output_info(cfg: &Config, name: &str, logits_dims: &[Dim], has_past: bool) -> ValueInfoProto {
    if name == "logits" {
        return f32_value(name, logits_dims.to_vec());
    }
    let seq = if name.contains(".encoder.") {
        ENC_SEQ
    } else if has_past {
        TOTAL_DEC
    } else {
        DEC_SEQ
    };
    f32_value(name, kv_dims(cfg, seq))
}
