//! `bundle` and `check`: a scenario run becomes one file, and `check` gives every reason it
//! fails: a debug build (every test binary is one, so it is the baseline's one reason), an edited
//! median, a missing cell, a foreign model hash, a changed scenario, a torn file.

mod common;

use std::path::{Path, PathBuf};

use slmbench_results::scenario::sha256_hex;

/// A `tiny` scenario listing the hashes of the `tiny` build.
fn scenario_text(dir: &Path) -> String {
    let pair = common::tiny_pair(dir);
    let hash = |role: &str| slmbench_results::identity::content_sha256(&pair.join(role)).unwrap();
    let models = format!(
        "\n[models]\n\"tiny/encoder-decoder\" = \"{}\"\n\"tiny/decoder-only\" = \"{}\"\n",
        hash("encoder-decoder"),
        hash("decoder-only")
    );
    common::tiny_scenario(0, 0.5, &models)
}

/// A bundle of a `tiny-v1` run in `dir`, and the scenario file.
fn bundled(dir: &Path) -> (PathBuf, PathBuf) {
    let scenario = dir.join("tiny-v1.toml");
    std::fs::write(&scenario, scenario_text(dir)).unwrap();
    let results = dir.join("r.jsonl");
    common::cmd()
        .args(["run", "--scenario", scenario.to_str().unwrap(), "-t", "1", "--no-report", "-o"])
        .arg(&results)
        .assert()
        .success();
    let b = dir.join("b.json");
    common::cmd()
        .args(["bundle"])
        .arg(&results)
        .args(["--scenario"])
        .arg(&scenario)
        .arg("-o")
        .arg(&b)
        .assert()
        .success();
    (b, scenario)
}

/// `check`'s exit code and stdout for `bundle` against `scenario`.
fn check(bundle: &Path, scenario: &Path) -> (i32, String) {
    let o = common::cmd().arg("check").arg(bundle).arg("--scenario").arg(scenario).output().unwrap();
    (o.status.code().unwrap(), common::stdout(&o))
}

fn failures(out: &str) -> Vec<&str> {
    out.lines().filter_map(|l| l.strip_prefix("  - ")).collect()
}

/// Rewrites the bundle's records with `edit` (record index, JSON) and, when `redigest`, their digests.
fn edit_records(bundle: &Path, to: &Path, redigest: bool, edit: impl Fn(usize, &mut serde_json::Value) -> bool) {
    let mut b: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    let records = b["records"].as_array_mut().unwrap();
    let mut kept = vec![];
    for (i, r) in records.iter().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(r["line"].as_str().unwrap()).unwrap();
        if !edit(i, &mut v) {
            continue;
        }
        let line = serde_json::to_string(&v).unwrap();
        let digest = if redigest { sha256_hex(line.as_bytes()) } else { r["sha256"].as_str().unwrap().to_string() };
        kept.push(serde_json::json!({ "sha256": digest, "line": line }));
    }
    *records = kept;
    std::fs::write(to, serde_json::to_vec(&b).unwrap()).unwrap();
}

#[test]
fn check_gives_every_reason_a_bundle_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (b, scenario) = bundled(dir.path());
    // The baseline: complete, intact, the scenario's models; only measured by a debug build.
    let (code, out) = check(&b, &scenario);
    assert_eq!(code, 1, "{out}");
    assert_eq!(failures(&out).len(), 1, "{out}");
    assert!(out.contains("a debug build measured these records"), "{out}");
    assert!(out.starts_with("FAIL tiny-v1 on ") && out.contains("(4 cells)"), "{out}");

    let only = |out: &str, needle: &str| {
        let f = failures(out);
        assert!(f.iter().any(|l| l.contains(needle)), "no `{needle}`:\n{out}");
    };
    let edited = dir.path().join("edited.json");
    // An edited median: the digest no longer matches; with the digest made again, the median no
    // longer matches its samples.
    let bump = |_: usize, v: &mut serde_json::Value| {
        if let Some(m) = v.pointer_mut("/metrics/ttft_ns/median") {
            *m = serde_json::json!(m.as_f64().unwrap() * 0.5);
        }
        true
    };
    edit_records(&b, &edited, false, bump);
    only(&check(&edited, &scenario).1, "its digest does not match its line");
    edit_records(&b, &edited, true, bump);
    let (code, out) = check(&edited, &scenario);
    assert_eq!(code, 1);
    only(&out, "median");
    // A missing cell (and so its pair's ratio).
    edit_records(&b, &edited, true, |_, v| {
        !(v["model"]["name"] == "tiny/decoder-only" && v["sweep"]["input_tokens"] == 16)
    });
    let (_, out) = check(&edited, &scenario);
    only(&out, "missing cell: tiny/decoder-only p16 n4 b1 (cpu t1 onnxruntime)");
    // A foreign model.
    edit_records(&b, &edited, true, |_, v| {
        if v["model"]["name"] == "tiny/encoder-decoder" {
            v["model"]["content_sha256"] = serde_json::json!("0".repeat(64));
        }
        true
    });
    only(&check(&edited, &scenario).1, "other files were measured");
    // A changed scenario: one comment added is another scenario.
    let changed = dir.path().join("tiny-v1-changed.toml");
    std::fs::write(&changed, format!("# edited\n{}", std::fs::read_to_string(&scenario).unwrap())).unwrap();
    only(&check(&b, &changed).1, "scenario changed");
    // A torn file is no bundle at all: exit 2.
    let bytes = std::fs::read(&b).unwrap();
    std::fs::write(&edited, &bytes[..bytes.len() / 2]).unwrap();
    let (code, out) = check(&edited, &scenario);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("UNUSABLE") && out.contains("torn or edited"), "{out}");
}

#[test]
fn bundle_refuses_what_is_not_one_scenario_run() {
    let dir = tempfile::tempdir().unwrap();
    let pair = common::tiny_pair(dir.path());
    let results = dir.path().join("plain.jsonl");
    common::cmd()
        .args(["run", "--model", pair.to_str().unwrap(), "-p", "8", "-n", "2", "--no-report", "-o"])
        .arg(&results)
        .args(common::QUICK)
        .assert()
        .success();
    let o = common::cmd().arg("bundle").arg(&results).args(["-o", "x.json"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(common::stderr(&o).contains("not measured by a scenario run"), "{}", common::stderr(&o));
    // An existing bundle is never replaced.
    std::fs::write(dir.path().join("x.json"), "{}").unwrap();
    let o = common::cmd().arg("bundle").arg(&results).args(["-o"]).arg(dir.path().join("x.json")).output().unwrap();
    assert!(common::stderr(&o).contains("a bundle is never replaced"), "{}", common::stderr(&o));
}
