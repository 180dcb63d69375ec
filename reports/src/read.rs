//! Reading result files (JSON Lines or a JSON array), one or many, merged.
//!
//! A final JSON Lines record cut short by a crash (no closing newline, not parseable) is reported
//! and skipped; any other unreadable line is an error naming file and line.

use std::path::{Path, PathBuf};

use slmbench_results::context::Context;
use slmbench_results::pair_ratio::PairRatio;
use slmbench_results::schema::{self as results, CellResult, FailedCell, Record};

use crate::error::ReportError;

/// Cells read from one or more files, with notes about what was skipped.
#[derive(Debug, Default)]
pub struct ResultSet {
    pub cells: Vec<CellResult>,
    /// Cells recorded as failed and not measured by a later record.
    pub failed: Vec<FailedCell>,
    /// Ratios of pairs measured interleaved, whose two cells are the kept ones.
    pub ratios: Vec<PairRatio>,
    pub warnings: Vec<String>,
    pub sources: Vec<PathBuf>,
    /// Trends from a run history (`report --history`), when asked for.
    pub history: Option<crate::analysis::trend::HistorySection>,
    /// A workload to predict in the report's cost-curves section (`report --prompt … --output …`).
    pub workload: Option<crate::analysis::predict::Workload>,
}

impl ResultSet {
    /// The records as the exporters take them.
    pub fn kept(&self) -> results::Kept {
        results::Kept {
            cells: self.cells.clone(),
            failed: self.failed.clone(),
            ratios: self.ratios.clone(),
            repeated: vec![],
        }
    }

    /// The context of the first record (measured first, else failed).
    pub fn first_context(&self) -> Option<&Context> {
        self.cells.first().map(|c| &c.context).or_else(|| self.failed.first().map(|f| &f.context))
    }
}

/// Reads one file's records into `records`, in file order.
fn read_records(path: &Path, records: &mut Vec<Record>, warnings: &mut Vec<String>) -> Result<(), ReportError> {
    let bytes = std::fs::read(path).map_err(|source| ReportError::Read { path: path.to_path_buf(), source })?;
    let before = records.len();
    let parse = |line: usize| move |message: String| ReportError::Parse { path: path.to_path_buf(), line, message };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let values: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|e| ReportError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            message: e.to_string(),
        })?;
        for (i, v) in values.into_iter().enumerate() {
            records.push(Record::from_value(v).map_err(parse(i + 1))?);
        }
    } else {
        let lines = results::parse_jsonl(&bytes).map_err(|(line, message)| parse(line)(message))?;
        records.extend(lines.records.into_iter().map(|(_, r)| r));
        if let Some(t) = lines.torn {
            warnings.push(format!(
                "{}:{}: ignored a torn final record ({} bytes, {}); the run that wrote it was cut short",
                path.display(),
                t.line,
                t.bytes,
                t.error
            ));
        }
    }
    if records.len() == before {
        return Err(ReportError::Empty { path: path.to_path_buf() });
    }
    Ok(())
}

/// Reads and merges files. Per cell id one record is kept: a measured record over a failed one
/// (a resumed run that retried it), else the later one (with a warning for measured duplicates).
pub fn read_all(paths: &[PathBuf]) -> Result<ResultSet, ReportError> {
    let mut set = ResultSet::default();
    let mut records = Vec::new();
    for p in paths {
        read_records(p, &mut records, &mut set.warnings)?;
        set.sources.push(p.to_path_buf());
    }
    let kept = results::latest_per_cell(records);
    for id in kept.repeated {
        set.warnings.push(format!("cell {id} appears more than once; the later record is used"));
    }
    set.cells = kept.cells;
    set.failed = kept.failed;
    set.ratios = kept.ratios;
    Ok(set)
}

/// As [`read_all`], for commands that need measurements: an error when no cell was measured.
pub fn read_measured(paths: &[PathBuf]) -> Result<ResultSet, ReportError> {
    let set = read_all(paths)?;
    if set.cells.is_empty() {
        return Err(ReportError::NoMeasured {
            path: paths.first().cloned().unwrap_or_default(),
            failed: set.failed.len(),
        });
    }
    Ok(set)
}
