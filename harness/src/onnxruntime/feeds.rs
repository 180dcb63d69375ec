//! What a generation feeds its sessions: how each input is fed (`plan`), and every input
//! prepared before the clock starts (`Feeds`).

use std::path::Path;

use ort::session::Session;
use ort::value::{DynValue, Tensor};

use crate::error::HarnessError;
use crate::files::genai::{IoNames, layer_name};
use crate::generation::Prompt;
use crate::onnxruntime::session::LoadedModel;

#[derive(Debug, Clone, Copy)]
pub(super) enum Src {
    InputIds,
    Mask,
    Positions,
    EncMask,
    EncHidden,
    UseCache,
    SelfPast(usize),
    CrossPast(usize),
}

fn past_index(rest: &str) -> Option<(usize, &str)> {
    let (layer, kind) = rest.split_once('.')?;
    Some((layer.parse().ok()?, kind))
}

/// How each input of a session is fed, in the session's input order. Decoder-only graphs are
/// matched by `names` (Optimum's, or a genai_config.json's patterns) for `layers` layers.
pub(super) fn plan(
    session: &Session,
    path: &Path,
    enc_dec: bool,
    names: &IoNames,
    layers: usize,
) -> Result<Vec<Src>, HarnessError> {
    let mut named: std::collections::HashMap<String, Src> = std::collections::HashMap::new();
    if !enc_dec {
        named.insert(names.input_ids.clone(), Src::InputIds);
        named.insert(names.attention_mask.clone(), Src::Mask);
        named.insert(names.position_ids.clone(), Src::Positions);
        for l in 0..layers {
            named.insert(layer_name(&names.past_key, l), Src::SelfPast(2 * l));
            named.insert(layer_name(&names.past_value, l), Src::SelfPast(2 * l + 1));
        }
    }
    session
        .inputs()
        .iter()
        .map(|i| {
            let name = i.name();
            if let Some(&src) = named.get(name) {
                return Ok(src);
            }
            let kv = |kind: &str| match kind {
                "key" => Some(0),
                "value" => Some(1),
                _ => None,
            };
            let src = match name {
                "input_ids" => Some(Src::InputIds),
                "attention_mask" if !enc_dec => Some(Src::Mask),
                // Fused encoder-decoder decoders: the self-attention lengths.
                "decoder_attention_mask" if enc_dec => Some(Src::Mask),
                "position_ids" => Some(Src::Positions),
                "encoder_attention_mask" => Some(Src::EncMask),
                "encoder_hidden_states" => Some(Src::EncHidden),
                "use_cache_branch" => Some(Src::UseCache),
                _ => name.strip_prefix("past_key_values.").and_then(past_index).and_then(|(l, kind)| {
                    match kind.split_once('.') {
                        Some(("decoder", k)) => kv(k).map(|j| Src::SelfPast(2 * l + j)),
                        Some(("encoder", k)) => kv(k).map(|j| Src::CrossPast(2 * l + j)),
                        None => kv(kind).map(|j| Src::SelfPast(2 * l + j)),
                        _ => None,
                    }
                }),
            };
            let bad = |reason: String| HarnessError::BadModel { path: path.to_path_buf(), reason };
            match src {
                None => Err(bad(format!("input `{name}` is not one slmbench knows how to feed"))),
                // A cache input beyond the layers the graph's key inputs count (found by fuzzing:
                // `past_key_values.1.value` without `past_key_values.1.key`), or a cross-attention
                // cache in a decoder-only graph, has nothing to be fed from.
                Some(Src::SelfPast(i)) if i >= 2 * layers => Err(bad(format!(
                    "input `{name}` is a cache of layer {}, but the graph's key inputs count {layers} layers",
                    i / 2
                ))),
                Some(Src::CrossPast(i)) if !enc_dec || i >= 2 * layers => {
                    Err(bad(format!("input `{name}` is a cross-attention cache the graph's other inputs do not match")))
                }
                // Found by fuzzing: a decoder-only `model.onnx` asking for `encoder_hidden_states`.
                Some(Src::EncHidden | Src::EncMask) if !enc_dec => Err(bad(format!(
                    "input `{name}` is fed from an encoder, and this layout is decoder-only: it has none"
                ))),
                Some(src) => Ok(src),
            }
        })
        .collect()
}

/// Inputs prepared before the clock starts.
pub(super) struct Feeds {
    pub(super) prompt: DynValue,
    pub(super) token: Tensor<i64>,
    /// Attention mask of step t: decoder-only `[B, S + t]`, a fused decoder's `[B, 1 + t]`.
    pub(super) masks: Vec<DynValue>,
    /// Decoder-only: position ids of step t.
    pub(super) positions: Vec<DynValue>,
    pub(super) enc_mask: Option<DynValue>,
    pub(super) use_cache: [DynValue; 2],
    pub(super) empty_self: Vec<DynValue>,
    pub(super) empty_cross: Vec<DynValue>,
}

fn tensor_i64(shape: Vec<usize>, data: Vec<i64>) -> Result<DynValue, ort::Error> {
    Ok(Tensor::from_array((shape, data))?.into_dyn())
}

impl LoadedModel {
    pub(super) fn feeds(&self, prompt: &Prompt, new_tokens: usize, start: i64) -> Result<Feeds, ort::Error> {
        let (b, s) = (prompt.batch, prompt.len);
        let g = self.geometry;
        let enc_dec = self.files.layout.is_encoder_decoder();
        let empty = |heads: usize, dim: usize| -> Result<DynValue, ort::Error> {
            let shape = vec![b, heads, 0, dim];
            Ok(if g.half_cache {
                Tensor::<half::f16>::from_array((shape, Vec::<half::f16>::new()))?.into_dyn()
            } else {
                Tensor::<f32>::from_array((shape, Vec::<f32>::new()))?.into_dyn()
            })
        };
        let mut masks = vec![];
        let mut positions = vec![];
        for t in 0..new_tokens {
            let total = if enc_dec { 1 + t } else { s + t };
            masks.push(tensor_i64(vec![b, total], vec![1; b * total])?);
            if !enc_dec {
                let pos: Vec<i64> =
                    if t == 0 { (0..b).flat_map(|_| 0..s as i64).collect() } else { vec![(s + t - 1) as i64; b] };
                positions.push(tensor_i64(vec![b, if t == 0 { s } else { 1 }], pos)?);
            }
        }
        Ok(Feeds {
            prompt: tensor_i64(vec![b, s], prompt.ids.clone())?,
            token: Tensor::from_array((vec![b, 1], vec![start; b]))?,
            masks,
            positions,
            enc_mask: if enc_dec { Some(tensor_i64(vec![b, s], vec![1; b * s])?) } else { None },
            use_cache: [
                Tensor::from_array((vec![1], vec![false]))?.into_dyn(),
                Tensor::from_array((vec![1], vec![true]))?.into_dyn(),
            ],
            empty_self: (0..2 * g.layers).map(|_| empty(g.kv_heads, g.head_dim)).collect::<Result<_, _>>()?,
            empty_cross: if enc_dec {
                (0..2 * g.layers).map(|_| empty(g.cross_kv_heads, g.cross_head_dim)).collect::<Result<_, _>>()?
            } else {
                vec![]
            },
        })
    }
}
