//! The database schema, as numbered migrations. `PRAGMA user_version` holds how many have run;
//! opening a database runs the rest, each in the same transaction as its version bump, so a kill
//! leaves a database at one version or the next, never between.

use rusqlite::{Connection, TransactionBehavior};

/// Migration `i` takes a database from version `i` to `i + 1`. Append only: a shipped migration
/// never changes.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs (one per `slmbench run`: the context it recorded) and their records, each kept as
    // the JSON it was read from, with the columns queries select on.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        suite_commit TEXT NOT NULL,
        suite_version TEXT NOT NULL,
        machine TEXT NOT NULL,
        started TEXT NOT NULL,
        command TEXT NOT NULL,
        build_profile TEXT NOT NULL,
        UNIQUE (suite_commit, machine, started, command)
    );
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        record_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('cell', 'failed', 'ratio')),
        name TEXT NOT NULL,
        backend TEXT NOT NULL,
        schema_version INTEGER NOT NULL,
        json TEXT NOT NULL,
        UNIQUE (run_id, record_id)
    );",
    // 2: where records came from (an audit of imports), and the index trend and baseline queries
    // walk (one cell's records across runs).
    "CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        time TEXT NOT NULL,
        added INTEGER NOT NULL,
        already INTEGER NOT NULL
    );
    CREATE INDEX records_by_cell ON records (record_id, kind);",
];

/// The version this slmbench writes.
pub const VERSION: usize = MIGRATIONS.len();

/// Runs the migrations from the database's version up to `to`; an error when the database is
/// newer than this slmbench.
pub fn migrate(conn: &mut Connection, to: usize) -> Result<usize, MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let at: usize = tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if at > VERSION {
        return Err(MigrateError::Newer { at });
    }
    for (i, m) in MIGRATIONS.iter().enumerate().take(to).skip(at) {
        tx.execute_batch(m)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(at)
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("it is at schema version {at}, made by a newer slmbench (this one knows {VERSION}); use that slmbench")]
    Newer { at: usize },
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}
