//! A build variant of a pair: the weights' precision and the graph's operators.

use crate::graph::GraphVariant;
use crate::quant::Precision;
use crate::weights::Storage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Variant {
    pub precision: Precision,
    pub graph: GraphVariant,
}

impl Variant {
    pub fn new(precision: Precision, graph: GraphVariant) -> Variant {
        Variant { precision, graph }
    }

    /// What a pair's name and cache folder get: nothing for fp32 plain (the names from before
    /// variants existed, which gate baselines key on), else `-int4`, `-fused`, `-int4-fused`.
    pub fn suffix(self) -> String {
        let mut s = String::new();
        if self.precision != Precision::Fp32 {
            s.push_str(&format!("-{}", self.precision));
        }
        if self.graph != GraphVariant::Plain {
            s.push_str(&format!("-{}", self.graph));
        }
        s
    }

    /// The folder of this variant when one build writes several: `fp32`, `int4`, `fp32-fused`.
    pub fn folder(self) -> String {
        match self.graph {
            GraphVariant::Plain => self.precision.to_string(),
            g => format!("{}-{g}", self.precision),
        }
    }

    /// Every combination that can be built, precisions outermost: fp16 only as a fused graph
    /// ([`crate::half`]), bf16 and the QDQ precisions only as plain ones ([`crate::qdq`]). Err names what
    /// to add when a precision has no buildable graph.
    pub fn all(precisions: &[Precision], graphs: &[GraphVariant]) -> Result<Vec<Variant>, String> {
        let mut out = vec![];
        for &p in precisions {
            let ok: Vec<Variant> = graphs.iter().map(|&g| Variant::new(p, g)).filter(|v| v.buildable()).collect();
            if ok.is_empty() {
                let only = if p == Precision::Fp16 { "fused" } else { "plain" };
                return Err(format!(
                    "{p} is built as a {only} graph only: add --graph {only} (or --graph plain,fused)"
                ));
            }
            out.extend(ok);
        }
        Ok(out)
    }

    pub fn buildable(self) -> bool {
        match self.precision {
            Precision::Fp16 => self.graph == GraphVariant::Fused,
            p if p.activation_bits().is_some() || p == Precision::Bf16 => self.graph == GraphVariant::Plain,
            _ => true,
        }
    }

    /// How to build this variant (seed 0, no extra files); a QDQ variant's ranges are still to be
    /// calibrated.
    pub fn build_options(self) -> crate::BuildOptions {
        crate::BuildOptions {
            quant: self.precision.options(),
            graph: self.graph,
            storage: match self.precision {
                Precision::Fp16 => Storage::F16,
                Precision::Bf16 => Storage::Bf16,
                _ => Storage::F32,
            },
            qdq: self.precision.activation_bits().map(crate::qdq::QdqOptions::uncalibrated),
            ..Default::default()
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.precision, self.graph)
    }
}
