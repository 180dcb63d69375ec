//! Runtimes side by side: the same model at the same sweep point measured by several backends,
//! each against a reference backend (ONNX Runtime when it is there, else the first one met).
//! The cells of different backends run one after the other, not interleaved, so a ratio's
//! interval is the conservative one from the two medians' intervals.

use std::collections::BTreeMap;

use slmbench_results::schema::CellResult;

/// One model at one point on one backend, against the reference backend's cell.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendRow {
    /// Model and point, as the report names cells elsewhere.
    pub what: String,
    pub backend: String,
    pub reference: String,
    pub ttft_ms: f64,
    pub decode_tokens_per_s: Option<f64>,
    /// This backend's median TTFT over the reference's, with the conservative interval.
    pub ttft_ratio: f64,
    pub ttft_ratio_ci: Option<(f64, f64)>,
    /// This backend's decode throughput over the reference's.
    pub decode_ratio: Option<f64>,
}

/// Every model and point measured by more than one backend, a row per backend (the reference
/// first), in the order the cells came.
pub fn compare(cells: &[CellResult]) -> Vec<BackendRow> {
    // Everything but the backend identifies a model at a point.
    let key = |c: &CellResult| {
        (c.model.name.clone(), c.model.precision.clone(), c.model.graph_variant.clone(), crate::analysis::point(c))
    };
    let mut groups: BTreeMap<_, Vec<&CellResult>> = BTreeMap::new();
    let mut order = vec![];
    for c in cells {
        let k = key(c);
        if !groups.contains_key(&k) {
            order.push(k.clone());
        }
        groups.entry(k).or_default().push(c);
    }
    let mut rows = vec![];
    for k in order {
        let group = &groups[&k];
        if group.iter().all(|c| c.settings.backend == group[0].settings.backend) {
            continue;
        }
        let reference = group.iter().find(|c| c.settings.backend == "onnxruntime").copied().unwrap_or(group[0]);
        let mut members: Vec<&CellResult> = vec![reference];
        members.extend(group.iter().filter(|c| c.settings.backend != reference.settings.backend));
        for c in members {
            let (t, r) = (&c.metrics.ttft_ns, &reference.metrics.ttft_ns);
            rows.push(BackendRow {
                what: crate::analysis::cell_name(c),
                backend: c.settings.backend.clone(),
                reference: reference.settings.backend.clone(),
                ttft_ms: t.median / 1e6,
                decode_tokens_per_s: c.metrics.decode_tokens_per_s,
                ttft_ratio: t.median / r.median,
                ttft_ratio_ci: t.ci().zip(r.ci()).map(|((lo, hi), (rlo, rhi))| (lo / rhi, hi / rlo)),
                decode_ratio: c
                    .metrics
                    .decode_tokens_per_s
                    .zip(reference.metrics.decode_tokens_per_s)
                    .map(|(a, b)| a / b),
            });
        }
    }
    rows
}

/// The report's section: a table of [`compare`]'s rows; empty when no model ran on two backends.
pub fn section(cells: &[CellResult]) -> String {
    use crate::html::esc;
    let rows = compare(cells);
    if rows.is_empty() {
        return String::new();
    }
    let mut h = String::from(
        "<section id=\"backends\"><h2>Backends</h2>\n<p>The same model at the same point on each runtime, against \
         the reference runtime (measured one after the other, so each TTFT ratio's interval is the conservative one \
         from the two medians' intervals).</p>\n<table id=\"backend-table\"><thead><tr><th class=\"l\">cell</th>\
         <th class=\"l\">backend</th><th>TTFT ms</th><th>decode tok/s</th><th>TTFT vs reference</th>\
         <th>decode tok/s vs reference</th></tr></thead><tbody>\n",
    );
    for r in &rows {
        let same = r.backend == r.reference;
        let ttft = if same {
            "reference".to_string()
        } else {
            match r.ttft_ratio_ci {
                Some((lo, hi)) => format!("{:.2}× ({lo:.2}–{hi:.2})", r.ttft_ratio),
                None => format!("{:.2}× (n too small)", r.ttft_ratio),
            }
        };
        let decode = match (same, r.decode_ratio) {
            (true, _) => "reference".to_string(),
            (false, Some(d)) => format!("{d:.2}×"),
            (false, None) => "–".to_string(),
        };
        h.push_str(&format!(
            "<tr data-backend=\"{}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&r.backend),
            esc(&r.what),
            esc(&r.backend),
            r.ttft_ms,
            r.decode_tokens_per_s.map(|d| format!("{d:.1}")).unwrap_or_else(|| "–".into()),
            esc(&ttft),
            esc(&decode),
        ));
    }
    h.push_str("</tbody></table>\n</section>\n");
    h
}
