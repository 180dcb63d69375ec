//! The run history: the records of many runs in one SQLite file (bundled SQLite, nothing to
//! install), keyed by suite commit, machine, run start and command (the run) and cell id (the
//! record), so that importing the same results twice stores them once.
//!
//! Every import is one transaction (`BEGIN IMMEDIATE`, write-ahead log, `synchronous = FULL`):
//! a kill mid-import leaves the database as it was before, and concurrent writers (two CI jobs)
//! wait for each other (busy timeout) instead of failing.

pub mod import;
pub mod migrations;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use slmbench_results::context::Context;
use slmbench_results::schema::{CellResult, Record};

pub use import::Raw;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history database {path}: {message}")]
    Db { path: PathBuf, message: String },
    #[error("{0}")]
    Input(String),
}

/// The id of a run by its key (suite commit, machine, start, command).
const RUN_ID: &str = "SELECT id FROM runs WHERE suite_commit = ?1 AND machine = ?2 AND started = ?3 AND command = ?4";

/// How long a writer waits for another to finish its transaction.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// An open history database.
pub struct History {
    conn: Connection,
    path: PathBuf,
}

/// A run as `history list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub suite_commit: String,
    pub suite_version: String,
    pub machine: String,
    pub started: String,
    pub command: String,
    pub build_profile: String,
    pub cells: usize,
    pub failed: usize,
    pub ratios: usize,
}

/// A measured cell with the run it belongs to.
#[derive(Debug, Clone)]
pub struct StoredCell {
    pub run_id: i64,
    pub suite_commit: String,
    pub started: String,
    pub cell: CellResult,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Added {
    pub added: usize,
    /// Records the history already held (the same run and cell id).
    pub already: usize,
}

/// The columns a record is selected by: kind, name and backend.
fn columns(r: &Record) -> (&'static str, String, &str) {
    match r {
        Record::Cell(c) => ("cell", c.model.name.clone(), &c.settings.backend),
        Record::Failed(f) => ("failed", f.model.name.clone(), &f.settings.backend),
        Record::Ratio(r) => ("ratio", r.pair.clone(), &r.settings.backend),
    }
}

impl History {
    /// Opens (creating it and its folder when missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        History::open_at(path, migrations::VERSION)
    }

    /// Opens an existing database for reading (`history list`, `show`, `export`, a report's or
    /// gate's history): a missing file is an error, never created.
    pub fn open_existing(path: &Path) -> Result<History, HistoryError> {
        if !path.is_file() {
            return Err(HistoryError::Db {
                path: path.to_path_buf(),
                message: "no such file: nothing has been added to it yet (`slmbench history add RESULTS`, or \
                          `run --history`), or the path is wrong"
                    .into(),
            });
        }
        History::open(path)
    }

    /// As [`History::open`], migrated only up to `version` (tests of migrations).
    #[doc(hidden)]
    pub fn open_at(path: &Path, version: usize) -> Result<History, HistoryError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| HistoryError::Db {
                path: path.to_path_buf(),
                message: format!("cannot create its folder: {e}"),
            })?;
        }
        let db = |e: &dyn std::fmt::Display| HistoryError::Db { path: path.to_path_buf(), message: e.to_string() };
        let mut conn = Connection::open(path).map_err(|e| db(&e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| db(&e))?;
        // Before anything is written to it: a file that is another program's is left alone.
        migrations::check_ours(&conn).map_err(|e| db(&e))?;
        // WAL: readers do not block the writer; FULL: a committed import survives power loss too.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| db(&e))?;
        if mode != "wal" {
            return Err(db(&format!("cannot use a write-ahead log (journal mode is {mode}); is it a SQLite file?")));
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| db(&e))?;
        conn.pragma_update(None, "foreign_keys", true).map_err(|e| db(&e))?;
        migrations::migrate(&mut conn, version).map_err(|e| db(&e))?;
        Ok(History { conn, path: path.to_path_buf() })
    }

    /// A plain connection to the file, without migrations (tests that build old or odd databases).
    #[doc(hidden)]
    pub fn raw_connection(path: &Path) -> rusqlite::Result<Connection> {
        Connection::open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> HistoryError + '_ {
        |e| HistoryError::Db { path: self.path.clone(), message: e.to_string() }
    }

    /// The schema version of the open database.
    pub fn version(&self) -> Result<usize, HistoryError> {
        let v = self.conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map_err(self.err())?;
        usize::try_from(v).map_err(|_| HistoryError::Db {
            path: self.path.clone(),
            message: format!("its schema version (user_version) is {v}: not a slmbench history, or damaged"),
        })
    }

    /// Adds `records` (from `source`, for the audit) in one transaction; records the history
    /// already holds are counted, not stored again. `between` runs after each record inside the
    /// transaction (a test hook: a kill there must leave nothing of this import behind).
    pub fn add(&mut self, source: &str, records: &[Raw], between: &dyn Fn()) -> Result<Added, HistoryError> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| HistoryError::Db { path: path.clone(), message: e.to_string() };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let mut added = Added::default();
        for raw in records {
            let c = raw.record.context();
            tx.execute(
                "INSERT INTO runs (suite_commit, suite_version, machine, started, command, build_profile)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![c.suite_commit, c.suite_version, c.fingerprint(), c.time_rfc3339, c.command, c.build_profile],
            )
            .map_err(err)?;
            let run: i64 = tx
                .query_row(RUN_ID, params![c.suite_commit, c.fingerprint(), c.time_rfc3339, c.command], |r| r.get(0))
                .map_err(err)?;
            let (kind, name, backend) = columns(&raw.record);
            let n = tx
                .execute(
                    "INSERT INTO records (run_id, record_id, kind, name, backend, schema_version, json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                    params![run, raw.record.cell_id(), kind, name, backend, raw.record.schema_version(), raw.json],
                )
                .map_err(err)?;
            if n == 1 {
                added.added += 1;
            } else {
                added.already += 1;
            }
            between();
        }
        tx.execute(
            "INSERT INTO imports (source, time, added, already) VALUES (?1, ?2, ?3, ?4)",
            params![source, slmbench_results::context::rfc3339_now(), added.added as i64, added.already as i64],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Every run, oldest first, with how many records of each kind it holds.
    pub fn runs(&self) -> Result<Vec<RunRow>, HistoryError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT r.id, r.suite_commit, r.suite_version, r.machine, r.started, r.command, r.build_profile,
                    SUM(c.kind = 'cell'), SUM(c.kind = 'failed'), SUM(c.kind = 'ratio')
                 FROM runs r LEFT JOIN records c ON c.run_id = r.id
                 GROUP BY r.id ORDER BY r.started, r.id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                let n = |i| r.get::<_, Option<i64>>(i).map(|v| v.unwrap_or(0) as usize);
                Ok(RunRow {
                    id: r.get(0)?,
                    suite_commit: r.get(1)?,
                    suite_version: r.get(2)?,
                    machine: r.get(3)?,
                    started: r.get(4)?,
                    command: r.get(5)?,
                    build_profile: r.get(6)?,
                    cells: n(7)?,
                    failed: n(8)?,
                    ratios: n(9)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The measured records of cell `cell_id`, oldest run first; `machine`: only runs on it.
    pub fn cell_series(&self, cell_id: &str, machine: Option<&str>) -> Result<Vec<StoredCell>, HistoryError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT r.id, r.suite_commit, r.started, c.json FROM records c JOIN runs r ON r.id = c.run_id
                 WHERE c.record_id = ?1 AND c.kind = 'cell' AND (?2 IS NULL OR r.machine = ?2)
                 ORDER BY r.started, r.id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![cell_id, machine], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })
            .map_err(self.err())?;
        let mut out = vec![];
        for row in rows {
            let (run_id, suite_commit, started, json) = row.map_err(self.err())?;
            out.push(StoredCell { run_id, suite_commit, started, cell: self.parse_cell(&json)? });
        }
        Ok(out)
    }

    fn parse_cell(&self, json: &str) -> Result<CellResult, HistoryError> {
        let bad = |e: String| HistoryError::Db { path: self.path.clone(), message: format!("a stored record: {e}") };
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        match Record::from_value(v).map_err(bad)? {
            Record::Cell(c) => Ok(*c),
            _ => Err(bad("not a measured cell".into())),
        }
    }

    /// Every measured cell id the history holds, per machine, each with its first record (to name it).
    pub fn distinct_cells(&self) -> Result<Vec<(String, CellResult)>, HistoryError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT record_id, json FROM records WHERE id IN
                 (SELECT MIN(c.id) FROM records c JOIN runs r ON r.id = c.run_id WHERE c.kind = 'cell'
                  GROUP BY c.record_id, r.machine) ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(self.err())?;
        let mut out = vec![];
        for row in rows {
            let (id, json) = row.map_err(self.err())?;
            out.push((id, self.parse_cell(&json)?));
        }
        Ok(out)
    }

    /// The run of a record with this context, if the history holds it.
    pub fn run_of(&self, c: &Context) -> Result<Option<i64>, HistoryError> {
        self.conn
            .query_row(RUN_ID, params![c.suite_commit, c.fingerprint(), c.time_rfc3339, c.command], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// Every record as JSON Lines, oldest run first, each as it was imported: what a results
    /// reader (`report`, `history add` of another database) takes back.
    pub fn export(&self, out: &mut dyn std::io::Write) -> Result<usize, HistoryError> {
        let mut st = self
            .conn
            .prepare("SELECT c.json FROM records c JOIN runs r ON r.id = c.run_id ORDER BY r.started, r.id, c.id")
            .map_err(self.err())?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(self.err())?;
        let mut n = 0;
        for json in rows {
            let json = json.map_err(self.err())?;
            // Checked as every reader checks it (a median against its samples), so an edited
            // record stops the export instead of travelling on.
            let v: serde_json::Value = serde_json::from_str(&json)
                .map_err(|e| HistoryError::Db { path: self.path.clone(), message: format!("a stored record: {e}") })?;
            Record::from_value(v)
                .map_err(|e| HistoryError::Db { path: self.path.clone(), message: format!("a stored record: {e}") })?;
            writeln!(out, "{json}").map_err(|e| HistoryError::Input(format!("cannot write the export: {e}")))?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes a consistent copy of the database to `out` (`VACUUM INTO`: one read transaction,
    /// so writers may go on meanwhile).
    pub fn backup(&self, out: &Path) -> Result<(), HistoryError> {
        let to = out.to_str().ok_or_else(|| HistoryError::Input(format!("{}: not a UTF-8 path", out.display())))?;
        self.conn.execute("VACUUM INTO ?1", [to]).map(|_| ()).map_err(|e| HistoryError::Db {
            path: self.path.clone(),
            message: format!("cannot back up to {}: {e}", out.display()),
        })
    }

    /// `PRAGMA integrity_check`: `ok`, or what is broken.
    pub fn integrity(&self) -> Result<String, HistoryError> {
        self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(self.err())
    }
}
