#!/usr/bin/env python3
"""Reference timing for `npm run bench -- preprocess`: nnU-Net v1's image resampling (resample_patient /
resample_data_or_seg with data order 3, order_z 0, force_separate_z None, anisotropy threshold 3) done with
scikit-image `resize(order=3, mode='edge', anti_aliasing=False)` and scipy `map_coordinates(order=0, mode='nearest')`,
on one channel read from a .npy. Re-stated here (not imported) so the benchmark needs only numpy/scipy/skimage.

usage: resample_reference.py IN.npy OUT.npy|- --spacing Z Y X --target Z Y X
prints one JSON line: {"seconds": ..., "shape": [...], "separate_z": ..., "axis": ...}
"""
import argparse
import json
import sys
import time

import numpy as np
from scipy.ndimage import map_coordinates
from skimage.transform import resize

THRESHOLD = 3  # nnU-Net RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD


def lowres_axis(spacing):
    return np.where(max(spacing) / np.array(spacing) == 1)[0]


def decide(spacing, target):
    if max(spacing) / min(spacing) > THRESHOLD:
        axis = lowres_axis(spacing)
    elif max(target) / min(target) > THRESHOLD:
        axis = lowres_axis(target)
    else:
        return False, None
    if len(axis) != 1:
        return False, None
    return True, int(axis[0])


def resample_image(data, new_shape, separate_z, axis):
    """One channel, float64 inside, float32 out (as nnU-Net)."""
    kwargs = {'mode': 'edge', 'anti_aliasing': False}
    data = data.astype(float)
    shape = np.array(data.shape)
    new_shape = np.array(new_shape)
    if np.all(shape == new_shape):
        return data.astype(np.float32)
    if not separate_z:
        return resize(data, new_shape, 3, **kwargs).astype(np.float32)
    if axis == 0:
        new_shape_2d = new_shape[1:]
    elif axis == 1:
        new_shape_2d = new_shape[[0, 2]]
    else:
        new_shape_2d = new_shape[:-1]
    slices = []
    for s in range(shape[axis]):
        sl = np.take(data, s, axis=axis)
        slices.append(resize(sl, new_shape_2d, 3, **kwargs))
    stacked = np.stack(slices, axis)
    if shape[axis] == new_shape[axis]:
        return stacked.astype(np.float32)
    rows, cols, dim = new_shape
    orig_rows, orig_cols, orig_dim = stacked.shape
    map_rows, map_cols, map_dims = np.mgrid[:rows, :cols, :dim]
    map_rows = float(orig_rows) / rows * (map_rows + 0.5) - 0.5
    map_cols = float(orig_cols) / cols * (map_cols + 0.5) - 0.5
    map_dims = float(orig_dim) / dim * (map_dims + 0.5) - 0.5
    coord_map = np.array([map_rows, map_cols, map_dims])
    return map_coordinates(stacked, coord_map, order=0, mode='nearest').astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('inp')
    ap.add_argument('out')
    ap.add_argument('--spacing', type=float, nargs=3, required=True)
    ap.add_argument('--target', type=float, nargs=3, required=True)
    a = ap.parse_args()
    data = np.load(a.inp)
    new_shape = np.round(np.array(a.spacing) / np.array(a.target) * np.array(data.shape)).astype(int)
    sep, axis = decide(a.spacing, a.target)
    t0 = time.perf_counter()
    out = resample_image(data, new_shape, sep, axis)
    sec = time.perf_counter() - t0
    if a.out != '-':
        np.save(a.out, out)
    print(json.dumps({'seconds': sec, 'shape': [int(s) for s in out.shape], 'separate_z': sep, 'axis': axis}))
    sys.stdout.flush()


if __name__ == '__main__':
    main()
