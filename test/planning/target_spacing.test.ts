/**
 * The v2.1 target-spacing and transposition rules (nnunet-reference.md §3.1-3.2) on small hand-made fingerprints
 * whose expected values follow from the rules by hand.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { planExperiment } from '../../sdk/planning/plan_experiment';
import { getTargetSpacingMedian, getTargetSpacingV21, transposeFromSpacing } from '../../sdk/planning/planner_v21';

test('anisotropic data: the worst axis takes its 10th percentile (never below the others + 1e-5)', () => {
  // ACDC-like: z spacing 10 mm (5 and 6 mm in some cases), 12 slices vs 200 in-plane voxels
  const spacings = [[10, 1.5, 1.5], [10, 1.5, 1.5], [5, 1.5, 1.5], [6, 1.5, 1.5], [10, 1.5, 1.5]];
  const sizes = Array.from({ length: 5 }, () => [12, 200, 200]);
  // median z = 10 > 3 * 1.5 and 12 * 3 < 200 -> 10th percentile of [5,6,10,10,10] = 5 + 0.4 * (6 - 5) = 5.4
  assert.deepEqual(getTargetSpacingV21(spacings, sizes), [5.4, 1.5, 1.5]);
  assert.deepEqual(getTargetSpacingMedian(spacings), [10, 1.5, 1.5]); // the 2D planner keeps the plain median
  // not enough slices missing (aniso voxels false): plain median
  assert.deepEqual(getTargetSpacingV21(spacings, Array.from({ length: 5 }, () => [100, 200, 200])), [10, 1.5, 1.5]);
  // 10th percentile below the in-plane spacing: clamp to max(others) + 1e-5
  // (z spacings 1, 1, 10 x5: median 10, 10th percentile at index 0.6 = 1 < 3)
  const s2 = [[10, 3, 3], [1, 3, 3], [10, 3, 3], [1, 3, 3], [10, 3, 3], [10, 3, 3], [10, 3, 3]];
  const t2 = getTargetSpacingV21(s2, Array.from({ length: 7 }, () => [10, 300, 300]));
  assert.equal(t2[0], 3 + 1e-5);
});

test('transpose_forward puts the coarsest axis first; transpose_backward inverts it', () => {
  assert.deepEqual(transposeFromSpacing([0.8, 0.8, 3]), { forward: [2, 0, 1], backward: [1, 2, 0] });
  assert.deepEqual(transposeFromSpacing([0.8, 2, 0.8]), { forward: [1, 0, 2], backward: [1, 0, 2] });
  assert.deepEqual(transposeFromSpacing([1, 1, 1]), { forward: [0, 1, 2], backward: [0, 1, 2] });
  // a sagittal-like dataset: spacings and shapes reach the configurations transposed
  const n = 4;
  const plans = planExperiment({
    spacings: Array.from({ length: n }, () => [0.9, 0.9, 4]),
    shapes_after_crop: Array.from({ length: n }, () => [160, 150, 30]),
    modalities: { '0': 'MRI' },
    all_classes: [1],
    size_reductions: { a: 0.5, b: 0.6, c: 0.7, d: 0.9 },
    case_identifiers: ['a', 'b', 'c', 'd'],
    foreground_intensity_properties_per_channel: { '0': { max: 1, mean: 0, median: 0, min: 0, percentile_00_5: 0, percentile_99_5: 1, std: 1 } },
  });
  const j = plans.toJSON();
  assert.deepEqual(j.transpose_forward, [2, 0, 1]);
  assert.deepEqual(j.original_median_shape_after_transp, [30, 160, 150]);
  assert.deepEqual(plans.configuration('3d_fullres').spacing, [4, 0.9, 0.9]);
  assert.deepEqual(plans.configuration('2d').spacing, [0.9, 0.9]);
  // MRI with median size reduction 0.65 < 0.75: normalize inside the nonzero mask
  assert.deepEqual(plans.configuration('3d_fullres').use_mask_for_norm, [true]);
});
