"""Reference check of an nnU-Net v2 model folder exported by nnunet-ts (test/reference/v2_export_torch.test.ts):
torch.load the checkpoint (also with weights_only=True where this torch has it), build the PlainConvUNet from
plans.json's architecture with dynamic_network_architectures' classes (bench/python/dna_networks.py), compare the
state_dict's names and shapes with the module's own, load_state_dict(strict=True), and run one forward pass on the
input the Node side wrote. Prints JSON. Usage: /usr/bin/python3 v2_export_check.py MODEL_FOLDER INPUT.npy OUT.npy
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dna_networks import PlainConvUNet  # noqa: E402

folder, inp, out = sys.argv[1:4]
torch.set_num_threads(1)
plans = json.load(open(os.path.join(folder, 'plans.json')))
ds = json.load(open(os.path.join(folder, 'dataset.json')))
cfg_name = os.path.basename(folder).split('__')[2]
ck = torch.load(os.path.join(folder, 'fold_0', 'checkpoint_final.pth'), map_location='cpu')
weights_only = None
if 'weights_only' in torch.load.__code__.co_varnames:
    # informative only: torch 1.13's weights_only unpickler has no BINFLOAT (a float anywhere, as in every
    # official checkpoint's logging, is refused); newer torch accepts it
    try:
        torch.load(os.path.join(folder, 'fold_0', 'checkpoint_final.pth'), map_location='cpu', weights_only=True)
        weights_only = True
    except Exception as e:  # noqa: BLE001
        weights_only = str(e).split('WeightsUnpickler error: ')[-1][:80]
arch = plans['configurations'][cfg_name]['architecture']
assert arch['network_class_name'] == 'dynamic_network_architectures.architectures.unet.PlainConvUNet', arch['network_class_name']
k = arch['arch_kwargs']
dim = 3 if k['conv_op'].endswith('Conv3d') else 2
net = PlainConvUNet(len(ds['channel_names']), k['n_stages'], k['features_per_stage'], k['kernel_sizes'], k['strides'], k['n_conv_per_stage'],
                    len(ds['labels']), k['n_conv_per_stage_decoder'], dim)
own = net.state_dict()
theirs = ck['network_weights']
report = {
    'keys_equal_in_order': list(own.keys()) == list(theirs.keys()),
    'shapes_equal': all(tuple(own[n].shape) == tuple(theirs[n].shape) for n in own if n in theirs),
    'n_keys': len(theirs),
    'weights_only': weights_only,
    'trainer_name': ck['trainer_name'],
    'configuration': ck['init_args']['configuration'],
    'mirroring_axes': list(ck['inference_allowed_mirroring_axes']),
}
net.load_state_dict(theirs, strict=True)
net.eval()
x = torch.from_numpy(np.load(inp))
with torch.no_grad():
    y = net(x).numpy().astype(np.float32)
np.save(out, y)
print(json.dumps(report))
