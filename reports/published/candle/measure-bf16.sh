#!/usr/bin/env bash
# The bf16 build on both runtimes beside fp32, the `paper` pair, -t 2, 128 in / 64 out, 5 blocks:
# ONNX Runtime computes the bf16 build in f32 (its casts folded into f32 weights at load), candle
# in bf16 (its CPU matrix multiply widens bf16 to f32 at every call).
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --release --locked
target/release/slmbench run --preset paper --precision fp32,bf16 --backend onnxruntime,candle -p 128 -n 64 -t 2 \
  -r 5 --min-repetitions 5 --max-time 200 --no-report --overwrite -o reports/published/candle/paper-bf16.jsonl \
  | tee reports/published/candle/paper-bf16.md
