//! slmbench harness: measuring generation on any [`backend::Backend`] (ONNX Runtime is the one in
//! [`onnxruntime`]), sweeps and their runner, and the candle reference implementation that
//! checks the ONNX graphs.

pub mod accuracy;
pub mod backend;
pub mod bench;
#[cfg(feature = "candle")]
pub mod candle;
pub mod context;
pub mod entry;
pub mod error;
mod execute;
mod failure;
pub mod generation;
pub mod guard;
pub mod host;
pub mod interleave;
pub mod onnxruntime;
pub mod progress;
pub mod remeasure;
pub mod results;
pub mod resume;
pub mod roofline;
pub mod run;
pub mod sweep;

// The ONNX Runtime modules at their former paths (`slmbench_harness::session`, …), which the CLI,
// the tests and the benchmarks use for what only that backend has (runtime fetch, layouts).
pub use onnxruntime::{ep, ep_context, genai, generate, graph_info, layout, onnx, placement, plugin, runtime, session};

pub use error::{HarnessError, RuntimeError};
pub use generation::{Generation, Prompt};
pub use session::{LoadedModel, SessionSettings};
// The results side, re-exported so that `slmbench_harness::{export, stats}` keep their paths.
pub use slmbench_results::{export, stats};
