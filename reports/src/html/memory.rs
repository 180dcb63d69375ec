//! The report's Memory section: each model's own weights and caches at the run's longest cell,
//! each figure labelled computed or measured, and each pair's caches set side by side.

use slmbench_results::model::ModelKind;
use slmbench_results::schema::CellResult;

use super::markup::esc;
use crate::charts::memory::{is_static, per_model};

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

/// What the process's peak says about one model: alone, or together with its pair.
fn measured(cells: &[CellResult], name: &str) -> String {
    let mine = || cells.iter().filter(|c| c.model.name == name);
    let peak = mine().filter_map(|c| c.metrics.peak_rss_bytes).max();
    match (peak, mine().any(|c| c.repetitions.interleaved_with.is_some())) {
        (None, _) => "not recorded".into(),
        (Some(p), true) => format!("{} MB with its pair loaded (not its own)", mb(p)),
        (Some(p), false) => format!("{} MB", mb(p)),
    }
}

/// The section, empty when no cell recorded its caches (records older than the field).
pub fn section(cells: &[CellResult]) -> String {
    let models = per_model(cells);
    let mut s = String::from("<section id=\"memory\"><h2>Memory</h2>\n");
    if models.is_empty() {
        if cells.is_empty() {
            return String::new();
        }
        s.push_str("<p class=\"memory-none\">These records hold no cache shapes (written before slmbench recorded them): only the process's peak resident memory is shown, under Charts.</p>\n</section>\n");
        return s;
    }
    s.push_str(
        "<p>Each model's own memory at the run's longest cell. <strong>Weights</strong>: the model's files on disk \
         (what its sessions load; a runtime may add packed copies). <strong>Caches</strong>: computed from the model's \
         cache shapes (decoder layers × KV heads × head size × element bytes × positions, keys and values, every row). \
         <strong>Peak RSS</strong>: measured for the whole process; a pair measured interleaved held both models, so \
         its peak is not either model's own.</p>\n",
    );
    s.push_str(
        "<table id=\"memory-table\"><thead><tr><th class=\"l\">model</th><th class=\"l\">kind</th><th class=\"l\">at</th>\
         <th>weights MB (files)</th><th>self-attention cache MB (computed)</th><th>cross-attention cache MB (computed)</th>\
         <th>weights + caches MB</th><th class=\"l\">peak RSS (measured)</th></tr></thead><tbody>\n",
    );
    for (c, m) in &models {
        s.push_str(&format!(
            "<tr data-model=\"{}\" data-kind=\"{}\" data-self-bytes=\"{}\" data-cross-bytes=\"{}\"><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td class=\"l\">prompt {}, output {}, batch {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>\n",
            esc(&c.model.name),
            c.model.kind,
            m.self_bytes(),
            m.cross_bytes(),
            esc(&c.model.name),
            c.model.kind,
            c.sweep.input_tokens,
            c.sweep.output_tokens,
            c.sweep.batch,
            mb(c.model.bytes_on_disk),
            mb(m.self_bytes()),
            if c.model.kind == ModelKind::EncoderDecoder { mb(m.cross_bytes()) } else { "–".into() },
            mb(c.model.bytes_on_disk + m.total_bytes()),
            esc(&measured(cells, &c.model.name))
        ));
    }
    s.push_str("</tbody></table>\n");
    for (c, _) in &models {
        s.push_str(&duplicated_weights(&c.model));
    }
    // Each pair's caches side by side, at one context (the encoder-decoder's cell).
    for (ed, em) in models.iter().filter(|(c, _)| c.model.kind == ModelKind::EncoderDecoder) {
        let Some(pair) = &ed.model.pair else { continue };
        let Some((dec, dm)) =
            models.iter().find(|(c, _)| c.model.kind == ModelKind::DecoderOnly && c.model.pair.as_ref() == Some(pair))
        else {
            continue;
        };
        // A static build's buffers do not follow the lengths.
        if is_static(ed) || is_static(dec) {
            continue;
        }
        let (p, n) = (ed.sweep.input_tokens as u64, ed.sweep.output_tokens as u64);
        let (a, b) = (em.at(true, p, n), dm.at(false, p, n));
        if b == 0 {
            continue;
        }
        s.push_str(&format!(
            "<p class=\"memory-pair\" data-pair=\"{}\">{}: after {p} prompt and {n} output tokens, one row's caches are \
             {} MB for {} against {} MB for {}: <strong>{:.2}×</strong> (computed; lower = the encoder-decoder holds less).</p>\n",
            esc(pair),
            esc(pair),
            mb(a),
            esc(&ed.model.name),
            mb(b),
            esc(&dec.model.name),
            a as f64 / b as f64
        ));
    }
    s.push_str("</section>\n");
    s
}

/// A note when a model's files hold far more than its parameters at their float precision: a
/// weight stored in two files (the tied embedding of an encoder-decoder, in its encoder and its
/// decoder) is loaded by each session that reads it.
fn duplicated_weights(m: &slmbench_results::schema::ModelInfo) -> String {
    let per_param = match m.precision.as_deref() {
        Some("fp32") => 4.0,
        Some("fp16" | "bf16") => 2.0,
        _ => return String::new(),
    };
    let Some(params) = m.params else { return String::new() };
    let expected = params as f64 * per_param;
    if (m.bytes_on_disk as f64) < expected * 1.05 {
        return String::new();
    }
    format!(
        "<p class=\"memory-duplicate\" data-model=\"{}\">{}'s files hold {} MB for {:.1} M parameters ({:.1} MB at {}): \
         a weight stored in more than one file (an encoder-decoder's tied embedding sits in both its encoder and its \
         decoder) is loaded once per session that reads it.</p>\n",
        esc(&m.name),
        esc(&m.name),
        mb(m.bytes_on_disk),
        params as f64 / 1e6,
        expected / 1e6,
        m.precision.as_deref().unwrap_or_default()
    )
}
