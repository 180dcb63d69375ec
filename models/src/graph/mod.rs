//! Transformer graphs in standard opset-18 operators, one file per family; `layers` holds the
//! blocks both families share.

pub mod decoder_only;
pub mod encdec;
pub mod fused;
pub mod layers;
pub mod static_shapes;

/// A deliberate bug, for proving that the reference test catches each kind of mistake.
/// Never set in a normal build. A fused graph takes `RopeSign` (the interleaved RoPE layout)
/// and `GqaGrouping` (in MultiHeadAttention's repeated keys); the others live inside its kernels.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `rotate_half` with the sign on the wrong half.
    RopeSign,
    /// Decoder self-attention without the causal mask.
    NoCausalMask,
    /// Query head h uses KV head h mod kv_heads instead of h div group_size.
    GqaGrouping,
    /// New keys/values placed before the cached ones.
    CacheOrder,
}

/// Which operators a graph is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphVariant {
    /// Standard opset-18 operators, one per arithmetic step (what an exporter without fusion
    /// passes writes).
    #[default]
    Plain,
    /// The kernels onnxruntime-genai's model builder emits for the CPU provider:
    /// `SimplifiedLayerNormalization` / `SkipSimplifiedLayerNormalization`, `GroupQueryAttention`
    /// (with RoPE and the cache inside) for causal self-attention, `RotaryEmbedding` +
    /// `MultiHeadAttention` for the encoder and for cross-attention, `Gelu`.
    Fused,
}

impl GraphVariant {
    pub const ALL: [GraphVariant; 2] = [GraphVariant::Plain, GraphVariant::Fused];

    pub fn name(self) -> &'static str {
        match self {
            GraphVariant::Plain => "plain",
            GraphVariant::Fused => "fused",
        }
    }
}

impl std::str::FromStr for GraphVariant {
    type Err = String;
    fn from_str(s: &str) -> Result<GraphVariant, String> {
        GraphVariant::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown graph variant `{s}`; known: plain, fused"))
    }
}

impl std::fmt::Display for GraphVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

use crate::onnx::proto::GraphProto;
use crate::weights::TensorSpec;

/// A graph without weight data, and the weights it references (written as initializers).
pub struct GraphSpec {
    pub graph: GraphProto,
    pub tensors: Vec<TensorSpec>,
}

impl GraphSpec {
    /// Keeps only the tensors some node (in any subgraph) reads: `decoder_with_past_model.onnx`
    /// has no use for the cross-attention key/value projections.
    pub fn new(graph: GraphProto, tensors: Vec<TensorSpec>) -> GraphSpec {
        let mut used = std::collections::HashSet::new();
        collect_inputs(&graph, &mut used);
        let tensors = tensors.into_iter().filter(|t| used.contains(t.name.as_str())).collect();
        GraphSpec { graph, tensors }
    }
}

fn collect_inputs<'a>(g: &'a GraphProto, used: &mut std::collections::HashSet<&'a str>) {
    for n in &g.node {
        used.extend(n.input.iter().map(String::as_str));
        for a in &n.attribute {
            if let Some(sub) = &a.g {
                collect_inputs(sub, used);
            }
        }
    }
}

/// One `[m, k] × [k, n]` f32 MatMul against a weight: what the roofline measures the host's
/// matrix-multiply rate with, through the same runtime and threads as the models.
pub fn matmul_probe(m: usize, k: usize, n: usize) -> GraphSpec {
    use crate::onnx::builder::Graph;
    use crate::onnx::proto::{DataType, ValueInfoProto};
    use crate::weights::Init;
    let mut g = Graph::new("");
    g.inputs.push(ValueInfoProto::tensor("a", DataType::Float, Some(vec![m.into(), k.into()])));
    g.op_named("MatMul", &["a", "w"], vec![], "y");
    g.outputs.push(ValueInfoProto::tensor("y", DataType::Float, Some(vec![m.into(), n.into()])));
    GraphSpec::new(g.into_proto("matmul_probe"), vec![TensorSpec::new("w", vec![n, k], Init::Linear)])
}
