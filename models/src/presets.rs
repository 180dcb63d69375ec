//! Named model pairs: an encoder-decoder and the decoder-only model matched to it.

use serde::Serialize;

use crate::config::{Config, FfnKind, Kind, Norm, Positions};
use crate::error::ConfigError;
use crate::params::{self, ParamCounts};

/// A preset's encoder-decoder; its decoder-only partner is derived by [`params::match_decoder_only`].
pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    pub encoder_decoder: fn() -> Config,
}

#[allow(clippy::too_many_arguments)] // one call per preset reads best as a table row
fn encdec(
    d: usize,
    heads: usize,
    kv: usize,
    head_dim: usize,
    d_ff: usize,
    enc: usize,
    dec: usize,
    vocab: usize,
    max_pos: usize,
) -> Config {
    Config {
        kind: Kind::EncoderDecoder,
        d_model: d,
        num_heads: heads,
        num_kv_heads: kv,
        head_dim: Some(head_dim),
        d_ff,
        ffn: FfnKind::Gelu,
        norm: Norm::PreRmsnorm,
        norm_eps: 1e-6,
        positions: Positions::Rope { theta: 10000.0 },
        encoder_layers: enc,
        decoder_layers: dec,
        vocab_size: vocab,
        tie_embeddings: true,
        max_positions: max_pos,
        decoder_start_token_id: 0,
        eos_token_id: 1,
    }
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "tiny",
        description: "for tests: d_model 64, 4 query / 2 KV heads × 16, 4+3 layers, vocab 1024; builds and runs in a second",
        encoder_decoder: || encdec(64, 4, 2, 16, 192, 4, 3, 1024, 256),
    },
    Preset {
        name: "small",
        description: "the default pair of `slmbench run`: d_model 384, 6 query / 3 KV heads × 64, 6+3 layers, vocab 32128",
        encoder_decoder: || encdec(384, 6, 3, 64, 1536, 6, 3, 32128, 2048),
    },
    Preset {
        name: "paper",
        description: "the paper's model: d_model 1024, 6 query / 3 KV heads × 64, FFN 4096 GELU, 20+10 layers, vocab 32128 tied",
        encoder_decoder: || encdec(1024, 6, 3, 64, 4096, 20, 10, 32128, 4096),
    },
    Preset {
        name: "1b",
        description: "a ~1B pair: d_model 1536, 12 query / 6 KV heads × 128, FFN 6144 GELU, 22+11 layers, vocab 32128",
        encoder_decoder: || encdec(1536, 12, 6, 128, 6144, 22, 11, 32128, 4096),
    },
];

pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

/// A matched pair, ready to build or describe.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub name: String,
    pub encoder_decoder: Config,
    pub decoder_only: Config,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairCounts {
    pub encoder_decoder: ParamCounts,
    pub decoder_only: ParamCounts,
    /// (decoder-only − encoder-decoder) / encoder-decoder.
    pub relative_difference: f64,
}

impl Pair {
    /// The pair named for a build variant (`small`, `small-int4`, `small-int4-fused`; fp32 plain
    /// keeps its name), so the models of two variants in one run have names and pair tags of
    /// their own.
    pub fn with_variant(mut self, v: crate::Variant) -> Pair {
        self.name = format!("{}{}", self.name, v.suffix());
        self
    }

    /// Pairs an encoder-decoder with its matched decoder-only model.
    pub fn from_encoder_decoder(name: &str, encoder_decoder: Config) -> Result<Pair, ConfigError> {
        encoder_decoder.validate()?;
        if encoder_decoder.kind != Kind::EncoderDecoder {
            return Err(ConfigError::Invalid {
                field: "kind",
                reason: "a pair is built from an encoder-decoder config; the decoder-only partner is derived".into(),
            });
        }
        let decoder_only = params::match_decoder_only(&encoder_decoder)?;
        Ok(Pair { name: name.to_string(), encoder_decoder, decoder_only })
    }

    pub fn preset(name: &str) -> Result<Pair, ConfigError> {
        let p = PRESETS
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ConfigError::UnknownPreset { name: name.to_string(), known: names().join(", ") })?;
        Pair::from_encoder_decoder(p.name, (p.encoder_decoder)())
    }

    pub fn counts(&self) -> PairCounts {
        PairCounts {
            encoder_decoder: params::count(&self.encoder_decoder),
            decoder_only: params::count(&self.decoder_only),
            relative_difference: params::relative_difference(&self.encoder_decoder, &self.decoder_only),
        }
    }
}
