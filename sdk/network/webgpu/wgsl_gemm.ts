/**
 * What our WGSL GEMM kernels share (webgpu/wgsl_kernels.ts, wgsl_input_grad.ts; Node-free): the 64x64 output tile
 * with 16-wide K steps, the dispatch limit, the convolution's attributes and uniforms, and the WGSL snippets that load
 * the implicit im2col matrix, accumulate a tile pair and store a thread's 4x4 outputs.
 */

/** Output tile per workgroup (rows = output voxels, columns = output channels) and the K step. */
export const TILE_M = 64;
export const TILE_N = 64;
export const TILE_K = 16;
/**
 * A dispatch dimension may not exceed 65535 workgroups (WebGPU's maxComputeWorkgroupsPerDimension default); more
 * output tiles than that go on to the z dimension (a Lung 3d_fullres batch of 2 has 76,800 tiles of 64 voxels).
 */
let maxGroups = 65535;

/** For tests: a lower workgroup limit per dimension, so small shapes take the multi-dimension path. Returns the old one. */
export function setWgslMaxGroups(n: number): number {
  const old = maxGroups;
  maxGroups = n;
  return old;
}

/** The workgroup limit per dispatch dimension now in force. */
export function wgslMaxGroups(): number {
  return maxGroups;
}

export interface WgslConv3dAttrs {
  /** [kd, kh, kw] */
  kernel: [number, number, number];
  strides: [number, number, number];
  /** zero padding before each spatial axis (the output size decides the padding after) */
  pads: [number, number, number];
  /** output spatial size [Do, Ho, Wo] */
  outSize: [number, number, number];
  /** input [N, D, H, W, Ci] */
  inShape: [number, number, number, number, number];
}

/** The A element loader shared by the forward and the filter gradient (x at tap k's offset from output voxel row). */
export const LOAD_A = `
      fn loadA(row : i32, k : i32) -> f32 {
        if (row >= uniforms.M || k >= uniforms.K) { return 0.0; }
        let c = k % uniforms.ci;
        let tap = k / uniforms.ci;
        let tx = tap % uniforms.kw;
        let ty = (tap / uniforms.kw) % uniforms.kh;
        let tz = tap / (uniforms.kw * uniforms.kh);
        let ox = row % uniforms.outW;
        let oy = (row / uniforms.outW) % uniforms.outH;
        let oz = (row / (uniforms.outW * uniforms.outH)) % uniforms.outD;
        let b = row / (uniforms.outW * uniforms.outH * uniforms.outD);
        let iz = oz * uniforms.sd + tz - uniforms.pd;
        let iy = oy * uniforms.sh + ty - uniforms.ph;
        let ix = ox * uniforms.sw + tx - uniforms.pw;
        if (iz < 0 || iz >= uniforms.inD || iy < 0 || iy >= uniforms.inH || ix < 0 || ix >= uniforms.inW) { return 0.0; }
        return x[(((b * uniforms.inD + iz) * uniforms.inH + iy) * uniforms.inW + ix) * uniforms.ci + c];
      }`;

export const CONV_UNIFORMS =
  'inD : i32, inH : i32, inW : i32, ci : i32, outD : i32, outH : i32, outW : i32, co : i32, ' +
  'kd : i32, kh : i32, kw : i32, sd : i32, sh : i32, sw : i32, pd : i32, ph : i32, pw : i32, M : i32, K : i32, ';

/**
 * WGSL, shared by both GEMMs: acc[i][j] += As[aIndex] * Bs[s, tx*4 + j] over the TILE_K steps s of one loaded tile
 * pair; each thread owns 4x4 outputs (rows ty*4 + i, columns tx*4 + j). aIndex is an expression in i and s.
 */
export function accumulateTile(aIndex: string): string {
  return `for (var s = 0; s < ${TILE_K}; s++) {
            var av : array<f32, 4>;
            var bv : array<f32, 4>;
            for (var i = 0; i < 4; i++) { av[i] = As[${aIndex}]; }
            for (var j = 0; j < 4; j++) { bv[j] = Bs[s * ${TILE_N} + tx * 4 + j]; }
            for (var i = 0; i < 4; i++) { for (var j = 0; j < 4; j++) { acc[i][j] = acc[i][j] + av[i] * bv[j]; } }
          }`;
}

/** WGSL: this invocation's column (tx) and row (ty) in the 16x16 workgroup and its flat index (li). */
export const THREAD_IDS = `let tx = i32(localId.x);
        let ty = i32(localId.y);
        let li = i32(localIndex);`;

/** WGSL: a thread's 4x4 accumulators, zeroed. */
export const ZERO_ACC = `var acc : array<array<f32, 4>, 4>;
        for (var i = 0; i < 4; i++) { for (var j = 0; j < 4; j++) { acc[i][j] = 0.0; } }`;

/**
 * WGSL: zeroed accumulators, then the K loop of a GEMM whose output tile starts at rows rowBase and columns colBase:
 * per 16-wide K step the 256 threads load the 64x16 A tile and the 16x64 B tile (4 elements each), then accumulate.
 * loadA(row, k) and loadB(k, col) give the WGSL expressions that read one element (0 outside the matrices).
 */
export function gemmKLoop(kBound: string, loadA: (row: string, k: string) => string, loadB: (k: string, col: string) => string): string {
  return `${ZERO_ACC}
        for (var k0 = 0; k0 < ${kBound}; k0 += ${TILE_K}) {
          for (var e = 0; e < 4; e++) {
            let idx = li * 4 + e;
            As[idx] = ${loadA(`rowBase + idx / ${TILE_K}`, `k0 + idx % ${TILE_K}`)};
            Bs[idx] = ${loadB(`k0 + idx / ${TILE_N}`, `colBase + idx % ${TILE_N}`)};
          }
          workgroupBarrier();
          ${accumulateTile(`(ty * 4 + i) * ${TILE_K} + s`)}
          workgroupBarrier();
        }`;
}

/**
 * WGSL: write a thread's 4x4 outputs, rows r = rowBase + ty*4 + i below rowBound, columns below colBound, at
 * outIndex(r, col).
 */
export function storeTile(rowBase: string, rowBound: string, outIndex: string, colBound = 'uniforms.co'): string {
  return `for (var i = 0; i < 4; i++) {
          let r = ${rowBase} + ty * 4 + i;
          if (r < ${rowBound}) {
            for (var j = 0; j < 4; j++) {
              let col = colBase + tx * 4 + j;
              if (col < ${colBound}) { setOutputAtIndex(${outIndex}, acc[i][j]); }
            }
          }
        }`;
}

export const int = (v: number) => ({ type: 'int32', data: [v] });

/** M (output voxels) and K (taps x input channels) of a convolution. */
export function convMK(a: WgslConv3dAttrs): [number, number] {
  return [a.inShape[0] * a.outSize[0] * a.outSize[1] * a.outSize[2], a.kernel[0] * a.kernel[1] * a.kernel[2] * a.inShape[4]];
}

/** The values of CONV_UNIFORMS, in its order. */
export function convUniforms(a: WgslConv3dAttrs, co: number): { type: string; data: number[] }[] {
  const [, d, h, wd, ci] = a.inShape;
  const [m, k] = convMK(a);
  return [
    d, h, wd, ci, ...a.outSize, co, ...a.kernel, ...a.strides, ...a.pads, m, k,
  ].map(int);
}

