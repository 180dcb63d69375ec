import json, sys, glob, statistics as st, random
def load(p):
    recs=[json.loads(l) for l in open(p) if l.strip()]
    cells=[r for r in recs if r.get("record")!="pair-ratio"]
    ratios=[r for r in recs if r.get("record")=="pair-ratio"]
    return cells, ratios
def med(x): return st.median(x)
def decode_tps(c):
    return [len(r)/(sum(r)/1e9) for r in c["samples"]["itl_ns"] if r]
def cell(cells, kind): return [c for c in cells if c["model"]["kind"]==kind][0]
def ci_seq(c_ed, c_do, key):
    # conservative interval from two medians' intervals
    if key=="ttft":
        a, b = c_ed["metrics"]["ttft_ns"], c_do["metrics"]["ttft_ns"]
        if a["ci95_low"] is None or b["ci95_low"] is None: return None
        return (a["ci95_low"]/b["ci95_high"], a["ci95_high"]/b["ci95_low"])
    return None
# `analyse.py [--dir DIR] PRESET...`: DIR holds the runs (default: this folder).
args=sys.argv[1:]
folder="reports/published/interleaving"
if args[:1]==["--dir"]:
    folder, args = args[1], args[2:]
for preset in args:
    print(f"== {preset}")
    out={}
    for order in ["sequential","interleaved"]:
        rows=[]
        pool_ed_t=[];pool_do_t=[];pool_ed_d=[];pool_do_d=[]
        for p in sorted(glob.glob(f"{folder}/{preset}-{order}-*.jsonl")):
            cells,ratios=load(p)
            ed,do=cell(cells,"encoder-decoder"),cell(cells,"decoder-only")
            t=med(ed["samples"]["ttft_ns"])/med(do["samples"]["ttft_ns"])
            d=med(decode_tps(ed))/med(decode_tps(do))
            pool_ed_t+=ed["samples"]["ttft_ns"]; pool_do_t+=do["samples"]["ttft_ns"]
            pool_ed_d+=decode_tps(ed); pool_do_d+=decode_tps(do)
            if ratios:
                r=ratios[0]
                rows.append((p, t, d, (r["ttft"]["low"], r["ttft"]["high"]), (r["decode_tokens_per_s"]["low"], r["decode_tokens_per_s"]["high"]), r["blocks"], ed["repetitions"]["measured"], do["repetitions"]["measured"]))
            else:
                rows.append((p, t, d, ci_seq(ed,do,"ttft"), None, None, ed["repetitions"]["measured"], do["repetitions"]["measured"]))
        pt=med(pool_ed_t)/med(pool_do_t); pd=med(pool_ed_d)/med(pool_do_d)
        ts=[r[1] for r in rows]; ds=[r[2] for r in rows]
        print(f"-- {order}: pooled TTFT {pt:.3f}, decode {pd:.3f}")
        for r in rows:
            tin = r[3] is not None and r[3][0] is not None and r[3][0]<=pt<=r[3][1]
            din = r[4] is not None and r[4][0] is not None and r[4][0]<=pd<=r[4][1]
            print(f"   {r[0].split('/')[-1]}: TTFT {r[1]:.3f} {r[3]} {'in' if tin else 'OUT'} | decode {r[2]:.3f} {r[4]} {'in' if din else 'OUT'} | blocks {r[5]} reps {r[6]}/{r[7]}")
        print(f"   TTFT ratio range {min(ts):.3f}-{max(ts):.3f} (spread {max(ts)-min(ts):.3f}, sd {st.stdev(ts):.3f}); decode {min(ds):.3f}-{max(ds):.3f} (spread {max(ds)-min(ds):.3f}, sd {st.stdev(ds):.3f})")
