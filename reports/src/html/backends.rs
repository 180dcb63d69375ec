//! The report's *Backends* section: [`slmbench_results::backends::compare`]'s rows.

use slmbench_results::backends::compare;
use slmbench_results::schema::CellResult;

/// The report's section: a table of [`compare`]'s rows; empty when no model ran on two backends.
pub fn section(cells: &[CellResult]) -> String {
    use super::markup::esc;
    let rows = compare(cells);
    if rows.is_empty() {
        return String::new();
    }
    let mut h = String::from(
        "<section id=\"backends\"><h2>Backends</h2>\n<p>The same model at the same point on each runtime, against \
         the reference runtime (measured one after the other, so each TTFT ratio's interval is the conservative one \
         from the two medians' intervals).</p>\n<table id=\"backend-table\"><thead><tr><th class=\"l\">cell</th>\
         <th class=\"l\">backend</th><th>TTFT ms</th><th>decode tok/s</th><th>TTFT vs reference<br>(lower = sooner)</th>\
         <th>decode tok/s vs reference<br>(higher = faster)</th></tr></thead><tbody>\n",
    );
    for r in &rows {
        h.push_str(&format!(
            "<tr data-backend=\"{}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&r.backend),
            esc(&r.what),
            esc(&r.backend),
            r.ttft_ms,
            r.decode_tokens_per_s.map(|d| format!("{d:.1}")).unwrap_or_else(|| "–".into()),
            esc(&r.ttft_text()),
            esc(&r.decode_text()),
        ));
    }
    h.push_str("</tbody></table>\n</section>\n");
    h
}
