#!/usr/bin/env bash
# Kill a sweep again and again (SIGKILL or SIGINT at random moments), resume it each time, and
# check that the results file ends with exactly the sweep's cells: none lost, none twice.
#
#   ci/chaos.sh [KILLS] [SLMBENCH]      defaults: 10 kills, target/release/slmbench
#
# The README's reliability figures come from this script. Needs python3 for the final check.
set -euo pipefail
kills=${1:-10}
bin=${2:-target/release/slmbench}
work=$(mktemp -d)
out="$work/results.jsonl"
args=(run --preset small -p 16,32,64,128 -n 8,16 -b 1,2 -r 3 --min-repetitions 3 --warmup 0 -t 1 --no-report)
expected=32 # 2 models × 4 input lengths × 2 output lengths × 2 batch sizes

done_cells() { if [[ -f $out ]]; then wc -l <"$out"; else echo 0; fi; }

"$bin" models build --preset small --out "$work/warm" >/dev/null 2>&1 || true # builds the cache once
for ((i = 1; i <= kills; i++)); do
  "$bin" "${args[@]}" --resume "$out" >/dev/null 2>>"$work/log" &
  pid=$!
  sleep "$(python3 -c 'import random; print(round(random.uniform(1.5, 8), 2))')"
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" || true
    echo "round $i: the sweep had already finished"
    break
  fi
  sig=$([[ $((RANDOM % 2)) == 0 ]] && echo KILL || echo INT)
  kill -s "$sig" "$pid"
  code=0
  wait "$pid" || code=$?
  echo "round $i: SIG$sig, exit $code, $(done_cells) cells on disk"
done
"$bin" "${args[@]}" --resume "$out" >/dev/null 2>>"$work/log"
python3 - "$out" "$expected" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ids = [r["cell_id"] for r in recs]
points = {(r["model"]["name"], r["sweep"]["batch"], r["sweep"]["input_tokens"], r["sweep"]["output_tokens"]) for r in recs}
failed = [r for r in recs if r.get("status") == "failed"]
print(f"{len(recs)} records, {len(set(ids))} distinct cells, {len(points)} sweep points, {len(failed)} failed; expected {sys.argv[2]}")
assert len(recs) == len(set(ids)) == len(points) == int(sys.argv[2]) and not failed, "lost or duplicated cells"
EOF
echo "work directory: $work"
