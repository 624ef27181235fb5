/**
 * The published MSD Task06 Lung plan (nnunet-reference.md §3.10, §12.2, Appendix A.2): median spacing
 * (1.24497998, 0.78515625, 0.78515625), median shape 252x512x512, 63 cases, 1 CT channel, 1 foreground class.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { planExperiment } from '../../sdk/planning/plan_experiment';
import { getPropertiesForStage3DV21, planExperiment2DV21, planExperiment3DV21, type ShrinkStep } from '../../sdk/planning/planner_v21';
import { getPoolAndConvProps } from '../../sdk/planning/pool_and_conv_props';
import { computeApproxVramConsumption } from '../../sdk/planning/vram';

const SPACING = [1.24497998, 0.78515625, 0.78515625];
const N = 63;
const lungFingerprint = () => ({
  dataset_name: 'Dataset006_Lung',
  spacings: Array.from({ length: N }, () => [...SPACING]),
  shapes_after_crop: Array.from({ length: N }, () => [252, 512, 512]),
  modalities: { '0': 'CT' },
  all_classes: [1],
  size_reductions: Object.fromEntries(Array.from({ length: N }, (_, i) => [`lung_${i}`, 1])),
  case_identifiers: Array.from({ length: N }, (_, i) => `lung_${i}`),
  foreground_intensity_properties_per_channel: {
    '0': { max: 1, mean: 0, median: 0, min: -1, percentile_00_5: -1, percentile_99_5: 1, std: 1 },
  },
});

test('Lung 3d_fullres: patch [80,192,160], batch 2, pools [[2,2,2]x4,[1,2,2]], 6 conv kernels of 3', () => {
  const r = planExperiment3DV21(lungFingerprint());
  const full = r.plans.plans_per_stage['1'];
  assert.deepEqual(full.patch_size, [80, 192, 160]);
  assert.equal(full.batch_size, 2);
  assert.deepEqual(full.num_pool_per_axis, [4, 5, 5]);
  assert.deepEqual(full.pool_op_kernel_sizes, [[2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]]);
  assert.deepEqual(full.conv_kernel_sizes, Array.from({ length: 6 }, () => [3, 3, 3]));
  assert.deepEqual(full.median_patient_size_in_voxels, [252, 512, 512]);
  assert.equal(full.do_dummy_2D_data_aug, false);
  assert.deepEqual(r.plans.transpose_forward, [0, 1, 2]);
  assert.deepEqual(r.plans.normalization_schemes, { '0': 'CT' });
  assert.deepEqual(r.plans.use_mask_for_norm, { '0': false });
});

test('Lung shrink loop follows the trace of Appendix A.2', () => {
  const trace: ShrinkStep[] = [];
  getPropertiesForStage3DV21(SPACING, SPACING, [252, 512, 512], N, 1, 2, { trace });
  const expected = [
    [256, 512, 512], [224, 512, 512], [224, 512, 448], [224, 448, 448], [192, 448, 448], [192, 448, 384], [192, 384, 384],
    [160, 384, 384], [160, 384, 320], [160, 320, 320], [128, 320, 320], [128, 320, 256], [128, 256, 256], [112, 256, 256],
    [112, 256, 224], [112, 224, 224], [96, 224, 224], [96, 224, 192], [96, 192, 192], [80, 192, 192], [80, 192, 160],
  ];
  assert.deepEqual(trace.map((s) => s.patch_size), expected);
  assert.equal(trace[trace.length - 2].vram, 636802560);
  assert.equal(trace[trace.length - 1].vram, 530668800);
  assert.ok(trace[trace.length - 1].vram <= (520000000 * 32) / 30);
  // A.2 lists 14 491 901 952 for the start, computed with pools [6,7,7] (sizes ceil'd). The official
  // get_pool_and_conv_props halves the float size: 252/2^5 = 7.875 < 8 stops axis 0 at 5 poolings, so the start
  // topology is [5,7,7] (padding to /32 gives 256) and its proxy differs (the loop is unaffected).
  const start = getPoolAndConvProps(SPACING, [252, 512, 512]);
  assert.deepEqual(start.num_pool_per_axis, [5, 7, 7]);
  assert.deepEqual(start.patch_size, [256, 512, 512]);
  const pools6 = [...Array(6).fill([2, 2, 2]), [1, 2, 2]];
  assert.equal(computeApproxVramConsumption([256, 512, 512], pools6, 32, 320, 1, 2), 14491901952);
});

test('Lung 3d_lowres is created: 64 steps of 1.01, spacing ~(2.354, 1.484, 1.484), median ~133x271x271', () => {
  const r = planExperiment3DV21(lungFingerprint());
  assert.equal(r.plans.num_stages, 2);
  assert.equal(r.lowres_steps, 64);
  const low = r.plans.plans_per_stage['0'];
  assert.deepEqual(low.patch_size, [80, 192, 160]);
  assert.equal(low.batch_size, 2);
  assert.deepEqual(low.median_patient_size_in_voxels, [133, 271, 271]);
  const expectedSpacing = SPACING.map((s) => s * 1.01 ** 64);
  low.current_spacing.forEach((s, i) => assert.ok(Math.abs(s - expectedSpacing[i]) < 1e-9));
  assert.ok(Math.abs(low.current_spacing[0] - 2.354) < 1e-3 && Math.abs(low.current_spacing[1] - 1.484) < 1e-3);
});

test('Lung 2d: patch [512,512], batch 12 (proxy 77 807 616 with 30 base / 512 max features), 7 poolings', () => {
  const r = planExperiment2DV21(lungFingerprint());
  const s = r.plans.plans_per_stage['0'];
  assert.deepEqual(s.patch_size, [512, 512]);
  assert.equal(s.batch_size, 12);
  assert.equal(s.pool_op_kernel_sizes.length, 7);
  assert.deepEqual(s.conv_kernel_sizes, Array.from({ length: 8 }, () => [3, 3]));
  assert.equal(r.trace_fullres[0].vram, 77807616);
});

test('Lung plans.json: v2 schema with the cascade configurations', () => {
  const plans = planExperiment(lungFingerprint());
  const j = plans.toJSON();
  assert.deepEqual(Object.keys(j.configurations).sort(), ['2d', '3d_cascade_fullres', '3d_fullres', '3d_lowres']);
  assert.deepEqual(j.configurations['3d_cascade_fullres'], { inherits_from: '3d_fullres', previous_stage: '3d_lowres' });
  assert.equal(j.configurations['3d_lowres'].next_stage, '3d_cascade_fullres');
  const cascade = plans.configuration('3d_cascade_fullres');
  assert.deepEqual(cascade.patch_size, [80, 192, 160]);
  assert.equal(cascade.previous_stage, '3d_lowres');
  assert.equal(cascade.data_identifier, 'nnUNetData_plans_v2.1_stage1');
  assert.equal(plans.configuration('3d_lowres').data_identifier, 'nnUNetData_plans_v2.1_stage0');
  assert.equal(plans.configuration('3d_fullres').batch_dice, true); // v1: batch dice when a cascade exists
  assert.equal(plans.configuration('3d_lowres').batch_dice, false);
  assert.deepEqual(plans.configuration('3d_fullres').normalization_schemes, ['CTNormalization']);
  assert.deepEqual(j.original_median_shape_after_transp, [252, 512, 512]);
  const net = plans.network('3d_fullres');
  assert.deepEqual(net.features_per_stage, [32, 64, 128, 256, 320, 320]);
  assert.deepEqual(net.feature_map_sizes[net.num_stages - 1], [5, 6, 5]);
  assert.equal(plans.network('2d').features_per_stage[7], 480); // v1 2D network caps at 480
});
