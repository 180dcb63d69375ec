//! QDQ quantization of a built graph, the format QNN's HTP and NNAPI accept (and what ONNX
//! Runtime's `quantize_static` writes): every linear layer (the `MatMul`s against a linear weight
//! and the tied output projection) reads its weight through `DequantizeLinear` of int8 codes,
//! symmetric per output channel, and its activation input through a `QuantizeLinear` →
//! `DequantizeLinear` pair at one uint8 or uint16 scale per tensor; its output gets a pair too, so
//! a runtime can fuse `DQ → MatMul → Q` into an integer kernel (in w8a8 the logits stay float: a
//! uint8 logit cannot keep the top-1 ranking). The tied projection is a `MatMul` against an int8
//! `[d, V]` copy of the table, like every other layer. The scales come from
//! calibration: the activation ranges seen by the fp32 build on seeded prompts
//! ([`calibration_outputs`] names what to observe; the harness runs it).
//!
//! What stays float: norms, RoPE, attention scores and softmax, and the residual stream. QNN's
//! HTP runs those in fp16 (its default for float operators): its compiler takes a static w8a16
//! build whole (guide, docs/src/providers.md, *Running on a GPU or an NPU*). w8a8 uses standard operators only (NNAPI
//! takes no 16-bit types).
//!
//! uint16 activations use the `com.microsoft` `QuantizeLinear`/`DequantizeLinear` (the standard
//! ones take 16-bit types only from opset 21; ONNX Runtime's tools do the same below it).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::graph::GraphSpec;
use crate::onnx::proto::{AttributeProto, AttributeType, DataType, GraphProto, NodeProto, TensorProto, ValueInfoProto};
use crate::quant::{Part, PartKind, int_attr, linear_weight};
use crate::weights::TensorSpec;

/// Graph outputs a calibration build adds: `calibration/in/<weight>` and `calibration/out/<weight>`.
pub const CALIBRATION_PREFIX: &str = "calibration/";

/// The range of values one activation took during calibration (always holding 0, so that zero
/// is exact, as ONNX Runtime's calibrators do).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

impl Range {
    pub const EMPTY: Range = Range { min: 0.0, max: 0.0 };

    /// Widens the range to hold `values`.
    pub fn observe(&mut self, values: &[f32]) {
        for &v in values.iter().filter(|v| v.is_finite()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// Asymmetric unsigned quantization over the range: (scale, zero point).
    pub fn scale_zero(&self, bits: u8) -> (f32, u16) {
        let qmax = ((1u32 << bits) - 1) as f32;
        let (lo, hi) = (self.min.min(0.0), self.max.max(0.0));
        let scale = if hi > lo { (hi - lo) / qmax } else { 1.0 };
        (scale, (-lo / scale).round().clamp(0.0, qmax) as u16)
    }
}

/// The calibrated ranges of one linear layer: its activation input and its output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearRanges {
    pub input: Range,
    pub output: Range,
}

/// How the ranges were found: MinMax over `prompts` seeded synthetic prompts of `tokens` tokens,
/// one teacher-forced pass each through the fp32 plain build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub method: String,
    pub prompts: usize,
    pub tokens: usize,
    /// The first prompt's seed (the others follow it); distinct from the drift measurement's.
    pub seed: u64,
}

impl Default for Calibration {
    fn default() -> Calibration {
        Calibration { method: "minmax".into(), prompts: 8, tokens: 64, seed: 1000 }
    }
}

/// How to write a QDQ build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QdqOptions {
    /// 8 (uint8) or 16 (uint16).
    pub activation_bits: u8,
    /// `int8 symmetric per output channel`: what the manifest says of the weights.
    pub weights: String,
    pub calibration: Calibration,
    /// Keyed by weight name (Hugging Face names, distinct between the two families of a pair);
    /// written to `calibration.json`, not the manifest.
    #[serde(skip)]
    pub ranges: BTreeMap<String, LinearRanges>,
}

impl QdqOptions {
    /// Options still to be calibrated.
    pub fn uncalibrated(activation_bits: u8) -> QdqOptions {
        QdqOptions {
            activation_bits,
            weights: "int8 symmetric per output channel".into(),
            calibration: Calibration::default(),
            ranges: BTreeMap::new(),
        }
    }
}

/// Adds a graph output for each linear layer's input and output (see [`CALIBRATION_PREFIX`]).
/// Top-level nodes only: a calibration build is written without `If` subgraphs.
pub fn calibration_outputs(spec: GraphSpec) -> GraphSpec {
    let GraphSpec { mut graph, tensors } = spec;
    let by_name: HashMap<&str, &TensorSpec> = tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut extra = vec![];
    for node in &graph.node {
        let Some((w, _)) = linear_weight(node, &by_name) else { continue };
        for (side, tensor) in [("in", &node.input[0]), ("out", &node.output[0])] {
            let name = format!("{CALIBRATION_PREFIX}{side}/{}", w.name);
            extra.push(node_of("Identity", "", vec![tensor.clone()], &name, vec![]));
            graph.output.push(ValueInfoProto::tensor(&name, DataType::Float, None));
        }
    }
    graph.node.extend(extra);
    GraphSpec::new(graph, tensors)
}

/// Rewrites `spec` in QDQ form (see the module comment). Err names a linear weight without a
/// calibrated range.
pub fn quantize(spec: GraphSpec, q: &QdqOptions) -> Result<GraphSpec, String> {
    let GraphSpec { mut graph, tensors } = spec;
    let by_name: HashMap<&str, &TensorSpec> = tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut used: BTreeSet<String> = BTreeSet::new();
    rewrite(&mut graph, &by_name, q, &mut used)?;
    let mut out = tensors.clone();
    for source in used {
        let t = by_name[source.as_str()];
        for (name, kind) in
            [(codes_name(&source), PartKind::ChannelCodes), (scale_name(&source), PartKind::ChannelScales)]
        {
            out.push(TensorSpec {
                name,
                shape: t.shape.clone(),
                init: t.init,
                quant: Some(Part { source: source.clone(), bits: 8, block_size: t.shape[1], kind }),
                storage: crate::weights::Storage::F32,
                pack: t.pack.clone(),
            });
        }
    }
    Ok(GraphSpec::new(graph, out))
}

/// `NAME_quantized` and `NAME_scale`, as ONNX Runtime's quantizer names them.
fn codes_name(source: &str) -> String {
    format!("{source}_quantized")
}

fn scale_name(source: &str) -> String {
    format!("{source}_scale")
}

/// `used`: each weight rewritten.
fn rewrite(
    g: &mut GraphProto,
    tensors: &HashMap<&str, &TensorSpec>,
    q: &QdqOptions,
    used: &mut BTreeSet<String>,
) -> Result<(), String> {
    let mut nodes = Vec::with_capacity(g.node.len() * 2);
    // One Q/DQ pair per activation, however many layers read it (q, k and v share their input).
    let mut dequantized: HashMap<String, String> = HashMap::new();
    for mut node in std::mem::take(&mut g.node) {
        for a in &mut node.attribute {
            if let Some(sub) = a.g.as_mut() {
                rewrite(sub, tensors, q, used)?;
            }
        }
        let Some((w, gemm)) = linear_weight(&node, tensors) else {
            nodes.push(node);
            continue;
        };
        let r = q.ranges.get(&w.name).ok_or_else(|| {
            format!("no calibrated range for `{}`: QDQ builds are calibrated first (slmbench models build)", w.name)
        })?;
        let y = node.output[0].clone();
        let x = node.input[0].clone();
        let x_dq = match dequantized.get(&x) {
            Some(d) => d.clone(),
            None => {
                let d = format!("{y}/input_dequantized");
                qdq_pair(&mut nodes, q.activation_bits, &x, &format!("{y}/input"), r.input, &d);
                dequantized.insert(x, d.clone());
                d
            }
        };
        // The weight: int8 codes, one scale and a zero point of 0 per output channel (axis N).
        let n = w.shape[0];
        let zeros = constant(&mut nodes, &format!("{y}/weight_zero_point"), DataType::Int8, &[n as i64], vec![0; n]);
        let w_dq = format!("{y}/weight_dequantized");
        nodes.push(node_of(
            "DequantizeLinear",
            "",
            vec![codes_name(&w.name), scale_name(&w.name), zeros],
            &w_dq,
            vec![int_attr("axis", 1)],
        ));
        node.input[0] = x_dq;
        node.input[1] = w_dq;
        // Every weight's codes are `[K, N]`: the tied projection's `Gemm` (transB against the
        // `[V, d]` table) becomes a `MatMul` too, since QNN's HTP compiler refuses that `Gemm`
        // (measured: `FullyConnected` fails validation, error 3110, and falls back to the CPU).
        if gemm {
            node.op_type = "MatMul".into();
            node.attribute.clear();
        }
        used.insert(w.name.clone());
        // The logits' layer (the tied projection, or an untied head) keeps a float output in w8a8,
        // since a uint8 logit cannot keep the top-1 ranking (ONNX Runtime's CPU provider then runs
        // it as one integer kernel with a float output). w8a16 quantizes its output too, at 16
        // bits: QNN's HTP compiler takes the layer only with a quantized output; with a float
        // one it leaves the weight's DequantizeLinear to the CPU, every step (measured).
        let logits = gemm || y.ends_with("logits");
        if logits && q.activation_bits == 8 {
            nodes.push(node);
            continue;
        }
        let raw = format!("{y}/float");
        node.output[0] = raw.clone();
        nodes.push(node);
        qdq_pair(&mut nodes, q.activation_bits, &raw, &format!("{y}/output"), r.output, &y);
    }
    g.node = nodes;
    Ok(())
}

/// `x → QuantizeLinear → DequantizeLinear → out` at the range's scale and zero point, in uint8
/// or uint16 (`com.microsoft`: the standard operators take 16-bit types only from opset 21).
fn qdq_pair(nodes: &mut Vec<NodeProto>, bits: u8, x: &str, base: &str, range: Range, out: &str) {
    let (scale, zero) = range.scale_zero(bits);
    let s = constant(nodes, &format!("{base}_scale"), DataType::Float, &[], scale.to_le_bytes().to_vec());
    let (ty, domain, zp) = match bits {
        16 => (DataType::Uint16, "com.microsoft", zero.to_le_bytes().to_vec()),
        _ => (DataType::Uint8, "", vec![zero as u8]),
    };
    let z = constant(nodes, &format!("{base}_zero_point"), ty, &[], zp);
    let quantized = format!("{base}_quantized");
    nodes.push(node_of("QuantizeLinear", domain, vec![x.into(), s.clone(), z.clone()], &quantized, vec![]));
    nodes.push(node_of("DequantizeLinear", domain, vec![quantized, s, z], out, vec![]));
}

fn constant(nodes: &mut Vec<NodeProto>, name: &str, ty: DataType, dims: &[i64], raw: Vec<u8>) -> String {
    let t = TensorProto { dims: dims.to_vec(), data_type: ty as i32, raw_data: raw, ..Default::default() };
    let attr =
        AttributeProto { name: "value".into(), r#type: AttributeType::Tensor as i32, t: Some(t), ..Default::default() };
    nodes.push(node_of("Constant", "", vec![], name, vec![attr]));
    name.to_string()
}

fn node_of(op: &str, domain: &str, input: Vec<String>, out: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input,
        output: vec![out.to_string()],
        name: format!("{out}_{op}"),
        op_type: op.into(),
        domain: domain.into(),
        attribute,
        doc_string: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_exact_and_the_range_spans_the_codes() {
        let r = Range { min: -1.0, max: 3.0 };
        let (s, z) = r.scale_zero(8);
        assert!((s - 4.0 / 255.0).abs() < 1e-7);
        assert_eq!(z, 64, "round(1 / (4 / 255))");
        // A range that never went below 0 still holds it, at code 0.
        assert_eq!(Range { min: 0.5, max: 2.0 }.scale_zero(16).1, 0);
        assert_eq!(Range::EMPTY.scale_zero(8), (1.0, 0));
        let mut o = Range::EMPTY;
        o.observe(&[f32::NAN, -2.0, 5.0, f32::INFINITY]);
        assert_eq!(o, Range { min: -2.0, max: 5.0 });
    }

    fn all_nodes(g: &GraphProto, out: &mut Vec<NodeProto>) {
        for n in &g.node {
            out.push(n.clone());
            n.attribute.iter().filter_map(|a| a.g.as_ref()).for_each(|sub| all_nodes(sub, out));
        }
    }

    /// Every linear layer of both families (the merged decoder's `If` branches too) reads its
    /// weight through `DequantizeLinear` of int8 codes; no float linear weight is left; a weight
    /// without a range is named.
    #[test]
    fn every_linear_layer_reads_dequantized_codes() {
        use crate::graph::{GraphVariant, decoder_only, encdec};
        let pair = crate::Pair::preset("tiny").unwrap();
        let mut q = QdqOptions::uncalibrated(16);
        let range = Range { min: -1.0, max: 1.0 };
        for cfg in [&pair.encoder_decoder, &pair.decoder_only] {
            for t in crate::weights::model_tensors(cfg) {
                q.ranges.insert(t.name, LinearRanges { input: range, output: range });
            }
        }
        let specs = [
            decoder_only::model(&pair.decoder_only, GraphVariant::Plain, None),
            encdec::encoder(&pair.encoder_decoder, GraphVariant::Plain, None),
            encdec::decoder(&pair.encoder_decoder, encdec::DecoderFile::Merged, GraphVariant::Plain, None),
        ];
        for spec in specs {
            let linear = spec.tensors.iter().filter(|t| t.init == crate::weights::Init::Linear).count();
            let out = quantize(spec, &q).unwrap();
            let stored: HashMap<&str, &TensorSpec> = out.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
            assert!(out.tensors.iter().all(|t| t.init != crate::weights::Init::Linear || t.quant.is_some()));
            let codes =
                out.tensors.iter().filter(|t| matches!(t.quant.as_ref().map(|p| p.kind), Some(PartKind::ChannelCodes)));
            assert!(codes.count() >= linear, "every linear weight (and a tied projection) has codes");
            let mut nodes = vec![];
            all_nodes(&out.graph, &mut nodes);
            let dq: HashMap<&str, &NodeProto> =
                nodes.iter().filter(|n| n.op_type == "DequantizeLinear").map(|n| (n.output[0].as_str(), n)).collect();
            let mut layers = 0;
            for n in nodes.iter().filter(|n| n.op_type == "MatMul" || n.op_type == "Gemm") {
                assert!(!stored.contains_key(n.input[1].as_str()), "{} reads a float weight {}", n.name, n.input[1]);
                if let Some(w) = dq.get(n.input[1].as_str()) {
                    layers += 1;
                    assert!(stored[w.input[0].as_str()].quant.is_some(), "{}", w.input[0]);
                    assert!(dq.contains_key(n.input[0].as_str()), "{}'s input is dequantized", n.name);
                    assert_eq!(w.domain, "", "int8 weights use the standard operator");
                }
            }
            assert!(layers >= linear, "{layers} quantized layers for {linear} linear weights");
            assert!(nodes.iter().filter(|n| n.op_type == "QuantizeLinear").all(|n| n.domain == "com.microsoft"));
        }
        q.ranges.retain(|w, _| !w.contains("down"));
        let err = quantize(decoder_only::model(&pair.decoder_only, GraphVariant::Plain, None), &q).err().unwrap();
        assert!(err.contains("down_proj") && err.contains("no calibrated range"), "{err}");
    }
}
