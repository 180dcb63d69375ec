//! `slmbench predict` and the report's cost curves through the binary, on quick `tiny` sweeps
//! (the fits' exactness is tested on synthetic cells in `reports/tests/fit.rs`).

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn slmbench(cache: &Path) -> Command {
    let mut c = Command::cargo_bin("slmbench").unwrap();
    c.env("SLMBENCH_CACHE_DIR", cache).env_remove("SLMBENCH_TEST_DELAY_US");
    c
}

/// A quick sweep of the tiny pair over `prompts`, 6 tokens out, into `out`.
fn sweep(d: &Path, prompts: &str, out: &Path) {
    slmbench(d)
        .args(["run", "--preset", "tiny", "-t", "1", "--warmup", "0", "--no-report", "-n", "6", "-r", "6"])
        .args(["--min-repetitions", "6", "-p", prompts, "-o"])
        .arg(out)
        .assert()
        .success();
}

#[test]
fn predict_fits_a_sweep_and_answers_for_a_workload() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fit, check) = (d.join("fit.jsonl"), d.join("check.jsonl"));
    sweep(d, "8,16,32,64", &fit);
    sweep(d, "24", &check);
    let json = d.join("p.json");
    slmbench(d)
        .arg("predict")
        .arg(&fit)
        .args(["--prompt", "40±10", "--output", "5", "--against"])
        .arg(&check)
        .arg("--json")
        .arg(&json)
        .assert()
        .success()
        .stdout(
            contains("### Fitted cost curves")
                .and(contains("### Crossovers"))
                .and(contains("### Predicted for the workload: prompts 40±10, outputs 5 (2000 requests"))
                .and(contains("- mean TTFT: **tiny/"))
                .and(contains("| tiny/decoder-only cpu t1 b1 | 24 | 6 | no |")),
        );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let d0 = &v["decision"];
    assert_eq!(d0["fits"].as_array().unwrap().len(), 2, "{d0}");
    assert_eq!(d0["fits"][0]["prompt_lengths"], 4);
    assert_eq!(d0["predictions"].as_array().unwrap().len(), 2);
    assert_eq!(d0["winners"].as_array().unwrap().len(), 5);
    assert!(d0["pairs"][0]["ttft"]["case"].is_string());
    assert_eq!(v["checks"].as_array().unwrap().len(), 2);
    for p in d0["predictions"].as_array().unwrap() {
        let t = &p["ttft_mean_ms"];
        let (lo, val, hi) = (t["low"].as_f64().unwrap(), t["value"].as_f64().unwrap(), t["high"].as_f64().unwrap());
        assert!(lo <= val && val <= hi && val > 0.0, "{t}");
    }
    // Real requests from a file.
    let reqs = d.join("requests.txt");
    std::fs::write(&reqs, "# prompt output\n30 4\n50,6\n").unwrap();
    slmbench(d)
        .arg("predict")
        .arg(&fit)
        .arg("--requests")
        .arg(&reqs)
        .assert()
        .success()
        .stdout(contains("(2 requests;"));
    // The report: fitted curves, crossovers, and the workload's predictions with their chart.
    let rep = d.join("report");
    slmbench(d).arg("report").arg(&fit).args(["--prompt", "40±10", "--output", "5", "-o"]).arg(&rep).assert().success();
    let html = std::fs::read_to_string(rep.join("index.html")).unwrap();
    for id in [
        "id=\"cost-curves\"",
        "id=\"fits\"",
        "id=\"crossovers\"",
        "id=\"predictions\"",
        "chart-fit_ttft",
        "chart-fit_itl",
        "chart-predicted",
    ] {
        assert!(html.contains(id), "{id} missing from the report");
    }
    assert!(rep.join("charts/fit_ttft.svg").is_file());
}

#[test]
fn predict_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let one = d.join("one.jsonl");
    sweep(d, "16", &one);
    // One prompt length: a constant TTFT, said so.
    slmbench(d).arg("predict").arg(&one).assert().success().stderr(contains("one prompt length (16)"));
    let bad = |args: &[&str], says: &str| {
        slmbench(d).arg("predict").arg(&one).args(args).assert().code(2).stderr(contains(says.to_string()));
    };
    bad(&["--prompt", "40"], "--output");
    bad(&["--prompt", "abc", "--output", "5"], "--prompt `abc`");
    bad(&["--prompt", "40", "--output", "9-3"], "--output `9-3`");
    bad(&["--requests", "/nonexistent/requests.txt"], "/nonexistent/requests.txt");
    let reqs = d.join("requests.txt");
    std::fs::write(&reqs, "30 4\n50\n").unwrap();
    bad(&["--requests", reqs.to_str().unwrap()], "line 2");
    // Checked against cells of a model no fit covers.
    let other = d.join("other.jsonl");
    slmbench(d)
        .args([
            "run",
            "--preset",
            "tiny",
            "-t",
            "2",
            "--warmup",
            "0",
            "--no-report",
            "-n",
            "3",
            "-r",
            "1",
            "-p",
            "8",
            "-o",
        ])
        .arg(&other)
        .assert()
        .success();
    bad(&["--against", other.to_str().unwrap()], "no cell of --against");
    slmbench(d).arg("predict").arg(d.join("missing.jsonl")).assert().code(2).stderr(contains("missing.jsonl"));
}
