//! The results table, defined once: each column's header in every view, its alignment, its value
//! for machines (CSV: full precision, empty when absent) and for people (Markdown, HTML: rounded,
//! `–` when absent). The Markdown table printed after a run, the report's HTML table and the CSV
//! export are all renderings of [`COLUMNS`].

use crate::export::ms;
use crate::identity::non_default;
use crate::schema::{CellResult, Settings};
use crate::stats::Summary;

/// Where a column appears, and under which header.
pub struct Column {
    /// CSV header (machine name, unit in the name); `None`: not in CSV.
    pub csv: Option<&'static str>,
    /// Markdown header; `None`: not in the Markdown table.
    pub markdown: Option<&'static str>,
    /// HTML header; `None`: not in the report's table.
    pub html: Option<&'static str>,
    /// Text columns align left, numbers right.
    pub text: bool,
    /// The value for machines; `None` where the record has none.
    pub raw: fn(&CellResult) -> Option<String>,
    /// The value for people; `None` shows as `–`.
    pub shown: fn(&CellResult) -> Option<String>,
}

/// A median's interval in ms, or "n too small" where there are too few samples for one.
pub fn ci_ms(s: &Summary) -> String {
    match s.ci() {
        Some((lo, hi)) => format!("{}–{}", ms(lo), ms(hi)),
        None => "n too small".into(),
    }
}

fn full(x: f64) -> String {
    format!("{x}")
}

fn layout(c: &CellResult) -> Option<String> {
    serde_json::to_value(c.model.layout).ok().and_then(|v| v.as_str().map(String::from))
}

const fn col(
    csv: Option<&'static str>,
    markdown: Option<&'static str>,
    html: Option<&'static str>,
    text: bool,
    raw: fn(&CellResult) -> Option<String>,
    shown: fn(&CellResult) -> Option<String>,
) -> Column {
    Column { csv, markdown, html, text, raw, shown }
}

/// Every column, in order.
pub const COLUMNS: &[Column] = &[
    col(Some("cell_id"), None, None, true, |c| Some(c.cell_id.clone()), |c| Some(c.cell_id.clone())),
    col(
        Some("model"),
        Some("model"),
        Some("model"),
        true,
        |c| Some(c.model.name.clone()),
        |c| Some(c.model.name.clone()),
    ),
    // The machine, shown where the cells come from more than one ([`view_of`]).
    col(None, Some(MACHINE), Some(MACHINE), true, |c| Some(machine_short(c)), |c| Some(machine_short(c))),
    col(Some("pair"), None, None, true, |c| c.model.pair.clone(), |c| c.model.pair.clone()),
    col(
        Some("kind"),
        Some("kind"),
        Some("kind"),
        true,
        |c| Some(c.model.kind.to_string()),
        |c| Some(c.model.kind.to_string()),
    ),
    col(Some("layout"), None, None, true, layout, layout),
    col(
        Some("backend"),
        Some(BACKEND),
        Some(BACKEND),
        true,
        |c| Some(c.settings.backend.clone()),
        |c| Some(c.settings.backend.clone()),
    ),
    col(
        Some("ep"),
        Some("ep"),
        Some("ep"),
        true,
        |c| Some(c.settings.ep_used.to_string()),
        |c| Some(c.settings.ep_used.to_string()),
    ),
    col(
        None,
        Some(SETTINGS),
        Some(SETTINGS),
        true,
        |c| Some(non_default(&c.settings)),
        |c| Some(non_default(&c.settings)),
    ),
    col(
        Some("threads"),
        Some("t"),
        Some("threads"),
        false,
        |c| Some(c.settings.threads.to_string()),
        |c| Some(c.settings.threads.to_string()),
    ),
    col(
        Some("batch"),
        Some("b"),
        Some("batch"),
        false,
        |c| Some(c.sweep.batch.to_string()),
        |c| Some(c.sweep.batch.to_string()),
    ),
    col(
        Some("input_tokens"),
        Some("in"),
        Some("input"),
        false,
        |c| Some(c.sweep.input_tokens.to_string()),
        |c| Some(c.sweep.input_tokens.to_string()),
    ),
    col(
        Some("output_tokens"),
        Some("out"),
        Some("output"),
        false,
        |c| Some(c.sweep.output_tokens.to_string()),
        |c| Some(c.sweep.output_tokens.to_string()),
    ),
    col(Some("repetitions"), None, None, false, |c| Some(c.repetitions.measured.to_string()), |_| None),
    col(
        Some("ttft_ms_median"),
        None,
        Some("TTFT ms"),
        false,
        |c| Some(full(c.metrics.ttft_ns.median / 1e6)),
        |c| Some(ms(c.metrics.ttft_ns.median)),
    ),
    col(
        None,
        Some("TTFT ms (95% CI)"),
        None,
        false,
        |_| None,
        |c| Some(format!("{} ({})", ms(c.metrics.ttft_ns.median), ci_ms(&c.metrics.ttft_ns))),
    ),
    col(Some("ttft_ms_ci95_low"), None, None, false, |c| c.metrics.ttft_ns.ci95_low.map(|x| full(x / 1e6)), |_| None),
    col(Some("ttft_ms_ci95_high"), None, None, false, |c| c.metrics.ttft_ns.ci95_high.map(|x| full(x / 1e6)), |_| None),
    col(None, None, Some("TTFT 95% CI"), false, |_| None, |c| Some(ci_ms(&c.metrics.ttft_ns))),
    col(
        Some("encoder_ms_median"),
        Some("encoder ms"),
        Some("encoder ms"),
        false,
        |c| c.metrics.encoder_ns.map(|s| full(s.median / 1e6)),
        |c| c.metrics.encoder_ns.map(|s| ms(s.median)),
    ),
    col(
        Some("itl_ms_median"),
        Some("ITL ms"),
        Some("ITL ms"),
        false,
        |c| c.metrics.itl_ns.map(|s| full(s.median / 1e6)),
        |c| c.metrics.itl_ns.map(|s| ms(s.median)),
    ),
    col(
        Some("itl_ms_p90"),
        None,
        Some("ITL p90"),
        false,
        |c| c.metrics.itl_ns.map(|s| full(s.p90 / 1e6)),
        |c| c.metrics.itl_ns.map(|s| ms(s.p90)),
    ),
    col(
        Some("decode_tokens_per_s"),
        Some("decode tok/s"),
        Some("decode tok/s"),
        false,
        |c| c.metrics.decode_tokens_per_s.map(full),
        |c| c.metrics.decode_tokens_per_s.map(|x| format!("{x:.1}")),
    ),
    col(
        Some("e2e_tokens_per_s"),
        Some("e2e tok/s"),
        Some("e2e tok/s"),
        false,
        |c| Some(full(c.metrics.e2e_tokens_per_s)),
        |c| Some(format!("{:.1}", c.metrics.e2e_tokens_per_s)),
    ),
    col(
        Some("prefill_tokens_per_s"),
        None,
        Some("prefill tok/s"),
        false,
        |c| Some(full(c.metrics.prefill_tokens_per_s)),
        |c| Some(format!("{:.1}", c.metrics.prefill_tokens_per_s)),
    ),
    col(Some("session_load_ms"), None, None, false, |c| Some(full(c.metrics.session_load_ns as f64 / 1e6)), |_| None),
    col(
        Some("peak_rss_bytes"),
        None,
        Some("peak MB"),
        false,
        |c| c.metrics.peak_rss_bytes.map(|b| b.to_string()),
        |c| c.metrics.peak_rss_bytes.map(|b| format!("{:.0}", b as f64 / 1e6)),
    ),
    col(Some("harness_overhead_ratio"), None, None, false, |c| c.metrics.harness_overhead_ratio.map(full), |_| None),
    col(
        None,
        None,
        Some("decode BW %"),
        false,
        |_| None,
        |c| c.roofline.as_ref().and_then(|r| r.decode_bandwidth_share).map(|x| format!("{:.0}", x * 100.0)),
    ),
    col(
        None,
        None,
        Some("TTFT compute %"),
        false,
        |_| None,
        |c| c.roofline.as_ref().and_then(|r| r.ttft_compute_share).map(|x| format!("{:.0}", x * 100.0)),
    ),
    col(None, Some("reps"), Some("reps"), false, |_| None, |c| Some(c.repetitions.measured.to_string())),
    col(Some("ort_version"), None, None, true, |c| Some(c.context.ort_version.clone()), |_| None),
    // Last, so that columns read by position before they existed keep their places.
    col(
        Some("decode_bandwidth_share"),
        None,
        None,
        false,
        |c| c.roofline.as_ref().and_then(|r| r.decode_bandwidth_share).map(full),
        |_| None,
    ),
    col(
        Some("ttft_compute_share"),
        None,
        None,
        false,
        |c| c.roofline.as_ref().and_then(|r| r.ttft_compute_share).map(full),
        |_| None,
    ), // Newer columns last, so that readers of the CSV by position keep working.
    col(Some("io_binding"), None, None, true, |c| Some(c.settings.io_binding.to_string()), |_| None),
    col(Some("session_options"), None, None, true, |c| Some(session_options(&c.settings)), |_| None),
    col(Some("machine"), None, None, true, |c| Some(c.context.fingerprint()), |_| None),
    col(Some("settings"), None, None, true, |c| Some(non_default(&c.settings)), |_| None),
];

fn machine_short(c: &CellResult) -> String {
    crate::identity::Machine::of(&c.context).short()
}

/// The machine column's header in the tables for people, shown only when `cells` come from more
/// than one machine.
pub const MACHINE: &str = "machine";

/// The backend column's header in the tables for people, which show it only when `cells` hold
/// more than one backend ([`view_of`]).
pub const BACKEND: &str = "backend";
/// The header of the session settings that are not the default (`io-binding`, `spinning`,
/// `strict-placement`, `--session-opt` entries), shown only when `cells` differ in them.
pub const SETTINGS: &str = "settings";

/// `--session-opt` entries as `key=value;…`.
fn session_options(s: &Settings) -> String {
    s.session_options.iter().map(|o| format!("{}={}", o.key, o.value)).collect::<Vec<_>>().join(";")
}

/// The columns of one view with their headers.
pub fn view(header: fn(&Column) -> Option<&'static str>) -> impl Iterator<Item = (&'static str, &'static Column)> {
    COLUMNS.iter().filter_map(move |c| header(c).map(|h| (h, c)))
}

/// As [`view`], for a table of `cells`: the machine, backend and settings columns only when the
/// cells differ in them (one run's cells share all three).
pub fn view_of<'a>(
    header: fn(&Column) -> Option<&'static str>,
    cells: &'a [CellResult],
) -> impl Iterator<Item = (&'static str, &'static Column)> + 'a {
    let backends = cells.iter().any(|c| c.settings.backend != cells[0].settings.backend);
    let settings = cells.iter().any(|c| non_default(&c.settings) != non_default(&cells[0].settings));
    let machines = crate::identity::machines(cells.iter().map(|c| &c.context)).len() > 1;
    view(header).filter(move |(h, _)| {
        (backends || *h != BACKEND) && (settings || *h != SETTINGS) && (machines || *h != MACHINE)
    })
}

/// A value for people, `–` when absent.
pub fn shown(col: &Column, c: &CellResult) -> String {
    (col.shown)(c).unwrap_or_else(|| "–".into())
}
