"""nnU-Net v2 prediction from raw NIfTI images with PyTorch (torch 1.13, numpy, scipy, scikit-image, nibabel), the
reference for test/reference/v2_raw_predict_torch.test.ts and bench/v2_model_parity.bench.ts. Re-stated from
MIC-DKFZ/nnUNet master (nnunetv2 @00f73256), not imported (nnunetv2 is not installed here):

  preprocessing  nnunetv2/preprocessing/preprocessors/default_preprocessor.py DefaultPreprocessor.run_case_npy:
                 float32, transpose_forward, crop_to_nonzero (cropping/cropping.py: create_nonzero_mask with
                 binary_fill_holes, get_bbox_from_mask, seg 0 / -1), compute_new_shape, _normalize (the plans'
                 normalization_schemes, normalization/default_normalization_schemes.py), then
                 resample_data_or_seg_to_shape (resampling/default_resampling.py) with resampling_fn_data_kwargs
  network        dynamic_network_architectures' PlainConvUNet / ResidualEncoderUNet (bench/python/dna_networks.py)
                 from the plans' `architecture`, each fold's checkpoint_final.pth network_weights (strict)
  inference      inference/predict_from_raw_data.py nnUNetPredictor.predict_logits_from_preprocessed_data /
                 predict_sliding_window_return_logits / _internal_maybe_mirror_and_predict (float16 aggregation,
                 Gaussian 1/8 x10 in float16, mirroring over inference_allowed_mirroring_axes), folds summed in
                 float16 and divided by their number
  export         inference/export_prediction.py convert_predicted_logits_to_segmentation_with_correct_shape:
                 logits resampled with resampling_fn_probabilities_kwargs into a float16 array, softmax(float32),
                 argmax, pasted into shape_before_cropping, transpose_backward; probabilities likewise with
                 background 1 outside the crop (label_handling.py revert_cropping_on_probabilities)

  cascade        (3d_cascade_fullres, PREV_STAGE=<the 3d_lowres model folder>) the previous stage predicts the case
                 first, as `nnUNetv2_predict -c 3d_lowres` would write it (segmentation in the input's geometry);
                 then run_case with that segmentation as seg: cropped (0 outside the nonzero mask -> -1), resampled with
                 resampling_fn_seg_kwargs (resize_segmentation order 1, order_z 0), appended as one-hot foreground
                 channels (predict_from_raw_data.py preprocessing_iterator_fromfiles)

Usage: [PREV_STAGE=LOWRES_FOLDER] /usr/bin/python3 v2_predict_raw.py MODEL_FOLDER OUT_DIR IMAGE.nii.gz [IMAGE.nii.gz ...]
Writes OUT_DIR/<case>_probs.npy (float32 (C, z, y, x)), <case>_seg.npy (uint8 (z, y, x)), <case>_input.npy
(preprocessed) and <case>_logits.npy (float16, preprocessed grid), with PREV_STAGE also <case>_prev_seg.npy (uint8,
the previous stage's segmentation); prints one JSON line per case (timings).
Env: NNUNET_REF_THREADS (torch threads, default 2).
"""
import itertools
import json
import os
import sys
import time

import nibabel as nib
import numpy as np
import torch
from scipy.ndimage import binary_fill_holes, gaussian_filter, map_coordinates
from skimage.transform import resize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dna_networks import PlainConvUNet, ResidualEncoderUNet  # noqa: E402

ANISO_THRESHOLD = 3


# ---- preprocessing ----

def crop_to_nonzero(data, seg=None, nonzero_label=-1):
    mask = data[0] != 0
    for c in range(1, data.shape[0]):
        mask |= data[c] != 0
    mask = binary_fill_holes(mask)
    w = np.where(mask)
    bbox = [[int(np.min(w[i])), int(np.max(w[i])) + 1] for i in range(3)]
    sl = tuple(slice(a, b) for a, b in bbox)
    data = data[(slice(None),) + sl]
    if seg is not None:
        # a previous stage's segmentation (cascade): cropped alike, 0 outside the nonzero mask becomes -1
        seg = seg[(slice(None),) + sl]
        seg[(seg == 0) & (~mask[sl][None])] = nonzero_label
    else:
        seg = np.where(mask[sl][None], np.int8(0), np.int8(nonzero_label))
    return data, seg, bbox


def normalize(image, scheme, use_mask, seg, props):
    if scheme == 'ZScoreNormalization':
        image = image.astype(np.float32, copy=False)
        if use_mask:
            mask = seg >= 0
            mean = image[mask].mean()
            std = image[mask].std()
            image[mask] = (image[mask] - mean) / (max(std, 1e-8))
        else:
            mean = image.mean()
            std = image.std()
            image -= mean
            image /= (max(std, 1e-8))
        return image
    if scheme == 'CTNormalization':
        image = image.astype(np.float32, copy=False)
        np.clip(image, props['percentile_00_5'], props['percentile_99_5'], out=image)
        image -= props['mean']
        image /= max(props['std'], 1e-8)
        return image
    if scheme == 'NoNormalization':
        return image.astype(np.float32, copy=False)
    if scheme == 'RescaleTo01Normalization':
        image = image.astype(np.float32, copy=False)
        image -= image.min()
        image /= np.clip(image.max(), a_min=1e-8, a_max=None)
        return image
    if scheme == 'RGBTo0_1Normalization':
        return (image.astype(np.float32, copy=False) / 255.)
    raise ValueError(scheme)


def get_do_separate_z(spacing):
    return (np.max(spacing) / np.min(spacing)) > ANISO_THRESHOLD


def get_lowres_axis(spacing):
    return np.where(max(spacing) / np.array(spacing) == 1)[0]


def resample_data_or_seg_to_shape(data, new_shape, current_spacing, new_spacing, is_seg=False, order=3, order_z=0, force_separate_z=False):
    if force_separate_z is not None:
        do_separate_z = force_separate_z
        axis = get_lowres_axis(current_spacing) if force_separate_z else None
    elif get_do_separate_z(current_spacing):
        do_separate_z, axis = True, get_lowres_axis(current_spacing)
    elif get_do_separate_z(new_spacing):
        do_separate_z, axis = True, get_lowres_axis(new_spacing)
    else:
        do_separate_z, axis = False, None
    if axis is not None and len(axis) != 1:
        do_separate_z = False
    return resample_data_or_seg(data, new_shape, is_seg, axis, order, do_separate_z, order_z)


def resize_segmentation(segmentation, new_shape, order=3):
    """batchgenerators resize_segmentation: each label's mask resized, >= 0.5 wins, labels in ascending order."""
    if order == 0:
        return resize(segmentation.astype(float), new_shape, order, mode='edge', clip=True, anti_aliasing=False).astype(segmentation.dtype)
    reshaped = np.zeros(new_shape, dtype=segmentation.dtype)
    for c in np.unique(segmentation):
        m = resize((segmentation == c).astype(float), new_shape, order, mode='edge', clip=True, anti_aliasing=False)
        reshaped[m >= 0.5] = c
    return reshaped


def resample_data_or_seg(data, new_shape, is_seg, axis, order, do_separate_z, order_z):
    if is_seg:
        resize_fn, kwargs = resize_segmentation, {}
    else:
        resize_fn, kwargs = resize, {'mode': 'edge', 'anti_aliasing': False}
    shape = np.array(data[0].shape)
    new_shape = np.array(new_shape)
    dtype_out = data.dtype
    reshaped_final = np.zeros((data.shape[0], *new_shape), dtype=dtype_out)
    if not np.any(shape != new_shape):
        return data
    data = data.astype(float, copy=False)
    if do_separate_z:
        axis = axis[0]
        new_shape_2d = new_shape[1:] if axis == 0 else (new_shape[[0, 2]] if axis == 1 else new_shape[:-1])
        for c in range(data.shape[0]):
            rd = []
            for s in range(shape[axis]):
                sl = data[c, s] if axis == 0 else (data[c, :, s] if axis == 1 else data[c, :, :, s])
                rd.append(resize_fn(sl, new_shape_2d, order, **kwargs))
            rd = np.stack(rd, axis)
            if shape[axis] != new_shape[axis]:
                assert not is_seg or order_z == 0
                rows, cols, dim = new_shape
                orows, ocols, odim = rd.shape
                mr, mc, md = np.mgrid[:rows, :cols, :dim]
                mr = float(orows) / rows * (mr + 0.5) - 0.5
                mc = float(ocols) / cols * (mc + 0.5) - 0.5
                md = float(odim) / dim * (md + 0.5) - 0.5
                reshaped_final[c] = map_coordinates(rd, np.array([mr, mc, md]), order=order_z, mode='nearest')
            else:
                reshaped_final[c] = rd
    else:
        for c in range(data.shape[0]):
            reshaped_final[c] = resize_fn(data[c], new_shape, order, **kwargs)
    return reshaped_final


def preprocess(images, spacing, plans, cfg, channel_props, prev_seg=None, foreground_labels=None):
    """run_case_npy; `prev_seg` (1, z, y, x) in the input's geometry: a cascade's previous-stage segmentation, cropped,
    resampled with resampling_fn_seg and appended as one-hot foreground channels (predict_from_raw_data.py
    preprocessing_iterator_fromfiles: convert_labelmap_to_one_hot(seg[0], foreground_labels))."""
    data = images.astype(np.float32)
    tf = plans['transpose_forward']
    data = data.transpose([0, *[i + 1 for i in tf]])
    seg = None
    if prev_seg is not None:
        seg = np.copy(prev_seg).transpose([0, *[i + 1 for i in tf]]).astype(np.int8)
    original_spacing = [spacing[i] for i in tf]
    shape_before_cropping = data.shape[1:]
    data, seg, bbox = crop_to_nonzero(data, seg)
    shape_after_crop = data.shape[1:]
    target = list(cfg['spacing'])
    if len(target) < 3:
        target = [original_spacing[0]] + target
    new_shape = [int(round(i / j * k)) for i, j, k in zip(original_spacing, target, shape_after_crop)]
    for c in range(data.shape[0]):
        data[c] = normalize(data[c], cfg['normalization_schemes'][c], cfg['use_mask_for_norm'][c], seg[0], channel_props.get(str(c)))
    kw = cfg.get('resampling_fn_data_kwargs', {'is_seg': False, 'order': 3, 'order_z': 0, 'force_separate_z': None})
    data = resample_data_or_seg_to_shape(data, new_shape, original_spacing, target, **kw)
    if prev_seg is not None:
        kws = cfg.get('resampling_fn_seg_kwargs', {'is_seg': True, 'order': 1, 'order_z': 0, 'force_separate_z': None})
        seg = resample_data_or_seg_to_shape(seg, new_shape, original_spacing, target, **kws)
        onehot = np.stack([(seg[0] == k).astype(np.float32) for k in foreground_labels])
        data = np.vstack((data, onehot))
    props = {'spacing': list(spacing), 'shape_before_cropping': shape_before_cropping, 'bbox_used_for_cropping': bbox,
             'shape_after_cropping_and_before_resampling': shape_after_crop}
    return data.astype(np.float32, copy=False), props


# ---- network + sliding window ----

def build(cfg, n_in, n_cls):
    k = cfg['architecture']['arch_kwargs']
    dim = 3 if k['conv_op'].endswith('Conv3d') else 2
    n = k['n_stages']
    feats = k['features_per_stage'] if isinstance(k['features_per_stage'], list) else [k['features_per_stage']] * n
    if cfg['architecture']['network_class_name'].endswith('PlainConvUNet'):
        return PlainConvUNet(n_in, n, feats, k['kernel_sizes'], k['strides'], k['n_conv_per_stage'], n_cls, k['n_conv_per_stage_decoder'], dim)
    return ResidualEncoderUNet(n_in, n, feats, k['kernel_sizes'], k['strides'], k['n_blocks_per_stage'], n_cls, k['n_conv_per_stage_decoder'], dim)


def compute_gaussian(tile_size, sigma_scale=1. / 8, value_scaling_factor=10, dtype=torch.float16):
    tmp = np.zeros(tile_size)
    center = [i // 2 for i in tile_size]
    sigmas = [i * sigma_scale for i in tile_size]
    tmp[tuple(center)] = 1
    g = torch.from_numpy(gaussian_filter(tmp, sigmas, 0, mode='constant', cval=0))
    g /= (torch.max(g) / value_scaling_factor)
    g = g.to(dtype=dtype)
    g[g == 0] = torch.min(g[g != 0])
    return g


def compute_steps(image_size, tile_size, step):
    target = [i * step for i in tile_size]
    num = [int(np.ceil((i - k) / j)) + 1 for i, j, k in zip(image_size, target, tile_size)]
    steps = []
    for d in range(len(tile_size)):
        mx = image_size[d] - tile_size[d]
        actual = mx / (num[d] - 1) if num[d] > 1 else 99999999999
        steps.append([int(np.round(actual * i)) for i in range(num[d])])
    return steps


def pad_nd_image(image, new_shape):
    old = np.array(image.shape[-len(new_shape):])
    new = np.maximum(np.array(new_shape), old)
    diff = new - old
    below, above = diff // 2, diff // 2 + diff % 2
    pad = [[0, 0]] * (image.ndim - len(new_shape)) + [list(i) for i in zip(below, above)]
    res = torch.nn.functional.pad(image, [p for pp in reversed(pad) for p in pp], 'constant', 0)
    revert = [slice(None)] * (image.ndim - len(new_shape)) + [slice(b, res.shape[image.ndim - len(new_shape) + i] - a) for i, (b, a) in enumerate(zip(below, above))]
    return res, tuple(revert)


@torch.inference_mode()
def sliding_window_logits(net, data, patch, n_cls, mirror_axes, step=0.5):
    net.eval()
    data, revert = pad_nd_image(data, patch)
    if len(patch) < len(data.shape[1:]):
        steps = compute_steps(data.shape[2:], patch, step)
        slicers = [tuple([slice(None), d, *[slice(s, s + t) for s, t in zip(sx, patch)]])
                   for d in range(data.shape[1]) for sx in itertools.product(*steps)]
    else:
        steps = compute_steps(data.shape[1:], patch, step)
        slicers = [tuple([slice(None), *[slice(s, s + t) for s, t in zip(sx, patch)]]) for sx in itertools.product(*steps)]
    logits = torch.zeros((n_cls, *data.shape[1:]), dtype=torch.half)
    n_pred = torch.zeros(data.shape[1:], dtype=torch.half)
    gaussian = compute_gaussian(tuple(patch))
    axes = [m + 2 for m in mirror_axes]
    combos = [c for i in range(len(axes)) for c in itertools.combinations(axes, i + 1)]
    for sl in slicers:
        x = torch.clone(data[sl][None], memory_format=torch.contiguous_format)
        pred = net(x)
        for a in combos:
            pred += torch.flip(net(torch.flip(x, a)), a)
        pred /= (len(combos) + 1)
        pred = pred[0] * gaussian
        logits[sl] += pred
        n_pred[sl[1:]] += gaussian
    torch.div(logits, n_pred, out=logits)
    return logits[(slice(None), *revert[1:])]


# ---- export ----

def label_manager(ds):
    """LabelManager (label_handling.py @02153c66): the network's outputs and, for regions, regions_class_order."""
    items = [(k, v) for k, v in ds['labels'].items() if k != 'ignore']
    all_labels = sorted(set(int(x) for _, v in items for x in (v if isinstance(v, (list, tuple)) else [v])))
    has_regions = any(isinstance(v, (list, tuple)) and len(v) > 1 for _, v in items)
    if not has_regions:
        return {'heads': len(all_labels), 'regions': None, 'order': None, 'foreground': [l for l in all_labels if l != 0]}
    regions = [tuple(v) if isinstance(v, list) else v for _, v in items
               if not ((np.isscalar(v) and v == 0) or (isinstance(v, (list, tuple)) and len(np.unique(v)) == 1 and np.unique(v)[0] == 0))]
    fg = [r for r in regions if (not isinstance(r, tuple) and r != 0) or (isinstance(r, tuple) and not (len(np.unique(r)) == 1 and np.unique(r)[0] != 0))]
    return {'heads': len(fg), 'regions': fg, 'order': ds['regions_class_order'], 'foreground': [l for l in all_labels if l != 0]}


def export(logits, props, plans, cfg, lm=None):
    tf, tb = plans['transpose_forward'], plans['transpose_backward']
    sp_t = [props['spacing'][i] for i in tf]
    current = cfg['spacing'] if len(cfg['spacing']) == 3 else [sp_t[0], *cfg['spacing']]
    kw = cfg.get('resampling_fn_probabilities_kwargs', {'is_seg': False, 'order': 1, 'order_z': 0, 'force_separate_z': None})
    logits = resample_data_or_seg_to_shape(logits.cpu().numpy(), props['shape_after_cropping_and_before_resampling'], current, sp_t, **kw)
    lg = torch.from_numpy(np.ascontiguousarray(logits)).float()
    if lm and lm['regions']:
        # apply_inference_nonlin: sigmoid; convert_probabilities_to_segmentation: regions_class_order, > 0.5
        probs = torch.sigmoid(lg)
        seg = np.zeros(probs.shape[1:], dtype=np.uint8)
        for i, c in enumerate(lm['order']):
            seg[probs[i].numpy() > 0.5] = c
    else:
        probs = torch.softmax(lg, 0)
        seg = probs.argmax(0).numpy().astype(np.uint8)
    sl = tuple(slice(a, b) for a, b in props['bbox_used_for_cropping'])
    seg_full = np.zeros(props['shape_before_cropping'], dtype=np.uint8)
    seg_full[sl] = seg
    seg_full = seg_full.transpose(tb)
    p_full = np.zeros((probs.shape[0], *props['shape_before_cropping']), dtype=np.float32)
    if not (lm and lm['regions']):
        p_full[0] = 1
    p_full[(slice(None),) + sl] = probs.numpy()
    p_full = p_full.transpose([0] + [i + 1 for i in tb])
    return seg_full, p_full


def load_model(folder):
    """A v2 model folder: plans, the configuration (inherits_from resolved), every fold's network (strict)."""
    plans = json.load(open(os.path.join(folder, 'plans.json')))
    ds = json.load(open(os.path.join(folder, 'dataset.json')))
    cfg_name = os.path.basename(os.path.normpath(folder)).split('__')[2]
    cfg = dict(plans['configurations'][cfg_name])
    while cfg.get('inherits_from'):
        parent = dict(plans['configurations'][cfg.pop('inherits_from')])
        parent.update(cfg)
        cfg = parent
    lm = label_manager(ds)
    n_cls = lm['heads']
    n_in = len(ds['channel_names'])
    # determine_num_input_channels: a cascade stage also sees the previous stage's one-hot foreground labels
    n_net_in = n_in + (len(lm['foreground']) if cfg.get('previous_stage') else 0)
    folds = sorted(d for d in os.listdir(folder) if d.startswith('fold_') and os.path.isfile(os.path.join(folder, d, 'checkpoint_final.pth')))
    nets, mirror = [], None
    for f in folds:
        ck = torch.load(os.path.join(folder, f, 'checkpoint_final.pth'), map_location='cpu')
        net = build(cfg, n_net_in, n_cls)
        net.load_state_dict(ck['network_weights'], strict=True)
        nets.append(net)
        if mirror is None:
            mirror = list(ck['inference_allowed_mirroring_axes'] or [])
    if os.environ.get('NNUNET_REF_NO_MIRROR') == '1':
        mirror = []
    return {'plans': plans, 'cfg': cfg, 'nets': nets, 'mirror': mirror, 'n_cls': n_cls, 'lm': lm}


def predict_case(m, data, spacing, prev_seg=None):
    t0 = time.time()
    pre, props = preprocess(data, spacing, m['plans'], m['cfg'], m['plans'].get('foreground_intensity_properties_per_channel', {}), prev_seg, m['lm']['foreground'])
    t1 = time.time()
    x = torch.from_numpy(pre)
    logits = None
    for net in m['nets']:
        lg = sliding_window_logits(net, x, m['cfg']['patch_size'], m['n_cls'], m['mirror'])
        logits = lg if logits is None else logits + lg
    if len(m['nets']) > 1:
        logits /= len(m['nets'])
    t2 = time.time()
    seg, probs = export(logits, props, m['plans'], m['cfg'], m['lm'])
    return seg, probs, pre, logits, {'preprocess_s': t1 - t0, 'predict_s': t2 - t1, 'export_s': time.time() - t2}


def main():
    folder, out = sys.argv[1], sys.argv[2]
    images = sys.argv[3:]
    torch.set_num_threads(int(os.environ.get('NNUNET_REF_THREADS', '2')))
    os.makedirs(out, exist_ok=True)
    model = load_model(folder)
    prev = load_model(os.environ['PREV_STAGE']) if os.environ.get('PREV_STAGE') else None
    for img_file in images:
        case = os.path.basename(img_file).replace('.nii.gz', '')
        if case.endswith('_0000'):
            case = case[:-5]
        img = nib.load(img_file)
        arr = np.asarray(img.dataobj).astype(np.float32)
        # SimpleITKIO: numpy (z, y, x), spacing reversed
        data = arr.transpose(2, 1, 0)[None]
        spacing = [float(s) for s in img.header.get_zooms()[:3]][::-1]
        prev_seg = None
        if prev:
            # nnUNetv2_predict -c 3d_lowres writes this segmentation; -prev_stage_predictions reads it back (read_seg)
            prev_seg = predict_case(prev, data, spacing)[0][None]
            np.save(os.path.join(out, f'{case}_prev_seg.npy'), prev_seg[0])
        seg, probs, pre, logits, t = predict_case(model, data, spacing, prev_seg)
        np.save(os.path.join(out, f'{case}_probs.npy'), probs)
        np.save(os.path.join(out, f'{case}_seg.npy'), seg)
        np.save(os.path.join(out, f'{case}_input.npy'), pre)
        np.save(os.path.join(out, f'{case}_logits.npy'), logits.numpy().astype(np.float16))
        print(json.dumps({'case': case, 'preprocessed_shape': list(pre.shape), **t, 'foreground': int((seg > 0).sum()),
                          **({'prev_stage_foreground': int((prev_seg > 0).sum())} if prev else {})}), flush=True)


if __name__ == '__main__':
    main()
