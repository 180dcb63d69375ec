//! Errors of the models crate; each variant carries what the user needs to fix it.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse config{}: {message}", path.as_ref().map(|p| format!(" file {}", p.display())).unwrap_or_default())]
    Parse { path: Option<PathBuf>, message: String },
    #[error("invalid config field `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("unknown preset `{name}`; known presets: {known}")]
    UnknownPreset { name: String, known: String },
    #[error(
        "cannot match parameters: the closest decoder-only ({layers} layers, {params} parameters) is {off_pct:.1}% away from the encoder-decoder's {target}; matching needs ≤ 2%: change encoder_layers, decoder_layers or vocab_size so a whole number of decoder-only layers fits"
    )]
    NoMatch { layers: usize, params: u64, target: u64, off_pct: f64 },
}

impl ConfigError {
    /// Adds the file name to a parse or validation error.
    pub fn in_file(self, path: &std::path::Path) -> ConfigError {
        match self {
            ConfigError::Parse { message, .. } => ConfigError::Parse { path: Some(path.to_path_buf()), message },
            ConfigError::Invalid { field, reason } => {
                ConfigError::Invalid { field, reason: format!("{reason} (in {})", path.display()) }
            }
            other => other,
        }
    }
}

#[derive(Debug, Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("output directory {path} is not usable: {reason}")]
    OutDir { path: PathBuf, reason: String },
}

impl BuildError {
    pub fn write(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Write { path, source }
    }
}
