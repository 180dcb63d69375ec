//! Weight-only block quantization of a built graph, in the form ONNX Runtime's CPU provider runs
//! fast and onnxruntime-genai's model builder emits: every `MatMul` against a linear weight, and
//! the tied output projection (`Gemm` against the embedding with `transB`), becomes
//! `com.microsoft.MatMulNBits` with 4- or 8-bit codes in blocks of `block_size` along K, one f32
//! scale per block and no zero points (symmetric: the runtime's default zero point 2^(bits−1)).
//! The embedding table stays f32 for its `Gather`, so a tied model stores the table twice
//! (f32 for the lookup, quantized for the projection): a decode step reads only the latter.
//!
//! The pass rewrites the graph the builders made, so both families get exactly the same treatment.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::graph::GraphSpec;
use crate::onnx::proto::{AttributeProto, AttributeType, GraphProto, NodeProto};
use crate::weights::{Init, TensorSpec};

/// The precision of a model's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Fp16,
    /// Weights stored as bfloat16, read through casts to f32 ([`crate::bf16`]).
    Bf16,
    Int8,
    Int4,
    /// QDQ: int8 weights per output channel, uint8 activations per tensor ([`crate::qdq`]).
    W8a8,
    /// QDQ: int8 weights per output channel, uint16 activations per tensor.
    W8a16,
}

impl Precision {
    pub const ALL: [Precision; 7] = [
        Precision::Fp32,
        Precision::Fp16,
        Precision::Bf16,
        Precision::Int8,
        Precision::Int4,
        Precision::W8a8,
        Precision::W8a16,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
            Precision::Int4 => "int4",
            Precision::W8a8 => "w8a8",
            Precision::W8a16 => "w8a16",
        }
    }

    /// Bits of a weight-only (`MatMulNBits`) quantized weight (`None`: float or QDQ).
    pub fn bits(self) -> Option<u8> {
        match self {
            Precision::Int8 => Some(8),
            Precision::Int4 => Some(4),
            _ => None,
        }
    }

    /// Bits of a QDQ build's activations (`None`: not a QDQ build).
    pub fn activation_bits(self) -> Option<u8> {
        match self {
            Precision::W8a8 => Some(8),
            Precision::W8a16 => Some(16),
            _ => None,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Precision, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown precision `{s}`; known: fp32, fp16, bf16, int8, int4, w8a8, w8a16"))
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Precision {
    /// The quantization that builds this precision (block size 32, accuracy level 4); `None` for
    /// fp32.
    pub fn options(self) -> Option<QuantOptions> {
        self.bits().map(QuantOptions::new)
    }
}

/// How to quantize.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct QuantOptions {
    pub bits: u8,
    /// Weights per block along K (a power of two ≥ 16); 32 as onnxruntime-genai uses.
    pub block_size: usize,
    /// `MatMulNBits`'s `accuracy_level`: 4 lets the CPU provider compute in int8 (VNNI).
    pub accuracy_level: i64,
}

impl QuantOptions {
    pub fn new(bits: u8) -> QuantOptions {
        QuantOptions { bits, block_size: 32, accuracy_level: 4 }
    }

    /// Bytes stored per weight: the code and its share of the block's f32 scale.
    pub fn bytes_per_weight(&self) -> f64 {
        self.bits as f64 / 8.0 + 4.0 / self.block_size as f64
    }

    /// `MatMulNBits bits=4 block_size=32 accuracy_level=4`: what results record.
    pub fn describe(&self) -> String {
        format!("MatMulNBits bits={} block_size={} accuracy_level={}", self.bits, self.block_size, self.accuracy_level)
    }
}

/// Which of the two stored tensors of a quantized `[N, K]` weight an initializer is.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The float tensor whose values are quantized.
    pub source: String,
    pub bits: u8,
    pub block_size: usize,
    pub kind: PartKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// uint8 `[N, blocks, block_size × bits / 8]`, codes packed low bits first along K.
    Codes,
    /// f32 `[N, blocks]`.
    Scales,
    /// int8 codes of a QDQ weight, symmetric per output channel ([`quantize_channel`]), `[K, N]`
    /// (a `MatMul`'s B).
    ChannelCodes,
    /// f32 `[N]`: a QDQ weight's scale per output channel.
    ChannelScales,
}

impl PartKind {
    /// Whether the part holds the weight's codes (what parameter counts count once).
    pub fn is_codes(self) -> bool {
        matches!(self, PartKind::Codes | PartKind::ChannelCodes)
    }
}

impl Part {
    fn blocks(&self, k: usize) -> usize {
        k.div_ceil(self.block_size)
    }

    pub fn onnx_shape(&self, n: usize, k: usize) -> Vec<usize> {
        match self.kind {
            PartKind::Codes => vec![n, self.blocks(k), self.block_size * self.bits as usize / 8],
            PartKind::Scales => vec![n, self.blocks(k)],
            PartKind::ChannelCodes => vec![k, n],
            PartKind::ChannelScales => vec![n],
        }
    }

    pub fn byte_len(&self, n: usize, k: usize) -> u64 {
        let per = match self.kind {
            PartKind::Codes => self.block_size * self.bits as usize / 8,
            PartKind::Scales => 4,
            PartKind::ChannelCodes => return (n * k) as u64,
            PartKind::ChannelScales => return 4 * n as u64,
        };
        (n * self.blocks(k) * per) as u64
    }
}

/// Quantizes one output channel (a row of K weights) to int8, symmetric, round to nearest:
/// scale = max|w| / 127, code = round(w / scale) (zero point 0, as QNN's HTP wants weights).
pub fn quantize_channel(row: &[f32], codes: &mut Vec<i8>) -> f32 {
    let scale = channel_scale(row);
    codes.extend(row.iter().map(|&w| (w / scale).round().clamp(-127.0, 127.0) as i8));
    scale
}

/// The scale [`quantize_channel`] gives a row.
pub fn channel_scale(row: &[f32]) -> f32 {
    let amax = row.iter().fold(0f32, |m, &w| m.max(w.abs()));
    if amax > 0.0 { amax / 127.0 } else { 1.0 }
}

/// Quantizes one row of K weights: appends its packed codes and its scales. Symmetric, round to
/// nearest: scale = max|w| / (2^(bits−1) − 1), code = round(w / scale) + 2^(bits−1); the last
/// block is padded with zeros.
pub fn quantize_row(row: &[f32], bits: u8, block_size: usize, codes: &mut Vec<u8>, scales: &mut Vec<f32>) {
    let zero = 1i32 << (bits - 1);
    let (qmax, top) = ((zero - 1) as f32, (1i32 << bits) - 1);
    for block in row.chunks(block_size) {
        let amax = block.iter().fold(0f32, |m, &w| m.max(w.abs()));
        let scale = if amax > 0.0 { amax / qmax } else { 1.0 };
        scales.push(scale);
        let code = |i: usize| block.get(i).map(|&w| ((w / scale).round() as i32 + zero).clamp(0, top)).unwrap_or(zero);
        match bits {
            4 => codes.extend((0..block_size).step_by(2).map(|i| (code(i) | (code(i + 1) << 4)) as u8)),
            _ => codes.extend((0..block_size).map(|i| code(i) as u8)),
        }
    }
}

/// The weight a packed row decodes to (the runtime's arithmetic; used by tests and drift checks).
pub fn dequantize_row(codes: &[u8], scales: &[f32], bits: u8, block_size: usize, k: usize) -> Vec<f32> {
    let zero = 1i32 << (bits - 1);
    let per = block_size * bits as usize / 8;
    (0..k)
        .map(|i| {
            let (b, j) = (i / block_size, i % block_size);
            let c = match bits {
                4 => (codes[b * per + j / 2] >> (4 * (j % 2))) & 0xF,
                _ => codes[b * per + j],
            };
            (c as i32 - zero) as f32 * scales[b]
        })
        .collect()
}

pub(crate) fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i, ..Default::default() }
}

/// Rewrites `spec` with quantized weights (see the module comment). Float tensors no node reads
/// any more are dropped.
pub fn quantize(spec: GraphSpec, q: &QuantOptions) -> GraphSpec {
    let GraphSpec { mut graph, tensors } = spec;
    let by_name: HashMap<&str, &TensorSpec> = tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut quantized: HashSet<String> = HashSet::new();
    rewrite(&mut graph, &by_name, q, &mut quantized);
    let mut out = tensors.clone();
    let mut names: Vec<&String> = quantized.iter().collect();
    names.sort();
    for source in names {
        let t = by_name[source.as_str()];
        for kind in [PartKind::Codes, PartKind::Scales] {
            out.push(TensorSpec {
                name: part_name(source, kind, q.bits),
                shape: t.shape.clone(),
                init: t.init,
                quant: Some(Part { source: source.clone(), bits: q.bits, block_size: q.block_size, kind }),
                storage: crate::weights::Storage::F32,
                pack: t.pack.clone(),
            });
        }
    }
    GraphSpec::new(graph, out)
}

/// `NAME_Q4` and `NAME_scales`, as onnxruntime-genai's builder names them.
fn part_name(source: &str, kind: PartKind, bits: u8) -> String {
    if kind.is_codes() { format!("{source}_Q{bits}") } else { format!("{source}_scales") }
}

/// The weight of a node that is a linear layer: a `MatMul` against a linear weight, or the tied
/// output projection (a `Gemm` against the `[V, d]` embedding with transB, already `[N, K]`;
/// then `true`).
pub(crate) fn linear_weight<'a>(
    node: &NodeProto,
    tensors: &HashMap<&str, &'a TensorSpec>,
) -> Option<(&'a TensorSpec, bool)> {
    let w = *tensors.get(node.input.get(1)?.as_str())?;
    let trans_b = node.attribute.iter().any(|a| a.name == "transB" && a.i == 1);
    match node.op_type.as_str() {
        "MatMul" if w.init == Init::Linear => Some((w, false)),
        "Gemm" if w.init == Init::Embedding && trans_b && node.input.len() == 2 => Some((w, true)),
        _ => None,
    }
}

fn rewrite(g: &mut GraphProto, tensors: &HashMap<&str, &TensorSpec>, q: &QuantOptions, done: &mut HashSet<String>) {
    for node in &mut g.node {
        for a in &mut node.attribute {
            if let Some(sub) = a.g.as_mut() {
                rewrite(sub, tensors, q, done);
            }
        }
        let Some((w, _)) = linear_weight(node, tensors) else { continue };
        let (n, k) = (w.shape[0], w.shape[1]);
        *node = NodeProto {
            input: vec![
                node.input[0].clone(),
                part_name(&w.name, PartKind::Codes, q.bits),
                part_name(&w.name, PartKind::Scales, q.bits),
            ],
            output: node.output.clone(),
            name: format!("{}_Q{}", node.name, q.bits),
            op_type: "MatMulNBits".into(),
            domain: "com.microsoft".into(),
            attribute: vec![
                int_attr("K", k as i64),
                int_attr("N", n as i64),
                int_attr("accuracy_level", q.accuracy_level),
                int_attr("bits", q.bits as i64),
                int_attr("block_size", q.block_size as i64),
            ],
            doc_string: String::new(),
        };
        done.insert(w.name.clone());
    }
}

/// Whether any node of `g` (or its subgraphs) is in the `com.microsoft` domain.
pub fn uses_contrib_ops(g: &GraphProto) -> bool {
    g.node
        .iter()
        .any(|n| n.domain == "com.microsoft" || n.attribute.iter().any(|a| a.g.as_ref().is_some_and(uses_contrib_ops)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_error_is_within_half_a_step() {
        let row: Vec<f32> = (0..70).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
        for bits in [4u8, 8] {
            let (mut codes, mut scales) = (vec![], vec![]);
            quantize_row(&row, bits, 32, &mut codes, &mut scales);
            assert_eq!(codes.len(), 3 * 32 * bits as usize / 8, "three blocks, the last padded");
            assert_eq!(scales.len(), 3);
            let back = dequantize_row(&codes, &scales, bits, 32, row.len());
            for (i, (a, b)) in row.iter().zip(&back).enumerate() {
                let step = scales[i / 32];
                assert!((a - b).abs() <= step / 2.0 + 1e-6, "bits {bits} at {i}: {a} vs {b}");
            }
            // The largest magnitude of a block is exact (it defines the scale).
            let amax = row[..32].iter().fold(0f32, |m, &w| m.max(w.abs()));
            assert!(back[..32].iter().any(|&b| (b.abs() - amax).abs() < 1e-5));
        }
    }

    #[test]
    fn four_bit_codes_pack_low_nibble_first() {
        let row = [-7.0f32, 7.0, 0.0, 1.0];
        let (mut codes, mut scales) = (vec![], vec![]);
        quantize_row(&row, 4, 16, &mut codes, &mut scales);
        assert_eq!(scales, vec![1.0]);
        // -7 → 1, 7 → 15: low nibble first; 0 → 8, 1 → 9; padding → 8.
        assert_eq!(&codes[..3], &[0xF1, 0x98, 0x88]);
    }
}
