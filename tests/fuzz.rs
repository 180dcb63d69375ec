//! Input hardening: property-based fuzzing of every parser that reads what a user or a crash
//! hands slmbench — sweep lists, architecture configs, results files, model directories and ONNX
//! graphs. Each target must return (no hang) without panicking, with an error that says what
//! is wrong, on arbitrary and on mutated-valid input.
//!
//! Each target runs for `SLMBENCH_FUZZ_SECS` seconds (default 4) or `SLMBENCH_FUZZ_CASES` inputs
//! (default 100 000), whichever comes first, so CI spends a fixed budget; a failure is shrunk by
//! proptest to a minimal input. Set the variables higher for a longer campaign.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use slmbench_harness::files::layout::{self, DecoderChoice};
use slmbench_harness::generation::Prompt;
use slmbench_harness::onnxruntime::session::{LoadedModel, SessionSettings};
use slmbench_harness::sweep;
use slmbench_models::Config;
use slmbench_results::schema::Record;

/// A call that takes this long is reported as a hang.
const HANG: Duration = Duration::from_secs(30);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs `f` on another thread; a panic there is re-raised here, and a call that does not
/// return within [`HANG`] fails the target as a hang.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(HANG) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => panic!("{what} did not return within {HANG:?}: a hang"),
    }
}

/// Feeds `strategy`'s inputs to `check` until the budget is spent; panics with the shrunk
/// failing input if one fails. Returns the number of inputs tried.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>) -> u64
where
    S::Value: std::fmt::Debug,
{
    let budget = Duration::from_secs(env_or("SLMBENCH_FUZZ_SECS", 4));
    let max = env_or("SLMBENCH_FUZZ_CASES", 100_000);
    let mut runner = TestRunner::new(RunnerConfig { failure_persistence: None, ..RunnerConfig::default() });
    let start = Instant::now();
    let mut tried = 0u64;
    while tried < max && start.elapsed() < budget {
        let tree = strategy.new_tree(&mut runner).expect("strategy makes a value");
        if let Err(e) = runner.run_one(tree, &check) {
            panic!("fuzz target {name} failed after {tried} inputs: {e}");
        }
        tried += 1;
    }
    eprintln!("fuzz {name}: {tried} inputs in {:.1} s, no failure", start.elapsed().as_secs_f64());
    tried
}

fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if ok { Ok(()) } else { Err(TestCaseError::fail(why())) }
}

// ---- sweep lists -----------------------------------------------------------------------------

/// List-like text: numbers (small, huge, overflowing), separators and range operators.
fn list_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        (0u64..20).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just(usize::MAX.to_string()),
        Just("18446744073709551616".to_string()),
        "[0-9]{1,25}",
        "[ ,*+x.-]{0,3}",
    ];
    prop_oneof![
        ".*",
        prop::collection::vec((atom, prop::sample::select(vec![",", "-", "*", "+", " ", ""])), 0..8)
            .prop_map(|parts| parts.into_iter().map(|(a, s)| format!("{a}{s}")).collect::<String>()),
    ]
}

#[test]
fn sweep_lists() {
    fuzz("sweep lists", list_text(), |text| {
        let t = text.clone();
        let parsed = within("parse_usize_list", move || sweep::parse_usize_list("-p", &t));
        match parsed {
            Ok(v) => {
                ensure(!v.is_empty() && v.len() <= sweep::MAX_VALUES, || format!("{text:?} gave {} values", v.len()))?;
                ensure(v.iter().all(|&x| x >= 1), || format!("{text:?} gave a zero"))?;
                let unique: std::collections::HashSet<_> = v.iter().collect();
                ensure(unique.len() == v.len(), || format!("{text:?} gave duplicates"))?;
            }
            Err(e) => ensure(e.to_string().starts_with("-p: "), || format!("{text:?}: error does not name -p: {e}"))?,
        }
        if let Err(e) = sweep::parse_list("--model", &text) {
            ensure(e.to_string().starts_with("--model: "), || format!("{e}"))?;
        }
        let _ = slmbench_harness::plan::parse_shard(&text);
        let _ = text.parse::<slmbench_results::ep::Ep>();
        let _ = text.parse::<slmbench_results::ep::EpOption>();
        Ok(())
    });
}

// ---- architecture configs --------------------------------------------------------------------

/// Size fields: ordinary, edge and overflowing values.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..2048,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => Just(1u64 << 32),
        1 => any::<u64>(),
    ]
}

fn config_toml() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["encoder-decoder", "decoder-only", "other"]),
        prop::collection::vec(size(), 9),
        prop::sample::select(vec!["gelu", "gated-gelu", "swiglu", "relu"]),
        prop_oneof![
            Just("{ kind = \"none\" }".to_string()),
            any::<f64>().prop_map(|t| format!("{{ kind = \"rope\", theta = {t:?} }}"))
        ],
        any::<bool>(),
        prop::collection::vec(prop::bool::weighted(0.1), 9),
    )
        .prop_map(|(kind, v, ffn, positions, tie, drop)| {
            let fields = [
                format!("d_model = {}", v[0]),
                format!("num_heads = {}", v[1] % 64),
                format!("num_kv_heads = {}", v[2] % 64),
                format!("d_ff = {}", v[3]),
                format!("encoder_layers = {}", v[4]),
                format!("decoder_layers = {}", v[5]),
                format!("vocab_size = {}", v[6]),
                format!("max_positions = {}", v[7]),
                format!("head_dim = {}", v[8] % 256),
            ];
            let mut text =
                format!("kind = \"{kind}\"\nffn = \"{ffn}\"\npositions = {positions}\ntie_embeddings = {tie}\n");
            for (f, d) in fields.iter().zip(drop) {
                if !d {
                    text.push_str(f);
                    text.push('\n');
                }
            }
            text
        })
}

#[test]
fn architecture_configs() {
    let input = prop_oneof![1 => ".*", 1 => "[a-z_ =\"{}\\[\\]0-9.\n-]{0,80}", 6 => config_toml()];
    fuzz("architecture configs", input, |text| {
        let t = text.clone();
        let (toml, json) = within("Config::from_toml", move || (Config::from_toml(&t), Config::from_json(&t)));
        for r in [&toml, &json] {
            if let Err(e) = r {
                ensure(!e.to_string().is_empty(), || format!("{text:?}: empty error"))?;
            }
        }
        if let Ok(cfg) = toml {
            // A valid config round-trips, and counting or pairing it neither panics nor hangs.
            let again = Config::from_toml(&cfg.to_toml());
            ensure(again.as_ref().ok() == Some(&cfg), || format!("{text:?} does not round-trip: {again:?}"))?;
            within("pairing", move || {
                let _ = slmbench_models::params::count(&cfg);
                let _ = slmbench_models::flops::flops(&cfg);
                if let Ok(p) = slmbench_models::Pair::from_encoder_decoder("fuzz", cfg) {
                    let _ = p.counts();
                }
            });
        }
        Ok(())
    });
}

// ---- results files ---------------------------------------------------------------------------

/// The `tiny` pair, built into `dir/tiny`.
fn tiny_pair(dir: &Path) -> PathBuf {
    let pair = dir.join("tiny");
    let tiny = slmbench_models::Pair::preset("tiny").unwrap();
    slmbench_models::build_pair(&tiny, &pair, &slmbench_models::BuildOptions::default()).unwrap();
    pair
}

/// Real records of a tiny sweep, measured and failed, as the bytes of a JSON Lines file.
fn real_results(dir: &Path) -> Vec<u8> {
    let pair = tiny_pair(dir);
    let out = dir.join("real.jsonl");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_slmbench"))
        .args(["run", "--model", pair.to_str().unwrap(), "--ep", "cpu,cuda", "-p", "4,8", "-n", "2", "-r", "1"])
        .args(["--warmup", "0", "-t", "1", "--no-report", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(3), "{}", String::from_utf8_lossy(&st.stderr));
    std::fs::read(out).unwrap()
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Replace(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(Mutation::Replace),
    ]
}

fn mutate(base: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = base.to_vec();
    match m {
        Mutation::Truncate(i) => b.truncate(i % (b.len() + 1)),
        Mutation::Flip(i, x) => {
            let i = i % b.len();
            b[i] ^= x.max(&1);
        }
        Mutation::Insert(i, bytes) => {
            let i = i % (b.len() + 1);
            b.splice(i..i, bytes.iter().copied());
        }
        Mutation::Replace(bytes) => b = bytes.clone(),
    }
    b
}

#[test]
fn results_readers() {
    let dir = tempfile::tempdir().unwrap();
    let real = real_results(dir.path());
    let originals = slmbench_results::schema::parse_jsonl(&real).unwrap().records;
    // 8 cells (the CUDA ones failed) and the CPU pair's 2 ratio records.
    assert_eq!(originals.len(), 10);
    let file = dir.path().join("fuzzed.jsonl");
    fuzz("results readers", mutation(), |m| {
        let bytes = mutate(&real, &m);
        let b = bytes.clone();
        let parsed = within("parse_jsonl", move || slmbench_results::schema::parse_jsonl(&b));
        if let (Mutation::Truncate(_), Ok(lines)) = (&m, &parsed) {
            // A crash can only cut the file: what survives is a prefix of what was written.
            let n = lines.records.len();
            ensure(lines.records.iter().zip(&originals).all(|(a, b)| a.1 == b.1), || "records changed".into())?;
            let complete = bytes.iter().filter(|&&c| c == b'\n').count();
            ensure(n == complete || n == complete + 1, || format!("{n} records from {complete} lines"))?;
            ensure(lines.torn.is_none() || n == complete, || "a torn line was also kept".into())?;
        }
        if let (Mutation::Truncate(_), Err(e)) = (&m, &parsed) {
            return Err(TestCaseError::fail(format!(
                "a cut file must read as its intact part plus a torn line: {e:?}"
            )));
        }
        std::fs::write(&file, &bytes).unwrap();
        let (f1, f2) = (file.clone(), file.display().to_string());
        within("read_all and resume", move || {
            if let Err(e) = slmbench_reports::read::read_all(std::slice::from_ref(&f1)) {
                assert!(e.to_string().contains("fuzzed.jsonl"), "error does not name the file: {e}");
            }
            // What `run --resume` reads through: the writer, which locks, parses and cuts a torn tail.
            if let Err(e) = slmbench_results::export::ResultsWriter::resume(&f2) {
                assert!(e.to_string().contains("fuzzed.jsonl"), "error does not name the file: {e}");
            }
        });
        Ok(())
    });
    // Sanity: the readers keep both kinds of records of the real file.
    let kinds: Vec<bool> = originals.iter().map(|(_, r)| matches!(r, Record::Failed(_))).collect();
    assert_eq!(kinds.iter().filter(|&&f| f).count(), 4);
}

// ---- model directories and ONNX graphs --------------------------------------------------------

const FILES: [&str; 8] = [
    "encoder_model.onnx",
    "decoder_model_merged.onnx",
    "decoder_model.onnx",
    "decoder_with_past_model.onnx",
    "model.onnx",
    "genai_config.json",
    "config.json",
    "notes.txt",
];

/// The input and output names a decoder graph may carry, so random graphs reach the geometry
/// checks rather than stopping at the first missing name.
fn io_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "input_ids",
            "attention_mask",
            "position_ids",
            "encoder_hidden_states",
            "encoder_attention_mask",
            "decoder_attention_mask",
            "use_cache_branch",
            "logits",
            "last_hidden_state",
        ])
        .prop_map(String::from),
        (
            0usize..3,
            prop::sample::select(vec!["key", "value", "decoder.key", "decoder.value", "encoder.key", "encoder.value"])
        )
            .prop_map(|(i, k)| format!("past_key_values.{i}.{k}")),
        (0usize..3, prop::sample::select(vec!["key", "value", "decoder.key", "encoder.value"]))
            .prop_map(|(i, k)| format!("present.{i}.{k}")),
        "[a-z_.0-9]{1,12}",
    ]
}

fn dims() -> impl Strategy<Value = Option<Vec<(i64, bool)>>> {
    prop::option::of(prop::collection::vec((prop_oneof![-2i64..9, Just(1i64 << 40)], prop::bool::weighted(0.3)), 0..5))
}

/// A graph of Identity nodes over inputs with random names, types and shapes: valid enough for
/// ONNX Runtime to load many of them, so that slmbench's own checks are what gets exercised.
fn onnx_graph(decoder_like: bool) -> impl Strategy<Value = Vec<u8>> {
    use slmbench_models::onnx::proto::{
        DataType, Dim, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, ValueInfoProto,
    };
    let io = (io_name(), prop::sample::select(vec![DataType::Float, DataType::Int64, DataType::Bool]), dims());
    let dtype = || prop::sample::select(vec![DataType::Float, DataType::Int64, DataType::Bool]);
    // Decoder-like graphs always declare the names a decoder with a cache has, with random
    // types and shapes, so the geometry checks behind them are reached.
    let required = if decoder_like {
        vec!["input_ids", "attention_mask", "past_key_values.0.key", "past_key_values.0.value"]
    } else {
        vec![]
    };
    let required = required.into_iter().map(|n| (Just(n.to_string()), dtype(), dims())).collect::<Vec<_>>();
    let logits =
        if decoder_like { vec![(Just("logits".to_string()), any::<prop::sample::Index>(), dims())] } else { vec![] };
    (
        required,
        prop::collection::vec(io, 1..8),
        logits,
        prop::collection::vec((io_name(), any::<prop::sample::Index>(), dims()), 1..8),
    )
        .prop_map(|(required, more, logits, more_out)| {
            let inputs: Vec<_> = required.into_iter().chain(more).collect();
            let outputs: Vec<_> = logits.into_iter().chain(more_out).collect();
            let shape = |d: Option<Vec<(i64, bool)>>| {
                d.map(|v| {
                    v.into_iter()
                        .enumerate()
                        .map(|(i, (x, sym))| if sym { Dim::Sym(format!("d{i}")) } else { Dim::Fixed(x) })
                        .collect()
                })
            };
            let mut seen = std::collections::HashSet::new();
            let inputs: Vec<_> = inputs.into_iter().filter(|(n, _, _)| seen.insert(n.clone())).collect();
            let mut graph = GraphProto::default();
            for (name, t, d) in &inputs {
                graph.input.push(ValueInfoProto::tensor(name, *t, shape(d.clone())));
            }
            for (name, from, d) in outputs {
                if !seen.insert(name.clone()) {
                    continue;
                }
                let (src, t, _) = from.get(&inputs);
                graph.node.push(NodeProto {
                    input: vec![src.clone()],
                    output: vec![name.clone()],
                    name: format!("n_{name}"),
                    op_type: "Identity".into(),
                    ..Default::default()
                });
                graph.output.push(ValueInfoProto::tensor(&name, *t, shape(d)));
            }
            let model = ModelProto {
                ir_version: 9,
                opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 18 }],
                graph: Some(graph),
                ..Default::default()
            };
            prost::Message::encode_to_vec(&model)
        })
}

#[derive(Debug, Clone)]
enum Content {
    Bytes(Vec<u8>),
    Graph(Vec<u8>),
    /// A real model file of the tiny pair, mutated.
    Real(usize, Mutation),
    Json(String),
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Content::Bytes),
        2 => onnx_graph(false).prop_map(Content::Graph),
        3 => onnx_graph(true).prop_map(Content::Graph),
        2 => (any::<usize>(), mutation()).prop_map(|(i, m)| Content::Real(i, m)),
        1 => r#"\{("[a-z_]{1,24}": ?(-?[0-9]{1,20}|"[a-z]*"|\[[0-9,]*\]|null|true), ?){0,4}\}"#.prop_map(Content::Json),
    ]
}

#[test]
fn model_directories_and_onnx_graphs() {
    let dir = tempfile::tempdir().unwrap();
    let pair = tiny_pair(dir.path());
    let real: Vec<Vec<u8>> =
        ["encoder-decoder/encoder_model.onnx", "encoder-decoder/decoder_model_merged.onnx", "decoder-only/model.onnx"]
            .iter()
            .map(|f| std::fs::read(pair.join(f)).unwrap())
            .collect();
    // ONNX Runtime is loaded once, outside the timed cases.
    slmbench_harness::onnxruntime::runtime::environment().unwrap();
    let case_dir = dir.path().join("case");
    // Half the directories hold one model.onnx, the layout most exports have.
    let files = prop_oneof![
        prop::collection::vec((prop::sample::select(FILES.to_vec()), content()), 0..5),
        content().prop_map(|c| vec![("model.onnx", c)]),
    ];
    let choice = prop::sample::select(vec![DecoderChoice::Auto, DecoderChoice::Merged, DecoderChoice::Split]);
    fuzz("model directories and ONNX graphs", (files, choice), |(files, choice)| {
        let _ = std::fs::remove_dir_all(&case_dir);
        std::fs::create_dir_all(&case_dir).unwrap();
        for (name, c) in &files {
            let bytes = match c {
                Content::Bytes(b) | Content::Graph(b) => b.clone(),
                Content::Real(i, m) => mutate(&real[i % real.len()], m),
                Content::Json(s) => s.clone().into_bytes(),
            };
            std::fs::write(case_dir.join(name), bytes).unwrap();
        }
        let d: PathBuf = case_dir.clone();
        within("detect, load and generate", move || {
            let detected = layout::detect_with(&d, choice);
            let _ = layout::read_config(&d);
            let _ = slmbench_results::identity::content_sha256(&d);
            if detected.is_err() {
                return;
            }
            DETECTED.fetch_add(1, Ordering::Relaxed);
            let settings = SessionSettings { threads: 1, ..SessionSettings::default() };
            let loaded = LoadedModel::load_with(&d, &settings, choice);
            if let Err(slmbench_harness::HarnessError::BadModel { reason, .. }) = &loaded
                && !reason.contains("not a valid ONNX")
            {
                // Loaded by ONNX Runtime, refused by slmbench's own input and cache checks.
                REFUSED.fetch_add(1, Ordering::Relaxed);
            }
            if let Ok(mut m) = loaded {
                LOADED.fetch_add(1, Ordering::Relaxed);
                let vocab = m.geometry.vocab_size.min(1000);
                if m.generate(&Prompt::synthetic(0, 1, 3, vocab.max(1)), 2, false).is_ok() {
                    GENERATED.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(())
    });
    eprintln!(
        "fuzz model directories: {} had a known layout, {} were refused by slmbench's graph checks, \
         {} loaded, {} generated",
        DETECTED.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
        LOADED.load(Ordering::Relaxed),
        GENERATED.load(Ordering::Relaxed)
    );
}

static DETECTED: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);
static LOADED: AtomicUsize = AtomicUsize::new(0);
static GENERATED: AtomicUsize = AtomicUsize::new(0);
