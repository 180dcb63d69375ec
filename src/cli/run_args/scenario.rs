//! `run --scenario`: a versioned workload (`benches/scenarios/`) fixes what is measured and for
//! how long; the device chooses only what the scenario's `[devices]` allows (provider, backend,
//! threads) and what a provider needs (its options, strict placement, IO binding, an EP context
//! cache), its name, and where results go.

use anyhow::{Result, bail};
use slmbench_results::scenario::{Scenario, ScenarioId};

use super::RunArgs;
use crate::cli::OrderArg;

/// The flags a scenario fixes, refused beside `--scenario` (clap's ids: the fields' names).
pub(in crate::cli) const FIXED: [&str; 22] = [
    "model",
    "pair",
    "preset",
    "precision",
    "graph",
    "input_tokens",
    "output_tokens",
    "batch",
    "repetitions",
    "min_repetitions",
    "warmup",
    "max_time",
    "target_ci",
    "order",
    "reloads",
    "prompt_ids",
    "seed",
    "stop_at_eos",
    "decoder",
    // Runtime settings that change every timing: a scenario measures the runtime's own defaults.
    "opt_level",
    "spinning",
    "session_opt",
];

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// Sets the flags from `a.scenario`'s file; its identity goes into every record.
pub(in crate::cli) fn apply(a: &mut RunArgs) -> Result<Option<ScenarioId>> {
    let Some(name) = a.scenario.clone() else { return Ok(None) };
    let (s, id) = Scenario::load(&name)?;
    for ep in &a.ep {
        if !s.devices.providers.contains(&ep.to_string()) {
            bail!("--ep {ep}: scenario {} runs on {} only", s.name, s.devices.providers.join(", "));
        }
    }
    for b in &a.backend {
        if !s.devices.backends.iter().any(|x| x == b.name()) {
            bail!("--backend {}: scenario {} runs on {} only", b.name(), s.name, s.devices.backends.join(", "));
        }
    }
    // One run builds one set of variants: the providers asked must share theirs.
    let mut chosen: Option<(&[String], &[String])> = None;
    for pair in &s.pairs {
        for ep in &a.ep {
            let v = s.variants_for(pair, &ep.to_string());
            match chosen {
                Some(c) if c != v => bail!(
                    "scenario {}: its pairs or the providers of --ep {} run different builds; run each provider (or pair) on its own",
                    s.name,
                    list(&a.ep)
                ),
                _ => chosen = Some(v),
            }
        }
    }
    let (precision, graph) = chosen.unwrap_or_default();
    let parse = |what: &str, v: &str| anyhow::anyhow!("scenario {}: {what} `{v}` is not one this build knows", s.name);
    a.precision = precision.iter().map(|p| p.parse().map_err(|_| parse("precision", p))).collect::<Result<_>>()?;
    a.graph = graph.iter().map(|g| g.parse().map_err(|_| parse("graph", g))).collect::<Result<_>>()?;
    a.preset = Some(s.pairs.iter().map(|p| p.preset.clone()).collect::<Vec<_>>().join(","));
    a.input_tokens = list(&s.sweep.input_tokens);
    a.output_tokens = list(&s.sweep.output_tokens);
    a.batch = list(&s.sweep.batch);
    a.seed = s.sweep.prompt_seed;
    let t = &s.statistics;
    a.repetitions = t.max_blocks;
    a.min_repetitions = Some(t.min_blocks);
    a.max_time = t.max_time_s;
    a.target_ci = t.target_ci;
    a.warmup = t.warmup;
    a.reloads = Some(t.reloads as u64);
    a.order = OrderArg::Interleaved;
    Ok(Some(id))
}
