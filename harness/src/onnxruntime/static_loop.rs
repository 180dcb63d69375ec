//! Greedy generation with slmbench's static-shape builds (`models build --shapes static`): every
//! input has fixed dimensions, the caches are fixed buffers of `M` positions that each step
//! writes at its positions, and masks say which positions hold tokens.
//!
//! A decoder-only prompt goes through `static_prefill.onnx` in chunks of `C` tokens (the last
//! one padded); TTFT covers every chunk. An encoder-decoder prompt is padded to the encoder's
//! `M` positions; the encoder also returns the cross-attention caches. Later tokens go one a
//! step through the decode graph. The clock covers the same regions as the dynamic loop's.

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};
use slmbench_results::model::Layout;

use super::feeds::{Src, plan};
use super::static_bound::StaticBindings;
use crate::clock::Clock;
use crate::error::HarnessError;
use crate::generation::{Generation, Prompt, Steps};
use crate::onnxruntime::session::LoadedModel;
use crate::onnxruntime::session::dims_of;

/// Each input of a static graph, in its order, with how it is fed (the dynamic layouts' plan:
/// a static graph has no `encoder_hidden_states` or `use_cache_branch`).
fn slots(m: &LoadedModel, session: &Session, path: &std::path::Path) -> Result<Vec<(String, Src)>, HarnessError> {
    let plan = plan(session, path, m.files.layout.is_encoder_decoder(), &m.names, m.geometry.layers)?;
    session
        .inputs()
        .iter()
        .zip(plan)
        .map(|(i, src)| match src {
            Src::EncHidden | Src::UseCache => Err(HarnessError::BadModel {
                path: path.to_path_buf(),
                reason: format!("input `{}` is not one a static build has", i.name()),
            }),
            src => Ok((i.name().to_string(), src)),
        })
        .collect()
}

fn i64_tensor(shape: [usize; 2], data: Vec<i64>) -> Result<DynValue, ort::Error> {
    Ok(Tensor::from_array((shape.to_vec(), data))?.into_dyn())
}

/// `[B, M]` mask with the first `n` positions of every row set.
fn mask(b: usize, m: usize, n: usize) -> Result<DynValue, ort::Error> {
    i64_tensor([b, m], (0..b * m).map(|i| i64::from(i % m < n)).collect())
}

/// One run's inputs besides the caches: ids, positions, mask.
struct Run {
    ids: Option<DynValue>,
    positions: DynValue,
    mask: DynValue,
    /// The row of the logits that predicts the next token.
    row: usize,
}

impl LoadedModel {
    /// The cache positions of a static build (`None` for dynamic layouts).
    pub(super) fn static_positions(&self) -> Option<usize> {
        if !matches!(self.files.layout, Layout::DecoderOnlyStatic | Layout::EncoderDecoderStatic) {
            return None;
        }
        let key = if self.files.layout.is_encoder_decoder() {
            "past_key_values.0.decoder.key"
        } else {
            "past_key_values.0.key"
        };
        let dims = dims_of(self.next.as_ref().unwrap_or(&self.first), key)?;
        dims.get(2).copied().filter(|&m| m > 0).map(|m| m as usize)
    }

    /// Greedy generation of `new_tokens` after `prompt` with a static build, timed.
    pub(super) fn generate_static(
        &mut self,
        prompt: &Prompt,
        new_tokens: usize,
        eos: Option<i64>,
    ) -> Result<Generation, HarnessError> {
        let dir = self.files.dir.clone();
        let err = HarnessError::ort(&dir);
        let enc_dec = self.files.layout.is_encoder_decoder();
        let dims = |s: &Session, name: &str| dims_of(s, name).unwrap_or_default();
        let ids_dims = dims(&self.first, "input_ids");
        let self_key = if enc_dec { "past_key_values.0.decoder.key" } else { "past_key_values.0.key" };
        let (b, chunk, m) =
            match (ids_dims.as_slice(), dims(self.next.as_ref().unwrap_or(&self.first), self_key).get(2)) {
                (&[b, c], Some(&m)) if b > 0 && c > 0 && m > 0 => (b as usize, c as usize, m as usize),
                _ => {
                    return Err(HarnessError::BadModel {
                        path: self.files.first.clone(),
                        reason: "a static build's inputs have fixed dimensions; these do not".into(),
                    });
                }
            };
        let (s, n) = (prompt.len, new_tokens);
        let flags = "rebuild with `models build --shapes static` and other --static-batch / --max-context";
        if prompt.batch != b {
            return Err(HarnessError::BadInput(format!(
                "{} is built for batch {b}, not {}: {flags}",
                dir.display(),
                prompt.batch
            )));
        }
        let chunks = if enc_dec { 1 } else { s.div_ceil(chunk) };
        let (need, what) = if enc_dec {
            (s.max(n), "the prompt and the new tokens each".to_string())
        } else {
            ((chunks * chunk).max(s + n - 1), format!("the prompt (in whole chunks of {chunk}) and new tokens"))
        };
        if need > m {
            return Err(HarnessError::BadInput(format!(
                "{} holds {m} positions; {what} need {need}: {flags}",
                dir.display()
            )));
        }
        let row = |t: usize| -> &[i64] { &prompt.ids[t * s..(t + 1) * s] };
        let start = self.config.decoder_start_token_id.unwrap_or(0);
        // Every input is built before the clock starts.
        let build = || -> Result<_, ort::Error> {
            let cache = |heads: usize, dim: usize| -> Result<Vec<DynValue>, ort::Error> {
                (0..2 * self.geometry.layers)
                    .map(|_| {
                        Ok(Tensor::<f32>::from_array((vec![b, heads, m, dim], vec![0f32; b * heads * m * dim]))?
                            .into_dyn())
                    })
                    .collect()
            };
            let empty_self = cache(self.geometry.kv_heads, self.geometry.head_dim)?;
            let mut first_runs = vec![];
            let mut enc = None;
            if enc_dec {
                let ids: Vec<i64> =
                    (0..b).flat_map(|t| (0..m).map(move |k| if k < s { row(t)[k] } else { 0 })).collect();
                enc = Some((i64_tensor([b, m], ids)?, mask(b, m, s)?));
            } else {
                for j in 0..chunks {
                    let ids = (0..b)
                        .flat_map(|t| (j * chunk..(j + 1) * chunk).map(move |k| if k < s { row(t)[k] } else { 0 }));
                    let positions = (0..b).flat_map(|_| (j * chunk..(j + 1) * chunk).map(|k| k as i64));
                    first_runs.push(Run {
                        ids: Some(i64_tensor([b, chunk], ids.collect())?),
                        positions: i64_tensor([b, chunk], positions.collect())?,
                        mask: mask(b, m, s.min((j + 1) * chunk))?,
                        row: (s - 1) - j * chunk,
                    });
                }
            }
            // Decoder step t feeds the token at position p: the prompt's S + t − 1, or t.
            let mut steps = vec![];
            for t in usize::from(!enc_dec)..n {
                let p = if enc_dec { t } else { s + t - 1 };
                steps.push(Run {
                    ids: None,
                    positions: i64_tensor([b, 1], vec![p as i64; b])?,
                    mask: mask(b, m, p + 1)?,
                    row: 0,
                });
            }
            if enc_dec {
                first_runs.push(steps.remove(0));
            }
            Ok((empty_self, enc, first_runs, steps, Tensor::from_array((vec![b, 1], vec![start; b]))?.into_dyn()))
        };
        let (mut cache, enc, first_runs, steps, mut token) = build().map_err(&err)?;
        let first_slots = slots(self, &self.first, &self.files.first)?;
        let next_slots = match &self.next {
            Some(nx) => slots(self, nx, &self.files.next)?,
            None => first_slots.clone(),
        };
        let present: Vec<String> = (0..self.geometry.layers)
            .flat_map(|i| {
                ["key", "value"]
                    .map(|kv| if enc_dec { format!("present.{i}.decoder.{kv}") } else { format!("present.{i}.{kv}") })
            })
            .collect();
        let logits_name = self.names.logits.clone();
        let mut current = vec![0i64; b];
        let missing = |name: &str| HarnessError::BadModel { path: dir.clone(), reason: format!("no `{name}` output") };
        let cross_names: Vec<String> = (0..self.geometry.layers)
            .flat_map(|i| ["key", "value"].map(|kv| format!("present.{i}.encoder.{kv}")))
            .collect();
        let mut bound = if self.settings.io_binding { Some(StaticBindings::new(self)?) } else { None };

        let clock = Clock::start();
        let mut encoder_ns = None;
        let mut cross: Vec<DynValue> = vec![];
        if let (Some(encoder), Some((ids, emask))) = (self.encoder.as_mut(), enc.as_ref()) {
            let mut out = match bound.as_mut() {
                Some(bd) => encoder.run_binding(
                    bd.encoder([("input_ids", ids), ("attention_mask", emask)], &cross_names).map_err(&err)?,
                ),
                None => encoder.run([SessionInputValue::from(ids), SessionInputValue::from(emask)].as_slice()),
            }
            .map_err(&err)?;
            for name in &cross_names {
                cross.push(out.remove(name).ok_or_else(|| missing(name))?);
            }
            encoder_ns = Some(clock.ns());
        }
        let enc_mask = enc.as_ref().map(|(_, emask)| emask);
        let mut record = Steps::new(b, n, encoder_ns, clock.ns(), eos);
        for step in 0..n {
            if step > 0 {
                token.try_extract_tensor_mut::<i64>().map_err(&err)?.1.copy_from_slice(&current);
            }
            let runs = if step == 0 { &first_runs[..] } else { std::slice::from_ref(&steps[step - 1]) };
            let (session, slots) = match (&mut self.next, step) {
                (Some(nx), s) if s > 0 => (nx, &next_slots),
                _ => (&mut self.first, &first_slots),
            };
            let mut run_ns = 0;
            for run in runs {
                let value = |src: Src| -> &DynValue {
                    match src {
                        Src::InputIds => run.ids.as_ref().unwrap_or(&token),
                        Src::Positions => &run.positions,
                        Src::Mask => &run.mask,
                        Src::EncMask => enc_mask.expect("encoder-decoder"),
                        Src::SelfPast(i) => &cache[i],
                        Src::CrossPast(i) => &cross[i],
                        Src::EncHidden | Src::UseCache => unreachable!("refused when the slots were read"),
                    }
                };
                let t0;
                let mut out = match bound.as_mut() {
                    Some(bd) => {
                        let binding = bd.step(step > 0, slots, &value, &present, &logits_name).map_err(&err)?;
                        t0 = Clock::start();
                        session.run_binding(binding)
                    }
                    None => {
                        let inputs: Vec<SessionInputValue> =
                            slots.iter().map(|(_, slot)| SessionInputValue::from(value(*slot))).collect();
                        t0 = Clock::start();
                        session.run(inputs.as_slice())
                    }
                }
                .map_err(&err)?;
                run_ns += t0.ns();
                for (slot, name) in cache.iter_mut().zip(&present) {
                    *slot = out.remove(name).ok_or_else(|| missing(name))?;
                }
                if std::ptr::eq(run, runs.last().expect("a step runs")) {
                    let logits = out.get(&logits_name).ok_or_else(|| missing(&logits_name))?;
                    super::generate::argmax_at(logits, Some(run.row), &mut current).map_err(&err)?;
                }
            }
            let now = clock.ns();
            if record.record(step, now, run_ns, &current) {
                break;
            }
        }
        Ok(record.finish())
    }
}
