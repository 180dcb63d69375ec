//! Architecture configuration: one serde struct for both families, read from TOML or JSON.
//!
//! Field names follow the Hugging Face `config.json` spirit (`d_model`, `num_heads`, …) so that the
//! file written beside a model doubles as its configuration.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Which family a configuration describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    EncoderDecoder,
    DecoderOnly,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EncoderDecoder => "encoder-decoder",
            Kind::DecoderOnly => "decoder-only",
        }
    }
}

/// Feed-forward block of every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FfnKind {
    /// `wo(gelu(wi(x)))`, exact (erf) GELU.
    Gelu,
    /// `wo(gelu(wi_0(x)) * wi_1(x))`, as T5 v1.1.
    GatedGelu,
    /// `down(silu(gate(x)) * up(x))`, as Llama.
    Swiglu,
}

impl FfnKind {
    /// Number of `d_model × d_ff` matrices in one block.
    pub fn matrices(self) -> usize {
        match self {
            FfnKind::Gelu => 2,
            FfnKind::GatedGelu | FfnKind::Swiglu => 3,
        }
    }
}

/// Normalisation: only pre-RMSNorm is modelled (the paper's and every current SLM's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Norm {
    #[default]
    PreRmsnorm,
}

/// Position information, applied in self-attention only (never in cross-attention).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Positions {
    Rope { theta: f64 },
    None,
}

/// Most layers a stack may have (the 1B preset has 24).
pub const MAX_LAYERS: usize = 1000;

fn default_eps() -> f64 {
    1e-6
}
fn default_eos() -> u32 {
    1
}

/// One model architecture. Encoder-decoder when `kind` says so; `encoder_layers` is then > 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub kind: Kind,
    pub d_model: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    /// Defaults to `d_model / num_heads`; the paper's model sets it (6 × 64 heads at width 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    pub d_ff: usize,
    pub ffn: FfnKind,
    #[serde(default)]
    pub norm: Norm,
    #[serde(default = "default_eps")]
    pub norm_eps: f64,
    pub positions: Positions,
    #[serde(default)]
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub vocab_size: usize,
    pub tie_embeddings: bool,
    pub max_positions: usize,
    /// First decoder input of an encoder-decoder (T5: the pad id, 0).
    #[serde(default)]
    pub decoder_start_token_id: u32,
    #[serde(default = "default_eos")]
    pub eos_token_id: u32,
}

impl Config {
    /// Reads a TOML or JSON file (by extension; anything else is tried as TOML).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let cfg = if is_json { Config::from_json(&text) } else { Config::from_toml(&text) };
        cfg.map_err(|e| e.in_file(path))
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: None, message: e.message().to_string() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config =
            serde_json::from_str(text).map_err(|e| ConfigError::Parse { path: None, message: e.to_string() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a Config always serialises")
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.d_model / self.num_heads.max(1))
    }

    /// Query heads per KV head.
    pub fn group_size(&self) -> usize {
        self.num_heads / self.num_kv_heads
    }

    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim()
    }

    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim()
    }

    pub fn is_encoder_decoder(&self) -> bool {
        self.kind == Kind::EncoderDecoder
    }

    pub fn rope_theta(&self) -> Option<f64> {
        match self.positions {
            Positions::Rope { theta } => Some(theta),
            Positions::None => None,
        }
    }

    /// Checks every field; the error names the field to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
        if self.d_model == 0 {
            return bad("d_model", "must be > 0".into());
        }
        if self.num_heads == 0 {
            return bad("num_heads", "must be > 0".into());
        }
        if self.num_kv_heads == 0 {
            return bad("num_kv_heads", "must be > 0".into());
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return bad(
                "num_kv_heads",
                format!(
                    "{} does not divide num_heads ({}); grouped-query attention shares each KV head among a whole number of query heads",
                    self.num_kv_heads, self.num_heads
                ),
            );
        }
        match self.head_dim {
            Some(0) => return bad("head_dim", "must be > 0".into()),
            None if !self.d_model.is_multiple_of(self.num_heads) => {
                return bad(
                    "num_heads",
                    format!(
                        "{} does not divide d_model ({}); set head_dim explicitly or pick a divisor",
                        self.num_heads, self.d_model
                    ),
                );
            }
            _ => {}
        }
        if self.d_ff == 0 {
            return bad("d_ff", "must be > 0".into());
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return bad("norm_eps", format!("{} must be a finite number > 0", self.norm_eps));
        }
        if let Positions::Rope { theta } = self.positions {
            if !(theta.is_finite() && theta > 1.0) {
                return bad("positions.theta", format!("{theta} must be a finite number > 1"));
            }
            if !self.head_dim().is_multiple_of(2) {
                return bad("head_dim", format!("{} must be even: RoPE rotates pairs of dimensions", self.head_dim()));
            }
        }
        match self.kind {
            Kind::EncoderDecoder if self.encoder_layers == 0 => {
                return bad("encoder_layers", "must be > 0 for an encoder-decoder".into());
            }
            Kind::DecoderOnly if self.encoder_layers != 0 => {
                return bad(
                    "encoder_layers",
                    format!("is {} but a decoder-only model has no encoder: set 0 or remove it", self.encoder_layers),
                );
            }
            _ => {}
        }
        if self.decoder_layers == 0 {
            return bad("decoder_layers", "must be > 0".into());
        }
        if self.vocab_size < 2 {
            return bad("vocab_size", format!("{} must be at least 2", self.vocab_size));
        }
        if self.vocab_size > i32::MAX as usize {
            return bad("vocab_size", format!("{} exceeds {}", self.vocab_size, i32::MAX));
        }
        if self.max_positions == 0 {
            return bad("max_positions", "must be > 0".into());
        }
        if self.decoder_start_token_id as usize >= self.vocab_size {
            return bad(
                "decoder_start_token_id",
                format!("{} is not below vocab_size ({})", self.decoder_start_token_id, self.vocab_size),
            );
        }
        if self.eos_token_id as usize >= self.vocab_size {
            return bad("eos_token_id", format!("{} is not below vocab_size ({})", self.eos_token_id, self.vocab_size));
        }
        if self.encoder_layers > MAX_LAYERS || self.decoder_layers > MAX_LAYERS {
            let (field, n) = if self.encoder_layers > MAX_LAYERS {
                ("encoder_layers", self.encoder_layers)
            } else {
                ("decoder_layers", self.decoder_layers)
            };
            return bad(field, format!("{n} is more than {MAX_LAYERS}; this suite targets ≤1B-parameter models"));
        }
        // One weight matrix must stay addressable as a single ONNX tensor (i64 dims, < 2^31 bytes
        // per tensor keeps every runtime's protobuf and allocator happy). Checked products: a
        // fuzzed d_model of 5·10^15 overflowed the plain ones.
        let q_dim = self.num_heads.checked_mul(self.head_dim());
        let biggest = [
            self.vocab_size.checked_mul(self.d_model),
            self.d_model.checked_mul(self.d_ff),
            q_dim.and_then(|q| self.d_model.checked_mul(q)),
        ]
        .into_iter()
        .map(|x| x.and_then(|x| x.checked_mul(4)).unwrap_or(usize::MAX))
        .max()
        .unwrap_or(0);
        if biggest > i32::MAX as usize {
            return bad(
                "d_model",
                format!(
                    "with d_ff {}, {} heads of {} and vocab_size {}, a single weight matrix would exceed 2 GB; \
                     this suite targets ≤1B-parameter models",
                    self.d_ff,
                    self.num_heads,
                    self.head_dim(),
                    self.vocab_size
                ),
            );
        }
        Ok(())
    }
}
