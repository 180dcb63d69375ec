//! Runtimes side by side: the same model at the same sweep point measured by several backends,
//! each against a reference backend (the default one, ONNX Runtime, when it is there, else the first one met).
//! The cells of different backends run one after the other, not interleaved, so a ratio's
//! interval is the conservative one from the two medians' intervals. (The report's section and
//! the Markdown table both show these rows.)

use std::collections::BTreeMap;

use crate::identity::{Identity, cell_name};
use crate::schema::CellResult;

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
    // Everything but the backend identifies a model at a point on one machine.
    let key = |c: &CellResult| {
        let id = Identity::of(c);
        (id.machine, id.model, id.variant, id.point)
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
        let reference =
            group.iter().find(|c| c.settings.backend == crate::schema::DEFAULT_BACKEND).copied().unwrap_or(group[0]);
        let mut members: Vec<&CellResult> = vec![reference];
        members.extend(group.iter().filter(|c| c.settings.backend != reference.settings.backend));
        for c in members {
            let (t, r) = (&c.metrics.ttft_ns, &reference.metrics.ttft_ns);
            rows.push(BackendRow {
                what: cell_name(c),
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

impl BackendRow {
    /// The TTFT column: `reference`, or the ratio with its interval.
    pub fn ttft_text(&self) -> String {
        match (self.backend == self.reference, self.ttft_ratio_ci) {
            (true, _) => "reference".to_string(),
            (false, Some((lo, hi))) => format!("{:.2}× ({lo:.2}–{hi:.2})", self.ttft_ratio),
            (false, None) => format!("{:.2}× (n too small)", self.ttft_ratio),
        }
    }

    /// The decode column: `reference`, the ratio, or `–` without decode steps.
    pub fn decode_text(&self) -> String {
        match (self.backend == self.reference, self.decode_ratio) {
            (true, _) => "reference".to_string(),
            (false, Some(d)) => format!("{d:.2}×"),
            (false, None) => "–".to_string(),
        }
    }
}
