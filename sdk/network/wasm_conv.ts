/**
 * The filter gradient and the forward of a 3D (or 2D) convolution as our own SIMD kernels on tfjs-wasm's heap.
 *
 * Why: expressed as an XNNPACK conv2d ("channels as batch", ops.ts), the filter gradient is a GEMM with a tiny output
 * ([27 * Ci, Co]) and a huge reduction (every voxel of the batch), which XNNPACK's indirection conv runs at 13-16
 * GFLOP/s against ~23 for the forwards; it was 17 of the 40 s of convolution in a hippocampus 3d_fullres step
 * (`npm run bench -- network --profile`). The reduction is just a sum over voxels of x[voxel + tap] (x) dy[voxel], so
 * a kernel can read x at the tap's offset in place: no stacked or transposed copies, and the 4x8 accumulator tile
 * stays in registers over a block of rows.
 *
 * `conv_filter_grad` (16 x i32): for every tap (a, b, c) of kd x kh x kw, every block of 4 input channels and every
 * block of 8 output channels, dw[tap][ci][co] += sum over the voxels of the block of x[voxel at tap] * dy[voxel]:
 *   0 x: byte address of the padded input at the block's first voxel, tap (0,0,0)
 *   1 dy: the block's first voxel in dy [.., Co] (contiguous over the whole block)
 *   2 dw: the accumulator [kd*kh*kw, Ci, Co] (read, added to, written back)
 *   3 planes, 4 rows, 5 cols: the block (planes of rows of voxels)
 *   6 Ci, 7 Co: channels (multiples of 4 and 8)
 *   8 xPlaneStep, 9 xRowStep, 10 xColStep: bytes in x between consecutive output planes / rows / voxels (stride
 *     times the padded input's plane / row / voxel size)
 *   11 xTapPlane, 12 xTapRow: bytes in x between depth taps and between row taps (a padded plane and row; a column
 *     tap is Ci * 4 bytes)
 *   13 kd, 14 kh, 15 kw.
 * Per voxel: two 16-byte loads of dy, four broadcast loads of x, eight multiply-adds: f32x4.mul + f32x4.add, or
 * with NNUNET_WASM_FMA=1 f32x4.relaxed_madd (one FMA instruction) where V8 accepts relaxed SIMD (see fmaAllowed).
 * Measured on the top-level shape (x [2, 40, 56, 40, 32], one thread, same host phase): 40 GFLOP/s with FMA, 30
 * without; XNNPACK's conv2d formulation 13-16.
 */
import * as tf from '@tensorflow/tfjs';
import {
  ADD, F32X4_ADD, F32X4_MUL, F32X4_RELAXED_MADD, I32, LT_S, MUL, SELECT, SHR_U, SUB, V128, V128_ZERO,
  addConst, addTo, assembleModule, c32, countedLoop, get, set, vload, vsplat32, vstore,
} from './wasm_asm';
import { WasmMemory, heapOf } from './wasm_copy';
import { envVar } from '../util/env';

export interface WasmConvForward {
  conv_forward(
    x: number, w: number, y: number, cols: number, ci: number, co: number, xTapPlane: number, xTapRow: number,
    kd: number, kh: number, kw: number, rows: number, xRowStep: number, yRowStep: number,
  ): void;
}

export interface WasmConv {
  conv_filter_grad(
    x: number, dy: number, dw: number, planes: number, rows: number, cols: number, ci: number, co: number,
    xPlaneStep: number, xRowStep: number, xColStep: number, xTapPlane: number, xTapRow: number,
    kd: number, kh: number, kw: number,
  ): void;
}

/** acc += a * b (locals), fused where `fma` */
function maddInto(fma: boolean, acc: number, a: number, b: number): number[] {
  return fma
    ? [...get(a), ...get(b), ...get(acc), ...F32X4_RELAXED_MADD, ...set(acc)]
    : [...get(a), ...get(b), ...F32X4_MUL, ...get(acc), ...F32X4_ADD, ...set(acc)];
}

function buildFilterGrad(fma: boolean): Uint8Array {
  // locals: params 0-15; i32 16 ca, 17 cb, 18 cc, 19 xa, 20 xb, 21 xc, 22 cci, 23 cco, 24 xci, 25 dco, 26 accT,
  // 27 cpl, 28 cr, 29 cw, 30 xpl, 31 xr, 32 xp, 33 dp, 34 coBytes, 35 accp, 36 ciBytes; v128 37-44 acc, 45-46 b, 47 a
  const acc = (i: number, j: number) => 37 + 2 * i + j;
  const madd = (i: number, j: number) => maddInto(fma, acc(i, j), 47, 45 + j);
  const voxel: number[] = [...get(33), ...vload(0), ...set(45), ...get(33), ...vload(16), ...set(46)];
  for (let i = 0; i < 4; i++) voxel.push(...get(32), ...vsplat32(4 * i), ...set(47), ...madd(i, 0), ...madd(i, 1));
  voxel.push(...addTo(32, 10), ...addTo(33, 34));
  const accRow = (i: number) => (i === 0 ? get(26) : [...get(26), ...get(34), ...c32(i), MUL, ADD]);
  const loadAcc: number[] = [];
  const storeAcc: number[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 2; j++) {
      loadAcc.push(...accRow(i), ...vload(16 * j), ...set(acc(i, j)));
      storeAcc.push(...accRow(i), ...get(acc(i, j)), ...vstore(16 * j));
    }
  }
  const tile = [
    ...loadAcc,
    ...get(24), ...set(30), ...get(25), ...set(33), ...get(3), ...set(27),
    ...countedLoop(27, [
      ...get(30), ...set(31), ...get(4), ...set(28),
      ...countedLoop(28, [...get(31), ...set(32), ...get(5), ...set(29), ...countedLoop(29, voxel), ...addTo(31, 9)]),
      ...addTo(30, 8),
    ]),
    ...storeAcc,
  ];
  const code = [
    ...get(6), ...c32(4), MUL, ...set(36), ...get(7), ...c32(4), MUL, ...set(34), ...get(2), ...set(35),
    ...get(0), ...set(19), ...get(13), ...set(16),
    ...countedLoop(16, [
      ...get(19), ...set(20), ...get(14), ...set(17),
      ...countedLoop(17, [
        ...get(20), ...set(21), ...get(15), ...set(18),
        ...countedLoop(18, [
          ...get(21), ...set(24), ...get(6), ...c32(2), SHR_U, ...set(22),
          ...countedLoop(22, [
            ...get(1), ...set(25), ...get(35), ...set(26), ...get(7), ...c32(3), SHR_U, ...set(23),
            ...countedLoop(23, [...tile, ...addConst(25, 32), ...addConst(26, 32)]),
            ...addConst(24, 16), ...get(35), ...get(34), ...c32(4), MUL, ADD, ...set(35), // next 4 input channels
          ]),
          ...addTo(21, 36), // next column tap
        ]),
        ...addTo(20, 12), // next row tap
      ]),
      ...addTo(19, 11), // next depth tap
    ]),
  ];
  return assembleModule([{ name: 'conv_filter_grad', params: 16, locals: [[21, I32], [11, V128]], code }]);
}

/**
 * `conv_forward` (14 x i32), for output rows of one plane: y[voxel][co] = sum over taps and ci of
 * x[voxel at tap][ci] * w[tap][ci][co], in tiles of 4 consecutive voxels of a row by 8 output channels (the last tile of
 * a row is moved back to end at the row's end, so rows of any length >= 4 work; overlapping voxels are written twice
 * with the same value):
 *   0 x: padded input at the first row's first output voxel, tap (0,0,0); 1 w: filter [taps, Ci, Co];
 *   2 y: the first row's first voxel in the output [.., Co]; 3 cols (>= 4); 4 Ci; 5 Co (multiple of 8);
 *   6 xTapPlane, 7 xTapRow: bytes between depth / row taps (a column tap is Ci * 4 bytes);
 *   8 kd, 9 kh, 10 kw; 11 rows; 12 xRowStep, 13 yRowStep: bytes between output rows in x / y.
 * `colStep` (bytes in x between consecutive output voxels: column stride * Ci * 4) is built into the code as the
 * offsets of the four broadcast loads, so there is one module per colStep.
 */
function buildForward(fma: boolean, colStep: number): Uint8Array {
  // i32 14 cco, 15 coOff, 16 crow, 17 xrow, 18 yrow, 19 ctile, 20 wpos, 21 xTile, 22 yTile, 23 wt, 24 ca, 25 cb,
  // 26 cc, 27 xa, 28 xb, 29 xc, 30 cci, 31 coBytes, 32 ciBytes, 33 xp, 34 pos; v128 35-42 acc, 43-44 b, 45 a
  const acc = (i: number, j: number) => 35 + 2 * i + j;
  const body: number[] = [...get(23), ...vload(0), ...set(43), ...get(23), ...vload(16), ...set(44)];
  for (let i = 0; i < 4; i++) {
    body.push(...get(33), ...vsplat32(i * colStep), ...set(45), ...maddInto(fma, acc(i, 0), 45, 43), ...maddInto(fma, acc(i, 1), 45, 44));
  }
  body.push(...addConst(33, 4), ...addTo(23, 31));
  const zero: number[] = [];
  const store: number[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 2; j++) {
      zero.push(...V128_ZERO, ...set(acc(i, j)));
      store.push(...get(22), ...(i === 0 ? [] : [...get(31), ...c32(i), MUL, ADD]), ...get(acc(i, j)), ...vstore(16 * j));
    }
  }
  const tile = [
    // pos = min(wpos, cols - 4)
    ...get(20), ...get(3), ...c32(4), SUB, ...get(20), ...get(3), ...c32(4), SUB, LT_S, SELECT, ...set(34),
    ...get(17), ...get(34), ...c32(colStep), MUL, ADD, ...set(21),
    ...get(18), ...get(34), ...get(31), MUL, ADD, ...get(15), ADD, ...set(22),
    ...zero,
    ...get(1), ...get(15), ADD, ...set(23),
    ...get(21), ...set(27), ...get(8), ...set(24),
    ...countedLoop(24, [
      ...get(27), ...set(28), ...get(9), ...set(25),
      ...countedLoop(25, [
        ...get(28), ...set(29), ...get(10), ...set(26),
        ...countedLoop(26, [...get(29), ...set(33), ...get(4), ...set(30), ...countedLoop(30, body), ...addTo(29, 32)]),
        ...addTo(28, 7),
      ]),
      ...addTo(27, 6),
    ]),
    ...store,
    ...addConst(20, 4),
  ];
  const code = [
    ...get(5), ...c32(4), MUL, ...set(31), ...get(4), ...c32(4), MUL, ...set(32),
    ...c32(0), ...set(15), ...get(5), ...c32(3), SHR_U, ...set(14),
    ...countedLoop(14, [
      ...get(0), ...set(17), ...get(2), ...set(18), ...get(11), ...set(16),
      ...countedLoop(16, [
        ...c32(0), ...set(20), ...get(3), ...c32(3), ADD, ...c32(2), SHR_U, ...set(19), // tiles = ceil(cols / 4)
        ...countedLoop(19, tile),
        ...addTo(17, 12), ...addTo(18, 13),
      ]),
      ...addConst(15, 32),
    ]),
  ];
  return assembleModule([{ name: 'conv_forward', params: 14, locals: [[21, I32], [11, V128]], code }]);
}

/** Relaxed SIMD is behind a flag in Node 20 (V8 11.3); the flag only adds instructions, so setting it is harmless. */
function enableRelaxedSimd(): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // not Node: the module is built without FMA below
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const WA = (globalThis as any).WebAssembly;
/** per heap and build key: the instantiated exports and whether they use FMA (null: neither build works here) */
const cache = new WeakMap<WasmMemory, Map<string, { exports: unknown; fma: boolean } | null>>();
/**
 * FMA is opt-in (NNUNET_WASM_FMA=1). The mul + add build gives bit-identical forwards to XNNPACK's conv2d (same
 * summation order, measured), so results stay those of the validated path. The FMA build is ~25 % faster in these
 * kernels alone and exactly as accurate: against float64 on the top-level shapes, forward 4.3e-7 both, filter
 * gradients 0.9-2.8e-6 both (`npm run bench -- wasm_fma`). The 1-2e-3 gradient differences it showed in
 * bench/torch_step_parity.ts at 2d batch 4 / 8 are rounding-decided ties in that batch, not accuracy: with the
 * patches padded by the case minimum instead of 0 the mul + add build shows them and the FMA build does not (issue 26;
 * realBatch there). The whole suite passes with FMA on. It stays off by default because the whole training step is
 * not faster with it (same run, builds alternated, 2026-12-06: 3d_fullres b7 21.00 s vs 21.23 s, 2d b281 20.67 s vs
 * 20.32 s, i.e. 0.99x / 1.02x): the default keeps XNNPACK-identical forwards for nothing lost.
 */
let fmaAllowed = envVar('NNUNET_WASM_FMA') === '1';

/** Allow or forbid the FMA build (default: forbidden unless NNUNET_WASM_FMA=1); returns the previous setting. */
export function setWasmFma(on: boolean): boolean {
  const prev = fmaAllowed;
  fmaAllowed = on;
  return prev;
}

/** `build` instantiated on `memory`, FMA build first (if allowed), cached per memory and `key`. */
function instantiate<T>(memory: WasmMemory, key: string, build: (fma: boolean) => Uint8Array): { exports: T; fma: boolean } | null {
  let perHeap = cache.get(memory);
  if (!perHeap) cache.set(memory, (perHeap = new Map()));
  const k = `${key}/${fmaAllowed}`;
  if (perHeap.has(k)) return perHeap.get(k) as { exports: T; fma: boolean } | null;
  let result: { exports: T; fma: boolean } | null = null;
  if (fmaAllowed) enableRelaxedSimd();
  for (const fma of fmaAllowed ? [true, false] : [false]) {
    try {
      const inst = new WA.Instance(new WA.Module(build(fma)), { env: { memory } });
      result = { exports: inst.exports as T, fma };
      break;
    } catch {
      result = null;
    }
  }
  perHeap.set(k, result);
  return result;
}

/** The filter-gradient kernel on `memory`, or null where neither build compiles or links. */
export function wasmConvFor(memory: WasmMemory): { kernels: WasmConv; fma: boolean } | null {
  const r = instantiate<WasmConv>(memory, 'filter_grad', buildFilterGrad);
  return r && { kernels: r.exports, fma: r.fma };
}

/** The forward kernel for one column step (bytes) on `memory`, or null. */
export function wasmConvForwardFor(memory: WasmMemory, colStep: number): { kernels: WasmConvForward; fma: boolean } | null {
  const r = instantiate<WasmConvForward>(memory, `forward/${colStep}`, (fma) => buildForward(fma, colStep));
  return r && { kernels: r.exports, fma: r.fma };
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

/** Name of the custom kernel (wasm backend only). */
export const CONV_FILTER_GRAD = 'NnunetConvFilterGrad';

/** Attributes of the custom kernel: spatial (z, y, x) kernel, strides and symmetric PyTorch pads. */
export interface ConvFilterGradAttrs {
  kernel: [number, number, number];
  strides: [number, number, number];
  pads: [number, number, number];
}

let useWasmConv = envVar('NNUNET_WASM_CONV') !== '0';

/** Switch our conv kernels off (true: on, the default unless NNUNET_WASM_CONV=0); returns the previous setting. */
export function setWasmConv(on: boolean): boolean {
  const prev = useWasmConv;
  useWasmConv = on;
  return prev;
}

/** Voxels per block: the accumulator tiles are loaded and stored once per block (~5 % overhead at 320). */
const BLOCK_VOXELS = 320;

/**
 * x [N, D, H, W, Ci] copied into a fresh zero-padded heap buffer [N, Dp, Hp, Wp, Ci] that starts at -pads and covers
 * every position a correlation with `kernel` and `strides` reads for `outSize` outputs ((o - 1) * s + k per axis).
 * The caller disposes it (backend.disposeData).
 */
function paddedInput(
  backend: WasmBackendLike, x: tf.TensorInfo, outSize: number[], kernel: number[], strides: number[], pads: number[],
): tf.TensorInfo {
  const [n, d, h, w, ci] = x.shape;
  const [Dp, Hp, Wp] = [d, h, w].map((size, i) => Math.max((outSize[i] - 1) * strides[i] + kernel[i], pads[i] + size));
  const padded = backend.makeOutput([n, Dp, Hp, Wp, ci], 'float32');
  const xs = backend.typedArrayFromHeap(x); // after the allocation, which may have grown (detached) the heap
  const xp = backend.typedArrayFromHeap(padded);
  xp.fill(0);
  const row = w * ci;
  for (let b = 0; b < n; b++) {
    for (let z = 0; z < d; z++) {
      for (let y = 0; y < h; y++) {
        const src = ((b * d + z) * h + y) * row;
        xp.set(xs.subarray(src, src + row), (((b * Dp + z + pads[0]) * Hp + y + pads[1]) * Wp + pads[2]) * ci);
      }
    }
  }
  return padded;
}

/**
 * dw [kd, kh, kw, Ci, Co] of a correlation of x [N, D, H, W, Ci] (PyTorch padding `pads`, `strides`) given
 * dy [N, Do, Ho, Wo, Co], into the fresh float32 array `dw` (zeroed here). x is first copied into a zero-padded
 * buffer that covers every position the forward read; then blocks of output voxels run through the kernel.
 */
function filterGradInto(
  wc: WasmConv, backend: WasmBackendLike, x: tf.TensorInfo, dy: tf.TensorInfo, out: tf.TensorInfo, a: ConvFilterGradAttrs,
): void {
  const [n, , , , ci] = x.shape;
  const [, dO, hO, wO, co] = dy.shape;
  const [kd, kh, kw] = a.kernel;
  const [sd, sh, sw] = a.strides;
  const padded = paddedInput(backend, x, [dO, hO, wO], a.kernel, a.strides, a.pads);
  const [, Dp, Hp, Wp] = padded.shape;
  try {
    // views after every allocation: growing the heap detaches earlier ones
    const xp = backend.typedArrayFromHeap(padded);
    const dws = backend.typedArrayFromHeap(out);
    const dys = backend.typedArrayFromHeap(dy);
    dws.fill(0);
    const rowBytes = Wp * ci * 4;
    const planeBytes = Hp * rowBytes;
    // blocks: a few rows of one plane, or (small planes) whole planes
    const perPlane = hO * wO;
    const rows = perPlane >= BLOCK_VOXELS ? Math.max(1, Math.ceil(BLOCK_VOXELS / wO)) : hO;
    const planes = perPlane >= BLOCK_VOXELS ? 1 : Math.max(1, Math.floor(BLOCK_VOXELS / perPlane));
    for (let b = 0; b < n; b++) {
      for (let z0 = 0; z0 < dO; z0 += planes) {
        const np = Math.min(planes, dO - z0);
        for (let y0 = 0; y0 < hO; y0 += rows) {
          const nr = Math.min(rows, hO - y0);
          const xAddr = xp.byteOffset + (b * Dp + z0 * sd) * planeBytes + y0 * sh * rowBytes;
          const dyAddr = dys.byteOffset + (((b * dO + z0) * hO + y0) * wO) * co * 4;
          wc.conv_filter_grad(
            xAddr, dyAddr, dws.byteOffset, np, nr, wO, ci, co,
            sd * planeBytes, sh * rowBytes, sw * ci * 4, planeBytes, rowBytes, kd, kh, kw,
          );
        }
      }
    }
  } finally {
    backend.disposeData(padded.dataId);
  }
}

/** Attributes of the forward kernel: spatial (z, y, x) strides and symmetric PyTorch pads (kernel: w's shape). */
export interface ConvForwardAttrs {
  strides: [number, number, number];
  pads: [number, number, number];
}

/** Name of the custom forward kernel (wasm backend only). */
export const CONV_FORWARD = 'NnunetConvForward';

/** y [N, Do, Ho, Wo, Co] = correlation of x [N, D, H, W, Ci] with w [kd, kh, kw, Ci, Co], one kernel call per plane. */
function forwardInto(fw: WasmConvForward, backend: WasmBackendLike, x: tf.TensorInfo, w: tf.TensorInfo, out: tf.TensorInfo, a: ConvForwardAttrs): void {
  const [n, , , , ci] = x.shape;
  const [kd, kh, kw, , co] = w.shape;
  const [, dO, hO, wO] = out.shape;
  const [sd, sh] = a.strides;
  const padded = paddedInput(backend, x, [dO, hO, wO], [kd, kh, kw], a.strides, a.pads);
  const [, Dp, Hp, Wp] = padded.shape;
  try {
    const xp = backend.typedArrayFromHeap(padded);
    const ws = backend.typedArrayFromHeap(w);
    const ys = backend.typedArrayFromHeap(out);
    const rowBytes = Wp * ci * 4;
    const planeBytes = Hp * rowBytes;
    for (let b = 0; b < n; b++) {
      for (let z = 0; z < dO; z++) {
        fw.conv_forward(
          xp.byteOffset + (b * Dp + z * sd) * planeBytes, ws.byteOffset, ys.byteOffset + (b * dO + z) * hO * wO * co * 4,
          wO, ci, co, planeBytes, rowBytes, kd, kh, kw, hO, sh * rowBytes, wO * co * 4,
        );
      }
    }
  } finally {
    backend.disposeData(padded.dataId);
  }
}

let registered = false;

/** Register the custom forward and filter-gradient kernels for the wasm backend (idempotent; no-op without tfjs-backend-wasm). */
export function registerWasmConvKernels(): void {
  if (registered || !tf.getKernel('Slice', 'wasm')) return;
  tf.registerKernel({
    kernelName: CONV_FILTER_GRAD,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const backend = args.backend as unknown as WasmBackendLike;
      const { x, dy } = args.inputs as unknown as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const attrs = args.attrs as unknown as ConvFilterGradAttrs;
      const wc = wasmConvKernels(backend);
      if (!wc) throw new Error(`${CONV_FILTER_GRAD}: the wasm conv module is not available on this backend`);
      const out = backend.makeOutput([...attrs.kernel, x.shape[4], dy.shape[4]], 'float32');
      filterGradInto(wc, backend, x, dy, out, attrs);
      return out;
    },
  });
  tf.registerKernel({
    kernelName: CONV_FORWARD,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const backend = args.backend as unknown as WasmBackendLike;
      const { x, w } = args.inputs as unknown as { x: tf.TensorInfo; w: tf.TensorInfo };
      const attrs = args.attrs as unknown as ConvForwardAttrs;
      const memory = heapOf(backend);
      const fw = memory ? wasmConvForwardFor(memory, attrs.strides[2] * x.shape[4] * 4) : null;
      if (!fw) throw new Error(`${CONV_FORWARD}: the wasm conv module is not available on this backend`);
      const outSize = [1, 2, 3].map((i) => Math.floor((x.shape[i] + 2 * attrs.pads[i - 1] - w.shape[i - 1]) / attrs.strides[i - 1]) + 1);
      // the kernel's tiles are 4 voxels of a row by 8 channels: anything else would write outside the output
      if (outSize[2] < 4 || w.shape[4] % 8 !== 0 || x.shape[4] !== w.shape[3] || outSize.some((v) => v < 1)) {
        throw new Error(`${CONV_FORWARD}: x [${x.shape}], w [${w.shape}] give output [${outSize}] x ${w.shape[4]}; needs rows of >= 4 voxels and output channels a multiple of 8`);
      }
      const out = backend.makeOutput([x.shape[0], ...outSize, w.shape[4]], 'float32');
      forwardInto(fw.kernels, backend, x, w, out, attrs);
      return out;
    },
  });
  registered = true;
}

function wasmConvKernels(backend: WasmBackendLike): WasmConv | null {
  const memory = heapOf(backend);
  return memory ? wasmConvFor(memory)?.kernels ?? null : null;
}

/** The current backend's conv module if our kernels are on, registered and build here (else null: XNNPACK only). */
function liveConvModule(): { kernels: WasmConv; fma: boolean } | null {
  if (!useWasmConv || !registered || tf.getBackend() !== 'wasm') return null;
  const memory = heapOf(tf.backend());
  return memory ? wasmConvFor(memory) : null;
}

/**
 * Can `convFilterGrad` run here: wasm backend with the module, float32, channels multiples of 4 (in) and 8 (out)?
 * Otherwise ops.ts uses its conv2d formulation.
 */
export function canUseWasmFilterGrad(ci: number, co: number): boolean {
  return ci % 4 === 0 && co % 8 === 0 && liveConvModule() !== null;
}

/**
 * Should `convForward` run here: wasm backend with the module, Co a multiple of 8, and a shape where it beats
 * XNNPACK's conv2d (measured, 3x3x3, x [2, D, H, W, Ci], one thread, back to back; mul + add build / FMA build):
 *   - Ci 32 / 64, rows of 40: 27 / 26 GFLOP/s (FMA 34 / 30) against 19 / 19 for the depth-stacked conv2d;
 *   - Ci 64 -> 64, rows of 20: 30 (FMA 35) against 20;
 *   - Ci 128, rows of 10: 16.5 (FMA 17) against 15-24;
 *   - Ci 256, rows of 5: 6 against 14. The 8-channel slice of the filter read per tile (taps * Ci * 32 bytes) no
 *     longer stays in cache, and a 4-voxel tile on a 5-voxel row computes 8 voxels.
 * Hence: taps * Ci <= 27 * 128, and rows of at least 4 voxels that are a multiple of 4 or at least 16 long.
 */
export function canUseWasmConvForward(ci: number, co: number, outCols: number, taps: number): boolean {
  if (co % 8 !== 0 || taps * ci > 27 * 128 || outCols < 4 || (outCols % 4 !== 0 && outCols < 16)) return false;
  return liveConvModule() !== null;
}

/** conv3d(x, w, strides, PyTorch pads) by the wasm kernel (no gradient of its own; ops.ts wraps it). */
export function convForward(x: tf.Tensor5D, w: tf.Tensor5D, attrs: ConvForwardAttrs): tf.Tensor5D {
  return tf.engine().runKernel(CONV_FORWARD, { x, w }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor5D;
}

/** What the current wasm backend gets: 'fma', 'simd' (mul + add) or 'off' (XNNPACK only). */
export function wasmConvKernelsStatus(): 'fma' | 'simd' | 'off' {
  const live = liveConvModule();
  return live ? (live.fma ? 'fma' : 'simd') : 'off';
}

/** dw [kd, kh, kw, Ci, Co] of conv3d(x, w, strides, pads) given dy (no gradient of its own). */
export function convFilterGrad(x: tf.Tensor5D, dy: tf.Tensor5D, attrs: ConvFilterGradAttrs): tf.Tensor5D {
  return tf.engine().runKernel(CONV_FILTER_GRAD, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor5D;
}
