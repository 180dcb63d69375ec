//! The self-attention cache kept in one buffer per layer that is both `past` and `present`
//! (onnxruntime-genai's `past_present_share_buffer`), bound through an `IoBinding`.

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::IoBinding;
use ort::value::{DynTensor, DynValue, TensorElementType};

use super::feeds::{Feeds, Src};
use crate::onnxruntime::session::LoadedModel;

/// The outputs a step writes: logits, the self-attention cache, the cross-attention cache.
pub(super) struct OutputNames<'a> {
    pub(super) logits: &'a str,
    pub(super) present: &'a [String],
    pub(super) cross: &'a [String],
}

/// The self-attention cache as one buffer per layer that is both the graph's `past` input and
/// its `present` output, bound through an [`IoBinding`] (onnxruntime-genai's
/// `past_present_share_buffer`). `GroupQueryAttention` sees the same pointer on both sides and
/// appends the step's keys and values in place; the lengths come from the attention mask.
pub(super) struct SharedCache {
    pub(super) binding: IoBinding,
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
    pub(super) fn new(m: &LoadedModel, plan: &[Src], batch: usize, max_len: usize) -> Result<SharedCache, ort::Error> {
        let g = m.geometry;
        let alloc = Allocator::default();
        let half = |yes: bool| if yes { TensorElementType::Float16 } else { TensorElementType::Float32 };
        // Zeroed by `DynTensor::new` on the CPU: positions not yet written are never NaN.
        let buffers = (0..2 * g.layers)
            .map(|_| DynTensor::new(&alloc, half(g.half_cache), [batch, g.kv_heads, max_len, g.head_dim]))
            .collect::<Result<Vec<_>, _>>()?;
        let logits_half = crate::onnxruntime::session::output_is_half(&m.first, &m.names.logits);
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
    pub(super) fn bind(
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
