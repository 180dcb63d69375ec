//! The history database on its own: import, idempotence, older schema versions, migrations,
//! transactions, and the errors a user meets. (Kills and concurrent processes are tested through
//! the binary in the root crate's `tests/history.rs`.)

use std::path::{Path, PathBuf};

use slmbench_history::{History, Raw, import, migrations};

fn published() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/published/default/results.jsonl")
}

fn records() -> Vec<Raw> {
    import::read(&published()).unwrap().records
}

#[test]
fn importing_twice_stores_once_and_export_gives_the_records_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("deep/er/h.sqlite");
    let mut h = History::open(&db).unwrap();
    let recs = records();
    let a = h.add("first", &recs, &|| ()).unwrap();
    assert_eq!((a.added, a.already), (6, 0));
    let b = h.add("again", &recs, &|| ()).unwrap();
    assert_eq!((b.added, b.already), (0, 6));
    let runs = h.runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].cells, runs[0].failed, runs[0].ratios), (4, 0, 2));
    let mut out = vec![];
    assert_eq!(h.export(&mut out).unwrap(), 6);
    // Every exported line is the imported record, byte for byte.
    let original = std::fs::read_to_string(published()).unwrap();
    let exported = String::from_utf8(out).unwrap();
    assert_eq!(exported.lines().collect::<Vec<_>>(), original.lines().collect::<Vec<_>>());
    // A reopened database holds the same.
    drop(h);
    let h = History::open(&db).unwrap();
    assert_eq!(h.runs().unwrap().len(), 1);
    assert_eq!(h.integrity().unwrap(), "ok");
}

#[test]
fn a_cell_series_follows_the_runs_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = History::open(&dir.path().join("h.sqlite")).unwrap();
    let recs = records();
    let id = recs[0].record.cell_id().to_string();
    // Three "runs" of the same cells: the same records with later start times and commits.
    for (i, commit) in ["c0", "c1", "c2"].iter().enumerate().rev() {
        let moved: Vec<Raw> = recs
            .iter()
            .map(|r| {
                let mut v: serde_json::Value = serde_json::from_str(&r.json).unwrap();
                v["context"]["suite_commit"] = (*commit).into();
                v["context"]["time_rfc3339"] = format!("2026-01-0{}T00:00:00Z", i + 1).into();
                Raw { record: slmbench_results::schema::Record::from_value(v.clone()).unwrap(), json: v.to_string() }
            })
            .collect();
        h.add("test", &moved, &|| ()).unwrap();
    }
    let series = h.cell_series(&id, None).unwrap();
    assert_eq!(series.iter().map(|s| s.suite_commit.as_str()).collect::<Vec<_>>(), ["c0", "c1", "c2"]);
    let machine = series[0].cell.context.fingerprint();
    assert_eq!(h.cell_series(&id, Some(&machine)).unwrap().len(), 3);
    assert!(h.cell_series(&id, Some("another machine")).unwrap().is_empty());
    assert_eq!(h.distinct_cells().unwrap().len(), 4);
}

#[test]
fn records_of_older_schema_versions_are_imported_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v1.jsonl");
    // A version-1 record: no content hash, no backend, no drift; [min, max] intervals.
    let mut v: serde_json::Value = serde_json::from_str(&records()[0].json).unwrap();
    v["schema_version"] = 1.into();
    for k in ["content_sha256", "precision", "graph_variant"] {
        v["model"].as_object_mut().unwrap().remove(k);
    }
    for k in ["backend", "backend_version"] {
        v["settings"].as_object_mut().unwrap().remove(k);
    }
    v.as_object_mut().unwrap().remove("drift");
    v["metrics"]["ttft_ns"]["ci95_low"] = 1.into();
    std::fs::write(&file, format!("{v}\n")).unwrap();
    let mut h = History::open(&dir.path().join("h.sqlite")).unwrap();
    let added = h.add("v1", &import::read(&file).unwrap().records, &|| ()).unwrap();
    assert_eq!(added.added, 1);
    let (id, cell) = &h.distinct_cells().unwrap()[0];
    assert_eq!(cell.schema_version, 1);
    assert_eq!(cell.settings.backend, "onnxruntime");
    // Read back as every reader reads a version-1 record: the interval recomputed from samples.
    assert_ne!(cell.metrics.ttft_ns.ci95_low, Some(1.0));
    assert_eq!(h.cell_series(id, None).unwrap().len(), 1);
}

#[test]
fn an_older_database_is_migrated_with_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite");
    {
        // A version-1 database: no imports table, so an import cannot be recorded yet; fill it
        // by hand as a version-1 slmbench would have.
        let h = History::open_at(&db, 1).unwrap();
        assert_eq!(h.version().unwrap(), 1);
    }
    fill_version_1(&db);
    let mut h = History::open(&db).unwrap();
    assert_eq!(h.version().unwrap(), migrations::VERSION);
    assert_eq!(h.runs().unwrap().len(), 1, "the version-1 run survives the migration");
    // And the migrated database takes imports (the table migration 2 added).
    assert_eq!(h.add("after", &records(), &|| ()).unwrap().added, 5);
}

/// Writes one run and one record into a version-1 database through SQLite itself.
fn fill_version_1(db: &Path) {
    let recs = records();
    let c = match &recs[0].record {
        slmbench_results::schema::Record::Cell(c) => c.clone(),
        _ => unreachable!(),
    };
    let conn = History::raw_connection(db).unwrap();
    conn.execute(
        "INSERT INTO runs (suite_commit, suite_version, machine, started, command, build_profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        [
            &c.context.suite_commit,
            &c.context.suite_version,
            &c.context.fingerprint(),
            &c.context.time_rfc3339,
            &c.context.command,
            &c.context.build_profile,
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO records (run_id, record_id, kind, name, backend, schema_version, json) VALUES (1, ?1, 'cell', ?2, 'onnxruntime', 4, ?3)",
        [&c.cell_id, &c.model.name, &recs[0].json],
    )
    .unwrap();
}

#[test]
fn a_failed_import_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite");
    let mut h = History::open(&db).unwrap();
    let mut recs = records();
    // The import dies after its second record (a panic in the hook, inside the transaction).
    let n = std::cell::Cell::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.add("boom", &recs, &|| {
            n.set(n.get() + 1);
            assert!(n.get() < 3, "stop mid-import");
        })
    }));
    assert!(r.is_err());
    drop(h);
    let mut h = History::open(&db).unwrap();
    assert!(h.runs().unwrap().is_empty(), "the transaction rolled back");
    recs.truncate(3);
    assert_eq!(h.add("ok", &recs, &|| ()).unwrap().added, 3);
}

#[test]
fn bad_databases_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let not_db = dir.path().join("notes.txt");
    std::fs::write(&not_db, "this is not a database, just text that is long enough to be a header ....").unwrap();
    let e = History::open(&not_db).err().expect("refused").to_string();
    assert!(e.contains("notes.txt") && e.contains("not a database"), "{e}");
    let e = History::open(dir.path()).err().expect("a folder").to_string();
    assert!(e.contains(&dir.path().display().to_string()), "{e}");
    // A database from a newer slmbench.
    let newer = dir.path().join("newer.sqlite");
    drop(History::open(&newer).unwrap());
    History::raw_connection(&newer).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let e = History::open(&newer).err().expect("newer").to_string();
    assert!(e.contains("schema version 99") && e.contains("newer slmbench"), "{e}");
    // A results file that is not one.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"schema_version\": 4}\nnot json\n").unwrap();
    let e = import::read(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.jsonl:1"), "{e}");
}
