#!/usr/bin/env bash
# Chaos test of results-file safety, in every output format: kill a sweep again and again
# (SIGKILL or SIGINT at random moments), check after every kill that each file the run wrote is
# complete or absent, resume it, and check that the end holds every cell exactly once.
#
#   ci/chaos.sh [KILLS_PER_FORMAT] [SLMBENCH]     defaults: 3, target/release/slmbench
#
# .ci/run runs it with the defaults (about a minute here). It also checks that the release binary
# has no timing test hook. Needs python3 for the checks.
set -euo pipefail
kills=${1:-3}
bin=$(realpath "${2:-target/release/slmbench}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export SLMBENCH_CACHE_DIR=${SLMBENCH_CACHE_DIR:-$HOME/.cache/slmbench}

"$bin" models build --preset small --out small >/dev/null 2>&1
# 2 models × 2 input lengths × 2 output lengths.
args=(run --model small -p 16,48 -n 4,12 -r 5 --min-repetitions 5 --warmup 0 -t 1)
expected=8

# 1. A release build has no timing hook: the variable changes nothing and is not recorded.
SLMBENCH_TEST_DELAY_US=200000 "$bin" run --model small/decoder-only -p 8 -n 4 -r 1 --min-repetitions 1 \
  --warmup 0 -t 1 --no-report -o hook.jsonl >/dev/null 2>&1
python3 - hook.jsonl <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert "test_delay_us" not in r["context"], "the release binary recorded a test delay"
assert r["metrics"]["itl_ns"]["median"] < 200e6, "the release binary was slowed by the test hook"
print("release build: SLMBENCH_TEST_DELAY_US has no effect")
EOF

# Checks that every file a (killed) run wrote is complete or absent.
check_files() {
  python3 - "$@" <<'EOF'
import json, os, sys
out, fmt = sys.argv[1], sys.argv[2]
journal = out if fmt == "jsonl" else out + ".journal.jsonl"
recs = []
if os.path.exists(journal):
    lines = open(journal, "rb").read().split(b"\n")
    for i, l in enumerate(lines):
        if not l.strip():
            continue
        try:
            recs.append(json.loads(l))
        except ValueError:
            # Only the journal's last line may be torn (resume drops it).
            assert i == len(lines) - 1, f"{journal}: line {i + 1} is torn but not the last"
# Cells; an interleaved pair's ratio records name two of them.
ids = {r["cell_id"] for r in recs if r.get("record") != "pair-ratio"}
if fmt != "jsonl" and os.path.exists(out):
    text = open(out).read()
    if fmt == "json":
        rows = sum(1 for r in json.loads(text) if r.get("record") != "pair-ratio")
    elif fmt == "csv":
        rows = len(text.splitlines()) - 1
        width = {len(l.split(",")) for l in text.splitlines()}
        assert len(width) == 1, f"{out}: a CSV row is cut short"
    else:
        rows = sum(1 for l in text.splitlines() if l.startswith("| small/"))
    # Rendered after each write: it holds every cell, or all but those of the last write (one
    # cell, or an interleaved pair's two).
    assert rows in (len(ids), len(ids) - 1, len(ids) - 2), f"{out}: {rows} rows for {len(ids)} cells"
report = out + ".report"
if os.path.isdir(report):
    for name in os.listdir(report):
        p = os.path.join(report, name)
        if name == "index.html":
            assert open(p).read().rstrip().endswith("</html>"), f"{p} is cut short"
        elif name == "results.json":
            json.load(open(p))
EOF
}

for fmt in jsonl json csv md; do
  out="$work/r.$fmt"
  flag=(-o "$out")
  for ((i = 1; i <= kills; i++)); do
    journal=$out
    [[ $fmt == jsonl ]] || journal="$out.journal.jsonl"
    before=0
    [[ -f $journal ]] && before=$(grep -c . "$journal" || true)
    "$bin" "${args[@]}" "${flag[@]}" >/dev/null 2>>"$work/log" &
    pid=$!
    if ((i == 1)); then
      # Anywhere from start-up (runtime, placement, sessions) on.
      sleep "$(python3 -c 'import random; print(round(random.uniform(0.2, 2.0), 2))')"
    else
      # Mid-sweep: once this round has written a record, at a random moment within a cell or two.
      for ((w = 0; w < 600; w++)); do
        now=0
        [[ -f $journal ]] && now=$(grep -c . "$journal" || true)
        ((now > before)) || ! kill -0 "$pid" 2>/dev/null && break
        sleep 0.05
      done
      sleep "$(python3 -c 'import random; print(round(random.uniform(0.0, 1.0), 2))')"
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" || true
      echo "$fmt round $i: the sweep had already finished"
      break
    fi
    sig=$([[ $((RANDOM % 2)) == 0 ]] && echo KILL || echo INT)
    kill -s "$sig" "$pid"
    code=0
    wait "$pid" 2>/dev/null || code=$?
    check_files "$out" "$fmt"
    flag=(--resume "$out")
    on_disk=0
    [[ -f $journal ]] && on_disk=$(grep -c . "$journal" || true)
    echo "$fmt round $i: SIG$sig, exit $code, $on_disk records on disk (the sweep: $expected cells and their pair ratios), files complete"
  done
  "$bin" "${args[@]}" "${flag[@]}" >/dev/null 2>>"$work/log"
  check_files "$out" "$fmt"
  python3 - "$out" "$fmt" "$expected" <<'EOF'
import json, os, sys
out, fmt, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
journal = out if fmt == "jsonl" else out + ".journal.jsonl"
recs = [json.loads(l) for l in open(journal) if l.strip()]
ratios = [r for r in recs if r.get("record") == "pair-ratio"]
recs = [r for r in recs if r.get("record") != "pair-ratio"]
ids = [r["cell_id"] for r in recs]
# The pair ran interleaved: one ratio per sweep point, naming two cells of the file.
assert len(ratios) == expected // 2 and all(
    r["encoder_decoder_cell"] in ids and r["decoder_only_cell"] in ids for r in ratios
), f"{fmt}: {len(ratios)} ratio records for {expected} cells"
assert len({r["ratio_id"] for r in ratios}) == len(ratios), f"{fmt}: a ratio was written twice"
points = {(r["model"]["name"], r["sweep"]["input_tokens"], r["sweep"]["output_tokens"]) for r in recs}
failed = [r for r in recs if r.get("status") == "failed"]
assert len(recs) == len(set(ids)) == len(points) == expected and not failed, \
    f"{fmt}: {len(recs)} records, {len(set(ids))} distinct, {len(points)} points, {len(failed)} failed; expected {expected}"
if fmt == "json":
    assert len(json.load(open(out))) == expected + len(ratios)
stray = [n for n in os.listdir(os.path.dirname(out)) if "slmbench-tmp" in n]
assert not stray, f"temporary files left: {stray}"
print(f"{fmt}: {expected} cells and {len(ratios)} pair ratios, each exactly once, no stray file")
EOF
done
