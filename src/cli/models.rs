//! `slmbench models`: build, describe and list pairs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use slmbench_models::graph::GraphVariant;
use slmbench_models::graph::static_shapes::StaticShapes;
use slmbench_models::quant::{Precision, QuantOptions};
use slmbench_models::{BuildOptions, Config, ExternalData, Pair, Variant, presets};

#[derive(Subcommand, Debug)]
pub(super) enum ModelsCommand {
    /// Build a matched encoder-decoder / decoder-only pair as ONNX.
    Build(BuildArgs),
    /// Print a pair's architecture and parameter counts as JSON (a preset, or a built directory).
    Describe(DescribeArgs),
    /// List the presets with their parameter counts.
    List,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true))]
pub(super) struct BuildArgs {
    /// A preset name (see `slmbench models list`).
    #[arg(long, group = "source", env = "SLMBENCH_PRESET")]
    preset: Option<String>,
    /// An encoder-decoder architecture file (TOML or JSON); its decoder-only partner is derived.
    #[arg(long, group = "source")]
    config: Option<PathBuf>,
    /// Output directory; the pair goes to DIR/encoder-decoder and DIR/decoder-only.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the random weights (same config + seed = byte-identical files).
    #[arg(long, default_value_t = 0, env = "SLMBENCH_SEED")]
    seed: u64,
    /// Also write the split decoder pair (decoder_model.onnx + decoder_with_past_model.onnx).
    #[arg(long)]
    split_decoder: bool,
    /// Also write model.safetensors with Hugging Face tensor names.
    #[arg(long)]
    safetensors: bool,
    /// Store weights in a separate <file>_data file even below the 2 GB protobuf limit.
    #[arg(long)]
    external_data: bool,
    /// Weight precisions: fp32, fp16 (weights and activations; fused graphs only), bf16 (weights
    /// stored as bfloat16, read through casts to f32; plain graphs only), int8, int4
    /// (weight-only MatMulNBits), w8a8 and w8a16 (QDQ: int8 weights per channel, uint8 or
    /// uint16 activations calibrated on seeded prompts; plain graphs only). With more than one variant
    /// (precision × graph), each pair goes to DIR/<precision>/ (plain) or DIR/<precision>-fused/.
    #[arg(long, value_delimiter = ',', default_value = "fp32")]
    precision: Vec<Precision>,
    /// Graph variants: plain (one standard operator per step) and fused (ONNX Runtime's
    /// GroupQueryAttention, MultiHeadAttention, RotaryEmbedding, SkipSimplifiedLayerNormalization).
    #[arg(long, value_delimiter = ',', default_value = "plain")]
    graph: Vec<GraphVariant>,
    /// Weights per quantization block along the input dimension (a power of two, at least 16).
    #[arg(long, default_value_t = 32)]
    block_size: usize,
    /// MatMulNBits accuracy level: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 compute.
    #[arg(long, default_value_t = 4)]
    accuracy_level: i64,
    /// QDQ calibration (w8a8, w8a16): seeded synthetic prompts run through the fp32 build.
    #[arg(long, default_value_t = 8)]
    calibration_prompts: usize,
    /// QDQ calibration: tokens per prompt (at most the model's positions).
    #[arg(long, default_value_t = 64)]
    calibration_tokens: usize,
    /// `dynamic` (Optimum's layout) or `static`: every dimension fixed, the KV caches fixed
    /// buffers written at their positions, the prompt fed in chunks (for NPUs: QNN, NNAPI).
    #[arg(long, value_enum, default_value_t = ShapesArg::Dynamic)]
    shapes: ShapesArg,
    /// With --shapes static: cache positions (longest prompt + new tokens; the encoder's input length).
    #[arg(long, default_value_t = 256)]
    max_context: usize,
    /// With --shapes static: prompt tokens per decoder-only prefill step.
    #[arg(long, default_value_t = 32)]
    prefill_chunk: usize,
    /// With --shapes static: rows of every input.
    #[arg(long = "static-batch", default_value_t = 1)]
    static_batch: usize,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("what").required(true))]
pub(super) struct DescribeArgs {
    /// A preset name.
    #[arg(long, group = "what")]
    preset: Option<String>,
    /// An encoder-decoder architecture file.
    #[arg(long, group = "what")]
    config: Option<PathBuf>,
    /// A directory written by `slmbench models build` (or one model folder of it).
    #[arg(group = "what")]
    dir: Option<PathBuf>,
}

pub(super) fn run(c: ModelsCommand) -> Result<()> {
    match c {
        ModelsCommand::Build(a) => build(a),
        ModelsCommand::Describe(a) => describe(a),
        ModelsCommand::List => list(),
    }
}

fn pair_from(preset: Option<&str>, config: Option<&PathBuf>) -> Result<Pair> {
    match (preset, config) {
        (Some(p), _) => Ok(Pair::preset(p)?),
        (None, Some(path)) => {
            let cfg = Config::from_file(path)?;
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "custom".into());
            Ok(Pair::from_encoder_decoder(&name, cfg)?)
        }
        (None, None) => bail!("give --preset NAME or --config FILE"),
    }
}

const MAX_CALIBRATION_PROMPTS: usize = 10_000;
const MAX_STATIC_BATCH: usize = 1_024;

fn build(a: BuildArgs) -> Result<()> {
    if !(a.block_size.is_power_of_two() && (16..=256).contains(&a.block_size)) {
        bail!("--block-size {}: must be a power of two from 16 to 256", a.block_size);
    }
    if a.calibration_prompts == 0 || a.calibration_tokens == 0 {
        bail!("--calibration-prompts and --calibration-tokens must be at least 1");
    }
    // Bounded like every other count a flag can ask for: calibration runs each prompt, and a
    // static build allocates every row of its caches.
    if a.calibration_prompts > MAX_CALIBRATION_PROMPTS {
        bail!("--calibration-prompts {}: at most {MAX_CALIBRATION_PROMPTS}", a.calibration_prompts);
    }
    if a.static_batch == 0 || a.static_batch > MAX_STATIC_BATCH {
        bail!("--static-batch {}: must be 1 to {MAX_STATIC_BATCH}", a.static_batch);
    }
    if !(0..=4).contains(&a.accuracy_level) {
        bail!("--accuracy-level {}: must be 0 to 4", a.accuracy_level);
    }
    let variants = Variant::all(&super::distinct("--precision", &a.precision)?, &super::distinct("--graph", &a.graph)?)
        .map_err(|e| anyhow::anyhow!("--precision: {e}"))?;
    for &v in &variants {
        let out = if variants.len() > 1 { a.out.join(v.folder()) } else { a.out.clone() };
        build_one(&a, v, &out)?;
        println!("{}", out.display());
    }
    Ok(())
}

/// `--shapes`: the graphs' dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ShapesArg {
    /// Optimum's layout: symbolic batch and sequence dimensions, growing caches.
    Dynamic,
    /// Every dimension fixed (for NPUs).
    Static,
}

fn build_one(a: &BuildArgs, variant: Variant, out: &std::path::Path) -> Result<()> {
    let precision = variant.precision;
    let mut pair = pair_from(a.preset.as_deref(), a.config.as_ref())?.with_variant(variant);
    if a.shapes == ShapesArg::Static {
        // Its own name, so a run or report never pairs or compares it with the dynamic build.
        pair.name.push_str("-static");
    }
    let opts = BuildOptions {
        seed: a.seed,
        split_decoder: a.split_decoder,
        safetensors: a.safetensors,
        external_data: if a.external_data { ExternalData::Always } else { ExternalData::Auto },
        quant: precision.bits().map(|bits| QuantOptions {
            bits,
            block_size: a.block_size,
            accuracy_level: a.accuracy_level,
        }),
        shapes: (a.shapes == ShapesArg::Static).then_some(StaticShapes {
            batch: a.static_batch,
            max_context: a.max_context,
            prefill_chunk: a.prefill_chunk,
        }),
        ..variant.build_options()
    };
    let opts = BuildOptions {
        qdq: opts.qdq.map(|mut q| {
            q.calibration.prompts = a.calibration_prompts;
            q.calibration.tokens = a.calibration_tokens;
            q
        }),
        ..opts
    };
    let start = std::time::Instant::now();
    // A QDQ build is calibrated through ONNX Runtime first.
    let m = slmbench_harness::onnxruntime::calibrate::build_pair(&pair, out, &opts)?;
    eprintln!(
        "built `{}` in {:.1} s: encoder-decoder {} parameters ({} bytes), decoder-only {} parameters ({} bytes), difference {:+.2}%",
        m.name,
        start.elapsed().as_secs_f64(),
        m.params.encoder_decoder.total,
        m.encoder_decoder.total_bytes,
        m.params.decoder_only.total,
        m.decoder_only.total_bytes,
        m.params.relative_difference * 100.0
    );
    Ok(())
}

fn describe(a: DescribeArgs) -> Result<()> {
    let value = match a.dir {
        Some(dir) => {
            let pair = dir.join("pair.json");
            let single = dir.join("manifest.json");
            let path = if pair.is_file() {
                pair
            } else if single.is_file() {
                single
            } else {
                bail!(
                    "{} holds neither pair.json nor manifest.json; give a directory written by `slmbench models build`",
                    dir.display()
                )
            };
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?
        }
        None => {
            let pair = pair_from(a.preset.as_deref(), a.config.as_ref())?;
            serde_json::json!({
                "name": pair.name,
                "encoder_decoder": {"config": pair.encoder_decoder, "params": slmbench_models::params::count(&pair.encoder_decoder)},
                "decoder_only": {"config": pair.decoder_only, "params": slmbench_models::params::count(&pair.decoder_only)},
                "params": pair.counts(),
            })
        }
    };
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn list() -> Result<()> {
    println!(
        "{:<7} {:>16} {:>16} {:>7}  {:>10}  description",
        "preset", "enc-dec params", "dec-only params", "diff", "layers"
    );
    for p in presets::PRESETS {
        let pair = Pair::preset(p.name)?;
        let c = pair.counts();
        println!(
            "{:<7} {:>16} {:>16} {:>+6.2}%  {:>4}+{:<2}/{:<3}  {}",
            p.name,
            c.encoder_decoder.total,
            c.decoder_only.total,
            c.relative_difference * 100.0,
            pair.encoder_decoder.encoder_layers,
            pair.encoder_decoder.decoder_layers,
            pair.decoder_only.decoder_layers,
            p.description
        );
    }
    Ok(())
}

/// Builds a preset into the cache unless it is already there.
pub(super) fn preset_dir(name: &str, variant: Variant) -> Result<PathBuf> {
    let dir = slmbench_harness::preset::cached_preset(name, variant, |dir| {
        eprintln!("slmbench: building the `{name}` pair ({variant}) into {}", dir.display())
    })
    .with_context(|| format!("building preset `{name}` ({variant})"))?;
    Ok(dir)
}
