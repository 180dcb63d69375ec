//! slmbench harness: loading ONNX Runtime, running the models, and the candle reference
//! implementation that checks them.

pub mod candle;
pub mod ep;
pub mod error;
pub mod generate;
pub mod layout;
pub mod onnx;
pub mod runtime;
pub mod session;

pub use error::{HarnessError, RuntimeError};
pub use generate::{Generation, Prompt};
pub use session::{LoadedModel, SessionSettings};
