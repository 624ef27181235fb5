/**
 * Faster replacements for two tfjs-wasm 4.22 kernels that the U-Net ops lean on (depth-tap stacking, phase
 * interleaving, gradient crops): `Slice` and `Concat`. Both stock kernels are plain JS over the wasm heap, and both
 * lose most of their time outside the copy itself:
 *
 * - Stock `Slice` reads its input with `backend.readSync`, which COPIES THE WHOLE INPUT out of the heap
 *   (`HEAPU8.slice`) into a fresh JS buffer before copying the slice out of that copy. Slicing 40 of 42 depth rows
 *   of a [2, 42, 56*40*32] tensor took 20 ms where the copy itself needs ~2 ms (measured, `npm run bench -- network
 *   --profile`); over a 3d_fullres training step that was 5.7 s of 66 s of kernel time.
 * - Both kernels copy every contiguous run with `out.set(in.subarray(a, b))`, which allocates a view per run. For
 *   one-element runs (a [179200, 1] x 3 concat) that took 42 ms where a plain loop takes 3 ms; from ~16 elements on,
 *   set() is as fast as the loop.
 *
 * The replacements read the heap in place and copy short runs with a loop. They are registered for the wasm backend
 * only, keep the stock kernel for dtypes they do not handle (string, complex64), and give bit-identical results
 * (test/network/wasm_kernels.test.ts compares them with the stock kernels on random shapes).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Runs at most this long are copied element by element, longer ones with TypedArray.set (one native memcpy per run).
 * Measured on [179200, k] channel concats: the loop is 10x faster for k = 1; for k = 32 both are memory-bound (~45 ms
 * for 17 M floats) and set() is as fast.
 */
const SHORT_RUN = 16;

type Heap = Float32Array | Int32Array | Uint8Array;

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Heap;
}

/** Copy `rows` runs of `len` elements: run r from src[s + r*sStride] to dst[d + r*dStride]. */
function copyRows(src: Heap, s: number, sStride: number, dst: Heap, d: number, dStride: number, rows: number, len: number): void {
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

/** Copy the box (begin, size) of a row-major array of `shape` into `dst` (row-major, packed). */
function sliceInto(src: Heap, shape: number[], begin: number[], size: number[], dst: Heap): void {
  const { gShape, gBegin, gSize } = collapseSliceAxes(shape, begin, size);
  const rank = gShape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * gShape[i + 1];
  if (gSize.some((e) => e === 0)) return;
  if (rank === 1) {
    copyRows(src, gBegin[0], 0, dst, 0, 0, 1, gSize[0]);
    return;
  }
  const run = gSize[rank - 1];
  const rows = gSize[rank - 2]; // the innermost outer axis is one strided copyRows call
  // odometer over the remaining outer axes
  const idx = new Array<number>(rank).fill(0);
  let d = 0;
  const outerCount = gSize.slice(0, rank - 2).reduce((a, b) => a * b, 1);
  for (let o = 0; o < outerCount; o++) {
    let s = gBegin[rank - 1] + gBegin[rank - 2] * strides[rank - 2];
    for (let a = 0; a < rank - 2; a++) s += (gBegin[a] + idx[a]) * strides[a];
    copyRows(src, s, strides[rank - 2], dst, d, run, rows, run);
    d += rows * run;
    for (let a = rank - 3; a >= 0; a--) {
      if (++idx[a] < gSize[a]) break;
      idx[a] = 0;
    }
  }
}

const HANDLED: ReadonlySet<string> = new Set(['float32', 'int32', 'bool']);

let registered = false;

/** Replace tfjs-wasm's Slice and Concat kernels (idempotent). Call before or after `setBackend('wasm')`. */
export function registerFastWasmKernels(): void {
  if (registered) return;
  const stockSlice = tf.getKernel('Slice', 'wasm');
  const stockConcat = tf.getKernel('Concat', 'wasm');
  if (!stockSlice || !stockConcat) return; // tfjs-backend-wasm not loaded: nothing to replace

  const slice: tf.KernelFunc = (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (!HANDLED.has(x.dtype)) return stockSlice.kernelFunc(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const attrs = args.attrs as unknown as { begin: number | number[]; size?: number | number[] };
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size);
    const out = backend.makeOutput(size, x.dtype);
    // views after makeOutput: an allocation can grow (and so detach) the wasm memory
    sliceInto(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out));
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
    if (inner.every((len) => len > SHORT_RUN)) {
      // row by row, as stock: the destination is written sequentially
      for (let b = 0, d = 0; b < outer; b++) {
        for (let i = 0; i < srcs.length; i++) {
          dst.set(srcs[i].subarray(b * inner[i], (b + 1) * inner[i]), d);
          d += inner[i];
        }
      }
    } else {
      for (let i = 0, d = 0; i < srcs.length; d += inner[i], i++) copyRows(srcs[i], 0, inner[i], dst, d, total, outer, inner[i]);
    }
    return out;
  };

  tf.unregisterKernel('Slice', 'wasm');
  tf.registerKernel({ kernelName: 'Slice', backendName: 'wasm', kernelFunc: slice });
  tf.unregisterKernel('Concat', 'wasm');
  tf.registerKernel({ kernelName: 'Concat', backendName: 'wasm', kernelFunc: concat });
  registered = true;
}
