"""Make an nnU-Net v1 cascade (3d_lowres + 3d_cascade_fullres) with Debian's torch 1.13, laid out as an official
results folder, and PyTorch's prediction of it following v1's predict_simple (issue 22).

  OUT/nnUNet/3d_lowres/Task004_Hippocampus/nnUNetTrainerV2__nnUNetPlansv2.1/
      plans.pkl, postprocessing.json (keep the largest component of labels 1 and 2), fold_0/model_final_checkpoint.model(.pkl)
  OUT/nnUNet/3d_cascade_fullres/Task004_Hippocampus/nnUNetTrainerV2CascadeFullRes__nnUNetPlansv2.1/
      plans.pkl, fold_0/model_final_checkpoint.model(.pkl)
  OUT/reference/<case>.npz          PyTorch's prediction of the test cases hippocampus_001 / 003 / 004 (held out from
                                    training) and hippocampus_001pad (hippocampus_001 with PAD zero slices around it:
                                    cropping is not a no-op there, so v1's uncropped cascade input shows): lowres_seg (uint8, the input's geometry, postprocessed: the
                                    file predict_simple writes into the lowres folder and reads back), softmax
                                    (float16 (C, z, y, x) at the cropped full-res size, as v1's --save_npz), seg
                                    (uint8, the input's geometry)
  OUT/reference/summary.json        shapes, label counts, Dice against the ground truth, training losses

Plans: two 3D stages, as v1's ExperimentPlanner3D_v21 writes them when the median case is large: stage 0 (3d_lowres)
at 1.5 mm, patch 24x32x24, two 2x2x2 poolings; stage 1 at 1 mm, patch 32x48x32, three 2x2x2 poolings. The rest of the
plans come from the official 2d fixture's pickle (make_v1_fixture.make_plans). base_num_features 4 so that both
checkpoints stay small enough to commit (test/fixtures/v1_cascade).

The trainers' files follow the official v1 code (MIC-DKFZ/nnUNet branch nnunetv1, read at 0144b70b):
  network_training/nnUNetTrainerV2.py / nnUNetTrainer.py save_checkpoint (see make_v1_fixture.py);
  network_training/nnUNetTrainerV2_CascadeFullRes.py: __init__(plans_file, fold, output_folder, dataset_directory,
      batch_dice, stage, unpack_data, deterministic, previous_trainer="nnUNetTrainerV2", fp16) are the pickled init
      args; process_plans adds num_classes - 1 input channels (the previous stage's one-hot segmentation).
Prediction (inference/predict_simple.py, predict.py predict_cases / preprocess_save_to_queue):
  1. 3d_lowres on every case (all folds, TTA), exported to the input's geometry (softmax resampled with order 1,
     argmax, un-cropped) and postprocessed with the lowres folder's postprocessing.json;
  2. 3d_cascade_fullres: the case preprocessed at stage 1; the lowres segmentation, in the *uncropped* geometry,
     transposed by transpose_forward and resize_segmentation(order=1) straight to the cropped preprocessed shape
     (v1's quirk: no crop first; reference appendix B.9), one-hot labels 1..K-1 appended; sliding window with TTA.
Training (a few hundred SGD steps each, as make_v1_fixture.py): the lowres network on the training cases at 1.5 mm;
the cascade on the same cases with the lowres network's predictions (no TTA) as the previous stage.

Usage: [STEPS=250] [NNUNET_REF_THREADS=2] /usr/bin/python3 bench/python/make_v1_cascade_fixture.py OUT_DIR [DATA_DIR]
"""
import json
import os
import sys
import time

import numpy as np
import torch
from scipy.ndimage import label as cc_label
from skimage.transform import resize
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_v1_fixture as v1  # noqa: E402
from torch_step_parity import GenericUNet  # noqa: E402
from v2_predict_raw import resample_data_or_seg  # noqa: E402  (v1's resample_data_or_seg, non-seg path: the same code)

OUT = sys.argv[1]
STEPS = int(os.environ.get('STEPS', '250'))
NUM_CLASSES = 3
BASE = 4
TASK = 'Task004_Hippocampus'
PLANS_ID = 'nnUNetPlansv2.1'
STAGES = {
    0: {'spacing': [1.5, 1.5, 1.5], 'patch': [24, 32, 24], 'pool': [[2, 2, 2]] * 2, 'kernels': [[3, 3, 3]] * 3},
    1: {'spacing': [1.0, 1.0, 1.0], 'patch': [32, 48, 32], 'pool': [[2, 2, 2]] * 3, 'kernels': [[3, 3, 3]] * 4},
}
PAD_CASE = 'hippocampus_001pad'
# zero slices before/after along (z, y, x) of hippocampus_001: cropping to non-zero removes them again
PAD = [(3, 2), (0, 5), (4, 0)]
MIRRORS_NONE = [None]


def make_plans(median_shape):
    plans = v1.make_plans()
    plans['base_num_features'] = BASE
    plans['plans_per_stage'] = {}
    for s, st in STAGES.items():
        sp = np.array(st['spacing'])
        plans['plans_per_stage'][s] = {
            'batch_size': 2, 'num_pool_per_axis': [len(st['pool'])] * 3, 'patch_size': np.array(st['patch']),
            'median_patient_size_in_voxels': np.round(np.array(median_shape) / sp).astype(int),
            'current_spacing': sp, 'original_spacing': np.array([1.0, 1.0, 1.0]), 'do_dummy_2D_data_aug': False,
            'pool_op_kernel_sizes': st['pool'], 'conv_kernel_sizes': st['kernels'],
        }
    return plans


def preprocess(data, spacing):
    """GenericPreprocessor.preprocess_test_case at a stage: crop to non-zero, resample (order 3, no separate z:
    isotropic), (x - mean) / (std + 1e-8) in float32. Returns the data and the crop slices."""
    nz = np.argwhere(data != 0)
    lo, hi = nz.min(0), nz.max(0) + 1
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    d = data[sl].astype(np.float32)[None]
    new_shape = np.round(np.array([1.0, 1.0, 1.0]) / np.array(spacing) * np.array(d.shape[1:])).astype(int)
    d = resample_data_or_seg(d, new_shape, False, None, 3, False, 0)
    mn, std = d[0].mean(), d[0].std()
    d[0] = (d[0] - mn) / (std + 1e-8)
    return d.astype(np.float32), sl


def resize_segmentation(seg, new_shape, order):
    """batchgenerators resize_segmentation (order > 0): each label's mask resized, >= 0.5 wins, in label order."""
    out = np.zeros(new_shape, dtype=seg.dtype)
    for c in np.unique(seg):
        m = resize((seg == c).astype(float), new_shape, order, mode='edge', clip=True, anti_aliasing=False)
        out[m >= 0.5] = c
    return out


def export_seg(softmax, cropped_shape, sl, raw_shape):
    """save_segmentation_nifti_from_softmax: softmax back to the cropped size (order 1, no separate z), argmax, un-crop."""
    if list(softmax.shape[1:]) != list(cropped_shape):
        softmax = resample_data_or_seg(softmax, np.array(cropped_shape), False, None, 1, False, 0)
    seg = np.zeros(raw_shape, np.uint8)
    seg[sl] = softmax.argmax(0).astype(np.uint8)
    return seg


def keep_largest(seg, classes):
    """v1 remove_all_but_the_largest_connected_component, each class on its own; ties keep every largest component."""
    seg = seg.copy()
    for c in classes:
        lab, n = cc_label(seg == c)
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel())[1:]
        for k in range(1, n + 1):
            if sizes[k - 1] != sizes.max():
                seg[lab == k] = 0
    return seg


def one_hot_prev(seg_raw, target_shape):
    """predict.py preprocess_save_to_queue: transpose_forward (identity), resize_segmentation order 1 to the cropped
    preprocessed shape (no crop first), to_one_hot(labels 1..K-1)."""
    r = resize_segmentation(seg_raw, target_shape, 1)
    return np.stack([(r == k).astype(np.float32) for k in range(1, NUM_CLASSES)])


def new_net(stage, in_ch):
    st = STAGES[stage]
    net = GenericUNet(in_ch, BASE, NUM_CLASSES, st['pool'], st['kernels'], 2, 320)
    for m in net.modules():  # InitWeights_He(1e-2)
        if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
            nn.init.kaiming_normal_(m.weight, a=1e-2)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
    return net


def train(net, cases, steps, patch, seed):
    """SGD as make_v1_fixture.train, on random patches (cases padded to the patch with 0 where smaller)."""
    opt = torch.optim.SGD(net.parameters(), 0.01, weight_decay=3e-5, momentum=0.99, nesterov=True)
    ce = nn.CrossEntropyLoss()
    rs = np.random.RandomState(seed)
    losses = []
    bs = 2
    net.train()
    for it in range(steps):
        for g in opt.param_groups:
            g['lr'] = 0.01 * (1 - it / steps) ** 0.9
        xb = np.zeros((bs, cases[0][0].shape[0], *patch), np.float32)
        yb = np.zeros((bs, *patch), np.int64)
        for b in range(bs):
            d, s = cases[rs.randint(len(cases))]
            need = [max(0, p - n) for p, n in zip(patch, s.shape)]
            d = np.pad(d, [(0, 0)] + [(0, k) for k in need])
            s = np.pad(s, [(0, k) for k in need])
            o = [rs.randint(0, n - p + 1) for p, n in zip(patch, s.shape)]
            d = d[:, o[0]:o[0] + patch[0], o[1]:o[1] + patch[1], o[2]:o[2] + patch[2]]
            s = s[o[0]:o[0] + patch[0], o[1]:o[1] + patch[1], o[2]:o[2] + patch[2]]
            for ax in range(3):
                if rs.rand() < 0.5:
                    d = np.flip(d, ax + 1)
                    s = np.flip(s, ax)
            xb[b] = d
            yb[b] = s
        v1.sgd_step(net, opt, ce, xb, yb, it, steps, losses)
    return opt, losses


def predict_lowres(net, raw, tta=True):
    """3d_lowres prediction of one raw case, exported to the raw geometry (not postprocessed)."""
    d, sl = preprocess(raw, STAGES[0]['spacing'])
    sm = v1.predict_3d(net, d, patch_size=STAGES[0]['patch'], mirrors=v1.MIRRORS if tta else MIRRORS_NONE)
    return export_seg(sm, [s.stop - s.start for s in sl], sl, raw.shape)


def main():
    t0 = time.time()
    ds = json.load(open(os.path.join(v1.DATA, 'dataset.json')))
    all_cases = sorted(os.path.basename(t['image']).replace('.nii.gz', '') for t in ds['training'])
    train_ids = [c for c in all_cases if c not in v1.FIXTURE_CASES][:120]
    raw = {c: v1.load_case(c) for c in train_ids}
    median = np.median([d.shape for d, _ in raw.values()], 0)
    plans = make_plans(median)
    pre = '/home/user/nnUNet/preprocessed/' + TASK
    results = '/home/user/nnUNet/results/nnUNet'

    # stage 0: 3d_lowres
    torch.manual_seed(1234)
    low_cases = []
    for d, s in raw.values():
        dp, sl = preprocess(d, STAGES[0]['spacing'])
        low_cases.append((dp, resize_segmentation(s[sl], dp.shape[1:], 1)))
    low = new_net(0, 1)
    print(f'3d_lowres: {sum(p.numel() for p in low.parameters())} parameters, {STEPS} steps', flush=True)
    opt_l, loss_l = train(low, low_cases, STEPS, STAGES[0]['patch'], 0)
    low_dir = os.path.join(OUT, 'nnUNet', '3d_lowres', TASK, f'nnUNetTrainerV2__{PLANS_ID}')
    v1.save_checkpoint(low_dir, plans, low, opt_l, loss_l, STEPS,
               (f'{pre}/{PLANS_ID}_plans_3D.pkl', 0, f'{results}/3d_lowres/{TASK}/nnUNetTrainerV2__{PLANS_ID}', pre, True, 0, True, False, False),
               'nnUNetTrainerV2', "<class 'nnunet.training.network_training.nnUNetTrainerV2.nnUNetTrainerV2'>")
    pp = {'dc_per_class_raw': {'1': 0.0, '2': 0.0}, 'dc_per_class_pp_all': {'1': 0.0, '2': 0.0},
          'dc_per_class_pp_per_class': {'1': 0.0, '2': 0.0}, 'for_which_classes': [1, 2], 'min_valid_object_sizes': 'None',
          'num_samples': len(train_ids), 'validation_raw': 'validation_raw', 'validation_final': 'validation_final'}
    json.dump(pp, open(os.path.join(low_dir, 'postprocessing.json'), 'w'), indent=4)

    # stage 1: 3d_cascade_fullres, trained with the lowres network's predictions (no TTA) of the training cases
    cas_cases = []
    for d, s in raw.values():
        dp, sl = preprocess(d, STAGES[1]['spacing'])
        prev = predict_lowres(low, d, tta=False)
        cas_cases.append((np.concatenate([dp, one_hot_prev(prev, dp.shape[1:])]), s[sl]))
    torch.manual_seed(4321)
    cas = new_net(1, 1 + NUM_CLASSES - 1)
    print(f'3d_cascade_fullres: {sum(p.numel() for p in cas.parameters())} parameters, {STEPS} steps', flush=True)
    opt_c, loss_c = train(cas, cas_cases, STEPS, STAGES[1]['patch'], 1)
    cas_dir = os.path.join(OUT, 'nnUNet', '3d_cascade_fullres', TASK, f'nnUNetTrainerV2CascadeFullRes__{PLANS_ID}')
    v1.save_checkpoint(cas_dir, plans, cas, opt_c, loss_c, STEPS,
               (f'{pre}/{PLANS_ID}_plans_3D.pkl', 0, f'{results}/3d_cascade_fullres/{TASK}/nnUNetTrainerV2CascadeFullRes__{PLANS_ID}', pre,
                True, 1, True, False, 'nnUNetTrainerV2', False),
               'nnUNetTrainerV2CascadeFullRes',
               "<class 'nnunet.training.network_training.nnUNetTrainerV2_CascadeFullRes.nnUNetTrainerV2CascadeFullRes'>")
    t_train = time.time() - t0

    # the test cases: held out from training; the padded one is made from hippocampus_001 in memory (the test pads the
    # same way: raw data stays in ../shared/data, nothing of it is copied into the fixture)
    ref = os.path.join(OUT, 'reference')
    os.makedirs(ref, exist_ok=True)
    tests = {c: v1.load_case(c) for c in v1.FIXTURE_CASES}
    d, s = tests['hippocampus_001']
    tests[PAD_CASE] = (np.pad(d, PAD), np.pad(s, PAD))

    summary = {'steps': STEPS, 'train_seconds': round(t_train, 1), 'losses_lowres_last': loss_l[-5:], 'losses_cascade_last': loss_c[-5:],
               'parameters': {'3d_lowres': sum(p.numel() for p in low.parameters()), '3d_cascade_fullres': sum(p.numel() for p in cas.parameters())},
               'cases': {}}
    for c, (d, s) in tests.items():
        t1 = time.time()
        lowres_seg = keep_largest(predict_lowres(low, d), pp['for_which_classes'])
        dp, sl = preprocess(d, STAGES[1]['spacing'])
        x = np.concatenate([dp, one_hot_prev(lowres_seg, dp.shape[1:])]).astype(np.float32)
        sm = v1.predict_3d(cas, x, patch_size=STAGES[1]['patch'])
        seg = export_seg(sm, dp.shape[1:], sl, d.shape)
        np.savez_compressed(os.path.join(ref, c + '.npz'), lowres_seg=lowres_seg, softmax=sm.astype(np.float16), seg=seg)
        dice = {'3d_lowres': v1.dice_per_label(lowres_seg, s), '3d_cascade_fullres': v1.dice_per_label(seg, s)}
        summary['cases'][c] = {'shape': list(d.shape), 'cropped': list(dp.shape[1:]), 'labels': np.bincount(seg.ravel(), minlength=3).tolist(),
                               'dice_vs_ground_truth': dice, 'seconds': round(time.time() - t1, 2)}
        print(f'  {c}: {summary["cases"][c]}', flush=True)
    v1.write_summary(ref, summary, t0)


if __name__ == '__main__':
    main()
