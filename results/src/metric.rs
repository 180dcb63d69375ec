//! The metrics, typed: each knows its name, unit, direction and where its samples are in a
//! record. Gate, compare, charts and exporters take a [`Metric`] instead of a string, so a number
//! and the unit it is shown in cannot part.

use serde::{Deserialize, Serialize};

use crate::schema::{CellResult, Samples};
use crate::stats::Summary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Time to first token: start of inference to the first new token id in host memory.
    Ttft,
    /// The encoder pass (encoder-decoder only; part of TTFT).
    Encoder,
    /// The first decoder step, or the prefill (the rest of TTFT).
    FirstDecoderStep,
    /// Inter-token latency, pooled over every later token of every repetition.
    Itl,
    /// Later tokens per second of one sequence, per repetition.
    DecodeTokensPerS,
    /// Every new token over TTFT + Σ ITL, per repetition.
    E2eTokensPerS,
    /// Prompt tokens over TTFT, per repetition.
    PrefillTokensPerS,
}

/// The unit a metric is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    #[serde(rename = "ms")]
    Ms,
    #[serde(rename = "tokens/s")]
    TokensPerS,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::TokensPerS => "tokens/s",
        }
    }
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Ttft,
        Metric::Encoder,
        Metric::FirstDecoderStep,
        Metric::Itl,
        Metric::DecodeTokensPerS,
        Metric::E2eTokensPerS,
        Metric::PrefillTokensPerS,
    ];

    /// The metrics gate and compare judge by default.
    pub const HEADLINE: [Metric; 3] = [Metric::Ttft, Metric::Itl, Metric::E2eTokensPerS];

    /// The key of the metric in `ci/gate.toml` and in dashboards' JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ttft => "ttft",
            Metric::Encoder => "encoder",
            Metric::FirstDecoderStep => "first_decoder_step",
            Metric::Itl => "itl",
            Metric::DecodeTokensPerS => "decode_tokens_per_s",
            Metric::E2eTokensPerS => "e2e_tokens_per_s",
            Metric::PrefillTokensPerS => "prefill_tokens_per_s",
        }
    }

    /// The name with its unit, as `compare --json` and table columns write it (`ttft_ms`).
    pub fn name_with_unit(self) -> String {
        match self.unit() {
            Unit::Ms => format!("{}_ms", self.name()),
            Unit::TokensPerS => self.name().to_string(),
        }
    }

    /// A short human label (`TTFT`, `e2e tok/s`).
    pub fn label(self) -> &'static str {
        match self {
            Metric::Ttft => "TTFT",
            Metric::Encoder => "encoder",
            Metric::FirstDecoderStep => "first decoder step",
            Metric::Itl => "ITL",
            Metric::DecodeTokensPerS => "decode tok/s",
            Metric::E2eTokensPerS => "e2e tok/s",
            Metric::PrefillTokensPerS => "prefill tok/s",
        }
    }

    /// The metric named `name` (see [`Metric::name`]).
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::Ttft | Metric::Encoder | Metric::FirstDecoderStep | Metric::Itl => Unit::Ms,
            _ => Unit::TokensPerS,
        }
    }

    /// From the recorded unit (ns for latencies) to the shown one.
    pub fn scale(self) -> f64 {
        match self.unit() {
            Unit::Ms => 1e-6,
            Unit::TokensPerS => 1.0,
        }
    }

    pub fn lower_is_better(self) -> bool {
        self.unit() == Unit::Ms
    }

    /// The raw samples of a record, in the recorded unit (ns, tokens/s): one per repetition, or
    /// one per token for ITL. Empty where the record has none (ITL with one new token).
    pub fn samples(self, c: &CellResult) -> Vec<f64> {
        let new_tokens = c.output_token_ids.first().map(|r| r.len()).unwrap_or(c.sweep.output_tokens);
        self.samples_of(&c.samples, c.sweep.input_tokens, new_tokens)
    }

    /// As [`Metric::samples`], from the raw readings of a cell with `input_tokens` prompt tokens
    /// that generated `new_tokens` per row (what the harness computes a record's metrics from).
    pub fn samples_of(self, s: &Samples, input_tokens: usize, new_tokens: usize) -> Vec<f64> {
        let f = |v: &[u64]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        match self {
            Metric::Ttft => f(&s.ttft_ns),
            Metric::Encoder => f(&s.encoder_ns),
            Metric::FirstDecoderStep => f(&s.first_decoder_step_ns),
            Metric::Itl => s.itl_ns.iter().flatten().map(|&x| x as f64).collect(),
            Metric::DecodeTokensPerS => s
                .itl_ns
                .iter()
                .filter(|r| !r.is_empty())
                .map(|r| r.len() as f64 / (r.iter().sum::<u64>() as f64 / 1e9))
                .collect(),
            Metric::E2eTokensPerS => {
                let n = new_tokens as f64;
                s.ttft_ns
                    .iter()
                    .zip(&s.itl_ns)
                    .map(|(&t, itl)| n / ((t + itl.iter().sum::<u64>()) as f64 / 1e9))
                    .collect()
            }
            Metric::PrefillTokensPerS => s.ttft_ns.iter().map(|&t| input_tokens as f64 / (t as f64 / 1e9)).collect(),
        }
    }

    /// Median and its interval over [`Metric::samples`], in the recorded unit.
    pub fn summary(self, c: &CellResult) -> Option<Summary> {
        Summary::of(&self.samples(c))
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
