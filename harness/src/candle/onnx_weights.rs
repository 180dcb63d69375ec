//! The weights of slmbench's ONNX files, read where they lie: the files are memory-mapped and each
//! initializer's bytes (inline `raw_data`, or a range of the external data file) become a candle
//! tensor, so candle runs exactly the numbers ONNX Runtime runs, with one copy and no second
//! generation of weights. Only the protobuf fields an initializer needs are walked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use memmap2::Mmap;

use crate::error::HarnessError;

/// ONNX `TensorProto.DataType` values this reader takes.
const FLOAT: i32 = 1;
const FLOAT16: i32 = 10;
const BFLOAT16: i32 = 16;

/// Where one initializer's bytes are: a file (index into the maps) and a byte range.
#[derive(Debug, Clone)]
struct Entry {
    map: usize,
    start: usize,
    len: usize,
    dims: Vec<usize>,
    data_type: i32,
}

/// The initializers of one or more ONNX files, by name (the first file naming a tensor wins; the
/// encoder and decoder files of a pair both hold the shared embedding).
pub struct OnnxWeights {
    maps: Vec<Mmap>,
    entries: HashMap<String, Entry>,
    source: PathBuf,
}

fn bad(path: &Path, reason: impl Into<String>) -> HarnessError {
    HarnessError::BadModel { path: path.to_path_buf(), reason: reason.into() }
}

fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// One protobuf field: its number, and its value as a varint or a byte range.
enum Field {
    Varint(u64),
    Bytes(usize, usize),
}

/// The fields of the message in `b[start..end]`, in order.
fn fields(b: &[u8], start: usize, end: usize) -> Option<Vec<(u32, Field)>> {
    let mut at = start;
    let mut out = vec![];
    while at < end {
        let key = varint(b, &mut at)?;
        let (tag, wire) = ((key >> 3) as u32, key & 7);
        let value = match wire {
            0 => Field::Varint(varint(b, &mut at)?),
            1 => {
                at += 8;
                continue;
            }
            2 => {
                let len = varint(b, &mut at)? as usize;
                let s = at;
                at = at.checked_add(len)?;
                Field::Bytes(s, len)
            }
            5 => {
                at += 4;
                continue;
            }
            _ => return None,
        };
        out.push((tag, value));
    }
    (at == end).then_some(out)
}

impl OnnxWeights {
    /// Maps `paths` (and the external data files they name) and indexes their initializers.
    pub fn open(paths: &[PathBuf]) -> Result<OnnxWeights, HarnessError> {
        let mut w = OnnxWeights { maps: vec![], entries: HashMap::new(), source: paths[0].clone() };
        let mut externals: HashMap<PathBuf, usize> = HashMap::new();
        for path in paths {
            let model = w.map(path)?;
            let b: &[u8] = &w.maps[model];
            let top = fields(b, 0, b.len()).ok_or_else(|| bad(path, "not an ONNX protobuf"))?;
            let mut found = vec![];
            for (tag, f) in top {
                let (7, Field::Bytes(gs, gl)) = (tag, f) else { continue };
                for (tag, f) in fields(b, gs, gs + gl).ok_or_else(|| bad(path, "a malformed graph"))? {
                    let (5, Field::Bytes(ts, tl)) = (tag, f) else { continue };
                    found.push(tensor(b, ts, tl).ok_or_else(|| bad(path, "a malformed initializer"))?);
                }
            }
            for t in found {
                let entry = match t.external {
                    None => {
                        let (start, len) = t.raw.ok_or_else(|| bad(path, format!("{} has no raw data", t.name)))?;
                        Entry { map: model, start, len, dims: t.dims, data_type: t.data_type }
                    }
                    Some((location, offset, len)) => {
                        let data = path.with_file_name(&location);
                        let map = match externals.get(&data) {
                            Some(&m) => m,
                            None => {
                                let m = w.map(&data)?;
                                externals.insert(data, m);
                                m
                            }
                        };
                        Entry { map, start: offset, len, dims: t.dims, data_type: t.data_type }
                    }
                };
                if entry.start.checked_add(entry.len).is_none_or(|end| end > w.maps[entry.map].len()) {
                    return Err(bad(path, format!("{}'s data lies outside its file", t.name)));
                }
                w.entries.entry(t.name).or_insert(entry);
            }
        }
        Ok(w)
    }

    fn map(&mut self, path: &Path) -> Result<usize, HarnessError> {
        let file = std::fs::File::open(path).map_err(|e| bad(path, format!("cannot open: {e}")))?;
        // SAFETY: the model files are not modified while a run reads them (slmbench writes a
        // build into place before any run uses it).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| bad(path, format!("cannot map: {e}")))?;
        self.maps.push(map);
        Ok(self.maps.len() - 1)
    }

    /// Every initializer name with its stored dimensions.
    pub fn names(&self) -> Vec<(String, Vec<usize>)> {
        let mut v: Vec<_> = self.entries.iter().map(|(n, e)| (n.clone(), e.dims.clone())).collect();
        v.sort();
        v
    }

    /// Whether `name` is there.
    pub fn has(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The stored bytes and dimensions of initializer `name`, if it is there.
    pub fn raw(&self, name: &str) -> Option<(&[u8], &[usize])> {
        let e = self.entries.get(name)?;
        Some((&self.maps[e.map][e.start..e.start + e.len], &e.dims))
    }

    /// A `MatMulNBits` weight of the quantized builds (`NAME_Q<bits>` codes `[out, blocks,
    /// 32 × bits / 8]` with zero point 2^(bits−1), `NAME_scales` f32 `[out, blocks]`) repacked as
    /// ggml's q4_0 or q8_0 blocks for candle's quantized matrix multiply: the same codes, each
    /// scale rounded to f16 (ggml's block scale). `None` when `name` is not quantized.
    pub fn ggml(&self, name: &str, out_dim: usize, in_dim: usize) -> Option<Result<QTensor, HarnessError>> {
        let bits = [4u8, 8].into_iter().find(|b| self.entries.contains_key(&format!("{name}_Q{b}")))?;
        Some(self.repack(name, bits, out_dim, in_dim))
    }

    fn repack(&self, name: &str, bits: u8, out_dim: usize, in_dim: usize) -> Result<QTensor, HarnessError> {
        let fail = |why: String| bad(&self.source, format!("`{name}`: {why}"));
        let (codes, cdims) = self.raw(&format!("{name}_Q{bits}")).ok_or_else(|| fail("no codes".into()))?;
        let (scales, sdims) = self.raw(&format!("{name}_scales")).ok_or_else(|| fail("no scales".into()))?;
        let per_block = 32 * bits as usize / 8;
        let blocks = in_dim / 32;
        if !in_dim.is_multiple_of(32) || cdims != [out_dim, blocks, per_block] || sdims != [out_dim, blocks] {
            return Err(fail(format!(
                "codes {cdims:?} and scales {sdims:?} are not blocks of 32 of a [{out_dim}, {in_dim}] weight; candle \
                 takes block size 32"
            )));
        }
        let mut out = Vec::with_capacity(out_dim * blocks * (2 + 32 * bits as usize / 8));
        for (block, scale) in codes.chunks_exact(per_block).zip(scales.chunks_exact(4)) {
            let scale = f32::from_le_bytes(scale.try_into().expect("4 bytes"));
            out.extend_from_slice(&half::f16::from_f32(scale).to_le_bytes());
            if bits == 4 {
                // MatMulNBits packs element 2i low and 2i + 1 high; ggml's q4_0 packs element j
                // low and j + 16 high. Both store code = value / scale + 8.
                let code = |i: usize| (block[i / 2] >> (4 * (i % 2))) & 0x0f;
                out.extend((0..16).map(|j| code(j) | (code(j + 16) << 4)));
            } else {
                // q8_0 stores the signed value; MatMulNBits the value + 128.
                out.extend(block.iter().map(|&c| (c as i16 - 128) as i8 as u8));
            }
        }
        let dtype = if bits == 4 { GgmlDType::Q4_0 } else { GgmlDType::Q8_0 };
        qtensor_from_ggml(dtype, &out, vec![out_dim, in_dim], &Device::Cpu).map_err(|e| fail(e.to_string()))
    }

    /// Initializer `name` as a `dtype` tensor of the stored dimensions, which must be `dims`.
    pub fn get(&self, name: &str, dims: &[usize], dtype: DType, device: &Device) -> Result<Tensor, HarnessError> {
        let e = self.entries.get(name).ok_or_else(|| {
            bad(&self.source, format!("no initializer `{name}` (candle reads plain fp32/fp16 slmbench builds)"))
        })?;
        if e.dims != dims {
            return Err(bad(&self.source, format!("`{name}` is {:?}, expected {dims:?}", e.dims)));
        }
        let stored = match e.data_type {
            FLOAT => DType::F32,
            FLOAT16 => DType::F16,
            BFLOAT16 => DType::BF16,
            other => return Err(bad(&self.source, format!("`{name}` has ONNX data type {other}, not a float"))),
        };
        let bytes = &self.maps[e.map][e.start..e.start + e.len];
        if bytes.len() != dims.iter().product::<usize>() * stored.size_in_bytes() {
            return Err(bad(&self.source, format!("`{name}` holds {} bytes for {dims:?}", bytes.len())));
        }
        let t = Tensor::from_raw_buffer(bytes, stored, dims, device).map_err(|e| bad(&self.source, e.to_string()))?;
        if stored == dtype { Ok(t) } else { t.to_dtype(dtype).map_err(|e| bad(&self.source, e.to_string())) }
    }
}

struct Found {
    name: String,
    dims: Vec<usize>,
    data_type: i32,
    raw: Option<(usize, usize)>,
    external: Option<(String, usize, usize)>,
}

/// The fields of the `TensorProto` at `b[start..start + len]` that locate its data.
fn tensor(b: &[u8], start: usize, len: usize) -> Option<Found> {
    let mut t = Found { name: String::new(), dims: vec![], data_type: 0, raw: None, external: None };
    let (mut location, mut offset, mut length) = (None, 0usize, None);
    let text = |s: usize, l: usize| std::str::from_utf8(b.get(s..s + l)?).ok().map(str::to_string);
    for (tag, f) in fields(b, start, start + len)? {
        match (tag, f) {
            (1, Field::Varint(d)) => t.dims.push(d as usize),
            (1, Field::Bytes(s, l)) => {
                let mut at = s;
                while at < s + l {
                    t.dims.push(varint(b, &mut at)? as usize);
                }
            }
            (2, Field::Varint(d)) => t.data_type = d as i32,
            (8, Field::Bytes(s, l)) => t.name = text(s, l)?,
            (9, Field::Bytes(s, l)) => t.raw = Some((s, l)),
            (13, Field::Bytes(s, l)) => {
                let (mut key, mut value) = (String::new(), String::new());
                for (tag, f) in fields(b, s, s + l)? {
                    match (tag, f) {
                        (1, Field::Bytes(s, l)) => key = text(s, l)?,
                        (2, Field::Bytes(s, l)) => value = text(s, l)?,
                        _ => {}
                    }
                }
                match key.as_str() {
                    "location" => location = Some(value),
                    "offset" => offset = value.parse().ok()?,
                    "length" => length = Some(value.parse().ok()?),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if let Some(loc) = location {
        let elem = match t.data_type {
            FLOAT => 4,
            FLOAT16 | BFLOAT16 => 2,
            _ => 1,
        };
        let len = length.unwrap_or(t.dims.iter().product::<usize>() * elem);
        t.external = Some((loc, offset, len));
    }
    Some(t)
}
