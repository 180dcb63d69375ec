//! The `slmbench` binary end to end: one integration-test binary, a section per command.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

// ---- models list / describe --------------------------------------------------------------------

#[test]
fn list_prints_every_preset_with_counts() {
    let out = common::cmd().args(["models", "list"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    for (name, params) in [("tiny", "361664"), ("small", "28271232"), ("paper", "331816960"), ("1b", "983751168")] {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in\n{text}"));
        assert!(line.contains(params), "{line}");
    }
}

#[test]
fn describe_paper_reports_matched_counts() {
    let out =
        common::cmd().args(["models", "describe", "--preset", "paper"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let ed = v["params"]["encoder_decoder"]["total"].as_f64().unwrap();
    let dec = v["params"]["decoder_only"]["total"].as_f64().unwrap();
    assert!((ed / 332e6 - 1.0).abs() <= 0.01, "{ed}");
    assert!((dec / ed - 1.0).abs() <= 0.02, "{dec}");
    assert_eq!(v["encoder_decoder"]["config"]["encoder_layers"], 20);
    assert_eq!(v["encoder_decoder"]["config"]["positions"]["theta"], 10000.0);
    assert_eq!(v["decoder_only"]["config"]["kind"], "decoder-only");
}

// ---- models build ----------------------------------------------------------------------------

#[test]
fn build_then_describe_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    common::cmd()
        .args(["models", "build", "--preset", "tiny", "--seed", "3", "--split-decoder", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("encoder-decoder 361664 parameters"));
    assert!(out.join("encoder-decoder/decoder_with_past_model.onnx").is_file());
    let desc = common::cmd().args(["models", "describe"]).arg(&out).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&desc).unwrap();
    assert_eq!(v["encoder_decoder"]["seed"], 3);
    assert_eq!(v["decoder_only"]["params"]["total"], 361536);
}

#[test]
fn build_from_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mine.toml");
    std::fs::write(
        &cfg,
        r#"
kind = "encoder-decoder"
d_model = 64
num_heads = 4
num_kv_heads = 2
d_ff = 192
ffn = "gelu"
positions = { kind = "rope", theta = 500.0 }
encoder_layers = 4
decoder_layers = 3
vocab_size = 1024
tie_embeddings = true
max_positions = 128
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    common::cmd().args(["models", "build", "--config"]).arg(&cfg).arg("--out").arg(&out).assert().success();
    let pair: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("pair.json")).unwrap()).unwrap();
    assert_eq!(pair["name"], "mine");
    assert_eq!(pair["encoder_decoder"]["config"]["positions"]["theta"], 500.0);
}

// ---- doctor and ONNX Runtime resolution --------------------------------------------------------

/// The binary with a private, empty cache and no ORT_DYLIB_PATH.
fn fresh(cache: &std::path::Path) -> Command {
    let mut c = common::cmd();
    c.env_remove("ORT_DYLIB_PATH").env("SLMBENCH_CACHE_DIR", cache);
    c
}

#[test]
fn doctor_fetches_into_an_empty_cache_and_says_so() {
    let cache = tempfile::tempdir().unwrap();
    let out = fresh(cache.path())
        .arg("doctor")
        .assert()
        .success()
        .stderr(predicate::str::contains("fetching the official onnxruntime==1.31.1 build"))
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["version"], "1.31.1");
    assert_eq!(v["library"]["source"], "fetched");
    assert!(v["providers"].as_array().unwrap().iter().any(|p| p == "CPUExecutionProvider"));
    // A plugin provider is described, not fetched: that waits for the first --ep qnn.
    assert_eq!(v["plugins"][0]["provider"], "QNNExecutionProvider");
    let state = v["plugins"][0]["plugin"]["state"].as_str().unwrap_or_default();
    assert!(state.starts_with("not cached") || state.contains("publishes no build"), "{state}");
    // Only the runtime libraries are unpacked, not the Python module.
    let dir = std::fs::read_dir(cache.path().join("onnxruntime")).unwrap().next().unwrap().unwrap().path();
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert!(names.iter().all(|n| n.contains("onnxruntime") && !n.contains("pybind")), "{names:?}");
    // Second run: from the cache, silently.
    let out = fresh(cache.path()).arg("doctor").assert().success().get_output().clone();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("fetching"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["library"]["source"], "cache");
}

#[test]
fn runtime_errors_say_how_to_set_ort_dylib_path() {
    let cache = tempfile::tempdir().unwrap();
    let missing = cache.path().join("nope.so");
    common::cmd()
        .env("ORT_DYLIB_PATH", &missing)
        .arg("doctor")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ORT_DYLIB_PATH is set to").and(predicate::str::contains("nope.so")));

    let not_a_lib = cache.path().join("fake.so");
    std::fs::write(&not_a_lib, "not a library").unwrap();
    common::cmd().env("ORT_DYLIB_PATH", &not_a_lib).arg("doctor").assert().code(2).stderr(
        predicate::str::contains("cannot load ONNX Runtime from").and(predicate::str::contains("set ORT_DYLIB_PATH")),
    );

    fresh(cache.path())
        .env("SLMBENCH_PIP", "/nonexistent/pip")
        .arg("doctor")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no working pip found").and(predicate::str::contains("set ORT_DYLIB_PATH")));

    fresh(cache.path())
        .env("SLMBENCH_ORT_SHA256", "0".repeat(64))
        .arg("doctor")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected 0000").and(predicate::str::contains("refusing it")));

    fresh(cache.path())
        .env("SLMBENCH_ORT_VERSION", "0.0.1")
        .arg("doctor")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("onnxruntime==0.0.1").and(predicate::str::contains("set ORT_DYLIB_PATH")));
    assert!(
        !cache
            .path()
            .join("onnxruntime")
            .read_dir()
            .map(|mut d| d.any(|e| {
                let e = e.unwrap();
                e.path().join("libonnxruntime.so.1.31.1").exists()
            }))
            .unwrap_or(false),
        "a refused fetch must leave no library in the cache"
    );
}

// ---- run and generate ------------------------------------------------------------------------

fn tiny_pair(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("tiny");
    common::cmd().args(["models", "build", "--preset", "tiny", "--out"]).arg(&out).assert().success();
    out
}

#[test]
fn run_writes_results_and_prints_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let results = dir.path().join("out/results.jsonl");
    let out = common::cmd()
        .args(["run", "--model", pair.to_str().unwrap(), "-p", "8,16", "-n", "4", "-b", "1,2", "-o"])
        .arg(&results)
        .args(common::QUICK)
        .assert()
        .success()
        .get_output()
        .clone();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("| model | kind | ep |"), "{table}");
    // Progress names a pair's two cells the same way when it starts and when it ends.
    let progress = String::from_utf8(out.stderr).unwrap();
    for n in ["1–2", "3–4", "5–6", "7–8"] {
        assert!(progress.contains(&format!("slmbench: cells {n}/8: ")), "no start of cells {n}:\n{progress}");
        assert!(progress.contains(&format!("slmbench: cells {n}/8 done in ")), "no end of cells {n}:\n{progress}");
    }
    // The cells, then the pair's ratios (each sweep point measured interleaved, by default).
    let (cell_rows, ratio_rows) =
        table.split_once("\n\n**Encoder-decoder / decoder-only, measured interleaved**").unwrap();
    assert_eq!(cell_rows.lines().count(), 2 + 8, "{table}");
    assert_eq!(ratio_rows.lines().filter(|l| l.starts_with("| tiny |")).count(), 4, "{table}");
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(&results).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (ratios, lines): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r["record"] == "pair-ratio");
    assert_eq!(lines.len(), 8);
    assert_eq!(ratios.len(), 4);
    for r in &ratios {
        let (ed, dec) = (r["encoder_decoder_cell"].as_str().unwrap(), r["decoder_only_cell"].as_str().unwrap());
        let cell = |id: &str| lines.iter().find(|c| c["cell_id"] == id).unwrap().clone();
        let (ced, cdec) = (cell(ed), cell(dec));
        assert_eq!(
            (ced["model"]["kind"].as_str(), cdec["model"]["kind"].as_str()),
            (Some("encoder-decoder"), Some("decoder-only"))
        );
        assert_eq!(ced["repetitions"]["interleaved_with"], dec);
        assert_eq!(cdec["repetitions"]["interleaved_with"], ed);
        assert_eq!(ced["repetitions"]["order"], "abba");
        assert_eq!(r["sweep"], ced["sweep"]);
        // Two blocks: the value is the ratio of the two cells' medians; too few for an interval.
        assert_eq!(r["blocks"], 2);
        let want = ced["metrics"]["ttft_ns"]["median"].as_f64().unwrap()
            / cdec["metrics"]["ttft_ns"]["median"].as_f64().unwrap();
        assert!((r["ttft"]["value"].as_f64().unwrap() - want).abs() < 1e-9, "{r}");
        assert!(r["ttft"]["low"].is_null(), "{r}");
    }
    let mut ids = std::collections::HashSet::new();
    for c in &lines {
        assert_eq!(c["schema_version"], 4);
        assert_eq!(c["model"]["content_sha256"].as_str().unwrap().len(), 64);
        assert!(ids.insert(c["cell_id"].as_str().unwrap().to_string()), "cell ids are unique");
        assert_eq!(c["model"]["pair"], "tiny");
        assert_eq!(c["settings"]["ep_requested"], "cpu");
        assert_eq!(c["settings"]["ep_used"], "cpu");
        let b = c["sweep"]["batch"].as_u64().unwrap() as usize;
        let toks = c["output_token_ids"].as_array().unwrap();
        assert_eq!(toks.len(), b);
        assert!(toks.iter().all(|r| r.as_array().unwrap().len() == 4));
        let m = &c["metrics"];
        assert!(m["ttft_ns"]["median"].as_f64().unwrap() > 0.0);
        assert!(m["harness_overhead_ratio"].as_f64().unwrap() >= 0.0);
        assert_eq!(c["samples"]["itl_ns"][0].as_array().unwrap().len(), 3);
        assert_eq!(c["context"]["ort_version"], "1.31.1");
        let enc = c["model"]["kind"] == "encoder-decoder";
        assert_eq!(m["encoder_ns"].is_object(), enc);
        assert_eq!(c["model"]["params"], if enc { 361664 } else { 361536 });
    }
    // Each model's session is loaded once: the load time is shared by its cells.
    let loads: std::collections::HashSet<u64> =
        lines.iter().map(|c| c["metrics"]["session_load_ns"].as_u64().unwrap()).collect();
    assert_eq!(loads.len(), 2);

    // --order sequential: today's behaviour, each model's cell on its own, no ratio record.
    let seq = dir.path().join("out/sequential.jsonl");
    common::cmd()
        .args([
            "run",
            "--model",
            pair.to_str().unwrap(),
            "-p",
            "8",
            "-n",
            "4",
            "--order",
            "sequential",
            "--no-report",
            "-o",
        ])
        .arg(&seq)
        .args(common::QUICK)
        .assert()
        .success();
    let text = std::fs::read_to_string(&seq).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(!text.contains("pair-ratio") && !text.contains("interleaved_with"), "{text}");

    // By default (--reloads 3) the blocks spread over three loads of both models (four blocks
    // each), the interval drawn load by load; with --order sequential there are none to spread.
    let reloaded = dir.path().join("reloaded.jsonl");
    let p = pair.to_str().unwrap();
    common::cmd()
        .args(["run", "--model", p, "-p", "8", "-n", "4", "-r", "12", "--min-repetitions", "12"])
        .args(["--warmup", "1", "--no-report", "--no-roofline", "--no-accuracy", "-o"])
        .arg(&reloaded)
        .assert()
        .success();
    let text = std::fs::read_to_string(&reloaded).unwrap();
    let ratio: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["record"] == "pair-ratio")
        .unwrap();
    assert_eq!((ratio["loads"].as_u64(), ratio["blocks"].as_u64()), (Some(3), Some(12)), "{ratio}");
    assert_eq!(ratio["method"], "load-block-bootstrap");
    assert!(ratio["decode_tokens_per_s"]["low"].as_f64().is_some(), "{ratio}");
    let refused = common::cmd()
        .args(["run", "--model", p, "--reloads", "2", "--order", "sequential", "-o"])
        .arg(dir.path().join("never.jsonl"))
        .assert()
        .code(2);
    assert!(
        String::from_utf8_lossy(&refused.get_output().stderr).contains("--order sequential measures each model alone")
    );
}

#[test]
fn run_output_formats() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    for ext in ["csv", "json", "md"] {
        let path = dir.path().join(format!("r.{ext}"));
        common::cmd()
            .args(["run", "--model", pair.join("decoder-only").to_str().unwrap(), "-p", "4", "-n", "3", "-o"])
            .arg(&path)
            .args(common::QUICK)
            .assert()
            .success();
        let text = std::fs::read_to_string(&path).unwrap();
        match ext {
            "csv" => assert!(text.starts_with("cell_id,model,") && text.lines().count() == 2, "{text}"),
            "json" => {
                assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap().as_array().unwrap().len(), 1)
            }
            _ => assert!(text.contains("| decoder-only |"), "{text}"),
        }
    }
    let out = common::cmd()
        .args(["run", "--model", pair.join("decoder-only").to_str().unwrap(), "-p", "4", "-n", "3", "-o", "-"])
        .args(common::QUICK)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(out).unwrap().starts_with("| model |"));
}

/// `slmbench generate -n 20` on `model` with `ids`, its JSON output.
fn generate_json(model: &std::path::Path, ids: &[String], extra: &[&str]) -> serde_json::Value {
    let out = common::cmd()
        .args(["generate", "--model", model.to_str().unwrap(), "-n", "20"])
        .args(extra)
        .arg("--prompt-ids")
        .arg(ids.join(","))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/tests/data/optimum").join(name)
}

#[test]
fn generate_reproduces_the_fixtures() {
    for (name, decoder) in [("llama-tiny", "auto"), ("t5-tiny", "merged"), ("t5-tiny", "split")] {
        let exp: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture(name).join("expected.json")).unwrap()).unwrap();
        let case = &exp["cases"][1];
        let ids: Vec<String> = case["prompt_ids"].as_array().unwrap().iter().map(|x| x.to_string()).collect();
        let v = generate_json(&fixture(name), &ids, &["--decoder", decoder]);
        assert_eq!(v["output_token_ids"], case["pytorch_tokens"], "{name} {decoder}");
    }
}

/// onnxruntime-genai builder exports (fp32 with fused operators, int4 with MatMulNBits) through
/// `generate` at batch 1 and 2 (the Generator's ids, and PyTorch's for fp32; the cache kept in one
/// shared buffer as their config asks) and through `run`,
/// whose results say what each model is.
#[test]
fn genai_exports_through_generate_and_run() {
    let genai =
        |name: &str| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/tests/data/genai").join(name);
    let dir = tempfile::tempdir().unwrap();
    for (name, precision) in [("llama-tiny-fp32", "fp32"), ("llama-tiny-int4", "int4")] {
        let exp: serde_json::Value =
            serde_json::from_slice(&std::fs::read(genai(name).join("expected.json")).unwrap()).unwrap();
        for case in exp["cases"].as_array().unwrap() {
            let ids: Vec<String> = case["prompt_ids"].as_array().unwrap().iter().map(|x| x.to_string()).collect();
            for batch in ["1", "2"] {
                let v = generate_json(&genai(name), &ids, &["-b", batch]);
                assert_eq!(v["layout"], "gen-ai");
                // The builder's config sets `past_present_share_buffer`: one cache buffer in place.
                assert_eq!(v["kv_cache"], "shared");
                let rows = if batch == "1" {
                    vec![v["output_token_ids"].clone()]
                } else {
                    v["output_token_ids"].as_array().unwrap().clone()
                };
                for row in rows {
                    assert_eq!(row, case["onnxruntime_genai_tokens"], "{name} batch {batch}");
                    if precision == "fp32" {
                        assert_eq!(row, case["pytorch_tokens"], "{name} batch {batch}");
                    }
                }
            }
        }
        let results = dir.path().join(format!("{name}.jsonl"));
        common::cmd()
            .args([
                "run",
                "--model",
                genai(name).to_str().unwrap(),
                "-p",
                "8,32",
                "-n",
                "8",
                "-b",
                "1,2",
                "--no-report",
                "-o",
            ])
            .arg(&results)
            .args(common::QUICK)
            .assert()
            .success();
        let recs: Vec<serde_json::Value> =
            std::fs::read_to_string(&results).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(recs.len(), 4);
        for r in &recs {
            assert_eq!(r["model"]["precision"], precision, "{}", r["model"]);
            let ops = r["model"]["fused_operators"].to_string();
            assert!(ops.contains("GroupQueryAttention") && ops.contains("SkipSimplifiedLayerNormalization"), "{ops}");
            assert_eq!(r["model"]["quantization"].is_string(), precision == "int4");
            assert_eq!(r["model"]["graph_variant"], "fused", "{}", r["model"]);
            assert!(r["metrics"]["ttft_ns"]["median"].as_f64().unwrap() > 0.0);
        }
    }
}

/// A tiny-pair run writes schema 3 with the backend, precision and graph variant read from the
/// model and the runtime. Observed placement is recorded for every cell; `--strict-placement` (no
/// CPU fallback) passes with the CPU provider and records every node on the CPU.
#[test]
fn placement_is_observed_and_strict_placement_passes_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    for strict in [false, true] {
        let results = dir.path().join(format!("p{strict}.jsonl"));
        common::cmd()
            .args(["run", "--model", pair.to_str().unwrap(), "-p", "8", "-n", "4", "--no-report", "-o"])
            .arg(&results)
            .args(common::QUICK)
            .args(if strict { &["--strict-placement"][..] } else { &[][..] })
            .assert()
            .success();
        let recs: Vec<serde_json::Value> = std::fs::read_to_string(&results)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["record"] != "pair-ratio")
            .collect();
        assert_eq!(recs.len(), 2);
        for r in &recs {
            assert_eq!(r["schema_version"], 4);
            assert_eq!(r["settings"]["backend"], "onnxruntime");
            assert_eq!(r["settings"]["backend_version"], r["context"]["ort_version"]);
            assert_eq!(r["model"]["precision"], "fp32");
            assert_eq!(r["model"]["graph_variant"], "plain");
            let p = &r["placement"];
            assert_eq!(p["main_provider"], "CPUExecutionProvider", "{p}");
            assert_eq!(p["cpu_node_share"], 1.0, "{p}");
            assert!(p["nodes_by_provider"]["CPUExecutionProvider"].as_u64().unwrap() > 10, "{p}");
            assert_eq!(r["settings"]["strict_placement"].as_bool().unwrap_or(false), strict);
        }
    }
}
