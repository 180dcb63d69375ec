//! Static-shape graphs, for accelerators that compile only fixed dimensions (QNN's HTP, NNAPI):
//! every input and output has fixed sizes. The KV cache is a fixed buffer of `max_context`
//! positions per layer that each step writes its keys and values into at their positions
//! (`ScatterElements`), as onnxruntime-genai's static models and Qualcomm's LLM pipelines keep
//! it; attention reads all positions and a mask hides those not yet written.
//!
//! - Decoder-only: [`PREFILL`] takes the prompt in chunks of `prefill_chunk` tokens (the last one
//!   padded), [`DECODE`] one token a step; both write the same cache.
//! - Encoder-decoder: [`ENCODER`] takes the prompt padded to `max_context` tokens and also returns
//!   each decoder layer's cross-attention keys and values (computed once, as in every other
//!   build); [`DECODER`] takes one token a step.

use serde::{Deserialize, Serialize};

use super::layers::{self, Ctx, KeyValues, Residual};
use super::{Fault, GraphSpec, GraphVariant};
use crate::config::Config;
use crate::onnx::builder::{Attr, Graph};
use crate::onnx::proto::{DataType, Dim, ValueInfoProto};
use crate::weights;

/// The fixed dimensions of a static-shape build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticShapes {
    /// Rows of every input.
    pub batch: usize,
    /// Positions of every cache buffer: the longest prompt plus new tokens a generation can
    /// hold (and the encoder's fixed input length).
    pub max_context: usize,
    /// Prompt tokens per prefill step of a decoder-only model.
    pub prefill_chunk: usize,
}

impl StaticShapes {
    /// Refuses sizes no graph can have, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch == 0 || self.max_context == 0 || self.prefill_chunk == 0 {
            return Err("--static-batch, --max-context and --prefill-chunk must each be at least 1".into());
        }
        if self.prefill_chunk > self.max_context {
            return Err(format!(
                "--prefill-chunk {} is longer than --max-context {}",
                self.prefill_chunk, self.max_context
            ));
        }
        Ok(())
    }
}

/// File names of a static build.
pub const PREFILL: &str = "static_prefill.onnx";
pub const DECODE: &str = "static_decode.onnx";
pub const ENCODER: &str = "static_encoder.onnx";
pub const DECODER: &str = "static_decoder.onnx";

fn tensor(name: &str, ty: DataType, dims: &[usize]) -> ValueInfoProto {
    ValueInfoProto::tensor(name, ty, Some(dims.iter().map(|&d| Dim::from(d)).collect()))
}

/// The self-attention mask's name: Optimum's `attention_mask` for a decoder-only model, the
/// fused decoders' `decoder_attention_mask` for an encoder-decoder (whose `attention_mask` is
/// the encoder's), so the harness reads both with the one input plan.
fn mask_name(cfg: &Config) -> &'static str {
    if cfg.is_encoder_decoder() { super::encdec::DECODER_MASK } else { "attention_mask" }
}

/// The self-attention inputs every static decoder step takes: `input_ids`, `position_ids`
/// (`[B, L]`), the mask (`[B, M]`, 1 where a position holds a token once this step has written
/// its own; [`mask_name`]), the cache `past_key_values.{i}.{key,value}` (named by `past`).
fn step_inputs(g: &mut Graph, cfg: &Config, s: StaticShapes, len: usize, past: &dyn Fn(usize, &str) -> String) {
    let (b, m) = (s.batch, s.max_context);
    g.inputs.push(tensor("input_ids", DataType::Int64, &[b, len]));
    g.inputs.push(tensor("position_ids", DataType::Int64, &[b, len]));
    g.inputs.push(tensor(mask_name(cfg), DataType::Int64, &[b, m]));
    for i in 0..cfg.decoder_layers {
        for kv in ["key", "value"] {
            g.inputs.push(tensor(&past(i, kv), DataType::Float, &[b, cfg.num_kv_heads, m, cfg.head_dim()]));
        }
    }
}

/// The additive self-attention mask `[B, 1, 1, L, M]`: query j sees key k when
/// k ≤ position_ids[j] and the mask's k is 1.
fn self_mask(g: &mut Graph, cfg: &Config, s: StaticShapes, fault: Option<Fault>) -> String {
    let pad = g.cast(mask_name(cfg), DataType::Bool);
    let pad = g.unsqueeze(&pad, &[1]);
    let allowed = if fault == Some(Fault::NoCausalMask) {
        pad
    } else {
        let (zero, one) = (g.scalar_i64(0), g.scalar_i64(1));
        let m = g.scalar_i64(s.max_context as i64);
        let keys = g.op("Range", &[&zero, &m, &one]);
        let queries = g.unsqueeze("position_ids", &[-1]);
        let causal = g.op("LessOrEqual", &[&keys, &queries]);
        g.op("And", &[&causal, &pad])
    };
    let allowed = g.unsqueeze(&allowed, &[1, 2]);
    layers::additive(g, &allowed)
}

/// Where a step's keys and values go: its position ids `[B, L]` as `[B, kv, L, D]` indices.
fn write_index(g: &mut Graph, cfg: &Config, s: StaticShapes, len: usize) -> String {
    let at = g.unsqueeze("position_ids", &[1, 3]);
    let shape = g.const_i64(&[s.batch as i64, cfg.num_kv_heads as i64, len as i64, cfg.head_dim() as i64]);
    g.op("Expand", &[&at, &shape])
}

/// What every self-attention block of a static step reads: RoPE tables, the mask, the write
/// index, and the cache's shape.
struct Step {
    rope: Option<layers::Rope>,
    mask: String,
    at: String,
    cache: [usize; 4],
}

impl Step {
    fn new(g: &mut Graph, cfg: &Config, s: StaticShapes, len: usize, fault: Option<Fault>) -> Step {
        Step {
            rope: layers::rope_tables(g, cfg, "position_ids", true),
            mask: self_mask(g, cfg, s, fault),
            at: write_index(g, cfg, s, len),
            cache: [s.batch, cfg.num_kv_heads, s.max_context, cfg.head_dim()],
        }
    }

    /// A layer's self-attention over its fixed cache (`[past key, past value, present key,
    /// present value]` names), added to the stream; its present outputs declared.
    fn self_attention(
        &self,
        g: &mut Graph,
        ctx: &Ctx,
        res: &mut Residual,
        w: &crate::weights::AttnNames,
        [pk, pv, nk, nv]: [String; 4],
        outputs: &mut Vec<ValueInfoProto>,
    ) {
        let n = res.norm(g, ctx, &w.norm);
        let kv = KeyValues::Written { past: (&pk, &pv), at: &self.at };
        let a = layers::attention(g, ctx, &n, w, kv, self.rope.as_ref(), &self.mask, Some((&nk, &nv))).0;
        res.add(g, ctx, a);
        outputs.push(tensor(&nk, DataType::Float, &self.cache));
        outputs.push(tensor(&nv, DataType::Float, &self.cache));
    }
}

/// A decoder-only step over `len` tokens ([`PREFILL`] with `prefill_chunk`, [`DECODE`] with 1).
pub fn decoder_only(cfg: &Config, s: StaticShapes, len: usize, fault: Option<Fault>) -> GraphSpec {
    let ctx = Ctx { cfg, fault, fused: false };
    let names = weights::decoder_only_names(cfg);
    let mut g = Graph::new("");
    step_inputs(&mut g, cfg, s, len, &|i, kv| format!("past_key_values.{i}.{kv}"));
    let h = g.op_attr("Gather", &[&names.embedding, "input_ids"], vec![("axis", Attr::Int(0))]);
    let step = Step::new(&mut g, cfg, s, len, fault);
    let mut outputs = vec![tensor("logits", DataType::Float, &[s.batch, len, cfg.vocab_size])];
    let mut res = Residual::new(h);
    for (i, layer) in names.layers.iter().enumerate() {
        let io = [
            format!("past_key_values.{i}.key"),
            format!("past_key_values.{i}.value"),
            format!("present.{i}.key"),
            format!("present.{i}.value"),
        ];
        step.self_attention(&mut g, &ctx, &mut res, &layer.self_attn, io, &mut outputs);
        ffn(&mut g, &ctx, &mut res, &layer.ffn);
    }
    finish(g, &ctx, res, &names, outputs, "decoder_only_static")
}

/// A layer's FFN block, added to the stream.
fn ffn(g: &mut Graph, ctx: &Ctx, res: &mut Residual, w: &crate::weights::FfnNames) {
    let n = res.norm(g, ctx, &w.norm);
    let f = layers::ffn(g, ctx, &n, w);
    res.add(g, ctx, f);
}

/// The final norm, the logits, the declared outputs, and the graph with the weights it reads.
fn finish(
    mut g: Graph,
    ctx: &Ctx,
    mut res: Residual,
    names: &crate::weights::StackNames,
    outputs: Vec<ValueInfoProto>,
    graph_name: &str,
) -> GraphSpec {
    let n = res.norm(&mut g, ctx, &names.final_norm);
    layers::lm_head(&mut g, ctx.cfg, &n, &names.embedding, names.lm_head.as_deref(), "input_ids", "logits");
    g.outputs = outputs;
    GraphSpec::new(g.into_proto(graph_name), weights::stack_tensors(ctx.cfg, names))
}

/// The encoder over `max_context` positions (the prompt padded; `attention_mask` marks the
/// real tokens), returning each decoder layer's cross-attention keys and values
/// `present.{i}.encoder.{key,value}` `[B, kv, M, D]` beside `last_hidden_state`.
pub fn encoder(cfg: &Config, s: StaticShapes, fault: Option<Fault>) -> GraphSpec {
    let mut g = super::encdec::encoder_graph(cfg, GraphVariant::Plain, fault, (s.batch.into(), s.max_context.into()));
    let dec = weights::decoder_names(cfg);
    let (kvh, hd) = (cfg.num_kv_heads as i64, cfg.head_dim() as i64);
    for (i, layer) in dec.layers.iter().enumerate() {
        let w = layer.cross_attn.as_ref().expect("decoder layers have cross-attention");
        for (kv, weight) in [("key", &w.k), ("value", &w.v)] {
            let p = layers::linear(&mut g, "last_hidden_state", weight);
            let p = g.reshape(&p, &[0, 0, kvh, hd]);
            let name = format!("present.{i}.encoder.{kv}");
            g.op_named("Transpose", &[&p], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))], &name);
            let dims = [s.batch, cfg.num_kv_heads, s.max_context, cfg.head_dim()];
            g.outputs.push(tensor(&name, DataType::Float, &dims));
        }
    }
    let mut tensors = weights::stack_tensors(cfg, &weights::encoder_names(cfg));
    tensors.extend(weights::stack_tensors(cfg, &dec)); // only the cross-attention projections are read
    GraphSpec::new(g.into_proto("encoder_static"), tensors)
}

/// One encoder-decoder decoder step: the token at `position_ids`, its self-attention cache
/// written in place, cross-attention over the encoder's cached keys and values
/// (`past_key_values.{i}.encoder.*`, masked by `encoder_attention_mask` `[B, M]`).
pub fn decoder(cfg: &Config, s: StaticShapes, fault: Option<Fault>) -> GraphSpec {
    let ctx = Ctx { cfg, fault, fused: false };
    let names = weights::decoder_names(cfg);
    let (b, m) = (s.batch, s.max_context);
    let cache = [b, cfg.num_kv_heads, m, cfg.head_dim()];
    let mut g = Graph::new("");
    step_inputs(&mut g, cfg, s, 1, &|i, kv| format!("past_key_values.{i}.decoder.{kv}"));
    g.inputs.push(tensor("encoder_attention_mask", DataType::Int64, &[b, m]));
    for i in 0..cfg.decoder_layers {
        for kv in ["key", "value"] {
            g.inputs.push(tensor(&format!("past_key_values.{i}.encoder.{kv}"), DataType::Float, &cache));
        }
    }
    let h = g.op_attr("Gather", &[&names.embedding, "input_ids"], vec![("axis", Attr::Int(0))]);
    let step = Step::new(&mut g, cfg, s, 1, fault);
    let pad = layers::padding_mask(&mut g, "encoder_attention_mask");
    let cross_mask = layers::additive(&mut g, &pad);
    let mut outputs = vec![tensor("logits", DataType::Float, &[b, 1, cfg.vocab_size])];
    let mut res = Residual::new(h);
    for (i, layer) in names.layers.iter().enumerate() {
        let io = ["key", "value"].map(|kv| format!("past_key_values.{i}.decoder.{kv}"));
        let io =
            [io[0].clone(), io[1].clone(), format!("present.{i}.decoder.key"), format!("present.{i}.decoder.value")];
        step.self_attention(&mut g, &ctx, &mut res, &layer.self_attn, io, &mut outputs);
        let cross_w = layer.cross_attn.as_ref().expect("decoder layers have cross-attention");
        let n = res.norm(&mut g, &ctx, &cross_w.norm);
        let (ek, ev) = (format!("past_key_values.{i}.encoder.key"), format!("past_key_values.{i}.encoder.value"));
        let a = layers::attention(&mut g, &ctx, &n, cross_w, KeyValues::Cached(&ek, &ev), None, &cross_mask, None).0;
        res.add(&mut g, &ctx, a);
        ffn(&mut g, &ctx, &mut res, &layer.ffn);
    }
    finish(g, &ctx, res, &names, outputs, "decoder_static")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::DimValue;

    /// Every input and output of every static graph has fixed dimensions.
    #[test]
    fn every_dimension_is_fixed() {
        let pair = crate::presets::Pair::preset("tiny").unwrap();
        let s = StaticShapes { batch: 2, max_context: 48, prefill_chunk: 16 };
        let graphs = [
            decoder_only(&pair.decoder_only, s, s.prefill_chunk, None),
            decoder_only(&pair.decoder_only, s, 1, None),
            encoder(&pair.encoder_decoder, s, None),
            decoder(&pair.encoder_decoder, s, None),
        ];
        for spec in graphs {
            let g = &spec.graph;
            assert!(!g.input.is_empty() && !g.output.is_empty());
            for v in g.input.iter().chain(&g.output) {
                let shape = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).and_then(|t| t.shape.as_ref());
                let dims = &shape.unwrap_or_else(|| panic!("{}: {} has no shape", g.name, v.name)).dim;
                assert!(!dims.is_empty(), "{}: {}", g.name, v.name);
                for d in dims {
                    assert!(
                        matches!(d.value, Some(DimValue::Value(n)) if n > 0),
                        "{}: {} has {:?}",
                        g.name,
                        v.name,
                        dims
                    );
                }
            }
        }
    }
}
