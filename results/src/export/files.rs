//! Files of results on disk: the lock every writer takes, the journal beside a rendered file,
//! atomic whole-file writes and the temporaries a kill can leave.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::Format;
use crate::error::ResultsError;

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

/// What marks a temporary file or folder of a writer (followed by its process id).
pub const TMP_MARK: &str = ".slmbench-tmp-";

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
    if let Err(e) = f.write_all(bytes).and_then(|_| f.sync_all()) {
        // A full disk: the half-written temporary goes, the old file stays.
        drop(f);
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
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
            // A report's staging folder is a folder; everything else a file.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir_all(e.path());
            } else {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Where a command that writes one text file (`merge`, `export`, `baseline save`, `history
/// export`) writes it: standard output for `-`, else the file, whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

impl Output {
    /// The output `path` names, checked before anything is computed: `-` is standard output; a
    /// file that exists and is not empty is refused unless `overwrite` (slmbench never replaces
    /// a file without being asked), and so is a folder.
    pub fn claim(path: &Path, overwrite: bool) -> Result<Output, ResultsError> {
        if path == Path::new("-") {
            return Ok(Output::Stdout);
        }
        if path.is_dir() {
            return Err(ResultsError::BadInput(format!("-o {}: is a folder; give a file name", path.display())));
        }
        if let Ok(m) = path.metadata()
            && m.len() > 0
            && !overwrite
        {
            return Err(ResultsError::BadInput(format!(
                "{} already exists ({} bytes); slmbench does not replace a file unasked: pass --overwrite to \
                 replace it, or choose another -o",
                path.display(),
                m.len()
            )));
        }
        Ok(Output::File(path.to_path_buf()))
    }

    /// Writes `bytes`: to standard output, or atomically to the file.
    pub fn write(&self, bytes: &[u8]) -> Result<(), ResultsError> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)
                    .and_then(|_| out.flush())
                    .map_err(|source| ResultsError::Io { path: "-".into(), source })
            }
            Output::File(p) => write_atomic(p, bytes),
        }
    }

    /// How messages name it.
    pub fn name(&self) -> String {
        match self {
            Output::Stdout => "standard output".into(),
            Output::File(p) => p.display().to_string(),
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

pub(crate) fn non_empty(p: &Path) -> bool {
    p.metadata().is_ok_and(|m| m.len() > 0)
}
