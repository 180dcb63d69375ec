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
//! into a new output (see [`SharedCache`]). Per step the loop then rebinds only the token, the
//! step's mask and positions (handles to tensors built beforehand, no copy of their data).
//!
//! With `--io-binding` (other graphs, or other providers) every step runs through an `IoBinding`
//! instead, the caches and the encoder's output left in the provider's memory (see
//! [`Bindings`]); the timed regions are the same.

use ort::session::SessionInputValue;
use ort::value::DynValue;

use super::bound::Bindings;
use super::feeds::{Feeds, Src, plan};
use super::shared_cache::{OutputNames, SharedCache};
use crate::clock::Clock;
use crate::error::HarnessError;
use crate::files::genai::layer_name;
use crate::generation::{Generation, Prompt, Steps};
use crate::onnxruntime::session::LoadedModel;

/// Greedy ids of the last position of each row of `logits` `[B, S, V]` (f32, or f16 from an
/// fp16 build). Inside the timed region: the element type is read from the value, never found
/// by a failed extraction (which would build an error every step).
fn argmax_last(v: &DynValue, out: &mut [i64]) -> Result<(), ort::Error> {
    argmax_at(v, None, out)
}

/// As [`argmax_last`], at position `at` of every row (a padded chunk's last real token).
pub(super) fn argmax_at(v: &DynValue, at: Option<usize>, out: &mut [i64]) -> Result<(), ort::Error> {
    fn rows<T: Copy + Into<f32>>(shape: &[i64], data: &[T], at: Option<usize>, out: &mut [i64]) {
        let (s, vocab) = (shape[1] as usize, shape[2] as usize);
        let p = at.unwrap_or(s - 1);
        for (r, slot) in out.iter_mut().enumerate() {
            let row = &data[(r * s + p) * vocab..(r * s + p + 1) * vocab];
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
    if crate::onnxruntime::session::is_half_value(v) {
        let (shape, data) = v.try_extract_tensor::<half::f16>()?;
        rows(shape, data, at, out)
    } else {
        let (shape, data) = v.try_extract_tensor::<f32>()?;
        rows(shape, data, at, out)
    }
    Ok(())
}

impl LoadedModel {
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
        if self.static_positions().is_some() {
            let eos = stop_at_eos.then_some(self.config.eos_token_id).flatten();
            return self.generate_static(prompt, new_tokens, eos);
        }
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
        // A shared cache is bound already; otherwise `--io-binding` binds every step.
        let bind = shared.is_none() && self.settings.io_binding;
        let eos = stop_at_eos.then_some(eos).flatten();
        run_loop(self, feeds, (&first_plan, &next_plan), &names, (shared, bind), new_tokens, eos)
    }
}

fn run_loop(
    m: &mut LoadedModel,
    mut feeds: Feeds,
    (first_plan, next_plan): (&[Src], &[Src]),
    names: &OutputNames,
    (mut shared, bind): (Option<SharedCache>, bool),
    new_tokens: usize,
    eos: Option<i64>,
) -> Result<Generation, HarnessError> {
    let batch = feeds.token.shape()[0] as usize;
    let enc_dec = m.files.layout.is_encoder_decoder();
    let dir = m.files.dir.clone();
    let logits_name = names.logits;
    let err = HarnessError::ort(&dir);
    let mut current = vec![0i64; batch];

    // Testing aid (debug builds only, recorded in the context): slows every decode step on purpose.
    let delay = slmbench_results::context::test_delay_us().map(std::time::Duration::from_micros);
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
    let mut bound = if bind { Some(Bindings::new(m, &feeds, first_plan, next_plan)?) } else { None };
    let clock = Clock::start();
    let mut encoder_ns = None;
    let mut enc_hidden: Option<DynValue> = None;
    if let (Some(enc), Some(ordered)) = (m.encoder.as_mut(), enc_inputs) {
        let mut out = match bound.as_ref().and_then(Bindings::encoder) {
            Some(b) => enc.run_binding(b),
            None => enc.run(ordered.as_slice()),
        }
        .map_err(&err)?;
        enc_hidden = Some(out.remove("last_hidden_state").ok_or_else(|| HarnessError::BadModel {
            path: m.files.encoder.clone().unwrap_or_default(),
            reason: "no `last_hidden_state` output".into(),
        })?);
        encoder_ns = Some(clock.ns());
    }

    // Two cache vectors swapped each step, so handing the cache over allocates nothing.
    let mut self_past: Vec<DynValue> = Vec::with_capacity(names.present.len());
    let mut next_past: Vec<DynValue> = Vec::with_capacity(names.present.len());
    let mut cross_past: Vec<DynValue> = vec![];
    let mut steps = Steps::new(batch, new_tokens, encoder_ns, clock.ns(), eos);
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
            if let Some(b) = bound.as_mut() {
                b.bind(step, &feeds, enc_hidden.as_ref(), sp, cp, names).map_err(&err)?;
            }
            let inputs: Vec<SessionInputValue> = match (&shared, &bound) {
                (Some(_), _) | (_, Some(_)) => vec![],
                (None, None) => plan
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
            let t0 = Clock::start();
            let mut out = match (&shared, &bound) {
                (Some(sc), _) => session.run_binding(&sc.binding),
                (None, Some(b)) => session.run_binding(b.step(step)),
                (None, None) => session.run(inputs.as_slice()),
            }
            .map_err(&err)?;
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
            let run_ns = t0.ns();
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
        let now = clock.ns();
        std::mem::swap(&mut self_past, &mut next_past);
        if step == 0 && enc_dec {
            cross_past = new_cross;
        }
        if steps.record(step, now, run_ns, &current) {
            break;
        }
    }
    Ok(steps.finish())
}
