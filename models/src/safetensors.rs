//! `model.safetensors` with Hugging Face names and `[out, in]` layout, streamed like the ONNX
//! files, so other runtimes (candle, PyTorch) load exactly the same weights.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::BuildError;
use crate::weights::{Generator, TensorSpec};

pub fn write(
    path: &Path,
    tensors: &[TensorSpec],
    seed: u64,
    metadata: &BTreeMap<String, String>,
) -> Result<u64, BuildError> {
    write_with(path, tensors, seed, metadata, None)
}

/// As [`write`]; with `dequantized`, every linear weight holds what its quantized copy decodes to
/// (what a quantized graph computes with), for checking quantized graphs against the reference.
pub fn write_with(
    path: &Path,
    tensors: &[TensorSpec],
    seed: u64,
    metadata: &BTreeMap<String, String>,
    dequantized: Option<&crate::quant::QuantOptions>,
) -> Result<u64, BuildError> {
    let err = |e| BuildError::Write { path: path.to_path_buf(), source: e };
    // BTreeMap: keys sorted, so the header (and file) is byte-identical for the same model.
    let mut header = BTreeMap::new();
    let mut offset = 0u64;
    for t in tensors {
        let len = 4 * t.numel() as u64;
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    header.insert("__metadata__".into(), serde_json::to_value(metadata).expect("string map"));
    let mut json = serde_json::to_vec(&header).expect("header serialises");
    // The format pads the header with spaces to an 8-byte boundary.
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let file = File::create(path).map_err(err)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&(json.len() as u64).to_le_bytes()).map_err(err)?;
    w.write_all(&json).map_err(err)?;
    let mut buf = Vec::with_capacity(1 << 20);
    for t in tensors {
        let g = Generator::new(seed, t);
        if let Some(q) = dequantized.filter(|_| t.init == crate::weights::Init::Linear || t.quant.is_some()) {
            let (rows, k) = (t.shape[0], t.shape[1]);
            for r in 0..rows {
                let row: Vec<f32> = (0..k).map(|c| g.at((r * k + c) as u64)).collect();
                let (mut codes, mut scales) = (vec![], vec![]);
                crate::quant::quantize_row(&row, q.bits, q.block_size, &mut codes, &mut scales);
                let back = crate::quant::dequantize_row(&codes, &scales, q.bits, q.block_size, k);
                buf.clear();
                buf.extend(back.iter().flat_map(|v| v.to_le_bytes()));
                w.write_all(&buf).map_err(err)?;
            }
            continue;
        }
        let n = t.numel() as u64;
        let mut i = 0;
        while i < n {
            let end = (i + (1 << 18)).min(n);
            buf.clear();
            g.fill_hf(i, end, &mut buf);
            w.write_all(&buf).map_err(err)?;
            i = end;
        }
    }
    w.flush().map_err(err)?;
    Ok(8 + json.len() as u64 + offset)
}
