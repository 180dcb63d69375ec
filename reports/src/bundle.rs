//! A result bundle: one file that anyone can produce from a scenario run and anyone can check —
//! the run's records (each as its exact results-file line, with that line's SHA-256), the
//! scenario's text and hash, the device and the suite build. [`check`] holds it to the
//! scenario's rules and gives every reason it fails. (The digests detect an edited number, not a
//! forger: whoever edits a line can compute its digest again. The medians are also checked
//! against their samples, and the models against the scenario's hashes.)

use serde::{Deserialize, Serialize};
use slmbench_results::identity::{Machine, cell_name};
use slmbench_results::scenario::{Scenario, ScenarioId, sha256_hex};
use slmbench_results::schema::{CellResult, Record};
use slmbench_results::stats::StopReason;

/// What tells a bundle from other JSON (`"bundle": "slmbench-bundle"`).
pub const BUNDLE: &str = "slmbench-bundle";
pub const BUNDLE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`BUNDLE`].
    pub bundle: String,
    pub bundle_version: u32,
    pub scenario: BundledScenario,
    /// The machine the records were measured on ([`Machine`]), as every report labels it.
    pub device: String,
    pub suite_version: String,
    pub suite_commit: String,
    pub build_profile: String,
    /// When the bundle was made (RFC 3339).
    pub created: String,
    pub records: Vec<BundledRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundledScenario {
    pub name: String,
    pub sha256: String,
    /// The scenario file's text, exactly (its hash is the hash of these bytes).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundledRecord {
    /// SHA-256 of `line`'s bytes.
    pub sha256: String,
    /// The record's line in the results file, without the newline.
    pub line: String,
}

/// Makes a bundle of one scenario run's records (`lines`: each record's exact line). Refused when
/// the records are of no scenario, of two, or of two machines.
pub fn make(lines: &[String], scenario_text: Option<&str>) -> Result<Bundle, String> {
    let mut records = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).map_err(|e| format!("record {}: {e}", i + 1))?;
        records.push(Record::from_value(v).map_err(|e| format!("record {}: {e}", i + 1))?);
    }
    let first = records.first().ok_or("no records to bundle")?.context().clone();
    let Some(id) = first.scenario.clone() else {
        return Err("these records were not measured by a scenario run: measure with `slmbench run --scenario NAME`, then bundle its results".into());
    };
    for r in &records {
        if r.context().scenario.as_ref() != Some(&id) {
            return Err(format!(
                "record {} is of {}, not of {} ({}): bundle one scenario run at a time",
                r.cell_id(),
                r.context().scenario.as_ref().map_or("no scenario".to_string(), |s| format!(
                    "{} {}",
                    s.name,
                    short(&s.sha256)
                )),
                id.name,
                short(&id.sha256)
            ));
        }
        if Machine::of(r.context()) != Machine::of(&first) {
            return Err(format!(
                "record {} was measured on {}, the first on {}: a bundle is one device's",
                r.cell_id(),
                Machine::of(r.context()),
                Machine::of(&first)
            ));
        }
    }
    let text = match scenario_text {
        Some(t) => t.to_string(),
        None => slmbench_results::scenario::BUILT_IN
            .iter()
            .find(|(n, _)| *n == id.name)
            .map(|(_, t)| t.to_string())
            .ok_or_else(|| format!("scenario {} is not built in: pass its file with --scenario FILE", id.name))?,
    };
    if sha256_hex(text.as_bytes()) != id.sha256 {
        return Err(format!(
            "the records are of {} with hash {}, and the scenario text given has hash {}: pass the file they were measured with",
            id.name,
            id.sha256,
            sha256_hex(text.as_bytes())
        ));
    }
    Ok(Bundle {
        bundle: BUNDLE.into(),
        bundle_version: BUNDLE_VERSION,
        scenario: BundledScenario { name: id.name.clone(), sha256: id.sha256.clone(), text },
        device: Machine::of(&first).to_string(),
        suite_version: first.suite_version.clone(),
        suite_commit: first.suite_commit.clone(),
        build_profile: first.build_profile.clone(),
        created: slmbench_results::context::rfc3339_now(),
        records: lines.iter().map(|l| BundledRecord { sha256: sha256_hex(l.as_bytes()), line: l.clone() }).collect(),
    })
}

/// What [`check`] found: every reason the bundle fails, and the cells that stopped short of the
/// scenario's target (listed, not a failure: the scenario bounds each cell's time).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub scenario: String,
    pub device: String,
    pub cells: usize,
    pub failures: Vec<String>,
    pub shortfalls: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The first 16 characters of a hash, for a message (all of a shorter, edited one).
fn short(h: &str) -> &str {
    h.get(..16).unwrap_or(h)
}

/// The model names a variant of a preset has in results (`paper-int4/encoder-decoder`).
fn model_names(preset: &str, precision: &str, graph: &str) -> [String; 2] {
    let mut tag = preset.to_string();
    if precision != "fp32" {
        tag.push_str(&format!("-{precision}"));
    }
    if graph != "plain" {
        tag.push_str(&format!("-{graph}"));
    }
    [format!("{tag}/encoder-decoder"), format!("{tag}/decoder-only")]
}

/// Holds `b` to its scenario's rules. `reference` is the scenario text to hold it to (a built-in
/// of the same name when `None`); a scenario whose text or hash differs fails.
pub fn check(b: &Bundle, reference: Option<&str>) -> Verdict {
    let mut v = Verdict { scenario: b.scenario.name.clone(), device: b.device.clone(), ..Verdict::default() };
    let fail = |v: &mut Verdict, why: String| v.failures.push(why);
    if b.bundle != BUNDLE || b.bundle_version != BUNDLE_VERSION {
        fail(&mut v, format!("not a version-{BUNDLE_VERSION} slmbench bundle ({} {})", b.bundle, b.bundle_version));
        return v;
    }
    // The scenario: its text is what its hash says, and it is the scenario held to.
    if sha256_hex(b.scenario.text.as_bytes()) != b.scenario.sha256 {
        fail(
            &mut v,
            format!("the scenario text does not have the hash it names ({}): it was edited", b.scenario.sha256),
        );
    }
    let reference = reference.map(str::to_string).or_else(|| {
        slmbench_results::scenario::BUILT_IN.iter().find(|(n, _)| *n == b.scenario.name).map(|(_, t)| t.to_string())
    });
    match &reference {
        None => fail(
            &mut v,
            format!("scenario {} is not built into this slmbench: pass its file with --scenario", b.scenario.name),
        ),
        Some(r) if sha256_hex(r.as_bytes()) != b.scenario.sha256 => fail(
            &mut v,
            format!(
                "scenario changed: the bundle's {} has hash {}, the one held to has {}",
                b.scenario.name,
                short(&b.scenario.sha256),
                short(&sha256_hex(r.as_bytes()))
            ),
        ),
        Some(_) => {}
    }
    let scenario = match Scenario::parse(reference.as_deref().unwrap_or(&b.scenario.text), &b.scenario.name) {
        Ok(s) => s,
        Err(e) => {
            fail(&mut v, e.to_string());
            return v;
        }
    };
    let id = ScenarioId { name: b.scenario.name.clone(), sha256: b.scenario.sha256.clone() };
    // Each record: its digest, then what it says.
    let mut records = Vec::new();
    for (i, r) in b.records.iter().enumerate() {
        if sha256_hex(r.line.as_bytes()) != r.sha256 {
            fail(
                &mut v,
                format!("record {}: its digest does not match its line: the record was edited after bundling", i + 1),
            );
            continue;
        }
        let parsed =
            serde_json::from_str::<serde_json::Value>(&r.line).map_err(|e| e.to_string()).and_then(Record::from_value);
        match parsed {
            Ok(rec) => records.push(rec),
            Err(e) => fail(&mut v, format!("record {}: {e}", i + 1)),
        }
    }
    let kept = slmbench_results::schema::latest_per_cell(records.clone());
    v.cells = kept.cells.len();
    for r in &records {
        let c = r.context();
        if c.scenario.as_ref() != Some(&id) {
            fail(&mut v, format!("record {}: not measured by this scenario", r.cell_id()));
        }
        if Machine::of(c).to_string() != b.device {
            fail(&mut v, format!("record {}: measured on {}, not the bundle's device", r.cell_id(), Machine::of(c)));
        }
    }
    // Every record, not the first only: a resumed run may have been finished by another build.
    if let Some(c) = records.iter().map(|r| r.context()).find(|c| c.build_profile != "release") {
        fail(
            &mut v,
            format!(
                "a {} build measured these records: timings need a release build (cargo build --release)",
                c.build_profile
            ),
        );
    }
    if let Some(d) = records.iter().find_map(|r| r.context().test_delay_us) {
        fail(&mut v, format!("the test hook SLMBENCH_TEST_DELAY_US={d} slowed every decode step: not measurements"));
    }
    for c in &kept.cells {
        check_cell(&mut v, &scenario, c);
    }
    for f in &kept.failed {
        fail(&mut v, format!("failed cell {}: {}", f.cell_id, f.error));
    }
    check_coverage(&mut v, &scenario, &kept);
    v
}

fn check_cell(v: &mut Verdict, s: &Scenario, c: &CellResult) {
    let name = cell_name(c);
    match (s.models.get(&c.model.name), &c.model.content_sha256) {
        (None, _) => v.failures.push(format!("{name}: model {} is not one of the scenario's", c.model.name)),
        (Some(want), Some(got)) if want != got => v.failures.push(format!(
            "{name}: model {} has content hash {}, the scenario's build has {}: other files were measured",
            c.model.name,
            short(got),
            short(want)
        )),
        (Some(_), None) => v.failures.push(format!("{name}: the record has no content hash of its model")),
        _ => {}
    }
    let (asked, used) = (c.settings.ep_requested.to_string(), c.settings.ep_used.to_string());
    if asked != used {
        v.failures.push(format!("{name}: asked for {asked}, ran on {used}"));
    }
    // On an accelerator every node must have run there: strict placement, or a profile that shows it.
    if asked != "cpu" {
        let all_there = c.placement.as_ref().is_some_and(|p| p.cpu_node_share == 0.0);
        if !c.settings.strict_placement && !all_there {
            v.failures
                .push(format!("{name}: nodes may have run on the CPU: measure accelerators with --strict-placement"));
        }
    }
}

/// Every cell the scenario asks for on each provider / threads / backend the bundle holds, each
/// pair with its interleaved ratio, each ratio over the minimum blocks (a cell short of the
/// interval target is listed as a shortfall).
fn check_coverage(v: &mut Verdict, s: &Scenario, kept: &slmbench_results::schema::Kept) {
    let mut settings: Vec<(String, String, usize)> = kept
        .cells
        .iter()
        .map(|c| (c.settings.backend.clone(), c.settings.ep_requested.to_string(), c.settings.threads))
        .chain(
            kept.failed
                .iter()
                .map(|f| (f.settings.backend.clone(), f.settings.ep_requested.to_string(), f.settings.threads)),
        )
        .collect();
    settings.sort();
    settings.dedup();
    let t = &s.statistics;
    for (backend, ep, threads) in &settings {
        let here = format!("{ep} t{threads} {backend}");
        for pair in &s.pairs {
            let (precisions, graphs) = s.variants_for(pair, ep);
            for (p, g) in precisions.iter().flat_map(|p| graphs.iter().map(move |g| (p, g))) {
                let names = model_names(&pair.preset, p, g);
                for (input, output, batch) in s.sweep.input_tokens.iter().flat_map(|&i| {
                    s.sweep.output_tokens.iter().flat_map(move |&o| s.sweep.batch.iter().map(move |&b| (i, o, b)))
                }) {
                    let at = |c: &CellResult| {
                        (c.settings.backend.as_str(), c.settings.ep_requested.to_string(), c.settings.threads)
                            == (backend.as_str(), ep.clone(), *threads)
                            && (c.sweep.input_tokens, c.sweep.output_tokens, c.sweep.batch) == (input, output, batch)
                    };
                    let point = format!("p{input} n{output} b{batch} ({here})");
                    let cells: Vec<&CellResult> =
                        names.iter().filter_map(|n| kept.cells.iter().find(|c| &c.model.name == n && at(c))).collect();
                    for n in &names {
                        if !cells.iter().any(|c| &c.model.name == n) {
                            v.failures.push(format!("missing cell: {n} {point}"));
                        }
                    }
                    let [ed, dec] = match cells.as_slice() {
                        [a, b] => [*a, *b],
                        _ => continue,
                    };
                    let Some(r) = kept
                        .ratios
                        .iter()
                        .find(|r| r.encoder_decoder_cell == ed.cell_id && r.decoder_only_cell == dec.cell_id)
                    else {
                        v.failures.push(format!("{}: no interleaved ratio record for {point}", pair.preset));
                        continue;
                    };
                    if r.blocks < t.min_blocks && r.stop_reason != StopReason::EndOfSequence {
                        v.failures.push(format!(
                            "{} {point}: {} blocks, the scenario's minimum is {}",
                            r.pair, r.blocks, t.min_blocks
                        ));
                    }
                    let widths = [("TTFT", Some(&r.ttft)), ("decode", r.decode_tokens_per_s.as_ref())];
                    for (what, e) in widths {
                        let Some(e) = e else { continue };
                        let w = e.half_width_rel();
                        if w > t.target_ci {
                            v.shortfalls.push(format!(
                                "{} {point}: {what} ratio interval ±{:.1}% after {} blocks (target ±{:.0}%; stopped: {})",
                                r.pair,
                                w * 100.0,
                                r.blocks,
                                t.target_ci * 100.0,
                                serde_json::to_value(r.stop_reason).ok().and_then(|s| s.as_str().map(String::from)).unwrap_or_default()
                            ));
                        }
                    }
                }
            }
        }
    }
    if settings.is_empty() {
        v.failures.push("no cell in the bundle".into());
    }
}
