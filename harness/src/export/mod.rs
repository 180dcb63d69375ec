//! Result exporters: one trait, one file per format. Exporters only turn results into bytes; the
//! [`ResultsWriter`] writes them to a file or stdout, flushing streaming formats after every cell.

pub mod csv;
pub mod json;
pub mod jsonl;
pub mod markdown;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::HarnessError;
use crate::results::{CellResult, FailedCell};

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
    /// Bytes of the whole set at the end (JSON array, Markdown table); empty for streams.
    fn finish(&self, _cells: &[CellResult], _failed: &[FailedCell]) -> Vec<u8> {
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

/// Opens `path` for writing (created if missing, never truncated here) and takes an exclusive lock.
fn lock(path: &Path) -> Result<File, HarnessError> {
    let io = |source| HarnessError::Io { path: path.to_path_buf(), source };
    let f = OpenOptions::new().create(true).truncate(false).write(true).read(true).open(path).map_err(io)?;
    match f.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(HarnessError::BadInput(format!(
                "{}: another slmbench run is writing this file; wait for it or choose another -o",
                path.display()
            )));
        }
        // Some network file systems cannot lock; measuring matters more than the lock there.
        Err(TryLockError::Error(e)) => {
            eprintln!("slmbench: warning: cannot lock {} ({e}); make sure no other run writes to it", path.display())
        }
    }
    Ok(f)
}

/// Only JSON Lines files can be resumed: they are appended to line by line.
pub fn check_resumable(path: &str) -> Result<(), HarnessError> {
    if path == "-" || Format::from_path(path).ok() != Some(Format::Jsonl) {
        return Err(HarnessError::BadInput(format!(
            "--resume {path}: only a .jsonl results file can be resumed (it is appended to line by line)"
        )));
    }
    Ok(())
}

/// Writes cells as they finish. The file is created (or emptied) only when the first cell is
/// done, so a run that fails before measuring anything leaves an existing results file untouched.
/// An existing file is locked from the start, so a second run on it is refused before it measures
/// anything rather than after, and two runs cannot interleave their lines.
pub struct ResultsWriter {
    target: Option<PathBuf>,
    exporter: Box<dyn Exporter>,
    /// Locked, and written from the first record on.
    file: Option<File>,
    /// Whether `file` has been prepared for records (emptied, or cut back to `append`).
    opened: bool,
    /// Resuming: append to the file (cut back to `keep` bytes first, dropping a torn line).
    append: Option<u64>,
    cells: Vec<CellResult>,
    failed: Vec<FailedCell>,
}

impl ResultsWriter {
    /// `path` `-` means stdout.
    pub fn new(path: &str) -> Result<ResultsWriter, HarnessError> {
        let exporter = Format::from_path(path)?.exporter();
        let target = (path != "-").then(|| PathBuf::from(path));
        let file = match &target {
            Some(p) if p.is_file() => Some(lock(p)?),
            _ => None,
        };
        Ok(ResultsWriter { target, exporter, file, opened: false, append: None, cells: vec![], failed: vec![] })
    }

    /// Appends to a JSON Lines file (resuming). Call [`ResultsWriter::existing`], then
    /// [`ResultsWriter::keep`] with the length of its intact records, before the first record.
    pub fn append(path: &str) -> Result<ResultsWriter, HarnessError> {
        check_resumable(path)?;
        let mut w = ResultsWriter::new(path)?;
        // Until told otherwise, keep every byte already there.
        let len = w.file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
        w.append = Some(len);
        Ok(w)
    }

    /// The file's bytes, read through the locked handle (empty when there is no file yet).
    pub fn existing(&mut self) -> Result<Vec<u8>, HarnessError> {
        let mut bytes = vec![];
        if let Some(f) = self.file.as_mut() {
            f.seek(SeekFrom::Start(0))
                .and_then(|_| f.read_to_end(&mut bytes))
                .map_err(|source| HarnessError::Io { path: self.target.clone().unwrap_or_default(), source })?;
        }
        Ok(bytes)
    }

    /// Appending starts after the first `keep` bytes (a torn line after them is cut off).
    pub fn keep(&mut self, keep: u64) {
        self.append = Some(keep);
    }

    fn io(&self) -> impl Fn(std::io::Error) -> HarnessError + '_ {
        move |source| HarnessError::Io { path: self.target.clone().unwrap_or_else(|| "-".into()), source }
    }

    fn open(&mut self) -> Result<(), HarnessError> {
        if self.opened {
            return Ok(());
        }
        let Some(path) = &self.target else { return Ok(()) };
        let mut f = match self.file.take() {
            Some(f) => f,
            None => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|source| HarnessError::Io { path: parent.into(), source })?;
                }
                lock(path)?
            }
        };
        match self.append {
            Some(keep) => {
                f.set_len(keep).map_err(self.io())?;
                f.seek(SeekFrom::End(0)).map_err(self.io())?;
                // A last record that lost only its newline is complete; end it before appending.
                if keep > 0 {
                    let mut last = [0u8; 1];
                    f.seek(SeekFrom::Start(keep - 1)).map_err(self.io())?;
                    f.read_exact(&mut last).map_err(self.io())?;
                    f.seek(SeekFrom::End(0)).map_err(self.io())?;
                    if last[0] != b'\n' {
                        f.write_all(b"\n").map_err(self.io())?;
                    }
                }
            }
            None => {
                f.set_len(0).map_err(self.io())?;
                f.write_all(&self.exporter.header()).map_err(self.io())?;
            }
        }
        self.file = Some(f);
        self.opened = true;
        Ok(())
    }

    fn write_synced(&mut self, bytes: Option<Vec<u8>>) -> Result<(), HarnessError> {
        self.open()?;
        if let (Some(bytes), Some(f)) = (bytes, self.file.as_mut()) {
            f.write_all(&bytes)
                .and_then(|_| f.flush())
                .and_then(|_| f.sync_data())
                .map_err(|source| HarnessError::Io { path: self.target.clone().unwrap_or_default(), source })?;
        }
        Ok(())
    }

    /// Records a finished cell; streaming formats reach the disk before this returns.
    pub fn push(&mut self, cell: CellResult) -> Result<(), HarnessError> {
        self.write_synced(self.exporter.cell(&cell))?;
        self.cells.push(cell);
        Ok(())
    }

    /// Records a failed cell, as [`ResultsWriter::push`] does a measured one.
    pub fn push_failed(&mut self, failed: FailedCell) -> Result<(), HarnessError> {
        self.write_synced(self.exporter.failed(&failed))?;
        self.failed.push(failed);
        Ok(())
    }

    /// Writes what non-streaming formats hold until the end. Returns the cells and failures.
    pub fn finish(mut self) -> Result<(Vec<CellResult>, Vec<FailedCell>), HarnessError> {
        if self.cells.is_empty() && self.failed.is_empty() {
            return Ok((vec![], vec![]));
        }
        let tail = self.exporter.finish(&self.cells, &self.failed);
        match self.file.as_mut().filter(|_| self.opened) {
            Some(f) => f
                .write_all(&tail)
                .and_then(|_| f.flush())
                .map_err(|source| HarnessError::Io { path: self.target.clone().unwrap_or_default(), source })?,
            None => {
                std::io::stdout().write_all(&tail).map_err(|source| HarnessError::Io { path: "-".into(), source })?
            }
        }
        Ok((self.cells, self.failed))
    }
}

/// Milliseconds with three decimals, for tables.
pub(crate) fn ms(ns: f64) -> String {
    format!("{:.3}", ns / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_of_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"kept\": 1}\n").unwrap();
        let p = path.to_str().unwrap();
        let mut first = ResultsWriter::append(p).unwrap();
        assert_eq!(first.existing().unwrap(), b"{\"kept\": 1}\n");
        first.keep(12);
        // Refused at creation, before a run could measure anything, and nothing truncated.
        for second in [ResultsWriter::new(p), ResultsWriter::append(p)] {
            let e = second.err().unwrap().to_string();
            assert!(e.contains("another slmbench run is writing this file"), "{e}");
        }
        first.open().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"kept\": 1}\n");
        drop(first);
        ResultsWriter::new(p).unwrap().open().unwrap();
    }

    #[test]
    fn appending_ends_a_record_that_lost_only_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n{\"b\": 2}\n{\"torn\":").unwrap();
        let mut w = ResultsWriter::append(path.to_str().unwrap()).unwrap();
        w.keep(17);
        w.open().unwrap();
        w.write_synced(Some(b"{\"c\": 3}\n".to_vec())).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\": 1}\n{\"b\": 2}\n{\"c\": 3}\n");
        let path2 = dir.path().join("r2.jsonl");
        std::fs::write(&path2, "{\"a\": 1}").unwrap();
        let mut w = ResultsWriter::append(path2.to_str().unwrap()).unwrap();
        w.keep(8);
        w.write_synced(Some(b"{\"c\": 3}\n".to_vec())).unwrap();
        assert_eq!(std::fs::read_to_string(&path2).unwrap(), "{\"a\": 1}\n{\"c\": 3}\n");
    }
}
