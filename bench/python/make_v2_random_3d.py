"""A v2 3d_fullres model folder with an untrained (He-initialised, seeded) PlainConvUNet, for the reference test of
v2 prediction with 3D networks and anisotropic resampling (test/reference/v2_raw_predict_torch.test.ts). The plans are
the 2d fixture's (test/fixtures/v2_models, same dataset.json / intensity properties) with a 3d_fullres configuration:
spacing SPACING (default 3.5 1 1, so v2 resamples with separate z: order 3 in plane, order 0 along z), patch 8x40x32,
3 stages. Saved as nnUNetTrainer.save_checkpoint does (keys as in make_v2_fixture.py).

With CASCADE=1 it also writes a v2 cascade as nnUNetPlannerResEncM/ExperimentPlanner write one when a dataset is
large: a 3d_lowres configuration (spacing SZ x 2SY x 2SX, patch 8x24x16, next_stage 3d_cascade_fullres) and
`3d_cascade_fullres: {inherits_from: 3d_fullres, previous_stage: 3d_lowres}`, with one untrained network each (the
cascade's takes 1 + 2 input channels: the image and the previous stage's one-hot labels 1, 2,
determine_num_input_channels), and prints the cascade's folder, then the lowres one.

With REGIONS=1 the dataset is region-based, as BraTS-style models are: labels {background: 0, hippocampus: [1, 2],
posterior: 2}, regions_class_order [1, 2]; the network has one (sigmoid) output per region.

Usage: [CASCADE=1] [REGIONS=1] /usr/bin/python3 make_v2_random_3d.py FIXTURE_2D_MODEL_FOLDER OUT_DATASET_DIR [SZ SY SX]
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dna_networks import PlainConvUNet, init_he  # noqa: E402

src, out = sys.argv[1], sys.argv[2]
spacing = [float(v) for v in sys.argv[3:6]] if len(sys.argv) >= 6 else [3.5, 1.0, 1.0]
torch.manual_seed(7)
plans = json.load(open(os.path.join(src, 'plans.json')))
ds = json.load(open(os.path.join(src, 'dataset.json')))
c2 = plans['configurations']['2d']
k = dict(c2['architecture']['arch_kwargs'])
k.update({'n_stages': 3, 'features_per_stage': [8, 16, 32], 'conv_op': 'torch.nn.modules.conv.Conv3d',
          'kernel_sizes': [[1, 3, 3], [3, 3, 3], [3, 3, 3]], 'strides': [[1, 1, 1], [1, 2, 2], [2, 2, 2]],
          'norm_op': 'torch.nn.modules.instancenorm.InstanceNorm3d', 'n_conv_per_stage': [2, 2, 2], 'n_conv_per_stage_decoder': [2, 2]})
cfg = dict(c2)
cfg.update({'data_identifier': 'nnUNetPlans_3d_fullres', 'batch_size': 2, 'patch_size': [8, 40, 32], 'spacing': spacing,
            'median_image_size_in_voxels': [10.0, 50.0, 35.0],
            'architecture': {'network_class_name': c2['architecture']['network_class_name'], 'arch_kwargs': k,
                             '_kw_requires_import': c2['architecture']['_kw_requires_import']}})
plans['configurations'] = {'3d_fullres': cfg}
cascade = os.environ.get('CASCADE') == '1'
regions = os.environ.get('REGIONS') == '1'
n_out = 3
if regions:
    ds = dict(ds)
    ds['labels'] = {'background': 0, 'hippocampus': [1, 2], 'posterior': 2}
    ds['regions_class_order'] = [1, 2]
    n_out = 2
if cascade:
    low = dict(cfg)
    low.update({'data_identifier': 'nnUNetPlans_3d_lowres', 'patch_size': [8, 24, 16], 'spacing': [spacing[0], 2 * spacing[1], 2 * spacing[2]],
                'median_image_size_in_voxels': [10.0, 25.0, 18.0], 'next_stage': '3d_cascade_fullres'})
    plans['configurations']['3d_lowres'] = low
    plans['configurations']['3d_cascade_fullres'] = {'inherits_from': '3d_fullres', 'previous_stage': '3d_lowres'}


def save(configuration, n_in):
    net = PlainConvUNet(n_in, 3, k['features_per_stage'], k['kernel_sizes'], k['strides'], k['n_conv_per_stage'], n_out, k['n_conv_per_stage_decoder'], 3)
    init_he(net)
    folder = os.path.join(out, f'nnUNetTrainer__nnUNetPlans__{configuration}')
    os.makedirs(os.path.join(folder, 'fold_0'), exist_ok=True)
    for name, obj in [('plans.json', plans), ('dataset.json', ds)]:
        json.dump(obj, open(os.path.join(folder, name), 'w'), indent=4)
    torch.save({'network_weights': net.state_dict(), 'optimizer_state': None, 'grad_scaler_state': None, 'logging': {}, '_best_ema': None,
                'current_epoch': 0, 'init_args': {'plans': plans, 'configuration': configuration, 'fold': 0, 'dataset_json': ds, 'device': torch.device('cpu')},
                'trainer_name': 'nnUNetTrainer', 'inference_allowed_mirroring_axes': (0, 1, 2)},
               os.path.join(folder, 'fold_0', 'checkpoint_final.pth'))
    return folder


if cascade:
    print(save('3d_cascade_fullres', 1 + 2))
    print(save('3d_lowres', 1))
else:
    print(save('3d_fullres', 1))
