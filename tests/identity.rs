//! A result knows where and how it was measured (issue 31, points 1 to 9; point 6 is in
//! `tests/qnn.rs`, points 10 to 14 in `tests/writers.rs`). Each test starts with the command that
//! used to give a wrong number as if it were right, then checks what happens now.
//!
//! The second machine is `tests/data/second-machine/results.jsonl`: a real run of this file's
//! sweep on the `tiny` pair, its context changed to another machine's (`make.sh` beside it
//! regenerates it). The `tiny` build is deterministic, so its cell ids are the ones measured
//! here: the collision a report of two machines must not mistake for a repeated cell.

mod common;

use common::*;

#[test]
fn the_fixture_is_the_same_sweep_measured_elsewhere() {
    let (_, here) = here();
    assert_eq!(
        cell_ids(here),
        cell_ids(&fixture()),
        "the tiny build or the cell id changed: regenerate tests/data/second-machine (make.sh)"
    );
    let theirs = &records(&fixture())[0]["context"];
    let ours = &records(here)[0]["context"];
    assert_ne!(theirs["cpu_model"], ours["cpu_model"]);
}

/// Point 1: `report edA.jsonl doB.jsonl` paired an encoder-decoder of one machine with a
/// decoder-only of another and headlined "89% sooner"; `report hostA hostB` dropped one
/// machine's cells as "appears more than once".
#[test]
fn point_1_a_report_never_pairs_or_drops_across_machines() {
    let (_, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ed_a, do_b) = (d.join("edA.jsonl"), d.join("doB.jsonl"));
    filtered(here, &ed_a, |r| r["model"]["kind"] == "encoder-decoder");
    filtered(&fixture(), &do_b, |r| r["model"]["kind"] == "decoder-only");
    let o = slmbench(d).args(["report", "edA.jsonl", "doB.jsonl", "-o", "r1"]).output().unwrap();
    ok(&o);
    let html = std::fs::read_to_string(d.join("r1/index.html")).unwrap();
    assert!(!html.contains("class=\"headline\""), "paired across machines");
    assert!(html.contains("Machine 1:") && html.contains("Machine 2:"), "both machines listed");
    assert!(stdout(&o).lines().next().unwrap().contains("| machine |"), "{}", stdout(&o));

    let o = slmbench(d).arg("report").arg(here).arg(fixture()).args(["-o", "r2"]).output().unwrap();
    ok(&o);
    assert!(!stderr(&o).contains("more than once"), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("r2/results.json")).unwrap()).unwrap();
    let cells = json.as_array().unwrap().iter().filter(|r| r["record"] != "pair-ratio").count();
    assert_eq!(cells, 8, "every cell of both machines kept");
    let html = std::fs::read_to_string(d.join("r2/index.html")).unwrap();
    // One headline per machine, each naming its machine.
    assert_eq!(html.matches("class=\"headline\"").count(), 2, "{html}");
    assert!(html.contains("on Fixture second machine"), "the headline names its machine");
}

/// Point 2: a file resumed with `--opt-level disable` after a default run paired the disabled
/// encoder-decoder with the default decoder-only, and both rows said "default".
#[test]
fn point_2_cells_of_other_settings_are_never_paired() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pair = tiny_pair(d);
    let out = d.join("r.jsonl");
    let sweep = ["-p", "8", "-n", "4", "-t", "1", "--warmup", "0", "-r", "10", "--min-repetitions", "10"];
    let run = |extra: &[&str]| {
        slmbench(d)
            .arg("run")
            .arg("--model")
            .arg(&pair)
            .args(sweep)
            .args(["--reloads", "1", "--no-roofline", "--no-accuracy", "--no-report"])
            .args(extra)
            .output()
            .unwrap()
    };
    ok(&run(&["-o", "r.jsonl"]));
    ok(&run(&["--resume", "r.jsonl", "--opt-level", "disable"]));
    let ratios: Vec<f64> = lines(&out)
        .iter()
        .filter(|r| r["record"] == "pair-ratio")
        .map(|r| r["ttft"]["value"].as_f64().unwrap())
        .collect();
    assert_eq!(ratios.len(), 2);
    let o = slmbench(d).args(["report", "r.jsonl", "-o", "rep"]).output().unwrap();
    ok(&o);
    assert!(stdout(&o).contains("| cpu | opt=disable |"), "the settings are named: {}", stdout(&o));
    let md = std::fs::read_to_string(d.join("rep/results.md")).unwrap();
    assert!(md.contains("| cpu opt=disable |"), "each pair's settings in its ratio row: {md}");
    let html = std::fs::read_to_string(d.join("rep/index.html")).unwrap();
    let head = html.split("data-ttft-ratio=\"").nth(1).unwrap().split('"').next().unwrap().parse::<f64>().unwrap();
    assert!(
        ratios.iter().any(|r| (r - head).abs() < 1e-5),
        "the headline {head} is one of the measured pairs' ratios {ratios:?}, not a cross of two settings"
    );
}

/// Point 3: `--resume FILE` appended this machine's cells to a file measured on another machine.
#[test]
fn point_3_resume_refuses_another_machines_file_and_fits_stay_apart() {
    let (pair, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let theirs = d.join("theirs.jsonl");
    std::fs::copy(fixture(), &theirs).unwrap();
    let before = std::fs::read(&theirs).unwrap();
    let o = run_sweep(d, pair).args(REPS).arg("--resume").arg(&theirs).output().unwrap();
    refused(&o, "was measured on another machine");
    assert!(stderr(&o).contains("CPU ") && stderr(&o).contains("not "), "{}", stderr(&o));
    assert_eq!(std::fs::read(&theirs).unwrap(), before, "nothing appended");
    // A device name is part of the machine too.
    let mine = d.join("mine.jsonl");
    std::fs::copy(here, &mine).unwrap();
    let o = run_sweep(d, pair).args(REPS).args(["--device-name", "bench-2", "--resume"]).arg(&mine).output().unwrap();
    refused(&o, "device name none, not bench-2");

    // predict fits each machine's cells on their own.
    let o = slmbench(d).arg("predict").arg(here).arg(fixture()).output().unwrap();
    ok(&o);
    let out = stdout(&o);
    let fits = out.split("### Crossovers").next().unwrap();
    let rows: Vec<&str> = fits.lines().filter(|l| l.starts_with("| tiny/")).collect();
    assert_eq!(rows.len(), 4, "a curve per model and machine: {fits}");
    assert_eq!(rows.iter().filter(|r| r.contains(" on Fixture second machine")).count(), 2, "{fits}");
    let o = slmbench(d).arg("predict").arg(fixture()).arg("--against").arg(here).output().unwrap();
    ok(&o);
    assert!(stdout(&o).contains("**Across machines**"), "{}", stdout(&o));
}

/// Point 4: `export` from `run --backend onnxruntime,candle` gave 2 Bencher keys for 4 cells.
#[cfg(feature = "candle")]
#[test]
fn point_4_exports_name_every_cell_and_keep_machines_apart() {
    let (pair, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = slmbench(d)
        .arg("run")
        .arg("--model")
        .arg(pair)
        .args(["--backend", "onnxruntime,candle", "-p", "8", "-n", "4", "-t", "1", "-r", "2", "--warmup", "0"])
        .args(["--no-report", "--no-roofline", "--no-accuracy", "-o", "two.jsonl"])
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(records(&d.join("two.jsonl")).len(), 4);
    ok(&slmbench(d).args(["export", "--format", "bencher", "two.jsonl", "-o", "b.json"]).output().unwrap());
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("b.json")).unwrap()).unwrap();
    assert_eq!(b.as_object().unwrap().len(), 4, "{b}");
    assert!(b.as_object().unwrap().keys().any(|k| k.starts_with("candle/cpu/")), "{b}");
    let o = slmbench(d).args(["export", "--format", "gh-smaller", "two.jsonl", "-o", "-"]).output().unwrap();
    ok(&o);
    let g: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut names: Vec<&str> = g.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    let n = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n, "duplicate names: {g}");
    // Two machines in one dashboard file: refused, naming both.
    let o =
        slmbench(d).args(["export", "--format", "bencher"]).arg(here).arg(fixture()).args(["-o", "x.json"]).output();
    refused(&o.unwrap(), "2 machines");
}

/// Point 5: `gate` passed a current run of `-r 1` ("no significant change", exit 0) where
/// `compare` said "n too small", and so did a slowdown at that n; a gate file with an empty
/// `[thresholds]` passed a 3× slowdown.
#[test]
fn point_5_a_gate_that_cannot_judge_does_not_pass() {
    let (pair, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let quick = ["-r", "1", "--min-repetitions", "1"];
    let measure = |out: &str, delay: Option<&str>| {
        let mut c = slmbench(d);
        if let Some(us) = delay {
            c.env("SLMBENCH_TEST_DELAY_US", us);
        }
        let o = c.arg("run").arg("--model").arg(pair).args(SWEEP).args(quick).args(["-o", out]).output().unwrap();
        ok(&o);
    };
    measure("one.jsonl", None);
    measure("slow.jsonl", Some("3000"));
    let gate = |current: &str, config: Option<&str>| {
        let mut c = slmbench(d);
        c.arg("gate").arg("--baseline").arg(here).args(["--current", current]);
        if let Some(cfg) = config {
            c.args(["--config", cfg]);
        }
        c.output().unwrap()
    };
    for current in ["one.jsonl", "slow.jsonl"] {
        let o = gate(current, None);
        refused(&o, "cannot judge");
        assert!(stderr(&o).contains("n too small (10 baseline and 1 current samples"), "{}", stderr(&o));
    }
    std::fs::write(d.join("empty.toml"), "alpha = 0.05\n[thresholds]\n").unwrap();
    refused(&gate("slow.jsonl", Some("empty.toml")), "[thresholds] is empty");
    // Point 13's twin: a number a gate file asks for is bounded before any work.
    std::fs::write(d.join("huge.toml"), "bootstrap_resamples = 1000000000\n[thresholds]\nttft = 0.05\n").unwrap();
    let start = std::time::Instant::now();
    refused(&gate("slow.jsonl", Some("huge.toml")), "bootstrap_resamples = 1000000000 must be from 100 to 100000");
    assert!(start.elapsed().as_secs() < 30);
    // Judged on enough samples, the same gate passes the same measurements.
    let o = slmbench(d).arg("gate").arg("--baseline").arg(here).arg("--current").arg(here).output().unwrap();
    ok(&o);
}

/// Point 7: `--pair tiny/encoder-decoder,small/decoder-only` (0.36M against 28.6M parameters)
/// was measured silently and reported 0.09×.
#[test]
fn point_7_a_pair_of_different_sizes_is_refused_unless_asked_and_then_said() {
    let (pair, _) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = d.join("small");
    ok(&slmbench(d).args(["models", "build", "--preset", "small", "--out"]).arg(&small).output().unwrap());
    let mixed = format!("{},{}", pair.join("encoder-decoder").display(), small.join("decoder-only").display());
    let run = |extra: &[&str]| {
        slmbench(d)
            .args(["run", "--pair", &mixed, "-p", "8", "-n", "4", "-t", "1", "-r", "2", "--warmup", "0"])
            .args(["--no-report", "--no-roofline", "--no-accuracy"])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&["-o", "mixed.jsonl"]);
    refused(&o, "apart");
    assert!(stderr(&o).contains("--allow-unmatched") && stderr(&o).contains("361664"), "{}", stderr(&o));
    assert!(!d.join("mixed.jsonl").exists(), "nothing measured, no file left");
    let o = run(&["-o", "mixed.jsonl", "--allow-unmatched"]);
    ok(&o);
    assert!(stdout(&o).contains("**Warning** (2 cells): unmatched pair"), "{}", stdout(&o));
    for r in records(&d.join("mixed.jsonl")) {
        assert!(r["warnings"][0].as_str().unwrap().starts_with("unmatched pair"), "{r}");
    }
}

/// Point 8: `predict --prompt 1000000` on a model of 256 positions predicted an end-to-end time
/// below its own TTFT, with negative intervals; `--prompt 18446744073709551615` was accepted.
#[test]
fn point_8_predictions_stay_within_the_model_and_never_go_negative() {
    let (_, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let predict = |prompt: &str, output: &str| {
        slmbench(d).arg("predict").arg(here).args(["--prompt", prompt, "--output", output, "--json", "p.json"]).output()
    };
    refused(&predict("1000000", "4").unwrap(), "positions, but the model takes");
    refused(&predict("18446744073709551615", "4").unwrap(), "lengths are at most 1048576 tokens");
    // Within the model but far past the measured lengths: every figure and bound is physical.
    ok(&predict("200", "50").unwrap());
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("p.json")).unwrap()).unwrap();
    for m in p["decision"]["predictions"].as_array().unwrap() {
        for f in ["ttft_mean_ms", "e2e_mean_ms", "ttft_p90_ms", "e2e_p90_ms"] {
            assert!(m[f]["low"].as_f64().unwrap() >= 0.0, "{f}: {m}");
        }
        assert!(m["e2e_mean_ms"]["value"].as_f64().unwrap() >= m["ttft_mean_ms"]["value"].as_f64().unwrap(), "{m}");
    }
}

/// Point 9: a median edited in the history database gave "0.130 (0.832–1.284)", a median outside
/// its own interval, in `history export` and `report`.
#[test]
fn point_9_a_stored_median_is_checked_against_its_samples() {
    let (_, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("h.sqlite");
    ok(&slmbench(d).args(["history", "add"]).arg(here).arg("--db").arg(&db).output().unwrap());
    let cell = records(here)[0].clone();
    let median = cell["metrics"]["ttft_ns"]["median"].as_f64().unwrap();
    let conn = slmbench_history::History::raw_connection(&db).unwrap();
    let json = |x: f64| serde_json::to_string(&x).unwrap();
    let (stored, edited) = (format!("\"median\":{}", json(median)), format!("\"median\":{}", json(median * 0.13)));
    let n = conn
        .execute(
            "UPDATE records SET json = replace(json, ?1, ?2) WHERE record_id = ?3",
            [stored.as_str(), edited.as_str(), cell["cell_id"].as_str().unwrap()],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let o = slmbench(d).args(["history", "export", "--db"]).arg(&db).output().unwrap();
    refused(&o, "is not the median of its own samples");
    assert!(stderr(&o).contains(cell["cell_id"].as_str().unwrap()));
    // The same edit in a results file: every reader refuses it, naming the line.
    let text = std::fs::read_to_string(here).unwrap().replacen(&stored, &edited, 1);
    std::fs::write(d.join("edited.jsonl"), text).unwrap();
    let o = slmbench(d).args(["report", "edited.jsonl", "-o", "rep"]).output().unwrap();
    refused(&o, "edited.jsonl:1: not a result record");
}

/// The second machine's file in every other command that sets files side by side: `compare` says
/// the change is between machines and calls nothing a regression; `gate` refuses another
/// machine's baseline unless asked; `merge` refuses to join machines; the history keeps each
/// machine's series apart and names it.
#[test]
fn another_machines_results_are_compared_openly_and_never_joined() {
    let (_, here) = here();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = slmbench(d).arg("compare").arg(fixture()).arg(here).output().unwrap();
    ok(&o);
    let out = stdout(&o);
    assert!(out.starts_with("**Across machines**: base measured on Fixture second machine"), "{out}");
    assert!(out.contains("not regressions") && !out.contains("regression |"), "{out}");

    let o = slmbench(d).arg("gate").arg("--baseline").arg(fixture()).arg("--current").arg(here).output().unwrap();
    refused(&o, "was measured on another machine");
    assert!(stderr(&o).contains("--allow-other-machine"), "{}", stderr(&o));

    let o = slmbench(d).arg("merge").arg(here).arg(fixture()).args(["-o", "both.jsonl"]).output().unwrap();
    refused(&o, "was measured on another machine");
    assert!(!d.join("both.jsonl").exists(), "no merged file left");

    let db = d.join("h.sqlite");
    for f in [here.clone(), fixture()] {
        ok(&slmbench(d).args(["history", "add"]).arg(f).arg("--db").arg(&db).output().unwrap());
    }
    let o = slmbench(d).args(["history", "list", "--db"]).arg(&db).output().unwrap();
    ok(&o);
    assert!(stdout(&o).contains("Fixture second machine (Cortex-A76)"), "{}", stdout(&o));
    let name = "tiny/decoder-only cpu t1 b1 p8 n4";
    let o = slmbench(d).args(["history", "show", "--cell", name, "--db"]).arg(&db).output().unwrap();
    ok(&o);
    let heads: Vec<String> = stdout(&o).lines().filter(|l| l.starts_with(name)).map(String::from).collect();
    assert_eq!(heads.len(), 2, "a series per machine: {}", stdout(&o));
    assert!(heads.iter().all(|h| h.ends_with(": 1 runs")), "never one series across machines: {heads:?}");
    assert_eq!(heads.iter().filter(|h| h.contains("Fixture second machine")).count(), 1, "{heads:?}");
}
