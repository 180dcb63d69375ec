//! Versioned benchmark scenarios: a fixed workload (pairs, sweep, statistical target) that two
//! people on two devices can both run and say they measured the same thing. A scenario is a TOML
//! file kept in the repository (`benches/scenarios/`); its SHA-256 over the file's bytes is its
//! identity, recorded in every cell it produced. What a device may choose (provider, threads,
//! backend) is stated in the file; everything else is fixed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ResultsError;

/// A scenario as its file states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// `NAME-vN`: a changed workload gets a new version, never the same name.
    pub name: String,
    pub version: u32,
    pub description: String,
    #[serde(rename = "pair")]
    pub pairs: Vec<ScenarioPair>,
    pub sweep: ScenarioSweep,
    pub statistics: ScenarioStatistics,
    pub devices: DeviceRules,
    /// Each model the scenario builds, by its name in the results (`small/encoder-decoder`,
    /// `paper-int4/decoder-only`), with the content hash its deterministic build has.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
}

/// One preset pair and the variants every provider without its own list runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioPair {
    pub preset: String,
    /// The build seed of the random weights (slmbench builds presets with seed 0).
    pub seed: u64,
    pub precision: Vec<String>,
    pub graph: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSweep {
    pub input_tokens: Vec<usize>,
    pub output_tokens: Vec<usize>,
    pub batch: Vec<usize>,
    /// Seed of the synthetic prompts.
    pub prompt_seed: u64,
}

/// When a pair cell has measured enough: its ratios' paired intervals within ± `target_ci`, or
/// `max_blocks`, or `max_time_s`; never fewer than `min_blocks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioStatistics {
    pub target_ci: f64,
    pub min_blocks: usize,
    pub max_blocks: usize,
    pub max_time_s: f64,
    pub warmup: usize,
    /// Loads of the two models each pair cell's blocks are spread over.
    pub reloads: usize,
}

/// What a device may choose: the providers and backends it may run the scenario on (any thread
/// count), and for a provider that needs other builds (an NPU: QDQ), the variants it runs instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRules {
    pub providers: Vec<String>,
    pub backends: Vec<String>,
    #[serde(default)]
    pub variants: BTreeMap<String, ProviderVariants>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderVariants {
    pub precision: Vec<String>,
    pub graph: Vec<String>,
}

/// What a record says of the scenario that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioId {
    pub name: String,
    /// SHA-256 of the scenario file's bytes, hex.
    pub sha256: String,
}

/// The scenarios kept in the repository, by name, as this build embeds them.
pub const BUILT_IN: [(&str, &str); 2] = [
    ("quick-v1", include_str!("../../benches/scenarios/quick-v1.toml")),
    ("edge-v1", include_str!("../../benches/scenarios/edge-v1.toml")),
];

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Scenario {
    /// Parses and checks a scenario's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ResultsError> {
        let s: Scenario =
            toml::from_str(text).map_err(|e| ResultsError::BadInput(format!("scenario {origin}: {e}")))?;
        s.validate().map_err(|why| ResultsError::BadInput(format!("scenario {origin}: {why}")))?;
        Ok(s)
    }

    /// A built-in scenario by name, or a file by path; with its identity.
    pub fn load(name_or_path: &str) -> Result<(Scenario, ScenarioId), ResultsError> {
        let (text, origin) = match BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, t)) => (t.to_string(), format!("`{n}` (built in)")),
            None if name_or_path.ends_with(".toml") || std::path::Path::new(name_or_path).exists() => {
                let text = std::fs::read_to_string(name_or_path).map_err(|e| {
                    ResultsError::BadInput(format!("--scenario {name_or_path}: cannot read the file: {e}"))
                })?;
                (text, name_or_path.to_string())
            }
            None => {
                let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
                return Err(ResultsError::BadInput(format!(
                    "--scenario {name_or_path}: no such scenario; built in: {} (or give a .toml file's path)",
                    names.join(", ")
                )));
            }
        };
        let s = Scenario::parse(&text, &origin)?;
        let id = ScenarioId { name: s.name.clone(), sha256: sha256_hex(text.as_bytes()) };
        Ok((s, id))
    }

    fn validate(&self) -> Result<(), String> {
        let suffix = format!("-v{}", self.version);
        if !self.name.ends_with(&suffix) {
            return Err(format!("name `{}` must end in `{suffix}` (its version)", self.name));
        }
        if self.pairs.is_empty() {
            return Err("no [[pair]]: a scenario measures at least one pair".into());
        }
        for p in &self.pairs {
            if p.seed != 0 {
                return Err(format!("pair {}: seed {}: slmbench builds presets with seed 0", p.preset, p.seed));
            }
            if p.precision.is_empty() || p.graph.is_empty() {
                return Err(format!("pair {}: list at least one precision and one graph", p.preset));
            }
        }
        let w = &self.sweep;
        if [&w.input_tokens, &w.output_tokens, &w.batch].iter().any(|l| l.is_empty() || l.contains(&0)) {
            return Err("[sweep]: input_tokens, output_tokens and batch each list at least one positive value".into());
        }
        let t = &self.statistics;
        if !(t.target_ci > 0.0 && t.target_ci < 1.0) {
            return Err(format!("[statistics] target_ci {}: a fraction between 0 and 1", t.target_ci));
        }
        // A paired interval needs 10 blocks (see `crate::paired`).
        if t.min_blocks < crate::paired::MIN_BLOCKS_FOR_CI || t.min_blocks > t.max_blocks {
            return Err(format!(
                "[statistics] min_blocks {} / max_blocks {}: at least {} blocks for a paired interval, and min ≤ max",
                t.min_blocks,
                t.max_blocks,
                crate::paired::MIN_BLOCKS_FOR_CI
            ));
        }
        if t.max_time_s.is_nan() || t.max_time_s <= 0.0 || t.reloads == 0 {
            return Err("[statistics]: max_time_s and reloads must be positive".into());
        }
        if self.devices.providers.is_empty() || self.devices.backends.is_empty() {
            return Err("[devices]: list the providers and backends a device may run it on".into());
        }
        if let Some(p) = self.devices.variants.keys().find(|p| !self.devices.providers.contains(p)) {
            return Err(format!("[devices.variants.{p}]: {p} is not in [devices] providers"));
        }
        Ok(())
    }

    /// The precisions and graphs `provider` runs of `pair`.
    pub fn variants_for<'a>(&'a self, pair: &'a ScenarioPair, provider: &str) -> (&'a [String], &'a [String]) {
        match self.devices.variants.get(provider) {
            Some(v) => (&v.precision, &v.graph),
            None => (&pair.precision, &pair.graph),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_scenarios_parse_and_are_versioned() {
        for (name, text) in BUILT_IN {
            let s = Scenario::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.name, name);
            assert!(!s.models.is_empty(), "{name} lists its models' hashes");
        }
        let (_, id) = Scenario::load("quick-v1").unwrap();
        assert_eq!(id.sha256, sha256_hex(BUILT_IN[0].1.as_bytes()));
    }

    #[test]
    fn bad_scenarios_name_what_to_fix() {
        let good = BUILT_IN[0].1;
        let cases = [
            (good.replace("name = \"quick-v1\"", "name = \"quick\""), "must end in `-v1`"),
            (good.replace("min_blocks = 10", "min_blocks = 4"), "at least 10 blocks"),
            (good.replace("target_ci = 0.05", "target_ci = 5"), "target_ci 5"),
            (format!("surprise = 1\n{good}"), "unknown field `surprise`"),
        ];
        for (text, needle) in cases {
            let e = Scenario::parse(&text, "t").unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let e = Scenario::load("nope-v1").unwrap_err().to_string();
        assert!(e.contains("built in: quick-v1, edge-v1"), "{e}");
    }
}
