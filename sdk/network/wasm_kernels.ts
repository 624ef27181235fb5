/**
 * Faster replacements for three tfjs-wasm 4.22 kernels that the U-Net ops lean on (depth-tap stacking, phase
 * interleaving, gradient crops, the layout changes of the filter gradients): `Slice`, `Concat` and `Transpose`.
 *
 * - Stock `Slice` reads its input with `backend.readSync`, which COPIES THE WHOLE INPUT out of the heap
 *   (`HEAPU8.slice`) into a fresh JS buffer before copying the slice out of that copy. Slicing 40 of 42 depth rows
 *   of a [2, 42, 56*40*32] tensor took 20 ms where the copy itself needs ~2 ms (measured, `npm run bench -- network
 *   --profile`); over a 3d_fullres training step that was 5.7 s of 66 s of kernel time.
 * - Stock `Slice` and `Concat` copy every contiguous run with `out.set(in.subarray(a, b))` in JS, which allocates a
 *   view per run: ~80 ns per run, whatever its length. Ours move the runs inside wasm (wasm_copy.ts: 16-byte SIMD
 *   moves, memory.copy for long runs, an element loop for short ones): stacking three [179200, 32] tensors on
 *   channels takes 29 ms instead of 61 ms with the JS copies, and a [143360, 42] -> 40 column slice 3.9 ms instead of
 *   10.9 ms (kernel time, measured).
 * - Stock `Transpose` (C++) moves element by element. Where the innermost axis stays innermost, a transpose is a
 *   block copy of whole rows, done here the same way: [2, 40, 2240, 32] with perm [2, 0, 1, 3] takes 9.4 ms instead
 *   of 18.3 ms. Where the innermost axis swaps with another (the channels-as-batch layouts of the filter
 *   gradients), 4x4 SIMD blocks move it: perm [3, 2, 0, 1] of the same tensor, 35 -> 13 ms. Other transposes stay
 *   with the stock kernel.
 *
 * The replacements read the heap in place. They are registered for the wasm backend only, keep the stock kernel for
 * dtypes they do not handle (string, complex64), fall back to JS copies where the wasm routines cannot instantiate,
 * and give bit-identical results (test/network/wasm_kernels.test.ts compares them with the stock kernels on random
 * shapes, with and without the wasm routines).
 */
import * as tf from '@tensorflow/tfjs';
import { WasmCopy, heapOf, wasmCopyFor } from './wasm_copy';

/**
 * In the JS copies (no wasm routines, or 1-byte runs), runs at most this long are copied element by element, longer
 * ones with TypedArray.set. Measured on [179200, k] channel concats: the loop is 10x faster for k = 1; for k = 32 both
 * take ~45 ms for 17 M floats. The wasm copies use it too: shorter runs that are not a multiple of 16 bytes go through
 * the 4-byte loop `copy_rows_words`.
 */
const SHORT_RUN = 16;

type Heap = Float32Array | Int32Array | Uint8Array;

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Heap;
}

/** The wasm copy routines on this backend's heap, or null (then the kernels copy in JS). */
function copierFor(backend: WasmBackendLike): WasmCopy | null {
  const memory = heapOf(backend);
  return useWasmCopy && memory ? wasmCopyFor(memory) : null;
}

let useWasmCopy = true;

/** Switch the wasm copy routines off (true: on, the default); returns the previous setting. For tests and benches. */
export function setWasmCopy(on: boolean): boolean {
  const prev = useWasmCopy;
  useWasmCopy = on;
  return prev;
}

/**
 * Copy `rows` runs of `len` elements: run r from src[s + r*sStride] to dst[d + r*dStride]. With `wc` (the wasm copy
 * routines bound to the heap both arrays live in) the rows move in wasm: 16-byte SIMD moves for runs of a multiple
 * of 16 bytes below 4 KB, memory.copy for other long runs, an element loop for short 4-byte runs. Without it, or
 * for short 1-byte runs, JS does it.
 */
function copyRows(src: Heap, s: number, sStride: number, dst: Heap, d: number, dStride: number, rows: number, len: number, wc: WasmCopy | null): void {
  const B = src.BYTES_PER_ELEMENT;
  const bytes = len * B;
  if (wc && rows > 0 && len > 0) {
    const sa = src.byteOffset + s * B;
    const da = dst.byteOffset + d * B;
    if (bytes % 16 === 0 && bytes < 4096) return wc.copy_rows_v128(sa, sStride * B, da, dStride * B, rows, bytes);
    if (len > SHORT_RUN) return wc.copy_rows_memcpy(sa, sStride * B, da, dStride * B, rows, bytes);
    if (B === 4) return wc.copy_rows_words(sa, sStride * B, da, dStride * B, rows, bytes);
  }
  if (len > SHORT_RUN) {
    for (let r = 0; r < rows; r++, s += sStride, d += dStride) dst.set(src.subarray(s, s + len), d);
  } else {
    for (let r = 0; r < rows; r++, s += sStride, d += dStride) for (let i = 0; i < len; i++) dst[d + i] = src[s + i];
  }
}

/**
 * Merge axes so that every axis but the first of each group is taken in full: [2, 42, 56, 40, 32] sliced on axis 1
 * becomes [2, 42, 71680]. The innermost merged axis is then one contiguous run per outer index. (Also used by ops.ts
 * to slice through rank <= 4 views.)
 */
export function collapseSliceAxes(shape: number[], begin: number[], size: number[]) {
  const gShape: number[] = [];
  const gBegin: number[] = [];
  const gSize: number[] = [];
  let innerFull = false;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (gShape.length > 0 && innerFull) {
      const inner = gShape[0];
      gShape[0] = shape[i] * inner;
      gBegin[0] = begin[i] * inner;
      gSize[0] = size[i] * inner;
    } else {
      gShape.unshift(shape[i]);
      gBegin.unshift(begin[i]);
      gSize.unshift(size[i]);
    }
    innerFull = begin[i] === 0 && size[i] === shape[i];
  }
  return { gShape, gBegin, gSize };
}

/** Row-major strides (in elements) of `shape`. */
function rowMajorStrides(shape: number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/**
 * Gather runs of `run` elements into `dst`, packed: for every index (i_0, ..., i_k) over `counts` (odometer order),
 * `rows` runs read from src[base + sum i_a * strides[a] + r * rowStride] (one strided copyRows call). Shared by slices
 * and row-moving transposes, which differ only in the strides they walk.
 */
function gatherRows(src: Heap, base: number, counts: number[], strides: number[], rows: number, rowStride: number, run: number, dst: Heap, wc: WasmCopy | null): void {
  const idx = new Array<number>(counts.length).fill(0);
  const total = counts.reduce((m, c) => m * c, 1);
  for (let o = 0, d = 0; o < total; o++, d += rows * run) {
    let s = base;
    for (let a = 0; a < counts.length; a++) s += idx[a] * strides[a];
    copyRows(src, s, rowStride, dst, d, run, rows, run, wc);
    for (let a = counts.length - 1; a >= 0; a--) {
      if (++idx[a] < counts[a]) break;
      idx[a] = 0;
    }
  }
}

/** Copy the box (begin, size) of a row-major array of `shape` into `dst` (row-major, packed). */
function sliceInto(src: Heap, shape: number[], begin: number[], size: number[], dst: Heap, wc: WasmCopy | null): void {
  const { gShape, gBegin, gSize } = collapseSliceAxes(shape, begin, size);
  const rank = gShape.length;
  if (gSize.some((e) => e === 0)) return;
  if (rank === 1) {
    copyRows(src, gBegin[0], 0, dst, 0, 0, 1, gSize[0], wc);
    return;
  }
  const strides = rowMajorStrides(gShape);
  const base = gBegin.reduce((s, b, a) => s + b * strides[a], 0);
  // the innermost outer axis is one strided copyRows call; the axes above it run in gatherRows' odometer
  gatherRows(src, base, gSize.slice(0, rank - 2), strides.slice(0, rank - 2), gSize[rank - 2], strides[rank - 2], gSize[rank - 1], dst, wc);
}

/**
 * A transpose reduced to its essentials: size-1 axes dropped, and input axes that stay adjacent and in order in the
 * output merged ([2, 40, 2240, 32] with perm [2, 0, 1, 3] becomes [80, 2240, 32] with perm [1, 0, 2]).
 */
export function collapseTranspose(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  const keep = shape.map((d) => d !== 1);
  const renumber = new Map<number, number>();
  shape.forEach((_, i) => keep[i] && renumber.set(i, renumber.size));
  const s1 = shape.filter((_, i) => keep[i]);
  const p1 = perm.filter((a) => keep[a]).map((a) => renumber.get(a)!);
  // groups of output positions whose input axes are consecutive
  const groups: number[][] = [];
  for (const a of p1) {
    const g = groups[groups.length - 1];
    if (g && a === g[g.length - 1] + 1) g.push(a);
    else groups.push([a]);
  }
  const byInput = [...groups].sort((a, b) => a[0] - b[0]);
  const gShape = byInput.map((g) => g.reduce((m, a) => m * s1[a], 1));
  const gPerm = groups.map((g) => byInput.indexOf(g));
  return { shape: gShape, perm: gPerm };
}

/**
 * A transpose that keeps the innermost axis in place (after collapseTranspose: `perm` ends with its last axis) is a
 * block copy: whole rows of the last axis move to new places. The innermost remaining output axis is one strided
 * copyRows call; an odometer runs the others.
 */
function transposeRowsInto(src: Heap, shape: number[], perm: number[], dst: Heap, wc: WasmCopy | null): void {
  const r = shape.length;
  const inStride = rowMajorStrides(shape);
  const outer = perm.slice(0, r - 2);
  gatherRows(src, 0, outer.map((a) => shape[a]), outer.map((a) => inStride[a]), shape[perm[r - 2]], inStride[perm[r - 2]], shape[r - 1], dst, wc);
}

/**
 * A collapsed transpose that swaps the innermost axis C with an axis A, keeping a middle axis H and a batch axis B in
 * place (out[b][c][h][a] = in[b][a][h][c]), as [B, A, H, C], or null. With A and C multiples of 4 the wasm
 * `transpose_ahc` moves it in 4x4 SIMD blocks: the filter gradients' [2, 40, 2240, 32] -> [32, 2240, 2, 40] took
 * 35 ms in the stock kernel and takes 13 ms (measured).
 */
function asBAHC(shape: number[], perm: number[]): [number, number, number, number] | null {
  const key = perm.join(',');
  const dims: [number, number, number, number] | null =
    key === '1,0' ? [1, shape[0], 1, shape[1]]
    : key === '2,1,0' ? [1, shape[0], shape[1], shape[2]]
    : key === '0,2,1' ? [shape[0], shape[1], 1, shape[2]]
    : key === '0,3,2,1' ? [shape[0], shape[1], shape[2], shape[3]]
    : null;
  return dims && dims[1] % 4 === 0 && dims[3] % 4 === 0 ? dims : null;
}

const HANDLED: ReadonlySet<string> = new Set(['float32', 'int32', 'bool']);

let registered = false;

/** Replace tfjs-wasm's Slice, Concat and Transpose kernels (idempotent). Call before or after `setBackend('wasm')`. */
export function registerFastWasmKernels(): void {
  if (registered) return;
  const stockSlice = tf.getKernel('Slice', 'wasm');
  const stockConcat = tf.getKernel('Concat', 'wasm');
  const stockTranspose = tf.getKernel('Transpose', 'wasm');
  if (!stockSlice || !stockConcat || !stockTranspose) return; // tfjs-backend-wasm not loaded: nothing to replace

  const slice: tf.KernelFunc = (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (!HANDLED.has(x.dtype)) return stockSlice.kernelFunc(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const attrs = args.attrs as unknown as { begin: number | number[]; size?: number | number[] };
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size);
    const out = backend.makeOutput(size, x.dtype);
    // views after makeOutput: an allocation can grow (and so detach) the wasm memory
    sliceInto(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out), copierFor(backend));
    return out;
  };

  const concat: tf.KernelFunc = (args) => {
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    if (!inputs.every((t) => HANDLED.has(t.dtype))) return stockConcat.kernelFunc(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const axis = tf.util.parseAxisParam((args.attrs as unknown as { axis: number | number[] }).axis, inputs[0].shape)[0];
    tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
    const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
    const live = inputs.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    if (live.length === 1) return stockConcat.kernelFunc(args); // identity, as stock
    const out = backend.makeOutput(outShape, inputs[0].dtype);
    if (tf.util.sizeFromShape(outShape) === 0) return out;
    const outer = tf.util.sizeFromShape(live[0].shape.slice(0, axis));
    const inner = live.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
    const total = inner.reduce((a, b) => a + b, 0);
    const dst = backend.typedArrayFromHeap(out);
    const srcs = live.map((t) => backend.typedArrayFromHeap(t));
    const wc = copierFor(backend);
    if (!wc && inner.every((len) => len > SHORT_RUN)) {
      // row by row, as stock: the destination is written sequentially
      for (let b = 0, d = 0; b < outer; b++) {
        for (let i = 0; i < srcs.length; i++) {
          dst.set(srcs[i].subarray(b * inner[i], (b + 1) * inner[i]), d);
          d += inner[i];
        }
      }
    } else {
      for (let i = 0, d = 0; i < srcs.length; d += inner[i], i++) copyRows(srcs[i], 0, inner[i], dst, d, total, outer, inner[i], wc);
    }
    return out;
  };

  const transpose: tf.KernelFunc = (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const backend = args.backend as unknown as WasmBackendLike;
    const wc = copierFor(backend);
    const perm = (args.attrs as unknown as { perm: number[] }).perm;
    if (!wc || !HANDLED.has(x.dtype) || perm.every((a, i) => a === i)) return stockTranspose.kernelFunc(args);
    const c = collapseTranspose(x.shape, perm);
    const r = c.shape.length;
    const rows = r >= 2 && c.perm[r - 1] === r - 1 && c.shape[r - 1] * (x.dtype === 'bool' ? 1 : 4) >= 16;
    const bahc = rows || x.dtype === 'bool' ? null : asBAHC(c.shape, c.perm);
    // other transposes (rows under 16 bytes, other element moves) stay with the stock C++ kernel
    if (!rows && !bahc) return stockTranspose.kernelFunc(args);
    const out = backend.makeOutput(perm.map((a) => x.shape[a]), x.dtype);
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    if (rows) transposeRowsInto(src, c.shape, c.perm, dst, wc);
    else wc.transpose_ahc(src.byteOffset, dst.byteOffset, ...bahc!);
    return out;
  };

  tf.unregisterKernel('Slice', 'wasm');
  tf.registerKernel({ kernelName: 'Slice', backendName: 'wasm', kernelFunc: slice });
  tf.unregisterKernel('Concat', 'wasm');
  tf.registerKernel({ kernelName: 'Concat', backendName: 'wasm', kernelFunc: concat });
  tf.unregisterKernel('Transpose', 'wasm');
  tf.registerKernel({ kernelName: 'Transpose', backendName: 'wasm', kernelFunc: transpose, setupFunc: stockTranspose.setupFunc });
  registered = true;
}
