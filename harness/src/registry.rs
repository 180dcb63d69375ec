//! Every backend this build has, by name: the one place that knows them all.

use crate::backend::Backend;
use crate::error::HarnessError;

/// Every backend this build has; adding one is one line here.
pub fn all() -> Vec<&'static dyn Backend> {
    vec![
        &crate::onnxruntime::OnnxRuntime,
        #[cfg(feature = "candle")]
        &crate::candle::backend::Candle,
    ]
}

/// The backend named `name`, or an error listing the ones there are.
pub fn find(name: &str) -> Result<&'static dyn Backend, HarnessError> {
    all().into_iter().find(|b| b.name() == name).ok_or_else(|| {
        let names: Vec<&str> = all().iter().map(|b| b.name()).collect();
        HarnessError::BadInput(format!("--backend: no backend `{name}`; this build has {}", names.join(", ")))
    })
}
