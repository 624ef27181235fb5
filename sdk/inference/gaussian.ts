/**
 * Gaussian importance map for sliding-window aggregation.
 *
 * nnU-Net v1 (`SegmentationNetwork._get_gaussian`, S1 network_architecture/neural_network.py) filters a delta at
 * `patch // 2` with `scipy.ndimage.gaussian_filter(sigma = patch * sigma_scale, mode='constant')`, divides by the
 * maximum, casts to float32 and replaces exact zeros by the smallest non-zero value. With mode 'constant' there is
 * no reflected delta, and scipy's truncation radius int(4 sigma + 0.5) >= patch/2 for sigma_scale 1/8 always reaches
 * the border, so the filtered delta is exactly the separable product of normalised 1-D kernels; after dividing by
 * the centre value every voxel is prod_d exp(-(i_d - c_d)^2 / (2 sigma_d^2)). We evaluate that product in float64.
 * Voxels beyond the truncation radius (only possible for a larger sigma_scale) are 0, as in scipy.
 */
import { roundHalfEven } from '../util/numeric';

/** v1 map: float32, maximum 1 at the centre voxel `floor(P/2)`. C order over the patch axes. */
export function getGaussian(patchSize: readonly number[], sigmaScale = 1 / 8): Float32Array {
  const f64 = gaussianFloat64(patchSize, sigmaScale);
  const out = Float32Array.from(f64); // max is exactly 1 (centre voxel), as v1's `/ max * 1`
  replaceZerosByMinNonZero(out, 'getGaussian', patchSize);
  return out;
}

/**
 * v2 map (`compute_gaussian`, S2 nnunetv2/inference/sliding_window_prediction.py): float64 map divided by
 * (max / value_scaling_factor), cast to float16 (round to nearest even, subnormals included), zeros replaced by
 * the smallest non-zero value. Returned as a Float32Array holding exact float16 values.
 */
export function getGaussianV2(patchSize: readonly number[], sigmaScale = 1 / 8, valueScalingFactor = 10): Float32Array {
  const f64 = gaussianFloat64(patchSize, sigmaScale);
  let max = 0;
  for (let i = 0; i < f64.length; i++) if (f64[i] > max) max = f64[i];
  const div = max / valueScalingFactor;
  const out = new Float32Array(f64.length);
  for (let i = 0; i < f64.length; i++) out[i] = roundToFloat16(f64[i] / div);
  replaceZerosByMinNonZero(out, 'getGaussianV2', patchSize);
  return out;
}

function gaussianFloat64(patchSize: readonly number[], sigmaScale: number): Float64Array {
  if (patchSize.length < 1 || patchSize.some((p) => !Number.isInteger(p) || p < 1)) {
    throw new Error(`getGaussian: patch size must be positive integers, got [${patchSize.join(', ')}]`);
  }
  if (!(sigmaScale > 0)) throw new Error(`getGaussian: sigma_scale must be > 0, got ${sigmaScale}`);
  // Per-axis 1-D profiles relative to the centre, with scipy's truncation radius int(4*sigma + 0.5).
  const profiles = patchSize.map((p) => {
    const c = Math.floor(p / 2);
    const sigma = p * sigmaScale;
    const radius = Math.floor(4 * sigma + 0.5); // scipy gaussian_filter1d, truncate=4.0
    const prof = new Float64Array(p);
    for (let i = 0; i < p; i++) {
      const d = i - c;
      prof[i] = Math.abs(d) > radius ? 0 : Math.exp((-0.5 * d * d) / (sigma * sigma));
    }
    return prof;
  });
  const n = patchSize.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  // Iterate in C order, multiplying the per-axis factors.
  const nd = patchSize.length;
  const idx = new Array<number>(nd).fill(0);
  for (let flat = 0; flat < n; flat++) {
    let v = 1;
    for (let d = 0; d < nd; d++) v *= profiles[d][idx[d]];
    out[flat] = v;
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < patchSize[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

function replaceZerosByMinNonZero(a: Float32Array, fn: string, patchSize: readonly number[]): void {
  let min = Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0 && a[i] < min) min = a[i];
  if (!isFinite(min)) throw new Error(`${fn}: map for patch [${patchSize.join(', ')}] is all zero`);
  for (let i = 0; i < a.length; i++) if (a[i] === 0) a[i] = min;
}

/** Round a (non-negative or negative) float64 to the nearest float16 value, ties to even, with subnormals. */
export function roundToFloat16(v: number): number {
  if (!isFinite(v) || v === 0) return v;
  const s = v < 0 ? -1 : 1;
  const a = Math.abs(v);
  if (a >= 65520) return s * Infinity; // max half 65504; 65520 rounds to inf
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const ulpExp = Math.max(e, -14) - 10; // normals: 10 mantissa bits; subnormals: fixed 2^-24 spacing
  const q = a / 2 ** ulpExp; // exact (power-of-two scaling)
  return s * roundHalfEven(q) * 2 ** ulpExp;
}
