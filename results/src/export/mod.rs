//! Result exporters: one trait, one file per format. Exporters only turn results into bytes; the
//! [`ResultsWriter`] writes them to a file or stdout, flushing streaming formats after every cell.

pub mod csv;
pub mod json;
pub mod jsonl;
pub mod markdown;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::ResultsError;
use crate::schema::{CellResult, FailedCell, Record, Torn};

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

/// Opens `path` for writing (created if missing, never truncated here) and takes an exclusive
/// lock. Every writer of a results file (`run`, `run --resume`, `merge`) takes this lock first.
pub fn lock(path: &Path) -> Result<File, ResultsError> {
    let io = |source| ResultsError::Io { path: path.to_path_buf(), source };
    let f = OpenOptions::new().create(true).truncate(false).write(true).read(true).open(path).map_err(io)?;
    match f.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(ResultsError::BadInput(format!(
                "{}: another slmbench process is writing this file; wait for it or choose another file",
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

/// The JSON Lines journal of a results file: the file itself for `.jsonl`, else
/// `<file>.journal.jsonl` beside it. Every record reaches the journal (fsynced) before the next
/// cell starts; other formats are rendered from it.
pub fn journal_path(target: &Path) -> PathBuf {
    match Format::from_path(&target.to_string_lossy()) {
        Ok(Format::Jsonl) => target.to_path_buf(),
        _ => {
            let mut name = target.file_name().unwrap_or_default().to_os_string();
            name.push(".journal.jsonl");
            target.with_file_name(name)
        }
    }
}

const TMP_MARK: &str = ".slmbench-tmp-";

/// Writes `path` whole or not at all: a hidden temporary file beside it, fsynced, then renamed
/// over it. A kill leaves the old file or the new one, never a part (at most a hidden
/// `.NAME.slmbench-tmp-PID`, which the next writer of that folder removes).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ResultsError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ResultsError::Io { path: p, source }
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}{TMP_MARK}{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path)(e)
    })?;
    // The rename itself reaches the disk with the folder (best effort: not every OS can fsync one).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes temporary files that a killed writer left in `dir` (only ours, and not of live
/// processes: the name ends in the writer's process id).
pub fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((_, pid)) = name.rsplit_once(TMP_MARK) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        // Where /proc cannot tell whether the writer lives, only temporaries an hour old go.
        let alive = if Path::new("/proc/self").exists() {
            pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
        } else {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age.as_secs() < 3600)
        };
        if name.starts_with('.') && !alive {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Which results files can be resumed: any file format (JSON Lines is appended to; the others are
/// rendered again from their journal), not stdout.
pub fn check_resumable(path: &str) -> Result<(), ResultsError> {
    let format = Format::from_path(path)?;
    if path == "-" {
        return Err(ResultsError::BadInput(
            "--resume -: stdout cannot be resumed; give the results file of the run to continue".into(),
        ));
    }
    let target = Path::new(path);
    let journal = journal_path(target);
    if format != Format::Jsonl && !journal.exists() && target.metadata().is_ok_and(|m| m.len() > 0) {
        return Err(ResultsError::BadInput(format!(
            "--resume {path}: its journal {} is missing (slmbench keeps every record of a .{} file there); \
             only files written with their journal can be resumed",
            journal.display(),
            target.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default()
        )));
    }
    Ok(())
}

fn non_empty(p: &Path) -> bool {
    p.metadata().is_ok_and(|m| m.len() > 0)
}

/// Writes records as cells finish. Every record is appended to the JSON Lines journal, flushed
/// and fsynced before the next cell starts; a `.json`, `.csv` or `.md` results file is rendered
/// again from all records after each one, atomically, so a kill at any moment leaves it complete
/// with what was measured. The journal is locked from the start (created if missing, which also
/// proves the folder writable before anything is measured), so a second run on it is refused
/// before it measures anything. An existing results file is never truncated unless asked to
/// (`overwrite`), and even then only when the first new record is written.
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
    cells: Vec<CellResult>,
    failed: Vec<FailedCell>,
    finished: bool,
}

/// What a writer holds at the end.
#[derive(Debug, Default)]
pub struct Written {
    /// This run's records.
    pub cells: Vec<CellResult>,
    pub failed: Vec<FailedCell>,
    /// Every record of the file (earlier ones too when resuming), one per cell.
    pub all_cells: Vec<CellResult>,
    pub all_failed: Vec<FailedCell>,
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
            cells: vec![],
            failed: vec![],
            finished: false,
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
        if let (Some(target), Some(journal), false) = (&w.target, &w.journal_path, overwrite)
            && let Some(existing) = [target, journal].into_iter().find(|p| non_empty(p))
        {
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
    fn all(&self) -> (Vec<CellResult>, Vec<FailedCell>) {
        let records: Vec<Record> = self
            .earlier
            .iter()
            .cloned()
            .chain(self.cells.iter().map(|c| Record::Cell(Box::new(c.clone()))))
            .chain(self.failed.iter().map(|f| Record::Failed(Box::new(f.clone()))))
            .collect();
        let (cells, failed, _) = crate::schema::latest_per_cell(records);
        (cells, failed)
    }

    /// Renders a non-JSON-Lines results file from every record, atomically.
    fn render(&self) -> Result<(), ResultsError> {
        let Some(target) = self.target.as_deref().filter(|_| self.format != Format::Jsonl) else { return Ok(()) };
        let (cells, failed) = self.all();
        write_atomic(target, &render(self.format.exporter().as_ref(), &cells, &failed))
    }

    /// Records a finished cell: in the journal (on disk before this returns), then in the file.
    pub fn push(&mut self, cell: CellResult) -> Result<(), ResultsError> {
        self.write_synced(jsonl::Jsonl.cell(&cell).unwrap_or_default())?;
        self.cells.push(cell);
        self.render()
    }

    /// Records a failed cell, as [`ResultsWriter::push`] does a measured one.
    pub fn push_failed(&mut self, failed: FailedCell) -> Result<(), ResultsError> {
        self.write_synced(jsonl::Jsonl.failed(&failed).unwrap_or_default())?;
        self.failed.push(failed);
        self.render()
    }

    /// Ends the file: a run that measured nothing (an empty shard) still leaves a valid, empty
    /// results file; stdout gets its Markdown table.
    pub fn finish(mut self) -> Result<Written, ResultsError> {
        self.open()?;
        if self.target.is_none() && !(self.cells.is_empty() && self.failed.is_empty()) {
            let table = markdown::Markdown.finish(&self.cells, &self.failed);
            std::io::stdout().write_all(&table).map_err(|source| ResultsError::Io { path: "-".into(), source })?;
        }
        self.render()?;
        self.finished = true;
        let (all_cells, all_failed) = self.all();
        Ok(Written {
            cells: std::mem::take(&mut self.cells),
            failed: std::mem::take(&mut self.failed),
            all_cells,
            all_failed,
        })
    }
}

impl Drop for ResultsWriter {
    /// A run that ended in an error before its first record leaves no file it created.
    fn drop(&mut self) {
        if !self.finished
            && self.created
            && self.cells.is_empty()
            && self.failed.is_empty()
            && let Some(j) = &self.journal_path
        {
            let _ = std::fs::remove_file(j);
        }
    }
}

/// The whole file of a format, from every record.
pub fn render(e: &dyn Exporter, cells: &[CellResult], failed: &[FailedCell]) -> Vec<u8> {
    let mut out = e.header();
    for c in cells {
        out.extend(e.cell(c).unwrap_or_default());
    }
    for f in failed {
        out.extend(e.failed(f).unwrap_or_default());
    }
    out.extend(e.finish(cells, failed));
    out
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
