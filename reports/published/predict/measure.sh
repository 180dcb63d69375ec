#!/usr/bin/env bash
# The prediction check of the guide's "From a sweep to a decision" (docs/src/predictions.md): fit the `small` pair on
# prompts of 32–512 tokens, then measure 96 and 384 (never fitted) and 128 (fitted: the
# run-to-run drift) right after, and compare. Release binary, 2 threads, nothing else running.
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${SLMBENCH_BIN:-target/release/slmbench}
OUT=reports/published/predict
for i in ${ROUNDS:-1 2 3}; do
  $B run --preset small -t 2 -p 32,64,128,256,512 -n 32 -o "$OUT/fit-$i.jsonl" --overwrite --no-report
  $B run --preset small -t 2 -p 96,384,128 -n 32 -o "$OUT/check-$i.jsonl" --overwrite --no-report
  $B predict "$OUT/fit-$i.jsonl" --against "$OUT/check-$i.jsonl" --prompt "300±120" --output 16-32 \
    --json "$OUT/predict-$i.json" > "$OUT/predict-$i.md"
done
$B report "$OUT/fit-1.jsonl" --prompt "300±120" --output 16-32 -o "$OUT/report"
