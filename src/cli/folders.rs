//! Where a run writes: its own folder under `reports/runs/`, the `reports/latest` pointer, and the
//! folder of a results file's report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Where a default run writes: a new folder `reports/runs/<UTC time>` (claimed atomically, with a
/// suffix when two runs start in the same second), marked as a run folder so that its report is
/// written inside it.
pub(super) fn new_run_folder() -> Result<PathBuf> {
    let runs = Path::new(DEFAULT_ROOT).join("runs");
    std::fs::create_dir_all(&runs).with_context(|| format!("cannot create {}", runs.display()))?;
    let stamp = slmbench_results::context::rfc3339_now().replace(':', "-");
    for i in 1..1000 {
        let dir = runs.join(if i == 1 { stamp.clone() } else { format!("{stamp}-{i}") });
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::write(dir.join(RUN_MARKER), b"")
                    .with_context(|| format!("cannot write in {}", dir.display()))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => bail!("cannot create {}: {e}", dir.display()),
        }
    }
    bail!("{} has 999 runs started in the same second; give -o", runs.display())
}

const DEFAULT_ROOT: &str = "reports";
/// Marks a folder that slmbench made for one run: the report goes inside it.
const RUN_MARKER: &str = ".slmbench-run";

/// Points `reports/latest` at the newest run folder (a symbolic link, replaced atomically). A
/// `reports/latest` folder left by an older slmbench is moved into `reports/runs/`, never deleted.
pub(super) fn point_latest_at(run: &Path) -> Result<()> {
    let latest = Path::new(DEFAULT_ROOT).join("latest");
    if latest.is_dir() && !latest.is_symlink() {
        let keep = Path::new(DEFAULT_ROOT).join("runs").join(format!(
            "latest-before-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
        ));
        std::fs::rename(&latest, &keep)
            .with_context(|| format!("cannot move the old {} to {}", latest.display(), keep.display()))?;
        eprintln!("slmbench: moved the previous {} to {}", latest.display(), keep.display());
    }
    #[cfg(unix)]
    {
        let target = Path::new("runs").join(run.file_name().unwrap_or_default());
        let tmp = Path::new(DEFAULT_ROOT).join(format!(".latest.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        std::fs::rename(&tmp, &latest).with_context(|| format!("cannot replace {}", latest.display()))?;
    }
    #[cfg(not(unix))]
    {
        // Symbolic links need extra rights on Windows: a text file names the newest run instead.
        std::fs::write(Path::new(DEFAULT_ROOT).join("latest.txt"), run.display().to_string())?;
    }
    Ok(())
}

/// The folder of a results file's report: the run folder itself for a default run, else
/// `<file name>.report/` beside the file, so that runs in one folder never share a report.
pub(super) fn report_dir(output: &str) -> PathBuf {
    let path = Path::new(output);
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if parent.join(RUN_MARKER).is_file() {
        return parent.to_path_buf();
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".report");
    parent.join(name)
}
