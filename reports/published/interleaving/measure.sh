#!/usr/bin/env bash
# Issue 17's reproducibility measurement: five runs of the same cells in each order, alternating
# sequential and interleaved so both meet the same machine states; then
# `python3 reports/published/interleaving/analyse.py small paper` prints each run's ratios and
# intervals, the pooled estimates and the spreads (guide, docs/src/measuring.md, "Interleaved pairs").
set -euo pipefail
cd "$(dirname "$0")/../../.."
cargo build --release --locked
bin=target/release/slmbench
# Output folder (default: this one); `measure.sh DIR [small|paper|both]` keeps an earlier set.
out=${1:-reports/published/interleaving}
which=${2:-both}
# RELOADS=K: interleaved cells spread over K loads of the two models (`--reloads`; the default
# is 3, and RELOADS=1 repeats the one-load sets measured before that default).
reloads=()
[ -n "${RELOADS:-}" ] && reloads=(--reloads "$RELOADS")
mkdir -p "$out"
for i in 1 2 3 4 5; do
  [ "$which" = paper ] && break
  for order in sequential interleaved; do
    extra=(); [ $order = interleaved ] && extra=("${reloads[@]}")
    "$bin" run --preset small -p 128 -n 32 -t 2 --order $order "${extra[@]}" --no-report --no-accuracy --overwrite -o $out/small-$order-$i.jsonl
  done
done
for i in 1 2 3 4 5; do
  [ "$which" = small ] && break
  for order in sequential interleaved; do
    extra=(); [ $order = interleaved ] && extra=("${reloads[@]}")
    "$bin" run --preset paper -p 256 -n 16 -t 2 -r 12 --min-repetitions 10 --max-time 30 --order $order "${extra[@]}" \
      --no-report --no-accuracy --overwrite -o $out/paper-$order-$i.jsonl
  done
done
