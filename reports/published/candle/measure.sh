#!/usr/bin/env bash
# Issue 13's side-by-side measurement: the `paper` pair, ONNX Runtime fp32 and candle f32, in one
# run, -t 2, 128 input and 64 output tokens, 10 interleaved blocks per pair.
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --release --locked
target/release/slmbench run --preset paper --backend onnxruntime,candle -p 128 -n 64 -t 2 -r 10 --min-repetitions 10 \
  --max-time 120 --no-report --no-accuracy --overwrite -o reports/published/candle/paper.jsonl \
  | tee reports/published/candle/paper.md
