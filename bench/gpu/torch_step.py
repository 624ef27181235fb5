"""PyTorch side of the GPU check (bench/gpu/run.sh): the steps bench/gpu/check.ts times, in PyTorch on CUDA.

Network: the nnU-Net v1 Generic_UNet of bench/python/torch_step_parity.py (through bench/python/torch_timing.py, shared
with the CPU timing script torch_cpu_bench.py), with its v1 loss
(DC + CE with deep-supervision weights, MultipleOutputLoss2). One training iteration as nnUNetTrainerV2.run_iteration:
zero_grad, forward and loss (under torch.autocast with AMP, as the official trainer's fp16 default), backward
(GradScaler with AMP), clip_grad_norm_(12), SGD(lr 0.01, momentum 0.99, nesterov, weight_decay 3e-5) step. AMP on and
off; cudnn.benchmark on (nnUNetTrainer sets it). Medians after two warm-up steps, torch.cuda.synchronize around every
timing. Also one Lung 3d_fullres inference tile (forward only, fp16 autocast and fp32, without and with the 8
mirrorings), the GPU name and the peak memory allocated.

Usage: python3 bench/gpu/torch_step.py [--quick] [--json FILE] [--iters N] [--budget-s S]
--quick: the toy sizes of bench/gpu/plans.json on the CPU (AMP there is bfloat16 autocast without a scaler).
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
# the network, batch, training iteration, tile and FLOP count shared with bench/python/torch_cpu_bench.py
from torch_timing import batch_for, build_net, forward_flops, inference_tile, training_step  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--iters", type=int)
    ap.add_argument("--budget-s", type=float)
    a, _ = ap.parse_known_args()
    quick = a.quick
    iters = a.iters or (2 if quick else 5)
    budget = a.budget_s or (90 if quick else 150)
    t_start = time.perf_counter()
    left = lambda: budget - (time.perf_counter() - t_start)  # noqa: E731
    plans = json.load(open(os.path.join(HERE, "plans.json")))["quick" if quick else "full"]

    cuda = torch.cuda.is_available() and not quick
    dev = torch.device("cuda" if cuda else "cpu")
    torch.set_num_threads(min(2, os.cpu_count() or 1) if quick else (os.cpu_count() or 1))
    torch.backends.cudnn.benchmark = True
    amp_dtype = torch.float16 if cuda else torch.bfloat16
    GradScaler = getattr(torch.amp, "GradScaler", None) if hasattr(torch, "amp") else None
    make_scaler = (lambda on: GradScaler("cuda", enabled=on)) if GradScaler else (lambda on: torch.cuda.amp.GradScaler(enabled=on))

    res = {"side": "pytorch", "quick": quick, "torch": torch.__version__, "cuda": torch.version.cuda, "device": str(dev),
           "train": [], "infer": [], "errors": []}
    if cuda:
        p = torch.cuda.get_device_properties(0)
        res["gpu"] = {"name": p.name, "memory_bytes": p.total_memory, "capability": f"{p.major}.{p.minor}"}
        print(f"PYTORCH {torch.__version__} CUDA {torch.version.cuda} on {p.name} ({p.total_memory / 2**30:.0f} GiB)", flush=True)
    else:
        print(f"PYTORCH {torch.__version__} on the CPU ({torch.get_num_threads()} threads){' (--quick)' if quick else ' (no CUDA)'}", flush=True)

    def save():
        if a.json:
            with open(a.json + ".tmp", "w") as f:
                json.dump(res, f, indent=1)
            os.replace(a.json + ".tmp", a.json)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def build(p):
        return build_net(p, dev)

    rows = [(name, p, b, amp) for name, p in plans.items() for b in p["batch_sizes"] for amp in (True, False)]
    infer_budget = 20 if quick else 30
    print(f"\n== PyTorch training iteration (v1 Generic_UNet, DC+CE deep supervision, clip 12, SGD nesterov), median of up to {iters}", flush=True)
    flops = {}
    for i, (name, p, b, amp) in enumerate(rows):
        label = f"{name} b{b} {'x'.join(map(str, p['patch_size']))} {'AMP' if amp else 'fp32'}"
        row_budget = max(3.0, (left() - infer_budget) / (len(rows) - i))
        if left() < infer_budget * 0.5:
            print(f"TORCH TRAIN {label}: SKIPPED (budget spent)", flush=True)
            continue
        net = x = targets = run_iteration = step = None
        try:
            net = build(p)
            x, targets = batch_for(p, p["patch_size"], b, dev)
            if (name, b) not in flops:
                flops[(name, b)] = forward_flops(net, x)
            run_iteration = training_step(net, x, targets, p["batch_dice"], dev, amp, amp_dtype, make_scaler(amp and cuda))
            losses = []

            def step():
                losses.append(run_iteration())

            if cuda:
                torch.cuda.reset_peak_memory_stats()
            sync()
            t0 = time.perf_counter()
            step()
            step()  # two warm-up steps: cudnn.benchmark's algorithm search, the allocator's pools
            sync()
            first = (time.perf_counter() - t0) / 2
            ts, t_row = [], time.perf_counter()
            while len(ts) < iters and (not ts or (time.perf_counter() - t_row) + sorted(ts)[len(ts) // 2] < row_budget - 2 * first):
                sync()
                t1 = time.perf_counter()
                step()
                sync()
                ts.append(time.perf_counter() - t1)
            s = sorted(ts)[len(ts) // 2]
            F = flops[(name, b)]
            r = {"network": name, "batch": b, "patch": p["patch_size"], "amp": amp, "s_per_iter": s, "iters": len(ts), "all_s": ts,
                 "warmup_s_per_step": first, "gflops": 3 * F / s / 1e9, "forward_gflop": F / 1e9,
                 "loss_first": float(losses[0]), "loss_last": float(losses[-1]),
                 "max_memory_allocated": torch.cuda.max_memory_allocated() if cuda else None}
            res["train"].append(r)
            mem = f"; max memory allocated {r['max_memory_allocated'] / 2**30:.2f} GiB" if cuda else ""
            print(f"TORCH TRAIN {label:<40} {s:.4f} s/iter (median of {len(ts)}) {r['gflops']:.1f} GFLOP/s; "
                  f"loss {r['loss_first']:.4f} -> {r['loss_last']:.4f}{mem}", flush=True)
        except Exception as e:  # e.g. out of memory: print, go on with the next figure
            msg = str(e).split("\n")[0][:400]
            print(f"ERROR torch training {label}: {msg}", flush=True)
            res["errors"].append({"part": f"training {label}", "message": msg})
        finally:
            del net, x, targets, run_iteration, step  # the closures hold the optimizer state: free it before the next row
            if cuda:
                torch.cuda.empty_cache()
        save()

    print("\n== PyTorch inference tile (Lung 3d_fullres, forward only, full-resolution logits)", flush=True)
    p = plans["lung_3d_fullres"]
    for amp in (True, False):
        label = f"lung_3d_fullres tile 1x{'x'.join(map(str, p['patch_size']))} {'AMP' if amp else 'fp32'}"
        if left() < 2:
            print(f"TORCH INFER {label}: SKIPPED (budget spent)", flush=True)
            continue
        try:
            net = build(p).eval()
            x = torch.rand((1, p["num_input_channels"], *p["patch_size"]), generator=torch.Generator().manual_seed(11)).to(dev)
            if cuda:
                torch.cuda.reset_peak_memory_stats()

            def tile(mirror):
                return inference_tile(net, x, mirror, dev, amp, amp_dtype)

            tile(False)
            sync()
            ts, t_row = [], time.perf_counter()
            while len(ts) < iters and (not ts or time.perf_counter() - t_row < infer_budget / 4):
                sync()
                t1 = time.perf_counter()
                tile(False)
                sync()
                ts.append(time.perf_counter() - t1)
            s = sorted(ts)[len(ts) // 2]
            sm = None
            if 9 * s < left():
                sync()
                t2 = time.perf_counter()
                tile(True)
                sync()
                sm = time.perf_counter() - t2
            r = {"network": "lung_3d_fullres", "patch": p["patch_size"], "amp": amp, "s_per_tile": s, "s_per_tile_mirrored": sm,
                 "iters": len(ts), "max_memory_allocated": torch.cuda.max_memory_allocated() if cuda else None}
            res["infer"].append(r)
            mir = f"{sm:.4f} s with the 8 mirrorings" if sm is not None else "with mirroring SKIPPED (budget)"
            print(f"TORCH INFER {label:<40} {s:.4f} s/tile, {mir} (logits stay on the device)", flush=True)
            del net, x
        except Exception as e:
            msg = str(e).split("\n")[0][:400]
            print(f"ERROR torch inference {label}: {msg}", flush=True)
            res["errors"].append({"part": f"inference {label}", "message": msg})
        save()
    if cuda:
        res["max_memory_allocated_overall"] = torch.cuda.max_memory_allocated()
    print(f"\nPyTorch side done in {time.perf_counter() - t_start:.1f} s ({len(res['errors'])} error(s))", flush=True)
    save()


if __name__ == "__main__":
    main()
