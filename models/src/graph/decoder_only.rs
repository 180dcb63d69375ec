//! Decoder-only graph in Optimum's current layout: one `model.onnx` with `attention_mask`,
//! `position_ids` (when the model has positions), `past_key_values.{i}.key/value` and
//! `present.{i}.key/value`.

use super::layers::{self, Ctx, KeyValues};
use super::{Fault, GraphSpec};
use crate::config::Config;
use crate::onnx::builder::{Attr, Graph};
use crate::onnx::proto::{DataType, Dim, ValueInfoProto};
use crate::weights;

const BATCH: &str = "batch_size";
const SEQ: &str = "sequence_length";
const PAST: &str = "past_sequence_length";
const TOTAL: &str = "past_sequence_length + sequence_length";

pub fn model(cfg: &Config, fault: Option<Fault>) -> GraphSpec {
    let ctx = Ctx { cfg, fault };
    let names = weights::decoder_only_names(cfg);
    let kv_dims =
        |seq: &str| -> Vec<Dim> { vec![BATCH.into(), cfg.num_kv_heads.into(), seq.into(), cfg.head_dim().into()] };
    let mut g = Graph::new("");
    g.inputs.push(ValueInfoProto::tensor("input_ids", DataType::Int64, Some(vec![BATCH.into(), SEQ.into()])));
    g.inputs.push(ValueInfoProto::tensor("attention_mask", DataType::Int64, Some(vec![BATCH.into(), TOTAL.into()])));
    let has_positions = cfg.rope_theta().is_some();
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

    let mut h = g.op_attr("Gather", &[&names.embedding, "input_ids"], vec![("axis", Attr::Int(0))]);
    let rope = if has_positions { layers::rope_tables(&mut g, cfg, "position_ids", true) } else { None };
    let s_len = g.dim("input_ids", 1);
    let t_len = g.dim("attention_mask", 1);
    let mask = if fault == Some(Fault::NoCausalMask) {
        let pad = layers::padding_mask(&mut g, "attention_mask");
        layers::additive(&mut g, &pad)
    } else {
        let causal = layers::causal_mask(&mut g, &s_len, &t_len);
        let pad = layers::padding_mask(&mut g, "attention_mask");
        let both = g.op("And", &[&causal, &pad]);
        layers::additive(&mut g, &both)
    };
    let mut outputs = vec![ValueInfoProto::tensor(
        "logits",
        DataType::Float,
        Some(vec![BATCH.into(), SEQ.into(), cfg.vocab_size.into()]),
    )];
    for (i, layer) in names.layers.iter().enumerate() {
        let (pk, pv) = (format!("past_key_values.{i}.key"), format!("past_key_values.{i}.value"));
        let (nk, nv) = (format!("present.{i}.key"), format!("present.{i}.value"));
        let n = layers::rms_norm(&mut g, &h, &layer.self_attn.norm, cfg.norm_eps);
        let kv = KeyValues::Own { past: Some((&pk, &pv)) };
        let (a, _) = layers::attention(&mut g, &ctx, &n, &layer.self_attn, kv, rope.as_ref(), &mask, Some((&nk, &nv)));
        h = g.op("Add", &[&h, &a]);
        let n = layers::rms_norm(&mut g, &h, &layer.ffn.norm, cfg.norm_eps);
        let f = layers::ffn(&mut g, cfg, &n, &layer.ffn);
        h = g.op("Add", &[&h, &f]);
        outputs.push(ValueInfoProto::tensor(&nk, DataType::Float, Some(kv_dims(TOTAL))));
        outputs.push(ValueInfoProto::tensor(&nv, DataType::Float, Some(kv_dims(TOTAL))));
    }
    let n = layers::rms_norm(&mut g, &h, &names.final_norm, cfg.norm_eps);
    layers::lm_head(&mut g, cfg, &n, &names.embedding, names.lm_head.as_deref(), "input_ids", "logits");
    g.outputs = outputs;
    GraphSpec::new(g.into_proto("decoder_only"), weights::stack_tensors(cfg, &names))
}
