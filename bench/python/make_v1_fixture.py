"""Make an nnU-Net v1 3d_fullres model folder (issue 22) with Debian's torch 1.13, and PyTorch's predictions of it.

  OUT/Task004_Hippocampus/nnUNetTrainerV2__nnUNetPlansv2.1/
      plans.pkl                                   the plans the "trainer" was created with (one 3d stage)
      fold_0/model_final_checkpoint.model         torch.save of the checkpoint dict (see below)
      fold_0/model_final_checkpoint.model.pkl     pickle of OrderedDict(init, name, class, plans)
  OUT/reference/<case>_softmax.npy   float32 (C, z, y, x) at the cropped size: PyTorch's softmax, before the float16
                                     cast v1 applies when it writes the .npz
  OUT/reference/<case>_seg.npy       uint8 (z, y, x) in the input's geometry (argmax, un-cropped)
  OUT/reference/summary.json         per case: shapes, label counts, seconds; training losses

How the files are written follows the official v1 trainers (MIC-DKFZ/nnUNet v1 code as read at commit 0144b70b; the
official 2d fixture, made at nnunetv1 commit db16c6ce, has the same checkpoint keys):
  nnunet/training/network_training/network_trainer.py  NetworkTrainer.save_checkpoint: torch.save({'epoch',
      'state_dict' (every tensor .cpu()), 'optimizer_state_dict', 'lr_scheduler_state_dict' (None for
      nnUNetTrainerV2: poly lr is set by hand), 'plot_stuff': (all_tr_losses, all_val_losses, all_val_losses_tr_mode,
      all_val_eval_metrics), 'best_stuff': (best_epoch_based_on_MA_tr_loss, best_MA_tr_loss_for_patience,
      best_val_eval_criterion_MA)}, fname) (+ 'amp_grad_scaler' with fp16, not here);
  nnunet/training/network_training/nnUNetTrainer.py  nnUNetTrainer.save_checkpoint: then
      write_pickle(OrderedDict(init=self.init_args, name=class name, class=str(class), plans=self.plans), fname + '.pkl').
  init_args of nnUNetTrainerV2 (run_training for 3d_fullres): (plans_file, fold, output_folder, dataset_directory,
      batch_dice=True, stage=0, unpack_data=True, deterministic=False, fp16=False).
The plans start from the official 2d fixture's pickled plans (../shared/fixtures/official/checkpoints/
Task004_Hippocampus_v1_2d: dataset_properties, normalization, spacing 1 mm) with the 3d_fullres stage of the official
v1 3D plans (../shared/fixtures/official/hippocampus_v1_plans_3d.json: patch 40x56x40, batch 7, three 2x2x2
poolings, 3x3x3 kernels), except base_num_features 8 instead of 32 so that generation stays short on a CPU.

Network: bench/python/torch_step_parity.py's GenericUNet (Generic_UNet re-implemented from nnunetv1's
generic_UNet.py, same state_dict names), InitWeights_He(1e-2). Trained STEPS (default 300) SGD steps (0.01,
nesterov 0.99, wd 3e-5, poly lr, clip 12), batch 2, CE + batch soft Dice on the full-resolution output, mirror
augmentation over the three axes, on whole cropped + normalized training cases (they fit in the patch), padded at a
random offset; the three fixture cases are not trained on.

Prediction restates v1 (nnunet/inference/predict.py -> nnUNetTrainer.preprocess_patient +
predict_preprocessed_data_return_seg_and_softmax -> network/neural_network.py SegmentationNetwork.predict_3D):
  GenericPreprocessor: crop to the non-zero bounding box, no resampling (spacing 1 mm = target), per channel
      (data - mean) / (std + 1e-8) in float32 (use_nonzero_mask False);
  _internal_predict_3D_3Dconv_tiled: pad_nd_image to the patch (constant 0), _compute_steps_for_sliding_window
      (step 0.5), Gaussian importance map (sigma 1/8, max 1, float32, zeros -> min), per tile
      _internal_maybe_mirror_and_pred_3D (softmax of each of the 8 mirror combinations in v1's order, each times
      1/8, summed, times the Gaussian), aggregated in float32, divided by the summed Gaussian;
  save_segmentation_nifti_from_softmax: no resampling (same spacing), argmax, un-cropped with 0.

Usage: [STEPS=300] [NNUNET_REF_THREADS=2] /usr/bin/python3 bench/python/make_v1_fixture.py OUT_DIR [DATA_DIR]
"""
import json
import os
import pickle
import sys
import time
from collections import OrderedDict

import nibabel as nib
import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step_parity import GenericUNet  # noqa: E402

torch.set_num_threads(int(os.environ.get('NNUNET_REF_THREADS', '2')))
torch.manual_seed(1234)
np.random.seed(1234)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1]
DATA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, '..', '..', '..', 'shared', 'data', 'Task04_Hippocampus')
OFFICIAL = os.path.join(HERE, '..', '..', '..', 'shared', 'fixtures', 'official')
OFFICIAL_2D = os.path.join(OFFICIAL, 'checkpoints', 'Task004_Hippocampus_v1_2d', 'nnUNetTrainerV2__nnUNetPlansv2.1', 'fold_0',
                           'model_final_checkpoint.model.pkl')
FIXTURE_CASES = ['hippocampus_001', 'hippocampus_003', 'hippocampus_004']
STEPS = int(os.environ.get('STEPS', '300'))
PATCH = [40, 56, 40]
POOL = [[2, 2, 2]] * 3
KERNELS = [[3, 3, 3]] * 4
BASE = 8
NUM_CLASSES = 3


def load_case(case, with_seg=True):
    img = nib.load(os.path.join(DATA, 'imagesTr', case + '.nii.gz'))
    data = np.asarray(img.dataobj).astype(np.float32).transpose(2, 1, 0)  # SimpleITK order (z, y, x)
    seg = np.asarray(nib.load(os.path.join(DATA, 'labelsTr', case + '.nii.gz')).dataobj).astype(np.uint8).transpose(2, 1, 0) if with_seg else None
    return data, seg


def preprocess(data):
    """GenericPreprocessor for this plans: crop to non-zero, (x - mean) / (std + 1e-8) in float32."""
    nz = np.argwhere(data != 0)
    lo, hi = nz.min(0), nz.max(0) + 1
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    d = data[sl].astype(np.float32)
    mn = d.mean()
    std = d.std()
    d = (d - mn) / (std + 1e-8)
    return d[None].astype(np.float32), sl


def make_plans():
    info = pickle.load(open(OFFICIAL_2D, 'rb'))
    plans = info['plans']
    st = json.load(open(os.path.join(OFFICIAL, 'hippocampus_v1_plans_3d.json')))['plans_per_stage']['0']
    assert st['patch_size'] == PATCH and st['pool_op_kernel_sizes'] == POOL and st['conv_kernel_sizes'] == KERNELS
    plans['base_num_features'] = BASE
    plans['data_identifier'] = 'nnUNetData_plans_v2.1'
    plans['preprocessor_name'] = 'GenericPreprocessor'
    # numpy arrays where the official pickles have them (patch size, median size, spacings)
    plans['plans_per_stage'] = {0: {
        'batch_size': st['batch_size'], 'num_pool_per_axis': st['num_pool_per_axis'], 'patch_size': np.array(st['patch_size']),
        'median_patient_size_in_voxels': np.array(st['median_patient_size_in_voxels']), 'current_spacing': np.array(st['current_spacing']),
        'original_spacing': np.array(st['original_spacing']), 'do_dummy_2D_data_aug': st['do_dummy_2D_data_aug'],
        'pool_op_kernel_sizes': st['pool_op_kernel_sizes'], 'conv_kernel_sizes': st['conv_kernel_sizes'],
    }}
    return plans


def soft_dice_batch(logits, y):
    p = torch.softmax(logits, 1)
    oh = torch.nn.functional.one_hot(y, NUM_CLASSES).permute(0, 4, 1, 2, 3).float()
    axes = (0, 2, 3, 4)
    inter = (p * oh).sum(axes)[1:]
    den = (p + oh).sum(axes)[1:]
    return (2 * inter + 1e-5) / (den + 1e-5)


def sgd_step(net, opt, ce, xb, yb, it, steps, losses):
    """One step of CE + batch soft Dice with nnUNetTrainerV2's gradient clipping (12); logs every 25 steps."""
    out = net(torch.from_numpy(xb))[0]
    y = torch.from_numpy(yb)
    dice = soft_dice_batch(out, y)
    loss = ce(out, y) - dice.mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
    opt.step()
    losses.append(float(loss.item()))
    if it % 25 == 0 or it == steps - 1:
        print(f'  step {it} loss {loss.item():.4f} dice {dice.detach().numpy().round(3)}', flush=True)


def train(net, cases, steps):
    opt = torch.optim.SGD(net.parameters(), 0.01, weight_decay=3e-5, momentum=0.99, nesterov=True)
    ce = nn.CrossEntropyLoss()
    rs = np.random.RandomState(0)
    losses = []
    bs = 2
    net.train()
    for it in range(steps):
        lr = 0.01 * (1 - it / steps) ** 0.9
        for g in opt.param_groups:
            g['lr'] = lr
        xb = np.zeros((bs, 1, *PATCH), np.float32)
        yb = np.zeros((bs, *PATCH), np.int64)
        for b in range(bs):
            d, s = cases[rs.randint(len(cases))]
            d = d[:, :PATCH[0], :PATCH[1], :PATCH[2]]
            s = s[:PATCH[0], :PATCH[1], :PATCH[2]]
            for ax in range(3):
                if rs.rand() < 0.5:
                    d = np.flip(d, ax + 1)
                    s = np.flip(s, ax)
            o = [rs.randint(0, p - n + 1) for p, n in zip(PATCH, s.shape)]
            xb[b, 0, o[0]:o[0] + s.shape[0], o[1]:o[1] + s.shape[1], o[2]:o[2] + s.shape[2]] = d[0]
            yb[b, o[0]:o[0] + s.shape[0], o[1]:o[1] + s.shape[1], o[2]:o[2] + s.shape[2]] = s
        sgd_step(net, opt, ce, xb, yb, it, steps, losses)
    return opt, losses


# ---- v1 inference (network/neural_network.py), see the module docstring ----

def get_gaussian(patch_size, sigma_scale=1. / 8):
    from scipy.ndimage import gaussian_filter
    tmp = np.zeros(patch_size)
    center_coords = [i // 2 for i in patch_size]
    sigmas = [i * sigma_scale for i in patch_size]
    tmp[tuple(center_coords)] = 1
    g = gaussian_filter(tmp, sigmas, 0, mode='constant', cval=0)
    g = g / np.max(g) * 1
    g = g.astype(np.float32)
    g[g == 0] = np.min(g[g != 0])
    return g


def compute_steps(patch_size, image_size, step_size):
    target = [i * step_size for i in patch_size]
    num_steps = [int(np.ceil((i - k) / j)) + 1 for i, j, k in zip(image_size, target, patch_size)]
    steps = []
    for dim in range(len(patch_size)):
        max_step_value = image_size[dim] - patch_size[dim]
        actual = max_step_value / (num_steps[dim] - 1) if num_steps[dim] > 1 else 99999999999
        steps.append([int(np.round(actual * i)) for i in range(num_steps[dim])])
    return steps


def pad_nd_image(image, new_shape):
    old = np.array(image.shape[-len(new_shape):])
    new = np.maximum(np.array(new_shape), old)
    diff = new - old
    below = diff // 2
    above = diff // 2 + diff % 2
    pad = [[0, 0]] * (image.ndim - len(new_shape)) + [list(i) for i in zip(below, above)]
    res = np.pad(image, pad, 'constant', constant_values=0)
    slicer = [slice(None)] * (image.ndim - len(new_shape)) + [slice(b, res.shape[image.ndim - len(new_shape) + i] - a)
                                                              for i, (b, a) in enumerate(zip(below, above))]
    return res, tuple(slicer)


# v1's _internal_maybe_mirror_and_pred_3D order (m = 0..7) as flip dims of (b, c, z, y, x)
MIRRORS = [None, (4,), (3,), (4, 3), (2,), (4, 2), (3, 2), (4, 3, 2)]


@torch.no_grad()
def mirror_and_pred(net, x, mult, mirrors=MIRRORS):
    """v1 _internal_maybe_mirror_and_pred_3D: each mirror's softmax times 1/len(mirrors), summed, times the Gaussian."""
    result = torch.zeros([1, NUM_CLASSES] + list(x.shape[2:]), dtype=torch.float)
    for m in mirrors:
        if m is None:
            pred = torch.softmax(net(x)[0], 1)
            result += 1 / len(mirrors) * pred
        else:
            pred = torch.softmax(net(torch.flip(x, m))[0], 1)
            result += 1 / len(mirrors) * torch.flip(pred, m)
    result[:, :] *= mult
    return result


@torch.no_grad()
def predict_3d(net, data, step_size=0.5, patch_size=None, mirrors=MIRRORS):
    """v1 _internal_predict_3D_3Dconv_tiled; `mirrors` [None] is do_mirroring False."""
    ps = patch_size or PATCH
    net.eval()
    data, slicer = pad_nd_image(data, ps)
    steps = compute_steps(ps, data.shape[1:], step_size)
    g = get_gaussian(ps)
    gt = torch.from_numpy(g)
    agg = np.zeros([NUM_CLASSES] + list(data.shape[1:]), dtype=np.float32)
    nb = np.zeros([NUM_CLASSES] + list(data.shape[1:]), dtype=np.float32)
    for x in steps[0]:
        for y in steps[1]:
            for z in steps[2]:
                patch = torch.from_numpy(np.ascontiguousarray(data[None, :, x:x + ps[0], y:y + ps[1], z:z + ps[2]]))
                pred = mirror_and_pred(net, patch, gt, mirrors)[0].numpy()
                agg[:, x:x + ps[0], y:y + ps[1], z:z + ps[2]] += pred
                nb[:, x:x + ps[0], y:y + ps[1], z:z + ps[2]] += g
    sl = (slice(None),) + slicer[1:]
    agg = agg[sl]
    nb = nb[sl]
    return agg / nb


def save_checkpoint(model_dir, plans, net, opt, losses, steps, init, name, cls):
    """nnUNetTrainer.save_checkpoint (see the module docstring): plans.pkl, fold_0/model_final_checkpoint.model + .pkl."""
    fold_dir = os.path.join(model_dir, 'fold_0')
    os.makedirs(fold_dir, exist_ok=True)
    with open(os.path.join(model_dir, 'plans.pkl'), 'wb') as f:
        pickle.dump(plans, f)
    state_dict = net.state_dict()
    for k in state_dict.keys():
        state_dict[k] = state_dict[k].cpu()
    epochs = max(1, steps // 250)  # nnUNetTrainerV2: 250 iterations per epoch
    save_this = {
        'epoch': epochs,
        'state_dict': state_dict,
        'optimizer_state_dict': opt.state_dict(),
        'lr_scheduler_state_dict': None,
        'plot_stuff': ([float(np.mean(losses))], [float(losses[-1])], [], [0.0]),
        'best_stuff': (epochs - 1, float(np.mean(losses)), 0.0),
    }
    ck = os.path.join(fold_dir, 'model_final_checkpoint.model')
    torch.save(save_this, ck)
    info = OrderedDict()
    info['init'] = init
    info['name'] = name
    info['class'] = cls
    info['plans'] = plans
    with open(ck + '.pkl', 'wb') as f:
        pickle.dump(info, f)


def dice_per_label(pred, truth, labels=(1, 2)):
    return [float(2 * ((pred == k) & (truth == k)).sum() / max(1, (pred == k).sum() + (truth == k).sum())) for k in labels]


def write_summary(ref, summary, t0):
    summary['total_seconds'] = round(time.time() - t0, 1)
    json.dump(summary, open(os.path.join(ref, 'summary.json'), 'w'), indent=1)
    print(json.dumps({'total_seconds': summary['total_seconds']}))


def main():
    t0 = time.time()
    ds = json.load(open(os.path.join(DATA, 'dataset.json')))
    all_cases = sorted(os.path.basename(t['image']).replace('.nii.gz', '') for t in ds['training'])
    train_ids = [c for c in all_cases if c not in FIXTURE_CASES][:120]
    cases = []
    for c in train_ids:
        d, s = load_case(c)
        dp, sl = preprocess(d)
        cases.append((dp, s[sl]))
    plans = make_plans()
    torch.manual_seed(1234)
    net = GenericUNet(1, BASE, NUM_CLASSES, POOL, KERNELS, 2, 320)
    for m in net.modules():  # InitWeights_He(1e-2)
        if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
            nn.init.kaiming_normal_(m.weight, a=1e-2)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
    nparams = sum(p.numel() for p in net.parameters())
    print(f'Generic_UNet 3d base {BASE}: {nparams} parameters, training {STEPS} steps', flush=True)
    opt, losses = train(net, cases, STEPS)
    t_train = time.time() - t0

    model_dir = os.path.join(OUT, 'Task004_Hippocampus', 'nnUNetTrainerV2__nnUNetPlansv2.1')
    pre = '/home/user/nnUNet/preprocessed/Task004_Hippocampus'
    save_checkpoint(model_dir, plans, net, opt, losses, STEPS,
                    (f'{pre}/nnUNetPlansv2.1_plans_3D.pkl', 0,
                     '/home/user/nnUNet/results/nnUNet/3d_fullres/Task004_Hippocampus/nnUNetTrainerV2__nnUNetPlansv2.1',
                     pre, True, 0, True, False, False),
                    'nnUNetTrainerV2', "<class 'nnunet.training.network_training.nnUNetTrainerV2.nnUNetTrainerV2'>")

    ref = os.path.join(OUT, 'reference')
    os.makedirs(ref, exist_ok=True)
    summary = {'steps': STEPS, 'parameters': nparams, 'train_seconds': round(t_train, 1), 'first_losses': losses[:5],
               'last_losses': losses[-5:], 'cases': {}}
    for c in FIXTURE_CASES:
        t1 = time.time()
        d, s = load_case(c)
        dp, sl = preprocess(d)
        sm = predict_3d(net, dp)
        seg_crop = sm.argmax(0).astype(np.uint8)
        seg = np.zeros(d.shape, np.uint8)
        seg[sl] = seg_crop
        np.save(os.path.join(ref, f'{c}_softmax.npy'), sm.astype(np.float32))
        np.save(os.path.join(ref, f'{c}_seg.npy'), seg)
        summary['cases'][c] = {'shape': list(d.shape), 'cropped': list(dp.shape[1:]), 'labels': np.bincount(seg.ravel(), minlength=3).tolist(),
                               'dice_vs_ground_truth': dice_per_label(seg, s), 'seconds': round(time.time() - t1, 2)}
        print(f'  {c}: {summary["cases"][c]}', flush=True)
    write_summary(ref, summary, t0)


if __name__ == '__main__':
    main()
