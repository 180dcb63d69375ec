//! `--ep qnn` through the `onnxruntime-qnn` plugin, which slmbench fetches and registers. On an
//! x86_64 Linux host QNN's HTP library prepares each graph offline and runs it in emulation (for
//! HTP v75, SoC model 69), so the whole path runs here: static builds taken whole, greedy ids
//! against the CPU provider's, the plugin recorded with every cell, and `--strict-placement`
//! naming the operators a dynamic graph would leave to the CPU.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use std::path::Path;

const PROMPT: &str = "5,17,300,42,99,7,512,3,77,88,123";
const HTP: [&str; 4] = ["--ep-opt", "qnn:htp_arch=75", "--ep-opt", "qnn:soc_model=69"];

fn build(out: &Path, extra: &[&str]) {
    common::cmd().args(["models", "build", "--preset", "tiny", "--out"]).arg(out).args(extra).assert().success();
}

fn generate(model: &Path, ep: &[&str], cache: Option<&Path>) -> serde_json::Value {
    let mut c = common::cmd();
    if let Some(cache) = cache {
        c.env("SLMBENCH_CACHE_DIR", cache);
    }
    let out = c.args(["generate", "-n", "12", "--prompt-ids", PROMPT, "--model"]).arg(model).args(ep).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // stdout is JSON alone: the HTP emulator's notice on C's stdout is sent to stderr.
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids(model: &Path, ep: &[&str]) -> Vec<i64> {
    let v = generate(model, ep, None);
    v["output_token_ids"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

#[test]
fn qnn_runs_static_builds_whole_and_strict_placement_names_what_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let static_dir = dir.path().join("static");
    build(&static_dir, &["--shapes", "static", "--max-context", "64", "--prefill-chunk", "8"]);
    let qnn: Vec<&str> = ["--ep", "qnn"].into_iter().chain(HTP).collect();

    // fp32 runs in fp16 on the HTP: the decoder-only's ids are the CPU's; the encoder-decoder's
    // agree up to a near-tie (its 10th token, measured).
    let decoder_only = static_dir.join("decoder-only");
    assert_eq!(ids(&decoder_only, &qnn), ids(&decoder_only, &[]));
    let encoder_decoder = static_dir.join("encoder-decoder");
    let on_qnn = ids(&encoder_decoder, &qnn);
    assert_eq!(on_qnn[..9], ids(&encoder_decoder, &[])[..9]);

    // --ep-context-cache: the first load compiles each file and writes its EP context model into
    // the cache, the second loads those, and the ids stay the same. (A cache of its own, sharing
    // the runtime and plugin already fetched.)
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::os::unix::fs::symlink(slmbench_harness::cache::cache_dir().join("onnxruntime"), cache.join("onnxruntime"))
        .unwrap();
    let cached: Vec<&str> = qnn.iter().copied().chain(["--ep-context-cache"]).collect();
    for source in ["compiled", "cached"] {
        let v = generate(&encoder_decoder, &cached, Some(&cache));
        assert_eq!(v["output_token_ids"], serde_json::json!(on_qnn));
        let files = v["ep_context"].as_object().unwrap();
        assert_eq!(files.len(), 2, "{v}");
        assert!(files.values().all(|s| s == source), "{v}");
    }
    let models = std::fs::read_dir(cache.join("ep-context")).unwrap().filter_map(|e| e.ok()).count();
    assert_eq!(models, 2, "one context model per file");
    // A cached context model that no longer loads: the error names the cache folder to delete.
    for e in std::fs::read_dir(cache.join("ep-context")).unwrap().filter_map(|e| e.ok()) {
        for f in std::fs::read_dir(e.path()).unwrap().filter_map(|f| f.ok()) {
            if f.path().extension().is_some_and(|x| x == "onnx") {
                std::fs::write(f.path(), b"not a model").unwrap();
            }
        }
    }
    let out = common::cmd()
        .env("SLMBENCH_CACHE_DIR", &cache)
        .args(["generate", "-n", "2", "--prompt-ids", PROMPT, "--model"])
        .arg(&encoder_decoder)
        .args(&cached)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("the cached EP context model did not load"), "{stderr}");
    assert!(
        stderr.contains(&cache.join("ep-context").display().to_string()) && !stderr.contains("panicked"),
        "{stderr}"
    );

    // A pair on QNN with no CPU fallback: every node on QNN, the plugin recorded.
    let results = dir.path().join("qnn.jsonl");
    let pair = format!("{},{}", encoder_decoder.display(), decoder_only.display());
    common::cmd()
        .args(["run", "--pair", &pair, "-p", "16", "-n", "4", "-r", "2", "--min-repetitions", "2"])
        .args(["--warmup", "0", "--strict-placement", "--no-report", "--no-roofline", "-o"])
        .arg(&results)
        .args(&qnn)
        .assert()
        .success();
    let cells: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r.get("metrics").is_some())
        .collect();
    assert_eq!(cells.len(), 2);
    for c in &cells {
        assert_eq!(c["settings"]["ep_used"], "qnn");
        assert_eq!(c["settings"]["ep_plugin"], "onnxruntime-qnn==2.7.0");
        assert_eq!(c["placement"]["main_provider"], "QNNExecutionProvider", "{}", c["placement"]);
        assert_eq!(c["placement"]["cpu_node_share"], 0.0);
    }

    // A dynamic build: QNN takes almost nothing, and --strict-placement fails the cell naming
    // the operators left to the CPU (ONNX Runtime's own refusal names none).
    let dynamic = dir.path().join("dynamic");
    build(&dynamic, &[]);
    let out = common::cmd()
        .args(["run", "--model"])
        .arg(dynamic.join("decoder-only"))
        .args(["-p", "4", "-n", "2", "-r", "1", "--warmup", "0", "--strict-placement", "--no-report", "--no-roofline"])
        .arg("-o")
        .arg(dir.path().join("dynamic.jsonl"))
        .args(&qnn)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("nodes on CPUExecutionProvider (")
            && stdout.contains("MatMul ×")
            && stdout.contains("instead of QNNExecutionProvider"),
        "{stdout}"
    );

    // Issue 31, point 6: without --strict-placement the same cell used to run almost wholly on the
    // CPU under a QNN label, silently. Now the fallback is measured and said, with exact node
    // counts: on stderr, in the record, and in the report's summary and placement table.
    let loose = dir.path().join("loose.jsonl");
    let out = common::cmd()
        .args(["run", "--model"])
        .arg(dynamic.join("decoder-only"))
        .args(["-p", "4", "-n", "2", "-r", "1", "--warmup", "0", "--no-roofline", "--no-accuracy", "-o"])
        .arg(&loose)
        .args(&qnn)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: decoder-only: placement: ") && stderr.contains(" nodes on CPUExecutionProvider"),
        "{stderr}"
    );
    let record: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&loose).unwrap().lines().next().unwrap()).unwrap();
    let warning = record["warnings"][0].as_str().unwrap();
    let nodes = &record["placement"]["nodes_by_provider"];
    let (cpu, total) = (
        nodes["CPUExecutionProvider"].as_u64().unwrap(),
        nodes.as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
    );
    assert!(warning.starts_with(&format!("placement: {cpu} of {total} nodes on CPUExecutionProvider")), "{warning}");
    let html = std::fs::read_to_string(dir.path().join("loose.jsonl.report/index.html")).unwrap();
    assert!(html.contains("class=\"warn cell-warning\"") && html.contains(&format!("{cpu} of {total} (")), "{html}");
}

#[test]
fn a_missing_qnn_plugin_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    build(&dir.path().join("m"), &["--shapes", "static", "--max-context", "64", "--prefill-chunk", "8"]);
    let missing = dir.path().join("nothing/libonnxruntime_providers_qnn.so");
    let out = common::cmd()
        .env("SLMBENCH_QNN_PLUGIN", &missing)
        .args(["generate", "--ep", "qnn", "--prompt-ids", "1,2,3", "-n", "2", "--model"])
        .arg(dir.path().join("m/decoder-only"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SLMBENCH_QNN_PLUGIN is set to") && stderr.contains("which is not a file"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
