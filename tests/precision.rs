//! Weight precisions end to end: `models build --precision` writes one pair per precision, a run
//! over them records each cell's precision from the model, and reports pair models of equal
//! precision only.

mod common;

/// The cell records (each pair's ratio records left out: each variant's pair ran interleaved).
fn records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["record"] != "pair-ratio")
        .collect()
}

/// A short sweep of `models` (comma-separated folders) into `results`: 8 in, 4 out, 2 repetitions.
fn quick_run(models: &str, results: &std::path::Path) {
    common::cmd()
        .args(["run", "--model", models, "-p", "8", "-n", "4", "--no-report", "-o"])
        .arg(results)
        .args(["-r", "2", "--min-repetitions", "1", "--warmup", "0", "-t", "1"])
        .assert()
        .success();
}

#[test]
fn precisions_are_built_recorded_and_paired_within() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    common::cmd()
        .args(["models", "build", "--preset", "tiny", "--precision", "fp32,int8,int4", "--out"])
        .arg(&out)
        .assert()
        .success();
    let manifest = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join(p).join("decoder-only/manifest.json")).unwrap()).unwrap()
    };
    assert_eq!(manifest("fp32")["precision"], "fp32");
    assert_eq!(manifest("int4")["precision"], "int4");
    assert_eq!(manifest("int8")["quantization"], serde_json::json!({"bits": 8, "block_size": 32, "accuracy_level": 4}));
    assert!(manifest("fp32").get("quantization").is_none());
    // Weight-only 4-bit codes: the decoder-only file is well under half the fp32 one.
    let size = |p: &str| std::fs::metadata(out.join(p).join("decoder-only/model.onnx")).unwrap().len();
    assert!(size("int4") * 2 < size("fp32"), "{} vs {}", size("int4"), size("fp32"));

    let results = dir.path().join("r.jsonl");
    let models = format!("{},{}", out.join("fp32").display(), out.join("int4").display());
    quick_run(&models, &results);
    let recs = records(&results);
    assert_eq!(recs.len(), 4);
    for r in &recs {
        let name = r["model"]["name"].as_str().unwrap();
        let want = if name.starts_with("tiny-int4/") { "int4" } else { "fp32" };
        assert_eq!(r["model"]["precision"], want, "{name}");
        assert_eq!(r["model"]["graph_variant"], "plain", "{name}: MatMulNBits is a precision, not a fused graph");
        assert_eq!(r["model"]["pair"].as_str().unwrap(), name.split('/').next().unwrap());
    }
    // The report pairs each precision with itself: one headline for tiny, one for tiny-int4.
    let report = dir.path().join("report");
    common::cmd().arg("report").arg(&results).arg("-o").arg(&report).assert().success();
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    let pairs: Vec<&str> =
        html.split("class=\"headline\" data-pair=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    assert_eq!(pairs, ["tiny", "tiny-int4"]);
    // The int4 models' drift against their fp32 builds, in the records and the report.
    for r in &recs {
        let int4 = r["model"]["precision"] == "int4";
        assert_eq!(r["model"]["accuracy"].is_object(), int4, "{}", r["model"]);
    }
    assert!(html.contains("id=\"accuracy\"") && html.contains("tiny-int4/decoder-only"));
}

/// `accuracy` compares logits under teacher forcing: a model against itself agrees exactly, a
/// quantized variant drifts (random weights drawn at gain 3 are chaotic, so it drifts a lot), and
/// models of two families are refused.
#[test]
fn accuracy_measures_drift_against_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    common::cmd()
        .args(["models", "build", "--preset", "tiny", "--precision", "fp32,int4", "--out"])
        .arg(&out)
        .assert()
        .success();
    let (fp32, int4) = (out.join("fp32"), out.join("int4"));
    for family in ["decoder-only", "encoder-decoder"] {
        let o = common::cmd()
            .args(["accuracy", "-n", "24", "--reference"])
            .arg(fp32.join(family))
            .arg("--model")
            .arg(format!("{},{}", fp32.join(family).display(), int4.join(family).display()))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let (same, quant) = (&v[0]["drift"], &v[1]["drift"]);
        assert_eq!(same["positions"], 24);
        assert_eq!((same["top1_agreement"].as_f64(), same["max_abs_logit_diff"].as_f64()), (Some(1.0), Some(0.0)));
        assert!(quant["max_abs_logit_diff"].as_f64().unwrap() > 0.0, "{quant}");
        assert!(quant["top1_agreement"].as_f64().unwrap() > 0.0, "{quant}");
    }
    let o = common::cmd()
        .args(["accuracy", "--reference"])
        .arg(fp32.join("decoder-only"))
        .arg("--model")
        .arg(int4.join("encoder-decoder"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("different families"));
}

/// `--precision` and `--graph` build presets; a model folder has the variant it was built with;
/// unknown names are refused naming the known ones.
#[test]
fn precision_without_a_preset_is_refused() {
    let refused = |args: &[&str], message: &str| {
        let o = common::cmd().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(message),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let preset_only = "--precision and --graph apply to --preset";
    refused(&["run", "--model", "/nowhere", "--precision", "int4", "-o", "-"], preset_only);
    refused(&["run", "--model", "/nowhere", "--graph", "fused", "-o", "-"], preset_only);
    refused(
        &["models", "build", "--preset", "tiny", "--graph", "fast", "--out", "/tmp/x"],
        "unknown graph variant `fast`",
    );
    refused(
        &["models", "build", "--preset", "tiny", "--precision", "int3", "--out", "/tmp/x"],
        "unknown precision `int3`",
    );
}

/// Greedy ids of `slmbench generate` and how it kept the cache (`shared` or `growing`); with
/// `bind`, every step through an IoBinding (`--io-binding`), which it must report.
fn generate_with(
    model: &std::path::Path,
    prompt: &str,
    batch: &str,
    decoder: &str,
    bind: bool,
) -> (serde_json::Value, String) {
    let mut c = common::cmd();
    c.args(["generate", "--prompt-ids", prompt, "-n", "32", "-b", batch, "--decoder", decoder, "--model"]).arg(model);
    if bind {
        c.arg("--io-binding");
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cache = v["kv_cache"].as_str().unwrap().to_string();
    // A shared cache is always fed through its binding.
    assert_eq!(v["io_binding"], bind || cache == "shared", "{v}");
    (v["output_token_ids"].clone(), cache)
}

fn generate_ids(model: &std::path::Path, prompt: &str, batch: &str, decoder: &str) -> (serde_json::Value, String) {
    generate_with(model, prompt, batch, decoder, false)
}

/// `--graph plain,fused` builds both variants; the fused graphs (GroupQueryAttention,
/// MultiHeadAttention, RotaryEmbedding, the fused norms) decode exactly the plain graphs' greedy
/// ids on the tiny and small pairs, at batch 1 and 2, with the cache in one buffer shared by
/// past and present (and, for a split decoder pair, growing); a run records them as `fused` and
/// pairs them only with each other. `--io-binding` (every step through an IoBinding, the caches
/// left in the provider's memory) decodes the same ids in every layout.
#[test]
fn fused_graphs_decode_the_plain_tokens() {
    let dir = tempfile::tempdir().unwrap();
    for preset in ["tiny", "small"] {
        let out = dir.path().join(preset);
        common::cmd()
            .args(["models", "build", "--preset", preset, "--graph", "plain,fused", "--split-decoder", "--out"])
            .arg(&out)
            .assert()
            .success();
        let manifest = |v: &str, m: &str| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(out.join(v).join(m).join("manifest.json")).unwrap()).unwrap()
        };
        assert_eq!(manifest("fp32-fused", "decoder-only")["graph_variant"], "fused");
        assert_eq!(manifest("fp32", "decoder-only")["graph_variant"], "plain");
        for m in ["decoder-only", "encoder-decoder"] {
            let decoder = if m == "decoder-only" { "model.onnx" } else { "decoder_model_merged.onnx" };
            let nodes = |v: &str| {
                let files = manifest(v, m)["files"].as_array().unwrap().clone();
                files.iter().find(|f| f["name"] == decoder).unwrap()["step_nodes"].as_u64().unwrap()
            };
            assert!(
                nodes("fp32-fused") * 3 < nodes("fp32"),
                "{preset} {m}: {} vs {} operators per step",
                nodes("fp32-fused"),
                nodes("fp32")
            );
            for (prompt, batch) in [("5,17,300,42,99,7,512,3", "1"), ("11,222,333,444,555,66", "2")] {
                let (plain, cache) = generate_ids(&out.join("fp32").join(m), prompt, batch, "auto");
                assert_eq!(cache, "growing", "{preset} {m}: plain graphs concatenate their caches");
                let bound =
                    |v: &str, decoder: &str| generate_with(&out.join(v).join(m), prompt, batch, decoder, true).0;
                assert_eq!(bound("fp32", "auto"), plain, "{preset} {m} batch {batch}, bound");
                assert_eq!(bound("fp32-fused", "auto"), plain, "{preset} {m} batch {batch}, fused, bound");
                let (fused, cache) = generate_ids(&out.join("fp32-fused").join(m), prompt, batch, "auto");
                assert_eq!(cache, "shared", "{preset} {m}: fused graphs write one buffer in place");
                assert_eq!(plain, fused, "{preset} {m} batch {batch}");
                if m == "encoder-decoder" {
                    // Two decoder files need two bindings: the fused split pair grows its cache.
                    let (split, cache) = generate_ids(&out.join("fp32-fused").join(m), prompt, batch, "split");
                    assert_eq!((split, cache.as_str()), (plain.clone(), "growing"), "{preset} split batch {batch}");
                    for v in ["fp32", "fp32-fused"] {
                        assert_eq!(bound(v, "split"), plain, "{preset} {v} split batch {batch}, bound");
                    }
                }
                let row = if plain[0].is_array() { &plain[0] } else { &plain };
                let mut ids: Vec<i64> = row.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
                ids.sort();
                ids.dedup();
                assert!(ids.len() >= 8, "{preset} {m}: {} distinct ids; too repetitive to prove parity", ids.len());
            }
        }
    }
    let out = dir.path().join("tiny");
    let results = dir.path().join("r.jsonl");
    let models = format!("{},{}", out.join("fp32").display(), out.join("fp32-fused").display());
    quick_run(&models, &results);
    for r in records(&results) {
        let name = r["model"]["name"].as_str().unwrap();
        let fused = name.starts_with("tiny-fused/");
        assert_eq!(r["model"]["graph_variant"], if fused { "fused" } else { "plain" }, "{name}");
        assert_eq!(r["model"]["past_present_share_buffer"].as_bool().unwrap_or(false), fused, "{name}");
        assert_eq!(r["model"]["pair"].as_str().unwrap(), name.split('/').next().unwrap());
        // The fused variant's drift against its plain build: the same function up to f32 rounding.
        let acc = &r["model"]["accuracy"];
        if fused {
            assert_eq!(acc["reference"], name.replace("tiny-fused/", "tiny/"), "{acc}");
            assert_eq!(acc["top1_agreement"], 1.0, "{acc}");
            assert!(acc["max_rel_logit_diff"].as_f64().unwrap() < 2e-3, "{acc}");
            assert!(acc["positions"].as_u64().unwrap() >= 64, "{acc}");
        } else {
            assert!(acc.is_null(), "{name}: the reference has no drift of its own");
        }
    }
}

#[test]
fn fused_graphs_need_a_head_size_the_kernel_takes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("odd.json");
    let mut c = serde_json::to_value(slmbench_models::Pair::preset("tiny").unwrap().encoder_decoder).unwrap();
    c["head_dim"] = serde_json::json!(8);
    c["num_heads"] = serde_json::json!(8);
    std::fs::write(&cfg, c.to_string()).unwrap();
    let out = common::cmd()
        .args(["models", "build", "--graph", "fused", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("m"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("multiple of 16") && err.contains("--graph plain"), "{err}");
}

/// fp16 (weights, activations, cache and logits in half precision) is built as a fused graph,
/// refused as a plain one, decodes the fp32 greedy ids on the tiny pair for the first steps, and
/// stays close to fp32 under teacher forcing (a wrong conversion, e.g. of the RoPE tables or the
/// cache, would not).
#[test]
fn fp16_is_a_fused_build_close_to_fp32() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    let o = common::cmd()
        .args(["models", "build", "--preset", "tiny", "--precision", "fp16", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("add --graph fused"));
    common::cmd()
        .args(["models", "build", "--preset", "tiny", "--precision", "fp32,fp16", "--graph", "plain,fused", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert!(!out.join("fp16").exists(), "fp16 plain is skipped when fused is asked for too");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("fp16-fused/decoder-only/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["precision"], "fp16");
    let size = |v: &str| std::fs::metadata(out.join(v).join("decoder-only/model.onnx")).unwrap().len();
    assert!(size("fp16-fused") * 10 < size("fp32-fused") * 6, "{} vs {}", size("fp16-fused"), size("fp32-fused"));
    for m in ["decoder-only", "encoder-decoder"] {
        let want = generate_ids(&out.join("fp32").join(m), "11,222,333,444,555,66", "2", "auto").0;
        let got = generate_ids(&out.join("fp16-fused").join(m), "11,222,333,444,555,66", "2", "auto").0;
        for r in 0..2 {
            assert_eq!(got[r].as_array().unwrap()[..8], want[r].as_array().unwrap()[..8], "{m} row {r}");
        }
        let acc = common::cmd()
            .args(["accuracy", "-n", "128", "--reference"])
            .arg(out.join("fp32").join(m))
            .arg("--model")
            .arg(out.join("fp16-fused").join(m))
            .output()
            .unwrap();
        assert!(acc.status.success(), "{}", String::from_utf8_lossy(&acc.stderr));
        let v: serde_json::Value = serde_json::from_slice(&acc.stdout).unwrap();
        let agreement = v[0]["drift"]["top1_agreement"].as_f64().unwrap();
        assert!(agreement >= 0.6, "{m}: fp16 agrees with fp32 on {agreement} of the positions");
    }
}

/// A cached preset from another manifest layout (a development build of the same version) is
/// built again rather than misread: an int4 build read with the old layout would be counted at
/// 4 bytes per weight.
#[test]
fn a_cached_preset_of_another_manifest_layout_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let stale = cache.join("models").join(format!("tiny-seed0-int4-v{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(stale.join("decoder-only")).unwrap();
    std::fs::write(stale.join("pair.json"), r#"{"name": "tiny-int4", "encoder_decoder": {"manifest_version": 1}}"#)
        .unwrap();
    let out = common::cmd()
        .env("SLMBENCH_CACHE_DIR", &cache)
        .args(["run", "--preset", "tiny", "--precision", "int4", "-p", "4", "-n", "2", "-r", "1"])
        .args(["--min-repetitions", "1", "--warmup", "0", "-t", "1", "--no-report", "--no-roofline", "-o"])
        .arg(dir.path().join("r.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("building the `tiny` pair"));
    let pair: serde_json::Value = serde_json::from_slice(&std::fs::read(stale.join("pair.json")).unwrap()).unwrap();
    assert_eq!(pair["encoder_decoder"]["manifest_version"], slmbench_models::build::MANIFEST_VERSION);
    assert_eq!(pair["encoder_decoder"]["quantization"]["bits"], 4);
}

/// Shards of a job array start together on a cold shared cache: one builds the preset, the others
/// wait for it and use the complete build (none removes a build another is writing or reading).
#[test]
fn concurrent_runs_on_a_cold_cache_build_a_preset_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let children: Vec<_> = (0..3)
        .map(|i| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("slmbench"))
                .env_remove("SLMBENCH_TEST_DELAY_US")
                .env("SLMBENCH_CACHE_DIR", &cache)
                .args(["run", "--preset", "tiny", "-p", "4", "-n", "2", "-r", "1", "--min-repetitions", "1"])
                .args(["--warmup", "0", "-t", "1", "--no-report", "--no-roofline", "--no-accuracy", "-o"])
                .arg(dir.path().join(format!("r{i}.jsonl")))
                .stderr(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut builds = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        builds += err.matches("building the `tiny` pair").count();
    }
    assert_eq!(builds, 1, "the preset was built {builds} times");
}
