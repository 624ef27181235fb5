/**
 * `planExperiment(fp, { gpuMemoryTargetGB })`: v2.1 scales the VRAM reference by GB/8 as v1's
 * ExperimentPlanner3D_v21_11GB (`ref = use_this_for_batch_size_computation_3D * 11 / 8`); v2 presets set
 * UNet_vram_target_GB (`-gpu_memory_target`). Checked on the official synthlung and hippocampus fingerprints.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { planExperiment } from '../../sdk/planning/plan_experiment';
import { getPropertiesForStage3DV21, gpuTargetSuffix, type ShrinkStep } from '../../sdk/planning/planner_v21';
import { GENERIC_UNET } from '../../sdk/planning/vram';
import { fromV1DatasetProperties } from './compare';

const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/official');
const read = (rel: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, rel), 'utf8'));
const synthlung = () => ({
  ...fromV1DatasetProperties(read('synthlung/v1/nnUNetPlansv2.1_plans_3D.json').dataset_properties),
  // the plans only copy the CT statistics; take them from the official v2 fingerprint
  foreground_intensity_properties_per_channel: read('synthlung/v2/dataset_fingerprint.json').foreground_intensity_properties_per_channel,
});
const prod = (v: number[]) => v.reduce((a, b) => a * b, 1);

test('the default target (8 GB) gives exactly the default plans, for v2.1 and nnUNetPlans', () => {
  const fp = synthlung();
  assert.deepEqual(planExperiment(fp, { gpuMemoryTargetGB: 8 }).json, planExperiment(fp).json);
  assert.deepEqual(planExperiment(fp, { preset: 'nnUNetPlans', gpuMemoryTargetGB: 8 }).json, planExperiment(fp, { preset: 'nnUNetPlans' }).json);
  assert.equal(gpuTargetSuffix(undefined), '');
  assert.equal(gpuTargetSuffix(8), '');
  assert.equal(gpuTargetSuffix(0.25), '_0p25GB');
});

test('v2.1 at 11 GB: the shrink loop stops at the first patch under ref x 11/8 (v1 ExperimentPlanner3D_v21_11GB)', () => {
  const fp = synthlung();
  const full = planExperiment(fp).configuration('3d_fullres');
  const spacing = full.spacing;
  const median = full.median_image_size_in_voxels;
  for (const gb of [11, 4, 1]) {
    const trace: ShrinkStep[] = [];
    const stage = getPropertiesForStage3DV21(spacing, spacing, median, 10, 1, 2, { trace, gpuMemoryTargetGB: gb });
    const ref = ((GENERIC_UNET.use_this_for_batch_size_computation_3D * 32) / GENERIC_UNET.BASE_NUM_FEATURES_3D) * (gb / 8);
    const last = trace[trace.length - 1];
    assert.deepEqual(last.patch_size, stage.patch_size);
    assert.ok(last.vram <= ref, `${gb} GB: final estimate ${last.vram} <= ${ref}`);
    if (trace.length > 1) assert.ok(trace[trace.length - 2].vram > ref, `${gb} GB: the step before was over the reference`);
    // batch: floor(max(ref/here, 1) * 2), capped by 5 % of the dataset (at least 2)
    assert.ok(stage.batch_size >= 2);
  }
});

test('smaller targets give smaller 3d_fullres patches, and a 3d_lowres stage with the cascade once the patch is small enough', () => {
  const fp = synthlung();
  let prev = Infinity;
  let sawCascade = false;
  for (const gb of [8, 4, 2, 1, 0.5, 0.25, 0.125]) {
    const plans = planExperiment(fp, { gpuMemoryTargetGB: gb });
    const full = plans.configuration('3d_fullres');
    const vox = prod(full.patch_size);
    assert.ok(vox <= prev, `${gb} GB: patch ${full.patch_size} not larger than at the previous target`);
    prev = vox;
    assert.equal(plans.plansName, `nnUNetPlansv2.1${gpuTargetSuffix(gb)}`);
    assert.ok(full.data_identifier.startsWith(`nnUNetData_plans_v2.1${gpuTargetSuffix(gb)}_stage`));
    if (plans.hasConfiguration('3d_lowres')) {
      sawCascade = true;
      assert.ok(plans.hasConfiguration('3d_cascade_fullres'));
      const low = plans.configuration('3d_lowres');
      assert.ok(low.spacing.every((s, i) => s >= full.spacing[i]) && low.spacing.some((s, i) => s > full.spacing[i]), 'lowres spacing is coarser');
      assert.ok(2 * prod(low.median_image_size_in_voxels) < prod(full.median_image_size_in_voxels), 'v1: lowres kept only when at least 2x smaller');
      assert.notEqual(low.data_identifier, full.data_identifier);
      // v1 keeps the lowres stage only when the full-res patch covers less than 1/4 of the median image
      assert.ok(prod(full.median_image_size_in_voxels) / vox >= 4);
    }
  }
  assert.ok(prev < 96 * 160 * 160, 'the patch shrank');
  assert.ok(sawCascade, 'a small target plans a cascade for synthlung');
  assert.ok(!planExperiment(fp).hasConfiguration('3d_lowres'), 'the official 8 GB plans have no 3d_lowres (fixtures README)');
});

test('v2 presets: gpuMemoryTargetGB sets UNet_vram_target_GB and renames the plans; bad values are refused', () => {
  const fp = synthlung();
  const small = planExperiment(fp, { preset: 'nnUNetPlans', gpuMemoryTargetGB: 2 });
  assert.equal(small.plansName, 'nnUNetPlans_2GB');
  assert.ok(prod(small.configuration('3d_fullres').patch_size) < prod(planExperiment(fp, { preset: 'nnUNetPlans' }).configuration('3d_fullres').patch_size));
  assert.throws(() => planExperiment(fp, { gpuMemoryTargetGB: 0 }), /gpuMemoryTargetGB must be a positive number/);
  assert.throws(() => planExperiment(fp, { preset: 'nnUNetPlans', gpuMemoryTargetGB: -1 }), /gpuMemoryTargetGB must be a positive number/);
});
