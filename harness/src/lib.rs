//! slmbench harness: loading ONNX Runtime, running the models, and the candle reference
//! implementation that checks them.

pub mod candle;
pub mod error;
pub mod onnx;
pub mod runtime;

pub use error::RuntimeError;
