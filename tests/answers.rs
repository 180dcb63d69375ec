//! A short run says what it lacks for an answer: each ratio without an interval names the blocks
//! it had and the blocks it needs, the run warns before measuring, and a run with enough blocks
//! gets intervals. In the heat maps a ratio without an interval is grey, not coloured.

mod common;

/// `run` of the `tiny` pair at one point with `-r reps`, its stdout and stderr, and the report.
fn short_run(reps: &str) -> (String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let pair = common::tiny_pair(dir.path());
    let results = dir.path().join("r.jsonl");
    let args = ["run", "--model", pair.to_str().unwrap(), "-p", "8", "-n", "4", "-t", "1", "--warmup", "0"];
    let out = common::cmd()
        .args(args)
        .args(["-r", reps, "--min-repetitions", reps, "--max-time", "60", "-o"])
        .arg(&results)
        .assert()
        .success()
        .get_output()
        .clone();
    let html = std::fs::read_to_string(dir.path().join("r.jsonl.report/index.html")).unwrap();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap(), html)
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
