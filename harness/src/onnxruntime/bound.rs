//! `--io-binding`: every step through an `IoBinding`, so that the caches and the encoder's output
//! stay in the memory the provider allocated them in (a GPU's, for CUDA, TensorRT and DirectML)
//! and only the logits come to the host, as onnxruntime-genai keeps them. With `Session::run`
//! every output is returned in host memory: on a GPU the whole cache would cross PCIe twice per
//! step and the benchmark would time the bus, not the model.
//!
//! Each step's `present.*` outputs are bound to the provider's memory (ONNX Runtime allocates
//! them at the step's length) and become the next step's `past_key_values.*` inputs as they
//! are, without a copy. The outputs are bound anew every step: a bound output keeps its buffer,
//! and the cache grows by one position a step, so the old buffer (now the next step's input)
//! must not be written into.

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::{DynTensor, DynValue, TensorElementType};

use super::feeds::{Feeds, Src};
use super::shared_cache::OutputNames;
use crate::error::HarnessError;
use crate::onnxruntime::session::LoadedModel;

/// One session's binding and how each of its inputs is fed, in its input order.
struct Bound {
    binding: IoBinding,
    inputs: Vec<(String, Src)>,
}

impl Bound {
    fn new(session: &Session, plan: &[Src]) -> Result<Bound, ort::Error> {
        let inputs = session.inputs().iter().map(|i| i.name().to_string()).zip(plan.iter().copied()).collect();
        Ok(Bound { binding: session.create_binding()?, inputs })
    }
}

/// The bindings of a generation: the encoder's, the first decoder step's and, for a split
/// decoder pair, the later steps'.
pub(super) struct Bindings {
    encoder: Option<IoBinding>,
    first: Bound,
    next: Option<Bound>,
    enc_dec: bool,
    /// Where the provider keeps its tensors; the caches and the encoder's output stay there.
    device: MemoryInfo<'static>,
    host: MemoryInfo<'static>,
    /// The logits of a one-token step, `[B, 1, V]` in host memory, bound from the second step on.
    step_logits: DynTensor,
}

impl Bindings {
    /// Everything bound that the clock should not see: the encoder's inputs and output, and
    /// the host buffer the later steps' logits land in.
    pub(super) fn new(
        m: &LoadedModel,
        feeds: &Feeds,
        first_plan: &[Src],
        next_plan: &[Src],
    ) -> Result<Bindings, HarnessError> {
        let err = HarnessError::ort(&m.files.dir);
        let device = super::ep::device_memory(m.settings.ep, &m.settings.ep_options)?;
        let host =
            MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Device, MemoryType::Default).map_err(&err)?;
        let encoder = match &m.encoder {
            Some(enc) => {
                let mut b = enc.create_binding().map_err(&err)?;
                for i in enc.inputs() {
                    // The plain loop names any other input as an error before this runs.
                    match i.name() {
                        "input_ids" => b.bind_input(i.name(), &feeds.prompt).map_err(&err)?,
                        "attention_mask" => {
                            b.bind_input(i.name(), feeds.enc_mask.as_ref().expect("enc-dec")).map_err(&err)?
                        }
                        _ => {}
                    }
                }
                b.bind_output_to_device("last_hidden_state", &device).map_err(&err)?;
                Some(b)
            }
            None => None,
        };
        let first = Bound::new(&m.first, first_plan).map_err(&err)?;
        let next = match &m.next {
            Some(n) => Some(Bound::new(n, next_plan).map_err(&err)?),
            None => None,
        };
        let half = crate::onnxruntime::session::output_is_half(&m.first, &m.names.logits);
        let ty = if half { TensorElementType::Float16 } else { TensorElementType::Float32 };
        let batch = feeds.token.shape()[0] as usize;
        let step_logits = DynTensor::new(&Allocator::default(), ty, [batch, 1, m.geometry.vocab_size]).map_err(&err)?;
        let enc_dec = m.files.layout.is_encoder_decoder();
        Ok(Bindings { encoder, first, next, enc_dec, device, host, step_logits })
    }

    /// The encoder's binding, its inputs and output bound.
    pub(super) fn encoder(&self) -> Option<&IoBinding> {
        self.encoder.as_ref()
    }

    /// The binding step `step` runs with.
    pub(super) fn step(&self, step: usize) -> &IoBinding {
        match &self.next {
            Some(n) if step > 0 => &n.binding,
            _ => &self.first.binding,
        }
    }

    /// Binds what step `step` reads and writes. The token, mask, positions and self-attention
    /// cache change every step; the rest is bound at a binding's first step (the first step's
    /// empty cross-attention cache and `use_cache_branch` false, from the second on the cache
    /// the first step computed).
    pub(super) fn bind(
        &mut self,
        step: usize,
        feeds: &Feeds,
        enc_hidden: Option<&DynValue>,
        self_past: &[DynValue],
        cross_past: &[DynValue],
        names: &OutputNames,
    ) -> Result<(), ort::Error> {
        let enc_dec = self.enc_dec;
        let bound = match &mut self.next {
            Some(n) if step > 0 => n,
            _ => &mut self.first,
        };
        let b = &mut bound.binding;
        for (name, src) in &bound.inputs {
            match *src {
                Src::InputIds if step == 0 && !enc_dec => b.bind_input(name, &feeds.prompt)?,
                Src::InputIds => b.bind_input(name, &feeds.token)?,
                Src::Mask => b.bind_input(name, &feeds.masks[step])?,
                Src::Positions => b.bind_input(name, &feeds.positions[step])?,
                Src::SelfPast(i) => b.bind_input(name, &self_past[i])?,
                _ if step > 1 => {}
                Src::UseCache => b.bind_input(name, &feeds.use_cache[step])?,
                Src::EncMask => b.bind_input(name, feeds.enc_mask.as_ref().expect("enc-dec"))?,
                Src::EncHidden => b.bind_input(name, enc_hidden.expect("encoder ran"))?,
                Src::CrossPast(i) => b.bind_input(name, &cross_past[i])?,
            }
        }
        if step <= 1 {
            b.clear_outputs();
            if step == 0 {
                // The prompt's logits (`[B, S, V]` for a decoder-only model) and the new
                // cross-attention cache: ONNX Runtime allocates both, the cache on the device.
                b.bind_output_to_device(names.logits, &self.host)?;
                for n in names.cross {
                    b.bind_output_to_device(n, &self.device)?;
                }
            } else {
                b.bind_output(names.logits, &mut self.step_logits)?;
            }
        }
        for n in names.present {
            b.bind_output_to_device(n, &self.device)?;
        }
        Ok(())
    }
}
