//! The records already in a results file that a sweep resumes: which cells to skip.

use std::collections::HashMap;

use crate::error::HarnessError;
use crate::results::{self, Record};

/// The records already in a results file being resumed.
#[derive(Debug, Default)]
pub struct Done {
    /// Cell id → whether its record is a failure.
    pub ids: HashMap<String, bool>,
    /// Bytes of intact records (a torn tail starts here).
    pub keep: u64,
    pub torn: Option<String>,
}

impl Done {
    /// Reads `path`; a missing file is an empty one (resuming a run that never wrote a cell).
    pub fn read(path: &str) -> Result<Done, HarnessError> {
        match std::fs::read(path) {
            Ok(b) => Done::from_bytes(path, &b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Done::default()),
            Err(source) => Err(HarnessError::Io { path: path.into(), source }),
        }
    }

    /// The cells of records already read.
    pub fn from_records(records: &[Record]) -> Done {
        let mut done = Done::default();
        for r in records {
            let failed = matches!(r, Record::Failed(_));
            // A measured record wins over a failure of the same cell, whatever the order.
            let entry = done.ids.entry(r.cell_id().to_string()).or_insert(failed);
            *entry &= failed;
        }
        done
    }

    /// Parses the bytes of `path` (named in errors).
    pub fn from_bytes(path: &str, bytes: &[u8]) -> Result<Done, HarnessError> {
        let lines = results::parse_jsonl(bytes).map_err(|(line, e)| {
            HarnessError::BadInput(format!(
                "--resume {path}: line {line} is not a slmbench record ({e}); only a torn final line can be skipped"
            ))
        })?;
        let mut done = Done { keep: bytes.len() as u64, ..Done::default() };
        for (_, r) in &lines.records {
            let failed = matches!(r, Record::Failed(_));
            // A measured record wins over a failure of the same cell, whatever the order.
            let entry = done.ids.entry(r.cell_id().to_string()).or_insert(failed);
            *entry &= failed;
        }
        if let Some(t) = lines.torn {
            done.keep = t.offset as u64;
            done.torn = Some(format!(
                "{path}:{}: dropped a torn final record ({} bytes: {}) left by a run that was cut short",
                t.line, t.bytes, t.error
            ));
        }
        Ok(done)
    }

    pub(crate) fn skip(&self, id: &str, retry_failed: bool) -> bool {
        match self.ids.get(id) {
            Some(&failed) => !(failed && retry_failed),
            None => false,
        }
    }
}
