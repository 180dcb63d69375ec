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

    /// The architecture family of a model in this layout.
    pub fn kind(self) -> ModelKind {
        if self.is_encoder_decoder() { ModelKind::EncoderDecoder } else { ModelKind::DecoderOnly }
    }
}

/// The two architecture families the suite compares; recorded as `encoder-decoder` and
/// `decoder-only`, the strings every schema version has used. (Declared in the strings' order, so
/// anything sorted by kind sorts as it did when the kind was a string.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    DecoderOnly,
    EncoderDecoder,
}

impl ModelKind {
    /// The name as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::EncoderDecoder => "encoder-decoder",
            ModelKind::DecoderOnly => "decoder-only",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
