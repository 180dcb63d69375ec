//! Joining the results files of disjoint shards (`slmbench merge`) into one JSON Lines file.

use std::path::{Path, PathBuf};

use slmbench_results::export::{Output, lock};

use crate::error::ReportError;
use crate::read::read_all;

/// What a merge wrote, and what the user should know.
#[derive(Debug, Default)]
pub struct Merged {
    pub measured: usize,
    pub failed: usize,
    /// Empty inputs skipped, readers' warnings.
    pub notes: Vec<String>,
}

/// Joins `inputs` into `out` (`-`: standard output), atomically (a kill mid-merge leaves `out` as
/// it was) and under the results file's lock (merging into a file a run is writing is refused).
/// Refused: an `out` that already holds something, unless `overwrite`; files measured on
/// different machines; a cell in more than one file. A failed merge removes an `out` it created.
pub fn merge(inputs: &[PathBuf], out: &Path, overwrite: bool) -> Result<Merged, ReportError> {
    let target = Output::claim(out, overwrite)?;
    let existed = out.exists();
    let merged = merge_into(inputs, out, &target);
    if merged.is_err() && !existed && target != Output::Stdout {
        let _ = std::fs::remove_file(out);
    }
    merged
}

fn merge_into(inputs: &[PathBuf], out: &Path, target: &Output) -> Result<Merged, ReportError> {
    let _lock = match target {
        Output::File(p) => Some(lock(p)?),
        Output::Stdout => None,
    };
    let mut merged = Merged::default();
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut first_machine: Option<String> = None;
    let json = |e: serde_json::Error| ReportError::Merge(e.to_string());
    for p in inputs {
        // An empty shard (more shards than cells) writes an empty file: nothing to join.
        let text = std::fs::read(p).map_err(|source| ReportError::Read { path: p.clone(), source })?;
        if text.iter().all(u8::is_ascii_whitespace) {
            if p != out {
                merged.notes.push(format!("{} holds no record (an empty shard?); skipped", p.display()));
            }
            continue;
        }
        let set = read_all(std::slice::from_ref(p))?;
        merged.notes.extend(set.warnings.iter().map(|w| format!("warning: {w}")));
        let machines = slmbench_results::identity::machines(
            set.cells.iter().map(|c| &c.context).chain(set.failed.iter().map(|f| &f.context)),
        );
        if machines.len() > 1 {
            return Err(ReportError::Merge(format!(
                "{} holds cells of {} machines; merge joins shards of one machine's sweep",
                p.display(),
                machines.len()
            )));
        }
        let fp = set.first_context().ok_or_else(|| ReportError::Empty { path: p.clone() })?.fingerprint();
        match &first_machine {
            Some(m) if *m != fp => {
                return Err(ReportError::Merge(format!(
                    "{} was measured on another machine ({fp}) than the files before it ({m})",
                    p.display()
                )));
            }
            None => first_machine = Some(fp),
            _ => {}
        }
        merged.measured += set.cells.len();
        merged.failed += set.failed.len();
        for c in &set.cells {
            lines.push((c.cell_id.clone(), serde_json::to_string(c).map_err(json)?));
        }
        for f in &set.failed {
            lines.push((f.cell_id.clone(), serde_json::to_string(f).map_err(json)?));
        }
        // After the cells they name, as a run writes them.
        for r in &set.ratios {
            lines.push((r.ratio_id.clone(), serde_json::to_string(r).map_err(json)?));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (id, _) in &lines {
        if !seen.insert(id.clone()) {
            return Err(ReportError::Merge(format!(
                "cell {id} appears in more than one file; merge joins disjoint shards"
            )));
        }
    }
    let text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    target.write(text.as_bytes())?;
    Ok(merged)
}
