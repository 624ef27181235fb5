"""Make the nnU-Net v2 model-folder fixtures of issue 22 (test/fixtures/v2_models/), with Debian's torch 1.13:

  Dataset004_Hippocampus/nnUNetTrainer__nnUNetPlans__2d/            PlainConvUNet   (default nnUNetPlans)
  Dataset004_Hippocampus/nnUNetTrainer__nnUNetResEncUNetMPlans__2d/ ResidualEncoderUNet (nnUNetResEncUNetMPlans)
      plans.json, dataset.json, dataset_fingerprint.json, fold_0/checkpoint_final.pth
  cases/<case>_input.npy           the preprocessed input (float32, (1, z, y, x)): cropped to the non-zero box,
                                   ZScoreNormalization (spacing is 1 mm, so no resampling)
  cases/<case>_<model>_logits.npy  PyTorch's predicted logits (float16, exact: v2 aggregates in float16)
  cases/<case>_<model>_seg.npy     argmax of softmax(logits.float()) (uint8); the softmax itself is not stored:
                                   it is that function of the exact logits (3 cases for plain, 2 for resenc)

Networks: bench/python/dna_networks.py (dynamic_network_architectures' classes, copied; commits there).
Checkpoint: as nnUNetTrainer.save_checkpoint writes it (MIC-DKFZ/nnUNet master,
nnunetv2/training/nnUNetTrainer/nnUNetTrainer.py at commit 959729c8): a torch.save of
  { network_weights: state_dict, optimizer_state, grad_scaler_state (None without CUDA), logging, _best_ema,
    current_epoch, init_args: {plans, configuration, fold, dataset_json, device}, trainer_name,
    inference_allowed_mirroring_axes }.
Prediction: nnUNetPredictor.predict_sliding_window_return_logits (nnunetv2/inference/predict_from_raw_data.py at
commit 00f73256): pad_nd_image to the patch, slicers per slice (2d) with compute_steps_for_sliding_window(step 0.5),
_internal_maybe_mirror_and_predict (sum of network(x) and flip(network(flip(x))) over all non-empty combinations of
the allowed mirror axes, divided by their count + 1), prediction *= gaussian (compute_gaussian: sigma 1/8,
value_scaling_factor 10, float16), predicted_logits (float16) += prediction, n_predictions (float16) += gaussian,
predicted_logits /= n_predictions (float16); then LabelManager.apply_inference_nonlin: softmax(logits.float()).

The networks are small on purpose (UNet_base_num_features 8, max 64; ResEnc 8,16,16,32 with blocks 1,2,2,2) so the checkpoints stay ~1 MB; the plans are
otherwise what the v2 planners write for hippocampus 2d. Trained on the first 120 sorted cases other than the three
fixture cases (CE + soft Dice, poly lr): plain 300 SGD steps (0.01, nesterov 0.99); resenc 1000 Adam steps (1e-3) with
foreground oversampling and mirror augmentation (test/fixtures/v2_models/README.md has the exact commands).

Usage: [STEPS=300] [ONLY=plain|resenc] [FG_OVERSAMPLE=1] [MIRROR_AUG=1] [OPTIMIZER=sgd|adam] [LR=...] [NNUNET_REF_THREADS=2] /usr/bin/python3 bench/python/make_v2_fixture.py OUT_DIR [DATA_DIR]
"""
import itertools
import json
import os
import sys
from functools import lru_cache

import nibabel as nib
import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dna_networks import PlainConvUNet, ResidualEncoderUNet, init_he  # noqa: E402

torch.set_num_threads(int(os.environ.get('NNUNET_REF_THREADS', '2')))  # 1 on a shared machine: 2 threads contending spin
torch.manual_seed(1234)
np.random.seed(1234)

OUT = sys.argv[1]
DATA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data', 'Task04_Hippocampus')
FIXTURE_CASES = ['hippocampus_001', 'hippocampus_003', 'hippocampus_004']
STEPS = int(os.environ.get('STEPS', '300'))
OPTIMIZER = os.environ.get('OPTIMIZER', 'sgd')  # sgd (nnUNetTrainer's) or adam
LR = float(os.environ.get('LR', '1e-3' if OPTIMIZER == 'adam' else '1e-2'))
FG_OVERSAMPLE = os.environ.get('FG_OVERSAMPLE') == '1'
MIRROR_AUG = os.environ.get('MIRROR_AUG') == '1'  # used for the ResEnc fixture (see test/fixtures/v2_models/README.md)
PATCH = [56, 40]
FEATURES = [8, 16, 32, 64]
FEATURES_RESENC = [8, 16, 16, 32]
BLOCKS_RESENC = [1, 2, 2, 2]  # ResEnc M has 1,3,4,6(,6,6): fewer here so the checkpoint (Adam state included) stays < 1 MB
STRIDES = [[1, 1], [2, 2], [2, 2], [2, 2]]
KERNELS = [[3, 3]] * 4


def load_case(case):
    img = nib.load(os.path.join(DATA, 'imagesTr', case + '.nii.gz'))
    seg = nib.load(os.path.join(DATA, 'labelsTr', case + '.nii.gz'))
    # SimpleITK order (z, y, x), as nnU-Net's SimpleITKIO reads it
    return np.asarray(img.dataobj).astype(np.float32).transpose(2, 1, 0), np.asarray(seg.dataobj).astype(np.uint8).transpose(2, 1, 0), img


def preprocess(data):
    """crop_to_nonzero (bounding box of data != 0) + ZScoreNormalization (use_mask_for_norm False)."""
    nz = np.argwhere(data != 0)
    lo, hi = nz.min(0), nz.max(0) + 1
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    d = data[sl].astype(np.float32)
    d = (d - d.mean()) / max(d.std(), 1e-8)
    return d[None].astype(np.float32), sl


def plans_and_json(cases):
    props = []
    for c in cases:
        d, s, _ = load_case(c)
        props.append(d[s > 0])
    fg = np.concatenate(props)
    ip = {'max': float(fg.max()), 'mean': float(fg.mean()), 'median': float(np.median(fg)), 'min': float(fg.min()),
          'percentile_00_5': float(np.percentile(fg, 0.5)), 'percentile_99_5': float(np.percentile(fg, 99.5)), 'std': float(fg.std())}
    dataset_json = {'channel_names': {'0': 'MRI'}, 'labels': {'background': 0, 'Anterior': 1, 'Posterior': 2}, 'numTraining': 260,
                    'file_ending': '.nii.gz', 'name': 'Hippocampus'}
    fingerprint = {'foreground_intensity_properties_per_channel': {'0': ip}, 'spacings': [[1.0, 1.0, 1.0]] * len(cases),
                   'shapes_after_crop': [list(load_case(c)[0].shape) for c in cases[:20]], 'median_relative_size_after_cropping': 1.0}
    resampling = {
        'resampling_fn_data': 'resample_data_or_seg_to_shape',
        'resampling_fn_seg': 'resample_data_or_seg_to_shape',
        'resampling_fn_data_kwargs': {'is_seg': False, 'order': 3, 'order_z': 0, 'force_separate_z': None},
        'resampling_fn_seg_kwargs': {'is_seg': True, 'order': 1, 'order_z': 0, 'force_separate_z': None},
        'resampling_fn_probabilities': 'resample_data_or_seg_to_shape',
        'resampling_fn_probabilities_kwargs': {'is_seg': False, 'order': 1, 'order_z': 0, 'force_separate_z': None},
    }
    common = {'conv_op': 'torch.nn.modules.conv.Conv2d', 'kernel_sizes': KERNELS, 'strides': STRIDES, 'conv_bias': True,
              'norm_op': 'torch.nn.modules.instancenorm.InstanceNorm2d', 'norm_op_kwargs': {'eps': 1e-05, 'affine': True},
              'dropout_op': None, 'dropout_op_kwargs': None, 'nonlin': 'torch.nn.LeakyReLU', 'nonlin_kwargs': {'inplace': True}}

    def plans(name, cls, extra):
        cfg = {'data_identifier': f'{name}_2d', 'preprocessor_name': 'DefaultPreprocessor', 'batch_size': 366, 'patch_size': PATCH,
               'median_image_size_in_voxels': [50.0, 35.0], 'spacing': [1.0, 1.0], 'normalization_schemes': ['ZScoreNormalization'],
               'use_mask_for_norm': [False], **resampling,
               'architecture': {'network_class_name': cls,
                                'arch_kwargs': {'n_stages': 4, 'features_per_stage': FEATURES, **common, **extra},
                                '_kw_requires_import': ['conv_op', 'norm_op', 'dropout_op', 'nonlin']},
               'batch_dice': True}
        return {'dataset_name': 'Dataset004_Hippocampus', 'plans_name': name, 'original_median_spacing_after_transp': [1.0, 1.0, 1.0],
                'original_median_shape_after_transp': [36, 50, 35], 'image_reader_writer': 'SimpleITKIO', 'transpose_forward': [0, 1, 2],
                'transpose_backward': [0, 1, 2], 'configurations': {'2d': cfg}, 'experiment_planner_used': 'ExperimentPlanner',
                'label_manager': 'LabelManager', 'foreground_intensity_properties_per_channel': {'0': ip}}

    # keep the dict order of arch_kwargs as the planners write it
    plain = plans('nnUNetPlans', 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
                  {'n_conv_per_stage': [2, 2, 2, 2], 'n_conv_per_stage_decoder': [2, 2, 2]})
    resenc = plans('nnUNetResEncUNetMPlans', 'dynamic_network_architectures.architectures.unet.ResidualEncoderUNet',
                   {'n_blocks_per_stage': BLOCKS_RESENC, 'n_conv_per_stage_decoder': [1, 1, 1]})
    resenc['configurations']['2d']['architecture']['arch_kwargs']['features_per_stage'] = FEATURES_RESENC
    return plain, resenc, dataset_json, fingerprint


def build(plans):
    a = plans['configurations']['2d']['architecture']
    k = a['arch_kwargs']
    if a['network_class_name'].endswith('PlainConvUNet'):
        return PlainConvUNet(1, k['n_stages'], k['features_per_stage'], k['kernel_sizes'], k['strides'], k['n_conv_per_stage'], 3,
                             k['n_conv_per_stage_decoder'], 2)
    return ResidualEncoderUNet(1, k['n_stages'], k['features_per_stage'], k['kernel_sizes'], k['strides'], k['n_blocks_per_stage'], 3,
                               k['n_conv_per_stage_decoder'], 2)


def train(net, slices, steps):
    if OPTIMIZER == 'adam':
        # the ResEnc fixture: SGD (nnUNetTrainer's) leaves this small ResEnc at background after 600 steps
        opt = torch.optim.Adam(net.parameters(), LR, weight_decay=3e-5)
    else:
        opt = torch.optim.SGD(net.parameters(), LR, weight_decay=3e-5, momentum=0.99, nesterov=True)
    ce = nn.CrossEntropyLoss()
    logging = {k: [] for k in ['mean_fg_dice', 'ema_fg_dice', 'dice_per_class_or_region', 'train_losses', 'val_losses', 'lrs',
                               'epoch_start_timestamps', 'epoch_end_timestamps']}
    rs = np.random.RandomState(0)
    fg_slices = [(d, s) for d, s in slices if (s > 0).any()]
    bs = 16
    for it in range(steps):
        lr = LR * (1 - it / steps) ** 0.9
        for g in opt.param_groups:
            g['lr'] = lr
        xb = np.zeros((bs, 1, *PATCH), np.float32)
        yb = np.zeros((bs, *PATCH), np.int64)
        for b in range(bs):
            if FG_OVERSAMPLE and b >= bs - round(bs * 0.33):
                # nnU-Net's oversample_foreground_percent 0.33: the last third of the batch centred on a foreground voxel
                d, s = fg_slices[rs.randint(len(fg_slices))]
                fy, fx = np.argwhere(s > 0)[rs.randint(int((s > 0).sum()))]
                y0 = int(np.clip(fy - PATCH[0] // 2, 0, max(0, d.shape[0] - PATCH[0])))
                x0 = int(np.clip(fx - PATCH[1] // 2, 0, max(0, d.shape[1] - PATCH[1])))
            else:
                d, s = slices[rs.randint(len(slices))]
                y0 = rs.randint(0, max(1, d.shape[0] - PATCH[0] + 1))
                x0 = rs.randint(0, max(1, d.shape[1] - PATCH[1] + 1))
            dd = d[y0:y0 + PATCH[0], x0:x0 + PATCH[1]]
            ss = s[y0:y0 + PATCH[0], x0:x0 + PATCH[1]]
            if MIRROR_AUG:
                # nnU-Net's MirrorTransform over the inference_allowed_mirroring_axes (0, 1), p 0.5 each: without it
                # mirroring TTA averages in predictions on flips the network never saw
                for ax in (0, 1):
                    if rs.rand() < 0.5:
                        dd = np.flip(dd, ax)
                        ss = np.flip(ss, ax)
            xb[b, 0, :dd.shape[0], :dd.shape[1]] = dd
            yb[b, :ss.shape[0], :ss.shape[1]] = ss
        x = torch.from_numpy(xb)
        y = torch.from_numpy(yb)
        out = net(x)
        p = torch.softmax(out, 1)
        oh = torch.nn.functional.one_hot(y, 3).permute(0, 3, 1, 2).float()
        inter = (p * oh).sum((0, 2, 3))[1:]
        den = (p + oh).sum((0, 2, 3))[1:]
        dice = (2 * inter + 1e-5) / (den + 1e-5)
        loss = ce(out, y) - dice.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
        opt.step()
        if it % 50 == 0 or it == steps - 1:
            print(f'  step {it} loss {loss.item():.4f} dice {dice.detach().numpy().round(3)}', flush=True)
        if (it + 1) % 50 == 0:
            logging['train_losses'].append(float(loss.item()))
            logging['lrs'].append(lr)
            logging['mean_fg_dice'].append(float(dice.mean()))
            logging['ema_fg_dice'].append(np.float64(dice.mean().item()))
            logging['dice_per_class_or_region'].append([float(v) for v in dice])
            logging['val_losses'].append(float(loss.item()))
            logging['epoch_start_timestamps'].append(0.0)
            logging['epoch_end_timestamps'].append(0.0)
    return opt, logging


# ---- v2 prediction (nnUNetPredictor), see the module docstring ----

@lru_cache(maxsize=2)
def compute_gaussian(tile_size, sigma_scale=1. / 8, value_scaling_factor=10, dtype=torch.float16):
    from scipy.ndimage import gaussian_filter
    tmp = np.zeros(tile_size)
    center_coords = [i // 2 for i in tile_size]
    sigmas = [i * sigma_scale for i in tile_size]
    tmp[tuple(center_coords)] = 1
    g = gaussian_filter(tmp, sigmas, 0, mode='constant', cval=0)
    g = torch.from_numpy(g)
    g /= (torch.max(g) / value_scaling_factor)
    g = g.to(dtype=dtype)
    mask = g == 0
    g[mask] = torch.min(g[~mask])
    return g


def compute_steps_for_sliding_window(image_size, tile_size, tile_step_size):
    target_step_sizes_in_voxels = [i * tile_step_size for i in tile_size]
    num_steps = [int(np.ceil((i - k) / j)) + 1 for i, j, k in zip(image_size, target_step_sizes_in_voxels, tile_size)]
    steps = []
    for dim in range(len(tile_size)):
        max_step_value = image_size[dim] - tile_size[dim]
        actual_step_size = max_step_value / (num_steps[dim] - 1) if num_steps[dim] > 1 else 99999999999
        steps.append([int(np.round(actual_step_size * i)) for i in range(num_steps[dim])])
    return steps


def pad_nd_image(image, new_shape):
    old = np.array(image.shape[-len(new_shape):])
    new = np.maximum(np.array(new_shape), old)
    diff = new - old
    below = diff // 2
    above = diff // 2 + diff % 2
    pad = [[0, 0]] * (image.ndim - len(new_shape)) + [list(i) for i in zip(below, above)]
    res = torch.nn.functional.pad(image, [p for pp in reversed(pad) for p in pp], 'constant', 0)
    revert = [slice(None)] * (image.ndim - len(new_shape)) + [slice(b, res.shape[image.ndim - len(new_shape) + i] - a)
                                                              for i, (b, a) in enumerate(zip(below, above))]
    return res, tuple(revert)


@torch.inference_mode()
def predict_logits(net, data, mirror_axes=(0, 1), step=0.5):
    net.eval()
    data, revert = pad_nd_image(data, PATCH)
    steps = compute_steps_for_sliding_window(data.shape[2:], PATCH, step)
    slicers = []
    for d in range(data.shape[1]):
        for sx in steps[0]:
            for sy in steps[1]:
                slicers.append(tuple([slice(None), d, *[slice(si, si + ti) for si, ti in zip((sx, sy), PATCH)]]))
    logits = torch.zeros((3, *data.shape[1:]), dtype=torch.half)
    n_pred = torch.zeros(data.shape[1:], dtype=torch.half)
    gaussian = compute_gaussian(tuple(PATCH))
    axes = [m + 2 for m in mirror_axes]
    combos = [c for i in range(len(axes)) for c in itertools.combinations(axes, i + 1)]
    for sl in slicers:
        x = torch.clone(data[sl][None], memory_format=torch.contiguous_format)
        pred = net(x)
        for a in combos:
            pred += torch.flip(net(torch.flip(x, a)), a)
        pred /= (len(combos) + 1)
        pred = pred[0]
        pred *= gaussian
        logits[sl] += pred
        n_pred[sl[1:]] += gaussian
    torch.div(logits, n_pred, out=logits)
    return logits[(slice(None), *revert[1:])]


def main():
    os.makedirs(os.path.join(OUT, 'cases'), exist_ok=True)
    ds = json.load(open(os.path.join(DATA, 'dataset.json')))
    all_cases = sorted(os.path.basename(t['image']).replace('.nii.gz', '') for t in ds['training'])
    train_cases = [c for c in all_cases if c not in FIXTURE_CASES][:120]
    plain, resenc, dataset_json, fingerprint = plans_and_json(train_cases[:40])
    slices = []
    for c in train_cases:
        d, s, _ = load_case(c)
        dp, sl = preprocess(d)
        sp = s[sl]
        for z in range(dp.shape[1]):
            slices.append((dp[0, z], sp[z]))
    inputs = {}
    for c in FIXTURE_CASES:
        d, _, _ = load_case(c)
        inputs[c] = preprocess(d)[0]
        np.save(os.path.join(OUT, 'cases', f'{c}_input.npy'), inputs[c])
    only = os.environ.get('ONLY')  # 'plain' or 'resenc': (re)make one model folder
    for tag, plans in [('plain', plain), ('resenc', resenc)]:
        if only and tag != only:
            continue
        torch.manual_seed(1234)
        net = build(plans)
        init_he(net)
        print(f'{tag}: {sum(p.numel() for p in net.parameters())} parameters, training {STEPS} steps', flush=True)
        opt, logging = train(net, slices, STEPS)
        folder = os.path.join(OUT, 'Dataset004_Hippocampus', f'nnUNetTrainer__{plans["plans_name"]}__2d')
        os.makedirs(os.path.join(folder, 'fold_0'), exist_ok=True)
        for name, obj in [('plans.json', plans), ('dataset.json', dataset_json), ('dataset_fingerprint.json', fingerprint)]:
            with open(os.path.join(folder, name), 'w') as f:
                json.dump(obj, f, sort_keys=False, indent=4)
        checkpoint = {
            'network_weights': net.state_dict(),
            'optimizer_state': opt.state_dict(),
            'grad_scaler_state': None,
            'logging': logging,
            '_best_ema': logging['ema_fg_dice'][-1] if logging['ema_fg_dice'] else None,
            'current_epoch': STEPS // 50,
            'init_args': {'plans': plans, 'configuration': '2d', 'fold': 0, 'dataset_json': dataset_json, 'device': torch.device('cpu')},
            'trainer_name': 'nnUNetTrainer',
            'inference_allowed_mirroring_axes': (0, 1),
        }
        torch.save(checkpoint, os.path.join(folder, 'fold_0', 'checkpoint_final.pth'))
        for c in FIXTURE_CASES if tag == 'plain' else FIXTURE_CASES[:2]:
            lg = predict_logits(net, torch.from_numpy(inputs[c]))
            sm = torch.softmax(lg.float(), 0)
            seg = sm.argmax(0).numpy().astype(np.uint8)
            np.save(os.path.join(OUT, 'cases', f'{c}_{tag}_logits.npy'), lg.numpy().astype(np.float16))
            np.save(os.path.join(OUT, 'cases', f'{c}_{tag}_seg.npy'), seg)
            print(f'  {c}: input {tuple(inputs[c].shape)}, labels {np.bincount(seg.ravel(), minlength=3)}', flush=True)


if __name__ == '__main__':
    main()
