//! Comparing two result sets cell by cell.
//!
//! Cells match on their series key ([`SeriesKey`]: model, backend, variant, provider and every
//! setting, threads, batch, input and output length), never on the machine: comparing two
//! machines' files is how devices are compared, and [`Comparison::machines`] says when they
//! differ (the change is then between devices, not a regression). For each metric
//! the change is current / base − 1, with the conservative interval from the two medians' 95%
//! intervals; the verdict is "faster" or "slower" only when that whole interval lies on one side
//! of no change, and "n too small" when either side has too few samples for an interval.

use serde::Serialize;
use slmbench_results::identity::{Identity, Point, SeriesKey, point_name};
use slmbench_results::metric::{Metric, Unit};
use slmbench_results::schema::CellResult;
use slmbench_results::stats::Summary;

use crate::analysis::pairs::{Ratio, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Faster,
    Slower,
    NoSignificantChange,
    /// Too few samples on a side for a 95% interval: no verdict.
    NTooSmall,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoSignificantChange => "no significant change",
            Verdict::NTooSmall => "n too small",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub model: String,
    pub point: Point,
    /// The metric's name with its unit (`ttft_ms`, `e2e_tokens_per_s`).
    pub metric: String,
    /// Unit of `base` and `current` (`ms`, `tokens/s`): the one the metric's name ends in.
    pub unit: Unit,
    pub base: f64,
    pub current: f64,
    /// current / base − 1, with its interval (null: n too small).
    pub change: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Debug, Default, Serialize)]
pub struct Comparison {
    pub changes: Vec<Change>,
    /// Ratios of pairs both runs measured interleaved ([`crate::analysis::ratio_change`]).
    pub ratios: Vec<crate::analysis::ratio_change::RatioChange>,
    pub only_in_base: Vec<String>,
    pub only_in_current: Vec<String>,
    /// Set when base and current were measured on different machines: what differs. Changes are
    /// then between devices, and nothing calls them regressions.
    pub machines: Option<MachineChange>,
}

/// Two machines set side by side by `compare`.
#[derive(Debug, Clone, Serialize)]
pub struct MachineChange {
    pub base: String,
    pub current: String,
    pub differences: Vec<String>,
}

fn key(c: &CellResult) -> SeriesKey {
    Identity::of(c).series_key()
}

/// The model's name, with the backend when it is not ONNX Runtime.
fn model_of(k: &SeriesKey) -> String {
    if k.backend == slmbench_results::schema::DEFAULT_BACKEND {
        k.model.clone()
    } else {
        format!("{} {}", k.model, k.backend)
    }
}

fn describe(k: &SeriesKey) -> String {
    point_name(&model_of(k), &k.point)
}

fn change(model: &str, p: &Point, metric: Metric, base: &Summary, cur: &Summary) -> Change {
    let lower_is_better = metric.lower_is_better();
    let r = Ratio::of(cur, base);
    let verdict = match r.side() {
        Side::Below if lower_is_better => Verdict::Faster,
        Side::Below => Verdict::Slower,
        Side::Above if lower_is_better => Verdict::Slower,
        Side::Above => Verdict::Faster,
        Side::Spans => Verdict::NoSignificantChange,
        Side::NTooSmall => Verdict::NTooSmall,
    };
    // Latencies are kept in ns and reported in ms, as their names say.
    let scale = metric.scale();
    Change {
        model: model.to_string(),
        point: p.clone(),
        metric: metric.name_with_unit(),
        unit: metric.unit(),
        base: base.median * scale,
        current: cur.median * scale,
        change: r.value - 1.0,
        low: r.low.map(|x| x - 1.0),
        high: r.high.map(|x| x - 1.0),
        verdict,
    }
}

pub fn compare(base: &[CellResult], current: &[CellResult]) -> Comparison {
    use slmbench_results::identity::{Machine, machines};
    let mut out = Comparison::default();
    let (mb, mc) = (machines(base.iter().map(|c| &c.context)), machines(current.iter().map(|c| &c.context)));
    if mb != mc {
        let names = |m: &[Machine]| m.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("; ");
        out.machines = Some(MachineChange {
            base: names(&mb),
            current: names(&mc),
            differences: match (mb.as_slice(), mc.as_slice()) {
                ([b], [c]) => c.differences(b),
                _ => vec!["the files hold different sets of machines".into()],
            },
        });
    }
    for b in base {
        let k = key(b);
        let Some(c) = current.iter().find(|c| key(c) == k) else {
            out.only_in_base.push(describe(&k));
            continue;
        };
        for m in Metric::HEADLINE {
            if let (Some(bs), Some(cs)) = (m.summary(b), m.summary(c)) {
                out.changes.push(change(&model_of(&k), &k.point, m, &bs, &cs));
            }
        }
    }
    for c in current {
        let k = key(c);
        if !base.iter().any(|b| key(b) == k) {
            out.only_in_current.push(describe(&k));
        }
    }
    out
}

/// As [`compare`], with the pair ratios of both sets where both measured a pair interleaved.
pub fn compare_sets(base: &crate::read::ResultSet, current: &crate::read::ResultSet) -> Comparison {
    let mut out = compare(&base.cells, &current.cells);
    let (b, c) = (
        crate::analysis::pairs::paired(&base.cells, &base.ratios),
        crate::analysis::pairs::paired(&current.cells, &current.ratios),
    );
    out.ratios = crate::analysis::ratio_change::ratio_changes(&b, &c);
    out
}

/// GitHub-flavoured Markdown of a comparison.
pub fn markdown(cmp: &Comparison) -> String {
    let mut s = String::new();
    if let Some(m) = &cmp.machines {
        s.push_str(&format!(
            "**Across machines**: base measured on {}, current on {} ({}). These changes are between devices, \
             not regressions.\n\n",
            m.base.replace('|', "\\|"),
            m.current.replace('|', "\\|"),
            m.differences.join("; ").replace('|', "\\|")
        ));
    }
    s.push_str(
        "| cell | metric | base | current | change (95% CI) | verdict |\n| --- | --- | ---: | ---: | ---: | --- |\n",
    );
    for c in &cmp.changes {
        s.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:+.1}% ({}) | {} |\n",
            point_name(&c.model, &c.point).replace('|', "\\|"),
            c.metric,
            c.base,
            c.current,
            c.change * 100.0,
            match c.low.zip(c.high) {
                Some((lo, hi)) => format!("{:+.1}% … {:+.1}%", lo * 100.0, hi * 100.0),
                None => "n too small".into(),
            },
            c.verdict.text()
        ));
    }
    for k in &cmp.only_in_base {
        s.push_str(&format!("\nOnly in base: {}", k.replace('|', "\\|")));
    }
    for k in &cmp.only_in_current {
        s.push_str(&format!("\nOnly in current: {}", k.replace('|', "\\|")));
    }
    if !cmp.only_in_base.is_empty() || !cmp.only_in_current.is_empty() {
        s.push('\n');
    }
    // Without a threshold: the verdict is whether the whole interval lies on one side of 0.
    s + &crate::analysis::ratio_change::markdown(&cmp.ratios, |_| 0.0)
}
