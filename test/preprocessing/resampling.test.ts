import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { readNpy } from '../../sdk/io/npy';
import {
  computeNewShape,
  decideSeparateZ,
  getLowresAxis,
  nearestIndices,
  resamplePatient,
  resizeImage,
  resizeSegmentation,
  roundHalfEven,
} from '../../sdk/preprocessing/resampling';
import { normalizeChannel } from '../../sdk/preprocessing/normalization';
import { EXTRAS, fixtureJson } from './fixtures';

interface Entry {
  shape: number[];
  spacing_in: number[];
  spacing_out: number[];
}
const manifest = fixtureJson<{ entries: Record<string, Entry> }>('synthlung/extras/manifest_v1.json').entries;
const v1Intensity = fixtureJson('synthlung/v1/dataset_properties.json').intensityproperties['0'];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function range(a: ArrayLike<number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    lo = Math.min(lo, a[i]);
    hi = Math.max(hi, a[i]);
  }
  return hi - lo;
}

// lung_001: plain 3D order-3 path; lung_008: separate-z path (anisotropy 2.158 / 0.6608 = 3.27 > 3)
for (const [c, sepZ] of [
  ['lung_001', false],
  ['lung_008', true],
] as const) {
  test(`resample_patient parity with official v1 on ${c} (${sepZ ? 'separate z' : '3D cubic'})`, () => {
    const m = manifest[`resample_in_data_${c}.npy`];
    const d = readNpy(path.join(EXTRAS, `resample_in_data_${c}.npy`));
    const s = readNpy(path.join(EXTRAS, `resample_in_seg_${c}.npy`));
    const r = resamplePatient([d.data as Float32Array], s.data as Float32Array, d.shape.slice(1) as [number, number, number], m.spacing_in, m.spacing_out);
    assert.equal(r.decision.doSeparateZ, sepZ);
    if (sepZ) assert.equal(r.decision.axis, 0);
    const od = readNpy(path.join(EXTRAS, `resample_out_data_${c}_v1.npy`));
    const os = readNpy(path.join(EXTRAS, `resample_out_seg_${c}_v1.npy`));
    assert.deepEqual([1, ...r.newShape], od.shape);
    // fixtures README: resampled data abs 1e-4 x (data range); segmentation exact
    assert.ok(maxAbsDiff(r.data![0], od.data) <= 1e-4 * range(od.data), 'data within 1e-4 of the range');
    assert.deepEqual(Array.from(r.seg!), Array.from(os.data));
  });

  test(`resample + CT normalization parity (GenericPreprocessor.resample_and_normalize) on ${c}`, () => {
    const m = manifest[`resample_in_data_${c}.npy`];
    const d = readNpy(path.join(EXTRAS, `resample_in_data_${c}.npy`));
    const r = resamplePatient([d.data as Float32Array], null, d.shape.slice(1) as [number, number, number], m.spacing_in, m.spacing_out);
    const n = normalizeChannel(r.data![0], 'CT', { intensity: v1Intensity, useMaskForNorm: false });
    const ref = readNpy(path.join(EXTRAS, `resample_norm_out_data_${c}_v1.npy`));
    assert.ok(maxAbsDiff(n, ref.data) <= 1e-4);
  });
}

test('new shape uses numpy half-even rounding', () => {
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.equal(roundHalfEven(-0.5), -0);
  assert.deepEqual(computeNewShape([10, 5, 7], [1, 1, 1], [4, 2, 2]), [2, 2, 4]); // 2.5 -> 2, 2.5 -> 2, 3.5 -> 4
  assert.deepEqual(computeNewShape([20, 48, 48], [2.1579999923706055, 0.6607999801635742, 0.6607999801635742], [1.4697499871253967, 0.7802000045776367, 0.7802000045776367]), [29, 41, 41]);
});

test('separate-z decision: original spacing first, then target, one low-res axis only', () => {
  assert.deepEqual(decideSeparateZ([3.5, 1, 1], [1, 1, 1]), { doSeparateZ: true, axis: 0 });
  assert.deepEqual(decideSeparateZ([1, 1, 1], [1, 1, 3.5]), { doSeparateZ: true, axis: 2 });
  assert.deepEqual(decideSeparateZ([3, 1, 1], [1, 1, 1]), { doSeparateZ: false, axis: null }); // ratio 3 is not > 3
  assert.deepEqual(getLowresAxis([0.24, 1.25, 1.25]), [1, 2]);
  assert.deepEqual(decideSeparateZ([0.24, 1.25, 1.25], [1, 1, 1]), { doSeparateZ: false, axis: null });
  assert.deepEqual(decideSeparateZ([1, 1, 1], [1, 1, 1], true), { doSeparateZ: false, axis: null }); // 3 low-res axes
});

test('order 0 picks pixel centres with half-up rounding (reference Appendix C.1)', () => {
  assert.deepEqual(Array.from(nearestIndices(8, 4)), [1, 3, 5, 7]);
  assert.deepEqual(Array.from(nearestIndices(8, 2)), [2, 6]);
  assert.deepEqual(Array.from(nearestIndices(5, 8)), [0, 0, 1, 2, 2, 3, 4, 4]);
});

test('cubic resize keeps constants, clips to the input range, and is the identity when the shape is unchanged', () => {
  const c = new Float32Array(6 * 7 * 8).fill(-1024);
  assert.ok(resizeImage(c, [6, 7, 8], [9, 5, 11], 3).every((v) => v === -1024));
  const step = new Float32Array(40);
  for (let i = 20; i < 40; i++) step[i] = 1000;
  const up = resizeImage(step, [1, 40], [1, 97], 3);
  assert.ok(up.every((v) => v >= 0 && v <= 1000), 'overshoot clipped');
  assert.ok(up.some((v) => v > 0 && v < 1000), 'interpolated values in between');
  const x = Float32Array.from({ length: 60 }, (_, i) => Math.sin(i));
  assert.deepEqual(Array.from(resizeImage(x, [3, 4, 5], [3, 4, 5], 3)), Array.from(x));
});

test('resize_segmentation: label of the highest class reaching 0.5 wins, -1 is a label like any other', () => {
  // 1D-like 2D case: [ -1 -1 0 1 1 2 ] downsampled by 2 -> each output averages two inputs at t = 0.5
  const seg = Float32Array.from([-1, -1, 0, 1, 1, 2]);
  const out = resizeSegmentation(seg, [1, 6], [1, 3], 1);
  assert.deepEqual(Array.from(out), [-1, 1, 2]); // (0,1): 0 and 1 both reach 0.5, the higher wins; (1,2): 2 wins
});
