//! Which of slmbench's builds candle runs, and how: the architecture from the manifest, the
//! weight quantization, and the element type it computes in.

use std::path::Path;

use candle_core::DType;
use slmbench_models::Config;
use slmbench_models::quant::QuantOptions;

use crate::error::HarnessError;

fn bad(dir: &Path, reason: impl Into<String>) -> HarnessError {
    HarnessError::BadModel { path: dir.to_path_buf(), reason: reason.into() }
}

/// What candle runs of a build: its architecture, whether it is an encoder-decoder, its weight
/// quantization (`None`: float), and the element type it computes in (the build's own).
pub(super) struct Build {
    pub cfg: Config,
    pub enc_dec: bool,
    pub quant: Option<QuantOptions>,
    pub dtype: DType,
}

/// The architecture of a model slmbench built, and whether candle can run it: plain graphs (their
/// initializers are the weights as the architecture names them), in fp32 or with int4/int8
/// weights in blocks of 32 (which candle runs as ggml's q4_0/q8_0), the bf16 build (its weights
/// stored as bfloat16), computed in bf16, and the fp16 build (a fused graph, whose only renamed
/// weight is the packed self-attention projection), computed in f16.
pub(super) fn slmbench_model(dir: &Path) -> Result<Build, HarnessError> {
    let read = |name: &str| -> Result<serde_json::Value, HarnessError> {
        let bytes = std::fs::read(dir.join(name)).map_err(|_| {
            bad(dir, format!("no {name}: candle runs models slmbench built (`slmbench models build`, or a preset)"))
        })?;
        serde_json::from_slice(&bytes).map_err(|e| bad(dir, format!("{name}: {e}")))
    };
    let manifest = read("manifest.json")?;
    let cfg: Config = serde_json::from_value(manifest["config"].clone())
        .map_err(|e| bad(dir, format!("manifest.json has no slmbench configuration: {e}")))?;
    let precision = manifest["precision"].as_str().unwrap_or("fp32");
    let graph = manifest["graph_variant"].as_str().unwrap_or("plain");
    let quant: Option<QuantOptions> = serde_json::from_value(manifest["quantization"].clone()).ok();
    let runs = match &quant {
        None => ((precision == "fp32" || precision == "bf16") && graph == "plain") || precision == "fp16",
        Some(q) => graph == "plain" && q.block_size == 32 && (q.bits == 4 || q.bits == 8),
    };
    if !runs {
        return Err(bad(
            dir,
            format!(
                "candle runs plain fp32, bf16, int8 and int4 builds (blocks of 32) and the fp16 build; this one is {precision} {graph}. \
                 Build the pair with --graph plain and --precision fp32, bf16, int8 or int4, or with --precision fp16, for candle"
            ),
        ));
    }
    let dtype = match precision {
        "fp16" => DType::F16,
        "bf16" => DType::BF16,
        _ => DType::F32,
    };
    if !manifest["static_shapes"].is_null() {
        return Err(bad(
            dir,
            "candle runs the dynamic builds; this one has static shapes (for NPUs through ONNX Runtime). Build it without --shapes static for candle",
        ));
    }
    let enc_dec = cfg.kind == slmbench_models::Kind::EncoderDecoder;
    Ok(Build { cfg, enc_dec, quant, dtype })
}

/// What candle's quantized weights are, for the records.
pub(super) fn ggml_text(q: &QuantOptions) -> String {
    format!(
        "ggml q{}_0 (blocks of 32, f16 scales), repacked from the build's MatMulNBits bits={} block_size=32",
        q.bits, q.bits
    )
}
