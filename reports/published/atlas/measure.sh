#!/usr/bin/env bash
# Measures this host's bundles for the atlas: each configuration a session's host can run, as a
# scenario run, bundled and checked. Bundles are named HOST-CONFIG-SCENARIO; an existing bundle is
# never replaced (remove it first to measure it again). Usage: measure.sh HOST-LABEL
set -euo pipefail
cd "$(dirname "$0")/../../.."
host=${1:?usage: measure.sh HOST-LABEL (e.g. epyc)}
cargo build --release --locked
bin=target/release/slmbench
out=reports/published/atlas
one() { # NAME SCENARIO FLAGS…
  local name=$1 scenario=$2
  shift 2
  local results="$out/runs/$host-$name-$scenario.jsonl" bundle="$out/$host-$name-$scenario.bundle.json"
  [ -e "$bundle" ] && { echo "kept $bundle"; return; }
  mkdir -p "$out/runs"
  /usr/bin/time -f "$host-$name-$scenario: %e s wall" "$bin" run --scenario "$scenario" --no-report --overwrite -o "$results" "$@" \
    2>&1 | grep -E "wall|cells written|Error" || true
  "$bin" bundle "$results" -o "$bundle"
  "$bin" check "$bundle" || true
}
one ort-t2 quick-v1 -t 2
one ort-t1 quick-v1 -t 1
one candle-t2 quick-v1 -t 2 --backend candle
one ort-t2 edge-v1 -t 2
# The atlas page of every bundle here (self-contained HTML, Markdown, CSV).
"$bin" atlas "$out"/*.bundle.json -o "$out/page"
