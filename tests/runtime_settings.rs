//! ONNX Runtime settings a run passes through and records per cell: `--io-binding` (every step
//! through an `IoBinding`, the caches left where the provider put them; that it decodes the
//! listed loop's ids in every layout is checked beside the fused graphs' parity,
//! `tests/precision.rs`) and `--session-opt` (session configuration entries).

mod common;

/// `run --io-binding` records the choice in every cell, whose id then differs from the listed
/// loop's (the two are different measurements), and a report of both runs tells their rows apart
/// (a `settings` column, shown only when cells differ in it) and pairs each run's models with
/// each other only; a backend that has no binding is refused.
#[test]
fn run_records_io_binding_per_cell() {
    let dir = tempfile::tempdir().unwrap();
    let run = |bind: bool| -> Vec<serde_json::Value> {
        let results = dir.path().join(format!("r-{bind}.jsonl"));
        let mut c = common::cmd();
        c.args(["run", "--preset", "tiny", "-p", "8", "-n", "4", "--no-report", "-r", "2"])
            .args(["--min-repetitions", "1", "--warmup", "0", "-t", "1", "-o"])
            .arg(&results);
        if bind {
            c.arg("--io-binding");
        }
        let out = c.assert().success();
        let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(table.contains("| model |") && !table.contains("| settings |"), "one run, one setting: {table}");
        std::fs::read_to_string(&results)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["record"] != "pair-ratio")
            .collect()
    };
    let (bound, listed) = (run(true), run(false));
    assert_eq!(bound.len(), 2);
    for (b, l) in bound.iter().zip(&listed) {
        assert_eq!(b["settings"]["io_binding"], true, "{}", b["settings"]);
        assert!(l["settings"].get("io_binding").is_none(), "unset, as in records written before it existed");
        assert_eq!(b["model"]["name"], l["model"]["name"]);
        assert_ne!(b["cell_id"], l["cell_id"]);
    }
    let report = dir.path().join("report");
    common::cmd()
        .arg("report")
        .args([dir.path().join("r-true.jsonl"), dir.path().join("r-false.jsonl")])
        .arg("-o")
        .arg(&report)
        .assert()
        .success();
    let md = std::fs::read_to_string(report.join("results.md")).unwrap();
    assert!(md.contains("| settings |") && md.contains("| io-binding |") && md.contains("| default |"), "{md}");
    // Each run's pair stays its own: the bound models are paired with each other only.
    let ratios: Vec<&str> = md.lines().filter(|l| l.starts_with("| tiny | fp32 |")).collect();
    assert_eq!(ratios.len(), 2, "{md}");
    assert_eq!(ratios.iter().filter(|l| l.contains("| cpu io-binding |")).count(), 1, "{md}");

    let out = common::cmd()
        .args(["run", "--preset", "tiny", "--backend", "onnxruntime,candle", "--io-binding", "--no-report", "-o"])
        .arg(dir.path().join("refused.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--io-binding") && err.contains("candle"), "{err}");
    assert!(!dir.path().join("refused.jsonl").exists());
}

/// `--session-opt KEY=VALUE` reaches ONNX Runtime (an entry it acts on changes the outcome),
/// is recorded with each cell and is part of its id; a malformed one is a usage error.
#[test]
fn session_options_reach_the_runtime_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r.jsonl");
    common::cmd()
        .args(["run", "--preset", "tiny", "-p", "8", "-n", "4", "--no-report", "-r", "2"])
        .args(["--min-repetitions", "1", "--warmup", "0", "-t", "1"])
        .args([
            "--session-opt",
            "session.disable_prepacking=1",
            "--session-opt",
            "session.set_denormal_as_zero=1",
            "-o",
        ])
        .arg(&results)
        .assert()
        .success();
    let text = std::fs::read_to_string(&results).unwrap();
    let cells: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["record"] != "pair-ratio")
        .collect();
    assert_eq!(cells.len(), 2);
    for c in &cells {
        assert_eq!(
            c["settings"]["session_options"],
            serde_json::json!([
                {"key": "session.disable_prepacking", "value": "1"},
                {"key": "session.set_denormal_as_zero", "value": "1"}
            ])
        );
    }

    // ONNX Runtime acts on the entry: no CPU fallback with only the CPU provider fails the session.
    let model = dir.path().join("m");
    common::cmd().args(["models", "build", "--preset", "tiny", "--out"]).arg(&model).assert().success();
    let generate = |opt: &str| {
        common::cmd()
            .args(["generate", "--prompt-ids", "1,2,3", "-n", "2", "--session-opt", opt, "--model"])
            .arg(model.join("decoder-only"))
            .output()
            .unwrap()
    };
    let out = generate("session.disable_cpu_ep_fallback=1");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fallback to CPU EP has been explicitly disabled"));
    assert!(generate("session.disable_cpu_ep_fallback=0").status.success());

    for bad in ["disable_prepacking=1", "session.disable prepacking=1", "session.disable_prepacking"] {
        let out = generate(bad);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--session-opt"), "{bad}");
    }
}
