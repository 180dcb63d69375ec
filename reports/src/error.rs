//! Errors of the reports crate.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot read results file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a result record: {message}")]
    Parse { path: PathBuf, line: usize, message: String },
    #[error(
        "{path}: schema_version {found}, this slmbench reads {expected}; re-run the sweep or use a matching slmbench"
    )]
    Schema { path: PathBuf, found: u64, expected: u32 },
    #[error("{path}: no result records")]
    Empty { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("chart {name}: {message}")]
    Chart { name: String, message: String },
}
