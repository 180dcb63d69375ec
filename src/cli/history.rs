//! `slmbench history`: the run history database (add, list, show, export), and what `run`,
//! `report` and `gate` take from it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use slmbench_history::{History, StoredCell};
use slmbench_reports::analysis::trend::{CellTrend, ChangeConfig, HistorySection, TrendPoint};
use slmbench_results::identity::cell_name;
use slmbench_results::metric::Metric;
use slmbench_results::schema::CellResult;

/// Where the history lives unless `--db` or `SLMBENCH_HISTORY` says otherwise.
pub(super) const DEFAULT_DB: &str = "reports/history.sqlite";

#[derive(Args, Debug)]
pub(super) struct Db {
    /// The history database (SQLite; created when missing).
    #[arg(long, env = "SLMBENCH_HISTORY", default_value = DEFAULT_DB)]
    db: PathBuf,
}

#[derive(Subcommand, Debug)]
pub(super) enum HistoryCommand {
    /// Import results files (any schema version); records already there are stored once.
    Add {
        #[arg(required = true)]
        results: Vec<PathBuf>,
        #[command(flatten)]
        db: Db,
    },
    /// The runs, oldest first: commit, start time, machine, records.
    List {
        #[command(flatten)]
        db: Db,
    },
    /// One metric of one cell across runs, with its change points.
    Show {
        /// A cell id, or a cell's name as the tables write it (`tiny/decoder-only cpu t1 b1 p8 n4`).
        #[arg(long)]
        cell: String,
        /// ttft, itl, decode_tokens_per_s, e2e_tokens_per_s, …
        #[arg(long, default_value = "ttft")]
        metric: String,
        #[command(flatten)]
        db: Db,
    },
    /// A consistent copy of the database (SQLite's `VACUUM INTO`), safe while runs add to it.
    Backup {
        /// The copy (must not exist).
        out: PathBuf,
        #[command(flatten)]
        db: Db,
    },
    /// Every record as JSON Lines (what `report` and `history add` read back).
    Export {
        /// Output file (`-`: stdout).
        #[arg(short = 'o', long, default_value = "-")]
        out: PathBuf,
        /// Replace an existing -o file.
        #[arg(long)]
        overwrite: bool,
        #[command(flatten)]
        db: Db,
    },
}

pub(super) fn open(db: &Path) -> Result<History> {
    History::open(db).with_context(|| format!("opening the history (check --history / --db {})", db.display()))
}

/// As [`open`], for commands that only read: a missing database is an error, not created.
fn open_existing(db: &Path) -> Result<History> {
    History::open_existing(db).with_context(|| format!("opening the history (check --history / --db {})", db.display()))
}

/// Imports one results file; what was added and what was already there, on stderr.
pub(super) fn add_file(h: &mut History, path: &Path) -> Result<slmbench_history::Added> {
    let file = slmbench_history::import::read(path)?;
    for w in &file.warnings {
        eprintln!("slmbench: warning: {w}");
    }
    eprintln!("slmbench: history: importing {} records of {}", file.records.len(), path.display());
    let pause = || slmbench_results::context::test_pause("HISTORY");
    let added = h.add(&path.display().to_string(), &file.records, &pause)?;
    eprintln!(
        "slmbench: history: {} added from {}, {} already in {}",
        added.added,
        path.display(),
        added.already,
        h.path().display()
    );
    Ok(added)
}

/// What `run --history` hands the results writer: each record added to the history as it is
/// written. The database is opened now, so a bad path fails before anything is measured; a failed
/// add later is a warning (the results file has the record; `history add` imports it again).
pub(super) fn recorder(db: &Path, output: &str) -> Result<slmbench_results::export::OnRecord> {
    let mut h = open(db)?;
    let (db, output) = (db.to_path_buf(), output.to_string());
    Ok(Box::new(move |r| {
        let raw = slmbench_history::import::raw(r);
        if let Err(e) = h.add(&output, std::slice::from_ref(&raw), &|| ()) {
            eprintln!(
                "slmbench: warning: {} not added to the history {}: {e}; `slmbench history add {output} --db {}` adds it later",
                r.cell_id(),
                db.display(),
                db.display()
            );
        }
    }))
}

pub(super) fn history(c: HistoryCommand) -> Result<()> {
    match c {
        HistoryCommand::Add { results, db } => {
            let mut h = open(&db.db)?;
            for r in &results {
                add_file(&mut h, r)?;
            }
        }
        HistoryCommand::List { db } => {
            let h = open_existing(&db.db)?;
            println!(
                "| run | commit | started | machine | cells | failed | ratios | build |\n| ---: | --- | --- | --- | ---: | ---: | ---: | --- |"
            );
            for (i, r) in h.runs()?.iter().enumerate() {
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    i + 1,
                    r.suite_commit,
                    r.started,
                    r.machine,
                    r.cells,
                    r.failed,
                    r.ratios,
                    r.build_profile
                );
            }
        }
        HistoryCommand::Show { cell, metric, db } => {
            let m = Metric::parse(&metric).with_context(|| {
                format!("--metric {metric}: not a metric; one of {}", Metric::ALL.map(|m| m.name()).join(", "))
            })?;
            let h = open_existing(&db.db)?;
            let all = h.distinct_cells()?;
            let ids: Vec<&(String, CellResult)> =
                all.iter().filter(|(id, c)| id == &cell || cell_name(c) == cell).collect();
            if ids.is_empty() {
                let mut names: Vec<String> = all.iter().map(|(_, c)| cell_name(c)).collect();
                names.dedup();
                let more = if names.len() > 12 { format!(" and {} more", names.len() - 12) } else { String::new() };
                names.truncate(12);
                bail!(
                    "--cell {cell}: no such cell (id or name) in {}; it holds: {}{more}",
                    db.db.display(),
                    if names.is_empty() { "nothing yet".to_string() } else { names.join("; ") }
                );
            }
            for (_, c) in ids {
                let t = trend(&series_of(&h, c)?, c, m);
                // A cell measured on several machines is a series per machine, each named.
                println!("{} ({}) on {}: {} runs", t.name, t.cell_id, c.context.fingerprint(), t.points.len());
                println!(
                    "| run | commit | started | median ({}) | 95% CI | change |\n| ---: | --- | --- | ---: | --- | --- |",
                    m.unit().name()
                );
                for (i, p) in t.points.iter().enumerate() {
                    let ci = p.ci95.map(|(l, h)| format!("{:.3}–{:.3}", l * m.scale(), h * m.scale()));
                    let step = t.changes.iter().find(|c| c.index == i);
                    println!(
                        "| {} | {} | {} | {:.3} | {} | {} |",
                        i + 1,
                        p.commit,
                        p.started,
                        p.median * m.scale(),
                        ci.unwrap_or_else(|| "n too small".into()),
                        step.map(|c| format!("step {:+.1}% (p {:.1e})", c.shift * 100.0, c.p_value))
                            .unwrap_or_default()
                    );
                }
            }
        }
        HistoryCommand::Backup { out, db } => {
            if out.exists() {
                bail!("{} exists; back up to a new file", out.display());
            }
            open_existing(&db.db)?.backup(&out)?;
            eprintln!("slmbench: history: {} copied to {}", db.db.display(), out.display());
        }
        HistoryCommand::Export { out, overwrite, db } => {
            let target = slmbench_results::export::Output::claim(&out, overwrite)?;
            let h = open_existing(&db.db)?;
            let mut buf = vec![];
            let n = h.export(&mut buf)?;
            // Whole or not at all, like every results file slmbench writes.
            target.write(&buf).with_context(|| format!("cannot write {}", target.name()))?;
            eprintln!("slmbench: history: {n} records exported");
        }
    }
    Ok(())
}

/// The records of the cell `like` across the runs on the machine that measured it.
fn series_of(h: &History, like: &CellResult) -> Result<Vec<StoredCell>> {
    Ok(h.cell_series(&like.cell_id, Some(&like.context.fingerprint()))?)
}

/// Metric `m` of the cell `like` across `series` (its records, oldest run first).
fn trend(series: &[StoredCell], like: &CellResult, m: Metric) -> CellTrend {
    let points = series
        .iter()
        .filter_map(|s| {
            m.summary(&s.cell).map(|sum| TrendPoint {
                commit: s.suite_commit.clone(),
                started: s.started.clone(),
                median: sum.median,
                ci95: sum.ci95_low.zip(sum.ci95_high),
            })
        })
        .collect();
    CellTrend::new(like.cell_id.clone(), cell_name(like), m, points, &ChangeConfig::default())
}

/// The trends `report --history` draws: TTFT and ITL of each of the report's cells.
pub(super) fn section(db: &Path, cells: &[CellResult]) -> Result<HistorySection> {
    let h = open_existing(db)?;
    let mut s = HistorySection {
        source: db.display().to_string(),
        runs: h.runs()?.len(),
        config: Some(ChangeConfig::default()),
        ..HistorySection::default()
    };
    for c in cells {
        let series = series_of(&h, c)?;
        let mut any = false;
        for m in [Metric::Ttft, Metric::Itl] {
            let t = trend(&series, c, m);
            if t.points.len() >= 2 {
                s.trends.push(t);
                any = true;
            }
        }
        if !any {
            s.too_short.push(cell_name(c));
        }
    }
    Ok(s)
}

/// The gate's baseline from the history: per cell of `current`, its records from the last `last`
/// runs on the same machine (the runtime is in the cell id), other than the current run itself,
/// pooled into one cell. `last` is at least 1 (clap bounds `--last`).
pub(super) fn pooled_baseline(db: &Path, current: &[CellResult], last: usize) -> Result<Vec<CellResult>> {
    let h = open_existing(db)?;
    let mut out = vec![];
    for c in current {
        let own = h.run_of(&c.context)?;
        let mut earlier: Vec<_> = series_of(&h, c)?.into_iter().filter(|s| Some(s.run_id) != own).collect();
        if earlier.is_empty() {
            bail!(
                "{} has no earlier run of {} on this machine; add one (`slmbench history add RESULTS` or `run --history`) or gate against --baseline FILE",
                db.display(),
                cell_name(c)
            );
        }
        let from = earlier.len().saturating_sub(last);
        let runs = earlier.split_off(from);
        // The latest record, with the earlier runs' samples added to its own.
        let (latest, before) = runs.split_last().expect("at least one earlier run");
        let mut pooled = latest.cell.clone();
        let s = &mut pooled.samples;
        for r in before {
            s.ttft_ns.extend(&r.cell.samples.ttft_ns);
            s.encoder_ns.extend(&r.cell.samples.encoder_ns);
            s.first_decoder_step_ns.extend(&r.cell.samples.first_decoder_step_ns);
            s.itl_ns.extend(r.cell.samples.itl_ns.iter().cloned());
        }
        pooled.refresh_summaries();
        eprintln!(
            "slmbench: gate: baseline of {} pools {} run(s): {}",
            cell_name(c),
            runs.len(),
            runs.iter().map(|r| r.suite_commit.as_str()).collect::<Vec<_>>().join(", ")
        );
        out.push(pooled);
    }
    Ok(out)
}
