//! Which tensors a model has (Hugging Face names and shapes) and their deterministic values.
//!
//! Values come from a counter-based generator (splitmix64 of seed, tensor name and element index),
//! so any element can be produced in any order: the ONNX writer emits `[in, out]` matrices
//! straight from the `[out, in]` definition without a transposed copy, and peak memory stays at one
//! write buffer whatever the model size.

use crate::config::{Config, FfnKind, Kind};

/// How a tensor's values are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Embedding rows: unit standard deviation.
    Embedding,
    /// A linear layer's `[out, in]` matrix: std = LINEAR_GAIN / sqrt(in).
    Linear,
    /// RMSNorm scale: 1 ± 0.2, so that a scale applied wrongly is visible.
    Norm,
}

/// Linear layers are drawn above the usual 1/sqrt(fan_in) so that attention and FFN outputs,
/// not the residual copy of the input embedding, decide the next token: at gain 1 the tiny
/// model repeats its input token forever; at 4 attention is so peaked that f32 rounding starts
/// to show against the f64 reference (measured, see the reference test).
pub const LINEAR_GAIN: f64 = 3.0;

/// How a float tensor's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    #[default]
    F32,
    F16,
    Bf16,
}

/// One parameter tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// Hugging Face name (T5 names for encoder-decoder, Llama names for decoder-only).
    pub name: String,
    /// Hugging Face shape: `[out, in]` for linear layers.
    pub shape: Vec<usize>,
    pub init: Init,
    /// Set on the two initializers that store a block-quantized copy of a `[N, K]` tensor
    /// (`shape` is then the source's, and its values come from the source's name).
    pub quant: Option<crate::quant::Part>,
    /// How a float tensor's values are stored: f32, or the f32 ones rounded to IEEE half
    /// precision (the fp16 build) or to bfloat16 (the bf16 build).
    pub storage: Storage,
    /// A packed linear weight: these tensors' rows stacked, each `(name, rows)` drawn as itself
    /// (the fused graphs' one query-key-value projection; empty for every other tensor).
    pub pack: Vec<(String, usize)>,
}

impl TensorSpec {
    /// A float tensor.
    pub fn new(name: &str, shape: Vec<usize>, init: Init) -> TensorSpec {
        TensorSpec { name: name.to_string(), shape, init, quant: None, storage: Storage::F32, pack: vec![] }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the ONNX graph stores it transposed (`[in, out]`, what `MatMul` wants).
    pub fn onnx_transposed(&self) -> bool {
        self.quant.is_none() && self.init == Init::Linear
    }

    pub fn onnx_shape(&self) -> Vec<usize> {
        match &self.quant {
            Some(q) => q.onnx_shape(self.shape[0], self.shape[1]),
            None if self.onnx_transposed() => vec![self.shape[1], self.shape[0]],
            None => self.shape.clone(),
        }
    }

    /// Bytes of the stored values.
    pub fn byte_len(&self) -> u64 {
        match &self.quant {
            Some(q) => q.byte_len(self.shape[0], self.shape[1]),
            None if self.storage != Storage::F32 => 2 * self.numel() as u64,
            None => 4 * self.numel() as u64,
        }
    }

    /// The name the values are drawn from (the source's, for a quantized copy).
    pub fn values_name(&self) -> &str {
        self.quant.as_ref().map(|q| q.source.as_str()).unwrap_or(&self.name)
    }
}

/// Names of one attention block's weights.
#[derive(Debug, Clone)]
pub struct AttnNames {
    pub norm: String,
    pub q: String,
    pub k: String,
    pub v: String,
    pub o: String,
}

impl AttnNames {
    /// The packed query-key-value projection's name (`q_proj` → `qkv_proj`, T5's `q` → `qkv`),
    /// as onnxruntime-genai's builder packs it.
    pub fn qkv(&self) -> String {
        match self.q.strip_suffix("q_proj.weight") {
            Some(p) => format!("{p}qkv_proj.weight"),
            None => format!("{}qkv.weight", self.q.strip_suffix("q.weight").unwrap_or(&self.q)),
        }
    }
}

/// Names of one feed-forward block's weights; `gate` is absent for plain GELU.
#[derive(Debug, Clone)]
pub struct FfnNames {
    pub norm: String,
    pub gate: Option<String>,
    pub up: String,
    pub down: String,
}

/// One layer: self-attention, optional cross-attention, FFN.
#[derive(Debug, Clone)]
pub struct LayerNames {
    pub self_attn: AttnNames,
    pub cross_attn: Option<AttnNames>,
    pub ffn: FfnNames,
}

/// Tensor names of a whole stack (encoder, decoder, or decoder-only).
#[derive(Debug, Clone)]
pub struct StackNames {
    pub embedding: String,
    pub layers: Vec<LayerNames>,
    pub final_norm: String,
    /// Separate output projection when embeddings are not tied.
    pub lm_head: Option<String>,
}

fn t5_attn(prefix: &str, sub: usize, kind: &str) -> AttnNames {
    AttnNames {
        norm: format!("{prefix}.layer.{sub}.layer_norm.weight"),
        q: format!("{prefix}.layer.{sub}.{kind}.q.weight"),
        k: format!("{prefix}.layer.{sub}.{kind}.k.weight"),
        v: format!("{prefix}.layer.{sub}.{kind}.v.weight"),
        o: format!("{prefix}.layer.{sub}.{kind}.o.weight"),
    }
}

fn t5_ffn(prefix: &str, sub: usize, ffn: FfnKind) -> FfnNames {
    let p = format!("{prefix}.layer.{sub}");
    let (gate, up) = match ffn {
        FfnKind::Gelu => (None, format!("{p}.DenseReluDense.wi.weight")),
        FfnKind::GatedGelu | FfnKind::Swiglu => {
            (Some(format!("{p}.DenseReluDense.wi_0.weight")), format!("{p}.DenseReluDense.wi_1.weight"))
        }
    };
    FfnNames { norm: format!("{p}.layer_norm.weight"), gate, up, down: format!("{p}.DenseReluDense.wo.weight") }
}

/// The encoder of an encoder-decoder (T5 names).
pub fn encoder_names(cfg: &Config) -> StackNames {
    StackNames {
        embedding: "shared.weight".into(),
        layers: (0..cfg.encoder_layers)
            .map(|i| {
                let p = format!("encoder.block.{i}");
                LayerNames { self_attn: t5_attn(&p, 0, "SelfAttention"), cross_attn: None, ffn: t5_ffn(&p, 1, cfg.ffn) }
            })
            .collect(),
        final_norm: "encoder.final_layer_norm.weight".into(),
        lm_head: None,
    }
}

/// The decoder of an encoder-decoder (T5 names).
pub fn decoder_names(cfg: &Config) -> StackNames {
    StackNames {
        embedding: "shared.weight".into(),
        layers: (0..cfg.decoder_layers)
            .map(|i| {
                let p = format!("decoder.block.{i}");
                LayerNames {
                    self_attn: t5_attn(&p, 0, "SelfAttention"),
                    cross_attn: Some(t5_attn(&p, 1, "EncDecAttention")),
                    ffn: t5_ffn(&p, 2, cfg.ffn),
                }
            })
            .collect(),
        final_norm: "decoder.final_layer_norm.weight".into(),
        lm_head: (!cfg.tie_embeddings).then(|| "lm_head.weight".into()),
    }
}

/// A decoder-only model (Llama names).
pub fn decoder_only_names(cfg: &Config) -> StackNames {
    StackNames {
        embedding: "model.embed_tokens.weight".into(),
        layers: (0..cfg.decoder_layers)
            .map(|i| {
                let p = format!("model.layers.{i}");
                let gated = cfg.ffn != FfnKind::Gelu;
                LayerNames {
                    self_attn: AttnNames {
                        norm: format!("{p}.input_layernorm.weight"),
                        q: format!("{p}.self_attn.q_proj.weight"),
                        k: format!("{p}.self_attn.k_proj.weight"),
                        v: format!("{p}.self_attn.v_proj.weight"),
                        o: format!("{p}.self_attn.o_proj.weight"),
                    },
                    cross_attn: None,
                    ffn: FfnNames {
                        norm: format!("{p}.post_attention_layernorm.weight"),
                        gate: gated.then(|| format!("{p}.mlp.gate_proj.weight")),
                        up: format!("{p}.mlp.up_proj.weight"),
                        down: format!("{p}.mlp.down_proj.weight"),
                    },
                }
            })
            .collect(),
        final_norm: "model.norm.weight".into(),
        lm_head: (!cfg.tie_embeddings).then(|| "lm_head.weight".into()),
    }
}

/// Every tensor of a stack, in a fixed order (the order written to files).
pub fn stack_tensors(cfg: &Config, names: &StackNames) -> Vec<TensorSpec> {
    let d = cfg.d_model;
    let lin = |name: &str, out: usize, inp: usize| TensorSpec::new(name, vec![out, inp], Init::Linear);
    let norm = |name: &str| TensorSpec::new(name, vec![d], Init::Norm);
    let mut v = vec![TensorSpec::new(&names.embedding, vec![cfg.vocab_size, d], Init::Embedding)];
    let attn = |v: &mut Vec<TensorSpec>, a: &AttnNames| {
        v.push(norm(&a.norm));
        v.push(lin(&a.q, cfg.q_dim(), d));
        v.push(lin(&a.k, cfg.kv_dim(), d));
        v.push(lin(&a.v, cfg.kv_dim(), d));
        v.push(lin(&a.o, d, cfg.q_dim()));
    };
    for layer in &names.layers {
        attn(&mut v, &layer.self_attn);
        if let Some(c) = &layer.cross_attn {
            attn(&mut v, c);
        }
        v.push(norm(&layer.ffn.norm));
        if let Some(g) = &layer.ffn.gate {
            v.push(lin(g, cfg.d_ff, d));
        }
        v.push(lin(&layer.ffn.up, cfg.d_ff, d));
        v.push(lin(&layer.ffn.down, d, cfg.d_ff));
    }
    v.push(norm(&names.final_norm));
    if let Some(h) = &names.lm_head {
        v.push(TensorSpec::new(h, vec![cfg.vocab_size, d], Init::Linear));
    }
    v
}

/// The packed `[q; k; v]` projection of every self-attention block of `names` (`[q_dim + 2 ·
/// kv_dim, d]`, values drawn per part, so they equal the separate weights').
pub fn packed_qkv(cfg: &Config, names: &StackNames) -> Vec<TensorSpec> {
    names
        .layers
        .iter()
        .map(|layer| {
            let a = &layer.self_attn;
            let mut t = TensorSpec::new(&a.qkv(), vec![cfg.q_dim() + 2 * cfg.kv_dim(), cfg.d_model], Init::Linear);
            t.pack = vec![(a.q.clone(), cfg.q_dim()), (a.k.clone(), cfg.kv_dim()), (a.v.clone(), cfg.kv_dim())];
            t
        })
        .collect()
}

/// All tensors of a model, each once (the encoder and decoder share the embedding).
pub fn model_tensors(cfg: &Config) -> Vec<TensorSpec> {
    match cfg.kind {
        Kind::EncoderDecoder => {
            let mut v = stack_tensors(cfg, &encoder_names(cfg));
            v.extend(stack_tensors(cfg, &decoder_names(cfg)).into_iter().skip(1));
            v
        }
        Kind::DecoderOnly => stack_tensors(cfg, &decoder_only_names(cfg)),
    }
}

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, to turn a tensor name into a stream key independent of platform and Rust version.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Generates the values of one tensor.
pub struct Generator {
    key: u64,
    lo: f32,
    span: f32,
    /// A packed tensor's parts after the first: (first element, its key), in order.
    parts: Vec<(u64, u64)>,
}

impl Generator {
    pub fn new(seed: u64, spec: &TensorSpec) -> Generator {
        let key_of = |name: &str| mix(seed ^ fnv1a(name).rotate_left(17));
        let key = match spec.pack.first() {
            Some((first, _)) => key_of(first),
            None => key_of(spec.values_name()),
        };
        let cols = spec.shape.get(1).copied().unwrap_or(1) as u64;
        let mut start = 0u64;
        let mut parts = vec![];
        for (i, (name, rows)) in spec.pack.iter().enumerate() {
            if i > 0 {
                parts.push((start, key_of(name)));
            }
            start += *rows as u64 * cols;
        }
        // Uniform on [c - a, c + a] has std a / sqrt(3).
        let (centre, half) = match spec.init {
            Init::Embedding => (0.0, 3f64.sqrt()),
            Init::Linear => (0.0, 3f64.sqrt() * LINEAR_GAIN / (spec.shape[1] as f64).sqrt()),
            Init::Norm => (1.0, 0.2),
        };
        Generator { key, lo: (centre - half) as f32, span: (2.0 * half) as f32, parts }
    }

    /// Element `i` in the Hugging Face (row-major, `[out, in]`) order.
    #[inline]
    pub fn at(&self, i: u64) -> f32 {
        // A packed tensor's element is its part's element at the same place within the part.
        let (key, i) = match self.parts.iter().rev().find(|&&(start, _)| i >= start) {
            Some(&(start, key)) => (key, i - start),
            None => (self.key, i),
        };
        let bits = mix(key.wrapping_add(i.wrapping_add(1).wrapping_mul(GAMMA)));
        let u = (bits >> 40) as f32 * (1.0 / (1u64 << 24) as f32);
        self.lo + self.span * u
    }

    /// Appends little-endian f32 bytes of elements `[start, end)` in Hugging Face order.
    pub fn fill_hf(&self, start: u64, end: u64, out: &mut Vec<u8>) {
        for i in start..end {
            out.extend_from_slice(&self.at(i).to_le_bytes());
        }
    }

    /// Appends rows `[r0, r1)` of the `[in, out]` (ONNX) matrix whose Hugging Face definition is
    /// `[out, in]` = `[rows_hf, cols_hf]`.
    pub fn fill_transposed(&self, rows_hf: usize, cols_hf: usize, r0: usize, r1: usize, out: &mut Vec<u8>) {
        for c in r0..r1 {
            for r in 0..rows_hf {
                out.extend_from_slice(&self.at((r * cols_hf + c) as u64).to_le_bytes());
            }
        }
    }
}
