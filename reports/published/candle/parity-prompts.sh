#!/usr/bin/env bash
# Issue 13's recorded f32 parity check on `paper`, over several prompts rather than one: for each
# seed s, 128 prompt ids 5 + (i * 7919 + s * 104729) % 32000, 32 new tokens, ONNX Runtime fp32
# and candle f32 on both families (`slmbench generate --backend onnxruntime,candle`). Prints, per
# prompt and family, whether the greedy ids agree, how many leading ids are identical, and the
# teacher-forced logit comparison. Usage: parity-prompts.sh [SEEDS] (default 0..7).
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --release --locked
dir=${SLMBENCH_PAPER_DIR:-$(mktemp -d)}
[ -d "$dir/decoder-only" ] || target/release/slmbench models build --preset paper --out "$dir" >&2
seeds=${1:-"0 1 2 3 4 5 6 7"}
echo "# slmbench generate --backend onnxruntime,candle -t 2 -n 32, paper fp32, $(date -u +%F), head $(git rev-parse --short HEAD)"
for s in $seeds; do
  ids=$(python3 -c "print(','.join(str(5 + (i * 7919 + $s * 104729) % 32000) for i in range(128)))")
  for fam in encoder-decoder decoder-only; do
    target/release/slmbench generate --backend onnxruntime,candle --model "$dir/$fam" --prompt-ids "$ids" \
      -n 32 -t 2 2>/dev/null | python3 reports/published/candle/parity-prompts.py "$s" "$fam" || true
  done
done
