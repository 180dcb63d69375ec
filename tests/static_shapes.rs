//! `models build --shapes static`: graphs of fixed dimensions (for NPUs) that decode exactly the
//! dynamic graphs' greedy ids, driven by the same timing loop, and refused clearly where a
//! request does not fit what they were built for. (That every input and output dimension is
//! fixed is checked on the graphs themselves, `models/src/graph/static_shapes.rs`.)

mod common;

use std::path::Path;

fn build(preset: &str, out: &Path, extra: &[&str]) {
    common::cmd().args(["models", "build", "--preset", preset, "--out"]).arg(out).args(extra).assert().success();
}

fn generate(model: &Path, prompt: &str, batch: &str) -> serde_json::Value {
    generate_with(model, prompt, batch, &[])
}

fn generate_with(model: &Path, prompt: &str, batch: &str, extra: &[&str]) -> serde_json::Value {
    let out = common::cmd()
        .args(["generate", "--prompt-ids", prompt, "-n", "24", "-b", batch, "--model"])
        .arg(model)
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["output_token_ids"].clone()
}

/// Static fp32 graphs give the dynamic fp32 graphs' greedy ids on the tiny and small pairs:
/// prompts of one whole prefill chunk, part of one, and more than one, at batch 1 and 2, with
/// and without `--io-binding`.
#[test]
fn static_graphs_decode_the_dynamic_ids() {
    let dir = tempfile::tempdir().unwrap();
    let shapes = |batch: &'static str| {
        ["--shapes", "static", "--max-context", "64", "--prefill-chunk", "8", "--static-batch", batch]
    };
    for preset in ["tiny", "small"] {
        let (dynamic, one, two) =
            (dir.path().join(preset), dir.path().join(format!("{preset}-b1")), dir.path().join(format!("{preset}-b2")));
        build(preset, &dynamic, &[]);
        build(preset, &one, &shapes("1"));
        build(preset, &two, &shapes("2"));
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(one.join("decoder-only/manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["static_shapes"], serde_json::json!({"batch": 1, "max_context": 64, "prefill_chunk": 8}));
        for m in ["decoder-only", "encoder-decoder"] {
            for (prompt, batch, built) in [
                ("5,17,300,42,99,7,512,3", "1", &one),
                ("11,222,333,444,555,66", "1", &one),
                ("5,17,300,42,99,7,512,3,77,88,123,901,44,650,2,18,333,71,256,980", "1", &one),
                ("5,17,300,42,99,7,512,3,77,88,123", "2", &two),
            ] {
                let want = generate(&dynamic.join(m), prompt, batch);
                let what = format!("{preset} {m} batch {batch} prompt {prompt}");
                assert_eq!(generate(&built.join(m), prompt, batch), want, "{what}");
                // Every run through an IoBinding, the caches left in the provider's memory.
                assert_eq!(generate_with(&built.join(m), prompt, batch, &["--io-binding"]), want, "{what}, bound");
                let row = if want[0].is_array() { &want[0] } else { &want };
                let mut ids: Vec<i64> = row.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
                ids.sort();
                ids.dedup();
                assert!(ids.len() >= 6, "{what}: {} distinct ids; too repetitive to prove parity", ids.len());
            }
        }
    }
}

/// A run over a static pair records its layout and its own pair name (never paired with the
/// dynamic build); an int4 static build decodes the dynamic int4 ids; requests the build cannot
/// hold, static fused graphs, and candle (which runs the dynamic builds) are refused with what to
/// change.
#[test]
fn static_builds_run_and_refuse_what_they_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    build("tiny", &out, &["--shapes", "static", "--max-context", "32", "--prefill-chunk", "8"]);
    let results = dir.path().join("r.jsonl");
    common::cmd()
        .args(["run", "--model"])
        .arg(&out)
        .args([
            "-p",
            "8,12",
            "-n",
            "4",
            "-r",
            "2",
            "--min-repetitions",
            "1",
            "--warmup",
            "0",
            "-t",
            "1",
            "--no-report",
            "-o",
        ])
        .arg(&results)
        .assert()
        .success();
    let cells: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["record"] != "pair-ratio")
        .collect();
    assert_eq!(cells.len(), 4);
    for c in &cells {
        assert_eq!(c["model"]["pair"], "tiny-static");
        let layout =
            if c["model"]["kind"] == "decoder-only" { "decoder-only-static" } else { "encoder-decoder-static" };
        assert_eq!(c["model"]["layout"], layout, "{}", c["model"]);
    }

    let refused = |args: &[&str], model: &str, expect: &str| {
        let o = common::cmd().args(args).arg(out.join(model)).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect) && err.contains("--shapes static"), "{args:?}: {err}");
    };
    refused(
        &["generate", "--prompt-ids", "1,2,3", "-n", "4", "-b", "2", "--model"],
        "decoder-only",
        "built for batch 1, not 2",
    );
    let long = (1..=30).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    refused(&["generate", "--prompt-ids", &long, "-n", "4", "--model"], "decoder-only", "holds 32 positions");
    refused(&["generate", "--prompt-ids", "1,2,3", "-n", "40", "--model"], "encoder-decoder", "holds 32 positions");
    let o = common::cmd()
        .args(["generate", "--prompt-ids", "1,2,3", "-n", "4", "--backend", "candle", "--model"])
        .arg(out.join("decoder-only"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("static shapes"), "{}", String::from_utf8_lossy(&o.stderr));

    // Weight-only int4 static graphs decode the dynamic int4 build's ids too.
    let (q_static, q_dynamic) = (dir.path().join("int4-static"), dir.path().join("int4"));
    build(
        "tiny",
        &q_static,
        &["--precision", "int4", "--shapes", "static", "--max-context", "64", "--prefill-chunk", "8"],
    );
    build("tiny", &q_dynamic, &["--precision", "int4"]);
    for m in ["decoder-only", "encoder-decoder"] {
        let prompt = "5,17,300,42,99,7,512,3,77,88,123";
        assert_eq!(generate(&q_static.join(m), prompt, "1"), generate(&q_dynamic.join(m), prompt, "1"), "int4 {m}");
    }

    let o = common::cmd()
        .args(["models", "build", "--preset", "tiny", "--shapes", "static", "--graph", "fused", "--out"])
        .arg(dir.path().join("fused"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("plain graphs"), "{}", String::from_utf8_lossy(&o.stderr));
}
