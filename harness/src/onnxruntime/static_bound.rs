//! `--io-binding` for static builds: every run through an `IoBinding`, the caches (and the
//! encoder's cross-attention caches) left in the provider's memory, only the logits brought to
//! the host, as [`super::bound`] does for the dynamic layouts.

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::IoBinding;
use ort::value::DynValue;

use super::feeds::Src;
use crate::error::HarnessError;
use crate::onnxruntime::session::LoadedModel;

pub(super) struct StaticBindings {
    encoder: Option<IoBinding>,
    first: IoBinding,
    next: Option<IoBinding>,
    /// Where the provider keeps its tensors; the caches stay there.
    device: MemoryInfo<'static>,
    host: MemoryInfo<'static>,
}

impl StaticBindings {
    pub(super) fn new(m: &LoadedModel) -> Result<StaticBindings, HarnessError> {
        let err = HarnessError::ort(&m.files.dir);
        let binding = |s: &ort::session::Session| s.create_binding().map_err(&err);
        Ok(StaticBindings {
            encoder: m.encoder.as_ref().map(binding).transpose()?,
            first: binding(&m.first)?,
            next: m.next.as_ref().map(binding).transpose()?,
            device: super::ep::device_memory(m.settings.ep, &m.settings.ep_options)?,
            host: MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Device, MemoryType::Default)
                .map_err(&err)?,
        })
    }

    /// The encoder's binding: the padded prompt and its mask in, the cross-attention caches out
    /// to the device.
    pub(super) fn encoder(
        &mut self,
        inputs: [(&str, &DynValue); 2],
        outputs: &[String],
    ) -> Result<&IoBinding, ort::Error> {
        let b = self.encoder.as_mut().expect("an encoder-decoder has an encoder binding");
        for (name, value) in inputs {
            b.bind_input(name, value)?;
        }
        for name in outputs {
            b.bind_output_to_device(name, &self.device)?;
        }
        Ok(b)
    }

    /// The binding of a decoder run (`later`: a step after the first, through the decode graph
    /// when there is one): every input bound, the caches bound anew to the device (the buffers
    /// now being read must not be written into) and the logits to the host.
    pub(super) fn step<'v>(
        &mut self,
        later: bool,
        slots: &[(String, Src)],
        value: &dyn Fn(Src) -> &'v DynValue,
        present: &[String],
        logits: &str,
    ) -> Result<&IoBinding, ort::Error> {
        let b = match &mut self.next {
            Some(n) if later => n,
            _ => &mut self.first,
        };
        for (name, slot) in slots {
            b.bind_input(name, value(*slot))?;
        }
        b.bind_output_to_device(logits, &self.host)?;
        for name in present {
            b.bind_output_to_device(name, &self.device)?;
        }
        Ok(b)
    }
}
