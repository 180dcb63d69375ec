//! The run history through the binary: `run --history` adding records as they are measured, the
//! gate's baseline pooled from the last runs, `history add` killed mid-import, two writers at
//! once, and bad input.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use slmbench_history::History;

fn slmbench(cache: &Path) -> Command {
    let mut c = Command::cargo_bin("slmbench").unwrap();
    c.env("SLMBENCH_CACHE_DIR", cache).env_remove("SLMBENCH_TEST_DELAY_US").env_remove("SLMBENCH_HISTORY");
    c
}

const TINY: &[&str] = &[
    "run",
    "--preset",
    "tiny",
    "-t",
    "1",
    "--warmup",
    "0",
    "--no-report",
    "-p",
    "8",
    "-n",
    "8",
    "-r",
    "12",
    "--min-repetitions",
    "12",
];

fn published(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/published").join(name)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[test]
fn run_adds_as_it_measures_and_the_gate_pools_the_last_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("history.sqlite");
    let mut results = vec![];
    for i in 1..=3 {
        let out = d.join(format!("r{i}.jsonl"));
        slmbench(d).args(TINY).arg("-o").arg(&out).arg("--history").arg(&db).assert().success();
        results.push(out);
    }
    // Every record of every run is in the history, once; adding the files again adds nothing.
    let h = History::open(&db).unwrap();
    let runs = h.runs().unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| (r.cells, r.ratios) == (2, 1)), "{runs:?}");
    drop(h);
    slmbench(d)
        .args(["history", "add", "--db"])
        .arg(&db)
        .args(&results)
        .assert()
        .success()
        .stderr(contains("0 added from").and(contains("3 already in")));
    let export = d.join("export.jsonl");
    slmbench(d).args(["history", "export", "--db"]).arg(&db).arg("-o").arg(&export).assert().success();
    assert_eq!(lines(&export), results.iter().map(|r| lines(r)).sum::<usize>());
    // A backup holds the same.
    let copy = d.join("copy.sqlite");
    slmbench(d).args(["history", "backup", "--db"]).arg(&db).arg(&copy).assert().success();
    assert_eq!(History::open(&copy).unwrap().runs().unwrap().len(), 3);
    slmbench(d).args(["history", "backup", "--db"]).arg(&db).arg(&copy).assert().code(2).stderr(contains("exists"));
    // `history list` and `history show` name the runs and the series.
    slmbench(d).args(["history", "list", "--db"]).arg(&db).assert().success().stdout(contains("| 3 |"));
    slmbench(d)
        .args(["history", "show", "--metric", "itl", "--cell", "tiny/decoder-only cpu t1 b1 p8 n8", "--db"])
        .arg(&db)
        .assert()
        .success()
        .stdout(contains("3 runs"));

    // The gate against the history: the last two runs other than the current one, pooled.
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/gate-tiny.toml");
    let gate = |current: &Path, last: &str| {
        let mut c = slmbench(d);
        c.arg("gate").arg("--config").arg(&cfg).arg("--history").arg(&db).args(["--last", last]);
        c.arg("--current").arg(current);
        c
    };
    gate(&results[2], "2").assert().success().stdout(contains("0 regression(s)")).stderr(contains("pools 2 run(s)"));
    // A run slowed on purpose (not added to the history) fails against it.
    let slow = d.join("slow.jsonl");
    slmbench(d).env("SLMBENCH_TEST_DELAY_US", "3000").args(TINY).arg("-o").arg(&slow).assert().success();
    gate(&slow, "5")
        .assert()
        .code(1)
        .stderr(contains("pools 3 run(s)").and(contains("regression: tiny/decoder-only cpu t1 b1 p8 n8: itl")));
    // Unusable: no earlier run of these cells, --last 0, both a baseline file and a history.
    let empty = d.join("empty.sqlite");
    let mut c = slmbench(d);
    c.args(["gate", "--history"]).arg(&empty).arg("--current").arg(&slow);
    c.assert().code(2).stderr(contains("no such file"));
    assert!(!empty.exists(), "a reader never creates the database");
    gate(&slow, "0").assert().code(2).stderr(contains("--last <LAST>").and(contains("1..=1000")));
    gate(&slow, "2").arg("--baseline").arg(&results[0]).assert().code(2).stderr(contains("--baseline"));
}

/// Starts `history add` with a pause after each record, waits until it has begun importing,
/// and returns the child.
fn slow_add(d: &Path, db: &Path, file: &Path, pause_ms: u64) -> std::process::Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slmbench"))
        .env("SLMBENCH_CACHE_DIR", d)
        .env("SLMBENCH_TEST_HISTORY_PAUSE_MS", pause_ms.to_string())
        .args(["history", "add", "--db"])
        .arg(db)
        .arg(file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("importing") {
        line.clear();
    }
    assert!(line.contains("importing"), "{line}");
    // Drain the rest in the background so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    child
}

#[test]
fn a_killed_import_leaves_the_database_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("h.sqlite");
    let file = published("default/results.jsonl");
    let mut child = slow_add(d, &db, &file, 400);
    // Mid-import: at least one record inserted in the open transaction, not all six.
    std::thread::sleep(std::time::Duration::from_millis(900));
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    let h = History::open(&db).unwrap();
    assert_eq!(h.integrity().unwrap(), "ok");
    assert!(h.runs().unwrap().is_empty(), "nothing of the killed import is kept");
    drop(h);
    slmbench(d).args(["history", "add", "--db"]).arg(&db).arg(&file).assert().success().stderr(contains("6 added"));
}

#[test]
fn two_writers_at_once_both_land_and_one_file_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("h.sqlite");
    let (a, b) = (published("default/results.jsonl"), published("candle/paper.jsonl"));
    // Two different files at once: the second writer waits for the first's transaction.
    let (mut x, mut y) = (slow_add(d, &db, &a, 150), slow_add(d, &db, &b, 150));
    assert!(x.wait().unwrap().success() && y.wait().unwrap().success());
    let h = History::open(&db).unwrap();
    assert_eq!(h.runs().unwrap().len(), 2);
    let mut out = vec![];
    assert_eq!(h.export(&mut out).unwrap(), lines(&a) + lines(&b));
    drop(h);
    // The same file twice at once: stored once.
    let db2 = d.join("h2.sqlite");
    let (mut x, mut y) = (slow_add(d, &db2, &a, 100), slow_add(d, &db2, &a, 100));
    assert!(x.wait().unwrap().success() && y.wait().unwrap().success());
    let mut out = vec![];
    assert_eq!(History::open(&db2).unwrap().export(&mut out).unwrap(), lines(&a));
    assert_eq!(History::open(&db2).unwrap().integrity().unwrap(), "ok");
}

#[test]
fn bad_history_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("h.sqlite");
    let file = published("default/results.jsonl");
    // The database path is a folder, or under a file.
    slmbench(d).args(["history", "list", "--db"]).arg(d).assert().code(2).stderr(contains(d.display().to_string()));
    std::fs::write(d.join("plain"), "x").unwrap();
    let under_file = d.join("plain/h.sqlite");
    slmbench(d).args(["history", "add", "--db"]).arg(&under_file).arg(&file).assert().code(2).stderr(contains("plain"));
    // `run --history` with such a path fails before measuring anything: no results file.
    let out = d.join("r.jsonl");
    slmbench(d)
        .args(TINY)
        .arg("-o")
        .arg(&out)
        .arg("--history")
        .arg(&under_file)
        .assert()
        .code(2)
        .stderr(contains("--history"));
    assert!(!out.exists() || lines(&out) == 0);
    // A missing results file, an unknown cell, an unknown metric.
    slmbench(d)
        .args(["history", "add", "--db"])
        .arg(&db)
        .arg(d.join("none.jsonl"))
        .assert()
        .code(2)
        .stderr(contains("none.jsonl"));
    slmbench(d).args(["history", "add", "--db"]).arg(&db).arg(&file).assert().success();
    slmbench(d)
        .args(["history", "show", "--cell", "nope", "--db"])
        .arg(&db)
        .assert()
        .code(2)
        .stderr(contains("--cell nope"));
    slmbench(d)
        .args(["history", "show", "--cell", "nope", "--metric", "speed", "--db"])
        .arg(&db)
        .assert()
        .code(2)
        .stderr(contains("--metric speed"));
}

/// `n` runs of the published `default` cells, commit `c00`…, every sample scaled by a seeded
/// 2% run-to-run noise and by `1 + step` from run `at` on.
fn synthetic_history(path: &Path, n: usize, at: usize, step: f64) {
    let text = std::fs::read_to_string(published("default/results.jsonl")).unwrap();
    let mut out = String::new();
    let mut rng = slmbench_results::paired::Rng::new(23);
    for i in 0..n {
        // Uniform noise in ±3.5% (standard deviation about 2%), the same for every cell of a run.
        let noise = 1.0 + (rng.uniform() - 0.5) * 0.07;
        let f = noise * if i >= at { 1.0 + step } else { 1.0 };
        for l in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["context"]["suite_commit"] = format!("c{i:02}").into();
            v["context"]["time_rfc3339"] = format!("2026-10-{:02}T{:02}:00:00Z", 1 + i / 24, i % 24).into();
            if let Some(s) = v.get_mut("samples") {
                for k in ["ttft_ns", "encoder_ns", "first_decoder_step_ns"] {
                    for x in s[k].as_array_mut().unwrap() {
                        *x = ((x.as_f64().unwrap() * f) as u64).into();
                    }
                }
                for row in s["itl_ns"].as_array_mut().unwrap() {
                    for x in row.as_array_mut().unwrap() {
                        *x = ((x.as_f64().unwrap() * f) as u64).into();
                    }
                }
                // The summaries follow the samples, as a real record's do (readers check them).
                let mut c: slmbench_results::schema::CellResult = serde_json::from_value(v).unwrap();
                c.refresh_summaries();
                v = serde_json::to_value(c).unwrap();
            }
            out.push_str(&format!("{v}\n"));
        }
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_ten_percent_step_is_flagged_at_its_commit_in_show_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (file, db) = (d.join("synthetic.jsonl"), d.join("h.sqlite"));
    synthetic_history(&file, 40, 23, 0.10);
    slmbench(d).args(["history", "add", "--db"]).arg(&db).arg(&file).assert().success();
    let cell = "small/decoder-only cpu t2 b1 p128 n32";
    let out =
        slmbench(d).args(["history", "show", "--metric", "ttft", "--cell", cell, "--db"]).arg(&db).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let flagged: Vec<&str> = text.lines().filter(|l| l.contains("step +")).collect();
    assert_eq!(flagged.len(), 1, "{text}");
    assert!(flagged[0].starts_with("| 24 | c23 |"), "{text}");
    // The report draws it: the table names the commit; one dashed line per change point.
    let last = d.join("last.jsonl");
    std::fs::write(
        &last,
        std::fs::read_to_string(&file).unwrap().lines().rev().take(6).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let report = d.join("report");
    slmbench(d).arg("report").arg(&last).arg("--history").arg(&db).arg("-o").arg(&report).assert().success();
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("c23 (+"), "the change point's commit in the trend table");
    assert_eq!(html.matches("data-changes=\"1\"").count(), 8, "4 cells × TTFT and ITL, each stepped once");
}
