#!/usr/bin/env bash
# Regenerates the published reports on this machine's CPU: the default run, and the `paper` pair
# at fp32 and int4 (weight-only MatMulNBits), each as a plain and a fused graph, over input and
# output lengths. Each writes results.jsonl, index.html, charts/, results.md/.csv
# beside it; the exact command, versions and machine are recorded inside every result.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked
bin=target/release/slmbench
# --overwrite: these files are replaced on purpose; the report goes into the same folder.
"$bin" run --overwrite --no-report -o reports/published/default/results.jsonl
"$bin" report reports/published/default/results.jsonl -o reports/published/default
"$bin" run --preset paper --precision fp32,int4 --graph plain,fused -p 16,64,256 -n 16,64 -r 12 --min-repetitions 10 --max-time 50 \
  --overwrite --no-report -o reports/published/paper/results.jsonl
"$bin" report reports/published/paper/results.jsonl -o reports/published/paper
# QDQ (w8a8, w8a16) against fp32 and weight-only int8, with each variant's drift (guide, docs/src/variants.md, *QDQ*).
"$bin" run --preset small --precision fp32,int8,w8a8,w8a16 -p 16,128 -n 32 -r 10 --min-repetitions 10 --max-time 30 -t 2 \
  --overwrite --no-report -o reports/published/qdq/small.jsonl
"$bin" report reports/published/qdq/small.jsonl -o reports/published/qdq/small
"$bin" run --preset paper --precision fp32,int8,w8a8,w8a16 -p 64 -n 16 -r 3 --min-repetitions 3 --max-time 60 -t 2 \
  --overwrite --no-report -o reports/published/qdq/paper.jsonl
"$bin" report reports/published/qdq/paper.jsonl -o reports/published/qdq/paper
