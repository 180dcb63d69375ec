//! What results say about a model's files and sessions: its layout and the graph optimisation
//! level it ran with.

use serde::{Deserialize, Serialize};

use crate::error::ResultsError;

/// The file layouts slmbench drives (see `shared/fixtures/optimum/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `encoder_model.onnx` + `decoder_model_merged.onnx`.
    EncoderDecoderMerged,
    /// `encoder_model.onnx` + `decoder_model.onnx` + `decoder_with_past_model.onnx`.
    EncoderDecoderSplit,
    /// Optimum's current decoder-only `model.onnx`.
    DecoderOnly,
    /// Optimum < 1.14: `decoder_model_merged.onnx`, or `decoder_model.onnx` + `decoder_with_past_model.onnx`.
    DecoderOnlyLegacy,
    /// onnxruntime-genai builder output: `genai_config.json` + the graph it names.
    GenAi,
    /// slmbench's static-shape decoder-only build: `static_prefill.onnx` + `static_decode.onnx`.
    DecoderOnlyStatic,
    /// slmbench's static-shape encoder-decoder build: `static_encoder.onnx` + `static_decoder.onnx`.
    EncoderDecoderStatic,
}

impl Layout {
    pub fn is_encoder_decoder(self) -> bool {
        matches!(self, Layout::EncoderDecoderMerged | Layout::EncoderDecoderSplit | Layout::EncoderDecoderStatic)
    }
}

/// Graph optimisation level (ONNX Runtime's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptLevel {
    Disable,
    Basic,
    Extended,
    Layout,
    #[default]
    All,
}

impl std::str::FromStr for OptLevel {
    type Err = ResultsError;
    fn from_str(s: &str) -> Result<OptLevel, ResultsError> {
        match s {
            "disable" => Ok(OptLevel::Disable),
            "basic" => Ok(OptLevel::Basic),
            "extended" => Ok(OptLevel::Extended),
            "layout" => Ok(OptLevel::Layout),
            "all" => Ok(OptLevel::All),
            _ => Err(ResultsError::BadInput(format!(
                "unknown graph optimisation level `{s}`; use disable, basic, extended, layout or all"
            ))),
        }
    }
}
