//! slmbench harness: loading ONNX Runtime, running the models, and the candle reference
//! implementation that checks them.

pub mod bench;
#[cfg(feature = "candle")]
pub mod candle;
pub mod context;
pub mod entry;
pub mod ep;
pub mod error;
pub mod genai;
pub mod generate;
pub mod graph_info;
pub mod guard;
pub mod layout;
pub mod onnx;
pub mod placement;
pub mod progress;
pub mod results;
pub mod resume;
pub mod run;
pub mod runtime;
pub mod session;
pub mod sweep;

pub use error::{HarnessError, RuntimeError};
// The results side, re-exported so that `slmbench_harness::{export, stats}` keep their paths.
pub use generate::{Generation, Prompt};
pub use session::{LoadedModel, SessionSettings};
pub use slmbench_results::{export, stats};
