#!/usr/bin/env bash
# `--ep qnn` through slmbench itself: the onnxruntime-qnn plugin (fetched and registered by
# slmbench) on this x86_64 host, where QNN's HTP library prepares each graph offline for an HTP
# (v75, SoC model 69) and runs it in emulation. For static fp32 and w8a16 builds of the tiny and
# small pairs: greedy ids against the CPU provider's, load time compiling each graph against
# loading its cached EP context model (--ep-context-cache), and a --strict-placement run's
# placement. Emulated step times mean nothing for a device and are not given. Writes results.txt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../../.."
cargo build --release --locked
bin="$PWD/target/release/slmbench"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A cache of its own for the EP context models, sharing the fetched runtime and plugin.
mkdir -p "$work/cache"
"$bin" doctor >/dev/null 2>&1  # fetches the runtime into the usual cache if it is not there
ln -s "${SLMBENCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/slmbench}/onnxruntime" "$work/cache/onnxruntime"
export SLMBENCH_CACHE_DIR="$work/cache"
htp=(--ep qnn --ep-opt qnn:htp_arch=75 --ep-opt qnn:soc_model=69)
prompt=5,17,300,42,99,7,512,3,77,88,123
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
{
  echo "# slmbench generate, 12 new tokens after prompt $prompt; ids on QNN's emulated HTP against the CPU provider's"
  echo "# load_ms: session creation of every file, compiling (first) and from the cached EP context models (second)"
  for preset in tiny small; do
    "$bin" models build --preset "$preset" --precision fp32,w8a16 --shapes static --max-context 64 \
      --prefill-chunk 8 --out "$work/$preset" >/dev/null
    for precision in fp32 w8a16; do
      for family in decoder-only encoder-decoder; do
        m="$work/$preset/$precision/$family"
        cpu=$("$bin" generate --model "$m" --prompt-ids $prompt -n 12 2>/dev/null | field 'd["output_token_ids"]')
        first=$("$bin" generate --model "$m" --prompt-ids $prompt -n 12 "${htp[@]}" --ep-context-cache 2>/dev/null)
        second=$("$bin" generate --model "$m" --prompt-ids $prompt -n 12 "${htp[@]}" --ep-context-cache 2>/dev/null)
        qnn=$(echo "$first" | field 'd["output_token_ids"]')
        same=$(python3 -c "a=$cpu; b=$qnn; n=next((i for i,(x,y) in enumerate(zip(a,b)) if x!=y), len(a)); print(f'{n} of {len(a)} equal before the first difference')")
        echo "$preset $precision $family: cpu $cpu qnn $qnn ($same); load_ms compiled $(echo "$first" | field 'round(d["load_ms"])') ($(echo "$first" | field 'sorted(set(d["ep_context"].values()))')), cached $(echo "$second" | field 'round(d["load_ms"])') ($(echo "$second" | field 'sorted(set(d["ep_context"].values()))'))"
      done
    done
  done
  echo "# slmbench run --pair (static, p 16, n 4) on qnn with --strict-placement: placement per cell"
  for preset in tiny small; do
    for precision in fp32 w8a16; do
      d="$work/$preset/$precision"
      "$bin" run --pair "$d/encoder-decoder,$d/decoder-only" "${htp[@]}" --strict-placement --ep-context-cache \
        -p 16 -n 4 -r 2 --min-repetitions 2 --warmup 0 --no-report --no-roofline -o "$work/$preset-$precision.jsonl" \
        >/dev/null 2>"$work/err" || { echo "$preset $precision: run failed"; tail -3 "$work/err"; }
      python3 - "$work/$preset-$precision.jsonl" "$preset $precision" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "metrics" in r:
        p = r["placement"]
        print(f'{sys.argv[2]} {r["model"]["kind"]}: {p["nodes_by_provider"]}, cpu_node_share {p["cpu_node_share"]}, plugin {r["settings"]["ep_plugin"]}')
PY
    done
  done
} | tee "$here/results.txt"
