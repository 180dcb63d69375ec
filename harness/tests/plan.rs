//! The sweep's cells come from a pure function of the plan: walked here without any model file or
//! runtime.

use slmbench_harness::backend::Tuning;
use slmbench_harness::entry::ModelEntry;
use slmbench_harness::files::layout::DecoderChoice;
use slmbench_harness::onnxruntime::OnnxRuntime;
use slmbench_harness::plan::RunPlan;
use slmbench_results::ep::Ep;
use slmbench_results::model::{Layout, ModelKind, OptLevel};
use slmbench_results::schema::ModelInfo;

fn info(name: &str, sha: &str) -> ModelInfo {
    ModelInfo {
        name: name.into(),
        dir: format!("/nowhere/{name}"),
        kind: ModelKind::DecoderOnly,
        layout: Layout::DecoderOnly,
        params: None,
        bytes_on_disk: 0,
        pair: None,
        content_sha256: Some(sha.into()),
        precision: Some("fp32".into()),
        quantization: None,
        fused_operators: vec![],
        graph_variant: Some("plain".into()),
        accuracy: None,
        past_present_share_buffer: false,
        max_positions: None,
    }
}

fn plan(shard: Option<(usize, usize)>) -> RunPlan {
    let entry = |n: &str| ModelEntry { dir: format!("/nowhere/{n}").into(), name: n.into(), pair: None };
    RunPlan {
        backends: vec!["onnxruntime".into()],
        models: vec![entry("a"), entry("b")],
        eps: vec![Ep::Cpu, Ep::Cuda],
        threads: vec![1, 2],
        batches: vec![1, 4],
        input_tokens: vec![8, 16, 32],
        output_tokens: vec![4, 8],
        prompt_ids: None,
        seed: 7,
        stop_at_eos: false,
        tuning: Tuning { opt_level: OptLevel::All, ..Tuning::default() },
        reloads: 1,
        decoder: DecoderChoice::Auto,
        policy: Default::default(),
        output: "unused.jsonl".into(),
        overwrite: false,
        command: String::new(),
        shard,
        resume: None,
        retry_failed: false,
        force: false,
        roofline: false,
        accuracy: false,
        order: Default::default(),
        device_name: None,
        allow_unmatched: false,
        scenario: None,
    }
}

/// The two models of a pair are measured side by side at each of their shared settings; models
/// of other pairs, or of no pair, are not.
#[test]
fn a_pairs_blocks_are_partners_at_the_same_settings() {
    let mut p = plan(None);
    let entry = |n: &str, pair: Option<&str>| ModelEntry {
        dir: format!("/nowhere/{n}").into(),
        name: n.into(),
        pair: pair.map(String::from),
    };
    p.models = vec![entry("x/ed", Some("x")), entry("x/do", Some("x")), entry("y/do", Some("y")), entry("z", None)];
    let mut infos = [info("x/ed", "1"), info("x/do", "2"), info("y/do", "3"), info("z", "4")];
    infos[0].kind = ModelKind::EncoderDecoder;
    let blocks = p.blocks(&OnnxRuntime, "1.31.1", &infos).unwrap();
    let partners = slmbench_harness::plan::partners(&blocks, &p.models, &infos);
    for (i, b) in blocks.iter().enumerate() {
        match partners[i] {
            Some(j) => {
                let o = &blocks[j];
                assert_eq!(partners[j], Some(i));
                assert_eq!(o.requested, b.requested);
                assert_eq!([b.model.min(o.model), b.model.max(o.model)], [0, 1]);
            }
            None => assert!(b.model >= 2, "model {} has no partner", b.model),
        }
    }
    // A different precision is never a partner.
    infos[1].precision = Some("int4".into());
    assert!(slmbench_harness::plan::partners(&blocks, &p.models, &infos).iter().all(Option::is_none));
}

#[test]
fn every_cell_once_in_sweep_order_grouped_by_session() {
    let infos = [info("a", "aa"), info("b", "bb")];
    let blocks = plan(None).blocks(&OnnxRuntime, "1.31.1", &infos).unwrap();
    // One block per model × provider × threads; in each, batch × input × output cells.
    assert_eq!(blocks.len(), 2 * 2 * 2);
    assert!(blocks.iter().all(|b| b.cells.len() == 2 * 3 * 2));
    let (b0, c0) = (&blocks[0], &blocks[0].cells[0]);
    assert_eq!((b0.model, b0.requested.ep_requested, b0.requested.threads), (0, Ep::Cpu, 1));
    assert_eq!((c0.sweep.batch, c0.sweep.input_tokens, c0.sweep.output_tokens), (1, 8, 4));
    assert_eq!(c0.sweep.prompt_seed, Some(7));
    assert_eq!(b0.requested.backend, "onnxruntime");
    assert_eq!(b0.requested.backend_version.as_deref(), Some("1.31.1"));
    let last = blocks.last().unwrap();
    assert_eq!((last.model, last.requested.ep_requested, last.requested.threads), (1, Ep::Cuda, 2));
    let ids: std::collections::HashSet<&str> = blocks.iter().flat_map(|b| &b.cells).map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 96, "ids are distinct");
    // Pure: the same plan gives the same cells and ids; another runtime version, other ids.
    assert_eq!(plan(None).blocks(&OnnxRuntime, "1.31.1", &infos).unwrap(), blocks);
    let other = plan(None).blocks(&OnnxRuntime, "1.32.0", &infos).unwrap();
    assert!(other[0].cells.iter().all(|c| !ids.contains(c.id.as_str())));
}

#[test]
fn shards_partition_the_sweep() {
    let infos = [info("a", "aa"), info("b", "bb")];
    let all: Vec<String> =
        plan(None).blocks(&OnnxRuntime, "1", &infos).unwrap().into_iter().flat_map(|b| b.cells).map(|c| c.id).collect();
    let mut joined: Vec<String> = (1..=3)
        .flat_map(|i| plan(Some((i, 3))).blocks(&OnnxRuntime, "1", &infos).unwrap())
        .flat_map(|b| b.cells)
        .map(|c| c.id)
        .collect();
    assert_eq!(joined.len(), all.len());
    joined.sort();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(joined, sorted);
}

#[test]
fn the_same_model_twice_is_refused() {
    let infos = [info("a", "same"), info("b", "same")];
    let e = plan(None).blocks(&OnnxRuntime, "1", &infos).unwrap_err().to_string();
    assert!(e.contains("a and b are the same model"), "{e}");
}
