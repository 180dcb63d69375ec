//! The generation loops: greedy decoding of a fixed number of tokens with the KV cache, for both
//! families and every layout, timed the way MLPerf Client and onnxruntime-genai define it.
//!
//! Inside the timed region there is only: writing the previous token into a tensor allocated
//! beforehand, `Session::run`, reading the new token ids, and moving the `present.*` outputs into
//! the next step's `past_key_values.*` (ONNX Runtime's own values: no host copy of the cache).
//! Every other input (attention masks and position ids of every step, empty caches) is built
//! before the clock starts; per step the loop allocates only the short list of input views that
//! `Session::run` takes (the cache vectors are swapped, not rebuilt).
//!
//! Graphs that declare `past_present_share_buffer` (fused builds, onnxruntime-genai's) keep the
//! cache as onnxruntime-genai does with that setting: one buffer per layer at the generation's
//! final length, allocated before the clock starts and bound as both `past` and `present`, so
//! `GroupQueryAttention` writes each step's keys in place instead of copying the whole cache
//! into a new output (see [`SharedCache`]).

use std::path::Path;
use std::time::Instant;

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session, SessionInputValue};
use ort::value::{DynTensor, DynValue, Tensor, TensorElementType};

use crate::error::HarnessError;
use crate::genai::{IoNames, layer_name};
use crate::session::LoadedModel;

pub use crate::generation::{Generation, Prompt};

#[derive(Debug, Clone, Copy)]
enum Src {
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
fn plan(
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
                Some(src) => Ok(src),
            }
        })
        .collect()
}

/// Inputs prepared before the clock starts.
struct Feeds {
    prompt: DynValue,
    token: Tensor<i64>,
    /// Attention mask of step t: decoder-only `[B, S + t]`, a fused decoder's `[B, 1 + t]`.
    masks: Vec<DynValue>,
    /// Decoder-only: position ids of step t.
    positions: Vec<DynValue>,
    enc_mask: Option<DynValue>,
    use_cache: [DynValue; 2],
    empty_self: Vec<DynValue>,
    empty_cross: Vec<DynValue>,
}

fn tensor_i64(shape: Vec<usize>, data: Vec<i64>) -> Result<DynValue, ort::Error> {
    Ok(Tensor::from_array((shape, data))?.into_dyn())
}

/// Greedy ids of the last position of each row of `logits` `[B, S, V]` (f32, or f16 from an
/// fp16 build). Inside the timed region: the element type is read from the value, never found
/// by a failed extraction (which would build an error every step).
fn argmax_last(v: &DynValue, out: &mut [i64]) -> Result<(), ort::Error> {
    fn rows<T: Copy + Into<f32>>(shape: &[i64], data: &[T], out: &mut [i64]) {
        let (s, vocab) = (shape[1] as usize, shape[2] as usize);
        for (r, slot) in out.iter_mut().enumerate() {
            let row = &data[(r * s + s - 1) * vocab..(r * s + s) * vocab];
            let mut best = (0usize, f32::NEG_INFINITY);
            for (i, &x) in row.iter().enumerate() {
                let x: f32 = x.into();
                if x > best.1 {
                    best = (i, x);
                }
            }
            *slot = best.0 as i64;
        }
    }
    if crate::session::is_half_value(v) {
        let (shape, data) = v.try_extract_tensor::<half::f16>()?;
        rows(shape, data, out)
    } else {
        let (shape, data) = v.try_extract_tensor::<f32>()?;
        rows(shape, data, out)
    }
    Ok(())
}

/// The outputs a step writes: logits, the self-attention cache, the cross-attention cache.
struct OutputNames<'a> {
    logits: &'a str,
    present: &'a [String],
    cross: &'a [String],
}

/// The self-attention cache as one buffer per layer that is both the graph's `past` input and
/// its `present` output, bound through an [`IoBinding`] (onnxruntime-genai's
/// `past_present_share_buffer`). `GroupQueryAttention` sees the same pointer on both sides and
/// appends the step's keys and values in place; the lengths come from the attention mask.
struct SharedCache {
    binding: IoBinding,
    /// The decoder's input names and how each is fed, in its input order.
    inputs: Vec<String>,
    plan: Vec<Src>,
    enc_dec: bool,
    /// `[B, kv_heads, final length, head_dim]`, indexed like [`Src::SelfPast`].
    buffers: Vec<DynTensor>,
    /// The logits of a one-token step, `[B, 1, V]`, bound from the second step on.
    step_logits: DynTensor,
    cpu: MemoryInfo<'static>,
}

impl SharedCache {
    /// Everything allocated and the cache bound before the clock starts.
    fn new(m: &LoadedModel, plan: &[Src], batch: usize, max_len: usize) -> Result<SharedCache, ort::Error> {
        let g = m.geometry;
        let alloc = Allocator::default();
        let half = |yes: bool| if yes { TensorElementType::Float16 } else { TensorElementType::Float32 };
        // Zeroed by `DynTensor::new` on the CPU: positions not yet written are never NaN.
        let buffers = (0..2 * g.layers)
            .map(|_| DynTensor::new(&alloc, half(g.half_cache), [batch, g.kv_heads, max_len, g.head_dim]))
            .collect::<Result<Vec<_>, _>>()?;
        let logits_half = crate::session::output_is_half(&m.first, &m.names.logits);
        let step_logits = DynTensor::new(&alloc, half(logits_half), [batch, 1, g.vocab_size])?;
        let mut binding = m.first.create_binding()?;
        let inputs: Vec<String> = m.first.inputs().iter().map(|i| i.name().to_string()).collect();
        for (name, src) in inputs.iter().zip(plan) {
            if let Src::SelfPast(i) = *src {
                binding.bind_input(name, &buffers[i])?;
            }
        }
        let cpu = MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Device, MemoryType::Default)?;
        let enc_dec = m.files.layout.is_encoder_decoder();
        Ok(SharedCache { binding, inputs, plan: plan.to_vec(), enc_dec, buffers, step_logits, cpu })
    }

    /// Binds what step `step` reads and writes. The cache is bound once; the token, mask and
    /// positions every step; the rest at the first step and, where it changes, the second (the
    /// cross-attention cache the first step computed).
    fn bind(
        &mut self,
        step: usize,
        feeds: &Feeds,
        enc_hidden: Option<&DynValue>,
        cross_past: &[DynValue],
        names: &OutputNames,
    ) -> Result<(), ort::Error> {
        let b = &mut self.binding;
        for (name, src) in self.inputs.iter().zip(&self.plan) {
            match *src {
                Src::InputIds if step == 0 && !self.enc_dec => b.bind_input(name, &feeds.prompt)?,
                Src::InputIds => b.bind_input(name, &feeds.token)?,
                Src::Mask => b.bind_input(name, &feeds.masks[step])?,
                Src::Positions => b.bind_input(name, &feeds.positions[step])?,
                Src::UseCache if step <= 1 => b.bind_input(name, &feeds.use_cache[step])?,
                Src::EncMask if step == 0 => b.bind_input(name, feeds.enc_mask.as_ref().expect("enc-dec"))?,
                Src::EncHidden if step == 0 => b.bind_input(name, enc_hidden.expect("encoder ran"))?,
                Src::CrossPast(i) if step == 0 => b.bind_input(name, &feeds.empty_cross[i])?,
                Src::CrossPast(i) if step == 1 => b.bind_input(name, &cross_past[i])?,
                _ => {}
            }
        }
        if step <= 1 {
            b.clear_outputs();
            if step == 0 {
                // The prompt's logits are `[B, S, V]`, and the cross-attention cache is new:
                // ONNX Runtime allocates both.
                b.bind_output_to_device(names.logits, &self.cpu)?;
                for n in names.cross {
                    b.bind_output_to_device(n, &self.cpu)?;
                }
            } else {
                b.bind_output(names.logits, &mut self.step_logits)?;
            }
            for (n, buffer) in names.present.iter().zip(self.buffers.iter_mut()) {
                b.bind_output(n, buffer)?;
            }
        }
        Ok(())
    }
}

impl LoadedModel {
    fn feeds(&self, prompt: &Prompt, new_tokens: usize, start: i64) -> Result<Feeds, ort::Error> {
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

    /// Greedy generation of `new_tokens` tokens after `prompt`, timed.
    pub fn generate(
        &mut self,
        prompt: &Prompt,
        new_tokens: usize,
        stop_at_eos: bool,
    ) -> Result<Generation, HarnessError> {
        if new_tokens == 0 {
            return Err(HarnessError::BadInput("the number of new tokens (-n) must be at least 1".into()));
        }
        if prompt.len == 0 || prompt.batch == 0 || prompt.ids.len() != prompt.batch * prompt.len {
            return Err(HarnessError::BadInput("the prompt must hold at least one token per row".into()));
        }
        let vocab = self.geometry.vocab_size as i64;
        if let Some(bad) = prompt.ids.iter().find(|&&i| i < 0 || i >= vocab) {
            return Err(HarnessError::BadInput(format!(
                "prompt token id {bad} is outside the vocabulary (0..{vocab})"
            )));
        }
        let enc_dec = self.files.layout.is_encoder_decoder();
        self.config
            .check_positions(enc_dec, prompt.len, new_tokens)
            .map_err(|e| HarnessError::BadInput(format!("{e} in {}", self.files.dir.join("config.json").display())))?;
        let start = self.config.decoder_start_token_id.unwrap_or(0);
        let eos = self.config.eos_token_id;
        let feeds = self.feeds(prompt, new_tokens, start).map_err(HarnessError::ort(&self.files.dir))?;
        let layers = self.geometry.layers;
        let first_plan = plan(&self.first, &self.files.first, enc_dec, &self.names, layers)?;
        let next_plan = match &self.next {
            Some(n) => plan(n, &self.files.next, enc_dec, &self.names, layers)?,
            None => first_plan.clone(),
        };
        let self_names: Vec<String> = (0..layers)
            .flat_map(|i| {
                if enc_dec {
                    ["key", "value"].map(|kv| format!("present.{i}.decoder.{kv}"))
                } else {
                    [layer_name(&self.names.present_key, i), layer_name(&self.names.present_value, i)]
                }
            })
            .collect();
        let cross_names: Vec<String> = if enc_dec {
            (0..layers).flat_map(|i| ["key", "value"].map(|kv| format!("present.{i}.encoder.{kv}"))).collect()
        } else {
            vec![]
        };
        let logits = self.names.logits.clone();
        let names = OutputNames { logits: &logits, present: &self_names, cross: &cross_names };
        let shared = if self.shares_cache() {
            // The last step's mask is as long as the cache gets: S + N − 1 tokens for a
            // decoder-only model, N for a decoder (its start token and N − 1 generated ones).
            let max_len = if enc_dec { new_tokens } else { prompt.len + new_tokens - 1 };
            Some(
                SharedCache::new(self, &first_plan, prompt.batch, max_len)
                    .map_err(HarnessError::ort(&self.files.dir))?,
            )
        } else {
            None
        };
        run_loop(self, feeds, &first_plan, &next_plan, &names, shared, new_tokens, stop_at_eos.then_some(eos).flatten())
    }
}

#[allow(clippy::too_many_arguments)] // the loop's fixed inputs, prepared by `generate`
fn run_loop(
    m: &mut LoadedModel,
    mut feeds: Feeds,
    first_plan: &[Src],
    next_plan: &[Src],
    names: &OutputNames,
    mut shared: Option<SharedCache>,
    new_tokens: usize,
    eos: Option<i64>,
) -> Result<Generation, HarnessError> {
    let batch = feeds.token.shape()[0] as usize;
    let enc_dec = m.files.layout.is_encoder_decoder();
    let dir = m.files.dir.clone();
    let logits_name = names.logits;
    let err = HarnessError::ort(&dir);
    let mut tokens: Vec<Vec<i64>> = vec![Vec::with_capacity(new_tokens); batch];
    let mut current = vec![0i64; batch];
    let mut itl_ns = Vec::with_capacity(new_tokens.saturating_sub(1));
    let mut decode_run_ns = 0u64;

    // Testing aid (debug builds only, recorded in the context): slows every decode step on purpose.
    let delay = crate::context::test_delay_us().map(std::time::Duration::from_micros);
    // The encoder's inputs, in its input order, are arranged before the clock starts.
    let enc_inputs: Option<Vec<SessionInputValue>> = match m.encoder.as_ref() {
        Some(enc) => {
            let mask = feeds.enc_mask.as_ref().expect("encoder-decoder feeds have a mask");
            Some(
                enc.inputs()
                    .iter()
                    .map(|i| match i.name() {
                        "input_ids" => Ok(SessionInputValue::from(&feeds.prompt)),
                        "attention_mask" => Ok(SessionInputValue::from(mask)),
                        other => Err(HarnessError::BadModel {
                            path: m.files.encoder.clone().unwrap_or_default(),
                            reason: format!("encoder input `{other}` is not one slmbench knows how to feed"),
                        }),
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        None => None,
    };
    let clock = Instant::now();
    let mut encoder_ns = None;
    let mut enc_hidden: Option<DynValue> = None;
    if let (Some(enc), Some(ordered)) = (m.encoder.as_mut(), enc_inputs) {
        let mut out = enc.run(ordered.as_slice()).map_err(&err)?;
        enc_hidden = Some(out.remove("last_hidden_state").ok_or_else(|| HarnessError::BadModel {
            path: m.files.encoder.clone().unwrap_or_default(),
            reason: "no `last_hidden_state` output".into(),
        })?);
        encoder_ns = Some(clock.elapsed().as_nanos() as u64);
    }

    // Two cache vectors swapped each step, so handing the cache over allocates nothing.
    let mut self_past: Vec<DynValue> = Vec::with_capacity(names.present.len());
    let mut next_past: Vec<DynValue> = Vec::with_capacity(names.present.len());
    let mut cross_past: Vec<DynValue> = vec![];
    let mut last = clock.elapsed().as_nanos() as u64;
    let mut ttft_ns = 0;
    let mut first_step_ns = 0;
    for step in 0..new_tokens {
        if step > 0 {
            let (_, data) = feeds.token.extract_tensor_mut();
            data.copy_from_slice(&current);
        }
        let plan = if step == 0 { first_plan } else { next_plan };
        next_past.clear();
        let (run_ns, new_cross) = {
            let sp = if step == 0 { &feeds.empty_self } else { &self_past };
            let cp = if step == 0 { &feeds.empty_cross } else { &cross_past };
            // A shared cache is fed through its binding; otherwise the inputs are listed.
            if let Some(sc) = shared.as_mut() {
                sc.bind(step, &feeds, enc_hidden.as_ref(), &cross_past, names).map_err(&err)?;
            }
            let inputs: Vec<SessionInputValue> = match shared {
                Some(_) => vec![],
                None => plan
                    .iter()
                    .map(|src| match *src {
                        Src::InputIds => {
                            if step == 0 && !enc_dec {
                                SessionInputValue::from(&feeds.prompt)
                            } else {
                                SessionInputValue::from(&feeds.token)
                            }
                        }
                        Src::Mask => SessionInputValue::from(&feeds.masks[step]),
                        Src::Positions => SessionInputValue::from(&feeds.positions[step]),
                        Src::EncMask => SessionInputValue::from(feeds.enc_mask.as_ref().expect("enc-dec")),
                        Src::EncHidden => SessionInputValue::from(enc_hidden.as_ref().expect("encoder ran")),
                        Src::UseCache => SessionInputValue::from(&feeds.use_cache[usize::from(step > 0)]),
                        Src::SelfPast(i) => SessionInputValue::from(&sp[i]),
                        Src::CrossPast(i) => SessionInputValue::from(&cp[i]),
                    })
                    .collect(),
            };
            let session = match (&mut m.next, step) {
                (Some(n), s) if s > 0 => n,
                _ => &mut m.first,
            };
            let t0 = Instant::now();
            let mut out = match &shared {
                Some(sc) => session.run_binding(&sc.binding),
                None => session.run(inputs.as_slice()),
            }
            .map_err(&err)?;
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
            let run_ns = t0.elapsed().as_nanos() as u64;
            let logits = out.get(logits_name).ok_or_else(|| HarnessError::BadModel {
                path: dir.clone(),
                reason: format!("no `{logits_name}` output"),
            })?;
            argmax_last(logits, &mut current).map_err(&err)?;
            let take = |out: &mut ort::session::SessionOutputs,
                        names: &[String],
                        into: &mut Vec<DynValue>|
             -> Result<(), HarnessError> {
                for n in names {
                    into.push(out.remove(n).ok_or_else(|| HarnessError::BadModel {
                        path: dir.clone(),
                        reason: format!("no `{n}` output to carry the cache"),
                    })?);
                }
                Ok(())
            };
            // A shared cache already holds the step's keys and values.
            if shared.is_none() {
                take(&mut out, names.present, &mut next_past)?;
            }
            // Cross-attention keys/values come from the first step only and are kept.
            let mut new_cross = vec![];
            if enc_dec && step == 0 {
                take(&mut out, names.cross, &mut new_cross)?;
            }
            (run_ns, new_cross)
        };
        let now = clock.elapsed().as_nanos() as u64;
        std::mem::swap(&mut self_past, &mut next_past);
        if step == 0 {
            if enc_dec {
                cross_past = new_cross;
            }
            ttft_ns = now;
            first_step_ns = now - encoder_ns.unwrap_or(0);
        } else {
            itl_ns.push(now - last);
            decode_run_ns += run_ns;
        }
        last = now;
        for (row, &t) in tokens.iter_mut().zip(&current) {
            row.push(t);
        }
        if let Some(e) = eos
            && current.iter().all(|&t| t == e)
        {
            break;
        }
    }
    Ok(Generation { tokens, ttft_ns, encoder_ns, first_step_ns, itl_ns, decode_run_ns })
}
