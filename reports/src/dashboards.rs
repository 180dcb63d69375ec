//! Exports for existing dashboards: the Bencher Metric Format and github-action-benchmark's
//! `customSmallerIsBetter` / `customBiggerIsBetter` JSON. One entry per cell and metric, units named.

use serde_json::{Value, json};
use slmbench_results::schema::CellResult;
use slmbench_results::stats::Summary;

use crate::analysis::e2e_summary;

/// The benchmark name of a cell: `<ep>/<model>/<input>x<output>/t<threads>/b<batch>`.
pub fn name(c: &CellResult) -> String {
    format!(
        "{}/{}/p{}-n{}/t{}/b{}",
        c.settings.ep_used,
        c.model.name,
        c.sweep.input_tokens,
        c.sweep.output_tokens,
        c.settings.threads,
        c.sweep.batch
    )
}

/// Bencher Metric Format: `{name: {measure: {value, lower_value, upper_value}}}`, with the 95% CI
/// of the median as bounds. Measures: `ttft` and `itl` in nanoseconds, `e2e-throughput` in tokens/s.
/// `{value, lower_value, upper_value}`; the bounds are left out when n is too small for an interval.
fn measure(s: &Summary) -> Value {
    match s.ci() {
        Some((lo, hi)) => json!({"value": s.median, "lower_value": lo, "upper_value": hi}),
        None => json!({"value": s.median}),
    }
}

/// Drops a `range` of null (no interval: n too small).
fn entry(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut()
        && o.get("range").is_some_and(Value::is_null)
    {
        o.remove("range");
    }
    v
}

pub fn bencher(cells: &[CellResult]) -> Value {
    let mut out = serde_json::Map::new();
    for c in cells {
        let mut m = serde_json::Map::new();
        let s = &c.metrics.ttft_ns;
        m.insert("ttft".into(), measure(s));
        if let Some(s) = &c.metrics.itl_ns {
            m.insert("itl".into(), measure(s));
        }
        if let Some(s) = e2e_summary(c) {
            m.insert("e2e-throughput".into(), measure(&s));
        }
        out.insert(name(c), Value::Object(m));
    }
    Value::Object(out)
}

/// github-action-benchmark: an array of `{name, unit, value, range, extra}`; latencies (ms) for
/// `customSmallerIsBetter`, tokens/s for `customBiggerIsBetter`.
pub fn github_action_benchmark(cells: &[CellResult], bigger_is_better: bool) -> Value {
    let mut out = vec![];
    for c in cells {
        let extra = format!(
            "{} repetitions; ONNX Runtime {}; {}",
            c.repetitions.measured, c.context.ort_version, c.context.cpu_model
        );
        // No range where too few samples give no interval.
        let range = |s: &Summary, scale: f64| s.ci().map(|(lo, hi)| format!("{:.3}–{:.3}", lo * scale, hi * scale));
        if bigger_is_better {
            if let Some(s) = e2e_summary(c) {
                out.push(entry(json!({"name": format!("{} e2e throughput", name(c)), "unit": "tokens/s", "value": s.median, "range": range(&s, 1.0), "extra": extra})));
            }
            if let Some(v) = c.metrics.decode_tokens_per_s {
                out.push(entry(json!({"name": format!("{} decode throughput", name(c)), "unit": "tokens/s", "value": v, "extra": extra})));
            }
        } else {
            let s = &c.metrics.ttft_ns;
            out.push(entry(json!({"name": format!("{} TTFT", name(c)), "unit": "ms", "value": s.median / 1e6, "range": range(s, 1e-6), "extra": extra})));
            if let Some(s) = &c.metrics.itl_ns {
                out.push(entry(json!({"name": format!("{} ITL", name(c)), "unit": "ms", "value": s.median / 1e6, "range": range(s, 1e-6), "extra": extra})));
            }
        }
    }
    Value::Array(out)
}
