import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'path';
import { readJsonSync } from '../../sdk/io/atomic';
import { getDeepSupervisionScales, getPatchSize, setupDAParams } from '../../sdk/training/patch_size';
import { rotateVector3d, rotationMatrix3d } from '../../sdk/training/rotation';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official');
const deg = (d: number) => (d / 360) * 2 * Math.PI;

test('getPatchSize reproduces reference A.3', () => {
  const r30: [number, number] = [-deg(30), deg(30)];
  assert.deepEqual(getPatchSize([80, 192, 160], r30, r30, r30, [0.85, 1.25]), [194, 289, 210]);
  assert.deepEqual(getPatchSize([128, 128, 128], r30, r30, r30, [0.85, 1.25]), [205, 205, 205]);
  const r180: [number, number] = [-deg(180), deg(180)];
  assert.deepEqual(getPatchSize([512, 512], r180, [0, 0], [0, 0], [0.85, 1.25]), [602, 602]);
});

test('rotation matrices follow batchgenerators (R = Rx·Ry·Rz, row vectors)', () => {
  // rotating the x unit vector (first axis) about z by 90°: v·Rz = [cos, −sin, 0] = [0, −1, 0]
  const v = rotateVector3d([1, 0, 0], rotationMatrix3d(0, 0, Math.PI / 2));
  assert.ok(Math.abs(v[0]) < 1e-12 && Math.abs(v[1] + 1) < 1e-12 && Math.abs(v[2]) < 1e-12);
  const id = rotationMatrix3d(0, 0, 0);
  assert.deepEqual(id.map((x) => Math.round(x)), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
});

test('setupDAParams on the official hippocampus plans (3D and 2D) and synthlung 2D', () => {
  const plans3d = readJsonSync(path.join(FIX, 'hippocampus_v1_plans_3d.json')) as any;
  const st = plans3d.plans_per_stage['0'];
  const p = setupDAParams({ patchSize: st.patch_size, poolOpKernelSizes: st.pool_op_kernel_sizes, doDummy2DAug: st.do_dummy_2D_data_aug, useMaskForNorm: plans3d.use_mask_for_norm });
  assert.equal(p.dim, 3);
  assert.deepEqual(p.patchSizeForSpatialTransform, [40, 56, 40]);
  // the loader patch is get_patch_size with ±30° and the *default* scale range (quirk B.3)
  const r30: [number, number] = [-deg(30), deg(30)];
  assert.deepEqual(p.basicGeneratorPatchSize, getPatchSize([40, 56, 40], r30, r30, r30, [0.85, 1.25]));
  assert.deepEqual(p.scaleRange, [0.7, 1.4]);
  assert.equal(p.doElastic, false);
  assert.deepEqual(p.mirrorAxes, [0, 1, 2]);
  assert.deepEqual(p.maskWasUsedForNormalization, [false]);
  assert.deepEqual(p.deepSupervisionScales, [[1, 1, 1], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]]);
  assert.equal(p.orderSeg, 1);
  assert.equal(p.borderCvalSeg, -1);

  const plans2d = readJsonSync(path.join(FIX, 'hippocampus_v1_plans_2d.json')) as any;
  const st2 = plans2d.plans_per_stage['0'];
  const p2 = setupDAParams({ patchSize: st2.patch_size, poolOpKernelSizes: st2.pool_op_kernel_sizes });
  // 56×40: aspect 1.4 ≤ 1.5 → ±180° (capped at 90° for the enlargement)
  assert.deepEqual(p2.rotationX.map((x) => Math.round((x * 180) / Math.PI)), [-180, 180]);
  assert.deepEqual(p2.mirrorAxes, [0, 1]);
  assert.deepEqual(p2.deepSupervisionScales, [[1, 1], [0.5, 0.5], [0.25, 0.25]]);

  const key = readJsonSync(path.join(FIX, 'synthlung/key_numbers.json')) as any;
  const s2 = key.default.v1.plans_2D.stages[0];
  const pl = setupDAParams({ patchSize: s2.patch_size, poolOpKernelSizes: s2.pool_op_kernel_sizes });
  assert.equal(pl.deepSupervisionScales!.length, s2.pool_op_kernel_sizes.length);
  const s3 = key.default.v1.plans_3D.stages[0];
  assert.deepEqual(getDeepSupervisionScales(s3.pool_op_kernel_sizes, 3), [[1, 1, 1], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.125, 0.125, 0.125], [0.0625, 0.0625, 0.0625]]);
});

test('aspect > 1.5 in 2D limits rotation to ±15°; dummy 2D keeps axis 0 of the loader patch', () => {
  const p = setupDAParams({ patchSize: [160, 96], poolOpKernelSizes: [[2, 2]] });
  assert.deepEqual(p.rotationX.map((x) => Math.round((x * 180) / Math.PI)), [-15, 15]);
  const d = setupDAParams({ patchSize: [10, 160, 160], poolOpKernelSizes: [[1, 2, 2], [2, 2, 2]], doDummy2DAug: true });
  assert.equal(d.dummy2D, true);
  assert.deepEqual(d.patchSizeForSpatialTransform, [160, 160]);
  const r180: [number, number] = [-deg(180), deg(180)];
  assert.deepEqual(d.basicGeneratorPatchSize, [10, ...getPatchSize([160, 160], r180, [0, 0], [0, 0], [0.85, 1.25])]);
  assert.deepEqual(d.deepSupervisionScales, [[1, 1, 1], [1, 0.5, 0.5]]);
});
