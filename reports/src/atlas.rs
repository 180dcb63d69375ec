//! The atlas: checked bundles of many devices set side by side, never pooled. One row per
//! device × provider × backend × threads × variant × sweep point, from each bundle's own pair-ratio
//! records; forest plots of the ratios with their paired intervals against the paper's figures;
//! each device's environment; and the bundles that failed `check`, apart, with their reasons.

use std::path::PathBuf;

use slmbench_results::identity::Machine;
use slmbench_results::paired::RatioEstimate;
use slmbench_results::schema::{CellResult, Record};

use crate::bundle::{Bundle, Verdict};
use crate::charts::forest::{self, ForestRow};
use crate::charts::ratio::{PAPER_THROUGHPUT_RATIO, PAPER_TTFT_RATIO};
use crate::html::markup::{esc, figure};

/// A bundle with its verdict.
pub struct Entry {
    pub path: PathBuf,
    pub bundle: Bundle,
    pub verdict: Verdict,
}

/// One pair cell of one passing bundle.
#[derive(Debug, Clone)]
pub struct Row {
    pub bundle: String,
    pub scenario: String,
    pub device: String,
    pub provider: String,
    pub backend: String,
    pub threads: usize,
    pub variant: String,
    pub pair: String,
    pub input: usize,
    pub output: usize,
    pub batch: usize,
    pub blocks: usize,
    pub ttft: RatioEstimate,
    pub decode: Option<RatioEstimate>,
    pub e2e: Option<RatioEstimate>,
    /// Medians: TTFT ms and decode tokens/s, encoder-decoder then decoder-only.
    pub ttft_ms: (f64, f64),
    pub decode_tps: (Option<f64>, Option<f64>),
    /// One row's key/value caches at the cell's context, bytes (computed).
    pub cache_bytes: (Option<u64>, Option<u64>),
    /// Shares of the host's measured memory bandwidth while decoding.
    pub bandwidth_share: (Option<f64>, Option<f64>),
}

impl Row {
    /// What and where, as one label: pair, device, provider, backend, threads, variant.
    pub fn setting(&self) -> String {
        let device = self.device.split(" / ").next().unwrap_or(&self.device);
        format!("{} · {device} · {} {} t{} · {}", self.pair, self.provider, self.backend, self.threads, self.variant)
    }
}

/// The records of a bundle's lines (a line that does not read is skipped: `check` reports it).
fn records(b: &Bundle) -> Vec<Record> {
    b.records
        .iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.line).ok())
        .filter_map(|v| Record::from_value(v).ok())
        .collect()
}

/// The rows of the bundles that passed, in the order given.
pub fn rows(entries: &[Entry]) -> Vec<Row> {
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.verdict.passed()) {
        let kept = slmbench_results::schema::latest_per_cell(records(&e.bundle));
        let cell = |id: &str| kept.cells.iter().find(|c| c.cell_id == id);
        for r in &kept.ratios {
            let (Some(ed), Some(dec)) = (cell(&r.encoder_decoder_cell), cell(&r.decoder_only_cell)) else { continue };
            let per_row = |c: &CellResult| c.memory.as_ref().map(|m| m.total_bytes() / m.batch.max(1));
            let share = |c: &CellResult| c.roofline.as_ref().and_then(|x| x.decode_bandwidth_share);
            out.push(Row {
                bundle: e.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                scenario: e.bundle.scenario.name.clone(),
                device: Machine::of(&ed.context).to_string(),
                provider: ed.settings.ep_used.to_string(),
                backend: ed.settings.backend.clone(),
                threads: ed.settings.threads,
                variant: format!(
                    "{} {}",
                    ed.model.precision.as_deref().unwrap_or("?"),
                    ed.model.graph_variant.as_deref().unwrap_or("?")
                ),
                pair: r.pair.clone(),
                input: r.sweep.input_tokens,
                output: r.sweep.output_tokens,
                batch: r.sweep.batch,
                blocks: r.blocks,
                ttft: r.ttft,
                decode: r.decode_tokens_per_s,
                e2e: r.e2e_tokens_per_s,
                ttft_ms: (ed.metrics.ttft_ns.median / 1e6, dec.metrics.ttft_ns.median / 1e6),
                decode_tps: (ed.metrics.decode_tokens_per_s, dec.metrics.decode_tokens_per_s),
                cache_bytes: (per_row(ed), per_row(dec)),
                bandwidth_share: (share(ed), share(dec)),
            });
        }
    }
    out
}

/// Each bundle's headline row per pair and setting: its scenario's longest input and output
/// (batch 1 first). Two bundles of one setting stay two rows.
fn headlines(rows: &[Row]) -> Vec<&Row> {
    let mut keys: Vec<(&str, &str, String)> = Vec::new();
    for r in rows {
        let k = (r.bundle.as_str(), r.pair.as_str(), r.setting());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.iter()
        .filter_map(|(b, p, k)| {
            rows.iter()
                .filter(|r| r.bundle == *b && r.pair == *p && &r.setting() == k)
                .max_by_key(|r| (r.batch == 1, r.input, r.output))
        })
        .collect()
}

/// A headline's label in the forest: its setting, and its bundle when another bundle has the
/// same setting.
fn forest_label(heads: &[&Row], r: &Row) -> String {
    let same = heads.iter().filter(|h| h.setting() == r.setting()).count();
    if same > 1 { format!("{} · {}", r.setting(), r.bundle.trim_end_matches(".bundle.json")) } else { r.setting() }
}

fn ratio_cell(r: Option<&RatioEstimate>, blocks: usize) -> String {
    r.map_or("–".into(), |r| slmbench_results::export::markdown::ratio_text(r, blocks))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.0}%", v * 100.0))
}

fn mb(v: Option<u64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1}", v as f64 / 1e6))
}

const HEADER: [&str; 17] = [
    "device",
    "provider",
    "backend",
    "t",
    "variant",
    "scenario",
    "in",
    "out",
    "b",
    "blocks",
    "ED/DO TTFT (lower = ED sooner)",
    "ED/DO decode tok/s (higher = ED faster)",
    "ED/DO e2e tok/s (higher = ED faster)",
    "TTFT ms ED / DO",
    "decode tok/s ED / DO",
    "caches MB per row ED / DO",
    "decode bandwidth share ED / DO",
];

fn cells_of(r: &Row) -> [String; 17] {
    [
        r.device.clone(),
        r.provider.clone(),
        r.backend.clone(),
        r.threads.to_string(),
        r.variant.clone(),
        r.scenario.clone(),
        r.input.to_string(),
        r.output.to_string(),
        r.batch.to_string(),
        r.blocks.to_string(),
        ratio_cell(Some(&r.ttft), r.blocks),
        ratio_cell(r.decode.as_ref(), r.blocks),
        ratio_cell(r.e2e.as_ref(), r.blocks),
        format!("{:.1} / {:.1}", r.ttft_ms.0, r.ttft_ms.1),
        format!("{} / {}", opt(r.decode_tps.0, 1), opt(r.decode_tps.1, 1)),
        format!("{} / {}", mb(r.cache_bytes.0), mb(r.cache_bytes.1)),
        format!("{} / {}", pct(r.bandwidth_share.0), pct(r.bandwidth_share.1)),
    ]
}

/// The atlas as Markdown: every row, then the bundles that failed.
pub fn markdown(entries: &[Entry], rows: &[Row]) -> String {
    let mut s = String::from("# slmbench atlas\n\nEvery row is one device's own measurement; nothing is pooled.\n\n");
    s.push_str(&format!("| {} |\n|{}\n", HEADER.join(" | "), " --- |".repeat(HEADER.len())));
    for r in rows {
        s.push_str(&format!("| {} |\n", cells_of(r).join(" | ")));
    }
    for e in entries.iter().filter(|e| !e.verdict.passed()) {
        s.push_str(&format!("\nFailed `check`, left out: {} — {}\n", e.path.display(), e.verdict.failures.join("; ")));
    }
    s
}

/// The atlas as CSV, one row per pair cell.
pub fn csv(rows: &[Row]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(HEADER);
    for r in rows {
        let _ = w.write_record(cells_of(r));
    }
    w.into_inner().unwrap_or_default()
}

/// The self-contained page (inline CSS and SVG, no script).
pub fn html(entries: &[Entry], rows: &[Row]) -> Result<String, crate::ReportError> {
    let heads = headlines(rows);
    let forest_rows = |f: &dyn Fn(&Row) -> Option<RatioEstimate>| -> Vec<ForestRow> {
        heads
            .iter()
            .filter_map(|r| f(r).map(|ratio| ForestRow { label: forest_label(&heads, r), ratio, blocks: r.blocks }))
            .collect()
    };
    let at = |what: &str| {
        format!(
            "{what}, each device and configuration at its scenario's longest input and output, with the paired 95% interval of its own interleaved blocks."
        )
    };
    let charts = [
        forest::chart(
            "forest_ttft",
            "ED/DO time to first token (lower = ED sooner)",
            at("Encoder-decoder / decoder-only TTFT"),
            &forest_rows(&|r| Some(r.ttft)),
            (PAPER_TTFT_RATIO, "paper: 0.53× (47% lower)"),
        )?,
        forest::chart(
            "forest_decode",
            "ED/DO decode tokens/s (higher = ED faster)",
            at("Encoder-decoder / decoder-only decode throughput"),
            &forest_rows(&|r| r.decode),
            (PAPER_THROUGHPUT_RATIO, "paper: 4.7×"),
        )?,
        forest::chart(
            "forest_e2e",
            "ED/DO end-to-end tokens/s (higher = ED faster)",
            at("Encoder-decoder / decoder-only end-to-end throughput"),
            &forest_rows(&|r| r.e2e),
            (PAPER_THROUGHPUT_RATIO, "paper: 4.7×"),
        )?,
    ];
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>slmbench atlas</title>\n<style>",
    );
    h.push_str(crate::html::CSS);
    h.push_str("</style></head><body><main>\n<h1>slmbench atlas</h1>\n");
    let passed = entries.iter().filter(|e| e.verdict.passed()).count();
    h.push_str(&format!(
        "<p class=\"sub\">{passed} of {} bundles passed <code>check</code>; each row is one device's own interleaved measurement, never pooled across devices or settings.</p>\n",
        entries.len()
    ));
    h.push_str("<p class=\"claim\">The claim under test (2025 paper on encoder-decoder SLMs): 47% lower first-token latency and 4.7× higher throughput than a decoder-only model of the same size on edge devices, across GPU, CPU and NPU platforms.</p>\n");
    h.push_str("<section id=\"forest\"><h2>Ratios by device</h2>\n");
    for c in &charts {
        h.push_str(&figure(c, "chart"));
    }
    h.push_str("</section>\n<section id=\"rows\"><h2>Every cell</h2>\n<div class=\"scroll\"><table id=\"atlas-table\"><thead><tr>");
    for (i, head) in HEADER.iter().enumerate() {
        h.push_str(&format!("<th class=\"{}\">{}</th>", if i < 6 { "l" } else { "" }, esc(head)));
    }
    h.push_str("</tr></thead><tbody>\n");
    for r in rows {
        let ci = |e: Option<&RatioEstimate>| e.and_then(|e| e.ci()).map_or(String::new(), |(l, h)| format!("{l}:{h}"));
        h.push_str(&format!(
            "<tr data-bundle=\"{}\" data-device=\"{}\" data-setting=\"{}\" data-input=\"{}\" data-output=\"{}\" data-ttft=\"{}\" data-ttft-ci=\"{}\" data-decode-ci=\"{}\">",
            esc(&r.bundle),
            esc(&r.device),
            esc(&r.setting()),
            r.input,
            r.output,
            r.ttft.value,
            ci(Some(&r.ttft)),
            ci(r.decode.as_ref())
        ));
        for (i, c) in cells_of(r).iter().enumerate() {
            h.push_str(&format!("<td class=\"{}\">{}</td>", if i < 6 { "l" } else { "" }, esc(c)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div></section>\n");
    h.push_str(&environments(entries));
    h.push_str(&failed(entries));
    h.push_str("</main></body></html>\n");
    Ok(h)
}

/// Each passing bundle's device and build.
fn environments(entries: &[Entry]) -> String {
    let mut s = String::from(
        "<section id=\"environments\"><h2>Devices</h2>\n<table id=\"devices\"><thead><tr><th class=\"l\">bundle</th><th class=\"l\">device</th><th class=\"l\">runtime</th><th class=\"l\">slmbench</th><th class=\"l\">scenario</th><th class=\"l\">measured</th></tr></thead><tbody>\n",
    );
    for e in entries.iter().filter(|e| e.verdict.passed()) {
        let first = records(&e.bundle).into_iter().next();
        let ctx = first.as_ref().map(|r| r.context());
        s.push_str(&format!(
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{} ({}, {} build)</td><td class=\"l\">{} ({})</td><td class=\"l\">{}</td></tr>\n",
            esc(&e.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()),
            esc(&e.bundle.device),
            esc(&ctx.map(|c| format!("ONNX Runtime {}", c.ort_version)).unwrap_or_default()),
            esc(&e.bundle.suite_version),
            esc(e.bundle.suite_commit.get(..12).unwrap_or(&e.bundle.suite_commit)),
            esc(&e.bundle.build_profile),
            esc(&e.bundle.scenario.name),
            esc(e.bundle.scenario.sha256.get(..12).unwrap_or_default()),
            esc(&ctx.map(|c| c.time_rfc3339.clone()).unwrap_or_default())
        ));
    }
    s.push_str("</tbody></table></section>\n");
    s
}

/// The bundles that failed `check`, with every reason: shown apart, never in the rows above.
fn failed(entries: &[Entry]) -> String {
    let bad: Vec<&Entry> = entries.iter().filter(|e| !e.verdict.passed()).collect();
    if bad.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<section id=\"failed\"><h2>Bundles that failed check</h2>\n<p>Left out of every table and plot above.</p>\n",
    );
    for e in bad {
        s.push_str(&format!(
            "<div class=\"failed-bundle\" data-bundle=\"{}\"><h3>{}</h3><ul>",
            esc(&e.path.display().to_string()),
            esc(&e.path.display().to_string())
        ));
        for f in &e.verdict.failures {
            s.push_str(&format!("<li>{}</li>", esc(f)));
        }
        s.push_str("</ul></div>\n");
    }
    s.push_str("</section>\n");
    s
}
