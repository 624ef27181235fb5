"""PyTorch CPU side of `npm run bench -- train | network | predict`: times, in the same run as ours, the network step,
forward or inference tile that the bench just timed on our side, with the same shapes and the same number of threads.

Usage: /usr/bin/python3 bench/python/torch_cpu_bench.py SPEC   (SPEC: a JSON file, or the JSON text itself)

SPEC = {"runs": [RUN, ...]} with RUN =
  {"name": str, "what": "train_step" | "gradients" | "forward" | "tile",
   "network": {num_input_channels, base_num_features, num_classes, pool_op_kernel_sizes, conv_kernel_sizes,
               max_num_features, batch_dice[, conv_per_stage]},   (the keys of bench/gpu/plans.json)
   "patch_size": [...], "batch": int, "threads": int, "iterations": int, "warmup": int, "mirror": bool (tile only)}

  train_step  nnUNetTrainerV2.run_iteration on the network only (no data loading or augmentation): zero_grad, forward,
              DC+CE with deep supervision, backward, clip_grad_norm_(12), SGD step; fp32 (the official trainer's AMP
              is CUDA-only)
  gradients   the same up to backward (what `bench network` calls forward+backward)
  forward     network forward of the batch under no_grad (all deep-supervision outputs)
  tile        one inference tile (batch 1 unless given): forward under no_grad, full-resolution logits, summed over
              v1's 8 (3d) / 4 (2d) mirrorings when mirror is true

Network: the nnU-Net v1 Generic_UNet of torch_step_parity.py through torch_timing.py (shared with bench/gpu/). Every
run builds a fresh network (torch.manual_seed(0)) and a random batch, sets torch.set_num_threads(threads), runs
`warmup` untimed calls and then `iterations` timed ones. Prints one JSON object on stdout:
  {"torch": version, "python": path, "results": [{name, what, threads, patch_size, batch, median_s, all_s,
   forward_gflop, gflops, parameters}, ...]}
forward_gflop is 2 x the multiply-adds of the convolutions, transposed convolutions and heads of one forward of the
batch (as sdk/network/architecture.ts forwardFlops); gflops divides 3 x that (train_step, gradients; 1 x for forward,
x the number of mirrorings for tile) by median_s. Progress goes to stderr. Exit 3 when torch cannot be imported (the
JSON then has "error").
"""
import json
import os
import sys
import time

try:
    import torch
except ImportError as e:
    print(json.dumps({"error": f"no torch in {sys.executable}: {e}"}))
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_timing import batch_for, build_net, forward_flops, inference_tile, mirror_combos, training_step  # noqa: E402

WHATS = ("train_step", "gradients", "forward", "tile")


def time_run(r):
    what = r["what"]
    if what not in WHATS:
        raise ValueError(f"{r.get('name')}: what must be one of {WHATS}, got {what!r}")
    p = r["network"]
    patch = r["patch_size"]
    b = r.get("batch", 1)
    threads = int(r.get("threads", 2))
    torch.set_num_threads(threads)
    dev = torch.device("cpu")
    torch.manual_seed(0)
    net = build_net(p, dev)
    x, targets = batch_for(p, patch, b, dev)
    F = forward_flops(net, x)
    if what in ("train_step", "gradients"):
        net.train()
        fn = training_step(net, x, targets, p["batch_dice"], dev, update=what == "train_step")
        work = 3 * F
    elif what == "forward":
        net.eval()

        def fn():
            with torch.no_grad():
                return net(x)
        work = F
    else:
        net.eval()
        mirror = bool(r.get("mirror", False))

        def fn():
            return inference_tile(net, x, mirror, dev)
        work = F * (len(mirror_combos(len(patch))) if mirror else 1)
    for _ in range(int(r.get("warmup", 1))):
        fn()
    ts = []
    for _ in range(max(1, int(r.get("iterations", 1)))):
        t0 = time.perf_counter()
        out = fn()
        if what in ("train_step", "gradients") and not torch.isfinite(out):
            raise RuntimeError(f"{r.get('name')}: loss {float(out)}")
        ts.append(time.perf_counter() - t0)
    s = sorted(ts)
    med = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    return {"name": r.get("name", what), "what": what, "threads": torch.get_num_threads(), "patch_size": patch, "batch": b,
            "mirror": bool(r.get("mirror", False)) if what == "tile" else None, "median_s": med, "all_s": ts,
            "forward_gflop": F / 1e9, "gflops": work / med / 1e9, "parameters": sum(t.numel() for t in net.parameters())}


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(argv[1]) if argv[1].lstrip().startswith("{") else json.load(open(argv[1]))
    res = {"torch": torch.__version__, "python": sys.executable, "results": []}
    for r in spec["runs"]:
        t0 = time.perf_counter()
        out = time_run(r)
        res["results"].append(out)
        print(f"PyTorch {out['name']}: {out['what']} {out['median_s']:.3f} s (median of {len(out['all_s'])}, "
              f"{out['threads']} threads), {out['gflops']:.1f} GFLOP/s; {time.perf_counter() - t0:.1f} s in all",
              file=sys.stderr, flush=True)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
