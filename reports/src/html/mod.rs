//! The self-contained HTML report: inline SVG and CSS, no script, no network; every string that
//! comes from a results file is escaped.

use slmbench_results::schema::CellResult;

mod backends;
mod claims;
mod fit;
mod history;
pub mod markup;
mod memory;
mod pairs;
mod placement;

use self::markup::{esc, figure};
use crate::analysis::pairs::{self as analysis, Headline};
use crate::charts::Chart;
use crate::read::ResultSet;

pub(crate) const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1000px;margin:0 auto;padding:24px 20px 60px}
h1{font-size:1.7rem;margin:0 0 4px}h2{margin-top:2.2rem;border-bottom:2px solid #dde2e8;padding-bottom:4px}
.sub{color:#5b6672;margin:0 0 18px}
.headline{background:#fff;border-left:5px solid #1f77b4;padding:12px 16px;margin:10px 0;font-size:1.1rem;border-radius:4px}
.claim{color:#5b6672;font-size:.95rem}
figure{background:#fff;margin:18px 0;padding:12px;border-radius:6px;box-shadow:0 1px 3px #0001}
figure svg{width:100%;height:auto;display:block}
figcaption{color:#3c4650;font-size:.93rem;margin-top:6px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.85rem}
th,td{border:1px solid #dde2e8;padding:4px 6px;text-align:right}th{background:#eef1f4}
td.l,th.l{text-align:left}
dl{background:#fff;padding:12px 16px;border-radius:6px}dt{font-weight:600;margin-top:8px}dd{margin-left:16px}
pre{background:#1d232a;color:#e8edf2;padding:12px;border-radius:6px;overflow-x:auto;white-space:pre-wrap}
.warn{color:#a15c00}
.scroll{overflow-x:auto}
"#;

fn headline_html(h: &Headline) -> String {
    let mut s = format!(
        "<p class=\"headline\" data-pair=\"{}\" data-ttft-ratio=\"{:.6}\" data-ttft-ratio-low=\"{}\" data-ttft-ratio-high=\"{}\"",
        esc(&h.pair),
        h.ttft.value,
        h.ttft.low.map(|x| format!("{x:.6}")).unwrap_or_else(|| "n too small".into()),
        h.ttft.high.map(|x| format!("{x:.6}")).unwrap_or_else(|| "n too small".into())
    );
    if let Some(e) = &h.e2e {
        s.push_str(&format!(" data-e2e-ratio=\"{:.6}\"", e.value));
    }
    s.push_str(&format!(
        "><strong>{}</strong> ({}{}, {} threads, batch {}): <span class=\"ttft-text\">{}</span>",
        esc(&h.pair),
        h.machine.as_deref().map(|m| format!("on {}, ", esc(m))).unwrap_or_default(),
        esc(&h.point.ep),
        h.point.threads,
        h.point.batch,
        esc(&h.ttft_text)
    ));
    if let Some(t) = &h.e2e_text {
        s.push_str(&format!("; <span class=\"e2e-text\">{}</span>", esc(t)));
    }
    s.push_str(&format!(" <span class=\"method\">({})</span>", esc(&h.method_text)));
    s.push_str(".</p>\n");
    s
}

/// The HTML view of the one results table ([`slmbench_results::table::COLUMNS`]).
fn results_table(cells: &[CellResult]) -> String {
    use slmbench_results::table;
    let cols: Vec<_> = table::view_of(|c| c.html, cells).collect();
    let class = |text: bool| if text { " class=\"l\"" } else { "" };
    let mut s = String::from("<table id=\"results\"><thead><tr>");
    for (h, c) in &cols {
        s += &format!("<th{}>{}</th>", class(c.text), esc(h));
    }
    s += "</tr></thead><tbody>\n";
    for cell in cells {
        s += "<tr>";
        for (_, c) in &cols {
            s += &format!("<td{}>{}</td>", class(c.text), esc(&table::shown(c, cell)));
        }
        s += "</tr>\n";
    }
    s.push_str("</tbody></table>\n");
    s
}

fn models_table(cells: &[CellResult]) -> String {
    let mut seen = std::collections::BTreeMap::new();
    for c in cells {
        seen.entry(c.model.name.clone()).or_insert(&c.model);
    }
    let mut s = String::from(
        "<table id=\"models\"><thead><tr><th class=\"l\">model</th><th class=\"l\">pair</th><th class=\"l\">kind</th><th class=\"l\">layout</th><th>parameters</th><th>MB on disk</th><th class=\"l\">weights</th><th class=\"l\">fused operators</th></tr></thead><tbody>\n",
    );
    for m in seen.values() {
        let layout = serde_json::to_value(m.layout).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        s.push_str(&format!(
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{:.1}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>\n",
            esc(&m.name),
            esc(m.pair.as_deref().unwrap_or("–")),
            esc(m.kind.as_str()),
            esc(&layout),
            m.params.map(|p| format!("{:.1} M", p as f64 / 1e6)).unwrap_or_else(|| "–".into()),
            m.bytes_on_disk as f64 / 1e6,
            esc(&match (&m.precision, &m.quantization) {
                (Some(p), Some(q)) => format!("{p} ({q})"),
                (Some(p), None) => p.clone(),
                _ => "–".into(),
            }),
            esc(&if m.fused_operators.is_empty() { "none".to_string() } else { m.fused_operators.join(", ") })
        ));
    }
    s.push_str("</tbody></table>\n");
    s
}

/// Each variant's drift against its fp32 plain build (MLPerf's accuracy mode beside the timings).
fn accuracy_section(cells: &[CellResult]) -> String {
    let rows = slmbench_results::schema::measured_accuracy(cells);
    if rows.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<section id=\"accuracy\"><h2>Accuracy</h2>\n<p>Each variant against its fp32 plain build, both run over the same \
         teacher-forced tokens: the share of positions whose greedy token is the same, and the largest logit difference. \
         A fused graph computes the same function (differences are f32 rounding); a quantized one approximates it. \
         On slmbench's random weights the network is chaotic, so small weight errors move many top-1 tokens: judge a \
         quantization's quality on trained weights; here these figures show that each variant computes the model it claims to.</p>\n\
         <table id=\"accuracy-table\"><thead><tr><th class=\"l\">model</th><th class=\"l\">precision</th><th class=\"l\">graph</th>\
         <th class=\"l\">reference</th><th>positions</th><th>top-1 agreement</th><th>max |Δ logit|</th><th>max |Δ| / max |logit|</th></tr></thead><tbody>\n",
    );
    for (m, a) in rows {
        s.push_str(&format!(
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{:.1}%</td><td>{:.4}</td><td>{:.2}%</td></tr>\n",
            esc(&m.name),
            esc(m.precision.as_deref().unwrap_or("–")),
            esc(m.graph_variant.as_deref().unwrap_or("–")),
            esc(&a.reference),
            a.positions,
            a.top1_agreement * 100.0,
            a.max_abs_logit_diff,
            a.max_rel_logit_diff * 100.0
        ));
    }
    s.push_str("</tbody></table></section>\n");
    s
}

const DEFINITIONS: &str = r#"<dl>
<dt>TTFT (first-token latency)</dt><dd>From the start of inference to the first new token id in host memory; prompt ids are ready before the clock starts. Encoder-decoder: encoder pass + first decoder step (both reported). Decoder-only: the prefill over the whole prompt.</dd>
<dt>ITL (inter-token latency)</dt><dd>Time of each later token (2..N), from the previous token id in host memory to this one; raw samples kept.</dd>
<dt>Decode throughput</dt><dd>(N − 1) / Σ ITL, tokens/s per sequence (× batch for the batch figure).</dd>
<dt>End-to-end throughput</dt><dd>N / (TTFT + Σ ITL), tokens/s.</dd>
<dt>Prefill throughput</dt><dd>Prompt tokens / TTFT.</dd>
<dt>Median and 95% CI</dt><dd>Median over repetitions (ITL: over all later tokens), with a distribution-free interval from order statistics (exact binomial coverage of at least 95%); with fewer than 6 samples no such interval exists, nor a paired one for a pair measured interleaved over fewer than 10 blocks, and the report says “n too small” with the count it had and the count it needs, and draws no conclusion. A ratio of two medians gets the conservative interval [low₁/high₂, high₁/low₂]; “sooner”, “later”, “higher” or “lower” is said only when that whole interval lies on one side of 1.</dd>
<dt>Peak memory</dt><dd>The process's resident-set high-water mark, reset before each model's sessions load (Linux).</dd>
<dt>Harness overhead</dt><dd>Per decode step, time outside Session::run over time inside it.</dd>
</dl>"#;

/// The cells that produced no measurement, with the error each one recorded.
fn failed_table(failed: &[slmbench_results::schema::FailedCell]) -> String {
    let mut h = format!(
        "<h3 id=\"failed\">Failed cells ({})</h3>\n<p>These cells were attempted and recorded no measurement; \
         the rest of the sweep went on. <code>slmbench run … --resume FILE --retry-failed</code> measures them again.</p>\n\
         <div class=\"scroll\"><table id=\"failed-cells\"><thead><tr><th class=\"l\">model</th><th class=\"l\">ep</th>\
         <th>t</th><th>b</th><th>in</th><th>out</th><th class=\"l\">failure</th><th class=\"l\">error</th></tr></thead><tbody>\n",
        failed.len()
    );
    for f in failed {
        h.push_str(&format!(
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"l warn\">{}</td><td class=\"l\">{}</td></tr>\n",
            esc(&f.model.name),
            f.settings.ep_requested,
            f.settings.threads,
            f.sweep.batch,
            f.sweep.input_tokens,
            f.sweep.output_tokens,
            f.failure.name(),
            esc(&f.error)
        ));
    }
    h.push_str("</tbody></table></div>\n");
    h
}

/// What a report holds besides the charts of its cells.
#[derive(Default)]
pub struct Extras {
    /// Trend charts of `set.history`.
    pub trends: Vec<Chart>,
    /// Fitted curves, crossovers and the workload's predictions.
    pub decision: crate::analysis::forecast::Decision,
    pub fit_charts: Vec<Chart>,
}

/// The Environment section: each machine the results come from, with its runtime and build (a
/// report of several machines lists them all, and says how many cells each measured).
fn environment(set: &ResultSet) -> String {
    use slmbench_results::identity::Machine;
    let contexts: Vec<&slmbench_results::context::Context> =
        set.cells.iter().map(|c| &c.context).chain(set.failed.iter().map(|f| &f.context)).collect();
    let machines = slmbench_results::identity::machines(contexts.iter().copied());
    let mut h = String::from("<section id=\"environment\"><h2>Environment</h2>\n");
    if machines.len() > 1 {
        h.push_str(&format!(
            "<p class=\"warn machines\">These results come from {} machines. Cells of different machines are never \
             paired, pooled or fitted together; the tables name each cell's machine.</p>\n",
            machines.len()
        ));
    }
    for (i, m) in machines.iter().enumerate() {
        let Some(c) = contexts.iter().find(|c| &Machine::of(c) == m) else { continue };
        let cells = set.cells.iter().filter(|x| &Machine::of(&x.context) == m).count();
        if machines.len() > 1 {
            h.push_str(&format!("<h3 class=\"machine\">Machine {}: {} ({cells} cells)</h3>\n", i + 1, esc(&m.short())));
        }
        h.push_str("<table class=\"environment\"><tbody>\n");
        let rows = [
            ("device name", c.device_name.clone().unwrap_or_else(|| "–".into())),
            ("CPU", c.cpu_model.clone()),
            ("logical cores", c.cpu_logical_cores.to_string()),
            ("CPU MHz", c.cpu_mhz.map(|m| format!("{m:.0}")).unwrap_or_else(|| "–".into())),
            (
                "memory",
                c.memory_bytes
                    .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
                    .unwrap_or_else(|| "–".into()),
            ),
            ("OS / arch", format!("{} / {}", c.os, c.arch)),
            ("ONNX Runtime", format!("{} — {}", c.ort_version, c.ort_build_info)),
            ("slmbench", format!("{} ({}), {} build", c.suite_version, c.suite_commit, c.build_profile)),
            ("measured", c.time_rfc3339.clone()),
        ];
        for (k, v) in rows {
            h.push_str(&format!("<tr><th class=\"l\">{}</th><td class=\"l\">{}</td></tr>\n", esc(k), esc(&v)));
        }
        for w in &c.warnings {
            h.push_str(&format!("<tr><th class=\"l\">warning</th><td class=\"l warn\">{}</td></tr>\n", esc(w)));
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</section>\n");
    h
}

/// Each warning a cell carries (a provider that did not run its nodes, an unmatched pair), once
/// per text with the cells it concerns.
fn cell_warnings(cells: &[CellResult]) -> String {
    let mut by_text: Vec<(&str, Vec<String>)> = vec![];
    for c in cells {
        for w in &c.warnings {
            match by_text.iter_mut().find(|(t, _)| *t == w.as_str()) {
                Some((_, names)) => names.push(slmbench_results::identity::cell_name(c)),
                None => by_text.push((w, vec![slmbench_results::identity::cell_name(c)])),
            }
        }
    }
    by_text
        .iter()
        .map(|(w, names)| {
            format!(
                "<p class=\"warn cell-warning\"><strong>Warning:</strong> {} <span class=\"cells\">({} cell{}: {})</span></p>\n",
                esc(w),
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                esc(&names.join("; "))
            )
        })
        .collect()
}

/// Renders the report page.
pub fn render(set: &ResultSet, charts: &[Chart]) -> String {
    render_with(set, charts, &Extras::default())
}

/// As [`render`], with the history's trends and the cost curves.
pub fn render_with(set: &ResultSet, charts: &[Chart], extras: &Extras) -> String {
    let cells = &set.cells;
    let heads = analysis::headlines(cells, &set.ratios);
    let ctx = set.first_context();
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>slmbench report</title>\n<style>");
    h.push_str(CSS);
    h.push_str("</style></head><body><main>\n<h1>slmbench report</h1>\n");
    h.push_str(&format!(
        "<p class=\"sub\">Encoder-decoder vs decoder-only small language models on ONNX Runtime — {} cells{}{}</p>\n",
        cells.len(),
        if set.failed.is_empty() { String::new() } else { format!(", {} failed", set.failed.len()) },
        ctx.map(|c| format!(", measured {}", esc(&c.time_rfc3339))).unwrap_or_default()
    ));

    h.push_str("<section id=\"summary\"><h2>Summary</h2>\n");
    if heads.is_empty() {
        h.push_str("<p>No encoder-decoder / decoder-only pair in these results: run a pair (<code>--preset</code>, <code>--pair</code>) to compare them.</p>\n");
    }
    for hd in &heads {
        h.push_str(&headline_html(hd));
    }
    h.push_str("<p class=\"claim\">The claim under test (2025 paper on encoder-decoder SLMs): 47% lower first-token latency and 4.7× higher throughput than a decoder-only model of the same size on edge devices.</p>\n");
    if let Some(d) = cells.iter().find_map(|c| c.context.test_delay_us) {
        h.push_str(&format!(
            "<p class=\"warn test-hook\"><strong>Not measurements:</strong> a test hook (SLMBENCH_TEST_DELAY_US={d}) slowed every decode step by {d} µs on purpose in a debug build.</p>\n"
        ));
    }
    for w in &set.warnings {
        h.push_str(&format!("<p class=\"warn\">Note: {}</p>\n", esc(w)));
    }
    h.push_str(&cell_warnings(cells));
    h.push_str(&pairs::drift_warnings(cells, &set.ratios));
    h.push_str(&pairs::ratio_table(cells, &set.ratios));
    h.push_str("</section>\n");
    h.push_str(&claims::section(set));
    h.push_str(&backends::section(cells));

    h.push_str(&environment(set));

    h.push_str("<section id=\"models\"><h2>Models</h2>\n");
    h.push_str(&models_table(cells));
    h.push_str("</section>\n");
    h.push_str(&memory::section(cells));
    h.push_str(&accuracy_section(cells));
    h.push_str(&placement::section(cells));
    h.push_str("<section id=\"charts\"><h2>Charts</h2>\n");
    for c in charts {
        h.push_str(&figure(c, "chart"));
    }
    h.push_str("</section>\n");
    h.push_str(&fit::section(&extras.decision, &extras.fit_charts));
    h.push_str(&history::section(set.history.as_ref(), &extras.trends));
    h.push_str("<section id=\"results-section\"><h2>Results</h2>\n");
    h.push_str("<div class=\"scroll\">");
    h.push_str(&results_table(cells));
    h.push_str("</div>");
    if !set.failed.is_empty() {
        h.push_str(&failed_table(&set.failed));
    }
    h.push_str("</section>\n<section id=\"definitions\"><h2>Definitions</h2>\n");
    h.push_str(DEFINITIONS);
    h.push_str("</section>\n<section id=\"command\"><h2>Command</h2>\n");
    let mut cmds: Vec<&str> = cells
        .iter()
        .map(|c| c.context.command.as_str())
        .chain(set.failed.iter().map(|f| f.context.command.as_str()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    cmds.retain(|c| seen.insert(*c));
    for c in cmds {
        h.push_str(&format!("<pre>{}</pre>\n", esc(c)));
    }
    h.push_str("</section>\n</main></body></html>\n");
    h
}
