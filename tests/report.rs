//! The HTML report in a real headless Chromium (Debian's `chromium`; `.ci/run` installs it):
//! no console errors, every chart drawn with a non-zero size, the headline ratio equal to the
//! one computed from the results, strings from results files (failed cells' errors too) shown as
//! text; and a screenshot. With `--history`, the trend charts of a history holding the published
//! results and two fresh runs.

mod common;

use std::path::Path;

use common::browser::{browser, console_errors, probe_json};

use slmbench_history::History;

/// Loads `page` with a probe appended: the DOM after it ran, and Chromium's log.
fn probe(page: &Path) -> (String, String) {
    let html = std::fs::read_to_string(page).unwrap();
    let script = r#"<script>
(() => {
  const out = {
    charts: [...document.querySelectorAll('figure.chart svg')].map(s => { const r = s.getBoundingClientRect(); return [s.closest('figure').id, r.width, r.height]; }),
    headlines: [...document.querySelectorAll('p.headline')].map(p => ({ pair: p.dataset.pair, ttft: parseFloat(p.dataset.ttftRatio), text: p.querySelector('.ttft-text').textContent, method: p.querySelector('.method').textContent })),
    paired: [...document.querySelectorAll('#paired-ratios tbody tr')].map(r => parseFloat(r.dataset.ttftRatio)),
    scripts: document.scripts.length,
    models: [...document.querySelectorAll('#models td:first-child')].map(t => t.textContent),
    env: document.querySelector('#environment').textContent,
    placement: [...document.querySelectorAll('#placement-table tbody tr')].map(r => ({ whole: r.dataset.whole, text: r.textContent })),
    trends: [...document.querySelectorAll('#history figure.chart svg')].map(s => { const r = s.getBoundingClientRect(); return [s.closest('figure').id, r.width, r.height]; }),
    trendRows: [...document.querySelectorAll('#trend-table tbody tr')].map(r => parseInt(r.dataset.runs)),
    history: (document.querySelector('#history p') || {}).textContent,
    failed: [...document.querySelectorAll('#failed-cells tbody tr')].map(r => ({ error: r.lastElementChild.textContent, height: r.getBoundingClientRect().height })),
  };
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>"#;
    let probed = page.with_file_name("probed.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{script}</body>"))).unwrap();
    let out = browser(&["--dump-dom"], &probed);
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn median_ttft(cells: &[serde_json::Value], kind: &str, p: u64, n: u64) -> f64 {
    cells
        .iter()
        .find(|c| {
            c["model"]["kind"] == kind
                && c["sweep"]["input_tokens"] == p
                && c["sweep"]["output_tokens"] == n
                && c["sweep"]["batch"] == 1
        })
        .unwrap()["metrics"]["ttft_ns"]["median"]
        .as_f64()
        .unwrap()
}

/// A quick measured run of the tiny pair (one thread, no warm-up) writing `results`.
fn run_tiny(dir: &Path, args: &[&str], results: &Path) {
    common::cmd()
        .env("SLMBENCH_CACHE_DIR", dir.join("cache"))
        .args(["run", "--preset", "tiny", "-t", "1", "--warmup", "0"])
        .args(args)
        .arg("-o")
        .arg(results)
        .assert()
        .success();
}

#[test]
fn report_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("run/results.jsonl");
    // 10 blocks: the fewest with a paired 95% interval of the ratio, so the headline can conclude.
    run_tiny(dir.path(), &["-p", "8,32", "-n", "4,8", "-r", "10", "--min-repetitions", "10"], &results);
    let page = dir.path().join("run/results.jsonl.report/index.html");
    assert!(page.is_file(), "run writes the report beside its results");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let out =
        browser(&[&format!("--screenshot={}", shot.display()), "--window-size=1100,2400", "--hide-scrollbars"], &page);
    assert!(shot.is_file() && std::fs::metadata(&shot).unwrap().len() > 10_000, "screenshot");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(console_errors(&log).is_empty(), "console errors: {:?}", console_errors(&log));

    let (dom, log) = probe(&page);
    assert!(console_errors(&log).is_empty(), "console errors: {:?}", console_errors(&log));
    let v = probe_json(&dom);
    let charts = v["charts"].as_array().unwrap();
    assert!(charts.len() >= 7, "{charts:?}");
    for c in charts {
        assert!(c[1].as_f64().unwrap() > 100.0 && c[2].as_f64().unwrap() > 50.0, "chart drawn too small: {c}");
    }
    // The headline: TTFT ratio at the longest input and output, computed again from the results.
    let cells: Vec<serde_json::Value> =
        std::fs::read_to_string(&results).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let want = median_ttft(&cells, "encoder-decoder", 32, 8) / median_ttft(&cells, "decoder-only", 32, 8);
    let h = &v["headlines"][0];
    assert_eq!(h["pair"], "tiny");
    assert!((h["ttft"].as_f64().unwrap() - want).abs() < 1e-5, "{h} vs {want}");
    let text = h["text"].as_str().unwrap();
    let pct = if want < 1.0 { (1.0 - want) * 100.0 } else { (want - 1.0) * 100.0 };
    let word = if want < 1.0 { "sooner" } else { "later" };
    // "sooner"/"later" only when the interval excludes 1; otherwise it says so.
    let concluded = text.contains(&format!("{pct:.0}% {word} at 32 input tokens"));
    assert!(concluded || text.starts_with("no significant difference"), "{text} (ratio {want})");
    // Measured side by side, and said so; every point's paired ratio in the summary's table.
    assert!(h["method"].as_str().unwrap().contains("measured side by side: 10 blocks"), "{h}");
    let paired = v["paired"].as_array().unwrap();
    assert_eq!(paired.len(), 4, "{paired:?}");
    assert!(paired.iter().any(|r| (r.as_f64().unwrap() - want).abs() < 1e-5), "{paired:?} vs {want}");
    assert_eq!(v["scripts"], 1, "the report itself has no script");
    // Placement: both models ran whole on the CPU provider they asked for.
    let placement = v["placement"].as_array().unwrap();
    assert_eq!(placement.len(), 2, "{placement:?}");
    for p in placement {
        assert_eq!(p["whole"], "true", "{p}");
        assert!(p["text"].as_str().unwrap().contains("CPUExecutionProvider: 100%"), "{p}");
    }
}

#[test]
fn strings_from_results_are_shown_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.jsonl");
    run_tiny(dir.path(), &["-p", "8", "-n", "3", "-r", "1", "--no-report"], &results);
    let evil = "<script>alert(\"x\")</script>'\"&<b>";
    let mut lines = vec![];
    for l in std::fs::read_to_string(&results).unwrap().lines() {
        let mut c: serde_json::Value = serde_json::from_str(l).unwrap();
        if c["record"] == "pair-ratio" {
            c["pair"] = evil.into();
            lines.push(c.to_string());
            continue;
        }
        c["model"]["name"] = format!("{evil}{}", c["model"]["kind"].as_str().unwrap()).into();
        c["model"]["pair"] = evil.into();
        c["context"]["cpu_model"] = evil.into();
        c["context"]["command"] = evil.into();
        lines.push(c.to_string());
    }
    // A failed cell whose error carries the same hostile text: listed, visible, and inert.
    let mut f: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    f["cell_id"] = "ffffffffffffffff".into();
    f["status"] = "failed".into();
    f["failure"] = "model".into();
    f["error"] = evil.into();
    lines.push(f.to_string());
    std::fs::write(&results, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("report");
    common::cmd().arg("report").arg(&results).arg("-o").arg(&out).assert().success();
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(!html.contains("<script>"), "raw script tag in the report");
    let (dom, log) = probe(&out.join("index.html"));
    assert!(console_errors(&log).is_empty(), "{:?}", console_errors(&log));
    let v = probe_json(&dom);
    assert_eq!(v["scripts"], 1, "only the probe runs");
    assert!(v["models"].as_array().unwrap().iter().any(|m| m.as_str().unwrap().starts_with(evil)), "{}", v["models"]);
    assert!(v["env"].as_str().unwrap().contains(evil));
    assert_eq!(v["headlines"][0]["pair"], evil);
    let failed = v["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["error"], evil);
    assert!(failed[0]["height"].as_f64().unwrap() > 5.0, "failed cell drawn: {failed:?}");
}

#[test]
fn history_trends_render_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("history.sqlite");
    // Every published results file, then two fresh runs that add themselves as they measure.
    let published = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/published");
    let mut files = vec![];
    for folder in std::fs::read_dir(&published).unwrap() {
        for f in std::fs::read_dir(folder.unwrap().path()).into_iter().flatten() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "jsonl") {
                files.push(f);
            }
        }
    }
    assert!(files.len() >= 10, "{files:?}");
    common::cmd().args(["history", "add", "--db"]).arg(&db).args(&files).assert().success();
    let sweep = ["-p", "8", "-n", "4", "-r", "6", "--min-repetitions", "6", "--history"];
    for i in 1..=2 {
        run_tiny(d, &[&sweep[..], &[db.to_str().unwrap()]].concat(), &d.join(format!("r{i}.jsonl")));
    }
    // The run's own report has the section too.
    let own = std::fs::read_to_string(d.join("r2.jsonl.report/index.html")).unwrap();
    assert!(own.contains("<section id=\"history\">") && own.contains("chart-trend_ttft_"));
    let out = d.join("report");
    // The fresh run's cells, and one run of the published interleaving study (its `small` p128
    // cells were measured in many published runs of that machine; `default/` is measured again
    // on whatever host the last regeneration had, so it is not the reference here).
    let default = published.join("interleaving/small-interleaved-1.jsonl");
    common::cmd()
        .arg("report")
        .arg(d.join("r2.jsonl"))
        .arg(&default)
        .arg("--history")
        .arg(&db)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let page = out.join("index.html");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("history.png");
    let out =
        browser(&[&format!("--screenshot={}", shot.display()), "--window-size=1100,3000", "--hide-scrollbars"], &page);
    assert!(shot.is_file(), "screenshot");
    assert!(console_errors(&String::from_utf8_lossy(&out.stderr)).is_empty());
    let (dom, log) = probe(&page);
    assert!(console_errors(&log).is_empty(), "console errors: {:?}", console_errors(&log));
    let v = probe_json(&dom);
    // TTFT and ITL of the fresh pair (two runs each) and of the study's p128 cells (measured in
    // 10 published interleaving runs, and in the published `predict` runs).
    let trends = v["trends"].as_array().unwrap();
    assert!(trends.len() >= 8, "{trends:?}");
    for t in trends {
        assert!(t[0].as_str().unwrap().starts_with("chart-trend_"), "{t}");
        assert!(t[1].as_f64().unwrap() > 100.0 && t[2].as_f64().unwrap() > 50.0, "trend drawn too small: {t}");
    }
    let mut runs: Vec<i64> = v["trendRows"].as_array().unwrap().iter().map(|r| r.as_i64().unwrap()).collect();
    runs.sort();
    assert_eq!(runs[..4], [2, 2, 2, 2], "{runs:?}");
    assert!(runs.iter().filter(|&&r| r >= 11).count() >= 4, "{runs:?}");
    // The published runs are in the history the section names.
    let runs = History::open(&db).unwrap().runs().unwrap().len();
    assert!(runs >= files.len() / 2 + 2, "{runs} runs from {} files", files.len());
    assert!(v["history"].as_str().unwrap().contains(&format!("{runs} runs")), "{}", v["history"]);
}
