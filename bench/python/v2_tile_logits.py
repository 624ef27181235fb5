"""Network-level parity data for test/model/v2_model.test.ts: one float32 forward pass (no sliding window, no float16
aggregation) of each v2 fixture network on a 56x40 tile of a fixture case, loaded from the saved checkpoint_final.pth
exactly as nnU-Net v2 loads it (network built from plans.json's architecture, load_state_dict(network_weights)).

Usage: /usr/bin/python3 bench/python/v2_tile_logits.py FIXTURE_DIR   (after make_v2_fixture.py)
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_v2_fixture import build  # noqa: E402  (make_v2_fixture reads sys.argv[1] as OUT at import: the same folder)

FIX = sys.argv[1]
torch.set_num_threads(2)
x = np.load(os.path.join(FIX, 'cases', 'hippocampus_001_input.npy'))[:, 17]  # (1, 51, 35)
tile = np.zeros((1, 1, 56, 40), np.float32)
tile[0, :, 2:53, 2:37] = x
np.save(os.path.join(FIX, 'cases', 'tile_input.npy'), tile)
for tag, name in [('plain', 'nnUNetTrainer__nnUNetPlans__2d'), ('resenc', 'nnUNetTrainer__nnUNetResEncUNetMPlans__2d')]:
    d = os.path.join(FIX, 'Dataset004_Hippocampus', name)
    if not os.path.isdir(d):
        continue
    plans = json.load(open(os.path.join(d, 'plans.json')))
    net = build(plans)
    ck = torch.load(os.path.join(d, 'fold_0', 'checkpoint_final.pth'), map_location='cpu')
    net.load_state_dict(ck['network_weights'])
    net.eval()
    with torch.no_grad():
        out = net(torch.from_numpy(tile)).numpy().astype(np.float32)
    np.save(os.path.join(FIX, 'cases', f'tile_{tag}_logits.npy'), out)
    print(tag, out.shape, float(np.abs(out).max()))
