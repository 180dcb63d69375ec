//! Result exporters: one trait, one file per format. Exporters only turn results into bytes; the
//! [`ResultsWriter`] writes them to a file or stdout, flushing streaming formats after every cell.

pub mod csv;
mod files;
pub mod json;
pub mod jsonl;
pub mod markdown;
mod writer;

use std::path::Path;

use crate::error::ResultsError;
use crate::pair_ratio::PairRatio;
use crate::schema::{CellResult, FailedCell, Kept};

pub use files::{Output, TMP_MARK, check_resumable, journal_path, lock, remove_stale_temps, write_atomic};
pub use writer::{OnRecord, ResultsWriter, Written};

pub trait Exporter {
    /// Bytes written once before any cell (CSV header).
    fn header(&self) -> Vec<u8> {
        vec![]
    }
    /// Bytes for one cell when the format streams (JSON Lines, CSV); `None` if it must wait.
    fn cell(&self, _cell: &CellResult) -> Option<Vec<u8>> {
        None
    }
    /// Bytes for a failed cell when the format streams it (JSON Lines; CSV holds measured cells only).
    fn failed(&self, _failed: &FailedCell) -> Option<Vec<u8>> {
        None
    }
    /// Bytes for a pair's ratio record when the format streams it (JSON Lines).
    fn ratio(&self, _ratio: &PairRatio) -> Option<Vec<u8>> {
        None
    }
    /// Bytes of the whole set at the end (JSON array, Markdown table); empty for streams.
    fn finish(&self, _set: &Kept) -> Vec<u8> {
        vec![]
    }
}

/// Output format, from `-o`'s extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Json,
    Csv,
    Markdown,
}

impl Format {
    pub fn from_path(path: &str) -> Result<Format, ResultsError> {
        if path == "-" {
            return Ok(Format::Markdown);
        }
        match Path::new(path).extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("jsonl") => Ok(Format::Jsonl),
            Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("md") => Ok(Format::Markdown),
            _ => Err(ResultsError::BadInput(format!(
                "-o {path}: unknown format; use a .jsonl, .json, .csv or .md file name, or - for Markdown on stdout"
            ))),
        }
    }

    pub fn exporter(self) -> Box<dyn Exporter> {
        match self {
            Format::Jsonl => Box::new(jsonl::Jsonl),
            Format::Json => Box::new(json::Json),
            Format::Csv => Box::new(csv::Csv),
            Format::Markdown => Box::new(markdown::Markdown),
        }
    }
}

/// The whole file of a format, from every record.
pub fn render(e: &dyn Exporter, set: &Kept) -> Vec<u8> {
    let mut out = e.header();
    for c in &set.cells {
        out.extend(e.cell(c).unwrap_or_default());
    }
    for f in &set.failed {
        out.extend(e.failed(f).unwrap_or_default());
    }
    for r in &set.ratios {
        out.extend(e.ratio(r).unwrap_or_default());
    }
    out.extend(e.finish(set));
    out
}

/// Milliseconds with three decimals, for tables.
pub(crate) fn ms(ns: f64) -> String {
    format!("{:.3}", ns / 1e6)
}
