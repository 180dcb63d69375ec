//! The `candle` backend: slmbench's own fp32 builds run by candle on the CPU, from the ONNX files'
//! initializers (the same numbers ONNX Runtime runs), with the timing definitions of the ONNX
//! Runtime backend: TTFT is the encoder pass plus the first decoder step (or the prefill), each
//! later token is timed from the previous token id in host memory, and cross-attention keys and
//! values are computed once, in the first decoder step.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use slmbench_models::Config;
use slmbench_models::quant::QuantOptions;
use slmbench_results::ep::Ep;
use slmbench_results::memory::CacheMemory;
use slmbench_results::placement::{self, Placement};
use slmbench_results::schema::ModelInfo;
use slmbench_results::schema::Settings;

use super::Weights;
use super::build::{Build, ggml_text, slmbench_model};
use super::decoder_only::DecoderOnly;
use super::encoder_decoder::EncoderDecoder;
use super::onnx_weights::OnnxWeights;
use crate::backend::{Backend, Generator};
use crate::clock::Clock;
use crate::entry::ModelEntry;
use crate::error::HarnessError;
use crate::files::layout::DecoderChoice;
use crate::generation::{Generation, Prompt, Steps};
use crate::guard::Estimate;

/// The name results record for this backend.
pub const NAME: &str = "candle";

/// The candle-core release this build links (kept equal to Cargo.lock by a test).
pub const CANDLE_VERSION: &str = "0.11.1";

/// candle on the CPU.
pub struct Candle;

/// The threads candle computes with, as candle itself counts them: fixed for the whole process at
/// its first use (candle's and rayon's pools read `RAYON_NUM_THREADS` once), so the CLI sets it
/// from `-t` before any runs.
pub fn process_threads() -> usize {
    candle_core::utils::get_num_threads()
}

fn bad(dir: &Path, reason: impl Into<String>) -> HarnessError {
    HarnessError::BadModel { path: dir.to_path_buf(), reason: reason.into() }
}

fn cerr(dir: &Path) -> impl Fn(candle_core::Error) -> HarnessError + '_ {
    move |e| bad(dir, format!("candle: {e}"))
}

fn check_settings(dir: &Path, settings: &Settings) -> Result<(), HarnessError> {
    if settings.ep_requested != Ep::Cpu {
        return Err(HarnessError::BadInput(format!(
            "--backend candle runs on the CPU here (--ep cpu); `{}` needs candle's CUDA device, \
             which this build lacks (it needs the CUDA toolkit to compile)",
            settings.ep_requested.name()
        )));
    }
    let threads = process_threads();
    if settings.threads != threads {
        return Err(HarnessError::BadInput(format!(
            "{}: candle computes with {threads} threads in this process (RAYON_NUM_THREADS), not -t {}; \
             give candle one -t per run",
            dir.display(),
            settings.threads
        )));
    }
    Ok(())
}

impl Backend for Candle {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> Result<String, HarnessError> {
        Ok(CANDLE_VERSION.to_string())
    }

    fn providers(&self) -> Result<Vec<Ep>, HarnessError> {
        Ok(vec![Ep::Cpu])
    }

    fn pin_threads(&self, threads: &[usize]) -> Result<(), HarnessError> {
        let [threads] = threads[..] else {
            return Err(HarnessError::BadInput(format!(
                "--backend candle: give one -t per run (candle's thread count is fixed per process); got -t {}",
                threads.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",")
            )));
        };
        // SAFETY: the caller runs this before the process starts any thread (nothing has loaded
        // or computed yet), so no other thread reads the environment meanwhile.
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
            std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
        }
        Ok(())
    }

    fn describe(&self, entry: &ModelEntry, decoder: DecoderChoice) -> Result<ModelInfo, HarnessError> {
        // The same ONNX files as every backend reads, described the same way.
        let mut info = crate::files::describe(entry, decoder)?;
        info.past_present_share_buffer = false;
        // Quantized weights run as candle's own kernels: say which.
        if let Ok(Build { quant: Some(q), .. }) = slmbench_model(&entry.dir) {
            info.quantization = Some(ggml_text(&q));
            info.fused_operators = vec![];
        }
        Ok(info)
    }

    fn check(
        &self,
        entry: &ModelEntry,
        decoder: DecoderChoice,
        prompt: usize,
        new: usize,
        prompt_ids: Option<&[i64]>,
    ) -> Result<(), HarnessError> {
        slmbench_model(&entry.dir).map_err(|e| HarnessError::BadInput(format!("{}: {e}", entry.name)))?;
        crate::files::check(entry, decoder, prompt, new, prompt_ids)
    }

    fn load(
        &self,
        dir: &Path,
        settings: &Settings,
        _decoder: DecoderChoice,
    ) -> Result<Box<dyn Generator>, HarnessError> {
        check_settings(dir, settings)?;
        Ok(Box::new(CandleModel::load(dir)?))
    }

    fn placement(&self, dir: &Path, settings: &Settings, _decoder: DecoderChoice) -> Result<Placement, HarnessError> {
        check_settings(dir, settings)?;
        // Every operation runs on candle's CPU device.
        Ok(Placement {
            nodes_by_provider: [(placement::CPU.to_string(), 1)].into(),
            kernel_us_by_provider: Default::default(),
            main_provider: placement::CPU.to_string(),
            cpu_node_share: 1.0,
            operators_by_provider: Default::default(),
        })
    }
}

enum Family {
    EncoderDecoder(Box<EncoderDecoder>),
    DecoderOnly(Box<DecoderOnly>),
}

/// One loaded model.
pub struct CandleModel {
    family: Family,
    cfg: Config,
    quant: Option<QuantOptions>,
    /// Bytes of an activation and cache element (f32: 4, f16: 2).
    elem: u64,
    dir: PathBuf,
    load_ns: u64,
}

impl CandleModel {
    /// Loads the model in `dir` (one family of a pair slmbench built), computing in the build's
    /// own element type (f16 for the fp16 build, bf16 for the bf16 build, else f32).
    pub fn load(dir: &Path) -> Result<CandleModel, HarnessError> {
        CandleModel::load_as(dir, None)
    }

    /// [`CandleModel::load`], computing in `dtype` where given instead of the build's own (f64:
    /// the reference the runtimes' f32 arithmetic is measured against).
    pub fn load_as(dir: &Path, dtype: Option<DType>) -> Result<CandleModel, HarnessError> {
        let t0 = Clock::start();
        let Build { cfg, enc_dec, quant, dtype: own } = slmbench_model(dir)?;
        let dtype = dtype.unwrap_or(own);
        let files: Vec<PathBuf> = if enc_dec {
            vec![dir.join("encoder_model.onnx"), dir.join("decoder_model_merged.onnx")]
        } else {
            vec![dir.join("model.onnx")]
        };
        let weights = Weights::Onnx { weights: Arc::new(OnnxWeights::open(&files)?), dtype, parts: process_threads() };
        let family = if enc_dec {
            Family::EncoderDecoder(Box::new(EncoderDecoder::new(&cfg, weights).map_err(cerr(dir))?))
        } else {
            Family::DecoderOnly(Box::new(DecoderOnly::new(&cfg, weights).map_err(cerr(dir))?))
        };
        let elem = dtype.size_in_bytes() as u64;
        Ok(CandleModel { family, cfg, quant, elem, dir: dir.to_path_buf(), load_ns: t0.ns() })
    }

    /// Logits of the last position of each row, on the host (the greedy choice is made there, as
    /// the ONNX Runtime backend makes it: the first index of the largest value).
    fn argmax_last(&self, logits: &Tensor, out: &mut [i64]) -> Result<(), HarnessError> {
        let e = cerr(&self.dir);
        let (_, s, vocab) = logits.dims3().map_err(&e)?;
        // Read where the values lie: no copy inside the timed region (the logits are f32 and
        // contiguous, so both calls hand back the same tensor).
        let logits = logits.to_dtype(DType::F32).and_then(|t| t.contiguous()).map_err(&e)?;
        let (storage, layout) = logits.storage_and_layout();
        let (candle_core::Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) else {
            return Err(bad(&self.dir, "candle's logits are not in host memory"));
        };
        let data = &cpu.as_slice::<f32>().map_err(&e)?[start..end];
        for (r, slot) in out.iter_mut().enumerate() {
            let row = &data[(r * s + s - 1) * vocab..(r * s + s) * vocab];
            let mut best = (0usize, f32::NEG_INFINITY);
            for (i, &x) in row.iter().enumerate() {
                if x > best.1 {
                    best = (i, x);
                }
            }
            *slot = best.0 as i64;
        }
        Ok(())
    }

    /// `[1, S, V]` logits of one teacher-forced pass over `ids` from an empty cache, as f32: the
    /// shape and the values.
    pub(crate) fn teacher_forced(&mut self, ids: &[i64]) -> Result<(Vec<usize>, Vec<f32>), HarnessError> {
        let logits = self.teacher_forced_logits(ids)?;
        let e = cerr(&self.dir);
        let logits = logits.to_dtype(DType::F32).map_err(&e)?;
        let shape = logits.dims().to_vec();
        let data = logits.flatten_all().and_then(|l| l.to_vec1::<f32>()).map_err(&e)?;
        Ok((shape, data))
    }

    /// `[1, S, V]` logits, in the element type computed in, of one teacher-forced pass over `ids`
    /// from an empty cache (an encoder-decoder's encoder and decoder both read `ids`, as ONNX
    /// Runtime's drift pass does).
    pub fn teacher_forced_logits(&mut self, ids: &[i64]) -> Result<Tensor, HarnessError> {
        let e = cerr(&self.dir);
        let t = Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), (1, ids.len()), &Device::Cpu)
            .map_err(&e)?;
        let logits = match &mut self.family {
            Family::EncoderDecoder(m) => {
                let mask = Tensor::ones((1, ids.len()), DType::U8, &Device::Cpu).map_err(&e)?;
                m.encode(&t, &mask).and_then(|_| m.forward(&t, 0))
            }
            Family::DecoderOnly(m) => m.forward(&t, 0),
        }
        .map_err(&e)?;
        match &mut self.family {
            Family::EncoderDecoder(m) => m.clear_kv_cache(),
            Family::DecoderOnly(m) => m.clear_kv_cache(),
        }
        Ok(logits)
    }

    /// Greedy generation of `new_tokens` tokens after `prompt`, timed.
    pub fn generate(
        &mut self,
        prompt: &Prompt,
        new_tokens: usize,
        stop_at_eos: bool,
    ) -> Result<Generation, HarnessError> {
        let dir = self.dir.clone();
        let e = cerr(&dir);
        let (b, s) = (prompt.batch, prompt.len);
        if b == 0 || s == 0 || prompt.ids.len() != b * s || new_tokens == 0 {
            return Err(HarnessError::BadInput(format!("{}: an empty prompt or no new tokens", dir.display())));
        }
        let ids: Vec<u32> = prompt.ids.iter().map(|&i| i as u32).collect();
        // Everything that does not depend on a generated token is built before the clock starts.
        let prompt_t = Tensor::from_vec(ids, (b, s), &Device::Cpu).map_err(&e)?;
        let enc_mask = Tensor::ones((b, s), DType::U8, &Device::Cpu).map_err(&e)?;
        let start = self.cfg.decoder_start_token_id;
        let start_t = Tensor::from_vec(vec![start; b], (b, 1), &Device::Cpu).map_err(&e)?;
        let eos = stop_at_eos.then_some(self.cfg.eos_token_id as i64);
        let delay = slmbench_results::context::test_delay_us().map(std::time::Duration::from_micros);
        let mut current = vec![0i64; b];
        let mut encoder_ns = None;

        let clock = Clock::start();
        if let Family::EncoderDecoder(m) = &mut self.family {
            m.encode(&prompt_t, &enc_mask).map_err(&e)?;
            encoder_ns = Some(clock.ns());
        }
        let mut steps = Steps::new(b, new_tokens, encoder_ns, clock.ns(), eos);
        for step in 0..new_tokens {
            let input = if step == 0 {
                match self.family {
                    Family::EncoderDecoder(_) => start_t.clone(),
                    Family::DecoderOnly(_) => prompt_t.clone(),
                }
            } else {
                let t: Vec<u32> = current.iter().map(|&t| t as u32).collect();
                Tensor::from_vec(t, (b, 1), &Device::Cpu).map_err(&e)?
            };
            let offset = match self.family {
                Family::EncoderDecoder(_) => step,
                Family::DecoderOnly(_) if step == 0 => 0,
                Family::DecoderOnly(_) => s + step - 1,
            };
            let t0 = Clock::start();
            let logits = match &mut self.family {
                Family::EncoderDecoder(m) => m.forward(&input, offset),
                Family::DecoderOnly(m) => m.forward(&input, offset),
            }
            .map_err(&e)?;
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
            let run_ns = t0.ns();
            self.argmax_last(&logits, &mut current)?;
            if steps.record(step, clock.ns(), run_ns, &current) {
                break;
            }
        }
        // The caches of this generation are not the next one's.
        match &mut self.family {
            Family::EncoderDecoder(m) => m.clear_kv_cache(),
            Family::DecoderOnly(m) => m.clear_kv_cache(),
        }
        Ok(steps.finish())
    }
}

impl Generator for CandleModel {
    fn generate(&mut self, prompt: &Prompt, new_tokens: usize, stop_at_eos: bool) -> Result<Generation, HarnessError> {
        CandleModel::generate(self, prompt, new_tokens, stop_at_eos)
    }

    fn load_ns(&self) -> u64 {
        self.load_ns
    }

    fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }

    fn memory_need(&self, batch: usize, prompt: usize, new: usize) -> Estimate {
        let c = &self.cfg;
        let (b, p, n) = (batch as u64, prompt as u64, new as u64);
        let kv = (c.num_kv_heads * c.head_dim()) as u64;
        let enc_dec = matches!(self.family, Family::EncoderDecoder(_));
        // Keys and values of every layer; concatenation holds the old and new cache at once.
        let e = self.elem;
        let self_len = if enc_dec { n } else { p + n };
        let mut cache = 2 * 2 * c.decoder_layers as u64 * b * kv * self_len * e;
        if enc_dec {
            cache += 2 * c.decoder_layers as u64 * b * kv * p * e;
        }
        let logit_rows = if enc_dec { 1 } else { p };
        let heads = c.num_heads as u64;
        let activations = 2
            * 4
            * (b * logit_rows * c.vocab_size as u64 + 2 * b * heads * p * p + b * p * (c.d_ff + 4 * c.d_model) as u64);
        Estimate { weights: 0, cache, activations }
    }

    fn decode_bytes_per_step(&self, batch: usize, prompt: usize, new: usize) -> Option<u64> {
        let c = &self.cfg;
        let e = self.elem;
        // The caches at mid-generation.
        let cache = self.cache_memory(batch, prompt, new / 2)?.total_bytes();
        // q4_0/q8_0 blocks: 32 codes and one f16 scale.
        let per_weight = self.quant.as_ref().map_or(e as f64, |q| q.bits as f64 / 8.0 + 2.0 / 32.0);
        Some((slmbench_models::flops::decode_step_weights(c) as f64 * per_weight) as u64 + cache)
    }

    fn ttft_flops(&self, batch: usize, prompt: usize) -> Option<u64> {
        Some(slmbench_models::flops::ttft_flops(&self.cfg, batch, prompt))
    }

    fn cache_memory(&self, batch: usize, prompt: usize, new: usize) -> Option<CacheMemory> {
        let c = &self.cfg;
        let enc_dec = matches!(self.family, Family::EncoderDecoder(_));
        let (heads, dim) = (c.num_kv_heads, c.head_dim());
        Some(CacheMemory::of(
            c.decoder_layers,
            heads,
            dim,
            (heads, dim),
            self.elem,
            enc_dec,
            (batch, prompt, new),
            None,
        ))
    }
}
