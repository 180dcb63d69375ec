//! The results writer: every record into the fsynced JSON Lines journal, other formats rendered
//! from it atomically after each record.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::files::{check_resumable, journal_path, lock, non_empty, remove_stale_temps, write_atomic};
use super::{Exporter, Format, jsonl, markdown, render};
use crate::error::ResultsError;
use crate::pair_ratio::PairRatio;
use crate::schema::{CellResult, FailedCell, Kept, Record, Torn};

/// Writes records as cells finish. Every record is appended to the JSON Lines journal, flushed
/// and fsynced before the next cell starts; a `.json`, `.csv` or `.md` results file is rendered
/// again from all records after each one, atomically, so a kill at any moment leaves it complete
/// with what was measured. The journal is locked from the start (created if missing, which also
/// proves the folder writable before anything is measured), so a second run on it is refused
/// before it measures anything. An existing results file is never truncated unless asked to
/// (`overwrite`), and even then only when the first new cell is *measured*: failed records wait
/// in memory until then, and a run that measures nothing leaves the old file as it was.
pub struct ResultsWriter {
    /// `None`: Markdown on stdout at the end.
    target: Option<PathBuf>,
    format: Format,
    journal_path: Option<PathBuf>,
    /// Locked from the start.
    journal: Option<File>,
    /// Whether this writer created the journal (removed again if no record is ever written).
    created: bool,
    /// Whether the journal has been prepared for records (emptied, or cut back to `append`).
    opened: bool,
    /// Resuming: append after the first `append` bytes (a torn line after them is cut off).
    append: Option<u64>,
    /// Records already in the journal when resuming, in file order.
    earlier: Vec<Record>,
    torn: Option<Torn>,
    /// This run's records, in the order they were written (a ratio after its two cells).
    written: Vec<Record>,
    finished: bool,
    /// Told of each record once it is in the journal (`run --history`).
    on_record: Option<OnRecord>,
    /// `overwrite` of a file that holds results: nothing is written until a cell is measured.
    replacing: bool,
    /// Failed records held back while `replacing`, written before the first measured one.
    held: Vec<FailedCell>,
}

/// Told of each record a writer has made durable (see [`ResultsWriter::on_record`]).
pub type OnRecord = Box<dyn FnMut(&Record) + Send>;

/// What a writer holds at the end.
#[derive(Debug, Default)]
pub struct Written {
    /// This run's records.
    pub cells: Vec<CellResult>,
    pub failed: Vec<FailedCell>,
    /// Every record of the file (earlier ones too when resuming), one per cell.
    pub all_cells: Vec<CellResult>,
    pub all_failed: Vec<FailedCell>,
    /// Every pair-ratio record of the file whose two cells are the kept ones.
    pub all_ratios: Vec<PairRatio>,
    /// `--overwrite` of a file with results, and no cell measured: the file is as it was, and
    /// these failed records (in `failed` too) were not written to it.
    pub not_replaced: usize,
}

impl ResultsWriter {
    fn open_target(path: &str) -> Result<ResultsWriter, ResultsError> {
        let format = Format::from_path(path)?;
        let target = (path != "-").then(|| PathBuf::from(path));
        let journal_path = target.as_deref().map(journal_path);
        Ok(ResultsWriter {
            target,
            format,
            journal_path,
            journal: None,
            created: false,
            opened: false,
            append: None,
            earlier: vec![],
            torn: None,
            written: vec![],
            finished: false,
            on_record: None,
            replacing: false,
            held: vec![],
        })
    }

    /// Locks the journal, creating it (and its folder) when missing.
    fn lock_journal(&mut self) -> Result<(), ResultsError> {
        let (Some(target), Some(journal)) = (&self.target, &self.journal_path) else { return Ok(()) };
        if target.is_dir() {
            return Err(ResultsError::BadInput(format!("-o {}: is a folder; give a file name", target.display())));
        }
        if let Some(parent) = journal.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| ResultsError::Io { path: parent.into(), source })?;
            remove_stale_temps(parent);
        }
        self.created = !journal.exists();
        self.journal = Some(lock(journal)?);
        Ok(())
    }

    /// A new results file at `path` (`-`: Markdown on stdout). An existing non-empty file is an
    /// error that names `--resume` and `--overwrite`, unless `overwrite`.
    pub fn create(path: &str, overwrite: bool) -> Result<ResultsWriter, ResultsError> {
        let mut w = ResultsWriter::open_target(path)?;
        let existing = match (&w.target, &w.journal_path) {
            (Some(target), Some(journal)) => [target, journal].into_iter().find(|p| non_empty(p)).cloned(),
            _ => None,
        };
        w.replacing = overwrite && existing.is_some();
        if let (Some(existing), false) = (existing, overwrite) {
            return Err(ResultsError::BadInput(format!(
                "{} already holds results; continue that sweep with --resume {path}, replace it with \
                 --overwrite, or choose another -o",
                existing.display()
            )));
        }
        w.lock_journal()?;
        Ok(w)
    }

    /// Continues the results file at `path`: its records are read through the lock, and new ones
    /// are appended. A torn final line (a crash mid-write) is reported by [`ResultsWriter::torn`]
    /// and cut off before the first append; any other unreadable line is an error.
    pub fn resume(path: &str) -> Result<ResultsWriter, ResultsError> {
        check_resumable(path)?;
        let mut w = ResultsWriter::open_target(path)?;
        w.lock_journal()?;
        let mut bytes = vec![];
        if let (Some(f), Some(jp)) = (w.journal.as_mut(), &w.journal_path) {
            f.seek(SeekFrom::Start(0))
                .and_then(|_| f.read_to_end(&mut bytes))
                .map_err(|source| ResultsError::Io { path: jp.clone(), source })?;
        }
        let lines = crate::schema::parse_jsonl(&bytes).map_err(|(line, e)| {
            let of = match w.journal_path.as_deref() {
                Some(j) if j != Path::new(path) => format!(" of its journal {}", j.display()),
                _ => String::new(),
            };
            ResultsError::BadInput(format!(
                "--resume {path}: line {line}{of} is not a slmbench record ({e}); only a torn final line can be skipped"
            ))
        })?;
        w.append = Some(lines.torn.as_ref().map_or(bytes.len(), |t| t.offset) as u64);
        w.earlier = lines.records.into_iter().map(|(_, r)| r).collect();
        w.torn = lines.torn;
        Ok(w)
    }

    /// Calls `f` with each new record once it is safely in the journal (a run's history copy:
    /// the results file stays the record of truth, so `f` handles its own failures).
    pub fn on_record(&mut self, f: OnRecord) {
        self.on_record = Some(f);
    }

    fn tell(&mut self, from: usize) {
        if let Some(f) = self.on_record.as_mut() {
            self.written[from..].iter().for_each(f);
        }
    }

    /// How many records this writer has made durable.
    pub fn records_written(&self) -> usize {
        self.written.len()
    }

    /// The records already in a resumed file.
    pub fn earlier(&self) -> &[Record] {
        &self.earlier
    }

    /// The torn final line of a resumed file, if it had one.
    pub fn torn(&self) -> Option<&Torn> {
        self.torn.as_ref()
    }

    /// The journal (where every record goes first), if writing to a file.
    pub fn journal(&self) -> Option<&Path> {
        self.journal_path.as_deref()
    }

    fn io(&self) -> impl Fn(std::io::Error) -> ResultsError + '_ {
        move |source| ResultsError::Io { path: self.journal_path.clone().unwrap_or_else(|| "-".into()), source }
    }

    fn open(&mut self) -> Result<(), ResultsError> {
        if self.opened {
            return Ok(());
        }
        let Some(mut f) = self.journal.take() else { return Ok(()) };
        match self.append {
            Some(keep) => {
                f.set_len(keep).map_err(self.io())?;
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
                f.seek(SeekFrom::End(0)).map_err(self.io())?;
            }
            None => {
                f.set_len(0).map_err(self.io())?;
                f.seek(SeekFrom::Start(0)).map_err(self.io())?;
            }
        }
        self.journal = Some(f);
        self.opened = true;
        Ok(())
    }

    fn write_synced(&mut self, line: Vec<u8>) -> Result<(), ResultsError> {
        self.open()?;
        if let Some(f) = self.journal.as_mut() {
            f.write_all(&line)
                .and_then(|_| f.flush())
                .and_then(|_| f.sync_data())
                .map_err(|source| ResultsError::Io { path: self.journal_path.clone().unwrap_or_default(), source })?;
        }
        Ok(())
    }

    /// Every record, earlier ones first, one per cell.
    fn all(&self) -> Kept {
        crate::schema::latest_per_cell(self.earlier.iter().chain(&self.written).cloned().collect())
    }

    /// Renders a non-JSON-Lines results file from every record, atomically.
    fn render(&self) -> Result<(), ResultsError> {
        let Some(target) = self.target.as_deref().filter(|_| self.format != Format::Jsonl) else { return Ok(()) };
        write_atomic(target, &render(self.format.exporter().as_ref(), &self.all()))
    }

    /// Writes the failed records held back while replacing a file, now that a cell was measured.
    fn release_held(&mut self) -> Result<(), ResultsError> {
        self.replacing = false;
        for f in std::mem::take(&mut self.held) {
            self.write_synced(jsonl::Jsonl.failed(&f).unwrap_or_default())?;
            self.written.push(Record::Failed(Box::new(f)));
            self.tell(self.written.len() - 1);
        }
        Ok(())
    }

    /// Records a finished cell: in the journal (on disk before this returns), then in the file.
    pub fn push(&mut self, cell: CellResult) -> Result<(), ResultsError> {
        self.release_held()?;
        self.write_synced(jsonl::Jsonl.cell(&cell).unwrap_or_default())?;
        self.written.push(Record::Cell(Box::new(cell)));
        self.tell(self.written.len() - 1);
        self.render()
    }

    /// Records a failed cell, as [`ResultsWriter::push`] does a measured one.
    pub fn push_failed(&mut self, failed: FailedCell) -> Result<(), ResultsError> {
        if self.replacing {
            // A failure is not a result: the file being replaced keeps its cells until one is measured.
            self.held.push(failed);
            return Ok(());
        }
        self.write_synced(jsonl::Jsonl.failed(&failed).unwrap_or_default())?;
        self.written.push(Record::Failed(Box::new(failed)));
        self.tell(self.written.len() - 1);
        self.render()
    }

    /// Records an interleaved pair: its two cells, then the ratio record naming them, in one
    /// write (a kill cannot leave the cells without their ratio).
    pub fn push_pair(&mut self, a: CellResult, b: CellResult, ratio: PairRatio) -> Result<(), ResultsError> {
        self.release_held()?;
        let mut lines = jsonl::Jsonl.cell(&a).unwrap_or_default();
        lines.extend(jsonl::Jsonl.cell(&b).unwrap_or_default());
        lines.extend(jsonl::Jsonl.ratio(&ratio).unwrap_or_default());
        self.write_synced(lines)?;
        self.written.extend([Record::Cell(Box::new(a)), Record::Cell(Box::new(b)), Record::Ratio(Box::new(ratio))]);
        self.tell(self.written.len() - 3);
        self.render()
    }

    /// Ends the file: a run that measured nothing (an empty shard) still leaves a valid, empty
    /// results file; stdout gets its Markdown table.
    pub fn finish(mut self) -> Result<Written, ResultsError> {
        if self.replacing {
            // Nothing measured: the file keeps what it held; the failures are reported, not written.
            self.finished = true;
            let failed = std::mem::take(&mut self.held);
            let not_replaced = failed.len();
            return Ok(Written { failed, not_replaced, ..Written::default() });
        }
        self.open()?;
        if self.target.is_none() && !self.written.is_empty() {
            let mine = crate::schema::latest_per_cell(self.written.clone());
            let table = markdown::Markdown.finish(&mine);
            std::io::stdout().write_all(&table).map_err(|source| ResultsError::Io { path: "-".into(), source })?;
        }
        self.render()?;
        self.finished = true;
        let all = self.all();
        let (mut cells, mut failed) = (vec![], vec![]);
        for r in std::mem::take(&mut self.written) {
            match r {
                Record::Cell(c) => cells.push(*c),
                Record::Failed(f) => failed.push(*f),
                Record::Ratio(_) => {}
            }
        }
        Ok(Written {
            cells,
            failed,
            all_cells: all.cells,
            all_failed: all.failed,
            all_ratios: all.ratios,
            not_replaced: 0,
        })
    }
}

impl Drop for ResultsWriter {
    /// A run that ended in an error before its first record leaves no file it created.
    fn drop(&mut self) {
        if !self.finished
            && self.created
            && self.written.is_empty()
            && let Some(j) = &self.journal_path
        {
            let _ = std::fs::remove_file(j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::files::TMP_MARK;

    #[test]
    fn a_second_writer_of_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "").unwrap();
        let p = path.to_str().unwrap();
        let first = ResultsWriter::resume(p).unwrap();
        // Refused at creation, before a run could measure anything, and nothing truncated.
        for second in [ResultsWriter::create(p, true), ResultsWriter::resume(p)] {
            let e = second.err().unwrap().to_string();
            assert!(e.contains("another slmbench process is writing this file"), "{e}");
        }
        drop(first);
        ResultsWriter::create(p, false).unwrap().finish().unwrap();
    }

    #[test]
    fn an_existing_results_file_is_never_replaced_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.jsonl", "r.json", "r.md", "r.csv"] {
            let path = dir.path().join(name);
            std::fs::write(&path, "kept\n").unwrap();
            let e = ResultsWriter::create(path.to_str().unwrap(), false).err().unwrap().to_string();
            assert!(e.contains("--resume") && e.contains("--overwrite"), "{e}");
            // Asked to overwrite: still untouched until the first record arrives.
            let w = ResultsWriter::create(path.to_str().unwrap(), true).unwrap();
            drop(w);
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept\n", "{name}");
        }
    }

    #[test]
    fn a_run_that_writes_nothing_leaves_a_valid_empty_file_and_an_abandoned_one_none() {
        let dir = tempfile::tempdir().unwrap();
        let abandoned = dir.path().join("sub/a.json");
        drop(ResultsWriter::create(abandoned.to_str().unwrap(), false).unwrap());
        assert!(!abandoned.exists() && !journal_path(&abandoned).exists());
        for (name, want) in [("e.jsonl", ""), ("e.json", "[]\n")] {
            let path = dir.path().join(name);
            ResultsWriter::create(path.to_str().unwrap(), false).unwrap().finish().unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn appending_ends_a_record_that_lost_only_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "\n\n{\"torn\":").unwrap();
        let mut w = ResultsWriter::resume(path.to_str().unwrap()).unwrap();
        assert!(w.torn().is_some());
        w.write_synced(b"{\"c\": 3}\n".to_vec()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "\n\n{\"c\": 3}\n");
        let path2 = dir.path().join("r2.jsonl");
        std::fs::write(&path2, "\n").unwrap();
        let mut w = ResultsWriter::resume(path2.to_str().unwrap()).unwrap();
        w.append = Some(0);
        w.write_synced(b"{\"c\": 3}\n".to_vec()).unwrap();
        assert_eq!(std::fs::read_to_string(&path2).unwrap(), "{\"c\": 3}\n");
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_stale_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.md");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        // A temporary left by a process that no longer exists (no pid is that large).
        let stale = dir.path().join(format!(".x.md{TMP_MARK}999999999"));
        std::fs::write(&stale, b"half").unwrap();
        remove_stale_temps(dir.path());
        assert!(!stale.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
