//! The report's "History" section (`report --history DB`): each cell's trend across the runs the
//! database holds, with the change points found.

use super::markup::{esc, figure};
use crate::analysis::trend::HistorySection;
use crate::charts::Chart;

/// The section, or nothing when the report was made without `--history`.
pub fn section(h: Option<&HistorySection>, charts: &[Chart]) -> String {
    let Some(h) = h else { return String::new() };
    let mut s = format!(
        "<section id=\"history\"><h2>History</h2>\n<p>From <code>{}</code>: {} runs. Each cell's median per run, on the \
         machine that measured it, oldest run first.",
        esc(&h.source),
        h.runs
    );
    if let Some(c) = &h.config {
        s.push_str(&format!(
            " A change point is a run where a two-sided Mann–Whitney test of the medians of up to {} runs before it \
             against up to {} runs from it on (at least {} on each side) reaches the level that the smallest p-value \
             of all runs reaches in at most {} of random orderings of the history (so runs that only vary raise a \
             false alarm with at most that probability), and the two windows' medians differ by at least {:.0}%.",
            c.window,
            c.window,
            c.min_side,
            c.alpha,
            c.min_shift * 100.0
        ));
    }
    s.push_str("</p>\n");
    if h.trends.is_empty() {
        s.push_str("<p>The history holds fewer than two runs of every cell of this report: no trend yet.</p>\n");
    } else {
        s.push_str(
            "<div class=\"scroll\"><table id=\"trend-table\"><thead><tr><th class=\"l\">cell</th><th class=\"l\">metric</th>\
             <th>runs</th><th>latest median</th><th class=\"l\">change points</th></tr></thead><tbody>\n",
        );
        for t in &h.trends {
            let last = t.points.last().map(|p| p.median * t.metric.scale()).unwrap_or(f64::NAN);
            let changes: Vec<String> = t
                .changes
                .iter()
                .map(|c| format!("{} ({:+.1}%, p {:.1e})", t.points[c.index].commit, c.shift * 100.0, c.p_value))
                .collect();
            s.push_str(&format!(
                "<tr data-cell=\"{}\" data-runs=\"{}\" data-changes=\"{}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>\
                 <td>{:.3} {}</td><td class=\"l{}\">{}</td></tr>\n",
                esc(&t.cell_id),
                t.points.len(),
                t.changes.len(),
                esc(&t.name),
                t.metric.label(),
                t.points.len(),
                last,
                t.metric.unit().name(),
                if changes.is_empty() { "" } else { " warn" },
                if changes.is_empty() { "none".to_string() } else { esc(&changes.join("; ")) }
            ));
        }
        s.push_str("</tbody></table></div>\n");
    }
    if !h.too_short.is_empty() {
        s.push_str(&format!(
            "<p>Cells with fewer than two runs in the history: {}.</p>\n",
            esc(&h.too_short.join("; "))
        ));
    }
    for c in charts {
        s.push_str(&figure(c, "chart trend"));
    }
    s.push_str("</section>\n");
    s
}
