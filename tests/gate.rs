//! Regression gate, sharding and merging through the binary.

use std::collections::BTreeSet;
use std::path::Path;

use assert_cmd::Command;

fn slmbench(cache: &Path) -> Command {
    let mut c = Command::cargo_bin("slmbench").unwrap();
    c.env("SLMBENCH_CACHE_DIR", cache).env_remove("SLMBENCH_TEST_DELAY_US");
    c
}

fn ids(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["cell_id"].as_str().unwrap().to_string())
        .collect()
}

const TINY: &[&str] = &["run", "--preset", "tiny", "-t", "1", "--warmup", "0", "--no-report"];

#[test]
fn shards_merge_to_the_unsharded_cell_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sweep = ["-p", "4,8", "-n", "2,3", "-r", "1", "--min-repetitions", "1"];
    slmbench(d).args(TINY).args(sweep).arg("-o").arg(d.join("all.jsonl")).assert().success();
    let mut shards = vec![];
    for i in 1..=3 {
        let out = d.join(format!("shard{i}.jsonl"));
        slmbench(d).args(TINY).args(sweep).args(["--shard", &format!("{i}/3")]).arg("-o").arg(&out).assert().success();
        shards.push(out);
    }
    let sizes: Vec<usize> = shards.iter().map(|s| ids(s).len()).collect();
    assert_eq!(sizes, vec![3, 3, 2]);
    slmbench(d).arg("merge").args(&shards).arg("-o").arg(d.join("merged.jsonl")).assert().success();
    assert_eq!(ids(&d.join("merged.jsonl")), ids(&d.join("all.jsonl")));
    assert_eq!(ids(&d.join("all.jsonl")).len(), 8);
    // A cell twice is refused.
    slmbench(d)
        .arg("merge")
        .args([&shards[0], &shards[0]])
        .arg("-o")
        .arg(d.join("dup.jsonl"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("appears in more than one file"));
    slmbench(d).args(TINY).args(["--shard", "4/3"]).assert().code(2).stderr(predicates::str::contains("--shard"));
}

#[test]
fn gate_passes_unchanged_and_fails_a_slowed_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sweep = ["-p", "8", "-n", "8", "-r", "12", "--min-repetitions", "12", "--model"];
    slmbench(d).args(["models", "build", "--preset", "tiny", "--out"]).arg(d.join("tiny")).assert().success();
    let model = d.join("tiny").join("decoder-only");
    let base = d.join("base.jsonl");
    slmbench(d)
        .args(TINY[..1].iter())
        .args(sweep)
        .arg(&model)
        .args(["-t", "1", "--no-report", "-o"])
        .arg(&base)
        .assert()
        .success();
    let gate = |current: &Path| {
        let mut c = slmbench(d);
        c.args(["gate", "--config", concat!(env!("CARGO_MANIFEST_DIR"), "/ci/gate.toml"), "--baseline"])
            .arg(&base)
            .arg("--current")
            .arg(current);
        c
    };
    // The same measurements: nothing to flag.
    gate(&base).assert().success().stdout(predicates::str::contains("0 regression(s)"));

    // Every decode step made 3 ms slower on purpose.
    let slow = d.join("slow.jsonl");
    slmbench(d)
        .env("SLMBENCH_TEST_DELAY_US", "3000")
        .args(TINY[..1].iter())
        .args(sweep)
        .arg(&model)
        .args(["-t", "1", "--no-report", "-o"])
        .arg(&slow)
        .assert()
        .success();
    gate(&slow)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("**regression**"))
        .stderr(predicates::str::contains("regression: decoder-only cpu t1 b1 p8 n8: itl"));
    // And the other way round it is an improvement, not a failure.
    let mut c = slmbench(d);
    c.args(["gate", "--config", concat!(env!("CARGO_MANIFEST_DIR"), "/ci/gate.toml"), "--baseline"])
        .arg(&slow)
        .arg("--current")
        .arg(&base);
    c.assert().success().stdout(predicates::str::contains("improvement"));

    // Unusable input: missing cells, another machine.
    let other = d.join("other.jsonl");
    let text = std::fs::read_to_string(&base).unwrap().replace("\"cpu_model\":\"", "\"cpu_model\":\"Other ");
    std::fs::write(&other, text).unwrap();
    gate(&other).assert().code(2).stderr(predicates::str::contains("another machine"));
    let mut c = slmbench(d);
    c.args(["gate", "--allow-other-machine", "--baseline"]).arg(&base).arg("--current").arg(&other);
    c.assert().success();
    let shifted = d.join("shifted.jsonl");
    std::fs::write(
        &shifted,
        std::fs::read_to_string(&base).unwrap().replace("\"input_tokens\":8", "\"input_tokens\":9"),
    )
    .unwrap();
    gate(&shifted).assert().code(2).stderr(predicates::str::contains("lacks 1 baseline cell"));
}
