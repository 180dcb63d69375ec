#!/usr/bin/env bash
# Regenerates the published reports on this machine's CPU: the default run, and the `paper` pair
# over input and output lengths. Each writes results.jsonl, index.html, charts/, results.md/.csv
# beside it; the exact command, versions and machine are recorded inside every result.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked
bin=target/release/slmbench
"$bin" run -o reports/published/default/results.jsonl
"$bin" run --preset paper -p 16,64,256 -n 16,64 -r 10 --min-repetitions 5 --max-time 40 \
  -o reports/published/paper/results.jsonl
