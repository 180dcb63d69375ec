//! `atlas`: the committed bundles (four configurations of one host: ONNX Runtime at 2 and 1
//! threads, candle, and `edge-v1`) and one edited bundle, in headless Chromium. Every
//! configuration is its own row, every row's ratio and interval are its bundle's pair-ratio
//! record's, the forest plots carry the paper's lines, and the failed bundle is shown apart.

mod common;

use std::path::{Path, PathBuf};

fn published() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/published/atlas");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bundle.json"))
        .collect();
    v.sort();
    v
}

/// The pair-ratio records of a bundle: (ED/DO TTFT value, low, high, input, output) each.
fn ratios(bundle: &Path) -> Vec<(f64, f64, f64, u64, u64)> {
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    b["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(r["line"].as_str().unwrap()).unwrap())
        .filter(|v| v["record"] == "pair-ratio")
        .map(|v| {
            let t = &v["ttft"];
            let n = |k: &str| v["sweep"][k].as_u64().unwrap();
            (
                t["value"].as_f64().unwrap(),
                t["low"].as_f64().unwrap(),
                t["high"].as_f64().unwrap(),
                n("input_tokens"),
                n("output_tokens"),
            )
        })
        .collect()
}

const PROBE: &str = r##"
out = {
  rows: [...document.querySelectorAll('#atlas-table tbody tr')].map(r => ({ bundle: r.dataset.bundle, setting: r.dataset.setting, input: +r.dataset.input, output: +r.dataset.output, ttft: +r.dataset.ttft, ci: r.dataset.ttftCi, height: r.getBoundingClientRect().height })),
  forest: [...document.querySelectorAll('#forest svg')].map(s => ({ w: s.getBoundingClientRect().width, texts: [...s.querySelectorAll('text')].map(t => t.textContent) })),
  failed: [...document.querySelectorAll('#failed .failed-bundle')].map(d => ({ bundle: d.dataset.bundle, text: d.textContent })),
  devices: document.querySelectorAll('#devices tbody tr').length,
};
"##;

#[test]
fn the_atlas_sets_bundles_apart_in_chromium() {
    let bundles = published();
    assert!(bundles.len() >= 3, "the published atlas has at least three bundles: {bundles:?}");
    let dir = tempfile::tempdir().unwrap();
    // One edited bundle: a number changed after bundling.
    let edited = dir.path().join("edited.bundle.json");
    let text = std::fs::read_to_string(&bundles[0]).unwrap();
    let mut b: serde_json::Value = serde_json::from_str(&text).unwrap();
    let line = b["records"][0]["line"].as_str().unwrap().replace("\"warmup\":", "\"warmup\": ");
    b["records"][0]["line"] = serde_json::json!(line);
    std::fs::write(&edited, serde_json::to_vec(&b).unwrap()).unwrap();
    let out = dir.path().join("atlas");
    common::cmd().arg("atlas").args(&bundles).arg(&edited).arg("-o").arg(&out).assert().success();
    for f in ["index.html", "atlas.md", "atlas.csv"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let v = common::browser::probe_with(&out.join("index.html"), PROBE);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained, no script"
    );
    let rows = v["rows"].as_array().unwrap();
    // Every pair-ratio record of every passing bundle is one row, with its own numbers.
    let mut expected = 0;
    for bundle in &bundles {
        let name = bundle.file_name().unwrap().to_str().unwrap();
        let mine: Vec<&serde_json::Value> = rows.iter().filter(|r| r["bundle"] == name).collect();
        let records = ratios(bundle);
        assert_eq!(mine.len(), records.len(), "{name}");
        expected += records.len();
        for (value, low, high, input, output) in records {
            let same = |r: &&&serde_json::Value| {
                let (l, h) = r["ci"].as_str().unwrap().split_once(':').unwrap();
                let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
                r["input"] == input
                    && r["output"] == output
                    && close(r["ttft"].as_f64().unwrap(), value)
                    && close(l.parse().unwrap(), low)
                    && close(h.parse().unwrap(), high)
            };
            let r = mine
                .iter()
                .find(same)
                .unwrap_or_else(|| panic!("{name}: no row with {value} ({low}–{high}) at {input}/{output}"));
            assert!(r["height"].as_f64().unwrap() > 5.0, "{r}");
        }
        // A bundle's rows are its own: no other bundle shares its setting at a point.
        let settings: std::collections::BTreeSet<&str> = mine.iter().map(|r| r["setting"].as_str().unwrap()).collect();
        for other in rows.iter().filter(|r| r["bundle"] != name) {
            assert!(!settings.contains(other["setting"].as_str().unwrap()), "{name} and {} pooled", other["bundle"]);
        }
    }
    assert_eq!(rows.len(), expected, "the edited bundle has no row");
    assert_eq!(v["devices"], bundles.len() as u64);
    // The forest plots: drawn, one label per configuration, the paper's lines.
    let forest = v["forest"].as_array().unwrap();
    assert_eq!(forest.len(), 3);
    let texts = |i: usize| {
        forest[i]["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().trim().to_string())
            .collect::<Vec<_>>()
    };
    assert!(texts(0).iter().any(|t| t == "paper: 0.53× (47% lower)") && texts(0).iter().any(|t| t == "parity 1×"));
    assert!(texts(1).iter().any(|t| t == "paper: 4.7×") && texts(2).iter().any(|t| t == "paper: 4.7×"));
    for f in forest {
        assert!(f["w"].as_f64().unwrap() > 300.0, "{f}");
    }
    // Each bundle's longest cell is drawn with its own record's ratio and interval.
    for bundle in &bundles {
        let (value, low, high, _, _) = ratios(bundle).into_iter().max_by_key(|r| (r.3, r.4)).unwrap();
        let drawn = format!("{value:.2}× ({low:.2}–{high:.2})");
        assert!(texts(0).contains(&drawn), "{}: {drawn} not in the TTFT forest: {:?}", bundle.display(), texts(0));
    }
    let labels = texts(0).into_iter().filter(|t| t.contains(" · ")).count();
    assert_eq!(labels, bundles.len() + 1, "one line per configuration (edge-v1 has two variants)");
    // The edited bundle, apart, with its reason.
    let failed = v["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["text"].as_str().unwrap().contains("its digest does not match its line"), "{failed:?}");

    // Two bundles of one device and setting (the same run, copied) stay two rows and two lines.
    let copy = dir.path().join("again.bundle.json");
    std::fs::copy(&bundles[0], &copy).unwrap();
    let twice = dir.path().join("twice");
    common::cmd().arg("atlas").arg(&bundles[0]).arg(&copy).arg("-o").arg(&twice).assert().success();
    let v = common::browser::probe_with(&twice.join("index.html"), PROBE);
    assert_eq!(v["rows"].as_array().unwrap().len(), 2 * ratios(&bundles[0]).len(), "nothing merged");
    let texts: Vec<String> =
        v["forest"][0]["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().trim().to_string()).collect();
    let stem = bundles[0].file_name().unwrap().to_str().unwrap().trim_end_matches(".bundle.json").to_string();
    assert!(
        texts.iter().any(|t| t.ends_with(&format!(" · {stem}"))) && texts.iter().any(|t| t.ends_with(" · again")),
        "{texts:?}"
    );
}
