//! Observed placement: which execution provider ran each node, read from ONNX Runtime's profile
//! (Chrome trace JSON; one `"cat": "Node"` event named `<node>_kernel_time` per node run, with
//! `args.provider` and `dur` in µs). Registering a provider proves it loaded, not that it ran the
//! nodes: ONNX Runtime silently places what a provider cannot run on the CPU.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What ran where, over every node of a profiled generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// Distinct nodes per provider (ONNX Runtime's provider names).
    pub nodes_by_provider: BTreeMap<String, usize>,
    /// Kernel time per provider, µs, summed over the profiled runs.
    pub kernel_us_by_provider: BTreeMap<String, u64>,
    /// The provider with the most kernel time.
    pub main_provider: String,
    /// Share of distinct nodes the CPU provider ran (0 … 1).
    pub cpu_node_share: f64,
    /// Per provider, distinct nodes per operator type (`MatMul`: 12): what fell back, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operators_by_provider: BTreeMap<String, BTreeMap<String, usize>>,
}

pub const CPU: &str = "CPUExecutionProvider";

impl Placement {
    /// Reads one or more profiles (one per session of a model).
    pub fn from_profiles(profiles: &[&str]) -> Result<Placement, String> {
        let mut nodes: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        let mut time: BTreeMap<String, u64> = BTreeMap::new();
        let mut ops: BTreeMap<String, BTreeMap<String, std::collections::BTreeSet<String>>> = BTreeMap::new();
        for (i, text) in profiles.iter().enumerate() {
            let events: Vec<serde_json::Value> =
                serde_json::from_str(text).map_err(|e| format!("profile {i} is not ONNX Runtime's JSON: {e}"))?;
            for e in events.iter().filter(|e| e["cat"] == "Node") {
                let Some(name) = e["name"].as_str().and_then(|n| n.strip_suffix("_kernel_time")) else { continue };
                let provider = e["args"]["provider"].as_str().unwrap_or("unknown").to_string();
                *time.entry(provider.clone()).or_default() += e["dur"].as_u64().unwrap_or(0);
                // Sessions are told apart: two graphs may name a node alike.
                let op = e["args"]["op_name"].as_str().unwrap_or("unknown").to_string();
                ops.entry(provider.clone()).or_default().entry(op).or_default().insert(format!("{i}/{name}"));
                nodes.entry(provider).or_default().insert(format!("{i}/{name}"));
            }
        }
        let total: usize = nodes.values().map(|s| s.len()).sum();
        if total == 0 {
            return Err("the profile holds no node: was profiling on during a run?".into());
        }
        let main_provider = time.iter().max_by_key(|(_, t)| **t).map(|(p, _)| p.clone()).unwrap_or_default();
        let cpu = nodes.get(CPU).map_or(0, |s| s.len());
        Ok(Placement {
            nodes_by_provider: nodes.into_iter().map(|(p, s)| (p, s.len())).collect(),
            kernel_us_by_provider: time,
            main_provider,
            cpu_node_share: cpu as f64 / total as f64,
            operators_by_provider: ops
                .into_iter()
                .map(|(p, o)| (p, o.into_iter().map(|(op, n)| (op, n.len())).collect()))
                .collect(),
        })
    }

    /// What `--strict-placement` refuses: `None` when every node ran on `want` (ONNX Runtime's
    /// provider name), else which providers ran how many nodes instead, naming their operators.
    pub fn off_provider(&self, want: &str) -> Option<String> {
        let total: usize = self.nodes_by_provider.values().sum();
        let elsewhere: Vec<String> = self
            .nodes_by_provider
            .iter()
            .filter(|(name, _)| name.as_str() != want)
            .map(|(name, n)| {
                let ops = self.operators_by_provider.get(name).map(|o| {
                    let list: Vec<String> = o.iter().map(|(op, k)| format!("{op} ×{k}")).collect();
                    format!(" ({})", list.join(", "))
                });
                format!("{n} of {total} nodes on {name}{}", ops.unwrap_or_default())
            })
            .collect();
        (!elsewhere.is_empty()).then(|| format!("{} instead of {want}", elsewhere.join(", ")))
    }

    /// The warning a cell carries when nodes ran off the provider asked for (`requested`, as
    /// `--ep` names it) without `--strict-placement`: exact node counts, and what to do.
    pub fn fallback_warning(&self, requested: crate::ep::Ep) -> Option<String> {
        let off = self.off_provider(requested.runtime_name())?;
        Some(format!(
            "placement: {off} (requested --ep {requested}); these timings are partly or mostly of the other \
             provider; --strict-placement refuses such a cell"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)).unwrap()
    }

    /// A profile recorded with ONNX Runtime 1.32 (one prefill of the genai llama-tiny fixture on
    /// the CPU), and the same with its MatMul and GroupQueryAttention nodes marked as run by CUDA
    /// (hand-edited: what a partial GPU placement looks like).
    #[test]
    fn shares_per_provider_from_recorded_profiles() {
        let cpu = Placement::from_profiles(&[&data("profile-cpu.json")]).unwrap();
        assert_eq!(cpu.nodes_by_provider, BTreeMap::from([(CPU.to_string(), 29)]));
        assert_eq!((cpu.main_provider.as_str(), cpu.cpu_node_share), (CPU, 1.0));
        let two = Placement::from_profiles(&[&data("profile-cuda-cpu.json")]).unwrap();
        assert_eq!(two.nodes_by_provider["CUDAExecutionProvider"], 13);
        assert_eq!(two.nodes_by_provider[CPU], 16);
        assert!((two.cpu_node_share - 16.0 / 29.0).abs() < 1e-12);
        assert_eq!(two.kernel_us_by_provider["CUDAExecutionProvider"], 934);
        assert_eq!(two.kernel_us_by_provider.values().sum::<u64>(), 1766);
        // 934 of 1,766 µs: CUDA ran most of the compute, though fewer nodes.
        assert_eq!(two.main_provider, "CUDAExecutionProvider");
    }

    /// `--strict-placement` on a recorded placement: a run that put nodes on the CPU while CUDA
    /// was asked for is refused, naming the operators; one that stayed whole passes.
    #[test]
    fn strict_placement_refuses_a_recorded_fallback() {
        let two = Placement::from_profiles(&[&data("profile-cuda-cpu.json")]).unwrap();
        let why = two.off_provider("CUDAExecutionProvider").expect("a fallback is refused");
        assert!(why.starts_with("16 of 29 nodes on CPUExecutionProvider ("), "{why}");
        assert!(why.contains("Gather ×") && why.ends_with("instead of CUDAExecutionProvider"), "{why}");
        let cuda_ops: usize = two.operators_by_provider["CUDAExecutionProvider"].values().sum();
        assert_eq!(cuda_ops, 13);
        assert!(!why.contains("MatMul"), "MatMul ran on CUDA in the recording: {why}");
        let cpu = Placement::from_profiles(&[&data("profile-cpu.json")]).unwrap();
        assert_eq!(cpu.off_provider(CPU), None);
        assert!(
            cpu.off_provider("CUDAExecutionProvider").unwrap().starts_with("29 of 29 nodes on CPUExecutionProvider")
        );
        // Without --strict-placement the same fallback is measured, and said with exact counts.
        let w = two.fallback_warning(crate::ep::Ep::Cuda).expect("a fallback is a warning");
        assert!(w.starts_with("placement: 16 of 29 nodes on CPUExecutionProvider (") && w.contains("--ep cuda"), "{w}");
        assert_eq!(cpu.fallback_warning(crate::ep::Ep::Cpu), None);
        // Records written before operators were kept still refuse, by counts alone.
        let old = Placement { operators_by_provider: BTreeMap::new(), ..two };
        assert_eq!(
            old.off_provider("CUDAExecutionProvider").unwrap(),
            "16 of 29 nodes on CPUExecutionProvider instead of CUDAExecutionProvider"
        );
    }
}
