//! The fp16 build: weights and activations in IEEE half precision, as onnxruntime-genai's builder
//! writes them for providers that compute in fp16 (CUDA, DirectML, NPUs). Every float tensor of
//! a fused graph becomes float16 — initializers, constants (the RoPE tables, computed in f64 at
//! build time), casts, and the graph's inputs and outputs (the KV cache and the logits). Only
//! fused graphs are converted: the plain graph computes RoPE angles from integer positions in
//! the graph, which half precision cannot hold (at position 2048 its step is 2).
//!
//! ONNX Runtime's CPU provider has half-precision kernels for few operators; for the others it
//! inserts casts to f32 and back, so on a CPU this measures that path, not fp16 arithmetic.

use crate::graph::GraphSpec;
use crate::onnx::proto::{AttributeProto, DataType, GraphProto, ValueInfoProto};

pub fn convert(spec: GraphSpec) -> GraphSpec {
    let GraphSpec { mut graph, mut tensors } = spec;
    for t in &mut tensors {
        if t.quant.is_none() {
            t.storage = crate::weights::Storage::F16;
        }
    }
    convert_graph(&mut graph);
    GraphSpec { graph, tensors }
}

/// f32 little-endian bytes → f16 little-endian bytes (round to nearest even).
pub fn f32_bytes_to_f16(bytes: &[u8]) -> Vec<u8> {
    bytes
        .chunks_exact(4)
        .flat_map(|c| half::f16::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes())
        .collect()
}

fn value_info(v: &mut ValueInfoProto) {
    if let Some(t) = v.r#type.as_mut().and_then(|t| t.tensor_type.as_mut())
        && t.elem_type == DataType::Float as i32
    {
        t.elem_type = DataType::Float16 as i32;
    }
}

fn attribute(op: &str, a: &mut AttributeProto) {
    if let Some(g) = a.g.as_mut() {
        convert_graph(g);
    }
    if op == "Constant"
        && let Some(t) = a.t.as_mut()
        && t.data_type == DataType::Float as i32
    {
        t.raw_data = f32_bytes_to_f16(&t.raw_data);
        t.data_type = DataType::Float16 as i32;
    }
    if op == "Cast" && a.name == "to" && a.i == DataType::Float as i64 {
        a.i = DataType::Float16 as i64;
    }
}

fn convert_graph(g: &mut GraphProto) {
    g.input.iter_mut().chain(g.output.iter_mut()).chain(g.value_info.iter_mut()).for_each(value_info);
    for n in &mut g.node {
        for a in &mut n.attribute {
            attribute(&n.op_type, a);
        }
    }
}
