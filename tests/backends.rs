//! `--backend` end to end: ONNX Runtime and candle in one sweep, the cross-runtime check of
//! `generate`, and what candle refuses.

mod common;

fn records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect()
}

/// One run measures every cell on both backends; pairs are formed within a backend, and the
/// printed table names each row's backend.
#[test]
fn one_sweep_measures_both_backends_and_pairs_within_each() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.jsonl");
    let run = common::cmd()
        .args(["run", "--preset", "tiny", "--backend", "onnxruntime,candle", "-p", "8", "-n", "4", "-t", "1"])
        .args(["-r", "10", "--min-repetitions", "10", "--no-report", "--no-accuracy", "-o"])
        .arg(&out)
        .assert()
        .success();
    let table = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    assert!(table.contains("| backend |") && table.contains("| candle |"), "{table}");
    // The printed comparison of the runtimes: each model's cell on candle against ONNX Runtime's.
    let (_, compared) = table.split_once("**Backends**").unwrap_or_else(|| panic!("no backend table in\n{table}"));
    let rows: Vec<&str> = compared.lines().filter(|l| l.starts_with("| tiny")).collect();
    assert_eq!(rows.len(), 4, "{compared}");
    assert_eq!(rows.iter().filter(|r| r.contains("| reference | reference |")).count(), 2, "{compared}");
    let recs = records(&out);
    let cells: Vec<_> = recs.iter().filter(|r| r.get("cell_id").is_some()).collect();
    let ratios: Vec<_> = recs.iter().filter(|r| r["record"] == "pair-ratio").collect();
    assert_eq!(cells.len(), 4);
    assert_eq!(ratios.len(), 2);
    for backend in ["onnxruntime", "candle"] {
        let mine: Vec<_> = cells.iter().filter(|c| c["settings"]["backend"] == backend).collect();
        assert_eq!(mine.len(), 2, "{backend}");
        let ratio = ratios.iter().find(|r| r["settings"]["backend"] == backend).unwrap();
        for c in &mine {
            let id = c["cell_id"].as_str().unwrap();
            assert!(ratio["encoder_decoder_cell"] == id || ratio["decoder_only_cell"] == id);
        }
    }
    // The report sets the runtimes side by side.
    let report = dir.path().join("report");
    common::cmd().arg("report").arg(&out).arg("-o").arg(&report).assert().success();
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("id=\"backend-table\""), "no backend section");
    assert_eq!(html.matches("<tr data-backend=\"candle\">").count(), 2);
    assert_eq!(html.matches("<tr data-backend=\"onnxruntime\">").count(), 2);
    // The same greedy ids from both runtimes, cell for cell.
    for role in ["encoder-decoder", "decoder-only"] {
        let ids: Vec<_> =
            cells.iter().filter(|c| c["model"]["kind"] == role).map(|c| c["output_token_ids"].clone()).collect();
        assert_eq!(ids[0], ids[1], "{role}");
    }
}

/// `generate --backend onnxruntime,candle` on `model`, its JSON.
fn both(model: &std::path::Path, n: &str, extra: &[&str], prompt: &str) -> serde_json::Value {
    let out = common::cmd()
        .args(["generate", "--backend", "onnxruntime,candle", "-t", "1", "-n", n, "--prompt-ids", prompt])
        .args(extra)
        .arg("--model")
        .arg(model)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// The cell records of a short `tiny` sweep (8 in, 4 out, one thread, two repetitions) with
/// `args` added.
fn tiny_sweep(args: &[&str]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.jsonl");
    common::cmd()
        .args(["run", "--preset", "tiny", "-p", "8", "-n", "4", "-t", "1", "-r", "2", "--min-repetitions", "2"])
        .args(["--no-report", "--no-accuracy", "--no-roofline", "-o"])
        .arg(&out)
        .args(args)
        .assert()
        .success();
    records(&out).into_iter().filter(|r| r.get("cell_id").is_some()).collect()
}

/// `generate --backend onnxruntime,candle` prints both runtimes' ids and says they agree.
#[test]
fn generate_compares_backends() {
    let root = slmbench_harness::preset::cached_preset("tiny", Default::default(), |_| {}).unwrap();
    for role in ["encoder-decoder", "decoder-only"] {
        let v = both(&root.join(role), "12", &["-b", "2"], "5,9,200,31,7,77,1000,4");
        assert_eq!(v["greedy_ids_agree"], true, "{v}");
        assert_eq!(v["backends"]["candle"]["output_token_ids"], v["backends"]["onnxruntime"]["output_token_ids"]);
        assert_eq!(v["backends"]["candle"]["output_token_ids"][0].as_array().unwrap().len(), 12);
        // Beyond the ids, the logits of one teacher-forced pass: f32 against f32 (measured:
        // 2e-5 of the largest logit at most).
        let logits = &v["logits"];
        assert_eq!(logits["top1_agreement"], 1.0, "{v}");
        assert!(logits["max_rel_logit_diff"].as_f64().unwrap() < 1e-4, "{v}");
        assert_eq!(logits["teacher_forced_ids"], 20);
    }
}

/// candle runs the fp16 build (a fused graph: its packed query-key-value weight is read as three
/// column ranges) in f16 from the build's own half-precision weights; its greedy ids are ONNX
/// Runtime's on `tiny` (which computes most of that graph in f32 on a CPU), its logits within
/// f16's error of them, and a sweep records the cell as fp16 on candle.
#[test]
fn candle_computes_the_fp16_build_in_f16() {
    use slmbench_models::{Variant, graph::GraphVariant, quant::Precision};
    let fp16 = Variant::new(Precision::Fp16, GraphVariant::Fused);
    let root = slmbench_harness::preset::cached_preset("tiny", fp16, |_| {}).unwrap();
    for role in ["encoder-decoder", "decoder-only"] {
        let v = both(&root.join(role), "8", &[], "5,17,300,42,99,7,512,3,77,88,123");
        assert_eq!(v["greedy_ids_agree"], true, "{v}");
        // Measured: 0.058 and 0.062 of the largest logit, top-1 17 of 19 and 19 of 19 positions;
        // ONNX Runtime's own fp16 build drifts from its fp32 one by 0.035–0.095 on these weights.
        assert!(v["logits"]["max_rel_logit_diff"].as_f64().unwrap() < 0.15, "{v}");
        assert!(v["logits"]["top1_agreement"].as_f64().unwrap() >= 0.8, "{v}");
    }
    let cells = tiny_sweep(&["--precision", "fp16", "--graph", "fused", "--backend", "candle"]);
    assert_eq!(cells.len(), 2);
    for c in &cells {
        assert_eq!(
            (c["settings"]["backend"].as_str(), c["model"]["precision"].as_str()),
            (Some("candle"), Some("fp16"))
        );
    }
}

/// The bf16 build stores every weight as bfloat16: ONNX Runtime reads them through casts and
/// computes in f32, candle computes in bf16 from the same weights. On `tiny` candle's logits sit
/// within bf16's error of ONNX Runtime's (not f32's: computing in f32 on these weights would agree
/// to 2e-5), and a sweep records every cell of both runtimes as bf16.
#[test]
fn candle_computes_the_bf16_build_in_bf16() {
    use slmbench_models::{Variant, quant::Precision};
    let root =
        slmbench_harness::preset::cached_preset("tiny", Variant::new(Precision::Bf16, Default::default()), |_| {})
            .unwrap();
    for role in ["encoder-decoder", "decoder-only"] {
        let out = common::cmd()
            .args(["generate", "--backend", "onnxruntime,candle", "-t", "1", "-n", "8"])
            .args(["--prompt-ids", "5,17,300,42,99,7,512,3,77,88,123", "--model"])
            .arg(root.join(role))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // Measured: 0.31 and 0.25 of the largest logit, top-1 13 and 17 of 19 positions (the
        // greedy ids part, so the exit status is 1).
        let rel = v["logits"]["max_rel_logit_diff"].as_f64().unwrap();
        assert!(rel > 1e-3 && rel < 0.5, "{v}");
        assert!(v["logits"]["top1_agreement"].as_f64().unwrap() >= 0.5, "{v}");
        assert_eq!(out.status.success(), v["greedy_ids_agree"] == true, "{v}");
    }
    let cells = tiny_sweep(&["--precision", "bf16", "--backend", "onnxruntime,candle"]);
    assert_eq!(cells.len(), 4);
    for c in &cells {
        assert_eq!(c["model"]["precision"].as_str(), Some("bf16"), "{c}");
    }
}

/// candle takes one thread count per process, plain fp32 builds and the CPU; anything else is
/// a clear error (the thread count and the build before anything runs; a provider as a failed
/// cell), never a measurement of something else.
#[test]
fn candle_refusals_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["-t", "1,2"], "one -t per run"),
        (&["-t", "1", "--graph", "fused"], "--graph plain"),
        (&["-t", "1", "--ep", "cuda"], "CUDA"),
    ];
    for (i, (args, says)) in cases.iter().enumerate() {
        let out = common::cmd()
            .args(["run", "--preset", "tiny", "--backend", "candle", "-p", "8", "-n", "4", "-r", "1"])
            .args(["--min-repetitions", "1", "--no-report", "--no-accuracy", "-o"])
            .arg(dir.path().join(format!("r{i}.jsonl")))
            .args(*args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
    }
}
