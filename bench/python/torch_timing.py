"""What the PyTorch timing scripts share (bench/gpu/torch_step.py on CUDA, bench/python/torch_cpu_bench.py on the CPU):
the nnU-Net v1 Generic_UNet of torch_step_parity.py (imported, not copied) built from a plans-like dict, its
deep-supervision weights, a random batch with its deep-supervision targets, one training iteration as
nnUNetTrainerV2.run_iteration, one inference tile with v1's mirrorings, and the FLOP count our side uses.

A network dict has the keys of bench/gpu/plans.json: num_input_channels, base_num_features, num_classes,
pool_op_kernel_sizes, conv_kernel_sizes, max_num_features, batch_dice (and optionally conv_per_stage, default 2).
"""
import os
import sys
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import skimage.transform  # noqa: F401  (torch_step_parity imports it for its target downsampling, unused here)
except ImportError:  # e.g. the GPU machine lacks scikit-image: the network and the loss do not need it
    sk = types.ModuleType("skimage")
    sk.transform = types.ModuleType("skimage.transform")
    sk.transform.resize = None
    sys.modules["skimage"] = sk
    sys.modules["skimage.transform"] = sk.transform
import torch_step_parity as v1  # noqa: E402  Generic_UNet, DC+CE, MultipleOutputLoss2

V2_GRAD_CLIP = 12


def build_net(p, dev):
    return v1.GenericUNet(p["num_input_channels"], p["base_num_features"], p["num_classes"], p["pool_op_kernel_sizes"],
                          p["conv_kernel_sizes"], p.get("conv_per_stage", 2), p["max_num_features"]).to(dev)


def deep_supervision_weights(n):
    """nnUNetTrainerV2.initialize: 1/2^i, the lowest resolution masked to 0, normalised to sum 1."""
    w = [1 / 2 ** i if i < n - 1 else 0 for i in range(n)]
    s = sum(w)
    return [v / s for v in w] if s else [1.0]


CONVS = (torch.nn.Conv2d, torch.nn.Conv3d)
TCONVS = (torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)


def forward_flops(net, x):
    """Multiply-adds x2 of every convolution, transposed convolution and head (as architecture.ts forwardFlops)."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, CONVS):
            k = 1
            for v in m.kernel_size:
                k *= v
            total[0] += 2 * out.numel() * m.in_channels * k
        else:
            total[0] += 2 * out.numel() * m.in_channels  # stride == kernel: one tap per output voxel
    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, CONVS + TCONVS)]
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    return total[0]


def batch_for(p, patch, b, dev, seed=7):
    """A random batch in [-1, 1] and its label map (classes by threshold) subsampled to every deep-supervision output."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((b, p["num_input_channels"], *patch), generator=g) * 2 - 1
    lab = torch.where(x[:, 0] > 0.3, 1, torch.where((x[:, 0] < -0.6) & (p["num_classes"] > 2), 2, 0))
    targets, scale = [], [1] * len(patch)
    for k in range(len(p["pool_op_kernel_sizes"])):
        targets.append(lab[(slice(None),) + tuple(slice(None, None, s) for s in scale)].contiguous().to(dev))
        scale = [s * f for s, f in zip(scale, p["pool_op_kernel_sizes"][k])]
    return x.to(dev), targets


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def training_step(net, x, targets, batch_dice, dev, amp=False, amp_dtype=None, scaler=None, update=True):
    """One nnUNetTrainerV2.run_iteration: zero_grad, forward and DC+CE deep-supervision loss (autocast when amp),
    backward (through the GradScaler when given), and with update: clip_grad_norm_(12) and SGD(lr 0.01, momentum
    0.99, nesterov, weight_decay 3e-5) step. update=False stops after backward (the gradients only). Returns the
    step function; each call returns the loss tensor (detached)."""
    w = deep_supervision_weights(len(targets))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.99, nesterov=True, weight_decay=3e-5)
    # torch.device as a context (torch >= 2.0): v1's soft Dice makes its one-hot with torch.zeros(shape)
    factory = (lambda: torch.device(dev)) if hasattr(torch.device, "__enter__") else _null

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp), factory():
            out = net(x)
            loss = v1.multiple_output_loss(out, targets, w, batch_dice)
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        if update:
            if scaler is not None:
                scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(net.parameters(), V2_GRAD_CLIP)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
        return loss.detach()

    return step


def mirror_combos(ndim):
    """v1's mirror order (predict_3D / predict_2D with do_mirroring): over (z, y, x) = dims 2, 3, 4 or (y, x) = 2, 3."""
    if ndim == 3:
        return [[], [4], [3], [4, 3], [2], [4, 2], [3, 2], [3, 2, 4]]
    return [[], [3], [2], [3, 2]]


def inference_tile(net, x, mirror, dev, amp=False, amp_dtype=None):
    """Forward of one tile (no_grad), full-resolution logits, summed over the mirrorings when mirror."""
    combos = mirror_combos(x.dim() - 2) if mirror else [[]]
    with torch.no_grad(), torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
        acc = None
        for c in combos:
            y = net(torch.flip(x, c) if c else x)[0]
            y = torch.flip(y, c) if c else y
            acc = y.float() if acc is None else acc + y.float()
        return acc
