//! Regression gate, sharding and merging through the binary.

use std::collections::BTreeSet;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn slmbench(cache: &Path) -> Command {
    let mut c = Command::cargo_bin("slmbench").unwrap();
    c.env("SLMBENCH_CACHE_DIR", cache).env_remove("SLMBENCH_TEST_DELAY_US");
    c
}

fn ids(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        // Cells only: an interleaved pair's ratio record names two of them.
        .filter(|r| r["record"] != "pair-ratio")
        .map(|r| r["cell_id"].as_str().unwrap().to_string())
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
    // ci/gate-tiny.toml: the injected slowdown (about 10×) is far beyond its thresholds, while the
    // noise between two real runs of a sub-millisecond model on a shared machine stays under them.
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/gate-tiny.toml");
    let gate = |current: &Path| {
        let mut c = slmbench(d);
        c.arg("gate").arg("--config").arg(&cfg).arg("--baseline").arg(&base).arg("--current").arg(current);
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
    // --confirm re-measures flagged cells: a slowdown that persists still fails...
    let mut c = gate(&slow);
    c.env("SLMBENCH_TEST_DELAY_US", "3000").args(["--confirm", "1"]);
    c.assert().code(1).stderr(predicates::str::contains("--confirm round 1: re-measuring"));
    // ...and one that was transient passes once re-measured.
    gate(&slow).args(["--confirm", "2"]).assert().success().stdout(predicates::str::contains("0 regression(s)"));
    // And the other way round it is an improvement, not a failure.
    let mut c = slmbench(d);
    c.arg("gate").arg("--config").arg(&cfg).arg("--baseline").arg(&slow).arg("--current").arg(&base);
    c.assert().success().stdout(predicates::str::contains("improvement"));

    // Unusable input: missing cells, another machine.
    let other = d.join("other.jsonl");
    let text = std::fs::read_to_string(&base).unwrap().replace("\"cpu_model\":\"", "\"cpu_model\":\"Other ");
    std::fs::write(&other, text).unwrap();
    gate(&other).assert().code(2).stderr(predicates::str::contains("another machine"));
    let mut c = slmbench(d);
    c.args(["gate", "--allow-other-machine", "--baseline"]).arg(&base).arg("--current").arg(&other);
    c.assert().success();
    // A current run at another setting (its records stay consistent with their samples; an edited
    // length would not, and is refused as corrupt).
    let shifted = d.join("shifted.jsonl");
    std::fs::write(&shifted, std::fs::read_to_string(&base).unwrap().replace("\"threads\":1", "\"threads\":3"))
        .unwrap();
    gate(&shifted).assert().code(2).stderr(predicates::str::contains("lacks 1 baseline cell"));
}

#[test]
fn baselines_and_dashboard_exports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = d.join("run.jsonl");
    slmbench(d)
        .args(TINY)
        // Enough repetitions (and interleaved blocks) for the gate to judge every metric and ratio.
        .args(["-p", "8", "-n", "4", "-r", "10", "--min-repetitions", "10"])
        .arg("-o")
        .arg(&run)
        .assert()
        .success();

    // No baseline yet for this machine: a clear message, exit 2.
    let work = d.join("repo");
    std::fs::create_dir_all(&work).unwrap();
    slmbench(d).current_dir(&work).args(["gate", "--current"]).arg(&run).assert().code(2).stderr(
        predicates::str::contains("no baseline for this machine at ci/baselines/")
            .and(predicates::str::contains("baseline save")),
    );
    let saved = slmbench(d)
        .current_dir(&work)
        .args(["baseline", "save"])
        .arg(&run)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let saved = String::from_utf8(saved).unwrap();
    assert!(saved.trim().starts_with("ci/baselines/") && saved.trim().ends_with(".json"), "{saved}");
    assert!(work.join(saved.trim()).is_file());
    slmbench(d).current_dir(&work).args(["gate", "--current"]).arg(&run).assert().success();

    // A baseline from another runtime version is used, with a stale warning.
    let path = work.join(saved.trim());
    let stale =
        std::fs::read_to_string(&path).unwrap().replace("\"ort_version\": \"1.31.1\"", "\"ort_version\": \"1.30.0\"");
    std::fs::write(&path, stale).unwrap();
    slmbench(d)
        .current_dir(&work)
        .args(["gate", "--current"])
        .arg(&run)
        .assert()
        .success()
        .stderr(predicates::str::contains("stale baseline"));

    for (format, needle) in
        [("bencher", "\"ttft\""), ("gh-smaller", "\"unit\": \"ms\""), ("gh-bigger", "\"unit\": \"tokens/s\"")]
    {
        let out = d.join(format!("{format}.json"));
        slmbench(d).args(["export", "--format", format]).arg(&run).arg("-o").arg(&out).assert().success();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains(needle) && text.contains("cpu/tiny/decoder-only/p8-n4/t1/b1"), "{format}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        match format {
            "bencher" => assert_eq!(v.as_object().unwrap().len(), 2),
            "gh-smaller" => assert_eq!(v.as_array().unwrap().len(), 4),
            _ => assert_eq!(v.as_array().unwrap().len(), 4),
        }
    }
    slmbench(d).args(["export", "--format", "csv"]).arg(&run).arg("-o").arg(d.join("x")).assert().code(2);
}

#[test]
fn two_real_runs_of_the_tiny_pair_pass_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sweep = ["-p", "8,16", "-n", "8", "-r", "12", "--min-repetitions", "12"];
    let (a, b) = (d.join("a.jsonl"), d.join("b.jsonl"));
    for out in [&a, &b] {
        slmbench(d).args(TINY).args(sweep).arg("-o").arg(out).assert().success();
    }
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/gate-tiny.toml");
    slmbench(d)
        .arg("gate")
        .arg("--config")
        .arg(&cfg)
        .arg("--baseline")
        .arg(&a)
        .arg("--current")
        .arg(&b)
        .args(["--confirm", "2"])
        .assert()
        .success()
        .stdout(
            predicates::str::contains("0 regression(s)")
                .and(predicates::str::contains("over 4 cells"))
                // Both runs measured the pair interleaved: its ratios are judged too.
                .and(predicates::str::contains("| pair tiny cpu t1 b1 p16 n8 (fp32 plain) | ttft_ratio |")),
        );
}
