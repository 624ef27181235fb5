/**
 * Our wasm Slice and Concat kernels (sdk/network/wasm_kernels.ts) against the stock tfjs-wasm kernels they replace:
 * bit-identical results on random shapes, ranks 1-6, boxes, axes, dtypes, empty inputs, and runs on both sides of the
 * element-loop / memcpy threshold.
 */
import { describe, it, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../../sdk/network/backend';
import { rng } from './reference';

// the stock kernels, taken before initBackend registers ours
const stockSlice = tf.getKernel('Slice', 'wasm')!.kernelFunc;
const stockConcat = tf.getKernel('Concat', 'wasm')!.kernelFunc;

function runStock(f: tf.KernelFunc, inputs: tf.NamedTensorInfoMap, attrs: object): tf.Tensor {
  const info = f({ inputs, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
  return tf.engine().makeTensorFromTensorInfo(info);
}

function randTensor(shape: number[], dtype: 'float32' | 'int32' | 'bool', r: () => number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, () => (dtype === 'float32' ? r() * 2 - 1 : dtype === 'int32' ? Math.floor(r() * 1000) - 500 : r() < 0.5 ? 1 : 0));
  return tf.tensor(v, shape, dtype);
}

function same(a: tf.Tensor, b: tf.Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  assert.equal(a.dtype, b.dtype, `${what}: dtype`);
  assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()), `${what}: values`);
}

describe('fast wasm Slice and Concat kernels', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });

  it('replaced the stock kernels', () => {
    assert.notEqual(tf.getKernel('Slice', 'wasm')!.kernelFunc, stockSlice);
    assert.notEqual(tf.getKernel('Concat', 'wasm')!.kernelFunc, stockConcat);
  });

  it('Slice equals stock on 300 random boxes (ranks 1-6, float32/int32/bool)', () => {
    const r = rng(11);
    const dtypes = ['float32', 'int32', 'bool'] as const;
    for (let c = 0; c < 300; c++) {
      const rank = 1 + Math.floor(r() * 6);
      // one axis long enough for runs above the element-loop threshold now and then
      const shape = Array.from({ length: rank }, (_, i) => 1 + Math.floor(r() * (i === rank - 1 && r() < 0.3 ? 40 : 5)));
      const begin = shape.map((s) => Math.floor(r() * s));
      const size = shape.map((s, i) => (r() < 0.2 ? -1 : Math.floor(r() * (s - begin[i] + 1))));
      const dtype = dtypes[c % 3];
      const x = randTensor(shape, dtype, r);
      const ours = tf.slice(x, begin, size);
      const stock = runStock(stockSlice, { x }, { begin, size });
      same(ours, stock, `slice [${shape}] begin [${begin}] size [${size}] ${dtype}`);
      tf.dispose([x, ours, stock]);
    }
  });

  it('Slice of a depth range of a 3d feature map (the conv3d tap slices) equals stock', () => {
    const x = randTensor([2, 6, 7, 5, 32], 'float32', rng(3));
    for (const [b, s] of [
      [[0, 1, 0, 0, 0], [2, 4, 7, 5, 32]],
      [[1, 0, 2, 1, 0], [1, 6, 3, 4, 32]],
      [[0, 0, 0, 0, 5], [2, 6, 7, 5, 9]],
    ]) {
      const ours = tf.slice(x, b, s);
      const stock = runStock(stockSlice, { x }, { begin: b, size: s });
      same(ours, stock, `slice begin [${b}] size [${s}]`);
      tf.dispose([ours, stock]);
    }
    x.dispose();
  });

  it('Concat equals stock on 200 random cases (2-4 inputs, any axis, empty inputs, float32/int32/bool)', () => {
    const r = rng(5);
    const dtypes = ['float32', 'int32', 'bool'] as const;
    for (let c = 0; c < 200; c++) {
      const rank = 1 + Math.floor(r() * 5);
      const axis = Math.floor(r() * rank);
      const base = Array.from({ length: rank }, (_, i) => 1 + Math.floor(r() * (i === rank - 1 && r() < 0.3 ? 30 : 4)));
      const k = 2 + Math.floor(r() * 3);
      const dtype = dtypes[c % 3];
      const xs = Array.from({ length: k }, () => {
        const s = [...base];
        s[axis] = Math.floor(r() * 5); // 0 now and then: empty inputs are skipped, as stock does
        return randTensor(s, dtype, r);
      });
      if (xs.every((t) => t.size === 0)) xs[0] = randTensor(base, dtype, r);
      const ours = tf.concat(xs, axis);
      // the concat op passes its inputs to the kernel as an array
      const stock = runStock(stockConcat, xs as unknown as tf.NamedTensorInfoMap, { axis });
      same(ours, stock, `concat axis ${axis} of [${xs.map((t) => `[${t.shape}]`).join(', ')}] ${dtype}`);
      tf.dispose([...xs, ours, stock]);
    }
  });
});
