//! What a model's graphs are made of, read from the ONNX files without loading their weights:
//! the weights' precision (from `MatMulNBits` or the initializers' element types) and the fused
//! `com.microsoft` operators, so a result says what kind of model it timed (an int4 builder
//! export is not the same deployment as an fp32 plain-operator graph).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

// Only the fields read here: prost skips the rest (weights included) without keeping them.
#[derive(Clone, PartialEq, prost::Message)]
struct ModelP {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphP>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GraphP {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeP>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorP>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NodeP {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(string, tag = "7")]
    domain: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttrP>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AttrP {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int64, tag = "3")]
    i: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorP {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(string, tag = "8")]
    name: String,
}

/// Files above this size are not read for their operators (their weights are inside them, and
/// slmbench's own builds, the only such files here, say what they are in `manifest.json`).
const MAX_READ: u64 = 256 << 20;

/// Precision and operators of a model's graphs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphInfo {
    /// Weights: `int4`, `int8` (from `MatMulNBits`), else the element type holding most weight
    /// elements (`fp32`, `fp16`, `bf16`, …).
    pub precision: Option<String>,
    /// E.g. `MatMulNBits bits=4 block_size=32 accuracy_level=4 (14 nodes)`.
    pub quantization: Option<String>,
    /// Distinct operators of the `com.microsoft` domain (fused kernels), sorted.
    pub fused_operators: Vec<String>,
    /// Parameters: the elements of every initializer (each distinct name and shape once over
    /// the files, so an embedding shared by encoder and decoder counts once), a block-quantized
    /// weight counted as the matrix it stands for (`K × N` of `MatMulNBits`, the unpacked rows of
    /// `GatherBlockQuantized`), its scales and zero points not at all.
    #[serde(default)]
    pub params: Option<u64>,
}

fn type_name(t: i32) -> &'static str {
    match t {
        1 => "fp32",
        10 => "fp16",
        16 => "bf16",
        11 => "fp64",
        2 => "uint8",
        3 => "int8",
        21 => "uint4",
        22 => "int4",
        _ => "other",
    }
}

/// Reads the graphs in `files` (top level only; `If` branches are not walked).
pub fn read(files: &[&Path]) -> Option<GraphInfo> {
    let mut fused = std::collections::BTreeSet::new();
    let mut nbits: BTreeMap<String, usize> = BTreeMap::new();
    // QDQ form (what ONNX Runtime's quantize_static and QNN's tools write).
    let mut quantize_nodes = 0usize;
    let mut elements: BTreeMap<&'static str, u128> = BTreeMap::new();
    let mut params: u128 = 0;
    let mut seen = std::collections::HashSet::new();
    for f in files {
        if std::fs::metadata(f).ok()?.len() > MAX_READ {
            return None;
        }
        let bytes = std::fs::read(f).ok()?;
        let model = <ModelP as prost::Message>::decode(bytes.as_slice()).ok()?;
        let graph = model.graph.unwrap_or_default();
        // Packed quantized weights and their scales: counted by what they stand for below.
        let mut packed: std::collections::HashMap<&str, u128> = std::collections::HashMap::new();
        for n in &graph.node {
            let attr = |k: &str| n.attribute.iter().find(|a| a.name == k).map(|a| a.i);
            match n.op_type.as_str() {
                "MatMulNBits" => {
                    let logical = (attr("K").unwrap_or(0).max(0) as u128) * (attr("N").unwrap_or(0).max(0) as u128);
                    for (i, name) in n.input.iter().enumerate().skip(1) {
                        packed.insert(name, if i == 1 { logical } else { 0 });
                    }
                }
                "GatherBlockQuantized" => {
                    let per_byte = 8 / attr("bits").unwrap_or(4).clamp(1, 8) as u128;
                    let data = n.input.first().map(String::as_str).unwrap_or_default();
                    let rows = graph.initializer.iter().find(|t| t.name == data).map(elements_of).unwrap_or(0);
                    packed.insert(data, rows * per_byte);
                    for name in n.input.iter().skip(2) {
                        packed.insert(name, 0);
                    }
                }
                _ => {}
            }
        }
        for t in &graph.initializer {
            if seen.insert((t.name.clone(), t.dims.clone())) {
                params += packed.get(t.name.as_str()).copied().unwrap_or_else(|| elements_of(t));
            }
        }
        for n in &graph.node {
            if n.domain == "com.microsoft" {
                fused.insert(n.op_type.clone());
            }
            quantize_nodes += usize::from(n.op_type == "QuantizeLinear");
            if n.op_type == "MatMulNBits" {
                let attr = |k: &str| n.attribute.iter().find(|a| a.name == k).map(|a| a.i);
                let key = format!(
                    "MatMulNBits bits={} block_size={}{}",
                    attr("bits").unwrap_or(4),
                    attr("block_size").unwrap_or(0),
                    attr("accuracy_level").map(|l| format!(" accuracy_level={l}")).unwrap_or_default()
                );
                *nbits.entry(key).or_default() += 1;
            }
        }
        for t in &graph.initializer {
            *elements.entry(type_name(t.data_type)).or_default() += elements_of(t);
        }
    }
    let mut quantization = (!nbits.is_empty())
        .then(|| nbits.iter().map(|(k, n)| format!("{k} ({n} nodes)")).collect::<Vec<_>>().join(", "));
    if nbits.is_empty() && quantize_nodes > 0 {
        quantization = Some(format!("QDQ ({quantize_nodes} QuantizeLinear nodes)"));
    }
    let precision = match nbits.keys().next() {
        None if quantize_nodes > 0 => Some("qdq".to_string()),
        Some(k) if k.contains("bits=8") => Some("int8".to_string()),
        Some(_) => Some("int4".to_string()),
        None => {
            elements.retain(|t, _| t.starts_with("fp") || t.starts_with("bf"));
            elements.iter().max_by_key(|(_, n)| **n).map(|(t, _)| t.to_string())
        }
    };
    let params = u64::try_from(params).ok();
    Some(GraphInfo { precision, quantization, fused_operators: fused.into_iter().collect(), params })
}

fn elements_of(t: &TensorP) -> u128 {
    t.dims.iter().map(|&d| d.max(0) as u128).product()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name).join("model.onnx")
    }

    #[test]
    fn builder_exports_say_what_they_are() {
        let fp32 = read(&[&data("genai/llama-tiny-fp32")]).unwrap();
        assert_eq!(fp32.precision.as_deref(), Some("fp32"));
        assert_eq!(fp32.quantization, None);
        assert!(fp32.fused_operators.contains(&"GroupQueryAttention".to_string()), "{fp32:?}");
        assert!(fp32.fused_operators.contains(&"SkipSimplifiedLayerNormalization".to_string()), "{fp32:?}");
        let int4 = read(&[&data("genai/llama-tiny-int4")]).unwrap();
        assert_eq!(int4.precision.as_deref(), Some("int4"));
        assert!(int4.quantization.as_deref().unwrap().starts_with("MatMulNBits bits=4 block_size="), "{int4:?}");
        assert!(int4.fused_operators.contains(&"MatMulNBits".to_string()));
        let plain = read(&[&data("optimum/llama-tiny")]).unwrap();
        assert_eq!(plain.precision.as_deref(), Some("fp32"));
        assert!(plain.fused_operators.is_empty(), "{plain:?}");
    }

    /// Every layout knows its parameter count (issue 31: builder exports recorded none, so a pair
    /// of them could not be checked for matched sizes): a 4-bit export counts the matrices its
    /// packed weights stand for, so it has its fp32 original's count.
    #[test]
    fn parameters_are_counted_from_the_graphs() {
        let fp32 = read(&[&data("genai/llama-tiny-fp32")]).unwrap().params.unwrap();
        let int4 = read(&[&data("genai/llama-tiny-int4")]).unwrap().params.unwrap();
        assert!(fp32 > 10_000, "{fp32}");
        let gap = fp32.abs_diff(int4) as f64 / fp32 as f64;
        assert!(gap < 0.01, "fp32 {fp32}, int4 {int4}");
        let optimum = read(&[&data("optimum/llama-tiny")]).unwrap().params.unwrap();
        assert!(optimum > 10_000, "{optimum}");
    }

    /// A QDQ graph from elsewhere is `qdq` (its int8 weights would otherwise read as fp32).
    #[test]
    fn qdq_graphs_say_so() {
        use slmbench_models::qdq::{LinearRanges, QdqOptions, Range};
        let dir = tempfile::tempdir().unwrap();
        let mut q = QdqOptions::uncalibrated(8);
        let r = Range { min: -1.0, max: 1.0 };
        q.ranges.insert("w".into(), LinearRanges { input: r, output: r });
        let spec = slmbench_models::qdq::quantize(slmbench_models::graph::matmul_probe(4, 32, 8), &q).unwrap();
        let path = dir.path().join("model.onnx");
        slmbench_models::onnx::writer::write_model(&path, &spec, 0, slmbench_models::ExternalData::Auto).unwrap();
        let info = read(&[&path]).unwrap();
        assert_eq!(info.precision.as_deref(), Some("qdq"));
        assert_eq!(info.quantization.as_deref(), Some("QDQ (2 QuantizeLinear nodes)"));
    }
}
