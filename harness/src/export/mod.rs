//! Result exporters: one trait, one file per format. Exporters only turn results into bytes; the
//! [`ResultsWriter`] writes them to a file or stdout, flushing streaming formats after every cell.

pub mod csv;
pub mod json;
pub mod jsonl;
pub mod markdown;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::HarnessError;
use crate::results::CellResult;

pub trait Exporter {
    /// Bytes written once before any cell (CSV header).
    fn header(&self) -> Vec<u8> {
        vec![]
    }
    /// Bytes for one cell when the format streams (JSON Lines, CSV); `None` if it must wait.
    fn cell(&self, _cell: &CellResult) -> Option<Vec<u8>> {
        None
    }
    /// Bytes of the whole set at the end (JSON array, Markdown table); empty for streams.
    fn finish(&self, _cells: &[CellResult]) -> Vec<u8> {
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
    pub fn from_path(path: &str) -> Result<Format, HarnessError> {
        if path == "-" {
            return Ok(Format::Markdown);
        }
        match Path::new(path).extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("jsonl") => Ok(Format::Jsonl),
            Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("md") => Ok(Format::Markdown),
            _ => Err(HarnessError::BadInput(format!(
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

/// Writes cells as they finish. The file is created only when the first cell is done, so a run
/// that fails before measuring anything leaves an existing results file untouched.
pub struct ResultsWriter {
    target: Option<PathBuf>,
    exporter: Box<dyn Exporter>,
    file: Option<File>,
    cells: Vec<CellResult>,
}

impl ResultsWriter {
    /// `path` `-` means stdout.
    pub fn new(path: &str) -> Result<ResultsWriter, HarnessError> {
        let exporter = Format::from_path(path)?.exporter();
        let target = (path != "-").then(|| PathBuf::from(path));
        Ok(ResultsWriter { target, exporter, file: None, cells: vec![] })
    }

    fn io(&self) -> impl Fn(std::io::Error) -> HarnessError + '_ {
        move |source| HarnessError::Io { path: self.target.clone().unwrap_or_else(|| "-".into()), source }
    }

    fn open(&mut self) -> Result<(), HarnessError> {
        if self.file.is_some() {
            return Ok(());
        }
        if let Some(path) = &self.target {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|source| HarnessError::Io { path: parent.into(), source })?;
            }
            let mut f = File::create(path).map_err(self.io())?;
            f.write_all(&self.exporter.header()).map_err(self.io())?;
            self.file = Some(f);
        }
        Ok(())
    }

    /// Records a finished cell; streaming formats reach the disk before this returns.
    pub fn push(&mut self, cell: CellResult) -> Result<(), HarnessError> {
        self.open()?;
        if let (Some(bytes), Some(f)) = (self.exporter.cell(&cell), self.file.as_mut()) {
            f.write_all(&bytes)
                .and_then(|_| f.flush())
                .and_then(|_| f.sync_data())
                .map_err(|source| HarnessError::Io { path: self.target.clone().unwrap_or_default(), source })?;
        }
        self.cells.push(cell);
        Ok(())
    }

    /// Writes what non-streaming formats hold until the end. Returns the cells.
    pub fn finish(mut self) -> Result<Vec<CellResult>, HarnessError> {
        if self.cells.is_empty() {
            return Ok(vec![]);
        }
        let tail = self.exporter.finish(&self.cells);
        match self.file.as_mut() {
            Some(f) => f
                .write_all(&tail)
                .and_then(|_| f.flush())
                .map_err(|source| HarnessError::Io { path: self.target.clone().unwrap_or_default(), source })?,
            None => {
                std::io::stdout().write_all(&tail).map_err(|source| HarnessError::Io { path: "-".into(), source })?
            }
        }
        Ok(self.cells)
    }
}

/// Milliseconds with three decimals, for tables.
pub(crate) fn ms(ns: f64) -> String {
    format!("{:.3}", ns / 1e6)
}
