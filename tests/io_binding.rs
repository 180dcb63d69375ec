//! `--io-binding`: every step through an `IoBinding`, the caches left where the provider put
//! them. A run records it as part of each cell. (That it decodes the listed loop's ids in every
//! layout is checked beside the fused graphs' parity, `tests/precision.rs`.)

use assert_cmd::Command;

fn slmbench() -> Command {
    let mut c = Command::cargo_bin("slmbench").unwrap();
    c.env_remove("SLMBENCH_TEST_DELAY_US");
    c
}

/// `run --io-binding` records the choice in every cell, whose id then differs from the listed
/// loop's (the two are different measurements); a backend that has no binding is refused.
#[test]
fn run_records_io_binding_per_cell() {
    let dir = tempfile::tempdir().unwrap();
    let run = |bind: bool| -> Vec<serde_json::Value> {
        let results = dir.path().join(format!("r-{bind}.jsonl"));
        let mut c = slmbench();
        c.args(["run", "--preset", "tiny", "-p", "8", "-n", "4", "--no-report", "-r", "2"])
            .args(["--min-repetitions", "1", "--warmup", "0", "-t", "1", "-o"])
            .arg(&results);
        if bind {
            c.arg("--io-binding");
        }
        c.assert().success();
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

    let out = slmbench()
        .args(["run", "--preset", "tiny", "--backend", "onnxruntime,candle", "--io-binding", "--no-report", "-o"])
        .arg(dir.path().join("refused.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--io-binding") && err.contains("candle"), "{err}");
    assert!(!dir.path().join("refused.jsonl").exists());
}
