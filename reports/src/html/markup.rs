//! The markup every section of the report writes with: escaping and the chart figure. Sections
//! import it from here, never from the page that assembles them.

use crate::charts::Chart;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A chart inline in a `<figure>` of these classes.
pub fn figure(c: &Chart, class: &str) -> String {
    let svg = c.svg.trim_start_matches(|ch| ch != '<');
    let svg = if svg.starts_with("<?xml") { svg.split_once("?>").map(|x| x.1).unwrap_or(svg) } else { svg };
    format!(
        "<figure id=\"chart-{}\" class=\"{class}\">{}<figcaption><strong>{}.</strong> {}</figcaption></figure>\n",
        esc(&c.name),
        svg,
        esc(&c.title),
        esc(&c.caption)
    )
}
