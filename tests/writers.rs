//! No command replaces results, crashes or hides what happened (issue 31, points 10 to 14): every
//! writer's one policy, broken pipes, memory guards, the exit code of a run that kept cells, whole
//! report folders, the history's own files and the effective command. Each test starts with the
//! command that used to go wrong. The sweep and the second machine's file are those of
//! `tests/identity.rs` (see `tests/common`).

mod common;

use std::path::Path;
use std::process::Stdio;

use common::*;

/// Point 10: `merge -o keep.jsonl`, `export -o results.jsonl` and `baseline save` replaced files
/// that held results, and `-o -` wrote a file named `-`. (`compare`/`predict --json` keep the
/// same policy.)
#[test]
fn point_10_no_writer_replaces_a_file_unasked_and_dash_is_stdout() {
    let (_, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(here, d.join("keep.jsonl")).unwrap();
    let kept = std::fs::read(d.join("keep.jsonl")).unwrap();
    let o = slmbench(d).arg("merge").arg(here).args(["-o", "keep.jsonl"]).output().unwrap();
    refused(&o, "already exists");
    assert!(stderr(&o).contains("--overwrite"));
    let o = slmbench(d).args(["export", "--format", "bencher"]).arg(here).args(["-o", "keep.jsonl"]).output().unwrap();
    refused(&o, "already exists");
    let o = slmbench(d).arg("compare").arg(here).arg(here).args(["--json", "keep.jsonl"]).output().unwrap();
    refused(&o, "already exists");
    let o = slmbench(d).arg("predict").arg(here).args(["--json", "keep.jsonl"]).output().unwrap();
    refused(&o, "already exists");
    assert_eq!(std::fs::read(d.join("keep.jsonl")).unwrap(), kept, "untouched");

    ok(&slmbench(d).args(["baseline", "save"]).arg(here).output().unwrap());
    let o = slmbench(d).args(["baseline", "save"]).arg(here).output().unwrap();
    refused(&o, "this machine's baseline");
    ok(&slmbench(d).args(["baseline", "save", "--overwrite"]).arg(here).output().unwrap());

    let o = slmbench(d).arg("merge").arg(here).args(["-o", "-"]).output().unwrap();
    ok(&o);
    assert_eq!(stdout(&o).lines().count(), lines(here).len());
    let o = slmbench(d).args(["export", "--format", "gh-bigger"]).arg(here).args(["-o", "-"]).output().unwrap();
    ok(&o);
    assert!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap().is_array());
    assert!(!d.join("-").exists(), "no file named -");
    // --overwrite replaces.
    ok(&slmbench(d).arg("merge").arg(here).args(["-o", "keep.jsonl", "--overwrite"]).output().unwrap());
}

/// Point 11: `run --ep cuda --overwrite -o old.jsonl` on a CPU host replaced 4 measured cells
/// with 2 failed records.
#[test]
fn point_11_overwrite_replaces_results_only_with_a_measured_cell() {
    let (pair, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(here, d.join("old.jsonl")).unwrap();
    let before = std::fs::read(d.join("old.jsonl")).unwrap();
    let o = run_sweep(d, pair).args(REPS).args(["--ep", "cuda", "--overwrite", "-o", "old.jsonl"]).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("no cell was measured, so old.jsonl is left as it was"), "{}", stderr(&o));
    assert_eq!(std::fs::read(d.join("old.jsonl")).unwrap(), before);
}

/// Point 12: `history list | head -1` and `history show … | head` panicked on the broken pipe.
#[test]
fn point_12_a_reader_that_leaves_early_ends_us_quietly() {
    let (pair, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&slmbench(d).args(["history", "add"]).arg(here).args(["--db", "h.sqlite"]).output().unwrap());
    let name = "tiny/decoder-only cpu t1 b1 p8 n4";
    let closed = |args: &[&str]| {
        let mut child = slmbench(d).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        child.wait_with_output().unwrap()
    };
    for args in [
        &["history", "list", "--db", "h.sqlite"][..],
        &["history", "show", "--cell", name, "--db", "h.sqlite"],
        &["history", "export", "--db", "h.sqlite"],
    ] {
        let o = closed(args);
        assert!(!stderr(&o).contains("panicked") && o.status.code() != Some(101), "{args:?}: {}", stderr(&o));
    }
    // A run whose reader left still finishes, its report included.
    let mut child = slmbench(d)
        .arg("run")
        .arg("--model")
        .arg(pair)
        .args(["-p", "8", "-n", "4", "-t", "1", "-r", "2", "--warmup", "0", "--no-roofline", "--no-accuracy"])
        .args(["-o", "piped.jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert!(d.join("piped.jsonl.report/index.html").is_file());
}

/// Point 13: `generate -b 100000000` reached 24 GB and was killed by the kernel (`run` refused
/// the same batch).
#[test]
fn point_13_generate_has_the_memory_guard_of_run() {
    let (pair, _) = here();
    let dir = tempfile::tempdir().unwrap();
    let o = slmbench(dir.path())
        .args(["generate", "-b", "100000000", "-n", "4", "--prompt-ids", "1,2,3", "--model"])
        .arg(pair.join("decoder-only"))
        .output()
        .unwrap();
    refused(&o, "needs an estimated");
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
}

/// Point 14, a full disk: after some kept cells the run exited 2 ("nothing measured") and printed
/// its error twice. A file-size limit stands in for the full disk (the same failed write).
#[test]
fn point_14_a_run_that_kept_cells_then_failed_has_its_own_exit_code() {
    let (pair, _) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An interleaved pair's two cells and ratio take about 10 KB here: two fit in 24 KiB, and the
    // third's write fails part-way (as on a full disk, a torn line is left).
    let script = format!(
        "ulimit -f 24; trap '' XFSZ; exec '{BIN}' run --model '{}' -p 8,16,24,32 -n 4 -t 1 --warmup 0 -r 10 \
         --min-repetitions 10 --reloads 1 --no-roofline --no-accuracy --no-report -o r.jsonl",
        pair.display()
    );
    let o = std::process::Command::new("bash").arg("-c").arg(&script).current_dir(d).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(5), "{e}");
    assert_eq!(e.matches("Error:").count(), 1, "{e}");
    assert!(e.contains("which are kept") && e.contains("--resume r.jsonl"), "{e}");
    let text = std::fs::read_to_string(d.join("r.jsonl")).unwrap();
    let whole = text.split_inclusive('\n').filter(|l| l.ends_with('\n')).count();
    assert!((3..9).contains(&whole), "records before the failure are kept: {whole}");
    // Resumed without the limit: every cell exactly once.
    let o = slmbench(d)
        .arg("run")
        .arg("--model")
        .arg(pair)
        .args(["-p", "8,16,24,32", "-n", "4", "-t", "1", "--warmup", "0", "-r", "10", "--min-repetitions", "10"])
        .args(["--reloads", "1", "--no-roofline", "--no-accuracy", "--no-report", "--resume", "r.jsonl"])
        .output()
        .unwrap();
    ok(&o);
    let mut ids = cell_ids(&d.join("r.jsonl"));
    assert_eq!(ids.len(), 8);
    ids.dedup();
    assert_eq!(ids.len(), 8);
}

/// Point 14, reports: a failed report left a temporary file, and a report folder mixed the charts
/// of two reports.
#[test]
fn point_14_a_report_folder_is_replaced_whole_or_not_at_all() {
    let (_, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&slmbench(d).arg("report").arg(here).args(["-o", "rep"]).output().unwrap());
    let charts = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d.join("rep/charts"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert!(charts(d).iter().any(|c| c.starts_with("ratio_ttft_")));
    filtered(here, &d.join("one.jsonl"), |r| r["model"]["kind"] == "decoder-only");
    ok(&slmbench(d).args(["report", "one.jsonl", "-o", "rep"]).output().unwrap());
    assert!(!charts(d).iter().any(|c| c.starts_with("ratio_")), "charts of the first report left: {:?}", charts(d));
    // A report that fails replaces nothing and leaves no temporary behind.
    std::fs::remove_file(d.join("rep/index.html")).unwrap();
    std::fs::create_dir(d.join("rep/index.html")).unwrap();
    std::fs::write(d.join("rep/index.html/x"), "").unwrap();
    let o = slmbench(d).arg("report").arg(here).args(["-o", "rep"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let left: Vec<String> = std::fs::read_dir(d.join("rep"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".slmbench-tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A folder of other things is not written into.
    std::fs::create_dir(d.join("mine")).unwrap();
    std::fs::write(d.join("mine/notes.txt"), "mine").unwrap();
    refused(&slmbench(d).arg("report").arg(here).args(["-o", "mine"]).output().unwrap(), "no slmbench report");
}

/// Point 14, the history: `history add` added its tables to another program's SQLite file, a
/// `user_version` of −1 showed as 18446744073709551615, and readers created a missing database.
#[test]
fn point_14_the_history_keeps_to_its_own_files() {
    let (_, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let foreign = d.join("app.sqlite");
    let conn = slmbench_history::History::raw_connection(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE users (name TEXT);").unwrap();
    drop(conn);
    let o = slmbench(d).args(["history", "add"]).arg(here).arg("--db").arg(&foreign).output().unwrap();
    refused(&o, "not a slmbench history: it has tables slmbench does not make (users)");
    let conn = slmbench_history::History::raw_connection(&foreign).unwrap();
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0)).unwrap();
    assert_eq!(tables, 1, "nothing added to it");
    let odd = d.join("odd.sqlite");
    slmbench_history::History::raw_connection(&odd).unwrap().execute_batch("PRAGMA user_version = -1;").unwrap();
    refused(&slmbench(d).args(["history", "list", "--db"]).arg(&odd).output().unwrap(), "user_version is -1");
    let missing = d.join("none.sqlite");
    refused(&slmbench(d).args(["history", "list", "--db"]).arg(&missing).output().unwrap(), "no such file");
    assert!(!missing.exists(), "a reader created it");
}

/// Point 14, the command: variables that change the sweep (`SLMBENCH_SHARD`, …) were missing
/// from the recorded command.
#[test]
fn point_14_the_recorded_command_is_the_effective_one() {
    let (pair, _) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = slmbench(d)
        .env("SLMBENCH_SHARD", "1/2")
        .env("SLMBENCH_DEVICE_NAME", "lab board 3")
        .arg("run")
        .arg("--model")
        .arg(pair)
        .args(SWEEP)
        .args(["-r", "1", "--min-repetitions", "1", "-o", "s.jsonl"])
        .output()
        .unwrap();
    ok(&o);
    for r in records(&d.join("s.jsonl")) {
        let cmd = r["context"]["command"].as_str().unwrap();
        assert!(cmd.starts_with("SLMBENCH_DEVICE_NAME='lab board 3' SLMBENCH_SHARD=1/2 "), "{cmd}");
        assert_eq!(r["context"]["device_name"], "lab board 3");
    }
}
