"""The GPU check's final table: merges the two sides' JSON (bench/gpu/check.ts, bench/gpu/torch_step.py) and prints
ours (webgpu, the faster conv formulation per row) / PyTorch AMP and / PyTorch fp32 (above 1: ours is slower).
Usage: python3 bench/gpu/summary.py NODE_JSON TORCH_JSON [MERGED_JSON]   (a missing side is reported, not fatal)
"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"missing": f"{path}: {e}"}


def main():
    ours, torch = load(sys.argv[1]), load(sys.argv[2])
    rows = []
    by_torch = {}
    for r in torch.get("train", []):
        by_torch[(r["network"], r["batch"], r["amp"])] = r
    best = {}
    for r in ours.get("train", []):
        k = (r["network"], r["batch"])
        if k not in best or r["s_per_iter"] < best[k]["s_per_iter"]:
            best[k] = r
    keys = sorted(set(best) | {(n, b) for (n, b, _) in by_torch})
    for k in keys:
        o, ta, tf = best.get(k), by_torch.get((*k, True)), by_torch.get((*k, False))
        rows.append({
            "what": f"train {k[0]} b{k[1]}",
            "ours_s": o and o["s_per_iter"], "ours_conv": o and o["conv"],
            "torch_amp_s": ta and ta["s_per_iter"], "torch_fp32_s": tf and tf["s_per_iter"],
        })
    ib = None
    for r in ours.get("infer", []):
        if ib is None or r["s_per_tile"] < ib["s_per_tile"]:
            ib = r
    ti = {r["amp"]: r for r in torch.get("infer", [])}
    for mirrored in (False, True):
        key = "s_per_tile_mirrored" if mirrored else "s_per_tile"
        rows.append({
            "what": f"infer lung tile{' x8 mirrored' if mirrored else ''}",
            "ours_s": ib and ib.get(key), "ours_conv": ib and ib["conv"],
            "torch_amp_s": ti.get(True, {}).get(key), "torch_fp32_s": ti.get(False, {}).get(key),
        })
    for r in rows:
        for side in ("amp", "fp32"):
            t = r[f"torch_{side}_s"]
            r[f"ratio_vs_{side}"] = r["ours_s"] / t if r["ours_s"] and t else None

    f = lambda v, d=3: "-" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))  # noqa: E731
    gpu = torch.get("gpu", {}).get("name") or torch.get("device", "?")
    adapter = ours.get("adapter", {}).get("line", ours.get("missing", "no adapter"))
    print("\n== summary: seconds and ratio ours / PyTorch (above 1: ours slower)")
    print(f"ours: tfjs webgpu on {adapter}")
    print(f"PyTorch {torch.get('torch', '?')} on {gpu}")
    if ours.get("quick") or torch.get("quick"):
        print("QUICK RUN: toy sizes on the CPU (software GL, torch on the CPU): correctness of the path only, no speed meaning")
    head = f"{'':34} {'ours s':>9} {'conv':>5} {'torch AMP s':>12} {'torch fp32 s':>13} {'ours/AMP':>9} {'ours/fp32':>10}"
    print(head)
    for r in rows:
        print(f"{r['what']:34} {f(r['ours_s']):>9} {f(r['ours_conv']):>5} {f(r['torch_amp_s'], 4):>12} {f(r['torch_fp32_s'], 4):>13} "
              f"{f(r['ratio_vs_amp'], 1):>9} {f(r['ratio_vs_fp32'], 1):>10}")
    errs = [f"ours: {e['part']}: {e['message']}" for e in ours.get("errors", [])] + [f"torch: {e['part']}: {e['message']}" for e in torch.get("errors", [])]
    for side, d in (("ours", ours), ("torch", torch)):
        if "missing" in d:
            errs.append(f"{side}: no results ({d['missing']})")
    if errs:
        print(f"{len(errs)} error(s):")
        for e in errs:
            print(f"  {e}")
    if len(sys.argv) > 3:
        merged = {"nnunet_ts": ours, "pytorch": torch, "summary": rows}
        with open(sys.argv[3], "w") as fh:
            json.dump(merged, fh, indent=1)
        print(f"wrote {os.path.abspath(sys.argv[3])}")


if __name__ == "__main__":
    main()
