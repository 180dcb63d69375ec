"""Greedy decoding of a static decoder-only build (`slmbench models build --shapes static`) through
ONNX Runtime's CPU provider and through QNN's HTP backend (onnxruntime-qnn's plugin execution
provider; on an x86_64 host its HTP library prepares the graph offline and runs it in emulation).
Prints each provider's tokens, how much of each graph QNN took, and the logits' largest difference
while both providers had decoded the same tokens.

    python greedy.py MODEL_DIR PROMPT_IDS NEW_TOKENS
"""
import collections
import json
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import onnxruntime_qnn as qnn

QNN_OPTIONS = {"backend_path": qnn.get_qnn_htp_path(), "htp_arch": "75", "soc_model": "69"}


def session(path, use_qnn, scratch):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if not use_qnn:
        return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]), None
    # Compiling through an EP context model is what an NPU deployment caches; it also reports
    # which nodes QNN took (one EPContext node per compiled partition, the rest left to the CPU).
    ctx = f"{scratch}/{path.split('/')[-1]}_ctx.onnx"
    so.add_session_config_entry("ep.context_enable", "1")
    so.add_session_config_entry("ep.context_file_path", ctx)
    so.add_session_config_entry("ep.context_embed_mode", "0")
    devices = [d for d in ort.get_ep_devices() if d.ep_name == qnn.get_ep_name()]
    so.add_provider_for_devices(devices, QNN_OPTIONS)
    s = ort.InferenceSession(path, so)
    model = onnx.load(ctx, load_external_data=False)
    left = collections.Counter(n.op_type for n in model.graph.node if n.op_type != "EPContext")
    parts = sum(n.op_type == "EPContext" for n in model.graph.node)
    return s, {"qnn_partitions": parts, "left_to_cpu": dict(left)}


def greedy(model_dir, prompt, new, use_qnn, scratch):
    shapes = json.load(open(f"{model_dir}/manifest.json"))["static_shapes"]
    m, chunk = shapes["max_context"], shapes["prefill_chunk"]
    prefill, p_info = session(f"{model_dir}/static_prefill.onnx", use_qnn, scratch)
    decode, d_info = session(f"{model_dir}/static_decode.onnx", use_qnn, scratch)
    caches = {i.name: np.zeros(i.shape, np.float32) for i in prefill.get_inputs() if i.name.startswith("past")}

    def step(s, ids, start, valid):
        n = s.get_inputs()[0].shape[1]
        feeds = {
            "input_ids": np.array([ids + [0] * (n - len(ids))], np.int64),
            "position_ids": np.array([[min(start + j, m - 1) for j in range(n)]], np.int64),
            "attention_mask": np.array([[1 if j < start + valid else 0 for j in range(m)]], np.int64),
            **caches,
        }
        names = [o.name for o in s.get_outputs()]
        out = dict(zip(names, s.run(None, feeds)))
        for name in caches:
            caches[name] = out[name.replace("past_key_values", "present")]
        return out["logits"][0, valid - 1]

    tokens, logits, pos = [], [], 0
    for c in range(0, len(prompt), chunk):
        part = prompt[c : c + chunk]
        last = step(prefill, part, pos, len(part))
        pos += len(part)
    for _ in range(new):
        logits.append(last)
        tokens.append(int(np.argmax(last)))
        last = step(decode, [tokens[-1]], pos, 1)
        pos += 1
    return tokens, np.array(logits), {"prefill": p_info, "decode": d_info}


if __name__ == "__main__":
    model_dir, prompt, new = sys.argv[1], [int(t) for t in sys.argv[2].split(",")], int(sys.argv[3])
    ort.register_execution_provider_library(qnn.get_ep_name(), qnn.get_library_path())
    with tempfile.TemporaryDirectory() as scratch:
        cpu, cpu_logits, _ = greedy(model_dir, prompt, new, False, scratch)
        htp, htp_logits, placement = greedy(model_dir, prompt, new, True, scratch)
    same = next((i for i, (a, b) in enumerate(zip(cpu, htp)) if a != b), len(cpu))
    print(json.dumps({
        "model": model_dir,
        "onnxruntime": ort.__version__,
        "onnxruntime_qnn": qnn.__version__,
        "qnn_options": {k: v for k, v in QNN_OPTIONS.items() if k != "backend_path"},
        "placement": placement,
        "cpu_tokens": cpu,
        "qnn_htp_tokens": htp,
        "tokens_equal_before_first_difference": same,
        # Steps up to the first different token saw the same history on both providers.
        "max_abs_logit_diff_while_histories_agree": float(np.abs(cpu_logits[: same + 1] - htp_logits[: same + 1]).max()),
        "largest_cpu_logit": float(np.abs(cpu_logits[: same + 1]).max()),
    }, indent=1))
