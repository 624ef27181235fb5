/**
 * Our own WGSL kernels for the webgpu backend (NNUNET_CONV=wgsl; Node-free, the page can use them too):
 *
 * - `NnunetWgslConv3d`: 3D convolution (channels last, any kernel, stride and zero padding) as an implicit GEMM.
 *   The output [M = N*Do*Ho*Wo, Co] is the product of the virtual im2col matrix A [M, K = kd*kh*kw*Ci] (never
 *   materialised: each element is read from x at its tap's offset, zero outside the volume) and the filter, whose
 *   [kd, kh, kw, Ci, Co] layout is already the row-major B [K, Co]. A workgroup of 16x16 threads computes a 64x64
 *   output tile, 4x4 per thread, through 64x16 / 16x64 tiles of A and B in workgroup memory (8 KB, inside the 16 KB
 *   that compatibility-mode adapters guarantee). Against the 'ops' formulation (depth taps stacked on channels, then
 *   tfjs's conv2d) it skips the kd-times larger stacked copy of the input.
 * - `NnunetWgslConv3dFilterGrad`: the filter gradient dW [K, Co] = A^T dY, the same implicit A, as a GEMM whose
 *   reduction runs over all M output voxels (89,600 per hippocampus patch, 2.5 million per Lung tile) while the output
 *   is small (K x Co): split-K, each workgroup sums one chunk of M into its own slice of a partial buffer (64x64
 *   outputs per workgroup, 16 voxels per step), and one tfjs sum over the slices finishes it. The partial buffer is
 *   kept under 2^24 floats (64 MB).
 * - `NnunetWgslConv3dInputGrad`: the input gradient of a strided convolution (stride-1 ones are a forward conv of dy
 *   with the flipped filter, ops.ts). dX [N*D*H*W, Ci] = A dW^T where A reads dy at o = (i + pad - t) / stride. Only
 *   taps whose offset is divisible by the stride contribute, and which ones depends on the input voxel's phase
 *   (i mod stride per axis): the rows are grouped by phase (2x2x2 = 8 for a 2x2x2 downsampling), each phase's GEMM runs
 *   over its own taps only (K = its taps x Co, no zero taps: a plain implicit GEMM over all taps would multiply by
 *   zero 7 times in 8), and all phases share one dispatch, each workgroup finding its phase from its tile number.
 * - `NnunetWgslNormApply`: the apply step of instance norm + LeakyReLU, y = leaky(x * scale[n, c] + shift[n, c]),
 *   in one pass instead of three kernels (multiply, add, prelu) and two intermediate tensors.
 *
 * Whether they beat tfjs's kernels is a question for a real GPU (bench/gpu compares the formulations); on Mesa's
 * software renderer the tests check that they are right. The tiling and WGSL snippets the GEMMs share are in
 * wgsl_gemm.ts, the strided input gradient's program in wgsl_input_grad.ts; this file registers the kernels.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { accumulateTile, CONV_UNIFORMS, convMK, convUniforms, gemmKLoop, int, LOAD_A, storeTile, THREAD_IDS, TILE_K, TILE_M, TILE_N, wgslMaxGroups, ZERO_ACC, type WgslConv3dAttrs } from './wgsl_gemm';
import { inputGradProgram } from './wgsl_input_grad';

export { setWgslMaxGroups, type WgslConv3dAttrs } from './wgsl_gemm';

export const WGSL_CONV3D = 'NnunetWgslConv3d';
export const WGSL_NORM_APPLY = 'NnunetWgslNormApply';
export const WGSL_CONV3D_FILTER_GRAD = 'NnunetWgslConv3dFilterGrad';
export const WGSL_CONV3D_INPUT_GRAD = 'NnunetWgslConv3dInputGrad';

type Info = tf.TensorInfo;
interface WebGpuBackendLike {
  runWebGPUProgram(program: WebGPUProgram, inputs: Info[], dtype: tf.DataType, uniforms?: { type: string; data: number[] }[]): Info;
}

function conv3dProgram(a: WgslConv3dAttrs, co: number): WebGPUProgram {
  const [n, , , , ] = a.inShape;
  const m = n * a.outSize[0] * a.outSize[1] * a.outSize[2];
  const mTiles = Math.ceil(m / TILE_M);
  const gy = Math.min(mTiles, wgslMaxGroups());
  const gz = Math.ceil(mTiles / gy);
  return {
    variableNames: ['x', 'w'],
    outputShape: [m, co],
    shaderKey: 'nnunet_wgsl_conv3d_igemm',
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [Math.ceil(co / TILE_N), gy, gz],
    workgroupSize: [16, 16, 1],
    uniforms: CONV_UNIFORMS + 'groupsY : i32,',
    getUserCode: () => `
      var<workgroup> As : array<f32, ${TILE_M * TILE_K}>;
      var<workgroup> Bs : array<f32, ${TILE_K * TILE_N}>;
      ${LOAD_A}

      fn loadB(k : i32, col : i32) -> f32 {
        if (k >= uniforms.K || col >= uniforms.co) { return 0.0; }
        return w[k * uniforms.co + col];
      }

      fn main() {
        ${THREAD_IDS}
        let rowBase = (i32(workgroupId.z) * uniforms.groupsY + i32(workgroupId.y)) * ${TILE_M};
        let colBase = i32(workgroupId.x) * ${TILE_N};
        ${gemmKLoop('uniforms.K', (row, k) => `loadA(${row}, ${k})`, (k, col) => `loadB(${k}, ${col})`)}
        ${storeTile('rowBase', 'uniforms.M', 'r * uniforms.co + col')}
      }
    `,
  };
}

/** Largest split-K partial buffer of the filter gradient (floats). */
const PARTIAL_LIMIT = 2 ** 24;

function filterGradProgram(m: number, k: number, co: number): { program: WebGPUProgram; slices: number; chunk: number } {
  const slices = Math.max(1, Math.min(Math.ceil(m / 1024), Math.floor(PARTIAL_LIMIT / (k * co)), wgslMaxGroups()));
  const chunk = Math.ceil(Math.ceil(m / slices) / TILE_K) * TILE_K;
  const program: WebGPUProgram = {
    variableNames: ['x', 'dy'],
    outputShape: [slices * k, co],
    shaderKey: 'nnunet_wgsl_conv3d_filter_grad',
    dispatchLayout: { x: [1], y: [0] }, // not flat: main() takes no index
    dispatch: [Math.ceil(co / TILE_N), Math.ceil(k / TILE_M), slices],
    workgroupSize: [16, 16, 1],
    uniforms: CONV_UNIFORMS + 'chunk : i32,',
    getUserCode: () => `
      var<workgroup> As : array<f32, ${TILE_K * TILE_M}>;
      var<workgroup> Bs : array<f32, ${TILE_K * TILE_N}>;
      ${LOAD_A}

      fn main() {
        ${THREAD_IDS}
        let colBase = i32(workgroupId.x) * ${TILE_N};
        let kBase = i32(workgroupId.y) * ${TILE_M};
        let slice = i32(workgroupId.z);
        let mStart = slice * uniforms.chunk;
        let mEnd = min(uniforms.M, mStart + uniforms.chunk);
        ${ZERO_ACC}
        // the loop bound is a uniform, so every invocation reaches the barriers (rows past mEnd load zeros)
        for (var t = 0; t < uniforms.chunk; t += ${TILE_K}) {
          for (var e = 0; e < 4; e++) {
            let idx = li * 4 + e;
            let mm = idx / ${TILE_M};
            let kk = idx % ${TILE_M};
            let row = mStart + t + mm;
            var a = 0.0;
            var g = 0.0;
            if (row < mEnd) {
              a = loadA(row, kBase + kk);
              if (colBase + kk < uniforms.co) { g = dy[row * uniforms.co + colBase + kk]; }
            }
            As[idx] = a;
            Bs[idx] = g;
          }
          workgroupBarrier();
          ${accumulateTile(`s * ${TILE_M} + ty * 4 + i`)}
          workgroupBarrier();
        }
        ${storeTile('kBase', 'uniforms.K', '(slice * uniforms.K + r) * uniforms.co + col')}
      }
    `,
  };
  return { program, slices, chunk };
}

function normApplyProgram(size: number): WebGPUProgram {
  const wg = 128;
  const groups = Math.ceil(size / wg);
  const gx = Math.min(groups, wgslMaxGroups());
  return {
    variableNames: ['x', 'scale', 'shift'],
    outputShape: [size],
    shaderKey: 'nnunet_wgsl_norm_apply',
    dispatchLayout: { x: [0] },
    dispatch: [gx, Math.ceil(groups / gx), 1],
    workgroupSize: [wg, 1, 1],
    size: true,
    uniforms: 'c : i32, sp : i32, slope : f32,',
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let ch = index % uniforms.c;
          let s = (index / (uniforms.sp * uniforms.c)) * uniforms.c + ch;
          let v = x[index] * scale[s] + shift[s];
          // LeakyReLU as PyTorch: v for v > 0, else slope * v
          setOutputAtIndex(index, select(v * uniforms.slope, v, v > 0.0));
        }
      }
    `,
  };
}

let registered = false;

/** Registers both kernels for the webgpu backend (once; no-op when tfjs-backend-webgpu is not loaded). */
export function registerWgslKernels(): void {
  if (registered || !tf.getKernel('Reshape', 'webgpu')) return;
  registered = true;
  tf.registerKernel({
    kernelName: WGSL_CONV3D,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: { x: Info; w: Info }; backend: WebGpuBackendLike; attrs: unknown }) => {
      const a = attrs as unknown as WgslConv3dAttrs;
      const { x, w } = inputs;
      const co = w.shape[1]; // w arrives as the [K, Co] view
      const prog = conv3dProgram(a, co);
      return backend.runWebGPUProgram(prog, [x, w], 'float32', [...convUniforms(a, co), int(prog.dispatch[1])]);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: WGSL_CONV3D_FILTER_GRAD,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: { x: Info; dy: Info }; backend: WebGpuBackendLike; attrs: unknown }) => {
      const a = attrs as unknown as WgslConv3dAttrs;
      const co = inputs.dy.shape[1]; // dy arrives as the [M, Co] view
      const [m, k] = convMK(a);
      const { program, chunk } = filterGradProgram(m, k, co);
      return backend.runWebGPUProgram(program, [inputs.x, inputs.dy], 'float32', [...convUniforms(a, co), int(chunk)]);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: WGSL_CONV3D_INPUT_GRAD,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: { dy: Info; w: Info }; backend: WebGpuBackendLike; attrs: unknown }) => {
      const a = attrs as unknown as WgslConv3dAttrs;
      const co = inputs.dy.shape[1]; // dy arrives as the [N*Do*Ho*Wo, Co] view
      const prog = inputGradProgram(a);
      return backend.runWebGPUProgram(prog, [inputs.dy, inputs.w], 'float32', [...convUniforms(a, co), int(prog.dispatch[1]), int(a.inShape[0])]);
    }) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: WGSL_NORM_APPLY,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend, attrs }: { inputs: { x: Info; scale: Info; shift: Info }; backend: WebGpuBackendLike; attrs: unknown }) => {
      const { c, sp, slope } = attrs as { c: number; sp: number; slope: number };
      const size = inputs.x.shape.reduce((p, q) => p * q, 1);
      return backend.runWebGPUProgram(normApplyProgram(size), [inputs.x, inputs.scale, inputs.shift], 'float32', [
        { type: 'int32', data: [c] },
        { type: 'int32', data: [sp] },
        { type: 'float32', data: [slope] },
      ]);
    }) as unknown as tf.KernelFunc,
  });
}

/**
 * conv3d of x [N, D, H, W, Ci] with w [kd, kh, kw, Ci, Co], zero padding `pads` before each axis and the output size
 * PyTorch's symmetric padding gives (no gradient of its own; ops.ts wraps it).
 */
export function wgslConv3d(x: tf.Tensor5D, w: tf.Tensor5D, strides: [number, number, number], pads: [number, number, number]): tf.Tensor5D {
  const [n, d, h, wd, ci] = x.shape;
  const [kd, kh, kw, , co] = w.shape;
  const out = (s: number, k: number, st: number, p: number) => Math.floor((s + 2 * p - k) / st) + 1;
  const outSize: [number, number, number] = [out(d, kd, strides[0], pads[0]), out(h, kh, strides[1], pads[1]), out(wd, kw, strides[2], pads[2])];
  const attrs: WgslConv3dAttrs = { kernel: [kd, kh, kw], strides, pads, outSize, inShape: [n, d, h, wd, ci] };
  return tf.tidy(() => {
    // flat views: tfjs declares a uniform per input shape, and its rank-5 type (vec5) is the one with bugs
    const y = tf.engine().runKernel(WGSL_CONV3D, { x: tf.reshape(x, [-1, ci]), w: tf.reshape(w, [-1, co]) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    return tf.reshape(y, [n, ...outSize, co]) as tf.Tensor5D;
  });
}

/**
 * dW [kd, kh, kw, Ci, Co] of conv3d(x, w, strides, pads) given dy [N, Do, Ho, Wo, Co] (no gradient of its own).
 */
export function wgslConv3dFilterGrad(x: tf.Tensor5D, dy: tf.Tensor5D, kernel: [number, number, number], strides: [number, number, number], pads: [number, number, number]): tf.Tensor5D {
  const [n, d, h, wd, ci] = x.shape;
  const [, od, oh, ow, co] = dy.shape;
  const attrs: WgslConv3dAttrs = { kernel, strides, pads, outSize: [od, oh, ow], inShape: [n, d, h, wd, ci] };
  const [m, k] = convMK(attrs);
  const { slices } = filterGradProgram(m, k, co);
  return tf.tidy(() => {
    const part = tf.engine().runKernel(WGSL_CONV3D_FILTER_GRAD, { x: tf.reshape(x, [-1, ci]), dy: tf.reshape(dy, [-1, co]) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    const sum = slices === 1 ? part : tf.sum(tf.reshape(part, [slices, k * co]), 0);
    return tf.reshape(sum, [...kernel, ci, co]) as tf.Tensor5D;
  });
}

/**
 * dX [N, D, H, W, Ci] of conv3d(x, w, strides, pads) with x of `inShape`, given dy [N, Do, Ho, Wo, Co] (no gradient of
 * its own): the phase-grouped implicit GEMM (see the module comment). Meant for strides > 1.
 */
export function wgslConv3dInputGrad(dy: tf.Tensor5D, w: tf.Tensor5D, inShape: [number, number, number, number, number], strides: [number, number, number], pads: [number, number, number]): tf.Tensor5D {
  const [, od, oh, ow, co] = dy.shape;
  const [kd, kh, kw] = w.shape;
  const attrs: WgslConv3dAttrs = { kernel: [kd, kh, kw], strides, pads, outSize: [od, oh, ow], inShape };
  return tf.tidy(() => {
    const dx = tf.engine().runKernel(WGSL_CONV3D_INPUT_GRAD, { dy: tf.reshape(dy, [-1, co]), w: tf.reshape(w, [-1, co]) }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    return tf.reshape(dx, inShape) as tf.Tensor5D;
  });
}

/** leaky(x * scale + shift) with x [N, S, C] and scale, shift [N, 1, C] (instance norm's per-(n, c) affine). */
export function wgslNormApplyLeaky(x: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, slope: number): tf.Tensor {
  const [n, sp, c] = x.shape;
  return tf.tidy(() => {
    const y = tf.engine().runKernel(
      WGSL_NORM_APPLY,
      { x: tf.reshape(x, [-1]), scale: tf.reshape(scale, [-1]), shift: tf.reshape(shift, [-1]) },
      { c, sp, slope } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor;
    return tf.reshape(y, [n, sp, c]);
  });
}
