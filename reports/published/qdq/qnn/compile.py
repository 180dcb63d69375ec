"""Compiles ONNX files for QNN's HTP (onnxruntime-qnn's plugin execution provider; on an x86_64
host its HTP library prepares the graph offline) through an EP context model, and prints per file
how many partitions QNN took and which nodes it left to the CPU (and the first few of their
outputs), or the error.

    python compile.py FILE.onnx...
"""
import collections
import json
import sys
import tempfile

import onnx
import onnxruntime as ort
import onnxruntime_qnn as qnn

from greedy import QNN_OPTIONS

ort.register_execution_provider_library(qnn.get_ep_name(), qnn.get_library_path())
devices = [d for d in ort.get_ep_devices() if d.ep_name == qnn.get_ep_name()]
report = {}
with tempfile.TemporaryDirectory() as scratch:
    for i, path in enumerate(sys.argv[1:]):
        so = ort.SessionOptions()
        so.log_severity_level = 3
        ctx = f"{scratch}/{i}_ctx.onnx"
        so.add_session_config_entry("ep.context_enable", "1")
        so.add_session_config_entry("ep.context_file_path", ctx)
        so.add_session_config_entry("ep.context_embed_mode", "0")
        so.add_provider_for_devices(devices, QNN_OPTIONS)
        try:
            ort.InferenceSession(path, so)
            nodes = onnx.load(ctx, load_external_data=False).graph.node
            report[path] = {
                "qnn_partitions": sum(n.op_type == "EPContext" for n in nodes),
                "left_to_cpu": dict(collections.Counter(n.op_type for n in nodes if n.op_type != "EPContext")),
                # What those nodes produce (a QDQ graph output's DequantizeLinear, or a weight's).
                "left_outputs": [n.output[0] for n in nodes if n.op_type != "EPContext"][:8],
            }
        except Exception as e:  # what QNN refused is the finding
            report[path] = {"error": str(e)[:400]}
print(json.dumps(report, indent=1))
