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
    let at = version(&tx)?;
    if at > VERSION {
        return Err(MigrateError::Newer { at });
    }
    for (i, m) in MIGRATIONS.iter().enumerate().take(to).skip(at) {
        tx.execute_batch(m)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    if at == 0 && to > 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    tx.commit()?;
    Ok(at)
}

/// `PRAGMA application_id` of a slmbench history ("SLMB"): set when the schema is created, so
/// another program's SQLite file is told apart from ours.
pub const APPLICATION_ID: i32 = 0x534c_4d42;

/// The tables a slmbench history has (databases made before the application id was set are
/// recognised by them).
const OURS: [&str; 3] = ["imports", "records", "runs"];

/// The database's schema version; an error for a negative one (not ours, or damaged).
fn version(conn: &Connection) -> Result<usize, MigrateError> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    usize::try_from(v).map_err(|_| MigrateError::NotOurs(format!("its user_version is {v}")))
}

/// Refuses a SQLite file that is not a slmbench history (nor empty): another program's tables,
/// or another application id. Nothing is written to it.
pub fn check_ours(conn: &Connection) -> Result<(), MigrateError> {
    let id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if id != 0 && id != APPLICATION_ID {
        return Err(MigrateError::NotOurs(format!("its application_id is {id:#x}")));
    }
    let mut st =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?;
    let tables: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let foreign: Vec<&String> = tables.iter().filter(|t| !OURS.contains(&t.as_str())).collect();
    if !foreign.is_empty() {
        let list: Vec<&str> = foreign.iter().map(|t| t.as_str()).collect();
        return Err(MigrateError::NotOurs(format!("it has tables slmbench does not make ({})", list.join(", "))));
    }
    version(conn)?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("not a slmbench history: {0}; give --db a file of its own (a new path is created)")]
    NotOurs(String),
    #[error("it is at schema version {at}, made by a newer slmbench (this one knows {VERSION}); use that slmbench")]
    Newer { at: usize },
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}
