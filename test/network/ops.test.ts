/**
 * Our conv ops (forward, d input, d weights) against direct loop references, on random shapes, strides and
 * anisotropic kernels as v2.1 plans produce them, on both the wasm and the cpu backend.
 */
import { describe, it, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, useNativeConv3d } from '../../sdk/network/backend';
import { webgpuUnavailable } from '../helpers/webgpu';
import {
  biasInstanceNormLeakyRelu,
  concatND,
  conv1x1,
  conv2d,
  conv3d,
  setConv3dStackLimit,
  convTranspose2d,
  convTranspose3d,
  instanceNorm,
  padND,
  sliceND,
} from '../../sdk/network/ops';
import { Arr, Conv3dCase, conv3dCaseInputs, conv3dRef, convTranspose3dRef, randArr, relErr, rng } from './reference';

const TOL = 2e-5; // float32 accumulation vs float64 reference, relative to the largest magnitude

function t(a: Arr): tf.Tensor {
  return tf.tensor(Float32Array.from(a.data), a.shape);
}

/** forward and both gradients of op through tf.grads of sum(op(x, w) * dy) (read asynchronously: webgpu in Node has no dataSync). */
async function run(op: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor, x: Arr, w: Arr, dy: Arr) {
  const xt = t(x);
  const wt = t(w);
  const dyt = t(dy);
  const y = op(xt, wt);
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a, b), dyt)));
  const [dx, dw] = g([xt, wt]);
  const out = { y: await y.data(), yShape: y.shape, dx: await dx.data(), dw: await dw.data() };
  tf.dispose([xt, wt, dyt, y, dx, dw]);
  return out;
}

// shapes: odd/even sizes, strides 1/2 per axis, kernels 3x3x3, 1x3x3, 3x1x1, 1x1x1 and a non-nnU-Net 5
const CASES_3D: Conv3dCase[] = [
  { x: [2, 5, 6, 7, 3], k: [3, 3, 3], s: [1, 1, 1], co: 4 },
  { x: [1, 6, 8, 8, 2], k: [3, 3, 3], s: [2, 2, 2], co: 3 },
  { x: [2, 7, 5, 6, 3], k: [3, 3, 3], s: [2, 2, 2], co: 2 }, // odd sizes with stride 2
  { x: [1, 4, 8, 8, 2], k: [1, 3, 3], s: [1, 2, 2], co: 3 },
  { x: [1, 6, 5, 5, 4], k: [3, 1, 1], s: [2, 1, 1], co: 2 },
  { x: [2, 6, 6, 4, 2], k: [1, 3, 3], s: [1, 1, 1], co: 5 },
  { x: [1, 5, 7, 6, 2], k: [3, 3, 3], s: [1, 2, 1], co: 3 },
  { x: [1, 4, 4, 6, 3], k: [1, 1, 1], s: [2, 2, 2], co: 2 },
  { x: [1, 7, 7, 7, 2], k: [5, 5, 5], s: [1, 1, 1], co: 2 },
];

// webgpu three times: tfjs's own Conv3D kernels, our conv2d-based ops (NNUNET_CONV=ops, the default) and the ops with
// our WGSL kernels (NNUNET_CONV=wgsl)
const RUNS: Array<{ backend: 'wasm' | 'cpu' | 'webgpu'; conv?: 'tfjs' | 'ops' | 'wgsl' }> = [{ backend: 'wasm' }, { backend: 'cpu' }];
if (webgpuUnavailable() === null) RUNS.push({ backend: 'webgpu', conv: 'tfjs' }, { backend: 'webgpu', conv: 'ops' }, { backend: 'webgpu', conv: 'wgsl' });
else it(`network ops on webgpu: skipped`, { skip: webgpuUnavailable()! }, () => undefined);

for (const { backend, conv } of RUNS) {
  describe(`network ops on ${backend}${conv ? ` (conv ${conv})` : ''}`, () => {
    before(async () => {
      await initBackend({ backend, conv, log: false });
    });

    it('conv3d forward, dx, dw match the direct reference (strides 1/2, anisotropic kernels, PyTorch padding)', async () => {
      const r = rng(7);
      for (const c of CASES_3D) {
        const { pads, x, w, dy } = conv3dCaseInputs(c, r);
        const ref = conv3dRef(x, w, c.s, pads, dy);
        const got = await run(
          (a, b) => conv3d(a as tf.Tensor5D, b as tf.Tensor5D, c.s as [number, number, number]),
          x,
          w,
          dy,
        );
        const label = `x ${c.x} k ${c.k} s ${c.s}`;
        assert.deepEqual(got.yShape, ref.y.shape, label);
        assert.ok(relErr(got.y, ref.y.data) < TOL, `forward ${label}: ${relErr(got.y, ref.y.data)}`);
        assert.ok(relErr(got.dx, ref.dx!.data) < TOL, `dx ${label}: ${relErr(got.dx, ref.dx!.data)}`);
        assert.ok(relErr(got.dw, ref.dw!.data) < TOL, `dw ${label}: ${relErr(got.dw, ref.dw!.data)}`);
      }
    });

    if (backend === 'webgpu' && conv === 'ops')
      it('conv3d filter gradient at network size (40x56x40, 1->32 as the first hippocampus layer) matches the direct reference', async () => {
        // tfjs-webgpu's own Conv3DBackpropFilterV2 is 50 % off at this size (why 'ops' is webgpu's default, backend.ts)
        const c: Conv3dCase = { x: [1, 40, 56, 40, 1], k: [3, 3, 3], s: [1, 1, 1], co: 32 };
        const { pads, x, w, dy } = conv3dCaseInputs(c, rng(29));
        const ref = conv3dRef(x, w, c.s, pads, dy);
        const got = await run((a, b) => conv3d(a as tf.Tensor5D, b as tf.Tensor5D), x, w, dy);
        assert.ok(relErr(got.dw, ref.dw!.data) < TOL, `dw: ${relErr(got.dw, ref.dw!.data)}`);
      });

    it('conv3d split into depth chunks (large inputs) gives bit-identical forward values and the same gradients', async () => {
      const r = rng(17);
      for (const c of CASES_3D) {
        const { x, w, dy } = conv3dCaseInputs(c, r);
        const f = (a: tf.Tensor, b: tf.Tensor) => conv3d(a as tf.Tensor5D, b as tf.Tensor5D, c.s as [number, number, number]);
        const whole = await run(f, x, w, dy);
        // one stacked row per chunk: the smallest chunks, the most boundaries
        const prev = setConv3dStackLimit(1);
        try {
          const chunked = await run(f, x, w, dy);
          const label = `x ${c.x} k ${c.k} s ${c.s}`;
          if (backend === 'webgpu') {
            // GPU matMul tiles depend on the operand sizes, so the summation order (not the math) changes with the chunk
            for (const k of ['y', 'dx', 'dw'] as const) assert.ok(relErr(chunked[k], whole[k]) < 1e-6, `${k} ${label}: ${relErr(chunked[k], whole[k])}`);
          } else {
            assert.deepEqual(Array.from(chunked.y), Array.from(whole.y), `forward ${label}`);
            assert.deepEqual(Array.from(chunked.dx), Array.from(whole.dx), `dx ${label}`);
            assert.deepEqual(Array.from(chunked.dw), Array.from(whole.dw), `dw ${label}`);
          }
        } finally {
          setConv3dStackLimit(prev);
        }
      }
    });

    it('inputGradient: false (the network input) gives the same forward and dw and a zero dx, in 3d and 2d', async () => {
      const r = rng(23);
      for (const c of CASES_3D) {
        const { x, w, dy } = conv3dCaseInputs(c, r);
        const s = c.s as [number, number, number];
        const full = await run((a, b) => conv3d(a as tf.Tensor5D, b as tf.Tensor5D, s), x, w, dy);
        const noDx = await run((a, b) => conv3d(a as tf.Tensor5D, b as tf.Tensor5D, s, undefined, { inputGradient: false }), x, w, dy);
        const label = `x ${c.x} k ${c.k} s ${c.s}`;
        assert.deepEqual(Array.from(noDx.y), Array.from(full.y), `forward ${label}`);
        assert.deepEqual(Array.from(noDx.dw), Array.from(full.dw), `dw ${label}`);
        // with tfjs's own kernels (conv tfjs) the option has no effect: tfjs's autodiff already skips the gradient of
        // an input that no variable depends on, which is what the option is for (the network input)
        if (!useNativeConv3d()) assert.ok(noDx.dx.every((v) => v === 0) && noDx.dx.length === full.dx.length, `dx ${label}`);
      }
      const x4: Arr = randArr([2, 7, 6, 3], r);
      const w4: Arr = randArr([3, 3, 3, 4], r);
      const dy4: Arr = randArr([2, 4, 3, 4], r);
      const full = await run((a, b) => conv2d(a as tf.Tensor4D, b as tf.Tensor4D, [2, 2]), x4, w4, dy4);
      const noDx = await run((a, b) => conv2d(a as tf.Tensor4D, b as tf.Tensor4D, [2, 2], undefined, { inputGradient: false }), x4, w4, dy4);
      assert.deepEqual(Array.from(noDx.dw), Array.from(full.dw), 'conv2d dw');
      if (!useNativeConv3d()) assert.ok(noDx.dx.every((v) => v === 0), 'conv2d dx');
    });

    it('conv2d forward, dx, dw match the direct reference', async () => {
      const r = rng(11);
      const cases = [
        { x: [2, 7, 6, 3], k: [3, 3], s: [1, 1], co: 4 },
        { x: [3, 8, 6, 2], k: [3, 3], s: [2, 2], co: 3 },
        { x: [1, 9, 7, 2], k: [3, 3], s: [2, 2], co: 2 },
        { x: [2, 6, 8, 3], k: [1, 3], s: [1, 2], co: 2 },
        { x: [1, 5, 5, 4], k: [1, 1], s: [1, 1], co: 3 },
      ];
      for (const c of cases) {
        const pads = c.k.map((k) => (k - 1) >> 1);
        // 2D as the D = 1 special case of the reference
        const x = randArr([c.x[0], 1, c.x[1], c.x[2], c.x[3]], r);
        const w = randArr([1, ...c.k, c.x[3], c.co], r);
        const ref0 = conv3dRef(x, w, [1, ...c.s], [0, ...pads]);
        const dy = randArr(ref0.y.shape, r);
        const ref = conv3dRef(x, w, [1, ...c.s], [0, ...pads], dy);
        const x4: Arr = { data: x.data, shape: c.x };
        const w4: Arr = { data: w.data, shape: [...c.k, c.x[3], c.co] };
        const dy4: Arr = { data: dy.data, shape: [dy.shape[0], dy.shape[2], dy.shape[3], dy.shape[4]] };
        const got = await run((a, b) => conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s as [number, number]), x4, w4, dy4);
        const label = `x ${c.x} k ${c.k} s ${c.s}`;
        assert.ok(relErr(got.y, ref.y.data) < TOL, `forward ${label}`);
        assert.ok(relErr(got.dx, ref.dx!.data) < TOL, `dx ${label}: ${relErr(got.dx, ref.dx!.data)}`);
        assert.ok(relErr(got.dw, ref.dw!.data) < TOL, `dw ${label}: ${relErr(got.dw, ref.dw!.data)}`);
      }
    });

    it('convTranspose3d / 2d (kernel == stride) forward and gradients match the direct reference', async () => {
      const r = rng(3);
      for (const c of [
        { x: [2, 3, 4, 3, 5], k: [2, 2, 2], co: 3 },
        { x: [1, 2, 3, 4, 4], k: [1, 2, 2], co: 2 },
        { x: [1, 3, 2, 2, 3], k: [2, 1, 1], co: 4 },
      ]) {
        const x = randArr(c.x, r);
        const w = randArr([...c.k, c.co, c.x[4]], r);
        const ref0 = convTranspose3dRef(x, w);
        const dy = randArr(ref0.y.shape, r);
        const ref = convTranspose3dRef(x, w, dy);
        const got = await run((a, b) => convTranspose3d(a as tf.Tensor5D, b as tf.Tensor5D), x, w, dy);
        const label = `x ${c.x} k ${c.k}`;
        assert.deepEqual(got.yShape, ref.y.shape, label);
        assert.ok(relErr(got.y, ref.y.data) < TOL, `forward ${label}`);
        assert.ok(relErr(got.dx, ref.dx!.data) < TOL, `dx ${label}`);
        assert.ok(relErr(got.dw, ref.dw!.data) < TOL, `dw ${label}`);
      }
      // 2D: the D = 1, kd = 1 case
      const x = randArr([2, 1, 3, 4, 3], r);
      const w = randArr([1, 2, 2, 2, 3], r);
      const dy = randArr([2, 1, 6, 8, 2], r);
      const ref = convTranspose3dRef(x, w, dy);
      const got = await run(
        (a, b) => convTranspose2d(a as tf.Tensor4D, b as tf.Tensor4D),
        { data: x.data, shape: [2, 3, 4, 3] },
        { data: w.data, shape: [2, 2, 2, 3] },
        { data: dy.data, shape: [2, 6, 8, 2] },
      );
      assert.ok(relErr(got.y, ref.y.data) < TOL);
      assert.ok(relErr(got.dx, ref.dx!.data) < TOL);
      assert.ok(relErr(got.dw, ref.dw!.data) < TOL);
    });

    it('conv1x1 equals a 1x1x1 conv3d reference; instanceNorm matches the PyTorch formula', async () => {
      const r = rng(5);
      const x = randArr([2, 3, 4, 2, 5], r);
      const w = randArr([1, 1, 1, 5, 3], r);
      const ref = conv3dRef(x, w, [1, 1, 1], [0, 0, 0]);
      const y = conv1x1(t(x), t(w));
      assert.ok(relErr(await y.data(), ref.y.data) < TOL);
      y.dispose();
      // instance norm: per (n, c) over space, biased variance, eps 1e-5
      const g = randArr([5], r);
      const b = randArr([5], r);
      const xt = t(x);
      const out = await instanceNorm(xt, t(g) as tf.Tensor1D, t(b) as tf.Tensor1D).data();
      const S = 3 * 4 * 2;
      for (let n = 0; n < 2; n++)
        for (let c = 0; c < 5; c++) {
          let m = 0;
          for (let i = 0; i < S; i++) m += x.data[(n * S + i) * 5 + c];
          m /= S;
          let v = 0;
          for (let i = 0; i < S; i++) v += (x.data[(n * S + i) * 5 + c] - m) ** 2;
          v /= S;
          for (let i = 0; i < S; i++) {
            const e = ((x.data[(n * S + i) * 5 + c] - m) / Math.sqrt(v + 1e-5)) * g.data[c] + b.data[c];
            assert.ok(Math.abs(out[(n * S + i) * 5 + c] - e) < 1e-4, `instance norm n ${n} c ${c}`);
          }
        }
      xt.dispose();
    });

    it('fused bias + instance norm + LeakyReLU: forward and all gradients equal tfjs autodiff of the plain composition', async () => {
      const r = rng(9);
      const x = t(randArr([2, 3, 4, 5, 3], r));
      const params = [0, 1, 2].map(() => t(randArr([3], r)) as tf.Tensor1D);
      const dz = t(randArr([2, 3, 4, 5, 3], r));
      const plain = (a: tf.Tensor, bias: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.leakyRelu(instanceNorm(tf.add(a, bias), g as tf.Tensor1D, b as tf.Tensor1D, 1e-5), 0.01);
      const fused = (a: tf.Tensor, bias: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        biasInstanceNormLeakyRelu(a, bias as tf.Tensor1D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, 0.01);
      const inputs = [x, ...params];
      const yp = (await plain(x, params[0], params[1], params[2]).data());
      const yf = (await fused(x, params[0], params[1], params[2]).data());
      assert.ok(relErr(yf, yp) < 1e-5, 'forward');
      const gp = tf.grads((a, b, c, d) => tf.sum(tf.mul(plain(a, b, c, d), dz)))(inputs);
      const gf = tf.grads((a, b, c, d) => tf.sum(tf.mul(fused(a, b, c, d), dz)))(inputs);
      for (let i = 0; i < 4; i++) {
        assert.ok(relErr((await gf[i].data()), (await gp[i].data())) < 1e-4, `gradient ${i}: ${relErr((await gf[i].data()), (await gp[i].data()))}`);
      }
      // the bias cancels in the norm: its gradient is (numerically) zero, as in PyTorch
      assert.ok(Math.max(...Array.from((await gf[1].data()), Math.abs)) < 1e-4);
      tf.dispose([...inputs, dz, ...gp, ...gf]);
    });

    it('sliceND / padND / concatND (rank-5 fast paths) equal tf.slice / tf.pad / tf.concat, with gradients', async () => {
      const r = rng(13);
      const x = t(randArr([2, 5, 3, 4, 3], r));
      const y = t(randArr([2, 5, 3, 4, 2], r));
      const cmp = async (a: tf.Tensor, b: tf.Tensor) => assert.ok(relErr((await a.data()), (await b.data())) === 0 && a.shape.join() === b.shape.join());
      await cmp(sliceND(x, [0, 1, 0, 1, 0], [2, 3, 3, 2, 3]), tf.slice(x, [0, 1, 0, 1, 0], [2, 3, 3, 2, 3]));
      await cmp(sliceND(x, [1, 2, 0, 0, 0], [1, 3, 3, 4, 3]), tf.slice(x, [1, 2, 0, 0, 0], [1, 3, 3, 4, 3]));
      await cmp(padND(x, [[0, 0], [1, 2], [0, 0], [0, 1], [0, 0]]), tf.pad(x, [[0, 0], [1, 2], [0, 0], [0, 1], [0, 0]]));
      await cmp(concatND([x, y], 4), tf.concat([x, y], 4));
      const [g1, g2] = tf.grads((a, b) => tf.sum(tf.mul(concatND([sliceND(a, [0, 1, 0, 0, 0], [2, 4, 3, 4, 3]), padND(b, [[0, 0], [0, 0], [0, 0], [0, 0], [0, 1]])], 1), 2)))([x, y]);
      const [h1, h2] = tf.grads((a, b) => tf.sum(tf.mul(tf.concat([tf.slice(a, [0, 1, 0, 0, 0], [2, 4, 3, 4, 3]), tf.pad(b, [[0, 0], [0, 0], [0, 0], [0, 0], [0, 1]])], 1), 2)))([x, y]);
      await cmp(g1, h1);
      await cmp(g2, h2);
    });

    it('ops do not leak tensors', async () => {
      const x = tf.randomNormal([1, 4, 6, 6, 2]) as tf.Tensor5D;
      const w = tf.randomNormal([3, 3, 3, 2, 3]) as tf.Tensor5D;
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(conv3d(a as tf.Tensor5D, b as tf.Tensor5D, [2, 2, 2])),
        )([x, w]);
        tf.dispose(g);
      }
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([x, w]);
    });

    it('reports bad input with shapes', async () => {
      const x = tf.zeros([1, 4, 4, 4, 2]) as tf.Tensor5D;
      const w = tf.zeros([3, 3, 3, 3, 2]) as tf.Tensor5D;
      assert.throws(() => conv3d(x, w), /conv3d: x \[1,4,4,4,2\] and filter \[3,3,3,3,2\] do not match/);
      tf.dispose([x, w]);
    });
  });
}
