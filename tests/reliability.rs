//! Sweeps that survive kills, signals and failing cells, through the real binary: nothing
//! measured is lost, nothing is measured twice, and exit codes say what happened.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slmbench");
const INPUTS: [u64; 4] = [8, 16, 24, 32];

fn tiny_pair(dir: &Path) -> PathBuf {
    let out = dir.join("tiny");
    let st = Command::new(BIN).args(["models", "build", "--preset", "tiny", "--out"]).arg(&out).status().unwrap();
    assert!(st.success());
    out
}

/// A sweep of 8 cells (2 models × 4 input lengths), each slowed to about half a second so that a
/// signal lands in the middle of one.
fn sweep(pair: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["run", "--model"]).arg(pair);
    c.args(["-p", "8,16,24,32", "-n", "6", "-r", "3", "--min-repetitions", "3", "--warmup", "0", "-t", "1"]);
    c.args(["--max-time", "60", "--no-report"]).args(extra);
    c.env("SLMBENCH_TEST_DELAY_US", "30000");
    c
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(String::from).collect()
}

fn is_ratio(r: &serde_json::Value) -> bool {
    r["record"] == "pair-ratio"
}

/// Every cell record of a results file, parsed (a torn line fails the test).
fn records(path: &Path) -> Vec<serde_json::Value> {
    all_records(path).into_iter().filter(|r| !is_ratio(r)).collect()
}

/// Every record, the pair-ratio records of interleaved pairs too.
fn all_records(path: &Path) -> Vec<serde_json::Value> {
    lines(path).iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// How many of these lines are cells (not ratio records).
fn cells_in(lines: &[String]) -> usize {
    lines.iter().filter(|l| !l.contains("\"record\":\"pair-ratio\"")).count()
}

/// Waits until the results file holds at least one finished cell, then a little longer, so
/// that the next cell is running.
fn wait_for_a_cell(child: &mut Child, results: &Path) {
    let start = Instant::now();
    while lines(results).is_empty() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the sweep ended ({st}) before its first cell was written");
        }
        assert!(start.elapsed() < Duration::from_secs(300), "no cell after 5 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
}

/// The file holds exactly the sweep's 8 cells: each (model, input length) once, ids unique.
fn assert_full_set(results: &Path) {
    let records = records(results);
    let ids: HashSet<&str> = records.iter().map(|r| r["cell_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), records.len(), "a cell was written twice");
    let got: BTreeSet<(String, u64)> = records
        .iter()
        .map(|r| {
            assert!(r.get("status").is_none(), "no cell failed: {r}");
            (r["model"]["name"].as_str().unwrap().to_string(), r["sweep"]["input_tokens"].as_u64().unwrap())
        })
        .collect();
    let want: BTreeSet<(String, u64)> = ["tiny/encoder-decoder", "tiny/decoder-only"]
        .iter()
        .flat_map(|m| INPUTS.iter().map(move |&p| (m.to_string(), p)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(records.len(), 8);
    // The pair ran interleaved: one ratio per input length, each naming two cells of the file.
    let ratios: Vec<serde_json::Value> = all_records(results).into_iter().filter(is_ratio).collect();
    let named: HashSet<&str> = ratios
        .iter()
        .flat_map(|r| [r["encoder_decoder_cell"].as_str().unwrap(), r["decoder_only_cell"].as_str().unwrap()])
        .collect();
    assert_eq!((ratios.len(), named.len()), (4, 8), "{ratios:?}");
    assert!(named.is_subset(&ids));
}

/// Resumes; the cells written before must stay byte for byte, and the set must end complete.
fn resume_and_check(pair: &Path, results: &Path, before: &[String]) -> String {
    let out = sweep(pair, &["--resume", results.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("{} already there", cells_in(before))), "{stderr}");
    let after = lines(results);
    assert_eq!(&after[..before.len()], before, "earlier cells were rewritten");
    assert_full_set(results);
    stderr
}

#[test]
fn sigkill_mid_cell_then_resume_gives_the_full_set() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let results = dir.path().join("r.jsonl");
    let log = dir.path().join("stderr.txt");
    let mut child = sweep(&pair, &["-o", results.to_str().unwrap()])
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    wait_for_a_cell(&mut child, &results);
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    // The progress log proves the kill landed inside a cell: its last line starts one.
    let progress = std::fs::read_to_string(&log).unwrap();
    let last = progress.lines().last().unwrap_or_default();
    assert!(last.starts_with("slmbench: cell") && !last.contains(" done in "), "not mid-cell:\n{progress}");
    let before = lines(&results);
    assert!(!before.is_empty() && cells_in(&before) < 8, "{} cells before the kill", cells_in(&before));
    // A crash in the middle of a write leaves a torn final line: it must be dropped, not kept.
    let mut bytes = std::fs::read(&results).unwrap();
    bytes.extend_from_slice(br#"{"schema_version":2,"cell_id":"0123","model":{"na"#);
    std::fs::write(&results, bytes).unwrap();
    let stderr = resume_and_check(&pair, &results, &before);
    assert!(stderr.contains("dropped a torn final record"), "{stderr}");
    // The report reads it without a warning: the torn bytes are gone.
    let report =
        Command::new(BIN).arg("report").arg(&results).arg("--out").arg(dir.path().join("rep")).output().unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    assert!(!String::from_utf8_lossy(&report.stderr).contains("warning"));
}

fn signal_then_resume(signal: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let results = dir.path().join("r.jsonl");
    let mut child = sweep(&pair, &["-o", results.to_str().unwrap()]).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_a_cell(&mut child, &results);
    let sent = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(&format!("stopped by SIG{signal}")) && stderr.contains("--resume"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let before = lines(&results);
    assert!(!before.is_empty() && cells_in(&before) < 8, "{} cells before the signal", cells_in(&before));
    // Every line written before the signal is a whole record.
    for l in &before {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
    resume_and_check(&pair, &results, &before);
}

#[test]
fn sigint_stops_after_the_repetition_and_resume_completes() {
    signal_then_resume("INT", 130);
}

#[test]
fn sigterm_stops_after_the_repetition_and_resume_completes() {
    signal_then_resume("TERM", 143);
}

#[test]
fn an_unavailable_provider_fails_its_cells_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let results = dir.path().join("out/results.jsonl");
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args(["run", "--model", pair.to_str().unwrap(), "--ep", "cpu,cuda", "-p", "8,16", "-n", "4"])
            .args(["-r", "2", "--min-repetitions", "1", "--warmup", "0", "-t", "1"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["-o", results.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "documented exit code for failed cells:\n{stderr}");
    assert!(stderr.contains("4 cells failed") && !stderr.contains("panicked"), "{stderr}");
    let records = records(&results);
    assert_eq!(records.len(), 8);
    for r in &records {
        let failed = r["status"] == "failed";
        assert_eq!(failed, r["settings"]["ep_requested"] == "cuda", "{r}");
        if failed {
            assert_eq!(r["failure"], "provider");
            assert!(r["error"].as_str().unwrap().contains("onnxruntime-gpu"), "{r}");
        } else {
            assert!(r["metrics"]["ttft_ns"]["median"].as_f64().unwrap() > 0.0);
        }
    }
    // The report shows the failed cells, and the Markdown table lists them.
    let html = std::fs::read_to_string(dir.path().join("out/results.jsonl.report/index.html")).unwrap();
    assert!(html.contains("Failed cells (4)") && html.contains("onnxruntime-gpu"), "the report shows failures");
    assert!(String::from_utf8_lossy(&out.stdout).contains("**4 failed cells**"));

    // Resuming skips every recorded cell; the failed ones still count against the exit code.
    let again = run(&["--resume", results.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(3), "{}", String::from_utf8_lossy(&again.stderr));
    // 8 cells and the 2 ratios of the CPU pair (the CUDA pair failed).
    assert_eq!(lines(&results).len(), 10, "nothing measured twice");
    // --retry-failed tries them again: new failed records, and readers keep one per cell.
    let retry = run(&["--resume", results.to_str().unwrap(), "--retry-failed"]);
    assert_eq!(retry.status.code(), Some(3));
    assert_eq!(lines(&results).len(), 14);
    let report =
        Command::new(BIN).arg("report").arg(&results).arg("--out").arg(dir.path().join("rep")).output().unwrap();
    assert!(report.status.success());
    let md = std::fs::read_to_string(dir.path().join("rep/results.md")).unwrap();
    assert!(md.contains("**4 failed cells**"), "{md}");
}

#[test]
fn a_corrupt_model_fails_its_cells_and_the_other_model_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("model.onnx"), b"\x08\x07garbage not protobuf").unwrap();
    let results = dir.path().join("r.jsonl");
    let models = format!("{},{}", corrupt.display(), pair.join("decoder-only").display());
    let out = Command::new(BIN)
        .args(["run", "--model", &models, "-p", "4", "-n", "2", "-r", "1", "--warmup", "0", "--no-report", "-o"])
        .arg(&results)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let records = records(&results);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["failure"], "model");
    assert!(records[0]["error"].as_str().unwrap().contains("corrupt/model.onnx"), "{}", records[0]);
    assert!(records[1].get("status").is_none());
}

#[test]
fn the_memory_guard_refuses_cells_that_cannot_fit() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let results = dir.path().join("r.jsonl");
    // 10⁷ rows of 64 + 64 tokens: terabytes of KV cache, refused before anything is allocated.
    let out = Command::new(BIN)
        .args(["run", "--model", pair.to_str().unwrap(), "-b", "1,10000000", "-p", "64", "-n", "64"])
        .args(["-r", "1", "--warmup", "0", "-t", "1", "--no-report", "-o"])
        .arg(&results)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let records = records(&results);
    assert_eq!(records.len(), 4);
    for r in &records {
        let big = r["sweep"]["batch"] == 10000000;
        assert_eq!(r["status"] == "failed", big, "{r}");
        if big {
            assert_eq!(r["failure"], "memory");
            let e = r["error"].as_str().unwrap();
            assert!(e.contains("needs an estimated") && e.contains("KV cache") && e.contains("--force"), "{e}");
        }
    }
}

#[test]
fn resume_refuses_what_it_cannot_append_to() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("r.csv");
    std::fs::write(&csv, "cell_id\n").unwrap();
    let out = Command::new(BIN).args(["run", "--preset", "tiny", "--resume"]).arg(&csv).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("its journal") && stderr.contains("is missing"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), "cell_id\n");
}
