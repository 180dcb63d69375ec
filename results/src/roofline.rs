//! How close a measurement came to what the host allows: the host's measured limits (memory
//! bandwidth, matrix-multiply rate) and, per cell, the bytes a decode step must read and the FLOPs
//! of the prefill, with the shares of those limits the cell achieved.

use serde::{Deserialize, Serialize};

/// What this host achieves with a thread count, measured (see `slmbench doctor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostLimits {
    pub threads: usize,
    /// Reading a buffer far larger than the last-level cache, bytes/s.
    pub memory_bytes_per_s: f64,
    /// A large f32 MatMul through the runtime, FLOP/s (a multiply-add counts 2).
    pub matmul_flops_per_s: f64,
    /// When it was measured (RFC 3339); limits are cached per host and thread count.
    pub measured: String,
}

/// A cell against the host's limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roofline {
    pub limits: HostLimits,
    /// Bytes one decode step reads: the weights it uses at their stored precision and the KV
    /// cache at the middle of the generation, for the whole batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_bytes_per_step: Option<u64>,
    /// Those bytes over the median inter-token latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_bytes_per_s: Option<f64>,
    /// Share of the measured memory bandwidth (0 … 1, above 1 when caches serve part of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_bandwidth_share: Option<f64>,
    /// FLOPs of the time to first token (encoder pass and first decoder step, or the prefill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_flops: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_flops_per_s: Option<f64>,
    /// Share of the measured matrix-multiply rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_compute_share: Option<f64>,
}

impl Roofline {
    /// The shares of a cell with median ITL `itl_ns` and median TTFT `ttft_ns`.
    pub fn of(
        limits: HostLimits,
        decode_bytes_per_step: Option<u64>,
        itl_ns: Option<f64>,
        ttft_flops: Option<u64>,
        ttft_ns: f64,
    ) -> Roofline {
        let decode_bytes_per_s =
            decode_bytes_per_step.zip(itl_ns.filter(|&t| t > 0.0)).map(|(b, t)| b as f64 / (t / 1e9));
        let ttft_flops_per_s = ttft_flops.filter(|_| ttft_ns > 0.0).map(|f| f as f64 / (ttft_ns / 1e9));
        Roofline {
            decode_bandwidth_share: decode_bytes_per_s.map(|r| r / limits.memory_bytes_per_s),
            ttft_compute_share: ttft_flops_per_s.map(|r| r / limits.matmul_flops_per_s),
            limits,
            decode_bytes_per_step,
            decode_bytes_per_s,
            ttft_flops,
            ttft_flops_per_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_from_known_numbers() {
        let limits = HostLimits {
            threads: 2,
            memory_bytes_per_s: 10e9,
            matmul_flops_per_s: 100e9,
            measured: "2026-11-29T00:00:00Z".into(),
        };
        // 400 MB per step in 50 ms: 8 GB/s, 80% of 10 GB/s. 20 GFLOP in 400 ms: 50 GFLOP/s, 50%.
        let r = Roofline::of(limits, Some(400_000_000), Some(50e6), Some(20_000_000_000), 400e6);
        assert!((r.decode_bytes_per_s.unwrap() - 8e9).abs() < 1.0);
        assert!((r.decode_bandwidth_share.unwrap() - 0.8).abs() < 1e-12);
        assert!((r.ttft_compute_share.unwrap() - 0.5).abs() < 1e-12);
        let none = Roofline::of(r.limits.clone(), Some(1), None, None, 1.0);
        assert_eq!((none.decode_bandwidth_share, none.ttft_compute_share), (None, None));
    }
}
