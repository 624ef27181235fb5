/**
 * Our SIMD filter-gradient kernel (sdk/network/wasm_conv.ts) against the direct float64 reference, on random shapes
 * with channel counts it takes (Ci multiple of 4, Co of 8): strides 1 and 2 per axis, kernels 3x3x3, 1x3x3, 3x1x1,
 * 1x1x1 and 5x5x5, odd sizes, several blocks per plane and several planes per block; with the FMA build and the
 * mul + add build; through conv3d / conv2d's gradient, where it must agree with the conv2d formulation it replaces.
 */
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { conv2d, conv3d } from '../../sdk/network/ops';
import { canUseWasmFilterGrad, convFilterGrad, setWasmConv, setWasmFma, wasmConvFor } from '../../sdk/network/wasm_conv';
import { isWasmMemory } from '../../sdk/network/wasm_copy';
import { Arr, conv3dRef, randArr, relErr, rng } from './reference';

const TOL = 2e-5; // float32 accumulation vs float64 reference, relative to the largest magnitude

interface Case {
  x: number[];
  k: [number, number, number];
  s: [number, number, number];
  co: number;
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
];

function t(a: Arr): tf.Tensor {
  return tf.tensor(Float32Array.from(a.data), a.shape);
}

function inputs(c: Case, r: () => number) {
  const pads = c.k.map((k) => (k - 1) >> 1) as [number, number, number];
  const x = randArr(c.x, r);
  const w = randArr([...c.k, c.x[4], c.co], r);
  const dy = randArr(conv3dRef(x, w, c.s, pads).y.shape, r);
  const ref = conv3dRef(x, w, c.s, pads, dy);
  return { pads, x, w, dy, ref };
}

/** dw of op through tf.grads of sum(op(x, w) * dy) */
function dwOf(op: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor, x: Arr, w: Arr, dy: Arr): Float32Array {
  return tf.tidy(() => {
    const dyt = t(dy);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a, b), dyt)));
    return g([t(x), t(w)])[1].dataSync() as Float32Array;
  });
}

describe('wasm SIMD filter-gradient kernel', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });
  after(() => {
    setWasmConv(true);
    setWasmFma(true);
  });

  it('builds on the real heap (FMA where V8 takes relaxed SIMD), and conv3d uses it for these channel counts', () => {
    const memory = (tf.backend() as unknown as { wasm: { asm: { memory: unknown } } }).wasm.asm.memory;
    assert.ok(isWasmMemory(memory));
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
        for (const c of CASES) {
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

  it('through conv3d and conv2d gradients: the same dw as the conv2d formulation, within float32 rounding', () => {
    const r = rng(9);
    for (const c of CASES) {
      const { x, w, dy, ref } = inputs(c, r);
      const op = (a: tf.Tensor, b: tf.Tensor) => conv3d(a as tf.Tensor5D, b as tf.Tensor5D, c.s);
      const fast = dwOf(op, x, w, dy);
      setWasmConv(false);
      const slow = dwOf(op, x, w, dy);
      setWasmConv(true);
      const label = `x ${c.x} k ${c.k} s ${c.s}`;
      assert.ok(relErr(fast, ref.dw!.data) < TOL, `fast ${label}`);
      assert.ok(relErr(slow, ref.dw!.data) < TOL, `conv2d formulation ${label}`);
      assert.ok(relErr(fast, slow) < TOL, `fast vs conv2d formulation ${label}`);
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
      const got = dwOf((a, b) => conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s as [number, number]), x4, w4, dy4);
      assert.ok(relErr(got, ref.dw!.data) < TOL, `conv2d x ${c.x} k ${c.k} s ${c.s}: ${relErr(got, ref.dw!.data)}`);
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
