//! Lines of a results file: the record kinds, reading them (any readable schema version, a torn
//! final line told apart from a bad one), and the one record per cell every reader keeps.

use super::*;
use crate::pair_ratio::{PAIR_RATIO, PairRatio};

pub const FAILED: &str = "failed";

/// One line of a results file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Cell(Box<CellResult>),
    Failed(Box<FailedCell>),
    Ratio(Box<PairRatio>),
}

impl Record {
    pub fn cell_id(&self) -> &str {
        match self {
            Record::Cell(c) => &c.cell_id,
            Record::Failed(f) => &f.cell_id,
            Record::Ratio(r) => &r.ratio_id,
        }
    }

    /// The context of the run that wrote it.
    pub fn context(&self) -> &Context {
        match self {
            Record::Cell(c) => &c.context,
            Record::Failed(f) => &f.context,
            Record::Ratio(r) => &r.context,
        }
    }

    /// What readers keep one record per: the machine and the cell (or ratio) id.
    pub fn record_key(&self) -> crate::identity::RecordKey {
        (crate::identity::Machine::of(self.context()), self.cell_id().to_string())
    }

    /// The schema version it was written with.
    pub fn schema_version(&self) -> u32 {
        match self {
            Record::Cell(c) => c.schema_version,
            Record::Failed(f) => f.schema_version,
            Record::Ratio(r) => r.schema_version,
        }
    }

    /// Its line in a JSON Lines results file, as the exporter writes it (without the newline).
    pub fn json_line(&self) -> String {
        use crate::export::{Exporter, jsonl::Jsonl};
        let line = match self {
            Record::Cell(c) => Jsonl.cell(c),
            Record::Failed(f) => Jsonl.failed(f),
            Record::Ratio(r) => Jsonl.ratio(r),
        };
        String::from_utf8(line.unwrap_or_default()).unwrap_or_default().trim_end().to_string()
    }

    /// Parses one record, checking its schema version; the error says what is wrong.
    pub fn from_value(v: serde_json::Value) -> Result<Record, String> {
        let found = v.get("schema_version").and_then(|x| x.as_u64()).unwrap_or(0);
        if !(OLDEST_READABLE as u64..=SCHEMA_VERSION as u64).contains(&found) {
            return Err(format!(
                "schema_version {found}; this slmbench reads {OLDEST_READABLE} to {SCHEMA_VERSION}: \
                 use the slmbench that wrote it, or re-run"
            ));
        }
        if v.get("record").and_then(|s| s.as_str()) == Some(PAIR_RATIO) {
            let r: PairRatio = serde_json::from_value(v).map_err(|e| e.to_string())?;
            r.check()?;
            Ok(Record::Ratio(Box::new(r)))
        } else if v.get("status").and_then(|s| s.as_str()) == Some(FAILED) {
            serde_json::from_value(v).map(|f| Record::Failed(Box::new(f))).map_err(|e| e.to_string())
        } else {
            let mut c: CellResult = serde_json::from_value(v).map_err(|e| e.to_string())?;
            // A stored median is never trusted over the samples it summarises: an edited or
            // corrupted one is refused, and every summary is computed again from the samples
            // (which also gives the intervals of versions 1 and 2, [min, max] at small n, by
            // today's rule).
            c.check_summaries()?;
            c.refresh_summaries();
            Ok(Record::Cell(Box::new(c)))
        }
    }
}

/// The records a reader keeps, one per cell (and per ratio), in file order.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    pub cells: Vec<CellResult>,
    pub failed: Vec<FailedCell>,
    pub ratios: Vec<PairRatio>,
    /// Ids of measured cells that appeared more than once.
    pub repeated: Vec<String>,
}

/// One record per cell, as every reader keeps them: a measured record wins over a failure of the
/// same cell (a resumed run that retried it), else the later record. A ratio record is kept only
/// while both cells it names are the ones kept (a later record of either, measured alone,
/// supersedes the pairing).
pub fn latest_per_cell(records: Vec<Record>) -> Kept {
    use crate::identity::RecordKey;
    // Keyed by machine and cell: the same cell measured on two machines is two records.
    let mut chosen: std::collections::HashMap<RecordKey, usize> = std::collections::HashMap::new();
    let mut repeated = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let key = r.record_key();
        match chosen.get(&key).map(|&j| &records[j]) {
            None | Some(Record::Failed(_)) | Some(Record::Ratio(_)) => {}
            Some(Record::Cell(_)) if matches!(r, Record::Failed(_)) => continue,
            Some(Record::Cell(_)) => repeated.push(r.cell_id().to_string()),
        }
        chosen.insert(key, i);
    }
    let mut keep: Vec<usize> = chosen.values().copied().collect();
    keep.sort_unstable();
    let mut records: Vec<Option<Record>> = records.into_iter().map(Some).collect();
    let mut kept = Kept { repeated, ..Kept::default() };
    let mut ratios = vec![];
    for i in keep {
        match records[i].take() {
            Some(Record::Cell(c)) => kept.cells.push(*c),
            Some(Record::Failed(f)) => kept.failed.push(*f),
            Some(Record::Ratio(r)) => ratios.push((i, *r)),
            None => {}
        }
    }
    // A ratio stands while both its cells are measured records of its machine kept from before it.
    let measured: std::collections::HashSet<RecordKey> = kept.cells.iter().map(|c| c.record_key()).collect();
    let current = |r: &PairRatio, c: &str, i: usize| {
        let key = (crate::identity::Machine::of(&r.context), c.to_string());
        chosen.get(&key).is_some_and(|&j| j < i) && measured.contains(&key)
    };
    let ratios: Vec<PairRatio> = ratios
        .into_iter()
        .filter(|(i, r)| current(r, &r.encoder_decoder_cell, *i) && current(r, &r.decoder_only_cell, *i))
        .map(|(_, r)| r)
        .collect();
    kept.ratios = ratios;
    kept
}

/// A final line cut short by a crash: no closing newline and not parseable.
#[derive(Debug, Clone, PartialEq)]
pub struct Torn {
    /// 1-based line number.
    pub line: usize,
    /// Byte offset where the torn line starts (the length of the file's intact part).
    pub offset: usize,
    pub bytes: usize,
    pub error: String,
}

/// Records of a JSON Lines file and its torn tail, if any.
#[derive(Debug, Default)]
pub struct Lines {
    pub records: Vec<(usize, Record)>,
    pub torn: Option<Torn>,
}

/// Parses JSON Lines from raw bytes (a crash may also cut a UTF-8 character in two). Blank lines
/// are skipped; a bad final line without its newline is a torn write and reported in `torn`;
/// any other bad line is an error `(line, message)`.
pub fn parse_jsonl(bytes: &[u8]) -> Result<Lines, (usize, String)> {
    let mut out = Lines::default();
    let ends_clean = bytes.ends_with(b"\n");
    let mut offset = 0usize;
    let mut lines = bytes.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let start = offset;
        offset += line.len() + 1;
        let last = lines.peek().is_none();
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<serde_json::Value>(line).map_err(|e| e.to_string());
        match parsed {
            Ok(v) => out.records.push((i + 1, Record::from_value(v).map_err(|e| (i + 1, e))?)),
            Err(error) if last && !ends_clean => {
                out.torn = Some(Torn { line: i + 1, offset: start, bytes: line.len(), error });
            }
            Err(e) => return Err((i + 1, e)),
        }
    }
    Ok(out)
}
