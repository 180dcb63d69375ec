//! A short run says what it lacks for an answer: each ratio without an interval names the blocks
//! it had and the blocks it needs, the run warns before measuring, and a run with enough blocks
//! gets intervals. In the heat maps a ratio without an interval is grey, not coloured. In
//! Chromium: the ratio against input length with the paper's reference lines, the Claims section,
//! a one-length sweep drawn as a dot plot, the grey cells of a short run, each model's own caches
//! and how they grow with context.

mod common;

/// `run` of the `tiny` pair at one point with `-r reps`, its stdout and stderr, and the report.
fn short_run(reps: &str) -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c, _) = run_in(&dir, reps, "8");
    (a, b, c)
}

/// As [`short_run`] in `dir` at input lengths `p`; the report's path last.
fn run_in(dir: &tempfile::TempDir, reps: &str, p: &str) -> (String, String, String, std::path::PathBuf) {
    let pair = common::tiny_pair(dir.path());
    let results = dir.path().join("r.jsonl");
    let args = ["run", "--model", pair.to_str().unwrap(), "-p", p, "-n", "4", "-t", "1", "--warmup", "0"];
    let out = common::cmd()
        .args(args)
        .args(["-r", reps, "--min-repetitions", reps, "--max-time", "60", "-o"])
        .arg(&results)
        .assert()
        .success()
        .get_output()
        .clone();
    let page = dir.path().join("r.jsonl.report/index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap(), html, page)
}

#[test]
fn a_pair_with_too_few_blocks_says_how_many_it_needs() {
    let (table, progress, html) = short_run("6");
    assert!(
        progress.contains("warning: -r 6: a pair measured interleaved needs at least 10 blocks"),
        "no warning before measuring:\n{progress}"
    );
    let row = table.lines().find(|l| l.starts_with("| tiny |")).unwrap_or_else(|| panic!("no ratio row:\n{table}"));
    assert!(row.contains("(n too small: 6 of 10 blocks)"), "{row}");
    // Which way each ratio favours the encoder-decoder, in the terminal's table and progress line.
    assert!(
        table.contains("| ED/DO TTFT (lower = ED sooner) | ED/DO decode tokens/s (higher = ED faster) |"),
        "{table}"
    );
    let line = progress.lines().find(|l| l.contains(" done in ")).unwrap_or_else(|| panic!("{progress}"));
    assert!(line.contains("— ED/DO TTFT ") && line.contains("(lower = ED sooner) over 6 blocks"), "{line}");
    assert!(html.contains(
        "n too small: 6 of 10 blocks for a 95% CI: a paired interval needs at least 10 blocks: run with -r 10 or more"
    ));
    assert!(!html.contains("measure at least 6 repetitions"), "the old advice, wrong for a pair");
    // The heat maps: a ratio without an interval is grey and says so, never green or red.
    for chart in ["ratio_ttft_tiny", "ratio_e2e_tiny"] {
        let svg = figure(&html, chart);
        assert!(svg.contains("n too small: 6 of 10 blocks"), "{chart}: no shortfall under the ratio");
        assert!(svg.contains("fill=\"#D6D9DE\""), "{chart}: the cell is not grey");
    }
}

/// The inline SVG of the report's chart `name` (its caption left out).
fn figure<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html.find(&format!("<figure id=\"chart-{name}\"")).unwrap_or_else(|| panic!("no chart {name}"));
    let figure = &html[start..start + html[start..].find("</figure>").unwrap()];
    &figure[..figure.find("<figcaption>").unwrap_or(figure.len())]
}

#[test]
fn a_pair_with_enough_blocks_gets_intervals() {
    let (table, progress, html) = short_run("10");
    assert!(!progress.contains("needs at least 10 blocks"), "{progress}");
    let row = table.lines().find(|l| l.starts_with("| tiny |")).unwrap_or_else(|| panic!("no ratio row:\n{table}"));
    assert!(!row.contains("n too small"), "{row}");
    for chart in ["ratio_ttft_tiny", "ratio_e2e_tiny"] {
        let svg = figure(&html, chart);
        assert!(
            !svg.contains("n too small") && !svg.contains("fill=\"#D6D9DE\""),
            "{chart}: an interval drawn as none"
        );
    }
}

/// What the probe reads of a rendered report: chart texts, heat-map fills, the Claims rows.
const PROBE: &str = r##"
const texts = id => [...document.querySelectorAll(`#chart-${id} svg text`)].map(t => t.textContent);
const size = id => { const s = document.querySelector(`#chart-${id} svg`); if (!s) return null; const r = s.getBoundingClientRect(); return [r.width, r.height]; };
out = {
  ratioTexts: texts('ratio_ttft_vs_input'), ratioSize: size('ratio_ttft_vs_input'),
  throughputTexts: texts('ratio_throughput_vs_output'),
  splitSize: size('ttft_split'),
  decodeTexts: texts('decode_tps_vs_output'),
  heatTexts: texts('ratio_ttft_tiny'),
  greyCells: document.querySelectorAll('#chart-ratio_ttft_tiny svg rect[fill="#D6D9DE"]').length,
  headline: parseFloat(document.querySelector('p.headline').dataset.ttftRatio),
  claims: [...document.querySelectorAll('#claims-table tbody tr')].map(r => ({ claim: r.dataset.claim, paper: parseFloat(r.dataset.paper), run: parseFloat(r.dataset.run), reading: r.dataset.reading, text: r.textContent, height: r.getBoundingClientRect().height })),
  conditions: (document.querySelector('#claims .paper-conditions') || {}).textContent,
  run: (document.querySelector('#claims .run-conditions') || {}).textContent,
  memory: [...document.querySelectorAll('#memory-table tbody tr')].map(r => ({ model: r.dataset.model, kind: r.dataset.kind, self: parseInt(r.dataset.selfBytes), cross: parseInt(r.dataset.crossBytes), text: r.textContent, height: r.getBoundingClientRect().height })),
  memoryPair: (document.querySelector('#memory .memory-pair') || {}).textContent,
  growthTexts: texts('cache_growth'), growthSize: size('cache_growth'),
};
"##;

#[test]
fn the_report_sets_the_run_beside_the_paper_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, _, page) = run_in(&dir, "10", "8,32");
    let v = common::browser::probe_with(&page, PROBE);
    let has = |key: &str, needle: &str| v[key].as_array().unwrap().iter().any(|t| t.as_str().unwrap().contains(needle));
    // The ratio against input length, drawn, with parity and the paper's figure as lines.
    assert!(v["ratioSize"][1].as_f64().unwrap() > 100.0, "{}", v["ratioSize"]);
    assert!(has("ratioTexts", "paper: 0.53× (47% lower)") && has("ratioTexts", "parity 1×"), "{}", v["ratioTexts"]);
    assert!(has("throughputTexts", "paper: 4.7×"), "{}", v["throughputTexts"]);
    assert!(v["splitSize"][1].as_f64().unwrap() > 100.0, "TTFT by part not drawn");
    // One output length: decode tokens/s is a dot plot of the two models, not a line.
    assert!(has("decodeTexts", "(at 4 output tokens)"), "{}", v["decodeTexts"]);
    assert!(has("decodeTexts", "tiny/encoder-decoder") && has("decodeTexts", "tiny/decoder-only"));
    // Claims: the paper's figures beside this run's, with a reading from the interval.
    let claims = v["claims"].as_array().unwrap();
    let ttft = claims.iter().find(|c| c["claim"] == "ttft").unwrap_or_else(|| panic!("{claims:?}"));
    assert_eq!(ttft["paper"], 0.53);
    assert!((ttft["run"].as_f64().unwrap() - v["headline"].as_f64().unwrap()).abs() < 1e-5, "{ttft} vs the headline");
    for c in claims {
        let reading = c["reading"].as_str().unwrap();
        assert!(
            ["agrees", "larger", "smaller", "no-difference", "opposite"].contains(&reading),
            "10 blocks give every ratio an interval: {c}"
        );
        assert!(c["height"].as_f64().unwrap() > 5.0, "{c}");
    }
    assert!(claims.iter().any(|c| c["claim"] == "decode" && c["paper"] == 4.7), "{claims:?}");
    assert!(v["conditions"].as_str().unwrap().contains("GPU, CPU and NPU"), "{}", v["conditions"]);
    let run = v["run"].as_str().unwrap();
    assert!(run.contains("32 input / 4 output tokens") && run.contains("cpu"), "{run}");
    assert_eq!(v["greyCells"], 0, "every ratio has an interval");
    // Memory: each model's own caches at the longest cell (32 + 4 tokens), from the preset's
    // shapes: decoder layers × 2 KV heads × 16 × 4 bytes, keys and values.
    let pair = slmbench_models::Pair::preset("tiny").unwrap();
    let per = |layers: usize| (2 * layers * 2 * 16 * 4) as i64;
    let rows = v["memory"].as_array().unwrap();
    let row = |kind: &str| rows.iter().find(|r| r["kind"] == kind).unwrap_or_else(|| panic!("no {kind} row: {rows:?}"));
    let (ed, dec) = (row("encoder-decoder"), row("decoder-only"));
    assert_eq!(ed["self"], per(pair.encoder_decoder.decoder_layers) * 4, "{ed}");
    assert_eq!(ed["cross"], per(pair.encoder_decoder.decoder_layers) * 32, "{ed}");
    assert_eq!(dec["self"], per(pair.decoder_only.decoder_layers) * 36, "{dec}");
    assert_eq!(dec["cross"], 0, "{dec}");
    for r in rows {
        let text = r["text"].as_str().unwrap();
        assert!(
            text.contains("prompt 32, output 4, batch 1") && text.contains("with its pair loaded (not its own)"),
            "{r}"
        );
        assert!(r["height"].as_f64().unwrap() > 5.0, "{r}");
    }
    assert!(
        v["memoryPair"].as_str().unwrap().contains("lower = the encoder-decoder holds less"),
        "{}",
        v["memoryPair"]
    );
    // How the caches grow with context, per family, drawn.
    assert!(v["growthSize"][1].as_f64().unwrap() > 100.0, "{}", v["growthSize"]);
    let has_growth =
        |needle: &str| v["growthTexts"].as_array().unwrap().iter().any(|t| t.as_str().unwrap().contains(needle));
    assert!(has_growth("(encoder-decoder)") && has_growth("(decoder-only)"), "{}", v["growthTexts"]);
}

#[test]
fn a_short_run_is_grey_and_inconclusive_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, _, page) = run_in(&dir, "6", "8");
    let v = common::browser::probe_with(&page, PROBE);
    assert_eq!(v["greyCells"], 1, "{v}");
    assert!(
        v["heatTexts"].as_array().unwrap().iter().any(|t| t.as_str().unwrap().contains("n too small: 6 of 10 blocks"))
    );
    let claims = v["claims"].as_array().unwrap();
    assert!(!claims.is_empty() && claims.iter().all(|c| c["reading"] == "no-conclusion"), "{claims:?}");
    let ttft = claims.iter().find(|c| c["claim"] == "ttft").unwrap();
    assert!(ttft["text"].as_str().unwrap().contains("run with -r 10 or more"), "{ttft}");
    // One input length: the ratio chart says what a point without an interval lacks.
    assert!(
        v["ratioTexts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().contains("(n too small: 6 of 10 blocks)")),
        "{}",
        v["ratioTexts"]
    );
}
