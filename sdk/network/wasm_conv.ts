/**
 * The filter gradient of a 3D (or 2D) convolution as our own SIMD kernel on tfjs-wasm's heap.
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
 * Per voxel: two 16-byte loads of dy, four broadcast loads of x, eight multiply-adds. The multiply-add is
 * f32x4.relaxed_madd (one FMA instruction) where V8 accepts relaxed SIMD, else f32x4.mul + f32x4.add.
 * Measured on the top-level shape (x [2, 40, 56, 40, 32], one thread): 40 GFLOP/s with FMA, 30 without.
 */
import * as tf from '@tensorflow/tfjs';
import {
  ADD, F32X4_ADD, F32X4_MUL, F32X4_RELAXED_MADD, I32, MUL, SHR_U, V128,
  addConst, addTo, assembleModule, c32, countedLoop, get, set, vload, vsplat32, vstore,
} from './wasm_asm';
import { WasmMemory, isWasmMemory } from './wasm_copy';

export interface WasmConv {
  conv_filter_grad(
    x: number, dy: number, dw: number, planes: number, rows: number, cols: number, ci: number, co: number,
    xPlaneStep: number, xRowStep: number, xColStep: number, xTapPlane: number, xTapRow: number,
    kd: number, kh: number, kw: number,
  ): void;
}

function buildModule(fma: boolean): Uint8Array {
  // locals: params 0-15; i32 16 ca, 17 cb, 18 cc, 19 xa, 20 xb, 21 xc, 22 cci, 23 cco, 24 xci, 25 dco, 26 accT,
  // 27 cpl, 28 cr, 29 cw, 30 xpl, 31 xr, 32 xp, 33 dp, 34 coBytes, 35 accp, 36 ciBytes; v128 37-44 acc, 45-46 b, 47 a
  const acc = (i: number, j: number) => 37 + 2 * i + j;
  const madd = (i: number, j: number) =>
    fma
      ? [...get(47), ...get(45 + j), ...get(acc(i, j)), ...F32X4_RELAXED_MADD, ...set(acc(i, j))]
      : [...get(47), ...get(45 + j), ...F32X4_MUL, ...get(acc(i, j)), ...F32X4_ADD, ...set(acc(i, j))];
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
type Built = { kernels: WasmConv; fma: boolean } | null;
/** per heap: the module built with FMA allowed (key true) or forbidden (false) */
const cache = new WeakMap<WasmMemory, Map<boolean, Built>>();
let fmaAllowed = process.env.NNUNET_WASM_FMA !== '0';

/** Allow or forbid the FMA build (default: allowed unless NNUNET_WASM_FMA=0); returns the previous setting. */
export function setWasmFma(on: boolean): boolean {
  const prev = fmaAllowed;
  fmaAllowed = on;
  return prev;
}

/** The conv kernels on `memory`, FMA build first (if allowed), or null where neither build compiles or links. */
export function wasmConvFor(memory: WasmMemory): Built {
  let perHeap = cache.get(memory);
  if (!perHeap) cache.set(memory, (perHeap = new Map()));
  if (perHeap.has(fmaAllowed)) return perHeap.get(fmaAllowed)!;
  let result: Built = null;
  if (fmaAllowed) enableRelaxedSimd();
  for (const fma of fmaAllowed ? [true, false] : [false]) {
    try {
      const inst = new WA.Instance(new WA.Module(buildModule(fma)), { env: { memory } });
      result = { kernels: inst.exports as WasmConv, fma };
      break;
    } catch {
      result = null;
    }
  }
  perHeap.set(fmaAllowed, result);
  return result;
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
  wasm?: { asm?: { memory?: unknown } };
}

/** Name of the custom kernel (wasm backend only). */
export const CONV_FILTER_GRAD = 'NnunetConvFilterGrad';

/** Attributes of the custom kernel: spatial (z, y, x) kernel, strides and symmetric PyTorch pads. */
export interface ConvFilterGradAttrs {
  kernel: [number, number, number];
  strides: [number, number, number];
  pads: [number, number, number];
}

let useWasmConv = true;

/** Switch the wasm filter-gradient kernel off (true: on, the default); returns the previous setting. */
export function setWasmConv(on: boolean): boolean {
  const prev = useWasmConv;
  useWasmConv = on;
  return prev;
}

/** Voxels per block: the accumulator tiles are loaded and stored once per block (~5 % overhead at 320). */
const BLOCK_VOXELS = 320;

/**
 * dw [kd, kh, kw, Ci, Co] of a correlation of x [N, D, H, W, Ci] (PyTorch padding `pads`, `strides`) given
 * dy [N, Do, Ho, Wo, Co], into the fresh float32 array `dw` (zeroed here). x is first copied into a zero-padded
 * buffer that covers every position the forward read; then blocks of output voxels run through the kernel.
 */
function filterGradInto(
  wc: WasmConv, backend: WasmBackendLike, x: tf.TensorInfo, dy: tf.TensorInfo, out: tf.TensorInfo, a: ConvFilterGradAttrs,
): void {
  const [n, d, h, w, ci] = x.shape;
  const [, dO, hO, wO, co] = dy.shape;
  const [kd, kh, kw] = a.kernel;
  const [sd, sh, sw] = a.strides;
  const [pd, ph, pw] = a.pads;
  // padded extent read by the forward: (o - 1) * s + k, starting at -p
  const Dp = Math.max((dO - 1) * sd + kd, pd + d);
  const Hp = Math.max((hO - 1) * sh + kh, ph + h);
  const Wp = Math.max((wO - 1) * sw + kw, pw + w);
  const padded = backend.makeOutput([n, Dp, Hp, Wp, ci], 'float32');
  try {
    // views after every allocation: growing the heap detaches earlier ones
    const xs = backend.typedArrayFromHeap(x);
    const xp = backend.typedArrayFromHeap(padded);
    const dws = backend.typedArrayFromHeap(out);
    const dys = backend.typedArrayFromHeap(dy);
    dws.fill(0);
    xp.fill(0);
    const row = w * ci;
    for (let b = 0; b < n; b++) {
      for (let z = 0; z < d; z++) {
        for (let y = 0; y < h; y++) {
          const src = ((b * d + z) * h + y) * row;
          xp.set(xs.subarray(src, src + row), (((b * Dp + z + pd) * Hp + y + ph) * Wp + pw) * ci);
        }
      }
    }
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

let registered = false;

/** Register the custom filter-gradient kernel for the wasm backend (idempotent; no-op without tfjs-backend-wasm). */
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
  registered = true;
}

function wasmConvKernels(backend: WasmBackendLike): WasmConv | null {
  const memory = backend.wasm?.asm?.memory;
  return isWasmMemory(memory) ? wasmConvFor(memory)?.kernels ?? null : null;
}

/**
 * Can `convFilterGrad` run here: wasm backend with the module, float32, channels multiples of 4 (in) and 8 (out)?
 * Otherwise ops.ts uses its conv2d formulation.
 */
export function canUseWasmFilterGrad(ci: number, co: number): boolean {
  if (!useWasmConv || !registered || tf.getBackend() !== 'wasm' || ci % 4 !== 0 || co % 8 !== 0) return false;
  return wasmConvKernels(tf.backend() as unknown as WasmBackendLike) !== null;
}

/** dw [kd, kh, kw, Ci, Co] of conv3d(x, w, strides, pads) given dy (no gradient of its own). */
export function convFilterGrad(x: tf.Tensor5D, dy: tf.Tensor5D, attrs: ConvFilterGradAttrs): tf.Tensor5D {
  return tf.engine().runKernel(CONV_FILTER_GRAD, { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor5D;
}
