//! slmbench harness: measuring generation on any [`backend::Backend`] (ONNX Runtime is the one in
//! [`onnxruntime`]), sweeps and their runner, and the candle reference implementation that
//! checks the ONNX graphs.

pub mod accuracy;
pub mod backend;
pub mod bench;
pub mod cache;
#[cfg(feature = "candle")]
pub mod candle;
pub mod clock;
pub mod context;
pub mod entry;
pub mod error;
mod execute;
mod failure;
pub mod files;
pub mod generation;
pub mod guard;
pub mod host;
pub mod interleave;
pub mod onnxruntime;
#[cfg(feature = "candle")]
pub mod parity;
pub mod plan;
pub mod preset;
pub mod progress;
pub mod registry;
pub mod remeasure;
pub mod resume;
pub mod roofline;
pub mod run;
pub mod sweep;

pub use error::{HarnessError, RuntimeError};
