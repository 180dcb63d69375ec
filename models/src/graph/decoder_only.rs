//! Decoder-only graph in Optimum's current layout: one `model.onnx` with `attention_mask`,
//! `position_ids` (when the model has positions), `past_key_values.{i}.key/value` and
//! `present.{i}.key/value`.

use super::fused::{self, SeqLens};
use super::layers::{self, Ctx, KeyValues, Residual};
use super::{Fault, GraphSpec, GraphVariant};
use crate::config::Config;
use crate::onnx::builder::{Attr, Graph};
use crate::onnx::proto::{DataType, Dim, ValueInfoProto};
use crate::weights;

const BATCH: &str = "batch_size";
const SEQ: &str = "sequence_length";
const PAST: &str = "past_sequence_length";
const TOTAL: &str = "past_sequence_length + sequence_length";

pub fn model(cfg: &Config, variant: GraphVariant, fault: Option<Fault>) -> GraphSpec {
    let fused = variant == GraphVariant::Fused;
    let ctx = Ctx { cfg, fault, fused };
    let names = weights::decoder_only_names(cfg);
    let kv_dims =
        |seq: &str| -> Vec<Dim> { vec![BATCH.into(), cfg.num_kv_heads.into(), seq.into(), cfg.head_dim().into()] };
    let mut g = Graph::new("");
    g.inputs.push(ValueInfoProto::tensor("input_ids", DataType::Int64, Some(vec![BATCH.into(), SEQ.into()])));
    g.inputs.push(ValueInfoProto::tensor("attention_mask", DataType::Int64, Some(vec![BATCH.into(), TOTAL.into()])));
    // The fused graph's GroupQueryAttention places RoPE from the sequence lengths, as
    // onnxruntime-genai's builder graphs do: it takes no position ids.
    let has_positions = cfg.rope_theta().is_some() && !fused;
    if has_positions {
        g.inputs.push(ValueInfoProto::tensor("position_ids", DataType::Int64, Some(vec![BATCH.into(), SEQ.into()])));
    }
    for i in 0..names.layers.len() {
        for kv in ["key", "value"] {
            g.inputs.push(ValueInfoProto::tensor(
                &format!("past_key_values.{i}.{kv}"),
                DataType::Float,
                Some(kv_dims(PAST)),
            ));
        }
    }

    let h = g.op_attr("Gather", &[&names.embedding, "input_ids"], vec![("axis", Attr::Int(0))]);
    let attend =
        if fused { Attend::Fused(fused_inputs(&mut g, cfg)) } else { Attend::Plain(plain_inputs(&mut g, &ctx)) };
    let mut outputs = vec![ValueInfoProto::tensor(
        "logits",
        DataType::Float,
        Some(vec![BATCH.into(), SEQ.into(), cfg.vocab_size.into()]),
    )];
    let mut res = Residual::new(h);
    for (i, layer) in names.layers.iter().enumerate() {
        let (pk, pv) = (format!("past_key_values.{i}.key"), format!("past_key_values.{i}.value"));
        let (nk, nv) = (format!("present.{i}.key"), format!("present.{i}.value"));
        let n = res.norm(&mut g, &ctx, &layer.self_attn.norm);
        let a = match &attend {
            Attend::Plain((rope, mask)) => {
                let kv = KeyValues::Own { past: Some((&pk, &pv)) };
                layers::attention(&mut g, &ctx, &n, &layer.self_attn, kv, rope.as_ref(), mask, Some((&nk, &nv))).0
            }
            Attend::Fused((lens, rope)) => {
                let past = Some((pk.as_str(), pv.as_str()));
                fused::gqa_attention(&mut g, &ctx, &n, &layer.self_attn, past, lens, rope.as_ref(), (&nk, &nv))
            }
        };
        res.add(&mut g, &ctx, a);
        let n = res.norm(&mut g, &ctx, &layer.ffn.norm);
        let f = layers::ffn(&mut g, &ctx, &n, &layer.ffn);
        res.add(&mut g, &ctx, f);
        outputs.push(ValueInfoProto::tensor(&nk, DataType::Float, Some(kv_dims(TOTAL))));
        outputs.push(ValueInfoProto::tensor(&nv, DataType::Float, Some(kv_dims(TOTAL))));
    }
    let n = res.norm(&mut g, &ctx, &names.final_norm);
    layers::lm_head(&mut g, cfg, &n, &names.embedding, names.lm_head.as_deref(), "input_ids", "logits");
    g.outputs = outputs;
    let mut tensors = weights::stack_tensors(cfg, &names);
    tensors.extend(weights::packed_qkv(cfg, &names)); // read by fused graphs only, dropped otherwise
    GraphSpec::new(g.into_proto("decoder_only"), tensors)
}

/// What every layer's attention reads besides its input.
enum Attend {
    /// RoPE tables and the additive causal + padding mask.
    Plain((Option<layers::Rope>, String)),
    /// GroupQueryAttention's sequence lengths and RoPE caches.
    Fused((SeqLens, Option<fused::RopeCache>)),
}

fn plain_inputs(g: &mut Graph, ctx: &Ctx) -> (Option<layers::Rope>, String) {
    let cfg = ctx.cfg;
    let rope = if cfg.rope_theta().is_some() { layers::rope_tables(g, cfg, "position_ids", true) } else { None };
    let s_len = g.dim("input_ids", 1);
    let t_len = g.dim("attention_mask", 1);
    let mask = if ctx.fault == Some(Fault::NoCausalMask) {
        let pad = layers::padding_mask(g, "attention_mask");
        layers::additive(g, &pad)
    } else {
        let causal = layers::causal_mask(g, &s_len, &t_len);
        let pad = layers::padding_mask(g, "attention_mask");
        let both = g.op("And", &[&causal, &pad]);
        layers::additive(g, &both)
    };
    (rope, mask)
}

fn fused_inputs(g: &mut Graph, cfg: &Config) -> (SeqLens, Option<fused::RopeCache>) {
    (SeqLens::from_mask(g, "attention_mask"), fused::rope_cache(g, cfg))
}
