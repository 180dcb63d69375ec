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
    #[error("{path}: no result records")]
    Empty { path: PathBuf },
    #[error("the report was stopped by a signal before it was complete")]
    Cancelled,
    #[error("{path}: no measured cell ({failed} failed); re-run the sweep, or fix what made the cells fail")]
    NoMeasured { path: PathBuf, failed: usize },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("chart {name}: {message}")]
    Chart { name: String, message: String },
    #[error("{0}")]
    Merge(String),
    #[error(transparent)]
    Results(#[from] slmbench_results::ResultsError),
}
