//! Encoder-decoder graphs in Optimum's layout: `encoder_model.onnx`, and the decoder as
//! `decoder_model_merged.onnx` (an `If` on `use_cache_branch`) or the split pair
//! `decoder_model.onnx` + `decoder_with_past_model.onnx`.

use super::fused::{self, RopeCache, SeqLens};
use super::layers::{self, Ctx, KeyValues, Residual, Rope};
use super::{Fault, GraphSpec, GraphVariant};
use crate::config::Config;
use crate::onnx::builder::{Attr, Graph};
use crate::onnx::proto::{DataType, Dim, ValueInfoProto};
use crate::weights::{self, StackNames};

const BATCH: &str = "batch_size";
const ENC_SEQ: &str = "encoder_sequence_length";
const DEC_SEQ: &str = "decoder_sequence_length";
const PAST_DEC: &str = "past_decoder_sequence_length";
const TOTAL_DEC: &str = "past_decoder_sequence_length + decoder_sequence_length";
/// The fused decoders' self-attention mask `[B, past + S]`.
pub const DECODER_MASK: &str = "decoder_attention_mask";

fn i64_input(name: &str, dims: Vec<Dim>) -> ValueInfoProto {
    ValueInfoProto::tensor(name, DataType::Int64, Some(dims))
}

fn f32_value(name: &str, dims: Vec<Dim>) -> ValueInfoProto {
    ValueInfoProto::tensor(name, DataType::Float, Some(dims))
}

pub fn encoder(cfg: &Config, variant: GraphVariant, fault: Option<Fault>) -> GraphSpec {
    let g = encoder_graph(cfg, variant, fault, (BATCH.into(), ENC_SEQ.into()));
    GraphSpec::new(g.into_proto("encoder"), weights::stack_tensors(cfg, &weights::encoder_names(cfg)))
}

/// The encoder's graph with `batch` × `seq` inputs (symbolic, or fixed in a static-shape build).
pub(crate) fn encoder_graph(
    cfg: &Config,
    variant: GraphVariant,
    fault: Option<Fault>,
    (batch, seq): (Dim, Dim),
) -> Graph {
    let fused = variant == GraphVariant::Fused;
    let ctx = Ctx { cfg, fault, fused };
    let names = weights::encoder_names(cfg);
    let mut g = Graph::new("");
    g.inputs.push(i64_input("input_ids", vec![batch.clone(), seq.clone()]));
    g.inputs.push(i64_input("attention_mask", vec![batch.clone(), seq.clone()]));
    let h = g.op_attr("Gather", &[&names.embedding, "input_ids"], vec![("axis", Attr::Int(0))]);
    let s_len = g.dim("input_ids", 1);
    let zero = g.scalar_i64(0);
    let one = g.scalar_i64(1);
    let pos = g.op("Range", &[&zero, &s_len, &one]);
    /// What the encoder's self-attention reads besides its input.
    enum EncoderAttend {
        Plain(Option<Rope>, String),
        Fused(Option<(RopeCache, String)>, String),
    }
    let attend = if fused {
        // RotaryEmbedding takes `[B, S]` positions; MultiHeadAttention an int32 padding mask.
        let rope = fused::rope_cache(&mut g, cfg).map(|r| {
            let row = g.unsqueeze(&pos, &[0]);
            let shape = g.op("Shape", &["input_ids"]);
            let positions = g.op("Expand", &[&row, &shape]);
            (r, positions)
        });
        EncoderAttend::Fused(rope, g.cast("attention_mask", DataType::Int32))
    } else {
        let rope = layers::rope_tables(&mut g, cfg, &pos, false);
        let pad = layers::padding_mask(&mut g, "attention_mask");
        EncoderAttend::Plain(rope, layers::additive(&mut g, &pad))
    };
    let mut res = Residual::new(h);
    for layer in &names.layers {
        let n = res.norm(&mut g, &ctx, &layer.self_attn.norm);
        let a = match &attend {
            EncoderAttend::Plain(rope, mask) => {
                let kv = KeyValues::Own { past: None };
                layers::attention(&mut g, &ctx, &n, &layer.self_attn, kv, rope.as_ref(), mask, None).0
            }
            EncoderAttend::Fused(rope, key_mask) => {
                let rope = rope.as_ref().map(|(r, p)| (r, p.as_str()));
                fused::mha_self_attention(&mut g, &ctx, &n, &layer.self_attn, rope, key_mask)
            }
        };
        res.add(&mut g, &ctx, a);
        let n = res.norm(&mut g, &ctx, &layer.ffn.norm);
        let f = layers::ffn(&mut g, &ctx, &n, &layer.ffn);
        res.add(&mut g, &ctx, f);
    }
    let out = res.norm(&mut g, &ctx, &names.final_norm);
    g.identity_to(&out, "last_hidden_state");
    g.outputs.push(f32_value("last_hidden_state", vec![batch, seq, cfg.d_model.into()]));
    g
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

/// The cross-attention cache: `[B, kv_heads, L, D]`, or `[B, heads, L, D]` in a fused graph
/// (MultiHeadAttention takes a key head per query head).
fn cross_dims(cfg: &Config, fused: bool) -> Vec<Dim> {
    let heads = if fused { cfg.num_heads } else { cfg.num_kv_heads };
    vec![BATCH.into(), heads.into(), ENC_SEQ.into(), cfg.head_dim().into()]
}

struct Shared<'a> {
    ctx: Ctx<'a>,
    names: StackNames,
    h0: String,
    attend: Attend,
}

/// What the decoder's attention blocks read besides their input.
enum Attend {
    /// RoPE tables, the additive causal mask and the additive cross-attention padding mask.
    Plain { rope: Option<Rope>, self_mask: String, cross_mask: String },
    /// GroupQueryAttention's lengths and RoPE caches; MultiHeadAttention's int32 padding mask.
    Fused { lens: SeqLens, rope: Option<RopeCache>, cross_mask: String },
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
    let (ctx, cfg) = (&sh.ctx, sh.ctx.cfg);
    let mut res = Residual::new(sh.h0.clone());
    let mut outs = vec![format!("{out_prefix}logits")];
    let mut enc_outs = vec![];
    for (i, layer) in sh.names.layers.iter().enumerate() {
        let (pk, pv) = (format!("past_key_values.{i}.decoder.key"), format!("past_key_values.{i}.decoder.value"));
        let (nk, nv) =
            (format!("{out_prefix}present.{i}.decoder.key"), format!("{out_prefix}present.{i}.decoder.value"));
        let n = res.norm(g, ctx, &layer.self_attn.norm);
        let past = with_past.then_some((pk.as_str(), pv.as_str()));
        let a = match &sh.attend {
            Attend::Plain { rope, self_mask, .. } => {
                let kv = KeyValues::Own { past };
                layers::attention(g, ctx, &n, &layer.self_attn, kv, rope.as_ref(), self_mask, Some((&nk, &nv))).0
            }
            Attend::Fused { lens, rope, .. } => {
                fused::gqa_attention(g, ctx, &n, &layer.self_attn, past, lens, rope.as_ref(), (&nk, &nv))
            }
        };
        outs.push(nk);
        outs.push(nv);
        res.add(g, ctx, a);

        let cross_w = layer.cross_attn.as_ref().expect("decoder layers have cross-attention");
        let n = res.norm(g, ctx, &cross_w.norm);
        let (ek, ev) = (format!("past_key_values.{i}.encoder.key"), format!("past_key_values.{i}.encoder.value"));
        let (enk, env) =
            (format!("{out_prefix}present.{i}.encoder.key"), format!("{out_prefix}present.{i}.encoder.value"));
        let (kv, present) = match cross {
            Cross::Compute => {
                let present = Some((enk.as_str(), env.as_str()));
                (KeyValues::FromEncoder("encoder_hidden_states"), present)
            }
            Cross::Cached => (KeyValues::Cached(&ek, &ev), None),
        };
        let a = match &sh.attend {
            Attend::Plain { cross_mask, .. } => layers::attention(g, ctx, &n, cross_w, kv, None, cross_mask, present).0,
            Attend::Fused { cross_mask, .. } => {
                fused::mha_cross_attention(g, ctx, &n, cross_w, kv, cross_mask, present)
            }
        };
        if let Cross::Compute = cross {
            enc_outs.push(enk);
            enc_outs.push(env);
        }
        res.add(g, ctx, a);
        let n = res.norm(g, ctx, &layer.ffn.norm);
        let f = layers::ffn(g, ctx, &n, &layer.ffn);
        res.add(g, ctx, f);
    }
    let n = res.norm(g, ctx, &sh.names.final_norm);
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

pub fn decoder(cfg: &Config, file: DecoderFile, variant: GraphVariant, fault: Option<Fault>) -> GraphSpec {
    let fused = variant == GraphVariant::Fused;
    let names = weights::decoder_names(cfg);
    let mut tensors = weights::stack_tensors(cfg, &names);
    tensors.extend(weights::packed_qkv(cfg, &names)); // read by fused graphs only, dropped otherwise
    let n_layers = names.layers.len();
    let mut g = Graph::new("");
    g.inputs.push(i64_input("encoder_attention_mask", vec![BATCH.into(), ENC_SEQ.into()]));
    g.inputs.push(i64_input("input_ids", vec![BATCH.into(), DEC_SEQ.into()]));
    if fused {
        // GroupQueryAttention's lengths come from this mask (all ones: the decoder has no padding),
        // as the decoder-only graph's come from its `attention_mask`, so both caches can be one
        // fixed-size buffer shared by past and present.
        g.inputs.push(i64_input(DECODER_MASK, vec![BATCH.into(), TOTAL_DEC.into()]));
    }
    if file != DecoderFile::WithPast {
        g.inputs.push(f32_value("encoder_hidden_states", vec![BATCH.into(), ENC_SEQ.into(), cfg.d_model.into()]));
    }
    let has_past = file != DecoderFile::NoPast;
    if has_past {
        for i in 0..n_layers {
            for (part, dims) in [("decoder", kv_dims(cfg, PAST_DEC)), ("encoder", cross_dims(cfg, fused))] {
                for kv in ["key", "value"] {
                    g.inputs.push(f32_value(&format!("past_key_values.{i}.{part}.{kv}"), dims.clone()));
                }
            }
        }
    }
    if file == DecoderFile::Merged {
        g.inputs.push(ValueInfoProto::tensor("use_cache_branch", DataType::Bool, Some(vec![1usize.into()])));
    }

    // Embedding, positions and masks are the same in both branches: computed once, outside `If`.
    let h0 = g.op_attr("Gather", &[&names.embedding, "input_ids"], vec![("axis", Attr::Int(0))]);
    let attend = if fused {
        let cross_mask = g.cast("encoder_attention_mask", DataType::Int32);
        Attend::Fused {
            lens: SeqLens::from_mask(&mut g, DECODER_MASK),
            rope: fused::rope_cache(&mut g, cfg),
            cross_mask,
        }
    } else {
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
        Attend::Plain { rope, self_mask, cross_mask: layers::additive(&mut g, &pad) }
    };
    let sh = Shared { ctx: Ctx { cfg, fault, fused }, names, h0, attend };

    let logits_dims = vec![BATCH.into(), DEC_SEQ.into(), cfg.vocab_size.into()];
    match file {
        DecoderFile::NoPast | DecoderFile::WithPast => {
            let cross = if file == DecoderFile::NoPast { Cross::Compute } else { Cross::Cached };
            let outs = decoder_body(&mut g, &sh, has_past, cross, "");
            for name in outs {
                g.outputs.push(output_info(cfg, &name, &logits_dims, has_past, fused));
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
                g.outputs.push(output_info(cfg, &name, &logits_dims, true, fused));
            }
        }
    }
    let graph_name = match file {
        DecoderFile::NoPast => "decoder",
        DecoderFile::WithPast => "decoder_with_past",
        DecoderFile::Merged => "decoder_merged",
    };
    GraphSpec::new(g.into_proto(graph_name), tensors)
}

fn output_info(cfg: &Config, name: &str, logits_dims: &[Dim], has_past: bool, fused: bool) -> ValueInfoProto {
    if name == "logits" {
        return f32_value(name, logits_dims.to_vec());
    }
    if name.contains(".encoder.") {
        return f32_value(name, cross_dims(cfg, fused));
    }
    let seq = if has_past { TOTAL_DEC } else { DEC_SEQ };
    f32_value(name, kv_dims(cfg, seq))
}
