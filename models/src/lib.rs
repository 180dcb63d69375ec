//! slmbench models: architecture configs, presets, parameter counting and matching, and an ONNX
//! writer that builds encoder-decoder and decoder-only graphs in Hugging Face Optimum's layout.

pub mod bf16;
pub mod build;
pub mod config;
pub mod error;
pub mod flops;
pub mod graph;
pub mod half;
pub mod onnx;
pub mod params;
pub mod presets;
pub mod qdq;
pub mod quant;
pub mod safetensors;
pub mod variant;
pub mod weights;

pub use build::{BuildOptions, Manifest, PairManifest, build_model, build_pair};
pub use config::{Config, FfnKind, Kind, Positions};
pub use error::{BuildError, ConfigError};
pub use onnx::writer::ExternalData;
pub use params::ParamCounts;
pub use presets::Pair;
pub use variant::Variant;
