//! `run --scenario`: a versioned workload fixes the sweep and the statistics, every record names
//! the scenario by its file's hash, flags it fixes are refused beside it, a device may choose only
//! what it allows, and the built-in scenarios' listed model hashes are what the builds give.

mod common;

use slmbench_results::scenario::{BUILT_IN, Scenario, sha256_hex};

/// A scenario of the `tiny` pair, fast enough for a test.
fn tiny() -> String {
    common::tiny_scenario(3, 0.05, "")
}

#[test]
fn a_scenario_fixes_the_sweep_and_names_itself_in_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny-v1.toml");
    std::fs::write(&file, tiny()).unwrap();
    let out = dir.path().join("r.jsonl");
    common::cmd()
        .args(["run", "--scenario", file.to_str().unwrap(), "-t", "1", "--no-report", "-o", out.to_str().unwrap()])
        .assert()
        .success();
    let lines = common::lines(&out);
    let cells: Vec<_> = lines.iter().filter(|l| l.get("sweep").is_some() && l.get("metrics").is_some()).collect();
    assert_eq!(cells.len(), 4, "two models × two prompt lengths: {lines:?}");
    let hash = sha256_hex(tiny().as_bytes());
    for c in &cells {
        assert_eq!(c["context"]["scenario"]["name"], "tiny-v1");
        assert_eq!(c["context"]["scenario"]["sha256"], hash.as_str());
        assert_eq!(c["sweep"]["output_tokens"], 4);
        assert_eq!(c["sweep"]["prompt_seed"], 3);
        assert!(c["repetitions"]["measured"].as_u64().unwrap() >= 10, "min_blocks 10: {}", c["repetitions"]);
        assert!(c["model"]["name"].as_str().unwrap().starts_with("tiny/"));
    }
    let mut prompts: Vec<u64> = cells.iter().map(|c| c["sweep"]["input_tokens"].as_u64().unwrap()).collect();
    prompts.sort();
    prompts.dedup();
    assert_eq!(prompts, [8, 16]);
}

#[test]
fn flags_a_scenario_fixes_are_refused_beside_it() {
    for flags in [
        &["-p", "64"][..],
        &["--preset", "tiny"],
        &["-r", "3"],
        &["--target-ci", "0.1"],
        &["--order", "sequential"],
        &["--spinning"],
        &["--opt-level", "basic"],
        &["--stop-at-eos"],
    ] {
        let o = common::cmd().args(["run", "--scenario", "quick-v1"]).args(flags).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        let err = common::stderr(&o);
        assert!(err.contains("cannot be used with") && err.contains("--scenario"), "{flags:?}: {err}");
    }
    let o = common::cmd().args(["run", "--scenario", "quick-v9"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(common::stderr(&o).contains("no such scenario; built in: quick-v1, edge-v1"), "{}", common::stderr(&o));
    // A device chooses only what [devices] allows.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny-v1.toml");
    std::fs::write(&file, tiny()).unwrap();
    let o = common::cmd().args(["run", "--scenario", file.to_str().unwrap(), "--backend", "candle"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(common::stderr(&o).contains("--backend candle: scenario tiny-v1 runs on onnxruntime only"));
    let o = common::cmd().args(["run", "--scenario", file.to_str().unwrap(), "--ep", "cuda"]).output().unwrap();
    assert!(common::stderr(&o).contains("--ep cuda: scenario tiny-v1 runs on cpu only"), "{}", common::stderr(&o));
    // A broken file names the field.
    std::fs::write(&file, tiny().replace("min_blocks = 10", "min_blocks = 2")).unwrap();
    let o = common::cmd().args(["run", "--scenario", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(common::stderr(&o).contains("min_blocks 2"), "{}", common::stderr(&o));
}

/// The builds are deterministic, so a scenario can list its models' content hashes; `quick-v1`'s
/// are checked here (edge-v1's `paper` builds take minutes and gigabytes: `check` compares a
/// bundle's records with them instead).
#[test]
fn quick_v1_lists_the_hashes_its_builds_have() {
    let (s, _) = Scenario::load("quick-v1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("small");
    let st = common::slmbench(dir.path()).args(["models", "build", "--preset", "small", "--out"]).arg(&out).status();
    assert!(st.unwrap().success());
    for (name, want) in &s.models {
        let role = name.split('/').nth(1).unwrap();
        let got = slmbench_results::identity::content_sha256(&out.join(role)).unwrap();
        assert_eq!(
            &got, want,
            "{name}: the build changed, so quick-v1 no longer describes it; publish quick-v2 with the new hash"
        );
    }
    assert_eq!(BUILT_IN.len(), 2);
}
