//! The report's "Placement" section: which provider ran the nodes of each model and setting, as
//! observed in a profiled generation before the timed ones (`placement` in every result).

use std::collections::BTreeMap;

use slmbench_results::schema::CellResult;

use super::markup::esc;

pub fn section(cells: &[CellResult]) -> String {
    // One row per machine, model, provider and settings, and threads: placement does not depend
    // on lengths.
    use slmbench_results::identity::{Machine, where_run};
    let several = slmbench_results::identity::machines(cells.iter().map(|c| &c.context)).len() > 1;
    let mut rows: BTreeMap<(String, String, usize), &CellResult> = BTreeMap::new();
    for c in cells.iter().filter(|c| c.placement.is_some()) {
        let model = if several {
            format!("{} on {}", c.model.name, Machine::of(&c.context).short())
        } else {
            c.model.name.clone()
        };
        rows.entry((model, where_run(&c.settings), c.settings.threads)).or_insert(c);
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<section id=\"placement\"><h2>Placement</h2>\n<p>Which execution provider ran each node, from ONNX Runtime's profile of a short generation before the timed ones. A provider that is registered but leaves nodes to the CPU shows here; <code>--strict-placement</code> turns that into a failed cell.</p>\n\
         <div class=\"scroll\"><table id=\"placement-table\"><thead><tr><th class=\"l\">model</th><th class=\"l\">requested</th><th>t</th><th class=\"l\">nodes per provider</th><th class=\"l\">kernel time per provider</th><th>nodes on the CPU</th><th class=\"l\">operators off the requested provider</th></tr></thead><tbody>\n",
    );
    for ((model, ep, threads), c) in rows {
        let Some(p) = &c.placement else { continue };
        let want = c.settings.ep_requested.runtime_name();
        let total_us: u64 = p.kernel_us_by_provider.values().sum::<u64>().max(1);
        let nodes: Vec<String> = p.nodes_by_provider.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        let time: Vec<String> = p
            .kernel_us_by_provider
            .iter()
            .map(|(k, us)| format!("{k}: {:.0}%", *us as f64 * 100.0 / total_us as f64))
            .collect();
        let off: Vec<String> = p
            .operators_by_provider
            .iter()
            .filter(|(k, _)| k.as_str() != want)
            .flat_map(|(k, ops)| ops.iter().map(move |(op, n)| format!("{op} ×{n} on {k}")))
            .collect();
        let whole = p.nodes_by_provider.keys().all(|k| k == want);
        // Exact counts: 749 of 751 nodes on the CPU must never read as "100%" of anything else.
        let total: usize = p.nodes_by_provider.values().sum();
        let on_cpu = p.nodes_by_provider.get(slmbench_results::placement::CPU).copied().unwrap_or(0);
        s.push_str(&format!(
            "<tr data-whole=\"{whole}\"><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{threads}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{on_cpu} of {total} ({:.1}%)</td><td class=\"l{}\">{}</td></tr>\n",
            esc(&model),
            esc(&ep),
            esc(&nodes.join(", ")),
            esc(&time.join(", ")),
            p.cpu_node_share * 100.0,
            if whole { "" } else { " warn" },
            if whole { "none".to_string() } else if off.is_empty() { "not recorded".to_string() } else { esc(&off.join(", ")) }
        ));
    }
    s.push_str("</tbody></table></div></section>\n");
    s
}
