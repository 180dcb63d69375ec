//! Readers, exporters, analysis and comparison on synthetic result records with known numbers.
//! (Measured records are exercised end to end by the binary's tests in `tests/report.rs`.)

mod common;

use common::{cell, context};
use slmbench_reports::analysis::{compare, pairs as analysis};
use slmbench_reports::{read, write};
use slmbench_results::pair_ratio::PairRatio;
use slmbench_results::paired::RatioEstimate;
use slmbench_results::schema::CellResult;
use slmbench_results::stats::StopReason;

fn pair_cells() -> Vec<CellResult> {
    let mut v = vec![];
    for (p, n) in [(32, 8), (128, 8), (32, 32), (128, 32)] {
        v.push(cell(
            "encoder-decoder",
            p,
            n,
            &[10.0, 11.0, 10.5, 10.2, 10.8, 10.4, 10.6].map(|t| t * p as f64 / 32.0),
            5.0,
        ));
        v.push(cell(
            "decoder-only",
            p,
            n,
            &[20.0, 21.0, 20.5, 20.2, 20.8, 20.4, 20.6].map(|t| t * p as f64 / 32.0),
            10.0,
        ));
    }
    v
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(slmbench_results::export::markdown::table(&pair_cells()));
}

#[test]
fn csv_snapshot() {
    let set = read::ResultSet { cells: pair_cells(), ..Default::default() };
    insta::assert_snapshot!(String::from_utf8(write::csv(&set)).unwrap());
}

/// The CSV reads back with a CSV reader: quoting holds for names with commas and quotes, and the
/// numbers are the records' own, in the units the headers name.
#[test]
fn csv_reads_back() {
    let mut cells = pair_cells();
    cells[0].model.name = "a,\"quoted\" model".into();
    let set = read::ResultSet { cells: cells.clone(), ..Default::default() };
    let bytes = write::csv(&set);
    let mut r = csv::Reader::from_reader(&bytes[..]);
    let headers = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), cells.len());
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("model")], cells[0].model.name);
    let ttft: f64 = rows[0][col("ttft_ms_median")].parse().unwrap();
    assert!((ttft - cells[0].metrics.ttft_ns.median / 1e6).abs() < 1e-9, "{ttft}");
    assert_eq!(&rows[1][col("ep")], "cpu");
}

/// The failing case of the issue: from 3 samples a side there is no 95% interval, so no
/// summary, table or comparison may call one side sooner or faster.
#[test]
fn too_few_samples_give_no_verdict() {
    let few = |kind: &str, t: f64| cell(kind, 128, 8, &[t, t * 1.1, t * 0.95], 5.0);
    let cells = vec![few("encoder-decoder", 10.0), few("decoder-only", 20.0)];
    let h = &analysis::headlines(&cells, &[])[0];
    assert_eq!(h.ttft.ci(), None);
    assert!(h.ttft_text.contains("n too small") && !h.ttft_text.contains("sooner"), "{}", h.ttft_text);
    assert!(h.e2e_text.as_ref().unwrap().contains("n too small"), "{:?}", h.e2e_text);
    assert!(slmbench_results::export::markdown::table(&cells).contains("(n too small)"));
    // One sample each, 34% apart: compare says "n too small", not "faster".
    let one = |t: f64| vec![cell("decoder-only", 8, 2, &[t], 5.0)];
    let cmp = compare::compare(&one(10.0), &one(6.6));
    assert!(cmp.changes.iter().all(|c| c.verdict == compare::Verdict::NTooSmall), "{:?}", cmp.changes);
    assert!(compare::markdown(&cmp).contains("n too small"));
    // An interval that spans no change is called neither sooner nor later.
    let close = vec![
        cell("encoder-decoder", 128, 8, &[10.0, 12.0, 9.0, 11.0, 10.5, 9.5, 10.2], 5.0),
        cell("decoder-only", 128, 8, &[10.1, 12.1, 9.1, 11.1, 10.6, 9.6, 10.3], 5.0),
    ];
    let h = &analysis::headlines(&close, &[])[0];
    assert!(h.ttft_text.starts_with("no significant difference"), "{}", h.ttft_text);
}

/// An fp32 encoder-decoder is not paired with an int8 decoder-only of the same pair tag.
#[test]
fn different_precisions_are_not_paired() {
    let mut cells = pair_cells();
    assert_eq!(analysis::paired(&cells, &[]).len(), 4);
    for c in cells.iter_mut().filter(|c| c.model.kind.as_str() == "decoder-only") {
        c.model.precision = Some("int8".into());
    }
    assert!(analysis::paired(&cells, &[]).is_empty());
    assert!(analysis::headlines(&cells, &[]).is_empty());
}

/// With two precisions the report draws decode tokens/s and TTFT per precision, one line per
/// model of the base pair; with one precision it draws neither.
#[test]
fn precision_charts_put_precision_builds_on_one_line() {
    use slmbench_reports::charts::precision;
    let fp32 = pair_cells();
    assert!(precision::charts(&fp32, None).unwrap().is_empty());
    let mut all = fp32.clone();
    for c in &fp32 {
        let mut q = c.clone();
        q.model.name = q.model.name.replace("tiny/", "tiny-int4/");
        q.model.pair = Some("tiny-int4".into());
        q.model.precision = Some("int4".into());
        all.push(q);
    }
    let charts = precision::charts(&all, None).unwrap();
    let names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["decode_tps_vs_precision", "ttft_vs_precision"]);
    for c in &charts {
        assert!(c.svg.contains("tiny/decoder-only") && c.svg.contains("tiny/encoder-decoder"), "{}", c.name);
        assert!(!c.svg.contains("tiny-int4"), "{}: precision builds share their base model's line", c.name);
    }
}

/// Nor a plain graph with a fused one, nor cells of two backends.
#[test]
fn different_graph_variants_or_backends_are_not_paired() {
    let mut cells = pair_cells();
    for c in cells.iter_mut().filter(|c| c.model.kind.as_str() == "decoder-only") {
        c.model.graph_variant = Some("fused".into());
    }
    assert!(analysis::paired(&cells, &[]).is_empty());
    let mut cells = pair_cells();
    for c in cells.iter_mut().filter(|c| c.model.kind.as_str() == "decoder-only") {
        c.settings.backend = "candle".into();
    }
    assert!(analysis::paired(&cells, &[]).is_empty());
}

#[test]
fn headline_ratio_and_words() {
    let cells = pair_cells();
    let h = &analysis::headlines(&cells, &[])[0];
    assert_eq!((h.point.input_tokens, h.point.output_tokens), (128, 32));
    assert!((h.ttft.value - 42.0 / 82.0).abs() < 1e-9, "{}", h.ttft.value);
    let (lo, hi) = h.ttft.ci().unwrap();
    assert!(lo <= h.ttft.value && h.ttft.value <= hi);
    assert!(
        h.ttft_text.starts_with("encoder-decoder reached the first token 49% sooner at 128 input tokens (95% CI "),
        "{}",
        h.ttft_text
    );
    let e2e = h.e2e.unwrap();
    assert!(e2e.value > 1.0);
    assert!(h.e2e_text.as_ref().unwrap().contains("× the decoder-only's at 128 input / 32 output tokens"));
}

#[test]
fn json_round_trip_through_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let cells = pair_cells();
    let jsonl = dir.path().join("r.jsonl");
    let json = dir.path().join("r.json");
    std::fs::write(&jsonl, cells.iter().map(|c| serde_json::to_string(c).unwrap() + "\n").collect::<String>()).unwrap();
    std::fs::write(&json, serde_json::to_string(&cells).unwrap()).unwrap();
    for path in [&jsonl, &json] {
        let set = read::read_all(std::slice::from_ref(path)).unwrap();
        assert_eq!(set.cells, cells, "{}", path.display());
        let out = dir.path().join("report");
        write::report(&set, &out, path == &json).unwrap();
        if path == &json {
            // PNG on request: a real image of non-trivial size per chart.
            let png = std::fs::read(out.join("charts/ttft_vs_input.png")).unwrap();
            assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
        }
        // The merged JSON export reads back to the same records.
        let again = read::read_all(&[out.join("results.json")]).unwrap();
        assert_eq!(again.cells, cells);
        // Numbers in the CSV equal those in the records.
        let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
        let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
        let ttft = csv.lines().next().unwrap().split(',').position(|h| h == "ttft_ms_median").unwrap();
        for (row, c) in rows.iter().zip(&cells) {
            assert_eq!(row[0], c.cell_id);
            assert_eq!(row[ttft].parse::<f64>().unwrap(), c.metrics.ttft_ns.median / 1e6);
        }
        // The headline ratio in the HTML equals the one computed from the records.
        let html = std::fs::read_to_string(out.join("index.html")).unwrap();
        let want = analysis::headlines(&cells, &[])[0].ttft.value;
        assert!(html.contains(&format!("data-ttft-ratio=\"{want:.6}\"")), "headline ratio missing");
        assert!(html.contains("<section id=\"definitions\">") && html.contains("slmbench run --preset tiny"));
    }
}

#[test]
fn torn_and_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let cells = pair_cells();
    let path = dir.path().join("r.jsonl");
    let mut text: String = cells.iter().map(|c| serde_json::to_string(c).unwrap() + "\n").collect();
    text.push_str(&serde_json::to_string(&cells[0]).unwrap()[..100]);
    std::fs::write(&path, &text).unwrap();
    let set = read::read_all(std::slice::from_ref(&path)).unwrap();
    assert_eq!(set.cells.len(), cells.len());
    assert!(set.warnings[0].contains("torn final record"), "{:?}", set.warnings);

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}\nnot json\n", serde_json::to_string(&cells[0]).unwrap())).unwrap();
    let e = read::read_all(std::slice::from_ref(&bad)).unwrap_err().to_string();
    assert!(e.contains("bad.jsonl:2"), "{e}");

    let old = dir.path().join("old.jsonl");
    let mut v = serde_json::to_value(&cells[0]).unwrap();
    v["schema_version"] = 0.into();
    std::fs::write(&old, format!("{v}\n")).unwrap();
    assert!(read::read_all(&[old]).unwrap_err().to_string().contains("schema_version 0"));

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    assert!(read::read_all(&[empty]).unwrap_err().to_string().contains("no result records"));
}

#[test]
fn a_measured_record_supersedes_a_failed_one_in_either_order() {
    let dir = tempfile::tempdir().unwrap();
    let cells = pair_cells();
    let mut failed = serde_json::to_value(&cells[0]).unwrap();
    failed["status"] = "failed".into();
    failed["failure"] = "provider".into();
    failed["error"] = "no CUDA here".into();
    let ok = serde_json::to_string(&cells[0]).unwrap();
    for (name, text) in [("retried", format!("{failed}\n{ok}\n")), ("late", format!("{ok}\n{failed}\n"))] {
        let path = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&path, text).unwrap();
        let set = read::read_all(&[path]).unwrap();
        assert_eq!((set.cells.len(), set.failed.len()), (1, 0), "{name}");
        assert!(set.warnings.is_empty(), "{name}: {:?}", set.warnings);
    }
    // Failed records alone: `report` shows them, commands that need measurements say so.
    let only = dir.path().join("only.jsonl");
    std::fs::write(&only, format!("{failed}\n")).unwrap();
    let set = read::read_all(std::slice::from_ref(&only)).unwrap();
    assert_eq!(set.failed[0].error, "no CUDA here");
    let e = read::read_measured(&[only]).unwrap_err().to_string();
    assert!(e.contains("no measured cell (1 failed)"), "{e}");
    let html =
        String::from_utf8(std::fs::read(write::report(&set, dir.path(), false).unwrap().index).unwrap()).unwrap();
    assert!(html.contains("Failed cells (1)") && html.contains("no CUDA here"));
}

#[test]
fn comparison_verdicts() {
    let base = pair_cells();
    let same = compare::compare(&base, &base);
    assert!(same.changes.iter().all(|c| c.verdict == compare::Verdict::NoSignificantChange));
    // 50% slower TTFT and ITL on every cell; whole intervals beyond no change.
    let slow: Vec<CellResult> = base
        .iter()
        .map(|c| {
            let t: Vec<f64> = c.samples.ttft_ns.iter().map(|&x| x as f64 * 1.5 / 1e6).collect();
            let itl = c.samples.itl_ns[0][0] as f64 * 1.5 / 1e6;
            cell(c.model.kind.as_str(), c.sweep.input_tokens, c.sweep.output_tokens, &t, itl)
        })
        .collect();
    let cmp = compare::compare(&base, &slow);
    for c in &cmp.changes {
        // Latency up and throughput down: every metric says slower.
        assert_eq!(c.verdict, compare::Verdict::Slower, "{c:?}");
        if c.metric == "ttft_ms" {
            assert!((c.change - 0.5).abs() < 1e-3, "{}", c.change);
        }
    }
    let back = compare::compare(&slow, &base);
    assert!(back.changes.iter().all(|c| c.verdict == compare::Verdict::Faster));
    let md = compare::markdown(&cmp);
    assert!(md.contains("| ttft_ms |") && md.contains("slower"), "{md}");
    let partial = compare::compare(&base, &base[..2]);
    assert_eq!(partial.only_in_base.len(), base.len() - 2);
}

/// A variant's drift reaches the HTML report and `results.md` once per model; the roofline chart
/// is drawn only from cells that carry roofline figures.
#[test]
fn accuracy_section_and_roofline_chart() {
    use slmbench_results::roofline::{HostLimits, Roofline};
    use slmbench_results::schema::Accuracy;
    let plain = pair_cells();
    let dir = tempfile::tempdir().unwrap();
    write::report(&read::ResultSet { cells: plain.clone(), ..Default::default() }, dir.path(), false).unwrap();
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(!html.contains("id=\"accuracy\""), "no variant, no accuracy section");
    assert!(!html.contains("chart-roofline_shares"), "no roofline figures, no roofline chart");

    let mut cells = plain.clone();
    for c in &plain {
        let mut q = c.clone();
        q.model.name = q.model.name.replace("tiny/", "tiny-int4/");
        q.model.pair = Some("tiny-int4".into());
        q.model.precision = Some("int4".into());
        q.model.accuracy = Some(Accuracy {
            reference: c.model.name.clone(),
            positions: 128,
            top1_agreement: 0.75,
            max_abs_logit_diff: 0.125,
            max_rel_logit_diff: 0.01,
        });
        cells.push(q);
    }
    let limits = HostLimits {
        threads: 2,
        memory_bytes_per_s: 10e9,
        matmul_flops_per_s: 100e9,
        measured: "2026-11-29T00:00:00Z".into(),
    };
    for c in &mut cells {
        c.roofline = Some(Roofline::of(limits.clone(), Some(400_000_000), Some(50e6), Some(20_000_000_000), 400e6));
    }
    let dir = tempfile::tempdir().unwrap();
    write::report(&read::ResultSet { cells, ..Default::default() }, dir.path(), false).unwrap();
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    let section = &html[html.find("id=\"accuracy\"").expect("accuracy section")..];
    let section = &section[..section.find("</section>").unwrap()];
    assert_eq!(section.matches("<tr><td").count(), 2, "one row per variant model: {section}");
    assert!(section.contains("tiny-int4/decoder-only") && section.contains("75.0%") && section.contains("0.1250"));
    let md = std::fs::read_to_string(dir.path().join("results.md")).unwrap();
    assert!(md.contains("| tiny-int4/encoder-decoder | int4 | plain | tiny/encoder-decoder | 128 | 75.0% |"), "{md}");
    assert!(html.contains("id=\"chart-roofline_shares\""));
    let svg = std::fs::read_to_string(dir.path().join("charts/roofline_shares.svg")).unwrap();
    assert!(svg.contains("tiny-int4/decoder-only t1") && svg.contains("the measured limit"), "{svg}");
}

/// The ratio record of an interleaved `ed`/`dec` pair cell, with a paired TTFT interval.
/// The Markdown table of interleaved ratios says in its header which way each ratio favours the
/// encoder-decoder, and a ratio without an interval what it lacks.
#[test]
fn ratio_table_snapshot() {
    let cells = pair_cells();
    let (ed, dec) = (&cells[0], &cells[1]);
    let mut short = ratio_record(&cells[2], &cells[3], 0.51, 0.0, 0.0);
    (short.blocks, short.ttft.low, short.ttft.high) = (6, None, None);
    let ratios = [ratio_record(ed, dec, 0.51, 0.48, 0.55), short];
    insta::assert_snapshot!(slmbench_results::export::markdown::ratios(&ratios, &cells));
}

fn ratio_record(ed: &CellResult, dec: &CellResult, value: f64, low: f64, high: f64) -> PairRatio {
    PairRatio {
        schema_version: slmbench_results::schema::SCHEMA_VERSION,
        record: slmbench_results::pair_ratio::PAIR_RATIO.into(),
        ratio_id: slmbench_results::pair_ratio::ratio_id(&ed.cell_id, &dec.cell_id),
        pair: "tiny".into(),
        encoder_decoder_cell: ed.cell_id.clone(),
        decoder_only_cell: dec.cell_id.clone(),
        settings: ed.settings.clone(),
        sweep: ed.sweep.clone(),
        order: "abba".into(),
        seed: 0,
        blocks: 12,
        method: "block-bootstrap".into(),
        loads: 1,
        resamples: 2000,
        ttft: RatioEstimate { value, low: Some(low), high: Some(high) },
        decode_tokens_per_s: None,
        e2e_tokens_per_s: None,
        ttft_ratio_trend: None,
        stop_reason: StopReason::MaxRepetitions,
        wall_ns: 1,
        context: context(),
    }
}

/// Readers keep a ratio record only while both cells it names are the kept records from before it,
/// and the headline then uses its paired interval instead of the conservative one.
#[test]
fn ratio_records_are_kept_while_their_cells_stand() {
    use slmbench_results::schema::{Record, latest_per_cell};
    let ed = cell("encoder-decoder", 128, 8, &[5.0, 5.1, 5.2, 4.9, 5.0, 5.3, 5.1, 5.0], 1.0);
    let dec = cell("decoder-only", 128, 8, &[10.0, 10.5, 9.5, 10.2, 9.9, 10.1, 10.0, 10.3], 2.0);
    let r = ratio_record(&ed, &dec, 0.5, 0.48, 0.52);
    let recs = |order: &[usize]| -> Vec<Record> {
        order
            .iter()
            .map(|&i| match i {
                0 => Record::Cell(Box::new(ed.clone())),
                1 => Record::Cell(Box::new(dec.clone())),
                _ => Record::Ratio(Box::new(r.clone())),
            })
            .collect()
    };
    let kept = latest_per_cell(recs(&[0, 1, 2]));
    assert_eq!((kept.cells.len(), kept.ratios.len()), (2, 1));
    // Written before its cells, or superseded by a later record of one of them: stale.
    assert!(latest_per_cell(recs(&[2, 0, 1])).ratios.is_empty());
    assert!(latest_per_cell(recs(&[0, 1, 2, 0])).ratios.is_empty());
    // The same ratio twice (a merged file): one.
    assert_eq!(latest_per_cell(recs(&[0, 1, 2, 2])).ratios.len(), 1);
    // Without its partner cell a ratio is not kept.
    assert!(latest_per_cell(recs(&[0, 2])).ratios.is_empty());

    let cells = vec![ed.clone(), dec.clone()];
    let h = &analysis::headlines(&cells, &kept.ratios)[0];
    assert_eq!((h.ttft.value, h.ttft.low, h.ttft.high), (0.5, Some(0.48), Some(0.52)));
    assert!(h.method_text.starts_with("measured side by side: 12 blocks"), "{}", h.method_text);
    let seq = &analysis::headlines(&cells, &[])[0];
    assert!(seq.ttft.low.unwrap() < 0.48 && seq.method_text.contains("one model after the other"));
}

/// Records older than the cache shapes say so; with them, each model's caches are multiplied out,
/// its peak is its own when it ran alone, and a static build's fixed buffers draw a flat line.
#[test]
fn memory_section_from_cache_shapes() {
    use slmbench_results::memory::CacheMemory;
    let dir = tempfile::tempdir().unwrap();
    write::report(&read::ResultSet { cells: pair_cells(), ..Default::default() }, dir.path(), false).unwrap();
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("class=\"memory-none\"") && !html.contains("chart-cache_growth"), "old records");

    let mut cells = pair_cells();
    for c in &mut cells {
        let ed = c.model.kind == slmbench_results::model::ModelKind::EncoderDecoder;
        let (p, n) = (c.sweep.input_tokens, c.sweep.output_tokens);
        c.memory = Some(CacheMemory::of(if ed { 3 } else { 8 }, 2, 16, (2, 16), 4, ed, (1, p, n), None));
        // The encoder-decoder's files hold its embedding twice.
        if ed {
            c.model.bytes_on_disk = 2_000_000;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write::report(&read::ResultSet { cells, ..Default::default() }, dir.path(), false).unwrap();
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    let section = &html[html.find("<section id=\"memory\"").expect("memory section")..];
    let section = &section[..section.find("</section>").unwrap()];
    // The longest cell (128 + 32): encoder-decoder 768 B × 32 self and × 128 cross; decoder-only
    // 2048 B × 160.
    assert!(section.contains("data-self-bytes=\"24576\" data-cross-bytes=\"98304\""), "{section}");
    assert!(section.contains("data-self-bytes=\"327680\" data-cross-bytes=\"0\""), "{section}");
    assert!(section.contains("prompt 128, output 32, batch 1") && section.contains("<td class=\"l\">100.0 MB</td>"));
    assert!(!section.contains("not its own"), "run one at a time, each peak is the model's own");
    assert!(section.contains("<strong>0.38×</strong>"), "122880 / 327680: {section}");
    assert!(
        section.contains("tiny/encoder-decoder's files hold 2.0 MB for 0.4 M parameters (1.4 MB at fp32)")
            && !section.contains("tiny/decoder-only's files hold"),
        "{section}"
    );
    let svg = std::fs::read_to_string(dir.path().join("charts/cache_growth.svg")).unwrap();
    assert!(svg.contains("(encoder-decoder)") && svg.contains("prompt tokens (output 32 tokens)"), "{svg}");
}
