//! Execution providers: names, per-provider options, and registration that fails loudly.
//!
//! Every provider is registered with `error_on_failure`, and before that its presence in the
//! loaded runtime is checked, so a benchmark never silently runs on the CPU instead.

use ort::ep::{self, ArbitrarilyConfigurableExecutionProvider, ExecutionProviderDispatch};
use slmbench_results::ep::{Ep, EpOption, parse_bool};

use crate::error::HarnessError;
use crate::onnxruntime::runtime;

/// How a session takes its provider.
pub(crate) enum Registration {
    /// A provider built into the runtime, registered with `error_on_failure`.
    BuiltIn(ExecutionProviderDispatch),
    /// A plugin provider's devices and options (the device API fails rather than fall back).
    Plugin(Vec<ort::device::Device<'static>>, Vec<(String, String)>),
}

/// The provider with its options, ready for a session.
pub(crate) fn registration(ep: Ep, options: &[EpOption]) -> Result<Registration, HarnessError> {
    if ep.is_plugin() {
        return super::plugin::devices(ep, options);
    }
    Ok(Registration::BuiltIn(dispatch(ep, options)?))
}

/// The provider with its options, ready to register. Errors if the loaded runtime lacks it.
pub fn dispatch(ep: Ep, options: &[EpOption]) -> Result<ExecutionProviderDispatch, HarnessError> {
    let offered = runtime::available_providers()?;
    if !offered.iter().any(|p| p == ep.runtime_name()) {
        let library = runtime::loaded_library().map(|l| l.path.display().to_string()).unwrap_or_default();
        return Err(HarnessError::EpUnavailable {
            ep,
            runtime: format!("ONNX Runtime {} ({library})", runtime::version().unwrap_or("?")),
            offered: offered.join(", "),
            hint: ep.where_to_get(),
        });
    }
    let mine: Vec<&EpOption> = options.iter().filter(|o| o.ep == ep).collect();
    fn arbitrary<T: ArbitrarilyConfigurableExecutionProvider>(mut e: T, opts: &[&EpOption]) -> T {
        for o in opts {
            e = e.with_arbitrary_config(&o.key, &o.value);
        }
        e
    }
    let d = match ep {
        Ep::Cpu => {
            let mut e = ep::CPU::default();
            for o in &mine {
                e = e.with_arena_allocator(parse_bool(o)?);
            }
            e.build()
        }
        Ep::Cuda => arbitrary(ep::CUDA::default(), &mine).build(),
        Ep::Tensorrt => arbitrary(ep::TensorRT::default(), &mine).build(),
        Ep::Qnn => arbitrary(ep::QNN::default(), &mine).build(),
        Ep::Coreml => arbitrary(ep::CoreML::default(), &mine).build(),
        Ep::Openvino => arbitrary(ep::OpenVINO::default(), &mine).build(),
        Ep::Xnnpack => arbitrary(ep::XNNPACK::default(), &mine).build(),
        Ep::Nnapi => {
            let mut e = ep::NNAPI::default();
            for o in &mine {
                let on = parse_bool(o)?;
                e = match o.key.as_str() {
                    "fp16" => e.with_fp16(on),
                    "nchw" => e.with_nchw(on),
                    "disable_cpu" => e.with_disable_cpu(on),
                    _ => e.with_cpu_only(on),
                };
            }
            e.build()
        }
        Ep::Directml => {
            let mut e = ep::DirectML::default();
            for o in &mine {
                let id = o.value.parse::<i32>().map_err(|_| HarnessError::BadEpOption {
                    text: format!("directml:device_id={}", o.value),
                    reason: "expected an integer".into(),
                })?;
                e = e.with_device_id(id);
            }
            e.build()
        }
    };
    Ok(d.error_on_failure())
}

/// The memory a provider keeps its tensors in, where `--io-binding` leaves the caches between
/// steps: the GPU's for CUDA and TensorRT (the device `device_id` names) and DirectML; host
/// memory for the CPU and for providers that work in host memory (QNN, NNAPI, CoreML,
/// OpenVINO's CPU device, XNNPACK).
pub(crate) fn device_memory(ep: Ep, options: &[EpOption]) -> Result<ort::memory::MemoryInfo<'static>, HarnessError> {
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
    let id = match options.iter().rfind(|o| o.ep == ep && o.key == "device_id") {
        Some(o) => o.value.parse::<i32>().map_err(|_| HarnessError::BadEpOption {
            text: format!("{ep}:device_id={}", o.value),
            reason: "expected an integer".into(),
        })?,
        None => 0,
    };
    let device = match ep {
        Ep::Cuda | Ep::Tensorrt => AllocationDevice::CUDA,
        Ep::Directml => AllocationDevice::DIRECTML,
        _ => AllocationDevice::CPU,
    };
    let id = if device == AllocationDevice::CPU { 0 } else { id };
    MemoryInfo::new(device, id, AllocatorType::Device, MemoryType::Default).map_err(|e| HarnessError::BadEpOption {
        text: format!("{ep}:device_id={id}"),
        reason: format!("ONNX Runtime refused its memory: {e}"),
    })
}
