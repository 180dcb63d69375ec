//! Errors of reading and writing results; each says what to change.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ResultsError {
    #[error("unknown execution provider `{name}`; known: {known}")]
    UnknownEp { name: String, known: String },
    #[error("bad --ep-opt `{text}`: {reason}")]
    BadEpOption { text: String, reason: String },
    #[error("{0}")]
    BadInput(String),
    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
