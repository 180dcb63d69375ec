#!/usr/bin/env bash
# QNN's HTP on this x86_64 host: onnxruntime-qnn's plugin execution provider prepares each graph
# offline for an HTP (v75, SoC model 69) and runs it in emulation. Which of slmbench's builds it
# takes whole (compile.py), and whether greedy decoding through it gives the CPU provider's tokens
# (greedy.py). Writes results.txt next to this script. Timings under emulation mean nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../../../.."
cargo build --release --locked
bin=target/release/slmbench
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q onnxruntime==1.31.1 onnxruntime-qnn==2.7.0 onnx numpy
py="$work/venv/bin/python"
for preset in tiny small; do
  "$bin" models build --preset "$preset" --precision fp32,w8a8,w8a16 --shapes static --max-context 64 \
    --prefill-chunk 8 --out "$work/$preset-static" >/dev/null
  "$bin" models build --preset "$preset" --precision w8a8 --out "$work/$preset-dynamic" >/dev/null
done
{
  echo "# compile.py: partitions QNN took and nodes left to the CPU, per file"
  (cd "$here" && "$py" compile.py "$work"/*/*/*/*.onnx "$work"/*-dynamic/*/*.onnx) 2>/dev/null
  prompt=5,17,300,42,99,7,512,3,77,88,123
  for model in tiny-static/fp32 tiny-static/w8a8 tiny-static/w8a16 small-static/w8a16; do
    echo "# greedy.py $model/decoder-only, prompt $prompt"
    (cd "$here" && "$py" greedy.py "$work/$model/decoder-only" "$prompt" 12) 2>/dev/null
  done
} | sed -e "s|$work/||g" -e '/LIBNATIVE/d' > "$here/results.txt"  # QNN prints a config notice on stdout
cat "$here/results.txt"
