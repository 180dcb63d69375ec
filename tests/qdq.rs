//! QDQ builds (w8a8, w8a16) end to end: calibrated on seeded prompts, recorded as their own
//! precision, their drift against fp32 measured by a run and shown in the report; a static QDQ
//! build decodes the dynamic QDQ build's ids; what cannot be built is refused with what to change.

mod common;

use std::path::Path;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn generate(model: &Path, prompt: &str, extra: &[&str]) -> serde_json::Value {
    let out = common::cmd()
        .args(["generate", "--prompt-ids", prompt, "-n", "20", "--model"])
        .arg(model)
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["output_token_ids"].clone()
}

#[test]
fn qdq_builds_are_calibrated_and_their_drift_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    common::cmd()
        .args(["models", "build", "--preset", "tiny", "--precision", "fp32,w8a8,w8a16", "--graph", "plain,fused"])
        .args(["--calibration-prompts", "4", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert!(!out.join("w8a8-fused").exists(), "QDQ is built as a plain graph only");
    for (v, bits) in [("w8a8", 8), ("w8a16", 16)] {
        for m in ["decoder-only", "encoder-decoder"] {
            let manifest = json(&out.join(v).join(m).join("manifest.json"));
            assert_eq!(manifest["precision"], v);
            assert_eq!(manifest["qdq"]["activation_bits"], bits);
            assert_eq!(manifest["qdq"]["calibration"]["prompts"], 4);
            assert!(manifest.get("quantization").is_none(), "not MatMulNBits");
            // A range for every linear weight of this model (and only this model's), holding 0.
            let calibration = json(&out.join(v).join(m).join("calibration.json"));
            let ranges = calibration["ranges"].as_object().unwrap();
            let layers = manifest["config"]["encoder_layers"].as_u64().unwrap_or(0)
                + manifest["config"]["decoder_layers"].as_u64().unwrap();
            assert!(ranges.len() as u64 >= 4 * layers, "{v} {m}: {} ranges for {layers} layers", ranges.len());
            let family = if m == "decoder-only" { "model.layers." } else { "block." };
            for (w, r) in ranges {
                assert!(w.contains(family) || w.contains("embed") || w.contains("shared"), "{m} has {w}");
                for side in ["input", "output"] {
                    let (lo, hi) = (r[side]["min"].as_f64().unwrap(), r[side]["max"].as_f64().unwrap());
                    assert!(lo <= 0.0 && hi >= 0.0 && hi > lo, "{w} {side}: [{lo}, {hi}]");
                }
            }
        }
    }
    // int8 codes: well under the fp32 file (the tied table stays f32 for the lookup).
    let size = |v: &str| std::fs::metadata(out.join(v).join("decoder-only/model.onnx")).unwrap().len();
    assert!(size("w8a8") * 10 < size("fp32") * 6, "{} vs {}", size("w8a8"), size("fp32"));

    let results = dir.path().join("r.jsonl");
    let models = ["fp32", "w8a8", "w8a16"].map(|v| out.join(v).display().to_string()).join(",");
    common::cmd()
        .args(["run", "--model", &models, "-p", "8", "-n", "4", "--no-report", "-o"])
        .arg(&results)
        .args(["-r", "2", "--min-repetitions", "1", "--warmup", "0", "-t", "1"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&results).unwrap();
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["record"] != "pair-ratio")
        .collect();
    assert_eq!(recs.len(), 6);
    let mut drift = std::collections::BTreeMap::new();
    for r in &recs {
        let name = r["model"]["name"].as_str().unwrap();
        let precision = r["model"]["precision"].as_str().unwrap();
        assert_eq!(r["model"]["accuracy"].is_object(), precision != "fp32", "{}", r["model"]);
        assert_eq!(r["model"]["graph_variant"], "plain", "{name}: the 16-bit Q/DQ operators are not fused kernels");
        if precision != "fp32" {
            assert!(name.starts_with(&format!("tiny-{precision}/")), "{name}");
            drift.insert(name.to_string(), r["model"]["accuracy"]["max_abs_logit_diff"].as_f64().unwrap());
        }
    }
    // 256 activation levels lose more than 65,536: w8a16 drifts less than w8a8 in both families.
    for m in ["decoder-only", "encoder-decoder"] {
        let (a8, a16) = (drift[&format!("tiny-w8a8/{m}")], drift[&format!("tiny-w8a16/{m}")]);
        assert!(a16 < a8 && a8 > 0.0, "{m}: w8a16 {a16} vs w8a8 {a8}");
    }
    let report = dir.path().join("report");
    common::cmd().arg("report").arg(&results).arg("-o").arg(&report).assert().success();
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("id=\"accuracy\"") && html.contains("tiny-w8a8/decoder-only"));
    assert!(html.contains("tiny-w8a16/encoder-decoder"));
}

/// The static QDQ graphs (what an NPU runs) decode the dynamic QDQ build's ids, listed and
/// through `--io-binding`: the same scales,
/// the same quantized layers, only the cache and the shapes differ. Refusals name the fix.
#[test]
fn static_qdq_decodes_the_dynamic_ids_and_refusals_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (fixed, dynamic) = (dir.path().join("static"), dir.path().join("dynamic"));
    common::cmd()
        .args(["models", "build", "--preset", "tiny", "--precision", "w8a8", "--shapes", "static"])
        .args(["--max-context", "64", "--prefill-chunk", "8", "--out"])
        .arg(&fixed)
        .assert()
        .success();
    common::cmd()
        .args(["models", "build", "--preset", "tiny", "--precision", "w8a8", "--out"])
        .arg(&dynamic)
        .assert()
        .success();
    assert_eq!(
        json(&fixed.join("decoder-only/calibration.json")),
        json(&dynamic.join("decoder-only/calibration.json")),
        "one calibration, whatever the shapes"
    );
    for m in ["decoder-only", "encoder-decoder"] {
        let prompt = "5,17,300,42,99,7,512,3,77,88,123";
        let want = generate(&dynamic.join(m), prompt, &[]);
        assert_eq!(generate(&fixed.join(m), prompt, &[]), want, "{m}");
        assert_eq!(generate(&fixed.join(m), prompt, &["--io-binding"]), want, "{m}, bound");
    }

    let refused = |args: &[&str], want: &str| {
        let o = common::cmd().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    let out = dir.path().join("x").display().to_string();
    refused(
        &["models", "build", "--preset", "tiny", "--precision", "w8a16", "--graph", "fused", "--out", &out],
        "add --graph plain",
    );
    refused(
        &["models", "build", "--preset", "tiny", "--precision", "w8a8", "--calibration-prompts", "0", "--out", &out],
        "--calibration-prompts",
    );
    refused(&["models", "build", "--preset", "tiny", "--precision", "w9a9", "--out", &out], "w8a16");
    let model = dynamic.join("decoder-only").display().to_string();
    refused(&["generate", "--backend", "candle", "--prompt-ids", "5,6", "--model", &model], "w8a8");
}

/// `run --preset … --precision w8a8` calibrates and builds into the cache, leaves no calibration
/// build behind, and measures the variant's drift against the fp32 preset of the same run.
#[test]
fn a_qdq_preset_is_calibrated_into_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let results = dir.path().join("r.jsonl");
    common::cmd()
        .env("SLMBENCH_CACHE_DIR", &cache)
        .args(["run", "--preset", "tiny", "--precision", "fp32,w8a8", "-p", "4", "-n", "2", "-r", "1"])
        .args(["--min-repetitions", "1", "--warmup", "0", "-t", "1", "--no-report", "--no-roofline", "-o"])
        .arg(&results)
        .assert()
        .success();
    let models = cache.join("models");
    let names: Vec<String> =
        std::fs::read_dir(&models).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains("calibration")), "{names:?}");
    let built = names.iter().find(|n| n.starts_with("tiny-seed0-w8a8-v") && !n.ends_with(".lock")).unwrap();
    assert!(models.join(built).join("encoder-decoder/calibration.json").is_file());
    let text = std::fs::read_to_string(&results).unwrap();
    let qdq: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["model"]["precision"] == "w8a8")
        .collect();
    assert_eq!(qdq.len(), 2);
    assert!(qdq.iter().all(|r| r["model"]["accuracy"]["reference"].as_str().unwrap().starts_with("tiny/")));
}
