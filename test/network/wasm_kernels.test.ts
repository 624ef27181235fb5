/**
 * Our wasm Slice, Concat and Transpose kernels (sdk/network/wasm_kernels.ts) and their wasm copy routines
 * (sdk/network/wasm_copy.ts) against the stock tfjs-wasm kernels they replace:
 * bit-identical results on random shapes, ranks 1-6, boxes, axes, dtypes, empty inputs, and runs on both sides of the
 * element-loop / memcpy threshold.
 */
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../../sdk/network/backend';
import { collapseTranspose, setWasmCopy } from '../../sdk/network/wasm_kernels';
import { heapOf, wasmCopyFor } from '../../sdk/network/wasm_copy';
import { rng } from './reference';

// the stock kernels, taken before initBackend registers ours
const stockSlice = tf.getKernel('Slice', 'wasm')!.kernelFunc;
const stockConcat = tf.getKernel('Concat', 'wasm')!.kernelFunc;
const stockTranspose = tf.getKernel('Transpose', 'wasm')!.kernelFunc;

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

describe('fast wasm Slice, Concat and Transpose kernels', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });
  after(() => {
    setWasmCopy(true);
  });

  it('replaced the stock kernels', () => {
    assert.notEqual(tf.getKernel('Slice', 'wasm')!.kernelFunc, stockSlice);
    assert.notEqual(tf.getKernel('Concat', 'wasm')!.kernelFunc, stockConcat);
    assert.notEqual(tf.getKernel('Transpose', 'wasm')!.kernelFunc, stockTranspose);
  });

  it('the wasm copy routines instantiate on the tfjs-wasm heap (else the kernels would silently copy in JS)', () => {
    const memory = heapOf(tf.backend());
    assert.ok(memory, 'no WebAssembly.Memory on the wasm backend');
    assert.ok(wasmCopyFor(memory), 'wasmCopyFor returned null');
  });

  it('collapseTranspose drops size-1 axes and merges axes that stay adjacent', () => {
    assert.deepEqual(collapseTranspose([2, 40, 2240, 32], [2, 0, 1, 3]), { shape: [80, 2240, 32], perm: [1, 0, 2] });
    assert.deepEqual(collapseTranspose([2, 1, 5, 3], [3, 1, 0, 2]), { shape: [10, 3], perm: [1, 0] });
    assert.deepEqual(collapseTranspose([2, 3, 5, 7], [1, 3, 0, 2]), { shape: [2, 3, 5, 7], perm: [1, 3, 0, 2] });
    assert.deepEqual(collapseTranspose([4, 5, 6], [0, 1, 2]), { shape: [120], perm: [0] });
    assert.deepEqual(collapseTranspose([4, 5, 6, 7], [2, 3, 0, 1]), { shape: [20, 42], perm: [1, 0] });
  });

  it('Transpose equals stock on 300 random permutations (ranks 2-6, float32/int32/bool, row and element moves)', () => {
    const r = rng(21);
    const dtypes = ['float32', 'int32', 'bool'] as const;
    let rowMoves = 0;
    for (let c = 0; c < 300; c++) {
      const rank = 2 + Math.floor(r() * 5);
      const shape = Array.from({ length: rank }, (_, i) => 1 + Math.floor(r() * (i === rank - 1 && r() < 0.5 ? 40 : 4)));
      const perm = Array.from({ length: rank }, (_, i) => i);
      for (let i = rank - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      if (r() < 0.5) perm.push(perm.splice(perm.indexOf(rank - 1), 1)[0]); // keep the last axis last: a row move
      if (perm[rank - 1] === rank - 1) rowMoves++;
      const dtype = dtypes[c % 3];
      const x = randTensor(shape, dtype, r);
      const ours = tf.transpose(x, perm);
      const stock = runStock(stockTranspose, { x }, { perm });
      same(ours, stock, `transpose [${shape}] perm [${perm}] ${dtype}`);
      tf.dispose([x, ours, stock]);
    }
    assert.ok(rowMoves > 100, `only ${rowMoves} row-move cases`);
  });

  it('Transpose equals stock where the innermost axis swaps with another (the 4x4 SIMD path and its fallbacks)', () => {
    const r = rng(31);
    for (const [shape, perm] of [
      [[8, 12], [1, 0]],
      [[8, 3, 12], [2, 1, 0]],
      [[2, 8, 12], [0, 2, 1]],
      [[2, 8, 3, 12], [0, 3, 2, 1]],
      [[2, 40, 70, 32], [3, 2, 0, 1]], // the filter gradient's x layout: collapses to [80, 70, 32], perm [2, 1, 0]
      [[4, 9, 7, 16], [3, 1, 2, 0]], // the strided filter gradient's: [4, 63, 16], perm [2, 1, 0]
      [[6, 3, 10], [2, 1, 0]], // not multiples of 4: stock
      [[5, 8, 2, 7], [0, 3, 2, 1]],
    ] as Array<[number[], number[]]>) {
      for (const dtype of ['float32', 'int32', 'bool'] as const) {
        const x = randTensor(shape, dtype, r);
        const ours = tf.transpose(x, perm);
        const stock = runStock(stockTranspose, { x }, { perm });
        same(ours, stock, `transpose [${shape}] perm [${perm}] ${dtype}`);
        tf.dispose([x, ours, stock]);
      }
    }
  });

  for (const wasmCopy of [true, false]) {
    const how = wasmCopy ? 'copies in wasm' : 'copies in JS';
    it(`Slice equals stock on 300 random boxes (ranks 1-6, float32/int32/bool), ${how}`, () => {
      setWasmCopy(wasmCopy);
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

    it(`Slice of a depth range of a 3d feature map (the conv3d tap slices) equals stock, ${how}`, () => {
      setWasmCopy(wasmCopy);
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

    it(`long runs (memory.copy and v128 paths) equal stock, ${how}`, () => {
      setWasmCopy(wasmCopy);
      const r = rng(9);
      for (const [shape, begin, size] of [
        [[3, 2000], [1, 7], [2, 1500]], // 6000-byte runs: memory.copy
        [[5, 1030], [0, 3], [5, 1024]], // 4096 bytes: memory.copy
        [[7, 300], [2, 4], [4, 256]], // 1024 bytes: v128
        [[7, 301], [2, 4], [4, 255]], // 1020 bytes: memory.copy
        [[9000], [17], [8001]], // rank 1
      ] as Array<[number[], number[], number[]]>) {
        for (const dtype of ['float32', 'int32', 'bool'] as const) {
          const x = randTensor(shape, dtype, r);
          const ours = tf.slice(x, begin, size);
          const stock = runStock(stockSlice, { x }, { begin, size });
          same(ours, stock, `slice [${shape}] begin [${begin}] size [${size}] ${dtype}`);
          const cat = tf.concat([ours, x.slice(begin, size)], 1 % shape.length);
          const catStock = runStock(stockConcat, [ours, stock] as unknown as tf.NamedTensorInfoMap, { axis: 1 % shape.length });
          same(cat, catStock, `concat of [${size}] ${dtype}`);
          tf.dispose([x, ours, stock, cat, catStock]);
        }
      }
    });

    it(`Concat equals stock on 200 random cases (2-4 inputs, any axis, empty inputs, float32/int32/bool), ${how}`, () => {
      setWasmCopy(wasmCopy);
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
  }
});
