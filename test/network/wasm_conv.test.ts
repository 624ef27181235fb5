/**
 * Our SIMD forward and filter-gradient kernels (sdk/network/wasm_conv.ts) against the direct float64 reference, on random shapes
 * with channel counts it takes (Ci multiple of 4, Co of 8): strides 1 and 2 per axis, kernels 3x3x3, 1x3x3, 3x1x1,
 * 1x1x1 and 5x5x5, odd sizes, several blocks per plane and several planes per block; with the FMA build and the
 * mul + add build; through conv3d / conv2d's gradient, where it must agree with the conv2d formulation it replaces.
 */
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { conv2d, conv3d } from '../../sdk/network/ops';
import {
  canUseWasmConvForward, canUseWasmFilterGrad, convFilterGrad, convForward, setWasmConv, setWasmFma, wasmConvFor,
} from '../../sdk/network/wasm_conv';
import { heapOf } from '../../sdk/network/wasm_copy';
import { Arr, Conv3dCase, conv3dCaseInputs, conv3dRef, randArr, relErr, rng } from './reference';

const TOL = 2e-5; // float32 accumulation vs float64 reference, relative to the largest magnitude

interface Case extends Conv3dCase {
  k: [number, number, number];
  s: [number, number, number];
}
const CASES: Case[] = [
  { x: [2, 5, 6, 7, 4], k: [3, 3, 3], s: [1, 1, 1], co: 8 },
  { x: [1, 6, 8, 8, 8], k: [3, 3, 3], s: [2, 2, 2], co: 16 },
  { x: [2, 7, 5, 9, 4], k: [3, 3, 3], s: [2, 2, 2], co: 8 }, // odd sizes with stride 2
  { x: [1, 4, 8, 8, 12], k: [1, 3, 3], s: [1, 2, 2], co: 8 },
  { x: [1, 6, 5, 5, 4], k: [3, 1, 1], s: [2, 1, 1], co: 24 },
  { x: [2, 3, 41, 9, 4], k: [3, 3, 3], s: [1, 1, 1], co: 8 }, // 41 x 9 = 369 voxels per plane: two row blocks
  { x: [1, 9, 3, 5, 4], k: [3, 3, 3], s: [1, 2, 1], co: 8 }, // small planes: many planes per block
  { x: [1, 4, 4, 6, 4], k: [1, 1, 1], s: [2, 2, 2], co: 8 },
  { x: [1, 7, 7, 7, 4], k: [5, 5, 5], s: [1, 1, 1], co: 8 },
  { x: [2, 6, 7, 11, 1], k: [3, 3, 3], s: [1, 1, 1], co: 16 }, // one input channel (the network's first conv)
  { x: [1, 5, 6, 9, 3], k: [3, 3, 3], s: [1, 2, 2], co: 8 }, // 3 input channels
  // shapes conv3d sends through the forward kernel too (rows a multiple of 4 or >= 16), dx included where Ci % 8 = 0
  { x: [2, 4, 5, 8, 8], k: [3, 3, 3], s: [1, 1, 1], co: 16 },
  { x: [1, 3, 4, 17, 8], k: [3, 3, 3], s: [1, 1, 1], co: 8 }, // 17: the last tile of a row overlaps the one before
  { x: [2, 3, 6, 12, 8], k: [1, 3, 3], s: [1, 1, 1], co: 8 },
  { x: [1, 4, 6, 16, 16], k: [3, 3, 3], s: [2, 2, 2], co: 8 }, // strided, 8 output columns
];

function t(a: Arr): tf.Tensor {
  return tf.tensor(Float32Array.from(a.data), a.shape);
}

function inputs(c: Case, r: () => number) {
  const { pads, x, w, dy } = conv3dCaseInputs(c, r);
  return { pads: pads as [number, number, number], x, w, dy, ref: conv3dRef(x, w, c.s, pads, dy) };
}

/** y, dx and dw of op (the gradients through tf.grads of sum(op(x, w) * dy)) */
function allOf(op: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor, x: Arr, w: Arr, dy: Arr) {
  return tf.tidy(() => {
    const [xt, wt, dyt] = [t(x), t(w), t(dy)];
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a, b), dyt)));
    const [dx, dw] = g([xt, wt]);
    return { y: op(xt, wt).dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

/** the forward kernel takes rows of >= 4 output voxels */
const outCols = (c: Case) => Math.floor((c.x[3] + 2 * ((c.k[2] - 1) >> 1) - c.k[2]) / c.s[2]) + 1;

describe('wasm SIMD conv kernels', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });
  after(() => {
    setWasmConv(true);
  });

  it('builds on the real heap, and conv3d uses it for these channel counts', () => {
    const memory = heapOf(tf.backend());
    assert.ok(memory, 'no WebAssembly.Memory on the wasm backend');
    const built = wasmConvFor(memory);
    assert.ok(built, 'the module must compile and link, or every 3d step silently loses its fast filter gradient');
    assert.equal(canUseWasmFilterGrad(32, 32), true);
    assert.equal(canUseWasmFilterGrad(1, 32), false, 'Ci not a multiple of 4');
    assert.equal(canUseWasmFilterGrad(32, 12), false, 'Co not a multiple of 8');
  });

  for (const fma of [true, false]) {
    it(`convFilterGrad equals the float64 reference (${fma ? 'FMA' : 'mul + add'} build)`, () => {
      const prev = setWasmFma(fma);
      try {
        const r = rng(fma ? 3 : 4);
        for (const c of CASES.filter((e) => e.x[4] % 4 === 0)) {
          const { pads, x, dy, ref } = inputs(c, r);
          const got = tf.tidy(() => convFilterGrad(t(x) as tf.Tensor5D, t(dy) as tf.Tensor5D, { kernel: c.k, strides: c.s, pads }));
          assert.deepEqual(got.shape, [...c.k, c.x[4], c.co]);
          const err = relErr(got.dataSync(), ref.dw!.data);
          got.dispose();
          assert.ok(err < TOL, `dw x ${c.x} k ${c.k} s ${c.s}: ${err}`);
        }
      } finally {
        setWasmFma(prev);
      }
    });
  }

  for (const fma of [true, false]) {
    it(`convForward equals the float64 reference (${fma ? 'FMA' : 'mul + add'} build)`, () => {
      const prev = setWasmFma(fma);
      try {
        const r = rng(fma ? 13 : 14);
        let ran = 0;
        for (const c of CASES.filter((e) => outCols(e) >= 4)) {
          const { pads, x, w, ref } = inputs(c, r);
          const got = tf.tidy(() => convForward(t(x) as tf.Tensor5D, t(w) as tf.Tensor5D, { strides: c.s, pads }));
          assert.deepEqual(got.shape, ref.y.shape);
          const err = relErr(got.dataSync(), ref.y.data);
          got.dispose();
          assert.ok(err < TOL, `y x ${c.x} k ${c.k} s ${c.s}: ${err}`);
          ran++;
        }
        assert.ok(ran >= 10);
      } finally {
        setWasmFma(prev);
      }
    });
  }

  it('the default (mul + add) forward is bit-identical to XNNPACK conv2d: same products, same summation order', () => {
    const r = rng(21);
    for (const [n, h, w, ci, co, s] of [[2, 12, 16, 8, 16, 1], [1, 9, 20, 3, 8, 1], [2, 10, 17, 16, 8, 2]]) {
      const x = t(randArr([n, h, w, ci], r)) as tf.Tensor4D;
      const k = t(randArr([3, 3, ci, co], r)) as tf.Tensor4D;
      const ours = convForward(tf.reshape(x, [n, 1, h, w, ci]) as tf.Tensor5D, tf.reshape(k, [1, 3, 3, ci, co]) as tf.Tensor5D, { strides: [1, s, s], pads: [0, 1, 1] });
      const xnn = tf.conv2d(x, k, s, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      assert.deepEqual(Array.from(ours.dataSync()), Array.from(xnn.dataSync()), `[${n},${h},${w},${ci}]->${co} stride ${s}`);
      tf.dispose([x, k, ours, xnn]);
    }
  });

  it('convForward refuses shapes its tiles cannot cover (rows under 4 voxels, Co not a multiple of 8)', () => {
    const x = tf.zeros([1, 3, 3, 3, 4]) as tf.Tensor5D;
    assert.throws(() => convForward(x, tf.zeros([3, 3, 3, 4, 8]) as tf.Tensor5D, { strides: [1, 1, 1], pads: [1, 1, 1] }), /rows of >= 4 voxels/);
    const x2 = tf.zeros([1, 3, 4, 8, 4]) as tf.Tensor5D;
    assert.throws(() => convForward(x2, tf.zeros([3, 3, 3, 4, 12]) as tf.Tensor5D, { strides: [1, 1, 1], pads: [1, 1, 1] }), /multiple of 8/);
    assert.equal(canUseWasmConvForward(32, 32, 40, 27), true);
    assert.equal(canUseWasmConvForward(256, 256, 5, 27), false, 'deep layers stay with XNNPACK');
    assert.equal(canUseWasmConvForward(32, 32, 3, 27), false);
    assert.equal(canUseWasmConvForward(32, 12, 40, 27), false);
    tf.dispose([x, x2]);
  });

  it('through conv3d and conv2d: the same forward, dx and dw as the XNNPACK formulation, within float32 rounding', () => {
    const r = rng(9);
    const taps = (c: Case) => c.k[0] * c.k[1] * c.k[2];
    assert.ok(CASES.filter((c) => canUseWasmConvForward(c.x[4], c.co, outCols(c), taps(c))).length >= 5, 'forward kernel cases');
    for (const c of CASES) {
      const { x, w, dy, ref } = inputs(c, r);
      const op = (a: tf.Tensor, b: tf.Tensor) => conv3d(a as tf.Tensor5D, b as tf.Tensor5D, c.s);
      const fast = allOf(op, x, w, dy);
      setWasmConv(false);
      const slow = allOf(op, x, w, dy);
      setWasmConv(true);
      const label = `x ${c.x} k ${c.k} s ${c.s}`;
      const refs = { y: ref.y.data, dx: ref.dx!.data, dw: ref.dw!.data };
      for (const k of ['y', 'dx', 'dw'] as const) {
        assert.ok(relErr(fast[k], refs[k]) < TOL, `fast ${k} ${label}: ${relErr(fast[k], refs[k])}`);
        assert.ok(relErr(slow[k], refs[k]) < TOL, `XNNPACK ${k} ${label}`);
      }
    }
    // 2D: the D = 1 case, stride 2 and a 1x3 kernel
    for (const c of [
      { x: [2, 9, 7, 8], k: [3, 3], s: [2, 2], co: 16 },
      { x: [3, 6, 10, 4], k: [1, 3], s: [1, 2], co: 8 },
    ]) {
      const pads = c.k.map((k) => (k - 1) >> 1);
      const x5 = randArr([c.x[0], 1, c.x[1], c.x[2], c.x[3]], r);
      const w5 = randArr([1, ...c.k, c.x[3], c.co], r);
      const dy5 = randArr(conv3dRef(x5, w5, [1, ...c.s], [0, ...pads]).y.shape, r);
      const ref = conv3dRef(x5, w5, [1, ...c.s], [0, ...pads], dy5);
      const x4: Arr = { data: x5.data, shape: c.x };
      const w4: Arr = { data: w5.data, shape: [...c.k, c.x[3], c.co] };
      const dy4: Arr = { data: dy5.data, shape: [dy5.shape[0], dy5.shape[2], dy5.shape[3], dy5.shape[4]] };
      const got = allOf((a, b) => conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s as [number, number]), x4, w4, dy4);
      const refs = { y: ref.y.data, dx: ref.dx!.data, dw: ref.dw!.data };
      for (const k of ['y', 'dx', 'dw'] as const) {
        assert.ok(relErr(got[k], refs[k]) < TOL, `conv2d ${k} x ${c.x} k ${c.k} s ${c.s}: ${relErr(got[k], refs[k])}`);
      }
    }
  });

  it('leaves no tensors and no heap blocks behind', () => {
    const r = rng(5);
    const c = CASES[1];
    const { pads, x, dy } = inputs(c, r);
    const xt = t(x) as tf.Tensor5D;
    const dyt = t(dy) as tf.Tensor5D;
    convFilterGrad(xt, dyt, { kernel: c.k, strides: c.s, pads }).dispose();
    const before = tf.memory();
    for (let i = 0; i < 3; i++) convFilterGrad(xt, dyt, { kernel: c.k, strides: c.s, pads }).dispose();
    assert.equal(tf.memory().numTensors, before.numTensors);
    assert.equal(tf.memory().numBytes, before.numBytes);
    assert.equal((tf.memory() as { numDataBuffers?: number }).numDataBuffers, (before as { numDataBuffers?: number }).numDataBuffers);
    tf.dispose([xt, dyt]);
  });
});
