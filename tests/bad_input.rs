//! Bad input, end to end: one clear line naming what to fix, exit code 2, no panic, and a results
//! file already there left as it was.

mod common;

fn fails_with(args: &[&str], needle: &str) {
    let assert = common::cmd().args(args).assert().code(2);
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
    // --ep-context-cache needs a compiling provider and owns the ep.context_* entries.
    let run = ["run", "--preset", "tiny", "-p", "4", "-n", "2", "-o"];
    let out = format!("{d}/r.jsonl");
    let with = |extra: &[&'static str]| [&run[..], &[out.as_str()], extra].concat();
    fails_with(&with(&["--ep-context-cache"]), "the CPU provider compiles nothing to cache");
    fails_with(
        &with(&["--ep", "qnn", "--ep-context-cache", "--session-opt", "ep.context_file_path=x.onnx"]),
        "--ep-context-cache sets ep.context_file_path itself",
    );
}

// ---- run: bad input never touches results -------------------------------------------------------

/// Runs a bad command: exit 2, one `Error:` line, no panic, and `keep` untouched.
fn run_fails(args: &[&str], needle: &str, keep: &std::path::Path) {
    let before = std::fs::read(keep).unwrap();
    // --overwrite, so each case reaches its own check: even then, a run that fails keeps the file.
    let overwrite: &[&str] = if args.contains(&"--resume") { &[] } else { &["--overwrite"] };
    let out = common::cmd()
        .args(args)
        .arg("-o")
        .arg(keep)
        .args(overwrite)
        .args(common::QUICK)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:") || l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{stderr}");
    assert!(stderr.contains(needle), "stderr lacks {needle:?}:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(std::fs::read(keep).unwrap(), before, "results file changed by a failed run");
}

#[test]
fn run_rejects_bad_input_without_touching_results() {
    let dir = tempfile::tempdir().unwrap();
    let pair = common::tiny_pair(dir.path());
    let keep = dir.path().join("kept.jsonl");
    std::fs::write(&keep, "{\"earlier\": \"results\"}\n").unwrap();
    let d = |s: &str| dir.path().join(s).to_str().unwrap().to_string();
    let dec = pair.join("decoder-only");
    let dec = dec.to_str().unwrap();

    run_fails(&["run", "--model", &d("absent")], "does not exist", &keep);
    std::fs::create_dir(d("empty")).unwrap();
    std::fs::write(dir.path().join("empty/notes.txt"), "x").unwrap();
    run_fails(&["run", "--model", &d("empty")], "no known model layout", &keep);
    run_fails(&["run", "--model", &d("empty")], "found [notes.txt]", &keep);
    run_fails(&["run", "--model", dec, "-p", "250", "-n", "10"], "max_position_embeddings", &keep);
    run_fails(&["run", "--model", dec, "-n", "0"], "-n: `0` must be at least 1", &keep);
    run_fails(&["run", "--model", dec, "--ep", "gpu"], "unknown execution provider `gpu`", &keep);
    run_fails(&["run", "--model", dec, "--ep-opt", "cpu:arena=maybe"], "expected 1/0", &keep);
    run_fails(&["run", "--model", dec, "--resume", keep.to_str().unwrap()], "line 1 is not a slmbench record", &keep);
    run_fails(&["run", "--model", dec, "--resume", &d("other.jsonl")], "drop -o", &keep);
    run_fails(&["run", "--model", dec, "-p", "8-4"], "-p: `8-4` ends before it starts", &keep);
    run_fails(&["run", "--model", dec, "-p", "1,,2"], "-p: ", &keep);
    run_fails(&["run", "--model", dec, "-b", "x"], "-b: `x` is not a whole number", &keep);
    run_fails(&["run", "--model", dec, "--prompt-ids", "5,99999"], "outside", &keep);
    run_fails(&["run", "--model", dec, "--ep-opt", "cpu:threads=4"], "cpu accepts only arena", &keep);
    run_fails(&["run", "--preset", "nope"], "unknown preset `nope`", &keep);
    run_fails(&["run", "--model", dec, "--order", "abab"], "invalid value 'abab' for '--order <ORDER>'", &keep);
    run_fails(&["run", "--model", dec, "--backend", "onnxruntime,nope"], "invalid value 'nope' for '--backend", &keep);

    fails_with(&["generate", "--model", dec, "--prompt-ids", "1,2", "-n", "0"], "-n must be at least 1");
    fails_with(&["generate", "--model", dec, "--prompt-ids", "a,b"], "--prompt-ids");
    fails_with(&["generate", "--model", &d("absent"), "--prompt-ids", "1"], "does not exist");
}

/// Found by fuzzing: a decoder-only `model.onnx` that asks for an encoder's output
/// (`encoder_hidden_states`) has nothing to feed it from; it is refused by name, not a panic.
#[test]
fn a_decoder_only_graph_asking_for_an_encoder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pair = common::tiny_pair(dir.path());
    let bytes = std::fs::read(pair.join("decoder-only/model.onnx")).unwrap();
    // Same length, so the protobuf stays valid: the second layer's key input becomes the encoder's.
    let (from, to) = (b"past_key_values.1.key", b"encoder_hidden_states");
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    assert_ne!(out, bytes);
    let model = dir.path().join("odd");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("model.onnx"), out).unwrap();
    fails_with(
        &["generate", "--model", model.to_str().unwrap(), "--prompt-ids", "1,2,3", "-n", "2"],
        "input `encoder_hidden_states` is fed from an encoder, and this layout is decoder-only",
    );
}
