//! Reading results files for import: every record with the JSON it was written as, any schema
//! version the results crate reads (JSON Lines or a JSON array). A torn final line, left by a run
//! that was killed mid-write, is skipped with a warning, as every other reader does.

use std::path::Path;

use slmbench_results::schema::{self, Record};

use crate::HistoryError;

/// One record of a file: parsed, and its JSON as stored.
#[derive(Debug, Clone)]
pub struct Raw {
    pub record: Record,
    pub json: String,
}

/// The records of a results file and what was skipped.
#[derive(Debug, Default)]
pub struct FileRecords {
    pub records: Vec<Raw>,
    pub warnings: Vec<String>,
}

fn bad(path: &Path, line: usize, message: impl std::fmt::Display) -> HistoryError {
    HistoryError::Input(format!("{}:{line}: not a slmbench record: {message}", path.display()))
}

/// Reads `path`: an error naming file and line for anything but a torn final line.
pub fn read(path: &Path) -> Result<FileRecords, HistoryError> {
    let bytes = std::fs::read(path)
        .map_err(|e| HistoryError::Input(format!("cannot read results file {}: {e}", path.display())))?;
    let mut out = FileRecords::default();
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let values: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|e| bad(path, e.line(), e))?;
        for (i, v) in values.into_iter().enumerate() {
            let json = v.to_string();
            let record = Record::from_value(v).map_err(|e| bad(path, i + 1, e))?;
            out.records.push(Raw { record, json });
        }
    } else {
        let lines = schema::parse_jsonl(&bytes).map_err(|(line, e)| bad(path, line, e))?;
        let text: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        for (line, record) in lines.records {
            let json = String::from_utf8_lossy(text[line - 1]).trim().to_string();
            out.records.push(Raw { record, json });
        }
        if let Some(t) = lines.torn {
            out.warnings.push(format!(
                "{}:{}: skipped a torn final record ({} bytes); the run that wrote it was cut short",
                path.display(),
                t.line,
                t.bytes
            ));
        }
    }
    if out.records.is_empty() {
        return Err(HistoryError::Input(format!("{}: no result records", path.display())));
    }
    Ok(out)
}

/// A record as its line in a results file (for `run --history`, which has the records, not
/// their lines).
pub fn raw(record: &Record) -> Raw {
    Raw { record: record.clone(), json: record.json_line() }
}
