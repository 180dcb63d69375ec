//! The `slmbench` binary end to end: one integration-test binary, a section per command.

use assert_cmd::Command;
use predicates::prelude::*;

fn slmbench() -> Command {
    Command::cargo_bin("slmbench").unwrap()
}

// ---- models list / describe --------------------------------------------------------------------

#[test]
fn list_prints_every_preset_with_counts() {
    let out = slmbench().args(["models", "list"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    for (name, params) in [("tiny", "361664"), ("small", "28271232"), ("paper", "331816960"), ("1b", "983751168")] {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in\n{text}"));
        assert!(line.contains(params), "{line}");
    }
}

#[test]
fn describe_paper_reports_matched_counts() {
    let out =
        slmbench().args(["models", "describe", "--preset", "paper"]).assert().success().get_output().stdout.clone();
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
    slmbench()
        .args(["models", "build", "--preset", "tiny", "--seed", "3", "--split-decoder", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("encoder-decoder 361664 parameters"));
    assert!(out.join("encoder-decoder/decoder_with_past_model.onnx").is_file());
    let desc = slmbench().args(["models", "describe"]).arg(&out).assert().success().get_output().stdout.clone();
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
    slmbench().args(["models", "build", "--config"]).arg(&cfg).arg("--out").arg(&out).assert().success();
    let pair: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("pair.json")).unwrap()).unwrap();
    assert_eq!(pair["name"], "mine");
    assert_eq!(pair["encoder_decoder"]["config"]["positions"]["theta"], 500.0);
}

// ---- bad input: one clear line, exit code 2, no panic ---------------------------------------

fn fails_with(args: &[&str], needle: &str) {
    let assert = slmbench().args(args).assert().code(2);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains(needle), "stderr lacks {needle:?}:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    fails_with(
        &["models", "build", "--preset", "huge", "--out", d],
        "unknown preset `huge`; known presets: tiny, small, paper, 1b",
    );
    fails_with(&["models", "build", "--config", &format!("{d}/none.toml"), "--out", d], "none.toml");
    let bad = format!("{d}/bad.toml");
    std::fs::write(&bad, "kind = \"encoder-decoder\"\nd_model = 64\nnum_heads = 4\nnum_kv_heads = 3\nd_ff = 8\nffn = \"gelu\"\npositions = { kind = \"none\" }\nencoder_layers = 1\ndecoder_layers = 1\nvocab_size = 64\ntie_embeddings = true\nmax_positions = 8\n").unwrap();
    fails_with(&["models", "build", "--config", &bad, "--out", d], "invalid config field `num_kv_heads`");
    let file = format!("{d}/afile");
    std::fs::write(&file, "x").unwrap();
    fails_with(&["models", "build", "--preset", "tiny", "--out", &file], "is not a directory");
    fails_with(&["models", "describe", d], "neither pair.json nor manifest.json");
    fails_with(&["models", "build", "--out", d], "--preset");
    fails_with(&["models", "build", "--preset", "tiny", "--seed", "minus-one", "--out", d], "invalid value");
}

// ---- doctor and ONNX Runtime resolution --------------------------------------------------------

/// The binary with a private, empty cache and no ORT_DYLIB_PATH.
fn fresh(cache: &std::path::Path) -> Command {
    let mut c = slmbench();
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
    slmbench()
        .env("ORT_DYLIB_PATH", &missing)
        .arg("doctor")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ORT_DYLIB_PATH is set to").and(predicate::str::contains("nope.so")));

    let not_a_lib = cache.path().join("fake.so");
    std::fs::write(&not_a_lib, "not a library").unwrap();
    slmbench().env("ORT_DYLIB_PATH", &not_a_lib).arg("doctor").assert().code(2).stderr(
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
