//! Every CPU cell is set against this host's measured limits (memory bandwidth, matrix-multiply
//! rate), measured once per thread count and cached; `--no-roofline` leaves them out.

use assert_cmd::Command;

#[test]
fn cpu_cells_carry_the_roofline_and_limits_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let pair = dir.path().join("tiny");
    let slmbench = || {
        let mut c = Command::cargo_bin("slmbench").unwrap();
        c.env("SLMBENCH_CACHE_DIR", &cache).env_remove("SLMBENCH_TEST_DELAY_US");
        c
    };
    slmbench().args(["models", "build", "--preset", "tiny", "--out"]).arg(&pair).assert().success();
    let run = |out: &str, extra: &[&str]| -> Vec<serde_json::Value> {
        let path = dir.path().join(out);
        slmbench()
            .args(["run", "--model", pair.to_str().unwrap(), "-p", "8", "-n", "4", "-r", "2", "--warmup", "0"])
            .args(["--min-repetitions", "1", "-t", "1", "--no-report", "-o"])
            .arg(&path)
            .args(extra)
            .assert()
            .success();
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["record"] != "pair-ratio")
            .collect::<Vec<_>>()
    };
    let recs = run("a.jsonl", &[]);
    let cached: Vec<_> = std::fs::read_dir(cache.join("roofline")).unwrap().collect();
    assert_eq!(cached.len(), 1, "one file for this host at 1 thread");
    for r in &recs {
        let roof = &r["roofline"];
        assert_eq!(roof["limits"]["threads"], 1);
        assert!(roof["limits"]["memory_bytes_per_s"].as_f64().unwrap() > 1e8, "{roof}");
        assert!(roof["limits"]["matmul_flops_per_s"].as_f64().unwrap() > 1e8, "{roof}");
        assert!(roof["decode_bytes_per_step"].as_u64().unwrap() > 300_000, "the tiny weights are read every step");
        assert!(roof["decode_bandwidth_share"].as_f64().unwrap() > 0.0, "{roof}");
        assert!(roof["ttft_flops"].as_u64().unwrap() > 0 && roof["ttft_compute_share"].as_f64().unwrap() > 0.0);
    }
    // The second run reads the cached limits: the same numbers.
    let again = run("b.jsonl", &[]);
    assert_eq!(again[0]["roofline"]["limits"], recs[0]["roofline"]["limits"]);
    let none = run("c.jsonl", &["--no-roofline"]);
    assert!(none.iter().all(|r| r.get("roofline").is_none()));
}
