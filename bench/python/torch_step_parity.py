"""PyTorch side of bench/torch_step_parity.ts.

An independent re-implementation of what nnU-Net v1 (nnunetv1 branch, commit db16c6ce) runs in one training
iteration, from its sources:
  network/generic_UNet.py      Generic_UNet, StackedConvLayers, ConvDropoutNormNonlin (convolutional pooling and
                               upsampling, InstanceNorm affine eps 1e-5, LeakyReLU 1e-2, seg heads without bias)
  loss_functions/dice_loss.py  SoftDiceLoss (softmax, batch_dice, do_bg False, smooth 1e-5), DC_and_CE_loss
  loss_functions/deep_supervision.py  MultipleOutputLoss2
  data_augmentation/downsampling.py   downsample_seg_for_ds_transform2 (skimage resize, order 0, mode edge)
  nnUNetTrainerV2.run_iteration       backward, clip_grad_norm_(12), SGD(lr 0.01, momentum 0.99, nesterov, wd 3e-5)

It loads the weights, batch and deep-supervision targets the TypeScript side wrote, recomputes the targets with
skimage, runs the same steps in float32 and float64, and compares. Exit status 1 on a mismatch.
Usage: python3 torch_step_parity.py DIR
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn
from skimage.transform import resize

torch.set_num_threads(1)


class ConvDropoutNormNonlin(nn.Module):
    def __init__(self, conv_op, norm_op, cin, cout, kernel, stride):
        super().__init__()
        pad = [(k - 1) // 2 for k in kernel]
        self.conv = conv_op(cin, cout, kernel, stride=stride, padding=pad, dilation=1, bias=True)
        self.instnorm = norm_op(cout, eps=1e-5, affine=True, momentum=0.1)
        self.lrelu = nn.LeakyReLU(negative_slope=1e-2, inplace=True)

    def forward(self, x):
        return self.lrelu(self.instnorm(self.conv(x)))


class StackedConvLayers(nn.Module):
    def __init__(self, conv_op, norm_op, cin, cout, num_convs, kernel, first_stride=None):
        super().__init__()
        self.output_channels = cout
        s0 = first_stride if first_stride is not None else [1] * len(kernel)
        blocks = [ConvDropoutNormNonlin(conv_op, norm_op, cin, cout, kernel, s0)]
        blocks += [ConvDropoutNormNonlin(conv_op, norm_op, cout, cout, kernel, [1] * len(kernel)) for _ in range(num_convs - 1)]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(x)


class GenericUNet(nn.Module):
    """Generic_UNet(convolutional_pooling=True, convolutional_upsampling=True, deep_supervision=True)."""

    def __init__(self, in_ch, base, num_classes, pool, kernels, conv_per_stage, max_features):
        super().__init__()
        dim = len(kernels[0])
        conv_op = nn.Conv2d if dim == 2 else nn.Conv3d
        norm_op = nn.InstanceNorm2d if dim == 2 else nn.InstanceNorm3d
        tconv = nn.ConvTranspose2d if dim == 2 else nn.ConvTranspose3d
        num_pool = len(pool)
        self.conv_blocks_context = nn.ModuleList()
        self.conv_blocks_localization = nn.ModuleList()
        self.tu = nn.ModuleList()
        self.seg_outputs = nn.ModuleList()
        cin, cout = in_ch, base
        for d in range(num_pool):
            first_stride = pool[d - 1] if d != 0 else None
            self.conv_blocks_context.append(StackedConvLayers(conv_op, norm_op, cin, cout, conv_per_stage, kernels[d], first_stride))
            cin = cout
            cout = min(int(np.round(cout * 2)), max_features)
        final = cout
        self.conv_blocks_context.append(nn.Sequential(
            StackedConvLayers(conv_op, norm_op, cin, cout, conv_per_stage - 1, kernels[num_pool], pool[-1]),
            StackedConvLayers(conv_op, norm_op, cout, final, 1, kernels[num_pool])))
        for u in range(num_pool):
            from_down = final
            from_skip = self.conv_blocks_context[-(2 + u)].output_channels
            final = from_skip
            self.tu.append(tconv(from_down, from_skip, pool[-(u + 1)], pool[-(u + 1)], bias=False))
            k = kernels[-(u + 1)]  # generic_UNet uses conv_kernel_sizes[-(u + 1)] for decoder level u
            self.conv_blocks_localization.append(nn.Sequential(
                StackedConvLayers(conv_op, norm_op, from_skip * 2, from_skip, conv_per_stage - 1, k),
                StackedConvLayers(conv_op, norm_op, from_skip, final, 1, k)))
        for ds in range(num_pool):
            self.seg_outputs.append(conv_op(self.conv_blocks_localization[ds][-1].output_channels, num_classes, 1, 1, 0, 1, 1, False))

    def forward(self, x):
        skips = []
        for d in range(len(self.conv_blocks_context) - 1):
            x = self.conv_blocks_context[d](x)
            skips.append(x)
        x = self.conv_blocks_context[-1](x)
        seg = []
        for u in range(len(self.tu)):
            x = self.tu[u](x)
            x = torch.cat((x, skips[-(u + 1)]), dim=1)
            x = self.conv_blocks_localization[u](x)
            seg.append(self.seg_outputs[u](x))
        return tuple([seg[-1]] + seg[:-1][::-1])


def soft_dice(x, y_lab, batch_dice, smooth=1e-5):
    axes = ([0] if batch_dice else []) + list(range(2, x.dim()))
    p = torch.softmax(x, 1)
    with torch.no_grad():
        onehot = torch.zeros(x.shape, dtype=x.dtype)
        onehot.scatter_(1, y_lab[:, None].long(), 1)
    tp = (p * onehot).sum(axes)
    fp = (p * (1 - onehot)).sum(axes)
    fn = ((1 - p) * onehot).sum(axes)
    dc = (2 * tp + smooth) / (2 * tp + fp + fn + smooth + 1e-8)
    dc = dc[1:] if batch_dice else dc[:, 1:]
    return -dc.mean()


def dc_and_ce(x, y_lab, batch_dice):
    return nn.functional.cross_entropy(x, y_lab.long()) + soft_dice(x, y_lab, batch_dice)


def multiple_output_loss(outs, targets, weights, batch_dice):
    l = weights[0] * dc_and_ce(outs[0], targets[0], batch_dice)
    for i in range(1, len(outs)):
        if weights[i] != 0:
            l = l + weights[i] * dc_and_ce(outs[i], targets[i], batch_dice)
    return l


def downsample_seg_for_ds(seg, scales):
    out = []
    for s in scales:
        if all(v == 1 for v in s):
            out.append(seg)
            continue
        new_shape = np.round(np.array(seg.shape[2:], dtype=float) * np.array(s)).astype(int)
        o = np.zeros((seg.shape[0], seg.shape[1], *new_shape), dtype=seg.dtype)
        for b in range(seg.shape[0]):
            for c in range(seg.shape[1]):
                o[b, c] = resize(seg[b, c].astype(float), new_shape, 0, mode="edge", clip=True, anti_aliasing=False).astype(seg.dtype)
        out.append(o)
    return out


def to_torch_layout(w, shape, name):
    """Ours: conv [k..., Ci, Co], transposed conv [k..., Co, Ci] -> PyTorch [Co, Ci, k...] / [Ci, Co, k...]."""
    a = w.reshape(shape)
    if a.ndim <= 1:
        return a
    nk = a.ndim - 2
    return np.transpose(a, (nk + 1, nk) + tuple(range(nk)))


def main(d):
    m = json.load(open(os.path.join(d, "manifest.json")))
    rd = lambda f, dt=np.float32: np.fromfile(os.path.join(d, f), dtype=dt)
    data = rd("data.f32").reshape(m["dataShape"])
    seg = rd("seg.f32").reshape(m["dataShape"])
    pool, kernels = m["pool"], m["kernels"]
    scales = [[1.0] * len(pool[0])]
    acc = np.ones(len(pool[0]))
    for p in pool[:-1]:
        acc = acc * np.array(p)
        scales.append(list(1 / acc))
    targets = downsample_seg_for_ds(seg, scales)
    failures = []
    for i, t in enumerate(targets):
        ours = rd(f"target_{i}.f32").reshape(m["targetShapes"][i])
        ndiff = int((ours != t).sum())
        print(f"target {i} {list(t.shape)}: {ndiff} voxels differ from skimage resize order 0")
        if ndiff:
            failures.append(f"target {i}")
    # deep supervision weights (nnUNetTrainerV2.initialize)
    n = len(pool)
    w = np.array([1 / (2 ** i) for i in range(n)])
    mask = np.array([True] + [i < n - 1 for i in range(1, n)])
    w[~mask] = 0
    w = w / w.sum()
    if not np.allclose(w, m["dsWeights"], rtol=0, atol=1e-12):
        failures.append(f"ds weights {m['dsWeights']} vs {list(w)}")

    w0 = rd("weights_initial.f32")
    w1 = rd("weights_final.f32")
    results = {}
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(0)
        net = GenericUNet(m["dataShape"][1], m["baseFeatures"], m["numClasses"], pool, kernels, m["convPerStage"], m["maxFeatures"]).to(dtype)
        sd = net.state_dict()
        names = [p["name"] for p in m["params"]]
        if sorted(names) != sorted(sd.keys()):
            print("state_dict names differ:", sorted(set(names) ^ set(sd.keys())))
            return 1
        off = 0
        new_sd = {}
        for p in m["params"]:
            cnt = int(np.prod(p["shape"]))
            a = to_torch_layout(w0[off:off + cnt], p["shape"], p["name"])
            off += cnt
            t = torch.from_numpy(np.ascontiguousarray(a)).to(dtype)
            if tuple(t.shape) != tuple(sd[p["name"]].shape):
                print(f"{p['name']}: shape {tuple(t.shape)} vs torch {tuple(sd[p['name']].shape)}")
                return 1
            new_sd[p["name"]] = t
        net.load_state_dict(new_sd)
        opt = torch.optim.SGD(net.parameters(), m["lr"], weight_decay=3e-5, momentum=0.99, nesterov=True)
        x = torch.from_numpy(data).to(dtype)
        tg = [torch.from_numpy(t[:, 0]).long() for t in targets]
        with torch.no_grad():
            outs0 = [o.numpy().astype(np.float64) for o in net(x)]
        losses, norms = [], []
        grads0 = {}
        for k in range(m["steps"]):
            opt.zero_grad()
            outs = net(x)
            l = multiple_output_loss(outs, tg, list(w), m["batchDice"])
            l.backward()
            if k == 0:
                # the lowest deep-supervision head has loss weight 0, so it gets no gradient (None): zeros
                grads0 = {n_: (p_.grad.detach().numpy().astype(np.float64).copy() if p_.grad is not None
                               else np.zeros(tuple(p_.shape))) for n_, p_ in net.named_parameters()}
            norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), m["clip"])))
            opt.step()
            losses.append(float(l))
        final = {k: v.detach().numpy().astype(np.float64) for k, v in net.state_dict().items()}
        results[dtype] = (outs0, losses, norms, final, grads0)

    o32, l32, n32, f32, g32 = results[torch.float32]
    o64, l64, n64, f64, g64 = results[torch.float64]
    ours_l, ours_n = m["ours"]["losses"], m["ours"]["gradNorms"]
    print(f"\n{'step':>4} | {'loss ours':>11} | {'loss torch32':>12} | {'loss torch64':>12} | {'|grad| ours':>11} | {'|grad| t32':>11} | {'|grad| t64':>11}")
    for k in range(m["steps"]):
        print(f"{k:>4} | {ours_l[k]:11.6f} | {l32[k]:12.6f} | {l64[k]:12.6f} | {ours_n[k]:11.5f} | {n32[k]:11.5f} | {n64[k]:11.5f}")
        if abs(ours_l[k] - l64[k]) > 1e-4 * max(1.0, abs(l64[k])):
            failures.append(f"loss step {k}")
        if abs(ours_n[k] - n64[k]) > 1e-3 * n64[k]:
            failures.append(f"grad norm step {k}")

    print("\nstep-0 outputs: max |ours - torch64| / max |torch64| (torch32 for comparison)")
    for i in range(len(o64)):
        ours = rd(f"output0_{i}.f32").reshape(o64[i].shape).astype(np.float64)
        s = np.abs(o64[i]).max()
        e_ours = np.abs(ours - o64[i]).max() / s
        e_32 = np.abs(o32[i] - o64[i]).max() / s
        print(f"  output {i} {list(o64[i].shape)}: ours {e_ours:.2e}, torch32 {e_32:.2e}")
        if e_ours > 1e-4:
            failures.append(f"output {i}")

    print("\nstep-0 gradients: ||g_ours - g_torch64|| / ||g_torch64|| per tensor (torch32 for comparison)")
    g0 = rd("grads0.f32")
    off = 0
    gerr = []
    for p in m["params"]:
        cnt = int(np.prod(p["shape"]))
        a = to_torch_layout(g0[off:off + cnt], p["shape"], p["name"]).astype(np.float64)
        off += cnt
        ref = g64[p["name"]]
        s = np.linalg.norm(ref)
        if np.abs(ref).max() < 1e-10:
            continue
        gerr.append((np.linalg.norm(a - ref) / s, np.linalg.norm(g32[p["name"]] - ref) / s, s, p["name"]))
    gerr.sort(reverse=True)
    for e_ours, e_32, s, name in gerr[:5]:
        print(f"  {name}: ours {e_ours:.2e}, torch32 {e_32:.2e} (||g|| {s:.2e})")
    print(f"  median over {len(gerr)} tensors: ours {float(np.median([e[0] for e in gerr])):.2e}, torch32 {float(np.median([e[1] for e in gerr])):.2e}")
    # float32 against float64 is the yardstick: ours may be a few times noisier than torch32, not more
    bad = [e for e in gerr if e[0] > 4 * e[1] + 1e-3]
    for e_ours, e_32, s, name in bad:
        print(f"  over tolerance (4 x torch32 + 1e-3): {name}: ours {e_ours:.2e}, torch32 {e_32:.2e} (||g|| {s:.2e})")
    if bad:
        failures.append("gradients (" + ", ".join(e[3] for e in bad[:3]) + ")")

    # Δ after a few steps is ~1e-6 of weights ~1e-1, so float32 rounding of the stored weights alone moves single
    # entries by ~1 %: compare ||Δours - Δ64|| / ||Δ64|| per tensor, with torch32's own error as the yardstick.
    print(f"\nparameters after {m['steps']} steps: ||Δours - Δtorch64|| / ||Δtorch64|| per tensor (Δ = final - initial)")
    off = 0
    worst = []
    zero_grad = []
    for p in m["params"]:
        cnt = int(np.prod(p["shape"]))
        a0 = to_torch_layout(w0[off:off + cnt], p["shape"], p["name"]).astype(np.float64)
        a1 = to_torch_layout(w1[off:off + cnt], p["shape"], p["name"]).astype(np.float64)
        off += cnt
        d64 = f64[p["name"]] - a0
        d32 = f32[p["name"]] - a0
        s = np.linalg.norm(d64)
        if np.abs(d64).max() < 1e-10:
            # conv biases in front of an instance norm: their gradient is 0 analytically (torch64 leaves ~1e-20)
            zero_grad.append((p["name"], np.abs(a1 - a0).max()))
            continue
        worst.append((np.linalg.norm((a1 - a0) - d64) / s, np.linalg.norm(d32 - d64) / s, p["name"]))
    worst.sort(reverse=True)
    for e_ours, e_32, name in worst[:5]:
        print(f"  {name}: ours {e_ours:.2e}, torch32 {e_32:.2e}")
    print(f"  median over {len(worst)} tensors: ours {float(np.median([w_[0] for w_ in worst])):.2e}, "
          f"torch32 {float(np.median([w_[1] for w_ in worst])):.2e}")
    zmax = max((z[1] for z in zero_grad), default=0.0)
    print(f"  {len(zero_grad)} tensors with an analytically zero gradient (biases before instance norm): max |Δours| {zmax:.1e}")
    if zmax > 1e-9:
        failures.append("zero-gradient tensors moved")
    bad = [w_ for w_ in worst if w_[0] > 4 * w_[1] + 1e-3]
    if bad:
        failures.append("parameters (" + ", ".join(w_[2] for w_ in bad[:3]) + ")")

    print("\nPASS" if not failures else "\nFAIL: " + ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
