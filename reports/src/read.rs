//! Reading result files (JSON Lines or a JSON array), one or many, merged.
//!
//! A final JSON Lines record cut short by a crash (no closing newline, not parseable) is reported
//! and skipped; any other unreadable line is an error naming file and line.

use std::path::{Path, PathBuf};

use slmbench_harness::results::{CellResult, SCHEMA_VERSION};

use crate::error::ReportError;

/// Cells read from one or more files, with notes about what was skipped.
#[derive(Debug, Default)]
pub struct ResultSet {
    pub cells: Vec<CellResult>,
    pub warnings: Vec<String>,
    pub sources: Vec<PathBuf>,
}

fn check_schema(path: &Path, v: &serde_json::Value) -> Result<(), ReportError> {
    let found = v.get("schema_version").and_then(|x| x.as_u64()).unwrap_or(0);
    if found != SCHEMA_VERSION as u64 {
        return Err(ReportError::Schema { path: path.to_path_buf(), found, expected: SCHEMA_VERSION });
    }
    Ok(())
}

fn parse_cell(path: &Path, line: usize, v: serde_json::Value) -> Result<CellResult, ReportError> {
    check_schema(path, &v)?;
    serde_json::from_value(v).map_err(|e| ReportError::Parse { path: path.to_path_buf(), line, message: e.to_string() })
}

/// Reads one file into `set`.
pub fn read_into(path: &Path, set: &mut ResultSet) -> Result<(), ReportError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ReportError::Read { path: path.to_path_buf(), source })?;
    let before = set.cells.len();
    if text.trim_start().starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| ReportError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            message: e.to_string(),
        })?;
        for (i, v) in values.into_iter().enumerate() {
            set.cells.push(parse_cell(path, i + 1, v)?);
        }
    } else {
        let lines: Vec<&str> = text.split('\n').collect();
        let ends_clean = text.ends_with('\n');
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let last = i == lines.len() - 1;
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => set.cells.push(parse_cell(path, i + 1, v)?),
                Err(e) if last && !ends_clean => set.warnings.push(format!(
                    "{}:{}: ignored a torn final record ({} bytes, {e}); the run that wrote it was cut short",
                    path.display(),
                    i + 1,
                    line.len()
                )),
                Err(e) => {
                    return Err(ReportError::Parse { path: path.to_path_buf(), line: i + 1, message: e.to_string() });
                }
            }
        }
    }
    if set.cells.len() == before {
        return Err(ReportError::Empty { path: path.to_path_buf() });
    }
    set.sources.push(path.to_path_buf());
    Ok(())
}

/// Reads and merges files; a cell id seen twice keeps the later record (with a warning).
pub fn read_all(paths: &[PathBuf]) -> Result<ResultSet, ReportError> {
    let mut set = ResultSet::default();
    for p in paths {
        read_into(p, &mut set)?;
    }
    let mut seen = std::collections::HashMap::new();
    let mut keep = vec![true; set.cells.len()];
    for (i, c) in set.cells.iter().enumerate() {
        if let Some(prev) = seen.insert(c.cell_id.clone(), i) {
            keep[prev] = false;
            set.warnings.push(format!("cell {} appears more than once; the later record is used", c.cell_id));
        }
    }
    let mut i = 0;
    set.cells.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    Ok(set)
}
