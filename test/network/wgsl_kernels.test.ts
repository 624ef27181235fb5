/**
 * Our WGSL kernels (sdk/network/webgpu/wgsl_kernels.ts, NNUNET_CONV=wgsl) against the direct float64 references:
 * the implicit-GEMM conv3d and its split-K filter gradient on shapes that cross the 64x64 output tiles and 16-wide
 * K steps (channel counts that are not multiples of anything, strides, anisotropic kernels, 1-channel input; the
 * filter gradient also at the 40x56x40 layer where tfjs's own is wrong), with the output tiles spread over two
 * dispatch dimensions, and the fused norm-apply + LeakyReLU. On CPU machines this runs on Mesa's software renderer.
 */
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, useWgslKernels } from '../../sdk/network/backend';
import { setWgslMaxGroups, wgslConv3d, wgslConv3dFilterGrad, wgslConv3dInputGrad, wgslNormApplyLeaky } from '../../sdk/network/webgpu/wgsl_kernels';
import { webgpuUnavailable } from '../helpers/webgpu';
import { Conv3dCase, conv3dCaseInputs, conv3dRef, randArr, relErr, rng } from './reference';

const CASES: Conv3dCase[] = [
  { x: [1, 6, 20, 18, 8], k: [3, 3, 3], s: [1, 1, 1], co: 40 }, // M 2160 (34 row tiles), K 216, Co not a multiple of 64
  { x: [1, 4, 10, 12, 32], k: [3, 3, 3], s: [1, 1, 1], co: 70 }, // K 864 (54 K steps), two column tiles
  { x: [2, 7, 9, 8, 4], k: [3, 3, 3], s: [2, 2, 2], co: 5 }, // strided (downsampling), batch 2
  { x: [1, 5, 6, 7, 3], k: [1, 3, 3], s: [1, 2, 1], co: 3 }, // anisotropic kernel and stride
  { x: [1, 8, 9, 10, 1], k: [3, 3, 3], s: [1, 1, 1], co: 32 }, // the first layer: one input channel
];

const skip = webgpuUnavailable();
describe('WGSL kernels on webgpu', { skip: skip ?? false }, () => {
  before(async () => {
    await initBackend({ backend: 'webgpu', conv: 'wgsl', log: false });
  });
  after(async () => {
    await initBackend({ backend: 'webgpu', conv: 'ops', log: false });
  });

  it('NNUNET_CONV=wgsl turns them on', () => {
    assert.equal(useWgslKernels(), true);
  });

  it('implicit-GEMM conv3d equals the direct float64 convolution', async () => {
    const r = rng(11);
    for (const c of CASES) {
      const { pads, x, w } = conv3dCaseInputs(c, r);
      const ref = conv3dRef(x, w, c.s, pads).y;
      const xt = tf.tensor5d(Float32Array.from(x.data), x.shape as [number, number, number, number, number]);
      const wt = tf.tensor5d(Float32Array.from(w.data), w.shape as [number, number, number, number, number]);
      const y = wgslConv3d(xt, wt, c.s as [number, number, number], pads as [number, number, number]);
      const got = await y.data();
      assert.deepEqual(y.shape, ref.shape, `x ${c.x} k ${c.k} s ${c.s}`);
      const e = relErr(got, ref.data);
      assert.ok(e < 1e-5, `x ${c.x} k ${c.k} s ${c.s}: relative error ${e}`);
      tf.dispose([xt, wt, y]);
    }
  });

  it('split-K filter gradient equals the direct float64 one (also at the hippocampus size where tfjs-webgpu is 50 % off)', async () => {
    const r = rng(13);
    // the first 40x56x40 layer (1 -> 32): tfjs-webgpu 4.22's Conv3DBackpropFilterV2 gives 52-55 % relative error there
    const cases: Conv3dCase[] = [...CASES, { x: [1, 40, 56, 40, 1], k: [3, 3, 3], s: [1, 1, 1], co: 32 }];
    for (const c of cases) {
      const { pads, x, w, dy } = conv3dCaseInputs(c, r);
      const ref = conv3dRef(x, w, c.s, pads, dy).dw!;
      const xt = tf.tensor5d(Float32Array.from(x.data), x.shape as [number, number, number, number, number]);
      const dyt = tf.tensor5d(Float32Array.from(dy.data), dy.shape as [number, number, number, number, number]);
      const g = wgslConv3dFilterGrad(xt, dyt, c.k as [number, number, number], c.s as [number, number, number], pads as [number, number, number]);
      const got = await g.data();
      assert.deepEqual(g.shape, ref.shape, `x ${c.x} k ${c.k} s ${c.s}`);
      const e = relErr(got, ref.data);
      assert.ok(e < 1e-5, `x ${c.x} k ${c.k} s ${c.s}: dw relative error ${e}`);
      tf.dispose([xt, dyt, g]);
    }
  });

  it('phase-grouped input gradient of strided convolutions equals the direct float64 one', async () => {
    const r = rng(17);
    const cases: Conv3dCase[] = [
      ...CASES.filter((c) => c.s.some((v) => v !== 1)),
      { x: [1, 9, 12, 10, 16], k: [3, 3, 3], s: [2, 2, 2], co: 70 }, // odd sizes: phases of unequal size, 1-8 taps x 70 channels each
      { x: [2, 4, 11, 13, 70], k: [1, 3, 3], s: [1, 2, 2], co: 24 }, // nnU-Net's in-plane downsampling; Ci 70 crosses a column tile
      { x: [1, 5, 5, 5, 3], k: [1, 1, 1], s: [2, 2, 2], co: 4 }, // stride > kernel: 7 of 8 phases get no tap (dX 0 there)
    ];
    for (const c of cases) {
      const { pads, x, w, dy } = conv3dCaseInputs(c, r);
      const ref = conv3dRef(x, w, c.s, pads, dy).dx!;
      const dyt = tf.tensor5d(Float32Array.from(dy.data), dy.shape as [number, number, number, number, number]);
      const wt = tf.tensor5d(Float32Array.from(w.data), w.shape as [number, number, number, number, number]);
      const g = wgslConv3dInputGrad(dyt, wt, c.x as [number, number, number, number, number], c.s as [number, number, number], pads as [number, number, number]);
      const got = await g.data();
      assert.deepEqual(g.shape, ref.shape, `x ${c.x} k ${c.k} s ${c.s}`);
      const e = relErr(got, ref.data);
      assert.ok(e < 1e-5, `x ${c.x} k ${c.k} s ${c.s}: dx relative error ${e}`);
      // spread over the y and z dispatch dimensions (2 groups per dimension): the same bits
      const old = setWgslMaxGroups(2);
      try {
        const folded = await wgslConv3dInputGrad(dyt, wt, c.x as [number, number, number, number, number], c.s as [number, number, number], pads as [number, number, number]).data();
        assert.ok(Buffer.from(folded.buffer).equals(Buffer.from(got.buffer)), `x ${c.x}: folded dispatch differs`);
      } finally {
        setWgslMaxGroups(old);
      }
      tf.dispose([dyt, wt, g]);
    }
  });

  it('output tiles spread over the y and z dispatch dimensions give the same result', async () => {
    const c = CASES[0];
    const { pads, x, w } = conv3dCaseInputs(c, rng(5));
    const xt = tf.tensor5d(Float32Array.from(x.data), x.shape as [number, number, number, number, number]);
    const wt = tf.tensor5d(Float32Array.from(w.data), w.shape as [number, number, number, number, number]);
    const one = await wgslConv3d(xt, wt, [1, 1, 1], pads as [number, number, number]).data();
    const old = setWgslMaxGroups(4); // 34 row tiles -> 4 x 9 groups, the last 2 beyond the output
    try {
      const folded = await wgslConv3d(xt, wt, [1, 1, 1], pads as [number, number, number]).data();
      assert.ok(Buffer.from(folded.buffer).equals(Buffer.from(one.buffer)));
    } finally {
      setWgslMaxGroups(old);
      tf.dispose([xt, wt]);
    }
  });

  it('norm apply + LeakyReLU equals leaky(x * scale + shift) per sample and channel', async () => {
    const r = rng(3);
    const [n, sp, c] = [2, 301, 6];
    const x = randArr([n, sp, c], r);
    const scale = randArr([n, 1, c], r);
    const shift = randArr([n, 1, c], r);
    const y = wgslNormApplyLeaky(tf.tensor(Float32Array.from(x.data), x.shape), tf.tensor(Float32Array.from(scale.data), scale.shape), tf.tensor(Float32Array.from(shift.data), shift.shape), 0.01);
    const got = await y.data();
    const want = new Float64Array(n * sp * c);
    for (let b = 0; b < n; b++)
      for (let s = 0; s < sp; s++)
        for (let k = 0; k < c; k++) {
          const i = (b * sp + s) * c + k;
          const v = x.data[i] * scale.data[b * c + k] + shift.data[b * c + k];
          want[i] = v > 0 ? v : 0.01 * v;
        }
    assert.deepEqual(y.shape, [n, sp, c]);
    const e = relErr(got, want);
    assert.ok(e < 1e-6, `relative error ${e}`);
  });
});
