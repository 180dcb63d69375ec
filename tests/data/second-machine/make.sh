#!/usr/bin/env bash
# Regenerates results.jsonl beside this script: the sweep of tests/identity.rs on the `tiny` pair,
# measured on this machine, with its context changed to a second machine's (CPU, cores, memory,
# architecture). Run from the repository root after `cargo build --release`:
#   bash tests/data/second-machine/make.sh [path/to/slmbench]
set -euo pipefail
bin=${1:-target/release/slmbench}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" models build --preset tiny --out "$work/tiny"
"$bin" run --model "$work/tiny" -p 8,16 -n 4 -t 1 --warmup 0 -r 10 --min-repetitions 10 --reloads 1 \
  --no-roofline --no-accuracy --no-report -o "$work/r.jsonl"
python3 - "$work/r.jsonl" >"$here/results.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    c = r["context"]
    c.update(cpu_model="Fixture second machine (Cortex-A76)", cpu_logical_cores=4, cpu_physical_cores=4,
             cpu_mhz=2400.0, memory_bytes=8 << 30, arch="aarch64",
             ort_library="/opt/second-machine/libonnxruntime.so.1.31.1")
    print(json.dumps(r, separators=(",", ":"), ensure_ascii=False))
PY
echo "wrote $here/results.jsonl"
