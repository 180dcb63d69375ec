//! Results-file safety and input checks, each found by trying the tool as a hostile user would.
//! Every test starts with the command that used to lose, corrupt or poison results, then checks
//! what happens now. (Numbers refer to the points of the issue that listed them.)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{records, slmbench, stderr, tiny_pair};

/// Exit 2 with `needle` in one `Error:` line, no panic, and nothing measured.
fn refused(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains(needle), "stderr lacks {needle:?}:\n{e}");
    assert!(!e.contains("panicked") && !e.contains("slmbench: cell "), "{e}");
}

/// Waits until `path` holds at least `n` records.
fn wait_for_records(child: &mut Child, path: &Path, n: usize) {
    let start = Instant::now();
    while std::fs::read_to_string(path).unwrap_or_default().lines().count() < n {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the sweep ended ({st}) before {n} records were written");
        }
        assert!(start.elapsed() < Duration::from_secs(300), "no record after 5 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Point 1: `run -o keep.jsonl` on a file of measured cells, without --resume, used to truncate it even
/// when every new cell failed.
#[test]
fn a_rerun_never_destroys_results() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let keep = dir.path().join("keep.jsonl");
    let run = |extra: &[&str]| {
        slmbench(dir.path())
            .args(["run", "--model", pair.to_str().unwrap(), "-p", "8", "-n", "4", "--no-report", "-o"])
            .arg(&keep)
            .args(common::QUICK)
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(run(&[]).status.success());
    let before = std::fs::read(&keep).unwrap();
    assert_eq!(records(&keep).len(), 2);
    let o = run(&["--ep", "cuda"]);
    refused(&o, "already holds results");
    assert!(stderr(&o).contains("--resume") && stderr(&o).contains("--overwrite"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&keep).unwrap(), before, "the results file was changed");
    // Asked for explicitly, the file is replaced, but only by a measured cell: failures alone
    // leave it as it was.
    let o = run(&["--ep", "cuda", "--overwrite"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(std::fs::read(&keep).unwrap(), before, "replaced by failures");
    let o = run(&["--overwrite"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(&keep).unwrap(), before, "replaced once measured");
}

/// Point 1: The README's main command run twice in a row (no flags) keeps both runs, each in its own
/// folder with its own report, and `reports/latest` points at the newer.
#[test]
fn default_runs_each_get_a_folder_and_latest_points_at_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    // A `reports/latest` folder from an older slmbench is kept, not overwritten.
    std::fs::create_dir_all(dir.path().join("reports/latest")).unwrap();
    std::fs::write(dir.path().join("reports/latest/results.jsonl"), "{\"old\": 1}\n").unwrap();
    for _ in 0..2 {
        let o = slmbench(dir.path())
            .args(["run", "--model", pair.join("decoder-only").to_str().unwrap(), "-p", "8", "-n", "3"])
            .args(common::QUICK)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let runs: Vec<PathBuf> = std::fs::read_dir(dir.path().join("reports/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("latest-before-"))
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in &runs {
        assert_eq!(records(&r.join("results.jsonl")).len(), 1);
        assert!(r.join("index.html").is_file());
    }
    let moved = std::fs::read_dir(dir.path().join("reports/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("latest-before-"))
        .expect("the old reports/latest was moved into reports/runs");
    assert_eq!(std::fs::read_to_string(moved.join("results.jsonl")).unwrap(), "{\"old\": 1}\n");
    let latest = std::fs::canonicalize(dir.path().join("reports/latest")).unwrap();
    let newest = runs.iter().map(|r| std::fs::canonicalize(r).unwrap()).max().unwrap();
    assert_eq!(latest, newest);
}

/// Point 2: `.json`, `.csv` and `.md` used to be written only at the end: a SIGKILL left a 0-byte file
/// and they could not resume. Now each is complete after every cell, and resumes.
#[test]
fn every_format_survives_a_kill_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    for ext in ["json", "csv", "md"] {
        let out = dir.path().join(format!("r.{ext}"));
        let journal = dir.path().join(format!("r.{ext}.journal.jsonl"));
        let sweep = |extra: &[&str]| {
            let mut c = slmbench(dir.path());
            c.args(["run", "--model", pair.to_str().unwrap(), "-p", "8,16", "-n", "6", "-r", "3"]);
            c.args(["--min-repetitions", "3", "--warmup", "0", "-t", "1", "--no-report"]).args(extra);
            c.env("SLMBENCH_TEST_DELAY_US", "30000");
            c
        };
        let mut child =
            sweep(&["-o", out.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        wait_for_records(&mut child, &journal, 1);
        // The journal's first record is on disk; the file itself is rendered right after it.
        std::thread::sleep(Duration::from_millis(100));
        child.kill().unwrap();
        child.wait().unwrap();
        let done = records(&journal).len();
        assert!((1..4).contains(&done), "{ext}: {done} records before the kill");
        // Absent (killed before its first render) or complete: never a part.
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let rows = |text: &str| match ext {
            _ if text.is_empty() => 0,
            "json" => serde_json::from_str::<serde_json::Value>(text)
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["record"] != "pair-ratio")
                .count(),
            "csv" => text.lines().count() - 1,
            _ => text.lines().filter(|l| l.starts_with("| tiny/")).count(),
        };
        // Rendered right after each journal write: every finished cell, or all but the last
        // write's (one cell, or an interleaved pair's two) if the kill fell between the journal
        // and the render (those are in the journal, and resume keeps them).
        assert!(
            [done, done - 1, done.saturating_sub(2)].contains(&rows(&text)),
            "{ext} after the kill, {done} records:\n{text}"
        );
        let o = sweep(&["--resume", out.to_str().unwrap()]).output().unwrap();
        assert!(o.status.success(), "{ext}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("{done} already there")), "{}", stderr(&o));
        assert_eq!(rows(&std::fs::read_to_string(&out).unwrap()), 4, "{ext}");
        assert_eq!(records(&journal).len(), 4, "{ext}: nothing measured twice");
    }
    // No temporary file is left behind.
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("slmbench-tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// Point 3: The test hook used to slow every step without a trace in the results. (In release builds it
/// does not exist; `.ci/run` checks that with the release binary.)
#[test]
fn the_timing_test_hook_is_recorded_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let out = dir.path().join("r.jsonl");
    let o = slmbench(dir.path())
        .args(["run", "--model", pair.join("decoder-only").to_str().unwrap(), "-p", "8", "-n", "3", "-o"])
        .arg(&out)
        .args(common::QUICK)
        .env("SLMBENCH_TEST_DELAY_US", "2000")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r = &records(&out)[0];
    assert_eq!(r["context"]["test_delay_us"], 2000);
    assert!(r["context"]["warnings"].to_string().contains("not measurements"), "{r}");
    let html = std::fs::read_to_string(dir.path().join("r.jsonl.report/index.html")).unwrap();
    assert!(html.contains("Not measurements"));
}

/// Point 4: `-t 9999` used to start ~18,000 threads for 17 minutes and ignore SIGTERM.
#[test]
fn resources_are_bounded_and_signals_are_honoured_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let dec = pair.join("decoder-only");
    let run = |args: &[&str]| {
        slmbench(dir.path())
            .args(["run", "--model", dec.to_str().unwrap(), "--no-report", "-o"])
            .arg(dir.path().join("x.jsonl"))
            .args(args)
            .output()
            .unwrap()
    };
    refused(&run(&["-t", "9999"]), "-t 9999: at most");
    refused(&run(&["--warmup", "1000000"]), "--warmup 1000000: at most");
    refused(&run(&["-r", "100000000"]), "-r 100000000: must be 1 to");
    refused(&run(&["--max-time", "1e9"]), "--max-time");
    refused(&run(&["--target-ci", "0"]), "--target-ci 0");
    refused(&run(&["-p", "1-1000", "-n", "1-200"]), "the sweep has 200000 cells");
    refused(
        &slmbench(dir.path())
            .args(["generate", "--model", dec.to_str().unwrap(), "--prompt-ids", "1", "-t", "9999"])
            .output()
            .unwrap(),
        "-t 9999: at most",
    );
    assert!(!dir.path().join("x.jsonl").exists());

    // A signal while ONNX Runtime creates a session (held there by a debug-only pause) ends the
    // run at once, and one during the report stops the report; both keep what was measured.
    // (The report's pause is per file, 1 s each, so the report takes over 10 s.)
    for (phase, env, pause, code) in [
        ("load", "SLMBENCH_TEST_LOAD_PAUSE_MS", "20000", 143),
        ("report", "SLMBENCH_TEST_REPORT_PAUSE_MS", "1000", 130),
    ] {
        let out = dir.path().join(format!("{phase}.jsonl"));
        let log = dir.path().join(format!("{phase}.log"));
        let mut child = slmbench(dir.path())
            .args(["run", "--model", pair.to_str().unwrap(), "-p", "8", "-n", "3", "-o"])
            .arg(&out)
            .args(common::QUICK)
            .env(env, pause)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let ready = |log: &str| match phase {
            "load" => log.contains("loading tiny/"),
            _ => log.contains("cells written to"),
        };
        while !ready(&std::fs::read_to_string(&log).unwrap_or_default()) {
            assert!(child.try_wait().unwrap().is_none(), "{phase}: ended early");
            assert!(start.elapsed() < Duration::from_secs(120));
            std::thread::sleep(Duration::from_millis(20));
        }
        let sig = if phase == "load" { "-TERM" } else { "-INT" };
        let sent = Instant::now();
        assert!(Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success());
        let st = child.wait().unwrap();
        // Well before the pauses would have ended.
        assert!(sent.elapsed() < Duration::from_secs(8), "{phase}: {:?} to stop", sent.elapsed());
        let log = std::fs::read_to_string(&log).unwrap();
        assert_eq!(st.code(), Some(code), "{phase}:\n{log}");
        if phase == "report" {
            assert_eq!(records(&out).len(), 2, "the measured cells are kept");
            assert!(log.contains("the report was stopped by a signal"), "{log}");
            // What the report had written is complete: no temporary is left, no half file.
            let rep = dir.path().join("report.jsonl.report");
            for e in std::fs::read_dir(&rep).unwrap() {
                assert!(!e.unwrap().file_name().to_string_lossy().contains("slmbench-tmp"));
            }
        }
    }
}

/// Point 5: `merge -o F` used to ignore the lock of a running `run` on F and left a hole in it.
#[test]
fn merge_takes_the_lock_a_run_holds() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let other = dir.path().join("other.jsonl");
    let o = slmbench(dir.path())
        .args([
            "run",
            "--model",
            pair.join("decoder-only").to_str().unwrap(),
            "-p",
            "8",
            "-n",
            "3",
            "--no-report",
            "-o",
        ])
        .arg(&other)
        .args(common::QUICK)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let busy = dir.path().join("busy.jsonl");
    let mut child = slmbench(dir.path())
        .args(["run", "--model", pair.to_str().unwrap(), "-p", "8,16", "-n", "6", "-r", "3", "--min-repetitions", "3"])
        .args(["--warmup", "0", "-t", "1", "--no-report", "-o"])
        .arg(&busy)
        .env("SLMBENCH_TEST_DELAY_US", "30000")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_records(&mut child, &busy, 1);
    let o = slmbench(dir.path()).arg("merge").arg(&other).arg("-o").arg(&busy).arg("--overwrite").output().unwrap();
    refused(&o, "another slmbench process is writing this file");
    assert!(child.wait().unwrap().success());
    let recs = records(&busy);
    assert_eq!(recs.len(), 4, "the run's file is whole");
    assert!(!std::fs::read(&busy).unwrap().contains(&0u8));
}

/// Point 6: A "95% CI" from one sample each used to let `compare` call −34% "faster".
#[test]
fn compare_says_n_too_small_instead_of_faster() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let one = |name: &str| {
        let out = dir.path().join(name);
        let o = slmbench(dir.path())
            .args(["run", "--model", pair.join("decoder-only").to_str().unwrap(), "-p", "8", "-n", "3", "-r", "1"])
            .args(["--min-repetitions", "1", "--warmup", "0", "-t", "1", "--no-report", "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(records(&out)[0]["metrics"]["ttft_ns"]["ci95_low"].is_null());
        out
    };
    let (a, b) = (one("a.jsonl"), one("b.jsonl"));
    let o = slmbench(dir.path()).arg("compare").arg(&a).arg(&b).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("n too small") && !table.contains("faster") && !table.contains("slower"), "{table}");
    // `compare --json` carries the unit its numbers are in (TTFT in ms, as the name says).
    let json = dir.path().join("cmp.json");
    let o = slmbench(dir.path()).arg("compare").arg(&a).arg(&b).arg("--json").arg(&json).output().unwrap();
    assert!(o.status.success());
    let cmp: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let ttft = cmp["changes"].as_array().unwrap().iter().find(|c| c["metric"] == "ttft_ms").unwrap();
    let ns = records(&a)[0]["metrics"]["ttft_ns"]["median"].as_f64().unwrap();
    assert_eq!(ttft["unit"], "ms");
    assert!((ttft["base"].as_f64().unwrap() - ns / 1e6).abs() < 1e-9, "{ttft}");
    assert!(ttft["low"].is_null() && ttft["verdict"] == "n-too-small", "{ttft}");
    let e2e = cmp["changes"].as_array().unwrap().iter().find(|c| c["metric"] == "e2e_tokens_per_s").unwrap();
    assert_eq!(e2e["unit"], "tokens/s", "{e2e}");
}

/// Point 7: `-o /proc/x.jsonl` used to measure a cell and then fail; a report failure after a good
/// sweep exited 2 as if the input were bad.
#[test]
fn outputs_are_checked_before_the_first_cell() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let dec = pair.join("decoder-only");
    let run = |out: &Path, extra: &[&str]| {
        slmbench(dir.path())
            .args(["run", "--model", dec.to_str().unwrap(), "-p", "8", "-n", "3", "-o"])
            .arg(out)
            .args(common::QUICK)
            .args(extra)
            .output()
            .unwrap()
    };
    refused(&run(Path::new("/proc/x.jsonl"), &[]), "/proc/x.jsonl");
    // A file where the report folder would go: refused before measuring.
    std::fs::write(dir.path().join("r.jsonl.report"), "in the way").unwrap();
    let out = dir.path().join("r.jsonl");
    refused(&run(&out, &[]), "r.jsonl.report");
    assert!(!out.exists(), "a refused run leaves no results file it created");
    // The report folder disappears during the sweep: results kept, exit 4. Two points, so the
    // sweep is still measuring the second when the first pair's write (its two cells and their
    // ratio, one write) is seen; with one, the report could be half written as it is removed.
    std::fs::remove_file(dir.path().join("r.jsonl.report")).unwrap();
    let log = dir.path().join("log");
    let mut child = slmbench(dir.path())
        .args(["run", "--model", pair.to_str().unwrap(), "-p", "8,16", "-n", "6", "-r", "3", "--min-repetitions", "3"])
        .args(["--warmup", "0", "-t", "1", "-o"])
        .arg(&out)
        .env("SLMBENCH_TEST_DELAY_US", "30000")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_records(&mut child, &out, 3);
    std::fs::remove_dir_all(dir.path().join("r.jsonl.report")).unwrap();
    std::fs::write(dir.path().join("r.jsonl.report"), "in the way").unwrap();
    let st = child.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(st.code(), Some(4), "{log}");
    assert!(log.contains("the report could not be written") && log.contains("results are kept"), "{log}");
    assert_eq!(records(&out).len(), 4);
}

/// Point 8: The same model through two flags, or `--pair X,X`, used to be measured twice into one
/// file, and `--pair` did not check which model was which.
#[test]
fn the_same_cell_is_never_measured_twice() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let (ed, dec) = (pair.join("encoder-decoder"), pair.join("decoder-only"));
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&dec).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let run = |args: &[&str]| {
        slmbench(dir.path())
            .arg("run")
            .args(args)
            .args(["-p", "8", "-n", "3", "--no-report", "-o"])
            .arg(dir.path().join("x.jsonl"))
            .args(common::QUICK)
            .output()
            .unwrap()
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();
    refused(&run(&["--model", &format!("{},{}", s(&dec), s(&copy))]), "are the same model");
    refused(&run(&["--model", &format!("{},{}", s(&dec), s(&dec))]), "appears twice in the sweep");
    refused(&run(&["--pair", &format!("{},{}", s(&ed), s(&ed))]), "the second the decoder-only");
    refused(&run(&["--pair", &format!("{},{}", s(&dec), s(&ed))]), "is a decoder-only model");
    refused(&run(&["--model", &s(&dec), "--ep", "cpu,cpu"]), "appears twice in the sweep");
}

/// Point 9: Edges: an empty shard wrote no file (so merging all shards failed), runs in one folder
/// overwrote each other's reports, contradicting flags were accepted, and nonsense in a model's
/// `config.json` was ignored.
#[test]
fn edges_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let dec = pair.join("decoder-only");
    let run = |out: &str, extra: &[&str]| {
        slmbench(dir.path())
            .args(["run", "--model", dec.to_str().unwrap(), "-p", "8,16", "-n", "3", "-o", out])
            .args(common::QUICK)
            .args(extra)
            .output()
            .unwrap()
    };
    let mut shards = vec![];
    for i in 1..=3 {
        let out = format!("s{i}.jsonl");
        let o = run(&out, &["--shard", &format!("{i}/3"), "--no-report"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(dir.path().join(&out).is_file(), "shard {i} wrote its file");
        shards.push(out);
    }
    assert_eq!(std::fs::read(dir.path().join("s3.jsonl")).unwrap(), b"", "the empty shard");
    let o = slmbench(dir.path()).arg("merge").args(&shards).args(["-o", "all.jsonl"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(records(&dir.path().join("all.jsonl")).len(), 2);

    // Two runs in one folder: each report in its own folder, beside its results file.
    for name in ["a.jsonl", "b.jsonl"] {
        assert!(run(name, &[]).status.success());
        let html = std::fs::read_to_string(dir.path().join(format!("{name}.report/index.html"))).unwrap();
        assert!(html.contains("slmbench report"));
    }
    assert!(!dir.path().join("index.html").exists());

    let o = slmbench(dir.path())
        .args(["run", "--model", dec.to_str().unwrap(), "--min-repetitions", "5", "-r", "2", "-o", "c.jsonl"])
        .output()
        .unwrap();
    refused(&o, "--min-repetitions 5 contradicts -r 2");
    refused(&run("c.jsonl", &["--ep-opt", "cuda:device_id=1"]), "not in --ep");
    let o = slmbench(dir.path())
        .args(["run", "--model", dec.to_str().unwrap(), "--prompt-ids", "1,2", "-p", "8", "-o", "c.jsonl"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));

    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    for e in std::fs::read_dir(&dec).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), bad.join(e.file_name())).unwrap();
    }
    let cfg = bad.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    v["max_position_embeddings"] = serde_json::json!(-1);
    std::fs::write(&cfg, v.to_string()).unwrap();
    let o = slmbench(dir.path())
        .args(["run", "--model", bad.to_str().unwrap(), "-p", "8", "-n", "3", "-o", "d.jsonl"])
        .args(common::QUICK)
        .output()
        .unwrap();
    refused(&o, "`max_position_embeddings` is -1");
    assert!(!dir.path().join("d.jsonl").exists());
}
