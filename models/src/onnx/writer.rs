//! Streams a model to disk: graph structure through prost, weight bytes generated tensor by
//! tensor straight into the file, so peak memory is one write buffer, not the model.
//!
//! Protobuf lets a message's fields come in any order, so the writer emits the graph without
//! initializers first and then each initializer as its own length-delimited field, with lengths
//! computed up front from the tensor shapes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use prost::Message;
use prost::encoding::{encode_varint, encoded_len_varint};

use super::proto::{
    DataType, GRAPH_INITIALIZER_TAG, MODEL_GRAPH_TAG, ModelProto, OperatorSetIdProto, StringStringEntryProto,
    TENSOR_RAW_DATA_TAG, TensorProto,
};
use crate::error::BuildError;
use crate::graph::GraphSpec;
use crate::quant::{self, PartKind};
use crate::weights::{Generator, Storage, TensorSpec};

pub const OPSET: i64 = 18;
/// IR version 8 is the one that goes with opset 18 (ONNX 1.13).
pub const IR_VERSION: i64 = 8;
/// Protobuf cannot encode a message over 2 GiB − 1.
pub const PROTOBUF_LIMIT: u64 = i32::MAX as u64;
/// External data offsets are page-aligned so runtimes can map them.
const EXTERNAL_ALIGN: u64 = 4096;
/// Elements generated per write.
const CHUNK: usize = 1 << 18;

/// When weights go to a separate `<file>_data` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExternalData {
    /// Only when the file would pass the 2 GB protobuf limit.
    #[default]
    Auto,
    Always,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub data_path: Option<PathBuf>,
    pub data_bytes: u64,
    /// Sum of the initializers' element counts.
    pub params: u64,
}

fn tensor_meta(spec: &TensorSpec) -> TensorProto {
    let kind = spec.quant.as_ref().map(|q| q.kind);
    TensorProto {
        dims: spec.onnx_shape().iter().map(|&d| d as i64).collect(),
        data_type: if kind == Some(PartKind::Codes) {
            DataType::Uint8
        } else if kind == Some(PartKind::ChannelCodes) {
            DataType::Int8
        } else if spec.storage == Storage::F16 {
            DataType::Float16
        } else if spec.storage == Storage::Bf16 {
            DataType::Bfloat16
        } else {
            DataType::Float
        } as i32,
        name: spec.name.clone(),
        ..Default::default()
    }
}

fn header(spec: &GraphSpec) -> ModelProto {
    ModelProto {
        ir_version: IR_VERSION,
        opset_import: if quant::uses_contrib_ops(&spec.graph) {
            vec![
                OperatorSetIdProto { domain: String::new(), version: OPSET },
                OperatorSetIdProto { domain: "com.microsoft".into(), version: 1 },
            ]
        } else {
            vec![OperatorSetIdProto { domain: String::new(), version: OPSET }]
        },
        producer_name: "slmbench".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: String::new(),
        model_version: 1,
        doc_string: String::new(),
        graph: Some(spec.graph.clone()),
        metadata_props: vec![],
    }
}

/// Writes one tensor's values as little-endian f32 in ONNX order (or, for a quantized copy, its
/// codes or scales, quantized row by row from the source's values).
fn write_values(w: &mut impl Write, spec: &TensorSpec, seed: u64, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let gen_ = Generator::new(seed, spec);
    if let Some(q) = spec.quant.as_ref().filter(|q| matches!(q.kind, PartKind::ChannelCodes | PartKind::ChannelScales))
    {
        write_channel_part(w, spec, q.kind, &gen_)?;
    } else if let Some(q) = &spec.quant {
        buf.clear();
        let (rows, k) = (spec.shape[0], spec.shape[1]);
        let (mut row, mut codes, mut scales) = (Vec::with_capacity(k), vec![], vec![]);
        for r in 0..rows {
            row.clear();
            row.extend((0..k).map(|c| gen_.at((r * k + c) as u64)));
            codes.clear();
            scales.clear();
            quant::quantize_row(&row, q.bits, q.block_size, &mut codes, &mut scales);
            match q.kind {
                PartKind::Codes => buf.extend_from_slice(&codes),
                // Scales (a QDQ weight's parts took the branch above).
                _ => buf.extend(scales.iter().flat_map(|s| s.to_le_bytes())),
            }
            if buf.len() >= 4 * CHUNK || r + 1 == rows {
                w.write_all(buf)?;
                buf.clear();
            }
        }
    } else if spec.onnx_transposed() {
        let (rows, cols) = (spec.shape[0], spec.shape[1]);
        let step = (CHUNK / rows).max(1);
        let mut c = 0;
        while c < cols {
            let end = (c + step).min(cols);
            buf.clear();
            gen_.fill_transposed(rows, cols, c, end, buf);
            write_floats(w, spec, buf)?;
            c = end;
        }
    } else {
        let n = spec.numel() as u64;
        let mut i = 0;
        while i < n {
            let end = (i + CHUNK as u64).min(n);
            buf.clear();
            gen_.fill_hf(i, end, buf);
            write_floats(w, spec, buf)?;
            i = end;
        }
    }
    Ok(())
}

/// A QDQ weight's per-channel scales, or its int8 codes (`[K, N]`), quantized row by row from
/// the source's `[N, K]` values; the codes are gathered whole first, to transpose them (one byte
/// per weight: 33 MB for the paper's tied embedding).
fn write_channel_part(w: &mut impl Write, spec: &TensorSpec, kind: PartKind, gen_: &Generator) -> std::io::Result<()> {
    let (rows, k) = (spec.shape[0], spec.shape[1]);
    let mut row = Vec::with_capacity(k);
    let fill = |r: usize, row: &mut Vec<f32>| {
        row.clear();
        row.extend((0..k).map(|c| gen_.at((r * k + c) as u64)));
    };
    if kind == PartKind::ChannelScales {
        let mut bytes = Vec::with_capacity(4 * rows);
        for r in 0..rows {
            fill(r, &mut row);
            bytes.extend(quant::channel_scale(&row).to_le_bytes());
        }
        return w.write_all(&bytes);
    }
    let mut codes = Vec::with_capacity(rows * k);
    for r in 0..rows {
        fill(r, &mut row);
        quant::quantize_channel(&row, &mut codes);
    }
    let bytes: Vec<u8> =
        (0..k).flat_map(|c| (0..rows).map(move |r| (r, c))).map(|(r, c)| codes[r * k + c] as u8).collect();
    w.write_all(&bytes)
}

/// f32 values as generated, or rounded to half precision or bfloat16.
fn write_floats(w: &mut impl Write, spec: &TensorSpec, f32_bytes: &[u8]) -> std::io::Result<()> {
    match spec.storage {
        Storage::F32 => w.write_all(f32_bytes),
        Storage::F16 => w.write_all(&crate::half::f32_bytes_to_f16(f32_bytes)),
        Storage::Bf16 => w.write_all(&crate::bf16::f32_bytes_to_bf16(f32_bytes)),
    }
}

/// Writes `spec` to `path` with weights drawn from `seed`.
pub fn write_model(path: &Path, spec: &GraphSpec, seed: u64, external: ExternalData) -> Result<Written, BuildError> {
    let metas: Vec<TensorProto> = spec.tensors.iter().map(tensor_meta).collect();
    let data_lens: Vec<u64> = spec.tensors.iter().map(TensorSpec::byte_len).collect();
    // A quantized weight counts once (its codes), not again for its scales.
    let params = spec
        .tensors
        .iter()
        .filter(|t| t.quant.as_ref().is_none_or(|q| q.kind.is_codes()))
        .map(|t| t.numel() as u64)
        .sum();
    let inline_len: u64 = header(spec).encoded_len() as u64
        + metas
            .iter()
            .zip(&data_lens)
            .map(|(m, &n)| {
                let entry = m.encoded_len() as u64 + 1 + encoded_len_varint(n) as u64 + n;
                1 + encoded_len_varint(entry) as u64 + entry
            })
            .sum::<u64>()
        + 16;
    let use_external = external == ExternalData::Always || inline_len > PROTOBUF_LIMIT;
    if use_external {
        write_external(path, spec, metas, &data_lens, seed, params)
    } else {
        write_inline(path, spec, &metas, &data_lens, seed, params)
    }
}

fn write_inline(
    path: &Path,
    spec: &GraphSpec,
    metas: &[TensorProto],
    data_lens: &[u64],
    seed: u64,
    params: u64,
) -> Result<Written, BuildError> {
    let err = |e| BuildError::Write { path: path.to_path_buf(), source: e };
    let mut head = header(spec);
    let graph = head.graph.take().expect("header always has a graph");
    let graph_bytes = graph.encode_to_vec();
    let meta_bytes: Vec<Vec<u8>> = metas.iter().map(|m| m.encode_to_vec()).collect();
    let entry_lens: Vec<u64> =
        meta_bytes.iter().zip(data_lens).map(|(m, &n)| m.len() as u64 + 1 + encoded_len_varint(n) as u64 + n).collect();
    let graph_len: u64 =
        graph_bytes.len() as u64 + entry_lens.iter().map(|&e| 1 + encoded_len_varint(e) as u64 + e).sum::<u64>();

    let file = File::create(path).map_err(err)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut out = head.encode_to_vec();
    let key = |tag: u32| ((tag << 3) | 2) as u64; // wire type 2: length-delimited
    encode_varint(key(MODEL_GRAPH_TAG), &mut out);
    encode_varint(graph_len, &mut out);
    out.extend_from_slice(&graph_bytes);
    w.write_all(&out).map_err(err)?;
    let mut buf = Vec::with_capacity(4 * CHUNK);
    for (i, t) in spec.tensors.iter().enumerate() {
        let mut pre = Vec::with_capacity(32 + meta_bytes[i].len());
        encode_varint(key(GRAPH_INITIALIZER_TAG), &mut pre);
        encode_varint(entry_lens[i], &mut pre);
        pre.extend_from_slice(&meta_bytes[i]);
        encode_varint(key(TENSOR_RAW_DATA_TAG), &mut pre);
        encode_varint(data_lens[i], &mut pre);
        w.write_all(&pre).map_err(err)?;
        write_values(&mut w, t, seed, &mut buf).map_err(err)?;
    }
    w.flush().map_err(err)?;
    let bytes = std::fs::metadata(path).map_err(err)?.len();
    Ok(Written { path: path.to_path_buf(), bytes, data_path: None, data_bytes: 0, params })
}

fn write_external(
    path: &Path,
    spec: &GraphSpec,
    mut metas: Vec<TensorProto>,
    data_lens: &[u64],
    seed: u64,
    params: u64,
) -> Result<Written, BuildError> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("model.onnx");
    let data_name = format!("{file_name}_data");
    let data_path = path.with_file_name(&data_name);
    let derr = |e| BuildError::Write { path: data_path.clone(), source: e };
    let file = File::create(&data_path).map_err(derr)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut offset = 0u64;
    let mut buf = Vec::with_capacity(4 * CHUNK);
    for ((t, meta), &len) in spec.tensors.iter().zip(metas.iter_mut()).zip(data_lens) {
        let pad = offset.next_multiple_of(EXTERNAL_ALIGN) - offset;
        w.write_all(&vec![0u8; pad as usize]).map_err(derr)?;
        offset += pad;
        meta.data_location = 1;
        meta.external_data = vec![
            entry("location", &data_name),
            entry("offset", &offset.to_string()),
            entry("length", &len.to_string()),
        ];
        write_values(&mut w, t, seed, &mut buf).map_err(derr)?;
        offset += len;
    }
    w.flush().map_err(derr)?;
    let mut model = header(spec);
    if let Some(g) = model.graph.as_mut() {
        g.initializer = metas;
    }
    std::fs::write(path, model.encode_to_vec())
        .map_err(|e| BuildError::Write { path: path.to_path_buf(), source: e })?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(Written { path: path.to_path_buf(), bytes, data_path: Some(data_path), data_bytes: offset, params })
}

fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto { key: key.into(), value: value.into() }
}
