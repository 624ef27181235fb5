/**
 * The input gradient of a strided convolution as one WGSL dispatch (NnunetWgslConv3dInputGrad, registered in
 * wgsl_kernels.ts; Node-free). dX [N*D*H*W, Ci] = A dW^T where A reads dy at o = (i + pad - t) / stride: only taps
 * whose offset is divisible by the stride contribute, and which ones depends on the input voxel's phase (i mod stride
 * per axis). The rows are grouped by phase, each phase's implicit GEMM runs over its own taps only, and each workgroup
 * finds its phase from its tile number.
 */
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { CONV_UNIFORMS, gemmKLoop, storeTile, THREAD_IDS, TILE_K, TILE_M, TILE_N, wgslMaxGroups, type WgslConv3dAttrs } from './wgsl_gemm';

/** Voxels per axis of one phase r (i = q*s + r < size) and the taps that reach it (t = t0 + j*s < k). */
function phaseCounts(size: number, k: number, s: number, p: number, r: number): { n: number; t0: number; nt: number } {
  const t0 = (((r + p) % s) + s) % s;
  return { n: r < size ? Math.ceil((size - r) / s) : 0, t0, nt: t0 < k ? Math.ceil((k - t0) / s) : 0 };
}

/** Row tiles of the strided input gradient: the sum over phases of ceil(phase voxels / TILE_M). */
function inputGradTiles(a: WgslConv3dAttrs): number {
  const [n, d, h, wd] = a.inShape;
  let tiles = 0;
  for (let rz = 0; rz < a.strides[0]; rz++)
    for (let ry = 0; ry < a.strides[1]; ry++)
      for (let rx = 0; rx < a.strides[2]; rx++) {
        const m = n * phaseCounts(d, a.kernel[0], a.strides[0], a.pads[0], rz).n * phaseCounts(h, a.kernel[1], a.strides[1], a.pads[1], ry).n * phaseCounts(wd, a.kernel[2], a.strides[2], a.pads[2], rx).n;
        tiles += Math.ceil(m / TILE_M);
      }
  return tiles;
}

export function inputGradProgram(a: WgslConv3dAttrs): WebGPUProgram {
  const [n, d, h, wd, ci] = a.inShape;
  const tiles = inputGradTiles(a);
  const gy = Math.min(Math.max(tiles, 1), wgslMaxGroups());
  const gz = Math.ceil(Math.max(tiles, 1) / gy);
  // per-axis phase arithmetic (phaseCounts) in WGSL
  const axis = (size: string, k: string, s: string, p: string, r: string, v: string) => `
          let n${v} = select(0, (${size} - ${r} + ${s} - 1) / ${s}, ${r} < ${size});
          let t0${v} = (${r} + ${p}) % ${s};
          let nt${v} = select(0, (${k} - t0${v} + ${s} - 1) / ${s}, t0${v} < ${k});`;
  return {
    variableNames: ['dy', 'w'],
    outputShape: [n * d * h * wd, ci],
    shaderKey: 'nnunet_wgsl_conv3d_input_grad',
    dispatchLayout: { x: [1], y: [0] },
    dispatch: [Math.ceil(ci / TILE_N), gy, gz],
    workgroupSize: [16, 16, 1],
    uniforms: CONV_UNIFORMS + 'groupsY : i32, batch : i32,',
    getUserCode: () => `
      var<workgroup> As : array<f32, ${TILE_M * TILE_K}>;
      var<workgroup> Bs : array<f32, ${TILE_K * TILE_N}>;
      // the K of this workgroup's phase, read back with workgroupUniformLoad: tfjs hands workgroupId to main() through
      // a private variable, which WGSL's uniformity analysis cannot see is uniform, and the K loop holds barriers
      var<workgroup> kShared : i32;
      // this workgroup's phase (set in main before any load)
      var<private> phase : vec3<i32>;
      var<private> pn : vec3<i32>;
      var<private> pt0 : vec3<i32>;
      var<private> pnt : vec3<i32>;

      // dy at the output voxel that input voxel 'row' of this phase reaches through tap k (0 where none)
      fn loadA(row : i32, k : i32, mp : i32, kp : i32) -> f32 {
        if (row >= mp || k >= kp) { return 0.0; }
        let c = k % uniforms.co;
        let tap = k / uniforms.co;
        let tx = pt0.x + (tap % pnt.x) * uniforms.sw;
        let ty = pt0.y + ((tap / pnt.x) % pnt.y) * uniforms.sh;
        let tz = pt0.z + (tap / (pnt.x * pnt.y)) * uniforms.sd;
        let ix = (row % pn.x) * uniforms.sw + phase.x;
        let iy = ((row / pn.x) % pn.y) * uniforms.sh + phase.y;
        let iz = ((row / (pn.x * pn.y)) % pn.z) * uniforms.sd + phase.z;
        let b = row / (pn.x * pn.y * pn.z);
        // divisible by the stride by construction of the phase's taps
        let pz = iz + uniforms.pd - tz;
        let py = iy + uniforms.ph - ty;
        let px = ix + uniforms.pw - tx;
        if (pz < 0 || py < 0 || px < 0) { return 0.0; }
        let oz = pz / uniforms.sd;
        let oy = py / uniforms.sh;
        let ox = px / uniforms.sw;
        if (oz >= uniforms.outD || oy >= uniforms.outH || ox >= uniforms.outW) { return 0.0; }
        return dy[(((b * uniforms.outD + oz) * uniforms.outH + oy) * uniforms.outW + ox) * uniforms.co + c];
      }

      // the filter at tap k's (tz, ty, tx), input channel col, output channel k % Co
      fn loadB(k : i32, col : i32, kp : i32) -> f32 {
        if (k >= kp || col >= uniforms.ci) { return 0.0; }
        let c = k % uniforms.co;
        let tap = k / uniforms.co;
        let tx = pt0.x + (tap % pnt.x) * uniforms.sw;
        let ty = pt0.y + ((tap / pnt.x) % pnt.y) * uniforms.sh;
        let tz = pt0.z + (tap / (pnt.x * pnt.y)) * uniforms.sd;
        return w[(((tz * uniforms.kh + ty) * uniforms.kw + tx) * uniforms.ci + col) * uniforms.co + c];
      }

      // the dX row of input voxel 'row' of this phase
      fn outRow(row : i32) -> i32 {
        let ix = (row % pn.x) * uniforms.sw + phase.x;
        let iy = ((row / pn.x) % pn.y) * uniforms.sh + phase.y;
        let iz = ((row / (pn.x * pn.y)) % pn.z) * uniforms.sd + phase.z;
        let b = row / (pn.x * pn.y * pn.z);
        return ((b * uniforms.inD + iz) * uniforms.inH + iy) * uniforms.inW + ix;
      }

      fn main() {
        ${THREAD_IDS}
        let tile = i32(workgroupId.z) * uniforms.groupsY + i32(workgroupId.y);
        let colBase = i32(workgroupId.x) * ${TILE_N};
        // which phase this tile belongs to: phases in (rz, ry, rx) order, each with ceil(its voxels / ${TILE_M}) tiles
        var first = 0;
        var mp = 0;
        var kp = 0;
        var rowBase = -1;
        let phases = uniforms.sd * uniforms.sh * uniforms.sw;
        for (var q = 0; q < phases; q++) {
          let rx = q % uniforms.sw;
          let ry = (q / uniforms.sw) % uniforms.sh;
          let rz = q / (uniforms.sw * uniforms.sh);
          ${axis('uniforms.inD', 'uniforms.kd', 'uniforms.sd', 'uniforms.pd', 'rz', 'z')}
          ${axis('uniforms.inH', 'uniforms.kh', 'uniforms.sh', 'uniforms.ph', 'ry', 'y')}
          ${axis('uniforms.inW', 'uniforms.kw', 'uniforms.sw', 'uniforms.pw', 'rx', 'x')}
          let m = uniforms.batch * nz * ny * nx;
          let t = (m + ${TILE_M - 1}) / ${TILE_M};
          if (rowBase < 0 && tile < first + t) {
            rowBase = (tile - first) * ${TILE_M};
            mp = m;
            kp = ntz * nty * ntx * uniforms.co;
            phase = vec3<i32>(rx, ry, rz);
            pn = vec3<i32>(nx, ny, nz);
            pt0 = vec3<i32>(t0x, t0y, t0z);
            pnt = vec3<i32>(ntx, nty, ntz);
          }
          first += t;
        }
        // a tile past the last phase (the dispatch grid is a rectangle): no rows, no K steps
        if (rowBase < 0) { rowBase = 0; mp = 0; kp = 0; }
        if (li == 0) { kShared = kp; }
        let kUniform = workgroupUniformLoad(&kShared);
        ${gemmKLoop('kUniform', (row, k) => `loadA(${row}, ${k}, mp, kp)`, (k, col) => `loadB(${k}, ${col}, kp)`)}
        ${storeTile('rowBase', 'mp', 'outRow(r) * uniforms.ci + col', 'uniforms.ci')}
      }
    `,
  };
}

