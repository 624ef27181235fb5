/** receptiveField: hand-computed values for known U-Nets, and exactness against a voxel-by-voxel propagation. */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { receptiveField } from '../../sdk/network/receptive_field';
import * as sdk from '../../sdk';

describe('receptiveField', () => {
  it('2D U-Net with two 2x2 poolings and 3x3 kernels: 35 x 35 (hand-computed)', () => {
    // encoder 0: 1 + 2 + 2 = 5; encoder 1: +2*1 (stride 2) = 7, +2*2 = 11; bottleneck: +2*2 = 15, +2*4 = 23;
    // decoder 1 (jump 2): +4 +4 = 31; decoder 0 (jump 1): +2 +2 = 35
    const rf = receptiveField({ pool_op_kernel_sizes: [[2, 2], [2, 2]], conv_kernel_sizes: [[3, 3], [3, 3], [3, 3]] });
    assert.deepEqual(rf.size, [35, 35]);
    assert.deepEqual(rf.minimum, [35, 35]);
    assert.deepEqual(rf.stages.map((s) => [s.kind, s.level, s.receptiveField[0], s.jump[0]]), [
      ['encoder', 0, 5, 1],
      ['encoder', 1, 11, 2],
      ['bottleneck', 2, 23, 4],
      ['decoder', 1, 31, 2],
      ['decoder', 0, 35, 1],
    ]);
  });

  it('official Task04 Hippocampus 3d_fullres (3 poolings of 2, 3x3x3 kernels): 71 to 79 voxels per axis', () => {
    // recurrence (hand): 5 + 3 * (2^4 - 2) on the way down, + 4 * (2^3 - 1) on the way up = 75. Exactly, a decoder
    // voxel sees 2 or 3 coarse voxels through its 3-kernel depending on its phase: 71 to 79 (the propagation test
    // below checks these against a voxel-by-voxel computation)
    const rf = receptiveField({
      pool_op_kernel_sizes: [[2, 2, 2], [2, 2, 2], [2, 2, 2]],
      conv_kernel_sizes: [[3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
    });
    assert.deepEqual(rf.size, [79, 79, 79]);
    assert.deepEqual(rf.minimum, [71, 71, 71]);
    assert.deepEqual(rf.recurrence, [75, 75, 75]);
  });

  it('anisotropic kernels: an axis with kernel 1 and stride 1 does not grow', () => {
    const rf = receptiveField({
      pool_op_kernel_sizes: [[1, 2, 2], [2, 2, 2]],
      conv_kernel_sizes: [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
    });
    // z: stage 0 (kernel 1) adds nothing; stage 1 (stride 1): +2 +2 = 5; bottleneck: +2, then jump 2: +4 = 11;
    // decoder 1 (back to jump 1): +2 +2 = 15; decoder 0 (kernel 1): 15.  y, x: 35 as the 2D case
    assert.deepEqual(rf.size, [15, 35, 35]);
  });

  it('convPerStage and n_conv_per_stage_encoder change the count of convolutions', () => {
    const conf = { pool_op_kernel_sizes: [[2]], conv_kernel_sizes: [[3], [3]] };
    assert.deepEqual(receptiveField(conf).size, [1 + 2 + 2 + 2 + 4 + 2 + 2]);
    assert.deepEqual(receptiveField(conf, { convPerStage: 1 }).size, [1 + 2 + 2 + 2]);
    assert.deepEqual(receptiveField({ ...conf, n_conv_per_stage_encoder: [3, 3] }).size, receptiveField(conf, { convPerStage: 3 }).size);
  });

  it('equals the exact dependency interval of every output voxel away from the border', () => {
    // one axis of the network, layer by layer: each voxel holds the [lo, hi] input interval it depends on
    const exact = (pools: number[], kernels: number[], convPerStage = 2): number[] => {
      let cur: [number, number][] = Array.from({ length: 4096 }, (_, i) => [i, i]);
      const conv = (k: number, s: number) => {
        const pad = (k - 1) / 2;
        const n = Math.floor((cur.length + 2 * pad - k) / s) + 1;
        const out: [number, number][] = [];
        for (let o = 0; o < n; o++) {
          let lo = Infinity;
          let hi = -Infinity;
          for (let t = 0; t < k; t++) {
            const i = o * s - pad + t;
            if (i < 0 || i >= cur.length) continue; // zero padding reads nothing
            lo = Math.min(lo, cur[i][0]);
            hi = Math.max(hi, cur[i][1]);
          }
          out.push([lo, hi]);
        }
        cur = out;
      };
      const n = pools.length;
      for (let d = 0; d <= n; d++) for (let c = 0; c < convPerStage; c++) conv(kernels[d], c === 0 && d > 0 ? pools[d - 1] : 1);
      for (let d = n - 1; d >= 0; d--) {
        const p = pools[d];
        cur = Array.from({ length: cur.length * p }, (_, o) => cur[Math.floor(o / p)]);
        for (let c = 0; c < convPerStage; c++) conv(kernels[d], 1);
      }
      // widths of the central voxels (all phases of the poolings), far from the zero-padded border
      const widths = cur.filter(([lo, hi]) => lo >= 1024 && hi < 3072).map(([lo, hi]) => hi - lo + 1);
      return [Math.min(...widths), Math.max(...widths)];
    };
    const cases: [number[], number[]][] = [
      [[2, 2], [3, 3, 3]],
      [[2, 2, 2], [3, 3, 3, 3]],
      [[2, 2, 2, 2, 2], [3, 3, 3, 3, 3, 3]],
      [[1, 2, 2], [1, 3, 3, 3]],
      [[2, 1, 2], [3, 1, 3, 3]],
      [[2, 2, 2, 2], [1, 1, 3, 3, 3]],
    ];
    for (const [pools, kernels] of cases) {
      const rf = receptiveField({ pool_op_kernel_sizes: pools.map((p) => [p]), conv_kernel_sizes: kernels.map((k) => [k]) });
      assert.deepEqual(exact(pools, kernels), [rf.minimum[0], rf.size[0]], `pools ${pools} kernels ${kernels}`);
    }
    // 5 poolings: the extent depends on the voxel's phase; the textbook recurrence lies in between
    const deep = receptiveField({ pool_op_kernel_sizes: [[2], [2], [2], [2], [2]], conv_kernel_sizes: [[3], [3], [3], [3], [3], [3]] });
    assert.deepEqual([deep.minimum[0], deep.recurrence[0], deep.size[0]], [287, 315, 319]);
  });

  it('refuses inconsistent plans with a message', () => {
    assert.throws(() => receptiveField({ pool_op_kernel_sizes: [[2, 2]], conv_kernel_sizes: [[3, 3]] }), /2 pool_op_kernel_sizes|need 0/);
    assert.throws(() => receptiveField({ pool_op_kernel_sizes: [[2]], conv_kernel_sizes: [[3, 3], [3, 3]] }), /axes/);
    assert.throws(() => receptiveField({ pool_op_kernel_sizes: [], conv_kernel_sizes: [[0]] }), /positive integers/);
    assert.throws(() => receptiveField({ pool_op_kernel_sizes: [[2]], conv_kernel_sizes: [[3], [3]], n_conv_per_stage_encoder: [2, 3] }), /varies/);
  });

  it('is exported from the package root', () => {
    assert.equal(sdk.receptiveField, receptiveField);
  });
});
