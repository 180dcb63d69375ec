//! The bf16 build: every weight stored as bfloat16 (the f32 values rounded to nearest even), as
//! onnxruntime-genai's builder stores them for providers that compute in bf16 (CUDA). The graph
//! reads each weight through a `Cast` to f32, so any provider runs it: ONNX Runtime's CPU provider
//! has no bf16 matrix multiply, and folds those casts into f32 weights when a session loads, so
//! there it computes in f32 on the rounded weights. candle reads the same bf16 weights and
//! computes in bf16 (its `--backend candle` bf16 cells). Plain graphs only, like the QDQ builds.

use crate::graph::GraphSpec;
use crate::onnx::proto::{DataType, GraphProto, NodeProto};
use crate::weights::Storage;

/// The name the graph reads a bf16 weight by: the `Cast`'s f32 output.
fn cast_name(weight: &str) -> String {
    format!("{weight}_f32")
}

pub fn convert(spec: GraphSpec) -> GraphSpec {
    let GraphSpec { mut graph, mut tensors } = spec;
    let mut weights = std::collections::HashSet::new();
    for t in &mut tensors {
        if t.quant.is_none() {
            t.storage = Storage::Bf16;
            weights.insert(t.name.clone());
        }
    }
    rename_inputs(&mut graph, &weights);
    let casts = tensors.iter().filter(|t| weights.contains(&t.name)).map(|t| NodeProto {
        input: vec![t.name.clone()],
        output: vec![cast_name(&t.name)],
        name: format!("{}/cast", t.name),
        op_type: "Cast".into(),
        attribute: vec![crate::quant::int_attr("to", DataType::Float as i64)],
        ..Default::default()
    });
    // Initializer-only inputs, so the casts may come first (the merged decoder's branches read
    // them from the outer scope).
    graph.node.splice(0..0, casts.collect::<Vec<_>>());
    GraphSpec { graph, tensors }
}

/// Every node (in every subgraph) reads a weight's cast instead of the weight.
fn rename_inputs(g: &mut GraphProto, weights: &std::collections::HashSet<String>) {
    for n in &mut g.node {
        for i in &mut n.input {
            if weights.contains(i.as_str()) {
                *i = cast_name(i);
            }
        }
        for a in &mut n.attribute {
            if let Some(sub) = a.g.as_mut() {
                rename_inputs(sub, weights);
            }
        }
    }
}

/// f32 little-endian bytes → bfloat16 little-endian bytes (round to nearest even).
pub fn f32_bytes_to_bf16(bytes: &[u8]) -> Vec<u8> {
    bytes
        .chunks_exact(4)
        .flat_map(|c| half::bf16::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphVariant, decoder_only};

    #[test]
    fn every_weight_is_read_through_one_cast() {
        let cfg = crate::presets::Pair::preset("tiny").unwrap().decoder_only;
        let spec = convert(decoder_only::model(&cfg, GraphVariant::Plain, None));
        assert!(spec.tensors.iter().all(|t| t.storage == Storage::Bf16));
        let casts: Vec<&NodeProto> = spec.graph.node.iter().filter(|n| n.op_type == "Cast").collect();
        for t in &spec.tensors {
            assert_eq!(casts.iter().filter(|n| n.input == [t.name.clone()]).count(), 1, "{}", t.name);
            // Nothing else reads the bf16 weight itself.
            let direct = spec.graph.node.iter().filter(|n| n.op_type != "Cast" && n.input.contains(&t.name)).count();
            assert_eq!(direct, 0, "{}", t.name);
        }
    }

    #[test]
    fn rounds_to_nearest_even() {
        // 1 + 2^-8 lies halfway between two bfloat16 values and rounds to the even one (1.0);
        // 1 + 3·2^-9 rounds up to 1 + 2^-7.
        let bytes: Vec<u8> =
            [1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-9)].iter().flat_map(|x| x.to_le_bytes()).collect();
        let out = f32_bytes_to_bf16(&bytes);
        assert_eq!(half::bf16::from_le_bytes([out[0], out[1]]).to_f32(), 1.0);
        assert_eq!(half::bf16::from_le_bytes([out[2], out[3]]).to_f32(), 1.0 + 2f32.powi(-7));
    }
}
