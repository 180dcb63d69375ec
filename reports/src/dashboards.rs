//! Exports for existing dashboards: the Bencher Metric Format and github-action-benchmark's
//! `customSmallerIsBetter` / `customBiggerIsBetter` JSON. One entry per cell and metric, units named.

use serde_json::{Value, json};
use slmbench_results::metric::Metric;
use slmbench_results::schema::CellResult;
use slmbench_results::stats::Summary;

/// The benchmark name of a cell: `[<backend>/]<ep>/<model>/p<input>-n<output>/t<threads>/b<batch>`
/// (the backend when it is not ONNX Runtime, so names published before backends existed stay; the
/// ep with every session setting that is not the default, e.g. `cpu io-binding`). Together they
/// hold the cell's series key ([`slmbench_results::identity::SeriesKey`]).
pub fn name(c: &CellResult) -> String {
    let backend = if c.settings.backend == slmbench_results::schema::DEFAULT_BACKEND {
        String::new()
    } else {
        format!("{}/", c.settings.backend)
    };
    format!(
        "{backend}{}/{}/p{}-n{}/t{}/b{}",
        slmbench_results::identity::where_run(&c.settings),
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

/// The measure's name in Bencher Metric Format (its own `latency`-style names, kept stable).
fn bencher_name(m: Metric) -> &'static str {
    match m {
        Metric::E2eTokensPerS => "e2e-throughput",
        m => m.name(),
    }
}

/// The cells a dashboard can take: one machine's (a dashboard keeps one series per name, and
/// Bencher's testbed or the workflow's runner is the machine), each with a name of its own. The
/// error says what to change.
pub fn check_exportable(cells: &[CellResult]) -> Result<(), String> {
    let machines = slmbench_results::identity::machines(cells.iter().map(|c| &c.context));
    if machines.len() > 1 {
        return Err(format!(
            "the results hold {} machines ({}); a dashboard series is one machine's: export each machine's file on \
             its own (one Bencher testbed or benchmark workflow per machine)",
            machines.len(),
            machines.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("; ")
        ));
    }
    let mut seen: std::collections::HashMap<String, &CellResult> = std::collections::HashMap::new();
    for c in cells {
        if let Some(first) = seen.insert(name(c), c) {
            return Err(format!(
                "cells {} and {} would share the dashboard name {}; export them from separate files",
                first.cell_id,
                c.cell_id,
                name(c)
            ));
        }
    }
    Ok(())
}

pub fn bencher(cells: &[CellResult]) -> Value {
    let mut out = serde_json::Map::new();
    for c in cells {
        let mut m = serde_json::Map::new();
        for metric in Metric::HEADLINE {
            if let Some(s) = metric.summary(c) {
                m.insert(bencher_name(metric).into(), measure(&s));
            }
        }
        out.insert(name(c), Value::Object(m));
    }
    Value::Object(out)
}

/// The series' name in github-action-benchmark (kept as first published, so history continues).
fn gab_name(m: Metric) -> &'static str {
    match m {
        Metric::E2eTokensPerS => "e2e throughput",
        Metric::DecodeTokensPerS => "decode throughput",
        m => m.label(),
    }
}

/// github-action-benchmark: an array of `{name, unit, value, range, extra}`; latencies (ms) for
/// `customSmallerIsBetter`, tokens/s for `customBiggerIsBetter`.
pub fn github_action_benchmark(cells: &[CellResult], bigger_is_better: bool) -> Value {
    let mut out = vec![];
    let metrics: &[Metric] = if bigger_is_better {
        &[Metric::E2eTokensPerS, Metric::DecodeTokensPerS]
    } else {
        &[Metric::Ttft, Metric::Itl]
    };
    for c in cells {
        let extra = format!(
            "{} repetitions; {} {}; {}",
            c.repetitions.measured,
            c.settings.backend,
            c.settings.backend_version.as_deref().unwrap_or(&c.context.ort_version),
            c.context.cpu_model
        );
        for &m in metrics {
            let Some(s) = m.summary(c) else { continue };
            let k = m.scale();
            // No range where too few samples give no interval.
            let range = s.ci().map(|(lo, hi)| format!("{:.3}–{:.3}", lo * k, hi * k));
            out.push(entry(json!({
                "name": format!("{} {}", name(c), gab_name(m)),
                "unit": m.unit().name(),
                "value": s.median * k,
                "range": range,
                "extra": extra,
            })));
        }
    }
    Value::Array(out)
}
