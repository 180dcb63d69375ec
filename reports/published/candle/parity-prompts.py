"""Reads one `slmbench generate --backend onnxruntime,candle` JSON on stdin; prints one line."""
import json
import sys

seed, family = sys.argv[1], sys.argv[2]
d = json.load(sys.stdin)
a, b = (d["backends"][k]["output_token_ids"] for k in ("onnxruntime", "candle"))
same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
lg = d["logits"]
print(
    f"seed {seed} {family:16} agree {str(d['greedy_ids_agree']):5} identical {same:2}/{len(a)}"
    f"  top1 {lg['top1_agreement']:.3f} max_abs {lg['max_abs_logit_diff']:.4f}"
    f" max_rel {lg['max_rel_logit_diff']:.2e}"
)
