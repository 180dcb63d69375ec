//! Helpers shared by the integration tests that drive the binary: the command with a clean
//! environment, a built `tiny` pair, what a refusal must look like, and the sweep measured here
//! that `tests/data/second-machine` measured elsewhere.
// Each test binary uses some of these helpers, never all.
#![allow(dead_code)]

pub mod browser;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const BIN: &str = env!("CARGO_BIN_EXE_slmbench");

/// The binary in `cwd`, without the debug-only test hooks or variables that change a sweep.
pub fn slmbench(cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(cwd);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SLMBENCH_") && k != "SLMBENCH_CACHE_DIR") {
        c.env_remove(k);
    }
    c
}

/// [`slmbench`] in the test's own folder, as `assert_cmd` drives it, with candle's thread
/// variable unset too (so `-t` decides).
pub fn cmd() -> assert_cmd::Command {
    let mut c = slmbench(Path::new("."));
    c.env_remove("RAYON_NUM_THREADS");
    assert_cmd::Command::from_std(c)
}

/// Fast settings: every test cell runs in well under a second.
pub const QUICK: &[&str] = &["-r", "2", "--min-repetitions", "1", "--warmup", "0", "--max-time", "5", "-t", "1"];

/// Builds the `tiny` pair into `dir/tiny` (deterministic: the same files, and so the same cell
/// ids, on every machine).
pub fn tiny_pair(dir: &Path) -> PathBuf {
    let out = dir.join("tiny");
    let st = slmbench(dir).args(["models", "build", "--preset", "tiny", "--out"]).arg(&out).status().unwrap();
    assert!(st.success());
    out
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every record of a JSON Lines file, ratio records included.
pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect()
}

/// The cell records of a file (an interleaved pair's ratio records left out).
pub fn records(path: &Path) -> Vec<serde_json::Value> {
    lines(path).into_iter().filter(|r| r["record"] != "pair-ratio").collect()
}

/// Exit 2 with `needle` in one `Error:` line, and no panic.
pub fn refused(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains(needle), "stderr lacks {needle:?}:\n{e}");
    assert!(!e.contains("panicked"), "{e}");
}

/// Exit 0, and no panic.
pub fn ok(o: &Output) {
    assert!(o.status.success(), "{:?}\n{}", o.status, stderr(o));
    assert!(!stderr(o).contains("panicked"));
}

/// The sweep of the fixture: the `tiny` pair, two prompt lengths, enough blocks for intervals.
pub const SWEEP: &[&str] = &[
    "-p",
    "8,16",
    "-n",
    "4",
    "-t",
    "1",
    "--warmup",
    "0",
    "--reloads",
    "1",
    "--no-roofline",
    "--no-accuracy",
    "--no-report",
];
/// Its repetitions (10 blocks: the fewest for a pair's interval).
pub const REPS: &[&str] = &["-r", "10", "--min-repetitions", "10"];

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/second-machine/results.jsonl")
}

/// One measurement of the sweep on this machine, shared by the tests of this file (read only):
/// the folder (with the `tiny` pair in it) and the results file.
pub fn here() -> &'static (PathBuf, PathBuf) {
    static HERE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    HERE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let pair = tiny_pair(&dir);
        let out = dir.join("here.jsonl");
        let o = run_sweep(&dir, &pair).args(REPS).arg("-o").arg(&out).output().unwrap();
        ok(&o);
        (pair, out)
    })
}

pub fn cell_ids(path: &Path) -> Vec<String> {
    let mut ids: Vec<String> = records(path).iter().map(|r| r["cell_id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

/// Writes the records of `from` that `keep` accepts to `to`.
pub fn filtered(from: &Path, to: &Path, keep: impl Fn(&serde_json::Value) -> bool) {
    let text: String = lines(from).iter().filter(|r| keep(r)).map(|r| format!("{r}\n")).collect();
    std::fs::write(to, text).unwrap();
}

/// `slmbench run` of the fixture's sweep on `pair` in `cwd`; repetitions and output are the caller's.
pub fn run_sweep(cwd: &Path, pair: &Path) -> Command {
    let mut c = slmbench(cwd);
    c.arg("run").arg("--model").arg(pair).args(SWEEP);
    c
}

/// A scenario of the `tiny` pair at two short prompts, fast enough for a test, with `extra`
/// (a `[models]` table, or nothing) at its end.
pub fn tiny_scenario(prompt_seed: u64, target_ci: f64, extra: &str) -> String {
    format!(
        r#"name = "tiny-v1"
version = 1
description = "for tests"

[[pair]]
preset = "tiny"
seed = 0
precision = ["fp32"]
graph = ["plain"]

[sweep]
input_tokens = [8, 16]
output_tokens = [4]
batch = [1]
prompt_seed = {prompt_seed}

[statistics]
target_ci = {target_ci}
min_blocks = 10
max_blocks = 10
max_time_s = 20.0
warmup = 0
reloads = 1

[devices]
providers = ["cpu"]
backends = ["onnxruntime"]
{extra}"#
    )
}
